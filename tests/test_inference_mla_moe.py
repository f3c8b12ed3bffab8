"""MoE + attention-DP step mechanisms (issue 11): MLA's fused down-projection and absorbed decode BMMs,
compute-bound decode attention, and how the measured MoE / MLA tables are read (lanes, extrapolation)."""

from __future__ import annotations

import math

import pytest

from inference import decode_attention_time, load_model
from inference.kernels import profile_for
from inference.ops import Shard, layer_ops
from topo import load

DSV3 = load_model("deepseek-v3")


def _prof():
    return profile_for(load("dgx-b200").chip, "trtllm")


# --------------------------------------------------------------------------- closed forms
def test_decode_attention_memory_form_without_flops():
    prof = _prof()
    t = decode_attention_time(1e9, prof=prof, me=0.8, bandwidth=8e12)
    assert t == pytest.approx(prof.decode_attn_floor + 1e9 / (8e12 * min(1.0, 0.8 * prof.decode_attn_memory)))


def test_decode_attention_compute_bound_limit():
    """Many heads over one latent (MLA absorbed decode): the FLOP term binds, floor + FLOPs / (P ce a_c)."""
    prof = _prof()
    flops, peak, ce = 3e11, 2.25e15, 0.7
    t = decode_attention_time(1e6, prof=prof, me=0.8, bandwidth=8e12, flops=flops, peak_bf16=peak, ce=ce)
    assert t == pytest.approx(prof.decode_attn_floor + flops / (peak * min(1.0, ce * prof.fmha_compute)))


def test_decode_attention_gqa_stays_memory_bound():
    """GQA decode (<= 32 FLOP per cache byte) is unchanged by the compute term."""
    prof = _prof()
    kv = 4e8
    mem = decode_attention_time(kv, prof=prof, me=0.8, bandwidth=8e12)
    both = decode_attention_time(kv, prof=prof, me=0.8, bandwidth=8e12, flops=32 * kv, peak_bf16=2.25e15, ce=0.7)
    assert both == mem


@pytest.mark.parametrize("decode", [True, False])
def test_mla_fused_down_projection_conserves_flops(decode):
    m = DSV3
    tokens = 64
    ops = {op.name: op for op in layer_ops(m, Shard(1, 8, 1), 8 * tokens, 1, 100, w=0.5, a=2.0, kv=1.0,
                                            decode=decode)}
    assert "q_a" not in ops and "kv_a" not in ops
    fused = ops["qkv_a"]
    h, ql, kvl, rope = m.hidden, m.q_lora_rank, m.kv_lora_rank, m.qk_rope_dim
    # the separate q_a (h -> ql) and kv_a (h -> kvl + rope) GEMMs' FLOPs, weights and cache writes, as one GEMM
    assert fused.flops == pytest.approx(2.0 * tokens * h * ql + 2.0 * tokens * h * (kvl + rope))
    assert fused.weight_bytes == pytest.approx(h * (ql + kvl + rope) * 0.5)
    assert fused.kv_bytes == pytest.approx(tokens * (kvl + rope) * 1.0)
    assert fused.gemms == ((tokens, ql + kvl + rope, h),)


def test_mla_absorbed_bmm_shape_only_in_decode():
    m = DSV3
    dec = {op.name: op for op in layer_ops(m, Shard(1, 8, 1), 64, 1, 100, w=0.5, a=2.0, kv=1.0, decode=True)}
    pre = {op.name: op for op in layer_ops(m, Shard(1, 8, 1), 8, 64, 0, w=0.5, a=2.0, kv=1.0, decode=False)}
    assert dec["kv_b"].mla_bmm == (8, m.heads)  # 64 sequences over 8 attention groups, all 128 heads per rank
    # the same work as one GEMM over heads x (nope + v) columns: 2 x tokens x kv_lora x columns
    assert dec["kv_b"].flops == pytest.approx(2.0 * 8 * m.kv_lora_rank * m.heads * (m.qk_nope_dim + m.v_head_dim))
    assert pre["kv_b"].mla_bmm == ()


# --------------------------------------------------------------------------- measured tables
def _expected(system: str, op: str, filename: str, match: dict, pick: str = "median"):
    """The value of the newest table version holding ``match``, read independently of inference.measured."""
    import pandas as pd

    from inference import measured

    for path in measured.table_paths(system, op, "trtllm", filename):
        df = pd.read_parquet(path)
        for c, v in match.items():
            df = df[df[c] == v] if not callable(v) else df[v(df[c])]
        if len(df):
            return getattr(df.latency, pick)() * 1e-3
    return None


