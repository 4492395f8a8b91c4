"""Time of each stage of the bundled example's full assessment (target: under 5 minutes in total).

Runs `advisor assess` on examples/support-desk with the embedded default models and a fresh database,
then reads each probe run's duration from that database.

Run: python benchmarks/demo_stages.py [--budget 10m] [--eval-size 100] [--keep DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "support-desk"
TARGET_SECONDS = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", default="10m")
    parser.add_argument("--eval-size", default="100", help="as `advisor assess --eval-size` (the demo: 60)")
    parser.add_argument("--keep", type=Path, help="Write the report and database here instead of a temp folder.")
    args = parser.parse_args()
    out = args.keep or Path(tempfile.mkdtemp(prefix="advisor-demo-"))
    db = out / "bench.duckdb"
    db.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "advisor", "assess", "--no-input", "--answers", str(EXAMPLE / "answers.yaml"),
           "--data", str(EXAMPLE / "tickets.jsonl"), "--corpus", str(EXAMPLE / "docs"), "--qa",
           str(EXAMPLE / "qa.jsonl"), "--domain-text", str(EXAMPLE / "domain.txt"), "--budget", args.budget,
           "--eval-size", args.eval_size, "--db", str(db), "--out", str(out / "report.md"), "--force"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    total = time.perf_counter() - start
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT probe, status, epoch(finished_at) - epoch(started_at) FROM probe_runs ORDER BY id").fetchall()
    probes = sum(r[2] or 0 for r in rows)
    print(f"\n{'stage':28} {'status':12} {'seconds':>8}")
    for probe, status, seconds in rows:
        print(f"{'probe ' + probe:28} {status:12} {seconds or 0:8.1f}")
    print(f"{'startup, rules, report':28} {'':12} {total - probes:8.1f}")
    verdict = "OK" if total < TARGET_SECONDS else "over target"
    print(f"{'total (wall clock)':28} {'':12} {total:8.1f}   target < {TARGET_SECONDS:.0f} s: {verdict}")
    print(f"report: {out / 'report.md'}")


if __name__ == "__main__":
    main()
