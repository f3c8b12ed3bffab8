"""KV-cache capacity the way serving engines size it: what each rank holds besides the KV cache, then the budget.

``stack="ideal"`` keeps the physics rule of :meth:`inference.Deployment.memory`: weights + KV + peak activations
<= ``hbm_usable x HBM``. The serving stacks size their KV pool at start-up from what they measure, per rank
(one chip of a stage), and the KV cache gets a budget, not a share:

* **TensorRT-LLM** (PyTorch backend; source: ``tensorrt_llm/_torch/pyexecutor/_util.py``, ``KvCacheCreator``:
  ``configure_kv_cache_capacity`` runs dummy context requests of ``max_num_tokens`` tokens per rank (times the
  attention-DP ranks) through an estimation executor with a small KV cache, after ``empty_cache()`` and
  ``reset_peak_memory_stats()``; peak = torch's ``allocated_bytes.all.peak`` (allocated, not reserved: the
  caching allocator's slack during the pass is not charged) + the memory used outside torch after a second
  ``empty_cache()`` (NCCL, IPC workspaces, the CUDA context, and the private pool of the CUDA graphs the estimation
  executor captured in its warm-up); ``_cal_max_memory``: ``available_kv_mem = (total - peak + estimation KV) x
  free_gpu_memory_fraction``, ``total`` the runtime's ``mem_get_info`` total)::

      KV = f x (total - weights - activations(max_num_tokens) - CUDA-graph pool - comm buffers - runtime)

  ``f`` is ``KvCacheConfig.free_gpu_memory_fraction`` (default 0.9; trtllm-bench's perf-overview runs 0.95);
  ``total`` is :func:`device_total_bytes` (what the runtime reports: 79.15 GiB on an "80 GB" H100, not the
  datasheet's decimal GB); the activations are the estimation pass's live set, MoE included as the CUTLASS
  fused MoE allocates it (:func:`activation_peak`); the graph pool is that of the largest graph the estimation
  executor could capture in its small KV cache (:func:`estimation_graph_batch`: larger graphs are captured
  after the KV pool is sized, from the ``1 - f`` rest); the comm buffers are NCCL's plus the custom all-reduce
  IPC workspace (:func:`allreduce_workspace_bytes`, allocated under attention DP too);
* **vLLM** (``gpu_memory_utilization`` of TOTAL memory; ``Worker.determine_available_memory``: a profile run at
  ``max_num_batched_tokens`` with ``max_num_seqs`` sampled rows; CUDA graphs are captured after the KV cache is
  allocated, from the headroom)::

      KV = f x total - (weights + activations(max_num_tokens) + comm buffers + runtime)

* **SGLang** (``mem_fraction_static`` of TOTAL memory holds weights + KV; activations and CUDA graphs use the
  rest; ``ModelRunner.profile_max_num_token``: ``rest = free after load - total x (1 - f)``)::

      KV = f x total - (weights + comm buffers + runtime)

Not charged (each below 0.1 GB a rank on the validation rows, or not derivable): the attention op's persistent
workspace, sampler and scheduler buffers sized by ``max_batch_size``, cuBLAS workspaces (inside ``runtime``), the
caching allocator's fragmentation (the peak read is allocated bytes). Every term is one rank's, bytes; each is a closed form below with its source or marked ASSUMPTION with its
sensitivity (docs/inference.md, "Memory"). ``f`` is the ``hbm_usable`` knob under every stack.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["CONTEXT_BYTES", "DEFAULT_GRAPH_BATCH", "DEVICE_TOTAL_BYTES", "ESTIMATION_EXTRA_TOKENS", "MOE_GEMM_OUT_BYTES", "NCCL_BYTES",
           "TOKENS_PER_BLOCK", "activation_peak", "allreduce_workspace_bytes", "block_scale_factor",
           "comm_buffer_bytes", "cuda_graph_bytes", "device_total_bytes", "engine_memory", "engine_weight_bytes", "estimation_graph_batch",
           "estimation_kv_blocks", "kv_rule"]

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
#: the device's total memory as the CUDA runtime reports it (``torch.cuda.mem_get_info()[1]``), which every
#: engine's rule starts from (TensorRT-LLM ``configure_kv_cache_capacity``, vLLM ``total_gpu_memory``, SGLang),
#: per chip preset, bytes; chips not listed use ``ChipSpec.hbm_bytes`` (B200's preset is already the exposed
#: figure). Sources: H100 SXM 80 GB: vLLM start-up logs "total_gpu_memory (79.11GiB)" .. "(79.33GiB)" across
#: drivers (vllm-project/vllm PR #10511: 79.22 GiB; nvidia-smi shows 81,559 MiB), taken as 79.15 GiB; H200:
#: vLLM log "total_gpu_memory (139.81GiB)" (nvidia-smi 143,771 MiB); GB200: aiconfigurator-core 0.12.0
#: ``systems/gb200.yaml`` ``mem_capacity`` 189,471 MiB "reported by nvidia-smi" less 0.5 GiB, the gap between
#: nvidia-smi and the runtime's total on H100 / H200 (ASSUMPTION, +-0.2 GiB). The presets' datasheet 80 / 141 /
#: 186 GB are decimal marketing capacities: 6 % (H100, H200) and 6.5 % (GB200) below what the engine sizes from.
DEVICE_TOTAL_BYTES: dict[str, float] = {"h100-sxm": 79.15 * 2**30, "h200": 139.81 * 2**30,
                                        "gb200": (189471 - 512) * 2**20}
#: KV-cache block size, tokens (source: TensorRT-LLM ``KvCacheConfig.tokens_per_block`` default 32, PyTorch
#: backend; the MLPerf v5.1 NVIDIA configs build with ``tokens_per_block: 32`` too)
TOKENS_PER_BLOCK: int = 32
#: tokens the estimation KV cache reserves per dummy request beyond its prompt (source: TensorRT-LLM
#: ``_torch/pyexecutor/_util.py`` ``KvCacheCreator._get_token_num_for_estimation``: one generated token, one more
#: with the overlap scheduler, which is on unless ``disable_overlap_scheduler``; no speculative decoding here)
ESTIMATION_EXTRA_TOKENS: int = 2
#: bytes of the CUTLASS MoE GEMMs' unfused output type (source: ``moe_kernels.cu``
#: ``getWorkspaceDeviceBufferSizes``: ``gemm_output_dtype = sizeof(UnfusedGemmOutputType)``, BF16 for BF16/FP8/FP4
#: activations)
MOE_GEMM_OUT_BYTES: float = 2.0

#: how each stack applies its fraction: of the memory free after everything else, or of the total
_RULES: dict[str, str] = {"trtllm": "free", "vllm": "total", "sglang": "static", "ideal": "ideal"}


def device_total_bytes(chip: Any) -> float:
    """The chip's total memory as the CUDA runtime reports it to an engine, bytes (:data:`DEVICE_TOTAL_BYTES`,
    else ``chip.hbm_bytes``)."""
    return float(DEVICE_TOTAL_BYTES.get(getattr(chip, "name", ""), chip.hbm_bytes))


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
    * MoE, as TensorRT-LLM's CUTLASS fused MoE runs it (``_torch/modules/fused_moe/fused_moe_cutlass.py``
      ``forward_chunk``: route the rank's ``T`` tokens, quantize the input to the GEMM dtype, all-gather input,
      scales and routing over the attention-DP ranks, ``torch.ops.trtllm.fused_moe``, reduce-scatter), all live at
      the op's peak, ``T_m`` tokens after the gather (:func:`_moe_tokens`), ``R = T_m x top_k`` expanded rows,
      ``g`` = :data:`MOE_GEMM_OUT_BYTES`:

      - input ``T_m x H x a_in`` (``a_in`` the GEMM input bytes: FP8 1, FP4 0.5 plus one FP8 scale per 16
        values; a new tensor only when quantized or gathered, else the normed hidden state of the residual term);
      - routing: router logits ``T x E x 4`` (the rank's tokens) + selected experts and their scales
        ``T_m x top_k x 8`` (int32 + FP32, gathered);
      - the workspace (``moe_kernels.cu`` ``getWorkspaceDeviceBufferSizes``, allocated per call by the op):
        ``R x (max(H a_in, H g, I a_in) + max(2 I g, H g, I a_in) + 20)``: the two overlapped slots (permuted
        input / FC2 result / FC1 result, and GLU intermediate / FC2 result), four int32 row maps and the permuted
        final scales (``I`` the expert FFN width per rank); block-scaled FP8 (DeepSeek) ``R x (max(H a_in, I a_in,
        H g) + 2 I g + 20)``; NVFP4 adds the activation scales ``R x max(H, I) / 16``;
      - output ``T_m x H x g`` (the op's BF16 result before the reduce-scatter);
      - shared experts ``T_m x 3 I_s / tp x a``;
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
    moe = ws = 0.0
    if m.is_moe:
        tm = _moe_tokens(dep, T)
        rows = tm * m.top_k
        H, g = m.hidden, MOE_GEMM_OUT_BYTES
        inter = m.moe_ffn if dep.ep > 1 else m.moe_ffn / tp
        fp4 = a_in < 1.0
        moe_in = tm * H * (a_in + (1.0 / 16 if fp4 else 0.0)) if (tm > T or a_in < a) else 0.0
        routing = T * m.experts * 4.0 + tm * m.top_k * 8.0
        if dep.dtype == "fp8" and getattr(m, "fp8_block", 0) > 0:
            ws = rows * (max(H * a_in, inter * a_in, H * g) + 2 * inter * g + 20.0)
        else:
            ws = rows * (max(H * a_in, H * g, inter * a_in) + max(2 * inter * g, H * g, inter * a_in) + 20.0)
        if fp4:
            ws += rows * max(H, inter) / 16.0
        moe = moe_in + routing + ws + tm * H * g + tm * 3.0 * m.shared_experts * m.moe_ffn / tp * a
    logits = float(logit_rows) * m.vocab / tp * 4.0
    blocks = {"attention": attn, "mlp": mlp, "moe": moe, "logits": logits}
    peak = max(blocks, key=lambda k: blocks[k])
    return {"residual": resid, **blocks, "largest": peak, "total": resid + blocks[peak],
            "tokens": float(T), "moe_tokens": float(_moe_tokens(dep, T) if m.is_moe else 0), "moe_workspace": ws}


def estimation_kv_blocks(dep: Any, seq_len: int | None = None) -> int:
    """KV-cache blocks per rank of TensorRT-LLM's estimation executor (the small KV cache it runs its start-up
    profiling with), blocks of :data:`TOKENS_PER_BLOCK` tokens.

    Source: ``_torch/pyexecutor/_util.py`` ``KvCacheCreator``: ``_create_dummy_context_requests`` cuts
    ``max_num_tokens`` into prompts of ``min(max_num_tokens, max_seq_len - 1)`` tokens (the last one the rest),
    copied once per attention-DP rank (``requests * tp_size``); ``_get_token_num_for_estimation`` sizes the cache
    for all of them, each ``prompt +`` :data:`ESTIMATION_EXTRA_TOKENS` rounded up to whole blocks, on every rank.
    ``seq_len``: the engine's ``max_seq_len`` (trtllm-bench: the dataset's ISL + OSL); default one prompt of
    ``max_num_tokens``."""
    T = int(dep.max_num_tokens)
    L = max(1, min(T, int(seq_len) - 1)) if seq_len else T
    full, rest = divmod(T, L)
    per = -(-(L + ESTIMATION_EXTRA_TOKENS) // TOKENS_PER_BLOCK)
    blocks = full * per + (-(-(rest + ESTIMATION_EXTRA_TOKENS) // TOKENS_PER_BLOCK) if rest else 0)
    groups = dep.shard.attn_groups
    return int(blocks * (groups if groups > 1 else 1))


def estimation_graph_batch(dep: Any, seq_len: int | None = None) -> int:
    """Largest CUDA-graph decode batch the estimation executor captures, sequences per rank (0: none).

    Source: ``PyExecutor.__init__`` warms the engine up (``PyTorchModelEngine.warmup`` ->
    ``_capture_generation_cuda_graphs``) on the estimation executor too, largest batch first, and
    ``_create_cuda_graph_warmup_request`` skips a batch size with fewer free KV blocks than sequences; those
    graphs live through ``configure_kv_cache_capacity`` (their pool is "memory used outside torch" in the peak it
    reads) and are released only after the final KV cache is allocated; the final executor captures the larger
    ones afterwards, from what the fraction leaves. So the pool the KV budget pays for is the one of the largest
    listed batch (``graph_batches``, else up to :data:`DEFAULT_GRAPH_BATCH`) that fits
    :func:`estimation_kv_blocks`."""
    blocks = estimation_kv_blocks(dep, seq_len)
    sizes = dep.graph_batches or tuple(2 ** i for i in range(DEFAULT_GRAPH_BATCH.bit_length()))
    fit = [b for b in sizes if b <= blocks]
    return max(fit) if fit else 0


def cuda_graph_bytes(dep: Any, graph_batch: int) -> float:
    """Memory of the CUDA-graph pool, bytes: captured graphs share one pool, as large as the largest captured
    decode step's activations (:func:`activation_peak` at ``graph_batch`` sequences, one logit row each)
    (ASSUMPTION: graph nodes' own storage is negligible beside it)."""
    if graph_batch <= 0:
        return 0.0
    return activation_peak(dep, graph_batch, logit_rows=graph_batch, decode=True)["total"]


def allreduce_workspace_bytes(tp_size: int) -> float:
    """TensorRT-LLM's custom all-reduce IPC workspace per rank for a TP group of ``tp_size``, bytes.

    Source: ``_torch/distributed/ops.py`` ``get_allreduce_workspace`` (allocated once per mapping by the first
    ``AllReduce`` module with ``mapping.tp_size > 1``) ->
    ``plugin.py`` ``CustomAllReduceHelper.allocate_allreduce_fusion_workspace(mapping, size)``: IPC buffers
    ``size x tp``, barriers ``256 x tp``, Lamport buffers ``3 x size x tp``; ``size =
    max_workspace_size_auto(tp)`` = 16,000,000 for ``tp <= 2``, else 8,000,000 (ASSUMPTION: the v1.0-era sizes of
    the perf-overview's version; later releases size it for ``max_num_tokens x hidden``, 64 MiB by default:
    sensitivity in docs/inference.md)."""
    if tp_size <= 1:
        return 0.0
    size = 16_000_000 if tp_size <= 2 else 8_000_000
    return float(4 * size * tp_size + 256 * tp_size)


def comm_buffer_bytes(dep: Any) -> float:
    """Communication buffers of one rank, bytes: NCCL's per-communicator buffers for the stage group
    (:data:`NCCL_BYTES`), plus, under TensorRT-LLM, the custom all-reduce workspace
    (:func:`allreduce_workspace_bytes`) of its TP mapping, whose ``tp_size`` is the stage's chips: the TP group,
    or with attention data parallelism the attention-DP ranks (TensorRT-LLM keeps ``tp_size`` = 8 under
    ``enable_attention_dp``, and the MoE decoder layers build their ``AllReduce`` module regardless:
    ``modeling_qwen3_moe.py`` ``Qwen3MoEDecoderLayer.__init__``)."""
    g = dep.shard.stage_chips
    key = 1 if g <= 1 else 2 if g == 2 else 4 if g <= 4 else 8
    out = NCCL_BYTES[key] + (NCCL_BYTES[2] if dep.pp > 1 else 0.0)
    if dep.stack == "trtllm":
        out += allreduce_workspace_bytes(g)
    return float(out)


def engine_memory(dep: Any, *, weights: float | None = None, kv_per_rank: float = 0.0,
                  seq_len: int | None = None) -> dict[str, Any]:
    """One rank's memory as the deployment's stack sizes it: each term, the KV budget and the rule, bytes.

    ``weights``: HBM-resident weight bytes (default :func:`engine_weight_bytes`; 0 when they sit in SRAM).
    ``kv_per_rank``: the KV bytes asked for (reported with ``fits``). ``seq_len``: the engine's longest sequence
    (prompt + output), which cuts the estimation pass's dummy prompts (:func:`estimation_kv_blocks`)."""
    rule = kv_rule(dep.stack)
    hbm = device_total_bytes(dep.chip)
    f = float(dep.hbm_usable)
    T = int(dep.max_num_tokens)
    w = engine_weight_bytes(dep) if weights is None else float(weights)
    # logits of the estimation pass: TensorRT-LLM's dummy context requests (one row each, requests of at most
    # max_num_tokens tokens); vLLM / SGLang sample one row per sequence slot
    rows = max(1, min(T, int(dep.max_seqs))) if rule in ("total", "static") else 1
    act = activation_peak(dep, T, logit_rows=rows)["total"]
    graph_batch = estimation_graph_batch(dep, seq_len) if rule == "free" else 0
    graphs = cuda_graph_bytes(dep, graph_batch)
    comm = comm_buffer_bytes(dep)
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
            "cuda_graphs": graphs, "graph_batch": graph_batch, "comm_buffers": comm, "runtime": runtime,
            "held": held, "kv_budget": budget, "usable": usable,
            "kv_tokens": (budget / dep.kv_bytes_per_seq_token()) if dep.kv_bytes_per_seq_token() > 0 else math.inf,
            "fits": kv_per_rank <= budget and budget > 0}
