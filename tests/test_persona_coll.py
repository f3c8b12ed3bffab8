"""A systems researcher coming from ASTRA-sim / nccl-tests checks scaleup's collectives on odd inputs.

Each test failed before its fix (see the commit that added it)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import collectives as C
import topo

sys.path.insert(0, str(Path(__file__).parent))
from test_collectives_registry import B, H, S, ring, star  # noqa: E402


def test_bidirectional_ring_on_two_ranks_is_the_one_way_ring():
    """On 2 ranks both ring neighbours are the same chip, so the two halves of a bidirectional ring share the
    one pair of links: the simulation gave S/B + 2 alpha (16,779 us on 1 GB/s, 16 MiB) and C.bounds said half
    of it, S/(2B) + 2 alpha (8,391 us). Now the closed form is the one-way ring's at n = 2, as simulated."""
    for fab in (ring(2), star(2)):
        for algo, opts in (("bidir", {}), ("ring", {"bidirectional": True})):
            r = C.all_reduce(fab, S, group=[0, 1], algorithm=algo, ideal=True, mode="steps", **opts)
            want = C.bounds.all_reduce(2, S, B, H if fab.n_nodes == 2 else 2 * H, algorithm="ring")
            assert r.time == pytest.approx(want, rel=1e-9)
            assert C.REGISTRY[("all_reduce", algo)].closed_form(2, S, B, H, **opts) == pytest.approx(
                C.bounds.all_reduce(2, S, B, H, algorithm="ring"), rel=1e-12)
    # three ranks and more: each direction on its own links, half the time of the one-way ring's data term
    r3 = C.all_reduce(ring(3), S, group=[0, 1, 2], algorithm="bidir", ideal=True, mode="steps")
    assert r3.time == pytest.approx(C.bounds.all_reduce(3, S, B, H, algorithm="bidir"), rel=1e-9)


@pytest.mark.parametrize("fabric", ["dgx-h100", "gb200-nvl72"])
def test_single_rank_in_network_all_reduce_moves_nothing(fabric):
    """A 1-rank group holds its sum already; inr sent the whole buffer up to the NVSwitch and back down
    (dgx-h100, 1 GiB, --ideal: 4,278 us and 2 GiB on the links, where every other algorithm and inr's own
    closed form give 0). Now it moves no byte and takes 0 s, like the others."""
    fab = topo.load(fabric)
    r = C.all_reduce(fab, 2**30, group=[3], algorithm="inr", ideal=True)
    assert r.time == 0.0 and r.link_stats.total_bytes == 0.0
    assert r.time == C.bounds.all_reduce(1, 2**30, 1e9, 1e-6, algorithm="inr")
    assert C.all_reduce(fab, 2**30, group=[3], algorithm="inr").link_stats.total_bytes == 0.0  # calibrated too
    C.verify(C.REGISTRY[("all_reduce", "inr")]([3], 2**20, fab, symbolic=True), fab.n_nodes)


def test_verify_accepts_a_schedule_with_empty_phases():
    """multirail on a 1-rank group compiles phases of no flows; verify raised ValueError ("cannot reshape
    array of size 0") instead of checking the (trivially complete) result."""
    fab = topo.load("dgx-h100")
    for coll in ("all_reduce", "all_gather", "reduce_scatter"):
        C.verify(C.REGISTRY[(coll, "multirail")]([0], 2**20, fab, symbolic=True), fab.n_nodes)


def test_placement_is_used_when_the_group_size_does_not_divide_the_chips():
    """`scaleup collective --group-size 12 --placement strided` on a fabric whose chips 12 does not divide ran
    ranks 0..11 (the tray placement) under a header saying 'placement strided' (h100-clos, 64 MiB ring --ideal:
    2,500.26 us for both). Now strided takes one rank every n // k and random the first k of its permutation,
    each the first group fab.groups would cut where k divides."""
    fab = topo.load("torus-8x8")
    rows = {p: C.benchmark("all_reduce", fab, [2**26], 12, ["ring"], placement=p, ideal=True)[0]["time_us"]
            for p in ("tray", "strided", "random")}
    want = {"tray": list(range(12)), "strided": [5 * i for i in range(12)],
            "random": np.random.default_rng(0).permutation(64)[:12].tolist()}
    for p, g in want.items():
        assert rows[p] == pytest.approx(C.all_reduce(fab, 2**26, group=g, algorithm="ring", ideal=True).time * 1e6,
                                        rel=1e-12), p
    assert rows["strided"] != rows["tray"]
    from collectives.report import _first_group

    for p in ("strided", "random"):
        assert _first_group(fab, 16, p, 3) == fab.groups(16, p, seed=3)[0]


