"""Synthetic traffic patterns over ``n`` chip ranks: (src, dst) int64 arrays (node indices = ranks).

Each function returns ``(src, dst)``; pass a size per flow (bytes, scalar or array) to the engine.
:func:`sizes` draws unequal sizes reproducibly. Self-pairs are never produced (except by a permutation's
fixed points, which are kept: a flow to oneself arrives when ready, as the model says).
"""

from __future__ import annotations

import numpy as np

from topo import ScheduleError

PATTERNS = ("ring", "permutation", "all_to_all", "incast", "tornado", "bit_reversal")


def _n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ScheduleError(f"pattern: number of chips must be an integer >= 2, got {n!r}")
    return int(n)


def ring(n: int, shift: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour shift: rank i sends to (i + shift) mod n."""
    n = _n(n)
    if shift % n == 0:
        raise ScheduleError(f"ring: shift {shift} is a multiple of n={n}; every chip would send to itself")
    src = np.arange(n, dtype=np.int64)
    return src, (src + shift) % n


def permutation(n: int, seed: int = 0, derangement: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Random permutation (seeded): rank i sends to perm[i]; by default without fixed points."""
    n = _n(n)
    rng = np.random.default_rng(seed)
    src = np.arange(n, dtype=np.int64)
    if not derangement:
        return src, rng.permutation(n).astype(np.int64)
    # random derangement: a random cyclic order (every rank sends to the next in a shuffled cycle)
    order = rng.permutation(n).astype(np.int64)
    dst = np.empty(n, dtype=np.int64)
    dst[order] = np.roll(order, -1)
    return src, dst


def all_to_all(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform all-to-all: every ordered pair (s, d), s != d: n (n - 1) flows, grouped by source.

    Returned as int32 arrays (37.7 M pairs at 6,144 chips: half the memory of int64)."""
    n = _n(n)
    s = np.repeat(np.arange(n, dtype=np.int32), n - 1)
    d = np.tile(np.arange(1, n, dtype=np.int32), n)
    d += s
    d[d >= n] -= n
    return s, d


def incast(n: int, k: int | None = None, dst: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k-to-1: ranks dst+1 .. dst+k (mod n) send to ``dst`` (default k = n - 1)."""
    n = _n(n)
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer, float, np.floating))
                          or not float(k).is_integer()):  # int('x'), int(nan) raised; 3.0 is 3
        raise ScheduleError(f"incast: k must be an integer in 1..{n - 1}, got {k!r}")
    k = n - 1 if k is None else int(k)
    if not 1 <= k <= n - 1:
        raise ScheduleError(f"incast: k must be in 1..{n - 1}, got {k}")
    if not 0 <= dst < n:
        raise ScheduleError(f"incast: dst must be a rank 0..{n - 1}, got {dst}")
    src = (dst + 1 + np.arange(k, dtype=np.int64)) % n
    return src, np.full(k, dst, dtype=np.int64)


def tornado(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Tornado: rank i sends to (i + ceil(n/2) - 1) mod n (the classic worst case of rings and tori)."""
    n = _n(n)
    shift = max(1, -(-n // 2) - 1)
    return ring(n, shift)


def bit_reversal(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Bit reversal: rank i sends to the rank with i's bits reversed (n a power of two); fixed points
    (palindromic ranks) are dropped."""
    n = _n(n)
    if n & (n - 1):
        raise ScheduleError(f"bit_reversal: n must be a power of two, got {n}")
    b = n.bit_length() - 1
    src = np.arange(n, dtype=np.int64)
    dst = np.zeros(n, dtype=np.int64)
    for i in range(b):
        dst |= ((src >> i) & 1) << (b - 1 - i)
    keep = src != dst
    return src[keep], dst[keep]


def sizes(m: int, size: float, spread: float = 0.0, seed: int = 0) -> np.ndarray:
    """``m`` flow sizes, bytes: ``size`` each, or uniform in [size (1 - spread), size (1 + spread)]."""
    if not size >= 0:
        raise ScheduleError(f"sizes: size must be >= 0 bytes, got {size!r}")
    if isinstance(spread, bool) or not isinstance(spread, (int, float, np.number)) or not 0 <= spread <= 1:
        raise ScheduleError(f"sizes: spread must be in [0, 1], got {spread!r}")
    if spread == 0:
        return np.full(m, float(size))
    rng = np.random.default_rng(seed)
    return size * rng.uniform(1 - spread, 1 + spread, m)


def make(name: str, n: int, seed: int = 0, **kw) -> tuple[np.ndarray, np.ndarray]:
    """A pattern by name (see :data:`PATTERNS`)."""
    if name == "permutation":
        return permutation(n, seed=seed, **kw)
    fn = {"ring": ring, "all_to_all": all_to_all, "incast": incast, "tornado": tornado,
          "bit_reversal": bit_reversal}.get(name.replace("-", "_"))
    if fn is None:
        raise ScheduleError(f"pattern {name!r}: use one of {', '.join(PATTERNS)}")
    return fn(n, **kw)
