"""An ML-systems engineer who brings their own model, chip, fabric, measurements and kernel tables.

Each test failed before its fix (see the commit that added it)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import collectives as C
import topo
from cli import main

#: an MI355X-like 8-GPU platform of the user's own (datasheet figures; link per direction)
MI355X = """\
name: mi355x-8
builder: full_mesh
chips: 8
chip:
  name: mi355x
  hbm_bytes: 288GB
  hbm_bandwidth: 8TB/s
  flops: {bf16: 2.5PFLOPS, fp8: 5PFLOPS, fp4: 10PFLOPS}
  tdp: 1400W
  ports: 7
  port_bandwidth: 76.8GB/s
link_bandwidth: 76.8GB/s
link_latency: 300ns
efficiency: 0.75
"""


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def mi355x(tmp_path):
    p = tmp_path / "mi355x.yaml"
    p.write_text(MI355X)
    return p


def _alpha_beta(n: int, size: float, alpha: float = 18e-6, busbw: float = 310e9) -> float:
    """A measured all-reduce of the user's: alpha + 2 (n - 1) / n x size / busbw (nccl-tests' bus factor)."""
    return alpha + 2 * (n - 1) / n * size / busbw


def _csv(path, rows) -> str:
    path.write_text("collective,ranks,bytes,seconds\n" + "".join(f"{c},{n},{s},{t!r}\n" for c, n, s, t in rows))
    return str(path)


# ------------------------------------------------------------------------------------------ calibrate
def test_calibrate_all_to_all_rows_alone_fit_without_a_traceback(tmp_path, mi355x):
    """A CSV of all-to-all rows only raised "ValueError: assignment destination is read-only" (a pandas
    read-only mask); it now fits them with the shared costs."""
    rows = [("all_to_all", 8, s, 20e-6 + s / 200e9) for s in (2**10, 2**16, 2**20, 2**24, 2**28)]
    cal = C.calibrate(str(mi355x), _csv(tmp_path / "a2a.csv", rows))
    assert set(cal.data["collective"]) == {"all_to_all"} and len(cal.ratios) == 5
    r = run("calibrate", "--fabric", str(mi355x), "--measurements", str(tmp_path / "a2a.csv"))
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert "| nccl | all_to_all | 8 |" in r.output


@pytest.mark.parametrize("scale, unit", [(1e6, "microseconds"), (1e3, "milliseconds")])
def test_calibrate_refuses_seconds_that_hold_microseconds(tmp_path, mi355x, scale, unit):
    """`seconds` written in microseconds (20 for 20 us) fitted silently with a 100% error and ratio 0.00: no
    software cost makes a collective 10,000x slower than its links; one line names the unit, exit 2."""
    rows = [("all_reduce", 8, s, _alpha_beta(8, s) * scale) for s in (2**10, 2**20, 2**30)]
    path = _csv(tmp_path / "us.csv", rows)
    with pytest.raises(topo.SpecError, match=f"seconds column looks like {unit}"):
        C.calibrate(str(mi355x), path)
    r = run("calibrate", "--fabric", str(mi355x), "--measurements", path)
    assert r.exit_code == 2 and unit in r.output and r.output.count("\n") == 1, r.output
    ok = C.calibrate(str(mi355x), _csv(tmp_path / "s.csv", [(c, n, s, t / scale) for c, n, s, t in rows]),
                     algorithms={"all_reduce": ("ring", "direct")})
    assert not any("seconds" in w for w in ok.warnings), ok.warnings


def test_calibrate_warns_that_three_points_cannot_pin_the_parameters(tmp_path, mi355x):
    """Three points of one rank count were fitted with ten parameters and no word; a warning says the fit is
    under-determined (points vs parameters)."""
    rows = [("all_reduce", 8, s, _alpha_beta(8, s)) for s in (2**10, 2**20, 2**30)]
    cal = C.calibrate(str(mi355x), _csv(tmp_path / "three.csv", rows), algorithms={"all_reduce": ("ring", "direct")})
    assert any("under-determined" in w and "3 points" in w for w in cal.warnings), cal.warnings
    many = [("all_reduce", 8, 2**k, _alpha_beta(8, 2**k)) for k in range(10, 31, 2)]
    cal = C.calibrate(str(mi355x), _csv(tmp_path / "many.csv", many), algorithms={"all_reduce": ("ring", "direct")})
    assert not any("under-determined" in w for w in cal.warnings), cal.warnings


def test_calibrate_on_a_full_mesh_names_the_algorithm_not_the_links(tmp_path, mi355x):
    """Measurements of 8 GPUs of a full mesh at 310 GB/s busbw (every link busy, as RCCL's channels run it) were
    fitted with NCCL's ring only (2 of 7 links a chip): 4x too slow at 1 GiB, and the warning blamed the fabric's
    links. The fabric's links reach it with `direct`; the warning now says so, and `--algorithms` (Python:
    ``algorithms=``) fits it within a few percent."""
    rows = [("all_reduce", 8, 2**k, _alpha_beta(8, 2**k)) for k in range(10, 31, 2)]
    path = _csv(tmp_path / "ar.csv", rows)
    r = run("calibrate", "--fabric", str(mi355x), "--measurements", path)
    assert r.exit_code == 0, r.output
    warn = [ln for ln in r.output.splitlines() if ln.startswith("warning:")]
    assert warn and "direct" in warn[0] and "--algorithms all_reduce=ring,direct" in warn[0], r.output
    r = run("calibrate", "--fabric", str(mi355x), "--measurements", path, "--algorithms", "all_reduce=ring,direct")
    # (8 ranks only: the last, general note that one rank count cannot separate the costs)
    assert r.exit_code == 0 and [w for w in r.output.splitlines() if w.startswith("warning:")] == \
        [w for w in r.output.splitlines() if w.startswith("warning: one rank count (8)")], r.output
    cal = C.calibrate(str(mi355x), path, algorithms={"all_reduce": ("ring", "direct")})
    big = cal.data[cal.data["bytes"] >= 2**26]
    assert (abs(big["ratio"] - 1) < 0.05).all(), big
    assert cal.comm.algorithms_of("all_reduce").get("direct", 0) > 0
    for bad, msg in [("all_reduce", "COLLECTIVE=ALG"), ("allreduce=ring", "unknown collective"),
                     ("all_reduce=rnig", "unknown algorithm 'rnig'")]:
        r = run("calibrate", "--fabric", str(mi355x), "--measurements", path, "--algorithms", bad)
        assert r.exit_code == 2 and msg in r.output and r.output.count("\n") == 1, r.output


def test_calibrate_python_list_of_files_names_them_in_the_provenance(tmp_path, mi355x):
    """``collectives.calibrate(fab, [a.csv, b.csv])`` wrote ``fit: user measurements``; the CLI names the files,
    so does Python now."""
    a = _csv(tmp_path / "a.csv", [("all_reduce", 8, 2**k, _alpha_beta(8, 2**k)) for k in (10, 16, 22, 28)])
    b = _csv(tmp_path / "b.csv", [("all_reduce", 4, 2**k, _alpha_beta(4, 2**k)) for k in (10, 16, 22, 28)])
    cal = C.calibrate(str(mi355x), [a, b])
    assert dict(cal.comm.provenance)["call"] == f"fit: {a}, {b}"


def test_nccl_tests_without_a_binary_name_asks_for_the_cli_option(tmp_path, mi355x):
    """A renamed nccl-tests log ("myrun.txt") said "give collective=" on the command line, whose option is
    --collective."""
    p = tmp_path / "myrun.txt"
    p.write_text("# nThread 1 nGpus 2 minBytes 1024 maxBytes 1024 step: 2(factor) warmup iters: 5 iters: 20\n"
                 "#  Rank  0 Group  0 Pid  1 on h device  0 [0x11] AMD Instinct MI355X\n"
                 "#  Rank  1 Group  0 Pid  1 on h device  1 [0x21] AMD Instinct MI355X\n"
                 "        1024           256     float     sum      -1    21.22    0.05    0.08      0    20.80"
                 "    0.05    0.09      0\n")
    r = run("calibrate", "--fabric", str(mi355x), "--measurements", str(p))
    assert r.exit_code == 2 and "--collective" in r.output and r.output.count("\n") == 1, r.output


# ------------------------------------------------------------------------------------------ my chip
@pytest.mark.parametrize("old, new, field, unit", [
    ("hbm_bytes: 288GB", "hbm_bytes: 288", "chip.hbm_bytes", "288GB"),
    ("bf16: 2.5PFLOPS", "bf16: 2.5", "chip.flops.bf16", "2.5PFLOPS"),
    ("bf16: 2.5PFLOPS", "bf16: '2500'", "chip.flops.bf16", "2500TFLOPS"),
])
def test_chip_block_refuses_a_bare_size_or_flops(tmp_path, old, new, field, unit):
    """`hbm_bytes: 288` (GB meant) loaded a chip of 288 bytes ("HBM 2.88e-07 GB") and `bf16: 2.5` (PFLOPS meant) one
    of 2.5 FLOP/s (a TTFT of 2e16 ms); bare bandwidths and latencies were already refused. One line, exit 2."""
    p = tmp_path / "chip.yaml"
    p.write_text(MI355X.replace(old, new))
    with pytest.raises(topo.UnitError, match=rf"{field}: the bare number .* write the unit, e\.g\. .*'{unit}'"):
        topo.load(str(p))
    r = run("topo", "show", str(p))
    assert r.exit_code == 2 and field in r.output and r.output.count("\n") == 1, r.output
    fine = tmp_path / "fine.yaml"
    fine.write_text(MI355X.replace("hbm_bytes: 288GB", "hbm_bytes: 288e9").replace("bf16: 2.5PFLOPS", "bf16: 2.5e15"))
    chip = topo.load(str(fine)).chip  # SI numbers a chip can have still load
    assert chip.hbm_bytes == 288e9 and chip.peak_flops("bf16") == 2.5e15


def test_chip_block_carries_my_price(tmp_path):
    """`capex: 25000` in the chip block was "unknown key 'capex'" although docs/fabrics.md says its keys are
    ChipSpec fields (capex, price_per_hour, price_source are); my chip's price now comes from its file, priced as
    `--prices {mi355x: {capex: 25000}}` prices it, and the report says the price was given."""
    import inference

    p = tmp_path / "mine.yaml"
    p.write_text(MI355X.replace("  tdp: 1400W\n", "  tdp: 1400W\n  capex: 25000\n"))
    chip = topo.load(str(p)).chip
    assert chip.capex == 25000 and chip.price_source.startswith("given")
    kw = dict(tp=8, batch=8, prompt=512, output=64)
    mine = inference.estimate("llama3.1-70b", topo.load(str(p)), **kw)
    ref = inference.estimate("llama3.1-70b", topo.load(str(p)), **kw)  # deterministic
    plain = tmp_path / "plain.yaml"
    plain.write_text(MI355X)
    via = inference.estimate("llama3.1-70b", topo.load(str(plain)), prices={"mi355x": {"capex": 25000}}, **kw)
    assert mine.cost_per_mtok == pytest.approx(via.cost_per_mtok, rel=1e-12) and ref.tpot == mine.tpot
    assert mine.provenance["price_kind"] == "given" and "capex 25,000 $" in mine.provenance["price"]
    q = tmp_path / "hourly.yaml"
    q.write_text(MI355X.replace("  tdp: 1400W\n", "  tdp: 1400W\n  price_per_hour: 2.1\n  price_source: 'our cloud "
                                                  "contract, 2026'\n"))
    rep = inference.estimate("llama3.1-70b", topo.load(str(q)), **kw)
    assert "our cloud contract" in rep.provenance["price"] and rep.provenance["price_kind"] == "given"
    r = run("topo", "show", str(p))
    assert r.exit_code == 0 and "system capex $25,000 per accelerator (given;" in r.output, r.output
    assert "cloud $2.1 per chip-hour (given)" in run("topo", "show", str(q)).output
    bad = tmp_path / "bad.yaml"
    bad.write_text(MI355X.replace("  tdp: 1400W\n", "  tdp: 1400W\n  capex: -1\n"))
    r = run("topo", "show", str(bad))
    assert r.exit_code == 2 and "capex" in r.output and r.output.count("\n") == 1, r.output


# ------------------------------------------------------------------------------------------ my kernel table
def _kernel_table(path, header: str, rows: list[str]) -> str:
    path.write_text('# scaleup-kernels v1\n# provenance: {"device": "MI355X", "backend": "hand"}\n' + header + "\n"
                    + "".join(r + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize("header, row, msg", [
    ("kind,name,dtype,mode,M,N,K,time_s", "gemm,qkv,bf16,graph,8,1280,8192,1e-5", "unknown column 'M'"),
    ("kind,name,dtype,mode,m,n,k,time_us", "gemm,qkv,bf16,graph,8,1280,8192,10", "missing column 'time_s'"),
    ("kind,name,dtype,mode,m,n,k,time_s", "gemm,qkv,bfloat16,graph,8,1280,8192,1e-5", "dtype 'bfloat16'"),
    ("kind,name,dtype,mode,m,n,k,time_s", "gemm,qkv,bf16,grpah,8,1280,8192,1e-5", "mode 'grpah'"),
])
def test_kernel_table_with_renamed_columns_or_labels_is_refused(tmp_path, header, row, msg):
    """A table whose GEMM columns were written M,N,K (or dtype 'bfloat16') loaded and matched nothing: every op
    fell back to the analytic model ("0 kernel lookups measured") without a word. One line naming it, exit 2."""
    from inference.measure.table import read_table

    path = _kernel_table(tmp_path / "k.csv", header, [row])
    with pytest.raises(topo.SpecError, match=msg):
        read_table(path)
    r = run("infer", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "1", "--kernels", path)
    assert r.exit_code == 2 and msg in r.output and r.output.count("\n") == 1, r.output
    good = _kernel_table(tmp_path / "g.csv", "kind,name,dtype,mode,m,n,k,time_s", ["gemm,qkv,bf16,graph,8,1280,8192,1e-5"])
    assert read_table(good).gemm(8, 1280, 8192, "bf16") == pytest.approx(1e-5)


# ------------------------------------------------------------------------------------------ my model
QWEN25_72B = """\
name: qwen2.5-72b   # Qwen/Qwen2.5-72B config.json
layers: 80
hidden: 8192
heads: 64
kv_heads: 8
head_dim: 128
ffn: 29568
vocab: 152064
attn_bias: true
"""


@pytest.mark.parametrize("old, new, msg", [
    ("heads: 64\n", "num_attention_heads: 64\n", "Hugging Face config.json's name; scaleup's is 'heads'"),
    ("hidden: 8192\n", "hiden: 8192\n", "did you mean 'hidden'?"),
    ("head_dim: 128\n", "", "missing keys head_dim; a Hugging Face config without head_dim means hidden / heads: "
                            "add head_dim: 128"),
])
def test_model_yaml_mistakes_say_the_fix(tmp_path, old, new, msg):
    """A key copied from config.json (num_attention_heads), a typo, or no head_dim (config.json has none for Qwen2.5
    / Llama: it is hidden / heads) listed every field but not the one meant; the line now says it."""
    p = tmp_path / "qwen.yaml"
    p.write_text(QWEN25_72B.replace(old, new))
    r = run("infer", "--model", str(p), "--fabric", "dgx-h100", "--tp", "8")
    assert r.exit_code == 2 and msg in r.output and r.output.count("\n") == 1, r.output


def test_my_model_runs_and_ep_mistakes_list_the_degrees_that_fit(tmp_path):
    """Qwen2.5-72B from its config (72.7 B parameters, published 72.7 B) runs; a 30-expert MoE of my own with ep=8
    said only "must divide experts=30"; it now lists the ep that fit (tp says its divisors already)."""
    import inference

    p = tmp_path / "qwen.yaml"
    p.write_text(QWEN25_72B)
    assert inference.load_model(str(p)).param_count() == pytest.approx(72.7e9, rel=0.005)
    r = run("infer", "--model", str(p), "--fabric", "dgx-h100", "--tp", "8", "--batch", "4", "--prompt", "128",
            "--output", "16")
    assert r.exit_code == 0 and r.output.startswith("qwen2.5-72b on dgx-h100"), r.output
    moe = tmp_path / "moe.yaml"
    moe.write_text("layers: 4\nhidden: 1024\nheads: 8\nkv_heads: 2\nhead_dim: 128\nffn: 4096\nvocab: 32000\n"
                   "experts: 30\ntop_k: 2\nmoe_ffn: 512\n")
    r = run("infer", "--model", str(moe), "--fabric", "dgx-h100", "--tp", "1", "--ep", "8")
    assert r.exit_code == 2 and "use one of 1, 2, 3, 5, 6, 10, 15, 30" in r.output, r.output
    r = run("infer", "--model", str(moe), "--fabric", "dgx-h100", "--tp", "2", "--ep", "4")
    assert r.exit_code == 2 and "use one of 2, 6, 10, 30" in r.output, r.output


# ------------------------------------------------------------------------------------------ provenance
def test_report_names_what_i_brought(tmp_path, mi355x):
    """`infer` with my model file, my chip, my comm overrides and my fitted comm file named none of them: the header
    read "qwen2.5-72b on mi355x-8" and the TP line "comm 'assumed'" though I had set `call: 8us` on it. The
    provenance now has an `inputs` list (text: `given` lines): the model's file, the chip that is no preset, the
    comm block's changed fields or its fit source; presets stay unmentioned. Deterministic."""
    import inference

    model = tmp_path / "qwen.yaml"
    model.write_text(QWEN25_72B)
    fab = tmp_path / "mine.yaml"
    fab.write_text(MI355X + "comm: {preset: assumed, call: 8us}\n")
    kw = dict(tp=8, batch=4, prompt=128, output=16)
    rep = inference.estimate(str(model), str(fab), **kw)
    given = rep.provenance["inputs"]
    assert any(g.startswith(f"model qwen2.5-72b: file {model}") for g in given), given
    assert any(g.startswith("chip mi355x: your own") for g in given), given
    assert any(g.startswith("comm assumed: the preset with call changed") for g in given), given
    r = run("infer", "--model", str(model), "--fabric", str(fab), "--tp", "8", "--batch", "4", "--prompt", "128",
            "--output", "16")
    assert r.exit_code == 0 and "  given           model qwen2.5-72b: file" in r.output, r.output
    j = run("infer", "--model", str(model), "--fabric", str(fab), "--tp", "8", "--batch", "4", "--prompt", "128",
            "--output", "16", "--json")
    assert __import__("json").loads(j.output)["provenance"]["inputs"] == given
    r = run("collective", "all-reduce", "--fabric", str(fab), "--sizes", "1KiB")
    assert r.exit_code == 0 and "calibrated comm: assumed (the preset with call changed)" in r.output, r.output
    # a fitted comm file names its fit; a preset-only run brings nothing of its own
    comm = tmp_path / "comm.yaml"
    comm.write_text(C.calibrate_module.comm_yaml(topo.comm_preset("assumed").replace(
        name="mine-fit", call=7e-6, provenance={"call": "fit: all_reduce_perf.log"})))
    rep2 = inference.estimate(str(model), topo.load(str(mi355x), comm=str(comm)), **kw)
    assert any(g.startswith("comm mine-fit: your own (fit: all_reduce_perf.log") for g in rep2.provenance["inputs"])
    assert inference.estimate("llama3.1-8b", "dgx-h100", tp=1, batch=1, prompt=16, output=4).provenance.get(
        "inputs", []) == []
    again = inference.estimate(str(model), str(fab), **kw)
    assert again.tpot == rep.tpot and again.provenance == rep.provenance


