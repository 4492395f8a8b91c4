"""The built-in rulebook: loads, is large enough, cites its sources, and uses only the evidence contract."""

from __future__ import annotations

import re
import string

import pytest

from advisor.decision.conditions import FieldRef, Not, fields_of
from advisor.decision.rulebook import STRATEGIES, fact_type, load_rulebook

# The probe facts the rulebook may test: the contract with the probes.
EVIDENCE_FIELDS = {  # the decision facts of advisor/evidence/interpret.py: the built-in rules read no raw probe fact
    "quality.accuracy_low", "quality.accuracy_high", "quality.above_chance", "quality.demonstrations_gain_low",
    "quality.demonstrations_gain_high", "quality.seed_spread_low", "quality.format_failure_low",
    "quality.format_failure_high", "quality.open_book_lift_low", "quality.open_book_lift_high",
    "quality.closed_book_low",
    "data.tuning_gain_low", "data.tuning_gain_high", "data.labels_learnable", "data.label_noise_suspected",
    "data.crossover_examples_low", "data.crossover_examples_high", "data.more_data_helps", "data.forgetting_ratio_low",
    "data.forgetting_ratio_high", "data.retrieval_real_questions",
    "data.retrieval_hit_low", "data.retrieval_hit_high", "data.retrieval_max_hit_high", "data.lexical_beats_dense",
    "data.vocabulary_gap_low", "data.vocabulary_gap_high",
}

#: true/false facts a rule may test, each decided by an interval or a significance test (what decides it)
INTERVAL_BOOLEANS = {
    "quality.above_chance": "the Wilson interval of the accuracy against the majority class",
    "data.proxy_competent": "the Wilson interval of the probe model's accuracy against the majority class",
    "data.labels_learnable": "the Wilson interval of the adapter's accuracy against the majority class",
    "data.label_noise_suspected": "the Wilson interval's top within 5 points of the majority class",
    "data.more_data_helps": "the learning curve's bootstrap band at your label count",
    "data.lexical_beats_dense": "a paired test of MRR@10, p < 0.05",
}
#: true/false facts that say what was measured, not how much
PROVENANCE_FLAGS = {"data.retrieval_real_questions"}
#: the comparisons by which a bound supports a claim: a low end "at least", a high end "below"
SUPPORTING = {"_low": {"gt", "gte"}, "_high": {"lt", "lte"}}
MIRRORED = {"lt": "gt", "lte": "gte", "gt": "lt", "gte": "lte", "eq": "eq", "ne": "ne"}  # sides swapped
NEGATED = {"lt": "gte", "lte": "gt", "gt": "lte", "gte": "lt", "eq": "ne", "ne": "eq"}  # under a ``not``


def _polarised(cond, negated=False):
    """(comparison, negated) for every comparison of a condition, ``negated`` under an odd number of ``not``."""
    if isinstance(cond, Not):
        yield from _polarised(cond.child, not negated)
    elif hasattr(cond, "children"):
        for child in cond.children:
            yield from _polarised(child, negated)
    else:
        yield cond, negated


def point_value_problems(rules) -> list[str]:
    """Every rule condition that tests a measurement without its interval: a measured number that is not a bound
    (``_low``/``_high``), a true/false fact no interval decides, or a rule whose bounds never support its claim
    (a low end compared "at least", a high end "below")."""
    problems = []
    for rule in rules:
        supported, bounds = set(), set()
        for cmp, negated in _polarised(rule.when):
            if cmp.op == "exists":  # whether it was measured, not how much
                continue
            sides = [(cmp.field, cmp.op)]
            if isinstance(cmp.operand, FieldRef):  # ``A lte B_high`` is ``B_high gte A``
                sides.append((cmp.operand.field, MIRRORED.get(cmp.op, cmp.op)))
            for name, op in sides:
                kind = fact_type(name).kind if "." in name and fact_type(name) else None
                if kind in ("number", "integer"):
                    end = next((e for e in SUPPORTING if name.endswith(e)), None)
                    if end is None:
                        problems.append(f"{rule.id}: {name} is a point value; test {name}_low or {name}_high")
                        continue
                    bounds.add(name[: -len(end)])
                    if (NEGATED.get(op, op) if negated else op) in SUPPORTING[end]:
                        supported.add(name[: -len(end)])
                elif kind == "bool" and name not in INTERVAL_BOOLEANS and name not in PROVENANCE_FLAGS:
                    problems.append(f"{rule.id}: {name} is true or false but no interval decides it")
        problems += [f"{rule.id}: no comparison of {m}_low (at least) or {m}_high (below) supports the claim"
                     for m in sorted(bounds - supported)]
    return problems

