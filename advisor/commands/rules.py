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
@click.option("--markdown", is_flag=True, help="Markdown tables, one per file (id, rationale, source).")
def list_rules(rules_dir: Path | None, markdown: bool) -> None:
    """List every rule: id, what it favours, and its source.

    \b
    Example:
      advisor rules list
    """
    from advisor.rulebook import load_rulebook

    book = load_rulebook(rules_dir)
    if markdown:
        click.echo(rules_markdown(book), nl=False)
        return
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


@rules.command("facts")
@click.option("--probe", "probe_name", default=None, help="Only this probe's facts.")
def facts(probe_name: str | None) -> None:
    """List the evidence facts rules can test (``<probe>.<fact>``), their type, range and meaning,
    and the placeholders a next step may use.

    \b
    Example:
      advisor rules facts --probe few-shot
    """
    from advisor.placeholders import DECISION_PLACEHOLDERS
    from advisor.probes.registry import get, specs

    chosen = [get(probe_name)] if probe_name else specs()
    for spec in chosen:
        click.echo(f"{spec.namespace}  ({spec.name} probe: {spec.description})")
        for name, ftype in spec.facts().items():
            click.echo(f"  {spec.namespace}.{name:28} {ftype.describe()}")
            click.echo(f"  {'':{len(spec.namespace) + 29}} {ftype.description}")
    if probe_name is None:
        names = sorted({*DECISION_PLACEHOLDERS, *(n for s in specs() for n in s.placeholders)})
        click.echo("next_step placeholders: " + ", ".join("{" + n + "}" for n in names))


def rules_markdown(book) -> str:
    """The rulebook as markdown tables, one per file in file order (``docs/rulebook.md`` holds this text)."""
    def cell(text: str) -> str:
        return " ".join(text.split()).replace("|", "\\|")

    by_file: dict[str, list] = {}
    for rule in book.rules:
        by_file.setdefault(Path(rule.file).name or "rules", []).append(rule)
    out = []
    for name, rules_in_file in by_file.items():
        out += [f"### `{name}` ({len(rules_in_file)} rules)", "", "| id | rationale | source |", "| --- | --- | --- |"]
        out += [f"| `{r.id}` | {cell(r.rationale)} | {cell(r.source)} |" for r in rules_in_file]
        out.append("")
    return "\n".join(out)
