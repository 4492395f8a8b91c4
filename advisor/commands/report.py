"""``advisor report``: re-render a stored assessment without asking again."""

from __future__ import annotations

from pathlib import Path

import click

from advisor.commands.options import db_option, lang_option, resolve_db


@click.command()
@click.argument("assessment_id", type=int)
@click.option("--out", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), help="Report path (default: <project>-advisor-report.<format>; - for standard output).")
@click.option("--format", "fmt", type=click.Choice(["md", "json", "html"]), default="md", show_default=True)
@click.option("--templates", type=click.Path(file_okay=False, path_type=Path), help="Folder of templates overriding the built-in ones.")
@lang_option
@db_option
def report(assessment_id: int, out: Path | None, fmt: str, templates: Path | None, lang: str, db: Path | None) -> None:
    """Write the report of a stored assessment.

    \b
    Example:
      advisor report 3 --out decision.md
      advisor report 3 --lang fr --format html --out decision-fr.html
    """
    from advisor.assessment import stored_document
    from advisor.report.render import render
    from advisor.store.database import Store

    with Store(resolve_db(db), read_only=True) as store:
        doc = stored_document(store, assessment_id)
    path = render(doc.model_dump(mode="json"), fmt, out, templates, lang.lower())
    if str(path) != "-":
        click.echo(f"Report written to {path}")
