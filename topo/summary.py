"""What a fabric is, in figures: counts, injection and bisection bandwidth, diameter, radix use.

Everything is computed from the graph (never copied from the YAML):

- **bisection bandwidth** (bytes/s, one direction, line rate): the minimum, over balanced partitions of
  the chips into two halves, of the capacity that must cross from one half to the other, switches placed
  on whichever side minimises it. For a given chip partition that minimum is a max-flow/min-cut
  (scipy's Dinic). Which partitions: exhaustively all of them for small fabrics (``exact``, <= 12 chips by default),
  else the structure-aware candidates the builder knows (contiguous rank halves, which split trays,
  leaves and servers cleanly; the halves along each torus dimension) plus a spectral (Fiedler) split; the
  smallest is reported with its cut. For the builders' symmetric structures the contiguous/dimension
  halves are the known minimum bisections (tests check fat trees, tori and meshes against closed forms and
  against the exhaustive search).
- **diameter** (hops): the largest shortest-path hop count between two chips, with non-forwarding chips
  as endpoints only (C BFS from scipy). Sources: every chip for small fabrics, else the builder's
  representative chips (one per structural symmetry class: e.g. chip 0 of a torus), else a sample
  (marked ``diameter_exact: False``).
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_flow, shortest_path

from .fabric import Fabric
from .loader import GIVEN_PRICE
from .netcost import network_capex

EXACT_BISECTION_MAX_CHIPS = 12


# --------------------------------------------------------------------------------------------- cuts


def _unit(fab: Fabric) -> float:
    """Capacity unit (bytes/s) that keeps max-flow capacities integral and below 2**31."""
    bw = fab.edge_bandwidth
    total = float(np.bincount(fab.edge_src, weights=bw, minlength=fab.n_nodes)[: fab.n_chips].sum())
    unit = 1e6
    while total / unit > 1.5e9 or bw.max() / unit > 1.5e9:
        unit *= 10
    return unit


def cut_capacity(fab: Fabric, side_a: np.ndarray) -> float:
    """Least capacity (bytes/s, line rate) crossing from chip set A to its complement, switches free.

    ``side_a``: bool per chip rank. Computed as a max-flow from a super source (feeding A) to a super sink
    (fed by the other chips) over the fabric's directed edges; non-forwarding chips do relay here, as a cut
    is a property of the wires (a bisection is a bound on any routing).
    """
    n, N = fab.n_nodes, fab.n_chips
    a = np.asarray(side_a, dtype=bool)
    unit = _unit(fab)
    cap = np.rint(fab.edge_bandwidth / unit).astype(np.int64)
    out_bw = np.bincount(fab.edge_src, weights=cap, minlength=n)[:N].astype(np.int64)
    big = int(out_bw.sum()) + 1
    s_node, t_node = n, n + 1
    ia, ib = np.flatnonzero(a), np.flatnonzero(~a)
    src = np.r_[fab.edge_src, np.full(len(ia), s_node), ib]
    dst = np.r_[fab.edge_dst, ia, np.full(len(ib), t_node)]
    c = np.r_[cap, np.full(len(ia), big), np.full(len(ib), big)]
    if big >= 2**31:
        raise OverflowError("capacities too large for the max-flow solver")  # pragma: no cover
    m = sp.csr_matrix((c.astype(np.int32), (src, dst)), shape=(n + 2, n + 2))
    m.sum_duplicates()
    return float(maximum_flow(m, s_node, t_node, method="dinic").flow_value) * unit


def _candidate_cuts(fab: Fabric) -> list[tuple[str, np.ndarray]]:
    N = fab.n_chips
    ranks = np.arange(N)
    out = [("first half of ranks", ranks < N // 2)]
    meta = fab.meta
    if meta.get("builder") == "torus":
        dims = np.asarray(meta["dims"])
        strides = np.cumprod(np.r_[1, dims[:-1]])
        coords = (ranks[:, None] // strides) % dims
        for i, d in enumerate(dims):
            if d >= 2 and (N // d) * (d // 2) * 2 == N:
                out.append((f"half of dimension {i}", coords[:, i] < d // 2))
    if meta.get("builder") is None and fab.n_nodes <= 20000 and N >= 4:
        f = _fiedler_split(fab)
        if f is not None:
            out.append(("spectral split", f))
    return out


def _fiedler_split(fab: Fabric) -> np.ndarray | None:
    """Balanced chip split by the median of the Fiedler vector of the undirected Laplacian."""
    from scipy.sparse.csgraph import laplacian

    n = fab.n_nodes
    w = sp.csr_matrix((fab.edge_bandwidth, (fab.edge_src, fab.edge_dst)), shape=(n, n))
    w = (w + w.T) / 2
    lap = laplacian(w).toarray() if n <= 3000 else None
    if lap is None:
        return None
    vals, vecs = np.linalg.eigh(lap)
    v = vecs[:, 1][: fab.n_chips]
    order = np.argsort(v, kind="stable")
    a = np.zeros(fab.n_chips, dtype=bool)
    a[order[: fab.n_chips // 2]] = True
    return a


def bisection_bandwidth(fab: Fabric, exact: bool | None = None) -> dict[str, Any]:
    """Bisection bandwidth of the fabric (bytes/s per direction, line rate) and the cut achieving it.

    Args:
        exact: search every balanced partition (feasible up to ~16 chips; C(n-1, n/2-1) max-flows). ``None``: exact when the fabric
            has at most :data:`EXACT_BISECTION_MAX_CHIPS` chips.

    Returns:
        ``{"bandwidth": bytes/s, "cut": description, "exact": bool}``.
    """
    N = fab.n_chips
    if N < 2:
        return {"bandwidth": 0.0, "cut": "single chip", "exact": True}
    if exact is None:
        exact = N <= EXACT_BISECTION_MAX_CHIPS
    best = (math.inf, "")
    if exact:
        half = N // 2
        for rest in itertools.combinations(range(1, N), half - 1 if N % 2 == 0 else half):
            a = np.zeros(N, dtype=bool)
            a[0] = True
            a[list(rest)] = True
            v = min(cut_capacity(fab, a), cut_capacity(fab, ~a))
            if v < best[0]:
                best = (v, "ranks " + ",".join(map(str, np.flatnonzero(a))) + " | rest")
        return {"bandwidth": best[0], "cut": best[1], "exact": True}
    for label, a in _candidate_cuts(fab):
        v = min(cut_capacity(fab, a), cut_capacity(fab, ~a))
        if v < best[0]:
            best = (v, label)
    return {"bandwidth": best[0], "cut": best[1], "exact": False}


# --------------------------------------------------------------------------------------------- diameter


def hop_distances(fab: Fabric, sources: np.ndarray) -> np.ndarray:
    """Hop counts (sources x chips) of shortest paths; chips relay only if they forward (inf if none)."""
    n, N = fab.n_nodes, fab.n_chips
    fwd = fab.forwards
    # non-forwarding chips get an extra "in" node that receives their in-edges and has no out-edges
    nf = np.flatnonzero(~fwd[:N])
    in_node = np.arange(n)
    in_node[nf] = n + np.arange(len(nf))
    dst = in_node[fab.edge_dst]
    m = sp.csr_matrix((np.ones(fab.n_edges), (fab.edge_src, dst)), shape=(n + len(nf), n + len(nf)))
    d = shortest_path(m, directed=True, unweighted=True, indices=np.asarray(sources))
    d = np.atleast_2d(d)
    return d[:, in_node[:N]]


def diameter(fab: Fabric, max_sources: int = 512) -> dict[str, Any]:
    """Diameter in hops between chips (see module docstring) and whether it is exact."""
    N = fab.n_chips
    rep = fab.meta.get("representative_chips")
    if N <= max_sources:
        sources, exact = np.arange(N), True
    elif rep is not None:
        sources, exact = np.asarray(rep, dtype=np.int64), True
    else:
        sources = np.unique(np.r_[0, np.random.default_rng(0).choice(N, max_sources, replace=False)])
        exact = False
    d = hop_distances(fab, sources)
    d[np.arange(len(sources)), sources] = 0
    val = float(d.max())
    return {"hops": int(val) if math.isfinite(val) else None, "exact": exact}


# --------------------------------------------------------------------------------------------- summary


def summarize(fab: Fabric, bisection: bool = True) -> dict[str, Any]:
    """Figures describing ``fab`` (SI units): a flat-ish dict for printing or ``--json``.

    Keys: ``name``, ``builder``, ``chip``, ``chips``, ``switches`` (total), ``switches_by_tier``,
    ``links`` (adjacent node pairs, merged parallel links counted once), ``cables`` (physical links),
    ``injection_bandwidth`` (bytes/s per direction per chip, line rate; min/max over chips),
    ``injection_to_switches`` / ``injection_to_chips`` (of which), ``bisection_bandwidth`` (bytes/s per
    direction) with ``bisection_cut`` and ``bisection_exact``, ``bisection_per_chip`` (bytes/s per chip
    of the smaller half), ``diameter_hops`` and ``diameter_exact``, ``radix_use`` per switch tier
    (max ports used, radix), ``tiers`` (per switch tier: switch count, planes, ports used per switch
    split into ``down`` (to chips or a lower tier) and ``up`` (to a higher tier), min and max over the tier's
    switches, and ``oversubscription`` = down / up capacity at line rate), ``chip_ports`` (physical links
    per chip: ``to_chips``, ``to_switches``, ``ports`` of the chip spec, ``tray_links_per_peer`` of chip 0
    sorted), ``switch_can_reduce``, ``levels`` (group sizes), ``network_capex`` (switches, switch-attached links,
    optics, chip links counted from the edges and priced by the fabric's ``cost:`` block:
    :meth:`topo.netcost.NetworkCapex.to_dict`, ``per_chip_usd`` included), ``meta``. Every figure comes from the edges.
    """
    nodes = fab.node_data
    N = fab.n_chips
    tiers: dict[str, int] = {}
    radix_use: dict[str, dict[str, Any]] = {}
    ports_used = np.bincount(fab.edge_src, weights=fab.edge_links, minlength=fab.n_nodes)
    for i, s in enumerate(fab.switches, start=N):
        a = nodes[s]
        t = f"tier{a.get('tier', '?')}"
        tiers[t] = tiers.get(t, 0) + 1
        r = radix_use.setdefault(t, {"max_ports_used": 0, "radix": a.get("radix")})
        r["max_ports_used"] = max(r["max_ports_used"], int(ports_used[i]))
    for r in radix_use.values():
        if r["radix"]:
            r["use"] = r["max_ports_used"] / r["radix"]
    src, dst, bw = fab.edge_src, fab.edge_dst, fab.edge_bandwidth
    from_chip = src < N
    inj = np.bincount(src[from_chip], weights=bw[from_chip], minlength=N)
    to_sw = from_chip & (dst >= N)
    inj_sw = np.bincount(src[to_sw], weights=bw[to_sw], minlength=N)
    pair = np.minimum(src, dst) * fab.n_nodes + np.maximum(src, dst)
    n_links = len(np.unique(pair))
    cables = int(round(fab.edge_links.sum() / 2))
    out: dict[str, Any] = {
        "name": fab.name,
        "builder": fab.meta.get("builder") or (f"graph file (from {fab.meta['imported_from']})"
                                               if fab.meta.get("imported_from") not in (None, "graph", "custom")
                                               else "graph file" if "imported_from" in fab.meta else "custom"),
        "chip": fab.chip.name,
        "chip_spec": _chip_spec(fab.chip),
        "chips": N,
        "switches": len(fab.switches),
        "switches_by_tier": dict(sorted(tiers.items())),
        "links": n_links,
        "directed_edges": fab.n_edges,
        "cables": cables,
        "injection_bandwidth": float(inj.min()) if inj.min() == inj.max() else [float(inj.min()), float(inj.max())],
        "injection_to_switches": float(inj_sw.max()),
        "injection_to_chips": float((inj - inj_sw).max()),
        "mean_link_efficiency": float(np.average(fab.edge_efficiency, weights=fab.edge_bandwidth)),
        "switch_can_reduce": fab.switch_can_reduce,
        "reduction_bandwidth": _reduction_per_chip(fab),
        "radix_use": radix_use,
        "tiers": _tier_ports(fab),
        "chip_ports": _chip_ports(fab),
        "levels": [len(level[0]) for level in fab.levels()],
        "network_capex": network_capex(fab).to_dict(),
    }
    if bisection:
        b = bisection_bandwidth(fab)
        out["bisection_bandwidth"] = b["bandwidth"]
        out["bisection_cut"] = b["cut"]
        out["bisection_exact"] = b["exact"]
        out["bisection_per_chip"] = b["bandwidth"] / max(1, N // 2)
    d = diameter(fab)
    out["diameter_hops"] = d["hops"]
    out["diameter_exact"] = d["exact"]
    out["link_classes"] = link_classes(fab)
    out["path_latency"] = path_latency_range(fab)
    out["meta"] = {k: v for k, v in fab.meta.items() if k not in ("representative_chips",)}
    return out


def _node_tiers(fab: Fabric) -> np.ndarray:
    """Tier of every node: 0 for chips, the ``tier`` attribute for switches (-1 if a switch has none)."""
    nd = fab.node_data
    t = np.zeros(fab.n_nodes, dtype=np.int64)
    for i, s in enumerate(fab.switches, start=fab.n_chips):
        t[i] = int(nd[s].get("tier", -1))
    return t


def _span(a: np.ndarray) -> int | list[int]:
    lo, hi = int(a.min()), int(a.max())
    return lo if lo == hi else [lo, hi]


def _tier_ports(fab: Fabric) -> dict[str, dict[str, Any]]:
    """Per switch tier: ports used down / up per switch (physical links), radix and oversubscription."""
    N = fab.n_chips
    if fab.n_nodes == N:
        return {}
    tier = _node_tiers(fab)
    src, dst, lk, bw = fab.edge_src, fab.edge_dst, fab.edge_links, fab.edge_bandwidth
    ts, td = tier[src], tier[dst]
    down_e = (src >= N) & (td < ts)
    up_e = (src >= N) & (td > ts)
    n = fab.n_nodes
    down_l = np.bincount(src[down_e], weights=lk[down_e], minlength=n)
    up_l = np.bincount(src[up_e], weights=lk[up_e], minlength=n)
    all_l = np.bincount(src, weights=lk, minlength=n)
    down_b = np.bincount(src[down_e], weights=bw[down_e], minlength=n)
    up_b = np.bincount(src[up_e], weights=bw[up_e], minlength=n)
    nd = fab.node_data
    out: dict[str, dict[str, Any]] = {}
    for t in sorted(set(tier[N:].tolist())):
        ids = N + np.flatnonzero(tier[N:] == t)
        radix = nd[fab.nodes[int(ids[0])]].get("radix")
        planes = {nd[fab.nodes[int(i)]].get("plane") for i in ids}
        r: dict[str, Any] = {
            "switches": len(ids),
            "planes": len(planes) if None not in planes else None,
            "ports_used": _span(all_l[ids]),
            "down": _span(down_l[ids]),
            "up": _span(up_l[ids]),
            "radix": radix,
        }
        if up_b[ids].min() > 0:
            o = down_b[ids] / up_b[ids]
            r["oversubscription"] = float(o.max())
        out[f"tier{t}"] = r
    return out


def _chip_ports(fab: Fabric) -> dict[str, Any]:
    """Physical links per chip to chips and to switches (min-max over chips), chip 0's links per peer."""
    N = fab.n_chips
    src, dst, lk = fab.edge_src, fab.edge_dst, fab.edge_links
    fc = src < N
    to_c = fc & (dst < N)
    to_s = fc & (dst >= N)
    c_l = np.bincount(src[to_c], weights=lk[to_c], minlength=N)
    s_l = np.bincount(src[to_s], weights=lk[to_s], minlength=N)
    peers = sorted(int(x) for x in lk[to_c & (src == 0)])
    sizes = np.bincount(np.unique(fab.trays, return_inverse=True)[1].ravel())
    return {"to_chips": _span(c_l), "to_switches": _span(s_l), "ports": fab.chip.ports or None,
            "tray_links_per_peer": peers, "trays": len(sizes), "tray_size": _span(sizes)}


