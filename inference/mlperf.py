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
  in HBM (``hbm_usable`` 0.95, paged KV), and ``pp x max_num_tokens / (1 + prompt / output)`` (every
  iteration's tokens within the budget).
- **Offline**: the largest such ``b``.
- **Server / Interactive**: the largest ``b`` whose iteration time meets the TPOT limit and whose TTFT
  estimate ``0.5 T(b) + ceil(prompt / chunk) x T_carry(b)`` (half an iteration of waiting, then the prompt
  in chunks of the iteration's spare budget, each iteration carrying a chunk: ``T_carry`` is the fused step
  with one chunk when fewer than one chunk runs per iteration on average, else ``T(b)``) meets the TTFT
  limit. ASSUMPTION: the mean iteration time stands in for the 99th percentile (the logs show p99 TPOT
  1.07-1.18 x the mean) and queueing is ignored.
- **TPOT at the offered load** (metric ``tpot``): with ``rate`` requests/s per system (the log's
  ``Scheduled samples per second``) and Little's law, the in-flight count ``b`` solves ``b = rate /
  engines x output x T(b)`` (the smallest ``b`` that keeps up; the cap when none does); predicted TPOT
  ``T(b)``. This is ill-conditioned near saturation: the runs are loaded to 85-95 % of their capacity,
  where a few per cent of throughput error moves the in-flight count, hence TPOT, by tens of per cent.
- **TTFT at the offered load** (metric ``ttft``): the TTFT estimate above at that operating point.
  ASSUMPTION: no queueing before admission (the engine admits every arrival at the next iteration), so
  it is a lower bound where requests wait for KV space or batch slots.
- Both latency rows are also simulated request by request (Poisson arrivals at the offered rate, queueing
  included) by :mod:`fleet.mlperf` (``python -m fleet.mlperf``), which ``inference`` cannot import; the
  table of docs/inference.md uses the simulated figures (``python -m fleet.mlperf --table``); this module's
  figures are the analytic steady state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

__all__ = ["MLPERF_SETUPS", "MLPerfSetup", "engine_limits", "predict_mlperf", "run_lengths", "sensitivity",
           "steady_state", "step_model"]

_V41 = ("MLPerf Inference v4.1 closed, NVIDIA (github.com/mlcommons/inference_results_v4.1@198fc467, "
        "closed/NVIDIA/results/{sys}/{bench}/{scen}/performance/run_1/mlperf_log_summary.txt)")
_V51 = ("MLPerf Inference v5.1 closed, NVIDIA, result 5.1-0069 (DGX B200) / 5.1-0070 (4x GB200) "
        "(github.com/mlcommons/inference_results_v5.1@965182b0, "
        "closed/NVIDIA/results/{sys}/{bench}/{scen}/performance/run_1/mlperf_log_summary.txt)")
_H100, _H200, _B200 = "DGX-H100_H100-SXM-80GBx8_TRT", "H200-SXM-141GBx8_TRT", "B200-SXM-180GBx8_TRT"
_GB200X4 = "GB200-NVL72_GB200-186GB_aarch64x4_TRT"

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
                _src(_V41, _H100, "llama2-70b-99", "Offline")),
    MLPerfSetup("MLPerf v4.1 Llama-2-70B FP8, 8x H100 (4x TP2), Server", "llama2-70b", "h100-sxm", "dgx-h100",
                2, 1, 1, 4, "fp8", OPENORCA_IN, 21605.79 / 74.42, "server", 21605.79, 1024, 4096,
                _src(_V41, _H100, "llama2-70b-99", "Server"), **_L2_SRV, **_RUN_2400),
    MLPerfSetup("MLPerf v4.1 Llama-2-70B FP8, 8x H100 (4x TP2), Server at 75.1 req/s: TPOT", "llama2-70b",
                "h100-sxm", "dgx-h100", 2, 1, 1, 4, "fp8", OPENORCA_IN, 21605.79 / 74.42, "server", 154.960e-3,
                1024, 4096, _src(_V41, _H100, "llama2-70b-99", "Server"), rate=75.10, metric="tpot", **_L2_SRV,
                **_RUN_2400),
    # v4.1, H200 (8x H200-SXM-141GB): 8 engines of TP1, FP8; cap 806 / 896
    MLPerfSetup("MLPerf v4.1 Llama-2-70B FP8, 8x H200 (8x TP1), Offline", "llama2-70b", "h200", "dgx-h200",
                1, 1, 1, 8, "fp8", OPENORCA_IN, 31302.7 / 107.477, "offline", 31302.7, 806, 4096,
                _src(_V41, _H200, "llama2-70b-99", "Offline")),
    MLPerfSetup("MLPerf v4.1 Llama-2-70B FP8, 8x H200 (8x TP1), Server", "llama2-70b", "h200", "dgx-h200",
                1, 1, 1, 8, "fp8", OPENORCA_IN, 29228.22 / 100.35, "server", 29228.22, 896, 4096,
                _src(_V41, _H200, "llama2-70b-99", "Server"), **_L2_SRV, **_RUN_2400),
    MLPerfSetup("MLPerf v4.1 Llama-2-70B FP8, 8x H200 (8x TP1), Server at 101.3 req/s: TPOT", "llama2-70b",
                "h200", "dgx-h200", 1, 1, 1, 8, "fp8", OPENORCA_IN, 29228.22 / 100.35, "server", 123.263e-3,
                896, 4096, _src(_V41, _H200, "llama2-70b-99", "Server"), rate=101.25, metric="tpot", **_L2_SRV,
                **_RUN_2400),
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
                _src(_V51, _B200, "llama3.1-8b", "Offline")),
    MLPerfSetup("MLPerf v5.1 Llama-3.1-8B FP4, 8x B200 (8x TP1), Server", "llama3.1-8b", "b200", "dgx-b200",
                1, 1, 1, 8, "fp4", CNNDM_IN, 128540.95 / 996.53, "server", 128540.95, 6000, 12000,
                _src(_V51, _B200, "llama3.1-8b", "Server"), ttft_limit=2.0, tpot_limit=0.1),
    MLPerfSetup("MLPerf v5.1 Llama-3.1-8B FP4, 8x B200 (8x TP1), Interactive", "llama3.1-8b", "b200", "dgx-b200",
                1, 1, 1, 8, "fp4", CNNDM_IN, 102902.54 / 797.76, "interactive", 102902.54, 6000, 12000,
                _src(_V51, _B200, "llama3.1-8b", "Interactive"), ttft_limit=0.5, tpot_limit=0.03),
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
                _src(_V51, _B200, "deepseek-r1", "Offline"), graph_batches=(128, 256, 384, 512)),
    MLPerfSetup("MLPerf v5.1 DeepSeek-R1 FP4, 8x B200 (DP-attn + EP8), Server", "deepseek-v3", "b200", "dgx-b200",
                1, 1, 8, 1, "fp4", R1_IN, 18592.24 / 4.96, "server", 18592.24, 4096, 8 * 3456,
                _src(_V51, _B200, "deepseek-r1", "Server"), ttft_limit=2.0, tpot_limit=0.08,
                graph_batches=(128, 256, 384, 512)),
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


