"""The what-if Monte Carlo's speed-ups change no bit: its memoised samples equal fresh runs on fresh fabrics,
the compiled incidence kernel equals the scipy reference, and the faulted router's surviving-path filter equals
a pair-by-pair reference (drop every path through a failed edge, BFS when none is left)."""

from __future__ import annotations

import numpy as np
import pytest

import collectives
import topo
import traffic.routing as routing
from fleet.whatif import _seeds, collective_monte_carlo
from topo.fabric import BFSRouter
from topo.faults import random_faults

# (fabric, faults): a cut cable and a leaf, a spine and a failed chip, a failed plane, and a torus with a cut
# link and a failed chip (pairs left without an equal-cost path take next-shortest BFS paths)
CASES = [
    ("maia200-small", ["cable:c100-p1.leaf2", "switch:p0.leaf3"]),
    ("maia200-small", ["switch:p0.spine1", "switch:p1.spine0", "chip:c7"]),
    ("maia200-small", ["plane:1"]),
    ("torus-8x8", ["chip:c3", "link:c4-c5"]),
]


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.int64) if a.dtype == np.float64 else a


def _pairs(fab: topo.Fabric, faults: list[str], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    dead = {int(f[6:]) for f in faults if f.startswith("chip:c")}
    alive = np.array([c for c in range(fab.n_chips) if c not in dead])
    rng = np.random.default_rng(seed)
    s, d = rng.choice(alive, n), rng.choice(alive, n)
    keep = s != d
    return s[keep], d[keep]


@pytest.mark.parametrize("name,faults", CASES)
def test_faulted_routes_equal_a_pair_by_pair_reference(name, faults):
    f = topo.load(name).with_faults(faults)
    rt = f.router
    s, d = _pairs(f, faults, 300, 1)
    got = f.routes(s, d)
    bfs = BFSRouter()
    for i in range(len(s)):
        h = rt.base.routes(np.array([s[i]]), np.array([d[i]]))
        want = [rt.new_id[e] for e in h.edges_of(0) if (rt.new_id[e] >= 0).all()]
        if not want:
            want = bfs.routes(f, np.array([s[i]]), np.array([d[i]])).edges_of(0)
        have = got.edges_of(i)
        assert len(have) == len(want) and all(np.array_equal(a, b) for a, b in zip(have, want)), (name, i)


@pytest.mark.parametrize("name,faults", CASES + [("maia200-small", [])])
def test_compiled_incidence_equals_the_scipy_reference_bit_for_bit(name, faults):
    pytest.importorskip("numba")
    fab = topo.load(name)
    f = fab.with_faults(faults) if faults else fab
    s, d = _pairs(f, faults, 3000, 2)
    r = f.routes(s, d)
    want = routing._incidence_scipy(r, f.edge_latency, f.n_edges)
    got = routing._incidence_compiled(r, f.edge_latency)
    for a, b in zip(want, got):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(_bits(a), _bits(b))
    # the entries: each path adds 1/k to every edge it crosses, so a row sums to the mean path length
    rows = np.repeat(np.arange(len(s)), np.diff(got[0]))
    row_sum = np.bincount(rows, weights=got[2], minlength=len(s))
    mean_len = np.add.reduceat(r.path_lengths(), r.pair_ptr[:-1]) / r.path_counts()
    assert np.allclose(row_sum, mean_len, rtol=1e-12)


def test_monte_carlo_samples_equal_fresh_runs_bit_for_bit():
    """Every sample of the memoised Monte Carlo equals, bit for bit, the same collective run afresh: a newly
    loaded fabric (empty caches) with the sample's failed links and switches, the groups of its failed chips
    left out; and the same seed gives the same samples."""
    name, size, k, seed, n, scale = "maia200-small", "16MiB", 64, 11, 5, 20.0
    kw = dict(samples=n, seed=seed, scale=scale, concurrent=True)  # every group of k at once
    mc = collective_monte_carlo("all_reduce", topo.load(name), size, k, **kw)
    again = collective_monte_carlo("all_reduce", topo.load(name), size, k, **kw)
    assert np.array_equal(_bits(mc.values), _bits(again.values)) and mc.draws == again.draws

    base = topo.load(name)
    groups = base.groups(k)
    healthy = collectives.run([collectives.AllReduce(size, g) for g in groups], base)
    algorithm = healthy[0].algorithm
    assert mc.healthy == max(r.time for r in healthy)
    faulted_samples = 0
    for i, s in enumerate(_seeds(seed, n)):
        draw = random_faults(base, None, seed=s, scale=scale)
        dead = {int(f[6:]) for f in draw.faults if f.startswith("chip:c")}
        links = [f for f in draw.faults if not f.startswith("chip:")]
        live = [g for g in groups if not dead & set(g)]
        fresh = topo.load(name)
        fresh = fresh.with_faults(links) if links else fresh
        faulted_samples += bool(links)
        try:
            res = collectives.run([collectives.AllReduce(size, g, algorithm) for g in live], fresh) if live else []
            t = max(r.time for r in res) if res else float("nan")
        except topo.RoutingError:
            t = float("nan")
        assert np.array_equal(_bits(np.float64([t])), _bits(mc.values[i:i + 1])), (i, t, mc.values[i])
        assert mc.extra["groups_lost"][i] == len(groups) - len(live)
    assert faulted_samples >= 2  # the faulted fabrics' path (routing around failures) is what is compared
