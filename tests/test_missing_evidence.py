"""Evidence that was asked for and not obtained (a probe out of time, or failed) counts in the confidence: the
simulation draws its plausible outcomes, the report says so, and a probe nobody asked for changes nothing."""

from __future__ import annotations

import pytest

from advisor.assessment import decide
from advisor.decision.rulebook import load_rulebook
from advisor.evidence.evidence_set import EvidenceSet, ProbeFailure, SkippedProbe
from advisor.intake.answers import Answers
from tests.helpers import BASE_ANSWERS, EXAMPLE


@pytest.fixture(scope="module")
def support_desk():
    from advisor.intake.collect import collect_answers

    return collect_answers(EXAMPLE / "answers.yaml").answers


def _out_of_time(probe: str) -> SkippedProbe:
    return SkippedProbe(probe=probe, kind="budget", command=f"advisor probe {probe}",
                        reason="not measured within its 40s share of the budget; about 90s would measure its "
                               "first point (raise --budget)")


@pytest.mark.parametrize("missing", [
    EvidenceSet(skipped=[_out_of_time("lora")]),
    EvidenceSet(failures=[ProbeFailure(probe="lora", error="--data d.jsonl: the labels are unusable.")]),
    EvidenceSet(failures=[ProbeFailure(probe="target-few-shot", error="--target-url: the server hung up.")]),
])
def test_a_wanted_measurement_that_could_flip_the_decision_lowers_the_winners_probability(support_desk, missing):
    rulebook = load_rulebook()
    settled = decide(rulebook, support_desk, EvidenceSet())
    unsure = decide(rulebook, support_desk, missing)
    assert unsure.winner == settled.winner  # the point decision is the same: nothing was measured either way
    assert unsure.winner_probability < settled.winner_probability - 0.03
    probe = (missing.skipped or missing.failures)[0].probe
    assert f"missing:{probe}" in [d["source"] for d in unsure.doubts]
    assert any(f"Evidence you asked for is missing ({probe})" in n for n in unsure.evidence_notes)
    assert not any("Evidence you asked for" in n for n in settled.evidence_notes)


def test_a_probe_nobody_asked_for_or_already_measured_changes_nothing(support_desk):
    rulebook = load_rulebook()
    settled = decide(rulebook, support_desk, EvidenceSet())
    not_asked = decide(rulebook, support_desk, EvidenceSet(skipped=[SkippedProbe(
        probe="lora", reason="not selected with --probes", command="advisor probe lora")]))
    assert not_asked.probabilities == settled.probabilities
    # a failed proxy few-shot run says nothing about the team's model: nothing to draw
    proxy = decide(rulebook, support_desk, EvidenceSet(failures=[ProbeFailure(probe="few-shot", error="x")]))
    assert proxy.probabilities == settled.probabilities


def test_the_missing_measurement_is_drawn_from_its_outcomes_not_from_one_of_them(support_desk):
    """Each plausible LoRA outcome alone gives a sharper answer than the mixture the missing run leaves."""
    from advisor.decision.recommend import recommend
    from advisor.decision.value_of_information import hypotheticals

    rulebook = load_rulebook()
    mixture = decide(rulebook, support_desk, EvidenceSet(skipped=[_out_of_time("lora")]))
    _step, outcomes = next(h for h in hypotheticals(support_desk, {}) if "tuning_gain" in str(h[1]))
    singles = [recommend(rulebook, support_desk, outcome).probabilities[mixture.winner] for outcome in outcomes]
    assert min(singles) < mixture.winner_probability < max(singles) + 1e-9


def test_the_report_says_the_confidence_counts_what_is_missing(monkeypatch, tmp_path):
    from tests.test_first_run import _document, executive_summary

    assert Answers.model_validate(BASE_ANSWERS).task_type == "classification"  # a run on the target could flip it
    report = _document(monkeypatch, tmp_path, EvidenceSet(failures=[ProbeFailure(
        probe="target-few-shot", error="--target-url http://x: the server did not answer")]))
    summary = executive_summary(report)
    assert "Evidence you asked for is missing (target-few-shot)" in summary
    french = _document(monkeypatch, tmp_path / "fr", EvidenceSet(failures=[ProbeFailure(
        probe="target-few-shot", error="--target-url http://x: the server did not answer")]), "fr")
    assert "Des mesures demandées manquent (target-few-shot)" in french


def test_unless_the_probe_model_is_shown_to_do_the_task_the_lora_step_asks_for_a_model_that_does(support_desk):
    """What tuning adds over prompting is measured only on a model shown to do the task by prompting: re-running the
    LoRA trial on a probe model that does not, or that is not shown to (the demo's SmolLM2), cannot measure it."""
    from advisor.decision.value_of_information import hypotheticals

    def lora_step(evidence):
        return next(step for step, outcomes in hypotheticals(support_desk, evidence) if "tuning_gain" in str(outcomes))

    for unshown in ({}, {"data": {"labels_learnable": True}}, {"data": {"proxy_competent": False}}):
        step = lora_step(unshown)
        assert "`advisor assess --model MODEL`" in step and "probe lora --data" not in step, unshown
    assert "`advisor probe lora --data FILE`" in lora_step({"data": {"proxy_competent": True}})
