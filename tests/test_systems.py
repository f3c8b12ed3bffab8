"""The systems the mission names beside Maia 200 (issue 12): Trn3 UltraServer, Cerebras CS-3, Groq LPU,
TPU Ironwood, and the disaggregated Trn3 -> CS-3 fleet.

Fabrics are checked against closed forms (chip, switch and link counts, per-tier bandwidths) and their
formula routers against BFS; SRAM-only placements against the closed-form chip count; the wafer's spatial
pipeline against its formula; the fleet's KV transfers against the traffic engine and ``size / bw + hops``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

import topo
from cli import main
from inference import MODELS, Deployment, estimate
from inference.layout import auto_layout, pipeline_stages
from inference.placement import chips_needed
from topo import BFSRouter, CapacityError, SpecError

NEW_FABRICS = ["trn3-ultraserver", "trn3-ultraserver-gen1", "trn3-ultraserver-x4", "cs3", "cs3-cluster",
               "groq-rack", "ironwood-pod", "ironwood-slice"]


def _out_bandwidth(fab, rank: int) -> float:
    return float(fab.edge_bandwidth[fab.edge_src == rank].sum())


def _same_paths(fab, s, d) -> int:
    """Number of (s, d) pairs whose formula-router paths differ from BFS shortest paths."""
    a = fab.routes(s, d)
    b = BFSRouter().routes(fab, s, d)
    return sum(sorted(map(tuple, a.edges_of(i))) != sorted(map(tuple, b.edges_of(i))) for i in range(len(s)))


# ---------------------------------------------------------------------------------------------- Trn3 UltraServer
def test_trn3_gen2_counts_and_tier_bandwidths():
    fab = topo.load("trn3-ultraserver")
    kinds = np.array([fab.node_data[n]["kind"] for n in fab.nodes])
    assert fab.n_chips == 144 == 2 * 18 * 4
    assert (kinds == "switch").sum() == 36 + 2  # one L1 per server, one L2 per rack
    # physical links: chip-L1, chip-L2 for each chip, plus 72 cross-rack direct links; both directions
    assert fab.n_edges == 2 * (144 + 144 + 72)
    per_dir = 1.28e12
    for r in (0, 77, 143):
        assert _out_bandwidth(fab, r) == pytest.approx(per_dir, rel=1e-12)
    m = fab.meta
    assert m["server_bandwidth"] == pytest.approx(per_dir * 4 / 11)
    assert m["rack_bandwidth"] == pytest.approx(per_dir * 5 / 11)
    assert m["cross_rack_bandwidth"] == pytest.approx(per_dir * 2 / 11)
    # the direct link joins the chip in the same position of the other rack
    assert fab.edge_id(fab.nodes[5], fab.nodes[5 + 72]) >= 0


def test_trn3_gen1_and_efa_counts():
    g1 = topo.load("trn3-ultraserver-gen1")
    assert g1.n_chips == 64 and g1.n_nodes == 64 + 4 + 1
    assert _out_bandwidth(g1, 0) == pytest.approx(1.28e12)
    x4 = topo.load("trn3-ultraserver-x4")
    assert x4.n_chips == 4 * 144
    # EFA: 200 Gb/s per chip -> 28,800 Gb/s per Gen2 UltraServer, the published figure
    efa = [n for n in x4.nodes if x4.node_data[n].get("scale_out")]
    assert len(efa) == 1
    e_idx = x4.node_index[efa[0]]
    into = x4.edge_bandwidth[(x4.edge_dst == e_idx) & (x4.edge_src < 144)]
    assert len(into) == 144 and into.sum() * 8 == pytest.approx(28_800e9)


@pytest.mark.parametrize("kw", [dict(racks=2, servers_per_rack=3, chips_per_server=2),
                                dict(racks=1, servers_per_rack=3, chips_per_server=4)])
def test_ultraserver_router_equals_bfs(kw):
    fab = topo.ultraserver(**kw)
    s, d = (a.ravel() for a in np.meshgrid(np.arange(fab.n_chips), np.arange(fab.n_chips), indexing="ij"))
    assert _same_paths(fab, s, d) == 0


def test_ultraserver_router_across_ultraservers_equals_bfs():
    fab = topo.ultraserver(racks=2, servers_per_rack=2, chips_per_server=2, ultraservers=3)
    s, d = (a.ravel() for a in np.meshgrid(np.arange(fab.n_chips), np.arange(fab.n_chips), indexing="ij"))
    keep = s // 8 != d // 8
    assert _same_paths(fab, s[keep], d[keep]) == 0
    # inside an UltraServer the scale-up paths never touch EFA
    r = fab.routes(np.array([0]), np.array([7]))
    efa = fab.node_index["efa"]
    assert not np.isin(fab.edge_dst[r.path_edges], [efa]).any()


def test_ultraserver_rejects_three_racks():
    with pytest.raises(SpecError, match="racks"):
        topo.ultraserver(racks=3)


def test_gen1_ultraserver_refuses_cross_rack_bandwidth():
    """One rack has no cross-rack links: the key was ignored whatever its value (--set cross_rack_bandwidth=nan)."""
    with pytest.raises(SpecError, match="^cross_rack_bandwidth: a 1-rack"):
        topo.ultraserver(racks=1, servers_per_rack=4, chips_per_server=16, cross_rack_bandwidth="100GB/s")
    two = topo.ultraserver(racks=2, servers_per_rack=2, chips_per_server=2, cross_rack_bandwidth="100GB/s")
    assert two.meta["cross_rack_bandwidth"] == 100e9


# ---------------------------------------------------------------------------------------------- Ironwood
def test_ironwood_pod_counts_and_links():
    fab = topo.load("ironwood-pod")
    assert fab.n_chips == 9216 == 144 * 64
    assert fab.meta["cubes"] == 144 and fab.meta["ocs"]
    assert fab.n_edges == 9216 * 6  # 3D torus with wraparound: 6 neighbours each
    assert np.all(fab.edge_bandwidth == 100e9)
    assert _out_bandwidth(fab, 0) == pytest.approx(600e9)  # 1.2 TB/s bidirectional ICI


def test_ironwood_slices_the_ocs_allows():
    s = topo.load("ironwood-slice")
    assert s.n_chips == 128 and s.meta["cubes"] == 2 and s.n_edges == 128 * 6
    inside = topo.ocs_torus(dims=[2, 2, 2])  # inside one cube: no OCS, a mesh (size-2 dims: one link)
    assert not inside.meta["ocs"] and inside.n_edges == 8 * 3
    with pytest.raises(SpecError, match="dims\\[2\\]"):
        topo.ocs_torus(dims=[4, 4, 6])
    with pytest.raises(CapacityError, match="9216"):
        topo.ocs_torus(dims=[16, 24, 32])


def test_ironwood_slice_routes_are_shortest():
    """The torus router's dimension-ordered paths are a subset of BFS's shortest paths, all of minimal length."""
    fab = topo.ocs_torus(dims=[4, 4, 4])
    rng = np.random.default_rng(0)
    s, d = rng.integers(0, 64, 60), rng.integers(0, 64, 60)
    a, b = fab.routes(s, d), BFSRouter().routes(fab, s, d)
    for i in range(len(s)):
        bfs = set(map(tuple, b.edges_of(i)))
        assert all(tuple(p) in bfs for p in a.edges_of(i))


# ---------------------------------------------------------------------------------------------- Groq
def test_groq_small_counts_every_port_used():
    K, Nn, R, rp, gp = 4, 3, 3, 2, 2
    fab = topo.groq_dragonfly(node_size=K, nodes_per_rack=Nn, racks=R, rack_ports=rp, global_ports=gp,
                              link_bandwidth="10GB/s")
    N = K * Nn * R
    assert fab.n_chips == N and fab.n_nodes == N  # chips are the routers: no switches
    ports = (K - 1) + rp + gp
    links_out = np.bincount(fab.edge_src, weights=fab.edge_links, minlength=N)
    assert np.all(links_out == ports)
    assert int(fab.edge_links.sum()) // 2 == N * ports // 2  # physical links
    assert _out_bandwidth(fab, 5) == pytest.approx(ports * 10e9)
    assert fab.meta["links_per_node_pair"] == K * rp // (Nn - 1)
    assert fab.meta["links_per_rack_pair"] == K * Nn * gp // (R - 1)


def test_groq_rack_preset_counts():
    fab = topo.load("groq-rack")
    assert fab.n_chips == 10 * 9 * 8
    links_out = np.bincount(fab.edge_src, weights=fab.edge_links, minlength=fab.n_chips)
    assert np.all(links_out == 16)  # 7 node + 5 rack + 4 global = the chip's 16 C2C links
    assert _out_bandwidth(fab, 0) == pytest.approx(16 * 14e9)


def _all_pairs(n):
    return (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(n), indexing="ij"))


def test_groq_router_two_racks_equals_bfs():
    fab = topo.groq_dragonfly(node_size=4, nodes_per_rack=1, racks=2, rack_ports=1, global_ports=1,
                              link_bandwidth="10GB/s")
    assert fab.meta["routing"] == "hierarchical-minimal"
    s, d = _all_pairs(fab.n_chips)
    assert _same_paths(fab, s, d) == 0


@pytest.mark.parametrize("kw", [dict(node_size=2, nodes_per_rack=3, racks=1), dict(node_size=3, nodes_per_rack=4, racks=1),
                                dict(node_size=2, nodes_per_rack=3, racks=4), dict(node_size=4, racks=4, global_ports=3)])
def test_groq_router_paths_are_minimal_hierarchical(kw):
    """Every route is a walk s -> d; where BFS's shortest paths are as short, the routes are among them;
    BFS is shorter only through a third rack (a detour hierarchical minimal routing never takes)."""
    kw = {"rack_ports": 1, "global_ports": 1, "link_bandwidth": "10GB/s", "nodes_per_rack": 1, **kw}
    fab = topo.groq_dragonfly(**kw)
    assert fab.meta["routing"] == "hierarchical-minimal"
    s, d = _all_pairs(fab.n_chips)
    a, b = fab.routes(s, d), BFSRouter().routes(fab, s, d)
    src, dst = fab.edge_src, fab.edge_dst
    per_rack = kw["node_size"] * kw["nodes_per_rack"]
    for i in range(len(s)):
        mine, bfs = set(map(tuple, a.edges_of(i))), set(map(tuple, b.edges_of(i)))
        for p in map(np.asarray, mine):
            if len(p):
                assert src[p[0]] == s[i] and dst[p[-1]] == d[i] and (dst[p[:-1]] == src[p[1:]]).all()
        lm, lb = min(map(len, mine)), min(map(len, bfs))
        assert lm >= lb
        if lm == lb:
            assert mine <= bfs
        else:
            assert kw["racks"] > 2 and s[i] // per_rack != d[i] // per_rack


def test_groq_router_scales():
    fab = topo.groq_dragonfly(racks=145)  # the published maximum: 10,440 chips
    assert fab.n_chips == 10_440 and fab.meta["links_per_rack_pair"] == 2
    n = fab.n_chips
    r = fab.routes(np.arange(n), (np.arange(n) + 1) % n)  # a ring: vectorised, no graph search
    assert (r.path_counts() >= 1).all() and r.path_lengths().max() <= 7


def test_groq_rejects_uneven_rack_ports():
    with pytest.raises(SpecError, match="rack_ports"):
        topo.groq_dragonfly(node_size=8, nodes_per_rack=4, rack_ports=5)


# ---------------------------------------------------------------------------------------------- CS-3
def test_cs3_fabrics():
    one = topo.load("cs3")
    assert one.n_chips == 1 and _out_bandwidth(one, 0) == pytest.approx(150e9)  # 12 x 100 GbE
    cl = topo.load("cs3-cluster")
    assert cl.n_chips == 64 and cl.n_nodes == 64 + 12
    assert _out_bandwidth(cl, 63) == pytest.approx(150e9)


# ---------------------------------------------------------------------------------------------- SRAM placement
def _closed_form(model: str, chip: str, w: float, batch: int, context: int) -> int:
    m, c = MODELS[model], topo.chip_preset(chip)
    return math.ceil((m.param_count() * w + batch * context * m.kv_bytes_per_token(w)) / (c.sram_bytes * 0.9))


def test_cs3_70b_spreads_over_the_closed_form_number_of_wafers():
    n = _closed_form("llama3.1-70b", "cs3", 2.0, 1, 2304)
    assert n == 4  # Cerebras: "70B models fit on as few as four systems"
    assert chips_needed(MODELS["llama3.1-70b"], topo.chip_preset("cs3"), 2.0, 2.0, 1, 2304) == n
    rep = estimate("llama3.1-70b", "cs3-cluster", tp=None, pp=None, batch=1, prompt=2048, output=256,
                   dtype="bf16", dp=1)
    assert (rep.tp, rep.pp) == (1, n) and rep.memory["chips_needed"] == n
    with pytest.raises(CapacityError, match="needs 4 systems"):
        estimate("llama3.1-70b", "cs3-cluster", tp=1, pp=3, batch=1, prompt=2048, output=256, dtype="bf16", dp=1)
    with pytest.raises(CapacityError, match="needs 4 systems .* 'cs3' has 1"):
        estimate("llama3.1-70b", "cs3", tp=None, pp=None, batch=1, prompt=2048, output=256, dtype="bf16")


def test_groq_8b_spreads_over_the_closed_form_number_of_chips():
    fab = topo.groq_dragonfly(racks=1)  # one rack, 72 chips
    n = _closed_form("llama3.1-8b", "groq-lpu", 1.0, 1, 512)
    tp, pp = auto_layout("llama3.1-8b", fab, dtype="fp8", batch=1, prompt=256, output=256)
    assert tp == 8 and tp * pp >= n and tp * (pp - 1) < n + 8  # the fewest whole stages at or above n
    dep = Deployment("llama3.1-8b", fab, tp=tp, pp=pp, dp=1)
    mem = dep.memory(1, 256, 256)
    assert mem["fits"] and mem["chips_needed"] == n
    assert mem["weights"] == pytest.approx(MODELS["llama3.1-8b"].param_count() / (tp * pp))
    if pp > 1:
        assert not Deployment("llama3.1-8b", fab, tp=tp, pp=pp - 1, dp=1).memory(1, 256, 256)["fits"]
    assert pipeline_stages("llama3.1-8b", fab, 8) == pp
    assert pipeline_stages("llama3.1-8b", "dgx-h100", 8) == 1


def test_wafer_stage_is_a_spatial_pipeline():
    """T_stage = (Lw + m - 1) x (R + ov / Lw): R the full-wafer roofline of one micro-batch, ov its op latencies."""
    dep = Deployment("llama3.1-70b", "cs3-cluster", tp=1, pp=4, dp=1, dtype="bf16")
    pl = dep.memory(1, 2304, 0)["placement"]
    Lw = 20
    for b, m in ((1, 1), (8, 8), (40, 20)):
        base = dep.step(math.ceil(b / m), 1, 2048, "decode", pl, spatial=False)
        ov = sum(r["layers"] for r in base.rows) * dep.op_overhead
        want = (Lw + m - 1) * ((base.compute - ov) + ov / Lw)
        assert dep.step(b, 1, 2048, "decode", pl).compute == pytest.approx(want, rel=1e-12)
    # batch 1: Lw x slower than treating the wafer as one big-SRAM chip, for the roofline part
    one = dep.step(1, 1, 2048, "decode", pl, spatial=False)
    ov = sum(r["layers"] for r in one.rows) * dep.op_overhead
    assert dep.step(1, 1, 2048, "decode", pl).compute == pytest.approx(Lw * (one.compute - ov) + ov)


# ---------------------------------------------------------------------------------------------- disaggregated fleet
def test_disagg_trn3_cs3_kv_transfers_equal_engine_and_closed_form():
    from fleet import Trace, build_kv_fabric, load_fleet, simulate_serving
    from traffic import simulate_arrays

    spec = load_fleet("disagg-trn3-cs3")
    assert [p.fabric for p in spec.pools] == ["trn3-ultraserver", "cs3-cluster"]
    # one request alone: size / NIC bandwidth + 4 hops (NIC, leaf-core, core-leaf, NIC) x 5 us
    tr = Trace(np.array([0.0]), np.array([3000]), np.array([4]))
    res = simulate_serving("disagg-trn3-cs3", tr, slo_ttft=1.0, slo_tpot=0.05)
    size = 3000 * 327_680.0  # llama3.1-70b bf16 KV: 80 layers x 2 x 8 heads x 128 x 2 B per token
    assert res.kv_time[0] == pytest.approx(size / 200e9 + 4 * 5e-6, rel=1e-9)
    # a burst: transfers contend on the NICs and uplinks exactly as the engine says
    n = 12
    tr = Trace(np.zeros(n), np.full(n, 6000), np.full(n, 3))
    res = simulate_serving("disagg-trn3-cs3", tr, slo_ttft=5.0, slo_tpot=0.05)
    sel = np.isfinite(res.kv_time)
    assert sel.sum() == n
    fab = build_kv_fabric(spec.kv_network, [p.replicas for p in spec.pools], [p.name for p in spec.pools])
    start = res.arrival[sel] + res.ttft[sel]
    sz = res.prompt[sel] * 327_680.0
    arr = simulate_arrays(fab, np.asarray(res.prefill_replica[sel]), np.asarray(res.decode_replica[sel]), sz,
                          start=start).arrival
    assert np.allclose(start + res.kv_time[sel], arr, rtol=1e-9, atol=1e-12)
    assert np.any(res.kv_time[sel] > 6000 * 327_680.0 / 200e9 * 1.01)  # contention happened


# ---------------------------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("name", NEW_FABRICS)
def test_topo_show_and_plot(name, tmp_path):
    r = CliRunner().invoke(main, ["topo", "show", name])
    assert r.exit_code == 0, r.output
    assert "chips" in r.output
    out = tmp_path / f"{name}.png"
    r = CliRunner().invoke(main, ["topo", "plot", name, "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 1000


@pytest.mark.parametrize("name", NEW_FABRICS)
def test_infer_llama70b_runs_and_names_the_chip_count(name):
    args = ["infer", "--model", "llama3.1-70b", "--fabric", name, "--batch", "1", "--prompt", "512", "--output",
            "16", "--dp", "1"] + (["--dtype", "bf16"] if name.startswith("cs3") else [])
    r = CliRunner().invoke(main, args)
    if name == "cs3":  # one wafer: the memory check says how many systems the model needs
        assert r.exit_code == 2 and "needs 4 systems" in r.output and "Traceback" not in r.output
        return
    assert r.exit_code == 0, r.output
    assert "TPOT" in r.output and "the model needs >=" in r.output


def test_plan_mixes_the_systems_and_its_plans_resimulate_within_slo():
    from fleet import plan, simulate_serving

    res = plan("llama3.1-70b", 2.0, 1.0, 0.02, ["trn3-ultraserver-gen1", "cs3-cluster"], duration=10.0,
               tps=(1, 8), batches=(32,))
    assert res.best is not None
    cs3 = [p for p in res.points if p.feasible and any(q.fabric == "cs3-cluster" for q in p.fleet.pools)]
    assert cs3, "a CS-3 deployment (colocated or as the decode pool) should meet the SLOs"
    # CS-3 replicas span at least the wafers their SRAM needs (fp8: 2; pipelined at tp 1), never one wafer
    assert all(q.tp * q.pp >= 2 for p in cs3 for q in p.fleet.pools if q.fabric == "cs3-cluster")
    assert any(q.tp == 1 and q.pp == 2 for p in cs3 for q in p.fleet.pools if q.fabric == "cs3-cluster")
    for p in (res.best.best, cs3[0]):
        again = simulate_serving(p.fleet, model="llama3.1-70b", rate=2.0, duration=10.0, slo_ttft=1.0,
                                 slo_tpot=0.02)
        assert np.mean(again.met_slo) >= 0.9
