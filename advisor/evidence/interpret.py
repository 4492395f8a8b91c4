"""Reading the probes' measurements as decision facts, by provenance and strength.

Evidence about **the model** (how well it does the task, format failures, open-book lift, latency) counts
only when it was measured on the team's **target** model: those facts live in the ``quality`` namespace.
Evidence about **the data** transfers across model sizes and may come from the small probe model: labels a
model can learn, more data still helping, answers findable in the corpus, unusual vocabulary, and same-model
comparisons (a LoRA adapter against the same model's best prompt). Those live in the ``data`` namespace.

Every derived fact keeps its confidence interval, so a rule can ask that the interval, not the point
estimate, supports its claim (``quality.open_book_lift_high < 0.02`` for "no lift"; ``data.vocabulary_gap_low >=
1.5`` for a large gap); the probes compute the intervals a proportion's count cannot give (the seed spread's
chi-square interval, the block bootstraps of the vocabulary gap and of forgetting, the crossover read off the
learning curve's band) and this module carries them over. A measurement whose
interval straddles a rule's threshold fires nothing, and the report says how many items would settle it.
A probe model that does not do the task (not above the majority class by its interval) gives no evidence
about model quality or same-model comparisons, and the report says so in one sentence.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal

from pydantic import BaseModel, Field

from advisor.evidence.evidence_set import EvidenceSet
from advisor.evidence.prompt_vs_tuning import NAMESPACE, PromptVsTuningFacts, crossover_facts
from advisor.probes.common.base import ProbeResult
from advisor.probes.common.spec import Evidence, fact
from advisor.probes.common.stats import difference_ci, paired_difference_ci_cells, wilson_interval
from advisor.sentences import say

#: a gain smaller than this (3 points) is not worth a strategy's cost; rules and the notes use it
MEANINGFUL_GAIN = 0.03
#: the level of the intervals the notes quote, a value of their sentences (each language writes a percent its own way)
LEVEL = "95%"


class QualityFacts(Evidence):
    """How well your target model does the task; never from the probe model."""

    accuracy: float | None = fact("target model's best few-shot accuracy", "fraction", ge=0, le=1)
    accuracy_low: float | None = fact("lower end of its Wilson 95% interval", "fraction", ge=0, le=1)
    accuracy_high: float | None = fact("upper end of its Wilson 95% interval", "fraction", ge=0, le=1)
    chance_accuracy: float | None = fact("majority-class rate of the eval set (0 for generation)", "fraction",
                                         ge=0, le=1)
    above_chance: bool | None = fact("the accuracy interval lies above the majority-class rate")
    best_k: int | None = fact("demonstrations at the best accuracy", "demonstrations", ge=0)
    demonstrations_gain_low: float | None = fact(
        "lower end of the 95% interval of best minus zero-shot accuracy (Newcombe)", "fraction", ge=-1, le=1)
    demonstrations_gain_high: float | None = fact("upper end of that interval", "fraction", ge=-1, le=1)
    seed_spread: float | None = fact("std of accuracy across demonstration draws at the best k", "fraction",
                                     ge=0, le=1)
    seed_spread_low: float | None = fact("lower end of its 95% chi-square interval (two or more seeds)", "fraction",
                                         ge=0, le=1)
    seed_spread_high: float | None = fact("upper end of that interval", "fraction", ge=0, le=1)
    format_failure_low: float | None = fact("lower end of the Wilson 95% interval of the format-failure rate",
                                            "fraction", ge=0, le=1)
    format_failure_high: float | None = fact("upper end of that interval", "fraction", ge=0, le=1)
    open_book_lift: float | None = fact("open-book minus closed-book answer accuracy on the target",
                                        "fraction", ge=-1, le=1)
    open_book_lift_low: float | None = fact("lower end of its 95% interval (Newcombe, paired)", "fraction",
                                            ge=-1, le=1)
    open_book_lift_high: float | None = fact("upper end of that interval", "fraction", ge=-1, le=1)
    closed_book_low: float | None = fact("lower end of the Wilson interval of closed-book accuracy", "fraction",
                                         ge=0, le=1)
    latency_p50: float | None = fact("median seconds per request on the target", "seconds", ge=0)
    eval_size: int | None = fact("examples scored on the target", "examples", ge=0)


class DataFacts(Evidence):
    """What the measurements say about the data, which transfers across model sizes."""

    proxy_competent: bool | None = fact(
        "the probe model does the task: its few-shot interval lies above the majority-class rate")
    labels_learnable: bool | None = fact(
        "a LoRA adapter trained on your labels scores above the majority class by its interval")
    label_noise_suspected: bool | None = fact(
        "after training, accuracy stays within 5 points of the majority class by its interval (classification)")
    tuning_gain: float | None = fact("LoRA minus the same model's best prompt, paired on the eval set",
                                     "fraction", ge=-1, le=1)
    tuning_gain_low: float | None = fact("lower end of its 95% interval (Newcombe, paired)", "fraction", ge=-1, le=1)
    tuning_gain_high: float | None = fact("upper end of that interval", "fraction", ge=-1, le=1)
    crossover_examples: float | None = fact(
        "training examples at which LoRA overtakes the same model's best prompt (competent probe model only)",
        "examples", ge=0)
    crossover_examples_low: float | None = fact(
        "lower end of the crossover's 95% interval, read off the learning curve's bootstrap band", "examples", ge=0)
    crossover_examples_high: float | None = fact("upper end of that interval (only within reach)", "examples", ge=0)
    more_data_helps: bool | None = fact(
        "the fitted curve's 95% band at your label count lies above the best measured size (false: its top end is "
        "within 3 points of it)")
    forgetting_ratio: float | None = fact("general-text loss after / before LoRA training", "ratio", ge=0)
    forgetting_ratio_low: float | None = fact("lower end of its 95% interval (paired block bootstrap)", "ratio", ge=0)
    forgetting_ratio_high: float | None = fact("upper end of that interval", "ratio", ge=0)
    retrieval_real_questions: bool | None = fact("retrieval was measured on your questions (not self-retrieval)")
    retrieval_hit_low: float | None = fact("lower end of the Wilson interval of dense hit@5", "fraction", ge=0, le=1)
    retrieval_hit_high: float | None = fact("upper end of that interval", "fraction", ge=0, le=1)
    retrieval_max_hit_high: float | None = fact("upper end of the Wilson interval of the deepest hit rate",
                                                "fraction", ge=0, le=1)
    lexical_beats_dense: bool | None = fact("BM25 MRR@10 above dense by 2 points or more, p < 0.05")
    vocabulary_gap: float | None = fact("domain / general bits per byte (tokenizer-independent)", "ratio", ge=0)
    vocabulary_gap_low: float | None = fact("lower end of its 95% interval (block bootstrap of the two texts)",
                                            "ratio", ge=0)
    vocabulary_gap_high: float | None = fact("upper end of that interval", "ratio", ge=0)


DERIVED = {"quality": QualityFacts, "data": DataFacts, NAMESPACE: PromptVsTuningFacts}


class FactSource(BaseModel):
    """One derived fact, where it came from and how firm it is."""

    name: str
    value: Any
    low: float | None = None
    high: float | None = None
    probe: str
    model: str
    role: Literal["target", "proxy", "data"]


class Interpretation(BaseModel):
    facts: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sources: list[FactSource] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def interpret(evidence: EvidenceSet) -> Interpretation:
    """The ``quality`` and ``data`` facts read from an assessment's probe results."""
    by_probe = evidence.by_probe()
    out = Interpretation()
    quality: dict[str, Any] = {}
    data: dict[str, Any] = {}
    target = by_probe.get("target-few-shot")
    if target is not None and _ev(target).get("best_accuracy") is not None:
        _target_quality(target, quality, out)
    ceiling = by_probe.get("prompt")
    if ceiling is not None and _ev(ceiling).get("on_target") and _ev(ceiling).get("best_accuracy_low") is not None:
        _prompting_ceiling(ceiling, quality, out)
    proxy = by_probe.get("few-shot")
    competent = None
    if proxy is not None and _ev(proxy).get("best_accuracy") is not None:
        competent = _proxy_competence(proxy, data, out)
    lora = by_probe.get("lora")
    if lora is not None and _ev(lora).get("best_accuracy") is not None:
        _lora_data(lora, competent, _ev(proxy) if proxy is not None else {}, data, out)
    rag = by_probe.get("rag")
    if rag is not None:
        _rag_facts(rag, quality, data, out)
    domain = by_probe.get("domain")
    if domain is not None and _ev(domain).get("bits_per_byte_ratio") is not None:
        _domain_data(domain, data, out)
    crossed = crossover_facts(ceiling, lora, competent, lambda s: out.sources.append(FactSource(**s)))
    out.facts = {name: facts for name, facts in (("quality", quality), ("data", data), (NAMESPACE, crossed)) if facts}
    return out


