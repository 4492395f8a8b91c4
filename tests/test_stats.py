"""The probes' statistics, pinned to published or hand-computed values."""

import math

import numpy as np
import pytest

from advisor.probes.common.stats import (bootstrap_ci, mcnemar_exact, n_for_halfwidth, paired_randomization,
                                  sample_size_two_proportions, wilson_interval)


@pytest.mark.parametrize("k, n, low, high", [  # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_interval_matches_newcombe(k, n, low, high):
    got = wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=6e-5)


def test_wilson_interval_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    narrow, wide = wilson_interval(5, 10, z=1.0), wilson_interval(5, 10)
    assert wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]


def test_mcnemar_exact_is_the_binomial_test_of_the_discordant_pairs():
    a = [True] * 2 + [False] * 8 + [True] * 5   # 2 only A right, 8 only B right, 5 both
    b = [False] * 2 + [True] * 8 + [True] * 5
    b_only, a_only, p = mcnemar_exact(a, b)
    assert (b_only, a_only) == (8, 2)
    assert p == pytest.approx(2 * (1 + 10 + 45) / 1024)  # 2 * P(X <= 2), X ~ Bin(10, 1/2)
    assert mcnemar_exact([True, False], [True, False])[2] == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact([True], [True, False])


def test_paired_randomization_is_exact_for_small_samples():
    assert paired_randomization([0.0] * 5, [1.0] * 5) == pytest.approx(2 / 32)  # 1 of 32 sign patterns, twice
    assert paired_randomization([0.3, 0.2], [0.3, 0.2]) == 1.0
    rng = np.random.default_rng(1)
    a = rng.normal(size=40)
    assert paired_randomization(a, a + rng.normal(0.0, 1.0, 40)) > 0.05 > paired_randomization(a, a + 1.0)


def test_bootstrap_ci_of_the_mean():
    values = np.random.default_rng(0).normal(10.0, 2.0, 400)
    low, high = bootstrap_ci(values, seed=3)
    half = 1.96 * values.std(ddof=1) / math.sqrt(values.size)  # the normal-theory interval, for scale
    assert low < values.mean() < high
    assert (high - low) / 2 == pytest.approx(half, rel=0.15)
    assert bootstrap_ci([0.7]) == (0.7, 0.7) and bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0)
    assert all(math.isnan(v) for v in bootstrap_ci([]))


def test_sample_sizes():
    # Fleiss' classic: 0.60 vs 0.80 at alpha 0.05, power 0.8 needs 82 per arm (normal approximation, uncorrected)
    assert sample_size_two_proportions(0.6, 0.8) == 82
    assert sample_size_two_proportions(0.5, 0.5) == 0
    assert n_for_halfwidth(0.5, 0.05) == 385
