"""Domain exceptions. The CLI turns each into one ``Error: ...`` line and exit code 2."""

from __future__ import annotations


class AdvisorError(Exception):
    """A problem the user can fix; the message names the file/field, the problem and the fix.

    ``stops_assessment``: when a probe fails with it inside ``advisor assess``, the command exits 2 after
    writing the report (bad input, a refusing endpoint), rather than noting the failure and going on."""

    exit_code = 2
    stops_assessment = False


class InputError(AdvisorError):
    """Bad user input: answers file, data file, option value."""

    stops_assessment = True


class RulebookError(AdvisorError):
    """An invalid rulebook file (reported as ``file:line: message``)."""


class StoreError(AdvisorError):
    """The database cannot be opened or written."""


class ModelNotFoundError(AdvisorError):
    """A model is not available offline."""


class ProbeError(AdvisorError):
    """A probe cannot run on the given inputs."""


def format_validation_error(exc, source: str = "", fields_hint: str = "") -> str:
    """Render a pydantic ValidationError as ``source: loc: message`` fragments on one line;
    ``fields_hint`` says where the allowed fields are listed (for unknown-field errors)."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) if str(p) and str(p).isprintable() else repr(str(p)) for p in err.get("loc", ()))
        msg = " ".join(str(err.get("msg", "invalid")).removeprefix("Value error, ").split())
        if err.get("type") == "extra_forbidden":
            msg = "unknown field (check the spelling" + (f"; {fields_hint}" if fields_hint else "") + ")"
        parts.append(f"{loc}: {msg}" if loc else msg)
    prefix = f"{source}: " if source else ""
    return prefix + "; ".join(parts)
