"""The LoRA probe on a tiny random Llama-style model: adapters, analysis, budget, bad input (the training loop: test_lora_training.py)."""

from __future__ import annotations

import json
import random

import pytest

from advisor.errors import InputError, ProbeError
from advisor.evidence.probe_runner import run_probe
from advisor.probes.common.base import ProbeResult
from advisor.probes.lora.spec import (WARM_FIRST_STEPS, LoraProbeConfig, best_few_shot, effective_sizes, epochs_for,
                                 nested_order)
from advisor.probes.lora.run import LoraProbe
from advisor.probes.common.runtime import ModelSpec
from advisor.store.database import Store
from tests.test_lora_training import check_forgetting_interval

CUES = {"billing": ["invoice", "refund", "payment"], "technical": ["crashes", "upload", "password"]}


@pytest.fixture(autouse=True)
def one_thread(monkeypatch, tmp_path):
    monkeypatch.setenv("ADVISOR_THREADS", "1")
    monkeypatch.setenv("ADVISOR_CACHE", str(tmp_path / "cache"))
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tickets(tmp_path_factory):
    """A trivially learnable two-label task: the label is given away by one cue word."""
    rng = random.Random(0)
    rows = []
    for i in range(160):
        label = "billing" if i % 2 else "technical"
        rows.append({"id": f"t{i}", "text": f"{rng.choice(['my', 'the'])} {rng.choice(CUES[label])}",
                     "label": label})
    path = tmp_path_factory.mktemp("lora-data") / "tickets.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    template = path.with_name("template.yaml")
    template.write_text('instruction: ""\nexample: "{{text}}\\nLabel:"\n')
    return path, template


def config(tickets, model_path, **overrides) -> LoraProbeConfig:
    data, template = tickets
    values = dict(data=data, template=template, model=ModelSpec(name=str(model_path)), eval_size=40,
                  sizes=[8, 16, 48], epochs=20, learning_rate=1e-2, available_examples=500, production_model_b=7)
    values.update(overrides)
    return LoraProbeConfig(**values)


# -- pure helpers ----------------------------------------------------------------------------
def test_nested_order_is_seeded_and_stratified(tickets):
    from advisor.probes.common.data import load_dataset

    pool = load_dataset(tickets[0]).examples
    a, b = nested_order(list(pool), 3), nested_order(list(pool), 3)
    assert [e.id for e in a] == [e.id for e in b] and [e.id for e in a] != [e.id for e in nested_order(list(pool), 4)]
    for n in (8, 16, 32):
        billing = sum(e.label == "billing" for e in a[:n])
        assert abs(billing - n / 2) <= 1


def test_sizes_are_trimmed_to_the_pool():
    assert effective_sizes([16, 32, 64], 40) == ([16, 32, 40], effective_sizes([16, 32, 64], 40)[1])
    assert "exceed the training pool" in effective_sizes([16, 32, 64], 40)[1]
    assert epochs_for(16, 8) == 12 and epochs_for(1000, 8) == 3 and epochs_for(16, 8, fixed=2) == 2


def test_best_few_shot_picks_best_k_and_median_seed():
    rows = []
    for k, seed, right in [(0, 0, 2), (4, 0, 3), (4, 1, 4), (4, 2, 5), (8, 0, 1)]:
        rows += [{"example_id": f"e{i}", "params": {"k": k, "seed": seed}, "correct": i < right} for i in range(6)]
    info, correct = best_few_shot(rows)
    assert info["k"] == 4 and info["params"] == {"k": 4, "seed": 1} and info["accuracy"] == pytest.approx(4 / 6)
    assert sum(correct.values()) == 4


# -- the probe end to end --------------------------------------------------------------------
def _store_few_shot(store: Store, tickets) -> int:
    """A stored few-shot run (as the few-shot probe records it) that gets every other eval example right."""
    from advisor.probes.common.base import ExampleResult
    from advisor.probes.common.data import load_dataset, split_dataset

    split = split_dataset(load_dataset(tickets[0]), 40, 0)
    result = ProbeResult(probe="few-shot", examples=[
        ExampleResult(example_id=e.id, params={"k": 4, "seed": 0}, prediction="x", gold=e.label, correct=i % 2 == 0)
        for i, e in enumerate(split.eval)])
    run_id = store.start_probe_run("few-shot", "fp", {}, None)
    store.finish_probe_run(run_id, result, "done")
    return run_id


