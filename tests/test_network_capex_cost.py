"""Network capex in the price: the fabric's switches and optics (topo.network_capex) amortised into a capex-derived
$/chip-hour and $/Mtok, shown apart; an all-in --price untouched."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import inference
import topo
from cli import main
from topo import SpecError


def _est(**kw):
    return inference.estimate("llama3.1-8b", kw.pop("fabric", "maia200-small"), tp=4, batch=8, prompt=256, output=32,
                              **kw)


def test_cost_per_mtok_rises_with_switch_price():
    lo = _est(fabric=topo.load("maia200-small", cost={"switch": 10000}))
    hi = _est(fabric=topo.load("maia200-small", cost={"switch": 90000}))
    assert hi.cost_per_mtok > lo.cost_per_mtok
    # the difference is exactly the 80,000 $ more per switch, per chip, amortised
    net = topo.network_capex(topo.load("maia200-small"))
    extra = 80000 * net.switches / net.chips / (inference.DEFAULTS["amortisation_years"] * 8766.0)
    assert hi.extra["network_per_chip_hour_usd"] - lo.extra["network_per_chip_hour_usd"] == pytest.approx(extra)
    assert hi.cost_per_hour - lo.cost_per_hour == pytest.approx(extra * hi.chips_per_replica)


def test_network_share_adds_to_the_chip_price_on_a_capex_basis():
    r = _est()
    net = topo.network_capex(topo.load("maia200-small")).per_chip
    years = inference.DEFAULTS["amortisation_years"]
    chip_only = inference.chip_cost_per_hour(topo.CHIPS["maia200"])
    watts = topo.network_capex(topo.load("maia200-small")).power_per_chip  # the network's power, charged too
    power = watts * inference.DEFAULTS["pue"] * inference.DEFAULTS["power_price"] / 1000.0
    assert r.extra["network_capex_per_chip_usd"] == pytest.approx(net)
    assert r.extra["price_per_chip_hour_usd"] == pytest.approx(chip_only + net / (years * 8766.0) + power)
    share = r.extra["network_cost_per_mtok_usd"] / r.cost_per_mtok
    assert share == pytest.approx(r.extra["network_per_chip_hour_usd"] / r.extra["price_per_chip_hour_usd"])
    assert "network capex" in r.provenance["price"] and "ASSUMPTION: $30,000 per 51.2T switch" in r.provenance["price"]
    # the knobs replace the fabric's figures: 0 and 0 are the chip alone
    assert (_est(network_capex_per_chip=0, network_power_per_chip=0).extra["price_per_chip_hour_usd"]
            == pytest.approx(chip_only))


def test_all_in_price_is_unchanged():
    r = _est(price_per_chip_hour=2.5)
    assert r.extra["price_per_chip_hour_usd"] == pytest.approx(2.5)
    assert r.extra["network_per_chip_hour_usd"] == 0.0 and not r.extra["network_in_price"]
    assert "all-in" in r.provenance["price"]
    plain = _est(price_per_chip_hour=2.5, fabric=topo.load("maia200-small", cost="included"))
    assert r.cost_per_mtok == plain.cost_per_mtok


def test_negative_network_knob_is_a_spec_error():
    with pytest.raises(SpecError, match="network_capex_per_chip"):
        _est(network_capex_per_chip=-1)


def test_cli_infer_prints_the_network_share():
    run = CliRunner().invoke
    args = ["infer", "--model", "llama3.1-8b", "--fabric", "maia200-small", "--tp", "4", "--batch", "8", "--prompt",
            "256", "--output", "32"]
    out = run(main, args)
    assert out.exit_code == 0, out.output
    assert "network share" in out.output and "$ per chip-hour" in out.output
    out = run(main, [*args, "--price", "2.5"])
    assert "all-in" in out.output
    out = run(main, [*args, "--json"])
    d = json.loads(out.output)
    assert d["network_per_chip_hour_usd"] > 0 and d["network_capex_per_chip_usd"] > 0
    out = run(main, [*args, "--set", "cost={optic: -5}"])
    assert out.exit_code == 2 and "cost.optic" in out.output and "Traceback" not in out.output
