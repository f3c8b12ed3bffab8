"""Per-kernel efficiency model of a serving stack: what deployed engines achieve, not the roofline.

A :class:`StackProfile` holds, per chip family and serving stack, how close each kind of kernel gets to
the chip's limits. Every figure is relative to the chip's own asymptotes (``ChipSpec.compute_efficiency``
and ``memory_efficiency``), so a chip's calibrated efficiencies flow through; floors and launch costs are
seconds. Closed forms (all times in s; ``ce``/``me`` the chip's efficiencies, ``P`` peak FLOP/s of the
dtype, ``B`` the bandwidth of the tier the bytes come from):

* GEMM ``m x k @ k x n``: ``floor[d] + max(2 Mq Nq k / (P ce g_c[d] u), bytes / (B me g_m[d]))`` where
  ``Mq, Nq`` are ``m, n`` padded to whole ``tile_m x tile_n`` tiles (64 rows when m <= 64) and ``u`` the
  last-wave utilisation when the tiles need more than one wave over the chip's ``cores`` (fewer tiles than
  cores are split along k and count as full). Large GEMM -> ``2mnk / (P ce g_c)``; tiny GEMM -> ``floor``;
  a small-m GEMM streams its weights at ``me g_m`` (the small-M plateau, weight-bandwidth bound).
* prefill attention (flash): ``fmha_floor + FLOPs / (P_attn ce a_c s / (s + s_half))`` with ``s`` the
  attended length per query, so efficiency rises with the sequence towards ``a_c``.
* decode attention (paged): ``dec_floor + max(KV bytes / (B me a_m), FLOPs / (P_attn ce a_c))`` (the
  compute term binds for MLA's absorbed decode, many heads over one latent).
* elementwise / norm / rope / activation: ``max(elem_floor, bytes / (B me e_m))`` per kernel.
* MoE grouped GEMM (:func:`moe_time`): the GEMM form on the *hottest* rank's token copies under routing
  skew (:func:`hot_rank_tokens`), rows padded to a 64-row tile per active expert, at ``moe_compute`` of a
  dense GEMM's efficiency, plus ``moe_token_passes`` activation streams per routed copy.
* shared experts (``shared_expert_overlap``, TRT-LLM decode): on a side stream, so a MoE layer's shared
  experts cost ``max(0, shared - routed path)`` where the routed path is router + routed experts + EP dispatch
  and combine (:meth:`inference.Deployment.step`; the hidden part is reported per row as ``hidden_time``).
* launch: per kernel ``launch_graph`` under CUDA-graph capture (decode); eager (prefill) the GPU waits
  for the CPU when a kernel is shorter than ``launch_eager``: ``max(t, launch_eager)``.
* per step: ``step_overhead + step_overhead_per_seq x seqs`` (scheduling, sampling, detokenise) in decode;
  ``prefill_step_overhead + prefill_overhead_per_layer x layers`` per prefill step.

``stack="ideal"`` bypasses all of this (today's roofline); see :mod:`inference.estimate`.

Sources: ``fit:`` figures were fitted to aiconfigurator-core 0.12.0 kernel tables, each stack on its own:
TRT-LLM 1.3.0rc20 on ``h100_sxm`` / ``h200_sxm`` / ``b200_sxm``, vLLM 0.24.0 and SGLang 0.5.14 on ``h100_sxm``
(Hopper) and ``b200_sxm`` (Blackwell) (``python bench/fit_kernels.py`` reruns every fit and prints the
values used here); the per-step cost on the calibration rows of :mod:`inference.validation` (``--fit``);
everything else is an ASSUMPTION with the reason given.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from topo import ChipSpec, SpecError

STACKS = ("trtllm", "vllm", "sglang", "ideal")
#: the default stack: the one whose profile is calibrated (TensorRT-LLM kernel tables and throughput rows)
DEFAULT_STACK = "trtllm"


@dataclass(frozen=True)
class StackProfile:
    """Kernel efficiencies and overheads of one serving stack on one chip family (see module docstring).

    Dicts are keyed by compute dtype (``bf16``, ``fp8``, ``fp4``; others fall back to the nearest wider).
    """

    name: str
    family: str
    gemm_compute: dict[str, float]  # g_c: large-GEMM efficiency / chip compute_efficiency
    gemm_memory: dict[str, float]  # g_m: small-M weight streaming efficiency / chip memory_efficiency
    gemm_floor: dict[str, float]  # s per GEMM (incl. activation quantisation of per-tensor FP8/FP4)
    cores: int  # SMs / compute units the output tiles are spread over
    tile_m: int = 128
    tile_n: int = 128
    fmha_compute: float = 1.0  # a_c, relative to compute_efficiency, at BF16 peak
    fmha_half: float = 2048.0  # s_half, tokens
    fmha_floor: float = 16e-6
    decode_attn_memory: float = 0.8  # a_m relative to memory_efficiency
    decode_attn_floor: float = 6e-6
    elem_memory: float = 0.6  # e_m relative to memory_efficiency
    elem_floor: float = 2.5e-6
    elem_kernels_per_layer: int = 4  # norm / rope / residual / quantise kernels per layer outside GEMMs
    moe_floor: float = 20e-6
    moe_skew: float = 1.0  # 0: perfectly balanced; 1: uniform random top-k; > 1: popular experts
    moe_compute: float = 1.0  # grouped-GEMM efficiency relative to a dense GEMM's
    moe_token_passes: float = 0.0  # activation passes (x hidden x act bytes) per routed copy: permute, scale, unpermute
    launch_graph: float = 1.0e-6
    launch_eager: float = 5.0e-6
    cuda_graph_decode: bool = True
    shared_expert_overlap: bool = False  # decode: shared experts on a side stream beside the routed path
    step_overhead: float = 1.0e-3
    step_overhead_per_seq: float = 2.0e-6
    prefill_step_overhead: float = 1.0e-3
    prefill_overhead_per_layer: float = 0.0  # s per layer per prefill step (host dispatch; 0 in every fit profile)
    # s of host work per sequence per iteration on an x86 host, run beside the GPU (overlap scheduler): an
    # iteration takes max(GPU step, host_per_seq x host_factor(chip) x the busiest attention group's sequences)
    host_per_seq: float = 0.0
    # s per sequence of the busiest attention group per MoE layer per iteration, on the GPU in series with the
    # layer's kernels (a cost the MoE kernel tables do not time; fitted on TensorRT-LLM MoE throughput rows)
    moe_per_seq: float = 0.0
    assumptions: tuple[str, ...] = field(default_factory=tuple)

    def by_dtype(self, table: dict[str, float], dtype: str) -> float:
        """The entry for ``dtype``, else the nearest wider dtype's (fp6 -> fp8, fp16 -> bf16, ...)."""
        order = ["fp4", "fp6", "fp8", "int8", "bf16", "fp16", "fp32"]
        i = order.index(dtype) if dtype in order else order.index("bf16")
        for d in order[i:]:
            if d in table:
                return table[d]
        return table.get("bf16", next(iter(table.values())))


