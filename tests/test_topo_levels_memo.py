"""Fabric.levels() is computed once per fabric; a faulted fabric reuses its base's (same chips and attributes)."""

from __future__ import annotations

import pytest

import topo


@pytest.mark.parametrize("faults", [["switch:p0.leaf0"], ["cable:c0-p0.leaf0"], ["chip:c3"], ["plane:1"]])
def test_faulted_levels_equal_a_fresh_computation(faults):
    base = topo.load("maia200-small")
    fresh = topo.load("maia200-small").with_faults(faults).levels()  # base never asked: computed from scratch
    base.levels()  # now the faulted fabric inherits the base's
    shared = base.with_faults(faults).levels()
    assert shared == fresh
    # the levels partition the chips, each level nested in the next
    for level, outer in zip(shared, shared[1:]):
        assert sorted(r for part in level for r in part) == list(range(base.n_chips))
        where = {r: i for i, part in enumerate(outer) for r in part}
        assert all(len({where[r] for r in part}) == 1 for part in level)


def test_levels_returns_a_copy():
    fab = topo.load("maia200-small")
    first = fab.levels()
    first[0][0].append(-1)
    first.pop()
    again = fab.levels()
    assert again != first
    assert again[-1] == [list(range(fab.n_chips))]
    assert -1 not in again[0][0]
