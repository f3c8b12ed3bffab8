"""MLPerf rows of the validation table: the steady-state operating points obey their own definitions."""

from dataclasses import replace

import pytest

from inference.mlperf import MLPERF_SETUPS, MLPerfSetup, _Engine, predict_mlperf, sensitivity, steady_state

#: a small, fast setup (Llama-3.1-8B on two H100 engines of TP1) in each scenario
BASE = MLPerfSetup("test 8B", "llama3.1-8b", "h100-sxm", "dgx-h100", 1, 1, 1, 2, "fp8", 800.0, 150.0, "offline",
                   1.0, 512, 4096, "test")
SERVER = replace(BASE, scenario="server", ttft_limit=2.0, tpot_limit=0.03)
LOAD = replace(SERVER, metric="tpot", rate=40.0)


def test_offline_batch_is_the_tightest_of_cap_memory_and_token_budget():
    eng = _Engine(BASE, None, {})
    st = steady_state(BASE)
    assert st["batch"] == eng.b_max <= BASE.pp * BASE.batch_cap
    assert eng.b_max * (1 + BASE.prompt / BASE.output) <= BASE.pp * BASE.token_budget
    assert eng.b_max <= eng.sm.max_batch(eng.ctx)
    # at least one limit binds: one more sequence breaks the cap or the token budget or HBM
    b = eng.b_max + 1
    assert (b > BASE.pp * BASE.batch_cap or b * (1 + BASE.prompt / BASE.output) > BASE.pp * BASE.token_budget
            or b > eng.sm.max_batch(eng.ctx))
    # system throughput = engines x in-flight sequences / iteration time
    assert st["throughput"] == pytest.approx(BASE.engines * st["batch"] / eng.iteration(st["batch"]))


def test_server_point_is_the_largest_batch_meeting_the_tpot_limit():
    eng = _Engine(SERVER, None, {})
    b = steady_state(SERVER)["batch"]
    assert 1 <= b <= eng.b_max
    assert eng.iteration(b) <= SERVER.tpot_limit and eng.ttft(b) <= SERVER.ttft_limit
    if b < eng.b_max:
        assert not eng.meets(b + 1)


@pytest.mark.parametrize("limit", [0.02, 0.03, 0.06])
def test_a_tighter_tpot_limit_never_admits_more_sequences(limit):
    loose = steady_state(replace(SERVER, tpot_limit=limit * 1.5))["batch"]
    tight = steady_state(replace(SERVER, tpot_limit=limit))["batch"]
    assert tight <= loose


def test_load_point_obeys_littles_law():
    """In flight = arrival rate per engine x output tokens x iteration time (the smallest b that keeps up)."""
    eng = _Engine(LOAD, None, {})
    st = steady_state(LOAD)
    b, lam = st["batch"], LOAD.rate / LOAD.engines
    assert b >= lam * LOAD.output * eng.iteration(b)
    assert b == 1 or b - 1 < lam * LOAD.output * eng.iteration(b - 1)
    assert predict_mlperf(LOAD)["predicted"] == pytest.approx(eng.iteration(b))
    # more load, more sequences in flight, a slower iteration
    busier = steady_state(replace(LOAD, rate=LOAD.rate * 2))
    assert busier["batch"] >= b and busier["tpot"] >= st["tpot"]


def test_pipeline_stages_run_pp_micro_batches_of_the_batch_cap():
    """TensorRT-LLM in-flight batching with pp stages: pp micro-batches, each up to gpu_batch_size sequences;
    with (almost) no prefill an iteration is the decode step of the whole batch (pp micro-batch passes)."""
    s = replace(BASE, model="llama3.1-70b", tp=2, pp=2, engines=2, output=1e6, batch_cap=64)
    eng = _Engine(s, None, {})
    assert eng.b_max == min(2 * 64, eng.sm.max_batch(eng.ctx))
    b = 64
    assert eng.iteration(b) == pytest.approx(float(eng.sm.decode_time(b, eng.ctx)), rel=1e-3)


def test_chunks_per_iteration_average_to_the_new_prompt_tokens():
    """k = b x prompt / output / chunk chunks per iteration on average: floor(k) and ceil(k) mixed to give k,
    so the iteration time is linear between them (and a whole number of chunks is one fused step)."""
    eng = _Engine(SERVER, None, {})
    b = 300
    c = eng.chunk(b)
    assert c == min(round(SERVER.prompt), SERVER.token_budget - b)
    k = b * SERVER.prompt / SERVER.output / c
    lo = int(k)
    t_lo = float(eng.sm.mixed_time(b, eng.ctx, lo * c, lo)) if lo else float(eng.sm.decode_time(b, eng.ctx))
    t_hi = float(eng.sm.mixed_time(b, eng.ctx, (lo + 1) * c, lo + 1))
    assert eng.iteration(b) == pytest.approx(t_lo + (k - lo) * (t_hi - t_lo))


def test_fused_iteration_is_never_slower_than_the_additive_bound():
    """The fused step reads weights once: iterations no longer than a decode step plus a separate prefill."""
    fused, add = _Engine(SERVER, None, {}), _Engine(SERVER, None, {}, additive=True)
    for b in (1, 16, 128, 400):
        assert fused.iteration(b) <= add.iteration(b)
    assert predict_mlperf(BASE, additive=True)["predicted"] <= predict_mlperf(BASE)["predicted"]


def test_sensitivity_at_factor_one_is_the_prediction():
    assert sensitivity(BASE, 1.0) == pytest.approx(predict_mlperf(BASE)["predicted"])


def test_rows_are_held_out_and_cite_their_logs():
    from inference.validation import SETUPS

    assert all(s in SETUPS for s in MLPERF_SETUPS)
    for s in MLPERF_SETUPS:
        assert s.role == "held-out"
        assert "mlperf_log_summary.txt" in s.source and "github.com/mlcommons/inference_results_v" in s.source
        assert s.metric in ("throughput", "tpot", "ttft")
        assert (s.rate is not None) == (s.metric != "throughput")
        if s.scenario != "offline":
            assert s.tpot_limit is not None and s.ttft_limit is not None
            assert s.min_duration >= 600.0  # loadgen's default minimum run, or longer as configured
