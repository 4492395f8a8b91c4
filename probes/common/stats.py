"""Statistics shared by the probes: confidence intervals and paired comparisons.

Conventions: Wilson score interval for proportions; percentile bootstrap for means of
per-example values; exact (binomial) McNemar test for two classifiers on the same examples;
paired randomization (sign-flip) test for per-example metric differences. The computations are
scipy's; this module fixes the conventions and the degenerate cases.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (``(0, 1)`` when ``n == 0``), from scipy."""
    from scipy.stats import binomtest, norm

    if n <= 0:
        return (0.0, 1.0)
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=float(2 * norm.cdf(z) - 1),
                                                         method="wilson")
    return (float(ci.low), float(ci.high))


def bootstrap_ci(values: Sequence[float], n_resamples: int = 2000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (``scipy.stats.bootstrap``)."""
    from scipy.stats import bootstrap

    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return (float("nan"), float("nan"))
    if arr.size == 1 or np.all(arr == arr[0]):  # nothing to resample: the interval is the value itself
        return (float(arr[0]), float(arr[0]))
    ci = bootstrap((arr,), np.mean, n_resamples=n_resamples, confidence_level=1 - alpha, method="percentile",
                   rng=np.random.default_rng(seed)).confidence_interval
    return (float(ci.low), float(ci.high))


def mcnemar_exact(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> tuple[int, int, float]:
    """Exact two-sided McNemar test on paired outcomes (a binomial test of the discordant pairs, scipy).

    Returns ``(b_only, a_only, p_value)``: the discordant counts (examples only B got right,
    only A got right) and the binomial two-sided p-value under H0 (discordant pairs split 50/50).
    """
    from scipy.stats import binomtest

    if len(a_correct) != len(b_correct):
        raise ValueError("paired outcomes must have the same length")
    a_only = sum(1 for a, b in zip(a_correct, b_correct) if a and not b)
    b_only = sum(1 for a, b in zip(a_correct, b_correct) if b and not a)
    if a_only + b_only == 0:
        return (b_only, a_only, 1.0)
    return (b_only, a_only, float(binomtest(a_only, a_only + b_only, 0.5).pvalue))


def paired_randomization(a: Sequence[float], b: Sequence[float], n_resamples: int = 10000, seed: int = 0) -> float:
    """Two-sided paired randomization (sign-flip) test of mean(b - a) == 0; returns the p-value
    (``scipy.stats.permutation_test`` with paired samples: exact when 2^n <= ``n_resamples``)."""
    from scipy.stats import permutation_test

    first, second = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if first.size == 0 or not np.any(second - first):
        return 1.0
    result = permutation_test((first, second), _mean_difference, permutation_type="samples", vectorized=True,
                              n_resamples=n_resamples, alternative="two-sided", rng=np.random.default_rng(seed))
    return float(min(1.0, result.pvalue))


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(y - x, axis=axis)


def sample_size_two_proportions(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Examples per arm to detect ``p1`` vs ``p2`` (two-sided normal approximation)."""
    from scipy.stats import norm

    if p1 == p2:
        return 0
    za = norm.ppf(1 - alpha / 2)
    zb = norm.ppf(power)
    pbar = (p1 + p2) / 2
    num = (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2
    return int(math.ceil(num / (p1 - p2) ** 2))


def n_for_halfwidth(p: float, halfwidth: float) -> int:
    """Examples for a 95% normal-approximation half-width of ``halfwidth`` around a proportion ``p``."""
    return int((Z95**2) * p * (1 - p) / halfwidth**2) + 1


def paired_difference_ci_cells(both: int, b_only: int, a_only: int, neither: int,
                               z: float = Z95) -> tuple[float, float]:
    """Newcombe's method 10 from the four cells of the paired table (B right and A right, only B, only A,
    neither): CI of p_B - p_A."""
    n = both + b_only + a_only + neither
    if n <= 0:
        return (-1.0, 1.0)
    p_b, p_a = (both + b_only) / n, (both + a_only) / n
    l_b, u_b = wilson_interval(both + b_only, n, z)
    l_a, u_a = wilson_interval(both + a_only, n, z)
    denominator = (both + b_only) * (a_only + neither) * (both + a_only) * (b_only + neither)
    phi = (both * neither - b_only * a_only) / math.sqrt(denominator) if denominator > 0 else 0.0
    diff = p_b - p_a
    delta = math.sqrt(max(0.0, (p_b - l_b) ** 2 - 2 * phi * (p_b - l_b) * (u_a - p_a) + (u_a - p_a) ** 2))
    epsilon = math.sqrt(max(0.0, (u_b - p_b) ** 2 - 2 * phi * (u_b - p_b) * (p_a - l_a) + (p_a - l_a) ** 2))
    return (max(-1.0, diff - delta), min(1.0, diff + epsilon))


def difference_ci(k_b: int, n_b: int, k_a: int, n_a: int, z: float = Z95) -> tuple[float, float]:
    """95% CI of p_B - p_A for independent samples: Newcombe's (1998) hybrid score interval (method 10 of
    the unpaired paper), from the two Wilson intervals. Conservative for paired data whose cells are unknown."""
    if n_b <= 0 or n_a <= 0:
        return (-1.0, 1.0)
    p_b, p_a = k_b / n_b, k_a / n_a
    l_b, u_b = wilson_interval(k_b, n_b, z)
    l_a, u_a = wilson_interval(k_a, n_a, z)
    diff = p_b - p_a
    return (max(-1.0, diff - math.sqrt((p_b - l_b) ** 2 + (u_a - p_a) ** 2)),
            min(1.0, diff + math.sqrt((u_b - p_b) ** 2 + (p_a - l_a) ** 2)))
