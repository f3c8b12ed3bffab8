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
    H, I = m.hidden, m.moe_ffn  # noqa: E741
    # CUTLASS workspace (FP8 in, BF16 GEMM outputs): the input slot holds the permuted FP8 input, the BF16 FC2
    # result or the FP8 FC1 result; the output slot the BF16 GLU intermediate or the BF16 FC2 result; + 20 B a row
    ws = rows * (max(H * 1, H * 2, I * 1) + max(2 * I * 2, H * 2, I * 1) + 20)
    assert act["moe_tokens"] == tm
    assert act["moe_workspace"] == pytest.approx(ws)
    # FP8 gathered input + rank's router logits + gathered experts/scales + workspace + BF16 output
    assert act["moe"] == pytest.approx(tm * H * 1 + T * m.experts * 4 + tm * m.top_k * 8 + ws + tm * H * 2)
    assert act["largest"] == "moe"
    # Qwen3 (H = 4096 > 2 I = 3072): both slots are the BF16 FC2 result, 16 kB + 20 B per expanded row
    assert ws == pytest.approx(rows * (4 * H + 20))


def test_moe_bf16_without_attention_dp_reuses_the_normed_input() -> None:
    d = Deployment("qwen3-235b-a22b", "dgx-h100", tp=8, ep=8, dp=1, dtype="bf16", kv_dtype="fp8")
    m, T = d.model, 1024
    act = M.activation_peak(d, T)
    rows = T * m.top_k
    ws = rows * (max(m.hidden, m.moe_ffn) * 2 + max(2 * m.moe_ffn, m.hidden) * 2 + 20)
    assert act["moe_tokens"] == T  # no gather: the rank's own tokens, no separate input copy
    assert act["moe"] == pytest.approx(T * m.experts * 4 + T * m.top_k * 8 + ws + T * m.hidden * 2)


def test_estimation_kv_blocks_closed_form() -> None:
    # attention DP: one prompt of max_num_tokens per rank, copied for the 8 ranks, +2 tokens, 32-token blocks
    assert M.estimation_kv_blocks(_moe(max_num_tokens=2048), 4096) == 8 * math.ceil(2050 / 32)
    # max_seq_len 2000 cuts 2048 tokens into 1999 + 49
    assert M.estimation_kv_blocks(_moe(max_num_tokens=2048), 2000) == 8 * (math.ceil(2001 / 32) + math.ceil(51 / 32))
    assert M.estimation_kv_blocks(_dep(max_num_tokens=8192), 1000) == 8 * math.ceil(1001 / 32) + math.ceil(194 / 32)
    assert M.estimation_kv_blocks(_dep(max_num_tokens=4096)) == math.ceil(4098 / 32)


def test_graph_pool_is_the_largest_graph_the_estimation_cache_holds() -> None:
    sizes = (1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512, 1024)
    moe = _moe(max_num_tokens=2048, graph_batches=sizes)
    assert M.estimation_kv_blocks(moe, 2000) == 520
    assert M.estimation_graph_batch(moe, 2000) == 512  # 1024 > 520 free blocks: captured after the KV pool
    dense = _dep(max_num_tokens=2048, graph_batches=sizes)
    assert M.estimation_graph_batch(dense, 4096) == 64  # 65 blocks
    e = M.engine_memory(moe, seq_len=2000)
    assert e["graph_batch"] == 512 and e["cuda_graphs"] == pytest.approx(M.cuda_graph_bytes(moe, 512))
    assert _dep().graph_batch_max == M.DEFAULT_GRAPH_BATCH
    assert M.estimation_graph_batch(_dep(max_num_tokens=8192)) == M.DEFAULT_GRAPH_BATCH


def test_cuda_graph_pool_is_decode_peak_of_largest_graph() -> None:
    d = _dep(graph_batches=[1, 8, 64, 256])
    assert d.graph_batch_max == 256
    assert M.cuda_graph_bytes(d, 256) == pytest.approx(M.activation_peak(d, 256, logit_rows=256)["total"])
    assert M.cuda_graph_bytes(d, 0) == 0.0


