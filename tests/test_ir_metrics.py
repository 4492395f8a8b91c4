"""Ranking metrics against their trec_eval definitions, on hand-made and random rankings."""

import math
import random

import numpy as np
import pytest

from advisor.probes.rag import ir_metrics as m
from advisor.probes.rag.retrieval import Ranker, dense_rank


def _evaluator_cls():
    try:
        from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
    except ImportError:  # older layout
        from sentence_transformers.evaluation import InformationRetrievalEvaluator
    return InformationRetrievalEvaluator


def test_hand_computed_case():
    ranked, rel = ["a", "b", "c", "d"], {"b", "d"}
    assert m.hit_at_k(ranked, rel, 1) == 0.0
    assert m.hit_at_k(ranked, rel, 2) == 1.0
    assert m.precision_at_k(ranked, rel, 3) == pytest.approx(1 / 3)
    assert m.precision_at_k(ranked, rel, 10) == pytest.approx(2 / 10)  # divides by k, not list length
    assert m.recall_at_k(ranked, rel, 3) == pytest.approx(1 / 2)
    assert m.reciprocal_rank(ranked, rel, 10) == pytest.approx(1 / 2)
    assert m.reciprocal_rank(ranked, rel, 1) == 0.0
    ideal = 1 + 1 / math.log2(3)
    assert m.ndcg_at_k(ranked, rel, 10) == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert m.average_precision_at_k(ranked, rel, 100) == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert m.first_relevant_rank(ranked, rel) == 2


def test_perfect_and_empty_rankings():
    assert m.ndcg_at_k(["x", "y"], {"x", "y"}, 10) == pytest.approx(1.0)
    assert m.ndcg_at_k(["x"], {"x", "y", "z"}, 1) == pytest.approx(1.0)  # ideal truncated at k
    assert m.query_metrics([], {"x"}, [1, 5])["hit@5"] == 0.0
    assert m.recall_at_k(["x"], set(), 1) == 0.0


def test_mean_metrics_is_macro_average():
    rows = [m.query_metrics(["a"], {"a"}, [1]), m.query_metrics(["b"], {"a"}, [1])]
    assert m.mean_metrics(rows)["hit@1"] == 0.5


def _compare(ours: list[dict], evaluator_scores: dict, ks: list[int]) -> None:
    mean = m.mean_metrics(ours)
    for k in ks:
        assert mean[f"hit@{k}"] == pytest.approx(evaluator_scores["accuracy@k"][k], abs=1e-6)
        assert mean[f"precision@{k}"] == pytest.approx(evaluator_scores["precision@k"][k], abs=1e-6)
        assert mean[f"recall@{k}"] == pytest.approx(evaluator_scores["recall@k"][k], abs=1e-6)
    assert mean["mrr@10"] == pytest.approx(evaluator_scores["mrr@k"][10], abs=1e-6)
    assert mean["ndcg@10"] == pytest.approx(evaluator_scores["ndcg@k"][10], abs=1e-6)
    assert mean["map@100"] == pytest.approx(evaluator_scores["map@k"][100], abs=1e-6)


def test_matches_information_retrieval_evaluator_on_random_rankings_with_ties():
    rng = random.Random(7)
    ks = [1, 3, 5, 10]
    corpus = {f"d{i:03d}": f"doc {i}" for i in range(150)}
    queries = {f"q{i}": f"query {i}" for i in range(40)}
    relevant = {q: set(rng.sample(list(corpus), rng.randint(1, 15))) for q in queries}
    evaluator = _evaluator_cls()(queries, corpus, relevant, show_progress_bar=False)
    results, ours = [], []
    ranker = Ranker(list(corpus), depth=100)
    for q in evaluator.queries_ids:
        scores = np.array([rng.choice([0.1, 0.2, 0.3, 0.4, 0.5]) for _ in corpus], dtype=np.float32)
        results.append([{"corpus_id": cid, "score": float(s)} for cid, s in zip(corpus, scores)])
        ranked = [cid for cid, _ in ranker.rank(scores[None, :])[0]]
        ours.append(m.query_metrics(ranked, relevant[q], ks))
    _compare(ours, evaluator.compute_metrics(results), ks)


def test_matches_evaluator_end_to_end_on_real_embeddings(tmp_path):
    from tiny_st import build_tiny_st

    from advisor.probes.common.embedder import encode, load_embedder

    rng = random.Random(3)
    words = "refund invoice plan seat vat card receipt export bank sync slack user role admin".split()
    corpus = {f"doc-{i:02d}": " ".join(rng.choices(words, k=12)) for i in range(60)}
    queries = {f"q{i}": " ".join(rng.choices(words, k=4)) for i in range(25)}
    relevant = {q: set(rng.sample(list(corpus), rng.randint(1, 3))) for q in queries}
    model = load_embedder(str(build_tiny_st(tmp_path, list(corpus.values()) + list(queries.values()))))
    evaluator = _evaluator_cls()(queries, corpus, relevant, show_progress_bar=False, write_csv=False)
    flat = evaluator(model)
    fn = model.similarity_fn_name
    expected = {name: {k: flat[f"{fn}_{name.replace('@k', f'@{k}')}"] for k in ks}
                for name, ks in [("accuracy@k", [1, 3, 5, 10]), ("precision@k", [1, 3, 5, 10]),
                                 ("recall@k", [1, 3, 5, 10]), ("mrr@k", [10]), ("ndcg@k", [10]), ("map@k", [100])]}
    q_emb = encode(model, list(queries.values()), query=True)
    c_emb = encode(model, list(corpus.values()))
    ranked = dense_rank(q_emb, c_emb, Ranker(list(corpus), depth=100))
    ours = [m.query_metrics([u for u, _ in r], relevant[q], [1, 3, 5, 10]) for r, q in zip(ranked, queries)]
    _compare(ours, expected, [1, 3, 5, 10])


def test_document_score_is_its_best_chunk():
    ranker = Ranker(["a", "a", "b", "c", "c"], depth=3)
    scores = np.array([[0.1, 0.9, 0.5, 0.2, 0.95]], dtype=np.float32)
    assert [u for u, _ in ranker.rank(scores)[0]] == ["c", "a", "b"]
    tied = np.array([[0.5, 0.5, 0.5, 0.5, 0.5]], dtype=np.float32)
    assert [u for u, _ in ranker.rank(tied)[0]] == ["a", "b", "c"]  # ties: ascending id
