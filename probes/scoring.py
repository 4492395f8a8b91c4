"""Log-likelihood of continuations given contexts, with shared-prefix KV-cache reuse; greedy generation.

Convention (EleutherAI lm-evaluation-harness 0.4.x, ``HFLM.loglikelihood`` / ``_encode_pair`` /
``tok_encode``; checked against lm-eval 0.4.13 by ``benchmarks/lm_eval_agreement.py``):

- trailing whitespace of the context is moved to the front of the continuation;
- ``whole = encode(context + continuation)``, ``ctx = encode(context)``, and the continuation's
  tokens are ``whole[len(ctx):]`` (so a token merged across the boundary counts as continuation);
- that ``encode`` (:func:`harness_encode`) uses the tokenizer's own special-token default (lm-eval's
  ``add_bos_token=None``): a tokenizer that prepends BOS (Llama, Gemma, Mistral) gets it, one that
  does not (SmolLM2, Qwen, GPT-2) does not — except when the text already starts with the BOS
  string (a chat-templated prompt), which is then encoded without special tokens;
- an empty context becomes the prefix token (BOS, or EOS when there is none) and the continuation
  is encoded without special tokens; if the continuation itself starts with that token, its first
  token is the context instead;
- the score is the sum of the continuation tokens' log-probabilities (``acc``); the
  length-normalized score divides it by the continuation's length in characters (``acc_norm``);
  ``greedy`` says whether every continuation token is the argmax at its position (``is_greedy``).

Deliberate difference: a context of whitespace only is scored after the prefix token (lm-eval
would score it after no token at all). Contexts longer than the model's window are not truncated.

Speed: every context of one (k, seed) shares the instruction + demonstrations. The longest
common *token* prefix of all contexts is run once; its KV cache is copied to each batch of
contexts, which run only their own tokens (left-padded, explicit position ids, padding masked
out), and multi-token continuations then run on that cache. Contexts are sorted by length so
batches carry little padding. Masked positions get zero attention weight, so the result equals
a full-prompt computation up to float rounding (``naive_score_choices`` is the reference).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from advisor.errors import ProbeError

DEFAULT_BATCH_TOKENS = 8192  # KV-cache tokens per forward batch (prefix copies included)
MAX_BATCH_ROWS = 64


@dataclass(frozen=True)
class ChoiceScore:
    """Sum of log-probabilities of a continuation's tokens, and how many tokens it had."""

    logprob: float
    n_tokens: int
    greedy: bool = False  #: every continuation token is the argmax at its position (lm-eval ``is_greedy``)


# -- tokenization (lm-eval convention) ----------------------------------------------------
def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without any special token."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def harness_encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids as lm-eval's ``HFLM.tok_encode`` (``add_bos_token=None``) builds them: the tokenizer's
    special-token default, none when ``text`` already starts with the prefix token's text."""
    if text.startswith(tokenizer.decode([prefix_token_id(tokenizer)])):
        return encode(tokenizer, text)
    return list(tokenizer(text)["input_ids"])


def _prompt_ids(tokenizer: Any, text: str) -> list[int]:
    """A generation prompt as lm-eval's ``tok_batch_encode``: special-token default unless it starts with BOS."""
    bos = getattr(tokenizer, "bos_token", None)
    ids = encode(tokenizer, text) if bos and text.startswith(bos) else list(tokenizer(text)["input_ids"])
    return ids or [prefix_token_id(tokenizer)]


def prefix_token_id(tokenizer: Any) -> int:
    """What stands for an empty context: BOS, else EOS (as lm-eval's ``prefix_token_id``)."""
    token = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if token is None:
        raise ProbeError("the tokenizer has neither a BOS nor an EOS token; give the prompt a non-empty context.")
    return token


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Token ids of (context, continuation) exactly as lm-evaluation-harness builds them."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    if not context:
        prefix, cont = prefix_token_id(tokenizer), encode(tokenizer, continuation)
        if cont and cont[0] == prefix and len(cont) > 1:
            return cont[:1], cont[1:]
        return [prefix], cont
    whole = harness_encode(tokenizer, context + continuation)
    ctx = harness_encode(tokenizer, context)
    cont = whole[len(ctx):]
    if not cont:
        raise ProbeError(f"the continuation {continuation!r} encodes to no tokens; use a non-empty label word.")
    return ctx, cont


