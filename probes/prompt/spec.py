"""The prompt-engineering probe's declaration: configuration, facts, planner.

What a team that chooses prompt engineering would do, within a budget and a request cap: try instructions
built from the task and the label names (and descriptions), an output-format constraint, demonstrations chosen
at random, label-balanced or by nearest neighbour (the embedder), a handful of k values and, when the model
answers by generation, reasoning before the answer. Configurations are compared on a *selection* split; the
chosen one and the naive k-shot prompt (the few-shot probe's prompt) are then scored on a separate *held-out*
split, so the reported figure carries no selection optimism (docs/prompt-probe.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from advisor.probes.common.endpoint import EndpointSpec
from advisor.probes.common.precision import Bf16Setting
from advisor.probes.common.runtime import ModelSpec
from advisor.probes.common.spec import AssessInputs, Evidence, Plan, ProbeInput, ProbeSpec, fact
from advisor.sentences import say

VERSION = "1"


class PromptConfig(BaseModel):
    """Inputs of the prompt-engineering probe (``advisor probe prompt`` options, or set by ``advisor assess``)."""

    model_config = ConfigDict(extra="forbid")

    data: Path
    text_col: str | None = None
    label_col: str | None = None
    task: Literal["auto", "classification", "generation", "extraction"] = "auto"
    task_description: str | None = None  # one sentence on the task; leads the engineered instructions
    label_descriptions: Path | None = None  # YAML/JSON mapping label -> one-line description
    model: ModelSpec = Field(default_factory=ModelSpec)
    target: EndpointSpec | None = None
    embedder: str = "all-minilm-l6-v2"  # for nearest-neighbour demonstrations
    embedder_backend: Literal["auto", "openvino", "torch"] = "auto"
    k: list[int] = Field(default_factory=lambda: [0, 2, 4, 8])
    naive_k: int = Field(4, ge=0)  # the baseline: the few-shot probe's prompt with this many demonstrations
    selection_size: int = Field(40, ge=2)
    eval_size: int = Field(100, ge=1)
    split_seed: int = 0
    seed: int = 0  # demonstration draws
    max_configs: int = Field(24, ge=1)
    reasoning: bool = True  # try reasoning before the answer when the model answers by generation
    max_new_tokens: int = Field(64, ge=1)
    reasoning_tokens: int = Field(256, ge=16)
    batch_tokens: int = Field(8192, ge=256)
    bf16: Bf16Setting = "auto"


class PromptEvidence(Evidence):
    """Facts of the prompt-engineering probe (rules see them as ``prompt.<fact>``)."""

    task: Literal["classification", "generation", "extraction"] | None = fact("the task as measured")
    on_target: bool | None = fact("measured on the team's target model (false: the local probe model)")
    best_accuracy: float | None = fact("held-out accuracy of the prompt chosen on the selection split "
                                       "(exact match for generation/extraction)", "fraction", ge=0, le=1)
    best_accuracy_low: float | None = fact("lower end of its Wilson 95% interval", "fraction", ge=0, le=1)
    best_accuracy_high: float | None = fact("upper end of its Wilson 95% interval", "fraction", ge=0, le=1)
    naive_accuracy: float | None = fact("held-out accuracy of the naive k-shot prompt, same items", "fraction",
                                        ge=0, le=1)
    naive_k: int | None = fact("demonstrations in the naive prompt", "demonstrations", ge=0)
    gain: float | None = fact("best_accuracy minus naive_accuracy (paired, same held-out items)", "fraction",
                              ge=-1, le=1)
    gain_low: float | None = fact("lower end of the gain's 95% paired interval (Newcombe)", "fraction", ge=-1, le=1)
    gain_high: float | None = fact("upper end of that interval", "fraction", ge=-1, le=1)
    gain_p_value: float | None = fact("exact McNemar p-value of chosen vs naive on the held-out items", "", ge=0, le=1)
    selection_accuracy: float | None = fact("the chosen prompt's accuracy on the selection split (optimistic: "
                                            "it won there)", "fraction", ge=0, le=1)
    eval_size: int | None = fact("held-out examples scored", "examples", ge=0)
    selection_size: int | None = fact("selection examples each configuration was scored on", "examples", ge=0)
    configurations_tried: int | None = fact("prompt configurations scored on the selection split", "configurations",
                                            ge=0)
    best_k: int | None = fact("demonstrations in the chosen prompt", "demonstrations", ge=0)
    best_selection: Literal["none", "random", "balanced", "nearest"] | None = fact(
        "how the chosen prompt's demonstrations are picked")
    best_instruction: Literal["naive", "task", "described"] | None = fact("the chosen prompt's instruction")
    best_reasoning: bool | None = fact("the chosen prompt asks for reasoning before the answer")
    prompt_tokens: float | None = fact("mean prompt tokens per request of the chosen prompt, as measured", "tokens",
                                       ge=0)
    naive_prompt_tokens: float | None = fact("mean prompt tokens per request of the naive prompt", "tokens", ge=0)
    completion_tokens: float | None = fact("mean completion tokens per request of the chosen prompt (generation)",
                                           "tokens", ge=0)
    latency_p50: float | None = fact("median seconds per request of the chosen prompt (target)", "seconds", ge=0)
    latency_p95: float | None = fact("95th percentile seconds per request of the chosen prompt (target)", "seconds",
                                     ge=0)
    seconds_per_example: float | None = fact("wall seconds per held-out example of the chosen prompt", "seconds",
                                             ge=0)
    format_failure_rate: float | None = fact("answers of the chosen prompt naming no allowed label (classification "
                                             "by generation)", "fraction", ge=0, le=1)
    complete: bool | None = fact("the search ended by itself and the chosen prompt was scored on the held-out "
                                 "split (not stopped by the budget, the request cap or max_configs)")


def plan(answers: Any, inputs: AssessInputs) -> Plan:
    """On the target model only: a prompt search on the small probe model says little about the team's model
    (``advisor probe prompt`` runs it there for a look)."""
    data = inputs.file("data")
    if data is None:
        return Plan.skip(say("no labeled data given (--data)"))
    if inputs.target is None:
        return Plan.skip(say("no target model given (--target MODEL --target-url URL); on the probe model, "
                             "`advisor probe prompt --data FILE` runs it for a look"))
    task = answers.task_type.value
    task = task if task in ("classification", "extraction") else "generation"
    config: dict[str, Any] = {"data": data, "task": task, "target": inputs.target, "eval_size": inputs.eval_size,
                              "selection_size": 30, "k": [0, 4, 8], "max_configs": 14}
    if getattr(answers, "use_case", None):
        config["task_description"] = answers.use_case
    if inputs.embedder:
        config["embedder"] = inputs.embedder
    config["embedder_backend"] = inputs.embedder_backend
    return Plan(config)


def read_label_descriptions(path: Path | None) -> dict[str, str]:
    """``label -> description`` from a YAML or JSON mapping (one-line errors)."""
    from advisor.errors import InputError

    if path is None:
        return {}
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"--label-descriptions {path}: cannot read it ({exc.strerror}).") from None
    except yaml.YAMLError as exc:
        raise InputError(f"--label-descriptions {path}: not YAML or JSON ({type(exc).__name__}); give a mapping "
                         "label: description.") from None
    if not isinstance(data, dict) or not all(isinstance(v, (str, int, float)) for v in data.values()):
        raise InputError(f"--label-descriptions {path}: give a mapping of each label to a one-line description "
                         "(e.g. billing: invoices, refunds and payment problems).")
    return {str(k): " ".join(str(v).split()) for k, v in data.items()}


def check(config: PromptConfig) -> None:
    """The data and the label descriptions are readable and agree (no model is loaded)."""
    from advisor.errors import InputError
    from advisor.probes.common.data import load_dataset

    ds = load_dataset(config.data, config.text_col, config.label_col, config.task)
    described = read_label_descriptions(config.label_descriptions)
    unknown = sorted(set(described) - set(ds.labels))
    if unknown:
        raise InputError(f"--label-descriptions {config.label_descriptions}: {', '.join(map(repr, unknown[:5]))} "
                         f"is not a label of --data {config.data} (labels: {', '.join(ds.labels[:10])}).")


def caveats(ev: dict[str, Any]) -> list[str]:
    if ev.get("gain_low") is None or ev.get("gain_low", 0) > 0 or ev.get("gain_high", 0) < 0.1:
        return []
    return [say("The prompt search's gain over the naive prompt ({gain:+.0f} points) is not distinguishable from "
                "zero on {eval_size} held-out examples.", gain=100 * ev["gain"], eval_size=ev.get("eval_size", "?"))]


SPEC = ProbeSpec(
    name="prompt",
    description="Prompt engineering: the best prompt a small search finds (instruction, format, demonstrations, k), "
                "chosen on one split and reported on another beside the naive k-shot prompt.",
    config=PromptConfig,
    evidence=PromptEvidence,
    runner="advisor.probes.prompt.run:PromptProbe",
    plan=plan,
    inputs=(ProbeInput("data", "Labeled examples (JSONL, CSV or Parquet) for the few-shot and LoRA probes."),),
    template="probe_prompt.md.j2", template_dir=Path(__file__).parent,
    weight=2.0,
    order=7,
    uses_model=False,  # in assess it runs on the target only
    caveats=caveats,
    check=check,
    command="advisor probe prompt --data FILE --target MODEL --target-url URL",
)
