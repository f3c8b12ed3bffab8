"""Sweeps: grid expansion, runners, journal/resume, failures, Dask, against a cheap closed-form job."""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from sweep import (
    Param,
    SweepSpec,
    expand_grid,
    expand_points,
    journal_path,
    load_spec,
    parse_range,
    point_id,
    read_results,
    register_job,
    run_sweep,
)
from topo import SpecError

# ------------------------------------------------------------------------------------------ a cheap job
ALPHA = 1e-6  # s per step
BW = 100e9  # bytes/s per link


def ring_job(p: dict) -> dict:
    """Alpha-beta ring all-reduce (closed form), failing on request; a stand-in for the real jobs."""
    if p["fail"]:
        raise ValueError(f"asked to fail at size {p['size']}")
    if p["die"]:
        os._exit(3)  # a worker that crashes hard
    n, s = p["n"], p["size"]
    t = 2 * (n - 1) * (ALPHA + s / (n * BW))
    return {"time_us": t * 1e6, "busbw_GBps": s / t * 2 * (n - 1) / n / 1e9, "algorithm": "ring"}


RING = register_job(
    "test_ring",
    ring_job,
    params={
        "n": Param("int", 8),
        "size": Param("size"),
        "fail": Param("bool", False),
        "die": Param("bool", False),
        "label": Param("str", "x"),
    },
)

SPEC = {
    "job": "test_ring",
    "params": {"label": "base"},
    "grid": {"n": [2, 4, 8], "size": "1KiB:1MiB:x4"},
}


def ring_expected(n: int, size: int) -> float:
    return 2 * (n - 1) * (ALPHA + size / (n * BW)) * 1e6


# ------------------------------------------------------------------------------------------ expansion
def test_product_order_first_key_slowest_and_units():
    pts = expand_grid(SPEC)
    sizes = [1024, 4096, 16384, 65536, 262144, 1048576]
    assert [(p["n"], p["size"]) for p in pts] == list(itertools.product([2, 4, 8], sizes))
    assert all(p["label"] == "base" for p in pts)
    assert all(isinstance(p["size"], int) for p in pts)


def test_zip_varies_together_and_list_of_grids_concatenates():
    spec = {
        "job": "test_ring",
        "grid": [
            {"zip": {"n": [2, 4, 8], "size": ["1KiB", "2KiB", "1MiB"]}, "label": ["a", "b"]},
            {"n": 16, "size": "64MiB"},
        ],
    }
    pts = expand_grid(spec)
    assert [(p["n"], p["size"], p.get("label")) for p in pts] == [
        (2, 1024, "a"),
        (2, 1024, "b"),
        (4, 2048, "a"),
        (4, 2048, "b"),
        (8, 2**20, "a"),
        (8, 2**20, "b"),
        (16, 64 * 2**20, None),
    ]
    assert "label" not in pts[-1]  # defaults are not point parameters


def test_ranges_with_units_and_plain_numbers():
    assert parse_range("1KiB:1GiB:x2") == [2**k for k in range(10, 31)]
    assert parse_range("1:64:x2") == [1, 2, 4, 8, 16, 32, 64]
    assert parse_range("8:32:+8") == [8, 16, 24, 32]
    assert parse_range("0.1:0.5:0.1") == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert parse_range("1us:1ms:x10") == pytest.approx([1e-6, 1e-5, 1e-4, 1e-3], rel=1e-12)
    assert parse_range("1MB:3MB:+1MB") == [1_000_000, 2_000_000, 3_000_000]
    # ranges inside a list are expanded in place
    pts = expand_grid({"job": "test_ring", "grid": {"size": ["1KiB:4KiB", "1MiB"]}})
    assert [p["size"] for p in pts] == [1024, 2048, 4096, 2**20]


