"""KV-cache capacity the way serving engines size it: what each rank holds besides the KV cache, then the budget.

``stack="ideal"`` keeps the physics rule of :meth:`inference.Deployment.memory`: weights + KV + peak activations
<= ``hbm_usable x HBM``. The serving stacks size their KV pool at start-up from what they measure, per rank
(one chip of a stage), and the KV cache gets a budget, not a share:

* **TensorRT-LLM** (PyTorch backend; source: ``tensorrt_llm/_torch/pyexecutor/_util.py``, ``KvCacheCreator``:
  ``configure_kv_cache_capacity`` runs dummy context requests of ``max_num_tokens`` tokens per rank (times the
  attention-DP ranks) through the engine, reads the torch peak and the memory used outside torch, and
  ``_cal_max_memory``: ``available_kv_mem = (total - peak + estimation KV) x free_gpu_memory_fraction``)::

      KV = f x (HBM - weights - activations(max_num_tokens) - CUDA-graph pool - comm buffers - runtime)

  ``f`` is ``KvCacheConfig.free_gpu_memory_fraction`` (default 0.9; trtllm-bench's perf-overview runs 0.95);
* **vLLM** (``gpu_memory_utilization`` of TOTAL memory; ``Worker.determine_available_memory``: a profile run at
  ``max_num_batched_tokens`` with ``max_num_seqs`` sampled rows; CUDA graphs are captured after the KV cache is
  allocated, from the headroom)::

      KV = f x HBM - (weights + activations(max_num_tokens) + comm buffers + runtime)

* **SGLang** (``mem_fraction_static`` of TOTAL memory holds weights + KV; activations and CUDA graphs use the
  rest; ``ModelRunner.profile_max_num_token``: ``rest = free after load - total x (1 - f)``)::

      KV = f x HBM - (weights + comm buffers + runtime)

Every term is one rank's, bytes; each is a closed form below with its source or marked ASSUMPTION with its
sensitivity (docs/inference.md, "Memory"). ``f`` is the ``hbm_usable`` knob under every stack.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["CONTEXT_BYTES", "DEFAULT_GRAPH_BATCH", "NCCL_BYTES", "activation_peak", "block_scale_factor",
           "comm_buffer_bytes",
           "cuda_graph_bytes", "engine_memory", "engine_weight_bytes", "kv_rule"]

#: NCCL communicator buffers per rank by group size (source: aiconfigurator-core 0.12.0 ``systems/h100_sxm.yaml``,
#: ``misc.nccl_mem``: 0 / 342 MiB / 392 MiB / 392 MiB for 1 / 2 / 4 / 8 ranks, "based on observations";
#: the same on H200/B200/GB200); groups of more than 8 ranks use the 8-rank figure (ASSUMPTION)
NCCL_BYTES: dict[int, float] = {1: 0.0, 2: 358612992.0, 4: 411041792.0, 8: 411041792.0}
#: CUDA context, cuBLAS / cuDNN workspaces and allocator slack per rank, bytes (source: aiconfigurator-core
#: 0.12.0 ``systems/*.yaml`` ``misc.other_mem`` comment: 551 MB observed, raised to 3.5 GB there as a safety
#: margin; ASSUMPTION: the observed figure; sensitivity 3.5 GiB in docs/inference.md)
CONTEXT_BYTES: float = 551e6
#: largest CUDA-graph decode batch per rank TensorRT-LLM captures when no list is given (ASSUMPTION:
#: ``CudaGraphConfig`` captures up to 128 by default; the pool holds one decode step's activations)
DEFAULT_GRAPH_BATCH: int = 128

#: how each stack applies its fraction: of the memory free after everything else, or of the total
_RULES: dict[str, str] = {"trtllm": "free", "vllm": "total", "sglang": "static", "ideal": "ideal"}


def kv_rule(stack: str) -> str:
    """``"free"`` (TensorRT-LLM), ``"total"`` (vLLM), ``"static"`` (SGLang) or ``"ideal"`` (the roofline rule)."""
    return _RULES.get(stack, "free")


def engine_weight_bytes(dep: Any) -> float:
    """Weights one rank holds as the engine loads them, bytes: :meth:`Deployment.held_weight_bytes` (attention
    replicated on every attention-DP rank, experts sharded by ``ep``), with the embedding and the LM head in BF16
    when the GEMM dtype is 8-bit or narrower (ModelOpt FP8/FP4 checkpoints list ``lm_head`` in
    ``exclude_modules``; embeddings are never quantised) and FP4 GEMM weights with their block scales
    (:func:`block_scale_factor`)."""
    held = dep.held_weight_bytes()
    w = dep.w
    if w >= 2:
        return float(held["total"])
    gemm = held["total"] - held["embeddings"]
    return float(gemm * block_scale_factor(dep.dtype) + held["embeddings"] * 2.0 / w)


def block_scale_factor(dtype: str) -> float:
    """Stored bytes per weight over the element bytes: NVFP4 keeps one FP8 (E4M3) scale per 16 FP4 values,
    ``1 + 1 / (16 x 0.5)`` = 1.125 (source: NVIDIA, "Introducing NVFP4 for efficient and accurate low-precision
    inference", 2025: 16-value micro-blocks with an E4M3 scale, plus one FP32 scale per tensor; ASSUMPTION:
    ``fp4`` weights are NVFP4, as ModelOpt's FP4 checkpoints); 1 for other dtypes (per-tensor or per-channel
    scales are negligible)."""
    return 1.0 + 1.0 / (16 * 0.5) if dtype == "fp4" else 1.0


def _moe_tokens(dep: Any, tokens: int) -> int:
    """Tokens the MoE of one rank sees when each attention rank runs ``tokens``: with attention data parallelism
    the hidden states are all-gathered over the stage before the experts (TensorRT-LLM's CUTLASS MoE path), so
    ``tokens x attention groups``; else ``tokens``."""
    return tokens * dep.shard.attn_groups if dep.ep > 1 else tokens


def activation_peak(dep: Any, tokens: int, *, logit_rows: int = 1, decode: bool = False) -> dict[str, float]:
    """Peak activation bytes of one forward pass of ``tokens`` tokens per attention rank, closed form, bytes.

    The live set at the peak is the residual stream and the normed hidden state (``2 x T x H x a``) plus the
    largest block's intermediates:

    * attention: QKV output ``T x (q + 2 kv) / tp x a`` + attention output ``T x q / tp x a`` (MLA: the
      decompressed ``T x heads / tp x (nope + rope + v) x a`` + the latent ``T x (kv_lora + rope) x a``);
    * dense MLP: gate/up output ``T x 2F / tp x a`` + activation output ``T x F / tp x a``;
    * MoE (TensorRT-LLM CUTLASS fused MoE workspace, ``moe_kernels.cu`` ``getWorkspaceDeviceBufferSizes``, sized
      for every gathered row: ``R = T_moe x top_k``; permuted inputs overlap the FC1 result and the FC1 (GLU)
      output overlaps the FC2 output): gathered input ``T_moe x H x a`` + router logits ``T_moe x E x 4`` +
      ``R x (max(H, I) x a_in + max(2 I, H) x 2)`` with ``a_in`` the GEMM input bytes (FP8 1, FP4 0.5);
      shared experts add ``T_moe x 3 I_s / tp x a``;
    * logits: ``logit_rows x vocab / tp x 4`` (FP32 logits of the rows sampled).

    ``decode``: one token per sequence (the CUDA-graph capture of a decode batch of ``tokens``)."""
    m, a = dep.model, dep.a
    tp = dep.tp
    T = int(tokens)
    a_in = min(dep.w, a)
    resid = 2.0 * T * m.hidden * a
    if m.is_mla:
        qh = m.heads / tp
        attn = T * (qh * (m.qk_nope_dim + m.qk_rope_dim + m.v_head_dim) + m.kv_lora_rank + m.qk_rope_dim) * a
        attn += T * qh * m.v_head_dim * a
    else:
        q = m.heads * m.head_dim / tp
        kv = 2 * math.ceil(m.kv_heads / tp) * m.head_dim
        attn = T * (2 * q + kv) * a
    mlp = 3.0 * T * m.ffn / tp * a if m.mlp_dense_layers else 0.0
    moe = 0.0
    if m.is_moe:
        tm = _moe_tokens(dep, T)
        rows = tm * m.top_k
        inter = m.moe_ffn if dep.ep > 1 else m.moe_ffn / tp
        moe = tm * m.hidden * a + tm * m.experts * 4.0
        moe += rows * (max(m.hidden, inter) * a_in + max(2 * inter, m.hidden) * 2.0)
        moe += tm * 3.0 * m.shared_experts * m.moe_ffn / tp * a
    logits = float(logit_rows) * m.vocab / tp * 4.0
    blocks = {"attention": attn, "mlp": mlp, "moe": moe, "logits": logits}
    peak = max(blocks, key=lambda k: blocks[k])
    return {"residual": resid, **blocks, "largest": peak, "total": resid + blocks[peak],
            "tokens": float(T), "moe_tokens": float(_moe_tokens(dep, T) if m.is_moe else 0)}


def cuda_graph_bytes(dep: Any, graph_batch: int) -> float:
    """Memory of the CUDA-graph pool, bytes: captured graphs share one pool, as large as the largest captured
    decode step's activations (:func:`activation_peak` at ``graph_batch`` sequences, one logit row each)
    (ASSUMPTION: graph nodes' own storage is negligible beside it)."""
    if graph_batch <= 0:
        return 0.0
    return activation_peak(dep, graph_batch, logit_rows=graph_batch, decode=True)["total"]


def comm_buffer_bytes(dep: Any, tokens: int) -> float:
    """Communication buffers of one rank, bytes: NCCL's per-communicator buffers for the stage group
    (:data:`NCCL_BYTES`), plus, for TensorRT-LLM's custom TP all-reduce (``tp > 1``), its IPC workspace of
    three message-sized buffers of ``tokens x hidden x a`` (ASSUMPTION: Lamport triple buffering, each sized
    for a ``max_num_tokens`` message; sensitivity in docs/inference.md)."""
    g = dep.shard.stage_chips * (1 if dep.pp == 1 else 1)
    key = 1 if g <= 1 else 2 if g == 2 else 4 if g <= 4 else 8
    out = NCCL_BYTES[key] + (NCCL_BYTES[2] if dep.pp > 1 else 0.0)
    if dep.tp > 1 and dep.stack == "trtllm":
        out += 3.0 * tokens * dep.model.hidden * dep.a
    return float(out)


def engine_memory(dep: Any, *, weights: float | None = None, kv_per_rank: float = 0.0) -> dict[str, Any]:
    """One rank's memory as the deployment's stack sizes it: each term, the KV budget and the rule, bytes.

    ``weights``: HBM-resident weight bytes (default :func:`engine_weight_bytes`; 0 when they sit in SRAM).
    ``kv_per_rank``: the KV bytes asked for (reported with ``fits``)."""
    rule = kv_rule(dep.stack)
    hbm = float(dep.chip.hbm_bytes)
    f = float(dep.hbm_usable)
    T = int(dep.max_num_tokens)
    w = engine_weight_bytes(dep) if weights is None else float(weights)
    # logits of the estimation pass: TensorRT-LLM's dummy context requests (one row each, requests of at most
    # max_num_tokens tokens); vLLM / SGLang sample one row per sequence slot
    rows = max(1, min(T, int(dep.max_seqs))) if rule in ("total", "static") else 1
    act = activation_peak(dep, T, logit_rows=rows)["total"]
    graphs = cuda_graph_bytes(dep, dep.graph_batch_max) if rule == "free" else 0.0
    comm = comm_buffer_bytes(dep, T)
    runtime = CONTEXT_BYTES
    if rule == "free":
        budget = f * (hbm - w - act - graphs - comm - runtime)
        held = w + act + graphs + comm + runtime
    elif rule == "total":
        budget = f * hbm - (w + act + comm + runtime)
        held = w + act + comm + runtime
    else:  # static: activations and graphs live in the (1 - f) headroom
        budget = f * hbm - (w + comm + runtime)
        held = w + comm + runtime
    raw, budget = budget, max(0.0, budget)
    # what the engine may fill: held + the KV budget; when nothing is left for KV, the fraction of HBM (so that
    # need - usable is the excess a CapacityError reports)
    usable = held + budget if raw > 0 else f * hbm
    return {"rule": rule, "fraction": f, "max_num_tokens": T, "weights": w, "activations": act,
            "cuda_graphs": graphs, "comm_buffers": comm, "runtime": runtime, "held": held, "kv_budget": budget,
            "usable": usable,
            "kv_tokens": (budget / dep.kv_bytes_per_seq_token()) if dep.kv_bytes_per_seq_token() > 0 else math.inf,
            "fits": kv_per_rank <= budget and budget > 0}
