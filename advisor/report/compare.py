"""What changed between two stored assessments: answers, evidence, decision."""

from __future__ import annotations

from typing import Any


def _facts(doc: dict[str, Any]) -> dict[str, Any]:
    return {f"{r['probe']}.{k}": v for r in doc["probe_results"] for k, v in r.get("evidence", {}).items()}


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    keys = sorted(set(old) | set(new))
    return [(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """A structured diff of two report documents (:class:`advisor.assessment.ReportDocument` as data)."""
    ra, rb = a["recommendation"], b["recommendation"]
    ranks_a = {s["strategy"]: s for s in ra["strategies"]}
    ranks_b = {s["strategy"]: s for s in rb["strategies"]}
    return {
        "ids": (a["id"], b["id"]),
        "answers": _changes(a["answers"], b["answers"]),
        "evidence": _changes(_facts(a), _facts(b)),
        "winner": (ra["winner_label"], rb["winner_label"]),
        "method": (ra.get("method_label"), rb.get("method_label")),
        "confidence": ((ra["confidence"], ra["confidence_score"]), (rb["confidence"], rb["confidence_score"])),
        "scores": [(s, ranks_a[s]["label"], ranks_a[s]["rank"], ranks_b[s]["rank"], ranks_a[s]["score"],
                    ranks_b[s]["score"]) for s in ranks_a],
        "rules_added": sorted({f["id"] for f in rb["fired"]} - {f["id"] for f in ra["fired"]}),
        "rules_removed": sorted({f["id"] for f in ra["fired"]} - {f["id"] for f in rb["fired"]}),
        "rulebook": (a["rulebook_hash"], b["rulebook_hash"]),
    }


def render_text(diff: dict[str, Any]) -> str:
    """The diff as markdown."""
    ia, ib = diff["ids"]
    lines = [f"# Assessment #{ia} → #{ib}", ""]
    wa, wb = diff["winner"]
    lines.append(f"Decision: {wa} → {wb}" + (" (unchanged)" if wa == wb else " (changed)"))
    if diff["method"][0] != diff["method"][1]:
        lines.append(f"Fine-tuning method: {diff['method'][0]} → {diff['method'][1]}")
    (ca, sa), (cb, sb) = diff["confidence"]
    lines.append(f"Confidence: {ca} ({sa:.2f}) → {cb} ({sb:.2f})")
    if diff["rulebook"][0] != diff["rulebook"][1]:
        lines.append(f"Rulebook: {diff['rulebook'][0]} → {diff['rulebook'][1]}")
    lines += ["", "## Answers changed", ""] + _rows(diff["answers"], "no answer changed")
    lines += ["", "## Evidence changed", ""] + _rows(diff["evidence"], "no measured number changed")
    lines += ["", "## Ranking", "", "| Strategy | Rank | Score |", "| --- | --- | --- |"]
    for _, label, r1, r2, s1, s2 in diff["scores"]:
        lines.append(f"| {label} | {r1} → {r2} | {s1:+g} → {s2:+g} |")
    lines += ["", "## Rules", ""]
    lines += [f"- now applies: `{r}`" for r in diff["rules_added"]]
    lines += [f"- no longer applies: `{r}`" for r in diff["rules_removed"]]
    if not diff["rules_added"] and not diff["rules_removed"]:
        lines.append("- the same rules applied")
    return "\n".join(lines) + "\n"


def _rows(changes: list[tuple[str, Any, Any]], empty: str) -> list[str]:
    from advisor.report.mdtext import md_escape

    if not changes:
        return [f"- {empty}"]
    return [f"- `{k}`: {md_escape(_show(old))} → {md_escape(_show(new))}" for k, old, new in changes]


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