def test_fabric_overrides_are_parameters():
    spec = {
        "job": "collective",
        "params": {"fabric": "maia200", "size": "1MiB"},
        "grid": {"fabric.tray_size": [2, 4], "fabric.planes": "4:16:x2"},
    }
    pts = expand_grid(spec)
    assert [(p["fabric.tray_size"], p["fabric.planes"]) for p in pts] == [
        (2, 4),
        (2, 8),
        (2, 16),
        (4, 4),
        (4, 8),
        (4, 16),
    ]
    assert all(p["size"] == 2**20 for p in pts)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4))
def test_product_covers_every_combination_once(lengths):
    grid = {f"k{i}": [f"v{i}_{j}" for j in range(m)] for i, m in enumerate(lengths)}
    job = register_job("test_any", lambda p: {}, params=None)
    assert job.params is None
    pts = expand_points({"job": "test_any", "grid": grid})
    assert len(pts) == math.prod(lengths)
    combos = {tuple(p.params[k] for k in grid) for p in pts}
    assert combos == set(itertools.product(*grid.values()))
    assert len({p.id for p in pts}) == len(pts)
    assert [p.index for p in pts] == list(range(len(pts)))


def test_ids_are_stable_and_canonical():
    a = point_id("test_ring", {"n": 4, "size": 1024})
    assert a == point_id("test_ring", {"size": 1024, "n": 4})  # key order does not matter
    assert a == point_id("test_ring", {"size": 1024.0, "n": 4})  # nor int vs integral float
    assert a != point_id("test_ring", {"n": 4, "size": 2048})
    assert a != point_id("other", {"n": 4, "size": 1024})
    # same point reached through a zip or a product: same id
    p1 = expand_points({"job": "test_ring", "grid": {"n": [4], "size": ["1KiB"]}})[0]
    p2 = expand_points({"job": "test_ring", "grid": {"zip": {"n": [4], "size": [1024]}}})[0]
    assert p1.id == p2.id == a


@pytest.mark.parametrize(
    "spec, words",
    [
        ({"job": "nope"}, ["unknown job 'nope'", "collective", "infer", "traffic", "topo"]),
        ({"job": "test_ring", "grid": {"sise": [1]}}, ["grid.sise", "unknown parameter", "size"]),
        ({"job": "test_ring", "params": {"size": "1KiB", "n": "four"}}, ["params.n"]),
        ({"job": "test_ring", "grid": {"size": "1MiB:1KiB"}}, ["grid.size", "ends before it starts"]),
        ({"job": "test_ring", "grid": {"size": "1KiB:1MiB:x1"}}, ["grid.size", "> 1"]),
        ({"job": "test_ring", "grid": {"size": "1KiB:1s"}}, ["grid.size", "mixes"]),
        ({"job": "test_ring", "grid": {"size": ["1KiB"], "zip": {"n": [1, 2], "label": ["a"]}}}, ["grid.zip", "equal"]),
        ({"job": "test_ring", "grid": {"size": ["1KiB"], "fabric.planes": [1]}}, ["fabric", "no fabric"]),
        ({"job": "test_ring", "grid": {"n": [1]}}, ["missing parameter 'size'"]),
        ({"job": "test_ring", "grdi": {}}, ["unknown key 'grdi'", "grid"]),
        ({"job": "test_ring", "grid": {"size": []}}, ["grid.size", "empty"]),
    ],
)
def test_bad_specs_name_the_key(spec, words):
    with pytest.raises(SpecError) as err:
        expand_grid(spec)
    for w in words:
        assert w in str(err.value)