MOE_KEY = dict(moe_dtype="nvfp4", hidden_size=7168, inter_size=2048, topk=8, num_experts=256, moe_tp_size=1,
               moe_ep_size=8, distribution="power_law_1.01")


def _tables(system: str = ""):
    pytest.importorskip("aiconfigurator_core")
    from inference import measured

    tab = measured.tables(system or "b200_sxm", "trtllm")
    if tab is None:
        pytest.skip(f"no {system or 'b200_sxm'} TRT-LLM tables in the installed aiconfigurator-core")
    return tab if system else (tab, measured)


def test_moe_min_latency_kernels_serve_small_steps_only(monkeypatch):
    _, measured = _tables()
    # rule 2 on its own: the table as collected (rule 4, the sibling check, replaces this B200 CUTLASS key)
    monkeypatch.setattr(measured, "MOE_SIBLING_CHECK", False)
    tab = measured.KernelTables("b200_sxm", "trtllm")
    gated = lambda s: ~s.str.contains("nongated")  # noqa: E731
    small = _expected("b200_sxm", "moe", "moe_perf.parquet", {**MOE_KEY, "num_tokens": 64, "kernel_source": gated},
                      "min")
    big = _expected("b200_sxm", "moe", "moe_perf.parquet",
                    {**MOE_KEY, "num_tokens": 4096,
                     "kernel_source": lambda s: ~s.str.contains("nongated") & ~s.str.contains(
                         measured.MOE_MIN_LATENCY_LANE)}, "min")
    if small is None or big is None:
        pytest.skip("DeepSeek-V3 NVFP4 EP8 MoE rows not in this aiconfigurator-core")
    assert tab.moe(64, 7168, 2048, 8, 256, 1, 8, "fp4") == pytest.approx(small)
    assert tab.moe(4096, 7168, 2048, 8, 256, 1, 8, "fp4") == pytest.approx(big)
    fastest = _expected("b200_sxm", "moe", "moe_perf.parquet", {**MOE_KEY, "num_tokens": 4096,
                                                                 "kernel_source": gated}, "min")
    assert big >= fastest  # the min-latency kernel is not taken above 128 tokens even where it is faster


def test_moe_extrapolates_in_proportion_above_the_grid():
    tab, _ = _tables()
    top = tab.moe(16384, 7168, 2048, 8, 256, 1, 8, "fp4")
    if top is None:
        pytest.skip("no 16,384-token MoE row")
    grid = next(g for (name, key), g in tab._grids.items() if name == "moe_throughput" and key[0] == "nvfp4")
    t_max = float(grid.axes[0][-1])
    at_max = tab.moe(t_max, 7168, 2048, 8, 256, 1, 8, "fp4")
    for factor in (1.5, 2.0, 4.0):
        assert tab.moe(factor * t_max, 7168, 2048, 8, 256, 1, 8, "fp4") == pytest.approx(factor * at_max)


def test_mla_tables_exact_on_grid_points():
    tab, _ = _tables()
    want = _expected("b200_sxm", "mla", "generation_mla_perf.parquet",
                     dict(mla_dtype="bfloat16", kv_cache_dtype="fp8", num_heads=128, batch_size=64, step=2047, isl=1))
    if want is None:
        pytest.skip("no generation MLA rows")
    assert tab.mla_decode(64, 2048, 128, "fp8") == pytest.approx(want)
    want = _expected("b200_sxm", "mla", "context_mla_perf.parquet",
                     dict(mla_dtype="bfloat16", kv_cache_dtype="fp8", num_heads=128, batch_size=1, isl=4096, step=0))
    assert tab.mla_prefill(1, 4096, 128, "fp8") == pytest.approx(want)
    pre = _expected("b200_sxm", "mla_bmm", "mla_bmm_perf.parquet",
                    dict(op_name="mla_gen_pre", bmm_dtype="fp8", num_heads=128, num_tokens=512))
    post = _expected("b200_sxm", "mla_bmm", "mla_bmm_perf.parquet",
                     dict(op_name="mla_gen_post", bmm_dtype="fp8", num_heads=128, num_tokens=512))
    assert tab.mla_bmm(512, 128, "fp4") == pytest.approx((pre, post))
    # monotone in context between grid points
    ts = [tab.mla_decode(64, c, 128, "fp8") for c in (2048, 2500, 3000, 4096)]
    assert ts == sorted(ts)


