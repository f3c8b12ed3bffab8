"""Structural shortcuts for chip -> leaf -> spine fabrics: exact link merging and class grouping.

Detected from the graph alone (node ``kind``/``tier`` attributes and the edges), never from a builder's
internals, then checked against the fabric's own router on sample pairs, so a fabric that does not fit
simply falls back to the general path. A fabric qualifies when:

- chips do not relay traffic (``forward`` false), every chip has uplinks to tier-1 switches ("leaves"),
  chips may also have direct chip-chip links (trays);
- chips that share the same set of leaves form a *group*; every leaf serves exactly one group; tier-2
  switches ("spines") connect leaves only; a leaf's spine set defines its *plane*; each group has exactly
  one leaf in every plane, every plane has the same number of spines and no spine serves two planes;
- links of each class below have equal capacity and latency.

Under even ECMP splitting, then, these edge classes always carry identical load per member and are merged
into one column of summed capacity (exact, see DESIGN.md performance notes):

- ``up(c)``: the uplinks of chip ``c`` (one per plane), ``down(c)`` its downlinks;
- ``gup(g)``: every leaf->spine link of group ``g``'s leaves, ``gdown(g)`` every spine->leaf link into them;
- each direct chip-chip edge stays its own column.

A pair's row is then ``[direct]``, ``[up(s), down(d)]`` (same group) or ``[up(s), gup(gs), gdown(gd),
down(d)]`` (cross-group): at most 4 entries instead of ~2,000 on ``maia200``.

Grouping (``grouping="structure"`` in step mode, :func:`uniform_all_to_all`) goes further: flows are
classed by (relation, source group, destination group) and every chip / direct-link column is summed
over the group. Exact when the traffic is uniform over the classes (equal sizes within a class, and
every member link of a summed column carries the same number of flows of each class); the general
entry point checks that and falls back otherwise.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from topo import Fabric

from .maxmin import lazy_kernel, resolve_method
from .routing import Problem, build_edge_problem


@dataclass
class Structure:
    nc: int
    group: np.ndarray  # group id per chip (int32)
    n_groups: int
    cc_ptr: np.ndarray  # CSR of direct chip->chip edges by source chip
    cc_dst: np.ndarray
    cc_col: np.ndarray  # column of each direct edge (0..n_direct-1)
    up_col: np.ndarray  # per chip
    down_col: np.ndarray
    gup_col: np.ndarray  # per group
    gdown_col: np.ndarray
    col_cap: np.ndarray
    col_lat: np.ndarray
    edge_col: np.ndarray
    edge_scale: np.ndarray
    n_direct: int
    #: _coarse_maps' answer, computed once (a step-mode solve asked for it at every step: ~50 ms on maia200)
    coarse: tuple | None = field(default=None, repr=False, compare=False)


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def structure(fab: Fabric) -> Structure | None:
    """The fabric's two-tier structure (cached), or None when it does not qualify (see module doc)."""
    try:
        return _CACHE[fab]
    except KeyError:
        pass
    except TypeError:  # pragma: no cover - unhashable
        return None
    s = _detect(fab)
    if s is not None and not _verify(fab, s):
        s = None
    _CACHE[fab] = s
    return s


def _all_equal_by(keys: np.ndarray, values: np.ndarray, n: int) -> bool:
    """Are ``values`` equal within each key (keys in 0..n-1)?"""
    if not len(keys):
        return True
    mx = np.full(n, -np.inf)
    mn = np.full(n, np.inf)
    np.maximum.at(mx, keys, values)
    np.minimum.at(mn, keys, values)
    used = np.isfinite(mx)
    return bool(np.all(mx[used] == mn[used]))


def _detect(fab: Fabric) -> Structure | None:
    nc, nn = fab.n_chips, fab.n_nodes
    if nc < 2 or fab.forwards[:nc].any() or not (fab.edge_capacity > 0).all():
        return None
    nodes = fab.node_data if hasattr(fab, "node_data") else fab.graph.nodes  # no edge materialisation
    tier = np.zeros(nn, dtype=np.int64)
    for i in range(nc, nn):
        t = nodes[fab.nodes[i]].get("tier")
        if t not in (1, 2):
            return None
        tier[i] = t
    es, ed = fab.edge_src, fab.edge_dst
    ts, td = tier[es], tier[ed]
    is_chip = np.arange(nn) < nc
    cs, cd = is_chip[es], is_chip[ed]
    cc = cs & cd
    up = cs & ~cd & (td == 1)
    down = ~cs & cd & (ts == 1)
    lu = ~cs & ~cd & (ts == 1) & (td == 2)
    ld = ~cs & ~cd & (ts == 2) & (td == 1)
    if not (cc | up | down | lu | ld).all() or not up.any():
        return None
    cap, lat = fab.edge_capacity, fab.edge_latency
    rng = np.random.default_rng(12345)
    r1 = rng.random(nn) + 0.5
    # chips: the set of leaves above (up) and below (down) must coincide
    h_up = np.bincount(es[up], weights=r1[ed[up]], minlength=nn)[:nc]
    n_up = np.bincount(es[up], minlength=nn)[:nc]
    h_dn = np.bincount(ed[down], weights=r1[es[down]], minlength=nn)[:nc]
    n_dn = np.bincount(ed[down], minlength=nn)[:nc]
    if (n_up == 0).any() or not np.array_equal(n_up, n_dn) or not np.allclose(h_up, h_dn, rtol=1e-12, atol=0):
        return None
    key = np.round(h_up, 9) * 1e3 + n_up
    _, group = np.unique(key, return_inverse=True)
    group = group.astype(np.int32)
    G = int(group.max()) + 1
    gsize = np.bincount(group, minlength=G)
    # leaves: each serves exactly one group, all of its chips, both directions
    leaves = np.flatnonzero(tier == 1)
    leaf_of_up = ed[up]
    lgmax = np.full(nn, -1)
    lgmin = np.full(nn, G + 1)
    np.maximum.at(lgmax, leaf_of_up, group[es[up]])
    np.minimum.at(lgmin, leaf_of_up, group[es[up]])
    if (lgmax[leaves] != lgmin[leaves]).any() or (lgmax[leaves] < 0).any():
        return None
    leaf_group = lgmax
    n_leaf_chips = np.bincount(leaf_of_up, minlength=nn)
    if (n_leaf_chips[leaves] != gsize[leaf_group[leaves]]).any():
        return None
    # equal capacity/latency within each chip's up and down classes
    for mask, owner in ((up, es), (down, ed)):
        o = owner[mask]
        if not (_all_equal_by(o, cap[mask], nc) and _all_equal_by(o, lat[mask], nc)):
            return None
    # spines
    spines = np.flatnonzero(tier == 2)
    if len(spines):
        r2 = rng.random(nn) + 0.5
        hs = np.bincount(es[lu], weights=r2[ed[lu]], minlength=nn)
        ns = np.bincount(es[lu], minlength=nn)
        hs_in = np.bincount(ed[ld], weights=r2[es[ld]], minlength=nn)
        ns_in = np.bincount(ed[ld], minlength=nn)
        if not np.array_equal(ns[leaves], ns_in[leaves]) or not np.allclose(hs[leaves], hs_in[leaves], rtol=1e-12):
            return None
        if (ns[leaves] == 0).any() or len(np.unique(ns[leaves])) != 1:
            return None
        _, plane_l = np.unique(np.round(hs[leaves], 9), return_inverse=True)
        P = int(plane_l.max()) + 1
        plane = np.full(nn, -1)
        plane[leaves] = plane_l
        # one leaf per (group, plane)
        cnt = np.bincount(leaf_group[leaves] * P + plane_l, minlength=G * P)
        if (cnt != 1).any():
            return None
        # no spine serves two planes
        pmax = np.full(nn, -1)
        pmin = np.full(nn, P + 1)
        np.maximum.at(pmax, es[ld], plane[ed[ld]])
        np.minimum.at(pmin, es[ld], plane[ed[ld]])
        if (pmax[spines] != pmin[spines]).any():
            return None
        for mask, owner in ((lu, leaf_group[es]), (ld, leaf_group[ed])):
            o = owner[mask]
            if not (_all_equal_by(o, cap[mask], G) and _all_equal_by(o, lat[mask], G)):
                return None
    elif G > 1:
        return None
    # columns
    cc_e = np.flatnonzero(cc)
    order = np.lexsort((ed[cc_e], es[cc_e]))
    cc_e = cc_e[order]
    n_direct = len(cc_e)
    cc_ptr = np.zeros(nc + 1, dtype=np.int64)
    np.cumsum(np.bincount(es[cc_e], minlength=nc), out=cc_ptr[1:])
    base_up = n_direct
    base_dn = base_up + nc
    base_gu = base_dn + nc
    base_gd = base_gu + G
    ncol = base_gd + G
    edge_col = np.full(fab.n_edges, -1, dtype=np.int64)
    edge_col[cc_e] = np.arange(n_direct)
    edge_col[up] = base_up + es[up]
    edge_col[down] = base_dn + ed[down]
    edge_col[lu] = base_gu + leaf_group[es[lu]]
    edge_col[ld] = base_gd + leaf_group[ed[ld]]
    col_cap = np.bincount(edge_col, weights=cap, minlength=ncol)
    col_lat = np.zeros(ncol)
    col_lat[edge_col] = lat  # equal within a class (checked)
    edge_scale = cap / col_cap[edge_col]
    return Structure(
        nc=nc, group=group, n_groups=G, cc_ptr=cc_ptr, cc_dst=ed[cc_e].astype(np.int64),
        cc_col=np.arange(n_direct, dtype=np.int64), up_col=base_up + np.arange(nc, dtype=np.int64),
        down_col=base_dn + np.arange(nc, dtype=np.int64), gup_col=base_gu + np.arange(G, dtype=np.int64),
        gdown_col=base_gd + np.arange(G, dtype=np.int64), col_cap=col_cap, col_lat=col_lat,
        edge_col=edge_col, edge_scale=edge_scale, n_direct=n_direct,
    )