def test_probe_learns_a_trivial_task_and_beats_few_shot(tickets, tiny_lm_path, tmp_path):
    import torch

    from advisor.probes.common.runtime import load_causal_lm

    loaded = load_causal_lm(ModelSpec(name=str(tiny_lm_path)))
    probe_ids = torch.tensor([[5, 6, 7, 8]])
    before = loaded.model(input_ids=probe_ids).logits
    with Store(tmp_path / "db.duckdb") as store:
        fs_id = _store_few_shot(store, tickets)
        result = run_probe("lora", config(tickets, tiny_lm_path, few_shot_run_id=fs_id), store,
                           artifacts_dir=tmp_path / "art")
        reloaded = store.load_probe_result(store.find_completed_run("lora", result.fingerprint))
    ev, s = result.evidence, result.summary
    assert result.status == "done" and [p["examples"] for p in s["points"]] == [8, 16, 48]
    assert ev["best_accuracy"] >= 0.8 > ev["zero_shot_accuracy"] + 0.15
    assert all(p["loss_last"] < p["loss_first"] for p in s["points"])
    # paired test against the stored few-shot run (50% on the same eval examples)
    assert ev["baseline"] == "few-shot" and ev["few_shot_best"] == pytest.approx(0.5)
    assert ev["significant"] and ev["p_value"] < 0.05 and ev["gain_over_few_shot"] > 0.25
    assert s["comparison"]["n"] == 40 and "beats 4-shot by" in s["comparison"]["verdict"]
    assert ev["required_eval_size_5pp"] > 40 and ev["eval_size"] == 40
    assert 0.5 < ev["forgetting_ratio"] < 2 and ev["training_gpu_hours"] > 0 and ev["training_cost"] > 0
    assert 0 <= ev["projected_accuracy"] <= 1
    check_forgetting_interval(result)
    # the crossover's interval, read off the band, holds the point estimate (the band's edges are checked against
    # the bootstrap curves' own crossovers in test_learning_curve.py)
    cross = s["crossover"]
    assert cross["high"] is not None and cross["high"] == ev["crossover_examples_high"] >= ev["crossover_examples"]
    assert cross["low"] is None or cross["low"] == ev["crossover_examples_low"] <= ev["crossover_examples"]
    # adapters saved and loadable; the shared model is untouched afterwards
    assert (tmp_path / "art").exists() and all((tmp_path / "art").rglob("adapter_config.json"))
    assert len(list((tmp_path / "art").rglob("adapter_model.safetensors"))) == 3
    assert torch.equal(loaded.model(input_ids=probe_ids).logits, before)
    assert "lora" not in type(loaded.model.model.layers[0].self_attn.q_proj).__module__
    # stored row by row: per-example results for zero-shot and every size
    assert len(reloaded["examples"]) == 40 * 4
    report = _render(result, tmp_path)
    assert "Fine-tuning trial" in report and "lower bound" in report and "McNemar" in report
    assert f"95% interval of the ratio: {ev['forgetting_ratio_low']:.2f}–{ev['forgetting_ratio_high']:.2f}" in report
    assert "95% interval of the crossover, read off the curve's band: " in report
    # a fitted crossover below the smallest size trained is not quoted as a number of examples
    result.summary["crossover"] = {"examples": 3, "within_reach": True, "how": "fitted"}
    result.evidence["crossover_examples"] = 3
    assert "already at the smallest size trained (8 examples)" in _render_text(result)
    result.evidence["crossover_examples"] = 20
    assert "at about **20 examples**" in _render_text(result)


def _render(result: ProbeResult, tmp_path) -> str:
    from advisor.report.render import environment

    charts = LoraProbe().charts(result, tmp_path / "charts")
    assert charts["learning_curve"].stat().st_size > 1000
    return environment().get_template("probe_lora.md.j2").render(result=result.model_dump(mode="json"),
                                                                 charts={"learning_curve": "c.png"})


