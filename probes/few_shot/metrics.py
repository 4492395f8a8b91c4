"""The few-shot probe's per-run figures: prediction helpers, tokens and latency per request (definitions in
docs/few-shot.md)."""

from __future__ import annotations

import json
import math
import statistics
from typing import Any


def usage_row(usages: list[dict[str, list]]) -> dict[str, Any]:
    """Mean tokens per request and latency percentiles over the requests of some (k, seed) runs."""
    prompt = [t for u in usages for t in u["prompt_tokens"] if t is not None]
    completion = [t for u in usages for t in u["completion_tokens"] if t is not None]
    latency = sorted(t for u in usages for t in u["latency"] if t is not None)
    row: dict[str, Any] = {"requests": len(prompt), "prompt_tokens": statistics.fmean(prompt) if prompt else None,
                           "completion_tokens": statistics.fmean(completion) if completion else None}
    if latency:
        row.update(latency_p50=statistics.median(latency),
                   latency_p95=latency[min(len(latency) - 1, math.ceil(0.95 * len(latency)) - 1)])
    return row


def argmax(values: list[float]) -> int:
    """Index of the largest value; the first one on ties (as numpy.argmax in lm-eval)."""
    return max(range(len(values)), key=lambda i: (values[i], -i))


def rate(flags: Any) -> float:
    flags = list(flags)
    return sum(bool(f) for f in flags) / len(flags) if flags else 0.0


def is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


def usage_evidence(rows: list[dict], best: dict) -> dict[str, Any]:
    """Measured tokens and latency: what a request of each prompt shape costs on this model."""
    ev: dict[str, Any] = {}
    if best.get("latency_p50") is not None:
        ev.update(latency_p50=best["latency_p50"], latency_p95=best["latency_p95"])
    if best.get("completion_tokens") is not None:
        ev["completion_tokens"] = best["completion_tokens"]
    zero = next((r for r in rows if r["k"] == 0 and r.get("prompt_tokens") is not None), None)
    widest = max((r for r in rows if r["k"] > 0 and r.get("prompt_tokens") is not None), key=lambda r: r["k"],
                 default=None)
    if zero is not None:
        ev["prompt_tokens_zero_shot"] = zero["prompt_tokens"]
        if widest is not None:
            ev["prompt_tokens_per_demo"] = max(0.0, (widest["prompt_tokens"] - zero["prompt_tokens"]) / widest["k"])
    return ev
