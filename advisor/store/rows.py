"""What every store operation shares: timestamps, JSON columns, and holding the file only while working."""

from __future__ import annotations

import functools
import json
from datetime import datetime, timezone
from typing import Any, Callable


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_json(value: Any) -> str:
    """JSON text with keys in their given order, so a stored document reads back as it was written."""
    return json.dumps(value, default=str)


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
