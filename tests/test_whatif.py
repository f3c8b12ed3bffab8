"""What-if (issue 13): faults and routing around them, stragglers, Monte Carlo, jobs sharing a fabric.

Every check is against a closed form or an invariant: a failed path of two halves the rate, a failed plane
costs its share of switch bandwidth, a straggler stretches a ring by 1/f, disjoint jobs do not interact,
no route crosses a failed part, and a Monte Carlo is a function of its seed.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from click.testing import CliRunner

import topo
from topo import Fabric, RoutingError, SpecError
from topo.faults import FaultedRouter, fault_summary, parse_fault, parse_speeds, random_faults
from traffic import simulate_arrays

GB = 1e9


def two_path(bw: float = 100 * GB) -> Fabric:
    """a -> {s1, s2} -> b: two equal-cost paths, every link ``bw`` each way, no latency."""
    g = nx.Graph()
    g.add_node("a", kind="chip", rank=0)
    g.add_node("b", kind="chip", rank=1)
    for s in ("s1", "s2"):
        g.add_node(s, kind="switch", tier=1)
        g.add_edge("a", s, bandwidth=bw, latency=0.0)
        g.add_edge(s, "b", bandwidth=bw, latency=0.0)
    return Fabric.from_graph(g, name="two-path")


def star(n: int = 8, bw: float = 100 * GB, lat: float = 1e-6) -> Fabric:
    g = nx.Graph()
    g.add_node("sw", kind="switch", tier=1)
    for i in range(n):
        g.add_node(f"c{i}", kind="chip", rank=i)
        g.add_edge(f"c{i}", "sw", bandwidth=bw, latency=lat)
    return Fabric.from_graph(g, name="star")


@pytest.fixture(scope="module")
def small():
    return topo.load("maia200-small")


# ------------------------------------------------------------------------------------------ faults
def test_failed_link_on_two_path_fabric_halves_the_rate():
    fab = two_path()
    size = 8e9
    healthy = simulate_arrays(fab, np.array([0]), np.array([1]), size).makespan
    assert healthy == pytest.approx(size / (200 * GB), rel=1e-12)  # two paths of 100 GB/s
    for spec in ("cable:a-s1", "link:a->s1", "switch:s2", "link:s2->b"):
        f = fab.with_faults(spec)
        t = simulate_arrays(f, np.array([0]), np.array([1]), size).makespan
        assert t == pytest.approx(2 * healthy, rel=1e-12), spec
    # the reverse direction of a failed one-way link is untouched
    f = fab.with_faults("link:a->s1")
    assert simulate_arrays(f, np.array([1]), np.array([0]), size).makespan == pytest.approx(healthy, rel=1e-12)
    # degradation: one path at half rate; the even ECMP spray sends half the bytes on each path, so the
    # flow's rate is 2 x min(100, 50) = 100 GB/s (the spray is limited by its slower path)
    f = fab.with_faults("cable:a-s1@0.5")
    assert simulate_arrays(f, np.array([0]), np.array([1]), size).makespan == pytest.approx(2 * healthy, rel=1e-12)


def test_failed_plane_costs_its_share_of_switch_bandwidth(small):
    # every chip sends to the chip half the fabric away (another leaf, no tray link): the flows cross the
    # switches only, spread evenly over the 4 planes, so losing one plane leaves 3/4 of the bandwidth
    n = small.n_chips
    src = np.arange(n)
    dst = (src + n // 2) % n
    size = 1e12  # large enough that hop latencies (< 2 us) are below the tolerance
    t0 = simulate_arrays(small, src, dst, size).makespan
    f = small.with_faults("plane:3")
    t1 = simulate_arrays(f, src, dst, size).makespan
    assert t1 / t0 == pytest.approx(4 / 3, rel=1e-6)
    s = fault_summary(small, f)
    assert s["bisection_bandwidth"][1] == pytest.approx(0.75 * s["bisection_bandwidth"][0], rel=1e-12)
    assert s["reachable_pairs"][0] == s["reachable_pairs"][1] == n * (n - 1)


def _assert_routes_avoid(healthy: Fabric, f: Fabric, src: np.ndarray, dst: np.ndarray) -> None:
    try:
        r = f.routes(src, dst)
    except RoutingError:  # some pair is cut off: keep the pairs that are not (checked against networkx)
        g = f.graph
        fw = {n for n in f.nodes[f.n_chips:]}
        ok = []
        for a, b in zip(src.tolist(), dst.tolist()):
            sub = g.subgraph(fw | {f.nodes[a], f.nodes[b]})
            ok.append(a == b or nx.has_path(sub, f.nodes[a], f.nodes[b]))
            if not ok[-1]:
                with pytest.raises(RoutingError, match="cut every path|no surviving link"):
                    f.routes(np.array([a]), np.array([b]))
        ok = np.asarray(ok)
        src, dst = src[ok], dst[ok]
        r = f.routes(src, dst)
    assert (r.path_counts() >= 1).all()
    router = f.router
    assert isinstance(router, FaultedRouter)
    dead_nodes = {healthy.nodes[i] for i in range(healthy.n_nodes)} - set(f.nodes)
    failed = {(healthy.nodes[a], healthy.nodes[b]) for a, b, ok in
              zip(healthy.edge_src, healthy.edge_dst, router.alive) if not ok}
    for p in range(r.n_pairs):
        for edges in r.edges_of(p):
            nodes = [f.nodes[f.edge_src[edges[0]]]] + [f.nodes[v] for v in f.edge_dst[edges]] if len(edges) else []
            for a, b in zip(nodes, nodes[1:]):
                assert (a, b) not in failed
                healthy.edge_id(a, b)  # a real link of the healthy fabric
            assert not dead_nodes.intersection(nodes)
            if nodes:  # a path from src to dst, continuous
                assert nodes[0] == f.nodes[src[p]] and nodes[-1] == f.nodes[dst[p]]
                assert np.array_equal(f.edge_dst[edges[:-1]], f.edge_src[edges[1:]])


@pytest.mark.parametrize("seed", range(4))
def test_no_route_crosses_a_failed_part(small, seed):
    rng = np.random.default_rng(seed)
    d = random_faults(small, "x1000", seed=seed)
    faults = [x for x in d.faults if not x.startswith("chip:")]
    faults += ["cable:c0-c1", f"switch:p{seed}.leaf{seed}", f"cable:c8-p{(seed + 1) % 4}.leaf0"]
    f = small.with_faults(faults)
    src = rng.integers(0, small.n_chips, 400)
    dst = rng.integers(0, small.n_chips, 400)
    src = np.r_[src, 0, 1]
    dst = np.r_[dst, 1, 0]  # the failed tray cable: next-shortest paths through a leaf
    _assert_routes_avoid(small, f, src, dst)
    assert f.router.stats["next_shortest"] >= 2
    assert [len(p) for p in f.paths(0, 1)] == [3] * len(f.paths(0, 1))  # c0 -> leaf -> c1


@pytest.mark.parametrize("name", ["torus-8x8", "dragonfly-small", "trn3-ultraserver", "gb200-nvl72"])
def test_no_route_crosses_a_failed_part_on_other_routers(name):
    # formula routers of other shapes (torus with forwarding chips, dragonfly, ultraserver, one switch tier)
    fab = topo.load(name)
    d = random_faults(fab, "x3000", seed=1)
    faults = [x for x in d.faults if not x.startswith("chip:")][:20]
    faults.append(f"cable:{fab.nodes[fab.edge_src[0]]}-{fab.nodes[fab.edge_dst[0]]}")
    f = fab.with_faults(faults)
    rng = np.random.default_rng(0)
    _assert_routes_avoid(fab, f, rng.integers(0, fab.n_chips, 200), rng.integers(0, fab.n_chips, 200))


def test_unreachable_member_is_a_routing_error_naming_the_cut(small):
    f = small.with_faults("chip:c5")
    with pytest.raises(RoutingError, match="c5.*no surviving link"):
        f.routes(np.array([0]), np.array([5]))
    import collectives

    with pytest.raises(RoutingError, match="c5"):
        collectives.all_reduce(f, "1MiB", group=list(range(8)), ideal=True)


def test_reachable_pairs_closed_forms(small):
    from topo.faults import reachable_pairs

    n = small.n_chips
    assert reachable_pairs(small) == n * (n - 1)
    assert reachable_pairs(small.with_faults("chip:c5")) == (n - 1) * (n - 2)
    # c0 loses every switch link: it reaches (and is reached by) only its 3 tray peers
    assert reachable_pairs(small.with_faults("cable:c0-p[0-3].leaf0")) == n * (n - 1) - 2 * (n - 1 - 3)
    torus = topo.load("torus-8x8")  # chips forward: one failed chip leaves the rest connected
    assert reachable_pairs(torus.with_faults("chip:c9")) == 63 * 62


def test_fault_parsing_and_selection(small):
    assert parse_fault("plane:3") == parse_fault({"kind": "plane", "target": 3})
    assert parse_fault("link:c0->c1@0.5").factor == 0.5
    f = small.with_faults(["switch:p0.leaf[0-1]", "chip:c[4-7]", "tray:5"])
    assert f.n_chips == small.n_chips  # ranks do not move
    assert "p0.leaf0" not in f.nodes and "p0.leaf2" in f.nodes
    for bad in ("plane", "plane:9", "bogus:1", "cable:c0-nothing", "link:c0->c1@1.5", "flap:c0-c1", "switch:c0"):
        with pytest.raises(SpecError):
            small.with_faults(bad)
    # a port is one physical cable of a bundle of parallel links (maia200-small: 2 per chip and plane)
    e = small.edge_id("c0", "p0.leaf0")
    g = small.with_faults("port:c0-p0.leaf0")
    e2 = g.edge_id("c0", "p0.leaf0")
    assert small.edge_links[e] == 2 and g.edge_links[e2] == 1
    assert g.edge_capacity[e2] == pytest.approx(small.edge_capacity[e] / 2, rel=1e-12)
    assert "p0.leaf0" not in [p[1] for p in g.with_faults("port:c0-p0.leaf0").paths(0, 300)]
    # a faulted, straggled fabric crosses process boundaries (sweeps) intact
    import pickle

    h = small.with_faults(["plane:3", "cable:c0-c1"]).with_stragglers("c2@0.5")
    h2 = pickle.loads(pickle.dumps(h))
    src, dst = np.arange(0, 384, 7), (np.arange(0, 384, 7) * 5 + 1) % 384
    assert np.array_equal(h.routes(src, dst).path_edges, h2.routes(src, dst).path_edges)
    assert np.array_equal(h.edge_capacity, h2.edge_capacity)
    # faults compose onto the healthy base
    g = small.with_faults("plane:0").with_faults("plane:1")
    assert g.meta["faults"] == ["plane:0", "plane:1"]


def test_flap_is_its_mean_rate():
    fab = two_path()
    a = fab.with_faults("flap:a-s1@0.25")
    b = fab.with_faults("cable:a-s1@0.25")
    assert np.array_equal(a.edge_capacity, b.edge_capacity)
    assert sorted(a.edge_capacity / GB)[:2] == [25.0, 25.0]


# ------------------------------------------------------------------------------------------ stragglers
@pytest.mark.parametrize("f", [0.5, 0.8])
def test_straggler_stretches_ring_by_closed_form(f):
    import collectives

    n, size, bw = 8, 64 * 2**20, 100 * GB
    fab = star(n, bw)
    healthy = collectives.all_reduce(fab, size, algorithm="ring", ideal=True, mode="steps")
    slow = collectives.all_reduce(fab.with_stragglers(f"c3@{f}"), size, algorithm="ring", ideal=True, mode="steps")
    # bulk-synchronous ring: 2(n-1) steps of size/n bytes; every step waits for the straggler's send
    beta = 2 * (n - 1) / n * size / bw
    assert slow.time - healthy.time == pytest.approx(beta * (1 / f - 1), rel=1e-9)
    assert healthy.time == pytest.approx(healthy.bound, rel=1e-9)


def test_speed_specs():
    assert np.array_equal(parse_speeds("c2@0.5", 4), [1, 1, 0.5, 1])
    v = parse_speeds("3@0.7", 16, seed=1)
    assert (v == 0.7).sum() == 3 and np.array_equal(v, parse_speeds("3@0.7", 16, seed=1))
    assert parse_speeds("normal:0.9,0.05", 100, seed=2).max() <= 1
    with pytest.raises(SpecError):
        parse_speeds("c9@0.5", 4)


@pytest.mark.parametrize("spec,fragment", [
    ("normal:0.9,-0.1", "SD"),            # numpy's ValueError 'scale < 0' escaped as a traceback
    ("uniform:0.9,0.5", "LO <= HI"),      # numpy's ValueError 'high - low < 0'
    ("uniform:nan,1", "finite"),          # numpy's OverflowError
    ("normal:inf,0.1", "finite"),         # was silently every chip at speed 1
    ("c1@0.5,c1@0.7", "named twice"),     # was silently the last speed
])
def test_bad_speed_specs_are_one_line_spec_errors(spec, fragment):
    with pytest.raises(SpecError) as info:
        parse_speeds(spec, 8)
    assert fragment in str(info.value) and spec in str(info.value) and "\n" not in str(info.value)
    # the edge values stay valid: a zero spread is every chip at the mean, an empty range its one value
    assert np.array_equal(parse_speeds("normal:0.9,0", 8), np.full(8, 0.9))
    assert np.array_equal(parse_speeds("uniform:0.5,0.5", 8), np.full(8, 0.5))


@pytest.mark.parametrize("key,value,fragment", [
    ("faults", 3, "faults: expected a list"),            # TypeError: 'int' object is not iterable
    ("faults", True, "faults: expected a list"),
    ("stragglers", ["a", "b"], "one number"),             # numpy's ValueError: could not convert string to float
])
def test_fabric_file_whatif_keys_of_the_wrong_type_are_spec_errors(key, value, fragment):
    with pytest.raises(SpecError, match=fragment):
        topo.load("dgx-h100", **{key: value})
    # the right types still apply: a failed plane of 4 leaves 3/4 of the links, a speed list is kept as given
    assert topo.load("dgx-h100", faults=["plane:1"]).n_edges == 3 * topo.load("dgx-h100").n_edges // 4
    assert topo.load("dgx-h100", stragglers=[0.5] + [1.0] * 7).meta["chip_speed"].tolist() == [0.5] + [1.0] * 7


@pytest.mark.parametrize("spec", ["x-1", "x1e400", "x1.2.3", "xe", {"optic": -1.0}, {"chip": "abc"},
                                  {"chip": {"fti": 3}}])
def test_bad_failure_rates_are_spec_errors(spec):
    """x-1 gave negative rates (silently no faults); x1.2.3 and a word as a FIT were ValueError tracebacks."""
    from topo.faults import parse_rates

    with pytest.raises(SpecError, match="--fail-random"):
        parse_rates(spec)
    # the scale multiplies every default FIT (x0: nothing fails); a map sets the FIT it names
    base = parse_rates("default")
    assert all(r["fit"] == 3 * base[k]["fit"] for k, r in parse_rates("x3").items())
    assert all(r["fit"] == 0 for r in parse_rates("x0").values())
    assert parse_rates({"chip": {"fit": 7, "mttr_h": 2}})["chip"] == {"fit": 7.0, "mttr_h": 2.0}


# ------------------------------------------------------------------------------------------ sharing, Monte Carlo
def test_identical_jobs_on_disjoint_chips_and_links_equal_one_alone(small):
    from fleet import Job, run_jobs

    # two trays (4 chips each, fully meshed inside the tray): a ring in each uses only its tray's links
    jobs = [Job("a", "all_reduce", "16MiB", groups=[[0, 1, 2, 3]], algorithm="ring"),
            Job("b", "all_reduce", "16MiB", groups=[[4, 5, 6, 7]], algorithm="ring")]
    res = run_jobs(small, jobs, ideal=True)
    assert res.alone[0] == res.alone[1]
    assert res.together == pytest.approx(res.alone, rel=1e-12)
    # and two jobs that do share links slow each other (a sanity check that the test can fail)
    share = [Job("x", "all_to_all", "64MiB", groups=[list(range(0, 192, 4))], algorithm="direct"),
             Job("y", "all_to_all", "64MiB", groups=[list(range(1, 192, 4))], algorithm="direct")]
    r2 = run_jobs(small, share, ideal=True)
    assert min(r2.slowdown()) > 1.01


def test_placement_policies(small):
    from fleet import place

    assert place(small, 2, 4, "tray") == [[0, 1, 2, 3], [4, 5, 6, 7]]
    s = place(small, 2, 4, "strided")
    assert len({c for g in s for c in g}) == 8 and s[0][1] - s[0][0] > 4
    assert place(small, 3, 8, "random", seed=3) == place(small, 3, 8, "random", seed=3)
    got = place(small, 1, 2, lambda fab, n, k, free: [[int(free[-1]), int(free[-2])]])
    assert got == [[383, 382]]
    with pytest.raises(SpecError):
        place(small, 1, 2, lambda fab, n, k, free: [[0, 0]])


def test_monte_carlo_is_deterministic_under_a_seed(small):
    from fleet import collective_monte_carlo

    kw = dict(samples=6, scale=300, ideal=True, concurrent=True)
    a = collective_monte_carlo("all_reduce", small, "4MiB", 8, seed=7, **kw)
    b = collective_monte_carlo("all_reduce", small, "4MiB", 8, seed=7, **kw)
    c = collective_monte_carlo("all_reduce", small, "4MiB", 8, seed=8, **kw)
    assert np.array_equal(a.values, b.values, equal_nan=True) and a.draws == b.draws
    assert a.draws != c.draws
    assert 0 <= a.availability <= 1
    # a sample whose draw failed no cable, switch or member chip is the healthy run itself
    clean = [i for i, d in enumerate(a.draws) if d["cable"] == d["switch"] == 0 and a.extra["groups_lost"][i] == 0]
    assert all(a.values[i] == a.healthy for i in clean)
    assert random_faults(small, seed=3) == random_faults(small, seed=3)
    # stragglers drawn per sample, no failures ("x0"): every sample runs, deterministic, a ring only slows
    kw = dict(samples=5, rates="x0", stragglers="normal:0.8,0.1", ideal=True, algorithm="ring", mode="steps")
    s1 = collective_monte_carlo("all_reduce", small, "16MiB", 8, concurrent=False, seed=2, **kw)
    s2 = collective_monte_carlo("all_reduce", small, "16MiB", 8, concurrent=False, seed=2, **kw)
    assert np.array_equal(s1.values, s2.values) and s1.availability == 1.0
    assert np.all(s1.values > s1.healthy) and len(np.unique(s1.values)) > 1


def test_monte_carlo_table_extra_series_units():
    """The extra series' lines: a count has no unit and no stray space ("groups_lost P50 1 , P99 2.81 " before),
    a series in seconds prints in ms under its name without the "_s" suffix ("tpot_s ... ms" before)."""
    from fleet.whatif import MonteCarloResult

    r = MonteCarloResult("goodput_rps", np.array([1.0, 3.0]), 3.0, np.array([True, True]), [{"chip": 1}, {"chip": 0}],
                         0, 2, "x", {"tpot_s": np.array([0.006, 0.008]), "groups_lost": np.array([1.0, 3.0])})
    lines = r.table().splitlines()
    assert "tpot             P50 7 ms, P99 7.98 ms" in lines
    assert "groups_lost      P50 2, P99 2.98" in lines
    assert all(ln == ln.rstrip() and " ," not in ln for ln in lines)


# ------------------------------------------------------------------------------------------ CLI
def test_cli_fail_options(tmp_path):
    from cli import main

    r = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "maia200-small", "--group-size", "8",
                                  "--sizes", "1MiB", "--fail", "plane:3", "--ideal"])
    assert r.exit_code == 0, r.output
    assert "faults: plane:3" in r.output
    r = CliRunner().invoke(main, ["topo", "show", "maia200-small", "--fail", "plane:3"])
    assert r.exit_code == 0 and "bisection" in r.output and "-25.0%" in r.output
    import json

    r = CliRunner().invoke(main, ["topo", "show", "maia200-small", "--fail", "plane:3", "--json"])
    d = json.loads(r.output)
    assert d["bisection_bandwidth"][1] == pytest.approx(0.75 * d["bisection_bandwidth"][0], rel=1e-12)
    r = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "maia200-small", "--group-size", "8",
                                  "--sizes", "1MiB", "--fail", "chip:c3"])
    assert r.exit_code == 2 and "c3" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "maia200-small", "--group-size", "8",
                                  "--sizes", "1MiB", "--fail", "plane:9"])
    assert r.exit_code == 2 and "plane" in r.output
    out = tmp_path / "mc.png"
    r = CliRunner().invoke(main, ["collective", "all-reduce", "--fabric", "maia200-small", "--group-size", "8",
                                  "--sizes", "1MiB", "--fail-random", "x100", "--samples", "3", "--ideal",
                                  "--fail-plot", str(out)])
    assert r.exit_code == 0, r.output
    assert "availability" in r.output and out.exists()


@pytest.mark.parametrize("cmd", [["collective", "all-reduce"], ["traffic"], ["infer"]])
def test_fail_help_names_every_fault_kind(cmd):
    """The --fail help listed link|cable|switch|plane|tray|chip|flap while docs/whatif.md uses port:A-B (one
    cable of a bundle), which topo.faults accepts: the help names every kind topo.faults.KINDS has."""
    import re

    from cli import main
    from topo.faults import KINDS

    out = " ".join(CliRunner().invoke(main, [*cmd, "--help"]).output.split())
    listed = re.search(r"KIND (\S+),", out)
    assert listed and set(listed.group(1).split("|")) == set(KINDS), out


def test_straggler_replica_runs_at_its_slowest_chip():
    from fleet import straggler_fleet

    fleet = {"name": "t", "model": "llama3.1-70b",
             "pools": [{"name": "p", "fabric": "maia200-small", "tp": 8, "replicas": 4, "batch": 16}]}
    spec, models = straggler_fleet(fleet, "c3@0.5,c9@0.8,c10@0.6")  # replica 0 at 0.5, replica 1 at 0.6
    assert [(p.name, p.replicas) for p in spec.pools] == [("p", 2), ("p@0.6", 1), ("p@0.5", 1)]
    base = models["p"]
    for name, s in (("p@0.6", 0.6), ("p@0.5", 0.5)):
        assert models[name].decode_time(8, 1024) == pytest.approx(base.decode_time(8, 1024) / s, rel=1e-12)
        assert models[name].prefill_time(4096, 2) == pytest.approx(base.prefill_time(4096, 2) / s, rel=1e-12)


def test_jobs_file_and_cli(tmp_path):
    from cli import main
    from fleet import load_jobs

    spec = tmp_path / "jobs.yaml"
    spec.write_text("fabric: maia200-small\nfaults: [plane:3]\njobs:\n"
                    "  - {name: a, collective: all_reduce, size: 1MiB, group_size: 4, n_groups: 2}\n"
                    "  - {name: b, collective: all_gather, size: 1MiB, group_size: 8, n_groups: 1, placement: strided}\n")
    fab, jobs = load_jobs(str(spec))
    assert fab.meta["faults"] == ["plane:3"] and [j.name for j in jobs] == ["a", "b"]
    r = CliRunner().invoke(main, ["jobs", str(spec), "--json"])
    assert r.exit_code == 0, r.output
    import json

    d = json.loads(r.output)
    assert [j["name"] for j in d["jobs"]] == ["a", "b"]
    assert d["jobs"][0]["groups"] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert all(j["together_s"] >= j["alone_s"] * (1 - 1e-12) for j in d["jobs"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("fabric: maia200-small\njobs: []\n")
    r = CliRunner().invoke(main, ["jobs", str(bad)])
    assert r.exit_code == 2 and "jobs" in r.output



def test_jobs_take_the_cli_spelling_of_a_collective(tmp_path):
    """A jobs file's `collective: all-reduce` (the subcommand's name) was "not one of all_reduce, ...": it runs
    as all_reduce, and the Monte Carlo takes it too; the header counts one job in the singular."""
    from cli import main
    from fleet import collective_monte_carlo, load_jobs, run_jobs

    text = "fabric: maia200-small\njobs:\n  - {{name: a, collective: {}, size: 1MiB, group_size: 4, n_groups: 2}}\n"
    runs = {}
    for name in ("all-reduce", "all_reduce"):
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(text.format(name))
        fab, jobs = load_jobs(str(spec))
        runs[name] = run_jobs(fab, jobs, mode="steps")
    assert runs["all-reduce"].alone == runs["all_reduce"].alone
    r = CliRunner().invoke(main, ["jobs", str(tmp_path / "all-reduce.yaml"), "--mode", "steps"])
    assert r.exit_code == 0 and r.output.startswith("# 1 job on maia200-small"), r.output
    kw = dict(samples=2, ideal=True, seed=1)
    assert collective_monte_carlo("all-reduce", "maia200-small", "1MiB", 8, **kw).healthy == \
        collective_monte_carlo("all_reduce", "maia200-small", "1MiB", 8, **kw).healthy


@pytest.mark.parametrize("job,match", [
    ("group_size: 0", "group_size"),
    ("group_size: 8.5", "group_size"),
    ("group_size: 4, n_groups: -1", "n_groups"),
    ("groups: 5", "groups"),
    ("groups: [[0, 99999]]", "99999"),
    ("groups: [[-1, 0]]", "-1"),
    ("groups: [[a, 1]]", "groups"),
])
def test_bad_jobs_are_one_line_errors(tmp_path, job, match):
    """A job with a bad group size / count or explicit groups that are not chip ranks of the fabric is a SpecError
    (exit 2), not an IndexError / TypeError traceback; a jobs file that is not YAML is one line too."""
    from cli import main

    spec = tmp_path / "jobs.yaml"
    spec.write_text(f"fabric: maia200-small\njobs:\n  - {{name: a, collective: all_reduce, size: 1MiB, {job}}}\n")
    r = CliRunner().invoke(main, ["jobs", str(spec)])
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit), (r.output, r.exception)
    assert r.output.startswith("error:") and r.output.count("\n") == 1 and match in r.output, r.output
    spec.write_text(": :\n- x")
    r = CliRunner().invoke(main, ["jobs", str(spec)])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "YAML" in r.output, r.output


def test_jobs_groups_as_ranges_run():
    """Explicit groups given as ranges (the Python API, Job(groups=[range(0, 4), ...])) ran as their lists before
    90a1138's check refused them ('groups must be a list of lists'); they run again, the same as the lists."""
    from fleet.whatif import load_jobs, run_jobs

    def src(groups):
        return {"fabric": "dgx-h100", "jobs": [{"name": "a", "collective": "all_reduce", "size": "1MiB",
                                                "groups": groups}]}

    want = run_jobs(*load_jobs(src([[0, 1, 2, 3], [4, 5, 6, 7]])))
    got = run_jobs(*load_jobs(src([range(0, 4), range(4, 8)])))
    assert got.together == want.together and got.alone == want.alone
    assert got.jobs[0].groups == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_fault_fleet_loses_replicas_and_keeps_spares():
    from fleet.whatif import fault_fleet

    fleet = {"name": "t", "model": "llama3.1-70b",
             "pools": [{"name": "p", "fabric": "maia200-small", "tp": 8, "replicas": 47, "batch": 16}]}
    spec, models = fault_fleet(fleet, ["chip:c100", "chip:c200"])  # two groups down, one spare of 48
    assert spec.pools[0].replicas == 46
    spec, _ = fault_fleet(fleet, ["chip:c100"])
    assert spec.pools[0].replicas == 47  # the spare group replaces the failed one
    assert models["p"].fabric.meta["faults"] == ["chip:c100", "chip:c200"]


