"""A sweep's `algorithm: auto` rows keep `auto` (the series a busbw-vs-size plot draws, as nccl-tests users plot
NCCL's own choice) with the algorithm auto ran in `picked`; before, the job's output `algorithm` replaced the
input, so a grid of [auto, ring] gave two `ring` series and no `auto`. A resume keeps the rows of a file written
before the change, rewritten in today's columns."""

from __future__ import annotations

import pandas as pd

import collectives as C
import topo
from sweep import read_results, run_sweep

FAB = {"fabric": "torus-8x8", "fabric.dims": [4, 4], "collective": "all_reduce", "group": 4, "opt.ideal": True}


def _spec(sizes: list[str]) -> dict:
    return {"job": "collective", "params": dict(FAB), "grid": {"size": sizes, "algorithm": ["auto", "ring"]}}


def test_auto_rows_keep_auto_and_name_the_pick(tmp_path):
    out = tmp_path / "r.csv"
    res = run_sweep(_spec(["1MiB"]), out, workers=1, progress=False)
    assert res.ok
    df = read_results(out)
    assert sorted(df["algorithm"]) == ["auto", "ring"]
    auto = df[df["algorithm"] == "auto"].iloc[0]
    fab = topo.load("torus-8x8", dims=[4, 4])
    (ref,) = C.benchmark("all_reduce", fab, [2**20], group_size=4, ideal=True)
    assert ref["algorithm"] == f"auto:{auto['picked']}" + (f"/c{auto['chunks']}" if auto["chunks"] > 1 else "")
    assert auto["time_us"] == ref["time_us"]
    assert (df[df["algorithm"] == "ring"]["picked"] == "ring").all()


def test_resume_rewrites_rows_written_before_picked(tmp_path):
    out = tmp_path / "r.csv"
    run_sweep(_spec(["1MiB"]), out, workers=1, progress=False)
    new = read_results(out)
    old = new.assign(algorithm=new["picked"]).drop(columns="picked")  # the file as the job wrote it before
    old.to_csv(out, index=False)
    res = run_sweep(_spec(["1MiB", "2MiB"]), out, workers=1, progress=False, resume=True)
    assert res.ok and res.skipped == 2 and res.ran == 2  # the ids did not change: the old rows are kept
    df = read_results(out)
    assert len(df) == 4 and df["picked"].notna().all()
    kept = df[df["size"] == 2**20].set_index("algorithm")
    assert kept.loc["auto", "picked"] == new.set_index("algorithm").loc["auto", "picked"]
    assert kept.loc["ring", "picked"] == "ring"
    pd.testing.assert_series_equal(df[df["size"] == 2**20]["time_us"].reset_index(drop=True),
                                   new["time_us"].reset_index(drop=True))
