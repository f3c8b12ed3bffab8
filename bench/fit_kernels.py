"""Refit the serving-stack kernel parameters of inference/kernels.py from aiconfigurator-core's tables.

Prints, per serving stack and measured system (the stack's own tables, newest version holding each table),
the figures that inference/kernels.py cites as ``fit:``. TensorRT-LLM on h100_sxm, h200_sxm and b200_sxm;
vLLM and SGLang on h100_sxm and b200_sxm only (the Hopper and Blackwell profiles; h200/gb200 tables are
left for the measured backend and for checking). The tables are read from the installed package at run
time (the ``measured`` extra); nothing is written anywhere. Skipped (exit 0) when aiconfigurator-core is
absent. Where a table holds several kernels (``kernel_source``) for the fitted rows, the fit uses the one
the measured backend would (inference/measured.py, rule 2: the stack's declared default attention kernel,
else the densest), so the analytic profile and the measured backend describe the same kernels.

1. GEMM, per dtype: floor and weight-streaming efficiency = intercept and 1/slope of a least-squares line
   time = floor + bytes / (HBM x eff) over the rows with m <= 16 and n, k >= 1024 (weight-bound GEMMs);
   large-GEMM efficiency = median of 2mnk / (time x peak) over the rows with m, n, k >= 4096.
2. Decode (generation) attention, FP8 KV: floor = median time of the rows moving < 1 MB of KV; streaming
   efficiency = median KV bytes / (time x HBM) of the rows moving > 200 MB.
3. Context (prefill) attention, BF16 FMHA, FP8 KV, 8 heads / 1 KV head / head dim 128 (the Llama-70B TP8
   shard): efficiency at 2k and 8k+ tokens (4 heads x head_dim x causal pairs FLOPs over BF16 peak), and
   the curve a_c s / (s + s_half) through those two points (s = mean attended length = isl / 2).
   A stack without BF16 FMHA rows over an FP8 KV cache for that shape (SGLang on Hopper) is fitted on its
   FP8 FMHA rows (what the measured backend reads for it), still as a fraction of BF16 peak.
4. MoE (FP8, gated kernels, power-law 1.01 routing; SGLang: its block-scaled FP8 rows): grid search of
   (moe_compute, moe_token_passes, moe_floor) minimising mean |log(model / measured)| of
   inference.kernels.moe_time over 600 sampled rows, fastest kernel per row.

Usage: python bench/fit_kernels.py [--stack trtllm|vllm|sglang|all]
"""

from __future__ import annotations

import itertools
import math
import os
import statistics
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

#: (scaleup chip preset, aiconfigurator system) fitted per stack
SYSTEMS = {
    "trtllm": (("h100-sxm", "h100_sxm"), ("h200", "h200_sxm"), ("b200", "b200_sxm")),
    "vllm": (("h100-sxm", "h100_sxm"), ("b200", "b200_sxm")),
    "sglang": (("h100-sxm", "h100_sxm"), ("b200", "b200_sxm")),
}
#: systems whose MoE table is fitted (h200 is a check, not a fit, for TRT-LLM)
MOE_FIT = {"h100_sxm", "b200_sxm"}
GEMM_DTYPES = {"bfloat16": ("bf16", 2.0), "fp8": ("fp8", 1.0), "nvfp4": ("fp4", 0.5)}


def _version(path: str) -> str:
    return os.path.basename(os.path.dirname(path))


#: the key columns of one measured-backend lookup (one kernel chosen per key) per table kind
_KEYS = {False: ["gemm_dtype"],
         True: ["num_heads", "num_key_value_heads", "head_dim", "attn_dtype", "kv_cache_dtype"]}


