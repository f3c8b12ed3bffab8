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

``--per-op`` prints, instead, the per-op breakdown of one decode step and one prefill step for the MoE + EP 8
cases (``ADP_CASES``: DeepSeek-V3 NVFP4 on B200 as MLPerf v5.1's DeepSeek-R1 runs it, Qwen3-235B-A22B FP8 on H100,
attention DP 8 + EP 8; DeepSeek-R1 block-scaled FP8 on H200 with attention TP 8 + EP 8; TRT-LLM) beside aiconfigurator's static estimate of the same step, op by op:
aiconfigurator's overlapped groups (shared experts beside the routed path) are listed op by op and its MLA module
row replaced by its granular kernels, so every op has its own time; its step totals are given as it composes them.

Usage: python bench/aiconfigurator_compare.py [--stride 32] [--backend auto|analytic] [--stack all|trtllm|vllm|sglang]
       python bench/aiconfigurator_compare.py --per-op
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


#: MoE + EP 8 cases for ``--per-op``: (label, scaleup model, aic model id, aic system, fabric, dtype, aic GEMM / MoE
#: quant names, attention TP). Attention DP 8 (tp 1) + EP 8 on one DGX, or attention TP 8 + EP 8 (no attention DP;
#: DeepSeek-R1's FP8 checkpoint is block-scaled: aiconfigurator's fp8_block modes, scaleup's ModelSpec.fp8_block);
#: decode batches are per attention rank.
ADP_CASES = (
    ("DeepSeek-V3 NVFP4 ADP8 EP8 B200", "deepseek-v3", "deepseek-ai/DeepSeek-V3", "b200_sxm", "dgx-b200", "fp4",
     "nvfp4", "nvfp4", 1),
    ("Qwen3-235B-A22B FP8 ADP8 EP8 H100", "qwen3-235b-a22b", "Qwen/Qwen3-235B-A22B", "h100_sxm", "dgx-h100", "fp8",
     "fp8", "fp8", 1),
    ("DeepSeek-R1 FP8 TP8 EP8 H200", "deepseek-v3", "deepseek-ai/DeepSeek-V3", "h200_sxm", "dgx-h200", "fp8",
     "fp8_block", "fp8_block", 8),
)
ADP_DECODE_BATCHES = (8, 32, 128, 512)  # sequences per attention rank (x 8 per engine)
ADP_CONTEXT = 2048  # cached tokens per decoding sequence
ADP_PREFILL = (1, 4096)  # (sequences, prompt tokens) per attention rank

#: aiconfigurator op name (without its phase prefix) -> scaleup op row
AIC_TO_SCALEUP = {
    "embedding": "embedding", "add_norm_1": "norms", "add_norm_2": "norms", "downscale_gemm": "qkv_a",
    "q_b_proj_gemm": "q_b", "kv_b_proj_gemm": "kv_b", "bmm_pre": "kv_b", "bmm_post": "kv_b", "attention": "attention",
    "proj_gemm": "o_proj", "qkv_gemm": "qkv", "router_gemm": "router", "moe": "experts",
    "moe_pre_dispatch": "ep_dispatch", "moe_post_dispatch": "ep_combine", "shared_gate_up_gemm": "shared_experts",
    "shared_act_gate": "shared_experts", "shared_ffn2_gemm": "shared_experts", "logits_gemm": "lm_head",
}


def _clear_aic_engine_cache() -> None:
    try:
        from aiconfigurator_core.sdk import rust_engine_step

        rust_engine_step._engine_handle_cache_clear()
    except (ImportError, AttributeError):  # another aiconfigurator-core: nothing cached to clear
        pass


