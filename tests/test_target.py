"""The target model behind an OpenAI-compatible endpoint: faults (injected by a loopback fault server),
caps, the response cache, the key kept secret, label matching; and, marked slow, the real
`transformers serve` serving the embedded model, probed end to end."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from advisor.probes.common.endpoint import EndpointModel, EndpointSpec
from advisor.probes.common.labels import label_logprobs, match_label
from fault_server import FaultServer
from tests.helpers import EXAMPLE, ROOT

SECRET = "sk-test-5ecret-value-never-printed"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FaultServer() as srv:
        yield srv


def few_shot(tickets, server, db_path, *extra):
    args = ["probe", "few-shot", "--data", tickets, "--target", "team-model", "--target-url", server.url,
            "--eval-size", "10", "-k", "0,2", "--seeds", "1", "--db", db_path, *extra]
    return CliRunner().invoke(cli, [str(a) for a in args])


def everything_stored(db_path) -> str:
    con = duckdb.connect(str(db_path), read_only=True)
    text = json.dumps([con.execute(f"SELECT * FROM {t}").fetchall()
                       for t in ("probe_runs", "response_cache", "metrics", "example_results")], default=str)
    con.close()
    return text


# -- label matching --------------------------------------------------------------------------------
@pytest.mark.parametrize("answer, expected", [
    ("billing", 0), ("Billing.", 0), ("Label: billing", 0), ("the how_to", 1), ("It is a bug report", None),
    ("billing or how_to", None), ("", None), ("howto", 1),
])
def test_an_answer_is_matched_to_the_label_it_names(answer, expected):
    assert match_label(answer, ["billing", "how_to"]) == expected


def test_label_scores_from_first_token_logprobs():
    assert label_logprobs(None, ["yes", "no"]) is None
    scores = label_logprobs({"Yes": -0.1, " no": -2.5, "maybe": -3.0}, ["yes", "no"])
    assert scores == [-0.1, -2.5]


# -- the path against a server ---------------------------------------------------------------------
def test_few_shot_on_a_target_measures_format_failures_usage_and_caches(tickets, server, db_path):
    result = few_shot(tickets, server, db_path)
    assert result.exit_code == 0, result.output
    assert "target team-model @ " in result.output and "20 requests, 0 already cached, 20 to send" in result.output
    assert len(server.requests) == 21 - 1  # 10 eval items x (k=0, k=2), no preflight for a probe command
    assert all(h.get("authorization") == f"Bearer {SECRET}" for h in server.headers)
    body = server.requests[0]
    assert body["temperature"] == 0 and body["messages"][0]["role"] == "system"
    assert "Classify each input into one of these labels:" in body["messages"][0]["content"]
    con = duckdb.connect(str(db_path), read_only=True)
    ev = json.loads(con.execute("SELECT result FROM probe_runs").fetchone()[0])["evidence"]
    con.close()
    # the fake server always answers the first label: accuracy = its share, no format failure
    first = sorted({json.loads(line)["label"] for line in tickets.read_text().splitlines()})[0]
    assert ev["format_failure_rate"] == 0.0 and ev["logprobs_returned"] is False
    assert ev["prompt_tokens_zero_shot"] > 0 and ev["prompt_tokens_per_demo"] > 0 and ev["latency_p50"] > 0
    assert 0 <= ev["best_accuracy"] <= 1 and first
    assert SECRET not in result.output and SECRET not in everything_stored(db_path)
    # a re-run pays for nothing
    again = few_shot(tickets, server, db_path, "--force")
    assert again.exit_code == 0, again.output
    assert "20 already cached, 0 to send" in again.output and len(server.requests) == 20


def test_log_probabilities_give_a_calibrated_score_when_the_endpoint_returns_them(tickets, server, db_path):
    server.logprobs = True
    result = few_shot(tickets, server, db_path, "-k", "0")
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(db_path), read_only=True)
    ev = json.loads(con.execute("SELECT result FROM probe_runs").fetchone()[0])["evidence"]
    metrics = dict(con.execute("SELECT name, value FROM metrics").fetchall())
    con.close()
    labels = sorted({json.loads(line)["label"] for line in tickets.read_text().splitlines()})
    golds = [json.loads(line)["label"] for line in tickets.read_text().splitlines()]
    assert ev["logprobs_returned"] is True and server.requests[0]["logprobs"] is True
    # generated answers always name the first label; the log-probabilities favour the last one
    assert "accuracy_logprobs" in metrics and metrics["accuracy_logprobs"] != metrics["accuracy"]
    assert labels[0] != labels[-1] and golds


def test_concurrency_is_bounded(tickets, server, db_path):
    """Two in flight, never three. Each request waits for a second one (at most 2 s), so two in flight shows
    however slowly a busy machine lets the client send; a request counts until its answer starts (counted to
    the answer's end, ten suites and two busy loops showed three: the client had read an answer and sent its
    next request before the server's thread counted the first one out)."""
    server.gather = 2
    result = few_shot(tickets, server, db_path, "--target-concurrency", "2")
    assert result.exit_code == 0, result.output
    assert server.max_in_flight == 2


def test_429_with_retry_after_is_retried(tickets, server, db_path):
    server.plan = ["429", "429"]
    started = time.monotonic()
    result = few_shot(tickets, server, db_path, "--target-concurrency", "1")
    assert result.exit_code == 0, result.output
    assert len(server.requests) == 22 and time.monotonic() - started >= 0.4  # waited the Retry-After twice


def test_a_request_cap_stops_cleanly_and_a_rerun_pays_only_for_the_rest(tickets, server, db_path):
    result = few_shot(tickets, server, db_path, "--target-max-requests", "15")
    assert result.exit_code == 0, result.output
    assert "request cap reached" in result.output and len(server.requests) == 15
    con = duckdb.connect(str(db_path), read_only=True)
    assert con.execute("SELECT status FROM probe_runs").fetchone()[0] == "partial"
    assert con.execute("SELECT count(*) FROM response_cache").fetchone()[0] == 15
    con.close()
    again = few_shot(tickets, server, db_path, "--target-max-requests", "15")
    assert again.exit_code == 0, again.output
    assert "15 already cached, 5 to send" in again.output and len(server.requests) == 20


def test_a_spend_cap_needs_prices_and_stops_cleanly(tickets, server, db_path):
    bad = few_shot(tickets, server, db_path, "--target-max-spend", "1")
    assert bad.exit_code == 2 and bad.output.startswith("Error: --target-max-spend needs --target-price-in")
    result = few_shot(tickets, server, db_path, "--target-max-spend", "0.0005", "--target-price-in", "100",
                      "--target-concurrency", "1")
    assert result.exit_code == 0, result.output
    assert "spend cap reached" in result.output and 1 <= len(server.requests) < 20


@pytest.mark.parametrize("fault, expected", [
    ("401", "the server refused the API key in $OPENAI_API_KEY (401)"),
    ("404", "--target team-model: http://127.0.0.1:"),
    ("500", "server error 500 after 1 retries"),
    ("malformed", "the server's answer is not a chat completion"),
    ("empty", "the server returned no answer (an empty `choices` list)"),
    ("slow", "no answer within 0.5 s, 1 retries included"),
])
def test_faults_are_one_line_exit_2_and_keep_finished_calls(tickets, server, db_path, fault, expected):
    server.plan = ["ok", "ok", "ok"]
    server.always = fault
    result = few_shot(tickets, server, db_path, "--target-concurrency", "1", "--target-timeout", "0.5",
                      "--target-retries", "1")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.output
    assert SECRET not in result.output and SECRET not in everything_stored(db_path)
    con = duckdb.connect(str(db_path), read_only=True)
    assert con.execute("SELECT count(*) FROM response_cache").fetchone()[0] == 3  # finished calls kept
    assert con.execute("SELECT status FROM probe_runs").fetchone()[0] == "failed"
    con.close()


def test_an_unreachable_endpoint_is_an_input_error(tickets, db_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    port = _free_port()
    result = CliRunner().invoke(cli, ["probe", "few-shot", "--data", str(tickets), "--target", "m", "--target-url",
                                      f"http://127.0.0.1:{port}/v1", "--target-retries", "0", "--eval-size", "10",
                                      "--db", str(db_path)])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: --target-url http://127.0.0.1:{port}/v1: cannot reach the server (connection refused); "
                      "check the URL and that the server is running."]


def test_a_budget_spent_before_the_first_request_says_so_and_sends_nothing(server):
    """Loading took the whole budget: the error names that cause (not the server) and no request leaves; once
    some answers came, the same end is a clean stop that keeps them."""
    from advisor.probes.common.deadline import time_limit
    from advisor.probes.common.endpoint import EndpointError, OutOfTime

    model = EndpointModel(EndpointSpec(model="m", url=server.url))
    hello, again = ([{"role": "user", "content": text}] for text in ("hello", "again"))
    with time_limit(0.0), pytest.raises(EndpointError, match=r"--target-url .*: the time budget \(0 s\) ran out "
                                        r"before the first request to m was sent .*; raise --budget\.$"):
        model.generate([hello], 4)
    assert server.arrived == []
    assert model.generate([hello], 4) and len(server.arrived) == 1
    with time_limit(0.0), pytest.raises(OutOfTime):
        model.generate([again], 4)
    assert len(server.arrived) == 1


def test_no_url_anywhere_and_a_missing_key_variable_are_input_errors(tickets, db_path, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    result = CliRunner().invoke(cli, ["probe", "few-shot", "--data", str(tickets), "--target", "m"])
    assert result.exit_code == 2 and result.output.startswith("Error: --target-url: no endpoint given")
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(Exception, match=r"--target-key-env MY_KEY: that environment variable is not set"):
        EndpointModel(EndpointSpec(model="m", url="http://127.0.0.1:9/v1", key_env="MY_KEY")).client()


def test_assess_with_a_target_checks_it_before_storing_anything(tickets, server, db_path):
    server.always = "401"
    args = ["assess", "--no-input", "--answers", EXAMPLE / "answers.yaml", "--data", tickets, "--probes",
            "target-few-shot", "--target", "team-model", "--target-url", server.url, "--out", db_path.parent / "r.md"]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 2 and result.output.count("Error:") == 1 and "(401)" in result.output
    con = duckdb.connect(str(db_path), read_only=True)
    assert con.execute("SELECT count(*) FROM assessments").fetchone()[0] == 0
    con.close()


def test_assess_with_a_target_leads_with_its_figures_and_uses_its_tokens_in_costs(tickets, server, db_path, tmp_path):
    args = ["assess", "--no-input", "--answers", EXAMPLE / "answers.yaml", "--data", tickets, "--probes",
            "target-few-shot", "--target", "team-model", "--target-url", server.url, "--eval-size", "10",
            "--out", tmp_path / "r.md"]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "r.md").read_text()
    assert "Measured on your target model `team-model @ http://127.0.0.1:" in report
    assert "### Few-shot prompting on your target model" in report
    assert r"| tokens.prompt\_base |" in report
    assert r"measured on team-model @ http://127.0.0.1:" in report
    assert r"(target\_few\_shot.prompt\_tokens\_zero\_shot)" in report
    assert SECRET not in report and SECRET not in everything_stored(db_path)


def _oracle(tickets):
    """A target model that names the right label of every ticket (looked up from the data file)."""
    gold = {row["text"]: row["label"] for row in map(json.loads, tickets.read_text().splitlines())}

    def answer(body):
        last = [m["content"] for m in body.get("messages", []) if m["role"] == "user"][-1]
        return next((label for text, label in gold.items() if text in last), "no idea")
    return answer


@pytest.mark.parametrize("behaviour, answers_kw, before, after", [
    ("always right", {"labeled_examples": 3000, "determinism": "high"}, "fine_tuning", "prompt_engineering"),
    ("never follows the format", {}, "prompt_engineering", "fine_tuning"),
])
def test_target_evidence_overturns_an_answers_only_decision(tickets, server, tmp_path, behaviour, answers_kw,
                                                            before, after):
    """The same answers, decided on answers alone and then with the team's model measured through its endpoint:
    a target that is always right moves a fine-tuning decision to prompting; one that never answers in the
    required format moves a prompting decision to fine-tuning."""
    import yaml

    answers = yaml.safe_load((ROOT / "tests" / "scenarios" / "ticket_routing.yaml").read_text())
    path = tmp_path / "answers.yaml"
    path.write_text(yaml.safe_dump({**answers, **answers_kw}))
    server.answer = _oracle(tickets) if behaviour == "always right" else (lambda body: "I cannot tell.")
    common = ["assess", "--no-input", "--answers", path, "--data", tickets, "--format", "json"]
    alone = CliRunner().invoke(cli, [str(a) for a in common + ["--probes", "none", "--out", tmp_path / "a.json"]])
    measured = CliRunner().invoke(cli, [str(a) for a in common + [
        "--probes", "target-few-shot", "--target", "team-model", "--target-url", server.url, "--eval-size", "30",
        "--out", tmp_path / "b.json"]])
    assert alone.exit_code == 0 and measured.exit_code == 0, measured.output
    first = json.loads((tmp_path / "a.json").read_text())["recommendation"]
    second = json.loads((tmp_path / "b.json").read_text())["recommendation"]
    assert (first["winner"], second["winner"]) == (before, after)
    assert second["answer_only_winner"] == before and second["evidence_changed"]
    sources = {s["name"]: s for s in second["evidence_sources"]}
    assert sources["quality.accuracy"]["role"] == "target" and "team-model" in sources["quality.accuracy"]["model"]


def test_rag_with_embeddings_from_an_endpoint_caches_them(server, tmp_path, db_path):
    args = ["probe", "rag", "--corpus", EXAMPLE / "docs", "--qa", EXAMPLE / "qa.jsonl", "--embedder", "team-embedder",
            "--embedder-url", server.url, "--chunk-sizes", "128", "--no-open-book", "--db", db_path]
    first = CliRunner().invoke(cli, [str(a) for a in args])
    assert first.exit_code == 0, first.output
    paid = len(server.requests)
    assert paid >= 2 and all(r["model"] == "team-embedder" for r in server.requests)
    con = duckdb.connect(str(db_path), read_only=True)
    ev = json.loads(con.execute("SELECT result FROM probe_runs").fetchone()[0])["evidence"]
    con.close()
    assert ev["n_queries"] == 103 and 0 < ev["dense_hit_at_10"] <= 1  # bag-of-words vectors find documents
    again = CliRunner().invoke(cli, [str(a) for a in args] + ["--force"])
    assert again.exit_code == 0, again.output
    assert len(server.requests) == paid  # chunks and questions all came from the cache
    server.always = "401"
    changed = [str(a) for a in args]
    changed[changed.index("128")] = "64"  # new chunks: the endpoint is asked again, and refuses
    other = CliRunner().invoke(cli, changed)
    assert other.exit_code == 2 and "--embedder-url" in other.output and "(401)" in other.output
    assert SECRET not in other.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the real server ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served_model():
    """`transformers serve` on a free loopback port, serving the embedded model converted in the cache."""
    from advisor.probes.common.runtime import prepare_embedded

    folder = prepare_embedded("smollm2-135m")
    exe = Path(sys.executable).parent / "transformers"
    if not exe.exists() and shutil.which("transformers") is None:
        pytest.fail("`transformers serve` is not installed: pip install 'transformers[serving]'")
    port = _free_port()
    # idle, two threads answer 1.5x faster than one; beside four busy loops a two-thread server took 2.5x as long
    # per request as a one-thread server (its threads wait on each other at every step): the idle cores, as advisor
    from advisor.probes.common.threads import choose_threads

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(choose_threads())}
    proc = subprocess.Popen([str(exe if exe.exists() else "transformers"), "serve", str(folder), "--port", str(port),
                             "--device", "cpu"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("`transformers serve` exited before answering")
                time.sleep(1)
        else:
            pytest.fail("`transformers serve` did not answer within 180 s")
        yield str(folder), url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_assess_against_transformers_serve_end_to_end(served_model, tmp_path, db_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    model, url = served_model
    lines = (EXAMPLE / "tickets.jsonl").read_text().splitlines()[:60]
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n")
    questions = (EXAMPLE / "qa.jsonl").read_text().splitlines()[:6]
    (tmp_path / "qa.jsonl").write_text("\n".join(questions) + "\n")
    args = ["assess", "--no-input", "--answers", EXAMPLE / "answers.yaml", "--data", tmp_path / "t.jsonl",
            "--corpus", EXAMPLE / "docs", "--qa", tmp_path / "qa.jsonl", "--probes", "target-few-shot,rag",
            "--target", model, "--target-url", url, "--eval-size", "10", "--out", tmp_path / "r.md",
            # the server answers one request at a time: queued requests would pass the timeout on a busy machine
            "--target-concurrency", "1", "--target-timeout", "300",
            # about the real server, not the budget: on a saturated machine the default 600 s let the target
            # few-shot run send 36 of its 60 requests and cut the open-book check
            "--budget", "3600s"]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(db_path), read_only=True)
    results = {p: json.loads(r) for p, r in con.execute("SELECT probe, result FROM probe_runs").fetchall()}
    paid = con.execute("SELECT count(*) FROM response_cache").fetchone()[0]
    con.close()
    few = results["target-few-shot"]["evidence"]
    assert few["eval_size"] == 10 and few["logprobs_returned"] is False  # the server returns none
    assert 0 <= few["format_failure_rate"] <= 1 and few["prompt_tokens_zero_shot"] > 20
    rag = results["rag"]["evidence"]
    assert rag["open_book_on_target"] is True and rag["open_book_questions"] == 6
    assert rag["open_book_prompt_tokens"] > rag["closed_book_prompt_tokens"] + 50  # the chunks are in the prompt
    report = (tmp_path / "r.md").read_text()
    assert f"Measured on your target model `{model} @ {url}`" in report
    assert "The endpoint returned no token log-probabilities" in report
    # the same assessment again pays for no request
    again = CliRunner().invoke(cli, [str(a) for a in args] + ["--force"])
    assert again.exit_code == 0, again.output
    con = duckdb.connect(str(db_path), read_only=True)
    assert con.execute("SELECT count(*) FROM response_cache").fetchone()[0] == paid
    con.close()


def test_assess_with_a_target_and_probes_few_shot_measures_the_target_and_the_proxy(tickets, server, db_path, tmp_path,
                                                                                   tiny_lm_path):
    """`--probes few-shot` with `--target`: the user's model is measured (not listed as "not selected"), the
    probe model too, and the summary says which model each figure came from."""
    args = ["assess", "--no-input", "--answers", EXAMPLE / "answers.yaml", "--data", tickets, "--probes", "few-shot",
            "--target", "team-model", "--target-url", server.url, "--model", tiny_lm_path, "--eval-size", "10",
            "--out", tmp_path / "r.md"]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(db_path), read_only=True)
    runs = dict(con.execute("SELECT probe, status FROM probe_runs").fetchall())
    con.close()
    assert set(runs) == {"target-few-shot", "few-shot"} and server.requests
    report = (tmp_path / "r.md").read_text()
    summary = report.split("## Strategy ranking")[0]
    assert "Measured on your target model `team-model @ http://127.0.0.1:" in summary
    assert f"Figures from the probe model `{tiny_lm_path}` are the proxy baseline" in summary
    assert "| target-few-shot |" not in report  # it ran: not among the probes left out
