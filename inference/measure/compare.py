"""``scaleup measure --compare``: each measured kernel beside the analytic model's time on a chip preset.

The analytic side is what ``scaleup infer --backend analytic`` uses for that kernel (the closed forms of
:mod:`inference.kernels` under the chip's stack profile), with the launch cost the estimator adds in the same
mode: inside a graph ``+ launch_graph`` per kernel, eager ``max(t, launch_eager)``. Deviation =
model / measured - 1 (positive: the model is slower than the hardware).
"""

from __future__ import annotations

import statistics

from topo import DTYPE_BYTES, ChipSpec, SpecError

from .. import kernels as _kernels
from ..ops import causal_pairs
from .collect import device_chip
from .table import KernelTable, load_table


def _chip(chip: str | ChipSpec | None, table: KernelTable) -> ChipSpec:
    """``chip``: a ChipSpec, a chip preset, or a fabric (bundled name or YAML / graph file: its chip, so a chip of
    the user's own, defined in their fabric file, can be compared); None: from the table's device name."""
    import os

    from topo import CHIPS, chip_preset, list_fabrics, load

    if isinstance(chip, ChipSpec):
        return chip
    if isinstance(chip, str) and chip not in CHIPS and (os.path.isfile(chip) or chip in list_fabrics()):
        return load(chip).chip
    if chip is None:
        chip = device_chip(str(table.provenance.get("device", "")))
        if chip is None:
            raise SpecError(f"chip: cannot tell the chip preset of device {table.provenance.get('device')!r}; "
                            "pass --chip (e.g. h100-sxm)")
    return chip_preset(chip)


def model_time(row: dict, chip: ChipSpec, prof: _kernels.StackProfile, ce: float | None = None,
               me: float | None = None) -> float | None:
    """The analytic model's time (s) of one table row on ``chip`` under ``prof``; None for kinds it has no
    per-kernel form of (collectives)."""
    ce = chip.compute_efficiency if ce is None else ce
    me = chip.memory_efficiency if me is None else me
    bw = chip.hbm_bandwidth
    kind, dt, graph = row["kind"], row["dtype"] or "bf16", row["mode"] != "eager"
    a = 2.0
    if kind == "gemm":
        m, n, k = row["m"], row["n"], row["k"]
        w = DTYPE_BYTES.get(dt, 2.0)
        t = _kernels.gemm_time(m, n, k, prof=prof, dtype=dt, peak=chip.peak_flops(dt), ce=ce, me=me,
                               bytes_moved=n * k * w + m * (k + n) * a, bandwidth=bw)
    elif kind == "attn_decode":
        b, ctx, kvh, d = row["batch"], row["seq"], row["kv_heads"], row["head_dim"]
        t = _kernels.decode_attention_time(b * ctx * 2 * kvh * d * DTYPE_BYTES.get(dt, 2.0), prof=prof, me=me,
                                           bandwidth=bw)
    elif kind == "attn_prefill":
        b, s, hq, kvh, d = row["batch"], row["seq"], row["heads"], row["kv_heads"], row["head_dim"]
        kvb = DTYPE_BYTES.get(dt, 2.0)
        flops = 4.0 * hq * d * b * causal_pairs(int(s), 0)
        t = _kernels.fmha_time(flops, s / 2.0 + 0.5, b * s * 2 * kvh * d * kvb + 2.0 * b * s * hq * d * a, prof=prof,
                               peak_bf16=chip.peak_flops("bf16"), ce=ce, me=me, bandwidth=bw)
    elif kind == "moe":
        tok, f, h, top, E = row["m"], row["n"], row["k"], int(row["top_k"]), int(row["experts"])
        tp, ep = int(row["tp"]), int(row["ep"])
        w = DTYPE_BYTES.get(dt, 2.0)
        t = _kernels.moe_time(tok * top, ep, E // ep, int(h), f / tp, prof=prof, dtype=dt, peak=chip.peak_flops(dt),
                              ce=ce, me=me, w=w, a=a, bandwidth=bw)
    elif kind == "elementwise":
        t = _kernels.elementwise_time(row["bytes"], prof=prof, me=me, bandwidth=bw)
    elif kind == "floor":
        return prof.launch_graph if graph else prof.launch_eager
    elif kind in ("hbm_read", "hbm_copy"):
        return row["bytes"] / (bw * me)
    else:
        return None
    return t + prof.launch_graph if graph else max(t, prof.launch_eager)


