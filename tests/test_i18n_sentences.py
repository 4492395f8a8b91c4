"""Sentences written in Python (``advisor.sentences.say``) reach a French report in French: every template has a
translation with the same fields, a sentence is matched back to its template, and its values are kept."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from advisor.report.i18n import Translator, catalog_files, template_fields, template_pattern, translator
from advisor.sentences import say

ROOT = Path(__file__).resolve().parents[1]


def say_templates() -> list[tuple[str, str]]:
    """(where, template) for every ``say(...)`` call in advisor's and the probes' code, and every ``tr("...")``
    (a chart's text, said in the report's language)."""
    found = []
    for folder in ("advisor", "probes"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                called = getattr(node.func, "id", None) if isinstance(node, ast.Call) else None
                if called == "tr" and node.args and isinstance(node.args[0], ast.Constant):
                    found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.args[0].value))
                elif called == "say":
                    first = node.args[0] if node.args else None
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    assert isinstance(first, ast.Constant) and isinstance(first.value, str), \
                        f"{where}: say() takes a literal template (it is the catalog's message id)"
                    found.append((where, first.value))
    return found


def names(template: str) -> set[str]:
    return {name for _text, name in template_fields(template) if name}


def test_every_python_sentence_has_a_french_translation_with_the_same_fields():
    messages = translator("fr").messages
    templates = say_templates()
    missing = [f"{where}: {t!r}" for where, t in templates if t not in messages]
    assert not missing, "add to a catalog in templates/locale/fr/:\n" + "\n".join(missing)
    for where, template in templates:
        assert names(messages[template]) == names(template), f"{where}: {template!r}"


def test_every_template_can_be_matched_back_from_its_sentence():
    """A field needs literal text on both sides (or the sentence's end): two fields side by side, or a template
    that is all fields, could not be told apart."""
    for where, template in say_templates():
        if "{" not in template:
            continue
        assert template_pattern(template) is not None, where
        parts = template_fields(template)
        for (_text, name), (after, _next) in zip(parts, parts[1:]):
            assert not name or after, f"{where}: two fields side by side in {template!r}"
        assert sum(len(text) for text, _ in parts) >= 8, f"{where}: too little literal text in {template!r}"


def test_catalogs_are_one_folder_per_language_plus_the_rulebooks():
    files = [p.name for p in catalog_files("fr")]
    assert "report.po" in files and len(files) == len(set(files))


VALUES = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters=" -_.%"),
                 min_size=1, max_size=20).filter(lambda v: v.strip() == v and v)


@settings(max_examples=50, deadline=None)
@given(VALUES, VALUES, st.integers(0, 10**7))
def test_a_sentence_comes_back_translated_with_its_own_values(a, b, n):
    english = "Between {a} and {b}, {n:,} requests a month cost less."
    t = Translator("fr", {english: "Entre {a} et {b}, {n} requêtes par mois coûtent moins.",
                          "Too close to call between {a} and {b}.": "Trop serré entre {a} et {b}."})
    out = t.sentence(say(english, a=a, b=b, n=n))
    assert out.startswith("Entre ") and out.endswith(" requêtes par mois coûtent moins.")
    assert f"{n:,}".replace(",", "\u202f") in out
    assert t.sentence("Nobody wrote this template.") == "Nobody wrote this template."


def test_a_known_phrase_inside_a_sentence_is_translated_too():
    t = Translator("fr", {"{label} fits it.": "{label} y tient.", "Prompt engineering": "Ingénierie de prompt"})
    assert t.sentence(say("{label} fits it.", label="Prompt engineering")) == "Ingénierie de prompt y tient."
    assert t.sentence(say("{label} fits it.", label="Something else")) == "Something else y tient."


@pytest.mark.parametrize("bad", ["{a}{b} and more text", "{0} positional", "{a.b} attribute"])
def test_templates_that_cannot_be_matched_back_are_caught(bad):
    parts_ok = template_pattern(bad)
    fields = template_fields(bad)
    side_by_side = any(n and not after for (_t, n), (after, _x) in zip(fields, fields[1:]))
    assert parts_ok is None or side_by_side


def test_what_would_change_the_decision_names_answers_in_words_in_both_languages():
    from advisor.decision.sensitivity import _describe
    from advisor.intake.answers import Answers, short_name

    fr = translator("fr")
    missing = [name for name in Answers.model_fields if not fr.messages.get(short_name(name))]
    assert not missing, f"answers without a French short name in templates/locale/fr/decision.po: {missing}"
    english = _describe("monthly_requests", 40_000, 500_000, "RAG")
    assert english == "with monthly requests at least 500,000 (now 40,000), RAG would rank first"
    assert fr.sentence(english) == ("si le volume mensuel de requêtes valait au moins 500\u202f000 (actuellement "
                                    "40\u202f000), RAG arriverait en tête")
    assert fr.sentence(_describe("data_may_leave", True, False, "RAG")) == \
        "si la sortie des données hors de vos locaux valait non (actuellement oui), RAG arriverait en tête"
    # a sentence stored before answers had short names, naming the key, reads the same in French
    assert fr.sentence("with monthly_requests at least 500,000 (now 40,000), RAG would rank first") == \
        fr.sentence(english)
