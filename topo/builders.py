"""Fabric builders. Each returns a :class:`Fabric` with ``meta`` filled and a formula router.

Every builder is a function whose keyword arguments mirror the YAML keys of ``topologies/*.yaml``.
Quantities accept SI numbers or strings with units (``"400Gbps"``, ``"1.4TB/s"``, ``"500ns"``).
Node ids: chips ``"c{rank}"``; switches named by their place in the structure (``"p3.leaf12"``,
``"p3.spine40"``, ``"sw2"``, ``"s5.nvsw"``, ``"g3.r1"``). Chips are numbered tray-first (then leaf, server,
router...), so consecutive ranks are close in the fabric and ``Fabric.groups(k, "tray")`` is local.

Latency convention: a link's ``latency`` is the cable/PHY latency plus, for links leaving a switch, the
switch's port-to-port latency; a path's latency is the sum over its links.

Routing (all builders): minimal paths by formula, vectorised over pairs (see each router's docstring for
its ECMP set). Chips do not forward other chips' traffic unless the builder says so (torus, mesh options).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._build import (
    Block,
    FormulaRouter,
    GraphAssembler,
    as_bool,
    as_fraction,
    as_int,
    as_list,
    as_quantity,
    resolve_chip,
    split_by_key,
)
from ._capacity import check_graph_size
from .errors import CapacityError, RoutingError, SpecError
from .fabric import Fabric
from .specs import ChipSpec

ChipArg = str | ChipSpec | None


def _chip_nodes(n: int, tray: np.ndarray, forward: bool, extra: dict[str, np.ndarray] | None = None):
    ids = [f"c{r}" for r in range(n)]
    extra = extra or {}
    cols = {k: v.tolist() for k, v in extra.items()}
    tr = tray.tolist()
    attrs = []
    for r in range(n):
        a = {"kind": "chip", "rank": r, "tray": tr[r], "forward": forward}
        for k, col in cols.items():
            a[k] = col[r]
        attrs.append(a)
    return ids, attrs


def _leaf_uplinks(down: int, leaf_uplinks: Any, oversubscription: Any) -> int:
    """Uplink ports of a leaf: ``leaf_uplinks`` if given, else ``down / oversubscription`` rounded
    (``oversubscription`` None: 1, non-blocking). Both given: they must agree (``down / leaf_uplinks``)."""
    osub = 1.0 if oversubscription is None else as_quantity("oversubscription", oversubscription, "number")
    if not osub >= 1:
        raise SpecError(f"oversubscription: must be >= 1, got {oversubscription!r}")
    if leaf_uplinks is not None:
        up = as_int("leaf_uplinks", leaf_uplinks)
        # an explicit oversubscription that the uplinks contradict (oversubscription: 1 beside a file's 32 uplinks
        # for 96 down) is refused: it was ignored when it equalled the old default 1.0, labelling a 3:1 fabric 1:1
        if oversubscription is not None and up > 0 and abs(down / up - osub) > 1e-9 * osub:
            raise SpecError(f"oversubscription: {oversubscription!r} conflicts with leaf_uplinks={leaf_uplinks!r} "
                            f"({down} down / {up} up = {down / up:g}:1); give one of them "
                            "(e.g. --set leaf_uplinks=null, or fabric.leaf_uplinks: null in a sweep)")
        return up
    return int(round(down / osub))


def _spines(spines: Any, up_ports: int) -> tuple[int, int]:
    """(spines per plane, links from each leaf to each spine): the leaf's uplinks split evenly."""
    S = as_int("spines", spines if spines is not None else up_ports)
    if up_ports % S:
        divs = [d for d in range(1, up_ports + 1) if up_ports % d == 0]
        near = [f"spines={d}" for d in (max((d for d in divs if d < S), default=None),
                                         min((d for d in divs if d > S), default=None)) if d is not None]
        raise SpecError(f"spines: leaf_uplinks={up_ports} must split evenly over {S} spines; give "
                        f"{' or '.join(near)} ({'divisors' if len(near) > 1 else 'a divisor'} of {up_ports}) or leaf_uplinks={-(-up_ports // S) * S} "
                        f"(a multiple of {S})")
    return S, up_ports // S


def _per_dimension(name: str, value: Any, D: int, parse: Any) -> list[float]:
    """One value per torus dimension from one value or a list of ``D`` (ASTRA-sim's per-dimension bandwidth and
    latency: ``link_bandwidth: [200GB/s, 100GB/s, 50GB/s]``); ``parse(name, value)`` reads each."""
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) != D:
            raise SpecError(f"{name}: give one value or one per dimension ({D}), got {len(value)}")
        return [parse(f"{name}[{i}]", v) for i, v in enumerate(value)]
    return [parse(name, value)] * D


def _default_port_bw(chip: ChipSpec, value: Any, name: str) -> float:
    if value is None:
        if chip.port_bandwidth > 0:
            return chip.port_bandwidth
        raise SpecError(f"{name}: chip {chip.name!r} has no port_bandwidth; give {name} (e.g. '400Gbps')")
    return as_quantity(name, value, "bandwidth")


# ============================================================================================ two_tier

