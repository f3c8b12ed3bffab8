"""Bad input to the serving commands (issues 14 and 20): one ``error:`` line naming the field and exit code 2
from the CLI, a typed ScaleupError from the Python API, never a traceback.

Table-driven like tests/test_errors_cli.py. Fleets here use declared step models, so no case builds an
inference model and every case is fast.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_cli_error, write_files

import fleet
from cli import main
from topo import CapacityError, SpecError

LIN = "{prefill_per_token: 40us, decode_base: 15ms, kv_capacity_tokens: 300000}"
OK = f"pools:\n  - name: c\n    step_model: {LIN}\n    replicas: 2\n"

FILES = {
    "ok.yaml": OK.encode(),
    "huge.yaml": f"pools:\n  - name: c\n    step_model: {LIN}\n    replicas: 1000000000\n".encode(),
    "huge_float.yaml": f"pools:\n  - name: c\n    step_model: {LIN}\n    replicas: 1.0e+9\n".encode(),
    "inf.yaml": f"pools:\n  - name: c\n    step_model: {LIN}\n    replicas: .inf\n".encode(),
    "fleet_latin1.yaml": f"name: caf\xe9\n{OK}".encode("latin-1"),
    "fleet_binary.yaml": bytes(range(256)),
    "trace_latin1.csv": "arrival_s,prompt_tokens,output_tokens\n0,100,10 # caf\xe9\n".encode("latin-1"),
    "trace_binary.csv": bytes(range(256)) * 4,
    "trace_nul.csv": b"0,100,10\n0\x00,100,10\n",
    "trace_inf.csv": b"0,inf,10\n",
    "prices_latin1.yaml": "dgx-h100: 3.0 # caf\xe9\n".encode("latin-1"),
    "decode_no_prefill.yaml": (f"pools:\n  - name: c\n    step_model: {LIN}\n  - name: lonely\n    role: decode\n"
                               f"    step_model: {LIN}\n").encode(),
    "zero_steps.yaml": (b"pools:\n  - name: c\n    step_model: {prefill_per_token: 0, decode_base: 0}\n"),
    # a unit left out: bare numbers are SI, so 400 was 400 bytes/s, 2 was 2 s, 80 was 80 s per prompt token
    "bare_kv_bw.yaml": f"{OK}kv_network: {{bandwidth: 400, latency: 2us}}\n".encode(),
    "bare_kv_lat.yaml": f"{OK}kv_network: {{bandwidth: 400Gbps, latency: 2}}\n".encode(),
    "bare_kv_uplink.yaml": f"{OK}kv_network: {{pool_uplink: 6400}}\n".encode(),
    "bare_step.yaml": b"pools:\n  - name: c\n    step_model: {prefill_per_token: 80, decode_base: 15ms}\n",
    # the same quantities in SI that a real system has: accepted
    "si_ok.yaml": (b"pools:\n  - name: c\n    step_model: {prefill_per_token: 4.0e-5, decode_base: 0.015, "
                   b"kv_capacity_tokens: 300000}\nkv_network: {bandwidth: 5.0e+10, latency: 2.0e-6}\n"),
    "router_bad_init.py": b"class R:\n    def __init__(self, x):\n        pass\n",
    "router_syntax.py": b"def r(req, pools:\n",
    "router_ok.py": b"def r(req, pools):\n    return pools[0]\n",
    "router_raises.py": b"def r(req, pools):\n    return 1 / 0\n",
}

SERVE = ["serve", "--fleet", "{d}/ok.yaml", "--rate", "2", "--duration", "5s"]
PLAN = ["plan", "--model", "llama3.1-8b", "--candidates", "dgx-h100", "--rate", "1"]

# (argv with {d} = directory of FILES, a fragment the one-line message must contain)
CASES = [
    ([*SERVE, "--seed", "-1"], "seed"),
    ([*PLAN, "--seed", "-1"], "seed"),
    # a load that draws nothing (fixed-length closed loop, a trace file) refused it too; it was accepted
    (["serve", "--fleet", "{d}/ok.yaml", "--concurrency", "2", "--prompt", "10", "--output", "5", "--seed", "-1"],
     "seed"),
    ([*SERVE, "--out", "{d}"], "--out"),
    ([*SERVE, "--out", "{d}/no/such/dir/r.csv"], "--out"),
    # checked before anything else: the huge fleet would be refused too, but --out is named first
    (["serve", "--fleet", "{d}/huge.yaml", "--rate", "1", "--out", "{d}"], "--out"),
    ([*SERVE, "--router", "os:getcwd"], "(request, pools)"),
    ([*SERVE, "--router", "os:sep"], "not callable"),
    ([*SERVE, "--router", "{d}/router_bad_init.py:R"], "slo_ttft"),
    ([*SERVE, "--router", "{d}/router_syntax.py:r"], "cannot load"),
    ([*SERVE, "--router", "{d}/router_raises.py:r"], "ZeroDivisionError"),
    (["serve", "--fleet", "{d}/huge.yaml", "--rate", "1", "--duration", "10s"], "largest"),
    (["serve", "--fleet", "{d}/huge_float.yaml", "--rate", "1", "--duration", "10s"], "replicas"),
    (["serve", "--fleet", "{d}/inf.yaml", "--rate", "1"], "replicas"),
    (["serve", "--fleet", "{d}/ok.yaml", "--rate", "100", "--duration", "100000s"], "largest"),
    (["serve", "--fleet", "{d}/fleet_latin1.yaml", "--rate", "1"], "UTF-8"),
    (["serve", "--fleet", "{d}/fleet_binary.yaml", "--rate", "1"], "UTF-8"),
    (["serve", "--fleet", "{d}/ok.yaml", "--trace", "{d}/trace_latin1.csv"], "UTF-8"),
    (["serve", "--fleet", "{d}/ok.yaml", "--trace", "{d}/trace_binary.csv"], "UTF-8"),
    (["serve", "--fleet", "{d}/ok.yaml", "--trace", "{d}/trace_nul.csv"], "trace_nul.csv"),
    (["serve", "--fleet", "{d}/ok.yaml", "--trace", "{d}/trace_inf.csv"], "prompt"),
    ([*PLAN, "--prices", "{d}/prices_latin1.yaml"], "UTF-8"),
    (["serve", "--fleet", "{d}/decode_no_prefill.yaml", "--rate", "1"], "lonely"),
    (["serve", "--fleet", "{d}/zero_steps.yaml", "--rate", "1"], "step_model"),
    # 6 M requests fit the memory but ran ~5 minutes without a word: refused up front, naming the run that fits
    ([*SERVE[:3], "--rate", "100000", "--duration", "60s"],
     "5,000,000-request budget of one run; the largest trace that fits has 5,000,000 requests, a duration of 49 s"),
    (["serve", "--fleet", "{d}/bare_kv_bw.yaml", "--rate", "1"],
     "kv_network.bandwidth: the bare number 400 is 400 bytes/s (SI); write the unit, e.g. '400Gbps'"),
    (["serve", "--fleet", "{d}/bare_kv_lat.yaml", "--rate", "1"], "kv_network.latency: the bare number 2 is 2 s"),
    (["serve", "--fleet", "{d}/bare_kv_uplink.yaml", "--rate", "1"], "kv_network.pool_uplink"),
    (["serve", "--fleet", "{d}/bare_step.yaml", "--rate", "1"],
     "step_model.prefill_per_token: the bare number 80 is 80 s (SI); write the unit, e.g. '80us' or '80ms'"),
    # an infinite rate, or a product rate x duration past float range, was an OverflowError in the size estimate
    (["serve", "--fleet", "{d}/ok.yaml", "--rate", "inf", "--duration", "5s"], "rate"),
    (["serve", "--fleet", "{d}/ok.yaml", "--rate", "1e308", "--duration", "5s"], "rate x duration"),
    (["plan", "--model", "llama3.1-8b", "--candidates", "dgx-h100", "--rate", "1e308"], "rate x duration"),
    # a trace that drew no request names --duration (plan's mean request length was NaN: a ValueError)
    (["serve", "--fleet", "{d}/ok.yaml", "--rate", "2", "--duration", "5ms"], "duration"),
    (["plan", "--model", "llama3.1-8b", "--candidates", "dgx-h100", "--rate", "2", "--duration", "5ms"], "duration"),
    # a typo in --dtype / --stack listed every candidate as 'cannot run: ...' and exited 0
    ([*PLAN, "--duration", "5s", "--verify", "0", "--tp", "1", "--dtype", "fp9"], "dtype"),
    ([*PLAN, "--duration", "5s", "--verify", "0", "--tp", "1", "--stack", "foo"], "stack"),
]
if os.path.exists("/proc/version"):
    CASES.append(([*SERVE, "--out", "/proc/version"], "--out"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fleet_errors")
    write_files(d, FILES)
    return d


def _run(argv, d):
    return CliRunner().invoke(main, [a.replace("{d}", str(d)) for a in argv])


@pytest.mark.parametrize("argv,field", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_one_line_exit_2(files, argv, field):
    assert_cli_error(argv, files, field)


def test_good_input_still_runs_and_writes_the_csv(files, tmp_path):
    out = tmp_path / "r.csv"
    r = _run([*SERVE, "--out", str(out), "--router", "{d}/router_ok.py:r"], files)
    assert r.exit_code == 0, r.output
    assert out.read_text().count("\n") == 1 + len(fleet.poisson_trace(2.0, 5.0, prompt="azure-conv", seed=0))


def _bad_init_router():
    class R:
        def __init__(self, x):
            pass

    return R


API_CASES = [
    ("negative seed", lambda d: fleet.poisson_trace(1.0, 10.0, seed=-1), SpecError, "seed"),
    ("float seed", lambda d: fleet.poisson_trace(1.0, 10.0, seed=1.5), SpecError, "seed"),
    ("negative seed, fixed closed loop", lambda d: fleet.closed_loop_trace(4, 10, 5, seed=-1), SpecError, "seed"),
    ("negative seed, trace file", lambda d: fleet.simulate_serving(str(d / "ok.yaml"), fleet.Trace(
        np.zeros(1), np.ones(1, dtype=np.int64), np.ones(1, dtype=np.int64)), seed=-1), SpecError, "seed"),
    ("router of no arguments", lambda d: fleet.get_router(os.getcwd), SpecError, "(request, pools)"),
    ("router of one argument", lambda d: fleet.get_router(lambda req: 0), SpecError, "(request, pools)"),
    ("router class with a bad __init__", lambda d: fleet.get_router(_bad_init_router()), SpecError, "slo_ttft"),
    ("unwritable csv", lambda d: fleet.check_csv_path(d, "--out"), SpecError, "--out"),
    ("huge fleet", lambda d: fleet.simulate_serving(str(d / "huge.yaml"), rate=1.0, duration=10.0),
     CapacityError, "largest"),
    # 10 M requests: over the memory budget (8.4 M) and the work budget (2 M); the run named fits both
    ("huge trace", lambda d: fleet.simulate_serving(str(d / "ok.yaml"), rate=100.0, duration=1e5),
     CapacityError, "4 GiB budget, and ~8 min of simulation"),
    ("huge plan trace", lambda d: fleet.plan("llama3.1-8b", 100.0, 1.0, 0.05, ["dgx-h100"], duration=1e5),
     CapacityError, "largest"),
    ("size estimate", lambda d: fleet.check_serving_size(1e3, 10**9), CapacityError, "replicas"),
    ("infinite size estimate", lambda d: fleet.check_serving_size(float("inf"), 3, rate=1e308), SpecError,
     "rate x duration"),
    ("empty plan trace", lambda d: fleet.plan("llama3.1-8b", 1.0, 1.0, 0.05, ["dgx-h100"],
                                              trace=fleet.Trace(np.zeros(0), np.zeros(0), np.zeros(0))),
     SpecError, "trace"),
    ("non-UTF-8 fleet", lambda d: fleet.load_fleet(d / "fleet_latin1.yaml"), SpecError, "UTF-8"),
    ("binary fleet", lambda d: fleet.load_fleet(d / "fleet_binary.yaml"), SpecError, "UTF-8"),
    ("non-UTF-8 trace", lambda d: fleet.load_trace(d / "trace_latin1.csv"), SpecError, "UTF-8"),
    ("binary trace", lambda d: fleet.load_trace(d / "trace_binary.csv"), SpecError, "UTF-8"),
    ("non-UTF-8 prices", lambda d: fleet.load_prices(d / "prices_latin1.yaml"), SpecError, "UTF-8"),
    ("infinite prompt", lambda d: fleet.Trace(np.zeros(1), np.array([np.inf]), np.ones(1)), SpecError, "prompt"),
    ("infinite replicas", lambda d: fleet.fleet_from_dict({"pools": [{"name": "c", "step_model": {},
                                                                       "replicas": float("inf")}]}),
     SpecError, "replicas"),
    ("decode pool unreachable", lambda d: fleet.load_fleet(d / "decode_no_prefill.yaml"), SpecError, "lonely"),
]


@pytest.mark.parametrize("name,call,exc,fragment", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_raises_typed_error(files, name, call, exc, fragment):
    with pytest.raises(exc) as info:
        call(files)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_size_estimate_names_the_largest_that_fits_and_that_size_is_accepted():
    """The largest trace named in the message passes the same check; one more request does not."""
    with pytest.raises(CapacityError) as info:
        fleet.check_serving_size(1e7, 12, rate=100.0)
    most = int(str(info.value).split("has ")[1].split(" requests")[0].replace(",", ""))
    fleet.check_serving_size(most, 12)
    with pytest.raises(CapacityError):
        fleet.check_serving_size(most + 1, 12)


def test_si_numbers_a_real_fleet_has_are_accepted(files):
    """The bare-number check refuses only values no system has: a 15 ms decode step and a 50 GB/s, 2 us KV
    network written in SI load as written."""
    f = fleet.load_fleet(files / "si_ok.yaml")
    assert dict(f.pools[0].step_model)["decode_base"] == 0.015
    assert (f.kv_network.bandwidth, f.kv_network.latency) == (5e10, 2e-6)


def test_latency_table_columns_stay_apart_for_huge_values():
    """A latency of days (a step of 1e5 s, written with its unit: any value goes then) still prints one separate
    figure per column: every row of the latency table splits into its label's words and exactly four numbers."""
    r = fleet.simulate_serving({"pools": [{"name": "c", "step_model": {"prefill_per_token": "40us",
                                                                          "decode_base": "100000s",
                                                                          "kv_capacity_tokens": 300000}}]},
                               rate=2.0, duration=5.0, seed=0)
    lines = r.table().splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("latency"))
    rows = 0
    for ln in lines[head + 1:]:
        if not ln.strip():
            break
        *label, a, b, c, e = ln.split()
        assert label and label[-1] in ("ms", "s"), ln
        rows += 1
        if label[0] == "TPOT":
            assert float(a) == pytest.approx(r.summary()["tpot_mean_s"] * 1e3, rel=1e-3), ln
    assert rows >= 3


