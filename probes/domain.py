"""The domain-gap probe: how much more surprising is the user's text than general English to a language model?

Definitions (standard, so the numbers compare with published ones):

- **Perplexity** = ``exp(mean token negative log-likelihood)`` over every predicted token.
  A prefix token (BOS, else EOS: the lm-evaluation-harness ``prefix_token_id``) is put in front
  of the text so that its first token is predicted too; every token is predicted exactly once.
- **Windows**: strided sliding windows as in the Hugging Face perplexity guide ("Perplexity of
  fixed-length models"): the sequence is cut into target chunks of ``stride`` tokens; each chunk
  is scored in a window of ``window`` tokens ending at it, so every token sees at least
  ``window - stride`` tokens of context. ``window`` is ``min(--window, the model's context size)``
  (default 512); ``stride`` defaults to ``window // 2``. ``stride = window - 1`` gives the
  disjoint rolling windows of lm-evaluation-harness ``loglikelihood_rolling``.
- **Fair comparison**: both texts are truncated to the same number of tokens,
  ``min(--max-tokens, domain tokens, general tokens)``, so position effects and context cancel out.
- **Bits per byte** = ``sum of NLL (nats) / ln 2 / UTF-8 bytes of the scored text`` (lm-eval's
  ``bits_per_byte``): it does not depend on the tokenizer, so models with different vocabularies compare.
- **Perplexity ratio** = domain perplexity / general perplexity (> 1: the domain text is harder).
- **Surprising terms**: every whitespace-separated word of the domain text gets the surprisal
  (in bits) of the tokens whose first non-space character lies in it, summed (a word's
  information content; a token merged across a word boundary counts for the word it starts
  in). Words are normalized (lowercased, punctuation stripped at both ends); words without a
  letter and words that occur anywhere in the general sample are left out; the rest are ranked
  by mean surprisal over their occurrences (ties: more occurrences first).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import string
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from advisor.errors import InputError
from advisor.probes.base import Probe, ProbeContext, ProbeResult
from advisor.probes.runtime import ModelSpec

VERSION = "1"
MIN_TOKENS = 16
TOP_TERMS = 15
_WORD = re.compile(r"\S+")
_EDGE_PUNCT = string.punctuation + "“”‘’«»…–—"


class DomainConfig(BaseModel):
    """Inputs of the domain-gap probe (``advisor probe domain`` options)."""

    model_config = ConfigDict(extra="forbid")

    text: Path
    general: Path | None = None  # default: the bundled probes/data/general_text.txt
    model: ModelSpec = Field(default_factory=ModelSpec)
    max_tokens: int = Field(2048, ge=MIN_TOKENS)
    window: int = Field(512, ge=8)
    stride: int | None = Field(None, ge=1)
    top_terms: int = Field(TOP_TERMS, ge=0)

    @model_validator(mode="after")
    def _stride_fits(self) -> "DomainConfig":
        if self.stride is not None and self.stride >= self.window:
            raise ValueError(f"stride ({self.stride}) must be smaller than the window ({self.window})")
        return self


# -- inputs ---------------------------------------------------------------------------------
def general_path(config: DomainConfig) -> Path:
    from advisor.resources import probe_data

    return Path(config.general) if config.general is not None else probe_data("general_text.txt")


def read_text(path: Path | str, option: str = "--text") -> str:
    """A UTF-8 text file's content; missing, empty or binary files are input errors."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{option} {path}: no such file; pass a UTF-8 text file with a sample of your domain's text.")
    data = path.read_bytes()
    if b"\x00" in data:
        raise InputError(f"{option} {path}: looks like a binary file (NUL bytes); pass plain UTF-8 text.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{option} {path}: not UTF-8 text (bad byte at offset {exc.start}); convert it to UTF-8.") from None
    if not text.strip():
        raise InputError(f"{option} {path}: the file is empty; it needs a few paragraphs of your domain's text.")
    return text


# -- scoring --------------------------------------------------------------------------------
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

    from advisor.probes.scoring import prefix_token_id

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


def perplexity(nlls: Sequence[float]) -> float:
    return math.exp(sum(nlls) / len(nlls))


def bits_per_byte(nlls: Sequence[float], text: str) -> float:
    return sum(nlls) / math.log(2) / max(1, len(text.encode("utf-8")))


