"""Benchmark: the few-shot probe on many-label classification (60 synthetic intents) within a 90 s budget.

The data set is generated here (no public set): 60 intents, each an action on an object of a banking-style
assistant ("cancel_card", "check_loan"...), with templated, varied texts. ``advisor probe few-shot`` runs on it
with ``--budget 90s`` (the default -k 0,1,4,8 and 3 seeds, 200 held-out examples: far more than 90 s allow),
and this script prints how long the first measured point took and what was measured. Not a test: run it by
hand and record the figures in docs/benchmarks.md.

    python benchmarks/many_labels.py [--intents 60] [--per-intent 30] [--budget 90s] [--model smollm2-135m]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ACTIONS = ["cancel", "activate", "replace", "check", "update", "close", "open", "report", "dispute", "increase"]
OBJECTS = ["card", "account", "loan", "payment", "address", "pin", "transfer", "subscription"]
TEMPLATES = [
    "I need to {action} my {object}.",
    "How do I {action} the {object}?",
    "Can you help me {action} my {object} please",
    "{Action} {object} as soon as possible",
    "I would like to {action} a {object} today.",
    "Is it possible to {action} my {object} online?",
    "Please {action} the {object} on my profile",
    "What are the steps to {action} my {object}?",
    "Hi, I want to {action} my {object}, thanks",
    "Could someone {action} my {object} for me?",
]
OPENERS = ["", "Hello. ", "Quick question: ", "Urgent: ", "Good morning, "]
CLOSERS = ["", " Thanks!", " Regards.", " It is for my business.", " My reference is {n}."]


def make_intents(path: Path | str, intents: int = 60, per_intent: int = 30, seed: int = 0) -> Path:
    """Write a JSONL file of ``intents`` synthetic intents (action_object labels) with ``per_intent`` texts each,
    shuffled; deterministic for a seed."""
    rng = random.Random(seed)
    pairs = [(a, o) for a in ACTIONS for o in OBJECTS]
    rng.shuffle(pairs)
    if intents > len(pairs):
        raise ValueError(f"at most {len(pairs)} intents")
    rows = []
    for action, obj in pairs[:intents]:
        for _ in range(per_intent):
            text = rng.choice(TEMPLATES).format(action=action, Action=action.capitalize(), object=obj)
            text = rng.choice(OPENERS) + text + rng.choice(CLOSERS).format(n=rng.randint(1000, 9999))
            rows.append({"text": text, "label": f"{action}_{obj}"})
    rng.shuffle(rows)
    path = Path(path)
    with path.open("w", encoding="utf-8") as fh:
        for n, row in enumerate(rows):
            fh.write(json.dumps({"id": str(n), **row}) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--intents", type=int, default=60)
    ap.add_argument("--per-intent", type=int, default=30)
    ap.add_argument("--budget", default="90s")
    ap.add_argument("--model", default="smollm2-135m")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="advisor-many-labels-"))
    data = make_intents(work / "intents.jsonl", args.intents, args.per_intent)
    cmd = [sys.executable, "-m", "advisor", "probe", "few-shot", "--data", str(data), "--task", "classification",
           "--model", args.model, "--budget", args.budget, "--db", str(work / "bench.duckdb")]
    print("$", " ".join(cmd[2:]), flush=True)
    env = {**os.environ, "ADVISOR_HOME": str(work)}
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    first_point = None
    for line in proc.stderr:  # the probe logs each measured point as it is published
        if first_point is None and "measured k=" in line:
            first_point = time.monotonic() - started
        if not line.startswith("few-shot: scoring"):
            sys.stderr.write(line)
    out = proc.stdout.read()
    proc.wait()
    wall = time.monotonic() - started
    print(out)
    k_rows = re.findall(r"^\s*(\d+)\s+([\d.]+)%", out, flags=re.M)
    print(f"labels={args.intents} rows={args.intents * args.per_intent} budget={args.budget} exit={proc.returncode}")
    print(f"time to the first point: {first_point:.1f} s (whole command, Python start-up and model load included)"
          if first_point is not None else "no point measured")
    print(f"whole command: {wall:.1f} s; k values measured: {', '.join(k for k, _ in k_rows) or 'none'}")


if __name__ == "__main__":
    main()
