"""A systems researcher's fabric design study with sweeps (persona walkthrough): the defects it found, each
pinned by a test that failed before its fix. Small fabrics, tiny grids."""

from __future__ import annotations

import json
import os

import pytest

from sweep import Param, expand_points, read_results, register_job, run_sweep
from topo import SpecError


def _square(p: dict) -> dict:
    """A cheap closed-form job: x squared."""
    return {"y": float(p["x"]) ** 2}


register_job("persona_square", _square, params={"x": Param("int"), "tag": Param("str", "a")})


# ------------------------------------------------------------------ duplicate points (lost rows, short count)
def test_overlapping_grids_run_each_point_once(tmp_path):
    """`grid:` as a list is a union of products: a point in two grids (or 1MiB beside 1048576) is one point.
    Before, both copies were kept: the table had fewer rows than the reported point count (the run read as
    interrupted) and the first copies' row positions were lost."""
    spec = {"job": "persona_square", "grid": [{"x": [1, 2]}, {"x": [2, 3]}, {"x": [1.0]}]}
    pts = expand_points(spec)
    assert [p.params["x"] for p in pts] == [1, 2, 3]
    assert [p.index for p in pts] == [0, 1, 2]
    assert len({p.id for p in pts}) == len(pts)
    out = tmp_path / "dup.csv"
    res = run_sweep(spec, out, workers=1, progress=False)
    df = read_results(out)
    assert res.total == len(df) == 3 and not res.interrupted and res.ok
    assert df["point"].tolist() == [0, 1, 2]
    assert df["y"].tolist() == [1.0, 4.0, 9.0]


# ------------------------------------------------------ oversubscription: 1 beside a file's leaf_uplinks
def test_explicit_oversubscription_one_is_not_silently_ignored():
    """`fabric.oversubscription: [1, 3]` on maia200-small (leaf_uplinks: 32 for 96 down, 3:1): the 3 was refused
    as conflicting but the 1 equalled the old default and was dropped, so the "1:1" rows were the 3:1 fabric.
    Now an explicit value that the uplinks contradict is refused, one that agrees is accepted, and without
    leaf_uplinks it sets them."""
    import topo

    with pytest.raises(SpecError, match=r"oversubscription: 1 conflicts with leaf_uplinks=32 \(96 down / 32 up"):
        topo.load("maia200-small", oversubscription=1)
    agree = topo.load("maia200-small", oversubscription=3)  # 96 / 32 = 3: the same fabric
    assert agree.n_edges == topo.load("maia200-small").n_edges
    free = topo.load("maia200-small", oversubscription=1, leaf_uplinks=None, leaf_down=64)
    tiers = topo.summary.summarize(free)["tiers"]
    assert tiers["tier1"]["down"] == tiers["tier1"]["up"] == 64
    # builders without leaf_uplinks: None is non-blocking, as 1.0 was
    kw = dict(chips=64, tray_size=4, planes=2, switch_radix=16, link_latency="100ns", switch_latency="100ns")
    assert topo.two_tier(**kw).n_edges == topo.two_tier(oversubscription=1, **kw).n_edges
    with pytest.raises(SpecError, match="oversubscription: 2 conflicts"):
        topo.two_tier(oversubscription=2, leaf_uplinks=8, **kw)


# ------------------------------------------------ a relative fabric file on a Dask worker in another directory
def _where(p: dict) -> dict:
    """Reports whether the file parameter it was given is absolute, and reads it."""
    with open(p["path"], encoding="utf-8") as fh:
        return {"absolute": os.path.isabs(p["path"]), "chars": len(fh.read())}


register_job("persona_where", _where, params={"path": Param("str"), "x": Param("int", 0)})


