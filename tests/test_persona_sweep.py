"""A systems researcher's fabric design study with sweeps (persona walkthrough): the defects it found, each
pinned by a test that failed before its fix. Small fabrics, tiny grids."""

from __future__ import annotations

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
