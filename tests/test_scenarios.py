"""Hand-written scenarios: realistic answers files, each with the outcome the built-in rulebook must reach.

Expectations live in ``scenarios/expected.yaml``: file name → ``winner``, optional ``method``, optional
``not`` (strategies that must not win) and optional ``evidence`` ({probe: {fact: value}}).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from advisor.answers import Answers
from advisor.recommend import recommend
from advisor.rulebook import STRATEGIES, load_rulebook

SCENARIOS = Path(__file__).parent / "scenarios"
EXPECTED = yaml.safe_load((SCENARIOS / "expected.yaml").read_text(encoding="utf-8"))
FILES = sorted(p.name for p in SCENARIOS.glob("*.yaml") if p.name != "expected.yaml")


@pytest.fixture(scope="module")
def rulebook():
    return load_rulebook()


def load_answers(name: str) -> Answers:
    return Answers.model_validate(yaml.safe_load((SCENARIOS / name).read_text(encoding="utf-8")))


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
    """Same answers; strong, significant LoRA evidence moves the decision from prompting to fine-tuning."""
    plain, with_evidence = "ticket_routing.yaml", "ticket_routing_lora_evidence.yaml"
    assert load_answers(plain) == load_answers(with_evidence)
    before = recommend(rulebook, load_answers(plain))
    after = recommend(rulebook, load_answers(with_evidence), EXPECTED[with_evidence]["evidence"])
    assert before.winner == "prompt_engineering" and not before.evidence_changed
    assert after.winner == "fine_tuning"
    assert after.answer_only_winner == "prompt_engineering"
    assert after.evidence_changed, "the report must name the evidence rules that changed the decision"
    assert "ev-lora-large-significant-gain" in after.evidence_changed


def test_weak_lora_evidence_does_not_flip(rulebook):
    """A small, non-significant LoRA gain must not overturn the answers on its own."""
    evidence = {"lora": {"gain_over_few_shot": 0.04, "significant": False, "p_value": 0.3}}
    rec = recommend(rulebook, load_answers("ticket_routing.yaml"), evidence)
    assert rec.winner == "prompt_engineering"


def test_significance_against_zero_shot_is_not_a_gain_over_prompting(rulebook):
    """When the LoRA probe had no per-example few-shot results, its significance test is against zero-shot."""
    evidence = {"lora": {"gain_over_few_shot": 0.12, "significant": True, "baseline": "zero-shot"}}
    rec = recommend(rulebook, load_answers("ticket_routing.yaml"), evidence)
    assert "ev-lora-large-significant-gain" not in {f.id for f in rec.fired}


def test_proxy_retrieval_evidence_counts_less(rulebook):
    answers = load_answers("technician_manual_lookup.yaml")
    real = recommend(rulebook, answers, {"rag": {"proxy": False, "dense_hit_at_5": 0.9}})
    proxy = recommend(rulebook, answers, {"rag": {"proxy": True, "dense_hit_at_5": 0.9}})
    score = lambda rec: next(s.evidence_score for s in rec.strategies if s.strategy == "rag")  # noqa: E731
    assert score(real) > score(proxy) > 0


def test_missing_evidence_fires_no_evidence_rule(rulebook):
    rec = recommend(rulebook, load_answers("ticket_routing.yaml"), None)
    assert not any(f.uses_evidence for f in rec.fired)
