"""Speculative decoding in the serving simulator: a decode iteration (a draft + verify step) gains E tokens per
sequence in expectation (E = ``Speculative.tokens_per_step``, the expected accepted length; a LinearStepModel's
``tokens_per_step``). Each sequence carries its fractional tokens, so after j iterations it has emitted floor(j E)
and a request of O output tokens decodes its O - 1 after the first in exactly ceil((O - 1) / E) iterations, the
last emitting what is left; its context grows by E per iteration. ITL is per chunk, as vLLM's benchmark client
records it (one gap per streamed chunk, several tokens at once under speculation); TPOT = (last - first token) /
(O - 1) as vLLM computes it.

Expected values are independent of the simulator: closed-form timelines of a LinearStepModel (one request alone
on a replica), token and gap counts from the carry rule, and the non-speculative run (E = 1).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet import simulate_serving, single_pool_fleet
from fleet.spec import fleet_from_dict
from inference import Speculative, StepModel
from topo import SpecError

B0, P1 = 2e-3, 40e-6  # prefill: base s, s per prompt token
D0, DS, DK = 15e-3, 1e-4, 4e-9  # decode (a draft + verify iteration): base s, s per sequence, s per seq per ctx token
LIN = {"prefill_base": B0, "prefill_per_token": P1, "decode_base": D0, "decode_per_seq": DS,
       "decode_per_kv_token": DK, "kv_capacity_tokens": 2_000_000, "kv_bytes_per_token": 163840,
       "cost_per_hour": 20}
PER_REQUEST = ("arrival", "ttft", "tpot", "latency", "queue_delay", "prefill_replica", "decode_replica", "generated")


def fleet(e=None, replicas=1, batch=256, lin=LIN, **extra):
    sm = dict(lin) if e is None else {**lin, "tokens_per_step": e}
    return {"pools": [{"name": "c", "step_model": sm, "replicas": replicas, "batch": batch, **extra}]}


def disagg(e=None):
    sm = LIN if e is None else {**LIN, "tokens_per_step": e}
    return {"pools": [{"name": "p", "role": "prefill", "step_model": LIN, "batch": 4},
                      {"name": "d", "role": "decode", "step_model": sm, "batch": 8}],
            "kv_network": {"bandwidth": "100Gbps", "latency": "3us"}}


def iters(tokens, e):
    return math.ceil(tokens / e - 1e-9)


@pytest.mark.parametrize("spec_of", [
    lambda e: fleet(e, batch=8), lambda e: fleet(e, 2, batch=4, chunked_prefill=True, token_budget=512),
    disagg])
@pytest.mark.parametrize("load", [{"rate": 6.0, "duration": 20.0}, {"concurrency": 5, "requests": 40}])
def test_one_token_per_iteration_is_the_plain_simulation_bit_for_bit(spec_of, load):
    """E = 1 (acceptance 0: every proposal rejected) is the non-speculative simulation with the verify step's times."""
    a = simulate_serving(spec_of(None), workload="sharegpt", seed=3, **load)
    b = simulate_serving(spec_of(1.0), workload="sharegpt", seed=3, **load)
    for name in PER_REQUEST:
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    assert a.summary()["itl_p99_s"] == b.summary()["itl_p99_s"] and a.itl.n == b.itl.n


@pytest.mark.parametrize("e", [1.0, 1.7, 2.5, 3.0, 4.2])
@pytest.mark.parametrize("chunked", [False, True])
def test_one_request_alone_against_the_closed_form(e, chunked):
    """C = 1: TTFT = prefill(P); then ceil((O - 1) / E) iterations, the j-th at context P + 1 + j E; TPOT = their
    time / (O - 1); one ITL gap per iteration (per chunk of tokens)."""
    p, o, n = 300, 25, 4
    res = simulate_serving(fleet(e, chunked_prefill=chunked, token_budget=512), concurrency=1, requests=n,
                           prompt=p, output=o)
    k = iters(o - 1, e)
    steps = [D0 + DS + DK * (p + 1 + e * j) for j in range(k)]
    assert np.allclose(res.ttft, B0 + P1 * p, rtol=1e-12)
    assert np.allclose(res.latency, B0 + P1 * p + sum(steps), rtol=1e-12)
    assert np.allclose(res.tpot, sum(steps) / (o - 1), rtol=1e-12)
    assert res.itl.n == n * k and res.summary()["itl_mean_s"] == pytest.approx(sum(steps) / k, rel=1e-12)
    assert np.array_equal(res.generated, res.output)


@settings(max_examples=20, deadline=None)
@given(st.floats(1.0, 5.0), st.integers(1, 3), st.booleans(), st.booleans(), st.integers(0, 1000))
def test_tokens_conserved_and_one_gap_per_iteration(e, replicas, chunked, disaggregated, seed):
    spec = disagg(e) if disaggregated else fleet(e, replicas, batch=6, chunked_prefill=chunked, token_budget=700)
    res = simulate_serving(spec, rate=15.0, duration=4.0, workload="sharegpt", seed=seed)
    assert np.array_equal(res.generated, res.output) and np.all(res.finished_count == 1)
    assert res.itl.n == sum(iters(int(o) - 1, e) for o in res.output if o > 1)
    assert np.all(res.ttft <= res.latency)


