"""The probe registry: lazy ``"module:Class"`` strings so that listing probes imports nothing heavy."""

from __future__ import annotations

import difflib
from importlib import import_module

from advisor.errors import InputError
from advisor.probes.base import Probe

PROBES: dict[str, str] = {"few-shot": "advisor.probes.few_shot:FewShotProbe"}
PROBES["rag"] = "advisor.probes.rag:RagProbe"
PROBES["domain"] = "advisor.probes.domain:DomainProbe"
PROBES["lora"] = "advisor.probes.lora:LoraProbe"


def names() -> list[str]:
    return list(PROBES)


def resolve(name: str) -> type[Probe]:
    """The probe class registered under ``name``; unknown names get a "did you mean"."""
    target = PROBES.get(name)
    if target is None:
        close = difflib.get_close_matches(name, PROBES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown probe {name!r}.{hint} Known probes: {', '.join(PROBES) or 'none'}.")
    module_name, _, cls_name = target.partition(":")
    return getattr(import_module(module_name), cls_name)
