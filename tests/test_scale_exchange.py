"""A step in which every chip sends to every other chip (a whole-fabric direct reduce-scatter, all-gather,
two-shot or one-shot all-reduce, in any pair order) is solved by the all-to-all's counting form
(traffic.steps.uniform_exchange_size -> structure.uniform_all_to_all_problem / faulted_all_to_all_problem), not by
classing its n (n - 1) flows with sorts (6,144 maia200 chips: 37.7 M flows a step, `scaleup collective all-reduce
--algorithm direct --group-size 6144` took 209 s a size; on a faulted fabric the step went per flow). Checked against
the general path (per-flow rows, the faulted shortcuts off): the same step time, link bytes, busy times and peaks,
bytes conserved, no link above capacity; hypothesis draws the faults, the size and the pair order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import collectives
import collectives.bounds as bounds
import topo
import traffic
import traffic.steps as steps
import traffic.structure as structure
from topo import RoutingError
from traffic import patterns

RTOL_TIMES = 1e-11  # two exact encodings differ by the event loop's finish-tie resolution (tests/test_whatif_a2a.py)


def _tt64() -> topo.Fabric:
    """64 chips, trays of 4, 4 leaf groups of 16 (same-group pairs direct or switched), 2 planes, 4 spines a plane."""
    return topo.two_tier(chips=64, tray_size=4, planes=2, ports_per_plane=1, tray_ports=3, ports=5,
                         switch_radix=32, leaf_down=16, leaf_uplinks=8, spines=4, chip="maia200", name="tt64")


_FAB = _tt64()
_LINKS = [f"{_FAB.nodes[s]}->{_FAB.nodes[d]}" for s, d in zip(_FAB.edge_src.tolist(), _FAB.edge_dst.tolist())]


def _pairs(n: int, seed: int | None):
    src, dst = patterns.all_to_all(n)
    if seed is not None:
        perm = np.random.default_rng(seed).permutation(len(src))
        src, dst = src[perm], dst[perm]
    return src, dst


def _general(fab: topo.Fabric, src, dst, size) -> traffic.StepResult:
    """The step per flow (grouping off), the faulted fabric's rows from its own router (faulted shortcuts off)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(structure, "_faulted_base", lambda fab: None)
        return traffic.simulate_steps(fab, [traffic.Step(src, dst, size)], grouping="none")


def _fast(fab: topo.Fabric, src, dst, size) -> traffic.StepResult:
    """The step with grouping="structure", which must take the counting form (the sort-based classing is off)."""
    def no_sort(*a, **k):
        raise AssertionError("grouped_problem called: the whole-fabric exchange was not recognised")

    with pytest.MonkeyPatch.context() as m:
        m.setattr(structure, "grouped_problem", no_sort)
        return traffic.simulate_steps(fab, [traffic.Step(src, dst, size)], grouping="structure")


