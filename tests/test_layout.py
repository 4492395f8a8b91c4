"""The tree shows the flow: advisor's packages are the stages intake → probes → evidence → costs → decision →
store → report, imports run one way along it (function-level imports included), and every module says what it
is for in its first line and stays small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.test_probe_contract import ROOT, _imports, _modules

#: each stage may import its own and earlier stages only; the shared leaf modules come first, the CLI last
STAGES = [
    ("leaf", ("advisor", "advisor.errors", "advisor.paths", "advisor.resources", "advisor.user_yaml", "advisor.sentences",
              "advisor.training_cost", "advisor.rules", "advisor.templates")),
    ("intake", ("advisor.intake",)),
    ("probes", ("advisor.probes",)),
    ("evidence", ("advisor.evidence",)),
    ("costs", ("advisor.costs",)),
    ("decision", ("advisor.decision",)),
    ("store", ("advisor.store",)),
    ("report", ("advisor.report",)),
    ("assessment", ("advisor.assessment",)),
    ("cli", ("advisor.cli", "advisor.commands", "advisor.__main__")),
]


def stage_of(module: str) -> int:
    """The index of the stage a module belongs to (the longest matching prefix wins)."""
    best, length = None, -1
    for index, (_, prefixes) in enumerate(STAGES):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = index, len(prefix)
    assert best is not None, f"{module} belongs to no stage; add it to STAGES"
    return best


def test_every_module_belongs_to_a_stage_and_imports_only_earlier_stages():
    known = _modules()
    backwards = []
    for name, path in known.items():
        mine = stage_of(name)
        for target in _imports(name, path, known):
            if stage_of(target) > mine:
                backwards.append(f"{name} ({STAGES[mine][0]}) imports {target} ({STAGES[stage_of(target)][0]})")
    assert not backwards, "\n".join(sorted(backwards))


def test_the_stage_check_catches_a_backward_import(tmp_path):
    """The check above is not vacuous: a deferred import of the report inside intake is seen and is backward."""
    path = tmp_path / "intake_probe.py"
    path.write_text("def f():\n    from advisor.report.render import render\n")
    found = _imports("advisor.intake.probe", path, _modules())
    assert "advisor.report.render" in found
    assert stage_of("advisor.report.render") > stage_of("advisor.intake.probe")


CODE = [p for folder in ("advisor", "probes", "rules", "templates", "tests", "benchmarks")
        for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts]


@pytest.mark.parametrize("path", CODE, ids=[str(p.relative_to(ROOT)) for p in CODE])
def test_every_module_says_what_it_is_for_and_stays_small(path: Path):
    text = path.read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(text))
    assert doc and doc.strip().splitlines()[0].strip(), f"{path.relative_to(ROOT)}: no docstring saying what it is for"
    assert len(text.splitlines()) <= 420, f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines; split it"