# --------------------------------------------------------------------------- profiles
# Hopper (H100 SXM, H200), TensorRT-LLM. fit: aiconfigurator-core 0.12.0, h100_sxm + h200_sxm,
# gemm/trtllm/1.3.0rc20 gemm_perf (m <= 16 rows for floor and g_m, m, n, k >= 4096 median for g_c), chip
# presets' compute_efficiency 0.7 / memory_efficiency 0.8 as the reference:
#   bf16: ce 0.78, weight streaming 0.84, floor 3.9 us; fp8 (per tensor): ce 0.62, 0.84, 13.5 us.
# attention/trtllm/1.3.0rc20 (bench/fit_kernels.py): context FMHA 0.38 of BF16 peak at 2k tokens and 0.72 at
# 8-16k -> a_c s/(s + s_half) with a_c 0.92, s_half 1,440 (H100; H200 0.93, 1,400), floor 17 us; generation
# (paged, FP8 KV): median KV streaming efficiency of the rows moving
# > 200 MB 0.755 (H100) / 0.622 (H200), taken as 0.7; floor = median of the rows moving < 1 MB, 8.7 us.
_HOPPER_TRT = StackProfile(
    name="trtllm", family="hopper",
    gemm_compute={"bf16": 0.78 / 0.7, "fp8": 0.62 / 0.7},
    gemm_memory={"bf16": 0.84 / 0.8, "fp8": 0.84 / 0.8},
    gemm_floor={"bf16": 3.9e-6, "fp8": 13.5e-6},
    cores=132,  # H100/H200 SXM: 132 SMs (NVIDIA H100 whitepaper)
    fmha_compute=0.92 / 0.7, fmha_half=1440.0, fmha_floor=17e-6,
    decode_attn_memory=0.7 / 0.8, decode_attn_floor=8.7e-6,
    # source: aiconfigurator-core 0.12.0 TRT-LLM op list (sdk/models/llama.py): two fused add+RMSNorm
    # kernels per layer (rope and the KV write are fused into attention; the SwiGLU activation is the MLP
    # op's own elementwise kernel). fit: their decode time in aiconfigurator's Llama-3.1-8B H100 estimate,
    # ~3 us each at batch 1 (floor 2.5 us + 0.5 us graph gap). ASSUMPTION: 0.5 of HBM when large.
    elem_memory=0.5 / 0.8, elem_floor=2.5e-6, elem_kernels_per_layer=2,
    # fit: moe/trtllm moe_perf (h100_sxm, FP8, gated kernels, power-law 1.01 routing, 600 sampled rows, grid
    # search on mean |log error| = 0.32, median 16 %): floor 30 us, grouped GEMM at 0.5 of a dense GEMM's
    # efficiency, 4 activation passes per routed copy. moe_skew 1 (uniform top-k): ASSUMPTION, the tables'
    # power-law routing is absorbed by the fit.
    moe_floor=30e-6, moe_skew=1.0, moe_compute=0.5, moe_token_passes=4.0,
    # ASSUMPTION: ~0.5 us gap per kernel inside a CUDA graph, ~5 us per eager launch (PyTorch launch cost);
    # sensitivity: Llama-70B TP8 decode runs ~8 kernels x 80 layers, so +1 us per kernel = +0.64 ms/token
    launch_graph=0.5e-6, launch_eager=5.0e-6, cuda_graph_decode=True,
    # source: TensorRT-LLM ``tensorrt_llm/_torch/models/modeling_deepseekv3.py`` (Deepseekv3MoE.forward:
    # ``maybe_execute_in_parallel(_compute_shared_output, _compute_routed_output, ..., self.aux_stream)``): the
    # shared experts run on an auxiliary stream beside the router, dispatch, routed experts and combine;
    # aiconfigurator-core 0.12.0 models it for generation steps only (``OverlapOp`` latency = max of the two
    # paths; context steps sequential), as here. ASSUMPTION: not in prefill / mixed steps; sensitivity: the
    # DeepSeek-V3 B200 mixed step at 4,096 sequences holds 4.0 ms of shared experts in 94 ms
    shared_expert_overlap=True,
    # fit: `python -m inference.validation --fit` on the calibration rows only (TensorRT-LLM dense throughput
    # rows, H100 and B200; mean |log error|, grid 0-2 ms x 0-4 us per sequence): 0 and 0, i.e. TRT-LLM's
    # overlap scheduler hides the host's per-step work at these batches (weakly determined: the rows are
    # large-batch runs where it is a small share). ASSUMPTION: 1 ms per prefill step (not fitted).
    step_overhead=0.0, step_overhead_per_seq=0.0, prefill_step_overhead=1.0e-3,
    # host_per_seq: 0 (off). `python -m inference.validation --fit-host` on the calibration rows only: their mean
    # |log error| is flat (0.0482) from 0 to 19 us per sequence and rises beyond (20 us: 0.0485, 30 us: 0.093, as
    # Llama-3.1-8B H100 128/128 at 4,096 sequences turns host-bound), so the rows bound it (<= 19 us on an x86
    # host) and do not determine it. TensorRT-LLM's PyTorch executor is reported host-bound at high concurrency
    # (NVIDIA/TensorRT-LLM issue 13957: ~580 us per iteration exposed on B200, Llama-3.1-8B FP8, 64 sequences;
    # PR 16313: a GPU-idle gap between decode steps at 256 sequences), but the held-out rows do not support one
    # per-sequence cost either (docs/inference.md, "Host-bound iterations": 19 us with the Grace factor fixes
    # Qwen3-30B-A3B GB200 and turns GPT-OSS 20B GB200 to -50..-69 %). Opt in with ``host_per_seq=...``.
    host_per_seq=0.0,
    # fit: `python -m inference.perf_overview --fit-moe` on the calibration rows only (every MoE row of TensorRT-LLM's
    # perf overview on H100: 20 rows of Qwen3-235B-A22B DEP8 / "TP8", GPT-OSS 120B DEP4, GPT-OSS 20B one GPU; mean
    # |log error| over a 0-2 us grid in 0.05 us steps; measured backend): 1.3 us per sequence of the busiest
    # attention group per MoE layer per iteration (loss 0.214 at 0 -> 0.114, median |error| 26 % -> 12 %). A cost of
    # MoE iterations that the MoE kernel tables do not time (docs/inference.md "The missing time is per decode
    # token"): ASSUMPTION on its form (linear in the sequences, in series with the MoE layer's kernels, prefill chunks
    # one sequence each); what it is (routing imbalance across ranks, attention-DP synchronisation, kernels outside
    # the tables) is not known. H200 takes it as a Hopper (held out). Sensitivity: Qwen3-235B DEP8 H100 1000/1000,
    # 211 per rank: 94 layers x 211 x 1.3 us = 26 ms per iteration
    moe_per_seq=1.3e-6,
)

