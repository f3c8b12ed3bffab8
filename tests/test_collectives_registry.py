"""The algorithm registry: every record is complete, and its closed form is what the simulation gives
on a contention-free fabric of the kind the record names (``exact_on``)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import collectives as C
import topo
from collectives.algorithms import FABRIC_KINDS, REGISTRY

B = 1e9  # bytes/s per link direction
H = 1e-6  # s per hop
S = 2.0**24 + 24.0  # bytes (not a power of two)


def star(n, tray=2, leaf=None):
    """n chips, one full-duplex link each to one switch that can reduce; tray (and leaf) levels."""
    g = nx.DiGraph()
    for r in range(n):
        attrs = {"kind": "chip", "rank": r, "tray": r // tray}
        if leaf:
            attrs["leaf"] = r // leaf
        g.add_node(f"c{r}", **attrs)
    g.add_node("sw", kind="switch", tier=1, in_network_reduction=True)
    for r in range(n):
        g.add_edge(f"c{r}", "sw", bandwidth=B, latency=H)
        g.add_edge("sw", f"c{r}", bandwidth=B, latency=H)
    return topo.Fabric.from_graph(g, **({"levels": ["tray", "leaf"]} if leaf else {}))


def ring(n):
    """n chips on a ring of direct links (both directions)."""
    g = nx.DiGraph()
    for r in range(n):
        g.add_node(r, kind="chip", rank=r, tray=r)
    for r in range(n):
        g.add_edge(r, (r + 1) % n, bandwidth=B, latency=H)
        g.add_edge((r + 1) % n, r, bandwidth=B, latency=H)
    return topo.Fabric.from_graph(g)


#: per fabric kind: (fabric of n chips, alpha of one chip-to-chip path)
FABRICS = {"switch": (lambda n: star(n, 2, 4 if n % 8 == 0 else None), 2 * H), "ring": (ring, H)}


def test_every_fabric_kind_has_a_test_fabric():
    assert set(FABRICS) == set(FABRIC_KINDS)


@pytest.mark.parametrize("key", sorted(REGISTRY), ids=lambda k: f"{k[0]}-{k[1]}")
def test_record_is_complete(key):
    """A record without a documented compiler, a closed form or a block count fails here."""
    rec = REGISTRY[key]
    doc = rec.doc
    for part in ("Steps", "Closed form", "Reference"):
        assert part in doc, f"{key}: the compiler's docstring has no {part!r} section"
    assert rec.summary and callable(rec.closed_form) and callable(rec.n_blocks)
    assert rec.exact_on in FABRIC_KINDS and rec.latency in ("path", "hop")
    for o in rec.options:
        assert o.help and isinstance(o.default, o.type)


@pytest.mark.parametrize("key", sorted(REGISTRY), ids=lambda k: f"{k[0]}-{k[1]}")
def test_simulated_time_is_the_closed_form(key):
    """On its contention-free fabric every record's simulated time (step mode) equals its closed form,
    for a power-of-two and another group size, with default options and with pipelining; the symbolic
    schedule with its block count delivers the collective's data (verify)."""
    rec = REGISTRY[key]
    coll = rec.collective
    variants = [{}]
    if "chunks" in rec.option_names:
        variants.append({"chunks": 3})
    if "root" in rec.option_names:
        variants += [dict(v, root=1) for v in variants]
    ran = 0
    for n in (8, 6):
        make, path_alpha = FABRICS[rec.exact_on]
        fab = make(n)
        group = list(range(2 if coll == "send_recv" else n))
        alpha = H if rec.latency == "hop" else path_alpha
        for opts in variants:
            try:
                sch = rec(group, S, fab, symbolic=True, **opts)
            except topo.ScheduleError:
                continue  # the algorithm does not apply to this group (hd reduce-scatter on 6, hier_ml, ...)
            assert sch.n_blocks == rec.n_blocks(np.asarray([group]), fab, rec.parse_options(opts, len(group)))
            C.verify(sch, fab.n_nodes)
            r = C.collective(coll, fab, S, group, rec.name, mode="steps", ideal=True, **opts)
            params = dict(rec.parse_options(opts, len(group)))
            if rec.closed_form_params is not None:
                params.update(rec.closed_form_params(fab, np.asarray(group)))
            want = rec.closed_form(len(group), S, B, alpha, **params)
            assert r.time == pytest.approx(want, rel=1e-9), (key, n, opts)
            ran += 1
    assert ran, f"{key}: no group size applied"


def test_cli_help_and_list_read_the_registry():
    """`scaleup collective --help`, each subcommand's --help and `scaleup collective list` name every record."""
    from click.testing import CliRunner

    from cli import main

    runner = CliRunner()
    group_help = runner.invoke(main, ["collective", "--help"]).output
    listing = runner.invoke(main, ["collective", "list"]).output
    for coll, name in REGISTRY:
        cli_name = coll.replace("_", "-")
        sub = "sendrecv" if coll == "send_recv" else cli_name  # the subcommand (nccl-tests' sendrecv)
        assert f"{sub} {name} " in " ".join(group_help.split()), (coll, name)
        assert f"  {name} " in listing
        assert f"  {name} " in runner.invoke(main, ["collective", sub, "--help"]).output, (coll, name)
