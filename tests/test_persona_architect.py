"""Persona walkthrough: an infrastructure architect choosing between Maia 200, GB200 NVL72, DGX H100/B200 and the
SRAM-only systems for serving. Each test is a defect the walkthrough found: it failed before its fix."""

from __future__ import annotations

import time
from types import SimpleNamespace

from click.testing import CliRunner

from cli import main
from inference import compare_table


def _stub(fabric: str, chip: str, tier: str, need: float, cap: float) -> SimpleNamespace:
    """The parts of an inference.Report that compare_table reads (a real estimate on groq-rack takes seconds)."""
    d = dict(ttft_s=0.01, tpot_s=0.001, latency_s=0.1, tokens_per_s_replica=100.0, tokens_per_s_chip=10.0,
             tokens_per_s_fabric=100.0, dp=1, chips_per_replica=8, tp=8, ep=1, pp=1,
             decode_exposed_communication_s=0.0, prefill_exposed_communication_s=0.0, tier_weights=tier,
             mem_hbm_needed_bytes=need, mem_hbm_capacity_bytes=cap, energy_per_token_j=1.0,
             power_per_replica_w=1e3, cost_per_mtok_usd=1.0, price_per_chip_hour_usd=1.0,
             network_per_chip_hour_usd=0.0, network_included=True, cost_per_hour_usd=8.0)
    return SimpleNamespace(model="llama3.1-8b", fabric=fabric, chip=chip, tp=8, ep=1, pp=1, batch=1, prompt=128,
                           output=8, dtype="fp8", kv_dtype="fp8", overlap=False, to_dict=lambda: d, extra={},
                           provenance={"stack": "ideal", "backend": "roofline", "price_kind": "ASSUMPTION"})


def _row(table: str, label: str) -> list[str]:
    line = next(ln for ln in table.splitlines() if ln.startswith(label + " "))
    return line[30:].split()


def test_compare_memory_rows_name_the_sram_and_do_not_round_an_lpu_to_zero():
    """`scaleup infer --compare maia200,groq-rack` printed 'HBM capacity GB/chip ... 0' for a Groq LPU (230 MB of
    SRAM, no HBM) beside 'HBM needed 0.2': a chip that needs more than it has, in a memory it does not have. The
    rows now say which memory holds the weights and give sub-GB figures two decimals."""
    t0 = time.perf_counter()
    table = compare_table([_stub("dgx-h100", "h100-sxm", "hbm", 10.5e9, 80e9),
                           _stub("groq-rack", "groq-lpu", "sram", 0.205e9, 0.23e9)])
    assert _row(table, "weights held in") == ["HBM", "SRAM"]
    assert _row(table, "HBM/SRAM needed GB/chip") == ["10.5", "0.21"]
    assert _row(table, "HBM/SRAM capacity GB/chip") == ["80", "0.23"]
    assert time.perf_counter() - t0 < 5


def test_compare_beside_fabric_hint_does_not_repeat_the_fabric():
    """`scaleup infer --fabric maia200 --compare maia200,dgx-h100` told the user to run
    '--compare maia200,maia200,dgx-h100'; the fabric is added only when --compare lacks it."""
    args = ["infer", "--model", "llama3.1-8b", "--fabric", "maia200"]
    r = CliRunner().invoke(main, [*args, "--compare", "maia200,dgx-h100"])
    assert r.exit_code == 2 and "(--compare maia200,dgx-h100) and drop --fabric" in r.output, r.output
    r = CliRunner().invoke(main, [*args, "--compare", "dgx-h100,"])
    assert r.exit_code == 2 and "(--compare maia200,dgx-h100) and drop --fabric" in r.output, r.output


def test_plan_disaggregated_row_of_a_dtype_the_chip_cannot_run_says_so():
    """`scaleup plan --candidates dgx-h100 --dtype fp4`: the colocated rows said 'cannot run: dtype: h100-sxm
    cannot run fp4 GEMMs', the disaggregated one 'no TP degree searched (1, 2, 4, 8) fits', a memory question
    that was never asked. It now gives the same reason."""
    from fleet import plan

    res = plan("llama3.1-8b", 2.0, candidates=["dgx-h100"], tps=(1, 8), batches=(32,), modes="disaggregated",
               duration=5.0, dtype="fp4", verify=0)
    (cand,) = res.candidates
    assert res.best is None and cand.config == "P dgx-h100 -> D dgx-h100 b32"
    assert cand.reason.startswith("dgx-h100: cannot run: dtype: h100-sxm cannot run fp4"), cand.reason
    assert "fits" not in cand.reason


