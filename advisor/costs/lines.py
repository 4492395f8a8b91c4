"""The cost model's arithmetic: each strategy priced in each deployment the answers allow, line by line, and the
cheapest allowed one kept (formulas in ``docs/costs.md``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from advisor.intake.answers import Answers
from advisor.costs.deployments import LABELS, PER_TOKEN, candidates, no_deployment_reason, why_not
from advisor.costs.models import PARTS, BreakEven, CostAssumptions, DeploymentCost, LineItem, StrategyCost
from advisor.training_cost import gpu_hours, training_flops


def _n(value: float) -> str:
    return f"{value:,.6g}" if abs(value) < 1000 else f"{value:,.0f}"


@dataclass
class Inputs:
    """Answers, assumptions and evidence resolved into the numbers the formulas use."""

    answers: Answers
    a: CostAssumptions
    currency: str
    rate: float  # answers' currency per unit of the assumptions' currency
    few_shot_k: int
    chunk_tokens: float
    evidence: dict[str, dict[str, Any]]
    evidence_used: dict[str, float] = field(default_factory=dict)
    measured_paths: dict[str, str] = field(default_factory=dict)  # assumption path -> the fact that replaced it
    notes: list[str] = field(default_factory=list)
    training_tokens: float = 0.0
    #: the whole prompt the prompt probe chose on the target model, when it ran there (tokens per request)
    chosen_prompt: float | None = None
    prompt_base: float = 0.0
    per_demo: float = 0.0
    completion: float = 0.0

    @classmethod
    def build(cls, answers: Answers, evidence: dict[str, dict[str, Any]], a: CostAssumptions) -> "Inputs":
        ev = {probe.replace("-", "_"): dict(facts) for probe, facts in evidence.items()}
        currency, rate, notes = _currency(answers.currency, a)
        self = cls(answers, a, currency, rate, a.tokens.few_shot_k, a.tokens.chunk_tokens, ev, notes=notes)
        t = a.tokens
        # the target model's own measurements first, then the proxy's, then the assumption
        # demonstrations per prompt from the team's own model only: the probe model's best k says nothing about it
        self.few_shot_k = int(self.measured(("target_few_shot.best_k",), "tokens.few_shot_k", t.few_shot_k))
        on_target = bool(self.evidence.get("rag", {}).get("open_book_on_target"))
        chunk_keys = ("rag.context_tokens_per_chunk", "rag.best_chunk_size") if on_target else ("rag.best_chunk_size",)
        self.chunk_tokens = float(self.measured(chunk_keys, "tokens.chunk_tokens", t.chunk_tokens))
        self.training_tokens = float(self.measured(("lora.train_tokens_per_example",),
                                                   "tokens.training_tokens_per_example", t.training_tokens_per_example))
        self.prompt_base = float(self.measured(("target_few_shot.prompt_tokens_zero_shot",), "tokens.prompt_base",
                                               t.prompt_base))
        self.per_demo = float(self.measured(("target_few_shot.prompt_tokens_per_demo",), "tokens.per_few_shot_example",
                                            t.per_few_shot_example))
        self.completion = float(self.measured(("target_few_shot.completion_tokens", "prompt.completion_tokens"),
                                              "tokens.completion", t.completion))
        chosen = self.evidence.get("prompt", {})
        if chosen.get("on_target") and isinstance(chosen.get("prompt_tokens"), (int, float)):
            self.chosen_prompt = float(chosen["prompt_tokens"])
            self.evidence_used["prompt.prompt_tokens"] = self.chosen_prompt
        return self

    def measured(self, keys: tuple[str, ...], assumption: str, default: float) -> float:
        """The first evidence fact of ``keys`` that was measured, in place of the built-in ``assumption``
        (recorded in ``evidence_used``); a value the user set in the ``--costs`` file always wins."""
        for key in keys:
            probe, _, name = key.partition(".")
            value = self.evidence.get(probe, {}).get(name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if self.a.set_by_user(assumption):
                self.notes.append(f"`{assumption}` = {_n(default)} from your cost file is used rather than the "
                                  f"measured `{key}` = {_n(float(value))}.")
                return default
            self.evidence_used[key] = float(value)
            self.measured_paths[assumption] = key
            return float(value)
        return default

    def money(self, amount: float) -> float:
        """An amount from the assumptions file in the report's currency."""
        return amount * self.rate