def one_kernel(sub, full, system: str, stack: str, path: str | None, attention: bool):
    """``sub`` restricted, per lookup key, to the kernel the measured backend reads (inference.measured.pick_lane),
    and a label naming the kernels kept (most rows first)."""
    import pandas as pd

    from inference.measured import default_lanes, pick_lane

    if "kernel_source" not in sub.columns or not len(sub):
        return sub, ""
    pinned = default_lanes(system, stack, _version(path)) if attention and path else ()
    density = full.kernel_source.value_counts().to_dict()
    one = pd.concat([pick_lane(g, density, pinned) for _, g in sub.groupby(_KEYS[attention], sort=True)])
    counts = one.kernel_source.value_counts()
    return one, ", ".join(f"{k} {v / len(one):.0%}" if len(counts) > 1 else str(k) for k, v in counts.items())


def fit_gemm(chip, path: str, system: str = "", stack: str = "trtllm") -> list[str]:
    import numpy as np
    import pandas as pd

    df = pd.read_parquet(path, columns=["gemm_dtype", "kernel_source", "m", "n", "k", "latency"])
    out = []
    for label, (dtype, wb) in GEMM_DTYPES.items():
        x, lane = one_kernel(df[df.gemm_dtype == label], df, system, stack, path, attention=False)
        if not len(x):
            continue
        s = x[(x.m <= 16) & (x.n >= 1024) & (x.k >= 1024)]
        byt = (s.n * s.k * wb + s.m * (s.k + s.n) * 2).to_numpy(float)
        t = s.latency.to_numpy(float) * 1e-3
        (floor, slope), *_ = np.linalg.lstsq(np.vstack([np.ones_like(byt), byt]).T, t, rcond=None)
        big = x[(x.m >= 4096) & (x.n >= 4096) & (x.k >= 4096)]
        ce = (2.0 * big.m * big.n * big.k / (big.latency * 1e-3) / chip.peak_flops(dtype)).median()
        out.append(f"gemm {dtype:5s} floor {floor * 1e6:6.2f} us, weight streaming {1 / (slope * chip.hbm_bandwidth):.3f}"
                   f" of HBM, large-GEMM {ce:.3f} of peak [{lane}]")
    return out


def fit_attention(chip, gen_path: str | None, ctx_path: str | None, system: str = "",
                  stack: str = "trtllm") -> list[str]:
    import pandas as pd

    out = []
    if gen_path:
        full = pd.read_parquet(gen_path)
        g, lane = one_kernel(full[(full.window_size == 0) & (full.kv_cache_dtype == "fp8")], full, system, stack,
                             gen_path, attention=True)
        kv = g.batch_size * (g.isl + g.step) * 2 * g.num_key_value_heads * g.head_dim * 1.0
        t = g.latency * 1e-3
        floor = t[kv < 1e6].median()
        eff = (kv / t / chip.hbm_bandwidth)[kv > 2e8].median()
        out.append(f"decode attention floor {floor * 1e6:.1f} us, KV streaming {eff:.3f} of HBM [{lane}]")
    if ctx_path:
        full = pd.read_parquet(ctx_path)
        shape = full[(full.window_size == 0) & (full.kv_cache_dtype == "fp8") & (full.num_heads == 8) &
                     (full.num_key_value_heads == 1) & (full.head_dim == 128)]
        c = shape[shape.attn_dtype == "bfloat16"]
        fmha = "BF16"
        if not len(c):  # the measured backend's rule 3: FP8 FMHA rows over the FP8 cache
            c, fmha = shape[shape.attn_dtype == "fp8"], "FP8"
        c, lane = one_kernel(c, full, system, stack, ctx_path, attention=True)
        fl = c.batch_size * 4 * 8 * 128 * c.isl * (c.isl + 1) / 2
        eff = fl / (c.latency * 1e-3) / chip.peak_flops("bf16")
        e2k = eff[(c.isl == 2048)].median()
        elong = eff[(c.isl >= 8192)].median()
        small = (c.latency * 1e-3)[(c.isl <= 16) & (c.batch_size <= 4)].median()
        # eff(s) = a_c s / (s + s_half) with s the mean attended length (isl / 2) through the two points
        s1 = 1024.0
        s2 = float((c.isl[c.isl >= 8192] / 2.0).median())
        s_half = (e2k * s2 * s1 - elong * s1 * s2) / (elong * s1 - e2k * s2)
        a_c = e2k * (s1 + s_half) / s1
        out.append(f"prefill attention ({fmha} FMHA) floor {small * 1e6:.1f} us, {e2k:.3f} of BF16 peak at 2k "
                   f"tokens, {elong:.3f} at >= 8k -> a_c {a_c:.2f} of BF16 peak, s_half {s_half:,.0f} tokens [{lane}]")
    return out


