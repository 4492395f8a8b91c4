"""Escaping user text for markdown, so it cannot break tables or inject markup."""

from __future__ import annotations

import re

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!])")


def md_escape(text: object) -> str:
    """One line of inert markdown: markdown and HTML punctuation backslash-escaped,
    newlines folded to spaces (so a value cannot end a table row or open a tag)."""
    value = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", value)
