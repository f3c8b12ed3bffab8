"""Closed-loop (fixed-concurrency) client of the serving simulator, and the per-pool serving stack.

A closed loop keeps ``C`` requests in flight: ``C`` are sent at t = 0 and each completion sends the next, until
``N`` have been sent (``vllm bench serve --max-concurrency C``, genai-perf ``--concurrency C``). Expected values
are independent of the simulator's code: Little's law (exactly C in the system while the loop is full), and
timelines worked out from the affine step times of a LinearStepModel.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_cli_error
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import main
from fleet import Trace, closed_loop_trace, fleet_from_dict, simulate_serving
from topo import CapacityError, SpecError

B0, P1 = 2e-3, 40e-6  # prefill: base s, s per prompt token
D0, DS, DK = 15e-3, 1e-4, 4e-9  # decode: base s, s per sequence, s per sequence per context token
LIN = {"prefill_base": B0, "prefill_per_token": P1, "decode_base": D0, "decode_per_seq": DS,
       "decode_per_kv_token": DK, "kv_capacity_tokens": 2_000_000, "kv_bytes_per_token": 163840,
       "cost_per_hour": 20}


def fleet(replicas=1, batch=256, **extra):
    return {"pools": [{"name": "c", "step_model": LIN, "replicas": replicas, "batch": batch, **extra}]}


def prefill(tokens):
    return B0 + P1 * tokens


def decode(batch, context):
    return D0 + DS * batch + DK * batch * context


def in_system(res, t):
    """Requests sent by t and not finished by t."""
    finish = res.arrival + res.latency
    return int(np.sum((res.arrival <= t) & (finish > t)))


# ---------------------------------------------------------------------------------------------- Little's law
@settings(max_examples=12, deadline=None)
@given(st.integers(1, 12), st.integers(0, 30), st.integers(1, 3), st.booleans(), st.integers(0, 1000))
def test_exactly_c_in_flight_while_the_loop_is_full(c, extra, replicas, chunked, seed):
    """Little's law for a closed loop with no think time: from t = 0 until the last request is sent (T*), exactly C
    requests are in the system, so the time they spend in it up to T* sums to C x T* exactly."""
    n = c + extra
    res = simulate_serving(fleet(replicas, batch=8, chunked_prefill=chunked, token_budget=2048),
                           concurrency=c, requests=n, workload="sharegpt", seed=seed)
    t_star = float(res.arrival.max())
    finish = res.arrival + res.latency
    assert np.all(res.arrival[:c] == 0.0) and np.all(np.diff(res.arrival) >= 0)
    # each request after the first C is sent at the instant of a completion: the sends are the first N - C
    # completion times, in order (finish = arrival + latency carries a rounding of the subtraction)
    assert np.allclose(res.arrival[c:], np.sort(finish)[: n - c], rtol=0, atol=1e-12)
    assert np.sum(np.minimum(finish, t_star) - res.arrival) == pytest.approx(c * t_star, rel=1e-12, abs=1e-12)
    # the count itself, between consecutive events (never on one, where a send and a completion coincide; gaps
    # under 1 ns are the rounding between a completion and the send it triggers)
    ev = np.unique(np.concatenate([res.arrival, finish]))
    mid = ((ev[:-1] + ev[1:]) / 2)[np.diff(ev) > 1e-9]
    counts = [in_system(res, t) for t in mid.tolist()]
    full = mid < t_star
    assert all(k == c for k, f in zip(counts, full) if f)
    drain = [k for k, f in zip(counts, full) if not f]  # after the last send: one fewer per completion
    assert drain == sorted(drain, reverse=True) and all(k <= c for k in drain)
    assert in_system(res, float(finish.max())) == 0


@pytest.mark.parametrize("router", ["least-loaded", "round-robin", "shortest-expected", "cost-aware"])
def test_little_law_on_a_disaggregated_fleet(router):
    """The same identity when completions happen on decode replicas after a KV transfer: C x T* exactly."""
    d = {"pools": [{"name": "p", "role": "prefill", "step_model": LIN, "replicas": 2, "batch": 8},
                   {"name": "d", "role": "decode", "step_model": LIN, "replicas": 3, "batch": 64}],
         "kv_network": {"bandwidth": "100Gbps", "latency": "3us"}}
    res = simulate_serving(d, concurrency=16, requests=120, router=router, workload="azure-conv", seed=1)
    t_star = float(res.arrival.max())
    finish = res.arrival + res.latency
    assert np.all(res.kv_time > 0)
    assert np.sum(np.minimum(finish, t_star) - res.arrival) == pytest.approx(16 * t_star, rel=1e-12)


def test_throughput_is_concurrency_over_latency_in_the_steady_state():
    """Fixed lengths on one replica: every cycle of the loop is identical, so throughput = C / latency exactly."""
    c, n = 4, 40
    res = simulate_serving(fleet(1, batch=4), concurrency=c, requests=n, prompt=200, output=20)
    lat = res.latency[c:]
    assert np.allclose(lat, lat[0], rtol=1e-12)
    assert n / res.makespan == pytest.approx(c / lat[0], rel=1e-12)


# ---------------------------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("chunked", [False, True])
def test_concurrency_one_runs_requests_one_after_another(chunked):
    """C = 1: TTFT = prefill(P), TPOT = the mean of decode(1, P + 1 + j) over j < O - 1, arrival k = k x latency,
    makespan = N x latency."""
    n, p, o = 7, 300, 25
    res = simulate_serving(fleet(1, chunked_prefill=chunked, token_budget=512), concurrency=1, requests=n,
                           prompt=p, output=o)
    ttft = prefill(p)
    steps = [decode(1, p + 1 + j) for j in range(o - 1)]
    lat = ttft + sum(steps)
    assert np.allclose(res.ttft, ttft, rtol=1e-12, atol=0)
    assert np.allclose(res.tpot, sum(steps) / (o - 1), rtol=1e-12, atol=0)
    assert np.allclose(res.latency, lat, rtol=1e-12, atol=0)
    assert np.allclose(res.arrival, np.arange(n) * lat, rtol=1e-12, atol=1e-15)
    assert res.makespan == pytest.approx(n * lat, rel=1e-12)
    assert np.all(res.queue_delay == 0.0)


@pytest.mark.parametrize("disaggregated", [False, True])
def test_one_token_outputs_finish_at_their_first_token(disaggregated):
    """Output = 1: the first token is the last, so the next send follows the prefill; no TPOT, no KV transfer (a
    disaggregated fleet finishes it on the prefill pool). C = 1: request k is sent at k x prefill(P)."""
    n, p = 6, 400
    spec = fleet(1)
    if disaggregated:
        spec = {"pools": [{"name": "p", "role": "prefill", "step_model": LIN}, {"name": "d", "role": "decode",
                                                                               "step_model": LIN}],
                "kv_network": {"bandwidth": "100Gbps", "latency": "3us"}}
    res = simulate_serving(spec, concurrency=1, requests=n, prompt=p, output=1)
    assert np.allclose(res.arrival, np.arange(n) * prefill(p), rtol=1e-12, atol=0)
    assert np.allclose(res.latency, prefill(p), rtol=1e-12) and np.array_equal(res.ttft, res.latency)
    assert np.all(np.isnan(res.tpot)) and np.all(np.isnan(res.kv_time)) and res.kv_transfers == 0
    assert np.all(res.met_slo) and "TPOT ms" not in res.table()


def test_think_time_delays_each_send():
    n, p, o, think = 5, 100, 10, 0.25
    res = simulate_serving(fleet(1), concurrency=1, requests=n, prompt=p, output=o, think=think)
    lat = prefill(p) + sum(decode(1, p + 1 + j) for j in range(o - 1))
    assert np.allclose(res.arrival, np.arange(n) * (lat + think), rtol=1e-12)
    assert res.makespan == pytest.approx(n * lat + (n - 1) * think, rel=1e-12)
    assert res.summary()["think_s"] == think and "think 0.25 s" in res.table()


@pytest.mark.parametrize("c,p,budget", [(10, 1000, 4096), (7, 512, 1024), (5, 300, 300), (6, 100, 8192)])
def test_one_wave_prefill_batches_in_closed_form(c, p, budget):
    """N = C requests of P tokens at t = 0, prefill first, no chunking: batches of k = floor(B / P) requests; the
    j-th batch (j = 1, 2, ...) gets its first token at j x prefill(k P) (the last batch prefill(r P) after the
    full ones); then all C decode together and finish at the same time."""
    o = 12
    res = simulate_serving(fleet(1, batch=c, token_budget=budget), concurrency=c, requests=c, prompt=p, output=o)
    k = budget // p
    want = []
    t = 0.0
    for start in range(0, c, k):
        size = min(k, c - start)
        t += prefill(size * p)
        want += [t] * size
    assert np.allclose(res.ttft, want, rtol=1e-12, atol=0)
    end = t + sum(decode(c, p + 1 + j) for j in range(o - 1))
    assert np.allclose(res.latency, end, rtol=1e-12, atol=0)
    assert np.all(res.arrival == 0.0)


def test_kv_cache_smaller_than_the_concurrency_queues_the_rest():
    """The KV cache holds 2 requests (2 x (P + O) tokens), C = 5: the others wait in FCFS order, none lost. Prefill
    first, every wave is the same: W = prefill(2P) + sum over j < O - 1 of decode(2, P + 1 + j); request k (sends
    are in request order) is in wave k // 2, so it finishes at (k // 2 + 1) W, and the sends come two per wave."""
    c, n, p, o = 5, 10, 300, 12
    spec = {"pools": [{"name": "c", "step_model": {**LIN, "kv_capacity_tokens": 2 * (p + o)}, "batch": 64}]}
    res = simulate_serving(spec, concurrency=c, requests=n, prompt=p, output=o)
    w = prefill(2 * p) + sum(decode(2, p + 1 + j) for j in range(o - 1))
    k = np.arange(n)
    assert np.allclose(res.arrival + res.latency, (k // 2 + 1) * w, rtol=1e-12, atol=0)
    assert np.allclose(res.arrival, [0, 0, 0, 0, 0, w, w, 2 * w, 2 * w, 3 * w], rtol=1e-12, atol=0)
    assert np.allclose(res.ttft, (k // 2) * w + prefill(2 * p) - res.arrival, rtol=1e-12, atol=1e-15)
    # chunked: other times, the same limit: never more than 2 requests admitted and unfinished at once
    spec["pools"][0].update(chunked_prefill=True, token_budget=256)
    res = simulate_serving(spec, concurrency=c, requests=n, prompt=p, output=o)
    admit, finish = res.arrival + res.queue_delay, res.arrival + res.latency
    assert res.n == n and np.all(res.finished_count == 1)
    assert max(int(np.sum((admit <= t) & (finish > t))) for t in admit.tolist()) == 2


# ---------------------------------------------------------------------------------------------- macro steps, determinism
@pytest.mark.parametrize("spec,kw", [
    (fleet(1, batch=16), {"prompt": 800, "output": 120}),
    (fleet(1, batch=16), {"workload": "sharegpt"}),
    (fleet(2, batch=16), {"workload": "sharegpt"}),
    (fleet(2, batch=16, chunked_prefill=True, token_budget=256), {"workload": "azure-conv"}),
    (fleet(2, batch=16), {"workload": "sharegpt", "think": 0.137}),
], ids=["fixed", "workload", "two-replicas", "chunked", "think"])
def test_macro_steps_equal_single_steps(spec, kw):
    """A completion's send interrupts a decode macro step of another replica exactly as an open-loop arrival does:
    the result equals stepping one iteration at a time (macro_cap=1)."""
    a = simulate_serving(spec, concurrency=24, requests=150, seed=3, **kw)
    b = simulate_serving(spec, concurrency=24, requests=150, seed=3, macro_cap=1, **kw)
    assert b.sim_events > a.sim_events  # the macro steps did merge iterations
    for name in ("arrival", "ttft", "latency", "queue_delay"):
        assert np.allclose(getattr(a, name), getattr(b, name), rtol=1e-12, atol=1e-12), name
    assert np.array_equal(a.prefill_replica, b.prefill_replica)


def test_a_send_is_routed_after_every_completion_of_that_instant():
    """A batch of C equal requests finishes in one iteration; the C sends it triggers are routed at that instant, and
    the router must see the replica as it is then: none of the finished requests still running or holding load (it
    saw the whole old batch running and, at the k-th send, C - k finished requests' tokens still outstanding, which
    tilted least-loaded routing on several replicas). By hand: at the k-th send of a wave (k = 0..C-1) the replica
    runs 0 sequences and its load is the k requests already sent, k x (prompt + output) tokens."""
    c, p, o = 4, 100, 10
    seen = []

    def spy(req, pools):
        seen.append((int(pools[0].running[0]), float(pools[0].load[0])))
        return pools[0]

    simulate_serving(fleet(1, batch=c), concurrency=c, requests=3 * c, prompt=p, output=o, router=spy)
    assert seen == [(0, k * (p + o)) for _ in range(3) for k in range(c)]


def test_deterministic_under_seed():
    kw = {"concurrency": 6, "requests": 60, "workload": "azure-conv"}
    a = simulate_serving(fleet(2, batch=8), seed=4, **kw)
    b = simulate_serving(fleet(2, batch=8), seed=4, **kw)
    c = simulate_serving(fleet(2, batch=8), seed=5, **kw)
    for name in ("arrival", "prompt", "output", "ttft", "tpot", "latency"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    assert not np.array_equal(a.prompt, c.prompt)
    t = closed_loop_trace(60, workload="azure-conv", seed=4)
    assert np.array_equal(t.prompt, a.prompt) and np.array_equal(t.output, a.output)


def test_default_requests_and_fixed_lengths():
    res = simulate_serving(fleet(1), concurrency=3, prompt=50, output=4)
    assert res.n == 30 and np.all(res.prompt == 50) and np.all(res.output == 4)
    s = res.summary()
    assert s["concurrency"] == 3 and s["load"] == "closed loop, 3 in flight, 30 requests"
    assert np.isnan(s["offered_rate_rps"])  # the load is a concurrency, not a rate
    assert res.table().startswith("closed loop, 3 in flight, 30 requests")
    assert simulate_serving(fleet(1), rate=2.0, duration=5.0).summary()["concurrency"] is None


def test_fixed_lengths_with_a_rate():
    res = simulate_serving(fleet(1), rate=3.0, duration=10.0, prompt=64, output=8, seed=2)
    assert res.n > 10 and np.all(res.prompt == 64) and np.all(res.output == 8)


# ---------------------------------------------------------------------------------------------- bad input
TR = Trace(np.zeros(2), np.array([10, 10]), np.array([2, 2]))


@pytest.mark.parametrize("kw,field", [
    ({"concurrency": 0}, "concurrency"),
    ({"concurrency": -2}, "concurrency"),
    ({"concurrency": 2.5}, "concurrency"),
    ({"concurrency": True}, "concurrency"),
    ({"concurrency": "4"}, "concurrency"),
    ({"concurrency": 4, "requests": 3}, "requests"),
    ({"concurrency": 4, "requests": 7.5}, "requests"),
    ({"concurrency": 4, "duration": 5.0}, "drop duration (open-loop arrivals) or concurrency, or give a rate"),
    # a rate with a concurrency is an open loop of at most C in flight (tests/test_fleet_rate_limited.py)
    ({"concurrency": 4, "rate": 2.0, "duration": 5.0, "requests": 8}, "requests: applies to a closed loop only"),
    ({"concurrency": 4, "rate": 2.0, "duration": 5.0, "think": 1.0}, "think: applies to a closed loop only"),
    ({"concurrency": 4, "trace": TR}, "trace"),
    ({"requests": 10, "rate": 1.0, "duration": 5.0}, "requests"),
    ({"think": 1.0, "rate": 1.0, "duration": 5.0}, "think"),
    ({"concurrency": 2, "think": -1.0}, "think"),
    ({"concurrency": 2, "prompt": 100}, "prompt"),
    ({"concurrency": 2, "output": 100}, "output"),
    ({"concurrency": 2, "prompt": 0, "output": 5}, "prompt"),
    ({"concurrency": 2, "workload": "nope"}, "nope"),
    ({"trace": TR, "prompt": 10, "output": 2}, "prompt"),
    # a Poisson rate's fixed lengths go through the same check (fleet.trace._fixed_lengths)
    ({"rate": 1.0, "duration": 5.0, "prompt": 100}, "prompt: fixed lengths need both"),
    ({"rate": 1.0, "duration": 5.0, "output": 100}, "output: fixed lengths need both"),
    ({"rate": 1.0, "duration": 5.0, "prompt": 10, "output": 0}, "output: must be an integer >= 1"),
    ({"concurrency": 2, "prompt": 10, "output": 2.5}, "output: must be an integer >= 1"),
])
def test_bad_closed_loop_input_is_one_spec_error(kw, field):
    with pytest.raises(SpecError) as exc:
        simulate_serving(fleet(1), **kw)
    msg = str(exc.value)
    assert field in msg and "\n" not in msg, msg


def test_memory_estimate_applies_to_the_requests():
    with pytest.raises(CapacityError, match="requests: 1,000,000,000 requests"):
        simulate_serving(fleet(1), concurrency=8, requests=10**9)


# ---------------------------------------------------------------------------------------------- CLI
FLEET_YAML = ("pools:\n  - name: c\n    replicas: 2\n    batch: 32\n"
              "    step_model: {prefill_per_token: 40us, decode_base: 15ms, kv_capacity_tokens: 300000}\n")


def test_cli_closed_loop_table_and_json(tmp_path):
    f = tmp_path / "fleet.yaml"
    f.write_text(FLEET_YAML)
    args = ["serve", "--fleet", str(f), "--concurrency", "4", "--requests", "20", "--prompt", "100", "--output", "10"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert r.output.startswith("closed loop, 4 in flight, 20 requests") and "TTFT ms" in r.output
    r = CliRunner().invoke(main, [*args, "--json", "--think", "100ms"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["concurrency"] == 4 and d["requests"] == 20 and d["think_s"] == 0.1
    assert d["load"] == "closed loop, 4 in flight, 20 requests, think 0.1 s"
    want = simulate_serving(str(f), concurrency=4, requests=20, prompt=100, output=10, think=0.1)
    assert d["ttft_mean_s"] == want.summary()["ttft_mean_s"]


@pytest.mark.parametrize("extra,field", [
    (["--concurrency", "0"], "--concurrency"),
    (["--concurrency", "2.5"], "--concurrency"),
    (["--concurrency", "many"], "--concurrency"),
    (["--concurrency", "4", "--requests", "2"], "requests"),
    (["--concurrency", "4", "--rate", "2", "--requests", "8"], "--requests: applies to a closed loop only"),
    (["--concurrency", "4", "--rate", "2", "--think", "1s"], "--think: applies to a closed loop only"),
    (["--concurrency", "4", "--duration", "10s"], "--duration"),
    (["--concurrency", "4", "--trace", "{d}/t.csv"], "--trace"),
    (["--concurrency", "4", "--prompt", "100"], "--prompt"),
    (["--rate", "2", "--requests", "10"], "--requests"),
    (["--rate", "2", "--think", "1s"], "--think"),
    (["--trace", "{d}/t.csv", "--prompt", "10", "--output", "2"], "--prompt"),
    # persona (fleet operator): these were ignored without a word, the trace replayed as written
    (["--trace", "{d}/t.csv", "--rate", "50"], "--rate: a --trace has its own arrival times"),
    (["--trace", "{d}/t.csv", "--duration", "10s"], "--duration: a --trace has its own arrival times"),
    (["--trace", "{d}/t.csv", "--workload", "sharegpt"], "--workload: a --trace has its own"),
])
def test_cli_bad_closed_loop_input_exits_2_with_one_line(tmp_path, extra, field):
    (tmp_path / "fleet.yaml").write_text(FLEET_YAML)
    (tmp_path / "t.csv").write_text("0,10,2\n")
    assert_cli_error(["serve", "--fleet", "{d}/fleet.yaml", *extra], tmp_path, field)


def test_cli_counts_in_scientific_notation(tmp_path):
    """``--requests 1e9`` is an integer (the Python API takes ``requests=1e9``): the memory estimate refuses it in one
    line naming the largest run that fits, where the CLI said 'must be an integer' (untrue); ``1e1`` runs 10
    requests; a fraction, an overflow, NaN and a negative stay one-line errors naming the option."""
    (tmp_path / "fleet.yaml").write_text(FLEET_YAML)
    base = ["serve", "--fleet", "{d}/fleet.yaml", "--concurrency", "2"]
    assert_cli_error([*base, "--requests", "1e9"], tmp_path, "1,000,000,000 requests")
    r = CliRunner().invoke(main, [a.replace("{d}", str(tmp_path)) for a in base]
                           + ["--requests", "1e1", "--prompt", "10", "--output", "2", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["requests"] == 10
    for bad in ("2.5", "1e400", "nan", "-1e3", "0e0"):
        assert_cli_error([*base, "--requests", bad], tmp_path, "--requests")


# ---------------------------------------------------------------------------------------------- pool stack
def test_fleet_stacks_are_inference_stacks():
    from fleet.spec import STACKS
    from inference.kernels import STACKS as INF_STACKS

    assert tuple(STACKS) == tuple(INF_STACKS)


def test_bad_stack_names_the_pool_and_the_choices():
    pool = {"name": "gpu", "fabric": "dgx-h100", "tp": 1}
    with pytest.raises(SpecError, match=r"pools\[0\] \(gpu\)\.stack: must be one of trtllm, vllm, sglang, ideal"):
        fleet_from_dict({"pools": [{**pool, "stack": "tensorrt"}]})
    with pytest.raises(SpecError, match="step_model"):
        fleet_from_dict({"pools": [{"name": "lin", "step_model": {"decode_base": "1ms"}, "stack": "vllm"}]})
    assert fleet_from_dict({"pools": [{**pool, "stack": "VLLM"}]}).pools[0].stack == "vllm"


def test_pool_stack_changes_the_step_model():
    """The pool's stack reaches inference.StepModel: vLLM and TensorRT-LLM profiles give different step times on
    the same chip, and each equals a StepModel built with that stack directly."""
    from fleet import build_step_model
    from inference import StepModel

    times = {}
    for stack in ("vllm", "trtllm", None):
        pool = {"name": "gpu", "fabric": "dgx-h100", "tp": 1, **({"stack": stack} if stack else {})}
        sm = build_step_model(fleet_from_dict({"pools": [pool]}).pools[0], "llama3.1-8b")
        times[stack] = (sm.decode_time(32, 1024), sm.prefill_time(2048, 2))
    assert times["vllm"] != times["trtllm"]
    assert times[None] == times["trtllm"]  # inference's default stack
    ref = StepModel("llama3.1-8b", "dgx-h100", tp=1, dtype="fp8", stack="vllm")
    assert times["vllm"] == (ref.decode_time(32, 1024), ref.prefill_time(2048, 2))


def test_serve_help_names_every_bundled_fleet_and_single_h100_runs():
    """The --fleet help lists the bundled fleets by hand: it must name every one fleet.bundled_fleets() has (a new
    bundled fleet must be added there). The bundled single-h100 fleet (vLLM stack) runs a closed loop."""
    import re

    from fleet import bundled_fleets, load_fleet

    out = re.sub(r"\s+", "", CliRunner().invoke(main, ["serve", "--help"]).output)
    assert bundled_fleets() and all(name in out for name in bundled_fleets()), out
    assert [p.stack for p in load_fleet("single-h100").pools] == ["vllm"]
    res = simulate_serving("single-h100", concurrency=2, requests=4, prompt=200, output=8)
    assert res.n == 4 and np.all(res.arrival[:2] == 0) and np.all(res.arrival[2:] > 0)


def test_a_trace_with_a_rate_or_duration_is_refused_in_python_too():
    """simulate_serving(trace, rate=50) replayed the trace at its own rate without a word (persona: fleet operator)."""
    tr = Trace([0.0, 1.0], [10, 10], [2, 2])
    spec = fleet()
    for kw, field in (({"rate": 50.0}, "rate"), ({"duration": 10.0}, "duration"),
                      ({"rate": 5.0, "duration": 1.0}, "rate and duration")):
        with pytest.raises(SpecError, match=f"^{field}: a trace has its own arrival times"):
            simulate_serving(spec, tr, **kw)
    assert simulate_serving(spec, tr).n == 2
