"""Where advisor keeps its database, caches and default reports."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def data_dir() -> Path:
    """``$ADVISOR_HOME`` if set, else the platform's user data folder (``$XDG_DATA_HOME/advisor``,
    ``~/.local/share/advisor`` on Linux)."""
    home = os.environ.get("ADVISOR_HOME")
    return Path(home) if home else Path(platformdirs.user_data_dir("advisor", appauthor=False))


def cache_dir() -> Path:
    """``$ADVISOR_CACHE`` if set, else the platform's user cache folder (``$XDG_CACHE_HOME/advisor``,
    ``~/.cache/advisor`` on Linux)."""
    cache = os.environ.get("ADVISOR_CACHE")
    return Path(cache) if cache else Path(platformdirs.user_cache_dir("advisor", appauthor=False))


def default_db_path() -> Path:
    """``$ADVISOR_DB`` if set, else ``advisor.duckdb`` in the data directory."""
    env = os.environ.get("ADVISOR_DB")
    return Path(env) if env else data_dir() / "advisor.duckdb"
