"""``advisor probe``: run one probe on your data, outside a full assessment."""

from __future__ import annotations

import click

from advisor.commands.lazy import LazyGroup

PROBE_COMMANDS: dict[str, str] = {"few-shot": "advisor.commands.probe_few_shot:few_shot"}
PROBE_COMMANDS["rag"] = "advisor.commands.probe_rag:rag"
PROBE_COMMANDS["domain"] = "advisor.commands.probe_domain:domain"
PROBE_COMMANDS["lora"] = "advisor.commands.probe_lora:lora"


@click.group(cls=LazyGroup, lazy_commands=PROBE_COMMANDS)
def probe() -> None:
    """Run one probe experiment and store its result.

    \b
    Example:
      advisor probe few-shot --data examples/support-desk/tickets.jsonl -k 0,4,8
    """
