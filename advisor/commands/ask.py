"""Interactive questionnaire: asks each missing answer with its choices, default and help."""

from __future__ import annotations

from typing import Any

import click

from advisor.answers import Answers, choices_of, field_kind


def ask_missing(data: dict[str, Any], only_required: bool = False) -> dict[str, Any]:
    """Ask every field the answers leave out (just the required ones if ``only_required``)."""
    answers = dict(data)
    for name, field in Answers.model_fields.items():
        if name in answers or (only_required and not field.is_required()):
            continue
        answers[name] = ask_one(name)
    return answers


def ask_one(name: str) -> Any:
    """Ask one question until the answer is valid for the field; ``?`` prints the help."""
    field = Answers.model_fields[name]
    choices = choices_of(name)
    if choices:
        click.echo(f"\n{field.title}  (? for help)")
        for i, choice in enumerate(choices, start=1):
            click.echo(f"  {i}. {choice}")
    default = None if field.is_required() else _default_text(field.default)
    while True:
        raw = click.prompt(_label(field.title, choices), default=default, show_default=default is not None)
        if raw.strip() == "?":
            click.echo(f"  why: {field.description}")
            continue
        value, error = _convert(name, raw.strip())
        if error is None:
            return value
        click.echo(f"  {error}")


def _label(title: str, choices: list[str] | None) -> str:
    return "Choose a number or name" if choices else f"{title} (? for help)"


def _default_text(default: Any) -> str | None:
    if default is None:
        return ""
    if isinstance(default, bool):
        return "yes" if default else "no"
    return str(getattr(default, "value", default))


def _convert(name: str, raw: str) -> tuple[Any, str | None]:
    kind = field_kind(name)
    if kind == "choice":
        choices = choices_of(name) or []
        if raw.isdigit() and 1 <= int(raw) <= len(choices):
            return choices[int(raw) - 1], None
        if raw in choices:
            return raw, None
        return None, f"'{raw}' is not one of the choices; type a number 1-{len(choices)} or a name."
    if kind == "bool":
        lowered = raw.lower()
        if lowered in ("y", "yes", "true", "1"):
            return True, None
        if lowered in ("n", "no", "false", "0"):
            return False, None
        return None, "answer yes or no."
    return _validate_scalar(name, raw, kind)


def _validate_scalar(name: str, raw: str, kind: str) -> tuple[Any, str | None]:
    """Validate one answer against its field's type and bounds, as the answers file would be."""
    from pydantic import ValidationError

    if kind == "optional_float" and raw == "":
        return None, None
    value = raw if kind == "str" else raw.replace(",", "").replace("_", "")
    model = Answers.model_construct()
    try:
        Answers.__pydantic_validator__.validate_assignment(model, name, value)
    except ValidationError as exc:
        return None, f"invalid: {exc.errors()[0]['msg']}"
    return getattr(model, name), None


def ask_inputs(inputs: Any) -> None:
    """Ask for the files the registered probes read (``inputs.files``); an empty answer skips that probe.
    A probe's optional input is asked only once its required ones were given."""
    from pathlib import Path

    from advisor.probes.registry import specs

    asked: set[str] = set()
    for spec in specs():
        for item in spec.inputs:
            required_given = all(i.name in inputs.files for i in spec.inputs if i.required)
            if item.name in asked or item.name in inputs.files or (not item.required and not required_given):
                continue
            asked.add(item.name)
            while True:
                raw = click.prompt(f"{item.help} (path; blank to skip)", default="", show_default=False).strip()
                if not raw:
                    break
                if Path(raw).exists():
                    inputs.files[item.name] = Path(raw)
                    break
                click.echo(f"  {raw}: no such file or folder; type a path or leave blank to skip.")
