"""trtllm-bench's engine settings (inference.validation.bench_settings) against its source's formulas by hand.

Source: NVIDIA/TensorRT-LLM ``tensorrt_llm/bench/build/tuning.py`` ``calc_engine_setting`` / ``finetune_setting``,
``bench/build/dataclasses.py`` ``ModelConfig`` (head_size = config head_dim, else hidden // heads),
``bench/benchmark/utils/general.py`` ``get_settings`` (max_num_tokens >= max ISL + max_batch_size),
``bench/build/utils.py`` ``get_device_memory`` (NVML total). Every expected figure below is computed from the
formula with the model's published config numbers written out, not by calling the code under test.
"""

from __future__ import annotations

import math

import pytest

from inference.estimate import Deployment
from inference.models import load_model
from inference.validation import (
    Setup,
    bench_device_gib,
    bench_engine_elements,
    bench_kv_bytes_per_token,
    bench_settings,
    fabric_for,
)
from topo.presets import chip_preset

GIB = 2.0 ** 30


def test_mla_kv_per_token_is_the_gqa_formula_on_deepseeks_config() -> None:
    """DeepSeek-V3/R1 config.json: 61 layers, num_key_value_heads 128, no head_dim -> hidden 7168 // 128 heads = 56;
    FP8 KV: 2 x 61 x max(tp, 128) x 56 x 1 B, whatever tp <= 128 (DEP4 passes --tp 4, DEP8 --tp 8)."""
    m = load_model("deepseek-v3")
    for tp in (1, 4, 8):
        assert bench_kv_bytes_per_token(m, tp, 1.0) == 2 * 61 * 128 * 56 * 1 == 874_496
    # the rule is not the engine's MLA latent cache (kv_lora_rank + rope = 576 values a layer): 25x larger
    assert 874_496 / (61 * (512 + 64)) == pytest.approx(24.9, abs=0.1)
    assert bench_kv_bytes_per_token(m, 4, 2.0) == 2 * 874_496  # BF16 KV


def test_gqa_kv_per_token_unchanged() -> None:
    """GQA: 2 x layers x max(tp, KV heads) x head_dim x bytes (Llama-3.1-70B: 80 layers, 8 KV heads, 128)."""
    m = load_model("llama3.1-70b")
    assert bench_kv_bytes_per_token(m, 2, 1.0) == 2 * 80 * 8 * 128 == 163_840
    assert bench_kv_bytes_per_token(m, 16, 1.0) == 2 * 80 * 16 * 128  # every TP rank holds at least one KV head
    q = load_model("qwen3-235b-a22b")
    assert bench_kv_bytes_per_token(q, 8, 1.0) == 2 * 94 * 8 * 128 == 192_512


def test_engine_elements_nvfp4_against_pr13498() -> None:
    """An NVFP4 checkpoint's safetensors element count: packed FP4 (two a U8) + one FP8 scale per 16 + BF16 embeddings
    and LM head. x 0.5 B (calc_engine_setting's NVFP4 width) gives the pre-fix estimate PR #13498 quotes for
    DeepSeek-V3.2-NVFP4, 183.70 GB (GiB); V3.2 adds an indexer and the MTP layer, R1 as modelled has neither: within
    5 % below it. FP8 / BF16: the parameter count."""
    m = load_model("deepseek-v3")
    p, emb = m.param_count(), 2 * 129280 * 7168
    assert bench_engine_elements(m, "fp4") == pytest.approx((p - emb) * (1 / 2 + 1 / 16) + emb, rel=1e-12)
    est = bench_engine_elements(m, "fp4") * 0.5 / GIB
    assert 0.95 * 183.70 < est < 183.70
    assert bench_engine_elements(m, "fp8") == p == bench_engine_elements(m, "bf16")


