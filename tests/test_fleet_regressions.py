"""Issue 20: five small wrongs of the serving simulation, each with the case that found it, plus a property
test over small random fleets and traces.

Step times come from declared LinearStepModels (never from inference presets, whose times change), so
every expected figure follows from the parameters.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet import LinearStepModel, Trace, kv_capacity_tokens, simulate_serving
from topo import CapacityError, SpecError

LIN = {"prefill_base": "2ms", "prefill_per_token": "40us", "decode_base": "15ms", "decode_per_seq": "0.1ms",
       "decode_per_kv_token": "4ns", "kv_capacity_tokens": 300000, "kv_bytes_per_token": 163840,
       "cost_per_hour": 20}


def one_pool(step_model=None, **extra):
    return {"pools": [{"name": "c", "step_model": step_model or LIN, "replicas": 1, "batch": 8, **extra}]}


# ------------------------------------------------------------------------------ 1. exact KV capacity
def test_declared_kv_capacity_below_1024_tokens_serves_a_small_request():
    """The issue's case: a step model declaring 1,000 KV tokens rejected a 100-token request ("0 tokens")."""
    tr = Trace(np.array([0.0]), np.array([60]), np.array([40]))
    res = simulate_serving(one_pool({**LIN, "kv_capacity_tokens": 1000}), tr)
    assert res.pools[0]["kv_capacity_tokens"] == 1000.0
    assert res.finished_count[0] == 1 and res.generated[0] == 40
    # the capacity is exact: 1,000 tokens hold a 1,000-token request and refuse a 1,001-token one
    simulate_serving(one_pool({**LIN, "kv_capacity_tokens": 1000}), Trace([0.0], [900], [100]))
    with pytest.raises(CapacityError, match="1001 tokens.*1000 tokens"):
        simulate_serving(one_pool({**LIN, "kv_capacity_tokens": 1000}), Trace([0.0], [901], [100]))


@pytest.mark.parametrize("cap", [1500, 4097, 300000, 1_000_003])
def test_kv_capacity_is_not_rounded_down(cap):
    """Capacities that are not multiples of 1,024 are kept exactly (pool-level and step-model-level)."""
    res = simulate_serving(one_pool({**LIN, "kv_capacity_tokens": cap}), Trace([0.0], [10], [2]))
    assert res.pools[0]["kv_capacity_tokens"] == cap
    res = simulate_serving(one_pool(kv_capacity_tokens=cap), Trace([0.0], [10], [2]))
    assert res.pools[0]["kv_capacity_tokens"] == cap


class _Memory:
    """A step model that only knows memory: ``max_batch(c) = floor(free_tokens / c)`` (no declared capacity)."""

    chips = 1
    cost_per_hour = 1.0
    kv_bytes_per_token = 1000.0

    def __init__(self, free_tokens: int) -> None:
        self.free = free_tokens

    def prefill_time(self, tokens, batch):  # noqa: ANN001
        return 1e-3 + 1e-5 * tokens

    def decode_time(self, batch, context):  # noqa: ANN001
        return 1e-2

    def max_batch(self, context: int) -> int:
        return self.free // max(1, context)


@pytest.mark.parametrize("free", [700, 1023, 5000, 123457])
def test_kv_capacity_of_a_memory_only_step_model_is_exact(free):
    """Bytes free over bytes per token: the longest context one sequence can hold, not max_batch(c) x c
    sampled at 1,024 / 4,096 / 16,384 (which gave 0 below 1,024 and rounded down by up to 1,023)."""
    assert kv_capacity_tokens(_Memory(free)) == free
    res = simulate_serving(one_pool(), Trace([0.0], [free - 10], [10]), step_models={"c": _Memory(free)})
    assert res.pools[0]["kv_capacity_tokens"] == free


