"""Property-based tests (hypothesis) of the loaders users feed: answers files, rules folders, cost files, data
files, corpus and QA files. For any generated input: a result, or one AdvisorError with a one-line message, never
another exception; through the CLI, exit code 0 or 2 with one ``Error:`` line, and nothing stored changed."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import duckdb
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from advisor.cli import cli
from advisor.errors import AdvisorError
from tests.helpers import BASE_ANSWERS, FIXTURE_RULES

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
CLI_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))

# -- generated values: what a user's file may hold ------------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False), st.text(max_size=40),
                    st.sampled_from(["classification", "weekly", "none", "high", "yes", "1e400", "-0", "NaN"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                      max_leaves=12)


def _mutated(base: dict) -> st.SearchStrategy:
    """``base`` with some keys dropped, replaced by any value, or added."""
    keys = list(base)
    return st.builds(
        lambda drop, change, extra: {**{k: v for k, v in base.items() if k not in drop}, **change, **extra},
        st.sets(st.sampled_from(keys), max_size=len(keys)),
        st.dictionaries(st.sampled_from(keys), values, max_size=4),
        st.dictionaries(st.text(max_size=12), values, max_size=2))


def _dump(data: object, how: str) -> str:
    if how == "json":
        return json.dumps(data, default=str)
    return yaml.safe_dump(data, allow_unicode=True) if not isinstance(data, str) else data


files = st.one_of(
    st.text(max_size=300),  # anything at all
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.tuples(values, st.sampled_from(["yaml", "json"])).map(lambda t: _dump(t[0], t[1])),
)


def _check(call) -> object:
    """The loader's result, or None after an AdvisorError whose message is one line; anything else fails."""
    try:
        return call()
    except AdvisorError as exc:
        message = str(exc)
        assert message and "\n" not in message.strip(), repr(message)
        return None


_ROOT: list[Path] = []  # this module's one temporary folder, removed when the module's tests end


@pytest.fixture(scope="module", autouse=True)
def _work_root(tmp_path_factory):
    _ROOT.append(tmp_path_factory.mktemp("prop"))
    yield
    shutil.rmtree(_ROOT.pop(), ignore_errors=True)


def _workdir() -> Path:
    """A fresh folder for one generated example (hypothesis runs many examples in one test call)."""
    return Path(tempfile.mkdtemp(dir=_ROOT[-1]))


# -- answers -----------------------------------------------------------------------------------------------------
@SETTINGS
@given(st.one_of(_mutated(BASE_ANSWERS).map(lambda d: _dump(d, "yaml")),
                 _mutated(BASE_ANSWERS).map(lambda d: _dump(d, "json")), files),
       st.sampled_from([".yaml", ".json", ".yml"]))
def test_any_answers_file_gives_answers_or_one_error_line(text, suffix):
    from advisor.intake.collect import collect_answers

    path = _workdir() / f"answers{suffix}"
    path.write_text(text, encoding="utf-8")
    _check(lambda: collect_answers(path))


# -- rules --------------------------------------------------------------------------------------------------------
BASIC_RULES = yaml.safe_load((FIXTURE_RULES / "basic.yaml").read_text())["rules"]


@SETTINGS
@given(st.one_of(
    st.lists(st.sampled_from(range(len(BASIC_RULES))).flatmap(lambda i: _mutated(BASIC_RULES[i])), max_size=4)
    .map(lambda rules: _dump({"rules": rules}, "yaml")),
    files))
def test_any_rules_folder_gives_a_rulebook_or_one_error_line(text):
    from advisor.decision.rulebook import load_rulebook

    folder = _workdir() / "rules"
    folder.mkdir()
    (folder / "mine.yaml").write_text(text, encoding="utf-8")
    _check(lambda: load_rulebook(folder))


# -- costs --------------------------------------------------------------------------------------------------------
COSTS = yaml.safe_load((Path(__file__).resolve().parent.parent / "rules" / "costs.yaml").read_text())


@SETTINGS
@given(st.one_of(_mutated({k: COSTS[k] for k in ("horizon_months", "currency", "prices", "tokens", "monthly")})
                 .map(lambda d: _dump(d, "yaml")), files))
def test_any_cost_file_gives_assumptions_or_one_error_line(text):
    from advisor.costs.estimate import load_cost_assumptions

    path = _workdir() / "costs.yaml"
    path.write_text(text, encoding="utf-8")
    _check(lambda: load_cost_assumptions(path))


