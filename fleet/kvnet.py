"""The KV-cache transfer network between pools, simulated with the traffic engine's flow model.

Every replica is an endpoint (a ``kind="chip"`` node of a :class:`topo.Fabric` whose rank is the
replica's global index, pools in fleet order). Built from a :class:`KVNetworkSpec`:

- no ``pool_uplink``: each replica's NIC (``bandwidth`` each way, ``latency``) to one non-blocking switch;
- with ``pool_uplink``: replica NICs to a leaf switch per pool, each leaf to a core switch over
  ``pool_uplink`` (so all KV traffic out of a pool shares it);
- with ``fabric``: a topo fabric (preset or YAML); replica ``i`` is chip rank ``i``, routes by the
  fabric's router (ECMP splitting as fractional incidence).

Transfers start while the serving simulation runs, so they are simulated online, with the engine's model
(DESIGN.md): max-min fair sharing of link capacity among the transfers sending at each instant,
recomputed at every start and finish by ``traffic.maxmin_rates``; a transfer arrives when its last byte
is sent plus its path's latency. For the same start times this gives the same arrivals as
``traffic.simulate_arrays`` (tested).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import networkx as nx
import numpy as np
import scipy.sparse as sp
import simpy

from topo import Fabric, SpecError

from .spec import KVNetworkSpec

__all__ = ["KVNetwork", "build_kv_fabric"]

try:  # the engine's max-min solver (traffic package); a local progressive filling until it exists
    from traffic import maxmin_rates as _engine_maxmin  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the tree state
    _engine_maxmin = None


def _maxmin_local(inc: sp.csr_matrix, cap: np.ndarray) -> np.ndarray:
    """Progressive filling (max-min fair rates) on a flows x links incidence matrix, bytes/s."""
    n = inc.shape[0]
    rates = np.zeros(n)
    active = np.ones(n, dtype=bool)
    left = cap.astype(np.float64).copy()
    A = inc.tocsc()
    At = inc.tocsr()
    while active.any():
        load = At[active].sum(axis=0).A1 if active.any() else np.zeros(len(cap))
        used = load > 0
        if not used.any():
            break
        share = np.full(len(cap), np.inf)
        share[used] = left[used] / load[used]
        inc_rate = share.min()
        rates[active] += inc_rate
        left -= load * inc_rate
        sat = used & (left <= 1e-12 * np.maximum(cap, 1.0))
        hit = np.unique(A[:, np.flatnonzero(sat)].tocoo().row)
        active[hit] = False
    return rates


def maxmin(inc: sp.csr_matrix, cap: np.ndarray) -> np.ndarray:
    """Max-min fair rates: the traffic engine's solver when installed, else the local one."""
    if _engine_maxmin is not None:
        return np.asarray(_engine_maxmin(inc, cap), dtype=np.float64)
    return _maxmin_local(inc, cap)


def build_kv_fabric(spec: KVNetworkSpec, pool_sizes: Sequence[int], pool_names: Sequence[str]) -> Fabric:
    """A star (or leaf/core) fabric with one endpoint per replica; see the module docstring."""
    g = nx.DiGraph()
    n = int(sum(pool_sizes))
    for r in range(n):
        g.add_node(("rep", r), kind="chip", rank=r, tray=r)
    g.add_node("core", kind="switch", tier=1)
    r = 0
    for p, size in enumerate(pool_sizes):
        if spec.pool_uplink is not None:
            leaf = ("leaf", pool_names[p])
            g.add_node(leaf, kind="switch", tier=0)
            g.add_edge(leaf, "core", bandwidth=spec.pool_uplink, latency=spec.latency)
            g.add_edge("core", leaf, bandwidth=spec.pool_uplink, latency=spec.latency)
            hub = leaf
        else:
            hub = "core"
        for _ in range(size):
            g.add_edge(("rep", r), hub, bandwidth=spec.bandwidth, latency=spec.latency)
            g.add_edge(hub, ("rep", r), bandwidth=spec.bandwidth, latency=spec.latency)
            r += 1
    return Fabric(g, name="kv-network", meta={"builder": "kv-star", "pools": list(pool_names)})


