"""All-port (multi-rail) algorithms: keep the tray links and the switched links busy at the same time.

A hierarchical all-reduce (:mod:`.hierarchical`) runs its tray phase, its across-tray phase and its tray
phase again one after the other, so the tray mesh idles while the switched links (rails) work and the
other way round. On a fabric whose chips have both kinds of port (Maia 200: 20 tray links and 8 switched
links per chip, docs/maia200.md) the all-port schedule below cuts the data into ``c`` chunks and runs
them as a pipeline whose stages alternate between the two kinds: while chunk ``j`` crosses the trays
on the rails (every chip of a tray drives its own switched links), chunk ``j+1`` is reduce-scattered and
chunk ``j-k-1`` all-gathered inside the tray on the tray links. Reduce-scatter and all-gather
``multirail`` are the two halves of the same pipeline (tray stage first, or last).

Notation: the innermost level of ``fabric.levels()`` that splits the group cuts it into ``T`` parts
(trays) of ``m1`` ranks; ``n = m1 T``; ``S`` bytes; ``c`` chunks; ``k = 2 (T-1)`` ring steps across the
trays (``inter="direct"``: k = 2). Per-class figures of the closed form (``closed_form_params``): ``B_t`` the slowest tray-peer
edge (bytes/s per direction), ``alpha_t`` its latency; ``B_r`` a chip's rail bandwidth to its
across-tray neighbour (all equal-cost paths, every plane), ``alpha_r`` that path's latency. Where tray
peers talk through the switches (no direct tray links), both kinds share the chip's port: ``B`` and
``alpha`` of the closed form's arguments.

Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005 (reduce-scatter + all-reduce + all-gather);
NCCL's multi-rail / PXN inter-node schemes; Microsoft, "Maia 200: A Software Defined Dataflow System
for Large-scale AI Acceleration" (Hot Chips 38, 2026; quoted by the notes in docs/maia200.md): the
collective library drives tray and switched links together.
"""

from __future__ import annotations

import numpy as np

from topo import ScheduleError

from ..schedule import Phase
from .direct import _all_pairs, direct_all_gather_phases, direct_reduce_scatter_phases
from .hierarchical import fabric_levels, level_split, split_rows
from .registry import Option, flat_segment, label, register
from .ring import ring_all_gather_phases, ring_reduce_scatter_phases

#: the pipeline depth option (default 8: enough chunks to overlap the classes without many tiny steps)
MR_CHUNKS = Option("chunks", int, 8, "pipeline depth: chunks whose tray and rail stages overlap")
#: the across-tray all-reduce of each quarter: direct (2 steps, T-1 flows per rank: a short pipeline), ring
#: (2 (T-1) steps of one flow: crosses a tier-0 switch boundary only once per switch), or auto: direct unless
#: its traffic out of a tier-0 switch would exceed the switch's (oversubscribed) uplinks, then ring
MR_INTER = Option("inter", str, "auto", "across-tray all-reduce per tray position: direct (2 steps), ring, or "
                  "auto (direct unless it would overload oversubscribed uplinks)", choices=("auto", "direct", "ring"))


def spans_outer_level(fabric, rows: np.ndarray) -> bool:
    """Whether a direct exchange across the group's trays would overload an oversubscribed outer level:
    for some part p of a level above the tray (a tier-0 switch) holding n_p of the group's ranks in T_p of
    its T trays, n_p (T - T_p) / (T - 1) ranks' worth of rail traffic leaves p, more than the part's
    chips / ``fabric.meta["oversubscription"]`` uplinks carry."""
    levels = fabric_levels(fabric)
    if len(levels) < 2:
        return False
    over = float(fabric.meta.get("oversubscription", 1.0) or 1.0)
    tray_of = levels[0][rows[0]]
    T = len(np.unique(tray_of))
    if T < 2:
        return False
    for ids in levels[1:]:
        part_of = ids[rows[0]]
        for p in np.unique(part_of):
            inside = part_of == p
            n_p, T_p = int(inside.sum()), len(np.unique(tray_of[inside]))
            if n_p * (T - T_p) / (T - 1) > np.count_nonzero(ids == p) / over + 1e-9:
                return True
    return False


def resolve_inter(inter: str, spans: bool) -> str:
    """``inter="auto"``: ring when a direct exchange would overload an outer level (``spans``), else direct."""
    return ("ring" if spans else "direct") if inter == "auto" else inter


