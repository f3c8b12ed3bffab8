"""Decode attention past the measured grid: each extrapolation rule checked on the tables' own frontier.

aiconfigurator-core's generation-attention tables (batch x context per head shape and KV dtype) stop at a
frontier of batch x context (H100 TRT-LLM: ~512k sequence-tokens; B200 ~256k). Serving at large batch and
long context lands past it. Here each table's last ``--hide`` measured points of every row are hidden, the rest
predicts them, and the error of three rules is printed per system (nothing is fitted to serving rows):

* ``analytic``: the stack profile's closed form (floor + KV bytes / (HBM x efficiency)), the fallback before;
* ``linear``: the row's last measured point + the frontier's marginal cost per sequence-token x the added KV;
* ``overlap`` (the rule :meth:`inference.measured.Grid.beyond` uses): the row's last point + the rise of
  ``(P_b^q + (kappa b c)^q)^(1/q)``, the per-sequence cost ``P_b`` and the KV streaming ``kappa b c`` overlapping
  with the exponent ``q`` fitted to the visible grid.

Usage: python bench/attention_frontier.py [--hide 2] [--stack trtllm]  (needs scaleup-sim[measured])
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]  # bench/inference.py would shadow
sys.path.insert(0, os.path.dirname(_here))

from inference import kernels as _kernels  # noqa: E402
from inference import measured  # noqa: E402
from inference.measured import Grid  # noqa: E402
from topo.presets import chip_preset  # noqa: E402

CHIPS = {"h100_sxm": "h100-sxm", "h200_sxm": "h200", "b200_sxm": "b200", "gb200": "gb200"}
KV_BYTES = {"fp8": 1.0, "bfloat16": 2.0}


def _frontier_rows(full: Grid, hide: int) -> tuple[Grid, list[tuple[int, int]]]:
    """A copy of ``full`` with each row's last ``hide`` measured points hidden (rows with too few kept)."""
    red = Grid(full.axes, full.values.copy())
    hidden = []
    for i in range(len(full.axes[0])):
        j = np.flatnonzero(~np.isnan(full.values[i]))
        if len(j) < hide + 3:
            continue
        for jj in j[-hide:]:
            hidden.append((i, int(jj)))
            red.values[i, jj] = np.nan
    return red, hidden


def check(system: str, stack: str, hide: int) -> dict[str, list[tuple[float, float]]]:
    """``rule -> [(batch, predicted / measured)]`` over every hidden frontier point of ``system``'s tables."""
    tab = measured.tables(system, stack)
    df = None if tab is None else tab._frame(
        "gen", "attention", "generation_attention_perf.parquet", tab._ATTN_COLS,
        lambda d: d[d.window_size == 0].assign(ctx=lambda x: x.isl + x.step))
    out: dict[str, list[tuple[float, float]]] = {"analytic": [], "linear": [], "overlap": []}
    if df is None:
        return out
    chip = chip_preset(CHIPS[system])
    prof = _kernels.profile_for(chip, stack)
    df = df[df._rank == df._rank.min()]
    for (_heads, kvh, hd, kv_dtype), sel in df.groupby(["num_heads", "num_key_value_heads", "head_dim", "kv_cache_dtype"]):
        sel = measured.pick_lane(sel, sel.kernel_source.value_counts().to_dict())
        g = sel.groupby(["batch_size", "ctx"], as_index=False).latency.median()
        full = Grid.from_rows([g.batch_size.values, g.ctx.values], g.latency.values)
        red, hidden = _frontier_rows(full, hide)
        fit = red.overlap()
        if fit is None:
            continue
        kappa = fit[0]
        per_token = 2.0 * kvh * hd * KV_BYTES.get(str(kv_dtype), 2.0)
        for i, jj in hidden:
            b, c, meas = full.axes[0][i], full.axes[1][jj], full.values[i, jj]
            vis = np.flatnonzero(~np.isnan(red.values[i]))
            c_e, t_e = red.axes[1][vis[-1]], red.values[i, vis[-1]]
            an = _kernels.decode_attention_time(b * c * per_token, prof=prof, me=chip.memory_efficiency,
                                                bandwidth=chip.hbm_bandwidth) * 1e3
            out["analytic"].append((b, an / meas))
            out["linear"].append((b, (t_e + kappa * b * (c - c_e)) / meas))
            out["overlap"].append((b, red._row_value(i, c, *fit) / meas))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hide", type=int, default=2, help="measured points hidden at the end of each row")
    ap.add_argument("--stack", default="trtllm", choices=["trtllm", "vllm", "sglang"])
    args = ap.parse_args(argv)
    if not measured.available():
        print(f"skipped: {measured.MISSING_EXTRA}")
        return 0
    print(f"hidden: each row's last {args.hide} measured points; error = predicted / measured - 1\n")
    print("| system | rule | points | median abs err | p90 abs err | median ratio, batch >= 1024 |")
    print("|---|---|---:|---:|---:|---:|")
    for system in CHIPS:
        for rule, pts in check(system, args.stack, args.hide).items():
            if not pts:
                continue
            b = np.array([p[0] for p in pts])
            r = np.array([p[1] for p in pts])
            e = np.abs(r - 1.0)
            big = f"{np.median(r[b >= 1024]):.2f}" if np.any(b >= 1024) else "-"
            print(f"| {system} | {rule} | {len(r)} | {100 * np.median(e):.1f}% | {100 * np.percentile(e, 90):.1f}% "
                  f"| {big} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