# -- the target model ---------------------------------------------------------------------------------------

def _prompting_ceiling(result: ProbeResult, quality: dict, out: Interpretation) -> None:
    """The engineered prompt's held-out accuracy on the target is the prompting evidence: what a team that
    chooses prompting would ship, not the naive k-shot figure (which the few-shot probe still reports)."""
    ev, model = _ev(result), _model(result)
    if quality.get("accuracy_low") is not None and float(ev["best_accuracy_low"]) <= quality["accuracy_low"]:
        return  # the engineered prompt is not shown to do better than the naive sweep: keep the sweep's figure
    n = int(ev.get("eval_size") or 0)
    quality.update(accuracy=float(ev["best_accuracy"]), accuracy_low=float(ev["best_accuracy_low"]),
                   accuracy_high=float(ev["best_accuracy_high"]), eval_size=n)
    if quality.get("chance_accuracy") is not None:
        quality["above_chance"] = quality["accuracy_low"] > quality["chance_accuracy"]
    out.sources = [f for f in out.sources if f.name != "quality.accuracy"]
    out.sources.append(FactSource(name="quality.accuracy", value=quality["accuracy"], low=quality["accuracy_low"],
                                  high=quality["accuracy_high"], probe="prompt", model=model, role="target"))
    out.notes.append(say("Prompting is judged by the engineered prompt the prompt probe chose on `{model}` "
                         "({accuracy:.0%} on {n} held-out examples), not by the naive k-shot figure.",
                         model=model, accuracy=quality["accuracy"], n=n))


