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

from pydantic import ValidationError

from advisor.intake.answers import Answers
from advisor.errors import InputError, format_validation_error
from advisor.user_yaml import read_user_mapping
from advisor.costs.models import STRATEGIES, CostAssumptions, CostEstimate
from advisor.costs.lines import Inputs, break_even, strategy_cost
from advisor.sentences import say
from advisor.training_cost import costs_file

# -- loading --------------------------------------------------------------------------------
def _read_yaml(path: Path) -> dict[str, Any]:
    data, _ = read_user_mapping(path, label=f"--costs {path}", kind="a cost file",
                                missing="pass a YAML file with the assumptions to change",
                                example="prices: {hosted_api: {input_per_1m: 2.5}}")
    return data


#: figures of the earlier cost model, and what prices them now
RETIRED = {
    "monthly.fine_tuned_hosting": "a fine-tune is priced by the deployment that serves it (per token, or the GPUs "
                                  "its volume needs), like every other strategy",
    "prices.self_hosted.input_per_1m": "self-hosting is priced from GPUs (serving: and gpus:), not per token",
    "prices.self_hosted.output_per_1m": "self-hosting is priced from GPUs (serving: and gpus:), not per token",
}


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
    user: dict[str, Any] = {}
    if path is not None:
        source = Path(path)
        user = _read_yaml(source)
        for old, now in RETIRED.items():
            if old in leaf_paths(user):
                raise InputError(f"--costs {source}: {old} is no longer a cost figure: {now}; see docs/costs.md")
        data = merge(data, user)
    try:
        assumptions = CostAssumptions.model_validate(data)
    except ValidationError as exc:
        raise InputError(format_validation_error(exc, str(source), "the built-in rules/costs.yaml lists the fields")) from None
    assumptions._user_keys = set(leaf_paths(user))
    assumptions._user_file = str(source) if path is not None else ""
    return assumptions


def leaf_paths(data: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the leaves of a nested mapping: ``{"a": {"b": 1}}`` -> ``["a.b"]``."""
    if not isinstance(data, dict):
        return [prefix] if prefix else []
    return [p for key, value in data.items() for p in leaf_paths(value, f"{prefix}.{key}" if prefix else str(key))]


def estimate_costs(answers: Answers, evidence: dict[str, dict[str, Any]] | None,
                   assumptions: CostAssumptions, models: dict[str, str] | None = None) -> CostEstimate:
    """Cost of every strategy for these answers; measured evidence replaces assumptions where given.
    ``models``: the model each probe measured on (``{"target-few-shot": "gpt-4o-mini @ ..."}``), named in
    the figures' sources."""
    inputs = Inputs.build(answers, evidence or {}, assumptions)
    rows = [strategy_cost(s, inputs) for s in STRATEGIES]
    runnable = [r for r in rows if r.runnable] or rows
    cheapest = min(runnable, key=lambda r: (r.per_request, r.total))
    return CostEstimate(
        currency=inputs.currency, horizon_months=assumptions.horizon_months, monthly_requests=answers.monthly_requests,
        strategies=rows, cheapest_per_request=cheapest.strategy,
        cheapest_total=min(runnable, key=lambda r: r.total).strategy,
        break_even=[break_even(r, cheapest, inputs) for r in runnable if r is not cheapest],
        evidence_used=inputs.evidence_used, notes=inputs.notes,
        assumptions=assumptions.model_dump(mode="json"), sources=sources(assumptions, inputs, models or {}),
        measured=dict(inputs.measured_paths),
    )


def sources(assumptions: CostAssumptions, inputs: Inputs, models: dict[str, str]) -> dict[str, str]:
    """Where each assumption used came from: measured (on which model, which fact), your file, or the default."""
    by_namespace = {probe.replace("-", "_"): model for probe, model in models.items() if model}
    out = {path: assumptions.origin(path) for path in leaf_paths(assumptions.model_dump(mode="json"))}
    for path, fact in inputs.measured_paths.items():
        namespace = fact.split(".", 1)[0]
        model = by_namespace.get(f"{namespace}:embedder" if fact == "rag.best_chunk_size" else namespace)
        out[path] = say("measured on {model} ({fact})", model=model, fact=fact) if model else \
            say("measured ({fact})", fact=fact)
    return out
