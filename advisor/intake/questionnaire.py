"""The questionnaire's logic, apart from any prompting: which questions apply given earlier answers, what an
inapplicable question's answer follows from, how a typed answer is read, and the draft saved as answers are given.

A question that earlier answers make irrelevant is not asked: its answer follows from them (no corpus means
a corpus of 0 documents that never changes and cannot be cited) and is recorded as given, not as a default.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from advisor.intake.answers import Answers, choices_of, field_kind


@dataclass(frozen=True)
class Dependency:
    """``field`` is asked only when ``applies(answers)``; otherwise its answer is ``implied``."""

    field: str
    on: str  # the earlier question it depends on
    applies: Callable[[dict[str, Any]], bool]
    implied: Any
    reason: str


def _is(name: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda answers: _plain(answers.get(name)) == value


def _is_not(name: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda answers: _plain(answers.get(name)) != value


DEPENDENCIES: dict[str, Dependency] = {d.field: d for d in (
    Dependency("corpus_documents", "has_corpus", _is("has_corpus", True), 0, "no document corpus"),
    Dependency("corpus_change", "has_corpus", _is("has_corpus", True), "static", "no document corpus"),
    Dependency("citations_needed", "has_corpus", _is("has_corpus", True), False, "no document corpus"),
    Dependency("cost_per_label", "can_produce_more_labels", _is("can_produce_more_labels", True), 0.0, "no more labels can be produced"),
    Dependency("hosted_api_allowed", "data_may_leave", _is("data_may_leave", True), False, "the data may not leave your premises"),
    Dependency("base_model_size_b", "base_model", _is_not("base_model", "hosted_api"), None, "a hosted API's size is not published"),
)}


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


def applies(name: str, answers: dict[str, Any]) -> bool:
    dependency = DEPENDENCIES.get(name)
    return dependency is None or dependency.applies(answers)


def questions_for(answers: dict[str, Any], only_required: bool = False) -> list[str]:
    """The questions that apply given ``answers``, in questionnaire order (answered ones included)."""
    return [name for name, field in Answers.model_fields.items()
            if applies(name, answers) and (not only_required or field.is_required() or name in answers)]


def implied_answers(answers: dict[str, Any]) -> dict[str, Any]:
    """The answers that follow from the given ones for every question they make irrelevant and leave unanswered
    (only from a given answer: a question whose own answer was defaulted implies nothing)."""
    return {name: d.implied for name, d in DEPENDENCIES.items()
            if name not in answers and d.on in answers and not d.applies(answers)}


def normalise_choice(raw: str) -> str:
    return raw.strip().lower().replace("-", "_").replace(" ", "_")


def convert(name: str, raw: str) -> tuple[Any, str | None]:
    """The typed text as the field's value, or why it is not one (choices by number or name, any case)."""
    raw = raw.strip()
    kind = field_kind(name)
    if kind == "choice":
        choices = choices_of(name) or []
        if raw.isdigit() and 1 <= int(raw) <= len(choices):
            return choices[int(raw) - 1], None
        wanted = normalise_choice(raw)
        exact = [c for c in choices if c == wanted]
        starting = [c for c in choices if wanted and c.startswith(wanted)]
        if exact or len(starting) == 1:
            return (exact or starting)[0], None
        return None, f"'{raw}' is not one of the choices; type a number 1-{len(choices)} or a name."
    if kind == "bool":
        lowered = raw.lower()
        if lowered in ("y", "yes", "true", "1", "o", "oui"):
            return True, None
        if lowered in ("n", "no", "false", "0", "non"):
            return False, None
        return None, "answer yes or no."
    return _validate_scalar(name, raw, kind)


def _validate_scalar(name: str, raw: str, kind: str) -> tuple[Any, str | None]:
    """One answer checked against its field's type and bounds, as the answers file would be."""
    from pydantic import ValidationError

    if kind == "optional_float" and raw == "":
        return None, None
    value = raw if kind == "str" else raw.replace(",", "").replace("_", "")
    model = Answers.model_construct()
    try:
        Answers.__pydantic_validator__.validate_assignment(model, name, value)
    except ValidationError as exc:
        return None, f"invalid: {exc.errors()[0]['msg']}"
    return _plain(getattr(model, name)), None


def display(value: Any) -> str:
    """An answer as the questionnaire shows it."""
    value = _plain(value)
    if value is None:
        return "(blank)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --- the draft -------------------------------------------------------------------------------------------------

DRAFT_NAME = "questionnaire-draft.yaml"


@dataclass
class Draft:
    """Answers and input files given so far, saved after each answer so that an interrupted questionnaire
    can be continued (``advisor assess --resume``). It lives next to the database."""

    path: Path
    answers: dict[str, Any]
    files: dict[str, str]
    saved: str = ""

    @classmethod
    def location(cls, db_path: Path) -> Path:
        return Path(db_path).parent / DRAFT_NAME

    @classmethod
    def load(cls, path: Path) -> "Draft | None":
        """The saved draft, keeping only answers that are still valid; ``None`` when there is none or it is
        unreadable (a draft is a convenience: a damaged one is ignored, never trusted)."""
        from advisor.user_yaml import safe_load, too_big

        try:
            text = Path(path).read_text(encoding="utf-8")
            data = None if too_big(text) else safe_load(text)
        except Exception:  # unreadable, not UTF-8, not YAML: no draft
            return None
        if not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
            return None
        answers = {}
        for name, value in data["answers"].items():
            if name in Answers.model_fields:
                converted, error = convert(name, "" if value is None else display(value) if isinstance(value, bool)
                                           else str(value))
                if error is None:
                    answers[name] = converted
        files = {str(k): str(v) for k, v in (data.get("files") or {}).items() if isinstance(v, str)}
        return cls(Path(path), answers, files, str(data.get("saved", "")))

    def save(self) -> None:
        import yaml

        self.saved = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump({"saved": self.saved, "answers": {k: _plain(v) for k, v in self.answers.items()},
                                       "files": self.files}, sort_keys=False, allow_unicode=True), encoding="utf-8")
        tmp.replace(self.path)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
