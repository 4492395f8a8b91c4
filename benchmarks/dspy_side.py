"""DSPy's side of benchmarks/prompt_vs_dspy.py: one DSPy optimizer compiled and evaluated against an
OpenAI-compatible endpoint, as a DSPy user would run it.

Runs in an environment that has DSPy, not advisor's (DSPy is no dependency of advisor):

    .venv-dspy/bin/python benchmarks/dspy_side.py IN.json OUT.json

IN.json: ``url``, ``model``, ``optimizer`` (``labeled``: ``dspy.LabeledFewShot``; ``random_search``:
``dspy.BootstrapFewShotWithRandomSearch``; ``mipro``: ``dspy.MIPROv2(auto="light")``), ``labels``, ``instruction``
(the task description, as the signature's instructions), ``trainset`` (the demonstration pool), ``valset`` (the
selection split), ``heldout`` (the held-out split; each a list of ``{"id", "text", "label"}``), ``threads``,
``max_tokens``, ``timeout``, ``k`` (labeled demonstrations), ``bootstrapped`` (bootstrapped demonstrations),
``candidates`` (candidate programs of the random search). The program is ``dspy.Predict`` on the signature
``text -> label`` with ``label`` a ``Literal`` of the labels; the metric is exact match of the predicted label (a
prediction that fails to parse scores 0, DSPy's ``failure_score``).

OUT.json: the held-out predictions per item, the compile and evaluation wall times (epoch seconds, so the caller
can split the requests it counted), the compiled program's demonstrations and instructions, and the messages it
sends for the first held-out item.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Literal


def main() -> None:
    spec = json.loads(open(sys.argv[1], encoding="utf-8").read())
    import dspy

    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)  # fresh per run: every request paid
    lm = dspy.LM(f"openai/{spec['model']}", api_base=spec["url"], api_key="not-needed", temperature=0,
                 max_tokens=spec["max_tokens"], timeout=spec["timeout"])
    many = 10 ** 6  # a parse failure is a wrong answer, never a reason to stop
    dspy.configure(lm=lm, max_errors=many)

    label_type = Literal[tuple(spec["labels"])]
    signature = dspy.make_signature({"text": (str, dspy.InputField()), "label": (label_type, dspy.OutputField())},
                                    spec["instruction"])
    student = dspy.Predict(signature)

    def examples(rows: list[dict]) -> list:
        return [dspy.Example(text=r["text"], label=r["label"]).with_inputs("text") for r in rows]

    def exact(example, prediction, trace=None) -> bool:
        return str(getattr(prediction, "label", "") or "").strip() == example.label

    train, val, held = examples(spec["trainset"]), examples(spec["valset"]), examples(spec["heldout"])
    threads, name = spec["threads"], spec["optimizer"]
    out: dict = {"optimizer": name, "dspy_version": dspy.__version__, "compile_started": time.time()}
    if name == "labeled":
        program = dspy.LabeledFewShot(k=spec["k"]).compile(student, trainset=train)
    elif name == "random_search":
        optimizer = dspy.BootstrapFewShotWithRandomSearch(
            metric=exact, max_bootstrapped_demos=spec["bootstrapped"], max_labeled_demos=spec["k"],
            num_candidate_programs=spec["candidates"], num_threads=threads, max_errors=many)
        program = optimizer.compile(student, trainset=train, valset=val)
        out["candidate_scores"] = [c["score"] for c in getattr(program, "candidate_programs", [])]
    elif name == "mipro":
        optimizer = dspy.MIPROv2(metric=exact, auto="light", max_bootstrapped_demos=spec["bootstrapped"],
                                 max_labeled_demos=spec["k"], num_threads=threads, max_errors=many)
        program = optimizer.compile(student, trainset=train, valset=val)
    else:
        raise SystemExit(f"unknown optimizer {name!r}")
    out["compile_seconds"] = time.time() - out["compile_started"]

    out["eval_started"] = time.time()
    evaluate = dspy.Evaluate(devset=held, metric=exact, num_threads=threads, max_errors=many, failure_score=0,
                             display_progress=False)
    result = evaluate(program)
    out["eval_seconds"] = time.time() - out["eval_started"]
    out["held_out"] = [{"id": row["id"], "gold": row["label"],
                        "prediction": getattr(prediction, "label", None), "correct": bool(score)}
                       for row, (_, prediction, score) in zip(spec["heldout"], result.results)]
    predictor = program.predictors()[0]
    out["demos"] = len(predictor.demos)
    out["bootstrapped_demos"] = sum(1 for d in predictor.demos if d.get("augmented"))
    out["instructions"] = predictor.signature.instructions
    out["prompt_example"] = dspy.ChatAdapter().format(predictor.signature, predictor.demos,
                                                      {"text": spec["heldout"][0]["text"]})
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, default=str)


if __name__ == "__main__":
    main()
