"""CLI of the serving area: scaleup serve (with affine step models, so no inference run is needed)."""

from __future__ import annotations

import json

from click.testing import CliRunner
from conftest import DISAGG_FLEET_YAML as FLEET

from cli import main


def test_serve_table_and_json(tmp_path):
    f = tmp_path / "fleet.yaml"
    f.write_text(FLEET)
    r = CliRunner().invoke(main, ["serve", "--fleet", str(f), "--rate", "5", "--duration", "20s"])
    assert r.exit_code == 0, r.output
    assert "TTFT ms" in r.output and "KV transfer ms" in r.output and "goodput" in r.output
    out = tmp_path / "req.csv"
    r = CliRunner().invoke(main, ["serve", "--fleet", str(f), "--rate", "5", "--duration", "20s", "--json",
                                  "--slo-tpot", "20ms", "--out", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["slo_tpot_s"] == 0.02 and d["requests"] > 50
    assert len(out.read_text().splitlines()) == d["requests"] + 1


def test_serve_trace_file(tmp_path):
    f = tmp_path / "fleet.yaml"
    f.write_text(FLEET)
    t = tmp_path / "t.csv"
    t.write_text("arrival_s,prompt_tokens,output_tokens\n0,100,5\n0.5,200,3\n")
    r = CliRunner().invoke(main, ["serve", "--fleet", str(f), "--trace", str(t), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["output_tokens"] == 8


def test_serve_bad_input_exits_2_naming_the_field(tmp_path):
    f = tmp_path / "fleet.yaml"
    f.write_text(FLEET.replace("role: decode", "role: decoder"))
    r = CliRunner().invoke(main, ["serve", "--fleet", str(f), "--rate", "5", "--duration", "20s"])
    assert r.exit_code == 2 and "role" in r.output and "Traceback" not in r.output
    f.write_text(FLEET)
    r = CliRunner().invoke(main, ["serve", "--fleet", str(f), "--rate", "5", "--slo-ttft", "fast"])
    assert r.exit_code == 2 and "--slo-ttft" in r.output
    r = CliRunner().invoke(main, ["serve", "--fleet", str(f)])
    assert r.exit_code == 2 and "--rate" in r.output
    r = CliRunner().invoke(main, ["serve", "--fleet", str(f), "--rate", "5", "--router", "fastest"])
    assert r.exit_code == 2 and "router" in r.output
