"""MLPerf Inference rows of the validation table (issue 11): NVIDIA closed-division results, held out.

Run ``python -m inference.mlperf`` for these rows with their sensitivity to the sequence lengths, or
``python -m inference.validation`` for the whole table. Nothing here is fitted to these rows.

**Measured figures** are copied from the submissions' ``mlperf_log_summary.txt`` (one per row, path in
``source``): ``Tokens per second`` (Offline) or ``Completed tokens per second`` (Server, Interactive), for the
whole system (8 GPUs; 4 for GB200); ``Mean Time to Output Token`` / ``Mean First Token latency`` for the
TPOT / TTFT rows. Public results repositories: github.com/mlcommons/inference_results_v4.1 at commit 198fc467 and inference_results_v5.1 at 965182b0,
``closed/NVIDIA/results/<system>/<benchmark>/<scenario>/performance/run_1/``. Deployment facts come from the
same submission's ``closed/NVIDIA/configs`` (v4.1: ``configs/llama2-70b/<Scenario>/__init__.py``; v5.1:
``configs/<system>/<Scenario>/<benchmark>.py``): tensor/pipeline/expert parallelism, engines per
system, precision (FP8 on Hopper, NVFP4 on Blackwell, FP8 KV cache everywhere), ``gpu_batch_size`` (the
engine's batch cap) and ``max_num_tokens`` (the engine's token budget per step).

**Latency constraints** (loadgen/mlperf.conf of github.com/mlcommons/inference at commit b66003e1, 99th
percentile): Llama-2-70B Server TTFT 2 s / TPOT 200 ms, Interactive 450 ms / 40 ms; Llama-3.1-405B Server
6 s / 175 ms, Interactive 4.5 s / 80 ms; Llama-3.1-8B Server 2 s / 100 ms, Interactive 500 ms / 30 ms;
DeepSeek-R1 Server 2 s / 80 ms.

**Sequence lengths.** Mean input tokens of each benchmark's dataset, computed from the per-sample token
counts of the official MLCommons pickles (``tok_input_length`` / ``tok_input_len``) as exported by
github.com/openshift-psap/performance-dashboard (commit 71007029, ``mlperf-data/summaries/*.csv``):
Llama-2-70B OpenOrca 24,576 samples, mean 222.3 (median 152, max 1,021); Llama-3.1-8B CNN/DailyMail
13,368 samples, mean 870.7; Llama-3.1-405B 8,313 samples, mean 9,428.6; DeepSeek-R1 4,388 samples, mean
803.8. Mean output tokens: what the run itself generated, ``Tokens per second / Samples per second`` of the
same log (e.g. 290.3 for the v4.1 H100 Llama-2-70B Offline run; the reference FP16 generation averages
294.45, language/llama2-70b/README.md of mlcommons/inference). This is the workload's size, not its speed.
**Distributions, not means**: the lengths vary per request (OpenOrca inputs 48-1,021 tokens, outputs 3-1,016;
DeepSeek-R1 reasoning outputs 209-32,768), and a request holds its decode slot for its output length, so the
in-flight batch is length-biased: :func:`run_lengths` gives each run's joint distribution
(:mod:`inference.lengths`: the dataset's per-sample quantiles and rank correlation, outputs scaled to the run's
logged mean under the benchmark's max output tokens) and the decode context ``ctx`` below is its slot
average ``E[(O - 1)(I + O / 2)] / E[O - 1]`` (``prompt + output / 2`` for constant lengths; Llama-2-70B 442
against 367 tokens, DeepSeek-R1 4,899 against 2,672, Llama-3.1-405B 9,620 against 9,754, 8B unchanged: its
outputs all run to the 128-token cap). ``lengths=""`` on a setup restores the mean-length model;
``length_spread`` stretches the distributions (sensitivity, printed by ``python -m inference.mlperf`` with the
+-20 % mean lengths). ASSUMPTION: the scheduler's mean iteration stands in for its mix of iterations (the
iteration time is linear in the batch's context sum, so the mean context gives the mean decode attention).

**Model of a scenario** (steady-state in-flight batching, one engine of ``tp x pp`` (x ``ep``) chips, the
system's throughput = engines x one engine's):

- ``b`` sequences in flight; each scheduler iteration decodes one token for each of them at the slot
  context ``ctx`` (above) and, to keep ``b`` constant, prefills ``b x prompt / output`` prompt tokens
  on average, in chunks of ``min(prompt, max_num_tokens - b / pp)`` tokens (a whole prompt, or the budget
  the decodes leave: chunked context; a chunk attends to ``(E[I^2] / E[I] - chunk) / 2`` earlier prompt tokens,
  which conserves the prompts' causal attention work; half the prompt before it for constant prompts). With ``k`` chunks per iteration on average, iterations carry ``floor(k)`` or ``ceil(k)`` chunks
  in the proportion that gives ``k``; ``T(b)`` is their mean time. Each iteration is ONE fused forward
  pass per micro-batch (:meth:`inference.StepModel.mixed_time`): GEMMs over decode + chunk tokens (weights
  read once), attention per request, one step's host cost, no CUDA graph (TensorRT-LLM captures graphs for
  generation-only steps). With ``pp`` stages TensorRT-LLM runs ``pp`` micro-batches, each up to
  ``gpu_batch_size`` sequences and ``max_num_tokens`` tokens (its capacity scheduler holds ``max_batch_size
  x micro-batches``; batch_manager ``trtGptModelInflightBatching.cpp``). Throughput ``b / T(b)``; TPOT
  ``T(b)``. ``python -m inference.mlperf`` also prints the former additive bound (a decode step plus a
  separate prefill step, ``additive=True``).
- ``b`` is at most ``pp x`` the engine's batch cap, the sequences whose KV cache at the slot context fits
  in HBM (the KV fraction each submission configures, ``MLPerfSetup.kv_fraction``, paged KV), and
  ``pp x max_num_tokens / (1 + prompt / output)`` (every iteration's tokens within the budget).
- **Offline**: the largest such ``b``.
- **Server / Interactive**: loadgen bounds the 99th percentile over requests of each request's TPOT
  (``(latency - first-token latency) / (tokens - 1)``, loadgen ``logging.cc``) and TTFT. The throughput is
  that of the largest mean in-flight count ``b`` (offered rate ``lam = b / (output x T(b))`` per engine,
  Little's law; system tokens/s ``engines x lam x output``, what loadgen's "Completed tokens per second"
  reports) whose *predicted 99th percentiles* meet the limits (:meth:`_Engine.tails`, closed forms in
  :mod:`inference.tails`; ``latency="mean"`` restores the former criterion, the mean iteration ``T(b)`` and
  the TTFT estimate of the at-load rows below within the limits). The percentile model, per engine:

  * **the iteration as a linear function of what it carries**, from three fused steps of the step model at
    ``b``: ``t_dec`` (no prompt), ``jump`` (the extra cost of any prompt chunk: no CUDA graph, launches) and
    ``beta`` per prompt token (slope over ``1 .. ceil(k) + 1`` chunks); the lane ``C = budget - b`` prompt
    tokens per iteration (chunked context). A prompt of ``I`` tokens costs the iterations it lands in
    ``y(I) = beta I + jump (ceil(I / C) - 1 + (1 - e^-m) / m)`` (its share of the jump of a busy iteration,
    ``m = b / output`` prompts arriving per iteration).
  * **TPOT of a request with ``O`` output tokens** = the mean of its ``n = O - 1`` iteration times. The
    prompts arriving during its life (mean ``m n``) add their cost: a count of variance ``d m n`` (``d = 1``
    Poisson at the engine; ``1 / engines`` plus a rounding term where the harness dispatches round robin or
    to the least-busy engine, :func:`inference.tails.count_dispersion`) of ``y(I)`` each, distribution exact
    by its characteristic function (:func:`inference.tails.window_cost_cf`), so short outputs spread most.
    Slower noise is added as a Gaussian: the in-flight count (M/G/infinity: Poisson at an instant, its
    window average :func:`inference.tails.window_count_var`) and the **load's feedback** (a longer iteration
    lets more requests arrive, which lengthens later iterations: a linear stationary response in the
    iteration index, loop gain ``lam (gamma E[O] + beta E[I])`` = ``b T'(b) / T(b)``, with ``T'`` the chord
    ``(T(b) - T(1)) / (b - 1)`` of the mean iteration and ``gamma`` its decode side, ``T' - beta E[I] / E[O]``;
    the spread diverges as the engine nears saturation, which is why a Server run sits below its Offline
    throughput; :func:`inference.tails.feedback_window_var`). The p99 is over the
    requests' output-length mixture (18 classes, finer at the short end) around the mean ``T(b)``.
  * **TTFT** = the rest of the iteration in progress (uniform over ``T(b)`` while the engine is busy,
    probability ``1 - e^-b``) + the prompt's own iterations (``ceil(I / C)``, the first carrying the other
    prompts that arrived with it) + the prefill lane's backlog beyond what the prompt's first iteration can
    still carry (``max(0, V - headroom)``, ``V`` the M/G/1 Pollaczek-Khinchine wait of a lane serving a prompt
    in ``I / C`` full iterations, a fluid FCFS lane, scaled by Kingman's ``(ca^2 + cs^2) / (1 + cs^2)`` for the
    engine's smoother-than-Poisson arrivals under the dispatch, ``ca^2 = 1 / engines``) + the wait for a slot
    when all ``b_max`` are taken (Erlang C on ``b_max`` slots, the wait exponential with mean ``E[L] / (b_max -
    b) x (ca^2 + CV_L^2) / 2``, Allen-Cunneen), as one probability mass on a time grid (:func:`inference.tails.ttft_pmf`). ``b -> 0``: the unloaded
    prefill step.

  Measured p99s are never fitted: :data:`MEASURED_LATENCY` holds each run's means and p99s, printed beside
  the model's at the same offered rate (:func:`latency_percentiles`, ``python -m inference.mlperf``).
  ASSUMPTIONS (sensitivity in docs/inference.md): arrivals Poisson at the system, split by the harness's
  dispatch (:func:`_dispatch_noise`: least busy for Server, round robin for Interactive, pooled perfectly;
  Poisson at each engine is the printed sensitivity); iterations' costs linear in the prompt tokens they
  carry about ``b``, and the loop gain from the chord of ``T(b)`` (exact for a linear ``T(b)``; the step
  model's bumps over ``b``, e.g. tile quantisation at a token count, make local slopes erratic: a
  request-level simulation that sees them, :mod:`fleet.mlperf`, is the cross-check);
  the mean iteration ``T(b)`` is this module's (chunks spread evenly, above), the percentile model supplies
  the spread about it; the lane is a fluid queue; the run is stationary (DeepSeek-R1 Server is not: its
  in-flight count still ramps over the 600 s window, ``lam int_0^t P(L > s) ds`` with lifetimes up to
  20,000 tokens; not modelled: it would hold fewer in flight at a given rate, raising that row's prediction).
- **TPOT at the offered load** (metric ``tpot``): with ``rate`` requests/s per system (the log's
  ``Scheduled samples per second``) and Little's law, the in-flight count ``b`` solves ``b = rate /
  engines x output x T(b)`` (the smallest ``b`` that keeps up; the cap when none does); predicted TPOT
  ``T(b)``. This is ill-conditioned near saturation: the runs are loaded to 85-95 % of their capacity,
  where a few per cent of throughput error moves the in-flight count, hence TPOT, by tens of per cent.
- **TTFT at the offered load** (metric ``ttft``): the TTFT estimate ``0.5 T(b) + ceil(prompt / chunk) x
  T_carry(b)`` at that operating point (half an iteration of waiting, then the prompt in chunks of the
  iteration's spare budget, each iteration carrying a chunk: ``T_carry`` is the fused step with one chunk when
  fewer than one chunk runs per iteration on average, else ``T(b)``). ASSUMPTION: no queueing before
  admission, so it is a lower bound where requests wait for KV space, slots or the prefill lane. These rows
  compare means and are kept as they were; the percentile model's mean and p99 TTFT at the same rate
  (queueing included) are printed beside the logs' by :func:`latency_percentiles`.
- Both latency rows are also simulated request by request (Poisson arrivals at the offered rate, queueing
  included) by :mod:`fleet.mlperf` (``python -m fleet.mlperf``), which ``inference`` cannot import; the
  table of docs/inference.md uses the simulated figures (``python -m fleet.mlperf --table``); this module's
  figures are the analytic steady state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

import numpy as np

from .kernels import STACKS as _STACKS

__all__ = ["MEASURED_LATENCY", "MLPERF_SETUPS", "MLPerfSetup", "engine_limits", "latency_percentiles",
           "latency_table", "predict_mlperf", "run_lengths", "sensitivity", "steady_state", "step_model"]

_V41 = ("MLPerf Inference v4.1 closed, NVIDIA (github.com/mlcommons/inference_results_v4.1@198fc467, "
        "closed/NVIDIA/results/{sys}/{bench}/{scen}/performance/run_1/mlperf_log_summary.txt)")
_V51 = ("MLPerf Inference v5.1 closed, NVIDIA, result 5.1-0069 (DGX B200) / 5.1-0070 (4x GB200) "
        "(github.com/mlcommons/inference_results_v5.1@965182b0, "
        "closed/NVIDIA/results/{sys}/{bench}/{scen}/performance/run_1/mlperf_log_summary.txt)")
_H100, _H200, _B200 = "DGX-H100_H100-SXM-80GBx8_TRT", "H200-SXM-141GBx8_TRT", "B200-SXM-180GBx8_TRT"
_GB200X4 = "GB200-NVL72_GB200-186GB_aarch64x4_TRT"

#: percentile model (inference.tails): equal-probability prompt bins, and output bins (probability edges) finer at
#: the short end, where the per-request TPOT spreads most
_PROMPT_BINS = 24
_OUTPUT_EDGES = (0.0, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8,
                 0.9, 1.0)

#: mean input tokens of each benchmark's dataset (see the module docstring for the source)
OPENORCA_IN, CNNDM_IN, L405_IN, R1_IN = 222.3, 870.7, 9428.6, 803.8


@dataclass(frozen=True)
class MLPerfSetup:
    """One MLPerf Inference result, with the deployment its submission configured."""

    label: str
    model: str  # model preset (inference.MODELS)
    chip: str  # chip preset (for reference; the fabric preset carries it)
    fabric: str  # fabric preset of the 8-GPU system
    tp: int
    pp: int
    ep: int
    engines: int  # engines (data-parallel replicas) on the system
    dtype: str  # weights and GEMMs as submitted (KV cache FP8)
    prompt: float  # mean input tokens of the dataset
    output: float  # mean generated tokens per sample of this run
    scenario: str  # "offline", "server" or "interactive"
    measured: float  # tokens/s of the system (metric throughput) or s (metric tpot)
    batch_cap: int  # gpu_batch_size of the submitted config, per engine
    token_budget: int  # max_num_tokens of the submitted config, per engine and iteration
    source: str
    ttft_limit: float | None = None  # s, 99th percentile (server/interactive)
    tpot_limit: float | None = None  # s, 99th percentile
    rate: float | None = None  # offered requests/s of the system (metrics tpot, ttft)
    metric: str = "throughput"  # "throughput", or "tpot" / "ttft" (means at the offered load)
    role: str = "held-out"
    graph_batches: tuple[int, ...] = ()  # CUDA-graph decode batch sizes per attention rank, padding on (if given)
    min_duration: float = 600.0  # s, loadgen's min_duration of the run as configured (fleet.mlperf simulates it)
    lengths: str = ""  # dataset key of inference.lengths.DATASETS ("": every request the mean lengths)
    length_spread: float = 1.0  # the length distributions stretched about their means (sensitivity)
    samples: int = 0  # Offline: samples in the run's one query (the log's effective_samples_per_query); 0 unknown
    dispatch: str = ""  # "": the harness's (least busy for Server, round robin else); "poisson": none (sensitivity)
    # the submission's ``kvcache_free_gpu_mem_frac`` (the engine's KV fraction of free memory, ``hbm_usable``):
    # v4.1 configs/llama2-70b/{Offline,Server}/__init__.py ``OfflineGPUBaseConfig`` / ``ServerGPUBaseConfig``
    # 0.90 (H100_SXM_80GB_TP2x4 and H200_SXM_141GBx8 inherit it); v5.1 configs/<system>/<Scenario>/*.py
    # ``trtllm_runtime_flags``: llama2-70b and llama3_1-405b 0.95, llama3_1-8b and deepseek-r1 0.9
    kv_fraction: float = 0.95


def _src(tmpl: str, system: str, bench: str, scen: str) -> str:
    return tmpl.format(sys=system, bench=bench, scen=scen)


_L2_SRV = {"ttft_limit": 2.0, "tpot_limit": 0.2}
_L2_INT = {"ttft_limit": 0.45, "tpot_limit": 0.04}
# loadgen min_duration as the configs set it (``min_duration`` / ``loadgen_fields.min_duration``, ms): v4.1
# llama2-70b Server 2,400,000 (configs/llama2-70b/Server/__init__.py); v5.1 B200 llama2-70b Server 2,400,000,
# Interactive 1,200,000; GB200 and the other v5.1 benchmarks 600,000
_RUN_2400 = {"min_duration": 2400.0}
_RUN_1200 = {"min_duration": 1200.0}

MLPERF_SETUPS: tuple[MLPerfSetup, ...] = (
    # v4.1, DGX H100: 4 engines of TP2, FP8; batch cap 896 (Offline) / 1024 (Server), max_num_tokens 4096
    MLPerfSetup("MLPerf v4.1 Llama-2-70B FP8, 8x H100 (4x TP2), Offline", "llama2-70b", "h100-sxm", "dgx-h100",
                2, 1, 1, 4, "fp8", OPENORCA_IN, 24524.9 / 84.4792, "offline", 24524.9, 896, 4096,
                _src(_V41, _H100, "llama2-70b-99", "Offline"), kv_fraction=0.9),
    MLPerfSetup("MLPerf v4.1 Llama-2-70B FP8, 8x H100 (4x TP2), Server", "llama2-70b", "h100-sxm", "dgx-h100",
                2, 1, 1, 4, "fp8", OPENORCA_IN, 21605.79 / 74.42, "server", 21605.79, 1024, 4096,
                _src(_V41, _H100, "llama2-70b-99", "Server"), **_L2_SRV, **_RUN_2400, kv_fraction=0.9),
    MLPerfSetup("MLPerf v4.1 Llama-2-70B FP8, 8x H100 (4x TP2), Server at 75.1 req/s: TPOT", "llama2-70b",
                "h100-sxm", "dgx-h100", 2, 1, 1, 4, "fp8", OPENORCA_IN, 21605.79 / 74.42, "server", 154.960e-3,
                1024, 4096, _src(_V41, _H100, "llama2-70b-99", "Server"), rate=75.10, metric="tpot", **_L2_SRV,
                **_RUN_2400, kv_fraction=0.9),
    # v4.1, H200 (8x H200-SXM-141GB): 8 engines of TP1, FP8; cap 806 / 896
    MLPerfSetup("MLPerf v4.1 Llama-2-70B FP8, 8x H200 (8x TP1), Offline", "llama2-70b", "h200", "dgx-h200",
                1, 1, 1, 8, "fp8", OPENORCA_IN, 31302.7 / 107.477, "offline", 31302.7, 806, 4096,
                _src(_V41, _H200, "llama2-70b-99", "Offline"), kv_fraction=0.9),
    MLPerfSetup("MLPerf v4.1 Llama-2-70B FP8, 8x H200 (8x TP1), Server", "llama2-70b", "h200", "dgx-h200",
                1, 1, 1, 8, "fp8", OPENORCA_IN, 29228.22 / 100.35, "server", 29228.22, 896, 4096,
                _src(_V41, _H200, "llama2-70b-99", "Server"), **_L2_SRV, **_RUN_2400, kv_fraction=0.9),
    MLPerfSetup("MLPerf v4.1 Llama-2-70B FP8, 8x H200 (8x TP1), Server at 101.3 req/s: TPOT", "llama2-70b",
                "h200", "dgx-h200", 1, 1, 1, 8, "fp8", OPENORCA_IN, 29228.22 / 100.35, "server", 123.263e-3,
                896, 4096, _src(_V41, _H200, "llama2-70b-99", "Server"), rate=101.25, metric="tpot", **_L2_SRV,
                **_RUN_2400, kv_fraction=0.9),
    # v5.1, DGX B200 (8x B200-SXM-180GB): 8 engines of TP1, NVFP4; cap 2048, max_num_tokens 3584
    MLPerfSetup("MLPerf v5.1 Llama-2-70B FP4, 8x B200 (8x TP1), Offline", "llama2-70b", "b200", "dgx-b200",
                1, 1, 1, 8, "fp4", OPENORCA_IN, 101527 / 371.423, "offline", 101527, 2048, 3584,
                _src(_V51, _B200, "llama2-70b-99", "Offline")),
    MLPerfSetup("MLPerf v5.1 Llama-2-70B FP4, 8x B200 (8x TP1), Server", "llama2-70b", "b200", "dgx-b200",
                1, 1, 1, 8, "fp4", OPENORCA_IN, 99123.04 / 361.30, "server", 99123.04, 2048, 3584,
                _src(_V51, _B200, "llama2-70b-99", "Server"), **_L2_SRV, **_RUN_2400),
    MLPerfSetup("MLPerf v5.1 Llama-2-70B FP4, 8x B200 (8x TP1), Server at 363.8 req/s: TPOT", "llama2-70b",
                "b200", "dgx-b200", 1, 1, 1, 8, "fp4", OPENORCA_IN, 99123.04 / 361.30, "server", 123.320e-3,
                2048, 3584, _src(_V51, _B200, "llama2-70b-99", "Server"), rate=363.79, metric="tpot", **_L2_SRV,
                **_RUN_2400),
    # v5.1, 4x GB200 (GB200-NVL72_GB200-186GB_aarch64x4): 4 engines of TP1, NVFP4; cap 2048, max_num_tokens 3584
    MLPerfSetup("MLPerf v5.1 Llama-2-70B FP4, 4x GB200 (4x TP1), Offline", "llama2-70b", "gb200", "gb200-nvl72",
                1, 1, 1, 4, "fp4", OPENORCA_IN, 51736.9 / 187.748, "offline", 51736.9, 2048, 3584,
                _src(_V51, _GB200X4, "llama2-70b-99", "Offline")),
    MLPerfSetup("MLPerf v5.1 Llama-2-70B FP4, 4x GB200 (4x TP1), Server", "llama2-70b", "gb200", "gb200-nvl72",
                1, 1, 1, 4, "fp4", OPENORCA_IN, 49359.61 / 178.48, "server", 49359.61, 2048, 3584,
                _src(_V51, _GB200X4, "llama2-70b-99", "Server"), **_L2_SRV),
    MLPerfSetup("MLPerf v5.1 Llama-2-70B FP4, 4x GB200 (4x TP1), Server at 182.0 req/s: TPOT", "llama2-70b",
                "gb200", "gb200-nvl72", 1, 1, 1, 4, "fp4", OPENORCA_IN, 49359.61 / 178.48, "server", 115.853e-3,
                2048, 3584, _src(_V51, _GB200X4, "llama2-70b-99", "Server"), rate=182.04, metric="tpot",
                **_L2_SRV),
    # Interactive: cap 768, max_num_tokens 768
    MLPerfSetup("MLPerf v5.1 Llama-2-70B FP4, 8x B200 (8x TP1), Interactive", "llama2-70b", "b200", "dgx-b200",
                1, 1, 1, 8, "fp4", OPENORCA_IN, 59545.45 / 218.82, "interactive", 59545.45, 768, 768,
                _src(_V51, _B200, "llama2-70b-99", "Interactive"), **_L2_INT, **_RUN_1200),
    MLPerfSetup("MLPerf v5.1 Llama-2-70B FP4, 8x B200 (8x TP1), Interactive at 220.1 req/s: TPOT", "llama2-70b",
                "b200", "dgx-b200", 1, 1, 1, 8, "fp4", OPENORCA_IN, 59545.45 / 218.82, "interactive", 34.210e-3,
                768, 768, _src(_V51, _B200, "llama2-70b-99", "Interactive"), rate=220.11, metric="tpot",
                **_L2_INT, **_RUN_1200),
    # Llama-3.1-8B (CNN/DailyMail): 8 engines of TP1, NVFP4; cap 6000, max_num_tokens 12000
    MLPerfSetup("MLPerf v5.1 Llama-3.1-8B FP4, 8x B200 (8x TP1), Offline", "llama3.1-8b", "b200", "dgx-b200",
                1, 1, 1, 8, "fp4", CNNDM_IN, 136752 / 1060.23, "offline", 136752, 6000, 12000,
                _src(_V51, _B200, "llama3.1-8b", "Offline"), kv_fraction=0.9),
    MLPerfSetup("MLPerf v5.1 Llama-3.1-8B FP4, 8x B200 (8x TP1), Server", "llama3.1-8b", "b200", "dgx-b200",
                1, 1, 1, 8, "fp4", CNNDM_IN, 128540.95 / 996.53, "server", 128540.95, 6000, 12000,
                _src(_V51, _B200, "llama3.1-8b", "Server"), ttft_limit=2.0, tpot_limit=0.1, kv_fraction=0.9),
    MLPerfSetup("MLPerf v5.1 Llama-3.1-8B FP4, 8x B200 (8x TP1), Interactive", "llama3.1-8b", "b200", "dgx-b200",
                1, 1, 1, 8, "fp4", CNNDM_IN, 102902.54 / 797.76, "interactive", 102902.54, 6000, 12000,
                _src(_V51, _B200, "llama3.1-8b", "Interactive"), ttft_limit=0.5, tpot_limit=0.03, kv_fraction=0.9),
    # Llama-3.1-405B: Offline 2 engines of TP2 x PP2 (cap 128, max_num_tokens 1536); Server 2 engines of TP4
    # (cap 256, max_num_tokens 2048); NVFP4
    MLPerfSetup("MLPerf v5.1 Llama-3.1-405B FP4, 8x B200 (2x TP2 PP2), Offline", "llama3.1-405b", "b200",
                "dgx-b200", 2, 2, 1, 2, "fp4", L405_IN, 1624.11 / 2.49245, "offline", 1624.11, 128, 1536,
                _src(_V51, _B200, "llama3.1-405b", "Offline")),
    MLPerfSetup("MLPerf v5.1 Llama-3.1-405B FP4, 8x B200 (2x TP4), Server", "llama3.1-405b", "b200", "dgx-b200",
                4, 1, 1, 2, "fp4", L405_IN, 1240.42 / 1.90, "server", 1240.42, 256, 2048,
                _src(_V51, _B200, "llama3.1-405b", "Server"), ttft_limit=6.0, tpot_limit=0.175),
    # Interactive: 2 engines of TP4, cap 256, runtime max_num_tokens 1536
    MLPerfSetup("MLPerf v5.1 Llama-3.1-405B FP4, 8x B200 (2x TP4), Interactive", "llama3.1-405b", "b200",
                "dgx-b200", 4, 1, 1, 2, "fp4", L405_IN, 751.37 / 1.15, "interactive", 751.37, 256, 1536,
                _src(_V51, _B200, "llama3.1-405b", "Interactive"), ttft_limit=4.5, tpot_limit=0.08),
    # DeepSeek-R1 (the DeepSeek-V3 architecture): one engine, attention DP over 8 GPUs + EP8 (tp=1, ep=8),
    # NVFP4; gpu_batch_size 512 per attention-DP rank (cap 4096); max_num_tokens 4608 per rank (Offline), 3456
    # (Server); enable_chunked_context False (a prompt runs whole); cuda_graph_batch_sizes [128, 256, 384, 512]
    # with cuda_graph_padding_enabled (configs/B200-SXM-180GBx8/{Offline,Server}/deepseek-r1.py)
    MLPerfSetup("MLPerf v5.1 DeepSeek-R1 FP4, 8x B200 (DP-attn + EP8), Offline", "deepseek-v3", "b200", "dgx-b200",
                1, 1, 8, 1, "fp4", R1_IN, 33379 / 8.93431, "offline", 33379, 4096, 8 * 4608,
                _src(_V51, _B200, "deepseek-r1", "Offline"), graph_batches=(128, 256, 384, 512), kv_fraction=0.9),
    MLPerfSetup("MLPerf v5.1 DeepSeek-R1 FP4, 8x B200 (DP-attn + EP8), Server", "deepseek-v3", "b200", "dgx-b200",
                1, 1, 8, 1, "fp4", R1_IN, 18592.24 / 4.96, "server", 18592.24, 4096, 8 * 3456,
                _src(_V51, _B200, "deepseek-r1", "Server"), ttft_limit=2.0, tpot_limit=0.08,
                graph_batches=(128, 256, 384, 512), kv_fraction=0.9),
)

#: mean TTFT (s) of the same runs as the TPOT rows ("Mean First Token latency (ns)" of the same logs)
_MEAN_TTFT = {
    "MLPerf v4.1 Llama-2-70B FP8, 8x H100 (4x TP2), Server at 75.1 req/s": 275.926e-3,
    "MLPerf v4.1 Llama-2-70B FP8, 8x H200 (8x TP1), Server at 101.3 req/s": 198.269e-3,
    "MLPerf v5.1 Llama-2-70B FP4, 8x B200 (8x TP1), Server at 363.8 req/s": 245.905e-3,
    "MLPerf v5.1 Llama-2-70B FP4, 8x B200 (8x TP1), Interactive at 220.1 req/s": 69.026e-3,
    "MLPerf v5.1 Llama-2-70B FP4, 4x GB200 (4x TP1), Server at 182.0 req/s": 217.699e-3,
}
MLPERF_SETUPS = MLPERF_SETUPS + tuple(
    replace(s, label=s.label.replace(": TPOT", ": TTFT"), metric="ttft", measured=_MEAN_TTFT[s.label.split(":")[0]])
    for s in MLPERF_SETUPS if s.metric == "tpot")
#: the latency distributions each Server / Interactive run measured (same logs as the throughput rows:
#: ``Scheduled samples per second``; ``Mean`` / ``99.00 percentile`` ``Time to Output Token`` and ``First Token
#: latency``): (offered requests/s of the system, mean TPOT, p99 TPOT, mean TTFT, p99 TTFT), s. Held out: printed
#: beside the percentile model's figures at the same offered rate (:func:`latency_percentiles`), never fitted.
MEASURED_LATENCY: dict[str, tuple[float, float, float, float, float]] = {
    "MLPerf v4.1 Llama-2-70B FP8, 8x H100 (4x TP2), Server": (75.10, 154.960e-3, 175.354e-3, 275.926e-3, 461.278e-3),
    "MLPerf v4.1 Llama-2-70B FP8, 8x H200 (8x TP1), Server": (101.25, 123.263e-3, 146.040e-3, 198.269e-3, 452.744e-3),
    "MLPerf v5.1 Llama-2-70B FP4, 8x B200 (8x TP1), Server": (363.79, 123.320e-3, 132.366e-3, 245.905e-3, 436.316e-3),
    "MLPerf v5.1 Llama-2-70B FP4, 4x GB200 (4x TP1), Server": (182.04, 115.853e-3, 129.867e-3, 217.699e-3,
                                                               405.592e-3),
    "MLPerf v5.1 Llama-2-70B FP4, 8x B200 (8x TP1), Interactive": (220.11, 34.210e-3, 38.149e-3, 69.026e-3,
                                                                    140.376e-3),
    "MLPerf v5.1 Llama-3.1-8B FP4, 8x B200 (8x TP1), Server": (999.47, 28.483e-3, 42.112e-3, 586.774e-3, 1749.395e-3),
    "MLPerf v5.1 Llama-3.1-8B FP4, 8x B200 (8x TP1), Interactive": (798.75, 23.388e-3, 27.910e-3, 113.398e-3,
                                                                     270.457e-3),
    "MLPerf v5.1 Llama-3.1-405B FP4, 8x B200 (2x TP4), Server": (1.90, 101.335e-3, 138.245e-3, 1626.050e-3,
                                                                 5134.163e-3),
    "MLPerf v5.1 Llama-3.1-405B FP4, 8x B200 (2x TP4), Interactive": (1.15, 62.316e-3, 77.697e-3, 999.821e-3,
                                                                      2510.582e-3),
    "MLPerf v5.1 DeepSeek-R1 FP4, 8x B200 (DP-attn + EP8), Server": (5.02, 66.461e-3, 72.180e-3, 726.163e-3,
                                                                     1695.862e-3),
}
#: each benchmark's dataset (per-sample length distributions: inference.lengths)
_DATASET = {"llama2-70b": "openorca", "llama3.1-8b": "cnndm", "llama3.1-405b": "llama3.1-405b",
            "deepseek-v3": "deepseek-r1"}
#: samples of each Offline run's one query ("effective_samples_per_query" of the same run's mlperf_log_detail.txt;
#: loadgen issues them all at once, the run ends when the last completes)
_OFFLINE_SAMPLES = {
    "MLPerf v4.1 Llama-2-70B FP8, 8x H100 (4x TP2), Offline": 200640,
    "MLPerf v4.1 Llama-2-70B FP8, 8x H200 (8x TP1), Offline": 274560,
    "MLPerf v5.1 Llama-2-70B FP4, 8x B200 (8x TP1), Offline": 992640,
    "MLPerf v5.1 Llama-2-70B FP4, 4x GB200 (4x TP1), Offline": 992640,
    "MLPerf v5.1 Llama-3.1-8B FP4, 8x B200 (8x TP1), Offline": 726000,
    "MLPerf v5.1 Llama-3.1-405B FP4, 8x B200 (2x TP2 PP2), Offline": 8313,
    "MLPerf v5.1 DeepSeek-R1 FP4, 8x B200 (DP-attn + EP8), Offline": 26328,
}
MLPERF_SETUPS = tuple(replace(s, lengths=_DATASET[s.model], samples=_OFFLINE_SAMPLES.get(s.label, 0))
                      for s in MLPERF_SETUPS)


@lru_cache(maxsize=256)
def run_lengths(s: MLPerfSetup):
    """The (prompt, output) token distribution of the run of ``s`` (:class:`inference.lengths.Lengths`): the
    dataset's, with the mean input ``s.prompt`` and the run's mean output ``s.output`` under the benchmark's
    max-output cap (:meth:`inference.lengths.Lengths.scaled`), stretched by ``s.length_spread``; constant mean
    lengths when ``s.lengths`` is empty."""
    from .lengths import OUTPUT_CAPS, Lengths

    if not s.lengths:
        return Lengths.constant(s.prompt, s.output)
    return Lengths.of_dataset(s.lengths).scaled(s.prompt, s.output, OUTPUT_CAPS[s.lengths], s.length_spread)


class _IterationCosts(NamedTuple):
    """An iteration's time as a linear function of the prompt tokens it carries (:meth:`_Engine._costs`)."""

    t_dec: float  # s, the decode-only iteration
    jump: float  # s, the extra cost of an iteration that carries any prompt tokens
    beta: float  # s per prompt token
    lane: float  # tokens per iteration left to prompts after the decodes


