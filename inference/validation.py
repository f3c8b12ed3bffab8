"""Predictions beside published measurements (the validation table of docs/inference.md).

Run ``python -m inference.validation`` to recompute the table. Every measured figure below is copied
from its public source (cited per row); every predicted figure comes from :func:`inference.estimate`
with the documented default knobs, nothing fitted to these rows.

Source for the throughput rows: TensorRT-LLM "Performance Overview" (docs/source/performance/
perf-overview.md, github.com/NVIDIA/TensorRT-LLM, version at commit 00f37686), ``trtllm-bench
throughput``: all requests queued at once, synthetic prompts of exactly ISL tokens and outputs of
exactly OSL tokens, in-flight batching, "Total Output Throughput (tokens/sec)" of the whole TP group,
ModelOpt FP8/FP4 checkpoints (FP8 KV cache), KV cache up to 0.95 of free memory, ``$num_requests``
requests per ISL/OSL (:data:`TRTLLM_NUM_REQUESTS`), CUDA graphs with padding over the listed batch sizes
(:data:`TRTLLM_GRAPH_BATCHES`), no ``--max_batch_size`` / ``--max_num_tokens`` (trtllm-bench then derives
both, :func:`bench_settings`); MoE models with attention data parallelism. Llama-3.3-70B has the
Llama-3.1-70B architecture.

How we predict a max-throughput run: the batch is the largest that fits in HBM (weights + KV cache for
ISL + OSL tokens + activations, ``hbm_usable=0.95``), capped by trtllm-bench's ``max_batch_size`` per
scheduler (one per attention data-parallel rank) and by the request count; decode steps run the CUDA-graph
padded batch (``graph_batches``); throughput = requests x OSL / the time of the waves they run in (each wave
the prefill of its batch plus OSL decode steps).

Latency rows (NVIDIA NIM benchmarking, concurrency 1) are predicted at batch 1: TTFT and the mean time per
output token (NIM's inter-token latency, ITL).

MLPerf Inference rows (:mod:`inference.mlperf`: NVIDIA closed-division Offline, Server and Interactive results
on 8x H100 / H200 / B200, and the mean TPOT of Server runs at their offered load) are predicted at the
scenario's steady-state operating point with the dataset's mean lengths; all held out.

Honesty rule (issue 11): the serving-stack parameters that are fitted to end-to-end numbers (the per-step
framework cost of :mod:`inference.kernels`) are fitted on the rows marked ``calibration`` only (TensorRT-LLM
dense throughput rows on H100 and B200; ``python -m inference.validation --fit`` reruns that fit); every other
row is ``held-out`` and reported as it comes out, however large the error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx

from topo import ChipSpec, Fabric

from .estimate import Deployment
from .kernels import STACKS as _STACKS
from .mlperf import MLPERF_SETUPS, MLPerfSetup, predict_mlperf
from .models import ModelSpec
from .report import estimate, max_batch

TRTLLM = "TensorRT-LLM perf-overview.md (commit 00f37686), trtllm-bench throughput"
NIM = ("NVIDIA NIM LLM benchmarking, Performance (docs.nvidia.com/nim/benchmarking/llm/1.0.0/performance), "
       "Llama-3.3-70b-instruct NIM 1.8.0, 2 x H100 80G, fp8 TP2, concurrency 1")


@dataclass(frozen=True)
class Setup:
    """One published measurement."""

    label: str
    model: str
    chip: str  # chip preset (topo.presets.CHIPS)
    fabric: str | None  # fabric preset when tp*ep > 1 (communication simulated), else one chip
    tp: int
    ep: int
    dtype: str
    prompt: int
    output: int
    measured: float  # output tokens/s of the whole deployment (metric throughput), or s (ttft, tpot)
    source: str = TRTLLM
    role: str = "held-out"  # "calibration" (fit on it) or "held-out"
    metric: str = "throughput"  # "throughput" (tokens/s), "ttft" (s) or "tpot" (s)
    batch: int | None = None  # None: the largest batch that fits (max-throughput runs)
    kv_dtype: str = "fp8"  # KV-cache dtype the run used (the TensorRT-LLM and NIM checkpoints: FP8)
    # requests a trtllm-bench throughput run of a source other than TRTLLM queued (that source's own
    # ``$num_requests`` table, inference.perf_overview); set, the row gets trtllm-bench's settings like a TRTLLM
    # row. TRTLLM rows leave it None and read TRTLLM_NUM_REQUESTS.
    num_requests: int | None = None


CAL = "calibration"
SETUPS: tuple[Setup, ...] = (
    Setup("Llama-3.1-8B FP8, 1x H100, 128/128", "llama3.1-8b", "h100-sxm", None, 1, 1, "fp8", 128, 128, 28312,
          role=CAL),
    Setup("Llama-3.1-8B FP8, 1x H100, 2048/2048", "llama3.1-8b", "h100-sxm", None, 1, 1, "fp8", 2048, 2048, 9305,
          role=CAL),
    Setup("Llama-3.1-8B FP8, 1x H200, 2048/128", "llama3.1-8b", "h200", None, 1, 1, "fp8", 2048, 128, 3538),
    Setup("Llama-3.1-8B FP8, 1x H200, 1000/1000", "llama3.1-8b", "h200", None, 1, 1, "fp8", 1000, 1000, 17744),
    Setup("Llama-3.3-70B FP8, 1x H200, 1000/1000", "llama3.1-70b", "h200", None, 1, 1, "fp8", 1000, 1000, 2909),
    Setup("Llama-3.3-70B FP8, 1x H200, 2048/128", "llama3.1-70b", "h200", None, 1, 1, "fp8", 2048, 128, 442),
    Setup("Llama-3.3-70B FP4, 1x B200, 1000/1000", "llama3.1-70b", "b200", None, 1, 1, "fp4", 1000, 1000, 7007,
          role=CAL),
    Setup("Llama-3.3-70B FP8, 2x H100 TP2, 2048/2048", "llama3.1-70b", "h100-sxm", "dgx-h100", 2, 1, "fp8",
          2048, 2048, 3082, role=CAL),
    Setup("Llama-3.1-405B FP8, 8x H100 TP8, 2048/2048", "llama3.1-405b", "h100-sxm", "dgx-h100", 8, 1, "fp8",
          2048, 2048, 2296, role=CAL),
    Setup("Llama-3.1-405B FP8, 8x H200 TP8, 1000/1000", "llama3.1-405b", "h200", "dgx-h200", 8, 1, "fp8",
          1000, 1000, 3330),
    # MoE: the benchmark's MoE options enable attention data parallelism with expert parallelism over the
    # 8 GPUs; here tp=1 (8 attention groups) and ep=8, all-to-all dispatch/combine simulated on the fabric.
    # Its H100 rows (here and below) are calibration rows of the per-sequence MoE cost (StackProfile.moe_per_seq,
    # fitted on every H100 / B200 MoE row of the perf overview: inference.perf_overview.fit_moe_per_seq)
    Setup("Qwen3-235B-A22B FP8, 8x H100 (DP-attn + EP8), 1000/1000", "qwen3-235b-a22b", "h100-sxm", "dgx-h100",
          1, 8, "fp8", 1000, 1000, 14898, role=CAL),
    # rows added with issue 11 (same source and method; held out but for the H100 row, above)
    Setup("Qwen3-235B-A22B FP8, 8x H200 (DP-attn + EP8), 1000/1000", "qwen3-235b-a22b", "h200", "dgx-h200",
          1, 8, "fp8", 1000, 1000, 23789),
    Setup("Qwen3-235B-A22B FP8, 8x H100 (DP-attn + EP8), 2048/2048", "qwen3-235b-a22b", "h100-sxm", "dgx-h100",
          1, 8, "fp8", 2048, 2048, 9924, role=CAL),
    Setup("Qwen3-235B-A22B FP8, 8x H200 (DP-attn + EP8), 2048/2048", "qwen3-235b-a22b", "h200", "dgx-h200",
          1, 8, "fp8", 2048, 2048, 16672),
    Setup("Llama-3.1-8B FP8, 1x H100, 1000/1000", "llama3.1-8b", "h100-sxm", None, 1, 1, "fp8", 1000, 1000, 15220),
    Setup("Llama-3.1-8B FP8, 1x H200, 128/2048", "llama3.1-8b", "h200", None, 1, 1, "fp8", 128, 2048, 26221),
    Setup("Llama-3.3-70B FP8, 2x H100 TP2, 5000/500", "llama3.1-70b", "h100-sxm", "dgx-h100", 2, 1, "fp8",
          5000, 500, 898),
    Setup("Llama-3.3-70B FP4, 1x GB200, 1000/1000", "llama3.1-70b", "gb200", None, 1, 1, "fp4", 1000, 1000, 7326),
    Setup("Llama-3.3-70B FP4, 1x B200, 2048/2048", "llama3.1-70b", "b200", None, 1, 1, "fp4", 2048, 2048, 4783),
    Setup("Llama-3.1-405B FP8, 8x H200 TP8, 2048/2048", "llama3.1-405b", "h200", "dgx-h200", 8, 1, "fp8",
          2048, 2048, 2948),
    # single-request latency (batch 1), NIM (TensorRT-LLM engine): TTFT and ITL in ms as published
    Setup("Llama-3.3-70B FP8, 2x H100 TP2, 5000/500, batch 1: TTFT", "llama3.1-70b", "h100-sxm", "dgx-h100", 2, 1,
          "fp8", 5000, 500, 406.77e-3, source=NIM, metric="ttft", batch=1),
    Setup("Llama-3.3-70B FP8, 2x H100 TP2, 5000/500, batch 1: TPOT", "llama3.1-70b", "h100-sxm", "dgx-h100", 2, 1,
          "fp8", 5000, 500, 18.58e-3, source=NIM, metric="tpot", batch=1),
    Setup("Llama-3.3-70B FP8, 2x H100 TP2, 500/2000, batch 1: TTFT", "llama3.1-70b", "h100-sxm", "dgx-h100", 2, 1,
          "fp8", 500, 2000, 47.77e-3, source=NIM, metric="ttft", batch=1),
    Setup("Llama-3.3-70B FP8, 2x H100 TP2, 500/2000, batch 1: TPOT", "llama3.1-70b", "h100-sxm", "dgx-h100", 2, 1,
          "fp8", 500, 2000, 18.91e-3, source=NIM, metric="tpot", batch=1),
)
# MLPerf Inference rows (NVIDIA closed results, Offline / Server / Interactive, and TPOT at the offered load):
# held out, modelled at the scenario's operating point by inference/mlperf.py
SETUPS = SETUPS + MLPERF_SETUPS

BATCH_CAP = 2048
KNOBS = {"hbm_usable": 0.95}
#: CUDA-graph decode batch sizes the TensorRT-LLM throughput rows ran with, padding on (source: perf-overview.md,
#: "Running the Benchmark", ``llm_options.yml`` of dense and MoE models: ``cuda_graph_config: enable_padding:
#: true, batch_sizes: [1, 2, 4, ..., 8192]``)
TRTLLM_GRAPH_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096, 8192)
#: requests per (ISL, OSL) of the TensorRT-LLM throughput rows (source: perf-overview.md, "Preparing a
#: Dataset", ``$num_requests``): all queued at once, so the run's concurrency is at most this many
TRTLLM_NUM_REQUESTS = {(128, 128): 30000, (128, 2048): 3000, (128, 4096): 1500, (1000, 2000): 1500,
                       (2048, 128): 3000, (2048, 2048): 1500, (5000, 500): 1500, (1000, 1000): 3000,
                       (500, 2000): 3000, (20000, 2000): 1000}


def single_chip_fabric(chip_name: str) -> Fabric:
    """A fabric of one chip (no communication) with a chip preset."""
    from topo.presets import chip_preset

    g = nx.Graph()
    g.add_node(0, kind="chip")
    return Fabric.from_graph(g, chip=chip_preset(chip_name), name=f"1x {chip_name}")


def fabric_for(s: Setup) -> Fabric:
    if s.fabric is None:
        return single_chip_fabric(s.chip)
    from topo import load

    return load(s.fabric)


def predict(s: Setup | MLPerfSetup, stack: str | None = None, **knobs) -> dict:
    """Predicted figures for one setup: batch used, the row's metric (``predicted``), TTFT, TPOT, backend."""
    if isinstance(s, MLPerfSetup):
        # the MLPerf rows carry each submission's own KV fraction (MLPerfSetup.kv_fraction), not KNOBS'
        return predict_mlperf(s, stack, **knobs)
    fab = fabric_for(s)
    kw = {**KNOBS, **knobs}
    if stack is not None:
        kw["stack"] = stack
    kv = s.kv_dtype  # the run's KV cache (TensorRT-LLM rows: FP8, their checkpoints' KV quantisation)
    bench = s.source == TRTLLM or s.num_requests is not None  # a trtllm-bench throughput run
    b = s.batch
    n_req = None
    if b is None:
        dep = Deployment(s.model, fab, tp=s.tp, ep=s.ep, dp=1, dtype=s.dtype, kv_dtype=kv, **kw)
        cap = BATCH_CAP
        if bench:
            cap, ntok = bench_settings(s, dep)
            kw.setdefault("graph_batches", graph_batches(cap, ntok))
            # the engine profiles its start-up forward pass at trtllm-bench's max_num_tokens (inference/memory.py)
            kw.setdefault("max_num_tokens", ntok)
            dep = Deployment(s.model, fab, tp=s.tp, ep=s.ep, dp=1, dtype=s.dtype, kv_dtype=kv, **kw)
        # max_batch_size caps each scheduler: one per attention data-parallel group (ep / tp of them)
        b = min(cap * dep.shard.attn_groups, max_batch(dep, s.prompt, s.output))
        if bench:
            n_req = s.num_requests
            if n_req is None:
                n_req = TRTLLM_NUM_REQUESTS.get((s.prompt, s.output))
            b = min(b, n_req) if n_req else b
    r = estimate(s.model, fab, tp=s.tp, ep=s.ep, dp=1, batch=b, prompt=s.prompt, output=s.output, dtype=s.dtype,
                 kv_dtype=kv, **kw)
    tps = r.tokens_per_s["replica"]
    if n_req and n_req > b:
        tps = _waves_throughput(r, n_req, s, fab, kv, kw)
    value = {"throughput": tps, "ttft": r.ttft, "tpot": r.tpot}[s.metric]
    return {"batch": b, "predicted": value, "ttft": r.ttft, "tpot": r.tpot, "backend": r.provenance.get("backend", "")}


