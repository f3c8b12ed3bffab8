"""Operations of one transformer step on one chip: FLOPs and bytes moved, per op and per layer.

A step processes ``seqs`` sequences of the replica, each adding ``q`` new tokens on top of ``context``
tokens already in its KV cache: prefill is (q = prompt, context = 0), decode is (q = 1, context = c).
Counts are *per chip* after the parallelism split (see :class:`Shard`) and *per layer*; each op carries
the number of layers of the pipeline stage it repeats in.

Conventions (the hand counts in the tests use the same):
- a matmul of ``m`` tokens by a ``k x n`` weight costs ``2 m k n`` FLOPs and moves the weight once plus
  its input and output activations;
- attention costs ``4 x heads x head_dim`` FLOPs per (query, key) pair (QK^T and PV), causal in prefill;
  it reads each sequence's KV cache once per step (flash-attention style) and writes the new tokens' K/V
  (the write is counted in the QKV projection);
- norms (RMSNorm) cost ~5 FLOPs per element and read + write the activations;
- routed experts touch the expected number of distinct experts ``E (1 - (1 - k/E)^T)`` for ``T`` tokens
  drawn uniformly, so the expert weight bytes grow with the batch until every expert is read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .models import ModelSpec


@dataclass(frozen=True)
class Shard:
    """How one pipeline stage of a replica is split over its ``stage_chips`` chips.

    Attention and dense MLPs run tensor-parallel over ``tp`` chips; the stage holds ``stage_chips / tp``
    such attention groups, each with its share of the sequences (data-parallel attention when
    ``ep > tp``). Routed experts are split over ``ep`` chips (``ep == 1``: every expert tensor-parallel
    over ``tp``; ``ep == stage_chips``: each chip holds ``experts / ep`` whole experts).
    """

    tp: int = 1
    ep: int = 1
    pp: int = 1

    @property
    def stage_chips(self) -> int:
        return max(self.tp, self.ep)

    @property
    def attn_groups(self) -> int:
        return self.stage_chips // self.tp


@dataclass
class Op:
    """One op of one layer on one chip.

    Attributes:
        name: e.g. ``"qkv"``, ``"attention"``, ``"experts"``.
        block: ``"attention"``, ``"mlp"``, ``"moe"`` or ``"head"`` (embeddings, final norm, LM head).
        layers: how many layers of the stage run this op (1 for head ops).
        flops: FLOPs per layer.
        weight_bytes: weight bytes read per layer.
        kv_bytes: KV-cache bytes read or written per layer.
        act_bytes: activation bytes read + written per layer.
    """

    name: str
    block: str
    layers: float
    flops: float
    weight_bytes: float
    kv_bytes: float = 0.0
    act_bytes: float = 0.0
    # Shapes for the per-kernel model (:mod:`inference.kernels`, ignored by the ideal roofline):
    # kind: "gemm", "attention", "elementwise", "moe" or "" (roofline only);
    # gemms: (m, n, k) of each GEMM kernel the op runs, per chip;
    # elementwise: bytes of each memory-bound kernel it runs besides its GEMMs;
    # attn: (seqs, q, context, heads, kv_heads, head_dim, window, decode) per chip;
    # moe: (tokens in, token copies routed to this chip, local experts, hidden, expert ffn, top_k,
    #       experts, tp, ep);
    # mla_bmm: (tokens, heads) of MLA's absorbed decode BMMs (kv_b in decode; ``gemms`` holds the same work as
    #       one GEMM for backends without a BMM table).
    kind: str = ""
    gemms: tuple = ()
    elementwise: tuple = ()
    attn: tuple = ()
    moe: tuple = ()
    mla_bmm: tuple = ()


def causal_pairs(q: int, context: int, window: int = 0) -> float:
    """(query, key) pairs attended by ``q`` new tokens after ``context`` cached ones (each also attends
    itself), with an optional sliding ``window`` (tokens)."""
    if q <= 0:
        return 0.0
    lo, hi = context + 1, context + q  # attended length of the first and last new token
    if not window or window >= hi:
        return (lo + hi) * q / 2.0
    if window <= lo:
        return float(window * q)
    # lengths lo..window-1 grow, then flat at window
    n_grow = window - lo
    return (lo + window - 1) * n_grow / 2.0 + window * (q - n_grow)


def kv_heads_per_chip(model: ModelSpec, tp: int) -> int:
    """KV heads each TP rank holds (replicated when tp > kv_heads)."""
    return max(1, math.ceil(model.kv_heads / tp))


def distinct_experts(experts: int, top_k: int, tokens: float) -> float:
    """Expected distinct experts touched when ``tokens`` tokens each pick ``top_k`` of ``experts``
    uniformly without replacement."""
    if tokens <= 0:
        return 0.0
    return experts * (1.0 - (1.0 - top_k / experts) ** tokens)


def layer_ops(model: ModelSpec, shard: Shard, seqs: int, q: int, context: int, *, w: float, a: float,
              kv: float, decode: bool, stage_layers: float | None = None, we: float | None = None) -> list[Op]:
    """The ops of one step for one chip of a stage holding ``stage_layers`` layers (default: all / pp).

    Args:
        seqs: sequences the replica processes in this step.
        q: new tokens per sequence (prompt length in prefill, 1 in decode).
        context: tokens already cached per sequence.
        w, a, kv: bytes per element of weights, activations and KV cache.
        we: bytes per element of the routed (and shared) expert weight matrices (default ``w``; an MXFP4-expert
            checkpoint such as GPT-OSS: :data:`inference.models.MXFP4_BYTES`, its biases stay at ``w``).
        decode: selects MLA's weight-absorbed form (decode) or the decompressed form (prefill).
    """
    tp, ep = shard.tp, shard.ep
    L = model.layers / shard.pp if stage_layers is None else stage_layers
    frac = L / model.layers
    h = model.hidden
    b_a = math.ceil(seqs / shard.attn_groups)  # sequences per attention group
    Ta = b_a * q  # tokens per attention group (per chip, attention side)
    Ts = seqs * q  # tokens of the whole stage
    ops: list[Op] = []
    heads_c = model.heads / tp

    # ---------------------------------------------------------------- attention block
    ops.append(Op("norms", "attention", L, 10.0 * Ta * h, 2 * h * w, 0.0, 4.0 * Ta * h * a, kind="elementwise",
                  elementwise=(2.0 * Ta * h * a,)))
    full_layers = model.layers - model.sliding_layers
    attn_layers = [(full_layers * frac, 0), (model.sliding_layers * frac, model.sliding_window)]
    if model.is_mla:
        nope, rope, vd = model.qk_nope_dim, model.qk_rope_dim, model.v_head_dim
        ql, kvl = model.q_lora_rank, model.kv_lora_rank
        if ql:
            # q_a and kv_a read the same input: one fused down-projection GEMM (h -> ql + kvl + rope), as
            # TensorRT-LLM's DeepSeek-V3 ``fused_a`` (modeling_deepseekv3.py) and aiconfigurator's
            # ``downscale_gemm`` run it; it writes the new token's latent K/V
            na = ql + kvl + rope
            ops.append(Op("qkv_a", "attention", L, 2.0 * Ta * h * na, h * na * w, Ta * (kvl + rope) * kv,
                          Ta * (h + ql) * a, kind="gemm", gemms=((Ta, na, h),)))
            qin = ql
        else:
            qin = h
        qcols = heads_c * (nope + rope)
        ops.append(Op("q_b", "attention", L, 2.0 * Ta * qin * qcols, qin * qcols * w, 0.0,
                      Ta * (qin + qcols) * a, kind="gemm", gemms=((Ta, qcols, qin),)))
        if not ql:
            ops.append(Op("kv_a", "attention", L, 2.0 * Ta * h * (kvl + rope), h * (kvl + rope) * w,
                          Ta * (kvl + rope) * kv, Ta * h * a, kind="gemm", gemms=((Ta, kvl + rope, h),)))
        kvb_cols = heads_c * (nope + vd)
        kvb_tokens = Ta if decode else b_a * (context + q)
        # decode (absorbed): two per-head BMMs, q_nope x W_UK before attention and latent x W_UV after it
        # (``mla_bmm``: tokens, heads), the same FLOPs and weight bytes as one GEMM over kvb_cols columns
        ops.append(Op("kv_b", "attention", L, 2.0 * kvb_tokens * kvl * kvb_cols, kvl * kvb_cols * w, 0.0,
                      kvb_tokens * (kvl + kvb_cols) * a, kind="gemm", gemms=((kvb_tokens, kvb_cols, kvl),),
                      mla_bmm=(kvb_tokens, heads_c) if decode else ()))
        for n_layers, win in attn_layers:
            if n_layers <= 0:
                continue
            pairs = b_a * causal_pairs(q, context, win)
            span = min(context + q, win) if win else context + q
            if decode:  # absorbed: attend over the latent directly
                fl = 2.0 * heads_c * (2 * kvl + rope) * pairs
                kvr = b_a * span * (kvl + rope) * kv
                act = Ta * heads_c * (kvl + rope + kvl) * a
            else:  # decompressed K/V (written by kv_b as activations)
                fl = 2.0 * heads_c * (nope + rope + vd) * pairs
                kvr = b_a * span * (kvl + rope) * kv
                act = b_a * span * heads_c * (nope + rope + vd) * a + Ta * heads_c * (nope + rope + vd) * a
            ops.append(Op("attention" if not win else "attention_swa", "attention", n_layers, fl, 0.0, kvr, act,
                          kind="attention", attn=(b_a, q, context, heads_c, 1, kvl + rope, win, decode)))
        ocols = heads_c * vd
    else:
        d = model.head_dim
        kvh = kv_heads_per_chip(model, tp)
        cols = heads_c * d + 2 * kvh * d
        bias = cols * w if model.attn_bias else 0.0
        ops.append(Op("qkv", "attention", L, 2.0 * Ta * h * cols, h * cols * w + bias, Ta * 2 * kvh * d * kv,
                      Ta * (h + cols) * a, kind="gemm", gemms=((Ta, cols, h),)))
        for n_layers, win in attn_layers:
            if n_layers <= 0:
                continue
            pairs = b_a * causal_pairs(q, context, win)
            span = min(context + q, win) if win else context + q
            fl = 4.0 * heads_c * d * pairs
            kvr = b_a * span * 2 * kvh * d * kv
            act = 2.0 * Ta * heads_c * d * a
            ops.append(Op("attention" if not win else "attention_swa", "attention", n_layers, fl, 0.0, kvr, act,
                          kind="attention", attn=(b_a, q, context, heads_c, kvh, d, win, decode)))
        ocols = heads_c * d
    ops.append(Op("o_proj", "attention", L, 2.0 * Ta * ocols * h, ocols * h * w + (h * w if model.attn_bias else 0),
                  0.0, Ta * (ocols + h) * a, kind="gemm", gemms=((Ta, h, ocols),)))

    # ---------------------------------------------------------------- MLP / MoE
    n_dense = model.mlp_dense_layers * frac
    n_moe = model.moe_layers * frac
    if n_dense > 0:
        f = model.ffn / tp
        ops.append(Op("mlp", "mlp", n_dense, 6.0 * Ta * h * f, 3 * h * f * w, 0.0, Ta * (2 * h + 3 * f) * a,
                      kind="gemm", gemms=((Ta, 2 * f, h), (Ta, h, f)), elementwise=(3.0 * Ta * f * a,)))
    if n_moe > 0:
        E, k, fm = model.experts, model.top_k, model.moe_ffn
        we = w if we is None else we
        per_expert_w = 3 * h * fm * we + ((2 * fm + h) * w if model.moe_bias else 0.0)
        if ep == 1:
            Tr = Ta
            ops.append(Op("router", "moe", n_moe, 2.0 * Tr * h * E, h * E * w, 0.0, Tr * (h + E) * a,
                          kind="gemm", gemms=((Tr, E, h),)))
            assign = Tr * k
            dist = distinct_experts(E, k, Tr)
            ops.append(Op("experts", "moe", n_moe, 6.0 * assign * h * fm / tp, dist * per_expert_w / tp, 0.0,
                          assign * (2 * h + 3 * fm / tp) * a, kind="moe",
                          moe=(Tr, assign, E, h, fm, k, E, tp, 1)))
        else:
            # tokens split over the stage before dispatch (attention DP); without attention DP (ep == tp) every
            # rank holds every token after the attention all-reduce and routes them all
            Tr = Ts / shard.stage_chips if shard.attn_groups > 1 else Ta
            ops.append(Op("router", "moe", n_moe, 2.0 * Tr * h * E, h * E * w, 0.0, Tr * (h + E) * a,
                          kind="gemm", gemms=((Tr, E, h),)))
            assign = Ts * k / ep  # routed token copies arriving per chip (uniform routing)
            dist = (E / ep) * (1.0 - (1.0 - k / E) ** Ts)
            ops.append(Op("experts", "moe", n_moe, 6.0 * assign * h * fm, dist * per_expert_w, 0.0,
                          assign * (2 * h + 3 * fm) * a, kind="moe", moe=(Ts, assign, E // ep, h, fm, k, E, 1, ep)))
        if model.shared_experts:
            fs = model.shared_experts * fm / tp
            ops.append(Op("shared_experts", "moe", n_moe, 6.0 * Ta * h * fs, 3 * h * fs * we, 0.0,
                          Ta * (2 * h + 3 * fs) * a, kind="gemm", gemms=((Ta, 2 * fs, h), (Ta, h, fs)),
                          elementwise=(3.0 * Ta * fs * a,)))
    return ops


def head_ops(model: ModelSpec, shard: Shard, seqs: int, q: int, *, w: float, a: float, logits: int = 1) -> list[Op]:
    """Embedding lookup (first stage) and final norm + LM head (last stage), per chip.

    The LM head is vocabulary-parallel over ``tp`` and computes logits of ``logits`` positions per sequence:
    the last token (prefill, decode: 1) or every verified token of a speculative step (``q``)."""
    h, V = model.hidden, model.vocab
    b_a = math.ceil(seqs / shard.attn_groups)
    Ta = b_a * q
    b_a *= logits
    ops = [
        Op("embedding", "head", 1, 0.0, Ta * h * w, 0.0, Ta * h * a, kind="elementwise",
           elementwise=(Ta * h * (w + a),)),
        Op("final_norm", "head", 1, 5.0 * b_a * h, h * w, 0.0, 2.0 * b_a * h * a, kind="elementwise",
           elementwise=(2.0 * b_a * h * a,)),
        Op("lm_head", "head", 1, 2.0 * b_a * h * V / shard.tp, h * V * w / shard.tp, 0.0,
           b_a * (h + V / shard.tp) * a, kind="gemm", gemms=((b_a, math.ceil(V / shard.tp), h),)),
    ]
    return ops
