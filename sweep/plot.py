"""Figures from sweep tables (matplotlib, publication quality: labelled axes with units, legends).

- :func:`plot_table`: any column against any column, one line per ``hue`` value, one panel per
  ``facet`` value; byte columns on a log2 axis with binary-prefix labels (1KiB, 1MiB, ...).
- :func:`plot_busbw`: bus bandwidth vs message size per algorithm (as nccl-tests users plot it), with
  the alpha-beta bound dashed when the table has it.
- :func:`plot_latency_breakdown`: per-token (decode) or prefill step time as stacked bars: compute-bound
  ops, memory-bound ops, other op overhead, exposed communication.
- :func:`plot_cost_pareto`: cost per million output tokens vs TPOT (or TTFT), with the Pareto front.
- :func:`plot`: dispatch by ``kind`` (``xy``, ``busbw``, ``latency-breakdown``, ``cost-pareto``).

Every function takes a DataFrame or a results path, writes ``out`` (.png, .svg or .pdf) and returns it.
Rows with an ``error`` are left out.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from topo import SpecError, format_bytes

if TYPE_CHECKING:
    import pandas as pd

FIG_FORMATS = (".png", ".svg", ".pdf")
KINDS = ("xy", "busbw", "latency-breakdown", "cost-pareto")

#: columns holding byte counts (log2 axis with byte labels)
SIZE_COLUMNS = {"size", "bytes", "message_size", "total_bytes", "size_bytes"}

#: readable names of known columns (the unit is added from the suffix)
NAMES = {
    "size": "Message size",
    "busbw_GBps": "Bus bandwidth",
    "algbw_GBps": "Algorithm bandwidth",
    "time_us": "Time",
    "bound_us": "Alpha-beta bound",
    "ttft_s": "Time to first token",
    "tpot_s": "Time per output token",
    "latency_s": "Request latency",
    "cost_per_mtok_usd": "Cost per million output tokens",
    "cost_per_hour_usd": "Cost per hour",
    "energy_per_token_j": "Energy per output token",
    "tokens_per_s_replica": "Throughput per replica",
    "tokens_per_s_chip": "Throughput per chip",
    "tokens_per_s_fabric": "Throughput of the fabric",
    "makespan_us": "Makespan",
    "throughput_GBps": "Aggregate throughput",
    "per_chip_GBps": "Throughput per chip",
    "tp": "Tensor parallelism (TP)",
    "ep": "Expert parallelism (EP)",
    "pp": "Pipeline parallelism (PP)",
    "dp": "Data parallelism (DP)",
    "batch": "Batch size",
    "group": "Group size",
    "ranks": "Ranks",
    # serving curves (the serve job; InferenceMAX's axes)
    "concurrency": "Concurrency (requests in flight)",
    "output_tokens_per_s_per_chip": "Output throughput per chip (tokens/s)",
    "total_tokens_per_s_per_chip": "Prompt + output throughput per chip (tokens/s)",
    "output_tokens_per_s": "Output throughput (tokens/s)",
    "throughput_rps": "Throughput (requests/s)",
    "goodput_rps": "Goodput (requests/s)",
    "cost_per_mtok_output_usd": "Cost per million output tokens",
    **{f"tokens_per_s_per_user_{q}": f"Interactivity (tokens/s per user, 1 / {n} TPOT)"
       for q, n in (("mean", "mean"), ("p50", "median"), ("p90", "P90"), ("p99", "P99"))},
    **{f"{k}_{q}_s": f"{n} {q.upper() if q != 'mean' else 'mean'}" for k, n in (("ttft", "TTFT"), ("tpot", "TPOT"))
       for q in ("mean", "p50", "p90", "p99")},
}

#: column suffix -> (unit label, factor to apply to the values)
SUFFIX_UNITS = [
    ("_GBps", "GB/s", 1.0),
    ("_TBps", "TB/s", 1.0),
    ("_Gbps", "Gbit/s", 1.0),
    ("_us", "µs", 1.0),
    ("_ms", "ms", 1.0),
    ("_ns", "ns", 1.0),
    ("_bytes", "bytes", 1.0),
    ("_usd", "$", 1.0),
    ("_j", "J", 1.0),
    ("_w", "W", 1.0),
    ("_s", "s", 1.0),
]

#: seconds columns shown in friendlier units
RESCALE = {"ttft_s": ("ms", 1e3), "tpot_s": ("ms", 1e3), "latency_s": ("s", 1.0),
           **{f"{k}_{q}_s": ("ms", 1e3) for k in ("ttft", "tpot") for q in ("mean", "p50", "p90", "p99")}}


def _load(data: Any, where: str | None = None):
    import pandas as pd

    from .runner import read_results

    if isinstance(data, pd.DataFrame):
        df = data
    elif str(data).lower().endswith(".json"):  # `scaleup collective ... --json` (a list of row objects)
        try:
            df = pd.read_json(str(data), orient="records")
        except ValueError as exc:
            first = (str(exc).splitlines() or [""])[0][:160]
            raise SpecError(f"results: cannot read {str(data)!r} as JSON rows ({first}); write it with --json") from None
    else:
        df = read_results(data)
    if "error" in df.columns:
        df = df[df["error"].isna()]
    if where:
        try:
            df = df.query(where)
        except Exception as exc:
            raise SpecError(f"--where: cannot apply {where!r} ({exc}); write e.g. \"batch == 64\"") from None
    if df.empty:
        raise SpecError("plot: no successful rows to plot" + (f" where {where}" if where else ""))
    return df


def independent(df: pd.DataFrame, cols: Sequence[str], context: Sequence[str | None] = ()) -> list[str]:
    """``cols`` without those determined by the others (e.g. ``dp`` once ``tp`` and ``batch`` are known)
    and the ``context`` columns (facet, hue): the columns worth naming in a label. Checked from the
    last column to the first."""
    ctx = [c for c in context if c is not None and c in df.columns]
    keep = list(cols)
    for c in reversed(list(cols)):
        others = [o for o in keep if o != c] + [o for o in ctx if o != c]
        if others and df.groupby(others, dropna=False)[c].nunique(dropna=False).max() <= 1:
            keep.remove(c)
    return keep


def _plain_log(ax, axis: str = "y") -> None:
    """Log axis labelled 0.2, 0.5, 1, 2 rather than 2x10^-1."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    a = ax.yaxis if axis == "y" else ax.xaxis
    a.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    a.set_minor_locator(LogLocator(base=10, subs=(3.0, 4.0, 6.0, 7.0, 8.0, 9.0)))
    a.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    a.set_minor_formatter(FuncFormatter(lambda v, _p: ""))


