"""Decode attention past a measured table's frontier (inference.measured.Grid.beyond / overlap)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inference.measured import Grid

BATCH = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048], dtype=float)
CTX = 2.0 ** np.arange(1, 17)
FRONTIER = 2.0 ** 19  # sequence-tokens: points with batch x context above are "not measured"


def _grid(form) -> Grid:
    b, c = np.meshgrid(BATCH, CTX, indexing="ij")
    vals = form(b, c)
    vals[b * c > FRONTIER] = np.nan
    return Grid([BATCH, CTX], vals)


def test_additive_kernel_is_extended_exactly():
    # per-sequence cost P b plus streaming kappa b c (q = 1): the frontier slope is kappa, the rule exact
    p, kappa = 0.09, 6.6e-4  # us per sequence, us per sequence-token (H100-like)

    def form(b, c):
        return 5.0 + p * b + kappa * b * c

    g = _grid(form)
    assert g.frontier_slope() == pytest.approx(kappa, rel=1e-12)
    assert g.overlap() == (pytest.approx(kappa, rel=1e-12), 1.0)
    for b, c in [(256, 4096), (2048, 1000), (3, 2.0 ** 18), (1000, 777)]:
        assert g(b, c) is None  # past the frontier: the interpolation has no answer
        assert g.beyond(b, c) == pytest.approx(form(b, c), rel=1e-9 if b in BATCH else 0.02)


def test_overlapping_costs_recover_the_exponent():
    # per-sequence work hidden under KV streaming, (P^3 + S^3)^(1/3): the fitted q is 3 and the extension
    # stays on the form (the row's smallest-context value stands for P, a 1e-6 relative difference)
    kappa = 6.6e-4

    def form(b, c):
        return ((0.09 * b + 6.0) ** 3 + (kappa * b * c) ** 3) ** (1 / 3)

    g = _grid(form)
    k, q = g.overlap()
    assert q == 3.0 and k == pytest.approx(kappa, rel=0.02)
    for b, c in [(2048, 1024), (512, 8192), (64, 65536)]:
        assert g.beyond(b, c) == pytest.approx(form(b, c), rel=0.02)


def test_extension_is_continuous_monotone_and_linear_past_the_last_row():
    g = _grid(lambda b, c: ((0.09 * b + 6.0) ** 2 + (6.6e-4 * b * c) ** 2) ** 0.5)
    for i, b in enumerate(BATCH):
        j = np.flatnonzero(~np.isnan(g.values[i]))[-1]
        assert g.beyond(b, CTX[j]) == pytest.approx(g.values[i, j], rel=1e-12)  # continuous at the frontier
        xs = np.geomspace(CTX[j], 4 * CTX[-1], 25)
        ys = [g.beyond(b, x) for x in xs]
        assert all(y2 > y1 for y1, y2 in zip(ys, ys[1:]))
    assert g.beyond(8192, 64) == pytest.approx(4 * g.beyond(2048, 64), rel=1e-12)
    assert g.beyond(0.5, 64) is None and g.beyond(4, 1) is None  # below the grid: the analytic model answers
    assert Grid([BATCH], np.ones(len(BATCH))).beyond(4, 4) is None  # a 1-D grid has no frontier


def test_the_rule_predicts_the_measured_frontier():
    # aiconfigurator-core's H100 TRT-LLM decode attention (Llama-3.1-8B heads, FP8 KV): each row's last
    # measured point hidden and predicted from the rest (bench/attention_frontier.py prints every table)
    pytest.importorskip("aiconfigurator_core")
    from inference import measured

    tab = measured.tables("h100_sxm", "trtllm")
    if tab is None or tab.decode_attention(8, 1024, 32, 8, 128, "fp8") is None:
        pytest.skip("no H100 TRT-LLM generation-attention table in this aiconfigurator-core")
    full = next(g for (name, _), g in tab._grids.items() if name == "gen" and g is not None)
    red = Grid(full.axes, full.values.copy())
    hidden = []
    for i in range(len(full.axes[0])):
        j = np.flatnonzero(~np.isnan(full.values[i]))
        hidden.append((i, j[-1]))
        red.values[i, j[-1]] = np.nan
    errs = [abs(math.log(red.beyond(full.axes[0][i], full.axes[1][j]) / full.values[i, j])) for i, j in hidden]
    assert np.median(errs) < 0.05
    # past the frontier of the full table: at least the frontier's time, and more KV takes longer
    edge = tab.decode_attention(256, 1024, 32, 8, 128, "fp8")
    past = [tab.decode_attention(256, c, 32, 8, 128, "fp8") for c in (1500, 3072, 6000)]
    assert edge < past[0] < past[1] < past[2]
    # the report's provenance says the table was continued, not measured there
    assert any("continued past its measured frontier" in src and "generation_attention" in src for src in tab.sources)
