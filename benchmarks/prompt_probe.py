"""Benchmark: the prompt probe's chosen prompt against the naive k-shot prompt, on held-out items of generated data.

The data set is generated here (intents of a home-appliance help desk: each intent has a few phrasings with
slots; nothing in it was used to design or tune the probe). For each split seed the prompt probe runs on the
embedded model (log-likelihood scoring) or, with ``--target-url``, on a model behind an OpenAI-compatible
endpoint; it prints the chosen prompt's held-out accuracy, the naive k-shot figure on the same items, their
ratio and the paired gain. Not a test: run it by hand, record the numbers in docs/prompt-probe.md.

    python benchmarks/prompt_probe.py [--model smollm2-135m] [--seeds 0,1] [--budget 300]
                                      [--target MODEL --target-url URL]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

INTENTS = {
    "descale": ["How do I descale the {m} coffee machine?", "The {m} asks for descaling, what do I use?",
                "Limescale in my {m} kettle, how to clean it?"],
    "error_code": ["My {m} washer shows error E{n}", "Error code E{n} on the {m} dishwasher display",
                   "What does E{n} mean on my {m}?"],
    "spare_part": ["Where can I buy a new filter for the {m}?", "I need a replacement door seal for my {m}",
                   "Spare basket for the {m} fryer, is it sold separately?"],
    "warranty": ["Is my {m} still under warranty after {n} months?", "The {m} broke after {n} months, warranty?",
                 "Can I extend the warranty of my {m}?"],
    "noise": ["My {m} makes a loud grinding noise", "The {m} fridge hums very loudly at night",
              "Strange rattling noise from the {m} dryer"],
}
MODELS = ["Aqua 300", "Brio X", "Cleo 12", "Dura Max", "Evo 7", "Flux 2"]


def generate(path: Path, per_intent: int = 30, seed: int = 123) -> Path:
    rng = random.Random(seed)
    rows = [{"text": rng.choice(phrasings).format(m=rng.choice(MODELS), n=rng.randint(2, 60)), "label": intent}
            for intent, phrasings in INTENTS.items() for _ in range(per_intent)]
    rng.shuffle(rows)
    path.write_text("".join(json.dumps({"id": f"h{i}", **r}) + "\n" for i, r in enumerate(rows)))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--target", default=None)
    ap.add_argument("--target-url", default=None)
    ap.add_argument("--seeds", default="0,1", help="split seeds, comma-separated")
    ap.add_argument("--eval-size", type=int, default=60)
    ap.add_argument("--selection-size", type=int, default=40)
    ap.add_argument("-k", default="0,2,4,8")
    ap.add_argument("--budget", type=float, default=None, help="seconds per run")
    args = ap.parse_args()

    from advisor.evidence.probe_runner import run_probe
    from advisor.probes.common.deadline import time_limit
    from advisor.probes.prompt.spec import PromptConfig
    from advisor.store.database import Store

    tmp = Path(tempfile.mkdtemp(prefix="prompt-bench-"))
    data = generate(tmp / "helpdesk.jsonl")
    target = {"model": args.target, "url": args.target_url} if args.target else None
    print(f"data: {data} ({sum(1 for _ in data.open())} examples, {len(INTENTS)} intents); "
          f"model: {args.target or args.model}")
    print(f"{'seed':>4}  {'configs':>7}  {'chosen':<36}  {'chosen':>7}  {'naive':>7}  {'ratio':>6}  "
          f"{'gain (95% CI)':>22}  {'time':>6}")
    ratios, gains = [], []
    for seed in [int(s) for s in args.seeds.split(",")]:
        config = PromptConfig(data=data, model={"name": args.model}, target=target, split_seed=seed, seed=seed,
                              eval_size=args.eval_size, selection_size=args.selection_size,
                              k=[int(k) for k in args.k.split(",")], embedder_backend="torch")
        started = time.monotonic()
        with Store(tmp / "bench.duckdb") as store, time_limit(args.budget):
            result = run_probe("prompt", config, store, force=True, budget_seconds=args.budget)
        ev, s = result.evidence, result.summary
        if "best_accuracy" not in ev:
            print(f"{seed:>4}  {ev.get('configurations_tried', 0):>7}  (no held-out figure: {result.status})")
            continue
        ratio = ev["best_accuracy"] / ev["naive_accuracy"] if ev["naive_accuracy"] else float("inf")
        ratios.append(ratio)
        gains.append(ev["gain"])
        ci = f"{100 * ev['gain']:+.1f} ({100 * ev['gain_low']:+.1f}, {100 * ev['gain_high']:+.1f})"
        print(f"{seed:>4}  {ev['configurations_tried']:>7}  {s['chosen']:<36}  {ev['best_accuracy']:>7.1%}  "
              f"{ev['naive_accuracy']:>7.1%}  {ratio:>6.2f}  {ci:>22}  {time.monotonic() - started:>5.0f}s")
    if ratios:
        print(f"mean ratio chosen/naive {statistics.fmean(ratios):.2f}; mean gain {100 * statistics.fmean(gains):+.1f} "
              f"points over {len(ratios)} split seed(s)")


if __name__ == "__main__":
    main()
