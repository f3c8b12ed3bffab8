"""A serving operator's checks of `scaleup serve` / `scaleup plan` against what vLLM's benchmark_serving, Vidur and
SGLang's bench_serving give: strict JSON, exit status of a plan that finds nothing, bursty arrivals, inter-token
latency percentiles, busy fraction beside KV-cache and batch occupancy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

import fleet
from cli import main
from topo import SpecError

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


# ---------------------------------------------------------------------------------------------- bursty arrivals
def _old_poisson_arrivals(rate: float, duration: float, seed: int) -> np.ndarray:
    """The Poisson draw before --burstiness existed (exponential gaps, 10-sigma margin, cut at the window)."""
    rng = np.random.default_rng(seed)
    n_guess = int(rate * duration + 10 * math.sqrt(rate * duration) + 20)
    t = np.cumsum(rng.exponential(1.0 / rate, size=n_guess))
    while t[-1] < duration:
        t = np.concatenate([t, np.cumsum(rng.exponential(1.0 / rate, size=n_guess)) + t[-1]])
    return t[t < duration]


@pytest.mark.parametrize("seed", [0, 7])
def test_burstiness_1_is_the_poisson_trace_bit_for_bit(seed):
    tr = fleet.poisson_trace(20.0, 60.0, seed=seed)
    assert np.array_equal(tr.arrival, _old_poisson_arrivals(20.0, 60.0, seed))
    one = fleet.poisson_trace(20.0, 60.0, seed=seed, burstiness=1.0)
    assert np.array_equal(one.arrival, tr.arrival) and np.array_equal(one.prompt, tr.prompt) \
        and np.array_equal(one.output, tr.output)
    assert np.array_equal(fleet.synthetic_trace(20.0, 60.0, seed=seed, burstiness=1).arrival, tr.arrival)


@pytest.mark.parametrize("b", [0.25, 4.0])
def test_bursty_gaps_are_gamma_of_mean_one_over_rate_and_cv_one_over_sqrt_shape(b):
    """vLLM benchmark_serving --burstiness: gamma gaps, shape b, mean 1 / rate; their coefficient of variation is
    1 / sqrt(b) (2 at 0.25, bursty; 0.5 at 4, even). 40,000 gaps: sampling error ~1 % (mean), ~2 % (CV)."""
    rate = 50.0
    tr = fleet.poisson_trace(rate, 800.0, seed=3, burstiness=b)
    gaps = np.diff(np.concatenate([[0.0], tr.arrival]))
    assert gaps.mean() == pytest.approx(1 / rate, rel=0.04)
    assert gaps.std() / gaps.mean() == pytest.approx(1 / math.sqrt(b), rel=0.06)
    again = fleet.poisson_trace(rate, 800.0, seed=3, burstiness=b)
    assert np.array_equal(again.arrival, tr.arrival)  # deterministic under the seed
    assert not np.array_equal(fleet.poisson_trace(rate, 800.0, seed=4, burstiness=b).arrival[:10], tr.arrival[:10])


def test_bursty_arrivals_lengthen_the_tail_at_the_same_rate(tmp_path):
    """The same mean rate in bursts queues more: P99 TTFT grows as the burstiness falls (here 5x)."""
    f = tmp_path / "fleet.yaml"
    f.write_text(FLEET)
    kw = dict(rate=5.0, duration=120.0, workload="sharegpt", seed=1)
    poisson = fleet.simulate_serving(str(f), **kw)
    assert np.array_equal(fleet.simulate_serving(str(f), burstiness=1.0, **kw).ttft, poisson.ttft)
    bursty = fleet.simulate_serving(str(f), burstiness=0.1, **kw)
    assert bursty.summary()["burstiness"] == 0.1 and poisson.summary()["burstiness"] == 1.0
    assert bursty.summary()["ttft_p99_s"] > 3 * poisson.summary()["ttft_p99_s"]
    assert "(burstiness 0.1)" in bursty.table().splitlines()[0] and "burstiness" not in poisson.table()


def test_burstiness_in_the_cli_and_its_errors(tmp_path):
    f = tmp_path / "fleet.yaml"
    f.write_text(FLEET)
    base = ["serve", "--fleet", str(f), "--rate", "10", "--duration", "30s", "--json"]
    r = CliRunner().invoke(main, base + ["--burstiness", "0.5"])
    assert r.exit_code == 0, r.output
    d = _strict(r.stdout)
    ref = fleet.simulate_serving(str(f), rate=10.0, duration=30.0, burstiness=0.5)
    assert d["burstiness"] == 0.5 and d["requests"] == ref.n and d["ttft_p99_s"] == ref.summary()["ttft_p99_s"]
    for bad in ("0", "-1", "nan", "inf"):
        r = CliRunner().invoke(main, base + ["--burstiness", bad])
        assert r.exit_code == 2 and "burstiness" in r.output and "Traceback" not in r.output, r.output
    t = tmp_path / "t.csv"
    t.write_text("0,100,5\n0.5,200,3\n")
    r = CliRunner().invoke(main, ["serve", "--fleet", str(f), "--trace", str(t), "--burstiness", "0.5"])
    assert r.exit_code == 2 and "burstiness" in r.output
    r = CliRunner().invoke(main, ["serve", "--fleet", str(f), "--concurrency", "4", "--burstiness", "0.5"])
    assert r.exit_code == 2 and "burstiness" in r.output


def test_plan_plans_for_bursty_arrivals():
    """plan(burstiness=) sizes on the bursty trace (and its --verify trace): bursts need at least as many replicas."""
    from tests.test_fleet import _factory

    kw = dict(duration=60.0, step_model_factory=_factory, tps=(8,), batches=(64,), modes=("colocated",), seed=2)
    poisson = fleet.plan("m", 40.0, 0.5, 0.05, ["slow"], **kw)
    bursty = fleet.plan("m", 40.0, 0.5, 0.05, ["slow"], burstiness=0.1, **kw)
    assert poisson.best is not None and bursty.best is not None
    n_p, n_b = (r.best.best.fleet.pools[0].replicas for r in (poisson, bursty))
    assert n_b > n_p and bursty.settings["burstiness"] == 0.1
    with pytest.raises(SpecError, match="burstiness"):
        fleet.plan("m", 40.0, 0.5, 0.05, ["slow"], burstiness=0.0, **kw)


def test_serve_sweep_job_takes_burstiness():
    """The sweep's serve job (a latency-throughput curve point) has burstiness as a parameter, passed through."""
    from sweep import JOBS

    point = {"model": "llama3.1-8b", "fabric": "dgx-h100", "tp": 1, "stack": "vllm", "rate": 4, "duration": "20s",
             "prompt": 200, "output": 16, "burstiness": 0.3}
    out = JOBS["serve"](point)
    want = fleet.simulate_serving(fleet.single_pool_fleet("llama3.1-8b", "dgx-h100", tp=1, stack="vllm"), rate=4.0,
                                  duration=20.0, prompt=200, output=16, burstiness=0.3).summary()
    assert out["burstiness"] == 0.3 and out["requests"] == want["requests"]
    assert out["ttft_p99_s"] == want["ttft_p99_s"] and out["tpot_p50_s"] == want["tpot_p50_s"]
