"""``advisor history`` and ``advisor show``: past assessments from the database."""

from __future__ import annotations

import json
from pathlib import Path

import click

from advisor.commands.options import db_option, resolve_db
from advisor.errors import InputError


@click.command()
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="How many to list.")
@click.option("--project", default=None, help="Only projects whose name contains this (any case).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Only assessments made on or after this date (YYYY-MM-DD, UTC).")
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
@db_option
def history(limit: int, project: str | None, since, as_json: bool, db: Path | None) -> None:
    """List past assessments, newest first.

    \b
    Example:
      advisor history --limit 10
      advisor history --project support --since 2026-11-01 --json
    """
    from advisor.store.database import Store

    with Store(resolve_db(db), read_only=True) as store:
        rows = store.assessments(limit, project, since)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("No assessments match." if project or since else "No assessments yet. Run `advisor assess` to make one.")
        return
    click.echo(f"{'ID':>4}  {'created (UTC)':19}  {'winner':18}  {'confidence':10}  project")
    for r in rows:
        created = str(r["created_at"])[:19]
        click.echo(f"{r['id']:>4}  {created:19}  {r['winner'] or '-':18}  {r['confidence'] or '-':10}  {r['project_name']}")


@click.command()
@click.argument("assessment_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Everything stored, as JSON.")
@db_option
def show(assessment_id: int, as_json: bool, db: Path | None) -> None:
    """Show one stored assessment: the decision, the ranking, the probe runs.

    \b
    Example:
      advisor show 3
      advisor show 3 --json
    """
    from advisor.store.database import Store

    with Store(resolve_db(db), read_only=True) as store:
        data = store.assessment(assessment_id)
    if data is None:
        raise InputError(f"assessment {assessment_id} not found in {resolve_db(db)}; `advisor history` lists them")
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    for line in show_lines(data):
        click.echo(line)


def show_lines(data: dict) -> list[str]:
    """A stored assessment in a few readable lines."""
    rec = data["recommendation"]
    lines = [f"Assessment #{data['id']}: {data['project_name']}  ({str(data['created_at'])[:19]} UTC, {data['status']})"]
    if rec is None:
        lines.append("No recommendation stored (the assessment did not finish).")
    else:
        method = f", with {rec['method_label']}" if rec.get("method_label") else ""
        lines.append(f"Recommendation: {rec['winner_label']}{method} - confidence {rec['confidence']} "
                     f"({rec['confidence_score']:.2f}, margin {rec['margin']:g})")
        lines.append("Ranking:")
        for s in rec["strategies"]:
            status = f"ruled out: {s['exclusion_reason']}" if s["excluded"] else ""
            lines.append(f"  {s['rank']}. {s['label']:38} {s['score']:+6g}  (answers {s['answer_score']:+g}, "
                         f"evidence {s['evidence_score']:+g}) {status}".rstrip())
    if data["probe_runs"]:
        lines.append("Probe runs:")
        for run in data["probe_runs"]:
            reused = " (reused)" if run.get("reused") else ""
            lines.append(f"  #{run['id']:<4} {run['probe']:16} {run['status']}{reused}"
                         + (f" - {run['error']}" if run.get("error") else ""))
    lines.append(f"Report: advisor report {data['id']} --out report.md;  everything: advisor show {data['id']} --json")
    return lines
