"""inference communication: the times in a Report equal the collectives' own results for the same groups."""

from __future__ import annotations

from functools import partial

import networkx as nx
import pytest
from conftest import star_graph

import collectives
from inference import ModelSpec, clear_cache
from inference import StepModel as _StepModel
from inference import estimate as _estimate
from topo import ChipSpec, Fabric

# physics layer: the roofline (stack="ideal"), whose communication is the collectives' own results
estimate = partial(_estimate, stack="ideal")
StepModel = partial(_StepModel, stack="ideal")

CHIP = ChipSpec("testchip", flops={"fp8": 1000e12, "bf16": 500e12}, hbm_bytes=80e9, hbm_bandwidth=2e12,
                tdp=500.0, ports=1, port_bandwidth=100e9)
SMALL = ModelSpec("small", layers=4, hidden=1024, heads=16, kv_heads=8, head_dim=64, ffn=4096, vocab=1000)
MOE = ModelSpec("smallmoe", layers=4, hidden=1024, heads=16, kv_heads=8, head_dim=64, ffn=4096, vocab=1000,
                experts=16, top_k=2, moe_ffn=1024)


def star(n: int, bw: float = 100e9, lat: float = 1e-6) -> Fabric:
    """n chips on one non-blocking switch."""
    return Fabric.from_graph(star_graph(n, bw, lat), chip=CHIP, name=f"star{n}")


def direct(fab: Fabric, kind: str, size: float, groups: list[list[int]]) -> float:
    cls = {"all_reduce": collectives.AllReduce, "all_to_all": collectives.AllToAll,
           "reduce_scatter": collectives.ReduceScatter, "all_gather": collectives.AllGather}[kind]
    # stack="ideal" asks collectives for the physics alone (ideal=True)
    return max(r.time for r in collectives.run([cls(size, group=g) for g in groups], fab, ideal=True))


def test_tp_all_reduce_time_equals_collectives():
    fab = star(16)
    clear_cache()
    r = estimate(SMALL, fab, tp=8, batch=4, prompt=64, output=4)
    assert r.dp == 2 and r.comm
    groups = [list(range(0, 8)), list(range(8, 16))]
    for row in r.comm:
        assert row["collective"] == "all_reduce" and row["groups"] == 2 and row["group_size"] == 8
        assert row["time"] == pytest.approx(direct(fab, "all_reduce", row["size"], groups), rel=1e-12)
    dec = [x for x in r.comm if x["phase"] == "decode"][0]
    assert dec["size"] == 4 * 1024 * 2  # batch x hidden x 2 bytes (BF16 activations with FP8 weights)
    step = [x for x in r.layers if x["phase"] == "decode" and x["scope"] == "step"][0]
    assert step["communication"] == pytest.approx(4 * 2 * dec["time"])  # 4 layers x 2 all-reduces


def test_overlap_hides_communication():
    fab = star(8)
    a = estimate(SMALL, fab, tp=8, batch=4, prompt=64, output=4, overlap=False)
    b = estimate(SMALL, fab, tp=8, batch=4, prompt=64, output=4, overlap=True)
    da, db = a.to_dict(), b.to_dict()
    assert da["decode_exposed_communication_s"] == pytest.approx(da["decode_communication_s"])
    assert da["decode_communication_s"] > 0
    # here each layer's compute outlasts its two all-reduces (compute ~2x comm), so overlap hides all of
    # the communication: TPOT drops by exactly the serial communication time and nothing stays exposed
    # (a no-op overlap, or one hiding more than the communication, fails this)
    assert da["decode_compute_s"] > 1.5 * da["decode_communication_s"]
    assert db["decode_exposed_communication_s"] == pytest.approx(0.0, abs=1e-15)
    assert a.tpot - b.tpot == pytest.approx(da["decode_communication_s"], rel=1e-9)
    assert da["tpot_overlapped_s"] == pytest.approx(b.tpot)


def test_ep_all_to_all_time_equals_collectives():
    fab = star(8)
    r = estimate(MOE, fab, tp=1, ep=8, batch=16, prompt=32, output=4)
    a2a = [x for x in r.comm if x["collective"] == "all_to_all"]
    assert {x["op"] for x in a2a} == {"ep_dispatch", "ep_combine"}
    for row in a2a:
        assert row["time"] == pytest.approx(direct(fab, "all_to_all", row["size"], [list(range(8))]), rel=1e-12)
    dec = [x for x in a2a if x["phase"] == "decode"][0]
    assert dec["size"] == 16 / 8 * 2 * 1024 * 2  # tokens per chip x top_k x hidden x 2 bytes (bf16)


def test_pipeline_send_and_step_model():
    fab = star(4)
    r = estimate(SMALL, fab, tp=1, pp=4, batch=8, prompt=64, output=4)
    assert r.extra["pp_send_decode_s"] > 0
    sm = StepModel(SMALL, fab, tp=2)
    assert sm.chips == 2
    assert sm.decode_time(4, 100) == pytest.approx(
        estimate(SMALL, fab, tp=2, batch=4, prompt=100, output=2).tpot, rel=1e-12)


