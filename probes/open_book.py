"""Open-book vs closed-book: answer accuracy of a causal LM without context and with the top
retrieved chunks in the prompt. Accuracy = a normalized gold answer occurs in the normalized
generated answer (SQuAD normalization); exact match and token F1 are kept per example."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from advisor.probes.base import ExampleResult, Metric, ProbeContext, ProbeResult
from advisor.probes.stats import mcnemar_exact, wilson_interval
from advisor.probes.textmetrics import best_over_golds, contains_answer

INSTRUCTION = "Answer the question in a few words."


def closed_prompt(question: str) -> str:
    return f"{INSTRUCTION}\n\nQuestion: {question}\nAnswer:"


def open_prompt(question: str, passages: Sequence[str]) -> str:
    context = "\n\n".join(f"[{i}] {p}" for i, p in enumerate(passages, start=1))
    return f"{INSTRUCTION} Use the context.\n\nContext:\n{context}\n\nQuestion: {question}\nAnswer:"


def as_model_input(lm: Any, prompt: str) -> str:
    """The prompt in the model's chat template when it has one (generation prompt added)."""
    if not lm.has_chat_template:
        return prompt
    return lm.format_chat([{"role": "user", "content": prompt}])


def is_correct(prediction: str, golds: Sequence[str]) -> bool:
    return any(contains_answer(prediction, g) for g in golds)


def top_chunks(query_emb: np.ndarray, chunk_emb: np.ndarray, chunks: list, k: int) -> list[list[str]]:
    """Texts of the ``k`` best chunks per query (exact cosine, ties by chunk id)."""
    from advisor.probes.retrieval import Ranker, dense_rank

    by_id = {c.chunk_id: c.text for c in chunks}
    ranked = dense_rank(query_emb, chunk_emb, Ranker([c.chunk_id for c in chunks], depth=k))
    return [[by_id[cid] for cid, _ in row] for row in ranked]


def evaluate_open_book(config: Any, questions: list, chunks: list, chunk_emb: np.ndarray, query_emb: np.ndarray,
                       result: ProbeResult, ctx: ProbeContext, chunk_size: int) -> None:
    from advisor.probes.lm import Capability, open_model
    from advisor.probes.runtime import ModelSpec

    lm = open_model(ModelSpec(name=config.model, allow_download=config.allow_download))
    lm.require(Capability.GENERATE, "the open-book check")
    passages = top_chunks(query_emb, chunk_emb, chunks, config.open_book_k)
    prompts = {"closed-book": [closed_prompt(q.question) for q in questions],
               "open-book": [open_prompt(q.question, p) for q, p in zip(questions, passages)]}
    correct: dict[str, list[bool]] = {}
    for done, (mode, texts) in enumerate(prompts.items(), start=1):
        answers = lm.generate([as_model_input(lm, t) for t in texts], config.max_new_tokens, stop=["\n"])
        correct[mode] = [is_correct(a, q.answers) for a, q in zip(answers, questions)]
        result.examples.extend(_examples(mode, questions, answers, correct[mode], chunk_size))
        ctx.progress(done, 2, "open-book vs closed-book")
    _record(result, correct, config, chunk_size)


def _examples(mode: str, questions: list, answers: list[str], correct: list[bool], chunk_size: int) -> list[ExampleResult]:
    out = []
    for q, a, ok in zip(questions, answers, correct):
        em, f1 = best_over_golds(a, list(q.answers))
        out.append(ExampleResult(example_id=q.id, params={"mode": mode, "chunk_size": chunk_size}, prediction=a,
                                 gold=" | ".join(q.answers), correct=ok, score=f1,
                                 details={"exact_match": em, "question": q.question}))
    return out


def _record(result: ProbeResult, correct: dict[str, list[bool]], config: Any, chunk_size: int) -> None:
    n = len(correct["open-book"])
    acc = {}
    for mode, flags in correct.items():
        acc[mode] = sum(flags) / n
        low, high = wilson_interval(sum(flags), n)
        result.metrics.append(Metric(name="answer_accuracy", value=acc[mode], ci_low=low, ci_high=high, n=n,
                                     params={"mode": mode, "chunk_size": chunk_size, "k": config.open_book_k,
                                             "model": config.model}))
    _, _, p_value = mcnemar_exact(correct["closed-book"], correct["open-book"])
    lift = acc["open-book"] - acc["closed-book"]
    result.evidence.update({"open_book_accuracy": acc["open-book"], "closed_book_accuracy": acc["closed-book"],
                            "open_book_lift": lift, "open_book_questions": n, "open_book_p_value": p_value})
    result.summary["open_book"] = {"model": config.model, "k": config.open_book_k, "chunk_size": chunk_size,
                                   "n": n, "open": acc["open-book"], "closed": acc["closed-book"],
                                   "lift": lift, "p_value": p_value}
