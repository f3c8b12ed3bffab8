"""Every bundled switched fabric prices its network (or says its chip's price holds it): switches per box or per
port in use, optics, the tiers a chip's price holds left out, and the network's power."""

from __future__ import annotations

import pytest

import topo
from topo import SpecError


@pytest.mark.parametrize("name", topo.list_fabrics())
def test_every_switched_bundled_fabric_has_a_priced_or_included_network(name):
    net = topo.network_capex(topo.load(name))
    if net.switches + net.included_switches == 0:
        return  # no switches: nothing to price (chip-to-chip links are in the chip's system capex)
    assert net.priced, f"{name}: switches and no cost: block (its network would count as $0)"
    assert net.included or net.per_chip > 0, f"{name}: a cost: block that prices nothing"
    if not net.included:
        assert net.spec.source, f"{name}: a cost: block without its source"


def test_h100_clos_prices_the_infiniband_tiers_not_the_dgx_nvswitches():
    net = topo.network_capex(topo.load("h100-clos"))
    # 128 DGX servers: their 128 NVSwitch nodes (tier 0) are in the DGX price; one 400G NIC per GPU to a leaf,
    # leaves of 32 down / 32 up (1,024 / 32 = 32 leaves, 1,024 uplinks)
    assert net.included_switches == 128
    assert net.chip_switch_links == 1024 and net.switch_switch_links == 1024
    assert net.optics == 2 * (1024 + 1024)
    ib_switches = net.switches
    assert net.total_usd == pytest.approx(ib_switches * 36000 + net.optics * 640)
    assert net.power_w == pytest.approx(ib_switches * 913 + net.optics * 10)


def test_switch_port_prices_a_share_of_a_box():
    # one CS-3 on 12 plane switches it shares with its hosts: 12 ports, not 12 boxes
    net = topo.network_capex(topo.load("cs3"))
    assert net.switch_ports == 12 and net.optics == 24
    assert net.per_chip == pytest.approx(12 * 156.25 + 24 * 100)
    assert net.power_per_chip == pytest.approx(12 * 6.25 + 24 * 3.5)
    # a cluster whose switches are full: per port = per box
    cl = topo.network_capex(topo.load("cs3-cluster"))
    assert cl.switch_ports == 12 * 64
    assert cl.switch_usd == pytest.approx(12 * 10000)


def test_included_tiers_leave_the_held_switches_and_their_links_out():
    fab = topo.load("trn3-ultraserver-x4")
    net = topo.network_capex(fab)
    assert net.switches == 1 and net.included_switches == len(fab.switches) - 1  # the EFA node alone is priced
    assert net.chip_switch_links == fab.n_chips  # one EFA link per chip
    everything = topo.network_capex(fab, cost={"switch": 1.0})  # no included_tiers: every switch and its links
    assert everything.switches == len(fab.switches) and everything.chip_switch_links > net.chip_switch_links


@pytest.mark.parametrize("block, key", [({"included_tiers": ["leaf"]}, "cost.included_tiers"),
                                        ({"switch_power": -1}, "cost.switch_power"),
                                        ({"optic_power": "hot"}, "cost.optic_power")])
def test_bad_cost_keys_are_one_spec_error(block, key):
    with pytest.raises(SpecError, match=key.replace(".", r"\.")):
        topo.parse_network_cost(block)
