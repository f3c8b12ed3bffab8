"""Network capex (topo.netcost): switch and link counts against closed forms, the 16-plane / published ratio, bad
cost blocks as one SpecError line, `topo show`'s line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import topo
from cli import main
from topo import SpecError

PRICES = {"switch": 30000.0, "optic": 500.0}  # the maia200 files' block (ASSUMPTION)


def _two_tier_counts(chips: int, planes: int, per_plane: int, leaf_down: int, uplinks: int, spines: int,
                     tray_links: int) -> dict[str, int]:
    """Closed form of a two-tier plane fabric: leaves per plane = chips x links per plane / leaf_down; switches =
    planes x (leaves + spines); chip-switch links = chips x planes x links per plane; leaf-spine links = planes x
    leaves x uplinks; chip-chip links = chips x tray links / 2."""
    leaves = chips * per_plane // leaf_down
    return {"switches": planes * (leaves + spines), "chip_switch_links": chips * planes * per_plane,
            "switch_switch_links": planes * leaves * uplinks, "chip_links": chips * tray_links // 2}


@pytest.mark.parametrize("name, form", [
    ("maia200-small", (384, 4, 2, 96, 32, 8, 20)),
    ("maia200", (6144, 4, 2, 96, 32, 32, 20)),
    ("maia200-16plane", (6144, 16, 1, 64, 64, 64, 12)),
])
def test_counts_match_two_tier_closed_form(name, form):
    cap = topo.network_capex(topo.load(name))
    want = _two_tier_counts(*form)
    got = {k: getattr(cap, k) for k in want}
    assert got == want
    assert cap.optics == 2 * (want["chip_switch_links"] + want["switch_switch_links"])
    assert cap.total_usd == pytest.approx(want["switches"] * 30000 + cap.optics * 500)
    assert cap.per_chip == pytest.approx(cap.total_usd / form[0])


def test_published_switch_counts():
    """The YAML comments' own figures: 4 x (128 + 32) = 640 and 16 x (96 + 64) = 2,560 switches."""
    assert topo.network_capex(topo.load("maia200")).switches == 640
    assert topo.network_capex(topo.load("maia200-16plane")).switches == 2560


def test_full_mesh_has_no_switches_and_costs_nothing():
    fab = topo.full_mesh(chips=8)
    cap = topo.network_capex(fab, {"switch": 1e6, "optic": 1e4})
    assert (cap.switches, cap.chip_switch_links, cap.optics) == (0, 0, 0)
    assert cap.chip_links == 8 * 7 // 2
    assert cap.total_usd == 0.0
    assert topo.network_capex(fab, {"chip_link": 100}).total_usd == pytest.approx(28 * 100)


def test_16plane_network_per_chip_over_published_is_the_count_ratio():
    a, b = topo.network_capex(topo.load("maia200")), topo.network_capex(topo.load("maia200-16plane"))
    ratio = (2560 * 30000 + 2 * 196608 * 500) / (640 * 30000 + 2 * 65536 * 500)
    assert b.per_chip / a.per_chip == pytest.approx(ratio)
    assert ratio > 2.5  # the 3:1 published design is the cheaper network


def test_copper_chip_links_drop_their_optics():
    cap = topo.network_capex(topo.load("maia200-small"), {**PRICES, "chip_switch_optics": 0})
    assert cap.optics == 2 * cap.switch_switch_links


def test_included_and_unpriced():
    cap = topo.network_capex(topo.load("dgx-h100"))
    assert cap.included and cap.per_chip == 0.0 and cap.switches == 4
    cap = topo.network_capex(topo.load("h100-clos", cost=None))  # its cost: block taken away
    assert not cap.priced and cap.per_chip == 0.0 and "not priced" in cap.line()


def test_faulted_fabric_is_costed_as_built():
    fab = topo.load("maia200-small")
    assert topo.network_capex(fab.with_faults("chip:0")).total_usd == topo.network_capex(fab).total_usd


@pytest.mark.parametrize("block, msg", [
    ({"switch": -1}, "cost.switch: must be a finite number of $ >= 0"),
    ({"swtch": 1}, "cost: unknown key 'swtch'"),
    ({"optic": "lots"}, "cost.optic: expected a number of $"),
    ({"chip_switch_optics": 3}, "cost.chip_switch_optics"),
    ("free", "cost: expected 'included' or a mapping"),
])
def test_bad_cost_block_is_one_spec_error_line(block, msg):
    with pytest.raises(SpecError, match=msg.replace("$", r"\$").replace("(", r"\(")) as exc:
        topo.load("maia200-small", cost=block)
    assert "\n" not in str(exc.value)


def test_cost_override_replaces_only_the_keys_given():
    cap = topo.network_capex(topo.load("maia200-small", cost={"switch": 60000}))
    assert (cap.spec.switch, cap.spec.optic) == (60000.0, 500.0)


def test_cli_topo_show_prints_the_network_capex():
    run = CliRunner().invoke
    out = run(main, ["topo", "show", "maia200-small", "--json"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)["network_capex"]
    assert d["switches"] == 64 and d["per_chip_usd"] == pytest.approx(topo.network_capex(
        topo.load("maia200-small")).per_chip)
    out = run(main, ["topo", "show", "maia200-small"])
    assert "network capex     $" in out.output
    out = run(main, ["topo", "show", "maia200-small", "--set", "cost={optic: -5}"])
    assert out.exit_code == 2 and "cost.optic" in out.output and "Traceback" not in out.output
