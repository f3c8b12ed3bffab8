"""Collective algorithms compiled to phases of flows, and the registry ``ALGORITHMS``.

Every compiler here works on a *batch* of equal-sized groups at once: ``G`` is an int64 matrix
(rows x m) of node indices, one row per group (a collective's group is a 1-row batch; hierarchical
algorithms and concurrent groups use many rows). ``D`` is the bytes each rank holds (reduce-type) or
the gathered bytes of one row (gather-type). Symbolic mode: ``bt`` (rows x nbl) maps each row's local
block ids to global block ids; compilers then label every flow with the blocks it carries.

The public entry points are the registered functions ``fn(group, size, fabric, **opts) -> Schedule``
(``ALGORITHMS[(collective, name)]``). The closed form of each one is in :mod:`collectives.bounds`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from topo import ScheduleError

from .schedule import Phase, Schedule

# ---------------------------------------------------------------------- helpers


def _lab(bt: np.ndarray | None, rows: np.ndarray, local: np.ndarray) -> np.ndarray | None:
    """Global block ids for flows of given rows carrying local blocks ``local`` (n_flows, q)."""
    if bt is None:
        return None
    local = np.asarray(local, dtype=np.int64)
    if local.ndim == 1:
        local = local[:, None]
    return bt[np.asarray(rows, dtype=np.int64)[:, None], local]


def _rows_idx(g: int, per: int) -> np.ndarray:
    return np.repeat(np.arange(g, dtype=np.int64), per)


def _check_div(nbl: int, k: int, what: str) -> int:
    if nbl % k:
        raise ScheduleError(f"internal: {nbl} blocks not divisible by {k} ({what})")
    return nbl // k


def _sorted(phases: list[Phase]) -> list[Phase]:
    return sorted(phases, key=lambda p: (p.slot, p.chain, p.chunk, p.stage))


def _is_pow2(m: int) -> bool:
    return m > 0 and (m & (m - 1)) == 0


# ---------------------------------------------------------------------- ring family


def _ring_ph(G, size, bt, nbl, chunks, chain, stage0, key, reverse, offset, reduce):
    """The m-1 steps x ``chunks`` phases of a ring over each row of ``G`` (g x m): in step s member r
    sends piece (r - s - offset) mod m (``reverse``: (r + s + offset), to r-1) of ``size`` bytes per chunk
    to its ring neighbour, which adds it when ``reduce`` (reduce-scatter) or keeps it (all-gather)."""
    g, m = G.shape
    if m < 2:
        return []
    c = chunks
    nxt = np.roll(G, 1 if reverse else -1, axis=1)
    src, dst = G.ravel(), nxt.ravel()
    K = nbl // (m * c) if bt is not None else 0
    rows = _rows_idx(g, m)
    r = np.tile(np.arange(m), g)
    extra = {"reduce": True, "compute": size} if reduce else {}
    out = []
    for j in range(c):
        for s in range(m - 1):
            blocks = None
            if bt is not None:
                piece = (r + s + offset) % m if reverse else (r - s - offset) % m
                loc = (piece * c + j)[:, None] * K + np.arange(K)[None, :]
                blocks = _lab(bt, rows, loc)
            out.append(Phase(src, dst, size, key=(key, reverse), chain=chain, chunk=j, stage=stage0 + s,
                             blocks=blocks, **extra))
    return out


def ring_reduce_scatter_ph(G, D, bt=None, nbl=0, chunks=1, chain=0, stage0=0, key="rs", reverse=False):
    """Ring reduce-scatter: member r ends with piece r of the D bytes, reduced over the row.

    Step s (0..m-2): member r sends piece (r-s-1) mod m to r+1, which adds it. ``reverse`` runs the
    ring the other way (r -> r-1, piece (r+s+1)).
    """
    m = G.shape[1]
    return _ring_ph(G, D / (max(m, 1) * chunks), bt, nbl, chunks, chain, stage0, key, reverse, offset=1, reduce=True)


def ring_all_gather_ph(G, P, bt=None, nbl=0, chunks=1, chain=0, stage0=0, key="ag", reverse=False):
    """Ring all-gather: member r starts with piece r (P bytes), everyone ends with all m pieces.

    Step s (0..m-2): member r sends piece (r-s) mod m to r+1 (``reverse``: piece (r+s) to r-1).
    """
    return _ring_ph(G, P / chunks, bt, nbl, chunks, chain, stage0, key, reverse, offset=0, reduce=False)


def ring_all_reduce_ph(G, D, bt=None, nbl=0, chunks=1, bidirectional=False):
    """Ring all-reduce = ring reduce-scatter then ring all-gather (2(m-1) steps per chunk).

    Bidirectional: half the bytes go clockwise (chain 0), half counter-clockwise (chain 1).
    """
    g, m = G.shape
    if m < 2:
        return []
    halves = [(0, False)] + ([(1, True)] if bidirectional else [])
    h = len(halves)
    out = []
    for chain, rev in halves:
        sub = None
        if bt is not None:
            w = nbl // h
            sub = bt[:, chain * w:(chain + 1) * w]
        nb = nbl // h
        # pieces are chunk-major inside ring_*: local block id = (piece*c + j)*K + q
        out += ring_reduce_scatter_ph(G, D / h, sub, nb, chunks, chain, 0, "ring", rev)
        out += ring_all_gather_ph(G, D / h / m, sub, nb, chunks, chain, m - 1, "ring", rev)
    return _sorted(out)


def chain_ph(G, D, root, bt=None, nbl=0, chunks=1, reduce=False, chain=0):
    """Pipelined chain (ring broadcast / ring reduce) rooted at member ``root`` of every row.

    Broadcast: positions root, root+1, ... each forward chunk j one step later (stage t: position t
    sends to t+1). Reduce: the reverse, towards the root, adding on the way.
    """
    g, m = G.shape
    if m < 2:
        return []
    c = chunks
    size = D / c
    K = nbl // c if bt is not None else 0
    order = (root + np.arange(m)) % m
    rows = np.arange(g)
    out = []
    for j in range(c):
        for t in range(m - 1):
            if reduce:
                a, b = order[m - 1 - t], order[m - 2 - t]
            else:
                a, b = order[t], order[t + 1]
            blocks = _lab(bt, rows, np.broadcast_to(j * K + np.arange(K), (g, K))) if bt is not None else None
            out.append(Phase(G[:, a], G[:, b], size, key=None, chain=chain, chunk=j, stage=t,
                             reduce=reduce, blocks=blocks, compute=size if reduce else 0.0))
    return _sorted(out)


# ---------------------------------------------------------------------- direct family


def _direct_pieces(G, bt, nbl, receiver_piece: bool):
    """Every ordered pair (i -> j) of each row of G, and the block labels of the piece it carries: piece j
    (the receiver's, reduce-scatter) or piece i (the sender's, all-gather); nbl // m blocks per piece."""
    g, m = G.shape
    i, j = np.nonzero(~np.eye(m, dtype=bool))
    blocks = None
    if bt is not None:
        K = nbl // m
        piece = np.tile(j if receiver_piece else i, g)
        blocks = _lab(bt, _rows_idx(g, len(i)), piece[:, None] * K + np.arange(K)[None, :])
    return G[:, i].ravel(), G[:, j].ravel(), blocks


