"""Tests of fleet/: traces, fleet specs, the serving simulation, KV transfers, routers.

Step times come from LinearStepModel (affine, so every expected time can be worked out by hand).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet import (
    WORKLOADS,
    LinearStepModel,
    Trace,
    build_kv_fabric,
    fleet_from_dict,
    load_fleet,
    load_trace,
    poisson_trace,
    simulate_serving,
    synthetic_trace,
)
from topo import CapacityError, SpecError

LIN = {"prefill_base": "2ms", "prefill_per_token": "40us", "decode_base": "15ms", "decode_per_seq": "0.1ms",
       "decode_per_kv_token": "4ns", "kv_capacity_tokens": 300000, "kv_bytes_per_token": 163840,
       "cost_per_hour": 20}


def colocated(replicas=3, batch=32, **extra):
    return {"pools": [{"name": "c", "step_model": LIN, "replicas": replicas, "batch": batch, **extra}]}


def disagg(bw="100Gbps", lat="3us", uplink=None, np_=2, nd=3):
    kv = {"bandwidth": bw, "latency": lat}
    if uplink:
        kv["pool_uplink"] = uplink
    return {"pools": [{"name": "p", "role": "prefill", "step_model": LIN, "replicas": np_, "batch": 8},
                      {"name": "d", "role": "decode", "step_model": {**LIN, "cost_per_hour": 10},
                       "replicas": nd, "batch": 64}],
            "kv_network": kv}


# ---------------------------------------------------------------------------------------------- traces
def test_trace_csv_roundtrip(tmp_path):
    tr = synthetic_trace(3.0, 20.0, "sharegpt", seed=4)
    path = tmp_path / "t.csv"
    tr.save(path)
    back = load_trace(path)
    assert np.array_equal(back.arrival, tr.arrival)
    assert np.array_equal(back.prompt, tr.prompt) and np.array_equal(back.output, tr.output)


def test_trace_file_errors(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("arrival_s,prompt_tokens,output_tokens\n0.5,100,10\n1.0,abc,3\n")
    with pytest.raises(SpecError, match="line 3"):
        load_trace(p)
    p.write_text("0.5,0,10\n")
    with pytest.raises(SpecError, match="prompt tokens"):
        load_trace(p)


def test_poisson_rate_and_lengths_match_their_distributions():
    tr = poisson_trace(20.0, 2000.0, prompt="azure-conv", seed=1)
    n = len(tr)
    # count of a Poisson process: mean 40,000, sd 200
    assert abs(n - 40000) < 5 * 200
    gaps = np.diff(tr.arrival)
    assert abs(gaps.mean() - 1 / 20) < 0.02 / 20 * 5
    w = WORKLOADS["azure-conv"]
    assert abs(np.median(tr.prompt) / w.prompt_median - 1) < 0.05
    assert abs(np.median(tr.output) / w.output_median - 1) < 0.05


def test_trace_deterministic_under_seed():
    a, b, c = (poisson_trace(5.0, 50.0, seed=s) for s in (7, 7, 8))
    assert np.array_equal(a.arrival, b.arrival) and np.array_equal(a.prompt, b.prompt)
    assert not np.array_equal(a.arrival[:10], c.arrival[:10])


# ---------------------------------------------------------------------------------------------- M/D/1
def test_md1_matches_pollaczek_khinchine():
    """One replica, batch 1, deterministic service S, Poisson arrivals: mean wait = rho S / (2 (1 - rho)).

    Tolerance 5 %: with 40,000 requests at rho = 0.5 the sampling error of the mean wait is ~2 %
    (spread over seeds 0-5 was -0.9 % .. +3.4 %). The per-request waits must also equal Lindley's
    recursion W' = max(0, W + S - A) exactly (an independent computation of the same queue).
    """
    lam, S = 5.0, 0.1
    tr = poisson_trace(lam, 8000.0, prompt=100, output=1, seed=0)
    lin = LinearStepModel(prefill_per_token=S / 100, decode_base=0.01)
    res = simulate_serving(colocated(replicas=1, batch=1), tr, step_models={"c": lin})
    rho = lam * S
    pk = rho * S / (2 * (1 - rho))
    assert abs(res.queue_delay.mean() / pk - 1) < 0.05
    w = np.empty(len(tr))
    w[0] = 0.0
    gaps = np.diff(tr.arrival)
    for i in range(1, len(tr)):
        w[i] = max(0.0, w[i - 1] + S - gaps[i - 1])
    assert np.allclose(res.queue_delay, w, atol=1e-9)
    assert np.allclose(res.ttft, w + S, atol=1e-9)
    assert abs(res.utilisation[0] - rho) < 0.02


# ---------------------------------------------------------------------------------------------- accounting
def test_slo_accounting_by_hand():
    """Two requests on one replica of batch 1 (prefill 0.1 s, decode 0.01 s per token), worked by hand.

    r0 arrives at 0: prefill 0..0.1 (TTFT 0.1), 10 decodes to 0.2 (TPOT 0.01).
    r1 arrives at 0.05: waits for the slot, prefill 0.2..0.3 (TTFT 0.25), decodes to 0.4.
    """
    tr = Trace(np.array([0.0, 0.05]), np.array([100, 100]), np.array([11, 11]))
    lin = LinearStepModel(prefill_per_token=1e-3, decode_base=0.01)
    res = simulate_serving(colocated(replicas=1, batch=1), tr, step_models={"c": lin},
                           slo_ttft=0.2, slo_tpot=0.0101)
    assert np.allclose(res.ttft, [0.1, 0.25])
    assert np.allclose(res.tpot, [0.01, 0.01])
    assert np.allclose(res.latency, [0.2, 0.35])
    assert list(res.met_slo) == [True, False]
    assert res.makespan == pytest.approx(0.4)
    assert res.goodput == pytest.approx(1 / 0.4)
    s = res.summary()
    assert s["slo_attainment"] == 0.5
    # cost: $1/h (LinearStepModel default) for 0.4 s over 22 output tokens
    assert res.cost_per_mtok == pytest.approx(1 / 3600 * 0.4 / 22 * 1e6)
    res2 = simulate_serving(colocated(replicas=1, batch=1), tr, step_models={"c": lin},
                            slo_ttft=0.3, slo_tpot=0.0099)
    assert list(res2.met_slo) == [False, False]


def test_continuous_batching_admits_at_the_next_iteration_boundary():
    """r1 arrives mid-decode of r0 (batch 2): it is prefilled at the end of the running decode step."""
    tr = Trace(np.array([0.0, 0.125]), np.array([100, 100]), np.array([11, 3]))
    lin = LinearStepModel(prefill_per_token=1e-3, decode_base=0.01)
    res = simulate_serving(colocated(replicas=1, batch=2), tr, step_models={"c": lin})
    # r0: prefill to 0.1, decodes at 0.11, 0.12, 0.13 (r1 waits for this boundary), r1 prefill 0.13..0.23
    assert res.ttft[1] == pytest.approx(0.23 - 0.125)
    assert res.queue_delay[1] == pytest.approx(0.13 - 0.125)
    # r0 got 3 decode tokens by 0.13, then 7 more with r1 in the batch after the prefill: finish 0.30
    assert res.latency[0] == pytest.approx(0.30)


@pytest.mark.parametrize("fleet", [colocated(), colocated(chunked_prefill=True, token_budget=512), disagg(),
                                   disagg(uplink="50Gbps")])
def test_conservation(fleet):
    tr = synthetic_trace(8.0, 30.0, "azure-conv", seed=3)
    res = simulate_serving(fleet, tr)
    assert np.all(res.finished_count == 1)
    assert np.array_equal(res.generated, res.output)
    assert np.all(res.ttft > 0) and np.all(res.latency >= res.ttft - 1e-12)
    assert np.all(res.queue_delay >= -1e-12)
    assert np.all(res.utilisation <= 1 + 1e-9)
    assert res.summary()["output_tokens"] == int(tr.output.sum())


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 6), st.integers(1, 16), st.booleans(), st.integers(0, 10_000))
def test_conservation_property(replicas, batch, chunked, seed):
    tr = poisson_trace(6.0, 8.0, prompt="sharegpt", seed=seed)
    res = simulate_serving(colocated(replicas=replicas, batch=batch, chunked_prefill=chunked, token_budget=256), tr)
    assert np.all(res.finished_count == 1)
    assert int(res.generated.sum()) == int(tr.output.sum())


def test_macro_steps_equal_single_steps():
    """Simulating unchanged-batch decode iterations together must give the step-by-step times."""
    tr = synthetic_trace(10.0, 20.0, "sharegpt", seed=5)
    a = simulate_serving(colocated(replicas=2, batch=16), tr)
    b = simulate_serving(colocated(replicas=2, batch=16), tr, macro_cap=1)
    assert np.allclose(a.latency, b.latency, rtol=1e-9, atol=1e-9)
    assert np.allclose(a.ttft, b.ttft, rtol=1e-9, atol=1e-9)


def test_kv_capacity_limits_the_batch():
    """With KV room for 2 requests of 1,100 tokens, batch 8 still runs at most 2 at once."""
    tr = Trace(np.zeros(4), np.full(4, 1000), np.full(4, 100))
    fleet = colocated(replicas=1, batch=8, kv_capacity_tokens=2200)
    res = simulate_serving(fleet, tr)
    order = np.argsort(res.ttft)
    # the third request's prefill starts only when one of the first two finishes
    assert res.queue_delay[order[2]] >= np.sort(res.latency)[0] - 1e-12
    with pytest.raises(CapacityError, match="does not fit"):
        simulate_serving(colocated(replicas=1, kv_capacity_tokens=500), tr)


# ---------------------------------------------------------------------------------------------- KV transfers
def _engine_arrivals(fab, src, dst, size, start):
    from traffic import simulate_arrays

    return simulate_arrays(fab, np.asarray(src), np.asarray(dst), np.asarray(size, dtype=float),
                           start=np.asarray(start, dtype=float)).arrival


def test_single_kv_transfer_equals_engine_and_closed_form():
    tr = Trace(np.array([0.0]), np.array([2000]), np.array([5]))
    fleet = disagg(bw="100Gbps", lat="3us")
    res = simulate_serving(fleet, tr)
    size = 2000 * 163840
    fab = build_kv_fabric(load_fleet(fleet).kv_network, [2, 3], ["p", "d"])
    src, dst = int(res.prefill_replica[0]), int(res.decode_replica[0])
    t_engine = _engine_arrivals(fab, [src], [dst], [size], [0.0])[0]
    assert res.kv_time[0] == pytest.approx(t_engine, rel=1e-9)
    assert res.kv_time[0] == pytest.approx(size / 12.5e9 + 2 * 3e-6, rel=1e-9)
    # the transfer shows in TPOT: (kv + 4 decodes) / 4
    dec = LinearStepModel(decode_base=0.015, decode_per_seq=1e-4, decode_per_kv_token=4e-9)
    steps = sum(dec.decode_time(1, 2001 + i) for i in range(4))
    assert res.tpot[0] == pytest.approx((res.kv_time[0] + steps) / 4, rel=1e-9)


@pytest.mark.parametrize("uplink", [None, "40Gbps"])
def test_contending_kv_transfers_equal_engine(uplink):
    """Every transfer of a busy disaggregated run arrives when the traffic engine says it would."""
    tr = synthetic_trace(12.0, 20.0, "azure-code", seed=2)
    fleet = disagg(bw="25Gbps", lat="5us", uplink=uplink, np_=3, nd=4)
    res = simulate_serving(fleet, tr)
    sel = np.isfinite(res.kv_time)
    assert sel.sum() > 100
    spec = load_fleet(fleet)
    fab = build_kv_fabric(spec.kv_network, [3, 4], ["p", "d"])
    start = res.arrival[sel] + res.ttft[sel]  # the transfer starts at the first token
    size = res.prompt[sel] * 163840.0
    arr = _engine_arrivals(fab, res.prefill_replica[sel], res.decode_replica[sel], size, start)
    assert np.allclose(start + res.kv_time[sel], arr, rtol=1e-9, atol=1e-9)
    # contention really happened: some transfer took longer than alone on its NIC
    alone = size / (25e9 / 8) + (4 if uplink else 2) * 5e-6
    assert np.any(res.kv_time[sel] > alone * 1.01)


# ---------------------------------------------------------------------------------------------- determinism, routers
def test_deterministic_under_seed():
    a = simulate_serving(disagg(), rate=6.0, duration=20.0, seed=11, router="shortest-expected")
    b = simulate_serving(disagg(), rate=6.0, duration=20.0, seed=11, router="shortest-expected")
    c = simulate_serving(disagg(), rate=6.0, duration=20.0, seed=12, router="shortest-expected")
    for k in ("ttft", "tpot", "latency", "kv_time"):
        assert np.array_equal(getattr(a, k), getattr(b, k), equal_nan=True)
    sa, sb = a.summary(), b.summary()  # NaN-aware: a run without KV transfers has NaN means
    assert sa.keys() == sb.keys()
    assert all(sa[k] == sb[k] or (sa[k] != sa[k] and sb[k] != sb[k]) for k in sa), (sa, sb)
    assert len(a.ttft) != len(c.ttft) or not np.array_equal(a.ttft, c.ttft)


def two_pools(price_b=5.0):
    return {"pools": [{"name": "a", "step_model": LIN, "replicas": 2, "batch": 32},
                      {"name": "b", "step_model": {**LIN, "cost_per_hour": price_b}, "replicas": 2, "batch": 32}]}


def test_user_router_callable():
    seen = []

    def only_b(req, pools):
        seen.append(req.phase)
        return "b"

    res = simulate_serving(two_pools(), rate=4.0, duration=10.0, router=only_b)
    assert set(res.prefill_replica.tolist()) <= {2, 3}
    assert len(seen) == res.n and set(seen) == {"prefill"}
    with pytest.raises(SpecError, match="router"):
        simulate_serving(two_pools(), rate=4.0, duration=10.0, router=lambda r, p: "nope")


def test_builtin_routers():
    rr = simulate_serving(two_pools(), rate=4.0, duration=10.0, router="round-robin")
    assert np.array_equal(rr.prefill_replica, np.arange(rr.n) % 4)
    # cost-aware sends everything it can to the cheaper pool b (identical speed, $5/h vs $20/h)
    ca = simulate_serving(two_pools(), rate=2.0, duration=10.0, router="cost-aware", slo_ttft=5, slo_tpot=1)
    assert np.mean(ca.prefill_replica >= 2) > 0.9
    ll = simulate_serving(two_pools(), rate=4.0, duration=10.0, router="least-loaded")
    assert len(set(ll.prefill_replica.tolist())) == 4
    with pytest.raises(SpecError, match="router"):
        simulate_serving(two_pools(), rate=4.0, duration=10.0, router="fastest")


# ---------------------------------------------------------------------------------------------- fleet YAML
@pytest.mark.parametrize("mutate, key", [
    (lambda d: d["pools"][0].update(colour="red"), "colour"),
    (lambda d: d["pools"][0].update(role="both"), "role"),
    (lambda d: d["pools"][0].update(replicas=0), "replicas"),
    (lambda d: d["pools"][0].update(tp="eight"), "tp"),
    (lambda d: d["pools"][0].pop("name"), "name"),
    (lambda d: d["pools"][0].update(price=-1), "price"),
    (lambda d: d["pools"][0]["step_model"].update(decode_base="fast"), "decode_base"),
    (lambda d: d.update(kv_network={"bandwidth": "10ms"}), "kv_network.bandwidth"),
    (lambda d: d.update(kv_network={"speed": 1}), "kv_network.speed"),
    (lambda d: d.update(pool=[]), "pool"),
    (lambda d: d["pools"].__setitem__(1, {**d["pools"][1], "name": "p"}), "duplicate"),
    (lambda d: d["pools"].pop(1), "decode"),
])
def test_bad_fleet_yaml_names_the_key(mutate, key):
    import copy

    d = copy.deepcopy(disagg())
    d["pools"][0]["step_model"] = dict(LIN)
    mutate(d)
    with pytest.raises(SpecError, match=key.replace(".", r"\.")):
        fleet_from_dict(d)


def test_load_fleet_yaml_file_and_bundled(tmp_path):
    p = tmp_path / "f.yaml"
    p.write_text("pools:\n  - name: x\n    step_model: {decode_base: 10ms}\n    replicas: 2\n    price: $3\n")
    spec = load_fleet(p)
    assert spec.pools[0].replicas == 2 and spec.pools[0].price == 3.0
    p.write_text("pools: [\n")
    with pytest.raises(SpecError, match="YAML"):
        load_fleet(p)
    with pytest.raises(SpecError, match="neither a file"):
        load_fleet(tmp_path / "missing.yaml")
    spec = load_fleet("disagg-gb200-maia200")
    assert spec.disaggregated and {p.role for p in spec.pools} == {"prefill", "decode"}


# ---------------------------------------------------------------------------------------------- planner
def _factory(chip, tp, ep):
    """Two made-up chips: 'fast' (expensive) and 'slow' (cheap); 'tiny' fits only at tp 8."""
    if chip == "tiny" and tp < 8:
        raise CapacityError(f"tiny: weights do not fit at tp {tp}")
    f = {"fast": (20e-6, 0.008, 8.0), "slow": (60e-6, 0.012, 3.0), "tiny": (40e-6, 0.010, 2.0)}[chip]
    return LinearStepModel(prefill_per_token=f[0] * 8 / tp, decode_base=f[1] * 8 / tp, decode_per_seq=5e-5,
                           decode_per_kv_token=2e-9, kv_capacity_tokens=2e5 * tp, chips=tp,
                           cost_per_hour=f[2] * tp)


def test_planner_searches_a_repeated_candidate_once():
    """`--candidates dgx-h100,dgx-h100` simulated and ranked every configuration twice ("same cost; ranked by
    name" against itself): a repeated name is searched once, in its first position."""
    from fleet import plan

    tr = synthetic_trace(10.0, 20.0, "azure-conv", seed=4)
    kw = dict(trace=tr, step_model_factory=_factory, tps=(8,), batches=(64,))
    once = plan("m", 10.0, 1.0, 0.05, ["fast", "slow"], **kw)
    twice = plan("m", 10.0, 1.0, 0.05, ["fast", "slow", "fast"], **kw)
    assert twice.table() == once.table() and len(twice.points) == len(once.points)
    assert twice.settings["candidates"] == ["fast", "slow"]


def test_planner_skips_simulations_that_cannot_keep_up():
    """`scaleup plan --rate 100000` ran for hours: at offered load >= 2x what max_replicas serve at full batching
    (rate x replica-time per request), the configuration is reported infeasible without simulating it; the
    skipped case really misses the SLOs when simulated, and a search with room still finds its plan."""
    from fleet import FleetSpec, PoolSpec, plan

    tr = synthetic_trace(200.0, 20.0, "azure-conv", seed=3)
    kw = dict(trace=tr, step_model_factory=_factory, tps=(8,), batches=(64,), modes=("colocated",))
    room = plan("m", 200.0, 1.0, 0.05, ["fast"], max_replicas=64, **kw)
    need = room.best.best.fleet.pools[0].replicas
    for cap in (2, need // 2):
        res = plan("m", 200.0, 1.0, 0.05, ["fast"], max_replicas=cap, **kw)
        assert res.best is None and res.points == [] and "not simulated" in res.candidates[0].reason
        fl = FleetSpec(pools=(PoolSpec(name="pool", fabric="fast", tp=8, batch=64, replicas=cap),))
        assert simulate_serving(fl, tr, slo_ttft=1.0, slo_tpot=0.05,
                                step_models={"pool": _factory("fast", 8, 1)}).slo_attainment < 0.9
    near = plan("m", 200.0, 1.0, 0.05, ["fast"], max_replicas=need - 1, **kw)  # within 2x: simulated
    assert near.points and "not simulated" not in near.candidates[0].reason


@pytest.mark.parametrize("slo_ttft, slo_tpot", [(1.0, 0.05), (0.4, 0.03)])
def test_planner_plan_meets_slos_in_its_own_simulation(slo_ttft, slo_tpot):
    from fleet import plan

    tr = synthetic_trace(10.0, 40.0, "azure-conv", seed=9)
    res = plan("m", 10.0, slo_ttft, slo_tpot, ["fast", "slow", "tiny"], trace=tr, step_model_factory=_factory,
               tps=(4, 8), batches=(64,))
    assert res.best is not None
    best = res.best.best
    sms = {p.name: _factory(p.fabric, p.tp, p.ep) for p in best.fleet.pools}
    again = simulate_serving(best.fleet, tr, slo_ttft=slo_ttft, slo_tpot=slo_tpot, step_models=sms)
    assert again.slo_attainment >= 0.9
    assert again.fleet_cost_per_hour == pytest.approx(best.cost_per_hour)
    # no feasible candidate is cheaper, and every point marked feasible really met the SLOs
    assert all(c.best.cost_per_hour >= best.cost_per_hour for c in res.candidates if c.feasible)
    assert all(p.attainment >= 0.9 for p in res.points if p.feasible)
    # tiny at tp4 does not fit and says so
    assert any("does not fit" in c.reason for c in res.candidates if c.config.startswith("tiny tp4"))
    # minimality for colocated plans: one replica fewer misses the SLOs
    if best.mode == "colocated" and best.fleet.pools[0].replicas > 1:
        import dataclasses

        fewer = dataclasses.replace(best.fleet.pools[0], replicas=best.fleet.pools[0].replicas - 1)
        worse = simulate_serving(dataclasses.replace(best.fleet, pools=(fewer,)), tr, slo_ttft=slo_ttft,
                                 slo_tpot=slo_tpot, step_models=sms)
        assert worse.slo_attainment < 0.9


def test_planner_reports_infeasible_and_plots(tmp_path):
    from fleet import plan

    res = plan("m", 5.0, 0.5, 0.001, ["fast"], duration=20.0, step_model_factory=_factory, tps=(8,),
               batches=(32,), seed=1)
    assert res.best is None
    assert all(not c.feasible and "TPOT" in c.reason for c in res.candidates)
    res = plan("m", 5.0, 1.0, 0.05, ["fast", "slow"], duration=20.0, step_model_factory=_factory, tps=(8,),
               batches=(32,), seed=1)
    out = res.plot(str(tmp_path / "p.png"))
    assert (tmp_path / "p.png").stat().st_size > 10000 and out.endswith("p.png")
    assert "cheapest" in res.table()


def test_plan_plot_with_nothing_simulated_writes_an_empty_figure(tmp_path):
    """A search where no deployment fits simulates nothing; its plot is a figure saying so (the log axes of no
    data raised matplotlib's ValueError, a traceback from `scaleup plan --plot`)."""
    from fleet import plan

    res = plan("llama3.1-8b", 2.0, 1.0, 0.05, ["dgx-h100"], duration=5.0, tps=(16,), batches=(32,),
               modes=("colocated",))
    assert res.best is None and res.points == [] and "does not fit" in res.candidates[0].reason
    assert res.plot(str(tmp_path / "p.png")).endswith("p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_queue_length_series_obeys_littles_law():
    """Time-averaged queue length = arrival rate x mean wait (Little), from the sampled series."""
    lam, S = 5.0, 0.1
    tr = poisson_trace(lam, 2000.0, prompt=100, output=1, seed=3)
    lin = LinearStepModel(prefill_per_token=S / 100, decode_base=0.01)
    res = simulate_serving(colocated(replicas=1, batch=1), tr, step_models={"c": lin}, queue_samples=200_001)
    q = res.queue_len["c"]
    # the series counts requests waiting (arrived, not admitted); Little: L_q = lambda_hat x W_q
    lam_hat = res.n / res.makespan
    assert q.mean() == pytest.approx(lam_hat * res.queue_delay.mean(), rel=0.03)
    assert q.min() >= 0


def test_router_from_file(tmp_path):
    from fleet import get_router

    f = tmp_path / "myrouter.py"
    f.write_text("def pick(req, pools):\n    return pools[-1].name\n")
    r = get_router(f"{f}:pick")
    res = simulate_serving(two_pools(), rate=3.0, duration=5.0, router=r)
    assert set(res.prefill_replica.tolist()) <= {2, 3}
    with pytest.raises(SpecError, match="cannot load"):
        get_router(f"{f}:missing")


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 0.01), st.integers(0, 6), st.integers(0, 6), st.floats(1e3, 5e7)),
                min_size=1, max_size=25),
       st.booleans())
