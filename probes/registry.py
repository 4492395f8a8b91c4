"""The probe registry: the one list of probes, found from their specs.

Each built-in probe is a folder of this package whose ``spec`` module defines ``SPEC = ProbeSpec(...)`` (a
folder may declare more than one, as ``*_SPEC``); :data:`BUILT_IN` names those folders, and is the one place a
new probe is registered. Packages registered under the ``advisor.probes`` entry-point group add theirs, and
:func:`register` adds one at run time (a plugin, or a test). Spec modules are light: the implementation is
imported by :func:`implementation` only when a probe runs or draws its charts.
"""

from __future__ import annotations

import difflib
from contextlib import contextmanager
from importlib import import_module
from importlib.metadata import entry_points
from typing import Iterator

from advisor.errors import InputError
from advisor.probes.common.base import Probe
from advisor.probes.common.spec import ProbeSpec

#: the built-in probes' declaration modules: adding a probe is adding its folder and one line here
BUILT_IN = ("few_shot.spec", "few_shot.target", "lora.spec", "rag.spec", "domain.spec", "prompt.spec")

_found: dict[str, ProbeSpec] | None = None
_extra: dict[str, ProbeSpec] = {}


def _discover() -> dict[str, ProbeSpec]:
    global _found
    if _found is None:
        found: dict[str, ProbeSpec] = {}
        for module in BUILT_IN:
            for spec in vars(import_module(f"advisor.probes.{module}")).values():
                if isinstance(spec, ProbeSpec):
                    found[spec.name] = spec
        for ep in entry_points(group="advisor.probes"):
            spec = ep.load()
            if isinstance(spec, ProbeSpec):
                found.setdefault(spec.name, spec)
        _found = found
    return _found


def specs() -> list[ProbeSpec]:
    """Every probe, in the order ``assess`` runs them."""
    merged = {**_discover(), **_extra}
    return sorted(merged.values(), key=lambda s: (s.order, s.name))


def names() -> list[str]:
    return [s.name for s in specs()]


def get(name: str) -> ProbeSpec:
    """The spec registered under ``name``; unknown names get a "did you mean"."""
    known = {s.name: s for s in specs()}
    if name not in known:
        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown probe {name!r}.{hint} Known probes: {', '.join(known) or 'none'}.")
    return known[name]


def by_namespace() -> dict[str, ProbeSpec]:
    """Specs by the namespace their facts have in rules (``few_shot``)."""
    return {s.namespace: s for s in specs()}


def implementation(spec: ProbeSpec) -> Probe:
    """An instance of the probe's implementation (imports its heavy module)."""
    module_name, _, cls_name = spec.runner.partition(":")
    return getattr(import_module(module_name), cls_name)()


def register(spec: ProbeSpec) -> None:
    """Add (or replace) a probe for this process: a plugin, or a test's throwaway probe."""
    _extra[spec.name] = spec


def unregister(name: str) -> None:
    _extra.pop(name, None)


@contextmanager
def registered(spec: ProbeSpec) -> Iterator[ProbeSpec]:
    """``with registered(spec):`` the probe exists inside the block only."""
    register(spec)
    try:
        yield spec
    finally:
        unregister(spec.name)
