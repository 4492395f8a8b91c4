"""The database schema as numbered migrations, applied in order and recorded in ``schema_version``
(``docs/schema.md`` describes the tables)."""

from __future__ import annotations

from typing import Any, Callable

MIGRATIONS: list[Callable[[Any], None]] = []


def migration(fn: Callable[[Any], None]) -> Callable[[Any], None]:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_initial(con: Any) -> None:
    con.execute("CREATE SEQUENCE IF NOT EXISTS assessment_ids START 1")
    con.execute("CREATE SEQUENCE IF NOT EXISTS probe_run_ids START 1")
    con.execute(
        """
        CREATE TABLE assessments (
            id INTEGER PRIMARY KEY DEFAULT nextval('assessment_ids'),
            project_name VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            advisor_version VARCHAR NOT NULL,
            rulebook_hash VARCHAR NOT NULL,
            command VARCHAR NOT NULL,
            answers JSON NOT NULL,
            status VARCHAR NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE recommendations (
            assessment_id INTEGER NOT NULL,
            strategy VARCHAR NOT NULL,
            rank INTEGER,
            score DOUBLE NOT NULL,
            answer_score DOUBLE NOT NULL,
            evidence_score DOUBLE NOT NULL,
            excluded BOOLEAN NOT NULL,
            exclusion_reason VARCHAR,
            PRIMARY KEY (assessment_id, strategy)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE decisions (
            assessment_id INTEGER PRIMARY KEY,
            winner VARCHAR NOT NULL,
            confidence VARCHAR NOT NULL,
            confidence_score DOUBLE NOT NULL,
            recommendation JSON NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE probe_runs (
            id INTEGER PRIMARY KEY DEFAULT nextval('probe_run_ids'),
            assessment_id INTEGER,
            probe VARCHAR NOT NULL,
            fingerprint VARCHAR NOT NULL,
            config JSON NOT NULL,
            status VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            error VARCHAR,
            result JSON
        )
        """
    )
    con.execute(
        """
        CREATE TABLE metrics (
            run_id INTEGER NOT NULL,
            name VARCHAR NOT NULL,
            value DOUBLE NOT NULL,
            ci_low DOUBLE,
            ci_high DOUBLE,
            n INTEGER,
            params JSON NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE example_results (
            run_id INTEGER NOT NULL,
            example_id VARCHAR NOT NULL,
            params JSON NOT NULL,
            prediction VARCHAR,
            gold VARCHAR,
            correct BOOLEAN,
            score DOUBLE,
            details JSON NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE embedding_cache (
            embedder VARCHAR NOT NULL,
            text_hash VARCHAR NOT NULL,
            vector FLOAT[] NOT NULL,
            PRIMARY KEY (embedder, text_hash)
        )
        """
    )


@migration
def m002_assessment_runs(con: Any) -> None:
    """Which probe runs an assessment used (a reused run belongs to several assessments)."""
    con.execute(
        """
        CREATE TABLE assessment_runs (
            assessment_id INTEGER NOT NULL,
            run_id INTEGER NOT NULL,
            position INTEGER NOT NULL,
            reused BOOLEAN NOT NULL,
            PRIMARY KEY (assessment_id, run_id)
        )
        """
    )
    con.execute(
        "INSERT INTO assessment_runs SELECT assessment_id, id, row_number() OVER (PARTITION BY assessment_id"
        " ORDER BY id), false FROM probe_runs WHERE assessment_id IS NOT NULL"
    )


@migration
def m003_response_cache(con: Any) -> None:
    """Responses of a target model's endpoint, so that no request is paid for twice."""
    con.execute(
        """
        CREATE TABLE response_cache (
            key VARCHAR PRIMARY KEY,
            endpoint VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            request JSON NOT NULL,
            response JSON NOT NULL,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            latency DOUBLE,
            created_at TIMESTAMP NOT NULL
        )
        """
    )


@migration
def m004_run_owner(con: Any) -> None:
    """Which process runs a probe, so a run left ``running`` by a killed process is recognised as stale."""
    con.execute("ALTER TABLE probe_runs ADD COLUMN pid INTEGER")
    con.execute("ALTER TABLE probe_runs ADD COLUMN host VARCHAR")
