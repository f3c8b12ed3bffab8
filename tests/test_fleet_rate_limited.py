"""An open loop limited to C requests in flight (``scaleup serve --rate R --concurrency C``,
``simulate_serving(rate=R, concurrency=C)``), as ``vllm bench serve --request-rate R --max-concurrency C``: requests
are due at the rate's arrival times, and the client (an asyncio semaphore in vLLM's ``benchmark_serving.py``) holds
each, first in first out, until fewer than C are in flight; TTFT is timed from the send, after the wait (vLLM's
request function starts its clock inside the semaphore).

Expected values are independent of the simulator's code: the pure open loop (C >= the requests never holds one),
a single-server recursion (C = 1: send_k = max(due_k, finish_{k-1}), each request alone on an idle replica, its
latency worked out from the affine step times of a LinearStepModel), and the closed loop of the same C and requests
(which sends each request as soon as a slot frees, so no sooner-finishing schedule exists).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cli import main
from fleet import simulate_serving

B0, P1 = 2e-3, 40e-6  # prefill: base s, s per prompt token
D0, DS, DK = 15e-3, 1e-4, 4e-9  # decode: base s, s per sequence, s per sequence per context token
LIN = {"prefill_base": B0, "prefill_per_token": P1, "decode_base": D0, "decode_per_seq": DS,
       "decode_per_kv_token": DK, "kv_capacity_tokens": 2_000_000, "kv_bytes_per_token": 163840,
       "cost_per_hour": 20}
PER_REQUEST = ("arrival", "prompt", "output", "ttft", "tpot", "latency", "queue_delay", "prefill_replica",
               "decode_replica", "met_slo", "generated")


def fleet(replicas=1, batch=256, **extra):
    return {"pools": [{"name": "c", "step_model": LIN, "replicas": replicas, "batch": batch, **extra}]}


DISAGG = {"pools": [{"name": "p", "role": "prefill", "step_model": LIN, "replicas": 2, "batch": 4},
                    {"name": "d", "role": "decode", "step_model": LIN, "batch": 8}],
          "kv_network": {"bandwidth": "100Gbps", "latency": "3us"}}


def _same(a, b):
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a):
        return bool(np.isnan(b))
    return bool(np.all(a == b))


@pytest.mark.parametrize("spec,kw", [
    (fleet(1, batch=8), {"workload": "sharegpt"}),
    (fleet(2, batch=4, chunked_prefill=True, token_budget=512), {"workload": "azure-conv", "burstiness": 0.3}),
    (fleet(1, batch=2, chunked_prefill=False), {"prompt": 500, "output": 30, "burstiness": 3.0}),
    (DISAGG, {"workload": "sharegpt"}),
])
def test_a_limit_above_the_requests_is_the_open_loop_bit_for_bit(spec, kw):
    base = simulate_serving(spec, rate=6.0, duration=20.0, seed=4, **kw)
    for c in (base.n, base.n + 1, 10**9):
        lim = simulate_serving(spec, rate=6.0, duration=20.0, seed=4, concurrency=c, **kw)
        for name in PER_REQUEST:
            assert _same(getattr(lim, name), getattr(base, name)), name
        assert _same(lim.scheduled, base.arrival) and np.all(lim.client_wait == 0.0)
        s, t = lim.summary(), base.summary()
        for k, v in t.items():
            if k not in ("load", "concurrency") and not k.startswith("client_wait"):
                assert _same(s[k], v), k
        assert s["concurrency"] == c and s["offered_rate_rps"] == t["offered_rate_rps"]
        assert s["load"] == t["load"] + f", at most {c} in flight"


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("rate", [1.0, 4.0, 40.0])
def test_concurrency_one_serialises_the_requests(chunked, rate):
    """C = 1: one request at a time, each alone on the replica: latency L = prefill(P) + sum_j decode(1, P + 1 + j),
    sent at max(its due time, the previous finish) (a single-server queue, served first come first served)."""
    p, o = 300, 25
    res = simulate_serving(fleet(1, chunked_prefill=chunked, token_budget=512), rate=rate, duration=10.0, prompt=p,
                           output=o, seed=7, concurrency=1)
    pure = simulate_serving(fleet(1), rate=rate, duration=10.0, prompt=p, output=o, seed=7)
    lat = B0 + P1 * p + sum(D0 + DS + DK * (p + 1 + j) for j in range(o - 1))
    send, prev = [], -np.inf
    for due in pure.arrival:
        prev = max(due, prev + lat) if send else due
        send.append(prev)
    assert res.n == pure.n > 5 and np.array_equal(res.scheduled, pure.arrival)
    assert np.allclose(res.arrival, send, rtol=1e-12, atol=1e-12)
    assert np.allclose(res.latency, lat, rtol=1e-12) and np.allclose(res.ttft, B0 + P1 * p, rtol=1e-12)
    assert np.allclose(res.client_wait, np.array(send) - pure.arrival, rtol=1e-12, atol=1e-12)
    assert np.all(res.queue_delay == 0.0)  # the server never queues: the client holds them
    assert res.makespan == pytest.approx(send[-1] + lat, rel=1e-12)
    if rate >= 4.0:  # above the server's rate (1 / L, ~2.7 req/s): the client's backlog grows, and so does the wait
        assert res.client_wait[-1] > 1.0 and res.throughput == pytest.approx(1.0 / lat, rel=0.02)


def in_flight_at(res, t):
    # a request that finishes at t has freed its slot at t: ``arrival + latency`` rebuilds its finish time with one
    # rounding (seed 162 below: 5.6e-17 s past the send it freed), so finishes within 1e-12 of t count as done
    finish = res.arrival + res.latency
    return int(np.sum((res.arrival <= t) & (finish > t + 1e-12 * max(1.0, t))))


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 8), st.sampled_from([2.0, 8.0, 30.0]), st.integers(1, 2), st.booleans(),
       st.sampled_from([0.25, 1.0]), st.integers(0, 1000))
@example(6, 8.0, 1, True, 0.25, 162)  # a slot freed and re-filled at the same instant (see in_flight_at)
def test_at_most_c_in_flight_first_in_first_out_and_no_faster_than_the_closed_loop(c, rate, replicas, chunked,
                                                                                   burst, seed):
    spec = fleet(replicas, batch=8, chunked_prefill=chunked, token_budget=1024)
    kw = {"prompt": 200, "output": 12}
    res = simulate_serving(spec, rate=rate, duration=4.0, seed=seed, concurrency=c, burstiness=burst, **kw)
    pure = simulate_serving(spec, rate=rate, duration=4.0, seed=seed, burstiness=burst, **kw)
    assert np.array_equal(res.scheduled, pure.arrival)
    assert np.all(res.arrival >= res.scheduled) and np.all(np.diff(res.arrival) >= 0)  # FIFO, never early
    assert max(in_flight_at(res, t) for t in res.arrival) <= c
    # a held request is sent at a completion (a slot frees): its send time is some request's finish
    finish = res.arrival + res.latency
    held = res.arrival > res.scheduled
    assert all(np.any(np.abs(finish - t) <= 1e-12 * max(1.0, t)) for t in res.arrival[held])
    assert res.generated.sum() == res.output.sum()
    if res.n >= c:  # the closed loop of C sends each request as soon as a slot frees: at least as fast
        closed = simulate_serving(spec, concurrency=c, requests=res.n, **kw)
        assert res.throughput <= closed.throughput * (1 + 1e-12)


def test_bursts_wait_in_the_client_not_the_server():
    """A bursty stream at 2 in flight: the server admits each send at its next iteration (2 fit its batch) while
    the client holds the rest for seconds; TTFT is timed from the send (as vLLM's benchmark), not the due time."""
    spec = fleet(1, batch=8)
    res = simulate_serving(spec, rate=20.0, duration=5.0, prompt=100, output=10, seed=1, concurrency=2,
                           burstiness=0.2)
    assert res.client_wait.max() > 1.0 and res.queue_delay.max() <= B0 + P1 * 200 + D0 + 2 * DS + 1e-6  # <= 1 step
    s = res.summary()
    assert s["client_wait_p99_s"] >= s["client_wait_p50_s"] >= 0.0 and s["burstiness"] == 0.2
    assert "client wait ms" in res.table() and "at most 2 in flight" in res.table().splitlines()[0]
    # the plain loops report no client wait: none in an open loop, undefined in a closed one
    assert simulate_serving(spec, rate=2.0, duration=5.0).summary()["client_wait_mean_s"] == 0.0
    assert np.isnan(simulate_serving(spec, concurrency=2, prompt=10, output=2).summary()["client_wait_mean_s"])
    assert "client wait" not in simulate_serving(spec, rate=2.0, duration=5.0).table()


def test_cli_rate_with_concurrency(tmp_path):
    f = tmp_path / "fleet.yaml"
    f.write_text("pools:\n  - name: c\n    replicas: 1\n    batch: 32\n"
                 "    step_model: {prefill_per_token: 40us, decode_base: 15ms, kv_capacity_tokens: 300000}\n")
    args = ["serve", "--fleet", str(f), "--rate", "8", "--duration", "10s", "--concurrency", "2", "--prompt", "100",
            "--output", "20", "--burstiness", "0.5"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert r.output.startswith("requests ") and "at most 2 in flight" in r.output.splitlines()[0]
    r = CliRunner().invoke(main, [*args, "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    want = simulate_serving(str(f), rate=8.0, duration=10.0, concurrency=2, prompt=100, output=20,
                            burstiness=0.5).summary()
    assert d["concurrency"] == 2 and d["think_s"] is None and d["load"] == want["load"]
    assert d["ttft_mean_s"] == want["ttft_mean_s"] and d["client_wait_mean_s"] == want["client_wait_mean_s"]
    assert d["offered_rate_rps"] == pytest.approx(d["requests"] / 10.0)