def direct_reduce_scatter_ph(G, D, bt=None, nbl=0, stage=0, key="drs"):
    """Direct reduce-scatter: every member sends piece j to member j at once; receivers add."""
    m = G.shape[1]
    if m < 2:
        return []
    src, dst, blocks = _direct_pieces(G, bt, nbl, True)
    return [Phase(src, dst, D / m, key=key, stage=stage, reduce=True, blocks=blocks, compute=D / m * (m - 1))]


def direct_all_gather_ph(G, P, bt=None, nbl=0, stage=0, key="dag"):
    """Direct all-gather: every member sends its piece (P bytes) to every other member at once."""
    if G.shape[1] < 2:
        return []
    src, dst, blocks = _direct_pieces(G, bt, nbl, False)
    return [Phase(src, dst, P, key=key, stage=stage, blocks=blocks)]


def oneshot_all_reduce_ph(G, D, bt=None, nbl=0):
    """One-shot all-reduce: every member sends its whole buffer to every other member; each adds."""
    g, m = G.shape
    if m < 2:
        return []
    i, j = np.nonzero(~np.eye(m, dtype=bool))
    blocks = None
    if bt is not None:
        rows = _rows_idx(g, len(i))
        blocks = _lab(bt, rows, np.broadcast_to(np.arange(nbl), (len(rows), nbl)))
    return [Phase(G[:, i].ravel(), G[:, j].ravel(), D, key="oneshot", reduce=True, blocks=blocks,
                  compute=D * (m - 1))]


def direct_root_ph(G, D, root, bt=None, nbl=0, reduce=False):
    """Direct broadcast (root sends D to everyone) or reduce (everyone sends D to the root)."""
    g, m = G.shape
    if m < 2:
        return []
    others = np.array([k for k in range(m) if k != root])
    a = np.repeat(G[:, root][:, None], m - 1, axis=1).ravel()
    b = G[:, others].ravel()
    blocks = None
    if bt is not None:
        rows = _rows_idx(g, m - 1)
        blocks = _lab(bt, rows, np.broadcast_to(np.arange(nbl), (len(rows), nbl)))
    if reduce:
        return [Phase(b, a, D, key="dred", reduce=True, blocks=blocks, compute=D * (m - 1))]
    return [Phase(a, b, D, key="dbc", blocks=blocks)]


def direct_all_to_all_ph(G, D, bt=None, nbl=0, stage=0, key="a2a"):
    """Direct all-to-all: member i sends block (i -> j), D/m bytes, to every j at once."""
    g, m = G.shape
    if m < 2:
        return []
    # every ordered pair i != j, row-major (= np.nonzero(~np.eye(m)) without the m x m mask: 37.7 M pairs at
    # 6,144 ranks); a single group of ranks 0..m-1 is its own index, so no gather either
    i = np.repeat(np.arange(m), m - 1)
    j = np.tile(np.arange(m - 1), m)
    j += j >= i
    blocks = None
    if bt is not None:
        K = nbl // (m * m)
        rows = _rows_idx(g, len(i))
        ii, jj = np.tile(i, g), np.tile(j, g)
        blocks = _lab(bt, rows, (ii * m + jj)[:, None] * K + np.arange(K)[None, :])
    if g == 1 and np.array_equal(G[0], np.arange(m)):
        return [Phase(i.astype(G.dtype, copy=False), j.astype(G.dtype, copy=False), D / m, key=key, stage=stage,
                      blocks=blocks)]
    return [Phase(G[:, i].ravel(), G[:, j].ravel(), D / m, key=key, stage=stage, blocks=blocks)]


def pairwise_all_to_all_ph(G, D, bt=None, nbl=0):
    """Pairwise-exchange all-to-all: m-1 steps; step s, member i sends block (i -> i+s) to i+s."""
    g, m = G.shape
    out = []
    K = nbl // (m * m) if bt is not None else 0
    rows = _rows_idx(g, m)
    i = np.tile(np.arange(m), g)
    for s in range(1, m):
        j = (i - 0 + s) % m
        blocks = None
        if bt is not None:
            blocks = _lab(bt, rows, (i * m + j)[:, None] * K + np.arange(K)[None, :])
        out.append(Phase(G.ravel(), np.roll(G, -s, axis=1).ravel(), D / m, key=None, stage=s - 1,
                         blocks=blocks))
    return out


# ---------------------------------------------------------------------- recursive halving / doubling


def hd_all_reduce_ph(G, D, bt=None, nbl=0):
    """Rabenseifner all-reduce: recursive-halving reduce-scatter + recursive-doubling all-gather.

    Non-powers of two (m = p + r, p = 2**floor(log2 m)): the r extra members p..p+r-1 first send their
    whole buffer to members 0..r-1 (who add it), the p members run halving-doubling on p pieces, and
    members 0..r-1 finally send the whole result back to the extras: two extra steps of D bytes.
    """
    g, m = G.shape
    if m < 2:
        return []
    p = 1 << (m.bit_length() - 1)
    r = m - p
    out: list[Phase] = []
    st = 0
    allb = np.arange(nbl) if bt is not None else None
    if r:
        rows = _rows_idx(g, r)
        blocks = _lab(bt, rows, np.broadcast_to(allb, (len(rows), nbl))) if bt is not None else None
        out.append(Phase(G[:, p:].ravel(), G[:, :r].ravel(), D, key=None, stage=st, reduce=True,
                         blocks=blocks, compute=D))
        st += 1
    K = nbl // p if bt is not None else 0
    L = p.bit_length() - 1
    mem = np.arange(p)
    rows = _rows_idx(g, p)
    memt = np.tile(mem, g)
    # window of member x before halving step t: pieces [lo, lo + p >> t)
    for t in range(L):
        d = p >> (t + 1)
        partner = mem ^ d
        lo = memt & ~((p >> t) - 1)  # window start before the step
        keep_upper = (memt & d) != 0
        send_lo = np.where(keep_upper, lo, lo + d)  # send the half I do not keep
        blocks = None
        if bt is not None:
            loc = (send_lo[:, None] + np.arange(d)[None, :])[:, :, None] * K + np.arange(K)[None, None, :]
            blocks = _lab(bt, rows, loc.reshape(len(rows), -1))
        out.append(Phase(G[:, mem].ravel(), G[:, partner].ravel(), D * d / p, key=None, stage=st,
                         reduce=True, blocks=blocks, compute=D * d / p))
        st += 1
    for t in range(L):
        d = 1 << t
        partner = mem ^ d
        lo = memt & ~(d - 1)
        blocks = None
        if bt is not None:
            loc = (lo[:, None] + np.arange(d)[None, :])[:, :, None] * K + np.arange(K)[None, None, :]
            blocks = _lab(bt, rows, loc.reshape(len(rows), -1))
        out.append(Phase(G[:, mem].ravel(), G[:, partner].ravel(), D * d / p, key=None, stage=st,
                         blocks=blocks))
        st += 1
    if r:
        rows = _rows_idx(g, r)
        blocks = _lab(bt, rows, np.broadcast_to(allb, (len(rows), nbl))) if bt is not None else None
        out.append(Phase(G[:, :r].ravel(), G[:, p:].ravel(), D, key=None, stage=st, blocks=blocks))
    return out


