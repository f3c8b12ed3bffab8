"""Serving-stack kernel model (inference.kernels), measured-kernel backend (inference.measured), prices.

Each efficiency curve is checked against its closed form at its limits; stack="ideal" against the roofline
computed by hand from the op counts; the measured interpolation against the table values themselves.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference import (
    Grid,
    decode_attention_time,
    elementwise_time,
    estimate,
    fmha_time,
    gemm_time,
    hot_rank_tokens,
    profile_for,
)
from topo import ChipSpec, Fabric, SpecError
from topo.presets import chip_preset

H100 = chip_preset("h100-sxm")
PROF = profile_for(H100, "trtllm")


def one_chip(chip: ChipSpec) -> Fabric:
    g = nx.Graph()
    g.add_node(0, kind="chip")
    return Fabric.from_graph(g, chip=chip, name=f"1x {chip.name}")


# ---------------------------------------------------------------------- closed forms at their limits
def test_large_gemm_runs_at_peak_times_efficiency():
    """Tiles filling whole waves: time -> floor + 2mnk / (peak x ce x g_c), exactly."""
    tm, tn = PROF.tile_m, PROF.tile_n
    m, n = tm * 12 * 4, tn * 11 * 4  # 48 x 44 tiles = 2112 = 16 waves of 132 SMs
    k = 16384
    peak = H100.peak_flops("bf16")
    t = gemm_time(m, n, k, prof=PROF, dtype="bf16", peak=peak, ce=0.7, me=0.8, bytes_moved=0.0, bandwidth=1e12)
    eff = min(1.0, 0.7 * PROF.gemm_compute["bf16"])
    assert t == pytest.approx(PROF.gemm_floor["bf16"] + 2.0 * m * n * k / (peak * eff), rel=1e-12)


def test_gemm_efficiency_follows_the_chip_asymptote():
    """The chip's compute_efficiency is the asymptote: halving it doubles a large GEMM's compute time."""
    args = dict(prof=PROF, dtype="bf16", peak=1e15, me=0.8, bytes_moved=0.0, bandwidth=1e12)
    m = n = 128 * 132
    t1 = gemm_time(m, n, 8192, ce=0.4, **args) - PROF.gemm_floor["bf16"]
    t2 = gemm_time(m, n, 8192, ce=0.2, **args) - PROF.gemm_floor["bf16"]
    assert t2 == pytest.approx(2 * t1, rel=1e-12)


def test_wave_quantisation_last_wave():
    """One tile more than a full wave costs a whole second wave."""
    k, peak = 4096, 1e15
    args = dict(prof=PROF, dtype="bf16", peak=peak, ce=0.7, me=0.8, bytes_moved=0.0, bandwidth=1e12)
    full = gemm_time(128 * PROF.cores, 128, k, **args)
    over = gemm_time(128 * (PROF.cores + 1), 128, k, **args)
    floor = PROF.gemm_floor["bf16"]
    assert (over - floor) == pytest.approx(2 * (full - floor), rel=1e-12)


def test_small_m_gemm_is_weight_bandwidth_bound():
    """m = 1: time = floor + weight bytes / (bw x me x g_m) (the small-M plateau)."""
    n, k, bw = 8192, 8192, 3.35e12
    byt = n * k * 1.0
    t = gemm_time(1, n, k, prof=PROF, dtype="fp8", peak=H100.peak_flops("fp8"), ce=0.7, me=0.8, bytes_moved=byt,
                  bandwidth=bw)
    assert t == pytest.approx(PROF.gemm_floor["fp8"] + byt / (bw * min(1.0, 0.8 * PROF.gemm_memory["fp8"])))


def test_tiny_kernels_cost_their_floor():
    assert elementwise_time(1.0, prof=PROF, me=0.8, bandwidth=3.35e12) == PROF.elem_floor
    t = gemm_time(1, 1, 1, prof=PROF, dtype="bf16", peak=1e15, ce=0.7, me=0.8, bytes_moved=1.0, bandwidth=1e12)
    assert t == pytest.approx(PROF.gemm_floor["bf16"], rel=1e-4)  # + one padded tile of work (~2e-11 s)
    assert decode_attention_time(0.0, prof=PROF, me=0.8, bandwidth=1e12) == PROF.decode_attn_floor


def test_large_elementwise_streams_at_bandwidth():
    byt = 1e10
    t = elementwise_time(byt, prof=PROF, me=0.8, bandwidth=3.35e12)
    assert t == pytest.approx(byt / (3.35e12 * 0.8 * PROF.elem_memory))


def test_fmha_efficiency_rises_to_its_asymptote():
    """Long sequences: FLOPs / (peak x ce x a_c); the efficiency at s = s_half is half of it."""
    peak, fl = 1e15, 1e15
    eff = min(1.0, 0.7 * PROF.fmha_compute)
    t_long = fmha_time(fl, 1e9, 0.0, prof=PROF, peak_bf16=peak, ce=0.7, me=0.8, bandwidth=1e12)
    assert t_long == pytest.approx(PROF.fmha_floor + fl / (peak * eff), rel=1e-5)
    t_half = fmha_time(fl, PROF.fmha_half, 0.0, prof=PROF, peak_bf16=peak, ce=0.7, me=0.8, bandwidth=1e12)
    assert t_half - PROF.fmha_floor == pytest.approx(2 * fl / (peak * eff), rel=1e-12)


def test_routing_skew_limits():
    """skew 0: perfect balance; one rank: everything; skew grows the hottest rank's load."""
    assert hot_rank_tokens(800, 8, 0.0) == 100
    assert hot_rank_tokens(800, 1, 1.0) == 800
    loads = [hot_rank_tokens(800, 8, s) for s in (0.0, 0.5, 1.0, 2.0)]
    assert loads == sorted(loads) and loads[-1] <= 800
    assert hot_rank_tokens(800, 8, 1.0) == pytest.approx(100 + math.sqrt(2 * 100 * math.log(8)))