def _currency(wanted: str, a: CostAssumptions) -> tuple[str, float, list[str]]:
    if wanted.upper() == a.currency.upper():
        return a.currency, 1.0, []
    rate = {k.upper(): v for k, v in a.exchange_rates.items()}.get(wanted.upper())
    if rate is not None:
        return wanted, rate, [f"Prices assumed in {a.currency} are converted at 1 {a.currency} = {rate:g} {wanted} "
                              "(exchange_rates in the cost assumptions)."]
    return a.currency, 1.0, [f"Figures are in {a.currency}, the currency of the cost assumptions, not {wanted}: add "
                             f"`exchange_rates: {{{wanted}: RATE}}` to a --costs file to convert them. The labeling "
                             f"cost per example is used as you gave it."]


# -- components -----------------------------------------------------------------------------
def input_tokens(strategy: str, inp: Inputs) -> tuple[float, str]:
    t, parts = inp.a.tokens, PARTS[strategy]
    total = t.fine_tuned_prompt_base if "fine_tuned" in parts else inp.prompt_base
    words = [f"{_n(total)} base prompt"]
    if "few_shot" in parts and inp.chosen_prompt is not None:
        total, words = inp.chosen_prompt, [f"{_n(inp.chosen_prompt)} tokens of the prompt chosen on your model"]
    elif "few_shot" in parts:
        total += inp.few_shot_k * inp.per_demo
        words.append(f"{inp.few_shot_k} demonstrations x {_n(inp.per_demo)}")
    if "retrieval" in parts:
        total += t.rag_top_k * inp.chunk_tokens
        words.append(f"{t.rag_top_k} retrieved chunks x {_n(inp.chunk_tokens)}")
    return total, " + ".join(words)


def people_item(strategy: str, inp: Inputs) -> LineItem:
    weeks, cost = inp.a.people.weeks[strategy], inp.a.people.week_cost
    return LineItem(name="people (evaluation set, build, iterations)", kind="one_off", amount=inp.money(weeks * cost),
                    formula=f"{_n(weeks)} person-weeks x {_n(cost)} per week", scales=["people.weeks", "people.week_cost"])


def labeling_item(strategy: str, inp: Inputs) -> LineItem:
    need, have = inp.a.labels[strategy], inp.answers.labeled_examples
    missing = max(0, need - have)
    return LineItem(name="labeling", kind="one_off", amount=missing * inp.answers.cost_per_label,
                    formula=f"max(0, {_n(need)} needed - {_n(have)} available) = {_n(missing)} examples x "
                            f"{_n(inp.answers.cost_per_label)} per example")


def _training_tokens(strategy: str, inp: Inputs) -> tuple[float, float]:
    examples = max(inp.a.labels[strategy], inp.answers.labeled_examples)
    return examples, examples * inp.training_tokens * inp.a.tokens.training_epochs


def training_item(strategy: str, deployment: str, inp: Inputs) -> LineItem:
    """A provider's training fee per token, or training FLOPs -> GPU-hours on rented or owned GPUs."""
    t = inp.a.tokens
    examples, tokens = _training_tokens(strategy, inp)
    if deployment in PER_TOKEN:
        price = getattr(inp.a.prices, deployment).training_per_1m
        return LineItem(name="training (provider fee)", kind="one_off", amount=inp.money(tokens * price / 1e6),
                        formula=f"{_n(examples)} examples x {_n(inp.training_tokens)} tokens x "
                                f"{_n(t.training_epochs)} epochs x {_n(price)} per 1M training tokens",
                        scales=[f"prices.{deployment}"])
    gpu = inp.a.gpus[inp.a.training.gpu]
    size_b = inp.answers.base_model_size_b or inp.a.training.default_model_b
    hours = gpu_hours(training_flops(size_b, examples * inp.training_tokens, t.training_epochs), gpu)
    hourly = inp.a.owned.marginal_per_gpu_hour if deployment == "owned_gpus" else gpu.price_per_hour
    where = "your GPUs at marginal cost" if deployment == "owned_gpus" else inp.a.training.gpu
    return LineItem(name="training compute", kind="one_off", amount=inp.money(hours * hourly),
                    formula=f"6 x {_n(size_b)}B parameters x {_n(examples)} examples x {_n(inp.training_tokens)} "
                            f"tokens x {_n(t.training_epochs)} epochs / ({_n(gpu.bf16_tflops)} TFLOPS x {gpu.mfu:g} "
                            f"utilization) = {_n(hours)} GPU-hours x {_n(hourly)} per hour ({where})",
                    scales=["owned.marginal_per_gpu_hour" if deployment == "owned_gpus" else "gpus"])


