"""Which probes an assessment runs and how one time budget is shared among them."""

import time

import pytest

from advisor.intake.answers import Answers
from advisor.errors import InputError
from advisor.evidence.orchestrate import Budget, Inputs, parse_probe_selection, plan, thin_evidence
from advisor.evidence.evidence_set import EvidenceSet
from advisor.probes.registry import get
from advisor.probes.common.base import ProbeResult
from tests.helpers import BASE_ANSWERS


def answers(**kw):
    return Answers.model_validate({**BASE_ANSWERS, **kw})


def test_budget_shares_by_weight_and_rolls_over():
    budget = Budget(total=100.0, started=time.monotonic())
    few, rag, lora = get("few-shot"), get("rag"), get("lora")
    first = budget.share(few, [few, rag, lora])
    assert first == pytest.approx(100 * 3.0 / 9.0, abs=0.5)
    budget.started -= 10  # the first probe used only 10 s of its ~33 s
    second = budget.share(rag, [rag, lora])
    assert second == pytest.approx(90 * 1.5 / 6.0, abs=0.5)  # unused time rolled over
    assert Budget(total=None).share(rag, [rag]) is None


def test_plan_skips_with_reason_and_command(tmp_path):
    plans = {p.probe: p for p in plan(answers(has_corpus=True), Inputs(files={"data": tmp_path / "d.jsonl"}))}
    assert plans["few-shot"].config["data"] == tmp_path / "d.jsonl"
    assert plans["lora"].config["available_examples"] == 300
    assert plans["rag"].config is None and "--corpus" in plans["rag"].skip_reason
    assert plans["rag"].spec.command.startswith("advisor probe rag")
    assert plans["domain"].config is None


def test_lora_only_for_classification(tmp_path):
    plans = {p.probe: p for p in plan(answers(task_type="summarization"), Inputs(files={"data": tmp_path / "d.jsonl"}))}
    assert plans["lora"].config is None and "classification" in plans["lora"].skip_reason
    assert plans["few-shot"].config["task"] == "generation"


def test_probe_selection(tmp_path):
    assert parse_probe_selection("none") == ()
    with pytest.raises(InputError, match="unknown probe 'fewshot'"):
        parse_probe_selection("fewshot")
    plans = {p.probe: p for p in plan(answers(), Inputs(files={"data": tmp_path / "d"}, selected=()))}
    assert plans["few-shot"].config is None and plans["few-shot"].skip_reason == "not selected with --probes"


def test_thin_evidence_statements():
    wide = {"ci_halfwidth": 0.12, "eval_size": 60, "best_accuracy": 0.6}
    ev = EvidenceSet(results=[
        ProbeResult(probe="target-few-shot", evidence=wide),
        ProbeResult(probe="few-shot", evidence=wide),
        ProbeResult(probe="lora", evidence={"significant": False, "required_eval_size_5pp": 1500}),
        ProbeResult(probe="rag", status="partial", evidence={"proxy": True}),
    ])
    notes = thin_evidence(ev)
    # only the target's interval is worth narrowing: the probe model's accuracy cannot change the decision
    assert [n for n in notes if "±12 pp at 60 eval examples" in n] == [
        "Your model's few-shot accuracy is uncertain (±12 pp at 60 eval examples); about 369 would narrow it to ±5 pp."]
    assert any("not statistically significant; about 1500" in n for n in notes)
    assert any("proxy" in n for n in notes) and any("rag probe stopped early" in n for n in notes)


def test_the_bf16_choice_reaches_every_probe_that_runs_a_local_model(tmp_path):
    files = {"data": tmp_path / "d.jsonl", "corpus": tmp_path / "docs", "domain_text": tmp_path / "t.txt"}
    for choice in ("off", "on"):
        plans = {p.probe: p for p in plan(answers(has_corpus=True), Inputs(files=files, bf16=choice))}
        assert {name: plans[name].config["bf16"] for name in ("few-shot", "rag", "lora", "domain")} == \
            dict.fromkeys(("few-shot", "rag", "lora", "domain"), choice)


