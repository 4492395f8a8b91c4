"""Every bad input of the README's "Errors" promise: one `Error:` line naming the file, field or option and
what to do, exit code 2, no traceback, and every stored row as it was. Plus the kill test: SIGTERM and
SIGKILL in the middle of a probe, then a re-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import yaml
from click.testing import CliRunner

from advisor.cli import cli
from tests.helpers import BASE_ANSWERS, EXAMPLE

BOMB = "\n".join(
    [f'{n}: &{n} [{", ".join(["*" + p] * 9) if p else ", ".join(["x"] * 9)}]'
     for n, p in zip("abcdefgh", ["", "a", "b", "c", "d", "e", "f", "g"])]) + "\nrules: [*h]\n"


def _answers(tmp, **over):
    path = tmp / "answers.yaml"
    path.write_text(yaml.safe_dump({**BASE_ANSWERS, **over}))
    return path


def _write(tmp, name, text, mode="w"):
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def _rules(tmp, text):
    folder = tmp / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "r.yaml").write_text(text)
    return folder


def _truncated_weights(tmp, model):
    folder = tmp / "model"
    folder.mkdir()
    for f in Path(model).iterdir():
        data = f.read_bytes()
        (folder / f.name).write_bytes(data[:5000] if f.suffix == ".safetensors" else data)
    return folder


def _unknown_arch(tmp, model):
    folder = tmp / "model"
    folder.mkdir()
    for f in Path(model).iterdir():
        if f.name != "config.json":
            (folder / f.name).write_bytes(f.read_bytes())
    (folder / "config.json").write_text('{"model_type": "no_such_architecture"}')
    return folder


def _short_context(tmp):
    from tiny import save_tiny_lm

    return save_tiny_lm(tmp / "short", seed=0, chat=False, max_position_embeddings=48)


ASSESS = ["assess", "--no-input"]

# (id, setup(tmp, model) -> args, expected exit code, substrings of the single Error line)
CASES = [
    ("budget-word", lambda t, m: ASSESS + ["--answers", _answers(t), "--budget", "abc"], 2,
     ["--budget", "'abc' is not a duration"]),
    ("budget-negative", lambda t, m: ASSESS + ["--answers", _answers(t), "--budget=-5m"], 2,
     ["--budget", "positive, finite duration"]),
    ("budget-zero", lambda t, m: ASSESS + ["--answers", _answers(t), "--budget", "0s"], 2, ["--budget", "positive"]),
    ("budget-nan", lambda t, m: ASSESS + ["--answers", _answers(t), "--budget", "nan"], 2, ["--budget", "finite"]),
    ("budget-inf", lambda t, m: ASSESS + ["--answers", _answers(t), "--budget", "inf"], 2, ["--budget", "finite"]),
    ("eval-size-small", lambda t, m: ASSESS + ["--answers", _answers(t), "--eval-size", "5"], 2,
     ["--eval-size", "5 is not in the range"]),
    ("db-is-folder", lambda t, m: ASSESS + ["--answers", _answers(t), "--db", t], 2, ["--db", "is a directory"]),
    ("out-is-folder", lambda t, m: ASSESS + ["--answers", _answers(t), "--out", t], 2, ["--out", "is a directory"]),
    ("unknown-option", lambda t, m: ASSESS + ["--answers", _answers(t), "--budgt", "3m"], 2,
     ["No such option '--budgt'"]),
    ("answers-missing", lambda t, m: ASSESS + ["--answers", t / "nope.yaml"], 2, ["nope.yaml: no such file", "advisor questions --template"]),
    ("answers-bool-count", lambda t, m: ASSESS + ["--answers", _answers(t, labeled_examples=True)], 2,
     ["answers.yaml", "labeled_examples: true is not a number"]),
    ("answers-infinite", lambda t, m: ASSESS + ["--answers", _write(t, "a.yaml", yaml.safe_dump(BASE_ANSWERS)
                                                                   + "budget_one_off: .inf\n")], 2,
     ["a.yaml", "budget_one_off", "finite"]),
    ("answers-alias-bomb", lambda t, m: ASSESS + ["--answers", _write(t, "a.yaml", BOMB)], 2,
     ["a.yaml:2", "aliases"]),
    ("costs-nan", lambda t, m: ASSESS + ["--answers", _answers(t), "--costs",
                                         _write(t, "c.yaml", "prices: {embedding_per_1m: .nan}\n")], 2,
     ["c.yaml", "embedding_per_1m", "finite"]),
    ("rules-empty", lambda t, m: ["rules", "check", _rules(t, "rules: []\n")], 2, ["rules", "holds no rules"]),
    ("rules-alias-bomb", lambda t, m: ["rules", "check", _rules(t, BOMB)], 2, ["r.yaml:2", "aliases"]),
    ("assess-rules-empty", lambda t, m: ASSESS + ["--answers", _answers(t), "--rules", _rules(t, "rules: []\n")], 2,
     ["holds no rules"]),
    ("templates-missing", lambda t, m: ASSESS + ["--answers", _answers(t), "--templates", t / "nope"], 2,
     ["--templates", "no such folder"]),
    ("report-template-ssti", lambda t, m: ["report", "1", "--out", t / "r.md", "--templates",
                                           _write(t, "tpl/report.md.j2", "{{ cycler.__init__.__globals__.os"
                                                  ".system('touch " + str(t / "pwned") + "') }}\n").parent], 2,
     ["report.md.j2:1", "refused unsafe template code"]),
    ("prompt-template-ssti", lambda t, m: ["probe", "few-shot", "--data", EXAMPLE / "tickets.jsonl", "--model", m,
                                           "--template", _write(t, "p.yaml", 'instruction: "{{ cycler.__init__'
                                                                ".__globals__.os.system('touch " + str(t / "pwned")
                                                                + "') }}\"\n")], 2,
     ["--template", "p.yaml", "refused unsafe template code"]),
    ("prompt-template-missing", lambda t, m: ["probe", "few-shot", "--data", EXAMPLE / "tickets.jsonl", "--model", m,
                                              "--template", t / "nope.yaml"], 2, ["--template", "nope.yaml"]),
    ("prompt-template-latin1", lambda t, m: ["probe", "few-shot", "--data", EXAMPLE / "tickets.jsonl", "--model", m,
                                             "--template", _write(t, "p.yaml", 'instruction: "caf\xe9"\n'.encode(
                                                 "latin-1"), "wb")], 2, ["p.yaml", "not UTF-8"]),
    ("data-json-arrays", lambda t, m: ["probe", "few-shot", "--model", m, "--data",
                                       _write(t, "d.jsonl", "[1, 2]\n[3, 4]\n")], 2, ["d.jsonl:1", "an array"]),
    ("data-long-line", lambda t, m: ["probe", "few-shot", "--model", m, "--data", _write(
        t, "d.jsonl", json.dumps({"text": "x" * 600_000, "label": "a"}) + "\n")], 2,
     ["d.jsonl:1", "at most 100,000 characters"]),
    ("assess-data-missing", lambda t, m: ASSESS + ["--answers", _answers(t), "--data", t / "missing.jsonl",
                                                   "--model", m], 2, ["--data", "missing.jsonl", "no such file"]),
    ("assess-data-unusable", lambda t, m: ASSESS + ["--answers", _answers(t), "--model", m, "--data",
                                                    _write(t, "d.jsonl", '{"text": "a", "label": "x"}\n' * 20)], 2,
     ["d.jsonl", "single class"]),
    ("assess-corpus-missing", lambda t, m: ASSESS + ["--answers", _answers(t), "--corpus", t / "nodocs"], 2,
     ["--corpus", "nodocs", "no such file or folder"]),
    ("out-under-a-file", lambda t, m: ASSESS + ["--answers", _answers(t), "--out",
                                                _write(t, "f.txt", "x") / "r.md"], 2, ["--out", "is a file, not a folder"]),
    ("report-unwritable", lambda t, m: ["report", "1", "--out", "/proc/advisor-nope/r.md"], 2,
     ["--out /proc/advisor-nope/r.md", "cannot write the report"]),
    ("report-missing-id", lambda t, m: ["report", "42"], 2, ["assessment 42 not found"]),
    ("compare-missing-id", lambda t, m: ["compare", "1", "42"], 2, ["assessment 42 not found"]),
    ("show-missing-id", lambda t, m: ["show", "42"], 2, ["assessment 42 not found"]),
    ("model-unknown-arch", lambda t, m: ["probe", "domain", "--text", EXAMPLE / "domain.txt", "--model",
                                         _unknown_arch(t, m)], 2, ["--model", "cannot load this checkpoint"]),
    ("model-truncated-weights", lambda t, m: ["probe", "domain", "--text", EXAMPLE / "domain.txt", "--model",
                                              _truncated_weights(t, m)], 2, ["--model", "unreadable"]),
    ("model-context-too-short", lambda t, m: ["probe", "few-shot", "--data", EXAMPLE / "tickets.jsonl", "-k", "8",
                                              "--seeds", "1", "--model", _short_context(t)], 2,
     ["--data", "the k=8 prompt for example", "tokens, more than", "reads (48)", "smaller -k"]),
    ("lora-few-shot-run-missing", lambda t, m: ["probe", "lora", "--data", EXAMPLE / "tickets.jsonl", "--model", m,
                                                "--sizes", "8", "--few-shot-run", "42"], 2,
     ["--few-shot-run 42", "no stored few-shot run", "advisor history"]),
    ("target-url-alone", lambda t, m: ["probe", "few-shot", "--data", EXAMPLE / "tickets.jsonl", "--target-url",
                                       "http://127.0.0.1:9/v1"], 2, ["--target-url needs --target"]),
]


@pytest.fixture
def populated(db_path, tmp_path):
    """A database holding one decided assessment (answers only, no model)."""
    result = CliRunner().invoke(cli, ["assess", "--no-input", "--answers", str(EXAMPLE / "answers.yaml"),
                                      "--out", str(tmp_path / "first.md")])
    assert result.exit_code == 0, result.output
    return db_path


def rows(db_path: Path) -> dict[str, list]:
    con = duckdb.connect(str(db_path), read_only=True)
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    out = {t: sorted(map(str, con.execute(f"SELECT * FROM {t}").fetchall())) for t in tables}
    con.close()
    return out


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_line_and_changes_nothing(case, populated, tmp_path, tiny_lm_path):
    _, setup, code, needles = case
    work = tmp_path / "case"
    work.mkdir()
    args = [str(a) for a in setup(work, tiny_lm_path)]
    before = rows(populated)
    result = CliRunner().invoke(cli, args)
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert result.exit_code == code, result.output
    assert len(errors) == 1, result.output
    assert all(n in errors[0] for n in needles), errors[0]
    assert "Traceback" not in result.output and not isinstance(result.exception, (KeyError, TypeError, ValueError))
    after = rows(populated)
    if case[0].startswith(("model-", "lora-few-shot-run")):  # found inside the run: recorded as a failed run
        new = [r for r in after["probe_runs"] if r not in before["probe_runs"]]
        assert len(new) == 1 and "'failed'" in new[0]
        after["probe_runs"] = before["probe_runs"]
    assert after == before  # nothing stored was lost or altered
    assert not (work / "pwned").exists()  # no template ran code


def test_reading_commands_never_create_or_alter_a_database(tmp_path):
    missing = tmp_path / "typo.duckdb"
    for args in (["history"], ["show", "1"], ["report", "1"], ["compare", "1", "2"]):
        result = CliRunner().invoke(cli, [*args, "--db", str(missing)])
        assert result.exit_code == 2 and "no advisor database there" in result.output
        assert not missing.exists()


def test_a_database_of_something_else_is_refused_untouched(tmp_path):
    other = tmp_path / "sales.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE sales (region VARCHAR, amount DOUBLE)")
    con.execute("INSERT INTO sales VALUES ('north', 12.5)")
    con.close()
    for args in (["assess", "--no-input", "--answers", str(EXAMPLE / "answers.yaml")], ["history"]):
        result = CliRunner().invoke(cli, [*args, "--db", str(other), "--out", str(tmp_path / "r.md")]
                                    if args[0] == "assess" else [*args, "--db", str(other)])
        assert result.exit_code == 2 and "not an advisor database (tables: sales)" in result.output
    con = duckdb.connect(str(other), read_only=True)
    assert [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()] == ["sales"]
    con.close()


def test_a_truncated_database_is_refused(populated, tmp_path):
    broken = tmp_path / "broken.duckdb"
    broken.write_bytes(populated.read_bytes()[:3000])
    for args in (["history"], ["assess", "--no-input", "--answers", str(EXAMPLE / "answers.yaml"),
                               "--out", str(tmp_path / "r.md")]):
        result = CliRunner().invoke(cli, [*args, "--db", str(broken)])
        assert result.exit_code == 2 and result.output.startswith(f"Error: {broken}: the database is damaged")
    assert broken.stat().st_size == 3000


def test_an_older_database_is_read_through_an_upgraded_copy(populated, tmp_path):
    con = duckdb.connect(str(populated))
    con.execute("DELETE FROM schema_version WHERE version = (SELECT max(version) FROM schema_version)")
    con.execute("ALTER TABLE probe_runs DROP COLUMN pid")
    con.execute("ALTER TABLE probe_runs DROP COLUMN host")
    con.close()
    before = populated.read_bytes()
    result = CliRunner().invoke(cli, ["report", "1", "--out", str(tmp_path / "again.md")])
    assert result.exit_code == 0, result.output
    assert populated.read_bytes() == before  # the reader did not upgrade the file


# -- interrupted runs ----------------------------------------------------------------------------
def _start_probe(tmp_path, db, model):
    env = {**os.environ, "ADVISOR_DB": str(db), "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "advisor", "probe", "lora", "--data", str(EXAMPLE / "tickets.jsonl"),
            "--model", str(model), "--sizes", "8,16,32,64,128", "--eval-size", "20", "--epochs", "30"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)


class _Stderr:
    """A process's standard error, read line by line by a thread: waits end at their timeout even when the
    process prints nothing, and no line is lost between waiting for one and reading the rest."""

    def __init__(self, proc):
        import queue
        import threading

        self.proc, self.lines, self.seen = proc, queue.Queue(), ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in iter(self.proc.stderr.readline, ""):
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, needle: str, timeout: float = 600) -> None:
        """Until ``needle`` is printed; the timeout is generous: a saturated machine takes minutes to load, score
        and train what an idle one does in seconds."""
        import queue

        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen += line
            if needle in line:
                return
        self.proc.kill()
        pytest.fail(f"never saw {needle!r} within {timeout:g} s: {self.seen}")

    def rest(self, timeout: float = 300) -> str:
        """Everything printed from now until the process ends."""
        self.proc.wait(timeout=timeout)
        out = ""
        while (line := self.lines.get(timeout=30)) is not None:
            out += line
        return out


def test_sigterm_stores_what_finished_and_marks_the_run_interrupted(tmp_path, tiny_lm_path):
    db = tmp_path / "advisor.duckdb"
    proc = _start_probe(tmp_path, db, tiny_lm_path)
    stderr = _Stderr(proc)
    stderr.wait_for("training on 16 examples")  # the baseline and the first size are done
    proc.send_signal(signal.SIGTERM)
    err = stderr.rest()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("Interrupted: finished work is stored")
    con = duckdb.connect(str(db), read_only=True)
    status, error, result = con.execute("SELECT status, error, result FROM probe_runs").fetchone()
    con.close()
    assert status == "interrupted" and "SIGTERM" in error
    points = json.loads(result)["summary"]["points"]
    assert [p["examples"] for p in points] == [8]  # the finished size is kept


def test_sigkill_leaves_a_stale_run_that_the_next_start_recognises(tmp_path, tiny_lm_path):
    db = tmp_path / "advisor.duckdb"
    proc = _start_probe(tmp_path, db, tiny_lm_path)
    _Stderr(proc).wait_for("training on 8 examples")
    proc.kill()
    proc.wait(timeout=30)
    env = {**os.environ, "ADVISOR_DB": str(db)}
    again = subprocess.run([sys.executable, "-m", "advisor", "probe", "domain", "--text", str(EXAMPLE / "domain.txt"),
                            "--model", str(tiny_lm_path), "--max-tokens", "64"], capture_output=True, text=True,
                           env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    con = duckdb.connect(str(db), read_only=True)
    runs = con.execute("SELECT probe, status, error FROM probe_runs ORDER BY id").fetchall()
    con.close()
    assert runs[0][:2] == ("lora", "stale") and "killed?" in runs[0][2]
    assert runs[1][:2] == ("domain", "done")


def test_a_broken_pdf_is_a_skipped_file_without_the_libraries_noise(tmp_path, capfd, caplog):
    from advisor.probes.rag.corpus import load_corpus

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Invoices are sent on the first day of the month.")
    (docs / "b.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer")
    corpus = load_corpus(docs)
    assert [d.id for d in corpus.documents] == ["a.txt"] and "unreadable PDF" in corpus.skipped["b.pdf"]
    _, err = capfd.readouterr()
    assert "EOF marker" not in err and not [r for r in caplog.records if r.name.startswith("pypdf")]
