"""Alpha-beta closed forms of every algorithm (read from the registry), a lower bound, and the bound of a
compiled schedule.

Notation: ``n`` ranks, ``size`` S bytes (nccl-tests convention: the buffer for all-reduce, the gathered
output for all-gather, the input for reduce-scatter, the per-rank send buffer for all-to-all),
``bandwidth`` B bytes/s (what one flow gets alone on the bottleneck of its path; for the
``direct``/``oneshot``/all-to-all forms, a rank's single port), ``latency`` alpha s (path latency of one
step; one hop for ``inr``), ``chunks`` c. The forms assume every step runs with no contention from other
traffic; the simulation reproduces them exactly on such fabrics (the fabric kind each record names in
``exact_on``; tests/test_collectives_registry.py walks every record, tests/test_collectives.py checks
them one by one on hand-built fabrics).

Each algorithm's closed form lives in its registry record (``collectives.algorithms.REGISTRY[(collective,
name)].closed_form``, written out in the compiler's docstring). The functions here check the arguments
and dispatch to the record.
"""

from __future__ import annotations

import hashlib
import weakref
from typing import TYPE_CHECKING

import numpy as np

from topo import ScheduleError

from .algorithms import REGISTRY, algorithms_for

if TYPE_CHECKING:
    from topo import Fabric

    from .schedule import Schedule

__all__ = [
    "all_gather",
    "all_reduce",
    "all_to_all",
    "broadcast",
    "formula",
    "lower_bound",
    "reduce",
    "reduce_scatter",
    "endpoint_step_bound",
    "schedule_bound",
    "step_bound",
    "send_recv",
]


def _check(n: int, size: float, bandwidth: float, latency: float, chunks: int) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ScheduleError(f"n: must be a positive integer number of ranks, got {n!r}")
    if not size > 0:
        raise ScheduleError(f"size: must be > 0 bytes, got {size!r}")
    if not bandwidth > 0:
        raise ScheduleError(f"bandwidth: must be > 0 bytes/s, got {bandwidth!r}")
    if not latency >= 0:
        raise ScheduleError(f"latency: must be >= 0 s, got {latency!r}")
    if not isinstance(chunks, (int, np.integer)) or chunks < 1:
        raise ScheduleError(f"chunks: must be a positive integer, got {chunks!r}")


def _closed_form(collective: str, algorithm: str, n: int, size: float, bandwidth: float, latency: float,
                 chunks: int = 1, **params) -> float:
    """Check the arguments and evaluate the registry record's closed form, s."""
    _check(n, size, bandwidth, latency, chunks)
    rec = REGISTRY.get((collective, algorithm))
    if rec is None:
        raise ScheduleError(f"bounds.{collective}: no closed form for algorithm {algorithm!r}; valid: "
                            f"{', '.join(algorithms_for(collective))}")
    if n == 1:
        return 0.0
    return float(rec.closed_form(int(n), float(size), float(bandwidth), float(latency), chunks=int(chunks),
                                 **params))


def all_reduce(n: int, size: float, bandwidth: float, latency: float = 0.0, algorithm: str = "ring",
               chunks: int = 1, levels: int = 1, slices: int = 1,
               reduction_bandwidth: float | None = None, **params) -> float:
    """Alpha-beta time of an all-reduce, s (the record's closed form).

    Args:
        n: ranks. size: bytes per rank's buffer. bandwidth: bytes/s. latency: alpha, s per step.
        algorithm: a registered all-reduce (ring, bidir, hd, dbt, direct, oneshot, hier, hier_ml, inr).
        chunks: pipelining chunks (ring, dbt, inr, hier).
        levels, slices: switch levels and data slices of the in-network reduction tree (inr).
        reduction_bandwidth: inr only: bytes/s at which a switch reduces one child's slice stream (per
            attached edge; None = line rate). The L + c - 1 pipeline slots that carry a chunk upwards run
            at min(bandwidth, reduction_bandwidth); the last L slots (down only) at bandwidth.
        **params: other parameters of the closed form (``part_sizes``, ``intra``, ``inter`` of hier).

    Raises:
        ScheduleError: a bad argument, or no such algorithm.
    """
    return _closed_form("all_reduce", algorithm, n, size, bandwidth, latency, chunks, levels=levels,
                        slices=slices, reduction_bandwidth=reduction_bandwidth, **params)


