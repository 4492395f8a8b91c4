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
out). In the same forward pass each context's row carries its multi-token continuations one
after the other (all but their last token), under a tree-shaped attention mask: a continuation
sees the prefix, its context and its own earlier tokens, and takes the positions that follow
the context. (Branching the cache per continuation instead, a second pass on a copy of the
whole cache for each, cost more than the contexts themselves on six labels.) Contexts are
sorted by length so batches carry little padding. Masked positions get zero attention weight,
so the result equals a full-prompt computation up to float rounding (``naive_score_choices``
is the reference). A model with a sliding window shorter than the longest prompt is scored by
that reference instead: the prefix cache would keep only the window, and a custom mask would
replace the model's own.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from advisor.errors import ProbeError
from advisor.sentences import say

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
        raise ProbeError(say("the tokenizer has neither a BOS nor an EOS token; give the prompt a non-empty "
                             "context."))
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
        raise ProbeError(say("the continuation {continuation!r} encodes to no tokens; use a non-empty label word.",
                             continuation=continuation))
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
def _prefix_cache(model: Any, prefix: Sequence[int]) -> Any:
    import torch

    if not prefix:
        return None
    from advisor.probes.common.kv_cache import returned_cache

    out = model(input_ids=torch.tensor([list(prefix)], device=model.device), use_cache=True, logits_to_keep=1)
    return returned_cache(out)


def _prefix_copies(cache: Any, rows: int) -> Any:
    """A copy of the one-row prefix ``cache`` repeated along the batch, ``rows`` times (the prefix is reused by
    the next batch)."""
    if cache is None:
        return None
    cache = copy.deepcopy(cache)
    cache.batch_repeat_interleave(rows)
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
    window = getattr(loaded.model.config.get_text_config(), "sliding_window", None)
    if window and max(len(c) + max(map(len, x)) for c, x in zip(ctx_ids, cont_ids)) >= window:
        # a sliding window shorter than the prompts: the model's own masks and cache, one pass per continuation
        if stats is not None:
            _count_tokens(stats, ctx_ids, cont_ids, 0, cached=False)
        return _naive(loaded, ctx_ids, cont_ids, progress)
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


def _count_tokens(stats: dict, ctx_ids: list, cont_ids: list, plen: int, cached: bool = True) -> None:
    own = sum(len(c) - plen + sum(len(x) - 1 for x in conts) for c, conts in zip(ctx_ids, cont_ids))
    full = sum(len(c) + len(x) - 1 for c, conts in zip(ctx_ids, cont_ids) for x in conts)
    stats["forward_tokens"] = stats.get("forward_tokens", 0) + (plen + own if cached else full)
    stats["full_tokens"] = stats.get("full_tokens", 0) + full


def _batches(order: list[int], ctx_ids: list, cont_ids: list, plen: int, batch_tokens: int) -> list[list[int]]:
    """Consecutive groups of ``order`` whose KV size (prefix copies and continuation tails included) fits
    ``batch_tokens``."""
    batches: list[list[int]] = []
    current: list[int] = []
    widest = 0
    for i in order:
        width = len(ctx_ids[i]) + sum(len(c) - 1 for c in cont_ids[i])
        if current and ((len(current) + 1) * max(widest, width) > batch_tokens or len(current) >= MAX_BATCH_ROWS):
            batches.append(current)
            current, widest = [], 0
        current.append(i)
        widest = max(widest, width)
    return batches + ([current] if current else [])


def _tree_rows(rows: list[list[int]], conts: list[list[list[int]]], plen: int, pad_id: int):
    """One left-padded row per context: its own tokens, then every continuation but its last token, one after the
    other. Returns ids, position ids, which key each query may see (prefix columns first) and, per row, where each
    continuation's inputs start. A continuation's tokens see the prefix, the context and their own earlier tokens
    only, and take the positions that follow the context, so each is scored as if it were alone."""
    import torch

    seqs, starts = [], []
    for own, options in zip(rows, conts):
        seq, where = list(own), []
        for option in options:
            where.append(len(seq))
            seq.extend(option[:-1])
        seqs.append(seq)
        starts.append(where)
    n_rows, width = len(seqs), max(len(s) for s in seqs)
    ids = torch.full((n_rows, width), pad_id, dtype=torch.long)
    pos = torch.zeros((n_rows, width), dtype=torch.long)
    sees = torch.zeros((n_rows, width, plen + width), dtype=torch.bool)
    sees[:, :, :plen] = True
    for b, (seq, own, options, where) in enumerate(zip(seqs, rows, conts, starts)):
        off, n = width - len(seq), len(own)
        ids[b, off:] = torch.tensor(seq)
        pos[b, off:off + n] = torch.arange(plen, plen + n)
        block = plen + off
        sees[b, off:off + n, block:block + n] = torch.ones(n, n, dtype=torch.bool).tril()
        for option, start in zip(options, where):
            m = len(option) - 1
            if m:
                s = off + start
                pos[b, s:s + m] = torch.arange(plen + n, plen + n + m)
                sees[b, s:s + m, block:block + n] = True
                sees[b, s:s + m, plen + s:plen + s + m] = torch.ones(m, m, dtype=torch.bool).tril()
        padding = torch.arange(off)
        sees[b, padding, plen + padding] = True  # padding sees itself only (its output is not read)
    return ids, pos, sees, [[width - len(seq) + w for w in where] for seq, where in zip(seqs, starts)]


