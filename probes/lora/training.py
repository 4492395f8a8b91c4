"""A small, fast supervised training loop for PEFT adapters on CPU or GPU.

What makes it fast on a CPU (benchmarks/lora.py measures each trick): the tokens every example of a batch
starts with (the instruction and label list of the prompt) run once per batch, every row attending to that
one copy of their keys and values; logits only for the target tokens (the vocabulary-wide output matrix of
every prompt token is never computed: with a 49k vocabulary that is most of the loss's cost), the output
layer given a contiguous input; length-grouped batches with dynamic padding; LoRA's dropout mask drawn from
15-bit random integers; gradients only for the trainable adapter weights; optional bf16 autocast.

Loss is the usual next-token cross-entropy, averaged over the target tokens of a batch (the
prompt tokens are masked with ``-100``). Optimizer: AdamW over the trainable parameters,
learning rate decayed linearly to zero, gradient norm clipped. Everything random (batch order,
dropout) follows ``seed``.

torch is imported inside functions (advisor's rule: no heavy imports at module import).
"""

from __future__ import annotations

import contextlib
import functools
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

IGNORE = -100
#: shorter common prefixes are run with each row (sharing them saves less than the extra call costs)
MIN_SHARED_PREFIX = 4


@dataclass(frozen=True)
class TrainExample:
    """Token ids of one example; ``labels`` is ``input_ids`` with the prompt part set to ``-100``."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]


@dataclass
class TrainSettings:
    epochs: int = 3
    learning_rate: float = 1e-3
    batch_size: int = 8
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    bf16: bool = False
    group_by_length: bool = True
    #: left-pad the batch and compute logits only over the target tokens at the end of each example (the
    #: prompt's logits, a vocabulary-wide matrix per token, are never built); the loss is unchanged
    target_only_logits: bool = True
    #: run the tokens every example of a batch starts with (the instruction, the label list, a system prompt)
    #: once per batch and let every row attend to that one copy; needs ``target_only_logits``
    share_prefix: bool = True


@dataclass
class TrainStats:
    """What a training run did: loss per optimizer step, tokens seen, wall time."""

    losses: list[float] = field(default_factory=list)
    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0
    stopped_early: bool = False

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def supervised_example(prompt_ids: Sequence[int], target_ids: Sequence[int], max_length: int) -> TrainExample:
    """Prompt + target, truncated from the left of the prompt so the target always fits."""
    target = list(target_ids)[:max_length]
    prompt = list(prompt_ids)[-(max_length - len(target)):] if max_length > len(target) else []
    return TrainExample(tuple(prompt + target), tuple([IGNORE] * len(prompt) + target))


# -- batching -----------------------------------------------------------------------------
def batch_order(lengths: Sequence[int], batch_size: int, rng: random.Random, group_by_length: bool = True) -> list[list[int]]:
    """Index batches for one epoch: shuffled; with grouping, sorted by length inside mega-batches
    of 50 batches, then the batch order is shuffled (so long and short batches are interleaved)."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    if group_by_length:
        mega = batch_size * 50
        idx = [i for s in range(0, len(idx), mega) for i in sorted(idx[s:s + mega], key=lambda i: -lengths[i])]
    batches = [idx[s:s + batch_size] for s in range(0, len(idx), batch_size)]
    if group_by_length:
        rng.shuffle(batches)
    return batches


def shared_prompt_len(examples: Sequence[TrainExample]) -> int:
    """Tokens that every example starts with, stopping at least one token before any example's first target
    token (whose prediction needs that position's logits)."""
    from advisor.probes.common.scoring import shared_prefix_len

    first_target = min(next((i for i, y in enumerate(e.labels) if y != IGNORE), len(e.labels)) for e in examples)
    return max(0, min(shared_prefix_len([e.input_ids for e in examples]), first_target - 1))


def collate(examples: Sequence[TrainExample], pad_id: int, device: Any = "cpu", left: bool = False,
            prefix: int = 0) -> dict[str, Any]:
    """Pad a batch to its longest example: input_ids, attention_mask, labels (pads -> -100); right padding, or
    left padding with position ids counted from each example's first real token.

    ``prefix`` > 0 (left padding only): the first ``prefix`` tokens, the same in every example, go once into
    ``prefix_ids`` (shape 1 x prefix); the rest is padded as usual, its attention mask and position ids
    continuing after the prefix."""
    import torch

    if prefix and not left:
        raise ValueError("a shared prefix needs left padding")
    width = max(len(e.input_ids) for e in examples) - prefix
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids) - prefix
        cols = slice(width - n, width) if left else slice(0, n)
        ids[row, cols] = torch.tensor(e.input_ids[prefix:])
        labels[row, cols] = torch.tensor(e.labels[prefix:])
        mask[row, cols] = 1
    batch = {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}
    if left:
        batch["position_ids"] = (prefix + mask.cumsum(dim=1) - 1).clamp(min=prefix).to(device)
    if prefix:
        batch["prefix_ids"] = torch.tensor([examples[0].input_ids[:prefix]], device=device)
        batch["attention_mask"] = torch.cat([torch.ones((len(examples), prefix), dtype=torch.long, device=device),
                                             batch["attention_mask"]], dim=1)
    return batch


