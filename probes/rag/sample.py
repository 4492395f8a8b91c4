"""Sampling a corpus too large for the RAG probe's time budget, in the open.

When the chunks still to embed (the cache is counted) would take longer than the budget leaves, the probe keeps
every document that holds an answer (the gold documents of the questions, or those containing a gold answer)
and adds a uniform random sample (seeded) of the other documents, as many as the budget embeds at the rate
measured on a first block. Fewer distractors make retrieval easier, so figures on a sample are optimistic: the
report says so with the sample size and the budget the whole corpus needs, and the decision uses them only to
show that retrieval fails, never that it works. Without a budget nothing is sampled; nothing is ever truncated.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from advisor.sentences import say

#: share of the time left that embedding may take (the rest: BM25, metrics, bootstrap intervals, open-book)
EMBED_SHARE = 0.7
#: chunks embedded (and cached) to measure the rate before deciding
CALIBRATION_CHUNKS = 64
#: corpora with at most this many chunks left to embed are never sampled
MIN_CHUNKS = 2 * CALIBRATION_CHUNKS


@dataclass
class CorpusSample:
    documents: list[Any]  # the sample, in corpus order
    total_documents: int
    gold_documents: int
    full_seconds: float  # embedding the whole corpus (every chunk size, cache counted) at the measured rate
    available_seconds: float  # what the budget left for embedding
    seed: int

    def summary(self) -> dict[str, Any]:
        return {"documents": len(self.documents), "total_documents": self.total_documents,
                "gold_documents": self.gold_documents, "full_seconds": round(self.full_seconds, 1),
                "available_seconds": round(self.available_seconds, 1), "seed": self.seed,
                "budget_seconds": round(budget_for(self.full_seconds))}

    def note(self) -> str:
        others = len(self.documents) - self.gold_documents
        return say("SAMPLED: embedding the whole corpus ({total} documents) takes about "
                   "{full:.0f} s at the measured rate, more than the {available:.0f} s the "
                   "budget leaves; measured on all {gold} documents that hold an answer plus a uniform "
                   "random sample of {others} of the other {rest} (seed "
                   "{seed}). Fewer distractors make retrieval easier: these figures are optimistic. About "
                   "{budget:.0f} s for this probe measures the whole corpus (a re-run reuses "
                   "the embeddings already cached).", total=self.total_documents, full=self.full_seconds,
                   available=self.available_seconds, gold=self.gold_documents, others=others,
                   rest=self.total_documents - self.gold_documents, seed=self.seed,
                   budget=budget_for(self.full_seconds))


def budget_for(embed_seconds: float) -> float:
    """The probe budget whose embedding share covers ``embed_seconds``."""
    return embed_seconds / EMBED_SHARE


def gold_document_ids(inputs: Any) -> set[str]:
    """Documents that hold an answer: the questions' gold ids, or (answers only) those containing a gold answer."""
    from advisor.probes.common.textmetrics import contains_normalized, normalize_answer

    gold = {g for q in inputs.questions for g in q.gold_doc_ids}
    answers = [a for q in inputs.questions if not q.gold_doc_ids for a in q.answers]
    if answers:
        for doc in inputs.documents:
            text = f" {normalize_answer(doc.text)} "
            if any(contains_normalized(text, a) for a in answers):
                gold.add(doc.id)
    return gold


def choose(documents: list[Any], cost: dict[str, float], gold: set[str], available: float,
           seed: int) -> list[Any] | None:
    """All gold documents plus the longest prefix of a seeded shuffle of the others that fits ``available``
    (a uniform sample without replacement); None when everything fits or the gold documents alone do not."""
    total = sum(cost.values())
    gold_cost = sum(cost[d.id] for d in documents if d.id in gold)
    if total <= available or gold_cost >= available:
        return None
    others = [d.id for d in documents if d.id not in gold]
    random.Random(seed).shuffle(others)
    room, chosen = available - gold_cost, set(gold)
    for doc_id in others:
        if cost[doc_id] > room:
            break
        chosen.add(doc_id)
        room -= cost[doc_id]
    return [d for d in documents if d.id in chosen]


def maybe_sample(config: Any, inputs: Any, model: Any, key: str, ctx: Any) -> CorpusSample | None:
    """Measure the embedding rate on a first block and sample the corpus when the rest would not fit the budget.

    Small corpora (at most ``MIN_CHUNKS`` chunks left to embed) are never sampled: the probe's budget stop between
    embedding blocks handles them, and the rate of a handful of chunks would say little."""
    from advisor.probes.rag.chunking import chunk_text, token_offsets
    from advisor.probes.common.embedder import embed_cached

    if ctx.deadline is None:
        return None
    started = time.monotonic()
    chunks: dict[str, list[Any]] = {d.id: [] for d in inputs.documents}
    for i, doc in enumerate(inputs.documents, start=1):
        offsets = token_offsets(model.tokenizer, doc.text)
        for size in config.chunk_sizes:
            chunks[doc.id] += chunk_text(doc.id, doc.text, offsets, size, config.overlap)
        if i % 250 == 0 or i == len(inputs.documents):
            ctx.progress(i, len(inputs.documents), "counting the chunks to embed")
    hashes = sorted({c.text_hash for cs in chunks.values() for c in cs})
    cached = ctx.store.cached_hashes(key, hashes) if ctx.store is not None else set()
    missing = {doc_id: [c for c in cs if c.text_hash not in cached] for doc_id, cs in chunks.items()}
    pending = [c for cs in missing.values() for c in cs]
    if len(pending) <= MIN_CHUNKS:
        return None
    first = pending[:CALIBRATION_CHUNKS]
    clock = time.monotonic()
    embed_cached(model, key, [c.text for c in first], [c.text_hash for c in first], ctx.store, config.batch_size)
    per_token = (time.monotonic() - clock) / max(1, sum(c.n_tokens for c in first))
    done = {c.text_hash for c in first}
    cost = {doc_id: per_token * sum(c.n_tokens for c in cs if c.text_hash not in done)
            for doc_id, cs in missing.items()}
    available = max(0.0, (ctx.time_left() or 0.0) * EMBED_SHARE)
    gold = gold_document_ids(inputs)
    picked = choose(inputs.documents, cost, gold, available, config.seed)
    if picked is None:
        return None
    return CorpusSample(picked, len(inputs.documents), sum(1 for d in inputs.documents if d.id in gold),
                        sum(cost.values()) + (time.monotonic() - started), available, config.seed)
