"""Which measurements could change the decision, ordered by how likely each is to flip it.

Two kinds: a figure the decision already has, whose uncertainty alone changes the winner in some of the
simulated draws (a cost assumption, a measured interval: :func:`advisor.decision.simulation.sources_of_doubt`),
and a measurement not yet made, whose plausible outcomes are tried one by one (a run on the team's own model, the
LoRA trial, the retrieval probe). A measurement that changes the winner in none of them is never suggested.
"""

from __future__ import annotations

from typing import Any, Callable

from advisor.probes.common.stats import wilson_interval
from advisor.sentences import say

#: the level of the intervals the steps quote, a value of their sentences (each language writes a percent its own way)
LEVEL = "95%"
#: plausible accuracies of a team's own model on its task, tried when it was not measured (100 examples each)
TARGET_ACCURACIES = (0.4, 0.55, 0.7, 0.8, 0.9, 0.97)
COST_FIGURES = {
    "prices.hosted_api": say("the per-token price of the hosted model you would use"),
    "prices.hosted_fine_tune": say("the vendor's fine-tuning prices (training fee and tuned-model tokens)"),
    "prices.serverless_open": say("an inference provider's per-token price for an open model"),
    "serving.output_tokens_per_second": say("the throughput your model reaches on one GPU (a short load test)"),
    "gpus": say("the GPU rental price you would pay"),
    "owned.marginal_per_gpu_hour": say("what an hour of your own GPUs costs you"),
    "people.week_cost": say("the cost of an engineer-week on your team"),
    "people.weeks": say("the person-weeks each option takes your team"),
    "monthly.vector_store": say("the vector store's monthly price"),
    "tokens.prompt_base": say("the tokens of a real prompt (instruction and input)"),
    "tokens.completion": say("the tokens of a real answer"),
}


def source_label(source: str) -> str:
    """What a source of uncertainty is, for the report."""
    if source == "weights":
        return say("how much each rule counts (the rulebook's weights, within a factor of about 2)")
    if source.startswith("costs:"):
        return COST_FIGURES.get(source[6:], source[6:])
    return say("the measured `{fact}`, within its {level} interval", fact=source.removeprefix("evidence:"),
               level=LEVEL)


def _target_outcome(accuracy: float, n: int = 100) -> dict[str, Any]:
    low, high = wilson_interval(round(accuracy * n), n)
    return {"accuracy": accuracy, "accuracy_low": low, "accuracy_high": high, "eval_size": n, "above_chance": True}


def hypotheticals(answers: Any, evidence: dict[str, dict[str, Any]]) -> list[tuple[str, list[dict[str, dict]]]]:
    """Measurements not yet made, each with the plausible outcomes to try (as decision-fact updates)."""
    quality, data = evidence.get("quality", {}), evidence.get("data", {})
    out: list[tuple[str, list[dict[str, dict]]]] = []
    if quality.get("accuracy") is None and str(answers.task_type) in ("classification", "extraction"):
        out.append((say("Run the few-shot probe on your own model (`--target MODEL --target-url URL`): how well it "
                        "does the task by prompting is what the decision lacks most"),
                    [{"quality": _target_outcome(a)} for a in TARGET_ACCURACIES]))
    if data.get("tuning_gain") is None and answers.labeled_examples >= 50 \
            and str(answers.task_type) in ("classification", "extraction"):
        gains = [(0.12, 0.06, 0.18), (0.0, -0.05, 0.02), (-0.08, -0.13, -0.03)]
        if data.get("proxy_competent") is not True:  # the gain is measured only on a model shown to do the task
            step = say("Run the probes with a local model that does the task by prompting (`advisor assess "
                       "--model MODEL`, a Hugging Face id or a folder): whether an adapter beats the same model's "
                       "prompt on your labels is measured only on a model shown to do the task")
        else:
            step = say("Run the LoRA trial on your labeled data (`advisor probe lora --data FILE`): whether an "
                       "adapter beats the same model's prompt on your labels")
        out.append((step,
                    [{"data": {"proxy_competent": True, "labels_learnable": True, "tuning_gain": g,
                               "tuning_gain_low": lo, "tuning_gain_high": hi}} for g, lo, hi in gains]))
    if answers.has_corpus and data.get("retrieval_hit_low") is None:
        out.append((say("Run the RAG probe on your documents and real questions (`advisor probe rag --corpus DIR "
                        "--qa FILE`): whether the answers can be found in them"),
                    [{"data": {"retrieval_real_questions": True, "retrieval_hit_low": lo, "retrieval_hit_high": hi}}
                     for lo, hi in ((0.85, 0.95), (0.55, 0.7), (0.2, 0.35))]))
    return out