def _rows_py(src, dst, group, cc_ptr, cc_dst, cc_col, up_col, down_col, gup_col, gdown_col, col_lat,
             indptr, indices, lat):  # pragma: no cover - compiled below
    """Structural rows of pairs (one pass, no temporaries of the batch's size)."""
    n = src.shape[0]
    p = 0
    for i in range(n):
        s = src[i]
        d = dst[i]
        indptr[i] = p
        if s == d:
            lat[i] = 0.0
            continue
        direct = -1
        for q in range(cc_ptr[s], cc_ptr[s + 1]):
            if cc_dst[q] == d:
                direct = cc_col[q]
                break
        if direct >= 0:
            indices[p] = direct
            lat[i] = col_lat[direct]
            p += 1
            continue
        gs = group[s]
        gd = group[d]
        a = up_col[s]
        b = down_col[d]
        if gs == gd:
            indices[p] = a
            indices[p + 1] = b
            lat[i] = col_lat[a] + col_lat[b]
            p += 2
        else:
            c = gup_col[gs]
            e = gdown_col[gd]
            indices[p] = a
            indices[p + 1] = c
            indices[p + 2] = e
            indices[p + 3] = b
            lat[i] = col_lat[a] + col_lat[c] + col_lat[e] + col_lat[b]
            p += 4
    indptr[n] = p
    return p


_rows = lazy_kernel(globals(), "_rows", _rows_py)


def _struct_problem(fab: Fabric, st: Structure, src: np.ndarray, dst: np.ndarray) -> Problem:
    n = len(src)
    indptr = np.empty(n + 1, dtype=np.int64)
    idx_dtype = np.int32 if len(st.col_cap) < 2**31 else np.int64
    indices = np.empty(4 * n, dtype=idx_dtype)
    lat = np.empty(n)
    if resolve_method("auto", n) == "numba":
        nnz = _rows(src, dst, st.group, st.cc_ptr, st.cc_dst, st.cc_col, st.up_col, st.down_col, st.gup_col,
                    st.gdown_col, st.col_lat, indptr, indices, lat)
    else:  # small problems (and no numba): the same loop in Python
        nnz = _rows_py(src, dst, st.group, st.cc_ptr, st.cc_dst, st.cc_col, st.up_col, st.down_col,
                       st.gup_col, st.gdown_col, st.col_lat, indptr, indices, lat)
    indices = indices[:nnz]
    data = np.broadcast_to(np.float64(1.0), (nnz,))
    return Problem(indptr, indices, data, st.col_cap, lat, st.edge_col, st.edge_scale)


def _verify(fab: Fabric, st: Structure) -> bool:
    """Check the structural rows against the fabric's router on sample pairs of every relation."""
    nc = st.nc
    rng = np.random.default_rng(7)
    s = rng.integers(0, nc, 48)
    d = rng.integers(0, nc, 48)
    # make sure each relation appears: direct neighbours, same group, other group
    extra_s, extra_d = [], []
    for c in rng.integers(0, nc, 8).tolist():
        if st.cc_ptr[c + 1] > st.cc_ptr[c]:
            extra_s.append(c)
            extra_d.append(int(st.cc_dst[st.cc_ptr[c]]))
        same = np.flatnonzero(st.group == st.group[c])
        extra_s.append(c)
        extra_d.append(int(same[-1]))
    s = np.concatenate([s, extra_s]).astype(np.int64)
    d = np.concatenate([d, extra_d]).astype(np.int64)
    try:
        ip, ix, dv, lat = build_edge_problem(fab, s, d, "ecmp", 0)
    except Exception:
        return False
    p = _struct_problem(fab, st, s, d)
    col_size = np.bincount(st.edge_col[st.edge_col >= 0], minlength=len(st.col_cap))
    for i in range(len(s)):
        edges = ix[ip[i]:ip[i + 1]]
        frac = dv[ip[i]:ip[i + 1]]
        cols = np.asarray(p.indices[p.indptr[i]:p.indptr[i + 1]], dtype=np.int64)
        ec = st.edge_col[edges]
        if set(ec.tolist()) != set(cols.tolist()):
            return False
        # every member edge of each column carries its capacity share of the flow
        if int(col_size[cols].sum()) != len(edges):
            return False
        if not np.allclose(frac, st.edge_scale[edges], rtol=1e-9, atol=0):
            return False
        if not np.isclose(lat[i], p.lat[i], rtol=1e-9, atol=1e-18):
            return False
    return True


