"""The built-in rulebook's text in a French report: every label, summary, rationale, risk, next step and exclusion
reason has a translation (rules/locale/fr.po, or templates/locale/fr/ for strategy labels and matrix cells) that
keeps the same ``{name}`` fields, and a next step filled with its values comes back in French with them."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.decision.rulebook import load_rulebook
from advisor.report.i18n import Translator, catalog_files, template_fields, translator
from advisor.resources import rules_dir

#: texts whose French is the English word itself (product names and loanwords the report keeps)
SAME_IN_FRENCH = {"Prompt engineering", "Fine-tuning", "RAG + prompt engineering", "RAG + fine-tuning", "Budget"}
#: a value for every placeholder, each distinct so a misplaced value shows
SAMPLE = {"eval_size": 412, "best_k": 7, "chunk_size": 384, "labels_target": "2,500",
          "method": "LoRA / adapters (PEFT)"}


def rulebook_texts() -> list[tuple[str, str]]:
    """(where, English text) for every text of the built-in rulebook that a report can show."""
    rulebook = load_rulebook()
    found = [(f"group {name}: label", meta["label"]) for name, meta in rulebook.groups.items()]
    for name, meta in rulebook.strategies.items():
        found += [(f"strategy {name}: label", meta["label"]), (f"strategy {name}: summary", meta["summary"])]
        found += [(f"strategy {name}: matrix {cell}", text) for cell, text in (meta.get("matrix") or {}).items()]
        found += [(f"strategy {name}: next_steps", text) for text in meta.get("next_steps") or []]
    for rule in rulebook.rules:
        found += [(f"rule {rule.id}: rationale", rule.rationale)]
        found += [(f"rule {rule.id}: risk", rule.risk)] if rule.risk else []
        found += [(f"rule {rule.id}: next_step", rule.next_step)] if rule.next_step else []
        found += [(f"rule {rule.id}: exclude {s}", reason) for s, reason in rule.exclude.items()]
    return found


def next_steps() -> list[tuple[str, str]]:
    return [(where, text) for where, text in rulebook_texts() if "next_step" in where]


def names(template: str) -> set[str]:
    return {name for _text, name in template_fields(template) if name}


def test_the_rulebook_catalog_is_read_with_the_reports():
    assert Path(rules_dir()) / "locale" / "fr.po" in catalog_files("fr")
    assert len(rulebook_texts()) > 200


def untranslated(messages: dict) -> list[str]:
    return [f"{where}: {text!r}" for where, text in rulebook_texts() if not messages.get(text)]


def test_every_rulebook_text_has_a_french_translation():
    missing = untranslated(translator("fr").messages)
    assert not missing, "add to rules/locale/fr.po:\n" + "\n".join(missing)


def test_every_translation_differs_from_the_english():
    messages = translator("fr").messages
    same = [f"{where}: {text!r}" for where, text in rulebook_texts()
            if messages.get(text) == text and text not in SAME_IN_FRENCH]
    assert not same, "still in English:\n" + "\n".join(same)


def test_every_translation_keeps_the_same_fields():
    messages = translator("fr").messages
    for where, text in rulebook_texts():
        french = messages.get(text) or text  # a missing translation is the test above's to report
        assert names(french) == names(text), f"{where}: {text!r} -> {french!r}"
        french.format(**{name: "x" for name in names(french)})  # a well-formed template
        assert "%" not in french, f"{where}: write 'pour cent' (the catalogs' messages are %-formatted)"


def test_the_next_steps_use_placeholders():
    """Guards the filled-sentence test below: it has templates to fill."""
    filled = [text for _where, text in next_steps() if names(text)]
    assert len(filled) >= 10 and set().union(*map(names, filled)) == set(SAMPLE)


@pytest.mark.parametrize("where, template",
                         [pytest.param(where, text, id=where) for where, text in next_steps() if names(text)])
def test_a_filled_next_step_comes_back_in_french_with_its_values(where, template):
    t = translator("fr")
    english = template.format(**SAMPLE)
    french = t.sentence(english)
    values = {"eval_size": "412", "best_k": "7", "chunk_size": "384", "labels_target": "2\u202f500",
              "method": t("LoRA / adapters (PEFT)")}
    assert french == t.messages[template].format(**values), where
    assert french != english
    for name in names(template):
        assert values[name] in french, f"{where}: {name}"


def test_a_rule_without_a_translation_is_caught_and_shows_in_english():
    """A rule added to the rulebook without its French: the completeness check names it, and the report shows it
    as written."""
    where, text = rulebook_texts()[-1]
    messages = {k: v for k, v in translator("fr").messages.items() if k != text}
    assert untranslated(messages) == [f"{where}: {text!r}"]
    assert Translator("fr", messages).sentence(text) == text
