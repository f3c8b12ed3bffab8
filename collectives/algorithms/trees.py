"""Binary trees: NCCL's double binary tree all-reduce, and the pipelined tree every tree algorithm uses.

Notation: ``m`` ranks per group, ``g`` groups (rows), ``c`` chunks, ``K`` blocks per chunk in symbolic
mode; a tree is a *parent array* over rank positions 0..m-1 (the root's parent is -1); ``height`` of a
node is its distance to its deepest leaf, ``depth`` its distance to the root. Closed forms: ``n`` ranks,
``S`` bytes, ``B`` bytes/s of a rank's single full-duplex port, ``alpha`` s per step.

Reference: Sanders, Speck and Traeff, "Two-tree algorithms for full bandwidth broadcast, reduction and
scan", Parallel Computing 35(12), 2009; NCCL 2.4 double binary trees (NVIDIA developer blog, "Massively
scale your deep learning training with NCCL 2.4", 2019).
"""

from __future__ import annotations

import numpy as np

from ..schedule import Phase
from .registry import CHUNKS, flat_segment, label, register, sort_phases


def btree_parents(m: int) -> np.ndarray:
    """Parent of each rank in NCCL's in-order binary tree over ranks 0..m-1 (root 0 has parent -1).

    Rank r with lowest set bit b has parent (r ^ b) | (b << 1), or r ^ b if that is out of range.
    """
    parent = np.full(m, -1, dtype=np.int64)
    for r in range(1, m):
        b = r & -r
        up = (r ^ b) | (b << 1)
        if up >= m:
            up = r ^ b
        parent[r] = up
    return parent


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


