"""The command line as a user meets it: help, answers files, history, show, report, exit codes."""

import json
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from advisor.cli import cli
from advisor.store.database import Store
from tests.helpers import BASE_ANSWERS, FIXTURE_RULES


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def test_every_command_has_help_with_an_example():
    from advisor.commands.lazy import LazyGroup

    def walk(group, prefix):
        ctx = group.make_context(prefix, [], resilient_parsing=True)
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            assert cmd.help and "Example" in cmd.help, f"{prefix} {name} lacks help with an example"
            if isinstance(cmd, LazyGroup) or hasattr(cmd, "commands"):
                walk(cmd, f"{prefix} {name}")

    walk(cli, "advisor")


def test_assess_from_file_writes_report_and_rows(answers_file, tmp_path, db_path):
    out = tmp_path / "r.md"
    result = run("assess", "--answers", answers_file(has_corpus=True, corpus_change="daily", budget_one_off=100000, budget_monthly=5000),
                 "--rules", FIXTURE_RULES, "--out", out, "--no-input")
    assert result.exit_code == 0, result.output
    assert "Recommendation: RAG" in result.output
    text = out.read_text()
    assert "# Decision report: Test project" in text and "`corpus-changes`" in text
    with Store(db_path) as store:
        [row] = store.assessments()
        assert row["winner"] == "rag" and row["project_name"] == "Test project"


def test_no_input_lists_every_missing_answer(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("project_name: X\n")
    result = run("assess", "--answers", path, "--no-input")
    assert result.exit_code == 2
    assert "missing answers for use_case, task_type, labeled_examples" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "content, expected",
    [
        ("project_name: [unclosed", "a.yaml:1: not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        (yaml.safe_dump({**BASE_ANSWERS, "colour": "red"}), "unknown field 'colour'"),
        (yaml.safe_dump({**BASE_ANSWERS, "labeled_examples": -5}), "labeled_examples: Input should be greater than or equal to 0"),
        (yaml.safe_dump({**BASE_ANSWERS, "task_type": "poetry"}), "task_type: Input should be 'classification'"),
    ],
)
def test_bad_answers_file_is_one_line_exit_2(tmp_path, content, expected, db_path):
    path = tmp_path / "a.yaml"
    path.write_text(content)
    result = run("assess", "--answers", path, "--no-input")
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not db_path.exists()  # nothing stored for a rejected input


def test_missing_answers_file(tmp_path):
    result = run("assess", "--answers", tmp_path / "nope.yaml", "--no-input")
    assert result.exit_code == 2 and "no such file; check the path" in result.output


def test_invalid_rulebook_is_refused_before_storing(answers_file, tmp_path, db_path):
    bad = tmp_path / "rules"
    bad.mkdir()
    (bad / "x.yaml").write_text("rules:\n  - id: x\n    when: {field: nope, eq: 1}\n    rationale: a b c d e f g\n    source: s s s s\n")
    result = run("assess", "--answers", answers_file(), "--rules", bad, "--no-input")
    assert result.exit_code == 2 and "x.yaml:3: rule 'x': unknown field 'nope'" in result.output
    assert not db_path.exists()


def test_interactive_asks_only_what_the_file_leaves_out(tmp_path, monkeypatch):
    monkeypatch.setattr("advisor.commands.assess._interactive", lambda no_input: True)
    partial = {k: v for k, v in BASE_ANSWERS.items() if k not in ("task_type", "labeled_examples")}
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump(partial))
    # task type: '?' shows help, 'poetry' is refused, '2' picks extraction; labels: 'many' refused, then 1,500
    result = run("assess", "--answers", path, "--rules", FIXTURE_RULES, "--out", tmp_path / "r.md",
                 input="?\npoetry\n2\nmany\n1,500\n\n")  # Enter accepts the review
    assert result.exit_code == 0, result.output
    assert "why: Narrow tasks" in result.output
    assert "'poetry' is not one of the choices" in result.output
    assert "1. classification" in result.output and "] Project name" not in result.output  # not asked again
    assert "Recommendation: Fine-tuning" in result.output  # 1,500 labels fire the fixture rule


