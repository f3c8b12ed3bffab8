"""Direct algorithms: every rank sends to every other rank in one step (and the pairwise all-to-all).

Notation: ``m`` ranks per group, ``g`` groups (rows), ``K`` blocks per piece in symbolic mode; closed
forms: ``n`` ranks, ``S`` bytes, ``B`` bytes/s of a rank's single port, ``alpha`` s per step.

Reference: Thakur, Rabenseifner and Gropp, "Optimization of collective communication operations in
MPICH", IJHPCA 19(1), 2005; the one-shot and two-shot all-reduce of NVLink/NVSwitch systems (NCCL NVLS,
TensorRT-LLM custom all-reduce).
"""

from __future__ import annotations

import numpy as np

from topo import ScheduleError

from ..schedule import Phase
from .registry import flat_segment, label, one_block, per_pair, per_rank, register, row_index


def _all_pairs(rows, block_table, n_blocks, receiver_piece: bool):
    """Every ordered pair (i -> j) of each row, and the block labels of the piece it carries: piece j
    (the receiver's, reduce-scatter) or piece i (the sender's, all-gather); n_blocks // m blocks per piece."""
    g, m = rows.shape
    # every ordered pair i != j, row-major (= np.nonzero(~np.eye(m)) without the m x m mask and its 2 x 8 m^2
    # bytes of indices: 37.7 M pairs at 6,144 ranks)
    i = np.repeat(np.arange(m), m - 1)
    j = np.tile(np.arange(m - 1), m)
    j += j >= i
    blocks = None
    if block_table is not None:
        K = n_blocks // m
        piece = np.tile(j if receiver_piece else i, g)
        blocks = label(block_table, row_index(g, len(i)), piece[:, None] * K + np.arange(K)[None, :])
    if g == 1 and np.array_equal(rows[0], np.arange(m)):  # ranks 0..m-1 index themselves: no gather
        return i.astype(rows.dtype, copy=False), j.astype(rows.dtype, copy=False), blocks
    return rows[:, i].ravel(), rows[:, j].ravel(), blocks


def direct_reduce_scatter_phases(rows, size, block_table=None, n_blocks=0, stage=0, key="drs", pairs=None):
    """Direct reduce-scatter: every member sends piece j (size/m bytes) to member j at once; receivers add.

    ``pairs``: ``_all_pairs(rows, None, 0, ...)``'s (src, dst) computed once by a caller that builds this phase
    for many chunks of the same rows without block labels (multirail); None: computed here."""
    m = rows.shape[1]
    if m < 2:
        return []
    if pairs is not None and block_table is None:
        (src, dst), blocks = pairs, None
    else:
        src, dst, blocks = _all_pairs(rows, block_table, n_blocks, True)
    return [Phase(src, dst, size / m, key=key, stage=stage, reduce=True, blocks=blocks,
                  compute=size / m * (m - 1))]


def direct_all_gather_phases(rows, piece_bytes, block_table=None, n_blocks=0, stage=0, key="dag", pairs=None):
    """Direct all-gather: every member sends its piece (``piece_bytes``) to every other member at once
    (``pairs``: as :func:`direct_reduce_scatter_phases`)."""
    if rows.shape[1] < 2:
        return []
    if pairs is not None and block_table is None:
        (src, dst), blocks = pairs, None
    else:
        src, dst, blocks = _all_pairs(rows, block_table, n_blocks, False)
    return [Phase(src, dst, piece_bytes, key=key, stage=stage, blocks=blocks)]