def test_the_assumed_comm_block_written_out_reads_back(tmp_path):
    """Writing the `assumed` preset out to edit it (`comm_yaml`) gave `all_gather: {*: 0.8536}`, which YAML reads as
    an alias ("not valid YAML (while scanning an alias)"); the "any algorithm" key is quoted now."""
    spec = topo.comm_preset("assumed")
    path = tmp_path / "comm.yaml"
    path.write_text(C.calibrate_module.comm_yaml(spec))
    back = topo.parse_comm(str(path))
    assert back.algorithms_of("all_gather") == pytest.approx(spec.algorithms_of("all_gather"), rel=1e-3)
    assert back.call == pytest.approx(spec.call, rel=1e-3) and back.name == "assumed"


def test_nccl_tests_rows_with_data_errors_are_named(tmp_path, mi355x):
    """nccl-tests' `#wrong` column (data errors its check found) was read past: a run with corrupted results fitted
    without a word. Its count is kept per row and the fit warns (N/A, from `-c 0`, counts as none)."""
    head = ("# nThread 1 nGpus 8 minBytes 1024 maxBytes 1073741824 step: 4(factor) warmup iters: 5 iters: 20\n"
            + "".join(f"#  Rank  {r} Group  0 Pid  1 on h device  {r} [0x11] AMD Instinct MI355X\n" for r in range(8))
            + "#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw"
              "   busbw #wrong\n")

    def log(wrong: str) -> str:
        body = "".join(f"{2**k:>12d} {2**k // 4:>13d}     float     sum      -1 {_alpha_beta(8, 2**k) * 1e6:8.2f}"
                       f"    0.00    0.00 {wrong if k == 20 else '0':>6s} {_alpha_beta(8, 2**k) * 1e6:8.2f}    0.00"
                       f"    0.00 {'N/A':>6s}\n" for k in range(10, 31, 2))
        return head + body

    rows = C.parse_nccl_tests(log("3"), collective="all_reduce")
    assert [r["wrong"] for r in rows].count(3) == 1 and sum(r["wrong"] for r in rows) == 3
    assert all(r["wrong"] == 0 for r in C.parse_nccl_tests(log("3"), collective="all_reduce", in_place=True))
    p = tmp_path / "all_reduce_perf.log"
    p.write_text(log("3"))
    r = run("calibrate", "--fabric", str(mi355x), "--measurements", str(p), "--algorithms", "all_reduce=ring,direct")
    assert r.exit_code == 0 and "warning: 1 rows report #wrong > 0" in r.output and "1048576 B" in r.output, r.output
    p.write_text(log("N/A"))
    r = run("calibrate", "--fabric", str(mi355x), "--measurements", str(p), "--algorithms", "all_reduce=ring,direct")
    assert r.exit_code == 0 and "#wrong" not in r.output, r.output


