"""Public API: one function per collective, op classes, and :func:`run` for concurrent collectives.

Sizes and bus bandwidth follow nccl-tests (PERFORMANCE.md): ``size`` is the buffer for all-reduce,
broadcast and reduce, the gathered output for all-gather, the input for reduce-scatter, the per-rank send
buffer for all-to-all, the message for send/recv. ``algbw = size / time``; ``busbw = algbw x factor``
with factor 2(n-1)/n for all-reduce, (n-1)/n for all-gather, reduce-scatter and all-to-all, 1 otherwise.
"""

from __future__ import annotations

import copy
import math
import operator
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import traffic
from topo import Fabric, ScheduleError, parse_positive, parse_quantity
from traffic.routing import RouteBudgetError

from . import bounds
from . import comm as _comm
from .algorithms import COLLECTIVES, REGISTRY, Algorithm, algorithms_for
from .algorithms import record as _record
from .schedule import Schedule

#: a message size: bytes, or a string such as ``"256MiB"``
Size = float | str
#: a group: chip ranks or node ids (a sequence or 1-D array); None = every chip
Group = Sequence[Any] | np.ndarray | None

#: schedules with at most this many flows run in exact dependency mode when ``mode="auto"``
EXACT_MAX_FLOWS = 20_000
#: ``algorithm="auto"`` skips candidates whose largest step has more flows than this (reported)
AUTO_MAX_STEP_FLOWS = 1_000_000

#: step-mode grouping passed to ``traffic.simulate_steps``: "structure" solves structural classes of
#: flows as one (exact for uniform traffic; the engine falls back to per-flow rows otherwise)
GROUPING = "structure"
#: ``auto`` also tries the pipelined algorithms (``Algorithm.auto_chunks``) with ``chunks`` in AUTO_CHUNKS
#: (when none is given) ...
AUTO_CHUNKS = (8, 64)
#: ... on groups of at most this many ranks
AUTO_MAX_CHUNKED = 1024
#: ... except the rooted collectives' pipelined tree (broadcast / reduce ``dbt``: log2(m) + chunks slots), which
#: ``auto`` always tries: beyond the cap no other candidate pipelines (the ring is ``serial``), and the unpipelined
#: tree carries the whole message over each of its log2(m) levels (6,144 Maia 200 chips, 1 GiB broadcast:
#: 35.0 ms against 3.8 ms for dbt(chunks=64))
AUTO_CHUNKED_ANY_SIZE = frozenset({("broadcast", "dbt"), ("reduce", "dbt")})
#: ``auto`` skips the algorithms whose m-1 steps all differ (``Algorithm.serial``) beyond this many ranks
AUTO_MAX_SERIAL = 1024
#: {collective: names of its pipelined algorithms}, derived from the registry (read by collectives.calibrate)
_CHUNKABLE = {c: tuple(n for (c2, n), rec in REGISTRY.items() if c2 == c and rec.auto_chunks) for c in COLLECTIVES}

BUSBW_FACTOR = {
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_to_all": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
    "reduce": lambda n: 1.0,
    "send_recv": lambda n: 1.0,
}


@dataclass
class LinkStats:
    """Per-link traffic of one simulation (arrays indexed by fabric edge id).

    Attributes:
        link_bytes: bytes carried by each directed link.
        link_busy: seconds each link carried traffic.
        capacity: bytes/s the engine shared on each link.
        time: the simulated duration, s.
    """

    link_bytes: np.ndarray
    link_busy: np.ndarray
    capacity: np.ndarray
    time: float

    @property
    def utilisation(self) -> np.ndarray:
        """Mean utilisation of each link over the run (0..1)."""
        if self.time <= 0:
            return np.zeros_like(self.link_bytes)
        return self.link_bytes / (self.capacity * self.time)

    @property
    def max_utilisation(self) -> float:
        u = self.utilisation
        return float(u.max()) if len(u) else 0.0

    @property
    def total_bytes(self) -> float:
        return float(self.link_bytes.sum())


@dataclass
class CollectiveResult:
    """Outcome of one collective.

    Attributes:
        collective: e.g. ``"all_reduce"``. algorithm: the algorithm run (the winner for ``auto``).
        size: bytes (nccl-tests convention). n: ranks. time: simulated time, s.
        algbw, busbw: bytes/s (nccl-tests definitions).
        bound: alpha-beta time of the algorithm's steps on this fabric with no other traffic, s.
        schedule: the compiled :class:`Schedule`. link_stats: :class:`LinkStats`.
        mode: ``"exact"`` or ``"steps"``. candidates: for ``auto``, {algorithm: time s or reason skipped}.
        protocol: the communication protocol the calibrated model chose (``"ll"``, ``"ll128"``,
            ``"simple"``, ``"custom"``), None for ``ideal=True`` (the physics alone).
        rung: for ``all_reduce(..., stack=)``, the serving stack's rung that ran (``"trtllm:oneshot"``,
            ``"vllm:symm/inr"``, ``"nccl:ring"``: :func:`collectives.stacks.rung_label`); None otherwise.
    """

    collective: str
    algorithm: str
    size: float
    n: int
    time: float
    bound: float
    schedule: Schedule | None
    link_stats: LinkStats | None
    mode: str
    candidates: dict[str, Any] = field(default_factory=dict)
    protocol: str | None = None
    rung: str | None = None

    @property
    def algbw(self) -> float:
        return self.size / self.time if self.time > 0 else float("inf")

    @property
    def busbw(self) -> float:
        return self.algbw * BUSBW_FACTOR[self.collective](self.n)

    @property
    def efficiency(self) -> float:
        """bound / time (1 = the algorithm runs at its alpha-beta time)."""
        return self.bound / self.time if self.time > 0 else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"collective": self.collective, "algorithm": self.algorithm, "size": self.size, "n": self.n,
                "time": self.time, "algbw": self.algbw, "busbw": self.busbw, "bound": self.bound,
                "efficiency": self.efficiency, "mode": self.mode, "protocol": self.protocol}

    def to_frame(self):
        """One-row ``pandas.DataFrame`` of :meth:`to_dict` (SI units: bytes, s, bytes/s); concatenate the
        frames of many results for a table (``pd.concat([r.to_frame() for r in rs])``)."""
        import pandas as pd

        return pd.DataFrame([self.to_dict()])

    def __repr__(self) -> str:
        """One line: what ran and how fast, without the schedule and link arrays (``r.schedule`` has them)."""
        from topo.units import format_bytes

        proto = f", protocol={self.protocol}" if self.protocol else ""
        return (f"CollectiveResult({self.collective} {self.algorithm}, {format_bytes(self.size)} x {self.n} ranks: "
                f"time={self.time * 1e6:.3g} us, busbw={self.busbw / 1e9:.4g} GB/s, "
                f"bound={self.bound * 1e6:.3g} us, mode={self.mode}{proto})")