@pytest.mark.parametrize("disaggregated", [False, True])
def test_work_budget_refuses_one_request_more_and_names_a_duration_whose_draw_fits(disaggregated):
    """The simulation costs a fixed time per request (~50 us colocated, ~4x disaggregated: fleet.sim), so a run
    of more than REQUEST_BUDGET (/ DISAGG_REQUEST_COST) requests is refused before the trace is drawn, even with
    memory to spare; exactly that many pass. The duration the message names draws a Poisson trace that passes."""
    from fleet.sim import DISAGG_REQUEST_COST, MEMORY_BUDGET, REQUEST_BUDGET

    most = REQUEST_BUDGET // (DISAGG_REQUEST_COST if disaggregated else 1)
    assert most * 512 < MEMORY_BUDGET  # the memory estimate alone would take it
    fleet.check_serving_size(most, 12, disaggregated)
    with pytest.raises(CapacityError, match=f"{most:,}-request budget") as info:
        fleet.check_serving_size(most + 1, 12, disaggregated, rate=1e5)
    assert "\n" not in str(info.value) and "GiB" not in str(info.value)
    longest = float(str(info.value).split("a duration of ")[1].split(" s ")[0].replace(",", ""))
    assert 0.95 * most / 1e5 <= longest < most / 1e5
    fleet.check_serving_size(len(fleet.poisson_trace(1e5, longest, seed=0)), 12, disaggregated)


