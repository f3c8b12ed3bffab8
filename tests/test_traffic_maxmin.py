"""Max-min fair allocation: textbook examples, the max-min certificate, numba == numpy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from topo import CapacityError, ScaleupError
from traffic import HAVE_NUMBA, maxmin_rates

METHODS = ["numpy"] + (["numba"] if HAVE_NUMBA else [])


@pytest.mark.parametrize("method", METHODS)
def test_parking_lot(method):
    # Bertsekas & Gallager's line network: 3 links of capacity 1; flow 0 crosses all, flows 1-3 one each.
    a = np.array([[1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    r = maxmin_rates(sp.csr_matrix(a), np.ones(3), method=method)
    np.testing.assert_allclose(r, [0.5, 0.5, 0.5, 0.5])


@pytest.mark.parametrize("method", METHODS)
def test_two_levels(method):
    # link 0 (cap 1): flows 0, 1; link 1 (cap 3): flows 0, 2, 3.
    # level 1: link 0 saturates at 1/2 -> flows 0, 1 = 0.5; link 1 has 2.5 left for flows 2, 3 -> 1.25 each.
    a = np.array([[1, 1], [1, 0], [0, 1], [0, 1]], float)
    r = maxmin_rates(a, np.array([1.0, 3.0]), method=method)
    np.testing.assert_allclose(r, [0.5, 0.5, 1.25, 1.25])


@pytest.mark.parametrize("method", METHODS)
def test_fractional_and_weights(method):
    # flow 0 split evenly over links 0 and 1 (ECMP), flow 1 on link 0 only; caps 1 and 1.
    # fill: link0 load = 0.5 r + r = 1.5 r -> saturates at r = 2/3: both freeze at 2/3; link 1 has 2/3 x 0.5.
    a = np.array([[0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(maxmin_rates(a, np.ones(2), method=method), [2 / 3, 2 / 3])
    # a row of multiplicity 3 equals three identical rows
    b = np.array([[1.0, 0.0], [1.0, 1.0]])
    r_w = maxmin_rates(b, np.array([4.0, 10.0]), weights=np.array([3.0, 1.0]), method=method)
    r_x = maxmin_rates(np.array([[1.0, 0], [1, 0], [1, 0], [1, 1]]), np.array([4.0, 10.0]), method=method)
    np.testing.assert_allclose(r_w, [r_x[0], r_x[3]])
    np.testing.assert_allclose(r_w, [1.0, 1.0])


def test_empty_row_is_unbounded():
    r = maxmin_rates(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([2.0, 2.0]))
    assert r[0] == np.inf and r[1] == 2.0


def test_bad_inputs():
    with pytest.raises(ScaleupError, match="capacity has shape"):
        maxmin_rates(np.ones((2, 2)), np.ones(3))
    with pytest.raises(ScaleupError, match=">= 0"):
        maxmin_rates(np.array([[-1.0]]), np.ones(1))
    with pytest.raises(CapacityError, match="link 1"):
        maxmin_rates(np.array([[1.0, 1.0]]), np.array([1.0, 0.0]))
    with pytest.raises(ScaleupError, match="method"):
        maxmin_rates(np.ones((1, 1)), np.ones(1), method="magic")


@st.composite
def problems(draw):
    nf = draw(st.integers(1, 25))
    nl = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    a = (rng.random((nf, nl)) < draw(st.floats(0.1, 0.6))) * rng.choice([0.25, 0.5, 1.0], (nf, nl))
    cap = rng.choice([1.0, 2.0, 3.0, 0.5, 7.0], nl) * rng.uniform(0.5, 2.0, nl)
    w = rng.choice([1.0, 2.0, 5.0], nf)
    return a, cap, w


def certify(a, cap, w, r):
    """Feasible, and every flow has a saturated link on which its rate is the largest (max-min)."""
    fin = np.isfinite(r)
    assert np.all(fin == (a.sum(1) > 0))
    load = (a * (w * np.where(fin, r, 0))[:, None]).sum(0)
    assert np.all(load <= cap * (1 + 1e-9))
    sat = load >= cap * (1 - 1e-9)
    for f in np.flatnonzero(fin):
        links = np.flatnonzero(a[f] > 0)
        ok = [lk for lk in links if sat[lk] and r[f] >= r[a[:, lk] > 0].max() * (1 - 1e-9)]
        assert ok, f"flow {f} has no bottleneck link"


@settings(max_examples=60, deadline=None)
@given(problems())
def test_maxmin_certificate(pb):
    a, cap, w = pb
    for method in METHODS:
        r = maxmin_rates(sp.csr_matrix(a), cap, weights=w, method=method)
        certify(a, cap, w, r)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
@settings(max_examples=60, deadline=None)
@given(problems())
def test_numba_equals_numpy(pb):
    a, cap, w = pb
    r1 = maxmin_rates(a, cap, weights=w, method="numba")
    r2 = maxmin_rates(a, cap, weights=w, method="numpy")
    assert np.array_equal(np.isfinite(r1), np.isfinite(r2))
    f = np.isfinite(r1)
    np.testing.assert_allclose(r1[f], r2[f], rtol=1e-12)


def test_large_batch_scan_path_matches_reference():
    # > 500k flows takes the scan variant of the numba solver; compare with the numpy reference.
    rng = np.random.default_rng(5)
    nf, nl = 600_000, 12
    rows = np.repeat(np.arange(nf), 2)
    cols = rng.integers(0, nl, 2 * nf)
    a = sp.csr_matrix((np.ones(2 * nf), (rows, cols)), shape=(nf, nl))
    cap = rng.uniform(1e3, 1e4, nl)
    r1 = maxmin_rates(a, cap)
    r2 = maxmin_rates(a, cap, method="numpy")
    np.testing.assert_allclose(r1, r2, rtol=1e-12)
    certify_sparse(a, cap, r1)


def certify_sparse(a, cap, r):
    load = a.T @ r
    assert np.all(load <= cap * (1 + 1e-9))
    sat = load >= cap * (1 - 1e-9)
    # max rate on each link
    coo = a.tocoo()
    mx = np.zeros(a.shape[1])
    np.maximum.at(mx, coo.col, r[coo.row])
    good = sat[coo.col] & (r[coo.row] >= mx[coo.col] * (1 - 1e-9))
    has = np.zeros(a.shape[0], bool)
    has[coo.row[good]] = True
    assert has.all()