def compare(table: str | KernelTable, chip: str | ChipSpec | None = None, stack: str = "trtllm") -> list[dict]:
    """Per measured row: op, shape, measured s, model s, deviation (model / measured - 1).

    Raises:
        SpecError: an unreadable table, an unknown chip, or a device whose chip cannot be told (pass ``chip``)."""
    tab = load_table(table)
    c = _chip(chip, tab)
    prof = _kernels.profile_for(c, stack)
    out = []
    for r in tab.rows:
        mt = model_time(r, c, prof)
        if mt is None:
            continue
        out.append({"kind": r["kind"], "op": r["name"], "dtype": r["dtype"], "mode": r["mode"], "shape": _shape(r),
                    "measured_s": r["time_s"], "model_s": mt, "deviation": mt / r["time_s"] - 1.0})
    return out


def _shape(r: dict) -> str:
    k = r["kind"]
    if k in ("gemm",):
        return f"m={r['m']:g} n={r['n']:g} k={r['k']:g}"
    if k == "moe":
        return f"tokens={r['m']:g} E={r['experts']:g} top{r['top_k']:g} ffn={r['n']:g} tp={r['tp']:g} ep={r['ep']:g}"
    if k.startswith("attn"):
        what = "ctx" if k == "attn_decode" else "seq"
        return f"b={r['batch']:g} {what}={r['seq']:g} h={r['heads']:g}/{r['kv_heads']:g} d={r['head_dim']:g}"
    if k == "elementwise":
        return f"tokens={r['m']:g} bytes={r['bytes']:.3g}"
    if k in ("hbm_read", "hbm_copy"):
        return f"bytes={r['bytes']:.3g} ({r['bytes'] / r['time_s'] / 1e9:.0f} GB/s)"
    return ""


def compare_table(rows: list[dict], chip: str = "", detail: bool = True) -> str:
    """Rows of :func:`compare` as text: every row (``detail``), then per op the median and worst deviation."""
    lines = []
    if detail:
        lines.append(f"{'kind':12s} {'op':10s} {'dtype':5s} {'mode':5s} {'shape':52s} {'measured us':>12s} "
                     f"{'model us':>10s} {'dev':>7s}")
        for r in rows:
            lines.append(f"{r['kind']:12s} {r['op']:10s} {r['dtype']:5s} {r['mode']:5s} {r['shape']:52s} "
                         f"{r['measured_s'] * 1e6:12.2f} {r['model_s'] * 1e6:10.2f} {r['deviation'] * 100:+6.0f}%")
        lines.append("")
    lines.append(f"per op (model{' on ' + chip if chip else ''} vs measured): median and worst deviation")
    lines.append(f"{'kind':12s} {'op':10s} {'dtype':5s} {'mode':5s} {'rows':>5s} {'median':>8s} {'worst':>8s} "
                 f"{'model/measured':>15s}")
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        groups.setdefault((r["kind"], r["op"], r["dtype"], r["mode"]), []).append(r["deviation"])
    for (kind, op, dt, mode), devs in groups.items():
        worst = max(devs, key=abs)
        lines.append(f"{kind:12s} {op:10s} {dt:5s} {mode:5s} {len(devs):5d} {statistics.median(devs) * 100:+7.0f}% "
                     f"{worst * 100:+7.0f}% {statistics.median(devs) + 1:15.3g}")
    return "\n".join(lines)
