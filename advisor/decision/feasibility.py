"""Hard constraints and cost inside the decision.

A strategy is **infeasible** when a constraint rules it out, with the reason stated: the deadline is shorter
than the strategy's minimum time (``min_weeks`` in ``strategies.yaml``), or its cost at the stated volume is
above the budget by a clear margin (more than :data:`BUDGET_MARGIN` times the one-off or the monthly budget).
Rule exclusions (``exclude:`` in the rulebook: no place to train private data, no labels at all) are the
other hard constraints. When every strategy is over budget, none is excluded for cost (the report says so)
and the ranking falls back on the scores.

Among feasible strategies, the 12-month cost enters the score explicitly: minus ``COST_WEIGHT`` points per
full 12-month budget the strategy consumes (one-off plus twelve months), at most ``COST_CAP`` points.
"""

from __future__ import annotations

from typing import Any

from advisor.costs.models import CostEstimate

#: a cost above this multiple of the budget rules a strategy out ("by a clear margin")
BUDGET_MARGIN = 1.5
#: points taken per 12-month budget consumed, and the most taken
COST_WEIGHT = 2.0
COST_CAP = 3.0


def cost_reasons(answers: Any, costs: CostEstimate) -> dict[str, str]:
    """Strategies whose one-off or monthly cost is above the budget by more than the margin, with why. When
    every strategy is over budget, only those costing more than the margin times the cheapest over 12 months
    are ruled out (the cheapest options stay in the ranking)."""
    reasons = {}
    for row in costs.strategies:
        over = _over_text(row, answers, costs)
        if over:
            reasons[row.strategy] = "over budget: " + "; ".join(over)
    if len(reasons) == len(costs.strategies):
        totals = twelve_months(costs)
        cheapest = min(totals.values())
        reasons = {s: f"{reason} ({totals[s] / cheapest:.1f}x the cheapest option over 12 months; every option is "
                      "over budget)"
                   for s, reason in reasons.items() if cheapest > 0 and totals[s] > BUDGET_MARGIN * cheapest}
    return reasons


def _over_text(row: Any, answers: Any, costs: CostEstimate) -> list[str]:
    over, currency = [], costs.currency
    if _over(row.one_off, answers.budget_one_off):
        over.append(f"{row.one_off:,.0f} {currency} one-off against a budget of {answers.budget_one_off:,.0f}")
    if _over(row.monthly, answers.budget_monthly):
        over.append(f"{row.monthly:,.0f} {currency} a month at {costs.monthly_requests:,} requests against a "
                    f"budget of {answers.budget_monthly:,.0f}")
    return over


def deadline_reasons(answers: Any, strategies: dict[str, dict[str, Any]]) -> dict[str, str]:
    weeks = answers.weeks_to_production
    return {name: f"needs at least {meta['min_weeks']} weeks to a first release; you have {weeks}"
            for name, meta in strategies.items()
            if meta.get("min_weeks") is not None and weeks < float(meta["min_weeks"])}


def cost_scores(answers: Any, costs: CostEstimate) -> dict[str, float]:
    """Minus ``COST_WEIGHT`` points per 12-month budget the strategy's 12-month cost consumes (capped); when
    even the cheapest option is over budget, the cheapest option's cost is the yardstick instead."""
    totals = twelve_months(costs)
    budget = max(answers.budget_one_off + 12 * answers.budget_monthly, min(totals.values()))
    return {s: -min(COST_CAP, COST_WEIGHT * spend / budget) if budget > 0 else (0.0 if spend <= 0 else -COST_CAP)
            for s, spend in totals.items()}


def twelve_months(costs: CostEstimate) -> dict[str, float]:
    return {row.strategy: row.one_off + 12 * row.monthly for row in costs.strategies}


def _over(cost: float, budget: float) -> bool:
    return cost > BUDGET_MARGIN * budget and cost > 0
