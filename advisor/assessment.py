"""One assessment, end to end: answers → probes → evidence → decision → store → report.

Data flows one way. The assessment row is stored first; the probes record their runs as they go; the
decision is stored; then the report is rendered from what the store holds (:func:`document_from_store`),
so ``advisor report N`` later renders the very same document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, Field

from advisor import __version__
from advisor.intake.answers import Answers, answers_as_plain
from advisor.costs.models import CostAssumptions
from advisor.costs.estimate import estimate_costs, load_cost_assumptions
from advisor.errors import StoreError
from advisor.evidence.evidence_set import EvidenceSet
from advisor.evidence.orchestrate import Inputs, gather
from advisor.probes.common.base import ProbeResult
from advisor.decision.recommend import Recommendation, recommend
from advisor.report.render import render
from advisor.decision.rulebook import Rulebook, load_rulebook
from advisor.decision.sensitivity import flips
from advisor.decision.simulation import unobtained
from advisor.sentences import say


class ReportDocument(BaseModel):
    """Everything a report shows (also what ``--format json`` writes)."""

    id: int | None = None
    project_name: str
    created_at: str
    advisor_version: str
    rulebook_hash: str
    command: str
    answers: dict[str, Any]
    recommendation: Recommendation
    probe_results: list[ProbeResult] = Field(default_factory=list)


@dataclass
class Outcome:
    """What an assessment produced; ``store_error`` is set when saving failed after the decision."""

    document: ReportDocument
    report_path: Path | None = None
    store_error: str | None = None
    warnings: list[str] = field(default_factory=list)


def timestamp(moment: datetime) -> str:
    """How a report states when an assessment was made (UTC, to the second)."""
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def measured_models(evidence: EvidenceSet) -> dict[str, str]:
    """The model each probe's figures come from (the generator of an open-book check, else the probe's model)."""
    out = {}
    for result in evidence.results:
        summary = result.summary or {}
        model = (summary.get("open_book") or {}).get("model") or summary.get("model")
        if model:
            out[result.probe] = str(model)
        if summary.get("embedder"):  # chunk sizes are counted in the embedder's tokens
            out[f"{result.probe}:embedder"] = str(summary["embedder"])
    return out


def decide(rulebook: Rulebook, answers: Answers, evidence: EvidenceSet,
           costs: CostAssumptions | None = None) -> Recommendation:
    """The recommendation: the measurements read by provenance and strength (advisor/evidence/interpret.py), the
    costs at the stated volume, then the ranking, with sensitivity, the decision matrix and the probe
    bookkeeping."""
    from advisor.evidence.interpret import decision_facts

    facts, reading = decision_facts(evidence)
    assumptions = costs or load_cost_assumptions()
    estimate = estimate_costs(answers, facts, assumptions, measured_models(evidence))
    # evidence asked for and not obtained: the confidence counts what it could have said
    missing = [s.probe for s in evidence.skipped if s.kind == "budget"] + [f.probe for f in evidence.failures]
    rec = recommend(rulebook, answers, facts, evidence.thin, costs=estimate, missing_probes=missing)
    rec.sensitivity = flips(rulebook, answers, facts, assumptions=assumptions)
    rec.skipped_probes = list(evidence.skipped)
    rec.probe_failures = list(evidence.failures)
    rec.matrix = {name: meta["matrix"] for name, meta in rulebook.strategies.items()}
    rec.costs = estimate
    rec.evidence_sources = [s.model_dump(mode="json") for s in reading.sources]
    # a measured figure in the costs counts; the k a prompt is priced with is a setting, not a measurement
    priced = {fact for fact in estimate.measured.values() if not fact.endswith(".best_k")}
    rec.evidence_notes = list(reading.notes) + uncounted(rulebook, answers, evidence, priced)
    counted = [probe for probe, _ in unobtained(missing, answers, facts)]
    if counted:
        rec.evidence_notes.append(say(
            "Evidence you asked for is missing ({probes}): the probabilities above count each of its plausible "
            "outcomes as equally likely; a finished run would replace them with a measurement.",
            probes=", ".join(counted)))
    return rec


def uncounted(rulebook: Rulebook, answers: Answers, evidence: EvidenceSet, priced: set[str] = frozenset()) -> list[str]:
    """One sentence per probe that measured something yet did not count: the decision's evidence rules fire the
    same without it (its intervals too wide, or only the probe model measured) and no cost figure (``priced``:
    the facts the cost model used) comes from it. Probes that ran out of time or
    failed are listed by the report from ``skipped_probes`` and ``probe_failures``."""
    from advisor.decision.recommend import build_facts, fire
    from advisor.evidence.interpret import decision_facts

    plain = answers_as_plain(answers)

    def fired(results: list[ProbeResult]) -> set[str]:
        facts, _ = decision_facts(EvidenceSet(results=results))
        return {rule.id for rule in fire(rulebook, build_facts(plain, facts)) if rule.uses_evidence}

    every = fired(evidence.results)
    probes = {r.probe for r in evidence.results}
    notes = []
    for result in evidence.results:
        namespace = result.probe.replace("-", "_") + "."
        if any(f.startswith(namespace) for f in priced) or fired([r for r in evidence.results if r is not result]) != every:
            continue  # it moved a rule or a cost
        summary, ev = result.summary or {}, dict(result.evidence)
        if result.probe == "few-shot" and summary.get("model_role") == "proxy" and "target-few-shot" not in probes:
            notes.append(say("The few-shot probe did not count: it measured only the probe model {model}, which is "
                             "evidence about the data, not about your model's quality, and that evidence fired no "
                             "rule; point --target at your model to measure it.", model=summary.get("model", "?")))
            continue
        if ev.get("ci_halfwidth") is not None and ev.get("eval_size"):
            notes.append(say("The {probe} probe did not count: its measurements were too weak to fire any rule "
                             "(±{points:.0f} points on {n} examples); their {level} intervals are too wide or "
                             "straddle the rules' thresholds.", probe=result.probe,
                             points=100 * ev["ci_halfwidth"], n=ev["eval_size"], level="95%"))
        else:
            notes.append(say("The {probe} probe did not count: its measurements were too weak to fire any rule; "
                             "their {level} intervals are too wide or straddle the rules' thresholds.",
                             probe=result.probe, level="95%"))
    return notes


def assess(
    answers: Answers,
    *,
    store: Any,
    command: str,
    inputs: Inputs | None = None,
    rulebook: Rulebook | None = None,
    costs: CostAssumptions | None = None,
    artifacts_root: Path | None = None,
    out: Path | None = None,
    fmt: str = "md",
    templates: Path | None = None,
    lang: str = "en",
    echo: Callable[[str], None] = print,
    defaulted: list[str] | None = None,
) -> Outcome:
    """Run one assessment: the probes ``inputs`` allow (none if ``None``), the decision, the report.

    ``rulebook`` and ``costs`` default to the built-in ones; probe artifacts go to
    ``artifacts_root/assessment-N``; ``defaulted`` names the answers that took their default. A store failure after the decision still writes the report
    and is reported in ``store_error``.
    """
    rulebook = rulebook or load_rulebook()
    created = datetime.now(timezone.utc).replace(microsecond=0)
    assessment_id = store.add_assessment(answers.project_name, answers_as_plain(answers), rulebook.hash,
                                         __version__, command, created_at=created)
    evidence = EvidenceSet()
    if inputs is not None:
        artifacts = artifacts_root / f"assessment-{assessment_id}" if artifacts_root else None
        evidence = gather(answers, inputs, store, assessment_id, artifacts, echo=echo)
    recommendation = decide(rulebook, answers, evidence, costs)
    recommendation.defaulted_answers = list(defaulted or [])
    document = ReportDocument(
        id=assessment_id, project_name=answers.project_name, created_at=timestamp(created),
        advisor_version=__version__, rulebook_hash=rulebook.hash, command=command,
        answers=answers_as_plain(answers), recommendation=recommendation, probe_results=evidence.results)
    outcome = Outcome(document=document)
    try:
        store.save_recommendation(assessment_id, recommendation.model_dump(mode="json"))
        outcome.document = document_from_store(store, assessment_id) or document
    except Exception as exc:  # a database failure must not lose the decision: the report is still written
        failure = store.failure(exc, "saving the recommendation") if hasattr(store, "failure") else exc
        outcome.store_error = str(failure) if isinstance(failure, StoreError) else (
            f"{store.path}: saving the recommendation failed ({type(exc).__name__}: {exc})")
    outcome.report_path = write_report(outcome, fmt, out, templates, lang)
    return outcome


def write_report(outcome: Outcome, fmt: str, out: Path | None, templates: Path | None, lang: str) -> Path:
    """Render the report; when the store already failed and the report cannot be written where asked, the
    default path in the current folder is tried, and the one error says both."""
    from advisor.errors import AdvisorError
    from advisor.report.render import default_report_path

    doc = outcome.document.model_dump(mode="json")
    try:
        return render(doc, fmt, out, templates, lang)
    except AdvisorError as exc:
        fallback = default_report_path(outcome.document.project_name, fmt)
        if outcome.store_error is None or out is None or Path(str(out)) == fallback:
            raise
        try:
            return render(doc, fmt, fallback, templates, lang)
        except AdvisorError:
            raise StoreError(f"{outcome.store_error} The report could not be written either ({exc}).") from None


def stored_document(store: Any, assessment_id: int) -> ReportDocument:
    """:func:`document_from_store`, or one error saying whether the assessment is missing or undecided."""
    from advisor.errors import InputError

    document = document_from_store(store, assessment_id)
    if document is not None:
        return document
    if store.assessment(assessment_id) is None:
        raise InputError(f"assessment {assessment_id} not found in {store.path}; `advisor history` lists the "
                         "assessments")
    raise InputError(f"assessment {assessment_id} in {store.path} has no recommendation (it was interrupted before "
                     "deciding); run `advisor assess` again")


def document_from_store(store: Any, assessment_id: int) -> ReportDocument | None:
    """The report document of a stored assessment, from what the store holds, without asking again."""
    data = store.assessment(assessment_id)
    if data is None or data["recommendation"] is None:
        return None
    results = []
    for run in data["probe_runs"]:
        if run["status"] in ("done", "partial", "interrupted"):
            loaded = store.load_probe_result(run["id"])
            if loaded is not None:
                result = ProbeResult.model_validate(loaded)
                if result.status == "empty":  # measured nothing: listed among the probes not measured
                    continue
                result.run_id = run["id"]
                if run.get("reused"):
                    result.notes.append(f"reused stored run #{run['id']} (same data, model and config; "
                                        "--force re-runs)")
                results.append(result)
    created = data["created_at"]
    if isinstance(created, datetime):
        created = timestamp(created.replace(tzinfo=timezone.utc))
    return ReportDocument(
        id=data["id"], project_name=data["project_name"], created_at=str(created),
        advisor_version=data["advisor_version"], rulebook_hash=data["rulebook_hash"], command=data["command"],
        answers=data["answers"], recommendation=Recommendation.model_validate(data["recommendation"]),
        probe_results=results)
