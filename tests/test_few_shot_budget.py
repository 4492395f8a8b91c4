"""The few-shot probe within a time budget: the cheapest informative point first, then more k values, then more
examples, then more seeds; on many-label data (60 synthetic intents) a budget that allows only the first point
returns that point, not nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from advisor.errors import InputError
from advisor.probes.common.base import ProbeContext, ProbeResult
from advisor.probes.few_shot.run import FewShotProbe
from advisor.probes.few_shot.schedule import in_eval_order, merge, plan_slices
from advisor.probes.few_shot.spec import FewShotConfig, check
from benchmarks.many_labels import make_intents


def config(data: Path, model: Path, **kw) -> FewShotConfig:
    base = {"data": data, "task": "classification", "model": {"name": str(model), "device": "cpu"},
            "k": [0, 2], "seeds": 2, "eval_size": 60, "bf16": "off"}
    return FewShotConfig.model_validate({**base, **kw})


@dataclasses.dataclass
class StopWhen(ProbeContext):
    """A context whose budget runs out when ``stop(result)`` says so (checked where the probe checks its
    deadline), so a test decides where the budget ends without timing anything."""

    stop: object = None

    def out_of_time(self) -> bool:
        return bool(self.stop(self.result))


def widest(result: ProbeResult) -> int:
    return max((r["n"] for r in result.summary.get("per_k") or []), default=0)


def test_the_plan_measures_one_k_on_a_small_sample_first_then_k_values_then_examples_then_seeds():
    slices = plan_slices([0, 1, 4, 8], seeds=2, n=100, budgeted=True)
    assert slices[:3] == [(0, 0, 0, 10), (0, 0, 10, 20), (0, 0, 20, 30)]  # the first point, published every 10
    assert slices[3:6] == [(1, 0, 0, 30), (4, 0, 0, 30), (8, 0, 0, 30)]  # the other k values on that sample
    assert slices[6:9] == [(0, 0, 30, 60), (0, 0, 60, 90), (0, 0, 90, 100)]  # then widened to every example
    assert slices[-3:] == [(1, 1, 0, 100), (4, 1, 0, 100), (8, 1, 0, 100)]  # more seeds last
    assert sum(hi - lo for k, s, lo, hi in slices if s == 0) == 4 * 100  # every k on every example once
    assert plan_slices([2, 4], seeds=1, n=12, budgeted=True)[0] == (2, 0, 0, 10)  # no k=0: the smallest k
    assert plan_slices([0, 4], seeds=2, n=50, budgeted=False) == [(0, 0, 0, 50), (4, 0, 0, 50), (4, 1, 0, 50)]


def test_slices_merged_and_put_back_in_eval_order_equal_one_run():
    first = {"idx": [3, 0], "pred": ["b", "a"], "gold": ["b", "b"], "tokens": 5, "wall_seconds": 1.0,
             "usage": {"latency": [0.3, 0.1]}, "seed": 0, "demo_ids": ["x", "y"]}
    second = {"idx": [1, 2], "pred": ["c", "d"], "gold": ["c", "a"], "tokens": 7, "wall_seconds": 2.0,
              "usage": {"latency": [0.2, 0.4]}, "seed": 0, "demo_ids": ["x", "y"]}
    merged = in_eval_order(merge(merge(None, first), second))
    assert merged["idx"] == [0, 1, 2, 3] and merged["pred"] == ["a", "c", "d", "b"]
    assert merged["gold"] == ["b", "c", "a", "b"] and merged["usage"]["latency"] == [0.1, 0.2, 0.4, 0.3]
    assert merged["tokens"] == 12 and merged["wall_seconds"] == 3.0 and merged["demo_ids"] == ["x", "y"]
    assert first["idx"] == [3, 0]  # the slices themselves are not changed


def test_a_budget_for_only_the_first_point_on_many_labels_returns_that_point(tmp_path, tiny_base_lm_path):
    data = make_intents(tmp_path / "intents.jsonl", intents=60, per_intent=4)
    cfg = config(data, tiny_base_lm_path, k=[0, 1, 2], eval_size=100)
    ctx = StopWhen(result=ProbeResult(probe="few-shot"), deadline=float("inf"), stop=lambda r: widest(r) >= 30)
    result = FewShotProbe().run(cfg, ctx)
    assert result.status == "partial"
    assert [(r["k"], r["n"]) for r in result.summary["per_k"]] == [(0, 30)]
    ev = result.evidence
    assert ev["n_labels"] == 60 and ev["eval_size"] == 30 and ev["best_k"] == 0 and ev["complete"] is False
    assert ev["ci_halfwidth"] > 0.05  # a wide interval, not no interval
    assert "on 30 held-out examples (of 100; the time budget allowed no more)" in result.headline
    assert any("measured k=0 on 30 of 100 held-out examples" in n for n in result.notes)
    assert len(result.examples) == 30 and {e.params["k"] for e in result.examples} == {0}
    assert len({e.example_id for e in result.examples}) == 30


def test_the_budget_then_adds_k_values_on_the_sample_before_widening(tmp_path, tiny_base_lm_path):
    data = make_intents(tmp_path / "intents.jsonl", intents=12, per_intent=10)
    cfg = config(data, tiny_base_lm_path, k=[0, 1, 2], eval_size=60)
    stop = lambda r: len(r.summary.get("per_k") or []) == 3  # noqa: E731  every k measured once
    result = FewShotProbe().run(cfg, StopWhen(result=ProbeResult(probe="few-shot"), deadline=float("inf"), stop=stop))
    assert [(r["k"], r["n"]) for r in result.summary["per_k"]] == [(0, 30), (1, 30), (2, 30)]
    assert result.evidence["eval_size"] == 30


def test_with_time_enough_a_budgeted_run_measures_what_an_unbudgeted_one_does(tmp_path, tiny_base_lm_path):
    data = make_intents(tmp_path / "intents.jsonl", intents=8, per_intent=12)
    cfg = config(data, tiny_base_lm_path, eval_size=45)
    unbudgeted = FewShotProbe().run(cfg, ProbeContext(result=ProbeResult(probe="few-shot")))
    budgeted = FewShotProbe().run(cfg, StopWhen(result=ProbeResult(probe="few-shot"), deadline=float("inf"),
                                                stop=lambda r: False))
    assert budgeted.status == unbudgeted.status == "done" and budgeted.evidence["complete"] is True
    keep = ("k", "seeds", "n", "accuracy", "macro_f1", "confusion")
    assert [{key: r[key] for key in keep} for r in budgeted.summary["per_k"]] == \
        [{key: r[key] for key in keep} for r in unbudgeted.summary["per_k"]]
    assert budgeted.evidence == pytest.approx(unbudgeted.evidence)
    assert len(budgeted.examples) == len(unbudgeted.examples) == 45 * 3  # k=0 once, k=2 with two seeds


def test_free_text_labels_forced_to_classification_are_refused_in_one_line(tmp_path):
    rows = "\n".join(f'{{"text": "question {i}", "label": "a free answer number {i}"}}' for i in range(120))
    (tmp_path / "free.jsonl").write_text(rows + "\n")
    cfg = FewShotConfig(data=tmp_path / "free.jsonl", task="classification")
    with pytest.raises(InputError, match=r"120 distinct values in 120 rows, too many to be classes; .*task_type "
                                         r"generation.*--label-col") as err:
        check(cfg)
    assert "\n" not in str(err.value)
    many = make_intents(tmp_path / "intents.jsonl", intents=60, per_intent=3)
    check(FewShotConfig(data=many, task="classification"))  # 60 classes in 180 rows are classes
