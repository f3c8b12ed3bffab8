"""Tests for inference/: model specs, op counts, roofline, memory check, estimate, StepModel."""

from __future__ import annotations

import math
from functools import partial

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference import (
    MODELS,
    ModelSpec,
    Shard,
    causal_pairs,
    distinct_experts,
    layer_ops,
    load_model,
    model_from_dict,
)
from inference import StepModel as _StepModel
from inference import estimate as _estimate
from topo import CapacityError, ChipSpec, Fabric, SpecError

# These tests check the physics layer (the roofline closed forms): stack="ideal". The serving-stack
# model (default stack) is tested in tests/test_inference_kernels.py.
estimate = partial(_estimate, stack="ideal")
StepModel = partial(_StepModel, stack="ideal")

# ---------------------------------------------------------------------- helpers
CHIP = ChipSpec("testchip", flops={"fp8": 1000e12, "bf16": 500e12}, hbm_bytes=80e9, hbm_bandwidth=2e12,
                tdp=500.0, compute_efficiency=0.5, memory_efficiency=0.8)

TINY = ModelSpec("tiny", layers=2, hidden=64, heads=4, kv_heads=2, head_dim=16, ffn=128, vocab=100)


def one_chip(chip: ChipSpec = CHIP) -> Fabric:
    g = nx.Graph()
    g.add_node(0, kind="chip")
    return Fabric.from_graph(g, chip=chip, name="single")


def ops_by_name(ops):
    return {op.name: op for op in ops}


# ---------------------------------------------------------------------- models
PUBLISHED_TOTAL = {  # billions, from the model cards / papers
    "llama3.1-8b": 8.03, "llama3.1-70b": 70.6, "llama3.1-405b": 405.9, "mixtral-8x7b": 46.7,
    "qwen3-235b-a22b": 235.0, "qwen3-30b-a3b": 30.5, "deepseek-v3": 671.0, "gpt-oss-120b": 116.8,
    "gpt-oss-20b": 20.9, "qwen3-32b": 32.8,
}
PUBLISHED_ACTIVE = {"mixtral-8x7b": 12.9, "qwen3-235b-a22b": 22.0, "qwen3-30b-a3b": 3.3, "deepseek-v3": 37.0}


@pytest.mark.parametrize("name", sorted(PUBLISHED_TOTAL))
def test_param_counts_match_published(name):
    got = MODELS[name].param_count() / 1e9
    assert got == pytest.approx(PUBLISHED_TOTAL[name], rel=0.005)


@pytest.mark.parametrize("name", sorted(PUBLISHED_ACTIVE))
def test_active_params_match_published(name):
    assert MODELS[name].active_param_count() / 1e9 == pytest.approx(PUBLISHED_ACTIVE[name], rel=0.02)


def test_gpt_oss_active_excluding_embedding_table():
    m = MODELS["gpt-oss-120b"]  # model card: 5.1 B active (the input embedding lookup not counted)
    assert (m.active_param_count() - m.vocab * m.hidden) / 1e9 == pytest.approx(5.1, rel=0.02)


def test_tiny_param_count_by_hand():
    h = 64
    attn = h * (4 + 2 * 2) * 16 + 4 * 16 * h
    per_layer = attn + 3 * h * 128 + 2 * h
    assert TINY.param_count() == 2 * per_layer + 2 * 100 * h + h


