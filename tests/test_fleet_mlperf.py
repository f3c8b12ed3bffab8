"""MLPerf Server runs simulated request by request (fleet.mlperf) and the simulator's fused chunked-prefill step."""

from dataclasses import replace

import numpy as np
import pytest

from fleet import LinearStepModel, StepCache
from fleet.mlperf import simulate_mlperf
from fleet.stepmodel import _GRID, StepModelWrapper
from inference.mlperf import MLPerfSetup, predict_mlperf, step_model

#: a small, fast Server setup: Llama-3.1-8B on two H100 engines of TP1
LOAD = MLPerfSetup("test 8B", "llama3.1-8b", "h100-sxm", "dgx-h100", 1, 1, 1, 2, "fp8", 800.0, 150.0, "server",
                   1.0, 512, 4096, "test", ttft_limit=2.0, tpot_limit=0.05, rate=40.0, metric="tpot")


class _Additive(StepModelWrapper):
    """The same step model without a fused step: the simulator adds a decode and a prefill step."""

    mixed_time = None


def test_fused_mixed_step_is_exact_on_grid_points():
    sm = step_model(LOAD)
    cache = StepCache(sm)
    for b, t, c in ((int(_GRID[6]), int(_GRID[10]), int(_GRID[12])), (int(_GRID[9]), int(_GRID[8]), int(_GRID[14]))):
        assert cache.mixed(t, 1, b, float(c)) == pytest.approx(sm.mixed_time(b, c, t, 1), rel=1e-12)
    assert cache.mixed(0, 0, 16, 512.0) == pytest.approx(cache.decode1(16, 512.0))


def test_a_step_model_without_a_fused_step_adds_prefill_and_decode():
    lin = LinearStepModel(prefill_base=1e-3, prefill_per_token=1e-5, decode_base=5e-3, decode_per_seq=1e-5)
    cache = StepCache(lin)
    assert cache.mixed(300, 2, 24, 900.0) == pytest.approx(cache.prefill(300, 2) + cache.decode1(24, 900.0))


def test_simulation_conserves_requests_and_tokens_and_is_deterministic():
    a = simulate_mlperf(LOAD, duration=20)
    res = a.result
    n = res.n
    assert n > 0 and np.all(res.finished_count == 1)
    assert int(res.generated.sum()) == n * round(LOAD.output)
    assert a.throughput * res.makespan == pytest.approx(n * round(LOAD.output))
    # the run's time-average sequences in flight never exceed the engines' batch caps
    assert 0 < a.in_flight <= LOAD.batch_cap
    b = simulate_mlperf(LOAD, duration=20)
    assert np.array_equal(a.result.ttft, b.result.ttft) and np.array_equal(a.result.tpot, b.result.tpot)


@pytest.mark.parametrize("rate", [10.0, 40.0, 80.0])
def test_simulation_agrees_with_the_analytic_steady_state_below_saturation(rate):
    """Two independent evaluations of the same engine model: well below capacity (no queueing) the simulated
    mean TPOT and in-flight count match the analytic Little's-law operating point."""
    s = replace(LOAD, rate=rate)
    sim = simulate_mlperf(s, duration=30)
    ana = predict_mlperf(s)
    assert sim.tpot == pytest.approx(ana["tpot"], rel=0.05)
    assert sim.in_flight == pytest.approx(ana["batch"], rel=0.2, abs=2)


def test_more_load_more_latency():
    lo, hi = simulate_mlperf(replace(LOAD, rate=30.0), duration=20), simulate_mlperf(replace(LOAD, rate=90.0),
                                                                                    duration=20)
    assert hi.tpot > lo.tpot and hi.ttft > lo.ttft and hi.in_flight > lo.in_flight


def test_fused_steps_are_faster_than_additive_ones_in_the_simulator():
    """The same trace and engines as simulate_mlperf, with the fused step hidden: decode + prefill add."""
    from fleet import poisson_trace, simulate_serving
    from fleet.spec import FleetSpec, PoolSpec

    fused = simulate_mlperf(LOAD, duration=20)
    pool = PoolSpec(name="engine", replicas=2, fabric="dgx-h100", model=LOAD.model, tp=1, batch=512,
                    token_budget=4096, chunked_prefill=True)
    trace = poisson_trace(LOAD.rate, 20, prompt=800, output=150, seed=0)
    add = simulate_serving(FleetSpec(pools=(pool,)), trace, router="round-robin",
                           step_models={"engine": _Additive(step_model(LOAD))})
    assert add.n == fused.result.n
    assert np.nanmean(add.tpot) > fused.tpot


