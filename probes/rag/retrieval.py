"""Exact top-k retrieval: dense (cosine over normalized embeddings) and lexical (BM25).

Ranking can be over chunks or over documents; a document's score is its best chunk's score
(chunks of one document must be contiguous). Ties are broken by ascending unit id, as
sentence-transformers' InformationRetrievalEvaluator does, so rankings are deterministic.
"""

from __future__ import annotations

import re
from typing import Iterator, Sequence

import numpy as np

QUERY_BATCH = 256
_WORD = re.compile(r"\w+", re.UNICODE)


def bm25_tokenize(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def group_starts(unit_of_chunk: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """(start index of each run of equal unit ids, the unit ids) for contiguous chunk groups."""
    starts, units = [], []
    for i, unit in enumerate(unit_of_chunk):
        if not units or units[-1] != unit:
            starts.append(i)
            units.append(unit)
    if len(set(units)) != len(units):
        raise ValueError("chunks of one document must be contiguous")
    return np.asarray(starts, dtype=np.int64), units


def top_units(scores: np.ndarray, id_rank: np.ndarray, depth: int) -> list[np.ndarray]:
    """Per row, the indices of the ``depth`` best units by (score desc, id asc)."""
    depth = min(depth, scores.shape[1])
    kth = -np.partition(-scores, depth - 1, axis=1)[:, depth - 1]
    out = []
    for row, threshold in zip(scores, kth):
        cand = np.flatnonzero(row >= threshold)
        order = np.lexsort((id_rank[cand], -row[cand]))
        out.append(cand[order[:depth]])
    return out


class Ranker:
    """Turns chunk score matrices into ranked unit lists (documents or chunks)."""

    def __init__(self, unit_of_chunk: Sequence[str], depth: int):
        self.starts, self.units = group_starts(unit_of_chunk)
        self.id_rank = np.empty(len(self.units), dtype=np.int64)
        self.id_rank[sorted(range(len(self.units)), key=self.units.__getitem__)] = np.arange(len(self.units))
        self.depth = depth
        self.per_chunk = len(self.units) == len(unit_of_chunk)

    def rank(self, chunk_scores: np.ndarray) -> list[list[tuple[str, float]]]:
        unit_scores = chunk_scores if self.per_chunk else np.maximum.reduceat(chunk_scores, self.starts, axis=1)
        return [
            [(self.units[i], float(row[i])) for i in idx]
            for row, idx in zip(unit_scores, top_units(unit_scores, self.id_rank, self.depth))
        ]


def _batches(n: int, size: int = QUERY_BATCH) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def dense_rank(query_emb: np.ndarray, chunk_emb: np.ndarray, ranker: Ranker) -> list[list[tuple[str, float]]]:
    """Exact cosine top-k (embeddings are normalized, so cosine is the dot product)."""
    ranked: list[list[tuple[str, float]]] = []
    for batch in _batches(len(query_emb)):
        ranked.extend(ranker.rank(query_emb[batch] @ chunk_emb.T))
    return ranked


class Bm25:
    """BM25 over the chunks with ``bm25s`` (Lucene's variant, the one Lucene, Anserini and Pyserini use:
    idf = ln(1 + (N - df + 0.5) / (df + 0.5)), k1 = 1.5, b = 0.75), on advisor's word tokenizer."""

    def __init__(self, texts: Sequence[str], k1: float = 1.5, b: float = 0.75):
        import bm25s

        self.index = bm25s.BM25(k1=k1, b=b, method="lucene", dtype="float64")
        self.index.index([bm25_tokenize(t) for t in texts], show_progress=False)
        self.vocab = set(self.index.vocab_dict)
        self.n_chunks = len(texts)

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """Dense ``(len(queries), n_chunks)`` BM25 scores (a query term absent from the chunks scores 0)."""
        out = np.zeros((len(queries), self.n_chunks), dtype=np.float64)
        for i, query in enumerate(queries):
            terms = [t for t in bm25_tokenize(query) if t in self.vocab]
            if terms:
                out[i] = self.index.get_scores(terms)
        return out

    def rank(self, queries: Sequence[str], ranker: Ranker) -> list[list[tuple[str, float]]]:
        ranked: list[list[tuple[str, float]]] = []
        for batch in _batches(len(queries), 64):
            ranked.extend(ranker.rank(self.scores(queries[batch])))
        return ranked