def _check_out(out: str | os.PathLike) -> str:
    out = os.fspath(out)
    if os.path.splitext(out)[1].lower() not in FIG_FORMATS:
        raise SpecError(f"-o: {out!r} must end in .png, .svg or .pdf")
    return out


def _need(df, *cols: str | None) -> None:
    for c in cols:
        if c is not None and c not in df.columns:
            raise SpecError(f"plot: no column {c!r} in the table; columns: {', '.join(map(str, df.columns))}")


def _categorical_x(df, x: str):
    """A non-numeric ``x`` column (``fabric.bandwidth: 100GB/s``, ``fabric.chip: b200``) as positions 0..k-1 and
    its values as tick labels: ordered by quantity where every value is one (``100GB/s`` < ``1.6Tbps``), else
    in first-seen order. Returns (a copy of df with x replaced, the labels)."""
    vals = list(dict.fromkeys(df[x].tolist()))
    vals = _quantity_order(vals, x) or vals
    pos = {v: i for i, v in enumerate(vals)}
    out = df.copy()
    out[x] = out[x].map(pos)
    return out, [str(v) for v in vals]


def is_size_column(name: str) -> bool:
    """Whether a column holds byte counts (drawn on a log2 axis with byte labels)."""
    return name in SIZE_COLUMNS or name.endswith("_bytes") or name.endswith(".size")


