"""Benchmark: the probes on every core against the cores left idle, while busy loops share the machine.

Runs the same few-shot probe (embedded model, bundled tickets) as a fresh ``advisor`` process, alternately with
``ADVISOR_THREADS`` set to every core (the baseline: what advisor did before it measured idle cores) and with the
thread count advisor chooses, ``--loops`` CPU-bound busy loops running throughout; prints each run's time and the
ratio of the medians. Not a test: run it by hand and record the numbers in docs/benchmarks.md.

    .venv/bin/python benchmarks/threads_under_load.py [--loops 2] [--repeats 3] [--eval-size 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADVISOR = str(Path(sys.executable).with_name("advisor"))


def probe_time(env: dict[str, str], folder: Path, eval_size: int) -> float:
    db = folder / f"{time.monotonic_ns()}.duckdb"
    started = time.monotonic()
    subprocess.run([ADVISOR, "probe", "few-shot", "--data", str(ROOT / "examples/support-desk/tickets.jsonl"),
                    "-k", "0,2", "--eval-size", str(eval_size), "--db", str(db)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=2, help="CPU-bound busy loops running throughout")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--eval-size", type=int, default=20)
    args = parser.parse_args()

    from advisor.probes.common.threads import cores

    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.loops)]
    times: dict[str, list[float]] = {"every core": [], "chosen": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = {k: v for k, v in os.environ.items() if k != "ADVISOR_THREADS"}
            base["ADVISOR_HOME"] = str(Path(tmp) / "home")
            probe_time(base, Path(tmp), args.eval_size)  # converts the embedded model once, outside the timings
            for _ in range(args.repeats):
                times["every core"].append(probe_time({**base, "ADVISOR_THREADS": str(cores())}, Path(tmp),
                                                      args.eval_size))
                times["chosen"].append(probe_time(base, Path(tmp), args.eval_size))
    finally:
        for loop in loops:
            loop.kill()
    print(f"cores={cores()} loops={args.loops} eval_size={args.eval_size} repeats={args.repeats}")
    for name, values in times.items():
        print(f"{name:>10}: " + "  ".join(f"{v:.1f}s" for v in values) + f"  median {statistics.median(values):.1f}s")
    ratio = statistics.median(times["every core"]) / statistics.median(times["chosen"])
    print(f"every core / chosen: {ratio:.2f}x")


if __name__ == "__main__":
    main()