def test_relative_input_file_is_read_from_the_sweeps_directory(tmp_path, monkeypatch):
    """`fabric: my.yaml` is read from the directory `scaleup sweep` runs in (docs/sweeps.md); a `dask worker`
    started in another directory read it from its own (the rows failed: "'my256.yaml' is not a bundled fabric
    or a file (... '/')"). The job now gets the absolute path; the row keeps the value as written."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my.yaml").write_text("builder: switch\n", encoding="utf-8")
    spec = {"job": "persona_where", "params": {"path": "my.yaml"}, "grid": {"x": [1, 2]}}
    from sweep.runner import job_params

    pts = expand_points(spec)
    assert job_params(pts[0])["path"] == str(tmp_path / "my.yaml") and pts[0].params["path"] == "my.yaml"
    for workers in (1, 2):
        res = run_sweep(spec, tmp_path / f"w{workers}.csv", workers=workers, progress=False)
        df = read_results(res.path)
        assert res.ok and df["absolute"].all() and (df["path"] == "my.yaml").all()
    # names that are not files (a bundled fabric, a dtype) pass through unchanged
    assert job_params(expand_points({"job": "persona_where", "params": {"path": "maia200"}})[0])["path"] == "maia200"


# ------------------------------------------------------------- workers orphaned by a sweep killed hard
_ORPHAN_SCRIPT = """
import os, sys, time
from sweep import Param, register_job, run_sweep

def slow(p):
    open(os.path.join(sys.argv[1], f"{os.getpid()}.pid"), "w").close()
    time.sleep(60)
    return {"y": p["x"]}

