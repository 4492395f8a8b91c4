"""The few-shot probe: demonstrations, metrics, the full run through the runner and the store,
interruption, reuse, report partial, chart, CLI, and one run on the embedded default model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from advisor.evidence.probe_runner import run_probe
from advisor.probes.common.base import ProbeResult
from advisor.probes.common.data import Example
from advisor.probes.few_shot.spec import SPEC, FewShotConfig, confusion, draw_demos, macro_f1
from advisor.probes.few_shot.run import FewShotProbe
from advisor.store.database import Store

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
POS = ["I loved this movie", "Great service, friendly staff", "Wonderful experience", "The food was delicious",
       "Best purchase this year"]
NEG = ["I hated this movie", "Terrible service, rude staff", "Awful experience", "The food was cold",
       "Worst purchase this year"]


def sentiment_file(path: Path, n_per_label: int = 12) -> Path:
    rows = [{"id": f"{lab}-{i}", "text": f"{src[i % 5]} ({i})", "label": lab}
            for i in range(n_per_label) for lab, src in (("positive", POS), ("negative", NEG))]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def config(data: Path, model: Path, **kw) -> FewShotConfig:
    return FewShotConfig(data=data, model={"name": str(model), "device": "cpu"}, **{"k": [0, 2], "seeds": 2, **kw})


def test_demonstrations_are_balanced_deterministic_and_seeded():
    pool = [Example(f"{lab}{i}", "t", lab) for lab in "abc" for i in range(6)]
    demos = draw_demos(pool, 6, seed=3, labels=["a", "b", "c"])
    assert sorted(d.label for d in demos) == ["a", "a", "b", "b", "c", "c"]
    assert draw_demos(pool, 6, seed=3, labels=["a", "b", "c"]) == demos
    assert draw_demos(pool, 6, seed=4, labels=["a", "b", "c"]) != demos
    assert len(draw_demos(pool, 4, seed=0, labels=["a", "b", "c"])) == 4


def test_macro_f1_and_confusion_follow_the_standard_definitions():
    gold = ["a", "a", "b", "b", "c"]
    pred = ["a", "b", "b", "b", "a"]
    # F1: a = 2*1/(2+1+1) = .5, b = 2*2/(4+1+0) = .8, c = 0
    assert macro_f1(gold, pred, ["a", "b", "c"]) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert confusion(gold, pred, ["a", "b", "c"]) == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_full_run_stores_metrics_examples_and_evidence(tmp_path, tiny_base_lm_path):
    data = sentiment_file(tmp_path / "s.jsonl")
    with Store(tmp_path / "db.duckdb") as store:
        result = run_probe("few-shot", config(data, tiny_base_lm_path), store)
        runs = store.con.execute("SELECT status FROM probe_runs").fetchall()
        n_examples = store.con.execute("SELECT count(*) FROM example_results").fetchone()[0]
    ev = result.evidence
    assert runs == [("done",)] and result.status == "done"
    eval_n = ev["eval_size"]
    assert n_examples == eval_n * (1 + 2)  # k=0 once, k=2 twice
    assert set(ev) >= {"best_accuracy", "best_k", "zero_shot_accuracy", "gain_0_to_best", "seed_spread",
                       "eval_size", "ci_halfwidth", "n_labels", "chance_accuracy"}
    assert ev["n_labels"] == 2 and ev["best_k"] in (0, 2) and ev["complete"] is True
    rows = {r["k"]: r for r in result.summary["per_k"]}
    assert rows[0]["ci_low"] <= rows[0]["accuracy"] <= rows[0]["ci_high"]
    assert ev["gain_0_to_best"] == pytest.approx(ev["best_accuracy"] - rows[0]["accuracy"])
    assert sum(map(sum, rows[2]["confusion"])) == 2 * eval_n
    k2 = [e for e in result.examples if e.params["k"] == 2]
    assert all(e.prediction == max(e.details["logprobs"], key=e.details["logprobs"].get) for e in k2)
    assert rows[2]["accuracy"] == pytest.approx(sum(e.correct for e in k2) / len(k2))


# -- the seed spread's interval ---------------------------------------------------------------------------------
def test_the_seed_spread_interval_is_the_chi_square_interval_of_a_standard_deviation():
    """The bounds solve the chi-square equations that define them, and cover the true std 95% of the time on
    normal draws (a simulation); one seed gives none, and no bound exceeds 0.5."""
    import numpy as np
    from scipy.stats import chi2

    from advisor.probes.few_shot.spec import std_interval

    low, high = std_interval(0.04, 5)
    assert chi2.sf(4 * 0.04 ** 2 / low ** 2, 4) == pytest.approx(0.025) and chi2.cdf(4 * 0.04 ** 2 / high ** 2, 4) \
        == pytest.approx(0.025)
    assert std_interval(0.04, 2)[0] == pytest.approx(0.04 * 0.4461, rel=1e-3)  # sqrt(1 / 5.024): two seeds
    assert std_interval(0.0, 1) is None and std_interval(0.3, 2)[1] == 0.5
    rng = np.random.default_rng(0)
    draws = rng.normal(0.6, 0.05, size=(4000, 5))
    covered = [lo <= 0.05 <= hi for lo, hi in (std_interval(float(d.std(ddof=1)), 5) for d in draws)]
    assert 0.935 < np.mean(covered) < 0.965


def test_the_run_publishes_the_seed_spread_with_its_interval_from_the_per_seed_accuracies(tmp_path, tiny_lm_path):
    import statistics

    from scipy.stats import chi2

    data = sentiment_file(tmp_path / "s.jsonl", n_per_label=20)
    result = run_probe("few-shot", config(data, tiny_lm_path, k=[1, 4], seeds=4))
    ev, best = result.evidence, result.evidence["best_k"]
    per_seed = {}
    for e in result.examples:
        if e.params["k"] == best:
            per_seed.setdefault(e.params["seed"], []).append(e.correct)
    accuracies = [sum(v) / len(v) for v in per_seed.values()]
    std = statistics.stdev(accuracies)
    assert len(accuracies) == 4 and std > 0 and ev["seed_spread"] == pytest.approx(std)
    a, b = chi2.interval(0.95, 3)
    assert (ev["seed_spread_low"], ev["seed_spread_high"]) == pytest.approx((std * (3 / b) ** 0.5, std * (3 / a) ** 0.5))
    metric = next(m for m in result.metrics if m.name == "accuracy_seed_std" and m.params["k"] == best)
    assert (metric.ci_low, metric.ci_high) == (ev["seed_spread_low"], ev["seed_spread_high"])
    from advisor.report.render import environment

    text = environment().get_template(SPEC.template).render(result=result.model_dump(mode="json"), charts={})
    assert (f"95% chi-square interval {100 * ev['seed_spread_low']:.1f}–{100 * ev['seed_spread_high']:.1f} points"
            in text)


def test_rerun_reuses_unless_forced_and_fingerprint_tracks_inputs(tmp_path, tiny_base_lm_path):
    data = sentiment_file(tmp_path / "s.jsonl")
    cfg = config(data, tiny_base_lm_path, k=[0], seeds=1)
    probe = FewShotProbe()
    assert probe.fingerprint(cfg) == probe.fingerprint(config(data, tiny_base_lm_path, k=[0], seeds=1))
    assert probe.fingerprint(cfg) != probe.fingerprint(config(data, tiny_base_lm_path, k=[0], seeds=1, eval_size=5))
    with Store(tmp_path / "db.duckdb") as store:
        run_probe("few-shot", cfg, store)
        again = run_probe("few-shot", cfg, store)
        assert any("reused stored run" in n for n in again.notes) and again.examples
        forced = run_probe("few-shot", cfg, store, force=True)
        assert not any("reused" in n for n in forced.notes)


def test_ctrl_c_marks_the_run_interrupted_and_keeps_finished_units(tmp_path, tiny_base_lm_path):
    data = sentiment_file(tmp_path / "s.jsonl")
    seen = []

    def progress(done, total, label):
        seen.append(done)
        if len(seen) > 1 and done > seen[0] and done >= total // 3 + 1:  # inside the second (k, seed) unit
            raise KeyboardInterrupt

    with Store(tmp_path / "db.duckdb") as store:
        with pytest.raises(KeyboardInterrupt):
            run_probe("few-shot", config(data, tiny_base_lm_path, k=[0, 2], seeds=1), store, progress=progress)
        status, payload = store.con.execute("SELECT status, result FROM probe_runs").fetchone()
    kept = json.loads(payload)
    assert status == "interrupted" and [r["k"] for r in kept["summary"]["per_k"]] == [0]
    assert kept["evidence"]["complete"] is False


def test_k_larger_than_the_pool_is_an_input_error(tmp_path, tiny_base_lm_path):
    from advisor.errors import InputError

    data = sentiment_file(tmp_path / "s.jsonl", n_per_label=4)
    with pytest.raises(InputError, match="-k 50"):
        run_probe("few-shot", config(data, tiny_base_lm_path, k=[0, 50]))


def test_report_partial_and_chart_render(tmp_path, tiny_base_lm_path):
    from advisor.report.render import environment

    data = sentiment_file(tmp_path / "s.jsonl")
    result = run_probe("few-shot", config(data, tiny_base_lm_path))
    charts = FewShotProbe().charts(result, tmp_path / "out")
    assert charts["accuracy_vs_k"].read_bytes()[:4] == b"\x89PNG"
    env = environment()
    text = env.get_template(SPEC.template).render(
        result=result.model_dump(mode="json"), charts={"accuracy_vs_k": "few_shot_accuracy.png"})
    assert "| 0" in text and "| 2" in text and "(few_shot_accuracy.png)" in text and "lower bound" in text
    empty = ProbeResult(probe="few-shot", status="interrupted").model_dump(mode="json")
    assert "No finished runs" in env.get_template(SPEC.template).render(result=empty, charts={})


def test_cli_prints_a_table_and_bad_input_exits_2(tmp_path, tiny_base_lm_path):
    from advisor.cli import cli

    data = sentiment_file(tmp_path / "s.jsonl")
    args = ["probe", "few-shot", "--data", str(data), "--model", str(tiny_base_lm_path), "-k", "0,1",
            "--seeds", "1", "--device", "cpu", "--db", str(tmp_path / "db.duckdb")]
    ok = CliRunner().invoke(cli, args)
    assert ok.exit_code == 0, ok.output
    assert "95% CI" in ok.output and len([line for line in ok.output.splitlines() if line.strip().startswith(("0 ", "1 "))]) == 2
    bad = CliRunner().invoke(cli, args[:3] + [str(tmp_path / "missing.jsonl")] + args[4:])
    assert bad.exit_code == 2 and "Error:" in bad.output and "Traceback" not in bad.output


def test_template_file_controls_the_prompt(tmp_path, tiny_base_lm_path):
    data = sentiment_file(tmp_path / "s.jsonl")
    tpl = tmp_path / "t.yaml"
    tpl.write_text('example: "{{text}}\\nQuestion: positive or negative?\\nAnswer:"\n'
                   'label_words: {positive: "yes", negative: "no"}\nuse_chat_template: false\n')
    result = run_probe("few-shot", config(data, tiny_base_lm_path, k=[0], seeds=1, template=tpl))
    assert result.summary["label_words"] == ["no", "yes"]
    assert set(result.examples[0].details["logprobs"]) == {"negative", "positive"}
    tpl.write_text("exmaple: x\n")
    from advisor.errors import InputError

    with pytest.raises(InputError, match="exmaple"):
        run_probe("few-shot", config(data, tiny_base_lm_path, k=[0], seeds=1, template=tpl))


@pytest.mark.slow
def test_embedded_default_on_twenty_examples(tmp_path):
    data = sentiment_file(tmp_path / "s.jsonl", n_per_label=10)
    cfg = FewShotConfig(data=data, k=[0, 2], seeds=1, eval_size=10)
    result = run_probe("few-shot", cfg)
    ev = result.evidence
    assert result.status == "done" and ev["eval_size"] == 10 and ev["n_labels"] == 2
    assert 0.0 <= ev["best_accuracy"] <= 1.0 and ev["chance_accuracy"] == 0.5
    assert result.summary["chat_template"] is True


# -- generation and extraction (greedy decoding, SQuAD-style EM / token F1, JSON validity) ----------
def generation_file(path: Path, outputs: list[str] | None = None, n: int = 16) -> Path:
    outputs = outputs or [f"placeholder answer {i}" for i in range(n)]
    rows = [{"id": f"g{i}", "input": f"What is {i} plus {i}?", "output": out} for i, out in enumerate(outputs)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_column_auto_detection_picks_input_and_output_for_generation(tmp_path):
    from advisor.probes.common.data import load_dataset

    rows = [{"uid": f"u{i}", "notes": "n/a", "input": f"What is {i} plus {i}?", "output": f"The sum is {2 * i}."}
            for i in range(12)]
    (tmp_path / "g.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load_dataset(tmp_path / "g.jsonl")
    assert (ds.text_col, ds.label_col, ds.id_col, ds.task) == ("input", "output", "uid", "generation")
    assert ds.examples[3].text == "What is 3 plus 3?" and ds.examples[3].label == "The sum is 6." and ds.labels == []
    pc = [{"prompt": f"Say {i}", "completion": f"number {i} said"} for i in range(12)]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pc))
    ds = load_dataset(tmp_path / "p.jsonl")
    assert (ds.text_col, ds.label_col, ds.task) == ("prompt", "completion", "generation")


def test_extraction_gold_keeps_nested_json_as_written(tmp_path):
    """Object outputs whose keys differ across rows (and an int next to a float) are not rewritten."""
    from advisor.probes.common.data import load_dataset

    rows = [{"text": f"Ada paid {i}", "output": {"name": "Ada", "amount": i}} for i in range(10)]
    rows[4] = {"text": "Bo paid 4.5", "output": {"payer": "Bo", "amount": 4.5, "tags": ["late"]}}
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load_dataset(tmp_path / "e.jsonl")
    assert ds.task == "extraction"
    assert ds.examples[2].label == '{"name": "Ada", "amount": 2}'
    assert json.loads(ds.examples[4].label) == {"payer": "Bo", "amount": 4.5, "tags": ["late"]}


def test_generation_run_scores_squad_exact_match_and_token_f1(tmp_path, tiny_base_lm_path):
    """Run once to learn the tiny model's k=0 outputs (the prompt at k=0 does not contain any gold),
    then write golds whose EM / F1 under SQuAD normalization are known, and run again."""
    from advisor.probes.common.textmetrics import normalize_answer

    data = generation_file(tmp_path / "g.jsonl")
    cfg = config(data, tiny_base_lm_path, k=[0], seeds=1, max_new_tokens=6)
    first = run_probe("few-shot", cfg)
    preds = {e.example_id: e.prediction for e in first.examples}
    assert first.summary["task"] == "generation" and len(preds) == first.evidence["eval_size"] >= 6
    assert all(p == p.strip() and "\n\n" not in p for p in preds.values())  # cut at the delimiter, stripped

    golds = {f"g{i}": f"placeholder answer {i}" for i in range(16)}
    expect: dict[str, tuple[bool, float]] = {}
    for j, (eid, p) in enumerate(sorted(preds.items())):
        n = len(normalize_answer(p).split())
        same = "The " + p.upper() + "!"  # article, case and punctuation are ignored by SQuAD normalization
        if j % 3 == 0 and n and normalize_answer(same) == normalize_answer(p):
            golds[eid], expect[eid] = same, (True, 1.0)
        elif j % 3 == 1 and n:
            golds[eid], expect[eid] = p + " zebra yak", (False, 2 * n / (2 * n + 2))  # P = 1, R = n / (n + 2)
        else:
            golds[eid], expect[eid] = "zebra yak", (False, 0.0)
    assert any(v[0] for v in expect.values()) and any(0 < v[1] < 1 for v in expect.values())
    generation_file(data, [golds[f"g{i}"] for i in range(16)])

    with Store(tmp_path / "db.duckdb") as store:
        result = run_probe("few-shot", cfg, store)
        stored = store.con.execute("SELECT count(*) FROM example_results").fetchone()[0]
    assert stored == len(preds) == len(result.examples)
    for e in result.examples:
        em, f1 = expect[e.example_id]
        assert e.prediction == preds[e.example_id] and e.gold == golds[e.example_id]
        assert e.correct is em and e.score == pytest.approx(f1) and e.details["token_f1"] == pytest.approx(f1)
        assert e.correct <= e.details["token_f1"]  # EM implies F1 = 1
    metrics = {m.name: m for m in result.metrics}
    n_em = sum(v[0] for v in expect.values())
    assert metrics["exact_match"].value == pytest.approx(n_em / len(expect))
    assert metrics["token_f1"].value == pytest.approx(sum(v[1] for v in expect.values()) / len(expect))
    assert metrics["exact_match"].ci_low <= metrics["exact_match"].value <= metrics["exact_match"].ci_high
    assert "json_valid" not in metrics and "accuracy" not in metrics
    ev = result.evidence
    assert ev["best_accuracy"] == pytest.approx(n_em / len(expect)) and ev["n_labels"] == 0
    assert ev["best_token_f1"] == pytest.approx(metrics["token_f1"].value) and "best_json_valid" not in ev

    from advisor.report.render import environment

    text = environment().get_template(SPEC.template).render(result=result.model_dump(mode="json"), charts={})
    assert "Exact match" in text and "token F1" in text


@pytest.mark.parametrize("which", ["base", "chat"])
def test_extraction_run_computes_json_validity_from_the_prediction(tmp_path, which, request):
    from advisor.probes.common.textmetrics import exact_match, token_f1

    model = request.getfixturevalue("tiny_base_lm_path" if which == "base" else "tiny_lm_path")
    rows = [{"id": f"e{i}", "text": f"Invoice {i} from Ada for {i}.5 EUR",
             "output": json.dumps({"name": "Ada", "amount": i + 0.5})} for i in range(16)]
    data = tmp_path / "e.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with Store(tmp_path / "db.duckdb") as store:
        result = run_probe("few-shot", config(data, model, k=[0, 2], seeds=2, max_new_tokens=8), store)
        stored = store.con.execute("SELECT count(*) FROM example_results").fetchone()[0]
    ev, n = result.evidence, result.evidence["eval_size"]
    assert result.status == "done" and ev["task"] == "extraction" and result.summary["chat_template"] is (which == "chat")
    assert stored == len(result.examples) == n * (1 + 2)
    for e in result.examples:
        try:
            json.loads(e.prediction)
            valid = True
        except ValueError:
            valid = False
        assert e.details["json_valid"] is valid
        assert e.correct is exact_match(e.prediction, e.gold)
        assert e.details["token_f1"] == pytest.approx(token_f1(e.prediction, e.gold)) and e.correct <= e.score
    metrics = {(m.name, m.params["k"]): m for m in result.metrics}
    for k in (0, 2):
        at_k = [e for e in result.examples if e.params["k"] == k]
        assert metrics[("json_valid", k)].value == pytest.approx(sum(e.details["json_valid"] for e in at_k) / len(at_k))
        assert metrics[("exact_match", k)].value == pytest.approx(sum(e.correct for e in at_k) / len(at_k))
        assert metrics[("token_f1", k)].n == n
    best = {r["k"]: r for r in result.summary["per_k"]}[ev["best_k"]]
    assert ev["best_json_valid"] == pytest.approx(best["json_valid"]) and ev["best_token_f1"] == pytest.approx(best["token_f1"])


def test_the_budget_is_checked_inside_a_run_and_an_unfinished_run_is_dropped(tmp_path, tiny_base_lm_path,
                                                                             monkeypatch):
    """A fake clock (one second per deadline check): the deadline passes between two scoring batches of the
    first (k, seed) run, so nothing is measured; the probe says so and how long the run would take."""
    from advisor.probes.common.base import ProbeContext, ProbeResult
    from advisor.probes.few_shot.run import FewShotProbe

    class Clock:
        now = 0.0

        def monotonic(self):
            Clock.now += 1.0
            return Clock.now

    data = sentiment_file(tmp_path / "s.jsonl")
    cfg = config(data, tiny_base_lm_path, batch_tokens=256)
    monkeypatch.setattr("advisor.probes.common.base.time", Clock())
    ctx = ProbeContext(result=ProbeResult(probe="few-shot"), deadline=3.0)
    result = FewShotProbe().run(cfg, ctx)
    assert result.status == "empty" and result.summary["budget_needed"] > 0
    note = next(n for n in result.notes if "inside step 1" in n)
    assert "that step was dropped" in note and "examples" in note


def test_bf16_scores_in_bf16_and_gives_the_weights_back_in_float32(tmp_path, tiny_base_lm_path):
    import torch

    from advisor.probes.common.precision import cpu_supports_bf16, use_bf16
    from advisor.probes.common.runtime import ModelSpec, load_causal_lm

    assert use_bf16("on", "cpu") and not use_bf16("off", "cpu")
    assert use_bf16("auto", "cpu") == cpu_supports_bf16()
    data = sentiment_file(tmp_path / "s.jsonl")
    with Store(tmp_path / "db.duckdb") as store:
        runs = {b: run_probe("few-shot", config(data, tiny_base_lm_path, k=[2], seeds=1, bf16=b), store)
                for b in ("off", "on")}
    assert runs["off"].summary["bf16"] is False and runs["on"].summary["bf16"] is True
    scores = {b: [v for e in r.examples for v in e.details["logprobs"].values()] for b, r in runs.items()}
    diffs = [abs(a - b) for a, b in zip(scores["off"], scores["on"])]
    assert len(diffs) == 2 * runs["on"].evidence["eval_size"]
    assert 0 < max(diffs) < 0.5  # computed in bf16 (rounding shows), close to float32
    loaded = load_causal_lm(ModelSpec(name=str(tiny_base_lm_path), device="cpu"))
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())


def test_the_fingerprint_keys_the_precision_as_it_resolves_on_this_machine(tmp_path, tiny_base_lm_path):
    from advisor.probes.common.precision import cpu_supports_bf16

    data = sentiment_file(tmp_path / "s.jsonl")
    prints = {b: FewShotProbe().fingerprint(config(data, tiny_base_lm_path, bf16=b)) for b in ("auto", "on", "off")}
    assert prints["on"] != prints["off"]
    assert prints["auto"] == prints["on" if cpu_supports_bf16() else "off"]  # a stored run is reused only if alike


def test_a_prompt_longer_than_the_local_models_context_is_one_error_line(tmp_path, tiny_lm_path, db_path):
    """The tiny model reads 1,024 positions; eight demonstrations of ~300-word texts do not fit."""
    from advisor.cli import cli

    long = " ".join(["word"] * 300)
    rows = [{"id": f"{lab}-{i}", "text": f"{long} {lab} {i}", "label": lab}
            for i in range(12) for lab in ("positive", "negative")]
    data = tmp_path / "long.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(cli, ["probe", "few-shot", "--data", str(data), "--model", str(tiny_lm_path),
                                      "-k", "8", "--seeds", "1", "--eval-size", "4"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "the k=8 prompt for example" in lines[0] and "more than" in lines[0]
    assert "(1,024)" in lines[0] and "Traceback" not in result.output