def test_yaml_unknown_key_names_it(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("layers: 2\nhidden: 64\nheads: 4\nkv_heads: 2\nhead_dim: 16\nffn: 128\nvocab: 100\nwidth: 3\n")
    with pytest.raises(SpecError, match="width"):
        load_model(str(p))


def test_yaml_roundtrip_and_base(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("layers: 2\nhidden: 64\nheads: 4\nkv_heads: 2\nhead_dim: 16\nffn: 128\nvocab: 100\n")
    m = load_model(str(p))
    assert m.name == "mine" and m.param_count() == TINY.param_count()
    m2 = model_from_dict({"base": "llama3.1-8b", "layers": 16})
    assert m2.layers == 16 and m2.hidden == 4096


def test_bad_model_values():
    with pytest.raises(SpecError, match="kv_heads"):
        ModelSpec("x", layers=2, hidden=64, heads=4, kv_heads=3, head_dim=16, ffn=128, vocab=100)
    with pytest.raises(SpecError, match="model"):
        load_model("no-such-model")


# ---------------------------------------------------------------------- op counts by hand
def test_decode_ops_hand_counts_tp1():
    b, c = 3, 10
    ops = ops_by_name(layer_ops(TINY, Shard(1, 1, 1), b, 1, c, w=1.0, a=2.0, kv=1.0, decode=True))
    cols = 4 * 16 + 2 * 2 * 16  # q + k + v widths
    assert ops["qkv"].flops == 2 * b * 64 * cols
    assert ops["qkv"].weight_bytes == 64 * cols
    assert ops["qkv"].kv_bytes == b * 2 * 2 * 16  # new K/V written
    pairs = b * (c + 1)
    assert ops["attention"].flops == 4 * 4 * 16 * pairs
    assert ops["attention"].kv_bytes == b * (c + 1) * 2 * 2 * 16
    assert ops["o_proj"].flops == 2 * b * 64 * 64 and ops["o_proj"].weight_bytes == 64 * 64
    assert ops["mlp"].flops == 6 * b * 64 * 128 and ops["mlp"].weight_bytes == 3 * 64 * 128
    assert all(op.layers == 2 for op in ops.values())


def test_ops_divided_by_tp():
    one = ops_by_name(layer_ops(TINY, Shard(1, 1, 1), 4, 1, 20, w=1.0, a=1.0, kv=1.0, decode=True))
    two = ops_by_name(layer_ops(TINY, Shard(2, 1, 1), 4, 1, 20, w=1.0, a=1.0, kv=1.0, decode=True))
    for name in ("qkv", "attention", "o_proj", "mlp"):
        assert two[name].flops == pytest.approx(one[name].flops / 2)
    assert two["mlp"].weight_bytes == one["mlp"].weight_bytes / 2
    # kv heads = 2: tp=4 leaves each rank one (replicated) kv head, tp=2 one each as well
    four = ops_by_name(layer_ops(TINY, Shard(4, 1, 1), 4, 1, 20, w=1.0, a=1.0, kv=1.0, decode=True))
    assert four["attention"].kv_bytes == two["attention"].kv_bytes


def test_prefill_attention_is_causal():
    ops = ops_by_name(layer_ops(TINY, Shard(1, 1, 1), 2, 5, 0, w=1.0, a=1.0, kv=1.0, decode=False))
    assert ops["attention"].flops == 4 * 4 * 16 * 2 * 15  # 1+2+3+4+5 pairs per sequence


@given(q=st.integers(1, 300), ctx=st.integers(0, 300), win=st.integers(0, 400))
@settings(max_examples=200, deadline=None)
def test_causal_pairs_brute_force(q, ctx, win):
    brute = sum(min(p, win) if win else p for p in range(ctx + 1, ctx + q + 1))
    assert causal_pairs(q, ctx, win) == pytest.approx(brute)


def test_distinct_experts_closed_forms():
    assert distinct_experts(8, 2, 1) == pytest.approx(2.0)
    assert distinct_experts(8, 2, 2) == pytest.approx(2 + 2 * 6 / 8)  # second token adds 2 x P(new)
    assert distinct_experts(256, 8, 10_000) == pytest.approx(256.0)


def test_moe_expert_weight_bytes_grow_with_batch():
    m = MODELS["mixtral-8x7b"]
    small = ops_by_name(layer_ops(m, Shard(1, 1, 1), 1, 1, 100, w=1.0, a=1.0, kv=1.0, decode=True))
    big = ops_by_name(layer_ops(m, Shard(1, 1, 1), 512, 1, 100, w=1.0, a=1.0, kv=1.0, decode=True))
    assert small["experts"].weight_bytes == pytest.approx(2 * m.expert_params())
    assert big["experts"].weight_bytes == pytest.approx(8 * m.expert_params())


def test_mla_kv_is_latent_and_replicated_over_tp():
    m = MODELS["deepseek-v3"]
    a = ops_by_name(layer_ops(m, Shard(1, 1, 1), 1, 1, 999, w=1.0, a=1.0, kv=1.0, decode=True))
    b = ops_by_name(layer_ops(m, Shard(8, 1, 1), 1, 1, 999, w=1.0, a=1.0, kv=1.0, decode=True))
    assert a["attention"].kv_bytes == 1000 * (512 + 64)
    assert b["attention"].kv_bytes == a["attention"].kv_bytes
    assert b["attention"].flops == pytest.approx(a["attention"].flops / 8)


# ---------------------------------------------------------------------- roofline
def test_decode_batch1_memory_bound_and_prefill_compute_bound():
    r = estimate(TINY.replace(hidden=2048, ffn=8192, heads=16, kv_heads=4, head_dim=128), one_chip(), tp=1,
                 batch=1, prompt=4096, output=16, op_overhead=0)
    decode = {o["op"]: o for o in r.ops if o["phase"] == "decode"}
    prefill = {o["op"]: o for o in r.ops if o["phase"] == "prefill"}
    assert decode["mlp"]["bottleneck"] == "hbm" and decode["qkv"]["bottleneck"] == "hbm"
    assert prefill["mlp"]["bottleneck"] == "compute"


def test_regime_switch_at_ridge_point():
    """The MLP op flips from memory- to compute-bound where FLOPs/bytes crosses peak*ce / (bw*me)."""
    h, f = 1024, 4096
    m = ModelSpec("r", layers=1, hidden=h, heads=8, kv_heads=8, head_dim=128, ffn=f, vocab=10)
    ridge = CHIP.peak_flops("fp8") * CHIP.compute_efficiency / (CHIP.hbm_bandwidth * CHIP.memory_efficiency)
    # mlp: flops 6 T h f; bytes 3 h f + T (2h + 3f) (fp8 weights and activations, 1 byte each):
    # solve 6Thf = ridge * bytes
    t_star = ridge * 3 * h * f / (6 * h * f - ridge * (2 * h + 3 * f))
    assert t_star > 2
    for tokens, expect in ((math.floor(t_star * 0.95), "hbm"), (math.ceil(t_star * 1.05), "compute")):
        r = estimate(m, one_chip(), tp=1, batch=tokens, prompt=1, output=2, op_overhead=0, act_dtype="fp8")
        mlp = [o for o in r.ops if o["phase"] == "decode" and o["op"] == "mlp"][0]
        assert mlp["bottleneck"] == expect, (tokens, t_star)


def test_doubling_hbm_bandwidth_halves_memory_bound_time():
    m = MODELS["llama3.1-8b"]
    slow = estimate(m, one_chip(), tp=1, batch=1, prompt=512, output=8, op_overhead=0)
    fast = estimate(m, one_chip(CHIP.replace(hbm_bandwidth=2 * CHIP.hbm_bandwidth)), tp=1, batch=1,
                    prompt=512, output=8, op_overhead=0)
    assert all(o["bottleneck"] == "hbm" for o in slow.ops if o["phase"] == "decode")
    assert fast.tpot == pytest.approx(slow.tpot / 2, rel=1e-12)


def test_sram_placement_when_weights_fit():
    chip = CHIP.replace(sram_bytes=200e6, sram_bandwidth=20e12)
    r = estimate(TINY, one_chip(chip), tp=1, batch=1, prompt=64, output=4)
    assert r.memory["placement"]["weights"] == "sram"
    big = estimate(MODELS["llama3.1-8b"], one_chip(chip), tp=1, batch=1, prompt=64, output=4)
    assert big.memory["placement"]["weights"] == "hbm"


# ---------------------------------------------------------------------- memory check, estimate
def test_memory_check_error_says_by_how_much_and_what_fits():
    g = nx.complete_graph(8)
    for n in g.nodes:
        g.nodes[n]["kind"] = "chip"
    for u, v in g.edges:
        g.edges[u, v].update(bandwidth=100e9, latency=1e-6)
    fab = Fabric.from_graph(g, chip=CHIP, name="mesh8")
    with pytest.raises(CapacityError, match=r"over by .*smallest tp that fits: 8"):
        estimate("llama3.1-405b", fab, tp=1, batch=1, prompt=128, output=16)
    with pytest.raises(CapacityError, match="largest batch that fits at tp=1: "):
        estimate("llama3.1-8b", one_chip(), tp=1, batch=4096, prompt=4096, output=4096)


def test_estimate_consistency_and_to_dict():
    r = estimate("llama3.1-8b", one_chip(), tp=1, batch=8, prompt=256, output=32)
    d = r.to_dict()
    assert d["latency_s"] == pytest.approx(r.ttft + 31 * r.tpot)
    assert d["tokens_per_s_replica"] == pytest.approx(8 * 32 / r.latency)
    assert d["energy_per_token_j"] == pytest.approx(CHIP.tdp * 0.7 * r.latency / (8 * 32))
    assert r.cost_per_mtok == pytest.approx(r.cost_per_hour / (d["tokens_per_s_replica"] * 3600) * 1e6)
    r2 = estimate("llama3.1-8b", one_chip(), tp=1, batch=8, prompt=256, output=32, price_per_chip_hour=2.0)
    assert r2.cost_per_hour == 2.0
    assert "TTFT" in r.table() and "ms" in r.table()
    with pytest.raises(SpecError, match="batch"):
        estimate("llama3.1-8b", one_chip(), tp=1, batch=0)
    with pytest.raises(SpecError, match="unknown option"):
        estimate("llama3.1-8b", one_chip(), tp=1, bogus=1)


@pytest.mark.parametrize("stack", ["ideal", "trtllm"])
@pytest.mark.parametrize("value", [0, -0.5, 1.5, float("nan"), "abc"])
def test_hbm_usable_outside_0_1_is_a_spec_error(stack, value):
    """hbm_usable is a fraction of memory: 1.5 sized a KV budget past the chip's HBM with no error, 0 / NaN
    blamed the chip ('no HBM or SRAM'), a string raised ValueError. All name the knob; 1.0 stays valid."""
    with pytest.raises(SpecError, match=r"^hbm_usable: (must be a fraction in \(0, 1\]|cannot parse 'abc')"):
        _estimate("llama3.1-8b", one_chip(), tp=1, pp=1, batch=4, prompt=64, output=4, stack=stack, hbm_usable=value)
    assert _estimate("llama3.1-8b", one_chip(), tp=1, pp=1, batch=4, prompt=64, output=4, stack=stack,
                     hbm_usable=1.0).memory["fits"]
    with pytest.raises(SpecError, match="^hbm_usable"):  # the SRAM-only auto layout reads it first
        _estimate("llama3.1-8b", "groq-rack", tp=None, pp=None, batch=4, prompt=64, output=4, hbm_usable=value)


@pytest.mark.parametrize("knob,value", [
    ("compute_efficiency", "high"), ("memory_efficiency", True), ("op_overhead", "abc"), ("op_overhead", True),
    ("prefill_chunk", True), ("amortisation_years", "x"), ("pue", "x"), ("power_price", "x"),
    ("price_per_chip_hour", "x"), ("capex_per_chip", "x"), ("power_factor", "x"),
])
def test_non_numeric_knobs_are_spec_errors(knob, value):
    """A knob that is not a number (a sweep YAML's 'high', a bool) is a SpecError naming it (was TypeError /
    ValueError; prefill_chunk=True ran as a 1-token chunk)."""
    with pytest.raises(SpecError, match=f"^{knob}: "):
        estimate("llama3.1-8b", one_chip(), tp=1, batch=4, prompt=64, output=4, **{knob: value})


def test_numpy_integers_are_integers():
    """batch / prompt / output as numpy integers (a loop over np.arange) run as the same ints (tp already took
    them); they were refused with 'must be an integer >= 1, got np.int64(8)'."""
    import numpy as np

    kw = dict(tp=1, batch=8, prompt=64, output=4)
    r = estimate("llama3.1-8b", one_chip(), **{k: np.int64(v) for k, v in kw.items()})
    assert r.to_dict() == estimate("llama3.1-8b", one_chip(), **kw).to_dict()
    assert type(r.batch) is int and type(r.prompt) is int and type(r.output) is int


@pytest.mark.parametrize("value", [0, -3, "abc", 2.5, True])
def test_decode_points_must_be_a_positive_integer(value):
    """decode_points (a sweep parameter) below 1 ran silently as 1; a string raised TypeError."""
    with pytest.raises(SpecError, match="^decode_points: must be an integer >= 1"):
        estimate("llama3.1-8b", one_chip(), tp=1, batch=4, prompt=64, output=4, decode_points=value)


def test_yaml_string_numbers_still_read():
    """A sweep YAML's '2e-6' (YAML 1.1 leaves it a string) stays a number for op_overhead and hbm_usable, as
    float() read it before; op_overhead also takes a time unit."""
    kw = dict(tp=1, batch=4, prompt=64, output=4)
    base = estimate("llama3.1-8b", one_chip(), op_overhead=2e-6, hbm_usable=0.9, **kw).tpot
    assert estimate("llama3.1-8b", one_chip(), op_overhead="2e-6", hbm_usable="9e-1", **kw).tpot == base
    assert estimate("llama3.1-8b", one_chip(), op_overhead="2us", **kw).tpot == base
    assert estimate("llama3.1-8b", one_chip(), compute_efficiency="5e-1", **kw).tpot == \
        estimate("llama3.1-8b", one_chip(), compute_efficiency=0.5, **kw).tpot


def test_yaml_string_numbers_host_per_seq_and_speed():
    """host_per_seq and speed, sweepable since 5987995, read a sweep YAML's 1e-5 / 5e-1 (YAML 1.1 leaves them
    strings) as op_overhead does: they were SpecErrors 'must be a finite number'; host_per_seq takes a time unit."""
    kw = dict(tp=1, batch=4, prompt=64, output=4, overlap=True)
    base = estimate("llama3.1-8b", one_chip(), host_per_seq=1e-5, **kw)
    assert estimate("llama3.1-8b", one_chip(), host_per_seq="1e-5", **kw).to_dict() == base.to_dict()
    assert estimate("llama3.1-8b", one_chip(), host_per_seq="10us", **kw).tpot == pytest.approx(base.tpot, rel=1e-12)
    slow = estimate("llama3.1-8b", one_chip(), speed=0.5, **kw)
    assert estimate("llama3.1-8b", one_chip(), speed="5e-1", **kw).to_dict() == slow.to_dict()
    with pytest.raises(SpecError, match="^speed"):
        estimate("llama3.1-8b", one_chip(), speed="fast", **kw)


def test_deterministic():
    a = estimate("mixtral-8x7b", one_chip(), tp=1, batch=4, prompt=128, output=8).to_dict()
    b = estimate("mixtral-8x7b", one_chip(), tp=1, batch=4, prompt=128, output=8).to_dict()
    assert a == b


# ---------------------------------------------------------------------- StepModel
def test_step_model_contract():
    sm = StepModel("llama3.1-8b", one_chip(), tp=1)
    assert sm.chips == 1
    assert sm.decode_time(8, 2000) > sm.decode_time(8, 100) > 0
    assert sm.prefill_time(4096, 2) > sm.prefill_time(1024, 2)
    r = estimate("llama3.1-8b", one_chip(), tp=1, batch=2, prompt=512, output=2)
    assert sm.prefill_time(1024, 2) == pytest.approx(r.ttft)
    m = MODELS["llama3.1-8b"]
    assert sm.kv_bytes_per_token == m.kv_bytes_per_token(1.0)
    mb = sm.max_batch(4096)
    estimate("llama3.1-8b", one_chip(), tp=1, batch=mb, prompt=4095, output=1)
    with pytest.raises(CapacityError):
        estimate("llama3.1-8b", one_chip(), tp=1, batch=mb + 1, prompt=4095, output=1)
    import numpy as np

    v = sm.decode_time(np.array([1, 8]), np.array([100, 2000]))
    assert v.shape == (2,) and v[1] == sm.decode_time(8, 2000)
    assert sm.cost_per_hour > 0


# ---------------------------------------------------------------------- chunked prefill, validation
@given(batch=st.integers(1, 64), prompt=st.integers(1, 20_000), chunk=st.integers(1, 16_384))
@settings(max_examples=100, deadline=None)
def test_prefill_plan_covers_every_prompt_token(batch, prompt, chunk):
    from inference import Deployment

    dep = Deployment(TINY, one_chip(), tp=1, prefill_chunk=chunk)
    plan = dep.prefill_plan(batch, prompt)
    assert sum(s * q * n for s, q, c, n in plan) == batch * prompt
    # chunks of one long prompt attend to everything before them: same pairs as one causal pass
    pairs = sum(s * n * causal_pairs(q, c) for s, q, c, n in plan)
    assert pairs == pytest.approx(batch * causal_pairs(prompt, 0))


@given(batch=st.integers(1, 64), prompt=st.integers(1, 20_000), chunk=st.one_of(st.none(), st.integers(1, 16_384)))
@settings(max_examples=100, deadline=None)
def test_largest_prefill_step_is_the_plans_largest(batch, prompt, chunk):
    """memory() sizes prefill activations by the plan's largest step without listing the plan (one step per
    chunk: a 10**12-token prompt took minutes); same (sequences, tokens) as the first largest step listed."""
    from inference import Deployment

    dep = Deployment(TINY, one_chip(), tp=1, prefill_chunk=chunk)
    s, q, _, _ = max(dep.prefill_plan(batch, prompt), key=lambda t: t[0] * t[1])
    assert dep.largest_prefill_step(batch, prompt) == (s, q)


def test_chunked_prefill_same_flops_compute_bound():
    m = MODELS["llama3.1-8b"]
    a = estimate(m, one_chip(), tp=1, batch=8, prompt=4096, output=2, prefill_chunk=None, op_overhead=0)
    b = estimate(m, one_chip(), tp=1, batch=8, prompt=4096, output=2, prefill_chunk=4096, op_overhead=0)
    assert b.to_dict()["prefill_flop_s"] == pytest.approx(a.to_dict()["prefill_flop_s"], rel=1e-9)
    assert b.memory["activations"] < a.memory["activations"]


def test_validation_table_computes_and_unconstrained_throughput_within_2x():
    """The documented validation table: every row computes, and every throughput row without a latency limit
    (fixed-concurrency benchmarks, MLPerf Offline) is within 2x of its measurement. Rows at a latency limit or
    at an offered load are excluded from the bound: they sit on a knee where a throughput error of a few per
    cent moves the operating point by tens of per cent (their own consistency is tested in
    test_inference_mlperf.py and test_fleet_mlperf.py)."""
    import math

    from inference.validation import SETUPS, table

    rows = table(SETUPS)
    assert len(rows) == len(SETUPS) >= 5
    for r in rows:
        assert not r["note"] and math.isfinite(r["predicted"]) and r["predicted"] > 0, r
    scen = {s.label: getattr(s, "scenario", "offline") for s in SETUPS}
    free = [r for r in rows if r["metric"] == "throughput" and scen[r["setup"]] == "offline"]
    assert len(free) >= 20
    for r in free:
        assert 0.5 < r["predicted"] / r["measured"] < 2.0, r


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_preset_estimates_on_a_big_chip(name):
    big = CHIP.replace(hbm_bytes=2e12)
    r = estimate(name, one_chip(big), tp=1, batch=4, prompt=512, output=16)
    d = r.to_dict()
    assert 0 < r.ttft and 0 < r.tpot < r.ttft * 10 and d["tokens_per_s_replica"] > 0
    # decode at batch 4 reads (about) every active weight once: time >= those bytes / bandwidth
    m = MODELS[name]
    floor = (m.active_param_count() - m.vocab * m.hidden) * 1.0 / (big.hbm_bandwidth * big.memory_efficiency)
    assert r.tpot > floor * 0.9


def test_sliding_window_caps_kv_reads():
    m = MODELS["gpt-oss-120b"]
    short = ops_by_name(layer_ops(m, Shard(1, 1, 1), 1, 1, 200, w=1.0, a=1.0, kv=1.0, decode=True))
    long = ops_by_name(layer_ops(m, Shard(1, 1, 1), 1, 1, 10_000, w=1.0, a=1.0, kv=1.0, decode=True))
    assert short["attention_swa"].kv_bytes == long["attention_swa"].kv_bytes == 128 * 2 * 8 * 64
    assert long["attention"].kv_bytes == 10_001 * 2 * 8 * 64


def test_tp_must_divide_heads():
    with pytest.raises(SpecError, match="tp: must divide the 4 attention heads"):
        estimate(TINY, one_chip(), tp=3)
    # the message names the degrees that would work (the divisors of the head count)
    with pytest.raises(SpecError, match=r"got 3; use one of 1, 2, 4, 8, 16, 32, 64$"):
        estimate("llama3.1-70b", "dgx-h100", tp=3)


def test_kv_cache_in_sram_when_weights_do_not_fit():
    chip = CHIP.replace(sram_bytes=300e6, sram_bandwidth=20e12)
    r = estimate("llama3.1-8b", one_chip(chip), tp=1, batch=1, prompt=256, output=16)
    assert r.memory["placement"]["weights"] == "hbm" and r.memory["placement"]["kv_cache"] == "sram"
    slow = estimate("llama3.1-8b", one_chip(chip), tp=1, batch=1, prompt=256, output=16, sram=False)
    assert slow.memory["placement"]["kv_cache"] == "hbm" and slow.tpot > r.tpot


@given(b1=st.integers(1, 256), b2=st.integers(1, 256), c1=st.integers(0, 8192), c2=st.integers(0, 8192))
@settings(max_examples=40, deadline=None)
def test_decode_time_monotone_in_batch_and_context(b1, b2, c1, c2):
    sm = _SM
    lo_b, hi_b = sorted((b1, b2))
    lo_c, hi_c = sorted((c1, c2))
    assert sm.decode_time(lo_b, lo_c) <= sm.decode_time(hi_b, lo_c) <= sm.decode_time(hi_b, hi_c)


_SM = StepModel("llama3.1-8b", one_chip(CHIP.replace(hbm_bytes=1e13)), tp=1)


def test_cost_options_read_yaml_number_strings():
    """A sweep YAML's cost.capex_per_chip: 3e4 or price_per_chip_hour: 2e0 (strings under YAML 1.1) are numbers;
    a word is a one-line error naming the option."""
    from topo import SpecError

    kw = dict(tp=8, batch=8, prompt=128, output=8, backend="analytic")
    a = estimate("llama3.1-8b", "dgx-h100", capex_per_chip="3e4", power_price="1e-1", **kw)
    b = estimate("llama3.1-8b", "dgx-h100", capex_per_chip=3e4, power_price=1e-1, **kw)
    assert a.cost_per_mtok == b.cost_per_mtok
    assert estimate("llama3.1-8b", "dgx-h100", price_per_chip_hour="2e0", **kw).cost_per_hour == 8 * 2.0
    with pytest.raises(SpecError, match="pue"):
        estimate("llama3.1-8b", "dgx-h100", pue="high", **kw)
