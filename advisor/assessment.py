"""One assessment, end to end: answers → rules → probes → evidence → recommendation → store → report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from advisor import __version__
from advisor.answers import Answers, answers_as_plain
from advisor.errors import StoreError
from advisor.recommend import recommend
from advisor.report import make_document, render
from advisor.rulebook import Rulebook, load_rulebook
from advisor.sensitivity import flips


@dataclass
class Outcome:
    """What an assessment produced; ``store_error`` is set when saving failed after the decision."""

    document: dict[str, Any]
    report_path: Path | None = None
    store_error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Evidence:
    """Probe results gathered for an assessment (see :mod:`advisor.orchestrate`)."""

    results: list[Any] = field(default_factory=list)  # ProbeResult objects
    skipped: list[dict[str, str]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    thin: list[str] = field(default_factory=list)

    def facts(self) -> dict[str, dict[str, Any]]:
        return {r.probe: dict(r.evidence) for r in self.results}


def decide(rulebook: Rulebook, answers: Answers, evidence: Evidence, costs: Any = None) -> dict[str, Any]:
    """The recommendation, with sensitivity, costs and the probe bookkeeping, as plain data.
    ``costs``: loaded cost assumptions (default: the built-in ones)."""
    from advisor.costs import estimate_costs, load_cost_assumptions

    facts = evidence.facts()
    rec = recommend(rulebook, answers, facts, evidence.thin)
    rec.sensitivity = flips(rulebook, answers, facts)
    rec.skipped_probes = evidence.skipped
    rec.probe_failures = evidence.failures
    data = rec.model_dump(mode="json")
    data["matrix"] = {name: meta["matrix"] for name, meta in rulebook.strategies.items()}
    data["costs"] = estimate_costs(answers, facts, costs or load_cost_assumptions()).model_dump(mode="json")
    return data


def assess(
    answers: Answers,
    *,
    store: Any,
    command: str,
    rulebook: Rulebook | None = None,
    costs: Any = None,
    gather: Any = None,
    out: Path | None = None,
    fmt: str = "md",
    templates: Path | None = None,
) -> Outcome:
    """Run one assessment. ``gather(assessment_id) -> Evidence`` runs the probes (none if ``None``);
    ``rulebook`` and ``costs`` default to the built-in ones.

    The assessment row is written before probes run, so nothing is lost if they fail; a store
    failure after the decision still writes the report and is reported in ``store_error``.
    """
    rulebook = rulebook or load_rulebook()
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    assessment_id = store.add_assessment(answers.project_name, answers_as_plain(answers), rulebook.hash,
                                         __version__, command)
    evidence = gather(assessment_id) if gather else Evidence()
    recommendation = decide(rulebook, answers, evidence, costs)
    outcome = Outcome(document=make_document(
        answers, recommendation, assessment_id=assessment_id, created_at=created, version=__version__,
        rulebook_hash=rulebook.hash, command=command,
        probe_results=[r.model_dump(mode="json") for r in evidence.results],
    ))
    try:
        store.save_recommendation(assessment_id, recommendation)
    except StoreError as exc:
        outcome.store_error = str(exc)
    except Exception as exc:  # a database failure must not lose the report
        outcome.store_error = f"{store.path}: saving the recommendation failed ({exc}); the report was still written"
    outcome.report_path = render(outcome.document, fmt, out, templates)
    return outcome


def document_from_store(store: Any, assessment_id: int) -> dict[str, Any] | None:
    """Rebuild the report document of a stored assessment, without asking anything again."""
    data = store.assessment(assessment_id)
    if data is None or data["recommendation"] is None:
        return None
    results = []
    for run in data["probe_runs"]:
        if run["status"] in ("done", "partial", "interrupted"):
            loaded = store.load_probe_result(run["id"])
            if loaded is not None:
                results.append(loaded)
    answers = Answers.model_validate(data["answers"])
    return make_document(
        answers, data["recommendation"], assessment_id=data["id"], created_at=str(data["created_at"]),
        version=data["advisor_version"], rulebook_hash=data["rulebook_hash"], command=data["command"],
        probe_results=results,
    )
