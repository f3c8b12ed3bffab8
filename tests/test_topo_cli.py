"""`scaleup topo ...`: output, JSON, files written, and exit code 2 without traceback on bad input."""

from __future__ import annotations

import json

import networkx as nx
from click.testing import CliRunner

from cli import main


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_topo_list():
    r = run("topo", "list")
    assert r.exit_code == 0 and "maia200 " in r.output and "tpu-v5p" in r.output
    # one column of descriptions even past 16-character names (trn3-ultraserver-gen1 pushed its line out)
    import topo

    lines = r.output.splitlines()
    assert len(lines) == len(topo.list_fabrics())
    starts = {len(ln) - len(desc) for ln, desc in zip(lines, topo.describe_fabrics().values(), strict=True)}
    assert len(starts) == 1 and all(ln.split()[0] in topo.list_fabrics() for ln in lines)


def test_topo_show_text_and_json():
    r = run("topo", "show", "maia200-small")
    assert r.exit_code == 0, r.output
    assert "bisection" in r.output and "TB/s per direction" in r.output and "diameter          4 hops" in r.output
    r = run("topo", "show", "dgx-h100", "--json")
    d = json.loads(r.output)
    assert d["chips"] == 8 and d["bisection_bandwidth"] == 4 * 450e9 and d["switch_can_reduce"]


def test_topo_show_set_override():
    r = run("topo", "show", "tpu-v5p", "--set", "dims=[4,4,2]", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["chips"] == 32


def test_bad_input_exit_2_one_line_no_traceback():
    for args in (["topo", "show", "maia200", "--set", "chips=9000"],
                 ["topo", "show", "maia200", "--set", "bogus=1"],
                 ["topo", "show", "maia200", "--set", "novalue"],
                 ["topo", "show", "nope"],
                 ["topo", "plot", "maia200-small", "--set", "planes=40"]):
        r = run(*args)
        assert r.exit_code == 2, (args, r.output)
        assert "Traceback" not in r.output and r.output.startswith("error: ")
        assert r.output.strip().count("\n") == 0


def test_topo_plot_and_export(tmp_path):
    png = tmp_path / "f.png"
    r = run("topo", "plot", "mi300x", "-o", str(png))
    assert r.exit_code == 0 and png.read_bytes()[:4] == b"\x89PNG"
    gml = tmp_path / "f.graphml"
    r = run("topo", "export", "dgx-h100", "--format", "graphml", "-o", str(gml))
    assert r.exit_code == 0
    g = nx.read_graphml(gml)
    assert g.number_of_nodes() == 12 and g.number_of_edges() == 64
    js = tmp_path / "f.json"
    r = run("topo", "export", "tpu-v5p", "-o", str(js))
    d = json.loads(js.read_text())
    assert len(d["nodes"]) == 64 and d["graph"]["chip"]["name"] == "tpu-v5p"


def test_topo_export_refuses_a_format_its_file_suffix_contradicts(tmp_path):
    """`topo export --format graphml -o x.json` wrote GraphML into a .json file: one line naming the format the
    suffix means, exit 2, nothing written; the suffix alone picks the format, and a suffix that means no format
    (x.xml) takes the one given (the file parses as that format)."""
    for fmt, name, implied in (("graphml", "x.json", "json"), ("json", "x.graphml", "graphml")):
        r = run("topo", "export", "dgx-h100", "--format", fmt, "-o", str(tmp_path / name))
        assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
        assert f"suffix means {implied}" in r.output and "Traceback" not in r.output, r.output
        assert not (tmp_path / name).exists()
    xml = tmp_path / "x.xml"
    assert run("topo", "export", "dgx-h100", "--format", "graphml", "-o", str(xml)).exit_code == 0
    assert nx.read_graphml(xml).number_of_nodes() == 12
    js = tmp_path / "y.JSON"
    assert run("topo", "export", "dgx-h100", "-o", str(js)).exit_code == 0
    assert len(json.loads(js.read_text())["nodes"]) == 12


def test_topo_plot_grouped_large_fabric(tmp_path):
    png = tmp_path / "g.png"
    r = run("topo", "plot", "maia200-small", "-o", str(png))
    assert r.exit_code == 0 and png.stat().st_size > 10_000


def test_one_chip_fabric_says_it_has_no_bisection_and_no_collective():
    """The single-wafer cs3 printed "bisection 0 GB/s ... (exhaustive search)" and `scaleup collective` said
    "must be 2..1 chips": one chip has no halves to cut, and a collective needs a second chip."""
    r = run("topo", "show", "cs3")
    assert r.exit_code == 0 and "bisection         none: one chip" in r.output and "0 GB/s per direction" not in r.output
    r = run("collective", "all-reduce", "--fabric", "cs3", "--sizes", "1MiB")
    assert r.exit_code == 2 and "'cs3' has 1 chip; a collective needs at least two ranks" in r.output
    assert "2..1" not in r.output and r.output.count("\n") == 1


def test_topo_export_to_an_unknown_suffix_names_the_file_not_a_format_never_given(tmp_path):
    """`topo export dgx-h100 -o x.txt` said "format: must be one of graphml, json, got 'txt'" (no --format was
    given); it names the file and both fixes (a .graphml / .json name, or --format)."""
    r = run("topo", "export", "dgx-h100", "-o", str(tmp_path / "x.txt"))
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert "'x.txt'" in r.output and ".graphml" in r.output and "--format" in r.output, r.output
    assert "got 'txt'" not in r.output and not (tmp_path / "x.txt").exists()
    r = run("topo", "export", "dgx-h100", "-o", str(tmp_path / "noext"))
    assert r.exit_code == 2 and "'noext': the suffix picks the format, and it has none" in r.output, r.output
