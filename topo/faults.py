"""What-if faults: failed and degraded links, cables, switches, planes, trays and chips; stragglers.

A fault is written ``KIND:TARGET[@FACTOR]`` (CLI ``--fail``, repeatable; YAML ``faults:`` a list of such
strings or of ``{kind, target, factor}`` maps):

============  =============================================  ===========================================
kind          target                                          what fails
============  =============================================  ===========================================
``link``      ``A->B`` (one direction)                        the directed edge(s) A -> B
``cable``     ``A-B`` (or ``A->B``)                           both directions between A and B (every
                                                              parallel physical link of the connection)
``port``      ``A-B``                                         one physical cable of the A-B bundle (both
                                                              directions): the bundle keeps (n-1)/n
``switch``    a switch name (``p3.leaf0``, ``sw2``)           every link of the switch
``plane``     a plane number (``3``, ``0-1``)                 every link of every switch of the plane(s)
``tray``      a tray number (``5``, ``0-3``)                  every link of every chip of the tray(s)
``chip``      a chip name or rank (``c17``, ``17``, ``0-7``)  every link of the chip
``flap``      ``A-B@DUTY`` (a cable)                          a flapping port, up a fraction DUTY of the time
============  =============================================  ===========================================

Names are the node ids ``scaleup topo show``/``topo export`` use (``c0``..; ``p0.leaf0``, ``p0.spine3`` on
two-tier fabrics; ``sw0`` on single-switch fabrics). ``A`` and ``B`` may be globs (``*``, ``?``) and may hold
numeric ranges in brackets (``p0.leaf[0-3]``, ``c[0-63]``); plane/tray/chip numbers take ranges ``a-b`` and
comma lists. ``@FACTOR`` in (0, 1) degrades instead of failing: the links keep ``FACTOR`` of their rate.

Flapping port (ASSUMPTION, documented): a port that is up a fraction ``DUTY`` of the time is modelled as a
link at ``DUTY`` of its rate (its mean rate). This is the fluid limit for flaps much faster than a
collective; flaps slower than a collective instead give a bimodal time (healthy or failed), which the
Monte Carlo of :func:`random_faults` models as separate failure draws.

Routing under faults (:class:`FaultedRouter`, a wrapper around any router): the healthy fabric's router
(a formula router at 6,144 chips) produces the equal-cost paths; paths through a failed edge are dropped
with one vectorised mask over the path-edge array, so ECMP spreads over the surviving equal-cost paths.
Only a pair left with no surviving shortest path is routed by BFS on the faulted graph (its next-shortest
paths); the router counts both (:attr:`FaultedRouter.stats`). A pair with no path at all raises a
:class:`RoutingError` naming the cut.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from .errors import RoutingError, SpecError
from .fabric import BFSRouter, Fabric, Routes

KINDS = ("link", "cable", "port", "switch", "plane", "tray", "chip", "flap")

__all__ = [
    "COMPONENT_RATES",
    "Fault",
    "FaultedRouter",
    "KINDS",
    "apply_faults",
    "fault_summary",
    "parse_fault",
    "parse_faults",
    "parse_speeds",
    "random_faults",
    "with_stragglers",
]


@dataclass(frozen=True)
class Fault:
    """One fault: ``kind`` (see :data:`KINDS`), ``target`` (names/numbers as in the module docstring) and
    ``factor``: 0 = failed, in (0, 1) = the fraction of the rate the links keep (flap: the duty cycle)."""

    kind: str
    target: str
    factor: float = 0.0

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" + (f"@{self.factor:g}" if self.factor > 0 else "")


def parse_fault(spec: str | dict | Fault) -> Fault:
    """A :class:`Fault` from ``"KIND:TARGET[@FACTOR]"``, a ``{kind, target, factor}`` map or a Fault."""
    if isinstance(spec, Fault):
        return spec
    if isinstance(spec, dict):
        unknown = set(spec) - {"kind", "target", "factor"}
        if unknown:
            raise SpecError(f"fault {spec!r}: unknown key(s) {sorted(unknown)}; use kind, target, factor")
        kind, target, factor = spec.get("kind"), spec.get("target"), spec.get("factor", 0.0)
        text = f"{kind}:{target}"
    elif isinstance(spec, str):
        text = spec.strip()
        if ":" not in text:
            raise SpecError(f"--fail {spec!r}: expected KIND:TARGET[@FACTOR] with KIND one of {', '.join(KINDS)} "
                            "(e.g. plane:3, cable:c0-p0.leaf0, link:c0->c1@0.5)")
        kind, rest = text.split(":", 1)
        factor = 0.0
        if "@" in rest:
            rest, f = rest.rsplit("@", 1)
            try:
                factor = float(f)
            except ValueError:
                raise SpecError(f"--fail {spec!r}: factor {f!r} must be a number in (0, 1)") from None
        target = rest
    else:
        raise SpecError(f"fault: expected a string KIND:TARGET[@FACTOR] or a map, got {type(spec).__name__}")
    kind = str(kind).strip().lower()
    if kind not in KINDS:
        raise SpecError(f"fault {text!r}: kind {kind!r} is not one of {', '.join(KINDS)}")
    target = str(target).strip()
    if not target:
        raise SpecError(f"fault {text!r}: empty target; e.g. plane:3 or chip:c5")
    try:
        factor = float(factor)
    except (TypeError, ValueError):
        raise SpecError(f"fault {text!r}: factor must be a number in [0, 1), got {factor!r}") from None
    if not 0 <= factor < 1:
        raise SpecError(f"fault {text!r}: factor must be in [0, 1) (0 = failed, 0.5 = half rate), got {factor:g}")
    if kind == "flap" and factor <= 0:
        raise SpecError(f"fault {text!r}: a flapping port needs its duty cycle, e.g. flap:c0-p0.leaf0@0.9")
    return Fault(kind, target, factor)


def parse_faults(specs: Iterable[str | dict | Fault] | str | None) -> list[Fault]:
    """Parse many faults (a single string may hold several separated by spaces or ``;``)."""
    if specs is None:
        return []
    if isinstance(specs, (str, dict, Fault)):
        specs = [specs]
    if not isinstance(specs, Iterable):  # a YAML scalar (faults: 3) was a TypeError: not iterable
        raise SpecError(f"faults: expected a list of KIND:TARGET[@FACTOR] strings or maps, e.g. ['plane:3'], "
                        f"got {specs!r}")
    out = []
    for s in specs:
        if isinstance(s, str):
            out.extend(parse_fault(p) for p in re.split(r"[;\s]+", s) if p)
        else:
            out.append(parse_fault(s))
    return out


# ------------------------------------------------------------------------------------------ selection
_RANGE = re.compile(r"\[(\d+)-(\d+)\]")


def _expand_ranges(pattern: str) -> list[str]:
    """``p0.leaf[0-3]`` -> ``p0.leaf0 .. p0.leaf3`` (multi-digit numeric ranges; other brackets are globs)."""
    parts = _RANGE.split(pattern)
    if len(parts) == 1:
        return [pattern]
    lits = parts[0::3]
    ranges = [range(int(a), int(b) + 1) for a, b in zip(parts[1::3], parts[2::3])]
    if sum(len(r) for r in ranges) > 1_000_000:
        raise SpecError(f"fault target {pattern!r}: range too large")
    out = []
    for combo in itertools.product(*ranges):
        s = lits[0]
        for v, lit in zip(combo, lits[1:]):
            s += str(v) + lit
        out.append(s)
    return out


def _numbers(text: str, what: str, lo: int, hi: int) -> np.ndarray:
    """``"3"``, ``"0-3"``, ``"1,5,7-9"`` or ``"*"`` -> sorted unique ints in [lo, hi]."""
    if text.strip() == "*":
        return np.arange(lo, hi + 1)
    vals: list[int] = []
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise SpecError(f"{what} {text!r}: expected a number, a range a-b or a comma list")
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) else a
        if a > b or a < lo or b > hi:
            raise SpecError(f"{what} {part!r}: out of range {lo}..{hi}")
        vals.extend(range(a, b + 1))
    return np.unique(np.asarray(vals, dtype=np.int64))


def _match_nodes(fab: Fabric, pattern: str, what: str) -> np.ndarray:
    """Bool mask over node indices of the nodes whose id (as str) matches a glob/range pattern."""
    names = _node_names(fab)
    mask = np.zeros(fab.n_nodes, dtype=bool)
    for p in _expand_ranges(pattern):
        i = fab.node_index.get(p)
        if i is None:
            i = fab.__dict__["_fault_name_index"].get(p)
        if i is not None:
            mask[i] = True
            continue
        if any(c in p for c in "*?["):
            rx = re.compile(fnmatch.translate(p))
            hits = [k for k, n in enumerate(names) if rx.match(n)]
            mask[hits] = True
    if not mask.any():
        ex = ", ".join(names[i] for i in (0, fab.n_chips) if i < fab.n_nodes)
        raise SpecError(f"{what}: no node of {fab.name!r} matches {pattern!r}; names look like {ex} "
                        "(see `scaleup topo export`); globs * ? and ranges [0-3] are allowed")
    return mask


def _node_names(fab: Fabric) -> list[str]:
    """Node ids as strings, cached on the fabric with their index (``_fault_name_index``)."""
    names = fab.__dict__.get("_fault_names")
    if names is None:
        names = [str(n) for n in fab.nodes]
        fab.__dict__["_fault_names"] = names
        fab.__dict__["_fault_name_index"] = {n: i for i, n in enumerate(names)}
    return names


def _split_pair(target: str, what: str) -> tuple[str, str, bool]:
    """``A->B`` (directed) or ``A-B`` (a '-' outside brackets) -> (A, B, directed)."""
    if "->" in target:
        a, b = target.split("->", 1)
        return a.strip(), b.strip(), True
    depth = 0
    for k, ch in enumerate(target):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "-" and depth == 0:
            return target[:k].strip(), target[k + 1:].strip(), False
    raise SpecError(f"{what}: expected two node names A-B (a cable) or A->B (a link), got {target!r}")


def _edge_factor(fab: Fabric, faults: Sequence[Fault]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per-edge rate factor (1 healthy, 0 failed, else degraded; several faults multiply), physical links
    lost per edge (``port`` faults), and notes."""
    f = np.ones(fab.n_edges)
    lost = np.zeros(fab.n_edges, dtype=np.int64)
    src, dst = fab.edge_src, fab.edge_dst
    notes = []
    for flt in faults:
        what = f"fault {flt}"
        if flt.kind in ("link", "cable", "flap", "port"):
            a, b, directed = _split_pair(flt.target, what)
            ma, mb = _match_nodes(fab, a, what), _match_nodes(fab, b, what)
            hit = ma[src] & mb[dst]  # a link is one direction (A-B read as A->B)
            if flt.kind != "link":
                hit |= mb[src] & ma[dst]  # a cable or a flapping port: both directions
            if not hit.any():
                raise SpecError(f"{what}: no link between {a!r} and {b!r} in {fab.name!r}")
        else:
            nodes = _fault_nodes(fab, flt, what)
            hit = nodes[src] | nodes[dst]
            if not hit.any():
                raise SpecError(f"{what}: the selected nodes have no links")
        if flt.kind == "port":  # one physical link of each hit bundle: 1/links of its original capacity
            f[hit] = np.maximum(0.0, f[hit] - (1 - flt.factor) / fab.edge_links[hit])
            lost[hit] += flt.factor == 0
            f[np.abs(f) < 1e-12] = 0.0
            notes.append(f"{flt}: one physical link of {int(hit.sum())} directed bundles "
                         + ("failed" if flt.factor == 0 else f"at {flt.factor:g} of its rate"))
            continue
        f[hit] *= flt.factor
        notes.append(f"{flt}: {int(hit.sum())} directed links " + ("failed" if flt.factor == 0 else
                                                                   f"at {flt.factor:g} of their rate"))
    return f, lost, notes