# ---------------------------------------------------------------------- validation
def default_group(fab: Fabric, k: int | None = None) -> list[int]:
    """The group of ``k`` ranks (default every chip) a collective runs on when none is given: the first of
    ``fab.groups(k)`` ("tray" placement), ranks ``0..k-1`` when ``k`` does not divide the chips. It is the
    group of ``scaleup collective --group-size k`` (:func:`collectives.benchmark`) and of a sweep's
    collective job, so the same call gives the same figures from Python, the CLI and a sweep: rank order
    off tori, a cycle through the chips on a torus (a snake whose ring steps one hop, as a topology-aware
    runtime orders it; rank order would close the x-lines' rings over multi-hop wrap steps)."""
    n = fab.n_chips
    k = n if k is None else int(k)
    return fab.groups(k)[0] if n % k == 0 else list(range(k))


def _group(fab: Fabric, group, k: int | None = None) -> np.ndarray:
    """``group`` as an int64 array of chip indices; None: :func:`default_group` of ``k`` ranks (every chip)."""
    if group is None:
        return np.asarray(default_group(fab, k), dtype=np.int64)
    if isinstance(group, (str, bytes)) or not hasattr(group, "__iter__"):
        raise ScheduleError(f"group: expected a list of chips (ranks or node ids), got {group!r}")
    items = list(group)
    if not items:
        raise ScheduleError("group: is empty; name at least one chip")
    fast = _int_group(items, fab.n_chips)
    if fast is not None:
        return fast
    idx = []
    for x in items:
        if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
            if not 0 <= int(x) < fab.n_chips:
                raise ScheduleError(
                    f"group: chip {int(x)} does not exist in {fab.name!r}; ranks are 0..{fab.n_chips - 1}")
            idx.append(int(x))
            continue
        if isinstance(x, (list, tuple, np.ndarray)):
            raise ScheduleError("group: expected one flat list of chips; for several groups at once use "
                                "collectives.run([op(size, group=g) for g in groups], fabric)")
        i = fab.node_index.get(x)
        if i is None or i >= fab.n_chips:
            raise ScheduleError(
                f"group: {x!r} is not a chip of {fab.name!r}; use ranks 0..{fab.n_chips - 1} or chip ids "
                f"such as {fab.chips[0]!r}")
        idx.append(i)
    arr = np.asarray(idx, dtype=np.int64)
    if len(np.unique(arr)) != len(arr):
        raise ScheduleError("group: names a chip more than once")
    return arr


def _int_group(items: list, n_chips: int) -> np.ndarray | None:
    """:func:`_group`'s answer without the per-item loop when ``items`` are all Python ints (not bools) naming
    distinct chips ``0..n_chips-1`` (the rank lists ``collectives.run`` gets from inference: 768 groups per call
    on 6,144 chips); None otherwise (the loop then names the first bad item as before)."""
    if not all(type(x) is int for x in items) or min(items) < 0 or max(items) >= n_chips:
        return None
    if len(set(items)) != len(items):
        return None
    return np.asarray(items, dtype=np.int64)


def _int_groups(ops: Sequence[Op], n_chips: int) -> list[np.ndarray] | None:
    """Every op's :func:`_group` at once when every group is a list of Python ints (not bools), all of one length,
    naming distinct chips ``0..n_chips-1`` in each group (inference's 768-3,072 TP groups per :func:`run`): the rows
    of one int64 array, checked in bulk; None otherwise (each op's group is then read one by one, as before, so a
    bad one gets its own message)."""
    import itertools

    gs = [op.group for op in ops]
    if len(gs) < 2 or not all(type(g) is list for g in gs):
        return None
    k = len(gs[0])
    if k == 0 or not all(len(g) == k for g in gs):
        return None
    if set(map(type, itertools.chain.from_iterable(gs))) != {int}:
        return None
    try:
        arr = np.array(gs, dtype=np.int64)
    except OverflowError:
        return None
    if int(arr.min()) < 0 or int(arr.max()) >= n_chips:
        return None
    if k > 1:
        srt = np.sort(arr, axis=1)
        if bool((srt[:, 1:] == srt[:, :-1]).any()):
            return None
    return list(arr)


