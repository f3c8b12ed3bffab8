"""Step mode: agreement with dependency mode, memoisation, aggregation, structural grouping."""

from __future__ import annotations

import numpy as np
import pytest
from test_traffic_helpers import GB, leaf_spine, ring, star

import topo
from topo import ScaleupError, ScheduleError
from traffic import Step, patterns, simulate_arrays, simulate_steps, uniform_all_to_all


def ring_allgather_deps(n: int, size: float):
    """Flows of a ring all-gather with true dependencies: step k of rank i waits for step k-1 of i-1."""
    src, dst, ptr, idx = [], [], [0], []
    for k in range(n - 1):
        for i in range(n):
            src.append(i)
            dst.append((i + 1) % n)
            if k:
                idx.append((k - 1) * n + (i - 1) % n)
            ptr.append(len(idx))
    return np.array(src), np.array(dst), np.full(len(src), size), np.array(ptr), np.array(idx)


@pytest.mark.parametrize("fab_fn", [lambda: ring(6, bw=2 * GB, lat=1e-6), lambda: star(6, bw=2 * GB, lat=3e-7)])
def test_uniform_ring_step_mode_equals_dependency_mode(fab_fn):
    fab = fab_fn()
    n, size = 6, 1e8
    src, dst, sz, ptr, idx = ring_allgather_deps(n, size)
    exact = simulate_arrays(fab, src, dst, sz, dep_ptr=ptr, dep_idx=idx)
    s0, d0 = patterns.ring(n)
    steps = [Step(s0, d0, size, key="ring") for _ in range(n - 1)]
    res = simulate_steps(fab, steps)
    assert res.time == pytest.approx(exact.makespan, rel=1e-12)
    assert res.solved == 1
    np.testing.assert_allclose(res.link_bytes, exact.link_bytes, rtol=1e-12)
    np.testing.assert_allclose(res.link_busy, exact.link_busy, rtol=1e-9)
    # closed form: (n-1) x (size / bottleneck + path latency), from the first flow's route
    e = fab.routes(np.array([0]), np.array([1])).edges_of(0)[0]
    one = size / fab.edge_capacity[e].min() + fab.edge_latency[e].sum()
    assert res.time == pytest.approx((n - 1) * one, rel=1e-12)


def test_step_mode_barrier_costs_when_groups_are_unbalanced():
    fab = star(4, bw=1 * GB, lat=0.0)
    # group A (0->1): 1 GB then 3 GB; group B (2->3): 3 GB then 1 GB
    src = np.array([0, 2, 0, 2])
    dst = np.array([1, 3, 1, 3])
    size = np.array([1e9, 3e9, 3e9, 1e9])
    exact = simulate_arrays(fab, src, dst, size, dep_ptr=np.array([0, 0, 0, 1, 2]), dep_idx=np.array([0, 1]))
    assert exact.makespan == pytest.approx(4.0)
    steps = [Step(src[:2], dst[:2], size[:2]), Step(src[2:], dst[2:], size[2:])]
    res = simulate_steps(fab, steps)
    assert res.time == pytest.approx(6.0)  # bulk-synchronous: max per step, 3 + 3
    np.testing.assert_allclose(res.step_times, [3.0, 3.0])
    np.testing.assert_allclose(res.link_bytes, exact.link_bytes)


def test_memo_by_key_and_by_content():
    fab = leaf_spine(leaves=2, spines=2, per_leaf=2)
    s, d = np.array([0, 1]), np.array([2, 3])
    res = simulate_steps(fab, [Step(s, d, 1e8) for _ in range(5)])
    assert res.solved == 1  # content signature
    assert np.all(res.step_times == res.step_times[0])
    one = simulate_steps(fab, [Step(s, d, 1e8)])
    np.testing.assert_allclose(res.link_bytes, 5 * one.link_bytes)
    np.testing.assert_allclose(res.link_busy, 5 * one.link_busy)
    # a key promises equal duration: a shifted template reuses it; stats=False skips the solve
    shifted = Step(np.array([2, 3]), np.array([0, 1]), 1e8, key="t")
    base = Step(s, d, 1e8, key="t")
    r2 = simulate_steps(fab, [base, shifted], stats=False)
    assert r2.solved == 1 and r2.step_times[1] == r2.step_times[0]
    r3 = simulate_steps(fab, [base, shifted], stats=True)
    assert r3.solved == 2  # stats put the shifted step's bytes on its own links
    assert r3.link_bytes[fab.edge_id("L1", "S0")] > 0 and r3.link_bytes[fab.edge_id("L0", "S0")] > 0


