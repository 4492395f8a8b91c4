"""The store's caches: a target model's responses (no request is paid for twice) and embedding vectors."""

from __future__ import annotations

import json
from typing import Any

from advisor.store.rows import now, then_release, to_json


class Caches:
    """The cache tables of :class:`advisor.store.database.Store` (which provides ``con`` and ``release``)."""

    con: Any

    # -- target model responses -----------------------------------------------------------
    @then_release
    def cached_responses(self, keys: list[str]) -> dict[str, dict]:
        """Stored endpoint responses for the given request keys that exist."""
        if not keys:
            return {}
        rows = self.con.execute(
            "SELECT key, response FROM response_cache WHERE key IN (SELECT unnest(?::VARCHAR[]))", [list(keys)]
        ).fetchall()
        return {key: json.loads(response) for key, response in rows}

    @then_release
    def cache_responses(self, endpoint: str, model: str, items: list[tuple[str, dict, dict]]) -> None:
        """Store ``(key, request, response)`` answers of one endpoint model in one write (the file is opened
        once for the lot, not once per answer)."""
        if not items:
            return
        stamp = now()
        self.con.executemany(
            "INSERT OR REPLACE INTO response_cache VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[key, endpoint, model, to_json(request), to_json(response), response.get("prompt_tokens"),
              response.get("completion_tokens"), response.get("latency"), stamp]
             for key, request, response in items],
        )

    # -- embedding cache -----------------------------------------------------------------
    @then_release
    def cached_embeddings(self, embedder: str, text_hashes: list[str]) -> dict[str, list[float]]:
        """Cached vectors (float32 numpy arrays, usable as lists) of the given hashes that exist."""
        if not text_hashes:
            return {}
        import numpy as np

        found = self.con.execute(
            "SELECT c.text_hash, c.vector FROM embedding_cache c"
            " JOIN (SELECT DISTINCT unnest(?::VARCHAR[]) AS h) q ON c.text_hash = q.h WHERE c.embedder = ?",
            [list(text_hashes), embedder],
        ).fetchnumpy()
        return {h: np.asarray(v, dtype=np.float32) for h, v in zip(found["text_hash"].tolist(), found["vector"])}

    def cached_hashes(self, embedder: str, text_hashes: list[str]) -> set[str]:
        """Which of the given hashes have a cached vector (without reading the vectors)."""
        if not text_hashes:
            return set()
        found = self.con.execute(
            "SELECT DISTINCT c.text_hash FROM embedding_cache c"
            " JOIN (SELECT DISTINCT unnest(?::VARCHAR[]) AS h) q ON c.text_hash = q.h WHERE c.embedder = ?",
            [list(text_hashes), embedder],
        ).fetchall()
        return {row[0] for row in found}

    @then_release
    def cache_embeddings(self, embedder: str, items: list[tuple[str, list[float]]]) -> None:
        """Insert or replace vectors; bulk-loaded from numpy (one statement, no per-row round trip)."""
        if not items:
            return
        import numpy as np

        hashes = np.array([h for h, _ in items], dtype=object)
        vectors = np.stack([np.asarray(v, dtype=np.float32) for _, v in items])
        n, dim = vectors.shape
        self.con.register("_emb_rows", {"i": np.arange(n), "h": hashes})
        self.con.register("_emb_vals", {"i": np.repeat(np.arange(n), dim), "p": np.tile(np.arange(dim), n),
                                        "v": vectors.ravel()})
        try:
            self.con.execute(
                "INSERT OR REPLACE INTO embedding_cache SELECT ?, r.h, v.vec FROM _emb_rows r"
                " JOIN (SELECT i, list(v ORDER BY p) AS vec FROM _emb_vals GROUP BY i) v USING (i)",
                [embedder],
            )
        finally:
            self.con.unregister("_emb_rows")
            self.con.unregister("_emb_vals")
