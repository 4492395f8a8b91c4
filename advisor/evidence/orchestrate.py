"""Which probes an assessment runs, with what configuration, in one shared time budget.

Each probe needs an input (labeled data, a corpus, domain text); a probe whose input is missing
is skipped with the reason and the command that would run it. The budget is shared: each probe
gets its weight's share of what is left when it starts, so time a fast probe leaves unused
rolls over to the next one. A probe failure is recorded and the assessment goes on without it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from advisor.intake.answers import Answers
from advisor.errors import AdvisorError, InputError
from advisor.evidence.evidence_set import EvidenceSet, ProbeFailure, SkippedProbe
from advisor.probes.registry import names, specs
from advisor.probes.common.spec import AssessInputs, ProbeSpec
from advisor.sentences import say


@dataclass
class Inputs(AssessInputs):
    """What the user gave ``advisor assess`` besides the answers: what every planner sees
    (:class:`AssessInputs`) plus how the assessment runs (budget, reuse, probe selection)."""

    budget_seconds: float | None = 600.0
    force: bool = False
    selected: tuple[str, ...] | None = None  # None: every probe

    def for_planner(self, earlier: dict[str, Any]) -> AssessInputs:
        return dataclasses.replace(self, earlier=earlier)


@dataclass
class Planned:
    spec: ProbeSpec
    config: dict[str, Any] | None = None
    skip_reason: str | None = None

    @property
    def probe(self) -> str:
        return self.spec.name


def parse_probe_selection(text: str) -> tuple[str, ...]:
    """``all``, ``none`` or a comma list of probe names."""
    known = names()
    value = text.strip().lower()
    if value == "all":
        return tuple(known)
    if value == "none":
        return ()
    chosen = tuple(p.strip() for p in value.split(",") if p.strip())
    unknown = [p for p in chosen if p not in known]
    if unknown:
        raise InputError(f"--probes: unknown probe {unknown[0]!r}; use all, none, or a list of {', '.join(known)}")
    return tuple(p for p in known if p in chosen)


def expand_selection(selected: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """What a ``--probes`` list means: a probe's name also selects its run on the target model
    (``few-shot`` → ``target-few-shot``, which runs only when ``--target`` is given); naming the target's
    run alone (``target-few-shot``) runs it without the probe model's."""
    if selected is None:
        return None
    known = names()
    return tuple(p for p in known if p in selected or (p.startswith("target-") and p[len("target-"):] in selected))


def plan(answers: Answers, inputs: Inputs, earlier: dict[str, Any] | None = None) -> list[Planned]:
    """Every registered probe with its configuration, or why it is skipped."""
    planner_inputs = inputs.for_planner(earlier or {})
    selected = expand_selection(inputs.selected)
    out = []
    for spec in specs():
        decided = spec.plan(answers, planner_inputs)
        if decided.config is not None and selected is not None and spec.name not in selected:
            out.append(Planned(spec, None, say("not selected with --probes")))
        else:
            out.append(Planned(spec, decided.config, decided.skip_reason))
    return out


@dataclass
class Budget:
    """A shared time budget; ``share(name, pending)`` is the slice for the probe starting now."""

    total: float | None
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float | None:
        return None if self.total is None else max(0.0, self.total - (time.monotonic() - self.started))

    def share(self, spec: ProbeSpec, pending: list[ProbeSpec]) -> float | None:
        left = self.left()
        if left is None:
            return None
        return left * spec.weight / sum(p.weight for p in pending)


def check(answers: Answers, inputs: Inputs) -> None:
    """Every probe that would run gets a valid configuration and usable input files, or one InputError now,
    before anything is stored and before any model is loaded."""
    from pydantic import ValidationError

    from advisor.errors import format_validation_error

    for item in plan(answers, inputs):
        if item.config is None:
            continue
        try:
            config = item.spec.config.model_validate(item.config)
        except ValidationError as exc:
            raise InputError(format_validation_error(exc, f"the {item.probe} probe")) from None
        if item.spec.check is not None:
            item.spec.check(config)


