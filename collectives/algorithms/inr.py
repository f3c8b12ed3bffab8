"""In-network reduction (SHARP / NVLS style): chips send up once, switches reduce and send down.

Notation: a *slice* is the part of the data one reduction tree carries; a tree has ``L`` switch levels;
``k`` slices; ``c`` chunks; ``K`` blocks per (slice, chunk) in symbolic mode. Closed form: ``n`` ranks,
``S`` bytes, ``B`` bytes/s of a link, ``alpha`` s per *hop*, ``R`` bytes/s at which a switch reduces one
child's stream.

Reference: Graham et al., "Scalable Hierarchical Aggregation Protocol (SHArP): a hardware architecture for
efficient data reduction", COMHPC 2016; NVIDIA NVLink SHARP (NVLS) in NCCL 2.17+.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from topo import ScheduleError

from ..schedule import Phase
from .registry import CHUNKS, flat_segment, register, sort_phases


def inr_tree(fabric, group: np.ndarray) -> list[tuple[float, list[tuple[np.ndarray, np.ndarray]]]]:
    """Reduction trees through the switches for a group of chips (SHARP / NVLS style).

    The data is cut into slices: a chip sends an equal slice to each of its switch neighbours (sorted by
    plane then node index) that can reduce; a switch holding a slice from several children forwards the
    reduced slice to its own upper reducing neighbours (tier above), cut again evenly, until one switch holds
    all of a slice. Only switches that reduce take part (node attribute ``in_network_reduction``; a switch
    without it follows ``fabric.switch_can_reduce``). Where a chip reaches reducing switches of several
    tiers (a Clos server's NVSwitch, tier 0, beside its NIC's leaf, tier 1), the lowest tier whose trees
    complete for the group is used (NVLS inside a server, SHARP through the leaves across servers), as NCCL
    picks NVLS inside a node.
    Returns a list of (fraction of the data, levels of (child, parent) edge arrays, bottom first).

    Raises:
        ScheduleError: the group's chips (or switches) reach different numbers of upper switches, or the
            trees need more than 100,000 slices.
    """
    graph = fabric.graph
    nodes = fabric.nodes
    out_ptr, out_dst, _ = fabric._out_csr
    is_switch = np.zeros(fabric.n_nodes, dtype=bool)
    is_switch[fabric.n_chips:] = True
    tier = np.full(fabric.n_nodes, -1, dtype=np.int64)  # chips below every switch tier (a Clos server switch is 0)
    plane = np.full(fabric.n_nodes, -1, dtype=np.int64)
    reduces = np.zeros(fabric.n_nodes, dtype=bool)
    default = bool(fabric.switch_can_reduce)
    for i in range(fabric.n_chips, fabric.n_nodes):
        attrs = graph.nodes[nodes[i]]
        tier[i] = int(attrs.get("tier", 1))
        p = attrs.get("plane")
        plane[i] = int(p) if isinstance(p, (int, np.integer)) else -1
        reduces[i] = bool(attrs.get("in_network_reduction", default))

    def upper_switches(x: int, first: int) -> list[int]:
        """Reducing switches one tier above node x that x links to, by plane then index (a chip: of tier
        ``first`` only)."""
        nb = out_dst[out_ptr[x]:out_ptr[x + 1]]
        nb = [int(v) for v in nb if is_switch[v] and reduces[v] and tier[v] > tier[x]
              and (x >= fabric.n_chips or tier[v] == first)]
        return sorted(set(nb), key=lambda v: (plane[v], v))

    def trees(first: int) -> list:
        # each work item: (fraction, holders (node array), levels so far)
        work = [(1.0, np.unique(group), [])]
        done = []
        while work:
            fraction, holders, levels = work.pop()
            if len(holders) == 1 and levels:
                done.append((fraction, levels))
                continue
            ups = [upper_switches(int(h), first) for h in holders]
            k = len(ups[0])
            if k == 0 or any(len(u) != k for u in ups):
                raise ScheduleError(
                    "in-network reduction: the group's chips (or switches) do not all reach the same number "
                    "of upper switches; the fabric has no regular reduction tree for this group"
                )
            upper = np.asarray(ups, dtype=np.int64)  # (holders, k)
            for j in range(k):
                parents = upper[:, j]
                work.append((fraction / k, np.unique(parents), levels + [(holders.copy(), parents.copy())]))
            if len(done) + len(work) > 100000:
                raise ScheduleError("in-network reduction: too many reduction slices")
        done.sort(key=lambda t: [tuple(lv[1].tolist()) for lv in t[1]])
        return done

    firsts = sorted({int(tier[v]) for c in np.unique(group) for v in out_dst[out_ptr[c]:out_ptr[c + 1]]
                     if is_switch[v] and reduces[v]})
    error = None
    for first in firsts or [1]:
        try:
            return trees(first)
        except ScheduleError as exc:
            error = error or exc
    raise error


def inr_phases(fabric, rows, size, block_table=None, n_blocks=0, chunks=1):
    """In-network all-reduce phases of one group (``rows`` is 1 x m).

    Slice s with L levels: stage l (0..L-1) sends the chunk up level l (children -> parents, reduced at
    the parent); stage L + l sends it down level L-1-l (parents -> children, multicast by the switch).
    """
    if rows.shape[0] != 1:
        raise RuntimeError("inr_phases: in-network reduction compiles one group at a time (Algorithm.batched)")
    if rows.shape[1] < 2:  # one rank holds the sum already: nothing goes up to a switch (it sent S up and down)
        return []
    trees = inr_tree(fabric, rows[0])
    c = chunks
    out = []
    K = n_blocks // (len(trees) * c) if block_table is not None else 0
    for s, (fraction, levels) in enumerate(trees):
        L = len(levels)
        chunk_bytes = size * fraction / c
        for j in range(c):
            blocks = None
            local = (s * c + j) * K + np.arange(K)
            for lvl, (child, parent) in enumerate(levels):
                if block_table is not None:
                    blocks = block_table[np.zeros(len(child), dtype=np.int64)[:, None],
                                         np.broadcast_to(local, (len(child), K))]
                out.append(Phase(child, parent, chunk_bytes, key=None, chain=s, chunk=j, stage=lvl, reduce=True,
                                 blocks=blocks))
            for d in range(L):
                child, parent = levels[L - 1 - d]
                if block_table is not None:
                    blocks = block_table[np.zeros(len(child), dtype=np.int64)[:, None],
                                         np.broadcast_to(local, (len(child), K))]
                out.append(Phase(parent, child, chunk_bytes, key=None, chain=s, chunk=j, stage=L + d, blocks=blocks))
    return sort_phases(out)


# ---------------------------------------------------------------------- closed form


def inr_time(n, size, bandwidth, latency=0.0, chunks=1, levels=1, slices=1, reduction_bandwidth=None, **_):
    """(2L + c - 1) * (S/(k c B) + alpha_hop); a switch reducing at R < B:
    (L + c - 1)(S/(k c R) + alpha) + L (S/(k c B) + alpha)."""
    if n == 1:
        return 0.0
    S, B, a, c = size, bandwidth, latency, chunks
    if reduction_bandwidth is None or reduction_bandwidth >= B:
        return (2 * levels + c - 1) * (S / (slices * c * B) + a)
    if not reduction_bandwidth > 0:
        raise ScheduleError(f"reduction_bandwidth: must be > 0 bytes/s or None, got {reduction_bandwidth!r}")
    R = float(reduction_bandwidth)
    return (levels + c - 1) * (S / (slices * c * R) + a) + levels * (S / (slices * c * B) + a)


def inr_closed_form_params(fabric, group) -> dict:
    """Switch ``levels`` and data ``slices`` of the reduction trees of ``group``."""
    trees = inr_tree(fabric, np.asarray(group, dtype=np.int64))
    return {"levels": len(trees[0][1]), "slices": len(trees)}


# ---------------------------------------------------------------------- registered algorithm


def _check_switches_reduce(fabric) -> None:
    """Raise a ScheduleError unless the fabric's switches can reduce."""
    if not fabric.switch_can_reduce:
        raise ScheduleError(f"inr: the switches of {fabric.name!r} cannot reduce (switch_can_reduce is False)")


