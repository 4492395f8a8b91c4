"""The decision read from the team's own model, end to end: a local OpenAI-compatible server plays a target model
that names the right label with a set probability, `advisor assess` measures it, and the probability that a
prompting strategy is best must follow the measured accuracy (never rise when it falls), while a model that
cannot do the task by prompting lets a path through fine-tuning win."""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner

from advisor.cli import cli
from tests.fault_server import FaultServer
from tests.helpers import EXAMPLE

PROMPTING = ("prompt_engineering", "rag_prompt", "rag")
TUNED = ("fine_tuning", "rag_fine_tuning")


def _target(tickets, accuracy: float):
    """Right with probability ``accuracy`` (decided per ticket by a hash, so reruns agree); otherwise another
    label of the data set."""
    rows = [json.loads(line) for line in tickets.read_text().splitlines()]
    gold = {row["text"]: row["label"] for row in rows}
    labels = sorted(set(gold.values()))

    def answer(body):
        last = [m["content"] for m in body.get("messages", []) if m["role"] == "user"][-1]
        text = max((t for t in gold if t in last), key=last.rfind, default=None)
        if text is None:
            return labels[0]
        draw = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        if draw < accuracy:
            return gold[text]
        return labels[(labels.index(gold[text]) + 1) % len(labels)]
    return answer


@pytest.fixture(scope="module")
def decisions(tmp_path_factory):
    """The JSON report of one assessment per target accuracy (same answers, data and eval items)."""
    tmp = tmp_path_factory.mktemp("target")
    tickets = EXAMPLE / "tickets.jsonl"
    out = {}
    for accuracy in (0.35, 0.7, 0.97):
        with FaultServer() as server:
            server.delay = 0.0
            server.answer = _target(tickets, accuracy)
            report = tmp / f"r{accuracy}.json"
            args = ["assess", "--no-input", "--answers", EXAMPLE / "answers.yaml", "--data", tickets, "--probes",
                    "target-few-shot", "--target", "team-model", "--target-url", server.url, "--eval-size", "60",
                    "--db", tmp / f"a{accuracy}.duckdb", "--format", "json", "--out", report]
            result = CliRunner().invoke(cli, [str(a) for a in args])
            assert result.exit_code == 0, result.output
        out[accuracy] = json.loads(report.read_text())
    return out


def test_the_measured_accuracy_is_the_servers(decisions):
    for accuracy, doc in decisions.items():
        quality = doc["recommendation"]["evidence_sources"]
        measured = next(f for f in quality if f["name"] == "quality.accuracy")
        assert measured["low"] <= accuracy + 0.05 and measured["high"] >= accuracy - 0.05, (accuracy, measured)


def test_prompting_probability_follows_the_targets_accuracy(decisions):
    p = {a: sum(d["recommendation"]["probabilities"][s] for s in PROMPTING) for a, d in decisions.items()}
    assert p[0.35] <= p[0.7] <= p[0.97], p
    assert p[0.97] - p[0.35] >= 0.5, p


def test_a_target_that_cannot_do_the_task_by_prompting_makes_a_fine_tuning_path_win(decisions):
    low = decisions[0.35]["recommendation"]
    assert low["winner"] in TUNED, (low["winner"], low["probabilities"])
    high = decisions[0.97]["recommendation"]
    assert high["winner"] in PROMPTING, (high["winner"], high["probabilities"])
    assert high["confidence_score"] == high["probabilities"][high["winner"]]
