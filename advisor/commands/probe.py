"""``advisor probe``: run one probe on your data, outside a full assessment.

Every registered probe has a command. A probe may ship a hand-tuned one as
``advisor/commands/probe_<namespace>.py`` (short options, a table of results); every other probe gets
one generated from its configuration model, one option per field.
"""

from __future__ import annotations

import types
import typing
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel

from advisor.commands.lazy import LazyGroup
from advisor.commands.options import db_option, duration, int_list, run_probe_command


class ProbeGroup(LazyGroup):
    """Subcommands from the probe registry, imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from advisor.probes.registry import specs

        return [s.name for s in specs() if s.standalone]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from advisor.probes.registry import specs

        spec = next((s for s in specs() if s.name == cmd_name and s.standalone), None)
        if spec is None:
            return None
        module = f"advisor.commands.probe_{spec.namespace}"
        if find_spec(module) is not None:
            return getattr(import_module(module), spec.namespace)
        return generated_command(spec)


@click.group(cls=ProbeGroup)
def probe() -> None:
    """Run one probe experiment and store its result.

    \b
    Example:
      advisor probe few-shot --data examples/support-desk/tickets.jsonl -k 0,4,8
    """


def _option(name: str, field: Any) -> click.Option | None:
    """A click option for one configuration field, or ``None`` for a type the command line cannot give."""
    flag = "--" + name.replace("_", "-")
    annotation = field.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    optional = typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1
    base = args[0] if optional else annotation
    required = field.is_required()
    help_text = field.description or ""
    if isinstance(base, type) and issubclass(base, BaseModel) and "name" in base.model_fields:
        return click.Option([flag, name], default=None, help=help_text or "Model name, Hugging Face id or local path.")
    if typing.get_origin(base) is typing.Literal:
        return click.Option([flag, name], type=click.Choice([str(v) for v in typing.get_args(base)]),
                            required=required, default=None, help=help_text)
    if typing.get_origin(base) is list and typing.get_args(base) == (int,):
        return click.Option([flag, name], callback=int_list, required=required, default=None,
                            help=help_text or "Comma-separated whole numbers.")
    if typing.get_origin(base) is list and typing.get_args(base) == (str,):
        return click.Option([flag, name], required=required, default=None,
                            callback=lambda c, p, v: None if v is None else [x.strip() for x in v.split(",") if x.strip()],
                            help=help_text or "Comma-separated values.")
    simple = {Path: click.Path(path_type=Path), int: int, float: float, str: str}
    if base is bool:
        return click.Option([f"{flag}/--no-{name.replace('_', '-')}", name], default=None, help=help_text)
    if base in simple:
        return click.Option([flag, name], type=simple[base], required=required, default=None, help=help_text)
    return None


def generated_command(spec: Any) -> click.Command:
    """``advisor probe <name>`` for a probe without a hand-tuned command: one option per config field."""
    params = [opt for name, field in spec.config.model_fields.items() if (opt := _option(name, field)) is not None]
    models = {name for name, f in spec.config.model_fields.items()
              if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)}

    def callback(budget: float | None, force: bool, db: Path | None, **values: Any) -> None:
        given = {k: ({"name": v} if k in models else v) for k, v in values.items() if v is not None}
        run_probe_command(spec.name, given, db, force=force, budget=budget,
                          lines=lambda r: [r.headline, *(f"note: {n}" for n in r.notes)])

    example = spec.command or f"advisor probe {spec.name} ..."
    command = click.Command(spec.name, callback=callback, params=params,
                            help=f"{spec.description}\n\n\b\nExample:\n  {example}")
    command.params.append(click.Option(["--budget"], callback=duration, default=None,
                                       help="Stop after this long (e.g. 10m); keeps what finished."))
    command.params.append(click.Option(["--force"], is_flag=True, help="Re-run even if an identical run is stored."))
    return db_option(command)
