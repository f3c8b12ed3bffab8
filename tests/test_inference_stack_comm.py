"""Serving stacks pick their tensor-parallel all-reduce software as the real engines do: the custom all-reduce
(one-shot / two-shot, calibrated preset trtllm-h100 on H100) up to its size limit, NCCL (the fabric's comm:)
above it; stack="ideal" stays physics; chips without a calibrated custom all-reduce keep their fabric's comm."""

from __future__ import annotations

import copy

import pytest

import collectives
import topo
from inference import clear_cache
from inference import estimate as _estimate
from inference.comm import TP_ALL_REDUCE, Groups, collective_choice
from topo.presets import comm_preset

MODEL = "llama3.1-8b"  # hidden 4096: a decode all-reduce is batch x 4096 x 2 bytes (BF16 activations)


def estimate(fab, stack, batch):
    # the analytic kernel backend: the test is about communication, and needs no aiconfigurator tables
    return _estimate(MODEL, fab, tp=8, batch=batch, prompt=64, output=4, stack=stack, backend="analytic")


def custom_alone(fab, size, algorithm):
    """collectives' own calibrated time of one custom all-reduce on all 8 chips (fabric comm = trtllm-h100)."""
    v = copy.copy(fab)
    v.comm = comm_preset("trtllm-h100")
    return collectives.all_reduce(v, size, list(range(8)), algorithm=algorithm).time


@pytest.fixture(scope="module")
def h100():
    return topo.load("dgx-h100")


def decode_rows(r):
    return [x for x in r.comm if x["phase"] == "decode" and x["collective"] == "all_reduce"]


def test_trtllm_tp8_decode_uses_custom_all_reduce(h100):
    clear_cache()
    r = estimate(h100, "trtllm", 8)
    rows = decode_rows(r)
    assert rows and all(x["group_size"] == 8 for x in rows)
    for x in rows:
        assert x["size"] == 8 * 4096 * 2
        assert x["comm"] == "trtllm-h100" and x["algorithm"] == "oneshot"  # 64 KiB: one-shot is the faster
        assert x["time"] == pytest.approx(custom_alone(h100, x["size"], "oneshot"), rel=1e-12)
        # and it is the faster custom variant, well below NCCL's calibrated time for the same size
        assert x["time"] <= custom_alone(h100, x["size"], "direct")
        assert x["time"] < 0.5 * collectives.all_reduce(h100, x["size"], list(range(8))).time
    step = [x for x in r.layers if x["phase"] == "decode" and x["scope"] == "step"][0]
    assert step["communication"] == pytest.approx(32 * 2 * rows[0]["time"])  # 32 layers x 2 all-reduces
    assert "trtllm-h100/oneshot" in r.table()


def test_trtllm_above_limit_runs_nccl(h100):
    """Above TensorRT-LLM's custom limit (4 MiB on TP8) the fabric's own NCCL model runs."""
    limit = dict(TP_ALL_REDUCE[("trtllm", "hopper")].limits)[8]
    groups = Groups([list(range(8))])
    t_in, c_in = collective_choice(h100, "all_reduce", limit, groups, stack="trtllm")
    assert c_in.comm == "trtllm-h100" and c_in.algorithm in ("oneshot", "direct")
    assert t_in == pytest.approx(custom_alone(h100, limit, c_in.algorithm), rel=1e-12)
    above = 2 * limit
    t, c = collective_choice(h100, "all_reduce", above, groups, stack="trtllm")
    assert c.comm == "nccl-h100" and c.algorithm.split("(")[0] in ("ring", "inr")
    assert t == pytest.approx(collectives.all_reduce(h100, above, list(range(8))).time, rel=1e-12)
    # a decode batch past the limit: 1024 x 4096 x 2 bytes = 8 MiB
    rows = decode_rows(estimate(h100, "trtllm", 1024))
    assert rows and all(x["comm"] == "nccl-h100" for x in rows)


def test_vllm_limit_is_strict_and_ideal_is_physics(h100):
    groups = Groups([list(range(8))])
    lim = dict(TP_ALL_REDUCE[("vllm", "hopper")].limits)[8]
    assert collective_choice(h100, "all_reduce", lim - 16, groups, stack="vllm")[1].comm == "vllm-h100-symm"
    assert collective_choice(h100, "all_reduce", lim, groups, stack="vllm")[1].comm == "nccl-h100"
    # ideal: the physics of collectives alone, unchanged by any stack
    r = estimate(h100, "ideal", 8)
    for x in decode_rows(r):
        assert x["comm"] == "physics"
        assert x["time"] == pytest.approx(
            collectives.all_reduce(h100, x["size"], list(range(8)), ideal=True).time, rel=1e-12)


def test_other_chips_keep_their_fabric_comm():
    fab = topo.load("maia200-small")
    g = Groups([list(range(8))])
    t, c = collective_choice(fab, "all_reduce", 64 * 1024, g, stack="trtllm")
    assert c.comm == fab.comm.name and c.comm != "trtllm-h100"
    assert t == pytest.approx(collectives.all_reduce(fab, 64 * 1024, list(range(8))).time, rel=1e-12)
