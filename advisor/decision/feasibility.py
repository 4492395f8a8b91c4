"""Hard constraints and cost inside the decision.

Only hard constraints rule a strategy out, each with its reason: a deadline shorter than the strategy's minimum
time (``min_weeks`` in ``strategies.yaml``), no deployment the answers allow (the data may not leave and there
is nothing to self-host on, no fine-tuning access to a closed model), retrieval with no corpus, and the
rulebook's own exclusions (no labels and no way to get them). A budget is a trade-off, not a wall: the cost
enters the score as a graded term,

- minus ``COST_WEIGHT`` points per 12-month budget the strategy consumes (one-off plus twelve months), at most
  ``COST_CAP`` points (when even the cheapest option is over budget, its cost is the yardstick instead);
- minus ``OVER_WEIGHT`` points per doubling beyond the budget (the larger of the one-off and the monthly
  ratios), at most ``OVER_CAP`` points.

The functions work on numbers and on numpy arrays alike, so the simulation (:mod:`advisor.decision.simulation`)
scores every draw the same way as the point estimate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from advisor.costs.models import PARTS, CostEstimate
from advisor.sentences import say

#: points taken per 12-month budget consumed, and the most taken
COST_WEIGHT = 2.0
COST_CAP = 3.0
#: points taken per doubling over the budget, and the most taken
OVER_WEIGHT = 1.5
OVER_CAP = 4.5


def hard_reasons(answers: Any, strategies: dict[str, dict[str, Any]], costs: CostEstimate | None) -> dict[str, str]:
    """Strategies a hard constraint rules out, with the reason (the first that applies)."""
    reasons = deadline_reasons(answers, strategies)
    if not answers.has_corpus:
        for strategy, parts in PARTS.items():
            if "retrieval" in parts:
                reasons.setdefault(strategy, say("there is no document corpus to retrieve from"))
    for row in (costs.strategies if costs is not None else []):
        if not row.runnable:
            reasons.setdefault(row.strategy, row.deployment_reason)
    return reasons


def deadline_reasons(answers: Any, strategies: dict[str, dict[str, Any]]) -> dict[str, str]:
    weeks = answers.weeks_to_production
    return {name: say("needs at least {min_weeks} weeks to a first release; you have {weeks}",
                      min_weeks=meta["min_weeks"], weeks=weeks)
            for name, meta in strategies.items()
            if meta.get("min_weeks") is not None and weeks < float(meta["min_weeks"])}


def cost_terms(one_off: Any, monthly: Any, budget_one_off: float, budget_monthly: float, horizon: int = 12) -> Any:
    """The cost term of each strategy: ``one_off`` and ``monthly`` are arrays whose last axis is the strategy
    (numbers work too). The cheapest strategy's 12-month cost is the yardstick when it exceeds the budget."""
    one_off, monthly = np.asarray(one_off, dtype=float), np.asarray(monthly, dtype=float)
    spend = one_off + 12 * monthly
    budget = np.maximum(budget_one_off + 12 * budget_monthly, spend.min(axis=-1, keepdims=True))
    use = np.where(budget > 0, COST_WEIGHT * spend / np.where(budget > 0, budget, 1.0),
                   np.where(spend > 0, np.inf, 0.0))
    term = -np.minimum(COST_CAP, use)
    ratio = np.maximum(_ratio(one_off, budget_one_off), _ratio(monthly, budget_monthly))
    over = OVER_WEIGHT * np.log2(np.maximum(ratio, 1.0))
    return term - np.minimum(OVER_CAP, over)


def _ratio(cost: Any, budget: float) -> Any:
    if budget > 0:
        return cost / budget
    return np.where(cost > 0, 1000.0, 0.0)


def cost_scores(answers: Any, costs: CostEstimate) -> dict[str, float]:
    """The cost term of every strategy at the estimate's point values."""
    names = [row.strategy for row in costs.strategies]
    terms = cost_terms([row.one_off for row in costs.strategies], [row.monthly for row in costs.strategies],
                       answers.budget_one_off, answers.budget_monthly)
    return {name: float(value) for name, value in zip(names, terms)}


def all_over_budget(answers: Any, costs: CostEstimate, excluded: set[str]) -> str | None:
    """One sentence when every strategy left standing is over budget (the report says it first)."""
    live = [row for row in costs.strategies if row.strategy not in excluded]
    if not live or any(row.within_one_off_budget and row.within_monthly_budget for row in live):
        return None
    cheapest = min(live, key=lambda r: r.total)
    return say("Every strategy is over your budget ({budget_one_off:,.0f} one-off, {budget_monthly:,.0f} a month): "
               "the cheapest, {strategy}, needs {one_off:,.0f} {currency} one-off and {monthly:,.0f} a month at "
               "{requests:,} requests. The ranking weighs how far each is over; raise the budget or lower the volume "
               "to change that.", budget_one_off=answers.budget_one_off, budget_monthly=answers.budget_monthly,
               strategy=cheapest.strategy, one_off=cheapest.one_off, currency=costs.currency, monthly=cheapest.monthly,
               requests=costs.monthly_requests)


def twelve_months(costs: CostEstimate) -> dict[str, float]:
    return {row.strategy: row.one_off + 12 * row.monthly for row in costs.strategies}
