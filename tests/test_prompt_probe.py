"""The prompt-engineering probe: against a deterministic OpenAI-compatible model of known behaviour (an in-context
nearest-neighbour classifier that answers in the required format only when told to), and on the tiny local model:
the search finds the rewarded configuration, selection and reporting use disjoint splits, the budget and the
request cap bound it, a re-run pays for nothing, and every configuration is stored with its prompt."""

from __future__ import annotations

import json
import random
import re

import duckdb
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from fault_server import FaultServer

SECRET = "sk-prompt-probe-test"
#: label -> subtopics, each with two phrasings; items of one subtopic share most words, other subtopics few
TOPICS = {
    "billing": [("I received a duplicate invoice for order {n}", "Why is there a duplicate invoice on order {n}?"),
                ("My refund for order {n} is still pending", "The refund on order {n} shows as pending"),
                ("My card was declined when paying order {n}", "Payment for order {n} declined by the card")],
    "access": [("The password reset link for account {n} never arrives", "I cannot reset the password of account {n}"),
               ("Two factor codes for account {n} are rejected", "My two factor code fails on account {n}"),
               ("Account {n} is locked out after several attempts", "I am locked out of account {n}")],
    "shipping": [("Parcel {n} seems lost by the courier", "The courier lost parcel {n}"),
                 ("Parcel {n} went to the wrong address", "Wrong delivery address on parcel {n}"),
                 ("Delivery of parcel {n} is two weeks late", "Parcel {n} is late, delivery keeps slipping")],
}
STRICT = "and nothing else"  # the output-format constraint's wording the model obeys


def routing_file(path, per_subtopic: int = 8, seed: int = 0):
    rng = random.Random(seed)
    rows = [{"text": pair[i % 2].format(n=rng.randint(100, 999)), "label": label}
            for label, subtopics in TOPICS.items() for pair in subtopics for i in range(per_subtopic)]
    rng.shuffle(rows)
    path.write_text("".join(json.dumps({"id": f"t{i}", **r}) + "\n" for i, r in enumerate(rows)))
    return path


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def knn_model(body: dict) -> str:
    """The label of the demonstration sharing the most words with the query (the first listed label without
    demonstrations); told to answer with the label and nothing else it does, otherwise it hedges, naming two
    labels, whenever the query has an odd number of words (a format failure)."""
    system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
    user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    labels = [lab for lab in TOPICS if lab in system]
    blocks = user.split("\n\n")
    query = blocks[-1].removeprefix("Input: ").removesuffix("\nLabel:")
    demos = [re.match(r"Input: (.*)\nLabel: (\w+)$", b, re.S) for b in blocks[:-1]]
    demos = [m.groups() for m in demos if m]
    if demos:
        answer = max(demos, key=lambda d: len(_words(d[0]) & _words(query)))[1]
    else:
        answer = labels[0]
    if "reason" in system:
        return f"The input mentions a few things.\nLabel: {answer}"
    if STRICT in system or len(query.split()) % 2 == 0:
        return answer
    other = next(lab for lab in labels if lab != answer)
    return f"Maybe {other}, or rather {answer}."


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FaultServer() as srv:
        srv.delay = 0.0
        srv.answer = knn_model
        yield srv


@pytest.fixture
def data(tmp_path):
    return routing_file(tmp_path / "tickets.jsonl")


def probe(data, server, db_path, *extra):
    args = ["probe", "prompt", "--data", data, "--target", "team-model", "--target-url", server.url,
            "--eval-size", "24", "--selection-size", "24", "-k", "0,2,4", "--naive-k", "4",
            "--embedder-backend", "torch", "--db", db_path, *extra]
    return CliRunner().invoke(cli, [str(a) for a in args])


