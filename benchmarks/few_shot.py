"""Benchmark: the few-shot probe's prefix-cached scorer vs a naive full-prompt scorer.

Same model, data, k and prompts for both; prints the time of each, the ratio and the largest
log-likelihood difference; then the cached scorer in bf16 (the probe's default on a CPU with native bf16)
against float32: time, largest difference and how many predicted labels agree. Not a test: run it by hand
and record the numbers in docs/benchmarks.md.

    python benchmarks/few_shot.py [--data FILE] [--model smollm2-135m] [-k 8] [--n 40] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import time

POS = ["I loved this movie", "Great service, very friendly staff", "Absolutely wonderful experience",
       "The food was delicious", "Best purchase I made this year", "Fantastic quality and fast shipping"]
NEG = ["I hated this movie", "Terrible service, rude staff", "Absolutely awful experience",
       "The food was cold and bland", "Worst purchase I made this year", "Poor quality and slow shipping"]


def synthetic(path: str, n: int) -> str:
    rng = random.Random(0)
    rows = [{"id": str(i), "text": f"{rng.choice(POS if i % 2 else NEG)}, order #{i}.",
             "label": "positive" if i % 2 else "negative"} for i in range(n)]
    with open(path, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    return path


def main() -> None:
    import torch

    from advisor.probes.common.data import load_dataset, split_dataset
    from advisor.probes.few_shot.spec import draw_demos
    from advisor.probes.common.lm import LocalModel
    from advisor.probes.common.prompting import PromptBuilder, default_template
    from advisor.probes.common.runtime import ModelSpec, load_causal_lm
    from advisor.probes.common.scoring import naive_score_choices, score_choices

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data"), ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("-k", type=int, default=8), ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    data = args.data or synthetic("/tmp/advisor-bench-few-shot.jsonl", args.n + 64)
    ds = load_dataset(data)
    split = split_dataset(ds, args.n, seed=0)
    loaded = load_causal_lm(ModelSpec(name=args.model, device="cpu"))
    lm = LocalModel(loaded)  # the interface the probes use
    builder = PromptBuilder(default_template(ds.task), ds.labels, lm)
    demos = [(d.text, d.label) for d in draw_demos(split.pool, args.k, args.seed, ds.labels)]
    contexts = [builder.context(demos, e.text) for e in split.eval]
    choices = [[builder.continuation(lab) for lab in ds.labels]] * len(contexts)
    print(f"model={args.model} threads={torch.get_num_threads()} k={args.k} eval={len(contexts)} labels={len(ds.labels)}")
    score_choices(loaded, contexts[:2], choices[:2])  # warm-up (allocator, kernels)
    # interleaved repeats, best of three: the interface and the direct call see the same machine state
    t_fast = t_direct = float("inf")
    for _ in range(3):
        stats: dict = {}
        t0 = time.perf_counter()
        fast = lm.score_choices(contexts, choices, stats=stats)
        t_fast = min(t_fast, time.perf_counter() - t0)
        t0 = time.perf_counter()
        direct = score_choices(loaded, contexts, choices)
        t_direct = min(t_direct, time.perf_counter() - t0)
    t0 = time.perf_counter()
    slow = naive_score_choices(loaded, contexts, choices)
    t_slow = time.perf_counter() - t0
    diff = max(abs(a.logprob - b.logprob) for ra, rb in zip(fast, slow) for a, b in zip(ra, rb))
    same = all(a.logprob == b.logprob for ra, rb in zip(fast, direct) for a, b in zip(ra, rb))
    print(f"tokens run: cached={stats['forward_tokens']} naive={stats['full_tokens']}")
    print(f"cached scorer via the LanguageModel interface: {t_fast:.2f} s   called directly: {t_direct:.2f} s "
          f"(ratio {t_fast / t_direct:.2f}, identical scores: {same})")
    print(f"naive scorer: {t_slow:.2f} s   speed-up of the cached scorer: {t_slow / t_fast:.1f}x")
    print(f"max |log-likelihood difference| cached vs naive: {diff:.2e}")
    from advisor.probes.common.precision import cpu_supports_bf16

    t_bf16 = float("inf")
    with lm.in_bf16(True):  # as the probe does with --bf16 auto on such a CPU
        for _ in range(3):
            t0 = time.perf_counter()
            low = lm.score_choices(contexts, choices)
            t_bf16 = min(t_bf16, time.perf_counter() - t0)
    diff16 = max(abs(a.logprob - b.logprob) for ra, rb in zip(fast, low) for a, b in zip(ra, rb))
    top = lambda row: max(range(len(row)), key=lambda j: (row[j].logprob, -j))  # noqa: E731
    agree = sum(top(ra) == top(rb) for ra, rb in zip(fast, low))
    acc = lambda rows: sum(ds.labels[top(r)] == e.label for r, e in zip(rows, split.eval)) / len(rows)  # noqa: E731
    print(f"bf16 (CPU has native bf16: {cpu_supports_bf16()}): {t_bf16:.2f} s, {t_fast / t_bf16:.2f}x float32; "
          f"max |difference| to float32 {diff16:.2e}; same predicted label {agree}/{len(fast)}; "
          f"accuracy {acc(low):.3f} (float32 {acc(fast):.3f})")


if __name__ == "__main__":
    main()