def _same(a: traffic.StepResult, b: traffic.StepResult, fab: topo.Fabric, size: float) -> None:
    np.testing.assert_allclose(a.time, b.time, rtol=RTOL_TIMES, atol=0)
    scale = max(b.link_bytes.max(), 1.0)
    np.testing.assert_allclose(a.link_bytes, b.link_bytes, rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(a.link_busy, b.link_busy, rtol=RTOL_TIMES, atol=RTOL_TIMES * b.time)
    np.testing.assert_allclose(a.link_peak, b.link_peak, rtol=0, atol=1e-11)
    n = fab.n_chips
    out = np.bincount(fab.edge_src, a.link_bytes, fab.n_nodes)
    net = out - np.bincount(fab.edge_dst, a.link_bytes, fab.n_nodes)
    np.testing.assert_allclose(net, 0.0, atol=1e-9 * max(size, 1.0) * n)  # switches relay, chips send = receive
    np.testing.assert_allclose(out[:n], (n - 1) * size, rtol=1e-12, atol=1e-9)  # every chip sends (n - 1) x size
    assert a.link_peak.max() <= 1 + 1e-9


@pytest.mark.parametrize("faults", [None, ["port:c7-p1.leaf0@0.5"], ["switch:p0.leaf1"], ["cable:c4-c5"],
                                    ["switch:p1.spine2", "chip:c17@0.5"]])
def test_whole_fabric_exchange_step_takes_the_counting_form(faults):
    fab = _FAB if faults is None else _FAB.with_faults(faults)
    src, dst = _pairs(fab.n_chips, 3)
    _same(_fast(fab, src, dst, 1e6), _general(fab, src, dst, 1e6), fab, 1e6)


def test_maia200_small_exchange_with_a_degraded_optic():
    fab = topo.load("maia200-small").with_faults(["port:c7-p1.leaf0@0.5"])
    src, dst = _pairs(fab.n_chips, None)
    a = _fast(fab, src, dst, 2**20)
    b = traffic.simulate_steps(fab, [traffic.Step(src, dst, 2**20)], grouping="none")
    np.testing.assert_allclose(a.time, b.time, rtol=RTOL_TIMES, atol=0)
    np.testing.assert_allclose(a.link_bytes, b.link_bytes, rtol=1e-12, atol=1e-12 * b.link_bytes.max())


@settings(max_examples=25, deadline=None, derandomize=True)
@given(picks=st.lists(st.tuples(st.integers(0, len(_LINKS) - 1), st.sampled_from([0.0, 0.25, 0.5, 0.9])),
                      min_size=0, max_size=3),
       size=st.sampled_from([0.0, 1.0, 1e5, 3.3e6]), seed=st.one_of(st.none(), st.integers(0, 2**16)))
def test_random_faults_sizes_and_orders_equal_the_general_path(picks, size, seed):
    faults = [f"link:{_LINKS[i]}" + (f"@{x}" if x else "") for i, x in picks]
    fab = _FAB.with_faults(faults) if faults else _FAB
    src, dst = _pairs(fab.n_chips, seed)
    try:
        b = _general(fab, src, dst, size)
    except RoutingError:  # a chip cut off in one direction: both refuse it
        with pytest.raises(RoutingError):
            traffic.simulate_steps(fab, [traffic.Step(src, dst, size)], grouping="structure")
        return
    if size == 0.0:  # 0-byte flows: only their latency; no link carries bytes
        a = traffic.simulate_steps(fab, [traffic.Step(src, dst, size)], grouping="structure")
        np.testing.assert_allclose(a.time, b.time, rtol=RTOL_TIMES, atol=0)
        return
    _same(_fast(fab, src, dst, size), b, fab, size)


def test_not_an_exchange_is_not_recognised():
    n = _FAB.n_chips
    src, dst = _pairs(n, 0)
    assert steps.uniform_exchange_size(_FAB, src, dst, 5.0) == 5.0
    assert steps.uniform_exchange_size(_FAB, src.astype(np.int32), dst.astype(np.int32), np.full(len(src), 5.0)) == 5.0
    d2 = dst.copy()
    d2[0] = dst[1] if src[1] == src[0] else d2[0]  # a repeated pair (and so one pair missing)
    i = int(np.flatnonzero((src == src[0]) & (dst != d2[0]) & (np.arange(len(src)) != 0))[0])
    d2[0] = dst[i]
    assert steps.uniform_exchange_size(_FAB, src, d2, 5.0) is None
    d3 = dst.copy()
    d3[0] = src[0]  # a self pair
    assert steps.uniform_exchange_size(_FAB, src, d3, 5.0) is None
    z = np.full(len(src), 5.0)
    z[7] = 6.0  # unequal sizes
    assert steps.uniform_exchange_size(_FAB, src, dst, z) is None
    assert steps.uniform_exchange_size(_FAB, src[1:], dst[1:], 5.0) is None
    # a repeated pair is still solved per flow, as before
    b = traffic.simulate_steps(_FAB, [traffic.Step(src, d2, 1e6)], grouping="structure")
    c = traffic.simulate_steps(_FAB, [traffic.Step(src, d2, 1e6)], grouping="none")
    np.testing.assert_allclose(b.time, c.time, rtol=RTOL_TIMES, atol=0)


@pytest.mark.parametrize("collective,algorithm", [("all_reduce", "direct"), ("all_reduce", "oneshot"),
                                                  ("all_gather", "direct"), ("reduce_scatter", "direct")])
@pytest.mark.parametrize("faults", [None, ["port:c7-p1.leaf0@0.5", "switch:p0.spine3"]])
def test_direct_collectives_over_every_chip_equal_the_general_path(collective, algorithm, faults):
    """The whole-fabric direct collectives (their steps are exchanges) and their alpha-beta bound: the same as with
    the counting form off (the bound's engine solve forced by a route budget of 100 entries)."""
    fab = _FAB if faults is None else _FAB.with_faults(faults)
    group = list(range(fab.n_chips))[::-1]  # any order: the pairs are the same set

    def go():
        with pytest.MonkeyPatch.context() as m:
            m.setattr(bounds, "_ROUTE_ENTRIES", 100)
            return collectives.collective(collective, fab, "4MiB", group, algorithm=algorithm, ideal=True)

    fast = go()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(steps, "uniform_exchange_size", lambda *a: None)
        m.setattr(structure, "_faulted_base", lambda fab: None)
        slow = go()
    np.testing.assert_allclose(fast.time, slow.time, rtol=RTOL_TIMES, atol=0)
    np.testing.assert_allclose(fast.bound, slow.bound, rtol=RTOL_TIMES, atol=0)
    fb, sb = fast.link_stats.link_bytes, slow.link_stats.link_bytes
    np.testing.assert_allclose(fb, sb, rtol=1e-12, atol=1e-12 * sb.max())
