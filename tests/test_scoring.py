"""The scorer: lm-eval tokenization convention, prefix-cache reuse equals the naive computation,
batching does not change numbers, greedy generation."""

from __future__ import annotations

import pytest
import torch

from advisor.probes.common.prompting import PromptBuilder, PromptTemplate, default_template

from advisor.probes.common.lm import LocalModel
from advisor.probes.common.runtime import ModelSpec, load_causal_lm
from advisor.probes.common.scoring import (encode, encode_pair, generate_greedy, naive_score_choices, score_choices,
                                    shared_prefix_len)

TEXTS = ["The movie was great and I loved it.", "Terrible service, I want a refund.", "ok",
         "How do I reset my password? The app crashes when I upload a receipt and nothing works at all."]
DEMOS = [("I loved it", "positive"), ("awful", "negative"), ("my invoice is wrong", "billing account")]
LABELS = ["negative", "positive", "billing account"]


@pytest.fixture(scope="module", params=["chat", "base"])
def loaded(request, tiny_lm_path, tiny_base_lm_path):
    path = tiny_lm_path if request.param == "chat" else tiny_base_lm_path
    return load_causal_lm(ModelSpec(name=str(path), device="cpu"))


def manual_logprob(loaded, context: str, continuation: str) -> float:
    """Independent reference: one plain forward pass over the whole prompt."""
    ctx, cont = encode_pair(loaded.tokenizer, context, continuation)
    with torch.no_grad():
        logits = loaded.model(torch.tensor([ctx + cont])).logits[0].log_softmax(-1)
    return float(sum(logits[len(ctx) - 1 + i, t] for i, t in enumerate(cont)))


def test_encode_pair_moves_trailing_whitespace_into_the_continuation(loaded):
    tok = loaded.tokenizer
    ctx, cont = encode_pair(tok, "Answer: ", "positive")
    assert ctx == encode(tok, "Answer:") and ctx + cont == encode(tok, "Answer: positive")
    ctx2, cont2 = encode_pair(tok, "", " positive")
    assert len(ctx2) == 1 and cont2 == encode(tok, " positive")


