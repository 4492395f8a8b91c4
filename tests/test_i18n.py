"""The French report catalog: complete for the built-in templates, and faithful to each message's placeholders."""

import re
from pathlib import Path

import pytest

from advisor.report.i18n import catalog_path, translator
from advisor.report.render import environment

ROOT = Path(__file__).resolve().parents[1]
#: the report's templates and each probe's report fragment
TEMPLATES = sorted([*(ROOT / "templates").glob("*.j2"), *(ROOT / "probes").glob("*/*.j2")])
PLACEHOLDER = re.compile(r"%\((\w+)\)[-+ #0-9.]*[sdfgr]|%%")


def template_messages() -> list[str]:
    env = environment()
    found = []
    for path in TEMPLATES:
        for _line, _func, message in env.extract_translations(path.read_text(encoding="utf-8")):
            text = message if isinstance(message, str) else message[0]
            if text and text not in found:
                found.append(text)
    return found


def test_every_template_message_has_a_french_translation():
    messages = translator("fr").messages
    missing = [m for m in template_messages() if m not in messages]
    assert len(template_messages()) > 100
    assert missing == [], f"add these to {catalog_path('fr')}: {missing}"


def test_translations_keep_every_placeholder():
    for english, french in translator("fr").messages.items():
        assert sorted(PLACEHOLDER.findall(english)) == sorted(PLACEHOLDER.findall(french)), english
        french % {name: 1 for name in PLACEHOLDER.findall(english) if name}  # formats without error


def test_an_unknown_language_is_one_error_line():
    from click.testing import CliRunner

    from advisor.cli import cli

    result = CliRunner().invoke(cli, ["report", "1", "--lang", "de"])
    assert result.exit_code == 2 and "--lang" in result.output and "'de' is not one of 'en', 'fr'" in result.output


def test_an_untranslated_phrase_shows_in_english_and_english_needs_no_catalog():
    assert translator("fr")("A sentence nobody translated.") == "A sentence nobody translated."
    assert translator("en")("Executive summary") == "Executive summary"
    assert translator("fr")("Executive summary") == "Synthèse"
    with pytest.raises(Exception, match="--lang"):
        translator("xx")
