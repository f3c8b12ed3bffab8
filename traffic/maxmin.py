"""Max-min fair rate allocation by progressive filling (water-filling).

The problem: flows ``f`` cross links ``l`` with a non-negative coefficient ``a[f, l]`` (1 for a flow that
crosses the link whole, ``1/k`` for one of ``k`` even ECMP parts, ...). A flow of rate ``r_f`` puts
``a[f, l] * r_f`` bytes/s on link ``l``; a flow with multiplicity ``m_f`` stands for ``m_f`` identical flows
(aggregation), so link ``l`` carries ``sum_f m_f a[f, l] r_f <= c_l``. The max-min fair allocation raises
every unfrozen flow's rate together; when a link saturates, the flows crossing it freeze at the current
level; repeat until every flow is frozen. A flow crossing no link gets ``inf``.

Two implementations give the same answer (to floating-point rounding, tested):
- a numba kernel (default when numba imports): saturation levels in a lazy heap, ``O(nnz log nnz)``; it
  decrements link weights as flows freeze instead of recomputing them;
- a numpy / scipy.sparse fallback: a few sparse mat-vecs per bottleneck level.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import scipy.sparse as sp

from topo import CapacityError, ScheduleError

#: links whose fill increment is within this relative distance of the smallest saturate together
TIE_RTOL = 1e-12

#: numba is optional at run time (the numpy path is the reference) and imported on first use of a compiled
#: kernel, not at import: ``import numba`` and its first kernel load cost ~0.6 s a process, more than a
#: small simulation takes on the numpy path (see :func:`resolve_method`)
HAVE_NUMBA = importlib.util.find_spec("numba") is not None

#: problems of at most this many flows (or rows) run on the numpy path with ``method="auto"``: a small
#: collective or pattern then never imports numba (start-up of a short command, issue 14). The choice
#: depends on the problem size only, so the same inputs always take the same path (same bits).
SMALL_PROBLEM_FLOWS = 256


def resolve_method(method: str, n_flows: int) -> str:
    """The solver a problem of ``n_flows`` rows runs on: ``"auto"`` becomes ``"numpy"`` without numba or
    for at most :data:`SMALL_PROBLEM_FLOWS` rows, ``"numba"`` otherwise; explicit methods stay."""
    if method != "auto":
        return method
    return "numba" if HAVE_NUMBA and n_flows > SMALL_PROBLEM_FLOWS else "numpy"


_LAZY: list[tuple[dict, str, object, dict]] = []  # (module globals, name, python function, njit options)
_COMPILED: dict[str, object] = {}


def lazy_kernel(module_globals: dict, name: str, py_fn, **options):
    """Register ``py_fn`` to be compiled with ``numba.njit(cache=True, nogil=True, **options)`` as
    ``module_globals[name]`` on first use; returns a stand-in that compiles every registered kernel at its
    first call (helpers first, so the kernels that call them see compiled helpers) and then forwards.
    Without numba, returns ``py_fn``."""
    if not HAVE_NUMBA:
        return py_fn
    _LAZY.append((module_globals, name, py_fn, options))
    return _LazyKernel(name)


def _compile_kernels() -> dict[str, object]:
    global numba
    if len(_COMPILED) < len(_LAZY):
        import numba as _numba

        numba = _numba
        for glb, name, fn, options in _LAZY:
            if name not in _COMPILED:
                _COMPILED[name] = glb[name] = numba.njit(cache=True, nogil=True, **options)(fn)
    return _COMPILED


class _LazyKernel:
    """Stand-in for a numba kernel until its first call (see :func:`lazy_kernel`)."""

    __slots__ = ("name", "fn")

    def __init__(self, name: str) -> None:
        self.name = name
        self.fn = None

    def __call__(self, *args):
        fn = self.fn
        if fn is None:
            fn = self.fn = _compile_kernels()[self.name]
        return fn(*args)


numba = None  # the module, once a kernel is compiled


def _mm_kernel_py(indptr, indices, data, cap, weight, flows, nf, rate, load, tie_rtol):  # pragma: no cover
    """Progressive filling over the rows ``flows[:nf]`` of a CSR matrix (numba-compiled below).

    ``weight`` is indexed by row (flow id). Writes ``rate[k]`` for row ``flows[k]`` (inf when the row is
    empty) and adds each link's load (bytes/s) into ``load`` (the caller zeroes it). Returns the live
    links (those carrying a selected row) as an array.
    """
    n_links = cap.shape[0]
    w = np.zeros(n_links)
    cnt = np.zeros(n_links, np.int64)
    slot = np.empty(n_links, np.int64)
    live = np.empty(n_links, np.int64)
    n_live = _mm_core(indptr, indices, data, cap, weight, flows, nf, rate, load, tie_rtol, True, w, cnt, slot, live)
    return live[:n_live].copy()


#: above this many flows, frozen flows are found by sequential scans instead of a column index (less
#: memory and cache-friendlier when there are few bottleneck levels, as in very large uniform batches)
SCAN_MIN_FLOWS = 500_000


def _mm_scan_py(indptr, indices, data, cap, weight, flows, nf, rate, load, tie_rtol, add_load, w, cnt,
                live):  # pragma: no cover - compiled below
    """Same algorithm as ``_mm_core``; each level scans the unfrozen rows instead of a column index."""
    n_links = cap.shape[0]
    n_live = 0
    unf = np.empty(nf, np.int32)
    n_unf = 0
    for k in range(nf):
        f = flows[k]
        wf = weight[f]
        empty = True
        for p in range(indptr[f], indptr[f + 1]):
            a = data[p]
            if a > 0.0:
                empty = False
                lk = indices[p]
                if cnt[lk] == 0:
                    live[n_live] = lk
                    n_live += 1
                cnt[lk] += 1
                w[lk] += wf * a
        if empty:
            rate[k] = np.inf
        else:
            unf[n_unf] = k
            n_unf += 1
    rem = np.empty(n_links)
    for i in range(n_live):
        rem[live[i]] = cap[live[i]]
    sat = np.zeros(n_links, np.bool_)
    level = 0.0
    while n_unf > 0:
        t = np.inf
        for i in range(n_live):
            lk = live[i]
            if cnt[lk] > 0:
                d = rem[lk] / w[lk]
                if d < t:
                    t = d
        if t == np.inf:  # no link with a positive weight left (rounding): the rest take the current level
            for q in range(n_unf):
                rate[unf[q]] = level
            break
        if t < 0.0:
            t = 0.0
        level += t
        thr = t * (1.0 + tie_rtol)
        for i in range(n_live):
            lk = live[i]
            if cnt[lk] > 0:
                if rem[lk] / w[lk] <= thr:
                    sat[lk] = True
                rem[lk] -= t * w[lk]
        j = 0
        for q in range(n_unf):
            k = unf[q]
            f = flows[k]
            hit = False
            for p in range(indptr[f], indptr[f + 1]):
                if data[p] > 0.0 and sat[indices[p]]:
                    hit = True
                    break
            if hit:
                rate[k] = level
                wf = weight[f]
                for p in range(indptr[f], indptr[f + 1]):
                    a = data[p]
                    if a > 0.0:
                        lk = indices[p]
                        cnt[lk] -= 1
                        if cnt[lk] == 0:
                            w[lk] = 0.0
                        else:
                            w[lk] -= wf * a
            else:
                unf[j] = k
                j += 1
        n_unf = j
        for i in range(n_live):
            sat[live[i]] = False
    for i in range(n_live):
        w[live[i]] = 0.0
        cnt[live[i]] = 0
    if add_load:
        _add_load(indptr, indices, data, weight, rate, flows, nf, load)
    return n_live


def _add_load_py(indptr, indices, data, weight, rate, flows, nf, load):  # pragma: no cover - compiled below
    """Add the load (multiplicity x fraction x rate, bytes/s) of the first ``nf`` solved flows to their
    links; flows left at an infinite rate (no capacity constraint) add none. Shared by the two solvers."""
    for k in range(nf):
        r = rate[k]
        if r == np.inf:
            continue
        f = flows[k]
        wf = weight[f]
        for p in range(indptr[f], indptr[f + 1]):
            a = data[p]
            if a > 0.0:
                load[indices[p]] += wf * a * r


def _hpush_py(hk, hc, hn, key, col):  # pragma: no cover - compiled below
    """Push onto an array binary min-heap of (key, column); returns the new size. The caller sizes the
    arrays: in ``_mm_core`` the heap never holds more than one entry per live column (every re-push
    follows a pop). Returning only the size (not the arrays) keeps each call ~4x cheaper in numba."""
    i = hn
    while i > 0:
        par = (i - 1) >> 1
        if hk[par] <= key:
            break
        hk[i] = hk[par]
        hc[i] = hc[par]
        i = par
    hk[i] = key
    hc[i] = col
    return hn + 1


def _hpop_py(hk, hc, hn):  # pragma: no cover - compiled below
    """Remove the minimum of an array binary heap; returns the new size."""
    hn -= 1
    if hn == 0:
        return 0
    key, col = hk[hn], hc[hn]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= hn:
            break
        if c + 1 < hn and hk[c + 1] < hk[c]:
            c += 1
        if hk[c] >= key:
            break
        hk[i] = hk[c]
        hc[i] = hc[c]
        i = c
    hk[i] = key
    hc[i] = col
    return hn


def _mm_core_py(indptr, indices, data, cap, weight, flows, nf, rate, load, tie_rtol, add_load, w, cnt, slot,
                live):  # pragma: no cover
    """Progressive filling with caller-provided scratch (``w``, ``cnt`` zero on entry and on exit;
    ``slot``, ``live`` of one entry per link). Returns the number of live links, listed in ``live``."""
    if nf > SCAN_MIN_FLOWS:
        return _mm_scan(indptr, indices, data, cap, weight, flows, nf, rate, load, tie_rtol, add_load, w, cnt,
                        live)
    n_live = 0
    for k in range(nf):
        f = flows[k]
        wf = weight[f]
        for p in range(indptr[f], indptr[f + 1]):
            a = data[p]
            if a > 0.0:
                lk = indices[p]
                if cnt[lk] == 0:
                    live[n_live] = lk
                    n_live += 1
                cnt[lk] += 1
                w[lk] += wf * a
    cptr = np.zeros(n_live + 1, np.int64)
    rem = np.empty(n_live)
    for i in range(n_live):
        lk = live[i]
        slot[lk] = i
        cptr[i + 1] = cptr[i] + cnt[lk]
        rem[i] = cap[lk]
    fill = cptr[:-1].copy()
    crow = np.empty(cptr[n_live], np.int32)
    frozen = np.zeros(nf, np.bool_)
    n_active = 0
    for k in range(nf):
        f = flows[k]
        empty = True
        for p in range(indptr[f], indptr[f + 1]):
            if data[p] > 0.0:
                empty = False
                i = slot[indices[p]]
                crow[fill[i]] = k
                fill[i] += 1
        if empty:
            rate[k] = np.inf
            frozen[k] = True
        else:
            n_active += 1
    wl = np.empty(n_live)
    cl = np.empty(n_live, np.int64)
    for i in range(n_live):
        wl[i] = w[live[i]]
        cl[i] = cnt[live[i]]
    # Saturation levels in a lazy min-heap. Column i saturates at level last[i] + rem[i] / wl[i] (rem[i] is
    # its remaining capacity at level last[i]). Freezing flows only lowers wl, so a column's saturation
    # level only rises: a stored key is a lower bound, and a popped column whose level rose is re-pushed.
    last = np.zeros(n_live)
    hk = np.empty(n_live + 1)
    hc = np.empty(n_live + 1, np.int64)
    hn = 0
    for i in range(n_live):
        hn = _hpush(hk, hc, hn, rem[i] / wl[i], i)
    sat = np.empty(n_live, np.int64)
    insat = np.zeros(n_live, np.bool_)
    level = 0.0
    while n_active > 0 and hn > 0:
        i0 = hc[0]
        hn = _hpop(hk, hc, hn)
        if cl[i0] == 0 or insat[i0]:
            continue
        if wl[i0] <= 0.0:
            continue
        cur = last[i0] + (rem[i0] / wl[i0] if rem[i0] > 0.0 else 0.0)
        if hn > 0 and cur > hk[0]:
            hn = _hpush(hk, hc, hn, cur, i0)
            continue
        level = cur if cur > 0.0 else 0.0
        thr = level * (1.0 + tie_rtol)
        sat[0] = i0
        insat[i0] = True
        n_sat = 1
        while hn > 0 and hk[0] <= thr:
            i1 = hc[0]
            hn = _hpop(hk, hc, hn)
            if cl[i1] == 0 or insat[i1] or wl[i1] <= 0.0:
                continue
            c1 = last[i1] + (rem[i1] / wl[i1] if rem[i1] > 0.0 else 0.0)
            if c1 <= thr:
                sat[n_sat] = i1
                insat[i1] = True
                n_sat += 1
            else:
                hn = _hpush(hk, hc, hn, c1, i1)
        for j in range(n_sat):
            i = sat[j]
            for q in range(cptr[i], cptr[i + 1]):
                k = crow[q]
                if frozen[k]:
                    continue
                frozen[k] = True
                n_active -= 1
                rate[k] = level
                f = flows[k]
                wf = weight[f]
                for p in range(indptr[f], indptr[f + 1]):
                    a = data[p]
                    if a > 0.0:
                        i2 = slot[indices[p]]
                        rem[i2] -= (level - last[i2]) * wl[i2]
                        last[i2] = level
                        cl[i2] -= 1
                        if cl[i2] == 0:
                            wl[i2] = 0.0
                        else:
                            wl[i2] -= wf * a
    # safety net for pathological rounding (a column whose weight reached 0 with flows left): never hit
    # in tests; such flows take the last level
    for k in range(nf):
        if not frozen[k]:
            rate[k] = level
    for i in range(n_live):
        w[live[i]] = 0.0
        cnt[live[i]] = 0
    if add_load:
        _add_load(indptr, indices, data, weight, rate, flows, nf, load)
    return n_live


_hpush = lazy_kernel(globals(), "_hpush", _hpush_py, inline="always")
_hpop = lazy_kernel(globals(), "_hpop", _hpop_py, inline="always")
_add_load = lazy_kernel(globals(), "_add_load", _add_load_py, inline="always")
_mm_scan = lazy_kernel(globals(), "_mm_scan", _mm_scan_py)
_mm_core = lazy_kernel(globals(), "_mm_core", _mm_core_py)
_mm_kernel = lazy_kernel(globals(), "_mm_kernel", _mm_kernel_py) if HAVE_NUMBA else None


def _mm_numpy(indptr, indices, data, cap, weight, flows, tie_rtol):
    """Reference implementation: progressive filling with scipy.sparse mat-vecs per level."""
    n_links = cap.shape[0]
    weight = weight[flows]
    a = sp.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, n_links))[flows]
    a.data[a.data < 0] = 0.0
    a.eliminate_zeros()
    nf = len(flows)
    rate = np.full(nf, np.inf)
    active = np.diff(a.indptr) > 0
    at = a.T.tocsr()
    rem = cap.astype(np.float64).copy()
    level = 0.0
    while active.any():
        w = at @ np.where(active, weight, 0.0)
        cnt = at @ active.astype(np.float64)
        live = cnt > 0
        d = np.full(n_links, np.inf)
        d[live] = rem[live] / w[live]
        t = max(float(d.min()), 0.0)
        level += t
        sat = live & (d <= t * (1.0 + tie_rtol))
        rem[live] -= t * w[live]
        hit = (a @ sat.astype(np.float64)) > 0
        newly = active & hit
        rate[newly] = level
        active &= ~newly
    return rate


def maxmin_rates(
    incidence: sp.spmatrix | np.ndarray,
    capacity: np.ndarray,
    weights: np.ndarray | None = None,
    method: str = "auto",
) -> np.ndarray:
    """Max-min fair rates (bytes/s) of the flows (rows) of a flows x links incidence matrix.

    Args:
        incidence: scipy.sparse (CSR preferred) or dense array, shape (flows, links); entry ``a[f, lk] >= 0``
            is the fraction of flow ``f``'s rate that crosses link ``l`` (fractions allowed for ECMP).
        capacity: link capacities, bytes/s, shape (links,); must be > 0 on every link a flow uses.
        weights: optional multiplicity per row (a row standing for ``m`` identical flows), default 1.
        method: ``"auto"`` (numba when available), ``"numba"`` or ``"numpy"``.

    Returns:
        float64 array (flows,): each flow's rate, bytes/s; ``inf`` for a flow that crosses no link.
    """
    a = sp.csr_matrix(incidence, dtype=np.float64)
    cap = np.ascontiguousarray(capacity, dtype=np.float64)
    nf, nl = a.shape
    if cap.shape != (nl,):
        raise ScheduleError(f"maxmin_rates: capacity has shape {cap.shape}, expected ({nl},) (one per link)")
    if a.nnz and (a.data < 0).any():
        raise ScheduleError("maxmin_rates: incidence entries must be >= 0 (fraction of a flow on a link)")
    if weights is None:
        w = np.ones(nf)
    else:
        w = np.ascontiguousarray(weights, dtype=np.float64)
        if w.shape != (nf,) or (w <= 0).any():
            raise ScheduleError("maxmin_rates: weights must be one positive multiplicity per flow")
    used = np.zeros(nl, dtype=bool)
    used[a.indices[a.data > 0]] = True
    bad = used & ~(cap > 0)
    if bad.any():
        raise CapacityError(
            f"maxmin_rates: link {int(np.flatnonzero(bad)[0])} has capacity "
            f"{float(cap[bad][0])!r} bytes/s but carries flows; capacities must be > 0"
        )
    flows = np.arange(nf, dtype=np.int64)
    return _solve(a.indptr.astype(np.int64), a.indices.astype(np.int64), a.data, cap, w, flows, method)[0]


def _solve(indptr, indices, data, cap, weight, flows, method="auto", want_load=False):
    """Internal: rates of rows ``flows`` (and link loads when ``want_load``)."""
    if method not in ("auto", "numba", "numpy"):
        raise ScheduleError(f"maxmin method: {method!r}; use 'auto', 'numba' or 'numpy'")
    use_numba = HAVE_NUMBA and method != "numpy"
    if method == "numba" and not HAVE_NUMBA:  # pragma: no cover
        raise ScheduleError("maxmin method 'numba': numba is not installed; use 'numpy'")
    if use_numba:
        rate = np.empty(len(flows))
        load = np.zeros(len(cap))
        _mm_kernel(indptr, indices, data, cap, weight, flows, len(flows), rate, load, TIE_RTOL)
        return rate, load
    rate = _mm_numpy(indptr, indices, data, cap, weight, flows, TIE_RTOL)
    load = None
    if want_load:
        a = sp.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, len(cap)))[flows]
        r = np.where(np.isfinite(rate), rate, 0.0)
        load = a.T @ (weight[flows] * r)
    return rate, load


#: what the compiled event loops return when they stop making progress (see ``diag``)
STALLED = -2


def _stall_diag_py(diag, f, t, rem, rate):  # pragma: no cover - compiled below
    """Record the flow due next when an event loop stalls: [flow, time s, remaining bytes, rate bytes/s]."""
    diag[0] = f
    diag[1] = t
    diag[2] = rem
    diag[3] = rate


_stall_diag = lazy_kernel(globals(), "_stall_diag", _stall_diag_py, inline="always")


def _batch_kernel_py(indptr, indices, data, cap, weight, size, instant, start, order, tie_rtol, finish_rtol,
                     clock_eps, max_stall, finish, col_busy, col_peak, diag):  # pragma: no cover - compiled below
    """The whole event loop for flows without dependencies (numba-compiled below).

    Flows enter at ``start`` (visited in ``order``; an empty ``order`` means every flow starts at 0 in
    index order), send at max-min rates recomputed at every event, and leave when their last byte is
    sent: ``finish[f]`` receives that time. ``instant`` flows (0 bytes, or no link) finish on entry.
    Accumulates per-link busy time and peak utilisation. Returns the number of allocations, or
    ``STALLED`` after ``max_stall`` iterations in a row in which no flow started or finished, with
    ``diag = [flow, time s, remaining bytes, rate bytes/s]`` of the flow due next (finish rules: see
    ``engine.FINISH_RTOL``; the caller raises ``engine.EngineStallError``).

    Events are incremental: removing a flow of rate x leaves every rate below x unchanged (progressive
    filling reaches the same saturations below x without it) and no remaining flow drops below x; an
    arriving flow is guaranteed min over its links of capacity / total weight, so adding it leaves every
    rate below that unchanged too. Only the arriving flows and those at or above the smallest such level
    are re-filled, from that level, on the capacity the others leave.
    """
    n = size.shape[0]
    n_links = cap.shape[0]
    act = np.empty(n, np.int32)
    rate = np.empty(n)
    rem = np.empty(n)
    load = np.zeros(n_links)
    cnt = np.zeros(n_links, np.int64)
    since = np.zeros(n_links)
    # solver scratch (kept zero between calls)
    sw = np.zeros(n_links)
    scn = np.zeros(n_links, np.int64)
    sslot = np.empty(n_links, np.int64)
    slive = np.empty(n_links, np.int64)
    capw = np.empty(n_links)
    upos = np.empty(0, np.int32)
    uflow = np.empty(0, np.int32)
    ubuf = np.empty(0)
    wtot = np.zeros(n_links)
    n_act = 0
    ptr = 0
    t = 0.0
    events = 0
    all_zero = order.shape[0] == 0
    x_min = np.inf
    stall = 0
    while True:
        n_old = n_act
        moved = False
        while ptr < n:
            f = ptr if all_zero else order[ptr]
            if not all_zero and start[f] > t:
                break
            ptr += 1
            moved = True
            if instant[f]:
                finish[f] = t
                continue
            act[n_act] = f
            rem[n_act] = size[f]
            n_act += 1
            for p in range(indptr[f], indptr[f + 1]):
                a = data[p]
                if a > 0.0:
                    lk = indices[p]
                    if cnt[lk] == 0:
                        since[lk] = t
                    cnt[lk] += 1
                    wtot[lk] += weight[f] * a
        if n_act > 0 and (n_act > n_old or x_min < np.inf):
            events += 1
            # Every flow below level x keeps its rate: x = the smallest departing rate, and at most each
            # arriving flow's guaranteed level min over its links of capacity / total weight (no link of
            # it can saturate earlier). The others are re-filled from level x.
            if n_old == 0:  # nothing was sending: a plain allocation
                n_live = _mm_core(indptr, indices, data, cap, weight, act, n_act, rate, load, tie_rtol, True, sw,
                                  scn, sslot, slive)
                for i in range(n_live):
                    lk = slive[i]
                    u = load[lk] / cap[lk]
                    if u > col_peak[lk]:
                        col_peak[lk] = u
            else:
                x = x_min
                for k in range(n_old, n_act):
                    f = act[k]
                    for p in range(indptr[f], indptr[f + 1]):
                        if data[p] > 0.0:
                            lk = indices[p]
                            v = cap[lk] / wtot[lk]
                            if v < x:
                                x = v
                thr_u = x * (1.0 - 1e-12)
                nu = 0
                for k in range(n_act):
                    if k >= n_old or rate[k] >= thr_u:
                        nu += 1
                if upos.shape[0] < nu:
                    m = max(nu, upos.shape[0] + upos.shape[0] // 2)
                    upos = np.empty(m, np.int32)
                    uflow = np.empty(m, np.int32)
                    ubuf = np.empty(m)
                j = 0
                for k in range(n_act):
                    if k >= n_old or rate[k] >= thr_u:
                        upos[j] = k
                        uflow[j] = act[k]
                        j += 1
                # capacity left at level x by the fixed flows and the re-filled ones (at rate x)
                for j in range(nu):
                    f = uflow[j]
                    for p in range(indptr[f], indptr[f + 1]):
                        if data[p] > 0.0:
                            capw[indices[p]] = cap[indices[p]] - load[indices[p]]
                for j in range(nu):
                    k = upos[j]
                    f = uflow[j]
                    d = weight[f] * ((rate[k] if k < n_old else 0.0) - x)
                    for p in range(indptr[f], indptr[f + 1]):
                        a = data[p]
                        if a > 0.0:
                            capw[indices[p]] += a * d
                for j in range(nu):
                    f = uflow[j]
                    for p in range(indptr[f], indptr[f + 1]):
                        if data[p] > 0.0 and capw[indices[p]] < 0.0:
                            capw[indices[p]] = 0.0
                _mm_core(indptr, indices, data, capw, weight, uflow, nu, ubuf, load, tie_rtol, False, sw, scn, sslot,
                         slive)
                for j in range(nu):
                    k = upos[j]
                    f = uflow[j]
                    r_new = x + ubuf[j]
                    d = weight[f] * (r_new - (rate[k] if k < n_old else 0.0))
                    rate[k] = r_new
                    for p in range(indptr[f], indptr[f + 1]):
                        a = data[p]
                        if a > 0.0:
                            load[indices[p]] += a * d
                for j in range(nu):
                    f = uflow[j]
                    for p in range(indptr[f], indptr[f + 1]):
                        if data[p] > 0.0:
                            lk = indices[p]
                            u = load[lk] / cap[lk]
                            if u > col_peak[lk]:
                                col_peak[lk] = u
        x_min = np.inf
        if n_act == 0 and ptr >= n:
            break
        dtf = np.inf
        kmin = -1
        for k in range(n_act):
            x = rem[k] / rate[k]
            if x < dtf:
                dtf = x
                kmin = k
        tr = np.inf
        if ptr < n and not all_zero:
            tr = start[order[ptr]]
        tnext = t + dtf
        fin_event = True
        if tr < tnext:
            tnext = tr
            fin_event = False
        if not tnext < np.inf:  # active flows that can never finish: an invariant broke
            k = kmin if kmin >= 0 else 0
            _stall_diag(diag, act[k], t, rem[k], rate[k])
            return STALLED
        if tnext < t:
            tnext = t
        dt = tnext - t
        if n_act > 0:
            # finish rules (engine.FINISH_RTOL): time to finish within the elapsed sending time (or the
            # smallest time to finish, when t + dtf rounded below it) plus relative and clock tolerances, or
            # remaining bytes within finish_rtol of the size; bounds >= 0 and remaining bytes stay >= 0
            hor = dt
            if fin_event and dtf > dt:
                hor = dtf
            thr = hor * (1.0 + finish_rtol) + clock_eps * tnext
            j = 0
            for k in range(n_act):
                f = act[k]
                x = rem[k] / rate[k]
                left = rem[k] - rate[k] * dt
                if x <= thr or left <= finish_rtol * size[f]:
                    moved = True
                    finish[f] = tnext
                    if rate[k] < x_min:
                        x_min = rate[k]
                    wr = weight[f] * rate[k]
                    for p in range(indptr[f], indptr[f + 1]):
                        a = data[p]
                        if a > 0.0:
                            lk = indices[p]
                            load[lk] -= a * wr
                            wtot[lk] -= weight[f] * a
                            cnt[lk] -= 1
                            if cnt[lk] == 0:
                                col_busy[lk] += tnext - since[lk]
                                load[lk] = 0.0
                                wtot[lk] = 0.0
                else:
                    act[j] = f
                    rem[j] = left
                    rate[j] = rate[k]
                    j += 1
            n_act = j
        if moved:
            stall = 0
        else:
            stall += 1
            if stall >= max_stall:
                k = kmin if kmin >= 0 else 0
                _stall_diag(diag, act[k], tnext, rem[k], rate[k])
                return STALLED
        t = tnext
    return events


def _col_bytes_py(indptr, indices, data, wsize, n_cols):  # pragma: no cover - compiled below
    """Bytes per column: sum over rows of data x wsize[row] (no temporaries of the incidence's size)."""
    out = np.zeros(n_cols)
    for f in range(indptr.shape[0] - 1):
        w = wsize[f]
        if w == 0.0:
            continue
        for p in range(indptr[f], indptr[f + 1]):
            out[indices[p]] += data[p] * w
    return out


def _active_load_py(indptr, indices, data, weight, rate, flows, load):  # pragma: no cover - compiled below
    """Add each selected flow's load (multiplicity x fraction x rate, bytes/s) to its links."""
    for k in range(flows.shape[0]):
        f = flows[k]
        r = rate[k] * weight[f]
        for p in range(indptr[f], indptr[f + 1]):
            a = data[p]
            if a > 0.0:
                load[indices[p]] += a * r


_active_load = lazy_kernel(globals(), "_active_load", _active_load_py) if HAVE_NUMBA else None
_batch_kernel = lazy_kernel(globals(), "_batch_kernel", _batch_kernel_py) if HAVE_NUMBA else None
_col_bytes = lazy_kernel(globals(), "_col_bytes", _col_bytes_py) if HAVE_NUMBA else None


#: a link that can never bind (load bound <= capacity x (1 + this)) is left out of the components
NONBINDING_RTOL = 1e-9


def _components_py(indptr, indices, data, cap, weight, rtol):  # pragma: no cover - compiled below
    """Split flows into independent max-min subproblems.

    Every flow keeps its *anchor* (the link with the smallest capacity / (multiplicity x fraction), which
    bounds its rate in every allocation). A link whose load can never exceed its capacity given those
    bounds (sum of multiplicity x fraction x bound <= capacity) never binds; the connected components of
    the flow / binding-link graph then have independent max-min allocations. Returns (component of each
    flow, number of components, binding flag per link).
    """
    n = indptr.shape[0] - 1
    n_links = cap.shape[0]
    keep = np.zeros(n_links, np.bool_)
    bound = np.full(n, np.inf)
    for f in range(n):
        best = -1
        bv = np.inf
        for p in range(indptr[f], indptr[f + 1]):
            a = data[p]
            if a > 0.0:
                v = cap[indices[p]] / (weight[f] * a)
                if v < bv:
                    bv = v
                    best = indices[p]
        if best >= 0:
            keep[best] = True
            bound[f] = bv
    s = np.zeros(n_links)
    for f in range(n):
        if bound[f] == np.inf:
            continue
        for p in range(indptr[f], indptr[f + 1]):
            a = data[p]
            if a > 0.0:
                s[indices[p]] += weight[f] * a * bound[f]
    for lk in range(n_links):
        if s[lk] > cap[lk] * (1.0 + rtol):
            keep[lk] = True
    parent = np.arange(n_links)
    for f in range(n):
        root = -1
        for p in range(indptr[f], indptr[f + 1]):
            if data[p] > 0.0 and keep[indices[p]]:
                x = indices[p]
                while parent[x] != x:
                    parent[x] = parent[parent[x]]
                    x = parent[x]
                if root < 0:
                    root = x
                elif x != root:
                    parent[x] = root
    label = np.full(n_links, -1, np.int64)
    comp = np.full(n, -1, np.int64)
    nc = 0
    for f in range(n):
        for p in range(indptr[f], indptr[f + 1]):
            if data[p] > 0.0 and keep[indices[p]]:
                x = indices[p]
                while parent[x] != x:
                    x = parent[x]
                if label[x] < 0:
                    label[x] = nc
                    nc += 1
                comp[f] = label[x]
                break
    return comp, nc, keep


def _comp_batch_py(indptr, indices, data, cap, weight, size, instant, start, order, comp, n_comp, tie_rtol,
                   finish_rtol, clock_eps, max_stall, finish, col_busy, col_peak,
                   diag):  # pragma: no cover - compiled below
    """Event loop that re-solves only the components whose flow set changed (same answers as
    ``_batch_kernel`` up to the non-binding tolerance, same finish rules and stall guard).
    ``comp[f] = -1`` for flows crossing no link."""
    n = size.shape[0]
    n_links = cap.shape[0]
    # component -> flows (CSR)
    cptr = np.zeros(n_comp + 1, np.int64)
    for f in range(n):
        if comp[f] >= 0:
            cptr[comp[f] + 1] += 1
    for c in range(n_comp):
        cptr[c + 1] += cptr[c]
    cfill = cptr[:-1].copy()
    cflows = np.empty(cptr[n_comp], np.int64)
    for f in range(n):
        c = comp[f]
        if c >= 0:
            cflows[cfill[c]] = f
            cfill[c] += 1
    active = np.zeros(n, np.bool_)
    rate = np.zeros(n)
    rem = np.zeros(n)
    act = np.empty(n, np.int64)
    n_act = 0
    load = np.zeros(n_links)
    cnt = np.zeros(n_links, np.int64)
    since = np.zeros(n_links)
    touched = np.zeros(n_links, np.bool_)
    tlist = np.empty(n_links, np.int64)
    n_t = 0
    dirty = np.zeros(n_comp, np.bool_)
    dlist = np.empty(n_comp, np.int64)
    n_d = 0
    # scratch for the solver
    w = np.zeros(n_links)
    cn = np.zeros(n_links, np.int64)
    slot = np.empty(n_links, np.int64)
    live = np.empty(n_links, np.int64)
    buf = np.empty(n, np.int64)
    rbuf = np.empty(n)
    dummy = np.zeros(1)
    ptr = 0
    t = 0.0
    events = 0
    all_zero = order.shape[0] == 0
    stall = 0
    while True:
        moved = False
        # admissions
        while ptr < n:
            f = ptr if all_zero else order[ptr]
            if not all_zero and start[f] > t:
                break
            ptr += 1
            moved = True
            if instant[f]:
                finish[f] = t
                continue
            active[f] = True
            rem[f] = size[f]
            rate[f] = 0.0
            act[n_act] = f
            n_act += 1
            for p in range(indptr[f], indptr[f + 1]):
                if data[p] > 0.0:
                    lk = indices[p]
                    if cnt[lk] == 0:
                        since[lk] = t
                    cnt[lk] += 1
            c = comp[f]
            if not dirty[c]:
                dirty[c] = True
                dlist[n_d] = c
                n_d += 1
        # re-solve dirty components
        if n_d > 0:
            events += 1
        for j in range(n_d):
            c = dlist[j]
            dirty[c] = False
            nb = 0
            for q in range(cptr[c], cptr[c + 1]):
                f = cflows[q]
                if active[f]:
                    buf[nb] = f
                    nb += 1
            if nb > 0:
                _mm_core(indptr, indices, data, cap, weight, buf, nb, rbuf, dummy, tie_rtol, False, w, cn, slot,
                         live)
            for k in range(nb):
                f = buf[k]
                dr = rbuf[k] - rate[f]
                rate[f] = rbuf[k]
                if dr != 0.0:
                    for p in range(indptr[f], indptr[f + 1]):
                        a = data[p]
                        if a > 0.0:
                            lk = indices[p]
                            load[lk] += weight[f] * a * dr
                            if not touched[lk]:
                                touched[lk] = True
                                tlist[n_t] = lk
                                n_t += 1
        n_d = 0
        for i in range(n_t):
            lk = tlist[i]
            touched[lk] = False
            u = load[lk] / cap[lk]
            if u > col_peak[lk]:
                col_peak[lk] = u
        n_t = 0
        if n_act == 0 and ptr >= n:
            break
        dtf = np.inf
        fmin = -1
        for k in range(n_act):
            f = act[k]
            x = rem[f] / rate[f]
            if x < dtf:
                dtf = x
                fmin = f
        tr = np.inf
        if ptr < n and not all_zero:
            tr = start[order[ptr]]
        tnext = t + dtf
        fin_event = True
        if tr < tnext:
            tnext = tr
            fin_event = False
        if not tnext < np.inf:  # active flows that can never finish: an invariant broke
            f = fmin if fmin >= 0 else act[0]
            _stall_diag(diag, f, t, rem[f], rate[f])
            return STALLED
        if tnext < t:
            tnext = t
        dt = tnext - t
        hor = dt  # finish rules: as in _batch_kernel
        if fin_event and dtf > dt:
            hor = dtf
        thr = hor * (1.0 + finish_rtol) + clock_eps * tnext
        j2 = 0
        for k in range(n_act):
            f = act[k]
            x = rem[f] / rate[f]
            left = rem[f] - rate[f] * dt
            if x <= thr or left <= finish_rtol * size[f]:
                moved = True
                finish[f] = tnext
                active[f] = False
                rem[f] = 0.0
                for p in range(indptr[f], indptr[f + 1]):
                    a = data[p]
                    if a > 0.0:
                        lk = indices[p]
                        load[lk] -= weight[f] * a * rate[f]
                        cnt[lk] -= 1
                        if cnt[lk] == 0:
                            col_busy[lk] += tnext - since[lk]
                            load[lk] = 0.0
                rate[f] = 0.0
                c = comp[f]
                if not dirty[c]:
                    dirty[c] = True
                    dlist[n_d] = c
                    n_d += 1
            else:
                rem[f] = left
                act[j2] = f
                j2 += 1
        n_act = j2
        if moved:
            stall = 0
        else:
            stall += 1
            if stall >= max_stall:
                f = fmin if fmin >= 0 else 0
                _stall_diag(diag, f, tnext, rem[f], rate[f])
                return STALLED
        t = tnext
    return events


_components = lazy_kernel(globals(), "_components", _components_py) if HAVE_NUMBA else None
_comp_batch = lazy_kernel(globals(), "_comp_batch", _comp_batch_py) if HAVE_NUMBA else None