def test_server_throughput_is_the_highest_rate_meeting_the_p99_limits():
    """The bisection's answer meets loadgen's p99 condition and a rate rel_tol x 1.5 above it does not."""
    from fleet.mlperf import meets_limits, server_throughput

    s = replace(LOAD, metric="throughput", rate=None, tpot_limit=0.02)
    thr, run = server_throughput(s, duration=20, rel_tol=0.05)
    assert meets_limits(run) and thr == run.throughput
    above = simulate_mlperf(replace(s, rate=run.setup.rate * 1.08, metric="tpot"), duration=20)
    assert not meets_limits(above)
    assert float(np.nanpercentile(run.result.tpot, 99)) <= 0.02


def test_simulated_slot_context_is_the_length_biased_closed_form():
    """Per-request lengths drawn from the OpenOrca distribution: the simulator's iteration-average context of a
    decode slot equals the per-request sum formula on the sampled lengths (every iteration accounted, exact), and
    the closed form over the distribution within a few per cent (a long run); constant lengths give prompt +
    output / 2."""
    from inference.lengths import slot_context
    from inference.mlperf import run_lengths

    s = replace(LOAD, lengths="openorca", prompt=222.3, output=290.3)
    run = simulate_mlperf(s, duration=150)
    res, pool = run.result, run.result.pools[0]
    assert pool["mean_slot_context"] == pytest.approx(slot_context(res.prompt, res.output), rel=1e-12)
    assert pool["decode_slot_iterations"] == int((res.output - 1).sum())
    assert pool["mean_slot_context"] == pytest.approx(run_lengths(s).slot_context(), rel=0.03)
    assert pool["mean_slot_context"] > 1.1 * (s.prompt + s.output / 2)  # long outputs hold their slots longer
    flat = simulate_mlperf(LOAD, duration=20).result.pools[0]
    assert flat["mean_slot_context"] == pytest.approx(LOAD.prompt + round(LOAD.output) / 2)


def test_offline_simulation_conserves_tokens_and_drains_every_sample():
    from fleet.mlperf import simulate_offline

    s = replace(LOAD, scenario="offline", metric="throughput", rate=None, lengths="openorca", prompt=222.3,
                output=290.3, samples=300)
    run = simulate_offline(s)
    res = run.result
    assert res.n == 300 and np.all(res.finished_count == 1)
    assert int(res.generated.sum()) == int(res.output.sum())
    assert run.throughput * res.makespan == pytest.approx(float(res.output.sum()))
    assert res.output.mean() == pytest.approx(290.3, rel=0.1)  # drawn from the run's distribution
    assert np.array_equal(simulate_offline(s).result.output, res.output)  # deterministic


@pytest.mark.parametrize("macro_cap", [1, 1024])
def test_a_chunked_prompt_pays_its_attention_to_the_earlier_chunks(macro_cap):
    """persona (fleet operator): one 40,000-token prompt on an idle chunked pool (budget 4,096) had a TTFT of about
    half its unchunked prefill: each chunk's time was that of a first chunk (mixed_time(.., prefill_context=0)),
    dropping its attention to the tokens of the earlier chunks. The step model itself says the chunks with their
    prefixes add up to the whole prefill; the simulated TTFT must too (one by one and as a closed-form run)."""
    from fleet import Trace, simulate_serving
    from fleet.spec import FleetSpec, PoolSpec

    sm = step_model(LOAD)
    prompt, budget = 40_000, 4096
    chunks = sum(sm.mixed_time(0, 0, min(budget, prompt - d), 1, d) for d in range(0, prompt, budget))
    whole = sm.prefill_time(prompt, 1)
    assert whole <= chunks < 1.1 * whole  # the model's own chunks: the whole prefill plus a step's costs each
    pool = PoolSpec(name="engine", replicas=1, fabric="dgx-h100", model=LOAD.model, tp=1, batch=8,
                    token_budget=budget, chunked_prefill=True)
    res = simulate_serving(FleetSpec(pools=(pool,)), Trace([0.0], [prompt], [2]), step_models={"engine": sm},
                           macro_cap=macro_cap)
    assert res.ttft[0] == pytest.approx(chunks, rel=0.03)
