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
    assert st["batch"] == eng.b_max <= BASE.batch_cap
    assert eng.b_max * (1 + BASE.prompt / BASE.output) <= BASE.pp * BASE.token_budget
    assert eng.b_max <= eng.sm.max_batch(eng.ctx)
    # at least one limit binds: one more sequence breaks the cap or the token budget or HBM
    b = eng.b_max + 1
    assert (b > BASE.batch_cap or b * (1 + BASE.prompt / BASE.output) > BASE.pp * BASE.token_budget
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


def test_pipeline_stages_split_the_batch_into_micro_batches():
    """With pp stages, one iteration = one pipeline pass of a micro-batch of b/pp sequences (plus prefill/pp)."""
    s = replace(BASE, model="llama3.1-70b", tp=2, pp=2, engines=2, output=1e6)  # < 1 new prompt token per iteration
    eng = _Engine(s, None, {})
    b = 64
    assert eng.iteration(b) == pytest.approx(float(eng.sm.decode_time(b // 2, eng.ctx)))
    # the pipelined engine makes b tokens per pass of b/pp sequences: more than one micro-batch of b would
    assert b / eng.iteration(b) > b / float(eng.sm.decode_time(b, eng.ctx))


def test_one_pass_bound_is_never_slower():
    """The one-pass bound counts the prefill's weights and per-pass costs once: iterations no longer."""
    add, one = _Engine(SERVER, None, {}), _Engine(SERVER, None, {}, one_pass=True)
    for b in (1, 16, 128, 400):
        assert one.iteration(b) <= add.iteration(b)
    assert predict_mlperf(BASE, one_pass=True)["predicted"] >= predict_mlperf(BASE)["predicted"]


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