def test_cost_basis_names_the_years_power_factor_pue_and_energy_price():
    """The cost basis line read 'price: capex 49,200 $ + power (...)': the 4-year straight line, the 0.7 power factor,
    PUE 1.3 and 0.08 $/kWh behind every capex $/chip-hour were nowhere in the output (and not labelled ASSUMPTION),
    and a Python run with amortisation_years=6 printed the same line as the default. It now ends with the terms,
    saying which were given; a given $/chip-hour (all-in) has none."""
    from inference import estimate

    kw = dict(tp=1, batch=1, prompt=16, output=2, backend="analytic")
    line = estimate("llama3.1-8b", "dgx-h100", **kw).provenance["price"]
    assert line.endswith("; capex amortised over 4 years, power x power factor 0.7 x PUE 1.3 x 0.08 $/kWh "
                         "(ASSUMPTIONS, docs/inference.md)"), line
    six = estimate("llama3.1-8b", "dgx-h100", amortisation_years=6, pue=1.1, **kw).provenance["price"]
    assert "amortised over 6 years" in six and "PUE 1.1 " in six
    assert "(power_factor, power_price: ASSUMPTIONS, docs/inference.md; the rest given)" in six
    given = estimate("llama3.1-8b", "dgx-h100", price_per_chip_hour=2.0, **kw).provenance["price"]
    assert given == "price: 2 $/chip-hour (given)"


def test_plan_says_its_pools_prefill_first_and_can_plan_chunked_ones():
    """`scaleup plan` simulated colocated pools without chunked prefill (a fleet file's default) and said nothing,
    while `scaleup serve --fabric F --tp T --batch B --replicas N` (the way to re-run the plan's answer) chunks by
    default: maia200 tp1 b128 x2 at 5 req/s planned TTFT P90 212 ms, TPOT P90 32.5 ms; serve gave 235 / 30.6 ms.
    The header says which, and --chunked-prefill (chunked_prefill=True) plans the pools serve --fabric runs."""
    from fleet import plan, simulate_serving, single_pool_fleet

    kw = dict(candidates="mi300x", tps=(1,), batches=(32,), modes="colocated", duration=5.0, verify=0, stack="ideal")
    for chunked in (False, True):
        res = plan("llama3.1-8b", 2.0, chunked_prefill=chunked, **kw)
        assert res.settings["chunked_prefill"] is chunked
        pt = res.best.best
        assert pt.fleet.pools[0].chunked_prefill is chunked
        again = simulate_serving(single_pool_fleet("llama3.1-8b", "mi300x", tp=1, batch=32, stack="ideal",
                                                   replicas=pt.fleet.pools[0].replicas, chunked_prefill=chunked),
                                 rate=2.0, duration=5.0, seed=0)
        assert again.summary()["ttft_p90_s"] == pt.ttft_p90 and again.summary()["tpot_p90_s"] == pt.tpot_p90
    r = CliRunner().invoke(main, ["plan", "--model", "llama3.1-8b", "--rate", "2", "--candidates", "mi300x",
                                  "--tp", "1", "--batch", "32", "--modes", "colocated", "--duration", "5s",
                                  "--verify", "0", "--stack", "ideal"])
    assert r.exit_code == 0 and "colocated pools prefill first (--no-chunked-prefill)" in r.output.splitlines()[0]


