"""`scaleup infer`: table, JSON, --compare, and user errors as exit code 2 without a traceback."""

from __future__ import annotations

import json

import pytest
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


def test_infer_ideal_with_a_serving_stack_is_an_error_as_in_collective():
    """`scaleup infer --ideal --stack vllm` silently ran the roofline (the stack dropped) where `scaleup collective
    --ideal --stack vllm` says to drop one: infer says so too; --ideal alone or with --stack ideal still runs."""
    r = CliRunner().invoke(main, ARGS + ["--ideal", "--stack", "vllm"])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "--stack vllm" in r.output, r.output
    a = json.loads(CliRunner().invoke(main, ARGS + ["--ideal", "--json"]).output)
    b = json.loads(CliRunner().invoke(main, ARGS + ["--ideal", "--stack", "ideal", "--json"]).output)
    assert a["stack"] == b["stack"] == "ideal" and a["tpot_s"] == b["tpot_s"]


@pytest.mark.parametrize("flags,named", [(["--stack", "ideal"], "--stack ideal"), (["--ideal"], "--ideal")])
def test_infer_ideal_with_the_measured_backend_is_an_error_naming_both(flags, named):
    """`scaleup infer --stack ideal --backend measured` silently ran the roofline (no table read): one line naming
    both options, exit 2; --stack ideal with the default backend still runs the roofline."""
    r = CliRunner().invoke(main, ARGS + [*flags, "--backend", "measured"])
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert "--backend measured" in r.output and named in r.output and "Traceback" not in r.output, r.output
    d = json.loads(CliRunner().invoke(main, ARGS + [*flags, "--json"]).output)
    assert d["backend"] == "roofline"


def test_energy_of_a_chip_without_a_public_tdp_is_not_zero_joules():
    """TPU v5p and Trainium2 have no public TDP (preset tdp 0): energy printed "0.0000 J per output token", a
    figure nobody measured. It is n/a in the table and --compare, null in JSON, NaN in Python, and the cost basis
    says power counts 0; a chip with a TDP keeps chips x TDP x power factor x latency / tokens."""
    import math

    tpu = ["infer", "--model", "llama3.1-8b", "--fabric", "tpu-v5p", "--tp", "1", "--batch", "4", "--prompt", "128",
           "--output", "8"]
    out = CliRunner().invoke(main, tpu).output
    assert "energy                   n/a   (tpu-v5p: TDP not public" in out and "0.0000 J" not in out
    assert "power (0 W: the TDP is not public)" in out
    assert json.loads(CliRunner().invoke(main, tpu + ["--json"]).output)["energy_per_token_j"] is None
    r = estimate("llama3.1-8b", "tpu-v5p", tp=1, batch=4, prompt=128, output=8)
    assert math.isnan(r.energy_per_token)
    table = CliRunner().invoke(main, tpu[:3] + ["--compare", "tpu-v5p,dgx-h100"] + tpu[5:]).output
    row = next(ln for ln in table.splitlines() if ln.startswith("energy"))
    assert row.split()[-2] == "n/a" and float(row.split()[-1]) > 0


def test_infer_header_and_capacity_agree_in_number():
    """"(1 chips/replica)" and "needs >= 1 chips" read wrong for a one-chip replica: singular for 1, plural else."""
    one = CliRunner().invoke(main, ["infer", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "1"]).output
    assert "(1 chip/replica)" in one and "needs >= 1 chip (" in one and "1 chips" not in one
    eight = CliRunner().invoke(main, ARGS).output
    assert "(8 chips/replica)" in eight


def test_infer_says_throughput_energy_and_cost_are_per_output_token():
    """`throughput 2,896 tokens/s`, `J/token`, `$/Mtok` did not say which tokens (vLLM's benchmark prints output
    and total token throughput apart; `scaleup serve` says "per M output tokens"): they are output tokens,
    batch x output / latency, and the text says so."""
    import re

    r = estimate("llama3.1-8b", "dgx-h100", tp=8, batch=4, prompt=128, output=8)
    assert r.tokens_per_s["replica"] == pytest.approx(4 * 8 / r.latency, rel=1e-9)
    out = CliRunner().invoke(main, ARGS).output
    shown = float(re.search(r"throughput\s+([\d,]+) output tokens/s per replica", out).group(1).replace(",", ""))
    assert shown == pytest.approx(4 * 8 / r.latency, abs=0.5)
    assert "J per output token" in out and "$ per M output tokens" in out
    table = CliRunner().invoke(main, ARGS[:3] + ["--compare", "dgx-h100,dgx-h200"] + ARGS[5:]).output
    for label in ("output tokens/s per replica", "energy J per output token", "cost $ per M output tokens"):
        assert any(ln.startswith(label) for ln in table.splitlines()), label


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