def test_deepseek_decode_step_reads_mla_tables():
    _tables()
    from inference.estimate import Deployment

    dep = Deployment("deepseek-v3", "dgx-b200", tp=1, ep=8, dtype="fp4", kv_dtype="fp8")
    hbm = {"activations": "hbm", "weights": "hbm", "kv_cache": "hbm"}
    rows = {r["op"]: r for r in dep.step(8 * 64, 1, 2048, "decode", hbm).rows}
    assert rows["attention"]["source"] == "table" and rows["kv_b"]["source"] == "table"
    # the measured MLA kernel is slower than the memory-bound roofline of its cache reads (compute-bound)
    assert rows["attention"]["time"] > rows["attention"]["memory_time"]
    assert not math.isnan(rows["experts"]["time"])


# --------------------------------------------------------------------------- shared experts beside the routed path
def test_hide_shared_experts_closed_form():
    from inference.estimate import _hide_shared_experts

    def rows(shared):
        return [{"op": "router", "block": "moe", "time": 1.0}, {"op": "experts", "block": "moe", "time": 5.0},
                {"op": "shared_experts", "block": "moe", "time": shared}, {"op": "qkv", "block": "attention",
                                                                          "time": 9.0}]
    comm = [{"op": "ep_dispatch", "block": "moe", "collective": "all_to_all", "time": 2.0},
            {"op": "ep_combine", "block": "moe", "collective": "all_to_all", "time": 2.0}]
    # an all-reduce of the MoE layer (no attention DP) runs after both branches: it hides nothing
    reduce = [{"op": "moe_all_reduce", "block": "moe", "collective": "all_reduce", "time": 7.0}]
    for shared in (3.0, 10.0, 15.0):  # routed path = 1 + 5 + 2 + 2 = 10
        rs = rows(shared)
        _hide_shared_experts(rs, comm + reduce)
        sh = rs[2]
        assert sh["time"] == pytest.approx(max(0.0, shared - 10.0))
        assert sh["time"] + sh["hidden_time"] == pytest.approx(shared)
        # the layer's MoE block costs max(shared, routed)
        assert sum(r["time"] for r in rs if r["block"] == "moe") + 4.0 == pytest.approx(max(shared, 10.0))


def test_shared_experts_hidden_in_trtllm_decode_only():
    from inference.estimate import Deployment

    hbm = {"activations": "hbm", "weights": "hbm", "kv_cache": "hbm"}
    dep = Deployment("deepseek-v3", "dgx-b200", tp=1, ep=8, dtype="fp4", kv_dtype="fp8", backend="analytic")
    dec = dep.step(8 * 32, 1, 1024, "decode", hbm)
    sh = next(r for r in dec.rows if r["op"] == "shared_experts")
    routed = sum(r["time"] for r in dec.rows if r["op"] in ("router", "experts"))
    routed += sum(r["time"] for r in dec.comm_rows if r["block"] == "moe")
    assert sh["time"] == pytest.approx(max(0.0, sh["time"] + sh["hidden_time"] - routed))
    assert dec.compute == pytest.approx(sum(r["time"] * r["layers"] for r in dec.rows))
    pre = dep.step(8, 512, 0, "prefill", hbm)
    assert "hidden_time" not in next(r for r in pre.rows if r["op"] == "shared_experts")
    vllm = Deployment("deepseek-v3", "dgx-b200", tp=1, ep=8, dtype="fp4", kv_dtype="fp8", backend="analytic",
                      stack="vllm")
    assert "hidden_time" not in next(r for r in vllm.step(8 * 32, 1, 1024, "decode", hbm).rows
                                     if r["op"] == "shared_experts")


