"""Persona walkthrough: an infrastructure architect choosing an accelerator for serving (Maia 200, GB200, B200,
Ironwood, Trainium3, ...). Each test is a defect the walkthrough found: it failed before its fix."""

from __future__ import annotations

import json
import math
import re

import pytest
from click.testing import CliRunner

import topo
from cli import main
from inference import compare, compare_table, estimate
from topo import SpecError, UnitError

SMALL = dict(tp=1, batch=4, prompt=128, output=8)


@pytest.fixture(scope="module")
def pair():
    """Llama-3.1-8B on one measured chip (H100, sourced price) and one without tables (Maia 200, assumed price)."""
    return compare("llama3.1-8b", "dgx-h100,maia200-small", **SMALL)


def _row(table: str, label: str) -> list[str]:
    line = next(ln for ln in table.splitlines() if ln.startswith(label + " "))
    return line[30:].split()


def test_compare_shows_chip_hour_price_power_and_capacity(pair):
    """`scaleup infer --compare` printed $/Mtok without the $/chip-hour behind it, no power and no HBM capacity (a
    buyer could not tell a cheap chip from a fast one); the rows now follow from each report's own figures."""
    table = compare_table(pair)
    for r, price, power, hbm in zip(pair, _row(table, "cost $ per chip-hour"), _row(table, "power kW per replica"),
                                    _row(table, "HBM/SRAM capacity GB/chip")):
        chip = topo.CHIPS[r.chip]
        assert float(price) == pytest.approx(r.cost_per_hour / r.chips_per_replica, abs=1e-3)
        # system power (TDP + host share, the capex basis) x power factor + the fabric's network power per chip
        watts = chip.system_power * 0.7 + r.extra["network_power_per_chip_w"]
        assert float(power) == pytest.approx(r.chips_per_replica * watts / 1e3, abs=0.01)
        assert float(hbm) == pytest.approx(chip.hbm_bytes / 1e9, abs=0.5)
    # the power is the one behind the energy figure: J per token x tokens/s = W
    d = pair[0].to_dict()
    assert d["power_per_replica_w"] == pytest.approx(d["energy_per_token_j"] * d["tokens_per_s_replica"], rel=1e-9)
    assert d["price_per_chip_hour_usd"] * d["chips_per_replica"] == pytest.approx(d["cost_per_hour_usd"], rel=1e-12)
    assert "kv=fp8" in table.splitlines()[0]


def test_compare_says_which_columns_are_measured_and_which_prices_are_assumed(pair):
    """The side by side put a chip timed on measured kernel tables (H100) beside one whose kernels and price are
    ASSUMPTIONS (Maia 200) without a word; the single-fabric report said so. Now two rows and the assumption lines,
    each naming the fabrics it applies to."""
    table = compare_table(pair)
    assert _row(table, "kernels (stack/backend)") == [
        f"{r.provenance['stack']}/{r.provenance['backend']}" for r in pair]
    assert _row(table, "kernels (stack/backend)")[1] == "trtllm/analytic"
    assert _row(table, "price basis") == ["sourced", "ASSUMPTION"]
    notes = table.split("assumptions and sources")[1]
    assert re.search(r"\[maia200-small\] cost basis: price: capex 20,000 \$ \+ network capex [\d,]+ \$ and [\d,]+ W per chip "
                     r"\(the fabric's cost: block: ASSUMPTION[^)]*\) \+ power \(ASSUMPTION", notes)
    assert re.search(r"\[dgx-h100\] cost basis: price: capex 49,200 \$", notes)
    assert "[maia200-small] ASSUMPTION: maia200 has no measured kernel tables" in notes
    given = compare_table(compare("llama3.1-8b", "dgx-h100,maia200-small", price_per_chip_hour=2.0, **SMALL))
    assert _row(given, "price basis") == ["given", "given"] and _row(given, "cost $ per chip-hour") == ["2.000"] * 2


def test_single_report_shows_power_and_chip_hour_price():
    out = CliRunner().invoke(main, ["infer", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "1",
                                    "--batch", "4", "--prompt", "128", "--output", "8"]).output
    assert "(0.89 kW per replica: chips x system power x power factor)" in out  # 1 x (700 + 575) W x 0.7
    assert re.search(r"\$/h per replica, \d+\.\d{3} \$ per chip-hour\)", out)
    tpu = CliRunner().invoke(main, ["infer", "--model", "llama3.1-8b", "--fabric", "tpu-v5p", "--tp", "1", "--batch",
                                    "4", "--prompt", "128", "--output", "8", "--json"]).output
    assert json.loads(tpu)["power_per_replica_w"] is None  # TDP not public: no figure, not 0 W
    assert math.isnan(estimate("llama3.1-8b", "tpu-v5p", **SMALL).extra["power_per_replica_w"])