def test_infer_monte_carlo_deterministic_and_never_faster_than_healthy():
    from fleet import infer_monte_carlo

    kw = dict(samples=4, scale=100, tp=8, batch=8, prompt=256, output=16)
    a = infer_monte_carlo("llama3.1-70b", "maia200-small", seed=3, **kw)
    b = infer_monte_carlo("llama3.1-70b", "maia200-small", seed=3, **kw)
    assert np.array_equal(a.values, b.values, equal_nan=True) and a.draws == b.draws
    assert np.isfinite(a.values).all() and 0 <= a.availability <= 1
    assert all(v == a.healthy for v, d in zip(a.values, a.draws) if d["cable"] == d["switch"] == 0)
    assert any(d["cable"] for d in a.draws) and not np.all(a.values == a.healthy)  # the faults did matter


def test_infer_straggler_slows_every_kernel_measured_ones_too():
    """``estimate(speed=f)`` (what ``scaleup infer --straggler`` passes: the slowest chip's speed) divides every
    kernel's time by f, table lookups included, and leaves communication alone; the CLI's TPOT equals it."""
    import json

    from click.testing import CliRunner

    from cli import main
    from inference import estimate

    kw = dict(tp=8, batch=32, prompt=512, output=64, dtype="fp8")
    for backend in ("auto", "analytic"):
        base = estimate("llama3.1-8b", "dgx-h100", backend=backend, **kw)
        slow = estimate("llama3.1-8b", "dgx-h100", backend=backend, speed=0.5, **kw)
        db, ds = base.breakdown(), slow.breakdown()
        assert [r["bound"] for r in ds["ops"]] == [r["bound"] for r in db["ops"]]
        for rs, rb in zip(ds["ops"], db["ops"]):  # kernels x2; the host's per-step cost is not the chip's
            assert rs["time_s"] == pytest.approx(rb["time_s"] * (1 if rb["bound"] == "host" else 2), rel=1e-12)
        assert [r["time_s"] for r in ds["collectives"]] == [r["time_s"] for r in db["collectives"]]
        assert slow.tpot > 1.5 * base.tpot
        res = CliRunner().invoke(main, ["infer", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "8",
                                        "--batch", "32", "--prompt", "512", "--output", "64", "--backend", backend,
                                        "--straggler", "c3@0.5", "--json"])
        assert res.exit_code == 0, res.output
        out = res.output[res.output.index("{"):]  # after the "# stragglers: ..." note (stderr, mixed in)
        # the CLI: the slowest chip's speed for the kernels, the straggled fabric for the collectives
        want = estimate("llama3.1-8b", topo.load("dgx-h100").with_stragglers("c3@0.5"), backend=backend,
                        speed=0.5, **kw)
        assert json.loads(out)["tpot_s"] == pytest.approx(want.tpot, rel=1e-12)
    for bad in (0, -1.0, float("inf"), "x", True):
        with pytest.raises(topo.SpecError, match="speed"):
            estimate("llama3.1-8b", "dgx-h100", speed=bad, **kw)