def test_shared_prefix_leaves_one_token_per_sequence():
    assert shared_prefix_len([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]]) == 2
    assert shared_prefix_len([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_prefix_len([[5], [5, 6]]) == 0


@pytest.mark.parametrize("k", [0, 1, 3])
def test_prefix_cache_scores_equal_naive_full_prompt(loaded, k):
    builder = PromptBuilder(default_template("classification"), LABELS, LocalModel(loaded))
    contexts = [builder.context(DEMOS[:k], t) for t in TEXTS]
    choices = [[builder.continuation(lab) for lab in LABELS]] * len(contexts)
    stats: dict = {}
    cached = score_choices(loaded, contexts, choices, stats=stats)
    naive = naive_score_choices(loaded, contexts, choices)
    for row_c, row_n, context in zip(cached, naive, contexts):
        for c, n, cont in zip(row_c, row_n, choices[0]):
            assert c.n_tokens == n.n_tokens
            assert abs(c.logprob - n.logprob) < 1e-4
            assert abs(n.logprob - manual_logprob(loaded, context, cont)) < 1e-4
    assert any(s.n_tokens > 1 for s in cached[0])  # the multi-token path ran
    if k:
        assert stats["forward_tokens"] < stats["full_tokens"]
    assert len({round(s.logprob, 3) for s in cached[0]}) == 3  # the model discriminates; the test can fail


def test_the_tree_mask_works_with_eager_attention_too(loaded, monkeypatch):
    """SDPA takes the boolean tree mask, eager attention an additive one: both give the naive scores."""
    builder = PromptBuilder(default_template("classification"), LABELS, LocalModel(loaded))
    contexts = [builder.context(DEMOS[:2], t) for t in TEXTS]
    choices = [[builder.continuation(lab) for lab in LABELS]] * len(contexts)
    naive = naive_score_choices(loaded, contexts, choices)
    for implementation in ("sdpa", "eager"):
        monkeypatch.setattr(loaded.model.config, "_attn_implementation", implementation)
        got = score_choices(loaded, contexts, choices)
        assert max(abs(a.logprob - b.logprob) for ra, rb in zip(got, naive) for a, b in zip(ra, rb)) < 1e-4


def test_small_batches_give_the_same_scores_as_one_batch(loaded):
    builder = PromptBuilder(default_template("classification"), LABELS, LocalModel(loaded))
    contexts = [builder.context(DEMOS[:2], t) for t in TEXTS * 3]
    choices = [[builder.continuation(lab) for lab in LABELS]] * len(contexts)
    big = score_choices(loaded, contexts, choices, batch_tokens=1 << 20)
    small = score_choices(loaded, contexts, choices, batch_tokens=64)
    for a, b in zip(big, small):
        assert [round(x.logprob, 4) for x in a] == [round(x.logprob, 4) for x in b]


def test_per_context_choices_and_order_are_kept(loaded):
    contexts = ["Input: ok\nLabel:", "Input: a much longer input text here\nLabel:"]
    choices = [[" positive"], [" negative", " neutral", " billing"]]
    got = score_choices(loaded, contexts, choices)
    want = naive_score_choices(loaded, contexts, choices)
    assert [len(r) for r in got] == [1, 3]
    assert all(abs(a.logprob - b.logprob) < 1e-4 for ra, rb in zip(got, want) for a, b in zip(ra, rb))


def test_greedy_generation_matches_a_manual_argmax_loop(loaded):
    """Batched by length (longest first here, so the batches reorder them), answers in the prompts' order."""
    prompts = ["Question: positive or negative?\nAnswer:", "Input: my invoice is wrong\nLabel:", "ok"]
    out = generate_greedy(loaded, prompts, max_new_tokens=4, batch_size=2)
    tok = loaded.tokenizer
    for prompt, text in zip(prompts, out):
        ids = encode(tok, prompt)
        new = []
        with torch.no_grad():
            for _ in range(4):
                nxt = int(loaded.model(torch.tensor([ids + new])).logits[0, -1].argmax())
                if nxt == tok.eos_token_id:
                    break
                new.append(nxt)
        assert text == tok.decode(new, skip_special_tokens=True)


def test_generation_stops_at_a_stop_string_with_the_same_text_before_it(loaded):
    prompt = ["Input: my invoice is wrong\nLabel:"]
    full = generate_greedy(loaded, prompt, max_new_tokens=16)[0]
    # a random model emits partial UTF-8 too; stop at the first whole ASCII character after the start
    stop = next(c for c in full[2:] if c.isascii())
    calls = []
    handle = loaded.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        cut = generate_greedy(loaded, prompt, max_new_tokens=16, stop=[stop])[0]
    finally:
        handle.remove()
    assert cut == full[:full.index(stop)]
    assert len(calls) < 16  # it stopped generating, not only cut afterwards


def test_chat_template_wraps_the_prompt_and_drops_the_target_delimiter(tiny_lm_path):
    loaded = load_causal_lm(ModelSpec(name=str(tiny_lm_path), device="cpu"))
    chat = PromptBuilder(PromptTemplate(instruction="Be brief.", example="Q: {{text}}\nA:"), ["yes"], LocalModel(loaded))
    assert chat.chat and chat.continuation("yes") == "yes"
    ctx = chat.context([("a", "yes")], "b")
    assert ctx == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQ: a\nA: yes\n\nQ: b\nA:<|im_end|>\n"
                   "<|im_start|>assistant\n")
    plain = PromptBuilder(PromptTemplate(instruction="Be brief.", example="Q: {{text}}\nA:", use_chat_template=False),
                          ["yes"], LocalModel(loaded))
    assert plain.context([("a", "yes")], "b") == "Be brief.\n\nQ: a\nA: yes\n\nQ: b\nA:"
    assert plain.continuation("yes") == " yes"


def bos_adding(tokenizer):
    """A copy of ``tokenizer`` whose default encoding prepends a BOS token, as Llama / Gemma / Mistral's do."""
    from tokenizers import Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.post_processor = processors.TemplateProcessing(single="<|endoftext|> $A",
                                                           special_tokens=[("<|endoftext|>", 0)])
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|endoftext|>", eos_token="<|im_end|>",
                                  pad_token="<|im_end|>")
    assert tok("Label:")["input_ids"][0] == 0
    return tok


