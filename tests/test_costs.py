"""The cost model: hand-checked arithmetic, evidence over assumptions, override merging, bad files, template."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
import yaml

from advisor.intake.answers import Answers
from advisor.costs.estimate import estimate_costs, load_cost_assumptions, merge
from advisor.costs.lines import break_even_volume
from advisor.sentences import rounded
from advisor.errors import InputError
from tests.helpers import BASE_ANSWERS

# Round numbers so every expectation below can be derived by hand.
SIMPLE = {
    "currency": "EUR", "horizon_months": 12,
    "tokens": {"prompt_base": 1000, "completion": 500, "per_few_shot_example": 100, "few_shot_k": 10,
               "rag_top_k": 4, "chunk_tokens": 250, "fine_tuned_prompt_base": 200,
               "corpus_tokens_per_document": 1000, "training_tokens_per_example": 1000, "training_epochs": 2},
    "prices": {"hosted_api": {"input_per_1m": 1.0, "output_per_1m": 2.0},
               "hosted_fine_tune": {"input_per_1m": 2.0, "output_per_1m": 4.0, "training_per_1m": 10.0},
               "serverless_open": {"input_per_1m": 0.5, "output_per_1m": 1.0, "training_per_1m": 5.0},
               "embedding_per_1m": 0.1},
    "serving": {"gpu": "test", "output_tokens_per_second": 100, "prefill_ratio": 10, "reference_model_b": 1,
                "utilization": 0.5, "min_gpus": 1, "hours_per_month": 100},
    "owned": {"capacity_gpus": 1, "marginal_per_gpu_hour": 0.5},
    "monthly": {"vector_store": 20},
    "people": {"week_cost": 100, "weeks": {"prompt_engineering": 1, "rag": 2, "fine_tuning": 3, "rag_prompt": 3,
                                           "rag_fine_tuning": 4}},
    "labels": {"prompt_engineering": 50, "rag": 50, "fine_tuning": 1000, "rag_prompt": 50, "rag_fine_tuning": 1000},
    "training": {"gpu": "test", "default_model_b": 1},
    "gpus": {"test": {"label": "test GPU", "bf16_tflops": 100, "mfu": 0.5, "price_per_hour": 2.0}},
    "uncertainty": {"prices.hosted_api": [0.5, 2.0], "people.weeks": [0.5, 2.0]},
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


def option(row, deployment):
    return next(d for d in row.deployments if d.deployment == deployment)


def test_per_strategy_arithmetic_in_the_cheapest_allowed_deployment(simple):
    s = by_name(estimate_costs(answers(), {}, simple))
    # prompting on the hosted API: 1000 + 10 x 100 = 2000 input tokens x 1.0/1M + 500 x 2.0/1M = 0.003 a request;
    # one-off: 1 person-week x 100 (50 labels needed, 200 available)
    pe = s["prompt_engineering"]
    assert pe.deployment == "hosted_api" and pe.input_tokens == 2000
    assert pe.per_request == pytest.approx(0.003) and pe.one_off == pytest.approx(100)
    assert pe.monthly == pytest.approx(30.0) and pe.total == pytest.approx(100 + 12 * 30)
    # a small open model is another model, not a cheaper way to run the same prompt (no base model named)
    assert not option(pe, "serverless_open").allowed and "capable hosted model" in option(pe, "serverless_open").reason
    # named open weights: 2000 x 0.5/1M + 500 x 1.0/1M = 0.0015 -> 15 a month at the inference provider
    open_pe = by_name(estimate_costs(answers(base_model="open_weights"), {}, simple))["prompt_engineering"]
    assert open_pe.deployment == "serverless_open" and open_pe.monthly == pytest.approx(15.0)
    # rag: 1000 + 4 x 250 = 2000 tokens; index 10,000 docs x 1000 tokens x 0.1/1M = 1.0; 2 weeks; store 20/month
    rag = s["rag"]
    assert option(rag, "hosted_api").one_off == pytest.approx(1.0 + 200)
    assert option(rag, "hosted_api").monthly == pytest.approx(20 + 30.0)
    # fine-tuning, provider-hosted: 200 x 2.0/1M + 500 x 4.0/1M = 0.0024 a request; training 1000 examples x
    # 1000 tokens x 2 epochs = 2e6 tokens x 10/1M = 20; labels (1000 - 200) x 0.5 = 400; 3 weeks = 300
    ft = s["fine_tuning"]
    hosted = option(ft, "hosted_fine_tune")
    assert hosted.one_off == pytest.approx(300 + 400 + 20) and hosted.monthly == pytest.approx(24.0)
    # serverless LoRA at the base price: 200 x 0.5/1M + 500 x 1.0/1M = 0.0006; training 2e6 x 5/1M = 10
    lora = option(ft, "serverless_open")
    assert lora.one_off == pytest.approx(300 + 400 + 10) and lora.monthly == pytest.approx(6.0)
    assert ft.deployment == "serverless_open" and ft.per_request == pytest.approx(0.0006)
    assert "cheapest of the 3 deployments your answers allow" in ft.deployment_reason
    # self-hosted GPUs are allowed but not your own ones (compute_access none)
    assert option(ft, "self_hosted").allowed and not option(ft, "owned_gpus").allowed
    assert option(ft, "owned_gpus").reason == "you own no GPUs"
    # no fee the other strategies do not pay in the same deployment: no hosting line for the fine-tune
    assert not any("hosting" in item.name for item in ft.items)


def test_self_hosted_gpus_are_sized_from_the_tokens_the_same_way_for_every_strategy(simple):
    """One GPU decodes 100 tokens/s for a 1B model; prefill is 10x faster; 100 hours a month at 50% load."""
    est = estimate_costs(answers(base_model="open_weights", monthly_requests=3000, base_model_size_b=1.0), {}, simple)
    s = by_name(est)
    # prompting: (2000 / 10 + 500) / 100 = 7 GPU-seconds a request; 3000 x 7 / (100 x 3600 x 0.5) = 0.1167 -> 1 GPU
    pe = option(s["prompt_engineering"], "self_hosted")
    assert pe.gpus == 1 and pe.monthly == pytest.approx(1 * 2.0 * 100)
    # fine-tuned: (200 / 10 + 500) / 100 = 5.2 GPU-seconds: also 1 GPU, the same 200 a month
    assert option(s["fine_tuning"], "self_hosted").monthly == pytest.approx(200)
    # at 200,000 requests: 200,000 x 7 / 180,000 = 7.78 -> 8 GPUs for prompting, 5.78 -> 6 for the fine-tune
    big = by_name(estimate_costs(answers(base_model="open_weights", monthly_requests=200_000, base_model_size_b=1.0),
                                 {}, simple))
    assert option(big["prompt_engineering"], "self_hosted").gpus == 8
    assert option(big["fine_tuning"], "self_hosted").gpus == 6
    assert option(big["fine_tuning"], "self_hosted").monthly == pytest.approx(6 * 2.0 * 100)


def test_owned_gpus_cost_their_marginal_price_within_capacity(simple):
    a = answers(base_model="open_weights", compute_access="onprem_gpu", data_may_leave=False, hosted_api_allowed=False,
                monthly_requests=200_000, base_model_size_b=1.0)
    s = by_name(estimate_costs(a, {}, simple))
    ft = s["fine_tuning"]
    assert ft.deployment == "owned_gpus"
    # 6 GPUs needed, 1 owned at 0.5 an hour, 5 rented at 2.0: (0.5 + 10) x 100 hours
    assert option(ft, "owned_gpus").monthly == pytest.approx((0.5 + 5 * 2.0) * 100)
    assert not option(ft, "serverless_open").allowed and "may not leave" in option(ft, "serverless_open").reason


def test_break_even_volume_is_where_totals_meet(simple):
    est = estimate_costs(answers(), {}, simple)
    s = by_name(est)
    assert est.cheapest_per_request == "fine_tuning"
    ft, pe = s["fine_tuning"], s["prompt_engineering"]
    # both per token: fixed FT = 710 one-off, PE = 100 (on the hosted API; serverless is cheaper for PE too)
    expected = (ft.one_off - pe.one_off) / (12 * (pe.per_request - ft.per_request))
    row = next(b for b in est.break_even if b.strategy == "prompt_engineering")
    assert row.versus == "fine_tuning" and row.requests_per_month == pytest.approx(expected)
    assert break_even_volume(pe, pe.model_copy(update={"strategy": "x"}), 12) is None
    # the sentence quotes it no more precisely than the assumed prices it rests on: two significant figures
    assert row.text.startswith(f"Above about {rounded(expected):,.0f} requests per month"), row.text


def test_evidence_replaces_built_in_assumptions_but_never_the_proxys_best_k():
    from advisor.costs.models import CostAssumptions

    defaults = CostAssumptions.model_validate(SIMPLE)  # as if every figure were a built-in default
    ev = {"few-shot": {"best_k": 2}, "rag": {"best_chunk_size": 100}, "lora": {"train_tokens_per_example": 500.0}}
    est = estimate_costs(answers(), ev, defaults)
    s = by_name(est)
    assert s["prompt_engineering"].input_tokens == 1000 + 10 * 100  # the probe model's k says nothing of yours
    assert s["rag"].input_tokens == 1000 + 4 * 100
    assert est.evidence_used == {"rag.best_chunk_size": 100.0, "lora.train_tokens_per_example": 500.0}
    target = estimate_costs(answers(), {"target-few-shot": {"best_k": 2, "prompt_tokens_zero_shot": 300}}, defaults)
    assert by_name(target)["prompt_engineering"].input_tokens == 300 + 2 * 100
    assert target.sources["tokens.few_shot_k"] == "measured (target_few_shot.best_k)"
    assert est.sources["tokens.prompt_base"] == "built-in default"
    from advisor.report.render import cost_rows

    rows = {r["path"]: r for r in cost_rows(est.model_dump(mode="json"))}
    assert rows["tokens.chunk_tokens"]["value"] == "100" and rows["tokens.prompt_base"]["value"] == "1000"


def test_a_value_in_the_users_cost_file_wins_over_a_measurement(simple):
    ev = {"target-few-shot": {"best_k": 2}, "lora": {"train_tokens_per_example": 500.0}}
    est = estimate_costs(answers(), ev, simple)  # the user's file sets few_shot_k and training tokens
    s = by_name(est)
    assert s["prompt_engineering"].input_tokens == 1000 + 10 * 100
    assert est.evidence_used == {} and est.sources["tokens.few_shot_k"].startswith("your cost file")
    assert any("`tokens.few_shot_k` = 10 from your cost file is used rather than the measured" in n for n in est.notes)


def test_deployments_follow_the_answers(simple):
    s = by_name(estimate_costs(answers(data_may_leave=False, compute_access="cloud_gpu"), {}, simple))
    assert {r.deployment for r in s.values()} == {"self_hosted"}
    none = by_name(estimate_costs(answers(data_may_leave=False, compute_access="none"), {}, simple))
    assert not any(r.runnable for r in none.values())
    assert none["prompt_engineering"].deployment_reason.startswith("no deployment can run it")
    closed = by_name(estimate_costs(answers(base_model="hosted_api"), {}, simple))
    assert closed["fine_tuning"].deployment == "hosted_fine_tune"
    assert [d.deployment for d in closed["fine_tuning"].deployments if d.allowed] == ["hosted_fine_tune"]
    budgets = by_name(estimate_costs(answers(budget_monthly=25, budget_one_off=100), {}, simple))
    assert budgets["fine_tuning"].within_one_off_budget is False
    assert budgets["fine_tuning"].budget_ratio == pytest.approx(budgets["fine_tuning"].one_off / 100)


def test_currency_conversion_and_note(tmp_path, simple):
    path = tmp_path / "usd.yaml"
    path.write_text(yaml.safe_dump({**SIMPLE, "currency": "USD", "exchange_rates": {"EUR": 0.5}}))
    usd = load_cost_assumptions(path)
    est = estimate_costs(answers(), {}, usd)
    assert est.currency == "EUR" and "converted" in est.notes[0]
    assert by_name(est)["rag"].one_off == pytest.approx(0.5 * (1.0 + 200))  # indexing and 2 weeks at 0.5 EUR/USD
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
    ("monthly:\n  fine_tuned_hosting: 500\n", "monthly.fine_tuned_hosting is no longer a cost figure"),
    ("uncertainty:\n  gpus: [2, 3]\n", "uncertainty.gpus: give [low, high] multipliers"),
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
    assert "| prompt_engineering **cheapest** | hosted api | 100.00 | 30.00 |" in text  # 2000 tok (k=10) x 1.0/1M
    assert "Above " in text and "fine\\_tuning costs less than" in text
    assert "your own GPUs, at marginal cost | no: you own no GPUs |" in text
    assert r"| prices.hosted\_api.input\_per\_1m | 1 | your cost file" in text
    assert r"| tokens.few\_shot\_k | 10 | your cost file" in text  # the user's value, not the measured 2
    assert r"| gpus.test.price\_per\_hour | 2 | your cost file" in text


@given(st.floats(min_value=1e-3, max_value=1e12, allow_nan=False))
def test_a_quoted_estimate_keeps_two_significant_figures(value):
    quoted = rounded(value)
    assert abs(quoted - value) <= 0.05 * value * (1 + 1e-9)  # at most half a unit of the second figure
    assert float(f"{quoted:.1e}") == pytest.approx(quoted, rel=1e-12)  # nothing after the second figure
