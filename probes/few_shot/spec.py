"""The few-shot probe: how far does prompting a real language model get on the user's own task?

For each k (number of demonstrations) and each demonstration seed, every eval example is
prompted with k demonstrations drawn from the pool (balanced across labels) and:

- classification: each label word is scored by log-likelihood after the prompt (sum over its
  tokens) and the argmax is the prediction (``acc``); dividing by the label word's length in
  characters gives ``acc_norm`` — lm-evaluation-harness's multiple-choice convention;
- generation / extraction: greedy decoding (cut at the demonstration delimiter when no chat
  template is used), scored by exact match and token F1 (SQuAD normalization), plus JSON
  validity for extraction.

Per k: accuracy is the mean over seeds, its 95% CI is the Wilson interval for that mean on
``n = eval size`` (sampling error of the eval set); the spread across seeds (std, min, max) is
reported separately (prompt sensitivity is a consistency signal of its own), the std with its 95% chi-square
interval (normal theory, two or more seeds; :func:`std_interval`). k=0 has no
demonstrations, so it runs once.
"""

from __future__ import annotations

import random
import statistics
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from advisor.errors import InputError
from advisor.probes.common.base import Metric
from advisor.probes.common.endpoint import EndpointSpec
from advisor.probes.common.precision import Bf16Setting
from advisor.probes.common.runtime import ModelSpec
from advisor.probes.common.spec import AssessInputs, Evidence, Plan, ProbeInput, ProbeSpec, fact
from advisor.probes.common.stats import bootstrap_ci, n_for_halfwidth, wilson_interval
from advisor.sentences import say

VERSION = "2"  # 2: the seed spread carries its chi-square interval


class FewShotConfig(BaseModel):
    """Inputs of the few-shot probe (``advisor probe few-shot`` options, or set by ``advisor assess``)."""

    model_config = ConfigDict(extra="forbid")

    data: Path
    text_col: str | None = None
    label_col: str | None = None
    task: Literal["auto", "classification", "generation", "extraction"] = "auto"
    model: ModelSpec = Field(default_factory=ModelSpec)
    target: EndpointSpec | None = None  # the team's model behind an OpenAI-compatible endpoint
    k: list[int] = Field(default_factory=lambda: [0, 1, 4, 8])
    seeds: int = Field(3, ge=1)
    eval_size: int = Field(200, ge=1)
    split_seed: int = 0
    template: Path | None = None
    max_new_tokens: int = Field(64, ge=1)
    batch_tokens: int = Field(8192, ge=256)
    bf16: Bf16Setting = "auto"  # a local model's arithmetic (advisor.probes.common.precision); a target computes as it does


class FewShotEvidence(Evidence):
    """Facts of the few-shot probe (rules see them as ``few_shot.<fact>``). Figures come from the
    probe model: a lower bound and a comparison baseline for a larger model."""

    task: Literal["classification", "generation", "extraction"] | None = fact("the task as measured")
    best_accuracy: float | None = fact(
        "highest mean accuracy over k (exact match for generation/extraction)", "fraction", ge=0, le=1)
    best_k: int | None = fact("the k with that accuracy (smallest k on ties)", "demonstrations", ge=0)
    zero_shot_accuracy: float | None = fact("mean accuracy at k=0 (only when k=0 ran)", "fraction", ge=0, le=1)
    gain_0_to_best: float | None = fact("best_accuracy minus zero_shot_accuracy (only when k=0 ran)", "fraction",
                                        ge=-1, le=1)
    seed_spread: float | None = fact("standard deviation of accuracy across demonstration draws at the best k "
                                     "(prompt sensitivity; 0 with one seed or k=0)", "fraction", ge=0, le=1)
    seed_spread_low: float | None = fact(
        "lower end of the seed spread's 95% chi-square interval (two or more seeds)", "fraction", ge=0, le=1)
    seed_spread_high: float | None = fact("upper end of that interval (at most 0.5)", "fraction", ge=0, le=1)
    seed_range: float | None = fact("max minus min accuracy across draws at the best k", "fraction", ge=0, le=1)
    eval_size: int | None = fact("held-out examples scored", "examples", ge=0)
    ci_halfwidth: float | None = fact("half-width of the Wilson 95% interval of best_accuracy", "fraction",
                                      ge=0, le=1)
    n_labels: int | None = fact("distinct labels (0 for generation)", "labels", ge=0)
    chance_accuracy: float | None = fact("majority-class rate of the eval set (0 for generation)", "fraction",
                                         ge=0, le=1)
    best_macro_f1: float | None = fact("macro-F1 at the best k (classification)", "fraction", ge=0, le=1)
    best_token_f1: float | None = fact("mean token F1 at the best k (generation, extraction)", "fraction", ge=0, le=1)
    best_json_valid: float | None = fact("share of outputs that parse as JSON at the best k (extraction)",
                                         "fraction", ge=0, le=1)
    complete: bool | None = fact("every requested (k, seed) finished")
    format_failure_rate: float | None = fact(
        "answers naming no allowed label, at the best k (classification by generation)", "fraction", ge=0, le=1)
    latency_p50: float | None = fact("median seconds per request, as measured", "seconds", ge=0)
    latency_p95: float | None = fact("95th percentile seconds per request, as measured", "seconds", ge=0)
    prompt_tokens_zero_shot: float | None = fact("mean prompt tokens of a zero-shot request, as measured", "tokens",
                                                 ge=0)
    prompt_tokens_per_demo: float | None = fact("prompt tokens each demonstration adds, as measured", "tokens", ge=0)
    completion_tokens: float | None = fact("mean completion tokens per request, as measured", "tokens", ge=0)
    logprobs_returned: bool | None = fact("the endpoint returned token log-probabilities")


