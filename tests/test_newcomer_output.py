"""Issue 14, output a newcomer reads: short result reprs, tables, `topo show` latencies and efficiencies,
plots whose legends match what is drawn, and lazy imports that keep `scaleup --help` cheap."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import star_graph

import collectives
import topo
from cli import main
from topo.summary import format_summary, link_classes, path_latency_range, summarize


@pytest.fixture(scope="module")
def star():
    return topo.Fabric.from_graph(star_graph(8, 100e9, 1e-6, efficiency=0.9))


def test_collective_result_repr_is_one_short_line(star):
    r = collectives.all_reduce(star, 2**20, algorithm="ring")
    text = repr(r)
    assert "\n" not in text and len(text) < 200 and "1MiB x 8 ranks" in text and "ring" in text
    assert "array" not in text  # no schedule or link arrays


def test_collective_result_to_frame_matches_to_dict(star):
    rs = [collectives.all_reduce(star, s, algorithm="ring") for s in (2**20, 2**24)]
    df = pd.concat([r.to_frame() for r in rs], ignore_index=True)
    assert list(df.columns) == list(rs[0].to_dict())
    assert df["busbw"].tolist() == [r.busbw for r in rs] and df["time"].tolist() == [r.time for r in rs]


def test_link_classes_and_path_latency_on_a_star(star):
    """Star: every chip-to-chip path is chip -> switch -> chip, two links of 1 us each."""
    cls = link_classes(star)
    assert set(cls) == {"chip->switch", "switch->chip"}
    assert cls["chip->switch"]["edges"] == 8 and cls["chip->switch"]["latency"] == [1e-6, 1e-6]
    assert cls["switch->chip"]["efficiency"] == [0.9, 0.9]
    pl = path_latency_range(star)
    assert pl["sampled"] == 7 and pl["min"] == pytest.approx(2e-6) and pl["max"] == pytest.approx(2e-6)


def test_path_latency_grows_with_hops_on_a_ring():
    """A 1D torus of 8 chips at 500 ns per hop: the farthest chip is 4 hops away."""
    fab = topo.torus(dims=[8], link_latency="500ns")
    pl = path_latency_range(fab)
    assert pl["min"] == pytest.approx(0.5e-6) and pl["max"] == pytest.approx(2e-6)


def test_topo_show_prints_latency_and_efficiency():
    r = CliRunner().invoke(main, ["topo", "show", "dgx-h100"])
    assert r.exit_code == 0
    lines = {ln.split()[0]: ln for ln in r.output.splitlines() if ln.strip()}
    assert "ns" in lines["latency"] and "chip to chip" in lines["latency"]
    assert "fraction of line rate" in lines["efficiency"]
    s = summarize(topo.load("dgx-h100"), bisection=False)
    assert "latency" in format_summary(s)


def test_latency_breakdown_legend_has_no_invisible_segment(tmp_path):
    """A segment that is 0 everywhere is not a legend entry (it is named under the figure instead)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sweep import plot as sp

    df = pd.DataFrame({"tp": [1, 2, 4], "decode_compute_bound_s": [0.0, 0.0, 0.0],
                       "decode_memory_bound_s": [3e-3, 2e-3, 1e-3], "decode_exposed_communication_s": [0, 1e-3, 2e-3]})
    captured = {}
    orig = plt.Figure.savefig

    def spy(fig, *a, **k):
        captured["fig"] = fig
        return orig(fig, *a, **k)

    plt.Figure.savefig = spy
    try:
        sp.plot_latency_breakdown(df, tmp_path / "b.png", x="tp")
    finally:
        plt.Figure.savefig = orig
    fig = captured["fig"]
    labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert labels == ["memory-bound ops", "exposed communication"]
    assert any("compute-bound ops" in t.get_text() for t in fig.texts)


def test_util_plot_histograms_side_by_side(tmp_path):
    """Two link kinds with identical utilisations are both visible (bars side by side, not overdrawn)."""
    import traffic

    fab = topo.load("dgx-h100")
    rep = traffic.run_pattern(fab, "permutation", 2**20)
    out = traffic.plot_utilisation(fab, rep, str(tmp_path / "u.png"))
    assert (tmp_path / "u.png").stat().st_size > 10_000 and out.endswith("u.png")


def test_help_does_not_import_the_simulator():
    """`scaleup --help` and `import topo` stay cheap: no networkx, scipy, numba, matplotlib or pandas."""
    code = ("import sys, topo, cli\n"
            "heavy = [m for m in ('networkx', 'scipy', 'numba', 'matplotlib', 'pandas', 'numpy') if m in sys.modules]\n"
            "print(','.join(heavy))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", out
    # the public names are still there, and import their module on first use
    code = "import topo, sys; f = topo.load('dgx-h100'); print(type(f).__name__, 'topo.builders' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["Fabric", "True"]
    assert set(topo.__all__) <= set(dir(topo))
    with pytest.raises(AttributeError):
        topo.no_such_name  # noqa: B018


def test_connected_components_without_scipy():
    """The numpy label propagation counts components like a BFS would (a long chain needs many passes)."""
    import networkx as nx

    g = nx.DiGraph()
    for r in range(40):
        g.add_node(f"c{r}", kind="chip", rank=r, tray=r)
    for r in range(39):
        g.add_edge(f"c{r}", f"c{r + 1}", bandwidth=1e9, latency=1e-6)
        g.add_edge(f"c{r + 1}", f"c{r}", bandwidth=1e9, latency=1e-6)
    fab = topo.Fabric.from_graph(g)
    assert fab._n_components() == 1
    keep = ~(((fab.edge_src == 0) & (fab.edge_dst == 1)) | ((fab.edge_src == 1) & (fab.edge_dst == 0)))
    fab.edge_src, fab.edge_dst = fab.edge_src[keep], fab.edge_dst[keep]  # cut the link 0 - 1 both ways
    ref = nx.Graph()
    ref.add_nodes_from(range(fab.n_nodes))
    ref.add_edges_from(zip(fab.edge_src.tolist(), fab.edge_dst.tolist()))
    assert fab._n_components() == nx.number_connected_components(ref) == 2


def test_help_texts_name_no_internal_issue_numbers():
    """`scaleup --help` read "Several jobs on one fabric at once (issue 13, ...)": a tracker number means nothing
    to a user. No command's help (nor the top-level list) mentions one."""
    import re

    runner = CliRunner()
    commands = [[], ["topo", "show"], ["topo", "plot"], ["traffic"], ["collective", "all-reduce"], ["calibrate"],
                ["infer"], ["measure"], ["serve"], ["plan"], ["jobs"], ["sweep"], ["plot"]]
    for cmd in commands:
        out = runner.invoke(main, [*cmd, "--help"]).output
        assert not re.search(r"\bissue \d+", out, re.I), (cmd, out)


@pytest.mark.parametrize("module", ["collectives.validation", "inference.validation", "inference.perf_overview",
                                    "fleet.mlperf", "inference.mlperf"])
def test_module_usage_lines_name_the_command_the_readme_shows(module):
    """`python -m inference.validation --help` printed "usage: validation.py", a script that does not run on its
    own (relative imports): the usage line names `python -m <module>`, as the README does."""
    proc = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.startswith(f"usage: python -m {module} "), proc.stdout[:200]
