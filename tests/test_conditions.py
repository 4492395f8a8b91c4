"""The rulebook's condition language: parsing, evaluation, and the errors it reports."""

import pytest

from advisor.decision.conditions import ConditionError, Facts, evaluate, parse_condition

ORD = {"corpus_change": ["static", "yearly", "monthly", "weekly", "daily", "realtime"]}


def ev(cond, **values):
    return evaluate(parse_condition(cond), Facts(values, ORD))


def test_comparisons():
    assert ev({"field": "n", "gte": 10}, n=10) is True
    assert ev({"field": "n", "gt": 10}, n=10) is False
    assert ev({"field": "n", "lt": 10}, n=3) is True
    assert ev({"field": "t", "in": ["a", "b"]}, t="b") is True
    assert ev({"field": "t", "not_in": ["a", "b"]}, t="b") is False
    assert ev({"field": "t", "ne": "a"}, t="b") is True
    assert ev({"field": "flag", "eq": False}, flag=False) is True


def test_ordinal_compares_by_rank_not_alphabet():
    # alphabetically "daily" < "monthly", by rank it is later
    assert ev({"field": "corpus_change", "gte": "weekly"}, corpus_change="daily") is True
    assert ev({"field": "corpus_change", "gte": "weekly"}, corpus_change="monthly") is False


def test_missing_evidence_is_unknown_even_under_not():
    cond = {"not": {"field": "few_shot.acc", "lt": 0.5}}
    assert ev(cond) is None
    assert ev(cond, **{"few_shot.acc": 0.7}) is True
    assert ev({"any": [{"field": "few_shot.acc", "gt": 0.5}, {"field": "n", "eq": 1}]}, n=1) is True
    assert ev({"all": [{"field": "few_shot.acc", "gt": 0.5}, {"field": "n", "eq": 1}]}, n=1) is None
    assert ev({"all": [{"field": "few_shot.acc", "gt": 0.5}, {"field": "n", "eq": 1}]}, n=2) is False
    assert ev({"field": "few_shot.acc", "exists": False}) is True


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"field": "n", "gtee": 1}, "unknown operator 'gtee'"),
        ({"field": "n", "gt": 1, "lt": 3}, "exactly one operator"),
        ({"all": []}, "non-empty list"),
        ({"all": [{"field": "n", "eq": 1}], "any": []}, "must stand alone"),
        ({"field": "n", "in": 3}, "must be a list"),
        ({"lambda": "x"}, "unknown condition keys"),
        ("n > 3", "must be a mapping"),
    ],
)
def test_malformed_conditions_are_rejected(bad, message):
    with pytest.raises(ConditionError, match=message):
        parse_condition(bad)


def test_comparing_two_fields():
    cond = {"field": "lora.crossover_examples", "lte": {"field": "labeled_examples"}}
    assert ev(cond, **{"lora.crossover_examples": 200, "labeled_examples": 300}) is True
    assert ev(cond, **{"lora.crossover_examples": 400, "labeled_examples": 300}) is False
    assert ev(cond, labeled_examples=300) is None  # crossover not measured: unknown
    with pytest.raises(ConditionError, match="or {field: NAME}"):
        parse_condition({"field": "a", "lte": {"feld": "b"}})
    with pytest.raises(ConditionError, match="must be a list"):
        parse_condition({"field": "a", "in": {"field": "b"}})
