"""A tiny randomly initialized sentence-transformers model (BERT + word-level tokenizer),
built in a few hundred milliseconds, for tests that need a real embedder but not a good one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_tiny_st(path: Path, texts: Iterable[str], seed: int = 0, max_seq_length: int = 128) -> Path:
    """Save a tiny SentenceTransformer whose vocabulary is the words of ``texts``; return its folder."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from tokenizers import Tokenizer, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    vocab = {tok: i for i, tok in enumerate(SPECIAL + words)}
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    from tokenizers import normalizers

    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=max_seq_length,
    )
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=max_seq_length + 2)
    hf_dir = path / "hf"
    BertModel(config).save_pretrained(hf_dir)
    fast.save_pretrained(hf_dir)
    transformer = models.Transformer(str(hf_dir), max_seq_length=max_seq_length)
    pooling = models.Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    out = path / "st"
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(out))
    return out