# -- data files ---------------------------------------------------------------------------------------------------
rows = st.lists(st.one_of(_mutated({"text": "a ticket", "label": "billing"}), values), max_size=8)


@pytest.mark.parametrize("row", ['{"text": "a ticket", "label": "billing", "": null}', "{}"])
def test_a_jsonl_row_with_an_empty_key_or_no_key_is_one_error_line_or_read(tmp_path, row):
    from advisor.probes.common.data import load_dataset

    path = tmp_path / "data.jsonl"
    path.write_text((row + "\n") * 3, encoding="utf-8")
    _check(lambda: load_dataset(path))


@SETTINGS
@given(rows, st.sampled_from([".jsonl", ".csv", ".txt"]), files)
def test_any_data_file_gives_a_dataset_or_one_error_line(items, suffix, raw):
    from advisor.probes.common.data import load_dataset

    path = _workdir() / f"data{suffix}"
    if suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r, default=str) for r in items) + "\n", encoding="utf-8")
    else:
        path.write_text(raw, encoding="utf-8")
    _check(lambda: load_dataset(path))


# -- corpus and QA files ------------------------------------------------------------------------------------------
@SETTINGS
@given(st.lists(st.one_of(_mutated({"id": "d1", "text": "Refunds take five days."}), values), max_size=6),
       st.lists(st.one_of(_mutated({"question": "How long?", "answers": ["five days"], "gold_doc_ids": ["d1"]}),
                          values), max_size=6),
       st.lists(st.text(max_size=80), max_size=3))
def test_any_corpus_and_qa_files_give_documents_or_one_error_line(docs, questions, texts):
    from advisor.probes.rag.corpus import load_corpus, load_questions

    work = _workdir()
    (work / "corpus.jsonl").write_text("\n".join(json.dumps(d, default=str) for d in docs) + "\n", encoding="utf-8")
    folder = work / "docs"
    folder.mkdir()
    for i, text in enumerate(texts):
        (folder / f"doc{i}.txt").write_text(text, encoding="utf-8")
    (work / "qa.jsonl").write_text("\n".join(json.dumps(q, default=str) for q in questions) + "\n", encoding="utf-8")
    for source in (work / "corpus.jsonl", folder):
        corpus = _check(lambda source=source: load_corpus(source))
        ids = corpus.ids if corpus is not None else set()
        _check(lambda ids=ids: load_questions(work / "qa.jsonl", ids))


# -- through the CLI: exit 0 or 2 with one Error: line, nothing stored changed -------------------------------------
@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A database holding one assessment, and a snapshot of its rows."""
    folder = tmp_path_factory.mktemp("prop-db")
    db, answers = folder / "a.duckdb", folder / "answers.yaml"
    answers.write_text(yaml.safe_dump(BASE_ANSWERS))
    result = CliRunner().invoke(cli, ["assess", "--no-input", "--answers", str(answers), "--probes", "none",
                                      "--db", str(db), "--out", str(folder / "r.md")])
    assert result.exit_code == 0, result.output
    return db


def _snapshot(db: Path) -> list:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                for t in ("assessments", "decisions", "recommendations", "probe_runs")]
    finally:
        con.close()


@CLI_SETTINGS
@given(answers=st.one_of(_mutated(BASE_ANSWERS).map(lambda d: _dump(d, "yaml")), files),
       costs=st.one_of(st.none(), files))
def test_through_the_cli_bad_files_are_one_error_line_and_change_nothing(stored, answers, costs):
    work = _workdir()
    (work / "answers.yaml").write_text(answers, encoding="utf-8")
    args = ["assess", "--no-input", "--answers", str(work / "answers.yaml"), "--probes", "none", "--db", str(stored),
            "--out", str(work / "r.md")]
    if costs is not None:
        (work / "costs.yaml").write_text(costs, encoding="utf-8")
        args += ["--costs", str(work / "costs.yaml")]
    before = _snapshot(stored)
    result = CliRunner().invoke(cli, args)
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output and "advisor bug" not in result.output, result.output
    if result.exit_code == 2:
        assert len(errors) == 1, result.output
        assert _snapshot(stored) == before  # refused input stores nothing
    else:
        assert not errors and len(_snapshot(stored)[0]) == len(before[0]) + 1
