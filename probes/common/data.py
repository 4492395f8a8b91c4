"""The user's labeled sample: loading (JSONL, CSV, Parquet via DuckDB), validation, fingerprint, split.

Every probe that trains or prompts on the user's data goes through :func:`load_dataset` and
:func:`split_dataset`, so the few-shot and LoRA probes see the very same eval set and their
numbers are comparable.

Split convention (documented because results depend on it): the eval set has
``min(eval_size, n - pool_min)`` examples with ``pool_min = min(n // 2, 32)``, so small files
still leave a demonstration/training pool. For classification the split is stratified (each
label gets its share of the eval set by largest remainder, and keeps at least one example in
the pool); the shuffle uses ``random.Random(seed)`` over examples grouped by label, so the same
file, ``eval_size`` and ``seed`` always give the same split.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from advisor.errors import InputError

Task = Literal["classification", "generation", "extraction"]
TEXT_COLUMNS = ["text", "input", "question", "prompt", "sentence", "content", "query", "body", "message", "review"]
LABEL_COLUMNS = ["label", "labels", "category", "class", "intent", "target", "output", "answer", "completion",
                 "response", "y"]
ID_COLUMNS = ["id", "example_id", "uid", "_id"]
_READERS = {".jsonl": "read_json_auto", ".json": "read_json_auto", ".ndjson": "read_json_auto",
            ".csv": "read_csv_auto", ".tsv": "read_csv_auto", ".parquet": "read_parquet"}


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    label: str


@dataclass
class LabeledDataset:
    """Validated examples plus where they came from and a content fingerprint."""

    path: Path
    examples: list[Example]
    task: Task
    text_col: str
    label_col: str
    id_col: str | None = None
    fingerprint: str = ""
    labels: list[str] = field(default_factory=list)  # sorted distinct labels (classification)

    def __len__(self) -> int:
        return len(self.examples)


@dataclass
class Split:
    pool: list[Example]
    eval: list[Example]


# -- reading --------------------------------------------------------------------------------
def read_rows(path: Path) -> tuple[list[str], list[tuple]]:
    """Column names and rows of a JSONL/CSV/Parquet file, read with DuckDB."""
    import duckdb

    path = Path(path)
    if not path.is_file():
        raise InputError(f"--data {path}: no such file; pass a JSONL, CSV or Parquet file.")
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(f"--data {path}: unknown file type {path.suffix!r}; use .jsonl, .csv or .parquet.")
    if path.stat().st_size == 0:
        raise InputError(f"--data {path}: the file is empty; it needs one labeled example per row.")
    is_json = reader == "read_json_auto"
    if is_json:
        _scan_jsonl(path)
    try:
        con = duckdb.connect()
        # JSON: keep every top-level value as its own JSON text (maximum_depth=1) and decode it here, so
        # nested outputs stay as written; DuckDB's struct inference would add the keys of other rows as
        # nulls and turn 12 into 12.0 when another row has 12.5.
        sql = f"SELECT * FROM {reader}(?, maximum_depth=1)" if is_json else f"SELECT * FROM {reader}(?)"
        cur = con.execute(sql, [str(path)])
        columns = [d[0] for d in cur.description]
        rows = cur.fetchall()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(f"--data {path}: cannot read it as {path.suffix[1:]} ({first[:160]}); check the format.") from None
    if is_json:
        if any(not name for name in columns) or any(not isinstance(v, str) for row in rows for v in row
                                                    if v is not None):
            raise InputError(f"--data {path}: a row has an empty key or no key at all; every row needs named "
                             "fields such as {\"text\": ..., \"label\": ...}.")
        rows = [tuple(None if v is None else json.loads(v) for v in row) for row in rows]
    return columns, rows


def _names(columns: list[str]) -> str:
    """Column names for a one-line message: a name with a control character or an empty one is quoted."""
    return ", ".join(repr(c) if not c or not c.isprintable() else c for c in columns)


#: The longest row of labeled data accepted, in characters: a labeled example is a message or a document
#: excerpt; a longer "row" is a formatting accident that would only exhaust memory in the probes.
MAX_ROW_CHARS = 100_000


def _scan_jsonl(path: Path) -> None:
    """Every line is one JSON object of a sensible length; otherwise one error naming the line."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if len(raw) > MAX_ROW_CHARS * 4:
                raise InputError(f"--data {path}:{number}: the line is {len(raw):,} bytes; a labeled example may have "
                                 f"at most {MAX_ROW_CHARS:,} characters. Split or shorten it.")
            line = raw.strip()
            if line and not line.startswith(b"{"):
                kind = "an array" if line.startswith(b"[") else "not a JSON object"
                raise InputError(f"--data {path}:{number}: the line is {kind}; JSONL needs one object per line, "
                                 'such as {"text": "...", "label": "..."}.')


def check_lengths(path: Path, examples: list) -> None:
    for number, e in enumerate(examples, start=1):
        if len(e.text) > MAX_ROW_CHARS or len(e.label) > MAX_ROW_CHARS:
            which = f"row {number}" if e.id == str(number) else f"row {number} (id {e.id})"
            raise InputError(f"--data {path}: {which} has {max(len(e.text), len(e.label)):,} characters; "
                             f"a labeled example may have at most {MAX_ROW_CHARS:,}. Split or shorten it.")


