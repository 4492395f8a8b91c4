"""The few-shot probe's per-run figures: prediction helpers, tokens and latency per request, each k's table row
and stored metrics over its seeds (definitions in docs/few-shot.md)."""

from __future__ import annotations

import json
import math
import statistics
from typing import Any

from advisor.probes.common.base import Metric
from advisor.probes.few_shot.spec import accuracy_metric, mean_metric, seed_stats


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


def unit_row(k: int, outs: list[dict], task: str, by_generation: bool, n_labels: int) -> dict:
    """One k's row of the report table, over its seeds."""
    n = len(outs[0]["gold"])
    st = seed_stats([o["accuracy"] for o in outs])
    metric = accuracy_metric("accuracy", st["mean"], n, {})
    row = {"k": k, "seeds": len(outs), "accuracy": st["mean"], "ci_low": metric.ci_low, "ci_high": metric.ci_high,
           "std": st["std"], "std_low": st["std_low"], "std_high": st["std_high"], "min": st["min"],
           "max": st["max"], "n": n,
           "tokens": sum(o["tokens"] for o in outs), "full_tokens": sum(o["full_tokens"] for o in outs),
           "wall_seconds": sum(o["wall_seconds"] for o in outs)}
    if "usage" in outs[0]:
        row.update(usage_row([o["usage"] for o in outs]))
    if task == "classification":
        width = len(outs[0]["confusion"][0])
        norms = [o["accuracy_norm"] for o in outs if o["accuracy_norm"] is not None]
        row.update(accuracy_norm=statistics.fmean(norms) if norms else None,
                   macro_f1=statistics.fmean(o["macro_f1"] for o in outs),
                   confusion=[[sum(o["confusion"][i][j] for o in outs) for j in range(width)]
                              for i in range(n_labels)])
        if by_generation:
            row["format_failure_rate"] = statistics.fmean(f for o in outs for f in o["format_failures"])
    else:
        row.update(token_f1=statistics.fmean(f for o in outs for f in o["f1"]),
                   json_valid=statistics.fmean(v for o in outs for v in o["json"]))
    return row

def unit_metrics(k: int, outs: list[dict], task: str, by_generation: bool) -> list:
    """One k's stored metrics (with their intervals), over its seeds."""
    n, params = len(outs[0]["gold"]), {"k": k, "seeds": len(outs)}
    mean = lambda key: statistics.fmean(o[key] for o in outs)  # noqa: E731
    st = seed_stats([o["accuracy"] for o in outs])
    common = [Metric(name="accuracy_seed_std", value=st["std"], ci_low=st["std_low"], ci_high=st["std_high"],
                     n=len(outs), params=params),
              Metric(name="tokens_processed", value=sum(o["tokens"] for o in outs), params=params),
              Metric(name="wall_seconds", value=sum(o["wall_seconds"] for o in outs), params=params)]
    if "usage" in outs[0]:
        usage = usage_row([o["usage"] for o in outs])
        common += [Metric(name=name, value=usage[name], n=usage["requests"], params=params)
                   for name in ("prompt_tokens", "completion_tokens", "latency_p50", "latency_p95")
                   if usage.get(name) is not None]
    if by_generation:
        failures = [f for o in outs for f in o["format_failures"]]
        extra = [accuracy_metric("format_failure_rate", statistics.fmean(failures), n, params)]
        if all(o["accuracy_norm"] is not None for o in outs):
            extra.append(accuracy_metric("accuracy_logprobs", mean("accuracy_norm"), n, params))
        return [accuracy_metric("accuracy", mean("accuracy"), n, params),
                Metric(name="macro_f1", value=mean("macro_f1"), n=n, params=params)] + extra + common
    if task == "classification":
        return [accuracy_metric("accuracy", mean("accuracy"), n, params),
                accuracy_metric("accuracy_norm", mean("accuracy_norm"), n, params),
                Metric(name="macro_f1", value=mean("macro_f1"), n=n, params=params)] + common
    per_example_f1 = [statistics.fmean(o["f1"][i] for o in outs) for i in range(n)]
    extra = [accuracy_metric("json_valid", statistics.fmean(v for o in outs for v in o["json"]), n, params)] \
        if task == "extraction" else []
    return [accuracy_metric("exact_match", mean("accuracy"), n, params),
            mean_metric("token_f1", per_example_f1, params)] + extra + common
