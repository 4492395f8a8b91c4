"""The cost model: hand-checked arithmetic, evidence over assumptions, override merging, bad files, template."""

from __future__ import annotations

import pytest
import yaml

from advisor.intake.answers import Answers
from advisor.costs.estimate import estimate_costs, load_cost_assumptions, merge
from advisor.costs.lines import break_even_volume
from advisor.errors import InputError
from tests.helpers import BASE_ANSWERS

# Round numbers so every expectation below can be derived by hand.
SIMPLE = {
    "currency": "EUR", "horizon_months": 12,
    "tokens": {"prompt_base": 1000, "completion": 500, "per_few_shot_example": 100, "few_shot_k": 10,
               "rag_top_k": 4, "chunk_tokens": 250, "fine_tuned_prompt_base": 200,
               "corpus_tokens_per_document": 1000, "training_tokens_per_example": 1000, "training_epochs": 2},
    "prices": {"hosted_api": {"input_per_1m": 1.0, "output_per_1m": 2.0},
               "self_hosted": {"input_per_1m": 0.5, "output_per_1m": 1.0}, "embedding_per_1m": 0.1},
    "monthly": {"fine_tuned_hosting": 300, "vector_store": 20},
    "labels": {"prompt_engineering": 50, "rag": 50, "fine_tuning": 1000, "rag_prompt": 50, "rag_fine_tuning": 1000},
    "training": {"gpu": "test", "default_model_b": 1},
    "gpus": {"test": {"label": "test GPU", "bf16_tflops": 100, "mfu": 0.5, "price_per_hour": 2.0}},
}


@pytest.fixture
def simple(tmp_path):
    path = tmp_path / "costs.yaml"
    path.write_text(yaml.safe_dump(SIMPLE))
    return load_cost_assumptions(path)


def answers(**kw):
    base = {**BASE_ANSWERS, "currency": "EUR", "labeled_examples": 200, "cost_per_label": 0.5,
            "corpus_documents": 10_000, "monthly_requests": 10_000}
    return Answers(**{**base, **kw})


def by_name(est):
    return {s.strategy: s for s in est.strategies}


def test_per_strategy_arithmetic(simple):
    s = by_name(estimate_costs(answers(), {}, simple))
    # prompting: 1000 + 10 x 100 = 2000 input tokens x 1.0/1M + 500 x 2.0/1M = 0.002 + 0.001 = 0.003 per request
    assert s["prompt_engineering"].input_tokens == 2000
    assert s["prompt_engineering"].per_request == pytest.approx(0.003)
    assert s["prompt_engineering"].one_off == 0  # 50 needed, 200 available
    assert s["prompt_engineering"].monthly == pytest.approx(30.0)  # 10,000 x 0.003
    assert s["prompt_engineering"].total == pytest.approx(360.0)  # 0 + 12 x 30
    # rag: 1000 + 4 x 250 = 2000 tokens -> 0.003; index 10,000 docs x 1000 tokens x 0.1/1M = 1.0; store 20/month
    assert s["rag"].one_off == pytest.approx(1.0)
    assert s["rag"].monthly == pytest.approx(20 + 30.0)
    assert s["rag"].total == pytest.approx(1.0 + 12 * 50)
    # fine-tuning, self-hosted: 200 x 0.5/1M + 500 x 1.0/1M = 0.0001 + 0.0005 = 0.0006 per request
    # labels: (1000 - 200) x 0.5 = 400; training: 6 x 1e9 x (1000 x 1000 tokens) x 2 epochs = 1.2e16 FLOPs
    #   / (100e12 x 0.5 x 3600) = 0.0666.. GPU-hours x 2.0 = 0.1333..
    ft = s["fine_tuning"]
    assert ft.price_class == "self_hosted" and ft.per_request == pytest.approx(0.0006)
    assert ft.one_off == pytest.approx(400 + 1.2e16 / (100e12 * 0.5 * 3600) * 2.0)
    assert ft.monthly == pytest.approx(300 + 6.0)
    # rag + prompt: 1000 + 1000 + 1000 = 3000 tokens x 1/1M + 0.001 = 0.004
    assert s["rag_prompt"].per_request == pytest.approx(0.004)
    # rag + fine-tuning: 200 + 1000 = 1200 x 0.5/1M + 0.0005 = 0.0011; fixed 300 + 20
    assert s["rag_fine_tuning"].per_request == pytest.approx(0.0011)
    assert s["rag_fine_tuning"].monthly_fixed == pytest.approx(320)