# Blackwell (B200, GB200), TensorRT-LLM. fit: aiconfigurator-core 0.12.0 b200_sxm gemm/trtllm/1.3.0rc20:
#   bf16: ce 0.65, streaming 0.80, floor 4.3 us; fp8: ce 0.53, 0.75, 15 us; nvfp4: ce 0.39, 0.56, 20.6 us.
# attention/trtllm/1.3.0rc20: context FMHA 0.26 of BF16 peak at 2k, 0.51 at 8-16k -> a_c 0.68, s_half 1,690,
# floor 15.5 us;
# generation (FP8 KV): 0.72 of HBM for rows moving > 200 MB, floor 11.2 us (rows < 1 MB).
_BLACKWELL_TRT = StackProfile(
    name="trtllm", family="blackwell",
    gemm_compute={"bf16": 0.65 / 0.7, "fp8": 0.53 / 0.7, "fp4": 0.39 / 0.7},
    gemm_memory={"bf16": 0.80 / 0.8, "fp8": 0.75 / 0.8, "fp4": 0.56 / 0.8},
    gemm_floor={"bf16": 4.3e-6, "fp8": 15.1e-6, "fp4": 20.6e-6},
    cores=148,  # B200: 148 SMs (NVIDIA Blackwell technical brief)
    fmha_compute=0.68 / 0.7, fmha_half=1690.0, fmha_floor=15.5e-6,
    decode_attn_memory=0.72 / 0.8, decode_attn_floor=11.2e-6,
    elem_memory=0.5 / 0.8, elem_floor=2.5e-6, elem_kernels_per_layer=2,  # ASSUMPTION: as Hopper
    # fit: as Hopper on b200_sxm moe_perf (FP8; mean |log error| 0.24, median 16 %)
    moe_floor=30e-6, moe_skew=1.0, moe_compute=0.6, moe_token_passes=8.0,
    launch_graph=0.5e-6, launch_eager=5.0e-6, cuda_graph_decode=True,  # ASSUMPTION: as Hopper
    shared_expert_overlap=True,  # source: as Hopper (the same TensorRT-LLM model code)
    # fit: as Hopper (the same fit covers the B200 calibration row)
    step_overhead=0.0, step_overhead_per_seq=0.0, prefill_step_overhead=1.0e-3,
    host_per_seq=0.0,  # as Hopper (off; the host is the server's CPU: HOST_CPU for GB200's Grace)
    # fit: as Hopper on every B200 MoE row of the perf overview (49 rows: Qwen3-30B-A3B and GPT-OSS 20B one GPU,
    # GPT-OSS 120B DEP2, Qwen3-235B DEP4 / DEP8 / "TP8", DeepSeek R1 DEP4): 0.20 us (loss 0.192 at 0 -> 0.089, median
    # |error| 23 % -> 6.2 %). GB200 takes it as a Blackwell (held out)
    moe_per_seq=0.2e-6,
)