def test_failed_chip_takes_its_replica_down():
    """A failed chip (no factor) takes down the replica that holds it: fabric throughput counts the replicas that
    are up, their collectives run without the dead ones, a degraded chip (with a factor) stays up, and a
    deployment with every replica down is a SpecError naming --fail."""
    from inference import estimate
    from topo.faults import failed_chips

    fab = topo.load("dgx-h100")
    assert failed_chips(fab).tolist() == []
    assert failed_chips(fab.with_faults(["chip:c[1-2]", "chip:c5@0.5"])).tolist() == [1, 2]
    kw = dict(tp=2, batch=8, prompt=256, output=16, dtype="fp8", backend="analytic")
    healthy = estimate("llama3.1-8b", fab, **kw)
    faulted = estimate("llama3.1-8b", fab.with_faults(["chip:c[1-2]", "chip:c5@0.5"]), **kw)
    assert healthy.dp == faulted.dp == 4 and faulted.extra["replicas_down"] == 2  # replicas {0,1} and {2,3}
    assert faulted.tokens_per_s["fabric"] == pytest.approx(2 * faulted.tokens_per_s["replica"], rel=1e-12)
    assert healthy.tokens_per_s["fabric"] == pytest.approx(4 * healthy.tokens_per_s["replica"], rel=1e-12)
    assert "2 of 4 replicas up" in faulted.table()
    with pytest.raises(topo.SpecError, match="every one of the 1 replicas holds a failed chip"):
        estimate("llama3.1-8b", fab.with_faults(["chip:c0"]), tp=8, batch=8, prompt=256, output=16)


