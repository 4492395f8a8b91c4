"""The RAG probe: can the user's documents be retrieved for the user's questions?

It chunks the corpus with the embedder's tokenizer at several chunk sizes, ranks with dense
embeddings (exact cosine top-k) and with BM25 on the same chunks, and measures hit@k,
recall@k, MRR@10 and nDCG@10 with bootstrap 95% CIs, plus a paired randomization test of
MRR@10 (dense vs BM25). Optionally it measures answer accuracy of a causal LM without
context (closed-book) and with the top retrieved chunks (open-book).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from advisor.probes.common.spec import AssessInputs, Evidence, Plan, ProbeInput, ProbeSpec, fact
from advisor.probes.common.embedder import DEFAULT_EMBEDDER
from advisor.probes.common.endpoint import EndpointSpec
from advisor.probes.common.precision import Bf16Setting
from advisor.sentences import say

class RagConfig(BaseModel):
    """Options of the RAG probe (``advisor probe rag --help`` explains each)."""

    model_config = ConfigDict(extra="forbid")

    corpus: Path
    qa: Path | None = None
    embedder: str = DEFAULT_EMBEDDER
    embedder_url: str | None = None  # embeddings from an OpenAI-compatible /v1/embeddings endpoint
    embedder_key_env: str = "OPENAI_API_KEY"
    #: auto: OpenVINO when installed (exported once from the local embedder), else torch, the reference
    embedder_backend: Literal["auto", "openvino", "torch"] = "auto"
    allow_download: bool = False
    ks: list[int] = Field(default_factory=lambda: [1, 3, 5, 10])
    chunk_sizes: list[int] = Field(default_factory=lambda: [128, 256, 512])
    overlap: int = 32
    proxy_questions: int = 200
    batch_size: int = 32
    bootstrap_resamples: int = 2000
    seed: int = 0
    language: str = Field("en", pattern=r"^[a-z]{2}$")  # of the documents and questions (ISO 639-1)
    open_book: bool | None = None  # None: when the QA set has answers and the model is available
    # without a target, the check runs on the local probe model; an assessment turns that off (its lift there is
    # not evidence about the team's model and is not used, so the time goes to the probes whose evidence is)
    open_book_on_proxy: bool = True
    model: str = "smollm2-135m"
    target: EndpointSpec | None = None  # open-book on the team's model instead of the local one
    max_questions: int = 10
    open_book_k: int = 3
    bf16: Bf16Setting = "auto"  # the open-book check's arithmetic on a local model (advisor.probes.common.precision)
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


EVIDENCE_KS = (1, 3, 5, 10)  # hit@k facts for these k (other k values are in the metrics and the report)


class RagEvidence(Evidence):
    """Facts of the RAG probe (rules see them as ``rag.<fact>``). Retrieval metrics depend on the corpus,
    the questions and the embedder, not on the generator: they transfer to any target model."""

    proxy: bool | None = fact("the questions are the self-retrieval proxy set (no --qa given)")
    relevance_unit: Literal["document", "chunk"] | None = fact(
        "document (gold ids) or chunk (chunks containing a gold answer)")
    n_queries: int | None = fact("questions evaluated", "questions", ge=0)
    corpus_documents: int | None = fact("documents in the corpus", "documents", ge=0)
    corpus_sampled: bool | None = fact("the budget could not embed the whole corpus: measured on every document "
                                       "holding an answer plus a uniform sample of the rest (optimistic)")
    sampled_documents: int | None = fact("documents in that sample", "documents", ge=0)
    corpus_chunks: int | None = fact("chunks at the best chunk size", "chunks", ge=0)
    skipped_files: int | None = fact("corpus files skipped as unreadable, binary, non-UTF-8 or empty", "files", ge=0)
    best_chunk_size: int | None = fact("the chunk size with the best dense MRR@10 (ties: the smaller)", "tokens", ge=1)
    dense_hit_at_1: float | None = fact("dense retrieval hit@1 at the best size", "fraction", ge=0, le=1)
    dense_hit_at_3: float | None = fact("dense retrieval hit@3 at the best size", "fraction", ge=0, le=1)
    dense_hit_at_5: float | None = fact("dense retrieval hit@5 at the best size", "fraction", ge=0, le=1)
    dense_hit_at_10: float | None = fact("dense retrieval hit@10 at the best size", "fraction", ge=0, le=1)
    bm25_hit_at_1: float | None = fact("BM25 hit@1 at the best size", "fraction", ge=0, le=1)
    bm25_hit_at_3: float | None = fact("BM25 hit@3 at the best size", "fraction", ge=0, le=1)
    bm25_hit_at_5: float | None = fact("BM25 hit@5 at the best size", "fraction", ge=0, le=1)
    bm25_hit_at_10: float | None = fact("BM25 hit@10 at the best size", "fraction", ge=0, le=1)
    dense_mrr_at_10: float | None = fact("dense MRR@10 at the best size", "fraction", ge=0, le=1)
    bm25_mrr_at_10: float | None = fact("BM25 MRR@10 at the best size", "fraction", ge=0, le=1)
    dense_ndcg_at_10: float | None = fact("dense nDCG@10 at the best size", "fraction", ge=0, le=1)
    bm25_ndcg_at_10: float | None = fact("BM25 nDCG@10 at the best size", "fraction", ge=0, le=1)
    dense_minus_bm25_mrr: float | None = fact("dense MRR@10 minus BM25 MRR@10", "fraction", ge=-1, le=1)
    mrr_p_value: float | None = fact("paired randomization test p-value of that difference", "probability",
                                     ge=0, le=1)
    max_hit: float | None = fact("dense hit rate at the largest k, best size", "fraction", ge=0, le=1)
    open_book_accuracy: float | None = fact("answers containing a gold answer, with retrieved chunks", "fraction",
                                            ge=0, le=1)
    closed_book_accuracy: float | None = fact("the same without retrieved chunks", "fraction", ge=0, le=1)
    open_book_lift: float | None = fact("open-book minus closed-book accuracy", "fraction", ge=-1, le=1)
    open_book_questions: int | None = fact("questions answered both ways", "questions", ge=0)
    open_book_p_value: float | None = fact("exact McNemar p-value of open vs closed book", "probability", ge=0, le=1)
    open_book_only_correct: int | None = fact("questions answered right only with the retrieved chunks", "questions",
                                              ge=0)
    closed_book_only_correct: int | None = fact("questions answered right only without them", "questions", ge=0)
    open_book_on_target: bool | None = fact("the open-book check ran on the target model (not the local proxy)")
    closed_book_prompt_tokens: float | None = fact("mean prompt tokens of a question without context, as measured",
                                                   "tokens", ge=0)
    open_book_prompt_tokens: float | None = fact("mean prompt tokens of a question with the retrieved chunks",
                                                 "tokens", ge=0)
    context_tokens_per_chunk: float | None = fact("prompt tokens one retrieved chunk adds, as measured", "tokens",
                                                  ge=0)
    open_book_latency_p50: float | None = fact("median seconds per open-book request, as measured", "seconds", ge=0)
    open_book_latency_p95: float | None = fact("95th percentile seconds per open-book request", "seconds", ge=0)


def plan(answers: Any, inputs: AssessInputs) -> Plan:
    corpus = inputs.file("corpus")
    if corpus is None:
        return Plan.skip(say("no document corpus given (--corpus)") if answers.has_corpus
                         else say("no document corpus in this project"))
    config: dict[str, Any] = {"corpus": corpus, "qa": inputs.file("qa"), "allow_download": inputs.allow_download,
                              "model": inputs.model, "target": inputs.target}
    if inputs.embedder:
        config["embedder"] = inputs.embedder
    if inputs.embedder_url:
        config["embedder_url"] = inputs.embedder_url
    config["embedder_backend"] = inputs.embedder_backend
    config["bf16"] = inputs.bf16
    config["language"] = getattr(answers, "language", "en")
    config["open_book_on_proxy"] = False  # with --target the check runs on the target; without, it is not run
    return Plan(config)


def check(config: RagConfig) -> None:
    """The corpus and the question file exist and are not empty (they are read in full when the probe runs)."""
    from advisor.errors import InputError

    for option, path in (("--corpus", config.corpus), ("--qa", config.qa)):
        if path is None:
            continue
        if not Path(path).exists():
            raise InputError(f"{option} {path}: no such file or folder.")
        if Path(path).is_file() and Path(path).stat().st_size == 0:
            raise InputError(f"{option} {path}: the file is empty.")


def caveats(ev: dict[str, Any]) -> list[str]:
    out = []
    if ev.get("proxy"):
        out.append(say("Retrieval was measured on a proxy question set (self-retrieval), not on real questions."))
    if ev.get("corpus_sampled"):
        out.append(say("Retrieval was measured on a sample of {sampled} of {total} documents (the budget could not "
                       "embed them all): optimistic.", sampled=ev.get("sampled_documents"),
                       total=ev.get("corpus_documents")))
    return out


SPEC = ProbeSpec(
    name="rag",
    description="Retrieval hit rate on your corpus and questions (dense vs BM25), and open-book vs closed-book.",
    config=RagConfig,
    evidence=RagEvidence,
    runner="advisor.probes.rag.run:RagProbe",
    plan=plan,
    inputs=(ProbeInput("corpus", "Documents (folder of .txt/.md/.pdf, or JSONL/CSV/Parquet) for the RAG probe."),
            ProbeInput("qa", "Questions with gold document ids and/or answers for the RAG probe.", required=False)),
    template="probe_rag.md.j2", template_dir=Path(__file__).parent,
    weight=1.5,
    order=20,
    placeholders={"chunk_size": (lambda ev: ev.get("best_chunk_size"), 256)},
    caveats=caveats,
    check=check,
    command="advisor probe rag --corpus PATH [--qa FILE]",
)


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
