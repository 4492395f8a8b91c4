"""Shared fixtures: an isolated advisor home per test; a tiny random causal LM saved once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.helpers import BASE_ANSWERS, EXAMPLE

from tiny import save_tiny_lm


@pytest.fixture(scope="session")
def tiny_lm_path(tmp_path_factory):
    """Folder of a tiny random Llama-style LM with a ChatML chat template."""
    return save_tiny_lm(tmp_path_factory.mktemp("tiny-lm") / "chat", seed=0, chat=True)


@pytest.fixture(scope="session")
def tiny_base_lm_path(tmp_path_factory):
    """Folder of a tiny random LM without a chat template (a base model)."""
    return save_tiny_lm(tmp_path_factory.mktemp("tiny-lm") / "base", seed=1, chat=False)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """A fresh advisor data directory and database per test (the model cache is shared)."""
    home = tmp_path_factory.mktemp("advisor-home")
    monkeypatch.setenv("ADVISOR_HOME", str(home))
    monkeypatch.setenv("ADVISOR_DB", str(home / "advisor.duckdb"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture
def db_path(isolated_home) -> Path:
    return Path(os.environ["ADVISOR_DB"])


@pytest.fixture
def answers_file(tmp_path):
    """``answers_file(**overrides)`` writes BASE_ANSWERS plus overrides; returns the path."""

    def write(**overrides):
        path = tmp_path / "answers.yaml"
        path.write_text(yaml.safe_dump({**BASE_ANSWERS, **overrides}), encoding="utf-8")
        return path

    return write


@pytest.fixture
def tickets(tmp_path):
    """The bundled example's first 60 tickets, as the team's labeled data."""
    lines = (EXAMPLE / "tickets.jsonl").read_text().splitlines()[:60]
    path = tmp_path / "tickets.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path