def test_device_memory_is_nvml_total() -> None:
    assert bench_device_gib(chip_preset("h100-sxm")) == 81559 / 1024
    assert bench_device_gib(chip_preset("h200")) == 143771 / 1024
    assert bench_device_gib(chip_preset("b200")) == pytest.approx(192e9 / GIB, rel=1e-12)


def _r1(isl: int, osl: int) -> tuple[Setup, Deployment]:
    s = Setup("r1", "deepseek-v3", "b200", "dgx-b200", 1, 4, "fp4", isl, osl, 1.0)
    return s, Deployment("deepseek-v3", fabric_for(s), tp=1, ep=4, dp=1, dtype="fp4", kv_dtype="fp8",
                         backend="analytic")


@pytest.mark.parametrize("isl, osl, bs, ntok", [(1000, 1000, 384, 2048), (1024, 8192, 96, 2048),
                                                (8192, 1024, 96, 8192 + 96), (1024, 32768, 64, 2048)])
def test_r1_b200_dep4_by_hand(isl: int, osl: int, bs: int, ntok: int) -> None:
    """DeepSeek-R1 NVFP4 on 4 x B200 (--tp 4 --ep 4): memory 4 x 192e9 B = 715.26 GiB; weights (671.03e9 - 1.853e9
    embeddings) x 0.5625 + 1.853e9 = 378.26e9 elements x 0.5 B = 176.14 GiB; KV 0.95 x 539.11 = 512.16 GiB; a token
    874,496 B. 1000/1000: 314.4 requests -> 128 x ceil(314.4 / 128) = 384 per attention rank (was 128 with head_dim
    128 and the full parameter count); tokens 628.8 -> 2048. 8192/1024: 68.2 -> 96; tokens 614 -> 2048, raised to
    ISL + 96."""
    s, dep = _r1(isl, osl)
    kv = 0.95 * (4 * 192e9 / GIB - ((671_026_404_352 - 1_853_358_080) * 0.5625 + 1_853_358_080) * 0.5 / GIB)
    req = kv / (874_496 / GIB * (isl + osl))
    want_bs = max(64, 32 * math.ceil(req / 32)) if req < 256 else 128 * math.ceil(req / 128)
    assert want_bs == bs
    assert bench_settings(s, dep) == (bs, ntok)


@pytest.mark.parametrize("chip, fabric, dtype", [("h200", None, "fp8"), ("gb200", None, "fp4")])
@pytest.mark.parametrize("isl, osl", [(1000, 1000), (8192, 1024), (32768, 1024)])
def test_mxfp4_checkpoint_takes_the_untuned_defaults(chip: str, fabric: str | None, dtype: str, isl: int,
                                                     osl: int) -> None:
    """gpt-oss (MXFP4 experts: W4A16_MXFP4 / W4A8_MXFP4_MXFP8, outside TUNED_QUANTS) skips the heuristic:
    BaseLlmArgs' defaults 2048 / 8192, then get_settings' floor ISL + 2048 (32768/1024 -> 34,816), whatever the
    memory; a tuned checkpoint of the same shape would be sized by memory instead."""
    s = Setup("gpt-oss", "gpt-oss-120b", chip, fabric, 1, 1, dtype, isl, osl, 1.0)
    dep = Deployment("gpt-oss-120b", fabric_for(s), tp=1, ep=1, dp=1, dtype=dtype, kv_dtype="fp8",
                     backend="analytic")
    assert bench_settings(s, dep) == (2048, max(8192, isl + 2048))
    # a tuned checkpoint (Llama-3.1-8B FP8 on one H200) is still sized by the heuristic, not the defaults
    t = Setup("8b", "llama3.1-8b", "h200", None, 1, 1, "fp8", isl, osl, 1.0)
    dep8 = Deployment("llama3.1-8b", fabric_for(t), tp=1, ep=1, dp=1, dtype="fp8", kv_dtype="fp8", backend="analytic")
    assert bench_settings(t, dep8) != (2048, max(8192, isl + 2048))