def test_calibrate_warns_when_one_rank_count_is_far_slower_than_measured(tmp_path):
    """Measurements of 2, 4 and 12 ranks on 3 servers of 4 (the 12-rank rows from a library that runs the all-port
    hierarchical algorithm across servers) fitted with NCCL's ring: the 12-rank rows came out 3-4x too slow
    and no warning was given, because the slow check took the median over every rank count's largest sizes
    (2 and 4 ranks fit). It is now checked per collective and rank count and names the rows and the algorithm."""
    path = tmp_path / "f.yaml"
    path.write_text("builder: clos\nname: three-by-four\nchip: h100-sxm\nservers: 3\nchips_per_server: 4\n"
                    "nic_bandwidth: 400Gbps\nserver_fabric: switch\nserver_bandwidth: 300GB/s\nleaf_radix: 16\n"
                    "link_latency: 500ns\nswitch_latency: 300ns\ncomm: {preset: assumed, call: 10us}\n")
    fab = topo.load(str(path))
    lines = ["collective,ranks,bytes,seconds"]
    for n in (2, 4, 12):
        for e in range(10, 29, 3):
            r = C.all_gather(fab, 2**e, group=list(range(n)), algorithm="multirail" if n == 12 else "ring")
            lines.append(f"all_gather,{n},{2**e},{r.time!r}")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    cal = C.calibrate(fab, str(tmp_path / "m.csv"))
    big = cal.data[(cal.data["ranks"] == 12) & (cal.data["bytes"] >= 2**25)]
    assert (big["ratio"] > 1.5).all()  # the fit cannot reach them with the ring
    slow = [w for w in cal.warnings if "slower than measured" in w]
    assert slow and "all_gather on 12 ranks" in slow[0] and "--algorithms all_gather=ring,multirail" in slow[0], \
        cal.warnings


def test_in_network_all_reduce_inside_a_clos_server_uses_the_server_switch():
    """On a Clos of NVSwitch servers, inr never used the server switch (tier 0, the chips' own tier) and reduced
    through the NICs at the rail leaves and spines: h100-clos, 8 GPUs of one server, 64 MiB --ideal: 1,525.7 us
    where dgx-h100 (the same server alone) takes 268.3 us; with `in_network_reduction: false` on the leaves it
    even "reduced" at leaf0, which cannot (1,514 us, ring 228 us). Now only reducing switches take part, the
    lowest tier whose trees complete: the server's NVSwitch inside a server (NVLS), the leaves across servers
    (unchanged: 12 ranks 1,525.7 us)."""
    clos, dgx = topo.load("h100-clos"), topo.load("dgx-h100")
    r = C.all_reduce(clos, 2**26, group=list(range(8)), algorithm="inr", ideal=True)
    alone = C.all_reduce(dgx, 2**26, group=list(range(8)), algorithm="inr", ideal=True)
    assert r.time == pytest.approx(alone.time, rel=0.01)  # only the server switch's latency differs
    assert r.time == pytest.approx(r.bound, rel=1e-9)
    cross = C.all_reduce(clos, 2**26, group=list(range(12)), algorithm="inr", ideal=True)
    assert cross.time == pytest.approx(1525.7352e-6, rel=1e-6)
    nvls_only = topo.clos(servers=4, chips_per_server=4, leaf_radix=8, server_fabric="switch", nic_bandwidth="50GB/s",
                          server_bandwidth="450GB/s", in_network_reduction=False, server_in_network_reduction=True)
    r4 = C.all_reduce(nvls_only, 2**26, group=[0, 1, 2, 3], algorithm="inr", ideal=True)
    assert r4.time < C.all_reduce(nvls_only, 2**26, group=[0, 1, 2, 3], algorithm="ring", ideal=True).time
    sched = r4.schedule
    switches = {int(v) for seg in sched.segments for p in seg for v in np.r_[p.src, p.dst] if v >= nvls_only.n_chips}
    assert {nvls_only.nodes[v] for v in switches} == {"s0.nvsw"}
    with pytest.raises(topo.ScheduleError, match="no regular reduction tree"):  # the leaves cannot reduce
        C.all_reduce(nvls_only, 2**26, group=list(range(8)), algorithm="inr", ideal=True)


