"""The prompt-engineering probe against a real OpenAI-compatible server: `transformers serve` serving the embedded
model (the `served_model` fixture of tests/test_target.py), on a slice of the bundled support tickets. The
requests go through a counting pass-through proxy, so what reaches the server is known: a re-run sends nothing
it sent before, and the request cap bounds what is sent. `transformers serve` returns no log-probabilities, so
classification is by generation and label matching."""

from __future__ import annotations

import json

import duckdb
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from benchmarks.prompt_vs_dspy import CountingProxy
from test_target import served_model  # noqa: F401 - the module-scoped server fixture

pytestmark = pytest.mark.slow

SECRET = "sk-prompt-serve-never-printed"
EVAL, SELECTION = 6, 6


@pytest.fixture
def proxy(served_model, monkeypatch):  # noqa: F811
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with CountingProxy(served_model[1]) as srv:
        srv.model = served_model[0]  # the id the server serves: the converted model's folder
        yield srv


def probe(tickets, model, proxy, db_path, *extra):
    """The server answers one request at a time: more in flight would only queue there, and on a busy machine a
    queued request could pass the timeout and be sent again."""
    args = ["probe", "prompt", "--data", tickets, "--target", model, "--target-url", proxy.url,
            "--eval-size", EVAL, "--selection-size", SELECTION, "-k", "0,2", "--naive-k", "2", "--no-reasoning",
            "--embedder-backend", "torch", "--target-concurrency", "1", "--target-timeout", "300", "--db", db_path,
            *extra]
    return CliRunner().invoke(cli, [str(a) for a in args])


def last_run(db_path):
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        run_id, status, result = con.execute("SELECT id, status, result FROM probe_runs ORDER BY id DESC "
                                             "LIMIT 1").fetchone()
        metrics = con.execute("SELECT name, value, params FROM metrics WHERE run_id = ?", [run_id]).fetchall()
        examples = con.execute("SELECT example_id, params, correct FROM example_results WHERE run_id = ?",
                               [run_id]).fetchall()
        cached = {canonical(json.loads(r)) for r, in con.execute("SELECT request FROM response_cache").fetchall()}
    finally:
        con.close()
    return status, json.loads(result), metrics, examples, cached


def canonical(body: dict) -> str:
    return json.dumps(body, sort_keys=True)


def render(result: dict) -> str:
    from advisor.probes.prompt.spec import SPEC
    from advisor.report.render import environment

    return environment().get_template(SPEC.template).render(result=result, charts={}, lang="en")


