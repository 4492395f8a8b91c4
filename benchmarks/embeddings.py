"""Benchmark: the RAG probe's embedding backends (OpenVINO vs torch, the reference) on the same chunks, and a
5,000-document corpus through ``advisor probe rag`` end to end, cold and re-run.

The corpus is real technical English that ships with this environment: the docstrings of the installed numpy,
scipy, torch, transformers, sympy and scikit-learn (read with ``ast``, nothing imported). Each docstring whose
summary line has at least 4 words and whose body has at least 40 words is one document (its body); its summary
line is the query whose one relevant document it is (the inverse-cloze setting; a sample of them is used). The
corpus is chunked once with the probe's chunker at one chunk size; both backends embed exactly those chunks.
Retrieval is the probe's: exact cosine top-10 over chunks, a document ranked by its best chunk; nDCG@10 with
binary relevance (trec_eval's definition, `advisor.probes.rag.ir_metrics`).

    python benchmarks/embeddings.py [--docs 5000] [--queries 500] [--chunk-size 256] [--skip-cli]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

PACKAGES = ("numpy", "scipy", "torch", "transformers", "sympy", "sklearn")


def docstring_corpus(packages=PACKAGES, min_words: int = 40) -> list[tuple[str, str, str]]:
    """(id, summary line, body) of every qualifying docstring, sorted by id; summaries are unique."""
    site = Path(sysconfig.get_paths()["purelib"])
    seen: set[str] = set()
    out = []
    for package in packages:
        for path in sorted((site / package).rglob("*.py")):
            if "tests" in path.parts:
                continue
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, OSError):
                continue
            for node in ast.walk(tree):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    continue
                doc = ast.get_docstring(node)
                parts = doc.strip().split("\n\n", 1) if doc else []
                if len(parts) < 2:
                    continue
                summary, body = " ".join(parts[0].split()), parts[1].strip()
                if len(summary.split()) < 4 or len(body.split()) < min_words or summary in seen:
                    continue
                seen.add(summary)
                rel = path.relative_to(site).with_suffix("").as_posix()
                out.append((f"{rel}/{node.name}-{node.lineno}", summary, body))
    return sorted(out)


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def ndcg_at_10(model, chunk_emb, chunk_docs, queries, gold, batch_size):
    from advisor.probes.rag import ir_metrics
    from advisor.probes.common.embedder import encode
    from advisor.probes.rag.retrieval import Ranker, dense_rank

    query_emb = encode(model, queries, batch_size, query=True)
    ranked = dense_rank(query_emb, chunk_emb, Ranker(chunk_docs, depth=10))
    return sum(ir_metrics.ndcg_at_k([d for d, _ in r], {g}, 10) for r, g in zip(ranked, gold)) / len(gold)


def backends(args, docs, queries, gold) -> None:
    from advisor.probes.rag.chunking import chunk_documents
    from advisor.probes.rag.corpus import Document
    from advisor.probes.common.embedder import DEFAULT_EMBEDDER, backend_of, encode, load_embedder

    reference = load_embedder(DEFAULT_EMBEDDER, backend="torch")
    (fast, t_load, _) = timed(lambda: load_embedder(DEFAULT_EMBEDDER, backend="openvino"))
    chunks = list(chunk_documents([Document(i, t) for i, t in docs], reference.tokenizer, args.chunk_size,
                                  min(32, args.chunk_size // 4)))
    texts, chunk_docs = [c.text for c in chunks], [c.doc_id for c in chunks]
    print(f"{len(docs)} documents -> {len(chunks)} chunks of <= {args.chunk_size} tokens; {len(queries)} queries")
    print(f"OpenVINO backend ready in {t_load:.1f} s ({backend_of(fast)}; exported once, then read from the cache)")
    rows = {}
    for name, model in (("torch", reference), (backend_of(fast), fast)):
        emb, wall, cpu = timed(lambda model=model: encode(model, texts, args.batch_size))
        rows[name] = (emb, wall, cpu, ndcg_at_10(model, emb, chunk_docs, queries, gold, args.batch_size))
        print(f"{name:14} {len(texts) / wall:7.1f} chunks/s  (wall {wall:7.1f} s, cpu {cpu:7.1f} s)  "
              f"nDCG@10 {rows[name][3]:.4f}", flush=True)
    (ref_emb, ref_wall, _, ref_ndcg), (fast_emb, fast_wall, _, fast_ndcg) = rows.values()
    cos = (ref_emb * fast_emb).sum(axis=1)
    print(f"throughput ratio {ref_wall / fast_wall:.2f}x (target >= 2); nDCG@10 difference "
          f"{fast_ndcg - ref_ndcg:+.4f} (target within 0.005); cosine to the torch vectors: "
          f"min {cos.min():.4f}, mean {cos.mean():.5f}")


def end_to_end(args, docs, queries, gold) -> None:
    advisor = Path(sys.executable).with_name("advisor")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = root / "docs"
        corpus.mkdir()
        for i, (_, text) in enumerate(docs):
            (corpus / f"d{i:05d}.txt").write_text(text, encoding="utf-8")
        ids = {doc_id: f"d{i:05d}.txt" for i, (doc_id, _) in enumerate(docs)}
        qa = root / "qa.jsonl"
        qa.write_text("\n".join(json.dumps({"id": f"q{i}", "question": q, "gold_doc_ids": [ids[g]]})
                                for i, (q, g) in enumerate(zip(queries, gold))) + "\n")
        command = [str(advisor), "probe", "rag", "--corpus", str(corpus), "--qa", str(qa), "--chunk-sizes",
                   str(args.chunk_size), "--no-open-book", "--db", str(root / "bench.duckdb")]
        env = dict(os.environ)
        for label, extra in (("cold", []), ("re-run (stored result)", []), ("re-run --force (embedding cache)",
                                                                             ["--force"])):
            started = time.perf_counter()
            done = subprocess.run(command + extra, capture_output=True, text=True, env=env)
            took = time.perf_counter() - started
            last = (done.stdout.strip().splitlines() or [""])[0][:110]
            print(f"advisor probe rag, {label:34} {took:7.1f} s  exit {done.returncode}  {last}", flush=True)
            if done.returncode:
                print(done.stderr[-2000:])
                return


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--skip-cli", action="store_true", help="only compare the backends")
    args = ap.parse_args()
    from advisor.probes.common.runtime import quiet_libraries

    quiet_libraries()
    pairs = docstring_corpus()
    random.Random(0).shuffle(pairs)
    pairs = pairs[:args.docs]
    docs = [(doc_id, body) for doc_id, _, body in pairs]
    sample = pairs[:args.queries]
    queries, gold = [s for _, s, _ in sample], [doc_id for doc_id, _, _ in sample]
    print(f"corpus: docstrings of {', '.join(PACKAGES)} ({len(pairs)} documents used), "
          f"{sum(len(b.split()) for _, b in docs) / len(docs):.0f} words each on average")
    backends(args, docs, queries, gold)
    if not args.skip_cli:
        end_to_end(args, docs, queries, gold)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
