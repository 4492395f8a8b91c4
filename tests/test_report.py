"""The rendered report: sections, escaping of user text, JSON and HTML formats."""

import json

from click.testing import CliRunner

from advisor.cli import cli
from advisor.report.html import markdown_to_html
from tests.helpers import FIXTURE_RULES


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_markdown_report_sections_and_chart(answers_file, tmp_path):
    out = tmp_path / "r.md"
    result = run("assess", "--answers", answers_file(labeled_examples=5000), "--rules", FIXTURE_RULES,
                 "--out", out, "--no-input")
    assert result.exit_code == 0, result.output
    text = out.read_text()
    order = ["## Executive summary", "## Strategy ranking", "## Decision matrix", "## Why: the rules that applied",
             "## Risks to watch", "## Next steps", "## Sensitivity", "## Probe evidence", "## Your answers",
             "## Sources", "Reproducibility: advisor"]
    positions = [text.index(h) for h in order]
    assert positions == sorted(positions)
    assert "**Recommendation: Fine-tuning, with full fine-tuning.**" in text
    assert "(r_files/strategy_scores.png)" in text and (tmp_path / "r_files" / "strategy_scores.png").stat().st_size > 1000
    assert "No probe was run" in text and "advisor probe rag --corpus PATH" in text


def test_html_report_is_self_contained(answers_file, tmp_path):
    out = tmp_path / "r.html"
    result = run("assess", "--answers", answers_file(), "--rules", FIXTURE_RULES, "--out", out, "--format", "html",
                 "--no-input")
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<table>" in page
    assert 'src="data:image/png;base64,' in page and "_files/" not in page


def test_html_keeps_user_markup_inert(tmp_path):
    page = markdown_to_html("Hello \\<b\\>x\\</b\\> <script>alert(1)</script>", tmp_path, "t<")
    assert "<script>" not in page and "&lt;script&gt;" in page and "<title>t&lt;</title>" in page


def test_compare_two_assessments(answers_file, tmp_path):
    run("assess", "--answers", answers_file(), "--rules", FIXTURE_RULES, "--out", tmp_path / "a.md", "--no-input")
    run("assess", "--answers", answers_file(labeled_examples=5000), "--rules", FIXTURE_RULES,
        "--out", tmp_path / "b.md", "--no-input")
    result = run("compare", "1", "2")
    assert result.exit_code == 0, result.output
    assert "Decision: Prompt engineering → Fine-tuning (changed)" in result.output
    assert "`labeled_examples`: 300 → 5000" in result.output
    assert "now applies: `many-labels`" in result.output
    assert run("compare", "1", "9").exit_code == 2


def test_json_report_matches_store(answers_file, tmp_path):
    out = tmp_path / "r.json"
    run("assess", "--answers", answers_file(), "--rules", FIXTURE_RULES, "--out", out, "--format", "json", "--no-input")
    doc = json.loads(out.read_text())
    shown = json.loads(run("show", str(doc["id"]), "--json").output)
    assert doc["recommendation"]["winner"] == shown["recommendation"]["winner"]
    assert doc["answers"] == shown["answers"]


def test_decision_matrix_comes_from_the_rulebook_that_decided(answers_file, tmp_path):
    import shutil

    import yaml

    from advisor.resources import rules_dir
    from tests.helpers import FIXTURE_RULES

    custom = tmp_path / "rules"
    shutil.copytree(FIXTURE_RULES, custom)
    meta = yaml.safe_load((rules_dir() / "strategies.yaml").read_text())
    meta["strategies"]["rag"]["matrix"]["speed"] = "Custom speed text"
    (custom / "strategies.yaml").write_text(yaml.safe_dump(meta))
    out = tmp_path / "r.md"
    assert run("assess", "--answers", answers_file(), "--rules", custom, "--out", out, "--no-input").exit_code == 0
    assert "Custom speed text" in out.read_text()
    again = tmp_path / "again.md"
    assert run("report", "1", "--out", again).exit_code == 0  # re-rendered from the database alone
    assert "Custom speed text" in again.read_text()


def test_broken_user_template_is_one_error_line(answers_file, tmp_path):
    from tests.helpers import FIXTURE_RULES

    templates = tmp_path / "tpl"
    templates.mkdir()
    (templates / "report.md.j2").write_text("line one\n{% for x in %}\n")
    result = run("assess", "--answers", answers_file(), "--rules", FIXTURE_RULES, "--templates", templates,
                 "--out", tmp_path / "r.md", "--no-input")
    assert result.exit_code == 2 and "report.md.j2:2: template syntax error" in result.output
    assert "Traceback" not in result.output
    (templates / "report.md.j2").write_text("{{ nosuch }}\n")
    again = run("report", "1", "--templates", templates, "--out", tmp_path / "r.md")
    assert again.exit_code == 2 and "'nosuch' is undefined" in again.output  # the assessment was kept


def test_an_assessment_stored_before_probabilities_and_deployments_still_renders(answers_file, tmp_path):
    """A recommendation stored by an earlier advisor (no probabilities, path, deployments or measurements) is
    re-rendered with its own confidence sentence, not with invented figures."""
    import duckdb

    db = tmp_path / "a.duckdb"
    out = tmp_path / "r.md"
    result = CliRunner().invoke(cli, ["assess", "--answers", str(answers_file()), "--no-input", "--db", str(db),
                                      "--probes", "none", "--out", str(out)])
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(db))
    rec = json.loads(con.execute("SELECT recommendation FROM decisions").fetchone()[0])
    for key in ("probabilities", "winner_probability", "simulation", "path", "measurements", "doubts"):
        rec.pop(key)
    for row in rec["strategies"]:
        for key in ("probability", "deployment", "deployment_label", "deployment_reason", "needs_one_off",
                    "needs_monthly", "within_budget"):
            row.pop(key)
    for row in rec["costs"]["strategies"]:
        for key in ("deployment", "deployment_label", "deployment_reason", "deployments", "runnable", "budget_ratio"):
            row.pop(key)
    con.execute("UPDATE decisions SET recommendation = ?", [json.dumps(rec)])
    con.close()
    again = CliRunner().invoke(cli, ["report", "1", "--db", str(db), "--out", str(tmp_path / "old.md")])
    assert again.exit_code == 0, again.output
    text = (tmp_path / "old.md").read_text()
    assert "score margin" in text and "best strategy in" not in text
    assert "| 1 | **" in text and "| — |" in text


def test_the_json_report_carries_probabilities_budgets_deployments_and_the_path(answers_file, tmp_path):
    out = tmp_path / "r.json"
    result = CliRunner().invoke(cli, ["assess", "--answers", str(answers_file(labeled_examples=3000)), "--no-input",
                                      "--db", str(tmp_path / "a.duckdb"), "--probes", "none", "--format", "json",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    rec = json.loads(out.read_text())["recommendation"]
    assert set(rec["probabilities"]) == {s["strategy"] for s in rec["strategies"]}
    assert abs(sum(rec["probabilities"].values()) - 1) < 1e-6
    assert rec["confidence_score"] == rec["probabilities"][rec["winner"]]
    for s in rec["strategies"]:
        assert s["deployment"] and s["needs_one_off"] is not None and s["needs_monthly"] is not None
    assert rec["path"] and rec["path"][-1]["strategy"] == rec["winner"]
    assert rec["simulation"] == {"draws": 400, "seed": 20261206}
