"""In-network reduction with a finite switch reduction rate (SwitchSpec.reduction_bandwidth / NVLS)."""

from __future__ import annotations

import networkx as nx
import pytest
from conftest import star_graph
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import collectives as C
import topo

B = 1e9  # bytes/s per link direction
H = 1e-6  # s per hop
S = 2.0**24


def rel(a, b):
    return abs(a - b) / abs(b)


def star(n, red=None, bw=B, hop=H, planes=1):
    """n chips on ``planes`` reducing switches (one link each per plane); switches reduce at ``red``/edge."""
    g = star_graph(n, bw, hop, switch="sw", planes=planes, inr=True, reduction_bandwidth=red)
    if planes == 1:  # one plane keeps the name sw0 and its plane attribute
        g = nx.relabel_nodes(g, {"sw": "sw0"})
        g.nodes["sw0"]["plane"] = 0
    return topo.Fabric.from_graph(g)


def closed_form(S, R, B, c, k=1, L=1, a=H):
    """L + c - 1 slots carry a chunk up at min(R, B); the last L slots only come down at B."""
    Rp = min(R, B)
    return (L + c - 1) * (S / (k * c * Rp) + a) + L * (S / (k * c * B) + a)


@pytest.mark.parametrize("mode", ["exact", "steps"])
@pytest.mark.parametrize("chunks", [1, 8])
def test_reduction_rate_caps_the_upward_slots(mode, chunks):
    R = 0.4 * B
    fab = star(6, red=R)
    r = C.all_reduce(fab, S, algorithm="inr", chunks=chunks, mode=mode, ideal=True)
    want = closed_form(S, R, B, chunks)
    assert rel(r.time, want) < 1e-12
    assert rel(C.bounds.all_reduce(6, S, B, H, "inr", chunks=chunks, reduction_bandwidth=R), want) < 1e-15
    assert rel(r.bound, want) < 1e-12
    # bytes on the wire are unchanged: every chip still sends S up once and receives S once
    assert rel(r.link_stats.total_bytes, 2 * 6 * S) < 1e-12


def test_reduction_rate_at_or_above_line_rate_changes_nothing():
    for red in (None, B, 3 * B):
        r = C.all_reduce(star(5, red=red), S, algorithm="inr", chunks=4, ideal=True)
        assert rel(r.time, 5 * (S / (4 * B) + H)) < 1e-12
    assert C.bounds.all_reduce(5, S, B, H, "inr", chunks=4, reduction_bandwidth=2 * B) == \
        C.bounds.all_reduce(5, S, B, H, "inr", chunks=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 9), planes=st.integers(1, 3), chunks=st.integers(1, 6),
       frac=st.floats(0.05, 1.5), mode=st.sampled_from(["exact", "steps"]))
def test_simulation_equals_closed_form(n, planes, chunks, frac, mode):
    """k planes = k slices; per-edge rate R = frac x B (capped at B when frac > 1)."""
    R = frac * B
    r = C.all_reduce(star(n, red=R, planes=planes), S, algorithm="inr", chunks=chunks, mode=mode, ideal=True)
    want = C.bounds.all_reduce(n, S, B, H, "inr", chunks=chunks, slices=planes, reduction_bandwidth=R)
    assert rel(want, closed_form(S, R, B, chunks, k=planes)) < 1e-12
    assert rel(r.time, want) < 1e-9


def test_inr_beats_ring_only_when_the_reduction_rate_allows():
    """With many chunks and no latency, inr takes ~S/R and ring 2(n-1)/n S/B: inr wins iff
    R > B n / (2(n-1)). R = 0.6 B: wins on 8 ranks (needs > 0.571 B), loses on 2 (needs > B)."""
    for n, wins in ((8, True), (2, False)):
        fab = star(n, red=0.6 * B, hop=0.0)
        inr = C.all_reduce(fab, S, algorithm="inr", chunks=64, ideal=True)
        ring = C.all_reduce(fab, S, algorithm="ring", ideal=True)
        assert (inr.time < ring.time) == wins
        assert inr.algbw <= 0.6 * B * (1 + 1e-12)  # never faster than the switch reduces
    # without a cap the same switch would give algbw ~B (twice ring's on many ranks)
    assert C.all_reduce(star(8, hop=0.0), S, algorithm="inr", chunks=64, ideal=True).algbw > 0.98 * B