def real_tokens(batch: dict[str, Any]) -> int:
    """Non-padding tokens of a collated batch, each row counting the shared prefix it attends to."""
    return int(batch["attention_mask"].sum())


def target_only_loss(model: Any, batch: dict[str, Any]) -> Any:
    """The mean next-token loss over the target tokens of a left-padded batch, from logits of the last
    positions only (``logits_to_keep``): the same value as the model's own loss over the whole sequence.

    A batch with ``prefix_ids`` runs that shared prefix once (with gradients: the adapter changes its keys
    and values), repeats its key/value cache along the batch and runs the rest of each row on top of it."""
    import torch

    from advisor.probes.common.kv_cache import returned_cache, with_cache

    labels = batch["labels"]
    targets = int((labels != IGNORE).sum(dim=1).max())
    keep = targets + 1  # the logits at position t predict token t + 1
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "prefix_ids")}
    if "prefix_ids" in batch:
        base = getattr(model, "get_base_model", lambda: model)()
        decoder = base.get_decoder() if hasattr(base, "get_decoder") else None  # no logits needed for the prefix
        run = decoder if decoder is not None else functools.partial(model, logits_to_keep=1)
        cache = returned_cache(run(input_ids=batch["prefix_ids"], use_cache=True))
        cache.batch_repeat_interleave(labels.shape[0])
        inputs.update(with_cache(model, cache))
    logits = model(**inputs, logits_to_keep=keep).logits[:, :-1, :]
    wanted = labels[:, -targets:]
    return torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), wanted.reshape(-1),
                                             ignore_index=IGNORE)


# -- faster kernels with the same arithmetic ----------------------------------------------------
def fast_dropout(model: Any) -> int:
    """Swap peft's LoRA input dropout for :class:`UniformDropout` (an iid Bernoulli mask with 1/(1-p) scaling,
    drawn from 15-bit random integers, four per 64-bit random word, instead of one float per value: several
    times faster on a CPU, where mask generation was a quarter of a training step). Returns the number of
    dropouts swapped."""
    import torch

    swapped = 0
    for module in model.modules():
        dropouts = getattr(module, "lora_dropout", None)
        if not isinstance(dropouts, torch.nn.ModuleDict):
            continue
        for key, layer in list(dropouts.items()):
            if isinstance(layer, torch.nn.Dropout) and layer.p > 0:
                dropouts[key] = UniformDropout(layer.p)
                swapped += 1
    return swapped


#: the mask's random numbers are 15-bit integers; the drop rate is rounded to a multiple of 1/32768
MASK_LEVELS = 1 << 15


def keep_mask(shape: Sequence[int], p: float, device: Any = "cpu") -> Any:
    """A boolean mask, True with probability 1 - round(p * 32768) / 32768, iid: each 64-bit word from the
    default generator gives four 16-bit lanes, each keeping its low 15 bits (the top bit of one lane is
    always 0 in ``random_``'s range)."""
    import math

    import torch

    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_()
    lanes = words.view(torch.int16)[:n].reshape(tuple(shape)) & (MASK_LEVELS - 1)
    return lanes >= round(p * MASK_LEVELS)


@functools.lru_cache(maxsize=None)
def _uniform_dropout_class() -> Any:
    import torch

    class UniformDropoutLayer(torch.nn.Module):
        """Elementwise dropout: keep each value with probability 1 - p, scale the kept by 1 / (1 - p), where p
        is the given rate rounded to a multiple of 1/32768 (0.05 becomes 0.049988)."""

        def __init__(self, p: float):
            super().__init__()
            self.p = round(float(p) * MASK_LEVELS) / MASK_LEVELS

        def forward(self, x: Any) -> Any:
            if not self.training or self.p == 0:
                return x
            keep = keep_mask(x.shape, self.p, x.device)
            return x * keep.to(x.dtype) * (1.0 / (1.0 - self.p))

    return UniformDropoutLayer


def UniformDropout(p: float) -> Any:  # noqa: N802 - builds the torch module class on first use
    return _uniform_dropout_class()(p)


@contextlib.contextmanager
def eager_attention(model: Any) -> Iterator[None]:
    """Train with the eager attention kernel: for the short sequences of a probe's examples it is faster on a
    CPU than the flash-attention kernel's backward pass; the previous kernel is restored on exit."""
    config = getattr(model, "config", None)
    previous = getattr(config, "_attn_implementation", None)
    if previous is not None:
        config._attn_implementation = "eager"
    try:
        yield
    finally:
        if previous is not None:
            config._attn_implementation = previous


