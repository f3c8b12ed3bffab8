"""Dependency mode: flows with start times and dependencies, max-min fair sharing, simpy clock.

Model (issue 3, a contract):
- a flow is *ready* at max(start, arrival of every flow it depends on);
- from then on it sends at its max-min fair rate among the flows sending at that instant, recomputed at
  every event (a flow becoming ready, a flow's last byte leaving); between events rates are constant;
- its *arrival* is the time its last byte is sent plus its path latency (cut-through fluid); with
  ``routing="ecmp"`` the flow is sent as equal parts over its equal-cost paths, each part at the same
  share of the flow's rate, and it arrives when its last part does (the largest path latency); with
  ``routing="ecmp-subflows"`` the parts are independent sub-flows of ``size / k`` bytes, each with its own
  max-min rate, and the flow arrives at the max over its parts of (last byte + that part's latency);
- a 0-byte flow arrives after its path latency; a flow whose src equals dst arrives when ready.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import simpy

from topo import Fabric, RoutingError, ScheduleError

from .maxmin import (
    HAVE_NUMBA,
    NONBINDING_RTOL,
    STALLED,
    TIE_RTOL,
    _active_load,
    _batch_kernel,
    _col_bytes,
    _comp_batch,
    _components,
    _solve,
    resolve_method,
)
from .routing import Parts, Problem, build_part_problem, build_problem, check_routing, check_sizes
from .structure import structured_problem

#: two finish times closer than this (relative) are one event; a flow whose remaining bytes are within this
#: fraction of its size finishes (see "Termination" in docs/engine.md)
FINISH_RTOL = 1e-12
#: absolute part of the finish tolerance, relative to the clock: finish times closer than a few ulps of the
#: current time cannot be told apart in float64 and are one event
FINISH_CLOCK_EPS = 4.0 * np.finfo(np.float64).eps
#: an event loop that goes this many iterations in a row without a flow starting or finishing raises
#: :class:`EngineStallError` (a bug guard: with the finish rules above every iteration makes progress)
MAX_STALL = 64


class EngineStallError(RuntimeError):
    """Internal invariant failure: the event loop stopped making progress (no flow started or finished
    for :data:`MAX_STALL` iterations in a row). Not a user error: please report the input."""


def _stall(flow: int, t: float, rem: float, rate: float) -> EngineStallError:
    return EngineStallError(
        f"traffic engine: no progress at t={t!r} s (no flow starts or finishes; guard: {MAX_STALL} events): "
        f"flow {flow} (problem row) has {rem!r} bytes left at {rate!r} bytes/s (internal error: please "
        f"report this input)"
    )
#: batches up to this many flows are split into independent components first (see maxmin._components)
COMPONENT_MAX_FLOWS = 2_000_000
#: the compiled batch loop (:func:`run_batch`) runs per component only while no component has more flows than this:
#: it re-solves a changed component from scratch at every event, where the whole-batch kernel re-fills only the flows
#: an event can change. A hash-routed all-to-all of 192 maia200 chips (36,672 flows, 580 components, the largest
#: 9,099) took 9.0 s per component and 1.5 s whole; 384 chips 126.6 s and 14.5 s. Small components (a hash-routed
#: permutation's, at most 11 flows) keep the per-component loop (1.0 s whole-batch 18 s at 6,144 chips).
COMPONENT_MAX_SIZE = 2_048


def mean_utilisation(link_bytes: np.ndarray, capacity: np.ndarray, duration: float) -> np.ndarray:
    """Mean utilisation (0..1) of each link over ``duration`` seconds: bytes / (capacity x duration)."""
    if duration <= 0:
        return np.zeros_like(link_bytes)
    return link_bytes / (capacity * duration)


@dataclass(frozen=True)
class Flow:
    """One transfer.

    Attributes:
        src, dst: node ids of the fabric, or chip ranks (ints).
        size: bytes (>= 0).
        start: earliest time it may start, s.
        deps: indices into the flow list (or the Flow objects themselves) whose arrival it waits for.
        path: optional explicit node list from src to dst, used as is (validated against the graph).
    """

    src: Hashable
    dst: Hashable
    size: float
    start: float = 0.0
    deps: Sequence = ()
    path: Sequence | None = None


@dataclass
class SimResult:
    """Outcome of a simulation. Times in s, bytes in bytes; link arrays indexed by fabric edge id.

    Attributes:
        arrival: arrival time of each input flow (last byte sent + path latency), s.
        ready: time each flow became ready (max of start and its dependencies' arrivals), s.
        finish: time each flow's last byte left its source, s.
        makespan: the latest arrival (0 for no flows), s.
        link_bytes: bytes carried by each directed link.
        link_busy: time each link carried traffic, s.
        link_peak: peak utilisation of each link (load / capacity at the busiest instant, 0..1).
        capacity: the capacity of each link used by the engine (bandwidth x efficiency), bytes/s.
        events: number of rate allocations performed.
    """

    arrival: np.ndarray
    ready: np.ndarray
    finish: np.ndarray
    makespan: float
    link_bytes: np.ndarray
    link_busy: np.ndarray
    link_peak: np.ndarray
    capacity: np.ndarray
    events: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def utilisation(self) -> np.ndarray:
        """Mean utilisation of each link over the makespan: link_bytes / (capacity x makespan)."""
        return mean_utilisation(self.link_bytes, self.capacity, self.makespan)

    @property
    def completion(self) -> np.ndarray:
        """Completion time of each flow measured from its start (arrival - ready), s."""
        return self.arrival - self.ready


# ---------------------------------------------------------------------------------------------- core
def _dependents(n: int, dep_ptr: np.ndarray, dep_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reverse CSR: for each flow, the flows that depend on it."""
    owner = np.repeat(np.arange(n, dtype=np.int64), np.diff(dep_ptr))
    order = np.argsort(dep_idx, kind="stable")
    rev_idx = owner[order]
    rev_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(dep_idx, minlength=n), out=rev_ptr[1:])
    return rev_ptr, rev_idx


