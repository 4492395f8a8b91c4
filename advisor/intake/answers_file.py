"""Answers files (YAML or JSON): loading, validation, and the commented template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from advisor.intake.answers import Answers, choices_of, missing_fields
from advisor.user_yaml import read_user_mapping
from advisor.errors import InputError, format_validation_error


def read_answers_file(path: Path) -> dict[str, Any]:
    """The raw mapping in an answers file; fields are validated later, together with any asked ones."""
    data, _ = read_user_mapping(path, label=str(path), kind="an answers file", json_ok=True,
                                missing="check the path (`advisor questions --template` writes one)",
                                example="task_type: classification")
    unknown = [k for k in data if k not in Answers.model_fields]
    if unknown:
        raise InputError(f"{path}: unknown field {unknown[0]!r}; `advisor questions --template` lists the fields")
    return data


#: The values ``advisor questions --template`` writes for the required text answers: left as they are,
#: the file was not filled in.
TEMPLATE_PLACEHOLDERS = {"project_name": "My project", "use_case": "Describe the task in one or two sentences"}


def validate_answers(data: dict[str, Any], source: str = "answers") -> Answers:
    """Answers from a complete mapping; one error line naming every bad field."""
    unfilled = [name for name, text in TEMPLATE_PLACEHOLDERS.items() if data.get(name) == text]
    if unfilled:
        raise InputError(f"{source}: {', '.join(unfilled)} still hold the template's placeholder text "
                         f"({', '.join(repr(TEMPLATE_PLACEHOLDERS[n]) for n in unfilled)}); fill in the answers file")
    missing = missing_fields(data)
    if missing:
        raise InputError(
            f"{source}: missing answers for {', '.join(missing)}; add them to the answers file "
            "or run interactively without --no-input"
        )
    try:
        return Answers.model_validate(data)
    except ValidationError as exc:
        raise InputError(format_validation_error(exc, source, "`advisor questions --template` lists the fields")) from None


def answers_template() -> str:
    """A commented YAML answers file: every question, its help, its choices and default."""
    lines = ["# advisor answers file. Fill in, then: advisor assess --answers THIS_FILE", ""]
    for name, field in Answers.model_fields.items():
        lines.append(f"# {field.title}")
        lines.append(f"#   why: {field.description}")
        choices = choices_of(name)
        if choices:
            lines.append(f"#   choices: {', '.join(choices)}")
        if field.is_required():
            lines.append("#   required")
            lines.append(f"{name}: {_example(name)}")
        else:
            default = field.default.value if hasattr(field.default, "value") else field.default
            lines.append(f"{name}: {_yaml_scalar(default)}")
        lines.append("")
    return "\n".join(lines)


def _example(name: str) -> str:
    examples = {**TEMPLATE_PLACEHOLDERS, "task_type": "classification", "labeled_examples": "0", "budget_one_off": "5000",
                "budget_monthly": "500", "monthly_requests": "10000", "weeks_to_production": "8"}
    return _yaml_scalar(examples.get(name, ""))


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and not value.replace(".", "", 1).isdigit():
        return json.dumps(value)
    return str(value)


def answers_schema() -> str:
    return json.dumps(Answers.model_json_schema(), indent=2)
