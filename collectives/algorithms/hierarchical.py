"""Hierarchical algorithms: split the group by the fabric's levels (tray, leaf, ...) and run a flat
algorithm inside each part and another across parts.

Notation: a *level* is an array of part ids per node (``fabric.levels()`` below the top); cutting the
rows (g x m) at a level gives a *positions* array (g x parts x m1): ``parts`` parts of ``m1`` members
each; the *intra rows* ((g*parts) x m1) are the parts, the *column rows* ((g*m1) x parts) hold local
rank i of every part. ``K`` is the blocks per rank's piece in symbolic mode; ``c`` chunks. Closed forms:
``n`` ranks, ``S`` bytes, ``B`` bytes/s of a rank's single port (every level), ``alpha`` s per step,
``part_sizes`` the m1 of each level cut, innermost first.

Reference: Thakur, Rabenseifner and Gropp, "Optimization of collective communication operations in
MPICH", IJHPCA 19(1), 2005 (reduce-scatter + all-reduce + all-gather); NCCL's intra-node / inter-node
split (NVLS tree, "CollNet"); Sack and Gropp, "Faster topology-aware collective algorithms through
non-minimal communication", PPoPP 2012.
"""

from __future__ import annotations

import math
import weakref

import numpy as np

from topo import ScheduleError

from ..schedule import Phase
from .direct import (
    direct_all_gather_phases,
    direct_all_to_all_phases,
    direct_pieces_time,
    direct_reduce_scatter_phases,
)
from .halving_doubling import (
    doubling_all_gather_phases,
    halving_doubling_all_reduce_phases,
    halving_reduce_scatter_phases,
)
from .registry import CHUNKS, REGISTRY, Option, flat_segment, per_pair, per_rank_chunk, register
from .ring import ring_all_gather_phases, ring_all_reduce_phases, ring_pieces_time, ring_reduce_scatter_phases
from .trees import double_btree, double_tree_phases

# ---------------------------------------------------------------------- cutting groups at a level


_LEVELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def fabric_levels(fabric) -> list[np.ndarray]:
    """Part id per node index for each level of ``fabric.levels()`` below the top (read-only arrays).

    Memoised per fabric object (weakly): ``fabric.levels()`` is itself computed once per fabric.
    """
    out = _LEVELS.get(fabric)
    if out is None:
        out = []
        for level in fabric.levels()[:-1]:
            ids = np.full(fabric.n_nodes, -1, dtype=np.int64)
            for k, part in enumerate(level):
                ids[np.asarray(part, dtype=np.int64)] = k
            ids.flags.writeable = False
            out.append(ids)
        _LEVELS[fabric] = out
    return list(out)


def split_rows(rows: np.ndarray, part_of_node: np.ndarray) -> np.ndarray | None:
    """Positions array (g, parts, m1) grouping each row's members by part id ``part_of_node[node]``.

    Returns None when the level does not split the rows (one part, or one member per part).

    Raises:
        ScheduleError: the parts are of unequal sizes, or rows differ in shape.
    """
    g, m = rows.shape
    part_id = part_of_node[rows]
    # members of a part by node index (= rank), not by their place in the group: local rank i of every part is then
    # the chip at the same offset (a torus line's i-th x, a server's i-th GPU), so the columns that cross the
    # parts run between aligned chips whatever order the group lists them in (fab.groups' snake on a torus
    # reverses every other line: its columns took multi-hop paths that shared links)
    order = np.lexsort((rows, part_id), axis=1)
    sorted_ids = np.take_along_axis(part_id, order, axis=1)
    _, counts = np.unique(sorted_ids[0], return_counts=True)
    if len(counts) == 1 or counts.max() == 1:
        return None
    m1 = int(counts[0])
    if np.any(counts != m1):
        raise ScheduleError(
            f"hierarchical: the group's ranks are spread unevenly over the fabric's levels (parts of sizes "
            f"{sorted(set(counts.tolist()))}); use a group with equal parts at every level of fab.levels() (whole "
            f"trays and, for hier_ml, whole leaves or all under one leaf: `scaleup topo show` lists the level sizes), "
            f"or algorithm='ring'"
        )
    parts = m // m1
    by_part = sorted_ids.reshape(g, parts, m1)
    if np.any(by_part != by_part[:, :, :1]) or (parts > 1 and np.any(np.diff(by_part[:, :, 0], axis=1) <= 0)):
        raise ScheduleError("hierarchical: the group's ranks are spread unevenly over the fabric's levels")
    return order.reshape(g, parts, m1)


