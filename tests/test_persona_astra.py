"""A systems researcher coming from ASTRA-sim / SimAI: bring a topology, export it, reload it, run collectives.

Each test failed before its fix (see the commit that added it)."""

from __future__ import annotations

import networkx as nx
import pytest
from click.testing import CliRunner

import collectives as C
import topo
from cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def _ring_ideal(fab: topo.Fabric, size: float, n: int) -> float:
    return C.all_reduce(fab, size, group=list(range(n)), algorithm="ring", ideal=True).time


@pytest.mark.parametrize("fmt", ["graphml", "json"])
@pytest.mark.parametrize("build", [
    lambda: topo.torus(dims=[4, 4], link_bandwidth="100GB/s"),
    lambda: topo.clos(servers=4, chips_per_server=4, server_fabric="switch", leaf_radix=16),
    lambda: topo.two_tier(chips=32, tray_size=4, tray_ports=12, planes=2, ports_per_plane=1, switch_radix=16,
                          chip="maia200"),
])
def test_exported_graph_loads_back_as_the_same_fabric(tmp_path, fmt, build):
    """`scaleup topo export` wrote GraphML / JSON that nothing read back: `topo.load("x.graphml")` said "a fabric
    file must be a mapping" and the JSON "builder must be one of ..., got None". Now the round trip keeps the
    chips, edges (bandwidth, latency, efficiency), chip spec and levels, and a collective takes the same time
    (BFS routes of the imported graph vs the builder's formula router)."""
    fab = build()
    path = topo.export_fabric(fab, tmp_path / f"f.{fmt}")
    back = topo.load(path)
    assert (back.n_chips, back.n_nodes, back.n_edges) == (fab.n_chips, fab.n_nodes, fab.n_edges)
    assert back.chip.name == fab.chip.name and back.chip.port_bandwidth == fab.chip.port_bandwidth
    assert sorted(back.edge_capacity) == sorted(fab.edge_capacity)
    assert sorted(back.edge_latency) == sorted(fab.edge_latency)
    assert back.levels() == fab.levels()
    assert topo.summary.summarize(back)["builder"] == f"graph file (from {fab.meta['builder']})"  # was "custom"
    n = fab.n_chips
    assert _ring_ideal(back, 2**24, n) == pytest.approx(_ring_ideal(fab, 2**24, n), rel=1e-12)
    hier = [C.all_reduce(f, 2**24, group=list(range(n)), algorithm="hier", ideal=True).time for f in (fab, back)]
    if fab.meta["builder"] == "clos":  # the clos router keeps same-server pairs on the server switch; BFS also
        assert hier[1] >= hier[0]      # offers chip -> leaf -> chip, equally short: the NICs carry tray traffic too
    else:
        assert hier[1] == pytest.approx(hier[0], rel=1e-12)


def test_users_own_graphml_ring_matches_the_closed_form(tmp_path):
    """A GraphML written by networkx (undirected, node `kind`, edge `bandwidth` bytes/s, `latency` s) runs through
    the CLI and Python: ring all-reduce with --ideal = 2(n-1)/n S/B + 2(n-1) alpha."""
    n, bw, lat = 8, 50e9, 1e-6
    g = nx.Graph()
    for i in range(n):
        g.add_node(f"gpu{i}", kind="chip")
    for i in range(n):
        g.add_edge(f"gpu{i}", f"gpu{(i + 1) % n}", bandwidth=bw, latency=lat)
    path = tmp_path / "ring8.graphml"
    nx.write_graphml(g, path)
    fab = topo.load(str(path))
    size = 2**26
    expect = 2 * (n - 1) / n * size / bw + 2 * (n - 1) * lat
    assert _ring_ideal(fab, size, n) == pytest.approx(expect, rel=1e-12)
    r = run("collective", "all-reduce", "--fabric", str(path), "--group-size", "8", "--sizes", "64MiB",
            "--algorithm", "ring", "--ideal", "--json")
    assert r.exit_code == 0, r.output
    import json

    assert json.loads(r.output)[0]["time_us"] == pytest.approx(expect * 1e6, rel=1e-9)
    # comm: is not in a graph file; --set comm=... picks one (only comm, faults, stragglers apply to a graph)
    r = run("collective", "all-reduce", "--fabric", str(path), "--group-size", "8", "--sizes", "1KiB",
            "--set", "comm=nccl-h100")
    assert r.exit_code == 0, r.output


