"""Request-level serving simulation of a fleet (simpy): continuous batching, disaggregation, KV transfers.

Model (what a replica does, vLLM / Sarathi-Serve / DistServe conventions):

- Each replica runs iterations back to back while it has work. Iteration times come from the replica's
  step model (:class:`StepModelLike`; ``inference.StepModel`` for a chip and fabric).
- **Continuous batching**, prefill first (vLLM's default scheduler): at an iteration boundary, if requests
  wait and there is room (``batch`` sequences, KV-cache tokens), the replica admits them FCFS up to
  ``token_budget`` prompt tokens and runs a prefill iteration, ``prefill_time(prompt tokens, n)``; its end is
  each admitted request's first token. Otherwise it runs a decode iteration for all running sequences,
  ``decode_time(batch, mean context)``; every sequence gains one token.
- **Chunked prefill** (pool option): every iteration carries one token per decoding sequence plus prompt
  chunks filling the rest of ``token_budget``, in one forward pass (TensorRT-LLM in-flight batching, vLLM /
  SGLang chunked prefill): with a step model that has ``mixed_time`` (``inference.StepModel``) its time is
  that fused step (weights read once, attention per request; :meth:`StepCache.mixed`); a step model
  without it (:class:`LinearStepModel`) adds ``prefill_time(chunk tokens, chunks) + decode_time(batch, mean
  context)``.
- **KV-cache admission**: a request reserves prompt + output tokens of KV cache on admission (no
  preemption); capacity is the ``kv_capacity_tokens`` of the pool, else :func:`fleet.pool.kv_capacity_tokens`
  of its step model (declared, or free bytes after weights and activations over KV bytes per token).
- **Disaggregation**: a prefill-pool replica prefills (its end is the first token, as in Splitwise and
  DistServe), then the request's KV cache, ``kv_bytes_per_token x prompt`` bytes of the *prefill* pool's
  model, crosses the KV network (:class:`KVNetwork`, max-min fair with every other transfer in flight) to
  the decode replica the router picked; there it waits for a slot and decodes. The transfer and the wait
  show in the request's TPOT (and in ``kv_time``).
- Decode iterations with an unchanged batch are simulated together (a "macro step": up to the next
  completion, interrupted at the next iteration boundary when a request arrives that could be admitted),
  so the cost is per request and per batch change, never per token, with the same times as stepping one
  by one. Chunked-prefill iterations in which the oldest prompt fills the whole chunk budget are advanced
  the same way (closed form), so a token budget of 1 costs no more events than a large one.
- Before anything is allocated, the run's memory is estimated (:func:`check_serving_size`) and a run over
  :data:`MEMORY_BUDGET`, or over :data:`REQUEST_BUDGET` requests (the simulation's work, ~50 us of one core
  per request), is a :class:`CapacityError` naming the largest fleet or trace that fits.

Metrics: TTFT = first token - arrival; TPOT = (finish - first token) / (output - 1) (requests of one
output token have none); end-to-end latency = finish - arrival. A request meets the SLOs when TTFT <=
``slo_ttft`` and TPOT <= ``slo_tpot``; goodput = such requests / makespan (s). Cost: the fleet's $/h over
the makespan (first arrival at t=0 to last completion) divided by tokens served.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from topo import CapacityError, ScaleupError, SpecError

from .kvnet import KVNetwork, build_kv_fabric
from .pool import Pool, RequestView, no_kv_reason
from .routers import ROUTER_SIGNATURE, ROUTERS, get_router
from .spec import FleetSpec, PoolSpec, load_fleet
from .stepmodel import LinearStepModel, StepModelLike, StepModelWrapper
from .trace import (
    Trace,
    _check_seed,
    _count,
    _fixed_lengths,
    check_burstiness,
    closed_loop_trace,
    load_trace,
    poisson_trace,
)

__all__ = ["MEMORY_BUDGET", "REQUEST_BUDGET", "GapHistogram", "Pool", "RequestView", "ServingResult", "build_step_model", "check_csv_path",
           "check_serving_size", "simulate_serving"]

_STEP_MODELS: dict[tuple, StepModelLike] = {}

#: memory one simulation may use, bytes: a run estimated above it is refused before anything is allocated
#: (a fixed budget, not the free memory, so the same inputs always give the same answer)
MEMORY_BUDGET = 4 * 2**30
#: bytes per request and per replica, rounded up from tracemalloc peaks of whole runs (222 B per request;
#: 2.1 KB per colocated replica, 4.1 KB per disaggregated replica with its KV-network endpoint)
BYTES_PER_REQUEST = 512
BYTES_PER_REPLICA = 4096
BYTES_PER_KV_ENDPOINT = 4096
#: requests one simulation may take, a fixed budget of work (so the same input always gets the same answer): the
#: iteration-level simulation costs ~50-75 us of one core per request of a colocated fleet (scaleup serve --fleet
#: colocated-maia200 --model llama3.1-8b --rate 100000: 5.3 s per 100k requests, linear from 100k to 400k;
#: single-h100 --rate 10: 7.5 s per 100k; 2 cores shared, Dec 2026), so the budget is ~4-6 minutes (an hour of 1,000
#: requests/s fits); --rate 100000 --duration 60s (6 M requests) ran ~5 minutes with no output before it was refused
REQUEST_BUDGET = 5_000_000
#: a disaggregated request costs ~4 colocated ones (its KV handoff is a flow of the max-min KV network:
#: disagg-gb200-maia200 --rate 2000: 21 s per 100k requests)
DISAGG_REQUEST_COST = 4
#: the cost per colocated request the refusal's message quotes, s of one core
SECONDS_PER_REQUEST = 50e-6
#: arrival window of a Poisson ``rate`` given without a ``duration``, s (``scaleup serve --duration``'s default)
DEFAULT_DURATION = 600.0


def check_serving_size(n_requests: float, n_replicas: int, disaggregated: bool = False,
                       rate: float | None = None, field: str = "trace") -> None:
    """Refuse a run whose estimated memory exceeds :data:`MEMORY_BUDGET`, or whose simulation work exceeds
    :data:`REQUEST_BUDGET`, naming the largest that fits.

    Memory: ``n_requests x BYTES_PER_REQUEST + n_replicas x (BYTES_PER_REPLICA [+ BYTES_PER_KV_ENDPOINT
    when disaggregated])`` bytes. Work: ``n_requests`` (x :data:`DISAGG_REQUEST_COST` when disaggregated)
    against :data:`REQUEST_BUDGET`. ``rate`` (requests/s of a synthetic trace) lets the message name the
    longest duration that fits; ``field`` names the input a message blames for too many requests (``trace``;
    ``requests`` for a closed loop).

    Raises:
        CapacityError: naming the replicas or the requests (duration) to cut.
    """
    if not (math.isfinite(n_requests) and math.isfinite(n_replicas)):
        bad = "replicas" if not math.isfinite(n_replicas) else "rate x duration" if rate else field
        raise SpecError(f"{bad}: {n_requests:g} requests on {n_replicas:g} replicas is not a finite run; "
                        "give a finite rate, duration and replica count")
    per_rep = BYTES_PER_REPLICA + (BYTES_PER_KV_ENDPOINT if disaggregated else 0)
    rep_bytes = float(n_replicas) * per_rep
    req_bytes = float(n_requests) * BYTES_PER_REQUEST
    cost = DISAGG_REQUEST_COST if disaggregated else 1
    most_work = REQUEST_BUDGET // cost
    over_memory = rep_bytes + req_bytes > MEMORY_BUDGET
    if not over_memory and n_requests <= most_work:
        return
    need = f"~{(rep_bytes + req_bytes) / 2**30:,.1f} GiB, more than the {MEMORY_BUDGET / 2**30:g} GiB budget"
    if over_memory and rep_bytes >= req_bytes:
        most = max(0, int((MEMORY_BUDGET - req_bytes) // per_rep))
        raise CapacityError(
            f"replicas: {int(n_replicas):,} replicas (with {int(n_requests):,} requests) need {need}; the largest "
            f"fleet that fits has {most:,} replicas in all"
        )
    most = min(max(0, int((MEMORY_BUDGET - rep_bytes) // BYTES_PER_REQUEST)), most_work)
    if n_requests > most_work:  # the simulation would run for many minutes without a word
        work = (f"~{n_requests * cost * SECONDS_PER_REQUEST / 60:,.0f} min of simulation on one core (~"
                f"{cost * SECONDS_PER_REQUEST * 1e6:.0f} us per {'disaggregated ' if disaggregated else ''}request), "
                f"more than the {most_work:,}-request budget of one run")
        need = f"{need}, and {work}" if over_memory else work
    if rate:  # a duration whose Poisson draw stays within the most (6 standard deviations below it)
        longest = max(0.0, most - 6 * math.sqrt(most)) / rate
        longest_text = f"{int(longest):,}" if longest >= 10 else f"{math.floor(longest * 1e3) / 1e3:g}"
        raise CapacityError(
            f"rate x duration: {int(n_requests):,} requests (on {int(n_replicas):,} replicas) need {need}; the "
            f"largest trace that fits has {most:,} requests, a duration of {longest_text} s at {rate:g} requests/s"
        )
    raise CapacityError(
        f"{field}: {int(n_requests):,} requests (on {int(n_replicas):,} replicas) need {need}; the largest "
        f"{'trace' if field == 'trace' else 'run'} that fits has {most:,} requests"
    )


class _Priced(StepModelWrapper):
    """A step model with its replica price replaced ($/h = price per chip-hour x chips)."""

    def __init__(self, inner: StepModelLike, price_per_chip_hour: float) -> None:
        super().__init__(inner)
        self._price = float(price_per_chip_hour)

    @property
    def cost_per_hour(self) -> float:
        return self._price * self._inner.chips

    @property
    def network_cost_per_hour(self) -> float:
        return 0.0  # a given $/chip-hour is all-in: no network part apart

    @property
    def network_unpriced(self) -> str:
        return ""  # all-in: whether the fabric file prices its network does not matter

    @property
    def price_basis(self) -> str:
        """Where the replica's $/h comes from, as ``scaleup infer``'s cost basis says a given price: all-in, the
        fabric's network capex per chip (switches, optics: :func:`topo.network_capex`) not added."""
        dep = getattr(self._inner, "deployment", None)
        net = float(dep.network_capex_per_chip()) if callable(getattr(dep, "network_capex_per_chip", None)) else 0.0
        return (f"{self._price:g} $/chip-hour (given, all-in"
                + (f": the fabric's network capex {net:,.0f} $ per chip not added" if net > 0 else "") + ")")


