"""CUDA-graph decode padding (inference.estimate ``graph_batches``) and the trtllm-bench run representation
of the TensorRT-LLM validation rows (inference.validation: engine settings, request count, waves).

Padding is checked against its definition: the padded step equals, op by op, an unpadded step at the padded
batch except the attention kernel, which equals the unpadded step at the real batch (the dummies hold no KV
cache). The trtllm-bench settings against the heuristic's arithmetic done by hand.
"""

from __future__ import annotations

import math

import pytest

from inference.estimate import Deployment, padded_batch
from inference.validation import (
    TRTLLM_GRAPH_BATCHES,
    Setup,
    _waves_throughput,
    bench_settings,
    fabric_for,
    graph_batches,
)
from topo import SpecError

SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512, 1024)


def test_padded_batch_closed_form() -> None:
    assert [padded_batch(b, SIZES) for b in (1, 3, 5, 128, 129, 204, 256, 257, 1000, 1024)] == \
        [1, 4, 8, 128, 256, 256, 256, 384, 1024, 1024]
    assert padded_batch(1025, SIZES) == 1025  # above every captured size: eager, unpadded
    assert padded_batch(7, ()) == 7


def _qwen_ep8(**kw) -> Deployment:
    return Deployment("qwen3-235b-a22b", "dgx-h100", tp=1, ep=8, dp=1, dtype="fp8", kv_dtype="fp8",
                      backend="analytic", **kw)


def test_decode_padded_per_attention_group() -> None:
    dep = _qwen_ep8(graph_batches=(128, 256))
    assert dep.shard.attn_groups == 8
    assert dep.decode_padded(1632) == 8 * 256  # 204 per rank -> 256 on every rank
    assert dep.decode_padded(2048) == 2048  # exactly a captured size
    assert dep.decode_padded(2100) == 2100  # 263 per rank: no captured size holds it (eager)
    assert dep.decode_padded(8) == 8 * 128
    # the busiest rank's share is exactly a captured size, the others pad up to it: 1025 real sequences run
    # 129 on the busiest rank -> 256 everywhere; 1 - 128 per rank (1,017 real) -> 128 on all 8 ranks
    assert dep.decode_padded(1017) == 8 * 128 and dep.decode_padded(1025) == 8 * 256
    sizes = _qwen_ep8(graph_batches=(1, 2, 4, 8, 16, 32))
    assert sizes.decode_padded(9) == 8 * 2 and sizes.decode_padded(17) == 8 * 4  # 2 on the busiest, 2 everywhere
    assert _qwen_ep8().decode_padded(1632) == 1632  # no sizes: no padding
    ideal = Deployment("qwen3-235b-a22b", "dgx-h100", tp=1, ep=8, dp=1, stack="ideal", graph_batches=(256,))
    assert ideal.decode_padded(1632) == 1632  # the roofline runs no graphs


def test_padded_step_is_unpadded_step_at_padded_batch_but_attention() -> None:
    padded = _qwen_ep8(graph_batches=SIZES)
    plain = _qwen_ep8()
    real, run, ctx = 1632, 2048, 1500
    st = padded.step(real, 1, ctx, "decode")
    at_run = {r["op"]: r["time"] for r in plain.step(run, 1, ctx, "decode").rows}
    at_real = {r["op"]: r["time"] for r in plain.step(real, 1, ctx, "decode").rows}
    for r in st.rows:
        # no KV for dummies; the host works per real sequence; the per-sequence MoE cost counts the real ones (as
        # the rows it is fitted on were read: docs/inference.md "The per-sequence MoE cost")
        if r["op"] in ("attention", "framework", "moe per sequence"):
            assert r["time"] == pytest.approx(at_real[r["op"]], rel=1e-12)
        else:
            assert r["time"] == pytest.approx(at_run[r["op"]], rel=1e-12)
    assert st.comm == pytest.approx(plain.step(run, 1, ctx, "decode").comm, rel=1e-12)
    # padding only adds work: the padded step is never faster than the unpadded one
    assert st.serial >= plain.step(real, 1, ctx, "decode").serial
    # prefill is never padded
    assert padded.step(8, 1000, 0, "prefill").serial == pytest.approx(plain.step(8, 1000, 0, "prefill").serial)


@pytest.mark.parametrize("bad", [(0, 8), (4, -1), (2.5,), "1,2", 8, (True,)])
def test_graph_batches_rejects_bad_sizes(bad) -> None:
    with pytest.raises(SpecError, match="graph_batches"):
        _qwen_ep8(graph_batches=bad)


