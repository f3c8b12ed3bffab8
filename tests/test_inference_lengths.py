"""Request lengths as distributions (inference.lengths) and the MLPerf scenario model that uses them."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import spearmanr

from inference.lengths import DATASETS, OUTPUT_CAPS, Lengths, slot_context
from inference.mlperf import MLPERF_SETUPS, MLPerfSetup, _Engine, predict_mlperf, run_lengths

BASE = MLPerfSetup("test 8B", "llama3.1-8b", "h100-sxm", "dgx-h100", 1, 1, 1, 2, "fp8", 800.0, 150.0, "offline",
                   1.0, 512, 4096, "test")


@pytest.mark.parametrize("p,o", [(222.3, 290.3), (800.0, 150.0), (9428.6, 651.6), (5.0, 2.0)])
def test_constant_lengths_give_the_mean_length_model(p, o):
    c = Lengths.constant(p, o)
    assert c.slot_context() == pytest.approx(p + o / 2)
    assert c.reserved_per_slot() == pytest.approx(p + o)
    assert c.chunk_prior_context(p / 3) == pytest.approx((p - p / 3) / 2)
    assert c.chunk_prior_context(p) == 0.0
    # a one-point distribution rescaled to the same means is the same model
    assert Lengths.discrete([(2 * p, 3 * o, 1.0)]).scaled(p, o).slot_context() == pytest.approx(p + o / 2)


def test_mean_length_setups_keep_the_former_context():
    eng = _Engine(BASE, None, {})
    assert eng.ctx == int(round(BASE.prompt + BASE.output / 2))
    assert eng.prior(300) == int(round((BASE.prompt - 300) / 2))


def test_two_point_distribution_by_hand():
    """Half the requests 100 prompt / 11 output tokens, half 300 / 101: slots are held 10 and 100 iterations at
    mean contexts 105.5 and 350.5 -> (10 x 105.5 + 100 x 350.5) / 110."""
    d = Lengths.discrete([(100, 11, 0.5), (300, 101, 0.5)])
    assert d.slot_context() == pytest.approx((10 * 105.5 + 100 * 350.5) / 110)  # 328.23, not 200 + 56 / 2 = 228
    assert d.reserved_per_slot() == pytest.approx((10 * 111 + 100 * 401) / 110)
    # E[I^2] / E[I] = (1e4 + 9e4) / 2 / 200 = 250: chunks of 50 attend to (250 - 50) / 2 earlier tokens
    assert d.chunk_prior_context(50) == pytest.approx(100.0)
    assert d.mean_prompt == pytest.approx(200.0) and d.mean_output == pytest.approx(56.0)
    # the sample formula on an exact 50/50 sample gives the same figure
    assert slot_context([100, 300], [11, 101]) == pytest.approx(d.slot_context())


def test_discrete_steps_sum_exactly():
    """sum over j = 1 .. O-1 of (I + j) = (O - 1)(I + O / 2), request by request."""
    rng = np.random.default_rng(3)
    i, o = rng.integers(1, 500, 50), rng.integers(1, 400, 50)
    brute = sum(sum(ii + j for j in range(1, oo)) for ii, oo in zip(i.tolist(), o.tolist()))
    assert slot_context(i, o) == pytest.approx(brute / float((o - 1).sum()))


@pytest.mark.parametrize("key", sorted(DATASETS))
def test_quadrature_matches_sampling_and_the_fit_matches_the_data(key):
    d, L = DATASETS[key], Lengths.of_dataset(key)
    i, o = L.sample(200_000, seed=1)
    assert L.mean_prompt == pytest.approx(i.mean(), rel=0.01)
    assert L.mean_output == pytest.approx(o.mean(), rel=0.01)
    assert L.slot_context() == pytest.approx(slot_context(i, o), rel=0.01)
    # the piecewise-linear quantile fit keeps the dataset's exact means (and stds, but the 8B output outlier)
    assert L.mean_prompt == pytest.approx(d.prompt_mean, rel=0.02)
    assert L.mean_output == pytest.approx(d.output_mean, rel=0.02)
    assert L.std()[0] == pytest.approx(d.prompt_std, rel=0.03)
    if key != "cnndm":
        assert L.std()[1] == pytest.approx(d.output_std, rel=0.03)
    # the Gaussian copula reproduces the rank correlation
    assert spearmanr(i, o)[0] == pytest.approx(d.spearman, abs=0.03)
    # deterministic
    assert np.array_equal(L.sample(1000, seed=7)[1], L.sample(1000, seed=7)[1])


@pytest.mark.parametrize("key,mean", [("openorca", 290.3), ("llama3.1-405b", 651.6), ("deepseek-r1", 3736.0)])
def test_scaled_outputs_hit_the_run_mean_under_the_cap(key, mean):
    cap = OUTPUT_CAPS[key]
    L = Lengths.of_dataset(key).scaled(500.0, mean, cap)
    assert L.mean_output == pytest.approx(mean, rel=1e-6) and L.mean_prompt == pytest.approx(500.0, rel=1e-9)
    assert L.sample(20_000, seed=2)[1].max() <= cap
    # at or above the cap every output is the cap: constant outputs
    c = Lengths.of_dataset(key).scaled(500.0, cap, cap)
    assert c.std()[1] == pytest.approx(0.0, abs=1e-6) and c.mean_output == pytest.approx(cap)


def test_wider_output_spread_lengthens_the_slot_context():
    """Independent lengths: E_slot[ctx] = E[I] + (E[O^2] - E[O]) / (2 (E[O] - 1)) grows with Var(O)."""
    L = Lengths.discrete([(200, 50, 0.25), (200, 150, 0.25), (400, 50, 0.25), (400, 150, 0.25)])
    ctx = [L.scaled(300.0, 100.0, spread=k).slot_context() for k in (0.0, 0.5, 1.0, 1.5)]
    assert ctx[0] == pytest.approx(300 + 50) and all(a < b for a, b in zip(ctx, ctx[1:]))
    eo2 = 0.5 * (50 ** 2 + 150 ** 2)
    assert ctx[2] == pytest.approx(300 + (eo2 - 100) / (2 * 99))  # E[(O-1)(I+O/2)]/E[O-1], I independent of O


def test_mlperf_rows_carry_their_dataset_and_the_run_means():
    for s in MLPERF_SETUPS:
        L = run_lengths(s)
        assert s.lengths in DATASETS
        assert L.mean_prompt == pytest.approx(s.prompt, rel=1e-6)
        assert L.mean_output == pytest.approx(s.output, rel=1e-6)


def test_a_longer_slot_context_never_admits_more_sequences():
    """The KV budget admits fewer sequences at the length-biased context (an Offline row's in-flight count)."""
    s = replace(BASE, lengths="openorca", prompt=222.3, output=290.3, batch_cap=100_000, token_budget=16384)
    wide, flat = _Engine(s, None, {}), _Engine(replace(s, lengths=""), None, {})
    assert wide.ctx > flat.ctx and wide.b_max <= flat.b_max
    assert predict_mlperf(s)["predicted"] <= predict_mlperf(replace(s, lengths=""))["predicted"]