def test_load_spec_from_yaml_file(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("job: test_ring\ngrid:\n  n: [2, 4]\n  size: 1KiB:2KiB\n")
    spec = load_spec(str(path))
    assert isinstance(spec, SweepSpec) and spec.name == "s"
    assert len(expand_grid(str(path))) == 4
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(str(tmp_path / "missing.yaml"))


# ------------------------------------------------------------------------------------------ running
def test_rows_hold_params_and_outputs_sorted_by_point(tmp_path):
    res = run_sweep(SPEC, tmp_path / "r.parquet", workers=1, progress=False)
    assert res.ok and res.total == res.ran == 18 and res.skipped == 0
    df = read_results(tmp_path / "r.parquet")
    assert list(df["point"]) == list(range(18))
    assert list(df.columns[:5]) == ["point", "id", "label", "n", "size"]
    assert {"time_us", "busbw_GBps", "algorithm", "error"} <= set(df.columns)
    for r in df.itertuples():
        assert r.time_us == pytest.approx(ring_expected(r.n, r.size), rel=1e-12)
    assert df["error"].isna().all()
    assert not os.path.exists(journal_path(tmp_path / "r.parquet"))


@pytest.mark.parametrize("ext", ["parquet", "csv"])
def test_processes_give_the_same_rows_as_in_process(tmp_path, ext):
    a = run_sweep(SPEC, tmp_path / f"a.{ext}", workers=1, progress=False)
    b = run_sweep(SPEC, tmp_path / f"b.{ext}", workers=2, progress=False, batch=2)
    assert a.ok and b.ok
    assert_frame_equal(read_results(a.path), read_results(b.path))


@pytest.mark.parametrize("ext", ["parquet", "csv"])
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, ext):
    full = run_sweep(SPEC, tmp_path / f"full.{ext}", workers=1, progress=False)
    out = tmp_path / f"part.{ext}"

    def ctrl_c_after_half(done, total, row):
        if done == total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(SPEC, out, workers=1, progress=ctrl_c_after_half)
    half = read_results(out)
    assert len(half) == 9  # everything finished was written
    seen = []
    res = run_sweep(SPEC, out, workers=2, resume=True, progress=lambda d, t, r: seen.append(r["id"]))
    assert res.ok and res.skipped == 9 and res.ran == 9
    assert not set(seen) & set(half["id"])  # finished points were not run again
    assert_frame_equal(read_results(out), read_results(full.path))


def test_resume_after_a_subset_and_a_hard_crash(tmp_path):
    """A smaller sweep run first, then the process killed mid-run (journal left), then resume."""
    out = tmp_path / "r.csv"
    full = run_sweep(SPEC, tmp_path / "full.csv", workers=1, progress=False)
    sub = {"job": "test_ring", "params": {"label": "base"}, "grid": {"n": [4], "size": "1KiB:1MiB:x4"}}
    run_sweep(sub, out, workers=1, progress=False)
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        import test_sweep
        from sweep import run_sweep
        def crash(done, total, row):
            if done == 10:
                os._exit(9)   # no cleanup, no compaction: like kill -9
        run_sweep(test_sweep.SPEC, {str(out)!r}, workers=1, resume=True, progress=crash)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert os.path.exists(journal_path(out))
    res = run_sweep(SPEC, out, workers=1, resume=True, progress=False)
    assert res.skipped == 10 and res.ran == 8 and res.ok
    assert_frame_equal(read_results(out), read_results(full.path))


def test_a_failing_point_is_recorded_and_the_sweep_goes_on(tmp_path):
    spec = {
        "job": "test_ring",
        "grid": {"size": ["1KiB", "2KiB", "4KiB"], "zip": {"n": [2, 4], "fail": [False, True]}},
    }
    res = run_sweep(spec, tmp_path / "r.parquet", workers=2, progress=False)
    assert not res.ok and res.failed == 3 and res.ran == 6
    df = read_results(res.path)
    bad = df[df["fail"]]
    good = df[~df["fail"]]
    assert len(df) == 6
    assert all(e.startswith("ValueError: asked to fail at size") for e in bad["error"])
    assert bad["time_us"].isna().all()
    assert good["error"].isna().all() and good["time_us"].notna().all()
    # resume retries only the failed points
    res2 = run_sweep(spec, tmp_path / "r.parquet", workers=1, resume=True, progress=False)
    assert res2.skipped == 3 and res2.ran == 3 and res2.failed == 3


