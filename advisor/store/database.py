"""The DuckDB store: assessments, recommendations, probe runs, metrics, per-example results.

Schema changes are numbered migration functions, applied in order and recorded in
``schema_version``. SQL is always parameterized. See ``docs/schema.md``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from advisor.errors import StoreError
from advisor.store.caches import Caches
from advisor.store.rows import lock_wait, now as utc_now, rollback, then_release, to_json
from advisor.store.schema import MIGRATIONS


class Store(Caches):
    """An open advisor database. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: Path | str, read_only: bool = False):
        """Open (and create or upgrade) the database; ``read_only``: the file must exist and is never changed
        (a database from an older advisor is read through an upgraded temporary copy)."""

        self.path = Path(path)
        self.read_only = read_only
        self._copy: Path | None = None
        if read_only and not self.path.is_file():
            raise StoreError(f"{self.path}: no advisor database there; `advisor assess` creates one, or pass the "
                             "right file with --db or ADVISOR_DB.")
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder; pass a database file with --db or ADVISOR_DB.")
        self._con: Any = None
        if not read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{self.path}: cannot create its folder ({exc.strerror}); pass another --db.") from None
        try:
            self._check_is_advisor()
            if read_only:
                self._read_through_upgrade()
            else:
                self.migrate()
                self.mark_stale_runs()
            self.release()
        except BaseException as exc:
            self.close(quiet=True)
            raise self.failure(exc) from None

    # -- the connection: held only while reading or writing, so other advisor commands can read meanwhile --
    @property
    def con(self) -> Any:
        if self._con is None:
            self._con = self._connect()
        return self._con

    def _connect(self) -> Any:
        """Open the file, waiting up to ``ADVISOR_LOCK_WAIT`` seconds (default 30) while another process holds it."""
        import duckdb

        wait = lock_wait()
        path, read_only = (self._copy, False) if self._copy is not None else (self.path, self.read_only)
        deadline = time.monotonic() + wait
        while True:
            try:
                return duckdb.connect(str(path), read_only=read_only)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                    raise StoreError(explain_store_error(self.path, exc, "opening it")) from None
                time.sleep(0.1)
            except (duckdb.Error, OSError) as exc:
                raise StoreError(explain_store_error(self.path, exc, "opening it")) from None

    def release(self, quiet: bool = False) -> None:
        """Close the connection until the next operation (a long probe run does not hold the file); closing
        writes what is pending, so a full disk can fail here (``quiet``: ignored, when another error is shown)."""
        con, self._con = self._con, None
        if con is not None:
            try:
                con.close()
            except Exception as exc:
                if not quiet:
                    raise self.failure(exc) from None

    def failure(self, exc: BaseException, doing: str = "") -> BaseException:
        """A database failure as one :class:`StoreError` naming the file and the way out (other errors as they
        are)."""
        if isinstance(exc, StoreError) or not is_store_failure(exc):
            return exc
        return StoreError(explain_store_error(self.path, exc, doing))

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self.close(quiet=exc_type is not None)

    def close(self, quiet: bool = False) -> None:
        try:
            self.release(quiet)
        finally:
            self._remove_copy()

    def _remove_copy(self) -> None:
        if self._copy is not None:
            import shutil

            shutil.rmtree(self._copy.parent, ignore_errors=True)
            self._copy = None

    def _tables(self) -> set[str]:
        rows = self.con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")
        return {r[0] for r in rows.fetchall()}

    def _check_is_advisor(self) -> None:
        """A DuckDB file with tables but no ``schema_version`` belongs to something else: refuse it."""
        import duckdb

        try:
            tables = self._tables()
        except duckdb.Error as exc:
            raise StoreError(explain_store_error(self.path, exc, "reading it")) from None
        if tables and "schema_version" not in tables:
            names = ", ".join(sorted(tables)[:4])
            raise StoreError(f"{self.path}: a DuckDB file that is not an advisor database (tables: {names}); "
                             "advisor leaves it alone: pass another file with --db or ADVISOR_DB.")
        if self.read_only and not tables:
            raise StoreError(f"{self.path}: an empty database, not an advisor one; `advisor assess` fills it, or "
                             "pass the right file with --db.")

    def _read_through_upgrade(self) -> None:
        """Readers never change the file: an older schema is upgraded in a temporary copy."""
        import shutil
        import tempfile


        if self.schema_version() >= len(MIGRATIONS):
            return
        self.release()
        folder = Path(tempfile.mkdtemp(prefix="advisor-read-"))
        self._copy = folder / self.path.name
        shutil.copyfile(self.path, self._copy)
        wal = self.path.with_name(self.path.name + ".wal")
        if wal.exists():
            shutil.copyfile(wal, self._copy.with_name(self._copy.name + ".wal"))
        self.migrate()

    def mark_stale_runs(self) -> int:
        """Runs left ``running`` by a process of this machine that no longer exists are marked ``stale``."""
        import socket

        rows = self.con.execute("SELECT id, pid, host FROM probe_runs WHERE status = 'running'").fetchall()
        here = socket.gethostname()
        stale = [run_id for run_id, pid, host in rows if pid is None or (host == here and not _alive(pid))]
        for run_id in stale:
            self.con.execute(
                "UPDATE probe_runs SET status = 'stale', finished_at = ?, error = ? WHERE id = ?",
                [utc_now(), "left running by a process that ended without finishing it (killed?); re-run to measure",
                 run_id])
        return len(stale)

    # -- schema --------------------------------------------------------------------------
    def schema_version(self) -> int:
        if "schema_version" not in self._tables():
            if self.read_only and self._copy is None:
                return 0
            self.con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)")
        row = self.con.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def migrate(self) -> None:
        import duckdb

        try:
            current = self.schema_version()
            if current > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path}: database schema version {current} is newer than this advisor "
                    f"supports ({len(MIGRATIONS)}); upgrade advisor or use another --db."
                )
            for version, fn in enumerate(MIGRATIONS[current:], start=current + 1):
                self.con.execute("BEGIN TRANSACTION")
                fn(self.con)
                self.con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, utc_now()])
                self.con.execute("COMMIT")
        except duckdb.Error as exc:
            if _kind(exc) != "other":
                raise StoreError(explain_store_error(self.path, exc, "upgrading it")) from None
            raise StoreError(
                f"{self.path}: the database is not a valid advisor database ({_first_line(exc)}); "
                "move it aside or pass another file with --db."
            ) from None

    # -- assessments ---------------------------------------------------------------------
    @then_release
    def add_assessment(self, project_name: str, answers: dict, rulebook_hash: str, version: str, command: str,
                       created_at: datetime | None = None) -> int:
        now = utc_now() if created_at is None else created_at.astimezone(timezone.utc).replace(tzinfo=None)
        row = self.con.execute(
            "INSERT INTO assessments (project_name, created_at, updated_at, advisor_version, rulebook_hash,"
            " command, answers, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'answered') RETURNING id",
            [project_name, now, now, version, rulebook_hash, command, to_json(answers)],
        ).fetchone()
        return int(row[0])

    @then_release
    def save_recommendation(self, assessment_id: int, rec: dict) -> None:
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute("DELETE FROM recommendations WHERE assessment_id = ?", [assessment_id])
            self.con.execute("DELETE FROM decisions WHERE assessment_id = ?", [assessment_id])
            for s in rec["strategies"]:
                self.con.execute(
                    "INSERT INTO recommendations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [assessment_id, s["strategy"], s["rank"], s["score"], s["answer_score"],
                     s["evidence_score"], s["excluded"], s.get("exclusion_reason")],
                )
            self.con.execute(
                "INSERT INTO decisions VALUES (?, ?, ?, ?, ?)",
                [assessment_id, rec["winner"], rec["confidence"], rec["confidence_score"], to_json(rec)],
            )
            self.con.execute(
                "UPDATE assessments SET status = 'recommended', updated_at = ? WHERE id = ?", [utc_now(), assessment_id]
            )
            self.con.execute("COMMIT")
        except Exception:
            rollback(self.con)
            raise

    @then_release
    def assessments(self, limit: int = 50, project: str | None = None, since: datetime | None = None) -> list[dict]:
        """Newest first; ``project``: a case-insensitive part of the project name; ``since``: created on or after."""
        rows = self.con.execute(
            "SELECT a.id, a.project_name, a.created_at, a.status, d.winner, d.confidence"
            " FROM assessments a LEFT JOIN decisions d ON d.assessment_id = a.id"
            " WHERE (? IS NULL OR lower(a.project_name) LIKE '%' || lower(?) || '%')"
            " AND (? IS NULL OR a.created_at >= ?) ORDER BY a.id DESC LIMIT ?",
            [project, project, since, since, limit],
        ).fetchall()
        keys = ["id", "project_name", "created_at", "status", "winner", "confidence"]
        return [dict(zip(keys, r)) for r in rows]

    @then_release
    def assessment(self, assessment_id: int) -> dict | None:
        row = self.con.execute(
            "SELECT a.id, a.project_name, a.created_at, a.advisor_version, a.rulebook_hash, a.command,"
            " a.answers, a.status, d.recommendation FROM assessments a"
            " LEFT JOIN decisions d ON d.assessment_id = a.id WHERE a.id = ?",
            [assessment_id],
        ).fetchone()
        if row is None:
            return None
        keys = ["id", "project_name", "created_at", "advisor_version", "rulebook_hash", "command",
                "answers", "status", "recommendation"]
        data = dict(zip(keys, row))
        data["answers"] = json.loads(data["answers"])
        data["recommendation"] = json.loads(data["recommendation"]) if data["recommendation"] else None
        data["probe_runs"] = self.probe_runs(assessment_id)
        return data

    # -- probe runs ----------------------------------------------------------------------
    @then_release
    def start_probe_run(self, probe: str, fingerprint: str, config: dict, assessment_id: int | None) -> int:
        row = self.con.execute(
            "INSERT INTO probe_runs (assessment_id, probe, fingerprint, config, status, started_at, pid, host)"
            " VALUES (?, ?, ?, ?, 'running', ?, ?, ?) RETURNING id",
            [assessment_id, probe, fingerprint, to_json(config), utc_now(), os.getpid(), socket.gethostname()],
        ).fetchone()
        if assessment_id is not None:
            self._link(assessment_id, int(row[0]), reused=False)
        return int(row[0])

    @then_release
    def finish_probe_run(self, run_id: int, result: Any, status: str, error: str | None = None) -> None:
        """Record a run's outcome with all its metrics and per-example rows, in one transaction."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute("DELETE FROM metrics WHERE run_id = ?", [run_id])
            self.con.execute("DELETE FROM example_results WHERE run_id = ?", [run_id])
            if result is not None:
                if result.metrics:
                    self.con.executemany(
                        "INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [[run_id, m.name, m.value, m.ci_low, m.ci_high, m.n, to_json(m.params)] for m in result.metrics],
                    )
                if result.examples:
                    self.con.executemany(
                        "INSERT INTO example_results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [[run_id, e.example_id, to_json(e.params), e.prediction, e.gold, e.correct, e.score,
                          to_json(e.details)] for e in result.examples],
                    )
            payload = None if result is None else result.model_dump_json(exclude={"examples"})
            self.con.execute(
                "UPDATE probe_runs SET status = ?, finished_at = ?, error = ?, result = ? WHERE id = ?",
                [status, utc_now(), error, payload, run_id],
            )
            self.con.execute("COMMIT")
        except Exception:
            rollback(self.con)
            raise

    @then_release
    def attach_run(self, run_id: int, assessment_id: int) -> None:
        """Record that an assessment reused a stored run (the run keeps the assessment that made it)."""
        self._link(assessment_id, run_id, reused=True)

    def _link(self, assessment_id: int, run_id: int, reused: bool) -> None:
        self.con.execute(
            "INSERT OR IGNORE INTO assessment_runs SELECT ?, ?, coalesce(max(position), 0) + 1, ?"
            " FROM assessment_runs WHERE assessment_id = ?", [assessment_id, run_id, reused, assessment_id])

    @then_release
    def find_completed_run(self, probe: str, fingerprint: str) -> int | None:
        row = self.con.execute(
            "SELECT id FROM probe_runs WHERE probe = ? AND fingerprint = ? AND status = 'done'"
            " ORDER BY id DESC LIMIT 1",
            [probe, fingerprint],
        ).fetchone()
        return None if row is None else int(row[0])

    @then_release
    def load_probe_result(self, run_id: int) -> dict | None:
        """The stored result of a run, with its per-example rows, as a dict for ``ProbeResult``."""
        row = self.con.execute("SELECT result FROM probe_runs WHERE id = ?", [run_id]).fetchone()
        if row is None or row[0] is None:
            return None
        data = json.loads(row[0])
        rows = self.con.execute(
            "SELECT example_id, params, prediction, gold, correct, score, details FROM example_results"
            " WHERE run_id = ? ORDER BY rowid",
            [run_id],
        ).fetchall()
        data["examples"] = [
            {"example_id": r[0], "params": json.loads(r[1]), "prediction": r[2], "gold": r[3],
             "correct": r[4], "score": r[5], "details": json.loads(r[6])}
            for r in rows
        ]
        return data

    @then_release
    def probe_runs(self, assessment_id: int) -> list[dict]:
        rows = self.con.execute(
            "SELECT r.id, r.probe, r.status, r.started_at, r.finished_at, r.error, l.reused FROM probe_runs r"
            " JOIN assessment_runs l ON l.run_id = r.id WHERE l.assessment_id = ? ORDER BY l.position",
            [assessment_id],
        ).fetchall()
        keys = ["id", "probe", "status", "started_at", "finished_at", "error", "reused"]
        return [dict(zip(keys, r)) for r in rows]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def is_store_failure(exc: BaseException) -> bool:
    """An error of the database file itself (DuckDB's, or the operating system's), not a bug in advisor."""
    return isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in ("duckdb", "_duckdb")


def _kind(exc: BaseException) -> str:
    text = str(exc).lower()
    if getattr(exc, "errno", None) == 28 or "no space left" in text or "disk is full" in text:
        return "full"
    if getattr(exc, "errno", None) in (13, 30) or "read-only" in text or "permission denied" in text:
        return "read-only"
    if "lock" in text:
        return "locked"
    if "not a valid duckdb" in text:
        return "foreign"
    if "cannot open file" in text:
        return "cannot-create"
    if any(word in text for word in ("could not read enough bytes", "corrupt", "checksum",
                                     "invalid", "truncated", "serializ", "deserializ", "unexpected end")):
        return "damaged"
    return "other"


def explain_store_error(path: Path, exc: BaseException, doing: str = "") -> str:
    """One line for a database failure: which file, what went wrong, and the way out."""
    kind, detail = _kind(exc), _first_line(exc)[:200]
    while_ = f" while {doing}" if doing else ""
    if kind == "full":
        return (f"{path}: the disk is full{while_} (No space left on device); free some space or pass a database "
                "on another disk with --db. Nothing stored before was lost.")
    if kind == "read-only":
        return (f"{path}: cannot write the database{while_}: the file or its folder is read-only ({detail}); make "
                "it writable or pass another file with --db or ADVISOR_DB.")
    if kind == "locked":
        return (f"{path}: the database is locked by another program (another advisor run, or a DuckDB session?); "
                "wait for it to finish or close it, or pass another file with --db.")
    if kind == "foreign":
        return (f"{path}: not a DuckDB database ({detail}); advisor leaves it untouched: pass another file with "
                "--db or ADVISOR_DB.")
    if kind == "cannot-create":
        return (f"{path}: cannot create or open the database there ({detail}); pass a writable path with --db or "
                "ADVISOR_DB.")
    if kind == "damaged":
        return (f"{path}: the database is damaged (truncated or corrupt: {detail}); advisor leaves it untouched: "
                "restore a copy or move it aside, or pass another file with --db or ADVISOR_DB.")
    return (f"{path}: the database failed{while_} ({detail}); it may be corrupt or not a DuckDB file. Move it "
            "aside or pass another file with --db or ADVISOR_DB.")