#: Named tray wirings for ``two_tier(tray_links=...)``: layout -> (tray size, link classes with their default
#: link counts, class of each chip pair). ``hammingmesh-2x2``: the Maia 200 tray (Microsoft, arXiv 2608.24664,
#: Hot Chips 38, as quoted by github.com/Yufeng98/AI-datacenter chips/microsoft-maia/hw-architecture.md sec. 6
#: and 9): four chips on a 2 x 2 grid (tray rank r at row r // 2, column r % 2), "a 2x2 1D HammingMesh with
#: cross-links": north-south 300 GB/s = 6 x 400G, east-west 350 GB/s = 7, diagonal 350 GB/s = 7 per direction.
TRAY_LAYOUTS: dict[str, tuple[int, dict[str, int], Any]] = {
    "hammingmesh-2x2": (
        4,
        {"north_south": 6, "east_west": 7, "diagonal": 7},
        lambda i, j: ("east_west" if i // 2 == j // 2 else "north_south" if i % 2 == j % 2 else "diagonal"),
    ),
}


def _tray_links(T: int, tray_ports: Any, tray_links: Any) -> tuple[np.ndarray, str]:
    """Links between each pair of tray ranks (T x T ints, symmetric, zero diagonal) and a layout label.

    ``tray_links``: None (``tray_ports``, default 12, split evenly over the peers), an int (links to every
    peer), a T x T matrix of links per peer, a layout name of :data:`TRAY_LAYOUTS`, or a mapping
    ``{layout: NAME, <class>: links, ...}`` overriding the layout's link counts.
    """
    if T == 1:
        return np.zeros((1, 1), dtype=np.int64), "single chip"
    if tray_links is None:
        tp = as_int("tray_ports", 12 if tray_ports is None else tray_ports, 0)
        if tp == 0:
            raise SpecError("tray_ports: trays of more than one chip need tray ports (> 0)")
        if tp % (T - 1):
            raise SpecError(f"tray_ports: {tp} must split evenly over the {T - 1} tray peers "
                            "(or give tray_links per peer)")
        m = np.full((T, T), tp // (T - 1), dtype=np.int64)
        np.fill_diagonal(m, 0)
        return m, f"full mesh, {tp // (T - 1)} links per peer"
    label = "full mesh"
    if isinstance(tray_links, str) or isinstance(tray_links, dict):
        spec = {"layout": tray_links} if isinstance(tray_links, str) else dict(tray_links)
        name = spec.pop("layout", None)
        if name not in TRAY_LAYOUTS:
            raise SpecError(f"tray_links: unknown layout {name!r}; known: {', '.join(TRAY_LAYOUTS)} "
                            "(or give links per peer: an integer or a tray_size x tray_size matrix)")
        size, counts, cls = TRAY_LAYOUTS[name]
        if T != size:
            raise SpecError(f"tray_links: layout {name!r} needs tray_size={size}, got {T}")
        counts = dict(counts)
        for k, v in spec.items():
            if k not in counts:
                raise SpecError(f"tray_links.{k}: not a link class of {name!r}; classes: {', '.join(counts)}")
            counts[k] = as_int(f"tray_links.{k}", v)
        m = np.zeros((T, T), dtype=np.int64)
        for i in range(T):
            for j in range(T):
                if i != j:
                    m[i, j] = counts[cls(i, j)]
        label = name + " (" + ", ".join(f"{k} {v}" for k, v in counts.items()) + " links)"
    elif isinstance(tray_links, (int, np.integer)) and not isinstance(tray_links, bool):
        m = np.full((T, T), as_int("tray_links", tray_links), dtype=np.int64)
        np.fill_diagonal(m, 0)
        label = f"full mesh, {int(tray_links)} links per peer"
    else:
        try:
            m = np.asarray(tray_links)
        except (TypeError, ValueError):
            m = np.zeros(0)
        if m.shape != (T, T) or not np.issubdtype(m.dtype, np.integer):
            raise SpecError(f"tray_links: expected an integer, a layout name ({', '.join(TRAY_LAYOUTS)}) or a "
                            f"{T} x {T} matrix of integer links per peer, got {tray_links!r}")
        m = m.astype(np.int64)
        if np.any(np.diag(m) != 0) or not np.array_equal(m, m.T):
            raise SpecError("tray_links: the matrix must be symmetric (links are physical) with a zero diagonal")
        off = ~np.eye(T, dtype=bool)
        if np.any(m[off] < 1):
            raise SpecError("tray_links: every pair of tray chips needs at least one link (a full mesh)")
        label = "per-peer matrix"
    rows = m.sum(axis=1)
    if tray_ports is not None:
        tp = as_int("tray_ports", tray_ports, 0)
        if np.any(rows != tp):
            raise SpecError(f"tray_ports: {tp} conflicts with tray_links ({rows.tolist()} links per chip); "
                            "give one of them (e.g. --set tray_ports=null)")
    return m, label



class TwoTierRouter(FormulaRouter):
    """ECMP routes of a two-tier multi-plane fabric, by formula.

    - same tray: the direct tray edge (1 path, 1 hop);
    - same leaf index, different tray: one path per plane, chip -> leaf_p -> chip (P paths, 2 hops);
    - different leaves: chip -> leaf_p -> spine_{p,k} -> leaf_p -> chip for every plane p and spine k
      (P x S paths, 4 hops), plane-major order.
    Tray links never carry other chips' traffic on minimal paths, with or without ``tray_forwarding``.
    """

    def __init__(self, tray_size: int, chips_per_leaf: int, tray_edge: np.ndarray, up: np.ndarray,
                 down: np.ndarray, lu: np.ndarray, ld: np.ndarray) -> None:
        super().__init__()
        self.T = tray_size
        self.C = chips_per_leaf
        self.tray_edge, self.up, self.down, self.lu, self.ld = tray_edge, up, down, lu, ld
        self.P = up.shape[1]
        self.S = lu.shape[2] if lu.size else 0

    def blocks(self, fabric: Fabric, s: np.ndarray, d: np.ndarray, idx: np.ndarray) -> list[Block]:
        T, C, P, S = self.T, self.C, self.P, self.S
        same_tray = (s // T) == (d // T)
        ls, ld_ = s // C, d // C
        same_leaf = (ls == ld_) & ~same_tray
        cross = ls != ld_
        out = []
        m = np.flatnonzero(same_tray)
        if len(m):
            ss, dd = s[m], d[m]
            out.append(Block(idx[m], np.ones(1, dtype=np.int64),
                             lambda sel, ss=ss, dd=dd: self.tray_edge[ss[sel], dd[sel] % T][:, None]))
        m = np.flatnonzero(same_leaf)
        if len(m):
            ss, dd = s[m], d[m]

            def mk_leaf(sel, ss=ss, dd=dd):
                return np.stack([self.up[ss[sel]], self.down[dd[sel]]], axis=2).reshape(len(sel), 2 * P)

            out.append(Block(idx[m], np.full(P, 2, dtype=np.int64), mk_leaf))
        m = np.flatnonzero(cross)
        if len(m):
            if S == 0:  # pragma: no cover - single-leaf fabrics have no cross pairs
                raise RoutingError("two_tier: pairs on different leaves but no spines")
            ss, dd, a, b = s[m], d[m], ls[m], ld_[m]
            pidx = np.arange(P)

            def mk_cross(sel, ss=ss, dd=dd, a=a, b=b):
                n = len(sel)
                e = np.empty((n, P, S, 4), dtype=np.int64)
                e[:, :, :, 0] = self.up[ss[sel]][:, :, None]
                e[:, :, :, 1] = self.lu[pidx[None, :], a[sel][:, None], :]
                e[:, :, :, 2] = self.ld[pidx[None, :], :, b[sel][:, None]].reshape(n, P, S)
                e[:, :, :, 3] = self.down[dd[sel]][:, :, None]
                return e.reshape(n, P * S * 4)

            out.append(Block(idx[m], np.full(P * S, 4, dtype=np.int64), mk_cross))
        return out


@dataclass(frozen=True)
class _TwoTierPlan:
    """The checked parameters of :func:`two_tier`, in SI units, and the leaf/spine layout derived from them."""

    chip: ChipSpec
    N: int  # chips
    T: int  # tray size
    pbw: float  # chip port bandwidth, bytes/s
    tray_m: np.ndarray  # T x T links between tray ranks
    tray_label: str
    tp: int  # tray ports per chip (the largest row of tray_m)
    P: int  # planes
    ppp: int  # ports per plane
    R: int  # switch radix
    sw_bw: float  # switch port bandwidth, bytes/s
    lat: float  # switch-link latency, s
    tlat: float  # tray-link latency, s
    swlat: float  # switch port-to-port latency, s
    eff: float
    teff: float
    fwd: bool
    inr: bool
    red: float | None  # reduction bandwidth per switch port, bytes/s
    down: int  # leaf down ports
    C: int  # chips per leaf
    up_ports: int  # leaf uplinks
    L: int  # leaves per plane
    S: int  # spines per plane
    per_pair: int  # links per leaf-spine pair


def _check_two_tier_args(chips, chip, tray_size, port_bandwidth, ports, tray_ports, tray_links, planes,
                         ports_per_plane, switch_radix, switch_port_bandwidth, leaf_down, leaf_uplinks,
                         oversubscription, spines, link_latency, tray_latency, switch_latency, efficiency,
                         tray_efficiency, tray_forwarding, in_network_reduction,
                         reduction_bandwidth) -> _TwoTierPlan:
    """Parse and check :func:`two_tier`'s arguments (in this order: the first bad one raises) into a plan."""
    c = resolve_chip(chip, "maia200")
    N = as_int("chips", chips)
    T = as_int("tray_size", tray_size)
    pbw = _default_port_bw(c, port_bandwidth, "port_bandwidth")
    n_ports = as_int("ports", ports if ports is not None else c.ports, 1) if (ports is not None or c.ports) else None
    tray_m, tray_label = _tray_links(T, tray_ports, tray_links)
    tp = int(tray_m.sum(axis=1).max())
    P = as_int("planes", planes)
    ppp = as_int("ports_per_plane", ports_per_plane)
    R = as_int("switch_radix", switch_radix, 2)
    sw_bw = pbw if switch_port_bandwidth is None else as_quantity("switch_port_bandwidth", switch_port_bandwidth,
                                                                  "bandwidth")
    lat = as_quantity("link_latency", link_latency, "time", positive=False)
    tlat = lat if tray_latency is None else as_quantity("tray_latency", tray_latency, "time", positive=False)
    swlat = as_quantity("switch_latency", switch_latency, "time", positive=False)
    eff = as_fraction("efficiency", efficiency)
    teff = eff if tray_efficiency is None else as_fraction("tray_efficiency", tray_efficiency)
    fwd = as_bool("tray_forwarding", tray_forwarding)
    inr = as_bool("in_network_reduction", in_network_reduction)
    red = None if reduction_bandwidth is None else as_quantity("reduction_bandwidth", reduction_bandwidth,
                                                               "bandwidth")
    if red is not None and not inr:
        raise SpecError("reduction_bandwidth: set only with in_network_reduction: true (the switches must reduce)")
    if N % T:
        raise SpecError(f"chips: {N} is not a multiple of tray_size={T}")
    if n_ports is not None and tp + P * ppp > n_ports:
        raise CapacityError(
            f"ports: {tp} tray ports + {P} planes x {ppp} = {tp + P * ppp} exceed the chip's {n_ports} ports; "
            "lower planes, tray_ports or tray_links, or raise ports"
        )
    down, C, up_ports, L, S, per_pair = _leaf_and_spine_layout(N, T, ppp, R, leaf_down, leaf_uplinks,
                                                               oversubscription, spines)
    return _TwoTierPlan(c, N, T, pbw, tray_m, tray_label, tp, P, ppp, R, sw_bw, lat, tlat, swlat, eff, teff, fwd,
                        inr, red, down, C, up_ports, L, S, per_pair)


def _leaf_and_spine_layout(N: int, T: int, ppp: int, R: int, leaf_down: Any, leaf_uplinks: Any,
                           oversubscription: Any, spines: Any) -> tuple[int, int, int, int, int, int]:
    """(leaf down ports, chips per leaf, leaf uplinks, leaves per plane, spines per plane, links per leaf-spine
    pair) of one plane, checked against the switch radix; no spines (S = per_pair = 0) with a single leaf."""
    down = as_int("leaf_down", leaf_down if leaf_down is not None else R // 2)
    if down % ppp:
        raise SpecError(f"leaf_down: {down} must be a multiple of ports_per_plane={ppp}")
    C = down // ppp  # chips per leaf
    if C % T:
        raise SpecError(f"leaf_down: each leaf must serve whole trays ({C} chips per leaf, tray_size={T})")
    up_ports = _leaf_uplinks(down, leaf_uplinks, oversubscription)
    if down + up_ports > R:
        raise CapacityError(
            f"switch_radix: a leaf needs {down} down + {up_ports} up ports > radix {R}; lower leaf_down or "
            "leaf_uplinks, or raise switch_radix"
        )
    L = -(-N // C)  # leaves per plane
    S = 0
    per_pair = 0
    if L > 1:
        S, per_pair = _spines(spines, up_ports)
        if L * per_pair > R:
            max_leaves = R // per_pair
            raise CapacityError(
                f"chips: {N} chips need {L} leaves per plane, but a spine of radix {R} reaches at most "
                f"{max_leaves} leaves ({per_pair} link(s) each); the largest two_tier fabric with these "
                f"settings has {max_leaves * C} chips"
            )
    return down, C, up_ports, L, S, per_pair


def _add_two_tier_nodes(ga: GraphAssembler, p: _TwoTierPlan) -> tuple[int, int]:
    """Add the chips, then every plane's leaves, then every plane's spines; returns the first leaf's and the
    first spine's node index (leaf ``q`` of plane ``k`` is ``leaf0 + k * L + q``, spines likewise)."""
    ranks = np.arange(p.N)
    ids, attrs = _chip_nodes(p.N, ranks // p.T, p.fwd, {"leaf": ranks // p.C})
    ga.add_nodes(ids, attrs)
    red_leaf = {} if p.red is None else {"reduction_bandwidth": p.red * p.ppp}
    red_spine = {} if p.red is None else {"reduction_bandwidth": p.red * max(p.per_pair, 1)}
    leaf0 = ga.add_nodes(
        [f"p{k}.leaf{q}" for k in range(p.P) for q in range(p.L)],
        [{"kind": "switch", "tier": 1, "plane": k, "index": q, "radix": p.R, "in_network_reduction": p.inr,
          **red_leaf} for k in range(p.P) for q in range(p.L)],
    )
    spine0 = ga.add_nodes(
        [f"p{k}.spine{s}" for k in range(p.P) for s in range(p.S)],
        [{"kind": "switch", "tier": 2, "plane": k, "index": s, "radix": p.R, "in_network_reduction": p.inr,
          **red_spine} for k in range(p.P) for s in range(p.S)],
    )
    return leaf0, spine0


def _tray_pairs(p: _TwoTierPlan) -> tuple[np.ndarray, np.ndarray]:
    """(chip, tray rank of its peer) for every ordered pair of distinct chips of a tray, chip-major."""
    src = np.repeat(np.arange(p.N), p.T)
    j = np.tile(np.arange(p.T), p.N)
    keep = ((src // p.T) * p.T + j) != src
    return src[keep], j[keep]


def _add_tray_links(ga: GraphAssembler, p: _TwoTierPlan) -> Any:
    """The tray mesh: chip c -> peer (tray*T + j), j != c % T, one merged edge per direction carrying
    ``tray_m[c % T, j]`` links; returns the assembler's ids of those edges (None for single-chip trays)."""
    if p.T == 1:
        return None
    cc, jj = _tray_pairs(p)
    peer = (cc // p.T) * p.T + jj
    n_links = p.tray_m[cc % p.T, jj]
    return ga.add_directed(cc, peer, n_links * p.pbw, p.tlat, p.teff, n_links)


def _add_plane_links(ga: GraphAssembler, p: _TwoTierPlan, leaf0: int, spine0: int) -> tuple[Any, Any, Any, Any]:
    """Chip <-> leaf (one merged edge per chip and plane, ``ppp`` links) and leaf <-> spine (``per_pair`` links)
    edges; returns the assembler's ids (chip->leaf, leaf->chip, leaf->spine, spine->leaf; the last two None
    without spines)."""
    ranks = np.arange(p.N)
    cc = np.repeat(ranks, p.P)
    pp = np.tile(np.arange(p.P), p.N)
    lf = leaf0 + pp * p.L + (ranks // p.C)[cc]
    bw_cl = p.ppp * min(p.pbw, p.sw_bw)
    up_ids, down_ids = ga.add_links(cc, lf, bw_cl, p.lat, p.lat + p.swlat, p.eff, p.ppp)
    lu_ids = ld_ids = None
    if p.S:
        p3, l3, k3 = np.meshgrid(np.arange(p.P), np.arange(p.L), np.arange(p.S), indexing="ij")
        lu_ids, ld_ids = ga.add_links(leaf0 + p3 * p.L + l3, spine0 + p3 * p.S + k3, p.per_pair * p.sw_bw,
                                      p.lat + p.swlat, p.lat + p.swlat, p.eff, p.per_pair)
    return up_ids, down_ids, lu_ids, ld_ids


def _two_tier_meta(p: _TwoTierPlan) -> dict[str, Any]:
    """``Fabric.meta`` of a two_tier fabric (builder parameters, for summaries and exports)."""
    return {
        "builder": "two_tier", "chips": p.N, "tray_size": p.T, "planes": p.P, "ports_per_plane": p.ppp,
        "tray_ports": p.tp, "tray_links": p.tray_m.tolist(), "tray_layout": p.tray_label, "port_bandwidth": p.pbw,
        "switch_radix": p.R, "leaf_down": p.down,
        "leaf_uplinks": p.up_ports, "chips_per_leaf": p.C, "leaves_per_plane": p.L, "spines_per_plane": p.S,
        "links_per_leaf_spine": p.per_pair, "oversubscription": p.down / p.up_ports, "link_latency": p.lat,
        "tray_latency": p.tlat, "switch_latency": p.swlat, "tray_forwarding": p.fwd,
        "in_network_reduction": p.inr, "reduction_bandwidth": p.red, "levels": ["tray", "leaf"],
        "max_chips": (p.R // p.per_pair) * p.C if p.S else p.C,
        # every chip of a full leaf is equivalent to chip 0 under the fabric's symmetries; the last leaf
        # may be partly filled
        "representative_chips": sorted({0, (p.L - 1) * p.C}),
    }


def _two_tier_router(ga: GraphAssembler, p: _TwoTierPlan, tray_ids: Any, up_ids: Any, down_ids: Any, lu_ids: Any,
                     ld_ids: Any) -> TwoTierRouter:
    """The formula router, from the final edge ids of the built fabric (call after ``ga.build``)."""
    tray_edge = np.full((p.N, p.T), -1, dtype=np.int64)
    if p.T > 1:
        src_t, j_t = _tray_pairs(p)
        tray_edge[src_t, j_t] = ga.final(tray_ids)
    up = ga.final(up_ids).reshape(p.N, p.P)
    dn = ga.final(down_ids).reshape(p.N, p.P)
    if p.S:
        lu = ga.final(lu_ids).reshape(p.P, p.L, p.S)
        ld = ga.final(ld_ids).reshape(p.P, p.L, p.S).transpose(0, 2, 1).copy()
    else:
        lu = ld = np.zeros((p.P, p.L, 0), dtype=np.int64)
    return TwoTierRouter(p.T, p.C, tray_edge, up, dn, lu, ld)


def two_tier(
    chips: int = 6144,
    chip: ChipArg = "maia200",
    tray_size: int = 4,
    port_bandwidth: Any = None,
    ports: int | None = None,
    tray_ports: int | None = None,
    tray_links: Any = None,
    planes: int = 16,
    ports_per_plane: int = 1,
    switch_radix: int = 128,
    switch_port_bandwidth: Any = None,
    leaf_down: int | None = None,
    leaf_uplinks: int | None = None,
    oversubscription: Any = None,
    spines: int | None = None,
    link_latency: Any = "150ns",
    tray_latency: Any = None,
    switch_latency: Any = "250ns",
    efficiency: Any = 1.0,
    tray_efficiency: Any = None,
    tray_forwarding: bool = False,
    in_network_reduction: bool = False,
    name: str = "two_tier",
    reduction_bandwidth: Any = None,
) -> Fabric:
    """A two-tier multi-plane Ethernet scale-up fabric (Maia 200 style).

    Trays of ``tray_size`` chips are wired directly as a full mesh, the parallel links to one peer merged
    into one edge per peer and direction: ``tray_ports`` per chip split evenly over the ``tray_size - 1``
    peers, or uneven wiring by ``tray_links`` (links per peer, or a named layout such as
    ``"hammingmesh-2x2"``, the Maia 200 tray: 6 north-south, 7 east-west, 7 diagonal links; see
    :data:`TRAY_LAYOUTS`). Each chip's remaining ports
    go to ``planes`` independent planes, ``ports_per_plane`` each (merged). In a plane, each leaf switch
    takes ``leaf_down`` chip ports (default radix/2) and has ``leaf_uplinks`` ports (default
    ``leaf_down / oversubscription``) spread evenly over the plane's ``spines`` (default ``leaf_uplinks``:
    one link from each leaf to each spine). Leaves of the same index in different planes serve the same
    chips.

    Args:
        chips: number of accelerators (a multiple of ``tray_size``).
        chip: ChipSpec or preset name.
        port_bandwidth: bytes/s per direction of one chip port (default: the chip's).
        ports: ports per chip (default: the chip's); tray + switch ports must fit.
        tray_ports: tray ports per chip, split evenly over the peers (default 12 when ``tray_links`` is not
            given; with ``tray_links`` it must equal each chip's total, or be left out).
        tray_links: links per tray peer: an int (every peer), a ``tray_size x tray_size`` symmetric matrix
            with zero diagonal and every pair >= 1, a layout name, or ``{layout: NAME, <class>: links}``.
        oversubscription: leaf down ports / up ports when ``leaf_uplinks`` is not given (e.g. 3 for 3:1;
            default None: 1, non-blocking); given with ``leaf_uplinks``, the two must agree.
        switch_radix: ports per switch. More chips than the spines' radix allows -> CapacityError.
        link_latency: cable + PHY latency of a switch link, s. ``tray_latency`` for tray links (default same).
        switch_latency: port-to-port latency of a switch, s (added to links leaving a switch).
        efficiency: fraction of line rate achieved on every link (``tray_efficiency`` for tray links).
        tray_forwarding: whether chips may relay traffic for tray peers (not used by minimal routes).
        in_network_reduction: whether the switches can reduce (sets ``Fabric.switch_can_reduce``).
        reduction_bandwidth: bytes/s per switch port at which a switch reduces the stream arriving on it
            (``SwitchSpec.reduction_bandwidth``; None = line rate). Leaves get the node attribute
            ``reduction_bandwidth`` = it x ``ports_per_plane`` (per chip edge), spines it x the links
            per leaf-spine edge; collectives' ``inr`` caps the upward reduction flows at it.

    Raises:
        SpecError: invalid parameters; CapacityError: ports beyond the chip's ports or the switch radix.
    """
    p = _check_two_tier_args(chips, chip, tray_size, port_bandwidth, ports, tray_ports, tray_links, planes,
                             ports_per_plane, switch_radix, switch_port_bandwidth, leaf_down, leaf_uplinks,
                             oversubscription, spines, link_latency, tray_latency, switch_latency, efficiency,
                             tray_efficiency, tray_forwarding, in_network_reduction, reduction_bandwidth)
    ga = GraphAssembler()
    leaf0, spine0 = _add_two_tier_nodes(ga, p)
    tray_ids = _add_tray_links(ga, p)
    up_ids, down_ids, lu_ids, ld_ids = _add_plane_links(ga, p, leaf0, spine0)
    fab = ga.build(name, p.chip, _two_tier_meta(p))
    fab.router = _two_tier_router(ga, p, tray_ids, up_ids, down_ids, lu_ids, ld_ids)
    return fab


# ============================================================================================ switch


class SwitchRouter(FormulaRouter):
    """Single-tier switched domain: one path per plane, chip -> sw_p -> chip (P paths, 2 hops)."""

    def __init__(self, up: np.ndarray, down: np.ndarray) -> None:
        super().__init__()
        self.up, self.down = up, down

    def blocks(self, fabric, s, d, idx):
        P = self.up.shape[1]
        return [Block(idx, np.full(P, 2, dtype=np.int64),
                      lambda sel: np.stack([self.up[s[sel]], self.down[d[sel]]], axis=2).reshape(len(sel), 2 * P))]


def switch(
    chips: int = 8,
    chip: ChipArg = "h100-sxm",
    planes: int = 1,
    bandwidth: Any = None,
    ports: int | None = None,
    port_bandwidth: Any = None,
    switch_radix: int | None = None,
    tray_size: int = 1,
    link_latency: Any = "100ns",
    switch_latency: Any = "100ns",
    efficiency: Any = 1.0,
    in_network_reduction: bool = False,
    name: str = "switch",
    reduction_bandwidth: Any = None,
) -> Fabric:
    """A single-tier switched domain (NVSwitch-like): every chip links to each of ``planes`` switches.

    The chip's scale-up bandwidth per direction (``bandwidth``, default ``ports x port_bandwidth`` of the
    chip) is split evenly over the planes, one merged edge per chip and plane. ``switch_radix`` (ports per
    switch) is checked against ``chips x ceil(ports / planes)``. ``tray_size`` groups chips into trays for
    ``Fabric.levels()`` (e.g. 4 GPUs per GB200 compute tray) without adding links.
    ``reduction_bandwidth`` (bytes/s per chip per direction, summed over the planes like ``bandwidth``;
    None = line rate) is the rate at which the switches reduce one chip's data in an in-network
    reduction (NVLS): each switch gets the node attribute ``reduction_bandwidth`` = it / ``planes``
    (bytes/s per attached chip), which caps the chip -> switch flows of collectives' ``inr``.
    """
    c = resolve_chip(chip, "h100-sxm")
    N = as_int("chips", chips)
    P = as_int("planes", planes)
    n_ports = as_int("ports", ports) if ports is not None else c.ports
    pbw = _default_port_bw(c, port_bandwidth, "port_bandwidth") if (port_bandwidth is not None or bandwidth is None) \
        else None
    if bandwidth is None:
        if not n_ports:
            raise SpecError(f"bandwidth: chip {c.name!r} lists no ports; give bandwidth (per chip per direction)")
        total = n_ports * pbw
    else:
        total = as_quantity("bandwidth", bandwidth, "bandwidth")
        # port_bandwidth only sets the default bandwidth: beside a file's bandwidth (dgx-h100: 450GB/s) it was
        # dropped, so a sweep's fabric.port_bandwidth: [400Gbps, 800Gbps] gave the same fabric twice
        if port_bandwidth is not None and not (n_ports and abs(n_ports * pbw - total) <= 1e-9 * total):
            have = f"{n_ports} ports x {pbw / 1e9:g} GB/s = {n_ports * pbw / 1e9:g} GB/s" if n_ports else "no ports"
            raise SpecError(f"port_bandwidth: {port_bandwidth!r} conflicts with bandwidth={bandwidth!r} ({have}); "
                            "give one of them (e.g. --set bandwidth=null, or fabric.bandwidth: null in a sweep)")
    T = as_int("tray_size", tray_size)
    if N % T:
        raise SpecError(f"chips: {N} is not a multiple of tray_size={T}")
    lat = as_quantity("link_latency", link_latency, "time", positive=False)
    swlat = as_quantity("switch_latency", switch_latency, "time", positive=False)
    eff = as_fraction("efficiency", efficiency)
    inr = as_bool("in_network_reduction", in_network_reduction)
    red = None if reduction_bandwidth is None else as_quantity("reduction_bandwidth", reduction_bandwidth,
                                                               "bandwidth")
    if red is not None and not inr:
        raise SpecError("reduction_bandwidth: set only with in_network_reduction: true (the switches must reduce)")
    if switch_radix is not None:
        R = as_int("switch_radix", switch_radix, 2)
        per = math.ceil(n_ports / P) if n_ports else 1
        if N * per > R:
            raise CapacityError(
                f"chips: {N} chips x {per} port(s) per switch exceed switch_radix {R}; the largest domain "
                f"with these settings has {R // per} chips"
            )
    check_graph_size("switch", "chips", N, N + P, 2 * N * P, 1 + 2 * P, P)  # before allocating anything
    ranks = np.arange(N)
    ga = GraphAssembler()
    ids, attrs = _chip_nodes(N, ranks // T, False)
    ga.add_nodes(ids, attrs)
    radix_attr = {} if switch_radix is None else {"radix": int(switch_radix)}
    if red is not None:
        radix_attr["reduction_bandwidth"] = red / P
    sw0 = ga.add_nodes([f"sw{p}" for p in range(P)],
                       [{"kind": "switch", "tier": 1, "plane": p, "index": 0, "in_network_reduction": inr,
                         **radix_attr} for p in range(P)])
    cc = np.repeat(ranks, P)
    pp = np.tile(np.arange(P), N)
    # physical links per (chip, plane): the chip's ports dealt over the planes (18 over 4 -> 5,5,4,4, the
    # DGX H100 multiset 5/4/4/5); bandwidth is split evenly (NCCL stripes over all links)
    per_plane = (n_ports // P + (np.arange(P) < n_ports % P)) if n_ports else np.ones(P, dtype=np.int64)
    links = np.maximum(per_plane, 1)[pp]
    up_ids, dn_ids = ga.add_links(cc, sw0 + pp, total / P, lat, lat + swlat, eff, links)
    meta = {"builder": "switch", "chips": N, "planes": P, "bandwidth": total, "tray_size": T,
            "link_latency": lat, "switch_latency": swlat, "in_network_reduction": inr,
            "reduction_bandwidth": red,
            "levels": ["tray"], "switch_radix": switch_radix, "representative_chips": [0]}
    fab = ga.build(name, c, meta)
    fab.router = SwitchRouter(ga.final(up_ids).reshape(N, P), ga.final(dn_ids).reshape(N, P))
    return fab


# ============================================================================================ full mesh


class FullMeshRouter(FormulaRouter):
    """Full mesh: the direct edge (1 path). With ``two_hop``: the direct edge plus the n-2 two-hop paths
    through every other chip (not equal-cost: a load-spreading option, as Infinity Fabric all-to-all
    libraries may use); without it the ECMP set equals the BFS shortest-path set."""

    def __init__(self, edge: np.ndarray, two_hop: bool) -> None:
        super().__init__()
        self.edge = edge  # (n, n) edge id, -1 on the diagonal
        self.two_hop = two_hop

    def blocks(self, fabric, s, d, idx):
        n = self.edge.shape[0]
        if not self.two_hop or n < 3:
            return [Block(idx, np.ones(1, dtype=np.int64), lambda sel: self.edge[s[sel], d[sel]][:, None])]
        lens = np.r_[1, np.full(n - 2, 2)].astype(np.int64)

        def mk(sel):
            ss, dd = s[sel], d[sel]
            mids = np.arange(n)[None, :].repeat(len(sel), 0)
            keep = (mids != ss[:, None]) & (mids != dd[:, None])
            mids = mids[keep].reshape(len(sel), n - 2)
            two = np.stack([self.edge[ss[:, None], mids], self.edge[mids, dd[:, None]]], axis=2)
            return np.concatenate([self.edge[ss, dd][:, None], two.reshape(len(sel), 2 * (n - 2))], axis=1)

        return [Block(idx, lens, mk)]


def full_mesh(
    chips: int = 8,
    chip: ChipArg = "mi300x",
    link_bandwidth: Any = None,
    links_per_pair: int = 1,
    link_latency: Any = "300ns",
    efficiency: Any = 1.0,
    forwarding: bool = False,
    two_hop: bool = False,
    tray_size: int | None = None,
    name: str = "full_mesh",
) -> Fabric:
    """Every chip wired directly to every other (e.g. 8 MI300X over Infinity Fabric).

    ``link_bandwidth`` is bytes/s per direction of one link (default: the chip's port bandwidth);
    ``links_per_pair`` links per pair are merged into one edge. ``forwarding`` lets chips relay (needed for
    ``two_hop`` routes, which add every two-hop path to the direct one). ``tray_size`` (default: all chips)
    groups chips for ``Fabric.levels()``. Checks ``(chips - 1) x links_per_pair`` against the chip's ports.
    """
    c = resolve_chip(chip, "mi300x")
    N = as_int("chips", chips, 2)
    k = as_int("links_per_pair", links_per_pair)
    bw = _default_port_bw(c, link_bandwidth, "link_bandwidth")
    lat = as_quantity("link_latency", link_latency, "time", positive=False)
    eff = as_fraction("efficiency", efficiency)
    fwd = as_bool("forwarding", forwarding)
    th = as_bool("two_hop", two_hop)
    if th and not fwd:
        raise SpecError("two_hop: two-hop routes need forwarding: true (chips relay for each other)")
    if c.ports and (N - 1) * k > c.ports:
        raise CapacityError(
            f"chips: a full mesh of {N} chips needs {(N - 1) * k} ports per chip, chip {c.name!r} has "
            f"{c.ports}; the largest mesh with links_per_pair={k} has {c.ports // k + 1} chips"
        )
    T = N if tray_size is None else as_int("tray_size", tray_size)
    if N % T:
        raise SpecError(f"chips: {N} is not a multiple of tray_size={T}")
    ranks = np.arange(N)
    ga = GraphAssembler()
    ids, attrs = _chip_nodes(N, ranks // T, fwd)
    ga.add_nodes(ids, attrs)
    u, v = np.meshgrid(ranks, ranks, indexing="ij")
    keep = u != v
    eids = ga.add_directed(u[keep], v[keep], k * bw, lat, eff, k)
    meta = {"builder": "full_mesh", "chips": N, "link_bandwidth": bw, "links_per_pair": k,
            "link_latency": lat, "forwarding": fwd, "two_hop": th, "tray_size": T,
            "in_network_reduction": False, "levels": ["tray"], "representative_chips": [0]}
    fab = ga.build(name, c, meta)
    edge = np.full((N, N), -1, dtype=np.int64)
    edge[u[keep], v[keep]] = ga.final(eids)
    fab.router = FullMeshRouter(edge, th)
    return fab


# ============================================================================================ torus


def _multiset_perms(items: Sequence[int]) -> list[tuple[int, ...]]:
    """Distinct permutations of a multiset, in lexicographic order."""
    a = sorted(items)
    out = [tuple(a)]
    n = len(a)
    while True:
        i = n - 2
        while i >= 0 and a[i] >= a[i + 1]:
            i -= 1
        if i < 0:
            return out
        j = n - 1
        while a[j] <= a[i]:
            j -= 1
        a[i], a[j] = a[j], a[i]
        a[i + 1:] = reversed(a[i + 1:])
        out.append(tuple(a))


class TorusRouter(FormulaRouter):
    """Minimal routes on a torus/mesh, by formula, grouped by the pair's offset vector.

    ECMP sets (``routing``):
    - ``"orders"`` (default): dimension-ordered paths in every order of the dimensions that need moves
      (up to 3! = 6), and both directions in a dimension whose distance is exactly half the ring (ties);
      up to 6 x 2^3 = 48 paths. All are minimal; like O1TURN, they spread load over every dimension order.
    - ``"dor"``: one dimension order (0, 1, 2), both directions on ties: the classic deterministic DOR.
    - ``"minimal"``: every minimal path (all interleavings of the moves); equals the BFS ECMP set. Capped
      by ``max_paths`` (a RoutingError names the pair's count when exceeded).
    """

    def __init__(self, dims: tuple[int, ...], wrap: tuple[bool, ...], step_edge: np.ndarray, routing: str,
                 max_paths: int) -> None:
        super().__init__()
        self.dims = np.asarray(dims, dtype=np.int64)
        self.wrap = np.asarray(wrap, dtype=bool)
        self.step_edge = step_edge  # (n, D, 2) edge id of the move (+1 / -1) along each dim, -1 if none
        self.routing = routing
        self.max_paths = max_paths
        self._templates: dict[tuple, np.ndarray] = {}
        self.strides = np.cumprod(np.r_[1, self.dims[:-1]]).astype(np.int64)

    def _template(self, key: tuple) -> np.ndarray:
        """Moves of every path for an offset key ((dist, dir) per dim, dir in {+1,-1,0=tie}).

        Returns an int array (n_paths, hops) of codes ``dim * 2 + (0 for +, 1 for -)``.
        """
        t = self._templates.get(key)
        if t is not None:
            return t
        D = len(self.dims)
        dists = [key[2 * i] for i in range(D)]
        dirs = [key[2 * i + 1] for i in range(D)]
        active = [i for i in range(D) if dists[i] > 0]
        dir_opts = [[0, 1] if dirs[i] == 0 else [0 if dirs[i] > 0 else 1] for i in active]
        paths: list[list[int]] = []
        for combo in itertools.product(*dir_opts):
            code = {i: 2 * i + sgn for i, sgn in zip(active, combo)}
            if self.routing == "minimal":
                total = math.factorial(sum(dists)) // math.prod(math.factorial(x) for x in dists)
                if total * len(list(itertools.product(*dir_opts))) > self.max_paths:
                    raise RoutingError(
                        f"torus: {total} minimal interleavings per direction choice exceed max_paths="
                        f"{self.max_paths} for an offset of {dists}; use routing 'orders' or raise max_paths"
                    )
                seq = [i for i in active for _ in range(dists[i])]
                for perm in _multiset_perms(seq):
                    paths.append([code[i] for i in perm])
            else:
                orders = [tuple(active)] if self.routing == "dor" else list(itertools.permutations(active))
                for order in orders:
                    paths.append([code[i] for i in order for _ in range(dists[i])])
        t = np.asarray(paths, dtype=np.int64)
        self._templates[key] = t
        return t

    def blocks(self, fabric, s, d, idx):
        dims, D = self.dims, len(self.dims)
        cs = (s[:, None] // self.strides) % dims
        cd = (d[:, None] // self.strides) % dims
        delta = (cd - cs) % dims
        back = (dims - delta) % dims
        dist = np.where(self.wrap, np.minimum(delta, back), np.abs(cd - cs))
        direction = np.where(
            self.wrap,
            np.where(delta < back, 1, np.where(delta > back, -1, 0)),
            np.sign(cd - cs),
        )
        # a ring of 2 has a single (merged) link between the two chips: one direction only
        direction = np.where((dims == 2) & (dist > 0), 1, direction)
        key = np.empty((len(s), 2 * D), dtype=np.int64)
        key[:, 0::2] = dist
        key[:, 1::2] = direction
        base = np.r_[dims + 1, np.full(D, 3)][np.r_[np.arange(D), np.arange(D)].argsort(kind="stable")]
        code = np.zeros(len(s), dtype=np.int64)
        for j in range(2 * D):
            code = code * int(base[j]) + (key[:, j] + (1 if j % 2 else 0))
        out = []
        for _, pos in split_by_key(code):
            t = self._template(tuple(int(x) for x in key[pos[0]]))
            n_paths, hops = t.shape
            dim_of = t // 2
            sgn = np.where(t % 2 == 0, 1, -1)
            # coordinate offset before each move: cumulative moves so far
            step = np.zeros((n_paths, hops, D), dtype=np.int64)
            step[np.arange(n_paths)[:, None], np.arange(hops)[None, :], dim_of] = sgn
            before = np.cumsum(step, axis=1) - step  # (n_paths, hops, D)
            ss = s[pos]

            def mk(sel, ss=ss, before=before, t=t):
                c0 = (ss[sel][:, None] // self.strides) % dims  # (n, D)
                coords = (c0[:, None, None, :] + before[None]) % dims
                node = (coords * self.strides).sum(axis=3)
                e = self.step_edge[node, (t // 2)[None], (t % 2)[None]]
                return e.reshape(len(sel), -1)

            out.append(Block(idx[pos], np.full(n_paths, hops, dtype=np.int64), mk))
        return out


def torus(
    dims: Sequence[int] = (4, 4, 4),
    chip: ChipArg = "tpu-v5p",
    link_bandwidth: Any = None,
    links_per_neighbor: int = 1,
    link_latency: Any = "500ns",
    efficiency: Any = 1.0,
    wrap: bool | Sequence[bool] = True,
    tray: Sequence[int] | None = None,
    routing: str = "orders",
    max_paths: int = 1024,
    name: str = "torus",
) -> Fabric:
    """A 1D ring, 2D or 3D torus (or mesh with ``wrap: false``) of chips that forward (TPU ICI style).

    Rank = x + X * (y + Y * z) (dimension 0 fastest). Each chip links to its 2 neighbours per dimension of
    size > 2 (one merged link of double bandwidth for size 2, none for size 1). ``link_bandwidth`` is bytes/s
    per direction of one link (default: the chip's port bandwidth); ``links_per_neighbor`` merged links per
    neighbour. ``link_bandwidth`` and ``link_latency`` take one value or one per dimension (ASTRA-sim's
    per-dimension ``bandwidth`` / ``latency``: ``[200GB/s, 100GB/s, 50GB/s]``). ``tray`` is the shape of a
    host's block of chips (e.g. ``[2, 2, 1]`` for 4-chip TPU v5p hosts), used for ``Fabric.trays``/``levels``. See :class:`TorusRouter` for ``routing``.
    """
    c = resolve_chip(chip, "tpu-v5p")
    if isinstance(dims, (int, np.integer)):
        dims = [dims]
    dims_t = tuple(as_int(f"dims[{i}]", x) for i, x in enumerate(as_list("dims", dims, "[8, 8]")))
    D = len(dims_t)
    if not 1 <= D <= 3:
        raise SpecError(f"dims: a torus has 1, 2 or 3 dimensions, got {len(dims_t)}")
    wraps = tuple([as_bool("wrap", wrap)] * D) if isinstance(wrap, (bool, np.bool_)) else \
        tuple(as_bool(f"wrap[{i}]", w) for i, w in enumerate(as_list("wrap", wrap, "true or [true, false]")))
    if len(wraps) != D:
        raise SpecError(f"wrap: give one flag or one per dimension ({D}), got {len(wraps)}")
    k = as_int("links_per_neighbor", links_per_neighbor)
    bws = _per_dimension("link_bandwidth", link_bandwidth, D, lambda n, v: _default_port_bw(c, v, n))
    lats = _per_dimension("link_latency", link_latency, D,
                          lambda n, v: as_quantity(n, v, "time", positive=False))
    eff = as_fraction("efficiency", efficiency)
    if routing not in ("orders", "dor", "minimal"):
        raise SpecError(f"routing: must be 'orders', 'dor' or 'minimal', got {routing!r}")
    mp = as_int("max_paths", max_paths)
    tshape = tuple([1] * D) if tray is None else \
        tuple(as_int(f"tray[{i}]", x) for i, x in enumerate(as_list("tray", tray, f"[{', '.join(['2'] * D)}]")))
    if len(tshape) != D or any(d % t for d, t in zip(dims_t, tshape)):
        raise SpecError(f"tray: shape {list(tshape)} must have {D} entries dividing dims {list(dims_t)}")
    N = math.prod(dims_t)
    if N < 2:
        raise SpecError("dims: a torus needs at least 2 chips")
    check_graph_size("torus", "dims", list(dims_t), N, 2 * D * N, 1 + 2 * D)  # before allocating anything
    dims_a = np.asarray(dims_t, dtype=np.int64)
    strides = np.cumprod(np.r_[1, dims_a[:-1]]).astype(np.int64)
    ranks = np.arange(N)
    coords = (ranks[:, None] // strides) % dims_a
    tcoords = coords // np.asarray(tshape)
    tdims = dims_a // np.asarray(tshape)
    tstr = np.cumprod(np.r_[1, tdims[:-1]]).astype(np.int64)
    tray_id = (tcoords * tstr).sum(axis=1)
    # rank order is dimension-0 fastest; renumber so that ranks are tray-first? Keep the natural torus
    # numbering (what TPU users expect) and record trays as attributes.
    # levels: lines along dimension 0, then planes (dims 0-1), then all: nested, as dimension-wise
    # hierarchical collectives use them (trays of hosts are not nested in lines, so they are not a level)
    extra = {}
    levels = []
    if D >= 2:
        extra["line"] = coords[:, 1:] @ np.cumprod(np.r_[1, dims_a[1:-1]]).astype(np.int64)
        levels.append("line")
    if D == 3:
        extra["plane"] = coords[:, 2]
        levels.append("plane")
    ga = GraphAssembler()
    ids, attrs = _chip_nodes(N, tray_id, True, extra)
    for a, co in zip(attrs, coords.tolist()):
        a["coord"] = ",".join(map(str, co))
    ga.add_nodes(ids, attrs)
    step_prov = np.full((N, D, 2), -1, dtype=np.int64)
    for i in range(D):
        n_i = dims_t[i]
        if n_i == 1:
            continue
        bw, lat = bws[i], lats[i]
        plus = coords.copy()
        plus[:, i] = (coords[:, i] + 1) % n_i
        nb_plus = (plus * strides).sum(axis=1)
        minus = coords.copy()
        minus[:, i] = (coords[:, i] - 1) % n_i
        nb_minus = (minus * strides).sum(axis=1)
        if n_i == 2:
            mult = 2 if wraps[i] else 1
            e = ga.add_directed(ranks, nb_plus, mult * k * bw, lat, eff, mult * k)
            step_prov[:, i, 0] = e
            step_prov[:, i, 1] = e
            continue
        has_plus = np.ones(N, dtype=bool) if wraps[i] else coords[:, i] < n_i - 1
        has_minus = np.ones(N, dtype=bool) if wraps[i] else coords[:, i] > 0
        e = ga.add_directed(ranks[has_plus], nb_plus[has_plus], k * bw, lat, eff, k)
        step_prov[has_plus, i, 0] = e
        e = ga.add_directed(ranks[has_minus], nb_minus[has_minus], k * bw, lat, eff, k)
        step_prov[has_minus, i, 1] = e
    meta = {"builder": "torus", "chips": N, "dims": list(dims_t), "wrap": list(wraps),
            "link_bandwidth": bws[0] if len(set(bws)) == 1 else list(bws),
            "links_per_neighbor": k, "link_latency": lats[0] if len(set(lats)) == 1 else list(lats), "routing": routing, "tray": list(tshape),
            "in_network_reduction": False, "levels": levels, "representative_chips": [0]}
    fab = ga.build(name, c, meta)
    step = np.where(step_prov >= 0, ga.final(np.maximum(step_prov, 0)), -1)
    fab.router = TorusRouter(dims_t, wraps, step, routing, mp)
    return fab


# ============================================================================================ clos


class ClosRouter(FormulaRouter):
    """Leaf/spine Clos with servers, by formula.

    - same server with a server fabric: ``switch`` -> chip -> server switch -> chip (1 path);
      ``mesh`` -> the direct edge (1 path). This preference for the intra-server fabric is what NCCL does;
      a graph BFS would also list the equal-length leaf path in a non-rail cluster with a server switch.
    - same leaf: chip -> leaf -> chip (1 path);
    - otherwise: chip -> leaf -> spine_k -> leaf -> chip for every spine (S paths).
    Chips do not forward, so no PXN-style relays through a server peer.
    """

    def __init__(self, server_of, leaf_of, server_mode, srv_edge, up, down, lu, ld) -> None:
        super().__init__()
        self.server_of, self.leaf_of, self.server_mode = server_of, leaf_of, server_mode
        self.srv_edge, self.up, self.down, self.lu, self.ld = srv_edge, up, down, lu, ld

    def blocks(self, fabric, s, d, idx):
        out = []
        same_srv = (self.server_of[s] == self.server_of[d]) if self.server_mode != "none" else np.zeros(len(s), bool)
        a, b = self.leaf_of[s], self.leaf_of[d]
        same_leaf = (a == b) & ~same_srv
        cross = (a != b) & ~same_srv
        m = np.flatnonzero(same_srv)
        if len(m):
            ss, dd = s[m], d[m]
            if self.server_mode == "mesh":
                out.append(Block(idx[m], np.ones(1, dtype=np.int64),
                                 lambda sel, ss=ss, dd=dd: self.srv_edge[ss[sel], dd[sel] % self.srv_edge.shape[1]][:, None]))
            else:
                out.append(Block(idx[m], np.array([2]),
                                 lambda sel, ss=ss, dd=dd: np.stack([self.srv_edge[ss[sel], 0],
                                                                     self.srv_edge[dd[sel], 1]], axis=1)))
        m = np.flatnonzero(same_leaf)
        if len(m):
            ss, dd = s[m], d[m]
            out.append(Block(idx[m], np.array([2]),
                             lambda sel, ss=ss, dd=dd: np.stack([self.up[ss[sel]], self.down[dd[sel]]], axis=1)))
        m = np.flatnonzero(cross)
        if len(m):
            S = self.lu.shape[1]
            ss, dd, aa, bb = s[m], d[m], a[m], b[m]

            def mk(sel, ss=ss, dd=dd, aa=aa, bb=bb):
                n = len(sel)
                e = np.empty((n, S, 4), dtype=np.int64)
                e[:, :, 0] = self.up[ss[sel]][:, None]
                e[:, :, 1] = self.lu[aa[sel]]
                e[:, :, 2] = self.ld[:, bb[sel]].T
                e[:, :, 3] = self.down[dd[sel]][:, None]
                return e.reshape(n, 4 * S)

            out.append(Block(idx[m], np.full(S, 4, dtype=np.int64), mk))
        return out


def clos(
    servers: int = 32,
    chips_per_server: int = 8,
    chip: ChipArg = "h100-sxm",
    nic_bandwidth: Any = "400Gbps",
    server_fabric: str = "switch",
    server_bandwidth: Any = None,
    leaf_radix: int = 64,
    leaf_down: int | None = None,
    leaf_uplinks: int | None = None,
    oversubscription: Any = None,
    spines: int | None = None,
    spine_radix: int | None = None,
    rail_optimised: bool = False,
    link_latency: Any = "300ns",
    server_latency: Any = "100ns",
    switch_latency: Any = "200ns",
    efficiency: Any = 1.0,
    server_efficiency: Any = None,
    in_network_reduction: bool = False,
    server_in_network_reduction: bool = False,
    name: str = "clos",
    reduction_bandwidth: Any = None,
    server_reduction_bandwidth: Any = None,
) -> Fabric:
    """A two-level leaf/spine Clos (fat tree) of servers with several chips each, for GPU clusters.

    Each chip has one NIC of ``nic_bandwidth`` (per direction) to a leaf. Without ``rail_optimised`` all
    chips of a server share a leaf (``leaf_down / chips_per_server`` servers per leaf); with it, chip ``r``
    of every server in a group of ``leaf_down`` servers goes to that group's rail-``r`` leaf. Leaves link
    to every spine (``leaf_uplinks`` split evenly, default ``leaf_down / oversubscription``; ``spines``
    default ``leaf_uplinks``). ``server_fabric``: ``"switch"`` (an NVSwitch-like server switch, chips at
    ``server_bandwidth`` per direction, default the chip's NVLink total), ``"mesh"`` (direct links,
    ``server_bandwidth`` split over the peers) or ``"none"``. In-network reduction rates (None = line
    rate; see ``SwitchSpec.reduction_bandwidth``): ``reduction_bandwidth`` per leaf/spine port,
    ``server_reduction_bandwidth`` per chip on the server switch (NVLS-like).
    """
    c = resolve_chip(chip, "h100-sxm")
    NS = as_int("servers", servers)
    K = as_int("chips_per_server", chips_per_server)
    nic = as_quantity("nic_bandwidth", nic_bandwidth, "bandwidth")
    sbw = _clos_server_bandwidth(c, server_fabric, server_bandwidth)
    R = as_int("leaf_radix", leaf_radix, 2)
    RS = as_int("spine_radix", spine_radix if spine_radix is not None else R, 2)
    down = as_int("leaf_down", leaf_down if leaf_down is not None else R // 2)
    rail = as_bool("rail_optimised", rail_optimised)
    lat = as_quantity("link_latency", link_latency, "time", positive=False)
    slat = as_quantity("server_latency", server_latency, "time", positive=False)
    swlat = as_quantity("switch_latency", switch_latency, "time", positive=False)
    eff = as_fraction("efficiency", efficiency)
    seff = eff if server_efficiency is None else as_fraction("server_efficiency", server_efficiency)
    inr = as_bool("in_network_reduction", in_network_reduction)
    sinr = as_bool("server_in_network_reduction", server_in_network_reduction)
    red = None if reduction_bandwidth is None else as_quantity("reduction_bandwidth", reduction_bandwidth,
                                                               "bandwidth")
    sred = None if server_reduction_bandwidth is None else as_quantity(
        "server_reduction_bandwidth", server_reduction_bandwidth, "bandwidth")
    if red is not None and not inr:
        raise SpecError("reduction_bandwidth: set only with in_network_reduction: true (the switches must reduce)")
    if sred is not None and not (sinr and server_fabric == "switch"):
        raise SpecError("server_reduction_bandwidth: set only with server_fabric: switch and "
                        "server_in_network_reduction: true")
    up_ports = _leaf_uplinks(down, leaf_uplinks, oversubscription)
    if down + up_ports > R:
        raise CapacityError(f"leaf_radix: {down} down + {up_ports} up ports exceed radix {R}")
    _clos_size_check(NS, K, down, rail, server_fabric, spines, up_ports)
    server, leaf, L, leaf_group = _clos_leaves(NS, K, down, rail)
    S, per_pair = _clos_spines(L, spines, up_ports, RS, NS, K, down, rail)
    N = NS * K
    meta = {"builder": "clos", "chips": N, "servers": NS, "chips_per_server": K, "nic_bandwidth": nic,
            "server_fabric": server_fabric, "server_bandwidth": sbw, "leaf_radix": R, "leaf_down": down,
            "leaf_uplinks": up_ports, "leaves": L, "spines": S, "rail_optimised": rail,
            "oversubscription": down / up_ports, "in_network_reduction": inr or sinr,
            "reduction_bandwidth": red, "server_reduction_bandwidth": sred,
            "levels": ["tray", "leaf_group"], "representative_chips": sorted({0, N - K})}
    return _clos_assemble(name, c, meta, server, leaf, leaf_group, L, S, per_pair, server_fabric, K, sbw, nic,
                          lat, slat, swlat, eff, seff, inr, sinr, red, sred, R, RS)


def _clos_server_bandwidth(c: ChipSpec, server_fabric: str, server_bandwidth: Any) -> float:
    """Step 1 of :func:`clos`: bytes/s per chip per direction inside a server (0 without a server fabric;
    default the chip's scale-up port total)."""
    if server_fabric not in ("switch", "mesh", "none"):
        raise SpecError(f"server_fabric: must be 'switch', 'mesh' or 'none', got {server_fabric!r}")
    if server_fabric == "none":
        return 0.0
    if server_bandwidth is not None:
        return as_quantity("server_bandwidth", server_bandwidth, "bandwidth")
    if not c.injection_bandwidth:
        raise SpecError(f"server_bandwidth: chip {c.name!r} lists no scale-up ports; give it")
    return c.injection_bandwidth


def _clos_size_check(NS: int, K: int, down: int, rail: bool, server_fabric: str, spines: Any,
                     up_ports: int) -> None:
    """:func:`check_graph_size` of a clos from its parameters alone, before any per-chip array: chips, server
    switches, leaves and spines; NIC links, the server fabric and the leaf-spine bundles."""
    if not (rail or down >= K):
        return  # _clos_leaves refuses it: a leaf cannot host one server
    N = NS * K
    L = -(-NS // down) * K if rail else -(-NS // (down // K))
    S = _spines(spines, up_ports)[0] if L > 1 else 0
    srv_nodes, srv_edges = {"switch": (NS, 2 * N), "mesh": (0, N * (K - 1)), "none": (0, 0)}[server_fabric]
    nodes, edges = N + srv_nodes + L + S, 2 * N + srv_edges + 2 * L * S
    check_graph_size("clos", "servers x chips_per_server", f"{NS} x {K}", nodes, edges, (nodes + edges) / N)


def _clos_leaves(NS: int, K: int, down: int, rail: bool) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Step 2 of :func:`clos`: which leaf each chip's NIC goes to. Returns ``(server, leaf, L, leaf_group)``
    per chip rank. Without rail optimisation a leaf hosts ``down // K`` whole servers; with it, chip ``r`` of
    every server in a group of ``down`` servers goes to the group's rail-``r`` leaf (``K`` leaves a group)."""
    ranks = np.arange(NS * K)
    server = ranks // K
    local = ranks % K
    if rail:
        group = server // down  # `down` servers per rail group
        leaf = group * K + local
        return server, leaf, -(-NS // down) * K, group
    if down < K:
        raise CapacityError(f"leaf_down: {down} ports cannot host a server of {K} chips")
    spl = down // K
    leaf = server // spl
    return server, leaf, -(-NS // spl), leaf


def _clos_spines(L: int, spines: Any, up_ports: int, RS: int, NS: int, K: int, down: int,
                 rail: bool) -> tuple[int, int]:
    """Step 3 of :func:`clos`: ``(spines, links from each leaf to each spine)``; none for a single leaf.
    Every leaf reaches every spine, so a spine needs ``L x per_pair`` ports: CapacityError naming the
    largest clos that fits the spine radix ``RS``."""
    if L <= 1:
        return 0, 0
    S, per_pair = _spines(spines, up_ports)
    if L * per_pair > RS:
        max_leaves = RS // per_pair
        max_chips = (max_leaves // K) * down * K if rail else max_leaves * (down // K) * K
        raise CapacityError(
            f"servers: {NS} servers need {L} leaves, a spine of radix {RS} reaches {max_leaves}; the "
            f"largest clos with these settings has {max_chips} chips ({int(max_chips // K)} servers)"
        )
    return S, per_pair


def _clos_assemble(name, c, meta, server, leaf, leaf_group, L, S, per_pair, server_fabric, K, sbw, nic, lat,
                   slat, swlat, eff, seff, inr, sinr, red, sred, R, RS) -> Fabric:
    """Step 4 of :func:`clos`: nodes (chips, server switches, leaves, spines), links (server fabric, NICs,
    leaf-spine bundles of ``per_pair`` links) and the formula router over the final edge ids."""
    N = len(server)
    ranks = np.arange(N)
    NS = N // K
    ga = GraphAssembler()
    ids, attrs = _chip_nodes(N, server, False, {"server": server, "leaf_group": leaf_group})
    ga.add_nodes(ids, attrs)
    srv0 = None
    if server_fabric == "switch":
        srv0 = ga.add_nodes([f"s{i}.nvsw" for i in range(NS)],
                            [{"kind": "switch", "tier": 0, "server": i, "in_network_reduction": sinr,
                              **({} if sred is None else {"reduction_bandwidth": sred})}
                             for i in range(NS)])
    leaf0 = ga.add_nodes([f"leaf{q}" for q in range(L)],
                         [{"kind": "switch", "tier": 1, "index": q, "radix": R, "in_network_reduction": inr,
                           **({} if red is None else {"reduction_bandwidth": red})}
                          for q in range(L)])
    spine0 = ga.add_nodes([f"spine{k}" for k in range(S)],
                          [{"kind": "switch", "tier": 2, "index": k, "radix": RS, "in_network_reduction": inr,
                            **({} if red is None else {"reduction_bandwidth": red * max(per_pair, 1)})}
                           for k in range(S)])
    srv_edge = None
    if server_fabric == "switch":
        a_ids, b_ids = ga.add_links(ranks, srv0 + server, sbw, lat, lat + slat, seff)
    elif server_fabric == "mesh" and K > 1:
        cc = np.repeat(ranks, K)
        jj = np.tile(np.arange(K), N)
        peer = server[cc] * K + jj
        keep = peer != cc
        m_ids = ga.add_directed(cc[keep], peer[keep], sbw / (K - 1), lat, seff)
    up_ids, dn_ids = ga.add_links(ranks, leaf0 + leaf, nic, lat, lat + swlat, eff)
    if S:
        l2, k2 = np.meshgrid(np.arange(L), np.arange(S), indexing="ij")
        lu_ids, ld_ids = ga.add_links(leaf0 + l2, spine0 + k2, per_pair * nic, lat + swlat, lat + swlat, eff,
                                      per_pair)
    fab = ga.build(name, c, meta)
    mode = server_fabric if K > 1 else "none"
    if server_fabric == "switch":
        srv_edge = np.stack([ga.final(a_ids), ga.final(b_ids)], axis=1)
    elif server_fabric == "mesh" and K > 1:
        srv_edge = np.full((N, K), -1, dtype=np.int64)
        srv_edge[cc[keep], jj[keep]] = ga.final(m_ids)
    if S:
        lu = ga.final(lu_ids).reshape(L, S)
        ld = ga.final(ld_ids).reshape(L, S).T.copy()
    else:
        lu = np.zeros((L, 0), dtype=np.int64)
        ld = np.zeros((0, L), dtype=np.int64)
    fab.router = ClosRouter(server, leaf, mode, srv_edge, ga.final(up_ids), ga.final(dn_ids), lu, ld)
    return fab


# ============================================================================================ dragonfly


class DragonflyRouter(FormulaRouter):
    """Minimal dragonfly routing (Kim et al., ISCA 2008): at most one global hop.

    Same router: chip -> R -> chip. Same group: chip -> Rs -> Rd -> chip. Different groups: local hop to
    a router holding a global link to the destination group (if not Rs), the global link, a local hop to Rd
    (if not the landing router); among the group pair's global links, those giving the fewest hops are
    the ECMP set. (A graph BFS may find equally short paths through a third group; minimal dragonfly
    routing excludes them, as the literature does.)
    """

    def __init__(self, a: int, h: int, G: int, m: int, chip_router: np.ndarray, up: np.ndarray,
                 down: np.ndarray, fabric_ids: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.a, self.h, self.G, self.m = a, h, G, m
        self.chip_router = chip_router
        self.up, self.down = up, down
        self.local = fabric_ids["local"]  # (R, a) edge id from router to local router j of its group
        self.glob = fabric_ids["global"]  # dict-like: (R, port) -> edge id
        self._memo: dict[tuple[int, int], np.ndarray] = {}

    def _router_paths(self, rs: int, rd: int) -> np.ndarray:
        key = (rs, rd)
        t = self._memo.get(key)
        if t is not None:
            return t
        a, h, m = self.a, self.h, self.m
        gs, gd = rs // a, rd // a
        if rs == rd:
            t = np.zeros((1, 0), dtype=np.int64)
        elif gs == gd:
            t = np.array([[self.local[rs, rd % a]]], dtype=np.int64)
        else:
            pos_s = gd if gd < gs else gd - 1
            cands = []
            for cpy in range(m):
                port = pos_s * m + cpy
                ra = gs * a + port // h
                e_g, rb = self.glob[ra, port % h]
                hops = (ra != rs) + 1 + (rb != rd)
                path = ([self.local[rs, ra % a]] if ra != rs else []) + [e_g] + \
                       ([self.local[rb, rd % a]] if rb != rd else [])
                cands.append((hops, tuple(path)))
            best = min(h_ for h_, _ in cands)
            uniq = sorted({p for h_, p in cands if h_ == best})
            t = np.asarray(uniq, dtype=np.int64)
        self._memo[key] = t
        return t

    def blocks(self, fabric, s, d, idx):
        R = self.chip_router
        rs, rd = R[s], R[d]
        out = []
        n_routers = self.G * self.a
        for k, pos in split_by_key(rs * n_routers + rd):
            t = self._router_paths(int(k) // n_routers, int(k) % n_routers)
            n_paths, hops = t.shape
            ss, dd = s[pos], d[pos]

            def mk(sel, ss=ss, dd=dd, t=t):
                n = len(sel)
                e = np.empty((n, t.shape[0], t.shape[1] + 2), dtype=np.int64)
                e[:, :, 0] = self.up[ss[sel]][:, None]
                e[:, :, 1:-1] = t[None]
                e[:, :, -1] = self.down[dd[sel]][:, None]
                return e.reshape(n, -1)

            out.append(Block(idx[pos], np.full(n_paths, hops + 2, dtype=np.int64), mk))
        return out


def dragonfly(
    routers_per_group: int = 4,
    chips_per_router: int = 2,
    global_links_per_router: int = 2,
    groups: int | None = None,
    chip: ChipArg = "h100-sxm",
    chip_bandwidth: Any = "400Gbps",
    local_bandwidth: Any = "400Gbps",
    global_bandwidth: Any = "400Gbps",
    switch_radix: int | None = None,
    link_latency: Any = "300ns",
    global_latency: Any = "1us",
    switch_latency: Any = "300ns",
    efficiency: Any = 1.0,
    name: str = "dragonfly",
) -> Fabric:
    """A dragonfly: ``groups`` groups of ``a`` routers, full mesh inside a group, ``h`` global links per
    router, ``p`` chips per router (Kim, Dally, Scott, Abts, ISCA 2008).

    ``groups`` defaults to the balanced maximum ``a*h + 1`` (one global link between every pair of
    groups); with fewer groups, ``a*h / (groups - 1)`` links join each group pair (must divide). Global
    ports are assigned in the "absolute" arrangement: port ``k`` of a group leads to its ``k // m``-th other
    group (in increasing id), router ``k // h``. ``switch_radix`` checks ``p + (a - 1) + h``.
    """
    c = resolve_chip(chip, "h100-sxm")
    a = as_int("routers_per_group", routers_per_group)
    p = as_int("chips_per_router", chips_per_router)
    h = as_int("global_links_per_router", global_links_per_router)
    G = as_int("groups", groups if groups is not None else a * h + 1, 1)
    if G > a * h + 1:
        raise CapacityError(f"groups: at most a*h + 1 = {a * h + 1} groups fit (a={a}, h={h}), got {G}")
    if G > 1 and (a * h) % (G - 1):
        raise SpecError(f"groups: the {a * h} global ports of a group must split evenly over the other "
                        f"{G - 1} groups; choose groups - 1 dividing {a * h}")
    m = (a * h) // (G - 1) if G > 1 else 0
    if switch_radix is not None:
        RR = as_int("switch_radix", switch_radix, 2)
        if p + (a - 1) + h > RR:
            raise CapacityError(f"switch_radix: a router needs p + (a-1) + h = {p + a - 1 + h} ports > {RR}")
    cbw = as_quantity("chip_bandwidth", chip_bandwidth, "bandwidth")
    lbw = as_quantity("local_bandwidth", local_bandwidth, "bandwidth")
    gbw = as_quantity("global_bandwidth", global_bandwidth, "bandwidth")
    lat = as_quantity("link_latency", link_latency, "time", positive=False)
    glat = as_quantity("global_latency", global_latency, "time", positive=False)
    swlat = as_quantity("switch_latency", switch_latency, "time", positive=False)
    eff = as_fraction("efficiency", efficiency)
    NR = G * a
    N = NR * p
    # chips and routers; chip links, the local meshes, the global links (a*h ports a group): before allocating
    check_graph_size("dragonfly", "groups x routers_per_group x chips_per_router", f"{G} x {a} x {p}", N + NR,
                     2 * N + NR * (a - 1) + G * a * h, 3 + (1 + (a - 1) + h) / p)
    ranks = np.arange(N)
    router = ranks // p
    ga = GraphAssembler()
    ids, attrs = _chip_nodes(N, router, False, {"group": router // a})
    ga.add_nodes(ids, attrs)
    r0 = ga.add_nodes([f"g{g}.r{r}" for g in range(G) for r in range(a)],
                      [{"kind": "switch", "tier": 1, "group": g, "index": r} for g in range(G) for r in range(a)])
    up_ids, dn_ids = ga.add_links(ranks, r0 + router, cbw, lat, lat + swlat, eff)
    # local full mesh
    rr = np.repeat(np.arange(NR), a)
    jj = np.tile(np.arange(a), NR)
    peer = (rr // a) * a + jj
    keep = peer != rr
    loc_ids = ga.add_directed(r0 + rr[keep], r0 + peer[keep], lbw, lat + swlat, eff)
    # global links: for each unordered group pair (i < j) and copy c
    if G > 1:
        src_r, dst_r, ports_s, ports_d = [], [], [], []
        for i in range(G):
            for j in range(i + 1, G):
                pos_i = j - 1  # j in i's list of others (j > i)
                pos_j = i  # i in j's list (i < j)
                for cpy in range(m):
                    pi, pj = pos_i * m + cpy, pos_j * m + cpy
                    src_r.append(i * a + pi // h)
                    dst_r.append(j * a + pj // h)
                    ports_s.append((i * a + pi // h, pi % h))
                    ports_d.append((j * a + pj // h, pj % h))
        src_r = np.asarray(src_r)
        dst_r = np.asarray(dst_r)
        # parallel global links between the same router pair are merged
        key = src_r * NR + dst_r
        uk, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
        us, ud = uk // NR, uk % NR
        g_ab, g_ba = ga.add_links(r0 + us, r0 + ud, cnt * gbw, glat + swlat, glat + swlat, eff, cnt)
    meta = {"builder": "dragonfly", "chips": N, "groups": G, "routers_per_group": a, "chips_per_router": p,
            "global_links_per_router": h, "links_per_group_pair": m, "in_network_reduction": False,
            "levels": ["tray", "group"], "representative_chips": list(range(0, N, p))}
    fab = ga.build(name, c, meta)
    local = np.full((NR, a), -1, dtype=np.int64)
    local[rr[keep], jj[keep]] = ga.final(loc_ids)
    glob = np.zeros((NR, h, 2), dtype=np.int64)  # (edge id, landing router)
    if G > 1:
        fab_ab, fab_ba = ga.final(g_ab), ga.final(g_ba)
        for t, ((rs_, ps_), (rd_, pd_)) in enumerate(zip(ports_s, ports_d)):
            u = inv[t]
            glob[rs_, ps_] = (fab_ab[u], rd_)
            glob[rd_, pd_] = (fab_ba[u], rs_)
    fab.router = DragonflyRouter(a, h, G, m, router, ga.final(up_ids), ga.final(dn_ids),
                                 {"local": local, "global": glob})
    return fab


BUILDERS = {
    "two_tier": two_tier,
    "switch": switch,
    "torus": torus,
    "clos": clos,
    "full_mesh": full_mesh,
    "dragonfly": dragonfly,
}
