"""The prompt probe's figures: scoring a unit's answers, the configuration table, the held-out comparison, facts and metrics."""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from advisor.probes.common.base import Metric
from advisor.probes.prompt import search
from advisor.sentences import say

NO_LABEL = "(no label)"
PROBE_MODEL_NOTE = say("Figures come from the probe model, which is much smaller than a production model: the "
                       "search shows which prompt choices matter on your data, not what your model reaches.")


def score_loglikelihood(run: Any, contexts: list, items: list) -> dict:
    """Classification by label log-likelihood (the few-shot probe's convention): the argmax label word."""
    labels = run.ds.labels
    builder, _ = run._builder(search.naive(0))
    conts = [builder.continuation(lab) for lab in labels]
    scores = run.lm.score_choices(contexts, [conts] * len(contexts), batch_tokens=run.config.batch_tokens,
                                  progress=run.progress)
    pred = [labels[max(range(len(row)), key=lambda i: (row[i].logprob, -i))] for row in scores]
    tokens = [run.lm.count_tokens(x) for x in contexts]
    return {"pred": pred, "correct": [p == e.label for p, e in zip(pred, items)], "answers": None,
            "format_failures": None, "usage": {"prompt_tokens": tokens, "completion_tokens": [], "latency": []}}


def score_answers(run: Any, cand: search.Candidate, contexts: list, items: list, asked: tuple) -> dict:
    """Generated answers: matched to a label (classification by generation; a reasoned answer's last marker
    line), else exact match."""
    from advisor.probes.common.labels import match_label
    from advisor.probes.common.textmetrics import exact_match

    outputs, usage = asked
    task = run.ds.task
    finals = [search.final_answer(o, task) if cand.reasoning else o for o in outputs]
    if task == "classification":
        matched = [match_label(f, run.ds.labels) for f in finals]
        pred = [run.ds.labels[m] if m is not None else NO_LABEL for m in matched]
        failures = [m is None for m in matched]
        correct = [p == e.label for p, e in zip(pred, items)]
    else:
        pred = [f.strip() for f in finals]
        failures = None
        correct = [bool(exact_match(p, e.label)) for p, e in zip(pred, items)]
    return {"pred": pred, "correct": correct, "answers": outputs, "format_failures": failures, "usage": usage}


def _mean(values: Any) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def _percentile(values: list[float], q: float) -> float | None:
    values = sorted(v for v in values if v is not None)
    return values[min(len(values) - 1, math.ceil(q * len(values)) - 1)] if values else None


def figures(outcome: dict) -> dict[str, Any]:
    """Accuracy with its Wilson interval, tokens, latency and format failures of one unit."""
    from advisor.probes.common.stats import wilson_interval

    n, hits = len(outcome["correct"]), sum(outcome["correct"])
    low, high = wilson_interval(hits, n)
    usage = outcome["usage"]
    cand = outcome["candidate"]
    row = {"key": cand.key, "stage": cand.stage, **cand.params(), "description": search.describe(cand),
           "accuracy": hits / n, "ci_low": low, "ci_high": high, "n": n,
           "prompt_tokens": _mean(usage["prompt_tokens"]), "completion_tokens": _mean(usage["completion_tokens"]),
           "seconds_per_example": outcome["seconds_per_example"], "wall_seconds": outcome["wall_seconds"],
           "instruction_text": outcome["instruction_text"], "prompt_example": outcome["prompt_example"]}
    if outcome["format_failures"] is not None:
        row["format_failure_rate"] = sum(outcome["format_failures"]) / n
    if cand.selection in ("random", "balanced"):
        row["demo_ids"] = outcome["demo_ids"][0]
    if usage["latency"]:
        row.update(latency_p50=statistics.median(v for v in usage["latency"] if v is not None),
                   latency_p95=_percentile(usage["latency"], 0.95))
    return row


