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


# -- the crossover's interval -------------------------------------------------------------------------
POINTS = ([8, 16, 32, 64], [0.47, 0.61, 0.68, 0.76])  # a binomial draw (200 items) from 0.9 - 1.2 n^-0.5


def _bootstrap_crossovers(sizes, accs, n_eval, target, n_boot=200, seed=0):
    """The crossover of every refitted curve of the parametric bootstrap (the band's own draws), found by
    inverting each curve exactly (``inf`` when it levels off below ``target``)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        fit = fit_curve(sizes, rng.binomial(n_eval, np.clip(accs, 0, 1)) / n_eval, n_eval)
        if fit is not None:
            n = examples_to_reach(fit, target)
            out.append(np.inf if n is None else n)
    return np.asarray(out)


@pytest.mark.parametrize("target", [0.55, 0.65, 0.72])
def test_the_crossover_interval_read_off_the_band_is_the_bootstrap_curves_own_crossovers(target):
    """Each refitted curve rises with n, so where the band's edges reach the few-shot line are (to the grid's
    resolution) the 2.5th and 97.5th percentiles of the refitted curves' crossovers, found here curve by curve."""
    from advisor.probes.lora.analysis import curve_summary

    sizes, accs = POINTS
    out = curve_summary([{"examples": s, "accuracy": a} for s, a in zip(sizes, accs)], 200, None, target, seed=0)
    cross = out["crossover"]
    found = _bootstrap_crossovers(sizes, accs, 200, target)
    q_low, q_high = np.quantile(found, [0.025, 0.975], method="inverted_cdf")
    assert cross["high"] is not None and cross["high"] == pytest.approx(q_high, rel=0.06)
    if q_low <= sizes[0]:  # the crossover may lie below the sizes trained: no lower end is read off the band
        assert cross["low"] is None
    else:
        assert cross["low"] == pytest.approx(q_low, rel=0.06)
    assert (cross["low"] or 0) <= cross["examples"] <= cross["high"]


def test_the_crossover_interval_is_open_where_an_edge_never_reaches_the_line():
    from advisor.probes.lora.learning_curve import crossover_interval

    grid = [8, 16, 32, 64, 128]
    low_edge, high_edge = [0.40, 0.45, 0.50, 0.55, 0.58], [0.50, 0.58, 0.64, 0.68, 0.70]
    assert crossover_interval(grid, low_edge, high_edge, 0.56) == (8.0, 128.0)
    assert crossover_interval(grid, low_edge, high_edge, 0.60) == (16.0, None)  # the lower edge stays below
    assert crossover_interval(grid, low_edge, high_edge, 0.45) == (None, 16.0)  # the upper edge starts above
    assert crossover_interval(grid, low_edge, high_edge, 0.75) == (128.0, None)  # beyond the grid altogether