def test_kv_capacity_of_an_inference_step_model_matches_its_max_batch():
    """inference.StepModel: (usable HBM - weights - activations) / KV bytes per token. max_batch(c), an
    independent bisection over the memory model, brackets it exactly where its activations are those of
    one token-budget prefill chunk (c = chunk / 2, chunk), and within 1% elsewhere (other activations)."""
    inference = pytest.importorskip("inference")
    try:
        sm = inference.StepModel("llama3.1-8b", "dgx-h100", tp=1)
    except Exception as exc:  # noqa: BLE001 - the preset may be renamed by another change
        pytest.skip(f"no llama3.1-8b on dgx-h100: {exc}")
    chunk = getattr(sm.deployment, "prefill_chunk", None) or 8192
    cap = kv_capacity_tokens(sm, token_budget=chunk, batch=64)
    assert cap > 0 and cap == math.floor(cap)
    for c in (chunk // 2, chunk):
        mb = sm.max_batch(c)
        assert mb * c <= cap < (mb + 1) * c
    # under a serving stack the KV pool is sized once at start-up (inference/memory.py), so max_batch brackets
    # the capacity at every context; under the roofline rule (stack ideal) within 1% elsewhere
    exact = "kv_budget" in sm.deployment.memory(1, 1, 0)
    for c in (1000, 3000, 7777, 20000):
        mb = sm.max_batch(c)
        if exact:
            assert mb * c <= cap < (mb + 1) * c
        else:
            assert mb * c == pytest.approx(cap, rel=0.01)


def test_weights_that_do_not_fit_hbm_are_named_not_a_zero_token_kv_cache():
    """Llama-3.1-405B FP8 on one H100 (single-h100): the weights, not the request, do not fit. The error names
    the pool, the weights per chip against the usable HBM and the fix (it said 'a request of 3990 tokens does
    not fit the replica's KV cache (0 tokens)'). The weights figure is the 405e9 parameters at 1 byte each
    (plus embeddings: within 2%); at tp=8 the same model holds a KV cache and no reason is given."""
    pytest.importorskip("inference")
    from fleet import load_fleet
    from fleet.pool import no_kv_reason
    from fleet.sim import build_step_model

    with pytest.raises(CapacityError) as info:
        simulate_serving("single-h100", Trace([0.0], [100], [10]), model="llama3.1-405b")
    msg = str(info.value)
    assert "\n" not in msg and "(0 tokens)" not in msg, msg
    assert msg.startswith("pool 'h100': llama3.1-405b's weights take ") and "usable HBM on one h100-sxm" in msg, msg
    weights_gb = float(msg.split("weights take ")[1].split(" GB")[0])
    assert weights_gb == pytest.approx(405.9, rel=0.02)
    usable_gb = float(msg.split(" GB of usable HBM")[0].rsplit(" ", 1)[1])
    assert usable_gb < 80.0 < weights_gb
    # fp8 is the smallest dtype an H100 runs: the fix names no smaller dtype (it said "use a smaller dtype")
    assert "raise tp" in msg and "another fabric" in msg and "smaller dtype" not in msg, msg
    assert "fp8 is the smallest dtype h100-sxm runs" in msg, msg
    pool = load_fleet("single-h100").pools[0]
    for tp, holds in ((1, False), (8, True)):
        sm = build_step_model(type(pool)(**{**pool.__dict__, "tp": tp}), "llama3.1-405b")
        assert (kv_capacity_tokens(sm, pool.token_budget, pool.batch) > 0) is holds
        assert (no_kv_reason(sm, pool.token_budget, pool.batch) is None) is holds


# ------------------------------------------------------------------------------ 2. unreachable decode pool
def test_decode_pool_without_prefill_pool_is_refused_naming_it():
    """The issue's case: colocated + decode pools, no prefill pool; the decode pool served 0 requests but
    was priced into the fleet."""
    fleet = {"pools": [{"name": "c", "step_model": LIN, "replicas": 2},
                       {"name": "idle-decode", "role": "decode", "step_model": LIN, "replicas": 3}]}
    with pytest.raises(SpecError, match="idle-decode.*prefill"):
        simulate_serving(fleet, Trace([0.0], [100], [10]))


# ------------------------------------------------------------------------------ 3. zero step times
def test_all_zero_step_times_are_refused():
    zero = {"prefill_base": 0, "prefill_per_token": 0, "decode_base": 0, "decode_per_seq": 0,
            "decode_per_kv_token": 0}
    with pytest.raises(SpecError, match="pool 'c'.*prefill"):
        simulate_serving(one_pool(zero), Trace([0.0, 1.0], [100, 100], [10, 10]))
    with pytest.raises(SpecError, match="decode"):
        LinearStepModel(prefill_per_token=1e-4, decode_base=0, decode_per_seq=0, decode_per_kv_token=0)
    # one positive term is enough
    LinearStepModel(prefill_base=0, prefill_per_token=1e-4, decode_base=0, decode_per_kv_token=1e-9)


def test_a_step_model_returning_zero_is_refused():
    class Zero(_Memory):
        def decode_time(self, batch, context):  # noqa: ANN001
            return 0.0

    with pytest.raises(SpecError, match="decode_time.*> 0"):
        simulate_serving(one_pool(), Trace([0.0], [100], [10]), step_models={"c": Zero(10**6)})


# ------------------------------------------------------------------------------ 4. simultaneous arrivals
def test_offered_rate_of_simultaneous_arrivals_is_undefined():
    """The issue's case: every request at t = 0 gave an offered rate of n / 1e-12 (~2e12 requests/s)."""
    tr = Trace(np.zeros(5), np.full(5, 200), np.full(5, 20))
    res = simulate_serving(one_pool(), tr)
    assert res.duration == 0.0
    assert math.isnan(res.offered_rate) and math.isnan(res.summary()["offered_rate_rps"])
    assert "undefined" in res.table()
    assert res.throughput == pytest.approx(5 / res.makespan)
    # one request later: the rate over the arrival window [0, last arrival] is defined again
    tr = Trace(np.array([0.0, 0.0, 2.0]), np.full(3, 200), np.full(3, 20))
    assert simulate_serving(one_pool(), tr).offered_rate == pytest.approx(3 / 2.0)


# ------------------------------------------------------------------------------ 5. tiny chunk budgets
def test_token_budget_1_is_closed_form_and_matches_the_timeline_by_hand():
    """The issue's case: chunked prefill at token_budget 1, 100 requests of 32k tokens (3.3 M iterations,
    one event each, 32 s). Batch 1 and one output token: request i (all arrive at 0) takes P iterations of
    prefill(1 token) = base + per_token each, so it finishes at (i + 1) x P x (base + per_token)."""
    n, p = 100, 32_000
    lin = {**LIN, "prefill_base": "1ms", "prefill_per_token": "10us"}
    tr = Trace(np.zeros(n), np.full(n, p), np.ones(n, dtype=int))
    res = simulate_serving(one_pool(lin, batch=1, chunked_prefill=True, token_budget=1), tr)
    want = (np.arange(n) + 1) * p * (1e-3 + 1e-5)
    assert np.allclose(np.sort(res.latency), want, rtol=1e-9)
    assert res.extra["iterations"] == n * p
    # runs of identical chunks are one event each (at most macro_cap = 1,024 iterations), not one per chunk
    assert res.sim_events <= n * (math.ceil(p / 1024) + 2)


@pytest.mark.parametrize("budget, batch", [(1, 4), (3, 4), (7, 8), (64, 16)])
def test_closed_form_chunk_runs_equal_single_steps(budget, batch):
    """With decodes in the batch and arrivals cutting runs short, the closed form gives the step-by-step
    times (macro_cap=1 simulates every iteration as its own event)."""
    rng = np.random.default_rng(budget)
    n = 12
    tr = Trace(np.sort(rng.uniform(0, 0.5, n)), rng.integers(20, 400, n), rng.integers(1, 30, n))
    fleet = {"pools": [{"name": "c", "step_model": LIN, "replicas": 2, "batch": batch, "chunked_prefill": True,
                        "token_budget": budget}]}
    a = simulate_serving(fleet, tr)
    b = simulate_serving(fleet, tr, macro_cap=1)
    for f in ("ttft", "latency", "queue_delay"):
        assert np.allclose(getattr(a, f), getattr(b, f), rtol=1e-9, atol=1e-12), f
    assert a.extra["iterations"] == b.extra["iterations"]
    assert a.sim_events <= b.sim_events


# ------------------------------------------------------------------------------ property test
@st.composite
def fleets_and_traces(draw):
    def step_model():
        return {"prefill_base": draw(st.sampled_from([0.0, 1e-3])),
                "prefill_per_token": draw(st.sampled_from([1e-5, 5e-5, 2e-4])),
                "decode_base": draw(st.sampled_from([2e-3, 1e-2])),
                "decode_per_seq": draw(st.sampled_from([0.0, 1e-4])),
                "decode_per_kv_token": draw(st.sampled_from([0.0, 2e-9])),
                "kv_capacity_tokens": draw(st.sampled_from([600, 3000, 50000]))}

    def pool(name, role):
        return {"name": name, "role": role, "step_model": step_model(), "replicas": draw(st.integers(1, 3)),
                "batch": draw(st.integers(1, 6)), "token_budget": draw(st.sampled_from([1, 5, 64, 1024])),
                "chunked_prefill": role == "colocated" and draw(st.booleans())}

    kind = draw(st.sampled_from(["colocated", "disaggregated", "both"]))
    pools = []
    if kind in ("colocated", "both"):
        pools.append(pool("c", "colocated"))
    if kind in ("disaggregated", "both"):
        pools += [pool("p", "prefill"), pool("d", "decode")]
    fleet = {"pools": pools, "kv_network": {"bandwidth": draw(st.sampled_from(["10Gbps", "400Gbps"]))}}
    n = draw(st.integers(1, 14))
    ties = draw(st.booleans())
    arrival = [0.0] * n if ties else draw(st.lists(st.floats(0, 2.0), min_size=n, max_size=n))
    prompt = draw(st.lists(st.integers(1, 700), min_size=n, max_size=n))
    output = draw(st.lists(st.integers(1, 40), min_size=n, max_size=n))
    router = draw(st.sampled_from(["least-loaded", "round-robin", "shortest-expected", "cost-aware"]))
    return fleet, Trace(np.array(arrival), np.array(prompt), np.array(output)), router


@settings(max_examples=40, deadline=None)
@given(fleets_and_traces())
def test_serving_properties_over_random_fleets_and_traces(case):
    """Terminates; every request finishes exactly once or the run is refused with a reason; TTFT <= latency;
    tokens conserved; throughput <= offered load; deterministic."""
    fleet, tr, router = case
    try:
        res = simulate_serving(fleet, tr, router=router)
    except CapacityError as exc:
        # refused with a reason: a request longer than some pool's KV cache, named with both sizes
        msg = str(exc)
        assert "does not fit" in msg and "tokens" in msg
        caps = [p["step_model"]["kv_capacity_tokens"] for p in fleet["pools"]]
        assert int((tr.prompt + tr.output).max()) > min(caps) or int(tr.prompt.max()) > min(caps)
        return
    assert np.all(res.finished_count == 1)
    assert np.array_equal(res.generated, tr.output)
    assert res.summary()["output_tokens"] == int(tr.output.sum())
    assert np.all(res.ttft > 0)
    assert np.all(res.ttft <= res.latency + 1e-12)
    assert np.all(res.queue_delay >= -1e-12)
    assert np.all(res.utilisation <= 1 + 1e-9)
    assert res.makespan >= float(tr.arrival.max())
    offered = res.offered_rate
    if math.isfinite(offered):
        assert res.throughput <= offered * (1 + 1e-12)
    else:
        assert res.duration == 0.0 and np.all(tr.arrival == 0)
    again = simulate_serving(fleet, tr, router=router)
    for f in ("ttft", "latency", "queue_delay", "kv_time", "prefill_replica", "decode_replica"):
        assert np.array_equal(getattr(res, f), getattr(again, f), equal_nan=True), f
