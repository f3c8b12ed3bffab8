"""`scaleup traffic`: output with units, plot file, user errors exit 2 without a traceback."""

from __future__ import annotations

import re

from click.testing import CliRunner

from cli import main


def test_traffic_command_prints_units_and_plots(tmp_path):
    out = tmp_path / "util.png"
    r = CliRunner().invoke(main, ["traffic", "--fabric", "maia200-small", "--pattern", "permutation", "--size",
                                  "4MiB", "--seed", "1", "--plot", str(out)])
    assert r.exit_code == 0, r.output
    assert "completion time (us)" in r.output and "throughput per chip (GB/s)" in r.output
    assert "injection bandwidth per chip (GB/s" in r.output and "hottest links" in r.output
    assert out.exists() and out.stat().st_size > 1000
    # every chip sends 4 MiB; per-chip throughput can never exceed the injection bandwidth
    thr = [float(x.replace(",", "")) for x in re.findall(r"max\s+([\d,\.]+)", r.output.split("throughput")[1])[:1]]
    inj = float(re.search(r"line rate\): ([\d,\.]+)", r.output).group(1).replace(",", ""))
    assert thr and thr[0] <= inj


def test_traffic_all_to_all_grouped_and_hash_routing():
    r = CliRunner().invoke(main, ["traffic", "--fabric", "maia200-small", "--pattern", "all-to-all", "--size", "64KiB"])
    assert r.exit_code == 0 and "structural classes" in r.output
    r = CliRunner().invoke(main, ["traffic", "--fabric", "maia200-small", "--pattern", "tornado", "--routing", "hash"])
    assert r.exit_code == 0 and "routing hash" in r.output
    r = CliRunner().invoke(main, ["traffic", "--fabric", "maia200-small", "--pattern", "tornado", "--routing",
                                  "ecmp-subflows"])
    assert r.exit_code == 0 and "routing ecmp-subflows" in r.output
    e = CliRunner().invoke(main, ["traffic", "--fabric", "maia200-small", "--pattern", "tornado"])
    # same flows, same bytes on the wire whichever way they are split
    sent = re.compile(r"bytes sent: ([\d\.]+) GB")
    assert sent.search(r.output).group(1) == sent.search(e.output).group(1)


def test_hottest_links_columns_stay_aligned_at_second_long_busy_times():
    """A busy time of 1e6 us and more (a 64 GiB all-to-all) is wider than the 12-character column: the header
    widens with it, so every value ends under "busy (us)" (it overran the header before)."""
    r = CliRunner().invoke(main, ["traffic", "--fabric", "dgx-h100", "--pattern", "all-to-all", "--size", "64GiB"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    i = next(k for k, ln in enumerate(lines) if "busy (us)" in ln)
    rows = lines[i + 1:]
    assert rows and all(float(ln.split()[-1].replace(",", "")) >= 1e6 for ln in rows)
    assert {len(ln) for ln in rows} == {len(lines[i])}  # right-aligned under the header


def test_run_pattern_takes_a_fabric_name_as_the_cli_does():
    """`traffic.run_pattern("dgx-h100", ...)` failed with AttributeError ('str' has no n_chips), a traceback where
    every other public function takes the --fabric name: it loads the fabric; a non-fabric is a typed error."""
    import pytest

    import topo
    from traffic import run_pattern

    a = run_pattern("dgx-h100", "permutation", "64MiB", seed=3)
    b = run_pattern(topo.load("dgx-h100"), "permutation", 2**26, seed=3)
    assert a.makespan == b.makespan and a.flows == b.flows
    with pytest.raises(topo.ScaleupError, match="fabric"):
        run_pattern(None, "ring", 1.0)


def test_traffic_bad_input_exits_2():
    r = CliRunner().invoke(main, ["traffic", "--fabric", "maia200-small", "--size", "-3MB"])
    assert r.exit_code == 2 and "size" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["traffic", "--fabric", "maia200-small", "--size", "lots"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["traffic", "--fabric", "maia200-small", "--pattern", "bit-reversal", "--size", "1MB",
                                  "--set", "chips=96"])
    assert r.exit_code == 2 and "power of two" in r.output