def test_measurement_csv_may_start_with_comment_lines(tmp_path, mi355x):
    """A CSV whose first line was a note ("# measured on node01, RCCL 2.22") said "missing column(s) bytes,
    collective, ranks, seconds": the note was read as the header. Leading '#' lines are skipped."""
    rows = [("all_reduce", 8, 2**k, _alpha_beta(8, 2**k)) for k in (10, 16, 22, 28)]
    plain = _csv(tmp_path / "plain.csv", rows)
    noted = tmp_path / "noted.csv"
    noted.write_text("# measured on node01, RCCL 2.22\n#   8x MI355X\n" + (tmp_path / "plain.csv").read_text())
    a, b = (C.calibrate_module.read_measurements(p) for p in (plain, str(noted)))
    assert a.equals(b) and len(b) == 4


def test_compare_names_what_i_brought_per_fabric(tmp_path, mi355x):
    """`infer --compare mine.yaml,dgx-h100` listed each fabric's cost basis and assumptions but not that the
    first column ran my own chip; the `given` lines are among them, naming the fabric."""
    r = run("infer", "--model", "llama3.1-8b", "--tp", "1", "--batch", "1", "--prompt", "64", "--output", "8",
            "--compare", f"{mi355x},dgx-h100")
    assert r.exit_code == 0, r.output
    assert "[mi355x-8] given: chip mi355x: your own (no preset of that name)" in r.output, r.output
    assert "[dgx-h100] given" not in r.output