# --------------------------------------------------------------------------- attention TP + EP without attention DP
def test_tp_ep_without_attention_dp_all_reduces_like_tp_moe():
    """ep == tp (one attention group): every rank holds every token after the attention all-reduce, so a MoE
    layer's communication is two TP all-reduces of the activations (TensorRT-LLM ``Deepseekv3MoE``: no all-to-all
    when attention DP is off), the same rows as experts split tensor-parallel (ep 1); the all-to-alls and the
    reduce-scatter / all-gather pair of attention DP belong to ep > tp only. The router sees every token."""
    from inference.estimate import Deployment

    hbm = {"activations": "hbm", "weights": "hbm", "kv_cache": "hbm"}
    kw = dict(dtype="fp8", kv_dtype="fp8", backend="analytic")
    tpep = Deployment("deepseek-v3", "dgx-h200", tp=8, ep=8, dp=1, **kw).step(8, 1, 2048, "decode", hbm)
    tpmoe = Deployment("deepseek-v3", "dgx-h200", tp=8, ep=1, dp=1, **kw).step(8, 1, 2048, "decode", hbm)
    moe = {r["op"]: r for r in tpep.comm_rows if r["block"] == "moe"}
    assert set(moe) == {"attn_all_reduce", "moe_all_reduce"}
    assert all(r["collective"] == "all_reduce" and r["size"] == 8 * 7168 * 2 and r["group_size"] == 8
               for r in moe.values())
    ref = {r["op"]: r["time"] for r in tpmoe.comm_rows if r["block"] == "moe"}
    assert {k: r["time"] for k, r in moe.items()} == pytest.approx(ref, rel=1e-12)
    assert tpep.comm == pytest.approx(tpmoe.comm, rel=1e-12)
    # the shared expert hides behind router + experts only: the all-reduces are outside both branches
    rows = {r["op"]: r for r in tpep.rows}
    routed = rows["router"]["time"] + rows["experts"]["time"]
    sh = rows["shared_experts"]
    assert sh["time"] == pytest.approx(max(0.0, sh["time"] + sh["hidden_time"] - routed))
    # the router GEMM runs over the 8 tokens every rank holds (not 8 / 8 of them)
    router = [op for op in layer_ops(DSV3, Shard(8, 8), 8, 1, 2048, w=1.0, a=2.0, kv=1.0, decode=True)
              if op.name == "router"][0]
    assert router.gemms == ((8, 256, 7168),)
    # with attention DP (ep > tp) the tokens are split and exchanged; TensorRT-LLM at ep 8 <= top_k 8 has no
    # all-to-all (CutlassFusedMoE.enable_alltoall): the 64 tokens all-gathered at BF16 (block-scaled FP8 quantises
    # inside the fused op) with their routing (8 x top_k bytes), the BF16 outputs reduce-scattered
    adp = Deployment("deepseek-v3", "dgx-h200", tp=1, ep=8, dp=1, **kw).step(64, 1, 2048, "decode", hbm)
    ex = {r["op"]: r for r in adp.comm_rows}
    assert {k: r["collective"] for k, r in ex.items()} == {"ep_dispatch": "all_gather", "ep_combine": "reduce_scatter"}
    assert ex["ep_dispatch"]["size"] == 64 * (7168 * 2 + 8 * 8) and ex["ep_combine"]["size"] == 64 * 7168 * 2


def test_block_scaled_fp8_checkpoint_reads_fp8_block_rows():
    """DeepSeek-V3 / R1 publish block-scaled FP8 weights (config.json weight_block_size [128, 128]): with dtype fp8
    the measured GEMM and MoE lookups read the tables' ``fp8_block`` rows; the same model with per-tensor scales
    (``fp8_block=0``) reads the ``fp8`` rows; the BF16 router keeps its BF16 row."""
    tab = _tables("h200_sxm")
    from inference import kernels
    from inference.estimate import Deployment

    assert DSV3.fp8_block == 128
    hbm = {"activations": "hbm", "weights": "hbm", "kv_cache": "hbm"}

    def rows(model):
        dep = Deployment(model, "dgx-h200", tp=8, ep=8, dp=1, dtype="fp8", kv_dtype="fp8")
        return {r["op"]: r for r in dep.step(8, 1, 2048, "decode", hbm).rows}

    block, tensor = rows(DSV3), rows(DSV3.replace(name="dsv3-per-tensor", fp8_block=0))
    prof = profile_for(load("dgx-h200").chip, "trtllm")
    for model_rows, label in ((block, "fp8_block"), (tensor, "fp8")):
        moe = tab.moe(8, 7168, 2048, 8, 256, 1, 8, label)
        assert moe is not None
        assert model_rows["experts"]["time"] == pytest.approx(kernels.launched([moe], prof, graph=True), rel=1e-12)
        gemm = tab.gemm(8, 7168, 16 * 128, label)  # o_proj: 16 heads x 128 -> hidden
        assert model_rows["o_proj"]["time"] == pytest.approx(kernels.launched([gemm], prof, graph=True), rel=1e-12)
        assert model_rows["router"]["time"] == pytest.approx(
            kernels.launched([tab.gemm(8, 256, 7168, "bf16")], prof, graph=True), rel=1e-12)
    assert tab.moe(8, 7168, 2048, 8, 256, 1, 8, "fp8_block") != tab.moe(8, 7168, 2048, 8, 256, 1, 8, "fp8")