def hd_reduce_scatter_ph(G, D, bt=None, nbl=0):
    """Recursive-halving reduce-scatter (powers of two): log2 m steps, step t sends D/2**(t+1)."""
    g, m = G.shape
    if not _is_pow2(m):
        raise ScheduleError(f"hd reduce-scatter needs a power-of-two group, got {m} ranks; use ring")
    if m < 2:
        return []
    K = nbl // m if bt is not None else 0
    L = m.bit_length() - 1
    mem = np.arange(m)
    memt = np.tile(mem, g)
    rows = _rows_idx(g, m)
    out = []
    for t in range(L):
        d = m >> (t + 1)
        lo = memt & ~((m >> t) - 1)
        keep_upper = (memt & d) != 0
        send_lo = np.where(keep_upper, lo, lo + d)
        blocks = None
        if bt is not None:
            loc = (send_lo[:, None] + np.arange(d)[None, :])[:, :, None] * K + np.arange(K)[None, None, :]
            blocks = _lab(bt, rows, loc.reshape(len(rows), -1))
        out.append(Phase(G.ravel(), G[:, mem ^ d].ravel(), D * d / m, key=None, stage=t, reduce=True,
                         blocks=blocks, compute=D * d / m))
    return out


def rd_all_gather_ph(G, P, bt=None, nbl=0):
    """Recursive-doubling all-gather; Bruck's algorithm when m is not a power of two.

    Power of two: step t, member x exchanges its 2**t gathered pieces with x XOR 2**t.
    Otherwise (Bruck): step t, member x sends its first min(2**t, m - 2**t) pieces (x, x+1, ... mod m)
    to member x - 2**t; ceil(log2 m) steps, the same bytes as the ring; the final local rotation of
    Bruck's algorithm moves no data between ranks.
    """
    g, m = G.shape
    if m < 2:
        return []
    K = nbl // m if bt is not None else 0
    mem = np.arange(m)
    memt = np.tile(mem, g)
    rows = _rows_idx(g, m)
    out = []
    t = 0
    if _is_pow2(m):
        while (1 << t) < m:
            d = 1 << t
            lo = memt & ~(d - 1)
            blocks = None
            if bt is not None:
                loc = (lo[:, None] + np.arange(d)[None, :])[:, :, None] * K + np.arange(K)[None, None, :]
                blocks = _lab(bt, rows, loc.reshape(len(rows), -1))
            out.append(Phase(G.ravel(), G[:, mem ^ d].ravel(), P * d, key=None, stage=t, blocks=blocks))
            t += 1
        return out
    while (1 << t) < m:
        d = 1 << t
        cnt = min(d, m - d)
        blocks = None
        if bt is not None:
            pieces = (memt[:, None] + np.arange(cnt)[None, :]) % m
            loc = pieces[:, :, None] * K + np.arange(K)[None, None, :]
            blocks = _lab(bt, rows, loc.reshape(len(rows), -1))
        out.append(Phase(G.ravel(), G[:, (mem - d) % m].ravel(), P * cnt, key=None, stage=t,
                         blocks=blocks))
        t += 1
    return out


# ---------------------------------------------------------------------- trees


def btree_parents(m: int) -> np.ndarray:
    """Parent of each rank in NCCL's in-order binary tree over ranks 0..m-1 (root 0 has parent -1).

    Rank r with lowest set bit b has parent (r ^ b) | (b << 1), or r ^ b if that is out of range.
    """
    par = np.full(m, -1, dtype=np.int64)
    for r in range(1, m):
        b = r & -r
        up = (r ^ b) | (b << 1)
        if up >= m:
            up = r ^ b
        par[r] = up
    return par


def double_btree(m: int) -> tuple[np.ndarray, np.ndarray]:
    """The two complementary trees of NCCL's double binary tree (parent arrays over 0..m-1).

    Tree 0 is :func:`btree_parents`; tree 1 mirrors it (rank r <-> m-1-r) when m is even and shifts it
    by one when m is odd, so most interior ranks of one tree are leaves of the other.
    """
    p0 = btree_parents(m)
    p1 = np.full(m, -1, dtype=np.int64)
    if m % 2 == 0:
        for r in range(m):
            q = p0[m - 1 - r]
            p1[r] = -1 if q < 0 else m - 1 - q
    else:
        for r in range(m):
            q = p0[(r - 1) % m]
            p1[r] = -1 if q < 0 else (q + 1) % m
    return p0, p1


