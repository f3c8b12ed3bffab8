"""The MoE exchange under attention DP + expert parallelism as each serving stack runs it by default (issue 11).

TensorRT-LLM (ep <= top_k) and vLLM (``all2all_backend`` default ``allgather_reducescatter``) all-gather the tokens
quantised as the MoE kernel consumes them, with their routing (top_k int32 ids + fp32 weights), and reduce-scatter
one BF16 output row per token; SGLang (``--moe-a2a-backend none``) gathers BF16 hidden states, padded to the
busiest rank in decode (all-gather + reduce-scatter) and summed by two all-reduces when a prompt is in the batch.
The sizes are checked against those closed forms (sources cited in ``Deployment._ep_gathers``)."""

from __future__ import annotations

import pytest
from conftest import star_graph

from inference import ModelSpec
from inference import estimate as _estimate
from topo import ChipSpec, Fabric

CHIP = ChipSpec("testchip", flops={"fp8": 1000e12, "bf16": 500e12, "fp4": 2000e12}, hbm_bytes=80e9,
                hbm_bandwidth=2e12, tdp=500.0, ports=1, port_bandwidth=100e9)
H = 1024
# top_k 2 < ep 4: TensorRT-LLM runs its all-to-all here, vLLM and SGLang do not
MOE = ModelSpec("smallmoe", layers=4, hidden=H, heads=16, kv_heads=8, head_dim=64, ffn=4096, vocab=1000,
                experts=16, top_k=2, moe_ffn=1024)
MOE_BLOCK = ModelSpec("smallmoe-block", layers=4, hidden=H, heads=16, kv_heads=8, head_dim=64, ffn=4096,
                      vocab=1000, experts=16, top_k=2, moe_ffn=1024, fp8_block=128)


def _fab(n: int = 4) -> Fabric:
    return Fabric.from_graph(star_graph(n, 100e9, 1e-6), chip=CHIP, name=f"star{n}")


def _exchange(model: ModelSpec, stack: str, dtype: str, phase: str, batch: int = 16) -> dict[str, dict]:
    r = _estimate(model, _fab(), tp=1, ep=4, batch=batch, prompt=32, output=4, dtype=dtype, stack=stack,
                  backend="analytic")
    return {x["op"]: x for x in r.comm if x["phase"] == phase and x["op"].startswith("ep_")}


@pytest.mark.parametrize("model,dtype,width", [(MOE, "fp8", 1.0), (MOE, "bf16", 2.0), (MOE, "fp4", 0.5 + 1 / 16),
                                               (MOE_BLOCK, "fp8", 1 + 4 / 128)])
def test_vllm_allgather_reducescatter_at_any_ep(model, dtype, width):
    """vLLM gathers at ep 4 > top_k 2 (where TensorRT-LLM keeps its all-to-all): the 16 decode tokens of the stage
    x (hidden x the quantised width + top_k x 8 bytes of routing); the combine is one BF16 row per token. Block-scaled
    FP8 carries one FP32 scale per 128 elements (1 x 128 per-token-group quantisation before the dispatch)."""
    ex = _exchange(model, "vllm", dtype, "decode")
    assert {k: r["collective"] for k, r in ex.items()} == {"ep_dispatch": "all_gather", "ep_combine": "reduce_scatter"}
    assert ex["ep_dispatch"]["size"] == pytest.approx(16 * (H * width + 2 * 8), rel=1e-12)
    assert ex["ep_combine"]["size"] == pytest.approx(16 * H * 2, rel=1e-12)
    assert ex["ep_dispatch"]["group_size"] == 4
    # TensorRT-LLM at the same ep 4 > top_k 2 keeps the all-to-all of top_k BF16 copies of each rank's tokens
    trt = _exchange(model, "trtllm", dtype, "decode")
    assert {r["collective"] for r in trt.values()} == {"all_to_all"}
    assert trt["ep_dispatch"]["size"] == pytest.approx(16 / 4 * 2 * H * 2, rel=1e-12)


def test_sglang_decode_pads_to_the_busiest_rank_and_prefill_all_reduces():
    """SGLang DP attention without an a2a backend: decode (no prompt in the batch, ranks balanced: 2 sum >= max x
    ranks) is MAX_LEN, an all-gather and a reduce-scatter of ranks x the busiest rank's tokens in BF16, no routing
    bytes (every rank routes the gathered tokens); a prefill step is SUM_LEN, two all-reduces of the stage's tokens.
    18 sequences on 4 ranks: the busiest holds 5, so 4 x 5 rows move, not 18."""
    dec = _exchange(MOE, "sglang", "fp8", "decode", batch=18)
    assert {k: r["collective"] for k, r in dec.items()} == {"ep_dispatch": "all_gather",
                                                             "ep_combine": "reduce_scatter"}
    assert dec["ep_dispatch"]["size"] == dec["ep_combine"]["size"] == 4 * 5 * H * 2
    pre = _exchange(MOE, "sglang", "fp8", "prefill", batch=18)
    assert {k: r["collective"] for k, r in pre.items()} == {"ep_dispatch": "all_reduce", "ep_combine": "all_reduce"}
    prefill_tokens = pre["ep_dispatch"]["size"] / (H * 2)
    assert prefill_tokens == int(prefill_tokens) and prefill_tokens % 32 == 0  # whole 32-token prompts of the stage
    assert pre["ep_combine"]["size"] == pre["ep_dispatch"]["size"]


def test_the_roofline_keeps_the_all_to_all():
    """stack='ideal' has no serving stack's exchange: the all-to-all of top_k BF16 copies."""
    ex = _exchange(MOE, "ideal", "fp8", "decode")
    assert {r["collective"] for r in ex.values()} == {"all_to_all"}
