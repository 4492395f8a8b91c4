"""The one path from what a user gave to validated answers: an answers file, a saved draft and the
questionnaire's prompts are merged, completed with what irrelevant questions' answers follow from, and
validated once, whether the answers came from ``--answers``, from the prompts, or both."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from advisor.intake.answers import Answers
from advisor.intake.answers_file import read_answers_file, validate_answers
from advisor.intake.questionnaire import implied_answers

#: asks what the answers so far leave out and returns them completed (the interactive questionnaire)
Ask = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Intake:
    """Validated answers, and which questions were left to their defaults (the report says so)."""

    answers: Answers
    defaulted: list[str]


def collect_answers(answers_file: Path | None = None, saved: dict[str, Any] | None = None,
                    ask: Ask | None = None) -> Intake:
    """The answers from ``answers_file`` (if any), then those of a saved draft, then what ``ask`` adds; every
    inapplicable question's answer follows from the others; one validation, one error line naming every bad
    field."""
    given = read_answers_file(answers_file) if answers_file else {}
    given = {**given, **(saved or {})}
    if ask is not None:
        given = ask(given)
    given = {**given, **implied_answers(given)}
    answers = validate_answers(given, str(answers_file) if answers_file else "answers")
    return Intake(answers, [name for name in Answers.model_fields if name not in given])
