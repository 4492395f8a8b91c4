"""The one language-model interface every probe that prompts a model uses.

What a model can do is explicit (:class:`Capability`): a probe asks for what it needs with
:meth:`LanguageModel.require` and gets one clear error when the model lacks it, instead of a
failure deep inside. :class:`LocalModel` (a transformers checkpoint loaded by
:mod:`advisor.probes.common.runtime`) is the first implementation; it delegates to the prefix-cached
scorer and the greedy generator of :mod:`advisor.probes.common.scoring`, so its numbers are exactly those
of lm-evaluation-harness' conventions documented there.

Every call records its token usage and latency in :attr:`LanguageModel.usage`.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Sequence

from advisor.errors import ProbeError
from advisor.sentences import say


class Capability(str, Enum):
    LOGLIKELIHOOD = "loglikelihood"
    ROLLING_LOGLIKELIHOOD = "rolling_loglikelihood"
    GENERATE = "generate"
    USAGE = "usage"
    TRAIN_ADAPTERS = "train_adapters"

    @property
    def text(self) -> str:
        return {
            "loglikelihood": say("score continuations by log-likelihood"),
            "rolling_loglikelihood": say("score every token of a text (perplexity)"),
            "generate": say("generate text"),
            "usage": say("report token usage and latency"),
            "train_adapters": say("train adapters on its weights"),
        }[self.value]


class CapabilityError(ProbeError):
    """A probe asked a model for something it cannot do."""


@dataclass
class Usage:
    """Token usage and latency of the calls made to a model."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latencies: list[float] = field(default_factory=list)

    def record(self, prompt_tokens: int, completion_tokens: int, seconds: float, calls: int = 1) -> None:
        self.calls += calls
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.latencies.append(seconds)


class LanguageModel:
    """A model a probe can prompt. Subclasses implement the methods of the capabilities they declare."""

    name: str = ""
    capabilities: frozenset[Capability] = frozenset()

    def __init__(self) -> None:
        self.usage = Usage()

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def require(self, capability: Capability, purpose: str) -> None:
        """Fail with one clear message when this model lacks ``capability``, which ``purpose`` needs."""
        if capability not in self.capabilities:
            able = ", ".join(c.text for c in Capability if c in self.capabilities) or "nothing"
            raise CapabilityError(say("{purpose} needs a model that can {capability}; {model} can: {able}. "
                                      "Use a model that can (a local checkpoint can do everything).",
                                      purpose=purpose, capability=capability.text, model=self.name, able=able))

    # -- what a probe may ask (each behind its capability) -----------------------------------------
    @property
    def has_chat_template(self) -> bool:
        return False

    def format_chat(self, messages: list[dict[str, str]]) -> str:
        """``messages`` as the prompt text the model expects, ready for the assistant's reply."""
        raise CapabilityError(say("{model} has no chat template", model=self.name))

    def render(self, messages: list[dict[str, str]]) -> Any:
        """A chat prompt in the form :meth:`generate` takes: text for a local model, the messages for an endpoint."""
        return self.format_chat(messages)

    def count_tokens(self, text: str) -> int:
        raise CapabilityError(say("{model} cannot count tokens locally", model=self.name))

    def too_long(self, texts: Sequence[str]) -> tuple[int, int, int] | None:
        """``(index, tokens, limit)`` of the longest text when it exceeds the model's context (a local model
        only: an endpoint counts its own), else ``None``."""
        limit = getattr(self, "context_length", None)
        if not limit or not texts:
            return None
        longest = max(range(len(texts)), key=lambda i: len(texts[i]))
        tokens = self.count_tokens(texts[longest])
        return (longest, tokens, limit) if tokens > limit else None

    def score_choices(self, contexts: Sequence[str], choices: Sequence[Sequence[str]], *, batch_tokens: int = 8192,
                      progress: Callable[[int, int], None] | None = None, stats: dict | None = None) -> list[list[Any]]:
        self.require(Capability.LOGLIKELIHOOD, "scoring continuations")
        raise NotImplementedError

    def generate(self, prompts: Sequence[str], max_new_tokens: int, *, stop: Sequence[str] = (),
                 batch_size: int = 8) -> list[str]:
        self.require(Capability.GENERATE, "generation")
        raise NotImplementedError

    def token_nlls(self, ids: Sequence[int], window: int, stride: int, progress: Any = None) -> list[float]:
        self.require(Capability.ROLLING_LOGLIKELIHOOD, "perplexity")
        raise NotImplementedError

    def in_bf16(self, enabled: bool) -> Any:
        """A context in which the model computes in bf16 (``enabled``); a remote model computes as it does."""
        return contextlib.nullcontext()

    def trainable(self) -> Any:
        """The loaded weights adapters are trained on."""
        self.require(Capability.TRAIN_ADAPTERS, "training adapters")
        raise NotImplementedError


