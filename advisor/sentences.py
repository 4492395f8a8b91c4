"""Sentences advisor writes in Python (probe notes, next steps, cost lines, reasons): an English sentence made
from a template whose ``{name}`` fields are filled with ``str.format``.

The template is the sentence's message id in the report catalogs (``templates/locale/<lang>/*.po``): a report
in another language finds the template a stored English sentence was made from, translates it and fills in the
same values (``advisor.report.i18n.Translator.sentence``). So stored assessments stay plain English text, and
any of them can be reported in any language later. Write a whole sentence per template, with some literal text
between two fields, so that the sentence can be matched back to its template.
"""

from __future__ import annotations

from typing import Any


def say(template: str, **values: Any) -> str:
    """The English sentence: ``template`` with its ``{name}`` fields filled (format specs allowed)."""
    return template.format(**values) if values else template
