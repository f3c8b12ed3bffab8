"""Builders: node/edge counts and degrees vs closed forms; formula routers vs BFS; ECMP counts; groups."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import topo
from topo import BFSRouter, CapacityError, SpecError


def path_sets(fab, router, pairs):
    src = np.array([p[0] for p in pairs])
    dst = np.array([p[1] for p in pairs])
    r = router.routes(fab, src, dst)
    return [sorted(tuple(e.tolist()) for e in r.edges_of(i)) for i in range(len(pairs))]


def all_pairs(n):
    return [(s, d) for s in range(n) for d in range(n)]


def assert_formula_equals_bfs(fab, pairs=None):
    pairs = pairs if pairs is not None else all_pairs(fab.n_chips)
    a = path_sets(fab, fab.router, pairs)
    b = path_sets(fab, BFSRouter(max_paths=100_000), pairs)
    for p, x, y in zip(pairs, a, b):
        assert x == y, f"pair {p}: formula {len(x)} paths, BFS {len(y)}"


def small_two_tier(**kw):
    args = dict(chips=32, tray_size=4, planes=2, tray_ports=3, ports=8, switch_radix=16, leaf_down=8,
                leaf_uplinks=8, spines=4, chip="maia200")
    args.update(kw)
    return topo.two_tier(**args)


# ------------------------------------------------------------------------------------------ two_tier
def test_maia200_16plane_counts_match_closed_forms():
    fab = topo.load("maia200-16plane")
    N, T, P, L, S = 6144, 4, 16, 96, 64
    assert fab.n_chips == N
    tiers = [fab.graph.nodes[s]["tier"] for s in fab.switches]
    assert tiers.count(1) == P * L and tiers.count(2) == P * S
    # directed edges: tray mesh N*(T-1), chip<->leaf 2*N*P, leaf<->spine 2*P*L*S
    assert fab.n_edges == N * (T - 1) + 2 * N * P + 2 * P * L * S
    out_deg = np.bincount(fab.edge_src, minlength=fab.n_nodes)
    assert np.all(out_deg[:N] == (T - 1) + P)
    assert np.all(out_deg[N:N + P * L] == 64 + S)  # leaf: 64 chips + 64 spines
    assert np.all(out_deg[N + P * L:] == L)  # spine: one link per leaf of its plane
    # per-chip injection bandwidth: 12 tray ports + 16 plane ports = 28 x 50 GB/s = 1.4 TB/s
    inj = np.bincount(fab.edge_src, weights=fab.edge_bandwidth, minlength=fab.n_nodes)[:N]
    assert np.allclose(inj, 1.4e12)


def test_maia200_16plane_capacity_error_names_largest_size():
    with pytest.raises(CapacityError, match="8192"):
        topo.load("maia200-16plane", chips=8196)


def test_two_tier_formula_routes_equal_bfs():
    assert_formula_equals_bfs(small_two_tier())
    assert_formula_equals_bfs(small_two_tier(leaf_uplinks=None, oversubscription=2, spines=2))


def test_two_tier_ecmp_counts_closed_form():
    fab = topo.load("maia200-16plane", chips=256)
    P, S = 16, 64
    r = fab.routes(np.array([0, 0, 0, 0]), np.array([0, 1, 4, 64]))
    assert r.path_counts().tolist() == [1, 1, P, P * S]
    assert r.path_lengths()[r.pair_ptr[3]:].tolist() == [4] * (P * S)


def test_two_tier_oversubscription_reduces_uplinks():
    fab = small_two_tier(leaf_uplinks=None, oversubscription=2, spines=2)
    assert fab.meta["leaf_uplinks"] == 4 and fab.meta["spines_per_plane"] == 2
    assert fab.meta["oversubscription"] == 2


def test_two_tier_rejects_too_many_ports():
    with pytest.raises(CapacityError, match="exceed the chip"):
        topo.two_tier(chips=64, planes=20)


# ------------------------------------------------------------------------------------------ switch / mesh
def test_switch_counts_and_routes():
    fab = topo.load("gb200-nvl72")
    assert fab.n_chips == 72 and len(fab.switches) == 18
    assert fab.n_edges == 2 * 72 * 18
    assert np.allclose(fab.edge_bandwidth, 50e9)
    assert fab.switch_can_reduce
    assert fab.routes(np.array([0]), np.array([5])).path_counts().tolist() == [18]
    assert_formula_equals_bfs(topo.switch(chips=8, planes=4))


def test_switch_radix_error():
    with pytest.raises(CapacityError, match="72 chips"):
        topo.load("gb200-nvl72", chips=76)


def test_full_mesh_counts_routes_and_two_hop():
    fab = topo.load("mi300x")
    assert fab.n_edges == 8 * 7 and not fab.switches
    assert_formula_equals_bfs(fab)
    f2 = topo.full_mesh(chips=6, forwarding=True, two_hop=True)
    r = f2.routes(np.array([0]), np.array([3]))
    assert r.path_counts().tolist() == [5]  # direct + 4 two-hop
    assert sorted(r.path_lengths().tolist()) == [1, 2, 2, 2, 2]
    with pytest.raises(CapacityError):
        topo.full_mesh(chips=9)  # MI300X has 7 links


# ------------------------------------------------------------------------------------------ torus
@pytest.mark.parametrize("dims", [(5,), (4,), (3, 4), (4, 4), (2, 3, 4), (3, 3, 3), (2, 2, 2)])
def test_torus_minimal_routes_equal_bfs(dims):
    assert_formula_equals_bfs(topo.torus(dims=dims, routing="minimal"))


def test_mesh_without_wrap_equals_bfs():
    assert_formula_equals_bfs(topo.torus(dims=(4, 3), wrap=False, routing="minimal"))


@pytest.mark.parametrize("build,kw,field", [
    (topo.torus, {"dims": (4, 4), "tray": 2}, "tray"),             # was TypeError: 'int' object is not iterable
    (topo.torus, {"dims": (4, 4), "wrap": 5}, "wrap"),             # the same
    (topo.torus, {"dims": "abc"}, "dims"),                          # was dims[0]: a character of the string
    (topo.ocs_torus, {"dims": (4, 4, 8), "cube": 4}, "cube"),
    (topo.ocs_torus, {"dims": (4, 4, 8), "tray": 2}, "tray"),
])
def test_list_parameters_given_a_scalar_are_spec_errors(build, kw, field):
    with pytest.raises(SpecError, match=f"^{field}: expected a list"):
        build(**kw)
    # the list forms build: a 4x4 torus of 2x2 trays has 4 trays of 4 chips
    assert np.bincount(topo.torus(dims=[4, 4], tray=[2, 2], wrap=[True, False]).trays).tolist() == [4] * 4


SIZED = [  # builders whose size is checked before allocating (topo._capacity.check_graph_size)
    ("h100-clos", {}),
    ("h100-clos", {"rail_optimised": False}),
    ("h100-clos", {"server_fabric": "mesh", "server_in_network_reduction": False, "server_reduction_bandwidth": None}),
    ("h100-clos", {"server_fabric": "none", "server_in_network_reduction": False, "server_reduction_bandwidth": None}),
    ("dragonfly-small", {}),
    ("trn3-ultraserver-gen1", {}),
    ("trn3-ultraserver", {}),
    ("trn3-ultraserver-x4", {}),
]


@pytest.mark.parametrize("name,kw", SIZED, ids=[f"{n}{sorted(k)}" for n, k in SIZED])
def test_graph_size_estimate_is_the_built_size(monkeypatch, name, kw):
    """The estimate a builder checks before allocating equals the nodes + edges it then builds."""
    import re

    import topo._capacity as cap

    fab = topo.load(name, **kw)
    monkeypatch.setattr(cap, "MAX_GRAPH_ELEMENTS", 1)
    with pytest.raises(CapacityError) as info:
        topo.load(name, **kw)
    est = int(re.search(r"fabric of ([\d,]+) nodes", str(info.value)).group(1).replace(",", ""))
    assert est == fab.n_nodes + fab.n_edges


@pytest.mark.parametrize("name,key", [("h100-clos", "chips_per_server"), ("dragonfly-small", "routers_per_group"),
                                      ("dragonfly-small", "chips_per_router"), ("trn3-ultraserver-gen1", "ultraservers"),
                                      ("trn3-ultraserver-gen1", "servers_per_rack")])
def test_huge_clos_dragonfly_ultraserver_are_refused_before_allocating(name, key):
    """A million of one part was a MemoryError (dragonfly routers_per_group) or minutes of allocation."""
    with pytest.raises(CapacityError, match="4,000,000-element budget"):
        topo.load(name, **{key: 10**6})


@pytest.mark.parametrize("dims", [(8,), (4, 6), (4, 4, 4), (3, 5, 2)])
def test_torus_counts_and_degrees(dims):
    fab = topo.torus(dims=dims)
    n = math.prod(dims)
    links_per_chip = sum(2 if d > 2 else (1 if d == 2 else 0) for d in dims)
    assert fab.n_edges == n * links_per_chip
    assert np.all(np.bincount(fab.edge_src, minlength=n) == links_per_chip)


def test_torus_orders_ecmp_count_closed_form():
    fab = topo.torus(dims=(8, 8, 8))
    # offsets (1,2,3): 3! orders, no ties; (4,1,0): 2 orders x 2 directions (tie in x); (4,4,4): 6 x 8
    s = np.zeros(3, dtype=np.int64)
    d = np.array([1 + 8 * 2 + 64 * 3, 4 + 8 * 1, 4 + 8 * 4 + 64 * 4])
    r = fab.routes(s, d)
    assert r.path_counts().tolist() == [6, 4, 48]
    assert set(r.path_lengths().tolist()) == {6, 5, 12}
    # DOR: one order, both directions on ties
    dor = topo.torus(dims=(8, 8, 8), routing="dor").routes(s, d)
    assert dor.path_counts().tolist() == [1, 2, 8]


def test_torus_orders_paths_are_minimal_subset_of_bfs():
    fab = topo.torus(dims=(4, 5, 3))
    pairs = [(0, d) for d in range(fab.n_chips)]
    a = path_sets(fab, fab.router, pairs)
    b = path_sets(fab, BFSRouter(max_paths=100_000), pairs)
    for x, y in zip(a, b):
        assert set(x) <= set(y) and len(x) >= 1


# ------------------------------------------------------------------------------------------ clos
@pytest.mark.parametrize("rail, server_fabric", [(True, "none"), (True, "switch"), (False, "mesh"),
                                                 (False, "none")])
def test_clos_formula_routes_equal_bfs(rail, server_fabric):
    fab = topo.clos(servers=8, chips_per_server=4, leaf_radix=16, leaf_down=8, rail_optimised=rail,
                    server_fabric=server_fabric)
    assert_formula_equals_bfs(fab)


def test_clos_counts_rail_optimised():
    fab = topo.load("h100-clos")
    N, L, S = 1024, 32, 32
    tiers = [fab.graph.nodes[s]["tier"] for s in fab.switches]
    assert tiers.count(0) == 128 and tiers.count(1) == L and tiers.count(2) == S
    assert fab.n_edges == 2 * N + 2 * N + 2 * L * S  # nvswitch + NIC + leaf-spine
    # rail optimisation: GPU r of servers 0 and 1 share a leaf; GPUs 0 and 1 of one server do not
    p = fab.paths(0, 8)
    assert len(p) == 1 and len(p[0]) == 3
    assert len(fab.paths(0, 1)) == 1 and fab.paths(0, 1)[0][1] == "s0.nvsw"


# ------------------------------------------------------------------------------------------ dragonfly
def test_dragonfly_counts_and_minimal_routes():
    a, p, h = 4, 2, 2
    fab = topo.dragonfly(routers_per_group=a, chips_per_router=p, global_links_per_router=h)
    G = a * h + 1
    assert fab.n_chips == G * a * p
    # chip links + local full mesh + one global link per group pair, each 2 directed edges
    assert fab.n_edges == 2 * G * a * p + G * a * (a - 1) + 2 * (G * (G - 1) // 2)
    out = np.bincount(fab.edge_src, minlength=fab.n_nodes)
    assert np.all(out[fab.n_chips:] == p + (a - 1) + h)
    n = fab.n_chips
    src, dst = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
    r = fab.routes(src, dst)
    glob = np.array([fab.graph.nodes[fab.nodes[u]]["group"] != fab.graph.nodes[fab.nodes[v]]["group"]
                     if u >= n and v >= n else False for u, v in zip(fab.edge_src, fab.edge_dst)])
    # balanced dragonfly: one global link per group pair -> exactly one minimal path per pair, whose
    # length is 2 (same router), 3 (same group) or 3..5 (local? global local?) by the closed form
    assert (r.path_counts() == 1).all()
    router = np.arange(n) // p
    same_r = router[src] == router[dst]
    same_g = (router[src] // a) == (router[dst] // a)
    L = r.path_lengths()
    assert (L[(src != dst) & same_r] == 2).all() and (L[~same_r & same_g] == 3).all()
    assert ((L[~same_g] >= 3) & (L[~same_g] <= 5)).all()
    for j in range(r.n_paths):
        e = r.path_edges[r.path_ptr[j]:r.path_ptr[j + 1]]
        assert glob[e].sum() <= 1 and len(e) <= 5  # chip, local, global, local, chip
        if len(e):
            assert np.all(fab.edge_dst[e[:-1]] == fab.edge_src[e[1:]])


# ------------------------------------------------------------------------------------------ groups, levels
def test_groups_placements():
    fab = small_two_tier()
    assert fab.groups(8)[1] == list(range(8, 16))
    assert fab.groups(8, "strided")[0] == [0, 4, 8, 12, 16, 20, 24, 28]
    r = fab.groups(8, "random", seed=3)
    assert sorted(sum(r, [])) == list(range(32)) and r == fab.groups(8, "random", seed=3)
    with pytest.raises(SpecError, match="does not divide"):
        fab.groups(5)


@given(k=st.sampled_from([1, 2, 4, 8, 16, 32]), placement=st.sampled_from(["tray", "strided", "random"]),
       seed=st.integers(0, 10))
@settings(max_examples=30, deadline=None)
def test_groups_partition_the_chips(k, placement, seed):
    fab = small_two_tier()
    gs = fab.groups(k, placement, seed)
    assert all(len(g) == k for g in gs)
    assert sorted(sum(gs, [])) == list(range(32))


def test_levels_are_nested_and_structural():
    fab = topo.load("maia200-16plane", chips=256)
    trays, leaves, everything = fab.levels()
    assert len(trays) == 64 and len(leaves) == 4 and everything == [list(range(256))]
    for lvl_in, lvl_out in [(trays, leaves), (leaves, everything)]:
        owner = {r: i for i, g in enumerate(lvl_out) for r in g}
        assert all(len({owner[r] for r in g}) == 1 for g in lvl_in)
    assert [len(x) for x in topo.load("tpu-v5p").levels()] == [16, 4, 1]
    assert [len(x) for x in topo.load("h100-clos").levels()] == [128, 4, 1]


# ------------------------------------------------------------------------------------------ property tests
@given(
    tray=st.sampled_from([1, 2, 4]),
    planes=st.integers(1, 3),
    chips_per_leaf_trays=st.integers(1, 3),
    leaves=st.integers(1, 4),
    spines=st.sampled_from([1, 2, 4]),
    seed=st.integers(0, 100),
)
@settings(max_examples=25, deadline=None)
def test_two_tier_random_shapes_match_bfs_and_closed_forms(tray, planes, chips_per_leaf_trays, leaves, spines,
                                                            seed):
    C = tray * chips_per_leaf_trays
    N = C * leaves
    fab = topo.two_tier(chips=N, tray_size=tray, planes=planes, tray_ports=(tray - 1), ports=tray - 1 + planes,
                        switch_radix=64, leaf_down=C, leaf_uplinks=4, spines=spines,
                        chip="maia200")
    S = spines if leaves > 1 else 0
    assert fab.n_edges == N * (tray - 1) + 2 * N * planes + 2 * planes * leaves * S
    rng = np.random.default_rng(seed)
    pairs = list(zip(rng.integers(0, N, 40).tolist(), rng.integers(0, N, 40).tolist()))
    assert_formula_equals_bfs(fab, pairs)
    counts = fab.routes(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])).path_counts()
    for (s, d), c in zip(pairs, counts):
        if s == d or s // tray == d // tray:
            assert c == 1
        elif s // C == d // C:
            assert c == planes
        else:
            assert c == planes * spines


@given(dims=st.lists(st.integers(2, 5), min_size=1, max_size=3), seed=st.integers(0, 50))
@settings(max_examples=20, deadline=None)
def test_torus_random_shapes_minimal_equals_bfs(dims, seed):
    fab = topo.torus(dims=dims, routing="minimal")
    rng = np.random.default_rng(seed)
    n = fab.n_chips
    pairs = list(zip(rng.integers(0, n, 25).tolist(), rng.integers(0, n, 25).tolist()))
    assert_formula_equals_bfs(fab, pairs)


def test_lazy_graph_matches_arrays_and_add_edges_from():
    import networkx as nx

    fab = topo.load("maia200-small")
    g = fab.graph
    idx = fab.node_index
    assert [(idx[u], idx[v]) for u, v in g.edges()] == list(zip(fab.edge_src.tolist(), fab.edge_dst.tolist()))
    ref = nx.DiGraph()
    ref.add_nodes_from(g.nodes(data=True))
    ref.add_edges_from(g.edges(data=True))
    assert list(ref.edges(data=True)) == list(g.edges(data=True))
    assert all(list(ref.pred[n]) == list(g.pred[n]) for n in g)
    bw = np.array([d["bandwidth"] for _, _, d in g.edges(data=True)])
    assert np.array_equal(bw, fab.edge_bandwidth)


def test_node_naming_and_edge_ids():
    fab = topo.load("maia200-16plane", chips=256)
    p = fab.paths("c0", "c100")[0]
    assert p[0] == "c0" and p[1] == "p0.leaf0" and p[2] == "p0.spine0" and p[3] == "p0.leaf1"
    e = fab.edge_ids(np.array([0, 0]), np.array([1, fab.index("p3.leaf0")]))
    assert e[0] == fab.edge_id("c0", "c1") and e[1] == fab.edge_id("c0", "p3.leaf0")
    with pytest.raises(topo.RoutingError):
        fab.edge_ids(np.array([0]), np.array([100]))


@pytest.mark.parametrize("name, k, shape", [("ironwood-pod", 8, (2, 2, 2)), ("ironwood-pod", 64, (4, 4, 4)),
                                            ("ironwood-pod", 16, (4, 2, 2)), ("tpu-v5p-pod", 8, (2, 2, 2)),
                                            ("ironwood-slice", 8, (2, 2, 2)), ("torus-8x8", 16, (8, 2))])
def test_torus_groups_are_compact_boxes_whose_ring_steps_one_hop(name, k, shape):
    """A TP group on a torus is cut as a TPU slice is: a group smaller than an x-line (on an OCS torus, up to a
    cube) is the most compact box, not a segment of the line, whose ring closed over k - 1 hops (ironwood-pod TP8
    decode was 13.35 ms against ironwood-slice's 8.59); every group is listed along a snake path, so consecutive
    members, and the last and the first, are torus neighbours; the groups partition the chips."""
    import numpy as np

    fab = topo.load(name)
    dims = np.asarray(fab.meta["dims"])
    strides = np.cumprod(np.r_[1, dims[:-1]])
    groups = fab.groups(k)
    assert sorted(r for g in groups for r in g) == list(range(fab.n_chips))
    for g in groups[:: max(1, len(groups) // 7)]:
        c = (np.asarray(g)[:, None] // strides) % dims
        assert tuple(int(v) for v in c.max(axis=0) - c.min(axis=0) + 1) == shape
        d = np.abs(c - np.roll(c, -1, axis=0))
        assert (np.minimum(d, dims - d).sum(axis=1) == 1).all()
    # off tori, tray groups stay consecutive ranks
    fab = topo.load("dgx-h100")
    assert fab.groups(4) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_cycle_order_of_a_box_is_a_hamiltonian_cycle_where_one_exists():
    """Every box up to 5x5x5: the order visits each point once, steps one hop, and closes (last to first one
    hop) exactly when the grid has a Hamiltonian cycle (an even number of points, two extents >= 2)."""
    import itertools

    import numpy as np

    from topo.fabric import _cycle_order

    for ext in itertools.product(range(1, 6), repeat=3):
        c = np.array(list(itertools.product(*[range(e) for e in ext])))
        o = c[_cycle_order(c)]
        assert sorted(map(tuple, o)) == sorted(map(tuple, c))
        assert (np.abs(np.diff(o, axis=0)).sum(axis=1) == 1).all()
        closes = np.abs(o[0] - o[-1]).sum() == 1
        assert closes == (len(c) % 2 == 0 and sum(e >= 2 for e in ext) >= 2) or len(c) == 2, ext


@pytest.mark.parametrize("dims, k", [([4, 6], 6), ([6, 4], 8), ([6, 6], 9), ([4, 6, 2], 16)])
def test_torus_groups_that_are_no_box_keep_rank_order(dims, k):
    """Larger 'tray' groups are consecutive ranks (x-lines, then planes); where those are no box (k = 6 on a
    4 x 6 torus: a line and a half) they keep their rank order, each step at most one hop per dimension (x, or a wrap to the next line or
    plane): the comb order of a box listed such a group with 3-hop steps along one dimension."""
    import numpy as np

    fab = topo.torus(dims=dims)
    d = np.asarray(dims)
    strides = np.cumprod(np.r_[1, d[:-1]])
    for g in fab.groups(k):
        c = (np.asarray(g)[:, None] // strides) % d
        ext = c.max(axis=0) - c.min(axis=0) + 1
        if len(g) == int(np.prod(ext)):  # a box: one hop a step, the cycle closes
            continue
        assert g == list(range(g[0], g[0] + k))
        step = np.abs(np.diff(c, axis=0))  # next rank: one hop along x, or a wrap to the next line / plane
        assert np.minimum(step, d - step).max() <= 1
