"""Learning curves: fit accuracy vs training examples, extrapolate with a band, find a crossover.

Model (a saturating power law, the usual shape of learning curves):

    acc(n) = ceiling - scale * n ** (-exponent),   0 <= ceiling <= 1, scale >= 0, exponent > 0

fitted by weighted least squares (each point weighted by its binomial standard error on the
eval set). The uncertainty band is a parametric bootstrap: every measured accuracy is redrawn
from ``Binomial(n_eval, acc) / n_eval``, the curve is refitted, and the band is the 2.5/97.5
percentiles of the refitted curves' predictions. Three distinct sizes are needed (three
parameters); with fewer there is no fit and no extrapolation.

Extrapolating far beyond the measured sizes is guesswork, so a crossover is "within reach"
only up to ``REACH_FACTOR`` times the largest measured size.

The crossover's 95% interval is read off the band (inverting a confidence band, as in calibration): on a
fine grid of sizes from the smallest trained to ``REACH_FACTOR`` times the largest, its lower end is the last
size at which the band's **upper** edge is still below the few-shot line, its upper end the first size at which
the band's **lower** edge reaches it. Each refitted curve rises with n, so the band's edges at a size are
the 97.5th/2.5th percentiles of the refitted curves there, and these two sizes are (to the grid's resolution)
the 2.5th and 97.5th percentiles of the refitted curves' own crossovers. An edge that already reaches the line
at the smallest size gives no lower end (the crossover may lie below the sizes trained); a lower edge that
never reaches it within reach gives no upper end.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

REACH_FACTOR = 10
MIN_POINTS = 3
_BOUNDS = ([0.0, 0.0, 0.01], [1.0, 50.0, 3.0])


@dataclass(frozen=True)
class CurveFit:
    """Fitted ``acc(n) = ceiling - scale * n**-exponent``; ``rmse`` is the unweighted residual."""

    ceiling: float
    scale: float
    exponent: float
    rmse: float

    def predict(self, n: float | np.ndarray) -> float | np.ndarray:
        return power_law(np.asarray(n, dtype=float), self.ceiling, self.scale, self.exponent)


def power_law(n: np.ndarray, ceiling: float, scale: float, exponent: float) -> np.ndarray:
    return ceiling - scale * np.power(n, -exponent)


def power_law_jacobian(n: np.ndarray, ceiling: float, scale: float, exponent: float) -> np.ndarray:
    """Partial derivatives of ``power_law`` by (ceiling, scale, exponent), one row per ``n`` (spares the
    optimizer its finite differences: the bootstrap band refits the curve hundreds of times)."""
    p = np.power(n, -exponent)
    return np.column_stack([np.ones_like(n), -p, scale * p * np.log(n)])


def _sigma(acc: np.ndarray, n_eval: int | None) -> np.ndarray | None:
    """Binomial standard errors (floored so a 0 % or 100 % point does not get infinite weight)."""
    if not n_eval:
        return None
    p = np.clip(acc, 0.5 / n_eval, 1 - 0.5 / n_eval)
    return np.sqrt(p * (1 - p) / n_eval)


def fit_curve(sizes: Sequence[float], accuracies: Sequence[float], n_eval: int | None = None) -> CurveFit | None:
    """Fit the power law to measured points; ``None`` with fewer than three distinct sizes."""
    from scipy.optimize import curve_fit

    n = np.asarray(sizes, dtype=float)
    acc = np.asarray(accuracies, dtype=float)
    if len(set(n.tolist())) < MIN_POINTS or np.any(n <= 0):
        return None
    start = [min(1.0, acc.max() + 0.05), max(1e-3, (acc.max() + 0.05 - acc[np.argmin(n)]) * n.min() ** 0.5), 0.5]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            params, _ = curve_fit(power_law, n, acc, p0=start, sigma=_sigma(acc, n_eval), bounds=_BOUNDS,
                                  jac=power_law_jacobian, maxfev=20000)
        except (RuntimeError, ValueError):
            return None
    rmse = float(np.sqrt(np.mean((power_law(n, *params) - acc) ** 2)))
    return CurveFit(float(params[0]), float(params[1]), float(params[2]), rmse)


def prediction_band(
    sizes: Sequence[float], accuracies: Sequence[float], n_eval: int, targets: Sequence[float],
    n_boot: int = 200, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray] | None:
    """95 % parametric-bootstrap band of the fitted curve at ``targets`` (see the module docstring)."""
    acc = np.asarray(accuracies, dtype=float)
    rng = np.random.default_rng(seed)
    preds = []
    for _ in range(n_boot):
        redrawn = rng.binomial(n_eval, np.clip(acc, 0, 1)) / n_eval
        fit = fit_curve(sizes, redrawn, n_eval)
        if fit is not None:
            preds.append(fit.predict(np.asarray(targets, dtype=float)))
    if len(preds) < n_boot // 2:
        return None
    stacked = np.vstack(preds)
    return np.quantile(stacked, 0.025, axis=0), np.quantile(stacked, 0.975, axis=0)


def examples_to_reach(fit: CurveFit, target: float) -> float | None:
    """Training examples at which the fitted curve reaches ``target`` (``None``: never, it saturates below)."""
    gap = fit.ceiling - target
    if gap <= 0:
        return None
    if fit.scale <= 0:
        return 1.0
    return max(1.0, (fit.scale / gap) ** (1.0 / fit.exponent))


def crossover_interval(grid: Sequence[float], low_edge: Sequence[float], high_edge: Sequence[float],
                       target: float) -> tuple[float | None, float | None]:
    """The crossover's 95% interval from the band on ``grid`` (ascending sizes): the size just before the upper
    edge first reaches ``target`` (``None`` when it does at the first size) and the first size at which the lower
    edge reaches it (``None`` when it never does on the grid); see the module docstring."""
    x = np.asarray(grid, dtype=float)
    up = np.flatnonzero(np.asarray(high_edge, dtype=float) >= target)
    down = np.flatnonzero(np.asarray(low_edge, dtype=float) >= target)
    low = float(x[-1]) if not up.size else (float(x[up[0] - 1]) if up[0] > 0 else None)
    high = float(x[down[0]]) if down.size else None
    return low, high


def crossover(fit: CurveFit | None, sizes: Sequence[int], accuracies: Sequence[float], target: float) -> dict:
    """Where LoRA overtakes ``target`` (e.g. the best few-shot accuracy).

    Returns ``{"examples": int | None, "within_reach": bool, "how": str}``: ``how`` is ``"measured"``
    when a measured point already beats ``target`` without a fit, ``"fitted"`` when read off the
    curve (within reach up to ``REACH_FACTOR`` x the largest size), ``"never"`` when the fitted ceiling
    is at or below ``target``, ``"unknown"`` without a fit.
    """
    limit = REACH_FACTOR * max(sizes)
    if fit is not None:
        n = examples_to_reach(fit, target)
        if n is None:
            return {"examples": None, "within_reach": False, "how": "never"}
        n = _consistent_with_points(n, sizes, accuracies, target)
        return {"examples": int(math.ceil(n - 1e-6)), "within_reach": n <= limit, "how": "fitted"}
    beating = [s for s, a in zip(sizes, accuracies) if a > target]
    if beating:
        return {"examples": int(min(beating)), "within_reach": True, "how": "measured"}
    return {"examples": None, "within_reach": False, "how": "unknown"}


def _consistent_with_points(n: float, sizes: Sequence[int], accuracies: Sequence[float], target: float) -> float:
    """Keep a fitted crossover between the last measured size that does not beat ``target`` and the
    next measured size that does (a poor fit must not contradict the measurements)."""
    pairs = sorted(zip(sizes, accuracies))
    below = [s for s, a in pairs if a <= target]
    if below:
        n = max(n, below[-1] + 1)
        above = [s for s, a in pairs if a > target and s > below[-1]]
        if above:
            n = min(n, above[0])
    return n