def test_a_hugging_face_config_json_says_what_it_reads_as(tmp_path):
    """`--model config.json` (the checkpoint's own file) said "unknown key 'architectures'" and listed every field;
    it now says it is a Hugging Face config and gives the scaleup keys its values read as (head_dim = hidden /
    heads where the config has none); the keys written as YAML load to the same parameter count."""
    import inference

    cfg = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 8192,
           "intermediate_size": 29568, "num_attention_heads": 64, "num_hidden_layers": 80, "num_key_value_heads": 8,
           "vocab_size": 152064, "tie_word_embeddings": False, "max_position_embeddings": 32768,
           "rms_norm_eps": 1e-06}
    p = tmp_path / "config.json"
    p.write_text(__import__("json").dumps(cfg))
    r = run("infer", "--model", str(p), "--fabric", "dgx-h100", "--tp", "8")
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert "Hugging Face config.json (qwen2)" in r.output
    keys = r.output.split("{", 1)[1].split("}", 1)[0]
    assert "head_dim: 128" in keys and "layers: 80" in keys and "ffn: 29568" in keys
    y = tmp_path / "q.yaml"
    y.write_text("\n".join(keys.split(", ")) + "\nattn_bias: true\n")
    assert inference.load_model(str(y)).param_count() == pytest.approx(72.7e9, rel=0.005)  # published 72.7 B


