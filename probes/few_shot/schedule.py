"""The order in which the few-shot probe measures, so that a time budget yields the best measurement it allows.

Without a budget every (k, seed) run scores the whole eval set, k by k. With one, the probe first measures the
cheapest informative point — one k (k=0 when asked for, else the smallest k) on a small seeded sample of the
eval set, published every ``STEP`` examples — then adds the other k values on that sample, then widens every
k to the whole eval set, and only then adds the other demonstration seeds. Whatever the budget stops, what
finished is a valid result: a point on fewer examples has a wider interval, never a missing one.

A *slice* is ``(k, seed, start, end)``: that run scores eval examples ``order[start:end]``. Only seed 0 of a
k is measured in several slices; the other seeds score the whole eval set in one slice, so a seed is either
complete or absent. The outcomes of slices of one run are merged (:func:`merge`) and put back in eval order
(:func:`in_eval_order`), so a run measured in slices gives the figures of a run measured at once.
"""

from __future__ import annotations

import random
from typing import Any

FIRST_SAMPLE = 30  # examples of the first point (its interval is wide; widening follows)
STEP = 10  # the first point is published every STEP examples, so a tight budget still yields one
WIDEN = 30  # examples per slice when a k is widened to the whole eval set

#: per-example lists of an outcome (kept aligned with ``idx``, the eval positions scored)
PER_EXAMPLE = ("idx", "pred", "pred_norm", "gold", "logprobs", "answers", "format_failures", "pred_lp", "em", "f1",
               "json")
SUMMED = ("tokens", "full_tokens", "wall_seconds")

Slice = tuple[int, int, int, int]


def seeds_of(k: int, seeds: int) -> range:
    """k=0 has no demonstrations to draw: it runs once."""
    return range(1 if k == 0 else seeds)


def plan_slices(ks: list[int], seeds: int, n: int, budgeted: bool) -> list[Slice]:
    """The slices to score, in order (``ks`` sorted, ``n`` eval examples)."""
    if not budgeted or not ks:
        return [(k, s, 0, n) for k in ks for s in seeds_of(k, seeds)]
    first = min(n, FIRST_SAMPLE)
    out: list[Slice] = [(ks[0], 0, lo, min(first, lo + STEP)) for lo in range(0, first, STEP)]
    out += [(k, 0, 0, first) for k in ks[1:]]
    out += [(k, 0, lo, min(n, lo + WIDEN)) for k in ks for lo in range(first, n, WIDEN)]
    out += [(k, s, 0, n) for k in ks for s in seeds_of(k, seeds) if s > 0]
    return out


def eval_order(n: int, seed: int, budgeted: bool) -> list[int]:
    """The order eval examples are taken in: seeded and shuffled when measured in slices (so that the first
    sample is a fair draw even when the file is sorted by label), else the file's order."""
    order = list(range(n))
    if budgeted:
        random.Random(seed * 7919 + 17).shuffle(order)
    return order


def merge(into: dict[str, Any] | None, part: dict[str, Any]) -> dict[str, Any]:
    """One run's outcome extended by a further slice's: per-example lists and usage joined, counts summed."""
    if into is None:
        return {key: (dict((k, list(v)) for k, v in value.items()) if key == "usage" else
                      list(value) if key in PER_EXAMPLE else value) for key, value in part.items()}
    for key, value in part.items():
        if key in PER_EXAMPLE:
            into[key] = into.get(key, []) + list(value)
        elif key in SUMMED:
            into[key] = into.get(key, 0) + value
        elif key == "usage":
            for name, values in value.items():
                into["usage"][name] = into["usage"].get(name, []) + list(values)
        elif key == "has_lp":
            into[key] = bool(into.get(key)) or bool(value)
    return into


def in_eval_order(outcome: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``outcome`` with every per-example list (usage included) sorted by eval position."""
    idx = outcome["idx"]
    order = sorted(range(len(idx)), key=idx.__getitem__)
    out = dict(outcome)
    for key in PER_EXAMPLE:
        if key in outcome and len(outcome[key]) == len(idx):
            out[key] = [outcome[key][i] for i in order]
    if "usage" in outcome:
        out["usage"] = {name: [values[i] for i in order] if len(values) == len(idx) else list(values)
                        for name, values in outcome["usage"].items()}
    return out


def counted(cover: dict[tuple[int, int], dict], k: int) -> list[tuple[int, dict]]:
    """The seeds of k that count, with their outcomes: those that scored as many examples as the widest run of
    that k (a run the budget cut shorter is left out, so the seeds of a k are compared on the same examples)."""
    runs = sorted((seed, o) for (kk, seed), o in cover.items() if kk == k and o["idx"])
    if not runs:
        return []
    widest = max(len(o["idx"]) for _, o in runs)
    return [(seed, o) for seed, o in runs if len(o["idx"]) == widest]


def finish(raw: dict[str, Any], labels: list[str], no_label: str) -> dict[str, Any]:
    """A run's merged outcome in eval order, with its aggregates: accuracy (exact match for generation), and for
    classification macro-F1, the confusion matrix and the length-normalized (or log-probability) accuracy."""
    from advisor.probes.few_shot.metrics import rate
    from advisor.probes.few_shot.spec import confusion, macro_f1

    o = in_eval_order(raw)
    gold, pred = o["gold"], o["pred"]
    if "em" in o:
        o["accuracy"] = rate(bool(v) for v in o["em"])
        return o
    o["accuracy"] = rate(p == g for p, g in zip(pred, gold))
    o["macro_f1"] = macro_f1(gold, pred, labels)
    if "format_failures" in o:  # classification by generation: an answer may name no label
        o["accuracy_norm"] = rate(p == g for p, g in zip(o["pred_lp"], gold)) if o.get("has_lp") else None
        o["confusion"] = confusion(gold, pred, labels + [no_label])
        o["logprobs_returned"] = bool(o.get("has_lp"))
    else:
        o["accuracy_norm"] = rate(p == g for p, g in zip(o["pred_norm"], gold))
        o["confusion"] = confusion(gold, pred, labels)
    return o
