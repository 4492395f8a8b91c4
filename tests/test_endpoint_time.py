"""A target or embedding endpoint that hangs, drips, resets or answers slowly: the command ends within its
budget plus a margin (timed from the server's first request to the process's exit, or to the end of the last
probe when a decision and a report follow; every wait bounded), with one error line or a partial result, and what
finished kept in the response cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from fault_server import FaultServer
from tests.helpers import EXAMPLE

ADVISOR = str(Path(sys.executable).with_name("advisor"))
BUDGET = 4.0
MARGIN = 20.0  # giving up and exiting on a busy machine; without the bound a hang took 300 s
HARD_STOP = 120  # no test waits longer than this, whatever happens


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FaultServer() as srv:
        yield srv


def _run(args: list, tmp_path: Path, server: FaultServer, stop: float = HARD_STOP,
         ) -> tuple[subprocess.CompletedProcess, float]:
    """The finished process and its time from the server's first request to its exit: the process loads Python,
    torch and the data before it asks (not part of any budget; on a saturated machine alone that took longer
    than the margin), and what is bounded is what follows."""
    env = {**os.environ, "ADVISOR_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    started = time.monotonic()
    done = subprocess.run([ADVISOR, *map(str, args)], capture_output=True, text=True, env=env, timeout=stop)
    return done, time.monotonic() - (server.arrived[0] if server.arrived else started)


def _few_shot(tickets, server, db, *extra):
    return ["probe", "few-shot", "--data", tickets, "--target", "m", "--target-url", server.url, "-k", "0",
            "--eval-size", "10", "--db", db, *extra]


def _errors(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("Error:")]


@pytest.mark.parametrize("fault", ["hang", "drip", "reset"])
def test_a_server_that_never_answers_ends_within_the_budget_with_one_error_line(tickets, server, tmp_path, fault):
    server.always = fault
    done, took = _run(_few_shot(tickets, server, tmp_path / "a.duckdb", "--budget", f"{BUDGET:g}s"), tmp_path, server)
    assert done.returncode == 2, done.stderr
    assert took < BUDGET + MARGIN, f"{fault}: {took:.1f} s"
    errors = _errors(done.stderr)
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert server.url in errors[0] and ("time budget" in errors[0] or "cannot reach" in errors[0]), errors[0]
    con = duckdb.connect(str(tmp_path / "a.duckdb"), read_only=True)
    assert con.execute("SELECT status FROM probe_runs").fetchone()[0] == "failed"
    con.close()


def test_a_slow_server_stops_at_the_budget_and_keeps_what_finished(tickets, server, tmp_path):
    """The answers after the first four take longer than the budget (not a fixed few seconds, which a slow
    machine's set-up would use up before the fast answers came): the budget ends while two run."""
    budget = 15.0
    server.plan = ["ok"] * 4
    server.always, server.slow = "slow", 100.0
    db = tmp_path / "a.duckdb"
    done, took = _run(_few_shot(tickets, server, db, "--budget", f"{budget:g}s", "--target-concurrency", "2"),
                      tmp_path, server)
    assert took < budget + MARGIN, f"{took:.1f} s"
    assert done.returncode == 2 and len(_errors(done.stderr)) == 1, done.stderr
    assert "measured nothing within --budget 15s" in done.stderr and "What it finished is stored" in done.stderr
    con = duckdb.connect(str(db), read_only=True)
    kept = con.execute("SELECT count(*) FROM response_cache").fetchone()[0]
    con.close()
    assert 4 <= kept < 10  # finished answers kept, the rest not waited for
    # a re-run against a healthy server pays only for the rest
    server.always = "ok"
    again, _ = _run(_few_shot(tickets, server, db, "--force"), tmp_path, server)
    assert again.returncode == 0, again.stderr
    assert f"{kept} already cached, {10 - kept} to send" in again.stderr


def test_without_a_budget_a_dripping_answer_is_bounded_by_the_request_timeout(tickets, server, db_path):
    server.always = "drip"  # headers at once, then a byte a second: the per-read timeout never fires
    started = time.monotonic()
    result = CliRunner().invoke(cli, [str(a) for a in _few_shot(tickets, server, db_path, "--target-timeout", "1",
                                                                "--target-retries", "0")])
    assert time.monotonic() - started < 1 + MARGIN
    assert result.exit_code == 2, result.output
    assert _errors(result.output) == [f"Error: --target-url {server.url}: no complete answer within 1 s (0 retries of "
                                      "1 s and their pauses); check the server, or raise --target-timeout (finished "
                                      "responses are cached)."]


def test_a_hanging_preflight_in_assess_is_bounded_by_the_request_timeout(tickets, server, tmp_path):
    server.always = "hang"
    done, took = _run(["assess", "--no-input", "--answers", EXAMPLE / "answers.yaml", "--data", tickets,
                       "--probes", "target-few-shot", "--target", "m", "--target-url", server.url,
                       "--target-timeout", "2", "--db", tmp_path / "a.duckdb", "--out", tmp_path / "r.md"], tmp_path,
                      server)
    assert took < 2 + MARGIN, f"{took:.1f} s"
    assert done.returncode == 2 and len(_errors(done.stderr)) == 1, done.stderr
    assert "time budget (2 s)" in done.stderr or "no answer within 2 s" in done.stderr, done.stderr
    con = duckdb.connect(str(tmp_path / "a.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM assessments").fetchone()[0] == 0  # checked before storing anything
    con.close()


@pytest.mark.parametrize("fault", ["hang", "drip"])
def test_an_embedding_endpoint_that_hangs_or_drips_ends_within_the_budget(server, tmp_path, fault):
    """The process loads a tokenizer (the chunks are counted in its tokens) before it asks, which on a saturated
    machine can take longer than the budget itself; then nothing is sent, and the error says so."""
    server.always = fault
    done, took = _run(["probe", "rag", "--corpus", EXAMPLE / "docs", "--qa", EXAMPLE / "qa.jsonl", "--embedder",
                       "e", "--embedder-url", server.url, "--chunk-sizes", "128", "--no-open-book", "--budget",
                       f"{BUDGET:g}s", "--db", tmp_path / "a.duckdb"], tmp_path, server)
    errors = _errors(done.stderr)
    assert done.returncode == 2 and len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert errors[0].startswith(f"Error: --embedder-url {server.url}: ") and "the time budget (4 s)" in errors[0]
    if server.arrived:
        assert took < BUDGET + MARGIN, f"{fault}: {took:.1f} s"
        assert "no complete answer from e within the time budget (4 s)" in errors[0], errors[0]
    else:
        assert "ran out before the first request to e was sent" in errors[0], errors[0]


def test_a_server_that_hangs_in_one_probe_leaves_the_next_probe_its_share(tickets, server, tmp_path):
    """In `assess`, each probe's requests end with its own share of the budget (plus max(10%, 5 s)), not with the
    command's: the few-shot run on a hanging target fails at its share and the prompt probe still runs."""
    server.plan = ["ok"]  # the preflight check passes, then the server hangs
    server.always = "hang"
    budget = 30.0  # target few-shot and prompt weigh the same: 15 s each
    db = tmp_path / "a.duckdb"
    done, _ = _run(["assess", "--no-input", "--answers", EXAMPLE / "answers.yaml", "--data", tickets,
                    "--probes", "target-few-shot,prompt", "--target", "m", "--target-url", server.url,
                    "--target-timeout", "60", "--budget", f"{budget:g}s", "--db", db, "--out", tmp_path / "r.md"],
                   tmp_path, server)
    assert done.returncode == 2, done.stderr
    con = duckdb.connect(str(db), read_only=True)
    runs = con.execute("SELECT probe, status, epoch(finished_at) - epoch(started_at), epoch(finished_at) "
                       "FROM probe_runs ORDER BY id").fetchall()
    con.close()
    assert [(probe, status) for probe, status, _, _ in runs] == [("target-few-shot", "failed"), ("prompt", "failed")]
    assert runs[0][2] < 15 + 5 + 5, runs  # its share, the allowance, and the time to give up on a hung request
    # the probes end within the budget (the decision and the report follow, bounded by HARD_STOP)
    took = runs[-1][3] - (runs[0][3] - runs[0][2])
    assert took < budget + MARGIN, f"{took:.1f} s"
    assert (tmp_path / "r.md").exists()  # the decision was made and reported without the target's figures


RAG = ["probe", "rag", "--corpus", EXAMPLE / "docs", "--qa", EXAMPLE / "qa.jsonl", "--chunk-sizes", "128",
       "--max-questions", "6"]


@pytest.fixture(scope="module")
def retrieval_cached(tmp_path_factory):
    """A database holding the corpus's chunk embeddings, and how long the RAG probe took to make them and measure
    retrieval on this machine now. With five suites and two busy loops beside it, the set-up and the embedding
    alone used up a 25 s budget, so the open-book check never started and nothing was measured."""
    folder = tmp_path_factory.mktemp("retrieval")
    env = {**os.environ, "ADVISOR_HOME": str(folder / "home"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([ADVISOR, *map(str, RAG), "--no-open-book", "--db", str(folder / "a.duckdb")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    con = duckdb.connect(str(folder / "a.duckdb"), read_only=True)
    took = con.execute("SELECT epoch(finished_at) - epoch(started_at) FROM probe_runs").fetchone()[0]
    con.close()
    return folder, took


@pytest.mark.parametrize("fast", [2, 0])  # some answers then a slow one (a clean stop), or no answer in time
def test_a_target_that_slows_down_in_the_open_book_check_keeps_the_retrieval_figures(server, tmp_path, fast,
                                                                                      retrieval_cached):
    """The RAG probe's retrieval figures need no target; when the budget ends before or while the target answers
    the open-book check, they are kept (a partial result, exit 0), the check is skipped with a note saying the
    budget ended, and only answers that came are cached. The chunk embeddings are cached and the budget is twice
    what retrieval took from scratch (at least 25 s), so it ends in the open-book check however busy the machine."""
    folder, retrieval = retrieval_cached
    budget = max(25.0, 2 * retrieval)
    server.plan = ["ok"] * fast  # then every answer outlasts the budget
    server.always, server.slow = "slow", 10 * budget
    db = tmp_path / "a.duckdb"
    shutil.copyfile(folder / "a.duckdb", db)
    if (folder / "home").exists():  # what the embedder keeps there (none with the default one)
        shutil.copytree(folder / "home", tmp_path / "home")
    done, took = _run([*RAG, "--target", "m", "--target-url", server.url, "--budget", f"{budget:.0f}s", "--db", db],
                      tmp_path, server, stop=HARD_STOP + budget)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    skipped = [line for line in (done.stderr + done.stdout).splitlines() if "open-book skipped: " in line]
    assert skipped and "time budget" in skipped[0], done.stderr
    con = duckdb.connect(str(db), read_only=True)
    status, result = con.execute("SELECT status, result FROM probe_runs ORDER BY id DESC LIMIT 1").fetchone()
    cached = con.execute("SELECT count(*) FROM response_cache").fetchone()[0]
    con.close()
    assert status == "partial" and '"dense_hit_at_5"' in result, result[:300]
    assert cached <= fast  # the slow answers were not waited for
    if server.arrived:  # the check had started
        assert took < budget + MARGIN, f"{took:.1f} s"