def test_infer_straggler_counts_the_chips_of_the_replicas_that_are_up_only():
    """``--straggler`` slows a replica by its slowest chip (``speed`` given per chip, the fabric's
    ``meta["chip_speed"]``): a straggler outside the deployment's chips (dp below the fabric's) or in a replica a
    failed chip took down slows nothing (it was the slowest factor over the whole fabric: TPOT x2 for a chip no
    replica used); one inside a replica that is up slows it as ``speed=`` of that factor does."""
    import json

    from click.testing import CliRunner

    from cli import main
    from inference import estimate

    kw = dict(tp=4, batch=8, prompt=256, output=16, dtype="fp8", backend="analytic")
    fab = topo.load("dgx-h100")
    slow7 = fab.with_stragglers("c7@0.5")
    base = estimate("llama3.1-8b", slow7, dp=1, **kw)  # replica c0-c3: c7 is in no replica
    per_chip = estimate("llama3.1-8b", slow7, dp=1, speed=slow7.meta["chip_speed"], **kw)
    assert per_chip.tpot == base.tpot
    both = estimate("llama3.1-8b", slow7, speed=slow7.meta["chip_speed"], **kw)  # c7 in replica 1: x1/0.5
    assert both.tpot == estimate("llama3.1-8b", slow7, speed=0.5, **kw).tpot
    faulted = fab.with_faults(["chip:c0"]).with_stragglers("c1@0.5")  # the straggler's replica is down
    down = estimate("llama3.1-8b", faulted, speed=faulted.meta["chip_speed"], **kw)
    assert down.tpot == estimate("llama3.1-8b", faulted, **kw).tpot and down.extra["replicas_down"] == 1
    cli = ["infer", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "4", "--batch", "8", "--prompt", "256",
           "--output", "16", "--backend", "analytic", "--json"]
    for extra, want in ((["--dp", "1", "--straggler", "c7@0.5"], base.tpot),
                        (["--fail", "chip:c0", "--straggler", "c1@0.5"], down.tpot)):
        res = CliRunner().invoke(main, cli + extra)
        assert res.exit_code == 0, res.output
        assert json.loads(res.output[res.output.index("{"):])["tpot_s"] == pytest.approx(want, rel=1e-12)
    for bad in ([0.5, 1.0], np.zeros(fab.n_chips), np.full(fab.n_chips, np.nan)):
        with pytest.raises(topo.SpecError, match="speed"):
            estimate("llama3.1-8b", fab, speed=bad, **kw)


