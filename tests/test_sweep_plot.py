"""Sweep figures and the `scaleup sweep` / `scaleup plot` commands."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.image import imread
from test_sweep import SPEC, ring_expected  # noqa: F401  (registers the cheap job)

from cli import main
from sweep import read_results, run_sweep
from sweep.plot import axis_label, pareto_front, plot, plot_busbw, plot_cost_pareto, plot_latency_breakdown
from topo import SpecError


def assert_figure(path, min_bytes=5_000):
    """The file exists, is not tiny, and (for PNG) has real content: many non-white pixels, variance."""
    assert os.path.exists(path)
    assert os.path.getsize(path) > min_bytes
    if str(path).endswith(".png"):
        img = imread(path)[..., :3]
        assert img.shape[0] > 200 and img.shape[1] > 300
        assert img.std() > 0.05
        ink = (img.mean(axis=2) < 0.9).mean()
        assert ink > 0.01
    elif str(path).endswith(".svg"):
        assert open(path).read(200).lstrip().startswith("<?xml")
    elif str(path).endswith(".pdf"):
        assert open(path, "rb").read(5) == b"%PDF-"


@pytest.fixture(scope="module")
def ring_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("sw") / "ring.parquet"
    spec = {"job": "test_ring", "grid": {"n": [2, 8], "size": "1KiB:1GiB:x4", "label": ["a", "b"]}}
    run_sweep(spec, out, workers=1, progress=False)
    return out


@pytest.fixture(scope="module")
def infer_table():
    """A table shaped like inference Report.to_dict() rows (synthetic numbers)."""
    rows = []
    for fabric in ("f1", "f2"):
        for tp in (1, 2, 4, 8):
            for batch in (8, 64):
                flop = 1e-3 * batch / 64 / tp
                mem = 8e-3 / tp
                comm = 0 if tp == 1 else 0.4e-3 * np.log2(tp) * (1.5 if fabric == "f2" else 1)
                rows.append(
                    {
                        "fabric": fabric, "tp": tp, "batch": batch, "dp": 64 // tp,
                        "decode_compute_bound_s": flop, "decode_memory_bound_s": mem,
                        "decode_compute_s": flop + mem,
                        "decode_exposed_communication_s": comm, "tpot_s": flop + mem + 1e-4 + comm,
                        "ttft_s": 50 * (flop + mem + comm),
                        "cost_per_mtok_usd": 3.0 * tp * (flop + mem + comm) / batch * 1e3,
                    }
                )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_xy_plot_writes_a_figure(ring_results, tmp_path, ext):
    out = plot(ring_results, tmp_path / f"f.{ext}", kind="xy", x="size", y="busbw_GBps", hue="n", facet="label")
    assert_figure(out)


def test_busbw_plot(ring_results, tmp_path):
    assert_figure(plot_busbw(ring_results, tmp_path / "b.png", hue="n", logy=True))


def test_latency_breakdown_plot(infer_table, tmp_path):
    assert_figure(plot_latency_breakdown(infer_table[infer_table.batch == 8], tmp_path / "l.png", facet="fabric"))
    assert_figure(plot_latency_breakdown(infer_table, tmp_path / "l2.png"))


def test_cost_pareto_plot(infer_table, tmp_path):
    assert_figure(plot_cost_pareto(infer_table, tmp_path / "c.png"))
    assert_figure(plot_cost_pareto(infer_table, tmp_path / "c2.png", x="ttft_s", logx=True))


def test_cost_pareto_draws_the_front_across_all_hues(infer_table, tmp_path):
    """With several fabrics, the legend names the front across all of them (text kept as text in the SVG)."""
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none"}):
        svg = open(plot_cost_pareto(infer_table, tmp_path / "c.svg", hue="fabric")).read()
        one = infer_table[infer_table.fabric == infer_table.fabric.iloc[0]]
        svg_one = open(plot_cost_pareto(one, tmp_path / "c1.svg", hue="fabric")).read()
    assert "front across all" in svg
    assert "front across all" not in svg_one


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 100)), min_size=1, max_size=30))
def test_pareto_front_is_exactly_the_non_dominated_points(pts):
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    front = set(pareto_front(xs, ys))

    def dominated(i):
        return any(
            (xs[j] <= xs[i] and ys[j] <= ys[i]) and (xs[j] < xs[i] or ys[j] < ys[i]) for j in range(len(pts))
        )

    non_dom = {i for i in range(len(pts)) if not dominated(i)}
    # duplicates of a front point: exactly one representative is kept
    assert front <= non_dom
    assert {(xs[i], ys[i]) for i in front} == {(xs[i], ys[i]) for i in non_dom}


def test_axis_labels_carry_units():
    assert axis_label("busbw_GBps")[0] == "Bus bandwidth (GB/s)"
    assert axis_label("time_us")[0] == "Time (µs)"
    assert axis_label("size")[0] == "Message size (bytes)"
    assert axis_label("tpot_s") == ("Time per output token (ms)", 1e3)
    assert axis_label("mem_weights_bytes")[0].endswith("(bytes)")
    # cost and energy are per output token (batch x output / latency), as infer and serve say
    assert axis_label("cost_per_mtok_usd")[0] == "Cost per million output tokens ($)"
    assert axis_label("energy_per_token_j")[0] == "Energy per output token (J)"


def test_plot_errors_name_the_column_and_the_format(ring_results, tmp_path):
    with pytest.raises(SpecError, match="no column 'nope'"):
        plot(ring_results, tmp_path / "f.png", x="size", y="nope")
    with pytest.raises(SpecError, match=r"\.png, \.svg or \.pdf"):
        plot(ring_results, tmp_path / "f.jpg", x="size", y="busbw_GBps")


# ------------------------------------------------------------------------------------------ CLI
def test_cli_sweep_and_plot(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("job: test_ring\ngrid:\n  n: [2, 4]\n  size: 1KiB:1MiB:x4\n")
    out = tmp_path / "r.csv"
    runner = CliRunner()
    r = runner.invoke(main, ["sweep", str(spec), "--out", str(out), "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "12 points: 12 run, 0 kept, 0 failed" in r.output
    df = read_results(out)
    assert len(df) == 12
    assert df["time_us"].tolist() == pytest.approx([ring_expected(n, s) for n, s in zip(df["n"], df["size"])])
    r = runner.invoke(main, ["sweep", str(spec), "--out", str(out), "--workers", "1", "--resume"])
    assert r.exit_code == 0 and "0 run, 12 kept" in r.output
    fig = tmp_path / "f.png"
    r = runner.invoke(main, ["plot", str(out), "--x", "size", "--y", "busbw_GBps", "--hue", "n", "-o", str(fig)])
    assert r.exit_code == 0, r.output
    assert_figure(fig)
    fig2 = tmp_path / "b.svg"
    r = runner.invoke(main, ["plot", str(out), "--kind", "busbw", "--hue", "n", "-o", str(fig2)])
    assert r.exit_code == 0, r.output
    assert_figure(fig2)
    assert r.output == f"wrote {fig2}\n"  # as `topo plot` and every --plot say (it printed the bare path)
    r = runner.invoke(main, ["sweep", str(spec), "--dry-run"])
    assert r.exit_code == 0 and r.output.startswith("12 points")


def test_cli_exit_codes(tmp_path):
    runner = CliRunner()
    failing = tmp_path / "f.yaml"
    failing.write_text("job: test_ring\ngrid:\n  size: [1KiB, 2KiB]\n  fail: [false, true]\n")
    r = runner.invoke(main, ["sweep", str(failing), "--out", str(tmp_path / "f.parquet"), "-j", "1"])
    assert r.exit_code == 1 and "2 failed" in r.output
    bad = tmp_path / "b.yaml"
    bad.write_text("job: test_ring\ngrid:\n  sise: [1KiB]\n")
    r = runner.invoke(main, ["sweep", str(bad), "--out", str(tmp_path / "b.parquet")])
    assert r.exit_code == 2
    assert "grid.sise" in r.output and "Traceback" not in r.output
    r = runner.invoke(main, ["plot", str(tmp_path / "f.parquet"), "--x", "size", "--y", "zz", "-o", str(tmp_path / "z.png")])
    assert r.exit_code == 2 and "no column 'zz'" in r.output