def build_step_model(pool: PoolSpec, model: Any = None) -> StepModelLike:
    """The step model of one replica of ``pool`` (memoised across calls).

    A pool with ``step_model`` gets a :class:`LinearStepModel`; otherwise ``inference.StepModel(model,
    fabric, tp=..., ep=..., stack=..., ...)`` (``stack``: the pool's serving stack, None for inference's
    default). A pool ``price`` ($/chip-hour) overrides the model's own price.
    """
    m = pool.model or model
    key = (str(m) if pool.step_model is None else None, pool.fabric, pool.tp, pool.ep, pool.pp, pool.dtype,
           pool.kv_dtype, pool.stack, pool.speculative, pool.step_model, pool.price)
    hit = _STEP_MODELS.get(key)
    if hit is not None:
        return hit
    if pool.step_model is not None:
        kw: dict[str, Any] = dict(pool.step_model)
        kw["chips"] = int(kw.get("chips", max(pool.tp, pool.ep) * pool.pp))
        try:
            inner: StepModelLike = LinearStepModel(**kw)
        except SpecError as exc:
            raise SpecError(f"pool {pool.name!r}: step_model: {exc}") from None
    else:
        if m is None:
            raise SpecError(f"pool {pool.name!r}: no model; pass --model or set 'model' in the fleet YAML")
        ikey = key[:-2]
        inner = _STEP_MODELS.get(ikey)  # type: ignore[assignment]
        if inner is None:
            try:
                from inference import StepModel  # type: ignore[attr-defined]
            except ImportError:
                raise SpecError(
                    f"pool {pool.name!r}: inference.StepModel is not available in this build; give the pool "
                    "a 'step_model' (LinearStepModel parameters) instead of 'fabric'"
                ) from None
            skw: dict[str, Any] = {"tp": pool.tp, "ep": pool.ep, "pp": pool.pp, "dtype": pool.dtype}
            if pool.kv_dtype is not None:
                skw["kv_dtype"] = pool.kv_dtype
            if pool.stack is not None:
                skw["stack"] = pool.stack
            if pool.speculative is not None:
                skw["speculative"] = pool.speculative
            try:
                inner = StepModel(m, pool.fabric, **skw)
            except SpecError as exc:
                if pool.speculative is None:
                    raise
                raise SpecError(f"pool {pool.name!r}: {exc}") from None
            _STEP_MODELS[ikey] = inner
    out = _Priced(inner, pool.price) if pool.price is not None else inner
    if len(_STEP_MODELS) > 1024:
        _STEP_MODELS.clear()
    _STEP_MODELS[key] = out
    return out


class GapHistogram:
    """Inter-token latencies (ITL) of a run: every gap between two consecutive tokens of a request, s, pooled over
    all requests as vLLM's ``benchmark_serving.py`` pools them (a request of O output tokens has O - 1 gaps; under
    speculative decoding ceil((O - 1) / E), one per decode iteration, whose E tokens arrive as one streamed chunk, as
    vLLM's client records them; the
    first is from its first token to its second, so a disaggregated request's first gap holds its KV transfer).

    The simulation adds each gap with its multiplicity (a decode iteration of b sequences is b gaps of its time),
    so the cost is per iteration, never per token. Count, sum (so the mean), min and max are exact; the percentiles
    come from a log-spaced histogram of :data:`PER_DECADE` bins per decade (a bin spans 0.023 %) from 10^LO s,
    read as ``numpy.percentile``'s default (linear between the two nearest ranks), each rank's value the mean of
    the gaps in its bin: exact where a bin holds one distinct gap (decode iterations of one shape), else within
    0.023 % of ``numpy.percentile`` of the gaps. Memory is fixed during a run (the bins, ~2.6 MB, and a buffer
    flushed every :data:`FLUSH` values) and a few kB after it (:meth:`compact`)."""

    LO = -7  # 0.1 us
    HI = 9   # ~30 years
    PER_DECADE = 10_000
    FLUSH = 1 << 18

    def __init__(self) -> None:
        self.counts = np.zeros((self.HI - self.LO) * self.PER_DECADE, dtype=np.float64)
        self.sums = np.zeros_like(self.counts)  # gaps x weights per bin, s
        self.n = 0
        self.total = 0.0
        self.lo = math.inf
        self.hi = -math.inf
        # gaps not yet binned: single values and their weights; arrays and the weight of each array's values
        self._sv: list[float] = []
        self._sw: list[int] = []
        self._av: list[np.ndarray] = []
        self._aw: list[int] = []
        self._pending = 0
        self._nz = np.zeros(0, dtype=np.int64)  # compacted bins (:meth:`compact`): indices and counts
        self._cnt = np.zeros(0)
        self._sum = np.zeros(0)

    def add(self, gap: float, weight: int) -> None:
        """``weight`` gaps of ``gap`` s."""
        self._sv.append(gap)
        self._sw.append(weight)
        self._pending += 1
        if self._pending >= self.FLUSH:
            self._flush()

    def add_array(self, gaps: np.ndarray, weight: int) -> None:
        """``weight`` gaps of each of ``gaps`` s (kept by reference until the next flush: not to be modified)."""
        if not len(gaps):
            return
        self._av.append(gaps)
        self._aw.append(weight)
        base = gaps.base  # a view keeps its whole array alive until the flush: count that, so memory stays bounded
        self._pending += gaps.size if not isinstance(base, np.ndarray) else max(gaps.size, base.size)
        if self._pending >= self.FLUSH:
            self._flush()

    def _flush(self) -> None:
        """Bin the buffered gaps (and update the exact count, sum, min and max)."""
        if not self._pending:
            return
        if self.counts is None:  # compacted: back to the dense bins
            self.counts = np.zeros((self.HI - self.LO) * self.PER_DECADE, dtype=np.float64)
            self.sums = np.zeros_like(self.counts)
            self.counts[self._nz], self.sums[self._nz] = self._cnt, self._sum
        vals = np.concatenate([np.asarray(self._sv, dtype=np.float64)] + [np.asarray(a, dtype=np.float64)
                                                                           for a in self._av])
        wts = np.concatenate([np.asarray(self._sw, dtype=np.float64),
                              np.repeat(np.asarray(self._aw, dtype=np.float64), [a.size for a in self._av])])
        self._sv, self._sw, self._av, self._aw, self._pending = [], [], [], [], 0
        if not len(vals):
            return
        self.n += int(wts.sum())
        self.total += float(vals @ wts)
        self.lo, self.hi = min(self.lo, float(vals.min())), max(self.hi, float(vals.max()))
        with np.errstate(divide="ignore"):
            idx = np.floor((np.log10(np.maximum(vals, 1e-300)) - self.LO) * self.PER_DECADE)
        idx = np.clip(idx, 0, len(self.counts) - 1).astype(np.int64)
        self.counts += np.bincount(idx, weights=wts, minlength=len(self.counts))
        self.sums += np.bincount(idx, weights=vals * wts, minlength=len(self.counts))

    def compact(self) -> GapHistogram:
        """Keep only the bins that hold gaps (a finished run's histogram: kB instead of 1.3 MB); returns self."""
        self._flush()
        if self.counts is not None:
            self._nz = np.flatnonzero(self.counts)
            self._cnt, self._sum = self.counts[self._nz], self.sums[self._nz]
            self.counts = self.sums = None  # type: ignore[assignment]
        return self

    def percentiles(self, qs: Sequence[float]) -> list[float]:
        """The ``qs`` percentiles (0-100) of the gaps, s (NaN when there are none)."""
        self.compact()
        if not self.n:
            return [math.nan for _ in qs]
        nz = self._nz
        cum = np.cumsum(self._cnt)
        centre = np.clip(self._sum / self._cnt, self.lo, self.hi)  # each bin's mean gap

        def at(rank: int) -> float:  # the value of the rank-th smallest gap (0-based)
            return float(centre[min(int(np.searchsorted(cum, rank + 1, side="left")), len(nz) - 1)])

        out = []
        for q in qs:
            pos = q / 100.0 * (self.n - 1)
            k = math.floor(pos)
            v = at(k)
            if pos > k:
                v += (pos - k) * (at(k + 1) - v)
            out.append(v)
        return out

    def stats(self) -> dict[str, float]:
        """``{"mean", "p50", "p90", "p99"}`` of the gaps, s (NaN when there are none, as :meth:`ServingResult._pct`)."""
        p50, p90, p99 = self.percentiles([50, 90, 99])  # flushes the buffer: n and total are then complete
        return {"mean": self.total / self.n if self.n else math.nan, "p50": p50, "p90": p90, "p99": p99}


