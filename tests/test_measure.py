"""scaleup measure (issue 17): the numpy backend writes a table that infer reads back; the table reader on a
hand-made sample; interpolation; resume; bad input; the torch path only where torch is installed."""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np
import pytest
from click.testing import CliRunner

import cli
from inference import estimate, model_from_dict
from inference.measure import (
    COLUMNS,
    TINY,
    KernelTable,
    compare,
    gemm_shapes,
    load_table,
    measure,
    points,
    read_table,
)
from topo import SpecError

HERE = os.path.dirname(__file__)
SAMPLE = os.path.join(HERE, "data", "kernels_sample.csv")
TINY_MODEL = model_from_dict({"layers": 2, "hidden": 64, "heads": 4, "kv_heads": 2, "head_dim": 16, "ffn": 128,
                              "vocab": 512}, name="tiny")
KINDS = "floor,gemm,elementwise,attn_decode"


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory):
    """The numpy backend on a tiny model (GEMM tokens 1..16), written as CSV."""
    path = str(tmp_path_factory.mktemp("measure") / "tiny.csv")
    res = measure(TINY_MODEL, path, device="cpu", backend="numpy", kinds=KINDS, max_m=16, repeats=3,
                  progress=False)
    assert res.measured > 0 and not res.failed
    return path


def test_table_round_trip_and_provenance(tiny_table):
    t = read_table(tiny_table)
    assert t.provenance["backend"] == "numpy" and t.provenance["model"] == "tiny"
    for key in ("device", "date", "numpy", "python", "method"):
        assert t.provenance[key]
    want = points(TINY_MODEL, 1, 1, ("bf16",), dataclasses.replace(TINY, max_m=16, max_lm_head_m=16),
                  tuple(KINDS.split(",")))
    assert len(t) == len(want)  # every point measured once
    assert all(r["time_s"] > 0 and r["min_s"] <= r["time_s"] for r in t.rows)
    # the GEMM shapes are the estimator's own (n, k) shards
    shapes = {(r["n"], r["k"]) for r in t.rows if r["kind"] == "gemm"}
    assert shapes == set(gemm_shapes(TINY_MODEL).values())
    assert len(shapes) == len(gemm_shapes(TINY_MODEL))  # qkv, o_proj, gate_up, down, lm_head all differ


def test_infer_reproduces_measured_ops_on_grid_points(tiny_table):
    """Decode ops of one GEMM (qkv, o_proj, lm_head) and the MLP (gate_up + down + silu_mul) take exactly the
    measured times: the decode batch is a grid point, and graph-mode times already hold the launch gap."""
    t = read_table(tiny_table)
    batch = 8
    rep = estimate(TINY_MODEL, "dgx-h100", tp=1, dp=1, batch=batch, prompt=32, output=4, dtype="bf16",
                   kernels=tiny_table)
    gemm = {r["name"]: r["time_s"] for r in t.rows if r["kind"] == "gemm" and r["m"] == batch}
    silu = next(r["time_s"] for r in t.rows if r["kind"] == "elementwise" and r["name"] == "silu_mul"
                and r["mode"] == "graph" and r["m"] == batch)
    ops = {r["op"]: r for r in rep.ops if r["phase"] == "decode"}
    expect = {"qkv": gemm["qkv"], "o_proj": gemm["o_proj"], "lm_head": gemm["lm_head"],
              "mlp": gemm["gate_up"] + gemm["down"] + silu}
    for op, want in expect.items():
        assert ops[op]["source"] == "table"
        assert ops[op]["time"] == pytest.approx(want, rel=0.03)
    assert rep.provenance["tables"].startswith("scaleup measure table")


def test_outside_grid_falls_back_to_the_model(tiny_table):
    # prefill of 4 x 32 = 128 tokens > the grid's 16: GEMMs analytic, per-op source says so
    rep = estimate(TINY_MODEL, "dgx-h100", tp=1, dp=1, batch=4, prompt=32, output=4, dtype="bf16",
                   kernels=tiny_table)
    pre = {r["op"]: r for r in rep.ops if r["phase"] == "prefill"}
    assert pre["qkv"]["source"] == "model" and pre["o_proj"]["source"] == "model"
    assert rep.provenance["backend"] == "measured+analytic"
    ana = estimate(TINY_MODEL, "dgx-h100", tp=1, dp=1, batch=4, prompt=32, output=4, dtype="bf16",
                   backend="analytic")
    assert {r["op"]: r["time"] for r in ana.ops if r["phase"] == "prefill"}["qkv"] == pytest.approx(
        pre["qkv"]["time"], rel=1e-12)