def test_not_run_line_names_the_algorithm_once():
    """`--algorithm ring,hier` on one tray printed '# not run: hier: hier: the group lies inside ...'."""
    from click.testing import CliRunner

    from cli import main

    r = CliRunner().invoke(main, ["collective", "all-gather", "--fabric", "dgx-h100", "--group-size", "6", "--sizes",
                                  "1KiB", "--algorithm", "ring,hier", "--ideal"])
    assert r.exit_code == 0, r.output
    line = [ln for ln in r.output.splitlines() if ln.startswith("# not run")]
    assert line == ["# not run: hier: the group lies inside one part of every level (e.g. one tray); use direct"], \
        r.output


@pytest.mark.parametrize("block, word", [
    ("{preset: assumed, algorithms: {all_reduce: {rnig: 1}}}", "unknown algorithm 'rnig'"),
    ("{preset: assumed, algorithms: {allreduce: {ring: 1}}}", "unknown collective 'allreduce'"),
    ("{preset: assumed, custom: {oneshott: {call: 1us}}}", "unknown all-reduce algorithm 'oneshott'"),
])
def test_comm_block_naming_an_unknown_algorithm_is_one_line(block, word):
    """A typo in a comm: block's algorithm (or collective) names matched nothing, so `auto` silently ran every
    registered algorithm (dgx-h100, 1 MiB: auto:direct 20.4 us instead of the listed one); now one line, exit 2."""
    from click.testing import CliRunner

    from cli import main

    r = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "dgx-h100", "--sizes", "1MiB",
                                  "--set", f"comm={block}"])
    assert r.exit_code == 2 and word in r.output and r.output.count("\n") == 1, r.output
    with pytest.raises(topo.SpecError, match=word):
        C.all_reduce(topo.load("dgx-h100", comm=yaml_comm(block)), 2**20)


def yaml_comm(block: str):
    import yaml

    return yaml.safe_load(block)


def test_benchmark_takes_sizes_with_units_as_every_collective_does():
    """collectives.benchmark("all_reduce", fab, ["1MiB", "4MiB"]) raised ValueError ("could not convert string to
    float", a traceback) though all_reduce(fab, "1MiB") and a range string "1MiB:4MiB" are taken."""
    rows = C.benchmark("all_reduce", "dgx-h100", ["1MiB", "4MiB"], 8, ideal=True)
    want = C.benchmark("all_reduce", "dgx-h100", [2**20, 2**22], 8, ideal=True)
    assert rows == want and [r["size"] for r in rows] == [2**20, 2**22]
    with pytest.raises(topo.ScheduleError, match="size"):
        C.benchmark("all_reduce", "dgx-h100", ["1 furlong"], 8)


def test_sweep_collective_job_cuts_a_non_dividing_group_by_its_placement(tmp_path):
    """The sweep's collective job ran ranks 0..k-1 whatever `placement` said when k does not divide the chips
    (as --group-size did before f534eed); its rows now equal `scaleup collective --placement` (benchmark)."""
    from sweep import run_sweep

    spec = {"job": "collective", "params": {"fabric": "torus-8x8", "collective": "all_reduce", "algorithm": "ring",
                                            "opt.ideal": True, "group": 12, "size": "64MiB"},
            "grid": {"placement": ["tray", "strided", "random"]}}
    df = run_sweep(spec, tmp_path / "p.parquet", workers=1, progress=False).table()
    assert df["error"].isna().all(), df
    for placement, t in zip(df["placement"], df["time_us"]):
        want = C.benchmark("all_reduce", "torus-8x8", [2**26], 12, ["ring"], placement=placement, ideal=True)
        assert t == pytest.approx(want[0]["time_us"], rel=1e-12), placement
    assert len(set(df["time_us"])) > 1


@pytest.mark.parametrize("dtype, elt", [("bfloat16", 2), ("int32", 4), ("uint64", 8), ("f8e4m3", 1)])
def test_count_column_takes_nccl_tests_type_names(dtype, elt):
    """`--dtype bfloat16` (nccl-tests' -d name, as its type column prints it) was 'unknown'; scaleup knew only
    bf16. nccl-tests' names are taken, the column widens for them, and the count is size / element bytes."""
    rows = C.benchmark("all_reduce", "dgx-h100", [2**20], 8, dtype=dtype, ideal=True)
    assert rows[0]["count"] == 2**20 // elt and rows[0]["type"] == dtype
    head, line = C.format_table(rows).splitlines()[:2]
    assert head.index("count (elts)") + len("count (elts)") < head.index("type") + 4 <= len(head)
    assert line.split()[2] == dtype and head.find(" type ") + len(" type") == line.find(dtype) + len(dtype)


