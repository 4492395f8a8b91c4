"""Open-book vs closed-book: answer accuracy of a causal LM without context and with the top
retrieved chunks in the prompt. Accuracy = a normalized gold answer occurs in the normalized
generated answer (SQuAD normalization); exact match and token F1 are kept per example."""

from __future__ import annotations

import math
import statistics
import time
from typing import Any, Sequence

import numpy as np

from advisor.probes.common.base import ExampleResult, Metric, ProbeContext, ProbeResult
from advisor.probes.common.stats import mcnemar_exact, wilson_interval
from advisor.probes.common.textmetrics import best_over_golds, contains_answer
from advisor.sentences import say

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
    from advisor.probes.rag.retrieval import Ranker, dense_rank

    by_id = {c.chunk_id: c.text for c in chunks}
    ranked = dense_rank(query_emb, chunk_emb, Ranker([c.chunk_id for c in chunks], depth=k))
    return [[by_id[cid] for cid, _ in row] for row in ranked]


def evaluate_open_book(config: Any, questions: list, chunks: list, chunk_emb: np.ndarray, query_emb: np.ndarray,
                       result: ProbeResult, ctx: ProbeContext, chunk_size: int) -> None:
    from advisor.probes.common.endpoint import EndpointModel, open_for
    from advisor.probes.common.lm import Capability
    from advisor.probes.common.precision import use_bf16
    from advisor.probes.common.runtime import ModelSpec

    lm = open_for(ModelSpec(name=config.model, allow_download=config.allow_download), config.target, ctx.store)
    lm.require(Capability.GENERATE, say("the open-book check"))
    passages = top_chunks(query_emb, chunk_emb, chunks, config.open_book_k)
    prompts = {"closed-book": [closed_prompt(q.question) for q in questions],
               "open-book": [open_prompt(q.question, p) for q, p in zip(questions, passages)]}
    if isinstance(lm, EndpointModel):
        bodies = [lm.request(as_model_input(lm, t), config.max_new_tokens, ["\n"]) for ts in prompts.values() for t in ts]
        cached, to_pay = lm.plan(bodies)
        ctx.log(f"target {lm.source}: {len(bodies)} requests for open-book vs closed-book, {cached} already cached, "
                f"{to_pay} to send")
    correct: dict[str, list[bool]] = {}
    usage: dict[str, dict[str, list]] = {}
    bf16 = not isinstance(lm, EndpointModel) and use_bf16(config.bf16, lm.device)
    with lm.in_bf16(bf16):
        if isinstance(lm, EndpointModel):  # requests are bounded by the endpoint's own time limit
            answered = {mode: _answer(lm, [as_model_input(lm, t) for t in texts], config.max_new_tokens)
                        for mode, texts in prompts.items()}
        else:
            answered = _answer_within_budget(lm, prompts, config.max_new_tokens, ctx)
    n = len(next(iter(answered.values()))[0])
    if n == 0:
        result.notes.append(say("open-book skipped: time budget reached"))
        return
    if n < len(questions):
        result.notes.append(say("open-book check on {n} of {total} questions: the time budget allowed no more",
                                n=n, total=len(questions)))
        questions = questions[:n]
    for mode, (answers, usage[mode]) in answered.items():
        correct[mode] = [is_correct(a, q.answers) for a, q in zip(answers, questions)]
        result.examples.extend(_examples(mode, questions, answers, correct[mode], chunk_size))
    _record(result, correct, config, chunk_size, lm, usage)
    result.summary["open_book"]["bf16"] = bf16


def _answer_within_budget(lm: Any, prompts: dict[str, list[str]], max_new_tokens: int,
                          ctx: ProbeContext) -> dict[str, tuple[list[str], dict[str, list]]]:
    """A local model answers each question closed-book and open-book together, one question at a time, and stops
    before a question that the slowest so far says would end past the budget: the answers are paired."""
    out: dict[str, tuple[list[str], dict[str, list]]] = {mode: ([], {"prompt_tokens": [], "latency": []})
                                                           for mode in prompts}
    total, slowest = len(next(iter(prompts.values()))), 0.0
    if total and ctx.deadline is not None:  # before the first question, from the model's measured pace, with room
        # for a busy machine (the pace can halve while a prompt is read): a check cut short costs little, since the
        # decision never reads the open-book lift of the probe model
        slowest = 2 * first_pair_estimate(lm, [texts[0] for texts in prompts.values()], max_new_tokens)
    for i in range(total):
        if ctx.deadline is not None and time.monotonic() + slowest > ctx.deadline:
            break
        started = time.monotonic()
        answers, usage = _answer(lm, [as_model_input(lm, texts[i]) for texts in prompts.values()], max_new_tokens)
        slowest = max(slowest, time.monotonic() - started)
        for j, mode in enumerate(prompts):
            out[mode][0].append(answers[j])
            out[mode][1]["prompt_tokens"].append(usage["prompt_tokens"][j])
        ctx.progress(i + 1, total, "open-book vs closed-book")
    return out