def test_infer_stack_backend_prices_and_dtype(tmp_path):
    """--stack / --backend / --prices reach estimate; the report names stack, backend and cost basis;
    fp4 on H100 is exit 2 naming the supported dtypes."""
    res = CliRunner().invoke(main, ARGS + ["--stack", "ideal", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["stack"] == "ideal" and d["backend"] == "roofline"
    assert d["tpot_s"] == estimate("llama3.1-8b", "dgx-h100", tp=8, batch=4, prompt=128, output=8, stack="ideal").tpot
    res = CliRunner().invoke(main, ARGS + ["--backend", "analytic"])
    assert res.exit_code == 0 and "stack/backend   trtllm / analytic" in res.output and "cost basis" in res.output
    prices = tmp_path / "prices.yaml"
    prices.write_text("prices:\n  h100-sxm: 9.5\n")
    res = CliRunner().invoke(main, ARGS + ["--backend", "analytic", "--prices", str(prices), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["cost_per_hour_usd"] == 8 * 9.5
    res = CliRunner().invoke(main, ARGS + ["--dtype", "fp4"])
    assert res.exit_code == 2 and "supports fp8, int8, bf16" in res.output and "Traceback" not in res.output
    prices.write_text("h100-sxm: {capex: -3}\n")
    res = CliRunner().invoke(main, ARGS + ["--prices", str(prices)])
    assert res.exit_code == 2 and "prices.h100-sxm.capex" in res.output


def test_infer_host_per_seq_matches_python_and_refuses_bare_numbers():
    """``--host-per-seq 1ms`` is ``estimate(..., host_per_seq=1e-3)`` (a host-bound GB200 step: 64 sequences x 1 ms
    x the Grace factor per iteration), says so in the assumptions, and a number without a unit exits 2."""
    from inference.kernels import host_factor

    args = ["infer", "--model", "llama3.1-8b", "--fabric", "gb200-nvl72", "--tp", "1", "--dp", "1", "--batch", "64",
            "--prompt", "128", "--output", "16", "--stack", "trtllm", "--backend", "analytic", "--json"]
    res = CliRunner().invoke(main, args + ["--host-per-seq", "1ms"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.output)
    r = estimate("llama3.1-8b", "gb200-nvl72", tp=1, dp=1, batch=64, prompt=128, output=16, stack="trtllm",
                 backend="analytic", host_per_seq=1e-3)
    assert got["tpot_s"] == r.tpot
    assert r.tpot == pytest.approx(64 * 1e-3 * host_factor("gb200"), rel=1e-9)
    assert any("host_per_seq" in a for a in r.provenance["assumptions"])
    res = CliRunner().invoke(main, args + ["--host-per-seq", "3"])
    assert res.exit_code == 2 and "unit" in res.output


def test_infer_nearest_prints_the_rows_nearest_predicts():
    """``--nearest 2`` adds the published rows nearest the run, the same rows and predictions as
    ``perf_overview.nearest`` with the run's chip, lengths, dtype, chips and backend; JSON carries them too."""
    from inference.perf_overview import nearest

    args = ARGS + ["--backend", "analytic", "--nearest", "2"]
    want = nearest("llama3.1-8b", "h100-sxm", 128, 8, dtype="fp8", gpus=8, k=2, backend="analytic")
    res = CliRunner().invoke(main, args + ["--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.output)["nearest"]
    assert [(g["setup"], g["predicted"]) for g in got] == [(w["setup"], w["predicted"]) for w in want]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "nearest measurements" in res.output and f"{want[0]['measured']:,.0f}" in res.output
    res = CliRunner().invoke(main, ["infer", "--model", "llama3.1-8b", "--fabric", "maia200-small", "--tp", "4",
                                    "--batch", "4", "--prompt", "128", "--output", "8", "--nearest", "1"])
    assert res.exit_code == 0, res.output
    assert "none on maia200" in res.output and "not validated" in res.output


@pytest.mark.parametrize("extra", [["--nearest", "-1"], ["--nearest", "2", "--fail-random", "default"]])
def test_infer_nearest_bad_input_exits_2(extra):
    res = CliRunner().invoke(main, ARGS + extra)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "--nearest" in res.output or "nearest" in res.output


def test_infer_ttft_line_says_a_batch_is_prefilled_at_once():
    """A batch's TTFT is its prompts' prefill all together (the static batch); the table says so and points at
    the closed loop, where requests come one by one; a batch of one has nothing to explain."""
    from inference import estimate

    many = estimate("llama3.1-8b", "dgx-h100", tp=1, dp=1, batch=16, prompt=512, output=64).table()
    one = estimate("llama3.1-8b", "dgx-h100", tp=1, dp=1, batch=1, prompt=512, output=64).table()
    ttft_many = next(ln for ln in many.splitlines() if ln.strip().startswith("TTFT"))
    ttft_one = next(ln for ln in one.splitlines() if ln.strip().startswith("TTFT"))
    assert "16 prompts prefilled at once" in ttft_many and "scaleup serve --concurrency" in ttft_many
    assert "prefilled" not in ttft_one


def test_infer_fabric_beside_compare_is_refused():
    # --fabric X --compare Y printed Y's table alone: X was dropped without a word (review)
    r = CliRunner().invoke(main, ["infer", "--model", "llama3.1-8b", "--fabric", "maia200", "--compare", "dgx-h100"])
    assert r.exit_code == 2 and "--compare maia200,dgx-h100" in r.output and "Traceback" not in r.output