def _reduction_per_chip(fab: Fabric) -> float | None:
    """Bytes/s at which chip 0's first-level switches reduce its data (sum of their ``reduction_bandwidth``
    node attributes over chip 0's switch edges), or None when they reduce at line rate / cannot reduce."""
    if not fab.switch_can_reduce or fab.n_chips == 0:
        return None
    nd = fab.node_data
    out = fab.edge_dst[fab.edge_src == 0]
    rates = [nd[fab.nodes[v]].get("reduction_bandwidth") for v in out if v >= fab.n_chips]
    rates = [float(r) for r in rates if r is not None]
    return float(sum(rates)) if rates else None


def _fmt_span(v: int | list[int]) -> str:
    return f"{v[0]}-{v[1]}" if isinstance(v, list) else str(v)


def link_classes(fab: Fabric) -> dict[str, dict[str, Any]]:
    """Per class of link (``chip->chip``, ``chip->switch``, ``switch->chip``, ``switch->switch``): directed
    edge count, latency range (s) and efficiency range (fraction of line rate)."""
    n = fab.n_chips
    is_sw_src, is_sw_dst = fab.edge_src >= n, fab.edge_dst >= n
    out: dict[str, dict[str, Any]] = {}
    for name, sel in (("chip->chip", ~is_sw_src & ~is_sw_dst), ("chip->switch", ~is_sw_src & is_sw_dst),
                      ("switch->chip", is_sw_src & ~is_sw_dst), ("switch->switch", is_sw_src & is_sw_dst)):
        if not sel.any():
            continue
        lat, eff = fab.edge_latency[sel], fab.edge_efficiency[sel]
        out[name] = {"edges": int(sel.sum()), "latency": [float(lat.min()), float(lat.max())],
                     "efficiency": [float(eff.min()), float(eff.max())]}
    return out


