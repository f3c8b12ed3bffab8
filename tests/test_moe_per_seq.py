"""The per-sequence MoE cost (``StackProfile.moe_per_seq``, issue 11): its closed form in a step, where it does not
apply, its bad values, and the calibration split it is fitted on (docs/inference.md "The per-sequence MoE cost")."""

from __future__ import annotations

import math

import pytest

from inference.estimate import Deployment
from inference.kernels import _STACK_PROFILES, _closest_family, profile_for, stack_reference
from inference.models import load_model
from topo import SpecError
from topo.presets import chip_preset

PLACE = {"activations": "hbm", "weights": "hbm", "kv_cache": "hbm"}


def _dep(model: str = "qwen3-30b-a3b", fabric: str = "dgx-b200", moe_per_seq=None, **kw) -> Deployment:
    kw = {"tp": 1, "dtype": "fp4", "kv_dtype": "fp8", "stack": "trtllm", "backend": "analytic", **kw}
    return Deployment(model, fabric, moe_per_seq=moe_per_seq, **kw)


def test_decode_step_adds_exactly_the_cost_per_sequence_per_moe_layer():
    """One attention group: the serial step grows by moe_per_seq x sequences x MoE layers, as one row of the MoE
    block; 0 gives back the step without it."""
    x, seqs = 0.7e-6, 300
    off = _dep(moe_per_seq=0.0).decode_step(seqs, 1024, PLACE)
    on = _dep(moe_per_seq=x).decode_step(seqs, 1024, PLACE)
    layers = load_model("qwen3-30b-a3b").moe_layers
    assert on.serial - off.serial == pytest.approx(x * seqs * layers, rel=1e-9)
    rows = [r for r in on.rows if r["op"] == "moe per sequence"]
    assert len(rows) == 1 and rows[0]["block"] == "moe" and rows[0]["layers"] == layers
    assert rows[0]["time"] == pytest.approx(x * seqs, rel=1e-12)
    assert not any(r["op"] == "moe per sequence" for r in off.rows)


