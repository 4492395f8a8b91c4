"""The path to the recommended end state: the strategy to run at the stated volume, and the stages that lead there,
each with the figure that triggers the next one.

"Start with prompting" is advice about sequencing, not evidence about where a project should end: a fine-tuned
end state is reached through a prompting stage that builds the evaluation set, measures the baseline and
collects labels, and is left once the labels (or the volume) are there. A prompting end state says when it
should give way to fine-tuning: above the volume at which a fine-tune is cheaper, or when the measured accuracy
stays below the bar.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from advisor.costs.models import PARTS, CostEstimate
from advisor.sentences import rounded, say

#: the prompting stage that leads to each fine-tuned end state, and the fine-tune that may follow each prompt one
BEFORE_TUNING = {"fine_tuning": "prompt_engineering", "rag_fine_tuning": "rag_prompt"}
TUNED_COUNTERPART = {"prompt_engineering": "fine_tuning", "rag_prompt": "rag_fine_tuning", "rag": "rag_fine_tuning"}


class Stage(BaseModel):
    """One stage: what to run, and what moves the project on (empty for the end state)."""

    strategy: str
    label: str
    what: str
    until: str = ""


def path_of(winner: str, labels: dict[str, str], answers: Any, costs: CostEstimate | None,
            excluded: set[str], labels_needed: dict[str, int]) -> list[Stage]:
    """The stages to the end state ``winner`` (one stage when it can start right away)."""
    have = answers.labeled_examples
    end = Stage(strategy=winner, label=labels[winner],
                what=say("the end state at {requests:,} requests a month", requests=answers.monthly_requests))
    if "fine_tuned" in PARTS[winner]:
        first = BEFORE_TUNING[winner]
        need = labels_needed.get(winner, 1000)
        short = have < need
        baseline = str(answers.prompt_baseline) == "none"
        if first not in excluded and (short or baseline):
            if short and baseline:
                until = say("move on once {need:,} labeled examples are in hand (you have {have:,}) and the prompting "
                            "baseline is measured on your evaluation set and falls short of the bar",
                            need=need, have=have)
            elif short:
                until = say("move on once {need:,} labeled examples are in hand (you have {have:,})",
                            need=need, have=have)
            else:
                until = say("move on once the prompting baseline is measured on your evaluation set and falls short "
                            "of the bar")
            return [Stage(strategy=first, label=labels[first],
                          what=say("now: ship it, build the evaluation set, measure the baseline and log real inputs "
                                   "as future training data"),
                          until=until), end]
        return [end]
    tuned = TUNED_COUNTERPART.get(winner)
    if tuned is None or tuned in excluded:
        return [end]
    volume = _break_even(costs, winner, tuned)
    needed = labels_needed.get(tuned, 1000)
    if volume is not None:
        end.until = say("switch to {tuned} if the volume passes about {volume:,.0f} requests a month, where {tuned} "
                        "costs less, or if the measured accuracy on your model stays below the bar once {needed:,} "
                        "labeled examples are available to train on", tuned=labels[tuned], volume=rounded(volume),
                        needed=needed)
    else:
        end.until = say("switch to {tuned} if the measured accuracy on your model stays below the bar once {needed:,} "
                        "labeled examples are available to train on", tuned=labels[tuned], needed=needed)
    return [end]


def _break_even(costs: CostEstimate | None, strategy: str, tuned: str) -> float | None:
    """Monthly requests above which ``tuned`` costs less than ``strategy`` over the horizon (None: never)."""
    if costs is None:
        return None
    rows = {r.strategy: r for r in costs.strategies}
    s, t = rows[strategy], rows[tuned]
    gap = s.per_request - t.per_request
    if gap <= 0 or not t.runnable:
        return None
    horizon = costs.horizon_months
    volume = ((t.one_off + horizon * t.monthly_fixed) - (s.one_off + horizon * s.monthly_fixed)) / (horizon * gap)
    return volume if volume > costs.monthly_requests else None