def path_latency_range(fab: Fabric, samples: int = 64) -> dict[str, Any]:
    """Zero-load latency (s, sum of link latencies) of the routed paths from chip 0 to up to ``samples``
    chips spread evenly over the ranks: ``min`` and ``max`` over those paths, and how many chips were
    sampled (all of them when the fabric has at most ``samples + 1``)."""
    n = fab.n_chips
    if n < 2:
        return {"min": 0.0, "max": 0.0, "sampled": 0}
    dst = np.unique(np.linspace(1, n - 1, min(samples, n - 1)).round().astype(np.int64))
    r = fab.routes(np.zeros(len(dst), dtype=np.int64), dst)
    lat = fab.edge_latency[r.path_edges]
    sums = np.add.reduceat(lat, r.path_ptr[:-1]) if len(lat) else np.zeros(r.n_paths)
    sums = np.where(np.diff(r.path_ptr) > 0, sums, 0.0)
    return {"min": float(sums.min()), "max": float(sums.max()), "sampled": int(len(dst))}


def _ns(v: float) -> str:
    return f"{v * 1e9:.4g} ns" if v < 1e-6 else f"{v * 1e6:.4g} us"


def _range_txt(lo_hi: list[float], fmt) -> str:
    lo, hi = lo_hi
    return fmt(lo) if lo == hi else f"{fmt(lo)} - {fmt(hi)}"


