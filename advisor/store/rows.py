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
    """A store operation: it opens the file if needed and lets it go when done."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        finally:
            self.release()

    return wrapper
