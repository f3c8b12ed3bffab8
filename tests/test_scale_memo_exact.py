"""The size-free memos of the collective path answer exactly what the full computation answers, bit for bit.

inference simulates its TP all-reduce at every message size with every group of the fabric at once (768 groups of
8 on maia200), auto choosing the algorithm on the first group at each size; what a size shares with the previous
one is now kept: collectives.bounds.endpoint_step_bound's size-free parts (auto's cheap bound of every
candidate), traffic.structure.grouped_problem's structural classes of a step (routes and classes of the 768
groups' flows), auto's bound of its winner (run() no longer compiles and bounds the first group again), auto's
batched compile (run() no longer compiles the 768 groups twice), and the flows of a chunk that every chunk of a
tree or multirail schedule repeats (shared by the chunks' phases). Each must give the number the memo-free path gives, on groups that contend
for links and groups that do not.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import collectives
import collectives.bounds as bounds
import topo
import traffic
import traffic.structure as structure

_FAB = topo.load("maia200-small")  # 384 chips: trays of 4 with direct links, leaves, a spine
_TORUS = topo.load("torus-8x8")  # direct links only, forwarding chips


def _reference_endpoint(fabric, src, dst, size) -> float:
    """endpoint_step_bound as it was before its memo (d641922): per-edge and per-node bincounts."""
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    if len(src) == 0:
        return 0.0
    size = np.broadcast_to(np.asarray(size, dtype=np.float64), src.shape)
    n = fabric.n_nodes
    keys, eids, out_cap, in_cap = bounds._direct_edges(fabric)
    q = src * n + dst
    t = 0.0
    direct = np.zeros(len(src), dtype=bool)
    if len(keys):
        pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        direct = keys[pos] == q
        if direct.any():
            e = eids[pos[direct]]
            load = np.bincount(e, weights=size[direct], minlength=fabric.n_edges)
            u = load > 0
            t = float(np.max(load[u] / fabric.edge_capacity[u]))
    other = ~direct
    if other.any():
        ob = np.bincount(src[other], weights=size[other], minlength=n)
        ib = np.bincount(dst[other], weights=size[other], minlength=n)
        with np.errstate(divide="ignore"):
            t = max(t, float(np.max(ob[ob > 0] / out_cap[ob > 0])), float(np.max(ib[ib > 0] / in_cap[ib > 0])))
    return t + (float(fabric.edge_latency.min()) if fabric.n_edges else 0.0)


def _outcome(f, *args):
    try:
        return f(*args)
    except ValueError as exc:  # every size of a kind zero: both take the max of nothing
        return type(exc).__name__


@settings(max_examples=25, deadline=None, derandomize=True)
@given(torus=st.booleans(), n=st.integers(1, 200), seed=st.integers(0, 2**16),
       near=st.sampled_from([0, 1, 2, 4]),
       sizes=st.lists(st.sampled_from([0.0, 1.0, 1 / 3, 1024.0, 1e6, 3.3e8]), min_size=1, max_size=3))
def test_endpoint_bound_equals_the_per_edge_reference(torus, n, seed, near, sizes):
    fab = _TORUS if torus else _FAB
    rng = np.random.default_rng(seed)
    src = rng.integers(0, fab.n_chips, n)
    # near > 0: mostly a chip's neighbours (direct links on a tray / the torus), else anywhere (repeats, self pairs)
    dst = (src + rng.integers(1, near + 1, n)) % fab.n_chips if near else rng.integers(0, fab.n_chips, n)
    for s in sizes + sizes:  # the second round from the memo
        assert _outcome(bounds.endpoint_step_bound, fab, src, dst, s) == _outcome(_reference_endpoint, fab, src, dst, s)
    z = rng.random(n) * 1e6  # unequal sizes, the same memoised parts
    assert bounds.endpoint_step_bound(fab, src, dst, z) == _reference_endpoint(fab, src, dst, z)


def _tp_pairs(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair inside each group (a direct all-reduce step of all groups at once)."""
    i, j = np.nonzero(~np.eye(groups.shape[1], dtype=bool))
    return groups[:, i].ravel(), groups[:, j].ravel()


