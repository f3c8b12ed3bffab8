"""GPT-OSS's published checkpoint (MXFP4 experts, BF16 elsewhere) and its sliding-window kernels: closed forms."""

from __future__ import annotations

import pytest

from inference import MODELS, Shard, layer_ops
from inference.estimate import Deployment
from inference.models import MXFP4_BYTES
from topo import SpecError

M = MODELS["gpt-oss-120b"]


def dep(fabric: str, dtype: str, **kw) -> Deployment:
    return Deployment("gpt-oss-120b", fabric, tp=1, dp=1, dtype=dtype, backend="analytic", **kw)


def test_mxfp4_bytes_closed_form():
    # OCP MX v1.0: 32 E2M1 values (4 bits each) share one E8M0 scale (8 bits)
    assert MXFP4_BYTES * 8 * 32 == 32 * 4 + 8


@pytest.mark.parametrize("fabric,dtype", [("dgx-h200", "fp8"), ("gb200-nvl72", "fp4")])
def test_published_checkpoint_weight_bytes(fabric, dtype):
    d = dep(fabric, dtype)
    h, fm, E, L, V = M.hidden, M.moe_ffn, M.experts, M.layers, M.vocab
    qkv = h * (M.heads + 2 * M.kv_heads) * M.head_dim + (M.heads + 2 * M.kv_heads) * M.head_dim
    o = M.heads * M.head_dim * h + h
    held = d.held_weight_bytes()
    assert held["attention"] == pytest.approx(L * (qkv + o + 2 * h) * 2.0, rel=1e-12)  # BF16 + norms
    per_expert = 3 * h * fm * MXFP4_BYTES + (2 * fm + h) * 2.0  # MXFP4 matrices, BF16 biases
    assert held["moe"] == pytest.approx(L * (E * per_expert + h * E * 2.0), rel=1e-12)  # BF16 router
    assert held["embeddings"] == pytest.approx(2 * V * h * 2.0, rel=1e-12)  # untied, BF16
    # the published checkpoint is ~65 GB (openai/gpt-oss-120b safetensors: 60.8 GB of MXFP4 experts + BF16 rest)
    assert 64e9 < held["total"] < 66.5e9
    # the mean width over all parameters reproduces the total (a single replica, pp = 1)
    assert d.mean_weight_bytes * M.param_count() == pytest.approx(held["total"], rel=2e-3)


def test_kernel_dtypes_follow_the_chip():
    hop, bw = dep("dgx-h200", "fp8"), dep("gb200-nvl72", "fp4")
    assert hop.gemm_dtype == bw.gemm_dtype == "bf16" and hop.w == bw.w == 2.0
    assert hop.moe_dtype == "w4a16_mxfp4" and hop.moe_peak == hop.chip.peak_flops("bf16")
    assert bw.moe_dtype == "w4a8_mxfp4_mxfp8" and bw.moe_peak == bw.chip.peak_flops("fp8")
    # fp8 on Blackwell is the same checkpoint and the same kernels (the quant algo depends on the SM only)
    assert dep("gb200-nvl72", "fp8").moe_dtype == "w4a8_mxfp4_mxfp8"


def test_vllm_keeps_bf16_activations_on_blackwell():
    """vLLM's default MXFP4 backend on SM100 is MXFP4 x BF16 (estimate.MXFP4_BF16_STACKS): the w4a16 kernels at
    the BF16 rate on B200, where TensorRT-LLM and SGLang run MXFP8 x MXFP4 at the FP8 rate; Hopper is BF16 for all."""
    def moe(fab, stack):
        d = Deployment("gpt-oss-120b", fab, tp=1, dp=1, dtype="fp4" if "b200" in fab else "fp8", stack=stack,
                       backend="analytic")
        return d.moe_dtype, d.moe_peak / d.chip.peak_flops("bf16")

    assert moe("dgx-b200", "vllm") == ("w4a16_mxfp4", 1.0)
    assert moe("dgx-b200", "trtllm")[0] == moe("dgx-b200", "sglang")[0] == "w4a8_mxfp4_mxfp8"
    assert moe("dgx-b200", "trtllm")[1] == pytest.approx(2.0)  # FP8 rate = 2 x BF16 on B200
    assert moe("dgx-h200", "vllm") == moe("dgx-h200", "trtllm") == ("w4a16_mxfp4", 1.0)


def test_uniform_dtypes_and_other_models_unchanged():
    # a bf16 deployment of GPT-OSS keeps one width (dequantised checkpoint): total = params x 2 exactly
    d = dep("dgx-h200", "bf16")
    assert d.we == d.w == 2.0 and d.moe_dtype == "bf16"
    assert d.mean_weight_bytes == 2.0
    q = Deployment("qwen3-235b-a22b", "dgx-h200", tp=1, ep=4, dp=1, dtype="fp8", backend="analytic")
    assert q.we == q.w == 1.0 and q.moe_dtype == q.gemm_dtype == "fp8"
    with pytest.raises(SpecError, match="expert_dtype"):
        MODELS["llama3.1-8b"].replace(expert_dtype="mxfp4")
    with pytest.raises(SpecError, match="expert_dtype"):
        M.replace(expert_dtype="nvfp4")


