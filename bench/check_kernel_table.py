"""Does `scaleup infer --kernels TABLE` reproduce a measured table? (issue 17's bar; prints a table)

On grid points (a decode batch and a prefill length that are measured token counts ``m``) each op of one
GEMM takes the measured time and the MLP the sum of its kernels (gate_up + down + silu_mul), within 3 %;
prefill (eager) takes ``max(t, eager floor)`` per kernel, decode (graph) the time as measured. Between two
measured decode batches the qkv time moves monotonically from one measured time to the other.

Usage: python bench/check_kernel_table.py TABLE [--model llama3.1-8b] [--fabric dgx-h100] [--tp 1]
Exit status 1 when a check fails (the device script records it; no test depends on a GPU table).
"""

from __future__ import annotations

import argparse
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
sys.path.insert(0, os.path.dirname(_here))  # the repository root: runs where scaleup is not installed (GPU box)

from inference import estimate, load_model  # noqa: E402
from inference.measure import gemm_shapes, read_table  # noqa: E402

TOL = 0.03


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table")
    ap.add_argument("--model", default="llama3.1-8b")
    ap.add_argument("--fabric", default="dgx-h100")
    ap.add_argument("--tp", type=int, default=1)
    args = ap.parse_args()
    t = read_table(args.table)
    shapes = gemm_shapes(load_model(args.model), args.tp)
    ms = sorted({int(r["m"]) for r in t.rows if r["kind"] == "gemm" and r["dtype"] == "bf16"})
    if not ms:
        print(f"{args.table}: no bf16 GEMM rows: nothing to check")
        return 1
    batch = max(m for m in ms if m <= 16)
    prompt = max(m for m in ms if m <= 1024)
    floor = t.launch_eager

    def gemm(name: str, m: int) -> float | None:
        n, k = shapes[name]
        return t.gemm(m, n, k, "bf16")

    def silu(m: int, mode: str) -> float | None:
        rows = [r["time_s"] for r in t.rows if r["kind"] == "elementwise" and r["name"] == "silu_mul"
                and r["mode"] == mode and r["m"] == m]
        return rows[0] if rows else None

    rep = estimate(args.model, args.fabric, tp=args.tp, dp=1, batch=batch, prompt=prompt, output=4, dtype="bf16",
                   kernels=args.table)
    pre1 = estimate(args.model, args.fabric, tp=args.tp, dp=1, batch=1, prompt=prompt, output=2, dtype="bf16",
                    kernels=args.table)
    ops = {("decode", r["op"]): r for r in rep.ops if r["phase"] == "decode"}
    ops.update({("prefill", r["op"]): r for r in pre1.ops if r["phase"] == "prefill"})
    fails = 0
    print(f"# {os.path.basename(args.table)} ({t.provenance.get('device', '?')}): infer --kernels on grid points "
          f"(decode batch {batch}, prefill 1 x {prompt}); tolerance {TOL:.0%}")
    print(f"{'phase':8s} {'op':8s} {'m':>6s} {'table us':>12s} {'infer us':>12s} {'source':>8s} {'dev':>8s}  ok")
    for phase, m in (("decode", batch), ("prefill", prompt)):
        eager = phase == "prefill"
        parts = {"qkv": [gemm("qkv", m)], "o_proj": [gemm("o_proj", m)],
                 "mlp": [gemm("gate_up", m), gemm("down", m), silu(m, "eager" if eager else "graph")]}
        if phase == "decode":
            parts["lm_head"] = [gemm("lm_head", m)]
        for op, ts in parts.items():
            row = ops.get((phase, op))
            if row is None or any(x is None for x in ts):
                print(f"{phase:8s} {op:8s} {m:6d} {'-':>12s} {'-':>12s} {'':>8s} {'':>8s}  missing")
                fails += 1
                continue
            want = sum(max(x, floor) if eager else x for x in ts)
            dev = row["time"] / want - 1
            ok = abs(dev) <= TOL and row["source"] == "table"
            fails += not ok
            print(f"{phase:8s} {op:8s} {m:6d} {want * 1e6:12.3f} {row['time'] * 1e6:12.3f} {row['source']:>8s} "
                  f"{dev * 100:+7.2f}%  {'yes' if ok else 'NO'}")
    # monotone interpolation between the two measured decode batches around 24 (16 and 32 on a GPU grid)
    lo = max(m for m in ms if m <= 16)
    hi = min((m for m in ms if m > lo), default=None)
    if hi is not None:
        times = []
        for b in range(lo, hi + 1):
            r = estimate(args.model, args.fabric, tp=args.tp, dp=1, batch=b, prompt=prompt, output=2, dtype="bf16",
                         kernels=args.table)
            times.append(next(x["time"] for x in r.ops if x["phase"] == "decode" and x["op"] == "qkv"))
        a, b = gemm("qkv", lo), gemm("qkv", hi)
        steps = [y - x for x, y in zip(times, times[1:])]
        mono = all(s >= 0 for s in steps) or all(s <= 0 for s in steps)
        inside = all(min(a, b) * (1 - 1e-9) <= x <= max(a, b) * (1 + 1e-9) for x in times)
        ends = abs(times[0] / a - 1) <= TOL and abs(times[-1] / b - 1) <= TOL
        ok = mono and inside and ends
        fails += not ok
        print(f"decode qkv over batch {lo}..{hi}: {times[0] * 1e6:.3f} .. {times[-1] * 1e6:.3f} us, monotone {mono}, "
              f"between the measured ends {inside}, ends reproduced {ends}  {'yes' if ok else 'NO'}")
    print(f"{'all checks pass' if not fails else f'{fails} check(s) failed'}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
