"""The RAG probe's run: inputs, per-chunk-size retrieval evaluation, evidence, charts."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from advisor.errors import ProbeError
from advisor.probes.rag import ir_metrics
from advisor.probes.common.base import BudgetSpent, ExampleResult, Metric, Probe, ProbeContext, ProbeResult, same
from advisor.probes.rag.spec import EVIDENCE_KS, RagConfig, content_digest
from advisor.probes.rag.corpus import Document, Question, load_corpus, load_questions, proxy_questions
from advisor.probes.common.stats import bootstrap_ci, paired_randomization
from advisor.probes.common.textmetrics import contains_normalized, normalize_answer
from advisor.sentences import say

RETRIEVERS = ("dense", "bm25")
MRR_K, NDCG_K = 10, 10
REPORTED = ("hit", "recall")  # per-k metrics reported (precision and MAP are computed, not stored)


@dataclass
class Inputs:
    documents: list[Document]
    questions: list[Question]
    proxy: bool
    skipped: dict[str, str]
    unit: str  # "document": gold ids; "chunk": chunks that contain a gold answer
    corpus_documents: int = 0  # documents in the whole corpus (``documents`` may be a sample of them)

    def __post_init__(self) -> None:
        self.corpus_documents = self.corpus_documents or len(self.documents)

    @property
    def sampled(self) -> bool:
        return len(self.documents) < self.corpus_documents


def load_inputs(config: Any) -> tuple[Inputs, list[str]]:
    """Corpus and questions (or the proxy set); notes about what was skipped or excluded."""
    corpus = load_corpus(config.corpus)
    notes = [say("{count} corpus file(s) skipped: {files}", count=len(corpus.skipped),
                 files=_skipped_summary(corpus.skipped))] if corpus.skipped else []
    if config.qa is None:
        questions, documents = proxy_questions(corpus.documents, config.proxy_questions, config.seed)
        if not questions:
            raise ProbeError(say("--corpus {path}: documents are too short to build proxy questions; pass --qa",
                                 path=config.corpus))
        notes.append(say("PROXY: no --qa given; queries are held-out sentences of the corpus, each targeting its "
                         "own document (self-retrieval). Real questions usually score lower."))
        return Inputs(documents, questions, True, corpus.skipped, "document"), notes
    questions = load_questions(config.qa, corpus.ids)
    unit = "document" if all(q.gold_doc_ids for q in questions) else "chunk"
    if unit == "chunk":
        questions, dropped = answerable(questions, corpus.documents)
        if dropped:
            notes.append(say("{count} question(s) excluded: no gold answer occurs verbatim in the corpus",
                             count=dropped))
        if not questions:
            raise ProbeError(say("--qa {path}: no gold answer occurs in the corpus; check the answers or add "
                                 "gold_doc_ids", path=config.qa))
    return Inputs(corpus.documents, questions, False, corpus.skipped, unit), notes


def _skipped_summary(skipped: dict[str, str]) -> str:
    shown = "; ".join(f"{f} ({why})" for f, why in list(skipped.items())[:3])
    return say("{shown}; and {count} more", shown=shown, count=len(skipped) - 3) if len(skipped) > 3 else shown


def answerable(questions: list[Question], documents: list[Document]) -> tuple[list[Question], int]:
    """Questions judged by gold ids, or with a gold answer contained in some document."""
    texts = [f" {normalize_answer(d.text)} " for d in documents]
    kept = [q for q in questions if q.gold_doc_ids or any(contains_normalized(t, a) for t in texts for a in q.answers)]
    return kept, len(questions) - len(kept)


def relevant_sets(inputs: Inputs, chunks: list) -> list[set[str]]:
    """Per question, the relevant unit ids: gold documents, or chunks containing a gold answer
    (restricted to the gold documents when both are given)."""
    if inputs.unit == "document":
        return [set(q.gold_doc_ids) for q in inputs.questions]
    normalized = [f" {normalize_answer(c.text)} " for c in chunks]
    out = []
    for q in inputs.questions:
        gold = set(q.gold_doc_ids)
        out.append({c.chunk_id for c, t in zip(chunks, normalized)
                    if (not gold or c.doc_id in gold) and (any(contains_normalized(t, a) for a in q.answers) if q.answers else True)})
    return out


# -- one chunk size --------------------------------------------------------------------------
@dataclass
class SizeRun:
    chunk_size: int
    chunks: list
    rankings: dict[str, list[list[tuple[str, float]]]]
    per_query: dict[str, list[dict[str, float]]]
    relevant: list[set[str]]
    embedded: int
    embeddings: np.ndarray  # float32, one row per chunk (for open-book context)


def evaluate_size(config: Any, inputs: Inputs, model: Any, key: str, query_emb: np.ndarray,
                  size: int, ctx: ProbeContext) -> SizeRun:
    from advisor.probes.rag.chunking import chunk_documents
    from advisor.probes.common.embedder import embed_cached
    from advisor.probes.rag.retrieval import Bm25, Ranker, dense_rank

    chunks = list(chunk_documents(inputs.documents, model.tokenizer, size, config.overlap))
    texts = [c.text for c in chunks]
    def progress(done: int, total: int, label: str) -> None:
        ctx.progress(done, total, f"{label} ({size} tokens)")
        if done < total and ctx.out_of_time():
            raise BudgetSpent(done, total)

    emb, embedded = embed_cached(model, key, texts, [c.text_hash for c in chunks], ctx.store, config.batch_size,
                                 progress)
    units = [c.doc_id if inputs.unit == "document" else c.chunk_id for c in chunks]
    ranker = Ranker(units, depth=max(max(config.ks), MRR_K, NDCG_K))
    queries = [q.question for q in inputs.questions]
    rankings = {"dense": dense_rank(query_emb, emb, ranker), "bm25": Bm25(texts).rank(queries, ranker)}
    relevant = relevant_sets(inputs, chunks)
    per_query = {name: [ir_metrics.query_metrics([u for u, _ in ranked], rel, config.ks, MRR_K, NDCG_K)
                        for ranked, rel in zip(rankings[name], relevant)] for name in RETRIEVERS}
    return SizeRun(size, chunks, rankings, per_query, relevant, embedded, emb)


def metric_names(ks: list[int]) -> list[str]:
    return [f"{m}@{k}" for m in REPORTED for k in ks] + [f"mrr@{MRR_K}", f"ndcg@{NDCG_K}"]


def size_metrics(config: Any, run: SizeRun) -> list[Metric]:
    out = []
    for retriever in RETRIEVERS:
        rows = run.per_query[retriever]
        for name in metric_names(config.ks):
            values = [r[name] for r in rows]
            low, high = bootstrap_ci(values, config.bootstrap_resamples, config.seed)
            out.append(Metric(name=name, value=float(np.mean(values)), ci_low=low, ci_high=high, n=len(values),
                              params={"chunk_size": run.chunk_size, "retriever": retriever}))
    return out


def size_examples(inputs: Inputs, run: SizeRun) -> list[ExampleResult]:
    """One row per (question, retriever): the rank of the first relevant unit, the top units."""
    out = []
    for retriever in RETRIEVERS:
        for q, ranked, rel, m in zip(inputs.questions, run.rankings[retriever], run.relevant, run.per_query[retriever]):
            ids = [u for u, _ in ranked]
            rank = ir_metrics.first_relevant_rank(ids, rel)
            out.append(ExampleResult(
                example_id=q.id, params={"chunk_size": run.chunk_size, "retriever": retriever},
                prediction=ids[0] if ids else None, gold=", ".join(q.gold_doc_ids or q.answers),
                correct=rank is not None, score=m[f"mrr@{MRR_K}"],
                details={"rank": rank, "question": q.question, "top": ids[:5], "n_relevant": len(rel)},
            ))
    return out


def size_summary(config: Any, run: SizeRun) -> dict[str, Any]:
    row: dict[str, Any] = {"chunk_size": run.chunk_size, "chunks": len(run.chunks), "embedded": run.embedded}
    for retriever in RETRIEVERS:
        means = ir_metrics.mean_metrics(run.per_query[retriever])
        row[retriever] = {name: means[name] for name in metric_names(config.ks)}
    dense_rr = [r[f"mrr@{MRR_K}"] for r in run.per_query["dense"]]
    bm25_rr = [r[f"mrr@{MRR_K}"] for r in run.per_query["bm25"]]
    row["mrr_diff"] = float(np.mean(dense_rr) - np.mean(bm25_rr))
    row["mrr_p_value"] = paired_randomization(bm25_rr, dense_rr, seed=config.seed)
    return row


# -- the run ---------------------------------------------------------------------------------
def run(config: Any, ctx: ProbeContext) -> ProbeResult:
    from advisor.probes.common.embedder import DEFAULT_EMBEDDER, backend_of, embedder_key, encode, load_embedder
    from advisor.probes.rag.sample import maybe_sample

    result = ctx.result
    began = time.monotonic()  # the set-up (inputs, embedder, questions, sample) counts in the budget a run needs
    inputs, notes = load_inputs(config)
    result.notes.extend(notes)
    if config.embedder_url:
        from advisor.probes.rag.chunking import text_hash
        from advisor.probes.common.embedder import EndpointEmbedder, embed_cached

        model = EndpointEmbedder(config.embedder, config.embedder_url, config.embedder_key_env)
        key = embedder_key(config.embedder, model)
        questions = [q.question for q in inputs.questions]
        query_emb, _ = embed_cached(model, key + "|query", questions, [text_hash(q) for q in questions], ctx.store,
                                    config.batch_size)
    else:
        model = load_embedder(config.embedder, config.allow_download, backend=config.embedder_backend)
        key = embedder_key(config.embedder, model)
        result.notes.extend(truncation_notes(config.chunk_sizes, model.max_seq_length))
        query_emb = encode(model, [q.question for q in inputs.questions], config.batch_size, query=True)
    result.summary["embedder_backend"] = backend_of(model)
    if config.language != "en" and config.embedder == DEFAULT_EMBEDDER and not config.embedder_url:
        result.notes.append(say(
            "your documents are in '{language}' and the embedder {embedder} was trained on English text: its "
            "dense-retrieval figures understate what a multilingual embedder would reach (pass one with --embedder); "
            "BM25 reads any language", language=config.language, embedder=config.embedder))
    sample = maybe_sample(config, inputs, model, key, ctx)
    if sample is not None:
        inputs = dataclasses.replace(inputs, documents=sample.documents)
        result.summary["sample"] = sample.summary()
        result.notes.append(sample.note())
    rows = result.summary.setdefault("sizes", [])
    runs: dict[int, SizeRun] = {}
    started = time.monotonic()
    for i, size in enumerate(config.chunk_sizes):
        if ctx.out_of_time():
            result.status = "partial"
            result.notes.append(say("time budget reached: chunk sizes {sizes} not measured",
                                    sizes=config.chunk_sizes[i:]))
            break
        try:
            runs[size] = evaluate_size(config, inputs, model, key, query_emb, size, ctx)
        except BudgetSpent as spent:
            done, total = spent.args
            result.status = "partial"
            result.notes.append(say(
                "time budget reached inside the {size}-token chunk size after embedding {done} of {total} chunks "
                "(cached: a re-run continues); chunk sizes {sizes} not measured", size=size, done=done, total=total,
                sizes=config.chunk_sizes[i:]))
            if not runs:
                share = max(done, 1) / max(total, 1)
                result.status = "empty"
                result.summary["budget_needed"] = (started - began) + (time.monotonic() - started) / share
                return result
            break
        result.metrics.extend(size_metrics(config, runs[size]))
        result.examples.extend(size_examples(inputs, runs[size]))
        rows.append(size_summary(config, runs[size]))
        ctx.progress(i + 1, len(config.chunk_sizes), "chunk sizes")
    if not runs:
        result.status = "empty"
        # the set-up used the budget up: the first chunk size needs about as long again (a rough lower bound)
        result.summary["budget_needed"] = 2 * (time.monotonic() - began)
        return result
    best = best_size(rows)
    fill_summary(result, config, inputs, runs[best], best)
    fill_evidence(result, config, inputs, runs[best], rows)
    maybe_open_book(config, inputs, runs[best], query_emb, result, ctx)
    result.headline = headline(result.evidence, config)
    return result


def truncation_notes(sizes: list[int], max_seq_length: int | None) -> list[str]:
    too_long = [s for s in sizes if max_seq_length and s > max_seq_length - 2]
    if not too_long:
        return []
    return [say("chunk sizes {sizes} exceed what the embedder reads ({limit} tokens with special tokens): "
                "dense retrieval sees only the beginning of those chunks (BM25 sees all of them)", sizes=too_long,
                limit=max_seq_length)]


def best_size(rows: list[dict[str, Any]]) -> int:
    """Chunk size with the best dense MRR@10 (ties: the smaller size)."""
    return max(rows, key=lambda r: (r["dense"][f"mrr@{MRR_K}"], -r["chunk_size"]))["chunk_size"]


def missed(inputs: Inputs, run: SizeRun, k: int, limit: int) -> list[dict[str, Any]]:
    out = []
    for q, ranked, rel in zip(inputs.questions, run.rankings["dense"], run.relevant):
        ids = [u for u, _ in ranked[:k]]
        if not rel.intersection(ids):
            out.append({"id": q.id, "question": q.question, "gold": list(q.gold_doc_ids or q.answers),
                        "retrieved": ids[:3]})
    return out[:limit]


def fill_summary(result: ProbeResult, config: Any, inputs: Inputs, run: SizeRun, best: int) -> None:
    result.summary.update({
        "best_chunk_size": best, "ks": config.ks, "proxy": inputs.proxy, "unit": inputs.unit,
        "n_queries": len(inputs.questions), "corpus_documents": inputs.corpus_documents,
        "skipped_files": len(inputs.skipped), "embedder": config.embedder, "overlap": config.overlap,
        "mrr_k": MRR_K, "ndcg_k": NDCG_K,
        "missed": missed(inputs, run, max(config.ks), config.missed_examples),
    })


def fill_evidence(result: ProbeResult, config: Any, inputs: Inputs, run: SizeRun, rows: list[dict]) -> None:
    row = next(r for r in rows if r["chunk_size"] == run.chunk_size)
    ev = result.evidence
    ev.update({"proxy": inputs.proxy, "relevance_unit": inputs.unit, "n_queries": len(inputs.questions),
               "corpus_documents": inputs.corpus_documents, "corpus_chunks": len(run.chunks),
               "corpus_sampled": inputs.sampled,
               "skipped_files": len(inputs.skipped), "best_chunk_size": run.chunk_size})
    for retriever in RETRIEVERS:
        for k in (k for k in config.ks if k in EVIDENCE_KS):
            ev[f"{retriever}_hit_at_{k}"] = row[retriever][f"hit@{k}"]
        ev[f"{retriever}_mrr_at_10"] = row[retriever][f"mrr@{MRR_K}"]
        ev[f"{retriever}_ndcg_at_10"] = row[retriever][f"ndcg@{NDCG_K}"]
    ev["dense_minus_bm25_mrr"] = row["mrr_diff"]
    ev["mrr_p_value"] = row["mrr_p_value"]
    ev["max_hit"] = row["dense"][f"hit@{max(config.ks)}"]
    if inputs.sampled:
        ev["sampled_documents"] = len(inputs.documents)


def headline(ev: dict[str, Any], config: Any) -> str:
    k = 5 if 5 in config.ks else max(config.ks)
    text = (f"Dense retrieval finds a relevant {'document' if ev['relevance_unit'] == 'document' else 'chunk'} "
            f"in the top {k} for {100 * ev[f'dense_hit_at_{k}']:.0f}% of {ev['n_queries']} "
            f"{'proxy ' if ev['proxy'] else ''}questions (BM25: {100 * ev[f'bm25_hit_at_{k}']:.0f}%) "
            f"at {ev['best_chunk_size']}-token chunks")
    if ev.get("corpus_sampled"):
        text += (f" (optimistic: on a sample of {ev['sampled_documents']} of {ev['corpus_documents']} documents "
                 "that keeps every one holding an answer)")
    if "open_book_lift" in ev:
        text += f"; retrieved context changes answer accuracy by {100 * ev['open_book_lift']:+.0f} points"
    return text + "."


def maybe_open_book(config: Any, inputs: Inputs, run: SizeRun, query_emb: np.ndarray,
                    result: ProbeResult, ctx: ProbeContext) -> None:
    """Closed-book vs open-book answer accuracy, when asked for (or by default when possible)."""
    from advisor.errors import ModelNotFoundError
    from advisor.probes.common.deadline import budget_spent
    from advisor.probes.common.endpoint import EndpointError
    from advisor.probes.rag.open_book import evaluate_open_book

    picked = [i for i, q in enumerate(inputs.questions) if q.answers][: config.max_questions]
    if config.open_book is False or not picked:
        if config.open_book and not picked:
            result.notes.append(say("open-book skipped: the questions have no gold answers"))
        return
    if config.target is None and not config.open_book_on_proxy and not config.open_book:
        result.notes.append(say("open-book check not run on the probe model: how much retrieved context helps "
                                "depends on the model that reads it, so the decision would not use it there; "
                                "--target runs it on your model (advisor probe rag alone, on the probe model)"))
        return
    if ctx.out_of_time():  # partial: a stored result without the check it was asked for is not reused as whole
        result.notes.append(say("open-book skipped: time budget reached"))
        result.status = "partial"
        return
    try:
        evaluate_open_book(config, [inputs.questions[i] for i in picked], run.chunks, run.embeddings,
                           query_emb[picked], result, ctx, run.chunk_size)
    except ModelNotFoundError as exc:
        if config.open_book:
            raise
        result.notes.append(say("open-book skipped: {reason}", reason=exc))
    except EndpointError as exc:  # the budget ended before the target answered them all: the retrieval figures stay
        if not budget_spent():
            raise
        result.notes.append(say("open-book skipped: {reason}", reason=exc))  # the line says what came is cached
        result.status = "partial"


def charts(result: ProbeResult, out_dir: Path, tr: Callable[[str], str] = same) -> dict[str, Path]:
    """``hit_at_k``: hit@k by k, dense vs BM25, for every measured chunk size; ``tr`` says each text in the
    report's language."""
    rows = result.summary.get("sizes") or []
    ks = result.summary.get("ks") or []
    if not rows or not ks:
        return {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.6, 3.6))
    values = [row[r][f"hit@{k}"] for row in rows for r in ("dense", "bm25") for k in ks]
    low = max(0.0, min(values) - 0.05)  # a scale that separates the lines (the axis says where it starts)
    for i, row in enumerate(rows):
        for retriever, style in (("dense", "-o"), ("bm25", "--s")):
            ax.plot(ks, [row[retriever][f"hit@{k}"] for k in ks], style, color=f"C{i}",
                    label=tr(say("{retriever}, {size}-token chunks", retriever=retriever, size=row["chunk_size"])))
    ax.set(xlabel=tr("k (results read)"), ylabel=tr("hit@k (share of questions)"),
           ylim=(low, min(1.0, max(values)) + 0.02), xticks=ks)
    ax.set_title(tr(say("Retrieval hit rate, dense vs BM25, on {n} questions", n=result.summary.get("n_queries", "?"))),
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    path = Path(out_dir) / "rag_hit_at_k.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return {"hit_at_k": path}


class RagProbe(Probe):
    """Retrieval quality of the user's corpus for the user's questions (dense vs BM25).

    Facts: :class:`advisor.probes.rag.spec.RagEvidence`.
    """

    def fingerprint(self, config: RagConfig) -> str:
        from advisor.probes.common.embedder import resolve_embedder

        digest = hashlib.sha256()
        keyed = config.model_dump(mode="json", exclude={"target"})
        if config.target is not None:  # the model measured, not how hard it is used
            keyed["target"] = {"model": config.target.model, "url": config.target.base_url()}
        if config.open_book is not False:
            from advisor.probes.common.fingerprint import precision_key

            keyed["bf16"] = precision_key(config)
        digest.update(json.dumps(keyed, sort_keys=True).encode())
        digest.update((config.embedder_url or resolve_embedder(config.embedder)).encode())
        digest.update(content_digest(config.corpus).encode())
        if config.qa is not None:
            digest.update(content_digest(config.qa).encode())
        return digest.hexdigest()

    def run(self, config: RagConfig, ctx: ProbeContext) -> ProbeResult:
        return run(config, ctx)

    def charts(self, result: ProbeResult, out_dir: Path, tr: Callable[[str], str] = same) -> dict[str, Path]:
        return charts(result, out_dir, tr)