def direct_all_to_all_phases(rows, size, block_table=None, n_blocks=0, stage=0, key="a2a"):
    """Direct all-to-all: member i sends block (i -> j), size/m bytes, to every j at once."""
    g, m = rows.shape
    if m < 2:
        return []
    # every ordered pair i != j, row-major (= np.nonzero(~np.eye(m)) without the m x m mask: 37.7 M pairs at
    # 6,144 ranks); a single group of ranks 0..m-1 is its own index, so no gather either
    i = np.repeat(np.arange(m), m - 1)
    j = np.tile(np.arange(m - 1), m)
    j += j >= i
    blocks = None
    if block_table is not None:
        K = n_blocks // (m * m)
        flow_row = row_index(g, len(i))
        ii, jj = np.tile(i, g), np.tile(j, g)
        blocks = label(block_table, flow_row, (ii * m + jj)[:, None] * K + np.arange(K)[None, :])
    if g == 1 and (np.array_equal(rows[0], np.arange(m)) or
                   (block_table is None and np.array_equal(np.sort(rows[0]), np.arange(m)))):
        # ranks 0..m-1 (in any order when no block labels are asked for: the pairs are the same set, e.g. every
        # chip of a torus in its cycle order, fab.groups(n)[0]) index themselves
        return [Phase(i.astype(rows.dtype, copy=False), j.astype(rows.dtype, copy=False), size / m, key=key,
                      stage=stage, blocks=blocks)]
    return [Phase(rows[:, i].ravel(), rows[:, j].ravel(), size / m, key=key, stage=stage, blocks=blocks)]


# ---------------------------------------------------------------------- closed forms


def direct_pieces_time(n, size, bandwidth, latency=0.0, **_):
    """Direct all-gather / reduce-scatter / all-to-all: (n-1)/n * S/B + alpha."""
    if n == 1:
        return 0.0
    return (n - 1) / n * size / bandwidth + latency


def two_shot_time(n, size, bandwidth, latency=0.0, **_):
    """Two-shot all-reduce: 2(n-1)/n * S/B + 2 alpha."""
    if n == 1:
        return 0.0
    return 2 * (n - 1) / n * size / bandwidth + 2 * latency


def one_shot_time(n, size, bandwidth, latency=0.0, **_):
    """One-shot all-reduce: (n-1) * S/B + alpha."""
    if n == 1:
        return 0.0
    return (n - 1) * size / bandwidth + latency


def pairwise_time(n, size, bandwidth, latency=0.0, **_):
    """Pairwise all-to-all: (n-1) * (S/(nB) + alpha)."""
    if n == 1:
        return 0.0
    return (n - 1) * (size / (n * bandwidth) + latency)


def send_recv_time(n, size, bandwidth, latency=0.0, **_):
    """One transfer: S/B + alpha."""
    return size / bandwidth + latency


def _quadratic(m: int) -> int:
    """Flows in the one step of an all-pairs exchange of m ranks: m(m-1)."""
    return m * (m - 1)


# ---------------------------------------------------------------------- registered algorithms


@register("all_reduce", "direct", "two-shot: direct reduce-scatter then direct all-gather (2 steps)",
          n_blocks=per_rank, closed_form=two_shot_time, max_step_flows=_quadratic)
def two_shot_all_reduce(rows, size, fabric, block_table, n_blocks):
    """Two-shot all-reduce: a direct reduce-scatter, then a direct all-gather of the reduced pieces.

    Steps: 2. Step 1: every rank sends piece j (S/m bytes) to rank j, which adds the m-1 it receives.
    Step 2: every rank sends its reduced piece (S/m bytes) to every other rank.

    Closed form: 2(n-1)/n * S/B + 2 alpha (one port of B per rank).

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005 (reduce-scatter + all-gather); the two-shot
    all-reduce of TensorRT-LLM's custom all-reduce kernels.
    """
    m = rows.shape[1]
    return flat_segment(direct_reduce_scatter_phases(rows, size, block_table, n_blocks)) + flat_segment(
        direct_all_gather_phases(rows, size / m, block_table, n_blocks))


@register("all_reduce", "oneshot", "one-shot: every rank sends its whole buffer to every other rank",
          n_blocks=one_block, closed_form=one_shot_time, max_step_flows=_quadratic)
def one_shot_all_reduce(rows, size, fabric, block_table, n_blocks):
    """One-shot all-reduce: every rank sends its whole buffer (S bytes) to every other rank, which adds.

    Steps: 1, of m(m-1) flows of S bytes.

    Closed form: (n-1) * S/B + alpha (one port of B per rank; on a full mesh, S/B_link + alpha).

    Reference: the one-shot all-reduce of TensorRT-LLM's custom all-reduce kernels (latency-bound sizes).
    """
    g, m = rows.shape
    if m < 2:
        return []
    src, dst, _ = _all_pairs(rows, None, 0, False)
    blocks = None
    if block_table is not None:
        flow_row = row_index(g, m * (m - 1))
        blocks = label(block_table, flow_row, np.broadcast_to(np.arange(n_blocks), (len(flow_row), n_blocks)))
    return flat_segment([Phase(src, dst, size, key="oneshot", reduce=True, blocks=blocks, compute=size * (m - 1))])


