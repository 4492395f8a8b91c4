"""YAML from files users share (rules, answers, cost assumptions, prompt templates) is untrusted: it is
read with a safe loader that also refuses aliases (``*name``: a few hundred bytes of nested aliases expand
to gigabytes) and files over a size limit."""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 2_000_000


class NoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases (anchors alone are harmless and allowed)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed; write the value out",
                                              event.start_mark)
        return super().compose_node(parent, index)


def too_big(text: str) -> bool:
    return len(text.encode("utf-8", "ignore")) > MAX_BYTES


def safe_load(text: str, loader: type = NoAliasLoader) -> Any:
    """Parse ``text`` (the caller checks :func:`too_big` first, to name the file in its error)."""
    return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