class _Sim:
    """Holds the arrays and objects of one run (internal)."""

    def __init__(self, env: simpy.Environment, trace: Trace, pools: list[Pool], router: Callable,
                 kvnet: KVNetwork | None, macro_cap: int, closed: ClosedLoop | None = None) -> None:
        self.env = env
        #: the closed loop (None: open-loop arrivals); its arrival times are filled in as the run goes
        self.closed = closed
        self.next_rid = 0
        #: a rate-limited open loop (``closed.rate_limited``): requests in flight, and those the client holds
        #: (FIFO) until one completes, as vLLM's ``benchmark_serving`` semaphore (``--max-concurrency``)
        self.in_flight = 0
        self.waiting: deque[int] = deque()
        #: closed loop, no think time: requests released by completions, sent once the replica that completed them
        #: has updated its batch and load (:meth:`flush_sends`), so a router sees every completion of that instant
        self.pending: list[int] = []
        self.pools = pools
        self.router = router
        self.kvnet = kvnet
        self.macro_cap = macro_cap
        n = len(trace)
        self.arrival = trace.arrival.copy() if closed is not None else trace.arrival
        self.prompt = trace.prompt
        self.output = trace.output
        self.prompt_l = trace.prompt.tolist()
        self.output_l = trace.output.tolist()
        nan = np.full(n, np.nan)
        self.t_admit = nan.copy()       # prefill admission (s)
        self.t_first = nan.copy()       # first token (s)
        self.t_finish = nan.copy()      # last token (s)
        self.t_kv_start = nan.copy()    # KV transfer start (s), disaggregated only
        self.t_kv_end = nan.copy()      # KV arrival at the decode replica (s)
        self.t_dec_admit = nan.copy()   # decode admission (s), disaggregated only
        self.pool_p = np.full(n, -1, dtype=np.int64)
        self.rep_p = np.full(n, -1, dtype=np.int64)
        self.pool_d = np.full(n, -1, dtype=np.int64)
        self.rep_d = np.full(n, -1, dtype=np.int64)
        self.finished = np.zeros(n, dtype=np.int64)
        self.generated = np.zeros(n, dtype=np.int64)
        self.itl = GapHistogram()  # every inter-token gap of the run
        self.prefill_pools = [p for p in pools if p.role in ("colocated", "prefill")]
        self.decode_pools = [p for p in pools if p.role == "decode"]

    # ------------------------------------------------------------------ routing
    def _choose(self, rid: int, phase: str) -> tuple[Pool, int]:
        cands = self.prefill_pools if phase == "prefill" else self.decode_pools
        view = RequestView(rid, float(self.arrival[rid]), self.prompt_l[rid], self.output_l[rid], phase)
        try:
            choice: Any = self.router(view, cands)
        except (ScaleupError, AssertionError):
            raise
        except Exception as exc:
            if type(self.router) in ROUTERS.values():
                raise  # a built-in router failing is a bug, not a user error
            raise SpecError(f"router: {getattr(self.router, '__name__', self.router)!r} raised "
                            f"{type(exc).__name__}: {exc}; {ROUTER_SIGNATURE}") from None
        replica = None
        if isinstance(choice, tuple):
            choice, replica = choice
        pool = _resolve_pool(choice, cands, phase)
        if replica is None:
            replica = int(np.argmin(pool.load))
        elif not (0 <= int(replica) < pool.n):
            raise SpecError(f"router: replica {replica!r} out of range for pool {pool.name!r} (0..{pool.n - 1})")
        return pool, int(replica)

    def arrivals(self):  # simpy process
        env = self.env
        closed = self.closed
        if closed is not None and closed.rate_limited:  # open-loop schedule, at most C in flight (finish)
            cap, waiting = closed.concurrency, self.waiting
            for rid, t in enumerate(self.arrival.tolist()):
                if t > env.now:
                    yield env.timeout(t - env.now)
                if self.in_flight < cap and not waiting:  # sent on schedule: its arrival stays t
                    self.in_flight += 1
                    self.submit(rid)
                else:  # held by the client until a completion frees a slot (its arrival is then the send)
                    waiting.append(rid)
            return
        if closed is not None:  # closed loop: C requests at t = 0, then one per completion (finish)
            self.next_rid = min(self.closed.concurrency, len(self.arrival))
            for rid in range(self.next_rid):
                self.submit(rid)
            return
        arr = self.arrival.tolist()
        for rid, t in enumerate(arr):
            if t > env.now:
                yield env.timeout(t - env.now)
            self.submit(rid)

    def submit(self, rid: int) -> None:
        """Request ``rid`` arrives now: route it to a prefill (or colocated) replica's queue."""
        pool, r = self._choose(rid, "prefill")
        self.pool_p[rid] = pool.index
        self.rep_p[rid] = pool.offset + r
        pool.replicas[r].enqueue(rid)

    def handoff(self, rid: int, src: _Replica) -> None:
        """Prefill done on a prefill-pool replica: route to a decode replica, move the KV cache."""
        pool, r = self._choose(rid, "decode")
        self.pool_d[rid] = pool.index
        self.rep_d[rid] = pool.offset + r
        dst = pool.replicas[r]
        pool.load[r] += self.prompt_l[rid] + self.output_l[rid]
        size = src.pool.kv_bytes_per_token * self.prompt_l[rid]
        self.t_kv_start[rid] = self.env.now
        assert self.kvnet is not None

        def arrived(rid: int = rid, dst: _Replica = dst, src: _Replica = src) -> None:
            self.t_kv_end[rid] = self.env.now
            src.release(rid)
            dst.enqueue(rid)

        self.kvnet.transfer(src.pool.offset + src.idx, pool.offset + r, size, on_arrival=arrived)

    def finish(self, rid: int) -> None:
        """Request ``rid`` has its last token now; in a closed loop the next request is released (at once, or
        after the think time), its arrival time recorded."""
        now = self.env.now
        self.t_finish[rid] = now
        self.finished[rid] += 1
        if self.closed is not None and self.closed.rate_limited:  # a slot frees: the longest-held request goes
            self.in_flight -= 1
            if self.waiting:
                nxt = self.waiting.popleft()
                self.in_flight += 1
                self.arrival[nxt] = now
                self.pending.append(nxt)
        elif self.closed is not None and self.next_rid < len(self.arrival):
            nxt = self.next_rid
            self.next_rid += 1
            think = self.closed.think_s
            self.arrival[nxt] = now + think
            if think > 0:
                self.env.timeout(think).callbacks.append(lambda _e, nxt=nxt: self.submit(nxt))
            else:
                self.pending.append(nxt)

    def flush_sends(self) -> None:
        """Send the requests released by the completions of a replica's pass (closed loop; same instant, in order)."""
        sends, self.pending = self.pending, []
        for rid in sends:
            self.submit(rid)


def _resolve_pool(choice: Any, cands: Sequence[Pool], phase: str) -> Pool:
    if isinstance(choice, Pool):
        if choice in cands:
            return choice
    elif isinstance(choice, str):
        for p in cands:
            if p.name == choice:
                return p
    elif isinstance(choice, (int, np.integer)) and 0 <= int(choice) < len(cands):
        return cands[int(choice)]
    names = ", ".join(p.name for p in cands)
    raise SpecError(f"router: returned {choice!r} for a {phase} placement; expected one of the pools {names}")


