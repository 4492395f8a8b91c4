"""One run of the domain-gap probe (definitions in :mod:`advisor.probes.domain.spec`)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from advisor.errors import ProbeError
from advisor.probes.common.base import Metric, Probe, ProbeContext, ProbeResult, same
from advisor.probes.domain.spec import (
    BLOCK_TOKENS, MIN_BLOCKS, MIN_TOKENS, N_BOOT, VERSION, DomainConfig, bits_per_byte, block_ends, blocks, gap_chart,
    gap_label, general_name, general_path, perplexity, ratio_interval, read_text, scored_text, surprising_terms,
    vocabulary,
    word_surprisals,
)
from advisor.sentences import say

def probe_model_note(general: str) -> str:
    return say("Perplexities come from the small probe model; they show how unusual your text is relative to "
               "{general}, not how a large production model would fare.", general=general)


@dataclass
class Scored:
    """One text scored: its per-token NLLs, the text they cover, token offsets, and its ``[NLL, bytes]`` blocks."""

    text: str
    nlls: list[float]
    offsets: list | None
    blocks: list[list[float]] = field(default_factory=list)

    @property
    def perplexity(self) -> float:
        return perplexity(self.nlls)

    @property
    def bits_per_byte(self) -> float:
        return bits_per_byte(self.nlls, self.text)


class DomainRun:
    def __init__(self, config: DomainConfig, ctx: ProbeContext):
        self.config, self.ctx, self.result = config, ctx, ctx.result
        self.domain_text = read_text(config.text)
        self.general_text = read_text(general_path(config), "--general")

    def run(self) -> ProbeResult:
        from advisor.probes.common.lm import Capability, open_model
        from advisor.probes.common.precision import use_bf16

        self.started = time.monotonic()
        lm = open_model(self.config.model)
        self.bf16 = use_bf16(self.config.bf16, lm.device)
        lm.require(Capability.ROLLING_LOGLIKELIHOOD, say("the domain-gap probe"))
        window, stride = self._window(lm.context_length)
        encoded = {name: lm.encode_with_offsets(text)
                   for name, text in (("domain", self.domain_text), ("general", self.general_text))}
        budget = self._budget(len(encoded["domain"][0]), len(encoded["general"][0]))
        planned = budget
        budget = self._affordable(lm, encoded["domain"][0], budget, window, stride)
        if budget is None:
            return self.result
        if budget < planned:
            self.result.status = "partial"
            self.result.notes.append(say("the time budget allowed {tokens} tokens of each text (of {planned}): "
                                         "a wider interval than a full run", tokens=budget, planned=planned))
        scored = {}
        # no budget stop between the two texts: one alone measures nothing, and both are capped at max_tokens
        with lm.in_bf16(self.bf16):
            for name, (ids, offsets) in encoded.items():
                text = self.domain_text if name == "domain" else self.general_text
                nlls = lm.token_nlls(ids[:budget], window, stride,
                                     lambda done, total, n=name: self.ctx.progress(done, total, f"{n} text"))
                s = Scored(scored_text(lm, text, ids[:budget], offsets), nlls, offsets[:budget] if offsets else None)
                s.blocks = text_blocks(lm, s, ids[:budget])
                scored[name] = s
        self._fill(scored, budget, window, stride)
        return self.result

    def _affordable(self, lm: Any, ids: Sequence[int], tokens: int, window: int, stride: int) -> int | None:
        """The tokens of each text that the time budget lets both texts be scored on, from the time one window
        takes (both texts always get the same count); ``None`` when not even the minimum fits (the result is then
        empty, with the budget that would do)."""
        if self.ctx.deadline is None:
            return tokens
        from advisor.probes.common.scoring import window_plan

        first = ids[:min(window, tokens)]
        started = time.monotonic()
        with lm.in_bf16(self.bf16):
            lm.token_nlls(first, window, stride)
        per_window = max((time.monotonic() - started) / len(window_plan(len(first), window, stride)), 1e-3)
        windows = int((self.ctx.deadline - time.monotonic()) / per_window) // 2  # per text, both texts alike
        fit = min(tokens, windows * stride)  # a pass scores ``stride`` new tokens
        if fit >= MIN_TOKENS:
            return fit
        self.result.status = "empty"
        self.result.summary["budget_needed"] = time.monotonic() - self.started + 2 * per_window
        return None

    def _window(self, context_length: int | None) -> tuple[int, int]:
        context = context_length or self.config.window
        window = min(self.config.window, int(context))
        stride = min(self.config.stride or max(1, window // 2), window - 1)
        return window, stride

    def _budget(self, domain_tokens: int, general_tokens: int) -> int:
        budget = min(self.config.max_tokens, domain_tokens, general_tokens)
        if domain_tokens < MIN_TOKENS:
            raise ProbeError(say("--text {path}: only {tokens} tokens; give at least {minimum} "
                                 "(a few paragraphs of your domain's text).", path=self.config.text,
                                 tokens=domain_tokens, minimum=MIN_TOKENS))
        if general_tokens < MIN_TOKENS:
            raise ProbeError(say("--general {path}: only {tokens} tokens; give at least {minimum}.",
                                 path=general_path(self.config), tokens=general_tokens, minimum=MIN_TOKENS))
        return budget

    def _fill(self, scored: dict[str, Scored], budget: int, window: int, stride: int) -> None:
        dom, gen = scored["domain"], scored["general"]
        terms, unseen = self._terms(dom)
        ratio = dom.perplexity / gen.perplexity
        params = {"tokens": budget, "window": window, "stride": stride, "model": self.config.model.name}
        for name, s in scored.items():
            self.result.metrics.append(Metric(name="perplexity", value=s.perplexity, n=budget, params={**params, "text": name}))
            self.result.metrics.append(Metric(name="bits_per_byte", value=s.bits_per_byte, n=len(s.text.encode()),
                                              params={**params, "text": name}))
        self.result.metrics.append(Metric(name="perplexity_ratio", value=ratio, n=budget, params=params))
        bpb_ratio = dom.bits_per_byte / gen.bits_per_byte
        interval = ratio_interval(dom.blocks, gen.blocks)
        self.result.metrics.append(Metric(name="bits_per_byte_ratio", value=bpb_ratio, n=budget, params=params,
                                          ci_low=interval[0] if interval else None,
                                          ci_high=interval[1] if interval else None))
        self.result.evidence.update({
            "perplexity_ratio": ratio, "domain_perplexity": dom.perplexity, "general_perplexity": gen.perplexity,
            "domain_tokens": budget, "domain_bits_per_byte": dom.bits_per_byte,
            "general_bits_per_byte": gen.bits_per_byte, "bits_per_byte_ratio": bpb_ratio,
        })
        if interval is not None:
            self.result.evidence.update(bits_per_byte_ratio_low=interval[0], bits_per_byte_ratio_high=interval[1])
        else:
            self.result.notes.append(say(
                "too little text for an interval of the bits-per-byte ratio (fewer than {blocks} blocks of "
                "{tokens} tokens); the rules on the vocabulary gap cannot use it", blocks=MIN_BLOCKS,
                tokens=BLOCK_TOKENS))
        if unseen is not None:
            self.result.evidence["unseen_word_share"] = unseen
        self.result.summary.update({
            "model": self.config.model.name, "bf16": self.bf16, "tokens": budget, "window": window, "stride": stride,
            "gap": gap_label(ratio), "terms": terms, "probe_model_note": probe_model_note(general_name(self.config)),
            "general_source": str(self.config.general) if self.config.general is not None
            else say("bundled general-English sample") if self.config.language == "en"
            else say("bundled sample of everyday text in '{language}'", language=self.config.language),
            "general_name": general_name(self.config), "language": self.config.language,
            "texts": {n: {"perplexity": s.perplexity, "bits_per_byte": s.bits_per_byte, "bytes": len(s.text.encode())}
                      for n, s in scored.items()},
            "ratio_interval": {"low": interval[0] if interval else None, "high": interval[1] if interval else None,
                               "method": "block bootstrap", "block_tokens": BLOCK_TOKENS, "resamples": N_BOOT,
                               "blocks": {n: s.blocks for n, s in scored.items()}},
        })
        self.result.headline = (
            f"Your text is {ratio:.2f}x as perplexing per token to {self.config.model.name} as "
            f"{general_name(self.config)} "
            f"(perplexity {dom.perplexity:.1f} vs {gen.perplexity:.1f} over {budget} tokens each; "
            f"{dom.bits_per_byte / gen.bits_per_byte:.2f}x per byte): a {gap_label(ratio)} domain gap.")

    def _terms(self, dom: Scored) -> tuple[list[dict], float | None]:
        if dom.offsets is None:
            self.result.notes.append(say("the tokenizer gives no character offsets: surprising terms are not listed"))
            return [], None
        occurrences = word_surprisals(dom.text, dom.offsets, dom.nlls)
        general_words = vocabulary(self.general_text)
        worded = [w for w, _ in occurrences if any(ch.isalpha() for ch in w)]
        unseen = sum(w not in general_words for w in worded) / len(worded) if worded else 0.0
        return surprising_terms(occurrences, general_words, self.config.top_terms), unseen


def text_blocks(lm: Any, s: Scored, ids: Sequence[int]) -> list[list[float]]:
    """``[summed NLL, bytes]`` per block of about ``BLOCK_TOKENS`` scored tokens; a block's bytes are those of the
    text its tokens cover (by offsets, else by decoding the tokens up to its end), so the blocks add up to the
    scored text."""
    ends = block_ends(len(s.nlls))
    if s.offsets:
        upto = [len(s.text[:s.offsets[end - 1][1]].encode()) for end in ends]
    else:
        upto = [len(lm.decode(list(ids[:end])).encode()) for end in ends]
    return blocks(s.nlls, ends, upto)


class DomainProbe(Probe):
    """Perplexity of the probe model on your domain text vs a general-English sample.

    Facts: :class:`advisor.probes.domain.spec.DomainEvidence`.
    """

    def fingerprint(self, config: DomainConfig) -> str:
        from advisor.probes.common.runtime import model_fingerprint

        texts = [read_text(config.text), read_text(general_path(config), "--general")]
        from advisor.probes.common.fingerprint import precision_key

        keyed = config.model_dump(mode="json", exclude={"text", "general", "model"})
        keyed["bf16"] = precision_key(config)
        parts = [VERSION, *(hashlib.sha256(t.encode()).hexdigest() for t in texts), model_fingerprint(config.model),
                 config.model.model_dump_json(exclude={"allow_download"}), json.dumps(keyed, sort_keys=True)]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]

    def run(self, config: DomainConfig, ctx: ProbeContext) -> ProbeResult:
        return DomainRun(config, ctx).run()

    def charts(self, result: ProbeResult, out_dir: Path, tr: Callable[[str], str] = same) -> dict[str, Path]:
        """The gap in one chart (the surprising terms are a table: a chart would only repeat it)."""
        if not result.summary.get("texts"):
            return {}
        return {"gap": gap_chart(result.summary, Path(out_dir) / "domain_gap.png", tr)}