SEED_ARTICLES = {
    "000": "« Prompt engineering et fine-tuning : quelles sont les différences ? »",
    "001": "« Fine tuning vs prompt engineering : principales différences », Hostinger",
    "002": "« Le Fine-Tuning de LLM devient obsolète ? », reglo.ai",
    "003": "« Qu'est-ce que la personnalisation des LLM ? », IBM Think",
}

REFERENCE_MARKERS = {
    "OpenAI accuracy": "OpenAI, “Optimizing LLM accuracy”",
    "OpenAI fine-tuning": "OpenAI, “Fine-tuning” guide",
    "Azure": "Microsoft Azure, “Fine-tuning considerations”",
    "Anthropic": "Anthropic, prompt engineering overview",
    "Google": "Google Cloud, Vertex AI",
    "AWS": "AWS Prescriptive Guidance",
    "Ovadia": "Ovadia et al. (2024)",
    "Balaguer": "Balaguer et al. (2024)",
    "Pecher": "Pecher, Srba & Bielikova (2025)",
    "Zhao": "Zhao et al. (2024), LoRA Land",
    "Mosbach": "Mosbach et al. (2023)",
    "Biderman": "Biderman et al. (2024)",
    "Zhang": "Zhang et al. (2024), RAFT",
    "Lester": "Lester et al. (2021)",
    "Nori": "Nori et al. (2023)",
}

PLACEHOLDERS = {"eval_size", "best_k", "chunk_size", "method", "labels_target"}


@pytest.fixture(scope="module")
def rules():
    return load_rulebook().rules


def all_sources(rules) -> str:
    return "\n".join(r.source for r in rules)


def test_loads_with_enough_rules_in_several_files(rules):
    assert len(rules) >= 40
    assert len({r.file for r in rules}) >= 5


def test_ids_unique_and_every_rule_sourced_and_acting(rules):
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids))
    for rule in rules:
        assert rule.source.strip(), rule.id
        assert rule.effect or rule.exclude or rule.method, f"{rule.id}: does nothing"


def test_rationale_is_one_sentence(rules):
    for rule in rules:
        text = rule.rationale.strip()
        assert text.endswith("."), rule.id
        assert not re.search(r"[.!?]\s+[A-Z]", text[:-1]), f"{rule.id}: one sentence only"


def test_effects_are_calibrated(rules):
    for rule in rules:
        assert all(abs(v) <= 4 for v in rule.effect.values()), rule.id


def test_every_strategy_is_favoured_somewhere(rules):
    for strategy in STRATEGIES:
        assert any(r.effect.get(strategy, 0) > 0 for r in rules), strategy


def test_every_seed_article_is_cited(rules):
    sources = all_sources(rules)
    for seed, title in SEED_ARTICLES.items():
        assert title in sources, f"seed {seed} not cited"


def test_many_references_are_cited(rules):
    sources = all_sources(rules)
    cited = [name for name, marker in REFERENCE_MARKERS.items() if marker in sources]
    assert len(cited) >= 8, cited


def test_evidence_fields_follow_the_probe_contract(rules):
    used = {f for r in rules for f in fields_of(r.when) if "." in f}
    assert used, "the rulebook should test probe evidence"
    assert used <= EVIDENCE_FIELDS, sorted(used - EVIDENCE_FIELDS)


def test_no_rule_fires_on_a_point_value_without_its_interval(rules):
    assert point_value_problems(rules) == []
    assert {f for r in rules for f in fields_of(r.when) if f.endswith(("_low", "_high"))} >= {
        "quality.seed_spread_low", "data.vocabulary_gap_low", "data.vocabulary_gap_high", "data.forgetting_ratio_low",
        "data.forgetting_ratio_high", "data.crossover_examples_low", "data.crossover_examples_high"}