def _target_quality(result: ProbeResult, quality: dict, out: Interpretation) -> None:
    ev, model = _ev(result), _model(result)
    n = int(ev.get("eval_size") or 0)
    acc = float(ev["best_accuracy"])
    low, high = wilson_interval(round(acc * n), n)
    chance = float(ev.get("chance_accuracy") or 0.0)
    quality.update(accuracy=acc, accuracy_low=low, accuracy_high=high, chance_accuracy=chance, eval_size=n)
    if low > chance or high <= chance:  # only a conclusive interval says above or not above chance
        quality["above_chance"] = low > chance
    if ev.get("best_k") is not None:
        quality["best_k"] = ev["best_k"]
    out.sources.append(FactSource(name="quality.accuracy", value=acc, low=low, high=high, probe="target-few-shot",
                                  model=model, role="target"))
    if ev.get("zero_shot_accuracy") is not None and n:
        g_low, g_high = difference_ci(round(acc * n), n, round(ev["zero_shot_accuracy"] * n), n)
        quality.update(demonstrations_gain_low=g_low, demonstrations_gain_high=g_high)
        out.sources.append(FactSource(name="quality.demonstrations_gain", value=acc - ev["zero_shot_accuracy"],
                                      low=g_low, high=g_high, probe="target-few-shot", model=model, role="target"))
    if ev.get("seed_spread") is not None:
        quality["seed_spread"] = ev["seed_spread"]
        low, high = _bounds(ev, "seed_spread", quality)
        out.sources.append(FactSource(name="quality.seed_spread", value=ev["seed_spread"], low=low, high=high,
                                      probe="target-few-shot", model=model, role="target"))
    if ev.get("format_failure_rate") is not None and n:
        f_low, f_high = wilson_interval(round(ev["format_failure_rate"] * n), n)
        quality.update(format_failure_low=f_low, format_failure_high=f_high)
        out.sources.append(FactSource(name="quality.format_failure_rate", value=ev["format_failure_rate"],
                                      low=f_low, high=f_high, probe="target-few-shot", model=model, role="target"))
    if ev.get("latency_p50") is not None:
        quality["latency_p50"] = ev["latency_p50"]