register_job("persona_slow", slow, params={"x": Param("int")})
run_sweep({"job": "persona_slow", "grid": {"x": [1, 2, 3, 4]}}, os.path.join(sys.argv[1], "o.csv"), workers=2,
          progress=False)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_workers_exit_when_the_sweep_is_killed_hard(tmp_path):
    """`kill -9` (or an unhandled SIGTERM) of `scaleup sweep` left its pool's worker processes running for ever
    (orphans waiting on a queue they hold the write end of). They now exit once their parent is gone."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "s.py"
    script.write_text(_ORPHAN_SCRIPT, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], start_new_session=True)
    pids: list[int] = []
    try:
        for _ in range(600):  # both workers started a point (polls, not a timing assertion)
            pids = [int(f.stem) for f in tmp_path.glob("*.pid")]
            if len(pids) >= 2:
                break
            time.sleep(0.1)
        assert len(pids) >= 2, "the workers never started"
        proc.kill()
        proc.wait()
        for _ in range(300):
            if not any(_alive(p) for p in pids):
                break
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids), "workers outlived the killed sweep"
    finally:
        for p in pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()


def test_sigterm_writes_the_finished_rows_and_exits_143(tmp_path):
    """SIGTERM (kill, timeout, a batch system's time limit) killed `scaleup sweep` at once: no table, only the
    journal. It is now handled as Ctrl-C: the finished rows are written to --out, the journal removed, exit
    143; --resume then runs only the rest."""
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "persona_jobs.py").write_text(
        "import time\ndef nap(p):\n    time.sleep(0.2)\n    return {'y': p['x'] * 2}\n", encoding="utf-8")
    (tmp_path / "s.yaml").write_text("job: persona_jobs:nap\ngrid:\n  x: 1:200:+1\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = tmp_path / "o.csv"
    journal = tmp_path / "o.csv.journal.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "cli", "sweep", "s.yaml", "-o", "o.csv", "-j", "1"],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):  # wait until a point is journalled (a poll, not a timing assertion)
            if journal.exists() and journal.stat().st_size > 0:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert out.exists() and not journal.exists()
    df = read_results(out)
    assert 1 <= len(df) < 200 and (df["y"] == 2 * df["x"]).all()


# ------------------------------------------------------------ latency-breakdown bars told apart
def test_latency_breakdown_labels_name_every_swept_input(tmp_path, monkeypatch):
    """A decode-step sweep over tp x fabric.port_bandwidth x stack drew bars labelled 4, 4, 8, 8 (only tp): the
    swept fabric override and stack were not among the label candidates, so two different bars read the same."""
    pd = pytest.importorskip("pandas")
    import sweep.plot as sp

    rows = []
    for tp in (4, 8):
        for bw in ("400Gbps", "800Gbps"):
            for stack in ("trtllm", "ideal"):
                rows.append({"model": "llama3.1-70b", "fabric": "maia200-small", "tp": tp,
                             "fabric.port_bandwidth": bw, "stack": stack, "decode_compute_bound_s": 1e-4,
                             "decode_memory_bound_s": 4e-3 / tp, "decode_exposed_communication_s": 1e-3 / len(bw)})
    figs = []
    monkeypatch.setattr(sp, "_save", lambda fig, out: figs.append(fig) or out)
    sp.plot_latency_breakdown(pd.DataFrame(rows), tmp_path / "b.png", facet="stack")
    labels = [t.get_text() for ax in figs[0].axes for t in ax.get_xticklabels() if t.get_text()]
    assert len(labels) == 8 and len(set(labels)) == 4  # 4 distinct bars per panel, 2 panels
    assert "tp=4, port_bandwidth=800Gbps" in labels
    import matplotlib.pyplot as plt

    plt.close(figs[0])


# ------------------------------------------------------------ provenance recorded with the results
def test_parquet_results_record_provenance_and_a_stable_schema(tmp_path, capsys):
    """A result file said nothing of what produced it (no version, git revision, spec), and its `error` column
    was float when every point succeeded but text otherwise (two sweeps' files did not share a schema). A
    resume that keeps rows of another scaleup version now says so, and records it."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from sweep import provenance, read_metadata

    spec = {"job": "persona_square", "name": "sq", "params": {"tag": "b"}, "grid": {"x": [1, 2]}}
    out = tmp_path / "r.parquet"
    run_sweep(spec, out, workers=1, progress=False)
    meta = read_metadata(out)
    assert meta["job"] == "persona_square" and meta["name"] == "sq" and meta["points"] == 2
    assert meta["spec"] == {"params": {"tag": "b"}, "grid": [{"x": [1, 2]}]}
    assert meta["provenance"] == provenance() and meta["provenance"]["scaleup"]
    assert "kept_rows_from" not in meta
    assert pq.read_schema(out).field("error").type in (pa.string(), pa.large_string())
    assert read_results(out)["error"].isna().all()
    # pretend the rows came from another version, then resume with one more point
    table = pq.read_table(out)
    md = dict(table.schema.metadata)
    old = {**meta, "provenance": {**meta["provenance"], "scaleup": "0.0.1", "git_rev": "0" * 40}}
    md[b"scaleup"] = json.dumps(old).encode()
    pq.write_table(table.replace_schema_metadata(md), out)
    capsys.readouterr()
    res = run_sweep({**spec, "grid": {"x": [1, 2, 3]}}, out, workers=1, progress=False, resume=True)
    assert res.skipped == 2 and res.ran == 1
    assert "computed by scaleup 0.0.1" in capsys.readouterr().err
    meta2 = read_metadata(out)
    assert meta2["kept_rows_from"]["scaleup"] == "0.0.1" and meta2["points"] == 3
    assert read_metadata(tmp_path / "none.csv") == {}


# ------------------------------------------------------------ the collective job beside `scaleup collective`
def test_collective_job_matches_the_cli_table():
    """`scaleup collective ... --group-size 7` runs one 7-rank group, but the sweep's collective job refused
    group: 7 ("does not divide the 384 chips"); and its rows lacked the CLI's protocol (the calibrated model's
    NCCL protocol) and the chunks of the variant auto picked (the table's multirail/c8)."""
    import collectives
    import topo
    from sweep import resolve_job

    job = resolve_job("collective")
    fab = topo.load("maia200-small")
    for group, size in ((7, 2**20), (64, 2**26)):
        row = job({"fabric": "maia200-small", "collective": "all_reduce", "size": size, "group": group})
        (ref,) = collectives.benchmark("all_reduce", fab, [size], group_size=group)
        assert row["ranks"] == group and row["time_us"] == ref["time_us"] and row["protocol"] == ref["protocol"]
        assert ref["algorithm"] == f"auto:{row['picked']}" + (f"/c{row['chunks']}" if row["chunks"] > 1 else "")
    ideal = job({"fabric": "maia200-small", "collective": "all_reduce", "size": 2**20, "group": 8, "opt.ideal": True})
    assert ideal["protocol"] == "ideal"
    for bad in (1, 0, 385):  # 1 rank: busbw 0 and a per-call cost, where the CLI refuses it
        with pytest.raises(SpecError, match=rf"group: must be 2\.\.384 ranks .* got {bad}$"):
            job({"fabric": "maia200-small", "collective": "all_reduce", "size": 2**20, "group": bad})
    with pytest.raises(SpecError, match="group: 7 does not divide the 384 chips"):
        job({"fabric": "maia200-small", "collective": "all_reduce", "size": 2**20, "group": 7, "concurrent": True})


def test_a_non_number_for_an_integer_parameter_says_integer():
    """`tp: [8, x]` said "cannot parse 'x'; write a number with a unit (Gbps, GB/s, GiB, us, ...)": tp has no
    unit. It now says an integer is expected; "8" and "1e1" still read as 8 and 10."""
    spec = {"job": "persona_square", "grid": {"x": ["8", "1e1", "x"]}}
    with pytest.raises(SpecError, match=r"^grid\.x: expected an integer, got 'x'$"):
        expand_points(spec)
    assert [p.params["x"] for p in expand_points({**spec, "grid": {"x": ["8", "1e1"]}})] == [8, 10]


def test_cli_progress_flag_writes_a_bar_to_a_log(tmp_path):
    """The progress bar showed only on a terminal, and the CLI had no way to ask for it in a batch job's log
    (`run_sweep(progress=True)` had no CLI option). `--progress` forces it, `--no-progress` silences it."""
    import subprocess
    import sys

    (tmp_path / "persona_jobs2.py").write_text("def sq(p):\n    return {'y': p['x'] ** 2}\n", encoding="utf-8")
    (tmp_path / "s.yaml").write_text("job: persona_jobs2:sq\ngrid:\n  x: [1, 2, 3]\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    errs = {}
    for flag in ("--progress", "--no-progress"):
        r = subprocess.run([sys.executable, "-m", "cli", "sweep", "s.yaml", "-o", "o.csv", "-j", "1", flag],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        errs[flag] = r.stderr
    assert "3/3" in errs["--progress"] and "3/3" not in errs["--no-progress"]


def test_switch_port_bandwidth_beside_a_files_bandwidth_is_not_ignored():
    """`fabric.port_bandwidth: [400Gbps, 800Gbps]` on dgx-h100 (bandwidth: 450GB/s in its file) gave the same
    fabric twice (busbw 341 GB/s both): port_bandwidth only sets bandwidth's default. Now the contradiction is
    one line; with bandwidth: null the ports set it; an agreeing pair is accepted."""
    import topo

    with pytest.raises(SpecError, match=r"port_bandwidth: '800Gbps' conflicts with bandwidth='450GB/s' \(18 ports"):
        topo.load("dgx-h100", port_bandwidth="800Gbps")
    free = topo.load("dgx-h100", port_bandwidth="800Gbps", bandwidth=None)
    assert topo.summary.summarize(free)["injection_bandwidth"] == pytest.approx(18 * 100e9)
    kw = dict(chips=4, chip="h100-sxm", planes=2, ports=4)
    agree = topo.switch(bandwidth="200GB/s", port_bandwidth="50GB/s", **kw)
    assert topo.summary.summarize(agree)["injection_bandwidth"] == pytest.approx(200e9)


def test_output_in_a_new_directory(tmp_path):
    """`-o results/run1/x.parquet` failed before any point ran ("x.parquet.journal.jsonl: No such file or
    directory"), though the table writer creates the directory (and `scaleup plot -o` does too)."""
    out = tmp_path / "results" / "run1" / "x.parquet"
    res = run_sweep({"job": "persona_square", "grid": {"x": [1, 2]}}, out, workers=1, progress=False)
    assert res.ok and read_results(out)["y"].tolist() == [1.0, 4.0]


def test_busbw_plot_keeps_collectives_apart(tmp_path, monkeypatch):
    """`scaleup plot --kind busbw` of a sweep over collective: [all_reduce, all_to_all] drew one line per
    algorithm through both (the median of unlike busbw figures, with a min-max band). It now draws one panel
    per collective."""
    pd = pytest.importorskip("pandas")
    import sweep.plot as sp

    rows = [{"collective": c, "algorithm": "direct", "size": s, "busbw_GBps": b * s / 2**20, "fabric": "f"}
            for c, b in (("all_reduce", 100.0), ("all_to_all", 10.0)) for s in (2**20, 2**22)]
    figs = []
    monkeypatch.setattr(sp, "_save", lambda fig, out: figs.append(fig) or out)
    sp.plot_busbw(pd.DataFrame(rows), tmp_path / "b.png")
    axes = [ax for ax in figs[0].axes if ax.lines]
    assert sorted(ax.get_title() for ax in axes) == ["collective = all_reduce", "collective = all_to_all"]
    assert not any(ax.collections for ax in axes)  # no min-max band: nothing else varies
    import matplotlib.pyplot as plt

    plt.close(figs[0])


def test_logx_on_a_categorical_axis_is_refused(tmp_path):
    """`scaleup plot --x fabric.port_bandwidth --logx` drew a linear categorical axis and said nothing."""
    pd = pytest.importorskip("pandas")
    from sweep.plot import plot_table

    df = pd.DataFrame({"fabric.port_bandwidth": ["400Gbps", "800Gbps"], "busbw_GBps": [1.0, 2.0]})
    with pytest.raises(SpecError, match=r"^--logx: column 'fabric.port_bandwidth' is categorical"):
        plot_table(df, "fabric.port_bandwidth", "busbw_GBps", tmp_path / "a.png", logx=True)
    assert os.path.exists(plot_table(df, "fabric.port_bandwidth", "busbw_GBps", tmp_path / "b.png"))


def test_read_metadata_of_a_non_parquet_file_is_one_line(tmp_path):
    from sweep import read_metadata

    bad = tmp_path / "x.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(SpecError, match="results: cannot read the metadata of"):
        read_metadata(bad)


def test_log_x_of_a_few_swept_values_labels_them(tmp_path, monkeypatch):
    """`--x fabric.chips --logx` over 384, 1536, 3072 chips labelled the axis 4x10^2, 6x10^2, 10^3, 2x10^3 (the
    powers-of-two case already labelled its values); a few swept values are now the ticks."""
    pd = pytest.importorskip("pandas")
    import sweep.plot as sp

    df = pd.DataFrame({"fabric.chips": [384, 1536, 3072], "busbw_GBps": [500.0, 440.0, 400.0]})
    figs = []
    monkeypatch.setattr(sp, "_save", lambda fig, out: figs.append(fig) or out)
    sp.plot_table(df, "fabric.chips", "busbw_GBps", tmp_path / "c.png", logx=True)
    ax = figs[0].axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["384", "1536", "3072"]
    import matplotlib.pyplot as plt

    plt.close(figs[0])


def test_hue_of_several_columns(tmp_path, monkeypatch):
    """Calibrated vs ideal per port split is two columns; `--hue fabric.leaf_uplinks,opt.ideal` was "no column
    'fabric.leaf_uplinks,opt.ideal'". A comma-separated list is now one series per combination, ordered part by
    part (4 before 16, as each alone)."""
    pd = pytest.importorskip("pandas")
    import sweep.plot as sp

    rows = [{"size": s, "up": up, "opt.ideal": ideal, "busbw_GBps": s / 2**20 * up * (2 if ideal else 1)}
            for up in (16, 4) for ideal in (True, False) for s in (2**20, 2**24)]
    figs = []
    monkeypatch.setattr(sp, "_save", lambda fig, out: figs.append(fig) or out)
    sp.plot_table(pd.DataFrame(rows), "size", "busbw_GBps", tmp_path / "h.png", hue="up, opt.ideal")
    legend = figs[0].axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["4, False", "4, True", "16, False", "16, True"]
    assert legend.get_title().get_text() == "Up, opt ideal"
    with pytest.raises(SpecError, match="no column 'nope'"):
        sp.plot_table(pd.DataFrame(rows), "size", "busbw_GBps", tmp_path / "h.png", hue="up,nope")
    import matplotlib.pyplot as plt

    plt.close(figs[0])


def test_hue_of_several_columns_with_a_missing_value(tmp_path, monkeypatch):
    """A hue part missing in some rows (a list grid that sets opt.ideal in one sub-grid only: NaN elsewhere) is one
    'n/a' series, listed last; each NaN is its own object, so the combined labels raised KeyError (nan, 4)."""
    pd = pytest.importorskip("pandas")
    import sweep.plot as sp

    rows = [{"size": s, "up": up, "opt.ideal": ideal, "busbw_GBps": float(s / 2**20 * up)}
            for up in (16, 4) for ideal in (True, float("nan")) for s in (2**20, 2**24)]
    figs = []
    monkeypatch.setattr(sp, "_save", lambda fig, out: figs.append(fig) or out)
    sp.plot_table(pd.DataFrame(rows), "size", "busbw_GBps", tmp_path / "h.png", hue="up,opt.ideal")
    legend = figs[0].axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["4, True", "4, n/a", "16, True", "16, n/a"]
    assert [len(line.get_xdata()) for line in figs[0].axes[0].lines] == [2, 2, 2, 2]  # every row drawn once
    import matplotlib.pyplot as plt

    plt.close(figs[0])


def test_busbw_plot_of_a_collective_table_draws_auto_as_one_line(tmp_path, monkeypatch):
    """`scaleup collective ... --algorithm ring,auto --csv` names auto's winner per size (auto:direct,
    auto:hier_ml, ...); `scaleup plot --kind busbw` drew a fragment per winner. One auto line now, as the
    collective command's own --plot draws."""
    pd = pytest.importorskip("pandas")
    import sweep.plot as sp

    rows = [{"size": s, "algorithm": a, "busbw_GBps": float(i + 1), "time_us": 1.0, "bound_us": 1.0}
            for i, (s, a) in enumerate([(2**10, "auto:oneshot"), (2**20, "auto:direct"), (2**30, "auto:multirail/c64"),
                                        (2**10, "ring"), (2**20, "ring"), (2**30, "ring")])]
    figs = []
    monkeypatch.setattr(sp, "_save", lambda fig, out: figs.append(fig) or out)
    sp.plot_busbw(pd.DataFrame(rows), tmp_path / "b.png")
    ax = figs[0].axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["auto", "ring"]
    assert [len(line.get_xdata()) for line in ax.lines] == [3, 3]
    import matplotlib.pyplot as plt

    plt.close(figs[0])


def test_a_list_valued_parameter_is_written_as_json(tmp_path):
    """`fabric.faults: [null, plane:3, [plane:3, plane:2]]` wrote the list as Python's repr
    ("['plane:3', 'plane:2']"), which json cannot read back."""
    spec = {"job": "persona_square", "grid": {"x": [1], "tag": ["a", ["b", "c"], {"k": 1}]}}
    register_job("persona_square_any", _square, params={"x": Param("int"), "tag": Param("any", "a")})
    spec["job"] = "persona_square_any"
    for ext in ("csv", "parquet"):
        df = read_results(run_sweep(spec, tmp_path / f"l.{ext}", workers=1, progress=False).path)
        assert [json.loads(v) if v[:1] in "[{" else v for v in df["tag"]] == ["a", ["b", "c"], {"k": 1}]


def test_dry_run_says_how_many_duplicates_it_dropped(tmp_path):
    from click.testing import CliRunner

    from cli import main

    spec = tmp_path / "d.yaml"
    spec.write_text("job: persona_square\ngrid:\n  - {x: [1, 2]}\n  - {x: [2, 3]}\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["sweep", str(spec), "--dry-run"])
    assert r.exit_code == 0 and r.output.splitlines()[0] == "3 points (job persona_square); 1 duplicate points dropped"