def test_concurrent_groups_keep_their_own_cap():
    """Per-edge rates: two disjoint groups on the same switch each reduce at R (no shared engine)."""
    R = 0.5 * B
    fab = star(8, red=R)
    ops = [C.AllReduce(S, group=g, algorithm="inr") for g in ([0, 1, 2, 3], [4, 5, 6, 7])]
    res = C.run(ops, fab, ideal=True)
    want = closed_form(S, R, B, 8)
    for r in res:
        assert rel(r.time, want) < 1e-9


def test_dgx_h100_reproduces_nvls_measurements():
    """nccl-tests on 8 x H100: NVLS all-reduce busbw ~480 GB/s (algbw ~275), ring ~360-370 GB/s
    (github.com/NVIDIA/nccl-tests/issues/212); the preset's 0.8 efficiency and 275 GB/s reduction rate."""
    fab = topo.load("dgx-h100")
    assert fab.meta["reduction_bandwidth"] == pytest.approx(275e9)
    inr = C.all_reduce(fab, 2**32, algorithm="inr", chunks=64, ideal=True)
    ring = C.all_reduce(fab, 2**32, algorithm="ring", ideal=True)
    assert 450e9 < inr.busbw < 490e9
    assert inr.algbw <= 275e9
    assert 350e9 < ring.busbw < 375e9
    assert rel(inr.time, inr.bound) < 1e-9
    # with the switch at line rate the model would overstate NVLS (the pre-calibration ~620 GB/s)
    free = C.all_reduce(topo.load("dgx-h100", reduction_bandwidth=None), 2**32, algorithm="inr", chunks=64, ideal=True)
    assert free.busbw > 600e9


def test_gb200_nvl72_reduction_rate():
    """72-GPU all_reduce_perf on GB200 NVL72 peaks at algbw ~425 GB/s (coreweave/nccl-tests pull 43)."""
    fab = topo.load("gb200-nvl72")
    r = C.all_reduce(fab, 2**32, algorithm="inr", chunks=64, ideal=True)
    assert 400e9 < r.algbw <= 425e9
    assert 800e9 < r.busbw < 850e9


def test_bad_reduction_bandwidth():
    with pytest.raises(topo.SpecError, match="reduction_bandwidth"):
        topo.SwitchSpec(radix=8, port_bandwidth=1e9, in_network_reduction=True, reduction_bandwidth=0.0)
    with pytest.raises(topo.SpecError, match="in_network_reduction"):
        topo.switch(chips=4, bandwidth="100GB/s", reduction_bandwidth="50GB/s")
    with pytest.raises(topo.ScaleupError, match="reduction_bandwidth"):
        topo.switch(chips=4, bandwidth="100GB/s", in_network_reduction=True, reduction_bandwidth="-5GB/s")
    with pytest.raises(topo.ScheduleError, match="reduction_bandwidth"):
        C.bounds.all_reduce(4, S, B, H, "inr", reduction_bandwidth=-1.0)


def test_switch_builder_splits_the_rate_over_planes():
    fab = topo.switch(chips=4, planes=4, bandwidth="400GB/s", in_network_reduction=True,
                      reduction_bandwidth="200GB/s")
    rates = [fab.node_data[s]["reduction_bandwidth"] for s in fab.switches]
    assert rates == [50e9] * 4
    assert topo.SWITCHES["nvswitch3"].reduction_bandwidth is not None


