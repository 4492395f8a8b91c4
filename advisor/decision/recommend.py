"""From answers, probe evidence and costs to a ranked, explained recommendation.

Each strategy starts at 0; every rule whose condition is true adds its effects, and the total of each
decision factor (a rule group, ``rules/groups.yaml``) is capped, so correlated rules count once. Rules that
test probe evidence count in a separate ``evidence_score`` so the report can show what the measurements
changed; the cost at the stated volume, in the cheapest deployment the answers allow, adds a graded
``cost_score`` (advisor/decision/feasibility.py). A strategy a hard constraint rules out (a rule's ``exclude``,
a deadline, no deployment, no corpus to retrieve from) ranks after every other one, whatever its score; a
budget is weighed, never a wall.

Confidence is a probability: the share of a seeded simulation's draws (costs within their stated ranges, rule
weights, measurements within their intervals) in which the winner stays best (advisor/decision/simulation.py).
The recommendation is an end state with the path to it (advisor/decision/path.py); the next steps start with
the measurements that could change it, most likely first (advisor/decision/value_of_information.py).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field

from advisor.intake.answers import ORDINALS, Answers, answers_as_plain
from advisor.decision.conditions import Facts, evaluate
from advisor.costs.models import CostEstimate
from advisor.evidence.evidence_set import ProbeFailure, SkippedProbe
from advisor.decision.next_steps import concerns, next_steps
from advisor.decision.value_of_information import source_label
from advisor.decision.feasibility import all_over_budget, cost_scores, hard_reasons, twelve_months
from advisor.decision.path import Stage, path_of
from advisor.decision.simulation import DRAWS, SEED, Setup, level_of, probabilities, sources_of_doubt, unobtained
from advisor.decision.rulebook import METHODS, STRATEGIES, Rule, Rulebook
from advisor.sentences import say

METHOD_LABELS = {
    "lora": say("LoRA / adapters (PEFT)"),
    "prompt_tuning": say("prompt tuning (soft prompts, PEFT)"),
    "full": say("full fine-tuning"),
    "preference_tuning": say("supervised LoRA followed by preference tuning (RLHF/DPO)"),
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
    #: the probability that it is the best strategy (the decision's simulation)
    probability: float = 0.0
    #: the deployment that prices it and why; the budget it needs there
    deployment: str = ""
    deployment_label: str = ""
    deployment_reason: str = ""
    needs_one_off: float | None = None
    needs_monthly: float | None = None
    within_budget: bool | None = None
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
    #: the probability that each strategy is best, the winner's, and how it was simulated
    probabilities: dict[str, float] = Field(default_factory=dict)
    winner_probability: float = 0.0
    simulation: dict[str, Any] = Field(default_factory=dict)
    #: the stages to the end state (the winner), each with what moves the project on
    path: list[Stage] = Field(default_factory=list)
    #: measurements that could change the decision, most likely to flip it first
    measurements: list[dict[str, Any]] = Field(default_factory=list)
    #: for each uncertain figure alone, how often another strategy comes out best
    doubts: list[dict[str, Any]] = Field(default_factory=list)


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
    """Hard constraints (deadline, no deployment, no corpus) and the graded cost term, into the table."""
    if costs is not None:
        for strategy, score in cost_scores(answers, costs).items():
            table[strategy]["cost"] = score
    for strategy, reason in hard_reasons(answers, rulebook.strategies, costs).items():
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


def recommend(
    rulebook: Rulebook,
    answers: Answers,
    evidence: dict[str, dict[str, Any]] | None = None,
    thin_evidence: list[str] | None = None,
    costs: CostEstimate | None = None,
    missing_probes: list[str] | None = None,
) -> Recommendation:
    """The ranked, explained recommendation. ``missing_probes``: probes that were asked for and did not bring
    their evidence (out of time, failed); the confidence counts their plausible outcomes."""
    plain = answers_as_plain(answers)
    evidence = evidence or {}
    facts = build_facts(plain, evidence)
    fired = fire(rulebook, facts)
    table = tally(fired, rulebook)
    apply_costs(table, answers, costs, rulebook)
    order = rank(table)
    answer_order = rank(table, use_evidence=False)
    excluded = {s for s in STRATEGIES if table[s]["excluded"]}
    evidence_rules = [r for r in rulebook.rules if r.uses_evidence]
    setup = Setup(rulebook, answers, [r for r in fired if not r.uses_evidence], evidence_rules, facts, costs,
                  excluded, {ns: dict(evidence.get(ns, {})) for ns in ("quality", "data")},
                  [r in fired for r in evidence_rules], unobtained(missing_probes or [], answers, evidence))
    probs = probabilities(setup)
    winner = order[0]
    labels = {s: rulebook.strategies[s]["label"] for s in STRATEGIES}
    twelve = _twelve_months(costs)
    scores = [_strategy_score(s, i + 1, table, rulebook, twelve, fired, probs, costs) for i, s in enumerate(order)]
    live = [s for s in scores if not s.excluded]
    margin = live[0].score - live[1].score if len(live) > 1 else 10.0
    groups = group_totals(fired, rulebook)
    evidence_used = any(g["evidence"] for g in groups.values())
    p_win = probs.get(winner, 0.0)
    notes = [] if evidence_used else [say("Based on answers only: no probe measurement was firm enough to count.")]
    if not answers.data_may_leave:
        notes.insert(0, say("The data may not leave your premises: hosted APIs and provider-hosted fine-tunes are "
                            "ruled out, so each strategy is priced on open weights you run yourself."))
    notes += list(thin_evidence or [])
    runner = max((s for s in STRATEGIES if s != winner), key=lambda s: probs.get(s, 0.0))
    if len(live) > 1 and probs.get(runner, 0.0) >= p_win - 0.15:
        notes.insert(0, say("Too close to call between {winner} (best in {p:.0%} of the simulated cases) and "
                            "{runner} ({q:.0%}); the next steps say what would separate them.",
                            winner=labels[winner], p=p_win, runner=labels[runner], q=probs.get(runner, 0.0)))
    if costs is not None:
        over = all_over_budget(answers, costs, excluded)
        mine = next(r for r in costs.strategies if r.strategy == winner)
        if over:
            notes.insert(0, over)
        elif not (mine.within_one_off_budget and mine.within_monthly_budget):
            fits = [r for r in costs.strategies if r.within_one_off_budget and r.within_monthly_budget
                    and r.strategy not in excluded]
            figures = dict(label=labels[winner], one_off=mine.one_off, currency=costs.currency, monthly=mine.monthly,
                           budget_one_off=answers.budget_one_off, budget_monthly=answers.budget_monthly)
            if fits:
                notes.insert(0, say("{label} needs {one_off:,.0f} {currency} one-off and {monthly:,.0f} a month "
                                    "(people's time included), over your budget of {budget_one_off:,.0f} one-off and "
                                    "{budget_monthly:,.0f} a month ({fits} fits it). The ranking weighs the overrun as "
                                    "a cost, not a wall, and it still comes first; a larger budget or a cheaper "
                                    "deployment would remove that penalty.", fits=labels[fits[0].strategy], **figures))
            else:
                notes.insert(0, say("{label} needs {one_off:,.0f} {currency} one-off and {monthly:,.0f} a month "
                                    "(people's time included), over your budget of {budget_one_off:,.0f} one-off and "
                                    "{budget_monthly:,.0f} a month. The ranking weighs the overrun as a cost, not a "
                                    "wall, and it still comes first; a larger budget or a cheaper deployment would "
                                    "remove that penalty.", **figures))
    if not live:
        notes.insert(0, say("No strategy can run under your hard constraints (see the ranking for each reason); "
                            "{label} is shown first only because it would score highest if they were lifted.",
                            label=labels[winner]))
    method = choose_method(fired) if "fine_tuning" in winner else None
    doubts = [{**d, "instead_label": labels[d["instead"]], "label": source_label(d["source"])}
              for d in (sources_of_doubt(setup, winner) if len(live) > 1 else [])]

    def winner_with(other: dict[str, dict[str, Any]]) -> str:
        return rank(decision_table(rulebook, answers, other, costs)[1])[0]

    steps, measured = next_steps(rulebook, winner, fired, plain, evidence, METHOD_LABELS.get(method or "lora", ""),
                                 answers, labels, doubts, winner_with, costs)
    labels_needed = dict(costs.assumptions["labels"]) if costs is not None else {}
    return Recommendation(
        winner=winner,
        winner_label=labels[winner],
        method=method,
        method_label=METHOD_LABELS.get(method) if method else None,
        confidence=level_of(p_win),
        confidence_score=p_win,
        margin=round(margin, 3),
        strategies=scores,
        fired=[_fired(r) for r in fired],
        risks=_unique(r.risk for r in fired if r.risk and concerns(r, winner)),
        next_steps=steps,
        evidence_used=evidence_used,
        evidence_changed=_evidence_changed(fired, order, answer_order),
        answer_only_winner=answer_order[0],
        answer_only_winner_label=labels[answer_order[0]],
        confidence_notes=notes,
        top_reasons=_top_reasons(fired, order),
        costs=costs,
        groups={name: {"label": rulebook.groups.get(name, {}).get("label", name),
                       "cap": None if math.isinf(g["cap"]) else g["cap"], "rules": g["rules"],
                       "raw": g["raw"], "total": g["total"], "evidence": g["evidence"]}
                for name, g in groups.items()},
        probabilities=probs,
        winner_probability=p_win,
        simulation={"draws": DRAWS, "seed": SEED},
        path=path_of(winner, labels, answers, costs, excluded, labels_needed),
        measurements=measured,
        doubts=doubts,
    )


def _twelve_months(costs: CostEstimate | None) -> dict[str, float]:
    if costs is None:
        return {}
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
                    fired: list[Rule], probs: dict[str, float], costs: CostEstimate | None) -> StrategyScore:
    row = table[s]
    cost = next((c for c in costs.strategies if c.strategy == s), None) if costs is not None else None
    placed = {} if cost is None else {
        "deployment": cost.deployment, "deployment_label": cost.deployment_label,
        "deployment_reason": cost.deployment_reason, "needs_one_off": round(cost.one_off, 2),
        "needs_monthly": round(cost.monthly, 2),
        "within_budget": cost.within_one_off_budget and cost.within_monthly_budget}
    return StrategyScore(
        probability=probs.get(s, 0.0), **placed,
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


def _evidence_changed(fired: list[Rule], order: list[str], answer_order: list[str]) -> list[str]:
    """Evidence rules that moved a strategy, when evidence changed the ranking's top."""
    if order[0] == answer_order[0]:
        return []
    moved = {order[0], answer_order[0]}
    return [r.id for r in fired if r.uses_evidence and (moved & (set(r.effect) | set(r.exclude)))]


def _unique(items: Any) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
