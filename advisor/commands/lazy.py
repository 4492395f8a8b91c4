"""A click group whose subcommands are imported only when used, and the CLI's error boundary."""

from __future__ import annotations

import difflib
from importlib import import_module
from typing import Any

import click

from advisor.errors import AdvisorError


class LazyGroup(click.Group):
    """Subcommands given as ``{"name": "module:attribute"}``; imported on first use."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            module_name, _, attr = self.lazy_commands[cmd_name].partition(":")
            return getattr(import_module(module_name), attr)
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)


class UserError(click.ClickException):
    """An :class:`AdvisorError` shown by click as one ``Error: ...`` line, exit code 2."""

    exit_code = 2


class ErrorBoundaryGroup(LazyGroup):
    """The root group: domain errors become one ``Error: ...`` line and exit code 2, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AdvisorError as exc:
            raise UserError(str(exc)) from None
