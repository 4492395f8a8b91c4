"""Where a strategy runs, and what the answers allow: hosted API, provider-hosted fine-tune, an open model at an
inference provider (LoRA adapters served at the base price), self-hosted rented GPUs, or owned GPUs.

A deployment prices a strategy; it is the same for every strategy that runs in it (no strategy pays a fee the
others would also pay there). What the answers rule out is a hard constraint, stated with its reason; a strategy
with no deployment left cannot run at all.
"""

from __future__ import annotations

from typing import Any

from advisor.costs.models import PARTS
from advisor.sentences import say

LABELS = {
    "hosted_api": "hosted API, per token",
    "hosted_fine_tune": "provider-hosted fine-tune, per token",
    "serverless_open": "open-weights model at an inference provider, per token (LoRA adapters at the base price)",
    "self_hosted": "self-hosted on rented GPUs",
    "owned_gpus": "your own GPUs, at marginal cost",
}
#: the deployments that bill per token (the others rent or run whole GPUs)
PER_TOKEN = ("hosted_api", "hosted_fine_tune", "serverless_open")


def tuned(strategy: str) -> bool:
    return "fine_tuned" in PARTS[strategy]


def candidates(strategy: str) -> list[str]:
    """The deployments a strategy can run in, before the answers are read."""
    first = "hosted_fine_tune" if tuned(strategy) else "hosted_api"
    return [first, "serverless_open", "self_hosted", "owned_gpus"]


def why_not(deployment: str, answers: Any, strategy: str | None = None) -> str | None:
    """Why the answers rule a deployment out, or ``None`` when they allow it. A strategy that prompts an unchanged
    model runs on the capable hosted model when the answers allow one and name no open-weights model: a small open
    model is a different model, not a cheaper way to run the same prompt."""
    base = str(answers.base_model)
    leaves = not answers.data_may_leave
    hosted_possible = not leaves and answers.hosted_api_allowed and base != "open_weights"
    if strategy is not None and not tuned(strategy) and deployment != "hosted_api" and hosted_possible \
            and base == "undecided":
        return "prompting runs on the capable hosted model your answers allow (answer open weights to price your own)"
    if deployment in ("hosted_api", "hosted_fine_tune"):
        if leaves:
            return "the data may not leave your premises"
        if not answers.hosted_api_allowed:
            return "a hosted API is not allowed"
        if base == "open_weights":
            return "you chose an open-weights model"
        return None
    if base == "hosted_api":
        return "you chose a hosted API model, whose weights cannot run elsewhere"
    if deployment == "serverless_open":
        if leaves:
            return "the data may not leave your premises"
        if not answers.hosted_api_allowed:
            return "a hosted API (an inference provider is one) is not allowed"
        return None
    compute = str(answers.compute_access)
    if deployment == "self_hosted":
        if leaves and compute != "cloud_gpu":
            return "the data may not leave your premises and you have no cloud GPUs of your own"
        return None
    if deployment == "owned_gpus":
        return None if compute == "onprem_gpu" else "you own no GPUs"
    raise ValueError(deployment)


def no_deployment_reason(strategy: str, answers: Any) -> str:
    """One sentence for a strategy no allowed deployment can run: its distinct reasons, one per candidate
    deployment at most (so one to four), each a phrase the report translates on its own."""
    if not answers.data_may_leave and str(answers.compute_access) == "none":
        return ("no deployment can run it: the data may not leave your premises and there are no GPUs of your own "
                "to run a model on")
    reasons = sorted({why_not(d, answers, strategy) for d in candidates(strategy)} - {None})
    if len(reasons) == 1:
        return say("no deployment can run it: {reason}", reason=reasons[0])
    if len(reasons) == 2:
        return say("no deployment can run it: {first}; {second}", first=reasons[0], second=reasons[1])
    if len(reasons) == 3:
        return say("no deployment can run it: {first}; {second}; {third}", first=reasons[0], second=reasons[1],
                   third=reasons[2])
    return say("no deployment can run it: {first}; {second}; {third}; {fourth}", first=reasons[0],
               second=reasons[1], third=reasons[2], fourth=reasons[3])