def _column_table(block_table, positions, K):
    """Blocks of each column row (row, i): the pieces of positions[row, a, i] for a = 0..parts-1."""
    g, parts, m1 = positions.shape
    pos = np.transpose(positions, (0, 2, 1))  # (g, m1, parts)
    local = pos[..., None] * K + np.arange(K)  # (g, m1, parts, K)
    flow_row = np.repeat(np.arange(g), m1)
    return block_table[flow_row[:, None], local.reshape(g * m1, parts * K)]


def _intra_table(block_table, positions, K):
    """Blocks of each intra row (row, a): member i's piece is column i's data (layout i, a', q)."""
    g, parts, m1 = positions.shape
    pos = np.transpose(positions, (0, 2, 1))  # (g, m1, parts): member i, part a'
    local = (pos[..., None] * K + np.arange(K)).reshape(g, m1 * parts * K)
    full = np.take_along_axis(block_table, local, axis=1)  # (g, n_blocks)
    return np.repeat(full, parts, axis=0)


def level_split(rows, positions):
    """Cut ``rows`` (g x m) at one level given its ``positions`` (g x parts x m1): the intra rows
    ((g*parts) x m1) and the column rows per local rank ((g*m1) x parts)."""
    g, parts, m1 = positions.shape
    intra = rows[np.repeat(np.arange(g), parts)[:, None], positions.reshape(g * parts, m1)]
    columns = rows[np.repeat(np.arange(g), m1)[:, None], np.transpose(positions, (0, 2, 1)).reshape(g * m1, parts)]
    return intra, columns


def _piece_tables(block_table, positions, n_blocks, m):
    """Block tables of the intra and column rows when each rank's piece is K = n_blocks / m blocks."""
    if block_table is None:
        return 0, None, None
    K = n_blocks // m
    return K, _intra_table(block_table, positions, K), _column_table(block_table, positions, K)


def hierarchy(fabric, rows: np.ndarray, multilevel: bool = True) -> list[np.ndarray]:
    """Levels a hierarchical schedule of ``rows`` splits over: all of them, or only the innermost that
    splits the group (two-level: that level, then everything across it).

    Raises:
        ScheduleError: no level splits the group (it lies inside one tray).
    """
    levels = fabric_levels(fabric)
    innermost = next((ids for ids in levels if split_rows(rows, ids) is not None), None)
    if innermost is None:
        raise ScheduleError("hier: the group lies inside one part of every level (e.g. one tray); use direct")
    return levels if multilevel else [innermost]