def test_graph_file_errors_are_one_line(tmp_path):
    """A builder key on a graph, a graph without `kind`, a disconnected graph and a broken file: exit 2, one line
    naming the file and the fix, never a traceback."""
    ok = tmp_path / "ok.graphml"
    topo.export_fabric(topo.full_mesh(chips=4), ok)
    nokind = tmp_path / "nokind.graphml"
    g = nx.path_graph(4)
    nx.set_edge_attributes(g, 1e9, "bandwidth")
    nx.write_graphml(g, nokind)
    disc = tmp_path / "disc.graphml"
    g = nx.Graph()
    g.add_nodes_from(range(4), kind="chip")
    g.add_edge(0, 1, bandwidth=1e9, latency=0.0)
    g.add_edge(2, 3, bandwidth=1e9, latency=0.0)
    nx.write_graphml(g, disc)
    broken = tmp_path / "broken.graphml"
    broken.write_text("<graphml><graph")
    notgraph = tmp_path / "x.json"
    notgraph.write_text('{"a": 1}')
    cases = [((str(ok), "--set", "chips=8"), "'chips' cannot be overridden on a graph file"),
             ((str(nokind),), "nokind.graphml: node '0': attribute kind must be 'chip' or 'switch', got None; give every node kind="),
             ((str(disc),), "disconnected"),
             ((str(broken),), "broken.graphml: cannot read it as graphml"),
             ((str(notgraph),), "x.json: not a node-link graph")]
    for args, want in cases:
        r = run("topo", "show", *args)
        assert r.exit_code == 2 and r.output.count("\n") == 1 and want in r.output, (args, r.output)
        assert "Traceback" not in r.output
    with pytest.raises(topo.SpecError, match="cannot be overridden"):
        topo.load(ok, chips=8)


def test_size_range_with_a_bare_step_asks_for_x_or_plus():
    """`--sizes 1KiB:1GiB:4` (nccl-tests' -f 4) ran as +4 bytes and said "more than 10000 sizes; use a larger step";
    on the CLI a bare step is refused like every bare number, naming x4 and +4KiB; in Python it still adds bytes."""
    r = run("collective", "all-reduce", "--fabric", "dgx-h100", "--sizes", "1KiB:1GiB:4")
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert "step '4'" in r.output and "x4" in r.output and "+4KiB" in r.output
    assert topo.parse_size_range("1KiB:4KiB:1024") == [1024, 2048, 3072, 4096]
    with pytest.raises(topo.UnitError, match="x4 multiplies"):
        topo.parse_size_range("1KiB:1GiB:4")