def test_estimate_reports_padded_batch() -> None:
    from inference import estimate

    r = estimate("llama3.1-8b", "dgx-h100", tp=1, dp=1, batch=100, prompt=128, output=16, dtype="fp8",
                 backend="analytic", graph_batches=SIZES)
    assert r.to_dict()["decode_padded_batch"] == 128
    r0 = estimate("llama3.1-8b", "dgx-h100", tp=1, dp=1, batch=100, prompt=128, output=16, dtype="fp8",
                  backend="analytic")
    assert r0.to_dict()["decode_padded_batch"] == 100 and r.tpot >= r0.tpot


QWEN_H100 = Setup("q", "qwen3-235b-a22b", "h100-sxm", "dgx-h100", 1, 8, "fp8", 1000, 1000, 1.0)


def test_bench_settings_hand_arithmetic() -> None:
    """trtllm-bench's heuristic (tuning.py calc_engine_setting, get_device_memory = NVML's total) by hand, Qwen3-235B
    FP8 on 8 x H100 (NVML 81,559 MiB each), 1000/1000: memory 8 x 81,559 / 1024 = 637.18 GiB, weights 235.09e9 B =
    218.95 GiB, KV 0.95 x 418.23 = 397.32 GiB; a token 2 x 94 layers x max(8, 4 KV heads) x 128 x 1 B = 192,512 B;
    requests 397.32 GiB / (192,512 B x 2000) = 1108.0 -> max_batch_size 256 x ceil(1108.0 / 256) = 1280; tokens
    1108.0 x 2 = 2216 -> 256 x ceil(2216 / 256) = 2304 (>= ISL + max_batch_size = 2280: get_settings' floor)."""
    dep = Deployment("qwen3-235b-a22b", fabric_for(QWEN_H100), tp=1, ep=8, dp=1, dtype="fp8", kv_dtype="fp8",
                     backend="analytic")
    gib = 2.0 ** 30
    req = 0.95 * (8 * 81559 / 1024 - dep.model.param_count() / gib) / (2 * 94 * 8 * 128 / gib * 2000)
    assert req == pytest.approx(1108.0, abs=0.1)
    assert bench_settings(QWEN_H100, dep) == (256 * math.ceil(req / 256), 2304) == (1280, 2304)
    assert graph_batches(1024, 2048) == TRTLLM_GRAPH_BATCHES[:TRTLLM_GRAPH_BATCHES.index(1024) + 1]
    assert graph_batches(1280, 2304) == TRTLLM_GRAPH_BATCHES[:TRTLLM_GRAPH_BATCHES.index(1024) + 1] + (1280,)


def test_waves_throughput_conserves_tokens() -> None:
    """Requests in whole waves: throughput equals one wave's; a remainder wave only lowers it."""
    from inference import estimate

    s = Setup("l", "llama3.1-8b", "h100-sxm", None, 1, 1, "fp8", 128, 64, 1.0)
    fab = fabric_for(s)
    kw = {"backend": "analytic"}
    r = estimate(s.model, fab, tp=1, dp=1, batch=64, prompt=128, output=64, dtype="fp8", kv_dtype="fp8", **kw)
    assert _waves_throughput(r, 3 * 64, s, fab, "fp8", kw) == pytest.approx(r.tokens_per_s["replica"], rel=1e-12)
    assert _waves_throughput(r, 3 * 64 + 1, s, fab, "fp8", kw) < r.tokens_per_s["replica"]


def test_prefill_budget_per_attention_group() -> None:
    """Data-parallel attention: each of the 8 groups fills its own prefill_chunk with whole prompts."""
    dp = _qwen_ep8(prefill_chunk=8192)
    assert dp.prefill_plan(100, 1000) == [(64, 1000, 0, 1), (36, 1000, 0, 1)]  # 8 prompts x 8 groups per step
    assert dp.prefill_plan(8, 5000) == [(8, 5000, 0, 1)]  # one prompt per group fits: a single step
    assert dp.prefill_plan(16, 20000) == [(8, 8192, 0, 2), (8, 8192, 8192, 2), (8, 3616, 16384, 2)]
    dense = Deployment("llama3.1-8b", "dgx-h100", tp=1, dp=1, backend="analytic", prefill_chunk=8192)
    assert dense.prefill_plan(100, 1000) == [(8, 1000, 0, 12), (4, 1000, 0, 1)]  # one scheduler: unchanged
    for dep, batch, prompt in ((dp, 100, 1000), (dp, 37, 3000), (dp, 16, 20000), (dense, 100, 1000)):
        plan = dep.prefill_plan(batch, prompt)
        assert dep.largest_prefill_step(batch, prompt) == max(plan, key=lambda t: t[0] * t[1])[:2]
        # every prompt token is prefilled once (chunked prompts: per sequence, chunks sum to the prompt)
        if plan[0][2] == 0 and plan[0][1] == prompt:
            assert sum(s * n for s, _, _, n in plan) == batch
        else:
            assert sum(q for _, q, _, _ in plan) == prompt and all(s * n >= batch for s, _, _, n in plan)
