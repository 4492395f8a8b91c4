"""Options shared by several commands, each defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from advisor.paths import default_db_path


def db_option(fn: Callable) -> Callable:
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="DuckDB file (default: $ADVISOR_DB or advisor.duckdb in the XDG data directory).",
    )(fn)


def resolve_db(db: Path | None) -> Path:
    return db if db is not None else default_db_path()


def int_list(ctx: click.Context, param: click.Parameter, value: Any) -> list[int] | None:
    """Parse ``0,1,4,8`` into ``[0, 1, 4, 8]``."""
    if value is None or isinstance(value, list):
        return value
    try:
        items = [int(v) for v in str(value).split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of whole numbers (e.g. 0,1,4,8)") from None
    if not items or any(v < 0 for v in items):
        raise click.BadParameter(f"{value!r}: give one or more non-negative whole numbers, e.g. 0,1,4,8")
    return items


def duration(ctx: click.Context, param: click.Parameter, value: Any) -> float | None:
    """Parse ``300``, ``300s``, ``10m`` or ``1h`` into seconds."""
    if value is None:
        return None
    text = str(value).strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    factor = units.get(text[-1:], None)
    number = text[:-1] if factor else text
    try:
        seconds = float(number) * (factor or 1)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a duration; use e.g. 300s, 10m or 1h") from None
    if seconds <= 0:
        raise click.BadParameter(f"{value!r}: the duration must be positive")
    return seconds


def run_probe_command(name: str, values: dict[str, Any], db: Path | None, *, force: bool, budget: float | None,
                      lines: Callable[[Any], list[str]], artifacts_dir: Path | None = None) -> Any:
    """What every ``advisor probe X`` does: validate the config, run the probe on the store, print.

    ``lines(result)`` gives the printed summary; notes follow unless it already printed them."""
    from pydantic import ValidationError

    from advisor.errors import InputError, format_validation_error
    from advisor.probe_runner import run_probe
    from advisor.probes.registry import get
    from advisor.store import Store

    try:
        config = get(name).config.model_validate(values)
    except ValidationError as exc:
        raise InputError(format_validation_error(exc, f"advisor probe {name}", f"`advisor probe {name} --help` lists the options")) from None
    with Store(resolve_db(db)) as store:
        result = run_probe(name, config, store, force=force, budget_seconds=budget, artifacts_dir=artifacts_dir)
    for line in lines(result):
        click.echo(line)
    return result