# ---------------------------------------------------------------------- stacks
def test_ideal_equals_the_roofline():
    """stack='ideal': every op time is max(FLOPs/(peak ce), bytes/(bw me)) + op_overhead, nothing else."""
    chip = ChipSpec("t", flops={"fp8": 1000e12, "bf16": 500e12}, hbm_bytes=80e9, hbm_bandwidth=2e12,
                    compute_efficiency=0.5, memory_efficiency=0.8)
    r = estimate("llama3.1-8b", one_chip(chip), tp=1, batch=4, prompt=256, output=8, stack="ideal", sram=False)
    for o in r.ops:
        assert o["op"] != "framework"
        expect = max(o["flops"] / (1000e12 * 0.5), o["bytes"] / (2e12 * 0.8)) + 1.5e-6
        assert o["time"] == pytest.approx(expect, rel=1e-12)
    assert r.provenance["backend"] == "roofline"


def test_stacks_are_slower_than_ideal():
    """Every serving stack's kernels sit below the roofline (floors, efficiencies <= the chip's asymptotes)."""
    fab = one_chip(H100)
    kw = dict(tp=1, batch=8, prompt=512, output=32, backend="analytic")
    t = {s: estimate("llama3.1-8b", fab, stack=s, **kw) for s in ("ideal", "trtllm", "vllm", "sglang")}
    for s in ("trtllm", "vllm", "sglang"):
        assert t["ideal"].tpot < t[s].tpot and t["ideal"].ttft < t[s].ttft


@pytest.mark.parametrize("chip_name", ["h100-sxm", "b200"])
@pytest.mark.parametrize("stack", ["vllm", "sglang"])
def test_stack_curves_at_their_limits(stack, chip_name):
    """vLLM / SGLang fitted profiles: each curve against its closed form at both limits (large kernel ->
    peak or bandwidth x the chip's efficiency x the stack's factor; tiny kernel -> the stack's floor)."""
    chip = chip_preset(chip_name)
    prof = profile_for(chip, stack)
    assert prof.name == stack and prof.cores == {"h100-sxm": 132, "b200": 148}[chip_name]  # SMs
    ce, me, bw = chip.compute_efficiency, chip.memory_efficiency, chip.hbm_bandwidth
    for dtype in ("bf16", "fp8"):
        peak = chip.peak_flops(dtype)
        m, n, k = prof.tile_m * prof.cores * 4, prof.tile_n * 8, 16384  # whole waves
        t = gemm_time(m, n, k, prof=prof, dtype=dtype, peak=peak, ce=ce, me=me, bytes_moved=0.0, bandwidth=bw)
        assert t == pytest.approx(prof.gemm_floor[dtype] + 2.0 * m * n * k / (peak * min(1.0, ce * prof.gemm_compute[
            dtype])), rel=1e-12)
        byt = 8192 * 8192 * 2.0
        t1 = gemm_time(1, 8192, 8192, prof=prof, dtype=dtype, peak=peak, ce=ce, me=me, bytes_moved=byt, bandwidth=bw)
        assert t1 == pytest.approx(prof.gemm_floor[dtype] + byt / (bw * min(1.0, me * prof.gemm_memory[dtype])),
                                   rel=1e-12)
        tiny = gemm_time(1, 1, 1, prof=prof, dtype=dtype, peak=peak, ce=ce, me=me, bytes_moved=1.0, bandwidth=bw)
        assert tiny == pytest.approx(prof.gemm_floor[dtype], rel=1e-4)
    fl, peak = 1e15, chip.peak_flops("bf16")
    t_long = fmha_time(fl, 1e9, 0.0, prof=prof, peak_bf16=peak, ce=ce, me=me, bandwidth=bw)
    assert t_long == pytest.approx(prof.fmha_floor + fl / (peak * min(1.0, ce * prof.fmha_compute)), rel=1e-5)
    assert decode_attention_time(0.0, prof=prof, me=me, bandwidth=bw) == prof.decode_attn_floor
    kv = 1e10
    assert decode_attention_time(kv, prof=prof, me=me, bandwidth=bw) == pytest.approx(
        prof.decode_attn_floor + kv / (bw * min(1.0, me * prof.decode_attn_memory)), rel=1e-12)
    assert elementwise_time(1.0, prof=prof, me=me, bandwidth=bw) == prof.elem_floor


