"""The cost model's arithmetic: each strategy priced in each deployment the answers allow, line by line, and the
cheapest allowed one kept (formulas in ``docs/costs.md``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from advisor.intake.answers import Answers
from advisor.costs.deployments import LABELS, PER_TOKEN, candidates, no_deployment_reason, why_not
from advisor.costs.models import PARTS, BreakEven, CostAssumptions, DeploymentCost, LineItem, StrategyCost
from advisor.sentences import rounded, say
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
                self.notes.append(say("`{assumption}` = {default} from your cost file is used rather than the "
                                      "measured `{key}` = {value}.", assumption=assumption, default=_n(default),
                                      key=key, value=_n(float(value))))
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
        return wanted, rate, [say("Prices assumed in {assumed} are converted at 1 {assumed} = {rate:g} {wanted} "
                                  "(exchange_rates in the cost assumptions).", assumed=a.currency, rate=rate,
                                  wanted=wanted)]
    return a.currency, 1.0, [say("Figures are in {assumed}, the currency of the cost assumptions, not {wanted}: add "
                                 "`exchange_rates: {{{wanted}: RATE}}` to a --costs file to convert them. The "
                                 "labeling cost per example is used as you gave it.", assumed=a.currency,
                                 wanted=wanted)]


# -- components -----------------------------------------------------------------------------
def input_tokens(strategy: str, inp: Inputs) -> tuple[float, str]:
    """Prompt tokens a request of ``strategy`` sends, and how they add up: one parenthesized phrase per make-up of
    the prompt (the parentheses keep the phrase from matching the whole formula it is part of)."""
    t, parts = inp.a.tokens, PARTS[strategy]
    base = total = t.fine_tuned_prompt_base if "fine_tuned" in parts else inp.prompt_base
    chosen = "few_shot" in parts and inp.chosen_prompt is not None
    demos, retrieval = "few_shot" in parts and not chosen, "retrieval" in parts
    if chosen:
        total = inp.chosen_prompt
    elif demos:
        total += inp.few_shot_k * inp.per_demo
    if retrieval:
        total += t.rag_top_k * inp.chunk_tokens
    n = {"base": _n(base), "k": inp.few_shot_k, "per_demo": _n(inp.per_demo), "top_k": t.rag_top_k,
         "chunk": _n(inp.chunk_tokens), "chosen": _n(inp.chosen_prompt or 0.0)}
    if chosen and retrieval:
        words = say("({chosen} tokens of the prompt chosen on your model + {top_k} retrieved chunks x {chunk})", **n)
    elif chosen:
        words = say("({chosen} tokens of the prompt chosen on your model)", **n)
    elif demos and retrieval:
        words = say("({base} base prompt + {k} demonstrations x {per_demo} + {top_k} retrieved chunks x {chunk})", **n)
    elif demos:
        words = say("({base} base prompt + {k} demonstrations x {per_demo})", **n)
    elif retrieval:
        words = say("({base} base prompt + {top_k} retrieved chunks x {chunk})", **n)
    else:
        words = say("({base} base prompt)", **n)
    return total, words


def people_item(strategy: str, inp: Inputs) -> LineItem:
    weeks, cost = inp.a.people.weeks[strategy], inp.a.people.week_cost
    return LineItem(name="people (evaluation set, build, iterations)", kind="one_off", amount=inp.money(weeks * cost),
                    formula=say("{weeks} person-weeks x {cost} per week", weeks=_n(weeks), cost=_n(cost)),
                    scales=["people.weeks", "people.week_cost"])


def labeling_item(strategy: str, inp: Inputs) -> LineItem:
    need, have = inp.a.labels[strategy], inp.answers.labeled_examples
    missing = max(0, need - have)
    return LineItem(name="labeling", kind="one_off", amount=missing * inp.answers.cost_per_label,
                    formula=say("max(0, {need} needed - {have} available) = {missing} examples x {price} per example",
                                need=_n(need), have=_n(have), missing=_n(missing),
                                price=_n(inp.answers.cost_per_label)))


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
                        formula=say("{examples} examples x {tokens} tokens x {epochs} epochs x {price} per 1M "
                                    "training tokens", examples=_n(examples), tokens=_n(inp.training_tokens),
                                    epochs=_n(t.training_epochs), price=_n(price)),
                        scales=[f"prices.{deployment}"])
    gpu = inp.a.gpus[inp.a.training.gpu]
    size_b = inp.answers.base_model_size_b or inp.a.training.default_model_b
    hours = gpu_hours(training_flops(size_b, examples * inp.training_tokens, t.training_epochs), gpu)
    hourly = inp.a.owned.marginal_per_gpu_hour if deployment == "owned_gpus" else gpu.price_per_hour
    where = "your GPUs at marginal cost" if deployment == "owned_gpus" else inp.a.training.gpu
    return LineItem(name="training compute", kind="one_off", amount=inp.money(hours * hourly),
                    formula=say("6 x {size}B parameters x {examples} examples x {tokens} tokens x {epochs} epochs / "
                                "({tflops} TFLOPS x {mfu:g} utilization) = {hours} GPU-hours x {hourly} per hour "
                                "({where})", size=_n(size_b), examples=_n(examples), tokens=_n(inp.training_tokens),
                                epochs=_n(t.training_epochs), tflops=_n(gpu.bf16_tflops), mfu=gpu.mfu,
                                hours=_n(hours), hourly=_n(hourly), where=where),
                    scales=["owned.marginal_per_gpu_hour" if deployment == "owned_gpus" else "gpus"])


def indexing_item(inp: Inputs) -> LineItem:
    docs, t = inp.answers.corpus_documents, inp.a.tokens
    tokens = docs * t.corpus_tokens_per_document
    return LineItem(name="indexing the corpus", kind="one_off",
                    amount=inp.money(tokens * inp.a.prices.embedding_per_1m / 1e6),
                    formula=say("{docs} documents x {tokens} tokens x {price} per 1M embedding tokens",
                                docs=_n(docs), tokens=_n(t.corpus_tokens_per_document),
                                price=_n(inp.a.prices.embedding_per_1m)))


def per_token_item(strategy: str, deployment: str, inp: Inputs) -> LineItem:
    price = getattr(inp.a.prices, deployment)
    tokens_in, words = input_tokens(strategy, inp)
    tokens_out = inp.completion
    amount = inp.money(tokens_in * price.input_per_1m + tokens_out * price.output_per_1m) / 1e6
    return LineItem(name=say("inference ({deployment})", deployment=deployment.replace("_", " ")),
                    kind="per_request", amount=amount,
                    formula=say("{words} = {tokens_in} input tokens x {input_price} per 1M + {tokens_out} output "
                                "tokens x {output_price} per 1M", words=words, tokens_in=_n(tokens_in),
                                input_price=_n(price.input_per_1m), tokens_out=_n(tokens_out),
                                output_price=_n(price.output_per_1m)),
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
    n = {"words": words, "tokens_in": _n(tokens_in), "prefill": _n(sv.prefill_ratio), "completion": _n(inp.completion),
         "decode": _n(decode), "seconds": _n(seconds), "requests": inp.answers.monthly_requests,
         "utilization": sv.utilization, "load": _n(load), "gpus": _n(gpus), "hours": _n(sv.hours_per_month),
         "rented": _n(rented)}
    if deployment == "owned_gpus":
        formula = say("{words} = {tokens_in} input tokens / {prefill} + {completion} output tokens at {decode} "
                      "tokens/s per GPU = {seconds} GPU-seconds a request; {requests:,} requests at {utilization:g} "
                      "utilization need {load} GPUs, so {gpus} GPUs: {own} owned x {marginal} + {rented_gpus} rented "
                      "x {rented} per hour x {hours} hours", own=_n(own),
                      marginal=_n(inp.a.owned.marginal_per_gpu_hour), rented_gpus=_n(gpus - own), **n)
    else:
        formula = say("{words} = {tokens_in} input tokens / {prefill} + {completion} output tokens at {decode} "
                      "tokens/s per GPU = {seconds} GPU-seconds a request; {requests:,} requests at {utilization:g} "
                      "utilization need {load} GPUs, so {gpus} GPUs: {gpus} x {rented} ({gpu}) per hour x {hours} "
                      "hours", gpu=sv.gpu, **n)
    scales = ["owned.marginal_per_gpu_hour" if own >= gpus and own > 0 else "gpus",
              "1/serving.output_tokens_per_second", "tokens.completion"]
    return [LineItem(name="GPUs kept running", kind="monthly", amount=max(0.0, monthly - variable), formula=formula,
                     scales=scales[:1]),
            LineItem(name="GPU time per request", kind="per_request", amount=per_request,
                     formula=say("{seconds} GPU-seconds x {rate} per hour / {utilization:g} utilization (the GPUs "
                                 "above include it)", seconds=_n(seconds), rate=_n(marginal_rate),
                                 utilization=sv.utilization), scales=scales)], gpus


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
        why = (say("the cheapest of the {count} deployments your answers allow over {horizon} months",
                   count=len(allowed), horizon=horizon) if others else "the only deployment your answers allow")
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
        text = say("{strategy} and {versus} cost the same per request; volume does not change which is cheaper.",
                   strategy=s.strategy, versus=c.strategy)
    elif volume == 0:
        text = say("{versus} costs less than {strategy} at any monthly volume over {horizon} months.",
                   versus=c.strategy, strategy=s.strategy, horizon=horizon)
    else:
        text = say("Above about {volume:,.0f} requests per month, {versus} costs less than {strategy} over {horizon} "
                   "months ({currency}); at your {requests:,} requests, {cheaper} is cheaper.", volume=rounded(volume),
                   versus=c.strategy, strategy=s.strategy, horizon=horizon, currency=cur,
                   requests=inp.answers.monthly_requests, cheaper=cheaper)
    return BreakEven(strategy=s.strategy, versus=c.strategy, requests_per_month=volume,
                     cheaper_at_current_volume=cheaper, text=text)