@pytest.mark.parametrize("layout", ["tray", "strided"])
def test_grouped_problem_classes_a_step_once_and_answers_as_fresh(layout):
    # tray: 48 groups of 8 chips on their own leaves (no contention); strided: 48 groups of 8 chips one per
    # 48th rank, so every group crosses the spine and the groups contend for it
    groups = np.arange(384).reshape(48, 8) if layout == "tray" else np.arange(384).reshape(8, 48).T.copy()
    src, dst = _tp_pairs(groups)
    sizes = [1e6, 3.3e8 / 7, 1e6]
    builds = []
    orig = structure._build_grouped

    def spy(*a, **k):
        builds.append(1)
        return orig(*a, **k)

    fab = _FAB
    structure._GROUPED.pop(fab, None)  # an empty memo
    with pytest.MonkeyPatch.context() as m:
        m.setattr(structure, "_build_grouped", spy)
        memo = [traffic.simulate_steps(fab, [traffic.Step(src, dst, s)], grouping="structure") for s in sizes]
        assert len(builds) == 1  # routed and classed once, at the first size
        m.setattr(structure, "_GROUPED_MAX_FLOWS", 0)  # the memo off: built afresh at every size
        fresh = [traffic.simulate_steps(fab, [traffic.Step(src, dst, s)], grouping="structure") for s in sizes]
        assert len(builds) == 4
    for a, b in zip(memo, fresh):
        assert a.time == b.time
        np.testing.assert_array_equal(a.link_bytes, b.link_bytes)
        np.testing.assert_array_equal(a.link_busy, b.link_busy)
    assert structure._grouped_structure(fab, src, dst, "ecmp", 0) is structure._grouped_structure(fab, src, dst,
                                                                                                  "ecmp", 0)


def test_unequal_sizes_in_a_class_are_refused_after_a_memo_hit():
    groups = np.arange(384).reshape(48, 8)
    src, dst = _tp_pairs(groups)
    assert structure.grouped_problem(_FAB, src, dst, np.full(len(src), 1e6), "ecmp", 0) is not None
    z = np.full(len(src), 1e6)
    z[0] = 2e6  # one flow of a class larger: no longer class-uniform
    assert structure.grouped_problem(_FAB, src, dst, z, "ecmp", 0) is None


@pytest.mark.parametrize("layout", ["tray", "strided"])
def test_run_equals_the_memo_free_run(layout):
    groups = np.arange(384).reshape(48, 8) if layout == "tray" else np.arange(384).reshape(8, 48).T.copy()
    ops = [collectives.AllReduce(3e7, group=[int(x) for x in g]) for g in groups]
    memo = collectives.run(ops, _FAB)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(structure, "_GROUPED_MAX_FLOWS", 0)
        m.setattr(bounds, "_MEMO_MAX_FLOWS", 0)
        fresh = collectives.run(ops, _FAB)
    assert [r.time for r in memo] == [r.time for r in fresh]
    assert [r.bound for r in memo] == [r.bound for r in fresh]
    assert memo[0].algorithm == fresh[0].algorithm
    # the first op's bound is auto's bound of its winner: the bound of that algorithm compiled alone
    alone = collectives.collective("all_reduce", _FAB, 3e7, ops[0].group, memo[0].algorithm, **memo[0].schedule.params)
    assert memo[0].bound == alone.bound


@pytest.mark.parametrize("algorithm,chunks", [("dbt", 64), ("multirail", 8)])
def test_chunks_share_their_flows(algorithm, chunks):
    g = np.arange(384).reshape(48, 8)
    sch = collectives.algorithms.REGISTRY[("all_reduce", algorithm)](g, 3e7, _FAB, chunks=chunks)
    by_stage: dict = {}
    for p in sch.phases:
        first = by_stage.setdefault((p.chain, p.stage, p.key, len(p.src)), p)
        assert p.src is first.src and p.dst is first.dst  # every chunk: the same flows, built once
        assert p.src.flags.writeable  # (read-only arrays would make numba compile another specialisation)
    assert len(by_stage) < len(sch.phases) / 4
    sym = collectives.algorithms.REGISTRY[("all_reduce", algorithm)](g[0], 3e7, _FAB, symbolic=True, chunks=chunks)
    collectives.verify(sym)  # block labels still per chunk: the replay raises on any fault


