"""Every chip preset is priced on one basis, system capex per accelerator (topo/presets.py "Price basis"):
a persona review found H100/H200/B200 at accelerator-only street prices beside GB200, Trainium3 and Ironwood
with their share of the system, and the cost model charging the chip's TDP without its host."""

import re

import pytest

import topo
from inference import chip_cost_per_hour
from inference.estimate import DEFAULTS, HOURS_PER_YEAR

BASIS = "system capex per accelerator"
SERVER_SHARE = 1.64  # [epoch-server] server-to-chip cost ratio, topo/presets.py


@pytest.mark.parametrize("name", sorted(topo.CHIPS))
def test_every_preset_states_the_system_basis(name):
    chip = topo.CHIPS[name]
    assert chip.capex > 0, name
    # the basis first (an assumed price says ASSUMPTION before it, as every assumption in a report does)
    assert re.match(rf"(ASSUMPTION: )?{BASIS}[:;] ", chip.price_source), (name, chip.price_source)
    # the power the cost charges is the system's: never below the chip's own TDP; a host share only with a TDP
    assert chip.system_power == chip.tdp + chip.host_power >= chip.tdp
    assert chip.host_power == 0 or chip.tdp > 0


@pytest.mark.parametrize("name", ["h100-sxm", "h200", "b200", "mi300x", "groq-lpu"])
def test_accelerator_only_prices_carry_the_server_share(name):
    """Where the public figure is the accelerator alone, the preset's system capex is that figure x the sourced
    server share, so it is at least the accelerator-only price (read from the preset's own source line)."""
    chip = topo.CHIPS[name]
    m = re.search(r"~\$([\d,]+) per (?:GPU|chip)?\s*\(chip only", chip.price_source) or re.search(
        r"\(chip only\)[^$]*~\$([\d,]+)", chip.price_source)
    assert m, chip.price_source
    accel = float(m.group(1).replace(",", ""))
    assert chip.capex >= accel
    assert chip.capex == pytest.approx(accel * SERVER_SHARE, rel=1e-9)
    assert "x 1.64" in chip.price_source and "[epoch-server]" in chip.price_source


def test_gpu_host_power_is_the_datasheet_system_power_per_gpu():
    """DGX H100/H200 10.2 kW and DGX B200 14.3 kW per 8 GPUs, GB200 NVL72 ~120 kW per 72 GPUs."""
    c = topo.CHIPS
    assert c["h100-sxm"].system_power == pytest.approx(10_200 / 8)
    assert c["h200"].system_power == pytest.approx(10_200 / 8)
    assert c["b200"].system_power == pytest.approx(14_300 / 8)
    assert c["gb200"].system_power == pytest.approx(120_000 / 72, abs=1.0)


def test_chip_hour_cost_charges_system_power():
    """$ per chip-hour = capex / (years x 8,766 h) + (TDP + host share) x power factor x PUE x $/kWh."""
    chip = topo.CHIPS["b200"]
    want = chip.capex / (DEFAULTS["amortisation_years"] * HOURS_PER_YEAR) + (chip.tdp + chip.host_power) * (
        DEFAULTS["power_factor"] * DEFAULTS["pue"] * DEFAULTS["power_price"] / 1000.0)
    assert chip_cost_per_hour(chip) == pytest.approx(want, rel=1e-12)
    bare = chip.replace(host_power=0.0)
    assert chip_cost_per_hour(chip) - chip_cost_per_hour(bare) == pytest.approx(
        chip.host_power * DEFAULTS["power_factor"] * DEFAULTS["pue"] * DEFAULTS["power_price"] / 1000.0, rel=1e-9)


def test_host_power_is_a_fabric_file_chip_field():
    chip = topo.parse_chip({"preset": "h100-sxm", "host_power": "100W"})
    assert chip.host_power == 100.0 and chip.system_power == 800.0
    with pytest.raises(topo.SpecError, match="host_power"):
        topo.CHIPS["h100-sxm"].replace(host_power=-1.0)


