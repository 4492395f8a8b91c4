"""Reading a label from a generated answer: which label an answer names (or none, a format failure), and each
label's score from the first token's log-probabilities when an endpoint returns them."""

from __future__ import annotations

from typing import Sequence


def match_label(answer: str, words: Sequence[str]) -> int | None:
    """Which label a generated answer names, or ``None`` (a format failure).

    SQuAD normalization (lowercase, no punctuation or articles, single spaces) on both sides; then the
    label whose normalized word equals the answer, else the only label whose normalized word occurs in the
    answer as whole words ("Label: billing." names billing). Several labels occurring, or none: ``None``."""
    from advisor.probes.common.textmetrics import normalize_answer

    said = normalize_answer(answer)
    normal = [normalize_answer(w) for w in words]
    exact = [i for i, w in enumerate(normal) if w and w == said]
    if exact:
        return exact[0]
    padded = f" {said} "
    inside = [i for i, w in enumerate(normal) if w and f" {w} " in padded]
    return inside[0] if len(inside) == 1 else None


def label_logprobs(table: dict[str, float] | None, words: Sequence[str]) -> list[float] | None:
    """Per label, the best log-probability among the first-token alternatives that begin its word (a
    calibrated score when the endpoint returns log-probabilities); ``None`` without them."""
    if not table:
        return None
    scores = []
    for word in words:
        word = word.strip().lower()
        hits = [lp for token, lp in table.items() if token.strip() and word.startswith(token.strip().lower())]
        scores.append(max(hits) if hits else float("-inf"))
    return scores