class LocalModel(LanguageModel):
    """A transformers causal LM in this process: every capability."""

    capabilities = frozenset(Capability)

    def __init__(self, loaded: Any, prefix_cache: bool = True):
        super().__init__()
        self.loaded = loaded
        self.name = loaded.spec.name
        self.source = loaded.source
        self.prefix_cache = prefix_cache

    def adapted(self, model: Any, prefix_cache: bool = True) -> "LocalModel":
        """The same model with other weights in front (a peft model); ``prefix_cache=False`` when its forward
        pass prepends virtual tokens, so a cached prefix cannot be reused (prompt tuning)."""
        from dataclasses import replace

        view = LocalModel(replace(self.loaded, model=model), prefix_cache)
        view.usage = self.usage
        return view

    @property
    def tokenizer(self) -> Any:
        return self.loaded.tokenizer

    @property
    def device(self) -> str:
        return self.loaded.device

    @property
    def context_length(self) -> int | None:
        return getattr(self.loaded.model.config, "max_position_embeddings", None)

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.loaded.tokenizer, "chat_template", None))

    def format_chat(self, messages: list[dict[str, str]]) -> str:
        if not self.has_chat_template:
            raise CapabilityError(say("{model} has no chat template", model=self.name))
        return self.loaded.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def count_tokens(self, text: str) -> int:
        from advisor.probes.common.scoring import encode

        return len(encode(self.loaded.tokenizer, text))

    def score_choices(self, contexts: Sequence[str], choices: Sequence[Sequence[str]], *, batch_tokens: int = 8192,
                      progress: Callable[[int, int], None] | None = None, stats: dict | None = None) -> list[list[Any]]:
        from advisor.probes.common.scoring import naive_score_choices, score_choices

        stats = {} if stats is None else stats
        before = stats.get("forward_tokens", 0)
        started = time.monotonic()
        if self.prefix_cache:
            scores = score_choices(self.loaded, contexts, choices, batch_tokens=batch_tokens, progress=progress,
                                   stats=stats)
        else:  # one full pass per (context, continuation)
            scores = naive_score_choices(self.loaded, contexts, choices, progress)
        self.usage.record(stats.get("forward_tokens", 0) - before, 0, time.monotonic() - started, len(contexts))
        return scores

    def generate(self, prompts: Sequence[str], max_new_tokens: int, *, stop: Sequence[str] = (),
                 batch_size: int = 32) -> list[str]:
        from advisor.probes.common.scoring import generate_greedy

        started = time.monotonic()
        out = generate_greedy(self.loaded, prompts, max_new_tokens, batch_size=batch_size, stop=stop)
        self.usage.record(sum(self.count_tokens(p) for p in prompts), sum(self.count_tokens(o) for o in out),
                          time.monotonic() - started, len(prompts))
        return out

    def token_nlls(self, ids: Sequence[int], window: int, stride: int, progress: Any = None) -> list[float]:
        from advisor.probes.common.scoring import token_nlls

        started = time.monotonic()
        out = token_nlls(self.loaded, ids, window, stride, progress)
        self.usage.record(len(ids), 0, time.monotonic() - started)
        return out

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]] | None]:
        from advisor.probes.common.scoring import encode_with_offsets

        return encode_with_offsets(self.loaded.tokenizer, text)

    def decode(self, ids: Sequence[int]) -> str:
        return self.loaded.tokenizer.decode(list(ids))

    def in_bf16(self, enabled: bool) -> Any:
        from advisor.probes.common.precision import computing_in_bf16

        return computing_in_bf16(self.loaded.model, self.loaded.device, enabled)

    def trainable(self) -> Any:
        return self.loaded


def open_model(spec: Any) -> LanguageModel:
    """The language model ``spec`` (a :class:`advisor.probes.common.runtime.ModelSpec`) names, loaded once per process."""
    from advisor.probes.common.runtime import load_causal_lm

    return LocalModel(load_causal_lm(spec))
