"""From answers and probe evidence to a ranked, explained recommendation.

Each strategy starts at 0; every rule whose condition is true adds its effects. Rules that test
probe evidence count in a separate ``evidence_score`` so the report can show what the
measurements changed. An excluded strategy ranks after every other one, whatever its score.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field

from advisor.answers import ORDINALS, Answers, answers_as_plain
from advisor.conditions import Facts, evaluate
from advisor.cost_models import CostEstimate
from advisor.evidence import ProbeFailure, SkippedProbe
from advisor.placeholders import fills
from advisor.rulebook import METHODS, STRATEGIES, Rule, Rulebook

METHOD_LABELS = {
    "lora": "LoRA / adapters (PEFT)",
    "prompt_tuning": "prompt tuning (soft prompts, PEFT)",
    "full": "full fine-tuning",
    "preference_tuning": "supervised LoRA followed by preference tuning (RLHF/DPO)",
}
BASE_METHOD_PREFERENCE = {"lora": 1.0}
CLOSE_CALL = 2.0  # a score margin below this, on thin evidence, is reported as too close to call


class FiredRule(BaseModel):
    id: str
    rationale: str
    source: str
    effect: dict[str, float]
    exclude: dict[str, str]
    method: dict[str, float]
    uses_evidence: bool
    risk: str | None = None
    next_step: str | None = None
    where: str = ""


class StrategyScore(BaseModel):
    strategy: str
    label: str
    rank: int
    score: float
    answer_score: float
    evidence_score: float
    excluded: bool
    exclusion_reason: str | None = None


class Recommendation(BaseModel):
    winner: str
    winner_label: str
    method: str | None = None
    method_label: str | None = None
    confidence: str
    confidence_score: float
    margin: float
    strategies: list[StrategyScore]
    fired: list[FiredRule]
    risks: list[str] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)
    evidence_used: bool = False
    evidence_changed: list[str] = Field(default_factory=list)
    answer_only_winner: str = ""
    answer_only_winner_label: str = ""
    sensitivity: list[dict[str, Any]] = Field(default_factory=list)
    confidence_notes: list[str] = Field(default_factory=list)
    top_reasons: list[str] = Field(default_factory=list)
    skipped_probes: list[SkippedProbe] = Field(default_factory=list)
    probe_failures: list[ProbeFailure] = Field(default_factory=list)
    #: the decision matrix of the rulebook that decided (strategy -> row)
    matrix: dict[str, dict[str, Any]] = Field(default_factory=dict)
    costs: CostEstimate | None = None
    #: answers that were not given (neither in the file nor at the prompt) and took their default
    defaulted_answers: list[str] = Field(default_factory=list)


def build_facts(answers: dict[str, Any], evidence: dict[str, dict[str, Any]] | None) -> Facts:
    """Answers plus evidence, the latter flattened as ``few_shot.best_accuracy``."""
    values = dict(answers)
    for probe, facts in (evidence or {}).items():
        namespace = probe.replace("-", "_")
        values.update({f"{namespace}.{k}": v for k, v in facts.items()})
    ordinals = {name: [m.value for m in enum] for name, enum in ORDINALS.items()}
    return Facts(values, ordinals)


def fire(rulebook: Rulebook, facts: Facts) -> list[Rule]:
    return [rule for rule in rulebook.rules if evaluate(rule.when, facts) is True]


def tally(fired: list[Rule]) -> dict[str, dict[str, Any]]:
    """Per strategy: answer score, evidence score and exclusion reason (first one wins)."""
    table = {s: {"answer": 0.0, "evidence": 0.0, "excluded": None} for s in STRATEGIES}
    for rule in fired:
        part = "evidence" if rule.uses_evidence else "answer"
        for strategy, delta in rule.effect.items():
            table[strategy][part] += delta
        for strategy, reason in rule.exclude.items():
            table[strategy]["excluded"] = table[strategy]["excluded"] or reason
    return table


def rank(table: dict[str, dict[str, Any]], use_evidence: bool = True) -> list[str]:
    """Strategies best first: not excluded before excluded, then by score, then by the
    fixed order of STRATEGIES (cheapest first) to break ties."""

    def key(s: str) -> tuple:
        score = table[s]["answer"] + (table[s]["evidence"] if use_evidence else 0.0)
        return (table[s]["excluded"] is not None, -score, STRATEGIES.index(s))

    return sorted(STRATEGIES, key=key)


def winner_of(rulebook: Rulebook, answers: dict[str, Any], evidence: dict | None = None) -> str:
    """The winning strategy only; used by the sensitivity analysis."""
    return rank(tally(fire(rulebook, build_facts(answers, evidence))))[0]


def choose_method(fired: list[Rule]) -> str:
    scores = {m: BASE_METHOD_PREFERENCE.get(m, 0.0) for m in METHODS}
    for rule in fired:
        for method, delta in rule.method.items():
            scores[method] += delta
    return max(METHODS, key=lambda m: (scores[m], -METHODS.index(m)))


def confidence_of(margin: float, evidence_used: bool, thin: list[str]) -> tuple[str, float, list[str]]:
    """Confidence from the score margin between the top two strategies, discounted when the
    decision rests on answers alone or on evidence flagged as thin."""
    notes = []
    value = 1 - math.exp(-max(margin, 0.0) / 3)
    if not evidence_used:
        value *= 0.85
        notes.append("Based on answers only: no probe evidence was measured.")
    for note in thin:
        value *= 0.85
        notes.append(note)
    level = "high" if value >= 0.65 else "medium" if value >= 0.35 else "low"
    return level, round(value, 3), notes


def recommend(
    rulebook: Rulebook,
    answers: Answers,
    evidence: dict[str, dict[str, Any]] | None = None,
    thin_evidence: list[str] | None = None,
) -> Recommendation:
    plain = answers_as_plain(answers)
    facts = build_facts(plain, evidence)
    fired = fire(rulebook, facts)
    table = tally(fired)
    order = rank(table)
    answer_order = rank(table, use_evidence=False)
    scores = [_strategy_score(s, i + 1, table, rulebook) for i, s in enumerate(order)]
    live = [s for s in scores if not s.excluded]
    margin = live[0].score - live[1].score if len(live) > 1 else 10.0
    evidence_used = any(r.uses_evidence for r in fired) or bool(evidence)
    level, value, notes = confidence_of(margin, evidence_used, thin_evidence or [])
    if thin_evidence and len(live) > 1 and margin < CLOSE_CALL:
        notes.insert(0, f"Too close to call between {live[0].label} and {live[1].label} on this evidence "
                        f"(margin {margin:g}); the measurements below would need to be firmer to separate them.")
    winner = order[0]
    method = choose_method(fired) if "fine_tuning" in winner else None
    return Recommendation(
        winner=winner,
        winner_label=rulebook.strategies[winner]["label"],
        method=method,
        method_label=METHOD_LABELS.get(method) if method else None,
        confidence=level,
        confidence_score=value,
        margin=round(margin, 3),
        strategies=scores,
        fired=[_fired(r) for r in fired],
        risks=_unique(r.risk for r in fired if r.risk and _concerns(r, winner)),
        next_steps=_next_steps(rulebook, winner, fired, plain, evidence or {}, method),
        evidence_used=evidence_used,
        evidence_changed=_evidence_changed(fired, order, answer_order),
        answer_only_winner=answer_order[0],
        answer_only_winner_label=rulebook.strategies[answer_order[0]]["label"],
        confidence_notes=notes,
        top_reasons=_top_reasons(fired, order),
    )


def _top_reasons(fired: list[Rule], order: list[str], n: int = 3) -> list[str]:
    """The rules that most separate the winner from the runner-up."""
    winner, runner_up = order[0], order[1]

    def pull(rule: Rule) -> float:
        push_down = 10.0 if runner_up in rule.exclude else 0.0
        return rule.effect.get(winner, 0.0) - rule.effect.get(runner_up, 0.0) + push_down

    ranked = sorted((r for r in fired if pull(r) > 0), key=pull, reverse=True)
    return [r.id for r in ranked[:n]]


def _strategy_score(s: str, position: int, table: dict, rulebook: Rulebook) -> StrategyScore:
    row = table[s]
    return StrategyScore(
        strategy=s,
        label=rulebook.strategies[s]["label"],
        rank=position,
        score=round(row["answer"] + row["evidence"], 3),
        answer_score=round(row["answer"], 3),
        evidence_score=round(row["evidence"], 3),
        excluded=row["excluded"] is not None,
        exclusion_reason=row["excluded"],
    )


def _fired(rule: Rule) -> FiredRule:
    return FiredRule(
        id=rule.id, rationale=rule.rationale, source=rule.source, effect=rule.effect, exclude=rule.exclude,
        method=rule.method, uses_evidence=rule.uses_evidence, risk=rule.risk, next_step=rule.next_step,
        where=rule.where,
    )


def _concerns(rule: Rule, winner: str) -> bool:
    """A rule's risk matters for the winner if it touches the winner, or touches nothing."""
    touched = set(rule.effect) | set(rule.exclude)
    parts = {"rag_prompt": {"rag", "prompt_engineering"}, "rag_fine_tuning": {"rag", "fine_tuning"}}
    return not touched or winner in touched or bool(parts.get(winner, set()) & touched)


def _evidence_changed(fired: list[Rule], order: list[str], answer_order: list[str]) -> list[str]:
    """Evidence rules that moved a strategy, when evidence changed the ranking's top."""
    if order[0] == answer_order[0]:
        return []
    moved = {order[0], answer_order[0]}
    return [r.id for r in fired if r.uses_evidence and (moved & (set(r.effect) | set(r.exclude)))]


def _next_steps(rulebook: Rulebook, winner: str, fired: list[Rule], answers: dict, evidence: dict,
                method: str | None) -> list[str]:
    values = fills(answers, evidence, METHOD_LABELS.get(method or "lora", ""))
    steps = [s.format(**values) for s in rulebook.strategies[winner].get("next_steps", [])]
    steps += [r.next_step.format(**values) for r in fired if r.next_step and _concerns(r, winner)]
    return _unique(steps)


def _unique(items: Any) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
