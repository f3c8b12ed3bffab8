"""Step mode: bulk-synchronous steps of concurrent flows, memoised, for 6,144-chip scale.

A schedule is a sequence of :class:`Step`; every flow of a step starts when the previous step has
completed (all its flows arrived), and a step's duration is the makespan of its flows started together
(latency included), computed with the same max-min engine as dependency mode. What makes it fast:

- memoisation by ``key`` (a template id the caller promises identifies the step's duration, e.g. ring
  step k is step 0 shifted): a repeated key costs a dictionary look-up;
- memoisation by content when ``key`` is None: a hash of the (src, dst, size) arrays;
- aggregation: flows with identical link sets (same columns and fractions), size and latency are solved as
  one flow with a multiplicity (exact: max-min gives identical flows identical rates);
- link merging (see :mod:`traffic.routing`) and, with ``grouping="structure"``, structural classes
  (see :mod:`traffic.structure`).
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from topo import Fabric, ScheduleError

from .engine import HAVE_NUMBA, col_bytes, mean_utilisation, run_batch, run_problem
from .maxmin import resolve_method
from .routing import Problem, _projections, build_part_problem, build_problem, check_routing, check_sizes

#: steps with more flows than this are not aggregated nor memoised by content (hashing would dominate)
AGGREGATE_MAX_FLOWS = 1_000_000


@dataclass(frozen=True, eq=False)
class Step:
    """One bulk-synchronous step: flows ``src[i] -> dst[i]`` of ``size[i]`` bytes, all started together.

    Attributes:
        src, dst: node-index arrays (chip rank == node index).
        size: bytes per flow, array or scalar.
        key: optional hashable template id; two steps with the same key are promised to take the same
            time on the same fabric, so only the first is simulated.
    """

    src: np.ndarray
    dst: np.ndarray
    size: np.ndarray | float
    key: Hashable | None = None


@dataclass
class StepResult:
    """Outcome of :func:`simulate_steps`.

    Attributes:
        time: total time of the schedule, s (sum of the step durations).
        step_times: duration of each step, s.
        link_bytes: bytes carried by each directed link over the whole schedule (zeros if stats=False).
        link_busy: time each link carried traffic, s.
        link_peak: peak utilisation of each link over the schedule (0..1).
        capacity: engine capacity of each link, bytes/s.
        solved: number of steps actually simulated (the rest came from the memo).
    """

    time: float
    step_times: np.ndarray
    link_bytes: np.ndarray
    link_busy: np.ndarray
    link_peak: np.ndarray
    capacity: np.ndarray
    solved: int
    meta: dict = field(default_factory=dict)

    @property
    def utilisation(self) -> np.ndarray:
        """Mean utilisation of each link over the schedule: link_bytes / (capacity x time)."""
        return mean_utilisation(self.link_bytes, self.capacity, self.time)


def aggregate_rows(p: Problem, size: np.ndarray) -> tuple[Problem, np.ndarray, np.ndarray, np.ndarray]:
    """Merge flows with identical rows, size and latency into one row with a multiplicity.

    Returns (problem of representatives, their sizes, multiplicities, inverse map flow -> representative).
    """
    n = p.n_flows
    if n == 0:
        return p, size, np.zeros(0), np.zeros(0, dtype=np.int64)
    p1, p2 = _projections(max(p.n_cols, 1))
    rows = np.repeat(np.arange(n, dtype=np.int64), p.row_lengths())
    h1 = np.bincount(rows, weights=p.data * p1[p.indices], minlength=n)
    h2 = np.bincount(rows, weights=p.data * p2[p.indices], minlength=n)
    keys = np.stack([h1, h2, p.row_lengths().astype(np.float64), size, p.lat])
    order = np.lexsort(keys[::-1])
    ks = keys[:, order]
    new = np.ones(n, dtype=bool)
    new[1:] = (ks[:, 1:] != ks[:, :-1]).any(axis=0)
    grp = np.cumsum(new) - 1
    inv = np.empty(n, dtype=np.int64)
    inv[order] = grp
    reps = order[new]
    mult = np.bincount(grp).astype(np.float64)
    if len(reps) == n:
        return p, size, np.ones(n), np.arange(n, dtype=np.int64)
    from .routing import _gather_ranges

    pos, indptr = _gather_ranges(p.indptr, reps)
    q = Problem(indptr, p.indices[pos], p.data[pos], p.col_cap, p.lat[reps], p.edge_col, p.edge_scale)
    return q, size[reps], mult, inv


@dataclass
class _Memo:
    duration: float
    src: np.ndarray
    dst: np.ndarray
    size: np.ndarray
    edges: np.ndarray  # edges used (stats)
    bytes_: np.ndarray
    busy: np.ndarray
    peak: np.ndarray
    count: int = 0
    raw: tuple = ()


def _signature(src: np.ndarray, dst: np.ndarray, size: np.ndarray) -> bytes:
    h = hashlib.blake2b(digest_size=20)
    h.update(src.tobytes())
    h.update(dst.tobytes())
    h.update(size.tobytes())
    return h.digest()


def _same(m: _Memo, src: np.ndarray, dst: np.ndarray, size: np.ndarray) -> bool:
    return (
        (m.src is src or np.array_equal(m.src, src))
        and (m.dst is dst or np.array_equal(m.dst, dst))
        and (m.size is size or np.array_equal(m.size, size))
    )


def solve_step(
    fabric: Fabric,
    src: np.ndarray,
    dst: np.ndarray,
    size: np.ndarray,
    routing: str = "ecmp",
    seed: int = 0,
    method: str = "auto",
    grouping: str = "none",
):
    """Simulate one step (all flows start at 0). Returns (duration s, edges, bytes, busy, peak, info)."""
    if grouping == "structure":
        from .structure import faulted_all_to_all_problem, grouped_problem, uniform_all_to_all_problem

        z = uniform_exchange_size(fabric, src, dst, size) if routing == "ecmp" else None
        if z is not None:  # every chip to every chip: the counting form (no per-pair sort), healthy or faulted
            g = uniform_all_to_all_problem(fabric, z)
            if g is None:
                g = faulted_all_to_all_problem(fabric, z)
            if g is not None:
                p, sz, mult = g
                out = _run(p, sz, mult, method)
                return _pack(p, sz, mult, out, {"flows": len(src), "rows": p.n_flows, "cols": p.n_cols,
                                                "uniform_exchange": True})
        g = grouped_problem(fabric, src, dst, size, routing, seed)
        if g is not None:
            p, sz, mult, info = g
            out = _run(p, sz, mult, method)
            return _pack(p, sz, mult, out, info)
    elif grouping != "none":
        raise ScheduleError(f"grouping={grouping!r}: use 'none' or 'structure'")
    if routing == "ecmp-subflows":  # one independent flow of size / k per equal-cost path
        parts = build_part_problem(fabric, src, dst)
        p, size = parts.problem, size[parts.owner] * parts.share
    else:
        p = _build(fabric, src, dst, routing, seed)
    if p.n_flows <= AGGREGATE_MAX_FLOWS:
        q, sz, mult, _ = aggregate_rows(p, size)
    else:  # structural rows of distinct pairs rarely coincide; aggregation would cost more than it saves
        q, sz, mult = p, size, None
    out = _run(q, sz, mult, method)
    return _pack(q, sz, mult, out, {"flows": len(src), "rows": q.n_flows, "cols": q.n_cols})


#: flows per chunk of :func:`uniform_exchange_size`'s pair check (bounds its temporaries to ~100 MB)
_EXCHANGE_CHUNK = 1 << 22
#: the pair check's last answers by array identity: (id(src), id(dst), chips) -> (weakref src, weakref dst, bool);
#: a collective's bound and its run pass the same step arrays several times
_EXCHANGE_SEEN: dict[tuple[int, int, int], tuple] = {}


def uniform_exchange_size(fabric: Fabric, src: np.ndarray, dst: np.ndarray, size) -> float | None:
    """The bytes per flow if the flows are every ordered pair of distinct chips of ``fabric`` exactly once, in any
    order, all of one size (a whole-fabric direct all-to-all / reduce-scatter / all-gather step); else None.

    One pass over the arrays in chunks (bounds, no self pairs, a bitmap of the n^2 pair codes), no sort:
    ~0.5 s for the 37.7 M flows of 6,144 chips (where classing them by sorting took ~20 s per step); the answer
    for the same array objects is remembered.
    """
    nc = fabric.n_chips
    F = len(src)
    if nc < 2 or F != nc * (nc - 1) or len(dst) != F:
        return None
    z = np.asarray(size, dtype=np.float64)
    if z.ndim == 0:
        s0 = float(z)
    elif z.shape != (F,):
        return None
    else:
        s0 = float(z[0])
        if not (z.strides == (0,) or bool(np.all(z == s0))):
            return None
    if not np.isfinite(s0) or s0 < 0:
        return None
    return s0 if _every_pair(src, dst, nc) else None


def _every_pair(src, dst, nc: int) -> bool:
    """Whether the nc (nc - 1) flows ``src[i] -> dst[i]`` are every ordered pair of distinct chips 0..nc-1."""
    key = (id(src), id(dst), nc)
    hit = _EXCHANGE_SEEN.get(key)
    if hit is not None and hit[0]() is src and hit[1]() is dst:
        return hit[2]
    ok = _check_every_pair(src, dst, nc)
    try:
        refs = (weakref.ref(src), weakref.ref(dst))
    except TypeError:  # not weak-referenceable (a list): nothing remembered
        return ok
    if len(_EXCHANGE_SEEN) >= 8:
        _EXCHANGE_SEEN.clear()
    _EXCHANGE_SEEN[key] = (*refs, ok)
    return ok


def _check_every_pair(src, dst, nc: int) -> bool:
    F = len(src)
    seen = np.zeros(nc * nc, dtype=bool)
    for a in range(0, F, _EXCHANGE_CHUNK):
        s = np.asarray(src[a:a + _EXCHANGE_CHUNK])
        d = np.asarray(dst[a:a + _EXCHANGE_CHUNK])
        if s.dtype.kind not in "iu" or d.dtype.kind not in "iu":
            return False
        if int(s.min()) < 0 or int(d.min()) < 0 or int(s.max()) >= nc or int(d.max()) >= nc:
            return False
        if bool(np.any(s == d)):
            return False
        code = s.astype(np.int64)
        code *= nc
        code += d
        seen[code] = True
    return int(np.count_nonzero(seen)) == F


def _run(p: Problem, size: np.ndarray, mult: np.ndarray | None, method: str):
    method = resolve_method(method, p.n_flows)  # small problems: numpy, numba never imported
    if HAVE_NUMBA and method != "numpy":
        return run_batch(p, size, None, mult)
    return run_problem(p, size, weight=mult, method=method)


def _build(fabric, src, dst, routing, seed):
    from .structure import structured_problem

    p = structured_problem(fabric, src, dst, routing, seed)
    if p is None:
        p = build_problem(fabric, src, dst, routing, seed)
    return p


def _pack(p: Problem, sz, mult, out, info):
    duration = float(out.arrival.max()) if len(out.arrival) else 0.0
    cb = col_bytes(p, sz * mult if mult is not None else sz)
    eb = p.edge_values(cb)
    edges = np.flatnonzero(eb > 0)
    # busy time and peak of the loaded edges: p.edge_values(..., scaled=False)[edges] read at those edges only (an
    # edge carrying bytes has a column; the same values without two more passes over every edge of the fabric)
    cols = p.edge_col[edges]
    busy = np.asarray(out.col_busy, dtype=np.float64)[cols]
    peak = np.asarray(out.col_peak, dtype=np.float64)[cols]
    return duration, edges, eb[edges], busy, peak, info


def simulate_steps(
    fabric: Fabric,
    steps: Sequence[Step],
    routing: str = "ecmp",
    seed: int = 0,
    stats: bool = True,
    method: str = "auto",
    grouping: str = "none",
) -> StepResult:
    """Run a bulk-synchronous schedule of steps back to back; see the module docstring.

    Args:
        fabric: the :class:`topo.Fabric`.
        steps: sequence of :class:`Step`; arrays may hold the flows of many concurrent groups at once.
        routing: ``"ecmp"``, ``"ecmp-subflows"`` or ``"hash"`` (see :func:`traffic.simulate_arrays`).
        seed: hash-routing seed.
        stats: accumulate link bytes / busy time / peak utilisation (default on). A keyed step reused
            with the same arrays adds its memoised statistics; reused with different arrays (a shifted
            template) it is routed and solved once more to put its bytes on the right links, unless
            ``stats=False``.
        method: max-min solver (``"auto"``, ``"numba"``, ``"numpy"``).
        grouping: ``"none"`` or ``"structure"`` (solve structural classes of flows as one, exact for
            traffic that is uniform over them; see :mod:`traffic.structure`; falls back to ``"none"``
            when the traffic or fabric does not qualify).

    Returns:
        :class:`StepResult`.
    """
    check_routing(routing)
    n_e = fabric.n_edges
    step_times = np.zeros(len(steps))
    by_key: dict[Hashable, _Memo] = {}
    by_sig: dict[bytes, _Memo] = {}
    solved = 0
    memos: list[_Memo] = []
    for k, st in enumerate(steps):
        if not isinstance(st, Step):
            raise ScheduleError(f"step {k}: expected a traffic.Step, got {type(st).__name__}")
        src = st.src if isinstance(st.src, np.ndarray) else np.asarray(st.src)
        dst = st.dst if isinstance(st.dst, np.ndarray) else np.asarray(st.dst)
        if src.shape != dst.shape or src.ndim != 1:
            raise ScheduleError(f"step {k}: src and dst must be 1-D arrays of equal length")
        raw = (src, dst, st.size)
        m = by_key.get(st.key) if st.key is not None else None
        if m is not None and (not stats or _same_pairs(m, src, dst, st.size)):
            step_times[k] = m.duration
            m.count += 1
            continue
        src = _as_index(fabric, src)
        dst = _as_index(fabric, dst)
        size = np.broadcast_to(np.asarray(st.size, dtype=np.float64), src.shape)
        check_sizes(size, f"step {k}: flow")
        sig = _signature(src, dst, size) if len(src) <= AGGREGATE_MAX_FLOWS else None
        ms = by_sig.get(sig) if sig is not None else None
        if ms is not None and _same(ms, src, dst, size):
            step_times[k] = ms.duration if m is None else m.duration
            ms.count += 1
            continue
        try:
            d, edges, eb, busy, peak, _ = solve_step(fabric, src, dst, size, routing, seed, method, grouping)
        except ScheduleError as exc:
            raise ScheduleError(f"step {k}: {exc}") from None
        solved += 1
        memo = _Memo(d, src, dst, size, edges, eb, busy, peak, 1, raw)
        memos.append(memo)
        if sig is not None:
            by_sig[sig] = memo
        if st.key is not None and st.key not in by_key:
            by_key[st.key] = memo
        step_times[k] = d if m is None else m.duration
    link_bytes = np.zeros(n_e)
    link_busy = np.zeros(n_e)
    link_peak = np.zeros(n_e)
    if stats:
        for mm in memos:
            link_bytes[mm.edges] += mm.count * mm.bytes_
            link_busy[mm.edges] += mm.count * mm.busy
            np.maximum.at(link_peak, mm.edges, mm.peak)
    return StepResult(
        time=float(step_times.sum()),
        step_times=step_times,
        link_bytes=link_bytes,
        link_busy=link_busy,
        link_peak=link_peak,
        capacity=fabric.edge_capacity.astype(np.float64),
        solved=solved,
    )


def _as_index(fabric: Fabric, a: np.ndarray) -> np.ndarray:
    """Node indices as given (any integer dtype, range-checked: int32 saves memory at 37.7 M flows)."""
    if isinstance(a, np.ndarray) and a.dtype in (np.int32, np.int64) and a.ndim == 1:
        if len(a) and (int(a.min()) < 0 or int(a.max()) >= fabric.n_nodes):
            fabric.indices(a.astype(np.int64))  # raises the RoutingError naming the bad index
        return np.ascontiguousarray(a)
    return fabric.indices(a)


def uniform_all_to_all(
    fabric: Fabric,
    size: float,
    grouped: bool = True,
    routing: str = "ecmp",
    seed: int = 0,
    stats: bool = True,
    method: str = "auto",
) -> StepResult:
    """One step in which every chip sends ``size`` bytes to every other chip (n (n - 1) flows).

    ``grouped=True`` solves structural classes (relation, source group, destination group) built from
    counts, with no per-pair arrays (exact for this uniform traffic; see :mod:`traffic.structure`);
    when the fabric does not qualify, or ``grouped=False``, every pair is a flow split evenly over its
    ECMP paths (merged links keep that at 4 incidence entries per cross-group flow on two-tier fabrics).
    """
    from . import patterns
    from .structure import faulted_all_to_all_problem, uniform_all_to_all_problem

    size = float(size)
    check_sizes(np.array([size]), "all_to_all: flow")
    if grouped and routing == "ecmp":
        g = uniform_all_to_all_problem(fabric, size)
        faulted = g is None
        if faulted:  # a faulted two-tier fabric: classes of its healthy base's structure (exact, see there)
            g = faulted_all_to_all_problem(fabric, size)
        if g is not None:
            p, sz, mult = g
            out = _run(p, sz, mult, method)
            d, edges, eb, busy, peak, _ = _pack(p, sz, mult, out, {})
            ne = fabric.n_edges
            lb, lbu, lp = np.zeros(ne), np.zeros(ne), np.zeros(ne)
            if stats:
                lb[edges], lbu[edges], lp[edges] = eb, busy, peak
            return StepResult(d, np.array([d]), lb, lbu, lp, fabric.edge_capacity.astype(np.float64), 1,
                              {"grouped": True, "rows": p.n_flows, "faulted_classes": faulted})
    src, dst = patterns.all_to_all(fabric.n_chips)
    res = simulate_steps(fabric, [Step(src, dst, size)], routing, seed, stats, method)
    res.meta["grouped"] = False
    return res


def _same_pairs(m: _Memo, src: np.ndarray, dst: np.ndarray, size) -> bool:
    """A keyed repeat with arrays equal to its template's (as given, before index conversion)."""
    raw_src, raw_dst, raw_size = m.raw
    if raw_src is src and raw_dst is dst and raw_size is size:
        return True
    z = np.broadcast_to(np.asarray(size, dtype=np.float64), src.shape)
    return (
        src.shape == raw_src.shape
        and np.array_equal(src, raw_src)
        and np.array_equal(dst, raw_dst)
        and np.array_equal(z, m.size)
    )
