"""nccl-tests-like sweeps over message sizes: rows, a text table, CSV/JSON and a busbw plot."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from topo import DTYPE_BYTES, Fabric, ScheduleError, load, parse_size_range
from traffic.routing import RouteBudgetError

from .algorithms import ALGORITHMS, COLLECTIVES, REGISTRY, algorithms_for
from .api import _RUN_KEYS, OPS, _accepted, canonical_collective, collective, run, size_bytes

#: element types for the count column (nccl-tests names plus scaleup's dtypes), bytes per element
#: element bytes per type name of the count column: nccl-tests' -d names (ncclDataType_t: int8 ... f8e5m2) and
#: scaleup's dtypes
TYPES = {"float": 4.0, "half": 2.0, "double": 8.0, "int8": 1.0, "uint8": 1.0, "int32": 4.0, "uint32": 4.0,
         "int64": 8.0, "uint64": 8.0, "bfloat16": 2.0, "f8e4m3": 1.0, "f8e5m2": 1.0, **DTYPE_BYTES}

COLUMNS = ("size", "count", "type", "algorithm", "time_us", "algbw_GBps", "busbw_GBps", "bound_us",
           "efficiency")


def _first_group(fab: Fabric, k: int, placement: str, seed: int) -> list[int]:
    """The first group of ``k`` ranks cut by ``placement`` when ``k`` does not divide the chips (so
    ``fab.groups`` cannot tile them): ``tray`` ranks 0..k-1, ``strided`` one rank every n // k (0, n // k, ...),
    ``random`` the first k of the seeded permutation; each is ``fab.groups(k, placement, seed)[0]`` when k divides."""
    n = fab.n_chips
    if placement == "strided":
        return (np.arange(k) * (n // k)).tolist()
    if placement == "random":
        return np.random.default_rng(seed).permutation(n)[:k].tolist()
    if placement != "tray":
        raise ScheduleError(f"placement: must be 'tray', 'strided' or 'random', got {placement!r}")
    return list(range(k))


def benchmark(collective_name: str, fab: Fabric | str, sizes: Sequence[float] | str, group_size: int | None = None,
              algorithms: Sequence[str] | str = ("auto",), placement: str = "tray", concurrent: bool = False,
              dtype: str = "float", seed: int = 0, stack: str | None = None, measured: bool = False,
              skipped: dict[str, str] | None = None, **opts: Any) -> list[dict[str, Any]]:
    """Simulate one collective over several sizes and algorithms (nccl-tests style).

    Args:
        collective_name: ``"all_reduce"``, ``"all_gather"``, ``"reduce_scatter"``, ``"all_to_all"``,
            ``"broadcast"``, ``"reduce"`` or ``"send_recv"`` (or the CLI's ``"all-reduce"``, ``"sendrecv"``).
        fab: the fabric (or a preset name / YAML path, as ``--fabric``). sizes: bytes (nccl-tests
            convention, see :mod:`collectives.api`), or a range string as ``--sizes`` (``"1KiB:4GiB:x4"``).
        group_size: ranks per group (default, as ``scaleup collective``'s ``--group-size``: min(64, chips);
            send_recv: 2; give the chip count for the whole fabric). The group is the first of
            ``fab.groups(group_size, placement)`` (a size that does not divide the chips: the same rule's first
            group, e.g. strided: ranks 0, n // k, 2 n // k, ...).
        algorithms: names or ``"auto"`` (a list, or a comma-separated string as ``--algorithm``). placement: ``"tray"``, ``"strided"`` or ``"random"``.
        concurrent: run every group of that size at once (their contention is the point) and report
            the slowest group.
        dtype: element type for the count column. **opts: passed to the collective (chunks, mode,
            ``ideal=True`` for the physics alone without the calibrated communication model, ...).
        stack: all-reduce only: a serving stack's ladder (``"trtllm"``, ``"vllm"``, ``"sglang"``): each size
            runs on the rung :func:`collectives.stacks.stack_plan` picks, with that rung's preset, NCCL (the
            fabric's ``comm:``) above, as ``collectives.all_reduce(..., stack=)``; the algorithm column is
            :func:`collectives.stacks.rung_label` (``trtllm:oneshot``, ``vllm:symm/inr``, ``nccl:ring``).
            None or ``"nccl"``: the fabric's ``comm:`` alone.
        measured: add each size's measured time on the system the fabric stands for
            (:func:`collectives.validation.measured_times`: ``dgx-h100``, ``dgx-h200``, ``dgx-b200``,
            ``gb200-nvl72``; the ``measured`` extra) as ``measured_us`` (NaN off the table's grid),
            ``measured_interpolated`` and ``ratio`` = time / measured: validation beside the model, never
            an input to it.
        skipped: a dict to collect the algorithms of a list that cannot run on this group (name -> the
            ScheduleError's line, e.g. ``hier_ml`` on a group that does not fill its levels) instead of raising, as
            ``scaleup collective --algorithm a,b,c`` does; their rows are left out. ``"auto"`` and a lone algorithm
            raise as before, and so does a list of which none runs.

    Returns:
        one dict per (size, algorithm): size (B; an int, as nccl-tests prints it, unless fractional), count, type, algorithm (the winner for auto, as
        ``auto:<name>``; with ``stack``, the rung), time_us, algbw_GBps, busbw_GBps (1e9 bytes/s), bound_us, efficiency (bound/time),
        n, groups, protocol (the calibrated model's choice; ``"ideal"`` for ``ideal=True``).
    """
    if isinstance(fab, str):
        fab = load(fab)
    if isinstance(sizes, str):
        sizes = parse_size_range(sizes)
    else:  # bytes or strings with a unit ('1MiB'), as every collective takes them
        sizes = [size_bytes(x) for x in sizes]
    if isinstance(algorithms, str):
        algorithms = [a.strip() for a in algorithms.split(",") if a.strip()]
    collective_name = canonical_collective(collective_name)  # the CLI's all-reduce / sendrecv too
    if collective_name not in COLLECTIVES:
        raise ScheduleError(f"collective: unknown {collective_name!r}; valid: {', '.join(COLLECTIVES)}")
    if dtype not in TYPES:
        raise ScheduleError(f"dtype: unknown {dtype!r}; valid: {', '.join(TYPES)}")
    valid = algorithms_for(collective_name) + ["auto"]
    if not algorithms:
        raise ScheduleError(f"algorithm: give at least one of {', '.join(valid)}")
    if len(sizes) == 0:
        raise ScheduleError("sizes: give at least one message size, e.g. 1MiB or 1KiB:1GiB:x4")
    for a in algorithms:
        if a not in valid:
            raise ScheduleError(f"algorithm: {a!r} is not an algorithm for {collective_name}; valid: {', '.join(valid)}")
    if fab.n_chips < 2:  # a single CS-3 wafer: "must be 2..1 chips" read as nonsense
        raise ScheduleError(f"fabric: {fab.name!r} has {fab.n_chips} chip; a collective needs at least two ranks "
                            "(pick a fabric of several chips)")
    k = group_size if group_size is not None else min(2 if collective_name == "send_recv" else 64, fab.n_chips)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k <= fab.n_chips:
        raise ScheduleError(f"group_size: must be 2..{fab.n_chips} chips of {fab.name!r} (a collective needs "
                            f"two ranks), got {k!r}")
    if fab.n_chips % k:
        if concurrent:
            raise ScheduleError(f"group_size: {k} does not divide the {fab.n_chips} chips, so --concurrent-groups "
                                "cannot tile the fabric; pick a divisor")
        groups = [_first_group(fab, int(k), placement, seed)]
    else:
        groups = fab.groups(int(k), placement=placement, seed=seed)
    if not concurrent:
        groups = groups[:1]
    if stack == "nccl":
        stack = None
    if stack is not None:
        from .stacks import STACKS, chip_family

        if collective_name != "all_reduce":
            raise ScheduleError(f"stack: a serving stack's ladder is the TP all-reduce's; {collective_name} runs "
                                "NCCL (the fabric's comm:): drop --stack")
        if stack not in STACKS:
            raise ScheduleError(f"stack: must be one of nccl, {', '.join(STACKS)}, got {stack!r}")
        if list(algorithms) != ["auto"]:
            raise ScheduleError(f"algorithm: --stack {stack} picks the algorithm of every size; drop --algorithm "
                                f"(got {','.join(algorithms)})")
        if opts.get("ideal"):
            raise ScheduleError(f"ideal: --stack {stack} is communication software, --ideal the physics without "
                                "it; drop one")
        chip_family(fab)
    if measured:
        from .validation import measured_times

        n_ranks = len(groups[0])
        meas, interp, _ = measured_times(fab, collective_name, n_ranks, sizes, stack)
    rows = []
    el = TYPES[dtype]
    # nccl-tests' count column: the whole buffer for all-reduce / broadcast / reduce, one rank's part for
    # all-gather (send), reduce-scatter (receive) and all-to-all (per peer) (its paramcount = count / nranks)
    per_rank = len(groups[0]) if collective_name in ("all_gather", "reduce_scatter", "all_to_all") else 1
    def opts_for(a: str) -> dict:
        """Options an algorithm accepts (a list like ring,direct shares --chunks only where it applies)."""
        if a == "auto" or len(algorithms) == 1:
            return dict(opts)
        algo = {x: v for x, v in opts.items() if x not in _RUN_KEYS}
        run_o = {x: v for x, v in opts.items() if x in _RUN_KEYS}
        return {**_accepted(ALGORITHMS[(collective_name, a)], algo), **run_o}

    for i_size, size in enumerate(sizes):
        tier, fab_s = None, fab
        if stack is not None:
            from .stacks import stack_plan

            tier, fab_s = stack_plan(fab, stack, float(size), groups)
        for a in algorithms:
            opts_a = opts_for(a)
            try:
                if concurrent and len(groups) > 1:
                    op_cls = OPS[collective_name]
                    algo_opts = {x: v for x, v in opts_a.items() if x not in _RUN_KEYS}
                    run_opts = {x: opts_a[x] for x in ("mode", "routing", "seed", "overhead", "reduce_bandwidth",
                                                       "ideal") if x in opts_a}
                    res = run([op_cls(size, group=g, algorithm=a, **algo_opts) for g in groups], fab_s, **run_opts)
                    r = max(res, key=lambda r: r.time)
                else:
                    r = collective(collective_name, fab_s, size, groups[0], a, **opts_a)
            except (ScheduleError, RouteBudgetError) as exc:  # one algorithm of a list that cannot run here (or
                # whose step is too large to route): the others still can
                if skipped is None or a == "auto" or len(algorithms) == 1:
                    raise
                skipped.setdefault(a, exc.brief() if isinstance(exc, RouteBudgetError) else str(exc))
                continue
            name = r.algorithm
            c = r.schedule.params.get("chunks", 1) if r.schedule is not None else 1
            if c and c > 1 and "chunks" in REGISTRY[(r.collective, r.algorithm)].option_names:
                name += f"/c{c}"
            if stack is not None:
                from .stacks import rung_label

                name = rung_label(stack, tier, name)
            elif a == "auto":
                name = f"auto:{name}"
            rows.append({
                "size": int(size) if float(size).is_integer() else float(size), "count": int(size // el // per_rank), "type": dtype, "algorithm": name,
                "time_us": r.time * 1e6, "algbw_GBps": r.algbw / 1e9, "busbw_GBps": r.busbw / 1e9,
                "bound_us": r.bound * 1e6, "efficiency": r.efficiency, "n": r.n, "groups": len(groups),
                "protocol": r.protocol or "ideal",
            })
            if measured:
                m = float(meas[i_size]) * 1e6
                rows[-1].update({"measured_us": m, "measured_interpolated": bool(interp[i_size]),
                                 "ratio": rows[-1]["time_us"] / m if m == m else float("nan")})
    if not rows and skipped:  # none of the list runs: that is the error, not an empty table
        a, why = next(iter(skipped.items()))
        raise ScheduleError(why if len(skipped) == 1 else f"algorithm: none of {', '.join(skipped)} runs here; {a}: {why}")
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """nccl-tests-like text table of :func:`benchmark` rows (units in the header)."""
    w = max([14, *(len(str(r["algorithm"])) for r in rows)])
    tw = max([6, *(len(str(r["type"])) for r in rows)])  # nccl-tests' 'bfloat16' is 8 wide
    head = (f"{'size (B)':>12} {'count (elts)':>12} {'type':>{tw}} {'algorithm':>{w}} {'time (us)':>11} "
            f"{'algbw (GB/s)':>12} {'busbw (GB/s)':>12} {'bound (us)':>11} {'eff vs bound':>12}")
    meas = bool(rows) and "measured_us" in rows[0]
    if meas:
        head += f" {'measured (us)':>14} {'ratio':>6}"
    lines = [head]
    for r in rows:
        line = (f"{int(r['size']):>12d} {r['count']:>12d} {r['type']:>{tw}} {r['algorithm']:>{w}} {r['time_us']:>11.2f} "
                f"{r['algbw_GBps']:>12.2f} {r['busbw_GBps']:>12.2f} {r['bound_us']:>11.2f} {100 * r['efficiency']:>11.1f}%")
        if meas:
            m = r["measured_us"]
            mark = "~" if r["measured_interpolated"] else " "
            line += f" {'-':>14} {'-':>6}" if m != m else f" {mark + format(m, '.2f'):>14} {r['ratio']:>6.2f}"
        lines.append(line)
    if any(r["efficiency"] > 1 + 1e-9 for r in rows):
        lines.append("# eff vs bound > 100%: the bound is the schedule's alpha-beta time step by step, each step waiting "
                     "for its slowest flow; the engine lets ranks run ahead of those barriers (e.g. multirail on "
                     "unequal tray links), and a calibrated preset may drive links above the YAML's efficiency "
                     "(docs/collectives.md, docs/maia200.md)")
    return "\n".join(lines)


def to_csv(rows: list[dict[str, Any]]) -> str:
    """CSV text (header + one line per row; SI-prefixed units named in the header)."""
    cols = list(COLUMNS) + ["n", "groups"] + (["protocol"] if rows and "protocol" in rows[0] else [])  # as --json
    if rows and "measured_us" in rows[0]:
        cols += ["measured_us", "measured_interpolated", "ratio"]
    out = [",".join(cols)]
    for r in rows:
        out.append(",".join(repr(r[c]) if isinstance(r[c], float) else str(r[c]) for c in cols))
    return "\n".join(out)


def to_json(rows: list[dict[str, Any]]) -> str:
    """The rows of :func:`benchmark` as strict JSON (RFC 8259: sizes in bytes, times in us, bandwidths in GB/s =
    1e9 bytes/s); a value that is not a finite number, a NaN (``measured_us`` off the table's grid) or an
    infinity, is null (Python's ``NaN`` / ``Infinity`` tokens are not JSON: ``jq`` and browsers refuse them)."""
    def strict(v: Any) -> Any:
        if isinstance(v, (float, np.floating)):
            return float(v) if math.isfinite(v) else None
        return v

    return json.dumps([{k: strict(v) for k, v in r.items()} for r in rows], indent=1, allow_nan=False)


def plot_busbw(rows: list[dict[str, Any]], path: str, title: str = "") -> None:
    """Bus bandwidth (GB/s) against message size, one line per algorithm; written to ``path``."""
    from topo.draw import check_figure_path

    check_figure_path(path, "--plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    algs: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        key = "auto" if r["algorithm"].startswith("auto:") else r["algorithm"]
        algs.setdefault(key, []).append((r["size"], r["busbw_GBps"]))
    for a, pts in algs.items():
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=a,
                ls="--" if a == "auto" else "-", lw=2.2 if a == "auto" else 1.4)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("message size (bytes)")
    ax.set_ylabel("bus bandwidth (GB/s)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
