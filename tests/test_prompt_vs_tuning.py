"""The prompting ceiling against the LoRA learning curve: the crossover read off a known curve, stated only when
both figures come from the same model (and never a decision fact otherwise), and the report's subsection and
chart rendered from stored runs of both probes (a real LoRA trial on the tiny model, a real prompt search against
a deterministic OpenAI-compatible model)."""

from __future__ import annotations

import shutil

import pytest

from advisor.evidence.evidence_set import EvidenceSet
from advisor.evidence.prompt_vs_tuning import comparison, crossover_facts, crossing, model_identity
from advisor.probes.common.base import ProbeResult
from tests.test_prompt_probe import server  # noqa: F401 (a fixture: the model of known behaviour)

SIZES = (8, 16, 32, 64)


def known(n: float) -> float:
    """The curve the points are read from: 0.9 - 0.8 / sqrt(n) (25%, 70%, 80% at 1, 16, 64 examples)."""
    return 0.9 - 0.8 * n ** -0.5


def read(ceiling: float, low: float, high: float, n_eval: int = 10**9) -> dict:
    """The known curve's points read against a ceiling, on so many eval examples that its band is the curve
    (to the fit's tolerance)."""
    return crossing(tuple((n, known(n)) for n in SIZES), n_eval, 1000, 0, ceiling, low, high)["crossover"]


def test_the_crossover_with_the_ceiling_is_where_the_known_curve_reaches_it():
    """By hand: 0.9 - 0.8/sqrt(n) = c gives n = (0.8 / (0.9 - c))^2: 256 examples for 85%; the interval's ends
    are the same reading at the ceiling's ends, 84% (177.8) and 86% (400), to the resolution of the grid (sizes
    2.8% apart from 8 to 640) and the fit's tolerance."""
    cross = read(0.85, 0.84, 0.86)
    assert cross["status"] == "crosses" and cross["how"] == "fitted" and cross["within_reach"]
    assert abs(cross["examples"] - 256) <= 1
    assert 170 <= cross["low"] <= 178 and 400 <= cross["high"] <= 425
    # a wider ceiling interval widens the crossover's: 83% -> 130.6, 87% -> 711, beyond 10 x 64 = 640 examples
    wide = read(0.85, 0.83, 0.87)
    assert 125 <= wide["low"] <= 131 and wide["high"] is None and wide["examples"] == cross["examples"]


def test_the_band_widens_the_crossover_interval_beyond_the_ceilings():
    """On 200 eval examples the curve's own uncertainty adds to the ceiling's: a wider interval around the same
    crossover."""
    tight, loose = read(0.85, 0.84, 0.86), read(0.85, 0.84, 0.86, n_eval=200)
    assert loose["low"] is None or loose["low"] < tight["low"]
    assert loose["high"] is None or loose["high"] > tight["high"]
    assert abs(loose["examples"] - 256) <= 40


@pytest.mark.parametrize("ceiling, status, examples", [
    (0.50, "above_at_smallest", 4),  # (0.8 / 0.4)^2 = 4, below the smallest size trained
    (0.88, "beyond_reach", 1600),  # (0.8 / 0.02)^2 = 1600 > 640
    (0.95, "levels_off", None),  # above the curve's top, 90%
])
def test_above_at_the_smallest_size_or_not_within_reach(ceiling, status, examples):
    cross = read(ceiling, ceiling - 0.01, min(1.0, ceiling + 0.01))
    assert cross["status"] == status
    assert cross["examples"] == examples if examples is None else abs(cross["examples"] - examples) <= 1


def test_two_sizes_give_no_curve_and_a_crossover_only_when_measured():
    two = ((8, 0.3), (16, 0.5))
    assert crossing(two, 200, None, 0, 0.6, 0.55, 0.65)["crossover"]["status"] == "unknown"
    measured = crossing(two, 200, None, 0, 0.4, 0.35, 0.45)["crossover"]
    assert measured["how"] == "measured" and measured["examples"] == 16 and measured["status"] == "crosses"
    assert measured["low"] is None and measured["high"] is None