def _score_batch(loaded: Any, prefix: Any, plen: int, rows: list[list[int]],
                 conts: list[list[list[int]]]) -> list[list[ChoiceScore]]:
    """One forward pass on the prefix cache over each context's own tokens and its continuations (``_tree_rows``);
    equal to scoring every (context, continuation) pair on its own, up to float rounding."""
    import torch

    from advisor.probes.common.kv_cache import with_cache

    model = loaded.model
    ids, pos, sees, starts = _tree_rows(rows, conts, plen, loaded.tokenizer.pad_token_id)
    n_rows, width = ids.shape
    mask = sees[:, None]  # what SDPA takes; eager attention adds the mask to its scores
    if getattr(model.config, "_attn_implementation", None) == "eager":
        dtype = model.get_input_embeddings().weight.dtype
        mask = torch.zeros(mask.shape, dtype=dtype).masked_fill_(~mask, torch.finfo(dtype).min)
    cache = _prefix_copies(prefix, n_rows)
    keep = max(1 + sum(len(c) - 1 for c in options) for options in conts)
    device = model.device
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos.to(device),
                **with_cache(model, cache), logits_to_keep=keep)
    lp = out.logits[:, -keep:, :].float().log_softmax(-1).cpu()
    first = width - keep  # row position of lp[:, 0]
    scores = []
    for b, options in enumerate(conts):
        last = width - 1 - sum(len(c) - 1 for c in options) - first  # the context's last token, in lp
        row = []
        for option, start in zip(options, starts[b]):
            at = [last] + list(range(start - first, start - first + len(option) - 1))
            picked = lp[b, at, :]
            target = torch.tensor(option)
            row.append(ChoiceScore(float(picked.gather(1, target[:, None]).sum()), len(option),
                                   picked.argmax(-1).tolist() == option))
        scores.append(row)
    return scores


# -- naive reference --------------------------------------------------------------------------
def naive_score_choices(loaded: Any, contexts: Sequence[str], choices: Sequence[Sequence[str]],
                        progress: Callable[[int, int], None] | None = None) -> list[list[ChoiceScore]]:
    """The reference: one full forward pass per (context, continuation), no cache, no padding; ``progress`` is
    told after each context (where a probe checks its budget)."""
    return _naive(loaded, *_encode_all(loaded.tokenizer, contexts, choices), progress)


def _naive(loaded: Any, ctx_ids: list, cont_ids: list,
           progress: Callable[[int, int], None] | None) -> list[list[ChoiceScore]]:
    import torch

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
            if progress:
                progress(len(out), len(ctx_ids))
    return out


# -- greedy generation -----------------------------------------------------------------------
def generate_greedy(loaded: Any, prompts: Sequence[str], max_new_tokens: int, *, batch_size: int = 32,
                    stop: Sequence[str] = ()) -> list[str]:
    """Greedy continuations of ``prompts`` (tokenized as lm-eval's ``tok_batch_encode``), cut at ``stop``.

    Prompts run in batches of similar length (left-padded), answers come back in the prompts' order. A row
    stops generating once it has produced a stop string (transformers' ``StopStringCriteria``, which also finds
    one inside or across tokens), and a batch once all its rows have: what precedes the first stop string is
    the same as when generating ``max_new_tokens`` and cutting afterwards."""
    import torch

    tok = loaded.tokenizer
    encoded = [_prompt_ids(tok, p) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    outputs: list[str] = [""] * len(prompts)
    stop_strings = {"stop_strings": [s for s in stop if s], "tokenizer": tok} if any(stop) else {}
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            ids, mask = _left_pad([encoded[i] for i in batch], tok.pad_token_id)
            gen = loaded.model.generate(input_ids=ids.to(loaded.model.device), attention_mask=mask.to(loaded.model.device),
                                        do_sample=False, max_new_tokens=max_new_tokens,
                                        pad_token_id=tok.pad_token_id, **stop_strings)
            texts = tok.batch_decode(gen[:, ids.shape[1]:].cpu(), skip_special_tokens=True)
            for i, text in zip(batch, texts):
                outputs[i] = _cut(text, stop)
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
