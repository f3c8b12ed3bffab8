"""All-port collectives on the published Maia 200 design (issue 16 part 3): the multirail all-reduce
against its closed form (slot by slot, per-class bandwidths read from the fabric) and the symbolic checker;
``auto`` picks it where it is fastest; regressions: the calibrated ``auto`` considers every algorithm on
maia200, and ``run`` with ``auto`` on a faulted fabric resolves groups of other shapes on their own."""

from __future__ import annotations

import numpy as np
import pytest

import collectives as C
import topo
from collectives.algorithms import REGISTRY
from collectives.algorithms.multirail import multirail_all_reduce_time, multirail_slots

S = 2.0**24 + 24.0  # bytes, not a power of two
GIB = 2.0**30
KEY = ("all_reduce", "multirail")


@pytest.fixture(scope="module")
def small():
    return topo.load("maia200-small")


@pytest.fixture(scope="module")
def few_trays():
    """Three Maia 200 trays (2x2 HammingMesh, 6/7/7 links) on 4 planes of 2 links, one tier-0 switch."""
    return topo.two_tier(chips=12, tray_size=4, port_bandwidth="400Gbps", ports=28, tray_links="hammingmesh-2x2",
                         planes=4, ports_per_plane=2, leaf_down=96, leaf_uplinks=32, name="maia-3trays")


def _closed(fab, group, **opts):
    rec = REGISTRY[KEY]
    params = dict(rec.parse_options(opts, len(group)))
    params.update(rec.closed_form_params(fab, np.asarray(group)))
    return rec.closed_form(len(group), S, 0.0, 0.0, **params)


@pytest.mark.parametrize("n,opts", [(8, {}), (12, {"chunks": 3}), (16, {"chunks": 1, "inter": "ring"}),
                                    (32, {"inter": "ring"}), (48, {"chunks": 5}), (4, {}), (-4, {"chunks": 2})])
def test_multirail_time_is_its_closed_form(small, n, opts):
    """Simulated (physics, step mode) = the record's closed form on the published design within one tier-0
    switch (4: one tray, tray stages alone; -4: one chip in each of 4 trays, rail stages alone); the
    symbolic schedule delivers the all-reduce."""
    group = list(range(n)) if n > 0 else list(range(0, -4 * n, 4))
    C.verify(REGISTRY[KEY](group, S, small, symbolic=True, **opts), small.n_nodes)
    r = C.all_reduce(small, S, group, "multirail", mode="steps", ideal=True, stats=False, **opts)
    assert r.time == pytest.approx(_closed(small, group, **opts), rel=1e-9)


def test_multirail_closed_form_on_a_built_tray_fabric(few_trays):
    group = list(range(12))
    for opts in ({}, {"chunks": 4, "inter": "ring"}):
        C.verify(REGISTRY[KEY](group, S, few_trays, symbolic=True, **opts), few_trays.n_nodes)
        r = C.all_reduce(few_trays, S, group, "multirail", mode="steps", ideal=True, stats=False, **opts)
        assert r.time == pytest.approx(_closed(few_trays, group, **opts), rel=1e-9)


def test_multirail_params_are_the_published_links(small):
    """The closed form's per-class figures are the paper's: 6 x 400 GbE to the weakest tray peer, 4 planes
    x 2 links to a chip of another tray (x the preset's 0.98 link efficiency)."""
    p = REGISTRY[KEY].closed_form_params(small, np.arange(8))
    assert p["part_sizes"] == (4,)
    assert p["tray_bandwidth"] == pytest.approx(6 * 50e9 * 0.98)
    assert p["rail_bandwidth"] == pytest.approx(8 * 50e9 * 0.98)


def test_closed_form_between_the_all_ports_bound_and_hier():
    """Independent: with no latency the pipelined time is at least the all-ports bound (each link class
    carries its whole load) and at most the sequential sum (hier, chunks=1), and reaches the bound as
    the chunks grow."""
    n, m1, Bt, Br = 64, 4, 300e9, 400e9
    T = n // m1
    tray = 2 * GIB / (m1 * Bt)
    rail = 2 * (T - 1) / T * GIB / (m1 * Br)
    kw = {"part_sizes": (m1,), "tray_bandwidth": Bt, "rail_bandwidth": Br}
    assert multirail_all_reduce_time(n, GIB, 0, chunks=1, **kw) == pytest.approx(tray + rail, rel=1e-12)
    prev = np.inf
    for c in (2, 8, 64, 1024):
        t = multirail_all_reduce_time(n, GIB, 0, chunks=c, **kw)
        assert max(tray, rail) * (1 - 1e-12) <= t <= tray + rail
        assert t <= prev
        prev = t
    assert prev == pytest.approx(max(tray, rail), rel=0.01)
    # the slot table: every chunk has 2 tray phases and k rail steps
    for T2, inter, k in ((16, "direct", 2), (5, "ring", 8)):
        slots = multirail_slots(T2, 7, inter)
        assert len(slots) == 7 + k + 1
        assert sum(a for a, _ in slots) == 2 * 7 and sum(b for _, b in slots) == k * 7