def test_a_tokenizer_that_adds_bos_gets_it_once_as_lm_eval_tok_encode(tiny_base_lm_path):
    """lm-eval's HFLM (add_bos_token=None) keeps the tokenizer's special-token default: BOS is prepended,
    except when the text already starts with it (a chat template that writes it)."""
    import dataclasses

    loaded = load_causal_lm(ModelSpec(name=str(tiny_base_lm_path), device="cpu"))
    tok = bos_adding(loaded.tokenizer)
    ctx, cont = encode_pair(tok, "Input: ok\nLabel: ", "billing account")
    assert ctx == [0] + encode(tok, "Input: ok\nLabel:") and ctx + cont == tok("Input: ok\nLabel: billing account")["input_ids"]
    assert encode_pair(tok, "<|endoftext|>Input: ok\nLabel:", " billing") == encode_pair(tok, "Input: ok\nLabel:", " billing")
    assert encode_pair(tok, "", " billing") == ([0], encode(tok, " billing"))
    plain = loaded.tokenizer  # adds no special token: nothing changes
    assert encode_pair(plain, "Input: ok\nLabel:", " billing")[0] == encode(plain, "Input: ok\nLabel:")
    with_bos = dataclasses.replace(loaded, tokenizer=tok)
    contexts = [f"Input: {t}\nLabel:" for t in TEXTS]
    choices = [[" negative", " billing account"]] * len(contexts)
    cached, naive = score_choices(with_bos, contexts, choices), naive_score_choices(with_bos, contexts, choices)
    assert all(abs(a.logprob - b.logprob) < 1e-4 for ra, rb in zip(cached, naive) for a, b in zip(ra, rb))
    without = score_choices(loaded, contexts, choices)
    assert max(abs(a.logprob - b.logprob) for ra, rb in zip(cached, without) for a, b in zip(ra, rb)) > 1e-3


def test_greedy_flags_match_a_manual_argmax_check(loaded):
    """``greedy`` (lm-eval's is_greedy): every continuation token is the argmax at its position."""
    tok = loaded.tokenizer
    contexts = ["Input: ok\nLabel:", "The movie was great and I loved it.", "Question: positive or negative?\nAnswer:"]
    choices = []
    for context in contexts:
        ids = encode_pair(tok, context, " x")[0]
        with torch.no_grad():
            top = int(loaded.model(torch.tensor([ids])).logits[0, -1].argmax())
        choices.append([tok.decode([top]), " negative", " billing account"])
    cached, naive = score_choices(loaded, contexts, choices), naive_score_choices(loaded, contexts, choices)
    flags = []
    for context, conts, row_c, row_n in zip(contexts, choices, cached, naive):
        for cont, c, n in zip(conts, row_c, row_n):
            ctx_ids, cont_ids = encode_pair(tok, context, cont)
            with torch.no_grad():
                logits = loaded.model(torch.tensor([ctx_ids + cont_ids])).logits[0]
            want = all(int(logits[len(ctx_ids) - 1 + i].argmax()) == t for i, t in enumerate(cont_ids))
            assert c.greedy is want and n.greedy is want
            flags.append(want)
    assert True in flags and False in flags


def _forward_calls(loaded, contexts, choices) -> tuple[list[list], int]:
    calls, told = [], []
    handle = loaded.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        scores = score_choices(loaded, contexts, choices, batch_tokens=1 << 20,
                               progress=lambda done, total: told.append((done, total)))
    finally:
        handle.remove()
    assert told and told[-1] == (len(contexts), len(contexts))  # progress (and a probe's budget check) either way
    return scores, len(calls)


@pytest.fixture(scope="module")
def windowed(tmp_path_factory):
    """A tiny Mistral-style model whose sliding window (8 tokens) is shorter than the prompts."""
    from transformers import MistralConfig, MistralForCausalLM

    from tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    torch.manual_seed(0)
    model = MistralForCausalLM(MistralConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, initializer_range=0.2, sliding_window=8, eos_token_id=eos, pad_token_id=eos))
    path = tmp_path_factory.mktemp("tiny-mistral")
    model.save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return load_causal_lm(ModelSpec(name=str(path), device="cpu"))


def test_multi_token_labels_run_in_the_contexts_pass_unless_a_sliding_window_is_shorter(loaded, windowed,
                                                                                        monkeypatch):
    """Continuations ride in the contexts' forward pass under a tree mask (prefix + that pass); a model whose
    sliding window is shorter than the prompts is scored one full pass per continuation with its own masks.
    Each equals the naive full-prompt scores."""
    builder = PromptBuilder(default_template("classification"), LABELS, LocalModel(loaded))
    contexts = [builder.context(DEMOS[:2], t) for t in TEXTS]
    choices = [[builder.continuation(lab) for lab in LABELS]] * len(contexts)
    for model, window, calls in ((loaded, None, 2), (windowed, 4096, 2), (windowed, 8, len(contexts) * len(LABELS))):
        if window:
            monkeypatch.setattr(model.model.config, "sliding_window", window)
        got, n_calls = _forward_calls(model, contexts, choices)
        naive = naive_score_choices(model, contexts, choices)
        assert n_calls == calls
        assert max(abs(a.logprob - b.logprob) for ra, rb in zip(got, naive) for a, b in zip(ra, rb)) < 1e-4
        assert [[a.greedy for a in r] for r in got] == [[b.greedy for b in r] for r in naive]