class _Engine:
    """Iteration times of one engine of a setup (memoised through :class:`inference.StepModel`)."""

    def __init__(self, s: MLPerfSetup, stack: str | None, knobs: dict[str, Any], additive: bool = False) -> None:
        from topo import load

        from .step import StepModel

        kw = {"hbm_usable": 0.95, **knobs}
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

    def meets(self, b: int) -> bool:
        s = self.s
        return ((s.tpot_limit is None or self.iteration(b) <= s.tpot_limit)
                and (s.ttft_limit is None or self.ttft(b) <= s.ttft_limit))


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


def steady_state(s: MLPerfSetup, stack: str | None = None, additive: bool = False,
                 **knobs: Any) -> dict[str, float]:
    """The operating point of a setup: in-flight sequences per engine ``batch``, iteration time ``tpot`` (s),
    ``ttft`` estimate (s) and system ``throughput`` (output tokens/s), per the module docstring's model
    (``additive``: the mixed iteration's upper bound, a decode step plus a separate prefill step)."""
    eng = _Engine(s, stack, knobs, additive)
    if s.metric in ("tpot", "ttft"):
        lam = s.rate / s.engines  # requests/s per engine

        def keeps_up(b: int) -> bool:
            return b >= lam * s.output * eng.iteration(b)

        if not keeps_up(eng.b_max):
            b = eng.b_max  # the offered load exceeds the modelled capacity: the batch saturates
        else:
            b = 1 if keeps_up(1) else _first_true(keeps_up, eng.b_max)
    elif s.scenario == "offline":
        b = eng.b_max
    else:
        b = _largest(eng.meets, eng.b_max)
        if b == 0:
            raise RuntimeError(f"{s.label}: even one sequence misses the latency limits")
    t = eng.iteration(b)
    return {"batch": b, "tpot": t, "ttft": eng.ttft(b), "throughput": s.engines * b / t, "b_max": eng.b_max,
            "backend": eng.sm.deployment.provenance().get("backend", "")}


