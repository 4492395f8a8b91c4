"""Token-based chunking with overlap, using the embedder's own tokenizer.

A document's tokens are cut into windows of ``size`` tokens, each starting ``size - overlap``
tokens after the previous one; the last window ends at the last token (it may be shorter).
A chunk's text is the exact span of the original text between its first and last token,
so chunks never lose characters inside the span and never start or end with whitespace.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

from advisor.errors import InputError
from advisor.sentences import say


@dataclass(frozen=True)
class Chunk:
    doc_id: str
    index: int
    text: str
    start_char: int
    end_char: int
    n_tokens: int

    @property
    def chunk_id(self) -> str:
        return f"{self.doc_id}#{self.index:05d}"

    @property
    def text_hash(self) -> str:
        return text_hash(self.text)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def token_windows(n_tokens: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """``[start, end)`` token windows covering ``range(n_tokens)``: each is ``size`` tokens long
    (the last may be shorter) and shares exactly ``overlap`` tokens with the previous one; every
    window reaches past the end of its predecessor, so none is redundant."""
    check_chunk_params(size, overlap)
    if n_tokens <= 0:
        return []
    step = size - overlap
    windows = []
    start = 0
    while True:
        end = min(start + size, n_tokens)
        windows.append((start, end))
        if end >= n_tokens:
            return windows
        start += step


def check_chunk_params(size: int, overlap: int) -> None:
    if size < 1:
        raise InputError(say("chunk size {size}: must be at least 1 token (e.g. --chunk-sizes 128,256)", size=size))
    if overlap < 0 or overlap >= size:
        raise InputError(say("--overlap {overlap}: must be between 0 and the chunk size minus one ({most})",
                             overlap=overlap, most=size - 1))


def chunk_text(doc_id: str, text: str, offsets: Sequence[tuple[int, int]], size: int, overlap: int) -> list[Chunk]:
    """Chunks of one document from its token character ``offsets`` (as a fast tokenizer gives)."""
    spans = [(s, e) for s, e in offsets if e > s]
    chunks = []
    for start, end in token_windows(len(spans), size, overlap):
        first, last = spans[start][0], spans[end - 1][1]
        body = text[first:last]
        if body.strip():
            chunks.append(Chunk(doc_id, len(chunks), body, first, last, end - start))
    return chunks


def token_offsets(tokenizer: Any, text: str) -> list[tuple[int, int]]:
    """Character offsets of the tokens of ``text`` (no special tokens)."""
    if not getattr(tokenizer, "is_fast", False):
        raise InputError(say("the embedder's tokenizer is not a fast (Rust) tokenizer; chunking needs character "
                             "offsets"))
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    return [tuple(o) for o in encoded["offset_mapping"]]


def chunk_documents(documents: Iterable[Any], tokenizer: Any, size: int, overlap: int) -> Iterator[Chunk]:
    """Chunks of every document (objects with ``id`` and ``text``), in document order."""
    check_chunk_params(size, overlap)
    for doc in documents:
        yield from chunk_text(doc.id, doc.text, token_offsets(tokenizer, doc.text), size, overlap)