#: trtllm-bench's source for :func:`bench_settings` (NVIDIA/TensorRT-LLM). The source files were read at the commits
#: named (the perf-overview commits 00f37686 / 03e27c7d themselves were not available for them); the heuristic's
#: arithmetic is the same in every version read, all before PR #13498 (merged 2026-04-27) changed the engine-size
#: estimate (:func:`bench_engine_elements`). ASSUMPTION: 03e27c7d's runs predate it too (its wording is older than
#: the 1.2.0 release docs' perf overview, and no stored version of the files has the fix).
#: Not modelled: quantisations outside ``build.py``'s ``TUNED_QUANTS`` (NVFP4, FP8, FP8 block scales, none; e.g.
#: MXFP4 checkpoints) get ``BuildConfig``'s defaults instead of the heuristic.
BENCH_SOURCE = ("NVIDIA/TensorRT-LLM tensorrt_llm/bench/build/tuning.py calc_engine_setting / finetune_setting "
                "(a7e572fb, 04cba882), bench/build/dataclasses.py ModelConfig (04cba882), bench/build/build.py "
                "get_benchmark_engine_settings (000a01de), bench/benchmark/utils/general.py get_settings (c0b2ee6e)")
#: ``(max_batch_size, max_num_tokens)`` trtllm-bench uses for a checkpoint outside ``TUNED_QUANTS`` (bench/build/build.py
#: ``DEFAULT_MAX_BATCH_SIZE`` / ``DEFAULT_MAX_NUM_TOKENS`` = the LLM API's ``max_batch_size`` / ``max_num_tokens`` field
#: defaults, ``tensorrt_llm/llmapi/llm_args.py`` ``BaseLlmArgs``: 2048 and 8192)
BENCH_UNTUNED_DEFAULTS = (2048, 8192)