@pytest.mark.parametrize("stack", ["vllm", "sglang"])
def test_stack_profiles_are_their_own_fits(stack):
    """vllm / sglang carry their own fitted kernel parameters (not TRT-LLM's scaled), with fit provenance
    in inference/kernels.py and the host-side costs stated as assumptions in the report."""
    for chip in (H100, chip_preset("b200")):
        trt, prof = profile_for(chip, "trtllm"), profile_for(chip, stack)
        assert prof.gemm_floor["fp8"] != trt.gemm_floor["fp8"]
        assert prof.decode_attn_floor != trt.decode_attn_floor
        assert any(a.startswith(f"ASSUMPTION: {stack} host costs") for a in prof.assumptions)


def test_prefill_overhead_per_layer_is_added_once_per_prefill_step():
    """framework row of a prefill step = prefill_step_overhead + prefill_overhead_per_layer x layers (the
    per-layer host dispatch aiconfigurator's serving-mode vLLM estimate adds; 0 in the default profiles)."""
    import dataclasses

    from inference.estimate import Deployment

    for stack, per_layer in (("vllm", 0.8e-3), ("sglang", 0.0), ("trtllm", 0.0)):
        dep = Deployment("llama3.1-8b", one_chip(H100), tp=1, dp=1, stack=stack, backend="analytic")
        assert dep.profile.prefill_overhead_per_layer == 0.0
        dep.profile = dataclasses.replace(dep.profile, prefill_overhead_per_layer=per_layer)
        rows = dep.step(2, 256, 0, "prefill").rows
        fw = [r for r in rows if r["op"] == "framework"]
        assert len(fw) == 1
        assert fw[0]["time"] == pytest.approx(dep.profile.prefill_step_overhead + per_layer * 32, rel=1e-12)


def test_unknown_stack_is_a_spec_error():
    with pytest.raises(SpecError, match="stack"):
        estimate("llama3.1-8b", one_chip(H100), tp=1, stack="tensorrt")


def test_chip_without_tables_states_the_transfer_assumption():
    r = estimate("llama3.1-8b", one_chip(chip_preset("mi300x")), tp=1, batch=4, prompt=256, output=8)
    assert r.provenance["backend"] == "analytic"
    assert any("ASSUMPTION" in a and "mi300x" in a for a in r.provenance["assumptions"])


# ---------------------------------------------------------------------- dtypes and prices
def test_fp4_on_h100_names_supported_dtypes():
    with pytest.raises(SpecError, match="fp8, int8, bf16"):
        estimate("llama3.1-8b", one_chip(H100), tp=1, dtype="fp4")


def test_prices_move_cost_per_mtok_in_the_expected_direction():
    fab = one_chip(H100)
    kw = dict(tp=1, batch=8, prompt=256, output=16, backend="analytic")
    base = estimate("llama3.1-8b", fab, **kw)
    cheap = estimate("llama3.1-8b", fab, prices={"h100-sxm": {"capex": 10_000}}, **kw)
    dear = estimate("llama3.1-8b", fab, prices={"h100-sxm": 20.0}, **kw)
    given_ = estimate("llama3.1-8b", fab, price_per_chip_hour=2.0, **kw)
    assert cheap.cost_per_mtok < base.cost_per_mtok < dear.cost_per_mtok
    assert given_.cost_per_mtok == pytest.approx(2.0 / (given_.tokens_per_s["replica"] * 3600) * 1e6)
    # a pricier chip preset costs more per token at equal speed
    pricier = H100.replace(name="h100-sxm", capex=2 * H100.capex)
    assert estimate("llama3.1-8b", one_chip(pricier), **kw).cost_per_mtok > base.cost_per_mtok


def test_bad_prices_are_spec_errors():
    with pytest.raises(SpecError, match="prices.h100-sxm"):
        estimate("llama3.1-8b", one_chip(H100), tp=1, prices={"h100-sxm": {"capex": -1}})
    with pytest.raises(SpecError, match="prices"):
        estimate("llama3.1-8b", one_chip(H100), tp=1, prices="/nonexistent/prices.yaml")


def test_a_prices_key_that_names_no_chip_is_an_error_not_ignored():
    """`--prices` with "h100: 2.5" (the chip is h100-sxm) left the default price without a word; a key naming no
    chip preset is a one-line error naming it and this chip, while other presets' keys and case are fine."""
    kw = dict(tp=1, batch=8, prompt=256, output=16, backend="analytic")
    with pytest.raises(SpecError, match=r"prices\.h100: .*h100-sxm") as exc:
        estimate("llama3.1-8b", one_chip(H100), prices={"h100": 2.5}, **kw)
    assert "\n" not in str(exc.value)
    shared = estimate("llama3.1-8b", one_chip(H100), prices={"H100-SXM": 2.5, "maia200": 9.0}, **kw)
    assert shared.cost_per_mtok == estimate("llama3.1-8b", one_chip(H100), price_per_chip_hour=2.5, **kw).cost_per_mtok