def test_kv_network_online_equals_engine(transfers, uplink):
    """Online max-min transfers (with the independent-component shortcut) = traffic.simulate_arrays."""
    import simpy

    from fleet import KVNetwork, KVNetworkSpec

    spec = KVNetworkSpec(bandwidth=12.5e9, latency=1e-6, pool_uplink=20e9 if uplink else None)
    fab = build_kv_fabric(spec, [3, 4], ["a", "b"])
    transfers = [(t, s, d if d != s else (d + 1) % 7, z) for t, s, d, z in transfers]
    env = simpy.Environment()
    net = KVNetwork(env, fab)
    got = np.full(len(transfers), np.nan)

    def start(i, t, s, d, z):
        yield env.timeout(t)
        ev = net.transfer(s, d, z)
        yield ev
        got[i] = env.now

    for i, tr in enumerate(transfers):
        env.process(start(i, *tr))
    env.run()
    t, s, d, z = (np.array(x) for x in zip(*transfers))
    want = _engine_arrivals(fab, s, d, z, t)
    assert np.allclose(got, want, rtol=1e-9, atol=1e-12)


def test_chunked_prefill_timeline_by_hand():
    """Budget 64 tokens/iteration, prefill 1 ms/token, decode 10 ms/iteration (worked by hand).

    r0 (prompt 100, output 3) at 0: chunks 64 + 36 -> first token at 0.100; decode -> 0.110.
    r1 (prompt 50, output 2) at 0.105: admitted at the 0.110 boundary; the next iteration carries r0's
    decode and r1's whole prompt (50 <= 64 - 1): 0.050 + 0.010 -> 0.170 (r0 done, r1's first token);
    r1 decodes alone -> 0.180.
    """
    tr = Trace(np.array([0.0, 0.105]), np.array([100, 50]), np.array([3, 2]))
    lin = LinearStepModel(prefill_per_token=1e-3, decode_base=0.01)
    res = simulate_serving(colocated(replicas=1, batch=4, chunked_prefill=True, token_budget=64), tr,
                           step_models={"c": lin})
    assert np.allclose(res.ttft, [0.100, 0.170 - 0.105])
    assert np.allclose(res.latency, [0.170, 0.180 - 0.105])
    assert np.allclose(res.tpot, [0.035, 0.010])


