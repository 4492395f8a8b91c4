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

from advisor.intake.answers import Answers
from advisor.errors import InputError
from advisor.report.mdtext import md_escape

FORMATS = ("md", "json", "html")


def environment(user_dir: Path | None = None, lang: str = "en") -> Any:
    import jinja2

    from advisor.resources import templates_dir

    from advisor.probes.registry import specs

    from jinja2.sandbox import ImmutableSandboxedEnvironment

    if user_dir is not None and not Path(user_dir).is_dir():
        raise InputError(f"--templates {user_dir}: no such folder; pass a folder of .j2 templates overriding "
                         "the built-in ones (or leave the option out).")
    loaders = [jinja2.FileSystemLoader(str(user_dir))] if user_dir else []
    loaders.append(jinja2.FileSystemLoader(str(templates_dir())))
    # a probe may ship its report section beside its own module
    extra = {str(s.template_dir) for s in specs() if s.template_dir is not None}
    loaders += [jinja2.FileSystemLoader(d) for d in sorted(extra)]
    # templates users share are untrusted: the immutable sandbox refuses attribute tricks and mutation
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    from advisor.report.i18n import install

    translate = install(env, lang)
    env.filters["t"] = translate.sentence  # a phrase or a sentence advisor wrote, in the report's language
    env.filters["code"] = lambda v: f"`{v}`"
    env.filters["md"] = md_escape
    # French puts a (no-break) space before the percent sign
    percent = "%" if lang == "en" else "\u00a0%"
    env.filters["pct"] = lambda v, digits=1: "n/a" if v is None else f"{100 * float(v):.{digits}f}{percent}"
    env.filters["num"] = lambda v, digits=0: _grouped(_num(v, digits), lang)
    env.filters["num_g"] = lambda v, digits=6: _grouped(f"{float(v):,.{digits}g}", lang)
    env.filters["signed"] = lambda v: f"{float(v):+g}"
    return env


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{float(value):,.{digits}f}"


def _grouped(text: str, lang: str) -> str:
    """Thousands grouped with a comma in English; in French with a narrow no-break space, the ISO 80000-1
    grouping that no reader takes for a decimal comma (the decimal point is kept throughout the report)."""
    return text if lang == "en" else text.replace(",", "\u202f")


def slug(name: str) -> str:
    text = re.sub(r"[^a-zA-Z0-9]+", "-", name).strip("-").lower()
    return text or "assessment"


def default_report_path(project_name: str, fmt: str) -> Path:
    return Path(f"{slug(project_name)}-advisor-report.{fmt}")


def answer_rows(answers: dict[str, Any], defaulted: list[str] | None = None, lang: str = "en") -> list[dict[str, str]]:
    """(question, answer) rows in questionnaire order, values as display text; a defaulted answer says so."""
    from advisor.report.i18n import translator

    _ = translator(lang)
    rows = []
    for name, field in Answers.model_fields.items():
        value = answers.get(name)
        text = _("not given") if value is None else (_("yes") if value is True else _("no") if value is False
                                                     else _.gettext(str(value)))
        text = _("%(answer)s (default: not answered)", answer=text) if name in (defaulted or []) else str(text)
        rows.append({"field": name, "question": _.gettext(field.title or name), "answer": text})
    return rows


def probe_sections(doc: dict[str, Any], out_dir: Path, stem: str, lang: str = "en") -> list[dict[str, Any]]:
    """Each stored probe result with its spec's template, and its charts drawn next to the report in the report's
    language."""
    from advisor.probes.common.base import ProbeResult
    from advisor.probes.registry import get, implementation
    from advisor.report.i18n import translator

    tr = translator(lang).sentence

    sections = []
    chart_dir = out_dir / f"{stem}_files"
    for data in doc.get("probe_results", []):
        result = ProbeResult.model_validate(data)
        try:
            spec = get(result.probe)
        except InputError:  # a probe of a plugin that is not installed any more
            continue
        charts = {}
        if spec.template:
            chart_dir.mkdir(parents=True, exist_ok=True)
            written = draw_charts(implementation(spec), result, chart_dir, tr)
            charts = {name: str(Path(p).resolve().relative_to(out_dir.resolve())) for name, p in written.items()}
        sections.append({"name": result.probe, "template": spec.template, "charts": charts,
                         "result": result.model_dump(mode="json")})
    return sections


