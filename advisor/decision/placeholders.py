"""Values for ``{name}`` in rules' ``next_step`` and strategies' ``next_steps``: one list, checked when a
rulebook loads, filled when a recommendation is written.

A probe provides placeholders through its spec (``placeholders``: a function of its facts and the value
used when it did not run); the two below come from the answers and the decision.
"""

from __future__ import annotations

import string
from typing import Any

from advisor.probes.registry import specs

DECISION_PLACEHOLDERS = {
    "method": "the recommended fine-tuning method",
    "labels_target": "labeled examples to aim for: max(1,000, the labeled examples you have)",
}


def known() -> list[str]:
    """Every placeholder name something fills."""
    return sorted({*DECISION_PLACEHOLDERS, *(name for s in specs() for name in s.placeholders)})


def names_in(text: str) -> list[str]:
    """The placeholder names used in ``text``; ``ValueError`` for a malformed or non-name placeholder."""
    out = []
    for _, name, _, _ in string.Formatter().parse(text):
        if name is None:
            continue
        if not name.isidentifier():
            raise ValueError(f"placeholder {{{name}}} is not a plain name; use one of {{{'}, {'.join(known())}}}")
        out.append(name)
    return out


def unknown_in(text: str) -> str | None:
    """An error message for the first placeholder nothing fills (or a malformed one), else ``None``."""
    try:
        names = names_in(text)
    except ValueError as exc:
        return str(exc).replace("Single '}' encountered in format string", "a lone '}' (write '}}' for a brace)") \
            .replace("Single '{' encountered in format string", "a lone '{' (write '{{' for a brace)") \
            .replace("expected '}' before end of string", "a '{' without its '}'")
    missing = [n for n in names if n not in known()]
    if missing:
        return f"placeholder {{{missing[0]}}} is filled by nothing; use one of {{{'}, {'.join(known())}}}"
    return None


def fills(answers: dict[str, Any], evidence: dict[str, dict[str, Any]], method_label: str) -> dict[str, Any]:
    """The value of every placeholder for this decision."""
    values: dict[str, Any] = {
        "method": method_label,
        "labels_target": f"{max(1000, int(answers.get('labeled_examples') or 0)):,}",
    }
    for spec in specs():
        facts = evidence.get(spec.name, {})
        for name, (compute, default) in spec.placeholders.items():
            value = compute(facts) if facts else None
            values[name] = default if value is None else value
    return values
