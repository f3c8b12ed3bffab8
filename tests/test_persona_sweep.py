"""A systems researcher's fabric design study with sweeps (persona walkthrough): the defects it found, each
pinned by a test that failed before its fix. Small fabrics, tiny grids."""

from __future__ import annotations

from sweep import Param, expand_points, read_results, register_job, run_sweep


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