def test_count_column_is_per_rank_where_nccl_tests_prints_it_so():
    """nccl-tests prints count = size / type for all-reduce, but one rank's part (size / n / type) for all-gather,
    reduce-scatter and all-to-all (paramcount = count / nranks); scaleup printed size / type for all."""
    fab = topo.switch(chips=8)
    size = 2**20
    want = {"all_reduce": size // 4, "broadcast": size // 4, "all_gather": size // 4 // 8,
            "reduce_scatter": size // 4 // 8, "all_to_all": size // 4 // 8}
    for coll, count in want.items():
        rows = C.benchmark(coll, fab, [size], group_size=8, ideal=True)
        assert rows[0]["count"] == count, coll
    rows = C.benchmark("all_gather", fab, [size], group_size=4, dtype="half", ideal=True)
    assert rows[0]["count"] == size // 2 // 4


def test_csv_carries_the_protocol_column_as_json_does():
    """`--json` had a protocol column (ll / ll128 / simple / ideal) that `--csv` left out."""
    args = ["collective", "all-reduce", "--fabric", "dgx-h100", "--sizes", "1KiB,1GiB", "--algorithm", "ring"]
    lines = run(*args, "--csv").output.strip().splitlines()
    import json

    js = json.loads(run(*args, "--json").output)
    head = lines[0].split(",")
    assert set(js[0]) == set(head)
    assert [ln.split(",")[head.index("protocol")] for ln in lines[1:]] == [r["protocol"] for r in js]


def test_plot_against_a_swept_fabric_override_with_units(tmp_path):
    """A sweep over `fabric.bandwidth: [100GB/s, 450GB/s]` keeps the strings in the table, and `scaleup plot --x
    fabric.bandwidth` died with a TypeError traceback; now such a column is a categorical axis (ordered by
    quantity), and a non-numeric --y is one line, exit 2."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    df = pd.DataFrame({"fabric.bandwidth": ["1.6Tbps", "100GB/s", "1.6Tbps", "100GB/s"],
                       "algorithm": ["ring", "ring", "direct", "direct"], "busbw_GBps": [190.0, 90.0, 195.0, 92.0]})
    table = tmp_path / "t.csv"
    df.to_csv(table, index=False)
    png = tmp_path / "x.png"
    r = run("plot", str(table), "--x", "fabric.bandwidth", "--y", "busbw_GBps", "--hue", "algorithm", "-o", str(png))
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:4] == b"\x89PNG"
    r = run("plot", str(table), "--x", "busbw_GBps", "--y", "algorithm", "-o", str(tmp_path / "y.png"))
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "'algorithm' holds no numbers" in r.output, r.output
    from sweep.plot import _categorical_x

    _, labels = _categorical_x(df, "fabric.bandwidth")
    assert labels == ["100GB/s", "1.6Tbps"]  # 100 GB/s < 200 GB/s, not string order


def test_bfs_router_reuses_paths_across_calls_and_they_match_a_fresh_router():
    """A collective on an imported graph (BFS routes) recomputed every pair's paths at every step, size and
    algorithm (4 s for two sizes at 384 chips); the router now keeps them: the same pairs asked again, or in
    another order, give exactly a fresh router's routes."""
    fab = topo.two_tier(chips=32, tray_size=4, tray_ports=12, planes=2, ports_per_plane=1, switch_radix=16,
                        chip="maia200")
    g = topo.Fabric.from_graph(fab.graph, chip=fab.chip)
    import numpy as np

    rng = np.random.default_rng(0)
    src, dst = rng.integers(0, 32, 200), rng.integers(0, 32, 200)
    first = g.routes(src, dst)
    assert len(g.router._paths) > 0
    again = g.routes(dst, src)
    fresh = topo.BFSRouter().routes(g, dst, src)
    for a, b in ((again, fresh), (g.routes(src, dst), first)):
        assert np.array_equal(a.pair_ptr, b.pair_ptr) and np.array_equal(a.path_ptr, b.path_ptr)
        assert np.array_equal(a.path_edges, b.path_edges)


def test_user_graph_switches_get_tiers_so_the_summary_counts_ports_right():
    """A user's leaf/spine graph has no `tier` on its switches: `topo show` printed "tier?", counted every leaf
    port as "up" and an oversubscription of 0:1. Now tiers are hops from the nearest chip: leaves 4 down + 2 up
    (2:1), spines 2 down."""
    g = nx.Graph()
    for i in range(8):
        g.add_edge(f"gpu{i}", f"leaf{i // 4}", bandwidth=50e9, latency=1e-6)
    for leaf in range(2):
        for sp in range(2):
            g.add_edge(f"leaf{leaf}", f"spine{sp}", bandwidth=50e9, latency=1e-6)
    for n in g:
        g.nodes[n]["kind"] = "chip" if n.startswith("gpu") else "switch"
    s = topo.summary.summarize(topo.Fabric.from_graph(g))
    assert s["switches_by_tier"] == {"tier1": 2, "tier2": 2}
    t1, t2 = s["tiers"]["tier1"], s["tiers"]["tier2"]
    assert (t1["down"], t1["up"], t1["oversubscription"]) == (4, 2, 2.0)
    assert (t2["down"], t2["up"]) == (2, 0)
    assert s["bisection_bandwidth"] == pytest.approx(2 * 50e9)  # the two uplinks of one leaf


def test_graph_file_edges_take_units_and_refuse_other_simulators_bare_numbers(tmp_path):
    """A GraphML written with ASTRA-sim-style numbers (bandwidth 400 meaning GB/s, latency 500 meaning ns) loaded
    as 400 bytes/s and 500 s: a fabric 1e9 times too slow, silently. Now such a bare number is one line naming the
    edge and the unit; strings with units are read ('400GB/s', '500ns') and give the ring closed form."""
    def ring(bw, lat, name):
        g = nx.Graph()
        g.add_nodes_from(range(4), kind="chip")
        for i in range(4):
            g.add_edge(i, (i + 1) % 4, bandwidth=bw, latency=lat)
        path = tmp_path / name
        nx.write_graphml(g, path)
        return path

    for bw, lat, want in ((400, 0.0, "bandwidth: the bare number 400 is 400 bytes/s"),
                          (400e9, 500, "latency: the bare number 500 is 500 s")):
        r = run("topo", "show", str(ring(bw, lat, "bare.graphml")))
        assert r.exit_code == 2 and r.output.count("\n") == 1 and want in r.output, r.output
    fab = topo.load(ring("400GB/s", "500ns", "units.graphml"))
    size = 2**30
    assert _ring_ideal(fab, size, 4) == pytest.approx(2 * 3 / 4 * size / 400e9 + 2 * 3 * 500e-9, rel=1e-12)


def test_sweep_with_failed_points_says_why(tmp_path):
    """`scaleup sweep` with failed points printed only "2 failed" and exit 1; the reason was in the table's error
    column. Now the most common error is printed too."""
    spec = tmp_path / "s.yaml"
    spec.write_text("job: collective\nparams:\n  collective: all_reduce\n  fabric: dgx-h100\n"
                    "grid:\n  size: [1KiB, 1MiB]\n  group: [4, 16]\n")
    r = run("sweep", str(spec), "--out", str(tmp_path / "o.csv"), "--workers", "1")
    assert r.exit_code == 1, r.output
    assert "most common error (2 of 2 failed points): SpecError: group: must be 2..8 ranks" in r.output
    assert "Traceback" not in r.output


def test_sweep_fabric_override_typo_fails_before_any_point_runs(tmp_path):
    """`fabric.bandwith` (a typo) ran every point and failed each one (exit 1); the docs say a bad spec fails
    before anything runs, one line naming the key. Now it does (exit 2), for builder YAML and graph files."""
    spec = tmp_path / "s.yaml"
    out = tmp_path / "o.csv"
    for fabric, key, want in (("dgx-h100", "bandwith", "unknown key 'bandwith' for switch; valid keys:"),
                              ("dgx-h100", "link_latency", None),
                              (str(topo.export_fabric(topo.full_mesh(chips=4), tmp_path / "g.graphml")), "chips",
                               "unknown key 'chips' for graph file")):
        spec.write_text(f"job: collective\nparams:\n  collective: all_reduce\n  fabric: {fabric}\n"
                        f"grid:\n  fabric.{key}: [200ns]\n  size: [1KiB, 1MiB]\n")
        r = run("sweep", str(spec), "--out", str(out), "--dry-run")
        if want is None:
            assert r.exit_code == 0, r.output
            continue
        assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
        assert f"grid.fabric.{key}:" in r.output and want in r.output, r.output


@pytest.mark.parametrize("fmt", ["graphml", "json"])
def test_exported_bundled_fabric_keeps_its_calibrated_comm(tmp_path, fmt):
    """dgx-h100 carries `comm: nccl-h100`; its exported graph loaded back with the default `assumed`, so the same
    all-reduce took another time. The preset's name now travels with the graph; --set comm= still overrides."""
    fab = topo.load("dgx-h100")
    back = topo.load(topo.export_fabric(fab, tmp_path / f"d.{fmt}"))
    assert back.comm == fab.comm == topo.COMM["nccl-h100"]
    for size in (2**10, 2**30):
        a, b = (C.all_reduce(f, size, group=list(range(8)), algorithm="ring").time for f in (fab, back))
        assert b == pytest.approx(a, rel=1e-12)
    assert topo.load(tmp_path / f"d.{fmt}", comm="assumed").comm == topo.COMM["assumed"]
    mine = topo.load("dgx-h100", comm={"preset": "nccl-h100", "call": "2us"})  # not a preset any more: not carried
    assert topo.load(topo.export_fabric(mine, tmp_path / f"m.{fmt}")).comm is None


def test_bare_size_on_the_cli_offers_bytes_too():
    """`--sizes 1024` (nccl-tests' `-b 1024` is bytes) was told to write '1024MiB' only; bytes are offered too."""
    r = run("collective", "all-reduce", "--fabric", "dgx-h100", "--sizes", "1024")
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert "'1024B' (bytes" in r.output and "'1024MiB'" in r.output


def test_torus_drawing_keeps_its_wraparound_arcs_inside_the_axes():
    """`topo plot` of a 4x4 torus cut the leftmost wrap-around arc off: arcs are patches, which do not widen the
    axes' limits. The limits now reach the arcs' apex (rad x chord / 2 beyond the nodes)."""
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from topo.draw import _draw_detailed, _positions_detailed

    fab = topo.torus(dims=[4, 4], link_bandwidth="100GB/s")
    pos, arcs = _positions_detailed(fab)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    chord = max(max(xs) - min(xs), max(ys) - min(ys))
    fig, ax = plt.subplots()
    _draw_detailed(fab, ax)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    plt.close(fig)
    apex = 0.25 * chord / 2
    assert x0 <= min(xs) - apex and x1 >= max(xs) + apex
    assert min(y0, y1) <= min(ys) - apex and max(y0, y1) >= max(ys) + apex


def test_plot_reads_a_collective_tables_json_as_well_as_its_csv(tmp_path):
    """`scaleup collective ... --json > t.json` then `scaleup plot t.json --kind busbw` said "must end in .parquet
    or .csv" (the CSV worked); both now draw."""
    pytest.importorskip("matplotlib")
    args = ["collective", "all-reduce", "--fabric", "dgx-h100", "--sizes", "1KiB,1MiB,1GiB", "--algorithm",
            "ring,inr", "--ideal"]
    for fmt in ("json", "csv"):
        table = tmp_path / f"t.{fmt}"
        table.write_text(run(*args, f"--{fmt}").output)
        png = tmp_path / f"{fmt}.png"
        r = run("plot", str(table), "--kind", "busbw", "-o", str(png))
        assert r.exit_code == 0, r.output
        assert png.read_bytes()[:4] == b"\x89PNG"
    bad = tmp_path / "bad.json"
    bad.write_text('{"a":')
    r = run("plot", str(bad), "--kind", "busbw", "-o", str(tmp_path / "b.png"))
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "cannot read" in r.output, r.output


def test_ideal_exact_mode_equals_the_bound_except_the_rooted_double_trees():
    """Under --ideal, `broadcast --algorithm dbt` printed an efficiency of 111% ("faster than its lower bound")
    while the README said every algorithm equals its closed form. The closed forms are bulk-synchronous (step
    mode, equal to the bound); exact mode equals them for every record except the rooted double trees, which
    may only be faster (a rank forwards as soon as its own data arrived). Checked on one switch, 8 and 6 ranks."""
    from collectives.algorithms import REGISTRY

    fab = topo.switch(chips=8, bandwidth="450GB/s")
    size = 2**30
    ahead = set()
    for (coll, name) in sorted(REGISTRY):
        for n in (8, 6):
            group = list(range(2 if coll == "send_recv" else n))
            try:
                e = C.collective(coll, fab, size, group, name, mode="exact", ideal=True)
                s = C.collective(coll, fab, size, group, name, mode="steps", ideal=True)
            except topo.ScaleupError:
                continue  # does not apply to this group (hd reduce-scatter on 6, inr without reducing switches)
            assert s.time == pytest.approx(s.bound, rel=1e-9), (coll, name, n)
            if e.time < s.time * (1 - 1e-9):
                ahead.add((coll, name))
            else:
                assert e.time == pytest.approx(s.time, rel=1e-9), (coll, name, n)
    assert ahead <= {("broadcast", "dbt"), ("reduce", "dbt")} and ("broadcast", "dbt") in ahead


def test_sweep_fabric_file_not_found_says_where_relative_paths_are_read(tmp_path, monkeypatch):
    """A spec next to its fabric file, run from another directory, said only "'sw16.yaml' is not a bundled fabric
    or a file": the path is read from the working directory, not the spec's, and the error now says so."""
    d = tmp_path / "proj"
    d.mkdir()
    topo.export_fabric(topo.full_mesh(chips=4), d / "mine.graphml")
    (d / "s.yaml").write_text("job: collective\nparams:\n  collective: all_reduce\n  fabric: mine.graphml\n"
                              "grid:\n  size: [1KiB]\n")
    monkeypatch.chdir(tmp_path)
    r = run("sweep", str(d / "s.yaml"), "--dry-run")
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert "read from the directory scaleup runs in" in r.output and str(tmp_path) in r.output
    monkeypatch.chdir(d)
    assert run("sweep", str(d / "s.yaml"), "--dry-run").exit_code == 0


def test_user_leaf_spine_graph_has_a_leaf_level_for_hierarchical_collectives():
    """A user's leaf/spine graph (no `tray`, no levels) had one level (all chips), so `hier` said the group lies in
    one part. Chips under one leaf each now form a level; `hier` on 2 leaves x 4 chips (2:1 oversubscribed) takes
    its closed form: direct reduce-scatter in the leaf (3/4 S/B + 2 hops), ring all-reduce of S/4 across the two
    leaves with 4 flows on a leaf's 2 uplinks (S/4 / (B/2) + 2 x 4 hops), direct all-gather in the leaf."""
    bw, lat = 50e9, 1e-6
    g = nx.Graph()
    for i in range(8):
        g.add_edge(f"gpu{i}", f"leaf{i // 4}", bandwidth=bw, latency=lat)
    for leaf in range(2):
        for sp in range(2):
            g.add_edge(f"leaf{leaf}", f"spine{sp}", bandwidth=bw, latency=lat)
    for n in g:
        g.nodes[n]["kind"] = "chip" if n.startswith("gpu") else "switch"
    fab = topo.Fabric.from_graph(g)
    assert fab.levels() == [[[0, 1, 2, 3], [4, 5, 6, 7]], [list(range(8))]]
    size = 2**30
    r = C.all_reduce(fab, size, group=list(range(8)), algorithm="hier", ideal=True)
    intra = 3 / 4 * size / bw + 2 * lat
    inter = (size / 4) / (bw / 2) + 2 * 4 * lat
    assert r.time == pytest.approx(2 * intra + inter, rel=1e-9)
    # a graph that names its trays keeps them (no leaf level guessed)
    for n in g:
        if n.startswith("gpu"):
            g.nodes[n]["tray"] = int(n[3:]) // 2
    assert topo.Fabric.from_graph(g).levels() == [[[0, 1], [2, 3], [4, 5], [6, 7]], [list(range(8))]]


def test_plot_orders_a_swept_override_with_units_by_value_in_legends_and_panels():
    """`--hue fabric.bandwidth` / `--facet` sorted '1.6Tbps' < '100GB/s' < '450GB/s' as text; by value now."""
    pd = pytest.importorskip("pandas")
    from sweep.plot import _groups

    df = pd.DataFrame({"fabric.bandwidth": ["450GB/s", "1.6Tbps", "100GB/s"], "y": [1.0, 2.0, 3.0]})
    assert [k for k, _ in _groups(df, "fabric.bandwidth")] == ["100GB/s", "1.6Tbps", "450GB/s"]
    df = pd.DataFrame({"algorithm": ["ring", "hd", "direct"], "y": [1.0, 2.0, 3.0]})
    assert [k for k, _ in _groups(df, "algorithm")] == ["direct", "hd", "ring"]


def test_multigraph_parallel_links_are_merged_not_dropped(tmp_path):
    """A GraphML multigraph with two parallel 50 GB/s links per pair loaded as one 50 GB/s link (networkx's
    MultiGraph -> Graph keeps one edge's data); they are one 100 GB/s edge of 2 links now, as builders merge them."""
    g = nx.MultiGraph()
    g.add_nodes_from(range(4), kind="chip")
    for i in range(4):
        for _ in range(2):
            g.add_edge(i, (i + 1) % 4, bandwidth=50e9, latency=1e-6)
    path = tmp_path / "multi.graphml"
    nx.write_graphml(g, path)
    fab = topo.load(path)
    assert fab.n_edges == 8 and set(fab.edge_bandwidth) == {100e9} and set(fab.edge_links) == {2}
    size = 2**30
    assert _ring_ideal(fab, size, 4) == pytest.approx(2 * 3 / 4 * size / 100e9 + 2 * 3 * 1e-6, rel=1e-12)


def test_a_ring_of_chips_that_do_not_forward_says_how_to_fix_it(tmp_path):
    """A user's ring of 4 chips (no switches) without `forward` loaded, ran neighbour rings, and `topo show` died
    on "no route from 0 to 2 ... (or only through chips that do not forward)" with no fix; the line now names
    the node attribute, and with it the summary and a direct all-reduce work."""
    g = nx.Graph()
    g.add_nodes_from(range(4), kind="chip")
    for i in range(4):
        g.add_edge(i, (i + 1) % 4, bandwidth=50e9, latency=1e-6)
    path = tmp_path / "ring.graphml"
    nx.write_graphml(g, path)
    r = run("topo", "show", str(path))
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "forward=True" in r.output, r.output
    nx.set_node_attributes(g, True, "forward")
    nx.write_graphml(g, path)
    r = run("topo", "show", str(path))
    assert r.exit_code == 0 and "diameter          2 hops" in r.output, r.output
    assert C.all_reduce(topo.load(path), 2**20, group=list(range(4)), algorithm="direct", ideal=True).time > 0


def test_calibrating_a_fabric_slower_than_the_measurements_warns(tmp_path):
    """`scaleup calibrate` of an nccl-tests log (busbw ~525 GB/s on 8 GPUs) against a fabric of 100 GB/s links
    printed a degenerate comm: block (call 0us, buffer_bandwidth 3e18 GB/s) with 5x errors and no word on why;
    it now warns that the links are slower than the measured system. The matching fabric gets no warning."""
    lines = ["# ./build/all_reduce_perf -b 1K -e 1G -f 4 -g 8", "# nThread 1 nGpus 8 minBytes 1024 maxBytes 1073741824 step: 4(factor) warmup iters: 5 iters: 20", "#"]
    lines += [f"#  Rank  {i} Group  0 Pid   1000 on host device  {i} [0x00] NVIDIA H100 80GB HBM3" for i in range(8)]
    lines += ["#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   "
              "busbw #wrong"]
    size = 1024
    while size <= 2**30:  # an all_reduce_perf of 10 us + size / 300 GB/s (busbw 525 GB/s at large sizes)
        t = 10 + size / 300e3
        row = f"{t:8.2f}  {size / t / 1e3:6.2f}  {size / t / 1e3 * 1.75:6.2f}      0"
        lines.append(f"  {size:>10d}  {size // 4:>12d}     float     sum      -1  {row}  {row}")
        size *= 4
    log = tmp_path / "ar.log"
    log.write_text("\n".join(lines) + "\n")
    slow = tmp_path / "slow.yaml"
    slow.write_text("builder: switch\nchips: 8\nbandwidth: 100GB/s\n")
    r = run("calibrate", "--fabric", str(slow), "--measurements", str(log))
    assert r.exit_code == 0 and "warning: at the largest sizes the fitted model is still" in r.output, r.output
    r = run("calibrate", "--fabric", "dgx-h100", "--measurements", str(log))
    # (one log of 8 GPUs: only the note that one rank count cannot separate the per-call and per-step costs)
    assert r.exit_code == 0 and [w for w in r.output.splitlines() if w.startswith("warning:")] == \
        [w for w in r.output.splitlines() if w.startswith("warning: one rank count (8)")], r.output


@pytest.mark.parametrize("fmt", ["graphml", "json"])
def test_exported_graph_keeps_a_chip_changed_from_its_preset(tmp_path, fmt):
    """GraphML carried only the chip's name: a fabric whose chip was a preset with changes (`chip: {preset:
    h100-sxm, hbm_bytes: 40GB}` keeps the name) loaded back as the unchanged preset, and a chip of the user's
    own as the generic one, silently (an estimate on it used 80 GB of HBM). The whole spec travels now, as JSON's."""
    changed = topo.CHIPS["h100-sxm"].replace(hbm_bytes=40e9, hbm_bandwidth=2e12)
    own = topo.specs.ChipSpec(name="my-npu", port_bandwidth=50e9, ports=8, hbm_bytes=24e9, hbm_bandwidth=1e12,
                              flops={"bf16": 3e14})
    for chip in (changed, own):
        fab = topo.torus(dims=[2, 2], link_bandwidth="100GB/s", chip=chip)
        back = topo.load(topo.export_fabric(fab, tmp_path / f"c.{fmt}"))
        assert back.chip == chip != topo.CHIPS.get("h100-sxm")


@pytest.mark.parametrize("fmt", ["graphml", "json"])
def test_exported_graph_with_a_slow_link_loads_back(tmp_path, fmt):
    """A fabric with a 2 ms link (a what-if over distance) exported and loaded back was refused: 'the bare number
    0.002 is 0.002 s; write e.g. 0.002ns' - the guard against other simulators' ns/GB/s numbers hit the export's
    own SI numbers. The export says its units (graph attribute units), so its numbers are read as SI."""
    fab = topo.torus(dims=[2, 2], link_bandwidth="100GB/s", link_latency="2ms")
    back = topo.load(topo.export_fabric(fab, tmp_path / f"s.{fmt}"))
    assert sorted(back.edge_latency) == sorted(fab.edge_latency) and back.edge_latency.max() == 2e-3
    g = nx.Graph(units="bandwidth: GB/s, latency: ns")  # units other than the export's: still checked
    g.add_nodes_from([(0, {"kind": "chip"}), (1, {"kind": "chip"})])
    g.add_edge(0, 1, bandwidth=400, latency=500)
    nx.write_graphml(g, tmp_path / "other.graphml")
    with pytest.raises(topo.UnitError, match="bare number"):
        topo.load(tmp_path / "other.graphml")


def test_bfs_router_cache_stays_within_its_bound_within_one_call():
    """The path cache was emptied only at the start of a call when past MAX_CACHED_PAIRS: one all-to-all of an
    imported 6,144-chip graph (37M pairs) filled it past any bound and the fabric kept it after the call. It now
    stops adding at the bound, and the routes are still a fresh router's."""
    import numpy as np

    g = topo.Fabric.from_graph(topo.full_mesh(chips=8).graph)
    g.router.MAX_CACHED_PAIRS = 5
    src, dst = np.repeat(np.arange(8), 8), np.tile(np.arange(8), 8)
    got = g.routes(src, dst)
    assert len(g.router._paths) <= 5
    fresh = topo.BFSRouter().routes(g, src, dst)
    assert np.array_equal(got.path_ptr, fresh.path_ptr) and np.array_equal(got.path_edges, fresh.path_edges)


def test_node_link_json_without_links_is_a_graph_without_edges(tmp_path):
    """A one-chip node-link JSON written without a 'links' list (nothing to link) said "cannot read it as json
    ('edges')"; it is a one-chip fabric, as the same graph in GraphML."""
    (tmp_path / "one.json").write_text('{"nodes": [{"id": 0, "kind": "chip"}]}')
    assert topo.load(tmp_path / "one.json").n_chips == 1
    (tmp_path / "two.json").write_text('{"nodes": [{"id": 0, "kind": "chip"}, {"id": 1, "kind": "chip"}]}')
    with pytest.raises(topo.SpecError, match="disconnected"):  # two chips and no link: the fabric's own error
        topo.load(tmp_path / "two.json")


def test_a_fabric_spec_written_as_json_still_builds(tmp_path):
    """JSON is YAML: a fabric file `{"builder": ..., ...}` named .json was built by topo.load before graph files
    were read; since, every .json was taken for a node-link graph ("not a node-link graph"). A mapping with a
    builder and no nodes is a fabric spec again, overrides and their check included."""
    path = tmp_path / "mesh.json"
    path.write_text('{"builder": "full_mesh", "chips": 4, "link_bandwidth": "100GB/s"}')
    assert topo.load(path).n_chips == 4 and topo.load(path, chips=6).n_chips == 6
    topo.loader.check_override_keys(path, ["chips"])
    with pytest.raises(topo.SpecError, match="unknown key 'chipz'"):
        topo.loader.check_override_keys(path, ["chipz"])


def test_override_key_check_follows_an_overridden_builder(tmp_path):
    """check_override_keys checked the keys against the file's builder even when `builder` itself was overridden:
    a sweep of `fabric.builder: torus` with `fabric.dims` failed before any point ran ("unknown key 'dims' for
    full_mesh") although topo.load builds it. With the builder's value given, the check follows it."""
    path = tmp_path / "fm.yaml"
    path.write_text("builder: full_mesh\nlink_bandwidth: 100GB/s\n")
    assert topo.load(path, builder="torus", dims=[2, 2]).n_chips == 4
    topo.loader.check_override_keys(path, {"builder": "torus", "dims": [2, 2]})
    with pytest.raises(topo.SpecError, match="unknown key 'chipz' for torus"):
        topo.loader.check_override_keys(path, {"builder": "torus", "chipz": 4})
    with pytest.raises(topo.SpecError, match="unknown key 'dims' for full_mesh"):
        topo.loader.check_override_keys(path, ["dims"])


def test_sweep_override_typo_names_its_own_key_not_the_first_fabric_key(tmp_path):
    """With several fabric.* keys the refusal named the first of them (`grid.fabric.link_latency: ... unknown key
    'bandwith'`), not the one it refused."""
    spec = tmp_path / "s.yaml"
    spec.write_text("job: collective\nparams:\n  collective: all_reduce\n  fabric: dgx-h100\n"
                    "grid:\n  fabric.link_latency: [200ns]\n  fabric.bandwith: [1]\n  size: [1KiB]\n")
    r = run("sweep", str(spec), "--out", str(tmp_path / "o.csv"), "--dry-run")
    assert r.exit_code == 2 and "grid.fabric.bandwith:" in r.output and "link_latency:" not in r.output, r.output


def test_graph_file_forward_written_as_text_is_read_as_a_boolean(tmp_path):
    """A node-link JSON (or a GraphML of string attributes) with `"forward": "false"` made the chip relay traffic
    (any non-empty string is true); "true" / "false" (and 1 / 0, yes / no) are read as booleans, other text is one
    line naming the node."""
    import json

    nodes = [{"id": i, "kind": "chip", "forward": f} for i, f in enumerate(["false", "true", "0", "yes"])]
    links = [{"source": i, "target": (i + 1) % 4, "bandwidth": 1e11, "latency": 1e-6} for i in range(4)]
    (tmp_path / "r.json").write_text(json.dumps({"nodes": nodes, "links": links}))
    assert topo.load(tmp_path / "r.json").forwards[:4].tolist() == [False, True, False, True]
    nodes[0]["forward"] = "sometimes"
    (tmp_path / "r.json").write_text(json.dumps({"nodes": nodes, "links": links}))
    with pytest.raises(topo.SpecError, match="forward"):
        topo.load(tmp_path / "r.json")