@contextlib.contextmanager
def contiguous_head_input(model: Any) -> Iterator[None]:
    """Hand the output layer a contiguous copy of the hidden states it is given. With ``logits_to_keep`` the model
    slices the last positions out of the hidden states; on that strided 3-D view ``F.linear`` falls back to a
    batched product that copies the whole vocabulary matrix once per row (in bf16 most of a training step);
    on a contiguous copy it is one matrix product. Same values; the hook is removed on exit."""
    get_head = getattr(model, "get_output_embeddings", None)
    head = get_head() if get_head is not None else None
    if head is None:
        yield
        return
    handle = head.register_forward_pre_hook(lambda _module, args: (args[0].contiguous(), *args[1:]) if args else None)
    try:
        yield
    finally:
        handle.remove()


# -- training -----------------------------------------------------------------------------
def trainable_parameters(model: Any) -> list[Any]:
    return [p for p in model.parameters() if p.requires_grad]


def make_optimizer(model: Any, settings: TrainSettings, total_steps: int) -> tuple[Any, Any]:
    """AdamW over the trainable parameters and a linear decay to zero over ``total_steps``."""
    import torch

    params = trainable_parameters(model)
    if not params:
        raise ValueError("the model has no trainable parameters (was the adapter attached?)")
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / max(1, total_steps)))
    return optimizer, schedule


def autocast(device: str, enabled: bool) -> Any:
    import torch

    return torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=enabled)


def train_step(model: Any, batch: dict[str, Any], optimizer: Any, schedule: Any, settings: TrainSettings,
               device: str) -> float:
    """One optimizer step on one batch; returns the batch loss."""
    import torch

    with autocast(device, settings.bf16):
        loss = target_only_loss(model, batch) if settings.target_only_logits else model(**batch).loss
    loss.backward()
    if settings.max_grad_norm:
        torch.nn.utils.clip_grad_norm_(trainable_parameters(model), settings.max_grad_norm)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def train(
    model: Any, examples: Sequence[TrainExample], settings: TrainSettings, pad_id: int, device: str = "cpu",
    should_stop: Callable[[], bool] | None = None, on_step: Callable[[int, int], None] | None = None,
) -> TrainStats:
    """Train the trainable parameters of ``model`` on ``examples``; ``should_stop`` is polled between steps and
    ``on_step(done, total)`` told after each one (a progress bar inside a long run)."""
    import torch

    if not examples:
        raise ValueError("no training examples")
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    lengths = [len(e.input_ids) for e in examples]
    steps_per_epoch = -(-len(examples) // settings.batch_size)
    optimizer, schedule = make_optimizer(model, settings, steps_per_epoch * settings.epochs)
    stats = TrainStats()
    model.train()
    started = time.perf_counter()
    total_steps = steps_per_epoch * settings.epochs
    base = getattr(model, "get_base_model", lambda: model)()
    with eager_attention(base), contiguous_head_input(base):
        for _ in range(settings.epochs):
            for batch_idx in batch_order(lengths, settings.batch_size, rng, settings.group_by_length):
                if should_stop is not None and should_stop():
                    stats.stopped_early = True
                    break
                rows = [examples[i] for i in batch_idx]
                share = settings.target_only_logits and settings.share_prefix and len(rows) > 1
                prefix = shared_prompt_len(rows) if share else 0
                batch = collate(rows, pad_id, device, left=settings.target_only_logits,
                                prefix=prefix if prefix >= MIN_SHARED_PREFIX else 0)
                stats.losses.append(train_step(model, batch, optimizer, schedule, settings, device))
                stats.tokens += real_tokens(batch)
                stats.steps += 1
                if on_step is not None:
                    on_step(stats.steps, total_steps)
            if stats.stopped_early:
                break
    stats.seconds = time.perf_counter() - started
    model.eval()
    return stats


# -- evaluation helpers -------------------------------------------------------------------
def language_model_loss(model: Any, token_ids: Sequence[int], window: int = 256, device: str = "cpu",
                        bf16: bool = False) -> float:
    """Mean next-token loss (nats/token) of ``model`` on ``token_ids``, in non-overlapping windows."""
    losses = language_model_token_losses(model, token_ids, window, device, bf16)
    return sum(losses) / len(losses) if losses else float("nan")


def language_model_token_losses(model: Any, token_ids: Sequence[int], window: int = 256, device: str = "cpu",
                                bf16: bool = False) -> list[float]:
    """Next-token loss (nats) of every token of ``token_ids`` but each window's first, in non-overlapping windows
    of ``window`` tokens, in order (a prompt-tuned model's virtual-token positions are left out)."""
    import torch

    out: list[float] = []
    model.eval()
    with torch.no_grad(), autocast(device, bf16):
        for start in range(0, len(token_ids), window):
            chunk = list(token_ids[start:start + window])
            if len(chunk) < 2:
                continue
            ids = torch.tensor([chunk], device=device)
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, -len(chunk):].float()
            logp = torch.log_softmax(logits[:-1], dim=-1)
            out.extend((-logp.gather(1, ids[0, 1:, None])[:, 0]).tolist())
    return out
