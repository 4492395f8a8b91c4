"""``advisor rules``: list the rulebook, check a custom one."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def rules() -> None:
    """Inspect and validate rulebooks.

    \b
    Example:
      advisor rules check my-rules/
    """


@rules.command("list")
@click.option("--rules", "rules_dir", type=click.Path(path_type=Path), help="A rulebook folder (default: built-in).")
def list_rules(rules_dir: Path | None) -> None:
    """List every rule: id, what it favours, and its source.

    \b
    Example:
      advisor rules list
    """
    from advisor.rulebook import load_rulebook

    book = load_rulebook(rules_dir)
    for rule in book.rules:
        effects = ", ".join(f"{k} {v:+g}" for k, v in rule.effect.items())
        effects += "".join(f", rules out {k}" for k in rule.exclude)
        click.echo(f"{rule.id:34} {effects.strip(', ')}")
        click.echo(f"{'':34} {rule.rationale}")
        click.echo(f"{'':34} source: {rule.source}")
    click.echo(f"{len(book.rules)} rules, rulebook {book.hash}")


@rules.command("check")
@click.argument("directory", type=click.Path(path_type=Path))
def check(directory: Path) -> None:
    """Validate a rulebook folder; errors are reported as file:line: message.

    \b
    Example:
      advisor rules check rules/
    """
    from advisor.rulebook import load_rulebook

    book = load_rulebook(directory)
    click.echo(f"OK: {len(book.rules)} rules in {len(book.paths)} files, rulebook {book.hash}")
