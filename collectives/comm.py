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

``ideal=True`` bypasses all of it: the physics of the engine alone, bit for bit what it was before the model.
"""

from __future__ import annotations

import copy
import weakref
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


def resolve(fab: Fabric, ideal: bool = False) -> CommSpec | None:
    """The communication spec a run on ``fab`` uses: None when ``ideal``, else ``fab.comm`` or :func:`generic`."""
    if ideal:
        return None
    spec = getattr(fab, "comm", None)
    if spec is None:
        return generic()
    if not isinstance(spec, CommSpec):  # a preset name or a mapping set on the fabric in Python
        from topo.loader import parse_comm

        spec = parse_comm(spec)
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
    """

    protocol: str
    inflation: float
    call: float
    step: float
    buffer_bandwidth: float = float("inf")

    def once(self, size: float, n: int) -> float:
        """Seconds the call adds once: call + the pass over the rank's shard (size / n bytes)."""
        return self.call + size / max(n, 1) / self.buffer_bandwidth

    def fixed(self, size: float, n: int, n_steps: int) -> float:
        """Seconds the call adds outside the engine: :meth:`once` + n_steps x step."""
        return self.once(size, n) + n_steps * self.step

    def estimate(self, size: float, n: int, n_steps: int, bound: float) -> float:
        """The tuner's prediction: fixed costs plus the alpha-beta bound stretched by the inflation, s."""
        return self.fixed(size, n, n_steps) + bound * self.inflation


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
        return [Cost("custom", 1.0 / float(cust.get("efficiency", 1.0)), float(cust.get("call", comm.call)),
                     float(cust.get("step", 0.0)))]
    algs = comm.algorithms_of(collective)
    eff = float(algs.get(algorithm, algs.get("*", 1.0))) if algs else 1.0
    protos = comm.protocols
    record = REGISTRY.get((collective, algorithm))
    if record is not None and record.in_network and "simple" in protos:
        protos = ("simple",)  # NCCL runs NVLS (in-network reduction) with the Simple protocol only
    if collective in P2P and len(protos) > 1:
        protos = tuple(p for p in protos if p != "ll128") or protos
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
    return min(ok, key=lambda c: c.estimate(size, n, n_steps, bound))
