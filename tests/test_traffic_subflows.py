"""routing="ecmp-subflows": independent sub-flows per equal-cost path, against hand-computed timelines,
the even spray ("ecmp") where symmetry makes them equal, and a reference fluid simulation."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_traffic_engine import fabrics_and_flows
from test_traffic_helpers import GB, leaf_spine

from topo import Fabric, RoutingError
from traffic import HAVE_NUMBA, Flow, Step, maxmin_rates, patterns, simulate, simulate_arrays, simulate_steps

METHODS = ["numpy"] + (["auto"] if HAVE_NUMBA else [])


def two_spines() -> Fabric:
    """Leaves L1, L2 on spines S1, S2; leaf L3 on S1 only. Chips a1, b1 on L1, a2 on L2, c3 on L3.
    Chip links 10 GB/s, leaf-spine links 1 GB/s, all latencies 0 except L1 <-> S2: 0.25 s."""
    g = nx.Graph()
    for c in ("a1", "b1", "a2", "c3"):
        g.add_node(c, kind="chip")
    for s in ("L1", "L2", "L3"):
        g.add_node(s, kind="switch", tier=1)
    for s in ("S1", "S2"):
        g.add_node(s, kind="switch", tier=2)
    for c, leaf in (("a1", "L1"), ("b1", "L1"), ("a2", "L2"), ("c3", "L3")):
        g.add_edge(c, leaf, bandwidth=10 * GB, latency=0.0)
    for u, v in (("L1", "S1"), ("L2", "S1"), ("L2", "S2"), ("L3", "S1")):
        g.add_edge(u, v, bandwidth=1 * GB, latency=0.0)
    g.add_edge("L1", "S2", bandwidth=1 * GB, latency=0.25)
    return Fabric.from_graph(g)


# Hand computation (A = a1 -> a2, 2 GB over S1 and S2; B = b1 -> a2 or c3, 0.5 GB through S1 only):
# sub-flows: A1 (1 GB via S1) and B share L1->S1 at 0.5 GB/s each; A2 (1 GB via S2) runs alone at 1 GB/s
#   and finishes at 1.0 s (arrives 1.25 s, its path has 0.25 s). B finishes at 1.0 s (0.5 GB at 0.5);
#   A1 has 0.5 GB left at 1 GB/s -> 1.5 s. A arrives at max(1.5, 1.25) = 1.5 s, B at 1.0 s.
# spray: A at rate x (x/2 per spine), B at b: L1->S1 saturates at x/2 + b = 1 with x = b -> 2/3 GB/s each.
#   B finishes at 0.75 s; A has sent 0.5 GB, the other 1.5 GB go at 2 GB/s (1 GB/s per spine) -> 1.5 s;
#   A arrives at 1.5 + 0.25 (its slowest path) = 1.75 s.
HAND = {"ecmp": (1.75, 0.75), "ecmp-subflows": (1.5, 1.0)}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("routing", ["ecmp", "ecmp-subflows"])
@pytest.mark.parametrize("pinned", ["explicit", "routed"])
def test_hand_computed_asymmetric_split(method, routing, pinned):
    fab = two_spines()
    b = Flow("b1", "a2", 0.5 * GB, path=["b1", "L1", "S1", "L2", "a2"]) if pinned == "explicit" \
        else Flow("b1", "c3", 0.5 * GB)
    r = simulate(fab, [Flow("a1", "a2", 2 * GB), b], routing=routing, method=method)
    np.testing.assert_allclose(r.arrival, HAND[routing], rtol=1e-12)
    assert r.finish[0] == pytest.approx(1.5)
    # conservation: A's bytes split evenly over the spines in both models
    assert r.link_bytes[fab.edge_id("L1", "S2")] == pytest.approx(1 * GB)
    assert r.link_bytes[fab.edge_id("L1", "S1")] == pytest.approx(1.5 * GB)
    busy = {"ecmp": 1.5, "ecmp-subflows": 1.0}[routing]  # A2 alone on S2: 1 s; the spray keeps it to 1.5 s
    assert r.link_busy[fab.edge_id("L1", "S2")] == pytest.approx(busy)


@pytest.mark.parametrize("method", METHODS)
def test_dependents_wait_for_every_part_and_all_parts_wait(method):
    fab = two_spines()
    # D = b1 -> a2 (1 GB, split over both spines) waits for A. Sub-flows: ready at 1.5 s (B is gone), both
    # parts 0.5 GB at 1 GB/s -> last bytes at 2.0 s, arrival max(2.0, 2.0 + 0.25) = 2.25 s. Spray: ready at
    # 1.75 s, 2 GB/s -> 2.25 s, + 0.25 s = 2.5 s.
    flows = [Flow("a1", "a2", 2 * GB), Flow("b1", "c3", 0.5 * GB), Flow("b1", "a2", 1 * GB, deps=[0])]
    sub = simulate(fab, flows, routing="ecmp-subflows", method=method)
    np.testing.assert_allclose(sub.arrival, [1.5, 1.0, 2.25], rtol=1e-12)
    np.testing.assert_allclose(sub.ready, [0.0, 0.0, 1.5], rtol=1e-12)
    np.testing.assert_allclose(sub.finish, [1.5, 1.0, 2.0], rtol=1e-12)
    # L1->S2 carries A2 during 0-1 s and D's part during 1.5-2.0 s: neither of D's parts left early
    assert sub.link_busy[fab.edge_id("L1", "S2")] == pytest.approx(1.5)
    spray = simulate(fab, flows, routing="ecmp", method=method)
    np.testing.assert_allclose(spray.arrival, [1.75, 0.75, 2.5], rtol=1e-12)
    # a dependency on a flow whose parts arrive at different times waits for the last one (1.5 s, not 1.25 s)
    late = simulate(fab, [Flow("a1", "a2", 2 * GB), Flow("b1", "c3", 0.5 * GB), Flow("a2", "a2", 0, deps=[0])],
                    routing="ecmp-subflows", method=method)
    assert late.arrival[2] == pytest.approx(1.5)


def test_step_mode_hand_case():
    fab = two_spines()
    src, dst = fab.indices(["a1", "b1"]), fab.indices(["a2", "c3"])
    for routing, (a, b) in HAND.items():
        r = simulate_steps(fab, [Step(src, dst, np.array([2 * GB, 0.5 * GB]))] * 2, routing=routing)
        assert r.time == pytest.approx(2 * max(a, b), rel=1e-12)
        assert r.solved == 1
        assert r.link_bytes[fab.edge_id("L1", "S2")] == pytest.approx(2 * GB)


@pytest.mark.parametrize("method", METHODS)
def test_symmetric_leaf_spine_subflows_equal_spray(method):
    # every leaf is linked alike to every spine: the max-min allocation is invariant under permuting the
    # spines, so every flow's parts get equal rates and the two models coincide (sizes, starts arbitrary)
    fab = leaf_spine(leaves=4, spines=3, per_leaf=3, down_bw=4 * GB, up_bw=1 * GB, lat=1e-6)
    rng = np.random.default_rng(7)
    src, dst = patterns.permutation(fab.n_chips, seed=3)
    size = rng.uniform(0.5e9, 2e9, len(src))
    start = rng.choice([0.0, 0.0, 0.1, 0.3], len(src))
    a = simulate_arrays(fab, src, dst, size, start, routing="ecmp", method=method)
    b = simulate_arrays(fab, src, dst, size, start, routing="ecmp-subflows", method=method)
    assert b.meta["parts"] > len(src)
    np.testing.assert_allclose(b.arrival, a.arrival, rtol=1e-9)
    np.testing.assert_allclose(b.link_bytes, a.link_bytes, rtol=1e-9)
    np.testing.assert_allclose(b.link_busy, a.link_busy, rtol=1e-9)
    # with dependencies (a ring whose step k waits for step k-1 of the previous rank)
    n = fab.n_chips
    rs, rd = patterns.ring(n)
    s2 = np.concatenate([rs, rs])
    d2 = np.concatenate([rd, rd])
    dep_ptr = np.concatenate([np.zeros(n + 1, np.int64), np.arange(1, n + 1)])
    dep_idx = (np.arange(n) - 1) % n
    a = simulate_arrays(fab, s2, d2, 1e9, None, dep_ptr, dep_idx, routing="ecmp", method=method)
    b = simulate_arrays(fab, s2, d2, 1e9, None, dep_ptr, dep_idx, routing="ecmp-subflows", method=method)
    np.testing.assert_allclose(b.arrival, a.arrival, rtol=1e-9)
    np.testing.assert_allclose(b.ready, a.ready, rtol=1e-9)
    st_a = simulate_steps(fab, [Step(src, dst, size)], routing="ecmp")
    st_b = simulate_steps(fab, [Step(src, dst, size)], routing="ecmp-subflows")
    assert st_b.time == pytest.approx(st_a.time, rel=1e-9)


def test_routing_validated_everywhere():
    fab = two_spines()
    with pytest.raises(RoutingError, match="ecmp-subflows"):
        simulate(fab, [Flow("a1", "a2", 1.0)], routing="spray")
    with pytest.raises(RoutingError, match="ecmp-subflows"):
        simulate_steps(fab, [Step(np.array([0]), np.array([2]), 1.0)], routing="spray")


# ------------------------------------------------------------------ reference: a fluid loop over the parts
def reference(fab: Fabric, src, dst, size, start):
    """Independent fluid simulation of the sub-flow model: one row per equal-cost path, an event loop in
    Python around maxmin_rates (checked against the max-min certificate at every allocation)."""
    routes = fab.routes(src, dst)
    rows, owner, psize, pstart, plat = [], [], [], [], []
    for i in range(len(src)):
        paths = routes.edges_of(i)
        for p in paths:
            row = np.zeros(fab.n_edges)
            np.add.at(row, p, 1.0)
            rows.append(row)
            owner.append(i)
            psize.append(size[i] / len(paths))
            pstart.append(start[i])
            plat.append(float(fab.edge_latency[p].sum()) if len(p) else 0.0)
    a = np.array(rows)
    cap = fab.edge_capacity.astype(float)
    rem = np.array(psize, dtype=float)
    pstart = np.array(pstart)
    finish = np.full(len(rem), np.inf)
    t = 0.0
    instant = (rem <= 0) | (a.sum(axis=1) == 0)
    finish[instant] = pstart[instant]
    while np.isinf(finish).any():
        act = np.flatnonzero(np.isinf(finish) & (pstart <= t * (1 + 1e-15)))
        nxt = pstart[np.isinf(finish) & (pstart > t * (1 + 1e-15))]
        tr = nxt.min() if len(nxt) else np.inf
        if not len(act):
            t = tr
            continue
        rate = maxmin_rates(a[act], cap, method="numpy")
        load = a[act].T @ rate
        assert np.all(load <= cap * (1 + 1e-9))  # capacity
        sat = load >= cap * (1 - 1e-9)
        for k, j in enumerate(act):  # every part is bottlenecked on a saturated link where it is maximal
            links = np.flatnonzero(a[j] > 0)
            assert any(sat[lk] and rate[k] >= rate[a[act][:, lk] > 0].max() * (1 - 1e-9) for lk in links)
        dt = min(tr - t, float((rem[act] / rate).min()))
        rem[act] -= rate * dt
        t += dt
        done = act[rem[act] <= 1e-9 * np.array(psize)[act]]
        finish[done] = t
        rem[done] = 0.0
    owner = np.array(owner)
    arr = np.full(len(src), -np.inf)
    np.maximum.at(arr, owner, finish + np.array(plat))
    link_bytes = a.T @ np.array(psize)
    return arr, link_bytes


@settings(max_examples=30, deadline=None)
@given(fabrics_and_flows(), st.sampled_from(METHODS))
def test_subflows_match_reference_on_random_fabrics(case, method):
    fab, src, dst, size, start = case
    r = simulate_arrays(fab, src, dst, size, start=start, routing="ecmp-subflows", method=method)
    arr, link_bytes = reference(fab, src, dst, size, start)
    # conservation: per-link bytes = sum over parts of size / k on each link of its path
    np.testing.assert_allclose(r.link_bytes, link_bytes, rtol=1e-9, atol=1e-3)
    np.testing.assert_allclose(r.arrival, arr, rtol=1e-9, atol=1e-15)
    assert np.all(r.link_peak <= 1 + 1e-9)
    assert np.all(r.link_busy <= r.makespan * (1 + 1e-12) + 1e-15)
    np.testing.assert_allclose(r.ready, start)


def test_ecmp_subflows_refuses_an_all_to_all_that_would_not_fit_in_memory():
    """37.7 M pairs x ~1,000 paths each on maia200 is far past the budget: a CapacityError naming the
    routing and the alternative, raised from a routed sample before any large array is built."""
    import topo
    import traffic

    fab = topo.load("maia200")
    src, dst = traffic.patterns.all_to_all(fab.n_chips)
    with pytest.raises(topo.CapacityError, match="ecmp-subflows.*routing='ecmp'"):
        traffic.simulate_arrays(fab, src, dst, 1e6, routing="ecmp-subflows")


def test_ecmp_subflows_budget_does_not_refuse_a_problem_that_fits():
    """2,500 flows (enough to take the sampled budget check) on a star, where every pair has one path:
    the budget lets it through and sub-flows equal the spray exactly."""
    g = nx.DiGraph()
    for r in range(16):
        g.add_node(r, kind="chip", rank=r)
        g.add_edge(r, "sw", bandwidth=GB, latency=1e-6)
        g.add_edge("sw", r, bandwidth=GB, latency=1e-6)
    g.nodes["sw"]["kind"] = "switch"
    fab = Fabric(g)
    rng = np.random.default_rng(0)
    src = rng.integers(0, 16, 2500)
    dst = (src + 1 + rng.integers(0, 15, 2500)) % 16
    size = rng.uniform(1e5, 1e6, 2500)
    sub = simulate_arrays(fab, src, dst, size, routing="ecmp-subflows")
    spray = simulate_arrays(fab, src, dst, size, routing="ecmp")
    np.testing.assert_allclose(sub.arrival, spray.arrival, rtol=1e-9)