def test_load_prices(tmp_path):
    from fleet import load_prices

    p = tmp_path / "prices.yaml"
    p.write_text("maia200: 3.0\ngb200-nvl72: '$6.5'\n")
    assert load_prices(p) == {"maia200": 3.0, "gb200-nvl72": 6.5}
    p.write_text("maia200: -1\n")
    with pytest.raises(SpecError, match="prices.maia200"):
        load_prices(p)
    p.write_text("- 3\n")
    with pytest.raises(SpecError, match="must map"):
        load_prices(p)


def test_plan_reads_the_prices_file_infer_reads(tmp_path):
    """One prices file for every run: infer's --prices form (under 'prices:', entries {price_per_hour} or
    {capex}) was 'prices.prices: expected a number' in plan. price_per_hour is the price; a capex entry is
    capex / (4 years x 8766 h) + system power (TDP + host share) x 0.7 x PUE 1.3 x $0.08/kWh (inference's defaults),
    for a chip or fabric key."""
    from fleet import load_prices

    p = tmp_path / "prices.yaml"
    p.write_text("prices:\n  h100-sxm: 2.5\n  b200: {capex: 40000, price_per_hour: 4.0}\n"
                 "  maia200: {capex: 20000}\n  dgx-h100: {capex: 35064}\n")
    got = load_prices(p)
    assert got["h100-sxm"] == 2.5 and got["b200"] == 4.0
    from topo import CHIPS

    watts = {k: CHIPS[k].tdp + CHIPS[k].host_power for k in ("maia200", "h100-sxm")}
    assert got["maia200"] == pytest.approx(20000 / (4 * 8766) + watts["maia200"] * 0.7 * 1.3 * 0.08 / 1000, rel=1e-12)
    assert got["dgx-h100"] == pytest.approx(1.0 + watts["h100-sxm"] * 0.7 * 1.3 * 0.08 / 1000, rel=1e-12)
    p.write_text("mychip: {capex: 1000}\n")
    with pytest.raises(SpecError, match=r"prices\.mychip: .*price_per_hour"):
        load_prices(p)
    p.write_text("maia200: {capex: -1}\n")
    with pytest.raises(SpecError, match=r"prices\.maia200"):
        load_prices(p)


