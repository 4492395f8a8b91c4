"""RAG probe benchmark: embedding throughput (probe vs direct ``encode``), cached re-run, retrieval.

    python benchmarks/rag.py                      # default: 2,000 chunks, 200 queries (a few minutes)
    python benchmarks/rag.py --chunks 50000 --queries 1000   # the full run recorded in docs/benchmarks.md

Synthetic chunks (~100 words from a fixed vocabulary) are embedded with the default embedder.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path


def synthetic_texts(n: int, words: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    vocab = ("invoice refund plan seat vat card receipt export bank sync slack user role admin policy mileage "
             "approval currency reminder template credit note payment stripe xero quickbooks zapier password "
             "login saml okta scim provisioning member invite remove cancel upgrade downgrade trial").split()
    return [" ".join(rng.choices(vocab, k=words)) + f" item {i}." for i in range(n)]


def timed(fn):
    """(result, (wall seconds, CPU seconds of this process)); CPU time is robust to other load."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, (time.perf_counter() - wall, time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--words", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import numpy as np

    from advisor.probes.rag.chunking import text_hash
    from advisor.probes.common.embedder import DEFAULT_EMBEDDER, embed_cached, embedder_key, encode, load_embedder
    from advisor.probes.rag.retrieval import Ranker, dense_rank
    from advisor.store.database import Store

    model = load_embedder(DEFAULT_EMBEDDER)
    texts = synthetic_texts(args.chunks, args.words, 0)
    hashes = [text_hash(t) for t in texts]
    key = embedder_key(DEFAULT_EMBEDDER, model)
    _, t_direct = timed(lambda: model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True,
                                             convert_to_numpy=True, show_progress_bar=False))
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.duckdb") as store:
        (emb, n), t_probe = timed(lambda: embed_cached(model, key, texts, hashes, store, args.batch_size))
        (emb2, n2), t_cached = timed(lambda: embed_cached(model, key, texts, hashes, store, args.batch_size))
    assert n == len(set(hashes)) and n2 == 0 and np.allclose(emb, emb2)
    queries = encode(model, synthetic_texts(args.queries, 8, 1), args.batch_size, query=True)
    ranker = Ranker([f"c{i:06d}" for i in range(len(texts))], depth=10)
    _, t_retrieval = timed(lambda: dense_rank(queries, emb, ranker))
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"chunks={args.chunks} words/chunk={args.words} queries={args.queries} batch={args.batch_size}")
    print(f"direct encode:        wall {t_direct[0]:8.1f} s  cpu {t_direct[1]:8.1f} s")
    print(f"probe embed (cold):   wall {t_probe[0]:8.1f} s  cpu {t_probe[1]:8.1f} s  (incl. cache writes)")
    print(f"throughput ratio:     wall {t_direct[0] / t_probe[0]:.3f}  cpu {t_direct[1] / t_probe[1]:.3f}"
          "  (probe / direct; target >= 0.9)")
    print(f"cached re-run:        wall {t_cached[0]:8.2f} s  (0 texts embedded)")
    print(f"exact top-10 retrieval, {args.queries} queries x {args.chunks} chunks: wall {t_retrieval[0]:.2f} s")
    print(f"peak RSS:             {rss_gib:8.2f} GiB")


if __name__ == "__main__":
    main()
