"""``advisor probe rag``: retrieval quality of your corpus for your questions (dense vs BM25)."""

from __future__ import annotations

from pathlib import Path

import click

from advisor.commands.options import bf16_option, db_option, duration, int_list, run_probe_command, target_options, target_spec


@click.command("rag")
@click.option("--corpus", type=click.Path(path_type=Path), required=True,
              help="Folder of .txt/.md files (recursive), or a .jsonl/.csv/.parquet file with id, text[, title].")
@click.option("--qa", type=click.Path(path_type=Path), default=None,
              help="JSONL questions with gold_doc_ids and/or answers. Without it: a labelled self-retrieval proxy set.")
@click.option("--embedder", default="all-minilm-l6-v2", show_default=True,
              help="sentence-transformers model id or local folder (offline unless --allow-download); with "
                   "--embedder-url, the model the endpoint serves.")
@click.option("--embedder-url", default=None,
              help="Base URL of an OpenAI-compatible /v1/embeddings endpoint (TEI, vLLM, Ollama, a provider); the key "
                   "comes from $OPENAI_API_KEY.")
@click.option("--embedder-backend", type=click.Choice(["auto", "openvino", "torch"]), default="auto", show_default=True,
              help="How a local embedder runs: OpenVINO (exported once from it, bf16 where the CPU has it; several "
                   "times faster on a CPU), torch (sentence-transformers as is, the reference); auto: OpenVINO when "
                   "installed.")
@click.option("-k", "ks", default="1,3,5,10", show_default=True, callback=int_list, help="Cut-offs for hit@k and recall@k.")
@click.option("--chunk-sizes", default="128,256,512", show_default=True, callback=int_list,
              help="Chunk sizes in embedder tokens to compare.")
@click.option("--overlap", default=32, show_default=True, type=int, help="Tokens shared by consecutive chunks.")
@click.option("--open-book/--no-open-book", default=None,
              help="Compare answer accuracy without and with retrieved chunks (default: when the QA set has answers "
                   "and the model is available offline).")
@click.option("--model", default="smollm2-135m", show_default=True, help="Causal LM for open-book vs closed-book.")
@click.option("--max-questions", default=10, show_default=True, type=click.IntRange(min=1),
              help="Questions used for open-book vs closed-book (generation is slow on CPU).")
@bf16_option("The open-book check on a local model")
@click.option("--allow-download", is_flag=True, help="Allow fetching models from the Hugging Face hub.")
@click.option("--budget", callback=duration, default=None, help="Stop after this long (e.g. 10m); keeps what finished.")
@click.option("--force", is_flag=True, help="Re-run even if an identical run is stored.")
@target_options
@db_option
def rag(corpus: Path, qa: Path | None, embedder: str, embedder_url: str | None, embedder_backend: str, ks: list[int], chunk_sizes: list[int], overlap: int,
        open_book: bool | None, model: str, max_questions: int, bf16: str, allow_download: bool, budget: float | None,
        force: bool, db: Path | None, **target: object) -> None:
    """Measure whether your documents can be retrieved for your questions.

    \b
    Example:
      advisor probe rag --corpus examples/support-desk/docs --qa examples/support-desk/qa.jsonl
    """
    values = {"corpus": corpus, "qa": qa, "embedder": embedder, "embedder_url": embedder_url,
              "embedder_backend": embedder_backend, "ks": ks, "chunk_sizes": chunk_sizes,
              "overlap": overlap, "open_book": open_book, "model": model, "max_questions": max_questions,
              "bf16": bf16, "allow_download": allow_download, "target": target_spec(target)}
    run_probe_command("rag", values, db, force=force, budget=budget,
                      lines=lambda r: [r.headline, *_table(r.summary), *(f"note: {n}" for n in r.notes)])


def _table(summary: dict) -> list[str]:
    ks = summary.get("ks", [])
    lines = ["chunk  retriever  " + "  ".join(f"hit@{k:<3}" for k in ks) + "  MRR@10  nDCG@10"]
    for row in summary.get("sizes", []):
        for r in ("dense", "bm25"):
            m = row[r]
            hits = "  ".join(f"{m[f'hit@{k}']:.3f} " for k in ks)
            lines.append(f"{row['chunk_size']:<5}  {r:<9}  {hits}  {m['mrr@10']:.3f}   {m['ndcg@10']:.3f}")
    return lines
