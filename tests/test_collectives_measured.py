"""``scaleup collective ... --measured`` / ``benchmark(measured=True)``: the measured time of each size beside the
model, read independently here from the installed aiconfigurator-core parquet (element counts x 2 bytes,
latency in ms), interpolation checked by hand, user errors as one line / exit 2."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from collectives import benchmark
from collectives.validation import measured_times
from topo import SpecError

pd = pytest.importorskip("pandas")
aic = pytest.importorskip("aiconfigurator_core")


def _raw(system: str, op: str, ranks: int) -> dict[float, float]:
    """nccl-tests 2.29.2 half-precision times (s) by bytes, read straight from the package's parquet."""
    from pathlib import Path

    f = Path(aic.__file__).parent / "systems" / "data" / system / "comm" / "nccl" / "2.29.2" / "nccl_perf.parquet"
    d = pd.read_parquet(f)
    d = d[(d["nccl_dtype"] == "half") & (d["op_name"] == op) & (d["num_gpus"] == ranks)]
    return {float(m) * 2: float(t) * 1e-3 for m, t in zip(d["message_size"], d["latency"])}


def test_grid_points_are_the_table_and_between_is_log_log():
    raw = _raw("h100_sxm", "all_reduce", 8)
    sizes = sorted(raw)
    a, b = sizes[10], sizes[11]
    mid = math.sqrt(a * b)  # halfway in log size
    t, interp, src = measured_times("dgx-h100", "all_reduce", 8, [a, mid, b, sizes[0] / 2, sizes[-1] * 2])
    assert t[0] == raw[a] and t[2] == raw[b] and not interp[0] and not interp[2]
    assert t[1] == pytest.approx(math.sqrt(raw[a] * raw[b]), rel=1e-12) and interp[1]
    assert math.isnan(t[3]) and math.isnan(t[4]) and "2.29.2" in src
    assert math.isnan(measured_times("dgx-h100", "all_reduce", 3, [a])[0][0])  # no 3-GPU rows


def test_benchmark_adds_measured_and_ratio_columns():
    rows = benchmark("all_gather", "dgx-b200", [1 << 20, 1 << 33], 4, measured=True)
    raw = _raw("b200_sxm", "all_gather", 4)
    assert rows[0]["measured_us"] == pytest.approx(raw[float(1 << 20)] * 1e6, rel=1e-12)
    assert rows[0]["ratio"] == pytest.approx(rows[0]["time_us"] / rows[0]["measured_us"], rel=1e-12)
    assert math.isnan(rows[1]["measured_us"]) and math.isnan(rows[1]["ratio"])  # 8 GiB: off the grid
    assert "measured_us" not in benchmark("all_gather", "dgx-b200", [1 << 20], 4)[0]


def test_cli_measured_table_json_and_errors():
    args = ["collective", "all-reduce", "--fabric", "dgx-h100", "--sizes", "1KiB,8GiB", "--measured"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "measured (us)" in res.output and "nccl-tests 2.29.2 h100_sxm" in res.output
    rows = json.loads(CliRunner().invoke(main, args + ["--json"]).output)
    assert rows[0]["measured_us"] == pytest.approx(_raw("h100_sxm", "all_reduce", 8)[1024.0] * 1e6, rel=1e-12)
    assert rows[1]["measured_us"] is None and rows[1]["ratio"] is None
    for bad in (["--fabric", "maia200-small", "--group-size", "4"], ["--fail", "chip:c0"]):
        res = CliRunner().invoke(main, ["collective", "all-reduce", "--sizes", "1MiB", "--measured"] + bad
                                 + (["--fabric", "dgx-h100"] if "--fail" in bad else []))
        assert res.exit_code == 2 and "Traceback" not in res.output and "--measured" in res.output
    with pytest.raises(SpecError, match="no measured table"):
        measured_times("maia200", "all_reduce", 8, [1024])


def test_stack_table_is_the_stack_s_own():
    t = measured_times("dgx-b200", "all_reduce", 2, [256.0], stack="vllm")[0]
    t_nccl = measured_times("dgx-b200", "all_reduce", 2, [256.0])[0]
    assert np.isfinite(t).all() and t[0] != t_nccl[0]