def _encode_all(tokenizer: Any, contexts: Sequence[str], choices: Sequence[Sequence[str]]):
    ctx_ids, cont_ids = [], []
    for context, options in zip(contexts, choices):
        pairs = [encode_pair(tokenizer, context, option) for option in options]
        ctx_ids.append(pairs[0][0])
        cont_ids.append([p[1] for p in pairs])
    return ctx_ids, cont_ids


def shared_prefix_len(sequences: Sequence[Sequence[int]]) -> int:
    """Length of the longest common prefix, leaving at least one token of every sequence."""
    if not sequences:
        return 0
    limit = min(len(s) for s in sequences) - 1
    first = sequences[0]
    n = 0
    while n < limit and all(s[n] == first[n] for s in sequences):
        n += 1
    return n


# -- the model step -------------------------------------------------------------------------
def _extend(model: Any, cache: Any, past_mask: Any, rows: Sequence[Sequence[int]], starts: Sequence[int],
            keep: int, pad_id: int) -> tuple[Any, Any, Any]:
    """Run left-padded ``rows`` on top of ``cache``; return log-probs of the last ``keep`` positions,
    the grown cache and the full attention mask. Row r's tokens get positions ``starts[r]...``."""
    import torch

    ids, mask = _left_pad(rows, pad_id)
    width = ids.shape[1]
    lens = torch.tensor([len(r) for r in rows])
    pos = (torch.tensor(starts)[:, None] + torch.arange(width)[None, :] - (width - lens)[:, None]).clamp(min=0)
    attn = torch.cat([past_mask, mask], dim=1)
    device = model.device
    out = model(input_ids=ids.to(device), attention_mask=attn.to(device), position_ids=pos.to(device),
                past_key_values=cache, use_cache=True, logits_to_keep=keep)
    return out.logits[:, -keep:, :].float().log_softmax(-1).cpu(), out.past_key_values, attn


def _prefix_cache(model: Any, prefix: Sequence[int]) -> Any:
    import torch

    if not prefix:
        return None
    out = model(input_ids=torch.tensor([list(prefix)], device=model.device), use_cache=True, logits_to_keep=1)
    return out.past_key_values


def _select(cache: Any, rows: Sequence[int], copy_first: bool) -> Any:
    """The cache with batch rows ``rows`` (repeats allowed); copied first when it is reused later."""
    import torch

    if cache is None:
        return None
    cache = copy.deepcopy(cache) if copy_first else cache
    cache.batch_select_indices(torch.tensor(list(rows), dtype=torch.long))
    return cache


# -- cached scorer -----------------------------------------------------------------------
def score_choices(loaded: Any, contexts: Sequence[str], choices: Sequence[Sequence[str]], *,
                  batch_tokens: int = DEFAULT_BATCH_TOKENS,
                  progress: Callable[[int, int], None] | None = None,
                  stats: dict | None = None) -> list[list[ChoiceScore]]:
    """Score every continuation in ``choices[i]`` after ``contexts[i]`` (shared-prefix KV reuse).

    ``stats`` (optional) accumulates ``forward_tokens`` (tokens actually run) and
    ``full_tokens`` (what one full pass per continuation would run)."""
    import torch

    ctx_ids, cont_ids = _encode_all(loaded.tokenizer, contexts, choices)
    plen = shared_prefix_len(ctx_ids)
    if stats is not None:
        _count_tokens(stats, ctx_ids, cont_ids, plen)
    results: list[list[ChoiceScore] | None] = [None] * len(contexts)
    with torch.inference_mode():
        prefix = _prefix_cache(loaded.model, ctx_ids[0][:plen] if ctx_ids else [])
        order = sorted(range(len(ctx_ids)), key=lambda i: -len(ctx_ids[i]))
        for batch in _batches(order, ctx_ids, cont_ids, plen, batch_tokens):
            scored = _score_batch(loaded, prefix, plen, [ctx_ids[i][plen:] for i in batch], [cont_ids[i] for i in batch])
            for i, s in zip(batch, scored):
                results[i] = s
            if progress:
                progress(sum(r is not None for r in results), len(results))
    return results  # type: ignore[return-value]


