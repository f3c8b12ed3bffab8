"""Ring algorithms: reduce-scatter, all-gather and all-reduce around a ring of the group's ranks.

Notation: ``m`` ranks per group, ``g`` groups (rows), ``c`` chunks, ``K`` blocks per (piece, chunk) in
symbolic mode; closed forms: ``n`` ranks, ``S`` bytes, ``B`` bytes/s, ``alpha`` s per step.

Reference: Patarasuk and Yuan, "Bandwidth optimal all-reduce algorithms for clusters of workstations",
JPDC 69(2), 2009; NCCL's ring algorithm (docs.nvidia.com/deeplearning/nccl, "Ring").
"""

from __future__ import annotations

import numpy as np

from ..schedule import Phase
from .registry import CHUNKS, Option, flat_segment, label, per_rank_chunk, register, row_index, sort_phases


def _ring_phases(rows, piece_bytes, block_table, n_blocks, chunks, chain, stage0, key, reverse, offset, reduce):
    """The m-1 steps x ``chunks`` phases of a ring over each row of ``rows`` (g x m): in step s member r
    sends piece (r - s - offset) mod m (``reverse``: (r + s + offset), to r-1) of ``piece_bytes`` per chunk
    to its ring neighbour, which adds it when ``reduce`` (reduce-scatter) or keeps it (all-gather)."""
    g, m = rows.shape
    if m < 2:
        return []
    c = chunks
    nxt = np.roll(rows, 1 if reverse else -1, axis=1)
    src, dst = rows.ravel(), nxt.ravel()
    K = n_blocks // (m * c) if block_table is not None else 0
    flow_row = row_index(g, m)
    r = np.tile(np.arange(m), g)
    extra = {"reduce": True, "compute": piece_bytes} if reduce else {}
    out = []
    for j in range(c):
        for s in range(m - 1):
            blocks = None
            if block_table is not None:
                piece = (r + s + offset) % m if reverse else (r - s - offset) % m
                local = (piece * c + j)[:, None] * K + np.arange(K)[None, :]
                blocks = label(block_table, flow_row, local)
            out.append(Phase(src, dst, piece_bytes, key=(key, reverse), chain=chain, chunk=j, stage=stage0 + s,
                             blocks=blocks, **extra))
    return out


def ring_reduce_scatter_phases(rows, size, block_table=None, n_blocks=0, chunks=1, chain=0, stage0=0, key="rs",
                               reverse=False):
    """Ring reduce-scatter: member r ends with piece r of the ``size`` bytes, reduced over the row.

    Step s (0..m-2): member r sends piece (r-s-1) mod m to r+1, which adds it. ``reverse`` runs the
    ring the other way (r -> r-1, piece (r+s+1)).
    """
    m = rows.shape[1]
    return _ring_phases(rows, size / (max(m, 1) * chunks), block_table, n_blocks, chunks, chain, stage0, key,
                        reverse, offset=1, reduce=True)


def ring_all_gather_phases(rows, piece_bytes, block_table=None, n_blocks=0, chunks=1, chain=0, stage0=0, key="ag",
                           reverse=False):
    """Ring all-gather: member r starts with piece r (``piece_bytes``), everyone ends with all m pieces.

    Step s (0..m-2): member r sends piece (r-s) mod m to r+1 (``reverse``: piece (r+s) to r-1).
    """
    return _ring_phases(rows, piece_bytes / chunks, block_table, n_blocks, chunks, chain, stage0, key, reverse,
                        offset=0, reduce=False)


def ring_all_reduce_phases(rows, size, block_table=None, n_blocks=0, chunks=1, bidirectional=False):
    """Ring all-reduce = ring reduce-scatter then ring all-gather (2(m-1) steps per chunk).

    Bidirectional: half the bytes go clockwise (chain 0), half counter-clockwise (chain 1).
    """
    g, m = rows.shape
    if m < 2:
        return []
    halves = [(0, False)] + ([(1, True)] if bidirectional else [])
    h = len(halves)
    out = []
    for chain, rev in halves:
        sub = None
        if block_table is not None:
            w = n_blocks // h
            sub = block_table[:, chain * w:(chain + 1) * w]
        nb = n_blocks // h
        # pieces are chunk-major inside _ring_phases: local block id = (piece*c + j)*K + q
        out += ring_reduce_scatter_phases(rows, size / h, sub, nb, chunks, chain, 0, "ring", rev)
        out += ring_all_gather_phases(rows, size / h / m, sub, nb, chunks, chain, m - 1, "ring", rev)
    return sort_phases(out)


# ---------------------------------------------------------------------- closed forms


def ring_all_reduce_time(n, size, bandwidth, latency=0.0, chunks=1, bidirectional=False, **_):
    """2(n-1)/n * S/B + (2(n-1) + c - 1) * alpha; bidirectional: S/(2B) (each direction its own links; on 2
    ranks both directions are the same pair of links, so S/B as one way)."""
    if n == 1:
        return 0.0
    B = 2 * bandwidth if bidirectional and n > 2 else bandwidth
    return 2 * (n - 1) / n * size / B + (2 * (n - 1) + chunks - 1) * latency