def test_fully_interactive_questionnaire_shows_defaults(tmp_path, monkeypatch):
    from advisor.intake.answers import Answers

    monkeypatch.setattr("advisor.commands.assess._interactive", lambda no_input: True)
    values = {"project_name": "Chat", "use_case": "An assistant", "task_type": "chat", "labeled_examples": "0",
              "budget_one_off": "100", "budget_monthly": "10", "monthly_requests": "1000", "weeks_to_production": "2"}
    from advisor.intake.questionnaire import questions_for

    # empty line = accept the default; the defaults (no corpus, no more labels) skip the questions they make moot
    asked = questions_for({"has_corpus": False, "can_produce_more_labels": False, "data_may_leave": True,
                           "base_model": "undecided"})
    assert len(asked) < len(Answers.model_fields)
    lines = [values.get(name, "") for name in asked]
    paths = ["missing.jsonl", "", "", ""]  # a wrong data path is asked again; blank skips each probe
    result = run("assess", "--rules", FIXTURE_RULES, "--out", tmp_path / "r.md",
                 input="\n".join(lines + paths + [""]) + "\n")  # the last Enter accepts the review
    assert result.exit_code == 0, result.output
    assert "[EUR]" in result.output and "[medium]" in result.output
    assert "missing.jsonl: no such file or folder" in result.output
    assert "advisor probe few-shot --data FILE" in (tmp_path / "r.md").read_text()


def test_history_show_report_round_trip(answers_file, tmp_path):
    run("assess", "--answers", answers_file(), "--rules", FIXTURE_RULES, "--out", tmp_path / "a.md", "--no-input")
    hist = run("history")
    assert hist.exit_code == 0 and "Test project" in hist.output
    shown = json.loads(run("show", "1", "--json").output)
    assert shown["answers"]["labeled_examples"] == 300
    out = tmp_path / "again.md"
    assert run("report", "1", "--out", out).exit_code == 0
    assert out.read_text().splitlines()[0] == (tmp_path / "a.md").read_text().splitlines()[0]
    as_json = json.loads((tmp_path / "x.json").read_text()) if run("report", "1", "--format", "json", "--out", tmp_path / "x.json").exit_code == 0 else None
    assert as_json["recommendation"]["winner"] == shown["recommendation"]["winner"]
    missing = run("report", "42")
    assert missing.exit_code == 2 and "assessment 42" in missing.output


def test_show_reads_as_text_history_filters_and_the_report_goes_to_stdout(answers_file, tmp_path, monkeypatch):
    run("assess", "--answers", answers_file(), "--rules", FIXTURE_RULES, "--out", tmp_path / "a.md", "--no-input")
    run("assess", "--answers", answers_file(project_name="Invoice reader"), "--rules", FIXTURE_RULES,
        "--out", tmp_path / "b.md", "--no-input")
    shown = run("show", "2").output.splitlines()
    assert shown[0].startswith("Assessment #2: Invoice reader") and shown[1].startswith("Recommendation: ")
    assert any(line.startswith("  1. ") for line in shown)
    rows = json.loads(run("history", "--json", "--project", "INVOICE").output)
    assert [r["id"] for r in rows] == [2]
    assert json.loads(run("history", "--json", "--since", "2000-01-01").output)[-1]["id"] == 1
    assert run("history", "--since", "2999-01-01").output.strip() == "No assessments match."
    monkeypatch.chdir(tmp_path)
    out = run("report", "1", "--out", "-")
    assert out.exit_code == 0 and out.output.startswith("# Decision report: Test project")
    assert not (tmp_path / "-").exists()
    as_json = run("report", "1", "--out", "-", "--format", "json")
    assert json.loads(as_json.output)["id"] == 1


def test_defaulted_answers_are_marked_and_an_unedited_template_is_refused(answers_file, tmp_path):
    result = run("assess", "--answers", answers_file(), "--rules", FIXTURE_RULES, "--out", tmp_path / "a.md",
                 "--no-input")
    assert result.exit_code == 0, result.output
    report = (tmp_path / "a.md").read_text()
    given = {"project_name", "use_case", "task_type", "labeled_examples", "budget_one_off", "budget_monthly",
             "monthly_requests", "weeks_to_production"}
    from advisor.intake.answers import Answers

    defaulted = [n for n in Answers.model_fields if n not in given]
    assert f"- {len(defaulted)} of your answers were not given and took their defaults" in report
    assert report.count("(default: not answered)") == len(defaulted)
    template = tmp_path / "template.yaml"
    template.write_text(run("questions", "--template").output)
    refused = run("assess", "--answers", template, "--no-input", "--out", tmp_path / "b.md")
    assert refused.exit_code == 2
    assert refused.output == (f"Error: {template}: project_name, use_case still hold the template's placeholder text "
                              "('My project', 'Describe the task in one or two sentences'); fill in the answers file\n")