class _Engine:
    """Iteration times of one engine of a setup (memoised through :class:`inference.StepModel`)."""

    def __init__(self, s: MLPerfSetup, stack: str | None, knobs: dict[str, Any], additive: bool = False) -> None:
        from topo import load

        from .step import StepModel

        kw = {"hbm_usable": s.kv_fraction, **knobs}
        if s.graph_batches:
            kw.setdefault("graph_batches", s.graph_batches)
        # the engine sizes its KV pool after profiling a forward pass of max_num_tokens per rank (inference/memory.py;
        # token_budget is the engine's: per attention-DP rank it is that over the ep / tp ranks)
        kw.setdefault("max_num_tokens", max(1, s.token_budget // max(1, s.ep // s.tp)))
        if stack is not None:
            kw["stack"] = stack
        self.s = s
        self.additive = additive
        self.sm = StepModel(s.model, load(s.fabric), tp=s.tp, pp=s.pp, ep=s.ep, dtype=s.dtype, kv_dtype="fp8", **kw)
        # time-average context of a decode slot (length-biased over the run's distribution: inference.lengths);
        # prompt + output / 2 for constant lengths
        self.lengths = run_lengths(s)
        self._prior: dict[int, int] = {}
        self._tails: dict[tuple, dict[str, float]] = {}
        self.ctx = int(round(self.lengths.slot_context()))
        # TensorRT-LLM in-flight batching runs pp micro-batches, each up to gpu_batch_size sequences and
        # max_num_tokens tokens (capacity scheduler: max_batch_size x micro-batches)
        self.b_max = min(s.pp * s.batch_cap, self.sm.max_batch(self.ctx),
                         int(s.pp * s.token_budget / (1.0 + s.prompt / s.output)))
        if self.b_max < 1:
            raise RuntimeError(f"{s.label}: no sequence fits (batch cap, HBM or token budget)")

    def chunk(self, b: int) -> int:
        """Prompt tokens one micro-batch prefills per chunk with ``b`` in flight: the whole prompt, or the
        token budget left after the decoding sequences (chunked context), tokens."""
        s = self.s
        return max(1, min(int(round(s.prompt)), s.token_budget - math.ceil(b / s.pp)))

    def prior(self, c: int) -> int:
        """Mean earlier prompt tokens a prefill chunk of ``c`` tokens attends to (the prompts' causal attention
        work conserved over the prompt distribution: :meth:`inference.lengths.Lengths.chunk_prior_context`;
        ``(prompt - c) / 2`` for a constant prompt)."""
        if c not in self._prior:
            self._prior[c] = int(round(self.lengths.chunk_prior_context(c)))
        return self._prior[c]

    def iteration(self, b: int) -> float:
        """Mean time (s) of one scheduler iteration with ``b`` sequences in flight.

        Each iteration decodes ``b`` tokens and, to keep ``b`` in flight, prefills ``b x prompt / output``
        prompt tokens on average, in chunks of :meth:`chunk` tokens (a chunk of a longer prompt attends to
        the half of the prompt before it on average); ``k`` chunks per iteration on average means
        ``floor(k)`` or ``ceil(k)`` chunks, mixed in the proportion that gives ``k``."""
        s = self.s
        new = b * s.prompt / s.output
        c = self.chunk(b)
        pctx = self.prior(c)
        k = new / c
        lo = math.floor(k)
        frac = k - lo
        t = (1.0 - frac) * self._step(b, lo, c, pctx)
        if frac > 0:
            t += frac * self._step(b, lo + 1, c, pctx)
        return t

    def _step(self, b: int, chunks: int, c: int, pctx: int) -> float:
        """One iteration: ``b`` decoding sequences and ``chunks`` prompt chunks of ``c`` tokens, fused in one
        forward pass per micro-batch (``additive``: the upper bound, a decode step plus a separate prefill step)."""
        if chunks == 0:
            return float(self.sm.decode_time(b, self.ctx))
        if self.additive:
            return float(self.sm.decode_time(b, self.ctx)) + float(
                self.sm.mixed_time(0, 0, chunks * c, chunks, pctx))
        return float(self.sm.mixed_time(b, self.ctx, chunks * c, chunks, pctx))

    def ttft(self, b: int) -> float:
        """Estimated time to first token (s) with ``b`` in flight, no queueing: half a mean iteration of waiting,
        then one iteration per chunk of the prompt, each carrying that chunk (a fused step with at least one
        chunk: the mean iteration when every iteration carries chunks, else a step with exactly one)."""
        s = self.s
        c = self.chunk(b)
        k = b * s.prompt / s.output / c
        pctx = self.prior(c)
        t = self.iteration(b)
        carry = self._step(b, 1, c, pctx) if k < 1 else t
        return 0.5 * t + math.ceil(round(s.prompt) / c) * carry

    def in_flight(self, lam: float, top: int) -> tuple[int, bool]:
        """``(b, saturated)``: the sequences in flight per engine at ``lam`` requests/s per engine, by Little's law
        the smallest ``b <= top`` that keeps up (``b >= lam x output x T(b)``); ``top`` and True when none does
        (the offered load exceeds the modelled capacity: the batch saturates)."""
        out = self.s.output

        def keeps_up(b: int) -> bool:
            return b >= lam * out * self.iteration(b)

        if not keeps_up(top):
            return top, True
        return (1 if keeps_up(1) else _first_true(keeps_up, top)), False

    def meets(self, b: int) -> bool:
        """The former criterion (``latency="mean"``): the mean iteration time and the TTFT estimate within the
        p99 limits."""
        s = self.s
        return ((s.tpot_limit is None or self.iteration(b) <= s.tpot_limit)
                and (s.ttft_limit is None or self.ttft(b) <= s.ttft_limit))

    def meets_p99(self, b: int) -> bool:
        """The Server / Interactive criterion: the predicted 99th percentiles of TPOT and TTFT (:meth:`tails`)
        within the limits, the slot queue and the prefill lane stable."""
        s = self.s
        t = self.tails(b)
        return ((s.tpot_limit is None or t["tpot_p99"] <= s.tpot_limit)
                and (s.ttft_limit is None or t["ttft_p99"] <= s.ttft_limit))

    # ------------------------------------------------------------------ percentiles (inference.tails)
    @cached_property
    def _bins(self) -> dict[str, np.ndarray]:
        """The run's lengths compressed for the percentile model: prompt bins of equal probability (mean tokens,
        probability), output bins finer at the short end (harmonic-mean decode iterations ``O - 1`` of the
        outputs of two tokens or more, probability renormalised over them) and the joint nodes."""
        i, o, w = self.lengths._nodes
        i, o, w = np.asarray(i, float), np.asarray(o, float), np.asarray(w, float) / np.sum(w)

        def split(v: np.ndarray, wt: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            order = np.argsort(v, kind="stable")
            v, wt = v[order], wt[order]
            cum = np.cumsum(wt) / wt.sum()
            idx = np.searchsorted(edges[1:-1], cum - 0.5 * wt / wt.sum(), side="right")
            pw = np.bincount(idx, weights=wt, minlength=len(edges) - 1)
            mean = np.bincount(idx, weights=wt * v, minlength=len(edges) - 1)
            inv = np.bincount(idx, weights=wt / v, minlength=len(edges) - 1)
            keep = pw > 0
            return pw[keep] / pw.sum(), mean[keep] / pw[keep], pw[keep] / inv[keep]

        pw, pmean, _ = split(i, w, np.linspace(0.0, 1.0, _PROMPT_BINS + 1))
        dec = o >= 2.0
        if not dec.any():
            ow, on = np.array([1.0]), np.array([1.0])
        else:
            ow, _, on = split(o[dec] - 1.0, w[dec], np.array(_OUTPUT_EDGES))
        return {"pw": pw, "prompt": pmean, "ow": ow, "n": np.maximum(1.0, np.round(on)), "i": i, "o": o, "w": w}

    def _costs(self, b: int) -> _IterationCosts:
        """The iteration time as a linear function of what it carries, at ``b`` in flight: (``t_dec`` s, the
        decode-only step; ``jump`` s, the extra cost of an iteration that carries any prompt tokens; ``beta``
        s per prompt token; ``lane`` tokens per iteration left to prompts after the decodes). Three fused steps
        of the step model: no chunk, one chunk and ``max(2, ceil(k) + 1)`` chunks of :meth:`chunk` tokens (``k``
        the mean chunks per iteration), ``beta`` their slope, ``jump`` the intercept above the decode step."""
        s = self.s
        c = self.chunk(b)
        pctx = self.prior(c)
        lane = float(max(1, s.pp * s.token_budget - b))
        t_dec = self._step(b, 0, c, pctx) if b >= 1 else 0.0
        k2 = max(2, math.ceil(b * s.prompt / s.output / c) + 1)
        a1, a2 = self._step(b, 1, c, pctx), self._step(b, k2, c, pctx)
        beta = max(0.0, (a2 - a1) / ((k2 - 1) * c))
        return _IterationCosts(t_dec, max(0.0, a1 - t_dec - beta * c), beta, lane)

    def tails(self, b: int, q: float = 0.99, count_noise: bool = True) -> dict[str, float]:
        """Per-request TPOT and TTFT at ``b`` sequences in flight on average (``b = 0``: the limit of no load), at
        the rate Little's law gives, ``lam = b / (output x T(b))`` per engine (Poisson at the system, spread over
        the engines by the harness's dispatch, :func:`_dispatch_noise`): means and ``q`` quantiles (s) of
        :meth:`_tpot_quantile` and :meth:`_ttft_distribution` (the module docstring's percentile model,
        :mod:`inference.tails`), the prefill lane's utilisation ``lane_util`` and the probability of waiting for
        a slot ``slot_wait``. ``count_noise=False`` drops the slow noise of the in-flight count and the load's
        feedback (sensitivity, tests). Infinite percentiles where a queue is unstable (the prefill lane, or the
        slots at ``b >= b_max``)."""
        key = (b, q, count_noise)
        if key not in self._tails:
            t_mean = self.iteration(b) if b >= 1 else float(self.sm.decode_time(1, self.ctx))
            lam = b / (self.s.output * t_mean)  # requests/s per engine (Little's law)
            costs = self._costs(b)
            out = {"batch": b, "rate": lam, "tpot_mean": t_mean,
                   "tpot_p99": self._tpot_quantile(b, q, count_noise, t_mean, lam, costs)}
            out.update(self._ttft_distribution(b, q, t_mean, lam, costs))
            self._tails[key] = out
        return self._tails[key]

    def _prompt_costs(self, m: float, costs: _IterationCosts) -> np.ndarray:
        """A prompt's cost (s) to the iterations it lands in, per prompt bin: ``beta`` per token, a ``jump`` per
        extra iteration it spans, and its share of the jump of the iteration it starts in (busy iterations per
        arrival with a Poisson number ``m`` of arrivals per iteration)."""
        _, jump, beta, lane = costs
        prompt = self._bins["prompt"]
        share = (1.0 - math.exp(-m)) / m if m > 0 else 1.0
        return beta * prompt + jump * (np.ceil(prompt / lane) - 1.0 + share)

    def _tpot_quantile(self, b: int, q: float, count_noise: bool, t_mean: float, lam: float,
                       costs: _IterationCosts) -> float:
        """The ``q`` quantile (s) over requests of loadgen's per-request TPOT: for each output-length class of
        ``n`` decode iterations, the mean iteration plus ``1 / n`` of the cost of the prompts arriving during its
        life (exact by its characteristic function, :func:`inference.tails.window_cost_cf`) plus, as a Gaussian,
        the slower noise (the in-flight count and the load's feedback, :func:`inference.tails.feedback_window_var`,
        less its direct part); the mixture's quantile over the classes."""
        from .tails import (
            cdf_from_cf,
            count_dispersion,
            feedback_window_var,
            mixture_quantile,
            window_cost_cf,
        )

        s, bins = self.s, self._bins
        beta = costs.beta
        m = lam * t_mean  # prompts arriving per iteration
        prompt, pw = bins["prompt"], bins["pw"]
        y = self._prompt_costs(m, costs)
        ey, ey2 = float(y @ pw), float((y * y) @ pw)
        count_cv2, thin = _dispatch_noise(s)
        slow = np.zeros(len(bins["n"]))
        if count_noise and b >= 1:
            gamma = 0.0
            if b >= 2:
                # the mean iteration's slope per sequence in flight, its chord from one sequence (module docstring:
                # robust to the step model's bumps), less the prompts' part (b x prompt / output tokens per
                # iteration): the decode side's slope
                slope = (t_mean - self.iteration(1)) / (b - 1)
                gamma = max(0.0, slope - beta * s.prompt / s.output)
            mi = float(prompt @ pw)
            var_i = float((prompt - mi) ** 2 @ pw)
            slow = feedback_window_var(bins["n"], m, lam, gamma, beta, mi, var_i, bins["o"], bins["w"], count_cv2,
                                       thin)
            slow = np.maximum(0.0, slow - beta * beta * m * (var_i + count_cv2 * mi * mi) / bins["n"])
        eps = 1e-6 * t_mean
        grids = []
        for n, g in zip(bins["n"], slow):
            disp = count_dispersion(m * n, s.engines, count_cv2 < 1.0)
            sd = math.sqrt((m * n * (ey2 - ey * ey) + disp * m * n * ey * ey) / (n * n) + g) + eps
            if not math.isfinite(sd):
                return math.inf
            lo, hi = t_mean - 8.0 * sd, t_mean + 14.0 * sd + 2.0 * float(y.max()) / n

            def cf(u: np.ndarray, n: float = n, g: float = g, disp: float = disp) -> np.ndarray:
                return (np.exp(1j * u * (t_mean - m * ey)) * window_cost_cf(u / n, m * n, disp, y, pw)
                        * np.exp(-0.5 * g * u * u))

            grids.append(cdf_from_cf(cf, lo, hi, 1024))
        return mixture_quantile(grids, bins["ow"], q)

    def _ttft_distribution(self, b: int, q: float, t_mean: float, lam: float,
                           costs: _IterationCosts) -> dict[str, float]:
        """Mean and ``q`` quantile (s) of TTFT: the rest of the iteration in progress + the prompt's own
        iterations + the prefill lane's backlog beyond the headroom of its first iteration (M/G/1, scaled for
        the dispatch's smoother arrivals) + the wait for a slot (Erlang C), as one probability mass on a time
        grid (:func:`inference.tails.ttft_pmf`); ``lane_util`` and ``slot_wait`` beside."""
        from .tails import cdf_from_cf, mg1_wait_cf, slot_wait_cf, ttft_pmf

        s, bins = self.s, self._bins
        t_dec, jump, beta, lane = costs
        prompt, pw = bins["prompt"], bins["pw"]
        m = lam * t_mean
        busy = 1.0 - math.exp(-b)
        t_full = t_dec + jump + beta * lane
        x = prompt / lane * t_full  # a prompt's service time in the prefill lane
        rho = lam * float(x @ pw)
        kk = np.ceil(prompt / lane)
        own = (kk - 1.0) * t_full + t_dec + jump + beta * np.minimum(lane, prompt - (kk - 1.0) * lane
                                                                  + m * float(prompt @ pw))
        out = {"lane_util": rho, "slot_wait": 0.0, "ttft_mean": math.inf, "ttft_p99": math.inf}
        a = b  # Erlangs offered to the slots (mean in flight)
        if rho >= 1.0 or (b >= 1 and a >= self.b_max):
            out["slot_wait"] = 1.0 if a >= self.b_max else 0.0
            return out
        # an engine's arrivals are smoother than Poisson under the harness's dispatch (interarrival CV^2
        # count_cv2): the lane's M/G/1 wait scaled by Kingman's (ca^2 + cs^2) / (1 + cs^2), the slots' by
        # Allen-Cunneen's (ca^2 + cs^2) / 2 (ASSUMPTION: heavy-traffic scalings, exact for the mean as rho -> 1)
        count_cv2 = _dispatch_noise(s)[0]
        ex, ex2, ex3 = float(x @ pw), float((x ** 2) @ pw), float((x ** 3) @ pw)
        cs2 = ex2 / ex ** 2 - 1.0 if ex > 0 else 0.0
        scale = (count_cv2 + cs2) / (1.0 + cs2)
        w1 = scale * lam * ex2 / (2.0 * (1.0 - rho))
        w2 = scale * scale * (2.0 * (w1 / scale) ** 2 + lam * ex3 / (3.0 * (1.0 - rho)))
        mean_life = s.output * t_mean
        cv2 = float((bins["o"] * t_mean - mean_life) ** 2 @ bins["w"]) / mean_life ** 2
        pwait, theta = 0.0, 0.0
        if b >= 1:
            _, pwait, theta = slot_wait_cf(np.zeros(1), self.b_max, a, mean_life, cv2, count_cv2)
        r1 = busy * t_mean / 2.0
        o1 = float(own @ pw)
        # the lane's backlog V (M/G/1 fluid, Pollaczek-Khinchine) delays a prompt only beyond the lane time its
        # first iteration has left beside it: extra = max(0, V - headroom) (inference.tails.ttft_pmf)
        headroom = np.where(prompt <= lane, t_full - x, 0.0)
        upper = r1 + w1 + pwait * theta + o1  # the mean with the whole backlog as wait: an upper bound
        sd = math.sqrt(max(0.0, busy * t_mean ** 2 / 3.0 - r1 ** 2 + max(0.0, w2 - w1 * w1)
                           + pwait * theta ** 2 * (2.0 - pwait) + float((own - o1) ** 2 @ pw))) + 1e-6 * t_mean
        cells = 4096
        dx = (upper + 16.0 * sd + float(own.max()) + t_mean) / cells
        wait = None
        if rho > 0:  # cells below 0 catch the smoothing of the atom at 0 (folded back into it)
            pad = 64
            _, fw = cdf_from_cf(lambda u: mg1_wait_cf(scale * u, lam, x, pw), -(pad + 0.5) * dx,
                                (cells - 0.5) * dx, cells + pad)
            wait = np.diff(np.concatenate(([0.0], fw)))
            wait = np.concatenate(([wait[:pad + 1].sum()], wait[pad + 1:]))
        pmf = ttft_pmf(dx, cells, t_mean, busy, own, pw, headroom, wait, pwait, theta)
        cdf = np.cumsum(pmf)
        vals = np.arange(cells) * dx
        out.update(ttft_mean=float(pmf @ vals) / max(float(pmf.sum()), 1e-300), slot_wait=pwait,
                   ttft_p99=float(np.interp(q, cdf, vals)) if cdf[-1] >= q else math.inf)
        return out

def _dispatch_noise(s: MLPerfSetup) -> tuple[float, float]:
    """How the harness's dispatch over the engines shapes the slow load noise one engine sees: (variance factor
    of its arrival counts, of its in-flight count's thinning noise). NVIDIA's harness sends Server queries to
    the least-busy engine (v5.1 ``code/llmlib/config.py``: Server ``load_balancing``, other scenarios
    ``round_robin``; ``code/llmlib/factory.py``: the core with the fewest pending samples; v4.1
    ``code/harness/harness_llm/main_llm.cc``: ``traffic_distribution_policy`` default 2, load balancing).
    Round robin: every ``engines``-th arrival of a Poisson stream, counts with variance ``1 / engines`` of
    Poisson over windows of many arrivals (Erlang interarrivals), lifetimes still the engine's own; least
    busy: the engines' in-flight counts kept even, so both noises pooled over the engines. ASSUMPTION: the
    pooling is perfect (sensitivity: Poisson at each engine, ``python -m inference.mlperf`` column)."""
    if s.engines <= 1 or s.dispatch == "poisson":
        return 1.0, 1.0
    if s.dispatch == "round-robin" or (s.dispatch == "" and s.scenario != "server"):
        return 1.0 / s.engines, 1.0
    return 1.0 / s.engines, 1.0 / s.engines


def _largest(ok, hi: int) -> int:
    """Largest b in [1, hi] with ok(b), assuming ok is monotone (true up to a point); 0 if none."""
    if ok(hi):
        return hi
    if not ok(1):
        return 0
    lo = 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def steady_state(s: MLPerfSetup, stack: str | None = None, additive: bool = False, latency: str = "p99",
                 **knobs: Any) -> dict[str, float]:
    """The operating point of a setup: in-flight sequences per engine ``batch``, iteration time ``tpot`` (s),
    ``ttft`` estimate (s) and system ``throughput`` (output tokens/s), per the module docstring's model
    (``additive``: the mixed iteration's upper bound, a decode step plus a separate prefill step). Server /
    Interactive: ``latency="p99"`` holds the predicted 99th percentiles of TPOT and TTFT within the limits
    (:meth:`_Engine.tails`); ``"mean"`` the former criterion, the mean iteration and the TTFT estimate."""
    if latency not in ("p99", "mean"):
        from topo import SpecError

        raise SpecError(f"steady_state: latency must be 'p99' or 'mean', got {latency!r}")
    eng = _Engine(s, stack, knobs, additive)
    if s.metric in ("tpot", "ttft"):
        b, _ = eng.in_flight(s.rate / s.engines, eng.b_max)
    elif s.scenario == "offline":
        b = eng.b_max
    elif latency == "mean":
        b = _largest(eng.meets, eng.b_max)
        if b == 0:
            raise RuntimeError(f"{s.label}: even one sequence misses the latency limits")
    else:  # the slots are a queue: a stable one needs fewer sequences in flight on average than slots
        b = _largest(eng.meets_p99, eng.b_max - 1)
        if b == 0:
            raise RuntimeError(f"{s.label}: even one sequence in flight misses the p99 latency limits")
    t = eng.iteration(b)
    out = {"batch": b, "tpot": t, "ttft": eng.ttft(b), "throughput": s.engines * b / t, "b_max": eng.b_max,
           "backend": eng.sm.deployment.provenance().get("backend", "")}
    if s.scenario != "offline" and latency == "p99":
        tl = eng.tails(b)
        out.update(tpot_p99=tl["tpot_p99"], ttft_p99=tl["ttft_p99"], ttft_mean=tl["ttft_mean"])
    return out


def latency_percentiles(s: MLPerfSetup, rate: float | None = None, stack: str | None = None,
                        **knobs: Any) -> dict[str, float]:
    """The percentile model at an offered load: ``rate`` requests/s of the system (default: the run's
    measured ``Scheduled samples per second``, :data:`MEASURED_LATENCY`), shared evenly by the engines; the
    in-flight count per engine is the smallest that keeps up (Little's law, as for the at-load rows), or the
    largest modelled when none does (``saturated``). Returns ``batch``, ``saturated`` and the means and 99th
    percentiles of TPOT and TTFT (s) of :meth:`_Engine.tails`."""
    if rate is None:
        rate = MEASURED_LATENCY[s.label][0]
    eng = _Engine(s, stack, knobs)
    b, saturated = eng.in_flight(rate / s.engines, eng.b_max - 1)
    return {**eng.tails(b), "saturated": saturated}


def step_model(s: MLPerfSetup, stack: str | None = None, **knobs: Any):
    """The :class:`inference.StepModel` of one engine of ``s`` as the scenario model runs it (``hbm_usable`` the
    submission's ``kv_fraction``, FP8 KV cache, the submission's CUDA-graph sizes), for the request-level simulation
    (:mod:`fleet.mlperf`)."""
    return _Engine(s, stack, knobs).sm


def engine_limits(s: MLPerfSetup) -> dict[str, int]:
    """The engine's scheduler limits as submitted: sequences in flight (``gpu_batch_size`` per micro-batch x
    ``pp`` micro-batches) and tokens per iteration (``max_num_tokens`` per micro-batch x ``pp``)."""
    return {"batch": s.pp * s.batch_cap, "token_budget": s.pp * s.token_budget}


def _first_true(ok, hi: int) -> int:
    """Smallest b in [1, hi] with ok(b), given not ok(1) and ok(hi) (ok monotone)."""
    lo = 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def predict_mlperf(s: MLPerfSetup, stack: str | None = None, additive: bool = False, latency: str = "p99",
                   **knobs: Any) -> dict:
    """Predicted figures for one MLPerf setup, in :func:`inference.validation.predict`'s form (``latency``: the
    Server / Interactive criterion of :func:`steady_state`)."""
    st = steady_state(s, stack, additive, latency, **knobs)
    value = st[s.metric]
    return {"batch": st["batch"], "predicted": value, "ttft": st["ttft"], "tpot": st["tpot"],
            "backend": st["backend"]}


def sensitivity(s: MLPerfSetup, factor: float, stack: str | None = None, **knobs: Any) -> float:
    """The row's prediction with the mean input and output lengths scaled by ``factor`` (the distributions
    scaled with them)."""
    return predict_mlperf(replace(s, prompt=s.prompt * factor, output=s.output * factor), stack, **knobs)["predicted"]


def _fmt(v: float, metric: str) -> str:
    return f"{v:,.0f} tok/s" if metric == "throughput" else f"{v * 1e3:,.1f} ms"


def latency_table(stack: str | None = None) -> list[dict]:
    """Each Server / Interactive run of :data:`MEASURED_LATENCY`: the logged means and p99s of TPOT and TTFT
    beside the percentile model's at the same offered rate (:func:`latency_percentiles`; held out)."""
    rows = []
    for s in MLPERF_SETUPS:
        if s.label not in MEASURED_LATENCY or s.metric != "throughput":
            continue
        rate, tpot, tpot99, ttft, ttft99 = MEASURED_LATENCY[s.label]
        p = latency_percentiles(s, rate, stack)
        rows.append({"setup": s.label, "rate": rate, "batch": p["batch"], "saturated": p["saturated"],
                     "measured": {"tpot": tpot, "tpot_p99": tpot99, "ttft": ttft, "ttft_p99": ttft99},
                     "predicted": {"tpot": p["tpot_mean"], "tpot_p99": p["tpot_p99"], "ttft": p["ttft_mean"],
                                   "ttft_p99": p["ttft_p99"]}})
    return rows


def _ms(v: float) -> str:
    return "inf" if not math.isfinite(v) else f"{v * 1e3:,.1f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if math.isfinite(a) and math.isfinite(b) and b > 0 else "-"


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m inference.mlperf", description="MLPerf Inference rows of the validation table, with sensitivity")
    ap.add_argument("--stack", default=None, choices=_STACKS, help="serving stack (default: trtllm); ideal = roofline")
    ap.add_argument("--latency-only", action="store_true",
                    help="print only the measured-vs-predicted latency percentiles at the runs' offered rates")
    args = ap.parse_args(argv)
    if not args.latency_only:
        print("| setup | metric | measured | predicted | error | in flight / engine | slot context (tokens) | "
              "mean lengths only: error | spread x0.8 | spread x1.2 | lengths x0.8 | lengths x1.2 | "
              "additive (decode + separate prefill) | mean-iteration criterion (former): error | "
              "Poisson at each engine: error |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for s in MLPERF_SETUPS:
            p = predict_mlperf(s, args.stack)
            v = p["predicted"]
            lo, hi = sensitivity(s, 0.8, args.stack), sensitivity(s, 1.2, args.stack)
            narrow, wide = (predict_mlperf(replace(s, length_spread=k), args.stack)["predicted"] for k in (0.8, 1.2))
            flat = predict_mlperf(replace(s, lengths=""), args.stack)["predicted"]
            one = predict_mlperf(s, args.stack, additive=True)["predicted"]
            ctx = run_lengths(s).slot_context()
            former = poisson = ""
            if s.scenario != "offline" and s.metric == "throughput":
                f = predict_mlperf(s, args.stack, latency="mean")["predicted"]
                q = predict_mlperf(replace(s, dispatch="poisson"), args.stack)["predicted"]
                former, poisson = f"{(f - s.measured) / s.measured:+.0%}", f"{(q - s.measured) / s.measured:+.0%}"

            def rel(x: float, v: float = v) -> str:
                return f"{(x - v) / v:+.0%}"

            print(f"| {s.label} | {s.metric} | {_fmt(s.measured, s.metric)} | {_fmt(v, s.metric)} | "
                  f"{(v - s.measured) / s.measured:+.0%} | {p['batch']} | {ctx:,.0f} (mean lengths "
                  f"{s.prompt + s.output / 2:,.0f}) | {(flat - s.measured) / s.measured:+.0%} | {rel(narrow)} | "
                  f"{rel(wide)} | {rel(lo)} | {rel(hi)} | {(one - s.measured) / s.measured:+.0%} | {former} | "
                  f"{poisson} |", flush=True)
        print()
    print("Latency percentiles at each run's offered rate (ms; measured: the run's log, held out; predicted: the "
          "percentile model at the same rate, * = beyond the modelled capacity)")
    print()
    print("| run | offered req/s | in flight / engine | TPOT mean meas / pred | TPOT p99 meas / pred | "
          "p99/mean meas / pred | TTFT mean meas / pred | TTFT p99 meas / pred | p99/mean meas / pred |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in latency_table(args.stack):
        m, p = r["measured"], r["predicted"]
        print(f"| {r['setup']} | {r['rate']:,.2f} | {r['batch']}{'*' if r['saturated'] else ''} | "
              f"{_ms(m['tpot'])} / {_ms(p['tpot'])} | {_ms(m['tpot_p99'])} / {_ms(p['tpot_p99'])} | "
              f"{_ratio(m['tpot_p99'], m['tpot'])} / {_ratio(p['tpot_p99'], p['tpot'])} | "
              f"{_ms(m['ttft'])} / {_ms(p['ttft'])} | {_ms(m['ttft_p99'])} / {_ms(p['ttft_p99'])} | "
              f"{_ratio(m['ttft_p99'], m['ttft'])} / {_ratio(p['ttft_p99'], p['ttft'])} |", flush=True)


if __name__ == "__main__":
    main()
