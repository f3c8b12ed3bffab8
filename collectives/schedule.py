"""Schedules: what an algorithm compiles to, and the two ways the engine runs one.

A :class:`Schedule` is a list of *segments* run one after the other; a segment is a list of
:class:`Phase` objects; a phase is a set of flows (node-index arrays ``src``, ``dst`` and a byte ``size``)
that one logical step of the algorithm sends, possibly for many groups at once (a batch of rows).

Two execution modes (see docs/collectives.md):

- **exact** (:meth:`Schedule.flow_arrays`): every flow becomes one engine flow with per-rank dependencies.
  Each phase belongs to a *stream* ``(chain, chunk)`` of its segment. A flow from rank ``s`` to rank
  ``d`` waits for the arrival of every flow ``s`` took part in (sent or received) in that stream since
  ``s``'s latest send in the stream (a rank runs its program in order: post the sends of a step, wait for
  them and for the receives of the step), and likewise for ``d`` (rendezvous: the receiver's buffer for
  this step is free only once it finished its previous step, as with NCCL's per-step credits). With pipelining, chunk ``j`` of a stage also waits for the delivery of ``s``'s
  own chunk ``j-1`` of the same stage (a rank sends its chunks in order). Ring step k of rank r thus waits
  for step k-1 from rank r-1 and for the delivery of its own step k-1: no global barrier. Segments join:
  the first flow of a rank in a segment waits for everything that rank did in the previous segment.
- **steps** (:meth:`Schedule.steps`): bulk-synchronous. The phases of a segment are laid out in *slots*
  (``slot = stage + chunk``: the pipeline diagonal); every slot is one ``traffic.Step`` whose flows start
  together; slots run back to back. Each phase carries a template ``key``: two phases with equal keys
  send the same pattern (e.g. ring step k is step 0 with other data), so the engine solves one and
  reuses its duration. This is the mode for 6,144-rank schedules.

On a uniform fabric (every rank's flows see the same path bandwidth and latency) both modes give the
same time; they can differ where ranks progress unevenly (exact mode lets fast ranks run ahead).

Symbolic contents: with ``symbolic=True`` compilers attach to each phase the ids of the data blocks each
flow carries and whether the receiver reduces (sums) or stores them; :func:`verify` replays a schedule
on those labels and checks every rank ends with what the collective promises.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topo import ScheduleError


@dataclass(eq=False)
class Phase:
    """One logical step's flows.

    Attributes:
        src, dst: int64 node-index arrays (chip rank == node index; switches allowed for in-network
            reduction).
        size: float64 array or scalar, bytes per flow.
        key: template id (hashable) or None; equal keys inside one schedule promise equal duration.
        chain, chunk, stage: the phase's stream is ``(chain, chunk)``; ``stage`` is its logical step
            within the chunk's pipeline; its bulk-synchronous slot is ``stage + chunk`` unless ``slot``
            is set.
        reduce: whether receivers reduce (sum) what they receive (True) or store it (False).
        blocks: symbolic mode only: int array (n_flows, q) of the global block ids each flow carries.
        compute: bytes each receiving rank reduces after this phase (for the optional reduction cost).
    """

    src: np.ndarray
    dst: np.ndarray
    size: Any
    key: Hashable | None = None
    chain: int = 0
    chunk: int = 0
    stage: int = 0
    reduce: bool = False
    blocks: np.ndarray | None = None
    compute: float = 0.0
    slot: int | None = None

    def __post_init__(self) -> None:
        self.src = np.asarray(self.src, dtype=np.int64)
        self.dst = np.asarray(self.dst, dtype=np.int64)
        if self.slot is None:
            self.slot = self.stage + self.chunk

    @property
    def n_flows(self) -> int:
        return len(self.src)

    def sizes(self) -> np.ndarray:
        """Bytes per flow as an array."""
        s = np.asarray(self.size, dtype=np.float64)
        return np.broadcast_to(s, self.src.shape) if s.ndim == 0 else s


def _slot_sizes(slot: list[tuple[int, Phase]]) -> np.ndarray:
    """The per-flow bytes of a slot's phases, concatenated: a phase of one size repeats it over its flows (the
    values ``np.concatenate`` of the phases' :meth:`Phase.sizes` gives, without a broadcast array per phase: a
    64-chunk tree's slot holds up to 64 phases, and auto compiles such candidates at every size)."""
    sizes = [p.size for _, p in slot]
    if all(isinstance(z, (float, int)) and not isinstance(z, bool) for z in sizes):
        return np.repeat(np.array(sizes, dtype=np.float64), [len(p.src) for _, p in slot])
    return np.concatenate([p.sizes() for _, p in slot])


