"""NCCL's grouped point-to-point (all-to-all) in the calibrated model: channels per peer as NCCL's enqueue.cc
assigns them, the protocol rule, the closed form of a call, and calibration recovering the p2p parameters."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import model_measurements, star_fabric

import collectives as C
import topo
from collectives.comm import P2P_DEFAULTS, p2p_channels
from topo.specs import CommSpec

B = 1e9  # bytes/s per link
H = 1e-6  # s per hop
P2P = {"base_ll": 1e-6, "base_simple": 4e-6, "peer": 0.5e-6, "channel_bandwidth": 2e7, "fill": 0.5,
       "channels": 32, "chunk": 512 * 1024}
SPEC = CommSpec(name="p2p", call=5e-6, buffer_bandwidth=50e9, base={"simple": 3e-6}, step={"ll": 1e-6, "simple": 2e-6},
                bandwidth={"ll": 0.4, "simple": 1.0}, algorithms={"all_to_all": {"direct": 0.5}}, p2p=P2P)


def star(n: int, comm: CommSpec | None = None) -> topo.Fabric:
    return star_fabric(n, B, H, comm)


def test_channels_per_peer_follow_nccls_enqueue():
    """enqueue.cc: nChannelsMin = 32 halved until x n <= 32; min(that, ceil(peer / 64 KiB)); doubled while a
    channel's part exceeds 16 MiB (32 chunks of 512 KiB)."""
    ch, ck = P2P_DEFAULTS["channels"], P2P_DEFAULTS["chunk"]
    assert [p2p_channels(b, 8, ch, ck) for b in (512, 2**16, 2**16 + 1, 2**18, 2**20)] == [1, 1, 2, 4, 4]
    assert [p2p_channels(b, 2, ch, ck) for b in (2**16, 2**20, 2**24, 2**28)] == [1, 16, 16, 16]
    assert p2p_channels(4 * 2**24, 8, ch, ck) == 4 and p2p_channels(4 * 2**24 + 4, 8, ch, ck) == 8
    assert p2p_channels(2**28 + 16, 2, ch, ck) == 32 and p2p_channels(2**40, 2, ch, ck) == 32


@pytest.mark.parametrize("n", [2, 3, 4, 8, 16, 64])
def test_channels_and_protocol_are_monotone_in_size(n):
    """More bytes never mean fewer channels, and once Simple, never LL again (NCCL's rule is on size)."""
    sizes = np.unique(np.round(2.0 ** np.linspace(6, 32, 300)))
    chans = [p2p_channels(s, n, 32, 512 * 1024) for s in sizes]
    assert all(a <= b for a, b in zip(chans, chans[1:]))
    fab = topo.load("dgx-h100")
    m = min(n, 8)
    protos = [C.all_to_all(fab, s * m, group=list(range(m)), algorithm="direct").protocol for s in sizes[::20]]
    switch = protos.index("simple")
    assert set(protos[:switch]) == {"ll"} and set(protos[switch:]) == {"simple"}


