"""Benchmark: the LoRA probe's training loop vs a bare peft + torch loop (same data, model, hyper-parameters).

Prints real (non-padding) training tokens per second of each loop in fp32 and with bf16 autocast, the ratios
(target >= 2), the eval accuracy each reaches on a held-out set (256 by default), and the peak RSS.
The probe's loop: length-grouped batches; the instruction every example starts with run once per batch (its
key/value cache repeated along the batch); logits only for the target tokens, the output layer given a
contiguous input; a dropout mask from 15-bit random integers; eager attention; gradients only for the adapter;
on a CPU with native bf16 (its default there), the frozen weights held in bf16 with bf16 autocast.

    python benchmarks/lora.py [--model smollm2-135m] [--examples 64] [--epochs 2] [--threads 2] [--repeats 3] [--ablate]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import resource
import statistics
import time


def synthetic(n: int, seed: int) -> list[tuple[str, str]]:
    """Support tickets whose label is given away by a cue word, with varied lengths."""
    rng = random.Random(seed)
    cues = {"billing": ["invoice", "refund", "charge", "receipt"], "technical": ["crash", "login", "upload", "error"]}
    filler = "please help me with this as soon as possible because my team is waiting".split()
    out = []
    for i in range(n):
        label = "billing" if i % 2 else "technical"
        words = filler[: rng.randint(2, len(filler))]
        out.append((f"{' '.join(words)}: {rng.choice(cues[label])} problem", label))
    return out


def encode(loaded, rows):
    from advisor.probes.common.prompting import PromptBuilder, default_template
    from advisor.probes.common.lm import LocalModel
    from advisor.probes.common.scoring import encode_pair
    from advisor.probes.lora.training import supervised_example

    builder = PromptBuilder(default_template("classification"), ["billing", "technical"], LocalModel(loaded))
    return builder, [supervised_example(*encode_pair(loaded.tokenizer, builder.context([], t), builder.continuation(y)), 512)
                     for t, y in rows]


def bare_loop(model, examples, lr, epochs, batch_size, seed, pad_id, bf16):
    """What a user would write: shuffled batches padded to their longest, AdamW, linear decay."""
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    total = epochs * -(-len(examples) // batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / total))
    tokens, started = 0, time.perf_counter()
    model.train()
    for _ in range(epochs):
        idx = list(range(len(examples)))
        rng.shuffle(idx)
        for s in range(0, len(idx), batch_size):
            batch = [examples[i] for i in idx[s:s + batch_size]]
            width = max(len(e.input_ids) for e in batch)
            ids = torch.tensor([list(e.input_ids) + [pad_id] * (width - len(e.input_ids)) for e in batch])
            labels = torch.tensor([list(e.labels) + [-100] * (width - len(e.labels)) for e in batch])
            mask = torch.tensor([[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in batch])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            tokens += int(mask.sum())
    model.eval()
    return tokens / (time.perf_counter() - started)


def accuracy(loaded, builder, rows):
    from advisor.probes.common.scoring import score_choices

    conts = [builder.continuation(y) for y in ("billing", "technical")]
    scores = score_choices(loaded, [builder.context([], t) for t, _ in rows], [conts] * len(rows))
    pred = ["billing" if r[0].logprob >= r[1].logprob else "technical" for r in scores]
    return sum(p == y for p, (_, y) in zip(pred, rows)) / len(rows)


def one(loaded, args, train_ex, builder, eval_rows, which, bf16, without: str | None = None, evaluate: bool = True):
    """Train a fresh adapter with the bare loop or the probe's loop (``without`` one of its tricks); returns
    tokens/s and the held-out accuracy (None when ``evaluate`` is off)."""
    import contextlib

    import torch
    from peft import LoraConfig, get_peft_model

    from advisor.probes.common import precision
    from advisor.probes.lora import training
    from advisor.probes.lora.adapters import default_target_modules

    torch.manual_seed(0)
    targets = default_target_modules(loaded.model)
    model = get_peft_model(loaded.model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=targets,
                                                     task_type="CAUSAL_LM"))
    pad = loaded.tokenizer.pad_token_id
    try:
        if which == "probe":
            if without != "fast dropout mask":
                training.fast_dropout(model)  # as the probe's adapter does
            settings = training.TrainSettings(epochs=args.epochs, learning_rate=1e-3, batch_size=8, bf16=bf16,
                                              group_by_length=without != "length grouping",
                                              share_prefix=without != "shared prefix",
                                              target_only_logits=without != "target-only logits")
            with contextlib.ExitStack() as undo:
                undo.enter_context(precision.weights_in_bf16(loaded.model, enabled=bf16))  # as the probe does
                if without == "eager attention":
                    undo.enter_context(_patched(training, "eager_attention", lambda m: contextlib.nullcontext()))
                if without == "contiguous head input":
                    undo.enter_context(_patched(training, "contiguous_head_input", lambda m: contextlib.nullcontext()))
                tps = training.train(model, train_ex, settings, pad).tokens_per_second
                acc = accuracy(loaded, builder, eval_rows) if evaluate else None  # evaluated in bf16 too
        else:
            tps = bare_loop(model, train_ex, 1e-3, args.epochs, 8, 0, pad, bf16)
            acc = accuracy(loaded, builder, eval_rows) if evaluate else None
    finally:
        model.unload()
        loaded.model.eval()
    return tps, acc


TRICKS = ("shared prefix", "target-only logits", "fast dropout mask", "eager attention", "contiguous head input",
          "length grouping")


@contextlib.contextmanager
def _patched(module, name, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--examples", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval", type=int, default=256, help="held-out examples for the accuracy check")
    ap.add_argument("--repeats", type=int, default=3, help="training runs per loop; tokens/s is their median")
    ap.add_argument("--ablate", action="store_true", help="also train the probe's loop (its default precision) "
                    "without each trick")
    args = ap.parse_args()
    import os

    os.environ["ADVISOR_THREADS"] = str(args.threads)
    from advisor.probes.common.runtime import ModelSpec, load_causal_lm
    from advisor.probes.common.precision import cpu_supports_bf16

    loaded = load_causal_lm(ModelSpec(name=args.model))
    builder, train_ex = encode(loaded, synthetic(args.examples, 0))
    eval_rows = synthetic(args.eval, 1)
    print(f"model {args.model}, {args.examples} examples x {args.epochs} epochs, batch 8, LoRA r=8 (all projections), "
          f"{args.threads} threads, CPU bf16: {cpu_supports_bf16()}")
    print(f"zero-shot accuracy {accuracy(loaded, builder, eval_rows):.3f}")
    configs = [(w, bf16) for bf16 in (False, True) for w in ("bare", "probe")]
    speeds: dict = {c: [] for c in configs}
    accs: dict = {}
    for rep in range(args.repeats):  # interleaved, so a busy spell of the machine hits every loop alike
        for c in configs:
            tps, acc = one(loaded, args, train_ex, builder, eval_rows, *c, evaluate=rep == 0)
            speeds[c].append(tps)
            accs.setdefault(c, acc)
    res = {c: (statistics.median(speeds[c]), accs[c]) for c in configs}
    print(f"tokens/s: median of {args.repeats} runs each")
    for (w, bf16), (tps, acc) in res.items():
        print(f"{'bf16' if bf16 else 'fp32':5} {w:6} {tps:8.0f} tokens/s  eval accuracy {acc:.3f}")
    default = cpu_supports_bf16()  # the probe's --bf16 auto on a CPU
    probe = res[("probe", default)][0]
    name = "bf16" if default else "fp32"
    print(f"ratio probe ({name}, its default here) / bare fp32 (as written):  {probe / res[('bare', False)][0]:.2f}")
    print(f"ratio probe ({name}, its default here) / bare bf16 autocast:     {probe / res[('bare', True)][0]:.2f}")
    print(f"ratio probe fp32 / bare fp32:  {res[('probe', False)][0] / res[('bare', False)][0]:.2f};  "
          f"probe bf16 / bare bf16: {res[('probe', True)][0] / res[('bare', True)][0]:.2f}")
    if args.ablate:
        for trick in TRICKS:
            tps = statistics.median(one(loaded, args, train_ex, builder, eval_rows, "probe", default, without=trick,
                                        evaluate=False)[0] for _ in range(args.repeats))
            print(f"probe ({name}) without {trick:22} {tps:8.0f} tokens/s  ({tps / probe:.2f} of the full loop)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