def step_model(s: MLPerfSetup, stack: str | None = None, **knobs: Any):
    """The :class:`inference.StepModel` of one engine of ``s`` as the scenario model runs it (``hbm_usable``
    0.95, FP8 KV cache, the submission's CUDA-graph sizes), for the request-level simulation
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


def predict_mlperf(s: MLPerfSetup, stack: str | None = None, additive: bool = False, **knobs: Any) -> dict:
    """Predicted figures for one MLPerf setup, in :func:`inference.validation.predict`'s form."""
    st = steady_state(s, stack, additive, **knobs)
    value = st[s.metric]
    return {"batch": st["batch"], "predicted": value, "ttft": st["ttft"], "tpot": st["tpot"],
            "backend": st["backend"]}


def sensitivity(s: MLPerfSetup, factor: float, stack: str | None = None, **knobs: Any) -> float:
    """The row's prediction with the mean input and output lengths scaled by ``factor`` (the distributions
    scaled with them)."""
    return predict_mlperf(replace(s, prompt=s.prompt * factor, output=s.output * factor), stack, **knobs)["predicted"]


def _fmt(v: float, metric: str) -> str:
    return f"{v:,.0f} tok/s" if metric == "throughput" else f"{v * 1e3:,.1f} ms"


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="MLPerf Inference rows of the validation table, with sensitivity")
    ap.add_argument("--stack", default=None, help="serving stack (default: trtllm); ideal = roofline")
    args = ap.parse_args(argv)
    print("| setup | metric | measured | predicted | error | in flight / engine | slot context (tokens) | "
          "mean lengths only: error | spread x0.8 | spread x1.2 | lengths x0.8 | lengths x1.2 | "
          "additive (decode + separate prefill) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in MLPERF_SETUPS:
        p = predict_mlperf(s, args.stack)
        v = p["predicted"]
        lo, hi = sensitivity(s, 0.8, args.stack), sensitivity(s, 1.2, args.stack)
        narrow, wide = (predict_mlperf(replace(s, length_spread=k), args.stack)["predicted"] for k in (0.8, 1.2))
        flat = predict_mlperf(replace(s, lengths=""), args.stack)["predicted"]
        one = predict_mlperf(s, args.stack, additive=True)["predicted"]
        ctx = run_lengths(s).slot_context()

        def rel(x: float, v: float = v) -> str:
            return f"{(x - v) / v:+.0%}"

        print(f"| {s.label} | {s.metric} | {_fmt(s.measured, s.metric)} | {_fmt(v, s.metric)} | "
              f"{(v - s.measured) / s.measured:+.0%} | {p['batch']} | {ctx:,.0f} (mean lengths "
              f"{s.prompt + s.output / 2:,.0f}) | {(flat - s.measured) / s.measured:+.0%} | {rel(narrow)} | "
              f"{rel(wide)} | {rel(lo)} | {rel(hi)} | {(one - s.measured) / s.measured:+.0%} |", flush=True)


if __name__ == "__main__":
    main()