def publish(run: Any) -> None:
    """Rebuild metrics, summary, facts and headline from what has finished."""
    rows = [{"id": r["id"], **figures(r)} for r in run.rows]
    held = {role: figures(o) for role, o in run.held.items()}
    chosen_row = search.choose(rows) if rows else None
    ev: dict[str, Any] = {"task": run.ds.task, "on_target": run.remote, "eval_size": len(run.held_out),
                          "selection_size": len(run.selection), "configurations_tried": len(rows),
                          "naive_k": run.config.naive_k}
    naive = held.get("naive")
    if naive:
        ev.update(naive_accuracy=naive["accuracy"], naive_prompt_tokens=naive["prompt_tokens"])
    gain = None
    if chosen_row is not None:
        ev.update(selection_accuracy=chosen_row["accuracy"], best_k=chosen_row["k"],
                  best_selection=chosen_row["selection"], best_instruction=chosen_row["instruction"],
                  best_reasoning=chosen_row["reasoning"])
    chosen = held.get("chosen")
    if chosen and naive:
        gain = paired_gain(run.held["chosen"]["correct"], run.held["naive"]["correct"])
        ev.update(best_accuracy=chosen["accuracy"], best_accuracy_low=chosen["ci_low"],
                  best_accuracy_high=chosen["ci_high"], gain=gain["gain"], gain_low=gain["low"],
                  gain_high=gain["high"], gain_p_value=gain["p_value"], prompt_tokens=chosen["prompt_tokens"],
                  seconds_per_example=chosen["seconds_per_example"])
        for name in ("completion_tokens", "format_failure_rate"):
            if chosen.get(name) is not None:
                ev[name] = chosen[name]
        if run.remote and chosen.get("latency_p50") is not None:
            ev.update(latency_p50=chosen["latency_p50"], latency_p95=chosen["latency_p95"])
    ev["complete"] = bool(chosen) and run.stopped is None
    run.result.evidence = {k: v for k, v in ev.items() if v is not None}
    run.result.metrics = metric_rows(rows, held, gain)
    run.result.summary = {
        "task": run.ds.task, "model": run.model_name, "model_source": run.lm.source,
        "model_role": "target" if run.remote else "proxy", "by_generation": run.by_generation, "bf16": run.bf16,
        "labels": run.ds.labels, "eval_size": len(run.held_out), "selection_size": len(run.selection),
        "pool_size": len(run.pool), "split_seed": run.config.split_seed, "seed": run.config.seed,
        "selection_ids": [e.id for e in run.selection], "held_out_ids": [e.id for e in run.held_out],
        "embedder": getattr(run, "embedder_name", None), "configs": rows, "held_out": held,
        "chosen": chosen_row["key"] if chosen_row else None, "chosen_id": chosen_row["id"] if chosen_row else None,
        "naive": search.naive(run.config.naive_k).key, "gain": gain, "stopped": run.stopped,
        "dataset_fingerprint": run.ds.fingerprint, "data": str(run.config.data),
        "probe_model_note": "" if run.remote else PROBE_MODEL_NOTE,
        "updated": time.time()}
    run.result.headline = headline(run, chosen_row, held, gain)


def paired_gain(chosen: list[bool], naive: list[bool]) -> dict[str, Any]:
    """Chosen minus naive on the same items: the difference, Newcombe's paired 95% interval, McNemar's p."""
    from advisor.probes.common.stats import mcnemar_exact, paired_difference_ci_cells

    both = sum(a and b for a, b in zip(chosen, naive))
    chosen_only = sum(a and not b for a, b in zip(chosen, naive))
    naive_only = sum(b and not a for a, b in zip(chosen, naive))
    neither = len(chosen) - both - chosen_only - naive_only
    low, high = paired_difference_ci_cells(both, chosen_only, naive_only, neither)
    _, _, p = mcnemar_exact(naive, chosen)
    return {"gain": (chosen_only - naive_only) / len(chosen), "low": low, "high": high, "p_value": p,
            "cells": {"both": both, "chosen_only": chosen_only, "naive_only": naive_only, "neither": neither}}


def metric_rows(rows: list[dict], held: dict[str, dict], gain: dict | None) -> list[Metric]:
    """Every configuration's selection accuracy (its params: the configuration), the held-out figures."""
    out = []
    for r in rows:
        params = {"config_id": r["id"], "split": "selection", "stage": r["stage"],
                  **{k: r[k] for k in ("instruction", "output", "selection", "k", "reasoning")}}
        out.append(Metric(name="selection_accuracy", value=r["accuracy"], ci_low=r["ci_low"], ci_high=r["ci_high"],
                          n=r["n"], params=params))
        if r["prompt_tokens"] is not None:
            out.append(Metric(name="prompt_tokens", value=r["prompt_tokens"], n=r["n"], params=params))
    for role, h in held.items():
        params = {"role": role, "split": "held_out",
                  **{k: h[k] for k in ("instruction", "output", "selection", "k", "reasoning")}}
        out.append(Metric(name="held_out_accuracy", value=h["accuracy"], ci_low=h["ci_low"], ci_high=h["ci_high"],
                          n=h["n"], params=params))
        for name in ("prompt_tokens", "completion_tokens", "latency_p50", "latency_p95", "seconds_per_example",
                     "format_failure_rate"):
            if h.get(name) is not None:
                out.append(Metric(name=name, value=h[name], n=h["n"], params=params))
    if gain is not None:
        out.append(Metric(name="gain", value=gain["gain"], ci_low=gain["low"], ci_high=gain["high"],
                          n=sum(gain["cells"].values()), params={"split": "held_out", **gain["cells"]}))
    return out


def headline(run: Any, chosen_row: dict | None, held: dict, gain: dict | None) -> str:
    kind = "accuracy" if run.ds.task == "classification" else "exact match"
    naive = held.get("naive")
    if naive is None:
        why = f": {run.stopped}" if getattr(run, "stopped", None) else ""
        return f"The prompt search on {run.model_name} measured nothing{why}."
    base = (f"the naive {run.config.naive_k}-shot prompt reaches {kind} {naive['accuracy']:.1%} "
            f"(95% CI {naive['ci_low']:.1%}–{naive['ci_high']:.1%})")
    chosen = held.get("chosen")
    if chosen is None or gain is None:
        return f"On {len(run.held_out)} held-out examples of {run.model_name}, {base}; the search did not finish."
    return (f"The prompt chosen among {len(run.rows)} configurations ({chosen['description']}) reaches {kind} "
            f"{chosen['accuracy']:.1%} (95% CI {chosen['ci_low']:.1%}–{chosen['ci_high']:.1%}) on "
            f"{len(run.held_out)} held-out examples of {run.model_name}, where {base}: "
            f"{100 * gain['gain']:+.1f} points (95% CI {100 * gain['low']:+.1f} to {100 * gain['high']:+.1f}).")