def structured_problem(fab: Fabric, src: np.ndarray, dst: np.ndarray, routing: str, seed: int) -> Problem | None:
    """The merged-column problem of chip pairs under even ECMP, or None if the shortcut does not apply.

    A faulted fabric whose own graph no longer qualifies (a failed cable, leaf or degraded port breaks the
    symmetry) is served by :func:`faulted_problem` on its healthy base's structure when that qualifies.

    Memoised per fabric by a hash of (src, dst) for up to ``_GROUPED_MAX_FLOWS`` flows (the answer depends on
    nothing else; every caller shares the returned problem, which the engine only reads): auto simulates its
    candidate on the same group's flows at every message size (~20 ms a build on 6,144 maia200 chips)."""
    if routing != "ecmp" or len(src) == 0:
        return None
    return _fabric_memo(_STRUCTURED, fab, src, dst, routing, seed, lambda: _structured_problem(fab, src, dst),
                        _structured_bytes)


def _structured_bytes(p) -> int:
    """Bytes held by one memoised :func:`structured_problem` answer."""
    return 0 if p is None else sum(a.nbytes for a in (p.indptr, p.indices, p.data, p.col_cap, p.lat, p.edge_col,
                                                      p.edge_scale))


def _fabric_memo(store: weakref.WeakKeyDictionary, fab: Fabric, src: np.ndarray, dst: np.ndarray, routing: str,
                 seed: int, build, nbytes):
    """``build()``, memoised in ``store`` per fabric by a hash of (routing, seed, src, dst) for steps of up to
    ``_GROUPED_MAX_FLOWS`` flows; the oldest entries leave past ``_GROUPED_MAX_ENTRIES`` or ``_GROUPED_MAX_BYTES``
    (``nbytes(answer)`` each; the newest always stays)."""
    if len(src) > _GROUPED_MAX_FLOWS:
        return build()
    key = _flows_key(src, dst, routing, seed)
    memo = store.get(fab)
    if memo is not None and key in memo[0]:
        return memo[0][key]
    out = build()
    entries, sizes = store.setdefault(fab, ({}, {}))
    entries[key], sizes[key] = out, nbytes(out)
    while len(entries) > 1 and (len(entries) > _GROUPED_MAX_ENTRIES or sum(sizes.values()) > _GROUPED_MAX_BYTES):
        old = next(iter(entries))
        del entries[old], sizes[old]
    return out


