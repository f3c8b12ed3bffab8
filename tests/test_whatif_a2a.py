"""A uniform all-to-all on a faulted two-tier fabric is solved by classes (traffic.structure.
faulted_all_to_all_problem), not per pair: one degraded optic no longer sends a machine-wide all-to-all down the
per-pair path (6,144 chips: 37.7 M pairs, minutes and ~16 GB before). Checked against the general path (every
pair routed, links merged only when identical; the faulted shortcuts switched off): the same step time, link
bytes, busy times and peaks, bytes conserved at every node, no link above its capacity; hypothesis draws the
degraded and failed links."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import collectives
import topo
import traffic
import traffic.structure as structure
from topo import RoutingError

# two exact encodings of one problem differ by the event loop's finish-tie resolution (a few 1e-13 here;
# tests/test_whatif_structure.py uses the same bound for the per-pair faulted rows)
RTOL_TIMES = 1e-11


def _tt64() -> topo.Fabric:
    """64 chips, trays of 4, 4 leaf groups of 16 chips (so same-group pairs are direct or switched), 2 planes,
    4 spines a plane."""
    return topo.two_tier(chips=64, tray_size=4, planes=2, ports_per_plane=1, tray_ports=3, ports=5,
                         switch_radix=32, leaf_down=16, leaf_uplinks=8, spines=4, chip="maia200", name="tt64")


@pytest.fixture(scope="module")
def fabrics():
    return {"tt64": _tt64(), "maia200-small": topo.load("maia200-small")}


def _general(fab: topo.Fabric, faults: list[str], size: float):
    """The same all-to-all per pair with the faulted shortcuts off: every pair routed by the faulted fabric's router
    (a fault that leaves the fabric's own structure intact, e.g. a degraded tray link, keeps its exact merged rows)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(structure, "_faulted_base", lambda fab: None)
        return traffic.uniform_all_to_all(fab.with_faults(faults), size, grouped=False)


def _check(fab: topo.Fabric, faults: list[str], size: float = 1e6) -> traffic.StepResult:
    f = fab.with_faults(faults)
    a = traffic.uniform_all_to_all(f, size)
    b = _general(fab, faults, size)
    assert a.meta["grouped"]
    np.testing.assert_allclose(a.time, b.time, rtol=RTOL_TIMES, atol=0)
    scale = b.link_bytes.max()
    np.testing.assert_allclose(a.link_bytes, b.link_bytes, rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(a.link_busy, b.link_busy, rtol=RTOL_TIMES, atol=RTOL_TIMES * b.time)
    np.testing.assert_allclose(a.link_peak, b.link_peak, rtol=0, atol=1e-11)
    # bytes conserved at every node: each chip sources and sinks (n - 1) x size, switches neither
    n = f.n_chips
    net_out = np.bincount(f.edge_src, a.link_bytes, f.n_nodes) - np.bincount(f.edge_dst, a.link_bytes, f.n_nodes)
    np.testing.assert_allclose(net_out, 0.0, atol=1e-9 * size * n)
    sent = np.bincount(f.edge_src, a.link_bytes, f.n_nodes)[:n]
    np.testing.assert_allclose(sent, (n - 1) * size, rtol=1e-12)
    # no link above its capacity at any instant
    assert a.link_peak.max() <= 1 + 1e-9
    return a


FAULTS = {
    "degraded optic": ["link:c5->p0.leaf0@0.5"],
    "degraded port, both ways": ["port:c7-p1.leaf0@0.5"],
    "failed port": ["port:c7-p1.leaf0"],
    "failed tray cable": ["cable:c4-c5"],
    "degraded tray link": ["link:c2->c3@0.4", "link:c9->p0.leaf0@0.7"],
    "degraded chip": ["chip:c17@0.5"],
    "degraded leaf-spine link": ["link:p0.leaf1->p0.spine0@0.5"],
    "failed leaf": ["switch:p0.leaf2"],
    "failed spine": ["switch:p1.spine1"],
    "mixed": ["port:c0-p0.leaf0", "cable:c9-c10", "link:p1.leaf1->p1.spine2@0.5", "chip:c20@0.3"],
}


# every kind on tt64; on maia200-small (the general path takes seconds there) a few
CASES = [("tt64", k) for k in FAULTS] + [("maia200-small", k) for k in ("degraded optic", "failed tray cable",
                                                                        "failed spine", "mixed")]


@pytest.mark.parametrize("name,kind", CASES)
def test_faulted_all_to_all_by_classes_equals_the_general_path(fabrics, name, kind):
    a = _check(fabrics[name], FAULTS[kind])
    assert a.meta["faulted_classes"]


def test_one_degraded_optic_keeps_the_class_form(fabrics):
    """The defect: one degraded port made the all-to-all take the per-pair path (147,072 rows on 384 chips,
    37.7 M on 6,144); now a few hundred classes, and the same time as per pair (to rounding)."""
    fab = fabrics["maia200-small"]
    f = fab.with_faults(["port:c7-p1.leaf0@0.5"])
    a = traffic.uniform_all_to_all(f, 2**20)
    assert a.meta["grouped"] and a.meta["faulted_classes"]
    assert a.meta["rows"] < 1_000
    per_pair = traffic.uniform_all_to_all(f, 2**20, grouped=False)
    np.testing.assert_allclose(a.time, per_pair.time, rtol=RTOL_TIMES, atol=0)
    np.testing.assert_allclose(a.link_bytes, per_pair.link_bytes, rtol=1e-12, atol=1e-12 * per_pair.link_bytes.max())


def test_the_collective_all_to_all_on_a_faulted_fabric_equals_the_general_path(fabrics):
    fab = fabrics["tt64"]
    flt = ["port:c7-p1.leaf0@0.5", "switch:p0.spine3"]
    op = collectives.AllToAll("4MiB", list(range(fab.n_chips)))
    fast = collectives.run([op], fab.with_faults(flt))[0].time
    with pytest.MonkeyPatch.context() as m:
        m.setattr(structure, "_faulted_base", lambda fab: None)
        slow = collectives.run([op], fab.with_faults(flt))[0].time
    np.testing.assert_allclose(fast, slow, rtol=RTOL_TIMES, atol=0)


def test_a_chip_cut_off_is_still_a_routing_error(fabrics):
    with pytest.raises(RoutingError, match="c5"):
        traffic.uniform_all_to_all(fabrics["tt64"].with_faults(["chip:c5"]), 1e6)


def _links(fab: topo.Fabric) -> list[str]:
    """Every directed link of the fabric as a fault target (chip-leaf both ways, tray, leaf-spine both ways)."""
    names = fab.nodes
    return [f"{names[s]}->{names[d]}" for s, d in zip(fab.edge_src.tolist(), fab.edge_dst.tolist())]


_TT64_LINKS = _links(_tt64())


@settings(max_examples=40, deadline=None, derandomize=True)
@given(picks=st.lists(st.tuples(st.integers(0, len(_TT64_LINKS) - 1), st.sampled_from([0.0, 0.25, 0.5, 0.9])),
                      min_size=1, max_size=3),
       size=st.sampled_from([1e5, 1e6, 3.3e6]))
def test_random_degraded_links_equal_the_general_path(picks, size):
    """Random sets of 1-3 directed links, each failed or degraded to a random factor, on tt64."""
    fab = _FAB64
    faults = [f"link:{_TT64_LINKS[i]}" + (f"@{x}" if x else "") for i, x in picks]
    try:
        b = _general(fab, faults, size)
    except RoutingError:  # a chip cut off in one direction: both paths refuse it
        with pytest.raises(RoutingError):
            traffic.uniform_all_to_all(fab.with_faults(faults), size)
        return
    a = _check(fab, faults, size)
    np.testing.assert_allclose(a.time, b.time, rtol=RTOL_TIMES, atol=0)


_FAB64 = _tt64()


@pytest.mark.parametrize("kind", ["degraded optic", "failed tray cable", "failed leaf", "mixed"])
def test_traffic_report_all_to_all_on_a_faulted_fabric_equals_per_pair(fabrics, kind):
    """`scaleup traffic --pattern all_to_all --fail ...` (traffic.report.run_pattern): the class form gives the
    per-flow run's completion quantiles, per-chip throughput and link bytes."""
    from traffic.report import run_pattern

    fab = fabrics["tt64"]
    a = run_pattern(fab.with_faults(FAULTS[kind]), "all_to_all", 1e6)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(structure, "_faulted_base", lambda fab: None)
        b = run_pattern(fab.with_faults(FAULTS[kind]), "all_to_all", 1e6)
    assert a.grouped and not b.grouped and a.flows == b.flows
    np.testing.assert_allclose(a.completion, b.completion, rtol=RTOL_TIMES, atol=0)
    np.testing.assert_allclose(a.makespan, b.makespan, rtol=RTOL_TIMES, atol=0)
    np.testing.assert_allclose(a.chip_throughput, b.chip_throughput, rtol=RTOL_TIMES, atol=0)
    np.testing.assert_allclose(a.link_bytes, b.link_bytes, rtol=1e-12, atol=1e-12 * b.link_bytes.max())
    np.testing.assert_allclose(a.link_peak, b.link_peak, rtol=0, atol=1e-11)


_M192 = topo.load("maia200", chips=192, spines=8)  # 4 leaf groups of 48 chips, 2x2 trays wired 6/7/7 links
_M192_LINKS = _links(_M192)
_M192_SWITCHES = [str(x) for x in _M192.switches]


@settings(max_examples=15, deadline=None, derandomize=True)
@given(picks=st.lists(st.one_of(
    st.tuples(st.just("link"), st.integers(0, len(_M192_LINKS) - 1), st.sampled_from(["", "@0.25", "@0.5"])),
    st.tuples(st.just("switch"), st.integers(0, len(_M192_SWITCHES) - 1), st.sampled_from(["", "@0.5"])),
    st.tuples(st.just("chip"), st.integers(0, 191), st.sampled_from(["@0.3", "@0.5"]))), min_size=1, max_size=3))
def test_random_faults_on_maia200_192_equal_the_general_path(picks):
    """Random failed or degraded links, switches and chips on a 192-chip maia200 (uneven tray wiring, same-group
    pairs switched or direct)."""
    names = {"link": _M192_LINKS, "switch": _M192_SWITCHES}
    faults = [f"{kind}:{names[kind][i] if kind in names else f'c{i}'}{fac}" for kind, i, fac in picks]
    try:
        _general(_M192, faults, 1e6)
    except RoutingError:
        with pytest.raises(RoutingError):
            traffic.uniform_all_to_all(_M192.with_faults(faults), 1e6)
        return
    _check(_M192, faults, 1e6)


def test_chips_faulted_alike_share_a_class(fabrics):
    """A failed leaf takes one link from each of its 48 chips alike: they are one chip class (they were 48
    singletons), and the all-to-all and a collective still equal the general path."""
    fab = fabrics["maia200-small"]
    flt = ["switch:p0.leaf1", "port:c[0-9]-p2.leaf0@0.5"]
    f = fab.with_faults(flt)
    fb = structure._faulted_base(f)
    groups = structure.structure(fab).n_groups
    assert fb.n_cls == groups + 1  # one class a group (group 1's chips all lost their plane-0 link), c0-c9 apart
    a = _check(fab, flt)
    assert a.meta["rows"] < 400
    ops = [collectives.AllReduce("4MiB", g, algorithm="multirail") for g in fab.groups(32)]
    fast = [r.time for r in collectives.run(ops, f)]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(structure, "_faulted_base", lambda fab: None)
        slow = [r.time for r in collectives.run(ops, fab.with_faults(flt))]
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=0)