def _count_tokens(stats: dict, ctx_ids: list, cont_ids: list, plen: int) -> None:
    own = sum(len(c) - plen + sum(len(x) - 1 for x in conts) for c, conts in zip(ctx_ids, cont_ids))
    full = sum(len(c) + len(x) - 1 for c, conts in zip(ctx_ids, cont_ids) for x in conts)
    stats["forward_tokens"] = stats.get("forward_tokens", 0) + plen + own
    stats["full_tokens"] = stats.get("full_tokens", 0) + full


def _batches(order: list[int], ctx_ids: list, cont_ids: list, plen: int, batch_tokens: int) -> list[list[int]]:
    """Consecutive groups of ``order`` whose padded KV size (incl. choice copies) fits ``batch_tokens``."""
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = len(ctx_ids[i]) + max(len(c) for c in cont_ids[i])
        rows = sum(len(cont_ids[j]) for j in current + [i])
        widest = max([width] + [len(ctx_ids[j]) for j in current])
        if current and (rows * widest > batch_tokens or len(current) >= MAX_BATCH_ROWS):
            batches.append(current)
            current = []
        current.append(i)
    return batches + ([current] if current else [])


def _score_batch(loaded: Any, prefix: Any, plen: int, rows: list[list[int]],
                 conts: list[list[list[int]]]) -> list[list[ChoiceScore]]:
    """Run the batch's own context tokens, then every multi-token continuation, on the prefix cache."""
    import torch

    model, pad = loaded.model, loaded.tokenizer.pad_token_id
    cache = _select(prefix, [0] * len(rows), copy_first=True)
    past_mask = torch.ones((len(rows), plen), dtype=torch.long)
    last, cache, mask = _extend(model, cache, past_mask, rows, [plen] * len(rows), 1, pad)
    logps = [[[float(last[b, 0, c[0]])] for c in conts[b]] for b in range(len(rows))]
    top = last[:, 0, :].argmax(-1)
    greedy = [[int(top[b]) == c[0] for c in conts[b]] for b in range(len(rows))]
    multi = [(b, j) for b in range(len(rows)) for j, c in enumerate(conts[b]) if len(c) > 1]
    if multi:
        cache = _select(cache, [b for b, _ in multi], copy_first=False)
        tails = [conts[b][j][:-1] for b, j in multi]
        starts = [plen + len(rows[b]) for b, _ in multi]
        keep = max(len(t) for t in tails)
        lp, _, _ = _extend(model, cache, mask[[b for b, _ in multi]], tails, starts, keep, pad)
        for r, (b, j) in enumerate(multi):
            target = conts[b][j][1:]
            picked = lp[r, keep - len(target):, :].gather(1, torch.tensor(target)[:, None])
            logps[b][j].extend(picked[:, 0].tolist())
            greedy[b][j] = greedy[b][j] and lp[r, keep - len(target):, :].argmax(-1).tolist() == target
    return [[ChoiceScore(sum(v), len(v), g) for v, g in zip(per_row, flags)] for per_row, flags in zip(logps, greedy)]