class KVNetwork:
    """Online max-min fair KV transfers on a fabric inside a simpy environment.

    Args:
        env: the simpy environment of the serving simulation.
        fabric: the KV fabric (see :func:`build_kv_fabric`); endpoints are chip ranks.
    """

    def __init__(self, env: simpy.Environment, fabric: Fabric) -> None:
        self.env = env
        self.fab = fabric
        self.cap = np.asarray(fabric.edge_capacity, dtype=np.float64)
        self._route_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, float]] = {}
        self._star = fabric.meta.get("builder") == "kv-star"
        # active transfers (parallel lists)
        self._cols: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []
        self._lat: list[float] = []
        self._evs: list[simpy.Event] = []
        self._ids: list[int] = []
        self._rem = np.zeros(0)
        self._rate = np.zeros(0)
        self._t = 0.0
        self._gen = 0
        self.link_bytes = np.zeros(fabric.n_edges)
        self._users = np.zeros(fabric.n_edges, dtype=np.int64)  # active transfers per edge
        self.n_transfers = 0
        self.n_solves = 0

    # ------------------------------------------------------------------ routes
    def route(self, src: int, dst: int) -> tuple[np.ndarray, np.ndarray, float]:
        """(edge ids, incidence weights, path latency s) from endpoint ``src`` to ``dst``."""
        key = (src, dst)
        hit = self._route_cache.get(key)
        if hit is not None:
            return hit
        fab = self.fab
        if self._star:
            s, d = fab.chips[src], fab.chips[dst]
            nodes = [s]
            hub_s = next(iter(fab.graph.successors(s)))
            hub_d = next(iter(fab.graph.predecessors(d)))
            nodes.append(hub_s)
            if hub_s != hub_d:
                nodes += ["core", hub_d]
            nodes.append(d)
            eids = np.array([fab.edge_id(u, v) for u, v in zip(nodes[:-1], nodes[1:])], dtype=np.int64)
            vals = np.ones(len(eids))
            lat = float(fab.edge_latency[eids].sum())
        else:
            routes = fab.routes(np.array([src]), np.array([dst]))
            paths = routes.edges_of(0)
            if not paths:
                raise SpecError(f"kv_network: no route from replica endpoint {src} to {dst}")
            w = 1.0 / len(paths)
            acc: dict[int, float] = {}
            for p in paths:
                for e in np.asarray(p).tolist():
                    acc[e] = acc.get(e, 0.0) + w
            eids = np.array(sorted(acc), dtype=np.int64)
            vals = np.array([acc[e] for e in eids.tolist()])
            lat = max(float(fab.edge_latency[np.asarray(p)].sum()) for p in paths)
        out = (eids, vals, lat)
        self._route_cache[key] = out
        return out

    # ------------------------------------------------------------------ transfers
    def transfer(self, src: int, dst: int, size: float, on_arrival: Callable[[], None] | None = None) -> simpy.Event:
        """Start moving ``size`` bytes from endpoint ``src`` to ``dst`` now; the event fires on arrival."""
        env = self.env
        ev = env.event()
        if on_arrival is not None:
            ev.callbacks.append(lambda _e: on_arrival())
        self.n_transfers += 1
        if src == dst:
            ev.succeed()
            return ev
        eids, vals, lat = self.route(src, dst)
        if size <= 0:
            env.timeout(lat).callbacks.append(lambda _e: ev.succeed())
            return ev
        self._advance()
        shared = bool(self._users[eids].any())
        self._users[eids] += 1
        self._cols.append(eids)
        self._vals.append(vals)
        self._lat.append(lat)
        self._evs.append(ev)
        self._rem = np.append(self._rem, float(size))
        self.link_bytes[eids] += vals * float(size)
        if shared:
            self._resolve()
        else:  # its own component of the sharing graph: the others' max-min rates are unchanged
            self._rate = np.append(self._rate, float(np.min(self.cap[eids] / vals)))
            self._arm()
        return ev

    def _advance(self) -> None:
        now = self.env.now
        if len(self._rem):
            self._rem = self._rem - self._rate * (now - self._t)
        self._t = now

    def _resolve(self) -> None:
        """Recompute fair rates of the active transfers (the engine's max-min solver), arm the timer."""
        n = len(self._rem)
        if n == 0:
            self._gen += 1
            self._rate = np.zeros(0)
            return
        if n == 1:  # progressive filling of one flow: its bottleneck link
            self._rate = np.array([float(np.min(self.cap[self._cols[0]] / self._vals[0]))])
            self._arm()
            return
        lens = [len(c) for c in self._cols]
        indptr = np.concatenate([[0], np.cumsum(lens)])
        cols = np.concatenate(self._cols)
        vals = np.concatenate(self._vals)
        used, local = np.unique(cols, return_inverse=True)
        inc = sp.csr_matrix((vals, local, indptr), shape=(n, len(used)))
        self._rate = maxmin(inc, self.cap[used])
        self.n_solves += 1
        self._arm()

    def _arm(self) -> None:
        """Schedule the timer for the earliest finish under the current rates."""
        self._gen += 1
        with np.errstate(divide="ignore"):
            ttf = np.where(self._rate > 0, np.maximum(self._rem, 0.0) / self._rate, np.inf)
        dt = float(ttf.min())
        if not np.isfinite(dt):
            raise SpecError("kv_network: a transfer got zero bandwidth; check the link capacities")
        gen = self._gen
        self.env.timeout(dt).callbacks.append(lambda _e: self._on_timer(gen, dt))

    def _on_timer(self, gen: int, dt: float) -> None:
        if gen != self._gen:
            return
        self._advance()
        with np.errstate(divide="ignore"):
            ttf = np.where(self._rate > 0, np.maximum(self._rem, 0.0) / self._rate, np.inf)
        done = np.flatnonzero(ttf <= 1e-9 * max(dt, 1e-12) + 1e-15)
        if len(done) == 0:  # float drift: finish the earliest
            done = np.array([int(np.argmin(ttf))])
        keep = np.ones(len(self._rem), dtype=bool)
        keep[done] = False
        shared = False
        for i in done.tolist():
            self._users[self._cols[i]] -= 1
        for i in done.tolist():
            shared = shared or bool(self._users[self._cols[i]].any())
            ev = self._evs[i]
            self.env.timeout(self._lat[i]).callbacks.append(lambda _e, ev=ev: ev.succeed())
        idx = np.flatnonzero(keep).tolist()
        self._cols = [self._cols[i] for i in idx]
        self._vals = [self._vals[i] for i in idx]
        self._lat = [self._lat[i] for i in idx]
        self._evs = [self._evs[i] for i in idx]
        self._rem = self._rem[keep]
        self._rate = self._rate[keep]
        if shared:
            self._resolve()
        elif len(self._rem):  # the finished flows shared no link with the others: rates unchanged
            self._arm()
        else:
            self._gen += 1
