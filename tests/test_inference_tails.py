"""inference.tails: the queueing closed forms behind the MLPerf Server / Interactive percentiles."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from inference.tails import (
    cdf_from_cf,
    count_dispersion,
    erlang_c,
    feedback_window_var,
    mg1_wait_cf,
    mixture_quantile,
    slot_wait_cf,
    ttft_pmf,
    window_cost_cf,
    window_count_var,
)


def _moments(grid):
    x, f = grid
    p = np.diff(np.concatenate(([0.0], f)))
    dx = x[1] - x[0]
    mid = x - dx / 2
    mean = float(p @ mid)
    return mean, float(p @ (mid - mean) ** 2)


def test_fft_inversion_recovers_an_exponential_quantile():
    theta = 0.3
    # the window starts below 0: the one-cell smoothing of the density's jump at 0 must not wrap around
    grid = cdf_from_cf(lambda u: 1.0 / (1.0 - 1j * u * theta), -0.05 * theta, 20 * theta, 4096)
    assert mixture_quantile([grid], np.ones(1), 0.99) == pytest.approx(theta * math.log(100), rel=5e-3)


def test_mixture_quantile_of_two_point_masses():
    """Mass 0.985 at 1 s and 0.015 at 3 s: the 99th percentile is the upper atom."""
    a = cdf_from_cf(lambda u: np.exp(1j * u * 1.0), 0.0, 4.0)
    b = cdf_from_cf(lambda u: np.exp(1j * u * 3.0), 0.0, 4.0)
    assert mixture_quantile([a, b], np.array([0.985, 0.015]), 0.99) == pytest.approx(3.0, abs=0.01)
    assert mixture_quantile([a, b], np.array([0.995, 0.005]), 0.99) == pytest.approx(1.0, abs=0.01)


def test_mg1_wait_matches_pollaczek_khinchine_and_mm1():
    lam = 3.0
    # discrete service times: the mean wait is P-K's lam E[X^2] / (2 (1 - rho)), exactly
    x, wx = np.array([0.05, 0.1, 0.4]), np.array([0.5, 0.3, 0.2])
    rho = lam * float(x @ wx)
    w_mean = lam * float((x * x) @ wx) / (2 * (1 - rho))
    grid = cdf_from_cf(lambda u: mg1_wait_cf(u, lam, x, wx), -0.01, 40 * w_mean, 8192)
    assert _moments(grid)[0] == pytest.approx(w_mean, rel=0.01)
    # exponential service (fine quantile bins): P(W > t) = rho exp(-(mu - lam) t), so p99 = ln(100 rho) / (mu - lam)
    mu = 5.0
    pq = (np.arange(4000) + 0.5) / 4000
    xs, ws = -np.log(1 - pq) / mu, np.full(4000, 1 / 4000)
    g = cdf_from_cf(lambda u: mg1_wait_cf(u, lam, xs, ws), -0.01, 8.0, 8192)
    assert mixture_quantile([g], np.ones(1), 0.99) == pytest.approx(math.log(100 * lam / mu) / (mu - lam), rel=0.02)
    with pytest.raises(ValueError):
        mg1_wait_cf(np.zeros(1), 10.0, xs, ws)


def test_erlang_c_closed_forms():
    assert erlang_c(1, 0.6) == pytest.approx(0.6)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # M/M/2 at one Erlang
    assert erlang_c(50, 0.0) == 0.0 and erlang_c(50, 50.0) == 1.0
    loads = [erlang_c(100, a) for a in (60, 80, 90, 95, 99)]
    assert loads == sorted(loads)
    cf, pw, theta = slot_wait_cf(np.array([0.0, 1.0]), 10, 8.0, 2.0, 1.0)
    assert cf[0] == pytest.approx(1.0) and theta == pytest.approx(2.0 / 2.0)  # M/M/c: mean life / (c - a)
    # smoother arrivals (Allen-Cunneen): the wait given a wait scales by (ca^2 + cs^2) / 2
    assert slot_wait_cf(np.zeros(1), 10, 8.0, 2.0, 1.0, 0.25)[2] == pytest.approx(theta * 1.25 / 2.0)


def test_window_count_var_is_the_integral_of_the_mginf_covariance():
    """Var of the window average = (2 / w^2) int_0^w (w - u) lam E[(L - u)+] du; Poisson (lam E[L]) at w = 0."""
    lam, life, wl = 4.0, np.array([0.5, 2.0, 7.0]), np.array([0.3, 0.5, 0.2])
    assert window_count_var(lam, life, wl, 0.0) == pytest.approx(lam * float(life @ wl))
    def cov(u: float) -> float:
        return lam * float(np.maximum(life - u, 0.0) @ wl)

    for w in (0.3, 1.0, 3.0, 10.0):
        ref = 2.0 / w ** 2 * quad(lambda u, w=w: (w - u) * cov(u), 0.0, w, points=list(life))[0]
        assert window_count_var(lam, life, wl, w) == pytest.approx(ref, rel=1e-6)


def test_feedback_variance_limits():
    outputs, wo = np.array([10.0, 100.0, 300.0]), np.array([0.2, 0.5, 0.3])
    n = np.array([1.0, 10.0, 100.0])
    # prompts only, no feedback: white noise, beta^2 m (cv2 E[I]^2 + Var I) / n
    v = feedback_window_var(n, 2.0, 0.0, 0.0, 1e-3, 200.0, 900.0, outputs, wo, arrival_cv2=0.5)
    assert v == pytest.approx(1e-6 * 2.0 * (0.5 * 200.0 ** 2 + 900.0) / n, rel=1e-6)
    # in-flight count only, no feedback: at one iteration the Poisson count, m sum_j P(O >= j) = m E[O]
    v1 = feedback_window_var(np.array([1.0]), 0.7, 0.0, 1.0, 0.0, 1.0, 0.0, outputs, wo)
    assert v1[0] == pytest.approx(0.7 * float(outputs @ wo), rel=1e-6)
    # least-busy pooling scales the count's noises; longer windows average; feedback amplifies, up to saturation
    pooled = feedback_window_var(np.array([1.0]), 0.7, 0.0, 1.0, 0.0, 1.0, 0.0, outputs, wo, 0.125, 0.125)
    assert pooled[0] == pytest.approx(v1[0] / 8, rel=1e-6)
    base = feedback_window_var(n, 0.7, 0.0, 1e-4, 1e-4, 200.0, 900.0, outputs, wo)
    assert np.all(np.diff(base) < 0)
    fed = feedback_window_var(n, 0.7, 20.0, 1e-4, 1e-4, 200.0, 900.0, outputs, wo)
    assert np.all(fed > base)
    gain = 40.0 * (1e-4 * float(outputs @ wo) + 1e-4 * 200.0)
    assert gain >= 1.0 and np.all(np.isinf(feedback_window_var(n, 0.7, 40.0, 1e-4, 1e-4, 200.0, 900.0, outputs, wo)))


@pytest.mark.parametrize("disp", [1.0, 0.3])
def test_window_cost_has_the_count_mean_and_variance(disp):
    y, wy = np.array([1.0, 3.0]), np.array([0.6, 0.4])
    mu = 12.0
    grid = cdf_from_cf(lambda u: window_cost_cf(u, mu, disp, y, wy), -5.0, 120.0, 8192)
    mean, var = _moments(grid)
    ey, ey2 = float(y @ wy), float((y * y) @ wy)
    assert mean == pytest.approx(mu * ey, rel=1e-3)
    # binomial trials are rounded: the variance within a few per cent
    assert var == pytest.approx(mu * (ey2 - ey * ey) + disp * mu * ey * ey, rel=0.03)


def test_count_dispersion():
    assert count_dispersion(5.0, 1, True) == 1.0 and count_dispersion(5.0, 8, False) == 1.0
    assert count_dispersion(1e6, 8, True) == pytest.approx(1 / 8, rel=1e-3)
    assert count_dispersion(0.01, 8, True) == 1.0  # a short window: at most Poisson


def test_ttft_pmf_pieces():
    """Mass is conserved; with nothing to wait for, the first token comes after the prompt's own iterations;
    the backlog delays a prompt only beyond its headroom (also when the headroom spans the whole grid)."""
    dx, n = 1e-3, 2000
    own, w = np.array([0.05]), np.ones(1)
    alone = ttft_pmf(dx, n, 0.02, 0.0, own, w, np.zeros(1), None)
    assert alone.sum() == pytest.approx(1.0) and int(np.argmax(alone)) == 50
    wait = np.zeros(n)
    wait[0], wait[30] = 0.5, 0.5  # half the prompts find 30 ms of backlog ahead
    short = ttft_pmf(dx, n, 0.02, 0.0, own, w, np.array([0.01]), wait)
    assert short[50] == pytest.approx(0.5) and short[70] == pytest.approx(0.5)  # 30 - 10 ms headroom
    roomy = ttft_pmf(dx, n, 0.02, 0.0, own, w, np.array([5.0]), wait)  # headroom beyond the grid
    assert roomy[50] == pytest.approx(1.0)
    busy = ttft_pmf(dx, n, 0.02, 1.0, own, w, np.zeros(1), None)
    mean = float(busy @ (np.arange(n) * dx))
    assert busy.sum() == pytest.approx(1.0) and mean == pytest.approx(0.05 + 0.01, abs=1e-3)