def fit_moe(chip_name: str, system: str, stack: str = "trtllm") -> list[str]:
    import dataclasses

    from inference import measured_tables, moe_time, profile_for
    from topo.presets import chip_preset

    chip = chip_preset(chip_name)
    from inference.measured import MOE_DTYPE_FALLBACK

    tab = measured_tables(system, stack)
    if tab is None:
        return []
    df = tab.moe(1, 1, 1, 1, 1, 1, 1, "fp8") and None  # loads the frame
    df = tab._frames.get("moe")
    if df is None:
        return []
    label = "fp8" if (df.moe_dtype == "fp8").any() else MOE_DTYPE_FALLBACK["fp8"]
    df = df[df.moe_dtype == label]
    if not len(df):
        return []
    df = df[df._rank == df._rank.min()]
    keys = ["num_tokens", "hidden_size", "inter_size", "topk", "num_experts", "moe_tp_size", "moe_ep_size"]
    df = df.groupby(keys, as_index=False).latency.min()
    df = df[df.num_experts % df.moe_ep_size == 0]
    df = df.sample(min(600, len(df)), random_state=0)
    base = profile_for(chip, stack)
    best = None
    for mc, passes, floor in itertools.product((0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0), (0, 4, 8, 16, 32, 64),
                                               (10e-6, 20e-6, 30e-6, 40e-6, 60e-6, 80e-6)):
        prof = dataclasses.replace(base, moe_compute=mc, moe_token_passes=passes, moe_floor=floor)
        errs = []
        for r in df.itertuples():
            ep, tp = int(r.moe_ep_size), int(r.moe_tp_size)
            model = moe_time(r.num_tokens * r.topk, ep, r.num_experts // ep, r.hidden_size, r.inter_size / tp,
                             prof=prof, dtype="fp8", peak=chip.peak_flops("fp8"), ce=chip.compute_efficiency,
                             me=chip.memory_efficiency, w=1.0, a=2.0, bandwidth=chip.hbm_bandwidth)
            errs.append(abs(math.log(model / (r.latency * 1e-3))))
        loss = statistics.fmean(errs)
        if best is None or loss < best[0]:
            best = (loss, mc, passes, floor, statistics.median(errs))
    loss, mc, passes, floor, med = best
    return [f"moe ({label}) grouped GEMM {mc:.2f} of dense efficiency, {passes} activation passes per copy, floor "
            f"{floor * 1e6:.0f} us (mean |log error| {loss:.2f}, median {math.expm1(med):.0%}, {len(df)} rows)"]


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stack", default="all", choices=("all", *SYSTEMS), help="which stack's tables to fit")
    args = ap.parse_args(argv)
    from inference.measured import MISSING_EXTRA, available

    if not available():
        print("skipped: " + MISSING_EXTRA)
        return
    from inference import table_path
    from topo.presets import chip_preset

    for stack in (SYSTEMS if args.stack == "all" else (args.stack,)):
        for chip_name, system in SYSTEMS[stack]:
            chip = chip_preset(chip_name)
            gemm = table_path(system, "gemm", stack, "gemm_perf.parquet")
            print(f"{chip_name} ({system}, {stack} tables, gemm {_version(gemm) if gemm else 'absent'}):")
            lines = fit_gemm(chip, gemm, system, stack) if gemm else []
            lines += fit_attention(chip, table_path(system, "attention", stack, "generation_attention_perf.parquet"),
                                   table_path(system, "attention", stack, "context_attention_perf.parquet"),
                                   system, stack)
            if system in MOE_FIT:
                lines += fit_moe(chip_name, system, stack)
            for line in lines:
                print("  " + line)


if __name__ == "__main__":
    main()
