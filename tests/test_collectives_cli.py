"""CLI: `scaleup collective ...` prints an nccl-tests-like table; bad input exits 2 without a traceback."""

from __future__ import annotations

import json

import networkx as nx
import pytest
from click.testing import CliRunner

import collectives as C
import topo
from cli import main


@pytest.fixture()
def small_fabric(tmp_path):
    """A YAML-free route: use the bundled small preset when present, else skip."""
    try:
        topo.load("maia200-small")
    except topo.ScaleupError:
        pytest.skip("maia200-small preset not available")
    return "maia200-small"


def test_table_has_nccl_columns_and_consistent_figures(small_fabric):
    r = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", small_fabric, "--group-size", "8",
                                  "--sizes", "1MiB,4MiB", "--algorithm", "ring,auto"])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert "busbw (GB/s)" in lines[1] and "bound (us)" in lines[1] and "count (elts)" in lines[1]
    assert len(lines) == 2 + 4
    size, count, typ, alg, t_us, algbw, busbw = lines[2].split()[:7]
    assert int(size) == 2**20 and int(count) == 2**20 // 4 and typ == "float" and alg == "ring"
    assert float(algbw) == pytest.approx(2**20 / float(t_us) / 1e3, rel=1e-2)
    assert float(busbw) == pytest.approx(float(algbw) * 2 * 7 / 8, rel=1e-2)
    assert "auto:" in lines[3]


def test_csv_json_and_plot(small_fabric, tmp_path):
    png = tmp_path / "b.png"
    r = CliRunner().invoke(main, ["collective", "all-gather", "--fabric", small_fabric, "--group-size", "4",
                                  "--sizes", "64KiB", "--algorithm", "ring", "--json", "--plot", str(png)])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert rows[0]["algorithm"] == "ring" and rows[0]["n"] == 4
    assert png.stat().st_size > 1000
    r = CliRunner().invoke(main, ["collective", "sendrecv", "--fabric", small_fabric, "--sizes", "1MiB", "--csv"])
    assert r.exit_code == 0, r.output
    head, first = r.output.strip().splitlines()[:2]
    assert head.startswith("size,count,type,algorithm,time_us")
    assert first.split(",")[3] == "auto:direct"


def test_concurrent_groups_flag(small_fabric):
    r = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", small_fabric, "--group-size", "4",
                                  "--sizes", "1MiB", "--algorithm", "ring", "--concurrent-groups", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert rows[0]["groups"] == topo.load(small_fabric).n_chips // 4