def test_trace_path_and_per_request_csv_match_the_objects(tmp_path):
    """Python parity with `scaleup serve --trace F --out G`: a CSV path works as the trace, and
    ServingResult.to_csv writes one row per request with the per-request arrays."""
    import csv

    tr = synthetic_trace(4.0, 5.0, "azure-conv", seed=2)
    path = tmp_path / "t.csv"
    tr.save(path)
    a = simulate_serving(colocated(replicas=1), tr)
    b = simulate_serving(colocated(replicas=1), str(path))
    assert np.array_equal(a.latency, b.latency)
    out = b.to_csv(tmp_path / "req.csv")
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(tr)
    assert [float(r["ttft_s"]) for r in rows] == b.ttft.tolist()
    assert [int(r["prompt_tokens"]) for r in rows] == tr.prompt.tolist()
    assert [r["met_slo"] == "True" for r in rows] == b.met_slo.tolist()


def test_plan_takes_a_prices_path_as_the_cli_does(tmp_path):
    """Parity with `scaleup plan --prices FILE`: a path is read with load_prices (a bad file names it)."""
    from fleet import plan

    with pytest.raises(SpecError, match="prices"):
        plan("m", 5.0, 1.0, 0.05, ["fast"], duration=5.0, step_model_factory=_factory, tps=(8,), batches=(32,),
             prices=str(tmp_path / "missing.yaml"))
    p = tmp_path / "prices.yaml"
    p.write_text("fast: 1.0\n")
    a = plan("m", 5.0, 1.0, 0.05, ["fast"], duration=5.0, step_model_factory=_factory, tps=(8,), batches=(32,),
             prices=p)
    b = plan("m", 5.0, 1.0, 0.05, ["fast"], duration=5.0, step_model_factory=_factory, tps=(8,), batches=(32,),
             prices={"fast": 1.0})
    assert a.table() == b.table()