def test_interpolation_is_monotone_between_grid_points():
    rows = [{c: ("" if c in ("kind", "name", "dtype", "mode") else 0.0) for c in COLUMNS} for _ in range(4)]
    for r, m, t in zip(rows, (1, 16, 256, 4096), (2e-5, 2.2e-5, 4e-5, 4e-4)):
        r.update(kind="gemm", name="qkv", dtype="bf16", mode="graph", m=float(m), n=64.0, k=32.0, time_s=t)
    tab = KernelTable(rows, {"device": "x"})
    ms = np.unique(np.round(np.geomspace(1, 4096, 200)))
    ts = [tab.gemm(m, 64, 32, "bf16") for m in ms]
    assert all(x is not None for x in ts)
    assert all(b >= a for a, b in zip(ts, ts[1:]))
    for r in rows:  # exact on grid points
        assert tab.gemm(r["m"], 64, 32, "bf16") == r["time_s"]
    # power law between neighbours: the geometric mean at the log midpoint
    assert tab.gemm(4, 64, 32, "bf16") == pytest.approx(math.sqrt(2e-5 * 2.2e-5), rel=1e-9)
    assert tab.gemm(8192, 64, 32, "bf16") is None and tab.gemm(16, 64, 33, "bf16") is None


@pytest.mark.parametrize("content", [
    b"\x7fELF\x02\x01\xd0\xff\x00",  # not UTF-8 on the first line
    b"# scaleup-kernels v1\n# provenance: {}\nkind,time_s\ngemm,1e-6\n\xd0\xff\n",  # further down
    b"# scaleup-kernels v1\n# provenance: {}\nkind,time_s\ngemm,1e-6\x00\n",  # a NUL byte
])
def test_unreadable_kernel_tables_are_one_line_spec_errors(tmp_path, content):
    """--kernels FILE that is binary or holds bytes the CSV reader rejects is a SpecError naming the file
    (was a UnicodeDecodeError / csv.Error traceback)."""
    p = tmp_path / "k.csv"
    p.write_bytes(content)
    with pytest.raises(SpecError, match=r"^kernels: .*k\.csv") as exc:
        read_table(str(p))
    assert "\n" not in str(exc.value)
    r = CliRunner().invoke(cli.main, ["infer", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "1",
                                      "--kernels", str(p)])
    assert r.exit_code == 2 and r.output.startswith("error: kernels:") and r.output.count("\n") == 1, r.output


def test_sample_reader():
    t = read_table(SAMPLE)
    assert len(t) == 18 and t.provenance["model"] == "llama3.1-8b"
    assert t.launch_eager == 4.8e-6
    assert t.gemm(256, 6144, 4096, "bf16") == 3.6e-5
    assert 3.6e-5 < t.gemm(1024, 6144, 4096, "bf16") < 3.45e-4
    assert t.gemm(4096, 6144, 4096, "fp8") == 2.05e-4
    assert t.decode_attention(8, 4096, 32, 8, 128, "bf16") == 6.8e-5
    assert t.decode_attention(8, 4096, 32, 8, 128, "fp8") is None  # no fp8-KV rows
    assert t.elementwise(16384) == 3.1e-6
    # the collective rows are what scaleup calibrate reads, with busbw = algbw x 2(n-1)/n
    ar = [r for r in t.rows if r["kind"] == "collective" and r["name"] == "all_reduce"]
    for r in ar:
        assert r["algbw"] == pytest.approx(r["bytes"] / r["time_s"], rel=1e-4)
        assert r["busbw"] == pytest.approx(r["algbw"] * 2 * 7 / 8, rel=1e-4)


def test_calibrate_reads_measure_collective_rows():
    import collectives

    df = collectives.calibrate_module.read_measurements(SAMPLE)
    assert list(df["collective"]) == ["all_reduce", "all_reduce", "all_gather"]
    assert (df["ranks"] == 8).all() and df["seconds"].iloc[1] == 4.12e-4