def test_a_fabric_file_s_stragglers_slow_infer_as_the_straggler_option_does(tmp_path):
    """A fabric file's ``stragglers:`` (or ``topo.load(..., stragglers=)``) slows the deployment's kernels as
    ``--straggler`` does: ``estimate`` reads the fabric's ``meta["chip_speed"]`` unless ``speed`` is given (it
    slowed only the collectives: Llama-8B TP8 dgx-h100, c3@0.5 in the file 3.84 ms, with --straggler 6.65 ms)."""
    import json

    from click.testing import CliRunner

    from cli import main
    from inference import estimate

    kw = dict(tp=8, batch=8, prompt=256, output=16, dtype="fp8", backend="analytic")
    slow = topo.load("dgx-h100", stragglers="c3@0.5")
    assert estimate("llama3.1-8b", slow, **kw).tpot == estimate("llama3.1-8b", slow, speed=0.5, **kw).tpot
    assert estimate("llama3.1-8b", slow, speed=1.0, **kw).tpot < estimate("llama3.1-8b", slow, **kw).tpot
    f = tmp_path / "slow.yaml"
    from topo.bundled import bundled_dir

    f.write_text((bundled_dir("topologies") / "dgx-h100.yaml").read_text() + "\nstragglers: c3@0.5\n")
    cli = ["infer", "--model", "llama3.1-8b", "--tp", "8", "--batch", "8", "--prompt", "256", "--output", "16",
           "--backend", "analytic", "--json"]
    by_file = CliRunner().invoke(main, cli + ["--fabric", str(f)])
    by_opt = CliRunner().invoke(main, cli + ["--fabric", "dgx-h100", "--straggler", "c3@0.5"])
    assert by_file.exit_code == by_opt.exit_code == 0, (by_file.output, by_opt.output)
    t_file = json.loads(by_file.output[by_file.output.index("{"):])["tpot_s"]
    assert t_file == pytest.approx(json.loads(by_opt.output[by_opt.output.index("{"):])["tpot_s"], rel=1e-12)