def bench_kv_bytes_per_token(model: ModelSpec, tp: int, kv_bytes: float) -> float:
    """KV bytes per token trtllm-bench's heuristic assumes for the whole TP group, bytes (not the engine's real KV).

    Source: ``calc_engine_setting`` (:data:`BENCH_SOURCE`): ``2 x num_attention_layers x max(tp_size,
    num_key_value_heads) x head_size x KV bytes``, the same rule for every attention kind. ``ModelConfig`` reads the
    fields from the Hugging Face config (``AutoConfig.from_pretrained(..., trust_remote_code=True)``):
    ``num_key_value_heads``, ``head_size`` from ``head_size`` / ``head_dim`` / ``attention_head_dim``, else
    ``hidden_size // num_attention_heads`` (``set_values_if_none``); ``num_attention_layers`` = all hidden layers.

    * GQA / MHA: the model's ``kv_heads`` and ``head_dim`` (the configs name them).
    * MLA (DeepSeek-V3 / R1): the config lists ``num_key_value_heads: 128`` and no ``head_dim`` (its latent KV,
      ``kv_lora_rank + qk_rope_head_dim`` = 576 values a layer, is not what the rule counts), so head_size =
      ``hidden // heads`` = 7168 // 128 = 56: 2 x 61 x 128 x 56 = 874,496 bytes a token at FP8, 25x the engine's
      real 35,136. ASSUMPTION: the checkpoint's own ``configuration_deepseek.DeepseekV3Config`` (its config.json's
      ``auto_map``, loaded under ``trust_remote_code``) sets no ``head_dim``; transformers' built-in
      ``DeepseekV3Config`` sets ``head_dim = qk_rope_head_dim`` (64): 14 % more per token (sensitivity in
      docs/inference.md).
    """
    heads = max(tp, model.kv_heads)
    head_size = model.hidden // model.heads if model.is_mla else model.head_dim
    return 2.0 * model.layers * heads * head_size * kv_bytes