def test_prompt_tuning_trains_a_soft_prompt(tickets, tiny_lm_path, tmp_path):
    result = run_probe("lora", config(tickets, tiny_lm_path, method="prompt-tuning", sizes=[16], epochs=4,
                                      learning_rate=3e-2), None, artifacts_dir=tmp_path)
    zero = [e for e in result.examples if e.params["examples"] == 0]
    tuned = [e for e in result.examples if e.params["examples"] == 16]
    assert result.evidence["method"] == "prompt-tuning" and len(tuned) == len(zero) == 40
    point = result.summary["points"][0]
    assert point["loss_last"] < point["loss_first"] and point["trainable_params"] == 20 * 32
    assert list(tmp_path.rglob("adapter_config.json"))
    assert "projected_accuracy" not in result.evidence  # one size: no curve, no extrapolation


def test_a_spent_budget_measures_nothing_and_says_what_would_do(tickets, tiny_lm_path, tmp_path):
    result = run_probe("lora", config(tickets, tiny_lm_path), None, budget_seconds=1e-6, artifacts_dir=tmp_path)
    assert result.status == "empty" and result.summary["points"] == []
    assert result.summary["budget_needed"] > 0
    assert any("time budget" in n for n in result.notes)
    assert result.evidence["complete"] is False and "zero_shot_accuracy" in result.evidence
    assert "No adapter finished" in _render_text(result)


def _run_with_clock(monkeypatch, cfg, deadline, tmp_path):
    """The run with a fake clock for the deadline checks, every reading one second later; the next-size prediction
    (real training time against fake time left: a slow machine would stop before the size to cut inside) is held
    off, the clock read as often as before."""
    import itertools
    from types import SimpleNamespace

    from advisor.probes.common.base import ProbeContext
    from advisor.probes.lora.run import LoraRun

    def no_prediction(run, size):
        return "budget spent" if run.ctx.out_of_time() else run.ctx.time_left() and None

    clock = SimpleNamespace(monotonic=itertools.count(1.0).__next__)
    monkeypatch.setattr("advisor.probes.common.base.time", clock)
    monkeypatch.setattr(LoraRun, "_stop_reason", no_prediction)
    ctx = ProbeContext(result=ProbeResult(probe="lora"), deadline=deadline, artifacts_dir=tmp_path)
    return LoraProbe().run(cfg, ctx)


@pytest.mark.parametrize("deadline, points", [(5.0, 0), (34.0, 1)])
def test_lora_stops_inside_a_size_and_keeps_what_it_measured(monkeypatch, tickets, tiny_lm_path, tmp_path,
                                                               deadline, points):
    """With a fake clock (one second per deadline check, one check per training step) the budget runs out in
    the middle of the first size, or of the second: the unfinished adapter is dropped, the finished sizes kept."""
    cfg = config(tickets, tiny_lm_path, sizes=[8, 16], epochs=None, batch_size=8)
    result = _run_with_clock(monkeypatch, cfg, deadline, tmp_path)
    assert len(result.summary["points"]) == points
    cut = next(n for n in result.notes if "inside the" in n)
    assert f"inside the {[8, 16][points]}-example size" in cut and "training steps" in cut
    assert result.status == ("empty" if points == 0 else "partial")


def test_a_standalone_probe_that_measured_nothing_is_one_error_line(tickets, tiny_lm_path, tmp_path):
    from click.testing import CliRunner

    from advisor.cli import cli

    data, template = tickets
    out = CliRunner().invoke(cli, ["probe", "lora", "--data", str(data), "--model", str(tiny_lm_path),
                                   "--template", str(template), "--budget", "0.001s", "--db", str(tmp_path / "a.db")])
    assert out.exit_code == 2, out.output
    lines = [line for line in out.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "measured nothing within --budget 0s" in lines[0] and "would measure" in lines[0]


def _render_text(result: ProbeResult) -> str:
    from advisor.report.render import environment

    return environment().get_template("probe_lora.md.j2").render(result=result.model_dump(mode="json"), charts={})


# -- bad input -------------------------------------------------------------------------------
def test_free_text_labels_are_refused(tmp_path, tiny_lm_path):
    data = tmp_path / "qa.jsonl"
    data.write_text("\n".join(json.dumps({"id": i, "text": f"q{i}", "label": f"answer number {i}"}) for i in range(60)))
    with pytest.raises(ProbeError, match="classification accuracy"):
        run_probe("lora", LoraProbeConfig(data=data, model=ModelSpec(name=str(tiny_lm_path))), None)


def test_unknown_gpu_and_module_are_input_errors(tickets, tiny_lm_path, tmp_path):
    with pytest.raises(InputError, match="--gpu 'v100'"):
        run_probe("lora", config(tickets, tiny_lm_path, gpu="v100"), None)
    with pytest.raises(InputError, match="no module named c_attn"):
        run_probe("lora", config(tickets, tiny_lm_path, target_modules=["c_attn"]), None, artifacts_dir=tmp_path)


def test_config_rejects_bad_sizes():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="training-set sizes"):
        LoraProbeConfig(data="x.jsonl", sizes=[0, 16])
    assert LoraProbeConfig(data="x.jsonl", sizes=[64, 16, 16]).sizes == [16, 64]


