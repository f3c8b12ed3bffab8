"""NCCL's own tuner (collectives.nccl_tuner): the graphs its search finds on one NVSwitch node, its predicted
times and the (algorithm, protocol) it picks, against values computed by hand from NCCL 2.29.2's
src/graph/tuning.cc formula and constants."""

from __future__ import annotations

import math

import pytest

from collectives import nccl_tuner as T

H100 = T.TUNERS["nccl-2.29-sm90"]
B200 = T.TUNERS["nccl-2.29-sm100"]
MiB = 2**20


def test_graphs_match_nccls_search_log():
    """H100 (18 NVLinks x 20.6 GB/s = 370.8 GB/s to the switches): rings 6 x 60 GB/s, duplicated to 12 x 30;
    NVLS 8 heads at 40 GB/s (9 x 40 <= 370.8), bwInter raised to 60: the 'Pattern 4 ... nChannels 12, bw 30/30'
    and 'Pattern 5 ... nChannels 8, bw 40/60' lines of an H100 NCCL_DEBUG log (NVIDIA/nccl#1197).
    B200 (18 x 40.1 = 721.8 GB/s): rings 8 x 90 -> 16 x 45; NVLS 8 x 80 (9 x 80 <= 721.8), bwInter 90."""
    g = T.graphs(H100, 8)
    assert (g["ring"].n_channels, g["ring"].bw_intra) == (12, 30.0)
    assert (g["nvls"].n_channels, g["nvls"].bw_intra, g["nvls"].bw_inter) == (8, 40.0, 60.0)
    g = T.graphs(B200, 8)
    assert (g["ring"].n_channels, g["ring"].bw_intra) == (16, 45.0)
    assert (g["nvls"].n_channels, g["nvls"].bw_intra, g["nvls"].bw_inter) == (8, 80.0, 90.0)
    # 4 heads fit at the top speed: 5 x 60 <= 370.8
    assert (T.graphs(H100, 4)["nvls"].n_channels, T.graphs(H100, 4)["nvls"].bw_intra) == (4, 60.0)


def test_predicted_times_by_hand():
    """8x H100 all-reduce (nsteps 14): ring LL lat 6.6 + 14 x 0.6 = 15.0 us, bw min(141, 0.5 x 360) x 8/14;
    NVLS lat 25 us, bw 8 x min(40 x 0.85 x 7/8 x 2, 60) x 8/14."""
    ll = T.predicted(H100, "all_reduce", "ring", "ll", 8, MiB)
    assert ll == pytest.approx((15.0 + MiB / (1000 * 141 * 8 / 14)) * 1e-6, rel=1e-12)
    nvls = T.predicted(H100, "all_reduce", "nvls", "simple", 8, MiB)
    assert nvls == pytest.approx((25.0 + MiB / (1000 * 8 * 59.5 * 8 / 14)) * 1e-6, rel=1e-6)
    s = T.predicted(H100, "all_reduce", "ring", "simple", 4, 4 * MiB)  # 8.4 + 6 x 3.4 us, 360 x 4/6 GB/s
    assert s == pytest.approx((28.8 + 4 * MiB / (1000 * 240)) * 1e-6, rel=1e-12)
    ll128 = T.predicted(B200, "all_gather", "ring", "ll128", 8, MiB)  # 14 + 7 x 1.9; min(0.92 x 720, 16 x 34.5) x 8/7
    assert ll128 == pytest.approx((27.3 + MiB / (1000 * 552 * 8 / 7)) * 1e-6, rel=1e-12)
    assert T.predicted(H100, "all_reduce", "nvls", "ll", 8, MiB) == math.inf  # NVLS runs Simple only


@pytest.mark.parametrize("tuner, n, size, want", [
    (H100, 8, 1 * MiB, ("ring", "ll")),        # 15.0 + 13.0 = 28.0 us < NVLS 25 + 3.9 = 28.9 us
    (H100, 8, 2 * MiB, ("inr", "simple")),     # LL 41.0 us > NVLS 32.7 us
    (H100, 4, 2 * MiB, ("ring", "ll")),        # LL 32.5 us < LL128 34.9 us; NVLS 38.1 us
    (H100, 4, 4 * MiB, ("ring", "ll128")),     # LL 54.8, LL128 44.4, Simple 46.3 us
    (H100, 4, 16 * MiB, ("ring", "simple")),   # LL128 101.4 us > Simple 98.7 us
    (H100, 2, 1 * MiB, ("ring", "ll")),        # 7.8 + 7.4 = 15.2 us < Simple 15.2 + 2.9 us
    (B200, 8, 2 * MiB, ("ring", "ll")),        # LL 28.0 us < NVLS 30.1 us
    (B200, 8, 4 * MiB, ("inr", "simple")),     # LL 41.0 us > NVLS 35.2 us
])
def test_choice_by_hand(tuner, n, size, want):
    assert T.choice(tuner, "all_reduce", n, size) == want


@pytest.mark.parametrize("tuner", [H100, B200])
@pytest.mark.parametrize("coll", ["all_reduce", "all_gather", "reduce_scatter"])
@pytest.mark.parametrize("n", [2, 4, 8])
def test_choice_monotone_and_tree_never_least(tuner, coll, n):
    """NCCL's choice is the lower envelope of lines lat + size / bw: each (algorithm, protocol) holds one range
    of sizes and the bandwidth of the pick never falls as the size grows. Tree, which scaleup does not run
    as NCCL's, is never the least predicted time on one NVSwitch node (so leaving it out changes no choice)."""
    sizes = [2.0**k for k in range(8, 31)]
    picks = [T.choice(tuner, coll, n, s) for s in sizes]
    seen: list = []
    for p in picks:
        if not seen or seen[-1] != p:
            assert p not in seen, f"{p} chosen again after {seen[-1]}"
            seen.append(p)
    bws = [T.bandwidth(tuner, coll, T.NCCL_ALGO[a], p, n) for a, p in picks]
    assert bws == sorted(bws)
    for s, (a, p) in zip(sizes, picks):
        best = T.predicted(tuner, coll, T.NCCL_ALGO[a], p, n, s)
        for q in T.PROTOS:
            assert T.predicted(tuner, coll, "tree", q, n, s) > best
