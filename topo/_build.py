"""Shared machinery of the builders: array-first graph assembly and vectorised formula routing.

Builders describe nodes and links as numpy arrays, then :class:`GraphAssembler` sorts the directed edges
by (source index, destination index), creates the ``networkx.DiGraph`` in exactly that order (so the
graph's edge iteration order equals the edge arrays' order) and hands the arrays to :class:`Fabric`, which
then skips re-deriving them from the graph. Formula routers produce :class:`Routes` from per-type blocks
of pairs that share a path shape (see :func:`assemble_routes`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from .errors import SpecError, UnitError
from .fabric import BFSRouter, Fabric, Routes
from .presets import chip_preset
from .specs import ChipSpec
from .units import check_bare, parse_quantity

# ----------------------------------------------------------------------------------------- parameters


def resolve_chip(chip: str | ChipSpec | None, default: str) -> ChipSpec:
    """A ChipSpec from a preset name, a ChipSpec, or ``None`` (the builder's default preset)."""
    if chip is None:
        return chip_preset(default)
    if isinstance(chip, ChipSpec):
        return chip
    if isinstance(chip, str):
        return chip_preset(chip)
    raise SpecError(f"chip: expected a preset name or a ChipSpec, got {type(chip).__name__}")


def as_int(name: str, value: Any, minimum: int = 1) -> int:
    """An integer parameter >= ``minimum`` (floats with integral values are accepted)."""
    if isinstance(value, bool):
        raise SpecError(f"{name}: expected an integer, got {value!r}")
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    if not isinstance(value, (int, np.integer)):
        raise SpecError(f"{name}: expected an integer, got {value!r}")
    if value < minimum:
        raise SpecError(f"{name}: must be >= {minimum}, got {value}")
    return int(value)


def as_list(name: str, value: Any, example: str) -> list:
    """A list parameter (a list, tuple or array; a scalar or a string is a SpecError showing ``example``)."""
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise SpecError(f"{name}: expected a list, e.g. {example}, got {value!r}")
    return list(value)


def as_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise SpecError(f"{name}: expected true or false, got {value!r}")
    return bool(value)


def as_quantity(name: str, value: Any, dimension: str, positive: bool = True) -> float:
    """A quantity (number in SI units or a string with units) that is > 0 (or >= 0 if not positive).

    A bare number no fabric has (a latency >= 1 ms, a bandwidth < 1 MB/s: :func:`topo.units.check_bare`) is a
    :class:`SpecError` asking for the unit; with a unit any value goes."""
    try:
        v = parse_quantity(value, dimension, name)
    except UnitError:
        raise
    check_bare(name, value, dimension)
    if positive and not v > 0:
        raise SpecError(f"{name}: must be > 0, got {value!r}")
    if not positive and v < 0:
        raise SpecError(f"{name}: must be >= 0, got {value!r}")
    return v


def as_fraction(name: str, value: Any) -> float:
    v = as_quantity(name, value, "number")
    if not 0 < v <= 1:
        raise SpecError(f"{name}: must be in (0, 1], got {value!r}")
    return v


# ----------------------------------------------------------------------------------------- assembly


class GraphAssembler:
    """Collects nodes and directed links as arrays, then builds the DiGraph and the Fabric at once."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.attrs: list[dict[str, Any]] = []
        self._blocks: list[tuple[np.ndarray, ...]] = []
        self._count = 0
        self.inv: np.ndarray | None = None

    @property
    def n_nodes(self) -> int:
        return len(self.ids)

    def add_nodes(self, ids: Sequence[str], attrs: Sequence[dict[str, Any]]) -> int:
        """Append nodes; returns the index of the first one."""
        first = len(self.ids)
        self.ids.extend(ids)
        self.attrs.extend(attrs)
        return first

    def add_directed(self, u: Any, v: Any, bandwidth: Any, latency: Any, efficiency: Any = 1.0,
                     links: Any = 1) -> np.ndarray:
        """Add directed edges u[i] -> v[i] (node indices); returns their provisional ids (see :meth:`final`)."""
        u = np.asarray(u, dtype=np.int64).ravel()
        v = np.asarray(v, dtype=np.int64).ravel()
        n = len(u)
        bw = np.broadcast_to(np.asarray(bandwidth, dtype=np.float64), u.shape).ravel()
        lat = np.broadcast_to(np.asarray(latency, dtype=np.float64), u.shape).ravel()
        eff = np.broadcast_to(np.asarray(efficiency, dtype=np.float64), u.shape).ravel()
        lk = np.broadcast_to(np.asarray(links, dtype=np.int64), u.shape).ravel()
        self._blocks.append((u, v, bw, lat, eff, lk))
        ids = np.arange(self._count, self._count + n, dtype=np.int64)
        self._count += n
        return ids

    def add_links(self, u: Any, v: Any, bandwidth: Any, latency_uv: Any, latency_vu: Any,
                  efficiency: Any = 1.0, links: Any = 1) -> tuple[np.ndarray, np.ndarray]:
        """Add physical links (both directions); returns provisional ids of (u->v, v->u)."""
        a = self.add_directed(u, v, bandwidth, latency_uv, efficiency, links)
        b = self.add_directed(v, u, bandwidth, latency_vu, efficiency, links)
        return a, b

    def final(self, provisional: np.ndarray) -> np.ndarray:
        """Map provisional edge ids to the Fabric's edge indices (after :meth:`build`)."""
        assert self.inv is not None
        return self.inv[provisional]

    def build(self, name: str, chip: ChipSpec, meta: dict[str, Any]) -> Fabric:
        n = self.n_nodes
        if self._blocks:
            u, v, bw, lat, eff, lk = (np.concatenate(x) for x in zip(*self._blocks))
        else:
            u = v = lk = np.zeros(0, dtype=np.int64)
            bw = lat = eff = np.zeros(0)
        key = u * n + v
        order = np.argsort(key, kind="stable")
        ks = key[order]
        if len(ks) > 1 and np.any(ks[1:] == ks[:-1]):
            i = int(np.flatnonzero(ks[1:] == ks[:-1])[0])
            a, b = divmod(int(ks[i]), n)
            raise SpecError(f"builder produced two edges {self.ids[a]!r}->{self.ids[b]!r} (internal error)")
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        self.inv = inv
        u, v, bw, lat, eff, lk = u[order], v[order], bw[order], lat[order], eff[order], lk[order]
        g = nx.DiGraph()
        g.add_nodes_from(zip(self.ids, self.attrs))
        arrays = {"src": u, "dst": v, "bandwidth": bw, "latency": lat, "efficiency": eff, "links": lk}
        filler = EdgeFiller(self.ids, u, v, bw, lat, eff, lk)
        return Fabric(g, chip=chip, name=name, meta=meta, arrays=arrays, edge_filler=filler)


class EdgeFiller:
    """Adds a builder's edges to its (nodes-only) DiGraph on first access of ``Fabric.graph``.

    Creating ~400k attribute dicts is most of a 6,144-chip build; array users never need them, so the
    Fabric defers this until someone reads the graph. The adjacency dicts are filled in bulk (one
    ``dict(zip(...))`` per node), giving exactly the DiGraph ``add_edges_from`` would build from edges sorted
    by (source, destination). Picklable (plain arrays), so Fabrics can cross process boundaries.
    """

    def __init__(self, ids, u, v, bw, lat, eff, lk) -> None:
        self.ids, self.u, self.v, self.bw, self.lat, self.eff, self.lk = ids, u, v, bw, lat, eff, lk

    def __call__(self, g: nx.DiGraph) -> None:
        u, v = self.u, self.v
        ids = np.asarray(self.ids, dtype=object)
        datas = [
            {"bandwidth": w, "latency": la, "efficiency": ef, "links": nl}
            for w, la, ef, nl in zip(self.bw.tolist(), self.lat.tolist(), self.eff.tolist(), self.lk.tolist())
        ]
        succ, pred = g._succ, g._pred  # noqa: SLF001 - networkx's own adjacency structure
        if len(u) == 0:
            return
        vid = ids[v].tolist()
        cuts = np.flatnonzero(np.diff(u)) + 1
        lo_l = np.r_[0, cuts].tolist()
        hi_l = np.r_[cuts, len(u)].tolist()
        for node, lo, hi in zip(ids[u[lo_l]].tolist(), lo_l, hi_l):
            succ[node] = dict(zip(vid[lo:hi], datas[lo:hi]))
        order = np.lexsort((u, v))
        vs, us = v[order], u[order]
        uid = ids[us].tolist()
        dat2 = [datas[i] for i in order.tolist()]
        cuts = np.flatnonzero(np.diff(vs)) + 1
        lo_l = np.r_[0, cuts].tolist()
        hi_l = np.r_[cuts, len(vs)].tolist()
        for node, lo, hi in zip(ids[vs[lo_l]].tolist(), lo_l, hi_l):
            pred[node] = dict(zip(uid[lo:hi], dat2[lo:hi]))


# ----------------------------------------------------------------------------------------- routing


@dataclass
class Block:
    """Pairs sharing one path shape: ``idx`` (positions in the batch), ``lens`` (hops of each of their
    paths, same for every pair of the block) and ``make(sel) -> (len(sel), sum(lens))`` edge ids of the
    pairs ``idx[sel]``, paths concatenated in order."""

    idx: np.ndarray
    lens: np.ndarray
    make: Callable[[np.ndarray], np.ndarray]


def assemble_routes(n_pairs: int, blocks: Sequence[Block], max_entries: int = 1 << 22) -> Routes:
    """Build a :class:`Routes` from blocks covering every pair exactly once (vectorised, chunked).

    Edges are written with slice assignments over runs of pairs that are consecutive both in the batch
    and in the block, so a block never materialises an index array as large as its edge list.
    """
    paths_per_pair = np.zeros(n_pairs, dtype=np.int64)
    hops_per_pair = np.zeros(n_pairs, dtype=np.int64)
    covered = np.zeros(n_pairs, dtype=bool)
    ragged = []
    for b in blocks:
        paths_per_pair[b.idx] = len(b.lens)
        covered[b.idx] = True
        if len(b.lens) and np.all(b.lens == b.lens[0]):
            hops_per_pair[b.idx] = b.lens[0]
        else:
            ragged.append(b)
    if not covered.all():  # pragma: no cover - a router bug
        raise RuntimeError("formula router left pairs without routes")
    pair_ptr = np.zeros(n_pairs + 1, dtype=np.int64)
    np.cumsum(paths_per_pair, out=pair_ptr[1:])
    path_len = np.repeat(hops_per_pair, paths_per_pair)
    for b in ragged:
        if len(b.idx) == 0 or len(b.lens) == 0:
            continue
        pos = pair_ptr[b.idx][:, None] + np.arange(len(b.lens))
        path_len[pos] = b.lens[None, :]
    path_ptr = np.zeros(len(path_len) + 1, dtype=np.int64)
    np.cumsum(path_len, out=path_ptr[1:])
    path_edges = np.empty(int(path_ptr[-1]), dtype=np.int64)
    for b in blocks:
        width = int(b.lens.sum())
        nb = len(b.idx)
        if nb == 0 or width == 0:
            continue
        start = path_ptr[pair_ptr[b.idx]]
        # runs of block pairs whose outputs are adjacent (consecutive in the batch)
        brk = np.flatnonzero(np.diff(b.idx) != 1) + 1
        run_lo = np.r_[0, brk]
        run_hi = np.r_[brk, nb]
        chunk = max(1, max_entries // width)
        lo = 0
        while lo < nb:
            hi = min(lo + chunk, nb)
            e = b.make(np.arange(lo, hi)).reshape(hi - lo, width)
            # runs intersecting [lo, hi)
            r0 = np.searchsorted(run_hi, lo, side="right")
            r1 = np.searchsorted(run_lo, hi, side="left")
            for a_, z_ in zip(np.maximum(run_lo[r0:r1], lo).tolist(), np.minimum(run_hi[r0:r1], hi).tolist()):
                st = int(start[a_])
                path_edges[st:st + width * (z_ - a_)] = e[a_ - lo:z_ - lo].ravel()
            lo = hi
    return Routes(pair_ptr, path_ptr, path_edges)


class FormulaRouter:
    """Base of the builders' routers: chip-to-chip pairs by formula, anything else by BFS.

    Subclasses implement :meth:`blocks` for pairs of distinct chips. Pairs with ``src == dst`` get one
    empty path. Pairs involving a switch fall back to :class:`BFSRouter` (rare; e.g. probing a switch).
    """

    kind = "formula"

    def __init__(self) -> None:
        self._bfs = BFSRouter()

    def blocks(self, fabric: Fabric, s: np.ndarray, d: np.ndarray, idx: np.ndarray) -> list[Block]:
        raise NotImplementedError

    def routes(self, fabric: Fabric, src: np.ndarray, dst: np.ndarray) -> Routes:
        s = np.asarray(src, dtype=np.int64)
        d = np.asarray(dst, dtype=np.int64)
        nc = fabric.n_chips
        if len(s) and (s.max() >= nc or d.max() >= nc):
            return self._bfs.routes(fabric, s, d)
        same = s == d
        blocks = [Block(np.flatnonzero(same), np.zeros(1, dtype=np.int64), lambda sel: np.zeros((len(sel), 0),
                                                                                               dtype=np.int64))]
        idx = np.flatnonzero(~same)
        if len(idx):
            blocks.extend(self.blocks(fabric, s[idx], d[idx], idx))
        return assemble_routes(len(s), blocks)


def split_by_key(key: np.ndarray) -> list[tuple[Any, np.ndarray]]:
    """Group positions by key value: list of (key value, positions)."""
    if len(key) == 0:
        return []
    order = np.argsort(key, kind="stable")
    ks = key[order]
    cuts = np.flatnonzero(ks[1:] != ks[:-1]) + 1
    return [(ks[a], order[a:b]) for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(ks)])]
