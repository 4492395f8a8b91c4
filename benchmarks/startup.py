"""Startup time of `advisor --help` beside `python -c pass` (target: under 0.5 s).

Run: python benchmarks/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def best_of(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    base = best_of([sys.executable, "-c", "pass"], args.runs)
    for label, cmd in [("advisor --help", ["-m", "advisor", "--help"]), ("advisor --version", ["-m", "advisor", "--version"]),
                       ("advisor probe --help", ["-m", "advisor", "probe", "--help"])]:
        t = best_of([sys.executable, *cmd], args.runs)
        verdict = "OK" if t < 0.5 else "SLOW"
        print(f"{label:22} {t:6.3f} s   python -c pass {base:6.3f} s   ratio {t / base:5.1f}x   target < 0.5 s: {verdict}")


if __name__ == "__main__":
    main()
