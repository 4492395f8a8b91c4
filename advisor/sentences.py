"""Sentences advisor writes in Python (probe notes, next steps, cost lines, reasons): an English sentence made
from a template whose ``{name}`` fields are filled with ``str.format``.

The template is the sentence's message id in the report catalogs (``templates/locale/<lang>/*.po``): a report
in another language finds the template a stored English sentence was made from, translates it and fills in the
same values (``advisor.report.i18n.Translator.sentence``). So stored assessments stay plain English text, and
any of them can be reported in any language later. Write a whole sentence per template, with some literal text
between two fields, so that the sentence can be matched back to its template.
"""

from __future__ import annotations

import math
from typing import Any


def say(template: str, **values: Any) -> str:
    """The English sentence: ``template`` with its ``{name}`` fields filled (format specs allowed)."""
    return template.format(**values) if values else template


def rounded(value: float, figures: int = 2) -> float:
    """``value`` to ``figures`` significant figures, for an estimate built on assumed prices that a sentence quotes
    with "about" (1,048,658 → 1,000,000): it is not known more precisely than they are."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, figures - 1 - math.floor(math.log10(abs(value))))
