"""The built-in rulebook: loads, is large enough, cites its sources, and uses only the evidence contract."""

from __future__ import annotations

import re
import string

import pytest

from advisor.decision.conditions import fields_of
from advisor.decision.rulebook import STRATEGIES, load_rulebook

# The probe facts the rulebook may test: the contract with the probes.
EVIDENCE_FIELDS = {  # the decision facts of advisor/evidence/interpret.py: the built-in rules read no raw probe fact
    "quality.accuracy_low", "quality.accuracy_high", "quality.above_chance", "quality.demonstrations_gain_low",
    "quality.demonstrations_gain_high", "quality.seed_spread", "quality.format_failure_low",
    "quality.format_failure_high", "quality.open_book_lift_low", "quality.open_book_lift_high",
    "quality.closed_book_low",
    "data.tuning_gain_low", "data.tuning_gain_high", "data.labels_learnable", "data.label_noise_suspected",
    "data.crossover_examples", "data.more_data_helps", "data.forgetting_ratio", "data.retrieval_real_questions",
    "data.retrieval_hit_low", "data.retrieval_hit_high", "data.retrieval_max_hit_high", "data.lexical_beats_dense",
    "data.vocabulary_gap",
}

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