def test_plan_prices_keys_in_any_case_as_infer_reads_them():
    """One prices file for infer and plan: infer reads ``H100-SXM: 2.5`` (keys in any case) but plan refused it as
    naming nothing. Plan matches preset names in any case too; the candidate's own key still wins, and a
    misspelt key is still an error."""
    from fleet.plan import _prices_by_candidate

    assert _prices_by_candidate({"H100-SXM": 2.5}, ["dgx-h100"]) == {"dgx-h100": 2.5}
    assert _prices_by_candidate({"DGX-H100": 6.0, "h100-sxm": 2.5, "Maia200": 3.0}, ["dgx-h100", "maia200"]) == \
        {"dgx-h100": 6.0, "maia200": 3.0}
    with pytest.raises(SpecError, match=r"^prices\.h100: names no candidate"):
        _prices_by_candidate({"H100": 2.5}, ["dgx-h100"])


def test_plan_prices_by_chip_name_and_a_misspelt_key_is_an_error():
    """`scaleup plan --prices` keyed by a candidate's chip (h100-sxm for dgx-h100, as load_prices documents)
    prices it as its fabric's key does (it was silently ignored), and a key naming nothing is a one-line error."""
    from fleet import plan

    kw = dict(duration=5.0, tps=(1,), batches=(32,), modes=("colocated",))
    by_chip = plan("llama3.1-8b", 2.0, 1.0, 0.05, ["dgx-h100"], prices={"h100-sxm": 9.0}, **kw)
    by_fabric = plan("llama3.1-8b", 2.0, 1.0, 0.05, ["dgx-h100"], prices={"dgx-h100": 9.0, "h100-sxm": 1.0}, **kw)
    assert by_chip.best.best.cost_per_hour == pytest.approx(9.0 * by_chip.best.best.fleet.pools[0].replicas)
    assert by_chip.table() == plan("llama3.1-8b", 2.0, 1.0, 0.05, ["dgx-h100"], prices={"dgx-h100": 9.0},
                                   **kw).table()
    assert by_fabric.best.best.cost_per_hour == by_chip.best.best.cost_per_hour  # the fabric's own key wins
    with pytest.raises(SpecError, match=r"prices\.h100: names no candidate") as exc:
        plan("llama3.1-8b", 2.0, 1.0, 0.05, ["dgx-h100"], prices={"h100": 9.0}, **kw)
    assert "\n" not in str(exc.value)


