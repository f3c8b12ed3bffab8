"""Benchmark of the serving simulation: simulated requests per wall-clock second.

A 10-minute trace at 50 requests/s (about 30,000 requests, azure-conv lengths) on fleets of several
hundred replicas: colocated, colocated with chunked prefill, and disaggregated (prefill and decode pools
with every KV transfer simulated on a leaf/core network). Target: the whole trace in under 60 s.

Step times: ``inference.StepModel`` of llama3.1-8b (tp 1) on maia200 / gb200-nvl72 when the tree can
build it, else an affine :class:`fleet.LinearStepModel` of similar magnitude (said in the output).
Run: ``python bench/serve.py [--quick]``.

``--cli`` times CLI commands instead (each in its own process; wall and CPU seconds, CPU being the steadier figure
on a shared machine): ``scaleup serve`` of llama3.1-70b on maia200 at tp 8 and tp 4 (every step's TP all-reduce
simulated on all 768 / 1,536 groups of the 6,144-chip fabric at once, at each message size), on gb200-nvl72, and
``scaleup plan`` (the README's, or a small one); ``--only NAME`` picks rows by substring.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time

# this script's folder holds bench/inference.py, which would shadow the inference package
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from fleet import LinearStepModel, poisson_trace, simulate_serving  # noqa: E402


def step_models():
    """(prefill model, decode model, label)."""
    try:
        from inference import StepModel

        pm = StepModel("llama3.1-8b", "gb200-nvl72", tp=1)
        dm = StepModel("llama3.1-8b", "maia200", tp=1)
        pm.prefill_time(1024, 1), dm.decode_time(8, 1024)
        return pm, dm, "inference.StepModel llama3.1-8b tp1 (gb200-nvl72 prefill, maia200 decode)"
    except Exception as exc:  # noqa: BLE001 - a benchmark reports and falls back
        lin = LinearStepModel(prefill_base=3e-3, prefill_per_token=6e-5, decode_base=8e-3, decode_per_seq=4e-5,
                              decode_per_kv_token=1.5e-9, kv_bytes_per_token=131072, kv_capacity_tokens=8e5,
                              chips=1, cost_per_hour=3.0)
        return lin, lin, f"LinearStepModel (inference.StepModel unavailable: {str(exc)[:60]})"


def fleets(n: int) -> dict[str, dict]:
    sm = {"prefill_per_token": 1e-4}  # placeholder; real step models are passed in step_models=
    return {
        f"colocated x{n}": {"pools": [{"name": "c", "step_model": sm, "replicas": n, "batch": 64}]},
        f"colocated chunked x{n}": {"pools": [{"name": "c", "step_model": sm, "replicas": n, "batch": 64,
                                               "chunked_prefill": True, "token_budget": 2048}]},
        f"disaggregated {n // 3}P+{n - n // 3}D": {
            "pools": [{"name": "p", "role": "prefill", "step_model": sm, "replicas": n // 3, "batch": 16},
                      {"name": "d", "role": "decode", "step_model": sm, "replicas": n - n // 3, "batch": 128}],
            "kv_network": {"bandwidth": "400Gbps", "latency": "2us", "pool_uplink": "12.8Tbps"}},
    }


#: --cli rows: name -> scaleup arguments
COMMANDS: dict[str, list[str]] = {
    "serve maia200 tp8 c32": ["serve", "--model", "llama3.1-70b", "--fabric", "maia200", "--tp", "8", "--concurrency", "32"],
    "serve maia200 tp4 c32": ["serve", "--model", "llama3.1-70b", "--fabric", "maia200", "--tp", "4", "--concurrency", "32"],
    "serve gb200-nvl72 tp8 c32": ["serve", "--model", "llama3.1-70b", "--fabric", "gb200-nvl72", "--tp", "8",
                                  "--concurrency", "32"],
    "plan small (2 candidates, verify 2)": ["plan", "--model", "llama3.1-70b", "--rate", "5", "--candidates",
                                            "dgx-h100,gb200-nvl72", "--tps", "4,8", "--batches", "32", "--modes",
                                            "colocated", "--duration", "20s", "--verify", "2"],
    "plan README (3 candidates, verify 5)": ["plan", "--model", "llama3.1-70b", "--rate", "20", "--slo-ttft", "1s",
                                             "--slo-tpot", "50ms", "--candidates", "maia200,gb200-nvl72,dgx-h100"],
}


def time_commands(only: str | None) -> None:
    """Run each of :data:`COMMANDS` (those whose name holds ``only``) in a process of its own; print wall and CPU s."""
    exe = shutil.which("scaleup")
    base = [exe] if exe else [sys.executable, "-c", "import sys, cli; sys.argv[0] = 'scaleup'; cli.main()"]
    print("CLI commands, each in its own process (measured on the shared 2-core machine, under load from other jobs)")
    head = f"{'command':<40}{'wall s':>9}{'CPU s':>9}{'exit':>6}"
    print(head)
    print("-" * len(head))
    for name, argv in COMMANDS.items():
        if only and only not in name:
            continue
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        rc = subprocess.run(base + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        print(f"{name:<40}{wall:>9.1f}{cpu:>9.1f}{rc:>6}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1-minute trace instead of 10")
    ap.add_argument("--replicas", type=int, default=300)
    ap.add_argument("--cli", action="store_true", help="time scaleup serve / plan commands instead (COMMANDS)")
    ap.add_argument("--only", default=None, help="with --cli: the rows whose name holds this text")
    args = ap.parse_args()
    if args.cli:
        time_commands(args.only)
        return
    duration = 60.0 if args.quick else 600.0
    trace = poisson_trace(50.0, duration, prompt="azure-conv", seed=0)
    pm, dm, label = step_models()
    print(f"serving benchmark: {len(trace)} requests at 50 req/s over {duration:g} s; step model: {label}")
    print("(measured on the shared 2-core machine, under load from other jobs)")
    head = (f"{'fleet':<28}{'replicas':>9}{'requests':>10}{'wall s':>9}{'req/s wall':>12}{'iterations':>12}"
            f"{'KV xfers':>10}{'P90 TTFT ms':>13}{'P90 TPOT ms':>13}")
    print(head)
    print("-" * len(head))
    for name, spec in fleets(args.replicas).items():
        sms = {"c": pm, "p": pm, "d": dm}
        t0 = time.perf_counter()
        res = simulate_serving(spec, trace, step_models=sms)
        wall = time.perf_counter() - t0
        s = res.summary()
        reps = sum(p["replicas"] for p in spec["pools"])
        print(f"{name:<28}{reps:>9}{res.n:>10}{wall:>9.2f}{res.n / wall:>12,.0f}{res.extra['iterations']:>12,}"
              f"{res.kv_transfers:>10,}{s['ttft_p90_s'] * 1e3:>13.1f}{s['tpot_p90_s'] * 1e3:>13.2f}")


if __name__ == "__main__":
    main()