# -- whose evidence -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("a, b, same", [
    ("smollm2-135m", "smollm2-135m", True),
    ("smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct @ http://localhost:8000/v1", True),  # the alias's hub id
    ("/srv/weights/Llama-3.1-8B-Instruct/", "meta-llama/Llama-3.1-8B-Instruct @ http://gpu:8000/v1", True),
    ("team-8b", "team-8b @ https://api.example.com/v1", True),
    ("smollm2-135m", "team-8b @ http://localhost:8000/v1", False),
    ("/srv/weights/Llama-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct @ http://gpu:8000/v1", False),
])
def test_the_same_model_is_read_from_the_names(a, b, same):
    assert (model_identity(a) == model_identity(b)) is same


def _lora(model: str, fingerprint: str = "data-1") -> ProbeResult:
    points = [{"examples": n, "accuracy": round(known(n), 4)} for n in SIZES]
    return ProbeResult(probe="lora", evidence={"best_accuracy": points[-1]["accuracy"], "eval_size": 400},
                       summary={"model": model, "method": "lora", "points": points, "eval_size": 400,
                                "available_examples": 300, "settings": {"seed": 0}},
                       artifacts={"dataset_fingerprint": fingerprint})


def _prompt(model: str, on_target: bool, fingerprint: str = "data-1") -> ProbeResult:
    """A ceiling of 75% (74–76%): the known curve reaches it at (0.8 / 0.15)^2 = 28.4 examples."""
    return ProbeResult(probe="prompt", evidence={"best_accuracy": 0.75, "best_accuracy_low": 0.74,
                                                 "best_accuracy_high": 0.76, "on_target": on_target,
                                                 "eval_size": 400, "naive_accuracy": 0.6, "naive_k": 4},
                       summary={"model": model, "data": "tickets.jsonl", "chosen": "task/strict/nearest/k=4"},
                       artifacts={"dataset_fingerprint": fingerprint})


def _proxy_few_shot(accuracy: float) -> ProbeResult:
    return ProbeResult(probe="few-shot", evidence={"task": "classification", "best_accuracy": accuracy,
                                                   "eval_size": 400, "chance_accuracy": 0.34},
                       summary={"model": "smollm2-135m", "model_role": "proxy"})


def test_a_crossover_across_models_is_drawn_but_never_a_fact():
    from advisor.evidence.interpret import decision_facts

    prompt, lora = _prompt("team-8b @ http://localhost:8000/v1", True), _lora("smollm2-135m")
    found = comparison(prompt, lora)
    assert found["same_model"] is False and found["crossover"] is None
    assert found["command"] == ("advisor probe lora --data tickets.jsonl --model team-8b --eval-size 400 "
                                "--available-examples 300")
    sources = []
    assert crossover_facts(prompt, lora, competent=True, add_source=sources.append) == {} and sources == []
    facts, reading = decision_facts(EvidenceSet(results=[prompt, lora, _proxy_few_shot(0.8)]))
    assert "prompt_vs_tuning" not in facts
    assert not [s for s in reading.sources if s.name.startswith("prompt_vs_tuning")]
    # the other way round: a ceiling on the probe model, a curve on another model -> the prompt search on it
    other = comparison(_prompt("smollm2-135m", False), _lora("/srv/weights/team-8b"))
    assert other["command"] == "advisor probe prompt --data tickets.jsonl --model /srv/weights/team-8b --eval-size 400"


def test_the_same_model_gives_interval_facts_a_rule_can_read():
    from advisor.decision.rulebook import fact_type
    from advisor.evidence.interpret import decision_facts

    prompt, lora = _prompt("team-8b @ http://localhost:8000/v1", True), _lora("/srv/weights/team-8b")
    facts, reading = decision_facts(EvidenceSet(results=[prompt, lora]))
    ours = facts["prompt_vs_tuning"]
    assert ours["on_target"] is True and ours["crossover_examples"] == 29
    assert 8 <= ours["crossover_examples_low"] < 29 < ours["crossover_examples_high"] <= 64
    source = next(s for s in reading.sources if s.name == "prompt_vs_tuning.crossover_examples")
    assert source.role == "target" and source.model == "/srv/weights/team-8b" and source.low is not None
    for name in ("crossover_examples", "crossover_examples_low", "crossover_examples_high", "on_target"):
        assert fact_type(f"prompt_vs_tuning.{name}") is not None