@dataclass(eq=False)
class Schedule:
    """A compiled collective.

    Attributes:
        collective: ``"all_reduce"``, ``"all_gather"``, ...
        algorithm: registry name, e.g. ``"ring"``.
        group: int64 node indices of the ranks, in rank order (one group; batched internal
            compilations keep a (rows, m) matrix in ``rows``).
        size: bytes, nccl-tests convention (see :mod:`collectives.api`).
        segments: list of lists of :class:`Phase`, run in order.
        n_blocks: number of equal data blocks the symbolic labels use (0 if not symbolic).
        root: rank position of the root for broadcast/reduce (else None).
        params: algorithm options used (chunks, ...).
    """

    collective: str
    algorithm: str
    group: np.ndarray
    size: float
    segments: list[list[Phase]]
    n_blocks: int = 0
    root: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    rows: np.ndarray | None = None
    _sig: Hashable | None = None
    _steps: list | None = None

    # ------------------------------------------------------------------ sizes
    @property
    def n(self) -> int:
        return len(self.group)

    @property
    def phases(self) -> list[Phase]:
        return [p for seg in self.segments for p in seg]

    @property
    def n_flows(self) -> int:
        return sum(p.n_flows for seg in self.segments for p in seg)

    @property
    def total_bytes(self) -> float:
        """Bytes sent by all flows (for conservation checks)."""
        return float(sum(p.sizes().sum() for seg in self.segments for p in seg))

    @property
    def signature(self) -> Hashable:
        """Hashable id of this schedule's structure, used to make step keys unique across schedules."""
        if self._sig is None:
            rows = self.rows if self.rows is not None else self.group[None, :]
            self._sig = (
                self.collective,
                self.algorithm,
                float(self.size),
                tuple(sorted(self.params.items(), key=lambda kv: kv[0])),
                rows.shape,
                hash(np.ascontiguousarray(rows).tobytes()),
            )
        return self._sig

    # ------------------------------------------------------------------ step mode
    def slot_layout(self) -> list[list[tuple[int, Phase]]]:
        """Phases per global bulk-synchronous slot: list over slots of (segment index, phase)."""
        out: list[list[tuple[int, Phase]]] = []
        for si, seg in enumerate(self.segments):
            if not seg:
                continue
            n_slots = max(p.slot for p in seg) + 1
            base = len(out)
            out.extend([] for _ in range(n_slots))
            for p in seg:
                out[base + p.slot].append((si, p))
        return [s for s in out if s]

    def steps(self) -> list[tuple[np.ndarray, np.ndarray, Any, Hashable | None, float]]:
        """Bulk-synchronous steps: list of (src, dst, size, key, compute_bytes). Cached.

        ``key`` is ``(signature, ((segment, phase key), ...))`` when every phase of the slot has a key,
        else None (phase keys are promises inside one segment, so the segment index is part of the key).
        Steps with equal keys share the very same arrays (the engine then skips even the comparison).
        ``compute_bytes`` is the largest number of bytes a rank reduces after the step.
        """
        if self._steps is not None:
            return self._steps
        sig = self.signature
        out = []
        canon: dict = {}
        for slot in self.slot_layout():
            keys = [(si, p.key) for si, p in slot]
            key = None if any(k[1] is None for k in keys) else (sig, tuple(keys))
            comp = max((p.compute for _, p in slot), default=0.0)
            hit = canon.get(key) if key is not None else None
            if hit is not None:
                out.append((hit[0], hit[1], hit[2], key, comp))
                continue
            if len(slot) == 1:
                p = slot[0][1]
                src, dst, size = p.src, p.dst, p.size
            else:
                src = np.concatenate([p.src for _, p in slot])
                dst = np.concatenate([p.dst for _, p in slot])
                size = _slot_sizes(slot)
            if key is not None:
                canon[key] = (src, dst, size)
            out.append((src, dst, size, key, comp))
        self._steps = out
        return out

    # ------------------------------------------------------------------ exact mode
    def flow_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """All flows with per-rank dependencies: (src, dst, size, dep_ptr, dep_idx) (deps as CSR).

        See the module docstring for the dependency rule. The dependencies depend only on the phases' streams
        and on which flows share an endpoint, so they are memoised on that shape (:func:`_dep_key`): the
        concurrent groups of one collective (96 groups of 64 on a 6,144-chip fabric) are one shape under
        different node ids, and their dependencies are built once.
        """
        phases = [p for seg in self.segments for p in seg]
        if not phases:
            z = np.zeros(0, dtype=np.int64)
            return z, z.copy(), np.zeros(0), np.zeros(1, dtype=np.int64), z.copy()
        src = np.concatenate([p.src for p in phases])
        dst = np.concatenate([p.dst for p in phases])
        size = np.concatenate([p.sizes() for p in phases])
        key = _dep_key(self.segments, src, dst)
        deps = _DEP_CACHE.pop(key, None)
        if deps is None:
            deps = self._dependencies()
        _DEP_CACHE[key] = deps  # most recent last; the oldest go beyond the entry or byte cap (the newest stays)
        while len(_DEP_CACHE) > 1 and (len(_DEP_CACHE) > _DEP_CACHE_SIZE or
                                       sum(p.nbytes + i.nbytes for p, i in _DEP_CACHE.values()) > _DEP_CACHE_BYTES):
            _DEP_CACHE.pop(next(iter(_DEP_CACHE)))
        return src, dst, size, deps[0], deps[1]

    def _dependencies(self) -> tuple[np.ndarray, np.ndarray]:
        """The per-rank dependency rule of :meth:`flow_arrays`, as CSR (dep_ptr, dep_idx) over the flows in
        phase order."""
        dep_lists: list[list[int]] = []
        base: dict[int, list[int]] = {}  # rank -> flows of its latest activity before this segment
        offset = 0
        for seg in self.segments:
            # streams of this segment, in phase order (phases are listed in a valid order)
            cur: dict[tuple[int, int], dict[int, list[int]]] = {}
            sent_in: dict[tuple[int, int, int], dict[int, list[int]]] = {}  # (chain, chunk, stage)
            touched: dict[int, list[int]] = {}
            for p in seg:
                stream = (p.chain, p.chunk)
                st = cur.setdefault(stream, {})
                src = p.src.tolist()
                dst = p.dst.tolist()
                n = len(src)
                ids = list(range(offset, offset + n))
                prev_chunk = sent_in.get((p.chain, p.chunk - 1, p.stage)) if p.chunk > 0 else None
                for s, t in zip(src, dst):
                    d = st.get(s)
                    if d is None:
                        d = base.get(s, [])
                    e = st.get(t)
                    if e is None:
                        e = base.get(t, [])
                    if e:
                        d = sorted(set(d).union(e)) if d else e
                    if prev_chunk is not None:
                        extra = prev_chunk.get(s)
                        if extra:
                            d = d + extra
                    dep_lists.append(d)
                # update stream state: senders restart from this phase, receivers accumulate
                my_sends: dict[int, list[int]] = {}
                inc: dict[int, list[int]] = {}
                for i, (s, t) in enumerate(zip(src, dst)):
                    f = ids[i]
                    my_sends.setdefault(s, []).append(f)
                    inc.setdefault(s, []).append(f)
                    inc.setdefault(t, []).append(f)
                for r, fl in inc.items():
                    if r in my_sends:
                        st[r] = fl
                    else:
                        prev = st.get(r)
                        if prev is None:
                            prev = base.get(r, [])
                        st[r] = prev + fl
                    touched.setdefault(r, [])
                sent_in[(p.chain, p.chunk, p.stage)] = my_sends
                offset += n
            # join the streams for the next segment
            new_base = dict(base)
            for r in touched:
                acc: list[int] = []
                for st in cur.values():
                    fl = st.get(r)
                    if fl is not None:
                        acc.extend(fl)
                new_base[r] = sorted(set(acc))
            base = new_base
        ptr = np.zeros(len(dep_lists) + 1, dtype=np.int64)
        ptr[1:] = np.cumsum([len(d) for d in dep_lists])
        idx = np.fromiter((f for d in dep_lists for f in d), dtype=np.int64, count=int(ptr[-1]))
        ptr.flags.writeable = False  # shared by every schedule of the same shape
        idx.flags.writeable = False
        return ptr, idx


