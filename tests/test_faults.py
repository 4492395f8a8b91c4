"""Storage faults, for real: a truncated copy of a real database, random bytes, a DuckDB file of another program,
a folder or an impossible path in place of the file, a read-only file system, a database locked by another
process, a full disk (a small tmpfs when this machine lets the tests mount one, else ENOSPC injected at the
connection's execute layer). Each is one ``Error:`` line naming the file and the way out, exit code 2, no
traceback, nothing stored lost; when the decision was made, the report is still written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from tests.helpers import EXAMPLE

ANSWERS = EXAMPLE / "answers.yaml"


def _invoke(*args) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output


def _assess(db: Path, out: Path) -> tuple[int, str]:
    return _invoke("assess", "--no-input", "--answers", ANSWERS, "--probes", "none", "--db", db, "--out", out)


def _one_error(code: int, output: str, *expected: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert code == 2, output
    assert len(errors) == 1, output
    assert "Traceback" not in output and "advisor bug" not in output, output
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def real_db(tmp_path_factory) -> Path:
    """A real advisor database holding two assessments."""
    db = tmp_path_factory.mktemp("real") / "real.duckdb"
    for _ in range(2):
        code, output = _assess(db, db.parent / "r.md")
        assert code == 0, output
    return db


def _rows(db: Path) -> list:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT a.id, a.status, d.winner FROM assessments a LEFT JOIN decisions d"
                           " ON d.assessment_id = a.id ORDER BY a.id").fetchall()
    finally:
        con.close()


# -- files that are not (whole) advisor databases: refused, never changed -----------------------------------------
def _damaged(real_db: Path, tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.duckdb"
    if kind == "truncated":
        data = real_db.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif kind == "random":
        path.write_bytes(os.urandom(200_000))
    else:  # another program's DuckDB file
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE orders (id INTEGER, total DOUBLE)")
        con.close()
    return path


@pytest.mark.parametrize("kind, expected", [
    ("truncated", "the database is damaged (truncated or corrupt"),
    ("random", "not a DuckDB database"),
    ("foreign", "a DuckDB file that is not an advisor database (tables: orders)"),
])
def test_a_damaged_or_foreign_file_is_one_error_line_and_left_untouched(real_db, tmp_path, kind, expected):
    path = _damaged(real_db, tmp_path, kind)
    before = path.read_bytes()
    for args in (["history"], ["show", "1"], ["report", "1", "--out", tmp_path / "x.md"]):
        _one_error(*_invoke(*args, "--db", path), str(path), expected, "--db")
    _one_error(*_assess(path, tmp_path / "r.md"), str(path), expected, "--db")
    assert path.read_bytes() == before and not (tmp_path / "r.md").exists()


def test_a_folder_or_an_impossible_path_in_place_of_the_file(tmp_path, monkeypatch):
    folder = tmp_path / "db-folder"
    folder.mkdir()
    _one_error(*_assess(folder, tmp_path / "r.md"), str(folder), "is a directory", "--db")
    monkeypatch.setenv("ADVISOR_DB", str(folder))
    _one_error(*_invoke("assess", "--no-input", "--answers", ANSWERS, "--probes", "none", "--out", tmp_path / "r.md"),
               str(folder), "is a folder", "--db")
    impossible = Path("/proc/advisor-test.duckdb")
    _one_error(*_assess(impossible, tmp_path / "r.md"), str(impossible), "--db")
    _one_error(*_invoke("history", "--db", impossible), str(impossible), "no advisor database there")


def test_a_database_locked_by_another_program(real_db, tmp_path, monkeypatch):
    db = tmp_path / "locked.duckdb"
    shutil.copyfile(real_db, db)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('holding', flush=True); "
         "sys.stdin.read()", str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"  # waits on what the holder prints, not on time
        monkeypatch.setenv("ADVISOR_LOCK_WAIT", "0.5")
        line = _one_error(*_assess(db, tmp_path / "r.md"), str(db), "locked by another program", "--db")
        assert "wait for it to finish" in line
        _one_error(*_invoke("history", "--db", db), "locked by another program")
    finally:
        holder.communicate("", timeout=60)
    assert [r[0] for r in _rows(db)] == [1, 2]  # nothing lost


# -- a real read-only file system and a real full disk (tmpfs), when this machine lets the tests mount ----------
@pytest.fixture
def small_disk(tmp_path):
    """A 8 MB tmpfs mounted at a fresh folder (root only); skipped where mounting is not allowed."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8M", "tmpfs", str(where)], capture_output=True,
                          timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(where)], capture_output=True, timeout=30)
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def _fill(where: Path, leave_kb: int) -> None:
    """Fill the file system, then free ``leave_kb`` KB."""
    filler = where / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    os.truncate(filler, max(0, filler.stat().st_size - leave_kb * 1024))


