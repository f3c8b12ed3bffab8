"""MLPerf Inference Server / Interactive runs simulated request by request (issue 11).

:mod:`inference.mlperf` models each scenario analytically at a steady state; its latency rows (mean TPOT /
TTFT at the run's offered load) solve Little's law and ignore queueing. Here those runs are replayed in the
request-level serving simulator (:func:`fleet.simulate_serving`), which ``inference`` cannot import
(layering): each engine of the submission is one colocated replica with the submission's scheduler limits
(``gpu_batch_size`` sequences and ``max_num_tokens`` tokens per iteration, per micro-batch x ``pp``;
:func:`inference.mlperf.engine_limits`), in-flight batching with chunked context (every iteration one token
per decoding sequence plus prompt chunks filling the budget, one fused forward pass:
``inference.StepModel.mixed_time``), KV cache reserved per request on admission, step times from
:func:`inference.mlperf.step_model`. Requests arrive as a Poisson process at the run's offered rate (the
log's ``Scheduled samples per second``) for the run's loadgen ``min_duration`` as its config sets it (600 s,
mlperf.conf's default; 2,400 s for the v4.1 Hopper and v5.1 B200 Llama-2-70B Server runs, 1,200 s for B200
Interactive: :attr:`inference.mlperf.MLPerfSetup.min_duration`), with the dataset's mean
input and the run's mean output lengths as means of per-request lengths drawn from the run's distribution
(:func:`inference.mlperf.run_lengths`, :class:`inference.lengths.Lengths`: the dataset's quantiles and rank
correlation, outputs scaled to the run's mean under the benchmark's cap), fixed seeds, assigned to engines
round-robin (ASSUMPTION: the harness's dispatch). Mean TTFT and mean TPOT are over every request, as loadgen reports them. KV cache:
the submissions schedule with ``batch_scheduler_policy: max_util`` (KV blocks allocated as a sequence grows,
a slot holding its length-biased time-average context, :meth:`inference.lengths.Lengths.slot_context`) where the
simulator reserves prompt + output on admission; the engine's KV capacity is set to (sequences whose cache fits
at that context, as in :mod:`inference.mlperf`) x (the reservation a slot holds on average,
:meth:`inference.lengths.Lengths.reserved_per_slot`), so both admit the same mean number (ASSUMPTION: no pauses
or evictions when sequences grow into a full cache).

Run ``python -m fleet.mlperf`` for the latency rows side by side with the analytic figures,
``python -m fleet.mlperf --table`` for the whole validation table with the simulated latency rows
(docs/inference.md), ``python -m fleet.mlperf --offline`` for the Offline runs of at most 50,000 samples
simulated as they ran (:func:`simulate_offline`: every sample issued at once, ramp-up and drain), or ``python -m fleet.mlperf --server`` for the Server / Interactive throughput rows
as the scenario defines them (:func:`server_throughput`: the highest rate whose simulated p99 TTFT and TPOT
meet the limits; the completed output tokens/s of that run over its makespan, drain included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from inference.kernels import STACKS as _STACKS
from inference.mlperf import (
    MLPERF_SETUPS,
    MLPerfSetup,
    engine_limits,
    predict_mlperf,
    run_lengths,
    step_model,
)

from .sim import ServingResult, simulate_serving
from .spec import FleetSpec, PoolSpec
from .trace import Trace, poisson_trace

__all__ = ["MLPERF_DURATION", "MLPerfRun", "latency_rows", "meets_limits", "server_throughput", "simulate_mlperf",
           "simulate_offline", "validation_table"]

#: loadgen's default minimum run length, s (mlperf.conf ``*.Server.min_duration = 600000`` ms); runs whose configs
#: set another carry it in ``MLPerfSetup.min_duration``
MLPERF_DURATION = 600.0


@dataclass(frozen=True)
class MLPerfRun:
    """Outcome of one simulated MLPerf run: means over all requests (s), system throughput (output tokens/s),
    in-flight sequences per engine (time average, Little's law on the simulated latencies), and the result."""

    setup: MLPerfSetup
    ttft: float
    tpot: float
    throughput: float
    in_flight: float
    result: ServingResult

    def value(self, metric: str) -> float:
        """The figure of ``metric`` (``ttft``, ``tpot`` or ``throughput``)."""
        return {"ttft": self.ttft, "tpot": self.tpot, "throughput": self.throughput}[metric]


def _engines(s: MLPerfSetup, stack: str | None, **knobs: Any) -> tuple[Any, Any, FleetSpec]:
    """The run's engines as one colocated pool: (step model, the run's length distribution, fleet) with the
    submission's batch cap and token budget (:func:`inference.mlperf.engine_limits`) and its KV capacity."""
    lim = engine_limits(s)
    sm = step_model(s, stack, **knobs)
    lengths = run_lengths(s)
    # max_util scheduling (the configs' batch_scheduler_policy) allocates KV blocks as sequences grow, so a slot
    # holds its time-average context (length-biased: inference.lengths.Lengths.slot_context; prompt + output / 2 for
    # constant lengths); the simulator reserves prompt + output on admission, a slot then holding
    # Lengths.reserved_per_slot on average: a KV capacity of (sequences that fit at the slot context) x that
    # admits the same mean number
    kv = float(sm.max_batch(int(round(lengths.slot_context()))) * lengths.reserved_per_slot())
    pool = PoolSpec(name="engine", role="colocated", replicas=s.engines, fabric=s.fabric, model=s.model, tp=s.tp,
                    ep=s.ep, pp=s.pp, batch=lim["batch"], token_budget=lim["token_budget"], dtype=s.dtype,
                    kv_dtype="fp8", chunked_prefill=True, kv_capacity_tokens=kv)
    return sm, lengths, FleetSpec(pools=(pool,), name=f"mlperf-{s.model}", model=s.model)


def simulate_mlperf(s: MLPerfSetup, duration: float | None = None, seed: int = 0, stack: str | None = None,
                    router: str = "round-robin", **knobs: Any) -> MLPerfRun:
    """Simulate the Server / Interactive run of ``s`` at its offered ``rate`` for ``duration`` s (default: the
    run's configured ``min_duration``; see the module docstring); ``knobs`` go to the step model as in
    :func:`inference.mlperf.predict_mlperf`."""
    duration = s.min_duration if duration is None else duration
    if s.rate is None:
        raise ValueError(f"{s.label}: no offered rate (only the latency rows carry one)")
    sm, lengths, fleet = _engines(s, stack, **knobs)
    trace = poisson_trace(s.rate, duration, prompt=int(round(s.prompt)), output=int(round(s.output)), seed=seed)
    if s.lengths:  # per-request lengths drawn from the run's distribution (seeded apart from the arrivals)
        prompt, output = lengths.sample(len(trace), seed=seed + 1)
        trace = Trace(trace.arrival, prompt, output, name=trace.name)
    res = simulate_serving(fleet, trace, step_models={"engine": sm}, router=router,
                           slo_ttft=s.ttft_limit or math.inf, slo_tpot=s.tpot_limit or math.inf)
    summ = res.summary()
    lat = res.latency
    in_flight = float(lat.sum() / res.makespan / s.engines) if res.makespan > 0 else 0.0
    return MLPerfRun(s, summ["ttft_mean_s"], summ["tpot_mean_s"], summ["output_tokens_per_s"], in_flight, res)


def simulate_offline(s: MLPerfSetup, samples: int | None = None, seed: int = 0, stack: str | None = None,
                     **knobs: Any) -> MLPerfRun:
    """Simulate an Offline run request by request: ``samples`` requests (default: the run's
    ``MLPerfSetup.samples``) all issued at t = 0, lengths drawn from the run's distribution, engines round-robin,
    the scheduler limits and KV capacity of :func:`simulate_mlperf`; the throughput is the output tokens over the
    makespan, so the ramp-up and the drain (the last, longest outputs running at a shrinking batch) count as
    they do in the run."""
    n = int(samples if samples is not None else s.samples)
    if n < 1:
        raise ValueError(f"{s.label}: no sample count (MLPerfSetup.samples) for an Offline simulation")
    sm, lengths, fleet = _engines(s, stack, **knobs)
    prompt, output = lengths.sample(n, seed=seed + 1)
    trace = Trace(np.zeros(n), prompt, output, name=f"mlperf-offline-{s.model}")
    res = simulate_serving(fleet, trace, step_models={"engine": sm}, router="round-robin")
    summ = res.summary()
    in_flight = float(res.latency.sum() / res.makespan / s.engines) if res.makespan > 0 else 0.0
    return MLPerfRun(s, summ["ttft_mean_s"], summ["tpot_mean_s"], summ["output_tokens_per_s"], in_flight, res)


def meets_limits(run: MLPerfRun) -> bool:
    """loadgen's Server condition: the 99th-percentile TTFT and TPOT of the run within the scenario's limits."""
    s, res = run.setup, run.result
    ttft99 = float(np.percentile(res.ttft, 99))
    tpot = res.tpot[np.isfinite(res.tpot)]
    tpot99 = float(np.percentile(tpot, 99)) if len(tpot) else 0.0
    return (s.ttft_limit is None or ttft99 <= s.ttft_limit) and (s.tpot_limit is None or tpot99 <= s.tpot_limit)


def server_throughput(s: MLPerfSetup, duration: float | None = None, seed: int = 0, stack: str | None = None,
                      rel_tol: float = 0.02, **knobs: Any) -> tuple[float, MLPerfRun]:
    """A Server / Interactive throughput row as the scenario defines it: the highest Poisson rate whose
    simulated run (:func:`simulate_mlperf`) keeps the 99th-percentile TTFT and TPOT within the limits
    (:func:`meets_limits`), found by bisection to ``rel_tol`` between 0.2 and 1.1 x the engines' modelled
    Offline capacity; returns (completed output tokens/s at that rate, its run)."""
    if s.scenario == "offline":
        raise ValueError(f"{s.label}: an Offline row has no latency limits")
    cap = predict_mlperf(replace(s, scenario="offline", metric="throughput", rate=None), stack, **knobs)["predicted"]
    cap_rate = cap / s.output

    def run_at(rate: float) -> MLPerfRun:
        return simulate_mlperf(replace(s, rate=rate, metric="tpot"), duration, seed, stack, **knobs)

    lo, hi = 0.2 * cap_rate, 1.1 * cap_rate
    top = run_at(hi)
    if meets_limits(top):
        return top.throughput, top
    best = run_at(lo)
    if not meets_limits(best):
        raise RuntimeError(f"{s.label}: misses its latency limits even at {lo:.3g} requests/s")
    while hi / lo > 1 + rel_tol:
        mid = math.sqrt(lo * hi)
        r = run_at(mid)
        if meets_limits(r):
            lo, best = mid, r
        else:
            hi = mid
    return best.throughput, best


def latency_rows(setups: tuple[MLPerfSetup, ...] = MLPERF_SETUPS, duration: float | None = None,
                 seed: int = 0, stack: str | None = None, **knobs: Any) -> list[dict]:
    """One row per latency setup (metric ``tpot`` / ``ttft``): measured, simulated, analytic (Little's law,
    no queueing), errors; each run simulated once for both of its metrics."""
    runs: dict[tuple, MLPerfRun] = {}
    rows = []
    for s in setups:
        if s.metric not in ("tpot", "ttft"):
            continue
        key = (s.model, s.fabric, s.rate, s.tp, s.pp, s.ep, s.engines, s.scenario)
        if key not in runs:
            runs[key] = simulate_mlperf(s, duration, seed, stack, **knobs)
        run = runs[key]
        sim = run.value(s.metric)
        ana = predict_mlperf(s, stack, **knobs)["predicted"]
        rows.append({"setup": s.label, "metric": s.metric, "role": s.role, "measured": s.measured,
                     "predicted": sim, "error": (sim - s.measured) / s.measured, "analytic": ana,
                     "analytic_error": (ana - s.measured) / s.measured, "in_flight": run.in_flight,
                     "run": run})
    return rows


def validation_table(duration: float | None = None, seed: int = 0, stack: str | None = None,
                     **knobs: Any) -> list[dict]:
    """The whole validation table of :func:`inference.validation.table`, with the MLPerf latency rows
    (mean TPOT / TTFT at the offered load) from the simulation instead of the analytic steady state."""
    from inference.validation import table

    rows = table(stack=stack, **knobs)
    sim = {r["setup"]: r for r in latency_rows(duration=duration, seed=seed, stack=stack, **knobs)}
    out = []
    for r in rows:
        hit = sim.get(r["setup"])
        if hit is not None and not r["note"]:
            r = {**r, "predicted": hit["predicted"], "error": hit["error"], "batch": round(hit["in_flight"]),
                 "backend": f"{r['backend']}, simulated"}
        out.append(r)
    return out


def _fmt(v: float, metric: str) -> str:
    return f"{v:,.0f} tok/s" if metric == "throughput" else f"{v * 1e3:,.1f} ms"


def main(argv: list[str] | None = None) -> None:
    import argparse

    from inference.validation import print_table

    ap = argparse.ArgumentParser(prog="python -m fleet.mlperf", description="MLPerf Server/Interactive latency rows simulated request by request")
    ap.add_argument("--table", action="store_true", help="print the whole validation table with the simulated rows")
    ap.add_argument("--duration", type=float, default=None,
                    help="arrival window, s (default: each run's configured loadgen min_duration, 600-2,400 s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stack", default=None, choices=_STACKS, help="serving stack (default: trtllm)")
    ap.add_argument("--server", action="store_true", help="also simulate the Server/Interactive throughput rows: "
                    "the highest Poisson rate meeting the p99 TTFT/TPOT limits (slow: a bisection per row)")
    ap.add_argument("--offline", action="store_true", help="simulate the Offline rows whose runs have at most "
                    "50,000 samples (all issued at once: ramp-up and drain included)")
    args = ap.parse_args(argv)
    if args.offline:
        print("| setup | samples | measured | simulated | error | analytic (steady state) | error | makespan |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for s in MLPERF_SETUPS:
            if s.scenario != "offline" or not 0 < s.samples <= 50_000:
                continue
            run = simulate_offline(s, seed=args.seed, stack=args.stack)
            ana = predict_mlperf(s, args.stack)["predicted"]
            print(f"| {s.label} | {s.samples:,} | {_fmt(s.measured, 'throughput')} | {_fmt(run.throughput, 'throughput')} "
                  f"| {(run.throughput - s.measured) / s.measured:+.0%} | {_fmt(ana, 'throughput')} | "
                  f"{(ana - s.measured) / s.measured:+.0%} | {run.result.makespan:,.0f} s |", flush=True)
        return
    if args.server:
        print("| setup | measured | simulated (p99 limits, queueing) | error | analytic (p99 model) | error | "
              "rate req/s | p99 TTFT | p99 TPOT |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for s in MLPERF_SETUPS:
            if s.metric != "throughput" or s.scenario == "offline":
                continue
            thr, run = server_throughput(s, args.duration, args.seed, args.stack)
            ana = predict_mlperf(s, args.stack)["predicted"]
            res = run.result
            print(f"| {s.label} | {_fmt(s.measured, 'throughput')} | {_fmt(thr, 'throughput')} | "
                  f"{(thr - s.measured) / s.measured:+.0%} | {_fmt(ana, 'throughput')} | "
                  f"{(ana - s.measured) / s.measured:+.0%} | {run.setup.rate:,.3g} | "
                  f"{_fmt(float(np.percentile(res.ttft, 99)), 'ttft')} | "
                  f"{_fmt(float(np.nanpercentile(res.tpot, 99)), 'tpot')} |", flush=True)
        return
    if args.table:
        print_table(validation_table(args.duration, args.seed, args.stack))
        return
    print("| setup | metric | measured | simulated | error | analytic (no queueing) | error | in flight / engine |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in latency_rows(duration=args.duration, seed=args.seed, stack=args.stack):
        print(f"| {r['setup']} | {r['metric']} | {_fmt(r['measured'], r['metric'])} | "
              f"{_fmt(r['predicted'], r['metric'])} | {r['error']:+.0%} | {_fmt(r['analytic'], r['metric'])} | "
              f"{r['analytic_error']:+.0%} | {r['in_flight']:,.0f} |")


if __name__ == "__main__":
    main()
