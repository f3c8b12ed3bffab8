"""Latency percentiles of an in-flight-batching engine under Poisson arrivals (issue 11): the closed forms.

MLPerf's Server and Interactive scenarios bound the 99th percentile of each request's TPOT and TTFT, not their
means. This module holds the queueing pieces :mod:`inference.mlperf` assembles into those percentiles; each is a
characteristic function (CF) in closed form, turned into a distribution by one FFT (:func:`cdf_from_cf`), so the
result is deterministic and cheap (no sampling).

**Per-request TPOT.** An engine's iteration decodes one token for each of ``b`` sequences in flight and carries
the prompt chunks that arrived since the last one. Its time is modelled as ``t_dec + jump x 1[any prompt] +
sum over prompts of beta I``: a decode part, a fixed cost of an iteration that carries any prompt (the step
without a CUDA graph, attention launches) and a cost per prompt token. A request whose output has ``O`` tokens
lives ``n = O - 1`` decode iterations, and loadgen's TPOT of that request, ``(latency - first token) / (O -
1)``, is the mean of those ``n`` iteration times: the mean iteration plus ``1 / n`` of the cost of the prompts
that arrive during its life, a count of mean ``m n`` (``m`` prompts per iteration) with each prompt's cost
``y(I)`` (:func:`window_cost_cf`: Poisson, or under-dispersed where a dispatcher spreads the arrivals evenly over
the engines, :func:`count_dispersion`). Its spread falls like ``1 / sqrt(n)``, so the short outputs make the
p99. The slower noise is added as a Gaussian (:func:`feedback_window_var`): the in-flight count (an
M/G/infinity system, Poisson about its mean at an instant; its average over a window of ``w`` seconds has
variance ``(2 lam / w^2) E[h(L, w)]``, ``h = L w^2 / 2 - w^3 / 6`` for ``L >= w``, ``w L^2 / 2 - L^3 / 6``
else, :func:`window_count_var`, for arrivals at ``lam`` per second with lifetimes ``L``) and **the load's
feedback**: a longer iteration lets more requests arrive, which lengthens the iterations after it. Linear in the
deviations and stationary, in the iteration index ``k``: ``tau_k = gamma db_k + beta dP_k``, the count
``db_k = sum_j S(j) dA_{k-j}`` (+ the thinning noise of which arrivals are still in flight), the prompt tokens
``dP_k = E[I] dA_{k-1} + (size noise)``, the arrivals ``dA_i = lam tau_i + (count noise)``; in frequency
``tau = (sources) / (1 - lam (gamma S^(w) + beta E[I] e^{-iw}))``, one FFT gives its autocovariance and the
variance of the mean over ``n`` iterations. The loop gain at zero frequency, ``lam (gamma E[O] + beta E[I])``,
is the share of the iteration that grows with the load; the spread diverges as it nears 1 (saturation), as a
processor-sharing queue's does.

**TTFT** (:func:`ttft_pmf`) is the sum of independent parts: the rest of the iteration in progress at arrival
(uniform over one iteration while the engine is busy); the prompt's own iterations; the prefill lane's backlog
beyond what the prompt's first iteration can still carry (the lane is the chunk budget an iteration has left
after its decodes, ``C`` tokens per iteration, served first come first served; its backlog is the waiting time
of an M/G/1 queue whose service time is a prompt's ``I / C`` full iterations, Pollaczek-Khinchine,
:func:`mg1_wait_cf`; ASSUMPTION: a fluid lane); and the wait for a decode slot when every slot is taken (M/G/c
with ``c`` slots: Erlang C, :func:`erlang_c`, the wait given a wait exponential with mean ``E[L] / (c - a) x (ca^2
+ CV_L^2) / 2``, the M/M/c figure scaled by the Allen-Cunneen factor, ASSUMPTION, :func:`slot_wait_cf`). Where the
arrivals at an engine are smoother than Poisson (interarrival CV^2 ``ca^2 < 1``, a dispatcher over several
engines), :mod:`inference.mlperf` scales the lane's M/G/1 wait by Kingman's ``(ca^2 + cs^2) / (1 + cs^2)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["cdf_from_cf", "count_dispersion", "erlang_c", "feedback_window_var", "mean_cis", "mg1_wait_cf",
           "mixture_quantile", "slot_wait_cf", "ttft_pmf", "window_cost_cf", "window_count_var"]

Grid = tuple[np.ndarray, np.ndarray]


def cdf_from_cf(cf: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, n: int = 2048) -> Grid:
    """The distribution whose characteristic function is ``cf`` (``E[exp(i u X)]``, vectorised over ``u``), as
    (x, F(x)) on ``n`` cells of ``[lo, hi)``: one FFT of the CF sampled at the cell frequencies, smoothed by a
    Gaussian of one cell (so that atoms do not ring). Mass outside ``[lo, hi)`` aliases in: take the window
    wide enough (the callers use the mean +- many standard deviations)."""
    if not hi > lo:
        raise ValueError(f"cdf_from_cf: need hi > lo, got [{lo}, {hi})")
    dx = (hi - lo) / n
    u = 2.0 * np.pi * np.fft.fftfreq(n, d=dx)
    phi = cf(u) * np.exp(-1j * u * lo) * np.exp(-0.5 * (u * dx) ** 2)
    p = np.fft.fft(phi).real / n
    f = np.clip(np.maximum.accumulate(np.cumsum(p)), 0.0, 1.0)
    return lo + (np.arange(n) + 1.0) * dx, f  # F at each cell's upper edge


def mixture_quantile(grids: list[Grid], weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile of the mixture of distributions given as (x, F) grids with ``weights`` (summing to 1):
    bisection on ``sum_k w_k F_k(t) = q``."""
    lo = min(float(x[0]) for x, _ in grids) - (grids[0][0][1] - grids[0][0][0])
    hi = max(float(x[-1]) for x, _ in grids)

    def mix(t: float) -> float:
        return float(sum(w * np.interp(t, x, f, left=0.0, right=1.0) for (x, f), w in zip(grids, weights)))

    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mix(mid) < q else (lo, mid)
    return 0.5 * (lo + hi)