def test_a_read_only_file_system(real_db, small_disk, tmp_path):
    db = small_disk / "ro.duckdb"
    shutil.copyfile(real_db, db)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True, timeout=30)
    line = _one_error(*_assess(db, tmp_path / "r.md"), str(db), "read-only", "--db")
    assert "make it writable" in line
    code, output = _invoke("history", "--db", db)  # readers need no write access
    assert code == 0 and "Tessera" in output, output
    _one_error(*_assess(small_disk / "new.duckdb", tmp_path / "r.md"), "new.duckdb", "read-only")


def test_a_full_disk_after_the_decision_still_writes_the_report(real_db, small_disk, tmp_path):
    db = small_disk / "full.duckdb"
    shutil.copyfile(real_db, db)
    _fill(small_disk, leave_kb=16)  # room to record the assessment, not its recommendation
    out = tmp_path / "r.md"
    code, output = _assess(db, out)
    line = _one_error(code, output, str(db), "the disk is full", "No space left on device",
                      "was not stored", f"written to {out}")
    assert "free some space" in line and out.exists() and "Tessera" in out.read_text()
    assert "Assessment not stored" in output
    (small_disk / "filler").unlink()
    rows = _rows(db)
    assert rows[:2] == _rows(real_db) and all(r[2] is None for r in rows[2:])  # nothing stored before was lost


def test_a_full_disk_before_anything_is_decided(real_db, small_disk, tmp_path):
    db = small_disk / "full.duckdb"
    shutil.copyfile(real_db, db)
    _fill(small_disk, leave_kb=0)
    _one_error(*_assess(db, tmp_path / "r.md"), str(db), "the disk is full", "--db")
    (small_disk / "filler").unlink()
    assert _rows(db) == _rows(real_db)


# -- a full disk injected at the connection (runs everywhere) ------------------------------------------------------
class _FullDisk:
    """A DuckDB connection whose writes to ``table`` fail as a full disk does."""

    def __init__(self, con, table: str):
        self._con, self._table = con, table

    def execute(self, sql: str, *args):
        if f"INTO {self._table}" in sql:
            raise duckdb.IOException('IO Error: Could not write file "advisor.duckdb.wal": No space left on device')
        return self._con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


@pytest.mark.parametrize("table", ["decisions", "assessments"])
def test_an_injected_full_disk_is_one_line_and_keeps_what_was_stored(real_db, tmp_path, monkeypatch, table):
    from advisor.store.database import Store

    db = tmp_path / "a.duckdb"
    shutil.copyfile(real_db, db)
    connect = Store._connect
    monkeypatch.setattr(Store, "_connect", lambda self: _FullDisk(connect(self), table))
    out = tmp_path / "r.md"
    code, output = _assess(db, out)
    _one_error(code, output, str(db), "the disk is full", "--db")
    if table == "decisions":  # decided: the report is written, and the line says the run was not stored
        assert out.exists() and "was not stored" in output
    else:  # nothing decided yet
        assert not out.exists()
    monkeypatch.undo()
    assert _rows(db)[:2] == _rows(real_db)
