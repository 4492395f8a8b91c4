"""The cost model: one-off, monthly and per-request cost of each strategy, and break-even volumes.

Every price, size and volume is an assumption from ``rules/costs.yaml`` (overridable with a
partial ``--costs FILE``); this module holds only the arithmetic, documented in ``docs/costs.md``:

- per request: ``input tokens x input price / 1e6 + completion tokens x output price / 1e6``;
- monthly: ``monthly requests x per-request cost + fixed monthly costs`` (hosting, vector store);
- one-off: labeling the examples still missing + training compute + embedding the corpus;
- total over the horizon: ``one-off + horizon_months x monthly``;
- break-even volume between A and B: the monthly requests ``R`` where their totals are equal,
  ``R = (fixed_A - fixed_B) / (H x (p_B - p_A))`` with ``fixed = one-off + H x fixed monthly``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from advisor.answers import Answers
from advisor.errors import InputError, format_validation_error
from advisor.probes.cost_projection import GpuClass, costs_file

STRATEGIES = ("prompt_engineering", "rag", "fine_tuning", "rag_prompt", "rag_fine_tuning")
#: What each strategy's prompt contains and pays for (structure, not prices).
PARTS: dict[str, set[str]] = {
    "prompt_engineering": {"few_shot"},
    "rag": {"retrieval"},
    "fine_tuning": {"fine_tuned"},
    "rag_prompt": {"retrieval", "few_shot"},
    "rag_fine_tuning": {"retrieval", "fine_tuned"},
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tokens(_Strict):
    prompt_base: float = Field(ge=0)
    completion: float = Field(ge=0)
    per_few_shot_example: float = Field(ge=0)
    few_shot_k: int = Field(ge=0)
    rag_top_k: int = Field(ge=0)
    chunk_tokens: float = Field(ge=0)
    fine_tuned_prompt_base: float = Field(ge=0)
    corpus_tokens_per_document: float = Field(ge=0)
    training_tokens_per_example: float = Field(ge=0)
    training_epochs: float = Field(gt=0)


class TokenPrice(_Strict):
    input_per_1m: float = Field(ge=0)
    output_per_1m: float = Field(ge=0)


class Prices(_Strict):
    hosted_api: TokenPrice
    self_hosted: TokenPrice
    embedding_per_1m: float = Field(ge=0)


class MonthlyFixed(_Strict):
    fine_tuned_hosting: float = Field(ge=0)
    vector_store: float = Field(ge=0)


class Training(_Strict):
    gpu: str
    default_model_b: float = Field(gt=0)


class CostAssumptions(_Strict):
    """Everything the cost model assumes (``rules/costs.yaml`` merged with the user's override)."""

    currency: str = Field(min_length=1, max_length=8)
    exchange_rates: dict[str, float] = Field(default_factory=dict)
    horizon_months: int = Field(ge=1, le=240)
    tokens: Tokens
    prices: Prices
    monthly: MonthlyFixed
    labels: dict[str, int]
    training: Training
    gpus: dict[str, GpuClass]

    @field_validator("labels")
    @classmethod
    def _all_strategies(cls, value: dict[str, int]) -> dict[str, int]:
        if set(value) != set(STRATEGIES) or any(v < 0 for v in value.values()):
            raise ValueError(f"give a non-negative number of examples for exactly: {', '.join(STRATEGIES)}")
        return value

    @model_validator(mode="after")
    def _known_gpu(self) -> "CostAssumptions":
        self.gpus = {k.lower(): v for k, v in self.gpus.items()}
        self.training.gpu = self.training.gpu.lower()
        if self.training.gpu not in self.gpus:
            raise ValueError(f"training.gpu {self.training.gpu!r} is not in gpus: ({', '.join(self.gpus)})")
        return self


# -- loading --------------------------------------------------------------------------------
def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"--costs {path}: no such file; pass a YAML file with the assumptions to change.") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise InputError(f"--costs {path}: cannot read it as YAML{line}; fix the syntax.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"--costs {path}: must be a mapping such as `prices: {{hosted_api: {{input_per_1m: 2.5}}}}`.")
    return data


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``, recursively for mappings (other values are replaced)."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_cost_assumptions(path: Path | str | None = None) -> CostAssumptions:
    """The built-in assumptions, with the user's (partial) file at ``path`` merged over them."""
    data = _read_yaml(costs_file())
    source = costs_file()
    if path is not None:
        source = Path(path)
        data = merge(data, _read_yaml(source))
    try:
        return CostAssumptions.model_validate(data)
    except ValidationError as exc:
        raise InputError(format_validation_error(exc, str(source), "the built-in rules/costs.yaml lists the fields")) from None


# -- the estimate ---------------------------------------------------------------------------
class LineItem(BaseModel):
    """One cost component: ``kind`` is ``one_off``, ``monthly`` (fixed) or ``per_request``."""

    name: str
    kind: str
    amount: float
    formula: str


class StrategyCost(BaseModel):
    strategy: str
    price_class: str
    input_tokens: float
    output_tokens: float
    one_off: float
    monthly_fixed: float
    per_request: float
    monthly: float
    total: float
    within_one_off_budget: bool
    within_monthly_budget: bool
    items: list[LineItem]


class BreakEven(BaseModel):
    """Where ``strategy`` and the cheapest-per-request option ``versus`` cost the same over the horizon."""

    strategy: str
    versus: str
    requests_per_month: float | None
    cheaper_at_current_volume: str
    text: str


class CostEstimate(BaseModel):
    currency: str
    horizon_months: int
    monthly_requests: int
    strategies: list[StrategyCost]
    cheapest_per_request: str
    cheapest_total: str
    break_even: list[BreakEven]
    evidence_used: dict[str, float] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    assumptions: dict[str, Any]


def estimate_costs(answers: Answers, evidence: dict[str, dict[str, Any]] | None,
                   assumptions: CostAssumptions) -> CostEstimate:
    """Cost of every strategy for these answers; measured evidence replaces assumptions where given."""
    from advisor.costs_lines import Inputs, break_even, strategy_cost

    inputs = Inputs.build(answers, evidence or {}, assumptions)
    rows = [strategy_cost(s, inputs) for s in STRATEGIES]
    cheapest = min(rows, key=lambda r: (r.per_request, r.total))
    return CostEstimate(
        currency=inputs.currency, horizon_months=assumptions.horizon_months, monthly_requests=answers.monthly_requests,
        strategies=rows, cheapest_per_request=cheapest.strategy,
        cheapest_total=min(rows, key=lambda r: r.total).strategy,
        break_even=[break_even(r, cheapest, inputs) for r in rows if r is not cheapest],
        evidence_used=inputs.evidence_used, notes=inputs.notes,
        assumptions=assumptions.model_dump(mode="json"),
    )