def test_memos_are_bounded_and_keep_the_newest():
    memo = bounds._BoundedMemo(max_entries=3, max_bytes=100)
    for k in range(5):
        memo.put(k, str(k), 10)
    assert list(memo.entries) == [2, 3, 4] and memo.nbytes == 30
    memo.put(5, "big", 95)  # over the byte cap with anything else: alone
    assert list(memo.entries) == [5] and memo.nbytes == 95
    memo.put(6, "huge", 500)  # the newest stays even when it alone is over
    assert list(memo.entries) == [6] and memo.get(5) is None
    groups = np.arange(384).reshape(48, 8)
    src, dst = _tp_pairs(groups)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(structure, "_GROUPED_MAX_BYTES", 1)
        structure._GROUPED.pop(_FAB, None)
        a = structure._grouped_structure(_FAB, src, dst, "ecmp", 0)
        b = structure._grouped_structure(_FAB, src[::-1].copy(), dst[::-1].copy(), "ecmp", 0)
        entries, sizes = structure._GROUPED[_FAB]
        assert len(entries) == 1 and next(iter(entries.values())) is b and a is not b



def test_structured_problem_built_once_for_a_step_and_the_same_simulation():
    # auto simulates its candidate on one group's flows at every message size (exact mode): routed once
    g = np.arange(16, 24)
    i, j = np.nonzero(~np.eye(8, dtype=bool))
    src, dst = g[i], g[j]
    builds = []
    orig = structure._structured_problem

    def spy(*a, **k):
        builds.append(1)
        return orig(*a, **k)

    structure._STRUCTURED.pop(_FAB, None)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(structure, "_structured_problem", spy)
        memo = [traffic.simulate_arrays(_FAB, src, dst, np.full(len(src), s)) for s in (1e6, 3.3e8 / 7)]
        assert len(builds) == 1
        m.setattr(structure, "_GROUPED_MAX_FLOWS", 0)
        fresh = [traffic.simulate_arrays(_FAB, src, dst, np.full(len(src), s)) for s in (1e6, 3.3e8 / 7)]
        assert len(builds) == 3
    for a, b in zip(memo, fresh):
        np.testing.assert_array_equal(a.arrival, b.arrival)
        np.testing.assert_array_equal(a.link_bytes, b.link_bytes)


def test_run_reads_many_int_groups_at_once_as_one_by_one():
    from collectives import api

    ops = [collectives.AllReduce(1e6, group=[int(x) for x in g]) for g in np.arange(384).reshape(96, 4)]
    rows = api._int_groups(ops, _FAB.n_chips)
    assert rows is not None and len(rows) == 96
    for op, r in zip(ops, rows):
        np.testing.assert_array_equal(r, api._group(_FAB, op.group))
        assert r.dtype == np.int64
    bad = {"a bool": [True, 5, 6, 7], "a repeat": [4, 5, 5, 7], "out of range": [4, 5, 6, 384],
           "negative": [-1, 5, 6, 7], "numpy ints": list(np.arange(4, 8)), "a shorter group": [4, 5, 6]}
    for why, g in bad.items():
        assert api._int_groups([ops[0], collectives.AllReduce(1e6, group=g)], _FAB.n_chips) is None, why
    with pytest.raises(topo.ScheduleError, match="names a chip more than once"):
        collectives.run([ops[0], collectives.AllReduce(1e6, group=[4, 5, 5, 7])], _FAB)
    with pytest.raises(topo.ScheduleError, match="chip 384 does not exist"):
        collectives.run([ops[0], collectives.AllReduce(1e6, group=[4, 5, 6, 384])], _FAB)