@pytest.mark.parametrize("coll", ["reduce_scatter", "all_gather"])
@pytest.mark.parametrize("group,opts", [(list(range(8)), {}), (list(range(12)), {"chunks": 3, "inter": "ring"}),
                                        (list(range(48)), {"chunks": 5}), (list(range(4)), {"chunks": 2}),
                                        ([0, 4, 8, 12], {"chunks": 3})])
def test_multirail_pieces_time_is_its_closed_form(small, coll, group, opts):
    """Reduce-scatter and all-gather: simulated (physics, steps) = closed form; the symbolic check passes."""
    rec = REGISTRY[(coll, "multirail")]
    C.verify(rec(group, S, small, symbolic=True, **opts), small.n_nodes)
    r = C.collective(coll, small, S, group, "multirail", mode="steps", ideal=True, stats=False, **opts)
    params = dict(rec.parse_options(opts, len(group)))
    params.update(rec.closed_form_params(small, np.asarray(group)))
    assert r.time == pytest.approx(rec.closed_form(len(group), S, 0.0, 0.0, **params), rel=1e-9)
    if len(group) >= 8 and opts.get("chunks", 8) > 1:  # the overlap beats the sequential hierarchy
        assert r.time < C.collective(coll, small, S, group, "hier", mode="steps", ideal=True, stats=False).time


@pytest.mark.parametrize("coll", ["all_reduce", "reduce_scatter", "all_gather"])
def test_registry_walk_covers_multirail(coll):
    """The registry walk (tests/test_collectives_registry.py) parametrizes over REGISTRY: these records are
    in it, complete, with their fabric parameters."""
    rec = REGISTRY[(coll, "multirail")]
    assert rec.auto_chunks and rec.closed_form_params is not None and rec.exact_on == "switch"
    for part in ("Steps", "Closed form", "Reference"):
        assert part in rec.doc
    assert "multirail" in C.algorithms.algorithms_for(coll)


@pytest.mark.parametrize("n", [32, 384])
def test_auto_picks_multirail_when_fastest(small, n):
    """1 GiB on maia200-small (physics): auto picks the all-port algorithm and is no slower than the best
    sequential hierarchical or ring schedule (what auto chose before)."""
    group = list(range(n))
    r = C.all_reduce(small, GIB, group, ideal=True, stats=False)
    assert r.algorithm == "multirail"
    before = [C.all_reduce(small, GIB, group, a, ideal=True, stats=False).time for a in ("hier", "ring")]
    if n == 384:
        before.append(C.all_reduce(small, GIB, group, "hier_ml", ideal=True, stats=False).time)
    assert r.time <= min(before)


def test_calibrated_auto_considers_every_algorithm_on_maia200():
    """Regression (issue 16): with the calibrated model, auto on a 6,144-rank all-reduce on maia200 must weigh
    the hierarchical and all-port algorithms, not ring alone (the 'assumed' comm preset allows every
    registered algorithm; a ring-only allow-list made auto answer ~25 ms)."""
    fab = topo.load("maia200")
    assert C.comm.algorithm_set(C.comm_of(fab), "all_reduce") is None
    r = C.all_reduce(fab, GIB, stats=False)
    for name in ("hier", "hier_ml", "multirail", "ring"):
        assert name in r.candidates and "not allowed" not in str(r.candidates[name])
    assert r.algorithm != "ring"
    ring_bound = C.all_reduce(fab, GIB, algorithm="ring", stats=False, mode="steps").time
    assert r.time < ring_bound / 2


def test_run_auto_on_a_faulted_fabric_resolves_each_group_shape(small):
    """Regression (issue 16): groups of the surviving chips around a failed chip fill trays unevenly; auto
    chosen on the first (even) group must not be forced on them ("spread unevenly")."""
    fab = small.with_faults(["chip:40"])
    alive = [c for c in range(small.n_chips) if c != 40]
    groups = [alive[16 * i:16 * i + 16] for i in range(len(alive) // 16)]
    res = C.run([C.AllReduce(2**26, g) for g in groups], fab, ideal=True)
    assert res[0].algorithm == res[1].algorithm == "multirail"
    for g, r in zip(groups, res):
        trays = np.bincount(np.asarray(g) // 4)
        even = len(set(trays[trays > 0].tolist())) == 1
        assert even or r.algorithm not in ("hier", "hier_ml", "multirail")
        # the algorithm chosen for the group compiles on it (raises otherwise) and takes time
        REGISTRY[("all_reduce", r.algorithm)](g, 2**26, fab)
        assert r.time > 0
    # a plane fault keeps every group even: one class, one algorithm
    res = C.run([C.AllReduce(2**26, list(range(16 * i, 16 * i + 16))) for i in range(24)],
                small.with_faults(["plane:3"]), ideal=True)
    assert len({r.algorithm for r in res}) == 1


def test_uneven_levels_error_names_every_level_not_only_trays(small):
    """The default 64-chip group of `scaleup collective all-reduce --fabric maia200` fills 16 whole trays but
    splits 48 + 16 over two tier-0 switches, so hier_ml cannot run; the message said 'use a group that fills whole
    trays', which it already does. It now asks for equal parts at every level (trays, then switches)."""
    with pytest.raises(topo.ScheduleError) as e:
        C.all_reduce(small, GIB, group=list(range(64)), algorithm="hier_ml", ideal=True)
    msg = str(e.value)
    assert "[16, 48]" in msg and "every level" in msg and "fills whole trays, or" not in msg
