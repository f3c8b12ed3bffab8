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
    """The former criterion (latency="mean"): the mean iteration and the TTFT estimate within the limits."""
    eng = _Engine(SERVER, None, {})
    b = steady_state(SERVER, latency="mean")["batch"]
    assert 1 <= b <= eng.b_max
    assert eng.iteration(b) <= SERVER.tpot_limit and eng.ttft(b) <= SERVER.ttft_limit
    if b < eng.b_max:
        assert not eng.meets(b + 1)


def test_server_point_is_the_largest_batch_whose_p99s_meet_the_limits():
    """The default criterion: the predicted 99th percentiles within the limits, and below the former point
    (a percentile is above the mean)."""
    eng = _Engine(SERVER, None, {})
    st = steady_state(SERVER)
    b = st["batch"]
    assert 1 <= b < eng.b_max  # the slots are a queue: stable only below the cap
    t = eng.tails(b)
    assert t["tpot_p99"] <= SERVER.tpot_limit and t["ttft_p99"] <= SERVER.ttft_limit
    assert st["tpot_p99"] == t["tpot_p99"] and st["throughput"] == pytest.approx(BASE.engines * b / eng.iteration(b))
    if b < eng.b_max - 1:
        assert not eng.meets_p99(b + 1)
    assert b <= steady_state(SERVER, latency="mean")["batch"]


def test_without_prefill_traffic_the_p99_tpot_is_the_mean_iteration():
    """Outputs so long that almost no prompt arrives during a request's life, the in-flight count held fixed:
    every request sees the mean iteration."""
    s = replace(SERVER, output=1e5)
    eng = _Engine(s, None, {})
    for b in (8, 64):
        t = eng.tails(b, count_noise=False)
        assert t["tpot_p99"] == pytest.approx(eng.iteration(b), rel=2e-3)


def test_with_no_load_the_ttft_is_the_unloaded_prefill():
    """lambda -> 0 (no sequence in flight): no iteration to wait for, no queue; the first token comes after the
    prompt's own fused prefill step, for every request (constant prompt: the p99 is the mean)."""
    eng = _Engine(SERVER, None, {})
    c = eng.chunk(0)
    assert c == round(SERVER.prompt)  # the whole prompt fits the token budget
    alone = float(eng.sm.mixed_time(0, 0, c, 1, eng.prior(c)))
    t = eng.tails(0)
    assert t["rate"] == 0.0 and t["lane_util"] == 0.0 and t["slot_wait"] == 0.0
    assert t["ttft_mean"] == pytest.approx(alone, rel=5e-3)
    assert t["ttft_p99"] == pytest.approx(alone, rel=5e-3)


def test_percentiles_grow_with_the_load():
    eng = _Engine(SERVER, None, {})
    rows = [eng.tails(b) for b in (4, 32, 96, 192, 320)]
    for r in rows:
        assert r["tpot_p99"] >= r["tpot_mean"] and r["ttft_p99"] >= r["ttft_mean"]
    for key in ("rate", "tpot_mean", "tpot_p99", "ttft_mean", "ttft_p99", "lane_util"):
        vals = [r[key] for r in rows]
        assert vals == sorted(vals), key


def test_pooled_dispatch_narrows_the_tpot_tail():
    """Poisson arrivals at each engine (no dispatcher evening them out) spread TPOT more than round robin."""
    b = 192
    rr = _Engine(replace(SERVER, scenario="interactive"), None, {}).tails(b)
    poisson = _Engine(replace(SERVER, scenario="interactive", dispatch="poisson"), None, {}).tails(b)
    assert rr["tpot_mean"] == poisson["tpot_mean"]
    assert rr["tpot_p99"] < poisson["tpot_p99"]
    assert rr["ttft_p99"] <= poisson["ttft_p99"]  # the prefill lane's queue too (Kingman's scaling)


def test_offered_rate_beyond_capacity_saturates():
    from inference.mlperf import latency_percentiles

    light = latency_percentiles(SERVER, rate=5.0)
    assert not light["saturated"] and light["ttft_p99"] < SERVER.ttft_limit
    heavy = latency_percentiles(SERVER, rate=1e5)
    assert heavy["saturated"] and heavy["batch"] == _Engine(SERVER, None, {}).b_max - 1