def test_expert_op_bytes_at_batch_one():
    # one token reads top_k experts: k x (3 h f x we + biases x w)
    ops = {op.name: op for op in layer_ops(M, Shard(1, 1, 1), 1, 1, 100, w=2.0, a=2.0, kv=1.0, decode=True,
                                           we=MXFP4_BYTES)}
    per = 3 * M.hidden * M.moe_ffn * MXFP4_BYTES + (2 * M.moe_ffn + M.hidden) * 2.0
    assert ops["experts"].weight_bytes == pytest.approx(M.top_k * per, rel=1e-12)
    # the default (we = w) is the uniform form
    uni = {op.name: op for op in layer_ops(M, Shard(1, 1, 1), 1, 1, 100, w=1.0, a=2.0, kv=1.0, decode=True)}
    assert uni["experts"].weight_bytes == pytest.approx(M.top_k * M.expert_params() * 1.0, rel=1e-12)


def test_sliding_window_kv_read_per_step():
    # a decode step reads min(context + 1, 128) tokens' K/V on a sliding layer, context + 1 on a full layer
    kvb = 2 * M.kv_heads * M.head_dim * 2.0  # BF16 KV per token per layer
    for ctx in (10, 127, 5000):
        ops = {op.name: op for op in layer_ops(M, Shard(1, 1, 1), 4, 1, ctx, w=2.0, a=2.0, kv=2.0, decode=True)}
        assert ops["attention_swa"].kv_bytes == pytest.approx(4 * min(ctx + 1, 128) * kvb, rel=1e-12)
        assert ops["attention"].kv_bytes == pytest.approx(4 * (ctx + 1) * kvb, rel=1e-12)


@pytest.mark.parametrize("stack,full", [("trtllm", True), ("vllm", False), ("sglang", False), ("ideal", False)])
def test_kv_pool_of_sliding_layers_per_stack(stack, full):
    d = dep("dgx-h200", "fp8", kv_dtype="bf16", stack=stack)
    per = 2 * M.kv_heads * M.head_dim * 2.0
    n_full, swa = M.layers - M.sliding_layers, M.sliding_layers
    # TensorRT-LLM's pool keeps every layer at full length; vLLM's hybrid manager (and the physics) the window only
    want = per * M.layers * 2000 if full else per * (n_full * 2000 + swa * 128)
    assert d.kv_bytes_chip(3, 2000) == pytest.approx(3 * want, rel=1e-12)
    assert d.kv_bytes_per_seq_token() == pytest.approx(per * (M.layers if full else n_full), rel=1e-12)
    # a model without sliding layers is the same under every stack
    q = Deployment("llama3.1-8b", "dgx-h200", tp=1, dp=1, dtype="fp8", backend="analytic", stack=stack)
    assert q.kv_bytes_chip(3, 2000) == 3 * 2000 * 32 * 2 * 8 * 128 * 1.0


# ------------------------------------------------------------------ measured tables (aiconfigurator-core)
def _tables(system: str):
    pytest.importorskip("aiconfigurator_core")
    from inference import measured

    t = measured.tables(system, "trtllm")
    if t is None:
        pytest.skip(f"no trtllm tables for {system}")
    return t


def _rows(system: str, op: str, filename: str, **match):
    """The newest version's rows of a table holding rows that match ``match`` (column == value)."""
    import pandas as pd

    from inference import measured

    for p in measured.table_paths(system, op, "trtllm", filename):
        df = pd.read_parquet(p)
        sel = df
        for c, v in match.items():
            sel = sel[sel[c] == v]
        if len(sel):
            return df
    return pd.DataFrame(columns=["num_tokens", *match])


@pytest.mark.parametrize("system,label", [("h200_sxm", "w4a16_mxfp4"), ("gb200", "w4a8_mxfp4_mxfp8")])
def test_mxfp4_moe_rows_are_read_exactly(system, label):
    t = _tables(system)
    df = _rows(system, "moe", "moe_perf.parquet", moe_dtype=label, hidden_size=2880)
    sel = df[(df.moe_dtype == label) & (df.hidden_size == 2880) & (df.inter_size == 2880) & (df.num_experts == 128)
             & (df.topk == 4) & (df.moe_tp_size == 1) & (df.moe_ep_size == 1) & (df.distribution == "power_law_1.01")]
    if sel.empty:
        pytest.skip(f"{system}: no {label} rows for GPT-OSS's shape in this aiconfigurator-core")
    row = sel[sel.num_tokens > 128].iloc[0]  # above the min-latency switch
    got = t.moe(float(row.num_tokens), 2880, 2880, 4, 128, 1, 1, label)
    assert got == pytest.approx(sel[sel.num_tokens == row.num_tokens].latency.min() * 1e-3, rel=1e-9)


