"""``advisor assess``: the questionnaire, the probes the inputs allow, the recommendation, the report."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from advisor.commands.options import db_option, resolve_db


def _interactive(no_input: bool) -> bool:
    return not no_input and sys.stdin.isatty()


@click.command()
@click.option("--answers", "answers_file", type=click.Path(path_type=Path), help="YAML or JSON answers file; only what it leaves out is asked.")
@click.option("--no-input", is_flag=True, help="Never prompt; missing answers are an error listing them all.")
@click.option("--rules", "rules_dir", type=click.Path(path_type=Path), help="Use this rulebook folder instead of the built-in one.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Report path (default: <project>-advisor-report.<format>).")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True, help="Report format.")
@click.option("--templates", type=click.Path(file_okay=False, path_type=Path), help="Folder of report templates overriding the built-in ones.")
@db_option
def assess(answers_file: Path | None, no_input: bool, rules_dir: Path | None, out: Path | None, fmt: str,
           templates: Path | None, db: Path | None) -> None:
    """Assess a project and write a ranked, explained recommendation.

    \b
    Example:
      advisor assess --answers examples/support-desk/answers.yaml --out report.md
    """
    from advisor.answers_file import read_answers_file, validate_answers
    from advisor.assessment import assess as run_assessment
    from advisor.rulebook import load_rulebook
    from advisor.store import Store

    data = read_answers_file(answers_file) if answers_file else {}
    if _interactive(no_input):
        from advisor.commands.ask import ask_missing

        data = ask_missing(data, only_required=answers_file is not None)
    answers = validate_answers(data, str(answers_file) if answers_file else "answers")
    load_rulebook(rules_dir)  # an invalid rulebook fails before anything is stored
    command = "advisor " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else "advisor assess"
    with Store(resolve_db(db)) as store:
        outcome = run_assessment(answers, store=store, command=command, rules_dir=rules_dir, out=out, fmt=fmt,
                                 templates=templates)
    rec = outcome.document["recommendation"]
    label = rec["winner_label"] + (f" ({rec['method_label']})" if rec.get("method_label") else "")
    click.echo(f"Recommendation: {label} - confidence {rec['confidence']}")
    click.echo(f"Assessment #{outcome.document['id']}; report written to {outcome.report_path}")
    if outcome.store_error:
        raise click.ClickException(outcome.store_error)