def tree_levels(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(height, depth) of each node of a parent-array tree.

    Raises:
        RuntimeError: the parent array has a cycle (not a tree).
    """
    m = len(parent)
    depth = np.zeros(m, dtype=np.int64)
    for r in range(m):
        d, x = 0, r
        while parent[x] >= 0:
            x = parent[x]
            d += 1
            if d > m:
                raise RuntimeError("tree_levels: the parent array has a cycle")
        depth[r] = d
    height = np.zeros(m, dtype=np.int64)
    for r in np.argsort(-depth, kind="stable"):
        if parent[r] >= 0:
            height[parent[r]] = max(height[parent[r]], height[r] + 1)
    return height, depth


def tree_phases(rows, size, parent, block_table=None, n_blocks=0, chunks=1, chain=0, up=True, down=True):
    """Pipelined tree: reduce up to the root (``up``) and/or broadcast down from it (``down``).

    A node of height h sends chunk j to its parent at stage h; the root sends down at stage H (if
    ``up``) and a node at depth d forwards down at stage H + d (stage d without the reduce part).
    """
    g, m = rows.shape
    c = chunks
    height, depth = tree_levels(parent)
    root = int(np.flatnonzero(parent < 0)[0])
    H = int(height[root]) if up else 0
    chunk_bytes = size / c
    K = n_blocks // c if block_table is not None else 0
    all_rows = np.arange(g)
    # each level's flows are the same for every chunk: built once, shared by the chunks' phases (auto's 64-chunk
    # candidates rebuilt them 64 times a compile). Not flagged read-only: the engine's numba kernels would compile a
    # second, read-only specialisation; nothing writes into a phase's arrays
    ups, downs = [], []
    if up:
        for h in range(H):
            nodes = np.flatnonzero((height == h) & (parent >= 0))
            if len(nodes):
                ups.append((h, len(nodes), rows[:, nodes].ravel(), rows[:, parent[nodes]].ravel()))
    if down:
        for d in range(int(depth.max())):
            kids = np.flatnonzero(depth == d + 1)
            if len(kids):
                downs.append((d, len(kids), rows[:, parent[kids]].ravel(), rows[:, kids].ravel()))
    out = []
    for j in range(c):
        chunk_blocks = j * K + np.arange(K)
        for h, k, src, dst in ups:
            flow_row = np.repeat(all_rows, k)
            blocks = (label(block_table, flow_row, np.broadcast_to(chunk_blocks, (len(flow_row), K)))
                      if block_table is not None else None)
            out.append(Phase(src, dst, chunk_bytes, key=None,
                             chain=chain, chunk=j, stage=h, reduce=True, blocks=blocks, compute=2 * chunk_bytes))
        for d, k, src, dst in downs:
            flow_row = np.repeat(all_rows, k)
            blocks = (label(block_table, flow_row, np.broadcast_to(chunk_blocks, (len(flow_row), K)))
                      if block_table is not None else None)
            out.append(Phase(src, dst, chunk_bytes, key=None,
                             chain=chain, chunk=j, stage=H + d, blocks=blocks))
    return out


def double_tree_phases(rows, size, trees, block_table=None, n_blocks=0, chunks=1, up=True, down=True):
    """Two pipelined trees (chains 0 and 1), each carrying half the bytes and half the blocks."""
    if rows.shape[1] < 2:
        return []
    out = []
    half = n_blocks // 2
    for chain, parent in enumerate(trees):
        sub = block_table[:, chain * half:(chain + 1) * half] if block_table is not None else None
        out += tree_phases(rows, size / 2, parent, sub, half, chunks, chain, up=up, down=down)
    return sort_phases(out)


# ---------------------------------------------------------------------- closed form


def port_slot_loads(n: int, trees: list[np.ndarray], up: bool, down: bool, chunks: int) -> np.ndarray:
    """Busiest port load (in chunks) per pipeline slot of pipelined trees, one full-duplex port per rank."""
    loads: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for parent in trees:
        height, depth = tree_levels(parent)
        root = int(np.flatnonzero(parent < 0)[0])
        H = int(height[root]) if up else 0
        for j in range(chunks):
            sends = []
            if up:
                for r in range(n):
                    if parent[r] >= 0:
                        sends.append((int(height[r]) + j, r, int(parent[r])))
            if down:
                for r in range(n):
                    if parent[r] >= 0:
                        sends.append((H + int(depth[r]) - 1 + j, int(parent[r]), r))
            for slot, a, b in sends:
                out, inn = loads.setdefault(slot, (np.zeros(n), np.zeros(n)))
                out[a] += 1
                inn[b] += 1
    return np.array([max(o.max(), i.max()) for _, (o, i) in sorted(loads.items())])


def double_tree_time(n, size, bandwidth, latency, trees, chunks=1, up=True, down=True):
    """Sum over pipeline slots of (busiest port's chunks) * S/(2cB) + alpha."""
    loads = port_slot_loads(n, list(trees), up, down, chunks)
    return float(np.sum(loads * (size / (2 * chunks * bandwidth)) + latency))


def double_tree_all_reduce_time(n, size, bandwidth, latency=0.0, chunks=1, **_):
    """Double binary tree all-reduce: each tree reduces up and broadcasts down half the bytes."""
    if n == 1:
        return 0.0
    return double_tree_time(n, size, bandwidth, latency, double_btree(n), chunks)


# ---------------------------------------------------------------------- registered algorithm


@register("all_reduce", "dbt", "NCCL-style double binary tree, half the bytes per tree; chunks= pipelining",
          n_blocks=lambda rows, fabric, o: 2 * o["chunks"], closed_form=double_tree_all_reduce_time,
          options=(CHUNKS,), auto_chunks=True)
def double_tree_all_reduce(rows, size, fabric, block_table, n_blocks, *, chunks):
    """NCCL's double binary tree all-reduce: two complementary trees, each reduces and broadcasts S/2.

    Steps: per tree and chunk, a node of height h sends S/(2c) bytes to its parent at stage h (the parent
    adds), then the root's result flows down, a node at depth d receiving it at stage H + d - 1.
    Most interior ranks of one tree are leaves of the other, so each port carries about S in each
    direction.

    Closed form: sum over pipeline slots of (the busiest port's chunks in the slot) * S/(2cB) + alpha
    (:func:`port_slot_loads`; about 2 S/B + 2 log2(n) alpha for c = 1).

    Reference: Sanders, Speck and Traeff, Parallel Computing 2009; NCCL 2.4 double binary trees.
    """
    return flat_segment(double_tree_phases(rows, size, double_btree(rows.shape[1]), block_table, n_blocks, chunks))
