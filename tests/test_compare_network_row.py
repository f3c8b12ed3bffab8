"""The network's part of the chip-hour read the same in infer --compare and plan: a fabric whose switches are in the
chip's system capex (cost: included: NVL72, DGX, UltraServer) says so, not "0.000" as if its network were free; a
fabric with switches and no cost: block says "not priced"; a priced one gives its $ (topo show's basis)."""

from __future__ import annotations

from conftest import unpriced_switch_fabric

import inference
import topo


def _row(table: str, label: str) -> list[str]:
    line = next(ln for ln in table.splitlines() if ln.startswith(label))
    return line[len(label):].split()


def _est(fab, **kw):
    kw.setdefault("tp", 1)
    return inference.estimate("llama3.1-8b", fab, batch=1, prompt=128, output=8, stack="ideal", **kw)


def test_compare_network_row_names_included_and_unpriced(tmp_path):
    path = unpriced_switch_fabric(tmp_path)
    unpriced = topo.load(str(path))
    included = topo.load(str(path), cost="included")
    priced = topo.load(str(path), cost={"switch": 100000})
    reports = [_est(f) for f in (unpriced, included, priced)]
    assert reports[1].extra["network_included"] is True and reports[0].extra["network_included"] is False
    cells = _row(inference.compare_table(reports), "of which network $ per chip-hour")
    net_h = reports[2].extra["network_per_chip_hour_usd"]
    assert net_h > 0
    assert cells == ["not priced", "in capex", f"{net_h:.3f}"] or cells == ["not", "priced", "in", "capex",
                                                                             f"{net_h:.3f}"]


def test_compare_network_row_switchless_fabric_is_in_capex():
    """ironwood-slice and mi300x (chip links only: topo show's "in the chip's system capex") printed 0.000."""
    r = _est("mi300x")
    assert r.extra["network_included"] is True
    assert _row(inference.compare_table([r]), "of which network $ per chip-hour") == ["in", "capex"]


def test_compare_network_row_given_price_is_all_in():
    fab = topo.load("maia200-small")
    r = _est(fab, price_per_chip_hour=2.0)
    cells = _row(inference.compare_table([r, _est(fab)]), "of which network $ per chip-hour")
    assert cells[0] == "all-in" and float(cells[1]) > 0