def scored_text(tokenizer: Any, text: str, ids: Sequence[int], offsets: list | None) -> str:
    """The text covered by the first ``len(ids)`` tokens (by offsets, else by decoding)."""
    if offsets:
        return text[: offsets[len(ids) - 1][1]]
    return tokenizer.decode(list(ids))


# -- surprising terms -----------------------------------------------------------------------
def normalize_word(word: str) -> str:
    return word.strip(_EDGE_PUNCT).lower()


def vocabulary(text: str) -> set[str]:
    return {normalize_word(w) for w in text.split()}


def word_surprisals(text: str, offsets: Sequence[tuple[int, int]], nlls: Sequence[float]) -> list[tuple[str, float]]:
    """(normalized word, surprisal in bits) per word occurrence covered by the scored tokens."""
    spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    bits: dict[int, float] = defaultdict(float)
    w = 0
    for (start, end), nll in zip(offsets, nlls):
        piece = text[start:end]
        first = start + len(piece) - len(piece.lstrip())
        while w < len(spans) and spans[w][1] <= first:
            w += 1
        if first < end and w < len(spans) and spans[w][0] <= first:
            bits[w] += nll / math.log(2)
    return [(normalize_word(text[spans[i][0]:spans[i][1]]), b) for i, b in sorted(bits.items())]


def surprising_terms(occurrences: list[tuple[str, float]], exclude: set[str], top: int) -> list[dict[str, Any]]:
    """Words by mean surprisal (bits) over their occurrences, without ``exclude`` and letter-less words."""
    groups: dict[str, list[float]] = defaultdict(list)
    for word, b in occurrences:
        if word and word not in exclude and any(ch.isalpha() for ch in word):
            groups[word].append(b)
    rows = [{"word": w, "mean_bits": sum(v) / len(v), "count": len(v)} for w, v in groups.items()]
    rows.sort(key=lambda r: (-r["mean_bits"], -r["count"], r["word"]))
    return rows[:top]


def gap_label(ratio: float) -> str:
    """A plain-words reading of the perplexity ratio (thresholds documented in docs and the report)."""
    if ratio < 1.5:
        return "small"
    return "moderate" if ratio < 3.0 else "large"


class DomainProbe(Probe):
    """Perplexity of the probe model on your domain text vs a general-English sample.

    Evidence keys (rules see them as ``domain.<key>``):

    - ``perplexity_ratio``: domain perplexity / general perplexity (same number of tokens);
    - ``domain_perplexity`` / ``general_perplexity``: token-level perplexities;
    - ``domain_tokens``: tokens scored in each text (the common budget);
    - ``domain_bits_per_byte`` / ``general_bits_per_byte`` / ``bits_per_byte_ratio``:
      tokenizer-independent versions of the same comparison;
    - ``unseen_word_share``: share of the domain text's word occurrences (with a letter) whose
      normalized form never occurs in the general sample.

    Figures come from a small probe model: they rank texts, they do not predict a large model's gap.
    """

    name = "domain"
    Config = DomainConfig
    description = "Perplexity of a small LM on your domain text vs general English, and the most surprising terms."
    template = "probe_domain.md.j2"

    def fingerprint(self, config: DomainConfig) -> str:
        from advisor.probes.runtime import model_fingerprint

        texts = [read_text(config.text), read_text(general_path(config), "--general")]
        keyed = config.model_dump(mode="json", exclude={"text", "general", "model"})
        parts = [VERSION, *(hashlib.sha256(t.encode()).hexdigest() for t in texts), model_fingerprint(config.model),
                 config.model.model_dump_json(exclude={"allow_download"}), json.dumps(keyed, sort_keys=True)]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]

    def run(self, config: DomainConfig, ctx: ProbeContext) -> ProbeResult:
        from advisor.probes.domain_run import DomainRun

        return DomainRun(config, ctx).run()

    def charts(self, result: ProbeResult, out_dir: Path) -> dict[str, Path]:
        terms = result.summary.get("terms") or []
        if not terms:
            return {}
        return {"surprising_terms": terms_chart(terms, Path(out_dir) / "domain_surprising_terms.png")}


def terms_chart(terms: list[dict[str, Any]], path: Path) -> Path:
    """Horizontal bar chart of the surprising terms' mean surprisal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.3 * len(terms) + 1))
    ax.barh([t["word"] for t in reversed(terms)], [t["mean_bits"] for t in reversed(terms)], color="#4c72b0")
    ax.set_xlabel("mean surprisal (bits per occurrence)")
    ax.set_title("Most surprising domain terms (absent from the general sample)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
