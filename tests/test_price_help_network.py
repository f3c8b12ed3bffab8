"""--price's help said the default was "capex + power model"; the default also charges the fabric's switches and
optics outside the chip's price (topo.network_capex; infer's "of which network" row), and a given price is all-in."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli import main


@pytest.mark.parametrize("cmd", ["infer", "serve"])
def test_price_help_names_the_network(cmd):
    out = " ".join(CliRunner().invoke(main, [cmd, "--help"]).output.split())
    at = out.index("--price")
    text = out[at:at + 300]
    assert "all-in" in text and "network capex" in text, text