def _merge(evidence: dict[str, dict[str, Any]], update: dict[str, dict]) -> dict[str, dict[str, Any]]:
    merged = {k: dict(v) for k, v in evidence.items()}
    for ns, facts in update.items():
        merged.setdefault(ns, {}).update(facts)
    return merged


def measurements(answers: Any, evidence: dict[str, dict[str, Any]], winner: str, labels: dict[str, str],
                 doubts: list[dict[str, Any]], winner_with: Callable[[dict[str, dict[str, Any]]], str],
                 assumptions: dict[str, Any]) -> list[dict[str, Any]]:
    """Measurements that could change the decision, most likely to flip it first: ``{"step", "flip_probability",
    "instead"}``. ``winner_with(evidence)`` decides again with other evidence; ``doubts`` come from the
    simulation."""
    found = []
    for text, outcomes in hypotheticals(answers, evidence):
        results = [winner_with(_merge(evidence, o)) for o in outcomes]
        flips = [r for r in results if r != winner]
        if flips:
            instead = max(set(flips), key=flips.count)
            found.append({"flip_probability": round(len(flips) / len(results), 3), "instead": instead,
                          "step": say("{measurement}; in {flips} of {outcomes} plausible outcomes the "
                                      "recommendation becomes {instead}.", measurement=text, flips=len(flips),
                                      outcomes=len(results), instead=labels[instead])})
    for doubt in doubts:
        source, p = doubt["source"], doubt["flip_probability"]
        instead = labels[doubt["instead"]]
        if source.startswith("costs:") and source[6:] in COST_FIGURES:
            found.append({"flip_probability": p, "instead": doubt["instead"],
                          "step": say("Confirm {figure} (assumed {assumed}): within its stated range it alone "
                                      "makes {instead} the better choice in {p:.0%} of the simulated cases.",
                                      figure=COST_FIGURES[source[6:]], assumed=_assumed(assumptions, source[6:]),
                                      instead=instead, p=p)})
        elif source.startswith("evidence:"):
            fact = source[9:]
            found.append({"flip_probability": p, "instead": doubt["instead"],
                          "step": say("Measure `{fact}` on more examples: its {level} interval alone makes "
                                      "{instead} the better choice in {p:.0%} of the simulated cases.",
                                      fact=fact, level=LEVEL, instead=instead, p=p)})
    found.sort(key=lambda r: -r["flip_probability"])
    return found


def _assumed(assumptions: dict[str, Any], path: str) -> str:
    """The assumed value of an ``uncertainty:`` path, as the step quotes it."""
    if path == "gpus":  # the GPU classes: quote the ones a deployment rents
        gpus = assumptions.get("gpus", {})
        used = {assumptions.get(section, {}).get("gpu") for section in ("serving", "training")} - {None}
        priced = [(name, gpus[name]["price_per_hour"]) for name in sorted(used) if name in gpus]
        if len(priced) == 2:
            (first, first_price), (second, second_price) = priced
            return say("{first} {first_price:g} per hour, {second} {second_price:g} per hour", first=first,
                       first_price=first_price, second=second, second_price=second_price)
        return ", ".join(say("{gpu} {price:g} per hour", gpu=name, price=price) for name, price in priced)
    node: Any = assumptions
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        return ", ".join(f"{k} {v:g}" if isinstance(v, (int, float)) else f"{k} {v}" for k, v in node.items()
                         if not isinstance(v, dict))
    return f"{node:g}" if isinstance(node, (int, float)) else str(node)