def _check_deps(n: int, dep_ptr: np.ndarray, dep_idx: np.ndarray) -> None:
    if len(dep_ptr) != n + 1 or dep_ptr[0] != 0 or (np.diff(dep_ptr) < 0).any() or dep_ptr[-1] != len(dep_idx):
        raise ScheduleError(f"dep_ptr: expected a CSR pointer of length {n + 1} from 0 to len(dep_idx)")
    if len(dep_idx) and (dep_idx.min() < 0 or dep_idx.max() >= n):
        k = int(np.flatnonzero((dep_idx < 0) | (dep_idx >= n))[0])
        f = int(np.searchsorted(dep_ptr, k, side="right") - 1)
        raise ScheduleError(f"flow {f}: dependency {int(dep_idx[k])} is not a flow index 0..{n - 1}")
    # Kahn's algorithm, vectorised by frontier
    indeg = np.diff(dep_ptr).copy()
    rev_ptr, rev_idx = _dependents(n, dep_ptr, dep_idx)
    frontier = np.flatnonzero(indeg == 0)
    done = 0
    from .routing import _gather_ranges

    while len(frontier):
        done += len(frontier)
        pos, _ = _gather_ranges(rev_ptr, frontier)
        d = rev_idx[pos]
        if not len(d):
            break
        np.subtract.at(indeg, d, 1)
        frontier = np.unique(d[indeg[d] == 0])
    if done < n:
        # walk back along unresolved dependencies until a flow repeats: it lies on a cycle
        f = int(np.flatnonzero(indeg > 0)[0])
        seen: dict[int, int] = {}
        while f not in seen:
            seen[f] = len(seen)
            ds = dep_idx[dep_ptr[f]:dep_ptr[f + 1]]
            f = int(ds[indeg[ds] > 0][0])
        raise ScheduleError(f"flow {f}: its dependencies form a cycle (it waits, indirectly, for itself)")


