"""The decision reads evidence by provenance and strength, caps correlated rules, and lets costs and hard
constraints decide; confidence never rises when evidence is removed or weakened (property test)."""

import random

import pytest

from advisor.intake.answers import Answers
from advisor.decision.cases import Case, decide_case
from advisor.evidence.evidence_set import EvidenceSet
from advisor.evidence.interpret import interpret
from advisor.probes.common.stats import difference_ci, paired_difference_ci_cells
from advisor.decision.recommend import group_totals
from advisor.decision.rulebook import load_rulebook
from tests.helpers import BASE_ANSWERS


@pytest.fixture(scope="module")
def rulebook():
    return load_rulebook()


def answers(**kw) -> Answers:
    return Answers.model_validate({**BASE_ANSWERS, **kw})


def decide(rulebook, evidence=None, **kw):
    return decide_case(Case(case="t", source="a unit test case", date="2026", outcome={"winner": "rag"}, why="a unit test of the decision",
                            answers=answers(**kw), evidence=evidence or {}), rulebook)


# -- intervals --------------------------------------------------------------------------------------------------

def test_newcombe_intervals():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80, method 10: 0.0524 to 0.3339
    assert difference_ci(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    low, high = paired_difference_ci_cells(0, 0, 0, 10)  # 0 vs 0 on 10 questions: inconclusive, not (0, 0)
    assert low == pytest.approx(-high) and high > 0.25
    low, high = paired_difference_ci_cells(40, 30, 5, 25)
    assert 0 < low < 0.25 < high < 0.4


# -- provenance ------------------------------------------------------------------------------------------------

def _few_shot(probe, acc, n=200, chance=0.2, model="m"):
    return {"probe": probe, "evidence": {"best_accuracy": acc, "eval_size": n, "chance_accuracy": chance,
                                         "best_k": 4, "zero_shot_accuracy": acc - 0.1},
            "summary": {"model": model}}


def test_model_quality_comes_from_the_target_only():
    proxy_only = interpret(EvidenceSet(results=[_few_shot("few-shot", 0.95, model="smollm2-135m")]))
    assert "quality" not in proxy_only.facts
    assert proxy_only.facts["data"]["proxy_competent"] is True
    with_target = interpret(EvidenceSet(results=[_few_shot("few-shot", 0.3), _few_shot("target-few-shot", 0.9, model="my-8b")]))
    assert with_target.facts["quality"]["accuracy"] == 0.9
    source = next(s for s in with_target.sources if s.name == "quality.accuracy")
    assert (source.model, source.role) == ("my-8b", "target") and source.low < 0.9 < source.high


def test_an_incompetent_proxy_says_so_in_one_sentence(rulebook):
    rec = decide(rulebook, {"few-shot": {"best_accuracy": 0.22, "eval_size": 100, "chance_accuracy": 0.23,
                                         "summary": {"model": "smollm2-135m"}}})
    notes = [n for n in rec.evidence_notes if "is not shown to do this task" in n and "not above the majority" in n]
    assert len(notes) == 1 and "smollm2-135m" in notes[0] and notes[0].count(". ") == 0
    assert not any(f.uses_evidence for f in rec.fired)  # the proxy's accuracy is no evidence about your model


def test_open_book_lift_counts_on_the_target_only(rulebook):
    lift = {"open_book_lift": 0.3, "open_book_accuracy": 0.8, "closed_book_accuracy": 0.5, "open_book_questions": 200,
            "open_book_only_correct": 65, "closed_book_only_correct": 5, "summary": {"open_book": {"model": "x"}}}
    on_proxy = decide(rulebook, {"rag": {**lift, "open_book_on_target": False}}, has_corpus=True)
    on_target = decide(rulebook, {"rag": {**lift, "open_book_on_target": True}}, has_corpus=True)
    assert "ev-open-book-lift" not in {f.id for f in on_proxy.fired}
    assert any("not used" in n for n in on_proxy.evidence_notes)
    assert "ev-open-book-lift" in {f.id for f in on_target.fired}


# -- strength ----------------------------------------------------------------------------------------------------

def test_zero_vs_zero_on_ten_questions_is_inconclusive_and_says_how_many_would_settle_it(rulebook):
    ev = {"rag": {"open_book_lift": 0.0, "open_book_accuracy": 0.0, "closed_book_accuracy": 0.0,
                  "open_book_questions": 10, "open_book_on_target": True, "open_book_only_correct": 0,
                  "closed_book_only_correct": 0, "summary": {"open_book": {"model": "my-8b"}}}}
    rec = decide(rulebook, ev, has_corpus=True)
    assert not {"ev-open-book-no-lift", "ev-open-book-lift"} & {f.id for f in rec.fired}
    note = next(n for n in rec.evidence_notes if "inconclusive" in n)
    settle = int(note.split("about ")[1].split(" ")[0].replace(",", ""))
    assert 100 < settle < 1000
    # the same rate on a sample that size settles it: "no lift" fires
    big = {"rag": {**ev["rag"], "open_book_questions": settle}}
    assert "ev-open-book-no-lift" in {f.id for f in decide(rulebook, big, has_corpus=True).fired}


def test_a_rule_fires_only_when_the_interval_supports_the_claim(rulebook):
    def fired(acc, n):
        ev = {"target-few-shot": {"best_accuracy": acc, "eval_size": n, "chance_accuracy": 0.2, "summary": {}}}
        return {f.id for f in decide(rulebook, ev).fired}

    assert "ev-model-high-accuracy" not in fired(0.9, 30)  # 27/30: the interval reaches down to 74%
    assert "ev-model-high-accuracy" in fired(0.9, 1000)


# -- groups ------------------------------------------------------------------------------------------------------

def test_correlated_rules_count_once_per_factor(rulebook):
    rec = decide(rulebook, has_corpus=True, corpus_change="daily", corpus_documents=50000)
    knowledge = rec.groups["knowledge"]
    assert len(knowledge["rules"]) >= 3
    assert knowledge["raw"]["rag"] > knowledge["cap"] and knowledge["total"]["rag"] == knowledge["cap"]
    totals = group_totals([rulebook.get(r) for r in knowledge["rules"]], rulebook)["knowledge"]["total"]
    assert all(abs(v) <= rulebook.cap("knowledge") for v in totals.values())


def test_every_built_in_rule_has_a_group(rulebook):
    assert all(r.group in rulebook.groups for r in rulebook.rules)


# -- costs and constraints ---------------------------------------------------------------------------------------

def test_a_strategy_far_over_budget_is_ruled_out_with_the_reason(rulebook):
    """A generation task at 40 million requests a month on a 2,000 monthly budget: prompting a hosted model
    costs many times the budget, so it cannot win however many rules favour it."""
    rec = decide(rulebook, task_type="generation", labeled_examples=5000, monthly_requests=40_000_000,
                 budget_monthly=2000, budget_one_off=20000, output_format="strict", compute_access="cloud_gpu",
                 base_model="open_weights")
    pe = next(s for s in rec.strategies if s.strategy == "prompt_engineering")
    assert pe.excluded and pe.exclusion_reason.startswith("over budget:") and "a month" in pe.exclusion_reason
    assert rec.winner != "prompt_engineering"
    assert pe.twelve_month_cost > 12 * 2000 * 1.5


def test_a_deadline_shorter_than_the_minimum_rules_a_strategy_out(rulebook):
    rec = decide(rulebook, weeks_to_production=1, labeled_examples=5000)
    ft = next(s for s in rec.strategies if s.strategy == "fine_tuning")
    assert ft.excluded and "weeks" in ft.exclusion_reason


def test_twelve_month_cost_enters_the_score(rulebook):
    cheap = decide(rulebook, budget_monthly=100000, budget_one_off=1000000)
    tight = decide(rulebook, budget_monthly=60, budget_one_off=1000)
    cost = lambda rec: {s.strategy: s.cost_score for s in rec.strategies}  # noqa: E731
    assert all(v > -0.1 for v in cost(cheap).values())
    assert cost(tight)["rag_fine_tuning"] < cost(tight)["prompt_engineering"] <= 0


def test_when_nothing_is_affordable_the_cheapest_options_stay(rulebook):
    rec = decide(rulebook, budget_monthly=0, budget_one_off=0, monthly_requests=10_000_000)
    by_cost = sorted(rec.strategies, key=lambda s: s.twelve_month_cost)
    assert not by_cost[0].excluded
    out = [s for s in rec.strategies if (s.exclusion_reason or "").startswith("over budget")]
    assert out and all("every option is over budget" in s.exclusion_reason for s in out)
    assert all(s.twelve_month_cost > 1.5 * by_cost[0].twelve_month_cost for s in out)


# -- confidence --------------------------------------------------------------------------------------------------

CHOICES = {
    "task_type": ["classification", "extraction", "generation", "qa_documents", "chat"],
    "labeled_examples": [0, 30, 300, 3000, 30000], "has_corpus": [True, False],
    "corpus_change": ["static", "monthly", "daily"], "output_format": ["free", "loose", "strict"],
    "domain_specificity": ["general", "specialized"], "monthly_requests": [1000, 100000, 10_000_000],
    "budget_monthly": [100, 5000, 100000], "base_model": ["hosted_api", "open_weights", "undecided"],
    "team_ml_experience": ["none", "basic", "expert"], "weeks_to_production": [2, 8, 26],
}


def _random_case(rng):
    kw = {name: rng.choice(values) for name, values in CHOICES.items()}
    if kw["has_corpus"]:
        kw["corpus_documents"] = rng.choice([50, 5000])
    n = rng.choice([20, 100, 400])
    acc = rng.choice([0.3, 0.6, 0.85, 0.95])
    evidence = {
        "target-few-shot": {"best_accuracy": acc, "eval_size": n, "chance_accuracy": 0.2,
                            "zero_shot_accuracy": max(0.0, acc - rng.choice([0.0, 0.2])),
                            "format_failure_rate": rng.choice([0.0, 0.1]), "seed_spread": rng.choice([0.01, 0.08]),
                            "summary": {"model": "target"}},
        "few-shot": {"best_accuracy": rng.choice([0.2, 0.7]), "eval_size": n, "chance_accuracy": 0.2,
                     "summary": {"model": "proxy"}},
        "lora": {"best_accuracy": 0.8, "eval_size": n, "best_size": 64,
                 "summary": {"comparison": {"baseline": "few-shot", "n": n, "lora_only": int(n * rng.choice([0.02, 0.2])),
                                            "baseline_only": int(n * 0.05), "baseline_accuracy": 0.7}}},
        "rag": {"proxy": rng.choice([True, False]), "dense_hit_at_5": rng.choice([0.3, 0.9]), "n_queries": n,
                "max_hit": 0.95, "open_book_lift": 0.2, "open_book_accuracy": 0.7, "closed_book_accuracy": 0.5,
                "open_book_questions": n, "open_book_on_target": True, "summary": {"open_book": {"model": "t"}}},
        "domain": {"bits_per_byte_ratio": rng.choice([1.0, 1.8]), "summary": {"model": "proxy"}},
    }
    return kw, evidence


def _weaker(evidence, rng):
    """The same measurements with less behind them: a probe dropped, or a quarter of the items."""
    out = {k: {**v} for k, v in evidence.items()}
    if rng.random() < 0.5:
        out.pop(rng.choice(sorted(out)))
    else:
        probe = rng.choice(sorted(out))
        for key in ("eval_size", "n_queries", "open_book_questions"):
            if key in out[probe]:
                out[probe][key] = max(4, out[probe][key] // 4)
        if probe == "lora":
            c = dict(out[probe]["summary"]["comparison"])
            c.update(n=max(4, c["n"] // 4), lora_only=c["lora_only"] // 4, baseline_only=c["baseline_only"] // 4)
            out[probe]["summary"] = {"comparison": c}
    return out


def test_removing_or_weakening_evidence_never_raises_confidence(rulebook):
    rng = random.Random(20261129)
    checked = 0
    for _ in range(150):
        kw, evidence = _random_case(rng)
        full = decide(rulebook, evidence, **kw).confidence_score
        for _ in range(3):
            weaker = _weaker(evidence, rng)
            assert decide(rulebook, weaker, **kw).confidence_score <= full + 1e-9, (kw, evidence, weaker)
            checked += 1
        assert decide(rulebook, {}, **kw).confidence_score <= full + 1e-9
    assert checked == 450


def test_sensitivity_names_cost_drivers_volume_budget_and_measured_tokens(rulebook):
    from advisor.costs.estimate import estimate_costs, load_cost_assumptions
    from advisor.evidence.interpret import decision_facts
    from advisor.decision.recommend import recommend
    from advisor.decision.sensitivity import flips

    a = answers(labeled_examples=40, can_produce_more_labels=False, monthly_requests=3_000_000, budget_monthly=3000,
                budget_one_off=3000, base_model="hosted_api", weeks_to_production=4, currency="USD")
    evidence = [{"probe": "target-few-shot", "summary": {"model": "t"},
                 "evidence": {"best_accuracy": 0.7, "eval_size": 200, "chance_accuracy": 0.2, "best_k": 8,
                              "prompt_tokens_zero_shot": 300, "prompt_tokens_per_demo": 80, "completion_tokens": 5}}]
    facts, _ = decision_facts(EvidenceSet(results=evidence))
    assumptions = load_cost_assumptions()
    rec = recommend(rulebook, a, facts, costs=estimate_costs(a, facts, assumptions))
    found = {f["field"]: f for f in flips(rulebook, a, facts, assumptions=assumptions)}
    assert rec.winner == "prompt_engineering"
    assert found["monthly_requests"]["value"] > 3_000_000 and found["monthly_requests"]["winner"] == "fine_tuning"
    assert "budget_monthly" in found
    driver = found["target_few_shot.prompt_tokens_zero_shot"]
    assert driver["kind"] == "cost driver" and driver["value"] > 300 and "tokens" in driver["text"]


def test_a_near_tie_is_never_reported_with_high_confidence():
    from advisor.decision.recommend import _capped_level

    assert _capped_level("high", 1.4, 5) == "medium" and _capped_level("high", 0.3, 5) == "low"
    assert _capped_level("high", 2.5, 5) == "high" and _capped_level("low", 1.0, 5) == "low"
    assert _capped_level("high", 0.0, 1) == "high"  # a single feasible strategy is no tie


def test_private_data_rules_out_a_hosted_api_and_prices_self_hosting(rulebook):
    rec = decide(rulebook, data_may_leave=False, hosted_api_allowed=False, base_model="undecided")
    assert any(n.startswith("A hosted API is ruled out for every strategy") for n in rec.confidence_notes)
    assert {row.price_class for row in rec.costs.strategies} == {"self_hosted"}
