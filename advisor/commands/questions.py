"""``advisor questions``: the questionnaire as a JSON Schema or a commented answers file."""

from __future__ import annotations

import click


@click.command()
@click.option("--schema", "mode", flag_value="schema", help="Print the JSON Schema of an answers file.")
@click.option("--template", "mode", flag_value="template", help="Print a commented answers file to fill in.")
def questions(mode: str | None) -> None:
    """Show the questions advisor asks, as a list, a JSON Schema or an answers template.

    \b
    Example:
      advisor questions --template > answers.yaml
    """
    from advisor.intake.answers import Answers, choices_of
    from advisor.intake.answers_file import answers_schema, answers_template

    if mode == "schema":
        click.echo(answers_schema())
        return
    if mode == "template":
        click.echo(answers_template())
        return
    for name, field in Answers.model_fields.items():
        choices = choices_of(name)
        extra = f" [{', '.join(choices)}]" if choices else ""
        required = " (required)" if field.is_required() else ""
        click.echo(f"{name}{required}: {field.title}{extra}")
        click.echo(f"    {field.description}")
