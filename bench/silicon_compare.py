"""scaleup's serving stacks beside measured end-to-end serving runs (aiconfigurator-core's silicon sample).

aiconfigurator-core (the ``measured`` extra) ships ``systems/silicon_sample.csv``: TTFT and TPOT measured on
real deployments (``silicon_data_source`` names the run and container image per row) of TRT-LLM, vLLM and
SGLang in aggregated serving (``mode == agg``: in-flight batching, ``batch_size`` requests kept in flight
by a closed-loop client, fixed ISL / OSL). The file is read from the installed package at run time (never
copied here). Every row is **held out**: nothing in scaleup was fitted to it (the kernel profiles come
from the kernel tables, bench/fit_kernels.py; the TRT-LLM per-step cost from the validation's calibration
rows). Skipped (exit 0) when aiconfigurator-core is absent.

Rows used: models scaleup has (dense Llama-3.1-8B and -70B and Qwen3-32B, any checkpoint of them; MoE GPT-OSS-120B
with its experts tensor-parallel over the TP group, ``moe_ep`` 1, or expert-parallel over it, ``moe_tp`` 1; on
Hopper its MXFP4 checkpoint, labelled ``fp4`` in the sample, runs MXFP4 x BF16 experts with a BF16 KV cache), on
h100_sxm, h200_sxm, b200_sxm and gb200, pipeline 1, no attention DP, TP 1-8 on one DGX; precision ``fp8`` / ``fp8_block`` -> FP8
(per-tensor kernel tables: ASSUMPTION for the block-scaled rows), ``fp4`` -> FP4, none given -> BF16. KV
cache: FP8 with FP8/FP4 weights under TRT-LLM (its FP8 checkpoints quantise the KV cache); ASSUMPTION:
BF16 under vLLM and SGLang (their ``kv_cache_dtype`` default ``auto`` = the model's dtype).

Model of a row (steady state of a closed loop of ``c = batch_size`` requests; ``StepModel`` of one
replica, the stack's profile and kernel tables, communication simulated):

* ``T_dec = decode_time(c, ISL + OSL / 2)``; each request is prefilled once in its OSL iterations, so an
  iteration carries ``c / OSL`` prefills on average: ``TPOT = T_dec + (c / OSL) x prefill_time(ISL, 1)``.
  ``T_dec`` alone is the bracket's other end (prefills free, e.g. all requests admitted together): both printed.
* ``TTFT = prefill_time(ISL, 1) + 1.5 x T_dec``: half an iteration of waiting for admission, then the prompt's
  prefill in an iteration that also decodes the others. ASSUMPTION: no queueing for admission and no burst
  of simultaneous arrivals, so TTFT is a lower bound at high concurrency.

``--closed-loop``: each row is instead simulated as the benchmark ran it, a closed-loop client
(``fleet.simulate_serving(concurrency=c, requests=N)``: ``c`` requests sent at t = 0, each completion sending
the next) on one replica of the same step model, with the engine's iteration scheduler (continuous batching,
chunked prefill mixed with the running decodes); TTFT and TPOT are the means over the N requests, as the
client reports them. Nothing fitted; the run's settings the sample does not record are ASSUMPTIONS:
``N = CLOSED_LOOP_REQUESTS x c`` (10, the convention of InferenceMAX's benchmark scripts, ``vllm bench
serve --num-prompts $((CONC * 10)) --max-concurrency $CONC``; sensitivity ``--requests-factor 1`` / ``3``), a token budget of
``CLOSED_LOOP_BUDGET`` (8,192: TensorRT-LLM's ``max_num_tokens`` default, vLLM's ``max_num_batched_tokens``
for its server on large GPUs, SGLang's ``chunked_prefill_size`` on 80 GB GPUs) and every in-flight request
admitted (slots = c; the KV cache still limits it). Slower: one simulation per row.

Usage: python bench/silicon_compare.py [--stack all|trtllm|vllm|sglang] [--rows] [--backend auto|analytic]
       [--closed-loop [--requests-factor K]]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

#: aiconfigurator system -> (scaleup fabric preset with 8 chips)
FABRICS = {"h100_sxm": "dgx-h100", "h200_sxm": "dgx-h200", "b200_sxm": "dgx-b200", "gb200": "gb200-nvl72"}
#: substring of the HF model path -> scaleup model
MODELS = (("Llama-3.1-8B", "llama3.1-8b"), ("Llama-3.1-70B", "llama3.1-70b"), ("gpt-oss-120b", "gpt-oss-120b"),
          ("Qwen3-32B", "qwen3-32b"))
#: chips without native FP4 (the sample labels GPT-OSS's MXFP4 checkpoint ``fp4`` / ``nvfp4`` on Hopper too)
HOPPER = ("h100_sxm", "h200_sxm")
DTYPE = {"fp8": "fp8", "fp8_block": "fp8", "fp4": "fp4", "nvfp4": "fp4"}


def silicon_rows(stacks: tuple[str, ...]):
    """The usable agg rows of the installed silicon sample (a DataFrame), or None without the extra."""
    import pandas as pd

    from inference.measured import _data_root

    root = _data_root()
    if root is None:
        return None
    path = os.path.join(os.path.dirname(root), "silicon_sample.csv")
    if not os.path.exists(path):
        return None
    d = pd.read_csv(path)
    d = d[(d["mode"] == "agg") & d.backend.isin(stacks) & d.system.isin(list(FABRICS))]
    d = d[(d.pp_size.fillna(1) == 1) & (d.attention_dp_size.fillna(1) == 1) & (d.tp_size <= 8)]
    d = d.assign(model=d.model_path.map(lambda p: next((m for k, m in MODELS if k in p), None)))
    d = d[d.model.notna() & d.silicon_tpot_ms.notna() & d.silicon_ttft_ms.notna()]
    # MoE rows: experts tensor parallel over the TP group (moe_ep 1) or expert parallel over it (moe_tp 1)
    ep, mtp = d.moe_ep_size.fillna(1), d.moe_tp_size.fillna(d.tp_size)
    d = d[(ep == 1) | ((ep == d.tp_size) & (mtp == 1))].assign(ep=ep.astype(int))
    return d.sort_values(["backend", "model", "system", "tp_size", "isl", "osl", "batch_size", "id"])


def dtypes(row) -> tuple[str, str]:
    """(weight dtype, KV dtype) of a silicon row (module docstring)."""
    prec = row.precision if isinstance(row.precision, str) else row.gemm_quant_mode
    w = DTYPE.get(prec, "bf16") if isinstance(prec, str) else "bf16"
    kv = "fp8" if (w != "bf16" and row.backend == "trtllm") else "bf16"
    if row.model.startswith("gpt-oss") and row.system in HOPPER and w != "bf16":
        # the published MXFP4 checkpoint on Hopper: MXFP4 x BF16 experts (scaleup's fp8 path for an MXFP4-expert
        # model) and the checkpoint's BF16 KV cache (TensorRT-LLM's GPT-OSS options: "Hopper: use auto")
        w, kv = "fp8", "bf16"
    return w, kv


def _step_model(models: dict, row, backend: str):
    """The row's replica step model (``inference.StepModel``), memoised in ``models``."""
    from inference import StepModel

    w, kv = dtypes(row)
    tp = int(row.tp_size)
    key = (row.backend, row.model, row.system, tp, int(row.ep), w, kv)
    sm = models.get(key)
    if sm is None:
        sm = models[key] = StepModel(row.model, FABRICS[row.system], tp=tp, ep=int(row.ep), dp=1, dtype=w,
                                     kv_dtype=kv, stack=row.backend, backend=backend)
    return sm


