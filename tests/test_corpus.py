"""Reading a corpus and questions: folders, tables, PDFs, bad files skipped with a reason."""

import json

import pytest

from advisor.errors import InputError
from advisor.probes.rag.corpus import load_corpus, load_questions, proxy_questions, sentences


def _folder(tmp_path):
    root = tmp_path / "docs"
    (root / "billing").mkdir(parents=True)
    (root / "billing" / "refunds.md").write_text("# Refunds\n\nAnnual plans are refunded within 30 days.", encoding="utf-8")
    (root / "intro.txt").write_text("Welcome to the help center.", encoding="utf-8")
    (root / "logo.md").write_bytes(b"\x89PNG\x00\x00binary")
    (root / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (root / "empty.md").write_text("   \n", encoding="utf-8")
    (root / "ignored.json").write_text("{}", encoding="utf-8")
    return root


def test_folder_reads_text_and_skips_bad_files_with_reasons(tmp_path):
    corpus = load_corpus(_folder(tmp_path))
    assert sorted(d.id for d in corpus.documents) == ["billing/refunds.md", "intro.txt"]
    assert set(corpus.skipped) == {"logo.md", "latin1.txt", "empty.md"}
    assert "binary" in corpus.skipped["logo.md"] and "UTF-8" in corpus.skipped["latin1.txt"]


def test_empty_corpus_is_one_clear_error(tmp_path):
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01")
    with pytest.raises(InputError, match="no documents.*1 file"):
        load_corpus(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        load_corpus(tmp_path / "missing")


def test_jsonl_csv_and_parquet_corpora(tmp_path):
    import duckdb

    rows = [{"id": "a", "title": "Refunds", "text": "Annual plans are refunded."}, {"id": 2, "text": "Other."}]
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    docs = load_corpus(jsonl).documents
    assert [d.id for d in docs] == ["a", "2"] and docs[0].text.startswith("Refunds\n\n")
    csv_file = tmp_path / "c.csv"
    csv_file.write_text('id,text\nx,"a, quoted | text"\n', encoding="utf-8")
    assert load_corpus(csv_file).documents[0].text == "a, quoted | text"
    parquet = tmp_path / "c.parquet"
    duckdb.connect().execute(f"COPY (SELECT 'p1' AS id, 'parquet text' AS text) TO '{parquet}' (FORMAT parquet)")
    assert load_corpus(parquet).documents[0].text == "parquet text"


@pytest.mark.parametrize("content,match", [
    ('{"id": "a"}\n', "'text'"),
    ('{"text": "x"}\n', "'id'"),
    ('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', "duplicate"),
    ("not json\n", "invalid JSON"),
])
def test_bad_corpus_rows(tmp_path, content, match):
    path = tmp_path / "c.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=match):
        load_corpus(path)


def _qa(tmp_path, rows):
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_questions_load_and_unknown_gold_ids_fail(tmp_path):
    ids = {"billing/refunds.md"}
    ok = load_questions(_qa(tmp_path, [{"id": "q1", "question": "Refund?", "gold_doc_ids": ["billing/refunds.md"],
                                        "answers": ["30 days"]}]), ids)
    assert ok[0].gold_doc_ids == ("billing/refunds.md",) and ok[0].answers == ("30 days",)
    with pytest.raises(InputError, match="not in the corpus.*refunds.txt"):
        load_questions(_qa(tmp_path, [{"id": "q1", "question": "?", "gold_doc_ids": ["refunds.txt"]}]), ids)
    with pytest.raises(InputError, match="gold_doc_ids.*answers"):
        load_questions(_qa(tmp_path, [{"id": "q1", "question": "Refund?"}]), ids)
    with pytest.raises(InputError, match="question"):
        load_questions(_qa(tmp_path, [{"id": "q1", "answers": ["x"]}]), ids)


def test_proxy_set_holds_out_a_sentence_and_targets_its_source(tmp_path):
    from advisor.probes.rag.corpus import Document

    docs = [Document(f"d{i}.md", f"Topic {i} starts here with words. The secret code for item {i} is {i * 7} units. "
                     f"Another sentence about topic {i} follows now.") for i in range(10)]
    docs.append(Document("short.md", "Too short."))
    questions, indexed = proxy_questions(docs, max_questions=5, seed=1)
    assert len(questions) == 5
    by_id = {d.id: d.text for d in indexed}
    for q in questions:
        (source,) = q.gold_doc_ids
        assert q.question in next(d.text for d in docs if d.id == source)
        assert q.question not in by_id[source]  # held out of the indexed text
    assert proxy_questions(docs, 5, seed=1)[0] == questions  # deterministic
    assert "short.md" not in {g for q in proxy_questions(docs, 100)[0] for g in q.gold_doc_ids}


def test_sentences_drop_headings_and_short_fragments():
    assert sentences("# Title\n\n- A list item with enough words here.\nShort one.") == [
        "A list item with enough words here."]


def test_pdf_documents_are_read_and_broken_pdfs_skipped(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["pdf.fonttype"] = 42  # TrueType with a text layer, as most real PDFs have
    fig = plt.figure()
    fig.text(0.1, 0.5, "Exports are limited to 10,000 rows per file.")
    fig.savefig(tmp_path / "limits.pdf")
    plt.close(fig)
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (tmp_path / "note.md").write_text("# Note\nPlain markdown beside the PDF.")
    corpus = load_corpus(tmp_path)
    texts = {d.id: d.text for d in corpus.documents}
    assert "10,000 rows per file" in texts["limits.pdf"] and "note.md" in texts
    assert set(corpus.skipped) == {"broken.pdf"}