RULE = """
rules:
  - id: ev-tuning-overtakes-the-engineered-prompt
    group: ev_tuning
    when: {field: prompt_vs_tuning.crossover_examples_high, lte: {field: labeled_examples}}
    effect: {fine_tuning: 1}
    rationale: The adapter overtakes the engineered prompt on the same model within the labels you have.
    source: "A team's own rule"
"""


def test_a_rule_reads_the_crossover_through_its_interval_and_never_across_models(tmp_path):
    from advisor.decision.recommend import build_facts, fire
    from advisor.decision.rulebook import load_rulebook
    from advisor.evidence.interpret import decision_facts
    from tests.helpers import BASE_ANSWERS

    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "mine.yaml").write_text(RULE)
    rulebook = load_rulebook(tmp_path / "rules")

    def fired(*results, labels=300):
        facts, _ = decision_facts(EvidenceSet(results=list(results)))
        return [r.id for r in fire(rulebook, build_facts({**BASE_ANSWERS, "labeled_examples": labels}, facts))]

    target = _prompt("team-8b @ http://localhost:8000/v1", True)
    assert fired(target, _lora("/srv/weights/team-8b")) == ["ev-tuning-overtakes-the-engineered-prompt"]
    assert fired(target, _lora("/srv/weights/team-8b"), labels=40) == []  # the interval's top is above 40
    assert fired(target, _lora("smollm2-135m")) == []


def test_on_the_probe_model_only_when_it_does_the_task_and_only_on_the_same_data():
    from advisor.evidence.interpret import decision_facts

    prompt, lora = _prompt("smollm2-135m", False), _lora("smollm2-135m")
    assert "prompt_vs_tuning" not in decision_facts(EvidenceSet(results=[prompt, lora, _proxy_few_shot(0.36)]))[0]
    facts = decision_facts(EvidenceSet(results=[prompt, lora, _proxy_few_shot(0.8)]))[0]
    assert facts["prompt_vs_tuning"]["on_target"] is False and "crossover_examples" in facts["prompt_vs_tuning"]
    elsewhere = _lora("smollm2-135m", fingerprint="data-2")
    found = comparison(prompt, elsewhere)
    assert found["same_model"] and not found["comparable"] and found["crossover"] is None
    assert found["command"].startswith("advisor probe lora --data tickets.jsonl --model smollm2-135m")
    assert "prompt_vs_tuning" not in decision_facts(EvidenceSet(results=[prompt, elsewhere,
                                                                         _proxy_few_shot(0.8)]))[0]


def _text(found: dict, lang: str = "en") -> str:
    from advisor.report.render import environment

    return environment(lang=lang).get_template("prompt_vs_tuning.md.j2").render(c={**found, "chart": "c.png"},
                                                                                 lang=lang)


def test_the_subsection_states_the_crossover_with_its_interval_and_each_figures_model():
    from tests.helpers import english_left_in

    found = comparison(_prompt("team-8b @ http://localhost:8000/v1", True), _lora("/srv/weights/team-8b"))
    low, high = found["crossover"]["low"], found["crossover"]["high"]
    text = _text(found)
    assert ("**Prompting ceiling**, on your target model `team-8b @ http://localhost:8000/v1`: the prompt the prompt "
            "probe chose reaches 75.0% on 400 held-out examples (95% interval 74.0%–76.0%); the naive 4-shot prompt "
            "reaches 60.0% on the same examples.") in text
    assert "**LoRA learning curve**, on `/srv/weights/team-8b`: 4 sizes trained, from 8 to 64 examples" in text
    assert "At your 300 labeled examples it projects" in text
    assert "fine-tuning overtakes the best prompt at about **29 labeled examples**" in text
    assert f"from the curve's band and the ceiling's interval: {low:.0f}–{high:.0f} examples." in text
    assert "log-likelihood on the same weights" in text and "![Prompting ceiling" in text
    assert english_left_in(_text(found, "fr").split("\n", 1)[1]) == []
    low_only = {**found, "crossover": {**found["crossover"], "high": None}}
    assert f"{low:.0f} examples or more (the band's lower edge does not reach the top of the ceiling's interval " \
           "within 640 examples)" in _text(low_only)
    below = comparison(_prompt("smollm2-135m", False), _lora("smollm2-135m"))
    below["crossover"] = read(0.5, 0.49, 0.51)
    text = _text(below)
    assert "on the probe model `smollm2-135m`" in text and "log-likelihood" not in text
    assert "already at the smallest size trained (8 examples)" in text and "at most 8 examples" in text
    below["crossover"] = read(0.88, 0.87, 0.89)
    assert "does not overtake the best prompt within 640 examples (10 times the largest size trained): the fitted " \
           "curve reaches it only at about 1,600" in _text(below)