def test_a_worker_that_dies_fails_only_its_point(tmp_path):
    spec = {"job": "test_ring", "grid": {"size": "1KiB:64KiB", "die": [False]}}
    spec["grid"]["zip"] = {"n": [2, 4], "die": [False, True]}
    del spec["grid"]["die"]
    res = run_sweep(spec, tmp_path / "r.parquet", workers=2, progress=False)
    df = read_results(res.path)
    assert len(df) == 14 and res.failed == 7
    assert all(e.startswith("WorkerDied") for e in df[df["die"]]["error"])
    ok = df[~df["die"]]
    assert ok["error"].isna().all()
    for r in ok.itertuples():
        assert r.time_us == pytest.approx(ring_expected(r.n, r.size), rel=1e-12)


def test_dask_local_cluster_gives_the_same_rows(tmp_path):
    distributed = pytest.importorskip("distributed")
    local = run_sweep(SPEC, tmp_path / "local.parquet", workers=2, progress=False)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        res = run_sweep(SPEC, tmp_path / "dask.parquet", scheduler=client, progress=False)
    assert res.ok
    assert_frame_equal(read_results(res.path), read_results(local.path))


def test_bad_output_and_scheduler_are_spec_errors(tmp_path):
    with pytest.raises(SpecError, match="--out"):
        run_sweep(SPEC, tmp_path / "r.xlsx", workers=1)
    (tmp_path / "r.csv").write_text("keep me")
    with pytest.raises(SpecError, match="--scheduler"):
        run_sweep(SPEC, tmp_path / "r.csv", scheduler="http://nowhere")
    with pytest.raises(SpecError, match="--workers"):
        run_sweep(SPEC, tmp_path / "r.csv", workers=0)
    with pytest.raises(SpecError, match="grid.sise"):
        run_sweep({"job": "test_ring", "grid": {"sise": [1]}}, tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text() == "keep me"  # a user error clobbers nothing


# ------------------------------------------------------------------------------------------ fabrics
def fabric_job(p: dict) -> dict:
    from sweep import fabric_for

    fab = fabric_for(p)
    return {"chips": fab.n_chips, "tray_size": fab.meta.get("tray_size"), "size_per_chip": p["size"] / fab.n_chips}


register_job("test_fabric", fabric_job, params={"fabric": Param("str"), "size": Param("size")}, fabric=True)


def test_fabrics_are_built_once_per_distinct_spec(tmp_path, monkeypatch):
    from sweep import clear_fabric_cache, fabric_cache_info

    monkeypatch.setenv("SCALEUP_SWEEP_FABRICS", "1")  # even a one-entry cache suffices: points are grouped
    clear_fabric_cache()
    # the fabric varies fastest in grid order; dispatch groups points by fabric anyway
    spec = {"job": "test_fabric", "params": {"fabric": "maia200-16plane", "fabric.chips": 256},
            "grid": {"size": "1MiB:16MiB", "fabric.tray_size": [2, 4]}}
    res = run_sweep(spec, tmp_path / "f.parquet", workers=1, progress=False)
    assert res.ok
    info = fabric_cache_info()
    assert info["builds"] == 2 and info["hits"] == 8
    df = read_results(res.path)
    assert list(df["point"]) == list(range(10))
    assert list(df["fabric.tray_size"]) == [2, 4] * 5 == list(df["tray_size"])
    assert (df["chips"] == 256).all()


def test_topo_job_summarises_each_fabric(tmp_path):
    import topo

    spec = {"job": "topo", "grid": {"fabric": ["maia200-small", "gb200-nvl72"]}}
    df = run_sweep(spec, tmp_path / "t.csv", workers=1, progress=False).table()
    assert list(df["chips"]) == [topo.load("maia200-small").n_chips, 72]
    assert df["error"].isna().all()


# ------------------------------------------------------------------------------------------ real jobs
def test_collective_job_matches_nccl_tests_conventions(tmp_path):
    spec = {"job": "collective", "params": {"fabric": "gb200-nvl72", "algorithm": "ring", "opt.ideal": True},
            "grid": {"zip": {"collective": ["all_reduce", "all_gather"], "group": [8, 8]}, "size": ["1MiB", "64MiB"]}}
    df = run_sweep(spec, tmp_path / "c.parquet", workers=1, progress=False).table()
    assert df["error"].isna().all() and (df["ranks"] == 8).all() and (df["algorithm"] == "ring").all()
    # busbw = algbw x nccl-tests factor: 2(n-1)/n for all-reduce, (n-1)/n for all-gather
    factor = df["collective"].map({"all_reduce": 2 * 7 / 8, "all_gather": 7 / 8})
    assert (df["busbw_GBps"] / df["algbw_GBps"]).tolist() == pytest.approx(factor.tolist(), rel=1e-12)
    # algbw = size / time, in GB/s and us
    assert (df["size"] / (df["time_us"] * 1e-6) / 1e9).tolist() == pytest.approx(df["algbw_GBps"].tolist(), rel=1e-12)
    # one 8-rank group alone on a non-blocking switch: the simulation meets the alpha-beta bound
    assert df["time_over_bound"].tolist() == pytest.approx([1.0] * 4, abs=1e-6)
    # and the time is the ring closed form, worked from the fabric's own links (B: chip 0's capacity over
    # all planes; alpha: chip -> switch -> chip latency): AR 2(n-1)/n S/B + 2(n-1) alpha, AG (n-1)/n S/B + (n-1) alpha
    import topo

    fab = topo.load("gb200-nvl72")
    up, down = (fab.edge_src == 0).nonzero()[0], (fab.edge_dst == 0).nonzero()[0]
    B = float(fab.edge_capacity[up].sum())
    alpha = float(fab.edge_latency[up[0]] + fab.edge_latency[down[0]])
    steps = df["collective"].map({"all_reduce": 2, "all_gather": 1})
    want_us = (steps * (7 / 8 * df["size"] / B + 7 * alpha) * 1e6).tolist()
    assert df["time_us"].tolist() == pytest.approx(want_us, rel=1e-9)


def test_traffic_job_ring_on_a_switch_runs_at_line_rate(tmp_path):
    # gb200-nvl72: 900 GB/s per direction per GPU at efficiency 0.8 (topologies/gb200-nvl72.yaml)
    spec = {"job": "traffic", "params": {"fabric": "gb200-nvl72", "pattern": "ring", "size": "1GiB"},
            "grid": {"group": [4, 72]}}
    df = run_sweep(spec, tmp_path / "t.csv", workers=1, progress=False).table()
    assert df["error"].isna().all()
    expect_us = 2**30 / (0.8 * 900e9) * 1e6
    assert df["makespan_us"].tolist() == pytest.approx([expect_us] * 2, rel=1e-3)
    assert df["flows"].tolist() == [4, 72]


def test_infer_job_splits_compute_time_by_bottleneck(tmp_path):
    spec = {"job": "infer", "params": {"model": "llama3.1-8b", "fabric": "gb200-nvl72", "prompt": 512, "output": 16},
            "grid": {"zip": {"tp": [1, 4], "batch": [1, 64]}}}
    df = run_sweep(spec, tmp_path / "i.parquet", workers=1, progress=False).table()
    assert df["error"].isna().all()
    for ph in ("prefill", "decode"):
        total = df[f"{ph}_compute_bound_s"] + df[f"{ph}_memory_bound_s"]
        assert total.tolist() == pytest.approx(df[f"{ph}_compute_s"].tolist(), rel=1e-12)
    assert (df["decode_memory_bound_s"] > 0).all()


def test_infer_job_sweeps_estimate_s_knobs(tmp_path):
    """The knobs estimate takes outside its signature (host_per_seq, speed, ...) are sweepable: each row equals
    estimate with that knob, and a row that leaves one unset equals estimate without it."""
    from inference import estimate

    spec = {"job": "infer", "params": {"model": "llama3.1-8b", "fabric": "dgx-h100", "prompt": 256, "output": 8,
                                       "backend": "analytic"},
            "grid": {"host_per_seq": [0.0, 1e-3], "speed": [1.0, 0.5]}}
    df = run_sweep(spec, tmp_path / "k.parquet", workers=1, progress=False).table()
    assert df["error"].isna().all() and len(df) == 4
    for r in df.itertuples():
        want = estimate("llama3.1-8b", "dgx-h100", prompt=256, output=8, backend="analytic",
                        host_per_seq=r.host_per_seq, speed=r.speed)
        assert r.tpot_s == want.tpot
    plain = run_sweep({"job": "infer", "params": {"model": "llama3.1-8b", "fabric": "dgx-h100", "prompt": 256,
                                                  "output": 8, "backend": "analytic"}},
                      tmp_path / "p.parquet", workers=1, progress=False).table()
    assert plain["tpot_s"].iloc[0] == estimate("llama3.1-8b", "dgx-h100", prompt=256, output=8,
                                               backend="analytic").tpot


def test_infer_job_knobs_in_e_notation_from_yaml(tmp_path):
    """A spec file's host_per_seq: 1e-3 and speed: 5e-1 (YAML 1.1 reads them as strings) run as the numbers,
    as op_overhead: 2e-6 does; they were SpecErrors in every row."""
    from inference import estimate

    path = tmp_path / "knobs.yaml"
    path.write_text(textwrap.dedent("""\
        job: infer
        params: {model: llama3.1-8b, fabric: dgx-h100, prompt: 256, output: 8, backend: analytic}
        grid:
          host_per_seq: [1e-3]
          speed: [5e-1]
        """))
    df = run_sweep(str(path), tmp_path / "k.parquet", workers=1, progress=False).table()
    assert df["error"].isna().all() and len(df) == 1, df["error"].tolist()
    want = estimate("llama3.1-8b", "dgx-h100", prompt=256, output=8, backend="analytic", host_per_seq=1e-3,
                    speed=0.5)
    assert df["tpot_s"].iloc[0] == want.tpot


EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _example_kind(name: str) -> str:
    """What an examples/ YAML is: a sweep spec (``job:``), a fabric file (``builder:``), a what-if jobs file
    (``jobs:``) or a fleet (``pools:``)."""
    import yaml

    with open(os.path.join(EXAMPLES, name), encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    for key, kind in (("job", "sweep"), ("builder", "fabric"), ("jobs", "jobs"), ("pools", "fleet")):
        if isinstance(raw, dict) and key in raw:
            return kind
    return "unknown"


EXAMPLE_FILES = sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".yaml")) if os.path.isdir(EXAMPLES) else []


