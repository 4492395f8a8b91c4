"""Handing a key/value cache to a transformers model and reading it back, whatever the version calls it.

transformers 5 names the forward argument and the output field ``cache``; ``past_key_values`` (the 4.x name)
still works there with a deprecation warning and goes in 5.40. The probes run a shared prefix once and the rest
on its cache (scoring, the LoRA loop), so they ask the model which name its ``forward`` takes.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

NEW, OLD = "cache", "past_key_values"


def cache_argument(model: Any) -> str:
    """``"cache"`` when the model's ``forward`` (the base model's, under a peft wrapper) takes it, else
    ``"past_key_values"``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return _argument_of(type(base))


@functools.lru_cache(maxsize=None)
def _argument_of(model_class: type) -> str:
    try:
        parameters = inspect.signature(model_class.forward).parameters
    except (TypeError, ValueError):  # no introspectable signature: the name every version has accepted so far
        return OLD
    return NEW if NEW in parameters else OLD


def with_cache(model: Any, cache: Any) -> dict[str, Any]:
    """The keyword arguments that give ``model`` the key/value ``cache`` (``use_cache`` on)."""
    return {cache_argument(model): cache, "use_cache": True}


def returned_cache(output: Any) -> Any:
    """The key/value cache a forward pass returned (``output.cache``, or ``output.past_key_values`` before 5)."""
    keys = output.keys() if hasattr(output, "keys") else ()
    if NEW in keys:
        return output[NEW]
    return getattr(output, OLD, None)