def test_numpy_moe_dry_run_raises_no_overflow_warning(tmp_path):
    """`scaleup measure --backend numpy --device cpu --kinds moe` printed "RuntimeWarning: overflow encountered in exp"
    (float32 SiLU of x @ w1 with std ~sqrt(hidden)); the MoE point runs clean."""
    import warnings

    import numpy as np

    from inference.measure.backends import NumpyBackend

    be = NumpyBackend(seed=0)
    row = {"kind": "moe", "name": "experts", "dtype": "bf16", "mode": "graph", "m": 64, "n": 1024, "k": 2048,
           "experts": 8, "top_k": 2, "tp": 1, "ep": 1}
    fns, _ = be.build(row)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = fns[0]()
    assert np.isfinite(out).all()


@pytest.mark.parametrize("extra, msg", [
    ("tied_embeddings: 'false'\n", "ModelSpec.tied_embeddings: expected true or false, got 'false'"),
    ("attn_bias: 'no'\n", "ModelSpec.attn_bias: expected true or false, got 'no'"),
    ("top_k: 2\n", "ModelSpec.experts: 0 (a dense model) but top_k=2"),
    ("moe_ffn: 1024\n", "ModelSpec.experts: 0 (a dense model) but moe_ffn=1024"),
    ("name: null\n", "ModelSpec.name: expected a non-empty name, got None"),
])
def test_model_yaml_quoted_booleans_and_stray_moe_fields_are_refused(tmp_path, extra, msg):
    """`tied_embeddings: 'false'` (quoted) was truthy: the LM head was tied and 1.2 B parameters vanished from
    Qwen2.5-72B without a word; `top_k` / `moe_ffn` without `experts` were dropped silently (a dense model ran);
    `name: null` printed "None on dgx-h100". One line naming the field, exit 2."""
    p = tmp_path / "m.yaml"
    p.write_text(QWEN25_72B.replace("attn_bias: true\n", "") + extra)
    r = run("infer", "--model", str(p), "--fabric", "dgx-h100", "--tp", "8")
    assert r.exit_code == 2 and msg in r.output and r.output.count("\n") == 1, r.output


