"""Draw a fabric with matplotlib: every node for small fabrics, grouped for large ones.

- Small fabrics (<= ``max_nodes`` nodes): every chip and switch. Switched fabrics are drawn in layers
  (chips at the bottom, coloured by tray; switch tiers above, ordered by plane then index); tori as grids
  (3D: one panel-like block per z slice, side by side; wrap-around links as arcs); full meshes and other
  switchless graphs on a circle.
- Large fabrics: a quotient graph. Chips are grouped by the finest structural level that has at most
  ``max_groups`` groups (e.g. the 96 leaf groups of 64 chips of Maia 200); switches of the same tier and
  index are merged across planes (``"leaf 12 x16 planes"``). Line widths follow the aggregated bandwidth.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from .fabric import Fabric


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (unless a backend was already chosen)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _fmt_bw(v: float) -> str:
    for unit, f in (("TB/s", 1e12), ("GB/s", 1e9), ("MB/s", 1e6)):
        if v >= f:
            return f"{v / f:.3g} {unit}"
    return f"{v:.3g} B/s"


def _title(fab: Fabric) -> str:
    tiers: dict[Any, int] = defaultdict(int)
    for s in fab.switches:
        tiers[fab.node_data[s].get("tier", "?")] += 1
    sw = ", ".join(f"{n} tier-{t} switches" for t, n in sorted(tiers.items(), key=lambda x: str(x[0])))
    inj = np.bincount(fab.edge_src, weights=fab.edge_bandwidth, minlength=fab.n_nodes)[: fab.n_chips].max()
    parts = [f"{fab.name}: {fab.n_chips} x {fab.chip.name}"]
    if sw:
        parts.append(sw)
    parts.append(f"{_fmt_bw(inj)} per chip per direction")
    return " | ".join(parts)


# --------------------------------------------------------------------------------------------- detailed


def _positions_detailed(fab: Fabric) -> tuple[dict[int, tuple[float, float]], set[int]]:
    """Node index -> (x, y), and the set of edges to draw as arcs (wrap-around)."""
    nd = fab.node_data
    N = fab.n_chips
    pos: dict[int, tuple[float, float]] = {}
    arcs: set[int] = set()
    meta = fab.meta
    if meta.get("builder") == "torus":
        dims = list(meta["dims"]) + [1] * (3 - len(meta["dims"]))
        X, Y, Z = dims
        strides = np.cumprod([1, X, Y])
        for r in range(N):
            x, y, z = (r // strides[0]) % X, (r // strides[1]) % Y, (r // strides[2]) % Z
            pos[r] = (x + z * (X + 1.5), -y) if Y > 1 or Z > 1 else (np.cos(2 * np.pi * x / X), np.sin(2 * np.pi * x / X))
        if Y > 1 or Z > 1:
            zc = (np.arange(N) // strides[2]) % Z
            for e in range(fab.n_edges):
                u, v = int(fab.edge_src[e]), int(fab.edge_dst[e])
                if zc[u] != zc[v]:
                    arcs.add(-1 - e)  # z link: not drawn (annotated)
                    continue
                a, b = pos[u], pos[v]
                if abs(a[0] - b[0]) + abs(a[1] - b[1]) > 1.01:
                    arcs.add(e)
        return pos, arcs
    if not fab.switches:
        for r in range(N):
            t = 2 * np.pi * r / N
            pos[r] = (np.cos(t), np.sin(t))
        return pos, arcs
    if meta.get("builder") == "dragonfly":
        # groups around a circle; a group's routers on an arc (radius 1), their chips just outside
        G, a, p = meta["groups"], meta["routers_per_group"], meta["chips_per_router"]
        for i in range(G * a):
            grp, j = divmod(i, a)
            t = 2 * np.pi * (grp + 0.15 + 0.7 * (j + 0.5) / a) / G
            pos[N + i] = (np.cos(t), np.sin(t))
            for k in range(p):
                tk = t + 2 * np.pi * 0.7 / (G * a) * ((k + 0.5) / p - 0.5)
                pos[i * p + k] = (1.18 * np.cos(tk), 1.18 * np.sin(tk))
        return pos, arcs
    width = max(N, 1)
    for r in range(N):
        pos[r] = (r / max(width - 1, 1), 0.0)
    by_tier: dict[Any, list[int]] = defaultdict(list)
    for i in range(N, fab.n_nodes):
        a = nd[fab.nodes[i]]
        by_tier[a.get("tier", 1)].append(i)
    for t, nodes in by_tier.items():
        nodes.sort(key=lambda i: (nd[fab.nodes[i]].get("plane", 0), nd[fab.nodes[i]].get("index", 0), i))
        k = len(nodes)
        for j, i in enumerate(nodes):
            x = 0.5 if k == 1 else j / (k - 1)
            pos[i] = (x, 0.35 if t == 0 else float(t))
    return pos, arcs


def _draw_detailed(fab: Fabric, ax) -> None:
    from matplotlib.collections import LineCollection
    from matplotlib.patches import FancyArrowPatch

    pos, arcs = _positions_detailed(fab)
    bw = fab.edge_bandwidth
    wmax = bw.max() if len(bw) else 1.0
    u_all, v_all = fab.edge_src, fab.edge_dst
    keep = (u_all < v_all) | ~np.isin(u_all * fab.n_nodes + v_all, v_all * fab.n_nodes + u_all)
    N = fab.n_chips
    alpha = float(np.clip(150.0 / max(keep.sum(), 1), 0.08, 0.45))
    segs, widths, colors = [], [], []
    bulge = 0.0  # how far the arcs reach beyond the nodes (patches do not widen the axes' limits)
    for e in np.flatnonzero(keep).tolist():
        if (-1 - e) in arcs:
            continue
        u, v = int(u_all[e]), int(v_all[e])
        lw = 0.4 + 2.2 * bw[e] / wmax
        (x0, y0), (x1, y1) = pos[u], pos[v]
        chipchip = u < N and v < N
        if e in arcs or (chipchip and fab.switches and abs(x1 - x0) > 0):
            rad = 0.25 if e in arcs else 0.6
            bulge = max(bulge, rad * float(np.hypot(x1 - x0, y1 - y0)) / 2)  # arc3's Bezier apex: rad x chord / 2
            ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), connectionstyle=f"arc3,rad={rad}",
                                         arrowstyle="-", lw=lw * (0.7 if e in arcs else 1.0),
                                         color="#999999" if e in arcs else "#d62728", alpha=0.6))
            continue
        segs.append(((x0, y0), (x1, y1)))
        widths.append(lw)
        colors.append((0.33, 0.33, 0.33, alpha))
    if segs:
        ax.add_collection(LineCollection(segs, linewidths=widths, colors=colors, zorder=1))
    trays = fab.trays
    cmap = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
    xs = np.array([pos[i][0] for i in range(N)])
    ys = np.array([pos[i][1] for i in range(N)])
    ax.scatter(xs, ys, s=max(8, 1600 / max(N, 1)), c=[cmap[t % len(cmap)] for t in trays], zorder=3,
               edgecolors="black", linewidths=0.4)
    if fab.switches:
        sx = [pos[i][0] for i in range(N, fab.n_nodes)]
        sy = [pos[i][1] for i in range(N, fab.n_nodes)]
        ax.scatter(sx, sy, s=max(12, 2500 / max(len(sx), 1)), marker="s", c="#444444", zorder=3)
    if any(x < 0 for x in arcs):
        Z = int(fab.meta["dims"][2])
        ax.annotate(f"{Z} z-slices side by side (x right, y down); z links join each chip to the same (x, y) "
                    "in the neighbouring slices, with wrap-around: not drawn. Arcs: wrap-around links.",
                    (0, 0), xycoords="axes fraction", fontsize=8, xytext=(0, -4), textcoords="offset points",
                    va="top")
    if bulge > 0:
        allx = [p[0] for p in pos.values()]
        ally = [p[1] for p in pos.values()]
        pad = bulge + 0.05 * max(max(allx) - min(allx), max(ally) - min(ally), 1e-9)
        ax.set_xlim(min(allx) - pad, max(allx) + pad)
        ax.set_ylim(min(ally) - pad, max(ally) + pad)
    if fab.meta.get("builder") in ("torus", "dragonfly", "full_mesh"):
        ax.set_aspect("equal")
    n_lab = fab.n_nodes <= 80
    if n_lab:
        for i in range(fab.n_nodes):
            x, y = pos[i]
            ax.annotate(str(fab.nodes[i]), (x, y), fontsize=6, ha="center", va="top" if i < N else "bottom",
                        xytext=(0, -5 if i < N else 5), textcoords="offset points")
    ax.set_axis_off()


# --------------------------------------------------------------------------------------------- grouped


def _chip_clusters(fab: Fabric, max_groups: int) -> tuple[np.ndarray, str, int]:
    """Cluster id per chip, a label for a cluster, and the number of clusters."""
    N = fab.n_chips
    best = None
    names = list(fab.meta.get("levels", [])) + ["all"]
    lname = ""
    for j, level in enumerate(fab.levels()):
        if len(level) <= max_groups:
            best = level
            lname = names[j] if j < len(names) else ""
            break
    if best is None or len(best) == 1:
        k = min(max_groups, N)
        size = -(-N // k)
        cid = np.arange(N) // size
        return cid, f"{size} chips", int(cid.max()) + 1
    cid = np.empty(N, dtype=np.int64)
    for j, grp in enumerate(best):
        cid[grp] = j
    sizes = {len(g) for g in best}
    n_trays = len(np.unique(fab.trays[best[0]]))
    label = f"{max(sizes)} chips" + (f" ({n_trays} trays)" if 1 < n_trays < max(sizes) else "")
    if lname and lname not in ("tray", "all"):
        label += f", one per {lname.replace('_', ' ')}"
    return cid, label, len(best)


def _draw_grouped(fab: Fabric, ax, max_groups: int = 128) -> None:
    nd = fab.node_data
    N = fab.n_chips
    cid, clabel, n_cl = _chip_clusters(fab, max_groups)
    # switch clusters: (tier, index) merged across planes
    sw_key: dict[int, tuple] = {}
    planes: dict[tuple, set] = defaultdict(set)
    for i in range(N, fab.n_nodes):
        a = nd[fab.nodes[i]]
        k = (a.get("tier", 1), a.get("group", -1), a.get("index", i))
        sw_key[i] = k
        planes[k].add(a.get("plane", 0))
    keys_by_tier: dict[Any, list[tuple]] = defaultdict(list)
    for k in sorted(set(sw_key.values())):
        keys_by_tier[k[0]].append(k)
    # bucket tiers with too many clusters
    sw_cluster: dict[tuple, tuple] = {}
    for t, ks in keys_by_tier.items():
        b = -(-len(ks) // max_groups)
        for j, k in enumerate(ks):
            sw_cluster[k] = (1, t, j // b)
    n_nodes_cl: dict[tuple, int] = defaultdict(int)
    for k in sw_key.values():
        n_nodes_cl[sw_cluster[k]] += 1
    # node -> cluster label
    node_cl = [(0, 0, int(c)) for c in cid] + [sw_cluster[sw_key[i]] for i in range(N, fab.n_nodes)]
    # positions
    pos: dict[tuple, tuple[float, float]] = {}
    for c in range(n_cl):
        pos[(0, 0, c)] = (c / max(n_cl - 1, 1), 0.0)
    tiers = sorted({k[1] for k in sw_cluster.values()}, key=lambda t: (str(type(t)), t))
    for t in tiers:
        cls = sorted({v for v in sw_cluster.values() if v[1] == t}, key=lambda v: v[2])
        for j, v in enumerate(cls):
            pos[v] = (0.5 if len(cls) == 1 else j / (len(cls) - 1), 0.4 if t == 0 else float(t))
    # aggregate bandwidth between clusters (vectorised over the edges; one direction, lower code first)
    keys = sorted(pos)
    code_of = {k: j for j, k in enumerate(keys)}
    node_code = np.fromiter((code_of[k] for k in node_cl), dtype=np.int64, count=len(node_cl))
    cu, cv = node_code[fab.edge_src], node_code[fab.edge_dst]
    K = len(keys)
    same = cu == cv
    intra = np.bincount(cu[same], weights=fab.edge_bandwidth[same], minlength=K)[:n_cl]
    fwd = cu < cv
    pair, inv = np.unique(cu[fwd] * K + cv[fwd], return_inverse=True)
    wsum = np.bincount(inv, weights=fab.edge_bandwidth[fwd])
    if not fab.switches:
        # switchless (e.g. torus pod): clusters on a circle
        for c in range(n_cl):
            t = 2 * np.pi * c / n_cl
            pos[(0, 0, c)] = (np.cos(t), np.sin(t))
    wmax = float(wsum.max()) if len(wsum) else 1.0
    # alpha per class of cluster pair (e.g. chip->leaf, leaf->spine), so dense classes stay readable
    pa, pb = pair // K, pair % K
    cls_key = np.array([(keys[x][0], keys[x][1], keys[y][0], keys[y][1]).__hash__() for x, y in zip(pa, pb)])
    _, cls_inv, cls_cnt = np.unique(cls_key, return_inverse=True, return_counts=True)
    from matplotlib.collections import LineCollection

    xy = np.array([pos[k] for k in keys])
    segs = np.stack([xy[pa], xy[pb]], axis=1)
    rgba = np.zeros((len(pa), 4))
    rgba[:, :3] = 0.2
    cnt = cls_cnt[cls_inv]
    rgba[:, 3] = np.clip(60.0 / cnt, np.where(cnt > 2000, 0.05, 0.12), 0.7)
    ax.add_collection(LineCollection(segs, colors=rgba, linewidths=0.3 + 2.5 * np.sqrt(wsum / wmax), zorder=1))
    xs = [pos[(0, 0, c)][0] for c in range(n_cl)]
    ys = [pos[(0, 0, c)][1] for c in range(n_cl)]
    ax.scatter(xs, ys, s=max(10, 4000 / n_cl), c="#1f77b4", zorder=3, edgecolors="black", linewidths=0.3)
    for t in tiers:
        cls = [v for v in pos if v[0] == 1 and v[1] == t]
        size = max(10, 3000 / max(len(cls), 1))  # marker area, points^2
        ax.scatter([pos[v][0] for v in cls], [pos[v][1] for v in cls], s=size, marker="s", c="#444444", zorder=3)
        n_pl = max(len(planes[k]) for k in sw_key.values() if k[0] == t)
        n_sw = sum(1 for k in sw_key.values() if k[0] == t)
        name = {0: "server switches", 1: "tier-1 (leaf) switches", 2: "tier-2 (spine) switches"}.get(
            t, f"tier-{t} switches")
        per = n_sw // len(cls)
        txt = f"{len(cls)} x {name}" + (f", each box = {per} switches" if per > 1 else "") + \
            (f" (one per plane, {n_pl} planes)" if n_pl > 1 and per == n_pl else "")
        # above the boxes: half a box side (sqrt of the marker area) plus a gap, so the label never
        # covers the first box
        ax.annotate(txt, (0.0, pos[cls[0]][1]), xytext=(0, np.sqrt(size) / 2 + 6), textcoords="offset points",
                    fontsize=8, va="bottom", zorder=4,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1})
    lab_y = ys[0] if fab.switches else 1.0
    txt = f"{n_cl} chip groups of {clabel}"
    if intra.max() > 0:
        txt += f"; links inside a group: {_fmt_bw(intra.max())} total"
    ax.annotate(txt, (xs[0] if fab.switches else -1.0, lab_y), xytext=(0, -16), textcoords="offset points",
                fontsize=8)
    ax.annotate(f"line width ~ sqrt of aggregated bandwidth (max {_fmt_bw(wmax)} per direction between two boxes)",
                (0, 0), xycoords="axes fraction", fontsize=7, xytext=(0, -4), textcoords="offset points",
                va="top")
    ax.set_axis_off()


FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def check_figure_path(path: str | Path, field: str = "-o") -> str:
    """Fail early, naming ``field``, when ``path`` is not a .png/.svg/.pdf in an existing directory."""
    import os

    from .errors import SpecError

    text = os.fspath(path)
    if os.path.splitext(text)[1].lower() not in FIGURE_SUFFIXES:
        raise SpecError(f"{field}: {text!r} must end in .png, .svg or .pdf")
    parent = os.path.dirname(text) or "."
    if not os.path.isdir(parent):
        raise SpecError(f"{field}: directory {parent!r} of {text!r} does not exist; create it or pick another path")
    return text


def plot_fabric(fab: Fabric, path: str | Path | None = None, max_nodes: int = 300, max_groups: int = 128,
                title: str | None = None) -> Any:
    """Draw ``fab``; write a PNG/SVG/PDF to ``path`` if given. Returns the matplotlib Figure.

    Fabrics with more than ``max_nodes`` nodes are drawn grouped (see module docstring).
    """
    if path is not None:
        check_figure_path(path)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(14, 7))
    if fab.n_nodes <= max_nodes:
        _draw_detailed(fab, ax)
    else:
        _draw_grouped(fab, ax, max_groups=max_groups)
    ax.set_title(title or _title(fab), fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=130)
        plt.close(fig)
    return fig
