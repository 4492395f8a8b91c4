"""The RAG probe: can the user's documents be retrieved for the user's questions?

It chunks the corpus with the embedder's tokenizer at several chunk sizes, ranks with dense
embeddings (exact cosine top-k) and with BM25 on the same chunks, and measures hit@k,
recall@k, MRR@10 and nDCG@10 with bootstrap 95% CIs, plus a paired randomization test of
MRR@10 (dense vs BM25). Optionally it measures answer accuracy of a causal LM without
context (closed-book) and with the top retrieved chunks (open-book).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from advisor.probes.base import Probe, ProbeContext, ProbeResult
from advisor.probes.embedder import DEFAULT_EMBEDDER

class RagConfig(BaseModel):
    """Options of the RAG probe (``advisor probe rag --help`` explains each)."""

    model_config = ConfigDict(extra="forbid")

    corpus: Path
    qa: Path | None = None
    embedder: str = DEFAULT_EMBEDDER
    allow_download: bool = False
    ks: list[int] = Field(default_factory=lambda: [1, 3, 5, 10])
    chunk_sizes: list[int] = Field(default_factory=lambda: [128, 256, 512])
    overlap: int = 32
    proxy_questions: int = 200
    batch_size: int = 32
    bootstrap_resamples: int = 2000
    seed: int = 0
    open_book: bool | None = None  # None: when the QA set has answers and the model is available
    model: str = "smollm2-135m"
    max_questions: int = 10
    open_book_k: int = 3
    max_new_tokens: int = 32
    missed_examples: int = 5

    @field_validator("ks", "chunk_sizes")
    @classmethod
    def _positive_sorted(cls, value: list[int]) -> list[int]:
        if not value or any(v < 1 for v in value):
            raise ValueError("give one or more whole numbers of at least 1")
        return sorted(set(value))

    @model_validator(mode="after")
    def _overlap_fits(self) -> "RagConfig":
        if self.overlap < 0 or self.overlap >= min(self.chunk_sizes):
            raise ValueError(f"overlap {self.overlap} must be between 0 and the smallest chunk size minus one")
        return self


class RagProbe(Probe):
    """Retrieval quality of the user's corpus for the user's questions (dense vs BM25).

    Evidence keys (``rag.<key>`` in rules):

    - ``proxy`` (bool): the questions are the self-retrieval proxy set (no ``--qa`` given);
    - ``relevance_unit`` (str): ``document`` (gold ids) or ``chunk`` (chunks containing a gold answer);
    - ``n_queries``: questions evaluated; ``corpus_documents``, ``corpus_chunks`` (at the best size);
    - ``skipped_files``: corpus files skipped as unreadable, binary, non-UTF-8 or empty;
    - ``best_chunk_size``: the chunk size with the best dense MRR@10 (ties: the smaller);
    - ``dense_hit_at_<k>``, ``bm25_hit_at_<k>`` for each k (e.g. ``dense_hit_at_5``), at the best size;
    - ``dense_mrr_at_10``, ``bm25_mrr_at_10``, ``dense_ndcg_at_10``, ``bm25_ndcg_at_10``: at the best size;
    - ``dense_minus_bm25_mrr``: dense MRR@10 minus BM25 MRR@10 at the best size;
    - ``mrr_p_value``: paired randomization test p-value of that difference;
    - ``max_hit``: dense hit rate at the largest k, at the best size;
    - ``open_book_accuracy``, ``closed_book_accuracy``, ``open_book_lift`` (open minus closed),
      ``open_book_questions``: only when open-book was measured (accuracy = a gold answer is
      contained in the model's normalized answer).
    """

    name = "rag"
    Config = RagConfig
    description = "Retrieval hit rate on your corpus and questions (dense vs BM25), and open-book vs closed-book."
    template = "probe_rag.md.j2"

    def fingerprint(self, config: RagConfig) -> str:
        from advisor.probes.embedder import resolve_embedder

        digest = hashlib.sha256()
        digest.update(json.dumps(config.model_dump(mode="json"), sort_keys=True).encode())
        digest.update(resolve_embedder(config.embedder).encode())
        digest.update(content_digest(config.corpus).encode())
        if config.qa is not None:
            digest.update(content_digest(config.qa).encode())
        return digest.hexdigest()

    def run(self, config: RagConfig, ctx: ProbeContext) -> ProbeResult:
        from advisor.probes import rag_run

        return rag_run.run(config, ctx)

    def charts(self, result: ProbeResult, out_dir: Path) -> dict[str, Path]:
        from advisor.probes import rag_run

        return rag_run.charts(result, out_dir)


def content_digest(path: Path) -> str:
    """sha256 over the bytes of a file, or over (relative path, bytes) of every file of a folder."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() if path.is_dir() else b"")
        try:
            with file.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            digest.update(b"<unreadable>")
    return digest.hexdigest()
