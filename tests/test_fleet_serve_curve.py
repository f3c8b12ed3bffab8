"""The serving latency-throughput curve: ``scaleup serve`` on one inline pool (``--fabric`` instead of ``--fleet``,
:func:`fleet.single_pool_fleet`), the curve's figures in :meth:`ServingResult.summary` (per chip, per user), the
``serve`` sweep job and a concurrency sweep.

Expected values are independent of the code under test: the same fleet written as YAML, figures recomputed from
the per-request arrays and the pool's chip count, and properties of a closed loop on one replica of affine step
times (LinearStepModel)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_cli_error
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import main
from fleet import load_fleet, simulate_serving, single_pool_fleet
from topo import SpecError

SMALL = {"model": "llama3.1-8b", "fabric": "dgx-h100", "tp": 1}  # the cheapest fabric-built pool
LOAD = {"concurrency": 4, "requests": 12, "prompt": 200, "output": 16}


def _same(a, b) -> None:
    """Two ServingResults are identical: every per-request array and every summary figure, bit for bit."""
    for k in ("arrival", "ttft", "tpot", "latency", "queue_delay", "prefill_replica", "decode_replica"):
        assert np.array_equal(getattr(a, k), getattr(b, k), equal_nan=True), k
    assert json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)


# ---------------------------------------------------------------------------------------------- inline pool
def test_inline_pool_equals_the_same_fleet_written_as_yaml(tmp_path):
    """single_pool_fleet(...) is the fleet of the YAML a user would write (name, fabric, tp, stack, batch, token
    budget, chunked prefill): the same spec, and a closed loop on it gives identical results."""
    f = tmp_path / "one.yaml"
    f.write_text("name: llama3.1-8b on dgx-h100\nmodel: llama3.1-8b\npools:\n  - name: dgx-h100\n    fabric: dgx-h100\n"
                 "    tp: 1\n    stack: vllm\n    batch: 4\n    token_budget: 8192\n    chunked_prefill: true\n")
    inline = single_pool_fleet("llama3.1-8b", "dgx-h100", tp=1, stack="vllm", concurrency=4)
    assert inline == load_fleet(str(f))
    _same(simulate_serving(inline, **LOAD), simulate_serving(str(f), **LOAD))


def test_inline_pool_defaults():
    """TP 8, FP8, one colocated replica, inference's default stack, token budget 8192, chunked prefill; the batch
    holds the whole concurrency (InferenceMAX's --max-num-seqs $CONC), 256 without one."""
    spec = single_pool_fleet("llama3.1-70b", "dgx-h100", concurrency=96)
    (p,) = spec.pools
    assert (p.tp, p.ep, p.pp, p.dtype, p.kv_dtype, p.stack, p.replicas, p.role) == \
        (8, 1, 1, "fp8", None, None, 1, "colocated")
    assert (p.batch, p.token_budget, p.chunked_prefill, p.price, p.fabric) == (96, 8192, True, None, "dgx-h100")
    assert spec.model == "llama3.1-70b"
    assert single_pool_fleet("llama3.1-70b", "dgx-h100").pools[0].batch == 256
    assert single_pool_fleet("llama3.1-70b", "dgx-h100", batch=7, concurrency=96).pools[0].batch == 7


def test_inline_pool_takes_numpy_counts_as_the_closed_loop_does():
    """Counts from a numpy grid (np.int64, integral np.float64) are the same fleet as Python ints, as
    simulate_serving's concurrency/requests take them (one count check in fleet: they were refused here)."""
    ints = single_pool_fleet("llama3.1-8b", "dgx-h100", tp=2, replicas=3, batch=16, token_budget=4096, concurrency=8)
    arr = single_pool_fleet("llama3.1-8b", "dgx-h100", tp=np.int64(2), replicas=np.int32(3), batch=np.float64(16.0),
                            token_budget=np.int64(4096), concurrency=np.int64(8))
    assert arr == ints and type(arr.pools[0].tp) is int
    with pytest.raises(SpecError, match=r"^tp: must be an integer >= 1, got .*2\.5"):
        single_pool_fleet("llama3.1-8b", "dgx-h100", tp=np.float64(2.5))


@pytest.mark.parametrize("kw,field", [
    ({"model": None}, "model"),
    ({"fabric": None}, "fabric"),
    ({"stack": "tensorrt"}, "stack"),
    ({"tp": 0}, "tp"),
    ({"replicas": 1.5}, "replicas"),
    ({"batch": True}, "batch"),
    ({"concurrency": -2}, "concurrency"),
    ({"chunked_prefill": "yes"}, "chunked_prefill"),
])
def test_bad_inline_pool_is_one_spec_error_naming_the_argument(kw, field):
    args = {"model": "llama3.1-8b", "fabric": "dgx-h100", **kw}
    with pytest.raises(SpecError, match=rf"^{field}: "):
        single_pool_fleet(args.pop("model"), args.pop("fabric"), **args)


def test_cli_inline_pool_equals_cli_fleet_file(tmp_path):
    """scaleup serve --model M --fabric F --tp T --stack S --batch B prints what --fleet of that YAML prints."""
    f = tmp_path / "one.yaml"
    f.write_text("name: x\nmodel: llama3.1-8b\npools:\n  - name: dgx-h100\n    fabric: dgx-h100\n    tp: 1\n"
                 "    stack: sglang\n    batch: 8\n    chunked_prefill: true\n")
    load = ["--concurrency", "4", "--requests", "12", "--prompt", "200", "--output", "16", "--json"]
    a = CliRunner().invoke(main, ["serve", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "1", "--stack",
                                  "sglang", "--batch", "8", *load])
    b = CliRunner().invoke(main, ["serve", "--fleet", str(f), *load])
    assert a.exit_code == 0 and b.exit_code == 0, (a.output, b.output)
    assert a.output == b.output and json.loads(a.output)["requests"] == 12


@pytest.mark.parametrize("argv,field", [
    (["--fleet", "single-h100", "--fabric", "dgx-h100", "--model", "llama3.1-8b"], "--fleet and --fabric"),
    (["--fleet", "single-h100", "--tp", "2"], "--tp"),
    (["--fleet", "single-h100", "--no-chunked-prefill"], "--chunked-prefill"),
    (["--fabric", "dgx-h100"], "--model"),
    (["--model", "llama3.1-8b"], "--fleet"),
    (["--model", "llama3.1-8b", "--stack", "vllm"], "--stack"),
    (["--model", "llama3.1-8b", "--fabric", "dgx-h100", "--stack", "tensorrt"], "--stack"),
    (["--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "two"], "--tp"),
    (["--model", "llama3.1-8b", "--fabric", "dgx-h100", "--batch", "0"], "--batch"),
    (["--model", "llama3.1-8b", "--fabric", "dgx-h100", "--price", "-3"], "--price"),
    (["--model", "llama3.1-8b", "--fabric", "no-such-fabric"], "no-such-fabric"),
])
def test_cli_bad_inline_pool_exits_2_with_one_line(tmp_path, argv, field):
    assert_cli_error(["serve", *argv, "--concurrency", "2", "--prompt", "10", "--output", "2"], tmp_path, field)


# ---------------------------------------------------------------------------------------------- curve figures
def test_curve_figures_from_the_arrays_and_the_chip_count():
    """Per-chip and per-user figures, recomputed from the per-request arrays and the fleet's chips (tp x replicas):
    output and prompt + output tokens over the makespan, per chip; tokens/s per user = 1 / TPOT statistic."""
    spec = {"pools": [{"name": "c", "replicas": 3, "batch": 16, "chunked_prefill": True,
                       "step_model": {"prefill_per_token": "40us", "decode_base": "15ms", "decode_per_seq": "100us",
                                      "kv_capacity_tokens": 400000, "chips": 4}}]}
    res = simulate_serving(spec, concurrency=24, requests=96, workload="sharegpt", seed=3)
    s = res.summary()
    chips = 3 * 4
    assert s["chips"] == chips
    assert s["output_tokens_per_s_per_chip"] == pytest.approx(res.output.sum() / res.makespan / chips, rel=1e-12)
    assert s["total_tokens_per_s"] == pytest.approx((res.prompt.sum() + res.output.sum()) / res.makespan, rel=1e-12)
    assert s["total_tokens_per_s_per_chip"] == pytest.approx(s["total_tokens_per_s"] / chips, rel=1e-12)
    tpot = res.tpot[np.isfinite(res.tpot)]
    assert s["tokens_per_s_per_user_mean"] == pytest.approx(1 / tpot.mean(), rel=1e-12)
    assert s["tokens_per_s_per_user_p50"] == pytest.approx(1 / np.median(tpot), rel=1e-12)
    assert s["tokens_per_s_per_user_p99"] == pytest.approx(1 / np.percentile(tpot, 99), rel=1e-12)
    assert s["tokens_per_s_per_user_p99"] <= s["tokens_per_s_per_user_p50"]
    one = simulate_serving(spec, concurrency=2, requests=4, prompt=10, output=1).summary()
    assert np.isnan(one["tokens_per_s_per_user_p50"])  # no TPOT of one-token outputs


# ---------------------------------------------------------------------------------------------- serve sweep job
SERVE_POINT = {"model": "llama3.1-8b", "fabric": "dgx-h100", "tp": 1, "stack": "vllm", "concurrency": 4,
               "requests": 12, "prompt": 200, "output": 16, "slo_tpot": "20ms"}


def _equal_figures(row, want: dict) -> None:
    for k, v in want.items():
        got = row[k]
        if isinstance(v, float) and np.isnan(v):
            assert got is None or np.isnan(got), k
        else:
            assert got == v, (k, got, v)


def test_serve_job_outputs_are_the_serving_result_of_the_fleet_written_by_hand():
    """One point of the serve job gives ServingResult.summary() of the same pool written as a fleet dict by hand
    (fabric, tp, stack, batch = the concurrency, token budget 8192, chunked prefill), same load and SLOs."""
    from sweep import JOBS

    out = JOBS["serve"](SERVE_POINT)
    fleet = {"model": "llama3.1-8b", "pools": [{"name": "gpu", "fabric": "dgx-h100", "tp": 1, "stack": "vllm",
                                                "batch": 4, "token_budget": 8192, "chunked_prefill": True}]}
    want = simulate_serving(fleet, concurrency=4, requests=12, prompt=200, output=16, slo_tpot=0.02).summary()
    _equal_figures(out, want)
    assert out["batch"] == 4 and out["kv_capacity_tokens"] > 0 and out["chips"] == 1
    assert out["slo_tpot_s"] == 0.02 and out["requests"] == 12 and out["concurrency"] == 4


def test_serve_job_open_loop_and_bad_inputs():
    """A Poisson rate with fixed lengths is the same simulate_serving run; a point with no load, a closed loop with a
    rate, and an unknown stack or workload are one-line SpecErrors naming the parameter."""
    from sweep import JOBS

    job = JOBS["serve"]
    base = {k: v for k, v in SERVE_POINT.items() if k not in ("concurrency", "requests")}
    out = job({**base, "rate": 20, "duration": "2s", "batch": 8})
    fleet = single_pool_fleet("llama3.1-8b", "dgx-h100", tp=1, stack="vllm", batch=8)
    want = simulate_serving(fleet, rate=20, duration=2.0, prompt=200, output=16, slo_tpot=0.02).summary()
    _equal_figures(out, want)
    with pytest.raises(SpecError, match="^concurrency: give a concurrency"):
        job(base)
    # a rate with a concurrency is an open loop of at most C in flight: the closed loop's requests do not apply
    with pytest.raises(SpecError, match="^requests: applies to a closed loop only; with a rate and a concurrency"):
        job({**SERVE_POINT, "rate": 5})
    with pytest.raises(SpecError, match=r"^concurrency: a closed loop .* drop duration \(open-loop arrivals\) or concurrency"):
        job({**SERVE_POINT, "duration": "10s"})
    with pytest.raises(SpecError, match="^requests: applies to a closed loop only"):
        job({**base, "rate": 20, "requests": 40})
    with pytest.raises(SpecError, match="^think: applies to a closed loop only"):
        job({**base, "rate": 20, "think": "1s"})
    with pytest.raises(SpecError, match="^stack: 'tensorrt' is not one of"):
        job.validate({**SERVE_POINT, "stack": "tensorrt"})
    with pytest.raises(SpecError, match="^workload: "):
        job.validate({**SERVE_POINT, "workload": "chat"})
    with pytest.raises(SpecError, match="unknown parameter of job 'serve'"):
        job.validate({**SERVE_POINT, "fleet": "single-h100"})


def test_serve_sweep_is_deterministic_and_resumable(tmp_path):
    """A concurrency sweep (1, 2, 4, 8 in flight) through run_sweep: each row equals the job run alone; a rerun
    gives the same table; --resume keeps every row and runs nothing. (No monotonicity asserted here: the
    fabric-built step model's decode time is not monotone in the batch, 2 -> 3 sequences is faster.)"""
    from sweep import JOBS, run_sweep

    spec = {"job": "serve", "name": "curve",
            "params": {k: v for k, v in SERVE_POINT.items() if k not in ("concurrency", "requests")},
            "grid": {"concurrency": "1:8:x2"}}
    a = run_sweep(spec, tmp_path / "a.parquet", workers=1, progress=False).table()
    assert a["error"].isna().all(), a["error"].tolist()
    assert a["concurrency"].tolist() == [1, 2, 4, 8] and a["requests"].tolist() == [10, 20, 40, 80]
    b = run_sweep(spec, tmp_path / "b.parquet", workers=1, progress=False).table()
    assert a.drop(columns=["error"]).equals(b.drop(columns=["error"]))
    r = run_sweep(spec, tmp_path / "a.parquet", workers=1, progress=False, resume=True)
    assert (r.ran, r.skipped) == (0, 4)
    one = JOBS["serve"]({**spec["params"], "concurrency": 4})
    assert a.iloc[2]["output_tokens_per_s_per_chip"] == one["output_tokens_per_s_per_chip"]
    assert a.iloc[2]["ttft_p99_s"] == one["ttft_p99_s"]


# ---------------------------------------------------------------------------------------------- the curve's shape
@settings(max_examples=25, deadline=None)
@given(st.sampled_from([0.0, 1e-3, 5e-3]), st.sampled_from([1e-5, 4e-5, 2e-4]), st.sampled_from([5e-3, 15e-3, 30e-3]),
       st.sampled_from([0.0, 1e-4, 1e-3]), st.sampled_from([0.0, 4e-9, 4e-8]), st.booleans(),
       st.sampled_from([10, 100, 1000]), st.sampled_from([2, 10, 100]))
def test_closed_loop_curve_with_room_is_monotone(b0, p1, d0, ds, dk, chunked, prompt, output):
    """One replica of affine step times with room for the whole concurrency (batch >= C, KV for every request, the
    C prompts within one iteration's token budget): the C requests stay one wave (sent together, prefilled in one
    iteration, decoded together), so a wave takes prefill(C P) + (O - 1) decode(C) and serves C O tokens. With
    affine times the time per token falls with C (the fixed costs are shared) and each decode step, the TPOT,
    grows with C: output throughput and every TPOT statistic are non-decreasing in C (checked on 69 random pools
    of 80 before asserting; without room they need not be, see docs/fleet.md)."""
    lin = {"prefill_base": b0, "prefill_per_token": p1, "decode_base": d0, "decode_per_seq": ds,
           "decode_per_kv_token": dk, "kv_capacity_tokens": 1e8}
    budget = 16384
    rows = []
    for c in [c for c in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128) if c * (prompt + 1) <= budget]:
        spec = {"pools": [{"name": "c", "step_model": lin, "batch": 128, "chunked_prefill": chunked,
                           "token_budget": budget}]}
        s = simulate_serving(spec, concurrency=c, prompt=prompt, output=output).summary()
        rows.append([s["output_tokens_per_s"], s["tpot_mean_s"], s["tpot_p50_s"], s["tpot_p99_s"]])
    rows = np.array(rows)
    assert len(rows) >= 2
    assert np.all(np.diff(rows, axis=0) >= -1e-12 * rows[:-1]), rows
    assert rows[-1, 0] > rows[0, 0]  # strictly more throughput at the largest C than at C = 1