@dataclass
class _Out:
    arrival: np.ndarray
    ready: np.ndarray
    finish: np.ndarray
    col_busy: np.ndarray
    col_peak: np.ndarray
    events: int


class _EventLoop:
    """The event loop of :func:`run_problem`, one named step per phase of an event.

    Per-flow state (problem rows): ``rem`` bytes left, ``ready``/``finish``/``arrival`` times (inf until
    known), ``cand`` the ready time so far (max of start and the arrivals of the dependencies released),
    ``ndep`` dependencies not yet arrived. Loop state: the clock ``t``, the flows sending (``active``, sorted)
    with their ``rate``, the columns carrying load (``live``), a heap of (ready time, seq, flows) not yet
    started, and the count of iterations without progress (``stall``, see :data:`MAX_STALL`).

    One event (:meth:`run`): :meth:`_next_event` (the earliest of the next ready time and the next finish;
    none left: done) -> wait -> :meth:`_finish_due` (charge the interval, finish the flows due, guard
    progress) -> :meth:`_start_ready` (flows whose ready time has come; 0-byte or link-free ones finish at
    once) -> :meth:`_reallocate` (max-min rates of the flows now sending, when the set changed).
    """

    def __init__(
        self,
        p: Problem,
        size: np.ndarray,
        start: np.ndarray | None,
        dep_ptr: np.ndarray | None,
        dep_idx: np.ndarray | None,
        weight: np.ndarray | None,
        method: str,
    ) -> None:
        n = p.n_flows
        self.p = p
        self.method = method
        self.size = np.asarray(size, dtype=np.float64)
        start = np.zeros(n) if start is None else np.asarray(start, dtype=np.float64)
        self.weight = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)
        has_deps = dep_ptr is not None and dep_idx is not None and len(dep_idx) > 0
        if has_deps:
            self.ndep = np.diff(dep_ptr).astype(np.int64)
            self.rev_ptr, self.rev_idx = _dependents(n, dep_ptr, dep_idx)
        else:
            self.ndep = np.zeros(n, dtype=np.int64)
            self.rev_ptr = self.rev_idx = None
        nolink = p.row_lengths() == 0
        self.instant = (self.size <= 0) | nolink  # never enter the allocation
        self.lat = p.lat
        self.cap = p.col_cap
        self.ncols = p.n_cols

        self.rem = self.size.copy()
        self.ready = np.full(n, np.inf)
        self.finish = np.full(n, np.inf)
        self.arrival = np.full(n, np.inf)
        self.cand = start.copy()
        self.col_busy = np.zeros(self.ncols)
        self.col_peak = np.zeros(self.ncols)
        self.heap: list[tuple[float, int, np.ndarray]] = []
        self.seq = 0
        self.events = 0

        self.t = 0.0
        self.active = np.zeros(0, dtype=np.int64)
        self.rate = np.zeros(0)
        self.live = np.zeros(0, dtype=np.int64)
        self.stall = 0

        self.push(np.flatnonzero(self.ndep == 0), start[self.ndep == 0])

        # independent components (numba path): an event re-solves only the components whose flows changed
        self.comp = None
        if HAVE_NUMBA and method != "numpy" and 0 < n <= COMPONENT_MAX_FLOWS:
            comp, n_comp, _ = _components(p.indptr, p.indices, p.data, self.cap, self.weight, NONBINDING_RTOL)
            if n_comp > 1:
                self.comp = comp
                self.dmask = np.zeros(n_comp, dtype=bool)
                self.rate_of = np.zeros(n)

    # ------------------------------------------------------------------ the ready heap and dependencies
    def push(self, flows: np.ndarray, times: np.ndarray) -> None:
        """Queue ``flows`` to become ready at ``times`` (one heap entry per distinct time, in seq order)."""
        if not len(flows):
            return
        if len(flows) == 1:
            heapq.heappush(self.heap, (float(times[0]), self.seq, flows))
            self.seq += 1
            return
        ut, inv = np.unique(times, return_inverse=True)
        order = np.argsort(inv, kind="stable")
        bounds = np.searchsorted(inv[order], np.arange(len(ut) + 1))
        for k in range(len(ut)):
            heapq.heappush(self.heap, (float(ut[k]), self.seq, flows[order[bounds[k]:bounds[k + 1]]]))
            self.seq += 1

    def release(self, fin: np.ndarray) -> None:
        """Flows ``fin`` have finished sending (arrival known): update their dependents."""
        if self.rev_ptr is None or not len(fin):
            return
        from .routing import _gather_ranges

        pos, ptr = _gather_ranges(self.rev_ptr, fin)
        if not len(pos):
            return
        d = self.rev_idx[pos]
        arr = np.repeat(self.arrival[fin], np.diff(ptr))
        np.maximum.at(self.cand, d, arr)
        np.subtract.at(self.ndep, d, 1)
        newly = np.unique(d[self.ndep[d] == 0])
        self.push(newly, self.cand[newly])

    # ------------------------------------------------------------------ one event, step by step
    def run(self, env: simpy.Environment):
        """The simpy process: events until no flow is left to start or finish."""
        while True:
            touched: list[np.ndarray] = []
            nxt = self._next_event()
            if nxt is None:
                return
            tnext, dt, fin_event, tf, dtf = nxt
            if dt > 0:
                yield env.timeout(dt)
            changed = False
            if len(self.active):
                changed = self._finish_due(tnext, dt, fin_event, tf, dtf, touched)
            self.t = tnext
            changed = self._start_ready(touched) or changed
            self._reallocate(changed, touched)

    def _next_event(self) -> tuple[float, float, bool, np.ndarray | None, float] | None:
        """(event time, time to it, whether it is a finish, each active flow's time to finish, the smallest),
        or None when nothing is left; raises EngineStallError when flows are left that can never finish."""
        t = self.t
        tr = self.heap[0][0] if self.heap else np.inf
        fin_event = False
        dtf = 0.0
        if len(self.active):
            with np.errstate(divide="ignore", invalid="ignore"):
                tf = self.rem[self.active] / self.rate  # >= 0: remaining bytes never go below zero
            dtf = float(tf.min())
            fin_event = t + dtf <= tr
            tnext = t + dtf if fin_event else tr
        else:
            tf = None
            tnext = tr
        if not tnext < np.inf:
            if len(self.active):  # flows left that can never finish (no positive rate): an invariant broke
                raise _stall(int(self.active[0]), t, float(self.rem[self.active[0]]), float(self.rate[0]))
            return None
        tnext = max(tnext, t)
        return tnext, tnext - t, fin_event, tf, dtf

    def _finish_due(self, tnext: float, dt: float, fin_event: bool, tf: np.ndarray, dtf: float,
                    touched: list[np.ndarray]) -> bool:
        """Charge ``dt`` of sending to the active flows and finish those due at ``tnext``; True if any did.
        Counts iterations without progress and raises EngineStallError at :data:`MAX_STALL`."""
        active, rate = self.active, self.rate
        self.col_busy[self.live] += dt
        # Finish every flow due by the event: the sending time elapsed (dt, or the smallest time to
        # finish when t + dtf rounded below it) widened by a relative and a clock tolerance, and every
        # flow left with at most FINISH_RTOL of its size. Both bounds are >= 0, so neither sign nor ties
        # can defeat them; on a finish event the earliest flow always meets the first.
        horizon = max(dt, dtf) if fin_event else dt
        with np.errstate(invalid="ignore"):
            left = self.rem[active] - rate * dt
            done = (tf <= horizon * (1.0 + FINISH_RTOL) + FINISH_CLOCK_EPS * tnext) | (
                left <= FINISH_RTOL * self.size[active])
        self.rem[active] = np.maximum(left, 0.0)
        if done.any():
            fin = active[done]
            self.rem[fin] = 0.0
            self.finish[fin] = tnext
            self.arrival[fin] = tnext + self.lat[fin]
            keep = ~done
            self.active = active[keep]
            self.rate = rate[keep]
            touched.append(fin)
            self.release(fin)
            self.stall = 0
            return True
        if self.heap and self.heap[0][0] <= tnext:
            self.stall = 0
        else:
            self.stall += 1
            if self.stall >= MAX_STALL:
                k = int(np.argmin(tf))
                raise _stall(int(active[k]), tnext, float(self.rem[active[k]]), float(rate[k]))
        return False

    def _start_ready(self, touched: list[np.ndarray]) -> bool:
        """Start the flows ready by the clock (possibly cascading through 0-latency instant flows, which
        finish at once); True if any joined the active set."""
        t, heap = self.t, self.heap
        changed = False
        while heap and heap[0][0] <= t:
            new = [heapq.heappop(heap)[2]]
            while heap and heap[0][0] <= t:
                new.append(heapq.heappop(heap)[2])
            new = np.concatenate(new) if len(new) > 1 else new[0]
            self.ready[new] = t
            inst = self.instant[new]
            if inst.any():
                fi = new[inst]
                self.finish[fi] = t
                self.rem[fi] = 0.0
                self.arrival[fi] = t + self.lat[fi]
                self.release(fi)
                new = new[~inst]
            if len(new):
                self.active = np.concatenate([self.active, new])
                changed = True
                touched.append(new)
        return changed

    def _reallocate(self, changed: bool, touched: list[np.ndarray]) -> None:
        """When the active set changed: max-min rates (only the components touched, on the component path),
        the columns carrying load and their peak utilisation; one counted event."""
        p = self.p
        if changed and len(self.active):
            active = self.active
            active.sort()
            self.events += 1
            if self.comp is None:
                self.rate, load = _solve(p.indptr, p.indices, p.data, self.cap, self.weight, active, self.method,
                                         True)
            else:
                comp, dmask = self.comp, self.dmask
                ch = np.concatenate(touched) if len(touched) > 1 else touched[0]
                dmask[comp[ch]] = True
                sel = active[dmask[comp[active]]]
                dmask[comp[ch]] = False
                if len(sel):
                    self.rate_of[sel] = _solve(p.indptr, p.indices, p.data, self.cap, self.weight, sel,
                                               self.method, False)[0]
                self.rate = self.rate_of[active]
                load = np.zeros(self.ncols)
                _active_load(p.indptr, p.indices, p.data, self.weight, self.rate, active, load)
            self.live = np.flatnonzero(load > 0)
            np.maximum.at(self.col_peak, self.live, load[self.live] / self.cap[self.live])
        elif not len(self.active):
            self.live = np.zeros(0, dtype=np.int64)

    def out(self) -> _Out:
        return _Out(self.arrival, self.ready, self.finish, self.col_busy, self.col_peak, self.events)