# -- the probe model: competence, then what its runs say about the data ---------------------------------------

def _proxy_competence(result: ProbeResult, data: dict, out: Interpretation) -> bool:
    ev, model = _ev(result), _model(result)
    n = int(ev.get("eval_size") or 0)
    acc, chance = float(ev["best_accuracy"]), float(ev.get("chance_accuracy") or 0.0)
    low, high = wilson_interval(round(acc * n), n)
    competent = low > chance
    if competent or high <= chance + 0.05:  # conclusive either way; otherwise the fact stays unknown
        data["proxy_competent"] = competent
    out.sources.append(FactSource(name="data.proxy_competent", value=competent, low=low, high=high, probe="few-shot",
                                  model=model, role="proxy"))
    figures = dict(model=model, acc=acc, level=LEVEL, low=low, high=high, chance=chance)
    if competent:
        out.notes.append(say(
            "The probe model {model} does the task (few-shot {acc:.0%}, {level} CI {low:.0%}–{high:.0%}, above the "
            "majority class {chance:.0%}); its scores are read as evidence about your data and as same-model "
            "comparisons, not as a forecast of your production model's accuracy.", **figures))
    elif high <= chance + 0.05:
        out.notes.append(say(
            "The probe model {model} cannot do this task (few-shot {acc:.0%}, {level} CI {low:.0%}–{high:.0%}, not "
            "above the majority class {chance:.0%}): its scores say nothing about your production model and are not "
            "used as evidence of model quality; point --target at your model to measure that.", **figures))
    else:
        out.notes.append(say(
            "The probe model {model} is not shown to do this task (few-shot {acc:.0%}, {level} CI "
            "{low:.0%}–{high:.0%}, not above the majority class {chance:.0%}): its scores say nothing about your "
            "production model and are not used as evidence of model quality; point --target at your model to "
            "measure that.", **figures))
    return competent


def _lora_data(result: ProbeResult, competent: bool | None, few_shot: dict, data: dict, out: Interpretation) -> None:
    ev, model = _ev(result), _model(result)
    summary = result.summary
    n = int(ev.get("eval_size") or 0)
    best = float(ev["best_accuracy"])
    chance = few_shot.get("chance_accuracy")
    if chance is not None and n and chance > 0:
        low, high = wilson_interval(round(best * n), n)
        if low > chance:
            data["labels_learnable"] = True
        if high < chance + 0.05 and int(ev.get("best_size") or 0) >= 32:
            data["label_noise_suspected"] = True
            out.notes.append(say(
                "After training on {size} of your examples the adapter still scores {best:.0%} ({level} CI "
                "{low:.0%}–{high:.0%}), at the majority class ({chance:.0%}): check the labels for noise or "
                "inconsistency before paying for fine-tuning.", size=ev.get("best_size"), best=best, level=LEVEL,
                low=low, high=high, chance=chance))
        out.sources.append(FactSource(name="data.labels_learnable", value=low > chance, low=low, high=high,
                                      probe="lora", model=model, role="data"))
    comparison = summary.get("comparison") or {}
    same_model = competent is True and comparison.get("baseline") == "few-shot"
    if same_model and comparison.get("n"):
        n_pairs = int(comparison["n"])
        tuned_only, base_only = int(comparison["lora_only"]), int(comparison["baseline_only"])
        base_right = round(float(comparison["baseline_accuracy"]) * n_pairs)
        both = max(0, base_right - base_only)
        neither = max(0, n_pairs - both - tuned_only - base_only)
        g_low, g_high = paired_difference_ci_cells(both, tuned_only, base_only, neither)
        gain = (tuned_only - base_only) / n_pairs
        data.update(tuning_gain=gain, tuning_gain_low=g_low, tuning_gain_high=g_high)
        out.sources.append(FactSource(name="data.tuning_gain", value=gain, low=g_low, high=g_high, probe="lora",
                                      model=model, role="proxy"))
        if g_low < MEANINGFUL_GAIN <= g_high:
            needed = _items_to_settle(n_pairs, lambda f: paired_difference_ci_cells(
                *(round(c * f) for c in (both, tuned_only, base_only, neither))))
            figures = dict(gain=gain, n=n_pairs, level=LEVEL, low=g_low, high=g_high, bar=MEANINGFUL_GAIN)
            if needed:
                out.notes.append(say(
                    "LoRA against the same model's best prompt: {gain:+.0%} on {n} paired examples ({level} CI "
                    "{low:+.0%} to {high:+.0%}): whether it gains {bar:.0%} is inconclusive; about {needed:,} "
                    "examples would settle it.", needed=needed, **figures))
            else:
                out.notes.append(say(
                    "LoRA against the same model's best prompt: {gain:+.0%} on {n} paired examples ({level} CI "
                    "{low:+.0%} to {high:+.0%}): whether it gains {bar:.0%} is inconclusive.", **figures))
        if g_high < 0:
            out.notes.append(say("The trained adapter scores below the same model's best prompt ({gain:+.0%}, {level} "
                                 "CI {low:+.0%} to {high:+.0%}): on this data, tuning made the model worse.",
                                 gain=gain, level=LEVEL, low=g_low, high=g_high))
        if ev.get("crossover_examples") is not None:
            data["crossover_examples"] = ev["crossover_examples"]
        low, high = _bounds(ev, "crossover_examples", data)
        if ev.get("crossover_examples") is not None:
            out.sources.append(FactSource(name="data.crossover_examples", value=ev["crossover_examples"], low=low,
                                          high=high, probe="lora", model=model, role="proxy"))
    low, high = ev.get("projected_accuracy_low"), ev.get("projected_accuracy_high")
    if low is not None and low > best:  # the band's low end above the best measured size: still rising
        data["more_data_helps"] = True
    elif high is not None and high < best + MEANINGFUL_GAIN:
        data["more_data_helps"] = False
    if ev.get("forgetting_ratio") is not None:
        data["forgetting_ratio"] = ev["forgetting_ratio"]
        low, high = _bounds(ev, "forgetting_ratio", data)
        out.sources.append(FactSource(name="data.forgetting_ratio", value=ev["forgetting_ratio"], low=low, high=high,
                                      probe="lora", model=model, role="data"))


