"""The calibrated communication-software model: how a :class:`topo.CommSpec` turns a compiled schedule's
engine run into what a collective library (NCCL and its peers) delivers. See docs/collectives.md,
"Calibrated communication model".

The model adds software costs where the stack adds them and nowhere else:

- per call: ``call`` (kernel launch + synchronisation) plus the protocol's ``base[p]`` plus a local pass over the rank's own shard
  (``size / n / buffer_bandwidth``: the copy of its block between the user buffer and the output / staging
  buffer that the ring does not overlap with the links; it is a third of a 2-rank all-reduce and an eighth
  of an 8-rank one, which is why 2- and 4-GPU groups reach a lower busbw than 8 on the same links);
- per bulk-synchronous step of the schedule: the protocol's step latency ``step[p]`` (the step starts
  that much later: NCCL's per-hop protocol latency);
- per flow: it moves at ``bandwidth[p] x efficiency(algorithm)`` of what the engine's max-min sharing
  gives it, modelled by dividing its bytes by that fraction before the engine runs (for LL and LL128 the
  extra bytes are literally on the wire: flags; for Simple it stands for the SM copy engine falling short
  of the link). Contention between concurrent groups therefore still comes from the engine.

The protocol of an (algorithm, size) follows the rule of NCCL's tuner, the least predicted time, on this
model's own prediction ``nsteps x step[p] + bound x inflation[p]`` (not NCCL's constants, which choose
differently: :mod:`collectives.nccl_tuner`), with ``bound`` the schedule's alpha-beta time; since each
protocol's prediction is a line in ``bound`` whose slope falls as its intercept rises, the choice is
monotone in size (LL, then LL128, then Simple). ``inr`` (NVLS) runs Simple only, as in NCCL.

NCCL's grouped point-to-point (all-to-all, send/recv) under a ``comm.p2p`` block runs outside that model, as
NCCL's enqueue.cc does: per call ``call + base_p + (n - 1) peer``, LL by NCCL's threshold rule (16 KiB per
peer), each peer's bytes over :func:`p2p_channels` channels that move at most ``channel_bandwidth`` each (a
floor under the engine's time), plus the fill of the chunk pipeline; the self copy concurrent (no buffer
pass). See docs/collectives.md, "All-to-all as NCCL runs it".

``ideal=True`` bypasses all of it: the physics of the engine alone, bit for bit what it was before the model.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from topo import Fabric
from topo.specs import CommSpec

from .algorithms.registry import REGISTRY

#: collectives NCCL runs as grouped point-to-point send/recv: LL or Simple (no LL128), LL only while a
#: peer's message is at most P2P_LL_THRESHOLD bytes (NCCL_P2P_LL_THRESHOLD, default 16384: NCCL's
#: environment-variable documentation)
P2P = frozenset({"all_to_all", "send_recv"})
P2P_LL_THRESHOLD = 16384.0


def peer_bytes(collective: str, size: float, n: int) -> float:
    """Bytes one rank sends one peer in a point-to-point collective (all-to-all: size / n)."""
    return size / np.maximum(n, 1) if collective == "all_to_all" else size


#: NCCL's point-to-point constants on one NVLink node, not fitted: ``chunk`` = NCCL_P2P_NVL_CHUNKSIZE's default
#: (512 KiB, init.cc); ``channels`` = p2pnChannels = pow2Up(comm->nChannels), comm->nChannels = twice the
#: ring search's channels (connect.cc ncclTopoPostset): 2 x 12 on H100 / H200, 2 x 16 on B200 / GB200
#: (:func:`collectives.nccl_tuner.graphs`) -> 32; p2pnChannelsPerPeer = min(p2pnChannels, pow2Up(2 x 18
#: NVLinks)) = 32 too (paths.cc ncclTopoComputeP2pChannels)
P2P_DEFAULTS = {"channels": 32, "chunk": 512.0 * 1024}
P2P_DEFAULTS_SOURCE = ("source: NCCL v2.29.2-1 src/init.cc (NCCL_P2P_NVL_CHUNKSIZE 512 KiB), src/graph/paths.cc "
                       "(ncclTopoComputeP2pChannels), src/graph/connect.cc (channel duplication), src/enqueue.cc "
                       "(scheduleP2pTasksToPlan, addP2pToPlan)")


def p2p_channels(peer: float, n: int, channels: int, chunk: float) -> int:
    """Channels NCCL gives one peer's ``peer`` bytes in a grouped send/recv of ``n`` ranks (one NVLink node).

    NCCL's enqueue.cc (scheduleP2pTasksToPlan, addP2pToPlan): a peer may use up to ``channels``
    (p2pnChannelsPerPeer), at least ``nChannelsMin`` = ``channels`` halved until ``nChannelsMin x n <=
    channels`` (p2pnChannels: every peer of the group at once); ``min(nChannelsMin, ceil(peer / (chunk / 8)))``
    channels, doubled while a channel's part exceeds ``32 x chunk``. Non-decreasing in ``peer``.
    """
    mx = max(int(channels), 1)
    mn = mx
    while mn * n > mx and mn > 1:
        mn //= 2
    min_part, max_part = chunk / 8.0, chunk * 32.0
    k = int(min(mn, max(1.0, np.ceil(peer / min_part))))
    part = max(min_part, np.ceil(peer / k))
    while part > max_part and k <= mx // 2:
        k *= 2
        part = np.ceil(peer / k)
    return k


def allowed(collective: str, protocol: str, size: float, n: int) -> bool:
    """Whether ``protocol`` may carry ``collective`` at this size (NCCL's point-to-point rule)."""
    if collective not in P2P:
        return True
    if protocol == "ll128":
        return False
    return protocol != "ll" or peer_bytes(collective, size, n) <= P2P_LL_THRESHOLD

#: What a fabric without a ``comm:`` block gets (hand-built Python fabrics, user YAML without the key):
#: ASSUMPTION: preset ``assumed`` = the NCCL 2.29 costs fitted on 8x H100 SXM (the closest measured stack)
#: on the fabric's own link efficiency. Pass ``ideal=True`` for the physics alone.
GENERIC_NAME = "assumed"


def generic() -> CommSpec:
    """The documented default for fabrics without a ``comm:`` block (see :data:`GENERIC_NAME`)."""
    from topo.presets import COMM

    spec = COMM.get(GENERIC_NAME)
    if spec is None:  # pragma: no cover - the preset ships with topo
        return CommSpec(name="generic")
    return spec


def check_names(spec: CommSpec) -> None:
    """Raise a :class:`topo.SpecError` when ``spec`` names a collective or an algorithm that is not registered
    (``algorithms: {all_reduce: {rnig: 1}}``, ``custom: {oneshott: ...}``): topo cannot check them (it does not
    know the registry), and an unknown name matched nothing, so ``auto`` silently ran every algorithm."""
    from topo import SpecError

    from .algorithms.registry import COLLECTIVES

    def names(coll: str) -> list[str]:
        return [a for (c, a) in REGISTRY if c == coll]

    for coll, algs in spec.algorithms:
        if coll not in COLLECTIVES:
            raise SpecError(f"comm {spec.name!r}: algorithms: unknown collective {coll!r}; valid: "
                            f"{', '.join(COLLECTIVES)}")
        for a, _ in algs:
            if a != "*" and (coll, a) not in REGISTRY:
                raise SpecError(f"comm {spec.name!r}: algorithms.{coll}: unknown algorithm {a!r}; valid: "
                                f"{', '.join(names(coll))} or '*' (any)")
    for a, _ in spec.custom:
        if ("all_reduce", a) not in REGISTRY:
            raise SpecError(f"comm {spec.name!r}: custom: unknown all-reduce algorithm {a!r}; valid: "
                            f"{', '.join(names('all_reduce'))}")


def resolve(fab: Fabric, ideal: bool = False) -> CommSpec | None:
    """The communication spec a run on ``fab`` uses: None when ``ideal``, else ``fab.comm`` or :func:`generic`.

    Raises:
        topo.SpecError: the spec names a collective or algorithm that is not registered (:func:`check_names`)."""
    if ideal:
        return None
    spec = getattr(fab, "comm", None)
    if spec is None:
        return generic()
    if not isinstance(spec, CommSpec):  # a preset name or a mapping set on the fabric in Python
        from topo.loader import parse_comm

        spec = parse_comm(spec)
    check_names(spec)  # a few names: microseconds
    return spec


_VIEWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def view(fab: Fabric, comm: CommSpec | None) -> Fabric:
    """The fabric a calibrated run sees: link capacity = line rate x ``comm.link_efficiency`` (the fabric
    itself when ``comm`` is None or keeps the fabric's efficiency). Cached per fabric."""
    if comm is None or comm.link_efficiency is None:
        return fab
    per = _VIEWS.setdefault(fab, {})
    v = per.get(comm.link_efficiency)
    if v is None:
        v = copy.copy(fab)  # shares graph, routers and arrays; only capacities differ
        v.edge_efficiency = np.full(fab.n_edges, float(comm.link_efficiency))
        v.edge_capacity = fab.edge_bandwidth * comm.link_efficiency
        per[comm.link_efficiency] = v
    return v


def comm_of(fab: Fabric) -> CommSpec:
    """The communication spec collectives on ``fab`` use by default (its ``comm:`` or :func:`generic`)."""
    spec = resolve(fab, False)
    assert spec is not None
    return spec


@dataclass(frozen=True)
class Cost:
    """The software costs of one (algorithm, protocol) on one call.

    Attributes:
        protocol: ``"ll"``, ``"ll128"``, ``"simple"`` or ``"custom"`` (an algorithm with its own costs).
        inflation: bytes the engine moves per payload byte (1 / (protocol bandwidth x algorithm efficiency)).
        call: seconds per call. step: seconds added to each bulk-synchronous step.
        buffer_bandwidth: bytes/s of the per-call pass over the rank's shard, size / n (inf = none).
        channel_rate: bytes/s one channel moves a peer's part with this protocol (NCCL's grouped
            point-to-point; inf = no channel limit: every other collective). channels, chunk, fill: NCCL's
            p2pnChannels, its chunk size (bytes) and the fraction of a chunk's channel time the chunk pipeline
            adds (see :meth:`pace`). collective: what the cost is for (the peer's bytes follow from it).
        peer_cost: seconds per call per peer (n - 1 of them: NCCL's per-peer work in a grouped send/recv; a
            custom all-reduce's flag barrier).
    """

    protocol: str
    inflation: float
    call: float
    step: float
    buffer_bandwidth: float = float("inf")
    channel_rate: float = float("inf")
    channels: int = 0
    chunk: float = 0.0
    fill: float = 0.0
    collective: str = ""
    peer_cost: float = 0.0

    def once(self, size: float, n: int) -> float:
        """Seconds the call adds once: call (+ peer_cost per peer) + the pass over the rank's shard (size / n
        bytes)."""
        return self.call + self.peer_cost * max(n - 1, 0) + size / max(n, 1) / self.buffer_bandwidth

    def fixed(self, size: float, n: int, n_steps: int) -> float:
        """Seconds the call adds outside the engine: :meth:`once` + n_steps x step."""
        return self.once(size, n) + n_steps * self.step

    def pace(self, size: float, n: int, ops: int | None = None) -> tuple[float, float]:
        """(floor, fill) of one step of NCCL's grouped point-to-point, s; (0, 0) for every other cost.

        Each peer's bytes are split over :func:`p2p_channels` channels; a channel moves its part at
        ``channel_rate`` (SM-driven copies: what bounds a peer with few channels), so the step's data takes
        at least ``floor`` = part / channel_rate whatever the links allow, times the parts a channel carries
        one after the other when the step's ``ops`` operations (default n: the grouped call's n - 1 peers and
        the self copy; a pairwise step holds one peer, :func:`step_ops`) hold more parts than there are
        channels (NCCL maps the rounds' parts onto ``channels`` channels: large groups, or parts doubled past
        32 chunks); its chunks of ``chunk`` bytes are pipelined through the connection's buffer, which adds
        ``fill`` x min(part, chunk) / channel_rate before the last chunk lands."""
        if not np.isfinite(self.channel_rate):
            return 0.0, 0.0
        peer = float(peer_bytes(self.collective, size, n))
        k = p2p_channels(peer, n, self.channels, self.chunk)
        part = peer / k
        share = -(-max(n if ops is None else ops, 1) * k // max(self.channels, 1))
        return share * part / self.channel_rate, self.fill * min(part, self.chunk) / self.channel_rate

    def data_time(self, engine: float, size: float, n: int, n_steps: int = 1,
                  ops: Sequence[int] | None = None) -> float:
        """Seconds the data of a call takes given the engine's time for its (inflated) flows: the engine's
        time, or the channels' pace where that is slower (NCCL's point-to-point), plus the pipeline fill.
        ``ops``: the operations of each of the ``n_steps`` steps (:func:`step_ops`; default n in every one)."""
        if not np.isfinite(self.channel_rate):
            return engine
        floor, fill = self.pace(size, n)
        total = n_steps * floor if ops is None else sum(self.pace(size, n, o)[0] for o in ops)
        return max(engine, total) + n_steps * fill

    def estimate(self, size: float, n: int, n_steps: int, bound: float,
                 ops: Sequence[int] | None = None) -> float:
        """The tuner's prediction: fixed costs plus the alpha-beta bound stretched by the inflation (or the
        point-to-point channels' pace where slower), s."""
        return self.fixed(size, n, n_steps) + self.data_time(bound * self.inflation, size, n, n_steps, ops)


def step_ops(schedule) -> list[int]:
    """Point-to-point operations one rank holds in each bulk-synchronous step of ``schedule`` (a
    :class:`collectives.schedule.Schedule`): its flows in the step (the most of any rank; one per peer in the
    point-to-point schedules) plus the self copy, at most n. The grouped call (``direct``) holds all n; a
    ``pairwise`` step one peer (+ 1)."""
    n = int(schedule.n)
    steps = schedule.steps()
    if len(steps) <= 1:  # one grouped call (direct, send/recv): its n operations, without a pass over its flows
        return [n] * len(steps)
    out = []
    for src, *_ in steps:
        src = np.asarray(src, dtype=np.int64)
        out.append(min(n, int(np.bincount(src).max()) + 1) if src.size else 1)
    return out


def algorithm_set(comm: CommSpec | None, collective: str) -> list[str] | None:
    """Algorithms ``auto`` may pick under ``comm`` (None = every registered one)."""
    if comm is None:
        return None
    algs = comm.algorithms_of(collective)
    return None if algs is None or "*" in algs else list(algs)


def costs(comm: CommSpec, collective: str, algorithm: str) -> list[Cost]:
    """Every protocol variant of ``algorithm`` under ``comm``."""
    cust = comm.custom_of(algorithm) if collective == "all_reduce" else None
    if cust is not None:
        # a custom kernel's flag barrier signals and waits on each of the n - 1 peers: ``peer`` s each
        return [Cost("custom", 1.0 / float(cust.get("efficiency", 1.0)), float(cust.get("call", comm.call)),
                     float(cust.get("step", 0.0)), peer_cost=float(cust.get("peer", 0.0)))]
    algs = comm.algorithms_of(collective)
    eff = 1.0
    if algs:
        # an algorithm the library does not run, asked for by name, moves its bytes at the least efficient fitted
        # one (ASSUMPTION: no measurement says better; it ran at 1.0, ahead of NCCL's fitted ring at 0.91)
        eff = float(algs.get(algorithm, algs.get("*", min(algs.values()))))
    protos = comm.protocols
    record = REGISTRY.get((collective, algorithm))
    if record is not None and record.in_network and "simple" in protos:
        protos = ("simple",)  # NCCL runs NVLS (in-network reduction) with the Simple protocol only
    if collective in P2P and len(protos) > 1:
        protos = tuple(p for p in protos if p != "ll128") or protos
    p2p = comm.p2p_of() if collective in P2P else None
    if p2p is not None:
        # NCCL's grouped send/recv: its own per-call cost per protocol and per peer (no ring steps), the self
        # copy concurrent with the peers (no serial buffer pass), each peer paced by its channels
        protos = tuple(p for p in ("ll", "simple") if p in protos or p == "simple")
        return [Cost(p, 1.0 / (comm.bandwidth_of(p) * eff), comm.call + float(p2p[f"base_{p}"]), 0.0,
                     channel_rate=float(p2p["channel_bandwidth"]) * comm.bandwidth_of(p),
                     channels=int(p2p["channels"]), chunk=float(p2p["chunk"]), fill=float(p2p["fill"]),
                     collective=collective, peer_cost=float(p2p["peer"])) for p in protos]
    return [Cost(p, 1.0 / (comm.bandwidth_of(p) * eff), comm.call + comm.base_of(p), comm.step_of(p),
                 comm.buffer_bandwidth) for p in protos]


def applies(comm: CommSpec, collective: str, algorithm: str, n: int, size: float) -> str | None:
    """Why a custom algorithm does not apply (too many ranks, too large), or None if it does."""
    cust = comm.custom_of(algorithm) if collective == "all_reduce" else None
    if cust is None:
        return None
    if "max_ranks" in cust and n > cust["max_ranks"]:
        return f"{algorithm}: the custom all-reduce runs on at most {int(cust['max_ranks'])} ranks"
    if "max_size" in cust and size > cust["max_size"]:
        return f"{algorithm}: the custom all-reduce takes at most {cust['max_size']:.6g} bytes"
    return None


def choose(comm: CommSpec, collective: str, algorithm: str, size: float, n: int, n_steps: int,
           bound: float) -> Cost:
    """The protocol variant with the least predicted time of this model (NCCL's tuner's rule, not its
    constants; ties: the earlier protocol)."""
    cands = costs(comm, collective, algorithm)
    ok = [c for c in cands if c.protocol == "custom" or allowed(collective, c.protocol, size, n)] or cands
    if collective in P2P and comm.p2p_of() is not None:
        # NCCL's addP2pToPlan: LL whenever the peer's bytes are within the LL threshold, else Simple (a
        # rule on size, not a least-time choice; monotone in size)
        return next((c for c in ok if c.protocol == "ll"), ok[-1])
    return min(ok, key=lambda c: c.estimate(size, n, n_steps, bound))