@pytest.mark.parametrize("algo, inter, n", [("hier", "hd", 24), ("hier", "direct", 20), ("hier_ml", "hd", 24)])
def test_hierarchical_all_reduce_with_chunked_ring_parts_verifies(algo, inter, n):
    """hier all-reduce with chunks=3, intra='ring' and an inter algorithm without chunks (hd, direct) failed
    collectives.verify ('flow sizes [611669.75] differ from their blocks x block size 0.0'): its block count
    did not divide by the chunks the intra ring pipelines over. The flows were right; the labels now are too."""
    fab = topo.clos(servers=6, chips_per_server=4, nic_bandwidth="100Gbps", server_fabric="mesh",
                    server_bandwidth="300GB/s", leaf_radix=16)  # 24 chips: servers of 4, leaves of 8
    s = C.REGISTRY[("all_reduce", algo)](list(range(n)), 7 * 2**20 + 5, fab, symbolic=True, chunks=3, intra="ring",
                                         inter=inter)
    C.verify(s, fab.n_nodes)


def test_calibrate_leaves_out_one_rank_rows(tmp_path):
    """nccl-tests -g 1 rows time a local copy: they were fitted with the rest and pulled the parameters to their
    bounds. They are left out with a warning; the fit of the others is what it is without them."""
    fab = topo.load("dgx-h100")
    lines = ["collective,ranks,bytes,seconds"]
    for e in range(10, 31):
        lines.append(f"all_reduce,8,{2**e},{C.all_reduce(fab, 2**e, group=list(range(8))).time!r}")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "solo.csv").write_text("\n".join(lines + [f"all_reduce,1,{2**e},{1e-6 + 2**e / 1e12!r}"
                                                          for e in range(10, 29, 3)]) + "\n")
    clean = C.calibrate(fab, str(tmp_path / "m.csv"))
    mixed = C.calibrate(fab, str(tmp_path / "solo.csv"))
    assert (mixed.data["ranks"] == 8).all() and len(mixed.data) == len(clean.data)
    assert np.allclose(mixed.ratios, clean.ratios)  # the same fit as without the 1-rank rows
    assert "7 rows of 1 rank left out" in mixed.warnings[0]
    assert any(w.startswith("one rank count (8)") for w in clean.warnings), clean.warnings
    (tmp_path / "only.csv").write_text("\n".join(lines[:1] + ["all_reduce,1,1024,1e-5"]) + "\n")
    with pytest.raises(topo.SpecError, match="every row .* is of 1 rank"):
        C.calibrate(fab, str(tmp_path / "only.csv"))


def test_an_algorithm_outside_the_fitted_set_runs_at_the_least_efficient_fitted_one():
    """nccl-h100 fits ring (0.914) and NVLS; halving-doubling asked by name ran at efficiency 1.0, ahead of the
    fitted ring (persona: nccl-tests user, D14). It now moves its bytes at the ring's 0.914, as `assumed`'s '*'."""
    from collectives import comm as CM

    spec = topo.comm_preset("nccl-h100")
    ring = CM.costs(spec, "all_reduce", "ring")
    hd = CM.costs(spec, "all_reduce", "hd")
    assert [c.inflation for c in hd] == pytest.approx([c.inflation for c in ring])
    assert CM.costs(spec, "all_reduce", "inr")[0].inflation == pytest.approx(1.0)  # fitted ones keep theirs
    a2a = topo.comm_preset("nccl-h100").algorithms_of("all_to_all")["direct"]
    assert CM.costs(spec, "all_to_all", "pairwise")[0].inflation == pytest.approx(
        CM.costs(spec, "all_to_all", "direct")[0].inflation) and a2a < 1


