"""Reading the user's corpus and questions, and building the proxy question set.

Corpus: a folder of ``.txt``/``.md``/``.pdf`` files (recursively; PDF text via pypdf),
ids are paths relative to the folder with ``/`` separators; or a ``.jsonl``/``.csv``/``.parquet``
file with ``id``, ``text`` and optional ``title``. Unreadable, binary or non-UTF-8 files are
skipped and counted, never fatal; an empty corpus is an error.

Questions (``--qa``, JSONL): ``{"id", "question", "gold_doc_ids": [...], "answers": [...]}``;
each needs gold ids, gold answers or both.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from advisor.errors import InputError
from advisor.sentences import say

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst"}
TABLE_SUFFIXES = {".jsonl", ".csv", ".parquet"}


@dataclass(frozen=True)
class Document:
    id: str
    text: str


@dataclass
class Corpus:
    documents: list[Document]
    skipped: dict[str, str] = field(default_factory=dict)  # file -> reason

    @property
    def ids(self) -> set[str]:
        return {d.id for d in self.documents}


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    gold_doc_ids: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()


# -- corpus ----------------------------------------------------------------------------------
def load_corpus(path: Path) -> Corpus:
    path = Path(path)
    if not path.exists():
        raise InputError(say("--corpus {path}: no such file or folder", path=path))
    if path.is_dir():
        corpus = _load_folder(path)
    elif path.suffix.lower() in TABLE_SUFFIXES:
        corpus = Corpus(_dedupe(list(_table_rows(path)), path))
    else:
        raise InputError(say("--corpus {path}: expected a folder of .txt/.md files or a .jsonl, .csv or .parquet "
                             "file", path=path))
    if not corpus.documents:
        if corpus.skipped:
            raise InputError(say("--corpus {path}: no documents with text found ({count} file(s) skipped as "
                                 "unreadable/binary/empty); add .txt/.md files or id/text rows", path=path,
                                 count=len(corpus.skipped)))
        raise InputError(say("--corpus {path}: no documents with text found; add .txt/.md files or id/text rows",
                             path=path))
    return corpus


def corpus_files(folder: Path) -> list[Path]:
    """The files of a corpus folder that are read (sorted, hidden files excluded)."""
    suffixes = TEXT_SUFFIXES | {".pdf"}
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in suffixes
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _load_folder(folder: Path) -> Corpus:
    corpus = Corpus([])
    for file in corpus_files(folder):
        doc_id = file.relative_to(folder).as_posix()
        text, reason = read_text_file(file)
        if text is None:
            corpus.skipped[doc_id] = reason
        else:
            corpus.documents.append(Document(doc_id, text))
    return corpus


def read_text_file(file: Path) -> tuple[str | None, str]:
    """(text, "") or (None, reason) for an unreadable, binary, non-UTF-8 or empty file."""
    if file.suffix.lower() == ".pdf":
        return _read_pdf(file)
    try:
        data = file.read_bytes()
    except OSError as exc:
        return None, f"unreadable ({exc.strerror or exc})"
    if b"\x00" in data[:8192]:
        return None, "binary file"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 (byte {exc.start}); re-save it as UTF-8"
    return (text, "") if text.strip() else (None, "empty")


def _read_pdf(file: Path) -> tuple[str | None, str]:
    try:
        import logging

        from pypdf import PdfReader

        # a broken file is reported once, as a skipped file; pypdf's own log lines would only repeat it
        logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    except ImportError:
        return None, "PDF support needs the pypdf package (pip install pypdf)"
    try:
        text = "\n\n".join(page.extract_text() or "" for page in PdfReader(str(file)).pages)
    except Exception as exc:  # pypdf raises many types on broken files
        return None, f"unreadable PDF ({type(exc).__name__})"
    return (text, "") if text.strip() else (None, "PDF without extractable text")


def _table_rows(path: Path) -> Iterator[Document]:
    suffix = path.suffix.lower()
    rows = _jsonl_rows(path) if suffix == ".jsonl" else _csv_rows(path) if suffix == ".csv" else _parquet_rows(path)
    for where, row in rows:
        yield _row_document(row, f"{path}:{where}")


def _row_document(row: dict, where: str) -> Document:
    doc_id, text = row.get("id"), row.get("text")
    if doc_id is None or str(doc_id).strip() == "":
        raise InputError(say("{where}: missing field 'id'; every row needs an id and a text", where=where))
    if not isinstance(text, str):
        raise InputError(say("{where}: field 'text' must be a string (got {kind})", where=where,
                             kind=type(text).__name__))
    title = row.get("title")
    full = f"{title}\n\n{text}" if isinstance(title, str) and title.strip() else text
    return Document(str(doc_id), full)


def _jsonl_rows(path: Path) -> Iterator[tuple[str, dict]]:
    for line_no, line in _lines(path):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(say("{path}:{line}: invalid JSON ({detail}); one JSON object per line", path=path,
                                 line=line_no, detail=exc.msg)) from None
        if not isinstance(row, dict):
            raise InputError(say("{path}:{line}: expected a JSON object, got {kind}", path=path, line=line_no,
                                 kind=type(row).__name__))
        yield str(line_no), row


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8-sig") as fh:
            for line_no, line in enumerate(fh, start=1):
                if line.strip():
                    yield line_no, line
    except UnicodeDecodeError as exc:
        raise InputError(say("{path}: not UTF-8 (byte {byte}); re-save it as UTF-8", path=path,
                             byte=exc.start)) from None


def _csv_rows(path: Path) -> Iterator[tuple[str, dict]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                yield f"line {reader.line_num}", row
    except UnicodeDecodeError as exc:
        raise InputError(say("{path}: not UTF-8 (byte {byte}); re-save it as UTF-8", path=path,
                             byte=exc.start)) from None


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict]]:
    import duckdb

    try:
        rel = duckdb.connect().read_parquet(str(path))
        columns = rel.columns
        for i, values in enumerate(rel.fetchall(), start=1):
            yield f"row {i}", dict(zip(columns, values))
    except duckdb.Error as exc:
        raise InputError(say("{path}: cannot read the Parquet file ({detail})", path=path,
                             detail=str(exc).splitlines()[0])) from None


def _dedupe(docs: list[Document], path: Path) -> list[Document]:
    seen: set[str] = set()
    for doc in docs:
        if doc.id in seen:
            raise InputError(say("{path}: duplicate document id {id!r}; ids must be unique", path=path, id=doc.id))
        seen.add(doc.id)
    return [d for d in docs if d.text.strip()]


# -- questions -------------------------------------------------------------------------------
def load_questions(path: Path, corpus_ids: set[str]) -> list[Question]:
    path = Path(path)
    if not path.is_file():
        raise InputError(say("--qa {path}: no such file", path=path))
    questions = [_question(row, f"{path}:{where}") for where, row in _jsonl_rows(path)]
    if not questions:
        raise InputError(say("--qa {path}: no questions; one JSON object per line with 'question' and gold ids or "
                             "answers", path=path))
    _check_unique(questions, path)
    _check_gold_ids(questions, corpus_ids, path)
    return questions


def _question(row: dict, where: str) -> Question:
    text = row.get("question")
    if not isinstance(text, str) or not text.strip():
        raise InputError(say("{where}: missing or empty field 'question'", where=where))
    gold = _string_list(row.get("gold_doc_ids"), "gold_doc_ids", where)
    answers = _string_list(row.get("answers"), "answers", where)
    if not gold and not answers:
        raise InputError(say("{where}: give 'gold_doc_ids' (relevant document ids) or 'answers' (gold answer "
                             "strings)", where=where))
    qid = str(row.get("id", where.rsplit(":", 1)[-1]))
    return Question(qid, text.strip(), tuple(gold), tuple(answers))


def _string_list(value: object, name: str, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise InputError(say("{where}: field {name!r} must be a list of strings", where=where, name=name))
    return [str(v) for v in value if str(v).strip()]


def _check_unique(questions: list[Question], path: Path) -> None:
    seen: set[str] = set()
    for q in questions:
        if q.id in seen:
            raise InputError(say("{path}: duplicate question id {id!r}; ids must be unique", path=path, id=q.id))
        seen.add(q.id)


def _check_gold_ids(questions: list[Question], corpus_ids: set[str], path: Path) -> None:
    missing = [(q.id, g) for q in questions for g in q.gold_doc_ids if g not in corpus_ids]
    if missing:
        shown = ", ".join(f"{qid}: {g!r}" for qid, g in missing[:3])
        if len(missing) > 3:
            shown = say("{shown} and {count} more", shown=shown, count=len(missing) - 3)
        raise InputError(say(
            "{path}: {count} gold document id(s) not in the corpus ({shown}); ids are paths "
            "relative to the corpus folder (e.g. billing/refunds.md) or the 'id' column of a corpus file",
            path=path, count=len(missing), shown=shown))


# -- proxy questions (no --qa) ---------------------------------------------------------------
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]")


def sentences(text: str, min_words: int = 6) -> list[str]:
    """Sentences of at least ``min_words`` words (markdown headings and list markers dropped)."""
    found = (s.strip().lstrip("#-*> ").strip() for s in _SENTENCE.findall(text))
    return [s for s in found if len(s.split()) >= min_words]


def proxy_questions(documents: list[Document], max_questions: int = 200, seed: int = 0) -> tuple[list[Question], list[Document]]:
    """Self-retrieval proxy set: one held-out sentence per sampled document is the query, its
    source document the target; the sentence is removed from the document that is indexed, so
    the query cannot match itself verbatim. Returns (questions, documents to index)."""
    rng = random.Random(seed)
    candidates = [d for d in documents if len(sentences(d.text)) >= 2]
    chosen = {d.id for d in rng.sample(candidates, min(max_questions, len(candidates)))}
    questions, indexed = [], []
    for doc in documents:
        if doc.id in chosen:
            held_out = rng.choice(sentences(doc.text))
            qid = "proxy-" + hashlib.sha1(doc.id.encode()).hexdigest()[:10]
            questions.append(Question(qid, held_out, (doc.id,)))
            doc = Document(doc.id, doc.text.replace(held_out, " ", 1))
        indexed.append(doc)
    return questions, indexed
