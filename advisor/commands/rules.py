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
    from advisor.decision.rulebook import load_rulebook

    book = load_rulebook(rules_dir)
    if markdown:
        click.echo(rules_markdown(book), nl=False)
        return
    for rule in book.rules:
        effects = ", ".join(f"{k} {v:+g}" for k, v in rule.effect.items())
        effects += "".join(f", rules out {k}" for k in rule.exclude)
        click.echo(f"{rule.id:34} {effects.strip(', ')}")
        click.echo(f"{'':34} group: {_group_text(book, rule)}")
        click.echo(f"{'':34} {rule.rationale}")
        click.echo(f"{'':34} source: {rule.source}")
    click.echo(f"{len(book.rules)} rules in {len({book.group_of(r) for r in book.rules})} groups, rulebook {book.hash}")


def _group_text(book, rule) -> str:
    if not rule.group:
        return "(none: the rule counts on its own, uncapped)"
    meta = book.groups[rule.group]
    return f"{rule.group} — {meta['label']} (capped at ±{meta['cap']:g} per strategy)"


@rules.command("check")
@click.argument("directory", type=click.Path(path_type=Path))
def check(directory: Path) -> None:
    """Validate a rulebook folder; errors are reported as file:line: message.

    \b
    Example:
      advisor rules check rules/
    """
    from advisor.decision.rulebook import load_rulebook

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
    from advisor.decision.placeholders import DECISION_PLACEHOLDERS
    from advisor.probes.registry import get, specs

    from advisor.evidence.interpret import DERIVED
    from advisor.probes.common.spec import fact_types

    chosen = [get(probe_name)] if probe_name else specs()
    spaces = [(s.namespace, f"{s.name} probe: {s.description}", s.facts()) for s in chosen]
    if probe_name is None:  # the decision facts read from the probes' (the ones the built-in rules test)
        spaces += [(ns, " ".join((model.__doc__ or "").split()), fact_types(model)) for ns, model in DERIVED.items()]
    for namespace, about, facts_of in spaces:
        click.echo(f"{namespace}  ({about})")
        for name, ftype in facts_of.items():
            click.echo(f"  {namespace}.{name:28} {ftype.describe()}")
            click.echo(f"  {'':{len(namespace) + 29}} {ftype.description}")
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
    members: dict[str, list[str]] = {}
    for rule in book.rules:
        members.setdefault(book.group_of(rule), []).append(rule.id)
    out = ["### Decision factors (groups)", "", "| group | factor | cap per strategy | rules |", "| --- | --- | ---: | ---: |"]
    out += [f"| `{name}` | {cell(meta['label'])} | ±{meta['cap']:g} | {len(members.get(name, []))} |"
            for name, meta in book.groups.items()]
    out.append("")
    for name, rules_in_file in by_file.items():
        out += [f"### `{name}` ({len(rules_in_file)} rules)", "", "| id | group | rationale | source |",
                "| --- | --- | --- | --- |"]
        out += [f"| `{r.id}` | {r.group or '—'} | {cell(r.rationale)} | {cell(r.source)} |" for r in rules_in_file]
        out.append("")
    return "\n".join(out)
