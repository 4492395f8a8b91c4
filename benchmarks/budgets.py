"""Do probes keep their time budget? Each standalone probe on the bundled example with --budget B, and one
assessment with --budget B; prints the wall time of the command, the overrun and whether it is within the
allowed margin max(10% of B, 15 s). Model loading counts (it happens inside the budget).

    python benchmarks/budgets.py [--budgets 30,60] [--probes few-shot,rag,lora,domain,prompt] [--data FILE]
                                 [--corpus DIR --qa FILE] [--text FILE] [--no-assess]

``--data`` runs the probes that read labeled data (few-shot, LoRA, prompt) on another file than the bundled
example's tickets, e.g. a held-out set of another size and text length; ``--corpus``/``--qa`` the RAG probe and
``--text`` the domain-gap probe on other data (``benchmarks/heldout_corpus.py`` generates some).
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
ADVISOR = str(Path(sys.executable).with_name("advisor"))
ARGS = {
    "few-shot": ["--data", EXAMPLE / "tickets.jsonl"],
    "rag": ["--corpus", EXAMPLE / "docs", "--qa", EXAMPLE / "qa.jsonl"],
    "lora": ["--data", EXAMPLE / "tickets.jsonl"],
    "domain": ["--text", EXAMPLE / "domain.txt"],
    "prompt": ["--data", EXAMPLE / "tickets.jsonl"],
}


def timed(args: list) -> tuple[float, int]:
    started = time.monotonic()
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    return time.monotonic() - started, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="30,60")
    parser.add_argument("--probes", default="few-shot,rag,lora,domain")
    parser.add_argument("--data", type=Path, default=None, help="labeled data for few-shot, lora and prompt")
    parser.add_argument("--corpus", type=Path, default=None, help="document folder for the RAG probe")
    parser.add_argument("--qa", type=Path, default=None, help="questions for the RAG probe (with --corpus)")
    parser.add_argument("--text", type=Path, default=None, help="domain text for the domain-gap probe")
    parser.add_argument("--no-assess", action="store_true", help="time the standalone probes only")
    args = parser.parse_args()
    if args.corpus is not None:
        ARGS["rag"] = ["--corpus", args.corpus, *(["--qa", args.qa] if args.qa else [])]
    if args.text is not None:
        ARGS["domain"] = ["--text", args.text]
    if args.data is not None:
        for probe in ("few-shot", "lora", "prompt"):
            ARGS[probe] = ["--data", args.data]
    budgets = [float(b) for b in args.budgets.split(",")]
    work = Path(tempfile.mkdtemp(prefix="advisor-budgets-"))
    print(f"{'command':28} {'budget':>7} {'wall':>7} {'overrun':>8} {'margin':>7}  exit  within")
    for budget in budgets:
        runs = [(f"probe {p}", [ADVISOR, "probe", p, *ARGS[p], "--force", "--budget", f"{budget:g}s",
                                "--db", work / f"{p}-{budget:g}.duckdb"]) for p in args.probes.split(",")]
        if not args.no_assess:
            runs.append(("assess (four probes)", [ADVISOR, "assess", "--no-input", "--answers", EXAMPLE / "answers.yaml",
                                                  *ARGS["few-shot"], *ARGS["rag"], "--domain-text",
                                                  EXAMPLE / "domain.txt", "--budget", f"{budget:g}s", "--force",
                                                  "--db", work / f"assess-{budget:g}.duckdb", "--out", work / "r.md"]))
        for name, command in runs:
            wall, code = timed(command)
            margin = max(0.1 * budget, 15.0)
            over = wall - budget
            print(f"{name:28} {budget:7.0f} {wall:7.1f} {over:8.1f} {margin:7.1f}  {code:4}  {'yes' if over <= margin else 'NO'}",
                  flush=True)
            if name.startswith("assess"):
                span = probes_span(Path(command[command.index("--db") + 1]))
                over = span - budget
                print(f"{'  its probes (+ model load)':28} {budget:7.0f} {span:7.1f} {over:8.1f} {margin:7.1f}        "
                      f"{'yes' if over <= margin else 'NO'}", flush=True)


def probes_span(db: Path) -> float:
    """Seconds from the assessment's start (before the model load) to the end of its last probe."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        start, end = con.execute("SELECT min(a.created_at), max(r.finished_at) FROM assessments a "
                                 "JOIN probe_runs r ON r.assessment_id = a.id").fetchone()
    finally:
        con.close()
    return (end - start).total_seconds()


if __name__ == "__main__":
    main()
