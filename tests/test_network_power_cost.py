"""Network power (switches, optics: topo.network_capex) is charged beside the chip's power and added to the
energy; a fabric with unpriced switches says so in its price basis."""

from __future__ import annotations

import pytest
from conftest import unpriced_switch_fabric

import inference
import topo
from topo import SpecError


def _est(**kw):
    return inference.estimate("llama3.1-8b", kw.pop("fabric", "maia200-small"), tp=4, batch=8, prompt=256, output=32,
                              stack="ideal", **kw)


def test_network_power_raises_the_price_and_energy_by_the_closed_form():
    with_power = _est()
    without = _est(network_power_per_chip=0)
    watts = topo.network_capex(topo.load("maia200-small")).power_per_chip
    assert watts > 0 and with_power.extra["network_power_per_chip_w"] == pytest.approx(watts)
    d = inference.DEFAULTS
    per_chip_hour = watts * d["pue"] * d["power_price"] / 1000.0  # W x PUE x $/kWh: no power factor
    assert (with_power.extra["network_per_chip_hour_usd"] - without.extra["network_per_chip_hour_usd"]
            == pytest.approx(per_chip_hour))
    assert with_power.extra["chip_per_chip_hour_usd"] == pytest.approx(without.extra["chip_per_chip_hour_usd"])
    tok_per_h = with_power.tokens_per_s["replica"] * 3600.0
    assert (with_power.cost_per_mtok - without.cost_per_mtok
            == pytest.approx(per_chip_hour * with_power.chips_per_replica / tok_per_h * 1e6))
    # energy: replica chips x (system power x power factor + network W) x latency / tokens
    extra_j = with_power.chips_per_replica * watts * with_power.latency / (8 * 32)
    assert with_power.energy_per_token - without.energy_per_token == pytest.approx(extra_j)
    # a given $/chip-hour is all-in: network power is not added to it either
    assert _est(price_per_chip_hour=2.0).extra["price_per_chip_hour_usd"] == pytest.approx(2.0)
    with pytest.raises(SpecError, match="network_power_per_chip"):
        _est(network_power_per_chip=-5)


def test_unpriced_switched_fabric_says_so_in_the_price_basis(tmp_path):
    path = unpriced_switch_fabric(tmp_path)
    r = inference.estimate("llama3.1-8b", topo.load(str(path)), tp=1, batch=1, prompt=128, output=8, stack="ideal")
    assert "network not priced" in r.provenance["price"] and "2 switches" in r.provenance["price"]
    assert r.extra["network_priced"] is False
    priced = topo.load(str(path), cost={"switch": 1000})
    r2 = inference.estimate("llama3.1-8b", priced, tp=1, batch=1, prompt=128, output=8, stack="ideal")
    assert "not priced" not in r2.provenance["price"] and r2.extra["network_priced"] is True