def bench_engine_elements(model: ModelSpec, dtype: str) -> float:
    """``param_count`` trtllm-bench reads for a checkpoint: the element count of its safetensors, all dtypes summed.

    Source: ``ModelConfig.get_param_count`` (``sum(metadata.parameter_count.values())``, :data:`BENCH_SOURCE`);
    ``calc_engine_setting`` multiplies it by one byte width (NVFP4 0.5, FP8 1, else 2). An NVFP4 checkpoint stores two
    FP4 weights per ``U8`` element plus one FP8 scale element per 16 weights, so its element count is about
    ``GEMM weights x (1/2 + 1/16) + BF16 rest``, and the engine-size estimate about half the real one (PR #13498,
    "Fix NVFP4 engine size estimation", merged 2026-04-27, after the perf-overview runs: "DeepSeek-V3.2-NVFP4:
    buggy=183.70 GB vs fixed=386.54 GB"). ASSUMPTION: every GEMM weight but the embeddings and the LM head is NVFP4,
    as :func:`inference.memory.engine_weight_bytes` assumes (DeepSeek-R1-0528-FP4-v2 keeps its attention projections
    other than ``wo`` in BF16: +1.9e9 elements, +0.9 GiB of estimated engine; its MTP layer, if shipped, +5.5 GiB;
    neither moves a perf-overview row's max_batch_size). FP8 and BF16 checkpoints: the parameter count (their scales
    add < 0.01 %)."""
    total = float(model.param_count())
    if dtype != "fp4":
        return total
    emb = float(model.vocab * model.hidden * (1 if model.tied_embeddings else 2))
    return (total - emb) * (0.5 + 1.0 / 16) + emb


