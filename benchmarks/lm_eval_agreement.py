"""Agreement of advisor's few-shot scorer with EleutherAI's lm-evaluation-harness (lm-eval).

The harness builds the prompts itself (a ``ConfigurableTask`` on a local JSONL, ``multiple_choice``,
``first_n`` few-shot sampler so both sides see the same demonstrations) and scores them with
``HFLM.loglikelihood``; advisor builds its prompts with ``PromptBuilder`` and scores them with
``score_choices``. Printed per (template, k): whether the prompts are identical (context string,
continuation strings and token ids), the largest |Δ log-likelihood| over every (example, label),
whether the greedy flags agree, and the agreement of the argmax predictions (raw and
length-normalized). Not a test: run it by hand and record the numbers in docs/benchmarks.md.

lm-eval is not a dependency of advisor; run this with a separate venv that has it, with advisor's
source on the path (the script maps ``advisor.probes`` to the checkout itself)::

    python3 -m venv /tmp/lmeval-venv
    /tmp/lmeval-venv/bin/pip install torch==2.13.0          # the CPU build; any pinned torch
    /tmp/lmeval-venv/bin/pip install "lm_eval[hf]"
    /work/main/.venv/bin/advisor models prepare              # converts the embedded model once
    PYTHONPATH=/work/main HF_DATASETS_OFFLINE=1 /tmp/lmeval-venv/bin/python benchmarks/lm_eval_agreement.py \\
        [--model DIR] [--data FILE] [--n 20] [-k 0,2] [--bf16]

``--model`` defaults to the embedded smollm2-135m converted by ``advisor models prepare``.
Exit status 1 when any difference exceeds ``--tol`` (default 1e-3) or a prompt differs. ``--bf16`` compares
both sides in bf16 (the few-shot probe's default on a CPU with native bf16): tolerance 1 nat, and at most 5% of
the predicted labels may differ (bf16 rounding flips near-ties).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INSTRUCTION = "Classify the support ticket by intent.\n\n"  # an lm-eval ``description`` (verbatim)


def import_advisor() -> None:
    """Make ``advisor.probes`` importable from the checkout when advisor is not installed here."""
    try:
        import advisor.probes.common.scoring  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO))
        import advisor

        advisor.__path__.append(str(REPO))  # advisor.probes lives in REPO/probes (see pyproject)


def harness_task(labels: list[str], demos_file: Path, eval_file: Path, chat_instruction: bool):
    from lm_eval.api.task import ConfigurableTask

    return ConfigurableTask(config={
        "task": "advisor_agreement", "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"train": str(demos_file), "test": str(eval_file)}},
        "training_split": "train", "test_split": "test", "fewshot_split": "train",
        "output_type": "multiple_choice", "doc_to_text": "{{text}}\nIntent:", "doc_to_target": "{{label}}",
        "doc_to_choice": labels, "target_delimiter": " ", "fewshot_delimiter": "\n\n",
        "description": INSTRUCTION if chat_instruction else "", "fewshot_config": {"sampler": "first_n"},
    })


def advisor_template(chat: bool, instruction: bool):
    from advisor.probes.common.prompting import PromptTemplate

    # lm-eval's description is prepended verbatim: instruction = description, instruction_delimiter = ""
    return PromptTemplate(instruction=INSTRUCTION if instruction else "", instruction_delimiter="",
                          example="{{text}}\nIntent:", target_delimiter=" ", fewshot_delimiter="\n\n",
                          use_chat_template=chat)


def compare(lm, loaded, task, builder, docs, demos, k: int, chat: bool, bf16: bool = False) -> dict:
    from lm_eval.api.instance import Instance

    from advisor.probes.common.lm import LocalModel
    from advisor.probes.common.scoring import encode_pair

    labels = builder.labels
    chat_fn = lm.apply_chat_template if chat else None
    h_ctx, h_conts, instances = [], [], []
    for i, doc in enumerate(docs):
        ctx = task.fewshot_context(doc, k, apply_chat_template=chat, chat_template=chat_fn)
        reqs = task.construct_requests(doc, ctx, apply_chat_template=chat, metadata=("agreement", i, k))
        h_ctx.append(ctx)
        h_conts.append([r.args[1] for r in reqs])
        instances += [Instance(request_type="loglikelihood", doc=doc, arguments=r.args, idx=j) for j, r in
                      enumerate(reqs)]
    h_out = lm.loglikelihood(instances, disable_tqdm=True)
    shots = [(d["text"], d["label"]) for d in demos[:k]]
    a_ctx = [builder.context(shots, d["text"]) for d in docs]
    a_conts = [builder.continuation(lab) for lab in labels]
    local = LocalModel(loaded)  # the probes' interface, in the precision the probe would use
    with local.in_bf16(bf16):
        a_out = local.score_choices(a_ctx, [a_conts] * len(docs))

    same_text = sum(a == h and hc == a_conts for a, h, hc in zip(a_ctx, h_ctx, h_conts))
    same_ids = sum(encode_pair(loaded.tokenizer, h, c) == lm._encode_pair(h, c)
                   for h, conts in zip(h_ctx, h_conts) for c in conts)
    lengths = [len(builder.template.word(lab)) for lab in labels]
    diffs, greedy_same, argmax_same, norm_same = [], 0, 0, 0
    for i, row in enumerate(a_out):
        h_row = h_out[i * len(labels):(i + 1) * len(labels)]
        diffs += [abs(a.logprob - h[0]) for a, h in zip(row, h_row)]
        greedy_same += sum(a.greedy == bool(h[1]) for a, h in zip(row, h_row))
        a_ll, h_ll = [a.logprob for a in row], [h[0] for h in h_row]
        argmax_same += _argmax(a_ll) == _argmax(h_ll)
        norm_same += _argmax([v / n for v, n in zip(a_ll, lengths)]) == _argmax([v / n for v, n in zip(h_ll, lengths)])
    n_pairs = len(docs) * len(labels)
    return {"template": "chat" if chat else "plain", "k": k, "examples": len(docs), "pairs": n_pairs,
            "same_prompt": same_text, "same_token_ids": same_ids, "max_abs_diff": max(diffs),
            "greedy_same": greedy_same, "argmax_same": argmax_same, "argmax_norm_same": norm_same,
            "advisor_acc": _acc(a_out, labels, docs), "lm_eval_acc": _acc_h(h_out, labels, docs)}


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def _acc(rows, labels, docs) -> float:
    return sum(labels[_argmax([s.logprob for s in r])] == d["label"] for r, d in zip(rows, docs)) / len(docs)


def _acc_h(flat, labels, docs) -> float:
    n = len(labels)
    return sum(labels[_argmax([x[0] for x in flat[i * n:(i + 1) * n]])] == d["label"]
               for i, d in enumerate(docs)) / len(docs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="HF checkpoint folder (default: advisor's converted smollm2-135m)")
    ap.add_argument("--data", default=str(REPO / "examples" / "support-desk" / "tickets.jsonl"))
    ap.add_argument("--n", type=int, default=20, help="eval examples")
    ap.add_argument("-k", default="0,2", help="numbers of demonstrations, comma-separated")
    ap.add_argument("--bf16", action="store_true",
                    help="both sides in bf16: lm-eval loads the weights as bfloat16, advisor holds its float32 "
                         "weights in bf16 as the few-shot probe does on a CPU with native bf16")
    ap.add_argument("--tol", type=float, default=None,
                    help="largest |Δ log-likelihood| allowed (default 1e-3; 1.0 with --bf16, whose 8-bit "
                         "mantissa rounds differently in a batched, padded pass and a single one)")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    if args.tol is None:
        args.tol = 1.0 if args.bf16 else 1e-3
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import_advisor()

    import lm_eval
    import torch
    import transformers
    from lm_eval.models.huggingface import HFLM

    from advisor.paths import cache_dir
    from advisor.probes.common.lm import LocalModel
    from advisor.probes.common.prompting import PromptBuilder
    from advisor.probes.common.runtime import ModelSpec, load_causal_lm

    model = args.model or str(cache_dir() / "models" / "smollm2-135m")
    if not Path(model, "config.json").exists():
        print(f"--model {model}: no checkpoint there; run `advisor models prepare` or pass --model DIR.")
        return 2
    rows_all = [json.loads(line) for line in Path(args.data).read_text(encoding="utf-8").splitlines() if line.strip()]
    labels = sorted({r["label"] for r in rows_all})
    ks = sorted({int(x) for x in args.k.split(",")})
    demos, docs = rows_all[:max(ks)], rows_all[max(ks):max(ks) + args.n]

    torch.manual_seed(0)
    loaded = load_causal_lm(ModelSpec(name=model, device="cpu", dtype="float32"))
    lm = HFLM(pretrained=model, device="cpu", dtype="bfloat16" if args.bf16 else "float32", batch_size=1)
    print(f"lm-eval {lm_eval.__version__ if hasattr(lm_eval, '__version__') else _version('lm_eval')}, "
          f"transformers {transformers.__version__}, torch {torch.__version__}; model {model} "
          f"({'bf16' if args.bf16 else 'float32'}); "
          f"{len(docs)} examples x {len(labels)} labels from {args.data}")

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        demos_file, eval_file = Path(tmp, "demos.jsonl"), Path(tmp, "eval.jsonl")
        # the train split needs at least one row even at k=0
        demos_file.write_text("".join(json.dumps(r) + "\n" for r in (demos or rows_all[-1:])))
        eval_file.write_text("".join(json.dumps(r) + "\n" for r in docs))
        for chat in (False, True):
            for instruction in (False, True):
                task = harness_task(labels, demos_file, eval_file, instruction)
                hdocs = list(task.test_docs())
                builder = PromptBuilder(advisor_template(chat, instruction), labels, LocalModel(loaded))
                for k in ks:
                    row = compare(lm, loaded, task, builder, hdocs, demos, k, chat, args.bf16)
                    row["instruction"] = instruction
                    results.append(row)

    head = ("template", "instr", "k", "prompts =", "token ids =", "max |Δ ll|", "greedy =", "argmax =",
            "argmax_norm =", "acc adv / lm-eval")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in results:
        print(f"| {r['template']} | {'yes' if r['instruction'] else 'no'} | {r['k']} | {r['same_prompt']}/{r['examples']} "
              f"| {r['same_token_ids']}/{r['pairs']} | {r['max_abs_diff']:.2e} | {r['greedy_same']}/{r['pairs']} "
              f"| {r['argmax_same']}/{r['examples']} | {r['argmax_norm_same']}/{r['examples']} "
              f"| {r['advisor_acc']:.2f} / {r['lm_eval_acc']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    # float32: every prediction equal; bf16: near-ties may flip, at most 5% of the predictions
    min_same = 0.95 if args.bf16 else 1.0
    bad = [r for r in results if r["max_abs_diff"] > args.tol or r["same_prompt"] < r["examples"]
           or r["same_token_ids"] < r["pairs"] or r["argmax_same"] < min_same * r["examples"]]
    print("AGREE" if not bad else f"DIFFER in {len(bad)} of {len(results)} settings (tolerance {args.tol:g})")
    return 1 if bad else 0


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


if __name__ == "__main__":
    sys.exit(main())