def test_parquet_and_resume(tmp_path):
    out = str(tmp_path / "t.parquet")
    first = measure(TINY_MODEL, out, device="cpu", backend="numpy", kinds="floor,gemm", max_m=2, repeats=2,
                    progress=False)
    again = measure(TINY_MODEL, out, device="cpu", backend="numpy", kinds="floor,gemm", max_m=4, repeats=2,
                    progress=False)
    assert again.skipped == first.measured  # the points already there are not measured again
    t = load_table(out)
    keys = [(r["kind"], r["name"], r["mode"], r["m"]) for r in t.rows]
    assert len(keys) == len(set(keys)) == first.measured + again.measured


def test_resume_refuses_another_device(tmp_path):
    out = tmp_path / "t.csv"
    text = open(SAMPLE).read()
    out.write_text(text)
    with pytest.raises(SpecError, match="^out: .*measured on"):
        measure(TINY_MODEL, str(out), device="cpu", backend="numpy", kinds="floor", progress=False)


def test_compare_rows(tiny_table):
    rows = compare(tiny_table, "h100-sxm")
    assert rows and all(r["model_s"] > 0 and r["measured_s"] > 0 for r in rows)
    for r in rows:
        assert r["deviation"] == pytest.approx(r["model_s"] / r["measured_s"] - 1)