def test_break_even_volume_is_where_totals_meet(simple):
    est = estimate_costs(answers(), {}, simple)
    s = by_name(est)
    assert est.cheapest_per_request == "fine_tuning" and est.cheapest_total == "prompt_engineering"
    ft, pe = s["fine_tuning"], s["prompt_engineering"]
    # fixed: FT = 400.133.. + 12 x 300, PE = 0; R = (3600 + 400.133..) / (12 x (0.003 - 0.0006))
    expected = (ft.one_off + 3600) / (12 * 0.0024)
    row = next(b for b in est.break_even if b.strategy == "prompt_engineering")
    assert row.versus == "fine_tuning" and row.requests_per_month == pytest.approx(expected)
    assert row.cheaper_at_current_volume == "prompt_engineering" and "requests per month" in row.text
    # at that volume the two totals are equal
    at = answers(monthly_requests=round(expected))
    s2 = by_name(estimate_costs(at, {}, simple))
    assert s2["fine_tuning"].total == pytest.approx(s2["prompt_engineering"].total, rel=1e-4)
    # FT is cheaper per request and in fixed costs than rag + FT: cheaper at any volume
    assert next(b for b in est.break_even if b.strategy == "rag_fine_tuning").requests_per_month == 0.0
    assert break_even_volume(pe, pe.model_copy(update={"strategy": "x"}), 12) is None


def test_evidence_replaces_built_in_assumptions():
    from advisor.costs.models import CostAssumptions

    defaults = CostAssumptions.model_validate(SIMPLE)  # as if every figure were a built-in default
    ev = {"few-shot": {"best_k": 2}, "rag": {"best_chunk_size": 100}, "lora": {"train_tokens_per_example": 500.0}}
    est = estimate_costs(answers(), ev, defaults)
    s = by_name(est)
    assert s["prompt_engineering"].input_tokens == 1000 + 2 * 100
    assert s["rag"].input_tokens == 1000 + 4 * 100
    # labeling 800 x 0.5 + training 6 x 1e9 x 1000 examples x 500 measured tokens x 2 epochs
    #   = 6e15 FLOPs / (100e12 x 0.5 x 3600) = 0.0333 GPU-hours x 2.0
    assert s["fine_tuning"].one_off == pytest.approx(400 + 6e15 / 1.8e17 * 2.0)
    assert est.evidence_used == {"few_shot.best_k": 2.0, "rag.best_chunk_size": 100.0,
                                 "lora.train_tokens_per_example": 500.0}
    assert est.sources["tokens.few_shot_k"] == "measured (few_shot.best_k)"
    assert est.sources["tokens.prompt_base"] == "built-in default"
    from advisor.report.render import cost_rows

    rows = {r["path"]: r for r in cost_rows(est.model_dump(mode="json"))}
    assert rows["tokens.few_shot_k"]["value"] == "2"  # the measured value is shown, not the assumed 10
    assert rows["tokens.chunk_tokens"]["value"] == "100" and rows["tokens.prompt_base"]["value"] == "1000"


def test_a_value_in_the_users_cost_file_wins_over_a_measurement(simple):
    ev = {"few-shot": {"best_k": 2}, "lora": {"train_tokens_per_example": 500.0, "training_cost": 1e6}}
    est = estimate_costs(answers(), ev, simple)  # the user's file sets few_shot_k and training tokens
    s = by_name(est)
    assert s["prompt_engineering"].input_tokens == 1000 + 10 * 100
    assert s["fine_tuning"].one_off == pytest.approx(400 + 6 * 1e9 * 1000 * 1000 * 2 / 1.8e17 * 2.0)
    assert est.evidence_used == {} and est.sources["tokens.few_shot_k"].startswith("your cost file")
    assert any("`tokens.few_shot_k` = 10 from your cost file is used rather than the measured" in n for n in est.notes)


