"""routing='hash' had no path-edge budget of its own. Hashing routes every equal-cost path of each pair in chunks of
1,024 pairs to pick one, so memory holds one path per flow but time grows with every path: ~7,000 pairs/s on a
16x16x24 torus, whose 37.7 M-flow all-to-all would route for ~1.5 h and then hold ~5.3e8 entries (~53 bytes each
while the problem is built: ~26 GiB, more than the 23 GB development machine has). Past MAX_HASH_EDGES (2e8, ~11 GB, the spray's
budget) it is now refused up front, from the same 2,048-pair sample as the spray's check (~0.7 s at 37.7 M flows).
Triggered here on torus-8x8 (64 chips; all-to-all: 4,032 flows, 64 x 63 x mean distance 4 = 16,128 one-path
entries) with the budgets scaled down."""
import numpy as np
import pytest

import topo
import traffic.routing as TR


def _pairs(fab: topo.Fabric) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array([fab.index(c) for c in fab.chips])
    s, d = np.nonzero(~np.eye(len(ids), dtype=bool))
    return ids[s], ids[d]


def test_hash_routing_has_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TR, "_ROUTE_SAMPLE_ABOVE", 1000)
    monkeypatch.setattr(TR, "MAX_HASH_EDGES", 10_000)  # one path per flow (~16k) over it
    called = []
    monkeypatch.setattr(TR, "_hash_with_index", lambda *a, **k: called.append(1))  # refused before any routing
    fab = topo.load("torus-8x8")
    src, dst = _pairs(fab)
    with pytest.raises(TR.RouteBudgetError, match=r"routing='hash': 4,032 flows would need about 1\.6.e\+04 "
                                                  r"path-edge entries \(one path per flow; .*limit 1e\+04\)") as ei:
        TR.build_problem(fab, src, dst, "hash", 0)
    assert ei.value.routing == "hash" and ei.value.flows == 4032 and not called
    assert isinstance(ei.value, topo.CapacityError)
    with pytest.raises(TR.RouteBudgetError):  # explicit paths beside hashed flows: the hashed ones are checked too
        TR.build_problem(fab, src, dst, "hash", 0, paths=[None] * (len(src) - 1) + [[fab.nodes[src[-1]]]])


def test_hash_within_budget_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TR, "_ROUTE_SAMPLE_ABOVE", 1000)
    monkeypatch.setattr(TR, "MAX_HASH_EDGES", 20_000)  # ~16k fits
    fab = topo.load("torus-8x8")
    src, dst = _pairs(fab)
    p = TR.build_problem(fab, src, dst, "hash", 0)
    assert p.n_flows == 4032 and (p.data == 1.0).all()  # one whole path per flow


def test_spray_refusal_offers_hash_only_within_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TR, "_ROUTE_SAMPLE_ABOVE", 1000)
    monkeypatch.setattr(TR, "MAX_ROUTE_EDGES", 30_000)  # every path (~43k) over it, one path (~16k) within it
    fab = topo.load("torus-8x8")
    src, dst = _pairs(fab)
    with pytest.raises(TR.RouteBudgetError, match=r"or routing='hash' \(one path per flow\)$"):
        TR._check_route_budget(fab, src, dst)
    monkeypatch.setattr(TR, "MAX_HASH_EDGES", 10_000)  # hash's own budget, not the spray's, decides
    with pytest.raises(TR.RouteBudgetError, match=r"would still need about 1\.6.e\+04; limit 1e\+04\)$"):
        TR._check_route_budget(fab, src, dst)
