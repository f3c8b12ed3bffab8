"""The :class:`Fabric`: a ``networkx.DiGraph`` plus the arrays hot loops need, and its router.

Graph contract (DESIGN.md):
- chips: nodes with ``kind="chip"``, integer ``rank`` (0..N-1, dense), ``tray`` (int); optional
  ``forward`` (bool, default False): whether the chip may carry traffic for other chips (torus, mesh).
- switches: nodes with ``kind="switch"``, integer ``tier`` (1 = leaf), optional ``plane``.
- every physical link is two directed edges, each with ``bandwidth`` (bytes/s, that direction),
  ``latency`` (s) and optional ``efficiency`` (fraction of line rate achieved, default 1.0).

Index conventions used by every array API in scaleup:
- node index: chips first in rank order (so a chip's node index equals its rank), then the other
  nodes in graph insertion order. ``fabric.nodes[i]`` is the node id, ``fabric.node_index[node]`` its index.
- edge index: ``fabric.edge_src[e] -> fabric.edge_dst[e]``; ``fabric.edge_id(u, v)`` looks one up.
- :class:`Routes`: equal-cost paths of a batch of (src, dst) pairs as a two-level CSR over edge ids.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import networkx as nx
import numpy as np

from .errors import RoutingError, SpecError
from .specs import ChipSpec

Node = Hashable


@dataclass(frozen=True)
class Routes:
    """Equal-cost routes of ``n_pairs`` (src, dst) pairs, as a two-level CSR over edge ids.

    Attributes:
        pair_ptr: int64 array (n_pairs + 1,); the paths of pair ``i`` are path ids
            ``pair_ptr[i] .. pair_ptr[i+1]-1``. A pair with src == dst has one path with no edges.
        path_ptr: int64 array (n_paths + 1,); the edges of path ``j`` are
            ``path_edges[path_ptr[j]:path_ptr[j+1]]``, in order from src to dst.
        path_edges: int64 array of edge ids.
    """

    pair_ptr: np.ndarray
    path_ptr: np.ndarray
    path_edges: np.ndarray

    @property
    def n_pairs(self) -> int:
        return len(self.pair_ptr) - 1

    @property
    def n_paths(self) -> int:
        return len(self.path_ptr) - 1

    def path_counts(self) -> np.ndarray:
        """Number of equal-cost paths of each pair."""
        return np.diff(self.pair_ptr)

    def path_lengths(self) -> np.ndarray:
        """Hops (edges) of each path."""
        return np.diff(self.path_ptr)

    def pair_of_path(self) -> np.ndarray:
        """For each path id, the pair it belongs to."""
        return np.repeat(np.arange(self.n_pairs, dtype=np.int64), self.path_counts())

    def edges_of(self, pair: int) -> list[np.ndarray]:
        """Edge-id arrays of each path of one pair."""
        a, b = self.pair_ptr[pair], self.pair_ptr[pair + 1]
        return [self.path_edges[self.path_ptr[j]:self.path_ptr[j + 1]] for j in range(a, b)]

    @staticmethod
    def concat(parts: Sequence[Routes]) -> Routes:
        """Concatenate route batches (pairs in order)."""
        if not parts:
            z = np.zeros(1, dtype=np.int64)
            return Routes(z, z.copy(), np.zeros(0, dtype=np.int64))
        pair_ptr = [np.zeros(1, dtype=np.int64)]
        path_ptr = [np.zeros(1, dtype=np.int64)]
        edges = []
        n_paths = 0
        n_edges = 0
        for r in parts:
            pair_ptr.append(r.pair_ptr[1:] + n_paths)
            path_ptr.append(r.path_ptr[1:] + n_edges)
            edges.append(r.path_edges)
            n_paths += r.n_paths
            n_edges += len(r.path_edges)
        return Routes(np.concatenate(pair_ptr), np.concatenate(path_ptr), np.concatenate(edges))


class Router(Protocol):
    """Computes ECMP routes for batches of node-index pairs."""

    def routes(self, fabric: Fabric, src: np.ndarray, dst: np.ndarray) -> Routes: ...


class BFSRouter:
    """Generic shortest-path ECMP router for any graph (bring-your-own topologies).

    One reverse BFS per distinct destination (cached), then every shortest path is enumerated over the
    DAG of distance-decreasing edges. Chips are endpoints only unless their ``forward`` attribute is true.
    Enumeration is capped at ``max_paths`` per pair (the first ones in a deterministic order); builders
    with huge ECMP sets provide formula routers instead.
    """

    #: most (src, dst) path lists kept between calls (a collective asks for the same pairs at every step, size and
    #: algorithm; the cache is emptied at the next call once full, and never grows past it within a call)
    MAX_CACHED_PAIRS = 1 << 20

    def __init__(self, max_paths: int = 4096) -> None:
        self.max_paths = max_paths
        self._dist: dict[int, np.ndarray] = {}
        self._paths: dict[tuple[int, int], list[list[int]]] = {}

    def distances_to(self, fabric: Fabric, dst: int) -> np.ndarray:
        """Hop distance from every node to ``dst`` through forwarding nodes (-1 if unreachable)."""
        d = self._dist.get(dst)
        if d is not None:
            return d
        n = fabric.n_nodes
        dist = np.full(n, -1, dtype=np.int64)
        dist[dst] = 0
        frontier = [dst]
        in_ptr, in_src = fabric._in_csr
        forwards = fabric.forwards
        level = 0
        while frontier:
            level += 1
            nxt = []
            for v in frontier:
                if v != dst and not forwards[v]:
                    continue  # v cannot relay, so nothing reaches dst through it
                for u in in_src[in_ptr[v]:in_ptr[v + 1]]:
                    if dist[u] < 0:
                        dist[u] = level
                        nxt.append(int(u))
            frontier = nxt
        self._dist[dst] = dist
        return dist

    def _paths_edges(self, fabric: Fabric, s: int, d: int) -> list[list[int]]:
        if s == d:
            return [[]]
        dist = self.distances_to(fabric, d)
        if dist[s] < 0:
            raise RoutingError(
                f"no route from {fabric.nodes[s]!r} to {fabric.nodes[d]!r}: the fabric is disconnected "
                "between them (or only through chips that do not forward: give relaying chips the node attribute "
                "forward=True, as a ring or torus of chips needs)"
            )
        out_ptr, out_dst, out_eid = fabric._out_csr
        forwards = fabric.forwards
        paths: list[list[int]] = []
        stack: list[tuple[int, list[int]]] = [(s, [])]
        while stack and len(paths) < self.max_paths:
            u, acc = stack.pop()
            if u == d:
                paths.append(acc)
                continue
            if u != s and not forwards[u]:
                continue
            cand = []
            for k in range(out_ptr[u], out_ptr[u + 1]):
                v = out_dst[k]
                if dist[v] == dist[u] - 1 and (v == d or forwards[v]):
                    cand.append((int(v), int(out_eid[k])))
            for v, e in reversed(cand):
                stack.append((v, acc + [e]))
        return paths

    def routes(self, fabric: Fabric, src: np.ndarray, dst: np.ndarray) -> Routes:
        pair_ptr = [0]
        path_ptr = [0]
        edges: list[int] = []
        memo = self._paths  # like _dist, per router = per fabric (a faulted fabric gets a router of its own)
        if len(memo) >= self.MAX_CACHED_PAIRS:
            memo.clear()
        for s, d in zip(np.asarray(src).tolist(), np.asarray(dst).tolist()):
            key = (s, d)
            ps = memo.get(key)
            if ps is None:
                ps = self._paths_edges(fabric, s, d)
                if len(memo) < self.MAX_CACHED_PAIRS:  # bounded: an all-to-all of 6,144 chips is 37M pairs
                    memo[key] = ps
            for p in ps:
                edges.extend(p)
                path_ptr.append(len(edges))
            pair_ptr.append(len(path_ptr) - 1)
        return Routes(
            np.asarray(pair_ptr, dtype=np.int64),
            np.asarray(path_ptr, dtype=np.int64),
            np.asarray(edges, dtype=np.int64),
        )


class Fabric:
    """A scale-up fabric: a ``networkx.DiGraph`` with a chip spec, derived arrays and a router.

    Build one with a builder (:mod:`topo.builders`), :func:`topo.load`, or :meth:`Fabric.from_graph`.

    Attributes:
        graph: the DiGraph (see the module docstring for its attributes).
        chip: the :class:`ChipSpec` of every chip (homogeneous fabrics).
        name: a label, e.g. ``"maia200"``.
        router: object computing ECMP routes; builders install formula routers, others get BFS.
        meta: free-form builder parameters (tray size, planes, ...), for summaries and exports.
    """

    def __init__(
        self,
        graph: nx.DiGraph,
        chip: ChipSpec | None = None,
        name: str = "custom",
        router: Router | None = None,
        meta: dict[str, Any] | None = None,
        validate: bool = True,
        arrays: dict[str, np.ndarray] | None = None,
        edge_filler: Any = None,
    ) -> None:
        if not isinstance(graph, nx.DiGraph):
            raise SpecError(f"Fabric graph: expected a networkx.DiGraph, got {type(graph).__name__}")
        self._graph = graph
        # builders pass a nodes-only graph, the edge arrays, and a callable adding the edges to the graph
        # on first access of .graph (the arrays are what hot loops use; see topo._build.EdgeFiller)
        self._edge_filler = edge_filler
        self.chip = chip if chip is not None else ChipSpec(name="generic")
        self.name = name
        self.router: Router = router if router is not None else BFSRouter()
        self.meta: dict[str, Any] = dict(meta or {})
        #: the communication software (a :class:`topo.specs.CommSpec`) from the fabric file's ``comm:`` key;
        #: None = collectives use their documented generic default (see docs/collectives.md)
        self.comm: Any = None
        #: the network's prices (a :class:`topo.netcost.NetworkCostSpec`) from the fabric file's ``cost:`` key;
        #: None = not priced (:func:`topo.netcost.network_capex` counts the hardware either way)
        self.network_cost: Any = None
        self._index_nodes(arrays)
        if validate:
            self._validate()

    # ------------------------------------------------------------------ construction
    @property
    def graph(self) -> nx.DiGraph:
        """The fabric's ``networkx.DiGraph`` (builders' edges are added on first access)."""
        if self._edge_filler is not None:
            filler, self._edge_filler = self._edge_filler, None
            filler(self._graph)
        return self._graph

    @property
    def node_data(self) -> Any:
        """Node attribute view (``graph.nodes``) that does not materialise a builder's edges."""
        return self._graph.nodes

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_edge_lookup", None)
        state["_edge_lookup"] = None
        return state

    @classmethod
    def from_graph(
        cls, graph: nx.DiGraph | nx.Graph, chip: ChipSpec | None = None, name: str = "custom", **meta: Any
    ) -> Fabric:
        """Wrap a user graph. An undirected graph is made directed (each edge both ways).

        Nodes need ``kind`` (``"chip"`` or ``"switch"``); chips without ``rank`` are ranked in insertion
        order; switches without ``tier`` get their hop distance from the nearest chip (1 = leaf, 2 = spine); when
        no chip has a ``tray`` and each hangs under exactly one tier-1 switch, those switches' chips are a level
        (``leaf`` attribute, ``meta["levels"] = ["leaf"]``) for the hierarchical collectives.
        Edges need ``bandwidth`` (bytes/s) and ``latency`` (s).
        """
        if isinstance(graph, nx.Graph) and not isinstance(graph, nx.DiGraph):
            graph = graph.to_directed()
        g = graph.copy()
        chips = [n for n, a in g.nodes(data=True) if a.get("kind") == "chip"]
        if chips and any("rank" not in g.nodes[n] for n in chips):
            for r, n in enumerate(chips):
                g.nodes[n]["rank"] = r
        grouped = any("tray" in g.nodes[n] for n in chips) or "levels" in meta
        for n in chips:
            g.nodes[n].setdefault("tray", g.nodes[n]["rank"])
        untiered = [n for n, a in g.nodes(data=True) if a.get("kind") == "switch" and "tier" not in a]
        if untiered and chips:  # a user graph: tier = hops from the nearest chip (leaf 1, spine 2, ...), as builders
            hops = nx.multi_source_dijkstra_path_length(g.to_undirected(as_view=True), set(chips), weight=None)
            for n in untiered:
                if n in hops:
                    g.nodes[n]["tier"] = int(hops[n])
        if chips and not grouped:  # chips under one leaf each: the leaves are a level (hierarchical collectives)
            leaf_of = {}
            for n in chips:
                ups = {v for v in g.successors(n) if g.nodes[v].get("kind") == "switch" and g.nodes[v].get("tier") == 1}
                if len(ups) != 1:
                    break
                leaf_of[n] = next(iter(ups))
            else:
                leaves = {v: i for i, v in enumerate(dict.fromkeys(leaf_of.values()))}
                if 1 < len(leaves) < len(chips):
                    for n in chips:
                        g.nodes[n]["leaf"] = leaves[leaf_of[n]]
                    meta = {**meta, "levels": ["leaf"]}
        return cls(g, chip=chip, name=name, meta=meta)

    def _index_nodes(self, arrays: dict[str, np.ndarray] | None = None) -> None:
        """Index nodes (chips first) and derive the edge arrays.

        ``arrays`` (builders only): precomputed ``src``, ``dst`` (node indices), ``bandwidth``, ``latency``,
        ``efficiency`` and optional ``links`` in the graph's edge iteration order; skips the Python loop
        over the edges, which dominates construction time at 6,144 chips.
        """
        g = self._graph
        chips = []
        others = []
        for n, a in g.nodes(data=True):
            kind = a.get("kind")
            if kind == "chip":
                if "rank" not in a:
                    raise SpecError(f"node {n!r}: a chip needs an integer 'rank' attribute")
                chips.append((a["rank"], n))
            elif kind == "switch":
                others.append(n)
            else:
                raise SpecError(f"node {n!r}: attribute kind must be 'chip' or 'switch', got {kind!r}; give every "
                                "node kind='chip' (an accelerator) or kind='switch'")
        chips.sort(key=lambda t: t[0])
        ranks = [r for r, _ in chips]
        if ranks != list(range(len(ranks))):
            raise SpecError("chip ranks must be the integers 0..N-1, each once")
        self.chips: list[Node] = [n for _, n in chips]
        self.switches: list[Node] = others
        self.nodes: list[Node] = self.chips + others
        self.node_index: dict[Node, int] = {n: i for i, n in enumerate(self.nodes)}
        self._edge_lookup: dict[tuple[int, int], int] | None = None
        self._edge_keys: tuple[np.ndarray, np.ndarray] | None = None
        if arrays is not None:
            self.edge_src = np.asarray(arrays["src"], dtype=np.int64)
            self.edge_dst = np.asarray(arrays["dst"], dtype=np.int64)
            self.edge_bandwidth = np.asarray(arrays["bandwidth"], dtype=np.float64)
            self.edge_latency = np.asarray(arrays["latency"], dtype=np.float64)
            self.edge_efficiency = np.asarray(arrays["efficiency"], dtype=np.float64)
            self.edge_capacity = self.edge_bandwidth * self.edge_efficiency
            links = arrays.get("links")
            self.edge_links = (
                np.ones(len(self.edge_src), dtype=np.int64) if links is None else np.asarray(links, dtype=np.int64)
            )
            if self._edge_filler is None and len(self.edge_src) != g.number_of_edges():
                raise SpecError("Fabric arrays: edge count differs from the graph's")
            return
        n_edges = g.number_of_edges()
        links_arr = np.ones(n_edges, dtype=np.int64)
        src = np.empty(n_edges, dtype=np.int64)
        dst = np.empty(n_edges, dtype=np.int64)
        bw = np.empty(n_edges, dtype=np.float64)
        lat = np.empty(n_edges, dtype=np.float64)
        eff = np.empty(n_edges, dtype=np.float64)
        idx = self.node_index
        for e, (u, v, a) in enumerate(g.edges(data=True)):
            src[e] = idx[u]
            dst[e] = idx[v]
            try:
                bw[e] = float(a["bandwidth"])
                lat[e] = float(a.get("latency", 0.0))
                eff[e] = float(a.get("efficiency", 1.0))
                links_arr[e] = int(a.get("links", 1))
            except KeyError as exc:
                raise SpecError(f"edge {u!r}->{v!r}: missing attribute {exc.args[0]!r} (bytes/s)") from None
            except (TypeError, ValueError):
                raise SpecError(f"edge {u!r}->{v!r}: bandwidth/latency/efficiency must be numbers") from None
        self.edge_src = src
        self.edge_dst = dst
        self.edge_bandwidth = bw
        self.edge_latency = lat
        self.edge_efficiency = eff
        self.edge_capacity = bw * eff
        self.edge_links = links_arr

    def _validate(self) -> None:
        if not self.chips:
            raise SpecError(f"fabric {self.name!r}: has no chips (nodes with kind='chip')")
        for e in np.flatnonzero(~(self.edge_bandwidth > 0)):
            u, v = self.nodes[self.edge_src[e]], self.nodes[self.edge_dst[e]]
            raise SpecError(
                f"edge {u!r}->{v!r}: bandwidth must be > 0 bytes/s, got {float(self.edge_bandwidth[e])!r}"
            )
        for e in np.flatnonzero(~(self.edge_latency >= 0)):
            u, v = self.nodes[self.edge_src[e]], self.nodes[self.edge_dst[e]]
            raise SpecError(f"edge {u!r}->{v!r}: latency must be >= 0 s, got {float(self.edge_latency[e])!r}")
        for e in np.flatnonzero(~((self.edge_efficiency > 0) & (self.edge_efficiency <= 1))):
            u, v = self.nodes[self.edge_src[e]], self.nodes[self.edge_dst[e]]
            raise SpecError(f"edge {u!r}->{v!r}: efficiency must be in (0, 1], got {float(self.edge_efficiency[e])!r}")
        if self.n_nodes > 1 and (comps := self._n_components()) > 1:
            raise SpecError(
                f"fabric {self.name!r}: the graph is disconnected ({comps} components); every chip must "
                "reach every other: check the links of the spec"
            )

    def _n_components(self) -> int:
        """Number of weakly connected components: min-label propagation with pointer jumping on the edge
        arrays (numpy only, so building a fabric does not import scipy.sparse.csgraph; a few passes at
        6,144 chips). Each node's label is the smallest node index it has reached; at the fixed point every
        edge joins equal labels, so the distinct labels are the components."""
        labels = np.arange(self.n_nodes)
        src, dst = np.asarray(self.edge_src, dtype=np.int64), np.asarray(self.edge_dst, dtype=np.int64)
        while True:
            low = np.minimum(labels[src], labels[dst])
            new = labels.copy()
            np.minimum.at(new, src, low)
            np.minimum.at(new, dst, low)
            new = new[new]  # pointer jumping: adopt the label of one's label
            if np.array_equal(new, labels):
                return int(np.unique(labels).size)
            labels = new

    # ------------------------------------------------------------------ sizes and lookups
    @property
    def n_chips(self) -> int:
        return len(self.chips)

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        return len(self.edge_src)

    @cached_property
    def forwards(self) -> np.ndarray:
        """Bool per node index: may this node relay traffic for others? Switches always do."""
        out = np.ones(self.n_nodes, dtype=bool)
        g = self._graph
        for i, n in enumerate(self.chips):
            out[i] = bool(g.nodes[n].get("forward", False))
        return out

    @cached_property
    def trays(self) -> np.ndarray:
        """Tray id of each chip, in rank order."""
        g = self._graph
        return np.asarray([g.nodes[n].get("tray", i) for i, n in enumerate(self.chips)], dtype=np.int64)

    @cached_property
    def _out_csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        order = np.argsort(self.edge_src, kind="stable")
        ptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
        np.add.at(ptr, self.edge_src + 1, 1)
        return np.cumsum(ptr), self.edge_dst[order], order

    @cached_property
    def _in_csr(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.edge_dst, kind="stable")
        ptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
        np.add.at(ptr, self.edge_dst + 1, 1)
        return np.cumsum(ptr), self.edge_src[order]

    def edge_id(self, u: Node, v: Node) -> int:
        """Edge index of the directed link u -> v (node ids, not indices)."""
        if self._edge_lookup is None:
            self._edge_lookup = {
                (int(a), int(b)): e for e, (a, b) in enumerate(zip(self.edge_src, self.edge_dst))
            }
        try:
            return self._edge_lookup[(self.node_index[u], self.node_index[v])]
        except KeyError:
            raise RoutingError(f"no link {u!r} -> {v!r} in fabric {self.name!r}") from None

    def edge_ids(self, src_idx: np.ndarray, dst_idx: np.ndarray) -> np.ndarray:
        """Vectorised edge lookup: edge index of each directed link ``src_idx[i] -> dst_idx[i]``.

        Takes node-index arrays; raises :class:`RoutingError` if some link does not exist.
        """
        if self._edge_keys is None:
            key = self.edge_src * self.n_nodes + self.edge_dst
            order = np.argsort(key, kind="stable")
            self._edge_keys = (key[order], order)
        keys, order = self._edge_keys
        q = np.asarray(src_idx, dtype=np.int64) * self.n_nodes + np.asarray(dst_idx, dtype=np.int64)
        pos = np.searchsorted(keys, q)
        pos_c = np.minimum(pos, len(keys) - 1)
        bad = keys[pos_c] != q
        if np.any(bad):
            i = int(np.flatnonzero(bad.ravel())[0])
            u = int(np.asarray(src_idx).ravel()[i])
            v = int(np.asarray(dst_idx).ravel()[i])
            raise RoutingError(f"no link {self.nodes[u]!r} -> {self.nodes[v]!r} in fabric {self.name!r}")
        return order[pos_c]

    def index(self, node: Node | int) -> int:
        """Node index of a node id; a bare int that is not a node id is read as a chip rank."""
        i = self.node_index.get(node)
        if i is not None:
            return i
        if isinstance(node, (int, np.integer)) and not isinstance(node, bool) and 0 <= node < self.n_chips:
            return int(node)
        raise RoutingError(
            f"unknown node {node!r} in fabric {self.name!r}: use a node id such as {self.chips[0]!r} or "
            f"a chip rank 0..{self.n_chips - 1}"
        )

    def indices(self, nodes: Iterable[Node | int] | np.ndarray) -> np.ndarray:
        """Vectorised :meth:`index`; an integer array is taken as node indices (checked in range)."""
        if isinstance(nodes, np.ndarray) and np.issubdtype(nodes.dtype, np.integer):
            if len(nodes) and (nodes.min() < 0 or nodes.max() >= self.n_nodes):
                bad = nodes[(nodes < 0) | (nodes >= self.n_nodes)][0]
                raise RoutingError(f"node index {int(bad)} out of range 0..{self.n_nodes - 1}")
            return nodes.astype(np.int64, copy=False)
        return np.asarray([self.index(n) for n in nodes], dtype=np.int64)

    # ------------------------------------------------------------------ routing
    def routes(self, src: Iterable[Node | int] | np.ndarray, dst: Iterable[Node | int] | np.ndarray) -> Routes:
        """ECMP routes of many (src, dst) pairs at once; see :class:`Routes`.

        ``src``/``dst`` are node ids, or integer arrays of node indices (chip rank == node index).
        """
        s = self.indices(src)
        d = self.indices(dst)
        if s.shape != d.shape:
            raise RoutingError(f"routes: src and dst differ in length ({len(s)} vs {len(d)})")
        return self.router.routes(self, s, d)

    def paths(self, src: Node | int, dst: Node | int) -> list[list[Node]]:
        """The equal-cost shortest paths from ``src`` to ``dst``, as node lists."""
        s, d = self.index(src), self.index(dst)
        r = self.routes(np.array([s]), np.array([d]))
        out = []
        for edges in r.edges_of(0):
            if len(edges) == 0:
                out.append([self.nodes[s]])
            else:
                out.append([self.nodes[s]] + [self.nodes[v] for v in self.edge_dst[edges]])
        return out

    def path_latency(self, edges: np.ndarray) -> float:
        """Sum of link latencies along a path (edge ids), seconds."""
        return float(self.edge_latency[edges].sum())

    # ------------------------------------------------------------------ groups and structure
    def groups(self, k: int, placement: str = "tray", seed: int = 0) -> list[list[int]]:
        """Split the chips into ``n_chips / k`` groups of ``k`` ranks each.

        Args:
            k: group size (chips); must divide :attr:`n_chips`.
            placement: ``"tray"`` (consecutive ranks: builders number chips tray-first, then by leaf,
                server or router, so a group fills trays, then leaves; on a torus a group smaller than an
                x-line, or on an OCS torus up to a cube, is a compact box, larger ones fill x-lines, then
                xy-planes, each listed along a snake path so its ring steps one hop: :meth:`_torus_tiles`),
                ``"strided"`` (group ``i`` holds ranks
                ``i, i + n/k, i + 2n/k, ...``: one chip per block, the worst case for locality), or
                ``"random"`` (a seeded random permutation, then consecutive blocks).
            seed: seed of the ``"random"`` placement.

        Returns:
            A list of rank lists, each sorted ascending for ``"strided"`` and for ``"tray"`` off tori.
        """
        n = self.n_chips
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise SpecError(f"groups: k must be a positive integer, got {k!r}")
        k = int(k)
        if n % k:
            divisors = [d for d in range(1, n + 1) if n % d == 0]
            shown = ", ".join(map(str, divisors[:12])) + (", ..." if len(divisors) > 12 else "")
            raise SpecError(f"groups: k={k} does not divide the {n} chips of {self.name!r}; try one of {shown}")
        m = n // k
        if placement == "tray":
            tiles = self._torus_tiles(k)
            return tiles if tiles is not None else np.arange(n).reshape(m, k).tolist()
        if placement == "strided":
            return np.arange(n).reshape(k, m).T.tolist()
        if placement == "random":
            perm = np.random.default_rng(seed).permutation(n)
            return perm.reshape(m, k).tolist()
        raise SpecError(f"groups: placement must be 'tray', 'strided' or 'random', got {placement!r}")

    def _torus_tiles(self, k: int) -> list[list[int]] | None:
        """``"tray"`` groups of a torus (builders ``torus`` / ``ocs_torus``), as a TPU slice is cut: a group of
        fewer chips than an x-line is the most compact box that tiles the torus (e.g. 2x2x2 for 8 chips on a
        16x24x24 Ironwood pod), not a segment of the line, whose ring would close over k - 1 hops; larger
        groups keep their consecutive ranks (whole x-lines, then planes). Each group is listed
        along a Hamiltonian cycle of its box where one exists (:func:`_cycle_order`), so consecutive members, and
        the last and the first, are neighbours: a ring over the group's order takes one hop a step, as a
        topology-aware runtime orders it. On an OCS torus a group of up to one cube is such a box inside a cube (copper; a
        64-chip group is a 4x4x4 cube, as Ironwood slices are cut). None for other fabrics."""
        meta = self.meta
        dims = [int(d) for d in meta.get("dims") or ()]
        if meta.get("builder") not in ("torus", "ocs_torus") or not dims or math.prod(dims) != self.n_chips:
            return None
        strides = np.cumprod([1] + dims[:-1])
        coords = (np.arange(self.n_chips)[:, None] // strides) % np.asarray(dims)
        cube = [int(c) for c in meta.get("cube") or dims]
        if k < dims[0] or (meta.get("cube") and k <= math.prod(cube)):
            shape = _compact_tile(dims, cube, k)
            if shape is None:
                return None
            tile = np.asarray(shape)
            tid = coords // tile
            tdims = np.asarray(dims) // tile
            gid = (tid * np.cumprod(np.r_[1, tdims[:-1]])).sum(axis=1)
            # one row per tile, its ranks ascending: every tile is the same box translated, so one cycle order
            # (of the first tile's coordinates) lists them all (a per-tile loop took 0.11 s for k = 2 on the pod)
            rows = np.argsort(gid, kind="stable").reshape(-1, k)
            first = coords[rows[0]] - coords[rows[0]].min(axis=0)
            return rows[:, _cycle_order(first)].tolist()
        out = []
        for g in np.arange(self.n_chips).reshape(-1, k):  # whole x-lines, then planes: consecutive ranks
            c = coords[g] - coords[g].min(axis=0)
            # a box is listed along its cycle; consecutive ranks that are no box (k = 6 on a 4 x 6 torus: a line
            # and a half) keep their rank order, which the comb of a box would list with 3-hop steps
            box = len(g) == int(np.prod(c.max(axis=0) + 1))
            out.append([int(r) for r in (g[_cycle_order(c)] if box else g)])
        return out

    def levels(self) -> list[list[list[int]]]:
        """Nested chip groupings derived from the structure, innermost first, ending with all chips.

        Builders name the chip attributes that define each level in ``meta["levels"]`` (e.g.
        ``["tray", "leaf"]`` for two_tier: trays, then chips under the same leaf index, then all).
        Each level is a list of rank lists; every group of a level lies inside one group of the next.
        A user graph gets ``[trays, all]`` (trays from the chips' ``tray`` attribute) when trays group
        more than one chip, else ``[all]``.

        Computed once per fabric (like :attr:`trays`: from ``meta["levels"]`` and the chips' node attributes
        as they are at the first call; a faulted fabric shares its base's, whose chips it keeps); each call
        returns a fresh copy.
        """
        return [[list(part) for part in level] for level in self._levels]

    @cached_property
    def _levels(self) -> tuple[tuple[tuple[int, ...], ...], ...]:
        """:meth:`levels`, computed once (immutable tuples)."""
        names = self.meta.get("levels")
        g = self._graph
        out: list[list[list[int]]] = []
        if names is None:
            names = ["tray"] if len(np.unique(self.trays)) < self.n_chips else []
        for name in names:
            if name == "tray":
                ids = self.trays
            else:
                ids = np.asarray([g.nodes[c].get(name, r) for r, c in enumerate(self.chips)])
            order = np.lexsort((np.arange(self.n_chips), ids))
            _, starts = np.unique(ids[order], return_index=True)
            level = [a.tolist() for a in np.split(order, starts[1:])]
            if len(level) == 1 or len(level) == self.n_chips:
                continue
            if out and len(level) == len(out[-1]):
                continue
            out.append(level)
        out.append([list(range(self.n_chips))])
        return tuple(tuple(tuple(part) for part in level) for level in out)

    @property
    def switch_can_reduce(self) -> bool:
        """Whether the switches can reduce in the network (SHARP / NVLS style).

        From ``meta["in_network_reduction"]`` when a builder set it, else true when every switch node
        carries ``in_network_reduction=True``; false for a switchless fabric.
        """
        if "in_network_reduction" in self.meta:
            return bool(self.meta["in_network_reduction"]) and bool(self.switches)
        g = self._graph
        return bool(self.switches) and all(g.nodes[s].get("in_network_reduction", False) for s in self.switches)

    # ------------------------------------------------------------------ what-if (topo.faults)
    def with_faults(self, faults: Any) -> Fabric:
        """A new Fabric with ``faults`` applied (failed links removed, degraded links slower; routing reacts).

        ``faults``: strings ``KIND:TARGET[@FACTOR]`` such as ``"plane:3"``, ``"cable:c0-p0.leaf0"``,
        ``"chip:c5"``, ``"link:c0->c1@0.5"`` (see :mod:`topo.faults`). This fabric is unchanged.
        """
        from .faults import apply_faults

        return apply_faults(self, faults)

    def with_stragglers(self, speeds: Any, seed: int = 0) -> Fabric:
        """A new Fabric whose chips run at per-chip speed factors (see :func:`topo.faults.with_stragglers`)."""
        from .faults import with_stragglers

        return with_stragglers(self, speeds, seed)

    # ------------------------------------------------------------------ misc
    def __repr__(self) -> str:
        return (
            f"Fabric({self.name!r}, chips={self.n_chips}, switches={len(self.switches)}, "
            f"links={self.n_edges // 2}, chip={self.chip.name!r})"
        )


def _compact_tile(dims: Sequence[int], cube: Sequence[int], k: int) -> tuple[int, ...] | None:
    """The box of ``k`` chips that tiles a torus of ``dims`` (each side divides its dimension) within a ``cube``
    (each side at most the cube's), the most compact (least sum of sides), then the widest along x; None when no
    box of ``k`` chips tiles it."""
    best: tuple[tuple, tuple[int, ...]] | None = None
    for t in itertools.product(*(range(1, d + 1) for d in dims)):
        if math.prod(t) != k or any(d % ti for d, ti in zip(dims, t)) or any(ti > c for ti, c in zip(t, cube)):
            continue
        key = (sum(t), tuple(-ti for ti in t))
        if best is None or key < best[0]:
            best = (key, t)
    return None if best is None else best[1]


def _snake(c: np.ndarray) -> np.ndarray:
    """Boustrophedon rank of each point of a box (``c``: coordinates from 0): the last coordinate slowest, each
    coordinate's direction flipping with the parity of the slower ones' index, so consecutive ranks are one
    hop apart."""
    ext = c.max(axis=0) + 1
    row = np.zeros(len(c), dtype=np.int64)
    for d in range(c.shape[1] - 1, -1, -1):
        cd = np.where(row % 2 == 1, ext[d] - 1 - c[:, d], c[:, d])
        row = row * ext[d] + cd
    return row


def _cycle_order(c: np.ndarray) -> np.ndarray:
    """An order of the points of a box (``c``: coordinates from 0) along a Hamiltonian cycle of its grid where
    one exists (an even number of points and two extents >= 2), else along the snake path (:func:`_snake`).

    The box is read as a grid of ``a`` columns (the first extent >= 2) by ``R`` rows (the other coordinates
    flattened by the snake, so consecutive rows are neighbours); with ``R`` even the comb runs the rows back
    and forth over columns 1..a-1 and returns up column 0 (with ``a`` even, the same transposed)."""
    ext = c.max(axis=0) + 1
    big = [d for d in range(c.shape[1]) if ext[d] >= 2]
    if len(big) < 2 or len(c) % 2:
        return np.argsort(_snake(c), kind="stable")
    col = c[:, big[0]]
    rest = np.delete(c, big[0], axis=1)
    row = _snake(rest)
    a, R = int(ext[big[0]]), int(row.max()) + 1
    if R % 2:  # transpose: columns become rows
        col, row, a, R = row, col, R, a
    # comb: row r over columns 1..a-1 (forward on even r), then column 0 from row R-1 back to row 0
    inner = np.where(row % 2 == 0, col - 1, a - 1 - col)
    key = np.where(col == 0, R * (a - 1) + (R - 1 - row), row * (a - 1) + inner)
    return np.argsort(key, kind="stable")