def indexing_item(inp: Inputs) -> LineItem:
    docs, t = inp.answers.corpus_documents, inp.a.tokens
    tokens = docs * t.corpus_tokens_per_document
    return LineItem(name="indexing the corpus", kind="one_off",
                    amount=inp.money(tokens * inp.a.prices.embedding_per_1m / 1e6),
                    formula=f"{_n(docs)} documents x {_n(t.corpus_tokens_per_document)} tokens x "
                            f"{_n(inp.a.prices.embedding_per_1m)} per 1M embedding tokens")


def per_token_item(strategy: str, deployment: str, inp: Inputs) -> LineItem:
    price = getattr(inp.a.prices, deployment)
    tokens_in, words = input_tokens(strategy, inp)
    tokens_out = inp.completion
    amount = inp.money(tokens_in * price.input_per_1m + tokens_out * price.output_per_1m) / 1e6
    return LineItem(name=f"inference ({deployment.replace('_', ' ')})", kind="per_request", amount=amount,
                    formula=f"({words}) = {_n(tokens_in)} input tokens x {_n(price.input_per_1m)} per 1M + "
                            f"{_n(tokens_out)} output tokens x {_n(price.output_per_1m)} per 1M",
                    scales=[f"prices.{deployment}", "tokens.prompt_base"])


def gpu_items(strategy: str, deployment: str, inp: Inputs) -> tuple[list[LineItem], float]:
    """GPUs sized from the tokens the volume needs (prefill and decode), the same way for every strategy;
    owned GPUs cost their marginal price within their capacity, rented ones beyond it."""
    sv = inp.a.serving
    size_b = inp.answers.base_model_size_b or inp.a.training.default_model_b
    decode = sv.output_tokens_per_second * sv.reference_model_b / size_b
    tokens_in, words = input_tokens(strategy, inp)
    seconds = (tokens_in / sv.prefill_ratio + inp.completion) / decode
    load = inp.answers.monthly_requests * seconds / (sv.hours_per_month * 3600 * sv.utilization)
    gpus = max(float(sv.min_gpus), float(math.ceil(load - 1e-9)))
    rented = inp.a.gpus[sv.gpu].price_per_hour
    own = min(gpus, float(inp.a.owned.capacity_gpus)) if deployment == "owned_gpus" else 0.0
    hourly_total = own * inp.a.owned.marginal_per_gpu_hour + (gpus - own) * rented
    monthly = inp.money(hourly_total * sv.hours_per_month)
    marginal_rate = inp.a.owned.marginal_per_gpu_hour if own >= gpus and own > 0 else rented
    per_request = inp.money(seconds * marginal_rate / 3600 / sv.utilization)
    requests = inp.answers.monthly_requests
    variable = min(per_request * requests, monthly)
    per_request = variable / requests if requests else per_request
    price_words = (f"{_n(own)} owned x {_n(inp.a.owned.marginal_per_gpu_hour)} + {_n(gpus - own)} rented x "
                   f"{_n(rented)}" if deployment == "owned_gpus" else f"{_n(gpus)} x {_n(rented)} ({sv.gpu})")
    formula = (f"({words}) = {_n(tokens_in)} input tokens / {_n(sv.prefill_ratio)} + {_n(inp.completion)} output "
               f"tokens at {_n(decode)} tokens/s per GPU = {_n(seconds)} GPU-seconds a request; "
               f"{inp.answers.monthly_requests:,} requests at {sv.utilization:g} utilization need {_n(load)} GPUs, "
               f"so {_n(gpus)} GPUs: {price_words} per hour x {_n(sv.hours_per_month)} hours")
    scales = ["owned.marginal_per_gpu_hour" if own >= gpus and own > 0 else "gpus",
              "1/serving.output_tokens_per_second", "tokens.completion"]
    return [LineItem(name="GPUs kept running", kind="monthly", amount=max(0.0, monthly - variable), formula=formula,
                     scales=scales[:1]),
            LineItem(name="GPU time per request", kind="per_request", amount=per_request,
                     formula=f"{_n(seconds)} GPU-seconds x {_n(marginal_rate)} per hour / {sv.utilization:g} "
                             "utilization (the GPUs above include it)", scales=scales)], gpus


def line_items(strategy: str, deployment: str, inp: Inputs) -> tuple[list[LineItem], float | None]:
    items = [people_item(strategy, inp), labeling_item(strategy, inp)]
    if "fine_tuned" in PARTS[strategy]:
        items.append(training_item(strategy, deployment, inp))
    if "retrieval" in PARTS[strategy]:
        items.append(indexing_item(inp))
        items.append(LineItem(name="vector store", kind="monthly", amount=inp.money(inp.a.monthly.vector_store),
                              formula="assumed monthly cost of the vector index", scales=["monthly.vector_store"]))
    if deployment in PER_TOKEN:
        return items + [per_token_item(strategy, deployment, inp)], None
    more, gpus = gpu_items(strategy, deployment, inp)
    return items + more, gpus


