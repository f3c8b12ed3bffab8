"""Shared pytest fixtures and the small hand-made fabrics several test files use (``from conftest import ...``)."""

from __future__ import annotations

import networkx as nx


def star_graph(n: int, bw: float = 1e9, lat: float = 1e-6, *, switch: str = "sw", tray: int = 1,
               leaf: int | None = None, planes: int = 1, inr: bool = False, reduction_bandwidth: float | None = None,
               efficiency: float | None = None) -> nx.DiGraph:
    """The small star fabric several test files build: ``n`` chips ``c0..c{n-1}`` (rank r, tray r // tray,
    leaf r // leaf when given), each with one link per direction of ``bw`` bytes/s and ``lat`` s to each of
    ``planes`` switches (named ``switch``, or ``switch0..`` when planes > 1), which reduce in-network when
    ``inr`` (at ``reduction_bandwidth`` bytes/s per attached chip when given)."""
    g = nx.DiGraph()
    for r in range(n):
        a = {"kind": "chip", "rank": r, "tray": r // tray}
        if leaf:
            a["leaf"] = r // leaf
        g.add_node(f"c{r}", **a)
    link = {"bandwidth": bw, "latency": lat}
    if efficiency is not None:
        link["efficiency"] = efficiency
    for p in range(planes):
        sw = switch if planes == 1 else f"{switch}{p}"
        a = {"kind": "switch", "tier": 1, "in_network_reduction": inr}
        if planes > 1:
            a["plane"] = p
        if reduction_bandwidth is not None:
            a["reduction_bandwidth"] = reduction_bandwidth
        g.add_node(sw, **a)
        for r in range(n):
            g.add_edge(f"c{r}", sw, **link)
            g.add_edge(sw, f"c{r}", **link)
    return g


def star_fabric(n: int, bw: float = 1e9, lat: float = 1e-6, comm=None):
    """:func:`star_graph` as a ``topo.Fabric`` carrying the communication-software model ``comm`` (a
    ``topo.CommSpec``, or None for the physics alone)."""
    import topo

    fab = topo.Fabric.from_graph(star_graph(n, bw, lat))
    fab.comm = comm
    return fab


def write_files(directory, files: dict) -> None:
    """Write ``{name: bytes}`` into ``directory`` (a pathlib.Path): the bad-input tests' fixture files."""
    for name, data in files.items():
        (directory / name).write_bytes(data)


def assert_cli_error(argv: list, directory, field: str) -> None:
    """Run the CLI with ``{d}`` in ``argv`` replaced by ``directory``; it must exit 2 with exactly one
    ``error: ...`` line on stderr that names ``field`` (no traceback)."""
    from click.testing import CliRunner

    from cli import main

    r = CliRunner().invoke(main, [a.replace("{d}", str(directory)) for a in argv])
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    assert isinstance(r.exception, SystemExit), repr(r.exception)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert field in lines[0], (field, r.stderr)
