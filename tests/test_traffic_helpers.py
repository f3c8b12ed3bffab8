"""Hand-made fabrics for the traffic tests (built with topo.Fabric.from_graph)."""

from __future__ import annotations

import networkx as nx
from conftest import star_graph

from topo import Fabric

GB = 1e9


def star(n: int = 4, bw: float = 1 * GB, lat: float = 1e-6) -> Fabric:
    """n chips on one switch ``s``."""
    return Fabric.from_graph(star_graph(n, bw, lat, switch="s"))


def chain(bws=(10 * GB, 5 * GB, 8 * GB), lats=(1e-6, 2e-6, 3e-6)) -> Fabric:
    """c0 - s0 - s1 - c1 with the given per-hop bandwidths and latencies (both directions)."""
    g = nx.Graph()
    g.add_node("c0", kind="chip")
    g.add_node("c1", kind="chip")
    g.add_node("s0", kind="switch", tier=1)
    g.add_node("s1", kind="switch", tier=1)
    hops = [("c0", "s0"), ("s0", "s1"), ("s1", "c1")]
    for (u, v), b, la in zip(hops, bws, lats):
        g.add_edge(u, v, bandwidth=b, latency=la)
    return Fabric.from_graph(g)


def leaf_spine(leaves: int = 2, spines: int = 4, per_leaf: int = 2, down_bw: float = 4 * GB,
               up_bw: float = 1 * GB, lat: float = 1e-6) -> Fabric:
    """Chips under leaves, every leaf linked once to every spine."""
    g = nx.Graph()
    r = 0
    for q in range(leaves):
        g.add_node(f"L{q}", kind="switch", tier=1)
        for _ in range(per_leaf):
            g.add_node(f"c{r}", kind="chip")
            g.add_edge(f"c{r}", f"L{q}", bandwidth=down_bw, latency=lat)
            r += 1
    for k in range(spines):
        g.add_node(f"S{k}", kind="switch", tier=2)
        for q in range(leaves):
            g.add_edge(f"L{q}", f"S{k}", bandwidth=up_bw, latency=lat)
    return Fabric.from_graph(g)


def ring(n: int = 8, bw: float = 1 * GB, lat: float = 1e-6) -> Fabric:
    """n chips in a bidirectional ring of direct links (chips forward)."""
    g = nx.Graph()
    for i in range(n):
        g.add_node(f"c{i}", kind="chip", forward=True)
    for i in range(n):
        g.add_edge(f"c{i}", f"c{(i + 1) % n}", bandwidth=bw, latency=lat)
    return Fabric.from_graph(g)


def dumbbell(k: int = 3, edge_bw: float = 2 * GB, mid_bw: float = 1 * GB, lat: float = 0.0) -> Fabric:
    """k chips on switch A, k on switch B, one A-B bottleneck link."""
    g = nx.Graph()
    g.add_node("A", kind="switch", tier=1)
    g.add_node("B", kind="switch", tier=1)
    g.add_edge("A", "B", bandwidth=mid_bw, latency=lat)
    for i in range(k):
        g.add_node(f"a{i}", kind="chip")
        g.add_edge(f"a{i}", "A", bandwidth=edge_bw, latency=lat)
    for i in range(k):
        g.add_node(f"b{i}", kind="chip")
        g.add_edge(f"b{i}", "B", bandwidth=edge_bw, latency=lat)
    return Fabric.from_graph(g)