def draw_charts(probe: Any, result: Any, chart_dir: Path, tr: Any) -> dict[str, Any]:
    """A probe's charts, their texts said by ``tr``; a probe whose ``charts`` takes no ``tr`` (written before
    charts followed the report's language) draws them as it always did."""
    import inspect

    try:
        params = inspect.signature(probe.charts).parameters.values()
    except (TypeError, ValueError):  # a callable without a signature: call it the old way
        params = []
    if any(p.name == "tr" or p.kind is p.VAR_KEYWORD for p in params):
        return probe.charts(result, chart_dir, tr=tr)
    return probe.charts(result, chart_dir)


def build_context(doc: dict[str, Any], out_dir: Path, stem: str, lang: str = "en") -> dict[str, Any]:
    from advisor.report.charts import strategy_scores
    from advisor.report.ceiling_chart import section as prompt_vs_tuning
    from advisor.report.i18n import translator

    rec = doc["recommendation"]
    chart = strategy_scores(rec, out_dir / f"{stem}_files" / "strategy_scores.png", translator(lang).sentence)
    costs = rec.get("costs")
    return {
        "score_chart": str(chart.relative_to(out_dir)),
        "doc": doc,
        "rec": rec,
        "answers": doc["answers"],
        "answer_rows": answer_rows(doc["answers"], rec.get("defaulted_answers"), lang),
        "matrix": rec.get("matrix") or {},  # the matrix of the rulebook that decided, as stored
        "winner": next(s for s in rec["strategies"] if s["strategy"] == rec["winner"]),
        "fired_by_id": {f["id"]: f for f in rec["fired"]},
        "costs": costs,
        "winner_cost": next((c for c in (costs or {}).get("strategies", []) if c["strategy"] == rec["winner"]), None),
        "cost_rows": cost_rows(costs) if costs else [],
        "measured_on": measured_on(doc, lang),
        # one entry per source, however many rules cite it together with others
        "sources": sorted({part.strip() for f in rec["fired"] for part in f["source"].split(";") if part.strip()}),
        "probes": probe_sections(doc, out_dir, stem, lang),
        # the prompting ceiling against the LoRA curve: a figure across two probes, drawn after their sections
        "prompt_vs_tuning": prompt_vs_tuning(doc, out_dir, stem, lang),
    }


def measured_on(doc: dict[str, Any], lang: str = "en") -> list[str]:
    """Sentences for the executive summary naming the model each headline figure was measured on: the
    target's figures first, the probe model's as the proxy baseline."""
    from advisor.report.i18n import translator

    _ = translator(lang)
    by_probe = {r["probe"]: r for r in doc.get("probe_results", [])}
    lines = []
    target, proxy = by_probe.get("target-few-shot"), by_probe.get("few-shot")
    if target and target["evidence"].get("best_accuracy") is not None:
        ev, s = target["evidence"], target["summary"]
        text = _("Measured on your target model `%(model)s`: few-shot accuracy %(accuracy).1f%% (±%(half).1f points) "
                 "at k=%(k)s", model=s.get("model", "?"), accuracy=100 * ev["best_accuracy"],
                 half=100 * ev.get("ci_halfwidth", 0), k=ev.get("best_k"))
        if ev.get("format_failure_rate") is not None:
            text += _(", %(rate).1f%% of answers naming no allowed label", rate=100 * ev["format_failure_rate"])
        if ev.get("latency_p50") is not None:
            text += _(", latency p50 %(p50).2f s / p95 %(p95).2f s", p50=ev["latency_p50"], p95=ev["latency_p95"])
        lines.append(text + ".")
    rag = by_probe.get("rag")
    if rag and rag["evidence"].get("open_book_on_target"):
        ev = rag["evidence"]
        lines.append(_("Retrieved context changes the target's answer accuracy by %(lift)+.1f points (%(closed).0f%% → "
                       "%(open).0f%% on %(n)s questions).", lift=100 * ev["open_book_lift"],
                       closed=100 * ev["closed_book_accuracy"], open=100 * ev["open_book_accuracy"],
                       n=ev["open_book_questions"]))
    if proxy and proxy["evidence"].get("best_accuracy") is not None:
        model, accuracy = proxy["summary"].get("model", "?"), 100 * proxy["evidence"]["best_accuracy"]
        if target:
            lines.append(_("Figures from the probe model `%(model)s` are the proxy baseline: few-shot accuracy "
                           "%(accuracy).1f%%.", model=model, accuracy=accuracy))
        else:
            lines.append(_("Figures from the probe model `%(model)s` are a proxy, not your production model: few-shot "
                           "accuracy %(accuracy).1f%%; point --target at your model to measure it.", model=model,
                           accuracy=accuracy))
    return lines


