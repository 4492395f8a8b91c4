"""The language answer reaches the probes: the domain gap is measured against general text in the same language
(or not at all), the LoRA trial's forgetting on general text in it, and the RAG probe says when its embedder reads
only English."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from advisor.cli import cli
from advisor.intake.answers import Answers
from advisor.probes.common.general import GENERAL_SAMPLES, bundled_general
from advisor.probes.common.spec import AssessInputs
from tests.helpers import BASE_ANSWERS, EXAMPLE

FRENCH = ("Le client ouvre un ticket lorsque la facture mensuelle ne correspond pas au devis signé. L’agent vérifie "
          "la ligne de remise, recalcule la TVA intracommunautaire et relance la synchronisation avec le logiciel "
          "comptable. ") * 12


def answers(**kw) -> Answers:
    return Answers.model_validate({**BASE_ANSWERS, **kw})


def test_the_language_answer_is_a_two_letter_code_or_one_error_line(tmp_path):
    assert answers(language=" FR ").language == "fr" and answers().language == "en"
    path = tmp_path / "a.json"
    path.write_text(json.dumps({**BASE_ANSWERS, "language": "français"}))
    result = CliRunner().invoke(cli, ["assess", "--no-input", "--answers", str(path), "--out", str(tmp_path / "r.md")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: {path}: language: 'français' is not a language code; write its two-letter ISO 639-1 code, such as "
        "en, fr or de"]


def test_every_bundled_general_sample_is_everyday_text_of_comparable_length():
    words = {lang: len(bundled_general(lang).read_text(encoding="utf-8").split()) for lang in GENERAL_SAMPLES}
    assert set(words) == {"en", "fr"} and all(900 <= n <= 1300 for n in words.values()), words
    assert bundled_general("de") is None
    assert "les" in bundled_general("fr").read_text(encoding="utf-8").split()


def test_the_planners_receive_the_language(tmp_path):
    from advisor.probes.domain.spec import plan as domain_plan
    from advisor.probes.lora.spec import plan as lora_plan
    from advisor.probes.rag.spec import plan as rag_plan

    inputs = AssessInputs(files={"domain_text": tmp_path / "d.txt", "data": EXAMPLE / "tickets.jsonl",
                                 "corpus": EXAMPLE / "docs", "qa": EXAMPLE / "qa.jsonl"})
    assert domain_plan(answers(language="fr"), inputs).config["language"] == "fr"
    assert lora_plan(answers(language="fr"), inputs).config["language"] == "fr"
    assert rag_plan(answers(language="fr", has_corpus=True), inputs).config["language"] == "fr"
    # compared with English, German text would measure the language, not the domain: skipped, with the way out
    skipped = domain_plan(answers(language="de"), inputs)
    assert skipped.config is None
    assert "no bundled general-text sample in 'de'" in skipped.skip_reason and "--general FILE" in skipped.skip_reason


def test_the_domain_gap_of_french_text_is_measured_against_general_french(tmp_path, tiny_base_lm_path):
    from advisor.evidence.probe_runner import run_probe
    from advisor.probes.common.runtime import ModelSpec
    from advisor.probes.domain.spec import DomainConfig
    from advisor.report.render import environment

    text = tmp_path / "d.txt"
    text.write_text(FRENCH, encoding="utf-8")
    common = {"text": text, "model": ModelSpec(name=str(tiny_base_lm_path)), "window": 32, "max_tokens": 256}
    french = run_probe("domain", DomainConfig(language="fr", **common))
    english = run_probe("domain", DomainConfig(**common))
    assert french.summary["general_name"] == "general French" and english.summary["general_name"] == "general English"
    assert "as general French" in french.headline
    # not the same comparison: the general samples differ
    assert french.evidence["general_bits_per_byte"] != english.evidence["general_bits_per_byte"]
    page = environment(lang="fr").get_template("probe_domain.md.j2").render(
        result=french.model_dump(mode="json"), charts={})
    assert "### Écart de domaine (perplexité comparée avec le français général)" in page
    assert "| Le français général |" in page
    with pytest.raises(Exception, match="--language de: no bundled general-text sample"):
        run_probe("domain", DomainConfig(language="de", **common))


def test_the_probe_domain_command_takes_a_language(tmp_path):
    result = CliRunner().invoke(cli, ["probe", "domain", "--text", str(EXAMPLE / "domain.txt"), "--language", "deu",
                                      "--db", str(tmp_path / "a.duckdb")])
    assert result.exit_code == 2 and "'deu' is not a language code" in result.output


@pytest.mark.slow
def test_the_rag_probe_says_when_its_embedder_reads_only_english(tmp_path):
    from advisor.evidence.probe_runner import run_probe
    from advisor.probes.rag.spec import RagConfig

    questions = [json.loads(line) for line in (EXAMPLE / "qa.jsonl").read_text().splitlines()]
    kept = [q for q in questions if all(g.startswith("billing/") for g in q["gold_doc_ids"])][:4]
    (tmp_path / "qa.jsonl").write_text("\n".join(json.dumps(q) for q in kept) + "\n")
    common = {"corpus": EXAMPLE / "docs", "qa": tmp_path / "qa.jsonl", "chunk_sizes": [128], "open_book": False}
    french = run_probe("rag", RagConfig(language="fr", **common))
    english = run_probe("rag", RagConfig(**common))
    assert any("was trained on English text" in note for note in french.notes)
    assert not any("was trained on English text" in note for note in english.notes)
