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
- **Interval of the bits-per-byte ratio**: a 95% percentile **block bootstrap** (Carlstein 1986; Künsch
  1989). Each text's scored tokens are cut into consecutive blocks of about ``BLOCK_TOKENS`` tokens (token
  losses are correlated over short spans, so blocks, not tokens, are resampled); each block keeps its summed
  NLL and the UTF-8 bytes it covers. The blocks of the two texts are resampled with replacement,
  independently, ``N_BOOT`` times (seeded), and the ratio of the two resampled bits per byte (a ratio of sums)
  is recomputed each time; the interval is its 2.5/97.5 percentiles. Fewer than ``MIN_BLOCKS`` blocks in a
  text give no interval.
- **Surprising terms**: every whitespace-separated word of the domain text gets the surprisal
  (in bits) of the tokens whose first non-space character lies in it, summed (a word's
  information content; a token merged across a word boundary counts for the word it starts
  in). Words are normalized (lowercased, punctuation stripped at both ends); words without a
  letter and words that occur anywhere in the general sample are left out; the rest are ranked
  by mean surprisal over their occurrences (ties: more occurrences first).
"""

from __future__ import annotations

import math
import re
import string
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from advisor.errors import InputError
from advisor.probes.common.general import GENERAL_NAMES, GENERAL_SAMPLES, bundled_general
from advisor.probes.common.base import same
from advisor.probes.common.spec import AssessInputs, Evidence, Plan, ProbeInput, ProbeSpec, fact
from advisor.probes.common.precision import Bf16Setting
from advisor.probes.common.runtime import ModelSpec
from advisor.sentences import say

VERSION = "2"  # 2: the bits-per-byte ratio carries its block-bootstrap interval
MIN_TOKENS = 16
BLOCK_TOKENS = 64
MIN_BLOCKS = 5
N_BOOT = 2000
TOP_TERMS = 15
_WORD = re.compile(r"\S+")
_EDGE_PUNCT = string.punctuation + "“”‘’«»…–—"


class DomainConfig(BaseModel):
    """Inputs of the domain-gap probe (``advisor probe domain`` options)."""

    model_config = ConfigDict(extra="forbid")

    text: Path
    general: Path | None = None  # default: the bundled general sample in ``language`` (GENERAL_SAMPLES)
    language: str = "en"  # the language of the text (ISO 639-1)
    model: ModelSpec = Field(default_factory=ModelSpec)
    max_tokens: int = Field(2048, ge=MIN_TOKENS)
    window: int = Field(512, ge=8)
    stride: int | None = Field(None, ge=1)
    top_terms: int = Field(TOP_TERMS, ge=0)
    bf16: Bf16Setting = "auto"  # the model's arithmetic (advisor.probes.common.precision)

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str) -> str:
        if not (len(value) == 2 and value.isascii() and value.isalpha() and value.islower()):
            raise ValueError(f"{value!r} is not a language code; write its two-letter ISO 639-1 code, such as en or fr")
        return value

    @model_validator(mode="after")
    def _stride_fits(self) -> "DomainConfig":
        if self.stride is not None and self.stride >= self.window:
            raise ValueError(f"stride ({self.stride}) must be smaller than the window ({self.window})")
        return self


# -- inputs ---------------------------------------------------------------------------------
def general_path(config: DomainConfig) -> Path:
    """The general text to compare with: ``--general``, else the bundled sample in the text's language."""
    if config.general is not None:
        return Path(config.general)
    sample = bundled_general(config.language)
    if sample is None:
        raise InputError(say("--language {language}: no bundled general-text sample in that language (bundled: "
                             "{bundled}); pass --general FILE with everyday text in your language to compare with",
                             language=config.language, bundled=", ".join(GENERAL_SAMPLES)))
    return sample


def general_name(config: DomainConfig) -> str:
    """What the report calls the general text."""
    if config.general is not None or config.language not in GENERAL_NAMES:
        return say("your general sample")
    return GENERAL_NAMES[config.language]


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
def perplexity(nlls: Sequence[float]) -> float:
    return math.exp(sum(nlls) / len(nlls))


def bits_per_byte(nlls: Sequence[float], text: str) -> float:
    return sum(nlls) / math.log(2) / max(1, len(text.encode("utf-8")))


def scored_text(lm: Any, text: str, ids: Sequence[int], offsets: list | None) -> str:
    """The text covered by the first ``len(ids)`` tokens (by offsets, else by decoding)."""
    if offsets:
        return text[: offsets[len(ids) - 1][1]]
    return lm.decode(list(ids))


# -- the ratio's interval --------------------------------------------------------------------
def block_ends(n_tokens: int, block: int = BLOCK_TOKENS) -> list[int]:
    """Exclusive ends of consecutive blocks of about ``block`` tokens (near-equal sizes) covering ``n_tokens``."""
    count = max(1, round(n_tokens / block))
    return [round(n_tokens * (i + 1) / count) for i in range(count)]


def blocks(nlls: Sequence[float], ends: Sequence[int], bytes_upto: Sequence[int]) -> list[list[float]]:
    """``[summed NLL, bytes]`` per block; ``bytes_upto[i]``: UTF-8 bytes of the text up to the end of block ``i``."""
    out, start, covered = [], 0, 0
    for end, upto in zip(ends, bytes_upto):
        out.append([float(sum(nlls[start:end])), max(0, upto - covered)])
        start, covered = end, max(covered, upto)
    return out