def _chip_spec(chip: Any) -> dict[str, Any]:
    """What a buyer reads off a datasheet (SI units): HBM and SRAM capacity and bandwidth, dense peak FLOP/s per
    listed dtype, TDP and system power (W: TDP + host share, the basis of the cost; 0 = not public), system capex
    ($ per accelerator, the presets' basis; 0 = none) and whether that price is an ASSUMPTION."""
    return {"hbm_bytes": chip.hbm_bytes, "hbm_bandwidth": chip.hbm_bandwidth, "sram_bytes": chip.sram_bytes,
            "flops": dict(sorted(dict(chip.flops).items(), key=lambda kv: -kv[1])), "tdp_w": chip.tdp,
            "system_power_w": chip.system_power,  # TDP + host share: what the cost and energy figures charge
            "capex_usd": chip.capex, "price_per_hour_usd": chip.price_per_hour,
            "price_assumed": "ASSUMPTION" in chip.price_source or not (chip.capex or chip.price_per_hour),
            "price_given": chip.price_source.startswith(GIVEN_PRICE),  # the fabric file's own chip block
            # the presets say an assumed TDP in their source line ("SRAM bw, power assumed", "... and TDP assumed")
            "tdp_assumed": bool(re.search(r"\b(power|TDP)\b[^;]*\bassumed", chip.source))}


