"""Scenarios the built-in rulebook must get right, through the whole decision (evidence read by provenance
and strength, costs at the stated volume, hard constraints).

``scenarios/published/``: cases teams or papers published, one file each (source, situation as answers, the
outcome reached, why); docs/decision-quality.md discusses them. ``scenarios/*.yaml``: hand-written situations
with expectations in ``scenarios/expected.yaml`` (``winner``, optional ``method``, ``not`` and ``evidence``
as stored probe results: {probe: {fact: value, summary: {...}}}).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from advisor.intake.answers import Answers
from advisor.decision.cases import Case, decide_case, load_case
from advisor.decision.rulebook import STRATEGIES, load_rulebook

SCENARIOS = Path(__file__).parent / "scenarios"
#: the published cases, split once (seeded, by outcome) before any weight was tuned: weights are tuned on
#: ``tuning/`` only; ``test/`` is measured as it comes (docs/decision-quality.md)
TUNING = sorted((SCENARIOS / "published" / "tuning").glob("*.yaml"))
HELD_OUT = sorted((SCENARIOS / "published" / "test").glob("*.yaml"))
PUBLISHED = TUNING + HELD_OUT
EXPECTED = yaml.safe_load((SCENARIOS / "expected.yaml").read_text(encoding="utf-8"))
FILES = sorted(p.name for p in SCENARIOS.glob("*.yaml") if p.name != "expected.yaml")


@pytest.fixture(scope="module")
def rulebook():
    return load_rulebook()


def load_answers(name: str) -> Answers:
    return Answers.model_validate(yaml.safe_load((SCENARIOS / name).read_text(encoding="utf-8")))


def recommend(rulebook, answers: Answers, evidence: dict | None = None):
    """The whole decision for answers and stored-shape probe evidence, as an assessment makes it."""
    case = Case(case="test", source="a hand-written scenario", date="2026", outcome={"winner": "rag"}, why="a test of the rulebook",
                answers=answers, evidence=evidence or {})
    return decide_case(case, rulebook)


def test_at_least_thirty_published_cases_covering_every_strategy():
    cases = [load_case(p) for p in PUBLISHED]
    assert len(cases) >= 30
    wins = Counter(c.outcome.winner for c in cases)
    assert all(wins[s] >= 3 for s in STRATEGIES), wins
    assert {c.outcome.method for c in cases} >= {"lora", "prompt_tuning", "preference_tuning"}
    assert len({c.case for c in cases}) == len(cases)  # a source may give two cases (few labels, many labels)


def test_the_split_is_fixed_and_balanced():
    """34 and 34, drawn once by outcome before any weight was tuned; a case is in one half only."""
    assert len(TUNING) >= 30 and len(HELD_OUT) >= 30
    assert not {p.name for p in TUNING} & {p.name for p in HELD_OUT}
    halves = [Counter(load_case(p).outcome.winner for p in half) for half in (TUNING, HELD_OUT)]
    assert all(abs(halves[0][s] - halves[1][s]) <= 1 for s in STRATEGIES), halves
    assert all(load_case(p).known_miss is None for p in HELD_OUT)  # the test half is measured, never annotated


#: the held-out half's agreement when the weights were last tuned (docs/decision-quality.md): a regression floor,
#: not a target: a change that lowers it must say why in the docs
HELD_OUT_FLOOR = 0.82


def test_the_held_out_half_agrees_at_least_as_documented(rulebook):
    agree = 0
    for path in HELD_OUT:
        case = load_case(path)
        rec = decide_case(case, rulebook)
        agree += rec.winner == case.outcome.winner and (case.outcome.method is None or rec.method == case.outcome.method)
    assert agree / len(HELD_OUT) >= HELD_OUT_FLOOR, f"{agree}/{len(HELD_OUT)}"


@pytest.mark.parametrize("path", TUNING, ids=[p.stem for p in TUNING])
def test_published_case(rulebook, path):
    case = load_case(path)
    rec = decide_case(case, rulebook)
    got = (rec.winner, rec.method if case.outcome.method else None)
    if case.known_miss:  # documented in docs/decision-quality.md; a change of outcome must update the doc
        assert rec.winner == case.known_miss["advisor"], f"{path.stem}: the known miss changed to {rec.winner}"
        return
    assert got == (case.outcome.winner, case.outcome.method), (
        f"{path.stem}: advisor says {got}, the team reached {case.outcome.winner} "
        f"({ {s.strategy: s.score for s in rec.strategies} })")


def test_every_scenario_has_expectations_and_a_story():
    assert len(FILES) >= 12
    assert sorted(EXPECTED) == FILES
    for name in FILES:
        first = (SCENARIOS / name).read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# "), f"{name}: start with a comment describing the situation"


@pytest.mark.parametrize("name", FILES)
def test_scenario_outcome(rulebook, name):
    expected = EXPECTED[name]
    rec = recommend(rulebook, load_answers(name), expected.get("evidence"))
    scores = {s.strategy: s.score for s in rec.strategies}
    assert rec.winner == expected["winner"], f"{name}: got {rec.winner}, scores {scores}"
    if "method" in expected:
        assert rec.method == expected["method"], f"{name}: method {rec.method}"
    assert rec.winner not in expected.get("not", [])
    for strategy in expected.get("not", []):
        assert strategy in STRATEGIES


def test_each_strategy_wins_at_least_two_scenarios():
    wins = Counter(e["winner"] for e in EXPECTED.values())
    assert all(wins[s] >= 2 for s in STRATEGIES), wins


def test_lora_evidence_flips_ticket_routing(rulebook):
    """Same answers; a competent probe model and a LoRA gain its paired interval supports move the decision
    from prompting to fine-tuning."""
    plain, with_evidence = "ticket_routing.yaml", "ticket_routing_lora_evidence.yaml"
    assert load_answers(plain) == load_answers(with_evidence)
    before = recommend(rulebook, load_answers(plain))
    after = recommend(rulebook, load_answers(with_evidence), EXPECTED[with_evidence]["evidence"])
    assert before.winner == "prompt_engineering" and not before.evidence_changed
    assert after.winner == "fine_tuning"
    assert after.answer_only_winner == "prompt_engineering"
    assert after.evidence_changed, "the report must name the evidence rules that changed the decision"
    assert "ev-tuning-beats-prompting" in after.evidence_changed


def _lora(n: int, tuned_only: int, base_only: int, base_acc: float, proxy_acc: float = 0.7) -> dict:
    return {"few-shot": {"best_accuracy": proxy_acc, "eval_size": n, "chance_accuracy": 0.2},
            "lora": {"best_accuracy": base_acc + (tuned_only - base_only) / n, "eval_size": n,
                     "summary": {"comparison": {"baseline": "few-shot", "n": n, "lora_only": tuned_only,
                                                "baseline_only": base_only, "baseline_accuracy": base_acc}}}}


def test_an_inconclusive_lora_gain_does_not_flip(rulebook):
    """+8 points on 25 paired examples: the interval spans zero, so no tuning rule fires and the report says
    how many examples would settle it."""
    rec = recommend(rulebook, load_answers("ticket_routing.yaml"), _lora(25, 4, 2, 0.6))
    assert rec.winner == "prompt_engineering"
    assert not any(f.id.startswith("ev-tuning") for f in rec.fired)
    assert any("inconclusive" in n and "would settle it" in n for n in rec.evidence_notes)


def test_a_tuned_model_below_its_baseline_is_reported_as_such(rulebook):
    rec = recommend(rulebook, load_answers("ticket_routing.yaml"), _lora(300, 5, 60, 0.7))
    fired = {f.id for f in rec.fired}
    assert {"ev-tuning-no-gain", "ev-tuning-below-baseline"} <= fired
    assert any("made the model worse" in n for n in rec.evidence_notes)


def test_an_incompetent_probe_model_gives_no_tuning_comparison(rulebook):
    """At chance, the probe model's prompt is no baseline: a LoRA gain over it says the labels are learnable,
    not that training beats prompting your production model."""
    evidence = _lora(300, 90, 5, 0.2, proxy_acc=0.2)
    rec = recommend(rulebook, load_answers("ticket_routing.yaml"), evidence)
    fired = {f.id for f in rec.fired}
    assert "ev-tuning-beats-prompting" not in fired and "ev-labels-learnable" in fired
    assert any("cannot do this task" in n for n in rec.evidence_notes)
    assert rec.winner == "prompt_engineering"


def test_significance_against_zero_shot_is_not_a_gain_over_prompting(rulebook):
    """When the LoRA probe compared with zero-shot (no per-example few-shot results), there is no tuning gain."""
    evidence = _lora(300, 90, 5, 0.6)
    evidence["lora"]["summary"]["comparison"]["baseline"] = "zero-shot"
    rec = recommend(rulebook, load_answers("ticket_routing.yaml"), evidence)
    assert not any(f.id.startswith("ev-tuning-") and "gain" in f.rationale for f in rec.fired)
    assert "ev-tuning-beats-prompting" not in {f.id for f in rec.fired}


def test_proxy_retrieval_evidence_counts_less(rulebook):
    answers = load_answers("technician_manual_lookup.yaml")
    real = recommend(rulebook, answers, {"rag": {"proxy": False, "dense_hit_at_5": 0.9, "n_queries": 200}})
    proxy = recommend(rulebook, answers, {"rag": {"proxy": True, "dense_hit_at_5": 0.9, "n_queries": 200}})
    score = lambda rec: next(s.evidence_score for s in rec.strategies if s.strategy == "rag")  # noqa: E731
    assert score(real) > score(proxy) > 0
    few = recommend(rulebook, answers, {"rag": {"proxy": False, "dense_hit_at_5": 0.9, "n_queries": 10}})
    assert score(few) == 0  # 9 of 10: the interval reaches below 0.75, so nothing fires


def test_missing_evidence_fires_no_evidence_rule(rulebook):
    rec = recommend(rulebook, load_answers("ticket_routing.yaml"), None)
    assert not any(f.uses_evidence for f in rec.fired)
