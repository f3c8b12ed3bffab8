"""scaleup traffic past the path-edge budget (a 6,144-chip torus all-to-all: 37.7 M flows, ~3.7e9 entries) said
"use ... routing='hash'", a Python spelling the CLI user cannot type, and offered hash even where one path per
flow is over the budget too. The CLI now words the fix as options and names --routing hash only when it fits.
Triggered here on torus-8x8 (64 chips, 4,032 flows) with the budgets scaled down: every-path entries 43,520 (the
sampled estimate ~42,900), one-path entries 64 x 64 x 4 = 16,384 (mean torus distance 2 per dimension of 8)."""
import pytest
from conftest import cli_error_line

import traffic.routing as TR

ARGS = ["traffic", "--fabric", "torus-8x8", "--pattern", "all_to_all", "--size", "1MiB"]


def _error(*extra: str) -> str:
    return cli_error_line([*ARGS, *extra])


@pytest.fixture
def small_budget(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setattr(TR, "_ROUTE_SAMPLE_ABOVE", 1000)
    return monkeypatch


def test_ecmp_refusal_names_cli_options(small_budget: pytest.MonkeyPatch) -> None:
    small_budget.setattr(TR, "MAX_ROUTE_EDGES", 30_000)  # all paths (~43k) over it, one path (~16k) within
    msg = _error()
    assert "routing='" not in msg, msg
    assert "--routing hash (one path per flow)" in msg and "4,032 flows" in msg, msg
    assert "would still need" not in msg, msg


def test_hash_over_budget_too_is_not_offered(small_budget: pytest.MonkeyPatch) -> None:
    small_budget.setattr(TR, "MAX_ROUTE_EDGES", 10_000)
    small_budget.setattr(TR, "MAX_HASH_EDGES", 10_000)  # one path per flow (~16k) is over hash's own budget too
    msg = _error()
    assert "routing='" not in msg, msg
    assert "use fewer flows" in msg and "--routing hash (one path per flow) would still need about 1.6" in msg, msg
    assert msg.endswith("(limit 1e+04)"), msg


def test_subflows_refusal_names_routing_ecmp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TR, "MAX_PART_EDGES", 30_000)
    msg = _error("--routing", "ecmp-subflows")
    assert "routing='" not in msg, msg
    assert msg.startswith("error: --routing ecmp-subflows: 4,032 flows") and "use --routing ecmp (" in msg, msg


def test_python_message_keeps_python_spelling(small_budget: pytest.MonkeyPatch) -> None:
    import numpy as np

    import topo

    small_budget.setattr(TR, "MAX_ROUTE_EDGES", 30_000)
    fab = topo.load("torus-8x8")
    src, dst = np.nonzero(~np.eye(64, dtype=bool))
    with pytest.raises(topo.CapacityError, match=r"routing: 4,032 flows .*routing='hash' \(one path per flow\)"):
        TR._check_route_budget(fab, src, dst)
