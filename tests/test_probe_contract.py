"""The probe contract: a probe declared here, in the test (spec, evidence model, template, one rule), runs
inside `advisor assess` end to end without touching any other file; and nothing imports in a cycle."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from pydantic import BaseModel, ConfigDict

from advisor.cli import cli
from advisor.probes import registry
from advisor.probes.common.base import Metric, Probe, ProbeContext, ProbeResult
from advisor.probes.common.spec import AssessInputs, Evidence, Plan, ProbeInput, ProbeSpec, fact
from tests.helpers import EXAMPLE

ROOT = Path(__file__).resolve().parent.parent


# -- a throwaway probe: counts the words of a notes file and looks for TODOs --------------------------
class NotesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: Path
    marker: str = "TODO"


class NotesEvidence(Evidence):
    words: int | None = fact("words in the notes", "words", ge=0)
    open_items: int | None = fact("occurrences of the marker", "items", ge=0)
    has_open_items: bool | None = fact("the notes still hold the marker")


class NotesProbe(Probe):
    def fingerprint(self, config: NotesConfig) -> str:
        return f"{config.notes.read_text()}|{config.marker}"

    def run(self, config: NotesConfig, ctx: ProbeContext) -> ProbeResult:
        text = config.notes.read_text()
        count = text.count(config.marker)
        ctx.result.metrics.append(Metric(name="words", value=len(text.split())))
        ctx.result.evidence = {"words": len(text.split()), "open_items": count, "has_open_items": count > 0}
        ctx.result.summary = {"marker": config.marker}
        ctx.result.headline = f"{count} open items in {len(text.split())} words."
        return ctx.result


def plan(answers, inputs: AssessInputs) -> Plan:
    notes = inputs.file("notes")
    return Plan({"notes": notes}) if notes else Plan.skip("no notes given (--notes)")


TEMPLATE = """### Project notes

{{ result.headline }} Marker: `{{ result.summary.marker }}`; {{ result.evidence.open_items }} open.
"""

RULE = """rules:
  - id: notes-open-items
    when: {all: [{field: notes.has_open_items, eq: true}, {field: notes.open_items, gte: 2}]}
    effect: {prompt_engineering: 0.5}
    rationale: Open items in the project notes mean the requirements still move, so keep the cheap option.
    source: "Test fixture"
    next_step: Close the {open_items} open items in the notes before tuning anything.
"""


@pytest.fixture
def notes_probe(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "probe_notes.md.j2").write_text(TEMPLATE)
    spec = ProbeSpec(
        name="notes", description="Counts open items in the project notes.", config=NotesConfig,
        evidence=NotesEvidence, runner=f"{__name__}:NotesProbe", plan=plan,
        inputs=(ProbeInput("notes", "Project notes (text)."),), template="probe_notes.md.j2",
        template_dir=tmp_path / "templates", weight=0.1, order=50,
        placeholders={"open_items": (lambda ev: ev.get("open_items"), 0)},
        command="advisor probe notes --notes FILE")
    with registry.registered(spec):
        yield spec


def test_a_probe_declared_in_a_test_runs_in_assess_end_to_end(notes_probe, tmp_path, db_path):
    from advisor.resources import rules_dir

    rules = tmp_path / "rules"
    shutil.copytree(rules_dir(), rules, ignore=shutil.ignore_patterns("__*"))
    (rules / "notes.yaml").write_text(RULE)
    notes = tmp_path / "notes.txt"
    notes.write_text("Ship the router. TODO: labels for refunds. TODO: confirm the SLA.\n")
    args = ["assess", "--no-input", "--answers", EXAMPLE / "answers.yaml", "--notes", notes, "--probes", "notes",
            "--rules", rules, "--out", tmp_path / "report.md"]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "report.md").read_text()
    assert "### Project notes" in report and "2 open items in 11 words. Marker: `TODO`; 2 open." in report
    assert "`notes-open-items` (evidence)" in report
    assert "Close the 2 open items in the notes before tuning anything." in report
    con = duckdb.connect(str(db_path), read_only=True)
    run = con.execute("SELECT probe, status, result->>'$.evidence.open_items' FROM probe_runs").fetchone()
    con.close()
    assert run == ("notes", "done", "2")
    # the stored assessment re-renders to the same report
    again = CliRunner().invoke(cli, ["report", "1", "--out", str(tmp_path / "again" / "report.md")])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again" / "report.md").read_text() == report


def test_the_probe_gets_a_command_and_its_facts_are_listed(notes_probe, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("TODO one\n")
    result = CliRunner().invoke(cli, ["probe", "notes", "--notes", str(notes), "--marker", "TODO"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 open items in 2 words.")
    facts = CliRunner().invoke(cli, ["rules", "facts", "--probe", "notes"])
    assert "notes.has_open_items" in facts.output and "true or false" in facts.output


def test_an_undeclared_fact_is_a_probe_failure_not_a_silent_fact(notes_probe, tmp_path):
    from advisor.evidence.probe_runner import run_probe

    class Sloppy(NotesProbe):
        def run(self, config, ctx):
            super().run(config, ctx)
            ctx.result.evidence["open_itmes"] = 1
            return ctx.result

    globals()["Sloppy"] = Sloppy
    notes = tmp_path / "notes.txt"
    notes.write_text("TODO\n")
    with registry.registered(ProbeSpec(**{**notes_probe.__dict__, "runner": f"{__name__}:Sloppy"})):
        with pytest.raises(Exception, match="open_itmes"):
            run_probe("notes", NotesConfig(notes=notes))


# -- no import cycles, function-level imports included ---------------------------------------------
def _modules() -> dict[str, Path]:
    mods = {}
    for folder, package in (("advisor", "advisor"), ("probes", "advisor.probes"), ("rules", "advisor.rules"),
                            ("templates", "advisor.templates")):
        for path in (ROOT / folder).rglob("*.py"):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            mods[".".join([package, *parts])] = path
    return mods


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    out = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = name.split(".") if is_package else name.split(".")[:-1]
            target = ".".join(base[:len(base) - node.level + 1] + [node.module or ""]) if node.level else node.module
            candidates = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        out |= {c for c in candidates if c in known and c != name}
    return out


def test_no_module_imports_itself_through_others():
    known = _modules()
    graph = {name: _imports(name, path, known) for name, path in known.items()}

    def reaches(start: str, goal: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == goal:
                    return trail + [goal]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, trail + [nxt]))
        return None

    cycles = [trail for name in graph if (trail := reaches(name, name))]
    assert not cycles, " -> ".join(cycles[0])
    # and the probes depend on advisor only through its leaf modules
    leaves = {"advisor.errors", "advisor.resources", "advisor.paths", "advisor.training_cost", "advisor.user_yaml",
              "advisor.sentences"}
    outside = {(m, t) for m, ts in graph.items() if m.startswith("advisor.probes") for t in ts
               if not t.startswith("advisor.probes") and t not in leaves}
    assert not outside, sorted(outside)