def test_attention_dp_charges_the_busiest_group_and_a_mixed_step_counts_prefill_chunks():
    """With attention DP over 8 ranks the busiest group holds ceil(seqs / 8) sequences; a fused step counts each
    prefill chunk as one sequence beside the decoding ones."""
    x = 1.0e-6
    kw = {"ep": 8, "dtype": "fp8"}
    off = _dep("qwen3-235b-a22b", "dgx-h100", 0.0, **kw)
    on = _dep("qwen3-235b-a22b", "dgx-h100", x, **kw)
    layers = load_model("qwen3-235b-a22b").moe_layers
    d0, d1 = off.decode_step(1001, 1024, PLACE), on.decode_step(1001, 1024, PLACE)
    assert d1.serial - d0.serial == pytest.approx(x * math.ceil(1001 / 8) * layers, rel=1e-9)
    m0, m1 = off.mixed_step(80, 1024, 16, 512, 0, PLACE), on.mixed_step(80, 1024, 16, 512, 0, PLACE)
    assert m1.serial - m0.serial == pytest.approx(x * (80 // 8 + 16 // 8) * layers, rel=1e-9)


def test_a_slow_chip_takes_its_share_as_its_kernels_do():
    """speed 0.5 (a straggler): the per-sequence row, a GPU cost, doubles as the kernel rows do."""
    x, seqs = 0.7e-6, 300
    fast = _dep(moe_per_seq=x).decode_step(seqs, 1024, PLACE)
    slow = _dep(moe_per_seq=x, speed=0.5).decode_step(seqs, 1024, PLACE)
    fast_row, slow_row = (next(r for r in st.rows if r["op"] == "moe per sequence") for st in (fast, slow))
    assert fast_row["time"] == pytest.approx(x * seqs, rel=1e-12)
    assert slow_row["time"] == pytest.approx(2 * x * seqs, rel=1e-12)


def test_dense_models_and_the_ideal_roofline_have_none():
    dense0 = _dep("llama3.1-8b", moe_per_seq=0.0, dtype="fp8").decode_step(256, 1024, PLACE)
    dense1 = _dep("llama3.1-8b", moe_per_seq=5e-6, dtype="fp8").decode_step(256, 1024, PLACE)
    assert dense1.serial == dense0.serial
    ideal = Deployment("qwen3-30b-a3b", "dgx-b200", tp=1, dtype="fp4", stack="ideal", moe_per_seq=5e-6)
    assert not any(r["op"] == "moe per sequence" for r in ideal.decode_step(256, 1024, PLACE).rows)


def test_profiles_carry_the_fitted_values_and_the_other_stacks_none():
    """TensorRT-LLM: Hopper 1.3 us, Blackwell 0.2 us (the fit in inference/kernels.py); H200 / GB200 share their
    family's; vLLM and SGLang 0; a chip without tables takes its closest family's."""
    assert stack_reference("hopper", "trtllm").moe_per_seq == pytest.approx(1.3e-6)
    assert stack_reference("blackwell", "trtllm").moe_per_seq == pytest.approx(0.2e-6)
    for chip, fam in (("h100-sxm", "hopper"), ("h200", "hopper"), ("b200", "blackwell"), ("gb200", "blackwell")):
        assert profile_for(chip_preset(chip), "trtllm").moe_per_seq == stack_reference(fam, "trtllm").moe_per_seq
    assert all(p.moe_per_seq == 0.0 for p in _STACK_PROFILES.values())
    maia = profile_for(chip_preset("maia200"), "trtllm")
    assert maia.moe_per_seq == stack_reference(_closest_family(chip_preset("maia200")), "trtllm").moe_per_seq
    assert any("per-sequence MoE cost" in a for a in maia.assumptions)
    # the default of a Deployment is its profile's
    assert _dep().profile.moe_per_seq == pytest.approx(0.2e-6)
    assert _dep(moe_per_seq="1us").profile.moe_per_seq == pytest.approx(1e-6)


@pytest.mark.parametrize("bad", [-1e-6, float("inf"), float("nan"), True, "-5us"])
def test_bad_values_are_refused_naming_the_knob(bad):
    with pytest.raises(SpecError, match="moe_per_seq"):
        _dep(moe_per_seq=bad)


def test_calibration_split_is_h100_and_b200_moe_rows_only():
    """The rows the cost is fitted on are calibration rows wherever they appear; H200 / GB200 MoE rows and the dense
    rows outside validation.SETUPS' calibration set stay held out; the framework and host fits keep the dense
    calibration rows."""
    from inference import perf_overview as po
    from inference import validation as v

    roles = {}
    for c in po.cells():
        roles.setdefault((c.chip, load_model(c.model).is_moe), set()).add(c.setup.role)
    assert roles[("h100-sxm", True)] == {v.CAL} and roles[("b200", True)] == {v.CAL}
    assert roles[("h200", True)] == {"held-out"} and roles[("gb200", True)] == {"held-out"}
    assert roles[("h200", False)] == {"held-out"} and roles[("gb200", False)] == {"held-out"}
    qwen_h100 = [s for s in v.SETUPS if s.model == "qwen3-235b-a22b" and s.chip == "h100-sxm"]
    assert qwen_h100 and all(s.role == v.CAL for s in qwen_h100)
    assert all(s.role == "held-out" for s in v.SETUPS if s.model == "qwen3-235b-a22b" and s.chip == "h200")
    dense = v.dense_calibration()
    assert len(dense) == 5 and not any(load_model(s.model).is_moe for s in dense)


def test_fit_takes_the_grid_value_of_least_loss(monkeypatch):
    """On two calibration cells and a three-point grid the fit returns the value whose mean |log error| over the
    rows (computed here from rows() with the knob) is least; an unknown family is refused."""
    from inference import perf_overview as po
    from inference.validation import calibration_loss

    two = [c for c in po.cells() if c.chip == "h100-sxm" and c.model == "qwen3-235b-a22b"
           and (c.setup.prompt, c.setup.output) == (1000, 1000)][:1]
    two += [c for c in po.cells() if c.chip == "h100-sxm" and c.model == "gpt-oss-20b"
            and (c.setup.prompt, c.setup.output) == (8192, 1024)][:1]
    assert len(two) == 2
    monkeypatch.setattr(po, "cells", lambda source=None: two)
    grid = (0.0, 1.3e-6, 6e-6)
    losses = [calibration_loss(po.rows(moe_per_seq=x)) for x in grid]
    value, loss, _ = po.fit_moe_per_seq("hopper", grid=grid)
    assert value == grid[losses.index(min(losses))] and loss == pytest.approx(min(losses), rel=1e-12)
    with pytest.raises(SpecError, match="family"):
        po.fit_moe_per_seq("ampere")


def test_infer_option_sets_the_cost_and_says_so():
    """``scaleup infer --moe-per-seq``: 0 turns the row off (a shorter TPOT), a value is printed among the
    assumptions; a negative time is one error line naming the option (exit 2)."""
    import json

    from click.testing import CliRunner
    from conftest import cli_error_line

    from cli import main

    base = ["infer", "--model", "qwen3-30b-a3b", "--fabric", "dgx-b200", "--tp", "1", "--batch", "256", "--prompt",
            "1000", "--output", "1000", "--dtype", "fp4", "--backend", "analytic", "--json"]
    runs = {}
    for v in (None, "0", "2us"):
        res = CliRunner().invoke(main, base + ([] if v is None else ["--moe-per-seq", v]))
        assert res.exit_code == 0, res.output
        runs[v] = json.loads(res.output)
    assert runs["0"]["tpot_s"] < runs[None]["tpot_s"] < runs["2us"]["tpot_s"]
    assert any("moe_per_seq 2 us" in a for a in runs["2us"]["provenance"]["assumptions"])
    assert not any("moe_per_seq" in a for a in runs["0"]["provenance"]["assumptions"])
    line = cli_error_line(base[:-1] + ["--moe-per-seq", "-1us"])
    assert line.startswith("error: --moe-per-seq:")


@pytest.mark.parametrize("flag", ["--moe-per-seq", "--host-per-seq"])
def test_perf_overview_refuses_a_negative_time(flag, capsys):
    """``python -m inference.perf_overview --moe-per-seq -1``: argparse's one error line naming the option, exit 2."""
    from inference import perf_overview as po

    with pytest.raises(SystemExit) as e:
        po.main([flag, "-1"])
    assert e.value.code == 2 and f"{flag}: must be a finite number of microseconds >= 0" in capsys.readouterr().err
