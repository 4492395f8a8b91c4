"""``advisor compare``: what changed between two assessments."""

from __future__ import annotations

from pathlib import Path

import click

from advisor.commands.options import db_option, resolve_db


@click.command()
@click.argument("first", type=int)
@click.argument("second", type=int)
@db_option
def compare(first: int, second: int, db: Path | None) -> None:
    """Show what changed between two stored assessments: answers, evidence, decision.

    \b
    Example:
      advisor compare 3 4
    """
    from advisor.assessment import stored_document
    from advisor.report.compare import compare as diff, render_text
    from advisor.store.database import Store

    with Store(resolve_db(db), read_only=True) as store:
        docs = [stored_document(store, i) for i in (first, second)]
    click.echo(render_text(diff(docs[0].model_dump(mode="json"), docs[1].model_dump(mode="json"))))