def test_transfer_note_says_generic_efficiencies_are_assumptions():
    """Ironwood, Trainium3, TPU v5p and MI300X state no GEMM efficiencies; the report said they ran at "ironwood's
    own compute_efficiency/memory_efficiency (0.7/0.8)" as if measured. They are ChipSpec's generic defaults, now
    called so; Maia 200's measured 0.96 / 0.56 stay "its own"."""
    from inference.kernels import _transfer_note

    note = _transfer_note(topo.CHIPS["ironwood"], "hopper")
    assert "ChipSpec's generic compute_efficiency/memory_efficiency (0.7/0.8: ASSUMPTION" in note
    assert "ironwood's own" not in note
    assert "maia200's own compute_efficiency/memory_efficiency (0.96/0.56)" in _transfer_note(
        topo.CHIPS["maia200"], "hopper")


def test_price_as_dollar_text_and_a_bad_price_names_a_plain_number():
    """A prices file takes '$2.50'; estimate(price_per_chip_hour='$2.50') was refused with a hint to write a unit
    (Gbps, GB/s, GiB, us, ...), as was `scaleup serve --price abc`: a price has no unit."""
    r = estimate("llama3.1-8b", "dgx-h100", price_per_chip_hour="$2.50", **SMALL)
    assert r.cost_per_hour == pytest.approx(2.5 * r.chips_per_replica)
    with pytest.raises(UnitError, match=r"price_per_chip_hour: cannot parse 'abc'; write a plain number, e\.g\. 2\.5"):
        estimate("llama3.1-8b", "dgx-h100", price_per_chip_hour="abc", **SMALL)
    res = CliRunner().invoke(main, ["serve", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--tp", "1",
                                    "--concurrency", "2", "--requests", "2", "--prompt", "16", "--output", "2",
                                    "--price", "abc"])
    assert res.exit_code == 2 and "write a plain number" in res.output and "Gbps" not in res.output, res.output


def test_topo_show_prints_the_chip_datasheet():
    """`scaleup topo show` described the fabric but not its chip: no HBM, peak, TDP or price anywhere in the CLI.
    Its `chip` line now carries them, with the assumed ones marked."""
    s = topo.summarize(topo.load("dgx-h100"), bisection=False)
    assert s["chip_spec"]["hbm_bytes"] == topo.CHIPS["h100-sxm"].hbm_bytes
    line = next(ln for ln in topo.format_summary(s).splitlines() if ln.startswith("chip "))
    assert "HBM 80 GB at 3.35 TB/s" in line and "fp8 1.98" in line and "TDP 700 W" in line
    # on the presets' price basis: the system's capex and power per accelerator (DGX H100 10.2 kW / 8 GPUs)
    assert "system 1,275 W with its host share;" in line and s["chip_spec"]["system_power_w"] == 10_200 / 8
    assert "system capex $49,200 per accelerator (sourced" in line
    iw = topo.format_summary(topo.summarize(topo.load("ironwood-slice"), bisection=False))
    assert "TDP 1,000 W (ASSUMPTION)" in iw and "system capex $20,000 per accelerator (ASSUMPTION" in iw
    out = CliRunner().invoke(main, ["topo", "show", "tpu-v5p"]).output
    assert "TDP not public" in out