def _tree_levels(par: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(height, depth) of each node of a parent-array tree."""
    m = len(par)
    depth = np.zeros(m, dtype=np.int64)
    for r in range(m):
        d, x = 0, r
        while par[x] >= 0:
            x = par[x]
            d += 1
            if d > m:
                raise ScheduleError("internal: tree has a cycle")
        depth[r] = d
    height = np.zeros(m, dtype=np.int64)
    for r in np.argsort(-depth, kind="stable"):
        if par[r] >= 0:
            height[par[r]] = max(height[par[r]], height[r] + 1)
    return height, depth


def tree_ph(G, D, par, bt=None, nbl=0, chunks=1, chain=0, up=True, down=True):
    """Pipelined tree: reduce up to the root (``up``) and/or broadcast down from it (``down``).

    A node of height h sends chunk j to its parent at stage h; the root sends down at stage H (if
    ``up``) and a node at depth d forwards down at stage H + d (stage d without the reduce part).
    """
    g, m = G.shape
    c = chunks
    height, depth = _tree_levels(par)
    root = int(np.flatnonzero(par < 0)[0])
    H = int(height[root]) if up else 0
    size = D / c
    K = nbl // c if bt is not None else 0
    rows_all = np.arange(g)
    out = []
    for j in range(c):
        loc1 = j * K + np.arange(K)
        if up:
            for h in range(H):
                nodes = np.flatnonzero((height == h) & (par >= 0))
                if not len(nodes):
                    continue
                rows = np.repeat(rows_all, len(nodes))
                blocks = _lab(bt, rows, np.broadcast_to(loc1, (len(rows), K))) if bt is not None else None
                out.append(Phase(G[:, nodes].ravel(), G[:, par[nodes]].ravel(), size, key=None, chain=chain,
                                 chunk=j, stage=h, reduce=True, blocks=blocks, compute=2 * size))
        if down:
            for d in range(int(depth.max())):
                kids = np.flatnonzero(depth == d + 1)
                if not len(kids):
                    continue
                rows = np.repeat(rows_all, len(kids))
                blocks = _lab(bt, rows, np.broadcast_to(loc1, (len(rows), K))) if bt is not None else None
                out.append(Phase(G[:, par[kids]].ravel(), G[:, kids].ravel(), size, key=None, chain=chain,
                                 chunk=j, stage=H + d, blocks=blocks))
    return out


def dbt_all_reduce_ph(G, D, bt=None, nbl=0, chunks=1):
    """NCCL-style double binary tree all-reduce: each tree reduces and broadcasts half the bytes."""
    g, m = G.shape
    if m < 2:
        return []
    p0, p1 = double_btree(m)
    out = []
    for chain, par in enumerate((p0, p1)):
        sub = bt[:, chain * (nbl // 2):(chain + 1) * (nbl // 2)] if bt is not None else None
        out += tree_ph(G, D / 2, par, sub, nbl // 2, chunks, chain)
    return _sorted(out)


def _rooted_double_tree(m: int, root: int) -> tuple[np.ndarray, np.ndarray]:
    """Two complementary binary trees both rooted at ``root`` (for broadcast / reduce).

    Tree 0: NCCL's binary tree on ranks relabelled so the root is 0. Tree 1: the mirrored binary tree of
    the other m-1 ranks, whose own root hangs under ``root``.
    """
    lab = (np.arange(m) - root) % m  # label of each rank; root -> 0
    inv = (np.arange(m) + root) % m  # rank of each label
    p0 = np.full(m, -1, dtype=np.int64)
    b0 = btree_parents(m)
    for q in range(m):
        p0[inv[q]] = -1 if b0[q] < 0 else inv[b0[q]]
    p1 = np.full(m, -1, dtype=np.int64)
    if m > 1:
        b1 = btree_parents(m - 1)  # over labels 1..m-1 mirrored: x -> m-1-x
        for x in range(m - 1):
            q = m - 1 - x  # label
            px = b1[x]
            p1[inv[q]] = inv[0] if px < 0 else inv[m - 1 - px]
    del lab
    return p0, p1


def dbt_rooted_ph(G, D, root, bt=None, nbl=0, chunks=1, reduce=False):
    """Double-binary-tree broadcast (``reduce=False``) or reduce to ``root``: half the bytes per tree."""
    g, m = G.shape
    if m < 2:
        return []
    out = []
    for chain, par in enumerate(_rooted_double_tree(m, root)):
        sub = bt[:, chain * (nbl // 2):(chain + 1) * (nbl // 2)] if bt is not None else None
        out += tree_ph(G, D / 2, par, sub, nbl // 2, chunks, chain, up=reduce, down=not reduce)
    return _sorted(out)


# ---------------------------------------------------------------------- hierarchical


def _split_rows(G: np.ndarray, ids: np.ndarray) -> np.ndarray | None:
    """Positions matrix (g, parts, m1) grouping each row's members by part id ``ids[node]``.

    Returns None when the level does not split the rows (one part, or one member per part); raises
    :class:`ScheduleError` when the parts are of unequal sizes or rows differ in shape.
    """
    g, m = G.shape
    pid = ids[G]
    order = np.argsort(pid, axis=1, kind="stable")
    spid = np.take_along_axis(pid, order, axis=1)
    first = spid[0]
    _, counts = np.unique(first, return_counts=True)
    if len(counts) == 1 or counts.max() == 1:
        return None
    m1 = int(counts[0])
    if np.any(counts != m1):
        raise ScheduleError(
            f"hierarchical: the group's ranks are spread unevenly over the fabric's levels (parts of sizes "
            f"{sorted(set(counts.tolist()))}); use a group that fills whole trays, or algorithm='ring'"
        )
    parts = m // m1
    sp = spid.reshape(g, parts, m1)
    if np.any(sp != sp[:, :, :1]) or (parts > 1 and np.any(np.diff(sp[:, :, 0], axis=1) <= 0)):
        raise ScheduleError("hierarchical: the group's ranks are spread unevenly over the fabric's levels")
    return order.reshape(g, parts, m1)


def _col_table(bt, P, K):
    """Blocks of each column (row, i): pieces of positions P[row, a, i] for a = 0..parts-1."""
    g, parts, m1 = P.shape
    pos = np.transpose(P, (0, 2, 1))  # (g, m1, parts)
    loc = pos[..., None] * K + np.arange(K)  # (g, m1, parts, K)
    rows = np.repeat(np.arange(g), m1)
    return bt[rows[:, None], loc.reshape(g * m1, parts * K)]


def _intra_table(bt, P, K):
    """Blocks of each part (row, a): member i's piece is column i's data (layout i, a', q)."""
    g, parts, m1 = P.shape
    pos = np.transpose(P, (0, 2, 1))  # (g, m1, parts): member i, part a'
    loc = (pos[..., None] * K + np.arange(K)).reshape(g, m1 * parts * K)
    full = np.take_along_axis(bt, loc, axis=1)  # (g, nbl)
    return np.repeat(full, parts, axis=0)


def _flat_seg(phases: list[Phase]) -> list[list[Phase]]:
    return [_sorted(phases)] if phases else []


_INTRA_RS = {"direct": lambda G, D, bt, nbl, c: direct_reduce_scatter_ph(G, D, bt, nbl),
             "ring": lambda G, D, bt, nbl, c: ring_reduce_scatter_ph(G, D, bt, nbl, c, key="hrs")}
_INTRA_AG = {"direct": lambda G, P, bt, nbl, c: direct_all_gather_ph(G, P, bt, nbl),
             "ring": lambda G, P, bt, nbl, c: ring_all_gather_ph(G, P, bt, nbl, c, key="hag")}
_INTER_AR = {
    "ring": lambda G, D, bt, nbl, c: ring_all_reduce_ph(G, D, bt, nbl, c),
    "bidir": lambda G, D, bt, nbl, c: ring_all_reduce_ph(G, D, bt, nbl, c, bidirectional=True),
    "hd": lambda G, D, bt, nbl, c: hd_all_reduce_ph(G, D, bt, nbl),
    "dbt": lambda G, D, bt, nbl, c: dbt_all_reduce_ph(G, D, bt, nbl, c),
    "direct": lambda G, D, bt, nbl, c: direct_reduce_scatter_ph(G, D, bt, nbl)
    + direct_all_gather_ph(G, D / G.shape[1], bt, nbl, stage=1),
}
_INTER_AG = {
    "ring": lambda G, P, bt, nbl, c: ring_all_gather_ph(G, P, bt, nbl, c),
    "rd": lambda G, P, bt, nbl, c: rd_all_gather_ph(G, P, bt, nbl),
    "direct": lambda G, P, bt, nbl, c: direct_all_gather_ph(G, P, bt, nbl),
}
_INTER_RS = {
    "ring": lambda G, D, bt, nbl, c: ring_reduce_scatter_ph(G, D, bt, nbl, c),
    "hd": lambda G, D, bt, nbl, c: hd_reduce_scatter_ph(G, D, bt, nbl),
    "direct": lambda G, D, bt, nbl, c: direct_reduce_scatter_ph(G, D, bt, nbl),
}


def _pick(table: dict, name: str, what: str):
    f = table.get(name)
    if f is None:
        raise ScheduleError(f"{what}: unknown algorithm {name!r}; valid: {', '.join(sorted(table))}")
    return f


def _two_level(G, levels):
    """Only the innermost level that splits the group (two-level hierarchy: it, then the rest)."""
    for ids in levels:
        if _split_rows(G, ids) is not None:
            return [ids]
    return []


def hier_all_reduce_segs(G, D, levels, bt=None, nbl=0, intra="direct", inter="ring", chunks=1):
    """Multi-level all-reduce: reduce-scatter inside each level-0 part, all-reduce of the shares
    across parts per local rank (recursively over the next levels), all-gather back inside the part."""
    if not levels:
        return _flat_seg(_pick(_INTER_AR, inter, "inter")(G, D, bt, nbl, chunks))
    P = _split_rows(G, levels[0])
    if P is None:
        return hier_all_reduce_segs(G, D, levels[1:], bt, nbl, intra, inter, chunks)
    g, parts, m1 = P.shape
    rowsel = np.repeat(np.arange(g), parts)
    Gi = G[rowsel[:, None], P.reshape(g * parts, m1)]
    colsel = np.repeat(np.arange(g), m1)
    Gc = G[colsel[:, None], np.transpose(P, (0, 2, 1)).reshape(g * m1, parts)]
    bti = btc = None
    Kc = nbl // m1 if bt is not None else 0
    if bt is not None:
        # AR blocks are arbitrary: piece i of a part = the row's blocks [i*Kc, (i+1)*Kc)
        bti = np.repeat(bt, parts, axis=0)
        btc = bt.reshape(g, m1, Kc).reshape(g * m1, Kc)
    segs = _flat_seg(_pick(_INTRA_RS, intra, "intra")(Gi, D, bti, nbl, chunks))
    segs += hier_all_reduce_segs(Gc, D / m1, levels[1:], btc, Kc, intra, inter, chunks)
    segs += _flat_seg(_pick(_INTRA_AG, intra, "intra")(Gi, D / m1, bti, nbl, chunks))
    return segs


def _level_split(G, P, bt, nbl):
    """Cut group rows ``G`` (g x m) at one level, ``P`` (g x parts x m1 positions): the intra-part rows
    ``Gi`` ((g*parts) x m1), the cross-part rows per local rank ``Gc`` ((g*m1) x parts), and the block
    tables of each (``bti``, ``btc``; None without a table) with ``K`` blocks per rank."""
    g, parts, m1 = P.shape
    m = G.shape[1]
    rowsel = np.repeat(np.arange(g), parts)
    Gi = G[rowsel[:, None], P.reshape(g * parts, m1)]
    colsel = np.repeat(np.arange(g), m1)
    Gc = G[colsel[:, None], np.transpose(P, (0, 2, 1)).reshape(g * m1, parts)]
    K = nbl // m if bt is not None else 0
    btc = _col_table(bt, P, K) if bt is not None else None
    bti = _intra_table(bt, P, K) if bt is not None else None
    return parts, m1, Gi, Gc, K, bti, btc


def hier_all_gather_segs(G, S, levels, bt=None, nbl=0, intra="direct", inter="ring", chunks=1):
    """Multi-level all-gather (S = gathered bytes per row): all-gather across parts per local rank
    (recursively), then all-gather inside each level-0 part of everything gathered so far."""
    g, m = G.shape
    if not levels:
        return _flat_seg(_pick(_INTER_AG, inter, "inter")(G, S / m, bt, nbl, chunks))
    P = _split_rows(G, levels[0])
    if P is None:
        return hier_all_gather_segs(G, S, levels[1:], bt, nbl, intra, inter, chunks)
    parts, m1, Gi, Gc, K, bti, btc = _level_split(G, P, bt, nbl)
    segs = hier_all_gather_segs(Gc, S / m1, levels[1:], btc, parts * K, intra, inter, chunks)
    segs += _flat_seg(_pick(_INTRA_AG, intra, "intra")(Gi, S / m1, bti, nbl, chunks))
    return segs


def hier_reduce_scatter_segs(G, D, levels, bt=None, nbl=0, intra="direct", inter="ring", chunks=1):
    """Multi-level reduce-scatter (D = input bytes per rank): reduce-scatter inside each level-0 part
    into column shares, then reduce-scatter each share across parts per local rank (recursively)."""
    g, m = G.shape
    if not levels:
        return _flat_seg(_pick(_INTER_RS, inter, "inter")(G, D, bt, nbl, chunks))
    P = _split_rows(G, levels[0])
    if P is None:
        return hier_reduce_scatter_segs(G, D, levels[1:], bt, nbl, intra, inter, chunks)
    parts, m1, Gi, Gc, K, bti, btc = _level_split(G, P, bt, nbl)
    segs = _flat_seg(_pick(_INTRA_RS, intra, "intra")(Gi, D, bti, nbl, chunks))
    segs += hier_reduce_scatter_segs(Gc, D / m1, levels[1:], btc, parts * K, intra, inter, chunks)
    return segs


def hier_all_to_all_segs(G, D, levels, bt=None, nbl=0):
    """Two-level all-to-all over the outermost splitting level below the whole group (e.g. the leaf on
    a two-tier fabric, the tray on a fabric of trays): (1) inside each part, member i sends
    member j everything destined to local rank j of any part; (2) across parts per local rank j, each
    member sends part b everything its part holds for (b, j). Direct exchanges in both."""
    g, m = G.shape
    P = None
    for ids in reversed(levels):  # the outermost splitting level: fewest, largest cross-part messages
        P = _split_rows(G, ids)
        if P is not None:
            break
    if P is None:
        return _flat_seg(direct_all_to_all_ph(G, D, bt, nbl))
    g, parts, m1 = P.shape
    K = nbl // (m * m) if bt is not None else 0
    ph: list[Phase] = []
    # stage 1: inside part a, (a,i) -> (a,j), j != i: m/m1 = parts blocks of D/m
    ii, jj = np.nonzero(~np.eye(m1, dtype=bool))
    a = np.arange(parts)
    r_ = np.repeat(np.arange(g), parts * len(ii))
    a_ = np.tile(np.repeat(a, len(ii)), g)
    i_ = np.tile(ii, g * parts)
    j_ = np.tile(jj, g * parts)
    srcp = P[r_, a_, i_]
    dstp = P[r_, a_, j_]
    blocks = None
    if bt is not None:
        dests = P[r_[:, None], np.arange(parts)[None, :], j_[:, None]]  # (F, parts) positions (b, j)
        loc = (srcp[:, None] * m + dests)[..., None] * K + np.arange(K)
        blocks = bt[r_[:, None], loc.reshape(len(r_), -1)]
    if len(ii):
        ph.append(Phase(G[r_, srcp], G[r_, dstp], D / m * parts, key="ha2a1", stage=0, blocks=blocks))
    # stage 2: column j, (a,j) -> (b,j), b != a: m1 blocks of D/m (from every (a, i'))
    aa, bb = np.nonzero(~np.eye(parts, dtype=bool))
    r_ = np.repeat(np.arange(g), m1 * len(aa))
    j_ = np.tile(np.repeat(np.arange(m1), len(aa)), g)
    a_ = np.tile(aa, g * m1)
    b_ = np.tile(bb, g * m1)
    srcp = P[r_, a_, j_]
    dstp = P[r_, b_, j_]
    blocks = None
    if bt is not None:
        origins = P[r_[:, None], a_[:, None], np.arange(m1)[None, :]]  # (F, m1) positions (a, i')
        loc = (origins * m + dstp[:, None])[..., None] * K + np.arange(K)
        blocks = bt[r_[:, None], loc.reshape(len(r_), -1)]
    if len(aa):
        ph.append(Phase(G[r_, srcp], G[r_, dstp], D / m * m1, key="ha2a2", stage=1, blocks=blocks))
    return [[p] for p in ph]


# ---------------------------------------------------------------------- in-network reduction


def inr_tree(fab, group: np.ndarray) -> list[tuple[float, list[tuple[np.ndarray, np.ndarray]]]]:
    """Reduction trees through the switches for a group of chips (SHARP / NVLS style).

    The data is cut into slices: a chip sends an equal slice to each of its switch neighbours (sorted by
    plane then node index); a switch holding a slice from several children forwards the reduced slice
    to its own upper neighbours (tier above), cut again evenly, until one switch holds all of a slice.
    Returns a list of (fraction of the data, levels of (child, parent) edge arrays, bottom first).
    """
    g = fab.graph
    nodes = fab.nodes
    out_ptr, out_dst, _ = fab._out_csr
    is_switch = np.zeros(fab.n_nodes, dtype=bool)
    is_switch[fab.n_chips:] = True
    tier = np.zeros(fab.n_nodes, dtype=np.int64)
    plane = np.full(fab.n_nodes, -1, dtype=np.int64)
    for i in range(fab.n_chips, fab.n_nodes):
        a = g.nodes[nodes[i]]
        tier[i] = int(a.get("tier", 1))
        p = a.get("plane")
        plane[i] = int(p) if isinstance(p, (int, np.integer)) else -1

    def ups(x: int) -> list[int]:
        nb = out_dst[out_ptr[x]:out_ptr[x + 1]]
        nb = [int(v) for v in nb if is_switch[v] and tier[v] > tier[x]]
        return sorted(set(nb), key=lambda v: (plane[v], v))

    # each work item: (fraction, holders (node array), levels so far)
    work = [(1.0, np.unique(group), [])]
    done = []
    while work:
        frac, holders, levels = work.pop()
        if len(holders) == 1 and levels:
            done.append((frac, levels))
            continue
        up = [ups(int(h)) for h in holders]
        k = len(up[0])
        if k == 0 or any(len(u) != k for u in up):
            raise ScheduleError(
                "in-network reduction: the group's chips (or switches) do not all reach the same number "
                "of upper switches; the fabric has no regular reduction tree for this group"
            )
        U = np.asarray(up, dtype=np.int64)  # (holders, k)
        for j in range(k):
            parents = U[:, j]
            work.append((frac / k, np.unique(parents), levels + [(holders.copy(), parents.copy())]))
        if len(done) + len(work) > 100000:
            raise ScheduleError("in-network reduction: too many reduction slices")
    done.sort(key=lambda t: [tuple(lv[1].tolist()) for lv in t[1]])
    return done


def inr_phases(fab, G, D, op="all_reduce", bt=None, nbl=0, chunks=1):
    """In-network all-reduce: chips send each slice up once, switches reduce and send the result down.

    Slice s with L levels: stage l (0..L-1) sends the chunk up level l (children -> parents, reduced at
    the parent); stage L + l sends it down level L-1-l (parents -> children, multicast by the switch).
    """
    g, m = G.shape
    if g != 1:
        raise ScheduleError("internal: in-network reduction compiles one group at a time")
    trees = inr_tree(fab, G[0])
    c = chunks
    out = []
    K = nbl // (len(trees) * c) if bt is not None else 0
    for s, (frac, levels) in enumerate(trees):
        L = len(levels)
        size = D * frac / c
        for j in range(c):
            blocks = None
            loc = (s * c + j) * K + np.arange(K)
            for lvl, (child, parent) in enumerate(levels):
                if bt is not None:
                    blocks = bt[np.zeros(len(child), dtype=np.int64)[:, None], np.broadcast_to(loc, (len(child), K))]
                out.append(Phase(child, parent, size, key=None, chain=s, chunk=j, stage=lvl, reduce=True,
                                 blocks=blocks))
            for d in range(L):
                child, parent = levels[L - 1 - d]
                if bt is not None:
                    blocks = bt[np.zeros(len(child), dtype=np.int64)[:, None], np.broadcast_to(loc, (len(child), K))]
                out.append(Phase(parent, child, size, key=None, chain=s, chunk=j, stage=L + d, blocks=blocks))
    return _sorted(out), len(trees)


# ---------------------------------------------------------------------- registry

COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "reduce", "send_recv")

#: (collective, name) -> function(group, size, fabric, **opts) -> Schedule
ALGORITHMS: dict[tuple[str, str], Callable[..., Schedule]] = {}
#: (collective, name) -> one-line description (for the CLI and docs)
DESCRIPTIONS: dict[tuple[str, str], str] = {}


def register(collective: str, name: str, doc: str):
    def deco(fn):
        ALGORITHMS[(collective, name)] = fn
        DESCRIPTIONS[(collective, name)] = doc
        fn.collective = collective
        fn.algorithm = name
        return fn

    return deco


def _int_opt(opts: dict, name: str, default: int) -> int:
    v = opts.pop(name, default)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ScheduleError(f"{name}: must be a positive integer, got {v!r}")
    return int(v)


def _root_opt(opts: dict, m: int) -> int:
    v = opts.pop("root", 0)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < m:
        raise ScheduleError(f"root: must be a rank position 0..{m - 1} of the group, got {v!r}")
    return int(v)


def _no_more(opts: dict, what: str) -> None:
    opts.pop("symbolic", None)
    if opts:
        raise ScheduleError(f"{what}: unknown option(s) {', '.join(sorted(opts))}")


def _G(group) -> np.ndarray:
    """A group (1-D) or a batch of equal-sized groups (2-D, one per row) as an int64 matrix."""
    G = np.asarray(group, dtype=np.int64)
    return G[None, :] if G.ndim == 1 else G


def _table(nbl: int, symbolic: bool, g: int = 1) -> np.ndarray | None:
    """Block table of g rows (each row's local blocks are global blocks 0..nbl-1; rows are disjoint)."""
    return np.repeat(np.arange(nbl, dtype=np.int64)[None, :], g, axis=0) if symbolic else None


def _tile_table(bt, g):
    return None if bt is None else np.repeat(bt, g, axis=0)


def _sched(coll, name, group, size, segs, nbl, symbolic, params, root=None) -> Schedule:
    G = _G(group)
    return Schedule(coll, name, G[0].copy(), float(size), segs, n_blocks=nbl if symbolic else 0, root=root,
                    params=params, rows=G if G.shape[0] > 1 else None)


def _levels(fab, group) -> list[np.ndarray]:
    """Part id per node index for each level of ``fab.levels()`` below the top."""
    if hasattr(fab, "levels"):
        lv = fab.levels()
    else:  # pragma: no cover - older Fabric
        lv = [[list(np.flatnonzero(fab.trays == t)) for t in np.unique(fab.trays)], [list(range(fab.n_chips))]]
    out = []
    for level in lv[:-1]:
        ids = np.full(fab.n_nodes, -1, dtype=np.int64)
        for k, part in enumerate(level):
            ids[np.asarray(part, dtype=np.int64)] = k
        out.append(ids)
    return out


def _hier_levels(fabric, G: np.ndarray, multilevel: bool = True) -> list[np.ndarray]:
    """Levels a hierarchical schedule of the rows of ``G`` splits over (all of them, or the two-level cut)."""
    levels = _levels(fabric, G[0])
    if not any(_split_rows(G, ids) is not None for ids in levels):
        raise ScheduleError("hier: the group lies inside one part of every level (e.g. one tray); use direct")
    return levels if multilevel else _two_level(G, levels)


def _single(coll: str, name: str, doc: str, builder, blocks, piece: bool = False):
    """Register an option-free algorithm whose phases come from one ``builder(G, size, bt, nbl)`` call.

    ``blocks(m)`` is the number of symbolic blocks for a group of m ranks; ``piece`` passes size/m (bytes
    per rank's piece) to the builder instead of size (bytes).
    """

    @register(coll, name, doc)
    def fn(group, size, fabric, symbolic=False, **opts):
        _no_more(opts, name)
        G = _G(group)
        m = G.shape[1]
        nbl = blocks(m)
        ph = builder(G, size / m if piece else size, _table(nbl, symbolic, G.shape[0]), nbl)
        return _sched(coll, name, group, size, _flat_seg(ph), nbl, symbolic, {})

    return fn


@register("all_reduce", "ring", "ring reduce-scatter + ring all-gather; chunks= pipelining, bidirectional=")
def ar_ring(group, size, fabric, symbolic=False, chunks=1, bidirectional=False, **opts):
    _no_more(opts, "ring")
    G = _G(group)
    m = G.shape[1]
    c = _int_opt({"chunks": chunks}, "chunks", 1)
    nbl = m * c * (2 if bidirectional else 1)
    ph = ring_all_reduce_ph(G, size, _table(nbl, symbolic, G.shape[0]), nbl, c, bool(bidirectional))
    return _sched("all_reduce", "ring", group, size, _flat_seg(ph), nbl, symbolic,
                  {"chunks": c, "bidirectional": bool(bidirectional)})


@register("all_reduce", "bidir", "bidirectional ring: half the bytes each way round the ring")
def ar_bidir(group, size, fabric, symbolic=False, chunks=1, **opts):
    s = ar_ring(group, size, fabric, symbolic=symbolic, chunks=chunks, bidirectional=True, **opts)
    s.algorithm = "bidir"
    return s


@register("all_reduce", "hd", "Rabenseifner recursive halving-doubling (non-powers of two: fold the extras)")
def ar_hd(group, size, fabric, symbolic=False, **opts):
    _no_more(opts, "hd")
    G = _G(group)
    m = G.shape[1]
    nbl = 1 << (m.bit_length() - 1)
    ph = hd_all_reduce_ph(G, size, _table(nbl, symbolic, G.shape[0]), nbl)
    return _sched("all_reduce", "hd", group, size, _flat_seg(ph), nbl, symbolic, {})


@register("all_reduce", "dbt", "NCCL-style double binary tree, half the bytes per tree; chunks= pipelining")
def ar_dbt(group, size, fabric, symbolic=False, chunks=1, **opts):
    _no_more(opts, "dbt")
    c = _int_opt({"chunks": chunks}, "chunks", 1)
    G = _G(group)
    nbl = 2 * c
    ph = dbt_all_reduce_ph(G, size, _table(nbl, symbolic, G.shape[0]), nbl, c)
    return _sched("all_reduce", "dbt", group, size, _flat_seg(ph), nbl, symbolic, {"chunks": c})


@register("all_reduce", "direct", "two-shot: direct reduce-scatter then direct all-gather (2 steps)")
def ar_direct(group, size, fabric, symbolic=False, **opts):
    _no_more(opts, "direct")
    G = _G(group)
    m = G.shape[1]
    bt = _table(m, symbolic, G.shape[0])
    segs = _flat_seg(direct_reduce_scatter_ph(G, size, bt, m)) + _flat_seg(
        direct_all_gather_ph(G, size / m, bt, m))
    return _sched("all_reduce", "direct", group, size, segs, m, symbolic, {})


ar_oneshot = _single("all_reduce", "oneshot", "one-shot: every rank sends its whole buffer to every other rank",
                     oneshot_all_reduce_ph, lambda m: 1)


def _hier_nbl_ar(G, levels, inter, c):
    """Blocks needed by a hierarchical all-reduce so that every level divides them evenly."""
    mult = 1
    H = G
    for ids in levels:
        P = _split_rows(H, ids)
        if P is None:
            continue
        g, parts, m1 = P.shape
        mult *= m1
        H = H[np.repeat(np.arange(g), m1)[:, None], np.transpose(P, (0, 2, 1)).reshape(g * m1, parts)]
    top = H.shape[1]
    inner = {"ring": top * c, "bidir": 2 * top * c, "hd": 1 << (top.bit_length() - 1), "dbt": 2 * c,
             "direct": top}.get(inter, top * c)
    return mult * max(inner, 1)


@register("all_reduce", "hier", "hierarchical: reduce-scatter in tray, all-reduce across (per level), all-gather")
def ar_hier(group, size, fabric, symbolic=False, chunks=1, intra="direct", inter="ring", multilevel=False,
        **opts):
    _no_more(opts, "hier")
    c = _int_opt({"chunks": chunks}, "chunks", 1)
    G = _G(group)
    levels = _hier_levels(fabric, G, multilevel)
    nbl = _hier_nbl_ar(G, levels, inter, c) if symbolic else 0
    segs = hier_all_reduce_segs(G, size, levels, _table(nbl, symbolic, G.shape[0]), nbl, intra, inter, c)
    return _sched("all_reduce", "hier", group, size, segs, nbl, symbolic,
                  {"chunks": c, "intra": intra, "inter": inter, "multilevel": bool(multilevel)})


@register("all_reduce", "inr", "in-network reduction: chips send up once, switches reduce and send down")
def ar_inr(group, size, fabric, symbolic=False, chunks=8, **opts):
    _no_more(opts, "inr")
    if not fabric.switch_can_reduce:
        raise ScheduleError(f"inr: the switches of {fabric.name!r} cannot reduce (switch_can_reduce is False)")
    c = _int_opt({"chunks": chunks}, "chunks", 8)
    G = _G(group)
    n_slices = len(inr_tree(fabric, G[0]))
    nbl = n_slices * c
    ph, _ = inr_phases(fabric, G, size, "all_reduce", _table(nbl, symbolic, G.shape[0]), nbl, c)
    return _sched("all_reduce", "inr", group, size, _flat_seg(ph), nbl, symbolic, {"chunks": c})


# all-gather ---------------------------------------------------------------------------------------
@register("all_gather", "ring", "ring all-gather (m-1 steps); chunks= pipelining")
def ag_ring(group, size, fabric, symbolic=False, chunks=1, **opts):
    _no_more(opts, "ring")
    c = _int_opt({"chunks": chunks}, "chunks", 1)
    G = _G(group)
    m = G.shape[1]
    nbl = m * c
    ph = ring_all_gather_ph(G, size / m, _table(nbl, symbolic, G.shape[0]), nbl, c, key="ring")
    return _sched("all_gather", "ring", group, size, _flat_seg(_sorted(ph)), nbl, symbolic, {"chunks": c})


ag_rd = _single("all_gather", "rd", "recursive doubling (Bruck's algorithm for non-powers of two)",
                rd_all_gather_ph, lambda m: m, piece=True)
ag_direct = _single("all_gather", "direct", "every rank sends its piece to every other rank at once",
                    direct_all_gather_ph, lambda m: m, piece=True)


def _hier_pieces(coll: str, doc: str, segs_fn):
    """Register the hierarchical all-gather / reduce-scatter (m * chunks blocks; same options)."""

    @register(coll, "hier", doc)
    def fn(group, size, fabric, symbolic=False, chunks=1, intra="direct", inter="ring", multilevel=False,
           **opts):
        _no_more(opts, "hier")
        c = _int_opt({"chunks": chunks}, "chunks", 1)
        G = _G(group)
        levels = _hier_levels(fabric, G, multilevel)
        nbl = G.shape[1] * c
        segs = segs_fn(G, size, levels, _table(nbl, symbolic, G.shape[0]), nbl, intra, inter, c)
        return _sched(coll, "hier", group, size, segs, nbl, symbolic,
                      {"chunks": c, "intra": intra, "inter": inter, "multilevel": bool(multilevel)})

    return fn


ag_hier = _hier_pieces("all_gather", "hierarchical: all-gather across trays per local rank, then inside the tray",
                       hier_all_gather_segs)


# reduce-scatter -----------------------------------------------------------------------------------
@register("reduce_scatter", "ring", "ring reduce-scatter (m-1 steps); chunks= pipelining")
def rs_ring(group, size, fabric, symbolic=False, chunks=1, **opts):
    _no_more(opts, "ring")
    c = _int_opt({"chunks": chunks}, "chunks", 1)
    G = _G(group)
    m = G.shape[1]
    nbl = m * c
    ph = ring_reduce_scatter_ph(G, size, _table(nbl, symbolic, G.shape[0]), nbl, c, key="ring")
    return _sched("reduce_scatter", "ring", group, size, _flat_seg(_sorted(ph)), nbl, symbolic, {"chunks": c})


rs_hd = _single("reduce_scatter", "hd", "recursive halving (powers of two only)", hd_reduce_scatter_ph,
                lambda m: m)
rs_direct = _single("reduce_scatter", "direct", "every rank sends piece j to rank j at once",
                    direct_reduce_scatter_ph, lambda m: m)


rs_hier = _hier_pieces("reduce_scatter", "hierarchical: reduce-scatter inside the tray, then across trays",
                       hier_reduce_scatter_segs)


def _ml(coll, base, doc):
    @register(coll, "hier_ml", doc)
    def fn_ml(group, size, fabric, symbolic=False, chunks=1, intra="direct", inter="ring", **opts):
        levels = _levels(fabric, _G(group)[0])
        if sum(_split_rows(_G(group), ids) is not None for ids in levels) < 2:
            raise ScheduleError("hier_ml: the group spans fewer than two splitting levels; use hier")
        s = base(group, size, fabric, symbolic=symbolic, chunks=chunks, intra=intra, inter=inter,
                 multilevel=True, **opts)
        s.algorithm = "hier_ml"
        return s

    return fn_ml


_ml("all_reduce", ar_hier, "multi-level hierarchical over every level of fab.levels() (tray, leaf, ...)")
_ml("all_gather", ag_hier, "multi-level hierarchical all-gather over every level of fab.levels()")
_ml("reduce_scatter", rs_hier, "multi-level hierarchical reduce-scatter over every level of fab.levels()")


# all-to-all ---------------------------------------------------------------------------------------
a2a_direct = _single("all_to_all", "direct", "every rank sends size/n to every other rank at once",
                     direct_all_to_all_ph, lambda m: m * m)
a2a_pairwise = _single("all_to_all", "pairwise", "pairwise exchange: m-1 steps, step s sends to rank r+s",
                       pairwise_all_to_all_ph, lambda m: m * m)


@register("all_to_all", "hier", "two-level: aggregate inside the tray, then exchange across trays per rank")
def a2a_hier(group, size, fabric, symbolic=False, **opts):
    _no_more(opts, "hier")
    G = _G(group)
    m = G.shape[1]
    levels = _hier_levels(fabric, G)
    segs = hier_all_to_all_segs(G, size, levels, _table(m * m, symbolic, G.shape[0]), m * m)
    return _sched("all_to_all", "hier", group, size, segs, m * m, symbolic, {})


# broadcast / reduce -------------------------------------------------------------------------------
def _rooted(coll, name, doc, builder, default_chunks=1):
    reduce = coll == "reduce"

    @register(coll, name, doc)
    def fn(group, size, fabric, symbolic=False, **opts):
        G = _G(group)
        m = G.shape[1]
        root = _root_opt(opts, m)
        c = _int_opt(opts, "chunks", default_chunks) if builder != "direct" else 1
        _no_more(opts, name)
        if builder == "chain":
            nbl = c
            ph = chain_ph(G, size, root, _table(nbl, symbolic, G.shape[0]), nbl, c, reduce)
        elif builder == "dbt":
            nbl = 2 * c
            ph = dbt_rooted_ph(G, size, root, _table(nbl, symbolic, G.shape[0]), nbl, c, reduce)
        else:
            nbl = 1
            ph = direct_root_ph(G, size, root, _table(1, symbolic, G.shape[0]), 1, reduce)
        return _sched(coll, name, group, size, _flat_seg(ph), nbl, symbolic, {"chunks": c, "root": root},
                      root=root)

    fn.options = ("root",) if builder == "direct" else ("root", "chunks")
    return fn


for _c in ("broadcast", "reduce"):
    _rooted(_c, "ring", "pipelined chain from/to the root; chunks= pipelining", "chain")
    _rooted(_c, "dbt", "double binary tree rooted at the root, half the bytes per tree; chunks=", "dbt")
    _rooted(_c, "direct", "the root sends to (receives from) every rank at once", "direct")


@register("send_recv", "direct", "one flow from the first rank of the group to the second; chunks= ignored")
def sr_direct(group, size, fabric, symbolic=False, **opts):
    opts.pop("chunks", None)
    _no_more(opts, "send_recv")
    g = _G(group)
    if g.shape[1] != 2:
        raise ScheduleError(f"send_recv: the group must name exactly 2 chips (sender, receiver), got {g.shape[1]}")
    blocks = np.zeros((g.shape[0], 1), dtype=np.int64) if symbolic else None
    ph = [Phase(g[:, 0], g[:, 1], size, key="sr", blocks=blocks)]
    return _sched("send_recv", "direct", g, size, [ph], 1, symbolic, {})


def algorithms_for(collective: str) -> list[str]:
    """Registered algorithm names of one collective."""
    return [n for (c, n) in ALGORITHMS if c == collective]


def describe() -> dict[str, Any]:
    """{collective: {name: description}} of the registry."""
    out: dict[str, Any] = {}
    for (c, n), d in DESCRIPTIONS.items():
        out.setdefault(c, {})[n] = d
    return out