def gather(answers: Answers, inputs: Inputs, store: Any, assessment_id: int | None,
           artifacts_dir: Path | None = None, echo: Callable[[str], None] = print) -> EvidenceSet:
    """Run the planned probes in order within the budget; never raise for a probe failure."""
    from advisor.evidence.probe_runner import run_probe

    evidence = EvidenceSet()
    plans = plan(answers, inputs)
    evidence.skipped = [SkippedProbe(probe=p.probe, reason=p.skip_reason or "", command=p.spec.command)
                        for p in plans if p.config is None]
    runnable = [p.spec for p in plans if p.config is not None]
    prepare_model(inputs, runnable, echo)  # one-off (conversion, download): before the budget starts
    budget = Budget(inputs.budget_seconds)  # model loading counts against the budget
    _warm_up(inputs, runnable, echo)
    for i, spec in enumerate(runnable):
        # spent by the probes before it: starting would only add its set-up time. The first probe always starts
        # (a budget the model load used up still gets the probe's own estimate of the budget that would do)
        if i > 0 and budget.left() is not None and budget.left() <= 0:
            evidence.skipped.append(SkippedProbe(
                probe=spec.name, command=spec.command, kind="budget",
                reason=say("not run: the probes before it used the whole time budget (raise --budget)")))
            echo(f"[{i + 1}/{len(runnable)}] {spec.name} probe: not run, the time budget is spent")
            continue
        seconds = budget.share(spec, runnable[i:])
        # planned again now, so a probe can build on the ones that ran before it
        item = next(p for p in plan(answers, inputs, evidence.by_probe()) if p.spec.name == spec.name)
        echo(f"[{i + 1}/{len(runnable)}] {spec.name} probe" + (f" (budget {seconds:.0f} s)" if seconds else ""))
        try:
            config = spec.config.model_validate(item.config)
            result = run_probe(spec.name, config, store, force=inputs.force, budget_seconds=seconds,
                               assessment_id=assessment_id, artifacts_dir=artifacts_dir)
        except KeyboardInterrupt:
            raise
        except AdvisorError as exc:
            evidence.failures.append(ProbeFailure(probe=spec.name, error=str(exc), fixable=exc.stops_assessment))
            continue
        except Exception as exc:  # a probe bug must not lose the assessment
            evidence.failures.append(ProbeFailure(probe=spec.name, error=f"{type(exc).__name__}: {exc}"))
            continue
        if result.status == "empty":
            need = result.summary.get("budget_needed")
            suffice = f"; about {need:.0f}s would measure its first point" if need else ""
            if need:
                reason = say("not measured within its {seconds:.0f}s share of the budget; about {need:.0f}s would "
                             "measure its first point (raise --budget)", seconds=seconds or 0, need=need)
            else:
                reason = say("not measured within its {seconds:.0f}s share of the budget (raise --budget)",
                             seconds=seconds or 0)
            evidence.skipped.append(SkippedProbe(probe=spec.name, command=spec.command, kind="budget", reason=reason))
            echo(f"    not measured within {seconds or 0:.0f}s{suffice}")
            continue
        evidence.results.append(result)
        echo(f"    {result.headline}")
    evidence.thin = thin_evidence(evidence)
    return evidence


def prepare_model(inputs: Inputs, runnable: list[ProbeSpec], echo: Callable[[str], None]) -> float:
    """The one-off preparation of the probe model (converting the embedded GGUF, downloading an allowed model),
    shown as one line and done before the budget's clock starts; the seconds it took (0 when none was needed)."""
    if not any(spec.uses_model for spec in runnable):
        return 0.0
    from advisor.evidence.probe_runner import prepare_once
    from advisor.probes.common.runtime import ModelSpec

    return prepare_once(ModelSpec.model_validate(inputs.model_spec()), echo)


def _warm_up(inputs: Inputs, runnable: list[ProbeSpec], echo: Callable[[str], None]) -> None:
    """Load (and on first use convert) the probe model once, before the first probe; the time counts against
    the budget and is shown. Loads are memoized, so the probes reuse this one."""
    if not any(spec.uses_model for spec in runnable):
        return
    from advisor.probes.common.runtime import ModelSpec, load_causal_lm

    echo(f"loading {inputs.model} ...")
    started = time.monotonic()
    try:
        load_causal_lm(ModelSpec(name=inputs.model, allow_download=inputs.allow_download))
    except AdvisorError:
        return  # each probe reports the problem as its own failure
    echo(f"    loaded in {time.monotonic() - started:.0f} s (counted in the budget)")


def thin_evidence(evidence: EvidenceSet) -> list[str]:
    """Plain statements of where the measurements are too weak to lean on (each probe's caveats)."""
    notes = []
    for result in evidence.results:
        spec = next((s for s in specs() if s.name == result.probe), None)
        if spec is not None and spec.caveats is not None:
            notes += spec.caveats(dict(result.evidence))
        if result.status != "done":
            notes.append(say("The {probe} probe stopped early ({status}); its figures are partial.",
                             probe=result.probe, status=result.status))
    return notes