def test_a_shared_prices_file_with_fabric_keys_still_prices_infer(tmp_path):
    """One prices file for every run: `scaleup plan` keys prices by candidate fabric (gb200-nvl72: 4.2) as well as
    by chip, so infer on dgx-h100 with that file uses its h100-sxm entry and leaves the other chips' and the
    bundled fabrics' entries alone (f7424d1 refused it: 'prices.gb200-nvl72: not a chip name'); a key that is
    neither a chip preset nor a bundled fabric is still an error; the run's own fabric key prices it, as in plan."""
    kw = dict(tp=1, batch=8, prompt=256, output=16, backend="analytic")
    f = tmp_path / "prices.yaml"
    f.write_text("h100-sxm: 2.5\nb200: {capex: 40000, price_per_hour: 4.0}\nmaia200: 3.0\ngb200-nvl72: 4.2\n")
    shared = estimate("llama3.1-8b", one_chip(H100), prices=str(f), **kw)
    assert shared.cost_per_mtok == estimate("llama3.1-8b", one_chip(H100), price_per_chip_hour=2.5, **kw).cost_per_mtok
    assert "2.5 $/chip-hour (prices override)" in shared.provenance["price"]
    with pytest.raises(SpecError, match=r"prices\.gb200-nvl7: "):
        estimate("llama3.1-8b", one_chip(H100), prices={"h100-sxm": 2.5, "gb200-nvl7": 4.2}, **kw)
    # the run's own fabric key prices it, before its chip's (as scaleup plan prices a candidate)
    fab = Fabric.from_graph(one_chip(H100).graph, chip=H100, name="dgx-h100")
    own = estimate("llama3.1-8b", fab, prices=str(f), **kw)
    assert own.cost_per_mtok == estimate("llama3.1-8b", fab, price_per_chip_hour=2.5, **kw).cost_per_mtok
    f.write_text("h100-sxm: 2.5\ndgx-h100: 6.0\nmaia200: 3.0\n")
    own = estimate("llama3.1-8b", fab, prices=str(f), **kw)
    assert own.cost_per_mtok == estimate("llama3.1-8b", fab, price_per_chip_hour=6.0, **kw).cost_per_mtok
    assert "6 $/chip-hour (prices override)" in own.provenance["price"]


@pytest.mark.parametrize("content,match", [
    (b"a: [1, 2\n: :\n", "not valid YAML"),
    (b"\x7fELF\x02\x01\xd0\xff\x00", "UTF-8"),
])
def test_bad_prices_files_are_one_line_spec_errors(tmp_path, content, match):
    """A prices file that is not YAML, or not text, is a one-line SpecError (a binary file raised
    UnicodeDecodeError; a YAML error spread over three lines)."""
    from inference.estimate import load_prices

    p = tmp_path / "prices.yaml"
    p.write_bytes(content)
    with pytest.raises(SpecError, match=match) as exc:
        load_prices(str(p))
    assert "\n" not in str(exc.value)
    with pytest.raises(SpecError, match=r"chip -> \{capex") as exc:  # the hint prints single braces
        load_prices(str(tmp_path / "missing.yaml"))


# ---------------------------------------------------------------------- measured-table interpolation
def test_grid_exact_on_grid_points_and_none_outside():
    axes = [np.array([1.0, 2.0, 8.0]), np.array([16.0, 64.0])]
    vals = np.array([[1.0, 2.0], [3.0, 5.0], [4.0, np.nan]])
    g = Grid(axes, vals)
    for i, x in enumerate(axes[0]):
        for j, y in enumerate(axes[1]):
            v = g(x, y)
            assert (v is None) if np.isnan(vals[i, j]) else v == vals[i, j]
    assert g(0.5, 16.0) is None and g(1.0, 100.0) is None
    assert g(4.0, 64.0) is None  # a corner was not measured


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.1, 100.0), min_size=3, max_size=6), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_grid_monotone_between_neighbours(values, u, v):
    """Along an axis, between two neighbouring grid points the interpolant stays between their values and
    moves monotonically."""
    vals = np.sort(np.asarray(values))
    xs = 2.0 ** np.arange(len(vals), dtype=float)
    g = Grid([xs], vals)
    for j in range(len(xs) - 1):
        a, b = sorted((u, v))
        xa = 2.0 ** (j + a)
        xb = 2.0 ** (j + b)
        ya, yb = g(xa), g(xb)
        assert vals[j] - 1e-9 <= ya <= yb + 1e-12 <= vals[j + 1] + 1e-9


