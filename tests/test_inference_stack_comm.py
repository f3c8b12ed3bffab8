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
    """At and above TensorRT-LLM's custom limit (AUTO's SM90 TP8 row: two-shot up to 512 tokens of hidden 4096,
    i.e. below 8 MiB) the fabric's own NCCL model runs."""
    limit = dict(TP_ALL_REDUCE[("trtllm", "hopper")].limits)[8]
    assert limit == 8 * 2**20
    groups = Groups([list(range(8))])
    t_in, c_in = collective_choice(h100, "all_reduce", limit - 16, groups, stack="trtllm")
    assert c_in.comm == "trtllm-h100" and c_in.algorithm == "direct"
    assert t_in == pytest.approx(custom_alone(h100, limit - 16, c_in.algorithm), rel=1e-12)
    assert collective_choice(h100, "all_reduce", limit, groups, stack="trtllm")[1].comm == "nccl-h100"
    above = 2 * limit
    t, c = collective_choice(h100, "all_reduce", above, groups, stack="trtllm")
    assert c.comm == "nccl-h100" and c.algorithm.split("(")[0] in ("ring", "inr")
    assert t == pytest.approx(collectives.all_reduce(h100, above, list(range(8))).time, rel=1e-12)
    # a decode batch past the limit: 1024 x 4096 x 2 bytes = 8 MiB
    rows = decode_rows(estimate(h100, "trtllm", 1024))
    assert rows and all(x["comm"] == "nccl-h100" for x in rows)


@pytest.mark.parametrize("family", ["hopper", "blackwell"])
def test_trtllm_policy_is_the_stacks_ladder(family):
    """inference's TensorRT-LLM TP all-reduce is collectives.stacks' trtllm ladder (one source of truth): at every
    power-of-two token count of AUTO's table (hidden 4096, BF16) and its neighbours, on 2 / 4 / 8 ranks, the
    policy runs the rung's preset and algorithm, NCCL where the table says NCCL (the SM90 TP8 row's 128 tokens)."""
    from collectives.stacks import all_reduce_tier

    pol = TP_ALL_REDUCE[("trtllm", family)]
    assert pol.ladder and pol.preset == f"trtllm-{'h100' if family == 'hopper' else 'b200'}"
    rows = {"hopper": {2: "444444444444000", 4: "444444445550000", 8: "444444405500000"},
            "blackwell": {2: "444444444444000", 4: "444444444455000", 8: "444444444555500"}}[family]
    for n, row in rows.items():
        for k, c in enumerate(row):
            for size in (2.0**k * 8192, 2.0**k * 8192 * 1.5, 2.0 ** (k + 1) * 8192 - 2):
                tier = all_reduce_tier("trtllm", family, n, size)
                assert pol.applies(size, n) == (c != "0") == (tier is not None)
                if tier is not None:
                    assert (tier.comm, tier.algorithm) == (pol.preset, {"4": "oneshot", "5": "direct"}[c])
        assert not pol.applies(2.0 ** len(row) * 8192, n)  # beyond the table: NCCL
    assert not pol.applies(4096.0, 3)  # a TP size outside the table: NCCL


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