def test_cost_pareto_plots_a_serve_sweep(tmp_path):
    """`scaleup plot serve.parquet --kind cost-pareto` (a sweep of the serve job) failed: "no column
    'cost_per_mtok_usd'" (the serve table names it cost_per_mtok_output_usd, and its TPOT tpot_mean_s / _p90_s)."""
    import pandas as pd

    from sweep.plot import plot_cost_pareto

    df = pd.DataFrame({"fabric": ["a", "a", "b"], "concurrency": [8, 32, 8], "tpot_mean_s": [0.007, 0.010, 0.009],
                       "tpot_p90_s": [0.008, 0.011, 0.010], "ttft_mean_s": [0.1, 0.3, 0.2],
                       "cost_per_mtok_output_usd": [1.3, 0.5, 3.5]})
    assert plot_cost_pareto(df, tmp_path / "a.png") == str(tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 0
    plot_cost_pareto(df, tmp_path / "b.png", x="tpot_p90_s")
    with pytest.raises(topo.SpecError, match="no column 'tpot_p99_s'"):
        plot_cost_pareto(df, tmp_path / "c.png", x="tpot_p99_s")


def test_plan_says_the_weights_alone_do_not_fit():
    """`scaleup plan --model deepseek-v3 --candidates dgx-h100` listed every H100 layout as "KV cache of one mean
    request does not fit next to the weights", where 85-673 GB of weights per chip do not fit in 76.5 GB at all."""
    from fleet import plan

    res = plan("deepseek-v3", 5.0, candidates=["dgx-h100"], tps=(8,), batches=(32,), modes="colocated",
               duration=10.0)
    assert res.best is None
    reason = res.candidates[0].reason
    m = re.search(r"does not fit: weights ([\d.]+) GB per chip of ([\d.]+) GB usable \(h100-sxm\)", reason)
    assert m and float(m.group(1)) > float(m.group(2)), reason
    assert "KV cache of one mean request" not in reason


def test_plan_label_of_a_chip_where_no_tp_fits():
    """The disaggregated row of a chip where no searched TP fits read "P dgx-h100 tpNone -> D dgx-h100 tpNone b32"."""
    from fleet import plan

    res = plan("deepseek-v3", 5.0, candidates=["dgx-h100"], tps=(4, 8), batches=(32,), modes="disaggregated",
               duration=10.0)
    (cand,) = res.candidates
    assert cand.config == "P dgx-h100 -> D dgx-h100 b32" and "None" not in cand.config
    assert cand.reason.startswith("dgx-h100: no TP degree searched (4, 8) fits (at tp8: does not fit: weights ")


def test_infer_json_carries_the_cost_basis_and_assumptions():
    """`scaleup infer --json` (what a buyer feeds a spreadsheet) dropped the cost basis and the ASSUMPTION lines the
    text report prints: a Maia 200 column read as firm as a measured H100 one. It carries Report.provenance now."""
    args = ["infer", "--model", "llama3.1-8b", "--tp", "1", "--batch", "4", "--prompt", "128", "--output", "8"]
    one = json.loads(CliRunner().invoke(main, args + ["--fabric", "maia200-small", "--json"]).output)
    r = estimate("llama3.1-8b", "maia200-small", **SMALL)
    assert one["provenance"] == r.provenance and one["provenance"]["price_kind"] == "ASSUMPTION"
    assert any("maia200 has no measured kernel tables" in a for a in one["provenance"]["assumptions"])
    both = json.loads(CliRunner().invoke(main, args + ["--compare", "dgx-h100,maia200-small", "--json"]).output)
    assert [d["provenance"]["price_kind"] for d in both] == ["sourced", "ASSUMPTION"]


def test_plan_names_a_model_file_by_its_model(tmp_path):
    """`scaleup plan --model r1.yaml` headed its table "r1.yaml at 5 req/s"; infer and serve name the model."""
    from fleet import plan

    path = tmp_path / "r1.yaml"
    path.write_text("base: deepseek-v3\nname: deepseek-r1\n")
    res = plan(str(path), 5.0, candidates=["dgx-h100"], tps=(8,), batches=(32,), modes="colocated", duration=10.0)
    assert res.settings["model"] == "deepseek-r1"
    out = CliRunner().invoke(main, ["plan", "--model", str(path), "--rate", "5", "--candidates", "dgx-h100", "--tps",
                                    "8", "--batches", "32", "--modes", "colocated", "--duration", "10s"]).output
    assert out.startswith("deepseek-r1 at 5 req/s"), out


def test_compare_header_does_not_claim_one_layout_when_columns_differ():
    """`scaleup infer --batch 1 --compare maia200-small,cs3-cluster` headed the table "tp=8 ep=1 pp=1" (the first
    column's) while CS-3 ran tp=1 pp=2 (its layout follows from SRAM capacity)."""
    reps = compare("llama3.1-70b", "maia200-small,cs3-cluster", batch=1, prompt=128, output=8)
    assert (reps[0].tp, reps[0].pp) != (reps[1].tp, reps[1].pp)
    table = compare_table(reps)
    assert "tp/ep/pp per column" in table.splitlines()[0] and "tp=8" not in table.splitlines()[0]
    assert _row(table, "tp") == [str(r.tp) for r in reps] and _row(table, "pp") == [str(r.pp) for r in reps]
    assert _row(table, "ep") == ["1", "1"]


def test_plan_prices_given_as_a_dict_read_as_a_prices_file():
    """fleet.plan(prices={"b200": "$3.00"}) raised TypeError ('>=' between str and int) and {"b200": {"capex": ..}}
    was not understood, where the same entries in a prices file (and in inference.estimate) work."""
    from fleet import plan

    kw = dict(candidates="dgx-b200", tps=(8,), batches=(32,), modes="colocated", duration=10.0)
    assert plan("llama3.1-70b", 5.0, prices={"b200": "$3.00"}, **kw).best.best.cost_per_hour == pytest.approx(24.0)
    capex = plan("llama3.1-70b", 5.0, prices={"b200": {"capex": 50_000}}, **kw).best.best.cost_per_hour
    r = estimate("llama3.1-70b", "dgx-b200", tp=8, prices={"b200": {"capex": 50_000}})
    assert capex == pytest.approx(r.cost_per_hour, rel=1e-12)
    with pytest.raises(topo.SpecError, match="prices.b200: cannot parse 'abc'"):
        plan("llama3.1-70b", 5.0, prices={"b200": "abc"}, **kw)


def test_compare_table_of_nothing_is_a_spec_error():
    with pytest.raises(topo.SpecError, match="compare_table: no reports"):
        compare_table([])


def test_plan_says_which_chip_prices_are_assumed():
    """`scaleup plan` ranked Maia 200 (an ASSUMED $20,000) against H100 (a sourced street price) by $/h without
    saying so; its settings and header now carry each candidate's $/chip-hour and its basis."""
    from fleet import plan
    from inference import chip_cost_per_hour

    res = plan("llama3.1-8b", 2.0, candidates=["dgx-h100", "maia200-small"], tps=(1,), batches=(32,),
               modes="colocated", duration=10.0, prices={"maia200-small": 1.5})
    cp = res.settings["chip_prices"]
    assert cp["dgx-h100"] == {"usd_per_chip_hour": pytest.approx(chip_cost_per_hour(topo.CHIPS["h100-sxm"])),
                              "basis": "sourced"}
    assert cp["maia200-small"] == {"usd_per_chip_hour": 1.5, "basis": "given"}
    out = CliRunner().invoke(main, ["plan", "--model", "llama3.1-8b", "--rate", "2", "--candidates",
                                    "maia200-small", "--tps", "1", "--batches", "32", "--modes", "colocated",
                                    "--duration", "10s"]).output
    # the chip and the fabric's network capex per chip, as the search prices the candidate (topo.network_capex)
    net = topo.network_capex(topo.load("maia200-small"))  # its switches and optics: capex and power
    usd = chip_cost_per_hour(topo.CHIPS["maia200"], network_capex_per_chip=net.per_chip,
                             network_power_per_chip=net.power_per_chip)
    assert f"chip-hour prices: maia200-small ${usd:.3f} (ASSUMPTION)" in out, out
    assert f"plan: maia200-small tp1 b32 x1  (${usd:.2f}/h" in out, out


def test_released_model_names_of_a_preset_architecture_load_as_that_preset():
    """`--model deepseek-r1` was 'unknown preset' (persona: sweep researcher, buyer): DeepSeek-R1 is the DeepSeek-V3
    architecture and Llama 3.3 70B Llama 3.1 70B's, so the names load those presets, in Python, the CLI and a sweep;
    an unknown name lists them."""
    import inference
    from inference.models import ALIASES
    from sweep.jobs import _known_model

    for alias, preset in ALIASES.items():
        assert inference.load_model(alias) is inference.MODELS[preset]
        assert inference.load_model(alias.upper()) is inference.MODELS[preset]
        _known_model(alias, "model")
    with pytest.raises(SpecError, match="deepseek-r1 = deepseek-v3"):
        inference.load_model("deepseek-r2")
    r = CliRunner().invoke(main, ["infer", "--model", "deepseek-r1", "--fabric", "gb200-nvl72", "--tp", "1",
                                  "--ep", "8", "--batch", "8"])
    assert r.exit_code == 0 and r.output.startswith("deepseek-v3 on gb200-nvl72"), r.output


def test_a_sequence_longer_than_the_model_context_is_refused():
    """`--prompt 200000` on Llama 3.1 (131,072 tokens, config.json max_position_embeddings) was priced as if served
    (persona: buyer): prompt + output beyond a preset's context is one line naming both and the fix; at the
    context it runs; a model YAML's `context:` lifts it (config.json's name for it is hinted), 0 leaves it unchecked."""
    from inference import MODELS, model_from_dict

    r = CliRunner().invoke(main, ["infer", "--model", "llama3.1-70b", "--fabric", "dgx-h100", "--prompt", "200000"])
    assert r.exit_code == 2 and "131,072" in r.output and "context" in r.output and len(r.output.splitlines()) == 1
    with pytest.raises(SpecError, match="llama2-70b's context of 4,096"):
        estimate("llama2-70b", "dgx-h100", tp=8, prompt=4000, output=200)
    assert estimate("llama2-70b", "dgx-h100", tp=8, batch=1, prompt=3840, output=256).ttft > 0
    fields = {k: getattr(MODELS["llama3.1-8b"], k) for k in ("layers", "hidden", "heads", "kv_heads", "head_dim",
                                                              "ffn", "vocab")}
    assert model_from_dict({**fields, "context": 262144}, name="x").context == 262144
    with pytest.raises(SpecError, match="scaleup's is 'context'"):  # config.json's name is hinted
        model_from_dict({**fields, "max_position_embeddings": 262144}, name="x")
    assert estimate(model_from_dict({**fields, "context": 0}, name="x"), "dgx-h100", tp=1, batch=1,
                    prompt=150000, output=16).ttft > 0


def test_compare_lists_a_fabric_the_deployment_does_not_fit_instead_of_aborting():
    """`--compare dgx-h100,gb200-nvl72,dgx-b200` with DeepSeek-V3 at TP8 aborted on the H100 (85 GB of weights per
    chip): the others are compared and the H100 listed with why, in the table and the JSON; Python collects them
    with `unfit={}` (the default still raises); none fitting is the error it was."""
    import inference

    args = ["infer", "--model", "deepseek-v3", "--tp", "8", "--batch", "4", "--prompt", "128", "--output", "8"]
    r = CliRunner().invoke(main, [*args, "--compare", "dgx-h100,gb200-nvl72"])
    assert r.exit_code == 0, r.output
    assert "not compared, the deployment does not fit" in r.output and "[dgx-h100] memory:" in r.output
    r = CliRunner().invoke(main, [*args, "--compare", "dgx-h100,gb200-nvl72,dgx-b200", "--json"])
    rows = json.loads(r.output)
    assert [x["fabric"] for x in rows] == ["gb200-nvl72", "dgx-b200", "dgx-h100"] and rows[-1]["fits"] is False
    kw = dict(tp=8, batch=4, prompt=128, output=8)
    unfit: dict[str, str] = {}
    reps = inference.compare("deepseek-v3", "dgx-h100,gb200-nvl72", unfit=unfit, **kw)
    assert [x.fabric for x in reps] == ["gb200-nvl72"] and list(unfit) == ["dgx-h100"]
    assert "[dgx-h100]" in compare_table(reps, unfit)
    with pytest.raises(topo.CapacityError):
        inference.compare("deepseek-v3", "dgx-h100,gb200-nvl72", **kw)
    r = CliRunner().invoke(main, [*args, "--compare", "dgx-h100"])
    assert r.exit_code == 2 and r.output.startswith("error: memory:")


def test_plan_takes_the_dtype_and_stack_of_its_candidates():
    """`scaleup plan` had no --dtype / --stack (persona: buyer: FP4 on Blackwell could not be planned): every
    candidate's step model runs them, the header says which, and a chip that cannot run the dtype is reported so
    ('cannot run', not 'does not fit'). Python and the CLI take the same names."""
    from fleet import plan

    kw = dict(duration=5.0, modes="colocated", tps=(8,), batches=(32,), verify=0)
    res = plan("llama3.1-8b", 2.0, 2.0, 0.2, "dgx-b200,dgx-h100", dtype="fp4", stack="vllm", **kw)
    assert res.settings["dtype"] == "fp4" and res.settings["stack"] == "vllm"
    b200 = [c for c in res.candidates if c.config.startswith("dgx-b200")]
    h100 = [c for c in res.candidates if c.config.startswith("dgx-h100")]
    assert b200[0].feasible and b200[0].best.fleet.pools[0].dtype == "fp4"
    assert b200[0].best.fleet.pools[0].stack == "vllm"
    assert not h100[0].feasible and h100[0].reason.startswith("cannot run: dtype")
    r = CliRunner().invoke(main, ["plan", "--model", "llama3.1-8b", "--rate", "2", "--candidates", "dgx-b200",
                                  "--dtype", "fp4", "--stack", "vllm", "--duration", "5s", "--modes", "colocated",
                                  "--tp", "8", "--batch", "32", "--verify", "0", "--slo-ttft", "2s",
                                  "--slo-tpot", "200ms"])
    assert r.exit_code == 0, r.output
    assert "fp4, stack vllm" in r.output.splitlines()[0]
