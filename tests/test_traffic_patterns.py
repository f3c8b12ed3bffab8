"""Traffic patterns: shapes and closed-form properties."""

from __future__ import annotations

import numpy as np
import pytest

from topo import ScheduleError
from traffic import patterns


def test_ring_and_tornado():
    s, d = patterns.ring(5)
    assert s.tolist() == [0, 1, 2, 3, 4] and d.tolist() == [1, 2, 3, 4, 0]
    s, d = patterns.ring(5, shift=-1)
    assert d.tolist() == [4, 0, 1, 2, 3]
    s, d = patterns.tornado(8)
    assert d.tolist() == [(i + 3) % 8 for i in range(8)]
    with pytest.raises(ScheduleError):
        patterns.ring(4, shift=4)


def test_permutation_is_seeded_derangement():
    s, d = patterns.permutation(100, seed=1)
    assert sorted(d.tolist()) == list(range(100))
    assert np.all(s != d)
    assert np.array_equal(d, patterns.permutation(100, seed=1)[1])
    assert not np.array_equal(d, patterns.permutation(100, seed=2)[1])
    _, d2 = patterns.permutation(50, seed=0, derangement=False)
    assert sorted(d2.tolist()) == list(range(50))


def test_all_to_all_every_ordered_pair_once():
    n = 7
    s, d = patterns.all_to_all(n)
    assert len(s) == n * (n - 1)
    pairs = set(zip(s.tolist(), d.tolist()))
    assert pairs == {(a, b) for a in range(n) for b in range(n) if a != b}


def test_incast_and_bit_reversal():
    s, d = patterns.incast(8, k=3, dst=6)
    assert s.tolist() == [7, 0, 1] and d.tolist() == [6, 6, 6]
    s, d = patterns.bit_reversal(8)
    rev = {0: 0, 1: 4, 2: 2, 3: 6, 4: 1, 5: 5, 6: 3, 7: 7}
    assert all(rev[a] == b for a, b in zip(s.tolist(), d.tolist()))
    assert set(s.tolist()) == {1, 3, 4, 6}
    with pytest.raises(ScheduleError, match="power of two"):
        patterns.bit_reversal(6)
    with pytest.raises(ScheduleError):
        patterns.incast(4, k=4)


def test_sizes_and_make():
    z = patterns.sizes(1000, 1e6, spread=0.5, seed=3)
    assert z.min() >= 0.5e6 and z.max() <= 1.5e6 and np.array_equal(z, patterns.sizes(1000, 1e6, 0.5, 3))
    assert np.all(patterns.sizes(3, 5.0) == 5.0)
    assert np.array_equal(patterns.make("tornado", 8)[1], patterns.tornado(8)[1])
    with pytest.raises(ScheduleError, match="pattern 'zig'"):
        patterns.make("zig", 8)
