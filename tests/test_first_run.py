"""A newcomer's first run on their own many-label data: the answers reach every probe, and the executive summary
says, one bullet per probe, why a probe did not count (out of time, failed, too weak, probe model only)."""

from __future__ import annotations

import json

import duckdb
from click.testing import CliRunner

from advisor.cli import cli
from advisor.evidence.evidence_set import EvidenceSet, ProbeFailure, SkippedProbe
from advisor.probes.common.base import ProbeResult
from benchmarks.many_labels import make_intents


def executive_summary(report: str) -> str:
    return report.split("## Strategy ranking")[0]


def test_many_labels_answered_as_classification_reach_few_shot_and_lora(tmp_path, tiny_lm_path, answers_file, db_path):
    """60 intents: more classes than the data loader calls classes on its own; the answers say classification,
    so the LoRA trial runs instead of failing on "free text" labels."""
    data = make_intents(tmp_path / "intents.jsonl", intents=60, per_intent=3)
    args = ["assess", "--no-input", "--answers", answers_file(task_type="classification", labeled_examples=180),
            "--data", data, "--probes", "few-shot,lora", "--model", tiny_lm_path, "--eval-size", "10",
            "--budget", "10m", "--out", tmp_path / "r.md"]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "free text" not in result.output and "failed" not in result.output
    con = duckdb.connect(str(db_path), read_only=True)
    runs = {p: (s, json.loads(r)) for p, s, r in con.execute("SELECT probe, status, result FROM probe_runs").fetchall()}
    con.close()
    assert set(runs) == {"few-shot", "lora"} and {s for s, _ in runs.values()} <= {"done", "partial"}
    assert runs["few-shot"][1]["evidence"]["n_labels"] == 60 and runs["few-shot"][1]["evidence"]["task"] == \
        "classification"
    summary = executive_summary((tmp_path / "r.md").read_text())
    decision = json.loads(CliRunner().invoke(cli, ["show", "1", "--json"]).output)
    fired = [f["id"] for f in decision["recommendation"]["fired"] if f["uses_evidence"]]
    if not fired:  # "based on answers only" must say why each probe that ran did not count
        assert "Based on answers only" in summary
        assert "The few-shot probe did not count" in summary and "The lora probe did not count" in summary


def _document(monkeypatch, tmp_path, evidence: EvidenceSet, lang: str = "en") -> str:
    """An assessment through the real flow (decision, store, report from the store) with ``evidence`` as what
    the probes gathered."""
    from advisor import assessment
    from advisor.evidence.orchestrate import Inputs
    from advisor.intake.answers import Answers
    from advisor.report.render import render
    from advisor.store.database import Store
    from tests.helpers import BASE_ANSWERS

    monkeypatch.setattr(assessment, "gather", lambda *a, **kw: evidence)
    with Store(tmp_path / "db.duckdb") as store:
        outcome = assessment.assess(Answers.model_validate(BASE_ANSWERS), store=store, command="advisor assess",
                                    inputs=Inputs(files={}), out=tmp_path / "r.md")
        if lang != "en":
            render(outcome.document.model_dump(mode="json"), "md", tmp_path / f"r.{lang}.md", None, lang)
            return (tmp_path / f"r.{lang}.md").read_text()
    return outcome.report_path.read_text()


def _few_shot(role: str, accuracy: float, n: int) -> ProbeResult:
    probe = "few-shot" if role == "proxy" else "target-few-shot"
    half = 0.5 * 1.96 * (accuracy * (1 - accuracy) / n) ** 0.5
    return ProbeResult(probe=probe, status="partial",
                       evidence={"task": "classification", "best_accuracy": accuracy, "best_k": 0, "eval_size": n,
                                 "ci_halfwidth": half, "n_labels": 60, "chance_accuracy": 0.05, "seed_spread": 0.0,
                                 "seed_range": 0.0, "complete": False},
                       summary={"model": "smollm2-135m" if role == "proxy" else "team-model", "model_role": role})


def test_the_executive_summary_lists_each_probe_that_did_not_count_and_why(monkeypatch, tmp_path):
    evidence = EvidenceSet(
        results=[_few_shot("proxy", 0.1, 30)],
        skipped=[SkippedProbe(probe="rag", command="advisor probe rag", reason=(
                     "not measured within its 84s share of the budget; about 255s would measure its first point "
                     "(raise --budget)")),
                 SkippedProbe(probe="domain", command="advisor probe domain", reason=(
                     "not run: the probes before it used the whole time budget (raise --budget)")),
                 SkippedProbe(probe="prompt", command="advisor probe prompt", reason="not selected with --probes")],
        failures=[ProbeFailure(probe="lora", error="--data d.jsonl: the labels are unusable.")])
    summary = executive_summary(_document(monkeypatch, tmp_path, evidence))
    bullets = [line for line in summary.splitlines() if "did not count" in line]
    assert len(bullets) == 4, summary
    assert "- The rag probe did not count, it ran out of time: not measured within its 84s share" in summary
    assert "about 255s would measure its first point" in summary
    assert "- The domain probe did not count, it ran out of time: not run: the probes before it" in summary
    assert "- The lora probe did not count, it failed: --data d.jsonl: the labels are unusable." in summary
    assert "- The few-shot probe did not count: it measured only the probe model smollm2-135m, which is evidence about the data" in summary
    assert "prompt probe did not count" not in summary  # left out on purpose, listed further down
    assert "Based on answers only" in summary
    french = executive_summary(_document(monkeypatch, tmp_path / "fr", evidence, "fr").split("## Classement")[0])
    assert "La sonde rag n’a pas compté, faute de temps" in french and "La sonde lora n’a pas compté, elle a échoué" \
        in french


def test_a_measurement_too_weak_to_fire_a_rule_is_said_so(monkeypatch, tmp_path):
    evidence = EvidenceSet(results=[_few_shot("target", 0.5, 12)])
    summary = executive_summary(_document(monkeypatch, tmp_path, evidence))
    assert "- The target-few-shot probe did not count: its measurements were too weak to fire any rule " \
           "(±14 points on 12 examples)" in summary
