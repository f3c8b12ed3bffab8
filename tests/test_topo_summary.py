"""Summary figures against closed forms and exhaustive search: bisection, diameter, counts, radix."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import topo
from topo.summary import bisection_bandwidth, cut_capacity, diameter, hop_distances, summarize

BW = 50e9


def fat_tree(k: int) -> topo.Fabric:
    """The classic 3-level k-ary fat tree (Al-Fares et al. 2008) built by hand: k^3/4 hosts."""
    g = nx.DiGraph()
    hosts = k**3 // 4
    for h in range(hosts):
        g.add_node(f"h{h}", kind="chip", rank=h, tray=h)

    def link(u, v):
        g.add_edge(u, v, bandwidth=BW, latency=0.0)
        g.add_edge(v, u, bandwidth=BW, latency=0.0)

    half = k // 2
    for pod in range(k):
        for e in range(half):
            edge = f"p{pod}e{e}"
            g.add_node(edge, kind="switch", tier=1)
            for j in range(half):
                link(f"h{(pod * half + e) * half + j}", edge)
            for a in range(half):
                agg = f"p{pod}a{a}"
                g.add_node(agg, kind="switch", tier=2)
                link(edge, agg)
        for a in range(half):
            for c in range(half):
                core = f"c{a * half + c}"
                g.add_node(core, kind="switch", tier=3)
                link(f"p{pod}a{a}", core)
    return topo.Fabric.from_graph(g)


def test_fat_tree_bisection_is_full():
    fab = fat_tree(4)  # 16 hosts, full bisection: k^3/8 = 8 host links
    assert bisection_bandwidth(fab, exact=False)["bandwidth"] == pytest.approx(8 * BW)
    fab6 = fat_tree(6)  # 54 hosts -> 27 links
    assert bisection_bandwidth(fab6, exact=False)["bandwidth"] == pytest.approx(27 * BW)


def test_fat_tree_diameter():
    assert diameter(fat_tree(4))["hops"] == 6  # host-edge-agg-core-agg-edge-host


def test_clos_two_level_nonblocking_and_oversubscribed():
    f = topo.clos(servers=8, chips_per_server=4, leaf_radix=16, leaf_down=8, server_fabric="none",
                  nic_bandwidth=BW)
    assert bisection_bandwidth(f)["bandwidth"] == pytest.approx(16 * BW)
    f2 = topo.clos(servers=8, chips_per_server=4, leaf_radix=16, leaf_down=8, oversubscription=2,
                   server_fabric="none", nic_bandwidth=BW)
    assert bisection_bandwidth(f2)["bandwidth"] == pytest.approx(8 * BW)


@pytest.mark.parametrize("dims, links", [((10,), 2), ((4, 3), 6), ((4, 2), 4), ((2, 2, 2), 8)])
def test_torus_bisection_exhaustive_equals_closed_form(dims, links):
    """k-ary n-cube with wrap: 2 N / k links across (k the largest even dimension; size-2 rings are a
    double link), checked by exhaustive search over every balanced partition."""
    fab = topo.torus(dims=dims, link_bandwidth=BW)
    exact = bisection_bandwidth(fab, exact=True)["bandwidth"]
    assert exact == pytest.approx(links * BW)
    assert bisection_bandwidth(fab, exact=False)["bandwidth"] == pytest.approx(exact)


@pytest.mark.parametrize("dims", [(4, 4, 4), (8, 8), (16, 20, 28)])
def test_torus_bisection_structural_closed_form(dims):
    fab = topo.torus(dims=dims, link_bandwidth=BW)
    n = int(np.prod(dims))
    assert bisection_bandwidth(fab)["bandwidth"] == pytest.approx(2 * n / max(dims) * BW)


def test_mesh_bisection_and_diameter():
    fab = topo.torus(dims=(4, 4), wrap=False, link_bandwidth=BW)
    assert bisection_bandwidth(fab)["bandwidth"] == pytest.approx(4 * BW)
    assert diameter(fab)["hops"] == 6


def test_full_mesh_bisection_exhaustive():
    fab = topo.full_mesh(chips=8, link_bandwidth=BW)
    assert bisection_bandwidth(fab, exact=True)["bandwidth"] == pytest.approx(16 * BW)
    assert diameter(fab)["hops"] == 1


def test_two_tier_bisection_exhaustive_small():
    f = topo.two_tier(chips=12, tray_size=2, planes=2, tray_ports=1, ports=3, switch_radix=8, leaf_down=4,
                      leaf_uplinks=4, spines=2, port_bandwidth=BW, chip="maia200")
    exact = bisection_bandwidth(f, exact=True)["bandwidth"]
    assert bisection_bandwidth(f, exact=False)["bandwidth"] == pytest.approx(exact)


def test_maia200_16plane_summary_closed_forms():
    s = summarize(topo.load("maia200-16plane"))
    assert s["chips"] == 6144 and s["switches_by_tier"] == {"tier1": 1536, "tier2": 1024}
    assert s["injection_bandwidth"] == pytest.approx(1.4e12)
    assert s["injection_to_switches"] == pytest.approx(16 * 50e9)
    # non-blocking: half the chips x their switch bandwidth
    assert s["bisection_bandwidth"] == pytest.approx(3072 * 16 * 50e9)
    assert s["diameter_hops"] == 4 and s["diameter_exact"]
    assert s["radix_use"]["tier1"]["max_ports_used"] == 128
    assert s["radix_use"]["tier2"]["max_ports_used"] == 96
    assert s["cables"] == 6144 * 12 // 2 + 6144 * 16 + 16 * 96 * 64
    assert s["levels"] == [4, 64, 6144]


def test_oversubscribed_two_tier_halves_bisection():
    base = topo.load("maia200-16plane", chips=256)
    over = topo.load("maia200-16plane", chips=256, leaf_uplinks=32, spines=32)
    b0 = bisection_bandwidth(base)["bandwidth"]
    b1 = bisection_bandwidth(over)["bandwidth"]
    assert b1 == pytest.approx(b0 / 2)


def test_hop_distances_respect_non_forwarding_chips():
    g = nx.Graph()
    for i in range(3):
        g.add_node(i, kind="chip")
    g.add_edge(0, 1, bandwidth=1.0, latency=0.0)
    g.add_edge(1, 2, bandwidth=1.0, latency=0.0)
    fab = topo.Fabric.from_graph(g)
    assert np.isinf(hop_distances(fab, np.array([0]))[0, 2])
    g.nodes[1]["forward"] = True
    assert hop_distances(topo.Fabric.from_graph(g), np.array([0]))[0, 2] == 2


def test_cut_capacity_is_symmetric_on_symmetric_fabrics():
    fab = topo.load("tpu-v5p")
    a = np.arange(64) < 32
    assert cut_capacity(fab, a) == pytest.approx(cut_capacity(fab, ~a))
    # 4x4x4 torus cut into z < 2 and z >= 2: each of the 16 z-rings crosses twice, 100 GB/s per link
    assert cut_capacity(fab, a) == pytest.approx(2 * 16 * 100e9)


@given(dims=st.lists(st.integers(2, 6), min_size=1, max_size=3))
@settings(max_examples=20, deadline=None)
def test_torus_diameter_closed_form(dims):
    fab = topo.torus(dims=dims)
    assert diameter(fab)["hops"] == sum(d // 2 for d in dims)