def test_cli_measure_infer_json_compare(tmp_path):
    out = str(tmp_path / "k.csv")
    model = tmp_path / "tiny.yaml"
    model.write_text("model: {layers: 2, hidden: 64, heads: 4, kv_heads: 2, head_dim: 16, ffn: 128, vocab: 512}\n")
    run = CliRunner().invoke
    r = run(cli.main, ["measure", "--model", str(model), "--out", out, "--device", "cpu", "--backend", "numpy",
                       "--kinds", "gemm", "--max-m", "4", "--repeats", "2", "--no-progress", "--compare",
                       "--chip", "h100-sxm"])
    assert r.exit_code == 0, r.output
    assert "per op" in r.output and "qkv" in r.output
    r = run(cli.main, ["infer", "--model", str(model), "--fabric", "dgx-h100", "--tp", "1", "--dp", "1",
                       "--batch", "4", "--prompt", "16", "--output", "4", "--dtype", "bf16", "--kernels", out,
                       "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    row = next(o for o in d["ops"] if o["phase"] == "decode" and o["op"] == "qkv")
    assert row["source"] == "table" and set(row) >= {"phase", "op", "layers", "flops", "bytes", "time_s", "bound"}
    assert "collectives" in d and d["ttft_s"] > 0


def test_infer_json_collectives_rows():
    r = CliRunner().invoke(cli.main, ["infer", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "8",
                                      "--dp", "1", "--batch", "4", "--prompt", "128", "--output", "4", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    ar = [c for c in d["collectives"] if c["collective"] == "all_reduce"]
    assert ar and all(c["group_size"] == 8 and c["time_s"] > 0 for c in ar)
    assert all(o["source"] in ("table", "model", "table+model", "roofline") for o in d["ops"])


@pytest.mark.parametrize("args, field", [
    (["--model", "no-such-model", "--backend", "numpy", "--device", "cpu"], "model"),
    (["--model", "llama3.1-8b", "--backend", "numpy", "--device", "cpu", "--dtypes", "fp8"], "dtypes"),
    (["--model", "llama3.1-8b", "--backend", "numpy", "--device", "tpu9"], "device"),
    (["--model", "llama3.1-8b", "--backend", "numpy", "--device", "cudax"], "device"),
    (["--model", "llama3.1-8b", "--backend", "numpy", "--device", "cpu", "--tp", "3"], "tp"),
    (["--model", "llama3.1-8b", "--backend", "numpy", "--device", "cpu", "--kinds", "gemmz"], "kinds"),
])
def test_bad_input_one_line_exit_2(tmp_path, args, field):
    r = CliRunner().invoke(cli.main, ["measure", "--out", str(tmp_path / "x.csv"), "--no-progress", *args])
    assert r.exit_code == 2
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}:"), r.output


def test_bad_kernel_table(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,time_s\ngemm,1\n")
    r = CliRunner().invoke(cli.main, ["infer", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--kernels",
                                      str(bad)])
    assert r.exit_code == 2 and r.output.startswith("error: kernels:")
    with pytest.raises(SpecError, match="^kernels: .*stack 'ideal'"):
        estimate("llama3.1-8b", "dgx-h100", kernels=SAMPLE, stack="ideal")


def test_torch_absent_says_how_to_install(tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_torch(name, *a, **k):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("no torch")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    r = CliRunner().invoke(cli.main, ["measure", "--model", "llama3.1-8b", "--out", str(tmp_path / "x.csv")])
    assert r.exit_code == 2 and "pip install 'scaleup-sim[measure]'" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_torch_cpu_backend(tmp_path):
    pytest.importorskip("torch")
    out = str(tmp_path / "t.csv")
    res = measure(TINY_MODEL, out, device="cpu", backend="torch", kinds="floor,gemm,attn_decode,elementwise",
                  max_m=4, repeats=2, progress=False)
    assert res.measured > 0 and not res.failed
    t = read_table(out)
    assert t.provenance["backend"] == "torch" and "torch" in t.provenance
    n, k = gemm_shapes(TINY_MODEL)["qkv"]
    assert t.gemm(4, n, k, "bf16") > 0
    import torch

    from inference.measure import TorchBackend

    if not torch.cuda.is_available():  # a device that does not exist: one line naming the field
        with pytest.raises(SpecError, match="^device: 'cuda:3' does not exist"):
            TorchBackend("cuda:3")
    # fp4 GEMMs are never run on a CPU (torch has none there): a dtype the device cannot run
    with pytest.raises(SpecError, match="^dtypes: torch on cpu cannot run fp4"):
        measure(TINY_MODEL, str(tmp_path / "u.csv"), device="cpu", backend="torch", dtypes="fp4", progress=False)


def test_repeats_takes_a_numpy_integer(tmp_path):
    """measure(repeats=np.int64(2)) ran before 2f33154's repeats check (plain int only) refused it; it runs again,
    two samples per point as repeats=2."""
    out = tmp_path / "n.csv"
    res = measure(TINY_MODEL, str(out), device="cpu", backend="numpy", kinds="floor", repeats=np.int64(2),
                  progress=False)
    assert res.measured > 0 and not res.failed
    assert {r["repeats"] for r in read_table(str(out)).rows} == {2}


@pytest.mark.parametrize("repeats", [0, -1, 2.5])
def test_repeats_must_be_a_positive_integer(tmp_path, repeats):
    """--repeats 0 was read as the default count (repeats or 5) and a negative count crashed in statistics.median
    (no samples); both are a one-line SpecError naming the field, from measure() and the CLI."""
    out = tmp_path / "r.csv"
    with pytest.raises(SpecError, match="^repeats: must be a positive integer"):
        measure(TINY_MODEL, str(out), device="cpu", backend="numpy", kinds="floor", repeats=repeats, progress=False)
    assert not out.exists()
    if isinstance(repeats, int):
        r = CliRunner().invoke(cli.main, ["measure", "--model", "llama3.1-8b", "--device", "cpu", "--backend",
                                          "numpy", "--kinds", "floor", "--repeats", str(repeats), "--no-progress",
                                          "--out", str(out)])
        assert r.exit_code == 2 and r.output.startswith("error: repeats:") and r.output.count("\n") == 1, r.output


TINY_MOE = model_from_dict({"layers": 2, "hidden": 64, "heads": 4, "kv_heads": 2, "head_dim": 16, "ffn": 128,
                            "vocab": 512, "experts": 4, "top_k": 2, "moe_ffn": 32}, name="tiny-moe")


def test_torch_cpu_every_section_resume_and_infer(tmp_path):
    """The torch path on the CPU end to end: every local section (GQA prefill through enable_gqa, MoE through
    torch._grouped_mm), written, read back, resumed without re-measuring, and used by infer on grid points."""
    torch = pytest.importorskip("torch")
    from inference.measure import TorchBackend

    out = str(tmp_path / "moe.csv")
    kinds = "floor,gemm,elementwise,attn_decode,attn_prefill,moe,hbm"
    first = measure(TINY_MOE, out, device="cpu", backend="torch", kinds=kinds, max_m=4, repeats=2, progress=False)
    assert first.measured > 0 and not first.failed and not first.notes, first.summary()  # grouped MoE GEMMs
    t = read_table(out)
    assert {r["kind"] for r in t.rows} == {"floor", "gemm", "elementwise", "attn_decode", "attn_prefill", "moe",
                                           "hbm_read", "hbm_copy"}
    assert t.provenance["torch"] == torch.__version__ and t.provenance["threads"] == 1
    assert t.provenance["dtypes"] == ["bf16"]  # the CPU default: no fp8 unless asked for
    assert t.moe(4, 64, 32, 2, 4, 1, 1, "bf16") > 0 and t.prefill_attention(1, 16, 4, 2, 16, "bf16") > 0
    be = TorchBackend("cpu")
    if hasattr(torch.nn.functional, "scaled_dot_product_attention") and torch.__version__ >= "2.5":
        assert be.sdpa_gqa()  # the builtin has no inspectable signature: the probe must not say False
    again = measure(TINY_MOE, out, device="cpu", backend="torch", kinds=kinds, max_m=4, repeats=2, progress=False)
    assert again.measured == 0 and again.skipped == first.measured
    assert len(read_table(out)) == len(t)
    # infer on a grid point (decode batch 4): qkv takes exactly the measured time
    rep = estimate(TINY_MOE, "dgx-h100", tp=1, dp=1, batch=4, prompt=8, output=2, dtype="bf16", kernels=out)
    n, k = gemm_shapes(TINY_MOE)["qkv"]
    qkv = next(r for r in rep.ops if r["phase"] == "decode" and r["op"] == "qkv")
    assert qkv["source"] == "table" and qkv["time"] == pytest.approx(t.gemm(4, n, k, "bf16"), rel=1e-9)


def test_torch_cpu_fp8_gemm_where_scaled_mm_runs(tmp_path):
    """fp8 GEMMs through torch._scaled_mm: offered where a probe call runs (torch's CPU kernel in recent
    builds), timed on the model's shapes; the probe decides, not the device name."""
    pytest.importorskip("torch")
    from inference.measure import TorchBackend

    be = TorchBackend("cpu")
    if "fp8" not in be.dtypes():
        pytest.skip("this torch build has no CPU fp8 GEMM")
    a, w, one = be._fp8_operands(3, 32, 32)
    assert tuple(be._fp8_mm(a, w, one).shape) == (3, 32)
    out = str(tmp_path / "f8.csv")
    res = measure(TINY_MODEL, out, device="cpu", backend="torch", kinds="gemm", dtypes="bf16,fp8", max_m=2,
                  repeats=1, progress=False)
    assert not res.failed, res.summary()
    t = read_table(out)
    n, k = gemm_shapes(TINY_MODEL)["qkv"]
    assert t.gemm(2, n, k, "fp8") > 0 and t.gemm(2, n, k, "bf16") > 0


def test_torch_cpu_collectives_over_gloo(tmp_path):
    """--device cpu --ranks 2: the collective code of the GPU run in two host processes over gloo; rows like
    nccl-tests (busbw = algbw x the bus factor) that calibrate reads."""
    pytest.importorskip("torch")
    import collectives

    out = str(tmp_path / "c.csv")
    res = measure(TINY_MODEL, out, device="cpu", backend="torch", kinds="collective", repeats=2, ranks=2,
                  progress=False)
    names = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all")
    got = {r["name"] for r in res.collectives}
    assert got | {f.split()[1].rstrip(":") for f in res.failed} == set(names)  # each run or reported
    assert "all_reduce" in got and res.provenance["collective_backend"].startswith("gloo")
    for r in res.collectives:
        assert r["ranks"] == 2 and r["algbw"] == pytest.approx(r["bytes"] / r["time_s"])
        assert r["busbw"] == pytest.approx(r["algbw"] * (2 if r["name"] == "all_reduce" else 1) * 1 / 2)
    df = collectives.calibrate_module.read_measurements(out)
    assert set(df["collective"]) == got and (df["ranks"] == 2).all()
    # a time limit already spent: every rank stops before the first size (none left waiting in a collective)
    from inference.measure.collect import run_collectives

    pts = points(TINY_MODEL, grid=TINY, sections=("collective",), ranks=2)
    assert run_collectives(pts, 2, repeats=1, time_limit=1e-9, device="cpu") == ([], [])


def test_host_collectives_need_torch(tmp_path):
    with pytest.raises(SpecError, match="^ranks: .*gloo"):
        measure(TINY_MODEL, str(tmp_path / "c.csv"), device="cpu", backend="numpy", kinds="collective", ranks=2,
                progress=False)
    with pytest.raises(SpecError, match="^ranks: must be a positive integer"):
        measure(TINY_MODEL, str(tmp_path / "c.csv"), device="cpu", backend="numpy", ranks=0, progress=False)


def test_chip_preset_names_a_table(tiny_table, tmp_path):
    """A chip whose YAML sets kernel_table uses it by default; --backend analytic and --stack ideal ignore it."""
    text = open(os.path.join(HERE, "..", "topologies", "dgx-h100.yaml")).read()
    fab = tmp_path / "mine.yaml"
    fab.write_text(text.replace("chip: h100-sxm", f"chip: {{preset: h100-sxm, kernel_table: {tiny_table}}}")
                   .replace("name: dgx-h100", "name: mine"))
    kw = dict(tp=1, dp=1, batch=8, prompt=32, output=4, dtype="bf16")
    with_table = estimate(TINY_MODEL, str(fab), **kw)
    explicit = estimate(TINY_MODEL, "dgx-h100", kernels=tiny_table, **kw)
    assert with_table.tpot == explicit.tpot
    assert {r["source"] for r in with_table.ops if r["phase"] == "decode" and r["op"] == "qkv"} == {"table"}
    assert estimate(TINY_MODEL, str(fab), backend="analytic", **kw).tpot == estimate(
        TINY_MODEL, "dgx-h100", backend="analytic", **kw).tpot
    assert all(r["source"] == "roofline" for r in estimate(TINY_MODEL, str(fab), stack="ideal", **kw).ops)


def test_infer_interpolates_between_grid_points_monotonically(tiny_table):
    """Decode batches between two measured m (4 and 8) give qkv times between the two measured times, moving
    monotonically from one to the other."""
    t = read_table(tiny_table)
    n, k = gemm_shapes(TINY_MODEL)["qkv"]
    at = {r["m"]: r["time_s"] for r in t.rows if r["kind"] == "gemm" and (r["n"], r["k"]) == (n, k)}
    times = []
    for batch in (4, 5, 6, 7, 8):
        rep = estimate(TINY_MODEL, "dgx-h100", tp=1, dp=1, batch=batch, prompt=16, output=2, dtype="bf16",
                       kernels=tiny_table)
        times.append(next(r["time"] for r in rep.ops if r["phase"] == "decode" and r["op"] == "qkv"))
    assert times[0] == at[4] and times[-1] == at[8]
    lo, hi = sorted((at[4], at[8]))
    assert all(lo <= x <= hi for x in times)
    steps = np.diff(times)
    assert (steps >= 0).all() or (steps <= 0).all()


def test_collective_printout_reads_as_nccl_tests_stdout():
    """`scaleup measure` prints collectives like nccl-tests; calibrate's nccl-tests parser reads them back."""
    from collectives import parse_nccl_tests
    from inference.measure import format_collectives

    rows = [r for r in read_table(SAMPLE).rows if r["kind"] == "collective"]
    text = "wrote k.csv: 3 rows measured\n" + format_collectives(rows, "NVIDIA H100 80GB HBM3")
    got = parse_nccl_tests(text)
    assert [(g["collective"], g["ranks"], g["bytes"]) for g in got] == [
        (r["name"], 8, r["bytes"]) for r in sorted(rows, key=lambda r: r["name"] != "all_reduce")]
    for g, r in zip(got, sorted(rows, key=lambda r: r["name"] != "all_reduce")):
        assert g["seconds"] == pytest.approx(r["time_s"], rel=1e-3)


class _FakeEvent:
    """torch.cuda.Event on the host clock (ms, as elapsed_time gives it)."""

    def __init__(self, enable_timing: bool = False) -> None:
        self.t = 0.0

    def record(self, stream=None) -> None:
        import time

        self.t = time.perf_counter()

    def synchronize(self) -> None:
        pass

    def elapsed_time(self, other: _FakeEvent) -> float:
        return (other.t - self.t) * 1e3


def _fake_cuda(monkeypatch, torch, capture_fails: bool) -> None:
    """torch.cuda's functions as the GPU path calls them, answered on the host (an H100's properties); graph
    capture either raises at once or is done by the patched _capture."""
    import contextlib
    import types

    cuda = torch.cuda
    props = types.SimpleNamespace(name="NVIDIA H100 80GB HBM3", multi_processor_count=132, total_memory=80 << 30,
                                  L2_cache_size=50 << 20)
    stream = types.SimpleNamespace(wait_stream=lambda other: None)
    for name, value in {"is_available": lambda: True, "device_count": lambda: 1, "set_device": lambda i: None,
                        "get_device_properties": lambda i: props, "mem_get_info": lambda *a: (70 << 30, 80 << 30),
                        "get_device_capability": lambda *a: (9, 0), "synchronize": lambda *a: None,
                        "empty_cache": lambda: None, "Event": _FakeEvent, "Stream": lambda *a, **k: stream,
                        "current_stream": lambda *a: stream, "stream": lambda s: contextlib.nullcontext(),
                        "CUDAGraph": lambda: types.SimpleNamespace()}.items():
        monkeypatch.setattr(cuda, name, value, raising=False)

    def graph(g, *a, **k):
        raise RuntimeError("fake capture: operation not permitted when stream is capturing")
    monkeypatch.setattr(cuda, "graph", graph, raising=False)
    real_generator = torch.Generator
    monkeypatch.setattr(torch, "Generator", lambda device=None: real_generator())


@pytest.mark.parametrize("capture_fails", [True, False])
def test_torch_gpu_code_path_on_a_fake_device(tmp_path, monkeypatch, capture_fails):
    """The GPU-only Python of the torch backend (device set-up from its properties, probes, device-event timing
    with graph replays or the eager fallback, GPU provenance, the default GPU dtypes) runs here with torch.cuda
    answered on the host and the tensors on the CPU: what only a GPU can check is the kernels themselves."""
    torch = pytest.importorskip("torch")
    from inference.measure import TorchBackend
    from inference.measure.backends import gpu_inner

    _fake_cuda(monkeypatch, torch, capture_fails)
    be = TorchBackend("cuda")
    assert be.gpu and be.cache_bytes == 50 << 20 and be.max_rotation_bytes == int(0.3 * (70 << 30))
    be.device = torch.device("cpu")  # the kernels run on the host
    be.gen = torch.Generator().manual_seed(0)
    be.cache_bytes, be.target_sample_s = 1 << 14, 1e-4  # few operand sets, short samples: a fast test
    if not capture_fails:
        def capture(calls, inner):  # what the graph's replay runs: the same inner calls
            def replay():
                for i in range(inner):
                    calls[i % len(calls)]()
            return replay
        monkeypatch.setattr(be, "_capture", capture)
    out = str(tmp_path / "gpu.csv")
    res = measure(TINY_MODEL, out, backend_obj=be, kinds="floor,gemm,attn_decode", grid=TINY, max_m=2,
                  repeats=2, progress=False)
    assert not res.failed, res.summary()
    t = read_table(out)
    p = t.provenance
    assert p["device"] == "NVIDIA H100 80GB HBM3" and p["capability"] == "9.0" and p["sms"] == 132
    assert p["l2_bytes"] == 50 << 20 and p["devices"] == 1
    graph_rows = [r for r in t.rows if r["mode"] == "graph"]
    assert graph_rows and all(r["time_s"] > 0 for r in t.rows)
    if capture_fails:  # every graph-mode point timed eagerly, and the summary says so
        assert be.graph_fallbacks == len(graph_rows) and "could not be captured" in res.summary()
    else:
        assert be.graph_fallbacks == 0 and not res.notes
    # the GPU default dtypes: bf16 and each lower precision a probe call runs (fp8 where _scaled_mm does)
    assert p["dtypes"] == list(be.default_dtypes()) and p["dtypes"][0] == "bf16"
    assert "fp4" not in be.dtypes()  # no fp4 GEMM on the host: the probe says so
    # calls per sample: at least one pass over the rotated sets, at most 500 in a graph / 2,000 eagerly
    assert gpu_inner(1e-7, 3, "graph", 1e-3) == 500 and gpu_inner(1e-7, 3, "eager", 1e-3) == 2000
    assert gpu_inner(2.5e-4, 3, "graph", 1e-3) == 4
    assert gpu_inner(1e-2, 7, "graph", 1e-3) == 7
    # --compare takes the chip from the device name
    rows = compare(out)
    assert rows and all(r["model_s"] > 0 for r in rows)