@pytest.mark.parametrize("name", [f for f in EXAMPLE_FILES if _example_kind(f) == "sweep"])
def test_example_specs_expand(name):
    spec = load_spec(os.path.join(EXAMPLES, name))
    pts = expand_points(spec)
    assert 1 <= len(pts) <= 200  # small enough to run in about a minute
    assert len({p.id for p in pts}) == len(pts)


@pytest.mark.parametrize("name", [f for f in EXAMPLE_FILES if _example_kind(f) != "sweep"])
def test_other_examples_load_as_what_they_are(name):
    """Every example that is not a sweep spec is a fabric, a what-if jobs file or a fleet, and loads as one."""
    import fleet
    import topo

    path = os.path.join(EXAMPLES, name)
    kind = _example_kind(name)
    assert kind != "unknown", f"{name}: neither a sweep spec, a fabric, a jobs file nor a fleet"
    if kind == "fabric":
        assert topo.load(path).n_chips > 0
    elif kind == "jobs":
        fab, jobs = fleet.load_jobs(path)
        assert jobs
    else:
        assert fleet.load_fleet(path).pools


@pytest.mark.parametrize("name", [f for f in EXAMPLE_FILES if _example_kind(f) != "sweep"])
def test_other_examples_by_name_say_which_command_runs_them(name):
    """`scaleup sweep whatif-serve` (a bundled fleet file, not a spec) names the command that runs it instead of
    "unknown key 'model'"; the list of bundled examples offered for a misspelt name holds only sweep specs."""
    from click.testing import CliRunner

    from cli import main
    from sweep.spec import sweep_examples

    stem = name[:-5]
    command = {"fabric": "scaleup topo show", "jobs": "scaleup jobs", "fleet": "scaleup serve --fleet"}
    with pytest.raises(SpecError, match="not a sweep spec") as info:
        load_spec(stem)
    assert f"`{command[_example_kind(name)]} examples/{name}" in str(info.value)
    r = CliRunner().invoke(main, ["sweep", stem, "--dry-run"])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "not a sweep spec" in r.output
    assert stem not in sweep_examples()
    assert sorted(sweep_examples()) == sorted(f[:-5] for f in EXAMPLE_FILES if _example_kind(f) == "sweep")