#: memoised dependencies of :meth:`Schedule.flow_arrays`, by :func:`_dep_key` (least recently used first)
_DEP_CACHE: dict[Hashable, tuple[np.ndarray, np.ndarray]] = {}
_DEP_CACHE_SIZE = 32
_DEP_CACHE_BYTES = 256 * 2**20


def _dep_key(segments: list[list[Phase]], src: np.ndarray, dst: np.ndarray) -> Hashable:
    """What the dependency rule of :meth:`Schedule.flow_arrays` reads: each segment's phases in order with their
    stream (chain, chunk), stage and flow count, and the endpoints up to renaming (each node id replaced by the
    order of its first appearance in ``src + dst``), hashed."""
    import hashlib

    ends = np.concatenate([src, dst])
    _, first, inv = np.unique(ends, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    canon = rank[inv.reshape(-1)]
    shape = tuple(tuple((p.chain, p.chunk, p.stage, p.n_flows) for p in seg) for seg in segments)
    return shape, len(ends), hashlib.blake2b(canon.tobytes(), digest_size=16).digest()


# ---------------------------------------------------------------------- symbolic verification
def verify(schedule: Schedule, n_nodes: int | None = None) -> None:
    """Replay a symbolic schedule and check its result; raise :class:`ScheduleError` on any fault.

    State: for each node and block, the bitmask of ranks whose input it sums (0 = not held). Flows of a
    slot read the state at the start of the slot (snapshot), so simultaneous exchanges are modelled.
    Checks: a sender holds every block it sends; a reduction never adds a rank twice; flow sizes equal
    their block count x block size; the final state is what the collective promises. Ranks <= 64.
    """
    s = schedule
    if s.n_blocks <= 0:
        raise ScheduleError(f"schedule {s.algorithm!r}: compiled without symbolic labels (symbolic=True)")
    n = s.n
    if n > 64:
        raise ScheduleError("verify: at most 64 ranks (uint64 bitmasks)")
    group = s.group
    nn = int(max(int(group.max()) + 1, n_nodes or 0))
    for seg in s.segments:
        for p in seg:
            if p.n_flows:
                nn = max(nn, int(p.src.max()) + 1, int(p.dst.max()) + 1)
    nb = s.n_blocks
    bs = s.size / nb if s.collective not in ("all_to_all",) else s.size / nb * 1.0
    bit = np.zeros(nn, dtype=np.uint64)
    pos_of = {int(g): i for i, g in enumerate(group)}
    for i, g in enumerate(group):
        bit[g] = np.uint64(1) << np.uint64(i)
    state = np.zeros((nn, nb), dtype=np.uint64)
    c = s.collective
    if c in ("all_reduce", "reduce_scatter", "reduce"):
        state[group, :] = bit[group][:, None]
    elif c == "all_gather":
        k = nb // n
        for i, g in enumerate(group):
            state[g, i * k:(i + 1) * k] = bit[g]
    elif c == "broadcast":
        state[group[s.root], :] = bit[group[s.root]]
    elif c == "all_to_all":
        k = nb // (n * n)
        for i, g in enumerate(group):
            state[g, i * n * k:(i + 1) * n * k] = bit[g]
    elif c == "send_recv":
        state[group[0], :] = bit[group[0]]
    else:
        raise ScheduleError(f"verify: unknown collective {c!r}")
    # per-flow block size: all_to_all uses size/n per destination => blocks of size/(n*k) ... handled by
    # the generic rule: block size = (bytes a rank holds at the start) / (blocks it holds at the start)
    if c == "all_gather":
        bs = s.size / nb
    elif c == "all_to_all":
        bs = s.size / (nb / n)
    for slot in s.slot_layout():
        snap = state.copy()
        for _, p in slot:
            if p.n_flows == 0:  # an empty phase (e.g. multirail's tray stages on a 1-rank group) moves nothing
                continue
            if p.blocks is None:
                raise ScheduleError(f"phase of {s.algorithm!r} has no block labels")
            blk = np.asarray(p.blocks, dtype=np.int64).reshape(p.n_flows, -1)
            size = p.sizes()
            want = blk.shape[1] * bs
            if not np.allclose(size, want, rtol=1e-12, atol=0):
                raise ScheduleError(
                    f"{s.algorithm}: flow sizes {np.unique(size)[:3]} differ from their blocks x block size {want}"
                )
            for f in range(p.n_flows):
                a, b = int(p.src[f]), int(p.dst[f])
                vals = snap[a, blk[f]]
                if np.any(vals == 0):
                    raise ScheduleError(f"{s.algorithm}: node {a} sends blocks it does not hold")
                if p.reduce:
                    if np.any(state[b, blk[f]] & vals):
                        raise ScheduleError(f"{s.algorithm}: node {b} would count a rank twice")
                    state[b, blk[f]] |= vals
                else:
                    state[b, blk[f]] = vals
    full = np.uint64(0)
    for g in group:
        full |= bit[g]
    ok = True
    if c == "all_reduce":
        ok = bool(np.all(state[group, :] == full))
    elif c == "reduce":
        ok = bool(np.all(state[group[s.root], :] == full))
    elif c == "broadcast":
        ok = bool(np.all(state[group, :] == bit[group[s.root]]))
    elif c == "all_gather":
        k = nb // n
        expect = np.repeat(bit[group], k)
        ok = bool(np.all(state[group, :] == expect[None, :]))
    elif c == "reduce_scatter":
        k = nb // n
        for i, g in enumerate(group):
            if not np.all(state[g, i * k:(i + 1) * k] == full):
                ok = False
    elif c == "all_to_all":
        k = nb // (n * n)
        for j, g in enumerate(group):
            for i in range(n):
                b0 = (i * n + j) * k
                if not np.all(state[g, b0:b0 + k] == bit[group[i]]):
                    ok = False
    elif c == "send_recv":
        ok = bool(np.all(state[group[1], :] == bit[group[0]]))
    if not ok:
        raise ScheduleError(f"{s.algorithm} {c}: some rank does not end with the expected data")
    del pos_of