def test_planner_verify_resizes_a_plan_that_a_short_trace_flatters():
    """A 10 s trace at 40 req/s starts empty and drains at its end: 'slow' x6 meets the SLOs there but holds 77 %
    of requests over 100 s (persona: buyer; the README's 60 s llama3.1-70b plan kept 69 % at 300 s). With verify
    the plan is re-checked on a trace 10x as long and re-sized there; without, it is the short trace's."""
    from fleet import plan, poisson_trace

    kw = dict(duration=10.0, step_model_factory=_factory, tps=(8,), batches=(64,), seed=1, modes=("colocated",))
    short = plan("m", 40.0, 1.0, 0.05, ["fast", "slow"], verify=0, **kw)
    checked = plan("m", 40.0, 1.0, 0.05, ["fast", "slow"], verify=10, **kw)
    long = poisson_trace(40.0, 100.0, prompt="azure-conv", seed=1)

    def held(p):
        sms = {x.name: _factory(x.fabric, x.tp, x.ep) for x in p.fleet.pools}
        return simulate_serving(p.fleet, long, slo_ttft=1.0, slo_tpot=0.05, step_models=sms).slo_attainment

    assert held(short.best.best) < 0.9 <= held(checked.best.best)
    assert checked.best.best.cost_per_hour > short.best.best.cost_per_hour
    assert "sized over 100 s" in checked.best.reason and checked.settings["verified_over_s"] == 100.0
    assert short.settings["verified_over_s"] is None
    # a plan the long trace confirms is unchanged, and says it holds
    easy = plan("m", 10.0, 1.0, 0.05, ["fast", "slow"], verify=10, **kw)
    assert easy.best.best.label == plan("m", 10.0, 1.0, 0.05, ["fast", "slow"], verify=0, **kw).best.best.label
    assert "holds over 100 s" in easy.best.reason
    with pytest.raises(SpecError, match="verify"):
        plan("m", 10.0, 1.0, 0.05, ["fast"], verify=-1, **kw)