def test_a_trace_with_requests_beyond_the_model_context_is_refused():
    """`estimate` refused a prompt + output beyond the model's context, serve and plan served them (review:
    azure-conv reaches 18k tokens, llama2-70b's context is 4,096): one line naming how many and the fix; a workload
    within the context runs."""
    from fleet import poisson_trace, simulate_serving, single_pool_fleet

    fl = single_pool_fleet("llama2-70b", "dgx-h100", tp=8)
    tr = poisson_trace(2.0, 30.0, prompt="azure-conv", seed=0)
    with pytest.raises(SpecError, match=r"requests are longer than llama2-70b's context of 4,096 tokens"):
        simulate_serving(fl, tr)
    ok = poisson_trace(2.0, 30.0, prompt="sharegpt", seed=1)
    assert (ok.prompt + ok.output).max() <= 4096
    assert simulate_serving(fl, ok).n == len(ok)


def test_plan_refuses_a_workload_beyond_the_model_context_up_front():
    """plan with llama2-70b (4,096 tokens) on azure-conv listed every candidate as failing with the serving error:
    now one line before any simulation, exit 2 in the CLI."""
    r = CliRunner().invoke(main, ["plan", "--model", "llama2-70b", "--rate", "2", "--duration", "20s"])
    assert r.exit_code == 2 and r.output.startswith("error: workload:") and "context of 4,096" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_a_trace_header_is_read_by_name_and_one_naming_other_columns_is_refused(tmp_path):
    """persona (fleet operator): the header was skipped unread and the columns taken by position, so
    `timestamp_ms,input,output` ran as seconds (300 requests over 58 s became a 57,696 s makespan) and a header
    `prompt_tokens,output_tokens,arrival_s` was refused for 'output tokens' (the arrivals); a header after a
    `#` comment line was refused as data."""
    rows = [(0.25, 120, 7), (0.5, 300, 3), (1.75, 64, 12)]
    canonical = tmp_path / "canonical.csv"
    canonical.write_text("arrival_s,prompt_tokens,output_tokens\n" + "".join(f"{a},{p},{o}\n" for a, p, o in rows))
    ref = fleet.load_trace(canonical)
    reordered = tmp_path / "reordered.csv"
    reordered.write_text("id, Prompt_Tokens ,output_tokens,arrival_s\n"
                         + "".join(f"{i},{p},{o},{a}\n" for i, (a, p, o) in enumerate(rows)))
    commented = tmp_path / "commented.csv"
    commented.write_text("# my trace\n\n" + canonical.read_text())
    for path in (reordered, commented):
        tr = fleet.load_trace(path)
        assert tr.arrival.tolist() == ref.arrival.tolist() == [0.25, 0.5, 1.75]
        assert tr.prompt.tolist() == [120, 300, 64] and tr.output.tolist() == [7, 3, 12]
    ms = tmp_path / "ms.csv"
    ms.write_text("timestamp_ms,input,output\n" + "".join(f"{int(a * 1000)},{p},{o}\n" for a, p, o in rows))
    with pytest.raises(SpecError, match=r"ms\.csv line 1: header .* lacks column\(s\) arrival_s, prompt_tokens"):
        fleet.load_trace(ms)
    r = CliRunner().invoke(main, ["serve", "--fleet", "single-h100", "--trace", str(ms)])
    assert r.exit_code == 2 and r.output.startswith("error: trace ms.csv line 1: header")
    assert len(r.output.strip().splitlines()) == 1
    tabs = tmp_path / "tabs.csv"
    tabs.write_text("".join(f"{a}\t{p}\t{o}\n" for a, p, o in rows))
    with pytest.raises(SpecError, match="line 1: need 3 comma-separated columns"):
        fleet.load_trace(tabs)