def test_plan_takes_fixed_prompt_and_output_lengths_as_serve_and_infer():
    """`scaleup plan` had only --workload (lognormal lengths): the 2,048 + 256-token deployment an architect sized
    with `scaleup infer` and `scaleup serve --prompt/--output` could not be planned. plan --prompt/--output
    (fleet.plan(prompt=, output=)) draw every request at those lengths; the point equals serve's simulation."""
    import pytest

    from fleet import plan, simulate_serving, single_pool_fleet
    from topo import SpecError

    kw = dict(candidates="mi300x", tps=(1,), batches=(32,), modes="colocated", duration=5.0, verify=0, stack="ideal")
    res = plan("llama3.1-8b", 2.0, prompt=512, output=64, **kw)
    assert res.settings["workload"] == "512+64 tokens"
    pt = res.best.best
    again = simulate_serving(single_pool_fleet("llama3.1-8b", "mi300x", tp=1, batch=32, stack="ideal",
                                               replicas=pt.fleet.pools[0].replicas, chunked_prefill=False),
                             rate=2.0, duration=5.0, seed=0, prompt=512, output=64)
    assert again.summary()["ttft_p90_s"] == pt.ttft_p90 and again.summary()["tpot_p90_s"] == pt.tpot_p90
    with pytest.raises(SpecError, match="^output: fixed lengths need both prompt and output"):
        plan("llama3.1-8b", 2.0, prompt=512, **kw)
    with pytest.raises(SpecError, match="^prompt: must be an integer >= 1"):
        plan("llama3.1-8b", 2.0, prompt=0, output=8, **kw)
    args = ["plan", "--model", "llama3.1-8b", "--rate", "2", "--candidates", "mi300x", "--tp", "1", "--batch", "32",
            "--modes", "colocated", "--duration", "5s", "--verify", "0", "--stack", "ideal"]
    r = CliRunner().invoke(main, [*args, "--prompt", "512", "--output", "64"])
    assert r.exit_code == 0 and "(512+64 tokens, 5 s)" in r.output.splitlines()[0], r.output
    r = CliRunner().invoke(main, [*args, "--prompt", "512", "--output", "64", "--workload", "sharegpt"])
    assert r.exit_code == 2 and r.output.startswith("error: --prompt/--output: fixed lengths replace --workload's")
    r = CliRunner().invoke(main, [*args, "--prompt", "512"])
    assert r.exit_code == 2 and r.output.startswith("error: --prompt: fixed lengths need both"), r.output


def test_sweeps_doc_lists_the_network_cost_columns_of_infer_and_serve_rows():
    """docs/sweeps.md listed `cost_per_mtok_usd` / `fleet_cost_per_hour_usd` but not the chip / network split both
    rows carry (an architect comparing Maia 200's Ethernet planes with NVLink fabrics in a sweep needs them). The
    columns named there are the rows' own, and the parts add up."""
    import re
    from pathlib import Path

    import pytest

    from fleet import simulate_serving, single_pool_fleet
    from inference import estimate

    doc = (Path(__file__).resolve().parents[1] / "docs" / "sweeps.md").read_text()
    rows = {ln.split("|")[1].strip(" `"): ln for ln in doc.splitlines() if ln.startswith("| `")}
    row = estimate("llama3.1-8b", "dgx-h100", tp=1, batch=1, prompt=16, output=2, backend="analytic").to_dict()
    for col in ("chip_per_chip_hour_usd", "network_per_chip_hour_usd", "network_cost_per_mtok_usd"):
        assert f"`{col}`" in rows["infer"] and col in row, col
    assert row["price_per_chip_hour_usd"] == pytest.approx(row["chip_per_chip_hour_usd"] + row["network_per_chip_hour_usd"],
                                                           rel=1e-12)
    s = simulate_serving(single_pool_fleet("llama3.1-8b", "mi300x", tp=1, stack="ideal", concurrency=1),
                         concurrency=1, requests=2, prompt=16, output=2).summary()
    for col in ("chip_cost_per_hour_usd", "network_cost_per_hour_usd", "network_cost_per_mtok_output_usd"):
        assert f"`{col}`" in rows["serve"] and col in s, col
    assert s["fleet_cost_per_hour_usd"] == pytest.approx(s["chip_cost_per_hour_usd"] + s["network_cost_per_hour_usd"],
                                                         rel=1e-12)
    assert re.search(r"`fleet_cost_per_hour_usd` \(= `chip_cost_per_hour_usd` \+ `network_cost_per_hour_usd`\)",
                     rows["serve"])


