"""A serving operator's checks of `scaleup serve` / `scaleup plan` against what vLLM's benchmark_serving, Vidur and
SGLang's bench_serving give: strict JSON, exit status of a plan that finds nothing, bursty arrivals, inter-token
latency percentiles, busy fraction beside KV-cache and batch occupancy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import DISAGG_FLEET_YAML as DISAGG

import fleet
from cli import main
from topo import SpecError

FLEET = """
pools:
  - name: c
    role: colocated
    replicas: 1
    batch: 64
    step_model: {prefill_per_token: 40us, decode_base: 10ms, kv_capacity_tokens: 100000, kv_bytes_per_token: 160KiB}
"""


def _strict(text: str):
    """json.loads that refuses NaN / Infinity (as jq and JavaScript's JSON.parse do)."""
    def bad(word: str):
        raise ValueError(f"non-standard JSON constant {word}")
    return json.loads(text, parse_constant=bad)


def test_serve_json_is_strict_json_with_null_for_undefined_figures(tmp_path):
    """`scaleup serve --json` wrote `"tpot_mean_s": NaN` (one-token outputs have no TPOT; a colocated fleet has no
    KV transfer): invalid JSON for strict parsers. Undefined figures are null."""
    f = tmp_path / "fleet.yaml"
    f.write_text(FLEET)
    t = tmp_path / "t.csv"
    t.write_text("arrival_s,prompt_tokens,output_tokens\n0,100,1\n0.5,200,1\n")
    r = CliRunner().invoke(main, ["serve", "--fleet", str(f), "--trace", str(t), "--json"])
    assert r.exit_code == 0, r.output
    d = _strict(r.stdout)
    assert d["tpot_mean_s"] is None and d["kv_time_p99_s"] is None and d["tokens_per_s_per_user_p50"] is None
    assert d["ttft_mean_s"] > 0


def test_plan_that_finds_no_deployment_exits_1_and_says_so():
    """`scaleup plan` exited 0 when nothing met the SLOs (scripts could not tell "no" from a plan); now 1 (2 stays
    bad input), the table still lists the closest candidates, --json still parses (best null) and says it on
    stderr; the header no longer claims a --verify re-check that never ran."""
    argv = ["plan", "--model", "llama3.1-8b", "--rate", "1", "--slo-tpot", "1ms", "--candidates", "dgx-h100",
            "--modes", "colocated", "--tp", "8", "--batch", "32", "--duration", "10s"]
    r = CliRunner().invoke(main, argv)
    assert r.exit_code == 1, r.output
    assert "no deployment meets the SLOs" in r.stdout and "TPOT at batch 1" in r.stdout
    assert "re-checked" not in r.stdout
    r = CliRunner().invoke(main, argv + ["--json"])
    assert r.exit_code == 1, r.output
    d = _strict(r.stdout)
    assert d["best"] is None and d["settings"]["verified_over_s"] is None
    assert len(r.stderr.strip().splitlines()) == 1 and "no deployment meets the SLOs" in r.stderr


# ---------------------------------------------------------------------------------------------- bursty arrivals
def _old_poisson_arrivals(rate: float, duration: float, seed: int) -> np.ndarray:
    """The Poisson draw before --burstiness existed (exponential gaps, 10-sigma margin, cut at the window)."""
    rng = np.random.default_rng(seed)
    n_guess = int(rate * duration + 10 * math.sqrt(rate * duration) + 20)
    t = np.cumsum(rng.exponential(1.0 / rate, size=n_guess))
    while t[-1] < duration:
        t = np.concatenate([t, np.cumsum(rng.exponential(1.0 / rate, size=n_guess)) + t[-1]])
    return t[t < duration]


@pytest.mark.parametrize("seed", [0, 7])
def test_burstiness_1_is_the_poisson_trace_bit_for_bit(seed):
    tr = fleet.poisson_trace(20.0, 60.0, seed=seed)
    assert np.array_equal(tr.arrival, _old_poisson_arrivals(20.0, 60.0, seed))
    one = fleet.poisson_trace(20.0, 60.0, seed=seed, burstiness=1.0)
    assert np.array_equal(one.arrival, tr.arrival) and np.array_equal(one.prompt, tr.prompt) \
        and np.array_equal(one.output, tr.output)
    assert np.array_equal(fleet.synthetic_trace(20.0, 60.0, seed=seed, burstiness=1).arrival, tr.arrival)


@pytest.mark.parametrize("b", [0.25, 4.0])
def test_bursty_gaps_are_gamma_of_mean_one_over_rate_and_cv_one_over_sqrt_shape(b):
    """vLLM benchmark_serving --burstiness: gamma gaps, shape b, mean 1 / rate; their coefficient of variation is
    1 / sqrt(b) (2 at 0.25, bursty; 0.5 at 4, even). 40,000 gaps: sampling error ~1 % (mean), ~2 % (CV)."""
    rate = 50.0
    tr = fleet.poisson_trace(rate, 800.0, seed=3, burstiness=b)
    gaps = np.diff(np.concatenate([[0.0], tr.arrival]))
    assert gaps.mean() == pytest.approx(1 / rate, rel=0.04)
    assert gaps.std() / gaps.mean() == pytest.approx(1 / math.sqrt(b), rel=0.06)
    again = fleet.poisson_trace(rate, 800.0, seed=3, burstiness=b)
    assert np.array_equal(again.arrival, tr.arrival)  # deterministic under the seed
    assert not np.array_equal(fleet.poisson_trace(rate, 800.0, seed=4, burstiness=b).arrival[:10], tr.arrival[:10])


def test_bursty_arrivals_lengthen_the_tail_at_the_same_rate(tmp_path):
    """The same mean rate in bursts queues more: P99 TTFT grows as the burstiness falls (here 5x)."""
    f = tmp_path / "fleet.yaml"
    f.write_text(FLEET)
    kw = dict(rate=5.0, duration=120.0, workload="sharegpt", seed=1)
    poisson = fleet.simulate_serving(str(f), **kw)
    assert np.array_equal(fleet.simulate_serving(str(f), burstiness=1.0, **kw).ttft, poisson.ttft)
    bursty = fleet.simulate_serving(str(f), burstiness=0.1, **kw)
    assert bursty.summary()["burstiness"] == 0.1 and poisson.summary()["burstiness"] == 1.0
    assert bursty.summary()["ttft_p99_s"] > 3 * poisson.summary()["ttft_p99_s"]
    assert "(burstiness 0.1)" in bursty.table().splitlines()[0] and "burstiness" not in poisson.table()


def test_burstiness_in_the_cli_and_its_errors(tmp_path):
    f = tmp_path / "fleet.yaml"
    f.write_text(FLEET)
    base = ["serve", "--fleet", str(f), "--rate", "10", "--duration", "30s", "--json"]
    r = CliRunner().invoke(main, base + ["--burstiness", "0.5"])
    assert r.exit_code == 0, r.output
    d = _strict(r.stdout)
    ref = fleet.simulate_serving(str(f), rate=10.0, duration=30.0, burstiness=0.5)
    assert d["burstiness"] == 0.5 and d["requests"] == ref.n and d["ttft_p99_s"] == ref.summary()["ttft_p99_s"]
    for bad in ("0", "-1", "nan", "inf"):
        r = CliRunner().invoke(main, base + ["--burstiness", bad])
        assert r.exit_code == 2 and "burstiness" in r.output and "Traceback" not in r.output, r.output
    t = tmp_path / "t.csv"
    t.write_text("0,100,5\n0.5,200,3\n")
    r = CliRunner().invoke(main, ["serve", "--fleet", str(f), "--trace", str(t), "--burstiness", "0.5"])
    assert r.exit_code == 2 and "burstiness" in r.output
    r = CliRunner().invoke(main, ["serve", "--fleet", str(f), "--concurrency", "4", "--burstiness", "0.5"])
    assert r.exit_code == 2 and "burstiness" in r.output


def test_plan_plans_for_bursty_arrivals():
    """plan(burstiness=) sizes on the bursty trace (and its --verify trace): bursts need at least as many replicas."""
    from test_fleet import _factory  # tests/ is on sys.path under pytest (rootdir conftest, no package)

    kw = dict(duration=60.0, step_model_factory=_factory, tps=(8,), batches=(64,), modes=("colocated",), seed=2)
    poisson = fleet.plan("m", 40.0, 0.5, 0.05, ["slow"], **kw)
    bursty = fleet.plan("m", 40.0, 0.5, 0.05, ["slow"], burstiness=0.1, **kw)
    assert poisson.best is not None and bursty.best is not None
    n_p, n_b = (r.best.best.fleet.pools[0].replicas for r in (poisson, bursty))
    assert n_b > n_p and bursty.settings["burstiness"] == 0.1
    with pytest.raises(SpecError, match="burstiness"):
        fleet.plan("m", 40.0, 0.5, 0.05, ["slow"], burstiness=0.0, **kw)


def test_serve_sweep_job_takes_burstiness():
    """The sweep's serve job (a latency-throughput curve point) has burstiness as a parameter, passed through."""
    from sweep import JOBS

    point = {"model": "llama3.1-8b", "fabric": "dgx-h100", "tp": 1, "stack": "vllm", "rate": 4, "duration": "20s",
             "prompt": 200, "output": 16, "burstiness": 0.3}
    out = JOBS["serve"](point)
    want = fleet.simulate_serving(fleet.single_pool_fleet("llama3.1-8b", "dgx-h100", tp=1, stack="vllm"), rate=4.0,
                                  duration=20.0, prompt=200, output=16, burstiness=0.3).summary()
    assert out["burstiness"] == 0.3 and out["requests"] == want["requests"]
    assert out["ttft_p99_s"] == want["ttft_p99_s"] and out["tpot_p50_s"] == want["tpot_p50_s"]


# ---------------------------------------------------------------------------------------------- inter-token latency
STALL_FLEET = """
pools:
  - name: c
    role: colocated
    replicas: 1
    batch: 64
    step_model: {prefill_per_token: 40us, decode_base: 10ms, kv_capacity_tokens: 20000, kv_bytes_per_token: 160KiB}
"""


def _stall_run(tmp_path, **kw):
    """Prefill first (vLLM v0): A (100 + 21 tokens) arrives at 0, first token at 4 ms, then a token every 10 ms; B
    (10,000-token prompt, 2 output tokens) arrives at 100.5 ms, is prefilled from 104 ms to 504 ms (A's decodes
    stall), and both decode at 514 ms (B done); A goes on every 10 ms to 604 ms. A's 20 gaps: 19 of 10 ms and one of
    410 ms; B's one gap: 10 ms."""
    f = tmp_path / "stall.yaml"
    f.write_text(STALL_FLEET)
    t = tmp_path / "stall.csv"
    t.write_text("arrival_s,prompt_tokens,output_tokens\n0,100,21\n0.1005,10000,2\n")
    return fleet.simulate_serving(str(f), str(t), **kw)


def test_itl_percentiles_of_a_hand_worked_decode_stall(tmp_path):
    res = _stall_run(tmp_path)
    assert res.latency[0] == pytest.approx(0.604) and res.latency[1] == pytest.approx(0.514 - 0.1005)
    gaps = np.array([0.010] * 19 + [0.410] + [0.010])
    s = res.summary()
    want = np.percentile(gaps, [50, 90, 99])
    assert [s["itl_p50_s"], s["itl_p90_s"], s["itl_p99_s"]] == pytest.approx(want, rel=1e-9)
    assert s["itl_p99_s"] == pytest.approx(0.330)  # numpy's linear rank: 10 ms + 0.8 x 400 ms
    assert s["itl_mean_s"] == pytest.approx(gaps.mean(), rel=1e-12)
    assert res.itl_percentiles([0, 100]) == pytest.approx([0.010, 0.410], rel=1e-9)
    # TPOT averages the stall away (A's 30 ms, B's 10 ms): the ITL tail is what shows it
    assert s["tpot_p99_s"] < 0.031
    assert "ITL ms" in res.table()
    macro1 = _stall_run(tmp_path, macro_cap=1).summary()
    assert all(macro1[f"itl_{k}_s"] == pytest.approx(s[f"itl_{k}_s"], rel=1e-9) for k in ("mean", "p50", "p99"))


@pytest.mark.parametrize("kind", ["colocated", "chunked", "disaggregated"])
def test_itl_counts_every_gap_once_and_sums_to_each_request_s_decode_time(tmp_path, kind):
    """Every request of O tokens has O - 1 gaps summing to (last token - first token): the histogram's count and
    sum equal those of the per-request arrays, whatever the scheduler (macro-steps, chunked runs, KV handoffs);
    the percentiles lie within the gaps' range and agree with stepping one iteration at a time."""
    f = tmp_path / "fleet.yaml"
    text = {"colocated": FLEET, "chunked": FLEET.replace("batch: 64", "batch: 64\n    chunked_prefill: true\n"
                                                         "    token_budget: 512"), "disaggregated": DISAGG}[kind]
    f.write_text(text)
    kw = dict(rate=4.0, duration=60.0, workload="sharegpt", seed=5)
    res = fleet.simulate_serving(str(f), **kw)
    many = res.output > 1
    s = res.summary()
    assert res.itl.n == int((res.output[many] - 1).sum())
    assert res.itl.total == pytest.approx(float((res.latency - res.ttft)[many].sum()), rel=1e-9)
    assert s["itl_mean_s"] == pytest.approx(res.itl.total / res.itl.n)
    assert res.itl.lo <= s["itl_p50_s"] <= s["itl_p90_s"] <= s["itl_p99_s"] <= res.itl.hi
    one = fleet.simulate_serving(str(f), macro_cap=1, **kw).summary()
    assert all(one[f"itl_{k}_s"] == pytest.approx(s[f"itl_{k}_s"], rel=1e-3) for k in ("mean", "p50", "p90", "p99"))


def test_itl_is_in_the_json_and_null_without_gaps(tmp_path):
    f = tmp_path / "fleet.yaml"
    f.write_text(FLEET)
    r = CliRunner().invoke(main, ["serve", "--fleet", str(f), "--rate", "3", "--duration", "20s", "--json"])
    d = _strict(r.stdout)
    assert all(d[f"itl_{k}_s"] > 0 for k in ("mean", "p50", "p90", "p99"))
    t = tmp_path / "t.csv"
    t.write_text("0,100,1\n0.5,200,1\n")
    d = _strict(CliRunner().invoke(main, ["serve", "--fleet", str(f), "--trace", str(t), "--json"]).stdout)
    assert d["itl_p99_s"] is None and d["itl_mean_s"] is None


# ---------------------------------------------------------------------------------------------- busy vs occupancy
def test_one_sequence_keeps_a_replica_busy_and_the_kv_and_batch_columns_say_how_full_it_is(tmp_path):
    """persona (vLLM user): `util` read 99-100 % at a load far below capacity (it is the busy fraction: one sequence
    keeps continuous batching iterating). One request of 100 + 101 tokens alone: busy 100 %, but 201 of the 20,000
    KV tokens reserved (1.0 %) and 1 sequence of the 64-batch, the table's new columns."""
    f = tmp_path / "f.yaml"
    f.write_text(STALL_FLEET)
    t = tmp_path / "t.csv"
    t.write_text("0,100,101\n")
    res = fleet.simulate_serving(str(f), str(t))
    p = res.pools[0]
    assert p["mean_utilisation"] == pytest.approx(1.0)
    assert p["kv_mean_fraction"] == pytest.approx(201 / 20000) and p["kv_peak_fraction"] == pytest.approx(201 / 20000)
    assert p["mean_batch"] == pytest.approx(1.0) and p["batch"] == 64
    s = res.summary()
    assert s["kv_mean_fraction"] == pytest.approx(201 / 20000) and s["mean_batch_fraction"] == pytest.approx(1 / 64)
    head, row = res.table().splitlines()[-3:-1]
    assert "busy mean" in head and "KV mean" in head and "KV peak" in head and "batch mean" in head
    assert "util" not in res.table()
    assert "1.0%" in row and "1.0/64" in row


@pytest.mark.parametrize("kind", ["colocated", "disaggregated"])
def test_kv_and_batch_occupancy_follow_little_s_law_from_the_per_request_times(tmp_path, kind):
    """The in-loop KV integral equals sum(tokens x time held) of the per-request times (colocated: prompt + output
    from admission to the last token; prefill pool: the prompt until the KV cache has left; decode pool: prompt +
    output from decode admission to the last token); mean batch likewise with 1 slot per request."""
    f = tmp_path / "fleet.yaml"
    f.write_text(FLEET if kind == "colocated" else DISAGG)
    res = fleet.simulate_serving(str(f), rate=6.0, duration=60.0, workload="sharegpt", seed=2)
    r = fleet.simulate_serving(str(f), rate=6.0, duration=60.0, workload="sharegpt", seed=2, macro_cap=1)
    assert [p["kv_token_seconds"] for p in r.pools] == pytest.approx([p["kv_token_seconds"] for p in res.pools])
    need = (res.prompt + res.output).astype(float)
    t_admit = res.arrival + res.queue_delay
    t_first, t_finish = res.arrival + res.ttft, res.arrival + res.latency
    span = res.makespan
    if kind == "colocated":
        (p,) = res.pools
        assert p["kv_token_seconds"] == pytest.approx(float((need * (t_finish - t_admit)).sum()), rel=1e-9)
        assert p["mean_batch"] == pytest.approx(float((t_finish - t_admit).sum()) / span, rel=1e-9)
    else:
        pre, dec = res.pools
        kv_end = t_first + res.kv_time
        held_p = np.where(res.output > 1, kv_end, t_first) - t_admit
        assert pre["kv_token_seconds"] == pytest.approx(float((res.prompt * held_p).sum()), rel=1e-9)
        assert pre["mean_batch"] == pytest.approx(float((t_first - t_admit).sum()) / span / 2, rel=1e-9)
        assert dec["kv_token_seconds"] > 0 and 0 < dec["kv_mean_fraction"] <= dec["kv_peak_fraction"] <= 1
        assert 0 < dec["mean_batch"] <= dec["batch"]
    for p in res.pools:
        assert 0 < p["kv_mean_fraction"] <= p["kv_peak_fraction"] <= 1


def test_offered_rate_of_a_drawn_trace_is_over_its_window_not_its_last_arrival(tmp_path):
    """`--rate 5 --duration 10s --burstiness 0.01` drew 13 requests in the first 12 us and the table read "offered
    1051434.33 req/s" (requests / last arrival); a drawn trace's window is its duration: 13 / 10 s. A given trace
    keeps t = 0 to its last arrival (it has no other window)."""
    f = tmp_path / "fleet.yaml"
    f.write_text(FLEET)
    res = fleet.simulate_serving(str(f), rate=5.0, duration=10.0, burstiness=0.01, seed=0)
    assert res.window == 10.0 and res.offered_rate == pytest.approx(res.n / 10.0)
    assert res.duration < 1e-3  # every request in the first instants of the window
    assert f"offered {res.n / 10:.2f} req/s (burstiness 0.01)" in res.table().splitlines()[0]
    poisson = fleet.simulate_serving(str(f), rate=2.0, seed=0)  # 600 s default window
    assert poisson.window == 600.0 and poisson.summary()["offered_rate_rps"] == pytest.approx(poisson.n / 600.0)
    given = fleet.simulate_serving(str(f), fleet.Trace(poisson.arrival, poisson.prompt, poisson.output))
    assert given.window is None and given.offered_rate == pytest.approx(poisson.n / poisson.arrival[-1])


def test_requests_with_a_rate_names_duration_as_the_way_to_size_an_open_loop(tmp_path):
    """vLLM users size a Poisson run by --num-prompts; `--rate 5 --requests 100` said only 'give --concurrency C too'
    (a closed loop, a different load): it now names --duration as the open loop's size."""
    f = tmp_path / "fleet.yaml"
    f.write_text(FLEET)
    r = CliRunner().invoke(main, ["serve", "--fleet", str(f), "--rate", "5", "--requests", "100"])
    assert r.exit_code == 2 and "--requests" in r.output and "--duration" in r.output
    with pytest.raises(SpecError, match="^requests: applies to a closed loop only.*duration"):
        fleet.simulate_serving(str(f), rate=5.0, requests=100)


def test_gap_histogram_percentiles_against_numpy_with_flushes_and_weights(monkeypatch):
    """The ITL histogram alone: weighted scalars and arrays (an array is a decode macro-step, its weight the batch),
    flushed many times during the adds (a small FLUSH), read back against numpy.percentile of the same gaps
    expanded one by one: count, mean, min and max exact; percentiles within the 0.023 % bin width."""
    from fleet.sim import GapHistogram

    monkeypatch.setattr(GapHistogram, "FLUSH", 50)
    rng = np.random.default_rng(11)
    h = GapHistogram()
    expanded = []
    for _ in range(400):
        if rng.random() < 0.5:
            g, w = float(rng.lognormal(np.log(0.02), 0.6)), int(rng.integers(1, 9))
            h.add(g, w)
            expanded += [g] * w
        else:
            base = rng.lognormal(np.log(0.008), 0.1, size=int(rng.integers(2, 40)))
            view, w = base[1:], int(rng.integers(1, 65))  # a view of a larger array, as the simulation passes
            h.add_array(view, w)
            expanded += list(np.repeat(view, w))
    x = np.array(expanded)
    qs = [0, 1, 25, 50, 90, 99, 99.9, 100]
    got = h.percentiles(qs)
    assert h.n == len(x) and h.total == pytest.approx(x.sum(), rel=1e-12)
    assert h.lo == x.min() and h.hi == x.max()
    assert got == pytest.approx(np.percentile(x, qs), rel=2.3e-4)
    assert h.stats()["mean"] == pytest.approx(x.mean(), rel=1e-12)
    h.add(1.0, 1)  # adding after a read (compacted) re-opens the bins
    assert h.percentiles([100]) == [1.0] and h.n == len(x) + 1
    assert GapHistogram().stats()["p99"] != GapHistogram().stats()["p99"]  # NaN without gaps