#: NVML's total memory per chip preset, MiB, as ``nvidia-smi`` prints it (sources, as for
#: :data:`inference.memory.DEVICE_TOTAL_BYTES`: H100 SXM 80 GB 81,559 MiB (vllm-project/vllm PR #10511), H200
#: 143,771 MiB (vLLM start-up log), GB200 189,471 MiB (aiconfigurator-core 0.12.0 ``systems/gb200.yaml``
#: ``mem_capacity``, "reported by nvidia-smi"))
NVML_TOTAL_MIB: dict[str, float] = {"h100-sxm": 81559.0, "h200": 143771.0, "gb200": 189471.0}


def bench_device_gib(chip: ChipSpec) -> float:
    """``get_device_memory()`` of trtllm-bench: NVML's total of the device, GiB (:data:`NVML_TOTAL_MIB`; other chips:
    the runtime's total, :func:`inference.memory.device_total_bytes`, for B200 the preset's 192e9 bytes; ASSUMPTION:
    NVML's is within 0.6 GiB of it, as on H100 / H200: < 0.4 % of a chip)."""
    from .memory import device_total_bytes

    mib = NVML_TOTAL_MIB.get(getattr(chip, "name", ""))
    return mib / 1024.0 if mib is not None else device_total_bytes(chip) / 1024.0 ** 3