COST_SECTIONS = ("tokens", "prices", "monthly", "labels", "training")


def cost_rows(costs: dict[str, Any]) -> list[dict[str, str]]:
    """One row per cost figure: the value used (the measured one where a probe replaced the assumption)
    and where it came from."""
    from advisor.costs.estimate import leaf_paths

    assumptions, sources = costs["assumptions"], costs.get("sources") or {}
    values, replaced = costs.get("evidence_used") or {}, costs.get("measured") or {}
    rows = []
    for path in leaf_paths({k: assumptions[k] for k in COST_SECTIONS if k in assumptions}):
        value: Any = assumptions
        for part in path.split("."):
            value = value[part]
        source = sources.get(path, "built-in default")
        if replaced.get(path) in values:
            value = values[replaced[path]]
        rows.append({"path": path, "value": f"{value:.4g}" if isinstance(value, float) else str(value),
                     "source": source})
    gpu = assumptions["training"]["gpu"]
    rows.append({"path": f"gpus.{gpu}.price_per_hour", "value": f"{assumptions['gpus'][gpu]['price_per_hour']:g}",
                 "source": sources.get(f"gpus.{gpu}.price_per_hour", "built-in default")})
    return rows


def render(doc: dict[str, Any], fmt: str = "md", out: Path | None = None, templates: Path | None = None,
           lang: str = "en") -> Path:
    """Write the report for an assessment document; return its path."""
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r} is not supported; use one of {', '.join(FORMATS)}")
    to_stdout = out is not None and str(out) == "-"
    out = Path(f"advisor-report.{fmt}") if to_stdout else (Path(out) if out else default_report_path(doc["project_name"], fmt))
    check_writable(out)
    try:
        if to_stdout:  # the report on standard output; markdown's charts go to ./advisor-report_files/
            import sys

            text = json.dumps(doc, indent=2, default=str) + "\n" if fmt == "json" else _page(doc, fmt, out, templates, lang)
            sys.stdout.write(text)
            sys.stdout.flush()
            return Path("-")
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "json":
            out.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
            return out
        out.write_text(_page(doc, fmt, out, templates, lang), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write the report ({exc.strerror or exc}); choose a writable path. "
                         "The assessment itself is stored.") from None
    return out


def _page(doc: dict[str, Any], fmt: str, out: Path, templates: Path | None, lang: str = "en") -> str:
    """The markdown or HTML text of the report whose charts go beside ``out``."""
    from advisor.report.i18n import translator

    env = environment(templates, lang)
    context = build_context(doc, out.parent, out.stem, lang)
    text = _render_template(env, context, templates)
    if fmt == "html":
        from advisor.report.html import markdown_to_html

        title = translator(lang)("Decision report: %(name)s", name=doc["project_name"])
        text = markdown_to_html(text, out.parent, title, lang)
    return text


def check_writable(out: Path) -> None:
    """The report can be written at ``out``: no folder there, no file where a parent folder should be, and the
    nearest existing parent is writable. Checked before an assessment starts, so nothing runs for nothing."""
    import os

    out = Path(out)
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder; pass a file name such as {out / 'report.md'}.")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"--out {out}: {parent} is a file, not a folder; choose another path.")
    if not os.access(parent, os.W_OK):
        raise InputError(f"--out {out}: the folder {parent} is not writable; choose another path.")


def _render_template(env: Any, context: dict[str, Any], templates: Path | None) -> str:
    """The markdown report; a broken (user) template is one error naming the file and line."""
    import jinja2

    from jinja2.sandbox import SecurityError

    try:
        return env.get_template("report.md.j2").render(**context)
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.filename or exc.name}:{exc.lineno}"
        raise InputError(f"{where}: template syntax error ({exc.message}); fix the template") from None
    except SecurityError as exc:
        raise InputError(f"{template_position(exc) or 'a report template'}: refused unsafe template code ({exc}); "
                         "templates may only read the report's values") from None
    except jinja2.TemplateError as exc:
        origin = template_position(exc) or (f"templates in {templates}" if templates else "the report templates")
        raise InputError(f"{origin}: {exc.message or exc} (a template refers to something the report does not "
                         "provide; compare with the built-in templates)") from None


def template_position(exc: BaseException) -> str | None:
    """``file:line`` of the template frame an error came from (jinja2 rewrites tracebacks to template lines)."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith((".j2", ".jinja", ".md"))]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None
