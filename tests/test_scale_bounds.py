"""collectives.bounds.step_bound memoises a step's size-free parts per fabric (routes, loads per byte, latencies,
solo rates), so a size sweep routes each distinct step once: `scaleup collective all-reduce --group-size 6144` on
maia200 (12 sizes, auto's winner bounded at each) 117 s -> 65 s. The memoised bound equals the bound computed
afresh, at every size and for any pairs (hypothesis-drawn), and a faulted fabric is its own entry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import collectives
import collectives.bounds as bounds
import topo

_FAB = topo.load("maia200-small")


def _fresh(fab, src, dst, size) -> float:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(bounds, "_MEMO_MAX_FLOWS", 0)
        return bounds.step_bound(fab, src, dst, size)


def test_a_second_size_is_not_routed_again():
    src = np.arange(64)
    dst = (src + 48) % 384
    calls = []
    route = type(_FAB).routes

    def spy(self, *a, **k):
        calls.append(1)
        return route(self, *a, **k)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(type(_FAB), "routes", spy)
        a = bounds.step_bound(_FAB, src, dst, 1e6)
        n = len(calls)
        b = bounds.step_bound(_FAB, src, dst, 3e8)
        assert len(calls) == n  # from the memo
    assert a == _fresh(_FAB, src, dst, 1e6)
    assert b == _fresh(_FAB, src, dst, 3e8)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(n=st.integers(1, 300), seed=st.integers(0, 2**16), sizes=st.lists(
    st.sampled_from([0.0, 1.0, 1024.0, 1e6, 3.3e8]), min_size=1, max_size=3))
def test_memoised_bound_equals_the_fresh_one(n, seed, sizes):
    rng = np.random.default_rng(seed)
    src = rng.integers(0, _FAB.n_chips, n)
    dst = rng.integers(0, _FAB.n_chips, n)  # self pairs and repeats included
    for s in sizes:
        assert bounds.step_bound(_FAB, src, dst, s) == _fresh(_FAB, src, dst, s)
    z = np.full(n, sizes[0])
    z[0] += 1.0  # unequal sizes: not memoised, the general form
    assert bounds.step_bound(_FAB, src, dst, z) == _fresh(_FAB, src, dst, z)


def test_a_faulted_fabric_has_its_own_entry():
    src = np.arange(0, 96)
    dst = (src + 200) % 384
    healthy = bounds.step_bound(_FAB, src, dst, 1e8)
    f = _FAB.with_faults(["switch:p0.spine0", "port:c0-p1.leaf0@0.25"])
    assert bounds.step_bound(f, src, dst, 1e8) == _fresh(f, src, dst, 1e8)
    assert bounds.step_bound(_FAB, src, dst, 1e8) == healthy


def test_collective_bounds_over_sizes_equal_the_fresh_ones():
    g = list(range(48))
    memo = [collectives.all_reduce(_FAB, s, g, algorithm="hd", ideal=True).bound for s in (1024, 2**20, 2**26)]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(bounds, "_MEMO_MAX_FLOWS", 0)
        fresh = [collectives.all_reduce(_FAB, s, g, algorithm="hd", ideal=True).bound for s in (1024, 2**20, 2**26)]
    assert memo == fresh
