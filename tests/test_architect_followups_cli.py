"""Follow-ups of the architect persona's pass that change cli.py's wording (notes/persona_architect.md): singular
and plural. Each test fails before its fix."""

from __future__ import annotations

from click.testing import CliRunner

from cli import main


def test_plan_header_says_1_simulation_not_1_simulations():
    """plan's header ended '..., 1 simulations' when one point was simulated."""
    r = CliRunner().invoke(main, ["plan", "--model", "llama3.1-8b", "--rate", "1", "--candidates", "mi300x",
                                  "--tp", "1", "--batch", "32", "--modes", "colocated", "--duration", "2s",
                                  "--verify", "0", "--stack", "ideal"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0].endswith(", 1 simulation"), r.output.splitlines()[0]


def test_sweep_summary_says_1_other_kind_not_1_other_kinds(tmp_path):
    """sweep's failure summary read '...; 1 other kinds in the error column' for two kinds of error."""
    spec = tmp_path / "s.yaml"
    spec.write_text("job: collective\nparams:\n  collective: all_reduce\n  fabric: dgx-h100\n  size: 1KiB\n"
                    "grid:\n  group: [16, 32]\n")
    r = CliRunner().invoke(main, ["sweep", str(spec), "--out", str(tmp_path / "o.csv"), "--workers", "1"])
    assert r.exit_code == 1, r.output
    assert "got 16; 1 other kind in the error column" in r.output, r.output


def test_infer_slo_tpot_reports_the_largest_batch_as_estimate_does():
    """infer --slo-tpot / --slo-ttft: the report at the largest batch meeting them, the same as Python's
    estimate(..., slo_tpot=) (the same names); a bare number is refused (it would be seconds)."""
    import json

    from inference import estimate

    args = ["infer", "--model", "llama3.1-8b", "--fabric", "maia200-small", "--tp", "1", "--prompt", "512",
            "--output", "64", "--stack", "ideal"]
    want = estimate("llama3.1-8b", "maia200-small", tp=1, prompt=512, output=64, stack="ideal", slo_tpot=0.004,
                    slo_ttft=0.3)
    r = CliRunner().invoke(main, [*args, "--slo-tpot", "4ms", "--slo-ttft", "300ms", "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert (got["batch"], got["slo_limit"]) == (want.batch, want.extra["slo_limit"])
    r = CliRunner().invoke(main, [*args, "--slo-tpot", "4ms"])
    assert r.exit_code == 0 and "  SLO batch " in r.output and "the largest batch meeting TPOT <= 4 ms" in r.output
    r = CliRunner().invoke(main, [*args, "--slo-tpot", "4"])
    assert r.exit_code == 2 and "--slo-tpot: '4' has no unit" in r.output, r.output