def test_plan_breaks_a_price_tie_by_slo_headroom_not_by_the_labels_letters():
    """At one $/h and $/Mtok the plan's order went to the label's letters ('P ...' before 'maia200 ...'): `scaleup
    plan --model llama3.1-70b --rate 4 --slo-tpot 20ms --candidates maia200,... --prompt 2048 --output 256` chose
    'P maia200 tp2 x1 -> D maia200 tp2 b128 x1' (TTFT P90 130 ms, TPOT P90 14.2 ms) over 'maia200 tp4 b128 x1'
    (59 ms, 11.2 ms) on the same 4 chips. A tie now goes to the larger headroom: the larger of P90 TTFT / SLO and
    P90 TPOT / SLO, lower first. Here tp1 x2 and tp2 x1 cost the same; the letters picked tp1."""
    from fleet import LinearStepModel, plan

    def factory(chip, tp, ep):
        return LinearStepModel(prefill_per_token=40e-6 / tp, decode_base=0.012 / tp, decode_per_seq=5e-5,
                               decode_per_kv_token=2e-9, kv_capacity_tokens=2e5 * tp, chips=tp, cost_per_hour=tp)

    res = plan("m", 10.0, 1.0, 0.05, ["x"], step_model_factory=factory, tps=(1, 2), batches=(64,), duration=10.0,
               verify=0, modes="colocated")
    one, two = sorted(res.candidates, key=lambda c: c.config)  # x tp1 b64, x tp2 b64
    assert one.best.cost_per_hour == two.best.cost_per_hour == 2.0
    assert one.best.cost_per_mtok == two.best.cost_per_mtok

    def headroom(c):
        return max(c.best.ttft_p90 / 1.0, c.best.tpot_p90 / 0.05)

    assert headroom(two) < headroom(one)
    assert res.best is two and res.best.best.label == "x tp2 b64 x1"
    assert [c.config for c in res.candidates] == ["x tp2 b64", "x tp1 b64"]


def test_plan_disaggregates_a_moe_at_the_ep_of_its_colocated_plan(monkeypatch):
    """`scaleup plan --model qwen3-235b-a22b --candidates gb200-nvl72 --tps 1 --eps 8` stopped on an AssertionError
    traceback: the disaggregated pools took the chip's best colocated TP with EP 1 (always), where the model fits
    only with EP. They now take its (TP, EP), and the label says 'ep8'. (The pools' simulations are stubbed here:
    a KV transfer compiles the engine's kernels, seconds on a cold process.)"""
    from fleet import LinearStepModel, plan
    from fleet.plan import _Planner
    from topo import CapacityError

    def factory(chip, tp, ep):
        if ep < 8:
            raise CapacityError(f"moe: weights do not fit at ep {ep}")
        return LinearStepModel(prefill_per_token=40e-6 / tp, decode_base=0.012 / tp, decode_per_seq=5e-5,
                               decode_per_kv_token=2e-9, kv_capacity_tokens=2e5 * ep, chips=ep, cost_per_hour=ep)

    sized = []
    real = _Planner.min_replicas

    def min_replicas(self, make, sms, lo_guess, mode, criterion="both", known_fail=0):
        if mode == "disaggregated":
            sized.append(make(1)[1])
            return None, [], "not simulated in this test"
        return real(self, make, sms, lo_guess, mode, criterion, known_fail)

    monkeypatch.setattr(_Planner, "min_replicas", min_replicas)
    res = plan("m", 4.0, 1.0, 0.05, ["x"], step_model_factory=factory, tps=(1,), eps=(8,), batches=(64,),
               duration=10.0, verify=0)
    assert res.best.config == "x tp1 ep8 b64"
    (dis,) = [c for c in res.candidates if c.mode == "disaggregated"]
    assert dis.config == "P x tp1 ep8 -> D x tp1 ep8 b64" and dis.reason == "prefill pool: not simulated in this test"
    assert [(p.role, p.tp, p.ep) for p in sized[0]] == [("prefill", 1, 8), ("decode", 1, 8)]


def test_plan_refuses_ep_for_a_dense_model_in_one_line():
    """`scaleup plan --model llama3.1-70b --eps 8` listed every deployment as 'cannot run: ep: llama3.1-70b has no
    experts' and exited 1 ('no deployment meets the SLOs'), a search that could never run; it is now one line
    naming --ep, exit 2 (fleet.plan: a SpecError). --eps 1,8 still searches EP 1."""
    import pytest

    from fleet import plan
    from topo import SpecError

    with pytest.raises(SpecError, match=r"^eps: llama3.1-8b has no experts.*use eps=\(1,\) \(--ep 1\)$"):
        plan("llama3.1-8b", 1.0, candidates="mi300x", eps=(8,), duration=5.0)
    r = CliRunner().invoke(main, ["plan", "--model", "llama3.1-8b", "--rate", "1", "--candidates", "mi300x",
                                  "--eps", "8", "--duration", "5s"])
    assert r.exit_code == 2 and r.output.startswith("error: eps: llama3.1-8b has no experts"), r.output


