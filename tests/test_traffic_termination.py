"""Termination of the contention engine (issue 18): every run returns, with every flow finished.

Properties over random tiny fabrics of every builder, flow sets with ties (few distinct sizes), random
dependency shapes, every routing and both solver paths (Python event loop on numpy, compiled kernels):
the run terminates, every flow arrives, bytes are conserved at every node, no link is loaded above its
capacity, no flow beats its source's total out-capacity, dependencies are respected, and the numpy and
compiled paths agree. The issue's reproducers are regression tests, and the progress guard (an internal
``EngineStallError`` naming the flow and the time instead of a hang) is exercised in every loop.

Hang guard for this module: a regression of the finish rules trips the engine's own progress guard
(``EngineStallError``, a test failure); as a last resort ``faulthandler`` dumps the stacks and ends the run
after ``HANG_S`` seconds per test rather than letting it hang (a compiled kernel cannot be interrupted).
"""

from __future__ import annotations

import faulthandler
import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import topo
import traffic
from topo import ScaleupError
from traffic import HAVE_NUMBA, Step, simulate_arrays, simulate_steps
from traffic import engine as eng
from traffic.engine import EngineStallError

METHODS = ["numpy"] + (["numba"] if HAVE_NUMBA else [])
HANG_S = 300  # per test; the whole module runs in well under a minute


