"""Write a fabric's graph to GraphML or node-link JSON (the graph as users load it in other tools), and read
such a file back as a Fabric (:func:`import_fabric`; ``topo.load`` and every ``--fabric`` take the path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from .errors import SpecError
from .fabric import Fabric

FORMATS = ("graphml", "json")
#: the units an exported graph declares (JSON: graph.units; GraphML: the graph attribute units, as text):
#: import_fabric reads the bare numbers of a file declaring exactly these as SI
SI_UNITS = {"bandwidth": "bytes/s per direction", "latency": "s"}
SI_UNITS_TEXT = "bandwidth: bytes/s per direction, latency: s"


def _plain(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return v


def fabric_to_json(fab: Fabric) -> dict[str, Any]:
    """Node-link dict of the fabric (networkx ``node_link_data`` layout) plus chip spec and meta.

    Units: edge ``bandwidth`` bytes/s per direction, ``latency`` s; ``links`` = physical links merged.
    """
    data = nx.node_link_data(fab.graph, edges="links")
    chip = _chip_dict(fab)
    meta = {k: _plain(v) for k, v in fab.meta.items() if k != "representative_chips"}
    data["graph"] = {"name": fab.name, "chip": chip, "meta": meta,
                     "units": dict(SI_UNITS)}
    if (comm := _comm_preset_name(fab)) is not None:
        data["graph"]["comm"] = comm
    if (cost := _network_cost_text(fab)) is not None:
        data["graph"]["network_cost"] = cost
    return _plain(data)


def _chip_dict(fab: Fabric) -> dict[str, Any]:
    """The fabric's whole chip spec as plain values (:func:`_chip_of` reads it back)."""
    chip = {k: _plain(getattr(fab.chip, k)) for k in fab.chip.__dataclass_fields__}
    chip["flops"] = dict(fab.chip.flops)
    return chip


def _comm_preset_name(fab: Fabric) -> str | None:
    """The ``topo.COMM`` preset the fabric's ``comm:`` block is, unchanged (a graph file carries its name; an
    overridden block is not carried)."""
    from .presets import COMM

    comm = getattr(fab, "comm", None)
    return comm.name if comm is not None and COMM.get(comm.name) == comm else None


def _network_cost_text(fab: Fabric) -> str | None:
    """The fabric's network prices (its ``cost:`` block as a :class:`topo.netcost.NetworkCostSpec`) as JSON text a
    graph file carries (``network_cost``), or None when the fabric has none (not priced)."""
    import dataclasses

    cost = getattr(fab, "network_cost", None)
    if cost is None:
        return None
    return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cost).items()},
                      sort_keys=True)


def _network_cost_of(text: Any, source: str) -> Any:
    """:func:`_network_cost_text` read back (a :class:`topo.netcost.NetworkCostSpec`); bad text is a SpecError."""
    from .netcost import NetworkCostSpec

    try:
        d = json.loads(text)
        d["included_tiers"] = tuple(d.get("included_tiers", ()))
        return NetworkCostSpec(**d)
    except SpecError as exc:
        raise SpecError(f"{source}: graph attribute network_cost: {exc}") from None
    except (ValueError, TypeError, AttributeError):
        raise SpecError(f"{source}: graph attribute network_cost: not JSON text of a cost: block (export the "
                        "fabric again with scaleup topo export)") from None