def test_sweep_collective_job_whole_fabric_group_is_the_clis(tmp_path):
    """A group of every chip (``group: n`` or no group) ran ranks 0..n-1 in rank order whatever `placement` said,
    while `scaleup collective --group-size n` (benchmark) runs ``fab.groups(n, placement)[0]``: on a torus the tray
    group is a snake whose ring steps one hop, so the sweep's 16-chip ring on a 4x4 torus took 2-hop wrap steps
    (1,318.29 us against the CLI's 1,288.29 us at 64 MiB, 100 GB/s, 1 us) and `placement: random` was ignored."""
    from sweep import run_sweep

    spec = {"job": "collective", "params": {"fabric": "torus-8x8", "collective": "all_reduce", "opt.ideal": True,
                                            "size": "64MiB"},
            "grid": {"algorithm": ["ring", "hd"], "group": [None, 64], "placement": ["tray", "random"]}}
    df = run_sweep(spec, tmp_path / "p.parquet", workers=1, progress=False).table()
    assert df["error"].isna().all(), df
    for alg, placement, t in zip(df["algorithm"], df["placement"], df["time_us"]):
        want = C.benchmark("all_reduce", "torus-8x8", [2**26], 64, [alg], placement=placement, ideal=True)
        assert t == pytest.approx(want[0]["time_us"], rel=1e-12), (alg, placement)


def test_hierarchical_on_a_torus_snake_group_takes_the_per_dimension_closed_form():
    """fab.groups(64) on an 8x8 torus is a snake (every other line reversed, x = 0 last) so a flat ring steps one hop;
    hier paired local rank i of every line by its place in the group, so its across-line rings ran between chips
    of different x over multi-hop paths sharing links: all-reduce 1,478.61 us, all-gather 739.30 us at 64 MiB
    against the per-dimension rings' 1,349.21 / 674.60 us (ASTRA-sim's Ring x Ring; rank order gave that)."""
    fab = topo.torus(dims=[8, 8], link_bandwidth="100GB/s", link_latency="1us")
    snake = fab.groups(64)[0]
    assert snake != list(range(64))
    S, B, a = 2.0**26, 100e9, 1e-6
    ar = 2 * 7 / 8 * S / B + 2 * 7 / 8 * (S / 8) / B + (7 + 14 + 7) * a  # RS x-line, AR y-line of S/8, AG x-line
    ag = 7 / 8 * (S / 8) / B + 7 / 8 * S / B + (7 + 7) * a
    for mode in ("steps", "exact"):
        r = C.all_reduce(fab, S, group=snake, algorithm="hier", intra="ring", ideal=True, mode=mode)
        assert r.time == pytest.approx(ar, rel=1e-9), mode
        assert r.bound == pytest.approx(ar, rel=1e-9)
        r = C.all_gather(fab, S, group=snake, algorithm="hier", intra="ring", ideal=True, mode=mode)
        assert r.time == pytest.approx(ag, rel=1e-9), mode
        r = C.reduce_scatter(fab, S, group=snake, algorithm="hier", intra="ring", ideal=True, mode=mode)
        assert r.time == pytest.approx(ag, rel=1e-9), mode


def test_cli_takes_the_hierarchical_sub_algorithms():
    """`--intra` / `--inter` (hier, hier_ml: ASTRA-sim's per-dimension ring) were reachable from Python and sweeps
    only: the CLI's hier ran intra=direct, 1,510.98 us on the 8x8 torus below against the rings' 1,349.21 us."""
    import json

    from click.testing import CliRunner

    from cli import _INTRA_INTER, main
    from collectives.algorithms.registry import REGISTRY

    assert set(_INTRA_INTER) == {c for (c, _), rec in REGISTRY.items() if "intra" in rec.option_names}
    S, B, a = 2.0**26, 100e9, 1e-6
    want = 2 * 7 / 8 * S / B + 2 * 7 / 8 * (S / 8) / B + 28 * a
    res = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "torus-8x8", "--set", "link_bandwidth=100GB/s",
                                    "--set", "link_latency=1us", "--group-size", "64", "--sizes", "64MiB", "--ideal",
                                    "--algorithm", "hier", "--intra", "ring", "--inter", "ring", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)[0]["time_us"] == pytest.approx(want * 1e6, rel=1e-9)
    res = CliRunner().invoke(main, ["collective", "all-gather", "--fabric", "torus-8x8", "--sizes", "1MiB",
                                    "--inter", "hd"])
    assert res.exit_code == 2 and "inter" in res.output and "Traceback" not in res.output, res.output


def test_auto_refuses_a_sub_algorithm_no_candidate_takes():
    """auto left string options to each candidate, so a typo made every hierarchical candidate inapplicable and
    the call ran as if it were not given (inter='bidirr' gave bidir's time, no error)."""
    fab = topo.torus(dims=[4, 4], link_bandwidth="100GB/s", link_latency="1us")
    with pytest.raises(topo.ScheduleError, match="inter"):
        C.all_reduce(fab, 2**20, inter="bidirr", ideal=True)
    with pytest.raises(topo.ScheduleError, match="intra"):
        C.reduce_scatter(fab, 2**20, intra="rng", ideal=True)
    assert C.all_reduce(fab, 2**20, inter="hd", ideal=True).time > 0  # a value some candidate takes still runs


