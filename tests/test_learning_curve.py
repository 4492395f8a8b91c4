"""Learning-curve fit, band, inverse and crossover on synthetic points with known parameters."""

import numpy as np
import pytest

from advisor.probes.lora.learning_curve import (CurveFit, crossover, examples_to_reach, fit_curve, power_law,
                                           prediction_band)

SIZES = [8, 16, 32, 64, 128, 256, 512, 1024]


def test_fit_recovers_known_parameters():
    acc = power_law(np.array(SIZES, dtype=float), 0.85, 1.2, 0.6)
    fit = fit_curve(SIZES, acc, n_eval=200)
    assert fit.ceiling == pytest.approx(0.85, abs=1e-3)
    assert fit.scale == pytest.approx(1.2, rel=1e-2)
    assert fit.exponent == pytest.approx(0.6, rel=1e-2)
    assert fit.rmse < 1e-4


def test_fit_on_noisy_points_stays_close():
    rng = np.random.default_rng(3)
    truth = power_law(np.array(SIZES, dtype=float), 0.9, 1.5, 0.5)
    noisy = rng.binomial(400, truth) / 400
    fit = fit_curve(SIZES, noisy, n_eval=400)
    assert abs(fit.predict(2048) - power_law(2048.0, 0.9, 1.5, 0.5)) < 0.05


def test_too_few_sizes_give_no_fit():
    assert fit_curve([16, 32], [0.5, 0.6]) is None
    assert fit_curve([16, 16, 16], [0.5, 0.6, 0.7]) is None


def test_band_brackets_the_fit_and_widens_when_extrapolating():
    sizes = [16, 32, 64, 128]
    acc = power_law(np.array(sizes, dtype=float), 0.8, 1.0, 0.5)
    targets = [64, 10000]
    low, high = prediction_band(sizes, acc, 200, targets, n_boot=100, seed=1)
    fit = fit_curve(sizes, acc, 200)
    assert np.all(low <= fit.predict(targets) + 1e-9) and np.all(fit.predict(targets) <= high + 1e-9)
    assert high[1] - low[1] > high[0] - low[0]


def test_examples_to_reach_inverts_the_curve():
    fit = CurveFit(0.9, 2.0, 0.5, 0.0)
    n = examples_to_reach(fit, 0.8)
    assert n == pytest.approx(400.0)
    assert fit.predict(n) == pytest.approx(0.8)
    assert examples_to_reach(fit, 0.95) is None


def test_crossover_within_reach_never_and_far():
    fit = CurveFit(0.9, 2.0, 0.5, 0.0)
    sizes, accs = [16, 32, 64, 128], list(fit.predict([16, 32, 64, 128]))
    assert crossover(fit, sizes, accs, 0.8) == {"examples": 400, "within_reach": True, "how": "fitted"}
    assert crossover(fit, sizes, accs, 0.95)["how"] == "never"
    far = crossover(fit, sizes, accs, 0.89)  # 40,000 examples: beyond 10x the largest size
    assert far["examples"] == 40000 and not far["within_reach"]


def test_crossover_does_not_contradict_measured_points():
    fit = CurveFit(1.0, 2.0, 0.6, 0.1)  # a poor fit that would cross at ~14 examples
    got = crossover(fit, [8, 16, 32, 64], [0.53, 0.53, 0.53, 0.93], 0.6)
    assert 33 <= got["examples"] <= 64


def test_crossover_without_fit_uses_measured_points():
    assert crossover(None, [16, 32], [0.5, 0.7], 0.6) == {"examples": 32, "within_reach": True, "how": "measured"}
    assert crossover(None, [16, 32], [0.5, 0.55], 0.6)["examples"] is None


def test_the_analytic_jacobian_is_the_derivative_of_the_curve():
    from advisor.probes.lora.learning_curve import power_law_jacobian

    n, params, h = np.array([8.0, 64.0, 1000.0]), np.array([0.8, 1.3, 0.45]), 1e-6
    numeric = np.column_stack([(power_law(n, *(params + h * e)) - power_law(n, *(params - h * e))) / (2 * h)
                               for e in np.eye(3)])
    assert np.allclose(power_law_jacobian(n, *params), numeric, rtol=1e-6, atol=1e-9)
