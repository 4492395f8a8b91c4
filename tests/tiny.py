"""Tiny randomly initialized causal LMs for mechanics tests (shared by the probes' tests).

A byte-level BPE tokenizer trained in memory on a small corpus (so spaces belong to tokens and
merges cross word boundaries, as in real tokenizers), with a ChatML chat template, and a
2-layer Llama-style model. ``save_tiny_lm`` writes both to a folder loadable through
``load_causal_lm(ModelSpec(name=str(path)))``. Weights use a large init range so that
log-likelihoods differ between continuations (a near-uniform model would hide bugs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "The movie was great and I loved it.", "Terrible service, I want a refund.",
    "Question: positive or negative?\nAnswer: positive", "Input: my invoice is wrong\nLabel: billing",
    "Label: account", "Label: billing", "Label: technical", "negative", "positive", "neutral",
    "How do I reset my password?", "The app crashes when I upload a receipt.",
    '{"name": "Ada", "amount": 12.5}', "Classify each input into one of these labels.",
]


def build_tiny_tokenizer(corpus: list[str] | None = None, vocab_size: int = 320, chat_template: str | None = CHATML) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``corpus`` (default: a few sentences)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator((corpus or CORPUS) * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=None, eos_token="<|im_end|>",
                                   pad_token="<|im_end|>", unk_token=None)
    if chat_template:
        fast.chat_template = chat_template
    return fast


def build_tiny_model(vocab_size: int, seed: int = 0, **overrides: Any) -> Any:
    """A 2-layer Llama-style causal LM with random weights (grouped-query attention, tied embeddings)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    params = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                  initializer_range=0.2, tie_word_embeddings=True, eos_token_id=2, pad_token_id=2)
    params.update(overrides)
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(**params)).eval()


def save_tiny_lm(path: Path | str, seed: int = 0, chat: bool = True, **overrides: Any) -> Path:
    """Write a tiny tokenizer + model to ``path`` (a Hugging Face checkpoint folder); return it."""
    path = Path(path)
    tokenizer = build_tiny_tokenizer(chat_template=CHATML if chat else None)
    ids = tokenizer.convert_tokens_to_ids(["<|im_end|>"])[0]
    model = build_tiny_model(len(tokenizer), seed=seed, eos_token_id=ids, pad_token_id=ids, **overrides)
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path
