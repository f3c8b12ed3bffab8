"""The core contracts: unit parsing, spec validation, and the Fabric/Routes/BFS router basics."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from conftest import star_graph
from hypothesis import given, settings
from hypothesis import strategies as st

from topo import (
    BFSRouter,
    ChipSpec,
    Fabric,
    LinkSpec,
    Routes,
    RoutingError,
    ScaleupError,
    SpecError,
    SwitchSpec,
    UnitError,
    format_bytes,
    parse_quantity,
    parse_size_range,
)


# ---------------------------------------------------------------------------------------------- units
@pytest.mark.parametrize(
    "text, dim, expected",
    [
        ("400Gbps", "bandwidth", 400e9 / 8),
        ("1.4TB/s", "bandwidth", 1.4e12),
        ("900 GB/s", "bandwidth", 900e9),
        ("1GiB/s", "bandwidth", 2**30),
        ("500ns", "time", 500e-9),
        ("1.5us", "time", 1.5e-6),
        ("2ms", "time", 2e-3),
        ("216GB", "size", 216e9),
        ("64MiB", "size", 64 * 2**20),
        ("1KiB", "size", 1024),
        ("5PFLOPS", "flops", 5e15),
        ("2.5 PFLOP/s", "flops", 2.5e15),
        ("750W", "power", 750.0),
        ("1.2kW", "power", 1200.0),
        ("42", None, 42.0),
        (3.5, "time", 3.5),
    ],
)
def test_parse_quantity_converts_to_si(text, dim, expected):
    assert parse_quantity(text, dim) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("text", ["fast", "12 parsecs", "1.4TB/s/s", "", "GB"])
def test_parse_quantity_rejects_garbage_with_field_name(text):
    with pytest.raises(UnitError, match="link.bandwidth"):
        parse_quantity(text, "bandwidth", field="link.bandwidth")


def test_parse_quantity_rejects_wrong_dimension():
    with pytest.raises(UnitError, match="expected a bandwidth"):
        parse_quantity("500ns", "bandwidth")


def test_unit_error_is_a_scaleup_error():
    assert issubclass(UnitError, ScaleupError)
    assert issubclass(SpecError, ScaleupError)
    assert issubclass(RoutingError, ScaleupError)


def test_size_ranges():
    assert parse_size_range("1KiB:8KiB") == [1024, 2048, 4096, 8192]
    assert parse_size_range("1KiB:64KiB:x4") == [1024, 4096, 16384, 65536]
    assert parse_size_range("1KiB:4KiB:+1KiB") == [1024, 2048, 3072, 4096]
    assert parse_size_range("8MiB,64MiB") == [8 * 2**20, 64 * 2**20]
    with pytest.raises(UnitError):
        parse_size_range("4KiB:1KiB")
    with pytest.raises(UnitError):
        parse_size_range("1KiB:4KiB:x1")


@given(st.integers(min_value=0, max_value=40))
def test_format_bytes_round_trips(k):
    n = 2**k
    assert parse_quantity(format_bytes(n), "size") == n


# ---------------------------------------------------------------------------------------------- specs
def test_chip_spec_validates_and_is_hashable():
    c = ChipSpec("x", flops={"fp8": 1e15, "bf16": 5e14}, hbm_bytes=1e11, hbm_bandwidth=3e12)
    assert hash(c) == hash(ChipSpec("x", flops={"bf16": 5e14, "fp8": 1e15}, hbm_bytes=1e11, hbm_bandwidth=3e12))
    assert c.peak_flops("fp8") == 1e15
    # fp4 falls back to the next wider dtype the chip lists (fp8 here)
    assert c.peak_flops("fp4") == 1e15
    with pytest.raises(SpecError, match="fp16"):
        c.peak_flops("fp16")  # neither fp16 nor fp32 is listed
    with pytest.raises(SpecError, match="flops"):
        ChipSpec("x", flops={"fp9": 1.0})
    with pytest.raises(SpecError, match="hbm_bandwidth"):
        ChipSpec("x", hbm_bandwidth=-1)
    with pytest.raises(SpecError, match="compute_efficiency"):
        ChipSpec("x", compute_efficiency=0)


def test_link_and_switch_specs_validate():
    assert LinkSpec(50e9, 1e-7, efficiency=0.9).capacity == pytest.approx(45e9)
    with pytest.raises(SpecError, match="bandwidth"):
        LinkSpec(0.0)
    with pytest.raises(SpecError, match="efficiency"):
        LinkSpec(1e9, efficiency=1.5)
    with pytest.raises(SpecError, match="radix"):
        SwitchSpec(radix=1, port_bandwidth=1e9)


# ---------------------------------------------------------------------------------------------- fabric
def _star(n: int, bw: float = 1e9, lat: float = 1e-6) -> nx.DiGraph:
    return star_graph(n, bw, lat)


def test_fabric_indexes_chips_first_in_rank_order():
    g = _star(5)
    f = Fabric(g)
    assert f.chips == [f"c{r}" for r in range(5)]
    assert [f.index(f"c{r}") for r in range(5)] == list(range(5))
    assert f.index(3) == 3  # bare int = rank
    assert f.n_nodes == 6 and f.n_edges == 10
    e = f.edge_id("c2", "sw")
    assert f.nodes[f.edge_src[e]] == "c2" and f.nodes[f.edge_dst[e]] == "sw"


def test_fabric_rejects_bad_graphs_with_one_line():
    g = _star(3)
    g["c0"]["sw"]["bandwidth"] = 0.0
    with pytest.raises(SpecError, match=r"c0.*sw.*bandwidth"):
        Fabric(g)
    g = _star(3)
    g.add_node("c9", kind="chip", rank=3)
    with pytest.raises(SpecError, match="disconnected"):
        Fabric(g)
    g = _star(2)
    g.add_node("x", kind="router")
    with pytest.raises(SpecError, match="kind"):
        Fabric(g)
    with pytest.raises(RoutingError, match="unknown node"):
        Fabric(_star(2)).index("c7")


def test_star_paths_go_through_the_switch_only():
    f = Fabric(_star(4))
    assert f.paths("c0", "c3") == [["c0", "sw", "c3"]]
    assert f.paths(1, 1) == [["c1"]]


def test_chips_do_not_forward_unless_allowed():
    # a line c0 - c1 - c2: c1 must relay for c0 -> c2
    g = nx.DiGraph()
    for r in range(3):
        g.add_node(f"c{r}", kind="chip", rank=r)
    for a, b in [(0, 1), (1, 2)]:
        g.add_edge(f"c{a}", f"c{b}", bandwidth=1.0, latency=0.0)
        g.add_edge(f"c{b}", f"c{a}", bandwidth=1.0, latency=0.0)
    with pytest.raises(RoutingError, match="no route"):
        Fabric(g).paths(0, 2)
    g.nodes["c1"]["forward"] = True
    assert Fabric(g).paths(0, 2) == [["c0", "c1", "c2"]]


def test_from_graph_accepts_undirected_graphs_and_ranks_chips():
    g = nx.Graph()
    for r in range(3):
        g.add_node(r, kind="chip", forward=True)
    g.add_edge(0, 1, bandwidth=2.0, latency=0.0)
    g.add_edge(1, 2, bandwidth=2.0, latency=0.0)
    f = Fabric.from_graph(g)
    assert f.n_edges == 4 and f.paths(0, 2) == [[0, 1, 2]]


def _ecmp_count_by_networkx(g: nx.DiGraph, s, d) -> int:
    return len(list(nx.all_shortest_paths(g, s, d)))


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=2, max_value=5), st.integers(min_value=1, max_value=4), st.integers(1, 3))
def test_bfs_ecmp_sets_match_networkx_on_leaf_spine(leaves, spines, per_leaf):
    """On a leaf/spine whose chips never forward, every shortest path networkx finds is an ECMP path."""
    g = nx.DiGraph()
    r = 0
    for lf in range(leaves):
        g.add_node(f"l{lf}", kind="switch", tier=1)
        for _ in range(per_leaf):
            g.add_node(f"c{r}", kind="chip", rank=r)
            g.add_edge(f"c{r}", f"l{lf}", bandwidth=1.0, latency=0.0)
            g.add_edge(f"l{lf}", f"c{r}", bandwidth=1.0, latency=0.0)
            r += 1
    for sp in range(spines):
        g.add_node(f"s{sp}", kind="switch", tier=2)
        for lf in range(leaves):
            g.add_edge(f"l{lf}", f"s{sp}", bandwidth=1.0, latency=0.0)
            g.add_edge(f"s{sp}", f"l{lf}", bandwidth=1.0, latency=0.0)
    f = Fabric(g)
    for a, b in itertools.permutations(range(r), 2):
        ours = sorted(map(tuple, f.paths(a, b)))
        theirs = sorted(map(tuple, nx.all_shortest_paths(g, f"c{a}", f"c{b}")))
        assert ours == theirs
        same_leaf = a // per_leaf == b // per_leaf
        assert len(ours) == (1 if same_leaf else spines)


def test_routes_csr_is_consistent():
    f = Fabric(_star(4))
    src = np.array([0, 1, 2, 3])
    dst = np.array([1, 2, 3, 3])
    r = f.routes(src, dst)
    assert isinstance(r, Routes)
    assert r.n_pairs == 4
    assert list(r.path_counts()) == [1, 1, 1, 1]
    assert list(r.path_lengths()) == [2, 2, 2, 0]
    # each path's edges chain from src to dst
    for i in range(3):
        (edges,) = r.edges_of(i)
        assert f.edge_src[edges[0]] == src[i] and f.edge_dst[edges[-1]] == dst[i]
        assert all(f.edge_dst[a] == f.edge_src[b] for a, b in zip(edges[:-1], edges[1:]))
    both = Routes.concat([r, r])
    assert both.n_pairs == 8 and np.array_equal(both.path_counts(), np.ones(8, dtype=np.int64))


def test_bfs_router_caps_enumeration():
    router = BFSRouter(max_paths=2)
    g = _star(2)
    g.add_node("sw2", kind="switch", tier=1)
    g.add_node("sw3", kind="switch", tier=1)
    for s in ("sw2", "sw3"):
        for r in range(2):
            g.add_edge(f"c{r}", s, bandwidth=1.0, latency=0.0)
            g.add_edge(s, f"c{r}", bandwidth=1.0, latency=0.0)
    f = Fabric(g, router=router)
    assert len(f.paths(0, 1)) == 2
