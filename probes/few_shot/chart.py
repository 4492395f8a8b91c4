"""The few-shot probe's chart: accuracy against the number of demonstrations, with its intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from advisor.probes.common.base import ProbeResult, same
from advisor.sentences import say

LEVEL = "95%"  # a field of the labels, so that no catalog message holds a bare percent sign


def accuracy_chart(result: ProbeResult, out_dir: Path, tr: Callable[[str], str] = same) -> Path | None:
    """PNG of accuracy vs k with Wilson 95% CI bars and the majority-class rate; None without data. ``tr`` says
    each text in the report's language."""
    rows = result.summary.get("per_k") or []
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [r["k"] for r in rows]
    acc = [r["accuracy"] for r in rows]
    err = [[max(0.0, a - r["ci_low"]) for a, r in zip(acc, rows)], [max(0.0, r["ci_high"] - a) for a, r in zip(acc, rows)]]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    ax.errorbar(range(len(ks)), acc, yerr=err, marker="o", capsize=4,
                label=tr(say("accuracy ({level} CI)", level=LEVEL)))
    chance = result.summary.get("chance_accuracy") or 0
    if chance:
        ax.axhline(chance, linestyle="--", color="grey", label=tr("majority class"))
    ax.set(xticks=range(len(ks)), xticklabels=[str(k) for k in ks], xlabel=tr("demonstrations (k)"),
           ylabel=tr("accuracy") if result.summary.get("task") == "classification" else tr("exact match"),
           ylim=(0, 1), title=tr(say("Few-shot, {model}", model=result.summary.get("model", ""))))
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "few_shot_accuracy.png"
    fig.savefig(path)
    plt.close(fig)
    return path
