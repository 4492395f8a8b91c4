"""Rules are checked against the probes' declared facts when a rulebook loads: one exact line each,
from `advisor rules check` and from `advisor assess --rules`, before anything is stored."""

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from advisor.errors import RulebookError
from advisor.decision.rulebook import load_rulebook
from tests.helpers import EXAMPLE

RULE = """rules:
  - id: my-rule
    when: {field: WHAT, OP: VALUE}
    effect: {prompt_engineering: 1}
    rationale: A rule written by a team for its own situation.
    source: "Our own experience"
    next_step: STEP
"""

CASES = [
    # an unknown fact (a typo): it would never fire
    ({"WHAT": "few_shot.best_acuracy", "OP": "gte", "VALUE": "0.9", "STEP": "Ship it."},
     "r.yaml:3: rule 'my-rule': unknown fact 'few_shot.best_acuracy' (did you mean 'few_shot.best_accuracy'?); "
     "`advisor rules facts` lists every probe's facts"),
    # a fact compared with a value of the wrong type
    ({"WHAT": "few_shot.best_accuracy", "OP": "gte", "VALUE": "high", "STEP": "Ship it."},
     "r.yaml:3: rule 'my-rule': few_shot.best_accuracy is a number in [0, 1] (fraction); "
     "it is compared with 'high' (text)"),
    ({"WHAT": "lora.significant", "OP": "eq", "VALUE": "0.05", "STEP": "Ship it."},
     "r.yaml:3: rule 'my-rule': lora.significant is true or false; it is compared with 0.05 (number)"),
    ({"WHAT": "few_shot.best_accuracy", "OP": "gte", "VALUE": "90", "STEP": "Ship it."},
     "r.yaml:3: rule 'my-rule': few_shot.best_accuracy is a number in [0, 1] (fraction); "
     "90 is out of that range (fractions are written 0.9 for 90%)"),
    ({"WHAT": "lora.baseline", "OP": "eq", "VALUE": "few_shot", "STEP": "Ship it."},
     "r.yaml:3: rule 'my-rule': lora.baseline is one of few-shot, zero-shot; 'few_shot' is not one of them"),
    # the bounds of an interval are facts with the measurement's own range
    ({"WHAT": "quality.seed_spread_low", "OP": "gte", "VALUE": "5", "STEP": "Ship it."},
     "r.yaml:3: rule 'my-rule': quality.seed_spread_low is a number in [0, 1] (fraction); "
     "5 is out of that range (fractions are written 0.9 for 90%)"),
    ({"WHAT": "data.vocabulary_gap_high", "OP": "lt", "VALUE": "-1", "STEP": "Ship it."},
     "r.yaml:3: rule 'my-rule': data.vocabulary_gap_high is a number >= 0 (ratio); -1 is out of that range"),
    ({"WHAT": "data.forgetting_ratio_hi", "OP": "lt", "VALUE": "1.05", "STEP": "Ship it."},
     "r.yaml:3: rule 'my-rule': unknown fact 'data.forgetting_ratio_hi' (did you mean 'data.forgetting_ratio_high'?); "
     "`advisor rules facts` lists every probe's facts"),
    # a next_step placeholder that nothing fills
    ({"WHAT": "few_shot.best_accuracy", "OP": "gte", "VALUE": "0.9", "STEP": "Hold out {n_holdout} examples."},
     "r.yaml:2: rule 'my-rule': next_step: placeholder {n_holdout} is filled by nothing; use one of "
     "{best_k}, {chunk_size}, {eval_size}, {labels_target}, {method}"),
    ({"WHAT": "few_shot.best_accuracy", "OP": "gte", "VALUE": "0.9", "STEP": "Use {few_shot.best_k} shots."},
     "r.yaml:2: rule 'my-rule': next_step: placeholder {few_shot.best_k} is not a plain name; use one of "
     "{best_k}, {chunk_size}, {eval_size}, {labels_target}, {method}"),
]


def write_rule(folder: Path, fill: dict[str, str]) -> Path:
    text = RULE
    for key, value in fill.items():
        text = text.replace(key, value)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "r.yaml").write_text(text)
    return folder


@pytest.mark.parametrize("fill, message", CASES)
def test_rules_check_names_file_line_and_problem(tmp_path, fill, message):
    folder = write_rule(tmp_path / "rules", fill)
    result = CliRunner().invoke(cli, ["rules", "check", str(folder)])
    assert result.exit_code == 2
    assert result.output == f"Error: {folder / 'r.yaml'}:{message.removeprefix('r.yaml:')}\n"


@pytest.mark.parametrize("fill, message", CASES[:1] + CASES[-2:-1])
def test_assess_with_such_a_rulebook_stops_before_storing(tmp_path, fill, message, db_path):
    folder = write_rule(tmp_path / "rules", fill)
    args = ["assess", "--no-input", "--answers", str(EXAMPLE / "answers.yaml"), "--rules", str(folder),
            "--out", str(tmp_path / "r.md")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output == f"Error: {folder / 'r.yaml'}:{message.removeprefix('r.yaml:')}\n"
    if db_path.exists():
        con = duckdb.connect(str(db_path), read_only=True)
        assert con.execute("SELECT count(*) FROM assessments").fetchone()[0] == 0
        con.close()


def test_a_correct_rule_with_facts_and_placeholders_loads(tmp_path):
    folder = write_rule(tmp_path / "rules", {"WHAT": "lora.baseline", "OP": "eq", "VALUE": "few-shot",
                                             "STEP": "Keep {best_k} shots; hold out {eval_size}."})
    assert load_rulebook(folder).rules[0].id == "my-rule"


def test_a_strategy_next_step_placeholder_is_checked_too(tmp_path):
    import shutil

    from advisor.resources import rules_dir

    folder = write_rule(tmp_path / "rules", {"WHAT": "few_shot.best_k", "OP": "gte", "VALUE": "2", "STEP": "Go."})
    text = (rules_dir() / "strategies.yaml").read_text()
    shutil.copy(rules_dir() / "strategies.yaml", folder / "strategies.yaml")
    (folder / "strategies.yaml").write_text(text.replace("set of {eval_size} labeled", "set of {eval_sise} labeled"))
    with pytest.raises(RulebookError, match=r"strategies.yaml: strategy '\w+': next_steps: placeholder \{eval_sise\}"):
        load_rulebook(folder)


@pytest.mark.parametrize("what, op, value", [
    ("quality.seed_spread_low", "gte", "0.05"), ("data.vocabulary_gap_low", "gte", "1.5"),
    ("data.vocabulary_gap_high", "lt", "1.1"), ("data.forgetting_ratio_low", "gte", "1.15"),
    ("data.forgetting_ratio_high", "lt", "1.05"), ("data.crossover_examples_high", "lte", "{field: labeled_examples}"),
    ("data.crossover_examples_low", "gt", "{field: labeled_examples}"), ("domain.bits_per_byte_ratio_low", "gte", "1.5"),
    ("lora.forgetting_ratio_high", "lt", "1.05"), ("lora.crossover_examples_high", "lte", "500"),
    ("few_shot.seed_spread_low", "gte", "0.05"),
])
def test_the_interval_bounds_of_the_probes_measurements_are_facts_rules_may_test(tmp_path, what, op, value):
    folder = write_rule(tmp_path / "rules", {"WHAT": what, "OP": op, "VALUE": value, "STEP": "Ship it."})
    assert load_rulebook(folder).rules[0].id == "my-rule"