def test_torus_takes_a_bandwidth_and_latency_per_dimension(tmp_path):
    """ASTRA-sim's network configs give each dimension its own bandwidth and latency; the torus builder took one
    value (a list was a UnitError), so a 3D torus of 200/100/50 GB/s dimensions could not be written."""
    path = tmp_path / "t3.yaml"
    path.write_text("builder: torus\ndims: [4, 4, 4]\nlink_bandwidth: [200GB/s, 100GB/s, 50GB/s]\n"
                    "link_latency: [500ns, 1us, 2us]\n")
    fab = topo.load(str(path))
    coord = {n: tuple(map(int, fab.graph.nodes[n]["coord"].split(","))) for n in fab.chips}
    for u, v, d in fab.graph.edges(data=True):
        dim = next(i for i in range(3) if coord[u][i] != coord[v][i])
        assert (d["bandwidth"], d["latency"]) == pytest.approx(([200e9, 100e9, 50e9][dim], [5e-7, 1e-6, 2e-6][dim]))
    S = 2.0**26
    a, B = [5e-7, 1e-6, 2e-6], [200e9, 100e9, 50e9]
    # ring reduce-scatter / all-gather along x (S), then y (S/4), ring all-reduce along z (S/16)
    want = 2 * (3 / 4 * S / B[0] + 3 * a[0]) + 2 * (3 / 4 * S / 4 / B[1] + 3 * a[1]) + 2 * 3 / 4 * S / 16 / B[2] + 6 * a[2]
    r = C.all_reduce(fab, S, algorithm="hier_ml", intra="ring", ideal=True, mode="steps")
    assert r.time == pytest.approx(want, rel=1e-9)
    with pytest.raises(topo.SpecError, match=r"link_latency: give one value or one per dimension \(3\), got 2"):
        topo.torus(dims=[4, 4, 4], link_latency=["1us", "2us"])
    with pytest.raises(topo.UnitError, match=r"link_bandwidth\[1\]"):
        topo.torus(dims=[4, 4], link_bandwidth=["100GB/s", 100])


def test_routing_every_path_of_too_many_flows_is_refused_before_memory_runs_out(monkeypatch):
    """`scaleup collective all-to-all --fabric <16x16x16 torus> --group-size 4096 --algorithm direct` (auto names
    direct as the one to ask for) routed 16.8 M flows over all their equal-cost paths, ~1.5e9 path-edge entries:
    past 14 GiB within two minutes and then killed by the kernel, no line printed. The router's sampled estimate now
    refuses it first (here with the budget scaled down to a 64-chip torus)."""
    import traffic.routing as TR

    fab = topo.torus(dims=[8, 8], link_bandwidth="100GB/s", link_latency="1us")
    src, dst = np.nonzero(~np.eye(64, dtype=bool))
    full = len(fab.routes(src, dst).path_edges)
    monkeypatch.setattr(TR, "_ROUTE_SAMPLE_ABOVE", 1000)
    monkeypatch.setattr(TR, "MAX_ROUTE_EDGES", full // 2)
    with pytest.raises(topo.CapacityError, match=r"routing: 4,032 flows .* path-edge entries .*routing='hash'"):
        C.all_to_all(fab, 2**26, algorithm="direct", ideal=True)
    monkeypatch.setattr(TR, "MAX_ROUTE_EDGES", full * 2)  # within budget: runs, bisection-bound
    r = C.all_to_all(fab, 2**26, algorithm="direct", ideal=True)
    assert r.time >= 32 * 32 * 2**26 / 64 / (16 * 100e9)  # half to half over the 16 links crossing the cut


def test_rooted_collective_table_names_its_root():
    """nccl-tests prints the root of broadcast / reduce; the table's header named ranks and placement only, so two
    tables of --root 0 and --root 3 could not be told apart."""
    from click.testing import CliRunner

    from cli import main

    for coll, extra, want in (("broadcast", [], "root 0 (position in the group)"),
                              ("reduce", ["--root", "3"], "root 3 (position in the group)")):
        res = CliRunner().invoke(main, ["collective", coll, "--fabric", "dgx-h100", "--group-size", "8", "--sizes",
                                        "1MiB", "--ideal", *extra])
        assert res.exit_code == 0, res.output
        assert want in res.output.splitlines()[0], res.output
