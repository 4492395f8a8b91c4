"""Rendering an assessment as a markdown (or JSON) decision report.

Numbers are computed in Python; templates only loop and substitute. Templates load from the
user's folder first (``--templates DIR``), then the built-in ones, with ``StrictUndefined`` so
a missing value is an error rather than a silent blank.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from advisor.answers import Answers, answers_as_plain
from advisor.errors import InputError
from advisor.mdtext import md_escape

FORMATS = ("md", "json", "html")


def environment(user_dir: Path | None = None) -> Any:
    import jinja2

    from advisor.resources import templates_dir

    loaders = [jinja2.FileSystemLoader(str(user_dir))] if user_dir else []
    loaders.append(jinja2.FileSystemLoader(str(templates_dir())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = md_escape
    env.filters["pct"] = lambda v, digits=1: "n/a" if v is None else f"{100 * float(v):.{digits}f}%"
    env.filters["num"] = _num
    env.filters["signed"] = lambda v: f"{float(v):+g}"
    return env


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{float(value):,.{digits}f}"


def slug(name: str) -> str:
    text = re.sub(r"[^a-zA-Z0-9]+", "-", name).strip("-").lower()
    return text or "assessment"


def default_report_path(project_name: str, fmt: str) -> Path:
    return Path(f"{slug(project_name)}-advisor-report.{fmt}")


def answer_rows(answers: dict[str, Any]) -> list[dict[str, str]]:
    """(question, answer) rows in questionnaire order, values as display text."""
    rows = []
    for name, field in Answers.model_fields.items():
        value = answers.get(name)
        text = "not given" if value is None else ("yes" if value is True else "no" if value is False else value)
        rows.append({"field": name, "question": field.title or name, "answer": str(text)})
    return rows


def probe_sections(doc: dict[str, Any], out_dir: Path, stem: str) -> list[dict[str, Any]]:
    """Each probe result with its template and charts written next to the report."""
    from advisor.probes.base import ProbeResult
    from advisor.probes.registry import resolve

    sections = []
    chart_dir = out_dir / f"{stem}_files"
    for data in doc.get("probe_results", []):
        result = ProbeResult.model_validate(data)
        probe = resolve(result.probe)()
        charts = {}
        if probe.template:
            chart_dir.mkdir(parents=True, exist_ok=True)
            written = probe.charts(result, chart_dir)
            charts = {name: str(Path(p).resolve().relative_to(out_dir.resolve())) for name, p in written.items()}
        sections.append({"name": result.probe, "template": probe.template, "charts": charts,
                         "result": result.model_dump(mode="json")})
    return sections


def build_context(doc: dict[str, Any], out_dir: Path, stem: str) -> dict[str, Any]:
    from advisor.rulebook import load_strategies
    from advisor.resources import rules_dir

    from advisor.charts import strategy_scores

    rec = doc["recommendation"]
    chart = strategy_scores(rec, out_dir / f"{stem}_files" / "strategy_scores.png")
    return {
        "score_chart": str(chart.relative_to(out_dir)),
        "doc": doc,
        "rec": rec,
        "answers": doc["answers"],
        "answer_rows": answer_rows(doc["answers"]),
        # the matrix of the rulebook that decided (stored with the decision), else the built-in one
        "matrix": rec.get("matrix") or {k: v["matrix"] for k, v in load_strategies(rules_dir()).items()},
        "winner": next(s for s in rec["strategies"] if s["strategy"] == rec["winner"]),
        "costs": rec.get("costs"),
        "winner_cost": next((c for c in (rec.get("costs") or {}).get("strategies", []) if c["strategy"] == rec["winner"]), None),
        "sources": sorted({f["source"] for f in rec["fired"]}),
        "probes": probe_sections(doc, out_dir, stem),
    }


def render(doc: dict[str, Any], fmt: str = "md", out: Path | None = None, templates: Path | None = None) -> Path:
    """Write the report for an assessment document; return its path."""
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r} is not supported; use one of {', '.join(FORMATS)}")
    out = Path(out) if out else default_report_path(doc["project_name"], fmt)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        out.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
        return out
    context = build_context(doc, out.parent, out.stem)
    text = _render_template(environment(templates), context, templates)
    if fmt == "html":
        from advisor.html import markdown_to_html

        text = markdown_to_html(text, out.parent, f"Decision report: {doc['project_name']}")
    out.write_text(text, encoding="utf-8")
    return out


def _render_template(env: Any, context: dict[str, Any], templates: Path | None) -> str:
    """The markdown report; a broken (user) template is one error naming the file and line."""
    import jinja2

    try:
        return env.get_template("report.md.j2").render(**context)
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.filename or exc.name}:{exc.lineno}"
        raise InputError(f"{where}: template syntax error ({exc.message}); fix the template") from None
    except jinja2.TemplateError as exc:
        origin = f"templates in {templates}" if templates else "the report templates"
        raise InputError(f"{origin}: {exc.message or exc} (a template refers to something the report does not "
                         "provide; compare with the built-in templates)") from None


def make_document(
    answers: Answers,
    recommendation: dict[str, Any],
    *,
    assessment_id: int | None,
    created_at: str,
    version: str,
    rulebook_hash: str,
    command: str,
    probe_results: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything a report needs, as plain data (also what ``--format json`` writes)."""
    return {
        "id": assessment_id,
        "project_name": answers.project_name,
        "created_at": created_at,
        "advisor_version": version,
        "rulebook_hash": rulebook_hash,
        "command": command,
        "answers": answers_as_plain(answers),
        "recommendation": recommendation,
        "probe_results": probe_results or [],
    }
