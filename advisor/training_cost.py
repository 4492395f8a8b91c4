"""Projecting the cost of fine-tuning a production-size model: FLOPs -> GPU-hours -> money.

Training FLOPs follow the usual estimate ``6 x parameters x tokens x epochs`` (2 for the
forward pass, 4 for the backward pass). LoRA skips the weight gradients of the frozen weights
(about a third of that), so for LoRA this is an upper bound; it is kept because full
fine-tuning costs exactly that and a cautious budget is the useful one.

GPU-hours divide FLOPs by what the device really sustains: ``peak bf16 TFLOPS x MFU``. The
device table is the ``gpus:`` section of ``rules/costs.yaml``; every number in it is an
assumption stated there, and the hourly price can be overridden.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from advisor.errors import InputError, format_validation_error
from advisor.user_yaml import safe_load
from advisor.resources import rules_dir

FLOPS_PER_PARAM_TOKEN = 6.0


class GpuClass(BaseModel):
    """One row of the ``gpus:`` table."""

    model_config = ConfigDict(extra="forbid")

    label: str
    bf16_tflops: float = Field(gt=0)
    mfu: float = Field(gt=0, le=1)
    price_per_hour: float = Field(ge=0)


class CostProjection(BaseModel):
    """What training ``examples`` x ``tokens_per_example`` for ``epochs`` costs on ``gpu``."""

    params_b: float
    examples: int
    tokens_per_example: float
    epochs: float
    flops: float
    gpu: str
    gpu_label: str
    bf16_tflops: float
    mfu: float
    price_per_hour: float
    gpu_hours: float
    cost: float


def costs_file() -> Path:
    return rules_dir() / "costs.yaml"


def load_gpus(path: Path | None = None) -> dict[str, GpuClass]:
    """The ``gpus:`` table of ``path`` (default: the bundled ``rules/costs.yaml``)."""
    path = Path(path) if path is not None else costs_file()
    try:
        data = safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read the GPU table ({type(exc).__name__}); fix or restore the file.") from None
    table = data.get("gpus") if isinstance(data, dict) else None
    if not isinstance(table, dict) or not table:
        raise InputError(f"{path}: no `gpus:` section; add one mapping a GPU name to bf16_tflops, mfu, price_per_hour.")
    try:
        return {str(name).lower(): GpuClass.model_validate(row) for name, row in table.items()}
    except ValidationError as exc:
        raise InputError(format_validation_error(exc, f"{path}: gpus", "the built-in rules/costs.yaml lists the fields")) from None


def gpu_class(name: str, path: Path | None = None) -> GpuClass:
    """The GPU class called ``name`` (case-insensitive); an unknown name lists the known ones."""
    gpus = load_gpus(path)
    key = name.strip().lower()
    if key not in gpus:
        raise InputError(f"--gpu {name!r}: unknown GPU class; known: {', '.join(gpus)} (see rules/costs.yaml).")
    return gpus[key]


def training_flops(params_b: float, tokens: float, epochs: float) -> float:
    """``6 x parameters x tokens x epochs`` with ``params_b`` in billions."""
    return FLOPS_PER_PARAM_TOKEN * params_b * 1e9 * tokens * epochs


def gpu_hours(flops: float, gpu: GpuClass) -> float:
    return flops / (gpu.bf16_tflops * 1e12 * gpu.mfu * 3600.0)


def project_training(
    params_b: float, examples: int, tokens_per_example: float, epochs: float, gpu: str,
    price_per_hour: float | None = None, path: Path | None = None,
) -> CostProjection:
    """Cost of fine-tuning a ``params_b``-billion-parameter model on ``examples`` examples."""
    if params_b <= 0 or examples < 0 or tokens_per_example < 0 or epochs <= 0:
        raise InputError("cost projection: model size and epochs must be positive, examples and tokens non-negative.")
    spec = gpu_class(gpu, path)
    price = spec.price_per_hour if price_per_hour is None else price_per_hour
    flops = training_flops(params_b, examples * tokens_per_example, epochs)
    hours = gpu_hours(flops, spec)
    return CostProjection(
        params_b=params_b, examples=examples, tokens_per_example=tokens_per_example, epochs=epochs, flops=flops,
        gpu=gpu.strip().lower(), gpu_label=spec.label, bf16_tflops=spec.bf16_tflops, mfu=spec.mfu,
        price_per_hour=price, gpu_hours=hours, cost=hours * price,
    )