#: chip preset name -> (family, measured aiconfigurator system)
CHIP_FAMILY: dict[str, tuple[str, str | None]] = {
    "h100-sxm": ("hopper", "h100_sxm"),
    "h200": ("hopper", "h200_sxm"),
    "b200": ("blackwell", "b200_sxm"),
    "gb200": ("blackwell", "gb200"),
}

_REFERENCE = {"hopper": _HOPPER_TRT, "blackwell": _BLACKWELL_TRT}

#: chip preset name -> (host CPU, its per-operation host time relative to the x86 host of a DGX / HGX system).
#: source: NVIDIA/TransformerEngine issue #2053 (2025-08, "High CPU overhead on Grace systems"): the host time of
#: one PyTorch ``nn.Linear`` forward is 37.08 us on GB200 (Grace) and 13.48 us on DGX H100 (Xeon Platinum 8480C),
#: 2.75x (GH200: 33.17 us, 2.46x). ASSUMPTION: a serving engine's per-request Python work scales as PyTorch's op
#: dispatch does; every other chip's host counts as that x86 host (factor 1; DGX B200's Xeon Platinum 8570 as
#: the 8480C). Used only by the ``host_per_seq`` knob (:func:`host_factor`), which is 0 by default.
HOST_CPU: dict[str, tuple[str, float]] = {"gb200": ("Grace", 37.08 / 13.48)}


def host_cpu(chip_name: str) -> tuple[str, float]:
    """(host CPU, its time per operation relative to an x86 DGX host) of the chip's servers (:data:`HOST_CPU`;
    ``("x86", 1.0)`` when not listed)."""
    return HOST_CPU.get(chip_name, ("x86", 1.0))


def host_factor(chip_name: str) -> float:
    """The chip's host CPU time per operation relative to an x86 DGX host (:func:`host_cpu`)."""
    return host_cpu(chip_name)[1]

# vLLM and SGLang: the same closed forms, each kernel parameter fitted on that stack's own aiconfigurator-core
# 0.12.0 tables (``python bench/fit_kernels.py --stack vllm|sglang``; h100_sxm for Hopper, b200_sxm for
# Blackwell; the kernel per shape the measured backend reads, inference/measured.py rule 2). Host-side
# costs the tables cannot see are ASSUMPTIONs with sources:
# * decode step (scheduling, sampling): 0 exposed, as TRT-LLM's fit. vLLM V1 turns async scheduling on by
#   default (vllm/config/scheduler.py ``async_scheduling: bool | None = None`` -> auto on in vllm/config/vllm.py
#   unless pooling / unsupported speculative decoding: "Async scheduling helps to avoid gaps in GPU
#   utilization"); SGLang overlaps the CPU scheduler with the GPU by default since v0.4 ("zero-overhead batch
#   scheduler", lmsys.org/blog/2024-12-04-sglang-v0-4: no GPU idle between 5 consecutive decode batches in
#   Nsight). Sensitivity: each 1 ms exposed per step adds 1 ms to TPOT (Llama-3.1-8B FP8 on one H100, batch 8:
#   ~5 ms -> +20 %).
# * decode under full CUDA graphs, as TRT-LLM (vLLM V1 ``cudagraph_mode`` FULL_AND_PIECEWISE; SGLang captures
#   decode up to ``cuda_graph_max_bs``): launch costs as TRT-LLM's.
# * elementwise: 4 kernels per layer, not TRT-LLM's 2 (source: vLLM and SGLang model code, e.g. llama.py: two
#   fused add+RMSNorm kernels, a separate rotary-embedding kernel and a separate KV-cache write, vLLM
#   ``reshape_and_cache_flash`` / SGLang ``set_kv_buffer``; TRT-LLM fuses rope and the KV write into its
#   attention kernel). ASSUMPTION for the count across versions; sensitivity: 2 more kernels x 3 us x 32
#   layers = +0.19 ms per Llama-3.1-8B decode step.
# * prefill: 1 ms per step as TRT-LLM, nothing per layer (ASSUMPTION, as aiconfigurator's static estimator).
#   Sensitivity / the one published figure: aiconfigurator-core 0.12.0's serving-mode (agg) vLLM estimate adds
#   0.8 ms per layer per request to TTFT (sdk/backends/vllm_backend.py ``_prefill_dispatch_overhead_ms``, "CPU-side
#   dispatch overhead ... recalibrated at ~0.8 ms/layer against the full silicon corpus", end-to-end serving
#   runs); ``prefill_overhead_per_layer=0.8e-3`` reproduces it per prefill step: TTFT +26 ms on Llama-3.1-8B
#   (32 layers), +64 ms on Llama-3.1-70B. Left out by default because it is fitted to serving runs (queueing,
#   API server included) and the engine-level comparison with aiconfigurator's static estimate doubles at
#   batch 1 with it (Llama-3.1-8B H100 TTFT 49 ms against 22 ms).
# * shared experts in series with the routed path (ASSUMPTION: the TRT-LLM side-stream overlap is not assumed for
#   vLLM / SGLang; sensitivity: DeepSeek-V3 B200 decode at 64 sequences per rank, 2.0 ms of ~18 ms).
# * no per-sequence MoE cost (``moe_per_seq`` 0): TensorRT-LLM's is fitted on its own MoE throughput rows, and no
#   vLLM / SGLang MoE throughput rows are at hand to fit or to test one. ASSUMPTION; sensitivity: TensorRT-LLM's
#   values (Hopper 1.3 us, Blackwell 0.2 us per sequence per MoE layer) lower TensorRT-LLM's predicted throughput of
#   the 136 perf-overview MoE rows by 0.6-42 %.
_VLLM_HOST = dict(step_overhead=0.0, step_overhead_per_seq=0.0, prefill_step_overhead=1.0e-3,
                  prefill_overhead_per_layer=0.0, elem_kernels_per_layer=4, shared_expert_overlap=False,
                  moe_per_seq=0.0)