def rail_steps(T: int, inter: str) -> int:
    """k: the across-tray steps of one chunk (direct: reduce-scatter + all-gather; ring: 2 (T-1)); 0 for
    one tray."""
    if T == 1:
        return 0
    return 2 if inter == "direct" else 2 * (T - 1)


def _cut(rows: np.ndarray, fabric) -> np.ndarray:
    """Positions (g, T, m1) of the innermost level that splits the rows; a group inside one tray is one
    part (T = 1: the tray stages alone), a group of one rank per tray m parts of one (m1 = 1: the rail
    stages alone).

    Raises:
        ScheduleError: the level splits the group unevenly.
    """
    g, m = rows.shape
    levels = fabric_levels(fabric)
    for ids in levels:  # as hierarchy(multilevel=False): the innermost level that splits the group
        positions = split_rows(rows, ids)
        if positions is not None:
            return positions
    one_tray = bool(levels) and len(np.unique(levels[0][rows[0]])) == 1
    shape = (g, 1, m) if one_tray else (g, m, 1)
    return np.broadcast_to(np.arange(m).reshape(shape[1:]), shape).copy()


def _n_blocks(rows, fabric, options) -> int:
    """Block count: c chunks x m1 tray pieces x T ring pieces = m x c."""
    _cut(rows, fabric)
    return rows.shape[1] * options["chunks"]


def _pairs_in_parts(intra: np.ndarray, m1: int):
    """Every ordered pair (i, i2), i != i2, of positions inside every row of ``intra`` (parts of m1
    ranks): ``(flow_row, ii, jj, src, dst)`` with ``ii``/``jj`` the m1 (m1 - 1) position pairs, one flow per
    (row, pair), rows outermost."""
    ii, jj = np.nonzero(~np.eye(m1, dtype=bool))
    n_intra = intra.shape[0]
    flow_row = np.repeat(np.arange(n_intra), len(ii))
    return flow_row, ii, jj, intra[flow_row, np.tile(ii, n_intra)], intra[flow_row, np.tile(jj, n_intra)]