def test_compare_lists_a_repeated_fabric_once():
    """`scaleup infer --compare dgx-h100,dgx-h100` printed two equal columns; plan searches a repeated candidate once
    and so does compare now (names; Fabric objects are kept as given)."""
    from inference import compare

    reps = compare("llama3.1-8b", "mi300x,mi300x", tp=1, batch=1, prompt=16, output=2, stack="ideal")
    assert [r.fabric for r in reps] == ["mi300x"]


def test_infer_takes_the_capex_terms_an_architect_sets():
    """The $/chip-hour's amortisation (4 years), electricity price (0.08 $/kWh), PUE (1.3) and power factor (0.7)
    could be set in Python and a sweep (cost.NAME) but not from `scaleup infer`; a buyer depreciating over 6 years
    had to leave the CLI. Now options of the same names; the cost basis names them as given."""
    base = ["infer", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "1", "--batch", "1", "--prompt", "16",
            "--output", "2", "--backend", "analytic", "--json"]
    import json

    from inference import estimate

    r = CliRunner().invoke(main, [*base, "--amortisation-years", "6", "--power-price", "0.1", "--pue", "1.1"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    py = estimate("llama3.1-8b", "dgx-h100", tp=1, batch=1, prompt=16, output=2, backend="analytic",
                  amortisation_years=6, power_price=0.1, pue=1.1)
    assert d["price_per_chip_hour_usd"] == py.to_dict()["price_per_chip_hour_usd"]
    assert d["price_per_chip_hour_usd"] == 49_200 / (6 * 8766) + 1275 * 0.7 * 1.1 * 0.1 / 1000  # h100: system 1,275 W
    assert d["provenance"]["price"].endswith("x PUE 1.1 x 0.1 $/kWh (power_factor: ASSUMPTION, docs/inference.md; "
                                             "the rest given)")
    bad = CliRunner().invoke(main, [*base, "--pue", "0.5"])
    assert bad.exit_code == 2 and bad.output.startswith("error: pue: power usage effectiveness must be >= 1")


def test_plan_disaggregated_row_says_why_no_layout_fits():
    """The disaggregated row of a chip where no searched layout holds the model said only 'no TP degree searched (1)
    fits' while the colocated row said why ('KV cache of one mean request does not fit next to the weights'); it
    now adds the reason at the largest layout searched."""
    from fleet import LinearStepModel, plan

    def factory(chip, tp, ep):
        return LinearStepModel(prefill_per_token=40e-6, decode_base=0.012, decode_per_seq=5e-5,
                               decode_per_kv_token=2e-9, kv_capacity_tokens=300, chips=tp, cost_per_hour=tp)

    res = plan("m", 2.0, 1.0, 0.05, ["small"], step_model_factory=factory, tps=(1, 2), batches=(64,),
               duration=10.0, verify=0)
    (dis,) = [c for c in res.candidates if c.mode == "disaggregated"]
    assert dis.reason == ("small: no TP degree searched (1, 2) fits (at tp2: KV cache of one mean request does not "
                          "fit next to the weights)"), dis.reason


def test_sweeps_doc_says_a_plain_time_is_seconds():
    """A serve sweep with `slo_tpot: 50` (meant as 50 ms, as the CLI would ask) ran with a 50 s TPOT objective and
    every point met it; the CLI refuses a bare time, a spec takes it as SI seconds, and docs/sweeps.md did not say
    so. The doc states it, and the spec does what it states."""
    from pathlib import Path

    import sweep

    doc = (Path(__file__).resolve().parents[1] / "docs" / "sweeps.md").read_text()
    assert "`slo_tpot: 50` is 50 s" in doc and "`slo_tpot: 0.05` and\n  `slo_tpot: 50ms` are one point" in doc
    pts = sweep.expand_points({"job": "serve", "params": {"model": "llama3.1-8b", "fabric": "dgx-h100",
                                                          "concurrency": 4},
                               "grid": {"slo_tpot": ["50ms", 0.05, 50]}})
    assert [p.params["slo_tpot"] for p in pts] == [0.05, 50.0]