def run_problem(
    p: Problem,
    size: np.ndarray,
    start: np.ndarray | None = None,
    dep_ptr: np.ndarray | None = None,
    dep_idx: np.ndarray | None = None,
    weight: np.ndarray | None = None,
    method: str = "auto",
) -> _Out:
    """The event loop on a built problem (internal; the public entry points validate first).
    See :class:`_EventLoop` for its steps."""
    loop = _EventLoop(p, size, start, dep_ptr, dep_idx, weight, method)
    env = simpy.Environment()
    env.process(loop.run(env))
    env.run()
    return loop.out()


def run_batch(
    p: Problem, size: np.ndarray, start: np.ndarray | None = None, weight: np.ndarray | None = None
) -> _Out:
    """Flows without dependencies: the whole event loop in one compiled kernel (same model and events
    as :func:`run_problem`, without per-event Python overhead)."""
    n = p.n_flows
    # a 0-stride view of ones: no 300 MB array for 37.7 M flows
    weight = np.broadcast_to(np.float64(1.0), (n,)) if weight is None else np.ascontiguousarray(weight,
                                                                                                dtype=np.float64)
    instant = (size <= 0) | (p.indptr[1:] == p.indptr[:-1])
    finish = np.full(n, np.inf)
    col_busy = np.zeros(p.n_cols)
    col_peak = np.zeros(p.n_cols)
    if start is None or not (start > 0).any():
        order = np.zeros(0, dtype=np.int64)
        st = np.zeros(1)
        ready = np.zeros(n) if n <= 1_000_000 else np.broadcast_to(np.float64(0.0), (n,))  # read-only view
    else:
        order = np.argsort(start, kind="stable")
        st = start
        ready = start
    events = -1
    diag = np.zeros(4)
    if n <= COMPONENT_MAX_FLOWS:
        comp, n_comp, _ = _components(p.indptr, p.indices, p.data, p.col_cap, weight, NONBINDING_RTOL)
        largest = np.bincount(comp[comp >= 0]).max() if n_comp > 0 else 0
        if n_comp > 1 and largest <= 0.5 * n and largest <= COMPONENT_MAX_SIZE:
            events = _comp_batch(p.indptr, p.indices, p.data, p.col_cap, weight, size, instant, st, order,
                                 comp, n_comp, TIE_RTOL, FINISH_RTOL, FINISH_CLOCK_EPS, MAX_STALL, finish,
                                 col_busy, col_peak, diag)
    if events == -1:
        events = _batch_kernel(p.indptr, p.indices, p.data, p.col_cap, weight, size, instant, st, order,
                               TIE_RTOL, FINISH_RTOL, FINISH_CLOCK_EPS, MAX_STALL, finish, col_busy, col_peak,
                               diag)
    if events == STALLED:
        raise _stall(int(diag[0]), float(diag[1]), float(diag[2]), float(diag[3]))
    arrival = finish + p.lat
    return _Out(arrival, ready, finish, col_busy, col_peak, int(events))