@pytest.mark.parametrize("lang, expected", [
    ("en", ["LoRA on team-8b (95% CI)", "fitted curve", "its 95% band", "best prompt's 95% interval",
            "best prompt on team-8b: 75%", "naive 4-shot prompt on team-8b: 60%", "your labeled data",
            "crossover 95% interval", "fine-tuning overtakes it at about 29 examples"]),
    ("fr", ["LoRA sur team-8b (IC à 95\u00a0%)", "courbe ajustée", "sa bande à 95\u00a0%",
            "intervalle à 95\u00a0% du meilleur prompt", "meilleur prompt sur team-8b : 75\u00a0%",
            "prompt naïf à 4 exemples sur team-8b : 60\u00a0%", "vos données étiquetées",
            "intervalle à 95\u00a0% du croisement", "le fine-tuning le dépasse vers 29 exemples"]),
])
def test_the_chart_labels_each_figure_with_its_model_in_the_reports_language(tmp_path, monkeypatch, lang, expected):
    import matplotlib.figure

    from advisor.report.ceiling_chart import draw
    from advisor.report.i18n import translator

    legends = []
    real_savefig = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, path, **kw: (
        legends.append([t.get_text() for t in fig.axes[0].get_legend().get_texts()]), real_savefig(fig, path, **kw)))
    found = comparison(_prompt("team-8b @ http://localhost:8000/v1", True), _lora("/srv/weights/team-8b"))
    path = draw(found, tmp_path / "c.png", translator(lang).sentence)
    assert legends == [expected] and path.stat().st_size > 20_000  # the measured points lead the legend


def test_no_comparison_without_both_results():
    assert comparison(_prompt("m", True), None) is None and comparison(None, _lora("m")) is None
    unscored = _prompt("m", True)
    unscored.evidence.pop("best_accuracy_low")
    assert comparison(unscored, _lora("m")) is None


# -- the report, from stored runs --------------------------------------------------------------------------------


def _assess(store, tmp_path, runs: list[ProbeResult], monkeypatch, name: str):
    """An assessment through the real flow whose probes are ``runs`` (stored, attached to it): decision, store,
    report from the store."""
    from advisor import assessment
    from advisor.evidence.orchestrate import Inputs
    from advisor.intake.answers import Answers
    from tests.helpers import BASE_ANSWERS

    def gather(answers, inputs, store, assessment_id, *args, **kwargs):
        for run in runs:
            store.attach_run(run.run_id, assessment_id)
        return EvidenceSet(results=runs)

    monkeypatch.setattr(assessment, "gather", gather)
    return assessment.assess(Answers.model_validate(BASE_ANSWERS), store=store, command="advisor assess",
                             inputs=Inputs(files={}), out=tmp_path / f"{name}.md")


def _subsection(report: str) -> str:
    return "### Prompting ceiling" + report.split("### Prompting ceiling", 1)[1].split("\n## ", 1)[0]


