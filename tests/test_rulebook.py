"""Loading rulebooks: the built-in one, custom folders, and one-line errors for bad files."""

from pathlib import Path

import pytest

from advisor.errors import RulebookError
from advisor.decision.rulebook import load_rulebook

FIXTURE = Path(__file__).parent / "fixtures" / "rules"
GOOD = (FIXTURE / "basic.yaml").read_text()


def book_with(tmp_path, text):
    (tmp_path / "r.yaml").write_text(text)
    return load_rulebook(tmp_path)


def test_fixture_rulebook_loads_with_positions():
    book = load_rulebook(FIXTURE)
    assert [r.id for r in book.rules][:2] == ["corpus-changes", "many-labels"]
    assert book.rules[0].line == 2 and book.rules[1].line == 11
    assert book.rules[3].uses_evidence and not book.rules[0].uses_evidence
    assert len(book.hash) == 16


def test_hash_changes_with_content(tmp_path):
    first = book_with(tmp_path, GOOD).hash
    second = book_with(tmp_path, GOOD.replace("rag: 3", "rag: 2")).hash
    assert first != second


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("gte: weekly}", "gte: weakly}", r"r.yaml:6: .*'weakly' is not a choice of corpus_change"),
        ("field: has_corpus", "field: has_corpse", r"r.yaml:\d+: .*unknown field 'has_corpse'"),
        ("effect: {fine_tuning: 4}", "effect: {finetuning: 4}", r"r.yaml:\d+: .*unknown strategy 'finetuning'"),
        ("method: {full: 2}", "method: {qlora: 2}", r"unknown fine-tuning method 'qlora'"),
        ("    source: \"Fixture source B\"", "    source: \"Fixture source B\"\n    colour: red",
         r"r.yaml:11: .*colour: unknown key"),
        ("few_shot.best_accuracy, gte", "fewshot.best_accuracy, gte", r"unknown probe in field 'fewshot"),
        ("gte: 1000}", "gte: 1000, lt: 3}", r"exactly one operator"),
        ("rules:", "rulez:", r"r.yaml:1: a rules file must have a top-level 'rules:' list"),
        ("  - id: many-labels", "  - id: corpus-changes", r"duplicate rule id 'corpus-changes'"),
        ("effect: {rag: 3", "effect: {rag: 3]", r"r.yaml:\d+: not valid YAML"),
    ],
)
def test_invalid_rulebooks_name_file_line_and_problem(tmp_path, old, new, expected):
    assert old in GOOD
    with pytest.raises(RulebookError, match=expected):
        book_with(tmp_path, GOOD.replace(old, new, 1))


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(RulebookError, match="no .yaml rule files"):
        load_rulebook(tmp_path)
    with pytest.raises(RulebookError, match="not a folder"):
        load_rulebook(tmp_path / "nope")