@pytest.mark.parametrize("args,needle", [
    (["--algorithm", "bogus"], "valid:"),
    (["--sizes", "0B"], "sizes"),
    (["--group-size", "0"], "--group-size: must be 2.."),  # the option, not the Python field group_size
    (["--fabric", "no-such-fabric"], ""),
    (["--set", "comm=no-such-stack"], "comm: unknown preset 'no-such-stack'; known: assumed"),
])
def test_bad_input_exits_2_with_one_line(small_fabric, args, needle):
    base = ["collective", "all-reduce", "--fabric", small_fabric, "--sizes", "1MiB", "--group-size", "4"]
    r = CliRunner().invoke(main, base + args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert needle in r.output


@pytest.mark.parametrize("preset", sorted(topo.COMM))
def test_every_comm_preset_runs_from_the_cli_and_names_its_sources(preset):
    """A serving stack's (or NCCL's) calibrated costs are chosen with `--set comm=<preset>`; `auto` then runs
    among that preset's algorithms. Every provenance entry says fit:, source: or ASSUMPTION (or is the
    normalisation: Simple's bandwidth fraction is the reference 1)."""
    r = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "dgx-h100", "--group-size", "8",
                                  "--sizes", "1KiB", "--set", f"comm={preset}", "--json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)[0]
    assert row["algorithm"].startswith("auto:") and row["time_us"] > 1.0  # the per-call cost is there
    for key, text in topo.COMM[preset].provenance:
        assert any(m in text for m in ("fit:", "source:", "ASSUMPTION", "reference 1")), (preset, key, text)


def test_list_names_every_algorithm():
    r = CliRunner().invoke(main, ["collective", "list"])
    assert r.exit_code == 0
    for (_, name) in C.ALGORITHMS:
        assert name in r.output


def test_benchmark_rows_from_python(tmp_path):
    g = nx.DiGraph()
    for i in range(4):
        g.add_node(i, kind="chip", rank=i, tray=i)
    g.add_node("s", kind="switch", tier=1)
    for i in range(4):
        g.add_edge(i, "s", bandwidth=1e9, latency=1e-6)
        g.add_edge("s", i, bandwidth=1e9, latency=1e-6)
    fab = topo.Fabric.from_graph(g)
    rows = C.benchmark("all_reduce", fab, [2.0**20], group_size=4, algorithms=["ring"], ideal=True)
    want = 2 * 3 / 4 * 2**20 / 1e9 + 6 * 2e-6
    assert rows[0]["time_us"] == pytest.approx(want * 1e6, rel=1e-12)
    assert rows[0]["efficiency"] == pytest.approx(1.0)


def test_python_benchmark_takes_the_cli_arguments(small_fabric):
    """Parity: benchmark() accepts what `scaleup collective` takes (fabric name, size range, algorithm list)
    and returns the rows the CLI prints as JSON."""
    args = ["collective", "all-gather", "--fabric", small_fabric, "--group-size", "4", "--sizes", "64KiB:128KiB",
            "--algorithm", "ring,direct", "--json"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    cli_rows = json.loads(r.stdout)
    rows = C.benchmark("all_gather", small_fabric, "64KiB:128KiB", group_size=4, algorithms="ring,direct")
    assert [(x["size"], x["algorithm"]) for x in rows] == [(65536, "ring"), (65536, "direct"), (131072, "ring"),
                                                          (131072, "direct")]
    assert [x["time_us"] for x in rows] == pytest.approx([x["time_us"] for x in cli_rows], rel=1e-12)


def test_collective_functions_take_a_fabric_name_as_benchmark_and_estimate_do():
    """`collectives.all_reduce("dgx-h100", "64MiB")` raised "expected a topo.Fabric" while benchmark() and
    inference.estimate() take the preset name the CLI's --fabric does: the name loads that fabric."""
    fab = topo.load("dgx-h100")
    for fn in (C.all_reduce, C.all_gather, C.all_to_all):
        assert fn("dgx-h100", "1MiB").time == fn(fab, 2**20).time
    assert C.all_reduce("dgx-h100", "1MiB", stack="vllm").time == C.all_reduce(fab, 2**20, stack="vllm").time
    with pytest.raises(topo.SpecError, match="nosuch"):
        C.all_reduce("nosuch", "1MiB")
    with pytest.raises(topo.ScaleupError, match="fabric"):
        C.all_reduce(8, "1MiB")


def test_python_takes_the_cli_spelling_of_collective_names():
    """`collectives.benchmark("all-reduce", ...)` (the subcommand's name) raised "unknown 'all-reduce'" although
    traffic.run_pattern takes "all-to-all": the CLI spellings name the same collective; a typo stays an error."""
    fab = topo.load("dgx-h100")
    for cli_name, name in (("all-reduce", "all_reduce"), ("reduce-scatter", "reduce_scatter"), ("sendrecv", "send_recv")):
        assert C.benchmark(cli_name, fab, "1MiB") == C.benchmark(name, fab, "1MiB")
        assert C.collective(cli_name, fab, "1MiB").time == C.collective(name, fab, "1MiB").time
    with pytest.raises(topo.ScaleupError, match="'allreduce'; valid: all_reduce"):
        C.collective("allreduce", fab, "1MiB")


def test_collective_list_names_the_subcommands_it_lists():
    """`scaleup collective list` (and the group's --help) headed send_recv "send-recv", a command that does not
    exist (it is `sendrecv`, nccl-tests' name): every heading is a subcommand that runs."""
    runner = CliRunner()
    heads = [ln for ln in runner.invoke(main, ["collective", "list"]).output.splitlines() if not ln.startswith(" ")]
    assert "sendrecv" in heads and "send-recv" not in heads and len(heads) == len(C.COLLECTIVES)
    for head in heads:
        assert runner.invoke(main, ["collective", head, "--help"]).exit_code == 0, head
    assert "send-recv" not in runner.invoke(main, ["collective", "--help"]).output


def test_csv_and_json_sizes_are_integers_as_nccl_tests_prints_them():
    """`--csv` / `--json` wrote the size column as 1024.0 (a float for a byte count); now 1024, as the table and
    nccl-tests print it (count too); a fractional size stays a float."""
    args = ["collective", "all-reduce", "--fabric", "dgx-h100", "--sizes", "1KiB,1MiB", "--algorithm", "ring"]
    csv_out = CliRunner().invoke(main, [*args, "--csv"])
    assert csv_out.exit_code == 0, csv_out.output
    lines = csv_out.output.strip().splitlines()
    assert lines[0].startswith("size,count,")
    assert [ln.split(",")[:2] for ln in lines[1:]] == [["1024", "256"], ["1048576", "262144"]]
    js = json.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    assert [(type(r["size"]), r["size"]) for r in js] == [(int, 1024), (int, 1048576)]
    rows = C.benchmark("all_reduce", "dgx-h100", [1000.5], group_size=8, algorithms=["ring"])
    assert rows[0]["size"] == 1000.5


def test_validation_by_bucket_cells_by_hand():
    """`python -m collectives.validation --detail`'s table: one row per (system, stack, collective, ranks), each
    bucket's cell median |ratio - 1| / worst ratio (the farthest from 1 in log), "-" where no point lies."""
    pd = pytest.importorskip("pandas")
    from collectives.validation import by_bucket

    df = pd.DataFrame({"system": "s", "role": "fit", "stack": "nccl", "collective": "all_reduce",
                       "ranks": [4, 4, 4, 2], "bytes": [1024.0, 2048.0, 2.0**27, 1024.0],
                       "ratio": [1.10, 0.80, 1.02, 1.0]})
    lines = by_bucket(df).splitlines()
    assert lines[0].split("|")[5:11] == [" < 64 KiB ", " 64 KiB - 1 MiB ", " 1 - 16 MiB ", " 16 - 64 MiB ",
                                         " >= 64 MiB ", " all points "]
    assert lines[2] == "| s (fit) | nccl | all_reduce | 2 | 0% / 1.00 | - | - | - | - | 0% / 1.00 |"
    # ranks 4: small bucket {1.10, 0.80}: median |r-1| 15%, worst 0.80; >= 64 MiB {1.02}; all: median 10%
    assert lines[3] == "| s (fit) | nccl | all_reduce | 4 | 15% / 0.80 | - | - | - | 2% / 1.02 | 10% / 0.80 |"


def test_table_explains_an_efficiency_above_the_step_by_step_bound():
    """multirail on maia200-small's unequal tray links (294 / 343 GB/s) runs ahead of its slot-synchronous closed
    form under --ideal (the engine does not wait at slot barriers): the table says why, once, and only then."""
    fab = topo.load("maia200-small")
    over = C.benchmark("all_reduce", fab, sizes=[64 * 2**20], group_size=64, algorithms=["multirail"], ideal=True)
    assert over[0]["efficiency"] > 1.0
    text = C.format_table(over)
    assert text.count("eff vs bound > 100%") == 1 and text.splitlines()[-1].startswith("#")
    under = C.benchmark("all_reduce", fab, sizes=[64 * 2**20], group_size=64, algorithms=["ring"], ideal=True)
    assert under[0]["efficiency"] <= 1.0 + 1e-9
    assert "> 100%" not in C.format_table(under)


def test_an_algorithm_of_a_list_that_cannot_run_is_listed_not_fatal():
    """`--algorithm ring,hier_ml,hd` on a 12-rank group aborted the whole table on hier_ml (persona: sweep researcher):
    the others print and hier_ml is one '# not run' line (stderr under --json); alone it is the error it was;
    Python collects it with skipped={} (the default raises); a list of which none runs is an error."""
    import topo as T

    args = ["collective", "all-reduce", "--fabric", "maia200-small", "--group-size", "12", "--sizes", "1MiB"]
    r = CliRunner().invoke(main, [*args, "--algorithm", "ring,hier_ml,hd"])
    assert r.exit_code == 0, r.output
    assert [ln.split()[3] for ln in r.output.splitlines()[2:4]] == ["ring", "hd"]
    assert r.output.strip().splitlines()[-1].startswith("# not run: hier_ml:")
    r = CliRunner().invoke(main, [*args, "--algorithm", "ring,hier_ml", "--json"])
    assert r.exit_code == 0 and [x["algorithm"] for x in json.loads(r.stdout)] == ["ring"]
    r = CliRunner().invoke(main, [*args, "--algorithm", "hier_ml"])
    assert r.exit_code == 2 and "hier_ml" in r.output
    fab = T.load("maia200-small")
    skipped: dict[str, str] = {}
    rows = C.benchmark("all_reduce", fab, [2**20], 12, ["ring", "hier_ml"], skipped=skipped)
    assert [x["algorithm"] for x in rows] == ["ring"] and list(skipped) == ["hier_ml"]
    with pytest.raises(T.ScheduleError, match="hier_ml"):
        C.benchmark("all_reduce", fab, [2**20], 12, ["ring", "hier_ml"])
    with pytest.raises(T.ScheduleError, match="hier_ml"):
        C.benchmark("all_reduce", fab, [2**20], 12, ["hier_ml", "hier_ml"], skipped={})
