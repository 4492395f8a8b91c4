"""The probe contract: what a probe declares about itself, once, in its own module.

A probe module defines ``SPEC = ProbeSpec(...)``; :mod:`advisor.probes.registry` finds it. The spec is
the only place a probe's name, inputs, configuration, evidence facts, report section and budget weight
are written down: the orchestrator, the CLI, the rulebook's load-time checks and the report read it.

The implementation (fingerprint, run, charts) is named by ``runner`` (``"module:Class"``) and imported
only when the probe runs or draws its charts, so discovering probes imports nothing heavy.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field


# -- evidence: the typed facts a probe gives the rulebook -----------------------------------------
class Evidence(BaseModel):
    """Base class of a probe's evidence model: every field is one fact rules can test as
    ``<namespace>.<field>``; every field is optional (a partial run measures less)."""

    model_config = ConfigDict(extra="forbid")


def fact(description: str, unit: str = "", *, ge: float | None = None, le: float | None = None) -> Any:
    """A documented evidence field: ``unit`` is e.g. ``fraction`` (0..1), ``examples``, ``ratio``."""
    return Field(None, description=description, ge=ge, le=le, json_schema_extra={"unit": unit})


@dataclass(frozen=True)
class FactType:
    """What a fact holds, for rule checks: ``number``, ``integer``, ``bool`` or ``text``."""

    kind: str
    choices: tuple[str, ...] = ()
    ge: float | None = None
    le: float | None = None
    unit: str = ""
    description: str = ""

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        bounds = ""
        if self.ge is not None and self.le is not None:
            bounds = f" in [{self.ge:g}, {self.le:g}]"
        elif self.ge is not None:
            bounds = f" >= {self.ge:g}"
        unit = f" ({self.unit})" if self.unit else ""
        return {"number": "a number", "integer": "a whole number", "bool": "true or false",
                "text": "text"}[self.kind] + bounds + unit


def fact_types(model: type[BaseModel]) -> dict[str, FactType]:
    """Each field of an evidence model as a :class:`FactType`."""
    out = {}
    for name, info in model.model_fields.items():
        kind, choices = _kind(info.annotation)
        ge = le = None
        for meta in info.metadata:
            ge = getattr(meta, "ge", ge)
            le = getattr(meta, "le", le)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        out[name] = FactType(kind, choices, ge, le, str(extra.get("unit", "")), info.description or "")
    return out


def _kind(annotation: Any) -> tuple[str, tuple[str, ...]]:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds = {_kind(a) for a in args}
        if len(kinds) == 1:
            return kinds.pop()
        if all(k in ("number", "integer") for k, _ in kinds):
            return "number", ()
        raise TypeError(f"evidence field type {annotation!r} mixes kinds")
    if origin is Literal:
        return "text", tuple(str(a) for a in typing.get_args(annotation))
    if annotation is bool:
        return "bool", ()
    if annotation is int:
        return "integer", ()
    if annotation is float:
        return "number", ()
    if annotation is str:
        return "text", ()
    raise TypeError(f"evidence fields are numbers, booleans or text; got {annotation!r}")


# -- inputs and planning --------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeInput:
    """A file or folder a probe reads, given to ``advisor assess`` as ``--<option>``."""

    name: str  # key in :attr:`AssessInputs.files`, e.g. ``data``
    help: str
    required: bool = True  # the probe cannot run without it

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass
class AssessInputs:
    """What ``advisor assess`` was given besides the answers, as every probe's planner sees it.

    ``earlier`` holds the results of the probes that already ran in this assessment (by name),
    so a probe may build on an earlier one (the LoRA trial compares with the few-shot run)."""

    files: dict[str, Path] = field(default_factory=dict)
    model: str = "smollm2-135m"
    embedder: str | None = None
    embedder_url: str | None = None  # an OpenAI-compatible /v1/embeddings endpoint serving ``embedder``
    embedder_backend: str = "auto"  # auto, openvino or torch (local embedders only)
    bf16: str = "auto"  # auto, on or off: a local language model's arithmetic (advisor.probes.common.precision)
    allow_download: bool = False
    eval_size: int = 100
    gpu: str | None = None
    target: dict[str, Any] | None = None  # the team's model endpoint (EndpointSpec fields), when given
    earlier: dict[str, Any] = field(default_factory=dict)

    def file(self, name: str) -> Path | None:
        return self.files.get(name)

    def model_spec(self) -> dict[str, Any]:
        return {"name": self.model, "allow_download": self.allow_download}


@dataclass
class Plan:
    """A planner's answer: a configuration to run with, or the reason the probe is skipped."""

    config: dict[str, Any] | None = None
    skip_reason: str | None = None

    @classmethod
    def skip(cls, reason: str) -> "Plan":
        return cls(None, reason)


#: ``planner(answers, inputs) -> Plan``; ``answers`` is :class:`advisor.intake.answers.Answers`.
Planner = Callable[[Any, AssessInputs], Plan]

#: ``placeholder(evidence) -> value`` for ``{name}`` in a rule's ``next_step``; ``evidence`` is the probe's facts.
Placeholder = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class ProbeSpec:
    """Everything the rest of advisor knows about one probe.

    - ``name``: the probe's name (``few-shot``); rules see its facts as ``<namespace>.<fact>``;
    - ``config``: the pydantic configuration model (``extra="forbid"``);
    - ``evidence``: the typed facts (:class:`Evidence` subclass) the probe produces;
    - ``runner``: ``"module:Class"`` of the :class:`advisor.probes.common.base.Probe` implementation;
    - ``inputs``: the files it reads; ``plan`` builds its configuration inside ``advisor assess``;
    - ``template``: the jinja2 partial rendering its report section (``template_dir``: where it lives,
      default the built-in templates); ``charts``: the implementation draws them from the stored result;
    - ``weight``: its share of an assessment's time budget; ``order``: when it runs (lower first);
    - ``uses_model``: it prompts a language model (loaded once before the budget clock starts);
    - ``placeholders``: values it provides to ``{name}`` in rules' next steps, with their default;
    - ``caveats``: ``caveats(facts) -> sentences`` saying where its measurement is too weak to lean on;
    - ``check``: ``check(config)`` reads its inputs cheaply and raises ``InputError`` for a missing or unusable
      one, so ``assess`` stops before storing anything or loading a model;
    - ``command``: the standalone command, shown when ``assess`` skips the probe;
    - ``standalone``: ``False`` when that command is another probe's with an option (``few-shot --target``).
    """

    name: str
    description: str
    config: type[BaseModel]
    evidence: type[Evidence]
    runner: str
    plan: Planner
    inputs: tuple[ProbeInput, ...] = ()
    template: str | None = None
    template_dir: Path | None = None
    weight: float = 1.0
    order: int = 100
    uses_model: bool = False
    placeholders: dict[str, tuple[Placeholder, Any]] = field(default_factory=dict)
    caveats: Callable[[dict[str, Any]], list[str]] | None = None
    check: Callable[[Any], None] | None = None
    command: str = ""
    standalone: bool = True  # has its own `advisor probe <name>` (False: run through another probe's command)

    @property
    def namespace(self) -> str:
        return self.name.replace("-", "_")

    def facts(self) -> dict[str, FactType]:
        return fact_types(self.evidence)

    def check_evidence(self, evidence: dict[str, Any]) -> dict[str, Any]:
        """The evidence validated against the model (an undeclared or out-of-range fact is a probe bug)."""
        return self.evidence.model_validate(evidence).model_dump(exclude_none=True)
