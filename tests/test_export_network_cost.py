"""An exported fabric keeps its network prices: ``scaleup topo export`` wrote the graph, chip and comm preset but
not the fabric's ``cost:`` block, so the file read back said "network not priced" (dgx-h100, whose switches are in
the chip's system capex) or lost maia200's switches and optics from $/Mtok."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import topo
from cli import main


@pytest.mark.parametrize("name", ["dgx-h100", "maia200-small"])
@pytest.mark.parametrize("suffix", [".graphml", ".json"])
def test_export_round_trip_keeps_the_network_capex(tmp_path, name, suffix):
    fab = topo.load(name)
    before = topo.network_capex(fab)
    path = topo.export_fabric(fab, tmp_path / f"f{suffix}")
    back = topo.load(str(path))
    after = topo.network_capex(back)
    assert back.network_cost == fab.network_cost
    assert (after.per_chip, after.included, after.power_per_chip) == (before.per_chip, before.included,
                                                                       before.power_per_chip)


def test_topo_show_of_an_exported_dgx_says_included_not_unpriced(tmp_path):
    out = tmp_path / "dgx.graphml"
    r = CliRunner().invoke(main, ["topo", "export", "dgx-h100", "-o", str(out)])
    assert r.exit_code == 0, r.output
    shown = CliRunner().invoke(main, ["topo", "show", str(out)])
    assert shown.exit_code == 0 and "not priced" not in shown.output, shown.output


def test_a_corrupt_network_cost_attribute_is_one_line(tmp_path):
    path = topo.export_fabric(topo.load("dgx-h100"), tmp_path / "f.graphml")
    text = path.read_text(encoding="utf-8")
    assert "network_cost" in text
    import re

    bad = tmp_path / "bad.graphml"
    bad.write_text(re.sub(r'(<data key="[^"]+">)\{[^<]*"included"[^<]*\}', r"\1{oops", text), encoding="utf-8")
    with pytest.raises(topo.SpecError, match="network_cost"):
        topo.load(str(bad))