def stored(db_path):
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        run = con.execute("SELECT status, result FROM probe_runs ORDER BY id DESC LIMIT 1").fetchone()
        examples = con.execute("SELECT example_id, params, details FROM example_results WHERE run_id = "
                               "(SELECT max(id) FROM probe_runs)").fetchall()
        metrics = con.execute("SELECT name, value, params FROM metrics WHERE run_id = "
                              "(SELECT max(id) FROM probe_runs)").fetchall()
    finally:
        con.close()
    return run[0], json.loads(run[1]), examples, metrics


def test_the_search_finds_the_configuration_the_model_rewards(data, server, db_path, tmp_path):
    descriptions = tmp_path / "labels.yaml"
    descriptions.write_text("billing: invoices, refunds and payments\naccess: logging in and accounts\n")
    result = probe(data, server, db_path, "--label-descriptions", descriptions)
    assert result.exit_code == 0, result.output
    status, res, _, metrics = stored(db_path)
    ev, s = res["evidence"], res["summary"]
    assert status == "done" and ev["on_target"] is True and ev["complete"] is True
    # nearest-neighbour demonstrations and the format constraint are what this model rewards
    assert ev["best_selection"] == "nearest" and "/strict/" in s["chosen"]
    assert ev["best_accuracy"] == 1.0 and ev["naive_accuracy"] < 0.7
    assert ev["gain"] == pytest.approx(ev["best_accuracy"] - ev["naive_accuracy"])
    assert 0 < ev["gain_low"] <= ev["gain"] <= ev["gain_high"] and ev["gain_p_value"] < 0.05
    assert ev["best_accuracy_low"] < ev["best_accuracy"] <= ev["best_accuracy_high"]
    assert ev["prompt_tokens"] > 0 and ev["latency_p50"] > 0 and ev["completion_tokens"] >= 1
    # every configuration is stored with its parameters and its prompt text
    selection = [(v, json.loads(p)) for n, v, p in metrics if n == "selection_accuracy"]
    assert len(selection) == ev["configurations_tried"] == len(s["configs"]) >= 10
    assert {p["selection"] for _, p in selection} == {"none", "random", "balanced", "nearest"}
    described = next(r for r in s["configs"] if r["instruction"] == "described")
    assert "- billing: invoices, refunds and payments" in described["prompt_example"]
    best = max(selection, key=lambda vp: vp[0])[0]
    assert next(r for r in s["configs"] if r["id"] == s["chosen_id"])["accuracy"] == best
    assert "Prompt engineering on your target model" in render(res)
    assert SECRET not in result.output


def test_selection_and_reporting_use_disjoint_splits(data, server, db_path):
    assert probe(data, server, db_path).exit_code == 0
    _, res, examples, _ = stored(db_path)
    by_split: dict[str, set] = {"selection": set(), "held_out": set()}
    held_configs, demos = set(), set()
    for example_id, params, details in examples:
        params, details = json.loads(params), json.loads(details)
        by_split[params["split"]].add(example_id)
        demos.update(details["demo_ids"])
        if params["split"] == "held_out":
            held_configs.add(params["config"])
    assert by_split["selection"] and by_split["held_out"]
    assert not by_split["selection"] & by_split["held_out"]
    assert not demos & (by_split["selection"] | by_split["held_out"])  # demonstrations come from neither split
    assert held_configs == {res["summary"]["chosen"], res["summary"]["naive"]}  # only those two are reported
    assert by_split["held_out"] == set(res["summary"]["held_out_ids"])


def test_a_rerun_pays_for_nothing(data, server, db_path):
    assert probe(data, server, db_path).exit_code == 0
    paid, first = len(server.requests), stored(db_path)[1]
    again = probe(data, server, db_path, "--force")
    assert again.exit_code == 0, again.output
    second = stored(db_path)[1]
    assert paid > 100 and len(server.requests) == paid  # every response came from the cache
    assert second["summary"]["chosen"] == first["summary"]["chosen"]
    assert second["evidence"]["best_accuracy"] == first["evidence"]["best_accuracy"]