def _fault_nodes(fab: Fabric, flt: Fault, what: str) -> np.ndarray:
    """Bool mask over node indices selected by a switch/plane/tray/chip fault."""
    mask = np.zeros(fab.n_nodes, dtype=bool)
    nd = fab.node_data
    if flt.kind == "switch":
        mask = _match_nodes(fab, flt.target, what)
        if mask[: fab.n_chips].any():
            raise SpecError(f"{what}: {flt.target!r} selects chips; use chip:{flt.target}")
    elif flt.kind == "plane":
        planes = np.asarray([nd[s].get("plane", -1) for s in fab.switches], dtype=np.int64)
        if not fab.switches or planes.max() < 0:
            raise SpecError(f"{what}: fabric {fab.name!r} has no switch planes; fail switches or links instead")
        sel = _numbers(flt.target, what, 0, int(planes.max()))
        mask[fab.n_chips:] = np.isin(planes, sel)
    elif flt.kind == "tray":
        trays = fab.trays
        sel = _numbers(flt.target, what, int(trays.min()), int(trays.max()))
        mask[: fab.n_chips] = np.isin(trays, sel)
    elif flt.kind == "chip":
        if re.fullmatch(r"[\d,\-\s]+|\*", flt.target):
            mask[_numbers(flt.target, what, 0, fab.n_chips - 1)] = True
        else:
            mask = _match_nodes(fab, flt.target, what)
            if mask[fab.n_chips:].any():
                raise SpecError(f"{what}: {flt.target!r} selects switches; use switch:{flt.target}")
    if not mask.any():
        raise SpecError(f"{what}: selects nothing in {fab.name!r}")
    return mask


