"""`scaleup infer`: table, JSON, --compare, and user errors as exit code 2 without a traceback."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cli import main
from inference import estimate

ARGS = ["infer", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "8", "--batch", "4", "--prompt", "128",
        "--output", "8"]


def test_infer_json_matches_estimate():
    res = CliRunner().invoke(main, ARGS + ["--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    r = estimate("llama3.1-8b", "dgx-h100", tp=8, batch=4, prompt=128, output=8)
    assert d["tpot_s"] == r.tpot and d["ttft_s"] == r.ttft and d["chips_per_replica"] == 8


def test_infer_table_and_compare():
    res = CliRunner().invoke(main, ARGS)
    assert res.exit_code == 0 and "TPOT" in res.output and " ms" in res.output
    res = CliRunner().invoke(main, ARGS[:3] + ["--compare", "dgx-h100,dgx-h200"] + ARGS[5:])
    assert res.exit_code == 0, res.output
    assert "dgx-h100" in res.output and "dgx-h200" in res.output and "TPOT ms" in res.output


def test_infer_user_errors_exit_2():
    for extra in (["--ep", "3"], ["--batch", "0"], ["--dtype", "fp5"]):
        res = CliRunner().invoke(main, ARGS + extra)
        assert res.exit_code == 2 and "Traceback" not in res.output, (extra, res.output)
    res = CliRunner().invoke(main, ["infer", "--model", "llama3.1-405b", "--fabric", "dgx-h100", "--tp", "1"])
    assert res.exit_code == 2 and "smallest tp that fits" in res.output
    res = CliRunner().invoke(main, ["infer", "--model", "nope", "--fabric", "dgx-h100"])
    assert res.exit_code == 2 and "unknown preset" in res.output


def test_compare_from_python_equals_cli():
    """Parity: inference.compare / compare_table are what `scaleup infer --compare` prints."""
    from inference import compare, compare_table

    args = ARGS[:3] + ["--compare", "dgx-h100,dgx-h200"] + ARGS[5:]
    reps = compare("llama3.1-8b", "dgx-h100,dgx-h200", tp=8, batch=4, prompt=128, output=8)
    assert [r.fabric for r in reps] == ["dgx-h100", "dgx-h200"]
    assert reps[0].tpot == estimate("llama3.1-8b", "dgx-h100", tp=8, batch=4, prompt=128, output=8).tpot
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0 and res.output.strip() == compare_table(reps)
    res = CliRunner().invoke(main, args + ["--json"])
    assert [d["tpot_s"] for d in json.loads(res.output)] == [r.tpot for r in reps]