# -- unusual vocabulary ---------------------------------------------------------------------------------------

def _domain_data(result: ProbeResult, data: dict, out: Interpretation) -> None:
    ev = _ev(result)
    data["vocabulary_gap"] = ev["bits_per_byte_ratio"]
    low, high = _bounds(ev, "bits_per_byte_ratio", data, "vocabulary_gap")
    out.sources.append(FactSource(name="data.vocabulary_gap", value=data["vocabulary_gap"], low=low, high=high,
                                  probe="domain", model=_model(result), role="data"))


# -- retrieval: data evidence; the open-book check is model evidence, so it counts on the target only ---------

def _rag_facts(result: ProbeResult, quality: dict, data: dict, out: Interpretation) -> None:
    ev = _ev(result)
    summary = result.summary
    embedder = str(summary.get("embedder") or "?")
    n = int(ev.get("n_queries") or 0)
    if ev.get("dense_hit_at_5") is not None and n:
        low, high = wilson_interval(round(ev["dense_hit_at_5"] * n), n)
        data.update(retrieval_hit_high=high, retrieval_real_questions=not ev.get("proxy"))
        if ev.get("corpus_sampled"):  # fewer distractors: an upper bound can show failure, nothing shows success
            out.notes.append(say(
                "Retrieval was measured on a sample of {sampled} of {documents} documents that keeps every one "
                "holding an answer: the hit rate is optimistic, so it is used only to show that retrieval fails, not "
                "that it works. A larger budget measures the whole corpus.", sampled=ev.get("sampled_documents"),
                documents=ev.get("corpus_documents")))
        else:
            data["retrieval_hit_low"] = low
        out.sources.append(FactSource(name="data.retrieval_hit_at_5", value=ev["dense_hit_at_5"], low=low, high=high,
                                      probe="rag", model=embedder, role="data"))
    if ev.get("max_hit") is not None and n:
        data["retrieval_max_hit_high"] = wilson_interval(round(ev["max_hit"] * n), n)[1]
    diff, p = ev.get("dense_minus_bm25_mrr"), ev.get("mrr_p_value")
    if diff is not None and p is not None:
        data["lexical_beats_dense"] = diff <= -0.02 and p < 0.05
    if ev.get("open_book_lift") is None:
        return
    m = int(ev.get("open_book_questions") or 0)
    model = str((summary.get("open_book") or {}).get("model") or "?")
    if not ev.get("open_book_on_target"):
        out.notes.append(say(
            "The open-book check ran on the probe model {model} ({closed:.0%} → {open:.0%} on {m} questions): how "
            "much retrieved context helps depends on the model that reads it, so it is not used; run it on your "
            "model with --target.", model=model, closed=ev["closed_book_accuracy"], open=ev["open_book_accuracy"],
            m=m))
        return
    closed_k, open_k = round(ev["closed_book_accuracy"] * m), round(ev["open_book_accuracy"] * m)
    gained, lost = ev.get("open_book_only_correct"), ev.get("closed_book_only_correct")
    if gained is not None and lost is not None:
        both = max(0, open_k - int(gained))
        neither = max(0, m - both - int(gained) - int(lost))
        low, high = paired_difference_ci_cells(both, int(gained), int(lost), neither)
    else:
        low, high = difference_ci(open_k, m, closed_k, m)
    quality.update(open_book_lift=ev["open_book_lift"], open_book_lift_low=low, open_book_lift_high=high,
                   closed_book_low=wilson_interval(closed_k, m)[0])
    out.sources.append(FactSource(name="quality.open_book_lift", value=ev["open_book_lift"], low=low, high=high,
                                  probe="rag", model=model, role="target"))
    if low < MEANINGFUL_GAIN < high:
        needed = _items_to_settle(m, lambda f: difference_ci(round(open_k * f), round(m * f),
                                                             round(closed_k * f), round(m * f)))
        figures = dict(lift=ev["open_book_lift"], m=m, level=LEVEL, low=low, high=high, bar=MEANINGFUL_GAIN)
        if needed:
            out.notes.append(say(
                "Open-book lift on your model: {lift:+.0%} on {m} questions ({level} CI {low:+.0%} to {high:+.0%}): "
                "whether it reaches {bar:.0%} is inconclusive; about {needed:,} questions would settle it.",
                needed=needed, **figures))
        else:
            out.notes.append(say(
                "Open-book lift on your model: {lift:+.0%} on {m} questions ({level} CI {low:+.0%} to {high:+.0%}): "
                "whether it reaches {bar:.0%} is inconclusive.", **figures))