def col_bytes(p: Problem, wsize: np.ndarray) -> np.ndarray:
    """Bytes per column for per-flow bytes ``wsize`` (size x multiplicity)."""
    if p.n_cols == 0:
        return np.zeros(0)
    if resolve_method("auto", p.n_flows) == "numba":
        return _col_bytes(p.indptr, p.indices, p.data, np.asarray(wsize, dtype=np.float64), p.n_cols)
    return p.matrix().T @ wsize


# ---------------------------------------------------------------------------------------------- API
def simulate_arrays(
    fabric: Fabric,
    src: np.ndarray,
    dst: np.ndarray,
    size: np.ndarray | float,
    start: np.ndarray | None = None,
    dep_ptr: np.ndarray | None = None,
    dep_idx: np.ndarray | None = None,
    routing: str = "ecmp",
    seed: int = 0,
    paths: Sequence | None = None,
    method: str = "auto",
) -> SimResult:
    """Simulate flows given as arrays (structure of arrays; no Python object per flow).

    Args:
        fabric: the :class:`topo.Fabric`.
        src, dst: node indices (chip rank == node index), int arrays of equal length.
        size: bytes per flow (array or scalar), >= 0.
        start: earliest start per flow, s (default 0).
        dep_ptr, dep_idx: dependencies as CSR: flow ``i`` waits for flows ``dep_idx[dep_ptr[i]:dep_ptr[i+1]]``.
        routing: ``"ecmp"`` (even spray over the equal-cost paths, parts keep pace: one rate per flow),
            ``"ecmp-subflows"`` (one independent sub-flow of ``size / k`` per equal-cost path, each with its
            own max-min rate; the flow arrives when its last part does) or ``"hash"`` (one path per flow).
        seed: seed of the hash routing.
        paths: optional per-flow explicit node paths (``None`` entries are routed).
        method: max-min solver, ``"auto"`` / ``"numba"`` / ``"numpy"``.

    Returns:
        :class:`SimResult`.
    """
    src = fabric.indices(np.asarray(src)) if not isinstance(src, np.ndarray) else fabric.indices(src)
    dst = fabric.indices(np.asarray(dst)) if not isinstance(dst, np.ndarray) else fabric.indices(dst)
    n = len(src)
    if len(dst) != n:
        raise ScheduleError(f"simulate_arrays: src and dst differ in length ({n} vs {len(dst)})")
    size = np.broadcast_to(np.asarray(size, dtype=np.float64), (n,)).copy()
    check_sizes(size)
    if start is None:
        start = np.zeros(n)
    else:
        start = np.broadcast_to(np.asarray(start, dtype=np.float64), (n,)).copy()
        bad = ~(np.isfinite(start) & (start >= 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ScheduleError(f"flow {i}: start must be a finite time >= 0 s, got {float(start[i])!r}")
    if (dep_ptr is None) != (dep_idx is None):
        raise ScheduleError("simulate_arrays: give both dep_ptr and dep_idx (a CSR of dependencies) or neither")
    if dep_ptr is not None:
        dep_ptr = np.asarray(dep_ptr, dtype=np.int64)
        dep_idx = np.asarray(dep_idx, dtype=np.int64)
        _check_deps(n, dep_ptr, dep_idx)
    if paths is not None and len(paths) != n:
        raise ScheduleError(f"paths: expected one entry (or None) per flow ({n}), got {len(paths)}")
    check_routing(routing)
    method = resolve_method(method, len(src))  # small problems: numpy, numba never imported (issue 14)
    if routing == "ecmp-subflows":
        return _simulate_parts(fabric, src, dst, size, start, dep_ptr, dep_idx, paths, method)
    p = structured_problem(fabric, src, dst, routing, seed) if paths is None else None
    if p is None:
        p = build_problem(fabric, src, dst, routing, seed, paths)
    if dep_ptr is None and HAVE_NUMBA and method != "numpy":
        out = run_batch(p, size, start)
    else:
        out = run_problem(p, size, start, dep_ptr, dep_idx, method=method)
    return _result(fabric, p, size, out)


def _simulate_parts(fabric, src, dst, size, start, dep_ptr, dep_idx, paths, method) -> SimResult:
    """``routing="ecmp-subflows"``: every flow is ``k`` independent parts of ``size / k`` bytes, one per
    equal-cost path. Without dependencies the parts are simply flows. With dependencies two instant
    (0-byte, link-free) nodes per flow keep the dependency graph linear in size: a *gate* that waits for
    the flow's start and its dependencies' *joins*, and a *join* that waits for all of the flow's parts;
    every part waits for its flow's gate. A flow is ready when its gate is, and arrives when its join does
    (the max over its parts of last byte + that part's path latency)."""
    parts: Parts = build_part_problem(fabric, src, dst, paths)
    q, owner = parts.problem, parts.owner
    n, n_parts = len(src), len(owner)
    psize = size[owner] * parts.share
    pstart = start[owner]
    if dep_ptr is None:
        if HAVE_NUMBA and method != "numpy":
            out = run_batch(q, psize, pstart)
        else:
            out = run_problem(q, psize, pstart, method=method)
        arrival = parts.per_flow_max(out.arrival)
        finish = parts.per_flow_max(out.finish)
        ready = start.copy()
        part_out = out
    else:
        # nodes: parts 0..P-1, gates P..P+n-1, joins P+n..P+2n-1
        gate0, join0 = n_parts, n_parts + n
        empty = np.full(2 * n, q.indptr[-1], dtype=np.int64)
        x = Problem(np.concatenate([q.indptr, empty]), q.indices, q.data, q.col_cap,
                    np.concatenate([q.lat, np.zeros(2 * n)]), q.edge_col, q.edge_scale)
        lens = np.concatenate([np.ones(n_parts, np.int64), np.diff(dep_ptr), np.diff(parts.ptr)])
        xptr = np.zeros(n_parts + 2 * n + 1, dtype=np.int64)
        np.cumsum(lens, out=xptr[1:])
        xidx = np.concatenate([gate0 + owner, join0 + dep_idx, np.arange(n_parts, dtype=np.int64)])
        xsize = np.concatenate([psize, np.zeros(2 * n)])
        xstart = np.concatenate([pstart, start, np.zeros(n)])
        out = run_problem(x, xsize, xstart, xptr, xidx, method=method)
        arrival = out.arrival[join0:]
        ready = out.ready[gate0:join0]
        finish = parts.per_flow_max(out.finish[:n_parts])
        part_out = out
    cb = col_bytes(q, psize)
    return SimResult(
        arrival=arrival,
        ready=ready,
        finish=finish,
        makespan=float(arrival.max()) if n else 0.0,
        link_bytes=q.edge_values(cb),
        link_busy=q.edge_values(part_out.col_busy, scaled=False),
        link_peak=q.edge_values(part_out.col_peak, scaled=False),
        capacity=fabric.edge_capacity.astype(np.float64),
        events=part_out.events,
        meta={"parts": n_parts},
    )


def _result(fabric: Fabric, p: Problem, size: np.ndarray, out: _Out, weight=None) -> SimResult:
    w = size if weight is None else size * weight
    cb = col_bytes(p, w)
    arrival = out.arrival
    makespan = float(arrival.max()) if len(arrival) else 0.0
    return SimResult(
        arrival=arrival,
        ready=out.ready,
        finish=out.finish,
        makespan=makespan,
        link_bytes=p.edge_values(cb),
        link_busy=p.edge_values(out.col_busy, scaled=False),
        link_peak=p.edge_values(out.col_peak, scaled=False),
        capacity=fabric.edge_capacity.astype(np.float64),
        events=out.events,
    )


def simulate(fabric: Fabric, flows: Sequence[Flow], routing: str = "ecmp", seed: int = 0, method: str = "auto") -> SimResult:
    """Simulate a list of :class:`Flow` (dependency mode, exact). See the module docstring for the model.

    ``deps`` of a flow hold indices into ``flows`` or the Flow objects themselves. Arrays of the
    result are in input order. Raises :class:`topo.ScaleupError` subclasses on bad input (unknown node,
    invalid path, negative size, dependency cycle, zero-capacity link on a used path).
    """
    flows = list(flows)
    n = len(flows)
    ident = {id(f): i for i, f in enumerate(flows)}
    src = np.empty(n, dtype=np.int64)
    dst = np.empty(n, dtype=np.int64)
    size = np.empty(n)
    start = np.empty(n)
    dep_ptr = np.zeros(n + 1, dtype=np.int64)
    dep_list: list[int] = []
    paths: list | None = None
    for i, f in enumerate(flows):
        if not isinstance(f, Flow):
            raise ScheduleError(f"flow {i}: expected a traffic.Flow, got {type(f).__name__}")
        try:
            src[i] = fabric.index(f.src)
            dst[i] = fabric.index(f.dst)
        except RoutingError as exc:
            raise RoutingError(f"flow {i}: {exc}") from None
        try:
            size[i] = float(f.size)
            start[i] = float(f.start)
        except (TypeError, ValueError):
            raise ScheduleError(f"flow {i}: size and start must be numbers (bytes, s)") from None
        for d in f.deps:
            if isinstance(d, Flow):
                j = ident.get(id(d))
                if j is None:
                    raise ScheduleError(f"flow {i}: depends on a Flow that is not in the list")
            elif isinstance(d, (int, np.integer)) and not isinstance(d, bool):
                j = int(d)
            else:
                raise ScheduleError(f"flow {i}: deps must be flow indices or Flow objects, got {d!r}")
            dep_list.append(j)
        dep_ptr[i + 1] = len(dep_list)
        if f.path is not None:
            if paths is None:
                paths = [None] * n
            paths[i] = list(f.path)
    dep_idx = np.asarray(dep_list, dtype=np.int64)
    return simulate_arrays(
        fabric, src, dst, size, start, dep_ptr if dep_list else None, dep_idx if dep_list else None,
        routing=routing, seed=seed, paths=paths, method=method,
    )
