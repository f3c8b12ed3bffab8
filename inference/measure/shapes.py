"""The points ``scaleup measure`` times by default: a model preset's kernels under a parallel plan.

GEMM shapes come from :func:`inference.ops.layer_ops` / :func:`inference.ops.head_ops` themselves, so the
table holds exactly the ``(n, k)`` pairs the estimator looks up (qkv, o_proj, gate_up, down, lm_head, router,
MLA projections, shared experts); ``m`` runs over powers of two from 1 to ``max_m``. Attention uses the
model's heads / KV heads per device (GQA), prefill over batch x sequence length, decode over batch x
context; MoE the routed experts of one device; elementwise kernels the widths the model streams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..models import ModelSpec, load_model
from ..ops import Shard, head_ops, kv_heads_per_chip, layer_ops

#: what `scaleup measure` times, in this order (``--kinds`` picks a subset)
SECTIONS = ("floor", "gemm", "elementwise", "attn_decode", "attn_prefill", "moe", "hbm", "collective")
ELEMENTWISE = ("rmsnorm", "rope", "silu_mul", "add")


def pow2(lo: int, hi: int) -> list[int]:
    """Powers of two from ``lo`` to ``hi`` inclusive (``hi`` appended when it is not one)."""
    out, v = [], max(1, lo)
    while v <= hi:
        out.append(v)
        v *= 2
    if out and out[-1] != hi and hi > lo:
        out.append(hi)
    return out


@dataclass(frozen=True)
class Grid:
    """Sizes of a measurement run (defaults: a GPU run under two minutes for an 8B model on one H100)."""

    max_m: int = 16384  # GEMM / elementwise / MoE tokens
    max_lm_head_m: int = 4096  # the LM head sees at most the sequences of a step
    attn_batches: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    max_seq: int = 16384  # prefill sequence length
    min_seq: int = 128
    prefill_tokens: int = 65536  # batch x seq cap (prefill)
    decode_batches: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    max_context: int = 32768
    decode_tokens: int = 1 << 20  # batch x context cap (decode KV: 4.3 GB for 8 KV heads of 128 in bf16)
    hbm_sizes: tuple[int, ...] = tuple(1 << e for e in range(20, 33, 2))  # 1 MiB .. 4 GiB
    coll_sizes: tuple[int, ...] = tuple(1 << e for e in range(10, 31, 2))  # 1 KiB .. 1 GiB


#: tiny sizes for the numpy / CPU dry run (CI)
TINY = Grid(max_m=64, max_lm_head_m=64, attn_batches=(1, 2, 4), max_seq=256, min_seq=16, prefill_tokens=1024,
            decode_batches=(1, 2, 4, 8), max_context=256, decode_tokens=2048,
            hbm_sizes=(1 << 16, 1 << 18, 1 << 20), coll_sizes=(1 << 10, 1 << 14))


def gemm_shapes(model: ModelSpec, tp: int = 1, ep: int = 1) -> dict[str, tuple[float, float]]:
    """Op name -> (n, k) of each GEMM one device runs (the plan's shards), from the estimator's own ops."""
    shard = Shard(tp, ep, 1)
    out: dict[str, tuple[float, float]] = {}
    for decode in (True, False):
        ops = layer_ops(model, shard, 1, 1, 0, w=2.0, a=2.0, kv=2.0, decode=decode)
        ops += head_ops(model, shard, 1, 1, w=2.0, a=2.0)
        for op in ops:
            for i, (_, n, k) in enumerate(op.gemms):
                name = op.name
                if op.name in ("mlp", "shared_experts"):
                    name = ("gate_up" if i == 0 else "down") if op.name == "mlp" else f"shared_{'gate_up' if i == 0 else 'down'}"
                out.setdefault(name, (float(n), float(k)))
    return out


def attention_heads(model: ModelSpec, tp: int = 1) -> tuple[float, int, int] | None:
    """(query heads, KV heads, head dim) per device of a GQA model; None for MLA (not measured)."""
    if model.is_mla:
        return None
    return model.heads / tp, kv_heads_per_chip(model, tp), model.head_dim


def points(model: ModelSpec | str, tp: int = 1, ep: int = 1, dtypes: tuple[str, ...] = ("bf16",),
           grid: Grid = Grid(), sections: tuple[str, ...] = SECTIONS, ranks: int = 1,
           attn_dtype: str = "bf16") -> list[dict]:
    """Every point to measure, as table rows without their times (see :mod:`inference.measure.table`)."""
    m = load_model(model)
    ms = pow2(1, grid.max_m)
    rows: list[dict] = []
    if "floor" in sections:
        rows += [{"kind": "floor", "name": "empty", "dtype": "fp32", "mode": mode} for mode in ("eager", "graph")]
    if "gemm" in sections:
        seen: set[tuple] = set()
        for name, (n, k) in gemm_shapes(m, tp, ep).items():
            for dt in (dtypes if name not in ("router", "lm_head") else ("bf16",)):
                if (n, k, dt) in seen:  # two ops of one shape (e.g. a tied width): measured once
                    continue
                seen.add((n, k, dt))
                top = grid.max_lm_head_m if name == "lm_head" else grid.max_m
                rows += [{"kind": "gemm", "name": name, "dtype": dt, "mode": "graph", "m": mm, "n": n, "k": k}
                         for mm in ms if mm <= top]
    if "elementwise" in sections:
        heads = attention_heads(m, tp)
        widths = {"rmsnorm": m.hidden, "add": m.hidden, "silu_mul": m.ffn / tp if m.ffn else m.hidden}
        for name in ELEMENTWISE:
            if name == "rope" and heads is None:
                continue
            for mode in ("graph", "eager"):
                for t in ms:
                    if name == "rope":
                        hq, kvh, d = heads
                        rows.append({"kind": "elementwise", "name": name, "dtype": "bf16", "mode": mode, "m": t,
                                     "heads": hq, "kv_heads": kvh, "head_dim": d,
                                     "bytes": 2.0 * t * (hq + kvh) * d * 2})
                    else:
                        w = widths[name]
                        per = {"rmsnorm": 2.0, "add": 3.0, "silu_mul": 3.0}[name]
                        rows.append({"kind": "elementwise", "name": name, "dtype": "bf16", "mode": mode, "m": t,
                                     "n": w, "bytes": per * t * w * 2})
    heads = attention_heads(m, tp)
    if heads is not None:
        hq, kvh, d = heads
        if "attn_decode" in sections:
            for b in grid.decode_batches:
                for c in pow2(grid.min_seq, grid.max_context):
                    if b * c <= grid.decode_tokens:
                        rows.append({"kind": "attn_decode", "name": "attention", "dtype": attn_dtype, "mode": "graph",
                                     "batch": b, "seq": c, "heads": hq, "kv_heads": kvh, "head_dim": d})
        if "attn_prefill" in sections:
            for b in grid.attn_batches:
                for s in pow2(grid.min_seq, grid.max_seq):
                    if b * s <= grid.prefill_tokens:
                        rows.append({"kind": "attn_prefill", "name": "attention", "dtype": attn_dtype,
                                     "mode": "graph", "batch": b, "seq": s, "heads": hq, "kv_heads": kvh,
                                     "head_dim": d})
    if "moe" in sections and m.is_moe:
        et = 1 if ep > 1 else tp
        for dt in dtypes[:1]:
            rows += [{"kind": "moe", "name": "experts", "dtype": dt, "mode": "graph", "m": t, "n": m.moe_ffn,
                      "k": m.hidden, "experts": m.experts, "top_k": m.top_k, "tp": et, "ep": ep} for t in ms]
    if "hbm" in sections:
        for kind in ("hbm_read", "hbm_copy"):
            rows += [{"kind": kind, "name": kind[4:], "dtype": "bf16", "mode": "graph",
                      "bytes": float(b) * (2 if kind == "hbm_copy" else 1)} for b in grid.hbm_sizes]
    if "collective" in sections and ranks >= 2:
        for coll in ("all_reduce", "all_gather", "reduce_scatter", "all_to_all"):
            rows += [{"kind": "collective", "name": coll, "dtype": "bf16", "mode": "eager", "ranks": ranks,
                      "bytes": float(b)} for b in grid.coll_sizes if b % (ranks * 2) == 0]
    return rows


def busbw_factor(collective: str, ranks: int) -> float:
    """nccl-tests' bus-bandwidth factor (busbw = algbw x factor): 2(n-1)/n all-reduce, (n-1)/n others."""
    n = ranks
    if n <= 1:
        return 1.0
    return 2.0 * (n - 1) / n if collective == "all_reduce" else (n - 1) / n


def ceil_div(a: float, b: float) -> int:
    return int(math.ceil(a / b))
