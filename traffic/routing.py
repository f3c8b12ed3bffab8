"""From (src, dst) pairs to the engine's sparse problem: a flows x links incidence with fractions.

A :class:`Problem` is what the event loop and the max-min solver work on:

- ``indptr, indices, data``: CSR rows = flows, columns = *link columns*; ``data`` is the fraction of the
  flow's rate on that column (``1/k`` per part of an even ``k``-way ECMP split, summed over the paths
  through a link);
- ``col_cap``: capacity of each column, bytes/s;
- ``lat``: per-flow latency, s (the largest path latency over the flow's paths: it arrives when its last
  part does);
- ``edge_col``, ``edge_scale``: how columns map back to the fabric's directed edges (``-1`` = unused);
  an edge carries ``edge_scale[e] x`` the load of its column.

Columns are merged edges that provably carry the same load, which is exact and shrinks the solve:
*identical columns* (the same flows with the same fractions: e.g. the 512 leaf->spine links a cross-leaf
flow spreads over) are merged into one column of the common capacity.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from topo import CapacityError, Fabric, RoutingError, ScheduleError

from .maxmin import HAVE_NUMBA

#: routings without an explicit path: even spray (one rate per flow), independent sub-flows per path, one
#: hashed path (see docs/engine.md)
ROUTINGS = ("ecmp", "ecmp-subflows", "hash")
_EDGE_KEYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class Problem:
    """Sparse flow/link problem (see the module docstring). Arrays are int64 / float64."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    col_cap: np.ndarray
    lat: np.ndarray
    edge_col: np.ndarray
    edge_scale: np.ndarray

    @property
    def n_flows(self) -> int:
        return len(self.indptr) - 1

    @property
    def n_cols(self) -> int:
        return len(self.col_cap)

    def matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=(self.n_flows, self.n_cols))

    def row_lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def edge_values(self, col_values: np.ndarray, scaled: bool = True, fill: float = 0.0) -> np.ndarray:
        """Expand a per-column array to the fabric's edges (scaled by ``edge_scale`` when ``scaled``)."""
        out = np.full(len(self.edge_col), fill, dtype=np.float64)
        m = self.edge_col >= 0
        v = col_values[self.edge_col[m]]
        out[m] = v * self.edge_scale[m] if scaled else v
        return out


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (uint64 -> uint64), vectorised; deterministic across platforms."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def hash_choice(src: np.ndarray, dst: np.ndarray, index: np.ndarray, seed: int, n: np.ndarray) -> np.ndarray:
    """Deterministic path choice in ``0..n-1`` from a hash of (src, dst, flow index, seed)."""
    with np.errstate(over="ignore"):
        h = _mix64(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) + np.uint64(0x9E3779B97F4A7C15) * np.ones(len(src), np.uint64))
        for part in (src, dst, index):
            h = _mix64(h ^ (part.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93)))
    return (h % np.maximum(n, 1).astype(np.uint64)).astype(np.int64)