def _totals(items: list[LineItem], inp: Inputs) -> tuple[float, float, float, float]:
    one_off = sum(i.amount for i in items if i.kind == "one_off")
    fixed = sum(i.amount for i in items if i.kind == "monthly")
    per_request = sum(i.amount for i in items if i.kind == "per_request")
    return one_off, fixed, per_request, fixed + inp.answers.monthly_requests * per_request


# -- per strategy and break-even ------------------------------------------------------------
def strategy_cost(strategy: str, inp: Inputs) -> StrategyCost:
    """The strategy in every deployment; priced by the cheapest one the answers allow over the horizon."""
    horizon, options, priced = inp.a.horizon_months, [], {}
    for deployment in candidates(strategy):
        reason = why_not(deployment, inp.answers, strategy)
        items, gpus = line_items(strategy, deployment, inp)
        one_off, _fixed, _per, monthly = _totals(items, inp)
        options.append(DeploymentCost(deployment=deployment, label=LABELS[deployment], allowed=reason is None,
                                      reason=reason or "", one_off=one_off, monthly=monthly,
                                      total=one_off + horizon * monthly, gpus=gpus))
        priced[deployment] = items
    allowed = [o for o in options if o.allowed]
    best = min(allowed or options, key=lambda o: o.total)
    items = priced[best.deployment]
    one_off, fixed, per_request, monthly = _totals(items, inp)
    tokens_in, _ = input_tokens(strategy, inp)
    if allowed:
        others = [o for o in allowed if o is not best]
        why = (f"the cheapest of the {len(allowed)} deployments your answers allow over {horizon} months"
               if others else "the only deployment your answers allow")
    else:
        why = no_deployment_reason(strategy, inp.answers)
    answers = inp.answers
    ratio = max(_ratio(one_off, answers.budget_one_off), _ratio(monthly, answers.budget_monthly))
    row = StrategyCost(
        strategy=strategy, deployment=best.deployment, deployment_label=best.label, deployment_reason=why,
        deployments=options, runnable=bool(allowed), input_tokens=tokens_in,
        output_tokens=inp.completion, one_off=one_off, monthly_fixed=fixed, per_request=per_request,
        monthly=monthly, total=one_off + horizon * monthly,
        within_one_off_budget=one_off <= answers.budget_one_off,
        within_monthly_budget=monthly <= answers.budget_monthly, items=items, budget_ratio=round(ratio, 4),
    )
    row._options = {o.deployment: priced[o.deployment] for o in allowed}
    return row


def _ratio(cost: float, budget: float) -> float:
    if cost <= 0:
        return 0.0
    return min(1000.0, cost / budget) if budget > 0 else 1000.0


def break_even_volume(s: StrategyCost, c: StrategyCost, horizon: int) -> float | None:
    """Monthly requests at which ``s`` and ``c`` (``c`` cheaper per request) have equal totals.

    ``0.0``: ``c`` is cheaper at any volume; ``None``: same per-request cost, so volume never changes the order.
    """
    fixed_s = s.one_off + horizon * s.monthly_fixed
    fixed_c = c.one_off + horizon * c.monthly_fixed
    gap = s.per_request - c.per_request
    if gap <= 0:
        return None
    return max(0.0, (fixed_c - fixed_s) / (horizon * gap))


def break_even(s: StrategyCost, c: StrategyCost, inp: Inputs) -> BreakEven:
    horizon, cur = inp.a.horizon_months, inp.currency
    volume = break_even_volume(s, c, horizon)
    cheaper = c.strategy if c.total < s.total else s.strategy
    if volume is None:
        text = f"{s.strategy} and {c.strategy} cost the same per request; volume does not change which is cheaper."
    elif volume == 0:
        text = f"{c.strategy} costs less than {s.strategy} at any monthly volume over {horizon} months."
    else:
        text = (f"Above {volume:,.0f} requests per month, {c.strategy} costs less than {s.strategy} over {horizon} "
                f"months ({cur}); at your {inp.answers.monthly_requests:,} requests, {cheaper} is cheaper.")
    return BreakEven(strategy=s.strategy, versus=c.strategy, requests_per_month=volume,
                     cheaper_at_current_volume=cheaper, text=text)
