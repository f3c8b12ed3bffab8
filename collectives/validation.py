"""The calibrated communication model beside measured nccl-tests tables: ``python -m collectives.validation``.

For every system of :data:`collectives.calibrate.SYSTEMS` (H100 and B200: fitted; H200 and GB200: held out,
never tuned) and every measured point of the aiconfigurator-core tables (NCCL 2.29.2 all-reduce,
all-gather, reduce-scatter, all-to-all; the TP all-reduce of TensorRT-LLM 1.3.0rc20 (AUTO), vLLM 0.24.0 and
SGLang 0.5.14, CUDA-graph rows), the bundled fabric is run by the public API
(``collectives.collective(..., algorithm="auto")`` on its first ``ranks`` chips, the default calibrated
model of its ``comm:`` block; for the serving stacks the rung of :func:`collectives.stacks.all_reduce_tier`
that the stack runs at that size, on its preset (``trtllm-*``, ``vllm-*``, ``sglang-*``), NCCL above) and
the ratio predicted / measured is reported per system, collective, ranks and size bucket. Needs the optional
extra ``scaleup-sim[measured]``. Every figure comes from the model; the tables are read from the installed
package at run time.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

import topo

from .api import collective
from .calibrate import FIT_SYSTEMS, SYSTEMS, aiconfigurator_table, error_table
from .stacks import FAMILY_OF_SYSTEM, STACKS, all_reduce_tier, stack_table, tier_comm


def validate(systems: list[str] | None = None, ideal: bool = False):
    """Every measured point with the model's time: a DataFrame (system, role, stack, collective, ranks,
    bytes, seconds, predicted, ratio)."""
    import pandas as pd

    frames = []
    for system in systems or list(SYSTEMS):
        fab = topo.load(SYSTEMS[system])
        d = aiconfigurator_table(system, "nccl")
        d["predicted"] = [collective(c, fab, b, group=list(range(int(m))), ideal=ideal).time
                          for c, m, b in zip(d["collective"], d["ranks"], d["bytes"])]
        frames.append(d)
        for stack in STACKS:
            frames.append(_stack_rows(system, stack, fab, ideal))
    out = pd.concat(frames, ignore_index=True)
    out["role"] = np.where(out["system"].isin(FIT_SYSTEMS), "fit", "held-out")
    out["ratio"] = out["predicted"] / out["seconds"]
    return out


def _stack_rows(system: str, stack: str, fab, ideal: bool):
    """The serving stack's measured all-reduce points with the model's time: each on the rung the stack runs
    at its size (its preset, restricted to that rung's algorithm), NCCL (the fabric's comm:) above."""
    d = stack_table(system, stack)
    fam = FAMILY_OF_SYSTEM[system]
    views: dict[tuple[str, str], Any] = {}
    pred = []
    for m, b in zip(d["ranks"], d["bytes"]):
        t = all_reduce_tier(stack, fam, int(m), float(b))
        f = fab
        if t is not None:
            f = views.get((t.comm, t.algorithm))
            if f is None:
                f = views[(t.comm, t.algorithm)] = topo.load(SYSTEMS[system], comm=tier_comm(t))
        pred.append(collective("all_reduce", f, b, group=list(range(int(m))), ideal=ideal).time)
    d["predicted"] = pred
    return d


def summary(df) -> str:
    """Markdown: per system, stack and collective: points, median |ratio - 1|, worst ratio, median at >= 64 MiB."""
    lines = ["| system | role | stack | collective | points | median abs err | worst ratio | median abs err >= 64 MiB |",
             "|---|---|---|---|---:|---:|---:|---:|"]
    for (system, role, stack, coll), g in df.groupby(["system", "role", "stack", "collective"], sort=False):
        r = g["ratio"].to_numpy()
        big = g[g["bytes"] >= 64 * 2**20]["ratio"].to_numpy()
        worst = r[np.argmax(np.abs(np.log(r)))]
        lines.append(f"| {system} | {role} | {stack} | {coll} | {len(r)} | {np.median(np.abs(r - 1)):.1%} | "
                     f"{worst:.2f} | {np.median(np.abs(big - 1)):.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m collectives.validation", description=__doc__.splitlines()[0])
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated aiconfigurator systems")
    ap.add_argument("--detail", action="store_true", help="also print the per-ranks, per-size-bucket table")
    ap.add_argument("--ideal", action="store_true", help="the physics alone (to see what calibration changes)")
    args = ap.parse_args(argv)
    try:
        df = validate([s.strip() for s in args.systems.split(",") if s.strip()], ideal=args.ideal)
    except topo.ScaleupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(df))
    if args.detail:
        for system, g in df.groupby("system", sort=False):
            print(f"\n## {system} ({g['role'].iloc[0]})\n")
            print(error_table(g))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__: list[Any] = ["validate", "summary", "main"]
