"""How long `scaleup measure` should take on a GPU, estimated before a GPU is lent (prints a table).

The device script (bench/device_measure.sh) gets one short lease, so its run time is estimated here from
what the torch backend will do at every point of the default grid (``inference/measure/backends.py``,
``TorchBackend.time`` on a GPU):

* operands: ``sets`` rotated copies (together > 3x the L2, as ``Backend.sets_for``), drawn on the device;
* ``max(3, sets)`` warm-up calls and one eager pass over the sets (the estimate of a call's time);
* ``inner = gpu_inner(...)`` calls per sample; graph mode: one warm-up pass on a side stream, the capture of
  ``inner`` launches, one replay, then ``repeats`` replays; eager mode: ``repeats`` x ``inner`` launches;
* the kernel time of a call: the analytic model of the chip preset (``inference.measure.compare.model_time``,
  the same closed forms ``scaleup measure --compare`` prints), launched from Python no faster than
  LAUNCH_S per call.

Host-side costs are ASSUMPTIONs (no GPU here to measure them): LAUNCH_S per eager torch call, CAPTURE_S per
captured launch (capture + instantiation), POINT_S of Python per point (closures, CSV write, progress),
STARTUP_S for the interpreter, ``import torch`` and CUDA context. Each is printed with its share, so the
sensitivity is visible: the total is what to compare with the issue's 2-minute bar, with margin.

Usage: python bench/measure_budget.py [--model llama3.1-8b] [--tp 1] [--chip h100-sxm] [--dtypes bf16,fp8]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections import defaultdict

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
sys.path.insert(0, os.path.dirname(_here))  # the repository root: runs where scaleup is not installed (GPU box)

from inference import kernels as _kernels  # noqa: E402
from inference.measure import Grid, points  # noqa: E402
from inference.measure.backends import gpu_inner  # noqa: E402
from inference.measure.compare import model_time  # noqa: E402
from topo import chip_preset  # noqa: E402

LAUNCH_S = 8e-6  # ASSUMPTION: one eager torch op from Python on the GPU machine's host (5-20 us seen typically)
CAPTURE_S = 10e-6  # ASSUMPTION: one launch recorded into a CUDA graph plus its share of instantiation
POINT_S = 0.015  # ASSUMPTION: Python per point: building the closures, drawing operands, CSV row, progress
STARTUP_S = 15.0  # ASSUMPTION: interpreter + import torch + CUDA context + probes, before the first point
L2_BYTES = 50 << 20  # H100 SXM L2 (50 MB), the rotation target of the backend
REPEATS = 11  # make_backend's GPU default
WARMUP = 3
TARGET_SAMPLE_S = 1e-3  # TorchBackend on a GPU


def operand_bytes(r: dict) -> float:
    """Bytes of one operand set, as the torch backend sizes its rotation (bf16 = 2 B, fp8 = 1 B)."""
    k = r["kind"]
    if k == "gemm":
        w = 1.0 if r["dtype"] == "fp8" else 2.0
        return w * (r["m"] * r["k"] + r["n"] * r["k"]) + 2.0 * r["m"] * r["n"]
    if k in ("attn_decode", "attn_prefill"):
        sq = 1 if k == "attn_decode" else r["seq"]
        return 2.0 * r["batch"] * r["head_dim"] * (2 * r["heads"] * sq + 2 * r["kv_heads"] * r["seq"])
    if k == "moe":
        f = r["n"] / r["tp"]
        return 2.0 * (r["experts"] / r["ep"] * 3 * r["k"] * f + 2 * r["m"] * r["k"])
    if k in ("elementwise", "hbm_read", "hbm_copy"):
        return r["bytes"]
    return 4.0


def point_seconds(r: dict, t: float) -> dict[str, float]:
    """Seconds of each phase of one point whose kernel takes ``t`` s on the device."""
    per = operand_bytes(r)
    sets = max(1, min(64, math.ceil(3 * L2_BYTES / max(per, 1.0))))
    call = max(t, LAUNCH_S)  # an eager call: the kernel or the host's launch, whichever is longer
    inner = gpu_inner(call, sets, r["mode"], TARGET_SAMPLE_S)
    out = {"python": POINT_S, "operands": sets * (3 * LAUNCH_S + per / 2.0e12),
           "warm-up": (max(WARMUP, sets) + sets) * call}
    if r["mode"] == "graph":
        out["capture"] = sets * call + inner * CAPTURE_S
        out["samples"] = (REPEATS + 1) * inner * t
    else:
        out["capture"] = 0.0
        out["samples"] = REPEATS * inner * call
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="llama3.1-8b")
    ap.add_argument("--tp", type=int, default=1)
    ap.add_argument("--chip", default="h100-sxm")
    ap.add_argument("--dtypes", default="bf16,fp8", help="what an H100 runs by default: bf16 and fp8")
    args = ap.parse_args()
    chip = chip_preset(args.chip)
    prof = _kernels.profile_for(chip, "trtllm")
    pts = points(args.model, args.tp, 1, tuple(args.dtypes.split(",")), Grid())
    by: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    count: dict[str, int] = defaultdict(int)
    for r in pts:
        full = {"m": 0, "n": 0, "k": 0, "batch": 0, "seq": 0, "heads": 0, "kv_heads": 0, "head_dim": 0,
                "experts": 0, "top_k": 0, "tp": 1, "ep": 1, "ranks": 0, "bytes": 0, **r}
        t = model_time(full, chip, prof)
        if t is None:
            continue
        t = t - prof.launch_graph if r["mode"] == "graph" else t  # the kernel alone; gaps are counted above
        key = f"{r['kind']} {r['mode']}"
        count[key] += 1
        for phase, s in point_seconds(full, t).items():
            by[key][phase] += s
    phases = ("python", "operands", "warm-up", "capture", "samples")
    print(f"# scaleup measure --model {args.model} --tp {args.tp} on {args.chip} (dtypes {args.dtypes}), "
          f"{len(pts)} points, {REPEATS} repeats: estimated seconds")
    print(f"{'section':24s} {'points':>6s} " + " ".join(f"{p:>9s}" for p in phases) + f" {'total':>9s}")
    tot = defaultdict(float)
    for key in by:
        row = by[key]
        for p in phases:
            tot[p] += row[p]
        print(f"{key:24s} {count[key]:6d} " + " ".join(f"{row[p]:9.2f}" for p in phases)
              + f" {sum(row.values()):9.2f}")
    total = sum(tot.values())
    print(f"{'all points':24s} {sum(count.values()):6d} " + " ".join(f"{tot[p]:9.2f}" for p in phases)
          + f" {total:9.2f}")
    print(f"startup (ASSUMPTION)     {STARTUP_S:.0f} s; estimated wall time of `scaleup measure`: "
          f"{total + STARTUP_S:.0f} s (bar: 120 s)")
    # sensitivity: every host-side cost 4x (a slow host), the device's kernel time unchanged
    host = tot["python"] + tot["operands"] + tot["warm-up"] + tot["capture"]
    print(f"sensitivity: host costs x4 and start-up x2 -> {4 * host + tot['samples'] + 2 * STARTUP_S:.0f} s")


if __name__ == "__main__":
    main()