def _aic_adp_steps(model_id: str, system: str, gemm: str, moe: str, tp: int = 1) -> tuple[dict, dict]:
    """aiconfigurator's per-op times (s, summed over layers) of each decode batch and of the prefill, and its
    step totals as it composes them (overlap, MLA module table): ({step: {op: s}}, {step: s})."""
    from aiconfigurator_core.sdk import common, config
    from aiconfigurator_core.sdk.backends.factory import get_backend
    from aiconfigurator_core.sdk.models import get_model
    from aiconfigurator_core.sdk.perf_database import get_database, get_latest_database_version

    db = get_database(system, "trtllm", get_latest_database_version(system, "trtllm"))
    kw = dict(tp_size=tp, pp_size=1, gemm_quant_mode=getattr(common.GEMMQuantMode, gemm),
              kvcache_quant_mode=common.KVCacheQuantMode.fp8, fmha_quant_mode=common.FMHAQuantMode.bfloat16,
              moe_quant_mode=getattr(common.MoEQuantMode, moe), moe_tp_size=1, moe_ep_size=8,
              attention_dp_size=8 // tp)

    def flatten(ops: list) -> list:
        out = []
        for op in ops:
            ga, gb, fb = (getattr(op, a, None) for a in ("_group_a", "_group_b", "_fallback"))
            if ga is not None and gb is not None:
                out += flatten(list(ga) + list(gb))
            elif fb is not None:
                out += flatten(list(fb))
            else:
                out.append(op)
        return out

    per_op, totals = {}, {}
    steps = [(f"decode {b}/rank", b, ADP_CONTEXT, "gen") for b in ADP_DECODE_BATCHES]
    steps.append((f"prefill {ADP_PREFILL[0]}x{ADP_PREFILL[1]}/rank", ADP_PREFILL[0], ADP_PREFILL[1], "ctx"))
    for label, b, isl, phase in steps:
        rc = config.RuntimeConfig(batch_size=b, isl=isl, osl=2)
        for flat in (False, True):
            _clear_aic_engine_cache()  # its compiled-engine cache keys on the model config, not on the op list
            model = get_model(model_id, config.ModelConfig(**kw), "trtllm")
            if flat:
                model.generation_ops[:] = flatten(model.generation_ops)
                model.context_ops[:] = flatten(model.context_ops)
            summ = get_backend("trtllm").run_static(model, db, rc, "static", stride=1)
            d = summ.get_generation_latency_dict() if phase == "gen" else summ.get_context_latency_dict()
            if flat:
                per_op[label] = {k.split("_", 1)[1]: v * 1e-3 for k, v in d.items()}
            else:
                totals[label] = sum(d.values()) * 1e-3
    return per_op, totals


def _scaleup_adp_steps(model: str, fabric: str, dtype: str, backend: str, tp: int = 1) -> dict:
    """scaleup's per-op times (s, summed over layers; communication per layer x the layers of its block) and serial
    step."""
    from inference.estimate import Deployment

    dep = Deployment(model, fabric, tp=tp, ep=8, dtype=dtype, kv_dtype="fp8", backend=backend)
    hbm = {"activations": "hbm", "weights": "hbm", "kv_cache": "hbm"}
    out = {}
    g = 8 // tp  # attention groups
    steps = [(f"decode {b}/rank", g * b, 1, ADP_CONTEXT, "decode") for b in ADP_DECODE_BATCHES]
    steps.append((f"prefill {ADP_PREFILL[0]}x{ADP_PREFILL[1]}/rank", g * ADP_PREFILL[0], ADP_PREFILL[1], 0, "prefill"))
    for label, seqs, q, ctx, phase in steps:
        st = dep.step(seqs, q, ctx, phase, hbm)
        ops: dict[str, float] = {}
        for r in st.rows:  # kernel time, including what a side stream hides (the step total counts it once)
            ops[r["op"]] = ops.get(r["op"], 0.0) + (r["time"] + r.get("hidden_time", 0.0)) * r["layers"]
        for r in st.comm_rows:  # per layer of its block (dense-MLP layers, MoE layers)
            n = dep.model.mlp_dense_layers if r["block"] == "mlp" else dep.model.moe_layers
            ops[r["op"]] = ops.get(r["op"], 0.0) + r["time"] * n
        out[label] = (ops, st.serial)
    return out


def per_op(backend: str) -> None:
    """Print the per-op tables of :data:`ADP_CASES` (ms per step, all layers)."""
    for label, model, hf, system, fabric, dtype, gemm, moe, tp in ADP_CASES:
        aic_ops, aic_tot = _aic_adp_steps(hf, system, gemm, moe, tp)
        ours = _scaleup_adp_steps(model, fabric, dtype, backend, tp)
        print(f"\n### {label} (ms per step, summed over layers; aic = aiconfigurator-core static, TRT-LLM)\n")
        steps = list(aic_ops)
        print("| op | " + " | ".join(f"{s} aic | scaleup" for s in steps) + " |")
        print("|---|" + "---:|---:|" * len(steps))
        names: list[str] = []
        for s in steps:
            for k in list(ours[s][0]) + [AIC_TO_SCALEUP.get(k, k) for k in aic_ops[s]]:
                if k not in names and k not in ("framework", "final_norm", "p2p", "embedding_ar"):
                    names.append(k)
        for name in names:
            cells = []
            for s in steps:
                a = sum(v for k, v in aic_ops[s].items() if AIC_TO_SCALEUP.get(k, k) == name)
                o = ours[s][0].get(name, 0.0)
                cells.append(f"{a * 1e3:.2f} | {o * 1e3:.2f}")
            print(f"| {name} | " + " | ".join(cells) + " |")
        print("| **step** (aic as composed: overlap, MLA module; scaleup serial) | " + " | ".join(
            f"**{aic_tot[s] * 1e3:.1f}** | **{ours[s][1] * 1e3:.1f}**" for s in steps) + " |")
        print("| scaleup / aic | " + " | ".join(f" | {ours[s][1] / aic_tot[s]:.2f}" for s in steps) + " |")
        print("\nDecode: both sides run the shared experts on a side stream beside the routed path (router, experts, "
              "dispatch, combine), so the step counts max(shared, routed) per MoE layer; prefill runs them in series.")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stride", type=int, default=32, help="aiconfigurator decode-step stride")
    ap.add_argument("--backend", default="auto", help="scaleup kernel backend: auto, measured or analytic")
    ap.add_argument("--stack", default="all", choices=("all", "trtllm", "vllm", "sglang"),
                    help="serving stack(s) compared (all: TRT-LLM's 10 cases, then vLLM's and SGLang's 5)")
    ap.add_argument("--per-op", action="store_true",
                    help="per-op decode/prefill breakdown of the MoE + attention-DP cases (ADP_CASES) instead")
    args = ap.parse_args()
    from inference.measured import MISSING_EXTRA, available

    if not available():
        print("skipped: " + MISSING_EXTRA)
        return
    import logging

    logging.disable(logging.WARNING)
    if args.per_op:
        per_op(args.backend)
        return

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
