"""`scaleup plan` says how much of each candidate's chip-hour is its network, as infer ("of which network $ per
chip-hour") and serve ("network share") do: a priced fabric its $ per chip-hour, a cost: included one "in the chip's
capex", a given price "all-in"."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

import inference
from cli import main


@pytest.mark.parametrize("prices", [None, {"maia200-small": 1.5}])
def test_plan_network_line_matches_infer(tmp_path, prices):
    args = ["plan", "--model", "llama3.1-8b", "--rate", "2", "--candidates", "maia200-small,dgx-h100", "--tps", "1",
            "--batches", "32", "--modes", "colocated", "--duration", "10s", "--verify", "0"]
    if prices:
        path = tmp_path / "prices.yaml"
        path.write_text("maia200-small: 1.5\n")
        args += ["--prices", str(path)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if ln.startswith("of which network"))
    assert "dgx-h100 in the chip's capex" in line, line
    if prices:
        assert "maia200-small all-in" in line, line
    else:
        r = inference.estimate("llama3.1-8b", "maia200-small", tp=1, batch=1, prompt=128, output=8, stack="ideal")
        m = re.search(r"maia200-small \$([\d.]+)", line)
        assert m and float(m.group(1)) == pytest.approx(r.extra["network_per_chip_hour_usd"], abs=6e-4), line