def _gather_ranges(ptr: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate ranges ``ptr[w]:ptr[w+1]`` for w in ``which``: returns (positions, new indptr)."""
    lens = ptr[which + 1] - ptr[which]
    newptr = np.zeros(len(which) + 1, dtype=np.int64)
    np.cumsum(lens, out=newptr[1:])
    total = int(newptr[-1])
    if total == 0:
        return np.zeros(0, dtype=np.int64), newptr
    offs = np.arange(total, dtype=np.int64) - np.repeat(newptr[:-1], lens)
    return np.repeat(ptr[which], lens) + offs, newptr


#: routes with more path edges than this build their incidence with the compiled kernel (same bits as the
#: scipy path, which stays the reference and serves small problems without importing numba)
KERNEL_MIN_PATH_EDGES = 200_000


def _incidence_kernel_py(pair_ptr, path_ptr, path_edges, edge_latency, indptr, indices, data, lat):  # pragma: no cover
    """CSR rows of the even-ECMP incidence straight from routes (numba-compiled below): per pair, its paths'
    edges sorted with duplicates summed, each path adding ``1/k`` (``k`` paths) to every edge it crosses, and
    the pair's latency, the largest path latency. Bit for bit what :func:`_incidence_scipy` computes: the
    fraction of an edge crossed by ``m`` paths is the sequential sum of ``m`` copies of ``1.0 / k`` (scipy's
    duplicate summation), and path latencies are differences of one running sum over all path edges in order
    (``np.cumsum``). Returns the number of entries written."""
    n = pair_ptr.shape[0] - 1
    acc = 0.0  # running sum of edge latencies over every path edge so far (np.cumsum, sequential)
    nnz = 0
    indptr[0] = 0
    buf = np.empty(0, np.int64)
    for i in range(n):
        p0, p1 = pair_ptr[i], pair_ptr[i + 1]
        e0, e1 = path_ptr[p0], path_ptr[p1]
        m = 0.0
        for p in range(p0, p1):
            start = acc
            for j in range(path_ptr[p], path_ptr[p + 1]):
                acc += edge_latency[path_edges[j]]
            v = acc - start
            if p == p0:
                m = v
            elif m == m and (v > m or v != v):  # np.maximum: NaN propagates
                m = v
        if i == n - 1 and m == m and m < 0.0:  # reduceat's last slice also holds the appended 0.0
            m = 0.0
        lat[i] = m
        k = p1 - p0
        if e1 > e0:
            if buf.shape[0] < e1 - e0:
                buf = np.empty(2 * (e1 - e0), np.int64)
            seg = buf[: e1 - e0]
            seg[:] = path_edges[e0:e1]
            seg.sort()
            f = 1.0 / k
            j = 0
            while j < seg.shape[0]:
                e = seg[j]
                x = f
                j += 1
                while j < seg.shape[0] and seg[j] == e:
                    x += f
                    j += 1
                indices[nnz] = e
                data[nnz] = x
                nnz += 1
        indptr[i + 1] = nnz
    return nnz


def _lazy_incidence_kernel():
    from .maxmin import lazy_kernel

    return lazy_kernel(globals(), "_incidence_kernel", _incidence_kernel_py)


_incidence_kernel = None


def _incidence_compiled(r, edge_latency: np.ndarray):
    """(indptr, indices, data, lat) of routes ``r`` through the compiled kernel (see above)."""
    global _incidence_kernel
    if _incidence_kernel is None:
        _incidence_kernel = _lazy_incidence_kernel()
    n = r.n_pairs
    indptr = np.empty(n + 1, dtype=np.int64)
    indices = np.empty(len(r.path_edges), dtype=np.int64)
    data = np.empty(len(r.path_edges))
    lat = np.empty(n)
    nnz = _incidence_kernel(np.ascontiguousarray(r.pair_ptr, dtype=np.int64),
                            np.ascontiguousarray(r.path_ptr, dtype=np.int64),
                            np.ascontiguousarray(r.path_edges, dtype=np.int64),
                            np.ascontiguousarray(edge_latency, dtype=np.float64), indptr, indices, data, lat)
    return indptr, indices[:nnz], data[:nnz], lat  # views: the problem built from them copies what it keeps


def _incidence_scipy(r, edge_latency: np.ndarray, n_edges: int):
    """(indptr, indices, data, lat) of routes ``r`` with numpy and scipy.sparse (the reference)."""
    n = r.n_pairs
    counts = r.path_counts()
    plen = r.path_lengths()
    # latency of every path, then per pair
    el = edge_latency[r.path_edges]
    csum = np.concatenate([[0.0], np.cumsum(el)])
    path_lat = csum[r.path_ptr[1:]] - csum[r.path_ptr[:-1]]
    pair_of_path = np.repeat(np.arange(n, dtype=np.int64), counts)
    rows = np.repeat(pair_of_path, plen)
    frac = np.repeat(1.0 / counts[pair_of_path], plen)
    m = sp.csr_matrix((frac, (rows, r.path_edges)), shape=(n, n_edges))
    m.sum_duplicates()
    indptr, indices, data = m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data
    if n:
        lat = np.maximum.reduceat(np.concatenate([path_lat, [0.0]]), r.pair_ptr[:-1])
        lat[counts == 0] = 0.0
    else:
        lat = np.zeros(0)
    return indptr, indices, data, lat


#: path-edge entries (sum over flows of every equal-cost path's length) the spray may route at once: about 28
#: bytes each at the peak (an 8x8x16 torus all-to-all, 1 M flows, 6.5e7 entries: 1.8 GB), so 4e8 is ~11 GB.
#: A 16x16x16 torus all-to-all (16.8 M flows, ~1.4e9 entries, ~40 GB) was killed by the kernel without a word.
MAX_ROUTE_EDGES = 400_000_000
#: flows above which the budget is estimated from a sample first (below it no problem can reach the budget)
_ROUTE_SAMPLE_ABOVE = 1 << 20
#: path-edge entries (sum over flows of the one hashed path's length) ``routing='hash'`` may hold: measured ~53 bytes
#: each at the peak of building the problem (an 8x8x16 torus all-to-all, 1 M flows, 8.4e6 entries: +444 MB RSS;
#: 8x8x8: 1.6e6 entries, +82 MB), so 2e8 is ~11 GB, the spray's budget. Hashing also routes every equal-cost path
#: of each pair to pick one (in chunks, so only time grows): ~3,000-15,000 pairs/s on a torus, ~1.4e5 on maia200.
MAX_HASH_EDGES = 200_000_000


class RouteBudgetError(CapacityError):
    """The path-edge budget refusal of :func:`_check_route_budget` / :func:`_check_part_budget` /
    :func:`_check_hash_budget`; besides the message (Python spellings: ``routing='hash'``) it carries the figures a
    front end needs to word the fix in its own spelling (``scaleup traffic --routing hash``): ``routing`` (the
    routing refused: ``"ecmp"``, ``"ecmp-subflows"`` or ``"hash"``), ``flows``, ``entries`` (the estimate),
    ``limit``, ``gib`` (the estimate's memory, GiB; 0 when not estimated) and ``hash_entries`` (the estimate over
    one path per flow, ``routing='hash'``, which is not worth naming as a fix when it is over
    :data:`MAX_HASH_EDGES`)."""

    routing: str = ""
    flows: int = 0
    entries: float = 0.0
    limit: float = 0.0
    gib: float = 0.0
    hash_entries: float = 0.0

    def brief(self) -> str:
        """The refusal's figures without a fix, in no front end's spelling: why a caller that tries several
        schedules (``collectives``' ``auto``, an algorithm list) left this one out."""
        return (f"a step of {self.flows:,} flows would need about {self.entries:.3g} path-edge entries "
                f"({self.routing}; limit {self.limit:.0e}): too large to route")


def _budget_error(msg: str, routing: str, flows: int, entries: float, limit: float, gib: float = 0.0,
                  hash_entries: float = 0.0) -> RouteBudgetError:
    """A :class:`RouteBudgetError` with ``msg`` and its figures as attributes (kept by pickling: they live in
    the instance ``__dict__``)."""
    exc = RouteBudgetError(msg)
    exc.routing, exc.flows, exc.entries, exc.limit = routing, int(flows), float(entries), float(limit)
    exc.gib, exc.hash_entries = float(gib), float(hash_entries)
    return exc


def _check_route_budget(fab: Fabric, src: np.ndarray, dst: np.ndarray) -> None:
    """Estimate, from an evenly spaced sample of pairs, the path-edge entries routing every flow over all of its
    equal-cost paths would hold, and refuse with a :class:`RouteBudgetError` before memory runs out."""
    est, one = _estimate_edges(fab, src, dst)
    if est > MAX_ROUTE_EDGES:
        gib = est * 28 / 2**30
        hash_fits = one <= MAX_HASH_EDGES
        raise _budget_error(
            f"routing: {len(src):,} flows over every equal-cost path would need about {est:.3g} path-edge entries "
            f"(~{gib:,.0f} GiB; limit {MAX_ROUTE_EDGES:.0e}); use fewer ranks per step (a smaller "
            "group, or an algorithm with fewer flows per step such as pairwise)"
            + (" or routing='hash' (one path per flow)" if hash_fits else
               f" (routing='hash', one path per flow, would still need about {one:.3g}; limit {MAX_HASH_EDGES:.0e})"),
            "ecmp", len(src), est, MAX_ROUTE_EDGES, gib, one,
        )


def _check_hash_budget(fab: Fabric, src: np.ndarray, dst: np.ndarray) -> None:
    """Estimate, from an evenly spaced sample of pairs, the path-edge entries one hashed path per flow would hold,
    and refuse with a :class:`RouteBudgetError` (``routing="hash"``) past :data:`MAX_HASH_EDGES`, before hours of
    routing end in a process the kernel kills (a 16x16x24 torus all-to-all: 37.7 M flows, ~5.3e8 entries, ~26 GiB)."""
    if len(src) <= _ROUTE_SAMPLE_ABOVE:
        return
    _, one = _estimate_edges(fab, src, dst)
    if one > MAX_HASH_EDGES:
        gib = one * 53 / 2**30
        raise _budget_error(
            f"routing='hash': {len(src):,} flows would need about {one:.3g} path-edge entries (one path per flow; "
            f"~{gib:,.0f} GiB; limit {MAX_HASH_EDGES:.0e}); use fewer flows (a smaller group, or an algorithm "
            "with fewer flows per step such as pairwise)",
            "hash", len(src), one, MAX_HASH_EDGES, gib, one,
        )


def _edge_incidence(fab: Fabric, src: np.ndarray, dst: np.ndarray, routing: str, seed: int):
    """Per-flow edge fractions from the fabric's router: (indptr, indices, data, lat) over edges."""
    n = len(src)
    if routing == "hash":
        _check_hash_budget(fab, src, dst)
        return _hash_with_index(fab, src, dst, np.arange(n, dtype=np.int64), seed)
    if n > _ROUTE_SAMPLE_ABOVE:
        _check_route_budget(fab, src, dst)
    r = fab.routes(src, dst)
    if r.n_pairs != n:
        raise RoutingError(f"router returned {r.n_pairs} routes for {n} pairs")
    counts = r.path_counts()
    if n and (counts < 1).any():
        i = int(np.flatnonzero(counts < 1)[0])
        raise RoutingError(f"flow {i}: no route from node {int(src[i])} to node {int(dst[i])}")
    if n and len(r.path_edges) > KERNEL_MIN_PATH_EDGES and HAVE_NUMBA:
        return _incidence_compiled(r, fab.edge_latency)
    return _incidence_scipy(r, fab.edge_latency, fab.n_edges)


def _edge_keys(fab: Fabric) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (src * n_nodes + dst) keys of the fabric's edges and the edge id of each (cached)."""
    cached = _EDGE_KEYS.get(fab)
    if cached is None:
        key = fab.edge_src * fab.n_nodes + fab.edge_dst
        order = np.argsort(key, kind="stable")
        cached = (key[order], order)
        _EDGE_KEYS[fab] = cached
    return cached


def _path_incidence(fab: Fabric, paths: Sequence, rows: np.ndarray, src: np.ndarray, dst: np.ndarray):
    """Explicit node paths -> edge ids (validated) per flow in ``rows``: a list of edge-id arrays."""
    index = fab.node_index
    nodes_flat: list[int] = []
    lens = np.empty(len(rows), dtype=np.int64)
    for k, i in enumerate(rows.tolist()):
        p = paths[i]
        try:
            idx = [index[v] if v in index else fab.index(v) for v in p]
        except RoutingError as exc:
            raise RoutingError(f"flow {i}: path has {exc}") from None
        except TypeError:
            raise RoutingError(f"flow {i}: path must be a list of node ids, got {p!r}") from None
        if not idx or idx[0] != src[i] or idx[-1] != dst[i]:
            raise RoutingError(
                f"flow {i}: path must run from its src {fab.nodes[src[i]]!r} to its dst "
                f"{fab.nodes[dst[i]]!r}, got {list(p)!r}"
            )
        nodes_flat.extend(idx)
        lens[k] = len(idx)
    nf = np.asarray(nodes_flat, dtype=np.int64)
    ends = np.cumsum(lens)
    hop = np.ones(len(nf), dtype=bool)
    hop[ends - 1] = False  # the last node of each path starts no hop
    u = nf[hop]
    v = nf[np.flatnonzero(hop) + 1]
    keys, order = _edge_keys(fab)
    q = u * fab.n_nodes + v
    pos = np.minimum(np.searchsorted(keys, q), max(len(keys) - 1, 0))
    ok = (keys[pos] == q) if len(keys) else np.zeros(len(q), dtype=bool)
    edges = order[pos] if len(keys) else np.zeros(0, dtype=np.int64)
    hop_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lens - 1, out=hop_ptr[1:])
    if not ok.all():
        j = int(np.flatnonzero(~ok)[0])
        k = int(np.searchsorted(hop_ptr, j, side="right") - 1)
        i = int(rows[k])
        raise RoutingError(
            f"flow {i}: path {list(paths[i])!r} is not a path of the fabric: no link "
            f"{fab.nodes[u[j]]!r} -> {fab.nodes[v[j]]!r}"
        )
    return [edges[hop_ptr[k]:hop_ptr[k + 1]] for k in range(len(rows))]


def build_edge_problem(
    fab: Fabric,
    src: np.ndarray,
    dst: np.ndarray,
    routing: str = "ecmp",
    seed: int = 0,
    paths: Sequence | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(indptr, indices, data, lat) over the fabric's edges for flows src -> dst (node indices)."""
    check_routing(routing)
    if routing == "ecmp-subflows":
        raise RoutingError("routing='ecmp-subflows' has one row per path: use build_part_problem")
    n = len(src)
    explicit = np.zeros(n, dtype=bool)
    if paths is not None:
        explicit = np.asarray([p is not None for p in paths], dtype=bool)
    auto = np.flatnonzero(~explicit)
    if not explicit.any():
        return _edge_incidence(fab, src, dst, routing, seed)
    # mix: routed flows and explicit-path flows
    lens = np.zeros(n, dtype=np.int64)
    lat = np.zeros(n)
    parts_idx: list[np.ndarray] = [np.zeros(0, np.int64)] * n
    parts_val: list[np.ndarray] = [np.zeros(0)] * n
    if len(auto):
        if routing == "hash":  # hash the original flow index
            _check_hash_budget(fab, src[auto], dst[auto])
            ip, ix, dv, lt = _hash_with_index(fab, src[auto], dst[auto], auto, seed)
        else:
            ip, ix, dv, lt = _edge_incidence(fab, src[auto], dst[auto], routing, seed)
        for k, i in enumerate(auto.tolist()):
            parts_idx[i] = ix[ip[k]:ip[k + 1]]
            parts_val[i] = dv[ip[k]:ip[k + 1]]
            lat[i] = lt[k]
    ex_rows = np.flatnonzero(explicit)
    for i, edges in zip(ex_rows.tolist(), _path_incidence(fab, paths, ex_rows, src, dst)):
        e = np.asarray(edges, dtype=np.int64)
        u, c = np.unique(e, return_counts=True)
        parts_idx[i] = u
        parts_val[i] = c.astype(np.float64)
        lat[i] = float(fab.edge_latency[e].sum()) if len(e) else 0.0
    for i in range(n):
        lens[i] = len(parts_idx[i])
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=indptr[1:])
    indices = np.concatenate(parts_idx) if n else np.zeros(0, np.int64)
    data = np.concatenate(parts_val) if n else np.zeros(0)
    return indptr, indices.astype(np.int64), data.astype(np.float64), lat


def check_routing(routing: str) -> None:
    """Raise a RoutingError naming the valid values unless ``routing`` is one of :data:`ROUTINGS`."""
    if routing not in ROUTINGS:
        raise RoutingError(f"routing={routing!r}: use one of {', '.join(ROUTINGS)}")


@dataclass
class Parts:
    """Flows expanded to parts (``routing="ecmp-subflows"``): one row of ``problem`` per equal-cost path.

    Parts of flow ``i`` are rows ``ptr[i]:ptr[i+1]`` (contiguous, in flow order); ``owner[j]`` is the flow
    of part ``j`` and ``share[j]`` its fraction of the flow's bytes (``1/k`` for a ``k``-path flow).
    """

    problem: Problem
    ptr: np.ndarray
    owner: np.ndarray
    share: np.ndarray

    def per_flow_max(self, part_values: np.ndarray) -> np.ndarray:
        """Max over each flow's parts (every flow has at least one part)."""
        if len(self.ptr) <= 1:
            return np.zeros(0)
        return np.maximum.reduceat(part_values, self.ptr[:-1])


#: edge entries (sum over sub-flows of their path lengths) ecmp-subflows may build: ~8 bytes each in
#: several arrays, so 1e8 entries is a few GiB. Past it the spray model (routing="ecmp") is the tool.
MAX_PART_EDGES = 100_000_000
_PART_SAMPLE = 2048


def _estimate_path_edges(fab: Fabric, src: np.ndarray, dst: np.ndarray) -> float:
    """Path-edge entries (sum over flows of every equal-cost path's length) that routing all ``src -> dst`` flows
    would hold, extrapolated from an evenly spaced sample of ``_PART_SAMPLE`` pairs."""
    return _estimate_edges(fab, src, dst)[0]


def _estimate_edges(fab: Fabric, src: np.ndarray, dst: np.ndarray) -> tuple[float, float]:
    """(every path, one path): the path-edge entries of routing all ``src -> dst`` flows over every equal-cost
    path, and over one path per flow (``routing='hash'``: the mean path length of each pair), extrapolated from
    an evenly spaced sample of ``_PART_SAMPLE`` pairs."""
    pick = np.linspace(0, len(src) - 1, _PART_SAMPLE).astype(np.int64)
    r = fab.routes(src[pick], dst[pick])
    per_pair = (r.path_ptr[r.pair_ptr[1:]] - r.path_ptr[r.pair_ptr[:-1]]) / np.maximum(np.diff(r.pair_ptr), 1)
    scale = len(src) / _PART_SAMPLE
    return len(r.path_edges) * scale, float(per_pair.sum()) * scale


def _check_part_budget(fab: Fabric, src: np.ndarray, dst: np.ndarray) -> None:
    """Estimate, from an evenly spaced sample of pairs, how many edge entries one sub-flow per
    equal-cost path would need, and refuse with a :class:`RouteBudgetError` before memory runs out."""
    est, one = _estimate_edges(fab, src, dst)
    if est > MAX_PART_EDGES:
        raise _budget_error(
            f"routing='ecmp-subflows': {len(src):,} flows would need about {est:.3g} path-edge entries "
            f"(one sub-flow per equal-cost path; limit {MAX_PART_EDGES:.0e}); use routing='ecmp' (the even "
            "spray: same answers under symmetric load) or fewer flows",
            "ecmp-subflows", len(src), est, MAX_PART_EDGES, 0.0, one,
        )


def build_part_problem(
    fab: Fabric,
    src: np.ndarray,
    dst: np.ndarray,
    paths: Sequence | None = None,
    merge: bool = True,
) -> Parts:
    """Split every flow into independent sub-flows, one per equal-cost path (an explicit path is one part).

    Each part is a row with weight 1 on every edge of its path (twice if the path crosses it twice) and
    its own path latency; rows are built from the router's two-level CSR with array operations only.
    """
    n = len(src)
    explicit = np.zeros(n, dtype=bool)
    if paths is not None:
        explicit = np.asarray([p is not None for p in paths], dtype=bool)
    auto = np.flatnonzero(~explicit)
    owners, lens, edges = [], [], []
    if len(auto) > _PART_SAMPLE:
        _check_part_budget(fab, src[auto], dst[auto])
    if len(auto):
        r = fab.routes(src[auto], dst[auto])
        if r.n_pairs != len(auto):
            raise RoutingError(f"router returned {r.n_pairs} routes for {len(auto)} pairs")
        counts = r.path_counts()
        if (counts < 1).any():
            i = int(auto[np.flatnonzero(counts < 1)[0]])
            raise RoutingError(f"flow {i}: no route from node {int(src[i])} to node {int(dst[i])}")
        owners.append(np.repeat(auto, counts))
        lens.append(r.path_lengths())
        edges.append(r.path_edges)
    ex_rows = np.flatnonzero(explicit)
    if len(ex_rows):
        ex = _path_incidence(fab, paths, ex_rows, src, dst)
        owners.append(ex_rows)
        lens.append(np.asarray([len(e) for e in ex], dtype=np.int64))
        edges.append(np.concatenate(ex).astype(np.int64))
    owner = np.concatenate(owners) if owners else np.zeros(0, np.int64)
    plen = np.concatenate(lens) if lens else np.zeros(0, np.int64)
    pedges = np.concatenate(edges) if edges else np.zeros(0, np.int64)
    if len(owners) > 1:  # interleave routed and explicit parts back into flow order
        eptr = np.zeros(len(plen) + 1, dtype=np.int64)
        np.cumsum(plen, out=eptr[1:])
        order = np.argsort(owner, kind="stable")
        pos, _ = _gather_ranges(eptr, order)
        owner, plen, pedges = owner[order], plen[order], pedges[pos]
    n_parts = len(owner)
    k = np.bincount(owner, minlength=n)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(k, out=ptr[1:])
    rows = np.repeat(np.arange(n_parts, dtype=np.int64), plen)
    m = sp.csr_matrix((np.ones(len(pedges)), (rows, pedges)), shape=(n_parts, fab.n_edges))
    m.sum_duplicates()
    indptr, indices, data = m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data
    csum = np.concatenate([[0.0], np.cumsum(fab.edge_latency[pedges])])
    eptr = np.zeros(n_parts + 1, dtype=np.int64)
    np.cumsum(plen, out=eptr[1:])
    lat = csum[eptr[1:]] - csum[eptr[:-1]]
    cap = fab.edge_capacity
    if merge:
        indptr, indices, data, col_cap, col_of = merge_identical_columns(indptr, indices, data, n_parts, cap)
    else:
        col_of = np.arange(fab.n_edges, dtype=np.int64)
        col_cap = cap.astype(np.float64)
    p = Problem(indptr, indices, data, col_cap, lat, col_of, np.ones(fab.n_edges))
    check_capacity(fab, p, owner)
    share = 1.0 / k[owner] if n_parts else np.zeros(0)
    return Parts(p, ptr, owner, share)


def _hash_with_index(fab, src, dst, index, seed, chunk: int = 1024):
    """One hashed ECMP path per pair: (indptr, edge ids, ones, path latency). Routed in chunks of pairs
    so that the full ECMP path sets (1,024 paths per cross-leaf pair on maia200-16plane, 128 on maia200) never sit in memory."""
    n = len(src)
    ptrs = [np.zeros(1, dtype=np.int64)]
    edges = []
    lats = []
    off = 0
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        r = fab.routes(src[lo:hi], dst[lo:hi])
        counts = r.path_counts()
        if (counts < 1).any():
            i = lo + int(np.flatnonzero(counts < 1)[0])
            raise RoutingError(f"flow {int(index[i])}: no route from node {int(src[i])} to node {int(dst[i])}")
        pick = r.pair_ptr[:-1] + hash_choice(src[lo:hi], dst[lo:hi], index[lo:hi], seed, counts)
        pos, ip = _gather_ranges(r.path_ptr, pick)
        e = r.path_edges[pos]
        edges.append(e)
        ptrs.append(ip[1:] + off)
        off += len(e)
        el = fab.edge_latency[e]
        csum = np.concatenate([[0.0], np.cumsum(el)])
        lats.append(csum[ip[1:]] - csum[ip[:-1]])
    indptr = np.concatenate(ptrs)
    e = np.concatenate(edges) if edges else np.zeros(0, dtype=np.int64)
    lat = np.concatenate(lats) if lats else np.zeros(0)
    return indptr, e, np.ones(len(e)), lat


_RNG_A = None


def _projections(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two fixed pseudo-random vectors (deterministic) used to fingerprint rows/columns."""
    global _RNG_A
    if _RNG_A is None or len(_RNG_A[0]) < n:
        rng = np.random.default_rng(0x5CA1E)
        m = max(n, 1024)
        _RNG_A = (rng.random(m) + 0.5, rng.random(m) + 0.5)
    return _RNG_A[0][:n], _RNG_A[1][:n]


def merge_identical_columns(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n_rows: int, cap: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge columns with identical contents and equal capacity (exact: they carry the same load).

    Returns (indptr, indices, data, col_cap, col_of_input_column) with ``-1`` for unused columns.
    Identity of columns is tested by two random projections plus the entry count (a false merge
    needs a floating-point coincidence of two independent random sums).
    """
    n_cols = len(cap)
    p1, p2 = _projections(n_rows)
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(indptr))
    h1 = np.bincount(indices, weights=data * p1[rows], minlength=n_cols)
    h2 = np.bincount(indices, weights=data * p2[rows], minlength=n_cols)
    cnt = np.bincount(indices, minlength=n_cols)
    used = np.flatnonzero(cnt > 0)
    col_of = np.full(n_cols, -1, dtype=np.int64)
    if len(used) == 0:
        return indptr, indices, data, np.zeros(0), col_of
    keys = np.stack([h1[used], h2[used], cnt[used].astype(np.float64), cap[used]])
    order = np.lexsort(keys[::-1])
    ks = keys[:, order]
    new = np.ones(len(used), dtype=bool)
    new[1:] = (ks[:, 1:] != ks[:, :-1]).any(axis=0)
    grp = np.cumsum(new) - 1
    col_of[used[order]] = grp
    rep = used[order][new]  # the representative input column of each group
    col_cap = cap[rep]
    is_rep = np.zeros(n_cols, dtype=bool)
    is_rep[rep] = True
    keep = is_rep[indices]
    new_indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[keep], minlength=n_rows), out=new_indptr[1:])
    return new_indptr, col_of[indices[keep]], data[keep], col_cap, col_of