def test_a_request_beyond_a_declared_kv_capacity_names_that_key_as_the_fix():
    """persona (fleet operator): a pool with `kv_capacity_tokens: 3000` and a 16k-token request was told to 'raise tp,
    lower kv_dtype' (which leave a declared capacity unchanged); the fix named is the key that set it."""
    from fleet import Trace, simulate_serving

    tr = Trace(np.array([0.0, 1.0]), np.array([100, 4000]), np.array([10, 10]))
    step = {"prefill_per_token": "40us", "decode_base": "15ms", "kv_capacity_tokens": 300000}
    pool_level = {"pools": [{"name": "p", "step_model": step, "kv_capacity_tokens": 3000}]}
    with pytest.raises(CapacityError, match=r"\(3000 tokens\); raise the pool's kv_capacity_tokens to at least 4010"):
        simulate_serving(pool_level, tr)
    model_level = {"pools": [{"name": "p", "step_model": {**step, "kv_capacity_tokens": 3000}}]}
    with pytest.raises(CapacityError, match=r"raise its step_model's kv_capacity_tokens to at least 4010"):
        simulate_serving(model_level, tr)


def test_a_chip_name_where_a_fabric_is_asked_for_names_the_fabrics_with_that_chip():
    """persona (fleet operator): `plan --candidates ...,ironwood` (its --help said 'chip/fabric presets') and
    `serve --fabric h100-sxm` listed all 22 bundled fabrics; a chip preset names the fabrics that carry it."""
    import topo

    assert topo.fabrics_with_chip("ironwood") == ["ironwood-pod", "ironwood-slice"]
    assert topo.fabrics_with_chip("dgx-h100") == [] and topo.fabrics_with_chip("nosuch") == []
    with pytest.raises(SpecError, match=r"'h100-sxm': a chip preset, not a fabric; .*: dgx-h100, dragonfly-small, h100-clos$"):
        topo.load("h100-sxm")
    r = CliRunner().invoke(main, ["plan", "--model", "llama3.1-8b", "--rate", "5", "--candidates", "maia200,ironwood"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    assert r.output.startswith("error: candidates: 'ironwood' is a chip preset, not a fabric") and "ironwood-slice" in r.output
    r = CliRunner().invoke(main, ["serve", "--model", "llama3.1-8b", "--fabric", "h100-sxm", "--tp", "1", "--rate", "1"])
    assert r.exit_code == 2 and "a chip preset, not a fabric" in r.output and "dgx-h100" in r.output
    with pytest.raises(SpecError, match="is not a bundled fabric or a file"):  # no chip: the list as before
        fleet.plan("llama3.1-8b", 5.0, candidates=["nosuch"])


def test_prefill_and_decode_pools_of_different_models_are_refused():
    """persona (fleet operator): a prefill pool of llama3.1-8b handing its KV cache to a decode pool of llama3.1-70b
    ran and reported latencies; a KV cache is decoded only by the model that wrote it. Aliases of one model
    (llama3.3-70b = llama3.1-70b) and colocated pools of another model are fine."""
    from fleet import Trace, simulate_serving

    kv = {"bandwidth": "400Gbps", "latency": "2us"}
    pre = {"name": "pre", "fabric": "dgx-h100", "tp": 1, "role": "prefill", "replicas": 1, "batch": 8}
    dec = {"name": "dec", "fabric": "maia200", "tp": 1, "role": "decode", "replicas": 1, "batch": 8}
    tr = Trace([0.0], [100], [4])
    bad = {"model": "llama3.1-8b", "pools": [pre, {**dec, "model": "llama3.1-70b"}], "kv_network": kv}
    with pytest.raises(SpecError, match=r"^pools: .*got pre: llama3.1-8b, dec: llama3.1-70b; give every prefill"):
        simulate_serving(bad, tr)
    ok = {"model": "llama3.1-70b", "pools": [{**pre, "tp": 2}, {**dec, "model": "llama3.3-70b"},
                                             {"name": "c", "fabric": "dgx-h100", "tp": 1, "model": "llama3.1-8b"}],
          "kv_network": kv}
    assert simulate_serving(ok, tr, router="round-robin").n == 1