def ring_pieces_time(n, size, bandwidth, latency=0.0, chunks=1, **_):
    """Ring all-gather / reduce-scatter: (n-1)/n * S/B + (n - 2 + c) * alpha."""
    if n == 1:
        return 0.0
    return (n - 1) / n * size / bandwidth + (n - 2 + chunks) * latency


def _bidir_time(n, size, bandwidth, latency=0.0, chunks=1, **_):
    """Closed form of the bidirectional ring all-reduce."""
    return ring_all_reduce_time(n, size, bandwidth, latency, chunks, bidirectional=True)


# ---------------------------------------------------------------------- registered algorithms
BIDIRECTIONAL = Option("bidirectional", bool, False, "half the bytes each way round the ring")


def _ring_all_reduce_blocks(rows, fabric, options):
    """Block count: one block per rank, chunk and ring direction."""
    return rows.shape[1] * options["chunks"] * (2 if options.get("bidirectional") else 1)


@register("all_reduce", "ring", "ring reduce-scatter + ring all-gather; chunks= pipelining, bidirectional=",
          n_blocks=_ring_all_reduce_blocks, closed_form=ring_all_reduce_time, options=(CHUNKS, BIDIRECTIONAL))
def ring_all_reduce(rows, size, fabric, block_table, n_blocks, *, chunks, bidirectional):
    """Ring all-reduce: a ring reduce-scatter, then a ring all-gather of the reduced pieces.

    Steps: 2(m-1) per chunk, pipelined over ``chunks``; in each, every rank sends S/(m c) bytes to its
    ring neighbour (reduce-scatter steps add what they receive). ``bidirectional``: half the bytes run
    each way round the ring (two chains).

    Closed form: 2(n-1)/n * S/B + (2(n-1) + c - 1) * alpha (bidirectional: S/(2B), each direction on its
    own links).

    Reference: Patarasuk and Yuan, JPDC 2009; NCCL ring all-reduce.
    """
    return flat_segment(ring_all_reduce_phases(rows, size, block_table, n_blocks, chunks, bidirectional))


@register("all_reduce", "bidir", "bidirectional ring: half the bytes each way round the ring",
          n_blocks=lambda rows, fabric, o: 2 * rows.shape[1] * o["chunks"], closed_form=_bidir_time,
          options=(CHUNKS,), exact_on="ring")
def bidirectional_ring_all_reduce(rows, size, fabric, block_table, n_blocks, *, chunks):
    """Bidirectional ring all-reduce: :func:`ring_all_reduce` with half the bytes each way round the ring.

    Steps: 2(m-1) per chunk on each of two chains; every rank sends S/(2 m c) bytes to each neighbour.

    Closed form: 2(n-1)/n * S/(2B) + (2(n-1) + c - 1) * alpha, when each direction has its own links
    (a ring of links; on one port per rank the two directions share it: S/B; on 2 ranks both neighbours are
    the same chip, so both halves share the one pair of links: S/B + 2 alpha, the one-way ring).

    Reference: Patarasuk and Yuan, JPDC 2009 (one ring per direction).
    """
    return flat_segment(ring_all_reduce_phases(rows, size, block_table, n_blocks, chunks, True))


@register("all_gather", "ring", "ring all-gather (m-1 steps); chunks= pipelining",
          n_blocks=per_rank_chunk, closed_form=ring_pieces_time, options=(CHUNKS,))
def ring_all_gather(rows, size, fabric, block_table, n_blocks, *, chunks):
    """Ring all-gather of ``size`` gathered bytes (each rank's piece is size/m).

    Steps: m-1 per chunk; in step s rank r sends piece (r-s) mod m, S/(m c) bytes, to rank r+1.

    Closed form: (n-1)/n * S/B + (n - 2 + c) * alpha.

    Reference: Thakur, Rabenseifner and Gropp, "Optimization of collective communication operations in
    MPICH", IJHPCA 19(1), 2005 (ring all-gather); NCCL ring.
    """
    m = rows.shape[1]
    return flat_segment(ring_all_gather_phases(rows, size / m, block_table, n_blocks, chunks, key="ring"))


@register("reduce_scatter", "ring", "ring reduce-scatter (m-1 steps); chunks= pipelining",
          n_blocks=per_rank_chunk, closed_form=ring_pieces_time, options=(CHUNKS,))
def ring_reduce_scatter(rows, size, fabric, block_table, n_blocks, *, chunks):
    """Ring reduce-scatter of ``size`` input bytes per rank (each ends with size/m reduced).

    Steps: m-1 per chunk; in step s rank r sends piece (r-s-1) mod m, S/(m c) bytes, to rank r+1, which
    adds it to its own.

    Closed form: (n-1)/n * S/B + (n - 2 + c) * alpha.

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005; NCCL ring.
    """
    return flat_segment(ring_reduce_scatter_phases(rows, size, block_table, n_blocks, chunks, key="ring"))