def axis_label(name: str) -> tuple[str, float]:
    """(label with unit, factor to multiply values by) for a column name."""
    if name in RESCALE:
        unit, f = RESCALE[name]
        return f"{NAMES.get(name, name)} ({unit})", f
    if is_size_column(name):
        return f"{NAMES.get(name, _words(name.removesuffix('_bytes')))} (bytes)", 1.0
    for suf, unit, f in SUFFIX_UNITS:
        if name.endswith(suf):
            return f"{NAMES.get(name, _words(name[: -len(suf)]))} ({unit})", f
    if name == "cost_per_mtok_usd":
        return "Cost ($ per million output tokens)", 1.0
    return NAMES.get(name, _words(name)), 1.0


def _words(name: str) -> str:
    s = re.sub(r"[_.]+", " ", name).strip()
    return s[:1].upper() + s[1:]


def _style():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.fontsize": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "grid.linestyle": "-",
            "lines.linewidth": 1.6,
            "lines.markersize": 4.5,
            "svg.fonttype": "none",
            "pdf.fonttype": 42,
        }
    )
    return plt


def _byte_axis(ax, values: Sequence[float], axis: str = "x") -> None:
    """Log2 axis with ticks at powers of two labelled 1KiB, 4KiB, ... (at most ~10 labels)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    vals = [v for v in values if v and v > 0]
    if not vals:
        return
    lo, hi = math.floor(math.log2(min(vals))), math.ceil(math.log2(max(vals)))
    step = max(1, math.ceil((hi - lo + 1) / 10))
    if step > 1 and step % 2:
        step += 1
    ticks = [2.0**k for k in range(lo, hi + 1) if (k - lo) % step == 0]
    setter = ax.set_xscale if axis == "x" else ax.set_yscale
    setter("log", base=2)
    a = ax.xaxis if axis == "x" else ax.yaxis
    a.set_major_locator(FixedLocator(ticks))
    a.set_minor_locator(NullLocator())
    a.set_major_formatter(FuncFormatter(lambda v, _pos: format_bytes(v)))
    if axis == "x":
        for t in ax.get_xticklabels():
            t.set_rotation(45)
            t.set_ha("right")


def _fmt_value(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v)


def _quantity_order(keys: list[Any], col: str) -> list[Any] | None:
    """``keys`` sorted by the quantity each string holds (``100GB/s`` < ``1.6Tbps``), None unless all are one."""
    from topo import ScaleupError, parse_quantity

    if not keys or not all(isinstance(k, str) for k in keys):
        return None
    for dim in ("bandwidth", "size", "time", "flops", "power"):
        try:
            return sorted(keys, key=lambda v: parse_quantity(v, dim, col))
        except (ScaleupError, TypeError, ValueError):
            continue
    return None


def _ordered_keys(df, col: str) -> list[Any]:
    """The distinct values of ``col`` in plotting order: a combined column's own order, by quantity
    (``100GB/s`` < ``1.6Tbps``), else sorted, else first seen."""
    import pandas as pd

    if isinstance(df[col].dtype, pd.CategoricalDtype) and df[col].cat.ordered:
        present = set(df[col].dropna().tolist())
        return [k for k in df[col].cat.categories if k in present]
    keys = list(dict.fromkeys(df[col].tolist()))
    ordered = _quantity_order(keys, col)  # a swept fabric override keeps its units: order by value, not by text
    if ordered is not None:
        return ordered
    try:
        return sorted(keys)
    except TypeError:
        return keys


def _groups(df, col: str | None) -> list[tuple[Any, Any]]:
    if col is None:
        return [(None, df)]
    return [(k, df[df[col] == k]) for k in _ordered_keys(df, col)]


def _combine(df, *cols: str | None):
    """``--hue collective,opt.ideal``: a column list (comma-separated) that is not itself a column becomes one
    column of that name, each value its parts joined (``all_reduce, True``), ordered part by part as each part
    alone would be. Returns (df, cols) with the names unchanged."""
    import pandas as pd

    for col in cols:
        if col is None or col in df.columns or "," not in col:
            continue
        parts = [c.strip() for c in col.split(",") if c.strip()]
        _need(df, *parts)
        rank = {c: {k: i for i, k in enumerate(_ordered_keys(df, c))} for c in parts}
        # a missing value (NaN: each one its own object, so no tuple of it matched twice) is None, listed last
        rows = list(zip(*([None if v is None or (isinstance(v, float) and v != v) else v for v in df[c].tolist()]
                          for c in parts)))
        combos = sorted(set(rows), key=lambda t: tuple(rank[c].get(v, len(rank[c])) for c, v in zip(parts, t)))
        label = {t: ", ".join("n/a" if v is None else _fmt_value(v) for v in t) for t in combos}
        df = df.copy()
        df[col] = pd.Categorical([label[t] for t in rows], categories=[label[t] for t in combos], ordered=True)
    return df, cols


def _panels(plt, n: int, width: float = 5.2, height: float = 3.8, sharey: bool = True):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, sharey=sharey)
    flat = [a for row in axes for a in row]
    for a in flat[n:]:
        a.set_visible(False)
    return fig, flat[:n]


def _save(fig, out: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return out


def plot_table(
    data: Any,
    x: str,
    y: str,
    out: str | os.PathLike,
    hue: str | None = None,
    facet: str | None = None,
    logx: bool | None = None,
    logy: bool = False,
    title: str | None = None,
    bound: str | None = None,
    where: str | None = None,
) -> str:
    """Line plot of column ``y`` against ``x``: one line per ``hue`` value, one panel per ``facet`` value.

    Args:
        data: a DataFrame or a results file (.parquet/.csv).
        x, y: column names. Byte columns (``size``...) get a log2 axis with byte labels when ``logx``
            is None or True; other columns get a log10 axis when ``logx``/``logy`` is True.
        hue, facet: optional column names.
        bound: optional column drawn dashed in the same colour (e.g. a bound on ``y``).
        where: optional row filter, a pandas query such as ``"batch == 64"`` (every plot takes it).

    When several rows share (facet, hue, x) - a parameter varies that is neither hue nor facet - the
    median is drawn with a band from min to max, and the legend says so.
    """
    from matplotlib.ticker import NullLocator

    plt = _style()
    df = _load(data, where)
    out = _check_out(out)
    df, _ = _combine(df, hue, facet)
    _need(df, x, y, hue, facet, bound)
    xlabel, xf = axis_label(x)
    ylabel, yf = axis_label(y)
    size_x = is_size_column(x)
    asked_logx = logx is True
    if logx is None:
        logx = size_x
    import pandas as pd

    for col in (y, bound):
        if col is not None and not pd.api.types.is_numeric_dtype(df[col]):
            raise SpecError(f"plot: column {col!r} holds no numbers (e.g. {df[col].iloc[0]!r}); plot a numeric column "
                            f"as --y, or this one as --x, --hue or --facet")
    x_labels = None
    if not pd.api.types.is_numeric_dtype(df[x]):  # `fabric.bandwidth: [100GB/s, 450GB/s]` stays a string column
        if asked_logx:  # was dropped without a word
            raise SpecError(f"--logx: column {x!r} is categorical (text such as {str(df[x].iloc[0])!r}, drawn as "
                            "categories ordered by quantity); drop --logx")
        df, x_labels = _categorical_x(df, x)
        xf, logx, size_x = 1.0, False, False
    panels = _groups(df, facet)
    fig, axes = _panels(plt, len(panels))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = "osD^v<>ph*"
    hue_keys = [k for k, _ in _groups(df, hue)]
    spread = False
    for ax, (fkey, fdf) in zip(axes, panels):
        for hi, (hkey, hdf) in enumerate(_groups(fdf, hue)):
            ci = hue_keys.index(hkey) if hkey in hue_keys else hi
            g = hdf.groupby(x, sort=True)[y]
            med, lo, hi_ = g.median(), g.min(), g.max()
            xs = [v * xf for v in med.index]
            label = None if hue is None else _fmt_value(hkey)
            ax.plot(xs, med.values * yf, marker=markers[ci % len(markers)], color=colours[ci % len(colours)], label=label)
            if (g.size() > 1).any():
                spread = True
                ax.fill_between(xs, lo.values * yf, hi_.values * yf, color=colours[ci % len(colours)], alpha=0.15)
            if bound is not None:
                b = hdf.groupby(x, sort=True)[bound].median()
                ax.plot(
                    [v * xf for v in b.index], b.values * yf, ls="--", lw=1.0, color=colours[ci % len(colours)],
                    alpha=0.8,
                )
        if size_x and logx:
            _byte_axis(ax, [v * xf for v in fdf[x]])
        elif logx:
            vals = sorted({float(v) * xf for v in fdf[x] if v > 0})
            if vals and all(math.log2(v).is_integer() for v in vals):
                ax.set_xscale("log", base=2)  # powers of two (TP, group sizes): label them as they are
                ax.set_xticks(vals, [_fmt_value(v) for v in vals])
                ax.xaxis.set_minor_locator(NullLocator())
            elif 0 < len(vals) <= 12:  # a few swept values (384, 1536, 3072 chips): label them, not 4x10^2
                ax.set_xscale("log")
                ax.set_xticks(vals, [_fmt_value(v) for v in vals])
                ax.xaxis.set_minor_locator(NullLocator())
            else:
                ax.set_xscale("log")
                _plain_log(ax, "x")
        if x_labels is not None:
            ax.set_xticks(range(len(x_labels)), x_labels)
        if logy:
            ax.set_yscale("log")
            _plain_log(ax, "y")
        ax.set_xlabel(xlabel)
        if facet is not None:
            ax.set_title(f"{facet} = {_fmt_value(fkey)}")
    axes[0].set_ylabel(ylabel)
    for a in axes[1:]:
        if a.get_subplotspec().colspan.start == 0:
            a.set_ylabel(ylabel)
    seen: dict[str, Any] = {}
    for a in axes:
        for h, lab in zip(*a.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    order = [_fmt_value(k) for k in hue_keys if _fmt_value(k) in seen] if hue is not None else list(seen)
    labels = order + [lab for lab in seen if lab not in order]
    handles = [seen[lab] for lab in labels]
    if bound is not None:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], ls="--", color="0.3", lw=1.0))
        labels.append(axis_label(bound)[0].split(" (")[0])
    if spread:
        from matplotlib.patches import Patch

        handles.append(Patch(color="0.5", alpha=0.2))
        labels.append("min-max over other parameters")
    if handles:
        where = {"loc": "best"} if len(axes) == 1 else {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}
        axes[-1].legend(handles, labels, title=None if hue is None else _words(hue), frameon=False, **where)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out)


def plot_busbw(
    data: Any,
    out: str | os.PathLike,
    hue: str | None = None,
    facet: str | None = None,
    y: str = "busbw_GBps",
    title: str | None = None,
    logy: bool = False,
    where: str | None = None,
) -> str:
    """Bus bandwidth vs message size, one line per algorithm (or fabric), nccl-tests style.

    Defaults: ``hue`` is ``fabric`` when several fabrics and one algorithm were swept, else
    ``algorithm``; ``facet`` is ``collective`` when several were swept (their busbw factors differ: one
    line would be the median of unlike figures), else ``fabric`` when both vary. The alpha-beta bound is drawn dashed when the
    table has ``bound_us`` and the simulation departs from it by more than 1% somewhere (busbw at the
    bound = busbw x time / bound).
    """
    df = _load(data, where)
    df, _ = _combine(df, hue, facet)
    _need(df, "size", y)
    varies = {c: df[c].nunique() > 1 for c in ("fabric", "algorithm", "collective") if c in df.columns}
    if hue is None:
        if varies.get("fabric") and not varies.get("algorithm"):
            hue = "fabric"
        elif "algorithm" in df.columns:
            hue = "algorithm"
    if hue == "algorithm" and df["algorithm"].astype(str).str.startswith("auto:").any():
        # a `scaleup collective --csv/--json` table names auto's winner per size (auto:direct, auto:hier_ml,
        # auto:multirail/c64): one auto line, as its own --plot draws, not a fragment per winner
        df = df.copy()
        df["algorithm"] = df["algorithm"].astype(str).where(~df["algorithm"].astype(str).str.startswith("auto:"),
                                                            "auto")
    if facet is None and varies.get("collective"):  # all-reduce and all-to-all busbw are not one series
        facet = "collective"
    elif facet is None and hue != "fabric" and varies.get("fabric"):
        facet = "fabric"
    bound = None
    if (
        "bound_us" in df.columns
        and "time_us" in df.columns
        and y in ("busbw_GBps", "algbw_GBps")
        # drawn only where it differs visibly from the simulation (contention, overheads)
        and ((df["time_us"] / df["bound_us"] - 1).abs() > 0.01).any()
    ):
        df = df.copy()
        df["bound_" + y] = df[y] * df["time_us"] / df["bound_us"]
        bound = "bound_" + y
        NAMES.setdefault(bound, "Alpha-beta bound")
    if title is None and "collective" in df.columns and df["collective"].nunique() == 1:
        title = f"{df['collective'].iloc[0].replace('_', '-').capitalize()} bus bandwidth"
    return plot_table(df, "size", y, out, hue=hue, facet=facet, logx=True, logy=logy, title=title, bound=bound)


#: stacked components of the latency breakdown: (label, column pattern, colour)
BREAKDOWN = [
    ("compute-bound ops", "{p}_compute_bound_s", "#4C72B0"),
    ("memory-bound ops", "{p}_memory_bound_s", "#55A868"),
    ("exposed communication", "{p}_exposed_communication_s", "#C44E52"),
]


#: the deployment columns a latency-breakdown bar is labelled by first, in this order
LAYOUT_COLUMNS = ("model", "fabric", "tp", "ep", "pp", "dp", "batch", "prompt")


def _infer_input(col: str) -> bool:
    """Whether ``col`` is an input of the ``infer`` job (a parameter, a ``fabric.``/``cost.`` override): a
    swept one must label the bars, or two bars that differ only in it (``fabric.port_bandwidth``, ``stack``)
    read the same."""
    if col.startswith(("fabric.", "cost.")):
        return True
    from .jobs import resolve_job

    return col in (resolve_job("infer").all_params() or {})


def plot_latency_breakdown(
    data: Any,
    out: str | os.PathLike,
    x: str | None = None,
    phase: str = "decode",
    facet: str | None = None,
    title: str | None = None,
    where: str | None = None,
) -> str:
    """Stacked bars of one step of one pipeline stage per point, in ms: compute-bound ops, memory-bound
    ops (each op's roofline time plus overhead, attributed to its bottleneck) and exposed
    communication. Columns (``sweep`` infer job): ``{phase}_compute_bound_s``,
    ``{phase}_memory_bound_s``, ``{phase}_exposed_communication_s``; a table with only
    ``{phase}_compute_s`` gets one "compute (roofline)" segment instead of the first two.

    ``x`` labels the bars (default: the swept parameters among model, fabric, tp, ep, pp, dp, batch,
    prompt, then any other swept input of the job (``stack``, ``fabric.port_bandwidth``, ...), leaving out
    those the others determine, such as dp). ``phase``: ``decode`` or ``prefill``.
    """
    plt = _style()
    df = _load(data, where)
    out = _check_out(out)
    df, _ = _combine(df, facet)
    comm = f"{phase}_exposed_communication_s"
    parts = [(lab, pat.format(p=phase), col) for lab, pat, col in BREAKDOWN]
    if not all(c in df.columns for _, c, _ in parts[:2]):
        parts = [("compute (roofline)", f"{phase}_compute_s", "#4C72B0"), parts[2]]
    _need(df, comm, *[c for _, c, _ in parts])
    if x is None:
        cand = [c for c in LAYOUT_COLUMNS if c in df.columns]
        cand += [c for c in df.columns if c not in cand and _infer_input(c)]  # fabric.port_bandwidth, stack, ...
        swept = independent(df, [c for c in cand if df[c].nunique() > 1 and c != facet], [facet])
        label_cols = swept or [c for c in cand if c != facet][:1]
        x = label_cols[0] if len(label_cols) == 1 else None
    else:
        _need(df, x)
        label_cols = [x]
    panels = _groups(df, facet)
    # a segment under 1% of the tallest bar everywhere would be a legend entry with no visible bar: drop it
    # and say so under the figure
    tallest = float(sum(df[c] for _, c, _ in parts).max()) * 1e3
    hidden = [name for name, col, _ in parts if not float(df[col].max()) * 1e3 >= 0.01 * tallest]
    parts = [p for p in parts if p[0] not in hidden] or parts
    nbars = max(len(fdf) for _, fdf in panels)
    fig, axes = _panels(plt, len(panels), width=max(4.5, 0.5 * nbars + 2.0))
    for ax, (fkey, fdf) in zip(axes, panels):
        fdf = fdf.sort_values(label_cols, kind="stable")
        if x is not None:
            labels = [_fmt_value(v) for v in fdf[x]]
        else:
            labels = [", ".join(f"{c.removeprefix('fabric.')}={_fmt_value(r[c])}" for c in label_cols)
                      for _, r in fdf.iterrows()]
        pos = list(range(len(fdf)))
        bottom = [0.0] * len(fdf)
        for name, col, colour in parts:
            vals = fdf[col].to_numpy() * 1e3
            ax.bar(pos, vals, 0.7, bottom=bottom, label=name, color=colour, edgecolor="white", linewidth=0.5)
            bottom = [b + v for b, v in zip(bottom, vals)]
        crowded = len(labels) > 8 or max(len(t) for t in labels) * len(labels) > 60
        ax.set_xticks(pos, labels, rotation=40 if crowded else 0, ha="right" if crowded else "center")
        ax.set_xlabel(axis_label(x)[0] if x is not None else ", ".join(label_cols))
        ax.grid(axis="x", visible=False)
        if facet is not None:
            ax.set_title(f"{facet} = {_fmt_value(fkey)}")
    top = max((b.get_y() + b.get_height()) for a in axes for b in a.patches)
    for a in axes:
        a.set_ylim(0, top * 1.06)
    what = "Decode step time" if phase == "decode" else "Prefill time"
    axes[0].set_ylabel(f"{what} (ms)")
    axes[-1].legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if hidden:
        fig.text(0.01, 0.005, f"not drawn: {', '.join(hidden)} (< 1% of the tallest bar everywhere)",
                 fontsize=8, color="0.4", ha="left", va="bottom")
        fig.subplots_adjust(bottom=max(fig.subplotpars.bottom, 0.2))
    return _save(fig, out)


def pareto_front(xs: Sequence[float], ys: Sequence[float]) -> list[int]:
    """Indices of the points not dominated when minimising both x and y, sorted by x."""
    order = sorted(range(len(xs)), key=lambda i: (xs[i], ys[i]))
    front, best = [], math.inf
    for i in order:
        if ys[i] < best:
            front.append(i)
            best = ys[i]
    return front


#: the infer job's column -> the serve job's column of the same quantity (:func:`plot_cost_pareto` on a serve table)
SERVE_COLUMNS = {"tpot_s": "tpot_mean_s", "ttft_s": "ttft_mean_s", "cost_per_mtok_usd": "cost_per_mtok_output_usd"}


def plot_cost_pareto(
    data: Any,
    out: str | os.PathLike,
    x: str = "tpot_s",
    y: str = "cost_per_mtok_usd",
    hue: str | None = None,
    label: str | None = None,
    logx: bool = False,
    logy: bool = False,
    title: str | None = None,
    where: str | None = None,
) -> str:
    """Cost per million tokens vs TPOT (or TTFT with ``x="ttft_s"``), one colour per ``hue``
    (default: fabric, model or tp, whichever varies). Each hue's Pareto front (the configurations no
    other of that hue beats on both axes) is a step line, its points labelled with ``label`` (default:
    the swept parallelism/batch parameters); dominated configurations are faint dots. With several hues
    the front across all of them is a dashed black line.

    A table of the ``serve`` job (``ServingResult.summary()`` columns) has no ``tpot_s`` / ``ttft_s`` /
    ``cost_per_mtok_usd``: those names, when absent, read its ``tpot_mean_s`` / ``ttft_mean_s`` /
    ``cost_per_mtok_output_usd`` (the same quantities: mean TPOT and TTFT, $ per million output tokens); any other
    column is named as it is (``--x tpot_p90_s``)."""
    plt = _style()
    df = _load(data, where)
    out = _check_out(out)
    x, y = (SERVE_COLUMNS[c] if c not in df.columns and SERVE_COLUMNS.get(c) in df.columns else c for c in (x, y))
    df, _ = _combine(df, hue)
    _need(df, x, y, hue, label)
    df = df[df[x].notna() & df[y].notna()]
    xlabel, xf = axis_label(x)
    ylabel, yf = axis_label(y)
    if hue is None:
        for c in ("fabric", "model", "tp"):
            if c in df.columns and df[c].nunique() > 1:
                hue = c
                break
    cand = [c for c in ("tp", "ep", "pp", "dp", "batch") if c in df.columns and df[c].nunique() > 1]
    cand = independent(df, [c for c in cand if c != hue], [hue])
    label_cols = [label] if label else cand
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    notes = []
    for i, (hkey, hdf) in enumerate(_groups(df, hue)):
        colour = colours[i % len(colours)] if hue is not None else "0.15"
        xs, ys = (hdf[x] * xf).tolist(), (hdf[y] * yf).tolist()
        ax.scatter(xs, ys, s=20, color=colour, alpha=0.45, lw=0, zorder=3)
        front = pareto_front(xs, ys)
        fx, fy = [xs[j] for j in front], [ys[j] for j in front]
        ax.step(fx, fy, where="post", color=colour, lw=1.4, zorder=2,
                label="Pareto front" if hue is None else _fmt_value(hkey))
        ax.scatter(fx, fy, s=34, color=colour, edgecolors="black", lw=0.6, zorder=4)
        for (_, r), px, py in zip(hdf.iloc[front].iterrows(), fx, fy):
            text = ", ".join(f"{c}={_fmt_value(r[c])}" for c in label_cols)
            if text:
                notes.append((px, py, text, colour))
    if hue is not None and df[hue].nunique() > 1:
        # the front across every hue: the configurations nothing else on the plot beats on both axes
        xs, ys = (df[x] * xf).tolist(), (df[y] * yf).tolist()
        front = pareto_front(xs, ys)
        ax.step([xs[j] for j in front], [ys[j] for j in front], where="post", color="black", lw=0.9, ls="--",
                zorder=5, label="front across all")
    if logx:
        ax.set_xscale("log")
        _plain_log(ax, "x")
    if logy:
        ax.set_yscale("log")
        _plain_log(ax, "y")
    # label front points, skipping any that would sit on a label already placed (axes fraction)
    to_axes = ax.transData + ax.transAxes.inverted()
    placed: list[tuple[float, float]] = []
    for px, py, text, colour in notes:
        ux, uy = to_axes.transform((px, py))
        if any(abs(ux - qx) < 0.16 and abs(uy - qy) < 0.045 for qx, qy in placed):
            continue
        placed.append((ux, uy))
        ax.annotate(text, (px, py), textcoords="offset points", xytext=(5, 3), fontsize=7, color=colour)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, title="Pareto front" if hue is None else f"Pareto front per {hue}")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, out)


def plot(data: Any, out: str | os.PathLike, kind: str = "xy", **kw: Any) -> str:
    """Draw figure ``kind`` (one of :data:`KINDS`) from a table into ``out``; returns ``out``."""
    if kind == "xy":
        if not kw.get("x") or not kw.get("y"):
            raise SpecError("plot: --x and --y are required (or choose --kind busbw|latency-breakdown|cost-pareto)")
        return plot_table(data, out=out, **kw)
    if kind == "busbw":
        kw.pop("x", None)
        kw.pop("logx", None)
        return plot_busbw(data, out, **kw)
    if kind == "latency-breakdown":
        for k in ("y", "hue", "logx", "logy"):
            kw.pop(k, None)
        return plot_latency_breakdown(data, out, **kw)
    if kind == "cost-pareto":
        kw.pop("facet", None)
        kw = {k: v for k, v in kw.items() if v is not None}
        return plot_cost_pareto(data, out, **kw)
    raise SpecError(f"plot: unknown kind {kind!r}; valid: {', '.join(KINDS)}")