CLASSIFICATION_TASKS = ("classification",)
#: Lighter settings than the standalone defaults, so that all probes fit a few minutes in ``assess``.
ASSESS_SETTINGS = {"k": [0, 4, 8], "seeds": 2}


def plan(answers: Any, inputs: AssessInputs) -> Plan:
    data = inputs.file("data")
    if data is None:
        return Plan.skip(say("no labeled data given (--data)"))
    task = answers.task_type.value
    task = task if task in ("classification", "extraction") else "generation"
    return Plan({"data": data, "task": task, "model": inputs.model_spec(), "eval_size": inputs.eval_size,
                 "bf16": inputs.bf16, **ASSESS_SETTINGS})


def eval_size_for_5pp(evidence: dict[str, Any]) -> int:
    """Eval examples for a ±5-point Wilson half-width at the measured best accuracy (0.5 if unmeasured)."""
    p = float(evidence.get("best_accuracy", 0.5))
    return n_for_halfwidth(p, 0.05)


def check(config: FewShotConfig) -> None:
    """The labeled data and the prompt template are readable and usable (no model is loaded)."""
    from advisor.probes.common.data import load_dataset
    from advisor.probes.common.prompting import load_template

    ds = load_dataset(config.data, config.text_col, config.label_col, config.task)
    if config.task == "classification" and len(ds.labels) > max(50, len(ds) // 2):
        raise InputError(f"--data {config.data}: column {ds.label_col!r} has {len(ds.labels):,} distinct values in "
                         f"{len(ds):,} rows, too many to be classes; if they are free-text answers, say so (task_type "
                         "generation, or --task generation), else point --label-col at the column holding the classes.")
    if config.template is not None:
        load_template(config.template)


def caveats(ev: dict[str, Any]) -> list[str]:
    """The target run's caveat (the probe model's own accuracy is no evidence about your model, so narrowing its
    interval could not change the decision: that run has none)."""
    if ev.get("ci_halfwidth", 0) <= 0.08:
        return []
    return [say("Your model's few-shot accuracy is uncertain (±{halfwidth:.0f} pp at {eval_size} eval examples); "
                "about {needed} would narrow it to ±5 pp.", halfwidth=100 * ev["ci_halfwidth"],
                eval_size=ev.get("eval_size", "?"), needed=eval_size_for_5pp(ev))]


SPEC = ProbeSpec(
    name="few-shot",
    description="Few-shot prompting accuracy on your labeled data, per number of demonstrations.",
    config=FewShotConfig,
    evidence=FewShotEvidence,
    runner="advisor.probes.few_shot.run:FewShotProbe",
    plan=plan,
    inputs=(ProbeInput("data", "Labeled examples (JSONL, CSV or Parquet) for the few-shot and LoRA probes."),),
    template="probe_few_shot.md.j2", template_dir=Path(__file__).parent,
    weight=3.0,
    order=10,
    uses_model=True,
    placeholders={},  # the next steps' {best_k} and {eval_size} come from the target's run (target.py)
    caveats=None,  # the target run (target.py) carries :func:`caveats`
    check=check,
    command="advisor probe few-shot --data FILE",
)


# -- metrics (pure functions, reused by the run) ---------------------------------------------
def draw_demos(pool: list, k: int, seed: int, labels: list[str]) -> list:
    """k demonstrations from ``pool``, balanced across ``labels`` (round-robin), in shuffled order."""
    rng = random.Random(seed)
    if not labels:
        return rng.sample(pool, min(k, len(pool)))
    by_label = {lab: [e for e in pool if e.label == lab] for lab in labels}
    for members in by_label.values():
        rng.shuffle(members)
    order = list(labels)
    rng.shuffle(order)
    demos: list = []
    depth = 0
    while len(demos) < k and any(len(m) > depth for m in by_label.values()):
        demos.extend(by_label[lab][depth] for lab in order if len(by_label[lab]) > depth and len(demos) < k)
        depth += 1
    rng.shuffle(demos)
    return demos


def macro_f1(gold: list[str], pred: list[str], labels: list[str]) -> float:
    """Unweighted mean of per-label F1 over ``labels`` (a label never predicted nor present scores 0)."""
    scores = []
    for lab in labels:
        tp = sum(g == lab and p == lab for g, p in zip(gold, pred))
        fp = sum(g != lab and p == lab for g, p in zip(gold, pred))
        fn = sum(g == lab and p != lab for g, p in zip(gold, pred))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


def confusion(gold: list[str], pred: list[str], labels: list[str]) -> list[list[int]]:
    """Rows: gold label; columns: predicted label (both in ``labels`` order)."""
    index = {lab: i for i, lab in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, pred):
        matrix[index[g]][index[p]] += 1
    return matrix


def seed_stats(values: list[float]) -> dict[str, Any]:
    """Mean, sample std (0 for one value) with its 95% interval (:func:`std_interval`; ``None`` for one value),
    min and max of per-seed accuracies."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    low, high = std_interval(std, len(values)) or (None, None)
    return {"mean": statistics.fmean(values), "std": std, "std_low": low, "std_high": high,
            "min": min(values), "max": max(values)}


def std_interval(std: float, n: int, alpha: float = 0.05) -> tuple[float, float] | None:
    """The chi-square interval of a standard deviation from the sample std of ``n`` values (normal theory):
    ``std * sqrt((n - 1) / chi2(1 - alpha/2; n - 1))`` to ``std * sqrt((n - 1) / chi2(alpha/2; n - 1))``, the upper
    end capped at 0.5 (no quantity in [0, 1] has a larger standard deviation); ``None`` for fewer than two."""
    from scipy.stats import chi2

    if n < 2:
        return None
    df = n - 1
    low = std * (df / chi2.ppf(1 - alpha / 2, df)) ** 0.5
    high = std * (df / chi2.ppf(alpha / 2, df)) ** 0.5
    return float(low), float(min(high, 0.5))


def accuracy_metric(name: str, mean: float, n: int, params: dict) -> Metric:
    """A proportion with its Wilson 95% CI on ``n`` examples."""
    low, high = wilson_interval(round(mean * n), n)
    return Metric(name=name, value=mean, ci_low=low, ci_high=high, n=n, params=params)


def mean_metric(name: str, values: list[float], params: dict) -> Metric:
    """A mean of per-example values with a percentile-bootstrap 95% CI."""
    low, high = bootstrap_ci(values)
    return Metric(name=name, value=statistics.fmean(values), ci_low=low, ci_high=high, n=len(values), params=params)


def check_k(ks: list[int], pool_size: int) -> list[int]:
    """Sorted distinct k values; a k larger than the pool is an input error."""
    ks = sorted(set(ks))
    too_big = [k for k in ks if k > pool_size]
    if too_big:
        raise InputError(say("-k {ks}: the demonstration pool has only {pool} examples; use smaller k or more data.",
                             ks=",".join(map(str, too_big)), pool=pool_size))
    return ks
