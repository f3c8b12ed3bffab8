"""Measured kernel tables of two chips with the same die, side by side (prints tables; no assertions).

B200 and GB200 carry the same Blackwell GPU and HBM3e (GB200 at a higher power limit), so a kernel's time on the two
differs by a small, nearly constant factor. This script reads aiconfigurator-core's installed TensorRT-LLM tables
(GEMM, context and generation attention, MoE; per key the newest version that measured it, as
:mod:`inference.measured` reads them) and prints, per table and kernel source, how the two chips' times compare:
for every key (dtype, shape, parallelism, kernel source) measured on both, the median over its common points of
``time(first) / time(second)``; the kernel source's typical ratio (the median of those medians); and the keys whose
median is more than ``inference.measured.SIBLING_FLAG`` (1.25) x the typical ratio, or less than 1 / 1.25 x it.

This is the check of :func:`inference.measured.sibling_repair` (rule 4 of the measured backend), which reads a MoE key
that is slower by more than that factor from the other chip's rows (x the typical ratio). The GEMM and attention
tables are printed to show that the rule has nothing to do there. H100 / H200 can be printed too (``--pair``), but
they are not a pair for the rule: H200's HBM is 1.4x faster, so memory-bound kernels differ by design.

Why (issue 11, docs/inference.md "Reading the misses"): the DeepSeek R1 B200 DEP4 perf-overview rows came out 33-45 %
slow while the published B200 and GB200 figures agree within 7 %; scaleup reads the CUTLASS MoE rows there (the
runs' ``moe_config: backend: CUTLASS``), and those are the rows where the two chips' collections disagree.

The rule applies to every stack's MoE table; ``--stack sglang`` / ``vllm`` print those (aiconfigurator-core 0.12.0:
SGLang's GB200 Triton BF16 MoE has 9 keys slower than B200's beyond the factor, vLLM none).

Usage: python bench/moe_sibling_tables.py [--pair b200_sxm,gb200] [--stack trtllm] [--table moe] [--all]
       (skipped, exit 0, without aiconfigurator-core)
"""

from __future__ import annotations

import argparse
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

#: table -> (op folder, file, key columns (last: kernel source), point columns, row filter)
TABLES = {
    "gemm": ("gemm", "gemm_perf.parquet", ["gemm_dtype", "n", "k", "kernel_source"], ["m"], None),
    "context attention": ("attention", "context_attention_perf.parquet",
                          ["attn_dtype", "kv_cache_dtype", "num_heads", "num_key_value_heads", "head_dim", "window_size",
                           "kernel_source"], ["batch_size", "isl"], None),
    "generation attention": ("attention", "generation_attention_perf.parquet",
                             ["kv_cache_dtype", "num_heads", "num_key_value_heads", "head_dim", "window_size",
                              "kernel_source"], ["batch_size", "isl", "step"], None),
    "moe": ("moe", "moe_perf.parquet",
            ["moe_dtype", "hidden_size", "inter_size", "topk", "num_experts", "moe_tp_size", "moe_ep_size",
             "kernel_source"], ["num_tokens"], "moe"),
}


def ratios(first: str, second: str, table: str = "moe", stack: str = "trtllm"):
    """One row per key measured on both systems: the key columns, ``count`` (common points) and the ``median`` /
    ``min`` / ``max`` of ``time(first) / time(second)`` over them, ``typical`` (the kernel source's median of the
    medians) and ``flag`` (-1, 0, +1: median / typical below 1 / SIBLING_FLAG, within, above). A pandas DataFrame;
    None where a system lacks the table."""
    import pandas as pd

    from inference import measured

    op, filename, key, axes, rows = TABLES[table]
    frames = []
    for system in (first, second):
        paths = measured.table_paths(system, op, stack, filename)
        if not paths:
            return None
        parts = []
        for rank, path in enumerate(paths):
            df = pd.read_parquet(path)
            if not set(key + axes) <= set(df.columns):
                continue
            if rows == "moe":
                df = measured.KernelTables._moe_prepare(df)
            parts.append(df.assign(_rank=rank))
        if not parts:  # no version of this schema
            return None
        frames.append(pd.concat(parts, ignore_index=True))
    out = measured.sibling_ratios(frames[0], frames[1], key, axes)  # the rule's own comparison
    rel = out["median"] / out["typical"]
    out["flag"] = (rel > measured.SIBLING_FLAG).astype(int) - (rel < 1 / measured.SIBLING_FLAG).astype(int)
    return out.sort_values(key).reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair", default="b200_sxm,gb200", help="two aiconfigurator systems (default b200_sxm,gb200)")
    ap.add_argument("--stack", default="trtllm", help="serving stack of the tables (default trtllm)")
    ap.add_argument("--table", default=None, choices=tuple(TABLES), help="one table (default: all four)")
    ap.add_argument("--all", action="store_true", help="list every key, not only the flagged ones")
    args = ap.parse_args(argv)
    from inference import measured

    if not measured.available():
        print(f"skipped: {measured.MISSING_EXTRA}")
        return 0
    a, b = args.pair.split(",")
    print(f"{a} / {b} ({args.stack}): time ratio per key (median over the points both measured), flagged beyond "
          f"{measured.SIBLING_FLAG} x the kernel's typical ratio either way; MoE routing {measured.MOE_DISTRIBUTION}")
    print()
    print("| table | kernel source | keys on both | typical ratio | slower beyond | faster beyond |")
    print("|---|---|---:|---:|---:|---:|")
    listed = []
    for table in ([args.table] if args.table else TABLES):
        r = ratios(a, b, table, args.stack)
        if r is None:
            print(f"| {table} | (not on both) | | | | |")
            continue
        for src, g in r.groupby("kernel_source"):
            print(f"| {table} | {src} | {len(g)} | {g['typical'].iloc[0]:.3f} | {int((g['flag'] > 0).sum())} | "
                  f"{int((g['flag'] < 0).sum())} |")
        listed.append((table, r if args.all else r[r["flag"] != 0]))
    for table, r in listed:
        if not len(r):
            continue
        key = TABLES[table][2]
        print(f"\n{table}: {'every key' if args.all else 'flagged keys'} (median / min / max of {a} / {b})")
        print("| " + " | ".join(key) + " | points | median | min | max | typical |")
        print("|" + "---|" * (len(key) + 5))
        for _, x in r.iterrows():
            print("| " + " | ".join(str(x[c]) for c in key) + f" | {x['count']} | {x['median']:.3f} | {x['min']:.3f} "
                  f"| {x['max']:.3f} | {x['typical']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