class _Replica:
    """One replica's scheduler loop (simpy process). See the module docstring for the policy."""

    def __init__(self, sim: _Sim, pool: Pool, idx: int) -> None:
        self.sim = sim
        self.env = sim.env
        self.pool = pool
        self.idx = idx
        spec = pool.spec
        self.role = pool.role
        self.batch = spec.batch
        self.budget = spec.token_budget
        self.chunked = spec.chunked_prefill and pool.role == "colocated"
        self.kv_cap = pool.kv_capacity
        #: tokens each decoding sequence gains per decode iteration (speculative decoding: the expected accepted
        #: length E; 1 without): a sequence's ``run_rem`` counts iterations, ceil(tokens left / E) (:meth:`_iters`)
        self.tpe = pool.tokens_per_step
        self.queue: deque[int] = deque()
        self.queued_tokens = 0
        self.run_ids: list[int] = []
        self.run_rem: list[int] = []
        self.ctx_sum = 0
        self.slot_iters = 0  # decoding sequences summed over iterations
        self.slot_ctx = 0  # their contexts (tokens) summed likewise
        self.pre: list[list[int]] = []  # chunked: [rid, prompt tokens done]
        self.t_tok = 0.0  # end of the last iteration that gave every running sequence a token (s)
        self.fresh: list[float] = []  # first-token times (s) of the sequences that joined the batch since then
        self.kv_used = 0.0  # KV-cache tokens reserved by the admitted requests
        self.kv_peak = 0.0  # most reserved at once, tokens
        self.kv_area = 0.0  # reserved tokens x s, integrated up to kv_t
        self.kv_t = 0.0
        self.busy = 0.0
        self.wake: simpy.Event | None = None
        self.n_iter = 0
        self.n_passes = 0  # scheduler passes: iterations or runs of iterations simulated as one event, and waits
        self.proc = self.env.process(self.run())

    def _iters(self, tokens: int) -> int:
        """Decode iterations that emit ``tokens`` (>= 1) tokens at :attr:`tpe` per iteration: each sequence carries
        its fractional tokens, so after j iterations it has emitted floor(j E) (the last iteration only what is
        left): ceil(tokens / E) iterations, exactly ``tokens`` tokens (a relative 1e-9 absorbs E's rounding)."""
        if self.tpe == 1.0:
            return tokens
        return max(1, math.ceil(tokens / self.tpe * (1.0 - 1e-9)))

    # ------------------------------------------------------------------ admission
    def _need(self, rid: int) -> float:
        if self.role == "prefill":
            return self.sim.prompt_l[rid]
        return self.sim.prompt_l[rid] + self.sim.output_l[rid]

    def can_admit(self) -> bool:
        if not self.queue:
            return False
        if len(self.run_ids) + len(self.pre) >= self.batch:
            return False
        return self.kv_used + self._need(self.queue[0]) <= self.kv_cap

    def enqueue(self, rid: int) -> None:
        self.queue.append(rid)
        if self.role != "decode":
            self.queued_tokens += self.sim.prompt_l[rid]
            self.pool.load[self.idx] += self.sim.prompt_l[rid] + (self.sim.output_l[rid] if self.role == "colocated" else 0)
        self.pool.queued[self.idx] += 1
        w = self.wake
        if w is not None and not w.triggered and self.can_admit():
            w.succeed()

    def _pop(self) -> int:
        rid = self.queue.popleft()
        self.pool.queued[self.idx] -= 1
        if self.role != "decode":
            self.queued_tokens -= self.sim.prompt_l[rid]
        self._kv_add(self._need(rid))
        return rid

    def _kv_add(self, tokens: float) -> None:
        """Reserve (``tokens`` > 0) or free KV-cache tokens now, integrating the reservation over time."""
        now = self.env.now
        self.kv_area += self.kv_used * (now - self.kv_t)
        self.kv_t = now
        self.kv_used += tokens
        if self.kv_used > self.kv_peak:
            self.kv_peak = self.kv_used

    def release(self, rid: int) -> None:
        """Free a prefill replica's KV reservation once the cache has left (disaggregated)."""
        self._kv_add(-self.sim.prompt_l[rid])
        self.pool.load[self.idx] -= self.sim.prompt_l[rid]
        w = self.wake
        if w is not None and not w.triggered and self.can_admit():
            w.succeed()

    # ------------------------------------------------------------------ completions
    def _start_decode(self, rid: int, now: float) -> None:
        """A request has its first token on this replica: decode here, hand off, or finish."""
        sim = self.sim
        out = sim.output_l[rid]
        if self.role == "prefill":
            if out > 1:
                sim.handoff(rid, self)
            else:
                sim.generated[rid] = 1
                self.release(rid)
                sim.finish(rid)
            return
        if out <= 1:
            sim.generated[rid] = 1
            self._free(rid)
            sim.finish(rid)
            return
        self.run_ids.append(rid)
        self.run_rem.append(self._iters(out - 1))
        self.ctx_sum += sim.prompt_l[rid] + 1
        self.fresh.append(now)

    def _free(self, rid: int) -> None:
        need = self._need(rid)
        self._kv_add(-need)
        self.pool.load[self.idx] -= need

    # ------------------------------------------------------------------ the loop
    def run(self):
        """Scheduler loop (simpy process): one iteration, or a wait for work, per pass."""
        while True:
            self.n_passes += 1
            if not self.queue and not self.run_ids and not self.pre:
                yield from self._sleep()
            elif self.role == "decode":
                yield from self._decode_iteration()
            elif self.chunked:
                yield from self._chunked_iteration()
            elif self.can_admit():
                yield from self._prefill_iteration()
            elif self.run_ids:
                yield from self._decode_macro()
            else:  # queue non-empty but nothing admissible and nothing running: wait for a release
                yield from self._sleep()
            if self.sim.pending:  # this pass's completions release closed-loop sends: route them now that the
                self.pool.running[self.idx] = len(self.run_ids) + len(self.pre)  # batch and load are up to date
                self.sim.flush_sends()

    def _sleep(self):
        """Wait until :meth:`enqueue` or :meth:`release` wakes the replica (new work or freed KV)."""
        self.wake = self.env.event()
        yield self.wake
        self.wake = None

    def _decode_iteration(self):
        """Decode-role replica: admit arrived KV caches (no compute), then decode the batch (or sleep)."""
        sim = self.sim
        while self.can_admit():
            rid = self._pop()
            sim.t_dec_admit[rid] = self.env.now
            self.run_ids.append(rid)
            self.fresh.append(float(sim.t_first[rid]))  # its first token came from the prefill replica
            self.run_rem.append(self._iters(sim.output_l[rid] - 1))
            self.ctx_sum += sim.prompt_l[rid] + 1
        self.pool.running[self.idx] = len(self.run_ids)
        if not self.run_ids:
            yield from self._sleep()
            return
        yield from self._decode_macro()

    def _chunked_iteration(self):
        """Chunked prefill (colocated): one token per decoding sequence plus prompt chunks up to the budget.

        Time: ``mixed(chunk tokens, chunks, batch, mean context)`` (:meth:`StepCache.mixed`); prompts whose
        last chunk ran have their first token at the iteration's end."""
        env = self.env
        sim = self.sim
        step = self.pool.step
        while self.can_admit():
            rid = self._pop()
            sim.t_admit[rid] = env.now
            self.pre.append([rid, 0])
        self.pool.running[self.idx] = len(self.run_ids) + len(self.pre)
        if not self.pre:
            yield from self._decode_macro()
            return
        left = self.budget - len(self.run_ids)
        chunks: list[tuple[int, int]] = []
        for i, (rid, done) in enumerate(self.pre):
            if left <= 0:
                break
            c = min(sim.prompt_l[rid] - done, left)
            chunks.append((i, c))
            left -= c
        b = len(self.run_ids)
        if not chunks:  # decodes fill the token budget: decode-only iterations until the batch changes
            yield from self._decode_macro()
            return
        head_rid, head_done = self.pre[0]
        rest, chunk = sim.prompt_l[head_rid] - head_done, self.budget - b
        if rest > chunk:  # the oldest prompt takes the whole budget for several iterations: one event
            k = min(-(-rest // chunk) - 1, min(self.run_rem) if b else rest, sim.macro_cap)
            if k > 1:
                yield from self._chunk_run(k, chunk, b)
                return
        dt = step.mixed(sum(c for _, c in chunks), len(chunks), b, self.ctx_sum / b if b else 1.0)
        dt += sum(step.prefix(c, self.pre[i][1]) for i, c in chunks if self.pre[i][1])
        yield env.timeout(dt)
        self.busy += dt
        self.n_iter += 1
        now = env.now
        if b:
            self._advance_decodes(1, now)
        completed = []
        for i, c in chunks:
            self.pre[i][1] += c
            if self.pre[i][1] >= sim.prompt_l[self.pre[i][0]]:
                completed.append(i)
        for i in completed:
            rid = self.pre[i][0]
            sim.t_first[rid] = now
            sim.generated[rid] = 1
        done_ids = [self.pre[i][0] for i in completed]
        if completed:
            cs = set(completed)
            self.pre = [x for j, x in enumerate(self.pre) if j not in cs]
        for rid in done_ids:
            self._start_decode(rid, now)

    def _prefill_iteration(self):
        """Prefill-first continuous batching (colocated and prefill pools): admit FCFS up to the token
        budget and prefill them in one iteration, ``prefill(prompt tokens, n)``; its end is their first token."""
        env = self.env
        sim = self.sim
        ids: list[int] = []
        toks = 0
        while self.can_admit():
            p = sim.prompt_l[self.queue[0]]
            if ids and toks + p > self.budget:
                break
            rid = self._pop()
            ids.append(rid)
            toks += p
            self.run_ids.append(-1)  # placeholder so can_admit counts the slot
        del self.run_ids[len(self.run_ids) - len(ids):]
        for rid in ids:
            sim.t_admit[rid] = env.now
        self.pool.running[self.idx] = len(self.run_ids) + len(ids)
        dt = self.pool.step.prefill(toks, len(ids))
        yield env.timeout(dt)
        self.busy += dt
        self.n_iter += 1
        now = env.now
        for rid in ids:
            sim.t_first[rid] = now
            sim.generated[rid] = 1
        for rid in ids:
            self._start_decode(rid, now)
        self.pool.running[self.idx] = len(self.run_ids)

    def _advance_decodes(self, m: int, now: float, t1: float | None = None, rest: np.ndarray | None = None) -> None:
        """Every running sequence gains ``m`` tokens; finish those that reach their output length.

        Inter-token gaps (:class:`GapHistogram`): the first of the ``m`` iterations ended at ``t1`` (s; default
        ``now``), the others took ``rest[:m - 1]`` s each. A sequence's gap at the first is from its previous token:
        the last iteration's end (``t_tok``) for those already running, its first token for those that joined
        since (``fresh``); at each later one, that iteration's time, for all ``b``."""
        sim = self.sim
        b = len(self.run_ids)
        if b:
            itl = sim.itl
            t1 = now if t1 is None else t1
            old = b - len(self.fresh)
            if old:
                itl.add(t1 - self.t_tok, old)
            for tf in self.fresh:
                itl.add(t1 - tf, 1)
            self.fresh = []
            if m > 1:
                itl.add_array(rest[:m - 1], b)  # type: ignore[index]
            self.t_tok = now
        # decode slots x iterations and their contexts (iteration i of the m sees ctx_sum + b E i)
        e = self.tpe
        self.slot_iters += b * m
        if e == 1.0:
            self.slot_ctx += m * self.ctx_sum + b * m * (m - 1) // 2
            self.ctx_sum += b * m
        else:
            self.slot_ctx += m * self.ctx_sum + b * e * m * (m - 1) / 2
            self.ctx_sum += b * m * e
        rem = [r - m for r in self.run_rem]  # a comprehension, not an indexed loop: this is the hot path
        self.run_rem = rem
        if b and min(rem) <= 0:
            keep_ids = [rid for rid, r in zip(self.run_ids, rem) if r > 0]
            keep_rem = [r for r in rem if r > 0]
            for rid, r in zip(self.run_ids, rem):  # finished in batch order, the batch lists as they were
                if r <= 0:
                    sim.generated[rid] = sim.output_l[rid]
                    if e == 1.0:
                        self.ctx_sum -= sim.prompt_l[rid] + sim.output_l[rid]
                    else:  # the context the model was charged: prompt + 1 + E per iteration
                        self.ctx_sum -= sim.prompt_l[rid] + 1 + self._iters(sim.output_l[rid] - 1) * e
                    self._free(rid)
                    sim.finish(rid)
            self.run_ids = keep_ids
            self.run_rem = keep_rem
            if e != 1.0 and not keep_ids:
                self.ctx_sum = 0.0  # no rounding carried into the next batch
        self.pool.running[self.idx] = len(self.run_ids) + len(self.pre)

    def _decode_macro(self):
        """Decode iterations with an unchanged batch, up to the next completion or admissible arrival."""
        env = self.env
        b = len(self.run_ids)
        k = min(min(self.run_rem), self.sim.macro_cap)
        cbar = self.ctx_sum / b
        if k == 1:
            dt = self.pool.step.decode1(b, cbar)
            yield env.timeout(dt)
            self.busy += dt
            self.n_iter += 1
            self._advance_decodes(1, env.now)
            return
        times = self.pool.step.decode(b, cbar + self.tpe * np.arange(k))
        t0 = env.now
        m, end = yield from self._timed_run(np.cumsum(times))
        self.busy += end
        self.n_iter += m
        self._advance_decodes(m, self.env.now, t0 + float(times[0]), times[1:])

    def _timed_run(self, cum: np.ndarray):
        """Run identical-shape iterations ending at ``t0 + cum`` (s), cut at the first iteration boundary after
        an admissible arrival (or at once if one is already admissible). Returns (iterations run, time s)."""
        env = self.env
        k = len(cum)
        total = float(cum[-1])
        t0 = env.now
        wake = env.event()
        self.wake = wake
        if self.can_admit():  # e.g. a release happened: do not start a long macro step
            wake.succeed()
        else:
            env.timeout(total).callbacks.append(lambda _e: wake.succeed() if not wake.triggered else None)
        yield wake
        self.wake = None
        elapsed = env.now - t0
        if elapsed >= total * (1 - 1e-12):
            return k, total
        m = min(int(np.searchsorted(cum, elapsed, side="left")) + 1, k)
        end = float(cum[m - 1])
        if end > elapsed:
            yield env.timeout(end - elapsed)
        return m, end

    def _chunk_run(self, k: int, chunk: int, b: int):
        """Up to ``k`` identical chunked-prefill iterations in one event (closed form): each runs ``chunk``
        prompt tokens of the oldest prefilling request (which none of them completes) plus one token for
        each of ``b`` decoding sequences (which none finishes before the last), so iteration ``j`` takes
        ``mixed(chunk, 1, b, mean context + j)``, exactly as stepping one by one."""
        step = self.pool.step
        times = step.mixed(chunk, 1, b, (self.ctx_sum / b if b else 1.0) + self.tpe * np.arange(k))
        times = times + step.prefix(chunk, self.pre[0][1] + chunk * np.arange(k))
        t0 = self.env.now
        m, end = yield from self._timed_run(np.cumsum(times))
        self.busy += end
        self.n_iter += m
        if b:
            self._advance_decodes(m, self.env.now, t0 + float(times[0]), times[1:])
        self.pre[0][1] += m * chunk


def _cell(v: float) -> str:
    """A latency-table figure that fits its 10-wide column with a space to spare: 3 decimals below 1e5,
    4 significant digits beyond (a KV network of 400 bytes/s gives TPOTs of 1e10 ms, which ran together)."""
    return f"{v:.3f}" if abs(v) < 1e5 else f"{v:.4g}"


@dataclass
class ServingResult:
    """Outcome of :func:`simulate_serving` (times in s, cost in $).

    Per-request arrays (trace order): ``arrival``, ``prompt``, ``output``, ``ttft``, ``tpot`` (NaN for
    one-token outputs), ``latency`` (end to end), ``queue_delay`` (arrival to prefill admission),
    ``kv_time`` (KV transfer, NaN when colocated), ``prefill_replica``, ``decode_replica`` (global
    replica indices; decode = prefill when colocated), ``met_slo`` (bool).

    ``makespan``: t = 0 to the last completion, s; ``duration``: t = 0 to the last arrival, s (0 when every
    request arrives at t = 0; :attr:`offered_rate` is then NaN, undefined). ``sim_events``: scheduler
    events of all replicas (iterations, runs of iterations simulated as one, and waits).

    ``concurrency``: requests kept in flight by a closed-loop client (None: open-loop arrivals), ``think``
    its think time, s; ``arrival`` then holds the times the client sent each request. ``burstiness``: the gamma
    shape of a synthetic ``rate``'s inter-arrival times (1: Poisson; None: a given trace or a closed loop).
    ``window``: the arrival window a synthetic ``rate`` was drawn over, s (``duration``; None for a given trace or a
    closed loop): :attr:`offered_rate` divides by it. ``scheduled``: a rate limited to ``concurrency`` in flight
    (``vllm bench serve --request-rate R --max-concurrency C``): each request's due time under the rate, s
    (``arrival`` is then its send time, after the client's wait; None otherwise); :attr:`client_wait` the wait. ``itl``: every inter-token gap of the run (:class:`GapHistogram`; :meth:`itl_percentiles`), pooled as vLLM's
    ITL: its mean is the output-token-weighted mean of TPOT, its tail the decode stalls (a prefill iteration
    between two decode iterations lengthens one gap of every running sequence) that TPOT averages away.
    """

    arrival: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    ttft: np.ndarray
    tpot: np.ndarray
    latency: np.ndarray
    queue_delay: np.ndarray
    kv_time: np.ndarray
    prefill_replica: np.ndarray
    decode_replica: np.ndarray
    met_slo: np.ndarray
    finished_count: np.ndarray
    generated: np.ndarray
    slo_ttft: float
    slo_tpot: float
    makespan: float
    duration: float
    pools: list[dict]
    replica_pool: np.ndarray
    replica_busy: np.ndarray
    queue_time: np.ndarray
    queue_len: dict[str, np.ndarray]
    fleet_cost_per_hour: float
    kv_link_bytes: np.ndarray | None = None
    #: the part of ``fleet_cost_per_hour`` that is the pools' fabrics' networks ($/h: switches and optics amortised,
    #: their power; 0 for a given $/chip-hour, all-in, or a fabric without a priced network)
    fleet_network_cost_per_hour: float = 0.0
    kv_transfers: int = 0
    sim_events: int = 0
    extra: dict = field(default_factory=dict)
    concurrency: int | None = None
    think: float = 0.0
    burstiness: float | None = None
    itl: GapHistogram | None = None
    window: float | None = None
    scheduled: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.arrival)

    @property
    def utilisation(self) -> np.ndarray:
        """Busy fraction of each replica over the makespan (global replica order)."""
        return self.replica_busy / self.makespan if self.makespan > 0 else np.zeros_like(self.replica_busy)

    @property
    def client_wait(self) -> np.ndarray:
        """Time each request waited in the client for a slot (send - due time), s: zeros for an open loop without a
        concurrency limit, NaN for a closed loop (it has no schedule)."""
        if self.scheduled is not None:
            return self.arrival - self.scheduled
        return np.full(self.n, np.nan) if self.concurrency is not None else np.zeros(self.n)

    @property
    def goodput(self) -> float:
        """Requests meeting both SLOs per second of makespan, requests/s."""
        return float(self.met_slo.sum()) / self.makespan if self.makespan > 0 else 0.0

    @property
    def throughput(self) -> float:
        """Completed requests per second of makespan, requests/s."""
        return self.n / self.makespan if self.makespan > 0 else 0.0

    @property
    def slo_attainment(self) -> float:
        """Fraction of requests meeting both SLOs."""
        return float(self.met_slo.mean()) if self.n else 0.0

    @property
    def total_cost(self) -> float:
        """Fleet cost over the makespan, $."""
        return self.fleet_cost_per_hour * self.makespan / 3600.0

    @property
    def cost_per_mtok(self) -> float:
        """$ per million output tokens at the achieved load."""
        tok = float(self.generated.sum())
        return self.total_cost / tok * 1e6 if tok else float("inf")

    @property
    def cost_per_mtok_total(self) -> float:
        """$ per million prompt + output tokens at the achieved load."""
        tok = float(self.generated.sum() + self.prompt.sum())
        return self.total_cost / tok * 1e6 if tok else float("inf")

    def itl_percentiles(self, qs: Sequence[float]) -> list[float]:
        """Percentiles (0-100) of the inter-token latency, s, over every gap between two consecutive tokens of
        a request (NaN without any: one-token outputs)."""
        return self.itl.percentiles(qs) if self.itl is not None else [math.nan for _ in qs]

    def _network_share(self) -> float:
        """The network's share of the fleet's $/h (0 to 1)."""
        return self.fleet_network_cost_per_hour / self.fleet_cost_per_hour if self.fleet_cost_per_hour > 0 else 0.0

    @staticmethod
    def _pct(x: np.ndarray) -> dict[str, float]:
        x = x[np.isfinite(x)]
        if not len(x):
            return {"mean": float("nan"), "p50": float("nan"), "p90": float("nan"), "p99": float("nan")}
        p = np.percentile(x, [50, 90, 99])
        return {"mean": float(x.mean()), "p50": float(p[0]), "p90": float(p[1]), "p99": float(p[2])}

    def summary(self) -> dict[str, Any]:
        """Flat dict of the headline figures (SI units, names carry the unit)."""
        out: dict[str, Any] = {
            "requests": self.n,
            "makespan_s": self.makespan,
            "offered_rate_rps": self.offered_rate,
            "load": self.load_text,
            "concurrency": self.concurrency,  # closed loop: requests in flight; None: open loop
            "think_s": self.think if self.concurrency is not None and self.scheduled is None else None,
            "burstiness": self.burstiness,  # gamma shape of a synthetic rate's arrivals (1: Poisson); None otherwise
            "throughput_rps": self.throughput,
            "goodput_rps": self.goodput,
            "slo_attainment": self.slo_attainment,
            "slo_ttft_s": self.slo_ttft,
            "slo_tpot_s": self.slo_tpot,
            "output_tokens": int(self.generated.sum()),
            "output_tokens_per_s": float(self.generated.sum()) / self.makespan if self.makespan else 0.0,
            "fleet_cost_per_hour_usd": self.fleet_cost_per_hour,
            "cost_per_mtok_output_usd": self.cost_per_mtok,
            "cost_per_mtok_total_usd": self.cost_per_mtok_total,
            # the chip / network split of the fleet's $/h and of the $ per M output tokens (as scaleup infer's)
            "chip_cost_per_hour_usd": self.fleet_cost_per_hour - self.fleet_network_cost_per_hour,
            "network_cost_per_hour_usd": self.fleet_network_cost_per_hour,
            "network_cost_per_mtok_output_usd": self._network_share() * self.cost_per_mtok,
            "mean_utilisation": float(self.utilisation.mean()) if len(self.replica_busy) else 0.0,
            **self._occupancy(),
        }
        itl = self.itl.stats() if self.itl is not None else self._pct(np.zeros(0))
        for name, stats in (("ttft", self._pct(self.ttft)), ("tpot", self._pct(self.tpot)), ("itl", itl),
                            ("latency", self._pct(self.latency)), ("queue_delay", self._pct(self.queue_delay)),
                            ("kv_time", self._pct(self.kv_time)), ("client_wait", self._pct(self.client_wait))):
            for k, v in stats.items():
                out[f"{name}_{k}_s"] = v
        out.update(self._curve_figures(out))
        return out

    def _occupancy(self) -> dict[str, float]:
        """The fleet's KV-cache and batch occupancy (what ``mean_utilisation``, the busy fraction, does not say:
        a replica with one sequence in flight is busy): ``kv_mean_fraction``, KV tokens reserved over the makespan
        / the KV capacity of every replica; ``kv_peak_fraction``, the highest of one replica at any time;
        ``mean_batch``, sequences in a replica's batch, time-mean over the replicas; ``mean_batch_fraction``,
        over the batch limits."""
        reps = [(p["replicas"], float(p["kv_capacity_tokens"]), p) for p in self.pools]
        cap_s = sum(n * cap for n, cap, _ in reps) * self.makespan
        n_all = sum(n for n, _, _ in reps)
        return {
            "kv_mean_fraction": sum(p["kv_token_seconds"] for _, _, p in reps) / cap_s if cap_s > 0 else 0.0,
            "kv_peak_fraction": max((p["kv_peak_fraction"] for _, _, p in reps), default=0.0),
            "mean_batch": sum(n * p["mean_batch"] for n, _, p in reps) / n_all if n_all else 0.0,
            "mean_batch_fraction": (sum(n * p["mean_batch"] for n, _, p in reps) / sum(n * p["batch"] for n, _, p in reps)
                                    if n_all else 0.0),
        }

    def _curve_figures(self, s: dict[str, Any]) -> dict[str, Any]:
        """The figures of a latency-throughput curve as serving benchmarks report them (InferenceMAX's
        ``process_result.py`` on ``vllm bench serve`` output): chips of the fleet; prompt + output tokens/s
        (vLLM's ``total_token_throughput``); output and total tokens/s per chip (``output_tput_per_gpu``,
        ``tput_per_gpu``); tokens/s per user = 1 / TPOT of each statistic (``{mean,median,p90,p99}_intvty`` =
        1000 / ``..._tpot_ms``: the P99 figure is that of the P99 TPOT, the slowest users). NaN without a TPOT."""
        chips = sum(int(p["chips_per_replica"]) * int(p["replicas"]) for p in self.pools)
        total = (float(self.prompt.sum()) + float(self.generated.sum())) / self.makespan if self.makespan else 0.0
        out: dict[str, Any] = {
            "chips": chips,
            "total_tokens_per_s": total,
            "output_tokens_per_s_per_chip": s["output_tokens_per_s"] / chips if chips else float("nan"),
            "total_tokens_per_s_per_chip": total / chips if chips else float("nan"),
        }
        for k in ("mean", "p50", "p90", "p99"):
            t = s[f"tpot_{k}_s"]
            out[f"tokens_per_s_per_user_{k}"] = 1.0 / t if np.isfinite(t) and t > 0 else float("nan")
        return out

    @property
    def offered_rate(self) -> float:
        """Offered load, requests/s: requests over the arrival window, the ``duration`` a synthetic rate was
        drawn over (:attr:`window`), else (a given trace) t = 0 to the last arrival.

        NaN (undefined) when every request of a given trace arrives at t = 0: a burst has no rate. Compare the
        throughput with the makespan then. NaN for a closed loop too: its load is ``concurrency`` requests in
        flight, and the rate follows from the fleet's speed (the throughput). (A drawn trace divided by its last
        arrival, not its window: 101 requests of ``--rate 2 --duration 60s`` read 1.70 req/s for 1.68, and 13
        requests that ``--burstiness 0.01`` drew in the first 12 us of a 10 s window read 1,051,434 req/s.)"""
        if self.concurrency is not None and self.scheduled is None:
            return float("nan")
        if self.window:
            return self.n / self.window
        return self.n / self.duration if self.duration > 0 else float("nan")

    @property
    def load_text(self) -> str:
        """The load in words: ``closed loop, C in flight, N requests`` or ``open loop, R req/s offered`` (``, at most
        C in flight`` when the client limits it)."""
        if self.scheduled is not None:
            return (f"open loop, {self._offered_text(self.offered_rate)} offered{self._burst_text()}, at most "
                    f"{self.concurrency} in flight")
        if self.concurrency is not None:
            think = f", think {self.think:g} s" if self.think else ""
            return f"closed loop, {self.concurrency} in flight, {self.n} requests{think}"
        return f"open loop, {self._offered_text(self.offered_rate)} offered{self._burst_text()}"

    def _burst_text(self) -> str:
        """`` (burstiness B)`` for gamma arrivals of a shape other than 1 (Poisson), else empty."""
        return f" (burstiness {self.burstiness:g})" if self.burstiness not in (None, 1.0) else ""

    @staticmethod
    def _offered_text(rate: float) -> str:
        return f"{rate:.2f} req/s" if np.isfinite(rate) else "undefined (every request arrives at t = 0)"

    def table(self) -> str:
        """A human-readable report: headline figures, latency percentiles, pools (units in labels)."""
        s = self.summary()
        out = [
            (f"requests {self.n}   offered {self._offered_text(s['offered_rate_rps'])}{self._burst_text()}"
             + (f", at most {self.concurrency} in flight" if self.scheduled is not None else "")
             if self.concurrency is None or self.scheduled is not None
             else f"{self.load_text}")
            + f"   makespan {self.makespan:.1f} s   "
            f"SLOs: TTFT <= {self.slo_ttft * 1e3:g} ms, TPOT <= {self.slo_tpot * 1e3:g} ms",
            f"throughput {s['throughput_rps']:.2f} req/s, {s['output_tokens_per_s']:,.0f} output tokens/s   "
            f"goodput {s['goodput_rps']:.2f} req/s   SLO attainment {s['slo_attainment']:.1%}",
            f"per chip ({s['chips']} chip{'' if s['chips'] == 1 else 's'}) {s['output_tokens_per_s_per_chip']:,.1f} output tokens/s   per user "
            + (f"{s['tokens_per_s_per_user_p50']:,.1f} tokens/s (1 / TPOT P50)"
               if np.isfinite(s["tokens_per_s_per_user_p50"]) else "undefined (no TPOT: one-token outputs)"),
            f"fleet ${self.fleet_cost_per_hour:,.2f}/h   cost ${s['cost_per_mtok_output_usd']:.3f} per M output "
            f"tokens (${s['cost_per_mtok_total_usd']:.3f} per M prompt+output tokens)",
            *([f"network share ${s['network_cost_per_mtok_output_usd']:.3f} per M output tokens   (chips "
               f"${s['chip_cost_per_hour_usd']:,.2f}/h + network ${s['network_cost_per_hour_usd']:,.2f}/h: the "
               "fabrics' switches and optics, amortised, and their power)"]
              if self.fleet_network_cost_per_hour > 0 else []),
            *[f"network not priced in pool {p['name']}: its fabric has {p['network_unpriced']} (counted as $0; give "
              "the fabric a cost: block, docs/fabrics.md)" for p in self.pools if p.get("network_unpriced")],
            *[f"cost basis pool {p['name']}: {p['price_basis']}" for p in self.pools if p.get("price_basis")],
            *[f"pool {p['name']}: {p['kv_dtype_note']}" for p in self.pools if p.get("kv_dtype_note")],
            *[f"replicas down in pool {p['name']}: {p['replicas_down']} of {p['replicas'] + p['replicas_down']} (faults, "
              f"no spare group left); still charged: its ${p['cost_per_hour_usd']:,.2f}/h counts all "
              f"{p['replicas'] + p['replicas_down']}, and {p['replicas']} serve" for p in self.pools
              if p.get("replicas_down")],
            "",
            f"{'latency':<22}{'mean':>10}{'P50':>10}{'P90':>10}{'P99':>10}",
        ]
        for name, key, scale in (("TTFT ms", "ttft", 1e3), ("TPOT ms", "tpot", 1e3), ("ITL ms", "itl", 1e3),
                                 ("end-to-end s", "latency", 1.0), ("client wait ms", "client_wait", 1e3),
                                 ("queueing ms", "queue_delay", 1e3),
                                 ("KV transfer ms", "kv_time", 1e3)):
            if not np.isfinite(s[f"{key}_mean_s"]) or (key == "client_wait" and self.scheduled is None):
                continue
            out.append(f"{name:<22}" + "".join(f"{_cell(s[f'{key}_{q}_s'] * scale):>10}"
                                                 for q in ("mean", "p50", "p90", "p99")))
        out += ["", f"{'pool':<20}{'role':<11}{'replicas':>9}{'chips':>7}{'$/h':>11}{'requests':>10}"
                    f"{'busy mean':>10}{'busy max':>10}{'KV mean':>9}{'KV peak':>9}{'batch mean':>13}{'max queue':>10}"]
        for p in self.pools:
            occ = f"{p['mean_batch']:.1f}/{p['batch']}"
            out.append(f"{p['name']:<20}{p['role']:<11}{p['replicas']:>9}{p['chips_per_replica'] * p['replicas']:>7}"
                       f"{p['cost_per_hour_usd']:>11,.2f}{p['requests']:>10}{p['mean_utilisation']:>10.1%}"
                       f"{p['max_utilisation']:>10.1%}{p['kv_mean_fraction']:>9.1%}{p['kv_peak_fraction']:>9.1%}"
                       f"{occ:>13}{p['max_queue']:>10}")
        out.append("busy: time running iterations (one sequence keeps a replica busy); KV: share of the KV cache "
                   "reserved; batch: sequences in a replica's batch / its limit")
        spec = [f"{p['name']} {p['tokens_per_step']:.3g}" for p in self.pools if p.get("tokens_per_step", 1.0) != 1.0]
        if spec:
            out.append("speculative decoding, tokens per sequence per decode iteration: " + ", ".join(spec)
                       + " (ITL: one gap per iteration, its tokens arrive together; TPOT: per token)")
        if self.kv_transfers:
            out.append(f"KV transfers {self.kv_transfers}, {float(self.kv_link_bytes.sum()) / 1e9:,.1f} GB "
                       f"link-bytes, {self.extra.get('kv_solves', 0)} max-min solves")
        return "\n".join(out)

    #: columns of :meth:`to_csv` (s for times) and the attribute each comes from
    CSV_COLUMNS = (("arrival_s", "arrival"), ("prompt_tokens", "prompt"), ("output_tokens", "output"),
                   ("ttft_s", "ttft"), ("tpot_s", "tpot"), ("latency_s", "latency"), ("queue_s", "queue_delay"),
                   ("kv_transfer_s", "kv_time"), ("prefill_replica", "prefill_replica"),
                   ("decode_replica", "decode_replica"), ("met_slo", "met_slo"))

    def to_csv(self, path: str | os.PathLike) -> str:
        """Write one row per request (times in s; ``scaleup serve --out``); returns the path.

        Raises:
            SpecError: the file cannot be written (see :func:`check_csv_path`)."""
        import csv

        try:
            with open(path, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow([c for c, _ in self.CSV_COLUMNS])
                w.writerows(zip(*(getattr(self, a).tolist() for _, a in self.CSV_COLUMNS)))
        except OSError as exc:
            raise SpecError(f"out: cannot write {os.fspath(path)!r} ({exc.strerror or exc}); pick a writable "
                            "file path") from None
        return str(path)

    def to_dict(self) -> dict[str, Any]:
        """Summary plus per-pool figures and queue-length series (JSON-ready)."""
        d = self.summary()
        d["pools"] = self.pools
        d["replica_utilisation"] = [
            {"replica": i, "pool": self.pools[int(p)]["name"], "utilisation": float(u)}
            for i, (p, u) in enumerate(zip(self.replica_pool.tolist(), self.utilisation.tolist()))
        ]
        d["queue_len"] = {"time_s": self.queue_time.tolist(), **{k: v.tolist() for k, v in self.queue_len.items()}}
        return d


def check_csv_path(path: str | os.PathLike, field: str = "out") -> str:
    """Fail early, naming ``field``, when ``path`` cannot be written as a CSV file (a directory, a missing
    directory, a read-only or special file such as ``/proc/version``). Leaves no file behind.

    Raises:
        SpecError: naming ``field`` and the path."""
    text = os.fspath(path)
    if os.path.isdir(text):
        raise SpecError(f"{field}: {text!r} is a directory; give a file path such as results.csv")
    parent = os.path.dirname(text) or "."
    if not os.path.isdir(parent):
        raise SpecError(f"{field}: directory {parent!r} of {text!r} does not exist; create it or pick another path")
    existed = os.path.exists(text)
    try:
        with open(text, "a"):
            pass
    except OSError as exc:
        raise SpecError(f"{field}: cannot write {text!r} ({exc.strerror or exc}); pick a writable file path") from None
    if not existed:
        os.remove(text)
    return text


def _queue_series(enq: np.ndarray, deq: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Number of requests enqueued by t and not yet dequeued, at each grid time."""
    e = np.sort(enq[np.isfinite(enq)])
    d = np.sort(deq[np.isfinite(deq)])
    return np.searchsorted(e, grid, side="right") - np.searchsorted(d, grid, side="right")


def simulate_serving(
    fleet: FleetSpec | str | dict,
    trace: Trace | str | os.PathLike | None = None,
    *,
    model: Any = None,
    rate: float | None = None,
    duration: float | None = None,
    workload: str = "azure-conv",
    slo_ttft: float = 1.0,
    slo_tpot: float = 0.05,
    router: str | Callable = "least-loaded",
    step_models: dict[str, StepModelLike] | None = None,
    seed: int = 0,
    macro_cap: int = 1024,
    queue_samples: int = 200,
    concurrency: int | None = None,
    requests: int | None = None,
    prompt: int | None = None,
    output: int | None = None,
    think: float = 0.0,
    burstiness: float = 1.0,
) -> ServingResult:
    """Simulate serving ``trace`` (or Poisson ``rate`` x ``duration``, or a closed loop of ``concurrency``
    requests in flight) on ``fleet``.

    Args:
        fleet: a :class:`FleetSpec`, a FLEET.yaml path, a bundled fleet name or a dict.
        trace: the requests (a :class:`Trace` or a CSV path as for :func:`load_trace`); if None, a synthetic Poisson trace of ``rate`` requests/s over ``duration``
            s (default :data:`DEFAULT_DURATION`, 600 s, as ``scaleup serve --rate``) with ``workload`` lengths (see
            :mod:`fleet.trace`) under ``seed``.
        model: model name/spec for pools built from a fabric (``inference.StepModel``).
        slo_ttft: TTFT objective, s. slo_tpot: TPOT objective, s.
        router: a built-in router name (:data:`ROUTERS`) or a callable ``(request, pools) -> pool``.
        step_models: pool name -> step model, overriding what the fleet spec would build.
        seed: seed of the synthetic trace (the simulation itself has no randomness).
        macro_cap: most decode iterations simulated as one event (bounds the arrays; no effect on times).
        queue_samples: points of the queue-length series.
        concurrency: closed loop (fixed concurrency, as ``vllm bench serve --max-concurrency C``, genai-perf
            ``--concurrency C``): ``concurrency`` requests are sent at t = 0 and each completion (a request's
            last token) sends the next one at that instant (``think`` s later if given), until ``requests``
            have been sent; no ``trace``, ``rate`` or ``duration`` then. The arrival times in the result are
            those send times, so TTFT / TPOT / end-to-end latency are measured as a benchmark client does.
            With a ``rate`` (no ``trace``), an open loop with at most ``concurrency`` in flight instead
            (``vllm bench serve --request-rate R --max-concurrency C``): requests are due at the rate's
            (Poisson or ``burstiness``) arrival times and the client holds each, first in first out, until fewer
            than ``concurrency`` are in flight; a request's ``arrival`` is its send time (vLLM times TTFT from
            there, after the wait), ``.scheduled`` its due time. ``concurrency`` >= the requests is the pure open
            loop, bit for bit.
        requests: requests a closed loop sends in all (default ``10 x concurrency``; at least ``concurrency``).
        prompt, output: fixed prompt and output tokens of every request (both or neither), for a closed
            loop or a Poisson ``rate``; neither: ``workload`` lengths drawn under ``seed``.
        think: closed loop: time between a completion and the request it releases, s (default 0).
        burstiness: arrivals of a synthetic ``rate``: gamma-distributed gaps of this shape and mean ``1 / rate``
            (vLLM ``benchmark_serving.py --burstiness``); 1 (default) is Poisson, below 1 burstier
            (:func:`fleet.trace.poisson_trace`). Only with a ``rate``.

    Returns:
        :class:`ServingResult` (``concurrency`` and ``think`` set for a closed loop).

    Raises:
        SpecError: a closed loop given with a trace or a duration without a rate; requests or think with a rate; a count that is not an integer >= 1;
            fewer requests than the concurrency; only one of prompt / output; a seed outside [0, 2**63).
    """
    _check_seed(seed)  # a bad seed is refused whatever the load (a trace file or fixed lengths draw nothing)
    spec = load_fleet(fleet)
    model = model if model is not None else spec.model
    closed = _closed_loop(concurrency, requests, think, trace, rate, duration)
    gated = closed is not None and closed.rate_limited  # a rate, at most `concurrency` in flight
    burstiness = check_burstiness(burstiness)
    drawn = (closed is None or gated) and trace is None  # a synthetic rate: its burstiness is reported
    if burstiness != 1.0 and ((closed is not None and not gated) or trace is not None):
        raise SpecError(f"burstiness: shapes the arrivals of a rate; a {'closed loop' if closed else 'trace'} has its "
                        "own (drop burstiness, or give a rate)")
    if closed is not None and not gated:
        trace = _closed_requests(spec, closed.concurrency, closed.requests, prompt, output, workload, seed)
    else:
        trace = _requests(spec, trace, rate, duration, workload, seed, prompt, output, burstiness)
    if not all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and v > 0
               for v in (slo_ttft, slo_tpot)):  # a string compared with 0 was a TypeError
        raise SpecError(f"SLOs must be > 0 s, got ttft={slo_ttft!r}, tpot={slo_tpot!r}")
    for name, v in (("macro_cap", macro_cap), ("queue_samples", queue_samples)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise SpecError(f"{name}: must be an integer >= 1, got {v!r}")
    route_fn = get_router(router, slo_ttft=slo_ttft, slo_tpot=slo_tpot)
    env = simpy.Environment()
    pools = _build_pools(spec, model, step_models)
    _check_requests_fit(pools, trace)
    kvnet = _build_kv_network(env, spec, pools) if spec.disaggregated else None
    sim = _Sim(env, trace, pools, route_fn, kvnet, macro_cap, closed=closed)
    for p in pools:
        p.replicas = [_Replica(sim, p, r) for r in range(p.n)]
    env.process(sim.arrivals())
    env.run()
    scheduled = trace.arrival
    if closed is not None:  # the send times the run filled in (non-decreasing: completions come in time order;
        # rate-limited: the client releases held requests first in, first out)
        assert not sim.pending and np.all(np.diff(sim.arrival) >= 0) and np.all(np.isfinite(sim.arrival))
        trace = Trace(sim.arrival, trace.prompt, trace.output, name=trace.name)
    res = _collect_results(sim, trace, pools, kvnet, slo_ttft, slo_tpot, queue_samples)
    if closed is not None:
        res.concurrency, res.think = closed.concurrency, closed.think_s
    if gated:
        res.scheduled = scheduled
    if drawn:
        res.burstiness = burstiness
        res.window = float(DEFAULT_DURATION if duration is None else duration)
    return res


@dataclass(frozen=True)
class ClosedLoop:
    """A closed-loop client: ``concurrency`` requests in flight, ``requests`` sent in all, each completion sending
    the next after ``think_s`` seconds."""

    concurrency: int
    requests: int
    think_s: float
    #: True: not a closed loop but open-loop arrivals of a rate, each held by the client until fewer than
    #: ``concurrency`` are in flight (``vllm bench serve --request-rate R --max-concurrency C``); ``requests`` and
    #: ``think_s`` are then unused (0: the rate's trace sizes the run)
    rate_limited: bool = False


def _closed_loop(concurrency: Any, requests: Any, think: Any, trace: Any, rate: Any,
                 duration: Any) -> ClosedLoop | None:
    """The closed loop the arguments ask for, None for an open loop; bad or conflicting inputs are a one-line
    :class:`SpecError` naming the fields."""
    if concurrency is None:
        for name, v in (("requests", requests), ("think", think or None)):
            if v is not None:
                raise SpecError(f"{name}: applies to a closed loop only; give concurrency (requests in flight) too"
                                + ("" if name != "requests" or rate is None else
                                   " (with a rate, duration sizes the run: about rate x duration requests)"))
        return None
    if rate is not None and trace is None:  # an open loop at a rate, at most C in flight (client semaphore)
        for name, v in (("requests", requests), ("think", think or None)):
            if v is not None:
                raise SpecError(f"{name}: applies to a closed loop only; with a rate and a concurrency the rate's "
                                "duration sizes the run (about rate x duration requests): drop " + name)
        return ClosedLoop(_count(concurrency, "concurrency"), 0, 0.0, rate_limited=True)
    given = [n for n, v in (("trace", trace), ("duration", duration)) if v is not None]
    if given:
        raise SpecError(f"concurrency: a closed loop sends a request per completion; drop {' and '.join(given)} "
                        "(open-loop arrivals) or concurrency" + ("" if trace is not None else
                                                                 ", or give a rate too (at most C in flight)"))
    c = _count(concurrency, "concurrency")
    n = 10 * c if requests is None else _count(requests, "requests")
    if n < c:
        raise SpecError(f"requests: {n} is fewer than the concurrency {c}; give requests >= concurrency (default "
                        f"10 x concurrency = {10 * c})")
    if isinstance(think, bool) or not isinstance(think, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(think)) or think < 0:
        raise SpecError(f"think: must be a time >= 0 s, got {think!r}")
    return ClosedLoop(c, n, float(think))


def _closed_requests(spec: FleetSpec, concurrency: int, requests: int, prompt: Any, output: Any, workload: str,
                     seed: int) -> Trace:
    """The requests of a closed loop (arrivals 0, filled in by the run), after the memory estimate."""
    check_serving_size(requests, spec.n_replicas, spec.disaggregated, field="requests")
    return closed_loop_trace(requests, prompt, output, workload=workload, seed=seed)


def _requests(spec: FleetSpec, trace: Trace | str | os.PathLike | None, rate: float | None,
              duration: float | None, workload: str, seed: int, prompt: Any = None, output: Any = None,
              burstiness: float = 1.0) -> Trace:
    """The trace to simulate: given, read from a CSV path, or Poisson ``rate`` x ``duration`` (fixed ``prompt`` /
    ``output`` lengths or ``workload`` ones); the run's memory is estimated (:func:`check_serving_size`) before
    a synthetic trace or the fleet is allocated."""
    if trace is not None and (prompt is not None or output is not None):
        raise SpecError("prompt/output: fixed lengths apply to a rate or a closed loop; a trace has its own "
                        "lengths (drop prompt/output or the trace)")
    if trace is not None and (rate is not None or duration is not None):
        given = " and ".join(n for n, v in (("rate", rate), ("duration", duration)) if v is not None)
        raise SpecError(f"{given}: a trace has its own arrival times, which a rate or duration would not change; "
                        f"drop {given} or the trace (to replay it faster, scale its arrival_s column)")
    if isinstance(trace, (str, os.PathLike)):
        trace = load_trace(trace)
    drawn = trace is None
    if trace is None:
        if rate is None:
            raise SpecError("simulate_serving: give a trace, or a rate (requests/s; duration default 600 s), or a "
                            "concurrency (closed loop)")
        if duration is None:  # scaleup serve --rate without --duration: 600 s
            duration = DEFAULT_DURATION
        if isinstance(rate, (int, float)) and isinstance(duration, (int, float)) and rate > 0 and duration > 0 \
                and math.isfinite(rate * duration):  # else poisson_trace names the bad rate or duration
            check_serving_size(rate * duration, spec.n_replicas, spec.disaggregated, rate=rate)
        fixed = _fixed_lengths(prompt, output)
        if fixed is not None:
            trace = poisson_trace(rate, duration, prompt=fixed[0], output=fixed[1], seed=seed, burstiness=burstiness)
        else:
            trace = poisson_trace(rate, duration, prompt=workload, seed=seed, burstiness=burstiness)
        if len(trace) == 0:
            raise SpecError(f"duration: a {duration:g} s trace at {rate:g} requests/s drew no request; lengthen the "
                            "duration or raise the rate")
    if len(trace) == 0:
        raise SpecError("trace: no requests to simulate")
    # a drawn trace a little over the budget (Poisson) names the duration that fits, as the estimate above does
    check_serving_size(len(trace), spec.n_replicas, spec.disaggregated, rate=rate if drawn else None)
    return trace


def _build_pools(spec: FleetSpec, model: Any, step_models: dict[str, StepModelLike] | None) -> list[Pool]:
    """One :class:`Pool` per pool of ``spec``, with its step model; replicas numbered globally in pool order."""
    pools: list[Pool] = []
    off = 0
    for i, ps in enumerate(spec.pools):
        sm = (step_models or {}).get(ps.name) or build_step_model(ps, model)
        if not isinstance(sm, StepModelLike):
            raise SpecError(f"pool {ps.name!r}: step model {type(sm).__name__} lacks the StepModel methods")
        pools.append(Pool(ps, i, sm, off))
        off += ps.replicas
    decode = [p for p in pools if p.role == "decode"]
    for p in pools:
        if p.role == "prefill":
            p.decode_pools = decode
    _check_handoff_models(pools)
    return pools


def _check_handoff_models(pools: list[Pool]) -> None:
    """A prefill pool's KV cache is decoded by a decode pool, so every prefill and decode pool built from a model
    runs the same one (``step_model:`` pools declare no model and are not compared)."""
    runs = {}
    for p in pools:
        spec = getattr(getattr(p.model, "deployment", None), "model", None)
        if p.role in ("prefill", "decode") and spec is not None:
            runs[p.name] = str(getattr(spec, "name", spec))
    if len(set(runs.values())) > 1:
        listed = ", ".join(f"{n}: {m}" for n, m in runs.items())
        raise SpecError(f"pools: a prefill pool's KV cache is decoded by a decode pool, so both run one model; got "
                        f"{listed}; give every prefill and decode pool the same model (colocated pools may differ)")


def check_trace_context(model: Any, trace: Trace, field: str = "trace") -> None:
    """Refuse a trace with requests longer (prompt + output tokens) than ``model``'s context
    (``ModelSpec.context``; 0 or a model without one: unchecked): a server refuses them (vLLM's
    ``max_model_len``), so serving them is no answer. ``field`` names the input blamed (``workload`` in plan).

    Raises:
        SpecError: how many requests are over, the longest, and the fixes.
    """
    ctx = int(getattr(model, "context", 0) or 0)
    if not ctx or not len(trace):
        return
    lengths = trace.prompt + trace.output
    longest = int(lengths.max())
    if longest > ctx:
        over = int((lengths > ctx).sum())
        raise SpecError(f"{field}: {over:,} of {len(trace):,} requests are longer than {model.name}'s context of "
                        f"{ctx:,} tokens (prompt + output; the longest {longest:,}); clip the trace, pick a "
                        "workload of shorter requests (sharegpt), or give a model YAML with a longer `context:`")


KV_FIT_FIX = "raise tp, lower kv_dtype, or clip the trace"
"""The fix :func:`_check_requests_fit` offers for a request longer than a replica's KV cache (serve's options;
:func:`fleet.plan.plan` words it for its own)."""


def _check_requests_fit(pools: list[Pool], trace: Trace) -> None:
    """Requests that can never fit a replica's KV cache, or exceed its model's context, stop the run early with a
    readable error."""
    longest = int((trace.prompt + trace.output).max())
    for p in pools:
        check_trace_context(getattr(getattr(p.model, "deployment", None), "model", None), trace)
        need = int(trace.prompt.max()) if p.role == "prefill" else longest
        why = no_kv_reason(p.model, p.spec.token_budget, p.spec.batch) if p.kv_capacity <= 0 else None
        if why is not None:  # the weights do not fit: no request would, whatever its length
            raise CapacityError(f"pool {p.name!r}: {why}")
        if need > p.kv_capacity:
            if p.spec.kv_capacity_tokens is not None:  # the pool's own figure, not the memory model's
                fix = f"raise the pool's kv_capacity_tokens to at least {need}, or clip the trace"
            elif p.spec.step_model is not None:
                fix = f"raise its step_model's kv_capacity_tokens to at least {need}, or clip the trace"
            else:
                fix = KV_FIT_FIX
            raise CapacityError(
                f"pool {p.name!r}: a request of {need} tokens does not fit the replica's KV cache "
                f"({int(p.kv_capacity)} tokens); {fix}"
            )


def _build_kv_network(env: simpy.Environment, spec: FleetSpec, pools: list[Pool]) -> KVNetwork:
    """The KV-transfer network of a disaggregated fleet: the declared fabric, or a leaf/core one built here."""
    n_replicas = sum(p.n for p in pools)
    if spec.kv_network.fabric is not None:
        import topo

        kfab = topo.load(spec.kv_network.fabric)  # type: ignore[attr-defined]
        if kfab.n_chips < n_replicas:
            raise SpecError(
                f"kv_network.fabric: {spec.kv_network.fabric!r} has {kfab.n_chips} chips but the fleet has "
                f"{n_replicas} replicas (one endpoint each)"
            )
    else:
        kfab = build_kv_fabric(spec.kv_network, [p.n for p in pools], [p.name for p in pools])
    return KVNetwork(env, kfab)


def _collect_results(sim: _Sim, trace: Trace, pools: list[Pool], kvnet: KVNetwork | None, slo_ttft: float,
                     slo_tpot: float, queue_samples: int) -> ServingResult:
    """Per-request metrics, per-pool figures and queue series of a finished run."""
    if np.any(sim.finished != 1):
        bad = int(np.flatnonzero(sim.finished != 1)[0])
        raise CapacityError(f"simulation ended with request {bad} unfinished (the fleet cannot serve it)")
    arrival = trace.arrival
    ttft = sim.t_first - arrival
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(trace.output > 1, (sim.t_finish - sim.t_first) / (trace.output - 1), np.nan)
    latency = sim.t_finish - arrival
    met = (ttft <= slo_ttft) & ((trace.output <= 1) | (tpot <= slo_tpot))
    makespan = float(np.nanmax(sim.t_finish))
    dec_rep = np.where(sim.rep_d >= 0, sim.rep_d, sim.rep_p)
    busy = np.array([r.busy for p in pools for r in p.replicas])
    rpool = np.array([p.index for p in pools for _ in range(p.n)], dtype=np.int64)
    grid = np.linspace(0.0, makespan, max(2, queue_samples))
    qlen: dict[str, np.ndarray] = {}
    for p in pools:
        if p.role == "decode":
            sel = sim.pool_d == p.index
            qlen[p.name] = _queue_series(sim.t_kv_end[sel], sim.t_dec_admit[sel], grid)
        else:
            sel = sim.pool_p == p.index
            qlen[p.name] = _queue_series(arrival[sel], sim.t_admit[sel], grid)
    # a replica down (faults) is paid for as one that serves: its chips and its share of the network
    fleet_cost = sum(p.cost_per_hour * (p.n + p.down) for p in pools)
    fleet_net = sum(p.network_cost_per_hour * (p.n + p.down) for p in pools)
    pool_rows = []
    for p in pools:
        sel = rpool == p.index
        served = (sim.pool_p == p.index) | (sim.pool_d == p.index)
        # KV-cache reservations integrated over time (each replica's to the makespan) and at their peak
        kv_area = float(sum(r.kv_area + r.kv_used * (makespan - r.kv_t) for r in p.replicas))
        cap = float(p.kv_capacity)
        # batch slots held, s (admission to the last token; a prefill pool's until the first), summed: over the
        # makespan and the replicas, the time-mean sequences in a replica's batch (Little's law, exact)
        if p.role == "decode":
            held = (sim.t_finish - sim.t_dec_admit)[sim.pool_d == p.index]
        elif p.role == "prefill":
            held = (sim.t_first - sim.t_admit)[sim.pool_p == p.index]
        else:
            held = (sim.t_finish - sim.t_admit)[sim.pool_p == p.index]
        pool_rows.append({
            "name": p.name, "role": p.role, "replicas": p.n, "chips_per_replica": p.chips,
            # replicas down (faults: fleet.fault_fleet) serve nothing and are charged, in the $/h of their pool
            "replicas_down": p.down,
            "cost_per_hour_usd": p.cost_per_hour * (p.n + p.down),
            "network_cost_per_hour_usd": p.network_cost_per_hour * (p.n + p.down),
            # why the pool's fabric's network counts $0 though it has switches ("" when priced or none to price)
            "network_unpriced": p.network_unpriced,
            # a given $/chip-hour (pool price, --price): its basis, all-in ("" for the step model's own price)
            "price_basis": p.price_basis,
            "kv_dtype_note": p.kv_dtype_note,  # a KV dtype the chip does not compute (fp4 on Hopper): ASSUMPTION
            "requests": int(served.sum()),
            "mean_utilisation": float(busy[sel].mean() / makespan) if makespan else 0.0,
            "max_utilisation": float(busy[sel].max() / makespan) if makespan else 0.0,
            "kv_mean_fraction": kv_area / (makespan * p.n * cap) if makespan and cap > 0 else 0.0,
            "kv_peak_fraction": float(max(r.kv_peak for r in p.replicas)) / cap if cap > 0 else 0.0,
            "kv_token_seconds": kv_area,
            "batch": p.spec.batch,
            "mean_batch": float(held.sum()) / (makespan * p.n) if makespan else 0.0,
            "kv_capacity_tokens": p.kv_capacity, "kv_bytes_per_token": p.kv_bytes_per_token,
            "tokens_per_step": p.tokens_per_step,  # tokens per sequence per decode iteration (speculative: E)
            "max_queue": int(qlen[p.name].max()),
            "step_model_calls": p.step.calls,
            # iteration-average context of a decode slot, tokens (inference.lengths.slot_context)
            "decode_slot_iterations": int(sum(r.slot_iters for r in p.replicas)),
            "mean_slot_context": (float(sum(r.slot_ctx for r in p.replicas) / sum(r.slot_iters for r in p.replicas))
                                  if any(r.slot_iters for r in p.replicas) else 0.0),
        })
    return ServingResult(
        arrival=arrival, prompt=trace.prompt, output=trace.output, ttft=ttft, tpot=tpot, latency=latency,
        queue_delay=sim.t_admit - arrival, kv_time=sim.t_kv_end - sim.t_kv_start,
        prefill_replica=sim.rep_p.copy(), decode_replica=dec_rep, met_slo=met, finished_count=sim.finished,
        generated=sim.generated, slo_ttft=float(slo_ttft), slo_tpot=float(slo_tpot), makespan=makespan,
        duration=trace.duration, pools=pool_rows, replica_pool=rpool, replica_busy=busy,
        queue_time=grid, queue_len=qlen, fleet_cost_per_hour=float(fleet_cost),
        fleet_network_cost_per_hour=float(fleet_net),
        sim_events=int(sum(r.n_passes for p in pools for r in p.replicas)),
        kv_link_bytes=kvnet.link_bytes if kvnet else None, kv_transfers=kvnet.n_transfers if kvnet else 0,
        extra={"kv_solves": kvnet.n_solves if kvnet else 0,
               "iterations": int(sum(r.n_iter for p in pools for r in p.replicas))},
        itl=sim.itl.compact(),
    )