def test_power_factor_error_names_the_system_power_basis():
    """power_factor is the mean draw over the system power the cost charges (TDP + host share), as the knob table
    says; its error had called it a fraction of the TDP, the basis before the system power."""
    from topo import SpecError

    with pytest.raises(SpecError, match=r"^power_factor: .*system power") as exc:
        chip_cost_per_hour(topo.CHIPS["h100-sxm"], power_factor=1.5)
    assert "\n" not in str(exc.value) and "TDP drawn" not in str(exc.value)


def test_docs_price_table_is_the_presets():
    """docs/inference.md's price table (an untagged table of every chip preset) reads what the presets and the cost
    model give: capex, system power and $/chip-hour at the defaults, and the basis; a preset priced again, or a
    chip added, without the table fails here."""
    from pathlib import Path

    from inference.estimate import price_basis_kind

    text = (Path(__file__).resolve().parents[1] / "docs" / "inference.md").read_text()
    head = "| chip | capex $ (system, per accelerator) | system power W | $/chip-hour (capex / 4 y + power) | basis |"
    assert head in text
    rows = {}
    for line in text.split(head, 1)[1].splitlines()[2:]:
        if not line.startswith("|"):
            break
        name, capex, power, per_hour, basis = (c.strip() for c in line.strip("|").split("|"))
        rows[name] = (float(capex.replace(",", "")), float(power.replace(",", "")), float(per_hour), basis)
    assert set(rows) == set(topo.CHIPS)
    for name, (capex, power, per_hour, basis) in rows.items():
        chip = topo.CHIPS[name]
        assert capex == chip.capex and power == round(chip.system_power), name
        assert per_hour == round(chip_cost_per_hour(chip), 2) and basis == price_basis_kind(chip), name


def test_a_chip_of_ones_own_without_host_power_says_it_is_charged_its_tdp_alone(tmp_path):
    """Presets are charged system power (TDP + host share); a chip defined in a fabric file without `host_power` is
    charged its TDP alone, and its cost basis says so (review: beside a preset in --compare it was on another
    basis without a word); with host_power, or for a preset, the line reads plain 'power'."""
    import inference
    from inference.estimate import price_basis

    f = tmp_path / "mine.yaml"
    f.write_text("name: mine\nbuilder: full_mesh\nchips: 8\nlink_bandwidth: 150GB/s\n"
                 "chip: {name: mine-chip, hbm_bytes: 288GB, hbm_bandwidth: 8TB/s, tdp: 1400W, capex: 25000, "
                 "flops: {bf16: 2.5PFLOPS, fp8: 5PFLOPS}}\n")
    rep = inference.estimate("llama3.1-8b", str(f), tp=1, batch=1, prompt=128, output=8)
    assert "TDP 1,400 W alone: no host_power given" in rep.provenance["price"]
    f.write_text(f.read_text().replace("tdp: 1400W,", "tdp: 1400W, host_power: 1120W,"))
    rep = inference.estimate("llama3.1-8b", str(f), tp=1, batch=1, prompt=128, output=8)
    assert "alone" not in rep.provenance["price"] and "+ power (" in rep.provenance["price"]
    for name in ("h100-sxm", "cs3"):  # cs3's 23 kW is its system's; no note
        assert "alone" not in price_basis(topo.CHIPS[name])


def test_a_chip_block_price_reads_dollars_as_a_prices_file_does():
    """`capex: $25,000` in a fabric file's chip block was refused ('write a plain number') while a prices file and
    --price read "$1,200" (review): both read it; a non-number is still one line."""
    from topo.loader import parse_chip

    chip = parse_chip({"preset": "h100-sxm", "capex": "$25,000", "price_per_hour": "$2.50"})
    assert chip.capex == 25000.0 and chip.price_per_hour == 2.5
    with pytest.raises(topo.UnitError, match="chip.capex"):
        parse_chip({"preset": "h100-sxm", "capex": "$abc"})