def all_gather(n: int, size: float, bandwidth: float, latency: float = 0.0, algorithm: str = "ring",
               chunks: int = 1, **params) -> float:
    """Alpha-beta time of an all-gather of ``size`` gathered bytes, s."""
    return _closed_form("all_gather", algorithm, n, size, bandwidth, latency, chunks, **params)


def reduce_scatter(n: int, size: float, bandwidth: float, latency: float = 0.0, algorithm: str = "ring",
                   chunks: int = 1, **params) -> float:
    """Alpha-beta time of a reduce-scatter of ``size`` input bytes per rank, s."""
    return _closed_form("reduce_scatter", algorithm, n, size, bandwidth, latency, chunks, **params)


def all_to_all(n: int, size: float, bandwidth: float, latency: float = 0.0, algorithm: str = "direct",
               **params) -> float:
    """Alpha-beta time of an all-to-all of ``size`` bytes per rank (size/n to each peer), s."""
    return _closed_form("all_to_all", algorithm, n, size, bandwidth, latency, **params)


def broadcast(n: int, size: float, bandwidth: float, latency: float = 0.0, algorithm: str = "ring",
              chunks: int = 1, root: int = 0) -> float:
    """Alpha-beta time of a broadcast of ``size`` bytes, s."""
    return _closed_form("broadcast", algorithm, n, size, bandwidth, latency, chunks, root=root)


def reduce(n: int, size: float, bandwidth: float, latency: float = 0.0, algorithm: str = "ring",
           chunks: int = 1, root: int = 0) -> float:
    """Alpha-beta time of a reduce of ``size`` bytes to the root, s."""
    return _closed_form("reduce", algorithm, n, size, bandwidth, latency, chunks, root=root)


def send_recv(size: float, bandwidth: float, latency: float = 0.0) -> float:
    """Alpha-beta time of one transfer, s."""
    return _closed_form("send_recv", "direct", 2, size, bandwidth, latency)


def formula(collective: str, algorithm: str, n: int, size: float, bandwidth: float, latency: float = 0.0,
            **opts) -> float:
    """The closed form of ``collective`` (e.g. ``"all_reduce"``) and ``algorithm``, s.

    ``opts``: the algorithm's options (``chunks``, ``root``, ...) and closed-form parameters.

    Raises:
        ScheduleError: an unknown collective or algorithm, or a bad argument.
    """
    fn = {"all_reduce": all_reduce, "all_gather": all_gather, "reduce_scatter": reduce_scatter,
          "all_to_all": all_to_all, "broadcast": broadcast, "reduce": reduce}.get(collective)
    if collective == "send_recv":
        return send_recv(size, bandwidth, latency)
    if fn is None:
        raise ScheduleError(f"bounds: unknown collective {collective!r}")
    return fn(n, size, bandwidth, latency, algorithm=algorithm, **opts)


def lower_bound(collective: str, n: int, size: float, bandwidth: float, latency: float = 0.0) -> float:
    """A time no algorithm can beat when each rank has ``bandwidth`` bytes/s in and out, s.

    all-reduce: every rank must send and receive 2(n-1)/n S without in-network reduction (Patarasuk and
    Yuan's bound); all-gather, reduce-scatter, all-to-all: (n-1)/n S; broadcast, reduce, send/recv: S;
    plus one ``latency``.
    """
    _check(n, size, bandwidth, latency, 1)
    if n == 1:
        return 0.0
    f = {"all_reduce": 2 * (n - 1) / n, "all_gather": (n - 1) / n, "reduce_scatter": (n - 1) / n,
         "all_to_all": (n - 1) / n, "broadcast": 1.0, "reduce": 1.0, "send_recv": 1.0}.get(collective)
    if f is None:
        raise ScheduleError(f"bounds: unknown collective {collective!r}")
    return f * size / bandwidth + latency


# ---------------------------------------------------------------------- bound of a compiled schedule
#: steps whose ECMP routes have more edge entries than this are bounded by the engine's solo solve
_ROUTE_ENTRIES = 4_000_000


