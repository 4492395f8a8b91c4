"""The recommendation: scores, capped decision factors, constraints, confidence."""

import pytest

from advisor.intake.answers import Answers
from advisor.decision.recommend import recommend
from advisor.decision.rulebook import load_rulebook
from advisor.decision.sensitivity import flips
from tests.helpers import BASE_ANSWERS, FIXTURE_RULES

FIXTURE = FIXTURE_RULES


@pytest.fixture(scope="module")
def book():
    return load_rulebook(FIXTURE)


def answers(**kw):
    return Answers.model_validate({**BASE_ANSWERS, **kw})


def test_scores_add_up_and_rank(book):
    rec = recommend(book, answers(has_corpus=True, corpus_change="daily", labeled_examples=5000))
    scores = {s.strategy: s.score for s in rec.strategies}
    assert scores == {"rag": 3, "rag_prompt": 2, "fine_tuning": 2, "prompt_engineering": 0, "rag_fine_tuning": 0}
    assert rec.winner == "rag" and [s.rank for s in rec.strategies] == [1, 2, 3, 4, 5]
    assert {f.id for f in rec.fired} == {"corpus-changes", "many-labels"}
    assert rec.margin == 1
    assert rec.top_reasons == ["corpus-changes"]
    assert "Retrieval quality decides answer quality." in rec.risks


def test_method_vote_and_next_step_placeholders(book):
    rec = recommend(book, answers(labeled_examples=5000))
    assert rec.winner == "fine_tuning" and rec.method == "full"
    # {eval_size}: examples for a ±5-point interval; at an unmeasured 50% accuracy that is 385
    assert "Hold out 385 examples." in rec.next_steps
    assert all("{" not in step for step in rec.next_steps)
    measured = recommend(book, answers(labeled_examples=5000), {"target-few-shot": {"best_accuracy": 0.9}})
    assert any("139" in step for step in measured.next_steps)  # 1.96² x 0.9 x 0.1 / 0.05² = 138.3
    # the probe model's accuracy says nothing about the team's model: it never sizes the evaluation set
    proxy = recommend(book, answers(labeled_examples=5000), {"few-shot": {"best_accuracy": 0.9, "best_k": 2}})
    assert any("385" in step for step in proxy.next_steps) and not any("139" in step for step in proxy.next_steps)


def test_exclusion_ranks_last_whatever_the_score(book):
    rec = recommend(book, answers(labeled_examples=5000, data_may_leave=False, compute_access="none"))
    ft = next(s for s in rec.strategies if s.strategy == "fine_tuning")
    assert ft.excluded and ft.score == 4 and "no compute" in ft.exclusion_reason and ft.probability == 0
    flags = [s.excluded for s in rec.strategies]
    assert flags == sorted(flags)  # every strategy left standing ranks before every excluded one
    assert rec.winner != "fine_tuning"


def test_evidence_score_is_separate_and_can_flip_the_winner(book):
    base = answers(has_corpus=True, corpus_change="daily")
    without = recommend(book, base)
    with_ev = recommend(book, base, {"few-shot": {"best_accuracy": 0.95}})
    assert without.winner == "rag" and not without.evidence_changed
    assert with_ev.winner == "prompt_engineering"
    pe = next(s for s in with_ev.strategies if s.strategy == "prompt_engineering")
    assert (pe.answer_score, pe.evidence_score) == (0, 6)
    assert with_ev.answer_only_winner == "rag"
    assert set(with_ev.evidence_changed) == {"few-shot-strong", "few-shot-not-weak"}


def test_confidence_is_the_winners_probability_and_grows_with_its_margin(book):
    """Margin 1 over RAG vs 3 points: the simulated rule weights leave the close call uncertain, not the clear one."""
    close = recommend(book, answers(has_corpus=True, corpus_change="daily", labeled_examples=1000),
                      {"few-shot": {"best_accuracy": 0.6}})
    clear = recommend(book, answers(has_corpus=True, corpus_change="daily", labeled_examples=1000),
                      {"few-shot": {"best_accuracy": 0.95}})
    assert (close.margin, clear.margin) == (1, 3)
    assert close.confidence_score == close.probabilities[close.winner] < clear.confidence_score
    assert close.confidence in ("low", "medium")
    assert sum(close.probabilities.values()) == pytest.approx(1)
    no_evidence = recommend(book, answers(has_corpus=True, corpus_change="daily"))
    assert "Based on answers only: no probe measurement was firm enough to count." in no_evidence.confidence_notes
    thin = recommend(book, answers(), {"few-shot": {"best_accuracy": 0.95}}, ["CI too wide"])
    assert "CI too wide" in thin.confidence_notes and not thin.confidence_notes[0].startswith("Too close")


def test_sensitivity_finds_the_nearest_flip(book):
    result = flips(book, answers(labeled_examples=300), None)
    by_field = {f["field"]: f for f in result}
    assert by_field["labeled_examples"]["value"] == 1000
    assert by_field["labeled_examples"]["winner"] == "fine_tuning"
    assert by_field["labeled_examples"]["text"].startswith("with labeled examples at least 1,000 (now 300)")
    assert "data_may_leave" not in by_field  # flipping it alone changes nothing


def test_sensitivity_on_evidence(book):
    result = flips(book, answers(has_corpus=True, corpus_change="daily"), {"few-shot": {"best_accuracy": 0.5}})
    ev = [f for f in result if f["kind"] == "evidence"]
    assert ev and ev[0]["field"] == "few_shot.best_accuracy" and ev[0]["value"] == 0.9
