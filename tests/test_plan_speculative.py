"""scaleup plan --speculative: every candidate decodes with speculative decoding (as scaleup serve --speculative),
and the planner's TPOT floor and throughput lower bound count E tokens per decode iteration."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import main
from fleet import LinearStepModel, plan
from fleet.trace import poisson_trace
from topo import SpecError


def _factory(e: float):
    # an 80 ms draft + verify iteration: 80 ms per token without speculation, 80 / E with it
    return lambda chip, tp, ep: LinearStepModel(prefill_per_token=1e-5, decode_base=0.08, tokens_per_step=e,
                                                cost_per_hour=1.0)


def test_tpot_floor_and_lower_bound_divide_by_e():
    tr = poisson_trace(2.0, 10.0, prompt=200, output=40, seed=1)
    kw = dict(trace=tr, tps=(1,), batches=(8,), modes="colocated", verify=0)
    plain = plan("m", 2.0, 1.0, 0.05, ["x"], step_model_factory=_factory(1.0), **kw)
    assert plain.best is None and "TPOT at batch 1 is 80 ms > SLO" in plain.candidates[0].reason
    spec = plan("m", 2.0, 1.0, 0.05, ["x"], step_model_factory=_factory(2.0), **kw)
    assert spec.best is not None  # 80 ms / 2 = 40 ms per token: under the 50 ms SLO
    assert spec.best.best.tpot_p90 == pytest.approx(0.04, rel=0.05)


def test_speculative_with_a_factory_is_refused():
    with pytest.raises(SpecError, match="speculative"):
        plan("m", 1.0, candidates=["x"], step_model_factory=_factory(1.0), speculative="mtp:3@0.8",
             duration=5.0, verify=0)


def test_cli_plan_takes_speculative():
    args = ["plan", "--model", "llama3.1-8b", "--rate", "1", "--candidates", "dgx-h100", "--tps", "1",
            "--batches", "8", "--modes", "colocated", "--duration", "5s", "--verify", "0"]
    out = CliRunner().invoke(main, [*args, "--speculative", "mtp:3@0.8", "--json"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)
    assert d["settings"]["speculative"] == "mtp:3@0.8"
    assert d["best"]["pools"][0]["speculative"] == "mtp:3@0.8"
    text = CliRunner().invoke(main, [*args, "--speculative", "mtp:3@0.8"]).output
    assert "speculative mtp:3@0.8" in text
    bad = CliRunner().invoke(main, [*args, "--speculative", "mtp:0@2"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
