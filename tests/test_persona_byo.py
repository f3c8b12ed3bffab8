"""An ML-systems engineer who brings their own model, chip, fabric, measurements and kernel tables.

Each test failed before its fix (see the commit that added it)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import collectives as C
import topo
from cli import main

#: an MI355X-like 8-GPU platform of the user's own (datasheet figures; link per direction)
MI355X = """\
name: mi355x-8
builder: full_mesh
chips: 8
chip:
  name: mi355x
  hbm_bytes: 288GB
  hbm_bandwidth: 8TB/s
  flops: {bf16: 2.5PFLOPS, fp8: 5PFLOPS, fp4: 10PFLOPS}
  tdp: 1400W
  ports: 7
  port_bandwidth: 76.8GB/s
link_bandwidth: 76.8GB/s
link_latency: 300ns
efficiency: 0.75
"""


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def mi355x(tmp_path):
    p = tmp_path / "mi355x.yaml"
    p.write_text(MI355X)
    return p


def _alpha_beta(n: int, size: float, alpha: float = 18e-6, busbw: float = 310e9) -> float:
    """A measured all-reduce of the user's: alpha + 2 (n - 1) / n x size / busbw (nccl-tests' bus factor)."""
    return alpha + 2 * (n - 1) / n * size / busbw


def _csv(path, rows) -> str:
    path.write_text("collective,ranks,bytes,seconds\n" + "".join(f"{c},{n},{s},{t!r}\n" for c, n, s, t in rows))
    return str(path)


# ------------------------------------------------------------------------------------------ calibrate
def test_calibrate_all_to_all_rows_alone_fit_without_a_traceback(tmp_path, mi355x):
    """A CSV of all-to-all rows only raised "ValueError: assignment destination is read-only" (a pandas
    read-only mask); it now fits them with the shared costs."""
    rows = [("all_to_all", 8, s, 20e-6 + s / 200e9) for s in (2**10, 2**16, 2**20, 2**24, 2**28)]
    cal = C.calibrate(str(mi355x), _csv(tmp_path / "a2a.csv", rows))
    assert set(cal.data["collective"]) == {"all_to_all"} and len(cal.ratios) == 5
    r = run("calibrate", "--fabric", str(mi355x), "--measurements", str(tmp_path / "a2a.csv"))
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert "| nccl | all_to_all | 8 |" in r.output


@pytest.mark.parametrize("scale, unit", [(1e6, "microseconds"), (1e3, "milliseconds")])
def test_calibrate_refuses_seconds_that_hold_microseconds(tmp_path, mi355x, scale, unit):
    """`seconds` written in microseconds (20 for 20 us) fitted silently with a 100% error and ratio 0.00: no
    software cost makes a collective 10,000x slower than its links; one line names the unit, exit 2."""
    rows = [("all_reduce", 8, s, _alpha_beta(8, s) * scale) for s in (2**10, 2**20, 2**30)]
    path = _csv(tmp_path / "us.csv", rows)
    with pytest.raises(topo.SpecError, match=f"seconds column looks like {unit}"):
        C.calibrate(str(mi355x), path)
    r = run("calibrate", "--fabric", str(mi355x), "--measurements", path)
    assert r.exit_code == 2 and unit in r.output and r.output.count("\n") == 1, r.output
    ok = C.calibrate(str(mi355x), _csv(tmp_path / "s.csv", [(c, n, s, t / scale) for c, n, s, t in rows]),
                     algorithms={"all_reduce": ("ring", "direct")})
    assert not any("seconds" in w for w in ok.warnings), ok.warnings


def test_calibrate_warns_that_three_points_cannot_pin_the_parameters(tmp_path, mi355x):
    """Three points of one rank count were fitted with ten parameters and no word; a warning says the fit is
    under-determined (points vs parameters)."""
    rows = [("all_reduce", 8, s, _alpha_beta(8, s)) for s in (2**10, 2**20, 2**30)]
    cal = C.calibrate(str(mi355x), _csv(tmp_path / "three.csv", rows), algorithms={"all_reduce": ("ring", "direct")})
    assert any("under-determined" in w and "3 points" in w for w in cal.warnings), cal.warnings
    many = [("all_reduce", 8, 2**k, _alpha_beta(8, 2**k)) for k in range(10, 31, 2)]
    cal = C.calibrate(str(mi355x), _csv(tmp_path / "many.csv", many), algorithms={"all_reduce": ("ring", "direct")})
    assert not any("under-determined" in w for w in cal.warnings), cal.warnings


def test_calibrate_on_a_full_mesh_names_the_algorithm_not_the_links(tmp_path, mi355x):
    """Measurements of 8 GPUs of a full mesh at 310 GB/s busbw (every link busy, as RCCL's channels run it) were
    fitted with NCCL's ring only (2 of 7 links a chip): 4x too slow at 1 GiB, and the warning blamed the fabric's
    links. The fabric's links reach it with `direct`; the warning now says so, and `--algorithms` (Python:
    ``algorithms=``) fits it within a few percent."""
    rows = [("all_reduce", 8, 2**k, _alpha_beta(8, 2**k)) for k in range(10, 31, 2)]
    path = _csv(tmp_path / "ar.csv", rows)
    r = run("calibrate", "--fabric", str(mi355x), "--measurements", path)
    assert r.exit_code == 0, r.output
    warn = [ln for ln in r.output.splitlines() if ln.startswith("warning:")]
    assert warn and "direct" in warn[0] and "--algorithms all_reduce=ring,direct" in warn[0], r.output
    r = run("calibrate", "--fabric", str(mi355x), "--measurements", path, "--algorithms", "all_reduce=ring,direct")
    assert r.exit_code == 0 and "warning:" not in r.output, r.output
    cal = C.calibrate(str(mi355x), path, algorithms={"all_reduce": ("ring", "direct")})
    big = cal.data[cal.data["bytes"] >= 2**26]
    assert (abs(big["ratio"] - 1) < 0.05).all(), big
    assert cal.comm.algorithms_of("all_reduce").get("direct", 0) > 0
    for bad, msg in [("all_reduce", "COLLECTIVE=ALG"), ("allreduce=ring", "unknown collective"),
                     ("all_reduce=rnig", "unknown algorithm 'rnig'")]:
        r = run("calibrate", "--fabric", str(mi355x), "--measurements", path, "--algorithms", bad)
        assert r.exit_code == 2 and msg in r.output and r.output.count("\n") == 1, r.output


def test_calibrate_python_list_of_files_names_them_in_the_provenance(tmp_path, mi355x):
    """``collectives.calibrate(fab, [a.csv, b.csv])`` wrote ``fit: user measurements``; the CLI names the files,
    so does Python now."""
    a = _csv(tmp_path / "a.csv", [("all_reduce", 8, 2**k, _alpha_beta(8, 2**k)) for k in (10, 16, 22, 28)])
    b = _csv(tmp_path / "b.csv", [("all_reduce", 4, 2**k, _alpha_beta(4, 2**k)) for k in (10, 16, 22, 28)])
    cal = C.calibrate(str(mi355x), [a, b])
    assert dict(cal.comm.provenance)["call"] == f"fit: {a}, {b}"


def test_nccl_tests_without_a_binary_name_asks_for_the_cli_option(tmp_path, mi355x):
    """A renamed nccl-tests log ("myrun.txt") said "give collective=" on the command line, whose option is
    --collective."""
    p = tmp_path / "myrun.txt"
    p.write_text("# nThread 1 nGpus 2 minBytes 1024 maxBytes 1024 step: 2(factor) warmup iters: 5 iters: 20\n"
                 "#  Rank  0 Group  0 Pid  1 on h device  0 [0x11] AMD Instinct MI355X\n"
                 "#  Rank  1 Group  0 Pid  1 on h device  1 [0x21] AMD Instinct MI355X\n"
                 "        1024           256     float     sum      -1    21.22    0.05    0.08      0    20.80"
                 "    0.05    0.09      0\n")
    r = run("calibrate", "--fabric", str(mi355x), "--measurements", str(p))
    assert r.exit_code == 2 and "--collective" in r.output and r.output.count("\n") == 1, r.output