@register("all_gather", "direct", "every rank sends its piece to every other rank at once",
          n_blocks=per_rank, closed_form=direct_pieces_time, max_step_flows=_quadratic)
def direct_all_gather(rows, size, fabric, block_table, n_blocks):
    """Direct all-gather of ``size`` gathered bytes: every rank sends its piece (S/m) to every other rank.

    Steps: 1, of m(m-1) flows of S/m bytes.

    Closed form: (n-1)/n * S/B + alpha.

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005.
    """
    return flat_segment(direct_all_gather_phases(rows, size / rows.shape[1], block_table, n_blocks))


@register("reduce_scatter", "direct", "every rank sends piece j to rank j at once",
          n_blocks=per_rank, closed_form=direct_pieces_time, max_step_flows=_quadratic)
def direct_reduce_scatter(rows, size, fabric, block_table, n_blocks):
    """Direct reduce-scatter of ``size`` input bytes per rank: rank i sends piece j (S/m) to rank j.

    Steps: 1, of m(m-1) flows of S/m bytes; each rank adds the m-1 pieces it receives.

    Closed form: (n-1)/n * S/B + alpha.

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005.
    """
    return flat_segment(direct_reduce_scatter_phases(rows, size, block_table, n_blocks))


@register("all_to_all", "direct", "every rank sends size/n to every other rank at once",
          n_blocks=per_pair, closed_form=direct_pieces_time, max_step_flows=_quadratic, uniform_exchange=True)
def direct_all_to_all(rows, size, fabric, block_table, n_blocks):
    """Direct all-to-all of ``size`` bytes per rank: rank i sends block (i -> j), S/m bytes, to every j.

    Steps: 1, of m(m-1) flows of S/m bytes.

    Closed form: (n-1)/n * S/B + alpha.

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005 (all-to-all, large messages).
    """
    return flat_segment(direct_all_to_all_phases(rows, size, block_table, n_blocks))


@register("all_to_all", "pairwise", "pairwise exchange: m-1 steps, step s sends to rank r+s",
          n_blocks=per_pair, closed_form=pairwise_time, serial=True)
def pairwise_all_to_all(rows, size, fabric, block_table, n_blocks):
    """Pairwise-exchange all-to-all: in step s (1..m-1) rank i sends block (i -> i+s), S/m bytes, to i+s.

    Steps: m-1, each of m flows of S/m bytes (one send and one receive per rank).

    Closed form: (n-1) * (S/(nB) + alpha).

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005 (pairwise exchange).
    """
    g, m = rows.shape
    out = []
    K = n_blocks // (m * m) if block_table is not None else 0
    flow_row = row_index(g, m)
    i = np.tile(np.arange(m), g)
    for s in range(1, m):
        j = (i + s) % m
        blocks = None
        if block_table is not None:
            blocks = label(block_table, flow_row, (i * m + j)[:, None] * K + np.arange(K)[None, :])
        out.append(Phase(rows.ravel(), np.roll(rows, -s, axis=1).ravel(), size / m, key=None, stage=s - 1,
                         blocks=blocks))
    return flat_segment(out)


@register("send_recv", "direct", "one flow from the first rank of the group to the second; chunks= ignored",
          n_blocks=one_block, closed_form=send_recv_time, max_step_flows=_quadratic, ignores=("chunks",))
def send_recv(rows, size, fabric, block_table, n_blocks):
    """One transfer of ``size`` bytes from the first rank of the group to the second.

    Steps: 1, of one flow of S bytes.

    Closed form: S/B + alpha.

    Reference: nccl-tests sendrecv_perf (PERFORMANCE.md: busbw = algbw).
    """
    if rows.shape[1] != 2:
        raise ScheduleError(f"send_recv: the group must name exactly 2 chips (sender, receiver), got {rows.shape[1]}")
    blocks = np.zeros((rows.shape[0], 1), dtype=np.int64) if block_table is not None else None
    return [[Phase(rows[:, 0], rows[:, 1], size, key="sr", blocks=blocks)]]
