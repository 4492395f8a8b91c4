"""The one-off preparation of the embedded model: advisor's own progress line, no library output, and not
charged to the probe's budget (a real GGUF conversion into an empty cache, ~30 s)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import EXAMPLE


@pytest.mark.slow
def test_a_first_run_converts_the_embedded_model_quietly_and_outside_the_budget(tmp_path):
    lines = (EXAMPLE / "tickets.jsonl").read_text().splitlines()[:60]
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n")
    env = {**os.environ, "ADVISOR_CACHE": str(tmp_path / "empty-cache"), "ADVISOR_HOME": str(tmp_path / "home")}
    env.pop("ADVISOR_VERBOSE", None)
    cmd = [sys.executable, "-m", "advisor", "probe", "few-shot", "--data", str(tmp_path / "t.jsonl"), "-k", "0",
           "--eval-size", "10", "--budget", "120s", "--db", str(tmp_path / "db.duckdb")]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert "Preparing the embedded model smollm2-135m (once, ~30 s)…" in err
    assert "prepared in " in err and "not counted in the budget" in err
    assert (tmp_path / "empty-cache" / "models" / "smollm2-135m" / "config.json").is_file()
    # no library's own progress bar, warning or log line
    for noise in ("Converting and de-quantizing", "it/s]", "Warning", "warn(", "WARNING", "%|"):
        assert noise not in err, err
    assert "the probe model was prepared first (once) in " in done.stdout  # the run's notes say how long it took
    # prepared once: a second run has nothing to prepare
    again = subprocess.run(cmd + ["--force"], capture_output=True, text=True, env=env, timeout=900)
    assert again.returncode == 0 and "Preparing" not in again.stderr, again.stderr
