"""Which probes an assessment runs, with what configuration, in one shared time budget.

Each probe needs an input (labeled data, a corpus, domain text); a probe whose input is missing
is skipped with the reason and the command that would run it. The budget is shared: each probe
gets its weight's share of what is left when it starts, so time a fast probe leaves unused
rolls over to the next one. A probe failure is recorded and the assessment goes on without it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from advisor.answers import Answers
from advisor.assessment import Evidence
from advisor.errors import AdvisorError, InputError

# few-shot before lora (the LoRA trial is compared with the few-shot result); the cheap domain probe last
ORDER = ("few-shot", "rag", "lora", "domain")
WEIGHTS = {"few-shot": 3.0, "rag": 1.5, "lora": 4.5, "domain": 0.5}
LM_PROBES = ("few-shot", "lora", "domain")
CLASSIFICATION_TASKS = ("classification",)
# Lighter settings than the standalone probes' defaults, so that all four fit a few minutes on a
# laptop CPU; `advisor probe ...` runs the full sweeps.
ASSESS_FEW_SHOT = {"k": [0, 4, 8], "seeds": 2}
ASSESS_LORA = {"sizes": [16, 32, 64, 128]}


@dataclass
class Inputs:
    """What the user gave ``advisor assess`` besides the answers."""

    data: Path | None = None
    corpus: Path | None = None
    qa: Path | None = None
    domain_text: Path | None = None
    model: str = "smollm2-135m"
    embedder: str | None = None
    allow_download: bool = False
    budget_seconds: float | None = 600.0
    eval_size: int = 100
    force: bool = False
    selected: tuple[str, ...] = ORDER
    gpu: str | None = None


@dataclass
class Plan:
    probe: str
    config: dict[str, Any] | None = None
    skip_reason: str | None = None
    command: str = ""


def parse_probe_selection(text: str) -> tuple[str, ...]:
    """``all``, ``none`` or a comma list of probe names."""
    from advisor.probes.registry import names

    value = text.strip().lower()
    if value == "all":
        return ORDER
    if value == "none":
        return ()
    chosen = tuple(p.strip() for p in value.split(",") if p.strip())
    unknown = [p for p in chosen if p not in ORDER]
    if unknown:
        raise InputError(f"--probes: unknown probe {unknown[0]!r}; use all, none, or a list of {', '.join(ORDER)}")
    return tuple(p for p in ORDER if p in chosen and p in names())


def plan(answers: Answers, inputs: Inputs) -> list[Plan]:
    plans = []
    for name in ORDER:
        builder = PLANNERS[name]
        item = builder(answers, inputs)
        if name not in inputs.selected and item.config is not None:
            item = Plan(name, None, "not selected with --probes", item.command)
        plans.append(item)
    return plans


def _model(inputs: Inputs) -> dict[str, Any]:
    return {"name": inputs.model, "allow_download": inputs.allow_download}


def _plan_few_shot(answers: Answers, inputs: Inputs) -> Plan:
    cmd = "advisor probe few-shot --data FILE"
    if inputs.data is None:
        return Plan("few-shot", None, "no labeled data given (--data)", cmd)
    task = "classification" if answers.task_type.value in CLASSIFICATION_TASKS else (
        "extraction" if answers.task_type.value == "extraction" else "generation")
    config = {"data": inputs.data, "task": task, "model": _model(inputs), "eval_size": inputs.eval_size,
              **ASSESS_FEW_SHOT}
    return Plan("few-shot", config, command=f"advisor probe few-shot --data {inputs.data}")


def _plan_lora(answers: Answers, inputs: Inputs) -> Plan:
    cmd = "advisor probe lora --data FILE"
    if inputs.data is None:
        return Plan("lora", None, "no labeled data given (--data)", cmd)
    if answers.task_type.value not in CLASSIFICATION_TASKS:
        return Plan("lora", None, "the LoRA trial measures classification tasks only", cmd)
    config = {"data": inputs.data, "model": _model(inputs), "available_examples": answers.labeled_examples,
              "production_model_b": answers.base_model_size_b, "eval_size": inputs.eval_size, **ASSESS_LORA}
    if inputs.gpu:
        config["gpu"] = inputs.gpu
    return Plan("lora", config, command=f"advisor probe lora --data {inputs.data}")


def _plan_rag(answers: Answers, inputs: Inputs) -> Plan:
    cmd = "advisor probe rag --corpus PATH [--qa FILE]"
    if inputs.corpus is None:
        reason = "no document corpus given (--corpus)" if answers.has_corpus else "no document corpus in this project"
        return Plan("rag", None, reason, cmd)
    config: dict[str, Any] = {"corpus": inputs.corpus, "qa": inputs.qa, "allow_download": inputs.allow_download,
                              "model": inputs.model}
    if inputs.embedder:
        config["embedder"] = inputs.embedder
    return Plan("rag", config, command=f"advisor probe rag --corpus {inputs.corpus}")


def _plan_domain(answers: Answers, inputs: Inputs) -> Plan:
    cmd = "advisor probe domain --text PATH"
    if inputs.domain_text is None:
        return Plan("domain", None, "no domain text sample given (--domain-text)", cmd)
    return Plan("domain", {"text": inputs.domain_text, "model": _model(inputs)},
                command=f"advisor probe domain --text {inputs.domain_text}")


PLANNERS: dict[str, Callable[[Answers, Inputs], Plan]] = {
    "few-shot": _plan_few_shot,
    "lora": _plan_lora,
    "rag": _plan_rag,
    "domain": _plan_domain,
}


@dataclass
class Budget:
    """A shared time budget; ``share(name, pending)`` is the slice for the probe starting now."""

    total: float | None
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float | None:
        return None if self.total is None else max(0.0, self.total - (time.monotonic() - self.started))

    def share(self, name: str, pending: list[str]) -> float | None:
        left = self.left()
        if left is None:
            return None
        weight = WEIGHTS[name] / sum(WEIGHTS[p] for p in pending)
        return left * weight


def gather(answers: Answers, inputs: Inputs, store: Any, assessment_id: int | None,
           artifacts_dir: Path | None = None, echo: Callable[[str], None] = print) -> Evidence:
    """Run the planned probes in order within the budget; never raise for a probe failure."""
    from advisor.probe_runner import run_probe
    from advisor.probes.registry import resolve

    evidence = Evidence()
    plans = plan(answers, inputs)
    evidence.skipped = [{"probe": p.probe, "reason": p.skip_reason or "", "command": p.command}
                        for p in plans if p.config is None]
    runnable = [p for p in plans if p.config is not None]
    _warm_up(inputs, runnable, echo)
    budget = Budget(inputs.budget_seconds)
    for i, item in enumerate(runnable):
        pending = [p.probe for p in runnable[i:]]
        seconds = budget.share(item.probe, pending)
        _enrich(item, evidence)
        echo(f"[{i + 1}/{len(runnable)}] {item.probe} probe" + (f" (budget {seconds:.0f} s)" if seconds else ""))
        try:
            config = resolve(item.probe).Config.model_validate(item.config)
            result = run_probe(item.probe, config, store, force=inputs.force, budget_seconds=seconds,
                               assessment_id=assessment_id, artifacts_dir=artifacts_dir)
        except KeyboardInterrupt:
            raise
        except AdvisorError as exc:
            evidence.failures.append({"probe": item.probe, "error": str(exc)})
            continue
        except Exception as exc:  # a probe bug must not lose the assessment
            evidence.failures.append({"probe": item.probe, "error": f"{type(exc).__name__}: {exc}"})
            continue
        evidence.results.append(result)
        echo(f"    {result.headline}")
    evidence.thin = thin_evidence(evidence)
    return evidence


def _warm_up(inputs: Inputs, runnable: list[Plan], echo: Callable[[str], None]) -> None:
    """Load (and on first use convert) the probe model before the budget clock starts, so the
    budget measures experiments; loads are memoized, so the probes reuse this one."""
    if not any(p.probe in LM_PROBES for p in runnable):
        return
    from advisor.probes.runtime import ModelSpec, load_causal_lm

    echo(f"loading {inputs.model} ...")
    try:
        load_causal_lm(ModelSpec(name=inputs.model, allow_download=inputs.allow_download))
    except AdvisorError:
        pass  # each probe reports the problem as its own failure


def _enrich(item: Plan, evidence: Evidence) -> None:
    """Pass the few-shot outcome to the LoRA trial, so it compares on the same eval set."""
    if item.probe != "lora" or item.config is None:
        return
    few = next((r for r in evidence.results if r.probe == "few-shot"), None)
    if few is not None and "best_accuracy" in few.evidence:
        item.config["few_shot_best"] = few.evidence["best_accuracy"]
        if few.run_id is not None:
            item.config["few_shot_run_id"] = few.run_id


def thin_evidence(evidence: Evidence) -> list[str]:
    """Plain statements of where the measurements are too weak to lean on."""
    notes = []
    facts = evidence.facts()
    few = facts.get("few-shot", {})
    if few.get("ci_halfwidth", 0) > 0.08:
        notes.append(
            f"Few-shot accuracy is uncertain (±{100 * few['ci_halfwidth']:.0f} pp at {few.get('eval_size', '?')} "
            f"eval examples); about {_n_for_halfwidth(few.get('best_accuracy', 0.5), 0.05)} would narrow it to ±5 pp."
        )
    lora = facts.get("lora", {})
    if lora and lora.get("significant") is False:
        need = lora.get("required_eval_size_5pp")
        extra = f"; about {int(need)} eval examples would detect a 5 pp difference" if need else ""
        notes.append(f"The LoRA vs few-shot difference is not statistically significant{extra}.")
    if facts.get("rag", {}).get("proxy"):
        notes.append("Retrieval was measured on a proxy question set (self-retrieval), not on real questions.")
    for r in evidence.results:
        if r.status != "done":
            notes.append(f"The {r.probe} probe stopped early ({r.status}); its figures are partial.")
    return notes


def _n_for_halfwidth(p: float, halfwidth: float) -> int:
    from advisor.probes.stats import Z95

    return int((Z95**2) * p * (1 - p) / halfwidth**2) + 1