def bench_settings(s: Setup, dep: Deployment, kv_fraction: float = 0.95) -> tuple[int, int]:
    """``(max_batch_size, max_num_tokens)`` trtllm-bench derives for a throughput row when the command gives neither.

    Source (:data:`BENCH_SOURCE`): ``trtllm-bench throughput`` with the PyTorch backend calls ``get_settings``, which,
    without ``--max_batch_size`` / ``--max_num_tokens`` (the perf-overview commands pass neither, nor does their
    ``llm_options.yml``), takes both from ``get_benchmark_engine_settings`` -> ``calc_engine_setting`` +
    ``finetune_setting`` (NVFP4 / FP8 / FP8-block / BF16 checkpoints), with ``tp_size`` = the command's ``--tp``
    (DEP4 = ``--tp 4 --ep 4``: the TP view, blind to attention data parallelism). Its estimate: KV memory =
    fraction x (device memory x GPUs - param_count x weight bytes) (:func:`bench_engine_elements`), a token's KV
    per :func:`bench_kv_bytes_per_token`, requests = KV memory / (token KV x (ISL + OSL)); max_batch_size = that
    (<= 4096) rounded up to 32 (at least 64) below 256, to 128 below 1024, else to 256; max_num_tokens = requests x
    (1 + ISL / OSL) (<= 32768) rounded up to 256 (at least 2048) below 4096, to 512 below 8192, else to 1024;
    then ``get_settings`` raises it to ``max ISL + max_batch_size`` because its ``enable_chunked_prefill`` is off
    (it reads a ``params`` key the throughput CLI never sets: its flag is ``enable_chunked_context``; the runtime
    still chunks). Device memory is NVML's total of GPU 0 in GiB (``bench/build/utils.py get_device_memory``:
    ``nvmlDeviceGetMemoryInfo(...).total / 1024**3``; :func:`bench_device_gib`), not the datasheet's decimal GB.
    The PyTorch executor applies both limits per attention-DP rank (each rank its own scheduler of
    ``max_batch_size``; :func:`predict` multiplies by the ranks).

    A checkpoint whose quantisation is not one the heuristic is tuned for skips it: ``get_benchmark_engine_settings``
    runs ``calc_engine_setting`` only ``if quant_config.quant_algo in TUNED_QUANTS`` (NVFP4, FP8, FP8_BLOCK_SCALES,
    NO_QUANT, None) and otherwise returns the LLM API defaults ``max_batch_size`` 2048, ``max_num_tokens`` 8192
    (``BaseLlmArgs`` field defaults, ``llmapi/llm_args.py``; :data:`BENCH_UNTUNED_DEFAULTS`). ``get_settings`` takes
    the quantisation from ``_torch.model_config.ModelConfig.from_pretrained``, which maps an MXFP4 checkpoint
    (gpt-oss: ``ModelSpec.expert_dtype == "mxfp4"``) to W4A16_MXFP4 / W4A8_MXFP4_MXFP8, outside that set."""
    m = dep.model
    if getattr(m, "expert_dtype", "") == "mxfp4" and s.dtype in ("fp8", "fp4"):
        bs, ntok = BENCH_UNTUNED_DEFAULTS
        return bs, max(ntok, s.prompt + bs)  # get_settings' chunked-prefill floor applies here too
    gib = 1024.0 ** 3
    n_gpu = dep.shard.stage_chips * dep.pp
    w = {"fp8": 1.0, "fp4": 0.5}.get(s.dtype, 2.0)
    tok = bench_kv_bytes_per_token(m, n_gpu // dep.pp, dep.kv) / gib
    cache = (bench_device_gib(dep.chip) * n_gpu - bench_engine_elements(m, s.dtype) * w / gib) * kv_fraction
    req = cache / (tok * (s.prompt + s.output))
    raw_bs = min(req, 4096) / dep.pp
    raw_tok = min(raw_bs * (1 + s.prompt / s.output), 32768)
    if raw_bs < 256:
        bs = max(64, 32 * math.ceil(raw_bs / 32))
    elif raw_bs < 1024:
        bs = 128 * math.ceil(raw_bs / 128)
    else:
        bs = 256 * math.ceil(raw_bs / 256)
    if raw_tok < 4096:
        ntok = max(2048, 256 * math.ceil(raw_tok / 256))
    elif raw_tok < 8192:
        ntok = 512 * math.ceil(raw_tok / 512)
    else:
        ntok = 1024 * math.ceil(raw_tok / 1024)
    ntok = max(ntok, s.prompt + bs)  # get_settings: chunked prefill off -> at least max ISL + max_batch_size
    return int(bs), int(ntok)


def graph_batches(max_batch_size: int, max_num_tokens: int) -> tuple[int, ...]:
    """CUDA-graph decode batch sizes captured for a TensorRT-LLM throughput row: the ``llm_options.yml`` list
    (:data:`TRTLLM_GRAPH_BATCHES`) up to the engine's max batch (and max tokens per step), plus that max
    (padding on: every batch up to it runs a captured graph)."""
    top = min(max_batch_size, max_num_tokens)
    return tuple(v for v in TRTLLM_GRAPH_BATCHES if v < top) + (top,)


def _waves_throughput(r, n_req: int, s: Setup, fab: Fabric, kv: str, kw: dict) -> float:
    """Output tokens/s of ``n_req`` identical requests queued at once through a batch of ``r.batch``.

    With fixed ISL/OSL and in-flight batching the requests run in waves: ``n_req // batch`` full ones (each
    the prefill of the batch plus OSL decode steps, ``r.latency``), then one of the remainder."""
    full, rest = divmod(n_req, r.batch)
    t = full * r.latency
    if rest:
        t += estimate(s.model, fab, tp=s.tp, ep=s.ep, dp=1, batch=rest, prompt=s.prompt, output=s.output,
                      dtype=s.dtype, kv_dtype=kv, **kw).latency
    return n_req * s.output / t


def table(setups: tuple[Setup, ...] = SETUPS, stack: str | None = None, **knobs) -> list[dict]:
    """Rows of the validation table (a setup that cannot be computed is reported with its reason)."""
    rows = []
    for s in setups:
        base = {"setup": s.label, "metric": s.metric, "role": s.role, "measured": s.measured, "group": group_of(s)}
        try:
            p = predict(s, stack, **knobs)
        except Exception as exc:  # noqa: BLE001 - reported in the table, not hidden
            rows.append({**base, "predicted": float("nan"), "error": float("nan"), "batch": 0,
                         "note": f"not computed: {exc}"})
            continue
        err = (p["predicted"] - s.measured) / s.measured
        rows.append({**base, "predicted": p["predicted"], "error": err, "batch": p["batch"],
                     "tpot_ms": p["tpot"] * 1e3, "backend": p["backend"], "note": ""})
    return rows


#: the held-out groups :func:`print_table` summarises beside the whole set (docs/inference.md quotes them)
GROUPS = ("serving", "MLPerf dense throughput", "MLPerf MoE throughput", "MLPerf at-load latency")


def group_of(s: Setup | MLPerfSetup) -> str:
    """A row's group: ``serving`` (TensorRT-LLM throughput and NIM batch-1 rows), or the MLPerf rows split
    into dense throughput, MoE throughput and mean TPOT/TTFT at the run's offered load."""
    if not isinstance(s, MLPerfSetup):
        return "serving"
    if s.metric != "throughput":
        return "MLPerf at-load latency"
    from .models import load_model

    return "MLPerf MoE throughput" if load_model(s.model).is_moe else "MLPerf dense throughput"


def group_summary(rows: list[dict]) -> dict[str, tuple[int, float, float]]:
    """Held-out ``group -> (rows, median |error|, worst |error|)`` over :data:`GROUPS` (NaN rows excluded)."""
    import statistics

    out = {}
    for g in GROUPS:
        errs = [abs(r["error"]) for r in rows if r["role"] == "held-out" and r.get("group") == g
                and r["error"] == r["error"]]
        if errs:
            out[g] = (len(errs), statistics.median(errs), max(errs))
    return out


def summary(rows: list[dict]) -> dict[str, float]:
    """Median and worst |error| of the held-out and calibration rows (NaN rows excluded)."""
    import statistics

    out = {}
    for role in ("held-out", "calibration"):
        errs = [abs(r["error"]) for r in rows if r["role"] == role and r["error"] == r["error"]]
        out[f"{role} median"] = statistics.median(errs) if errs else float("nan")
        out[f"{role} worst"] = max(errs) if errs else float("nan")
        out[f"{role} n"] = len(errs)
    return out


def calibration_loss(rows: list[dict]) -> float:
    """The fits' objective: mean |log(predicted / measured)| over ``rows`` (smooth, symmetric in over- and
    under-prediction)."""
    import math
    import statistics

    return statistics.fmean(abs(math.log1p(r["error"])) for r in rows)


def dense_calibration(setups: tuple[Setup, ...] = SETUPS) -> tuple[Setup, ...]:
    """The dense calibration rows, which :func:`fit_framework` and :func:`fit_host` fit on (the MoE calibration
    rows fit the per-sequence MoE cost only: :func:`inference.perf_overview.fit_moe_per_seq`)."""
    from .models import load_model

    return tuple(s for s in setups if s.role == CAL and not load_model(s.model).is_moe)


def fit_framework(setups: tuple[Setup, ...] = SETUPS) -> tuple[float, float, float]:
    """Grid fit of the TRT-LLM per-step cost (s) and per-sequence cost (s) on the dense calibration rows only.

    Objective: mean |log(predicted / measured)| over the calibration rows; the grid spans what a serving
    engine's host side plausibly costs per step (0-2 ms, 0-4 us per sequence).
    Returns (step_overhead, step_overhead_per_seq, median |error| of the calibration rows)."""
    import dataclasses
    import statistics

    from . import kernels

    cal = dense_calibration(setups)
    saved = dict(kernels._REFERENCE)
    best = (0.0, 0.0, float("inf"), float("inf"))
    try:
        for step in (0.0, 0.25e-3, 0.5e-3, 1.0e-3, 1.5e-3, 2.0e-3):
            for per_seq in (0.0, 1e-6, 2e-6, 4e-6):
                for fam, prof in saved.items():
                    kernels._REFERENCE[fam] = dataclasses.replace(prof, step_overhead=step,
                                                                  step_overhead_per_seq=per_seq)
                rows = table(cal, "trtllm")
                loss = calibration_loss(rows)
                if loss < best[3]:
                    best = (step, per_seq, statistics.median(abs(r["error"]) for r in rows), loss)
    finally:
        kernels._REFERENCE.update(saved)
    return best[:3]


#: the grid of :func:`fit_host`, s per sequence per iteration (1 us steps)
HOST_GRID = tuple(i * 1e-6 for i in range(41))


def fit_host(setups: tuple[Setup, ...] = SETUPS, grid: tuple[float, ...] = HOST_GRID) -> tuple[float, float]:
    """The bound the calibration rows put on ``host_per_seq``: the largest grid value (s) at which their
    :func:`calibration_loss` stays at its minimum over the grid (within 1e-6).

    A larger per-sequence host time would make their large-batch runs host-bound; below the bound the rows
    cannot tell values apart, so it is a bound, not a fit: the stack profiles keep 0 (inference/kernels.py,
    docs/inference.md "Host-bound iterations"). Returns (the bound, the calibration rows' loss there)."""
    cal = dense_calibration(setups)
    losses = [calibration_loss(table(cal, "trtllm", host_per_seq=h)) for h in grid]
    low = min(losses)
    i = max(j for j, v in enumerate(losses) if v <= low + 1e-6)
    return grid[i], losses[i]


def _fmt(v: float, metric: str) -> str:
    return f"{v:,.0f} tok/s" if metric == "throughput" else f"{v * 1e3:,.1f} ms"


def print_table(rows: list[dict]) -> None:
    """Print validation rows (from :func:`table`) as a Markdown table, then the held-out and calibration
    summary of :func:`summary`."""
    print("| setup | metric | role | measured | predicted | error | batch used | backend |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for r in rows:
        measured = _fmt(r["measured"], r["metric"])
        if r["note"]:
            print(f"| {r['setup']} | {r['metric']} | {r['role']} | {measured} | - | - | - | {r['note']} |")
        else:
            print(f"| {r['setup']} | {r['metric']} | {r['role']} | {measured} | "
                  f"{_fmt(r['predicted'], r['metric'])} | {r['error']:+.0%} | {r['batch']} | {r['backend']} |")
    sm = summary(rows)
    print(f"\nheld-out: median |error| {sm['held-out median']:.1%}, worst {sm['held-out worst']:.1%} "
          f"({sm['held-out n']} rows); calibration: median {sm['calibration median']:.1%}, worst "
          f"{sm['calibration worst']:.1%} ({sm['calibration n']} rows)")
    for g, (n, med, worst) in group_summary(rows).items():
        print(f"held-out {g}: median |error| {med:.1%}, worst {worst:.1%} ({n} rows)")


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m inference.validation", description="scaleup inference validation table (docs/inference.md)")
    ap.add_argument("--stack", default=None, choices=_STACKS, help="serving stack (default: trtllm); ideal = roofline")
    ap.add_argument("--backend", default=None, choices=("auto", "measured", "analytic"), help="kernel backend: auto (default), measured or analytic")
    ap.add_argument("--fit", action="store_true", help="refit the per-step framework cost on the calibration rows")
    ap.add_argument("--fit-host", action="store_true",
                    help="the bound the calibration rows put on the per-sequence host time (host_per_seq)")
    args = ap.parse_args(argv)
    if args.fit_host:
        h, loss = fit_host()
        print(f"calibration rows only: host_per_seq <= {h * 1e6:.0f} us (the largest value leaving their mean "
              f"|log error| at its minimum, {loss:.4f}); the profiles keep 0")
        return
    if args.fit:
        step, per_seq, med = fit_framework()
        print(f"fit (calibration rows only): step_overhead {step * 1e3:.2f} ms, per sequence {per_seq * 1e6:.2f} us, "
              f"calibration median |error| {med:.1%}")
        return
    print_table(table(stack=args.stack, **({"backend": args.backend} if args.backend else {})))


if __name__ == "__main__":
    main()