def _chip_line(c: dict[str, Any]) -> str:
    """The ``chip`` line of :func:`format_summary` from :func:`_chip_spec`."""
    peaks = ", ".join(f"{d} {v / 1e15:.3g}" for d, v in c["flops"].items() if d != "fp32")
    parts = [f"HBM {c['hbm_bytes'] / 1e9:.4g} GB at {_bw(c['hbm_bandwidth'])}" if c["hbm_bytes"] else "no HBM"]
    if c["sram_bytes"]:
        sram = c["sram_bytes"]
        parts.append(f"SRAM {sram / 1e9:.4g} GB" if sram >= 1e9 else f"SRAM {sram / 1e6:.4g} MB")
    if peaks:
        parts.append(f"dense PFLOP/s {peaks}")
    sys_w = c.get("system_power_w", c["tdp_w"])
    parts.append((f"TDP {c['tdp_w']:,.0f} W" + (" (ASSUMPTION)" if c.get("tdp_assumed") else "")
                  + (f", system {sys_w:,.0f} W with its host share" if sys_w > c["tdp_w"] else ""))
                 if c["tdp_w"] else "TDP not public")
    basis = "ASSUMPTION" if c["price_assumed"] else "given" if c.get("price_given") else "sourced"
    if c["capex_usd"]:
        parts.append(f"system capex ${c['capex_usd']:,.0f} per accelerator ({basis}; $/chip-hour: scaleup infer)")
    elif c.get("price_per_hour_usd"):
        parts.append(f"cloud ${c['price_per_hour_usd']:g} per chip-hour ({basis})")
    return "; ".join(parts)