def test_measured_tables_exact_on_grid_points():
    pytest.importorskip("aiconfigurator_core")
    import pandas as pd

    from inference import measured_tables as tables
    from inference import table_path

    p = table_path("h100_sxm", "gemm", "trtllm", "gemm_perf.parquet")
    df = pd.read_parquet(p, columns=["gemm_dtype", "m", "n", "k", "latency"])
    df = df[df.gemm_dtype == "fp8"].groupby(["m", "n", "k"], as_index=False)["latency"].median()
    tab = tables("h100_sxm", "trtllm")
    for _, row in df.sample(20, random_state=0).iterrows():
        assert tab.gemm(row.m, row.n, row.k, "fp8") == pytest.approx(row.latency * 1e-3, rel=1e-12)
    # monotone between two neighbouring m grid points of one (n, k)
    sub = df[(df.n == 8192) & (df.k == 8192)].sort_values("m")
    m0, m1 = int(sub.m.iloc[20]), int(sub.m.iloc[21])
    t0, t1 = sub.latency.iloc[20] * 1e-3, sub.latency.iloc[21] * 1e-3
    ts = [tab.gemm(m, 8192, 8192, "fp8") for m in np.linspace(m0, m1, 7)]
    assert all(min(t0, t1) - 1e-15 <= t <= max(t0, t1) + 1e-15 for t in ts)
    assert ts == sorted(ts) or ts == sorted(ts, reverse=True)


@pytest.mark.parametrize("stack", ["vllm", "sglang"])
def test_measured_backend_reads_the_stacks_own_table(stack):
    """stack='vllm'/'sglang' look GEMMs up in that stack's newest table (values equal its rows, not TRT-LLM's)."""
    pytest.importorskip("aiconfigurator_core")
    import os

    import pandas as pd

    from inference import measured_tables as tables
    from inference import table_path

    p = table_path("h100_sxm", "gemm", stack, "gemm_perf.parquet")
    assert f"{os.sep}{stack}{os.sep}" in p
    versions = os.listdir(os.path.dirname(os.path.dirname(p)))
    assert os.path.basename(os.path.dirname(p)) in versions  # the newest holding the file (measured rule 1)
    df = pd.read_parquet(p, columns=["gemm_dtype", "m", "n", "k", "latency"])
    df = df[df.gemm_dtype == "fp8"].groupby(["m", "n", "k"], as_index=False)["latency"].median()
    trt = pd.read_parquet(table_path("h100_sxm", "gemm", "trtllm", "gemm_perf.parquet"),
                          columns=["gemm_dtype", "m", "n", "k", "latency"])
    trt = trt[trt.gemm_dtype == "fp8"].groupby(["m", "n", "k"])["latency"].median()
    tab = tables("h100_sxm", stack)
    differ = 0
    for _, row in df.sample(20, random_state=1).iterrows():
        assert tab.gemm(row.m, row.n, row.k, "fp8") == pytest.approx(row.latency * 1e-3, rel=1e-12)
        key = (row.m, row.n, row.k)
        differ += key in trt.index and abs(trt[key] - row.latency) > 1e-9
    assert differ > 0
    assert all(f"/{stack}/" in src for src in tab.sources)
    r = estimate("llama3.1-8b", one_chip(H100), tp=1, batch=8, prompt=512, output=16, stack=stack, backend="measured")
    assert f"/{stack}/" in r.provenance["tables"] and "/trtllm/" not in r.provenance["tables"]


