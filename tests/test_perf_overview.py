"""inference.perf_overview: every row of TensorRT-LLM's perf-overview tables as a held-out set.

Checked against independent facts: the row counts and spot values of the published tables (read off the
documents), validation.SETUPS (the same rows must come out identical), the per-source request tables, and
the summary arithmetic done by hand on a synthetic row list.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from inference import perf_overview as po
from inference.validation import CAL, SETUPS, TRTLLM, Setup, predict, table


@pytest.fixture(scope="module")
def all_rows() -> list[dict]:
    return po.rows()


def _subset() -> list[Setup]:
    return [s for s in SETUPS if isinstance(s, Setup) and s.source == TRTLLM and s.metric == "throughput"
            and s.batch is None]


def test_cells_cover_the_published_tables() -> None:
    """Non-empty cells of the included tables, counted off the documents: 00f37686 Llama 3.3 70B 40, Qwen3-235B
    27 (three H100 cells empty), Qwen3-30B-A3B 20, 405B 40, 8B 20; 03e27c7d DeepSeek 14, GPT-OSS 120B 22, Llama
    70B 17, Qwen3 235B 19, Qwen3 30B 12, GPT-OSS 20B 22."""
    assert len(po.cells("00f37686")) == 147
    assert len(po.cells("03e27c7d")) == 106
    by = {(c.source, c.table, c.column, c.setup.prompt, c.setup.output): c for c in po.cells()}
    c = by[("00f37686", "Llama 3.1 8B", "H100<br/>TP1 (FP8)", 128, 128)]
    assert (c.setup.measured, c.setup.tp, c.setup.ep, c.setup.fabric) == (28312, 1, 1, None)
    c = by[("00f37686", "Qwen3-235B-A22B", "H200<br/>TP8 (FP8)", 20000, 2000)]  # MoE "TP8": attention DP + EP8
    assert (c.setup.measured, c.setup.tp, c.setup.ep, c.setup.fabric) == (1876, 1, 8, "dgx-h200")
    c = by[("03e27c7d", "GPT-OSS 120B", "H100<br/>DEP4 (FP8)", 1000, 1000)]  # per GPU x 4 GPUs
    assert (c.published, c.setup.measured, c.setup.tp, c.setup.ep) == (4685, 4 * 4685, 1, 4)
    assert c.setup.kv_dtype == "bf16"  # "Hopper: use auto"
    c = by[("03e27c7d", "Deepseek R1 0528", "B200<br/>DEP4 (FP4)", 8192, 1024)]
    assert (c.setup.measured, c.setup.dtype, c.setup.kv_dtype, c.setup.model) == (4 * 1168, "fp4", "fp8",
                                                                                    "deepseek-v3")
    c = by[("03e27c7d", "LLaMA v3.3 70B", "H200<br/>TP2 (FP8)", 32768, 1024)]
    assert (c.setup.measured, c.setup.tp, c.setup.ep, c.setup.fabric) == (240, 2, 1, "dgx-h200")
    assert ("03e27c7d", "GPT-OSS 120B", "H200<br/>TP1 (FP8)", 1024, 32768) not in by  # an empty cell
    c = by[("00f37686", "Qwen3-30B-A3B", "GB200<br/>TP1 (FP4)", 128, 128)]  # one GPU: no fabric, no EP
    assert (c.setup.measured, c.setup.tp, c.setup.ep, c.setup.fabric, c.setup.model) == (24107, 1, 1, None,
                                                                                          "qwen3-30b-a3b")
    c = by[("03e27c7d", "Qwen3 30B A3B", "B200<br/>TP1 (FP4)", 32768, 1024)]
    assert (c.published, c.setup.measured, c.setup.dtype) == (1265, 1265, "fp4")
    c = by[("03e27c7d", "GPT-OSS 20B", "H100<br/>TP1 (FP8)", 8192, 1024)]
    assert (c.setup.measured, c.setup.kv_dtype, c.setup.model) == (3366, "bf16", "gpt-oss-20b")  # Hopper: auto
    assert ("03e27c7d", "GPT-OSS 20B", "H200<br/>TP1 (FP8)", 1024, 32768) not in by  # an empty cell


def test_llm_options_match_what_predict_applies() -> None:
    """Both releases' published llm_options capture the CUDA-graph sizes predict pads to
    (validation.TRTLLM_GRAPH_BATCHES); the GPT-OSS KV-cache rule is the one its options state."""
    import re

    from inference.validation import TRTLLM_GRAPH_BATCHES

    def sizes(text: str) -> tuple[int, ...]:
        tail = text.split("batch_sizes:", 1)[1]
        first = tail.split("\n", 1)[0]
        if "[" in first:  # inline list
            return tuple(int(v) for v in re.findall(r"\d+", first))
        return tuple(int(v) for v in re.findall(r"^\s*- (\d+)$", tail, re.M))

    for src in po.SOURCES.values():
        assert len(src.llm_options) >= 2
        for _, text in src.llm_options:
            assert sizes(text) == TRTLLM_GRAPH_BATCHES
    gpt = dict(po.SOURCES["03e27c7d"].llm_options)["GPT-OSS"]
    assert "dtype: fp8\n  # Hopper: use auto" in gpt
    kv = {(c.chip, c.setup.kv_dtype) for c in po.cells("03e27c7d") if c.model == "gpt-oss-120b"}
    assert kv == {("b200", "fp8"), ("gb200", "fp8"), ("h200", "bf16"), ("h100-sxm", "bf16")}


def test_every_cell_carries_its_own_sources_request_count() -> None:
    for c in po.cells():
        assert c.setup.num_requests == po.SOURCES[c.source].num_requests[(c.setup.prompt, c.setup.output)]
    assert po.SOURCES["03e27c7d"].num_requests[(1024, 1024)] == 3000


def test_setups_rows_are_present_identical(all_rows: list[dict]) -> None:
    """Every validation.SETUPS row from 00f37686 is in the full table: same measured value, same role, the same
    prediction bit for bit."""
    sub = _subset()
    assert len(sub) >= 19
    want = {r["setup"]: r for r in table(tuple(sub))}
    for s in sub:
        hits = [r for r in all_rows if r["source"] == "00f37686" and
                (r["model"], r["chip"], r["tp"], r["ep"], r["dtype"], r["prompt"], r["output"]) ==
                (s.model, s.chip, s.tp, s.ep, s.dtype, s.prompt, s.output)]
        assert len(hits) == 1, s.label
        r, w = hits[0], want[s.label]
        assert r["in_setups"] and r["role"] == s.role and r["measured"] == s.measured, s.label
        assert (r["predicted"], r["batch"]) == (w["predicted"], w["batch"]), s.label
    # calibration: validation.SETUPS' calibration rows (5 dense, 2 Qwen3-235B H100) and every H100 / B200 MoE row
    # (the per-sequence MoE cost's calibration rows, po.MOE_CALIBRATION); every other row held out
    assert sum(s.role == CAL for s in sub) == 7
    sub_cal = {(s.model, s.chip, s.tp, s.ep, s.dtype, s.prompt, s.output) for s in sub if s.role == CAL}
    for r in all_rows:
        key = (r["model"], r["chip"], r["tp"], r["ep"], r["dtype"], r["prompt"], r["output"])
        cal = (r["moe"] and r["chip"] in po.MOE_CALIBRATION.values()) or \
            (r["in_setups"] and r["source"] == "00f37686" and key in sub_cal)
        assert r["role"] == (CAL if cal else "held-out"), r["setup"]
    assert sum(r["role"] == CAL and not r["moe"] for r in all_rows) == 5
    assert sum(r["role"] == CAL and r["moe"] for r in all_rows) == \
        sum(r["moe"] and r["chip"] in ("h100-sxm", "b200") for r in all_rows) == 69
    assert not any(r["in_setups"] for r in all_rows if r["source"] == "03e27c7d")


def test_every_row_predicts_a_finite_positive_throughput(all_rows: list[dict]) -> None:
    assert len(all_rows) == 147 + 106
    for r in all_rows:
        assert not r["note"] and math.isfinite(r["predicted"]) and r["predicted"] > 0, r
        assert 1 <= r["batch"] <= r["num_requests"], r  # all requests queued at once: never more in flight
        assert r["error"] == pytest.approx(r["predicted"] / r["measured"] - 1)


def test_the_request_count_limits_the_batch() -> None:
    """A row of the newer source (1024/1024, whose request count only its own table lists) with fewer requests
    than the batch that fits runs them all as one batch; with more, the fitted batch is kept."""
    c = next(c for c in po.cells("03e27c7d") if c.table == "Qwen3 235B A22B" and c.column.startswith("B200")
             and (c.setup.prompt, c.setup.output) == (1024, 1024))
    free = predict(dataclasses.replace(c.setup, num_requests=10 ** 9))["batch"]
    assert free > 64
    few = free // 2
    p = predict(dataclasses.replace(c.setup, num_requests=few))
    assert p["batch"] == few
    assert predict(dataclasses.replace(c.setup, num_requests=free * 3))["batch"] == free


def _r(src: str, model: str, chip: str, err: float, role: str = "held-out", moe: bool = False,
       in_setups: bool = False) -> dict:
    return {"source": src, "model": model, "chip": chip, "error": err, "role": role, "moe": moe,
            "in_setups": in_setups}


def test_summary_arithmetic_by_hand() -> None:
    rows = [_r("a", "m1", "c1", 0.10), _r("a", "m1", "c1", -0.40, in_setups=True), _r("a", "m1", "c1", 0.05),
            _r("a", "m2", "c1", -0.20, moe=True), _r("a", "m2", "c1", float("nan"), moe=True),
            _r("b", "m1", "c2", 0.31), _r("a", "m1", "c1", 0.90, role=CAL, in_setups=True)]
    sm = po.summary(rows)
    # held out: |e| = .10 .40 .05 .20 .31 (NaN not computed, the calibration row not counted)
    assert sm["all"] == {"n": 5, "median": pytest.approx(0.20), "worst": pytest.approx(0.40), "beyond": 2,
                         "not_computed": 1}
    assert sm["dense"]["n"] == 4 and sm["dense"]["median"] == pytest.approx((0.10 + 0.31) / 2)
    assert sm["MoE"] == {"n": 1, "median": pytest.approx(0.20), "worst": pytest.approx(0.20), "beyond": 0,
                         "not_computed": 1}
    assert sm["a"]["n"] == 4 and sm["a"]["median"] == pytest.approx(0.15) and sm["a"]["beyond"] == 1
    assert sm["a not in validation.SETUPS"]["n"] == 3  # .10 .05 .20
    assert sm["a m1 c1"]["median"] == pytest.approx(0.10) and sm["a m1 c1"]["worst"] == pytest.approx(0.40)
    assert sm["b m1 c2"]["beyond"] == 1 and "b MoE" not in sm
    assert sm["calibration"] == {"n": 1, "median": pytest.approx(0.90), "worst": pytest.approx(0.90), "beyond": 1,
                                 "not_computed": 0}
    names = list(sm)
    assert names[:3] == ["all", "dense", "MoE"] and names[-2:] == ["calibration", "calibration a m1 c1"]
    assert sm["calibration a m1 c1"] == sm["calibration"]
    assert po.summary_line("calibration a m1 c1", sm["calibration a m1 c1"]) == \
        "calibration a m1 c1: median |error| 90.0%, worst 90.0% (1 rows, 1 beyond 30%)"
    assert po.summary_line("a m1 c1", sm["a m1 c1"]) == \
        "held-out a m1 c1: median |error| 10.0%, worst 40.0% (3 rows, 1 beyond 30%)"
    assert po.summary_line("a", sm["a"]).endswith("(4 rows, 1 beyond 30%, 1 not computed)")
    assert po.summary_line("all", sm["all"]).endswith("(5 rows, 2 beyond 30%, 1 not computed)")


def test_cli_rejects_an_unknown_source() -> None:
    with pytest.raises(SystemExit) as e:
        po.main(["--source", "nope"])
    assert e.value.code == 2


def test_a_row_that_cannot_be_computed_is_reported(monkeypatch, capsys) -> None:
    def fail(s, stack=None, **knobs):
        if s.prompt == 32768:
            raise RuntimeError("no room")
        return {"predicted": s.measured * 1.5, "batch": 7, "backend": "stub"}

    monkeypatch.setattr(po, "predict", fail)
    rs = po.rows("03e27c7d")
    bad = [r for r in rs if r["note"]]
    assert len(rs) == 106 and len(bad) == sum(c.setup.prompt == 32768 for c in po.cells("03e27c7d")) > 0
    assert all(r["note"] == "not computed: no room" and math.isnan(r["predicted"]) for r in bad)
    sm = po.summary(rs)
    held = [r for r in rs if r["role"] != CAL]  # the H100 / B200 MoE rows are calibration rows
    n_bad, n_ok = sum(bool(r["note"]) for r in held), sum(not r["note"] for r in held)
    assert 0 < n_bad < len(bad) and len(held) < 106
    assert sm["all"]["not_computed"] == n_bad and sm["all"]["n"] == n_ok
    assert sm["all"]["median"] == pytest.approx(0.5) and sm["all"]["beyond"] == n_ok
    po.print_rows(rs)
    out = capsys.readouterr().out
    assert out.count("not computed: 03e27c7d") == len(bad)
    assert f"held-out all: median |error| 50.0%, worst 50.0% ({n_ok} rows, {n_ok} beyond 30%, " \
           f"{n_bad} not computed)" in out


def test_attention_tp_sensitivity_changes_only_the_moe_columns(monkeypatch) -> None:
    seen = []

    def stub(s, stack=None, **knobs):
        seen.append(s)
        return {"predicted": s.measured, "batch": 1, "backend": "stub"}

    monkeypatch.setattr(po, "predict", stub)
    po.rows("03e27c7d")
    dp = list(seen)
    seen.clear()
    po.rows("03e27c7d", attention="tp")
    assert len(seen) == len(dp) == 106
    moe = 0
    for a, b in zip(dp, seen):
        if a.ep > 1:  # MoE with attention DP over N GPUs -> attention TP over the same N, experts unchanged
            moe += 1
            assert (a.tp, b.tp, b.ep) == (1, a.ep, a.ep)
        else:
            assert b == a
    assert moe > 0
    from topo import SpecError

    with pytest.raises(SpecError, match="attention: must be 'dp'"):
        po.rows("03e27c7d", attention="sp")


# ------------------------------------------------------------------ nearest (scaleup infer --nearest)
def test_nearest_ranks_rows_of_the_same_chip_by_the_stated_distance() -> None:
    """Only rows on the asked chip; the same model at the same lengths first (distance 0); distances
    non-decreasing; each row is exactly what rows() reports for that cell (its error recomputed by hand)."""
    rs = po.nearest("llama3.1-70b", "h200", 1000, 1000, dtype="fp8", gpus=1, k=4, backend="analytic")
    assert len(rs) == 4 and {r["chip"] for r in rs} == {"h200"}
    d = [r["distance"] for r in rs]
    assert d == sorted(d) and d[0] == 0.0
    assert (rs[0]["model"], rs[0]["prompt"], rs[0]["output"], rs[0]["gpus"]) == ("llama3.1-70b", 1000, 1000, 1)
    for r in rs:
        assert r["error"] == pytest.approx(r["predicted"] / r["measured"] - 1, rel=1e-12)
    by = {(c.source, c.setup.label): c for c in po.cells()}
    c = by[(rs[0]["source"], rs[0]["setup"])]
    assert rs[0]["predicted"] == predict(c.setup, backend="analytic")["predicted"]


def test_nearest_distance_prefers_the_model_class_and_size() -> None:
    """Llama-3.1-8B on B200 has no row of its own: the nearest is the dense Llama 70B at the same lengths, at
    distance params x |log(active 8B / active 70B)| by hand, ahead of the MoE rows whose active parameters are
    closer (Qwen3-30B-A3B, GPT-OSS 20B) because the class weight outweighs the size gap."""
    import math

    from inference.models import load_model

    w = po.NEAREST_WEIGHTS
    rs = po.nearest("llama3.1-8b", "b200", 1000, 1000, dtype="fp4", gpus=1, k=2, backend="analytic")
    p8, p70 = (load_model(m).active_param_count() for m in ("llama3.1-8b", "llama3.1-70b"))
    assert rs[0]["model"] == "llama3.1-70b" and (rs[0]["prompt"], rs[0]["output"], rs[0]["gpus"]) == (1000, 1000, 1)
    assert rs[0]["distance"] == pytest.approx(w["params"] * abs(math.log(p8 / p70)), rel=1e-12)
    moe = po.nearest("qwen3-30b-a3b", "b200", 1000, 1000, dtype="fp4", gpus=1, k=1, backend="analytic")[0]
    assert moe["model"] == "qwen3-30b-a3b" and moe["distance"] == 0.0
    pq = load_model("qwen3-30b-a3b").active_param_count()
    assert w["params"] * abs(math.log(p8 / pq)) + w["moe"] > rs[0]["distance"]  # why the dense row wins


def test_nearest_says_which_rows_were_fitted_on() -> None:
    """A calibration row (here the B200 MoE rows the per-sequence MoE cost is fitted on) is labelled as one, with a
    line saying what that means; held-out rows are labelled held-out and the line is absent."""
    moe = po.nearest("qwen3-30b-a3b", "b200", 1000, 1000, dtype="fp4", gpus=1, k=2, backend="analytic")
    assert {r["role"] for r in moe} == {CAL}
    text = po.format_nearest(moe, "b200")
    assert text.splitlines()[1].endswith("role") and all(ln.endswith(CAL) for ln in text.splitlines()[2:4])
    assert "a row the model was fitted on" in text
    held = po.nearest("qwen3-30b-a3b", "gb200", 1000, 1000, dtype="fp4", gpus=1, k=2, backend="analytic")
    text = po.format_nearest(held, "gb200")
    assert all(ln.endswith("held-out") for ln in text.splitlines()[2:4]) and "fitted on" not in text


def test_nearest_on_a_chip_without_rows_says_it_is_unvalidated() -> None:
    assert po.nearest("llama3.1-70b", "maia200", 2048, 256) == []
    line = po.format_nearest([], "maia200")
    assert "none on maia200" in line and "not validated" in line
    assert set(po.chips_with_rows()) == {"b200", "gb200", "h100-sxm", "h200"}


def test_nearest_takes_a_numpy_integer_k() -> None:
    import numpy as np

    assert len(po.nearest("llama3.1-70b", "maia200", 128, 128, k=np.int64(2))) == 0
    assert [r["setup"] for r in po.nearest("llama3.1-8b", "h200", 128, 128, k=np.int64(2), backend="analytic")] == \
        [r["setup"] for r in po.nearest("llama3.1-8b", "h200", 128, 128, k=2, backend="analytic")]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_nearest_rejects_a_bad_k(bad) -> None:
    from topo import SpecError

    with pytest.raises(SpecError, match="k must be an integer >= 1"):
        po.nearest("llama3.1-70b", "h200", 128, 128, k=bad)