def test_models_list_names_the_embedder_and_the_caches():
    listing = run("models", "list").output
    assert "smollm2-135m" in listing and "all-minilm-l6-v2" in listing and "caches:" in listing


def test_questions_schema_and_template_round_trip(tmp_path):
    schema = json.loads(run("questions", "--schema").output)
    assert "labeled_examples" in schema["properties"] and "task_type" in schema["required"]
    template = run("questions", "--template").output
    path = tmp_path / "t.yaml"
    # filled in (only the placeholder text changed), the template is a valid answers file as printed
    path.write_text(template.replace("My project", "Routing").replace("Describe the task in one or two sentences",
                                                                      "Route tickets"))
    result = run("assess", "--answers", path, "--rules", FIXTURE_RULES, "--out", tmp_path / "r.md", "--no-input")
    assert result.exit_code == 0, result.output


def test_rules_check_and_list(tmp_path):
    ok = run("rules", "check", FIXTURE_RULES)
    assert ok.exit_code == 0 and "OK: 5 rules" in ok.output
    bad = tmp_path / "r"
    bad.mkdir()
    (bad / "a.yaml").write_text("rules:\n  - id: A B\n")
    res = run("rules", "check", bad)
    assert res.exit_code == 2 and "a.yaml:2:" in res.output
    listed = run("rules", "list", "--rules", FIXTURE_RULES)
    assert "many-labels" in listed.output and "Fixture source B" in listed.output


def test_locked_database_is_one_clear_error(answers_file, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_LOCK_WAIT", "1")  # advisor waits this long for another process to let go
    db = tmp_path / "locked.duckdb"
    with Store(db):
        pass
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(db)!r}); print('ok', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        result = run("assess", "--answers", answers_file(), "--db", db, "--no-input", "--out", tmp_path / "r.md")
    finally:
        holder.kill()
    assert result.exit_code == 2 and "locked" in result.output and "--db" in result.output


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf", "30s"])
def test_a_lock_wait_that_is_not_seconds_is_one_error_line_naming_it(tmp_path, monkeypatch, value):
    db = tmp_path / "a.duckdb"
    with Store(db):
        pass
    before = db.read_bytes()
    monkeypatch.setenv("ADVISOR_LOCK_WAIT", value)
    result = run("history", "--db", db)
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 2 and len(lines) == 1 and "ADVISOR_LOCK_WAIT=" in lines[0], result.output
    assert "Traceback" not in result.output and db.read_bytes() == before
    monkeypatch.setenv("ADVISOR_LOCK_WAIT", " 0.5 ")
    assert run("history", "--db", db).exit_code == 0


def test_store_failure_after_decision_still_writes_report(answers_file, tmp_path, monkeypatch):
    from advisor.errors import StoreError

    def fail(self, *args):
        raise StoreError("disk full")

    monkeypatch.setattr(Store, "save_recommendation", fail)
    out = tmp_path / "r.md"
    result = run("assess", "--answers", answers_file(), "--rules", FIXTURE_RULES, "--out", out, "--no-input")
    assert result.exit_code == 2 and "disk full" in result.output
    assert out.exists() and "Decision report" in out.read_text()


def test_unknown_command_suggests():
    result = run("asess")
    assert result.exit_code == 2 and "Did you mean 'assess'" in result.output


def test_user_text_cannot_break_the_report(answers_file, tmp_path):
    out = tmp_path / "r.md"
    run("assess", "--answers", answers_file(project_name="A | B\n# injected", use_case="<script>x</script> | y"),
        "--rules", FIXTURE_RULES, "--out", out, "--no-input")
    text = out.read_text()
    assert "# Decision report: A \\| B \\# injected" in text
    assert "<script>" not in text and "\\<script\\>" in text
