"""Qwen3-30B-A3B on one B200 / GB200: the decode step beside aiconfigurator and beside what the measured throughput
implies (prints a table; no assertions).

The perf-overview's Qwen3-30B-A3B rows (``python -m inference.perf_overview``, held out) are optimistic on their
decode-heavy points, more on GB200 than on B200, though GB200 is the same GPU at a higher power limit
(docs/inference.md, "Every row of the source tables"). This script asks whether the kernels explain it: at ISL / OSL
1000/1000, NVFP4 weights and MoE, FP8 KV cache, TensorRT-LLM, it prints per chip and batch

* aiconfigurator-core's static TPOT (``run_static`` of ``Qwen/Qwen3-30B-A3B``, its kernel tables);
* scaleup's decode step (``Deployment.decode_step`` at the output's mean context, ISL + OSL / 2);
* at the in-flight count scaleup predicts for the row (``validation.predict``), the time per output token of the
  whole batch that the measured throughput implies (batch / measured tokens/s: a decode iteration with the
  prefills' share included) and, divided by the batch, per sequence.

Usage: python bench/qwen3_30b_compare.py          (skipped, exit 0, without aiconfigurator-core)
"""

from __future__ import annotations

import logging
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

ISL, OSL = 1000, 1000
#: (aiconfigurator system, scaleup fabric, perf-overview column)
CHIPS = (("b200_sxm", "dgx-b200", "B200<br/>TP1 (FP4)"), ("gb200", "gb200-nvl72", "GB200<br/>TP1 (FP4)"))
BATCHES = (256, 1024)


def aic_tpot(system: str, batch: int) -> float:
    """aiconfigurator's static TPOT (s) of Qwen3-30B-A3B, NVFP4 GEMMs and MoE, FP8 KV, TP1."""
    from aiconfigurator_core.sdk import common, config
    from aiconfigurator_core.sdk.backends.factory import get_backend
    from aiconfigurator_core.sdk.models import get_model
    from aiconfigurator_core.sdk.perf_database import get_database, get_latest_database_version

    db = get_database(system, "trtllm", get_latest_database_version(system, "trtllm"))
    kw = dict(tp_size=1, pp_size=1, gemm_quant_mode=common.GEMMQuantMode.nvfp4,
              kvcache_quant_mode=common.KVCacheQuantMode.fp8, fmha_quant_mode=common.FMHAQuantMode.bfloat16,
              moe_quant_mode=common.MoEQuantMode.nvfp4, moe_tp_size=1, moe_ep_size=1)
    model = get_model("Qwen/Qwen3-30B-A3B", config.ModelConfig(**kw), "trtllm")
    summ = get_backend("trtllm").run_static(model, db, config.RuntimeConfig(batch_size=batch, isl=ISL, osl=OSL),
                                            "static", stride=32)
    return float(summ.get_summary_df().iloc[0]["tpot"]) * 1e-3


def our_step(fabric: str, batch: int) -> float:
    """scaleup's decode step (s) at the output's mean context."""
    from inference.estimate import Deployment

    dep = Deployment("qwen3-30b-a3b", fabric, tp=1, dp=1, dtype="fp4", kv_dtype="fp8", stack="trtllm")
    return dep.decode_step(batch, ISL + OSL // 2, {"activations": "hbm", "weights": "hbm", "kv_cache": "hbm"}).serial


def main() -> None:
    try:
        import aiconfigurator_core  # noqa: F401
    except ImportError:
        print("aiconfigurator-core not installed (pip install 'scaleup-sim[measured]'); skipped")
        return
    logging.disable(logging.WARNING)
    from inference import perf_overview
    from inference.validation import predict

    cells = {(c.source, c.column, c.setup.prompt, c.setup.output): c for c in perf_overview.cells("00f37686")}
    print("| chip | batch | aiconfigurator TPOT ms | scaleup step ms | measured iteration ms (at our batch) | "
          "per sequence us |")
    print("|---|---:|---:|---:|---:|---:|")
    for system, fabric, column in CHIPS:
        cell = cells[("00f37686", column, ISL, OSL)]
        b = predict(cell.setup)["batch"]
        t_meas = b / cell.setup.measured  # s per iteration: every sequence emits one token per iteration
        for batch in (*BATCHES, b):
            meas = (f"{t_meas * 1e3:.1f}", f"{t_meas / b * 1e6:.0f}") if batch == b else ("-", "-")
            print(f"| {system} | {batch} | {aic_tpot(system, batch) * 1e3:.1f} | {our_step(fabric, batch) * 1e3:.1f} | "
                  f"{meas[0]} | {meas[1]} |")


if __name__ == "__main__":
    main()