_SGLANG_HOST = dict(step_overhead=0.0, step_overhead_per_seq=0.0, prefill_step_overhead=1.0e-3,
                    prefill_overhead_per_layer=0.0, elem_kernels_per_layer=4, shared_expert_overlap=False,
                    moe_per_seq=0.0)

# Hopper, vLLM. fit: aiconfigurator-core 0.12.0 h100_sxm vllm/0.24.0: gemm (bf16 torch linear, fp8
# CutlassFP8ScaledMM) bf16 ce 0.795, streaming 0.887, floor 4.6 us; fp8 ce 0.532, 0.910, 10.0 us. attention
# (FlashAttention-3): context 0.36 of BF16 peak at 2k, 0.60 at 8-16k -> a_c 0.71, s_half 1,004, floor 15 us;
# generation (FP8 KV) 0.641 of HBM, floor 13.6 us. moe (per-tensor fp8, ModelOpt FlashInfer-CUTLASS kernel, 3-4x
# slower than TRT-LLM's at 50-1k tokens): 0.15 of dense efficiency, 8 passes, floor 80 us, at the edge of the
# fit grid (mean |log error| 0.40, median 48 %: the form fits this kernel poorly).
_HOPPER_VLLM = dataclasses.replace(
    _HOPPER_TRT, name="vllm",
    gemm_compute={"bf16": 0.795 / 0.7, "fp8": 0.532 / 0.7},
    gemm_memory={"bf16": 0.887 / 0.8, "fp8": 0.910 / 0.8},
    gemm_floor={"bf16": 4.6e-6, "fp8": 10.0e-6},
    fmha_compute=0.71 / 0.7, fmha_half=1004.0, fmha_floor=15.0e-6,
    decode_attn_memory=0.641 / 0.8, decode_attn_floor=13.6e-6,
    moe_floor=80e-6, moe_compute=0.15, moe_token_passes=8.0, **_VLLM_HOST)

# Blackwell, vLLM. fit: b200_sxm vllm/0.24.0: gemm bf16 ce 0.690, 0.818, 3.7 us; fp8 0.475, 0.729, 13.4 us;
# nvfp4 (FlashInfer CuTe DSL) 0.436, 0.613, 9.1 us. attention (FlashInfer TRT-LLM kernels): context a_c 0.75,
# s_half 1,525, floor 10.9 us; generation 0.673 of HBM, floor 10.7 us. moe (fp8): 0.5, 0 passes, 20 us (0.30,
# median 28 %).
_BLACKWELL_VLLM = dataclasses.replace(
    _BLACKWELL_TRT, name="vllm",
    gemm_compute={"bf16": 0.690 / 0.7, "fp8": 0.475 / 0.7, "fp4": 0.436 / 0.7},
    gemm_memory={"bf16": 0.818 / 0.8, "fp8": 0.729 / 0.8, "fp4": 0.613 / 0.8},
    gemm_floor={"bf16": 3.7e-6, "fp8": 13.4e-6, "fp4": 9.1e-6},
    fmha_compute=0.75 / 0.7, fmha_half=1525.0, fmha_floor=10.9e-6,
    decode_attn_memory=0.673 / 0.8, decode_attn_floor=10.7e-6,
    moe_floor=20e-6, moe_compute=0.5, moe_token_passes=0.0, **_VLLM_HOST)

