"""``advisor probe``: run one probe on your data, outside a full assessment."""

from __future__ import annotations

import click

from advisor.commands.lazy import LazyGroup

PROBE_COMMANDS: dict[str, str] = {}


@click.group(cls=LazyGroup, lazy_commands=PROBE_COMMANDS)
def probe() -> None:
    """Run one probe experiment and store its result.

    \b
    Example:
      advisor probe few-shot --data examples/support-desk/tickets.jsonl -k 0,4,8
    """
