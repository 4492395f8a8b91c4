"""The labeled-data loader: formats, auto-detection, one-line errors, fingerprint, split."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from advisor.errors import InputError
from advisor.probes.common.data import eval_count, load_dataset, split_dataset


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def rows(n=40, labels=("billing", "account", "technical")):
    return [{"id": f"t{i}", "text": f"ticket number {i}", "label": labels[i % len(labels)]} for i in range(n)]


def test_jsonl_csv_parquet_give_the_same_examples_and_fingerprint(tmp_path):
    import duckdb

    src = write_jsonl(tmp_path / "d.jsonl", rows())
    duckdb.sql(f"COPY (SELECT * FROM read_json_auto('{src}')) TO '{tmp_path / 'd.csv'}' (HEADER)")
    duckdb.sql(f"COPY (SELECT * FROM read_json_auto('{src}')) TO '{tmp_path / 'd.parquet'}' (FORMAT parquet)")
    loaded = [load_dataset(tmp_path / name) for name in ("d.jsonl", "d.csv", "d.parquet")]
    assert [len(d) for d in loaded] == [40, 40, 40]
    assert len({d.fingerprint for d in loaded}) == 1
    assert loaded[0].task == "classification" and loaded[0].labels == ["account", "billing", "technical"]
    assert (loaded[0].text_col, loaded[0].label_col, loaded[0].id_col) == ("text", "label", "id")


def test_fingerprint_changes_with_content(tmp_path):
    a = load_dataset(write_jsonl(tmp_path / "a.jsonl", rows()))
    changed = rows()
    changed[3]["label"] = "billing" if changed[3]["label"] != "billing" else "account"
    b = load_dataset(write_jsonl(tmp_path / "b.jsonl", changed))
    assert a.fingerprint != b.fingerprint


def test_generation_and_extraction_are_detected(tmp_path):
    gen = [{"question": f"q{i}", "answer": f"answer {i}"} for i in range(10)]
    ds = load_dataset(write_jsonl(tmp_path / "g.jsonl", gen))
    assert ds.task == "generation" and (ds.text_col, ds.label_col) == ("question", "answer")
    ext = [{"input": f"Ada paid {i}", "output": {"name": "Ada", "amount": i}} for i in range(10)]
    ds = load_dataset(write_jsonl(tmp_path / "e.jsonl", ext))
    assert ds.task == "extraction" and json.loads(ds.examples[2].label) == {"name": "Ada", "amount": 2}


@pytest.mark.parametrize("content, kwargs, fragment", [
    ("", {}, "empty"),
    ('{"text": "a", "label": "x"}\n{"text": "b", "label": "x"}\n', {}, "single class"),
    ('{"text": "a", "label": "x"}\n{"text": "", "label": "y"}\n', {}, "'text' (--text-col) is empty in 1 row"),
    ('{"id": 1, "text": "a", "label": "x"}\n{"id": 1, "text": "b", "label": "y"}\n', {}, "duplicate ids (1)"),
    ('{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n', {"label_col": "intent"}, "no column 'intent'"),
    ('{"body2": "a", "tag": "x"}\n{"body2": "b", "tag": "y"}\n', {}, "Pass --text-col NAME"),
    ('{"text": "a", "label": "x"\n', {}, "cannot read it as jsonl"),
])
def test_bad_input_is_one_line_naming_file_and_fix(tmp_path, content, kwargs, fragment):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(InputError) as info:
        load_dataset(path, **kwargs)
    message = str(info.value)
    assert fragment in message and str(path) in message and "\n" not in message


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_dataset(tmp_path / "nope.jsonl")
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(InputError, match="unknown file type"):
        load_dataset(tmp_path / "d.xlsx")


def test_split_is_deterministic_disjoint_and_stratified(tmp_path):
    data = rows(100, labels=("a", "a", "a", "b"))  # 75 / 25
    ds = load_dataset(write_jsonl(tmp_path / "d.jsonl", data))
    one, two = split_dataset(ds, 40, seed=7), split_dataset(ds, 40, seed=7)
    assert [e.id for e in one.eval] == [e.id for e in two.eval]
    assert {e.id for e in one.eval}.isdisjoint({e.id for e in one.pool})
    assert len(one.eval) + len(one.pool) == 100 and len(one.eval) == 40
    assert Counter(e.label for e in one.eval) == {"a": 30, "b": 10}
    other = split_dataset(ds, 40, seed=8)
    assert [e.id for e in other.eval] != [e.id for e in one.eval]


def test_small_data_keeps_a_pool_with_every_label(tmp_path):
    ds = load_dataset(write_jsonl(tmp_path / "d.jsonl", rows(12, labels=("a", "b", "c", "d", "e", "f"))))
    split = split_dataset(ds, 200, seed=0)
    assert len(split.eval) == eval_count(12, 200) == 6
    assert {e.label for e in split.pool} == {"a", "b", "c", "d", "e", "f"}
