"""Speculative decoding (inference.speculative): the accepted-length closed form against a Monte Carlo of the
accept/reject chain, the verify step's work against hand counts, memory of the draft, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import inference
from cli import main
from inference import Deployment, Speculative, StepModel, estimate, parse_speculative
from topo import SpecError

HBM = {"activations": "hbm", "weights": "hbm", "kv_cache": "hbm"}


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 8), a=st.floats(0.05, 0.99))
def test_tokens_per_step_is_the_mean_accepted_length_of_the_chain(k, a):
    # the chain: proposal i is accepted with probability a if all before it were; the step always gains one
    # token more (the target's own token at the first rejection, or its bonus token after k acceptances)
    rng = np.random.default_rng(7)
    accept = rng.random((200_000, k)) < a
    first_reject = np.where(accept.all(axis=1), k, np.argmin(accept, axis=1))
    mc = (first_reject + 1).mean()
    assert Speculative("mtp", k, a).tokens_per_step == pytest.approx(mc, rel=0.01)


def test_per_position_acceptance():
    # the chain with falling acceptance: E = 1 + a1 + a1 a2 + a1 a2 a3, and equal values give the closed form
    assert Speculative("mtp", 3, (0.9, 0.8, 0.5)).tokens_per_step == pytest.approx(1 + 0.9 + 0.72 + 0.36)
    assert Speculative("mtp", 3, (0.7,) * 3).tokens_per_step == pytest.approx(Speculative("mtp", 3, 0.7).tokens_per_step)
    sp = parse_speculative("mtp:3@0.9,0.8,0.5")
    assert sp.acceptance == (0.9, 0.8, 0.5) and sp.label() == "mtp:3@0.9,0.8,0.5"
    with pytest.raises(SpecError, match="2 acceptances given per position for k=3"):
        parse_speculative("mtp:3@0.9,0.8")


def test_tokens_per_step_limits():
    assert Speculative("ngram", 4, 1.0).tokens_per_step == 5.0
    assert Speculative("ngram", 4, 1e-9).tokens_per_step == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("text, want", [
    ("mtp:3@0.8", Speculative("mtp", 3, 0.8)),
    ("ngram:5@0.5", Speculative("ngram", 5, 0.5)),
    ("draft:llama3.1-8b:4@0.7", Speculative("draft", 4, 0.7, "llama3.1-8b")),
    ({"method": "mtp", "k": 2, "acceptance": 0.9}, Speculative("mtp", 2, 0.9)),
    ("off", None), (None, None),
])
def test_parse(text, want):
    assert parse_speculative(text) == want


@pytest.mark.parametrize("text, says", [
    ("mtp:3", "acceptance"), ("mtp:3@1.5", "(0, 1]"), ("mtp:0@0.5", "1..64"), ("eagle:3@0.8", "unknown method"),
    ("draft:3@0.8", "needs the draft model"), ("ngram:x:3@0.5", "only 'draft'"), ("mtp:three@0.8", "integer"),
    ({"method": "mtp", "k": 2}, "acceptance"), ({"method": "mtp", "k": 2, "acceptance": 0.5, "x": 1}, "unknown key"),
])
def test_parse_refuses_with_the_field(text, says):
    with pytest.raises(SpecError, match="speculative") as e:
        parse_speculative(text)
    assert says in str(e.value)


def _dep(**kw):
    return Deployment("llama3.1-8b", "dgx-h100", tp=1, dp=1, stack="ideal", **kw)


def test_verify_step_work_is_k_plus_one_tokens():
    """The verify step's GEMM FLOPs and LM-head logits are (k + 1) x a plain step's; its weight bytes are read
    once (hand count: the same per-op weight bytes)."""
    k = 3
    plain = _dep().decode_step(4, 1000, HBM)
    spec = _dep(speculative=f"ngram:{k}@0.5").decode_step(4, 1000, HBM)
    p = {r["op"]: r for r in plain.rows}
    s = {r["op"]: r for r in spec.rows}
    for op in ("qkv", "o_proj", "mlp", "lm_head"):
        assert s[op]["flops"] == pytest.approx((k + 1) * p[op]["flops"])
    m = inference.load_model("llama3.1-8b")
    assert s["lm_head"]["flops"] == pytest.approx(2 * 4 * (k + 1) * m.hidden * m.vocab)
    # attention: (k + 1) queries per sequence, causal among themselves, over one read of the cache
    assert s["attention"]["flops"] / p["attention"]["flops"] == pytest.approx(
        ((k + 1) * 1000 + (k + 1) * (k + 2) / 2) / (1000 + 1), rel=1e-9)
    assert s["draft (ngram:3@0.5)"]["time"] == 0.0


def test_ngram_at_full_acceptance_divides_the_verify_step():
    k = 3
    base = estimate("llama3.1-8b", "dgx-h100", tp=1, batch=1, prompt=500, output=200, stack="ideal")
    r = estimate("llama3.1-8b", "dgx-h100", tp=1, batch=1, prompt=500, output=200, stack="ideal",
                 speculative=f"ngram:{k}@1")
    assert r.extra["tokens_per_step"] == k + 1 and base.to_dict()["tokens_per_step"] == 1
    assert r.tpot == pytest.approx(r.extra["decode_iteration_s"] / (k + 1))
    # batch 1 is weight-bound: verifying 4 tokens costs about one plain step, so TPOT falls ~4x, never below
    # a quarter of a plain step (the work can only grow)
    assert base.tpot / 4 <= r.tpot <= base.tpot / 4 * 1.1
    assert r.ttft == base.ttft


def test_tpot_falls_with_acceptance_and_draft_costs_time():
    kw = dict(tp=8, batch=8, prompt=1000, output=300)
    t = [estimate("llama3.1-70b", "dgx-h100", speculative=f"mtp:3@{a}", **kw).tpot for a in (0.3, 0.6, 0.9)]
    assert t[0] > t[1] > t[2]
    ngram = estimate("llama3.1-70b", "dgx-h100", speculative="ngram:3@0.6", **kw)
    mtp = estimate("llama3.1-70b", "dgx-h100", speculative="mtp:3@0.6", **kw)
    draft = estimate("llama3.1-70b", "dgx-h100", speculative="draft:llama3.1-8b:3@0.6", **kw)
    assert ngram.tpot < mtp.tpot < draft.tpot  # same verify step; no draft < one layer < a whole 8B model


def test_mtp_draft_is_linear_in_k_and_below_a_step():
    d1 = Deployment("llama3.1-70b", "dgx-h100", tp=8, dp=1, speculative="mtp:1@0.5")
    d4 = Deployment("llama3.1-70b", "dgx-h100", tp=8, dp=1, speculative="mtp:4@0.5")
    row = {d: next(r["time"] for r in d.decode_step(8, 1000, HBM).rows if r["op"].startswith("draft"))
           for d in (d1, d4)}
    plain = Deployment("llama3.1-70b", "dgx-h100", tp=8, dp=1).decode_step(8, 1000, HBM).serial
    assert row[d4] == pytest.approx(4 * row[d1])
    assert 0 < row[d1] < plain / 10  # one layer of 80 plus the LM head


def test_draft_weights_and_kv():
    m = inference.load_model("llama3.1-8b")
    d, h = m.head_dim, m.hidden
    # params of one layer: QKV, O, the SwiGLU MLP, its two RMSNorm weight vectors
    layer = h * (m.heads * d + 2 * m.kv_heads * d) + m.heads * d * h + 3 * h * m.ffn + 2 * h
    dep = _dep(speculative="mtp:2@0.5", dtype="fp8")
    assert dep.held_weight_bytes()["speculative"] == pytest.approx(layer * 1.0)
    assert dep.kv_bytes_per_seq_token() == pytest.approx(_dep().kv_bytes_per_seq_token() * (m.layers + 1) / m.layers)
    big = Deployment("llama3.1-70b", "dgx-h100", tp=8, dp=1, speculative="draft:llama3.1-8b:3@0.6")
    small = Deployment("llama3.1-8b", "dgx-h100", tp=8, dp=1)
    assert big.held_weight_bytes()["speculative"] == pytest.approx(small.held_weight_bytes()["total"])


def test_refusals():
    with pytest.raises(SpecError, match="tokenizer"):
        Deployment("llama3.1-70b", "dgx-h100", tp=8, speculative="draft:qwen3-32b:3@0.6")
    with pytest.raises(SpecError, match="speculative: draft llama3.1-8b at tp=64"):
        Deployment("llama3.1-405b", "gb200-nvl72", tp=64, speculative="draft:llama3.1-8b:3@0.6")
    with pytest.raises(SpecError, match="spatial pipeline"):
        Deployment("llama3.1-8b", "groq-rack", tp=8, speculative="mtp:3@0.8")
    # the serving simulator's step model speculates (tests/test_fleet_speculative.py); off is no speculation
    assert StepModel("llama3.1-8b", "dgx-h100", tp=1, speculative="mtp:3@0.8").tokens_per_step > 1
    assert StepModel("llama3.1-8b", "dgx-h100", tp=1, speculative="off").tokens_per_step == 1.0


def test_cli():
    r = CliRunner().invoke(main, ["infer", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "1", "--batch",
                                  "1", "--speculative", "mtp:3@0.8"])
    assert r.exit_code == 0, r.output
    assert "speculative mtp:3@0.8" in r.output and "2.95 tokens" in r.output
    assert "speculative mtp:3@0.8: each decode step drafts 3 tokens" in r.output  # the assumption line
    for bad in (["--speculative", "mtp:3"], ["--speculative", "mtp:3@0.8", "--nearest", "2"]):
        r = CliRunner().invoke(main, ["infer", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "1", *bad])
        assert r.exit_code == 2 and "Traceback" not in r.output and r.output.count("\n") == 1, r.output


def test_decode_activations_hold_the_verified_tokens():
    # the largest decode activation of Llama-3.1-8B at TP 1 is the LM head's logits, b (h + V) bf16 values; a
    # verify step holds them for all k + 1 positions, so memory() reserves (k + 1) x as much
    m = inference.load_model("llama3.1-8b")
    plain, spec = _dep(), _dep(speculative="mtp:3@0.5")
    assert plain.activation_bytes(64, 1) == pytest.approx(64 * (m.hidden + m.vocab) * 2)
    assert spec.activation_bytes(64, spec.decode_q, decode=True) == pytest.approx(4 * 64 * (m.hidden + m.vocab) * 2)
    assert spec.memory(64, 1000, 100)["activations"] >= 4 * plain.activation_bytes(64, 1)


def test_yaml_off_and_booleans():
    # a sweep grid `speculative: [off, mtp:3@0.8]` is read by YAML 1.1, where an unquoted off / no / false is the
    # boolean False: it means no speculation, as "off" does; True names no method and is refused with the forms
    import yaml

    grid = yaml.safe_load("speculative: [off, no, false, 'mtp:3@0.8']")["speculative"]
    assert [parse_speculative(v) for v in grid] == [None, None, None, Speculative("mtp", 3, 0.8)]
    with pytest.raises(SpecError, match="speculative: .*mtp:K@A"):
        parse_speculative(True)
    r = estimate("llama3.1-8b", "dgx-h100", tp=1, batch=1, prompt=100, output=20, stack="ideal", speculative=False)
    assert r.to_dict()["tokens_per_step"] == 1


def test_host_bound_iteration_is_max_of_gpu_with_draft_and_host():
    # host_per_seq: an iteration takes max(GPU step, host); the GPU step of a speculative iteration is the draft
    # + the verify step, so a host longer than both hides the draft (hand: 8 sequences x 2 ms = 16 ms on an x86
    # host), and one between the verify step and verify + draft exposes only its excess over them
    kw = dict(tp=1, dp=1, speculative="mtp:3@0.8")
    gpu = Deployment("llama3.1-8b", "dgx-h100", **kw).decode_step(8, 1000, HBM)
    assert not any(r["op"] == "host (exposed)" for r in gpu.rows)
    host = Deployment("llama3.1-8b", "dgx-h100", host_per_seq=2e-3, **kw).decode_step(8, 1000, HBM)
    assert gpu.serial < 16e-3
    assert host.serial == pytest.approx(16e-3) and host.overlapped == pytest.approx(16e-3)
    draft = next(r["time"] for r in gpu.rows if r["op"].startswith("draft"))
    mid = gpu.serial - draft / 2  # between the verify step and verify + draft: the GPU is the longer
    between = Deployment("llama3.1-8b", "dgx-h100", host_per_seq=mid / 8, **kw).decode_step(8, 1000, HBM)
    assert between.serial == pytest.approx(gpu.serial)


def test_ttft_adds_the_drafts_own_prefill():
    """The draft builds its own KV cache of the prompt: a draft model's whole prefill (the 8B's own TTFT at the
    same tp), MTP one decoder layer of each prefill step, n-gram lookup nothing."""
    kw = dict(tp=8, batch=4, prompt=2048, output=64)
    base = estimate("llama3.1-70b", "dgx-h100", **kw)
    eight = estimate("llama3.1-8b", "dgx-h100", **kw)
    draft = estimate("llama3.1-70b", "dgx-h100", speculative="draft:llama3.1-8b:3@0.7", **kw)
    assert draft.ttft == pytest.approx(base.ttft + eight.ttft, rel=1e-9)
    assert estimate("llama3.1-70b", "dgx-h100", speculative="ngram:3@0.7", **kw).ttft == base.ttft
    mtp = estimate("llama3.1-70b", "dgx-h100", speculative="mtp:3@0.7", **kw).ttft
    assert base.ttft < mtp < base.ttft * (1 + 1.5 / 80)  # about one layer in 80 more


def test_a_draft_no_smaller_than_the_target_is_refused():
    with pytest.raises(SpecError, match="no smaller than llama3.1-70b"):
        Deployment("llama3.1-70b", "dgx-h100", tp=8, speculative="draft:llama3.1-405b:3@0.6")

