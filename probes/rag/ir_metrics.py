"""Ranking metrics with binary relevance, following the definitions of trec_eval and of
sentence-transformers' ``InformationRetrievalEvaluator``:

- ``hit@k`` (the evaluator's accuracy@k): 1 if any relevant item is in the top k;
- ``precision@k``: relevant items in the top k / k (k, not the list length);
- ``recall@k``: relevant items in the top k / number of relevant items;
- ``mrr@k``: 1 / rank of the first relevant item within the top k, else 0;
- ``ndcg@k``: DCG of the top k (gain 1, discount log2(rank + 1)) over the ideal DCG of
  min(k, |relevant|) relevant items;
- ``map@k``: sum of precision at each relevant rank within the top k / min(k, |relevant|).

A query with no relevant item scores 0 everywhere (callers decide whether to keep it).
Rankings are lists of item ids, best first; ties must already be broken by the caller.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np


def first_relevant_rank(ranked: Sequence[str], relevant: set[str]) -> int | None:
    """1-based rank of the first relevant item, or ``None`` when none is in ``ranked``."""
    for rank, item in enumerate(ranked, start=1):
        if item in relevant:
            return rank
    return None


def _flags(ranked: Sequence[str], relevant: set[str], k: int) -> list[bool]:
    return [item in relevant for item in ranked[:k]]


def hit_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return float(any(_flags(ranked, relevant, k)))


def precision_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return sum(_flags(ranked, relevant, k)) / k


def recall_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return sum(_flags(ranked, relevant, k)) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    rank = first_relevant_rank(ranked[:k], relevant)
    return 0.0 if rank is None else 1.0 / rank


def dcg(gains: Iterable[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return 0.0
    ideal = dcg([1.0] * min(k, len(relevant)))
    return dcg(float(f) for f in _flags(ranked, relevant, k)) / ideal


def average_precision_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return 0.0
    found, total = 0, 0.0
    for rank, is_rel in enumerate(_flags(ranked, relevant, k), start=1):
        if is_rel:
            found += 1
            total += found / rank
    return total / min(k, len(relevant))


def query_metrics(
    ranked: Sequence[str],
    relevant: set[str],
    ks: Sequence[int],
    mrr_k: int = 10,
    ndcg_k: int = 10,
    map_k: int = 100,
) -> dict[str, float]:
    """All metrics of one query, keyed ``hit@k``, ``precision@k``, ``recall@k``, ``mrr@10``..."""
    out: dict[str, float] = {}
    for k in ks:
        out[f"hit@{k}"] = hit_at_k(ranked, relevant, k)
        out[f"precision@{k}"] = precision_at_k(ranked, relevant, k)
        out[f"recall@{k}"] = recall_at_k(ranked, relevant, k)
    out[f"mrr@{mrr_k}"] = reciprocal_rank(ranked, relevant, mrr_k)
    out[f"ndcg@{ndcg_k}"] = ndcg_at_k(ranked, relevant, ndcg_k)
    out[f"map@{map_k}"] = average_precision_at_k(ranked, relevant, map_k)
    return out


def mean_metrics(per_query: Sequence[dict[str, float]]) -> dict[str, float]:
    """Mean of every metric over queries (macro average, as trec_eval and the evaluator do)."""
    if not per_query:
        return {}
    return {name: float(np.mean([q[name] for q in per_query])) for name in per_query[0]}
