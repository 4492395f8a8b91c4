"""Answer normalization and text-match metrics, following the SQuAD evaluation convention
(lowercase, strip punctuation and the articles a/an/the, collapse whitespace)."""

from __future__ import annotations

import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(gold)


def token_f1(prediction: str, gold: str) -> float:
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = Counter(pred) & Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred)
    recall = same / len(ref)
    return 2 * precision * recall / (precision + recall)


def best_over_golds(prediction: str, golds: list[str]) -> tuple[bool, float]:
    """(exact match, token F1) against the best-matching of several gold answers."""
    if not golds:
        return (False, 0.0)
    return (any(exact_match(prediction, g) for g in golds), max(token_f1(prediction, g) for g in golds))


def contains_answer(passage: str, answer: str) -> bool:
    """Whether the normalized answer occurs in the normalized passage (as whole tokens)."""
    needle = normalize_answer(answer)
    if not needle:
        return False
    return f" {needle} " in f" {normalize_answer(passage)} "


def contains_normalized(normalized_passage: str, answer: str) -> bool:
    """``answer``, normalized, occurs as whole words in ``normalized_passage`` (already normalized, padded with
    spaces)."""
    needle = normalize_answer(answer)
    return bool(needle) and f" {needle} " in normalized_passage