def _items_to_settle(n: int, interval_at: Callable[[float], tuple[float, float]]) -> int | None:
    """Items, at the same proportions, for the interval (``interval_at(scale)``) to lie on one side of the
    meaningful gain; ``None`` beyond 64 times the sample."""
    for factor in (1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64):
        low, high = interval_at(factor)
        if high < MEANINGFUL_GAIN or low > MEANINGFUL_GAIN:
            return int(math.ceil(n * factor))
    return None


def _bounds(ev: dict[str, Any], fact: str, into: dict[str, Any], name: str | None = None
            ) -> tuple[float | None, float | None]:
    """Copy a probe fact's interval (``<fact>_low``/``_high``, each when measured) into ``into`` as
    ``<name>_low``/``_high``; the pair for a fact source, ``(None, None)`` unless both ends are known."""
    name = name or fact
    low, high = ev.get(f"{fact}_low"), ev.get(f"{fact}_high")
    if low is not None:
        into[f"{name}_low"] = low
    if high is not None:
        into[f"{name}_high"] = high
    return (low, high) if low is not None and high is not None else (None, None)


def _ev(result: ProbeResult) -> dict[str, Any]:
    return dict(result.evidence)


def _model(result: ProbeResult) -> str:
    summary = result.summary
    return str(summary.get("model") or "?")


def decision_facts(evidence: EvidenceSet) -> tuple[dict[str, dict[str, Any]], Interpretation]:
    """Every fact rules may test: each probe's own evidence (:meth:`EvidenceSet.facts`, by probe name) and the
    ``quality``/``data`` facts read from them."""
    reading = interpret(evidence)
    return {**evidence.facts(), **reading.facts}, reading
