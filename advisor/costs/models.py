"""The cost model's data: the assumptions (``rules/costs.yaml`` merged with ``--costs``) and the estimate."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from advisor.sentences import say
from advisor.training_cost import GpuClass

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
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


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


class TunablePrice(TokenPrice):
    training_per_1m: float = Field(ge=0)


class Prices(_Strict):
    hosted_api: TokenPrice
    hosted_fine_tune: TunablePrice
    serverless_open: TunablePrice
    embedding_per_1m: float = Field(ge=0)


class Serving(_Strict):
    """Self-hosted inference: GPUs sized from the tokens the volume needs."""

    gpu: str
    output_tokens_per_second: float = Field(gt=0)
    prefill_ratio: float = Field(gt=0)
    reference_model_b: float = Field(gt=0)
    utilization: float = Field(gt=0, le=1)
    min_gpus: int = Field(ge=0)
    hours_per_month: float = Field(gt=0, le=744)


class Owned(_Strict):
    capacity_gpus: int = Field(ge=0)
    marginal_per_gpu_hour: float = Field(ge=0)


class MonthlyFixed(_Strict):
    vector_store: float = Field(ge=0)


class People(_Strict):
    week_cost: float = Field(ge=0)
    weeks: dict[str, float]

    @field_validator("weeks")
    @classmethod
    def _all_strategies(cls, value: dict[str, float]) -> dict[str, float]:
        if set(value) != set(STRATEGIES) or any(v < 0 for v in value.values()):
            raise ValueError(f"give non-negative person-weeks for exactly: {', '.join(STRATEGIES)}")
        return value


class Training(_Strict):
    gpu: str
    default_model_b: float = Field(gt=0)


class CostAssumptions(_Strict):
    """Everything the cost model assumes (``rules/costs.yaml`` merged with the user's override)."""

    currency: str = Field(min_length=1, max_length=8)
    as_of: str = ""
    exchange_rates: dict[str, float] = Field(default_factory=dict)
    horizon_months: int = Field(ge=1, le=240)
    tokens: Tokens
    prices: Prices
    serving: Serving
    owned: Owned
    monthly: MonthlyFixed
    people: People
    labels: dict[str, int]
    training: Training
    gpus: dict[str, GpuClass]
    #: dotted path (a leaf or a section) -> (low, high) multipliers the decision's simulation varies it over
    uncertainty: dict[str, tuple[float, float]] = Field(default_factory=dict)
    #: dotted paths (``tokens.few_shot_k``) the user's ``--costs`` file set, and that file's name
    _user_keys: set[str] = PrivateAttr(default_factory=set)
    _user_file: str = PrivateAttr(default="")

    def set_by_user(self, path: str) -> bool:
        return path in self._user_keys

    def origin(self, path: str) -> str:
        return say("your cost file ({file})", file=self._user_file) if self.set_by_user(path) else "built-in default"

    @field_validator("labels")
    @classmethod
    def _all_strategies(cls, value: dict[str, int]) -> dict[str, int]:
        if set(value) != set(STRATEGIES) or any(v < 0 for v in value.values()):
            raise ValueError(f"give a non-negative number of examples for exactly: {', '.join(STRATEGIES)}")
        return value

    @model_validator(mode="after")
    def _known_gpu(self) -> "CostAssumptions":
        self.gpus = {k.lower(): v for k, v in self.gpus.items()}
        for section in (self.training, self.serving):
            section.gpu = section.gpu.lower()
            name = "training" if section is self.training else "serving"
            if section.gpu not in self.gpus:
                raise ValueError(f"{name}.gpu {section.gpu!r} is not in gpus: ({', '.join(self.gpus)})")
        for path, (low, high) in self.uncertainty.items():
            if not 0 < low <= 1 <= high:
                raise ValueError(f"uncertainty.{path}: give [low, high] multipliers with 0 < low <= 1 <= high")
        return self


# -- the estimate ---------------------------------------------------------------------------
class LineItem(BaseModel):
    """One cost component: ``kind`` is ``one_off``, ``monthly`` (fixed) or ``per_request``."""

    name: str
    kind: str
    amount: float
    formula: str
    #: the uncertain assumptions (``uncertainty:`` paths) the amount scales with; ``1/`` marks an inverse
    scales: list[str] = Field(default_factory=list)


class DeploymentCost(BaseModel):
    """One way to run a strategy, priced; ``allowed`` is false with the reason when the answers rule it out."""

    deployment: str
    label: str
    allowed: bool
    reason: str = ""
    one_off: float = 0.0
    monthly: float = 0.0
    total: float = 0.0
    gpus: float | None = None


class StrategyCost(BaseModel):
    strategy: str
    #: the deployment that prices it (the cheapest allowed one over the horizon), why, and the others (empty in
    #: assessments stored before deployments were priced)
    deployment: str = ""
    deployment_label: str = ""
    deployment_reason: str = ""
    deployments: list[DeploymentCost] = Field(default_factory=list)
    #: no deployment the answers allow can run it
    runnable: bool = True
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
    #: how far over the budget it is: max(one-off / one-off budget, monthly / monthly budget); <= 1 within
    budget_ratio: float = 0.0
    #: every allowed deployment's line items (for the decision's simulation; not stored)
    _options: dict[str, list[LineItem]] = PrivateAttr(default_factory=dict)


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
    #: where each assumption (dotted path) came from: measured by a probe, your cost file, or the default
    sources: dict[str, str] = Field(default_factory=dict)
    #: the assumptions a measurement replaced: dotted path -> the evidence fact (its value is in evidence_used)
    measured: dict[str, str] = Field(default_factory=dict)