def test_aggregation_matches_individual_flows():
    fab = leaf_spine(leaves=2, spines=3, per_leaf=2, down_bw=4 * GB, up_bw=1 * GB)
    src = np.array([0, 0, 0, 1, 1, 2])
    dst = np.array([2, 2, 2, 3, 2, 0])
    size = np.array([1e8, 1e8, 1e8, 2e8, 1e8, 5e7])
    res = simulate_steps(fab, [Step(src, dst, size)])
    exact = simulate_arrays(fab, src, dst, size)
    assert res.time == pytest.approx(exact.makespan, rel=1e-12)
    np.testing.assert_allclose(res.link_bytes, exact.link_bytes, rtol=1e-12)
    np.testing.assert_allclose(res.link_busy, exact.link_busy, rtol=1e-9)


def test_two_tier_structural_paths_match_general_path():
    fab = topo.two_tier(chips=128, planes=2, switch_radix=32, tray_size=4, tray_ports=3, ports=8)
    rng = np.random.default_rng(2)
    src, dst = rng.integers(0, 128, 300), rng.integers(0, 128, 300)
    size = rng.uniform(1e5, 1e7, 300)
    fast = simulate_arrays(fab, src, dst, size)  # merged columns (4 entries per cross-leaf flow)
    ref = simulate_arrays(fab, src, dst, size, paths=[None] * 300, method="numpy")  # general path
    np.testing.assert_allclose(fast.arrival, ref.arrival, rtol=1e-9)
    np.testing.assert_allclose(fast.link_bytes, ref.link_bytes, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(fast.link_peak, ref.link_peak, rtol=1e-9, atol=1e-12)


def test_uniform_all_to_all_grouped_equals_every_flow():
    fab = topo.two_tier(chips=256, planes=4, switch_radix=32, tray_size=4, tray_ports=3, ports=8)
    g = uniform_all_to_all(fab, 1e6, grouped=True)
    f = uniform_all_to_all(fab, 1e6, grouped=False)
    assert g.meta["grouped"] and not f.meta["grouped"]
    assert g.time == pytest.approx(f.time, rel=1e-12)
    np.testing.assert_allclose(g.link_bytes, f.link_bytes, rtol=1e-9)
    np.testing.assert_allclose(g.link_busy, f.link_busy, rtol=1e-9)
    # the same traffic through simulate_steps with structural grouping, and a non-uniform variant falls back
    s, d = patterns.all_to_all(256)
    r = simulate_steps(fab, [Step(s, d, 1e6)], grouping="structure")
    assert r.time == pytest.approx(f.time, rel=1e-12)
    sz = np.full(len(s), 1e6)
    sz[:10] = 3e6
    a = simulate_steps(fab, [Step(s, d, sz)], grouping="structure")
    b = simulate_steps(fab, [Step(s, d, sz)])
    assert a.time == pytest.approx(b.time, rel=1e-12)
    # conservation: every byte sent crosses one chip uplink bundle and one downlink bundle (or a tray link)
    assert f.link_bytes.sum() > 0


def test_step_mode_latency_and_errors():
    fab = star(3, bw=1 * GB, lat=2e-6)
    res = simulate_steps(fab, [Step(np.array([0]), np.array([1]), 1e9), Step(np.array([1]), np.array([2]), 0.0)])
    np.testing.assert_allclose(res.step_times, [1.0 + 4e-6, 4e-6])
    assert simulate_steps(fab, []).time == 0.0
    with pytest.raises(ScheduleError, match="step 1: flow 0: size"):
        simulate_steps(fab, [Step(np.array([0]), np.array([1]), 1.0), Step(np.array([0]), np.array([1]), -1.0)])
    with pytest.raises(ScheduleError, match="step 0"):
        simulate_steps(fab, [Step(np.array([0, 1]), np.array([1]), 1.0)])
    with pytest.raises(ScheduleError, match="traffic.Step"):
        simulate_steps(fab, [(0, 1, 1.0)])
    with pytest.raises(ScaleupError):
        simulate_steps(fab, [Step(np.array([0]), np.array([9]), 1.0)])
    with pytest.raises(ScheduleError, match="grouping"):
        simulate_steps(fab, [Step(np.array([0]), np.array([1]), 1.0)], grouping="magic")


def test_permutation_component_solver_matches_reference():
    # a permutation on a non-blocking two-tier fabric splits into independent components (each flow's
    # chip links); the component event loop must give the reference loop's answers
    fab = topo.two_tier(chips=256, planes=4, switch_radix=32, tray_size=4, tray_ports=3, ports=8)
    src, dst = patterns.permutation(256, seed=5)
    size = patterns.sizes(256, 1e7, spread=0.9, seed=5)
    start = np.random.default_rng(5).choice([0.0, 1e-5, 3e-5], 256)
    fast = simulate_arrays(fab, src, dst, size, start=start)
    ref = simulate_arrays(fab, src, dst, size, start=start, method="numpy")
    np.testing.assert_allclose(fast.arrival, ref.arrival, rtol=1e-9)
    np.testing.assert_allclose(fast.link_busy, ref.link_busy, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(fast.link_peak, ref.link_peak, rtol=1e-9, atol=1e-12)


def test_dependency_mode_components_match_reference():
    # 16 independent ring all-gathers (one per group of 8 chips) with dependencies, unequal sizes per
    # group: the compiled path re-solves only changed components; the numpy path re-solves everything
    fab = topo.two_tier(chips=128, planes=2, switch_radix=32, tray_size=4, tray_ports=3, ports=8)
    src, dst, size, ptr, idx = [], [], [], [0], []
    n = 8
    for g in range(16):
        base = len(src)
        for k in range(n - 1):
            for j in range(n):
                src.append(g * n + j)
                dst.append(g * n + (j + 1) % n)
                size.append(1e6 * (1 + g % 3))
                if k:
                    idx.extend([base + (k - 1) * n + (j - 1) % n, base + (k - 1) * n + j])
                ptr.append(len(idx))
    args = (fab, np.array(src), np.array(dst), np.array(size))
    kw = dict(dep_ptr=np.array(ptr), dep_idx=np.array(idx))
    fast = simulate_arrays(*args, **kw)
    ref = simulate_arrays(*args, **kw, method="numpy")
    np.testing.assert_allclose(fast.arrival, ref.arrival, rtol=1e-9)
    np.testing.assert_allclose(fast.link_busy, ref.link_busy, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(fast.link_peak, ref.link_peak, rtol=1e-9, atol=1e-12)


def test_incremental_resolve_on_one_giant_component_matches_reference():
    # random flows on a torus share links heavily (one component); with all starts at 0 every event
    # is a departure, re-solved incrementally from the smallest departing rate; compare with the full
    # re-solve of the reference loop
    fab = topo.torus(dims=[4, 4, 4])
    rng = np.random.default_rng(11)
    src = rng.integers(0, 64, 150)
    dst = (src + rng.integers(1, 64, 150)) % 64
    size = rng.uniform(1e5, 1e7, 150)
    fast = simulate_arrays(fab, src, dst, size)
    ref = simulate_arrays(fab, src, dst, size, method="numpy")
    assert fast.events == ref.events
    np.testing.assert_allclose(fast.arrival, ref.arrival, rtol=1e-9)
    np.testing.assert_allclose(fast.link_busy, ref.link_busy, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(fast.link_peak, ref.link_peak, rtol=1e-9, atol=1e-12)


def test_incremental_arrivals_and_departures_match_reference():
    # staggered starts on a torus (one component): arrivals and departures both re-fill incrementally
    fab = topo.torus(dims=[4, 4, 4])
    rng = np.random.default_rng(12)
    src = rng.integers(0, 64, 200)
    dst = (src + rng.integers(1, 64, 200)) % 64
    size = rng.uniform(1e5, 1e7, 200)
    start = rng.choice([0.0, 1e-5, 2e-5, 5e-5], 200) + rng.uniform(0, 1e-5, 200) * (rng.random(200) < 0.5)
    for routing in ("ecmp", "hash"):
        fast = simulate_arrays(fab, src, dst, size, start=start, routing=routing)
        ref = simulate_arrays(fab, src, dst, size, start=start, routing=routing, method="numpy")
        np.testing.assert_allclose(fast.arrival, ref.arrival, rtol=1e-9)
        np.testing.assert_allclose(fast.link_busy, ref.link_busy, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(fast.link_peak, ref.link_peak, rtol=1e-9, atol=1e-12)
