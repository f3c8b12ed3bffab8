"""Dependency mode: hand-computed timelines, conservation, ECMP spread, errors, determinism."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_traffic_helpers import GB, chain, dumbbell, leaf_spine, ring, star

from topo import CapacityError, Fabric, RoutingError, ScaleupError, ScheduleError
from traffic import HAVE_NUMBA, Flow, maxmin_rates, simulate, simulate_arrays

METHODS = ["numpy"] + (["auto"] if HAVE_NUMBA else [])


@pytest.mark.parametrize("method", METHODS)
def test_single_uncontended_flow(method):
    fab = chain()
    size = 3e9
    r = simulate(fab, [Flow("c0", "c1", size)], method=method)
    # latency + size / bottleneck bandwidth (5 GB/s on the middle hop)
    assert r.arrival[0] == pytest.approx(6e-6 + size / (5 * GB), rel=1e-12)
    assert r.ready[0] == 0.0
    assert r.makespan == r.arrival[0]
    # the flow crosses three links in that direction, each carrying all its bytes
    assert sorted(r.link_bytes[r.link_bytes > 0]) == [size] * 3
    # peak utilisation 1 only on the bottleneck
    assert np.isclose(r.link_peak.max(), 1.0) and np.sum(np.isclose(r.link_peak, 1.0)) == 1


@pytest.mark.parametrize("method", METHODS)
def test_staggered_start_changes_rates_mid_flight(method):
    fab = star(4, bw=1 * GB, lat=1e-6)
    flows = [Flow("c0", "c1", 2e9), Flow("c0", "c2", 1e9, start=0.5)]
    r = simulate(fab, flows, method=method)
    # 0-0.5 s: flow 0 alone at 1 GB/s (0.5e9 sent); then both share c0->s at 0.5 GB/s: flow 1 needs 2 s
    # (finishes sending at 2.5 s) while flow 0 sends 1e9 more; flow 0's last 0.5e9 go at 1 GB/s -> 3.0 s.
    np.testing.assert_allclose(r.arrival, [3.0 + 2e-6, 2.5 + 2e-6], rtol=1e-12)
    np.testing.assert_allclose(r.finish, [3.0, 2.5], rtol=1e-12)
    np.testing.assert_allclose(r.ready, [0.0, 0.5])
    e = fab.edge_id("c0", "s")
    assert r.link_busy[e] == pytest.approx(3.0)
    assert r.link_bytes[e] == pytest.approx(3e9)
    assert r.link_busy[fab.edge_id("s", "c2")] == pytest.approx(2.0)


@pytest.mark.parametrize("method", METHODS)
def test_dependency_chain(method):
    fab = star(4, bw=1 * GB, lat=1e-6)
    f0 = Flow(0, 1, 1e9)
    f1 = Flow(1, 2, 2e9, deps=[f0])
    f2 = Flow(2, 3, 1e9, start=0.1, deps=[1])
    r = simulate(fab, [f0, f1, f2], method=method)
    a0 = 1.0 + 2e-6
    a1 = a0 + 2.0 + 2e-6
    a2 = a1 + 1.0 + 2e-6
    np.testing.assert_allclose(r.arrival, [a0, a1, a2], rtol=1e-12)
    np.testing.assert_allclose(r.ready, [0.0, a0, a1], rtol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_zero_byte_and_self_flows(method):
    fab = star(3, lat=1e-6)
    r = simulate(fab, [Flow(0, 1, 0), Flow(2, 2, 1e9, start=0.25), Flow(0, 2, 0, deps=[1])], method=method)
    np.testing.assert_allclose(r.arrival, [2e-6, 0.25, 0.25 + 2e-6])
    assert r.link_bytes.sum() == 0


def test_dependents_wait_for_latency_not_only_last_byte():
    fab = star(3, bw=1 * GB, lat=5e-6)
    r = simulate(fab, [Flow(0, 1, 1e6), Flow(1, 2, 1e6, deps=[0])])
    assert r.ready[1] == pytest.approx(1e-3 + 10e-6)


def test_dumbbell_fair_share_and_conservation():
    fab = dumbbell(3, edge_bw=2 * GB, mid_bw=1 * GB)
    sizes = [1e9, 2e9, 3e9]
    r = simulate(fab, [Flow(f"a{i}", f"b{i}", s) for i, s in enumerate(sizes)])
    # three flows share 1 GB/s: 1/3 each until the first (1e9) is done at 3 s; then 1/2 each:
    # second has 1e9 left -> +2 s = 5 s; third then has 1e9 left alone -> 6 s.
    np.testing.assert_allclose(r.arrival, [3.0, 5.0, 6.0], rtol=1e-12)
    mid = fab.edge_id("A", "B")
    assert r.link_bytes[mid] == pytest.approx(sum(sizes))
    assert r.utilisation[mid] == pytest.approx(1.0)
    assert r.link_peak.max() <= 1 + 1e-12


def test_ecmp_spread_on_leaf_spine_is_analytic():
    fab = leaf_spine(leaves=2, spines=4, per_leaf=2, down_bw=4 * GB, up_bw=1 * GB, lat=1e-6)
    size = 8e9
    r = simulate(fab, [Flow("c0", "c2", size)], routing="ecmp")
    for k in range(4):
        assert r.link_bytes[fab.edge_id("L0", f"S{k}")] == pytest.approx(size / 4)
        assert r.link_bytes[fab.edge_id(f"S{k}", "L1")] == pytest.approx(size / 4)
    assert r.link_bytes[fab.edge_id("c0", "L0")] == pytest.approx(size)
    # rate = min(chip link 4 GB/s, 4 spines x 1 GB/s) = 4 GB/s; path latency 4 us
    assert r.arrival[0] == pytest.approx(size / (4 * GB) + 4e-6)
    # two flows from different chips of leaf 0 to leaf 1 share the 4 GB/s of spine uplinks
    r2 = simulate(fab, [Flow("c0", "c2", size), Flow("c1", "c3", size)])
    np.testing.assert_allclose(r2.arrival, [size / (2 * GB) + 4e-6] * 2)


def test_hash_routing_single_path_deterministic():
    fab = leaf_spine(leaves=2, spines=4, per_leaf=2)
    flows = [Flow("c0", "c2", 1e9), Flow("c1", "c3", 1e9), Flow("c0", "c3", 1e9)]
    r1 = simulate(fab, flows, routing="hash", seed=3)
    r2 = simulate(fab, flows, routing="hash", seed=3)
    assert np.array_equal(r1.arrival, r2.arrival) and np.array_equal(r1.link_bytes, r2.link_bytes)
    up = [fab.edge_id("L0", f"S{k}") for k in range(4)]
    # each flow's bytes sit on exactly one spine uplink
    assert r1.link_bytes[up].sum() == pytest.approx(3e9)
    assert set(np.round(r1.link_bytes[up] / 1e9).tolist()) <= {0.0, 1.0, 2.0, 3.0}
    seen = set()
    for seed in range(20):
        r = simulate(fab, [Flow("c0", "c2", 1e9)], routing="hash", seed=seed)
        seen.add(int(np.argmax(r.link_bytes[up])))
    assert len(seen) > 1  # the seed changes the choice


def test_explicit_path_used_as_is_and_validated():
    fab = ring(6, bw=1 * GB, lat=1e-6)
    # the long way round: 4 hops instead of 2
    path = ["c0", "c5", "c4", "c3", "c2"]
    r = simulate(fab, [Flow("c0", "c2", 1e9, path=path)])
    assert r.arrival[0] == pytest.approx(1.0 + 4e-6)
    assert r.link_bytes[fab.edge_id("c0", "c5")] == 1e9 and r.link_bytes[fab.edge_id("c0", "c1")] == 0
    with pytest.raises(RoutingError, match="flow 0.*not a path"):
        simulate(fab, [Flow("c0", "c2", 1.0, path=["c0", "c2"])])
    with pytest.raises(RoutingError, match="flow 0"):
        simulate(fab, [Flow("c0", "c2", 1.0, path=["c1", "c2"])])


def test_ring_shortest_paths_split_evenly_when_tied():
    fab = ring(4, bw=1 * GB, lat=0.0)
    r = simulate(fab, [Flow("c0", "c2", 2e9)])
    # two 2-hop paths, half the bytes each, rate 2 GB/s in total
    assert r.arrival[0] == pytest.approx(1.0)
    assert r.link_bytes[fab.edge_id("c0", "c1")] == pytest.approx(1e9)
    assert r.link_bytes[fab.edge_id("c0", "c3")] == pytest.approx(1e9)


def test_bad_inputs_raise_scaleup_errors():
    fab = star(3)
    with pytest.raises(RoutingError, match="flow 0.*unknown node 'zz'"):
        simulate(fab, [Flow("zz", "c1", 1.0)])
    with pytest.raises(ScheduleError, match="flow 1: size"):
        simulate(fab, [Flow(0, 1, 1.0), Flow(0, 1, -5.0)])
    with pytest.raises(ScheduleError, match="cycle"):
        simulate(fab, [Flow(0, 1, 1.0, deps=[2]), Flow(1, 2, 1.0, deps=[0]), Flow(1, 2, 1.0, deps=[1])])
    with pytest.raises(ScheduleError, match="flow 0: its dependencies form a cycle"):
        simulate(fab, [Flow(0, 1, 1.0, deps=[0])])
    with pytest.raises(ScheduleError, match="dependency 7"):
        simulate(fab, [Flow(0, 1, 1.0, deps=[7])])
    with pytest.raises(ScheduleError, match="start"):
        simulate(fab, [Flow(0, 1, 1.0, start=-1.0)])
    with pytest.raises(RoutingError, match="routing"):
        simulate(fab, [Flow(0, 1, 1.0)], routing="random")
    with pytest.raises(ScaleupError):
        simulate_arrays(fab, np.array([0]), np.array([99]), 1.0)


def test_zero_capacity_link_on_used_path():
    g = nx.Graph()
    g.add_node("a", kind="chip")
    g.add_node("b", kind="chip")
    g.add_node("s", kind="switch", tier=1)
    g.add_edge("a", "s", bandwidth=1e9, latency=0.0, efficiency=1.0)
    g.add_edge("b", "s", bandwidth=1e9, latency=0.0)
    fab = Fabric.from_graph(g)
    fab.edge_capacity[fab.edge_id("s", "b")] = 0.0  # e.g. a link configured down
    simulate(fab, [Flow("b", "a", 1.0)])  # not on the path: fine
    with pytest.raises(CapacityError, match="flow 1.*'s' -> 'b'"):
        simulate(fab, [Flow("b", "a", 1.0), Flow("a", "b", 1.0)])


def test_simulate_arrays_with_csr_dependencies_matches_simulate():
    fab = star(4, bw=1 * GB, lat=1e-6)
    src = np.array([0, 1, 2, 3])
    dst = np.array([1, 2, 3, 0])
    size = np.array([1e9, 2e9, 5e8, 1e8])
    dep_ptr = np.array([0, 0, 1, 3, 3])
    dep_idx = np.array([0, 0, 1])
    r = simulate_arrays(fab, src, dst, size, dep_ptr=dep_ptr, dep_idx=dep_idx)
    flows = [Flow(0, 1, 1e9), Flow(1, 2, 2e9, deps=[0]), Flow(2, 3, 5e8, deps=[0, 1]), Flow(3, 0, 1e8)]
    r2 = simulate(fab, flows)
    assert np.array_equal(r.arrival, r2.arrival)


def test_numba_batch_and_python_loop_agree():
    fab = leaf_spine(leaves=3, spines=2, per_leaf=3, down_bw=3 * GB, up_bw=1 * GB, lat=1e-7)
    rng = np.random.default_rng(4)
    n = 60
    src = rng.integers(0, 9, n)
    dst = rng.integers(0, 9, n)
    size = rng.uniform(0, 1e8, n)
    start = rng.choice([0.0, 0.01, 0.02], n)
    a = simulate_arrays(fab, src, dst, size, start=start)
    b = simulate_arrays(fab, src, dst, size, start=start, method="numpy")
    np.testing.assert_allclose(a.arrival, b.arrival, rtol=1e-12)
    np.testing.assert_allclose(a.link_busy, b.link_busy, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(a.link_peak, b.link_peak, rtol=1e-9)
    np.testing.assert_allclose(a.link_bytes, b.link_bytes, rtol=1e-12)


def test_determinism_bit_for_bit():
    fab = leaf_spine(leaves=2, spines=3, per_leaf=4)
    rng = np.random.default_rng(0)
    src, dst = rng.integers(0, 8, 40), rng.integers(0, 8, 40)
    size = rng.uniform(1e6, 1e8, 40)
    for routing in ("ecmp", "hash"):
        a = simulate_arrays(fab, src, dst, size, routing=routing, seed=2)
        b = simulate_arrays(fab, src, dst, size, routing=routing, seed=2)
        assert a.arrival.tobytes() == b.arrival.tobytes()
        assert a.link_bytes.tobytes() == b.link_bytes.tobytes()


# ------------------------------------------------------------------ hypothesis: random fabrics and flows
@st.composite
def fabrics_and_flows(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n_chips = draw(st.integers(2, 6))
    n_sw = draw(st.integers(1, 4))
    g = nx.Graph()
    for i in range(n_chips):
        g.add_node(f"c{i}", kind="chip")
    for j in range(n_sw):
        g.add_node(f"s{j}", kind="switch", tier=1)
    for j in range(1, n_sw):  # a random tree of switches plus extra links
        g.add_edge(f"s{j}", f"s{int(rng.integers(0, j))}", bandwidth=float(rng.choice([1e9, 2e9, 5e9])),
                   latency=float(rng.choice([0.0, 1e-6])))
    for _ in range(int(rng.integers(0, 3))):
        a, b = rng.integers(0, n_sw, 2)
        if a != b:
            g.add_edge(f"s{a}", f"s{b}", bandwidth=float(rng.choice([1e9, 3e9])), latency=1e-6)
    for i in range(n_chips):
        for j in rng.choice(n_sw, size=int(rng.integers(1, min(2, n_sw) + 1)), replace=False):
            g.add_edge(f"c{i}", f"s{j}", bandwidth=float(rng.choice([1e9, 4e9])), latency=1e-6)
    fab = Fabric.from_graph(g)
    n = draw(st.integers(1, 15))
    src = rng.integers(0, n_chips, n)
    dst = rng.integers(0, n_chips, n)
    size = rng.choice([0.0, 1e6, 5e6, 2e7], n)
    start = rng.choice([0.0, 0.0, 1e-3, 4e-3], n)
    return fab, src, dst, size, start


@settings(max_examples=40, deadline=None)
@given(fabrics_and_flows(), st.sampled_from(["ecmp", "hash"]))
def test_engine_invariants_on_random_fabrics(case, routing):
    fab, src, dst, size, start = case
    r = simulate_arrays(fab, src, dst, size, start=start, routing=routing)
    # conservation: per-link bytes = sum over flows of size x fraction on that link; totals match hops
    routes = fab.routes(src, dst)
    expect = np.zeros(fab.n_edges)
    for i in range(len(src)):
        paths = routes.edges_of(i)
        if routing == "ecmp":
            for p in paths:
                np.add.at(expect, p, size[i] / len(paths))
    if routing == "ecmp":
        np.testing.assert_allclose(r.link_bytes, expect, rtol=1e-9, atol=1e-3)
    else:
        hops = np.array([len(routes.edges_of(i)[0]) for i in range(len(src))])
        lens = {len(p) for i in range(len(src)) for p in routes.edges_of(i)}
        assert lens  # equal-cost paths have equal hop counts
        assert r.link_bytes.sum() == pytest.approx(float((size * hops).sum()), rel=1e-9)
    # no link above capacity at any instant; busy time within the makespan
    assert np.all(r.link_peak <= 1 + 1e-9)
    assert np.all(r.link_busy <= r.makespan * (1 + 1e-12) + 1e-15)
    # each flow takes at least latency + size / its best path bottleneck, and arrives after its start
    assert np.all(r.arrival >= start - 1e-15)
    moved = (size > 0) & (src != dst)
    if moved.any():
        assert np.all(r.arrival[moved] > start[moved])
    # the first allocation is the max-min allocation (certificate) of the flows ready at t=0
    first = (start == 0) & moved
    if first.any():
        from scipy import sparse as sp

        rows, cols, vals = [], [], []
        for k, i in enumerate(np.flatnonzero(first)):
            paths = routes.edges_of(i)
            if routing == "hash":
                continue
            for p in paths:
                for e in p:
                    rows.append(k)
                    cols.append(e)
                    vals.append(1.0 / len(paths))
        if rows:
            a = sp.csr_matrix((vals, (rows, cols)), shape=(int(first.sum()), fab.n_edges)).toarray()
            rates = maxmin_rates(a, fab.edge_capacity)
            load = a.T @ np.where(np.isfinite(rates), rates, 0)
            assert np.all(load <= fab.edge_capacity * (1 + 1e-9))
            sat = load >= fab.edge_capacity * (1 - 1e-9)
            for k in range(a.shape[0]):
                links = np.flatnonzero(a[k] > 0)
                assert any(sat[lk] and rates[k] >= rates[a[:, lk] > 0].max() * (1 - 1e-9) for lk in links)
