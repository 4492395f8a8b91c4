"""The report's next steps: first the measurements that could change the decision (most likely to flip it first),
then what to do for the recommended strategy; never the same advice twice, nor two near-copies of it."""

from __future__ import annotations

import re
from typing import Any, Callable

from advisor.costs.models import CostEstimate
from advisor.decision.placeholders import fills
from advisor.decision.value_of_information import measurements

#: a step most of whose words another kept step already holds says the same thing; the first is kept
NEAR_COPY = 0.8


def next_steps(rulebook: Any, winner: str, fired: list[Any], plain: dict[str, Any], evidence: dict[str, Any],
               method_label: str, answers: Any, labels: dict[str, str], doubts: list[dict[str, Any]],
               winner_with: Callable[[dict[str, Any]], str],
               costs: CostEstimate | None) -> tuple[list[str], list[dict[str, Any]]]:
    """The next steps, and the measurements among them with how likely each is to flip the decision."""
    found = measurements(answers, evidence, winner, labels, doubts, winner_with,
                         costs.assumptions if costs is not None else {})
    values = fills(plain, evidence, method_label)
    actions = [s.format(**values) for s in rulebook.strategies[winner].get("next_steps", [])]
    actions += [r.next_step.format(**values) for r in fired if r.next_step and concerns(r, winner)]
    return distinct([m["step"] for m in found] + actions), found


def concerns(rule: Any, winner: str) -> bool:
    """A rule's risk or step matters for the winner if it touches the winner, or touches nothing."""
    touched = set(rule.effect) | set(rule.exclude)
    parts = {"rag_prompt": {"rag", "prompt_engineering"}, "rag_fine_tuning": {"rag", "fine_tuning"}}
    return not touched or winner in touched or bool(parts.get(winner, set()) & touched)


def distinct(steps: list[str]) -> list[str]:
    """Steps in order without repeats or near-copies (same words, reordered or slightly reworded)."""
    kept: list[str] = []
    for step in steps:
        words = _words(step)
        if any(_overlap(words, _words(k)) >= NEAR_COPY for k in kept):
            continue
        kept.append(step)
    return kept


def _overlap(a: set[str], b: set[str]) -> float:
    """The share of the shorter step's words the other one holds."""
    shorter, longer = sorted((a, b), key=len)
    return len(shorter & longer) / len(shorter) if shorter else 1.0


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))