def test_the_request_cap_bounds_the_search_and_keeps_the_held_out_check(data, server, db_path):
    result = probe(data, server, db_path, "--target-max-requests", "150")
    assert result.exit_code == 0, result.output
    status, res, _, _ = stored(db_path)
    ev = res["evidence"]
    assert len(server.requests) <= 150 and status == "partial" and ev["complete"] is False
    assert "best_accuracy" in ev and "naive_accuracy" in ev  # the chosen prompt was still checked
    assert "the request cap (150)" in res["summary"]["stopped"]
    full = probe(data, server, db_path, "--force")
    assert full.exit_code == 0, full.output
    assert stored(db_path)[1]["evidence"]["configurations_tried"] > ev["configurations_tried"]


def test_the_time_budget_bounds_the_search(data, server, db_path):
    """The naive prompt's 24 held-out answers come at once, every later answer outlasts the budget: the budget
    ends inside the search whatever the machine's speed (a few fast answers within 6 s did not: on a saturated
    machine the set-up alone took most of it)."""
    server.plan = ["ok"] * 24
    server.always, server.slow = "slow", 100.0
    result = probe(data, server, db_path, "--target-concurrency", "1", "--budget", "15s")
    assert result.exit_code == 0, result.output
    status, res, _, _ = stored(db_path)
    assert status == "partial" and "time budget" in (res["summary"]["stopped"] or "")
    assert "naive_accuracy" in res["evidence"] and res["evidence"]["configurations_tried"] < 10


def test_label_descriptions_must_name_labels_of_the_data(data, server, db_path, tmp_path):
    wrong = tmp_path / "labels.yaml"
    wrong.write_text("refunds: money back\n")
    result = probe(data, server, db_path, "--label-descriptions", wrong)
    assert result.exit_code == 2 and "'refunds' is not a label" in result.output and not server.requests


def test_on_the_local_probe_model(tmp_path, tiny_lm_path):
    from advisor.evidence.probe_runner import run_probe
    from advisor.probes.prompt.spec import PromptConfig
    from advisor.store.database import Store

    config = PromptConfig(data=routing_file(tmp_path / "d.jsonl", per_subtopic=6), model={"name": str(tiny_lm_path)},
                          embedder_backend="torch", k=[0, 2], naive_k=2, eval_size=12, selection_size=12)
    with Store(tmp_path / "db.duckdb") as store:
        result = run_probe("prompt", config, store)
        again = run_probe("prompt", config, store)
    ev = result.evidence
    assert result.status == "done" and ev["on_target"] is False and ev["complete"] is True
    assert ev["eval_size"] == 12 and ev["selection_size"] == 12 and 0 <= ev["best_accuracy"] <= 1
    assert ev["configurations_tried"] == len(result.summary["configs"]) >= 6
    assert {r["selection"] for r in result.summary["configs"]} >= {"nearest", "random", "balanced", "none"}
    assert "latency_p50" not in ev and ev["seconds_per_example"] > 0 and ev["prompt_tokens"] > 0
    assert any("reused stored run" in n for n in again.notes)  # same data, model and config: not run again
    text = render(result.model_dump(mode="json"))
    assert "Prompt engineering on the probe model" in text and "```text" in text


def render(result: dict) -> str:
    from advisor.probes.prompt.spec import SPEC
    from advisor.report.render import environment

    return environment().get_template(SPEC.template).render(result=result, charts={}, lang="en")


def test_a_cap_below_the_naive_check_says_why_nothing_was_measured(data, server, db_path):
    result = probe(data, server, db_path, "--target-max-requests", "3", "--target-concurrency", "1")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    headline = next((line for line in lines if line.startswith("The prompt search on ")), "")
    assert "measured nothing: stopped before the naive prompt was scored: request cap reached" in headline, \
        result.output
    assert any("(one request at a time); request cap 3" in line for line in lines), result.output
    status, res, _, _ = stored(db_path)
    assert status == "partial" and res["headline"] == headline.strip()
