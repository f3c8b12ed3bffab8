"""The compiled batch loop runs per component only while every component is small (traffic.engine.
COMPONENT_MAX_SIZE): it re-solves a changed component from scratch at every event, so a hash-routed all-to-all
(components of thousands of flows) took 9x longer that way than with the whole-batch kernel's incremental re-fill
(384 maia200 chips: 126.6 s -> 14.0 s). Both kernels give the same answer (to the non-binding tolerance); checked
here on hypothesis-drawn flows, with conservation and no link above capacity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import topo
import traffic
import traffic.engine as engine
import traffic.maxmin as maxmin
from traffic import patterns


def _tt64() -> topo.Fabric:
    return topo.two_tier(chips=64, tray_size=4, planes=2, ports_per_plane=1, tray_ports=3, ports=5,
                         switch_radix=32, leaf_down=16, leaf_uplinks=8, spines=4, chip="maia200", name="tt64")


_FAB = _tt64()


def _run(src, dst, size, start=None, max_size=None, spy=None):
    with pytest.MonkeyPatch.context() as m:
        if max_size is not None:
            m.setattr(engine, "COMPONENT_MAX_SIZE", max_size)
        if spy is not None:
            m.setattr(engine, "_comp_batch", spy)
        return traffic.simulate_arrays(_FAB, src, dst, size, start=start, routing="hash")


def _largest_component(src, dst) -> int:
    from traffic.routing import build_problem

    p = build_problem(_FAB, src, dst, "hash", 0)
    comp, n_comp, _ = engine._components(p.indptr, p.indices, p.data, p.col_cap, np.ones(p.n_flows),
                                         engine.NONBINDING_RTOL)
    return int(np.bincount(comp[comp >= 0]).max())


def test_large_components_take_the_whole_batch_kernel():
    src, dst = patterns.all_to_all(_FAB.n_chips)
    keep = np.random.default_rng(1).random(len(src)) < 0.5  # half the pairs: fewer events, still big components
    src, dst = src[keep], dst[keep]
    size = np.full(len(src), 1e6)
    big = _largest_component(src, dst)
    assert big > 64
    calls = []

    def spy(*a):
        calls.append(1)
        return maxmin._comp_batch(*a)

    a = _run(src, dst, size, max_size=big - 1, spy=spy)  # a component above the limit: whole batch
    assert not calls
    b = _run(src, dst, size, max_size=10**9, spy=spy)  # every component within it: per component, as before
    assert calls
    np.testing.assert_allclose(a.arrival, b.arrival, rtol=1e-9, atol=0)
    np.testing.assert_allclose(a.link_bytes, b.link_bytes, rtol=1e-9, atol=1e-9 * b.link_bytes.max())


@settings(max_examples=15, deadline=None, derandomize=True)
@given(n=st.integers(300, 1500), seed=st.integers(0, 2**16), staggered=st.booleans())
def test_per_component_and_whole_batch_agree(n, seed, staggered):
    """More than SMALL_PROBLEM_FLOWS flows (the compiled batch loop, not the numpy one); random pairs, sizes, starts."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, _FAB.n_chips, n)
    dst = (src + rng.integers(1, _FAB.n_chips, n)) % _FAB.n_chips
    size = rng.uniform(0.1, 2.0, n) * 2**20
    start = rng.uniform(0, 5e-6, n) if staggered else None
    a = _run(src, dst, size, start, max_size=0)
    b = _run(src, dst, size, start, max_size=10**9)
    np.testing.assert_allclose(a.arrival, b.arrival, rtol=1e-9, atol=0)
    np.testing.assert_allclose(a.link_bytes, b.link_bytes, rtol=1e-9, atol=1e-9 * b.link_bytes.max())
    for r in (a, b):  # bytes conserved: every chip sends its flows' bytes, switches relay all they receive
        out = np.bincount(_FAB.edge_src, r.link_bytes, _FAB.n_nodes)
        inn = np.bincount(_FAB.edge_dst, r.link_bytes, _FAB.n_nodes)
        sent = np.bincount(src, size, _FAB.n_nodes)
        got = np.bincount(dst, size, _FAB.n_nodes)
        np.testing.assert_allclose(out - inn, sent - got, rtol=0, atol=1e-6 * size.sum())
        assert np.all(r.link_bytes <= r.capacity * r.makespan * (1 + 1e-9))