# Hopper, SGLang. fit: h100_sxm sglang/0.5.14: gemm (bf16 torch linear, fp8 sgl-kernel fp8_scaled_mm) bf16 ce
# 0.724, 0.853, 4.1 us; fp8 0.514, 0.808, 6.2 us. attention (FA3, SGLang's declared default on SM90): context
# from its FP8 FMHA rows (no BF16 FMHA over an FP8 cache measured) 0.48 of BF16 peak at 2k, 0.70 at 8-16k ->
# a_c 0.79, s_half 643, floor 10.9 us; generation 0.599 of HBM, floor 15.2 us. moe (block-scaled fp8, Triton
# fused_moe): 0.4, 8 passes, 30 us (0.35, median 23 %).
_HOPPER_SGLANG = dataclasses.replace(
    _HOPPER_TRT, name="sglang",
    gemm_compute={"bf16": 0.724 / 0.7, "fp8": 0.514 / 0.7},
    gemm_memory={"bf16": 0.853 / 0.8, "fp8": 0.808 / 0.8},
    gemm_floor={"bf16": 4.1e-6, "fp8": 6.2e-6},
    fmha_compute=0.79 / 0.7, fmha_half=643.0, fmha_floor=10.9e-6,
    decode_attn_memory=0.599 / 0.8, decode_attn_floor=15.2e-6,
    moe_floor=30e-6, moe_compute=0.4, moe_token_passes=8.0, **_SGLANG_HOST)

# Blackwell, SGLang. fit: b200_sxm sglang/0.5.14: gemm bf16 ce 0.651, 0.818, 4.3 us; fp8 0.476, 0.777, 10.2 us;
# nvfp4 (FlashInfer CuTe DSL) 0.443, 0.607, 8.7 us. attention (SGLang's declared SM100 default, Triton, measured
# only head dims 192/256; other shapes TRT-LLM MHA 81 % / FlashInfer): context a_c 0.59, s_half 1,628, floor
# 16.7 us; generation 0.601 of HBM, floor 16.7 us. moe (block-scaled fp8): 0.4, 8 passes, 30 us (0.33, median 24 %).
_BLACKWELL_SGLANG = dataclasses.replace(
    _BLACKWELL_TRT, name="sglang",
    gemm_compute={"bf16": 0.651 / 0.7, "fp8": 0.476 / 0.7, "fp4": 0.443 / 0.7},
    gemm_memory={"bf16": 0.818 / 0.8, "fp8": 0.777 / 0.8, "fp4": 0.607 / 0.8},
    gemm_floor={"bf16": 4.3e-6, "fp8": 10.2e-6, "fp4": 8.7e-6},
    fmha_compute=0.59 / 0.7, fmha_half=1628.0, fmha_floor=16.7e-6,
    decode_attn_memory=0.601 / 0.8, decode_attn_floor=16.7e-6,
    moe_floor=30e-6, moe_compute=0.4, moe_token_passes=8.0, **_SGLANG_HOST)

#: (family, stack) -> fitted profile of the stacks other than TRT-LLM (TRT-LLM: ``_REFERENCE``)
_STACK_PROFILES = {("hopper", "vllm"): _HOPPER_VLLM, ("blackwell", "vllm"): _BLACKWELL_VLLM,
                   ("hopper", "sglang"): _HOPPER_SGLANG, ("blackwell", "sglang"): _BLACKWELL_SGLANG}


def stack_reference(family: str, stack: str) -> StackProfile:
    """The fitted profile of ``stack`` on a measured ``family`` (``hopper`` / ``blackwell``), before any chip
    adjustment (:func:`profile_for` applies the chip's cores and the transfer rule)."""
    return _REFERENCE[family] if stack == "trtllm" else _STACK_PROFILES[(family, stack)]


#: ChipSpec's generic compute / memory efficiencies (0.7 / 0.8), what a preset that states none of its own carries
_GENERIC_EFFICIENCY = tuple(f.default for f in dataclasses.fields(ChipSpec)
                            if f.name in ("compute_efficiency", "memory_efficiency"))


def _transfer_note(chip: ChipSpec, family: str) -> str:
    # a preset that states no efficiencies runs at ChipSpec's generic ones: say so, not "its own" (only Maia 200's
    # are measured figures today); a preset stating exactly 0.7 / 0.8 reads the same (the figures are the same)
    eff = f"{chip.compute_efficiency:g}/{chip.memory_efficiency:g}"
    own = (f"ChipSpec's generic compute_efficiency/memory_efficiency ({eff}: ASSUMPTION, no figure for {chip.name})"
           if (chip.compute_efficiency, chip.memory_efficiency) == _GENERIC_EFFICIENCY else
           f"{chip.name}'s own compute_efficiency/memory_efficiency ({eff})")
    return (f"ASSUMPTION: {chip.name} has no measured kernel tables; GEMMs at {own}; "
            f"kernel floors, attention/elementwise/MoE factors, launch and step costs and the per-sequence MoE "
            f"cost transferred from the "
            f"{family} profile (closest measured family by machine balance, peak FP8 FLOP/s per HBM byte/s)")