# ------------------------------------------------------------------------------------------ the faulted fabric
def _drop_ranges(a: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """``a`` without the entries ``start[i]:end[i]`` (sorted, disjoint ranges): the kept runs copied as slices
    when the ranges (merged where they touch) are few, else through a boolean mask."""
    if len(start) == 0:
        return a
    touch = start[1:] == end[:-1]
    s, e = start[np.concatenate([[True], ~touch])], end[np.concatenate([~touch, [True]])]
    if len(s) <= 4096:
        cuts = np.stack([np.concatenate([[0], e]), np.concatenate([s, [len(a)]])], axis=1).tolist()
        return np.concatenate([a[x:y] for x, y in cuts])
    keep = np.ones(len(a), dtype=bool)
    lens = e - s
    keep[np.repeat(s - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(int(lens.sum()))] = False
    return a[keep]


class FaultedRouter:
    """ECMP routing on a faulted fabric, wrapping the healthy fabric's router (see the module docstring).

    Attributes:
        base: the healthy Fabric. inner: its router. alive: bool per base edge. new_id: base edge id ->
        faulted edge id (-1 = failed). stats: pairs routed, pairs that lost some equal-cost paths
        (``ecmp_reduced``), pairs on next-shortest BFS paths (``next_shortest``).
    """

    kind = "faulted"

    def __init__(self, base: Fabric, alive: np.ndarray, new_id: np.ndarray, faults: Sequence[Fault],
                 base_of_new: np.ndarray | None = None) -> None:
        self.base = base
        self.base_of_new = base_of_new
        self.inner = base.router
        self.alive = alive
        self.new_id = new_id
        self.faults = list(faults)
        self._bfs = BFSRouter()
        self.stats = {"pairs": 0, "ecmp_reduced": 0, "next_shortest": 0}
        self.fallback_pairs: list[tuple[int, int]] = []

    def routes(self, fabric: Fabric, src: np.ndarray, dst: np.ndarray) -> Routes:
        s = np.asarray(src, dtype=np.int64)
        d = np.asarray(dst, dtype=np.int64)
        nc = fabric.n_chips
        if self.base_of_new is not None and len(s) and (s.max() >= nc or d.max() >= nc):
            r = self.inner.routes(self.base, self.base_of_new[s], self.base_of_new[d])  # switch endpoints
        else:
            r = self.inner.routes(self.base, s, d)
        n = r.n_pairs
        # failed edges are few: map every path edge once (-1 = failed), find the paths through failed ones
        # from their positions (searchsorted on the pointers), and drop those paths' edges from the mapping
        mapped = self.new_id[r.path_edges]
        if not len(mapped) or mapped.min() >= 0:
            self.stats["pairs"] += n
            return Routes(r.pair_ptr, r.path_ptr, mapped)
        bad_pos = np.flatnonzero(mapped < 0)
        counts = r.path_counts()
        plen = r.path_lengths()
        bad_paths = np.unique(np.searchsorted(r.path_ptr, bad_pos, side="right") - 1)
        lost_paths = np.bincount(np.searchsorted(r.pair_ptr, bad_paths, side="right") - 1, minlength=n)
        good = counts - lost_paths
        lost = lost_paths > 0
        dead = good == 0
        self.stats["pairs"] += n
        self.stats["ecmp_reduced"] += int((lost & ~dead).sum())
        # keep the surviving paths (ECMP over the surviving equal-cost set)
        keep_path = np.ones(r.n_paths, dtype=bool)
        keep_path[bad_paths] = False
        kept_len = plen[keep_path]
        pair_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(good, out=pair_ptr[1:])
        path_ptr = np.zeros(len(kept_len) + 1, dtype=np.int64)
        np.cumsum(kept_len, out=path_ptr[1:])
        kept = Routes(pair_ptr, path_ptr, _drop_ranges(mapped, r.path_ptr[bad_paths], r.path_ptr[bad_paths + 1]))
        if not dead.any():
            return kept
        idx = np.flatnonzero(dead)
        self.stats["next_shortest"] += len(idx)
        if len(self.fallback_pairs) < 16:
            self.fallback_pairs.extend(zip(s[idx][:16].tolist(), d[idx][:16].tolist()))
        try:
            fb = self._bfs.routes(fabric, s[idx], d[idx])
        except RoutingError:
            raise RoutingError(self._cut_message(fabric, s[idx], d[idx])) from None
        # splice: pairs in order, the dead ones from fb
        parts_counts = good.copy()
        parts_counts[idx] = fb.path_counts()
        new_pair_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(parts_counts, out=new_pair_ptr[1:])
        # path lengths in output order
        src_is_fb = np.zeros(n, dtype=bool)
        src_is_fb[idx] = True
        lens = np.empty(int(new_pair_ptr[-1]), dtype=np.int64)
        out_pair_of_path = np.repeat(np.arange(n, dtype=np.int64), parts_counts)
        from_fb = src_is_fb[out_pair_of_path]
        lens[~from_fb] = kept_len
        lens[from_fb] = fb.path_lengths()
        new_path_ptr = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(lens, out=new_path_ptr[1:])
        edges = np.empty(int(new_path_ptr[-1]), dtype=np.int64)
        edge_from_fb = np.repeat(from_fb, lens)
        edges[~edge_from_fb] = kept.path_edges
        edges[edge_from_fb] = fb.path_edges
        return Routes(new_pair_ptr, new_path_ptr, edges)

    def _cut_message(self, fab: Fabric, s: np.ndarray, d: np.ndarray) -> str:
        """Name the first unreachable pair and the cut that separates it."""
        bfs = self._bfs
        for a, b in zip(s.tolist(), d.tolist()):
            if bfs.distances_to(fab, b)[a] < 0:
                break
        out_deg = np.bincount(fab.edge_src, minlength=fab.n_nodes)
        in_deg = np.bincount(fab.edge_dst, minlength=fab.n_nodes)
        faults = ", ".join(map(str, self.faults[:6])) + (f", ... ({len(self.faults)} in all)" if len(self.faults) > 6
                                                           else "")
        na, nb = fab.nodes[a], fab.nodes[b]
        if out_deg[a] == 0:
            why = f"{na!r} has no surviving link (every link of {na!r} failed)"
        elif in_deg[b] == 0:
            why = f"{nb!r} has no surviving link (every link of {nb!r} failed)"
        else:
            why = f"the failed parts cut every path from {na!r} to {nb!r}"
        return (f"no route from {na!r} to {nb!r} under faults [{faults}]: {why}; a group cannot include an "
                "unreachable member: drop it from the group, or fail fewer parts")


def apply_faults(fab: Fabric, faults: Iterable[str | dict | Fault] | str | None) -> Fabric:
    """A new :class:`Fabric`: ``fab`` with failed edges removed and degraded edges' bandwidth scaled.

    Nodes (and so node indices and chip ranks) are unchanged; a failed switch or chip keeps its node but
    loses every link. The new fabric routes with a :class:`FaultedRouter` around ``fab``'s router and
    records the faults in ``meta["faults"]`` (strings) and ``meta["fault_notes"]``. ``fab`` is unchanged.
    """
    flts = parse_faults(faults)
    if not flts:
        return fab
    if isinstance(fab.router, FaultedRouter):  # compose onto the healthy base
        base = fab.router.base
        flts = fab.router.faults + flts
    else:
        base = fab
    factor, lost_links, notes = _edge_factor(base, flts)
    alive = factor > 0
    new_id = np.full(base.n_edges, -1, dtype=np.int64)
    new_id[alive] = np.arange(int(alive.sum()))
    # switches left without any link are dropped (chips stay, so ranks do not move): a failed plane then
    # looks like a fabric with one plane fewer, which keeps the engine's structural shortcuts exact
    keep = np.zeros(base.n_nodes, dtype=bool)
    keep[: base.n_chips] = True
    keep[base.edge_src[alive]] = True
    keep[base.edge_dst[alive]] = True
    node_new = np.full(base.n_nodes, -1, dtype=np.int64)
    node_new[keep] = np.arange(int(keep.sum()))
    g = nx.DiGraph()
    nd = base.node_data
    kept_nodes = [n for n, k in zip(base.nodes, keep.tolist()) if k]
    g.add_nodes_from((n, dict(nd[n])) for n in kept_nodes)
    src, dst = node_new[base.edge_src[alive]], node_new[base.edge_dst[alive]]
    arrays = {"src": src, "dst": dst, "bandwidth": base.edge_bandwidth[alive] * factor[alive],
              "latency": base.edge_latency[alive], "efficiency": base.edge_efficiency[alive],
              "links": np.maximum(1, base.edge_links[alive] - lost_links[alive])}
    filler = _SubsetFiller(kept_nodes, arrays)
    meta = dict(base.meta)
    meta["faults"] = [str(f) for f in flts]
    meta["fault_notes"] = notes
    dropped = [str(n) for n, k in zip(base.nodes, keep.tolist()) if not k]
    if dropped:
        meta["fault_notes"] = notes + [f"{len(dropped)} switches left without links: "
                                       + ", ".join(dropped[:6]) + (", ..." if len(dropped) > 6 else "")]
    base_of_new = np.flatnonzero(keep)
    router = FaultedRouter(base, alive, new_id, flts, base_of_new)
    out = Fabric(g, chip=base.chip, name=base.name, router=router, meta=meta, validate=False, arrays=arrays,
                 edge_filler=filler)
    out.comm = base.comm
    out.network_cost = getattr(base, "network_cost", None)
    for key in ("trays", "_levels"):  # same chips, chip attributes and meta["levels"]: the base's, if computed
        if key in base.__dict__:
            out.__dict__[key] = base.__dict__[key]
    speeds = fab.meta.get("chip_speed")
    if speeds is not None and isinstance(fab.router, FaultedRouter):  # composed onto the healthy base: keep them
        out = with_stragglers(out, speeds)
    return out


class _SubsetFiller:
    """Adds the surviving edges (with attributes) to the faulted fabric's graph on first access."""

    def __init__(self, ids: list, arrays: dict[str, np.ndarray]) -> None:
        self.ids, self.arrays = ids, arrays

    def __call__(self, g: nx.DiGraph) -> None:
        a = self.arrays
        ids = self.ids
        g.add_edges_from(
            (ids[u], ids[v], {"bandwidth": w, "latency": la, "efficiency": ef, "links": lk})
            for u, v, w, la, ef, lk in zip(a["src"].tolist(), a["dst"].tolist(), a["bandwidth"].tolist(),
                                           a["latency"].tolist(), a["efficiency"].tolist(), a["links"].tolist()))


# ------------------------------------------------------------------------------------------ what was lost
def failed_chips(fab: Fabric) -> np.ndarray:
    """Chip ranks a faulted fabric's failures took out: its ``chip`` and ``tray`` faults without a factor (a
    factor keeps the chip, its links degraded). Empty for a healthy fabric; sorted int64 ranks."""
    dead = np.zeros(fab.n_chips, dtype=bool)
    for flt in parse_faults(fab.meta.get("faults", [])):
        if flt.factor == 0 and flt.kind in ("chip", "tray"):
            dead |= _fault_nodes(fab, flt, f"fault {flt}")[: fab.n_chips]
    return np.flatnonzero(dead).astype(np.int64)


def reachable_pairs(fab: Fabric) -> int:
    """Ordered chip pairs (a != b) with a route, counting relays only through forwarding nodes.

    Two chips reach each other when they are linked directly, or both touch the same connected component
    of the forwarding nodes (switches, forwarding chips); exact for fabrics whose links are bidirectional.
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    n, nc = fab.n_nodes, fab.n_chips
    fw = fab.forwards
    s, d = fab.edge_src, fab.edge_dst
    both = fw[s] & fw[d]
    m = sp.coo_matrix((np.ones(int(both.sum())), (s[both], d[both])), shape=(n, n))
    _, lab = connected_components(m, directed=False)
    # the component(s) each non-forwarding chip touches (through its own links)
    touch = fw[d] & ~fw[s] & (s < nc)
    fwc = np.flatnonzero(fw[:nc])  # a forwarding chip is in its own component
    rows = np.concatenate([s[touch], fwc])
    cols = np.concatenate([lab[d[touch]], lab[fwc]])
    chip_lab = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(nc, n)).tocsr()
    chip_lab.sum_duplicates()
    chip_lab.data[:] = 1.0
    # chips with the same set of components are one class (usually a handful): reachability between classes
    rng = np.random.default_rng(0x5CA1E)
    key = np.stack([chip_lab @ (rng.random(n) + 0.5), chip_lab @ (rng.random(n) + 0.5),
                    np.asarray(chip_lab.sum(axis=1)).ravel()], axis=1)
    _, rep, cls = np.unique(key, axis=0, return_index=True, return_inverse=True)
    cls = cls.ravel()
    R = chip_lab[rep]
    creach = (R @ R.T).toarray() > 0
    size = np.bincount(cls, minlength=len(rep)).astype(np.int64)
    total = int(size @ creach.astype(np.int64) @ size - (np.diag(creach) * size).sum())
    cc = (s < nc) & (d < nc) & (s != d)  # direct chip-chip links not already counted
    if cc.any():
        pairs = np.unique(s[cc] * nc + d[cc])
        a, b = pairs // nc, pairs % nc
        total += int((~creach[cls[a], cls[b]]).sum())
    return total


def fault_summary(healthy: Fabric, faulted: Fabric) -> dict[str, Any]:
    """What the faults cost: bisection, radix use, links and reachable chip pairs, healthy vs faulted."""
    from .summary import bisection_bandwidth

    def radix(f: Fabric) -> dict[str, int]:
        nd = f.node_data
        used = np.bincount(f.edge_src, weights=f.edge_links, minlength=f.n_nodes)
        out: dict[str, int] = {}
        for i, sw in enumerate(f.switches, start=f.n_chips):
            t = f"tier{nd[sw].get('tier', '?')}"
            out[t] = out.get(t, 0) + int(used[i])
        return out

    nc = healthy.n_chips
    h_b = bisection_bandwidth(healthy)["bandwidth"]
    f_b = bisection_bandwidth(faulted)["bandwidth"] if faulted.n_edges else 0.0
    out = {
        "faults": list(faulted.meta.get("faults", [])),
        "notes": list(faulted.meta.get("fault_notes", [])),
        "directed_links": [healthy.n_edges, faulted.n_edges],
        "capacity": [float(healthy.edge_capacity.sum()), float(faulted.edge_capacity.sum())],
        "bisection_bandwidth": [float(h_b), float(f_b)],
        "switch_ports_used": {t: [v, radix(faulted).get(t, 0)] for t, v in radix(healthy).items()},
        "reachable_pairs": [reachable_pairs(healthy), reachable_pairs(faulted)],
        "all_pairs": nc * (nc - 1),
    }
    return out


def format_fault_summary(s: dict[str, Any]) -> str:
    """Text of :func:`fault_summary` (healthy -> faulted, with the loss in %)."""

    def pct(a: float, b: float) -> str:
        return f"{(b - a) / a * 100:+.1f}%" if a else "n/a"

    lines = ["faults            " + ", ".join(s["faults"])]
    lines += ["                  " + n for n in s["notes"]]
    a, b = s["directed_links"]
    lines.append(f"links (directed)  {a:,} -> {b:,} ({pct(a, b)})")
    a, b = s["capacity"]
    lines.append(f"link capacity     {a / 1e12:,.1f} -> {b / 1e12:,.1f} TB/s summed ({pct(a, b)})")
    a, b = s["bisection_bandwidth"]
    lines.append(f"bisection         {a / 1e12:,.2f} -> {b / 1e12:,.2f} TB/s per direction ({pct(a, b)})")
    for t, (a, b) in s["switch_ports_used"].items():
        lines.append(f"{t} ports used  {a:,} -> {b:,} ({pct(a, b)})")
    a, b = s["reachable_pairs"]
    lines.append(f"reachable pairs   {a:,} -> {b:,} of {s['all_pairs']:,} ordered chip pairs ({pct(a, b)})")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ stragglers
def parse_speeds(spec: Any, n_chips: int, seed: int = 0) -> np.ndarray:
    """Per-chip speed factors (1 = nominal, 0.5 = half speed) from:

    - a sequence of ``n_chips`` numbers;
    - ``"K@F"``: the K slowest chips at factor F (which chips: a seeded random choice);
    - ``"c5@0.5"`` / ``"5@0.5,9@0.8"``: named chips (``cN`` or ``rank:N``... ``N`` alone means K chips);
    - ``"normal:MEAN,SD"`` / ``"uniform:LO,HI"``: a seeded distribution, clipped to [0.05, 1].
    """
    if spec is None:
        return np.ones(n_chips)
    if isinstance(spec, (list, tuple, np.ndarray)):
        try:
            v = np.asarray(spec, dtype=np.float64)
        except (TypeError, ValueError):  # words or nested lists: numpy's ValueError escaped
            raise SpecError(f"stragglers: a list needs one number (speed factor) per chip, got {spec!r}"[:300]) \
                from None
        if v.shape != (n_chips,):
            raise SpecError(f"stragglers: a list needs one speed per chip ({n_chips}), got {v.shape}")
    elif isinstance(spec, str):
        rng = np.random.default_rng(seed)
        s = spec.strip()
        if s.startswith(("normal:", "uniform:")):
            dist, args = s.split(":", 1)
            try:
                a, b = (float(x) for x in args.split(","))
            except ValueError:
                raise SpecError(f"stragglers {spec!r}: expected {dist}:A,B") from None
            if not (math.isfinite(a) and math.isfinite(b)):
                raise SpecError(f"stragglers {spec!r}: {dist}:A,B needs finite numbers, e.g. {dist}:0.8,"
                                f"{'0.1' if dist == 'normal' else '1'}")
            if dist == "normal" and b < 0:
                raise SpecError(f"stragglers {spec!r}: the standard deviation SD of normal:MEAN,SD must be >= 0")
            if dist == "uniform" and a > b:
                raise SpecError(f"stragglers {spec!r}: uniform:LO,HI needs LO <= HI, e.g. uniform:{b:g},{a:g}")
            v = rng.normal(a, b, n_chips) if dist == "normal" else rng.uniform(a, b, n_chips)
            v = np.clip(v, 0.05, 1.0)
        else:
            v = np.ones(n_chips)
            named: set[int] = set()
            for part in s.split(","):
                part = part.strip()
                m = re.fullmatch(r"(c?)(\d+)@([0-9.]+)", part)
                if not m:
                    raise SpecError(f"stragglers {part!r}: expected K@F (K chips at speed F), cN@F (chip N), "
                                    "normal:MEAN,SD or uniform:LO,HI")
                k, f = int(m.group(2)), float(m.group(3))
                if m.group(1):
                    if k >= n_chips:
                        raise SpecError(f"stragglers {part!r}: chip c{k} out of range c0..c{n_chips - 1}")
                    if k in named:
                        raise SpecError(f"stragglers {spec!r}: chip c{k} is named twice; give each chip one speed")
                    named.add(k)
                    v[k] = f
                else:
                    if k > n_chips:
                        raise SpecError(f"stragglers {part!r}: {k} chips, the fabric has {n_chips}")
                    v[rng.choice(n_chips, size=k, replace=False)] = f
    else:
        raise SpecError(f"stragglers: expected a list, 'K@F', 'cN@F' or a distribution, got {spec!r}")
    if not np.all((v > 0) & (v <= 1) & np.isfinite(v)):
        raise SpecError("stragglers: every speed factor must be in (0, 1] (1 = nominal, 0.5 = half speed)")
    return v


def with_stragglers(fab: Fabric, speeds: Any, seed: int = 0) -> Fabric:
    """``fab`` with per-chip speed factors (see :func:`parse_speeds`) in ``meta["chip_speed"]``.

    Collectives (documented model): a straggler at speed ``s`` moves and reduces its data ``s`` times as
    fast (the copy/reduce work that feeds its NIC is memory-bound on the slow chip), so its *outgoing*
    links inject at ``s`` of their rate. Bulk-synchronous steps then wait for it exactly as the schedule
    dictates: a ring all-reduce step lasts as long as the straggler's send, a tree waits only where the
    straggler sits. Inference scales the compute and memory time of a group by its slowest member.
    """
    v = parse_speeds(speeds, fab.n_chips, seed)
    if np.all(v == 1):
        return fab
    scale = np.ones(fab.n_edges)
    from_chip = fab.edge_src < fab.n_chips
    scale[from_chip] = v[fab.edge_src[from_chip]]
    out = _scaled_copy(fab, scale)
    out.meta["chip_speed"] = v
    return out


def _scaled_copy(fab: Fabric, scale: np.ndarray) -> Fabric:
    """A shallow copy of ``fab`` (same graph, router, nodes and edge ids) with edge bandwidth x scale."""
    import copy

    out = copy.copy(fab)
    out.meta = dict(fab.meta)
    out.edge_bandwidth = fab.edge_bandwidth * scale
    out.edge_capacity = out.edge_bandwidth * fab.edge_efficiency
    for k in ("_fault_names", "_fault_name_index"):
        out.__dict__.pop(k, None)
    return out


# ------------------------------------------------------------------------------------------ random faults
#: Per-component failure rates in FIT (failures per 1e9 device-hours) and mean times to repair (hours).
#: ASSUMPTION values, with the public figures they lean on (sensitivity: unavailability, and so the number
#: of parts down at an instant, is linear in FIT x MTTR; scale them with ``--fail-random x10``):
#: - optic: 400G/800G transceivers, annualised failure rate ~1% per module (figure quoted by hyperscalers
#:   at OFC; Meta's Llama 3 paper, 2024, lists network/optics among the top interruption causes):
#:   1% per year = 1.14e-6 per hour = 1,140 FIT. A switch-attached cable has two optics.
#: - switch: a 51.2T switch box with an MTBF of 4e5 h (typical vendor datasheet order): 2,500 FIT.
#: - chip: accelerator package + HBM. Llama 3 (16,384 H100 for 54 days): 148 GPU + 72 HBM3 interruptions,
#:   220 / (16,384 x 1,296 h) = 1.04e-5 per hour = 1.0e4 FIT.
#: - repair: optic 4 h, switch 8 h, chip 24 h (ASSUMPTION: on-site spares).
#: A component is down at a random instant with probability ``MTTR / (MTBF + MTTR)`` (steady-state
#: unavailability), which is what a snapshot Monte Carlo draws.
COMPONENT_RATES: dict[str, dict[str, float]] = {
    "optic": {"fit": 1.14e3, "mttr_h": 4.0},
    "switch": {"fit": 2.5e3, "mttr_h": 8.0},
    "chip": {"fit": 1.0e4, "mttr_h": 24.0},
}


def _unavailability(rate: dict[str, float]) -> float:
    if rate["fit"] <= 0:
        return 0.0  # never fails ("x0": stragglers alone in a Monte Carlo)
    mtbf = 1e9 / rate["fit"]
    return rate["mttr_h"] / (mtbf + rate["mttr_h"])


def parse_rates(spec: Any = None) -> dict[str, dict[str, float]]:
    """Failure rates: defaults (:data:`COMPONENT_RATES`) overridden by ``"optic=2e6,chip=1e5"`` (FIT) or
    ``"optic=mtbf:100000h"`` or a map ``{optic: {fit: .., mttr_h: ..}}``; ``"x10"`` scales every rate."""
    rates = {k: dict(v) for k, v in COMPONENT_RATES.items()}
    if spec in (None, "", "default"):
        return rates
    if isinstance(spec, dict):
        for k, v in spec.items():
            if k not in rates:
                raise SpecError(f"--fail-random: unknown component {k!r}; use {', '.join(rates)}")
            try:
                new = {kk: float(vv) for kk, vv in (v if isinstance(v, dict) else {"fit": v}).items()}
            except (TypeError, ValueError):
                new = {"fit": -1.0}
            if set(new) - {"fit", "mttr_h"} or not all(x >= 0 for x in new.values()):
                raise SpecError(f"--fail-random: {k}: expected a FIT >= 0 or {{fit: .., mttr_h: ..}} >= 0, got {v!r}")
            rates[k].update(new)
        return rates
    for part in str(spec).split(","):
        part = part.strip()
        if re.fullmatch(r"x[0-9.eE+-]+", part):
            try:
                scale = float(part[1:])
            except ValueError:
                scale = -1.0
            if not (math.isfinite(scale) and scale >= 0):  # a negative scale meant rates < 0: silently no faults
                raise SpecError(f"--fail-random {part!r}: xSCALE needs a finite number >= 0, e.g. x10")
            for r in rates.values():
                r["fit"] *= scale
            continue
        if "=" not in part:
            raise SpecError(f"--fail-random {part!r}: expected COMPONENT=FIT, COMPONENT=mtbf:HOURSh or xSCALE "
                            f"(components {', '.join(rates)})")
        k, v = (x.strip() for x in part.split("=", 1))
        if k not in rates:
            raise SpecError(f"--fail-random: unknown component {k!r}; use {', '.join(rates)}")
        try:
            if v.startswith("mtbf:"):
                rates[k]["fit"] = 1e9 / float(v[5:].rstrip("h"))
            elif v.startswith("mttr:"):
                rates[k]["mttr_h"] = float(v[5:].rstrip("h"))
            else:
                rates[k]["fit"] = float(v)
            if not (rates[k]["fit"] >= 0 and rates[k]["mttr_h"] >= 0):
                raise ValueError
        except (ValueError, ZeroDivisionError):
            raise SpecError(f"--fail-random {part!r}: {v!r} is not a number") from None
    return rates


@dataclass(frozen=True)
class FaultDraw:
    """One Monte Carlo sample: the faults drawn (strings) and the counts per component."""

    faults: tuple[str, ...]
    counts: dict[str, int] = field(default_factory=dict)


def random_faults(fab: Fabric, rates: Any = None, seed: int = 0, scale: float = 1.0) -> FaultDraw:
    """Draw which components are down at a random instant (steady-state unavailability per component).

    Components: every physical cable to a switch (two optics: a cable is down when either end's optic
    is; a bundle of n parallel cables loses each independently, drawn as ``port`` faults), every switch,
    every chip. Chip-to-chip links inside a tray are copper (no optics; ASSUMPTION: they do not fail here).
    Deterministic under ``seed``; ``scale`` multiplies every probability (stress tests).
    """
    r = parse_rates(rates)
    rng = np.random.default_rng(seed)
    nc = fab.n_chips
    s, d = fab.edge_src, fab.edge_dst
    cable = (s < d) & ((s >= nc) | (d >= nc))  # one direction per cable touching a switch
    ce = np.flatnonzero(cable)
    p_opt = min(1.0, _unavailability(r["optic"]) * scale)
    p_cable = 1 - (1 - p_opt) ** 2
    k = rng.binomial(fab.edge_links[ce], p_cable)  # failed physical cables per bundle
    down_c = np.repeat(ce, k)
    p_sw = min(1.0, _unavailability(r["switch"]) * scale)
    down_s = np.flatnonzero(rng.random(len(fab.switches)) < p_sw) + nc
    p_chip = min(1.0, _unavailability(r["chip"]) * scale)
    down_chip = np.flatnonzero(rng.random(nc) < p_chip)
    names = fab.nodes
    out = [f"port:{names[s[e]]}-{names[d[e]]}" for e in down_c.tolist()]
    out += [f"switch:{names[i]}" for i in down_s.tolist()]
    out += [f"chip:{names[i]}" for i in down_chip.tolist()]
    return FaultDraw(tuple(out), {"cable": len(down_c), "switch": len(down_s), "chip": len(down_chip)})


# ------------------------------------------------------------------------------------------ drawing
def plot_faults(healthy: Fabric, faulted: Fabric, path: str | None = None, title: str | None = None) -> Any:
    """Draw the fabric as rows of nodes (chips at the bottom, then each switch tier, one column block per
    plane) with the parts that lost links marked: colour = fraction of the node's link capacity lost
    (grey healthy, red failed), crosses on nodes that lost every link. Returns the matplotlib Figure."""
    from .draw import check_figure_path, pyplot

    if path is not None:
        check_figure_path(path)
    plt = pyplot()
    nd = healthy.node_data
    n = healthy.n_nodes
    cap_h = np.bincount(healthy.edge_src, weights=healthy.edge_capacity, minlength=n)
    cap_h += np.bincount(healthy.edge_dst, weights=healthy.edge_capacity, minlength=n)
    fidx = np.asarray([healthy.node_index[v] for v in faulted.nodes], dtype=np.int64)
    cap_f = np.zeros(n)
    np.add.at(cap_f, fidx[faulted.edge_src], faulted.edge_capacity)
    np.add.at(cap_f, fidx[faulted.edge_dst], faulted.edge_capacity)
    lost = np.where(cap_h > 0, 1 - cap_f / np.maximum(cap_h, 1e-300), 0.0).clip(0, 1)
    tier = np.zeros(n, dtype=np.int64)
    plane = np.zeros(n, dtype=np.int64)
    for i in range(healthy.n_chips, n):
        a = nd[healthy.nodes[i]]
        tier[i] = int(a.get("tier", 1))
        plane[i] = int(a.get("plane", 0) or 0)
    x = np.zeros(n)
    for t in np.unique(tier):
        m = np.flatnonzero(tier == t)
        order = np.lexsort((m, plane[m]))
        x[m[order]] = (np.arange(len(m)) + 0.5) / len(m)
    fig, ax = plt.subplots(figsize=(14, 4 + np.unique(tier).size))
    size = np.where(tier == 0, max(2.0, 4000.0 / max(healthy.n_chips, 1)), max(6.0, 6000.0 / max(n - healthy.n_chips, 1)))
    ok = lost == 0
    ax.scatter(x[ok], tier[ok], s=size[ok], c="#B0B0B0", marker="s", linewidths=0)
    sc = ax.scatter(x[~ok], tier[~ok], s=size[~ok] * 3, c=lost[~ok], cmap="autumn_r", vmin=0, vmax=1, marker="s",
                    linewidths=0)
    dead = lost >= 1 - 1e-12
    ax.scatter(x[dead], tier[dead], s=size[dead] * 6, c="k", marker="x")
    ax.set_yticks(sorted(np.unique(tier)))
    ax.set_yticklabels(["chips" if t == 0 else f"tier {t}" for t in sorted(np.unique(tier))])
    ax.set_xticks([])
    ax.set_xlabel("nodes of each row, grouped by plane (left to right)")
    fig.colorbar(sc, ax=ax, label="fraction of link capacity lost")
    faults = ", ".join(faulted.meta.get("faults", []))
    ax.set_title(title or f"{healthy.name}: failed parts marked ({faults})", fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=130)
        plt.close(fig)
    return fig