#: structured_problem's memo: fabric -> ({(routing, seed, flows, hash of src / dst): problem or None}, {key: bytes})
_STRUCTURED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _flows_key(src: np.ndarray, dst: np.ndarray, routing: str, seed: int) -> tuple:
    """A memo key of a set of flows: (routing, seed, flows, blake2b of the int64 src and dst)."""
    import hashlib

    h = hashlib.blake2b(digest_size=20)
    h.update(np.ascontiguousarray(src, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(dst, dtype=np.int64).tobytes())
    return (routing, int(seed), len(src), h.digest())


def _structured_problem(fab: Fabric, src: np.ndarray, dst: np.ndarray) -> Problem | None:
    """:func:`structured_problem` without the memo (routing ``"ecmp"``, at least one flow)."""
    st = structure(fab)
    if st is None:
        fb = _faulted_base(fab)
        if fb is None or src.max() >= fb.st.nc or dst.max() >= fb.st.nc:
            return None
        return faulted_problem(fab, fb, np.ascontiguousarray(src), np.ascontiguousarray(dst))
    if src.max() >= st.nc or dst.max() >= st.nc:
        return None
    return _struct_problem(fab, st, np.ascontiguousarray(src), np.ascontiguousarray(dst))


# --------------------------------------------------------------------------------------------- faults
@dataclass
class _FaultBase:
    """A faulted fabric seen through its healthy base's structure (see :func:`faulted_problem`)."""

    base: Fabric
    st: Structure
    bcol: np.ndarray  # base structural column of each faulted-fabric edge
    members: np.ndarray  # base edges per base column (all alive for a column without a dead member)
    dead_col: np.ndarray  # bool per base column: holds a failed edge
    split_col: np.ndarray  # bool per base column: its surviving members' capacities differ
    col_cap: np.ndarray  # base columns' capacity on the faulted fabric (summed surviving members; 1 if none)
    chip_cls: np.ndarray  # interchangeable chips share a class (see faulted_problem); the others one each
    n_cls: int
    up_by_rank: np.ndarray  # (chips, k): a chip's surviving uplinks (faulted edge ids) by leaf order, -1 pad
    down_by_rank: np.ndarray
    rank: np.ndarray  # per faulted edge: its rank among its chip's uplinks (or downlinks); -1 otherwise


_FAULT_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _faulted_base(fab: Fabric) -> _FaultBase | None:
    """The healthy base's structure of a faulted fabric (cached), or None (not faulted, base does not qualify)."""
    try:
        return _FAULT_CACHE[fab]
    except KeyError:
        pass
    except TypeError:  # pragma: no cover - unhashable
        return None
    out = None
    rt = fab.router
    alive = getattr(rt, "alive", None)
    base = getattr(rt, "base", None)
    if getattr(rt, "kind", None) == "faulted" and alive is not None and base is not None \
            and base.n_chips == fab.n_chips and int(alive.sum()) == fab.n_edges:
        st = structure(base)
        if st is not None:
            ncol = len(st.col_cap)
            base_of_new = np.flatnonzero(alive)  # the faulted fabric keeps surviving edges in base order
            bcol = st.edge_col[base_of_new]
            cap = fab.edge_capacity
            members = np.bincount(st.edge_col, minlength=ncol)
            dead_col = np.bincount(st.edge_col[~alive], minlength=ncol) > 0
            hi = np.full(ncol, -np.inf)
            lo = np.full(ncol, np.inf)
            np.maximum.at(hi, bcol, cap)
            np.minimum.at(lo, bcol, cap)
            split_col = np.isfinite(hi) & (hi != lo)
            col_cap = np.bincount(bcol, weights=cap, minlength=ncol)
            col_cap[col_cap <= 0] = 1.0  # no surviving member: no flow can use it
            out = _FaultBase(base, st, bcol, members, dead_col, split_col, col_cap,
                             *_chip_classes(fab, st, bcol, dead_col, split_col, col_cap, base, alive))
    _FAULT_CACHE[fab] = out
    return out


def _chip_classes(fab: Fabric, st: Structure, bcol, dead_col, split_col, col_cap, base: Fabric, alive: np.ndarray):
    """Chip classes and uplink/downlink rank tables of a faulted fabric (see :func:`faulted_problem`).

    Chips of one leaf group are one class when their switch links are alike: all surviving at equal capacity and
    latency, or (a chip with a failed or degraded link) the same capacity, 0 for failed, on each of its base
    links taken in leaf order. Swapping two such chips maps the faulted fabric's switch graph onto itself (chips
    do not relay), so their routes are the same by link rank: one failed leaf makes its 48 chips one class, not
    48."""
    nc = st.nc
    up, dn = st.up_col, st.down_col
    healthy = ~(dead_col[up] | dead_col[dn] | split_col[up] | split_col[dn])
    key = np.stack([st.group.astype(np.float64), col_cap[up], st.col_lat[up], col_cap[dn], st.col_lat[dn]], axis=1)
    cls = np.empty(nc, dtype=np.int64)
    k = 0
    if healthy.any():
        _, inv = np.unique(key[healthy], axis=0, return_inverse=True)
        cls[healthy] = inv.ravel()
        k = int(inv.max()) + 1
    sick = np.flatnonzero(~healthy)
    if len(sick):  # each base switch link's capacity on the faulted fabric (0: failed), in leaf order per chip
        bcap = np.zeros(base.n_edges)
        bcap[np.flatnonzero(alive)] = fab.edge_capacity
        bes, bed = base.edge_src, base.edge_dst
        rows = [st.group[sick].astype(np.float64)[:, None], st.col_lat[up][sick, None], st.col_lat[dn][sick, None]]
        for own, other, cols in ((bes, bed, up), (bed, bes, dn)):
            e = np.flatnonzero((st.edge_col >= cols[0]) & (st.edge_col <= cols[-1]))
            e = e[np.lexsort((other[e], own[e]))]
            cnt = np.bincount(own[e], minlength=nc)
            r = np.arange(len(e)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            t = np.full((nc, max(int(cnt.max()), 1)), -1.0)
            t[own[e], r] = bcap[e]
            rows.append(t[sick])
        _, inv = np.unique(np.concatenate(rows, axis=1), axis=0, return_inverse=True)
        cls[sick] = k + inv.ravel()
        k += int(inv.max()) + 1
    n_cls = k
    es, ed = fab.edge_src, fab.edge_dst
    rank = np.full(fab.n_edges, -1, dtype=np.int64)
    tables = []
    for own, other, cols in ((es, ed, up), (ed, es, dn)):
        e = np.flatnonzero((bcol >= 0) & (bcol >= cols[0]) & (bcol <= cols[-1]))
        e = e[np.lexsort((other[e], own[e]))]
        cnt = np.bincount(own[e], minlength=nc)
        r = np.arange(len(e)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        rank[e] = r
        t = np.full((nc, max(int(cnt.max()) if len(cnt) else 0, 1)), -1, dtype=np.int64)
        t[own[e], r] = e
        tables.append(t)
    return cls, n_cls, tables[0], tables[1], rank


def _split_columns(fab: Fabric, fb: _FaultBase, touched: np.ndarray, middle: tuple | None
                   ) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]:
    """Split the ``touched`` base columns of a faulted two-tier fabric into sub-columns of members with equal
    capacity and identical load from every routed class (a chip's own links: one sub-column each).

    ``middle`` = (classes, edge, value, class) of the routed representatives' entries on non-chip columns, or
    None when no pair is affected. Returns (column of each faulted edge, number of columns, sub-column
    pointer per base column, sub-column ids, members per sub-column)."""
    st = fb.st
    nb = len(st.col_cap)
    cap = fab.edge_capacity
    col_of_edge = fb.bcol.copy()  # column of each faulted edge in the new problem
    t_edges = np.flatnonzero(touched[fb.bcol])
    ncols = nb
    sub_ptr = np.zeros(nb + 1, dtype=np.int64)  # sub-columns of each base column (touched only)
    sub_ids = np.zeros(0, dtype=np.int64)
    sub_n = np.zeros(0)
    if len(t_edges):
        h1 = np.zeros(fab.n_edges)
        h2 = np.zeros(fab.n_edges)
        if middle is not None:
            nk, me, mv, mr = middle
            r1, r2 = _sub_projections(nk)
            h1 += np.bincount(me, weights=mv * r1[mr], minlength=fab.n_edges)
            h2 += np.bincount(me, weights=mv * r2[mr], minlength=fab.n_edges)
        tb = fb.bcol[t_edges]
        chip_col = (tb >= st.up_col[0]) & (tb <= st.down_col[-1])
        h1, h2 = h1[t_edges], h2[t_edges]
        h1[chip_col] = t_edges[chip_col]  # a chip's links: one sub-column each
        keys = np.stack([tb.astype(np.float64), cap[t_edges], h1, h2])
        order = np.lexsort(keys[::-1])
        ks = keys[:, order]
        new = np.ones(len(t_edges), dtype=bool)
        new[1:] = (ks[:, 1:] != ks[:, :-1]).any(axis=0)
        grp = np.cumsum(new) - 1
        n_sub = int(grp[-1]) + 1
        col_of_edge[t_edges[order]] = nb + grp
        ncols = nb + n_sub
        sub_base = ks[0, new].astype(np.int64)  # base column of each sub-column (sorted by it)
        sub_ids = nb + np.arange(n_sub, dtype=np.int64)
        sub_n = np.bincount(grp, minlength=n_sub).astype(np.float64)
        np.cumsum(np.bincount(sub_base, minlength=nb), out=sub_ptr[1:])
    return col_of_edge, ncols, sub_ptr, sub_ids, sub_n


def _unaffected_entries(fb: _FaultBase, u_rows: np.ndarray, u_col: np.ndarray, touched: np.ndarray,
                        sub_ptr: np.ndarray, sub_ids: np.ndarray, sub_n: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries (row, column, value) of the unaffected pairs: their base entries (``u_rows``, ``u_col``), a split
    base column spread over its sub-columns by members / base members (see :func:`_split_columns`)."""
    nsub = np.diff(sub_ptr)[u_col]
    split = touched[u_col]
    rep = np.where(split, nsub, 1)
    u_rows2 = np.repeat(u_rows, rep)
    pos0 = np.repeat(sub_ptr[u_col], rep) + (np.arange(int(rep.sum()), dtype=np.int64) - np.repeat(np.cumsum(rep) - rep, rep))
    sp_e = np.repeat(split, rep)
    u_idx_base = np.repeat(u_col, rep)
    u_idx = u_idx_base.copy()
    u_idx[sp_e] = sub_ids[pos0[sp_e]]
    u_val = np.ones(len(u_idx))
    if sp_e.any():
        u_val[sp_e] = sub_n[pos0[sp_e]] / fb.members[u_idx_base[sp_e]]
    return u_rows2, u_idx, u_val


def _interleave_rows(n: int, aff: np.ndarray, unaffected: tuple, a_rows: np.ndarray, affected: tuple
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR rows of all ``n`` flows in flow order from the unaffected entries (row, column, value; rows sorted)
    and the affected rows ``a_rows`` (pointer, column, value); ``aff`` marks the affected flows."""
    u_rows2, u_idx, u_val = unaffected
    a_ptr2, a_idx, a_dat = affected
    out_len = np.bincount(u_rows2, minlength=n)
    out_len[a_rows] = np.diff(a_ptr2)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(out_len, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), dtype=np.int64)
    data = np.empty(int(indptr[-1]))
    u_cnt = np.where(aff, 0, out_len)
    u_first = np.cumsum(u_cnt) - u_cnt  # u_rows2 is sorted: each unaffected row's first entry in it
    u_pos = indptr[u_rows2] + np.arange(len(u_rows2), dtype=np.int64) - u_first[u_rows2]
    indices[u_pos] = u_idx
    data[u_pos] = u_val
    if len(a_rows):
        alens = np.diff(a_ptr2)
        a_pos = np.repeat(indptr[a_rows], alens) + (np.arange(len(a_idx), dtype=np.int64) - np.repeat(a_ptr2[:-1], alens))
        indices[a_pos] = a_idx
        data[a_pos] = a_dat
    return indptr, indices, data


def faulted_problem(fab: Fabric, fb: _FaultBase, src: np.ndarray, dst: np.ndarray) -> Problem:
    """Merged-column problem of chip pairs on a faulted two-tier fabric, exact, without routing every pair.

    A pair whose healthy ECMP paths avoid every failed edge keeps those paths under faults (the faulted router
    only drops paths through failed edges), so its row is its healthy structural row: it spreads evenly over
    every member of each of its (at most 4) base columns. Only *affected* pairs (a base column of theirs holds
    a failed edge) need the fabric's router (surviving equal-cost paths, or next-shortest ones), and only one
    pair per class: chips of one leaf group whose own links all survive at equal capacity and latency are
    interchangeable (chips do not relay, so swapping two maps every path of one onto the other's), so pairs
    of the same (relation, source chip class, destination chip class) have the same row up to their own
    links; chips of one group with a failed or degraded link share a class when their links have the same
    capacity (0: failed) leaf by leaf (:func:`_chip_classes`); a pair on a failed direct link is its own class.
    Every affected chip's columns are split into one column per link (the member's links taken by rank,
    leaf order); other base columns that affected pairs use, or whose surviving members' capacities differ
    (degraded ports), are split into sub-columns of members with equal capacity and identical load from every
    class (hashed like :func:`traffic.routing.merge_identical_columns`): every flow then loads each member of
    a sub-column by the same fraction of its capacity, so merging them is exact. An unaffected pair's entry
    on a split base column becomes one entry per sub-column of ``members / base members``.
    """
    st = fb.st
    n = len(src)
    p = _struct_problem(fb.base, st, src, dst)
    lens = np.diff(p.indptr)
    idx = np.asarray(p.indices, dtype=np.int64)
    rows = np.repeat(np.arange(n, dtype=np.int64), lens)
    aff = np.zeros(n, dtype=bool)
    aff[rows[fb.dead_col[idx]]] = True
    nb = len(st.col_cap)
    cap = fab.edge_capacity
    # affected pairs, classed by (relation, chip class of the source, of the destination); one representative
    # of each class is routed by the fabric's own router (a pair on a failed direct link is its own class)
    a_rows = np.flatnonzero(aff)
    na = len(a_rows)
    sa, da = src[a_rows], dst[a_rows]
    touched = fb.split_col.copy()  # base columns to split
    if na:
        from .routing import _edge_incidence

        rel = lens[a_rows].astype(np.int64)
        C = fb.n_cls
        key = np.where(rel == 1, -1 - np.arange(na), (rel * C + fb.chip_cls[sa]) * C + fb.chip_cls[da])
        _, rep_i, cls_of = np.unique(key, return_index=True, return_inverse=True)
        cls_of = cls_of.ravel()
        nk = len(rep_i)
        r_ptr, r_edge, r_val, r_lat = _edge_incidence(fab, sa[rep_i], da[rep_i], "ecmp", 0)
        r_edge = np.asarray(r_edge, dtype=np.int64)
        r_row = np.repeat(np.arange(nk, dtype=np.int64), np.diff(r_ptr))
        rb = fb.bcol[r_edge]
        is_u = rb == st.up_col[sa[rep_i]][r_row]
        is_d = rb == st.down_col[da[rep_i]][r_row]
        is_m = ~(is_u | is_d)
        touched[rb[is_m]] = True
        touched[st.up_col[sa]] = True  # the chips' own columns: one column per link
        touched[st.down_col[da]] = True
    middle = (nk, r_edge[is_m], r_val[is_m], r_row[is_m]) if na else None
    col_of_edge, ncols, sub_ptr, sub_ids, sub_n = _split_columns(fab, fb, touched, middle)
    # affected rows: each pair takes its class's row, the source's and destination's links by rank
    if na:
        import scipy.sparse as sps

        from .routing import _gather_ranges

        m = sps.csr_matrix((r_val[is_m], (r_row[is_m], col_of_edge[r_edge[is_m]])), shape=(nk, ncols))
        m.sum_duplicates()
        parts = []  # (ptr by class, column of each entry given its member, value)
        for sel, table, who in ((is_u, fb.up_by_rank, sa), (is_d, fb.down_by_rank, da)):
            ptr = np.zeros(nk + 1, dtype=np.int64)
            np.cumsum(np.bincount(r_row[sel], minlength=nk), out=ptr[1:])
            parts.append((ptr, fb.rank[r_edge[sel]], r_val[sel], table, who))
        lu = np.diff(parts[0][0])[cls_of]
        lm = np.diff(m.indptr)[cls_of].astype(np.int64)
        ld = np.diff(parts[1][0])[cls_of]
        a_ptr2 = np.zeros(na + 1, dtype=np.int64)
        np.cumsum(lu + lm + ld, out=a_ptr2[1:])
        a_idx = np.empty(int(a_ptr2[-1]), dtype=np.int64)
        a_dat = np.empty(int(a_ptr2[-1]))
        for k, (ptr, offset) in enumerate(((parts[0][0], 0 * lu), (m.indptr.astype(np.int64), lu),
                                           (parts[1][0], lu + lm))):
            pos, nptr = _gather_ranges(ptr, cls_of)
            cnt = np.diff(nptr)
            mem = np.repeat(np.arange(na, dtype=np.int64), cnt)
            out = a_ptr2[mem] + offset[mem] + np.arange(len(pos), dtype=np.int64) - nptr[mem]
            if k == 1:
                a_idx[out] = m.indices[pos]
                a_dat[out] = m.data[pos]
            else:
                _, rank, val, table, who = parts[0 if k == 0 else 1]
                e = table[who[mem], rank[pos]]
                if len(e) and e.min() < 0:
                    raise RuntimeError("faulted_problem: a member chip lacks its class representative's link")
                a_idx[out] = col_of_edge[e]
                a_dat[out] = val[pos]
        a_lat = r_lat[cls_of]
    else:
        a_ptr2, a_idx, a_dat, a_lat = np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    col_cap = np.bincount(col_of_edge, weights=cap, minlength=ncols)
    col_cap[:nb] = fb.col_cap
    col_cap[:nb][touched] = 1.0  # replaced by their sub-columns: no flow uses them
    col_lat = np.zeros(ncols)
    col_lat[:nb] = st.col_lat
    u_keep = ~aff[rows]
    u_rows2, u_idx, u_val = _unaffected_entries(fb, rows[u_keep], idx[u_keep], touched, sub_ptr, sub_ids, sub_n)
    indptr, indices, data = _interleave_rows(n, aff, (u_rows2, u_idx, u_val), a_rows, (a_ptr2, a_idx, a_dat))
    lat = p.lat.copy()
    lat[a_rows] = a_lat
    edge_scale = cap / col_cap[col_of_edge]
    return Problem(indptr, indices, data, col_cap, lat, col_of_edge, edge_scale)


def _sub_projections(n: int) -> tuple[np.ndarray, np.ndarray]:
    from .routing import _projections

    return _projections(max(n, 1))


# --------------------------------------------------------------------------------------------- grouping
def _coarse_maps(st: Structure):
    """Map every structural column to a coarse column: chips and direct links summed per group.

    Direct links are summed per (group of their source, capacity, latency) class, so uneven tray wiring
    (e.g. 6 / 7 / 7 links per peer) stays exact: D direct classes first, then chip uplinks of group g at
    ``D + g``, downlinks ``D + G + g``, group uplinks ``D + 2G + g``, group downlinks ``D + 3G + g``.
    Returns (coarse column per structural column, number of coarse columns, D).
    """
    if st.coarse is None:
        st.coarse = _coarse_maps_of(st)
    return st.coarse


def _coarse_maps_of(st: Structure):
    nd, nc, G = st.n_direct, st.nc, st.n_groups
    # direct edge j: group of its source chip, then its capacity and latency
    src_of_direct = np.repeat(np.arange(nc), np.diff(st.cc_ptr))
    coarse = np.empty(len(st.col_cap), dtype=np.int64)
    D = 0
    if nd:
        key = np.stack([st.group[src_of_direct].astype(np.float64), st.col_cap[:nd], st.col_lat[:nd]], axis=1)
        _, dcls = np.unique(key, axis=0, return_inverse=True)
        coarse[:nd] = dcls.ravel()  # 0..D-1: direct links of one (group, capacity, latency) class
        D = int(dcls.max()) + 1
    coarse[st.up_col] = D + st.group  # chip uplinks of group g
    coarse[st.down_col] = D + G + st.group
    coarse[st.gup_col] = D + 2 * G + np.arange(G)
    coarse[st.gdown_col] = D + 3 * G + np.arange(G)
    coarse.flags.writeable = False  # shared by every caller
    return coarse, D + 4 * G, D


def grouped_problem(fab: Fabric, src: np.ndarray, dst: np.ndarray, size: np.ndarray, routing: str, seed: int):
    """Class-grouped problem for step mode, or None when not exact for this traffic (see module doc).

    Returns (problem over class rows, sizes, multiplicities, info). Everything but the sizes depends on the
    flows' (src, dst) alone, so it is memoised per fabric by a hash of them (:func:`_grouped_structure`): a
    size sweep, or inference's all-reduce at each message size on 768 concurrent TP groups, routes and classes
    each distinct step once. The sizes are checked (equal within each class) and gathered at every call, so a
    memoised answer is the very one a fresh build gives.
    """
    if structure(fab) is None:  # (a faulted fabric's rows on its base's structure are not class-uniform)
        return None
    g = _grouped_structure(fab, src, dst, routing, seed)
    if g is None:
        return None
    q, reps, inv, n_cls, mult, info = g
    # sizes equal within a class
    if not _all_equal_by(inv, size, n_cls):
        return None
    return q, size[reps], mult.copy(), dict(info)


#: grouped_problem's memo: fabric -> ({(routing, seed, flows, hash of src / dst): the size-free answer or None},
#: {the same key: its arrays' bytes})
_GROUPED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: steps with more flows than this are not memoised (their hash and arrays would cost what they save)
_GROUPED_MAX_FLOWS = 1_000_000
#: distinct steps kept per fabric, and the bytes of their arrays (the oldest go first)
_GROUPED_MAX_ENTRIES = 512
_GROUPED_MAX_BYTES = 128 * 2**20


def _grouped_structure(fab: Fabric, src: np.ndarray, dst: np.ndarray, routing: str, seed: int):
    """The size-free part of :func:`grouped_problem`: (class problem, a representative flow per class, class of
    each flow, number of classes, multiplicities, info), or None when the traffic's structure does not qualify.
    Memoised per fabric for steps up to ``_GROUPED_MAX_FLOWS`` flows (every caller shares the memoised arrays)."""
    # (the arrays stay writeable: read-only ones would make numba compile another specialisation of the engine's
    # kernels; the engine does not write into a problem)
    return _fabric_memo(_GROUPED, fab, src, dst, routing, seed,
                        lambda: _build_grouped(fab, src, dst, routing, seed), _grouped_bytes)


def _grouped_bytes(g) -> int:
    """Bytes held by one memoised :func:`_grouped_structure` answer."""
    if g is None:
        return 0
    q = g[0]
    return sum(a.nbytes for a in (q.indptr, q.indices, q.data, q.lat, g[1], g[2], g[4]))


def _build_grouped(fab: Fabric, src: np.ndarray, dst: np.ndarray, routing: str, seed: int):
    """:func:`_grouped_structure` without the memo."""
    p = structured_problem(fab, src, dst, routing, seed)
    if p is None:
        return None
    st = structure(fab)
    G = st.n_groups
    n = len(src)
    lens = np.diff(p.indptr)
    rel = np.select([lens == 0, lens == 1, lens == 2], [0, 1, 2], 3)
    coarse, ncoarse, D = _coarse_maps(st)
    idx = np.asarray(p.indices, dtype=np.int64)
    # direct flows are further classed by their direct-link class (uneven tray wiring)
    sub = np.zeros(n, dtype=np.int64)
    if len(idx):
        first_col = idx[np.minimum(p.indptr[:-1], len(idx) - 1)]
        sub = np.where(lens == 1, coarse[first_col] + 1, 0)
    cls = ((rel * G + st.group[src]) * G + st.group[dst]) * (D + 1) + sub
    ucls, inv, mult = np.unique(cls, return_inverse=True, return_counts=True)
    rows = np.repeat(inv, lens)
    # every member column of a coarse column carries the same number of flows of each class
    pair = rows * len(st.col_cap) + idx
    up_, cnt = np.unique(pair, return_counts=True)
    cl_of, col_of = np.divmod(up_, len(st.col_cap))
    # members per coarse column
    members = np.bincount(coarse, minlength=ncoarse)
    key = cl_of * ncoarse + coarse[col_of]
    uk, kinv, kn = np.unique(key, return_inverse=True, return_counts=True)
    if (kn != members[uk % ncoarse]).any() or not _all_equal_by(kinv, cnt.astype(np.float64), len(uk)):
        return None
    if not (_all_equal_by(coarse, st.col_cap, ncoarse) and _all_equal_by(coarse, st.col_lat, ncoarse)):
        return None
    reps = np.zeros(len(ucls), dtype=np.int64)
    reps[inv[::-1]] = np.arange(n)[::-1]  # first flow of each class
    from .routing import _gather_ranges

    pos, indptr = _gather_ranges(p.indptr, reps)
    ccap = np.bincount(coarse, weights=st.col_cap, minlength=ncoarse)
    # coefficient of a class row on its coarse column: flows of the class per member column, normalised
    # so that multiplicity x coefficient x rate = load on the coarse column (sum over members)
    ncls_on = np.ones(len(pos))
    # flows of class c cross each member column with count cnt; total over members = cnt * members;
    # the class has mult flows, each crossing one member: coefficient 1 on the summed column is exact.
    edge_col = np.where(st.edge_col >= 0, coarse[np.maximum(st.edge_col, 0)], -1)
    edge_scale = fab.edge_capacity / np.where(edge_col >= 0, ccap[np.maximum(edge_col, 0)], 1.0)
    q = Problem(indptr, coarse[idx[pos]], ncls_on, ccap, p.lat[reps], edge_col, edge_scale)
    return q, reps, inv, len(ucls), mult.astype(np.float64), {"flows": n, "rows": len(reps), "cols": ncoarse}


def uniform_all_to_all_problem(fab: Fabric, size: float):
    """Grouped problem of a uniform all-to-all among all chips (every ordered pair s != d), built from
    counts only (no per-pair arrays). Returns (problem, sizes, multiplicities) or None if not applicable."""
    st = structure(fab)
    if st is None:
        return None
    G, nc = st.n_groups, st.nc
    gsize = np.bincount(st.group, minlength=G)
    src_of_direct = np.repeat(np.arange(nc), np.diff(st.cc_ptr))
    n_direct_g = np.bincount(st.group[src_of_direct], minlength=G)
    # exactness: every chip of a group has the same number of direct peers, equal capacities per class
    deg = np.diff(st.cc_ptr)
    if not _all_equal_by(st.group.astype(np.int64), deg.astype(np.float64), G):
        return None
    coarse, ncoarse, D = _coarse_maps(st)
    if not (_all_equal_by(coarse, st.col_cap, ncoarse) and _all_equal_by(coarse, st.col_lat, ncoarse)):
        return None
    if n_direct_g.sum() and st.n_direct and np.any(st.group[st.cc_dst] != st.group[src_of_direct]):
        return None  # direct links across groups: not handled by the counting form
    n_direct_cls = np.bincount(coarse[: st.n_direct], minlength=D)  # direct links (= flows) per class
    group_of_cls = np.zeros(D, dtype=np.int64)
    group_of_cls[coarse[: st.n_direct]] = st.group[src_of_direct]
    first_of_cls = np.zeros(D, dtype=np.int64)  # one member direct link per class
    first_of_cls[coarse[: st.n_direct][::-1]] = np.arange(st.n_direct)[::-1]
    ccap = np.bincount(coarse, weights=st.col_cap, minlength=ncoarse)
    # rows, vectorised: per source group g, its direct-link classes, then its same-group row, then one
    # cross row per destination group h != g (columns padded to 4, cut by each row's length)
    first = np.zeros(G, dtype=np.int64)
    first[st.group[::-1]] = np.arange(nc)[::-1]
    lu_g = st.col_lat[st.up_col[first]]
    ld_g = st.col_lat[st.down_col[first]]
    same = gsize * (gsize - 1) - n_direct_g
    dk = np.arange(D)
    sg = np.flatnonzero(same > 0)
    cg, ch = np.divmod(np.arange(G * G), G)
    keep = cg != ch
    cg, ch = cg[keep], ch[keep]
    grp = np.concatenate([group_of_cls, sg, cg])
    kind = np.concatenate([np.zeros(D, np.int64), np.ones(len(sg), np.int64), np.full(len(cg), 2)])
    sub = np.concatenate([dk, np.zeros(len(sg), np.int64), ch])
    cols = np.full((len(grp), 4), -1, dtype=np.int64)
    cols[:D, 0] = dk
    cols[D:D + len(sg), :2] = np.stack([D + sg, D + G + sg], axis=1)
    cols[D + len(sg):] = np.stack([D + cg, D + 2 * G + cg, D + 3 * G + ch, D + G + ch], axis=1)
    lens_all = np.concatenate([np.ones(D, np.int64), np.full(len(sg), 2), np.full(len(cg), 4)])
    mult_all = np.concatenate([n_direct_cls.astype(np.float64), same[sg].astype(np.float64),
                               (gsize[cg] * gsize[ch]).astype(np.float64)])
    lat_all = np.concatenate([st.col_lat[first_of_cls], lu_g[sg] + ld_g[sg],
                              lu_g[cg] + st.col_lat[st.gup_col[cg]] + st.col_lat[st.gdown_col[ch]]
                              + st.col_lat[st.down_col[first[ch]]]])
    order = np.lexsort((sub, kind, grp))
    lens = lens_all[order]
    indptr = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=indptr[1:])
    c = cols[order]
    indices = c[c >= 0]
    lat = lat_all[order]
    mult = mult_all[order]
    edge_col = np.where(st.edge_col >= 0, coarse[np.maximum(st.edge_col, 0)], -1)
    edge_scale = fab.edge_capacity / np.where(edge_col >= 0, ccap[np.maximum(edge_col, 0)], 1.0)
    q = Problem(indptr, indices, np.ones(len(indices)), ccap, lat, edge_col, edge_scale)
    return q, np.full(len(mult), float(size)), mult


# --------------------------------------------------------------------------------- faulted all-to-all
#: a faulted all-to-all is solved by classes only while (chip classes)^2 stays below this (many singleton
#: classes, e.g. dozens of failed chips' links, leave little to share: the per-pair path is no slower)
FAULTED_A2A_MAX_CLASS_PAIRS = 4_000_000


def _refined_chip_classes(fb: _FaultBase, d_src: np.ndarray, d_dst: np.ndarray, d_alive: np.ndarray,
                          d_cap: np.ndarray, d_lat: np.ndarray) -> np.ndarray:
    """Chip classes of a faulted two-tier fabric that are equitable for a uniform all-to-all.

    Starts from the interchangeable-chip classes of :func:`faulted_problem` (a leaf group's chips whose own
    switch links all survive at equal capacity; any other chip alone); the ends of a failed direct link are
    made classes of their own; then classes are refined (colour refinement) until every chip of a class has the
    same multiset of (class, capacity, latency) over its surviving direct links, out and in. Every chip of a
    class then sends to and receives from every class the same number of direct, same-group and cross-group
    flows. ``d_*``: the base fabric's direct links (source, destination, alive, capacity, latency)."""
    nc = fb.st.nc
    cls = fb.chip_cls.astype(np.int64).copy()
    dead_ends = np.unique(np.concatenate([d_src[~d_alive], d_dst[~d_alive]]))
    if len(dead_ends):
        cls[dead_ends] = int(cls.max()) + 1 + np.arange(len(dead_ends))
    _, cls = np.unique(cls, return_inverse=True)
    s, d, cap, lat = d_src[d_alive], d_dst[d_alive], d_cap[d_alive], d_lat[d_alive]
    n_cls = int(cls.max()) + 1
    while len(s):
        cols = [cls[:, None]]
        for own, other in ((s, d), (d, s)):
            _, code = np.unique(np.stack([cls[other].astype(np.float64), cap, lat], axis=1), axis=0,
                                return_inverse=True)
            code = code.ravel()
            order = np.lexsort((code, own))
            cnt = np.bincount(own, minlength=nc)
            rank = np.arange(len(own)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            m = np.full((nc, max(int(cnt.max()), 1)), -1, dtype=np.int64)
            m[own[order], rank] = code[order]
            cols.append(m)
        _, new = np.unique(np.concatenate(cols, axis=1), axis=0, return_inverse=True)
        new = new.ravel()
        if int(new.max()) + 1 == n_cls:
            break
        cls, n_cls = new, int(new.max()) + 1
    return cls


def faulted_all_to_all_problem(fab: Fabric, size: float, with_classes: bool = False):
    """Class problem of a uniform all-to-all (every ordered chip pair, ``size`` bytes each) on a faulted two-tier
    fabric, exact, without per-pair arrays; or None when not applicable. Returns (problem, sizes, multiplicities),
    and with ``with_classes`` also the class of each chip and the source chip class of each row.

    The max-min problem of the all-to-all has an *equitable partition*: chips fall into classes
    (:func:`_refined_chip_classes`) and flows into classes (direct link class / same group / cross group,
    source chip class, destination chip class) such that every flow of a class has the same row up to its own
    chips' links (taken by rank, leaf order: :func:`faulted_problem`'s premise) and every chip of a class is the
    source and destination of the same number of flows of each class. Columns are then (a) per (up/down, chip
    class, rank) the rank-th switch links of the class's chips, (b) the merged middle columns and sub-columns of
    :func:`faulted_problem` (equal capacity and identical load per member from every class), (c) per direct
    class its direct links. Every member of a column carries the same load, so progressive filling on class rows
    with multiplicities reaches the same saturations as on the pairs (a class's flows have equal rates at every
    instant and finish together): the same rates and times as the per-pair problem, to rounding. One pair per
    flow class is routed (through :func:`faulted_problem`)."""
    import scipy.sparse as sps

    from .routing import _gather_ranges

    fb = _faulted_base(fab)
    if fb is None:
        return None
    st = fb.st
    nc, nd, nb = st.nc, st.n_direct, len(st.col_cap)
    if fab.n_chips != nc or nc < 2:
        return None
    alive_n = np.bincount(fb.bcol[fb.bcol >= 0], minlength=nb)
    if (alive_n[st.up_col] == 0).any() or (alive_n[st.down_col] == 0).any():
        return None  # a chip cut off from the switches: the per-pair path names the unroutable pair
    d_src = np.repeat(np.arange(nc, dtype=np.int64), np.diff(st.cc_ptr))
    d_dst = st.cc_dst
    if nd and (st.group[d_src] != st.group[d_dst]).any():
        return None  # direct links across leaf groups: not handled by the counting form
    d_alive = ~fb.dead_col[:nd]
    d_cap = fb.col_cap[:nd]
    d_lat = st.col_lat[:nd]
    cls = _refined_chip_classes(fb, d_src, d_dst, d_alive, d_cap, d_lat)
    K = int(cls.max()) + 1
    if K * K > FAULTED_A2A_MAX_CLASS_PAIRS:
        return None
    csize = np.bincount(cls, minlength=K)
    rep = np.full(K, nc, dtype=np.int64)
    np.minimum.at(rep, cls, np.arange(nc, dtype=np.int64))
    cgroup = st.group[rep].astype(np.int64)
    # base direct links (alive or failed) between classes
    nbd = np.bincount(cls[d_src] * K + cls[d_dst], minlength=K * K).reshape(K, K)
    # switched flow classes: cross group (one rep pair per class pair), same group (minus self and direct pairs)
    A, B = np.divmod(np.arange(K * K, dtype=np.int64), K)
    cross = cgroup[A] != cgroup[B]
    mult_all = csize[A] * csize[B] - np.where(A == B, csize[A], 0) - nbd.ravel()
    keep = mult_all > 0
    rs = rep[A]
    rd = rep[B].copy()
    for k in np.flatnonzero(keep & ~cross).tolist():  # same-group class pairs: a partner that is not direct
        s = int(rs[k])
        nbrs = set(d_dst[st.cc_ptr[s]:st.cc_ptr[s + 1]].tolist()) | {s}
        members = np.flatnonzero(cls == B[k])
        d = next((int(x) for x in members.tolist() if x not in nbrs), None)  # exists: mult > 0, equitable
        if d is None:
            raise RuntimeError("faulted_all_to_all_problem: chip classes are not equitable (internal error)")
        rd[k] = d
    rs, rd, mult = rs[keep], rd[keep], mult_all[keep].astype(np.float64)
    dead = np.flatnonzero(~d_alive)  # pairs on a failed direct link: routed through the switches, one each
    rs = np.concatenate([rs, d_src[dead]])
    rd = np.concatenate([rd, d_dst[dead]])
    mult = np.concatenate([mult, np.ones(len(dead))])
    rp = faulted_problem(fab, fb, rs, rd)
    m = len(rs)
    # the faulted problem's columns: chip columns (their members are a chip's switch links) or middle ones
    es, ed, cap = fab.edge_src, fab.edge_dst, fab.edge_capacity
    chip_up = (es < nc) & (ed >= nc)
    chip_dn = (es >= nc) & (ed < nc)
    chip_e = chip_up | chip_dn
    ecol = rp.edge_col
    col_chip = np.zeros(rp.n_cols, dtype=bool)
    col_chip[ecol[chip_e & (ecol >= 0)]] = True
    mid_e = ~chip_e & (fb.bcol >= nd) & (ecol >= 0)
    # new columns: middle columns first (those with members), then (up/down, chip class, rank), then direct
    mid_cols = np.unique(ecol[mid_e])
    mid_new = np.full(rp.n_cols, -1, dtype=np.int64)
    mid_new[mid_cols] = np.arange(len(mid_cols))
    R = int(fb.rank.max()) + 1
    chip_of = np.where(chip_up, es, ed)
    ckey = np.full(fab.n_edges, -1, dtype=np.int64)
    ckey[chip_e] = ((chip_dn[chip_e].astype(np.int64) * K + cls[chip_of[chip_e]]) * R + fb.rank[chip_e])
    ukeys, cinv = np.unique(ckey[chip_e], return_inverse=True)
    n_mid, n_chip = len(mid_cols), len(ukeys)
    edge_col = np.full(fab.n_edges, -1, dtype=np.int64)
    edge_col[mid_e] = mid_new[ecol[mid_e]]
    edge_col[chip_e] = n_mid + cinv.ravel()
    # direct classes: (source class, destination class, capacity, latency) of the surviving direct links
    live = np.flatnonzero(d_alive)
    if len(live):
        dkey = np.stack([cls[d_src[live]].astype(np.float64), cls[d_dst[live]], d_cap[live], d_lat[live]], axis=1)
        _, dfirst, dinv, dcnt = np.unique(dkey, axis=0, return_index=True, return_inverse=True, return_counts=True)
        dinv = dinv.ravel()
        n_dir = len(dfirst)
        d_edge = np.flatnonzero((fb.bcol >= 0) & (fb.bcol < nd))  # faulted edges of surviving direct links
        edge_col[d_edge] = n_mid + n_chip + dinv[np.searchsorted(live, fb.bcol[d_edge])]
    else:
        n_dir, dfirst, dcnt = 0, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    ncols = n_mid + n_chip + n_dir
    col_cap = np.bincount(edge_col[edge_col >= 0], weights=cap[edge_col >= 0], minlength=ncols)
    # rows of the routed classes: middle entries kept, chip entries spread over the column's member links
    rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(rp.indptr))
    icol = np.asarray(rp.indices, dtype=np.int64)
    val = np.asarray(rp.data, dtype=np.float64) * np.ones(len(icol))
    is_c = col_chip[icol]
    order = np.argsort(ecol, kind="stable")
    cptr = np.zeros(rp.n_cols + 1, dtype=np.int64)
    np.cumsum(np.bincount(ecol[ecol >= 0], minlength=rp.n_cols), out=cptr[1:])
    order = order[len(order) - int(cptr[-1]):]  # edges with a column, by column
    pos, nptr = _gather_ranges(cptr, icol[is_c])
    ent = np.repeat(np.flatnonzero(is_c), np.diff(nptr))
    me = order[pos]
    c_rows = rows[ent]
    c_cols = edge_col[me]
    c_val = val[ent] * cap[me] / rp.col_cap[icol[ent]]
    r_all = np.concatenate([rows[~is_c], c_rows, m + np.arange(n_dir, dtype=np.int64)])
    c_all = np.concatenate([mid_new[icol[~is_c]], c_cols, n_mid + n_chip + np.arange(n_dir, dtype=np.int64)])
    v_all = np.concatenate([val[~is_c], c_val, np.ones(n_dir)])
    if (c_all < 0).any():
        raise RuntimeError("faulted_all_to_all_problem: a routed row uses a column without members")
    mat = sps.csr_matrix((v_all, (r_all, c_all)), shape=(m + n_dir, ncols))
    mat.sum_duplicates()
    mat.sort_indices()
    lat = np.concatenate([rp.lat, d_lat[live[dfirst]] if n_dir else np.zeros(0)])
    mult = np.concatenate([mult, dcnt.astype(np.float64)])
    edge_scale = np.where(edge_col >= 0, cap / np.where(edge_col >= 0, col_cap[np.maximum(edge_col, 0)], 1.0), 1.0)
    q = Problem(mat.indptr.astype(np.int64), mat.indices.astype(np.int64), mat.data, col_cap, lat, edge_col,
                edge_scale)
    if with_classes:
        row_cls = np.concatenate([cls[rs], cls[d_src[live[dfirst]]] if n_dir else np.zeros(0, dtype=np.int64)])
        return q, np.full(q.n_flows, float(size)), mult, cls, row_cls
    return q, np.full(q.n_flows, float(size)), mult
