"""The interactive questionnaire: click prompts (with line editing), "question n of m", ``<`` to go back, ``?``
for help, questions earlier answers make irrelevant skipped, every answer saved to a draft as it is given, and
a final review where any answer can be changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from advisor.intake.answers import Answers, choices_of
from advisor.intake.questionnaire import Draft, convert, display, implied_answers, questions_for

try:  # line editing and history for click's prompts (arrow keys move the cursor instead of printing ^[[A)
    import readline  # noqa: F401
except ImportError:  # pragma: no cover - Windows without pyreadline
    pass

BACK = object()


class QuestionnaireInterrupted(click.exceptions.Abort):
    """Ctrl-C or end of input during the questionnaire; the message says where the answers are and how to go on."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Questionnaire:
    """Asks what ``answers`` leave out. ``given`` are the answers that came from a file (never asked again and
    never replaced by implied ones); ``only_required`` asks only the required questions (an answers file was given)."""

    def __init__(self, answers: dict[str, Any], draft: Draft, only_required: bool = False,
                 given: set[str] | None = None):
        self.answers = dict(answers)
        self.draft = draft
        self.only_required = only_required
        self.given = set(given or ())
        self.history: list[str] = []
        self.asked_anything = False

    # -- the questions ------------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        try:
            self._ask_missing()
        except (click.exceptions.Abort, KeyboardInterrupt):  # Ctrl-C at a prompt, or just before it
            raise self._interrupted() from None
        return self.answers

    def result(self) -> dict[str, Any]:
        """The answers with what irrelevant questions' answers follow from (answers to questions that a later
        change made irrelevant are replaced by what follows, unless they came from the file)."""
        applicable = set(questions_for(self.answers))
        kept = {k: v for k, v in self.answers.items() if k in applicable or k in self.given}
        return {**kept, **implied_answers(kept)}

    def _ask_missing(self) -> None:
        while True:
            questions = questions_for(self.answers, self.only_required)
            todo = [name for name in questions if name not in self.answers]
            if not todo:
                return
            name = todo[0]
            value = self.ask_one(name, len(questions) - len(todo) + 1, len(questions))
            if value is BACK:
                self.answers.pop(self.history.pop(), None)
                continue
            self.answers[name] = value
            self.history.append(name)
            self._save()

    def ask_one(self, name: str, number: int | None = None, total: int | None = None) -> Any:
        """Ask one question until the answer is valid; ``?`` prints why it matters, ``<`` goes back."""
        self.asked_anything = True
        field = Answers.model_fields[name]
        choices = choices_of(name)
        where = f"[{number}/{total}] " if number else ""
        back = ", < to go back" if self.history and number else ""
        click.echo(f"\n{where}{field.title}  (? for help{back})")
        for i, choice in enumerate(choices or [], start=1):
            click.echo(f"  {i}. {choice}")
        current = self.answers.get(name, None if field.is_required() else field.default)
        default = None if current is None and field.is_required() else _default_text(current)
        while True:
            raw = click.prompt("Choose a number or name" if choices else ">", default=default,
                               show_default=default not in (None, ""))
            text = raw.strip()
            if text == "?":
                click.echo(f"  why: {field.description}")
                continue
            if text == "<" and back:
                return BACK
            value, error = convert(name, text)
            if error is None:
                return value
            click.echo(f"  {error}")

    # -- the files the probes read ------------------------------------------------------------------------------

    def ask_inputs(self, files: dict[str, Path], selected: tuple[str, ...] | None) -> None:
        """Ask for the files the selected probes read; an empty answer skips that probe. A probe's optional input
        is asked only once its required ones were given."""
        from advisor.probes.registry import specs

        try:
            asked: set[str] = set()
            for spec in specs():
                if selected is not None and spec.name not in selected:
                    continue
                for item in spec.inputs:
                    required_given = all(i.name in files for i in spec.inputs if i.required)
                    if item.name in asked or item.name in files or (not item.required and not required_given):
                        continue
                    asked.add(item.name)
                    path = self._ask_path(item.help, self.draft.files.get(item.name))
                    if path is not None:
                        files[item.name] = path
                        self.draft.files[item.name] = str(path)
                        self._save()
        except (click.exceptions.Abort, KeyboardInterrupt):  # Ctrl-C at a prompt, or just before it
            raise self._interrupted() from None

    def _ask_path(self, help_text: str, saved: str | None) -> Path | None:
        self.asked_anything = True
        while True:
            raw = click.prompt(f"{help_text} (path; blank to skip)", default=saved or "",
                               show_default=bool(saved)).strip()
            if not raw:
                return None
            if Path(raw).expanduser().exists():
                return Path(raw).expanduser()
            click.echo(f"  {raw}: no such file or folder; type a path or leave blank to skip.")

    # -- the final review -----------------------------------------------------------------------------------------

    def review(self, files: dict[str, Path]) -> None:
        """Show every answer; a number changes that answer (and asks what the change makes relevant)."""
        if not self.asked_anything:
            return
        try:
            while True:
                names = [n for n in questions_for(self.answers) if n in self.answers]
                click.echo("\nYour answers:")
                for i, name in enumerate(names, start=1):
                    click.echo(f"  {i:>2}. {Answers.model_fields[name].title}: {display(self.answers[name])}")
                for key, path in files.items():
                    click.echo(f"      {key}: {path}")
                raw = click.prompt("\nNumber of an answer to change, or Enter to run the assessment", default="",
                                   show_default=False).strip()
                if not raw:
                    return
                if not raw.isdigit() or not 1 <= int(raw) <= len(names):
                    click.echo(f"  type a number 1-{len(names)}, or press Enter.")
                    continue
                name = names[int(raw) - 1]
                self.answers[name] = self.ask_one(name)
                self.given.discard(name)
                self._save()
                self._ask_missing()
        except (click.exceptions.Abort, KeyboardInterrupt):  # Ctrl-C at a prompt, or just before it
            raise self._interrupted() from None

    # -- the draft ----------------------------------------------------------------------------------------------

    def _save(self) -> None:
        self.draft.answers = dict(self.answers)
        try:
            self.draft.save()
        except OSError as exc:  # an unwritable data folder must not stop the questionnaire
            click.echo(f"  (answers cannot be saved to {self.draft.path}: {exc.strerror})", err=True)

    def _interrupted(self) -> QuestionnaireInterrupted:
        self._save()
        count = len(self.answers)
        return QuestionnaireInterrupted(
            f"\nInterrupted: {count} answer{'s' if count != 1 else ''} saved in {self.draft.path}; "
            "`advisor assess --resume` (or the same command again) continues where you stopped.")


def _default_text(default: Any) -> str | None:
    if default is None:
        return ""
    return display(default)
