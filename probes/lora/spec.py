"""The LoRA trial probe: does fine-tuning pay off on the user's data, and at how many examples?

Real PEFT adapters (LoRA, or prompt tuning with ``method="prompt-tuning"``) are trained on nested,
seeded, label-stratified subsets of the training pool (``sizes``), with the very pool / eval split
of the few-shot probe (:func:`advisor.probes.common.data.split_dataset`, same ``eval_size`` and
``split_seed``). Each adapter is scored on the eval set by the few-shot probe's label
log-likelihood scorer (:mod:`advisor.probes.common.scoring`) with the zero-shot prompt format, so a LoRA
point and a few-shot point are directly comparable. The run then fits a saturating learning
curve (:mod:`advisor.probes.lora.learning_curve`), extrapolates it to the data the team has, finds where
LoRA overtakes the best few-shot accuracy (with a 95% interval read off the curve's bootstrap band), runs an
exact McNemar test against the best few-shot configuration on the same eval examples, measures forgetting on
a bundled general-English sample (with a paired block-bootstrap interval, :mod:`advisor.probes.lora.forgetting`),
and projects the training cost of the production model (:mod:`advisor.training_cost`).

A small probe model fine-tuned on a few hundred examples is a lower bound of what fine-tuning a
production model gains.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from advisor.probes.common.runtime import ModelSpec
from advisor.probes.common.spec import AssessInputs, Evidence, Plan, ProbeInput, ProbeSpec, fact
from advisor.sentences import say

VERSION = "2"  # 2: the forgetting ratio and the crossover carry their 95% intervals
DEFAULT_SIZES = [16, 32, 64, 128]
MIN_STEPS = 24  # small subsets get more epochs, so every size sees at least this many optimizer steps
MAX_EPOCHS = 20
WARM_STEPS = 8  # a size that continues from the previous one's adapter trains at least this many steps
WARM_FIRST_STEPS = 12  # the first size of a warm-started curve (later sizes add steps on top of it)


class LoraProbeConfig(BaseModel):
    """Inputs of the LoRA probe (``advisor probe lora`` options, or set by ``advisor assess``).

    Data, model, ``eval_size``, ``split_seed`` and ``template`` mean what they mean for the
    few-shot probe; keep them equal to compare the two. ``epochs`` / ``learning_rate`` ``None``
    pick defaults (see :func:`advisor.probes.lora.run.epochs_for`). ``alpha`` ``None`` is
    ``2 x rank``; ``target_modules`` ``None`` picks them from the architecture.
    """

    model_config = ConfigDict(extra="forbid")

    data: Path
    text_col: str | None = None
    label_col: str | None = None
    task: Literal["auto", "classification"] = "auto"
    model: ModelSpec = Field(default_factory=ModelSpec)
    eval_size: int = Field(200, ge=1)
    split_seed: int = 0
    template: Path | None = None
    sizes: list[int] = Field(default_factory=lambda: list(DEFAULT_SIZES))
    method: Literal["lora", "prompt-tuning"] = "lora"
    rank: int = Field(8, ge=1)
    alpha: float | None = Field(None, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | None = None
    virtual_tokens: int = Field(20, ge=1)
    epochs: int | None = Field(None, ge=1)
    #: each size continues from the previous size's adapter (nested subsets), with fewer steps
    warm_start: bool = False
    learning_rate: float | None = Field(None, gt=0)
    batch_size: int = Field(8, ge=1)
    max_length: int = Field(512, ge=16)
    bf16: Literal["auto", "on", "off"] = "auto"
    seed: int = 0
    language: str = Field("en", pattern=r"^[a-z]{2}$")  # of the data: forgetting is measured on general text in it
    available_examples: int | None = Field(None, ge=1)
    few_shot_best: float | None = Field(None, ge=0, le=1)
    few_shot_run_id: int | None = Field(None, ge=1)
    production_model_b: float | None = Field(None, gt=0)
    gpu: str = "a100"
    gpu_price_per_hour: float | None = Field(None, ge=0)
    batch_tokens: int = Field(8192, ge=256)

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, value: list[int]) -> list[int]:
        if not value or any(v < 1 for v in value):
            raise ValueError("give one or more training-set sizes of at least 1, e.g. 16,32,64,128")
        return sorted(set(value))

    @field_validator("target_modules")
    @classmethod
    def _modules(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not [v for v in value if v.strip()]:
            raise ValueError("give at least one module name, e.g. q_proj,v_proj (or leave it out for the default)")
        return value


class LoraEvidence(Evidence):
    """Facts of the LoRA trial (rules see them as ``lora.<fact>``). A small probe model tuned on a few
    hundred examples is evidence about the data (are the labels learnable, does more data help), and
    a lower bound of what tuning a production model gains."""

    method: Literal["lora", "prompt-tuning"] | None = fact("the adapter trained")
    zero_shot_accuracy: float | None = fact("accuracy without adapter, same prompt and scorer", "fraction", ge=0, le=1)
    eval_size: int | None = fact("held-out examples scored", "examples", ge=0)
    complete: bool | None = fact("every requested size was trained")
    train_tokens_per_example: float | None = fact("mean tokens of a training example (prompt and label), measured",
                                                  "tokens", ge=0)
    best_accuracy: float | None = fact("highest eval accuracy over the trained sizes", "fraction", ge=0, le=1)
    best_size: int | None = fact("training examples of that adapter (smallest on ties)", "examples", ge=0)
    few_shot_best: float | None = fact("best few-shot accuracy compared against", "fraction", ge=0, le=1)
    gain_over_few_shot: float | None = fact("best_accuracy minus few_shot_best", "fraction", ge=-1, le=1)
    baseline: Literal["few-shot", "zero-shot"] | None = fact(
        "what significant/p_value compare with: the few-shot run's per-example results, or zero-shot")
    significant: bool | None = fact("exact McNemar test p < 0.05 between the best adapter and the baseline")
    p_value: float | None = fact("two-sided p-value of that test", "probability", ge=0, le=1)
    required_eval_size_5pp: int | None = fact(
        "eval examples to detect a 5-point difference from the baseline at 80% power", "examples", ge=0)
    crossover_examples: float | None = fact(
        "training examples where the fitted curve reaches few_shot_best (only when within reach)", "examples", ge=0)
    crossover_examples_low: float | None = fact(
        "lower end of the crossover's 95% interval: the largest size at which the band's upper edge is still below "
        "few_shot_best (up to 10x the largest size trained)", "examples", ge=0)
    crossover_examples_high: float | None = fact(
        "upper end: the smallest size at which the band's lower edge reaches few_shot_best (only within reach)",
        "examples", ge=0)
    projected_accuracy: float | None = fact("fitted curve at the labeled examples you have", "fraction", ge=0, le=1)
    projected_accuracy_low: float | None = fact("lower end of its 95% bootstrap band", "fraction", ge=0, le=1)
    projected_accuracy_high: float | None = fact("upper end of its 95% bootstrap band", "fraction", ge=0, le=1)
    forgetting_ratio: float | None = fact("general-English loss after / before training, best adapter (>1 forgets)",
                                          "ratio", ge=0)
    forgetting_ratio_low: float | None = fact(
        "lower end of its 95% interval (paired block bootstrap over the general-English sample's tokens)", "ratio",
        ge=0)
    forgetting_ratio_high: float | None = fact("upper end of that interval", "ratio", ge=0)
    training_gpu_hours: float | None = fact("the probe's projection of tuning the production model (GPU-hours)",
                                            "GPU-hours", ge=0)
    training_cost: float | None = fact("that projection priced with the probe's --gpu", "currency", ge=0)


#: Sizes ``assess`` trains (the standalone probe's default too).
ASSESS_SIZES = [8, 16, 32, 64]  # warm-started in an assessment: four points of the curve within its budget


def plan(answers: Any, inputs: AssessInputs) -> Plan:
    data = inputs.file("data")
    if data is None:
        return Plan.skip(say("no labeled data given (--data)"))
    if answers.task_type.value != "classification":
        return Plan.skip(say("the LoRA trial measures classification tasks only, and your answers say task_type "
                             "{task} (answer classification if your labels are classes)",
                             task=answers.task_type.value))
    # the answers say the labels are classes: the trial does not second-guess them from the data (many classes
    # or long label names would otherwise look like free text)
    config: dict[str, Any] = {"data": data, "task": "classification", "model": inputs.model_spec(),
                              "eval_size": inputs.eval_size,
                              "available_examples": answers.labeled_examples,
                              "production_model_b": answers.base_model_size_b, "sizes": ASSESS_SIZES,
                              "warm_start": True,  # an assessment wants the curve's shape within its budget
                              "bf16": inputs.bf16, "language": getattr(answers, "language", "en")}
    if inputs.gpu:
        config["gpu"] = inputs.gpu
    few = inputs.earlier.get("few-shot")
    if few is not None and "best_accuracy" in few.evidence:  # compare on the same eval set
        config["few_shot_best"] = few.evidence["best_accuracy"]
        if few.run_id is not None:
            config["few_shot_run_id"] = few.run_id
    return Plan(config)


def check(config: LoraProbeConfig) -> None:
    """The labeled data is readable and holds classes; the template and the GPU class are valid."""
    from advisor.probes.common.data import load_dataset
    from advisor.probes.common.prompting import load_template
    from advisor.training_cost import gpu_class

    load_dataset(config.data, config.text_col, config.label_col, config.task)
    if config.template is not None:
        load_template(config.template)
    gpu_class(config.gpu)


def caveats(ev: dict[str, Any]) -> list[str]:
    if ev.get("significant") is not False:
        return []
    need = ev.get("required_eval_size_5pp")
    baseline = ev.get("baseline", "few-shot")
    if need:
        return [say("The LoRA vs {baseline} difference is not statistically significant; about {need} eval examples "
                    "would detect a 5 pp difference.", baseline=baseline, need=int(need))]
    return [say("The LoRA vs {baseline} difference is not statistically significant.", baseline=baseline)]


SPEC = ProbeSpec(
    name="lora",
    description="Trains LoRA adapters on growing subsets of your data: learning curve, significance, cost.",
    config=LoraProbeConfig,
    evidence=LoraEvidence,
    runner="advisor.probes.lora.run:LoraProbe",
    plan=plan,
    inputs=(ProbeInput("data", "Labeled examples (JSONL, CSV or Parquet) for the few-shot and LoRA probes."),),
    template="probe_lora.md.j2", template_dir=Path(__file__).parent,
    weight=4.5,
    order=30,
    uses_model=True,
    caveats=caveats,
    check=check,
    command="advisor probe lora --data FILE",
)


# -- small pure helpers --------------------------------------------------------------------
def epochs_for(n: int, batch_size: int, fixed: int | None = None, warm: bool = False,
               first_of_warm: bool = False) -> int:
    """``fixed`` if given, else enough epochs for ``MIN_STEPS`` optimizer steps (3 to 20); a warm-started size
    (continuing from the previous size's adapter) needs ``WARM_STEPS`` steps and at least one epoch, and the
    first size of a warm-started curve ``WARM_FIRST_STEPS``."""
    if fixed is not None:
        return fixed
    if warm:
        return min(MAX_EPOCHS, max(1, math.ceil(WARM_STEPS * batch_size / max(1, n))))
    steps = WARM_FIRST_STEPS if first_of_warm else MIN_STEPS
    return min(MAX_EPOCHS, max(3, math.ceil(steps * batch_size / max(1, n))))


def nested_order(pool: list, seed: int) -> list:
    """A seeded, label-stratified order of ``pool``: every prefix has roughly the label proportions."""
    rng = random.Random(seed)
    groups: dict[str, list] = {}
    for e in pool:
        groups.setdefault(e.label, []).append(e)
    keyed = []
    for label in sorted(groups):
        members = groups[label]
        rng.shuffle(members)
        keyed += [((i + rng.random()) / len(members), e.id, e) for i, e in enumerate(members)]
    return [e for _, _, e in sorted(keyed, key=lambda t: (t[0], t[1]))]


def effective_sizes(sizes: list[int], pool_size: int) -> tuple[list[int], str | None]:
    """Sizes that fit the pool (plus the whole pool when some did not), and a note when trimmed."""
    kept = [s for s in sizes if s <= pool_size]
    if len(kept) == len(sizes):
        return kept, None
    if pool_size not in kept:
        kept.append(pool_size)
    dropped = [s for s in sizes if s > pool_size]
    return kept, say("sizes {sizes} exceed the training pool ({pool} examples); trained up to {pool}",
                     sizes=",".join(map(str, dropped)), pool=pool_size)


def few_shot_label(params: dict) -> str:
    return f"{params['k']}-shot" if "k" in params else "few-shot (" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")"


def best_few_shot(examples: list[dict]) -> tuple[dict, dict[str, bool]] | None:
    """From a few-shot run's stored examples: the best k (smallest on ties) and, at that k, the
    per-example correctness of its median-accuracy seed (the representative run for a paired test)."""
    groups: dict[tuple, dict[str, bool]] = {}
    for e in examples:
        if e.get("correct") is None:
            continue
        params = e.get("params") or {}
        groups.setdefault(tuple(sorted(params.items())), {})[e["example_id"]] = bool(e["correct"])
    if not groups:
        return None
    acc = {key: sum(v.values()) / len(v) for key, v in groups.items()}
    by_k: dict[Any, list[tuple]] = {}
    for key in groups:
        by_k.setdefault(dict(key).get("k", key), []).append(key)
    mean_k = {k: sum(acc[key] for key in keys) / len(keys) for k, keys in by_k.items()}
    best_k = max(mean_k, key=lambda k: (mean_k[k], -k if isinstance(k, (int, float)) else 0))
    keys = sorted(by_k[best_k], key=lambda key: (acc[key], key))
    median = keys[(len(keys) - 1) // 2]
    return {"params": dict(median), "k": best_k, "accuracy": mean_k[best_k], "seeds": len(keys)}, groups[median]
