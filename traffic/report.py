"""Run a synthetic traffic pattern on a fabric and summarise it (behind ``scaleup traffic``).

:func:`run_pattern` simulates one pattern (all flows start at 0) and returns a :class:`PatternReport`:
per-flow completion times, per-chip achieved throughput against the chip's injection bandwidth, and
per-link statistics. :func:`format_report` prints it; :func:`plot_utilisation` draws a link-utilisation
heatmap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from topo import Fabric, ScheduleError

from . import patterns
from .engine import mean_utilisation, run_batch, run_problem, simulate_arrays
from .maxmin import HAVE_NUMBA


@dataclass
class PatternReport:
    """Outcome of :func:`run_pattern`. SI units (s, bytes, bytes/s).

    Attributes:
        fabric: the fabric's name; pattern, routing, seed: as run.
        flows: number of flows; total_bytes: bytes sent.
        completion: (min, median, max) flow completion time, s (arrival - start; flows weighted equally).
        makespan: the last arrival, s.
        chip_throughput: bytes each sending chip sent / the time its last flow arrived, bytes/s (per chip
            rank; NaN for chips that send nothing).
        injection: each chip's injection bandwidth (line rate of its outgoing links), bytes/s.
        link_bytes, link_busy, link_peak, capacity: per directed link (see :class:`traffic.SimResult`).
        grouped: whether the flows were solved as structural classes (uniform all-to-all).
    """

    fabric: str
    pattern: str
    routing: str
    seed: int
    flows: int
    total_bytes: float
    completion: tuple[float, float, float]
    makespan: float
    chip_throughput: np.ndarray
    injection: np.ndarray
    link_bytes: np.ndarray
    link_busy: np.ndarray
    link_peak: np.ndarray
    capacity: np.ndarray
    grouped: bool = False
    meta: dict = field(default_factory=dict)

    @property
    def utilisation(self) -> np.ndarray:
        """Mean utilisation of each link over the makespan (0..1)."""
        return mean_utilisation(self.link_bytes, self.capacity, self.makespan)


def injection_bandwidth(fab: Fabric) -> np.ndarray:
    """Line rate (bytes/s) of the links leaving each chip, summed, per chip rank."""
    out = np.bincount(fab.edge_src, weights=fab.edge_bandwidth, minlength=fab.n_nodes)
    return out[: fab.n_chips]


def _weighted_quantiles(x: np.ndarray, w: np.ndarray, qs) -> list[float]:
    order = np.argsort(x, kind="stable")
    xs, cw = x[order], np.cumsum(w[order])
    tot = cw[-1]
    return [float(xs[min(np.searchsorted(cw, q * tot, side="left"), len(xs) - 1)]) for q in qs]


def run_pattern(
    fabric: Fabric | str,
    pattern: str,
    size: float,
    seed: int = 0,
    routing: str = "ecmp",
    spread: float = 0.0,
    k: int | None = None,
) -> PatternReport:
    """Simulate ``pattern`` over all chips of ``fabric`` with flows of ``size`` bytes (all start at 0).

    Args:
        pattern: one of :data:`traffic.patterns.PATTERNS`.
        size: bytes per flow; ``spread`` in [0, 1] draws sizes uniformly in size x [1 - spread, 1 + spread]
            (seeded by ``seed``).
        seed: seeds the permutation, the sizes and the hash routing.
        routing: ``"ecmp"``, ``"ecmp-subflows"`` or ``"hash"``.
        k: senders of ``incast`` (default all other chips).
        fabric: a :class:`topo.Fabric`, or a preset name / YAML path as ``--fabric`` (``"maia200"``).
    """
    if isinstance(fabric, str):
        from topo import load

        fabric = load(fabric)
    if not isinstance(fabric, Fabric):
        raise ScheduleError(f"fabric: expected a topo.Fabric or a preset name / YAML path, got "
                            f"{type(fabric).__name__}")
    n = fabric.n_chips
    if isinstance(size, str):  # '1MiB', as the CLI's --size
        from topo import parse_quantity

        size = parse_quantity(size, "size", "size")
    if isinstance(size, bool) or not isinstance(size, (int, float, np.number)) or not size >= 0:
        raise ScheduleError(f"size: must be >= 0 bytes, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ScheduleError(f"seed: must be an integer in [0, 2**63), got {seed!r}")
    inj = injection_bandwidth(fabric)
    name = pattern.replace("-", "_")
    if k is not None and name != "incast":  # as `scaleup traffic --k`: not silently ignored
        raise ScheduleError(f"k: applies to pattern incast only, not {pattern!r}; drop k")
    if name == "all_to_all" and spread == 0 and routing == "ecmp":
        rep = _grouped_all_to_all(fabric, size, seed, inj)
        if rep is not None:
            return rep
    kw = {"k": k} if name == "incast" and k is not None else {}
    src, dst = patterns.make(name, n, seed=seed, **kw)
    sizes = patterns.sizes(len(src), size, spread, seed)
    res = simulate_arrays(fabric, src, dst, sizes, routing=routing, seed=seed)
    comp = res.arrival - res.ready
    sent = np.bincount(src, weights=sizes, minlength=n)
    last = np.full(n, -np.inf)
    np.maximum.at(last, src, res.arrival)
    with np.errstate(invalid="ignore", divide="ignore"):
        thr = np.where(sent > 0, sent / last, np.nan)
    return PatternReport(
        fabric=fabric.name, pattern=name, routing=routing, seed=seed, flows=len(src),
        total_bytes=float(sizes.sum()),
        completion=(float(comp.min()), float(np.median(comp)), float(comp.max())) if len(comp) else (0, 0, 0),
        makespan=res.makespan, chip_throughput=thr, injection=inj, link_bytes=res.link_bytes,
        link_busy=res.link_busy, link_peak=res.link_peak, capacity=res.capacity,
    )


def _grouped_all_to_all(fab: Fabric, size: float, seed: int, inj: np.ndarray) -> PatternReport | None:
    """Uniform all-to-all solved as structural classes (exact; see traffic.structure)."""
    from .steps import _pack
    from .structure import _coarse_maps, faulted_all_to_all_problem, structure, uniform_all_to_all_problem

    g = uniform_all_to_all_problem(fab, size)
    chip_cls = row_cls = None
    if g is None:  # a faulted two-tier fabric: classes on its healthy base's structure (exact)
        g = faulted_all_to_all_problem(fab, size, with_classes=True)
        if g is None:
            return None
        p, sz, mult, chip_cls, row_cls = g
    else:
        p, sz, mult = g
    out = run_batch(p, sz, None, mult) if HAVE_NUMBA else run_problem(p, sz, weight=mult)
    d, edges, eb, busy, peak, _ = _pack(p, sz, mult, out, {})
    ne = fab.n_edges
    lb, lbu, lp = np.zeros(ne), np.zeros(ne), np.zeros(ne)
    lb[edges], lbu[edges], lp[edges] = eb, busy, peak
    comp = out.arrival
    lo, med, hi = _weighted_quantiles(comp, mult, [0.0, 0.5, 1.0])
    n = fab.n_chips
    if chip_cls is not None:  # each chip sends (n - 1) x size; its last flow is its class's last row
        last_c = np.zeros(int(chip_cls.max()) + 1)
        np.maximum.at(last_c, row_cls, comp)
        thr = (n - 1) * size / last_c[chip_cls]
        return PatternReport(
            fabric=fab.name, pattern="all_to_all", routing="ecmp", seed=seed, flows=n * (n - 1),
            total_bytes=float(n * (n - 1) * size), completion=(lo, med, hi), makespan=float(comp.max()),
            chip_throughput=thr, injection=inj, link_bytes=lb, link_busy=lbu, link_peak=lp,
            capacity=fab.edge_capacity.astype(np.float64), grouped=True, meta={"classes": int(p.n_flows)},
        )
    st = structure(fab)
    # the rows of group g are the ones whose first column is a direct-link class or the uplink column of g
    G = st.n_groups
    coarse, ncoarse, D = _coarse_maps(st)
    src_of_direct = np.repeat(np.arange(st.nc), np.diff(st.cc_ptr))
    col_group = np.full(ncoarse, -1, dtype=np.int64)
    col_group[coarse[: st.n_direct]] = st.group[src_of_direct]
    col_group[D:D + G] = np.arange(G)
    first_col = np.asarray(p.indices[p.indptr[:-1]], dtype=np.int64)
    grp_of_row = col_group[first_col]
    last_g = np.full(G, 0.0)
    np.maximum.at(last_g, grp_of_row, comp)
    thr = (n - 1) * size / last_g[st.group]
    return PatternReport(
        fabric=fab.name, pattern="all_to_all", routing="ecmp", seed=seed, flows=n * (n - 1),
        total_bytes=float(n * (n - 1) * size), completion=(lo, med, hi), makespan=float(comp.max()),
        chip_throughput=thr, injection=inj, link_bytes=lb, link_busy=lbu, link_peak=lp,
        capacity=fab.edge_capacity.astype(np.float64), grouped=True, meta={"classes": int(p.n_flows)},
    )


def hottest_links(fab: Fabric, rep: PatternReport, top: int = 5) -> list[tuple[str, str, float, float, float]]:
    """The ``top`` links by mean utilisation: (from, to, utilisation, peak utilisation, busy s)."""
    u = rep.utilisation
    order = np.lexsort((np.arange(len(u)), -u))[:top]
    return [
        (str(fab.nodes[fab.edge_src[e]]), str(fab.nodes[fab.edge_dst[e]]), float(u[e]), float(rep.link_peak[e]),
         float(rep.link_busy[e]))
        for e in order if rep.link_bytes[e] > 0
    ]


def format_report(fab: Fabric, rep: PatternReport, top: int = 5) -> str:
    """Human-readable summary with units in every column."""
    thr = rep.chip_throughput[np.isfinite(rep.chip_throughput)]
    inj = rep.injection
    lines = [
        f"fabric {rep.fabric}: {fab.n_chips} chips; pattern {rep.pattern}, routing {rep.routing}, seed {rep.seed}"
        + (f" (solved as {rep.meta.get('classes')} structural classes, exact for uniform traffic)"
           if rep.grouped else ""),
        f"flows: {rep.flows:,}   bytes sent: {rep.total_bytes / 1e9:,.3f} GB   makespan: {rep.makespan * 1e6:,.3f} us",
        "completion time (us):   min {:>12,.3f}   median {:>12,.3f}   max {:>12,.3f}".format(
            *(c * 1e6 for c in rep.completion)),
    ]
    if len(thr):
        inj_s = inj[np.isfinite(rep.chip_throughput)]
        lines.append(
            f"throughput per chip (GB/s): min {thr.min() / 1e9:>9,.1f}   median {np.median(thr) / 1e9:>9,.1f}   max {thr.max() / 1e9:>9,.1f}")
        lines.append(
            f"injection bandwidth per chip (GB/s, line rate): {float(np.median(inj_s)) / 1e9:,.1f}   achieved median / injection: {float(np.median(thr / inj_s)):.1%}")
    hot = hottest_links(fab, rep, top)
    if hot:
        lines.append(f"hottest links (top {len(hot)} by mean utilisation over the makespan):")
        busy_us = [f"{h[4] * 1e6:,.3f}" for h in hot]
        w = max(12, *map(len, busy_us))  # a busy time of seconds (1e6 us and more) ran into the peak column
        lines.append(f"  {'link':<40} {'util (%)':>9} {'peak (%)':>9} {'busy (us)':>{w}}")
        for (a, b, u, pk, _), busy in zip(hot, busy_us, strict=True):
            lines.append(f"  {a + ' -> ' + b:<40} {u * 100:>9.1f} {pk * 100:>9.1f} {busy:>{w}}")
    return "\n".join(lines)


def plot_utilisation(fab: Fabric, rep: PatternReport, path: str, max_buckets: int = 64) -> str:
    """Write a link-utilisation heatmap: nodes in index order (chips by rank, then switches) grouped into at
    most ``max_buckets`` buckets; each cell holds the links from one bucket to another and shows the largest
    of their mean utilisations over the makespan (cells with a link at >= 95% are ringed); plus side-by-side
    histograms of the mean utilisation per link kind. Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    u = rep.utilisation
    nn, nc = fab.n_nodes, fab.n_chips
    ns = nn - nc
    bc = min(nc, max_buckets)
    bs = min(ns, max_buckets // 2) if ns else 0
    bucket = np.empty(nn, dtype=np.int64)
    bucket[:nc] = np.arange(nc) * bc // nc
    if ns:
        bucket[nc:] = bc + np.arange(ns) * bs // ns
    nb = bc + bs
    grid = np.full((nb, nb), np.nan)
    bi, bj = bucket[fab.edge_src], bucket[fab.edge_dst]
    flat = np.full(nb * nb, -np.inf)
    np.maximum.at(flat, bi * nb + bj, u)
    m = np.isfinite(flat)
    grid.ravel()[m] = flat[m]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 6.2), gridspec_kw={"width_ratios": [1.25, 1]})
    # reversed colours: a busy link is dark and a saturated one black, visible against the white of "no link"
    # (a light end of the scale would vanish into the background); cells of a link at >= 95% get a ring
    vmax = 100.0
    im = ax.imshow(grid * 100, cmap="inferno_r", vmin=0, vmax=vmax, interpolation="nearest")
    hot_i, hot_j = np.nonzero(np.nan_to_num(grid, nan=0.0) >= 0.95)
    if len(hot_i):
        ax.scatter(hot_j, hot_i, s=max(4.0, 2400.0 / nb), marker="s", facecolors="none", edgecolors="#00b4d8",
                   linewidths=0.8, label="a link >= 95% busy")
        ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    ax.axhline(bc - 0.5, color="0.5", lw=0.6)
    ax.axvline(bc - 0.5, color="0.5", lw=0.6)
    per_chip = -(-nc // bc)
    per_sw = -(-ns // bs) if bs else 0
    ax.set_xlabel(f"to node bucket (0..{bc - 1}: chips by rank, ~{per_chip} per bucket"
                  + (f"; {bc}..{nb - 1}: switches, ~{per_sw} per bucket)" if bs else ")"))
    ax.set_ylabel("from node bucket")
    ax.set_title(f"Link utilisation, {rep.pattern} on {rep.fabric}: each cell = the busiest link\n"
                 "from one node bucket to another (white: no link)", fontsize=10)
    fig.colorbar(im, ax=ax, label="busiest link's mean utilisation over the makespan (%)")
    is_chip = np.arange(nn) < nc
    kinds = {
        "chip->chip": is_chip[fab.edge_src] & is_chip[fab.edge_dst],
        "chip->switch": is_chip[fab.edge_src] & ~is_chip[fab.edge_dst],
        "switch->switch": ~is_chip[fab.edge_src] & ~is_chip[fab.edge_dst],
        "switch->chip": ~is_chip[fab.edge_src] & is_chip[fab.edge_dst],
    }
    present = [(label, mask) for label, mask in kinds.items() if mask.any()]
    bins = np.linspace(0, 100, 21)
    # side-by-side bars per bin: kinds with the same distribution stay visible (step outlines overlapped)
    ax2.hist([u[mask] * 100 for _, mask in present], bins=bins, histtype="bar", rwidth=0.9,
             label=[f"{label} ({int(mask.sum()):,} links)" for label, mask in present])
    ax2.set_yscale("log")
    ax2.set_xlabel("mean link utilisation over the makespan (%)")
    ax2.set_ylabel("links")
    ax2.legend(fontsize=8)
    ax2.set_title(f"links per utilisation bin, by link kind; makespan {rep.makespan * 1e6:,.1f} us", fontsize=10)
    fig.text(0.01, 0.005, "node bucket: consecutive nodes in index order (chips by rank, then switches) drawn as "
             "one row/column; a cell holds every link from one bucket to another", fontsize=8, color="0.35")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
