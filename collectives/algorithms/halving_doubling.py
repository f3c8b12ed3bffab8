"""Recursive halving and doubling: Rabenseifner's all-reduce, halving reduce-scatter, doubling all-gather.

Notation: ``m`` ranks per group, ``g`` groups (rows), ``p`` = 2**floor(log2 m) the largest power of two
in m, ``r`` = m - p extra ranks, ``d`` the partner distance of a step, ``K`` blocks per piece in symbolic
mode; closed forms: ``n`` ranks, ``S`` bytes, ``B`` bytes/s, ``alpha`` s per step.

Reference: Thakur, Rabenseifner and Gropp, "Optimization of collective communication operations in
MPICH", IJHPCA 19(1), 2005; Rabenseifner, "Optimization of collective reduction operations", ICCS 2004;
Bruck et al., "Efficient algorithms for all-to-all communications in multiport message-passing systems",
IEEE TPDS 8(11), 1997.
"""

from __future__ import annotations

import math

import numpy as np

from topo import ScheduleError

from ..schedule import Phase
from .registry import flat_segment, is_pow2, label, per_rank, register, row_index


def _window_blocks(block_table, flow_row, first_piece, n_pieces, K):
    """Labels of ``n_pieces`` consecutive pieces from ``first_piece`` (per flow), K blocks each."""
    local = (first_piece[:, None] + np.arange(n_pieces)[None, :])[:, :, None] * K + np.arange(K)[None, None, :]
    return label(block_table, flow_row, local.reshape(len(flow_row), -1))


def halving_doubling_all_reduce_phases(rows, size, block_table=None, n_blocks=0):
    """Rabenseifner all-reduce: recursive-halving reduce-scatter + recursive-doubling all-gather.

    Non-powers of two (m = p + r, p = 2**floor(log2 m)): the r extra members p..p+r-1 first send their
    whole buffer to members 0..r-1 (who add it), the p members run halving-doubling on p pieces, and
    members 0..r-1 finally send the whole result back to the extras: two extra steps of ``size`` bytes.
    """
    g, m = rows.shape
    if m < 2:
        return []
    p = 1 << (m.bit_length() - 1)
    r = m - p
    out: list[Phase] = []
    stage = 0
    all_blocks = np.arange(n_blocks) if block_table is not None else None
    if r:
        flow_row = row_index(g, r)
        blocks = (label(block_table, flow_row, np.broadcast_to(all_blocks, (len(flow_row), n_blocks)))
                  if block_table is not None else None)
        out.append(Phase(rows[:, p:].ravel(), rows[:, :r].ravel(), size, key=None, stage=stage, reduce=True,
                         blocks=blocks, compute=size))
        stage += 1
    K = n_blocks // p if block_table is not None else 0
    n_steps = p.bit_length() - 1
    member = np.arange(p)
    flow_row = row_index(g, p)
    member_of_flow = np.tile(member, g)
    # window of member x before halving step t: pieces [lo, lo + p >> t)
    for t in range(n_steps):
        d = p >> (t + 1)
        partner = member ^ d
        lo = member_of_flow & ~((p >> t) - 1)  # window start before the step
        keep_upper = (member_of_flow & d) != 0
        send_lo = np.where(keep_upper, lo, lo + d)  # send the half I do not keep
        blocks = _window_blocks(block_table, flow_row, send_lo, d, K) if block_table is not None else None
        out.append(Phase(rows[:, member].ravel(), rows[:, partner].ravel(), size * d / p, key=None, stage=stage,
                         reduce=True, blocks=blocks, compute=size * d / p))
        stage += 1
    for t in range(n_steps):
        d = 1 << t
        partner = member ^ d
        lo = member_of_flow & ~(d - 1)
        blocks = _window_blocks(block_table, flow_row, lo, d, K) if block_table is not None else None
        out.append(Phase(rows[:, member].ravel(), rows[:, partner].ravel(), size * d / p, key=None, stage=stage,
                         blocks=blocks))
        stage += 1
    if r:
        flow_row = row_index(g, r)
        blocks = (label(block_table, flow_row, np.broadcast_to(all_blocks, (len(flow_row), n_blocks)))
                  if block_table is not None else None)
        out.append(Phase(rows[:, :r].ravel(), rows[:, p:].ravel(), size, key=None, stage=stage, blocks=blocks))
    return out


def halving_reduce_scatter_phases(rows, size, block_table=None, n_blocks=0):
    """Recursive-halving reduce-scatter (powers of two): log2 m steps, step t sends size/2**(t+1).

    Raises:
        ScheduleError: m is not a power of two.
    """
    g, m = rows.shape
    if not is_pow2(m):
        raise ScheduleError(f"hd reduce-scatter needs a power-of-two group, got {m} ranks; use ring")
    if m < 2:
        return []
    K = n_blocks // m if block_table is not None else 0
    n_steps = m.bit_length() - 1
    member = np.arange(m)
    member_of_flow = np.tile(member, g)
    flow_row = row_index(g, m)
    out = []
    for t in range(n_steps):
        d = m >> (t + 1)
        lo = member_of_flow & ~((m >> t) - 1)
        keep_upper = (member_of_flow & d) != 0
        send_lo = np.where(keep_upper, lo, lo + d)
        blocks = _window_blocks(block_table, flow_row, send_lo, d, K) if block_table is not None else None
        out.append(Phase(rows.ravel(), rows[:, member ^ d].ravel(), size * d / m, key=None, stage=t, reduce=True,
                         blocks=blocks, compute=size * d / m))
    return out