# --------------------------------------------------------------------------- rule 4: the B200 / GB200 sibling check
def _frame(slopes: dict, tokens=(64, 256, 1024, 4096), rank: int = 0, source: str = "x"):
    """A MoE frame: ``slopes`` maps a (dtype, kernel) key to its time per token (ms per token)."""
    import pandas as pd

    rows = [{"moe_dtype": d, "kernel_source": k, "num_tokens": t, "latency": a * t, "_rank": rank, "_source": source}
            for (d, k), a in slopes.items() for t in tokens]
    return pd.DataFrame(rows)


def test_sibling_repair_replaces_only_the_slower_outlier_key():
    pytest.importorskip("pandas")
    from inference import measured

    key_cols = ["moe_dtype", "kernel_source"]
    base = {("a", "k"): 1e-3, ("b", "k"): 2e-3, ("c", "k"): 3e-3, ("d", "k"): 4e-3, ("e", "k"): 5e-3}
    other = _frame(base, source="other.parquet")
    # own: every key 1.04 x the other's, except "d" 2 x slower than that (an outlier) and "e" 2 x faster (kept:
    # a run cannot make a kernel faster than the silicon)
    own = _frame({**{k: 1.04 * a for k, a in base.items()}, ("d", "k"): 2 * 1.04 * 4e-3, ("e", "k"): 0.5 * 1.04 * 5e-3},
                 rank=1, source="own.parquet")
    out, replaced = measured.sibling_repair(own, other, key_cols, label="test")
    assert replaced == [("d", "k")]
    d = out[out.moe_dtype == "d"].sort_values("num_tokens")
    assert list(d.latency) == pytest.approx([1.04 * 4e-3 * t for t in d.num_tokens])  # typical ratio 1.04
    assert set(d._rank) == {1} and all("other.parquet (test, x1.040)" == s for s in d._source)
    for k in "abce":  # untouched rows are the own rows, bit for bit
        mine = own[own.moe_dtype == k].sort_values("num_tokens").latency.to_numpy()
        assert (out[out.moe_dtype == k].sort_values("num_tokens").latency.to_numpy() == mine).all()
    assert len(out) == len(own)
    # nothing flagged: the frame itself comes back
    same, none = measured.sibling_repair(other, other, key_cols)
    assert same is other and none == []
    # too few common points: not compared
    few = _frame({("f", "k"): 9.0}, tokens=(64, 256))
    assert measured.sibling_repair(pd_concat(few, other), pd_concat(_frame({("f", "k"): 1.0}, tokens=(64, 256)),
                                                                   other), key_cols)[1] == []


def pd_concat(*frames):
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def test_sibling_check_on_the_installed_b200_table(monkeypatch):
    _, measured = _tables()
    args = (4096, 7168, 2048, 8, 256, 1, 8, "fp4")
    monkeypatch.setattr(measured, "MOE_SIBLING_CHECK", False)
    raw_b200 = measured.KernelTables("b200_sxm", "trtllm").moe(*args)
    raw_gb200 = measured.KernelTables("gb200", "trtllm").moe(*args)
    monkeypatch.setattr(measured, "MOE_SIBLING_CHECK", True)
    tab = measured.KernelTables("b200_sxm", "trtllm")
    got = tab.moe(*args)
    if raw_b200 is None or raw_gb200 is None or got is None:
        pytest.skip("DeepSeek-V3 NVFP4 EP8 MoE rows not on both chips")
    key = ("nvfp4", 7168, 2048, 8, 256, 1, 8, "moe_torch_flow_cutlass")
    if key not in tab.sibling_replaced:
        pytest.skip("this aiconfigurator-core's B200 CUTLASS key agrees with GB200's")
    assert raw_b200 > measured.SIBLING_FLAG * raw_gb200  # the outlier as collected
    assert 1 / measured.SIBLING_FLAG < got / raw_gb200 < measured.SIBLING_FLAG  # now the sibling's x typical
    assert any("read for b200_sxm" in s for s in tab.sources)