@pytest.fixture(autouse=True)
def _hang_guard():
    faulthandler.dump_traceback_later(HANG_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


# ------------------------------------------------------------------------------------------ fabrics
EFF = 4086 / 4150  # a non-round efficiency: capacities that are not exact binary fractions
BUILDERS = {
    "switch": lambda lat, eff: topo.switch(chips=6, planes=2, bandwidth=1e9, link_latency=lat,
                                           switch_latency=lat, efficiency=eff),
    "switch_tray": lambda lat, eff: topo.switch(chips=8, tray_size=2, bandwidth=3e9, link_latency=lat,
                                                switch_latency=lat, efficiency=eff),
    "two_tier": lambda lat, eff: topo.two_tier(chips=8, tray_size=2, planes=1, switch_radix=4, link_latency=lat,
                                               switch_latency=lat, efficiency=eff),
    "two_tier_planes": lambda lat, eff: topo.two_tier(chips=16, tray_size=4, planes=2, switch_radix=8,
                                                      link_latency=lat, switch_latency=lat, efficiency=eff),
    "torus": lambda lat, eff: topo.torus(dims=(3, 3), link_bandwidth=1e9, link_latency=lat, efficiency=eff),
    "torus_mesh": lambda lat, eff: topo.torus(dims=(2, 3, 2), wrap=False, link_latency=lat, efficiency=eff),
    "clos": lambda lat, eff: topo.clos(servers=8, chips_per_server=1, server_fabric="none", leaf_radix=8,
                                       link_latency=lat, switch_latency=lat, efficiency=eff),
    "clos_servers": lambda lat, eff: topo.clos(servers=4, chips_per_server=2, leaf_radix=4, link_latency=lat,
                                               server_latency=lat, switch_latency=lat, efficiency=eff),
    "clos_oversub": lambda lat, eff: topo.clos(servers=8, chips_per_server=2, leaf_radix=8, oversubscription=2,
                                               link_latency=lat, switch_latency=lat, efficiency=eff),
    "full_mesh": lambda lat, eff: topo.full_mesh(chips=5, link_latency=lat, efficiency=eff),
    "full_mesh_fwd": lambda lat, eff: topo.full_mesh(chips=6, forwarding=True, two_hop=True, link_latency=lat,
                                                     efficiency=eff),
    "dragonfly": lambda lat, eff: topo.dragonfly(routers_per_group=2, chips_per_router=1,
                                                 global_links_per_router=1, link_latency=lat,
                                                 global_latency=lat, switch_latency=lat, efficiency=eff),
    "dragonfly_groups": lambda lat, eff: topo.dragonfly(routers_per_group=2, chips_per_router=2,
                                                        global_links_per_router=2, groups=3, link_latency=lat,
                                                        global_latency=lat, switch_latency=lat, efficiency=eff),
}


@functools.cache
def fabric(name: str, lat: float, eff: float) -> topo.Fabric:
    return BUILDERS[name](lat, eff)


# ------------------------------------------------------------------------------------------ cases
SIZES = [0.0, 1.0, 8.0, 1024.0, 4259.0, 29523.0, 40805172.0, 8.0 * 2**20, 1e9 / 3]
DEP_SHAPES = ["none", "chain", "layers", "random", "fan"]


def dependencies(shape: str, n: int, rng: np.random.Generator) -> list[list[int]] | None:
    """A random DAG of the given shape over ``n`` flows (labels permuted), or None for no dependencies."""
    if shape == "none" or n < 2:
        return None
    pos: list[list[int]] = [[] for _ in range(n)]  # dependencies by topological position
    if shape == "chain":
        for i in range(1, n):
            pos[i] = [i - 1]
    elif shape == "layers":  # bulk-synchronous steps: each flow waits for 1-2 flows of the previous layer
        width = int(rng.integers(1, n))
        for i in range(width, n):
            lo = (i // width - 1) * width
            hi = min(lo + width, n)
            pos[i] = sorted(set(rng.integers(lo, hi, size=int(rng.integers(1, 3))).tolist()))
    elif shape == "random":
        for i in range(1, n):
            k = int(rng.integers(0, min(i, 3) + 1))
            pos[i] = sorted(set(rng.integers(0, i, size=k).tolist()))
    else:  # fan out of flow 0, join into the last flow
        for i in range(1, n - 1):
            pos[i] = [0]
        pos[n - 1] = list(range(1, n - 1)) or [0]
    perm = rng.permutation(n)  # label of position i
    deps: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        deps[int(perm[i])] = [int(perm[j]) for j in pos[i]]
    return deps


def csr(deps: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.concatenate([[0], np.cumsum([len(d) for d in deps])]).astype(np.int64)
    idx = np.array([j for d in deps for j in d], dtype=np.int64)
    return ptr, idx


@st.composite
def cases(draw):
    name = draw(st.sampled_from(sorted(BUILDERS)))
    lat = draw(st.sampled_from([0.0, 3e-7]))
    eff = draw(st.sampled_from([1.0, EFF]))
    fab = fabric(name, lat, eff)
    n = draw(st.integers(1, 18))
    palette = draw(st.lists(st.sampled_from(SIZES), min_size=1, max_size=3))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    src = rng.integers(0, fab.n_chips, n)
    dst = rng.integers(0, fab.n_chips, n)
    if draw(st.booleans()):  # mostly distinct endpoints; sometimes src == dst is allowed
        dst = np.where(dst == src, (dst + 1) % fab.n_chips, dst)
    size = np.asarray(palette)[rng.integers(0, len(palette), n)]
    starts = draw(st.sampled_from(["zero", "few", "random"]))
    if starts == "zero":
        start = np.zeros(n)
    elif starts == "few":
        start = np.array([0.0, 1e-6, 3e-6])[rng.integers(0, 3, n)]
    else:
        start = rng.random(n) * 1e-4
    deps = dependencies(draw(st.sampled_from(DEP_SHAPES)), n, rng)
    routing = draw(st.sampled_from(["ecmp", "hash", "ecmp-subflows"]))
    return dict(fab=fab, src=src, dst=dst, size=size, start=start, deps=deps, routing=routing,
                seed=int(rng.integers(0, 10)), label=f"{name} lat={lat} eff={eff}")


def run(case: dict, method: str) -> traffic.SimResult:
    dep_ptr = dep_idx = None
    if case["deps"] is not None:
        dep_ptr, dep_idx = csr(case["deps"])
    return simulate_arrays(case["fab"], case["src"], case["dst"], case["size"], case["start"], dep_ptr, dep_idx,
                           routing=case["routing"], seed=case["seed"], method=method)


def check_invariants(case: dict, r: traffic.SimResult) -> None:
    """Independent checks of one result (times s, bytes)."""
    fab, src, dst, size = case["fab"], case["src"], case["dst"], case["size"]
    n = len(src)
    # every flow finished and arrived, in order: start <= ready <= finish <= arrival
    assert np.isfinite(r.arrival).all() and np.isfinite(r.finish).all() and np.isfinite(r.ready).all()
    tol = 1e-12 + 1e-9 * float(r.makespan)
    assert (r.ready >= case["start"] - tol).all()
    assert (r.finish >= r.ready - tol).all() and (r.arrival >= r.finish - tol).all()
    assert r.makespan == pytest.approx(float(r.arrival.max()) if n else 0.0)
    # dependencies: a flow is ready no earlier than the arrival of each flow it waits for
    if case["deps"] is not None:
        for i, ds in enumerate(case["deps"]):
            for j in ds:
                assert r.ready[i] >= r.arrival[j] - tol, (i, j)
    # bytes conserved at every node: out - in = bytes sourced - bytes sunk
    moving = src != dst
    net = np.zeros(fab.n_nodes)
    np.add.at(net, src[moving], size[moving])
    np.subtract.at(net, dst[moving], size[moving])
    out = np.bincount(fab.edge_src, weights=r.link_bytes, minlength=fab.n_nodes)
    inn = np.bincount(fab.edge_dst, weights=r.link_bytes, minlength=fab.n_nodes)
    scale = max(float(size.sum()), 1.0)
    np.testing.assert_allclose(out - inn, net, rtol=0, atol=1e-9 * scale)
    # no link above capacity, at any instant and on average over its busy time
    assert (r.link_peak <= 1.0 + 1e-9).all()
    assert (r.link_bytes <= r.capacity * r.link_busy * (1.0 + 1e-9) + 1e-6).all()
    # no flow sends faster than its source's total out-capacity
    outcap = np.bincount(fab.edge_src, weights=r.capacity, minlength=fab.n_nodes)
    send = r.finish - r.ready
    lower = np.where(moving, size / outcap[src], 0.0)
    assert (send >= lower * (1.0 - 1e-9) - 1e-15).all()


def agree(a: traffic.SimResult, b: traffic.SimResult) -> None:
    atol = 1e-15 + 1e-9 * max(float(a.makespan), 0.0)
    np.testing.assert_allclose(a.arrival, b.arrival, rtol=1e-9, atol=atol)
    np.testing.assert_allclose(a.ready, b.ready, rtol=1e-9, atol=atol)
    np.testing.assert_allclose(a.link_bytes, b.link_bytes, rtol=1e-9, atol=1e-6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_random_inputs_terminate_and_satisfy_invariants(case):
    results = [run(case, m) for m in METHODS]
    for r in results:
        check_invariants(case, r)
    for r in results[1:]:
        agree(results[0], r)
    # step mode (compiled kernel with aggregated rows and multiplicities) on the same flows started together
    if case["deps"] is None and not case["start"].any():
        for m in METHODS:
            s = simulate_steps(case["fab"], [Step(case["src"], case["dst"], case["size"])], case["routing"],
                               case["seed"], method=m)
            assert s.time == pytest.approx(results[0].makespan, rel=1e-9, abs=1e-15)


# ------------------------------------------------------------------------------------ reproducers
def _batch_case():
    fab = topo.switch(chips=52, planes=3, bandwidth=1e9, link_latency=0, switch_latency=0)
    src = np.array([1, 22, 35, 22, 22, 23, 43, 0, 36, 23, 51, 37, 23, 37, 41, 51, 6, 22, 43, 9, 5, 33])
    dst = np.array([0, 17, 11, 8, 28, 14, 45, 34, 11, 0, 11, 25, 26, 42, 40, 12, 27, 3, 8, 35, 34, 29])
    a, b, c = 40805172.0, 4259.0, 29523.0
    size = np.array([a, a, b, c, c, c, b, a, b, a, a, c, c, b, a, a, c, c, c, a, a, b])
    return dict(fab=fab, src=src, dst=dst, size=size, start=np.zeros(len(src)), deps=None, routing="ecmp",
                seed=0)


@pytest.mark.parametrize("method", METHODS)
def test_issue18_batch_without_dependencies_returns(method):
    case = _batch_case()
    r = run(case, method)
    check_invariants(case, r)
    # flows from chip 22 (four of them, 2 x A + 2 x C) share its three 1e9 B/s uplinks: chip 22 sends its
    # 2A + 3C bytes (one more C to chip 3) no faster than 3e9 B/s, and the makespan is at least that
    out22 = case["size"][case["src"] == 22].sum()
    assert r.makespan >= out22 / 3e9 * (1 - 1e-12)


def _ring_case(seed: int):
    fab = topo.clos(servers=128, chips_per_server=1, server_fabric="none", leaf_radix=32, leaf_down=16,
                    oversubscription=1, nic_bandwidth="400Gbps", link_latency="300ns", switch_latency="200ns",
                    efficiency=4086 / 4150)
    order = [leaf * 16 + j for j in range(16) for leaf in range(8)]
    n, src, dst, deps = 128, [], [], []
    for k in range(4):
        for r in range(n):
            src.append(order[r])
            dst.append(order[(r + 1) % n])
            deps.append([] if k == 0 else [(k - 1) * n + (r - 1) % n])
    return dict(fab=fab, src=np.array(src), dst=np.array(dst), size=np.full(len(src), 8.0 * 2**20),
                start=np.zeros(len(src)), deps=deps, routing="hash", seed=seed)


@pytest.mark.parametrize("seed", [4, 5])
def test_issue18_dependent_ring_under_hash_routing_returns(seed):
    case = _ring_case(seed)
    r = run(case, "auto")
    check_invariants(case, r)
    # four dependent steps of 8 MiB, each no faster than one 400 Gb/s NIC at the given efficiency
    assert r.makespan >= 4 * 8 * 2**20 / (50e9 * 4086 / 4150) * (1 - 1e-12)


@pytest.mark.parametrize("size", [1, 8])
def test_issue18_tiny_dbt_all_reduce_returns(size):
    collectives = pytest.importorskip("collectives")
    fab = topo.load("torus-8x8")
    t = collectives.all_reduce(fab, size, algorithm="dbt").time
    t_big = collectives.all_reduce(fab, 1024, algorithm="dbt").time
    assert np.isfinite(t) and 0 < t <= t_big


# ----------------------------------------------------------------------------------- progress guard
def _stuck(monkeypatch):
    """Finish rules that can never be met (negative tolerances): the loops must stop, not spin."""
    monkeypatch.setattr(eng, "FINISH_RTOL", -2.0)
    monkeypatch.setattr(eng, "FINISH_CLOCK_EPS", -1e-3)


def _assert_stall(exc: pytest.ExceptionInfo) -> None:
    assert not isinstance(exc.value, ScaleupError)  # an internal error, not a user error
    msg = str(exc.value)
    assert "flow " in msg and "t=" in msg and "no progress" in msg


def test_python_loop_stall_raises_internal_error(monkeypatch):
    _stuck(monkeypatch)
    case = _batch_case()
    with pytest.raises(EngineStallError) as exc:
        run(case, "numpy")
    _assert_stall(exc)
    assert isinstance(exc.value, RuntimeError)


@pytest.mark.skipif(not HAVE_NUMBA, reason="compiled kernels need numba")
@pytest.mark.parametrize("disjoint", [False, True])
def test_compiled_kernels_stall_raises_internal_error(monkeypatch, disjoint):
    # disjoint pairs: independent components (the component kernel); a shared destination: one component
    _stuck(monkeypatch)
    fab = topo.switch(chips=8, bandwidth=1e9)
    src = np.array([0, 1, 2, 3])
    dst = np.array([4, 5, 6, 7]) if disjoint else np.array([4, 4, 4, 5])
    with pytest.raises(EngineStallError) as exc:
        simulate_arrays(fab, src, dst, np.array([1e6, 2e6, 2e6, 3e6]), method="numba")
    _assert_stall(exc)


def test_flows_that_can_never_finish_raise_internal_error(monkeypatch):
    # a solver returning zero rates (an invariant broken elsewhere) must surface, not return inf times
    real = eng._solve

    def zero(*a, **k):
        rate, load = real(*a, **k)
        return np.zeros_like(rate), load

    monkeypatch.setattr(eng, "_solve", zero)
    case = _batch_case()
    case["deps"] = [[] for _ in range(len(case["src"]))]
    case["deps"][1] = [0]
    with pytest.raises(EngineStallError) as exc:
        run(case, "numpy")
    _assert_stall(exc)
