"""KV-cache capacity as serving engines size it (inference/memory.py): each term against its closed form,
the budget rules per stack, monotonicity in max_num_tokens, and the one-line error of a model that does not fit."""

from __future__ import annotations

import math

import pytest

from inference import estimate, max_batch
from inference import memory as M
from inference.estimate import Deployment
from inference.validation import single_chip_fabric
from topo import CapacityError, SpecError


def _dep(model: str = "llama3.1-8b", chip: str = "h100-sxm", **kw) -> Deployment:
    return Deployment(model, single_chip_fabric(chip), tp=1, dp=1, dtype="fp8", kv_dtype="fp8", **kw)


def _moe(**kw) -> Deployment:
    return Deployment("qwen3-235b-a22b", "dgx-h100", tp=1, ep=8, dp=1, dtype="fp8", kv_dtype="fp8", **kw)


def test_weights_lm_head_and_embedding_in_bf16() -> None:
    d = _dep()
    m, held = d.model, d.held_weight_bytes()
    # FP8 GEMM weights, embedding + LM head (untied) at 2 bytes: vocab x hidden x 2 each
    assert M.engine_weight_bytes(d) == pytest.approx(held["total"] - held["embeddings"] + 2 * m.vocab * m.hidden * 2)
    b = Deployment("llama3.1-8b", single_chip_fabric("h100-sxm"), tp=1, dp=1, dtype="bf16")
    assert M.engine_weight_bytes(b) == pytest.approx(b.held_weight_bytes()["total"])
    # NVFP4: one FP8 scale per 16 half-byte values -> 4.5 bits per GEMM weight
    f4 = Deployment("llama3.1-8b", single_chip_fabric("b200"), tp=1, dp=1, dtype="fp4")
    h4 = f4.held_weight_bytes()
    assert M.block_scale_factor("fp4") == 1.125
    assert M.engine_weight_bytes(f4) == pytest.approx((h4["total"] - h4["embeddings"]) * 4.5 / 4
                                                      + 2 * m.vocab * m.hidden * 2)


def test_activation_peak_dense_closed_form() -> None:
    d = _dep()
    m, T, a = d.model, 4096, 2.0
    act = M.activation_peak(d, T)
    assert act["residual"] == 2 * T * m.hidden * a
    assert act["mlp"] == pytest.approx(3 * T * m.ffn * a)
    assert act["attention"] == pytest.approx(T * (2 * m.heads * m.head_dim + 2 * m.kv_heads * m.head_dim) * a)
    assert act["logits"] == pytest.approx(m.vocab * 4.0)
    assert act["largest"] == "mlp"
    assert act["total"] == pytest.approx(act["residual"] + act["mlp"])


def test_activation_peak_moe_workspace_gathers_attention_dp_tokens() -> None:
    d = _moe()
    m, T = d.model, 2048
    act = M.activation_peak(d, T)
    tm = T * 8  # eight attention-DP ranks all-gather before the experts
    rows = tm * m.top_k
    ws = rows * (max(m.hidden, m.moe_ffn) * 1.0 + max(2 * m.moe_ffn, m.hidden) * 2.0)
    assert act["moe_tokens"] == tm
    assert act["moe"] == pytest.approx(tm * m.hidden * 2 + tm * m.experts * 4 + ws)
    assert act["largest"] == "moe"


def test_cuda_graph_pool_is_decode_peak_of_largest_graph() -> None:
    d = _dep(graph_batches=[1, 8, 64, 256])
    assert d.graph_batch_max == 256
    assert M.cuda_graph_bytes(d, 256) == pytest.approx(M.activation_peak(d, 256, logit_rows=256)["total"])
    assert M.cuda_graph_bytes(d, 0) == 0.0
    assert _dep().graph_batch_max == M.DEFAULT_GRAPH_BATCH


def test_comm_buffers_closed_form() -> None:
    assert M.comm_buffer_bytes(_dep(), 8192) == 0.0  # one chip: no communicator
    tp8 = Deployment("llama3.1-70b", "dgx-h100", tp=8, dp=1, dtype="fp8")
    T = 2048
    assert M.comm_buffer_bytes(tp8, T) == pytest.approx(M.NCCL_BYTES[8] + 3 * T * tp8.model.hidden * 2)
    assert M.comm_buffer_bytes(_moe(), T) == M.NCCL_BYTES[8]  # attention DP: no TP all-reduce workspace


@pytest.mark.parametrize("stack", ["trtllm", "vllm", "sglang"])
def test_budget_rules(stack: str) -> None:
    d = _dep(stack=stack, hbm_usable=0.9, max_num_tokens=4096)
    e = M.engine_memory(d)
    hbm, f = d.chip.hbm_bytes, 0.9
    w, act, g, c, r = e["weights"], e["activations"], e["cuda_graphs"], e["comm_buffers"], e["runtime"]
    expect = {"trtllm": f * (hbm - w - act - g - c - r), "vllm": f * hbm - (w + act + c + r),
              "sglang": f * hbm - (w + c + r)}[stack]
    assert e["kv_budget"] == pytest.approx(expect)
    assert e["kv_tokens"] == pytest.approx(expect / d.kv_bytes_per_seq_token())
    assert (g > 0) == (stack == "trtllm")


@pytest.mark.parametrize("stack", ["trtllm", "vllm"])
def test_capacity_decreases_with_max_num_tokens(stack: str) -> None:
    caps = [M.engine_memory(_moe(stack=stack, max_num_tokens=t))["kv_budget"] for t in (512, 2048, 8192)]
    assert caps[0] > caps[1] > caps[2]
    batches = [max_batch(_dep(stack=stack, max_num_tokens=t), 1000, 1000) for t in (1024, 16384)]
    assert batches[0] > batches[1]


def test_memory_fits_against_budget_and_ideal_unchanged() -> None:
    d = _dep()
    per_seq = d.kv_bytes_chip(1, 2000)
    b = max_batch(d, 1000, 1000)
    budget = d.memory(1, 1000, 1000)["kv_budget"]
    assert b == math.floor(budget / per_seq)  # linear KV: the largest batch is the budget over one sequence
    ideal = _dep(stack="ideal")
    mem = ideal.memory(b, 1000, 1000)
    assert "kv_budget" not in mem  # the roofline keeps its own rule: weights + KV + activations <= usable
    assert mem["fits"] == (mem["weights"] + mem["kv_cache"] + mem["activations"] <= 0.9 * ideal.chip.hbm_bytes)


def test_model_that_does_not_fit_errors_one_line() -> None:
    with pytest.raises(CapacityError) as exc:
        estimate("llama3.1-405b", single_chip_fabric("h100-sxm"), tp=1, batch=1, prompt=128, output=128)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("memory:")
    mem = _dep(model="llama3.1-405b").memory(1, 128, 128)
    assert not mem["fits"] and mem["kv_budget"] == 0.0
    assert mem["hbm_needed"] - mem["hbm_usable"] > mem["weights"] - mem["hbm_capacity"]  # the excess is reported


@pytest.mark.parametrize("field", ["max_num_tokens", "max_seqs"])
def test_bad_engine_limits_name_the_field(field: str) -> None:
    with pytest.raises(SpecError, match=field):
        _dep(**{field: 0})
