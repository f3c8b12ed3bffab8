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
