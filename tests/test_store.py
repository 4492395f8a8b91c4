"""The DuckDB store: migrations, stored rows, locking, read-only opening, stale runs."""

import duckdb
import pytest

from advisor.errors import StoreError
from advisor.probes.common.base import ExampleResult, Metric, ProbeResult
from advisor.store.database import Store
from advisor.store.schema import MIGRATIONS


def sample_result():
    return ProbeResult(
        probe="few-shot",
        metrics=[Metric(name="accuracy", value=0.7, ci_low=0.6, ci_high=0.8, n=100, params={"k": 4})],
        examples=[ExampleResult(example_id="e1", params={"k": 4}, prediction="a", gold="b", correct=False,
                                score=-1.5, details={"scores": [-1.5, -2.0]})],
        evidence={"best_accuracy": 0.7},
    )


def test_migrations_recorded_once(tmp_path):
    path = tmp_path / "a.duckdb"
    with Store(path) as store:
        assert store.schema_version() == len(MIGRATIONS)
    with Store(path) as store:  # reopening applies nothing twice
        rows = store.con.execute("SELECT count(*) FROM schema_version").fetchone()[0]
        assert rows == len(MIGRATIONS)


def test_assessment_round_trip(tmp_path):
    path = tmp_path / "a.duckdb"
    with Store(path) as store:
        aid = store.add_assessment("P", {"x": 1}, "hash", "0.1", "advisor assess")
        rec = {"winner": "rag", "confidence": "low", "confidence_score": 0.2, "strategies": [
            {"strategy": "rag", "rank": 1, "score": 3, "answer_score": 3, "evidence_score": 0, "excluded": False}]}
        store.save_recommendation(aid, rec)
    with Store(path) as store:  # a real file, reopened
        data = store.assessment(aid)
        assert data["answers"] == {"x": 1} and data["recommendation"]["winner"] == "rag"
        assert store.assessments()[0]["winner"] == "rag"
        row = store.con.execute("SELECT strategy, score FROM recommendations WHERE assessment_id = ?", [aid]).fetchall()
        assert row == [("rag", 3.0)]


def test_probe_run_metrics_examples_and_reuse(tmp_path):
    with Store(tmp_path / "a.duckdb") as store:
        run = store.start_probe_run("few-shot", "fp1", {"k": [4]}, None)
        assert store.find_completed_run("few-shot", "fp1") is None  # still running
        store.finish_probe_run(run, sample_result(), "done")
        assert store.find_completed_run("few-shot", "fp1") == run
        assert store.find_completed_run("few-shot", "fp2") is None
        metric = store.con.execute("SELECT name, value, ci_low, ci_high, n, params FROM metrics").fetchone()
        assert metric[:5] == ("accuracy", 0.7, 0.6, 0.8, 100) and '"k": 4' in metric[5]
        loaded = ProbeResult.model_validate(store.load_probe_result(run))
        assert loaded.examples[0].details == {"scores": [-1.5, -2.0]} and loaded.evidence == {"best_accuracy": 0.7}


def test_embedding_cache(tmp_path):
    with Store(tmp_path / "a.duckdb") as store:
        store.cache_embeddings("m", [("h1", [0.5, 0.25]), ("h2", [1.0, 0.0])])
        got = store.cached_embeddings("m", ["h1", "h3"])
        assert list(got) == ["h1"] and list(got["h1"]) == pytest.approx([0.5, 0.25])
        assert store.cached_embeddings("other", ["h1"]) == {}


def test_corrupt_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="bad.duckdb: .*--db"):
        Store(bad)
    assert bad.read_bytes().startswith(b"this is not")  # nothing overwritten


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "a.duckdb"
    with Store(path):
        pass
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_version VALUES (99, now())")
    con.close()
    with pytest.raises(StoreError, match="newer than this advisor supports"):
        Store(path)


def test_the_file_is_held_only_while_reading_or_writing(tmp_path):
    """`advisor history` in another process works while an assessment (a live Store) is in progress."""
    import os
    import subprocess
    import sys

    db = tmp_path / "live.duckdb"
    with Store(db) as store:
        first = store.add_assessment("Live project", {"a": 1}, "h", "v", "advisor assess")
        run_id = store.start_probe_run("few-shot", "fp", {}, first)
        # ... a probe is running here, for minutes; meanwhile a second terminal reads:
        env = {**os.environ, "ADVISOR_DB": str(db)}
        seen = subprocess.run([sys.executable, "-m", "advisor", "history"], capture_output=True, text=True, env=env,
                              timeout=120)
        assert seen.returncode == 0, seen.stderr
        assert "Live project" in seen.stdout
        store.finish_probe_run(run_id, None, "failed", "test")  # and the writer goes on afterwards
        assert store.probe_runs(first)[0]["status"] == "failed"


def test_data_and_cache_folders_follow_the_platform_and_the_overrides(monkeypatch, tmp_path):
    from advisor.paths import cache_dir, data_dir, default_db_path

    for var in ("ADVISOR_HOME", "ADVISOR_CACHE", "ADVISOR_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_dir() == tmp_path / "data" / "advisor" and cache_dir() == tmp_path / "cache" / "advisor"
    assert default_db_path() == tmp_path / "data" / "advisor" / "advisor.duckdb"
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ADVISOR_CACHE", str(tmp_path / "c"))
    assert data_dir() == tmp_path / "home" and cache_dir() == tmp_path / "c"
