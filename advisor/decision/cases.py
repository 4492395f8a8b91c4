"""Published cases: a team's situation as answers (plus any measurements), the outcome the team reached, and
the source. The regression test (tests/test_scenarios.py) and ``benchmarks/decision_quality.py`` run the whole
decision on each — probe evidence read by provenance, costs at the stated volume, constraints — and compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from advisor.evidence.evidence_set import EvidenceSet
from advisor.intake.answers import Answers
from advisor.user_yaml import safe_load


class Outcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    winner: str
    method: str | None = None


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case: str
    source: str = Field(min_length=10)
    #: when the source was published (YYYY or YYYY-MM)
    date: str = Field(pattern=r"^(19|20)\d\d(-[01]\d)?$")
    outcome: Outcome
    why: str = Field(min_length=20)
    answers: Answers
    #: probe results as stored: {probe: {fact: value, ..., summary: {...}}}
    evidence: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: a known disagreement: what advisor recommends instead, and why (docs/decision-quality.md discusses it)
    known_miss: dict[str, str] | None = None


def load_case(path: Path) -> Case:
    return Case.model_validate(safe_load(Path(path).read_text(encoding="utf-8")))


def evidence_of(evidence: dict[str, dict[str, Any]]) -> EvidenceSet:
    """A case's evidence block ({probe: {fact: value, ..., summary: {...}}}) as an assessment's evidence."""
    out = []
    for probe, facts in evidence.items():
        facts = dict(facts)
        summary = facts.pop("summary", {})
        out.append({"probe": probe, "evidence": facts, "summary": summary})
    return EvidenceSet(results=out)


def decide_case(case: Case, rulebook: Any = None) -> Any:
    """The recommendation for a case: the same path as an assessment (interpretation, costs, constraints)."""
    from advisor.costs.estimate import estimate_costs, load_cost_assumptions
    from advisor.evidence.interpret import decision_facts
    from advisor.decision.recommend import recommend
    from advisor.decision.rulebook import load_rulebook

    rulebook = rulebook or load_rulebook()
    facts, reading = decision_facts(evidence_of(case.evidence))
    costs = estimate_costs(case.answers, facts, load_cost_assumptions())
    rec = recommend(rulebook, case.answers, facts, costs=costs)
    rec.evidence_notes = reading.notes
    rec.evidence_sources = [source.model_dump(mode="json") for source in reading.sources]
    return rec
