"""The questionnaire: one pydantic model is the single source of truth for the answers.

Each field carries the question (``title``), a one-line "why this matters" (``description``),
and its default, if any. The model drives the interactive prompts, validates answers files and
produces the JSON Schema and the commented template.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Choice(str, Enum):
    """A closed set of answers; ordinal ones are listed from low to high."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def rank(cls, value: "Choice | str") -> int:
        return [m.value for m in cls].index(str(value))


class TaskType(Choice):
    classification = "classification"
    extraction = "extraction"
    generation = "generation"
    qa_documents = "qa_documents"
    summarization = "summarization"
    chat = "chat"


class ChangeFrequency(Choice):
    static = "static"
    yearly = "yearly"
    monthly = "monthly"
    weekly = "weekly"
    daily = "daily"
    realtime = "realtime"


class Level(Choice):
    low = "low"
    medium = "medium"
    high = "high"


class DomainSpecificity(Choice):
    general = "general"
    somewhat = "somewhat"
    specialized = "specialized"
    highly_specialized = "highly_specialized"


class FormatStrictness(Choice):
    free = "free"
    loose = "loose"
    strict = "strict"


class ComputeAccess(Choice):
    none = "none"
    cloud_gpu = "cloud_gpu"
    onprem_gpu = "onprem_gpu"


class BaseModelKind(Choice):
    hosted_api = "hosted_api"
    open_weights = "open_weights"
    undecided = "undecided"


class Experience(Choice):
    none = "none"
    basic = "basic"
    intermediate = "intermediate"
    expert = "expert"


class ChangeRate(Choice):
    rarely = "rarely"
    quarterly = "quarterly"
    monthly = "monthly"
    weekly = "weekly"


class PromptBaseline(Choice):
    none = "none"
    insufficient = "insufficient"
    good_enough = "good_enough"


def q(title: str, why: str, default: Any = ..., *, short: str, **kw: Any) -> Any:
    """A question: ``title`` is what is asked, ``why`` the one-line help shown on ``?``, ``short`` the few words
    that name the answer inside a sentence ("with monthly requests at least 500,000")."""
    return Field(default, title=title, description=why, json_schema_extra={"short": short}, **kw)


def short_name(field: str) -> str:
    """The few words naming an answer field inside a sentence; the field's key when it has none."""
    info = Answers.model_fields.get(field)
    extra = info.json_schema_extra if info is not None and isinstance(info.json_schema_extra, dict) else {}
    return str(extra.get("short") or field)


