"""Builders for the vendor systems whose scale-up fabric is none of the generic shapes (issue 12).

- :func:`ultraserver`: AWS Trn3 UltraServer. Servers of chips behind a first-level NeuronSwitch, one
  second-level NeuronSwitch per rack, direct chip-to-chip links between the two racks of a Gen2
  UltraServer, and EFA scale-out between UltraServers. Formula router :class:`UltraServerRouter`.
- :func:`ocs_torus`: a TPU pod (Ironwood) of 4x4x4 cubes joined by optical circuit switches into a 3D
  torus, and any slice shape the OCS allows. Delegates to :func:`topo.builders.torus`.
- :func:`groq_dragonfly`: Groq LPU systems. Chips are endpoints and routers at once: nodes of 8 fully
  connected chips, racks of nodes, racks joined by global links (the published software-scheduled
  dragonfly). Hierarchical minimal routes (:class:`GroqRouter`), as the compiler fixes them.

Figures and their sources are in the YAML files of ``topologies/`` (``trn3-*``, ``ironwood-*``,
``groq-*``, ``cs3*``; CS-3 clusters use the generic ``switch`` builder) and in docs/fabrics.md.
SI units inside; bandwidths per direction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._build import (
    Block,
    FormulaRouter,
    GraphAssembler,
    as_fraction,
    as_int,
    as_list,
    as_quantity,
    resolve_chip,
    split_by_key,
)
from ._capacity import check_graph_size
from .builders import BUILDERS, ChipArg, _chip_nodes, torus
from .errors import CapacityError, SpecError
from .fabric import BFSRouter, Fabric

__all__ = ["GroqRouter", "UltraServerRouter", "groq_dragonfly", "ocs_torus", "ultraserver"]


# ============================================================================================ UltraServer


class UltraServerRouter(FormulaRouter):
    """Shortest scale-up paths inside an UltraServer; EFA (2 hops via the scale-out switch) across them.

    Notation: ``L1`` the server's first-level switch, ``L2`` the rack's second-level switch, ``x`` the
    direct link to the chip in the same position of the other rack, ``s'``/``d'`` those peers.

    - same server: ``s-L1-d`` and ``s-L2-d`` (2 paths, 2 hops);
    - same rack, other server: ``s-L2-d`` (1 path, 2 hops);
    - other rack, same position: ``s-x-d`` (1 hop);
    - other rack, other position: ``s-x-s'-L2-d`` and ``s-L2-d'-x-d`` (3 hops), plus the two L1 variants
      when s and d sit in servers of the same index (4 paths);
    - other UltraServer: ``s-EFA-d`` (2 hops).

    Inside an UltraServer the paths equal the graph's shortest paths on the scale-up fabric (tested
    against BFS). Pairs inside one UltraServer never use EFA, as the Neuron runtime keeps intra-
    UltraServer collectives on NeuronLink; a BFS on the whole graph would also find the 2-hop EFA path.
    """

    def __init__(self, C: int, S: int, R: int, up1, dn1, up2, dn2, x, efa_up, efa_dn) -> None:
        super().__init__()
        self.C, self.S, self.R = C, S, R
        self.up1, self.dn1, self.up2, self.dn2, self.x = up1, dn1, up2, dn2, x
        self.efa_up, self.efa_dn = efa_up, efa_dn

    def blocks(self, fabric, s, d, idx):
        C, S, R = self.C, self.S, self.R
        rack_n = C * S
        us_n = rack_n * R
        us_s, us_d = s // us_n, d // us_n
        rk_s, rk_d = s // rack_n, d // rack_n
        pos_s, pos_d = s % rack_n, d % rack_n
        srv_s, srv_d = pos_s // C, pos_d // C
        up1, dn1, up2, dn2, x = self.up1, self.dn1, self.up2, self.dn2, self.x

        def peer(r):  # same position, the other rack of the UltraServer (R == 2)
            rk = (r // rack_n) % R
            return r + (1 - 2 * rk) * rack_n

        same_us = us_s == us_d
        same_rack = rk_s == rk_d
        out = []
        sel = np.flatnonzero(~same_us)
        if len(sel):
            ss, dd = s[sel], d[sel]
            out.append(Block(idx[sel], np.array([2]),
                             lambda k, ss=ss, dd=dd: np.stack([self.efa_up[ss[k]], self.efa_dn[dd[k]]], axis=1)))
        sel = np.flatnonzero(same_us & same_rack & (srv_s == srv_d))
        if len(sel):
            ss, dd = s[sel], d[sel]
            out.append(Block(idx[sel], np.array([2, 2]), lambda k, ss=ss, dd=dd: np.stack(
                [up1[ss[k]], dn1[dd[k]], up2[ss[k]], dn2[dd[k]]], axis=1)))
        sel = np.flatnonzero(same_us & same_rack & (srv_s != srv_d))
        if len(sel):
            ss, dd = s[sel], d[sel]
            out.append(Block(idx[sel], np.array([2]),
                             lambda k, ss=ss, dd=dd: np.stack([up2[ss[k]], dn2[dd[k]]], axis=1)))
        cross = same_us & ~same_rack
        sel = np.flatnonzero(cross & (pos_s == pos_d))
        if len(sel):
            ss = s[sel]
            out.append(Block(idx[sel], np.array([1]), lambda k, ss=ss: x[ss[k]][:, None]))
        sel = np.flatnonzero(cross & (pos_s != pos_d) & (srv_s == srv_d))
        if len(sel):
            ss, dd = s[sel], d[sel]

            def four(k, ss=ss, dd=dd):
                a, b = ss[k], dd[k]
                pa, pb = peer(a), peer(b)
                return np.stack([x[a], up1[pa], dn1[b], x[a], up2[pa], dn2[b],
                                 up1[a], dn1[pb], x[pb], up2[a], dn2[pb], x[pb]], axis=1)

            out.append(Block(idx[sel], np.array([3, 3, 3, 3]), four))
        sel = np.flatnonzero(cross & (srv_s != srv_d))
        if len(sel):
            ss, dd = s[sel], d[sel]

            def two(k, ss=ss, dd=dd):
                a, b = ss[k], dd[k]
                pa, pb = peer(a), peer(b)
                return np.stack([x[a], up2[pa], dn2[b], up2[a], dn2[pb], x[pb]], axis=1)

            out.append(Block(idx[sel], np.array([3, 3]), two))
        return out


def _tier_split(total: float, weights: dict[str, float]) -> dict[str, float]:
    w = sum(weights.values())
    return {k: total * v / w for k, v in weights.items()}


def ultraserver(
    racks: int = 2,
    servers_per_rack: int = 18,
    chips_per_server: int = 4,
    ultraservers: int = 1,
    chip: ChipArg = "trainium3",
    bandwidth: Any = None,
    server_bandwidth: Any = None,
    rack_bandwidth: Any = None,
    cross_rack_bandwidth: Any = None,
    efa_bandwidth: Any = "200Gbps",
    link_latency: Any = "100ns",
    switch_latency: Any = "150ns",
    efa_latency: Any = "5us",
    efficiency: Any = 1.0,
    name: str = "ultraserver",
) -> Fabric:
    """AWS Trn3 UltraServer(s): Gen1 (``racks=1``, 4 servers x 16 chips) or Gen2 (2 racks x 18 x 4).

    Every chip links to its server's first-level switch (``server_bandwidth``), to its rack's
    second-level switch (``rack_bandwidth``) and, in a 2-rack UltraServer, directly to the chip in the
    same position of the other rack (``cross_rack_bandwidth``); all bytes/s per direction per chip.
    Unset tier bandwidths split ``bandwidth`` (default: the chip's ports x port bandwidth) in the ratio of
    the x8 PCIe Gen6 links AWS lists per tier (4 : 5 : 2, trn3-arch.rst; only 4 : 5 with one rack).
    With ``ultraservers > 1`` each chip also has an EFA NIC (``efa_bandwidth``) to one non-blocking
    scale-out switch (``efa_latency`` per hop). Chips forward (the cross-rack relay).

    Raises:
        SpecError: racks not 1 or 2, non-positive sizes or bandwidths.
    """
    c = resolve_chip(chip, "trainium3")
    R = as_int("racks", racks)
    if R > 2:
        raise SpecError(f"racks: an UltraServer has 1 (Gen1) or 2 (Gen2) racks, got {R}")
    S = as_int("servers_per_rack", servers_per_rack)
    C = as_int("chips_per_server", chips_per_server)
    U = as_int("ultraservers", ultraservers)
    if R == 1 and cross_rack_bandwidth is not None:  # it was ignored, whatever its value (nan included)
        raise SpecError("cross_rack_bandwidth: a 1-rack (Gen1) UltraServer has no cross-rack links; drop the key "
                        "or set racks: 2")
    weights = {"server": 4.0, "rack": 5.0} if R == 1 else {"server": 4.0, "rack": 5.0, "cross": 2.0}
    total = c.injection_bandwidth if bandwidth is None else as_quantity("bandwidth", bandwidth, "bandwidth")
    given = {"server": server_bandwidth, "rack": rack_bandwidth, "cross": cross_rack_bandwidth}
    if any(given[k] is None for k in weights) and not total > 0:
        raise SpecError(f"bandwidth: chip {c.name!r} lists no ports; give bandwidth or each tier's bandwidth")
    split = _tier_split(total, weights) if total > 0 else {}
    bw = {k: (split[k] if given[k] is None else as_quantity(f"{k}_bandwidth" if k != "cross" else
                                                           "cross_rack_bandwidth", given[k], "bandwidth"))
          for k in weights}
    efa_bw = as_quantity("efa_bandwidth", efa_bandwidth, "bandwidth")
    lat = as_quantity("link_latency", link_latency, "time", positive=False)
    swlat = as_quantity("switch_latency", switch_latency, "time", positive=False)
    efa_lat = as_quantity("efa_latency", efa_latency, "time", positive=False)
    eff = as_fraction("efficiency", efficiency)
    rack_n, us_n = C * S, C * S * R
    N = us_n * U
    # chips and switches; server, rack, cross-rack and EFA links: before allocating anything
    nodes = N + N // C + N // rack_n + (1 if U > 1 else 0)
    edges = 4 * N + (N if R == 2 else 0) + (2 * N if U > 1 else 0)
    check_graph_size("ultraserver", "servers_per_rack x chips_per_server x ultraservers", f"{S} x {C} x {U}",
                     nodes, edges, (nodes + edges) / N)
    ranks = np.arange(N)
    server = ranks // C  # global server index
    rack = ranks // rack_n  # global rack index
    ga = GraphAssembler()
    ids, attrs = _chip_nodes(N, server, True, {"rack": rack, "ultraserver": ranks // us_n})
    ga.add_nodes(ids, attrs)
    n_srv, n_rack = N // C, N // rack_n
    l1 = ga.add_nodes([f"l1.{i}" for i in range(n_srv)],
                      [{"kind": "switch", "tier": 1, "index": i, "server": i} for i in range(n_srv)])
    l2 = ga.add_nodes([f"l2.{i}" for i in range(n_rack)],
                      [{"kind": "switch", "tier": 2, "index": i, "rack": i} for i in range(n_rack)])
    up1, dn1 = ga.add_links(ranks, l1 + server, bw["server"], lat, lat + swlat, eff)
    up2, dn2 = ga.add_links(ranks, l2 + rack, bw["rack"], lat, lat + swlat, eff)
    x = None
    if R == 2:
        lo = ranks[(rack % 2) == 0]
        x_ab, x_ba = ga.add_links(lo, lo + rack_n, bw["cross"], lat, lat, eff)
    efa_up = efa_dn = None
    if U > 1:
        efa = ga.add_nodes(["efa"], [{"kind": "switch", "tier": 3, "index": 0, "scale_out": True}])
        efa_up, efa_dn = ga.add_links(ranks, np.full(N, efa), efa_bw, efa_lat, efa_lat + swlat, eff)
    meta = {"builder": "ultraserver", "chips": N, "ultraservers": U, "racks": R, "servers_per_rack": S,
            "chips_per_server": C, "server_bandwidth": bw["server"], "rack_bandwidth": bw["rack"],
            "cross_rack_bandwidth": bw.get("cross", 0.0), "efa_bandwidth": efa_bw if U > 1 else 0.0,
            "link_latency": lat, "switch_latency": swlat, "efa_latency": efa_lat, "in_network_reduction": False,
            "levels": ["tray", "rack", "ultraserver"] if U > 1 else ["tray", "rack"],
            "representative_chips": [0]}
    fab = ga.build(name, c, meta)
    if R == 2:
        xe = np.full(N, -1, dtype=np.int64)
        xe[lo] = ga.final(x_ab)
        xe[lo + rack_n] = ga.final(x_ba)
        x = xe
    fab.router = UltraServerRouter(
        C, S, R, ga.final(up1), ga.final(dn1), ga.final(up2), ga.final(dn2), x,
        None if efa_up is None else ga.final(efa_up), None if efa_dn is None else ga.final(efa_dn))
    return fab


# ============================================================================================ OCS torus


def ocs_torus(
    dims: Sequence[int] = (16, 24, 24),
    cube: Sequence[int] = (4, 4, 4),
    pod_chips: int = 9216,
    chip: ChipArg = "ironwood",
    link_bandwidth: Any = None,
    links_per_neighbor: int = 1,
    link_latency: Any = "500ns",
    efficiency: Any = 1.0,
    tray: Sequence[int] | None = (2, 2, 1),
    routing: str = "orders",
    max_paths: int = 1024,
    name: str = "ocs_torus",
) -> Fabric:
    """A TPU pod or slice: whole ``cube``s (4x4x4 chips, copper inside) joined into a 3D torus by optical
    circuit switches, or a slice inside one cube.

    Shapes the OCS allows (Google's TPU slice rules): each dimension is a multiple of the cube's edge
    (the OCS closes the ring: wraparound), or, for a slice inside one cube, every dimension is at most the
    cube's edge (no OCS: a mesh, no wraparound). At most ``pod_chips`` chips. The twisted tori libtpu
    offers for k x k x 2k shapes are not modelled (plain wraparound).

    Raises:
        SpecError: a shape the OCS cannot form (naming the dimension and the allowed sizes).
        CapacityError: more chips than the pod has.
    """
    if isinstance(dims, (int, np.integer)):
        dims = [dims]
    d = [as_int(f"dims[{i}]", v) for i, v in enumerate(as_list("dims", dims, "[4, 4, 8]"))]
    cb = [as_int(f"cube[{i}]", v) for i, v in enumerate(as_list("cube", cube, "[4, 4, 4]"))]
    if len(d) != 3 or len(cb) != 3:
        raise SpecError(f"dims: an OCS pod slice has 3 dimensions (x, y, z), got {list(dims)}")
    n = math.prod(d)
    cap = as_int("pod_chips", pod_chips)
    if n > cap:
        raise CapacityError(f"dims: {'x'.join(map(str, d))} = {n} chips exceeds the pod's {cap}")
    inside = all(v <= e for v, e in zip(d, cb))
    if not inside:
        for i, (v, e) in enumerate(zip(d, cb)):
            if v % e:
                raise SpecError(f"dims[{i}]: {v} is not a multiple of the {e}-chip cube edge; an OCS slice is "
                                f"whole cubes (e.g. {max(e, v - v % e)} or {v - v % e + e}), or fits inside one cube")
    wrap = [not inside] * 3
    tshape = None
    if tray is not None:
        tshape = [as_int(f"tray[{i}]", t) for i, t in enumerate(as_list("tray", tray, "[2, 2, 1]"))]
        if any(v % t for v, t in zip(d, tshape)):
            tshape = None  # a slice thinner than a host board: no trays
    fab = torus(dims=d, chip=resolve_chip(chip, "ironwood"), link_bandwidth=link_bandwidth,
                links_per_neighbor=links_per_neighbor, link_latency=link_latency, efficiency=efficiency,
                wrap=wrap, tray=tshape, routing=routing, max_paths=max_paths, name=name)
    fab.meta.update({"builder": "ocs_torus", "cube": cb, "cubes": 0 if inside else n // math.prod(cb),
                     "ocs": not inside, "pod_chips": cap})
    return fab


# ============================================================================================ Groq dragonfly


class GroqRouter(FormulaRouter):
    """Hierarchical minimal routes of a :func:`groq_dragonfly` system, vectorised (chips relay).

    A leg inside a rack from ``x`` to ``y``: the direct local link when they share a node; otherwise
    ``x -> a -> b -> y`` where ``a``-``b`` is the rack link between their nodes (``x == a`` or ``b == y``
    drop a hop). Across racks: ``leg(s, g) + (g -> h) + leg(h, d)`` over the rack pair's global links
    ``g``-``h``; those with the fewest hops are the ECMP set. Like dragonfly minimal routing (and Groq's
    compile-time routes) a detour through a third node or rack is never taken, so a BFS can find shorter
    paths through one; with two nodes per rack and two racks the sets are equal (tested).
    """

    def __init__(self, K: int, Nn: int, R: int, node_gate: np.ndarray, rack_gates: list[list[np.ndarray]]) -> None:
        super().__init__()
        self.K, self.Nn, self.R = K, Nn, R
        self.per_rack = K * Nn
        self.node_gate = node_gate  # (Nn, Nn, 2): slot of the gateway chip in node i and its peer's slot in j
        self.rack_gates = rack_gates  # [ri][rj] -> (G, 2) global chip ids (a in ri, b in rj)

    def _leg(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(n, 4) chip sequence of the in-rack leg x -> y; repeated chips mean no hop."""
        K, pr = self.K, self.per_rack
        base = (x // pr) * pr
        nx, ny = (x % pr) // K, (y % pr) // K
        g = self.node_gate[nx, ny]
        a = base + nx * K + g[:, 0]
        b = base + ny * K + g[:, 1]
        same_node = nx == ny
        a = np.where(same_node, y, a)
        b = np.where(same_node, y, b)
        return np.stack([x, a, b, y], axis=1)

    def _edges(self, fabric, seq: np.ndarray, hops: int) -> np.ndarray:
        """Edge ids of the ``hops`` transitions of each row of a chip sequence (duplicates skipped)."""
        move = seq[:, 1:] != seq[:, :-1]
        src = seq[:, :-1][move].reshape(len(seq), hops)
        dst = seq[:, 1:][move].reshape(len(seq), hops)
        return fabric.edge_ids(src.ravel(), dst.ravel()).reshape(len(seq), hops)

    def blocks(self, fabric, s, d, idx):
        pr = self.per_rack
        rs, rd = s // pr, d // pr
        out = []
        inside = np.flatnonzero(rs == rd)
        if len(inside):
            seq = self._leg(s[inside], d[inside])
            hops = (seq[:, 1:] != seq[:, :-1]).sum(axis=1)
            for h, pos in split_by_key(hops):
                sq = seq[pos]
                out.append(Block(idx[inside[pos]], np.array([int(h)]),
                                 lambda k, sq=sq, h=int(h): self._edges(fabric, sq[k], h)))
        across = np.flatnonzero(rs != rd)
        for key, pos in split_by_key(rs[across] * self.R + rd[across]):
            sel = across[pos]
            gates = self.rack_gates[int(key) // self.R][int(key) % self.R]  # (G, 2)
            ss, dd = s[sel], d[sel]
            n, G = len(sel), len(gates)
            seqs = np.concatenate([self._leg(np.repeat(ss, G), np.tile(gates[:, 0], n)),
                                   self._leg(np.tile(gates[:, 1], n), np.repeat(dd, G))], axis=1).reshape(n, G, 8)
            hops = (seqs[:, :, 1:] != seqs[:, :, :-1]).sum(axis=2)  # (n, G), the global hop included
            best = hops.min(axis=1)
            mask = hops == best[:, None]
            rows, inv = np.unique(np.concatenate([best[:, None], mask], axis=1), axis=0, return_inverse=True)
            for r, row in enumerate(rows):
                pos2 = np.flatnonzero(inv.ravel() == r)
                h, chosen = int(row[0]), np.flatnonzero(row[1:])
                n_opt = len(chosen)
                sq = seqs[pos2][:, chosen, :].reshape(len(pos2) * n_opt, 8)

                def make(k, sq=sq, h=h, m=n_opt):
                    rows_k = (k[:, None] * m + np.arange(m)).ravel()
                    return self._edges(fabric, sq[rows_k], h).reshape(len(k), m * h)

                out.append(Block(idx[sel[pos2]], np.full(len(chosen), h), make))
        return out


def groq_dragonfly(
    node_size: int = 8,
    nodes_per_rack: int = 9,
    racks: int = 1,
    local_links: int = 1,
    rack_ports: int = 5,
    global_ports: int = 4,
    chip: ChipArg = "groq-lpu",
    link_bandwidth: Any = None,
    link_latency: Any = "500ns",
    efficiency: Any = 1.0,
    name: str = "groq_dragonfly",
) -> Fabric:
    """Groq LPU system: chips that are endpoints and routers, in three tiers (no switches).

    - node: ``node_size`` chips fully connected, ``local_links`` links per chip pair;
    - rack: ``nodes_per_rack`` nodes; each chip has ``rack_ports`` links to other nodes of its rack, dealt
      evenly over the node pairs (``node_size x rack_ports / (nodes_per_rack - 1)`` links per node pair, in
      the absolute arrangement: port ``p`` of a node leads to its ``p // m``-th other node, chip ``p //
      rack_ports``);
    - global: ``racks`` racks; each chip has ``global_ports`` links to other racks, dealt the same way
      (``chips_per_rack x global_ports / (racks - 1)`` links per rack pair).
    Parallel links between the same chip pair are merged into one edge. ``link_bandwidth`` is bytes/s per
    direction of one link (default: the chip's port bandwidth). Routes: :class:`GroqRouter` (hierarchical
    minimal, fixed as Groq's compiler fixes them), or BFS shortest paths when a node pair's links land on
    several chip pairs.

    Raises:
        SpecError: port counts that do not divide evenly over the node or rack pairs.
        CapacityError: more links per chip than the chip has ports.
    """
    c = resolve_chip(chip, "groq-lpu")
    K = as_int("node_size", node_size, 2)
    Nn = as_int("nodes_per_rack", nodes_per_rack)
    R = as_int("racks", racks)
    kl = as_int("local_links", local_links)
    rp = as_int("rack_ports", rack_ports, 0) if Nn > 1 else 0
    gp = as_int("global_ports", global_ports, 0) if R > 1 else 0
    used = (K - 1) * kl + rp + gp
    if c.ports and used > c.ports:
        raise CapacityError(f"rack_ports: (node_size-1) x local_links + rack_ports + global_ports = {used} links "
                            f"per chip, chip {c.name!r} has {c.ports}")
    m_r = m_g = 0
    if Nn > 1:
        if rp < 1 or (K * rp) % (Nn - 1):
            raise SpecError(f"rack_ports: node_size x rack_ports = {K * rp} must split evenly over the "
                            f"{Nn - 1} other nodes of a rack")
        m_r = K * rp // (Nn - 1)
    per_rack = K * Nn
    if R > 1:
        if gp < 1 or (per_rack * gp) % (R - 1):
            raise SpecError(f"racks: the {per_rack * gp} global ports of a rack must split evenly over the "
                            f"{R - 1} other racks; choose racks - 1 dividing {per_rack * gp}")
        m_g = per_rack * gp // (R - 1)
    bw = as_quantity("link_bandwidth", link_bandwidth, "bandwidth") if link_bandwidth is not None \
        else c.port_bandwidth
    if not bw > 0:
        raise SpecError(f"link_bandwidth: chip {c.name!r} lists no port bandwidth; give link_bandwidth")
    lat = as_quantity("link_latency", link_latency, "time", positive=False)
    eff = as_fraction("efficiency", efficiency)
    N = per_rack * R
    ranks = np.arange(N)
    node = ranks // K
    ga = GraphAssembler()
    ids, attrs = _chip_nodes(N, node, True, {"rack": ranks // per_rack})
    ga.add_nodes(ids, attrs)
    # node tier: full mesh
    u, v = np.meshgrid(np.arange(K), np.arange(K), indexing="ij")
    keep = u < v
    base = np.arange(N // K)[:, None] * K
    su = (base + u[keep][None, :]).ravel()
    sv = (base + v[keep][None, :]).ravel()
    ga.add_links(su, sv, kl * bw, lat, lat, eff, kl)

    def tier(n_groups: int, ports: int, m: int, outer: int, unit: int) -> dict[tuple[int, int], set]:
        """Deal ``ports`` per chip of each group over the other groups of its ``outer`` block; merge pairs.
        Returns the gateway pairs (chip offsets inside groups i and j) of each group pair (i, j) of block 0."""
        src, dst = [], []
        gates: dict[tuple[int, int], set] = {}
        for o in range(outer):
            for i in range(n_groups):
                for j in range(i + 1, n_groups):
                    for k in range(m):
                        pi, pj = (j - 1) * m + k, i * m + k
                        src.append(o * n_groups * unit + i * unit + pi // ports)
                        dst.append(o * n_groups * unit + j * unit + pj // ports)
                        if o == 0:
                            gates.setdefault((i, j), set()).add((pi // ports, pj // ports))
        if src:
            key = np.asarray(src) * N + np.asarray(dst)
            uk, cnt = np.unique(key, return_counts=True)
            ga.add_links(uk // N, uk % N, cnt * bw, lat, lat, eff, cnt)
        return gates

    node_gates = tier(Nn, rp, m_r, R, K) if Nn > 1 else {}
    rack_gates = tier(R, gp, m_g, 1, per_rack) if R > 1 else {}
    meta = {"builder": "groq_dragonfly", "chips": N, "node_size": K, "nodes_per_rack": Nn, "racks": R,
            "local_links": kl, "rack_ports": rp, "global_ports": gp, "links_per_node_pair": m_r,
            "links_per_rack_pair": m_g, "link_bandwidth": bw, "link_latency": lat, "in_network_reduction": False,
            "levels": ["tray", "rack"] if R > 1 else ["tray"], "representative_chips": [0]}
    fab = ga.build(name, c, meta)
    if any(len(v) > 1 for v in node_gates.values()):
        fab.router = BFSRouter()  # a node pair split over several chip pairs: shortest paths by search
        fab.meta["routing"] = "bfs"
        return fab
    node_gate = np.zeros((Nn, Nn, 2), dtype=np.int64)
    for (i, j), v in node_gates.items():
        (a_, b_), = v
        node_gate[i, j] = (a_, b_)
        node_gate[j, i] = (b_, a_)
    empty = np.zeros((0, 2), dtype=np.int64)
    gates = [[empty for _ in range(R)] for _ in range(R)]
    for (i, j), v in rack_gates.items():
        g = np.asarray(sorted(v), dtype=np.int64)
        gates[i][j] = np.stack([i * per_rack + g[:, 0], j * per_rack + g[:, 1]], axis=1)
        gates[j][i] = gates[i][j][:, ::-1].copy()
    fab.router = GroqRouter(K, Nn, R, node_gate, gates)
    fab.meta["routing"] = "hierarchical-minimal"
    return fab


BUILDERS.update({"ultraserver": ultraserver, "ocs_torus": ocs_torus, "groq_dragonfly": groq_dragonfly})