def test_planner_verify_window_shortened_to_the_simulation_budget(monkeypatch):
    """A rate whose search trace fits one simulation's request budget but whose verify trace (10x as long) does not:
    the check runs on the longest trace that fits, and a plan comes back; it had dropped every candidate ('none
    holds over 100 s: trace: 4,038 requests ... more than the 1,000-request budget')."""
    import fleet.sim
    from fleet import plan

    monkeypatch.setattr(fleet.sim, "REQUEST_BUDGET", 1000)  # 40 req/s x 10 s = ~400 requests fit; x 10 do not
    kw = dict(duration=10.0, step_model_factory=_factory, tps=(8,), batches=(64,), seed=1, modes=("colocated",))
    res = plan("m", 40.0, 1.0, 0.05, ["fast", "slow"], verify=10, **kw)
    over = res.settings["verified_over_s"]
    assert res.best is not None and 10.0 < over < 100.0
    n = 40.0 * over
    assert n + 6 * n**0.5 <= 1000 < 40.0 * over / 0.9 + 6 * (40.0 * over / 0.9) ** 0.5  # the longest, in x0.9 steps
    assert "budget" not in " ".join(c.reason for c in res.candidates)


def test_plan_cost_per_mtok_is_at_the_offered_load():
    """The plan's $/Mtok is the fleet's $/h over the output tokens the trace asks for per hour (persona: buyer: the
    simulation's figure counted a short trace's drain, so #1 at $1.87/h read $0.228 per M beside #2 at $1.89/h
    and $0.196): every point's equals its $/h x 1e6 / (output tokens / arrival window x 3600), so it orders as $/h."""
    from fleet import plan

    tr = synthetic_trace(10.0, 20.0, "azure-conv", seed=4)
    res = plan("m", 10.0, 1.0, 0.05, ["fast", "slow"], trace=tr, step_model_factory=_factory, tps=(8,),
               batches=(64,))
    per_hour = float(tr.output.sum()) / float(tr.arrival.max()) * 3600.0
    assert res.points
    for p in res.points:
        assert p.cost_per_mtok == pytest.approx(p.cost_per_hour / per_hour * 1e6, rel=1e-12)
    feas = [c.best for c in res.candidates if c.feasible]
    assert [p.cost_per_mtok for p in feas] == sorted(p.cost_per_mtok for p in feas)