def _slice_chunk_blocks(rows, fabric, options):
    """Block count: one block per (reduction slice, chunk)."""
    _check_switches_reduce(fabric)
    return len(inr_tree(fabric, rows[0])) * options["chunks"]


@register("all_reduce", "inr", "in-network reduction: chips send up once, switches reduce and send down",
          n_blocks=_slice_chunk_blocks, closed_form=inr_time, options=(replace(CHUNKS, default=8),), latency="hop",
          closed_form_params=inr_closed_form_params, auto_chunks=True, in_network=True, batched=False)
def inr_all_reduce(rows, size, fabric, block_table, n_blocks, *, chunks):
    """In-network all-reduce: every chip sends each slice of its data up once; the switches reduce it and
    multicast the result down.

    Steps: per slice (one per path up: planes, spines) and chunk, L stages up (children send S/(k c)
    bytes, the parent switch adds) then L stages down (the switch multicasts); chunks pipeline.

    Closed form: (2L + c - 1) * (S/(k c B) + alpha_hop); with a switch reduction rate R < B per attached
    edge: (L + c - 1)(S/(k c R) + alpha) + L (S/(k c B) + alpha).

    Reference: Graham et al., COMHPC 2016 (SHArP); NVLink SHARP (NVLS) in NCCL 2.17+.

    Raises:
        ScheduleError: the fabric's switches cannot reduce, or it has no regular reduction tree for the group.
    """
    _check_switches_reduce(fabric)
    return flat_segment(inr_phases(fabric, rows, size, block_table, n_blocks, chunks))