@pytest.mark.parametrize("cbw", [2e7, 2e9])  # the channels' pace binds / the links bind
@pytest.mark.parametrize("mode", ["exact", "steps"])
@pytest.mark.parametrize("n,size", [(4, 4 * 2**20), (8, 8 * 8 * 2**10), (2, 2 * 2**30)])
def test_all_to_all_is_its_closed_form(n, size, mode, cbw):
    """call + base[p] + (n-1) peer + max(links, channels' pace) + fill, the self copy concurrent (no pass)."""
    spec = SPEC.replace(p2p={**P2P, "channel_bandwidth": cbw})
    r = C.all_to_all(star(n, spec), size, algorithm="direct", mode=mode)
    peer = size / n
    p = "ll" if peer <= 16384 else "simple"
    frac = SPEC.bandwidth_of(p)
    links = (n - 1) * peer / (B * frac * 0.5) + 2 * H
    k = p2p_channels(peer, n, 32, 512 * 1024)
    part = peer / k
    share = 2 if n == 2 and size > 2**30 else 1  # 2 x 32 parts on 32 channels (parts doubled past 16 MiB)
    assert share == -(-n * k // 32)
    rate = cbw * frac
    want = (5e-6 + P2P[f"base_{p}"] + (n - 1) * 0.5e-6 + max(links, share * part / rate)
            + 0.5 * min(part, 512 * 1024) / rate)
    assert r.protocol == p
    assert abs(r.time / want - 1) < 1e-12


def test_ideal_all_to_all_ignores_the_p2p_block():
    a = C.all_to_all(star(6, SPEC), 3 * 2**20, algorithm="direct", ideal=True)
    b = C.all_to_all(star(6, None), 3 * 2**20, algorithm="direct", ideal=True)
    assert a.time == b.time and a.protocol is None
    assert abs(a.time / (5 / 6 * 3 * 2**20 / B + 2 * H) - 1) < 1e-12


def test_p2p_block_parses_in_human_units_and_rejects_unknown_keys():
    spec = topo.loader.parse_comm({"preset": "nccl-h100", "p2p": {"channel_bandwidth": "25GB/s", "chunk": "256KiB"}})
    p = spec.p2p_of()
    assert p["channel_bandwidth"] == 25e9 and p["chunk"] == 256 * 1024 and p["channels"] == 32
    with pytest.raises(topo.SpecError, match="comm.p2p: unknown key 'lanes'"):
        topo.loader.parse_comm({"preset": "nccl-h100", "p2p": {"lanes": 4}})
    with pytest.raises(topo.SpecError, match="missing key"):
        CommSpec(name="x", p2p={"peer": 1e-6})


# ---------------------------------------------------------------------- calibration
ALGS = {"all_reduce": ("ring",), "all_to_all": ("direct",)}
P2P_FIT = ("base_simple", "peer", "channel_bandwidth", "fill")


def _truth():
    base = topo.comm_preset("nccl-b200")
    return base.replace(algorithms={"all_reduce": {"ring": 0.92}, "all_to_all": {"direct": 0.6}},
                        p2p={**dict(base.p2p), "channel_bandwidth": 22e9, "fill": 0.4, "peer": 0.5e-6,
                             "base_simple": 4e-6})


@pytest.fixture(scope="module")
def synthetic():
    """All-reduce and all-to-all measurements generated by the model itself (dgx-b200, known parameters)."""
    fab = topo.load("dgx-b200", comm=_truth())
    return model_measurements(fab, ALGS, lambda coll: 2.0 ** np.arange(9, 30, 2 if coll == "all_to_all" else 3))


def _errors(spec: CommSpec) -> dict[str, float]:
    got, want = spec.p2p_of(), _truth().p2p_of()
    err = {k: abs(got[k] / want[k] - 1) for k in P2P_FIT}
    err["direct"] = abs(spec.algorithms_of("all_to_all")["direct"] / 0.6 - 1)
    return err


def test_calibration_recovers_the_p2p_parameters(synthetic):
    cal = C.calibrate("dgx-b200", synthetic, algorithms=ALGS)
    a2a = cal.data["collective"] == "all_to_all"
    assert np.abs(cal.ratios[a2a.to_numpy()] - 1).max() < 0.01
    err = _errors(cal.comm)
    assert max(err.values()) < 0.03, err
    assert cal.comm.p2p_of()["channels"] == 32 and "p2p" in dict(cal.comm.provenance)


def test_p2p_recovery_fails_when_large_all_to_alls_are_perturbed(synthetic):
    bad = [dict(r, seconds=r["seconds"] * (1.25 if r["collective"] == "all_to_all" and r["bytes"] >= 2**22 else 1.0))
           for r in synthetic]
    err = _errors(C.calibrate("dgx-b200", bad, algorithms=ALGS).comm)
    assert max(err["channel_bandwidth"], err["direct"]) > 0.1, err


@pytest.mark.parametrize("mode", ["exact", "steps"])
@pytest.mark.parametrize("n", [8, 64])
def test_pairwise_step_paces_its_one_peer(n, mode):
    """A pairwise step holds one send per rank (to r + s), not the grouped call's n operations: each of its n - 1
    steps is one part on its k channels, never ceil(n k / 32) parts one after the other. The pace charged every
    step the whole direct call's channel rounds (384 ranks of maia200-small, 1 GiB: 395 ms against a physics
    time of 7.8 ms; 12 rounds per step where one peer has one)."""
    size, cbw = n * 2**16, 2e7  # 64 KiB per peer (Simple); the channels bind, not the links
    r = C.all_to_all(star(n, SPEC.replace(p2p={**P2P, "channel_bandwidth": cbw})), size, algorithm="pairwise",
                     mode=mode)
    peer = size / n
    k = p2p_channels(peer, n, 32, 512 * 1024)
    part, rate = peer / k, cbw * SPEC.bandwidth_of("simple")
    link = peer / (B * 0.5) + 2 * H  # one step on the star's links, algorithm efficiency 0.5
    assert part / rate > link
    want = (5e-6 + P2P["base_simple"] + (n - 1) * 0.5e-6
            + (n - 1) * (part / rate + 0.5 * min(part, 512 * 1024) / rate))
    assert r.protocol == "simple"
    assert abs(r.time / want - 1) < 1e-9