def test_shortest_expected_ranks_prefill_pools_by_their_ttft_not_their_own_decode_speed():
    """persona (fleet operator): a prefill pool's estimate carried its own chip's decode TPOT, which never applies
    (its requests decode on the decode pool), so shortest-expected sent prefills to the pool that would decode
    fastest: B200 x2 + MI300X x1 prefill, llama3.1-8b at 40 req/s, sent 1,072 of 1,165 to the MI300X (TTFT 19 ms
    against 15 ms). Here pool 'slow' prefills 4x slower but decodes 10x faster than 'fast'; one request on an idle
    fleet belongs on 'fast' (the same decode pool follows either)."""
    fast = {**LIN, "prefill_base": "2ms", "prefill_per_token": "10us", "decode_base": "50ms"}
    slow = {**LIN, "prefill_base": "2ms", "prefill_per_token": "40us", "decode_base": "5ms"}
    spec = {"pools": [{"name": "slow", "role": "prefill", "step_model": slow, "replicas": 1, "batch": 8},
                      {"name": "fast", "role": "prefill", "step_model": fast, "replicas": 1, "batch": 8},
                      {"name": "d", "role": "decode", "step_model": LIN, "replicas": 1, "batch": 64}],
            "kv_network": {"bandwidth": "100Gbps", "latency": "3us"}}
    tr = Trace(np.array([0.0]), np.array([1000]), np.array([100]))
    res = simulate_serving(spec, tr, router="shortest-expected")
    assert res.prefill_replica[0] == 1 and res.decode_replica[0] == 2  # 'fast', then 'd'
    assert res.ttft[0] == pytest.approx(2e-3 + 1000 * 10e-6, rel=1e-6)  # fast's prefill, not slow's 42 ms
