"""Charts of the decision itself (probe charts live with their probes). matplotlib, Agg backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable


def same(text: str) -> str:
    return text


def strategy_scores(rec: dict[str, Any], path: Path, tr: Callable[[str], str] = same) -> Path:
    """Horizontal stacked bars: each strategy's score from answers, from evidence and from its cost, with the
    total marked; ``tr`` says each text in the report's language."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(reversed(rec["strategies"]))
    labels = [tr(s["label"]) + (f" ({tr('ruled out')})" if s["excluded"] else "") for s in rows]
    parts = [("answer_score", tr("answers"), "#4C72B0"), ("evidence_score", tr("probe evidence"), "#DD8452"),
             ("cost_score", tr("12-month cost"), "#8C8C8C")]
    fig, ax = plt.subplots(figsize=(7.4, 3.3))
    positive, negative = [0.0] * len(rows), [0.0] * len(rows)
    for key, name, color in parts:  # positive parts stack rightwards from 0, negative parts leftwards
        values = [float(s.get(key, 0.0)) for s in rows]
        lefts = [p if v >= 0 else n for v, p, n in zip(values, positive, negative)]
        ax.barh(labels, values, left=lefts, color=color, label=name)
        positive = [p + max(v, 0.0) for p, v in zip(positive, values)]
        negative = [n + min(v, 0.0) for n, v in zip(negative, values)]
    totals = [s["score"] for s in rows]
    ax.scatter(totals, labels, marker="D", color="#222", s=28, zorder=3, label=tr("total score"))
    for total, label in zip(totals, labels):
        ax.annotate(f"{total:+.1f}", (total, label), xytext=(6, 0), textcoords="offset points", va="center",
                    fontsize=8)
    ax.axvline(0, color="#333", linewidth=0.8)
    ax.margins(x=0.15)
    ax.set_xlabel(tr("score (answers + probe evidence + cost)"))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=4, fontsize=8, frameon=False)
    ax.set_title(tr("Strategy scores: answers, probe evidence and cost"), fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