def first_pair_estimate(lm: Any, prompts: list[str], max_new_tokens: int) -> float:
    """Seconds a local model needs to answer ``prompts`` together: their tokens at the pace of one forward pass
    over up to 512 tokens (reading a prompt), plus ``max_new_tokens`` passes over one token (writing the answer)."""
    ids = lm.encode_with_offsets(" ".join(prompts) * 4)[0][:512]
    if not ids:
        return 0.0
    started = time.monotonic()
    lm.token_nlls(ids, len(ids) + 1, len(ids))
    per_token = (time.monotonic() - started) / len(ids)
    started = time.monotonic()
    lm.token_nlls(ids[:1], 2, 1)
    per_step = time.monotonic() - started
    return per_token * sum(lm.count_tokens(as_model_input(lm, p)) for p in prompts) + per_step * max_new_tokens


def _answer(lm: Any, prompts: list, max_new_tokens: int) -> tuple[list[str], dict[str, list]]:
    """Greedy answers cut at the first line break, and each request's prompt tokens and latency."""
    from advisor.probes.common.endpoint import EndpointModel

    if isinstance(lm, EndpointModel):
        replies = lm.complete([lm.request(p, max_new_tokens, ["\n"]) for p in prompts])
        return ([r["text"].split("\n")[0] for r in replies],
                {"prompt_tokens": [r["prompt_tokens"] for r in replies], "latency": [r["latency"] for r in replies]})
    answers = lm.generate(prompts, max_new_tokens, stop=["\n"])
    return answers, {"prompt_tokens": [lm.count_tokens(p) for p in prompts], "latency": []}


def _examples(mode: str, questions: list, answers: list[str], correct: list[bool], chunk_size: int) -> list[ExampleResult]:
    out = []
    for q, a, ok in zip(questions, answers, correct):
        em, f1 = best_over_golds(a, list(q.answers))
        out.append(ExampleResult(example_id=q.id, params={"mode": mode, "chunk_size": chunk_size}, prediction=a,
                                 gold=" | ".join(q.answers), correct=ok, score=f1,
                                 details={"exact_match": em, "question": q.question}))
    return out


def _record(result: ProbeResult, correct: dict[str, list[bool]], config: Any, chunk_size: int, lm: Any,
            usage: dict[str, dict[str, list]]) -> None:
    n = len(correct["open-book"])
    acc = {}
    for mode, flags in correct.items():
        acc[mode] = sum(flags) / n
        low, high = wilson_interval(sum(flags), n)
        result.metrics.append(Metric(name="answer_accuracy", value=acc[mode], ci_low=low, ci_high=high, n=n,
                                     params={"mode": mode, "chunk_size": chunk_size, "k": config.open_book_k,
                                             "model": lm.source}))
    open_only, closed_only, p_value = mcnemar_exact(correct["closed-book"], correct["open-book"])
    lift = acc["open-book"] - acc["closed-book"]
    from advisor.probes.common.endpoint import EndpointModel

    target = isinstance(lm, EndpointModel)
    closed_tokens = statistics.fmean(usage["closed-book"]["prompt_tokens"])
    open_tokens = statistics.fmean(usage["open-book"]["prompt_tokens"])
    per_chunk = max(0.0, (open_tokens - closed_tokens) / config.open_book_k)
    result.evidence.update({"open_book_accuracy": acc["open-book"], "closed_book_accuracy": acc["closed-book"],
                            "open_book_lift": lift, "open_book_questions": n, "open_book_p_value": p_value,
                            "open_book_only_correct": open_only, "closed_book_only_correct": closed_only,
                            "open_book_on_target": target, "closed_book_prompt_tokens": closed_tokens,
                            "open_book_prompt_tokens": open_tokens, "context_tokens_per_chunk": per_chunk})
    latency = sorted(usage["open-book"]["latency"])
    if latency:
        p95 = latency[min(len(latency) - 1, math.ceil(0.95 * len(latency)) - 1)]
        result.evidence.update(open_book_latency_p50=statistics.median(latency), open_book_latency_p95=p95)
    result.summary["open_book"] = {"model": lm.source if target else lm.name, "role": "target" if target else "proxy",
                                   "k": config.open_book_k, "chunk_size": chunk_size,
                                   "n": n, "open": acc["open-book"], "closed": acc["closed-book"],
                                   "lift": lift, "p_value": p_value, "closed_tokens": closed_tokens,
                                   "open_tokens": open_tokens,
                                   "latency_p50": result.evidence.get("open_book_latency_p50"),
                                   "latency_p95": result.evidence.get("open_book_latency_p95")}