def test_report_names_the_sibling_rows_as_an_assumption():
    _, measured = _tables()
    from inference import estimate

    # whether the installed tables hold a replaced key of this deployment is a question of the data, asked of a
    # fresh table (the skip must not hang on the report being tested)
    fresh = measured.KernelTables("b200_sxm", "trtllm")
    fresh._moe_frame()
    if not any(k[:7] == ("nvfp4", 7168, 2048, 8, 256, 1, 8) for k in fresh.sibling_replaced):
        pytest.skip("the B200 DeepSeek-V3 NVFP4 EP8 MoE keys pass the sibling check in this aiconfigurator-core")
    fab = load("dgx-b200")
    moe = estimate("deepseek-v3", fab, tp=1, ep=8, dp=1, batch=256, prompt=1024, output=64, dtype="fp4",
                   kv_dtype="fp8")
    notes = [a for a in moe.provenance["assumptions"] if "read from gb200's rows" in a]
    assert "(read for b200_sxm" in moe.provenance["tables"]
    assert len(notes) == 1 and "ASSUMPTION" in notes[0]
    dense = estimate("llama3.1-8b", fab, tp=1, dp=1, batch=8, prompt=512, output=64, dtype="fp8")
    assert not any("read from gb200's rows" in a for a in dense.provenance["assumptions"])


def test_moe_lookup_names_the_file_of_the_rows_that_answer():
    """A MoE lookup takes the fastest kernel per token count; where rule 4 put the sibling chip's rows beside the
    chip's own (another ``_source``), the lookup's source names the file(s) of the rows that answer that point,
    not the first row of the key."""
    pytest.importorskip("pandas")
    import pandas as pd

    from inference import measured

    own, sib = "b200_sxm/moe/own.parquet", "gb200/moe/sib.parquet (read for b200_sxm, x1.044)"
    key = dict(moe_dtype="bfloat16", hidden_size=64, inter_size=32, topk=2, num_experts=8, moe_tp_size=1,
               moe_ep_size=1, distribution=measured.MOE_DISTRIBUTION, _rank=0)
    # own min-latency kernel first in the frame, fastest at 8 and 16 tokens; the sibling's CUTLASS rows fastest at
    # 32 and 64 tokens
    rows = [dict(key, kernel_source="moe_torch_flow_min_latency", num_tokens=t, latency=lat, _source=own)
            for t, lat in ((8, 1.0), (16, 1.5), (32, 4.0), (64, 8.0))]
    rows += [dict(key, kernel_source="moe_torch_flow_cutlass", num_tokens=t, latency=lat, _source=sib)
             for t, lat in ((8, 2.0), (16, 2.5), (32, 3.0), (64, 3.5))]
    tab = measured.KernelTables("b200_sxm", "trtllm")
    tab._frames["moe_checked"] = pd.DataFrame(rows)
    args = (64, 32, 2, 8, 1, 1, "bf16")
    assert tab.moe(8, *args) == pytest.approx(1.0e-3) and tab.last_source == own
    assert tab.moe(64, *args) == pytest.approx(3.5e-3) and tab.last_source == sib
    assert tab.moe(32, *args) == pytest.approx(3.0e-3) and tab.last_source == sib
    tab.moe(24, *args)  # between 16 (own row) and 32 (sibling row): both files
    assert own in tab.last_source and sib in tab.last_source
    assert tab.moe(8, *args) is not None and tab.last_source == own  # bit for bit the same on a repeat


def test_report_tables_name_no_lookup_when_none_answered(monkeypatch):
    """An estimate whose every kernel misses the tables lists none of them (not the memoised tables' lookups of
    other estimates) and names no sibling rows."""
    pytest.importorskip("pandas")
    from inference import estimate, measured

    stale = "gb200/moe/trtllm/x/moe_perf.parquet (read for b200_sxm, x1.044)"

    class Empty(measured.KernelTables):
        def _frame(self, *a, **k):
            return None

    tab = Empty("b200_sxm", "trtllm")
    tab.sources.add(stale)  # another estimate's lookup in this process
    tab.last_source = stale
    monkeypatch.setattr(measured, "tables", lambda system, stack: tab)
    rep = estimate("llama3.1-8b", load("dgx-b200"), tp=1, dp=1, batch=8, prompt=512, output=64, dtype="fp8")
    assert rep.provenance["kernels_measured"] == 0 and rep.provenance["kernels_analytic"] > 0
    assert stale not in rep.provenance["tables"]
    assert not any("read from gb200's rows" in a for a in rep.provenance["assumptions"])