def test_every_interval_boolean_is_declared_as_decided_by_an_interval_or_a_test():
    for name in INTERVAL_BOOLEANS:
        kind = fact_type(name)
        assert kind is not None and kind.kind == "bool", name
        assert any(w in kind.description for w in ("interval", "band", "p <")), (name, kind.description)


@pytest.mark.parametrize("when, problem", [
    ("{field: data.vocabulary_gap, gte: 1.5}", "data.vocabulary_gap is a point value"),
    ("{field: quality.seed_spread, gte: 0.05}", "quality.seed_spread is a point value"),
    ("{field: data.crossover_examples, lte: {field: labeled_examples}}", "data.crossover_examples is a point value"),
    ("{field: labeled_examples, gte: {field: data.crossover_examples}}", "data.crossover_examples is a point value"),
    ("{field: few_shot.best_accuracy, gte: 0.9}", "few_shot.best_accuracy is a point value"),
    ("{field: lora.significant, eq: true}", "lora.significant is true or false but no interval decides it"),
    ("{field: data.vocabulary_gap_high, gte: 1.5}", "no comparison of data.vocabulary_gap_low (at least)"),
    ("{not: {field: data.forgetting_ratio_low, gte: 1.15}}", "no comparison of data.forgetting_ratio_low"),
    ("{field: labeled_examples, gte: {field: data.crossover_examples_low}}", "data.crossover_examples_low (at least)"),
])
def test_the_point_value_check_catches_a_rule_without_its_interval(tmp_path, when, problem):
    (tmp_path / "r.yaml").write_text(f"""rules:
  - id: my-rule
    when: {when}
    effect: {{fine_tuning: 1}}
    rationale: A rule that claims something about a measurement.
    source: "Our own experience"
""")
    problems = point_value_problems(load_rulebook(tmp_path).rules)
    assert len(problems) == 1 and problem in problems[0], problems


@pytest.mark.parametrize("when", [
    "{field: data.vocabulary_gap_low, gte: 1.5}",
    "{field: labeled_examples, gte: {field: data.crossover_examples_high}}",
    "{all: [{field: data.tuning_gain_low, gt: 0}, {field: data.tuning_gain_low, lt: 0.03}]}",
    "{not: {field: data.forgetting_ratio_high, gte: 1.05}}",
    "{field: data.labels_learnable, eq: true}",
    "{all: [{field: lora.best_accuracy, exists: true}, {field: lora.crossover_examples, exists: false}]}",
])
def test_the_point_value_check_accepts_bounds_that_support_the_claim(tmp_path, when):
    (tmp_path / "r.yaml").write_text(f"""rules:
  - id: my-rule
    when: {when}
    effect: {{fine_tuning: 1}}
    rationale: A rule that claims something about a measurement.
    source: "Our own experience"
""")
    assert point_value_problems(load_rulebook(tmp_path).rules) == []


def test_evidence_rules_live_in_evidence_file(rules):
    for rule in rules:
        if rule.uses_evidence:
            assert rule.file.endswith("evidence.yaml"), rule.id


def test_next_steps_use_known_placeholders(rules):
    for rule in rules:
        if rule.next_step:
            names = {f for _, f, _, _ in string.Formatter().parse(rule.next_step) if f}
            assert names <= PLACEHOLDERS, f"{rule.id}: {names - PLACEHOLDERS}"


def test_every_rule_cites_a_primary_source_beside_the_seed_articles(rules):
    """A vendor's documentation or a paper, not only blog or press pages (the seeds stay where they gave the idea)."""
    seed_titles = [title.split(",")[0] for title in SEED_ARTICLES.values()]
    blog_only = [r.id for r in rules
                 if all(any(t in part for t in seed_titles) for part in r.source.split(";"))]
    assert blog_only == []


def test_the_rule_list_in_the_docs_is_the_rulebook():
    from pathlib import Path

    from advisor.commands.rules import rules_markdown

    docs = (Path(__file__).resolve().parent.parent / "docs" / "rulebook.md").read_text(encoding="utf-8")
    assert docs.rstrip().endswith(rules_markdown(load_rulebook()).rstrip()), \
        "docs/rulebook.md is out of date: paste `advisor rules list --markdown` into its last section"