def _direct_edges(fabric):
    """Sorted keys (src * n_nodes + dst) of the direct chip-to-chip edges and their edge ids (cached)."""
    c = getattr(fabric, "_coll_direct", None)
    if c is None:
        nc = fabric.n_chips
        m = (fabric.edge_src < nc) & (fabric.edge_dst < nc)
        e = np.flatnonzero(m)
        key = fabric.edge_src[e] * fabric.n_nodes + fabric.edge_dst[e]
        o = np.argsort(key)
        cap = fabric.edge_capacity
        n = fabric.n_nodes
        fwd = np.asarray(fabric.forwards)
        # capacity of each chip's links to relaying nodes (switches, forwarding chips), out and in
        up = ~m | fwd[fabric.edge_dst]
        dn = ~m | fwd[fabric.edge_src]
        out_cap = np.bincount(fabric.edge_src[up], weights=cap[up], minlength=n)
        in_cap = np.bincount(fabric.edge_dst[dn], weights=cap[dn], minlength=n)
        c = (key[o], e[o], out_cap, in_cap)
        fabric._coll_direct = c
    return c


def endpoint_step_bound(fabric: Fabric, src: np.ndarray, dst: np.ndarray, size: float | np.ndarray) -> float:
    """Cheap lower bound of a step, s.

    A flow between directly linked chips can only use that link (its one-hop shortest path); any other
    flow leaves its source through the source's links to relaying nodes (switches or forwarding chips) and
    enters its destination likewise. The bound is the busiest of those link groups (bytes / capacity)
    plus the smallest link latency. Valid on any fabric; exact for uniform steps on switched fabrics.

    The step's size-free parts (which flows take a direct link, and the distinct links, sources and
    destinations they load) are memoised per fabric by a hash of (src, dst) (:data:`_ENDPOINT_MEMO`; auto bounds
    every candidate at every size), and loads are summed over those distinct links / nodes only: each is the
    same sum, in the same order, as a per-edge / per-node ``bincount`` gives, so the bound is the same bit for bit.
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    if len(src) == 0:
        return 0.0
    size = np.broadcast_to(np.asarray(size, dtype=np.float64), src.shape)
    _keys, _eids, out_cap, in_cap = _direct_edges(fabric)
    parts = _endpoint_parts(fabric, src, dst)
    direct, ue, einv, other, us, sinv, ud, dinv = parts
    t = 0.0
    if ue is not None:
        load = np.bincount(einv, weights=size[direct], minlength=len(ue))
        u = load > 0
        t = float(np.max(load[u] / fabric.edge_capacity[ue][u]))
    if us is not None:
        z = size[other]
        ob = np.bincount(sinv, weights=z, minlength=len(us))
        ib = np.bincount(dinv, weights=z, minlength=len(ud))
        with np.errstate(divide="ignore"):
            t = max(t, float(np.max(ob[ob > 0] / out_cap[us][ob > 0])), float(np.max(ib[ib > 0] / in_cap[ud][ib > 0])))
    return t + (float(fabric.edge_latency.min()) if fabric.n_edges else 0.0)


#: endpoint_step_bound's memo: fabric -> {(flows, hash of src / dst): the step's size-free parts}
_ENDPOINT_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: distinct steps kept per fabric, and the bytes of their arrays (the oldest go first)
_ENDPOINT_MAX_ENTRIES = 4096
_ENDPOINT_MAX_BYTES = 64 * 2**20


def _endpoint_parts(fabric: Fabric, src: np.ndarray, dst: np.ndarray) -> tuple:
    """(direct-flow mask, distinct direct edges, each direct flow's edge among them, other-flow mask, distinct
    sources / destinations of the other flows and each flow's among them); None for an absent kind. Memoised
    for steps up to ``_MEMO_MAX_FLOWS`` flows."""
    key = None
    if len(src) <= _MEMO_MAX_FLOWS:
        key = (len(src), _step_signature(src, dst))
        memo = _ENDPOINT_MEMO.get(fabric)
        hit = memo.get(key) if memo is not None else None
        if hit is not None:
            return hit
    keys, eids, _out, _in = _direct_edges(fabric)
    n = fabric.n_nodes
    direct = np.zeros(len(src), dtype=bool)
    if len(keys):
        q = src * n + dst
        pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        direct = keys[pos] == q
    ue = einv = None
    if direct.any():
        ue, einv = np.unique(eids[pos[direct]], return_inverse=True)
    other = ~direct
    us = sinv = ud = dinv = None
    if other.any():
        us, sinv = np.unique(src[other], return_inverse=True)
        ud, dinv = np.unique(dst[other], return_inverse=True)
    parts = (direct, ue, einv, other, us, sinv, ud, dinv)
    if key is not None:
        for a in parts:
            if a is not None:
                a.flags.writeable = False
        memo = _ENDPOINT_MEMO.get(fabric)
        if memo is None:
            memo = _ENDPOINT_MEMO[fabric] = _BoundedMemo(_ENDPOINT_MAX_ENTRIES, _ENDPOINT_MAX_BYTES)
        memo.put(key, parts, sum(a.nbytes for a in parts if a is not None))
    return parts


class _BoundedMemo:
    """A dict of at most ``max_entries`` entries holding at most ``max_bytes`` (the oldest go first; the newest
    always stays)."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.entries: dict = {}
        self.sizes: dict = {}
        self.nbytes = 0
        self.max_entries, self.max_bytes = max_entries, max_bytes

    def get(self, key, default=None):
        return self.entries.get(key, default)

    def put(self, key, value, nbytes: int) -> None:
        if key in self.entries:
            self.nbytes -= self.sizes.pop(key)
            del self.entries[key]
        self.entries[key] = value
        self.sizes[key] = nbytes
        self.nbytes += nbytes
        while len(self.entries) > 1 and (len(self.entries) > self.max_entries or self.nbytes > self.max_bytes):
            old = next(iter(self.entries))
            del self.entries[old]
            self.nbytes -= self.sizes.pop(old)


def step_bound(fabric: Fabric, src: np.ndarray, dst: np.ndarray, size: float | np.ndarray) -> float:
    """Alpha-beta time of one step of flows started together with no other traffic, s.

    The larger of: max over links of (bytes on the link / capacity + smallest path latency of the flows
    crossing it), and max over flows of (path latency + size / the flow's solo rate). Both are lower
    bounds of the step's makespan under max-min sharing and equal it when the step is uniform. ECMP
    splits evenly; a flow's latency is its longest path's (as in the engine). Steps whose routes have
    more than 4 M edge entries are bounded by the engine's solve of the step alone instead.
    """
    import scipy.sparse as sp

    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    size = np.broadcast_to(np.asarray(size, dtype=np.float64), src.shape)
    if len(src) == 0:
        return 0.0
    if len(src) > _ROUTE_ENTRIES:
        from traffic.steps import uniform_exchange_size

        if uniform_exchange_size(fabric, src, dst, size) is not None:
            # every chip to every chip (a whole-fabric direct step): more than _ROUTE_ENTRIES distinct pairs, so
            # the engine's solve below; found without sorting the pairs (37.7 M at 6,144 chips: ~8 s)
            import traffic

            res = traffic.simulate_steps(fabric, [traffic.Step(src, dst, size)], stats=False, grouping="structure")
            return float(res.time)
    z = np.asarray(size)
    s0 = float(z.flat[0])
    uniform = z.ndim == 0 or z.strides == (0,) or bool(np.all(z == s0))
    sig = None
    if uniform and len(src) <= _MEMO_MAX_FLOWS:
        sig = _step_signature(src, dst)
        hit = _STEP_MEMO.get(fabric, {}).get(sig)
        if hit is not None:
            return _uniform_bound(hit, s0)
    cap = fabric.edge_capacity
    E = fabric.n_edges
    code = src * fabric.n_nodes + dst
    ucode, inv = np.unique(code, return_inverse=True)
    inv = inv.ravel()
    us, ud = ucode // fabric.n_nodes, ucode % fabric.n_nodes
    k = min(len(us), 256)
    probe = fabric.routes(us[:: max(1, len(us) // k)][:k], ud[:: max(1, len(us) // k)][:k])
    big = len(probe.path_edges) / k * len(us) > _ROUTE_ENTRIES
    r = None if big else fabric.routes(us, ud)
    if big or len(r.path_edges) > _ROUTE_ENTRIES:
        import traffic

        res = traffic.simulate_steps(fabric, [traffic.Step(src, dst, size)], stats=False, grouping="structure")
        return float(res.time)
    counts = r.path_counts()
    plen = r.path_lengths()
    n_pairs = len(counts)
    el = fabric.edge_latency[r.path_edges]
    csum = np.concatenate([[0.0], np.cumsum(el)])
    path_lat = csum[r.path_ptr[1:]] - csum[r.path_ptr[:-1]]
    pair_lat = np.maximum.reduceat(np.concatenate([path_lat, [0.0]]), r.pair_ptr[:-1])
    pair_lat[counts == 0] = 0.0
    pair_of_path = np.repeat(np.arange(n_pairs), counts)
    rows = np.repeat(pair_of_path, plen)
    frac = np.repeat(1.0 / counts[pair_of_path], plen)
    M = sp.csr_matrix((frac, (rows, r.path_edges)), shape=(n_pairs, E))
    M.sum_duplicates()
    pair_bytes = np.bincount(inv, weights=size, minlength=n_pairs)
    pair_max = np.zeros(n_pairs)
    np.maximum.at(pair_max, inv, size)
    load = M.T @ pair_bytes
    Mc = M.tocsc()
    Mc.sort_indices()
    used = np.flatnonzero(np.diff(Mc.indptr) > 0)
    t_link = 0.0
    if len(used):
        minlat = np.minimum.reduceat(pair_lat[Mc.indices], Mc.indptr[used])
        t_link = float(np.max(load[used] / cap[used] + minlat))
    nz = np.flatnonzero(np.diff(M.indptr) > 0)
    t_flow = float(np.max(pair_lat)) if n_pairs else 0.0
    inv_rate = np.zeros(0)
    if len(nz):
        inv_rate = np.maximum.reduceat(M.data / cap[M.indices], M.indptr[nz])
        t_flow = max(t_flow, float(np.max(pair_lat[nz] + pair_max[nz] * inv_rate)))
    if uniform:  # one size: loads per byte, latencies, 1 / solo rates, kept for the step's next size
        per_byte = (M.T @ np.bincount(inv, minlength=n_pairs).astype(np.float64))[used] / cap[used]
        lat_max = float(np.max(pair_lat)) if n_pairs else 0.0
        memo = (per_byte, minlat if len(used) else np.zeros(0), lat_max, pair_lat[nz], inv_rate)
        if sig is not None:
            _STEP_MEMO.setdefault(fabric, {})[sig] = memo
        return _uniform_bound(memo, s0)  # the same terms as above, in the memo's arithmetic (to rounding)
    return max(t_link, t_flow)


#: step_bound's memo: fabric -> {signature of (src, dst): the size-free parts of its bound}. A size sweep
#: (scaleup collective's sizes, auto's winner at each size) bounds the same steps at every size; on 6,144 maia200
#: chips a hd all-reduce's 26 distinct steps took 3-5 s a size to route and reduce
_STEP_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: steps with more flows than this are not memoised (hashing them would cost what it saves)
_MEMO_MAX_FLOWS = 1_000_000


def _step_signature(src: np.ndarray, dst: np.ndarray) -> bytes:
    h = hashlib.blake2b(digest_size=20)
    h.update(np.ascontiguousarray(src, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(dst, dtype=np.int64).tobytes())
    return h.digest()


def _uniform_bound(memo: tuple, size: float) -> float:
    """step_bound of a memoised step whose flows all carry ``size`` bytes (the same terms: link loads / capacity
    plus the smallest latency of the pairs on each link, and each pair's latency plus size / its solo rate)."""
    per_byte, minlat, lat_max, lat_nz, inv_rate = memo
    t_link = float(np.max(per_byte * size + minlat)) if len(per_byte) else 0.0
    t_flow = lat_max
    if len(inv_rate):
        t_flow = max(t_flow, float(np.max(lat_nz + size * inv_rate)))
    return max(t_link, t_flow)


def schedule_bound(schedule: Schedule, fabric: Fabric, overhead: float = 0.0, reduce_bandwidth: float | None = None,
                   cheap: bool = False) -> float:
    """Alpha-beta time of a compiled schedule on a fabric with no other traffic, s.

    The sum over its bulk-synchronous steps of :func:`step_bound` (memoised by the steps' template keys;
    ``cheap=True`` uses :func:`endpoint_step_bound`, a looser but much faster lower bound), plus per-step
    software ``overhead`` and reduction compute (bytes / ``reduce_bandwidth``) when set.
    """
    f = endpoint_step_bound if cheap else step_bound
    memo: dict = {}
    total = 0.0
    for src, dst, size, key, comp in schedule.steps():
        if key is not None and key in memo:
            t = memo[key]
        else:
            t = f(fabric, src, dst, size)
            if key is not None:
                memo[key] = t
        total += t + overhead
        if reduce_bandwidth:
            total += comp / reduce_bandwidth
    return total