def test_sibling_repair_drops_every_version_of_a_replaced_key():
    """A replaced key keeps none of its own rows, older table versions included (``KernelTables._lookup`` would
    read an older version's rows where the newest had none), and its sibling rows carry its own newest rank."""
    pytest.importorskip("pandas")
    from inference import measured

    key_cols = ["moe_dtype", "kernel_source"]
    base = {("a", "k"): 1e-3, ("b", "k"): 2e-3, ("c", "k"): 3e-3, ("d", "k"): 4e-3}
    other = pd_concat(_frame(base, source="other-new"), _frame({("d", "k"): 9.0}, rank=1, source="other-old"))
    own = pd_concat(_frame({**base, ("d", "k"): 2 * 4e-3}, source="own-new"),
                    _frame({("d", "k"): 4e-3, ("e", "k"): 1.0}, rank=1, source="own-old"))
    out, replaced = measured.sibling_repair(own, other, key_cols)
    assert replaced == [("d", "k")]
    d = out[out.moe_dtype == "d"]
    assert len(d) == 4 and set(d._rank) == {0} and all(s.startswith("other-new (") for s in d._source)
    assert list(d.sort_values("num_tokens").latency) == pytest.approx([4e-3 * t for t in (64, 256, 1024, 4096)])
    assert len(out[out.moe_dtype == "e"]) == 4  # an older-version key not on the other chip: kept


def test_sibling_ratios_by_hand():
    pd = pytest.importorskip("pandas")
    from inference import measured

    def frame(rows):
        return pd.DataFrame(rows, columns=["moe_dtype", "kernel_source", "num_tokens", "latency", "_rank"])

    # key a: ratios 1, 2, 3 at three token counts on the newest version (an older version, rank 1, would give 10)
    own = frame([("a", "k", 8, 1.0, 0), ("a", "k", 16, 4.0, 0), ("a", "k", 32, 9.0, 0),
                 ("a", "k", 8, 10.0, 1), ("a", "k", 16, 20.0, 1), ("a", "k", 32, 30.0, 1),
                 ("b", "k", 8, 5.0, 0), ("b", "k", 16, 5.0, 0), ("b", "k", 32, 5.0, 0), ("b", "k", 64, 5.0, 0),
                 ("c", "k", 8, 1.0, 0), ("c", "k", 16, 1.0, 0)])  # c: two common points, not compared
    other = frame([("a", "k", 8, 1.0, 0), ("a", "k", 16, 2.0, 0), ("a", "k", 32, 3.0, 0), ("a", "k", 64, 7.0, 0),
                   ("b", "k", 8, 1.0, 0), ("b", "k", 16, 1.0, 0), ("b", "k", 32, 1.0, 0), ("b", "k", 64, 1.0, 0),
                   ("c", "k", 8, 1.0, 0), ("c", "k", 16, 1.0, 0)])
    r = measured.sibling_ratios(own, other, ["moe_dtype", "kernel_source"], ["num_tokens"]).set_index("moe_dtype")
    assert sorted(r.index) == ["a", "b"]
    assert (r.loc["a", "count"], r.loc["a", "median"], r.loc["a", "min"], r.loc["a", "max"]) == (3, 2.0, 1.0, 3.0)
    assert (r.loc["b", "count"], r.loc["b", "median"]) == (4, 5.0)
    assert r.loc["a", "typical"] == r.loc["b", "typical"] == 3.5  # median of the keys' medians 2 and 5


# --------------------------------------------------------------------------- rule 5: expert TP read as EP
GPTOSS = (2880, 2880, 4, 128)  # hidden, inter, top-k, experts (GPT-OSS-120B)


def test_expert_tp_key_missing_reads_the_ep_key_of_the_same_degree(monkeypatch):
    """GPT-OSS's MXFP4 experts were measured at moe_tp 1 only: a TP 2 lookup equals the EP 2 key at the same
    tokens (exactly: the same rows), names it in its source, and is None (analytic) with the rule off."""
    _, measured = _tables()
    tab = measured.KernelTables("b200_sxm", "trtllm")
    ep2 = tab.moe(4, *GPTOSS, 1, 2, "w4a8_mxfp4_mxfp8")
    if ep2 is None:
        pytest.skip("no GPT-OSS MXFP4 EP 2 MoE rows in this aiconfigurator-core")
    assert tab.moe(4, *GPTOSS, 2, 1, "w4a8_mxfp4_mxfp8") == ep2
    assert "(expert TP 2 read as EP 2)" in tab.last_source
    assert tab.moe(64, *GPTOSS, 2, 2, "w4a8_mxfp4_mxfp8") == tab.moe(64, *GPTOSS, 1, 4, "w4a8_mxfp4_mxfp8")
    monkeypatch.setattr(measured, "MOE_TP_FROM_EP", False)
    assert measured.KernelTables("b200_sxm", "trtllm").moe(4, *GPTOSS, 2, 1, "w4a8_mxfp4_mxfp8") is None