def export_fabric(fab: Fabric, path: str | Path, format: str | None = None) -> Path:
    """Write ``fab`` to ``path`` as ``graphml`` or ``json`` (default: from the file suffix; a format the suffix
    contradicts, GraphML into ``x.json``, is a :class:`SpecError`; any other suffix takes the format given).

    Returns the path written. GraphML carries node and edge attributes (SI units); JSON also carries the
    chip spec and the builder's meta.
    """
    path = Path(path)
    implied = path.suffix.lstrip(".").lower()
    fmt = (format or implied).lower()
    if fmt not in FORMATS:
        if format is None:  # the suffix alone chose it: name the file, not a --format the user never gave
            what = f"{path.suffix!r} is none of {', '.join(FORMATS)}" if path.suffix else "it has none"
            raise SpecError(f"{path.name!r}: the suffix picks the format, and {what}; name it "
                            f"{path.with_suffix('.graphml').name!r} or {path.with_suffix('.json').name!r}, "
                            f"or give the format (--format, format=)")
        raise SpecError(f"format: must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if implied in FORMATS and implied != fmt:  # GraphML into x.json (or JSON into x.graphml) misleads every reader
        raise SpecError(f"format: {fmt} into {path.name!r}, whose suffix means {implied}; drop the format (the "
                        f"suffix picks it) or name the file {path.with_suffix('.' + fmt).name!r}")
    if fmt == "json":
        path.write_text(json.dumps(fabric_to_json(fab), indent=1))
    else:
        g = fab.graph.copy()
        g.graph.clear()
        g.graph["name"] = fab.name
        g.graph["chip"] = fab.chip.name
        # the whole spec (GraphML holds no mappings: JSON text): a preset with changes keeps the preset's name
        g.graph["chip_spec"] = json.dumps(_chip_dict(fab), sort_keys=True)
        g.graph["builder"] = str(fab.meta.get("builder", "custom"))
        g.graph["units"] = SI_UNITS_TEXT  # import_fabric: the numbers are SI
        if fab.meta.get("levels") is not None:  # the chip attributes naming the levels (import_fabric reads them)
            g.graph["levels"] = ",".join(str(x) for x in fab.meta["levels"])
        if "in_network_reduction" in fab.meta:
            g.graph["in_network_reduction"] = bool(fab.meta["in_network_reduction"])
        if (comm := _comm_preset_name(fab)) is not None:
            g.graph["comm"] = comm
        if (cost := _network_cost_text(fab)) is not None:
            g.graph["network_cost"] = cost
        nx.write_graphml(g, path)
    return path


#: suffixes :func:`topo.load` reads as graphs (:func:`import_fabric`) instead of builder YAML
GRAPH_SUFFIXES = (".graphml", ".json")
#: builder meta an exported JSON carries that changes what the imported fabric does (levels for the hierarchical
#: collectives, in-network reduction for ``inr``); the rest (builder keys) describes a structure the graph now is
_KEPT_META = ("levels", "in_network_reduction")


def _chip_of(spec: Any, source: str) -> Any:
    """The ChipSpec an exported graph names: the JSON's full spec, or a preset name (GraphML); else generic."""
    from .presets import CHIPS
    from .specs import ChipSpec

    if isinstance(spec, dict):
        fields = {k: v for k, v in spec.items() if k in ChipSpec.__dataclass_fields__}
        try:
            return ChipSpec(**fields)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{source}: graph.chip: not a chip spec ({exc})") from None
    if isinstance(spec, str) and spec in CHIPS:
        return CHIPS[spec]
    return None


def _edge_units(g: nx.Graph, source: str, declared: bool = False) -> None:
    """Edge ``bandwidth`` / ``latency`` of a graph file in SI, in place: a string with a unit (``'400Gbps'``,
    ``'500ns'``) is converted; a bare number no fabric has (a bandwidth under 1 MB/s, a latency of 1 ms or more:
    ``bandwidth: 400`` meant GB/s, ``latency: 500`` meant ns, as other simulators' configs write them) is a
    :class:`UnitError` naming the edge, instead of a fabric a billion times too slow. ``declared``: the file says
    its numbers are SI (graph attribute ``units`` = :data:`SI_UNITS`, as :func:`export_fabric` writes), so none is
    refused."""
    from .units import check_bare, parse_quantity

    for u, v, a in g.edges(data=True):
        for key, dim in (("bandwidth", "bandwidth"), ("latency", "time")):
            if key in a:
                field = f"{source}: edge {u!r}->{v!r} {key}"
                if not declared:
                    check_bare(field, a[key], dim)
                if isinstance(a[key], str):
                    a[key] = parse_quantity(a[key], dim, field)


#: text a graph file may give a boolean node attribute (``forward``) as
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


def _node_flags(g: nx.Graph, source: str) -> None:
    """A node's ``forward`` given as text (``"false"``: a string attribute) as the boolean it says, in place (any
    non-empty text was true); other text is a :class:`SpecError` naming the node."""
    for n, a in g.nodes(data=True):
        v = a.get("forward")
        if isinstance(v, str):
            t = v.strip().lower()
            if t not in _TRUE + _FALSE:
                raise SpecError(f"{source}: node {n!r} forward: expected true or false, got {v!r}")
            a["forward"] = t in _TRUE


def _merge_parallel(g: nx.MultiGraph) -> nx.Graph:
    """A multigraph's parallel edges as one edge each, as builders merge them: bandwidth and ``links`` summed,
    the largest latency, the bandwidth-weighted efficiency."""
    out = nx.DiGraph() if g.is_directed() else nx.Graph()
    out.add_nodes_from(g.nodes(data=True))
    out.graph.update(g.graph)
    for u, v, a in g.edges(data=True):
        if not out.has_edge(u, v):
            out.add_edge(u, v, **a)
            continue
        b = out[u][v]
        try:
            bw0, bw1 = float(b["bandwidth"]), float(a["bandwidth"])
            eff = (bw0 * float(b.get("efficiency", 1.0)) + bw1 * float(a.get("efficiency", 1.0))) / (bw0 + bw1)
            b.update(bandwidth=bw0 + bw1, efficiency=eff, links=int(b.get("links", 1)) + int(a.get("links", 1)),
                     latency=max(float(b.get("latency", 0.0)), float(a.get("latency", 0.0))))
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            b.update(a)  # let Fabric name the missing or bad attribute
    return out


def import_fabric(path: str | Path, name: str | None = None) -> Fabric:
    """Read a GraphML or node-link JSON graph (as :func:`export_fabric` writes, or from another tool) as a Fabric.

    Nodes need ``kind`` (``chip`` / ``switch``; chips without ``rank`` are ranked in file order), edges
    ``bandwidth`` (bytes/s per direction) and ``latency`` (s), or strings with units (``'400Gbps'``, ``'500ns'``;
    a bare bandwidth under 1 MB/s or latency of 1 ms or more is refused unless the graph's ``units`` attribute is
    :data:`SI_UNITS`, as export writes it), optionally ``efficiency`` and ``links``;
    an undirected graph gets both directions. The chip spec comes from the file (JSON: the whole spec; GraphML: the
    whole spec in the graph's ``chip_spec`` attribute, as export writes it, else the preset named by its ``chip``
    attribute, else a generic chip), routing is BFS shortest paths (ECMP over equal-cost paths),
    the ``comm:`` block is the preset the graph's ``comm`` attribute names (export writes it when the fabric's
    block is an unchanged preset), else the default ``assumed`` (``topo.load(path, comm=...)`` sets one).
    The network's prices are the ``network_cost`` attribute (JSON text of the ``cost:`` block, as export writes it),
    else none (not priced).

    Raises:
        SpecError: unreadable file, a node without ``kind``, a missing or non-positive bandwidth, a
            disconnected graph (one line naming the file).
    """
    path = Path(path)
    source = path.name
    fmt = path.suffix.lstrip(".").lower()
    try:
        if fmt == "graphml":
            g = nx.read_graphml(path)
            attrs = dict(g.graph)
        elif fmt == "json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
                raise SpecError(f"{source}: not a node-link graph (a JSON object with 'nodes' and 'links' lists, as "
                                "networkx.node_link_data and `scaleup topo export` write)")
            key = "links" if "links" in data else "edges"
            if key not in data:  # a graph without edges (one chip) may leave the list out
                data = {**data, key: []}
            g = nx.node_link_graph(data, edges=key)
            attrs = dict(data.get("graph") or {})
        else:
            raise SpecError(f"{source}: a graph file must end in {' or '.join(GRAPH_SUFFIXES)}")
    except SpecError:
        raise
    except Exception as exc:  # parse errors of networkx / json / xml: one line, no traceback
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise SpecError(f"{source}: cannot read it as {fmt} ({first})") from None
    _edge_units(g, source, declared=attrs.get("units") in (SI_UNITS, SI_UNITS_TEXT))
    _node_flags(g, source)
    if g.is_multigraph():
        g = _merge_parallel(g)
    meta_in = attrs.get("meta") if isinstance(attrs.get("meta"), dict) else attrs  # JSON: graph.meta; GraphML: graph
    if isinstance(meta_in.get("levels"), str):  # GraphML holds no lists: "tray,leaf"
        meta_in = {**meta_in, "levels": [x for x in meta_in["levels"].split(",") if x]}
    meta = {k: meta_in[k] for k in _KEPT_META if k in meta_in}
    meta["imported_from"] = str(meta_in.get("builder", attrs.get("builder", "graph")))
    spec = attrs.get("chip_spec")  # GraphML: the whole spec export_fabric writes, as JSON text
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except ValueError:
            raise SpecError(f"{source}: graph attribute chip_spec: not JSON text of a chip spec") from None
    chip = _chip_of(spec if isinstance(spec, dict) else attrs.get("chip"), source)
    label = name or str(attrs.get("name") or path.stem)
    try:
        fab = Fabric.from_graph(g, chip=chip, name=label, **meta)
    except SpecError as exc:
        raise SpecError(f"{source}: {exc}") from None
    fab.meta["source_file"] = source
    if isinstance(attrs.get("network_cost"), str):  # the cost: block export_fabric wrote (else not priced)
        fab.network_cost = _network_cost_of(attrs["network_cost"], source)
    comm = attrs.get("comm")
    if isinstance(comm, str):  # the preset export_fabric wrote; an unknown name is one line listing the known
        from .presets import comm_preset  # (not topo.loader, which imports this module: no import circle)

        try:
            fab.comm = comm_preset(comm)
        except SpecError as exc:
            raise SpecError(f"{source}: {exc}") from None
    return fab
