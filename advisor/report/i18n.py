"""Report languages: gettext catalogs (``templates/locale/<lang>.po``, read with Babel) installed into jinja2's
i18n extension, and the same translation for the few sentences the report module writes itself.

The English text is the message id, so a missing translation shows the English sentence, never a blank.
Rule rationales, risks and next steps come from the rulebook and stay in its language.
"""

from __future__ import annotations

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

    def gettext(self, message: str) -> str:
        return self.messages.get(message) or message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        forms = self.messages.get((singular, plural)) or (singular, plural)
        one = n == 1 or (self.lang == "fr" and n == 0)  # French uses the singular for 0 and 1
        return forms[0] if one else forms[-1]

    def __call__(self, message: str, **values: Any) -> str:
        text = self.gettext(message)
        return text % values if values else text


def catalog_path(lang: str) -> Path:
    from advisor.resources import templates_dir

    return Path(templates_dir()) / "locale" / f"{lang}.po"


@lru_cache(maxsize=None)
def translator(lang: str = "en") -> Translator:
    """The translator for ``lang``; English needs no catalog."""
    from advisor.errors import InputError

    if lang not in LANGS:
        raise InputError(f"--lang {lang!r}: no report in that language; use one of {', '.join(LANGS)}")
    if lang == "en":
        return Translator("en", {})
    from babel.messages.pofile import read_po

    with open(catalog_path(lang), "rb") as handle:
        catalog = read_po(handle, locale=lang)
    messages: dict[Any, Any] = {}
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