def test_throughput_rises_with_the_accepted_length():
    """Same iteration times (context-free, so only the count of iterations changes): more tokens per iteration, fewer
    iterations, no less throughput; TPOT falls as 1 / E where E divides O - 1."""
    lin = {**LIN, "decode_per_kv_token": 0.0}
    prev_tput, prev_tpot = 0.0, math.inf
    for e in (1.0, 1.5, 2.0, 3.0, 4.0, 6.0):
        res = simulate_serving(fleet(e, batch=16, lin=lin), concurrency=16, requests=64, prompt=200, output=61)
        s = res.summary()
        assert s["output_tokens_per_s"] >= prev_tput and s["tpot_mean_s"] <= prev_tpot
        prev_tput, prev_tpot = s["output_tokens_per_s"], s["tpot_mean_s"]
    one = simulate_serving(fleet(1.0, batch=16, lin=lin), concurrency=16, requests=64, prompt=200, output=61)
    four = simulate_serving(fleet(4.0, batch=16, lin=lin), concurrency=16, requests=64, prompt=200, output=61)
    assert four.summary()["tpot_mean_s"] == pytest.approx(one.summary()["tpot_mean_s"] / 4, rel=1e-12)


def test_bad_tokens_per_step_and_speculative_on_a_step_model_pool():
    with pytest.raises(SpecError, match="tokens_per_step"):
        simulate_serving(fleet(0.5), rate=1.0, duration=2.0)
    with pytest.raises(SpecError, match="speculative applies to a pool built from a fabric"):
        fleet_from_dict({"pools": [{"name": "c", "step_model": LIN, "speculative": "mtp:3@0.8"}]})
    with pytest.raises(SpecError, match=r"pools\[0\] \(c\)\.speculative: .* no acceptance"):
        fleet_from_dict({"model": "llama3.1-8b", "pools": [{"name": "c", "fabric": "dgx-h100", "speculative": "mtp:3"}]})


# --------------------------------------------------------------------------- inference.StepModel (a fabric)
def test_fabric_pool_speculates_at_the_deployment_s_step():
    """A fabric pool with ``speculative``: inference.StepModel's decode step is the Deployment's draft + verify step,
    E its expected accepted length; the simulation conserves tokens, TPOT x E ~ ITL (one gap per iteration), and
    throughput rises with the acceptance."""
    sm = StepModel("llama3.1-8b", "dgx-h100", tp=1, stack="vllm", speculative="mtp:3@0.8")
    assert sm.tokens_per_step == Speculative("mtp", 3, 0.8).tokens_per_step
    plain = StepModel("llama3.1-8b", "dgx-h100", tp=1, stack="vllm")
    assert sm.decode_time(16, 1000) > plain.decode_time(16, 1000)  # the verify step costs more than one token
    assert sm.mixed_time(16, 1000, 0, 0) == sm.decode_time(16, 1000)
    prev = 0.0
    for sp in (None, "mtp:3@0.5", "mtp:3@0.8", "mtp:3@0.95"):
        res = simulate_serving(single_pool_fleet("llama3.1-8b", "dgx-h100", tp=1, stack="vllm", concurrency=16,
                                                 speculative=sp), concurrency=16, requests=48, prompt=1000, output=200)
        s = res.summary()
        assert np.array_equal(res.generated, res.output)
        assert s["output_tokens_per_s"] > prev
        prev = s["output_tokens_per_s"]
        e = res.pools[0]["tokens_per_step"]
        assert s["tpot_mean_s"] * 199 == pytest.approx(s["itl_mean_s"] * res.itl.n / 48, rel=1e-9)
        assert res.itl.n == 48 * iters(199, e)


def test_cli_speculative_inline_pool():
    from click.testing import CliRunner

    from cli import main

    base = ["serve", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "1", "--stack", "vllm",
            "--concurrency", "4", "--requests", "8", "--prompt", "100", "--output", "20"]
    r = CliRunner().invoke(main, [*base, "--speculative", "mtp:3@0.8", "--json"])
    assert r.exit_code == 0, r.output
    import json

    d = json.loads(r.output)
    want = simulate_serving(single_pool_fleet("llama3.1-8b", "dgx-h100", tp=1, stack="vllm", concurrency=4,
                                              speculative="mtp:3@0.8"), concurrency=4, requests=8, prompt=100,
                            output=20).summary()
    assert d["tpot_mean_s"] == want["tpot_mean_s"] and d["pools"][0]["tokens_per_step"] == pytest.approx(2.952)
    r = CliRunner().invoke(main, [*base, "--speculative", "mtp:3"])
    assert r.exit_code == 2 and r.stderr.startswith("error: --speculative: 'mtp:3' gives no acceptance"), r.output


def test_serve_sweep_job_takes_speculative():
    """The sweep's serve job passes ``speculative`` to the pool: a point equals simulate_serving of the same pool, a
    grid's unquoted ``off`` (YAML 1.1: False) is no speculation, and speculation raises the closed loop's output rate."""
    import yaml

    from sweep import JOBS

    base = {"model": "llama3.1-8b", "fabric": "dgx-h100", "tp": 1, "stack": "vllm", "concurrency": 4,
            "requests": 12, "prompt": 200, "output": 40}
    off = yaml.safe_load("speculative: off")["speculative"]
    param = JOBS["serve"].params["speculative"]
    on = JOBS["serve"]({**base, "speculative": "mtp:3@0.8"})
    plain = JOBS["serve"]({**base, "speculative": param.convert(off, "speculative")})
    want = simulate_serving(single_pool_fleet("llama3.1-8b", "dgx-h100", tp=1, stack="vllm",
                                              speculative="mtp:3@0.8"), concurrency=4, requests=12, prompt=200,
                            output=40).summary()
    assert on["tpot_p50_s"] == want["tpot_p50_s"] and on["output_tokens_per_s"] == want["output_tokens_per_s"]
    nospec = simulate_serving(single_pool_fleet("llama3.1-8b", "dgx-h100", tp=1, stack="vllm"), concurrency=4,
                              requests=12, prompt=200, output=40).summary()
    assert plain["output_tokens_per_s"] == nospec["output_tokens_per_s"]
    assert on["output_tokens_per_s"] > plain["output_tokens_per_s"]