def _tray_exchange(intra, T, m1, piece_bytes, table, KT, j, stage, reduce, pairs=None):
    """Direct exchange of chunk ``j`` inside every part: member i sends member i2 piece i2 (``reduce``:
    its partial of the piece member i2 owns) or piece i (all-gather: its reduced piece). ``pairs``:
    ``_pairs_in_parts(intra, m1)``, computed once per compile (the same for every chunk and stage)."""
    flow_row, ii, jj, src, dst = pairs if pairs is not None else _pairs_in_parts(intra, m1)
    n_intra = intra.shape[0]
    blocks = None
    if table is not None:
        piece = np.tile(jj if reduce else ii, n_intra)
        local = (j * m1 + piece)[:, None] * KT + np.arange(KT)[None, :]
        blocks = label(table, flow_row // T, local)
    extra = {"reduce": True, "compute": piece_bytes * (m1 - 1)} if reduce else {}
    return Phase(src, dst, piece_bytes, key="mr_tray", chunk=j, stage=stage, blocks=blocks, **extra)


def multirail_phases(rows, size, fabric, block_table=None, n_blocks=0, chunks=8, inter="direct") -> list[Phase]:
    """The phases of the all-port all-reduce (see :func:`multirail_all_reduce`)."""
    positions = _cut(rows, fabric)
    g, T, m1 = positions.shape
    c = chunks
    intra, columns = level_split(rows, positions)  # (g*T, m1), (g*m1, T)
    KT = n_blocks // (c * m1) if block_table is not None else 0  # blocks per (chunk, tray piece)
    piece = size / (c * m1)
    inter = resolve_inter(inter, spans_outer_level(fabric, rows))
    k = rail_steps(T, inter)
    out: list[Phase] = []
    # the flows of a tray exchange, and of a direct rail step without block labels, are the same for every
    # chunk: built once, shared by the chunks' phases (64-chunk candidates of auto rebuilt them 256 times a compile;
    # not flagged read-only, as the engine's numba kernels would compile a read-only specialisation)
    pairs = _pairs_in_parts(intra, m1)
    rail_pairs = None
    if T > 1 and inter == "direct" and block_table is None:
        rail_pairs = _all_pairs(columns, None, 0, True)[:2]
    for j in range(c):
        if m1 > 1:
            out.append(_tray_exchange(intra, T, m1, piece, block_table, KT, j, 0, True, pairs))
        if T == 1:
            out.append(_tray_exchange(intra, T, m1, piece, block_table, KT, j, k + 1, False, pairs))
            continue
        col_table = None
        if block_table is not None:
            # column row (row, i) carries tray piece i of chunk j: T ring pieces of KT / T blocks
            i_of = np.tile(np.arange(m1), g)
            local = (j * m1 + i_of)[:, None] * KT + np.arange(KT)[None, :]
            col_table = block_table[np.repeat(np.arange(g), m1)[:, None], local]
        if inter == "direct":
            ring = direct_reduce_scatter_phases(columns, piece, col_table, KT, stage=1, key="mr_rail", pairs=rail_pairs)
            ring += direct_all_gather_phases(columns, piece / T, col_table, KT, stage=2, key="mr_rail",
                                             pairs=rail_pairs)
        else:
            ring = ring_reduce_scatter_phases(columns, piece, col_table, KT, 1, 0, 1, "mr_rail")
            ring += ring_all_gather_phases(columns, piece / T, col_table, KT, 1, 0, T, "mr_rail")
        for p in ring:
            p.chunk, p.slot = j, p.stage + j
        out += ring
        if m1 > 1:
            out.append(_tray_exchange(intra, T, m1, piece, block_table, KT, j, k + 1, False, pairs))
    return out


# ---------------------------------------------------------------------- closed form


def multirail_slots(T: int, chunks: int, inter: str = "direct") -> list[tuple[int, int]]:
    """(tray phases, rail phases) running in each pipeline slot: chunk j's stage s runs in slot j + s;
    stage 0 and k+1 are tray phases, stages 1..k rail steps (:func:`rail_steps`)."""
    c, k = chunks, rail_steps(T, inter)
    out = []
    for t in range(c + k + 1):
        n_tray = int(0 <= t < c) + int(0 <= t - k - 1 < c)
        n_rail = max(0, min(c - 1, t - 1) - max(0, t - k) + 1)
        out.append((n_tray, n_rail))
    return out


def multirail_all_reduce_time(n, size, bandwidth, latency=0.0, chunks=8, inter="auto", part_sizes=(),
                              tray_bandwidth=None, rail_bandwidth=None, tray_latency=0.0, rail_latency=0.0,
                              spans=False, **_):
    """Sum over the c + k + 1 pipeline slots of the slowest link class in the slot.

    A slot with ``a`` tray phases and ``b`` rail steps takes, on separate tray and rail ports,
    max(a S/(c m1 B_t) + alpha_t, b q S/(c m1 T B_r) + alpha_r) (a class absent from the slot counts 0;
    q = T-1 pieces per rail step for ``inter="direct"``, 1 for ring); on one shared port (no
    ``tray_bandwidth`` nor ``rail_bandwidth``): (a (m1-1) S/(c m1) + b q S/(c m1 T)) / B + alpha. For large c this tends to
    max(2 S/(m1 B_t), 2 (T-1) S/(n B_r)): the all-ports bound, where a sequential hierarchical all-reduce
    takes the sum.
    """
    if not part_sizes:
        raise ScheduleError("multirail: the closed form needs part_sizes=(m1,), the members per tray")
    m1 = int(part_sizes[0])
    T = n // m1
    inter = resolve_inter(inter, spans)
    c = int(chunks)
    # one rank per tray: no tray stages (their slots are empty)
    slots = [(a if m1 > 1 else 0, b) for a, b in multirail_slots(T, c, inter)]
    return _slots_time(slots, size / (c * m1), m1, T, inter, bandwidth, latency,
                       tray_bandwidth, rail_bandwidth, tray_latency, rail_latency)


def _slots_time(slots, tray_bytes, m1, T, inter, bandwidth, latency,
                tray_bandwidth, rail_bandwidth, tray_latency, rail_latency) -> float:
    """Seconds of a pipeline given as (tray phases a, rail steps b) per slot: each slot lasts as long as its
    slower link class (on one shared port, as the two added). ``tray_bytes`` = S / (c m1) per tray phase;
    a rail step moves tray_bytes / T x (T-1 pieces for ``inter="direct"``, 1 for ring)."""
    rail_bytes = tray_bytes / T * (T - 1 if inter == "direct" else 1)
    total = 0.0
    for a, b in slots:
        if a == 0 and b == 0:
            continue
        if tray_bandwidth is None and rail_bandwidth is None:
            total += (a * (m1 - 1) * tray_bytes + b * rail_bytes) / bandwidth + latency
        else:
            t_tray = a * tray_bytes / tray_bandwidth + tray_latency if a else 0.0
            t_rail = b * rail_bytes / rail_bandwidth + rail_latency if b else 0.0
            total += max(t_tray, t_rail)
    return total


def multirail_params(fabric, group) -> dict:
    """Per-class bandwidths and latencies of ``group`` on ``fabric`` for the closed form: the tray size;
    where tray peers have direct links, the slowest peer edge's capacity and latency (seen from the
    group's first rank) and the rail bandwidth (equal-cost paths x their bottleneck) and latency to its
    across-tray ring neighbour."""
    rows = np.asarray(group, dtype=np.int64)[None, :]
    positions = _cut(rows, fabric)
    m1 = positions.shape[2]
    intra, columns = level_split(rows, positions)
    out: dict = {"part_sizes": (m1,), "spans": spans_outer_level(fabric, rows)}
    a = int(intra[0, 0])
    T = columns.shape[1]
    if m1 > 1:
        peers = intra[0, 1:]
        routes = fabric.routes(np.full(len(peers), a), peers)
        if not np.all(routes.path_lengths() == 1) or np.any(routes.path_counts() != 1):
            return out  # tray peers through the switches: one shared port
        cap = fabric.edge_capacity[routes.path_edges]
        lat = fabric.edge_latency[routes.path_edges]
        out["tray_bandwidth"] = float(cap.min())
        out["tray_latency"] = float(lat[np.argmin(cap)])
    if T == 1:
        out.setdefault("tray_bandwidth", 1.0)
        out["rail_bandwidth"] = 1.0  # unused: no rail stages
        return out
    b = int(columns[0, 1])
    rr = fabric.routes(np.array([a]), np.array([b]))
    paths = rr.edges_of(0)
    out["rail_bandwidth"] = float(len(paths) * min(fabric.edge_capacity[p].min() for p in paths))
    out["rail_latency"] = float(max(fabric.path_latency(p) for p in paths))
    return out


# ---------------------------------------------------------------------- registered algorithms


@register("all_reduce", "multirail",
          "all-port hierarchical: tray reduce-scatter/all-gather of some chunks overlap the rail all-reduce of "
          "others (tray and switched links at once)",
          n_blocks=_n_blocks, closed_form=multirail_all_reduce_time, options=(MR_CHUNKS, MR_INTER),
          closed_form_params=multirail_params, auto_chunks=True)
def multirail_all_reduce(rows, size, fabric, block_table, n_blocks, *, chunks, inter):
    """All-port (multi-rail) all-reduce: a hierarchical all-reduce pipelined over ``chunks`` so that the
    tray links and the switched links (rails) carry different chunks at the same time.

    Steps: chunk j (S/c bytes) runs the stages (0) direct reduce-scatter inside the tray: every rank sends
    each tray peer S/(c m1) bytes, so each owns one quarter (m1 = 4) of the chunk; (1..k) all-reduce of
    its S/(c m1) bytes with the ranks of equal tray position in the other T-1 trays on the rank's own
    switched links (all m1 ranks of a tray, every plane, at once): ``inter="direct"`` a direct
    reduce-scatter and all-gather, k = 2 steps of T-1 pieces of S/(c m1 T) bytes; ``inter="ring"``
    k = 2 (T-1) ring steps of one piece (``"auto"``, the default: direct unless its traffic out of a tier-0
    switch would exceed the switch's oversubscribed uplinks, then ring; see :func:`spans_outer_level`);
    (k+1) direct all-gather inside the tray, S/(c m1) bytes to each peer. Stage s of chunk j runs in slot
    j + s: c + k + 1 slots, the tray stages of two chunks beside the ring steps of up to min(c, k) others.

    Closed form: sum over slots of max(a S/(c m1 B_t) + alpha_t, b q S/(c m1 T B_r) + alpha_r) for a slot
    of a tray and b rail phases, q = T-1 (direct) or 1 (ring) (shared port: (a (m1-1) S/(c m1) +
    b q S/(c m1 T)) / B + alpha); for large c
    it tends to the all-ports bound max(2 S/(m1 B_t), 2 (T-1)/T S/(m1 B_r)) instead of hier's sum.

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005; NCCL multi-rail / PXN; Maia 200 (Hot Chips 38,
    2026): the collective library drives tray and switched links together.
    """
    return flat_segment(multirail_phases(rows, size, fabric, block_table, n_blocks, chunks, inter))


# ---------------------------------------------------------------------- reduce-scatter and all-gather
# Rank r's piece of the S bytes (reduce-scatter: of its input; all-gather: gathered) is S/n, cut into c
# chunks: block (r, j) = local id r * c + j (per_rank_chunk layout, one block each). Tray position i of
# every tray forms column i; the tray stage moves, per chunk, the T blocks of a column (S/(c m1) bytes).


def _tray_columns(intra, positions, c, j, table, stage, reduce, piece_bytes):
    """Direct exchange inside every tray of chunk j's column blocks: member i sends member i2 the T
    blocks of column i2 (reduce-scatter: its partial sums) or of column i (all-gather: what it holds)."""
    g, T, m1 = positions.shape
    flow_row, ii, jj, src, dst = _pairs_in_parts(intra, m1)
    n_intra = intra.shape[0]
    blocks = None
    if table is not None:
        col = np.tile(jj if reduce else ii, n_intra)
        g_of = flow_row // T
        local = positions[g_of[:, None], np.arange(T)[None, :], col[:, None]] * c + j
        blocks = label(table, g_of, local)
    extra = {"reduce": True, "compute": piece_bytes * (m1 - 1)} if reduce else {}
    return Phase(src, dst, piece_bytes, key="mr_tray", chunk=j, stage=stage, blocks=blocks, **extra)


def multirail_pieces_phases(rows, size, fabric, block_table=None, n_blocks=0, chunks=8, inter="auto",
                            collective="reduce_scatter") -> list[Phase]:
    """The phases of the all-port reduce-scatter / all-gather (see :func:`multirail_reduce_scatter`)."""
    positions = _cut(rows, fabric)
    g, T, m1 = positions.shape
    c = chunks
    inter = resolve_inter(inter, spans_outer_level(fabric, rows))
    k = rail_steps(T, inter) // 2
    intra, columns = level_split(rows, positions)
    tray_bytes = size / (c * m1)
    block = size / (rows.shape[1] * c)
    rs = collective == "reduce_scatter"
    out: list[Phase] = []
    i_of = np.tile(np.arange(m1), g)
    for j in range(c):
        if rs and m1 > 1:
            out.append(_tray_columns(intra, positions, c, j, block_table, 0, True, tray_bytes))
        if T > 1:
            col_table = None
            if block_table is not None:
                local = positions[np.repeat(np.arange(g), m1)[:, None], np.arange(T)[None, :], i_of[:, None]] * c + j
                col_table = block_table[np.repeat(np.arange(g), m1)[:, None], local]
            s0 = 1 if rs else 0
            if inter == "direct":
                rail = (direct_reduce_scatter_phases(columns, block * T, col_table, T, stage=s0, key="mr_rail") if rs
                        else direct_all_gather_phases(columns, block, col_table, T, stage=s0, key="mr_rail"))
            else:
                rail = (ring_reduce_scatter_phases(columns, block * T, col_table, T, 1, 0, s0, "mr_rail") if rs
                        else ring_all_gather_phases(columns, block, col_table, T, 1, 0, s0, "mr_rail"))
            for p in rail:
                p.chunk, p.slot = j, p.stage + j
            out += rail
        if not rs and m1 > 1:
            out.append(_tray_columns(intra, positions, c, j, block_table, k, False, tray_bytes))
    return out


def multirail_pieces_time(n, size, bandwidth, latency=0.0, chunks=8, inter="auto", part_sizes=(),
                          tray_bandwidth=None, rail_bandwidth=None, tray_latency=0.0, rail_latency=0.0,
                          spans=False, collective="reduce_scatter", **_):
    """Sum over the pipeline slots of the slower class, as :func:`multirail_all_reduce_time`, with one
    tray stage (first for reduce-scatter, last for all-gather) and k/2 rail steps per chunk."""
    if not part_sizes:
        raise ScheduleError("multirail: the closed form needs part_sizes=(m1,), the members per tray")
    m1 = int(part_sizes[0])
    T = n // m1
    c = int(chunks)
    inter = resolve_inter(inter, spans)
    k = rail_steps(T, inter) // 2
    rail = ["R"] * k
    stages = (["T"] + rail) if collective == "reduce_scatter" else (rail + ["T"])
    if m1 == 1:
        stages = rail
    slots = []
    for t in range(c + len(stages) - 1):  # chunk j runs stage t - j in slot t
        running = [stages[t - j] for j in range(c) if 0 <= t - j < len(stages)]
        slots.append((running.count("T"), running.count("R")))
    return _slots_time(slots, size / (c * m1), m1, T, inter, bandwidth, latency,
                       tray_bandwidth, rail_bandwidth, tray_latency, rail_latency)


def _pieces_time(collective):
    def closed_form(n, size, bandwidth, latency=0.0, **params):
        """:func:`multirail_pieces_time` of this collective."""
        return multirail_pieces_time(n, size, bandwidth, latency, collective=collective, **params)

    return closed_form


@register("reduce_scatter", "multirail",
          "all-port hierarchical: the tray reduce-scatter of some chunks overlaps the rail reduce-scatter of others",
          n_blocks=_n_blocks, closed_form=_pieces_time("reduce_scatter"), options=(MR_CHUNKS, MR_INTER),
          closed_form_params=multirail_params, auto_chunks=True)
def multirail_reduce_scatter(rows, size, fabric, block_table, n_blocks, *, chunks, inter):
    """All-port reduce-scatter of ``size`` input bytes per rank, pipelined over ``chunks`` so the tray links
    and the switched links carry different chunks at once.

    Steps: chunk j runs (0) a direct reduce-scatter inside the tray: rank (a, i) sends each peer (a, i2)
    its partial sums of chunk j of the pieces of column i2 (the ranks at tray position i2 of every tray):
    T blocks of S/(n c), S/(c m1) bytes; (1..k) a reduce-scatter of those S/(c m1) bytes among column i on
    the switched links: ``inter="direct"`` one step of T-1 blocks, ``"ring"`` T-1 steps of one block
    (``"auto"``: direct unless it would overload oversubscribed tier-0 uplinks). Stage s of chunk j runs
    in slot j + s.

    Closed form: sum over the c + k slots of max(a S/(c m1 B_t) + alpha_t, b q S/(c n B_r) + alpha_r)
    (a tray and b rail phases in the slot; q = T-1 direct, 1 ring; shared port: (a (m1-1) S/(c m1) +
    b q S/(c n)) / B + alpha); it tends to the all-ports bound max(S/(m1 B_t), (T-1)/T S/(m1 B_r)).

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005; NCCL multi-rail / PXN; Maia 200 (Hot Chips 38).
    """
    return flat_segment(multirail_pieces_phases(rows, size, fabric, block_table, n_blocks, chunks, inter,
                                                "reduce_scatter"))


@register("all_gather", "multirail",
          "all-port hierarchical: the rail all-gather of some chunks overlaps the tray all-gather of others",
          n_blocks=_n_blocks, closed_form=_pieces_time("all_gather"), options=(MR_CHUNKS, MR_INTER),
          closed_form_params=multirail_params, auto_chunks=True)
def multirail_all_gather(rows, size, fabric, block_table, n_blocks, *, chunks, inter):
    """All-port all-gather of ``size`` gathered bytes, pipelined over ``chunks``: the mirror of
    :func:`multirail_reduce_scatter`.

    Steps: chunk j runs (0..k-1) an all-gather among column i (tray position i of every tray) on the
    switched links of the ranks' chunk-j blocks (S/(n c) each): ``inter="direct"`` one step, ``"ring"``
    T-1 steps; then (k) a direct all-gather inside the tray: each rank sends its peers the T blocks of its
    column, S/(c m1) bytes. Stage s of chunk j runs in slot j + s.

    Closed form: as the reduce-scatter's, the tray stage last: sum over slots of max(a S/(c m1 B_t) +
    alpha_t, b q S/(c n B_r) + alpha_r).

    Reference: Thakur, Rabenseifner and Gropp, IJHPCA 2005; NCCL multi-rail / PXN; Maia 200 (Hot Chips 38).
    """
    return flat_segment(multirail_pieces_phases(rows, size, fabric, block_table, n_blocks, chunks, inter,
                                                "all_gather"))
