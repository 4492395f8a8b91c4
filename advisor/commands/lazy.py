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


INTERRUPTED = ("Interrupted: finished work is stored and the unfinished probe run is marked interrupted; run the "
               "same command again to continue (finished probe runs and cached responses are reused).")


class ErrorBoundaryGroup(LazyGroup):
    """The root group: domain errors and option errors become one ``Error: ...`` line and exit code 2, no
    traceback and no usage block; Ctrl-C and SIGTERM stop cleanly with one line saying how to resume."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AdvisorError as exc:
            raise UserError(str(exc)) from None

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        import signal
        import sys

        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort as exc:  # the questionnaire's own message says where its answers are
            click.echo(getattr(exc, "message", None) or INTERRUPTED, err=True)
            sys.exit(130)
        except click.ClickException as exc:
            click.echo(f"Error: {one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except Exception as exc:  # a bug, not bad input: one line, and the traceback on request
            import os
            import traceback

            if os.environ.get("ADVISOR_DEBUG"):
                traceback.print_exc()
            click.echo(f"Error: unexpected {type(exc).__name__}: {one_line(str(exc))[:300]} (an advisor bug; "
                       "ADVISOR_DEBUG=1 shows the traceback). Nothing stored was lost.", err=True)
            sys.exit(1)
        finally:
            signal.signal(signal.SIGTERM, previous)
        sys.exit(code if isinstance(code, int) else 0)


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM stops like Ctrl-C: the running probe stores what it finished and is marked interrupted."""
    raise KeyboardInterrupt


def one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())
