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
    CUSTOM_TABLE,
    FIT_SYSTEMS,
    NCCL_VERSION,
    STACK_TABLES,
    SYSTEMS,
    aiconfigurator_dir,
    aiconfigurator_table,
)
from .stacks import FAMILY_OF_SYSTEM, STACKS, all_reduce_tier, chip_family, stack_all_reduce, stack_table

#: a measured point is flagged as a measurement outlier (:func:`outlier_flags`) when it is more than this
#: factor slower than both its size neighbours in its own table (against the monotone growth of time with
#: size) and than the median of the other shipped versions' tables at the same point. ASSUMPTION: 1.25, above
#: the repeat-to-repeat spread of one collection (B200 NCCL 2.27.3, 3 repeats of every point: median 0.3 %,
#: 90th percentile 5 %, 99th 17 %, 2 of 756 beyond 25 %). Sensitivity (docs/collectives.md, "Validation"):
#: 1.15 flags 9 points (5 more, H200 small messages, all within 1.5x of the model), 1.25 flags 4, 1.5 and 2.0
#: flag 3 (the B200 all-gather point, 1.44x its larger neighbour, is no longer flagged).
OUTLIER_FACTOR = 1.25


def measured_times(fab: topo.Fabric | str, collective_name: str, ranks: int, sizes: Any,
                   stack: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """The measured time of each size on the system a bundled fabric stands for (``--measured``), s.

    ``fab`` must be one of :data:`collectives.calibrate.SYSTEMS`' fabrics (``dgx-h100``, ``dgx-h200``,
    ``dgx-b200``, ``gb200-nvl72``): its aiconfigurator-core table (nccl-tests 2.29.2, or the serving stack's TP
    all-reduce with ``stack``) at ``ranks`` GPUs. A size on the table's grid is its measured point; a size
    between two points is interpolated linearly in log time over log size (``interpolated`` True); a size
    outside the grid, or a collective / rank count the table lacks, is NaN.

    Returns:
        (seconds, interpolated, source): arrays over ``sizes`` and a one-line description of the table.

    Raises:
        SpecError: the fabric is not one of those systems', or aiconfigurator-core (the ``measured`` extra) is
            missing.
    """
    name = fab if isinstance(fab, str) else fab.name
    by_fabric = {v: k for k, v in SYSTEMS.items()}
    if name not in by_fabric:
        raise topo.SpecError(f"--measured: no measured table for fabric {name!r}; tables exist for "
                             f"{', '.join(sorted(by_fabric))} (aiconfigurator-core)")
    system = by_fabric[name]
    if stack in (None, "nccl"):
        d = aiconfigurator_table(system, "nccl")
        src = f"nccl-tests {NCCL_VERSION} {system} (aiconfigurator-core, half)"
    else:
        d = stack_table(system, stack)
        src = f"{stack} TP all-reduce {system} (aiconfigurator-core, bf16, CUDA graphs)"
    d = d[(d["collective"] == collective_name) & (d["ranks"] == int(ranks))]
    grid = d.groupby("bytes")["seconds"].median().sort_index()
    x, y = np.log(grid.index.to_numpy(float)), np.log(grid.to_numpy(float))
    sz = np.atleast_1d(np.asarray(sizes, dtype=float))
    out = np.full(len(sz), np.nan)
    interp = np.zeros(len(sz), dtype=bool)
    if len(x):
        ls = np.log(np.maximum(sz, 1e-300))
        inside = (ls >= x[0] - 1e-12) & (ls <= x[-1] + 1e-12)
        out[inside] = np.exp(np.interp(ls[inside], x, y))
        keys = grid.index.to_numpy(float)
        j = np.clip(np.searchsorted(keys, sz), 0, len(keys) - 1)
        exact = keys[j] == sz
        out[exact] = grid.to_numpy(float)[j[exact]]  # the measured point itself, not exp(log(t))
        interp = inside & ~exact
    return out, interp, src


def _kind(stack: str) -> tuple[str, str]:
    """(aiconfigurator_table kind, the version the validation uses) of a table's ``stack`` column."""
    if stack == "nccl":
        return "nccl", NCCL_VERSION
    if stack == "trtllm":
        return "custom", CUSTOM_TABLE[1]
    return stack, STACK_TABLES[stack][0]


def table_versions(system: str, stack: str) -> list[str]:
    """The versions of ``stack``'s table (``nccl``, ``trtllm``, ``vllm``, ``sglang``) the installed
    aiconfigurator-core ships for ``system``, oldest first (directories holding the table's parquet)."""
    folder, name = {"nccl": ("nccl", "nccl_perf.parquet"), "trtllm": (CUSTOM_TABLE[0], "custom_allreduce_perf.parquet")
                    }.get(stack, (stack, "custom_allreduce_perf.parquet"))
    base = aiconfigurator_dir() / system / "comm" / folder
    found = [p.name for p in base.iterdir() if (p / name).is_file()] if base.is_dir() else []
    return sorted(found, key=lambda v: tuple(int(x) if x.isdigit() else 0 for x in v.replace("rc", ".").split(".")))


def outlier_flags(points, others, factor: float = OUTLIER_FACTOR) -> np.ndarray:
    """Which measured points are measurement outliers: a bool array aligned with the rows of ``points``.

    A point (collective, ranks, bytes; the median of its repeats in ``points``) is flagged when both hold:

    - **its own table**: it is a spike, more than ``factor`` x the time of the next larger size (time does
      not fall as a message grows) and, when a smaller size exists, more than ``factor`` x its time too;
    - **the other versions**: ``others`` (the other shipped tables of the same system and kind,
      concatenated) measured the same point, and ``factor`` x their median is below it.

    Only spikes: a timing glitch (interference, a late clock ramp) makes a point slower; a point faster than
    both neighbours is, on these tables, the neighbour of a spike (8x H100 SGLang: 512 B at 3.3 us between
    256 B at 4.8 and the 38 us glitch at 1 KiB), not a glitch of its own.

    Only measurements are used (never the model), so the flag cannot follow the model's misses; the
    validation prints the raw worst ratio as its headline and the worst without flagged points beside it.

    Args:
        points: DataFrame (collective, ranks, bytes, seconds) of one table. others: the same columns, the
            other versions (may be empty). factor: :data:`OUTLIER_FACTOR`.
    """
    keys = ["collective", "ranks", "bytes"]
    med = points.groupby(keys)["seconds"].median().sort_index()
    flagged: set = set()
    alt = others.groupby(keys)["seconds"].median() if len(others) else None
    for _, t in med.groupby(level=[0, 1]):
        v = t.to_numpy(dtype=float)
        prev = np.concatenate([[np.nan], v[:-1]])
        nxt = np.concatenate([v[1:], [np.nan]])
        o = (alt.reindex(t.index).to_numpy(dtype=float) if alt is not None else np.full(len(v), np.nan))
        with np.errstate(invalid="ignore"):
            spike = (v > factor * nxt) & (np.isnan(prev) | (v > factor * prev)) & (v > factor * o)
        flagged.update(k for k, f in zip(t.index, spike) if f)
    return np.array([k in flagged for k in zip(points["collective"], points["ranks"], points["bytes"])], dtype=bool)


def _flag(system: str, stack: str, d):
    """``d`` (one table's rows) with ``outlier``: :func:`outlier_flags` against the other shipped versions."""
    import pandas as pd

    kind, used = _kind(stack)
    others = []
    for v in table_versions(system, stack):
        if v != used:
            try:
                others.append(aiconfigurator_table(system, kind, v))
            except topo.SpecError:  # a version without rows of this kind
                continue
    cols = ["collective", "ranks", "bytes", "seconds"]
    o = pd.concat([x[cols] for x in others], ignore_index=True) if others else pd.DataFrame(columns=cols)
    d["outlier"] = outlier_flags(d, o)
    return d


def validate(systems: list[str] | None = None, ideal: bool = False):
    """Every measured point with the model's time: a DataFrame (system, role, stack, collective, ranks,
    bytes, seconds, predicted, ratio, outlier: :func:`outlier_flags`)."""
    import pandas as pd

    frames = []
    for system in systems or list(SYSTEMS):
        fab = topo.load(SYSTEMS[system])
        d = aiconfigurator_table(system, "nccl")
        d["predicted"] = [collective(c, fab, b, group=list(range(int(m))), ideal=ideal).time
                          for c, m, b in zip(d["collective"], d["ranks"], d["bytes"])]
        frames.append(_flag(system, "nccl", d))
        for stack in STACKS:
            frames.append(_flag(system, stack, _stack_rows(system, stack, fab, ideal)))
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


#: the size intervals (MiB) of :func:`marginal_busbw`: where the >= 64 MiB residual's shape shows
MARGINAL_INTERVALS = ((32, 64), (64, 128), (128, 512))


def marginal(sizes, seconds, ranks: int, a: float, b: float) -> tuple[float, float]:
    """(marginal busbw between sizes ``a`` and ``b`` bytes, bytes/s; intercept of the line through them, s)
    of one all-reduce curve (``sizes`` bytes, ``seconds``): busbw factor 2(n-1)/n x (b - a) / (t(b) - t(a)),
    and t(a) - a x (t(b) - t(a)) / (b - a). An affine t = t0 + S / r gives r x 2(n-1)/n and t0 exactly."""
    t = dict(zip(np.asarray(sizes, dtype=float), np.asarray(seconds, dtype=float)))
    ta, tb = t[float(a)], t[float(b)]
    slope = (tb - ta) / (b - a)
    return 2.0 * (ranks - 1) / ranks / slope, ta - a * slope


def marginal_busbw(system: str, intervals=MARGINAL_INTERVALS):
    """Measured (nccl-tests all-reduce, NCCL 2.29.2, median of repeats) and modelled (the bundled fabric's
    calibrated ``auto``) marginal busbw per rank count and size interval (MiB pairs), with the intercept of
    the line through the last interval: a DataFrame indexed by ranks. Separates a slope error (the model's
    marginal rate off, the same at every interval) from a shape (the measured marginal rate changing with
    size); docs/collectives.md, "Shape of the >= 64 MiB residual"."""
    import pandas as pd

    fab = topo.load(SYSTEMS[system])
    d = aiconfigurator_table(system, "nccl")
    d = d[d["collective"] == "all_reduce"].groupby(["ranks", "bytes"])["seconds"].median()
    rows = {}
    for m in sorted({int(x) for x in d.index.get_level_values("ranks")}):
        meas = d.loc[m]
        need = sorted({float(x) * 2**20 for iv in intervals for x in iv})
        if not set(need) <= set(meas.index.astype(float)):
            continue
        model = [collective("all_reduce", fab, S, group=list(range(m))).time for S in need]
        row = {}
        for lo, hi in intervals:
            a, b = lo * 2.0**20, hi * 2.0**20
            row[f"meas {lo}-{hi}"] = marginal(meas.index, meas.to_numpy(), m, a, b)[0] / 1e9
            row[f"model {lo}-{hi}"] = marginal(need, model, m, a, b)[0] / 1e9
        a, b = intervals[-1][0] * 2.0**20, intervals[-1][1] * 2.0**20
        row["meas intercept us"] = marginal(meas.index, meas.to_numpy(), m, a, b)[1] * 1e6
        row["model intercept us"] = marginal(need, model, m, a, b)[1] * 1e6
        rows[m] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("ranks")


def _marginal_table(frames: dict) -> str:
    """Markdown of :func:`marginal_busbw` for several systems: per (system, ranks) ``measured / model`` GB/s per
    interval, then the intercepts (us)."""
    ivs = [f"{lo}-{hi}" for lo, hi in MARGINAL_INTERVALS]
    lines = ["| system (role) | ranks | " + " | ".join(f"{iv} MiB" for iv in ivs) + " | intercept, us |",
             "|---|---:|" + "---:|" * (len(ivs) + 1)]
    for system, r in frames.items():
        role = "fit" if system in FIT_SYSTEMS else "held out"
        for m, row in r.iterrows():
            cells = [f"{row[f'meas {iv}']:.0f} / {row[f'model {iv}']:.0f}" for iv in ivs]
            cells.append(f"{row['meas intercept us']:.0f} / {row['model intercept us']:.0f}")
            lines.append(f"| {system} ({role}) | {int(m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


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


def _worst(r: np.ndarray) -> float:
    """The ratio farthest from 1 in log (NaN for no points)."""
    return float(r[np.argmax(np.abs(np.log(r)))]) if len(r) else float("nan")


def summary(df) -> str:
    """Markdown: per system, stack and collective: points, median |ratio - 1|, worst ratio (the headline: every
    point), median at >= 64 MiB; then the points :func:`outlier_flags` flags (column ``outlier``, when
    present) and the worst ratio without them ("-" when none is flagged)."""
    lines = ["| system | role | stack | collective | points | median abs err | worst ratio | median abs err >= 64 MiB "
             "| flagged outliers | worst ratio, flagged excluded |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for (system, role, stack, coll), g in df.groupby(["system", "role", "stack", "collective"], sort=False):
        r = g["ratio"].to_numpy()
        big = g[g["bytes"] >= 64 * 2**20]["ratio"].to_numpy()
        out = g["outlier"].to_numpy(dtype=bool) if "outlier" in g else np.zeros(len(r), dtype=bool)
        rest = f"{_worst(r[~out]):.2f}" if out.any() else "-"
        lines.append(f"| {system} | {role} | {stack} | {coll} | {len(r)} | {np.median(np.abs(r - 1)):.1%} | "
                     f"{_worst(r):.2f} | {np.median(np.abs(big - 1)):.1%} | {int(out.sum())} | {rest} |")
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
    ap.add_argument("--marginal", action="store_true",
                    help="print the measured and modelled marginal all-reduce busbw (GB/s) per rank count over "
                         "32-64, 64-128, 128-512 MiB and the intercept of the 128-512 MiB line (marginal_busbw)")
    args = ap.parse_args(argv)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    # the model's modes need a bundled fabric per system; --nccl-versions reads any system's shipped tables
    unknown = [] if args.nccl_versions else [s for s in systems if s not in SYSTEMS]
    if unknown or not systems:
        print(f"error: --systems: unknown system {', '.join(map(repr, unknown)) or '(none given)'}; "
              f"known: {', '.join(SYSTEMS)}", file=sys.stderr)
        return 2
    try:
        if args.marginal:
            print(_marginal_table({s: marginal_busbw(s) for s in systems}))
            return 0
        if args.nccl_versions:
            for system in systems:
                r = nccl_version_ratios(system, min_bytes=2.0**20)
                print(f"\n## {system}: measured all-reduce time ratios\n")
                print(_ratio_table(r))
            return 0
        df = validate(systems, ideal=args.ideal)
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


__all__: list[Any] = ["OUTLIER_FACTOR", "validate", "summary", "by_bucket", "outlier_flags", "table_versions",
                      "nccl_versions", "nccl_version_ratios", "MARGINAL_INTERVALS", "marginal", "marginal_busbw",
                      "main"]
