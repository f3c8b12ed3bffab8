"""NCCL's own tuner, as NCCL 2.29.2 computes it: which (algorithm, protocol) NCCL runs a collective with.

NCCL does not pick what is fastest; it picks the least *predicted* time of its own cost model
(``ncclTopoTuneModel`` and ``ncclTopoGetAlgoTime``, ``src/graph/tuning.cc``), built from constants compiled
into the library. This module restates that model for one NVSwitch node (``nNodes == 1``), with NCCL's
published constants, nothing fitted:

- per (algorithm, protocol) a latency (us) and a bus bandwidth (GB/s), ``time = lat + nBytes / (1000 bw)``;
  ``nBytes`` is the whole buffer (all-reduce: the per-rank buffer; all-gather / reduce-scatter: ``nRanks x
  count`` elements: ``ncclFuncMaxSendRecvCount``, ``src/include/enqueue.h``): scaleup's nccl-tests size;
- the bandwidth comes from the search's graphs (``src/graph/search.cc``): the number of channels and the
  GB/s each channel carries, found on GPU <-> NVSwitch links of ``nvlinks x`` NCCL's per-link figure
  (``SM90_NVLINK_BW`` 20.6, ``SM100_NVLINK_BW`` 40.1 GB/s, ``src/graph/topo.h``) with the per-architecture
  speed ladders (``sm90SpeedArrayIntra``, ``sm100SpeedArrayIntra``); :func:`graphs` replays that search on
  an NVSwitch node (every ring fits; channels are limited by link bandwidth only);
- the refinements of ``ncclTopoTuneModel``: LL at half the bus bandwidth capped by ``llMaxBws``, LL128 at
  0.92 capped per channel by ``perChMaxRingLL128Bws``, Tree caps (``perChMaxTreeBws``, 1/3.8 for LL, 7/9
  for LL128 on one node, ``treeCorrectionFactor`` by size), NVLS at ``nvlsEfficiency`` x (nCh - 1) / nCh of
  its intra bandwidth (x2 for all-reduce, x (n - 1) / n otherwise), bus -> algorithm bandwidth by n / nsteps
  (ring, NVLS; Tree all-reduce x 0.5; NVLS all-gather / reduce-scatter: none);
- latencies: ``baseLatencies[algo][proto] + nsteps x hwLatencies[NVLINK][algo][proto]`` for the ring
  (nsteps = 2 (n - 1) all-reduce, n - 1 all-gather / reduce-scatter), ``2 (n - 1) x hwLat`` plus the base for
  Tree, ``hwLatencies[NVLINK][NVLS][Simple]`` (25 us) alone for NVLS; NVLS runs Simple only.

What NCCL then *delivers* is not this prediction. Status (issue 10): not wired into the calibrated model.
Running NCCL's pick with the calibrated delivered time for it (NVLS with its own per-call latency) and
refitting nccl-h100 / nccl-b200 under that rule lowered the rms log error (H100 0.072 -> 0.070, B200 0.083 ->
0.073) but not the medians (4.6% -> 4.9%, 4.5% -> 4.6%) nor the >= 64 MiB medians (4.0% -> 4.3%, 3.8% ->
7.1%): NCCL runs NVLS for 8-GPU all-reduces above ~1.1 / 2.5 MiB, and scaleup's ``inr`` time is linear in
size (the switch's reduction bandwidth) where measured NVLS gets faster per byte as messages grow. That
integration is commit 7c50909, reverted by 5e31a64 (docs/collectives.md, "NCCL's tuner vs what it delivers").
What this module shows on its own: NCCL runs ring LL from 256 B to 1-3 MiB, so the measured 8 -> 16-32 KiB
steps are not protocol switches; the 8x B200 2 -> 4 MiB step is its ring LL -> NVLS switch.
Source: github.com/NVIDIA/nccl tag v2.29.2-1 (the version of aiconfigurator-core's nccl-tests tables):
src/graph/tuning.cc, src/graph/search.cc, src/graph/topo.h, src/enqueue.cc (updateCollCostTable,
topoGetAlgoInfo).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

#: NCCL version whose constants are restated here
VERSION = "2.29.2"
SOURCE = ("source: NCCL v2.29.2-1 src/graph/tuning.cc (ncclTunerConstantsDefaults, ncclTopoTuneModel, "
          "ncclTopoGetAlgoTime), src/graph/search.cc (speed arrays, ncclTopoCompute, ncclTopoDupChannels), "
          "src/graph/topo.h (SM90/SM100_NVLINK_BW)")

PROTOS = ("ll", "ll128", "simple")
_P = {p: i for i, p in enumerate(PROTOS)}
# tuning.cc ncclTunerConstantsDefaults (LL, LL128, Simple)
BASE_LAT = {"tree": (6.8, 14.0, 8.4), "ring": (6.6, 14.0, 8.4), "nvls": (0.0, 0.0, 0.0)}
HW_LAT_NVLINK = {"tree": (0.6, 1.25, 4.0), "ring": (0.6, 1.9, 3.4), "nvls": (0.0, 0.0, 25.0)}
#: per architecture, single node (index2 0 = N1): llMaxBws, perChMaxRingLL128Bws, perChMaxTreeLL128Bws,
#: perChMaxTreeBws, nvlsEfficiency; NVLink GB/s per link (topo.h); search.cc speed ladder (intra)
ARCH = {
    "sm90": {"ll_max": 141.0, "ring_ll128": 36.7, "tree_ll128": 36.7, "tree": 38.7, "nvls_eff": 0.85,
             "nvlink_bw": 20.6, "speeds": (60.0, 50.0, 40.0, 30.0, 24.0, 20.0, 15.0, 12.0, 11.0, 6.0, 3.0)},
    "sm100": {"ll_max": 2 * 141.0, "ring_ll128": 34.5, "tree_ll128": 55.6, "tree": 70.0, "nvls_eff": 0.74,
              "nvlink_bw": 40.1,
              "speeds": (90.0, 80.0, 70.0, 60.0, 50.0, 45.0, 40.0, 30.0, 24.0, 20.0, 19.0, 18.0)},
}
# tuning.cc treeCorrectionFactor[proto][log2(nBytes / 64)] (powers of two, 64 B to 256 MB)
TREE_CORRECTION = (
    (1.0, 1.0, 1.0, 1.0, .9, .8, .7, .7, .7, .7, .6, .5, .4, .4, .5, .6, .7, .8, .9, 1.0, 1.0, 1.0, 1.0, 1.0),
    (1.0, 1.0, 1.0, 1.0, 1.0, .9, .8, .8, .8, .7, .6, .6, .6, .6, .6, .6, .8, .9, .9, .9, .9, 1.0, 1.0, 1.0),
    (.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7, .8, .9, .9, .9),
)
MAXCHANNELS = 64  # src/include/device.h; rings search up to MAXCHANNELS / 2 (init.cc)
NVLS_MAX_ARITY = 32  # NCCL_MAX_NVLS_ARITY
#: scaleup algorithm -> NCCL algorithm it stands for on one NVSwitch node
NCCL_ALGO = {"ring": "ring", "inr": "nvls"}
#: collectives NCCL's tuner chooses for (point-to-point collectives bypass it)
TUNED = ("all_reduce", "all_gather", "reduce_scatter")


@dataclass(frozen=True)
class Tuner:
    """NCCL's tuner on one NVSwitch node of one GPU architecture.

    Attributes:
        name: the ``comm.tuner`` value (``nccl-2.29-sm90``, ``nccl-2.29-sm100``).
        arch: ``"sm90"`` (Hopper) or ``"sm100"`` (Blackwell): NCCL's compCapIndex.
        nvlinks: NVLink links per GPU to the NVSwitches (18 on H100 / H200 / B200 / GB200: NVIDIA datasheets).
    """

    name: str
    arch: str
    nvlinks: int = 18

    @property
    def link_bw(self) -> float:
        """GB/s of one GPU's NVLinks to the switches, as NCCL's topology counts them."""
        return self.nvlinks * ARCH[self.arch]["nvlink_bw"]


#: ``comm.tuner`` name -> the tuner
TUNERS = {"nccl-2.29-sm90": Tuner("nccl-2.29-sm90", "sm90"), "nccl-2.29-sm100": Tuner("nccl-2.29-sm100", "sm100")}


@dataclass(frozen=True)
class Graph:
    """One search.cc graph: ``n_channels`` channels of ``bw_intra`` / ``bw_inter`` GB/s each."""

    n_channels: int
    bw_intra: float
    bw_inter: float


def _search(speeds: tuple[float, ...], fits, min_ch: int, max_ch: int, total_bw: float, start_bw: float,
            nvls: bool) -> Graph:
    """search.cc ncclTopoCompute on an NVSwitch node, where a channel at speed ``s`` always exists while
    ``fits(n_channels, s)`` (link bandwidth) holds: pass 1 from the fastest speed allowed, stepping down while
    the next speed is > 0.49 of the best found, keeping the most ``n_channels x bw`` (NVLS: the most
    channels); ncclTopoDupChannels (rings and trees); pass 2 raising the speed (rings) or NVLS's bwInter."""
    idx = 0
    while (speeds[idx] > total_bw or speeds[idx] * min_ch > start_bw) and idx < len(speeds) - 1:
        idx += 1
    best: Graph | None = None

    def channels(s: float) -> int:
        k = 0
        while k < max_ch and fits(k + 1, s):
            k += 1
        return k

    while True:
        k = channels(speeds[idx])
        if k >= min_ch:
            g = Graph(k, speeds[idx], speeds[idx])
            if best is None or (k > best.n_channels if nvls else k * g.bw_intra > best.n_channels * best.bw_intra):
                best = g
            if k == max_ch or k * speeds[idx] >= total_bw:  # perfect / optimal: stop
                break
        if idx < len(speeds) - 1 and (best is None or speeds[idx + 1] / best.bw_inter > 0.49):
            idx += 1
            continue
        break
    assert best is not None, "NVSwitch node: some channel always fits"
    if not nvls and best.bw_intra >= 25.0 and not (best.bw_intra < 50.0 and best.n_channels > 4):  # ccMin > 80
        dup = min(best.n_channels * 2, max_ch)
        div = -(-dup // best.n_channels)
        best = Graph(dup, best.bw_intra / div, best.bw_inter / div)
    # pass 2
    idx = 0
    while speeds[idx] > best.bw_inter and idx < len(speeds) - 1:
        idx += 1
    while idx > 0:
        s = speeds[idx - 1]
        if nvls:  # raise bwInter only (nothing on one node uses it), keeping the channels
            if best.bw_inter < best.bw_intra * 2:
                best = Graph(best.n_channels, best.bw_intra, s)
                idx -= 1
                continue
            break
        if channels(s) >= best.n_channels and fits(best.n_channels, s):
            best = Graph(best.n_channels, s, s)
            idx -= 1
            continue
        break
    return best


@cache
def graphs(tuner: Tuner, n: int) -> dict[str, Graph]:
    """The ring, tree and NVLS graphs NCCL's search finds for ``n`` GPUs of one NVSwitch node."""
    a = ARCH[tuner.arch]
    bw = tuner.link_bw  # system->maxBw = system->totalBw = one GPU's NVLink bandwidth to the switches
    speeds = a["speeds"]
    # a ring / tree channel crosses each GPU's switch link once each way
    ring = _search(speeds, lambda k, s: k * s <= bw + 1e-9, 1, MAXCHANNELS // 2, bw, bw, False)
    tree = _search(speeds, lambda k, s: k * s <= bw + 1e-9, ring.n_channels, ring.n_channels, bw,
                   bw * n / (n - 1), False)
    out = {"ring": ring, "tree": tree}
    m = min(NVLS_MAX_ARITY, n)
    if m >= 2:
        # NVLS: one channel per head GPU; each uses every GPU's links at bw, its head's at 2 x bw
        out["nvls"] = _search(speeds, lambda k, s: (k + 1) * s <= bw + 1e-9, m, m, bw, bw * n / (n - 1), True)
    return out


def _nsteps(collective: str, n: int) -> int:
    return 2 * (n - 1) if collective == "all_reduce" else n - 1


def bandwidth(tuner: Tuner, collective: str, algo: str, proto: str, n: int) -> float:
    """``comm->bandwidths[coll][algo][proto]``: NCCL's algorithm bandwidth, GB/s (0 = not used)."""
    a = ARCH[tuner.arch]
    g = graphs(tuner, n).get(algo)
    if g is None or n <= 1:
        return 0.0
    if algo == "nvls":
        if proto != "simple" or g.n_channels < 2:
            return 0.0
        intra = g.bw_intra * a["nvls_eff"] * (g.n_channels - 1) / g.n_channels
        intra *= 2.0 if collective == "all_reduce" else (n - 1) / n
        bw = g.n_channels * min(intra, g.bw_inter)
    elif algo == "tree":
        if collective != "all_reduce":
            return 0.0
        bw = g.n_channels * g.bw_intra
        bw = min(bw * 0.92, g.n_channels * a["tree"])
        if proto == "ll":
            bw = min(bw / 3.8, a["ll_max"])
        elif proto == "ll128":
            bw = min(bw * 7.0 / 9.0, g.n_channels * a["tree_ll128"])
    else:
        bw = g.n_channels * g.bw_intra
        if proto == "ll":
            bw = min(a["ll_max"], bw * 0.5)
        elif proto == "ll128":
            bw = min(bw * 0.92, g.n_channels * a["ring_ll128"])
    if algo in ("ring",) or (algo == "nvls" and collective == "all_reduce"):
        bw *= n / _nsteps(collective, n)
    elif algo == "tree":
        bw *= 0.5
    return bw


def latency(collective: str, algo: str, proto: str, n: int) -> float:
    """``comm->latencies[coll][algo][proto]`` on one NVLink node, us."""
    p = _P[proto]
    if algo == "nvls":
        return HW_LAT_NVLINK["nvls"][p]
    if algo == "tree":
        return BASE_LAT["tree"][p] + 2 * (n - 1) * HW_LAT_NVLINK["tree"][p]
    return BASE_LAT["ring"][p] + _nsteps(collective, n) * HW_LAT_NVLINK["ring"][p]


def predicted(tuner: Tuner, collective: str, algo: str, proto: str, n: int, size: float) -> float:
    """ncclTopoGetAlgoTime: NCCL's predicted time of ``size`` bytes, s (inf where NCCL does not run it)."""
    bw = bandwidth(tuner, collective, algo, proto, n)
    if bw <= 0:
        return math.inf
    nbytes = int(size)
    if algo == "tree" and collective == "all_reduce":
        log = (nbytes >> 6).bit_length() - 1  # log2i(nBytes >> 6)
        if 0 <= log < 23:
            bw *= TREE_CORRECTION[_P[proto]][log]
    return (latency(collective, algo, proto, n) + nbytes / (1000.0 * bw)) * 1e-6


@cache
def choice(tuner: Tuner, collective: str, n: int, size: float, algorithms: tuple[str, ...] = ("ring", "inr"),
           protocols: tuple[str, ...] = PROTOS) -> tuple[str, str] | None:
    """The (scaleup algorithm, protocol) NCCL runs: the least :func:`predicted` time over ``algorithms``
    (scaleup names with an NCCL counterpart, :data:`NCCL_ALGO`) and ``protocols``; ties go to the earlier
    algorithm in NCCL's order (Tree, Ring, ..., NVLS) and the earlier protocol (LL, LL128, Simple), as
    topoGetAlgoInfo's strict ``<`` does. None when no candidate applies."""
    order = ("tree", "ring", "nvls")
    cands = sorted((a for a in algorithms if a in NCCL_ALGO), key=lambda a: order.index(NCCL_ALGO[a]))
    best, pick = math.inf, None
    for a in cands:
        for p in PROTOS:
            if p not in protocols:
                continue
            t = predicted(tuner, collective, NCCL_ALGO[a], p, n, size)
            if t < best:
                best, pick = t, (a, p)
    return pick


def protocol(tuner: Tuner, collective: str, algorithm: str, n: int, size: float,
             protocols: tuple[str, ...] = PROTOS) -> str | None:
    """The protocol NCCL runs ``algorithm`` with at this size (its least predicted time), or None."""
    pick = choice(tuner, collective, n, size, (algorithm,), protocols)
    return None if pick is None else pick[1]


def get(name: str) -> Tuner:
    """The tuner called ``name`` (:data:`TUNERS`)."""
    from topo import SpecError

    try:
        return TUNERS[name]
    except KeyError:
        raise SpecError(f"comm.tuner: unknown tuner {name!r}; known: {', '.join(TUNERS)} (or '' for none)") from None


__all__ = ["SOURCE", "TUNED", "TUNERS", "Graph", "Tuner", "bandwidth", "choice", "get", "graphs", "latency",
           "predicted", "protocol"]
