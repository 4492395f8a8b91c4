"""Reading the YAML files users share (rules, answers, cost assumptions, prompt templates): untrusted, so
parsed with a safe loader that also refuses aliases (``*name``: a few hundred bytes of nested aliases expand
to gigabytes) and refused over a size limit; every failure is one line naming the file and the way out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from advisor.errors import AdvisorError, InputError

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
    """Parse ``text`` (:func:`read_user_file` checks the size first, to name the file in its error)."""
    return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass


def read_user_file(path: Path | str, *, label: str, kind: str, missing: str, error: type[AdvisorError] = InputError,
                   loader: type = NoAliasLoader, json_ok: bool = False) -> tuple[Any, str]:
    """The parsed content of a user's YAML (or, with ``json_ok``, ``.json``) file and its text.

    ``label`` names the file in errors (``--costs costs.yaml``), ``kind`` says what such a file is ("a cost
    file"), ``missing`` is the way out when the file does not exist. Each failure raises ``error`` with one
    line: ``label[:line]: what is wrong; what to do``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{label}: no such file; {missing}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{label}: not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise error(f"{label}: cannot read it ({exc.strerror or exc}); check the path and its permissions") from None
    if too_big(text):
        raise error(f"{label}: the file is over 2 MB; {kind} is a few kilobytes of YAML")
    try:
        if json_ok and path.suffix == ".json":
            return json.loads(text), text
        return safe_load(text, loader), text
    except json.JSONDecodeError as exc:
        raise error(f"{label}:{exc.lineno}: not valid JSON ({exc.msg}); fix the syntax") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{label}{line}: not valid YAML ({problem}); fix the syntax") from None


def read_user_mapping(path: Path | str, *, label: str, kind: str, missing: str, example: str,
                      error: type[AdvisorError] = InputError, **kw: Any) -> tuple[dict[str, Any], str]:
    """:func:`read_user_file` for a file that must hold a mapping (empty: ``{}``); ``example`` shows one."""
    data, text = read_user_file(path, label=label, kind=kind, missing=missing, error=error, **kw)
    if data is None:
        return {}, text
    if not isinstance(data, dict):
        raise error(f"{label}: {kind} must be a mapping such as `{example}`")
    return data, text
