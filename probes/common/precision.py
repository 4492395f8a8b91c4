"""Where a probe computes in bf16, and how: one setting (``--bf16 auto|on|off``) read the same way by every
probe that runs a local model.

``auto`` means bf16 where the device computes it natively: a CPU with AVX512-BF16 or AMX (there bf16 matrix
products run two to three times faster than fp32; elsewhere they are emulated and slower), a GPU that supports
it. On a CPU the model's weights stay float32 in memory and are *held* in bf16 only while a probe computes
(:func:`weights_in_bf16`); the float32 tensors come back bit for bit afterwards, so another probe sharing the
loaded model is unaffected. On a GPU bf16 is autocast.

Which precision a figure was computed in is part of what it is: probes record it in their summary and the
report prints it next to the model's name.

torch is imported inside functions (advisor's rule: no heavy imports at module import).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Literal

Bf16Setting = Literal["auto", "on", "off"]
BF16_HELP = ("bf16 arithmetic (auto: where the CPU or GPU computes bf16 natively; on a CPU the weights are held "
             "in bf16 while the probe computes)")


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 arithmetic (AVX512-BF16 or AMX), where bf16 pays off."""
    import torch

    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, "_is_avx512_bf16_supported", None), getattr(cpu, "_is_amx_tile_supported", None)]
    return any(bool(fn()) for fn in checks if fn is not None)


def use_bf16(setting: str, device: str = "auto") -> bool:
    """Whether ``setting`` (auto, on, off) means bf16 for a model on ``device`` (cpu, cuda, or auto: CUDA when
    available). Known before any model is loaded, so fingerprints use it too: a run stored with ``auto`` in one
    precision is not reused where ``auto`` means the other."""
    if setting != "auto":
        return setting == "on"
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return cpu_supports_bf16()


@contextlib.contextmanager
def weights_in_bf16(model: Any, enabled: bool = True) -> Iterator[None]:
    """Hold the model's floating-point weights in bf16 inside the block: with the frozen base in bf16 a training
    step and an evaluation skip the per-call casts of autocast, and on a CPU with AMX or AVX512-BF16 the base
    model's products run several times faster. Adapters created inside keep fp32 weights (peft upcasts them).
    The fp32 tensors themselves come back on exit (kept by parameter object, so they return also when an
    adapter still wraps the layers)."""
    import torch

    if not enabled:
        yield
        return
    saved = [(p, p.data) for p in model.parameters() if p.dtype == torch.float32]
    for param, value in saved:  # parameters only: buffers (rotary frequencies, ...) stay as they are
        param.data = value.to(torch.bfloat16)
    try:
        yield
    finally:
        for param, value in saved:
            param.data = value


@contextlib.contextmanager
def grad_flags_on(model: Any) -> Iterator[None]:
    """Flag every frozen parameter ``requires_grad`` for the block, and freeze them again on exit. For an
    evaluation under ``torch.inference_mode`` (no graph, no gradient either way): with torch 2.13 on a CPU,
    scoring through a model whose bf16 weights were frozen measured 2.5-3x slower than with the flag on
    (benchmarks in docs/benchmarks.md, LoRA section); fp32 showed no difference."""
    frozen = [p for p in model.parameters() if not p.requires_grad]
    for param in frozen:
        param.requires_grad_(True)
    try:
        yield
    finally:
        for param in frozen:
            param.requires_grad_(False)


@contextlib.contextmanager
def computing_in_bf16(model: Any, device: str, enabled: bool) -> Iterator[None]:
    """Inference in bf16 inside the block: on a CPU the weights held in bf16 (and flagged, see
    :func:`grad_flags_on`), on a GPU autocast. Nothing changes when ``enabled`` is false."""
    import torch

    if not enabled:
        yield
    elif device == "cpu":
        with weights_in_bf16(model), grad_flags_on(model):
            yield
    else:
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            yield