def build_problem(
    fab: Fabric,
    src: np.ndarray,
    dst: np.ndarray,
    routing: str = "ecmp",
    seed: int = 0,
    paths: Sequence | None = None,
    merge: bool = True,
) -> Problem:
    """Route flows and build the merged :class:`Problem` (see module docstring)."""
    indptr, indices, data, lat = build_edge_problem(fab, src, dst, routing, seed, paths)
    cap = fab.edge_capacity
    n = len(src)
    if merge:
        indptr, indices, data, col_cap, col_of = merge_identical_columns(indptr, indices, data, n, cap)
        scale = np.ones(fab.n_edges)
    else:
        col_of = np.arange(fab.n_edges, dtype=np.int64)
        col_cap = cap.astype(np.float64)
        scale = np.ones(fab.n_edges)
    p = Problem(indptr, indices, data, col_cap, lat, col_of, scale)
    check_capacity(fab, p)
    return p


def check_capacity(fab: Fabric, p: Problem, owner: np.ndarray | None = None) -> None:
    """A zero-capacity (or non-finite) link on a used path is a CapacityError naming flow and link
    (``owner`` maps rows to flows when rows are parts of flows)."""
    if p.n_cols == 0:
        return
    bad_col = ~(p.col_cap > 0) | ~np.isfinite(p.col_cap)
    if not bad_col.any():
        return
    hit = bad_col[p.indices]
    k = int(np.flatnonzero(hit)[0])
    flow = int(np.searchsorted(p.indptr, k, side="right") - 1)
    if owner is not None:
        flow = int(owner[flow])
    col = int(p.indices[k])
    e = int(np.flatnonzero(p.edge_col == col)[0]) if (p.edge_col == col).any() else col
    u, v = fab.nodes[fab.edge_src[e]], fab.nodes[fab.edge_dst[e]]
    raise CapacityError(
        f"flow {flow}: its path uses link {u!r} -> {v!r} of capacity {float(p.col_cap[col])!r} bytes/s; "
        "every used link needs a bandwidth (x efficiency) > 0"
    )


def check_sizes(size: np.ndarray, what: str = "flow") -> None:
    bad = ~(np.isfinite(size) & (size >= 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ScheduleError(f"{what} {i}: size must be a finite number of bytes >= 0, got {float(size[i])!r}")