def test_quiet_when_stderr_is_not_a_terminal(tmp_path, capsys):
    run_sweep(SPEC, tmp_path / "q.parquet", workers=1)  # progress=None: a bar only on a TTY
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_an_unpicklable_job_fails_its_points_not_the_sweep(tmp_path):
    register_job("test_lambda", lambda p: {"y": 1}, params={"i": Param("int")})
    res = run_sweep({"job": "test_lambda", "grid": {"i": [1, 2, 3]}}, tmp_path / "l.csv", workers=2, progress=False)
    df = read_results(res.path)
    assert res.failed == 3 and len(df) == 3
    assert all("module-level function" in e for e in df["error"])
    # in one process the same job runs fine
    assert run_sweep({"job": "test_lambda", "grid": {"i": [1, 2, 3]}}, tmp_path / "m.csv", workers=1, progress=False).ok


@settings(max_examples=8, deadline=None)
@given(st.integers(1, 17), st.sampled_from(["parquet", "csv"]))
def test_resume_after_any_interruption_point_equals_one_run(stop_after, ext):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        full = run_sweep(SPEC, os.path.join(d, f"full.{ext}"), workers=1, progress=False)
        out = os.path.join(d, f"part.{ext}")

        def ctrl_c(done, total, row):
            if done == stop_after:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            run_sweep(SPEC, out, workers=1, progress=ctrl_c)
        assert len(read_results(out)) == stop_after
        res = run_sweep(SPEC, out, workers=1, resume=True, progress=False)
        assert res.skipped == stop_after and res.ran == 18 - stop_after
        assert_frame_equal(read_results(out), read_results(full.path))