def mean_cis(u: np.ndarray, x: np.ndarray, wx: np.ndarray) -> np.ndarray:
    """``sum_j wx_j exp(i u x_j)`` for each ``u``: the CF of a discrete distribution (cos and sin: several times
    faster than numpy's complex exp)."""
    ux = np.multiply.outer(u, x)
    return np.cos(ux) @ wx + 1j * (np.sin(ux) @ wx)


def window_cost_cf(u: np.ndarray, mu: float, disp: float, y: np.ndarray, wy: np.ndarray) -> np.ndarray:
    """CF of the summed cost of the prompts an engine receives in a window: a count of mean ``mu`` and
    variance ``disp x mu`` (``disp = 1``: Poisson, ``exp(mu (phi_y - 1))``; under-dispersed, ``disp < 1``: a
    binomial count of the same mean and variance, ``(1 - p + p phi_y)^N`` with ``N = round(mu / (1 - disp))``
    trials), each prompt costing ``y`` with probabilities ``wy``."""
    phi_y = mean_cis(u, y, wy)
    if disp >= 1.0 - 1e-9 or mu <= 0:
        return np.exp(mu * (phi_y - 1.0))
    trials = max(1, round(mu / (1.0 - disp)))
    p = min(1.0, mu / trials)
    return (1.0 - p + p * phi_y) ** trials


def count_dispersion(mu: float, engines: int, pooled: bool) -> float:
    """Variance / mean of the number of arrivals one of ``engines`` engines receives in a window where it
    receives ``mu`` on average, out of a Poisson stream: 1 when the engine is picked at random (or is the only
    one, or ``pooled`` is False); every ``engines``-th arrival (round robin, or a least-busy dispatcher that
    keeps the engines even): ``1 / engines`` plus the rounding of a uniform phase, ``(1 - 1 / engines^2) / 12``
    arrivals^2 (ASSUMPTION: the least-busy dispatcher is as even as round robin), at most 1."""
    if not pooled or engines <= 1 or mu <= 0:
        return 1.0
    return min(1.0, 1.0 / engines + (1.0 - 1.0 / engines ** 2) / (12.0 * mu))


def window_count_var(lam: float, life: np.ndarray, wl: np.ndarray, w: float) -> float:
    """Variance of the time average over a window of ``w`` s of an M/G/infinity count (arrivals at ``lam`` per s,
    lifetimes ``life`` s with probabilities ``wl``): ``(2 lam / w^2) E[h(L, w)]`` (module docstring); the
    Poisson variance ``lam E[L]`` at ``w = 0``."""
    life = np.asarray(life, dtype=float)
    if w <= 0:
        return float(lam * (life @ wl))
    h = np.where(life >= w, life * w * w / 2.0 - w ** 3 / 6.0, w * life * life / 2.0 - life ** 3 / 6.0)
    return float(2.0 * lam / (w * w) * (h @ wl))


