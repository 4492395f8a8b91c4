"""Load: several `advisor assess` processes and readers (`history`, `show`) at once on one database file; all
succeed, each assessment gets its own id, and nothing is lost or duplicated. Every wait is bounded."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb

from tests.helpers import EXAMPLE

ADVISOR = str(Path(sys.executable).with_name("advisor"))
WRITERS = 6
READERS = 3
HARD_STOP = 600  # seconds: a process still running then is a failure, not a hang


def test_concurrent_assessments_and_readers_on_one_database(tmp_path):
    db = tmp_path / "shared.duckdb"
    env = {**os.environ, "ADVISOR_HOME": str(tmp_path / "home"), "ADVISOR_DB": str(db), "ADVISOR_LOCK_WAIT": "120"}
    first = subprocess.run([ADVISOR, "assess", "--no-input", "--answers", str(EXAMPLE / "answers.yaml"), "--probes",
                            "none", "--out", str(tmp_path / "r0.md")], capture_output=True, text=True, env=env,
                           timeout=HARD_STOP)
    assert first.returncode == 0, first.stderr
    writers = [subprocess.Popen([ADVISOR, "assess", "--no-input", "--answers", str(EXAMPLE / "answers.yaml"),
                                 "--probes", "none", "--out", str(tmp_path / f"r{i}.md")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for i in range(1, WRITERS + 1)]
    readers = [subprocess.Popen([ADVISOR, *(["history"] if i % 2 == 0 else ["show", "1"])],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for i in range(READERS)]
    outputs = []
    try:
        for proc in writers + readers:
            out, err = proc.communicate(timeout=HARD_STOP)
            outputs.append((proc.returncode, out, err))
    finally:
        for proc in writers + readers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=60)
    for code, _out, err in outputs:
        assert code == 0, err
    ids = [int(re.search(r"Assessment #(\d+);", out + err).group(1)) for _, out, err in outputs[:WRITERS]]
    assert len(set(ids)) == WRITERS and 1 not in ids  # distinct, and not the first one's
    assert all((tmp_path / f"r{i}.md").exists() for i in range(WRITERS + 1))
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = [r[0] for r in con.execute("SELECT id FROM assessments ORDER BY id").fetchall()]
        decided = [r[0] for r in con.execute("SELECT assessment_id FROM decisions ORDER BY 1").fetchall()]
        ranked = con.execute("SELECT count(DISTINCT assessment_id), count(*) FROM recommendations").fetchone()
    finally:
        con.close()
    assert stored == decided == sorted([1, *ids])  # nothing lost, nothing duplicated
    assert ranked[0] == WRITERS + 1 and ranked[1] % (WRITERS + 1) == 0
