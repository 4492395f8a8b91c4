"""Forgetting: the LoRA adapter's loss on a general-English sample against the base model's, with its interval.

The ratio is (mean next-token loss after training) / (mean loss before), on the same tokens of the bundled
general-English sample. Its 95% interval is a percentile **paired block bootstrap** (Carlstein 1986; Künsch
1989): the sample's scored tokens are cut into consecutive blocks of about ``BLOCK_TOKENS`` tokens (token
losses are correlated over short spans), the same blocks are resampled with replacement for both models
``N_BOOT`` times (seeded), and the ratio of the resampled sums is recomputed each time. Pairing matters: the
variation between passages, which is large, cancels out of the ratio.
"""

from __future__ import annotations

import numpy as np

BLOCK_TOKENS = 64
MIN_BLOCKS = 5
N_BOOT = 2000


def forgetting_summary(zero_shot: dict, best: dict) -> dict:
    """General-English loss before and after training, their ratio and its 95% interval (``low``/``high``,
    ``None`` without enough blocks)."""
    interval = forgetting_interval(zero_shot.get("general_blocks") or [], best.get("general_blocks") or [])
    return {"examples": best["examples"], "before": zero_shot["general_loss"], "after": best["general_loss"],
            "ratio": best["general_loss"] / zero_shot["general_loss"],
            "low": interval[0] if interval else None, "high": interval[1] if interval else None,
            "method": "paired block bootstrap", "block_tokens": BLOCK_TOKENS, "resamples": N_BOOT}


def loss_blocks(losses: list[float], block: int = BLOCK_TOKENS) -> list[float]:
    """Summed loss per block of consecutive tokens (about ``block`` each, near-equal sizes)."""
    count = max(1, round(len(losses) / block))
    ends = [round(len(losses) * (i + 1) / count) for i in range(count)]
    return [float(sum(losses[a:b])) for a, b in zip([0] + ends[:-1], ends)]


def forgetting_interval(before: list[float], after: list[float], n_boot: int = N_BOOT, seed: int = 0,
                        alpha: float = 0.05) -> tuple[float, float] | None:
    """Percentile 95% interval of the loss ratio after / before training by a **paired block bootstrap**: the
    same blocks of the general-English sample's tokens are resampled for both models (the ratio of the resampled
    sums); ``None`` with fewer than ``MIN_BLOCKS`` blocks or blocks that do not pair up."""
    b, a = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if len(b) < MIN_BLOCKS or len(a) != len(b):
        return None
    idx = np.random.default_rng(seed).integers(0, len(b), size=(n_boot, len(b)))
    low, high = np.quantile(a[idx].sum(1) / b[idx].sum(1), [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)