def _pick_column(path: Path, columns: list[str], wanted: str | None, candidates: list[str], option: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise InputError(f"--data {path}: no column {wanted!r} ({option}); columns are: {_names(columns)}.")
        return wanted
    lower = {c.lower(): c for c in columns}
    for name in candidates:
        if name in lower:
            return lower[name]
    raise InputError(
        f"--data {path}: cannot tell which column to use for {option}; columns are: {_names(columns)}. "
        f"Pass {option} NAME."
    )


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# -- loading --------------------------------------------------------------------------------
def load_dataset(
    path: Path | str,
    text_col: str | None = None,
    label_col: str | None = None,
    task: Task | Literal["auto"] = "auto",
    id_col: str | None = None,
) -> LabeledDataset:
    """Read and validate a labeled file; errors name the file, the column and the fix."""
    path = Path(path)
    columns, rows = read_rows(path)
    if not rows:
        raise InputError(f"--data {path}: the file has no rows; it needs one labeled example per row.")
    text_col = _pick_column(path, columns, text_col, TEXT_COLUMNS, "--text-col")
    label_col = _pick_column(path, columns, label_col, LABEL_COLUMNS, "--label-col")
    if text_col == label_col:
        raise InputError(f"--data {path}: --text-col and --label-col are both {text_col!r}; pass two columns.")
    id_col = id_col or next((c for c in columns if c.lower() in ID_COLUMNS), None)
    examples = _examples(path, columns, rows, text_col, label_col, id_col)
    labels_seen = sorted({e.label for e in examples})
    task = _infer_task(examples, labels_seen) if task == "auto" else task
    if task == "classification" and len(labels_seen) < 2:
        raise InputError(
            f"--data {path}: column {label_col!r} has a single class ({labels_seen[0]!r}); "
            "classification needs at least two labels."
        )
    return LabeledDataset(path=path, examples=examples, task=task, text_col=text_col, label_col=label_col,
                          id_col=id_col, fingerprint=fingerprint(examples),
                          labels=labels_seen if task == "classification" else [])


def _examples(path: Path, columns: list[str], rows: list[tuple], text_col: str, label_col: str,
              id_col: str | None) -> list[Example]:
    ti, li = columns.index(text_col), columns.index(label_col)
    ii = columns.index(id_col) if id_col else None
    examples = [Example(id=_cell(r[ii]) if ii is not None else str(n), text=_cell(r[ti]), label=_cell(r[li]))
                for n, r in enumerate(rows, start=1)]
    check_lengths(path, examples)
    _check_nonempty(path, examples, "text", text_col, "--text-col")
    _check_nonempty(path, examples, "label", label_col, "--label-col")
    _check_unique_ids(path, examples, id_col)
    return examples


def _check_nonempty(path: Path, examples: list[Example], attr: str, column: str, option: str) -> None:
    empty = [e.id for e in examples if not getattr(e, attr).strip()]
    if empty:
        shown = ", ".join(empty[:5]) + (" ..." if len(empty) > 5 else "")
        raise InputError(
            f"--data {path}: column {column!r} ({option}) is empty in {len(empty)} row(s) (ids: {shown}); "
            "fill or remove them."
        )


def _check_unique_ids(path: Path, examples: list[Example], id_col: str | None) -> None:
    seen: set[str] = set()
    dups = []
    for e in examples:
        if e.id in seen:
            dups.append(e.id)
        seen.add(e.id)
    if dups:
        raise InputError(
            f"--data {path}: column {id_col!r} has duplicate ids ({', '.join(sorted(set(dups))[:5])}); "
            "make the ids unique or remove the column."
        )


def _infer_task(examples: list[Example], labels: list[str]) -> Task:
    """Classification when labels repeat (at most 50 distinct, at most half the rows), extraction
    when every output is a JSON object or array, else generation."""
    if len(labels) <= 50 and len(labels) <= max(2, len(examples) // 2):
        return "classification"
    if all(_is_json_container(e.label) for e in examples):
        return "extraction"
    return "generation"


def _is_json_container(text: str) -> bool:
    try:
        return isinstance(json.loads(text), (dict, list))
    except ValueError:
        return False


def fingerprint(examples: list[Example]) -> str:
    """sha256 of the normalized content (ids, texts, labels), independent of file format."""
    h = hashlib.sha256()
    for e in examples:
        h.update(json.dumps([e.id, e.text, e.label], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


# -- split ----------------------------------------------------------------------------------
def eval_count(n: int, eval_size: int) -> int:
    """How many examples go to the eval set (see the module docstring)."""
    pool_min = min(n // 2, 32)
    return max(0, min(eval_size, n - pool_min))


def split_dataset(ds: LabeledDataset, eval_size: int, seed: int) -> Split:
    """Deterministic seeded split into a pool (demonstrations / training) and an eval set."""
    rng = random.Random(seed)
    target = eval_count(len(ds.examples), eval_size)
    if ds.task == "classification":
        groups = {lab: [e for e in ds.examples if e.label == lab] for lab in ds.labels}
    else:
        groups = {"": list(ds.examples)}
    for members in groups.values():
        rng.shuffle(members)
    quotas = _quotas({k: len(v) for k, v in groups.items()}, target, keep_one=ds.task == "classification")
    eval_ids = {e.id for k, members in groups.items() for e in members[: quotas[k]]}
    return Split(pool=[e for e in ds.examples if e.id not in eval_ids],
                 eval=[e for e in ds.examples if e.id in eval_ids])


def _quotas(sizes: dict[str, int], target: int, keep_one: bool) -> dict[str, int]:
    """Proportional allocation by largest remainder, capped so each group keeps one pool example."""
    total = sum(sizes.values())
    caps = {k: max(0, n - 1) if keep_one else n for k, n in sizes.items()}
    exact = {k: target * n / total for k, n in sizes.items()}
    quotas = {k: min(caps[k], int(exact[k])) for k in sizes}
    order = sorted(sizes, key=lambda k: (-(exact[k] - int(exact[k])), k))
    while sum(quotas.values()) < target and any(quotas[k] < caps[k] for k in sizes):
        for k in order:
            if sum(quotas.values()) < target and quotas[k] < caps[k]:
                quotas[k] += 1
    return quotas
