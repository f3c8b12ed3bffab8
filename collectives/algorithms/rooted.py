"""Rooted collectives: broadcast from and reduce to the rank at position ``root`` of the group.

Notation: ``m`` ranks per group, ``g`` groups (rows), ``c`` chunks, ``K`` blocks per chunk in symbolic
mode; closed forms: ``n`` ranks, ``S`` bytes, ``B`` bytes/s of a rank's single port, ``alpha`` s per step.

Reference: Thakur, Rabenseifner and Gropp, "Optimization of collective communication operations in
MPICH", IJHPCA 19(1), 2005 (pipelined chain); Sanders, Speck and Traeff, "Two-tree algorithms for full
bandwidth broadcast, reduction and scan", Parallel Computing 35(12), 2009; NCCL ring and tree
broadcast / reduce.
"""

from __future__ import annotations

import numpy as np

from ..schedule import Phase
from .registry import CHUNKS, ROOT, flat_segment, label, one_block, register, row_index, sort_phases
from .trees import btree_parents, double_tree_phases, double_tree_time


def chain_phases(rows, size, root, block_table=None, n_blocks=0, chunks=1, reduce=False, chain=0):
    """Pipelined chain (ring broadcast / ring reduce) rooted at member ``root`` of every row.

    Broadcast: positions root, root+1, ... each forward chunk j one step later (stage t: position t
    sends to t+1). Reduce: the reverse, towards the root, adding on the way.
    """
    g, m = rows.shape
    if m < 2:
        return []
    c = chunks
    chunk_bytes = size / c
    K = n_blocks // c if block_table is not None else 0
    order = (root + np.arange(m)) % m
    all_rows = np.arange(g)
    out = []
    for j in range(c):
        for t in range(m - 1):
            if reduce:
                a, b = order[m - 1 - t], order[m - 2 - t]
            else:
                a, b = order[t], order[t + 1]
            blocks = (label(block_table, all_rows, np.broadcast_to(j * K + np.arange(K), (g, K)))
                      if block_table is not None else None)
            out.append(Phase(rows[:, a], rows[:, b], chunk_bytes, key=None, chain=chain, chunk=j, stage=t,
                             reduce=reduce, blocks=blocks, compute=chunk_bytes if reduce else 0.0))
    return sort_phases(out)


def direct_root_phases(rows, size, root, block_table=None, n_blocks=0, reduce=False):
    """Direct broadcast (the root sends ``size`` bytes to everyone) or reduce (everyone sends to the root)."""
    g, m = rows.shape
    if m < 2:
        return []
    others = np.array([k for k in range(m) if k != root])
    root_of_flow = np.repeat(rows[:, root][:, None], m - 1, axis=1).ravel()
    other_of_flow = rows[:, others].ravel()
    blocks = None
    if block_table is not None:
        flow_row = row_index(g, m - 1)
        blocks = label(block_table, flow_row, np.broadcast_to(np.arange(n_blocks), (len(flow_row), n_blocks)))
    if reduce:
        return [Phase(other_of_flow, root_of_flow, size, key="dred", reduce=True, blocks=blocks,
                      compute=size * (m - 1))]
    return [Phase(root_of_flow, other_of_flow, size, key="dbc", blocks=blocks)]


def rooted_double_tree(m: int, root: int) -> tuple[np.ndarray, np.ndarray]:
    """Two complementary binary trees both rooted at ``root`` (for broadcast / reduce).

    Tree 0: NCCL's binary tree on ranks relabelled so the root is 0. Tree 1: the mirrored binary tree of
    the other m-1 ranks, whose own root hangs under ``root``.
    """
    rank_of_label = (np.arange(m) + root) % m  # label 0 is the root
    p0 = np.full(m, -1, dtype=np.int64)
    b0 = btree_parents(m)
    for q in range(m):
        p0[rank_of_label[q]] = -1 if b0[q] < 0 else rank_of_label[b0[q]]
    p1 = np.full(m, -1, dtype=np.int64)
    if m > 1:
        b1 = btree_parents(m - 1)  # over labels 1..m-1 mirrored: x -> m-1-x
        for x in range(m - 1):
            q = m - 1 - x  # label
            px = b1[x]
            p1[rank_of_label[q]] = rank_of_label[0] if px < 0 else rank_of_label[m - 1 - px]
    return p0, p1


# ---------------------------------------------------------------------- closed forms


def chain_time(n, size, bandwidth, latency=0.0, chunks=1, **_):
    """Pipelined chain: (n - 2 + c) * (S/(cB) + alpha)."""
    if n == 1:
        return 0.0
    return (n - 2 + chunks) * (size / (chunks * bandwidth) + latency)


def direct_root_time(n, size, bandwidth, latency=0.0, **_):
    """Direct broadcast / reduce: (n-1) * S/B + alpha (the root's one port)."""
    if n == 1:
        return 0.0
    return (n - 1) * size / bandwidth + latency


def _tree_time(reduce: bool):
    """The two-tree closed form of reduce (``reduce``) or broadcast."""
    def closed_form(n, size, bandwidth, latency=0.0, chunks=1, root=0, **_):
        """Sum over pipeline slots of (busiest port's chunks) * S/(2cB) + alpha (two rooted trees)."""
        if n == 1:
            return 0.0
        return double_tree_time(n, size, bandwidth, latency, rooted_double_tree(n, root), chunks, up=reduce,
                                down=not reduce)

    return closed_form


