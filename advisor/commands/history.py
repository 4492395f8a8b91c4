"""``advisor history`` and ``advisor show``: past assessments from the database."""

from __future__ import annotations

import json
from pathlib import Path

import click

from advisor.commands.options import db_option, resolve_db
from advisor.errors import InputError


@click.command()
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="How many to list.")
@db_option
def history(limit: int, db: Path | None) -> None:
    """List past assessments, newest first.

    \b
    Example:
      advisor history --limit 10
    """
    from advisor.store import Store

    with Store(resolve_db(db), read_only=True) as store:
        rows = store.assessments(limit)
    if not rows:
        click.echo("No assessments yet. Run `advisor assess` to make one.")
        return
    click.echo(f"{'ID':>4}  {'created':19}  {'winner':18}  {'confidence':10}  project")
    for r in rows:
        created = str(r["created_at"])[:19]
        click.echo(f"{r['id']:>4}  {created:19}  {r['winner'] or '-':18}  {r['confidence'] or '-':10}  {r['project_name']}")


@click.command()
@click.argument("assessment_id", type=int)
@db_option
def show(assessment_id: int, db: Path | None) -> None:
    """Show one stored assessment: answers, decision, probe runs (JSON).

    \b
    Example:
      advisor show 3
    """
    from advisor.store import Store

    with Store(resolve_db(db), read_only=True) as store:
        data = store.assessment(assessment_id)
    if data is None:
        raise InputError(f"assessment {assessment_id} not found in {resolve_db(db)}; `advisor history` lists them")
    click.echo(json.dumps(data, indent=2, default=str))
