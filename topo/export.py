"""Write a fabric's graph to GraphML or node-link JSON (the graph as users load it in other tools)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from .errors import SpecError
from .fabric import Fabric

FORMATS = ("graphml", "json")


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
    chip = {k: _plain(getattr(fab.chip, k)) for k in fab.chip.__dataclass_fields__}
    chip["flops"] = dict(fab.chip.flops)
    meta = {k: _plain(v) for k, v in fab.meta.items() if k != "representative_chips"}
    data["graph"] = {"name": fab.name, "chip": chip, "meta": meta,
                     "units": {"bandwidth": "bytes/s per direction", "latency": "s"}}
    return _plain(data)


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
        g.graph["builder"] = str(fab.meta.get("builder", "custom"))
        nx.write_graphml(g, path)
    return path