# -- naive reference --------------------------------------------------------------------------
def naive_score_choices(loaded: Any, contexts: Sequence[str], choices: Sequence[Sequence[str]]) -> list[list[ChoiceScore]]:
    """The reference: one full forward pass per (context, continuation), no cache, no padding."""
    import torch

    ctx_ids, cont_ids = _encode_all(loaded.tokenizer, contexts, choices)
    out: list[list[ChoiceScore]] = []
    with torch.inference_mode():
        for ctx, conts in zip(ctx_ids, cont_ids):
            row = []
            for cont in conts:
                ids = torch.tensor([(ctx + cont)[:-1]], device=loaded.model.device)
                logits = loaded.model(input_ids=ids).logits[0, -len(cont):].float().log_softmax(-1).cpu()
                row.append(ChoiceScore(float(logits.gather(1, torch.tensor(cont)[:, None]).sum()), len(cont),
                                       logits.argmax(-1).tolist() == cont))
            out.append(row)
    return out


# -- greedy generation -----------------------------------------------------------------------
def generate_greedy(loaded: Any, prompts: Sequence[str], max_new_tokens: int, *, batch_size: int = 8,
                    stop: Sequence[str] = ()) -> list[str]:
    """Greedy continuations of ``prompts`` (tokenized as lm-eval's ``tok_batch_encode``), cut at ``stop``."""
    import torch

    tok, outputs = loaded.tokenizer, []
    with torch.inference_mode():
        for start in range(0, len(prompts), batch_size):
            chunk = [_prompt_ids(tok, p) for p in prompts[start:start + batch_size]]
            ids, mask = _left_pad(chunk, tok.pad_token_id)
            gen = loaded.model.generate(input_ids=ids.to(loaded.model.device), attention_mask=mask.to(loaded.model.device),
                                        do_sample=False, max_new_tokens=max_new_tokens,
                                        pad_token_id=tok.pad_token_id)
            texts = tok.batch_decode(gen[:, ids.shape[1]:].cpu(), skip_special_tokens=True)
            outputs.extend(_cut(t, stop) for t in texts)
    return outputs


def _left_pad(rows: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row):] = torch.tensor(row)
            mask[i, width - len(row):] = 1
    return ids, mask


def _cut(text: str, stop: Sequence[str]) -> str:
    for s in stop:
        if s and s in text:
            text = text[: text.index(s)]
    return text


# -- every token of a text (perplexity) -------------------------------------------------------
def encode_with_offsets(tokenizer: Any, text: str) -> tuple[list[int], list[tuple[int, int]] | None]:
    """Token ids (no special tokens) and character offsets (``None`` for tokenizers without them)."""
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
    except (NotImplementedError, ValueError, KeyError):
        return list(tokenizer(text, add_special_tokens=False)["input_ids"]), None


def window_plan(n_targets: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """``(begin, first_target, end)`` per forward pass over ``[prefix] + tokens`` (positions 1..n predicted)."""
    plan = []
    for first in range(1, n_targets + 1, stride):
        end = min(first + stride, n_targets + 1)
        plan.append((max(0, end - window), first, end))
    return plan


def token_nlls(loaded: Any, ids: Sequence[int], window: int, stride: int, progress: Any = None) -> list[float]:
    """Negative log-likelihood (nats) of each token of ``ids`` given what precedes it, strided windows."""
    import torch

    seq = [prefix_token_id(loaded.tokenizer)] + list(ids)
    plan = window_plan(len(ids), window, stride)
    out: list[float] = []
    with torch.no_grad():
        for i, (begin, first, end) in enumerate(plan):
            x = torch.tensor([seq[begin:end]], device=loaded.device)
            logp = torch.log_softmax(loaded.model(input_ids=x).logits[0].float(), dim=-1)
            rows = torch.arange(first - 1 - begin, end - 1 - begin)
            targets = torch.tensor(seq[first:end])
            out.extend((-logp[rows, targets.to(logp.device)]).tolist())
            if progress:
                progress(i + 1, len(plan))
    return out