def doubling_all_gather_phases(rows, piece_bytes, block_table=None, n_blocks=0):
    """Recursive-doubling all-gather; Bruck's algorithm when m is not a power of two.

    Power of two: step t, member x exchanges its 2**t gathered pieces with x XOR 2**t.
    Otherwise (Bruck): step t, member x sends its first min(2**t, m - 2**t) pieces (x, x+1, ... mod m)
    to member x - 2**t; ceil(log2 m) steps, the same bytes as the ring; the final local rotation of
    Bruck's algorithm moves no data between ranks.
    """
    g, m = rows.shape
    if m < 2:
        return []
    K = n_blocks // m if block_table is not None else 0
    member = np.arange(m)
    member_of_flow = np.tile(member, g)
    flow_row = row_index(g, m)
    out = []
    t = 0
    if is_pow2(m):
        while (1 << t) < m:
            d = 1 << t
            lo = member_of_flow & ~(d - 1)
            blocks = _window_blocks(block_table, flow_row, lo, d, K) if block_table is not None else None
            out.append(Phase(rows.ravel(), rows[:, member ^ d].ravel(), piece_bytes * d, key=None, stage=t,
                             blocks=blocks))
            t += 1
        return out
    while (1 << t) < m:
        d = 1 << t
        count = min(d, m - d)
        blocks = None
        if block_table is not None:
            pieces = (member_of_flow[:, None] + np.arange(count)[None, :]) % m
            local = pieces[:, :, None] * K + np.arange(K)[None, None, :]
            blocks = label(block_table, flow_row, local.reshape(len(flow_row), -1))
        out.append(Phase(rows.ravel(), rows[:, (member - d) % m].ravel(), piece_bytes * count, key=None, stage=t,
                         blocks=blocks))
        t += 1
    return out


# ---------------------------------------------------------------------- closed forms


def halving_doubling_all_reduce_time(n, size, bandwidth, latency=0.0, **_):
    """2(p-1)/p * S/B + 2 log2(p) * alpha [+ 2(S/B + alpha) if n != p], p = 2**floor(log2 n)."""
    if n == 1:
        return 0.0
    p = 1 << (n.bit_length() - 1)
    t = 2 * (p - 1) / p * size / bandwidth + 2 * math.log2(p) * latency
    return t + (2 * (size / bandwidth + latency) if n != p else 0.0)


def halving_reduce_scatter_time(n, size, bandwidth, latency=0.0, **_):
    """(n-1)/n * S/B + log2(n) * alpha (powers of two)."""
    if n == 1:
        return 0.0
    return (n - 1) / n * size / bandwidth + math.log2(n) * latency


def doubling_all_gather_time(n, size, bandwidth, latency=0.0, **_):
    """(n-1)/n * S/B + ceil(log2 n) * alpha (Bruck's algorithm for non-powers of two)."""
    if n == 1:
        return 0.0
    return (n - 1) / n * size / bandwidth + math.ceil(math.log2(n)) * latency


# ---------------------------------------------------------------------- registered algorithms


@register("all_reduce", "hd", "Rabenseifner recursive halving-doubling (non-powers of two: fold the extras)",
          n_blocks=lambda rows, fabric, o: 1 << (rows.shape[1].bit_length() - 1),
          closed_form=halving_doubling_all_reduce_time)
def halving_doubling_all_reduce(rows, size, fabric, block_table, n_blocks):
    """Rabenseifner's all-reduce: recursive-halving reduce-scatter, then recursive-doubling all-gather.

    Steps (p = 2**floor(log2 m)): log2 p halving steps, step t exchanging S/2**(t+1) bytes with the rank
    at distance p/2**(t+1) (receivers add), then log2 p doubling steps of S/2**(log2 p - t) bytes. When
    m != p the r = m - p extra ranks first fold their whole buffer (S bytes) into ranks 0..r-1 and get
    the result back at the end: two more steps of S bytes.

    Closed form: 2(p-1)/p * S/B + 2 log2(p) * alpha, plus 2(S/B + alpha) when n != p.

    Reference: Rabenseifner, ICCS 2004; Thakur, Rabenseifner and Gropp, IJHPCA 2005.
    """
    return flat_segment(halving_doubling_all_reduce_phases(rows, size, block_table, n_blocks))


@register("reduce_scatter", "hd", "recursive halving (powers of two only)",
          n_blocks=per_rank, closed_form=halving_reduce_scatter_time)
def halving_reduce_scatter(rows, size, fabric, block_table, n_blocks):
    """Recursive-halving reduce-scatter of ``size`` input bytes per rank (m a power of two).

    Steps: log2 m; in step t each rank sends the half of its window it does not keep, S/2**(t+1) bytes,
    to the rank at distance m/2**(t+1), which adds it.

    Closed form: (n-1)/n * S/B + log2(n) * alpha.

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005 (recursive halving).

    Raises:
        ScheduleError: m is not a power of two.
    """
    return flat_segment(halving_reduce_scatter_phases(rows, size, block_table, n_blocks))


@register("all_gather", "rd", "recursive doubling (Bruck's algorithm for non-powers of two)",
          n_blocks=per_rank, closed_form=doubling_all_gather_time)
def doubling_all_gather(rows, size, fabric, block_table, n_blocks):
    """Recursive-doubling all-gather of ``size`` gathered bytes; Bruck's algorithm for non-powers of two.

    Steps: ceil(log2 m); in step t each rank sends the min(2**t, m - 2**t) pieces (S/m bytes each) it has
    gathered to the rank at distance 2**t.

    Closed form: (n-1)/n * S/B + ceil(log2 n) * alpha.

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005; Bruck et al., IEEE TPDS 1997.
    """
    return flat_segment(doubling_all_gather_phases(rows, size / rows.shape[1], block_table, n_blocks))