def _chunk_blocks(rows, fabric, options):
    """Block count: one block per chunk (the whole buffer travels)."""
    return options["chunks"]


def _two_tree_blocks(rows, fabric, options):
    """Block count: one block per (tree, chunk)."""
    return 2 * options["chunks"]


# ---------------------------------------------------------------------- registered algorithms


@register("broadcast", "ring", "pipelined chain from/to the root; chunks= pipelining", n_blocks=_chunk_blocks,
          closed_form=chain_time, options=(ROOT, CHUNKS), serial=True, auto_chunks=True)
def chain_broadcast(rows, size, fabric, block_table, n_blocks, *, root, chunks):
    """Pipelined chain broadcast: the root's S bytes go down the chain root, root+1, ... in c chunks.

    Steps: m - 2 + c pipeline slots; chunk j crosses link t (position t to t+1 from the root) in slot
    t + j, so each link carries one chunk of S/c bytes per slot.

    Closed form: (n - 2 + c) * (S/(cB) + alpha).

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005 (pipelined broadcast); NCCL ring broadcast.
    """
    return flat_segment(chain_phases(rows, size, root, block_table, n_blocks, chunks, False))


@register("reduce", "ring", "pipelined chain from/to the root; chunks= pipelining", n_blocks=_chunk_blocks,
          closed_form=chain_time, options=(ROOT, CHUNKS), serial=True, auto_chunks=True)
def chain_reduce(rows, size, fabric, block_table, n_blocks, *, root, chunks):
    """Pipelined chain reduce: partial sums flow along the chain towards the root in c chunks.

    Steps: m - 2 + c pipeline slots; each link carries one chunk of S/c bytes per slot and its receiver
    adds it.

    Closed form: (n - 2 + c) * (S/(cB) + alpha).

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005; NCCL ring reduce.
    """
    return flat_segment(chain_phases(rows, size, root, block_table, n_blocks, chunks, True))


@register("broadcast", "dbt", "double binary tree rooted at the root, half the bytes per tree; chunks=",
          n_blocks=_two_tree_blocks, closed_form=_tree_time(False), options=(ROOT, CHUNKS), auto_chunks=True)
def double_tree_broadcast(rows, size, fabric, block_table, n_blocks, *, root, chunks):
    """Two-tree broadcast: two complementary binary trees rooted at ``root`` each carry S/2 bytes down.

    Steps: per tree and chunk, a node at depth d receives S/(2c) bytes at stage d - 1 and forwards it.

    Closed form: sum over pipeline slots of (the busiest port's chunks) * S/(2cB) + alpha.

    Reference: Sanders, Speck and Traeff, Parallel Computing 2009; NCCL tree broadcast.
    """
    trees = rooted_double_tree(rows.shape[1], root)
    return flat_segment(double_tree_phases(rows, size, trees, block_table, n_blocks, chunks, up=False, down=True))


@register("reduce", "dbt", "double binary tree rooted at the root, half the bytes per tree; chunks=",
          n_blocks=_two_tree_blocks, closed_form=_tree_time(True), options=(ROOT, CHUNKS), auto_chunks=True)
def double_tree_reduce(rows, size, fabric, block_table, n_blocks, *, root, chunks):
    """Two-tree reduce: two complementary binary trees rooted at ``root`` each reduce S/2 bytes upwards.

    Steps: per tree and chunk, a node of height h sends its partial sum (S/(2c) bytes) to its parent at
    stage h.

    Closed form: sum over pipeline slots of (the busiest port's chunks) * S/(2cB) + alpha.

    Reference: Sanders, Speck and Traeff, Parallel Computing 2009; NCCL tree reduce.
    """
    trees = rooted_double_tree(rows.shape[1], root)
    return flat_segment(double_tree_phases(rows, size, trees, block_table, n_blocks, chunks, up=True, down=False))


@register("broadcast", "direct", "the root sends to (receives from) every rank at once", n_blocks=one_block,
          closed_form=direct_root_time, options=(ROOT,), max_step_flows=lambda m: m - 1)
def direct_broadcast(rows, size, fabric, block_table, n_blocks, *, root):
    """Direct broadcast: the root sends its S bytes to every other rank in one step.

    Steps: 1, of m-1 flows of S bytes from the root.

    Closed form: (n-1) * S/B + alpha (the root's one port).

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005 (linear broadcast).
    """
    return flat_segment(direct_root_phases(rows, size, root, block_table, n_blocks, False))


@register("reduce", "direct", "the root sends to (receives from) every rank at once", n_blocks=one_block,
          closed_form=direct_root_time, options=(ROOT,), max_step_flows=lambda m: m - 1)
def direct_reduce(rows, size, fabric, block_table, n_blocks, *, root):
    """Direct reduce: every rank sends its S bytes to the root in one step; the root adds them.

    Steps: 1, of m-1 flows of S bytes into the root.

    Closed form: (n-1) * S/B + alpha (the root's one port).

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005 (linear reduce).
    """
    return flat_segment(direct_root_phases(rows, size, root, block_table, n_blocks, True))
