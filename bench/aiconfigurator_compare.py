"""scaleup's token latency beside NVIDIA aiconfigurator's estimate on 10 cases (prints a table; no assertions).

aiconfigurator-core (the ``measured`` extra) ships aiconfigurator's estimator as well as its kernel tables:
its ``backend.run_static`` (the engine behind ``aiconfigurator cli estimate``, static mode) gives TTFT and
TPOT for a model, system, stack and parallelism. scaleup's figures are ``inference.estimate`` with
``stack="trtllm"`` (default backend: the same measured kernel tables where they cover a shape, plus
scaleup's own op counts, communication simulated on the fabric, and overheads).

Cases: dense and MoE, bf16 and fp8, TP 1-8, batch 1-64, H100/H200/B200 (one DGX each), under TRT-LLM; and
5 cases each under vLLM and SGLang (``STACK_CASES``: aiconfigurator's vLLM 0.24.0 / SGLang 0.5.14 backends and
databases against ``stack="vllm"`` / ``"sglang"``, each side on that stack's own kernel tables). SGLang's
Hopper tables hold no BF16 FMHA over an FP8 KV cache, so its FP8 cases ask aiconfigurator for FP8 FMHA (what
scaleup's measured backend reads for it); SGLang's MoE runs block-scaled FP8, expert-parallel (Qwen3's 1,536
expert width over 8 TP ranks is not a whole number of 128-wide blocks). Medians are printed per stack.
Skipped (exit 0 with a note) when aiconfigurator-core is not installed.

``--backend analytic`` compares scaleup's analytic kernel model alone (what chips without tables get).

Usage: python bench/aiconfigurator_compare.py [--stride 32] [--backend auto|analytic] [--stack all|trtllm|vllm|sglang]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

#: (label, scaleup model, aiconfigurator model id, aic system, scaleup fabric, tp, moe, dtype, batch, isl, osl)
CASES = (
    ("Llama-3.1-8B bf16 TP1 b1 H100", "llama3.1-8b", "meta-llama/Meta-Llama-3.1-8B", "h100_sxm", "dgx-h100",
     1, False, "bf16", 1, 1024, 128),
    ("Llama-3.1-8B fp8 TP1 b64 H100", "llama3.1-8b", "meta-llama/Meta-Llama-3.1-8B", "h100_sxm", "dgx-h100",
     1, False, "fp8", 64, 1024, 128),
    ("Llama-3.1-70B fp8 TP8 b8 H100", "llama3.1-70b", "meta-llama/Meta-Llama-3.1-70B", "h100_sxm", "dgx-h100",
     8, False, "fp8", 8, 1024, 128),
    ("Llama-3.1-70B fp8 TP4 b32 H200", "llama3.1-70b", "meta-llama/Meta-Llama-3.1-70B", "h200_sxm", "dgx-h200",
     4, False, "fp8", 32, 2048, 256),
    ("Llama-3.1-70B bf16 TP8 b16 H200", "llama3.1-70b", "meta-llama/Meta-Llama-3.1-70B", "h200_sxm", "dgx-h200",
     8, False, "bf16", 16, 1024, 128),
    ("Llama-3.1-405B fp8 TP8 b1 H200", "llama3.1-405b", "meta-llama/Meta-Llama-3.1-405B", "h200_sxm", "dgx-h200",
     8, False, "fp8", 1, 1024, 128),
    ("Llama-3.1-70B fp8 TP2 b64 B200", "llama3.1-70b", "meta-llama/Meta-Llama-3.1-70B", "b200_sxm", "dgx-b200",
     2, False, "fp8", 64, 1024, 128),
    ("Llama-3.1-8B bf16 TP1 b16 B200", "llama3.1-8b", "meta-llama/Meta-Llama-3.1-8B", "b200_sxm", "dgx-b200",
     1, False, "bf16", 16, 2048, 128),
    ("Qwen3-235B-A22B fp8 TP8 b8 H200", "qwen3-235b-a22b", "Qwen/Qwen3-235B-A22B", "h200_sxm", "dgx-h200",
     8, True, "fp8", 8, 1024, 128),
    ("Qwen3-235B-A22B fp8 TP8 b64 H100", "qwen3-235b-a22b", "Qwen/Qwen3-235B-A22B", "h100_sxm", "dgx-h100",
     8, True, "fp8", 64, 1024, 128),
)


#: per stack other than TRT-LLM: (label, scaleup model, aic model id, aic system, fabric, tp, ep, moe, dtype,
#: batch, isl, osl); ep > 1 = experts spread over ep ranks (moe_tp 1) on both sides
STACK_CASES = {
    stack: (
        ("Llama-3.1-8B bf16 TP1 b1 H100", "llama3.1-8b", "meta-llama/Meta-Llama-3.1-8B", "h100_sxm", "dgx-h100",
         1, 1, False, "bf16", 1, 1024, 128),
        ("Llama-3.1-8B fp8 TP1 b64 H100", "llama3.1-8b", "meta-llama/Meta-Llama-3.1-8B", "h100_sxm", "dgx-h100",
         1, 1, False, "fp8", 64, 1024, 128),
        ("Llama-3.1-70B fp8 TP4 b32 H200", "llama3.1-70b", "meta-llama/Meta-Llama-3.1-70B", "h200_sxm", "dgx-h200",
         4, 1, False, "fp8", 32, 2048, 256),
        ("Llama-3.1-70B fp8 TP2 b64 B200", "llama3.1-70b", "meta-llama/Meta-Llama-3.1-70B", "b200_sxm", "dgx-b200",
         2, 1, False, "fp8", 64, 1024, 128),
        ("Qwen3-235B-A22B fp8 TP8" + (" EP8" if stack == "sglang" else "") + " b8 H200", "qwen3-235b-a22b",
         "Qwen/Qwen3-235B-A22B", "h200_sxm", "dgx-h200", 8, 8 if stack == "sglang" else 1, True, "fp8", 8, 1024,
         128),
    )
    for stack in ("vllm", "sglang")
}


def aic_estimate(model_id: str, system: str, tp: int, moe: bool, dtype: str, batch: int, isl: int, osl: int,
                 stride: int, stack: str = "trtllm", ep: int = 1) -> tuple[float, float]:
    """aiconfigurator's static-mode TTFT and TPOT (s) for one case (``stack``'s backend, newest database version)."""
    from aiconfigurator_core.sdk import common, config
    from aiconfigurator_core.sdk.backends.factory import get_backend
    from aiconfigurator_core.sdk.models import get_model
    from aiconfigurator_core.sdk.perf_database import get_database, get_latest_database_version

    version = get_latest_database_version(system, stack)
    db = get_database(system, stack, version)
    fp8 = dtype == "fp8"
    q = common.GEMMQuantMode.fp8 if fp8 else common.GEMMQuantMode.bfloat16
    kv = common.KVCacheQuantMode.fp8 if fp8 else common.KVCacheQuantMode.bfloat16
    fmha = common.FMHAQuantMode.fp8 if fp8 and stack == "sglang" else common.FMHAQuantMode.bfloat16
    kw = dict(tp_size=tp, pp_size=1, gemm_quant_mode=q, kvcache_quant_mode=kv, fmha_quant_mode=fmha)
    if moe:
        mq = common.MoEQuantMode.bfloat16
        if fp8:
            mq = common.MoEQuantMode.fp8_block if stack == "sglang" else common.MoEQuantMode.fp8
        kw.update(moe_tp_size=tp // ep if ep > 1 else tp, moe_ep_size=ep, moe_quant_mode=mq)
    model = get_model(model_id, config.ModelConfig(**kw), stack)
    summary = get_backend(stack).run_static(model, db, config.RuntimeConfig(batch_size=batch, isl=isl, osl=osl),
                                            "static", stride=stride)
    row = summary.get_summary_df().iloc[0]
    return float(row["ttft"]) * 1e-3, float(row["tpot"]) * 1e-3


def scaleup_estimate(model: str, fabric: str, tp: int, dtype: str, batch: int, isl: int, osl: int,
                     backend: str = "auto", stack: str = "trtllm", ep: int = 1):
    from inference import estimate

    return estimate(model, fabric, tp=tp, ep=ep, dp=1, batch=batch, prompt=isl, output=osl, dtype=dtype,
                    stack=stack, backend=backend)


def cases(stack: str) -> list[tuple]:
    """The cases of ``stack`` as (label, model, hf, system, fabric, tp, ep, moe, dtype, batch, isl, osl)."""
    if stack == "trtllm":
        return [(c[0], c[1], c[2], c[3], c[4], c[5], 1, *c[6:]) for c in CASES]
    return list(STACK_CASES[stack])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stride", type=int, default=32, help="aiconfigurator decode-step stride")
    ap.add_argument("--backend", default="auto", help="scaleup kernel backend: auto, measured or analytic")
    ap.add_argument("--stack", default="all", choices=("all", "trtllm", "vllm", "sglang"),
                    help="serving stack(s) compared (all: TRT-LLM's 10 cases, then vLLM's and SGLang's 5)")
    args = ap.parse_args()
    try:
        import aiconfigurator_core  # noqa: F401
    except ImportError:
        print("skipped: aiconfigurator-core is not installed (pip install 'scaleup-sim[measured]')")
        return
    import logging

    logging.disable(logging.WARNING)

    def med_err(xs: list[float]) -> str:
        return f"{statistics.median(abs(x - 1) for x in xs):.1%}" if xs else "-"

    for stack in (("trtllm", "vllm", "sglang") if args.stack == "all" else (args.stack,)):
        print(f"\n### {stack}\n")
        print("| case | aic TTFT ms | scaleup TTFT ms | ratio | aic TPOT ms | scaleup TPOT ms | ratio | scaleup backend |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        r_ttft, r_tpot = [], []
        t0 = time.perf_counter()
        for label, model, hf, system, fabric, tp, ep, moe, dtype, batch, isl, osl in cases(stack):
            try:
                a_ttft, a_tpot = aic_estimate(hf, system, tp, moe, dtype, batch, isl, osl, args.stride, stack, ep)
            except Exception as exc:  # noqa: BLE001 - reported in the table
                print(f"| {label} | aiconfigurator failed: {type(exc).__name__}: {str(exc)[:80]} |||||||")
                continue
            try:
                r = scaleup_estimate(model, fabric, tp, dtype, batch, isl, osl, args.backend, stack, ep)
            except Exception as exc:  # noqa: BLE001 - reported in the table
                print(f"| {label} | {a_ttft * 1e3:.1f} | scaleup failed: {type(exc).__name__}: {str(exc)[:80]} ||||||")
                continue
            rt, rp = r.ttft / a_ttft, r.tpot / a_tpot
            r_ttft.append(rt)
            r_tpot.append(rp)
            prov = r.provenance
            print(f"| {label} | {a_ttft * 1e3:.1f} | {r.ttft * 1e3:.1f} | {rt:.2f} | {a_tpot * 1e3:.2f} | "
                  f"{r.tpot * 1e3:.2f} | {rp:.2f} | {prov['backend']} ({prov.get('kernels_analytic', 0)} analytic) |")
        print(f"\n{stack}: median |scaleup/aiconfigurator - 1|: TTFT {med_err(r_ttft)}, TPOT {med_err(r_tpot)} "
              f"over {len(r_tpot)} cases; worst TTFT {max((abs(x - 1) for x in r_ttft), default=0):.1%}, "
              f"worst TPOT {max((abs(x - 1) for x in r_tpot), default=0):.1%} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
