"""The one place where inference talks to :mod:`collectives`.

Every collective of a step (TP all-reduce, EP all-to-all, PP send/recv, ...) is simulated on the fabric
with *all* groups of the deployment running it at once (every DP replica, every pipeline stage), via
``collectives.run``, so contention between groups on shared links shows. Results are memoised per fabric
by (collective, size, group structure): all layers repeat the same collectives, so one estimate simulates
only a handful of distinct ones.
"""

from __future__ import annotations

import hashlib
import weakref

import numpy as np

from topo import Fabric, SpecError

#: collective kind -> name of the op class in :mod:`collectives`
_OPS = {
    "all_reduce": "AllReduce",
    "reduce_scatter": "ReduceScatter",
    "all_gather": "AllGather",
    "all_to_all": "AllToAll",
    "send_recv": "SendRecv",
}

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Groups:
    """An immutable set of disjoint chip groups (rank lists) with a cheap, stable hash key."""

    __slots__ = ("groups", "key")

    def __init__(self, groups: list[list[int]] | np.ndarray) -> None:
        arr = np.asarray(groups, dtype=np.int64)
        if arr.ndim != 2:
            raise SpecError("groups: expected equal-sized rank lists")
        self.groups = arr
        self.key = (arr.shape, hashlib.blake2b(arr.tobytes(), digest_size=16).hexdigest())

    @property
    def size(self) -> int:
        """Chips per group."""
        return int(self.groups.shape[1])

    def __len__(self) -> int:
        return int(self.groups.shape[0])


def collective_time(fabric: Fabric, kind: str, size: float, groups: Groups, ideal: bool = False,
                    **opts: object) -> float:
    """Time (s) for every group of ``groups`` to run collective ``kind`` of ``size`` bytes concurrently.

    ``size`` follows nccl-tests: the per-rank buffer for all-reduce, the whole (gathered) buffer for
    all-gather / reduce-scatter, the bytes each rank sends in total for all-to-all, the message for
    send/recv (groups are then (src, dst) pairs). The slowest group sets the time (the step waits for it).
    A group of one chip, or a size of zero, costs nothing. ``ideal=True`` asks ``collectives.run`` for
    physics only (no calibrated software costs) when it offers that switch (``stack="ideal"``).
    """
    if size <= 0 or groups.size <= 1 or len(groups) == 0:
        return 0.0
    cache = _CACHE.setdefault(fabric, {})
    key = (kind, float(size), groups.key, tuple(sorted(opts.items())), bool(ideal))
    hit = cache.get(key)
    if hit is not None:
        return hit
    t = _simulate(fabric, kind, float(size), groups, ideal=bool(ideal), **opts)
    cache[key] = t
    return t


def _run_accepts_ideal(run: object) -> bool:
    import inspect

    try:
        return "ideal" in inspect.signature(run).parameters
    except (TypeError, ValueError):
        return False


def _simulate(fabric: Fabric, kind: str, size: float, groups: Groups, ideal: bool = False, **opts: object) -> float:
    try:
        import collectives
    except ImportError as exc:  # pragma: no cover - the package exists in the tree
        raise SpecError(f"communication: the collectives package is unavailable ({exc})") from exc
    cls_name = _OPS.get(kind)
    if cls_name is None:
        raise SpecError(f"communication: unknown collective {kind!r}; known: {', '.join(_OPS)}")
    cls = getattr(collectives, cls_name, None)
    run = getattr(collectives, "run", None)
    if cls is None or run is None:
        raise SpecError(
            f"communication: collectives.{cls_name} / collectives.run are not available yet; "
            "use tp=ep=pp=1 or update the tree")
    ops = [cls(size, group=g, **opts) for g in groups.groups.tolist()]  # send_recv: group = [src, dst]
    results = run(ops, fabric, ideal=True) if ideal and _run_accepts_ideal(run) else run(ops, fabric)
    return float(max(r.time for r in results))


def clear_cache(fabric: Fabric | None = None) -> None:
    """Forget memoised collective times (of one fabric, or all)."""
    if fabric is None:
        _CACHE.clear()
    else:
        _CACHE.pop(fabric, None)
