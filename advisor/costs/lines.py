"""The cost model's arithmetic per strategy (formulas in :mod:`advisor.costs.estimate` and ``docs/costs.md``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from advisor.intake.answers import Answers
from advisor.costs.models import PARTS, BreakEven, CostAssumptions, LineItem, StrategyCost
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
        self.few_shot_k = int(self.measured(("target_few_shot.best_k", "few_shot.best_k"), "tokens.few_shot_k",
                                            t.few_shot_k))
        on_target = bool(self.evidence.get("rag", {}).get("open_book_on_target"))
        chunk_keys = ("rag.context_tokens_per_chunk", "rag.best_chunk_size") if on_target else ("rag.best_chunk_size",)
        self.chunk_tokens = float(self.measured(chunk_keys, "tokens.chunk_tokens", t.chunk_tokens))
        self.training_tokens = float(self.measured(("lora.train_tokens_per_example",),
                                                   "tokens.training_tokens_per_example", t.training_tokens_per_example))
        self.prompt_base = float(self.measured(("target_few_shot.prompt_tokens_zero_shot",), "tokens.prompt_base",
                                               t.prompt_base))
        self.per_demo = float(self.measured(("target_few_shot.prompt_tokens_per_demo",), "tokens.per_few_shot_example",
                                            t.per_few_shot_example))
        self.completion = float(self.measured(("target_few_shot.completion_tokens",), "tokens.completion",
                                              t.completion))
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
def price_class(strategy: str, inp: Inputs) -> str:
    """Fine-tuned models are self-hosted; other strategies use a hosted API when the answers allow it."""
    ans = inp.answers
    hosted = ans.hosted_api_allowed and ans.data_may_leave and str(ans.base_model) != "open_weights"
    return "hosted_api" if hosted and "fine_tuned" not in PARTS[strategy] else "self_hosted"


def input_tokens(strategy: str, inp: Inputs) -> tuple[float, str]:
    t, parts = inp.a.tokens, PARTS[strategy]
    total = t.fine_tuned_prompt_base if "fine_tuned" in parts else inp.prompt_base
    words = [f"{_n(total)} base prompt"]
    if "few_shot" in parts:
        total += inp.few_shot_k * inp.per_demo
        words.append(f"{inp.few_shot_k} demonstrations x {_n(inp.per_demo)}")
    if "retrieval" in parts:
        total += t.rag_top_k * inp.chunk_tokens
        words.append(f"{t.rag_top_k} retrieved chunks x {_n(inp.chunk_tokens)}")
    return total, " + ".join(words)


def per_request_item(strategy: str, inp: Inputs) -> LineItem:
    cls = price_class(strategy, inp)
    price = getattr(inp.a.prices, cls)
    tokens_in, words = input_tokens(strategy, inp)
    tokens_out = inp.completion
    amount = inp.money(tokens_in * price.input_per_1m + tokens_out * price.output_per_1m) / 1e6
    return LineItem(name=f"inference ({cls.replace('_', ' ')})", kind="per_request", amount=amount,
                    formula=f"({words}) = {_n(tokens_in)} input tokens x {_n(price.input_per_1m)} per 1M + "
                            f"{_n(tokens_out)} output tokens x {_n(price.output_per_1m)} per 1M")


def labeling_item(strategy: str, inp: Inputs) -> LineItem:
    need, have = inp.a.labels[strategy], inp.answers.labeled_examples
    missing = max(0, need - have)
    return LineItem(name="labeling", kind="one_off", amount=missing * inp.answers.cost_per_label,
                    formula=f"max(0, {_n(need)} needed - {_n(have)} available) = {_n(missing)} examples x "
                            f"{_n(inp.answers.cost_per_label)} per example")


def training_item(strategy: str, inp: Inputs) -> LineItem:
    """Training FLOPs -> GPU-hours on the assumed GPU; tokens per example as measured when the LoRA probe ran."""
    gpu = inp.a.gpus[inp.a.training.gpu]
    t = inp.a.tokens
    size_b = inp.answers.base_model_size_b or inp.a.training.default_model_b
    examples = max(inp.a.labels[strategy], inp.answers.labeled_examples)
    hours = gpu_hours(training_flops(size_b, examples * inp.training_tokens, t.training_epochs), gpu)
    return LineItem(name="training compute", kind="one_off", amount=inp.money(hours * gpu.price_per_hour),
                    formula=f"6 x {_n(size_b)}B parameters x {_n(examples)} examples x {_n(inp.training_tokens)} "
                            f"tokens x {_n(t.training_epochs)} epochs / ({_n(gpu.bf16_tflops)} TFLOPS x {gpu.mfu:g} "
                            f"utilization) = {_n(hours)} GPU-hours x {_n(gpu.price_per_hour)} per hour "
                            f"({inp.a.training.gpu})")


def indexing_item(inp: Inputs) -> LineItem:
    docs, t = inp.answers.corpus_documents, inp.a.tokens
    tokens = docs * t.corpus_tokens_per_document
    return LineItem(name="indexing the corpus", kind="one_off",
                    amount=inp.money(tokens * inp.a.prices.embedding_per_1m / 1e6),
                    formula=f"{_n(docs)} documents x {_n(t.corpus_tokens_per_document)} tokens x "
                            f"{_n(inp.a.prices.embedding_per_1m)} per 1M embedding tokens")


def fixed_monthly_items(strategy: str, inp: Inputs) -> list[LineItem]:
    m, parts, items = inp.a.monthly, PARTS[strategy], []
    if "fine_tuned" in parts:
        items.append(LineItem(name="fine-tuned model hosting", kind="monthly", amount=inp.money(m.fine_tuned_hosting),
                              formula="assumed monthly cost of keeping the fine-tuned model deployed"))
    if "retrieval" in parts:
        items.append(LineItem(name="vector store", kind="monthly", amount=inp.money(m.vector_store),
                              formula="assumed monthly cost of the vector index"))
    return items


# -- per strategy and break-even ------------------------------------------------------------
def line_items(strategy: str, inp: Inputs) -> list[LineItem]:
    items = [labeling_item(strategy, inp)]
    if "fine_tuned" in PARTS[strategy]:
        items.append(training_item(strategy, inp))
    if "retrieval" in PARTS[strategy]:
        items.append(indexing_item(inp))
    return items + fixed_monthly_items(strategy, inp) + [per_request_item(strategy, inp)]


def strategy_cost(strategy: str, inp: Inputs) -> StrategyCost:
    items = line_items(strategy, inp)
    one_off = sum(i.amount for i in items if i.kind == "one_off")
    fixed = sum(i.amount for i in items if i.kind == "monthly")
    per_request = sum(i.amount for i in items if i.kind == "per_request")
    monthly = fixed + inp.answers.monthly_requests * per_request
    tokens_in, _ = input_tokens(strategy, inp)
    return StrategyCost(
        strategy=strategy, price_class=price_class(strategy, inp), input_tokens=tokens_in,
        output_tokens=inp.completion, one_off=one_off, monthly_fixed=fixed, per_request=per_request,
        monthly=monthly, total=one_off + inp.a.horizon_months * monthly,
        within_one_off_budget=one_off <= inp.answers.budget_one_off,
        within_monthly_budget=monthly <= inp.answers.budget_monthly, items=items,
    )


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