def test_measured_backend_picks_one_kernel_per_lookup():
    """Several kernels measured one shape: the stack's declared default (SGLang on SM100: triton) wins where it
    measured the key; else the kernel with the most rows in the table (SGLang on B200: TRT-LLM MHA over
    FlashInfer)."""
    pytest.importorskip("aiconfigurator_core")
    import pandas as pd

    from inference import measured_tables as tables
    from inference import table_path
    from inference.measured import default_lanes

    def expected(stack, heads, kvh, hd, lane):
        g = pd.read_parquet(table_path("b200_sxm", "attention", stack, "generation_attention_perf.parquet"))
        g = g[(g.window_size == 0) & (g.kv_cache_dtype == "fp8") & (g.num_heads == heads) &
              (g.num_key_value_heads == kvh) & (g.head_dim == hd)].assign(ctx=lambda x: x.isl + x.step)
        assert g.kernel_source.nunique() > 1  # a key where the choice matters
        return g[g.kernel_source == lane].groupby(["batch_size", "ctx"]).latency.median()

    assert default_lanes("b200_sxm", "sglang", "0.5.14") == ("triton",)
    assert default_lanes("b200_sxm", "vllm", "0.24.0") == ()
    for stack, (heads, kvh, hd), lane in (("sglang", (2, 1, 256), "triton"), ("sglang", (8, 1, 128), "trtllm_mha")):
        exp = expected(stack, heads, kvh, hd, lane)
        tab = tables("b200_sxm", stack)
        for (b, ctx), lat in exp.iloc[:: max(1, len(exp) // 10)].items():
            assert tab.decode_attention(b, ctx, heads, kvh, hd, "fp8") == pytest.approx(lat * 1e-3, rel=1e-12)
        assert any(f"[{lane}]" in s for s in tab.sources)


def test_measured_backend_reports_its_tables():
    pytest.importorskip("aiconfigurator_core")
    r = estimate("llama3.1-8b", one_chip(H100), tp=1, batch=8, prompt=512, output=16, backend="measured")
    assert r.provenance["backend"].startswith("measured")
    assert "gemm_perf" in r.provenance["tables"]


def test_ideal_stack_uses_physics_comm_and_default_the_calibrated_one():
    """stack='ideal' = physics for compute AND communication (collectives.run(ideal=True)); the serving stacks
    take collectives' default (calibrated) model."""
    from conftest import star_graph

    import collectives

    chip = ChipSpec("t", flops={"fp8": 1000e12, "bf16": 500e12}, hbm_bytes=80e9, hbm_bandwidth=2e12,
                    ports=1, port_bandwidth=100e9)
    fab = Fabric.from_graph(star_graph(8, 100e9, 1e-6), chip=chip, name="star8")
    groups = [list(range(8))]
    for stack, ideal in (("ideal", True), ("trtllm", False)):
        r = estimate("llama3.1-8b", fab, tp=8, batch=4, prompt=64, output=4, stack=stack, backend="analytic")
        row = [x for x in r.comm if x["phase"] == "decode"][0]
        want = max(x.time for x in collectives.run([collectives.AllReduce(row["size"], group=g) for g in groups],
                                                   fab, ideal=ideal))
        assert row["time"] == pytest.approx(want, rel=1e-12)


def test_moe_time_limits():
    """Balanced routing, many tokens: floor + grouped-GEMM FLOPs at moe_compute x the dense efficiency + the
    per-copy activation passes; one token: floor + its experts' weight stream."""
    import dataclasses

    from inference import moe_time

    prof = dataclasses.replace(PROF, moe_skew=0.0)
    h, f, ranks, e_loc = 4096, 1536, 8, 16
    peak, bw = H100.peak_flops("fp8"), H100.hbm_bandwidth
    kw = dict(prof=prof, dtype="fp8", peak=peak, ce=0.7, me=0.8, w=1.0, a=2.0, bandwidth=bw)
    copies = 64 * e_loc * 132 * ranks  # per rank: 64 rows per expert, whole waves
    t = moe_time(copies, ranks, e_loc, h, f, **kw)
    hot = copies / ranks
    eff = min(1.0, 0.7 * prof.gemm_compute["fp8"] * prof.moe_compute)
    tok = hot * prof.moe_token_passes * h * 2.0 / (bw * min(1.0, 0.8 * prof.elem_memory))
    n_tiles = math.ceil(3 * f / prof.tile_n) * prof.tile_n
    assert t == pytest.approx(prof.moe_floor + 2 * hot * n_tiles * h / (peak * eff) + tok, rel=1e-9)
    one = moe_time(1, 1, e_loc, h, f, **kw)
    weights = 3 * h * f * 1.0 + (2 * h + 3 * f) * 2.0
    tok1 = prof.moe_token_passes * h * 2.0 / (bw * min(1.0, 0.8 * prof.elem_memory))
    assert one == pytest.approx(prof.moe_floor + weights / (bw * min(1.0, 0.8 * prof.gemm_memory["fp8"])) + tok1,
                                rel=1e-9)


def test_transferred_chip_uses_its_own_efficiency_as_asymptote():
    """A chip without tables: a large GEMM runs at peak x its compute_efficiency exactly (e.g. Maia 200's
    measured 96 %), plus the reference family's BF16 floor."""
    chip = ChipSpec("newchip", flops={"fp8": 5000e12, "bf16": 1250e12}, hbm_bytes=200e9, hbm_bandwidth=7e12,
                    compute_efficiency=0.96, memory_efficiency=0.56)
    prof = profile_for(chip, "trtllm")
    assert any("ASSUMPTION" in a and "newchip" in a for a in prof.assumptions)
    m, n, k = 128 * 12 * 4, 128 * 11 * 4, 8192
    t = gemm_time(m, n, k, prof=prof, dtype="fp8", peak=5000e12, ce=0.96, me=0.56, bytes_moved=0.0, bandwidth=7e12)
    assert t == pytest.approx(prof.gemm_floor["bf16"] + 2.0 * m * n * k / (5000e12 * 0.96), rel=1e-12)
    byt = 1e9
    t1 = gemm_time(1, 8192, 8192, prof=prof, dtype="fp8", peak=5000e12, ce=0.96, me=0.56, bytes_moved=byt,
                   bandwidth=7e12)
    assert t1 == pytest.approx(prof.gemm_floor["bf16"] + byt / (7e12 * 0.56), rel=1e-12)


def test_launch_cost_with_and_without_graphs():
    from inference import launched

    times = [1e-7, 2e-6, 50e-6]
    assert launched(times, PROF, graph=True) == pytest.approx(sum(times) + 3 * PROF.launch_graph)
    assert launched(times, PROF, graph=False) == pytest.approx(2 * PROF.launch_eager + 50e-6)


def test_moe_skew_knob_slows_expert_parallel_moe():
    """More routing skew -> a hotter rank -> slower analytic MoE layers; 0 = perfect balance."""
    from conftest import star_graph

    chip = chip_preset("h100-sxm")
    fab = Fabric.from_graph(star_graph(8, 25e9 * 18, 1e-6), chip=chip, name="star8")
    kw = dict(tp=1, ep=8, dp=1, batch=64, prompt=128, output=4, backend="analytic")
    t = [estimate("qwen3-235b-a22b", fab, moe_skew=s, **kw).tpot for s in (0.0, 1.0, 3.0)]
    assert t[0] < t[1] < t[2]
    with pytest.raises(SpecError, match="moe_skew"):
        estimate("qwen3-235b-a22b", fab, moe_skew=-1, **kw)


def test_measured_backend_without_the_extra_names_the_install(monkeypatch):
    """backend='measured' with aiconfigurator-core absent is a SpecError naming the extra to install; with the
    package present but no tables for the chip, it names the chip instead."""
    from inference import Deployment
    from inference import measured as _m

    monkeypatch.setattr(_m, "tables", lambda system, stack: None)
    monkeypatch.setattr(_m, "available", lambda: False)
    with pytest.raises(SpecError, match=r"scaleup-sim\[measured\]"):
        Deployment("llama3.1-8b", "dgx-h100", tp=1, backend="measured")
    monkeypatch.setattr(_m, "available", lambda: True)
    with pytest.raises(SpecError, match="no trtllm kernel tables for chip"):
        Deployment("llama3.1-8b", "dgx-h100", tp=1, backend="measured")


def test_a_prices_file_with_dollar_strings_prices_infer_as_plan_reads_it(tmp_path):
    """One prices file for infer and plan: ``maia200: "$3.00"`` is 3 $/chip-hour to ``scaleup plan``
    (fleet.load_prices) but was "expected a number" to infer. Both read it now, to the same $/chip-hour as the
    number; a string that is no number is a one-line error naming the key."""
    from fleet import load_prices as plan_prices
    from inference import load_prices

    f = tmp_path / "prices.yaml"
    f.write_text('h100-sxm: "$2.50"\nmaia200: " 3"\nb200: {capex: "$40000", price_per_hour: "4"}\n')
    assert load_prices(str(f)) == {"h100-sxm": {"price_per_hour": 2.5}, "maia200": {"price_per_hour": 3.0},
                                   "b200": {"capex": 40000.0, "price_per_hour": 4.0}}
    assert plan_prices(f) == {"h100-sxm": 2.5, "maia200": 3.0, "b200": 4.0}
    kw = dict(tp=1, batch=8, prompt=256, output=16, backend="analytic")
    assert estimate("llama3.1-8b", one_chip(H100), prices=str(f), **kw).cost_per_mtok == \
        estimate("llama3.1-8b", one_chip(H100), price_per_chip_hour=2.5, **kw).cost_per_mtok
    with pytest.raises(SpecError, match=r"^prices\.h100-sxm: expected a number of \$") as exc:
        load_prices({"h100-sxm": "cheap"})
    assert "\n" not in str(exc.value)


def test_ideal_stack_with_the_measured_backend_is_refused_in_python_too():
    """estimate / Deployment / StepModel(stack='ideal', backend='measured') silently ran the roofline reading no
    table: a SpecError naming both; an SRAM-only chip (always the roofline) with backend 'measured' names the chip.
    No tables are read before the check, so it holds with or without aiconfigurator-core."""
    from inference import Deployment, StepModel

    for call in (lambda: estimate("llama3.1-8b", "dgx-h100", tp=8, stack="ideal", backend="measured"),
                 lambda: Deployment("llama3.1-8b", "dgx-h100", tp=8, stack="ideal", backend="measured"),
                 lambda: StepModel("llama3.1-8b", "dgx-h100", tp=8, stack="ideal", backend="measured")):
        with pytest.raises(SpecError, match="backend: 'measured'.*stack 'ideal'"):
            call()
    with pytest.raises(SpecError, match="cs3 holds everything in SRAM"):
        Deployment("llama3.1-8b", "cs3", tp=1, backend="measured")
    assert estimate("llama3.1-8b", "dgx-h100", tp=8, stack="ideal").provenance["backend"] == "roofline"


# ---------------------------------------------------------------------------- host-bound iterations
def _decode(fabric: str, host: float | None, seqs: int = 256, **kw):
    from inference.estimate import Deployment

    dep = Deployment("llama3.1-8b", fabric, tp=1, dtype="fp8", kv_dtype="fp8", stack="trtllm", backend="analytic",
                     host_per_seq=host, **kw)
    place = {"activations": "hbm", "weights": "hbm", "kv_cache": "hbm"}
    return dep, dep.decode_step(seqs, 1024, place)


def test_host_per_seq_is_off_by_default_and_hidden_when_small():
    """Default 0 leaves the step as it was; a host cost below the GPU step hides behind it (max form), one above
    makes the step exactly host_per_seq x seqs (x1 on an x86 host) with the excess as its own row."""
    _, base = _decode("dgx-b200", None)
    _, zero = _decode("dgx-b200", 0.0)
    assert zero.serial == base.serial and zero.overlapped == base.overlapped
    _, small = _decode("dgx-b200", 0.5 * base.serial / 256)
    assert small.serial == base.serial
    assert not any(r["op"] == "host (exposed)" for r in small.rows)
    host = 4.0 * base.serial / 256
    _, big = _decode("dgx-b200", host)
    assert big.serial == pytest.approx(host * 256, rel=1e-12)
    assert big.overlapped == pytest.approx(host * 256, rel=1e-12)
    exposed = [r for r in big.rows if r["op"] == "host (exposed)"]
    assert len(exposed) == 1 and exposed[0]["time"] == pytest.approx(host * 256 - base.serial, rel=1e-12)
    assert big.compute + big.comm == pytest.approx(big.serial, rel=1e-12)


def test_host_per_seq_scales_with_the_host_cpu_and_ignores_ideal():
    """A Grace host (GB200) takes HOST_CPU's factor longer than the x86 host of the same GPU (B200); the ideal
    roofline has no host."""
    from inference.kernels import HOST_CPU, host_factor

    assert host_factor("gb200") == pytest.approx(37.08 / 13.48) and host_factor("b200") == 1.0
    assert "gb200" in HOST_CPU
    host = 1e-3  # far above any GPU step of 64 sequences: both steps are host-bound
    _, b = _decode("dgx-b200", host, seqs=64)
    _, g = _decode("gb200-nvl72", host, seqs=64)
    assert b.serial == pytest.approx(host * 64, rel=1e-12)
    assert g.serial == pytest.approx(host * 64 * host_factor("gb200"), rel=1e-12)
    from inference.estimate import Deployment

    ideal = Deployment("llama3.1-8b", "dgx-b200", tp=1, dtype="fp8", stack="ideal", host_per_seq=host)
    assert ideal.host_per_seq == 0.0


@pytest.mark.parametrize("bad", [-1e-6, float("inf"), float("nan"), True, "20 parsecs", "-5us"])
def test_host_per_seq_rejects_bad_values(bad):
    with pytest.raises(SpecError, match="host_per_seq"):
        _decode("dgx-b200", bad)


def test_host_per_seq_reads_a_time_string_as_op_overhead_does():
    """A sweep YAML's '1e-3' (a string under YAML 1.1) or '1ms' is that many seconds."""
    for text in ("1e-3", "1ms"):
        dep, st = _decode("dgx-b200", text, seqs=64)
        assert dep.host_per_seq == pytest.approx(1e-3, rel=1e-12) and st.serial == pytest.approx(64e-3, rel=1e-12)


def test_host_per_seq_takes_numpy_scalars():
    """A value from a numpy sweep grid is a number like any other (1 ms x 64 sequences: host-bound on B200)."""
    dep, st = _decode("dgx-b200", np.float64(1e-3), seqs=64)
    assert dep.host_per_seq == 1e-3 and st.serial == pytest.approx(64e-3, rel=1e-12)
    assert _decode("dgx-b200", np.int64(0))[0].host_per_seq == 0.0


def test_fit_host_takes_the_largest_value_the_calibration_rows_leave_hidden():
    """On a grid with a value far too large (100 us per sequence turns the 4,096-sequence calibration run
    host-bound), the fit keeps the largest of the harmless ones."""
    from inference.validation import fit_host

    h, loss = fit_host(grid=(0.0, 1e-6, 100e-6))
    assert h == 1e-6 and math.isfinite(loss)


def test_host_wait_is_not_reported_as_exposed_communication_under_overlap():
    """With TP communication hidden behind compute (overlap), a host-bound step's wait for the host is host time:
    the step breakdown's exposed communication stays the GPU step's (overlapped - compute), both when the host
    lies between the overlapped and the serial step and when it exceeds both; compute + comm stays serial."""
    from inference.estimate import Deployment
    from inference.report import _combine, _phase_rows

    place = {"activations": "hbm", "weights": "hbm", "kv_cache": "hbm"}

    def step(host):
        dep = Deployment("llama3.1-70b", "dgx-h100", tp=8, stack="trtllm", backend="analytic", host_per_seq=host)
        return dep.decode_step(256, 2048, place)

    base = step(None)
    assert base.comm > 0 and base.overlapped < base.serial
    want = _phase_rows("decode", base, 80, True)[1]["exposed_communication"]
    for host_step in (0.5 * (base.overlapped + base.serial), 2.0 * base.serial):
        st = step(host_step / 256)
        assert st.overlapped == pytest.approx(host_step, rel=1e-12)
        assert st.compute + st.comm == pytest.approx(st.serial, rel=1e-12)
        got = _phase_rows("decode", st, 80, True)[1]
        assert got["exposed_communication"] == pytest.approx(want, rel=1e-9, abs=1e-15)
        assert _phase_rows("decode", _combine([(st, 3)], 1), 80, True)[1]["exposed_communication"] == \
            pytest.approx(3 * want, rel=1e-9, abs=1e-15)


def test_host_per_seq_counts_real_sequences_of_a_padded_decode_step():
    """CUDA-graph padding adds dummy sequences to the GPU step, not to the host's per-request work."""
    host = 1e-3  # host-bound
    dep, st = _decode("dgx-b200", host, seqs=300, graph_batches=[512])
    assert dep.decode_padded(300) == 512
    assert st.serial == pytest.approx(300 * host, rel=1e-12)