def test_linear_range_keeps_a_negative_end():
    """-0.3 + 2 x 0.1 lands a hair above -0.1 in floats; the end tolerance must widen for negative ends too."""
    from sweep.spec import parse_range

    assert parse_range("-0.3:-0.1:+0.1") == [-0.3, -0.2, -0.1]
    assert parse_range("-3:-1:+1") == [-3, -2, -1]
    assert parse_range("0.1:0.3:+0.1") == [0.1, 0.2, 0.3]


def test_collective_job_takes_the_cli_spelling(tmp_path):
    """A sweep spec may name the collective as the CLI does (all-reduce, sendrecv); the rows say the canonical name
    and equal the ones of the canonical spelling; a typo is still a one-line error listing the valid names."""
    base = {"job": "collective", "params": {"fabric": "gb200-nvl72", "algorithm": "ring", "opt.ideal": True,
                                            "group": 8, "size": "1MiB"}}
    cli = run_sweep({**base, "grid": {"collective": ["all-reduce", "all-gather"]}}, tmp_path / "a.parquet",
                    workers=1, progress=False).table()
    canon = run_sweep({**base, "grid": {"collective": ["all_reduce", "all_gather"]}}, tmp_path / "b.parquet",
                      workers=1, progress=False).table()
    assert cli["error"].isna().all() and cli["collective"].tolist() == ["all_reduce", "all_gather"]
    assert cli["time_us"].tolist() == canon["time_us"].tolist()
    from sweep import JOBS
    from topo import SpecError

    with pytest.raises(SpecError, match="all-reduse.*is not one of"):
        JOBS["collective"].resolve({**base["params"], "collective": "all-reduse"})