@pytest.mark.parametrize("label", [
    "MLPerf v4.1 Llama-2-70B FP8, 8x H200 (8x TP1), Server",
    "MLPerf v5.1 Llama-3.1-8B FP4, 8x B200 (8x TP1), Interactive",
    "MLPerf v5.1 Llama-3.1-405B FP4, 8x B200 (2x TP4), Interactive",
])
def test_server_rows_hold_fewer_sequences_than_the_mean_criterion(label):
    """The p99 criterion admits at most the former (mean-iteration) in-flight count; where the throughput
    curve b / T(b) rises with b, the predicted throughput falls too."""
    s = next(x for x in MLPERF_SETUPS if x.label == label)
    new, old = steady_state(s), steady_state(s, latency="mean")
    assert new["batch"] <= old["batch"]
    assert new["throughput"] <= old["throughput"]
    assert new["tpot_p99"] <= s.tpot_limit and new["ttft_p99"] <= s.ttft_limit


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


def test_each_row_runs_its_submissions_kv_fraction():
    # kvcache_free_gpu_mem_frac of the configs: v4.1 llama2-70b 0.90; v5.1 llama2-70b / 405B 0.95, 8B / R1 0.9
    frac = {s.label: s.kv_fraction for s in MLPERF_SETUPS}
    for label, f in frac.items():
        want = 0.9 if ("v4.1" in label or "8B" in label or "DeepSeek" in label) else 0.95
        assert f == want, label
    s = next(s for s in MLPERF_SETUPS if s.label == "MLPerf v4.1 Llama-2-70B FP8, 8x H200 (8x TP1), Server")
    eng, at95 = _Engine(s, None, {}), _Engine(s, None, {"hbm_usable": 0.95})
    assert eng.sm.deployment.hbm_usable == 0.9
    # the KV pool scales with the fraction of free memory: fewer sequences fit (here still above the batch cap)
    assert eng.sm.max_batch(eng.ctx) < at95.sm.max_batch(at95.ctx)
    assert eng.b_max == min(s.batch_cap, eng.sm.max_batch(eng.ctx))


def test_steady_state_rejects_an_unknown_latency_criterion():
    """A latency criterion other than 'p99' / 'mean' is a user error naming the parameter (SpecError, one line)."""
    from inference.mlperf import MLPERF_SETUPS, steady_state
    from topo import SpecError

    with pytest.raises(SpecError, match="latency must be 'p99' or 'mean'"):
        steady_state(MLPERF_SETUPS[0], latency="p95")


def test_group_summary_splits_the_held_out_rows_by_kind():
    from inference.mlperf import MLPERF_SETUPS
    from inference.validation import GROUPS, SETUPS, group_of, group_summary

    kinds = {group_of(s) for s in SETUPS}  # SETUPS holds the MLPerf rows too
    assert kinds == set(GROUPS)
    deepseek = next(s for s in MLPERF_SETUPS if s.model == "deepseek-v3" and s.metric == "throughput")
    assert group_of(deepseek) == "MLPerf MoE throughput"
    rows = [{"role": "held-out", "group": "serving", "error": e} for e in (0.1, -0.3, 0.2)]
    rows += [{"role": "calibration", "group": "serving", "error": 5.0},  # calibration rows do not count
             {"role": "held-out", "group": "MLPerf at-load latency", "error": float("nan")}]
    assert group_summary(rows) == {"serving": (3, 0.2, 0.3)}


@pytest.mark.parametrize("module,argv", [("inference.validation", ["--stack", "bogus"]),
                                         ("inference.validation", ["--backend", "bogus"]),
                                         ("inference.mlperf", ["--stack", "bogus"]),
                                         ("fleet.mlperf", ["--table", "--stack", "bogus"])])
def test_module_clis_reject_an_unknown_stack_in_one_line(module, argv, capsys):
    import importlib

    with pytest.raises(SystemExit) as exc:
        importlib.import_module(module).main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'bogus'" in err and "Traceback" not in err