def ratio_interval(domain: Sequence[Sequence[float]], general: Sequence[Sequence[float]], n_boot: int = N_BOOT,
                   seed: int = 0, alpha: float = 0.05) -> tuple[float, float] | None:
    """Percentile block-bootstrap interval of (domain bits per byte) / (general bits per byte) from each text's
    ``[NLL, bytes]`` blocks, resampled independently; ``None`` with fewer than ``MIN_BLOCKS`` blocks in a text."""
    import numpy as np

    d, g = np.asarray(domain, dtype=float), np.asarray(general, dtype=float)
    if len(d) < MIN_BLOCKS or len(g) < MIN_BLOCKS:
        return None
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(d), size=(n_boot, len(d)))
    j = rng.integers(0, len(g), size=(n_boot, len(g)))
    ratios = (d[i, 0].sum(1) / d[i, 1].sum(1)) / (g[j, 0].sum(1) / g[j, 1].sum(1))  # ln 2 cancels
    low, high = np.quantile(ratios, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


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


class DomainEvidence(Evidence):
    """Facts of the domain-gap probe (rules see them as ``domain.<fact>``): how unusual the text is to a
    general language model. Ratios rank texts; they do not predict a large model's own gap."""

    perplexity_ratio: float | None = fact("domain perplexity / general perplexity, same number of tokens", "ratio",
                                          ge=0)
    domain_perplexity: float | None = fact("token-level perplexity of the domain text", "perplexity", ge=1)
    general_perplexity: float | None = fact("token-level perplexity of the general sample", "perplexity", ge=1)
    domain_tokens: int | None = fact("tokens scored in each text (the common budget)", "tokens", ge=0)
    domain_bits_per_byte: float | None = fact("bits per UTF-8 byte of the domain text", "bits/byte", ge=0)
    general_bits_per_byte: float | None = fact("bits per UTF-8 byte of the general sample", "bits/byte", ge=0)
    bits_per_byte_ratio: float | None = fact("domain / general bits per byte (tokenizer-independent)", "ratio", ge=0)
    bits_per_byte_ratio_low: float | None = fact(
        "lower end of its 95% interval (block bootstrap of the two texts, blocks of 64 tokens)", "ratio", ge=0)
    bits_per_byte_ratio_high: float | None = fact("upper end of that interval", "ratio", ge=0)
    unseen_word_share: float | None = fact(
        "share of the domain text's word occurrences never seen in the general sample", "fraction", ge=0, le=1)


def plan(answers: Any, inputs: AssessInputs) -> Plan:
    text = inputs.file("domain_text")
    if text is None:
        return Plan.skip(say("no domain text sample given (--domain-text)"))
    language = getattr(answers, "language", "en")
    if language not in GENERAL_SAMPLES:  # compared with English, the gap would measure the language, not the domain
        return Plan.skip(say("no bundled general-text sample in '{language}' to compare your text with (bundled: "
                             "{bundled}); `advisor probe domain --text PATH --general FILE` compares it with "
                             "everyday text in your language", language=language, bundled=", ".join(GENERAL_SAMPLES)))
    return Plan({"text": text, "model": inputs.model_spec(), "bf16": inputs.bf16, "language": language})


def check(config: DomainConfig) -> None:
    read_text(config.text)
    read_text(general_path(config), "--general")


SPEC = ProbeSpec(
    name="domain",
    description="Perplexity of a small LM on your domain text vs general English, and the most surprising terms.",
    config=DomainConfig,
    evidence=DomainEvidence,
    runner="advisor.probes.domain.run:DomainProbe",
    plan=plan,
    inputs=(ProbeInput("domain_text", "A sample of your domain's text for the domain-gap probe."),),
    template="probe_domain.md.j2", template_dir=Path(__file__).parent,
    weight=0.5,
    order=25,  # short and fixed: before the LoRA trial, which runs last and can use whatever time is left
    uses_model=True,
    check=check,
    command="advisor probe domain --text PATH",
)


def gap_chart(summary: dict[str, Any], path: Path, tr: Callable[[str], str] = same) -> Path:
    """One point: how many bits per byte the model needs for your text against the general text; ``tr`` says
    each text in the report's language."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    texts = summary["texts"]
    general, domain = texts["general"]["bits_per_byte"], texts["domain"]["bits_per_byte"]
    fig, ax = plt.subplots(figsize=(6.4, 2.2))
    name = tr(summary.get("general_name") or say("general English"))
    bars = ax.barh([name, tr("your text")], [general, domain], color=["#9aa5b1", "#4c72b0"])
    for bar, value in zip(bars, (general, domain)):
        ax.annotate(f"{value:.2f}", (value, bar.get_y() + bar.get_height() / 2), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize=8)
    ax.set_xlabel(tr("bits per byte (lower: more familiar to the model)"))
    ax.set_xlim(0, max(general, domain) * 1.15)
    ax.set_title(tr(say("Your text costs {model} {ratio:.2f}x the bits per byte of {general}",
                        model=summary.get("model") or say("the model"), ratio=domain / general, general=name)),
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