def test_price_class_follows_the_answers(simple):
    s = by_name(estimate_costs(answers(data_may_leave=False), {}, simple))
    assert s["prompt_engineering"].price_class == "self_hosted"
    assert s["prompt_engineering"].per_request == pytest.approx(2000 * 0.5e-6 + 500 * 1e-6)
    budgets = by_name(estimate_costs(answers(budget_monthly=25, budget_one_off=100), {}, simple))
    assert budgets["prompt_engineering"].within_monthly_budget is False  # 30 > 25
    assert budgets["fine_tuning"].within_one_off_budget is False


def test_currency_conversion_and_note(tmp_path, simple):
    path = tmp_path / "usd.yaml"
    path.write_text(yaml.safe_dump({**SIMPLE, "currency": "USD", "exchange_rates": {"EUR": 0.5}}))
    usd = load_cost_assumptions(path)
    est = estimate_costs(answers(), {}, usd)
    assert est.currency == "EUR" and "converted" in est.notes[0]
    assert by_name(est)["rag"].one_off == pytest.approx(0.5)  # 1.0 USD of indexing at 0.5 EUR/USD
    other = estimate_costs(answers(currency="JPY"), {}, usd)
    assert other.currency == "USD" and "not JPY" in other.notes[0]


def test_builtin_assumptions_load_and_partial_override_merges(tmp_path):
    builtin = load_cost_assumptions()
    assert builtin.currency and "a100" in builtin.gpus and builtin.training.gpu in builtin.gpus
    path = tmp_path / "mine.yaml"
    path.write_text("prices:\n  hosted_api:\n    input_per_1m: 9.5\nhorizon_months: 24\n")
    mine = load_cost_assumptions(path)
    assert mine.prices.hosted_api.input_per_1m == 9.5 and mine.horizon_months == 24
    assert mine.prices.hosted_api.output_per_1m == builtin.prices.hosted_api.output_per_1m
    assert mine.tokens == builtin.tokens and mine.gpus == builtin.gpus
    assert merge({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 5}, "d": {"e": 1}}) == {"a": {"b": 5, "c": 2}, "d": {"e": 1}}


@pytest.mark.parametrize("content,fragment", [
    ("prices:\n  hosted_api:\n    input_per_1m: -1\n", "prices.hosted_api.input_per_1m: Input should be greater"),
    ("tokens:\n  completoin: 10\n", "tokens.completoin: unknown field"),
    ("labels:\n  rag: 5\n  extra_strategy: 3\n", "labels"),
    ("training:\n  gpu: tpu9\n", "training.gpu 'tpu9' is not in gpus"),
    ("prices: [1, 2\n", "bad.yaml:2: not valid YAML"),
    ("- a list\n", "must be a mapping"),
])
def test_bad_override_is_an_input_error_naming_file_and_field(tmp_path, content, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        load_cost_assumptions(path)
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_missing_override_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_cost_assumptions(tmp_path / "nope.yaml")


def test_template_renders_table_break_even_and_assumptions(simple):
    from advisor.report.render import environment

    est = estimate_costs(answers(), {"few-shot": {"best_k": 2}}, simple)
    from advisor.report.render import cost_rows

    costs = est.model_dump(mode="json")
    text = environment().get_template("costs.md.j2").render(costs=costs, cost_rows=cost_rows(costs))
    assert "| prompt_engineering **cheapest** | 0.00 | 30.00 |" in text  # 2000 tok (the file's k=10) -> 0.003 x 10,000
    assert "Above " in text and "fine\\_tuning costs less than" in text
    assert r"| prices.hosted\_api.input\_per\_1m | 1 | your cost file" in text
    assert r"| tokens.few\_shot\_k | 10 | your cost file" in text  # the user's value, not the measured 2
    assert r"| gpus.test.price\_per\_hour | 2 | your cost file" in text