def test_a_straggler_slows_a_spatial_wafer_by_its_factor_only():
    """An SRAM-only wafer (CS-3, its layers laid out spatially: inference.placement.spatial_step) at speed s takes
    exactly 1 / s as long: one chip, no collectives, no host cost, so TPOT and TTFT scale by 1 / s (the per-op
    latency was subtracted at nominal speed from the slowed step and multiplied by the layers: x28 at 0.5)."""
    from inference import estimate

    kw = dict(tp=None, pp=None, batch=32, prompt=2048, output=256)
    base = estimate("llama3.1-8b", "cs3", **kw)
    for s in (0.5, 0.9):
        slow = estimate("llama3.1-8b", "cs3", speed=s, **kw)
        assert slow.tpot == pytest.approx(base.tpot / s, rel=1e-9)
        assert slow.ttft == pytest.approx(base.ttft / s, rel=1e-9)


def test_report_names_the_straggler_speed():
    from inference import estimate

    r = estimate("llama3.1-8b", "dgx-h100", tp=8, batch=8, prompt=256, output=8, backend="analytic", speed=0.5)
    assert sum("kernels at speed 0.5" in a for a in r.provenance["assumptions"]) == 1
    ok = estimate("llama3.1-8b", "dgx-h100", tp=8, batch=8, prompt=256, output=8, backend="analytic")
    assert not any("kernels at speed" in a for a in ok.provenance["assumptions"])
