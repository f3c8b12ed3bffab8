"""TensorRT-LLM's TP all-reduce (AllReduceStrategy.AUTO) in collectives.stacks: the ladder against the
engine's lookup table restated here, the fit on the points AUTO runs its kernels on (reproducing the
presets), and the validation rows (custom kernel up to the table's limit, the fabric's NCCL above)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import collectives as C
import topo
from collectives.stacks import all_reduce_tier, calibrate_stack, ladder, tier_comm
from topo.presets import comm_preset

KiB, MiB = 1024.0, 1024.0 * 1024.0

# TensorRT-LLM customAllReduceUtils.h AllReduceBestStrategyTable, fusion NONE, hidden 4096 rows, num_tokens
# 1, 2, 4, ..., 16384 (4 = ONESHOT, 5 = TWOSHOT, 0 = NCCL), copied from the header as lists
SM90 = {2: [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 0, 0, 0], 4: [4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 0, 0, 0, 0],
        8: [4, 4, 4, 4, 4, 4, 4, 0, 5, 5, 0, 0, 0, 0, 0]}
SM100 = {2: [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 0, 0, 0], 4: [4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 0, 0, 0],
         8: [4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 0, 0]}


def trtllm_auto(family: str, n: int, size: float) -> str | None:
    """AUTO restated from allreduceOp.cpp / customAllReduceUtils.h for a BF16 [tokens, 4096] input (what
    aiconfigurator's collector sends): NCCL above the 64 MiB workspace, else the table entry at
    floor(log2(tokens)), NCCL out of the table. Returns 'oneshot', 'direct' or None (NCCL)."""
    if size > 64 * MiB:
        return None
    tokens = max(1, int(size // (4096 * 2)))
    k = int(math.floor(math.log2(tokens)))
    row = (SM90 if family == "hopper" else SM100)[n]
    if k >= len(row):
        return None
    return {4: "oneshot", 5: "direct", 0: None}[row[k]]


@settings(max_examples=300, deadline=None)
@given(n=st.sampled_from([2, 4, 8]), e=st.floats(8, 30), fam=st.sampled_from(["hopper", "blackwell"]))
def test_trtllm_ladder_is_autos_table(n, e, fam):
    size = float(int(2.0 ** e) // 16 * 16)
    want = trtllm_auto(fam, n, size)
    t = all_reduce_tier("trtllm", fam, n, size)
    if want is None:
        assert t is None
    else:
        assert t is not None and t.algorithm == want
        assert t.comm == ("trtllm-h100" if fam == "hopper" else "trtllm-b200")


def test_trtllm_ladder_edges():
    assert all_reduce_tier("trtllm", "hopper", 8, 1 * MiB) is None  # the table's NCCL entry at 128 tokens
    assert all_reduce_tier("trtllm", "hopper", 8, 1 * MiB - 16).algorithm == "oneshot"
    assert all_reduce_tier("trtllm", "hopper", 8, 8 * MiB - 16).algorithm == "direct"
    assert all_reduce_tier("trtllm", "hopper", 8, 8 * MiB) is None
    assert all_reduce_tier("trtllm", "blackwell", 2, 32 * MiB - 16).algorithm == "oneshot"
    assert all_reduce_tier("trtllm", "blackwell", 8, 64 * MiB) is None
    assert ladder("trtllm", "hopper", 6) == () and ladder("trtllm", "maia", 8) == ()
    for fam in ("hopper", "blackwell"):
        for n in (2, 4, 8):
            lims = [r.limit for r in ladder("trtllm", fam, n)]
            assert lims == sorted(lims) and len(set(lims)) == len(lims)
            assert ladder("trtllm", fam, n)[-1].comm != "nccl"  # NCCL past the last rung anyway


def _synthetic(scale_direct: float = 1.0) -> list[dict]:
    """Measurements the model generates itself on the trtllm-b200 preset where AUTO runs its kernels."""
    rows = []
    for n in (2, 4, 8):
        for e in range(8, 27):
            size = 2.0 ** e
            t = all_reduce_tier("trtllm", "blackwell", n, size)
            if t is None:
                continue
            sec = C.all_reduce(topo.load("dgx-b200", comm=tier_comm(t)), size, list(range(n))).time
            rows.append({"collective": "all_reduce", "ranks": n, "bytes": size,
                         "seconds": sec * (scale_direct if t.algorithm == "direct" else 1.0)})
    return rows


def test_trtllm_fit_recovers_the_parameters_that_generated_the_data_and_moves_when_perturbed():
    cal = calibrate_stack("trtllm", "b200_sxm", measurements=_synthetic())
    assert np.abs(cal.data["ratio"] - 1).max() < 0.01
    got, want = cal.comms["trtllm-b200"], comm_preset("trtllm-b200")
    for a in ("oneshot", "direct"):
        assert got.custom_of(a)["efficiency"] == pytest.approx(want.custom_of(a)["efficiency"], rel=0.03), a
    bad = calibrate_stack("trtllm", "b200_sxm", measurements=_synthetic(scale_direct=1.3)).comms["trtllm-b200"]
    assert abs(bad.custom_of("direct")["efficiency"] / want.custom_of("direct")["efficiency"] - 1) > 0.1


def test_trtllm_presets_name_the_points_they_were_fitted_on():
    for name, system in (("trtllm-h100", "h100_sxm"), ("trtllm-b200", "b200_sxm")):
        prov = dict(comm_preset(name).provenance)
        for a in ("oneshot", "direct"):
            assert prov[f"custom.{a}"].startswith("fit: aiconfigurator-core 0.12.0 trtllm 1.3.0rc20") and system in prov[f"custom.{a}"]
            assert "ranks" in prov[f"custom.{a}"]


def test_trtllm_table_fit_reproduces_the_presets_and_validation_runs_nccl_above_the_ladder():
    pytest.importorskip("aiconfigurator_core")
    from collectives.validation import _stack_rows

    for name, system in (("trtllm-h100", "h100_sxm"), ("trtllm-b200", "b200_sxm")):
        got, want = calibrate_stack("trtllm", system).comms[name], comm_preset(name)
        for a in ("oneshot", "direct"):
            for k in ("call", "step", "efficiency", "peer"):
                assert got.custom_of(a)[k] == pytest.approx(want.custom_of(a)[k], rel=2e-3, abs=1e-9), (name, a, k)
    fab = topo.load("dgx-b200")
    d = _stack_rows("b200_sxm", "trtllm", fab, False)
    assert set(d["stack"]) == {"trtllm"} and len(d) == 69
    big = d[d["bytes"] == 128 * MiB].iloc[0]  # above AUTO's table on 8 ranks too: the fabric's NCCL
    ranks = int(big["ranks"])
    assert big["predicted"] == pytest.approx(C.all_reduce(fab, 128 * MiB, list(range(ranks))).time, rel=1e-12)