def test_comm_buffers_closed_form() -> None:
    assert M.comm_buffer_bytes(_dep()) == 0.0  # one chip: no communicator
    # custom all-reduce workspace: IPC size x tp + barriers 256 x tp + Lamport 3 x size x tp
    assert M.allreduce_workspace_bytes(1) == 0.0
    assert M.allreduce_workspace_bytes(2) == 4 * 16_000_000 * 2 + 256 * 2
    assert M.allreduce_workspace_bytes(8) == 4 * 8_000_000 * 8 + 256 * 8
    tp8 = Deployment("llama3.1-70b", "dgx-h100", tp=8, dp=1, dtype="fp8")
    assert M.comm_buffer_bytes(tp8) == pytest.approx(M.NCCL_BYTES[8] + M.allreduce_workspace_bytes(8))
    # attention DP keeps TensorRT-LLM's tp_size at 8: the MoE layers' AllReduce allocates the same workspace
    assert M.comm_buffer_bytes(_moe()) == pytest.approx(M.NCCL_BYTES[8] + M.allreduce_workspace_bytes(8))
    assert M.comm_buffer_bytes(_moe(stack="vllm")) == M.NCCL_BYTES[8]


def test_a_consumer_added_lowers_budget_by_fraction_and_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    d = _moe(max_num_tokens=2048, hbm_usable=0.95, graph_batches=(1, 64, 512))
    with_ws = M.engine_memory(d, seq_len=4096)
    b_with = max_batch(d, 2048, 2048)
    monkeypatch.setattr(M, "allreduce_workspace_bytes", lambda tp: 0.0)
    without = M.engine_memory(d, seq_len=4096)
    assert without["kv_budget"] - with_ws["kv_budget"] == pytest.approx(0.95 * (4 * 8_000_000 * 8 + 2048))
    assert max_batch(d, 2048, 2048) > b_with  # 0.24 GB per rank is ~2,500 tokens: one 4k request on each rank


@pytest.mark.parametrize("stack", ["trtllm", "vllm", "sglang"])
def test_budget_rules(stack: str) -> None:
    d = _dep(stack=stack, hbm_usable=0.9, max_num_tokens=4096)
    e = M.engine_memory(d)
    hbm, f = M.device_total_bytes(d.chip), 0.9
    w, act, g, c, r = e["weights"], e["activations"], e["cuda_graphs"], e["comm_buffers"], e["runtime"]
    expect = {"trtllm": f * (hbm - w - act - g - c - r), "vllm": f * hbm - (w + act + c + r),
              "sglang": f * hbm - (w + c + r)}[stack]
    assert e["kv_budget"] == pytest.approx(expect)
    assert e["kv_tokens"] == pytest.approx(expect / d.kv_bytes_per_seq_token())
    assert (g > 0) == (stack == "trtllm")


def test_engines_size_from_the_runtimes_total_not_the_datasheet() -> None:
    # the CUDA runtime reports ~79.15 GiB on an H100 SXM "80 GB" (85.0e9 B, 6 % above the datasheet's decimal GB)
    h100 = _dep()
    assert M.device_total_bytes(h100.chip) == pytest.approx(79.15 * 2**30)
    assert M.device_total_bytes(h100.chip) > h100.chip.hbm_bytes
    b200 = _dep(chip="b200")
    assert M.device_total_bytes(b200.chip) == b200.chip.hbm_bytes  # the preset is already the exposed figure
    e = M.engine_memory(h100)
    assert e["kv_budget"] == pytest.approx(h100.hbm_usable * (79.15 * 2**30 - e["held"]))
    ideal = _dep(stack="ideal").memory(1, 1000, 1000)
    assert ideal["hbm_capacity"] == h100.chip.hbm_bytes  # the roofline rule keeps the datasheet figure


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
