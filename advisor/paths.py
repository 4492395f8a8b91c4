"""Where advisor keeps its database, caches and default reports."""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


def data_dir() -> Path:
    """``$ADVISOR_HOME`` if set, else ``$XDG_DATA_HOME/advisor`` (``~/.local/share/advisor``)."""
    home = os.environ.get("ADVISOR_HOME")
    return Path(home) if home else _xdg("XDG_DATA_HOME", ".local/share") / "advisor"


def cache_dir() -> Path:
    """``$ADVISOR_CACHE`` if set, else ``$XDG_CACHE_HOME/advisor`` (``~/.cache/advisor``)."""
    cache = os.environ.get("ADVISOR_CACHE")
    return Path(cache) if cache else _xdg("XDG_CACHE_HOME", ".cache") / "advisor"


def default_db_path() -> Path:
    """``$ADVISOR_DB`` if set, else ``advisor.duckdb`` in the data directory."""
    env = os.environ.get("ADVISOR_DB")
    return Path(env) if env else data_dir() / "advisor.duckdb"
