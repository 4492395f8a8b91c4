"""The few-shot probe's chart: accuracy against the number of demonstrations, with its intervals."""

from __future__ import annotations

from pathlib import Path

from advisor.probes.common.base import ProbeResult


def accuracy_chart(result: ProbeResult, out_dir: Path) -> Path | None:
    """PNG of accuracy vs k with Wilson 95% CI bars and the majority-class rate; None without data."""
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
    ax.errorbar(range(len(ks)), acc, yerr=err, marker="o", capsize=4, label="accuracy (95% CI)")
    chance = result.summary.get("chance_accuracy") or 0
    if chance:
        ax.axhline(chance, linestyle="--", color="grey", label="majority class")
    ax.set(xticks=range(len(ks)), xticklabels=[str(k) for k in ks], xlabel="demonstrations (k)",
           ylabel="accuracy" if result.summary.get("task") == "classification" else "exact match", ylim=(0, 1),
           title=f"Few-shot, {result.summary.get('model', '')}")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "few_shot_accuracy.png"
    fig.savefig(path)
    plt.close(fig)
    return path