class Answers(BaseModel):
    """Everything advisor needs to know about a project before it recommends a strategy."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False, validate_default=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        """``labeled_examples: true`` is a mistake, not 1: a count or an amount must be written as a number."""
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name)
                if field is not None and isinstance(value, bool) and field_kind(name) in ("int", "float",
                                                                                         "optional_float"):
                    raise ValueError(f"{name}: {str(value).lower()} is not a number; write a number such as 300")
        return data

    @field_validator("language", mode="before")
    @classmethod
    def _language_code(cls, value: Any) -> Any:
        """``FR`` or `` fr `` is the code ``fr``; anything else than two letters is refused with the way out."""
        code = value.strip().lower() if isinstance(value, str) else value
        if not (isinstance(code, str) and len(code) == 2 and code.isascii() and code.isalpha()):
            raise ValueError(f"{value!r} is not a language code; write its two-letter ISO 639-1 code, such as en, "
                             "fr or de")
        return code

    project_name: str = q(
        "Project name",
        "Names the report and the stored assessment so you can find it later.",
        min_length=1,
        max_length=120,
        short="project name",
    )
    use_case: str = q(
        "Use case, in one or two sentences",
        "Shown at the top of the report so readers know what is being decided.",
        min_length=1,
        max_length=2000,
        short="use case",
    )
    task_type: TaskType = q(
        "Task type",
        "Narrow tasks with a fixed answer set (classification, extraction) gain most from "
        "fine-tuning; open-ended ones lean on prompting and retrieval.",
        short="task type",
    )
    labeled_examples: int = q(
        "Labeled input→output examples available now",
        "Fine-tuning needs examples (tens to start, hundreds for clear gains); prompting needs only a handful.",
        ge=0,
        le=100_000_000,
        short="labeled examples",
    )
    can_produce_more_labels: bool = q(
        "Can you produce more labeled examples?",
        "If labels can be made, fine-tuning can become viable later even with few examples today.",
        False,
        short="more labels possible",
    )
    cost_per_label: float = q(
        "Rough cost to produce one more labeled example (in your currency)",
        "Drives the one-off cost of the fine-tuning options.",
        0.0,
        ge=0,
        short="cost per label",
    )
    has_corpus: bool = q(
        "Do answers depend on a document corpus (manuals, policies, tickets, wiki)?",
        "Knowledge that lives in documents is best supplied by retrieval, not baked into weights.",
        False,
        short="document corpus",
    )
    corpus_documents: int = q(
        "Corpus size, in documents",
        "Small corpora can fit in a prompt; large ones need retrieval.",
        0,
        ge=0,
        le=1_000_000_000,
        short="corpus size",
    )
    corpus_change: ChangeFrequency = q(
        "How often does the corpus change?",
        "Knowledge that changes often goes stale inside fine-tuned weights; retrieval stays current.",
        ChangeFrequency.static,
        short="corpus change rate",
    )
    citations_needed: bool = q(
        "Must answers cite their sources (traceability)?",
        "Only retrieval can point to the passage an answer came from.",
        False,
        short="citations required",
    )
    domain_specificity: DomainSpecificity = q(
        "Domain specificity of the language",
        "Specialized vocabulary and phrasing that general models rarely saw favours fine-tuning.",
        DomainSpecificity.general,
        short="domain specificity",
    )
    language: str = q(
        "Language of the texts, as an ISO 639-1 code (en, fr, de…)",
        "The probes compare your text with general text in the same language, and an English-only model or "
        "embedder reads other languages poorly.",
        "en",
        short="language",
    )
    output_format: FormatStrictness = q(
        "Output format strictness",
        "Strict schemas and formats are where prompting is least reliable and fine-tuning most.",
        FormatStrictness.loose,
        short="output format strictness",
    )
    determinism: Level = q(
        "How consistent/deterministic must outputs be?",
        "Prompted models vary with wording and examples; fine-tuned ones are steadier.",
        Level.medium,
        short="consistency required",
    )
    style_voice: bool = q(
        "Is a specific style or brand voice required?",
        "A voice that is hard to describe in words is easier to teach by examples in training.",
        False,
        short="style or brand voice",
    )
    quality_is_subjective: bool = q(
        "Is quality judged mainly by human preference (tone, helpfulness) rather than a right answer?",
        "Subjective quality is the territory of preference tuning (RLHF/DPO), which needs ranked feedback.",
        False,
        short="quality judged by preference",
    )
    currency: str = q(
        "Currency for budget figures",
        "All money figures in the report are in this currency.",
        "EUR",
        min_length=1,
        max_length=8,
        short="currency",
    )
    budget_one_off: float = q(
        "One-off budget (setup, labeling, training)",
        "Fine-tuning and indexing have up-front costs; prompting has almost none.",
        ge=0,
        short="one-off budget",
    )
    budget_monthly: float = q(
        "Monthly budget (inference, hosting, maintenance)",
        "Long prompts and retrieved context cost per request; a hosted fine-tune costs per month.",
        ge=0,
        short="monthly budget",
    )
    compute_access: ComputeAccess = q(
        "Compute access for training",
        "Fine-tuning needs GPUs; without them it is a managed-service purchase or nothing.",
        ComputeAccess.none,
        short="compute access",
    )
    monthly_requests: int = q(
        "Expected requests per month in production",
        "At high volume, shorter prompts from a fine-tuned model pay back the training cost.",
        ge=0,
        le=10_000_000_000,
        short="monthly requests",
    )
    latency_ms: int = q(
        "Latency target per request, in milliseconds",
        "Retrieval and long few-shot prompts add latency; a small fine-tuned model is fastest.",
        2000,
        ge=1,
        le=3_600_000,
        short="latency target (ms)",
    )
    data_may_leave: bool = q(
        "May the data leave your premises?",
        "If not, hosted APIs and managed fine-tuning are out; everything runs on your machines.",
        True,
        short="data may leave the premises",
    )
    hosted_api_allowed: bool = q(
        "May the model be a hosted API?",
        "A frontier hosted model makes strong prompting possible without any training.",
        True,
        short="hosted API allowed",
    )
    base_model: BaseModelKind = q(
        "Base model",
        "Open weights can be fine-tuned freely; hosted APIs only through the vendor's tuning service.",
        BaseModelKind.undecided,
        short="base model",
    )
    base_model_size_b: float | None = q(
        "Base model size in billions of parameters (blank if unknown)",
        "Training and hosting costs scale with size; prompt tuning only pays off on large models.",
        None,
        ge=0.001,
        le=10_000,
        short="base model size (billions)",
    )
    team_ml_experience: Experience = q(
        "Team's machine-learning experience",
        "Fine-tuning needs people who can prepare data, train, evaluate and maintain models.",
        Experience.basic,
        short="team ML experience",
    )
    weeks_to_production: int = q(
        "Weeks until the first production release",
        "Prompting ships in days; fine-tuning needs weeks of data work and evaluation.",
        ge=0,
        le=520,
        short="weeks to production",
    )
    requirements_change: ChangeRate = q(
        "How often do the requirements change?",
        "Every change means editing a prompt, or re-collecting data and re-training a fine-tune.",
        ChangeRate.quarterly,
        short="requirements change rate",
    )
    bias_safety: Level = q(
        "Sensitivity to bias and safety issues",
        "Prompting inherits the base model's biases; curated fine-tuning data can reduce them.",
        Level.medium,
        short="bias and safety sensitivity",
    )
    prompt_baseline: PromptBaseline = q(
        "Have you already tried prompting with an evaluation baseline?",
        "Fine-tuning without a prompting baseline cannot show it was worth it.",
        PromptBaseline.none,
        short="prompting baseline",
    )


ORDINALS: dict[str, type[Choice]] = {
    name: f.annotation
    for name, f in Answers.model_fields.items()
    if isinstance(f.annotation, type) and issubclass(f.annotation, Choice) and f.annotation is not TaskType
    and f.annotation not in (ComputeAccess, BaseModelKind)
}


def required_fields() -> list[str]:
    return [name for name, f in Answers.model_fields.items() if f.is_required()]


def missing_fields(data: dict[str, Any]) -> list[str]:
    return [name for name in required_fields() if name not in data]


def choices_of(name: str) -> list[str] | None:
    annotation = Answers.model_fields[name].annotation
    if isinstance(annotation, type) and issubclass(annotation, Choice):
        return [m.value for m in annotation]
    return None


def field_kind(name: str) -> str:
    """``choice``, ``bool``, ``int``, ``float``, ``optional_float`` or ``str``."""
    annotation = Answers.model_fields[name].annotation
    if choices_of(name):
        return "choice"
    for kind, typ in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if annotation is typ:
            return kind
    return "optional_float"


def answers_as_plain(answers: Answers) -> dict[str, Any]:
    """Answers as JSON-ready primitives (enum values as strings)."""
    return answers.model_dump(mode="json")
