"""From answers, probe evidence and costs to a ranked, explained recommendation.

Each strategy starts at 0; every rule whose condition is true adds its effects, and the total of each
decision factor (a rule group, ``rules/groups.yaml``) is capped, so correlated rules count once. Rules that
test probe evidence count in a separate ``evidence_score`` so the report can show what the measurements
changed; the 12-month cost at the stated volume adds a ``cost_score`` (advisor/decision/feasibility.py). A strategy a
hard constraint rules out (a rule's ``exclude``, a deadline, a budget exceeded by a clear margin) ranks after
every other one, whatever its score.

Confidence is how decisive the answers are, raised by each firm measurement on your data: removing or
weakening evidence never raises it (a property test checks this).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field

from advisor.intake.answers import ORDINALS, Answers, answers_as_plain
from advisor.decision.conditions import Facts, evaluate
from advisor.costs.models import CostEstimate
from advisor.evidence.evidence_set import ProbeFailure, SkippedProbe
from advisor.decision.placeholders import fills
from advisor.decision.rulebook import METHODS, STRATEGIES, Rule, Rulebook

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
    group: str = ""


class StrategyScore(BaseModel):
    strategy: str
    label: str
    rank: int
    score: float
    answer_score: float
    evidence_score: float
    excluded: bool
    exclusion_reason: str | None = None
    cost_score: float = 0.0
    #: one-off plus twelve months at the stated volume (None without a cost estimate)
    twelve_month_cost: float | None = None
    #: the evidence rules that moved this strategy
    evidence_rules: list[str] = Field(default_factory=list)


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
    #: how the measurements were read: which model each decision fact came from, and how firm it is
    evidence_sources: list[dict[str, Any]] = Field(default_factory=list)
    evidence_notes: list[str] = Field(default_factory=list)
    #: decision factors that fired: group -> {label, cap, rules}
    groups: dict[str, dict[str, Any]] = Field(default_factory=dict)


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


def group_totals(fired: list[Rule], rulebook: Rulebook | None = None) -> dict[str, dict[str, Any]]:
    """Per decision factor: whether it is evidence, its rules, and its capped total per strategy."""
    groups: dict[str, dict[str, Any]] = {}
    for rule in fired:
        name = rulebook.group_of(rule) if rulebook else rule.id
        entry = groups.setdefault(name, {"evidence": rule.uses_evidence, "rules": [], "raw": {}})
        entry["rules"].append(rule.id)
        for strategy, delta in rule.effect.items():
            entry["raw"][strategy] = entry["raw"].get(strategy, 0.0) + delta
    for name, entry in groups.items():
        cap = rulebook.cap(name) if rulebook else math.inf
        entry["cap"] = cap
        entry["total"] = {s: max(-cap, min(cap, v)) for s, v in entry["raw"].items()}
    return groups


def tally(fired: list[Rule], rulebook: Rulebook | None = None) -> dict[str, dict[str, Any]]:
    """Per strategy: capped answer score, capped evidence score, cost score and exclusion reason (first wins)."""
    table = {s: {"answer": 0.0, "evidence": 0.0, "cost": 0.0, "excluded": None} for s in STRATEGIES}
    for entry in group_totals(fired, rulebook).values():
        part = "evidence" if entry["evidence"] else "answer"
        for strategy, total in entry["total"].items():
            table[strategy][part] += total
    for rule in fired:
        for strategy, reason in rule.exclude.items():
            table[strategy]["excluded"] = table[strategy]["excluded"] or reason
    return table


def apply_costs(table: dict[str, dict[str, Any]], answers: Answers, costs: CostEstimate | None,
                rulebook: Rulebook) -> None:
    """Hard constraints (deadline, budget by a clear margin) and the 12-month cost term, into the table."""
    from advisor.decision.feasibility import cost_reasons, cost_scores, deadline_reasons

    reasons = deadline_reasons(answers, rulebook.strategies)
    if costs is not None:
        for strategy, score in cost_scores(answers, costs).items():
            table[strategy]["cost"] = score
        for strategy, reason in cost_reasons(answers, costs).items():
            reasons.setdefault(strategy, reason)
    for strategy, reason in reasons.items():
        table[strategy]["excluded"] = table[strategy]["excluded"] or reason


def rank(table: dict[str, dict[str, Any]], use_evidence: bool = True) -> list[str]:
    """Strategies best first: not excluded before excluded, then by score, then by the
    fixed order of STRATEGIES (cheapest first) to break ties."""

    def key(s: str) -> tuple:
        score = table[s]["answer"] + table[s].get("cost", 0.0) + (table[s]["evidence"] if use_evidence else 0.0)
        return (table[s]["excluded"] is not None, -score, STRATEGIES.index(s))

    return sorted(STRATEGIES, key=key)


def decision_table(rulebook: Rulebook, answers: Answers, evidence: dict | None,
                   costs: CostEstimate | None) -> tuple[list[Rule], dict[str, dict[str, Any]]]:
    fired = fire(rulebook, build_facts(answers_as_plain(answers), evidence))
    table = tally(fired, rulebook)
    apply_costs(table, answers, costs, rulebook)
    return fired, table


def winner_of(rulebook: Rulebook, answers: dict[str, Any], evidence: dict | None = None,
              assumptions: Any = None) -> str:
    """The winning strategy only; used by the sensitivity analysis (costs re-estimated when ``assumptions``)."""
    model = Answers.model_validate(answers)
    costs = None
    if assumptions is not None:
        from advisor.costs.estimate import estimate_costs

        costs = estimate_costs(model, evidence, assumptions)
    return rank(decision_table(rulebook, model, evidence, costs)[1])[0]


def choose_method(fired: list[Rule]) -> str:
    scores = {m: BASE_METHOD_PREFERENCE.get(m, 0.0) for m in METHODS}
    for rule in fired:
        for method, delta in rule.method.items():
            scores[method] += delta
    return max(METHODS, key=lambda m: (scores[m], -METHODS.index(m)))


ANSWERS_ONLY = 0.85  # answers alone never give more than this share of the margin's confidence
EVIDENCE_SCALE = 4.0  # points of firm evidence in a factor that raise the remaining doubt by 1 - 1/e


def confidence_of(answer_margin: float, evidence_groups: list[dict[str, Any]]) -> tuple[str, float]:
    """Confidence: how decisive the answers are (the answers-only margin between the top two feasible
    strategies), raised by each decision factor of firm evidence measured on your data. Each evidence factor
    removes a share ``1 - exp(-strength / 4)`` of the remaining doubt, its strength being the summed size of
    the firm measurements' effects (capped like the factor). Removing or weakening evidence (fewer rules
    firing) can therefore never raise confidence."""
    doubt = 1 - ANSWERS_ONLY * (1 - math.exp(-max(answer_margin, 0.0) / 3))
    for group in evidence_groups:
        strength = min(group["cap"], group["strength"])
        doubt *= math.exp(-strength / EVIDENCE_SCALE)
    value = 1 - doubt
    level = "high" if value >= 0.65 else "medium" if value >= 0.35 else "low"
    return level, round(value, 3)


def recommend(
    rulebook: Rulebook,
    answers: Answers,
    evidence: dict[str, dict[str, Any]] | None = None,
    thin_evidence: list[str] | None = None,
    costs: CostEstimate | None = None,
) -> Recommendation:
    plain = answers_as_plain(answers)
    fired, table = decision_table(rulebook, answers, evidence, costs)
    order = rank(table)
    answer_order = rank(table, use_evidence=False)
    twelve = _twelve_months(costs)
    scores = [_strategy_score(s, i + 1, table, rulebook, twelve, fired) for i, s in enumerate(order)]
    live = [s for s in scores if not s.excluded]
    margin = live[0].score - live[1].score if len(live) > 1 else 10.0
    answer_margin = _answers_only_margin(rulebook, answers, fired)
    groups = group_totals(fired, rulebook)
    evidence_groups = [{"cap": g["cap"], "strength": sum(_size(rulebook.get(r)) for r in g["rules"])}
                       for g in groups.values() if g["evidence"]]
    evidence_used = bool(evidence_groups)
    level, value = confidence_of(answer_margin, evidence_groups)
    level = _capped_level(level, margin, len(live))
    notes = [] if evidence_used else ["Based on answers only: no probe measurement was firm enough to count."]
    if not answers.data_may_leave:
        notes.insert(0, "A hosted API is ruled out for every strategy: the data may not leave your premises, so each "
                        "is priced and planned on a self-hosted open-weights model.")
    notes += list(thin_evidence or [])
    if len(live) > 1 and margin < CLOSE_CALL:
        notes.insert(0, f"Too close to call between {live[0].label} and {live[1].label} (margin {margin:g}); "
                        "the sensitivity section says what would separate them.")
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
        costs=costs,
        groups={name: {"label": rulebook.groups.get(name, {}).get("label", name),
                       "cap": None if math.isinf(g["cap"]) else g["cap"], "rules": g["rules"],
                       "raw": g["raw"], "total": g["total"], "evidence": g["evidence"]}
                for name, g in groups.items()},
    )


def _capped_level(level: str, margin: float, live: int) -> str:
    """The confidence level, never "high" for a near tie: a final margin under CLOSE_CALL points caps it at
    medium, under a quarter of that at low (the score itself stays monotone in the evidence)."""
    if live < 2 or margin >= CLOSE_CALL:
        return level
    order = ["low", "medium", "high"]
    cap = "low" if margin < CLOSE_CALL / 4 else "medium"
    return order[min(order.index(level), order.index(cap))]


def _answers_only_margin(rulebook: Rulebook, answers: Answers, fired: list[Rule]) -> float:
    """The score margin between the top two strategies on the answers alone (answer rules, rule exclusions and
    the deadline; no evidence and no cost, whose figures measurements can change)."""
    from advisor.decision.feasibility import deadline_reasons

    table = tally([r for r in fired if not r.uses_evidence], rulebook)
    for strategy in deadline_reasons(answers, rulebook.strategies):
        table[strategy]["excluded"] = table[strategy]["excluded"] or "deadline"
    live = sorted((table[s]["answer"] for s in STRATEGIES if table[s]["excluded"] is None), reverse=True)
    return live[0] - live[1] if len(live) > 1 else 10.0


def _size(rule: Rule | None) -> float:
    """How much a fired rule moves the ranking: its largest effect on any strategy."""
    if rule is None:
        return 0.0
    return max([abs(v) for v in rule.effect.values()] + [0.0])


def _twelve_months(costs: CostEstimate | None) -> dict[str, float]:
    if costs is None:
        return {}
    from advisor.decision.feasibility import twelve_months

    return twelve_months(costs)


def _top_reasons(fired: list[Rule], order: list[str], n: int = 3) -> list[str]:
    """The rules that most separate the winner from the runner-up."""
    winner, runner_up = order[0], order[1]

    def pull(rule: Rule) -> float:
        push_down = 10.0 if runner_up in rule.exclude else 0.0
        return rule.effect.get(winner, 0.0) - rule.effect.get(runner_up, 0.0) + push_down

    ranked = sorted((r for r in fired if pull(r) > 0), key=pull, reverse=True)
    return [r.id for r in ranked[:n]]


def _strategy_score(s: str, position: int, table: dict, rulebook: Rulebook, twelve: dict[str, float],
                    fired: list[Rule]) -> StrategyScore:
    row = table[s]
    return StrategyScore(
        strategy=s,
        label=rulebook.strategies[s]["label"],
        rank=position,
        score=round(row["answer"] + row["evidence"] + row["cost"], 3),
        answer_score=round(row["answer"], 3),
        evidence_score=round(row["evidence"], 3),
        cost_score=round(row["cost"], 3),
        excluded=row["excluded"] is not None,
        exclusion_reason=row["excluded"],
        twelve_month_cost=round(twelve[s], 2) if s in twelve else None,
        evidence_rules=[r.id for r in fired if r.uses_evidence and s in r.effect],
    )


def _fired(rule: Rule) -> FiredRule:
    return FiredRule(
        id=rule.id, rationale=rule.rationale, source=rule.source, effect=rule.effect, exclude=rule.exclude,
        method=rule.method, uses_evidence=rule.uses_evidence, risk=rule.risk, next_step=rule.next_step,
        where=rule.where, group=rule.group,
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
