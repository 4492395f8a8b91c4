"""Access to the data shipped inside the package (built-in rulebook, templates, probe data)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def package_dir(name: str) -> Path:
    """Filesystem path of a shipped data package: ``rules``, ``templates`` or ``probes``."""
    return Path(str(resources.files(f"advisor.{name}")))


def rules_dir() -> Path:
    return package_dir("rules")


def templates_dir() -> Path:
    return package_dir("templates")


def probe_data(filename: str) -> Path:
    return package_dir("probes") / "common" / filename