def _bw(v: float) -> str:
    return f"{v / 1e12:.4g} TB/s" if v >= 1e12 else f"{v / 1e9:.4g} GB/s"


def format_summary(s: dict[str, Any]) -> str:
    """Human-readable lines for a :func:`summarize` dict (units named on every figure)."""
    tiers = ", ".join(f"{k}: {v}" for k, v in s["switches_by_tier"].items())
    inj = s["injection_bandwidth"]
    inj_txt = _bw(inj) if not isinstance(inj, list) else f"{_bw(inj[0])} - {_bw(inj[1])}"
    lines = [
        f"fabric            {s['name']}  (builder {s['builder']}, chip {s['chip']})",
        f"chips             {s['chips']}",
        *([f"chip              {s['chip']}: {_chip_line(s['chip_spec'])}"] if s.get("chip_spec") else []),
        f"switches          {s['switches']}" + (f"  ({tiers})" if tiers else ""),
        f"links             {s['links']} node pairs linked, {s['cables']} cables (physical links)",
        *([f"network capex     {s['network_capex']['summary']}"] if s.get("network_capex") else []),
        f"injection         {inj_txt} per chip per direction (to switches {_bw(s['injection_to_switches'])}, "
        f"to chips {_bw(s['injection_to_chips'])}); line rate, mean link efficiency "
        f"{s['mean_link_efficiency']:.3g}",
    ]
    if "bisection_bandwidth" in s and s["chips"] < 2:  # one chip (a CS-3 wafer): no halves to cut
        lines.append("bisection         none: one chip, no halves to cut")
    elif "bisection_bandwidth" in s:
        how = "exhaustive search" if s["bisection_exact"] else f"cut: {s['bisection_cut']}"
        lines.append(f"bisection         {_bw(s['bisection_bandwidth'])} per direction, "
                     f"{_bw(s['bisection_per_chip'])} per chip of a half ({how})")
    d = s["diameter_hops"]
    lines.append(f"diameter          {d if d is not None else 'disconnected'} hops between chips"
                 + ("" if s["diameter_exact"] else " (sampled sources: a lower bound)"))
    cp = s.get("chip_ports")
    if cp:
        peers = "/".join(map(str, cp["tray_links_per_peer"]))
        if cp.get("trays") and cp["trays"] < s["chips"]:
            lines.append(f"trays             {cp['trays']} trays of {_fmt_span(cp['tray_size'])} chips")
        lines.append(f"chip ports        {_fmt_span(cp['to_chips'])} to chips"
                     + (f" (links per peer {peers})" if peers else "")
                     + f", {_fmt_span(cp['to_switches'])} to switches"
                     + (f"; chip has {cp['ports']}" if cp.get("ports") else ""))
    for t, r in s.get("tiers", {}).items():
        pl = f" ({r['planes']} planes, {r['switches'] // r['planes']} per plane)" if r.get("planes") else ""
        rad = f"/{r['radix']}" if r.get("radix") else ""
        osub = (f"; oversubscription {r['oversubscription']:.3g}:1" if "oversubscription" in r else "")
        role = {"tier0": " (in-server)", "tier1": " (leaf)", "tier2": " (spine)"}.get(t, "")
        lines.append(f"{t + role:<18}{r['switches']} switches{pl}: ports used {_fmt_span(r['ports_used'])}{rad} per "
                     f"switch = {_fmt_span(r['down'])} down + {_fmt_span(r['up'])} up{osub}")
    ru = []
    for t, r in s["radix_use"].items():
        if r.get("radix"):
            ru.append(f"{t}: {r['max_ports_used']}/{r['radix']} ports ({100 * r['use']:.0f}%)")
        else:
            ru.append(f"{t}: {r['max_ports_used']} ports used")
    if ru:
        lines.append("radix use         " + ", ".join(ru))
    red = s.get("reduction_bandwidth")
    rate = "" if not s["switch_can_reduce"] else (" (at line rate)" if red is None else
                                                  f" (switches reduce {_bw(red)} per chip)")
    lines.append(f"in-network reduce {'yes' if s['switch_can_reduce'] else 'no'}{rate}")
    lines.append("levels            group sizes " + ", ".join(map(str, s["levels"])) + " chips")
    classes = s.get("link_classes", {})
    if classes:
        lat = ", ".join(f"{k} {_range_txt(c['latency'], _ns)}" for k, c in classes.items())
        pl = s.get("path_latency")
        if pl and pl["sampled"]:
            lat += (f"; chip to chip {_range_txt([pl['min'], pl['max']], _ns)} at zero load "
                    f"({pl['sampled']} chips sampled)")
        lines.append(f"latency           {lat} (a link leaving a switch includes the switch's latency)")
        eff = ", ".join(f"{k} {_range_txt(c['efficiency'], lambda v: f'{v:.3g}')}" for k, c in classes.items())
        lines.append(f"efficiency        {eff} (fraction of line rate achieved)")
    return "\n".join(lines)
