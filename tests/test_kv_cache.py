"""The key/value cache goes to the model, and comes back, under the name the installed transformers uses."""

from __future__ import annotations

import contextlib
import types
import warnings

import pytest
import torch

from advisor.probes.common.kv_cache import cache_argument, returned_cache, with_cache
from advisor.probes.common.runtime import ModelSpec, load_causal_lm


class TakesCache(torch.nn.Module):
    def forward(self, input_ids=None, cache=None, use_cache=None):
        return input_ids


class TakesPastKeyValues(torch.nn.Module):  # the transformers 4 signature
    def forward(self, input_ids=None, past_key_values=None, use_cache=None):
        return input_ids


class Wrapped:  # a peft wrapper: the base model's forward decides
    def __init__(self, base):
        self.base = base

    def get_base_model(self):
        return self.base


@pytest.mark.parametrize(("model", "name"), [(TakesCache(), "cache"), (TakesPastKeyValues(), "past_key_values"),
                                             (Wrapped(TakesCache()), "cache"),
                                             (Wrapped(TakesPastKeyValues()), "past_key_values")])
def test_the_cache_goes_under_the_name_the_forward_takes(model, name):
    assert cache_argument(model) == name
    assert with_cache(model, "kv") == {name: "kv", "use_cache": True}


def test_the_returned_cache_is_read_under_either_name():
    assert returned_cache({"logits": 1, "cache": "new"}) == "new"
    assert returned_cache(types.SimpleNamespace(logits=1, past_key_values="old")) == "old"


@contextlib.contextmanager
def cache_deprecations(monkeypatch):
    """Records transformers' notices that a cache was passed or read under a deprecated name."""
    from transformers.utils import generic

    notices: list[str] = []
    monkeypatch.setattr(generic.logger, "warning_once", lambda message, *a, **k: notices.append(str(message)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield notices
    notices += [str(w.message) for w in caught if "past_key_values" in str(w.message)]


def test_scoring_and_training_hand_over_the_cache_without_deprecated_names(tiny_lm_path, monkeypatch):
    from peft import LoraConfig, get_peft_model

    from advisor.probes.common.scoring import score_choices
    from advisor.probes.lora.training import collate, supervised_example, target_only_loss

    loaded = load_causal_lm(ModelSpec(name=str(tiny_lm_path)))
    with cache_deprecations(monkeypatch) as notices:
        scores = score_choices(loaded, ["Instruction: label it. Ticket: a b", "Instruction: label it. Ticket: c"],
                               [[" yes", " no"]] * 2)
        model = get_peft_model(loaded.model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"],
                                                        task_type="CAUSAL_LM"))
        try:
            examples = [supervised_example([21, 22, 23, 24, 25, 7, 8], [51], 32),
                        supervised_example([21, 22, 23, 24, 25, 9], [52], 32)]
            loss = target_only_loss(model, collate(examples, 0, left=True, prefix=5))
            loss.backward()
        finally:
            model.unload()
    assert len(scores) == 2 and torch.isfinite(loss)
    assert notices == []