def _closest_family(chip: ChipSpec) -> str:
    """Measured family whose machine balance (peak FLOP/s per HBM byte/s) is closest to ``chip``'s (log scale).

    Reference balances: Hopper 1,979 TFLOP/s FP8 / 3.35 TB/s = 591; Blackwell 4.5 PFLOP/s / 8 TB/s = 563.
    """
    try:
        peak = chip.peak_flops("fp8")
    except SpecError:
        peak = chip.peak_flops("bf16") * 2.0
    bal = peak / max(chip.hbm_bandwidth, 1.0)
    refs = {"hopper": 1979e12 / 3.35e12, "blackwell": 4.5e15 / 8e12}
    return min(refs, key=lambda k: abs(math.log(bal / refs[k])))


def profile_for(chip: ChipSpec, stack: str) -> StackProfile:
    """The :class:`StackProfile` of ``stack`` on ``chip`` (raises SpecError for an unknown stack or ``ideal``)."""
    if stack not in STACKS or stack == "ideal":
        raise SpecError(f"stack: must be one of {', '.join(STACKS)} (profile lookup excludes 'ideal'), got {stack!r}")
    fam = CHIP_FAMILY.get(chip.name, (None, None))[0]
    transferred = fam is None
    notes: tuple[str, ...] = ()
    if transferred:
        fam = _closest_family(chip)
        notes = (_transfer_note(chip, fam),)
    ref = stack_reference(fam, stack)
    if stack != "trtllm":
        notes += (f"ASSUMPTION: {stack} host costs not in kernel tables: {ref.step_overhead * 1e3:g} ms per decode "
                  f"step exposed (overlapped scheduling), {ref.prefill_step_overhead * 1e3:g} ms + "
                  f"{ref.prefill_overhead_per_layer * 1e3:g} ms per layer per prefill step, "
                  f"{ref.elem_kernels_per_layer} elementwise kernels per layer (inference/kernels.py)",)
    # waves over the chip's own cores when its preset gives them (ChipSpec.cores: Maia tiles, SMs), else the
    # reference family's SM count. ASSUMPTION: a 128 x 128 output tile per core per wave on every chip
    cores = int(getattr(chip, "cores", 0) or 0) or ref.cores
    g_c, g_m, g_floor = ref.gemm_compute, ref.gemm_memory, ref.gemm_floor
    if transferred:
        # ASSUMPTION: the GEMM floor of a transferred chip is the reference family's BF16 one for every dtype
        # (the intrinsic kernel floor); the larger FP8/FP4 floors of TRT-LLM on NVIDIA include its separate
        # activation-quantisation kernels, a software property that does not transfer. Sensitivity (Llama-3.1-70B
        # TP8 decode on maia200, batch 32): TPOT 7.3 ms with this floor, 10.4 ms with Hopper's FP8 floor.
        g_floor = {k: ref.gemm_floor["bf16"] for k in g_floor}
        # a transferred chip's own compute_efficiency / memory_efficiency are its GEMM asymptotes as they stand
        # (e.g. Maia 200's measured 96 % / 56 %): the NVIDIA GEMM factors, which are relative to the NVIDIA
        # presets' unmeasured 0.7 / 0.8, are not carried over; floors and the other kernels' factors are
        g_c = {k: 1.0 for k in g_c}
        g_m = {k: 1.0 for k in g_m}
    return dataclasses.replace(ref, name=stack, cores=cores, gemm_compute=dict(g_c), gemm_memory=dict(g_m),
                               gemm_floor=dict(g_floor), assumptions=ref.assumptions + notes)


# --------------------------------------------------------------------------- closed forms
def _eff(chip_eff: float, rel: float) -> float:
    return min(1.0, chip_eff * rel)


def gemm_time(m: float, n: float, k: float, *, prof: StackProfile, dtype: str, peak: float, ce: float,
              me: float, bytes_moved: float, bandwidth: float) -> float:
    """Time (s) of one GEMM of ``m x k`` by ``k x n`` moving ``bytes_moved`` at ``bandwidth`` (bytes/s).

    ``floor + max(2 Mq Nq K / (peak ce g_c), bytes / (bandwidth me g_m))`` (module docstring)."""
    if m <= 0 or n <= 0 or k <= 0:
        return 0.0
    # small-m kernels use a 64-row tile (and split-K when the tiles do not fill the chip): the m padding
    tm = 64 if m <= 64 else prof.tile_m
    m_tiles, n_tiles = math.ceil(m / tm), math.ceil(n / prof.tile_n)
    tiles = m_tiles * n_tiles
    util = 1.0 if tiles <= prof.cores else tiles / (math.ceil(tiles / prof.cores) * prof.cores)  # last wave
    q_flops = 2.0 * (m_tiles * tm) * (n_tiles * prof.tile_n) * k / util
    t_c = q_flops / (peak * _eff(ce, prof.by_dtype(prof.gemm_compute, dtype)))
    t_m = bytes_moved / (bandwidth * _eff(me, prof.by_dtype(prof.gemm_memory, dtype)))
    return prof.by_dtype(prof.gemm_floor, dtype) + max(t_c, t_m)


def fmha_time(flops: float, span: float, bytes_moved: float, *, prof: StackProfile, peak_bf16: float, ce: float,
              me: float, bandwidth: float) -> float:
    """Prefill (flash) attention: ``floor + max(FLOPs / (P ce a_c s/(s + s_half)), bytes / (B me))``, s."""
    if flops <= 0:
        return 0.0
    eff = _eff(ce, prof.fmha_compute) * span / (span + prof.fmha_half)
    return prof.fmha_floor + max(flops / (peak_bf16 * eff), bytes_moved / (bandwidth * me))


