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
from .calibrate import (
    FIT_SYSTEMS,
    NCCL_VERSION,
    SYSTEMS,
    aiconfigurator_dir,
    aiconfigurator_table,
)
from .stacks import FAMILY_OF_SYSTEM, STACKS, all_reduce_tier, chip_family, stack_all_reduce, stack_table


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
    if ideal:
        d["predicted"] = [collective("all_reduce", fab, b, group=list(range(int(m))), ideal=True).time
                          for m, b in zip(d["ranks"], d["bytes"])]
        return d
    # the bundled fabric's chip family is the system's (FAMILY_OF_SYSTEM); the CLI's --stack runs the same
    assert chip_family(fab) == FAMILY_OF_SYSTEM[system], (system, fab.chip.name)
    d["predicted"] = [stack_all_reduce(fab, b, list(range(int(m))), stack).time for m, b in zip(d["ranks"], d["bytes"])]
    return d


def nccl_versions(system: str) -> list[str]:
    """The NCCL versions whose nccl-tests table (``comm/nccl/<version>/nccl_perf.parquet``) the installed
    aiconfigurator-core ships for ``system``, oldest first (needs ``scaleup-sim[measured]``)."""
    base = aiconfigurator_dir() / system / "comm" / "nccl"
    found = [p.name for p in base.iterdir() if (p / "nccl_perf.parquet").is_file()] if base.is_dir() else []
    return sorted(found, key=lambda v: tuple(int(x) if x.isdigit() else 0 for x in v.split(".")))


def nccl_version_ratios(system: str, reference: str = NCCL_VERSION, min_bytes: float = 0.0):
    """Measured all-reduce times of every NCCL version shipped for ``system`` against ``reference``, and of
    each serving stack's NCCL rung against every version: a DataFrame indexed by (ranks, bytes).

    Columns ``<v>/<reference>``: the nccl-tests table of version ``v`` over the reference's (half, median of
    repeats; only versions that measured all-reduce). Columns ``<stack>/<v>``: the stack's measured TP
    all-reduce (:func:`collectives.stacks.stack_table`) over version ``v``, on the points its ladder runs on
    NCCL (:func:`collectives.stacks.all_reduce_tier` is None); NaN elsewhere; none for a system outside
    :data:`collectives.stacks.FAMILY_OF_SYSTEM` or without the stack's table. Sizes below ``min_bytes`` (bytes)
    are dropped. Measurements only, no model: whether the NCCL a stack links explains its distance from
    nccl-tests (docs/collectives.md, "Which NCCL the stacks link").
    """
    import pandas as pd

    def times(d):
        d = d[d["collective"] == "all_reduce"]
        return d.groupby(["ranks", "bytes"])["seconds"].median()

    tables = {}
    for v in nccl_versions(system):
        t = times(aiconfigurator_table(system, "nccl", v))
        if len(t):
            tables[v] = t
    if reference not in tables:
        raise topo.SpecError(f"reference: no NCCL {reference} all-reduce table for {system}; "
                             f"shipped: {', '.join(tables) or 'none'}")
    cols = {f"{v}/{reference}": t / tables[reference] for v, t in tables.items() if v != reference}
    fam = FAMILY_OF_SYSTEM.get(system)
    for stack in STACKS if fam else ():  # the ladders know H100/H200 (hopper) and B200/GB200 (blackwell)
        try:
            s = times(stack_table(system, stack))
        except topo.SpecError:  # no table of this stack for the system
            continue
        on_nccl = [all_reduce_tier(stack, fam, int(m), float(b)) is None for m, b in s.index]
        s = s[np.asarray(on_nccl, dtype=bool)]
        for v, t in tables.items():
            cols[f"{stack}/{v}"] = s / t
    out = pd.DataFrame(cols)
    return out[out.index.get_level_values("bytes") >= min_bytes]


def _ratio_table(r) -> str:
    """Markdown of :func:`nccl_version_ratios` (sizes in MiB; blank where a table has no point), then the
    median of each column over the points >= 64 MiB per rank count."""
    r = r.dropna(how="all")
    head = ["|---:|---:|" + "---:|" * len(r.columns)]

    def cells(row) -> str:
        return " | ".join("" if np.isnan(x) else f"{x:.3f}" for x in np.asarray(row, dtype=float))

    lines = ["| ranks | MiB | " + " | ".join(r.columns) + " |", *head]
    for (m, b), row in r.iterrows():
        lines.append(f"| {int(m)} | {b / 2**20:g} | {cells(row)} |")
    big = r[r.index.get_level_values("bytes") >= 64 * 2**20].groupby(level="ranks").median()
    lines += ["", "Median over the points >= 64 MiB:", "", "| ranks | | " + " | ".join(r.columns) + " |", *head]
    lines += [f"| {int(m)} | | {cells(row)} |" for m, row in big.iterrows()]
    return "\n".join(lines)


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


def by_bucket(df) -> str:
    """Markdown: per system (role), stack, collective and rank count, one column per size bucket
    (:data:`collectives.calibrate.BUCKETS`) and one over every size, each cell ``median |ratio - 1| / worst
    ratio`` ("-" where the table has no point); the rows in the order of :func:`summary`."""
    from .calibrate import BUCKETS, _bucket

    names = [name for _, name in BUCKETS]
    bucket = df["bytes"].map(_bucket)

    def cell(r: np.ndarray) -> str:
        if len(r) == 0:
            return "-"
        return f"{np.median(np.abs(r - 1)):.0%} / {r[np.argmax(np.abs(np.log(r)))]:.2f}"

    lines = ["| system (role) | stack | collective | ranks | " + " | ".join(names) + " | all points |",
             "|---|---|---|---:|" + "---:|" * (len(names) + 1)]
    for (system, role, stack, coll), g in df.groupby(["system", "role", "stack", "collective"], sort=False):
        for m in sorted(set(int(x) for x in g["ranks"])):
            h = g[g["ranks"] == m]
            cells = [cell(h[bucket[h.index] == b]["ratio"].to_numpy()) for b in names]
            cells.append(cell(h["ratio"].to_numpy()))
            lines.append(f"| {system} ({role}) | {stack} | {coll} | {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m collectives.validation", description=__doc__.splitlines()[0])
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated aiconfigurator systems")
    ap.add_argument("--detail", action="store_true",
                    help="also print, per rank count, each size bucket's median abs error / worst ratio")
    ap.add_argument("--ideal", action="store_true", help="the physics alone (to see what calibration changes)")
    ap.add_argument("--nccl-versions", action="store_true",
                    help="print the measured all-reduce ratios between the shipped NCCL versions' tables and of each "
                         "stack's NCCL rung to each version (>= 1 MiB; measurements, no model)")
    args = ap.parse_args(argv)
    if args.nccl_versions:
        try:
            for system in [s.strip() for s in args.systems.split(",") if s.strip()]:
                r = nccl_version_ratios(system, min_bytes=2.0**20)
                print(f"\n## {system}: measured all-reduce time ratios\n")
                print(_ratio_table(r))
        except topo.ScaleupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        df = validate([s.strip() for s in args.systems.split(",") if s.strip()], ideal=args.ideal)
    except topo.ScaleupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(df))
    if args.detail:
        print("\nPer GPU count and size bucket (median |ratio - 1| / worst ratio):\n")
        print(by_bucket(df))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__: list[Any] = ["validate", "summary", "by_bucket", "nccl_versions", "nccl_version_ratios", "main"]