def test_the_prompt_probe_runs_on_transformers_serve_and_a_rerun_pays_for_nothing(proxy, tickets, db_path):
    """The budget is far above what the search needs (about 30 s on two idle cores): with six suites and two
    busy loops beside it, 600 s left time for the naive prompt only, and this test is about the real server,
    not the budget (tests/test_prompt_probe.py bounds the search by time)."""
    model = proxy.model
    result = probe(tickets, model, proxy, db_path, "--budget", "1800s")
    assert result.exit_code == 0, result.output
    status, res, metrics, examples, cached = last_run(db_path)
    ev, s = res["evidence"], res["summary"]
    sent = len(proxy.bodies)

    # done, or partial with its reason
    assert status in ("done", "partial")
    if status == "partial":
        assert ev["complete"] is False
        assert any("search stopped after" in n or "could not be scored" in n for n in res["notes"]), res["notes"]
    else:
        assert s["stopped"] is None and ev["complete"] is True and ev["configurations_tried"] == 7
        assert len(cached) == sent  # every request sent once, and cached as it arrived
    assert ev["on_target"] is True and s["model_role"] == "target" and s["by_generation"] is True
    assert cached <= {canonical(b) for b in proxy.bodies}
    assert all(b["model"] == model and b["temperature"] == 0 for b in proxy.bodies)
    # the server returns no log-probabilities
    con = duckdb.connect(str(db_path), read_only=True)
    assert con.execute("SELECT count(*) FROM response_cache WHERE json_extract_string(response, '$.logprobs') "
                       "IS NOT NULL").fetchone()[0] == 0
    con.close()

    # every configuration tried is stored with its parameters and its measured prompt tokens
    selection = {json.loads(p)["config_id"]: (v, json.loads(p)) for n, v, p in metrics if n == "selection_accuracy"}
    tokens = {json.loads(p)["config_id"]: v for n, v, p in metrics
              if n == "prompt_tokens" and json.loads(p)["split"] == "selection"}
    assert len(selection) == ev["configurations_tried"] == len(s["configs"]) >= 1
    assert set(tokens) == set(selection)
    for config_id, (accuracy, params) in selection.items():
        row = s["configs"][config_id]
        assert {"instruction", "output", "selection", "k", "reasoning", "stage"} <= set(params)
        assert f"{params['instruction']}/{params['output']}/{params['selection']}/k={params['k']}" == row["key"]
        assert accuracy == row["accuracy"] and tokens[config_id] == row["prompt_tokens"] > 20
        scored = [e for e in examples if json.loads(e[1]) == {"config": row["key"], "split": "selection"}]
        assert len(scored) == SELECTION and sum(c for _, _, c in scored) == round(accuracy * SELECTION)
    by_key = {r["key"]: r["prompt_tokens"] for r in s["configs"]}
    if "naive/plain/none/k=0" in by_key:  # the server's own token counts: demonstrations make longer prompts
        assert by_key["naive/plain/balanced/k=2"] > by_key["naive/plain/none/k=0"] + 20

    # the same probe again: served from the response cache, nothing sent twice
    again = probe(tickets, model, proxy, db_path, "--budget", "1800s", "--force")
    assert again.exit_code == 0, again.output
    status2, res2, _, _, _ = last_run(db_path)
    assert [b for b in proxy.bodies[sent:] if canonical(b) in cached] == []  # nothing paid twice
    if status == "done":
        assert len(proxy.bodies) == sent and status2 == "done"
        assert res2["summary"]["chosen"] == s["chosen"] and res2["evidence"]["gain"] == ev["gain"]
        assert [r["accuracy"] for r in res2["summary"]["configs"]] == [r["accuracy"] for r in s["configs"]]

    # the chosen and the naive held-out figures are on the same items
    held = {}
    for example_id, params, correct in examples:
        params = json.loads(params)
        if params["split"] == "held_out":
            held.setdefault(params["config"], {})[example_id] = correct
    if "best_accuracy" not in ev:  # partial: the budget left no time for the held-out check
        assert status == "partial" and set(held) == {s["naive"]}
        assert any("could not be scored" in n for n in res["notes"])
        return
    assert s["naive"] in held and s["chosen"] in held and set(held) == {s["naive"], s["chosen"]}
    assert all(set(items) == set(s["held_out_ids"]) for items in held.values()) and len(s["held_out_ids"]) == EVAL
    chosen, naive = held[s["chosen"]], held[s["naive"]]
    assert ev["best_accuracy"] == pytest.approx(sum(chosen.values()) / EVAL)
    assert ev["naive_accuracy"] == pytest.approx(sum(naive.values()) / EVAL)
    pairs = [(chosen[i], naive[i]) for i in s["held_out_ids"]]
    assert s["gain"]["cells"] == {"both": pairs.count((True, True)), "chosen_only": pairs.count((True, False)),
                                  "naive_only": pairs.count((False, True)), "neither": pairs.count((False, False))}
    assert ev["gain"] == pytest.approx(ev["best_accuracy"] - ev["naive_accuracy"])
    assert ev["gain_low"] <= ev["gain"] <= ev["gain_high"]
    assert not set(s["held_out_ids"]) & set(s["selection_ids"])

    # the report fragment and the command's table show the chosen prompt
    text = render(res)
    assert "Prompt engineering on your target model" in text and f"**chosen**: `{s['chosen']}`" in text
    shown = s["held_out"]["chosen"]["prompt_example"]
    assert f"```text\n{shown}\n```" in text and "[system]" in shown and "[user]" in shown
    first = json.loads(next(line for line in tickets.read_text().splitlines()
                            if json.loads(line)["id"] == s["held_out_ids"][0]))
    assert first["text"].strip() in shown
    assert any(line.endswith(" *") and s["chosen"] in line for line in result.output.splitlines())
    assert SECRET not in result.output and SECRET not in json.dumps(res)


@pytest.mark.parametrize("cap, sent, reason", [
    # the naive prompt's held-out requests pass the cap: the endpoint stops sending at the cap
    (4, 4, "stopped before the naive prompt was scored: request cap reached (4 requests"),
    # naive held-out (6) and the first configuration (6) fit; the next one and its held-out check (6 + 6) do not
    (20, 12, "search stopped after 1 configurations: the request cap (20)"),
])
def test_the_request_cap_stops_the_search_on_transformers_serve_cleanly(proxy, tickets, db_path, cap, sent, reason):
    model = proxy.model
    result = probe(tickets, model, proxy, db_path, "--target-max-requests", cap)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "Error" not in result.output
    status, res, _, _, cached = last_run(db_path)
    assert status == "partial" and res["evidence"].get("complete") is not True
    assert len(proxy.bodies) == sent == len(cached)  # what was sent is cached: a re-run pays only for the rest
    assert any(reason in n for n in res["notes"]), res["notes"]
    if cap == 20:
        assert res["summary"]["chosen"] == res["summary"]["naive"] and "best_accuracy" in res["evidence"]
        assert f"note: search stopped after 1 configurations: the request cap ({cap})" in result.output