def test_windowed_attention_rows_are_read_exactly_and_full_rows_unchanged():
    t = _tables("gb200")
    df = _rows("gb200", "attention", "generation_attention_perf.parquet", window_size=128)
    key = (df.num_heads == 64) & (df.num_key_value_heads == 8) & (df.head_dim == 64) & (df.kv_cache_dtype == "fp8")
    for win in (128, 0):
        sel = df[key & (df.window_size == win) & (df.batch_size == 64) & (df.isl + df.step == 128)]
        if sel.empty:
            pytest.skip("no window rows for GPT-OSS's head layout in this aiconfigurator-core")
        got = t.decode_attention(64, 128, 64, 8, 64, "fp8", window=win)
        assert got == pytest.approx(sel.latency.median() * 1e-3, rel=1e-9)
    # the windowed kernel's time does not grow with the context past the window (it reads the window only)
    assert t.decode_attention(64, 4096, 64, 8, 64, "fp8", window=128) < 1.5 * t.decode_attention(
        64, 128, 64, 8, 64, "fp8", window=128)
    assert t.decode_attention(64, 4096, 64, 8, 64, "fp8") > 2 * t.decode_attention(64, 128, 64, 8, 64, "fp8")


def test_decode_step_reads_the_published_checkpoints_kernels():
    pytest.importorskip("aiconfigurator_core")
    d = Deployment("gpt-oss-120b", "gb200-nvl72", tp=1, dp=1, dtype="fp4", kv_dtype="fp8", stack="trtllm")
    if d.tables is None:
        pytest.skip("no gb200 tables")
    st = d.decode_step(256, 1000, {"activations": "hbm", "weights": "hbm", "kv_cache": "hbm"})
    src = {r["op"]: r["source"] for r in st.rows}
    # experts (MXFP4 x MXFP8 rows), windowed and full attention, QKV / O projections (BF16 GEMM rows): all measured
    for op in ("experts", "attention_swa", "attention", "qkv", "o_proj"):
        assert src[op] == "table", (op, src[op])
    assert "moe_perf" in d.provenance()["tables"]


def test_sram_only_auto_layout_sizes_the_published_checkpoint():
    # On an SRAM-only fabric auto_layout picks the fewest stages that hold the model; GPT-OSS at fp8 is its
    # published ~65 GB checkpoint (MXFP4 experts), not 116.8e9 parameters x 1 byte: on CS-3 (44 GB a wafer) one
    # stage fewer than the layout chosen must not fit, and the layout is no larger than the closed-form count.
    from inference.layout import auto_layout
    from inference.placement import chips_needed

    tp, pp = auto_layout("gpt-oss-120b", "cs3-cluster", dtype="fp8", batch=32, prompt=2048, output=256)
    d = Deployment("gpt-oss-120b", "cs3-cluster", tp=tp, pp=pp, dp=1, dtype="fp8")
    assert d.memory(32, 2048, 256)["fits"]
    n = chips_needed(M, d.chip, d.mean_weight_bytes, d.kv, 32, 2048 + 256, d.hbm_usable)
    assert tp * pp == n
    if pp > 1:
        fewer = Deployment("gpt-oss-120b", "cs3-cluster", tp=tp, pp=pp - 1, dp=1, dtype="fp8")
        assert not fewer.memory(32, 2048, 256)["fits"]


@pytest.mark.parametrize("fabric,peak_dtype", [("maia200-small", "fp8"), ("dgx-h200", "bf16")])
def test_roofline_runs_the_experts_at_the_moe_kernels_peak(fabric, peak_dtype):
    # the physics roofline (stack ideal) and every row's flop_time: MXFP4 experts compute at the MoE kernel's rate
    # (MXFP8 x MXFP4 at the FP8 rate with native FP4, BF16 without), attention GEMMs at the BF16 rate
    d = Deployment("gpt-oss-120b", fabric, tp=1, dp=1, dtype="fp8", stack="ideal")
    st = d.step(16, 2048, 0, "prefill")
    rows = {r["op"]: r for r in st.rows}
    ops = {op.name: op for op in layer_ops(M, Shard(1, 1, 1), 16, 2048, 0, w=2.0, a=2.0, kv=1.0, decode=False,
                                           we=MXFP4_BYTES)}
    assert rows["experts"]["flop_time"] == pytest.approx(
        ops["experts"].flops / (d.chip.peak_flops(peak_dtype) * d.ce), rel=1e-12)
    assert rows["qkv"]["flop_time"] == pytest.approx(ops["qkv"].flops / (d.chip.peak_flops("bf16") * d.ce), rel=1e-12)


def test_expert_dtype_on_a_dense_model_is_one_line_naming_value_and_fix():
    with pytest.raises(SpecError) as e:
        MODELS["llama3.1-8b"].replace(expert_dtype="mxfp4")
    msg = str(e.value)
    assert "\n" not in msg and "ModelSpec.expert_dtype" in msg and "'mxfp4'" in msg and "experts" in msg
    assert "drop" in msg or "remove" in msg  # the fix