def test_contention_between_replicas_shows():
    """Two TP groups forced to share one slow link take longer than one group alone."""
    g = nx.DiGraph()
    for r in range(4):
        g.add_node(r, kind="chip", rank=r, tray=r // 2)
    g.add_node("a", kind="switch", tier=1)
    g.add_node("b", kind="switch", tier=1)
    for r in range(4):
        sw = "a" if r % 2 == 0 else "b"
        g.add_edge(r, sw, bandwidth=100e9, latency=1e-6)
        g.add_edge(sw, r, bandwidth=100e9, latency=1e-6)
    g.add_edge("a", "b", bandwidth=50e9, latency=1e-6)
    g.add_edge("b", "a", bandwidth=50e9, latency=1e-6)
    fab = Fabric.from_graph(g, chip=CHIP, name="bottleneck")
    one = estimate(SMALL, fab, tp=2, dp=1, batch=64, prompt=16, output=2)
    two = estimate(SMALL, fab, tp=2, dp=2, batch=64, prompt=16, output=2)
    t1 = [x["time"] for x in one.comm if x["phase"] == "decode"][0]
    t2 = [x["time"] for x in two.comm if x["phase"] == "decode"][0]
    assert t2 > t1


def test_tray_first_placement_beats_strided_on_maia_design():
    """TP groups inside a tray (direct links) communicate faster than groups strided across leaves."""
    from topo import load

    fab = load("maia200-small")
    tray = estimate("llama3.1-8b", fab, tp=4, batch=16, prompt=512, output=16, placement="tray")
    strided = estimate("llama3.1-8b", fab, tp=4, batch=16, prompt=512, output=16, placement="strided")
    t_tray = [c["time"] for c in tray.comm if c["phase"] == "decode"][0]
    t_str = [c["time"] for c in strided.comm if c["phase"] == "decode"][0]
    assert t_tray < t_str and tray.tpot < strided.tpot
    assert tray.dp == fab.n_chips // 4


def test_ep_with_tp_uses_reduce_scatter_all_to_all_all_gather():
    fab = star(8)
    r = estimate(MOE, fab, tp=2, ep=8, batch=16, prompt=32, output=4)
    dec = {x["op"]: x for x in r.comm if x["phase"] == "decode"}
    assert set(dec) == {"attn_reduce_scatter", "ep_dispatch", "ep_combine", "moe_all_gather"}
    # 4 attention groups of tp=2 share the 16 sequences: 4 tokens each, hidden 1024, bf16
    assert dec["attn_reduce_scatter"]["size"] == dec["moe_all_gather"]["size"] == 4 * 1024 * 2
    assert dec["attn_reduce_scatter"]["groups"] == 4 and dec["ep_dispatch"]["group_size"] == 8
    assert dec["attn_reduce_scatter"]["time"] == pytest.approx(
        direct(fab, "reduce_scatter", 4 * 1024 * 2, [[0, 1], [2, 3], [4, 5], [6, 7]]), rel=1e-12)


MOE4 = ModelSpec("smallmoe-top4", layers=4, hidden=1024, heads=16, kv_heads=8, head_dim=64, ffn=4096, vocab=1000,
                 experts=16, top_k=4, moe_ffn=1024)


@pytest.mark.parametrize("dtype,width", [("fp8", 1.0), ("bf16", 2.0)])
def test_trtllm_attention_dp_ep_up_to_top_k_gathers(dtype, width):
    """TensorRT-LLM attention DP + EP with ep <= top_k (CutlassFusedMoE: no all-to-all) all-gathers the quantised
    tokens with their routing and reduce-scatters the BF16 outputs: the sizes are the closed form, not top_k copies."""
    fab = star(4)
    r = _estimate(MOE4, fab, tp=1, ep=4, batch=16, prompt=32, output=4, dtype=dtype, stack="trtllm",
                  backend="analytic")
    dec = {x["op"]: x for x in r.comm if x["phase"] == "decode"}
    assert set(dec) == {"ep_dispatch", "ep_combine"}
    assert dec["ep_dispatch"]["collective"] == "all_gather" and dec["ep_combine"]["collective"] == "reduce_scatter"
    # 16 decode tokens of the stage x (hidden x the kernel's input width + top_k x (int32 id + fp32 weight))
    assert dec["ep_dispatch"]["size"] == pytest.approx(16 * (1024 * width + 4 * 8))
    assert dec["ep_combine"]["size"] == pytest.approx(16 * 1024 * 2)  # the outputs, BF16
    assert dec["ep_dispatch"]["group_size"] == 4
    # each rank receives 3/4 of the gathered tokens, where the all-to-all model sent top_k = 4 copies of its own
    # quarter (3/4 off-rank): fewer bytes at 8 bits, the same at BF16 but for the routing
    gathered = 3 / 4 * dec["ep_dispatch"]["size"]
    a2a = 3 / 4 * 16 / 4 * 4 * 1024 * 2
    assert gathered == pytest.approx(a2a * width / 2 + 3 / 4 * 16 * 32)


def test_all_to_all_kept_above_top_k_and_off_trtllm():
    """ep > top_k (TensorRT-LLM's all-to-all condition) and the ideal roofline keep the all-to-all; vLLM and SGLang
    gather by default at any EP degree (tests/test_moe_exchange_stacks.py)."""
    fab = star(4)
    kw = dict(tp=1, ep=4, batch=16, prompt=32, output=4, backend="analytic")
    r = _estimate(MOE, fab, stack="trtllm", **kw)
    assert {x["collective"] for x in r.comm if x["op"].startswith("ep_")} == {"all_to_all"}
    r = estimate(MOE4, fab, tp=1, ep=4, batch=16, prompt=32, output=4)
    assert {x["collective"] for x in r.comm} == {"all_to_all"}
