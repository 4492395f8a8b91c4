"""The one probe interface, and the result every probe returns."""

from __future__ import annotations

import time
from pathlib import Path
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field


class Metric(BaseModel):
    """One measured number, with its confidence interval and sample size when it has them.

    ``params`` says which configuration the number belongs to (e.g. ``{"k": 8}`` or
    ``{"chunk_size": 256, "retriever": "dense"}``).
    """

    name: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class ExampleResult(BaseModel):
    """One per-example outcome (a prediction, a query's rank...)."""

    example_id: str
    params: dict[str, Any] = Field(default_factory=dict)
    prediction: str | None = None
    gold: str | None = None
    correct: bool | None = None
    score: float | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class ProbeResult(BaseModel):
    """What a probe produced.

    - ``metrics``: every measured number (stored row by row in DuckDB);
    - ``examples``: per-example results;
    - ``evidence``: flat facts the rulebook can test, e.g. ``{"best_accuracy": 0.71}``; rules see
      them as ``<probe>.<key>`` with dashes turned into underscores (``few_shot.best_accuracy``);
    - ``headline``: one sentence for the report;
    - ``summary``: structured data the report template renders (tables, chart paths);
    - ``status``: ``done``, ``partial`` (budget or Ctrl-C stopped it; what is there is valid), ``empty`` (the
      budget ran out before anything was measured; ``summary["budget_needed"]`` estimates the seconds that
      would do) or ``failed``.
    """

    model_config = ConfigDict(extra="forbid")

    probe: str
    status: str = "done"
    headline: str = ""
    metrics: list[Metric] = Field(default_factory=list)
    examples: list[ExampleResult] = Field(default_factory=list)
    evidence: dict[str, float | int | bool | str] = Field(default_factory=dict)
    summary: dict[str, Any] = Field(default_factory=dict)
    artifacts: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    fingerprint: str = ""
    wall_seconds: float = 0.0
    run_id: int | None = None


@dataclass
class ProbeContext:
    """What the runner gives a probe.

    - ``result``: the result being built; a probe appends to it as it goes, so that when the
      run is interrupted (Ctrl-C, budget) everything finished so far is kept;
    - ``deadline``: ``time.monotonic()`` value after which the probe should stop between units
      of work (``None``: no limit);
    - ``store``: the open :class:`advisor.store.database.Store` (for caches), or ``None``;
    - ``artifacts_dir``: where the probe may write files (adapters, charts);
    - ``progress``: ``progress(done, total, label)`` reports progress (stderr bar in the CLI);
    - ``log``: ``log(line)`` tells the user something before a long or paid step (stderr in the CLI).
    """

    result: ProbeResult
    deadline: float | None = None
    store: Any = None
    artifacts_dir: Any = None
    progress: Callable[[int, int, str], None] = field(default=lambda done, total, label: None)
    log: Callable[[str], None] = field(default=lambda line: None)

    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def out_of_time(self) -> bool:
        left = self.time_left()
        return left is not None and left <= 0


def same(text: str) -> str:
    """A chart's text as it is: ``tr`` for a report in English."""
    return text


class BudgetSpent(Exception):
    """Raised from a probe's progress callback when its deadline passes inside a unit of work; the probe
    drops that unit and keeps what it finished."""


class Probe(ABC):
    """A probe's implementation; what it is (name, config, evidence, report section) is its
    :class:`advisor.probes.common.spec.ProbeSpec`, in the probe's declaration module.

    ``fingerprint(config)`` identifies the inputs (data content, model, config) so that a
    re-run on unchanged inputs can reuse the stored result.
    """

    @abstractmethod
    def fingerprint(self, config: BaseModel) -> str:
        """A stable hash of everything that determines the result."""

    @abstractmethod
    def run(self, config: BaseModel, ctx: ProbeContext) -> ProbeResult:
        """Run the experiment, filling ``ctx.result``; return it."""

    def charts(self, result: ProbeResult, out_dir: Path, tr: Callable[[str], str] = same) -> dict[str, Path]:
        """Write this probe's charts (PNG) into ``out_dir`` from the stored result; return name -> file path.

        ``tr`` says a text in the report's language: every text a chart shows goes through it, a fixed text as
        ``tr("text")`` and a text with values as ``tr(say("template with {field}", field=value))``
        (:func:`advisor.sentences.say`), with the template's translation in ``templates/locale/<lang>/``."""
        return {}