def test_the_report_shows_the_ceiling_beside_the_curve_and_whose_figures_they_are(
        tmp_path, tiny_lm_path, server, monkeypatch):  # noqa: F811 - the imported fixture
    from click.testing import CliRunner

    from advisor.cli import cli
    from advisor.evidence.probe_runner import run_probe
    from advisor.probes.common.endpoint import EndpointSpec
    from advisor.probes.common.runtime import ModelSpec
    from advisor.probes.lora.spec import LoraProbeConfig
    from advisor.probes.prompt.spec import PromptConfig
    from advisor.store.database import Store
    from tests.helpers import english_left_in
    from tests.test_prompt_probe import routing_file

    monkeypatch.setenv("ADVISOR_THREADS", "1")
    data = routing_file(tmp_path / "tickets.jsonl")
    weights = shutil.copytree(tiny_lm_path, tmp_path / "weights" / "team-model")  # the team's open weights
    common = {"data": data, "eval_size": 24}
    with Store(tmp_path / "db.duckdb") as store:
        lora = run_probe("lora", LoraProbeConfig(**common, model=ModelSpec(name=str(weights)), sizes=[8, 16, 24],
                                                 epochs=2, learning_rate=1e-2, available_examples=300), store,
                         artifacts_dir=tmp_path / "adapters")
        prompts = {name: run_probe("prompt", PromptConfig(**common, target=EndpointSpec(model=name, url=server.url),
                                                          selection_size=24, k=[0, 2], naive_k=2, max_configs=6,
                                                          embedder_backend="torch"), store)
                   for name in ("team-model", "bigger-model")}
        assert len(lora.summary["points"]) == 3 and prompts["team-model"].evidence["on_target"] is True
        same = _assess(store, tmp_path, [prompts["team-model"], lora], monkeypatch, "same")
        other = _assess(store, tmp_path, [prompts["bigger-model"], lora], monkeypatch, "other")

    text = _subsection(same.report_path.read_text())
    ceiling = prompts["team-model"].evidence
    assert f"**Prompting ceiling**, on your target model `team-model @ {server.url}`" in text
    assert f"reaches {100 * ceiling['best_accuracy']:.1f}% on 24 held-out examples" in text
    assert f"**LoRA learning curve**, on `{weights}`: 3 sizes trained, from 8 to 24 examples" in text
    assert "**Crossover.**" in text and "No crossover is stated" not in text
    assert "![Prompting ceiling against the fine-tuning curve](same_files/prompt_vs_tuning.png)" in text
    chart = tmp_path / "same_files" / "prompt_vs_tuning.png"
    assert chart.stat().st_size > 20_000 and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rec = same.document.recommendation
    assert rec.evidence_sources is not None
    found = comparison(prompts["team-model"], lora)
    assert found["same_model"] and found["comparable"]
    cross = found["crossover"]
    if cross["within_reach"] and cross["examples"] is not None:  # stated: a fact on the target model
        assert any(s["name"] == "prompt_vs_tuning.crossover_examples" and s["role"] == "target"
                   for s in rec.evidence_sources)

    text = _subsection(other.report_path.read_text())
    assert "**No crossover is stated.** The two figures come from different models: the prompting ceiling from " \
           f"`bigger-model @ {server.url}`, the learning curve from `{weights}`" in text
    assert (f"`advisor probe lora --data {data} --model bigger-model --eval-size 24 --available-examples 300`"
            in text)
    assert "**Crossover.**" not in text and "overtakes" not in text
    assert not [s for s in other.document.recommendation.evidence_sources if s["name"].startswith("prompt_vs")]
    assert (tmp_path / "other_files" / "prompt_vs_tuning.png").stat().st_size > 20_000

    # re-rendered from the store, in French and as HTML with the chart embedded
    for args in (["--lang", "fr", "--out", tmp_path / "fr.md"], ["--format", "html", "--out", tmp_path / "r.html"]):
        out = CliRunner().invoke(cli, ["report", str(other.document.id), "--db", str(tmp_path / "db.duckdb"),
                                       *map(str, args)])
        assert out.exit_code == 0, out.output
    french = _subsection((tmp_path / "fr.md").read_text().replace("### Plafond", "### Prompting ceiling", 1))
    assert "Aucun croisement n’est indiqué" in french and english_left_in(french) == []
    html = (tmp_path / "r.html").read_text()
    assert "data:image/png;base64" in html and "No crossover is stated" in html