def predict(models: dict, row, backend: str) -> tuple[float, float, float, str]:
    """(TTFT s, TPOT s, TPOT without prefill interference s, scaleup backend) of one row (module docstring)."""
    sm = _step_model(models, row, backend)
    c, isl, osl = int(row.batch_size), int(row.isl), int(row.osl)
    t_dec = float(sm.decode_time(c, isl + osl // 2))
    t_pre = float(sm.prefill_time(isl, 1))
    return t_pre + 1.5 * t_dec, t_dec + c / osl * t_pre, t_dec, sm.deployment.provenance().get("backend", "")


#: closed-loop view (``--closed-loop``): requests per in-flight slot, the engine's token budget per iteration
#: (ASSUMPTIONS, module docstring)
CLOSED_LOOP_REQUESTS = 10
CLOSED_LOOP_BUDGET = 8192


def closed_loop(models: dict, row, backend: str, factor: int = CLOSED_LOOP_REQUESTS) -> tuple[float, float, str]:
    """(mean TTFT s, mean TPOT s, scaleup backend) of one row simulated as a closed loop of ``c`` clients
    sending ``factor x c`` requests (module docstring)."""
    from fleet import simulate_serving, single_pool_fleet

    w, kv = dtypes(row)
    sm = _step_model(models, row, backend)
    c, isl, osl = int(row.batch_size), int(row.isl), int(row.osl)
    fab = FABRICS[row.system]
    spec = single_pool_fleet(row.model, fab, tp=int(row.tp_size), ep=int(row.ep), dtype=w, kv_dtype=kv,
                             stack=row.backend, batch=c, token_budget=CLOSED_LOOP_BUDGET, chunked_prefill=True)
    res = simulate_serving(spec, step_models={spec.pools[0].name: sm}, concurrency=c, requests=factor * c,
                           prompt=isl, output=osl)
    return (float(np.nanmean(res.ttft)), float(np.nanmean(res.tpot)),
            sm.deployment.provenance().get("backend", ""))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stack", default="all", choices=("all", "trtllm", "vllm", "sglang"))
    ap.add_argument("--backend", default="auto", help="scaleup kernel backend: auto, measured or analytic")
    ap.add_argument("--rows", action="store_true", help="print every row, not only the summary")
    ap.add_argument("--closed-loop", action="store_true",
                    help="TTFT / TPOT from a simulated closed-loop client (fleet.simulate_serving) instead of the "
                         "steady-state formula")
    ap.add_argument("--requests-factor", type=int, default=CLOSED_LOOP_REQUESTS,
                    help="closed loop: requests sent per in-flight slot (ASSUMPTION, default %(default)s)")
    args = ap.parse_args()
    from inference.measured import MISSING_EXTRA, available

    if not available():
        print("skipped: " + MISSING_EXTRA)
        return
    import logging

    logging.disable(logging.WARNING)
    stacks = ("trtllm", "vllm", "sglang") if args.stack == "all" else (args.stack,)
    d = silicon_rows(stacks)
    if d is None or not len(d):
        print("skipped: no silicon_sample.csv rows in the installed aiconfigurator-core")
        return
    models: dict = {}
    errs: dict = {}
    t0 = time.perf_counter()
    if args.rows:
        print("| stack | version | model | system | dtype/kv | TP | conc. | ISL/OSL | TTFT ms meas/pred | err "
              "| TPOT ms meas/pred | err | backend |")
        print("|---|---|---|---|---|---:|---:|---|---|---:|---|---:|---|")
    for row in d.itertuples():
        try:
            ttft, tpot, t_dec, be = predict(models, row, args.backend)
            if args.closed_loop:
                ttft, tpot, be = closed_loop(models, row, args.backend, args.requests_factor)
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            print(f"| {row.backend} | {row.id} | not computed: {type(exc).__name__}: {str(exc)[:100]} |")
            continue
        e_ttft = ttft / (row.silicon_ttft_ms * 1e-3) - 1
        e_tpot = tpot / (row.silicon_tpot_ms * 1e-3) - 1
        grp = (row.backend, row.model, row.system)
        errs.setdefault(grp, []).append((e_ttft, e_tpot, t_dec / (row.silicon_tpot_ms * 1e-3) - 1))
        if args.rows:
            w, kv = dtypes(row)
            print(f"| {row.backend} | {row.backend_version} | {row.model} | {row.system} | {w}/{kv} | "
                  f"{int(row.tp_size)} | {int(row.batch_size)} | {int(row.isl)}/{int(row.osl)} | "
                  f"{row.silicon_ttft_ms:.1f} / {ttft * 1e3:.1f} | {e_ttft:+.0%} | {row.silicon_tpot_ms:.2f} / "
                  f"{tpot * 1e3:.2f} | {e_tpot:+.0%} | {be} |")

    def med(xs: list[float]) -> str:
        return f"{statistics.median(abs(x) for x in xs):.1%}"

    def signed(xs: list[float]) -> str:
        return f"{statistics.median(xs):+.1%}"

    print("\n| stack | model | system | rows | TTFT median abs err (signed) | TPOT median abs err (signed) | "
          "TPOT worst | TPOT decode only (signed) |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for (stack, model, system), e in sorted(errs.items()):
        tt, tp, lo = [x[0] for x in e], [x[1] for x in e], [x[2] for x in e]
        print(f"| {stack} | {model} | {system} | {len(e)} | {med(tt)} ({signed(tt)}) | {med(tp)} ({signed(tp)}) | "
              f"{max(abs(x) for x in tp):.0%} | {med(lo)} ({signed(lo)}) |")
    for stack in stacks:
        e = [x for (s, _, _), v in errs.items() if s == stack for x in v]
        if e:
            tt, tp, lo = [x[0] for x in e], [x[1] for x in e], [x[2] for x in e]
            print(f"\n{stack}: {len(e)} held-out rows, TTFT median |error| {med(tt)} (signed {signed(tt)}), "
                  f"TPOT median |error| {med(tp)} (signed {signed(tp)}), worst TPOT {max(abs(x) for x in tp):.0%}; "
                  f"decode-only TPOT {med(lo)} (signed {signed(lo)})")
    if args.closed_loop:
        print(f"\nTTFT / TPOT: closed loop of c clients, {args.requests_factor} x c requests, token budget "
              f"{CLOSED_LOOP_BUDGET}, chunked prefill (ASSUMPTIONS); decode only: the steady-state formula's T_dec")
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
