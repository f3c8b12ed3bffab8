"""A serving operator's checks of `scaleup serve` / `scaleup plan` against what vLLM's benchmark_serving, Vidur and
SGLang's bench_serving give: strict JSON, exit status of a plan that finds nothing, bursty arrivals, inter-token
latency percentiles, busy fraction beside KV-cache and batch occupancy."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cli import main

FLEET = """
pools:
  - name: c
    role: colocated
    replicas: 1
    batch: 64
    step_model: {prefill_per_token: 40us, decode_base: 10ms, kv_capacity_tokens: 100000, kv_bytes_per_token: 160KiB}
"""


def _strict(text: str):
    """json.loads that refuses NaN / Infinity (as jq and JavaScript's JSON.parse do)."""
    def bad(word: str):
        raise ValueError(f"non-standard JSON constant {word}")
    return json.loads(text, parse_constant=bad)


def test_serve_json_is_strict_json_with_null_for_undefined_figures(tmp_path):
    """`scaleup serve --json` wrote `"tpot_mean_s": NaN` (one-token outputs have no TPOT; a colocated fleet has no
    KV transfer): invalid JSON for strict parsers. Undefined figures are null."""
    f = tmp_path / "fleet.yaml"
    f.write_text(FLEET)
    t = tmp_path / "t.csv"
    t.write_text("arrival_s,prompt_tokens,output_tokens\n0,100,1\n0.5,200,1\n")
    r = CliRunner().invoke(main, ["serve", "--fleet", str(f), "--trace", str(t), "--json"])
    assert r.exit_code == 0, r.output
    d = _strict(r.stdout)
    assert d["tpot_mean_s"] is None and d["kv_time_p99_s"] is None and d["tokens_per_s_per_user_p50"] is None
    assert d["ttft_mean_s"] > 0


def test_plan_that_finds_no_deployment_exits_1_and_says_so():
    """`scaleup plan` exited 0 when nothing met the SLOs (scripts could not tell "no" from a plan); now 1 (2 stays
    bad input), the table still lists the closest candidates, --json still parses (best null) and says it on
    stderr; the header no longer claims a --verify re-check that never ran."""
    argv = ["plan", "--model", "llama3.1-8b", "--rate", "1", "--slo-tpot", "1ms", "--candidates", "dgx-h100",
            "--modes", "colocated", "--tp", "8", "--batch", "32", "--duration", "10s"]
    r = CliRunner().invoke(main, argv)
    assert r.exit_code == 1, r.output
    assert "no deployment meets the SLOs" in r.stdout and "TPOT at batch 1" in r.stdout
    assert "re-checked" not in r.stdout
    r = CliRunner().invoke(main, argv + ["--json"])
    assert r.exit_code == 1, r.output
    d = _strict(r.stdout)
    assert d["best"] is None and d["settings"]["verified_over_s"] is None
    assert len(r.stderr.strip().splitlines()) == 1 and "no deployment meets the SLOs" in r.stderr
