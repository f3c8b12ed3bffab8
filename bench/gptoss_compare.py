"""GPT-OSS 120B decode step, scaleup beside aiconfigurator's static estimate (prints a table; no assertions).

The perf-overview's GPT-OSS columns run openai/gpt-oss-120b as published: MXFP4 experts, BF16 attention / router /
embeddings / LM head (docs/inference.md, "GPT-OSS 120B"). Two cases at TP1 under TensorRT-LLM: GB200 (MXFP4 x MXFP8
MoE, FP8 KV) at batch 2,048 and H200 (MXFP4 x BF16 MoE, BF16 KV) at batch 1,024, ISL/OSL 1000/1000.

* aiconfigurator: ``run_static`` of its ``openai/gpt-oss-120b`` model with BF16 GEMMs and the MoE quant mode above
  (its own rule for ``quant_method mxfp4`` is BF16 GEMMs + ``w4a16_mxfp4``; the Blackwell mode is named here as
  TensorRT-LLM runs it); its generation ops summed over the output steps, divided by the steps (ms per step) and its
  TPOT.
* scaleup: ``Deployment.decode_step`` at the mean context of the output (ISL + OSL / 2), per op (ms per step).

Usage: python bench/gptoss_compare.py          (skipped, exit 0, without aiconfigurator-core)
"""

from __future__ import annotations

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

#: (label, aic system, aic MoE quant mode, aic KV mode, scaleup fabric, scaleup dtype, KV dtype, batch)
CASES = (
    ("GB200 TP1 b2048", "gb200", "w4a8_mxfp4_mxfp8", "fp8", "gb200-nvl72", "fp4", "fp8", 2048),
    ("H200 TP1 b1024", "h200_sxm", "w4a16_mxfp4", "bfloat16", "dgx-h200", "fp8", "bf16", 1024),
)
ISL, OSL = 1000, 1000
#: scaleup op -> aiconfigurator generation op(s)
OPS = {"attention + attention_swa": ("generation_attention",), "experts": ("generation_moe",),
       "qkv": ("generation_qkv_gemm",), "o_proj": ("generation_proj_gemm",), "router": ("generation_router_gemm",),
       "lm_head": ("generation_logits_gemm",), "norms": ("generation_add_norm_1", "generation_add_norm_2")}


def aic(system: str, moe: str, kv: str, batch: int) -> tuple[float, dict[str, float]]:
    """aiconfigurator's TPOT (s) and its generation ops per step (s)."""
    from aiconfigurator_core.sdk import common, config
    from aiconfigurator_core.sdk.backends.factory import get_backend
    from aiconfigurator_core.sdk.models import get_model
    from aiconfigurator_core.sdk.perf_database import get_database, get_latest_database_version

    db = get_database(system, "trtllm", get_latest_database_version(system, "trtllm"))
    kw = dict(tp_size=1, pp_size=1, gemm_quant_mode=common.GEMMQuantMode.bfloat16,
              kvcache_quant_mode=getattr(common.KVCacheQuantMode, kv), fmha_quant_mode=common.FMHAQuantMode.bfloat16,
              moe_quant_mode=getattr(common.MoEQuantMode, moe), moe_tp_size=1, moe_ep_size=1)
    model = get_model("openai/gpt-oss-120b", config.ModelConfig(**kw), "trtllm")
    summ = get_backend("trtllm").run_static(model, db, config.RuntimeConfig(batch_size=batch, isl=ISL, osl=OSL),
                                            "static", stride=32)
    tpot = float(summ.get_summary_df().iloc[0]["tpot"]) * 1e-3
    steps = OSL - 1
    return tpot, {k: v * 1e-3 / steps for k, v in summ.get_generation_latency_dict().items()}


def ours(fabric: str, dtype: str, kv: str, batch: int) -> tuple[float, dict[str, float]]:
    """scaleup's decode step (s) at the output's mean context and its ops (s, summed over layers)."""
    from inference.estimate import Deployment

    dep = Deployment("gpt-oss-120b", fabric, tp=1, dp=1, dtype=dtype, kv_dtype=kv, stack="trtllm")
    st = dep.decode_step(batch, ISL + OSL // 2, {"activations": "hbm", "weights": "hbm", "kv_cache": "hbm"})
    per: dict[str, float] = {}
    for r in st.rows:
        per[r["op"]] = per.get(r["op"], 0.0) + r["time"] * r["layers"]
    return st.serial, per


def main() -> None:
    try:
        import aiconfigurator_core  # noqa: F401
    except ImportError:
        print("aiconfigurator-core not installed (pip install 'scaleup-sim[measured]'); skipped")
        return
    for label, system, moe, kv_aic, fabric, dtype, kv, batch in CASES:
        a_tpot, a_ops = aic(system, moe, kv_aic, batch)
        s_step, s_ops = ours(fabric, dtype, kv, batch)
        print(f"\n{label}: aiconfigurator TPOT {a_tpot * 1e3:.1f} ms, scaleup step {s_step * 1e3:.1f} ms "
              f"({(s_step / a_tpot - 1) * 100:+.0f}%)")
        print(f"  {'op':28s} {'scaleup ms':>11s} {'aiconfigurator ms':>18s}")
        for name, theirs in OPS.items():
            mine = sum(s_ops.get(n.strip(), 0.0) for n in name.split("+"))
            print(f"  {name:28s} {mine * 1e3:11.2f} {sum(a_ops.get(t, 0.0) for t in theirs) * 1e3:18.2f}")


if __name__ == "__main__":
    main()
