"""The probes' charts speak the report's language: a stored assessment reported in French draws the few-shot, LoRA
and RAG charts with French titles, axes and legends, and in English with the very texts they always had.

Every text a chart draws is read off the figure just before it is saved, in English and in French (the same figure,
so the texts pair up one to one). A French text must be the catalog's translation of its English text, and every
English text must be known to the catalog: a text drawn without ``tr`` fails either way (its translation differs
from what was drawn, or the catalog does not know it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from advisor.probes.common.base import Probe, ProbeResult
from advisor.report.i18n import translator

CHARTS = ("few_shot_accuracy.png", "lora_learning_curve.png", "rag_hit_at_k.png")
NUMBER = re.compile(r"[-+\u2212]?[\d.,]+%?")  # tick labels and values drawn on their own are not sentences

FEW_SHOT = ProbeResult(probe="few-shot", summary={
    "model": "smollm2-135m", "task": "classification", "chance_accuracy": 0.25,
    "per_k": [{"k": k, "accuracy": a, "ci_low": a - 0.1, "ci_high": a + 0.1}
              for k, a in ((0, 0.3), (4, 0.45), (8, 0.5))]})
BAND = [8, 16, 32, 64, 128]
LORA = {"method": "lora", "model": "smollm2-135m", "eval_size": 60, "zero_shot": {"accuracy": 0.25},
        "points": [{"examples": n, "accuracy": a} for n, a in ((8, 0.4), (16, 0.5), (32, 0.6), (64, 0.65))],
        "band": {"x": BAND, "fit": [0.42, 0.5, 0.58, 0.64, 0.68], "low": [0.35, 0.44, 0.52, 0.57, 0.6],
                 "high": [0.5, 0.57, 0.64, 0.71, 0.76]},
        "few_shot_best": 0.45, "few_shot": {"label": "8-shot"}, "available_examples": 300,
        "crossover": {"examples": 20, "low": 14.0, "high": 31.0, "how": "fitted", "within_reach": True}}
RAG = ProbeResult(probe="rag", summary={"ks": [1, 3, 5], "n_queries": 40, "sizes": [
    {"chunk_size": size, "dense": {"hit@1": 0.5, "hit@3": 0.7, "hit@5": 0.8},
     "bm25": {"hit@1": 0.4, "hit@3": 0.6, "hit@5": 0.75}} for size in (128, 256)]})

ENGLISH = {  # the charts' texts as they were before they followed the report's language
    "few_shot_accuracy.png": ["demonstrations (k)", "accuracy", "Few-shot, smollm2-135m", "majority class",
                              "accuracy (95% CI)"],
    "lora_learning_curve.png": ["training examples (log scale)", "eval accuracy",
                                "LoRA learning curve on smollm2-135m (60 held-out examples)", "fitted curve",
                                "95% band", "zero-shot", "8-shot (best few-shot)", "your labeled data",
                                "crossover 95% interval", "crossover ≈ 20 examples (fitted)", "LoRA (95% CI)"],
    "rag_hit_at_k.png": ["k (results read)", "hit@k (share of questions)",
                         "Retrieval hit rate, dense vs BM25, on 40 questions", "dense, 128-token chunks",
                         "bm25, 128-token chunks", "dense, 256-token chunks", "bm25, 256-token chunks"],
}


@pytest.fixture
def drawn(monkeypatch):
    """``drawn[file name]``: the texts of the figure saved under that name, in drawing order (the last save); a
    text a chart wrapped onto two lines reads as one."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    texts: dict[str, list[str]] = {}
    real = Figure.savefig

    def savefig(fig, fname, *args, **kwargs):
        found = [t.get_text() for t in fig.findobj(Text) if t.get_text().strip()]
        texts[Path(str(fname)).name] = [t.replace("\n", " ") for t in found]
        return real(fig, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return texts


def words(texts: list[str]) -> list[str]:
    return [t for t in texts if not NUMBER.fullmatch(t.strip())]


def known(text: str) -> bool:
    """The French catalog has ``text``, or a template that ``text`` was made from."""
    fr = translator("fr")
    return text in fr.messages or any(pattern.fullmatch(text) for pattern, _template, _ in fr.patterns())


def assert_said_in_french(english: list[str], french: list[str]) -> None:
    fr = translator("fr")
    assert len(english) == len(french)
    for en, said in zip(english, french):
        if NUMBER.fullmatch(en.strip()):
            assert said == en
            continue
        assert known(en), f"chart text {en!r}: wrap it in tr(...) and add its French to templates/locale/fr/"
        assert said == fr.sentence(en), f"chart text {en!r} was drawn as {said!r}: is it wrapped in tr(...)?"


def _stored_assessment(tmp_path, monkeypatch) -> int:
    """An assessment through the real flow, with the three probes' results stored and attached to it."""
    from advisor import assessment
    from advisor.evidence.evidence_set import EvidenceSet
    from advisor.evidence.orchestrate import Inputs
    from advisor.intake.answers import Answers
    from advisor.store.database import Store
    from tests.helpers import BASE_ANSWERS

    runs = [FEW_SHOT.model_copy(deep=True), ProbeResult(probe="lora", summary=LORA), RAG.model_copy(deep=True)]

    def gather(answers, inputs, store, assessment_id, *args, **kwargs):
        for run in runs:
            run.run_id = store.start_probe_run(run.probe, f"fp-{run.probe}", {}, assessment_id)
            store.finish_probe_run(run.run_id, run, "done")
        return EvidenceSet(results=runs)

    monkeypatch.setattr(assessment, "gather", gather)
    with Store(tmp_path / "db.duckdb") as store:
        outcome = assessment.assess(Answers.model_validate(BASE_ANSWERS), store=store, command="advisor assess",
                                    inputs=Inputs(files={}), out=tmp_path / "first.md")
    return outcome.document.id


def test_a_stored_report_in_french_draws_the_probe_charts_in_french(tmp_path, monkeypatch, drawn):
    from advisor.cli import cli

    # the probe sections' templates read more of a result than these charts do; this test is about the charts
    monkeypatch.setattr("advisor.report.render._render_template", lambda env, context, templates: "")
    assessment_id = _stored_assessment(tmp_path, monkeypatch)
    texts = {}
    for lang in ("en", "fr"):
        drawn.clear()
        out = tmp_path / lang / "report.md"
        result = CliRunner().invoke(cli, ["report", str(assessment_id), "--lang", lang, "--out", str(out),
                                          "--db", str(tmp_path / "db.duckdb")])
        assert result.exit_code == 0, result.output
        assert all((out.parent / "report_files" / name).stat().st_size > 1000 for name in CHARTS)
        texts[lang] = {name: drawn[name] for name in CHARTS}
    for name in CHARTS:
        assert sorted(words(texts["en"][name])) == sorted(ENGLISH[name]), name
        assert_said_in_french(texts["en"][name], texts["fr"][name])
    french = {t for name in CHARTS for t in texts["fr"][name]}
    assert {"classe majoritaire", "exactitude (IC à 95\u00a0%)", "Few-shot sur smollm2-135m",
            "Courbe d’apprentissage LoRA sur smollm2-135m (60 exemples réservés)", "8-shot (meilleur few-shot)",
            "croisement ≈ 20 exemples (ajusté)", "intervalle à 95\u00a0% du croisement",
            "dense, segments de 128 jetons", "Taux de réussite de la recherche, dense face à BM25, sur 40 questions",
            } <= french


@pytest.mark.parametrize("changes", [
    {"method": "prompt-tuning", "few_shot": None},
    {"crossover": {"examples": 16, "how": "measured", "within_reach": True}},
    {"crossover": {"examples": 900, "how": "measured", "within_reach": False}},
    {"crossover": {"examples": 900, "how": "fitted", "within_reach": False}, "model": None},
    {"crossover": {"examples": 2, "how": "fitted", "within_reach": True}},
])
def test_every_learning_curve_label_has_its_french(tmp_path, drawn, changes):
    from advisor.probes.lora.analysis import learning_curve_chart

    result = ProbeResult(probe="lora", summary={**LORA, **changes})
    texts = {}
    for lang in ("en", "fr"):
        learning_curve_chart(result, tmp_path / lang, translator(lang).sentence)
        texts[lang] = drawn["lora_learning_curve.png"]
    assert_said_in_french(texts["en"], texts["fr"])
    assert texts["en"] != texts["fr"]


def test_a_probe_whose_charts_take_no_tr_still_draws_them(tmp_path):
    from advisor.report.render import draw_charts

    said = []

    class Before(Probe):  # a plugin written before charts took the report's language
        fingerprint = run = None

        def charts(self, result, out_dir):
            return {"plain": out_dir / "plain.png"}

    class Speaking(Before):
        def charts(self, result, out_dir, tr=lambda text: text):
            said.append(tr("majority class"))
            return {}

    result = ProbeResult(probe="x")
    assert draw_charts(Before(), result, tmp_path, translator("fr").sentence) == {"plain": tmp_path / "plain.png"}
    assert draw_charts(Speaking(), result, tmp_path, translator("fr").sentence) == {} and said == ["classe majoritaire"]