def test_cli_bad_input_is_one_line_exit_2(tmp_path):
    from click.testing import CliRunner

    from advisor.cli import cli

    out = CliRunner().invoke(cli, ["probe", "lora", "--data", str(tmp_path / "missing.jsonl"),
                                   "--db", str(tmp_path / "db.duckdb")])
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert "missing.jsonl: no such file" in out.output


@pytest.mark.slow
def test_default_model_learns_on_cpu(tickets, tmp_path):
    """The embedded default (real weights, fp32 on a CPU), default learning rate."""
    result = run_probe("lora", config(tickets, "smollm2-135m", sizes=[16, 32], epochs=3, learning_rate=None,
                                      eval_size=40), None, artifacts_dir=tmp_path)
    ev = result.evidence
    assert result.status == "done" and ev["best_accuracy"] >= 0.8
    assert ev["best_accuracy"] > ev["zero_shot_accuracy"] + 0.1


def test_assess_lists_a_probe_that_measured_nothing_with_the_budget_that_would_do(tickets, tiny_lm_path, tmp_path,
                                                                                answers_file):
    from click.testing import CliRunner

    from advisor.cli import cli

    data, _ = tickets
    out = CliRunner().invoke(cli, ["assess", "--no-input", "--answers", str(answers_file()), "--data", str(data),
                                   "--model", str(tiny_lm_path), "--probes", "lora", "--budget", "0.001s",
                                   "--out", str(tmp_path / "r.md")])
    assert out.exit_code == 0, out.output
    report = (tmp_path / "r.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| lora |"))
    assert "not measured within its 0s share of the budget" in row and "would measure its first point" in row










def test_warm_start_continues_one_adapter_with_fewer_steps_and_restores_the_model(tickets, tiny_lm_path, tmp_path):
    import torch

    from advisor.probes.common.runtime import load_causal_lm

    cfg = config(tickets, tiny_lm_path, sizes=[8, 16, 32], epochs=None, warm_start=True)
    loaded = load_causal_lm(cfg.model)
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    flags = {k: p.requires_grad for k, p in loaded.model.named_parameters()}
    result = run_probe("lora", cfg, None, artifacts_dir=tmp_path)
    points = result.summary["points"]
    assert [p["examples"] for p in points] == [8, 16, 32]
    assert points[0]["steps"] >= WARM_FIRST_STEPS and all(p["steps"] < points[0]["steps"] for p in points[1:])
    after = loaded.model.state_dict()
    assert set(after) == set(before) and all(torch.equal(before[k], after[k]) for k in before)
    assert {k: p.requires_grad for k, p in loaded.model.named_parameters()} == flags




def test_a_probe_after_the_budget_is_spent_is_not_started(tickets, tiny_lm_path, tmp_path, answers_file):
    from click.testing import CliRunner

    from advisor.cli import cli

    data, _ = tickets
    text = tmp_path / "domain.txt"
    text.write_text("Invoices are finalized once the VAT rates are checked. " * 30)
    out = CliRunner().invoke(cli, ["assess", "--no-input", "--answers", str(answers_file()), "--data", str(data),
                                   "--domain-text", str(text), "--model", str(tiny_lm_path), "--probes", "lora,domain",
                                   "--budget", "0.001s", "--out", str(tmp_path / "r.md")])
    assert out.exit_code == 0, out.output
    report = (tmp_path / "r.md").read_text()
    assert "not run: the probes before it used the whole time budget" in report