# ---------------------------------------------------------------------- flat algorithms used inside / across
def _bidir_ring(builder, rows, nbytes, bt, nb, c, key):
    """A ring reduce-scatter or all-gather (``builder``) with half of every rank's piece each way round: chain 0
    forward with the first half of each piece's blocks, chain 1 backward with the second (``nb`` even per piece)."""
    g, m = rows.shape
    out = []
    for chain, reverse in ((0, False), (1, True)):
        sub = None
        if bt is not None:  # piece p is blocks [p P, (p + 1) P): each chain takes one half of every piece
            P = nb // m
            sub = bt.reshape(bt.shape[0], m, 2, P // 2)[:, :, chain, :].reshape(bt.shape[0], m * (P // 2))
        out += builder(rows, nbytes / 2, sub, nb // 2, c, chain=chain, key=key, reverse=reverse)
    return out


#: intra-part reduce-scatter and all-gather, by the value of the ``intra`` option (``bidir``: half of every piece
#: each way round the part's ring, e.g. both directions of a torus line)
INTRA_REDUCE_SCATTER = {
    "direct": lambda rows, size, bt, nb, c: direct_reduce_scatter_phases(rows, size, bt, nb),
    "ring": lambda rows, size, bt, nb, c: ring_reduce_scatter_phases(rows, size, bt, nb, c, key="hrs"),
    "bidir": lambda rows, size, bt, nb, c: _bidir_ring(ring_reduce_scatter_phases, rows, size, bt, nb, c, "hrs"),
}
INTRA_ALL_GATHER = {
    "direct": lambda rows, piece, bt, nb, c: direct_all_gather_phases(rows, piece, bt, nb),
    "ring": lambda rows, piece, bt, nb, c: ring_all_gather_phases(rows, piece, bt, nb, c, key="hag"),
    "bidir": lambda rows, piece, bt, nb, c: _bidir_ring(ring_all_gather_phases, rows, piece, bt, nb, c, "hag"),
}


def _bidir_pieces_time(n, size, bandwidth, latency=0.0, chunks=1, **_):
    """Bidirectional ring reduce-scatter / all-gather: (n-1)/n * S/(2B) + (n - 2 + c) * alpha (each direction on
    its own links; on 2 ranks both halves cross the one pair of links: the ring's S/(2B))."""
    return ring_pieces_time(n, size, 2 * bandwidth if n > 2 else bandwidth, latency, chunks)


def _intra_time(collective: str, intra: str):
    """The closed form of the ``intra`` reduce-scatter / all-gather inside a part."""
    return _bidir_pieces_time if intra == "bidir" else REGISTRY[(collective, intra)].closed_form
#: across-part phases by the value of the ``inter`` option, per collective
INTER = {
    "all_reduce": {
        "ring": lambda rows, size, bt, nb, c: ring_all_reduce_phases(rows, size, bt, nb, c),
        "bidir": lambda rows, size, bt, nb, c: ring_all_reduce_phases(rows, size, bt, nb, c, bidirectional=True),
        "hd": lambda rows, size, bt, nb, c: halving_doubling_all_reduce_phases(rows, size, bt, nb),
        "dbt": lambda rows, size, bt, nb, c: double_tree_phases(rows, size, double_btree(rows.shape[1]), bt, nb, c),
        "direct": lambda rows, size, bt, nb, c: direct_reduce_scatter_phases(rows, size, bt, nb)
        + direct_all_gather_phases(rows, size / rows.shape[1], bt, nb, stage=1),
    },
    "all_gather": {
        "ring": lambda rows, piece, bt, nb, c: ring_all_gather_phases(rows, piece, bt, nb, c),
        "rd": lambda rows, piece, bt, nb, c: doubling_all_gather_phases(rows, piece, bt, nb),
        "direct": lambda rows, piece, bt, nb, c: direct_all_gather_phases(rows, piece, bt, nb),
    },
    "reduce_scatter": {
        "ring": lambda rows, size, bt, nb, c: ring_reduce_scatter_phases(rows, size, bt, nb, c),
        "hd": lambda rows, size, bt, nb, c: halving_reduce_scatter_phases(rows, size, bt, nb),
        "direct": lambda rows, size, bt, nb, c: direct_reduce_scatter_phases(rows, size, bt, nb),
    },
}


def _options(collective: str) -> tuple[Option, ...]:
    """chunks, intra and inter options of a hierarchical record (inter choices per collective)."""
    return (CHUNKS,
            Option("intra", str, "direct", "algorithm inside each part (tray)", choices=tuple(INTRA_ALL_GATHER)),
            Option("inter", str, "ring", "algorithm across parts, per local rank", choices=tuple(INTER[collective])))


# ---------------------------------------------------------------------- multi-level compilers


def hier_all_reduce_segments(rows, size, levels, block_table=None, n_blocks=0, intra="direct", inter="ring",
                             chunks=1):
    """Multi-level all-reduce: reduce-scatter inside each level-0 part, all-reduce of the shares
    across parts per local rank (recursively over the next levels), all-gather back inside the part."""
    if not levels:
        return flat_segment(INTER["all_reduce"][inter](rows, size, block_table, n_blocks, chunks))
    positions = split_rows(rows, levels[0])
    if positions is None:
        return hier_all_reduce_segments(rows, size, levels[1:], block_table, n_blocks, intra, inter, chunks)
    g, parts, m1 = positions.shape
    intra_rows, column_rows = level_split(rows, positions)
    intra_table = column_table = None
    K = n_blocks // m1 if block_table is not None else 0
    if block_table is not None:
        # all-reduce blocks are arbitrary: piece i of a part = the row's blocks [i*K, (i+1)*K)
        intra_table = np.repeat(block_table, parts, axis=0)
        column_table = block_table.reshape(g, m1, K).reshape(g * m1, K)
    segments = flat_segment(INTRA_REDUCE_SCATTER[intra](intra_rows, size, intra_table, n_blocks, chunks))
    segments += hier_all_reduce_segments(column_rows, size / m1, levels[1:], column_table, K, intra, inter, chunks)
    segments += flat_segment(INTRA_ALL_GATHER[intra](intra_rows, size / m1, intra_table, n_blocks, chunks))
    return segments


def hier_all_gather_segments(rows, size, levels, block_table=None, n_blocks=0, intra="direct", inter="ring",
                             chunks=1):
    """Multi-level all-gather (``size`` = gathered bytes per row): all-gather across parts per local rank
    (recursively), then all-gather inside each level-0 part of everything gathered so far."""
    g, m = rows.shape
    if not levels:
        return flat_segment(INTER["all_gather"][inter](rows, size / m, block_table, n_blocks, chunks))
    positions = split_rows(rows, levels[0])
    if positions is None:
        return hier_all_gather_segments(rows, size, levels[1:], block_table, n_blocks, intra, inter, chunks)
    g, parts, m1 = positions.shape
    intra_rows, column_rows = level_split(rows, positions)
    K, intra_table, column_table = _piece_tables(block_table, positions, n_blocks, m)
    segments = hier_all_gather_segments(column_rows, size / m1, levels[1:], column_table, parts * K, intra, inter,
                                        chunks)
    segments += flat_segment(INTRA_ALL_GATHER[intra](intra_rows, size / m1, intra_table, n_blocks, chunks))
    return segments


def hier_reduce_scatter_segments(rows, size, levels, block_table=None, n_blocks=0, intra="direct", inter="ring",
                                 chunks=1):
    """Multi-level reduce-scatter (``size`` = input bytes per rank): reduce-scatter inside each level-0 part
    into column shares, then reduce-scatter each share across parts per local rank (recursively)."""
    g, m = rows.shape
    if not levels:
        return flat_segment(INTER["reduce_scatter"][inter](rows, size, block_table, n_blocks, chunks))
    positions = split_rows(rows, levels[0])
    if positions is None:
        return hier_reduce_scatter_segments(rows, size, levels[1:], block_table, n_blocks, intra, inter, chunks)
    g, parts, m1 = positions.shape
    intra_rows, column_rows = level_split(rows, positions)
    K, intra_table, column_table = _piece_tables(block_table, positions, n_blocks, m)
    segments = flat_segment(INTRA_REDUCE_SCATTER[intra](intra_rows, size, intra_table, n_blocks, chunks))
    segments += hier_reduce_scatter_segments(column_rows, size / m1, levels[1:], column_table, parts * K, intra,
                                             inter, chunks)
    return segments


# ---------------------------------------------------------------------- block counts and closed forms


def _all_reduce_blocks(multilevel: bool):
    """The block count of the two-level (or, ``multilevel``, every-level) hierarchical all-reduce."""
    def n_blocks(rows, fabric, options):
        """Blocks of a hierarchical all-reduce such that every level divides them evenly: the product of
        the part sizes times the blocks of the ``inter`` algorithm on the top-level group."""
        if multilevel:
            _multilevel_check(rows, fabric)
        factor = 1
        top = rows
        for ids in hierarchy(fabric, rows, multilevel):
            positions = split_rows(top, ids)
            if positions is None:
                continue
            g, parts, m1 = positions.shape
            factor *= m1
            top = level_split(top, positions)[1]
        inner = REGISTRY[("all_reduce", options["inter"])]
        inner_options = {o.name: o.default for o in inner.options} | {"chunks": options["chunks"]}
        # the intra stages pipeline every part's piece over the chunks too: an inter algorithm without chunks
        # (hd, direct) leaves its blocks to be cut by them (lcm), or a ring piece of K blocks has K / c < 1
        # (bidir inside the parts: every piece in two halves, one each way round)
        halves = 2 if options["intra"] == "bidir" else 1
        return halves * factor * math.lcm(max(int(inner.n_blocks(top[:1], fabric, inner_options)), 1),
                                          int(options["chunks"]))

    return n_blocks


def _pieces_blocks(rows, fabric, options) -> int:
    """Blocks of a hierarchical all-gather / reduce-scatter: one per rank and chunk (:func:`per_rank_chunk`),
    twice that with ``intra="bidir"`` (every piece in two halves, one each way round the part)."""
    return per_rank_chunk(rows, fabric, options) * (2 if options["intra"] == "bidir" else 1)


def part_sizes(fabric, group: np.ndarray, multilevel: bool) -> tuple[int, ...]:
    """Member count m1 of each level cut a hierarchical all-reduce / all-gather / reduce-scatter of
    ``group`` makes (innermost first)."""
    rows = np.asarray(group, dtype=np.int64)[None, :]
    sizes = []
    for ids in hierarchy(fabric, rows, multilevel):
        positions = split_rows(rows, ids)
        if positions is None:
            continue
        sizes.append(positions.shape[2])
        rows = level_split(rows, positions)[1][:1]
    return tuple(sizes)


def outermost_part_size(fabric, group: np.ndarray) -> tuple[int, ...]:
    """(m1,): the members per part of the outermost level that splits ``group`` (hierarchical all-to-all)."""
    rows = np.asarray(group, dtype=np.int64)[None, :]
    for ids in reversed(hierarchy(fabric, rows)):
        positions = split_rows(rows, ids)
        if positions is not None:
            return (positions.shape[2],)
    return ()


def _closed_form_params(multilevel: bool):
    """The ``closed_form_params`` of the two-level (or every-level) hierarchical records."""
    def params(fabric, group) -> dict:
        """The part sizes of the cuts (``part_sizes``)."""
        return {"part_sizes": part_sizes(fabric, group, multilevel)}

    return params


def _needs_parts(part_sizes) -> None:
    """Raise a ScheduleError when a hierarchical closed form is asked without its part sizes."""
    if not part_sizes:
        raise ScheduleError("hier: the closed form needs part_sizes=(m1, ...), the members per part of each "
                            "level cut (innermost first)")


def hier_all_reduce_time(n, size, bandwidth, latency=0.0, chunks=1, intra="direct", inter="ring", part_sizes=(),
                         **_):
    """RS_intra(m1, S) + [recursively] AR_inter(n / prod(m1), S / prod(m1)) + AG_intra(m1, S)."""
    _needs_parts(part_sizes)
    kw = {"chunks": chunks}
    t_inner = REGISTRY[("all_reduce", inter)].closed_form
    t_rs = _intra_time("reduce_scatter", intra)
    t_ag = _intra_time("all_gather", intra)
    total, k, S = 0.0, n, size
    for m1 in part_sizes:
        total += t_rs(m1, S, bandwidth, latency, **kw) + t_ag(m1, S, bandwidth, latency, **kw)
        k, S = k // m1, S / m1
    return total + t_inner(k, S, bandwidth, latency, **kw)


def hier_pieces_time(n, size, bandwidth, latency=0.0, chunks=1, intra="direct", inter="ring", part_sizes=(),
                     collective="all_gather", **_):
    """Per level cut: the intra all-gather (reduce-scatter) of S over m1 ranks; then the inter one of
    S / prod(m1) over n / prod(m1) ranks."""
    _needs_parts(part_sizes)
    kw = {"chunks": chunks}
    total, k, S = 0.0, n, size
    for m1 in part_sizes:
        total += _intra_time(collective, intra)(m1, S, bandwidth, latency, **kw)
        k, S = k // m1, S / m1
    return total + REGISTRY[(collective, inter)].closed_form(k, S, bandwidth, latency, **kw)


def _pieces_time(collective: str):
    """The closed form of the hierarchical all-gather or reduce-scatter."""
    def closed_form(n, size, bandwidth, latency=0.0, **params):
        """Per level cut: intra of S over m1 ranks; then inter of S / prod(m1) over n / prod(m1) ranks."""
        return hier_pieces_time(n, size, bandwidth, latency, collective=collective, **params)

    return closed_form


def hier_all_to_all_time(n, size, bandwidth, latency=0.0, part_sizes=(), **_):
    """(m1-1)/m1 * S/B + alpha + (T-1)/T * S/B + alpha, T = n/m1 parts (one port per rank)."""
    _needs_parts(part_sizes)
    m1 = part_sizes[-1]
    return direct_pieces_time(m1, size, bandwidth, latency) + direct_pieces_time(n // m1, size, bandwidth, latency)


# ---------------------------------------------------------------------- registered algorithms


def _multilevel_check(rows, fabric) -> None:
    """Raise a ScheduleError unless at least two levels split the group (``hier_ml``)."""
    if sum(split_rows(rows, ids) is not None for ids in fabric_levels(fabric)) < 2:
        raise ScheduleError("hier_ml: the group spans fewer than two splitting levels; use hier")


@register("all_reduce", "hier", "hierarchical: reduce-scatter in tray, all-reduce across (per level), all-gather",
          n_blocks=_all_reduce_blocks(False), closed_form=hier_all_reduce_time, options=_options("all_reduce"),
          closed_form_params=_closed_form_params(False))
def hier_all_reduce(rows, size, fabric, block_table, n_blocks, *, chunks, intra, inter):
    """Two-level all-reduce: reduce-scatter inside each part (tray), all-reduce across parts, all-gather.

    The innermost level of ``fabric.levels()`` that splits the group gives parts of m1 ranks. Steps:
    (1) ``intra`` reduce-scatter of S inside each part; (2) ``inter`` all-reduce of S/m1 bytes among
    the n/m1 ranks of equal local rank (m1 concurrent groups); (3) ``intra`` all-gather of S inside each
    part.

    Closed form: RS_intra(m1, S) + AR_inter(n/m1, S/m1) + AG_intra(m1, S), each from its own record
    (one port of B per rank on every level; per-level bandwidths: evaluate each term with its own).

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005; NCCL intra-node / inter-node split.
    """
    levels = hierarchy(fabric, rows, multilevel=False)
    return hier_all_reduce_segments(rows, size, levels, block_table, n_blocks, intra, inter, chunks)


@register("all_gather", "hier", "hierarchical: all-gather across trays per local rank, then inside the tray",
          n_blocks=_pieces_blocks, closed_form=_pieces_time("all_gather"), options=_options("all_gather"),
          closed_form_params=_closed_form_params(False))
def hier_all_gather(rows, size, fabric, block_table, n_blocks, *, chunks, intra, inter):
    """Two-level all-gather of ``size`` gathered bytes: across parts per local rank, then inside each part.

    Steps: (1) ``inter`` all-gather of S/m1 gathered bytes among the n/m1 ranks of equal local rank;
    (2) ``intra`` all-gather inside each part of what each rank holds (S/m1 bytes per rank).

    Closed form: AG_inter(n/m1, S/m1) + AG_intra(m1, S).

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005; NCCL intra-node / inter-node split.
    """
    levels = hierarchy(fabric, rows, multilevel=False)
    return hier_all_gather_segments(rows, size, levels, block_table, n_blocks, intra, inter, chunks)


@register("reduce_scatter", "hier", "hierarchical: reduce-scatter inside the tray, then across trays",
          n_blocks=_pieces_blocks, closed_form=_pieces_time("reduce_scatter"), options=_options("reduce_scatter"),
          closed_form_params=_closed_form_params(False))
def hier_reduce_scatter(rows, size, fabric, block_table, n_blocks, *, chunks, intra, inter):
    """Two-level reduce-scatter of ``size`` input bytes per rank: inside each part, then across parts.

    Steps: (1) ``intra`` reduce-scatter of S inside each part (each rank ends with S/m1, the share of its
    column); (2) ``inter`` reduce-scatter of S/m1 among the n/m1 ranks of equal local rank.

    Closed form: RS_intra(m1, S) + RS_inter(n/m1, S/m1).

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005; NCCL intra-node / inter-node split.
    """
    levels = hierarchy(fabric, rows, multilevel=False)
    return hier_reduce_scatter_segments(rows, size, levels, block_table, n_blocks, intra, inter, chunks)


@register("all_to_all", "hier", "two-level: aggregate inside the tray, then exchange across trays per rank",
          n_blocks=per_pair, closed_form=hier_all_to_all_time,
          closed_form_params=lambda fabric, group: {"part_sizes": outermost_part_size(fabric, group)})
def hier_all_to_all(rows, size, fabric, block_table, n_blocks):
    """Two-level all-to-all over the outermost level that splits the group (T parts of m1 ranks).

    Steps: (1) inside each part, rank i sends rank j everything destined to local rank j of any part:
    T blocks of S/m bytes; (2) across parts per local rank j, each rank sends part b everything its part
    holds for (b, j): m1 blocks of S/m bytes. Direct exchanges in both.

    Closed form: (m1-1)/m1 * S/B + alpha + (T-1)/T * S/B + alpha (one port of B per rank; on a fully
    meshed tray with links B_t: T S/(n B_t) + alpha for step 1).

    Reference: Sack and Gropp, PPoPP 2012; the two-level all-to-all of DeepEP / NCCL PXN (aggregate in
    the node, then one message per peer node).
    """
    g, m = rows.shape
    levels = hierarchy(fabric, rows)
    positions = None
    for ids in reversed(levels):  # the outermost splitting level: fewest, largest cross-part messages
        positions = split_rows(rows, ids)
        if positions is not None:
            break
    if positions is None:
        return flat_segment(direct_all_to_all_phases(rows, size, block_table, n_blocks))
    g, parts, m1 = positions.shape
    K = n_blocks // (m * m) if block_table is not None else 0
    phases: list[Phase] = []
    # stage 1: inside part a, (a,i) -> (a,j), j != i: parts blocks of S/m
    ii, jj = np.nonzero(~np.eye(m1, dtype=bool))
    flow_row = np.repeat(np.arange(g), parts * len(ii))
    part_of_flow = np.tile(np.repeat(np.arange(parts), len(ii)), g)
    i_of_flow = np.tile(ii, g * parts)
    j_of_flow = np.tile(jj, g * parts)
    src_pos = positions[flow_row, part_of_flow, i_of_flow]
    dst_pos = positions[flow_row, part_of_flow, j_of_flow]
    blocks = None
    if block_table is not None:
        dests = positions[flow_row[:, None], np.arange(parts)[None, :], j_of_flow[:, None]]  # (F, parts): (b, j)
        local = (src_pos[:, None] * m + dests)[..., None] * K + np.arange(K)
        blocks = block_table[flow_row[:, None], local.reshape(len(flow_row), -1)]
    if len(ii):
        phases.append(Phase(rows[flow_row, src_pos], rows[flow_row, dst_pos], size / m * parts, key="ha2a1", stage=0,
                            blocks=blocks))
    # stage 2: column j, (a,j) -> (b,j), b != a: m1 blocks of S/m (from every (a, i'))
    aa, bb = np.nonzero(~np.eye(parts, dtype=bool))
    flow_row = np.repeat(np.arange(g), m1 * len(aa))
    j_of_flow = np.tile(np.repeat(np.arange(m1), len(aa)), g)
    a_of_flow = np.tile(aa, g * m1)
    b_of_flow = np.tile(bb, g * m1)
    src_pos = positions[flow_row, a_of_flow, j_of_flow]
    dst_pos = positions[flow_row, b_of_flow, j_of_flow]
    blocks = None
    if block_table is not None:
        origins = positions[flow_row[:, None], a_of_flow[:, None], np.arange(m1)[None, :]]  # (F, m1): (a, i')
        local = (origins * m + dst_pos[:, None])[..., None] * K + np.arange(K)
        blocks = block_table[flow_row[:, None], local.reshape(len(flow_row), -1)]
    if len(aa):
        phases.append(Phase(rows[flow_row, src_pos], rows[flow_row, dst_pos], size / m * m1, key="ha2a2", stage=1,
                            blocks=blocks))
    return [[p] for p in phases]


@register("all_reduce", "hier_ml", "multi-level hierarchical over every level of fab.levels() (tray, leaf, ...)",
          n_blocks=_all_reduce_blocks(True), closed_form=hier_all_reduce_time, options=_options("all_reduce"),
          closed_form_params=_closed_form_params(True))
def multilevel_all_reduce(rows, size, fabric, block_table, n_blocks, *, chunks, intra, inter):
    """Multi-level all-reduce: :func:`hier_all_reduce` applied recursively over every level that splits
    the group (tray, then leaf, ...): reduce-scatter down the levels, ``inter`` all-reduce at the top,
    all-gather back up.

    Steps: per level cut (parts of m1 ranks, S_k bytes per rank at that level): an ``intra``
    reduce-scatter of S_k, then (after the levels above) an ``intra`` all-gather of S_k; at the top an
    ``inter`` all-reduce of S / prod(m1) among the ranks of equal position in every part.

    Closed form: sum over level cuts (m1 ranks, S_k = S / prod of the inner m1) of RS_intra(m1, S_k) +
    AG_intra(m1, S_k), plus AR_inter on the top-level group.

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005 (applied per level); NCCL NVLS tree.

    Raises:
        ScheduleError: fewer than two levels split the group (use ``hier``).
    """
    _multilevel_check(rows, fabric)
    levels = hierarchy(fabric, rows, multilevel=True)
    return hier_all_reduce_segments(rows, size, levels, block_table, n_blocks, intra, inter, chunks)


@register("all_gather", "hier_ml", "multi-level hierarchical all-gather over every level of fab.levels()",
          n_blocks=_pieces_blocks, closed_form=_pieces_time("all_gather"), options=_options("all_gather"),
          closed_form_params=_closed_form_params(True))
def multilevel_all_gather(rows, size, fabric, block_table, n_blocks, *, chunks, intra, inter):
    """Multi-level all-gather: :func:`hier_all_gather` over every level that splits the group.

    Steps: an ``inter`` all-gather among the ranks of equal position in every top-level part, then per
    level cut, outermost first, an ``intra`` all-gather inside each part of what its ranks hold.

    Closed form: AG_inter on the top-level group plus, per level cut, AG_intra(m1, S_k).

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005 (applied per level).

    Raises:
        ScheduleError: fewer than two levels split the group (use ``hier``).
    """
    _multilevel_check(rows, fabric)
    levels = hierarchy(fabric, rows, multilevel=True)
    return hier_all_gather_segments(rows, size, levels, block_table, n_blocks, intra, inter, chunks)


@register("reduce_scatter", "hier_ml", "multi-level hierarchical reduce-scatter over every level of fab.levels()",
          n_blocks=_pieces_blocks, closed_form=_pieces_time("reduce_scatter"), options=_options("reduce_scatter"),
          closed_form_params=_closed_form_params(True))
def multilevel_reduce_scatter(rows, size, fabric, block_table, n_blocks, *, chunks, intra, inter):
    """Multi-level reduce-scatter: :func:`hier_reduce_scatter` over every level that splits the group.

    Steps: per level cut, innermost first, an ``intra`` reduce-scatter inside each part (each rank keeps
    its column's share, S_k / m1), then an ``inter`` reduce-scatter among the ranks of equal position in
    every top-level part.

    Closed form: per level cut RS_intra(m1, S_k), plus RS_inter on the top-level group.

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005 (applied per level).

    Raises:
        ScheduleError: fewer than two levels split the group (use ``hier``).
    """
    _multilevel_check(rows, fabric)
    levels = hierarchy(fabric, rows, multilevel=True)
    return hier_reduce_scatter_segments(rows, size, levels, block_table, n_blocks, intra, inter, chunks)
