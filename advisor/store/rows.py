"""What every store operation shares: timestamps, JSON columns, and holding the file only while working."""

from __future__ import annotations

import functools
import json
import math
import os
from datetime import datetime, timezone
from typing import Any, Callable

LOCK_WAIT_SECONDS = 30.0


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_json(value: Any) -> str:
    """JSON text with keys in their given order, so a stored document reads back as it was written."""
    return json.dumps(value, default=str)


def lock_wait() -> float:
    """Seconds to wait for another process to let go of the file: ``ADVISOR_LOCK_WAIT``, default 30."""
    wanted = os.environ.get("ADVISOR_LOCK_WAIT", "").strip()
    try:
        seconds = float(wanted) if wanted else LOCK_WAIT_SECONDS
    except ValueError:
        seconds = -1.0
    if not (math.isfinite(seconds) and seconds >= 0):
        from advisor.errors import InputError
        from advisor.sentences import say

        raise InputError(say("ADVISOR_LOCK_WAIT={value!r} is not a number of seconds (0 or more): set it to one "
                             "(e.g. 30), or unset it to wait the default 30 s", value=wanted))
    return seconds


def then_release(fn: Callable) -> Callable:
    """A store operation: it opens the file if needed and lets it go when done; a failure of the file (disk
    full, read-only, damaged, locked) is one ``StoreError`` naming it (``self.failure``)."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(self, *args, **kwargs)
        except Exception as exc:
            self.release(quiet=True)
            writing = fn.__name__.startswith(("add", "save", "start", "finish", "attach", "cache"))
            raise self.failure(exc, "writing to it" if writing else "reading it") from None
        self.release()
        return result

    return wrapper


def rollback(con: Any) -> None:
    """Undo an open transaction; when the file itself failed (disk full), the rollback may fail too: the original
    error is the one to show."""
    try:
        con.execute("ROLLBACK")
    except Exception:  # noqa: BLE001
        pass
