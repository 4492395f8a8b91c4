"""Time of each stage of the bundled example's full assessment (target: under 3 minutes in total, with at least
four sizes of the LoRA learning curve).

Runs `advisor assess` on examples/support-desk with the embedded default models and a fresh database,
then reads each probe run's duration from that database.

Run: python benchmarks/demo_stages.py [--budget 165s] [--eval-size 60] [--keep DIR]  (the values of make demo)
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
TARGET_SECONDS = 180.0
TARGET_SIZES = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", default="172s", help="as `advisor assess --budget` (the demo: 172s)")
    parser.add_argument("--eval-size", default="60", help="as `advisor assess --eval-size` (the demo: 60)")
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
    import json

    lora = con.execute("SELECT result FROM probe_runs WHERE probe = 'lora' ORDER BY id DESC LIMIT 1").fetchone()
    points = (json.loads(lora[0]).get("summary") or {}).get("points") or [] if lora and lora[0] else []
    sizes = [p["examples"] for p in points]
    print(f"LoRA sizes trained: {', '.join(map(str, sizes)) or 'none'}   target >= {TARGET_SIZES}: "
          f"{'OK' if len(sizes) >= TARGET_SIZES else 'too few'}")
    print(f"report: {out / 'report.md'}")


if __name__ == "__main__":
    main()
