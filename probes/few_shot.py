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
reported separately — prompt sensitivity is a consistency signal of its own. k=0 has no
demonstrations, so it runs once.
"""

from __future__ import annotations

import random
import statistics
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from advisor.errors import InputError
from advisor.probes.base import Metric, Probe, ProbeContext, ProbeResult
from advisor.probes.runtime import ModelSpec
from advisor.probes.stats import bootstrap_ci, wilson_interval

VERSION = "1"


class FewShotConfig(BaseModel):
    """Inputs of the few-shot probe (``advisor probe few-shot`` options, or set by ``advisor assess``)."""

    model_config = ConfigDict(extra="forbid")

    data: Path
    text_col: str | None = None
    label_col: str | None = None
    task: Literal["auto", "classification", "generation", "extraction"] = "auto"
    model: ModelSpec = Field(default_factory=ModelSpec)
    k: list[int] = Field(default_factory=lambda: [0, 1, 4, 8])
    seeds: int = Field(3, ge=1)
    eval_size: int = Field(200, ge=1)
    split_seed: int = 0
    template: Path | None = None
    max_new_tokens: int = Field(64, ge=1)
    batch_tokens: int = Field(8192, ge=256)


class FewShotProbe(Probe):
    """Few-shot prompting accuracy on the user's labeled sample, per k, across seeds.

    Evidence keys (rules see them as ``few_shot.<key>``):

    - ``task``: ``classification``, ``generation`` or ``extraction``;
    - ``best_accuracy``: highest mean accuracy over k (exact match for generation/extraction);
    - ``best_k``: the k with that accuracy (smallest k on ties);
    - ``zero_shot_accuracy``: mean accuracy at k=0 (only when k=0 was run);
    - ``gain_0_to_best``: ``best_accuracy - zero_shot_accuracy`` as a fraction (only with k=0);
    - ``seed_spread``: standard deviation across demonstration seeds of accuracy at the best k
      (0 with one seed or k=0) — prompt sensitivity;
    - ``seed_range``: max - min accuracy across seeds at the best k;
    - ``eval_size``: number of eval examples;
    - ``ci_halfwidth``: half-width of the Wilson 95% CI of the best accuracy;
    - ``n_labels``: number of distinct labels (0 for generation);
    - ``chance_accuracy``: majority-class rate in the eval set (0 for generation);
    - ``best_macro_f1``: macro-F1 at the best k (classification only);
    - ``best_token_f1``: mean token F1 at the best k (generation/extraction only);
    - ``best_json_valid``: JSON validity rate at the best k (extraction only);
    - ``complete``: whether every requested (k, seed) finished.

    Figures come from the probe model (small): a lower bound and a comparison baseline.
    """

    name = "few-shot"
    Config = FewShotConfig
    description = "Few-shot prompting accuracy on your labeled data, per number of demonstrations."
    template = "probe_few_shot.md.j2"

    def fingerprint(self, config: FewShotConfig) -> str:
        from advisor.probes.fingerprint import labeled_data_fingerprint

        return labeled_data_fingerprint(VERSION, config)

    def run(self, config: FewShotConfig, ctx: ProbeContext) -> ProbeResult:
        from advisor.probes.few_shot_run import FewShotRun

        return FewShotRun(config, ctx).run()

    def charts(self, result: ProbeResult, out_dir: Path) -> dict[str, Path]:
        from advisor.probes.few_shot_run import accuracy_chart

        path = accuracy_chart(result, Path(out_dir))
        return {"accuracy_vs_k": path} if path else {}


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


def seed_stats(values: list[float]) -> dict[str, float]:
    """Mean, sample std (0 for one value), min and max of per-seed accuracies."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


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
        raise InputError(f"-k {','.join(map(str, too_big))}: the demonstration pool has only {pool_size} examples; "
                         "use smaller k or more data.")
    return ks