def test_expert_tp_key_measured_is_read_as_measured():
    """Where the table measured the TP key itself, rule 5 does not apply: the lookup is that key's own time
    (read independently from the parquet) and its source carries no 'read as EP'."""
    _, measured = _tables()
    r = measured.tp_ep_ratios("b200_sxm", "trtllm")
    if r is None or not len(r):
        pytest.skip("no MoE key measured both ways")
    k = r[(r.moe_dtype == "nvfp4") & (r.moe_tp_size == 2) & (r.moe_ep_size == 1)]
    if not len(k):
        pytest.skip("no NVFP4 moe_tp 2 key")
    k = k.iloc[0]
    want = _expected("b200_sxm", "moe", "moe_perf.parquet",
                     dict(moe_dtype="nvfp4", hidden_size=int(k.hidden_size), inter_size=int(k.inter_size),
                          topk=int(k.topk), num_experts=int(k.num_experts), moe_tp_size=2, moe_ep_size=1,
                          distribution="power_law_1.01", num_tokens=256,
                          kernel_source=lambda s: ~s.str.contains("nongated") & ~s.str.contains(
                              measured.MOE_MIN_LATENCY_LANE)), "min")
    if want is None:
        pytest.skip("that key has no 256-token row")
    tab = measured.KernelTables("b200_sxm", "trtllm")
    got = tab.moe(256, int(k.hidden_size), int(k.inter_size), int(k.topk), int(k.num_experts), 2, 1, "fp4")
    assert got == pytest.approx(want) and "read as EP" not in tab.last_source


def test_tp_ep_ratios_are_the_per_key_medians_by_hand():
    """tp_ep_ratios' median for one key equals the median of TP / EP over the common token counts, computed here
    from the parquet; the keys measured both ways agree around 1 (TRT-LLM B200: the rule's premise)."""
    import numpy as np
    import pandas as pd

    _, measured = _tables()
    r = measured.tp_ep_ratios("b200_sxm", "trtllm")
    if r is None or not len(r):
        pytest.skip("no MoE key measured both ways")
    assert 0.9 < r["median"].median() < 1.1
    small = measured.tp_ep_ratios("b200_sxm", "trtllm", max_tokens=256)  # the decode range only: fewer points
    both = r.merge(small, on=["version", "moe_dtype", "hidden_size", "inter_size", "topk", "num_experts",
                              "moe_tp_size", "moe_ep_size"], suffixes=("", "_small"))
    assert len(both) and (both["count_small"] <= both["count"]).all() and (both["count_small"] < both["count"]).any()
    row = r.iloc[len(r) // 2]
    path = next(p for p in measured.table_paths("b200_sxm", "moe", "trtllm", "moe_perf.parquet")
                if p.split("/")[-2] == row.version)
    d = pd.read_parquet(path)
    d = d[(d.distribution == measured.MOE_DISTRIBUTION) & ~d.kernel_source.str.contains("nongated")]
    sel = (d.moe_dtype == row.moe_dtype) & (d.hidden_size == row.hidden_size) & (d.inter_size == row.inter_size) \
        & (d.topk == row.topk) & (d.num_experts == row.num_experts)
    tp = d[sel & (d.moe_tp_size == row.moe_tp_size) & (d.moe_ep_size == row.moe_ep_size)]
    ep = d[sel & (d.moe_tp_size == 1) & (d.moe_ep_size == row.moe_tp_size * row.moe_ep_size)]
    a = tp.groupby("num_tokens")["latency"].min()
    b = ep.groupby("num_tokens")["latency"].min()
    common = a.index.intersection(b.index)
    assert row["count"] == len(common)
    assert row["median"] == pytest.approx(float(np.median(a[common] / b[common])), rel=1e-12)


def test_report_says_when_an_expert_tp_key_was_read_as_ep():
    _tables()
    from inference import estimate

    fab = load("dgx-b200")
    r = estimate("gpt-oss-120b", fab, tp=2, dp=1, batch=4, prompt=1024, output=64, dtype="fp4", kv_dtype="fp8")
    if "read as EP" not in r.provenance["tables"]:
        pytest.skip("this aiconfigurator-core measured GPT-OSS's experts at moe_tp 2")
    assert sum("measured rule 5" in a and "ASSUMPTION" in a for a in r.provenance["assumptions"]) == 1
    one = estimate("gpt-oss-120b", fab, tp=1, dp=1, batch=4, prompt=1024, output=64, dtype="fp4", kv_dtype="fp8")
    assert not any("measured rule 5" in a for a in one.provenance["assumptions"])
