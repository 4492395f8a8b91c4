"""Report languages: gettext catalogs read with Babel, installed into jinja2's i18n extension, and the same
translation for the sentences advisor writes in Python and for the built-in rulebook's text.

Catalogs for a language: every ``templates/locale/<lang>/*.po`` (the templates' phrases and the Python
sentences, by stage) and ``rules/locale/<lang>.po`` (the built-in rulebook's labels, rationales, risks and
next steps). The English text is the message id, so a missing translation shows the English sentence, never a
blank. A sentence made in Python with ``advisor.sentences.say`` is stored as English; ``Translator.sentence``
finds the template it was made from and fills the translated template with the same values.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

LANGS = ("en", "fr")


class Translator:
    """``gettext``/``ngettext`` over one catalog, returning the raw translation (jinja2's new-style gettext
    fills ``%(name)s`` placeholders afterwards); calling the translator translates and fills in one step."""

    def __init__(self, lang: str, messages: dict[Any, Any]):
        self.lang = lang
        self.messages = messages
        self._patterns: list[tuple[re.Pattern, str, int]] | None = None

    def gettext(self, message: str) -> str:
        return self.messages.get(message) or message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        forms = self.messages.get((singular, plural)) or (singular, plural)
        one = n == 1 or (self.lang == "fr" and n == 0)  # French uses the singular for 0 and 1
        return forms[0] if one else forms[-1]

    def __call__(self, message: str, **values: Any) -> str:
        text = self.gettext(message)
        return text % values if values else text

    def sentence(self, text: Any, depth: int = 0) -> Any:
        """``text`` in this language: its own translation, else the translated template it was made from
        (``advisor.sentences.say``) filled with its values (each translated in turn when it is a known phrase),
        else ``text`` unchanged. Anything that is not a string is returned as it is."""
        if not isinstance(text, str) or self.lang == "en" or not text.strip():
            return text
        exact = self.messages.get(text)
        if exact:
            return exact
        for pattern, template, _ in self.patterns():
            match = pattern.fullmatch(text)
            if match is None:
                continue
            values = {name: self._value(value, depth) for name, value in match.groupdict().items()}
            try:
                return self.messages[template].format(**values)
            except (KeyError, IndexError, ValueError):
                return text
        return text

    def _value(self, value: str, depth: int) -> str:
        if NUMBER.fullmatch(value):  # the report's French grouping and percent sign (see advisor.report.render)
            return value.replace(",", "\u202f").replace("%", "\u00a0%")
        return self.sentence(value, depth + 1) if depth < 2 else value

    def patterns(self) -> list[tuple[re.Pattern, str, int]]:
        """A matcher for every translated template with ``{name}`` fields, most literal text first (a sentence
        that two templates could produce goes to the more specific one)."""
        if self._patterns is None:
            found = []
            for message in self.messages:
                if isinstance(message, str) and "{" in message:
                    compiled = template_pattern(message)
                    if compiled is not None:
                        found.append((compiled[0], message, compiled[1]))
            self._patterns = sorted(found, key=lambda item: -item[2])
        return self._patterns


NUMBER = re.compile(r"[-+]?\d{1,3}(,\d{3})*(\.\d+)?%?")


def template_fields(template: str) -> list[tuple[str, str]]:
    """(literal text, field name) pairs of a ``str.format`` template; the last name is empty after the text."""
    return [(literal, name or "") for literal, name, _spec, _conv in string.Formatter().parse(template)]


def template_pattern(template: str) -> tuple[re.Pattern, int] | None:
    """A regular expression matching what ``template`` formats to, and its literal length; ``None`` for a
    template that is not a well-formed ``str.format`` template with plain field names."""
    try:
        parts = template_fields(template)
    except ValueError:
        return None
    regex, seen, literal = [], set(), 0
    for text, name in parts:
        regex.append(re.escape(text))
        literal += len(text)
        if not name:
            continue
        if not name.isidentifier():
            return None
        regex.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
    return re.compile("".join(regex), re.DOTALL), literal


def catalog_path(lang: str) -> Path:
    """The folder of the report's catalogs for ``lang`` (one ``.po`` file per stage that writes sentences)."""
    from advisor.resources import templates_dir

    return Path(templates_dir()) / "locale" / lang


def catalog_files(lang: str) -> list[Path]:
    """Every catalog of ``lang``: the report's, by stage, then the built-in rulebook's."""
    from advisor.resources import rules_dir

    rules = Path(rules_dir()) / "locale" / f"{lang}.po"
    return [*sorted(catalog_path(lang).glob("*.po")), *([rules] if rules.is_file() else [])]


@lru_cache(maxsize=None)
def translator(lang: str = "en") -> Translator:
    """The translator for ``lang``; English needs no catalog."""
    from advisor.errors import InputError

    if lang not in LANGS:
        raise InputError(f"--lang {lang!r}: no report in that language; use one of {', '.join(LANGS)}")
    if lang == "en":
        return Translator("en", {})
    from babel.messages.pofile import read_po

    messages: dict[Any, Any] = {}
    for path in catalog_files(lang):
        with open(path, "rb") as handle:
            catalog = read_po(handle, locale=lang)
        for message in catalog:
            if not message.id or message.fuzzy:
                continue
            if isinstance(message.id, (tuple, list)):
                strings = [s for s in message.string if s]
                if strings:
                    messages[tuple(message.id)] = tuple(message.string)
            elif message.string:
                messages[message.id] = message.string
    return Translator(lang, messages)


def install(env: Any, lang: str) -> Translator:
    """Give ``env``'s templates ``_()``, ``gettext``, ``ngettext`` and ``{% trans %}`` in ``lang``."""
    t = translator(lang)
    env.install_gettext_callables(t.gettext, t.ngettext, newstyle=True)
    env.globals["lang"] = lang
    return t
