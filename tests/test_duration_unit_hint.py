"""`--duration 600` was refused with "write e.g. '600ms'": a 600 ms arrival window holds almost no requests; the hint
of a trace length is seconds. The SLO options keep ms ('--slo-tpot 50' -> '50ms')."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli import main


@pytest.mark.parametrize("args", [
    ["serve", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--rate", "1", "--duration", "600"],
    ["plan", "--model", "llama3.1-8b", "--rate", "1", "--duration", "600"],
])
def test_duration_without_unit_suggests_seconds(args):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    assert "--duration: '600' has no unit; write e.g. '600s'" in res.output, res.output


def test_slo_without_unit_still_suggests_ms():
    res = CliRunner().invoke(main, ["plan", "--model", "llama3.1-8b", "--rate", "1", "--slo-tpot", "50"])
    assert res.exit_code == 2 and "write e.g. '50ms'" in res.output, res.output