def size_bytes(size: float | str) -> float:
    """A message size in bytes from a number or a string with a unit ('64MiB').

    Raises:
        ScheduleError: not a size, or not > 0 bytes."""
    try:
        v = parse_positive(size, "size", "size") if isinstance(size, str) else float(size)
    except (TypeError, ValueError):
        raise ScheduleError(f"size: expected bytes (a number or e.g. '64MiB'), got {size!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ScheduleError(f"size: must be > 0 bytes, got {size!r}")
    return float(v)


def _lookup(collective: str, algorithm: str) -> Algorithm:
    """The registry record (raises a ScheduleError listing the valid names)."""
    return _record(collective, algorithm)


def _accepted(rec: Algorithm, opts: dict) -> dict:
    """The options of ``opts`` that algorithm ``rec`` takes (``auto`` and lists pass each only its own)."""
    names = rec.option_names
    return {k: v for k, v in opts.items() if k in names}


# ---------------------------------------------------------------------- simulation
_RUN_KEYS = ("mode", "overhead", "reduce_bandwidth", "routing", "seed", "stats", "grouping", "ideal")


def _split_opts(opts: dict) -> tuple[dict, dict]:
    run = {k: opts.pop(k) for k in list(opts) if k in _RUN_KEYS}
    return opts, run


def _overhead(value: Any) -> float:
    """Software overhead per message, s: a number or a time with its unit ('2us'); >= 0 and finite."""
    try:
        v = parse_quantity(value, "time", "overhead") if isinstance(value, str) else float(value or 0.0)
    except (TypeError, ValueError):  # a list or a word: float() raised
        raise ScheduleError(f"overhead: expected seconds per message (a number or e.g. '2us'), got {value!r}") from None
    if not (math.isfinite(v) and v >= 0):
        raise ScheduleError(f"overhead: must be >= 0 s per message, got {value!r}")
    return v


def _seed(value: Any) -> int:
    """A random seed: an integer >= 0 (int('hash') and int(inf) raised ValueError/OverflowError); a whole float
    (YAML ``seed: 3.0``) is that integer, as ``int()`` read it before."""
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        value = int(value)
    try:
        v = operator.index(value)
    except TypeError:
        raise ScheduleError(f"seed: expected an integer >= 0, got {value!r}") from None
    if v < 0:
        raise ScheduleError(f"seed: expected an integer >= 0, got {value!r}")
    return int(v)


def _reduce_bw(fab: Fabric, rb) -> float | None:
    if rb in (None, False, 0):
        return None
    if rb is True or rb == "chip":
        c = fab.chip
        if not c.hbm_bandwidth > 0:
            raise ScheduleError(f"reduce_bandwidth='chip': chip {c.name!r} has no hbm_bandwidth; give bytes/s")
        # a reduction reads two operands and writes one: 3 bytes of memory traffic per byte reduced
        return c.hbm_bandwidth * c.memory_efficiency / 3.0
    try:
        v = parse_positive(rb, "bandwidth", "reduce_bandwidth") if isinstance(rb, str) else float(rb)
    except (TypeError, ValueError):  # a list or a map: float() raised
        raise ScheduleError(f"reduce_bandwidth: expected bytes/s (a number or e.g. '200GB/s'), 'chip' or None, "
                            f"got {rb!r}") from None
    if not v > 0:
        raise ScheduleError(f"reduce_bandwidth: must be > 0 bytes/s, 'chip' or None, got {rb!r}")
    return v


def _step_extras(steps, overhead: float, rbw: float | None) -> np.ndarray:
    """Per-step software overhead (x the most messages one rank sends) plus reduction compute, s."""
    out = np.zeros(len(steps))
    if not overhead and not rbw:
        return out
    for k, (src, _dst, _size, _key, comp) in enumerate(steps):
        if overhead and len(src):
            out[k] += overhead * np.bincount(src).max()
        if rbw:
            out[k] += comp / rbw
    return out


def _max_step_flows(s: Schedule) -> int:
    return max((len(src) for src, *_ in s.steps()), default=0)


def _choose_mode(schedules: Sequence[Schedule], mode: str, overhead: float, rbw) -> str:
    if mode not in ("auto", "exact", "steps"):
        raise ScheduleError(f"mode: must be 'auto', 'exact' or 'steps', got {mode!r}")
    extras = bool(overhead) or bool(rbw)
    if mode == "exact" and extras:
        raise ScheduleError("mode='exact' does not model overhead or reduce_bandwidth (per-step costs); use 'steps'")
    if mode != "auto":
        return mode
    if extras:
        return "steps"
    return "exact" if sum(s.n_flows for s in schedules) <= EXACT_MAX_FLOWS else "steps"


def _inflated(schedules: Sequence[Schedule], costs) -> list[list]:
    """Each schedule's bulk-synchronous steps with flow bytes divided by its protocol's bandwidth fraction
    (arrays shared between equal-key steps stay shared)."""
    out = []
    for s, c in zip(schedules, costs):
        f = c.inflation
        if f == 1.0:  # Simple at efficiency 1: the very same arrays (no copies of large steps)
            out.append(s.steps())
            continue
        seen: dict[int, Any] = {}
        steps = []
        for src, dst, size, key, comp in s.steps():
            z = seen.get(id(size))
            if z is None:
                z = size * f if isinstance(size, np.ndarray) else float(size) * f
                seen[id(size)] = z
            steps.append((src, dst, z, key, comp))
        out.append(steps)
    return out


def _p2p_ops(schedule: Schedule, cost) -> list[int] | None:
    """The operations of each step of a point-to-point schedule paced by NCCL's channels
    (:func:`collectives.comm.step_ops`), None for every other cost (no channel pace)."""
    if cost is None or not np.isfinite(cost.channel_rate):
        return None
    return _comm.step_ops(schedule)


def _simulate_comm(fab: Fabric, schedules: Sequence[Schedule], mode: str, routing: str, seed: int,
                   overhead: float, rbw: float | None, stats: bool, costs) -> tuple:
    """The calibrated run: as :func:`_simulate`, each schedule's flows inflated by its protocol's bandwidth
    fraction, each step later by its protocol's step latency, each call longer by its fixed cost."""
    if mode == "exact":
        parts = [s.flow_arrays() for s in schedules]
        off = 0
        src, dst, size, ptrs, idxs, owner = [], [], [], [np.zeros(1, dtype=np.int64)], [], []
        dep_off = 0
        for i, ((a, b, z, ptr, idx), c) in enumerate(zip(parts, costs)):
            src.append(a)
            dst.append(b)
            size.append(np.asarray(z, dtype=np.float64) * c.inflation if c.inflation != 1.0 else z)
            ptrs.append(ptr[1:] + dep_off)
            idxs.append(idx + off)
            owner.append(np.full(len(a), i))
            off += len(a)
            dep_off += int(ptr[-1])
        fixed = [c.fixed(s.size, s.n, len(s.steps())) for s, c in zip(schedules, costs)]
        if off == 0:
            z = np.zeros(fab.n_edges)
            return fixed, max(fixed, default=0.0), LinkStats(z, z.copy(), fab.edge_capacity, max(fixed, default=0.0))
        res = traffic.simulate_arrays(fab, np.concatenate(src), np.concatenate(dst), np.concatenate(size),
                                      dep_ptr=np.concatenate(ptrs), dep_idx=np.concatenate(idxs),
                                      routing=routing, seed=seed)
        own = np.concatenate(owner)
        times = [c.data_time(float(res.arrival[own == i].max()) if np.any(own == i) else 0.0, s.size, s.n,
                             len(s.steps()), _p2p_ops(s, c)) + fixed[i]
                 for i, (s, c) in enumerate(zip(schedules, costs))]
        total = max(times)
        return times, total, LinkStats(res.link_bytes, res.link_busy, res.capacity, total)
    once = [c.once(s.size, s.n) for s, c in zip(schedules, costs)]
    if len(schedules) == 1 and _uniform_a2a(schedules[0], fab) and routing == "ecmp":
        s0, c0 = schedules[0], costs[0]
        res = traffic.uniform_all_to_all(fab, s0.size / s0.n * c0.inflation, routing=routing, seed=seed,
                                         stats=stats)
        total = (c0.data_time(float(res.time), s0.size, s0.n, len(s0.steps()), _p2p_ops(s0, c0))
                 + float(_step_extras(s0.steps(), overhead, rbw).sum())
                 + len(s0.steps()) * c0.step + once[0])
        return [total], total, LinkStats(res.link_bytes, res.link_busy, res.capacity, total)
    per = _inflated(schedules, costs)
    n_steps = max((len(p) for p in per), default=0)
    steps, flat, lat, merged = [], [], np.zeros(n_steps), {}
    for k in range(n_steps):
        items = [p[k] for p in per if k < len(p)]
        lat[k] = max(c.step for p, c in zip(per, costs) if k < len(p))
        src, dst, size, key, comp = _merge_step_items(items, merged)
        flat.append((src, dst, size, key, comp))
        steps.append(traffic.Step(src, dst, size, key=key))
    if not steps:
        z = np.zeros(fab.n_edges)
        return once, max(once, default=0.0), LinkStats(z, z.copy(), fab.edge_capacity, max(once, default=0.0))
    res = traffic.simulate_steps(fab, steps, routing=routing, seed=seed, stats=stats, grouping=GROUPING)
    st = np.asarray(res.step_times, dtype=np.float64)
    if any(np.isfinite(c.channel_rate) for c in costs):  # NCCL's point-to-point: each step paced by channels
        floor, fill = np.zeros(n_steps), np.zeros(n_steps)
        for p, c, s in zip(per, costs, schedules):
            f, g = c.pace(s.size, s.n)
            ops = _p2p_ops(s, c)
            if ops is not None:  # each step paced by the operations it holds (a pairwise step: one peer)
                f = np.array([c.pace(s.size, s.n, o)[0] for o in ops])
            floor[:len(p)] = np.maximum(floor[:len(p)], f)
            fill[:len(p)] = np.maximum(fill[:len(p)], g)
        st = np.maximum(st, floor) + fill
    st = st + _step_extras(flat, overhead, rbw) + lat
    cum = np.concatenate([[0.0], np.cumsum(st)])
    times = [float(cum[len(p)]) + o for p, o in zip(per, once)]
    total = max(times)
    return times, total, LinkStats(res.link_bytes, res.link_busy, res.capacity, total)


def _merge_step_items(items: list[tuple], merged: dict) -> tuple:
    """One bulk-synchronous step of several concurrent schedules as one flow set.

    ``items`` are the schedules' ``(src, dst, size, key, compute_s)`` at this step. The flows are
    concatenated; the step's template key is the tuple of the members' keys (None when any is None, so the
    engine does not memoise it), and ``merged`` caches the concatenation per key so a repeated step is
    built once. The step's compute time is the slowest member's.
    """
    if len(items) == 1:
        return items[0]
    keys = tuple(it[3] for it in items)
    key = None if any(x is None for x in keys) else ("run", keys)
    hit = merged.get(key) if key is not None else None
    if hit is None:
        src = np.concatenate([it[0] for it in items])
        dst = np.concatenate([it[1] for it in items])
        size = np.concatenate([np.broadcast_to(np.asarray(it[2], dtype=np.float64), it[0].shape) for it in items])
        if key is not None:
            merged[key] = (src, dst, size)
    else:
        src, dst, size = hit
    return src, dst, size, key, max(it[4] for it in items)


def _simulate(fab: Fabric, schedules: Sequence[Schedule], mode: str, routing: str, seed: int,
              overhead: float, rbw: float | None, stats: bool = True, costs=None):
    """Run schedules concurrently; returns (per-schedule times, total time, LinkStats).

    ``costs``: one :class:`collectives.comm.Cost` per schedule (the calibrated model), or None (physics)."""
    if costs is not None:
        return _simulate_comm(fab, schedules, mode, routing, seed, overhead, rbw, stats, costs)
    if mode == "exact":
        parts = [s.flow_arrays() for s in schedules]
        off = 0
        src, dst, size, ptrs, idxs, owner = [], [], [], [np.zeros(1, dtype=np.int64)], [], []
        dep_off = 0
        for i, (a, b, z, ptr, idx) in enumerate(parts):
            src.append(a)
            dst.append(b)
            size.append(z)
            ptrs.append(ptr[1:] + dep_off)
            idxs.append(idx + off)
            owner.append(np.full(len(a), i))
            off += len(a)
            dep_off += int(ptr[-1])
        if off == 0:
            z = np.zeros(fab.n_edges)
            return [0.0] * len(schedules), 0.0, LinkStats(z, z.copy(), fab.edge_capacity, 0.0)
        res = traffic.simulate_arrays(fab, np.concatenate(src), np.concatenate(dst), np.concatenate(size),
                                      dep_ptr=np.concatenate(ptrs), dep_idx=np.concatenate(idxs),
                                      routing=routing, seed=seed)
        own = np.concatenate(owner)
        times = [float(res.arrival[own == i].max()) if np.any(own == i) else 0.0 for i in range(len(schedules))]
        ls = LinkStats(res.link_bytes, res.link_busy, res.capacity, float(res.makespan))
        return times, float(res.makespan), ls
    # step mode: the k-th steps of every schedule run together
    if len(schedules) == 1 and _uniform_a2a(schedules[0], fab) and routing == "ecmp":
        # every chip to every chip, equal sizes: the engine's counting form (no 37.7 M per-pair arrays)
        s0 = schedules[0]
        res = traffic.uniform_all_to_all(fab, s0.size / s0.n, routing=routing, seed=seed, stats=stats)
        total = float(res.time) + float(_step_extras(s0.steps(), overhead, rbw).sum())
        return [total], total, LinkStats(res.link_bytes, res.link_busy, res.capacity, total)
    per = [s.steps() for s in schedules]
    n_steps = max((len(p) for p in per), default=0)
    if len(per) == 1:
        flat = per[0]
        steps = [traffic.Step(a, b, z, key=k) for a, b, z, k, _ in flat]
        if not steps:
            z = np.zeros(fab.n_edges)
            return [0.0], 0.0, LinkStats(z, z.copy(), fab.edge_capacity, 0.0)
        res = traffic.simulate_steps(fab, steps, routing=routing, seed=seed, stats=stats, grouping=GROUPING)
        st = np.asarray(res.step_times, dtype=np.float64) + _step_extras(flat, overhead, rbw)
        total = float(st.sum())
        return [total], total, LinkStats(res.link_bytes, res.link_busy, res.capacity, total)
    steps = []
    merged: dict = {}
    flat = []
    for k in range(n_steps):
        items = [p[k] for p in per if k < len(p)]
        src, dst, size, key, comp = _merge_step_items(items, merged)
        flat.append((src, dst, size, key, comp))
        steps.append(traffic.Step(src, dst, size, key=key))
    if not steps:
        z = np.zeros(fab.n_edges)
        return [0.0] * len(schedules), 0.0, LinkStats(z, z.copy(), fab.edge_capacity, 0.0)
    res = traffic.simulate_steps(fab, steps, routing=routing, seed=seed, stats=stats, grouping=GROUPING)
    st = np.asarray(res.step_times, dtype=np.float64) + _step_extras(flat, overhead, rbw)
    cum = np.concatenate([[0.0], np.cumsum(st)])
    times = [float(cum[len(p)]) for p in per]
    total = float(cum[-1])
    return times, total, LinkStats(res.link_bytes, res.link_busy, res.capacity, total)


_RED_VIEWS: weakref.WeakKeyDictionary[Fabric, Fabric] = weakref.WeakKeyDictionary()


def _reduction_caps(fab: Fabric) -> np.ndarray | None:
    """Per-edge reduction rate (bytes/s) of the upward edges (from a chip, or from a lower switch tier) into
    switches whose node attribute ``reduction_bandwidth`` is set (in-network reduction throughput per
    attached edge), inf elsewhere; None if no switch sets it. Downward edges (the multicast) are not capped."""
    nd = fab.node_data
    rate = np.full(fab.n_nodes, np.inf)
    tier = np.full(fab.n_nodes, -1.0)  # chips below every switch tier
    found = False
    for i in range(fab.n_chips, fab.n_nodes):
        a = nd[fab.nodes[i]]
        tier[i] = float(a.get("tier", 1))
        r = a.get("reduction_bandwidth")
        if r is not None:
            rate[i] = float(r)
            found = True
    if not found:
        return None
    up = tier[fab.edge_src] < tier[fab.edge_dst]
    return np.where(up, rate[fab.edge_dst], np.inf)


def _fab_for(fab: Fabric, schedules: Sequence[Schedule]) -> Fabric:
    """The fabric an in-network reduction runs on: edges into a reducing switch carry at most the switch's
    ``reduction_bandwidth`` (the reduction engine's rate per attached edge; SwitchSpec.reduction_bandwidth).

    Modelled as the capacity of the child -> switch edges, which in an ``inr`` schedule carry only the
    reduction's operands; other collectives run concurrently with it in :func:`run` see the same cap on
    those edges (a documented approximation). Fabrics without the attribute are returned unchanged.
    """
    if not any(REGISTRY[(s.collective, s.algorithm)].in_network for s in schedules):
        return fab
    view = _RED_VIEWS.get(fab)
    if view is None:
        caps = _reduction_caps(fab)
        if caps is None:
            view = fab
        else:
            view = copy.copy(fab)  # shares the graph, routers and cached arrays; only capacities differ
            view.edge_capacity = np.minimum(fab.edge_capacity, caps)
            view.edge_efficiency = view.edge_capacity / fab.edge_bandwidth
        _RED_VIEWS[fab] = view
    return view


def _uniform_a2a(s: Schedule, fab: Fabric) -> bool:
    """A uniform exchange (``Algorithm.uniform_exchange``: the direct all-to-all) over every chip of the fabric, in any
    order (every ordered pair of chips carries size/n whatever the group's order: the default group on a torus is a
    cycle, not rank order)."""
    return (REGISTRY[(s.collective, s.algorithm)].uniform_exchange and s.rows is None
            and s.n == fab.n_chips and s.n > 1 and _every_chip(s.group, fab.n_chips))


def _every_chip(group: np.ndarray, n: int) -> bool:
    """Whether ``group`` (distinct chip indices) is every chip of a fabric of ``n``, in any order."""
    g = np.asarray(group)
    return len(g) == n and bool(np.all(np.sort(g) == np.arange(n)))


def _bound(s: Schedule, fab: Fabric, overhead: float, rbw, cheap: bool = False) -> float:
    steps = s.steps()
    if _uniform_a2a(s, fab) and len(s.group) > 4096:
        # one step of n(n-1) flows: its alpha-beta bound is the engine's solve of it alone
        res = traffic.uniform_all_to_all(fab, s.size / s.n, stats=False)
        return float(res.time) + float(_step_extras(steps, overhead, rbw).sum())
    base = bounds.schedule_bound(s, fab, cheap=cheap)
    return base + float(_step_extras(steps, overhead, rbw).sum())


def _check_auto_opts(collective: str, opts: dict, m: int) -> None:
    """``auto`` passes each algorithm only the options it takes; check them once here instead (one line):
    every option must belong to some algorithm of the collective; integer options (chunks, root) are
    checked as their records declare (string choices are left to each candidate)."""
    known = {o.name: o for name in algorithms_for(collective) for o in REGISTRY[(collective, name)].options}
    for k in opts:
        if k not in known:
            raise ScheduleError(f"{k}: not an option of any {collective} algorithm; valid: "
                                f"{', '.join(sorted(set(known) | set(_RUN_KEYS)))}")
    for k, v in opts.items():
        if known[k].type is int:
            known[k].parse(v, m)
        choices = {c for name in algorithms_for(collective) for o in REGISTRY[(collective, name)].options
                   if o.name == k for c in o.choices}
        if choices and v not in choices:  # a value no candidate takes: every one would be skipped and the
            # typo ignored (inter='fo' ran bidir as if it were not given)
            raise ScheduleError(f"{k}: unknown {v!r} for any {collective} algorithm; valid: "
                                f"{', '.join(sorted(choices))}")


def _compile(collective: str, algorithm: str, G: np.ndarray, size: float, fab: Fabric, opts: dict) -> Schedule:
    return _lookup(collective, algorithm)(G, size, fab, **dict(opts))


def _as_fabric(fab: Fabric | str) -> Fabric:
    """``fab`` itself, or the bundled preset / YAML path it names (``"maia200"``, as ``--fabric``)."""
    if isinstance(fab, str):
        from topo import load

        return load(fab)
    if not isinstance(fab, Fabric):
        raise ScheduleError(f"fabric: expected a topo.Fabric or a preset name / YAML path, got {type(fab).__name__}")
    return fab


def canonical_collective(name: Any) -> Any:
    """``name`` as :data:`COLLECTIVES` spells it when it is the CLI's spelling (``all-reduce``, ``sendrecv``: the
    subcommand names, as nccl-tests' binaries), else unchanged (an unknown name stays unknown)."""
    if isinstance(name, str) and name not in COLLECTIVES:
        alias = "send_recv" if name == "sendrecv" else name.replace("-", "_")
        if alias in COLLECTIVES:
            return alias
    return name


def collective(collective: str, fab: Fabric | str, size: Size, group: Group = None, algorithm: str = "auto",
               **opts: Any) -> CollectiveResult:
    """Simulate one collective (``collective``: a name of :data:`COLLECTIVES`, or the CLI's ``all-reduce``); see
    :func:`all_reduce` for the other arguments."""
    collective = canonical_collective(collective)
    if collective not in COLLECTIVES:
        raise ScheduleError(f"collective: unknown {collective!r}; valid: {', '.join(COLLECTIVES)}")
    fab = _as_fabric(fab)
    S = size_bytes(size)
    G = _group(fab, group, 2 if collective == "send_recv" else None)
    opts, run = _split_opts(dict(opts))
    mode = run.get("mode", "auto")
    overhead = _overhead(run.get("overhead", 0.0))
    rbw = _reduce_bw(fab, run.get("reduce_bandwidth"))
    routing = run.get("routing", "ecmp")
    seed = _seed(run.get("seed", 0))
    stats = bool(run.get("stats", True))
    comm = _comm.resolve(fab, bool(run.get("ideal", False)))
    fabc = _comm.view(fab, comm)  # the fabric itself for the physics
    candidates: dict[str, Any] = {}

    def cand(b: float, label: str, sch: Schedule) -> tuple:
        # (what branch and bound orders by, label, schedule, software cost): the alpha-beta bound for the
        # physics; the tuner's estimate (bound stretched by the protocol, plus fixed costs) when calibrated
        if comm is None:
            return (b, label, sch, None)
        c = _comm.choose(comm, collective, sch.algorithm, S, sch.n, len(sch.steps()), b)
        return (c.estimate(S, sch.n, len(sch.steps()), b, _p2p_ops(sch, c)), label, sch, c)

    if algorithm == "auto":
        _check_auto_opts(collective, opts, len(G))
        # branch and bound: every candidate's alpha-beta bound first (cheap: one routing per distinct
        # step), then simulate in increasing bound order until the next bound exceeds the best time.
        cands = []
        refused: RouteBudgetError | None = None  # the last candidate skipped for the route budget
        m = len(G)
        allowed = _comm.algorithm_set(comm, collective)
        names = [a for a in algorithms_for(collective) if allowed is None or a in allowed]
        for name in names or algorithms_for(collective):
            fn = REGISTRY[(collective, name)]
            why = _comm.applies(comm, collective, name, m, S) if comm is not None else None
            if why is not None:
                candidates[name] = f"n/a: {why}"
                continue
            whole_a2a = fn.uniform_exchange and _every_chip(G, fab.n_chips)
            n_flows = fn.max_step_flows(m) if fn.max_step_flows is not None else 0
            if n_flows > AUTO_MAX_STEP_FLOWS and not whole_a2a:
                candidates[name] = f"skipped: {n_flows} flows in one step (> {AUTO_MAX_STEP_FLOWS}); ask for it by name"
                continue
            if fn.serial and m > AUTO_MAX_SERIAL:
                candidates[name] = f"skipped: {m - 1} distinct steps to solve (> {AUTO_MAX_SERIAL}); ask for it by name"
                continue
            variants = [(name, _accepted(fn, opts))]
            if fn.auto_chunks and "chunks" not in opts and (m <= AUTO_MAX_CHUNKED or
                                                            (collective, name) in AUTO_CHUNKED_ANY_SIZE):
                variants += [(f"{name}(chunks={k})", {**_accepted(fn, opts), "chunks": k}) for k in AUTO_CHUNKS]
            for label, vopts in variants:
                try:
                    sch = fn(G, S, fab, **vopts)
                except ScheduleError as exc:
                    candidates[label] = f"n/a: {exc}"
                    continue
                mf = _max_step_flows(sch)
                if whole_a2a:
                    try:
                        b = _bound(sch, _fab_for(fabc, [sch]), overhead, rbw)
                    except RouteBudgetError as exc:  # routing its one step would exhaust memory: the others may fit
                        candidates[label], refused = f"skipped: {exc.brief()}", exc
                        continue
                    cands.append(cand(b, label, sch))
                    continue
                if mf > AUTO_MAX_STEP_FLOWS:
                    candidates[label] = f"skipped: a step of {mf} flows (> {AUTO_MAX_STEP_FLOWS}); ask for it by name"
                    continue
                cands.append(cand(_bound(sch, _fab_for(fabc, [sch]), overhead, rbw, cheap=True), label, sch))
        if not cands:
            why = sorted({str(v).removeprefix("n/a: ") for v in candidates.values()})
            if len(why) == 1:
                raise ScheduleError(why[0])
            raise ScheduleError(f"auto: no algorithm applies to {collective} on this group of {len(G)}: "
                                + "; ".join(f"{k}: {v}" for k, v in candidates.items()))
        cands.sort(key=lambda t: t[0])
        best = None
        for b, name, sch, cost in cands:
            if best is not None and b >= best[0]:
                candidates[name] = f"pruned: bound {b:.6g} s >= best {best[0]:.6g} s"
                continue
            md = _choose_mode([sch], mode, overhead, rbw)
            try:
                times, total, ls = _simulate(_fab_for(fabc, [sch]), [sch], md, routing, seed, overhead, rbw,
                                             stats=stats, costs=None if cost is None else [cost])
            except RouteBudgetError as exc:  # as above: a candidate too large to route, not the end of auto
                candidates[name], refused = f"skipped: {exc.brief()}", exc
                continue
            candidates[name] = total
            if best is None or total < best[0]:
                best = (total, name, sch, md, ls, cost)
        if best is None:  # every candidate left was over the route budget: that refusal is the answer
            raise refused
        total, _label, sch, md, ls, cost = best
        return CollectiveResult(collective, sch.algorithm, S, len(G), total, _bound(sch, _fab_for(fab, [sch]), overhead, rbw), sch,
                                ls, md, candidates, None if cost is None else cost.protocol)
    fn = _lookup(collective, algorithm)
    if comm is not None:
        why = _comm.applies(comm, collective, algorithm, len(G), S)
        if why is not None:
            raise ScheduleError(f"{why} on {fab.name!r} (its comm: block); use another algorithm or ideal=True")
    sch = fn(G, S, fab, **opts)
    md = _choose_mode([sch], mode, overhead, rbw)
    bound = _bound(sch, _fab_for(fab, [sch]), overhead, rbw)
    cost = None
    if comm is not None:  # the tuner's estimate uses the bound on the links the stack sees
        b = bound if fabc is fab else _bound(sch, _fab_for(fabc, [sch]), overhead, rbw, cheap=True)
        cost = cand(b, algorithm, sch)[3]
    times, total, ls = _simulate(_fab_for(fabc, [sch]), [sch], md, routing, seed, overhead, rbw, stats=stats,
                                 costs=None if cost is None else [cost])
    return CollectiveResult(collective, algorithm, S, len(G), total, bound, sch, ls, md,
                            candidates, None if cost is None else cost.protocol)


def all_reduce(fab: Fabric, size: Size, group: Group = None, algorithm: str = "auto", stack: str | None = None,
               **opts: Any) -> CollectiveResult:
    """Simulate an all-reduce of ``size`` bytes (each rank's buffer) over ``group``.

    Args:
        fab: the :class:`topo.Fabric`, or a preset name / YAML path as ``--fabric`` (``"maia200"``).
        size: bytes (or a string such as ``"256MiB"``).
        group: chips (ranks or node ids), in ring order; default every chip as ``scaleup collective
            --group-size <chips>`` and a sweep's ``group: null`` take them (:func:`default_group`:
            ``fab.groups(n)[0]``, rank order off tori, a one-hop cycle on a torus), so the figures agree bit
            for bit; ``group=range(fab.n_chips)`` for rank order.
        algorithm: a registered name (``collectives.ALGORITHMS``) or ``"auto"`` (simulate every applicable
            algorithm alone and keep the fastest; ``result.candidates`` lists them).
        **opts: algorithm options (``chunks``, ``bidirectional``, ``intra``, ``inter``, ``root``) and run
            options: ``mode`` (``"auto"`` | ``"exact"`` | ``"steps"``), ``overhead`` (s per message a
            rank sends, per step; default 0), ``reduce_bandwidth`` (bytes/s a rank reduces at, or
            ``"chip"`` = HBM bandwidth x memory efficiency / 3; default None = free), ``routing``
            (``"ecmp"`` | ``"hash"``), ``seed``.
        stack: a serving stack's TP all-reduce ladder (``"trtllm"``, ``"vllm"``, ``"sglang"``): each size runs
            on the rung the stack picks for (chip family, ranks, bytes), with that rung's calibrated preset,
            NCCL (the fabric's ``comm:``) above; ``result.rung`` names it
            (:func:`collectives.stacks.stack_all_reduce`). None or ``"nccl"``: the fabric's ``comm:`` alone.

    Returns:
        :class:`CollectiveResult` (``.time`` s, ``.algbw``/``.busbw`` bytes/s, ``.bound`` s, ...).
    """
    if stack is not None and stack != "nccl":
        from .stacks import stack_all_reduce

        if algorithm != "auto":
            raise ScheduleError(f"algorithm: stack={stack!r} picks the algorithm of every size; leave "
                                f"algorithm='auto' (got {algorithm!r}) or drop stack")
        return stack_all_reduce(_as_fabric(fab), size, group, stack, **opts)
    return collective("all_reduce", fab, size, group, algorithm, **opts)


def all_gather(fab: Fabric, size: Size, group: Group = None, algorithm: str = "auto",
               **opts: Any) -> CollectiveResult:
    """All-gather; ``size`` = gathered output bytes (each rank contributes size/n). See :func:`all_reduce`."""
    return collective("all_gather", fab, size, group, algorithm, **opts)


def reduce_scatter(fab: Fabric, size: Size, group: Group = None, algorithm: str = "auto",
                   **opts: Any) -> CollectiveResult:
    """Reduce-scatter; ``size`` = input bytes per rank (each ends with size/n). See :func:`all_reduce`."""
    return collective("reduce_scatter", fab, size, group, algorithm, **opts)


def all_to_all(fab: Fabric, size: Size, group: Group = None, algorithm: str = "auto",
               **opts: Any) -> CollectiveResult:
    """All-to-all; ``size`` = bytes each rank sends in total (size/n per peer). See :func:`all_reduce`."""
    return collective("all_to_all", fab, size, group, algorithm, **opts)


def broadcast(fab: Fabric, size: Size, group: Group = None, algorithm: str = "auto",
              **opts: Any) -> CollectiveResult:
    """Broadcast of ``size`` bytes from ``root`` (a rank position in the group, default 0)."""
    return collective("broadcast", fab, size, group, algorithm, **opts)


def reduce(fab: Fabric, size: Size, group: Group = None, algorithm: str = "auto",
           **opts: Any) -> CollectiveResult:
    """Reduce of ``size`` bytes to ``root`` (a rank position in the group, default 0)."""
    return collective("reduce", fab, size, group, algorithm, **opts)


def send_recv(fab: Fabric, size: Size, group: Group = None, algorithm: str = "auto",
              **opts: Any) -> CollectiveResult:
    """One transfer of ``size`` bytes from ``group[0]`` to ``group[1]`` (default ``default_group(fab, 2)``, as
    ``scaleup collective sendrecv``: chips 0 and 1 on the bundled fabrics)."""
    return collective("send_recv", fab, size, group, algorithm, **opts)


# ---------------------------------------------------------------------- ops and run
@dataclass
class Op:
    """A collective to run concurrently with others in :func:`run`.

    Attributes:
        size: bytes (nccl-tests convention). group: chips (default every chip, :func:`default_group`). algorithm:
        name or "auto".
        opts: algorithm options (chunks, root, ...).
    """

    size: Any
    group: Any = None
    algorithm: str = "auto"
    opts: dict = field(default_factory=dict)
    collective: str = ""

    def __init__(self, size, group=None, algorithm: str = "auto", **opts):
        self.size = size
        self.group = group
        self.algorithm = algorithm
        self.opts = opts


class AllReduce(Op):
    """Concurrent all-reduce op (see :func:`all_reduce`)."""

    collective = "all_reduce"


class AllGather(Op):
    """Concurrent all-gather op."""

    collective = "all_gather"


class ReduceScatter(Op):
    """Concurrent reduce-scatter op."""

    collective = "reduce_scatter"


class AllToAll(Op):
    """Concurrent all-to-all op."""

    collective = "all_to_all"


class Broadcast(Op):
    """Concurrent broadcast op."""

    collective = "broadcast"


class Reduce(Op):
    """Concurrent reduce op."""

    collective = "reduce"


class SendRecv(Op):
    """Concurrent point-to-point transfer."""

    collective = "send_recv"


#: collective name (as :data:`COLLECTIVES` spells it) -> its :class:`Op` class
OPS: dict[str, type[Op]] = {"all_reduce": AllReduce, "all_gather": AllGather, "reduce_scatter": ReduceScatter, "all_to_all": AllToAll,
                           "broadcast": Broadcast, "reduce": Reduce, "send_recv": SendRecv}


def _compilable(coll: str, algo: str, idx: list[int], prepared: list, S: float, fabric: Fabric,
                opts: dict) -> tuple[list[int], list[int], Schedule | None]:
    """Split ops ``idx`` (the first compiles) into those whose groups ``algo`` compiles on and the rest; the third
    item is the batched schedule of all of ``idx`` when that compiled (:func:`run` reuses it), else None."""
    if not _lookup(coll, algo).batched:
        return idx, [], None
    try:
        return idx, [], _compile(coll, algo, np.stack([prepared[i][1] for i in idx]), S, fabric, opts)
    except ScheduleError:
        pass
    ok, rest = [], []
    for i in idx:
        try:
            _compile(coll, algo, prepared[i][1], S, fabric, opts)
            ok.append(i)
        except ScheduleError:
            rest.append(i)
    return ok, rest, None


def run(ops: Sequence[Op], fabric: Fabric, mode: str = "auto", routing: str = "ecmp", seed: int = 0,
        overhead: float = 0.0, reduce_bandwidth: float | str | None = None,
        ideal: bool = False) -> list[CollectiveResult]:
    """Simulate many collectives at once on one fabric (they contend for its links).

    Ops of the same collective, algorithm, size, group size and options are compiled as one batched
    schedule (one row per group), so 768 tensor-parallel groups cost about as much as one. ``"auto"``
    is resolved once per such class by simulating its first group alone (with the options of the variant
    it chose); groups the choice does not compile on (spread otherwise over trays or leaves, e.g. around a
    faulted chip) form a class of their own, resolved the same way. In step mode the k-th steps of
    all ops run together and an op's time is the sum of the durations of the steps up to its last; in
    exact mode an op's time is its last flow's arrival. The calibrated communication model (the fabric's
    ``comm:``; see :mod:`collectives.comm`) applies unless ``ideal=True``: each class's protocol is chosen
    on its first group alone, its flows are stretched by the protocol's bandwidth fraction before the
    engine runs (groups contend as bytes on the wire), and its steps and call carry the protocol's costs.

    Returns:
        one :class:`CollectiveResult` per op, in order (``bound`` is the op's time alone, no contention).
    """
    if not isinstance(fabric, Fabric):
        raise ScheduleError(f"run: the second argument must be a topo.Fabric, got {type(fabric).__name__}")
    ops = list(ops)
    for i, op in enumerate(ops):
        if not isinstance(op, Op) or not op.collective:
            raise ScheduleError(f"run: op {i} is not a collectives op (AllReduce, AllGather, ...): {op!r}")
        clash = sorted(set(op.opts) & {"mode", "routing", "seed", "overhead", "reduce_bandwidth", "stats"}) if op.opts else []
        if clash:  # passed twice to collective() below: a TypeError 'got multiple values'
            raise ScheduleError(f"{clash[0]}: an option of the whole run (run(..., {clash[0]}=...)), not of one op "
                                f"(op {i}, {op.collective}); a job of a jobs file takes its algorithm's options only")
    rbw = _reduce_bw(fabric, reduce_bandwidth)
    overhead, seed = _overhead(overhead), _seed(seed)
    ideal = bool(ideal) or any(bool(op.opts.get("ideal", False)) for op in ops)  # also accepted per op
    comm = _comm.resolve(fabric, ideal)
    prepared = []
    classes: dict[tuple, list[int]] = {}
    last_size: list = []  # (size object, bytes) of the previous op: inference gives all its ops one size object
    rows = _int_groups(ops, fabric.n_chips)
    for i, op in enumerate(ops):
        if not isinstance(op.algorithm, str):  # it keys a dict below: a list was an unhashable-type TypeError
            _lookup(op.collective, op.algorithm)  # the registry's one-line ScheduleError listing the valid names
        if last_size and op.size is last_size[0]:
            S = last_size[1]
        else:
            S = size_bytes(op.size)
            last_size[:] = [op.size, S]
        G = rows[i] if rows is not None else _group(fabric, op.group, 2 if op.collective == "send_recv" else None)
        okey = tuple(sorted((k, repr(v)) for k, v in op.opts.items())) if op.opts else ()
        key = (op.collective, op.algorithm, S, len(G), okey)
        classes.setdefault(key, []).append(i)
        prepared.append((S, G))
    schedules: list[Schedule] = []
    members: list[list[int]] = []
    costs: list = []
    known_bound: dict[int, float] = {}  # first op of a class -> its bound, when already computed
    algo_of: dict[int, str] = {}
    work = list(classes.items())
    while work:
        key, idx = work.pop(0)
        coll, algo, S, m, _ = key
        opts = {k: v for k, v in ops[idx[0]].opts.items() if k != "ideal"}
        cost = None
        batched = None  # the class's batched schedule, when auto's split below compiled it already
        if algo == "auto":
            # the class's algorithm (and protocol, calibrated) are chosen on its first group alone
            r = collective(coll, fabric, S, prepared[idx[0]][1], algo, mode=mode, routing=routing, seed=seed,
                           overhead=overhead, reduce_bandwidth=reduce_bandwidth, stats=False, ideal=ideal, **opts)
            algo = r.algorithm
            opts = {**_accepted(REGISTRY[(coll, algo)], opts), **r.schedule.params}  # the chosen variant's options
            # auto bounded its winner on this very group, fabric and options: the first op's bound (the one
            # compiled below from the same group and options is the same schedule)
            known_bound[idx[0]] = r.bound
            # groups the choice does not apply to (spread otherwise over trays or leaves, e.g. around a
            # faulted chip) form a class of their own, resolved by auto on its first group
            idx, rest, batched = _compilable(coll, algo, idx, prepared, S, fabric, opts)
            if rest:
                work.append((key, rest))
            if comm is not None:
                cost = next(c for c in _comm.costs(comm, coll, algo) if c.protocol == r.protocol)
        elif comm is not None:
            # a named algorithm: the tuner's protocol from the first group's bound (no simulation)
            why = _comm.applies(comm, coll, algo, m, S)
            if why is not None:
                raise ScheduleError(f"{why} on {fabric.name!r} (its comm: block); use another algorithm or ideal=True")
            one = _compile(coll, algo, prepared[idx[0]][1], S, fabric, opts)
            fabc = _comm.view(fabric, comm)
            known_bound[idx[0]] = _bound(one, _fab_for(fabric, [one]), overhead, rbw)  # the result's bound
            b = known_bound[idx[0]] if fabc is fabric else _bound(one, _fab_for(fabc, [one]), overhead, rbw, cheap=True)
            cost = _comm.choose(comm, coll, algo, S, one.n, len(one.steps()), b)
        G = np.stack([prepared[i][1] for i in idx])
        if _lookup(coll, algo).batched:
            schedules.append(batched if batched is not None else _compile(coll, algo, G, S, fabric, opts))
            members.append(idx)
            costs.append(cost)
        else:  # the algorithm compiles one group at a time (Algorithm.batched: in-network reduction trees)
            for i in idx:
                schedules.append(_compile(coll, algo, prepared[i][1], S, fabric, opts))
                members.append([i])
                costs.append(cost)
        for i in idx:
            algo_of[i] = algo
    md = _choose_mode(schedules, mode, overhead, rbw)
    times, total, ls = _simulate(_fab_for(_comm.view(fabric, comm), schedules), schedules, md, routing, seed, overhead, rbw,
                                 costs=None if comm is None else costs)
    out: list[CollectiveResult | None] = [None] * len(ops)
    for sch, idx, t, cost in zip(schedules, members, times, costs):
        b = None
        for i in idx:
            if b is None:
                b = known_bound.get(i)
            if b is None:
                one = _compile(sch.collective, sch.algorithm, prepared[i][1], sch.size, fabric,
                               dict(sch.params))  # the options the class ran with (auto's chosen variant)
                b = _bound(one, _fab_for(fabric, [one]), overhead, rbw)
            out[i] = CollectiveResult(sch.collective, sch.algorithm, sch.size, len(prepared[i][1]), t, b, sch, ls,
                                      md, protocol=None if cost is None else cost.protocol)
    return out  # type: ignore[return-value]