def test_an_assessment_runs_the_open_book_check_on_the_target_only(tmp_path):
    """Without --target the RAG probe of an assessment does not spend its time on the probe model's open-book
    answers (not evidence about the team's model, not used); with one, the check runs there."""
    from advisor.probes.common.endpoint import EndpointSpec
    from advisor.probes.rag.spec import RagConfig

    files = {"corpus": tmp_path / "docs", "qa": tmp_path / "qa.jsonl"}
    alone = {p.probe: p for p in plan(answers(has_corpus=True), Inputs(files=files))}["rag"].config
    assert alone["target"] is None and alone["open_book_on_proxy"] is False
    target = EndpointSpec(model="m", url="http://127.0.0.1:9/v1")
    aimed = {p.probe: p for p in plan(answers(has_corpus=True), Inputs(files=files, target=target))}["rag"].config
    assert aimed["target"] == target and RagConfig.model_validate(aimed).open_book is not False
    assert RagConfig.model_validate({"corpus": tmp_path}).open_book_on_proxy  # `advisor probe rag` keeps it


def test_the_answered_task_type_reaches_the_few_shot_and_lora_plans(tmp_path):
    """Many classes (more than the 50 the data loader would call classes by itself) still make a classification
    task when the answers say so: the LoRA trial gets task classification, not auto."""
    files = {"data": tmp_path / "d.jsonl"}
    plans = {p.probe: p for p in plan(answers(task_type="classification"), Inputs(files=files))}
    assert plans["few-shot"].config["task"] == "classification" and plans["lora"].config["task"] == "classification"
    extraction = {p.probe: p for p in plan(answers(task_type="extraction"), Inputs(files=files))}
    assert extraction["few-shot"].config["task"] == "extraction"
    reason = extraction["lora"].skip_reason
    assert "task_type extraction" in reason and "answer classification if your labels are classes" in reason


def test_naming_a_probe_also_runs_it_on_the_target_and_naming_the_target_run_alone_does_not_add_the_proxy(tmp_path):
    from advisor.probes.common.endpoint import EndpointSpec

    target = EndpointSpec(model="m", url="http://127.0.0.1:9/v1")
    files = {"data": tmp_path / "d.jsonl"}
    both = {p.probe: p for p in plan(answers(), Inputs(files=files, target=target, selected=("few-shot",)))}
    assert both["few-shot"].config is not None and both["target-few-shot"].config["target"] == target
    assert both["lora"].skip_reason == "not selected with --probes"
    alone = {p.probe: p for p in plan(answers(), Inputs(files=files, target=target, selected=("target-few-shot",)))}
    assert alone["target-few-shot"].config is not None and alone["few-shot"].skip_reason == "not selected with --probes"
    without = {p.probe: p for p in plan(answers(), Inputs(files=files, selected=("few-shot",)))}
    assert "no target model given" in without["target-few-shot"].skip_reason  # not "not selected"


def test_model_preparation_is_done_and_shown_before_the_budget_clock_starts(tmp_path, monkeypatch):
    """The one-off conversion is announced in advisor's own line and finishes before the shared budget starts."""
    from advisor.evidence import orchestrate
    from advisor.probes.common import runtime
    from advisor.store.database import Store

    events = []
    monkeypatch.setattr(runtime, "preparation_needed", lambda spec: f"Preparing the embedded model {spec.name} (once)")
    monkeypatch.setattr(runtime, "prepare", lambda spec: events.append("prepared"))
    monkeypatch.setattr(orchestrate, "_warm_up", lambda *a: events.append("loaded"))

    class Recording(orchestrate.Budget):
        def __init__(self, total):
            events.append("budget starts")
            super().__init__(total)

    monkeypatch.setattr(orchestrate, "Budget", Recording)
    lines = []
    with Store(tmp_path / "db.duckdb") as store:
        orchestrate.gather(answers(), Inputs(files={"domain_text": tmp_path / "missing.txt"}, selected=("domain",)),
                           store, None, echo=lines.append)
    assert events[:3] == ["prepared", "budget starts", "loaded"]
    assert lines[0] == "Preparing the embedded model smollm2-135m (once)"
    assert lines[1].startswith("    prepared in ") and "not counted in the budget" in lines[1]