def decode_attention_time(kv_bytes: float, *, prof: StackProfile, me: float, bandwidth: float, flops: float = 0.0,
                          peak_bf16: float = 0.0, ce: float = 1.0) -> float:
    """Decode (paged) attention: ``floor + max(KV bytes / (B me a_m), FLOPs / (P_bf16 ce a_c))``, s.

    The compute term (at the prefill kernel's asymptote ``a_c = fmha_compute``) binds where many query heads share
    one cached K/V: MLA's absorbed decode (DeepSeek-V3, 128 heads per rank over a 576-wide latent: ~480 FLOP per
    FP8 cache byte against B200's ~280 FLOP/s per byte/s) is compute-bound; GQA decode (4-16 heads per KV head,
    <= 32 FLOP per byte) stays memory-bound. ``flops = 0`` (or no ``peak_bf16``) is the memory-bound form alone."""
    t = kv_bytes / (bandwidth * _eff(me, prof.decode_attn_memory))
    if flops > 0 and peak_bf16 > 0:
        t = max(t, flops / (peak_bf16 * _eff(ce, prof.fmha_compute)))
    return prof.decode_attn_floor + t


def elementwise_time(bytes_moved: float, *, prof: StackProfile, me: float, bandwidth: float) -> float:
    """One memory-bound kernel (norm, rope, activation, residual): ``max(floor, bytes / (B me e_m))``, s."""
    return max(prof.elem_floor, bytes_moved / (bandwidth * _eff(me, prof.elem_memory)))


def hot_rank_tokens(assignments: float, ranks: int, skew: float) -> float:
    """Token copies on the most loaded of ``ranks`` expert ranks when ``assignments`` copies are routed.

    Balls into bins: mean ``mu = assignments / ranks``, hottest ``mu + skew sqrt(2 mu ln ranks)`` (the
    max-load approximation for uniform random routing, Raab & Steger 1998), capped at ``assignments``.
    ``skew = 0`` is perfect balance; 1 is uniform random top-k; > 1 models popular experts.
    """
    if ranks <= 1 or assignments <= 0:
        return float(assignments)
    mu = assignments / ranks
    return min(float(assignments), mu + skew * math.sqrt(2.0 * mu * math.log(ranks)))


def distinct_active(experts: int, p_pick: float, tokens: float) -> float:
    """Expected experts of ``experts`` touched when ``tokens`` tokens each pick a given one with
    probability ``p_pick`` (``E (1 - (1 - p)^T)``)."""
    if tokens <= 0:
        return 0.0
    p = min(max(p_pick, 0.0), 1.0)
    return experts * (1.0 - (1.0 - p) ** tokens)


def moe_time(assignments: float, ranks: int, local_experts: int, hidden: int, ffn: float, *, prof: StackProfile,
             dtype: str, peak: float, ce: float, me: float, w: float, a: float, bandwidth: float) -> float:
    """Routed experts of one MoE layer on the hottest of ``ranks`` expert ranks, s.

    ``assignments`` token copies are routed over the ranks (``hot_rank_tokens``); the hottest rank runs a
    grouped GEMM (gate/up and down as one ``n = 3 ffn`` GEMM: same FLOPs and bytes) over its active experts,
    each expert's rows padded to a 64-row tile, at ``moe_compute`` of a dense GEMM's efficiency, plus
    ``moe_token_passes`` streams of ``hidden x a`` bytes per routed copy (permute, scaling, unpermute):

        moe_floor + max(2 Mq 3ffn hidden / (P ce g_c moe_compute u), weight bytes / (B me g_m))
                  + hot x passes x hidden x a / (B me e_m)
    """
    hot = hot_rank_tokens(assignments, ranks, prof.moe_skew) if ranks > 1 else float(assignments)
    if hot <= 0:
        return 0.0
    active = max(1.0, distinct_active(local_experts, 1.0 / max(local_experts, 1), hot))
    m_pad = active * 64.0 * math.ceil(hot / active / 64.0)
    weights = active * 3 * hidden * ffn * w + hot * (2 * hidden + 3 * ffn) * a
    g = dataclasses.replace(prof, gemm_compute={k: v * prof.moe_compute for k, v in prof.gemm_compute.items()},
                            gemm_floor={k: 0.0 for k in prof.gemm_floor})
    t_gemm = gemm_time(m_pad, 3 * ffn, hidden, prof=g, dtype=dtype, peak=peak, ce=ce, me=me, bytes_moved=weights,
                       bandwidth=bandwidth)
    t_tok = hot * prof.moe_token_passes * hidden * a / (bandwidth * _eff(me, prof.elem_memory))
    return prof.moe_floor + t_gemm + t_tok


def launched(kernel_times: list[float], prof: StackProfile, graph: bool) -> float:
    """Time (s) of a sequence of kernels with their launch costs.

    Under CUDA-graph capture (decode) each kernel adds ``launch_graph``; eager (prefill) the GPU idles when a
    kernel is shorter than the host's ``launch_eager`` per launch: ``sum(max(t, launch_eager))``."""
    if graph:
        return sum(kernel_times) + prof.launch_graph * len(kernel_times)
    return sum(max(t, prof.launch_eager) for t in kernel_times)