def feedback_window_var(n: np.ndarray, m: float, lam: float, gamma: float, beta: float, mean_i: float,
                        var_i: float, outputs: np.ndarray, wo: np.ndarray, arrival_cv2: float = 1.0,
                        thinning: float = 1.0) -> np.ndarray:
    """Variance (s^2) of the mean iteration time over windows of ``n`` consecutive iterations, with the load's
    feedback (module docstring, "feedback"): iteration ``k`` takes ``T + tau_k``,
    ``tau_k = gamma db_k + beta dP_k``, where ``db_k`` is the in-flight count's deviation (arrivals of earlier
    iterations still decoding) and ``dP_k`` the prompt tokens that arrived in iteration ``k - 1``; an iteration
    longer by ``tau`` lets ``lam tau`` more requests arrive. Sources: the arrival counts (``m`` per iteration,
    variance ``arrival_cv2 x m``: 1 for Poisson), the prompt sizes (variance ``var_i`` tokens^2) and which
    arrivals are still in flight (the M/G/infinity thinning: with no feedback the count's variance is the
    Poisson ``m sum_j S(j)``, :func:`window_count_var`; scaled by ``thinning``: ``1 / engines`` where a
    least-loaded dispatcher evens the counts out over the engines). ``S(j) = P(O >= j)`` from ``outputs`` (tokens, with
    probabilities ``wo``): a request stays ``O`` iterations. Linear in the deviations, stationary: one FFT of
    ``N >= 4 max(O, n)`` iterations. Infinite where the loop gain ``lam (gamma E[O] + beta mean_i) >= 1`` (the
    load's own slow-down would outrun the iterations: saturation)."""
    n = np.asarray(n, dtype=float)
    gain = lam * (gamma * float(np.asarray(outputs) @ wo) + beta * mean_i)
    if gain >= 1.0:
        return np.full(n.shape, math.inf)
    size = 1 << int(math.ceil(math.log2(max(64.0, 4.0 * max(float(np.max(outputs)), float(n.max()))))))
    j = np.arange(size, dtype=float)
    order = np.argsort(outputs)
    o_sorted, w_sorted = np.asarray(outputs, float)[order], np.asarray(wo, float)[order]
    tail = np.concatenate((np.cumsum(w_sorted[::-1])[::-1], [0.0]))  # P(O >= o_sorted[i]) at index i
    surv = tail[np.searchsorted(o_sorted, j, side="left")]  # P(O >= j)
    surv[0] = 0.0  # an arrival counts from the next iteration
    s_hat = np.fft.fft(surv)
    e1 = np.exp(-2j * np.pi * np.fft.fftfreq(size))  # one-iteration delay
    loop = lam * (gamma * s_hat + beta * mean_i * e1)
    # thinning noise: autocovariance m sum_j S(j + h) (1 - S(j)), h >= 0, mirrored
    ac = np.fft.ifft(np.abs(s_hat) ** 2).real  # sum_j S(j) S(j + h) (circular; size >= 4 max O: no wrap)
    tails_sum = np.cumsum(surv[::-1])[::-1]  # sum_{j >= h} S(j)
    c_zeta = m * (np.concatenate((tails_sum[1:], [0.0])) - ac)
    c_zeta[size // 2 + 1:] = c_zeta[1:size // 2][::-1]  # symmetric in the lag (circular)
    s_zeta = np.fft.fft(c_zeta).real
    drive = (arrival_cv2 * m * np.abs(gamma * s_hat + beta * mean_i * e1) ** 2 + beta ** 2 * m * var_i
             + thinning * gamma ** 2 * np.maximum(s_zeta, 0.0))
    r = np.fft.ifft(drive / np.abs(1.0 - loop) ** 2).real  # autocovariance of tau, lags 0 .. size - 1
    lag = np.arange(size, dtype=float)
    c1, c2 = np.cumsum(r[1:]), np.cumsum(lag[1:] * r[1:])
    out = np.empty(n.shape)
    for idx, nn in enumerate(n.ravel()):
        k = int(nn)
        s = k * r[0] + (2.0 * (k * c1[k - 2] - c2[k - 2]) if k >= 2 else 0.0)
        out.flat[idx] = max(0.0, s) / (k * k)
    return out


def mg1_wait_cf(u: np.ndarray, lam: float, x: np.ndarray, wx: np.ndarray) -> np.ndarray:
    """CF of the FCFS M/G/1 waiting time (Pollaczek-Khinchine): arrivals at ``lam`` per s, service times ``x`` s
    with probabilities ``wx``; ``(1 - rho) / (1 - rho phi_R(u))`` with ``phi_R = (phi_X - 1) / (i u E[X])`` the
    residual service time's CF. Needs ``rho = lam E[X] < 1``."""
    ex = float(x @ wx)
    rho = lam * ex
    if not rho < 1.0:
        raise ValueError(f"mg1_wait_cf: unstable queue, rho = {rho:.3f} >= 1")
    if ex <= 0:
        return np.ones_like(u, dtype=complex)
    phi_x = mean_cis(u, x, wx)
    small = np.abs(u) * float(x.max()) < 1e-9
    us = np.where(small, 1.0, u)
    phi_r = np.where(small, 1.0 + 0j, (phi_x - 1.0) / (1j * us * ex))
    return (1.0 - rho) / (1.0 - rho * phi_r)


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with ``c`` servers and ``a`` Erlangs offered (Erlang
    C, from Erlang B = Poisson pmf / cdf at ``c``); 1 when ``a >= c``."""
    if a >= c:
        return 1.0
    if a <= 0:
        return 0.0
    from scipy.stats import poisson

    bl = float(poisson.pmf(c, a) / poisson.cdf(c, a))
    return c * bl / (c - a * (1.0 - bl))


def slot_wait_cf(u: np.ndarray, c: int, a: float, mean_life: float, cv2_life: float,
                 cv2_arrival: float = 1.0) -> tuple[np.ndarray, float, float]:
    """CF of the wait for one of ``c`` slots (G/G/c, ``a`` Erlangs offered, lifetimes of mean ``mean_life`` s and
    squared coefficient of variation ``cv2_life``, interarrival times of ``cv2_arrival``, 1 for Poisson): an
    atom at 0 of mass ``1 - P_wait`` (Erlang C) and, given a wait, an exponential of mean ``mean_life / (c - a)
    x (cv2_arrival + cv2_life) / 2`` (M/M/c scaled by the Allen-Cunneen factor, Lee and Longton's for Poisson
    arrivals; ASSUMPTION). Returns (CF, P_wait, mean wait given a wait); needs ``a < c``."""
    if not a < c:
        raise ValueError(f"slot_wait_cf: unstable, {a:.1f} Erlangs on {c} slots")
    pw = erlang_c(c, a)
    theta = mean_life / (c - a) * (cv2_arrival + cv2_life) / 2.0
    return (1.0 - pw) + pw / (1.0 - 1j * u * theta), pw, theta


def _shift(pmf: np.ndarray, cells: float) -> np.ndarray:
    """``pmf`` (cell ``k`` = value ``k dx``) moved up by ``cells`` (>= 0, split linearly between the two
    nearest whole cells); mass past the end is dropped (the callers size the grid to hold it)."""
    k = int(math.floor(cells))
    frac = cells - k
    out = np.zeros_like(pmf)
    n = len(pmf)
    if k < n:
        out[k:] += (1.0 - frac) * pmf[:n - k]
    if k + 1 < n:
        out[k + 1:] += frac * pmf[:n - k - 1]
    return out


def ttft_pmf(dx: float, n: int, t_iter: float, busy: float, own: np.ndarray, w_own: np.ndarray,
             headroom: np.ndarray, wait: np.ndarray | None, pwait: float = 0.0, theta: float = 0.0) -> np.ndarray:
    """Probability mass of the time to first token on ``n`` cells of ``dx`` s (cell ``k`` = ``k dx``), a
    mixture over prompt classes (probabilities ``w_own``) of the sum of independent parts: the rest of the
    iteration in progress (uniform over ``t_iter`` s with probability ``busy``, else 0); the prompt's own
    iterations (``own`` s); the prefill lane's extra wait ``max(0, V - headroom)``, where ``V`` is the
    lane's backlog ahead of the prompt (``wait``: its pmf on the same cells, e.g. the M/G/1 waiting time of
    :func:`mg1_wait_cf`; None: no backlog) and ``headroom`` the lane time the prompt's first iteration has
    left beside it (the backlog that still fits there costs no extra iteration); and the wait for a slot
    (:func:`slot_wait_cf`: an atom at 0 of ``1 - pwait``, else exponential of mean ``theta``)."""
    mix = np.zeros(n)
    for t_own, w, h in zip(own, w_own, headroom):
        if wait is None:
            extra = np.zeros(n)
            extra[0] = 1.0
        else:
            k = min(int(round(h / dx)), n - 1)
            extra = np.zeros(n)
            extra[0] = wait[:k + 1].sum()
            extra[1:n - k] = wait[k + 1:]
        mix += w * _shift(extra, t_own / dx)
    parts = [mix]
    if busy > 0:
        cells = max(1, int(round(t_iter / dx)))
        r = np.zeros(n)
        r[0] = 1.0 - busy
        r[:min(cells, n)] += busy / cells
        parts.append(r)
    if pwait > 0:
        edges = np.exp(-np.arange(n + 1) * dx / theta)
        sl = pwait * (edges[:-1] - edges[1:])
        sl[0] += 1.0 - pwait
        parts.append(sl)
    size = 2 * n
    spec = np.ones(size // 2 + 1, dtype=complex)
    for part in parts:
        spec *= np.fft.rfft(part, size)
    return np.maximum(np.fft.irfft(spec, size)[:n], 0.0)