def test_two_tier_reduction_rate_per_port():
    """A small two_tier (2 planes x 2 ports per chip, 4 leaves, 4 spines, 2 links per leaf-spine pair) with
    switches reducing at 25 GB/s per port: 2 x 2 x 25 GB/s = 100 GB/s of reduction per chip bounds algbw;
    node rates scale with the links an edge merges; the simulation equals the bound."""
    kw = dict(chips=16, tray_size=2, tray_ports=2, planes=2, ports_per_plane=2, switch_radix=16, leaf_down=8,
              leaf_uplinks=8, spines=4, in_network_reduction=True)
    fab = topo.two_tier(reduction_bandwidth="25GB/s", **kw)
    cap = 2 * 2 * 25e9
    r = C.all_reduce(fab, 2**30, algorithm="inr", chunks=64, ideal=True)
    assert 0.95 * cap < r.algbw <= cap
    assert rel(r.time, r.bound) < 1e-9
    tiers = {fab.node_data[s]["tier"]: fab.node_data[s]["reduction_bandwidth"] for s in fab.switches}
    assert tiers == {1: 25e9 * 2, 2: 25e9 * fab.meta["links_per_leaf_spine"]}
    free = C.all_reduce(topo.two_tier(**kw), 2**30, algorithm="inr", chunks=64, ideal=True)
    assert free.algbw > 1.5 * cap


def two_level(leaves, per_leaf, red, bw=B, hop=H):
    """leaves x per_leaf chips; each leaf one link up to a single spine; every switch reduces at ``red``."""
    g = nx.DiGraph()
    n = leaves * per_leaf
    for r in range(n):
        g.add_node(f"c{r}", kind="chip", rank=r, tray=r)
    g.add_node("spine", kind="switch", tier=2, in_network_reduction=True, reduction_bandwidth=red)
    for q in range(leaves):
        g.add_node(f"leaf{q}", kind="switch", tier=1, in_network_reduction=True, reduction_bandwidth=red)
        for a, b in ((f"leaf{q}", "spine"), ("spine", f"leaf{q}")):
            g.add_edge(a, b, bandwidth=bw, latency=hop)
        for r in range(q * per_leaf, (q + 1) * per_leaf):
            for a, b in ((f"c{r}", f"leaf{q}"), (f"leaf{q}", f"c{r}")):
                g.add_edge(a, b, bandwidth=bw, latency=hop)
    return topo.Fabric.from_graph(g)


@pytest.mark.parametrize("mode", ["exact", "steps"])
def test_two_switch_levels_cap_only_the_upward_edges(mode):
    """L = 2: the L + c - 1 slots holding an upward chunk run at R, the last L (multicast down, including
    spine -> leaf) at B. Capping the downward spine -> leaf edge too would add a slot at R."""
    R, c = 0.3 * B, 4
    r = C.all_reduce(two_level(3, 2, R), S, algorithm="inr", chunks=c, mode=mode, ideal=True)
    want = C.bounds.all_reduce(6, S, B, H, "inr", chunks=c, levels=2, reduction_bandwidth=R)
    assert rel(want, closed_form(S, R, B, c, L=2)) < 1e-15
    assert rel(r.time, want) < 1e-9


def test_clos_reduction_keys():
    fab = topo.clos(servers=4, chips_per_server=4, leaf_radix=8, in_network_reduction=True,
                    server_in_network_reduction=True, reduction_bandwidth="40GB/s",
                    server_reduction_bandwidth="200GB/s")
    rates = {fab.node_data[s]["tier"]: fab.node_data[s].get("reduction_bandwidth") for s in fab.switches}
    assert rates[0] == 200e9 and rates[1] == 40e9
    with pytest.raises(topo.SpecError, match="server_reduction_bandwidth"):
        topo.clos(servers=4, chips_per_server=4, leaf_radix=8, server_reduction_bandwidth="200GB/s")
    assert topo.load("h100-clos").meta["server_reduction_bandwidth"] == pytest.approx(275e9)


def test_summary_shows_the_reduction_rate():
    s = topo.summary.summarize(topo.load("dgx-h100"), bisection=False)
    assert s["reduction_bandwidth"] == pytest.approx(275e9)
    assert "reduce 275 GB/s per chip" in topo.summary.format_summary(s)
    s = topo.summary.summarize(topo.load("dgx-h100", reduction_bandwidth=None), bisection=False)
    assert s["reduction_bandwidth"] is None and "at line rate" in topo.summary.format_summary(s)