def test_measure_compare_takes_my_fabric_file_for_the_chip(tmp_path, mi355x):
    """`scaleup measure --out k.csv --compare --chip mi355x.yaml` said "unknown preset 'mi355x.yaml'": a chip of my own
    (defined in my fabric file) could not be set beside my measured kernels. --chip takes a fabric's chip too; the
    model times follow that chip (its HBM bandwidth: a decode-size GEMM's model time scales with it)."""
    from inference.measure import compare

    path = _kernel_table(tmp_path / "k.csv", "kind,name,dtype,mode,m,n,k,time_s",
                         ["gemm,qkv,bf16,graph,1,8192,8192,1e-4"])
    mine = compare(path, chip=str(mi355x))
    slow = tmp_path / "slow.yaml"
    slow.write_text(MI355X.replace("hbm_bandwidth: 8TB/s", "hbm_bandwidth: 2TB/s"))
    other = compare(path, chip=str(slow))
    assert len(mine) == 1 and other[0]["model_s"] > mine[0]["model_s"]
    r = run("measure", "--out", path, "--compare", "--chip", str(mi355x))
    assert r.exit_code == 0 and "qkv" in r.output, r.output


def test_fabric_file_paths_resolve_beside_the_file(tmp_path, monkeypatch):
    """My fabric file names `kernel_table: k.csv` and `comm: comm.yaml` beside it; run from another directory
    (`--fabric ../mine.yaml`) it said "kernels: no such file 'k.csv'". A relative path that does not exist from the
    working directory is taken beside the fabric file."""
    import inference

    d = tmp_path / "platform"
    d.mkdir()
    _kernel_table(d / "k.csv", "kind,name,dtype,mode,m,n,k,time_s", ["floor,empty,fp32,graph,0,0,0,2e-6"])
    (d / "comm.yaml").write_text(C.calibrate_module.comm_yaml(topo.comm_preset("nccl-h100").replace(name="mine-fit")))
    (d / "mine.yaml").write_text(MI355X.replace("  tdp: 1400W\n", "  tdp: 1400W\n  kernel_table: k.csv\n")
                                 + "comm: comm.yaml\n")
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    fab = topo.load("../platform/mine.yaml")
    assert fab.comm.name == "mine-fit" and fab.chip.kernel_table.endswith("platform/k.csv")
    rep = inference.estimate("llama3.1-8b", fab, tp=1, batch=1, prompt=16, output=4)
    assert "k.csv" in rep.provenance["tables"]
