"""Charts of the decision itself (probe charts live with their probes). matplotlib, Agg backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def strategy_scores(rec: dict[str, Any], path: Path) -> Path:
    """Horizontal stacked bars: each strategy's score from answers and from evidence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(reversed(rec["strategies"]))
    labels = [s["label"] + (" (ruled out)" if s["excluded"] else "") for s in rows]
    answer = [s["answer_score"] for s in rows]
    evidence = [s["evidence_score"] for s in rows]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.barh(labels, answer, color="#4C72B0", label="from answers")
    ax.barh(labels, evidence, left=[a if (a >= 0) == (e >= 0) else 0 for a, e in zip(answer, evidence)],
            color="#DD8452", label="from probe evidence")
    totals = [s["score"] for s in rows]
    ax.scatter(totals, labels, marker="D", color="#222", s=28, zorder=3, label="total score")
    for total, label in zip(totals, labels):
        ax.annotate(f"{total:+g}", (total, label), xytext=(6, 0), textcoords="offset points", va="center",
                    fontsize=8)
    ax.axvline(0, color="#333", linewidth=0.8)
    ax.margins(x=0.15)
    ax.set_xlabel("score (answers + probe evidence)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=8, frameon=False)
    ax.set_title("Strategy scores (answers + probe evidence)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