@pytest.mark.parametrize("crossover, expected", [
    ({"examples": 20, "within_reach": True, "how": "fitted"}, "crossover ≈ 20 examples (fitted)"),
    ({"examples": 16, "within_reach": True, "how": "measured"}, "crossover ≈ 16 examples (measured)"),
    ({"examples": 900, "within_reach": False, "how": "fitted"}, "crossover ≈ 900 examples (fitted, beyond reach)"),
    ({"examples": 2, "within_reach": True, "how": "fitted"}, "crossover: below 8 examples"),
    ({"examples": None, "within_reach": False, "how": "never"}, None),
    ({"examples": 20, "within_reach": True, "how": "fitted", "low": 14.0, "high": 31.0},
     ["crossover 95% interval", "crossover ≈ 20 examples (fitted)"]),
])
def test_the_learning_curve_chart_marks_the_crossover_with_the_few_shot_line(crossover, expected):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from advisor.probes.lora.analysis import _plot_crossover

    fig, ax = plt.subplots()
    summary = {"points": [{"examples": n, "accuracy": a} for n, a in ((8, 0.3), (16, 0.5), (32, 0.6))],
               "few_shot_best": 0.4, "crossover": crossover}
    _plot_crossover(ax, summary)
    labels = ax.get_legend_handles_labels()[1]
    plt.close(fig)
    assert labels == (expected if isinstance(expected, list) else [expected] if expected else [])


@pytest.mark.parametrize("same_template", [True, False])
def test_the_zero_shot_baseline_reuses_the_few_shot_runs_k0_predictions_only_when_it_is_the_same_measurement(
        tickets, tiny_lm_path, tmp_path, monkeypatch, same_template):
    """In an assessment the few-shot probe scored the same prompts on the same model at k=0: the LoRA probe
    takes those predictions instead of scoring again; with another prompt template it scores its own."""
    from advisor.probes.few_shot.spec import FewShotConfig
    from advisor.probes.lora.run import LoraRun

    data, template = tickets
    evaluations = []
    original = LoraRun._evaluate
    monkeypatch.setattr(LoraRun, "_evaluate", lambda self, model: evaluations.append(1) or original(self, model))
    with Store(tmp_path / "db.duckdb") as store:
        few = run_probe("few-shot", FewShotConfig(data=data, template=template if same_template else None,
                                                  model=ModelSpec(name=str(tiny_lm_path)), k=[0], eval_size=40),
                        store)
        result = run_probe("lora", config(tickets, tiny_lm_path, few_shot_run_id=few.run_id, sizes=[8], epochs=2),
                           store, artifacts_dir=tmp_path / "art")
        stored = store.load_probe_result(store.find_completed_run("lora", result.fingerprint))
    zero = result.summary["zero_shot"]
    lora_k0 = {e["example_id"]: e["prediction"] for e in stored["examples"] if e["params"]["method"] == "none"}
    few_k0 = {e.example_id: e.prediction for e in few.examples if e.params["k"] == 0}
    assert len(lora_k0) == len(few_k0) == 40
    if same_template:
        assert zero.get("from_few_shot_run") == few.run_id and len(evaluations) == 1  # the adapter's only
        assert lora_k0 == few_k0 and zero["accuracy"] == few.evidence["zero_shot_accuracy"]
        assert any(f"few-shot run #{few.run_id}" in n for n in result.notes)
        assert f"the k=0 measurement of few-shot run #{few.run_id}" in _render_text(result)
    else:
        assert "from_few_shot_run" not in zero and len(evaluations) == 2
        assert "k=0 measurement" not in _render_text(result)


def test_a_run_cut_after_three_sizes_keeps_the_fitted_curve_with_its_band(tickets, tiny_lm_path, tmp_path,
                                                                          monkeypatch):
    """Sizes in between publish without the bootstrap band; the end of the run, here a Ctrl-C inside the fourth
    size, publishes with it: the stored (interrupted) run has the fit, the band and the projection's interval."""
    import advisor.probes.lora.training as training

    real_train, calls = training.train, []

    def train(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_train(*args, **kwargs)

    monkeypatch.setattr(training, "train", train)
    with Store(tmp_path / "db.duckdb") as store:
        with pytest.raises(KeyboardInterrupt):
            run_probe("lora", config(tickets, tiny_lm_path, sizes=[8, 16, 24, 48], epochs=2), store,
                      artifacts_dir=tmp_path / "art")
        row = store.con.execute("SELECT id, status FROM probe_runs WHERE probe = 'lora'").fetchone()
        stored = store.load_probe_result(row[0])
    s = stored["summary"]
    assert row[1] == "interrupted" and [p["examples"] for p in s["points"]] == [8, 16, 24]
    assert s["fit"] is not None and s["band"]["low"] is not None and s["projection"]["low"] is not None
