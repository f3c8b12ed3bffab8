"""scaleup serve shows the fleet's cost split into chips and network (the fabrics' switches and optics outside the
chip's price) as scaleup infer does: the table's network share line and --json's chip_ / network_cost_per_hour_usd,
network_cost_per_mtok_output_usd; a given $/chip-hour is all-in."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import inference
from cli import main


def _serve(*extra):
    args = ["serve", "--model", "llama3.1-8b", "--fabric", "maia200-small", "--tp", "1", "--concurrency", "2",
            "--requests", "6", "--prompt", "128", "--output", "8", *extra]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    return out.output


def test_serve_shows_the_chip_network_split():
    d = json.loads(_serve("--json"))
    s = d.get("summary", d)
    dep = inference.StepModel("llama3.1-8b", "maia200-small", tp=1).deployment
    chip_h, net_h = dep.cost_parts()
    replicas = s["fleet_cost_per_hour_usd"] / (chip_h + net_h)
    assert s["network_cost_per_hour_usd"] == pytest.approx(replicas * net_h)
    assert s["chip_cost_per_hour_usd"] + s["network_cost_per_hour_usd"] == pytest.approx(s["fleet_cost_per_hour_usd"])
    assert s["network_cost_per_mtok_output_usd"] == pytest.approx(
        s["cost_per_mtok_output_usd"] * net_h / (chip_h + net_h))
    assert "network share" in _serve()
    # a given $/chip-hour is all-in: no network part
    g = json.loads(_serve("--json", "--price", "2"))
    assert g.get("summary", g)["network_cost_per_hour_usd"] == 0.0


def test_serve_says_when_a_switched_fabric_is_not_priced(tmp_path):
    path = tmp_path / "eight.yaml"
    path.write_text("name: eight\nbuilder: switch\nchip: h100-sxm\nchips: 8\nplanes: 2\nbandwidth: 100GB/s\n")
    args = ["serve", "--model", "llama3.1-8b", "--fabric", str(path), "--tp", "1", "--stack", "ideal",
            "--concurrency", "2", "--requests", "4", "--prompt", "64", "--output", "4"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    assert "network not priced in pool" in out.output and "2 switches, no cost: block" in out.output
    d = json.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    assert d["pools"][0]["network_unpriced"] == "2 switches, no cost: block"
    assert d.get("summary", d)["network_cost_per_hour_usd"] == 0.0
    # a given $/chip-hour is all-in: nothing to say
    given = CliRunner().invoke(main, [*args, "--price", "2"]).output
    assert "not priced" not in given
    # a priced bundled fabric: no such line
    assert "not priced" not in _serve()
