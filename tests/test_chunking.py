"""Token-based chunking with overlap, on the embedder's own tokenizer."""

import pytest

from advisor.errors import InputError
from advisor.probes.rag.chunking import chunk_documents, chunk_text, token_offsets, token_windows
from advisor.probes.rag.corpus import Document


@pytest.mark.parametrize("n", [0, 1, 5, 16, 17, 100, 257])
@pytest.mark.parametrize("size,overlap", [(1, 0), (4, 1), (16, 0), (16, 15), (128, 32)])
def test_windows_cover_every_token_with_exact_overlap(n, size, overlap):
    windows = token_windows(n, size, overlap)
    covered = set()
    for s, e in windows:
        assert 0 <= s < e <= n and e - s <= size
        covered.update(range(s, e))
    assert covered == set(range(n))
    for (_s1, e1), (s2, e2) in zip(windows, windows[1:]):
        assert e1 - s2 == overlap and e2 > e1  # shares exactly `overlap` tokens, always reaches further
    assert all(e - s == size for s, e in windows[:-1])


@pytest.mark.parametrize("size,overlap", [(0, 0), (4, 4), (4, -1)])
def test_bad_chunk_parameters(size, overlap):
    with pytest.raises(InputError):
        token_windows(10, size, overlap)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from advisor.probes.common.embedder import default_model_dir

    return AutoTokenizer.from_pretrained(str(default_model_dir()))


TEXT = ("# Refunds\n\nAnnual plans can be refunded within 30 days.   Monthly plans are not refunded.\n\n"
        "Contact billing@example.com — we answer in 2 business days. Ünïcödé and emoji 🎉 survive.") * 5


def test_chunks_are_exact_spans_with_bounded_token_counts(tokenizer):
    chunks = chunk_text("d", TEXT, token_offsets(tokenizer, TEXT), 20, 5)
    assert len(chunks) > 3
    for c in chunks:
        assert c.text == TEXT[c.start_char:c.end_char] and c.text.strip() == c.text and c.text
        assert c.n_tokens <= 20
        # a chunk cut inside a word re-tokenizes its first piece differently (e.g. "##unds" -> "und", "##s")
        assert len(token_offsets(tokenizer, c.text)) <= 20 + 2
    for a, b in zip(chunks, chunks[1:]):
        assert b.start_char < a.end_char  # overlapping
    covered = set()
    for c in chunks:
        covered.update(range(c.start_char, c.end_char))
    assert all(i in covered for i, ch in enumerate(TEXT) if not ch.isspace())


def test_no_empty_chunks_and_ids(tokenizer):
    docs = [Document("a.md", "   \n\n  "), Document("b.md", "one two three")]
    chunks = list(chunk_documents(docs, tokenizer, 2, 1))
    assert [c.chunk_id for c in chunks] == ["b.md#00000", "b.md#00001"]
    assert [c.text for c in chunks] == ["one two", "two three"]
