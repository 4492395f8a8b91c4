"""The RAG probe on a real small corpus: retrieval metrics, chunk sizes, budget, cache, open-book check."""

import json
import time

import numpy as np
import pytest
from click.testing import CliRunner

from advisor.errors import InputError, ModelNotFoundError
from advisor.evidence.probe_runner import run_probe
from advisor.probes.common.base import ProbeContext, ProbeResult
from advisor.probes.rag.spec import RagConfig
from advisor.probes.rag.run import RagProbe
from advisor.store.database import Store

TOPICS = {
    "billing/refunds.md": "Annual plans are refunded within thirty days. Monthly plans are never refunded after payment.",
    "billing/vat.md": "Invoices show VAT for every country. The VAT number is printed on each invoice footer.",
    "account/password.md": "Reset your password from the login page. A reset link is emailed and expires in one hour.",
    "account/sso.md": "Single sign on uses SAML with Okta or Azure. Admins upload the identity provider metadata file.",
    "expenses/mileage.md": "Mileage is reimbursed per kilometre driven. Enter the start and end address of each trip.",
    "integrations/slack.md": "Slack notifications announce approvals in a channel. Connect Slack from the integrations page.",
}
QUESTIONS = [
    {"id": "q1", "question": "Are annual plans refunded?", "gold_doc_ids": ["billing/refunds.md"], "answers": ["thirty days"]},
    {"id": "q2", "question": "Where is the VAT number | on invoices?", "gold_doc_ids": ["billing/vat.md"], "answers": ["footer"]},
    {"id": "q3", "question": "How do I reset my password?", "gold_doc_ids": ["account/password.md"], "answers": ["login page"]},
    {"id": "q4", "question": "Which identity providers work with SAML?", "gold_doc_ids": ["account/sso.md", "billing/vat.md"], "answers": ["Okta"]},
    {"id": "q5", "question": "How is mileage reimbursed?", "gold_doc_ids": ["expenses/mileage.md"], "answers": ["per kilometre"]},
]


def _write_corpus(root, topics=TOPICS):
    for rel, text in topics.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"# {rel}\n\n{text}\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tiny_st import build_tiny_st

    texts = list(TOPICS.values()) + [q["question"] for q in QUESTIONS] + list(TOPICS)
    return str(build_tiny_st(tmp_path_factory.mktemp("tiny"), texts))


@pytest.fixture()
def data(tmp_path):
    docs = _write_corpus(tmp_path / "docs")
    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(json.dumps(q) for q in QUESTIONS) + "\n", encoding="utf-8")
    return docs, qa


def _config(docs, qa, model, **kw):
    return RagConfig(corpus=docs, qa=qa, embedder=model, chunk_sizes=kw.pop("chunk_sizes", [8, 64]),
                     overlap=kw.pop("overlap", 2), open_book=False, bootstrap_resamples=200,
                     embedder_backend=kw.pop("embedder_backend", "torch"), **kw)


def _lucene_bm25(docs: list[list[str]], query: list[str], k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """Lucene's BM25 written out from its definition (BM25Similarity), term by term."""
    import math

    n, avgdl = len(docs), sum(map(len, docs)) / len(docs)
    out = np.zeros(n)
    for term in query:
        df = sum(term in d for d in docs)
        if df == 0:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for j, d in enumerate(docs):
            tf = d.count(term)
            out[j] += idf * tf / (tf + k1 * (1 - b + b * len(d) / avgdl))
    return out


def test_bm25_scores_are_lucene_bm25():
    from advisor.probes.rag.retrieval import Bm25, bm25_tokenize

    texts = list(TOPICS.values()) + ["refunded refunded refunded", "the the the", ""]
    index = Bm25(texts)
    docs = [bm25_tokenize(t) for t in texts]
    for query in ["annual refunded plans", "VAT vat invoice", "unknownword", "the slack the"]:
        np.testing.assert_allclose(index.scores([query])[0], _lucene_bm25(docs, bm25_tokenize(query)),
                                   rtol=1e-9, atol=1e-12)


def test_probe_dense_numbers_match_the_evaluator(data, tiny_model):
    """With chunks larger than every document, each document is one chunk: the probe's dense
    numbers must equal sentence-transformers' InformationRetrievalEvaluator on the same texts."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    from advisor.probes.common.embedder import load_embedder

    docs, qa = data
    result = RagProbe().run(_config(docs, qa, tiny_model, chunk_sizes=[64], ks=[1, 3, 5]), ProbeContext(ProbeResult(probe="rag")))
    row = result.summary["sizes"][0]
    assert row["chunks"] == len(TOPICS)
    corpus = {rel: f"# {rel}\n\n{text}" for rel, text in TOPICS.items()}
    queries = {q["id"]: q["question"] for q in QUESTIONS}
    relevant = {q["id"]: set(q["gold_doc_ids"]) for q in QUESTIONS}
    model = load_embedder(tiny_model)
    flat = InformationRetrievalEvaluator(queries, corpus, relevant, accuracy_at_k=[1, 3, 5],
                                         precision_recall_at_k=[1, 3, 5], write_csv=False)(model)
    fn = model.similarity_fn_name
    for k in (1, 3, 5):
        assert row["dense"][f"hit@{k}"] == pytest.approx(flat[f"{fn}_accuracy@{k}"], abs=1e-6)
        assert row["dense"][f"recall@{k}"] == pytest.approx(flat[f"{fn}_recall@{k}"], abs=1e-6)
    assert row["dense"]["mrr@10"] == pytest.approx(flat[f"{fn}_mrr@10"], abs=1e-6)
    assert row["dense"]["ndcg@10"] == pytest.approx(flat[f"{fn}_ndcg@10"], abs=1e-6)


def test_run_stores_evidence_examples_and_reuses_the_embedding_cache(data, tiny_model, tmp_path):
    docs, qa = data
    config = _config(docs, qa, tiny_model)
    with Store(tmp_path / "a.duckdb") as store:
        first = run_probe("rag", config, store, force=True)
        second = run_probe("rag", config, store, force=True)
        (docs / "billing" / "refunds.md").write_text("# Refunds\n\nAnnual plans are refunded within thirty days "
                                                      "of purchase only.\n", encoding="utf-8")
        third = run_probe("rag", config, store, force=True)
        n_examples = store.con.execute("SELECT count(*) FROM example_results").fetchone()[0]
    ev = first.evidence
    for key in ["proxy", "best_chunk_size", "dense_hit_at_5", "dense_mrr_at_10", "bm25_hit_at_5", "bm25_mrr_at_10",
                "dense_minus_bm25_mrr", "mrr_p_value", "max_hit", "n_queries", "corpus_documents", "corpus_chunks"]:
        assert key in ev
    assert ev["proxy"] is False and ev["n_queries"] == 5 and ev["corpus_documents"] == len(TOPICS)
    assert ev["dense_minus_bm25_mrr"] == pytest.approx(ev["dense_mrr_at_10"] - ev["bm25_mrr_at_10"])
    assert len(first.examples) == 5 * 2 * 2 and n_examples == 3 * len(first.examples)
    assert all(r["embedded"] > 0 for r in first.summary["sizes"])
    assert [r["embedded"] for r in second.summary["sizes"]] == [0, 0]
    assert second.evidence == first.evidence
    changed = [r["embedded"] for r in third.summary["sizes"]]
    assert 0 < changed[0] < third.summary["sizes"][0]["chunks"]  # only the edited file's chunks
    assert changed[1] == 1  # at 64 tokens the edited file is one chunk


def test_reuses_stored_run_until_the_corpus_changes(data, tiny_model, tmp_path):
    docs, qa = data
    config = _config(docs, qa, tiny_model, chunk_sizes=[64])
    probe = RagProbe()
    before = probe.fingerprint(config)
    assert probe.fingerprint(config) == before
    (docs / "intro.md").write_text("New page.", encoding="utf-8")
    assert probe.fingerprint(config) != before


def test_answer_relevance_ranks_chunks(tmp_path, tiny_model):
    docs = _write_corpus(tmp_path / "docs")
    qa = tmp_path / "qa.jsonl"
    rows = [{"id": "a", "question": "How long for refunds?", "answers": ["thirty days"]},
            {"id": "b", "question": "Nowhere?", "answers": ["not in any document"]}]
    qa.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    result = RagProbe().run(_config(docs, qa, tiny_model, chunk_sizes=[8]), ProbeContext(ProbeResult(probe="rag")))
    assert result.evidence["relevance_unit"] == "chunk" and result.evidence["n_queries"] == 1
    assert any("excluded" in n for n in result.notes)
    dense = [e for e in result.examples if e.params["retriever"] == "dense"]
    assert dense[0].details["n_relevant"] >= 1 and "#" in dense[0].prediction


def test_proxy_run_is_labelled_and_renders(tmp_path, tiny_model):
    from advisor.report.render import environment

    topics = {f"t{i}.md": f"Topic {i} is about item {i} in detail. The item {i} | costs <b>{i}</b> euros per seat. "
              f"More words about topic {i} are here." for i in range(8)}
    docs = _write_corpus(tmp_path / "docs", topics)
    result = RagProbe().run(_config(docs, None, tiny_model, chunk_sizes=[16]), ProbeContext(ProbeResult(probe="rag")))
    assert result.evidence["proxy"] is True and result.evidence["n_queries"] == 8
    charts = RagProbe().charts(result, tmp_path)
    assert charts["hit_at_k"].read_bytes()[:4] == b"\x89PNG"
    data = result.model_dump(mode="json")
    data["summary"]["missed"] = [{"id": "x", "question": "a | b\nc <script>", "gold": ["t1.md"], "retrieved": ["t2.md"]}]
    text = environment().get_template("probe_rag.md.j2").render(result=data, charts={"hit_at_k": "f/rag.png"})
    assert "Proxy questions" in text and "![hit@k" in text
    missed_row = next(line for line in text.splitlines() if line.startswith("| a "))
    assert missed_row.count("|") - missed_row.count("\\|") == 4 and "<script>" not in missed_row


def test_cli_errors_are_one_line(tmp_path):
    from advisor.cli import cli

    (tmp_path / "empty").mkdir()
    runner = CliRunner()
    out = runner.invoke(cli, ["probe", "rag", "--corpus", str(tmp_path / "empty"), "--db", str(tmp_path / "x.duckdb")])
    assert out.exit_code == 2 and "Error: --corpus" in out.output and "Traceback" not in out.output
    out = runner.invoke(cli, ["probe", "rag", "--corpus", str(tmp_path), "--overlap", "999", "--db", str(tmp_path / "x.duckdb")])
    assert out.exit_code == 2 and "overlap" in out.output


def test_missing_embedder_is_a_clear_error(data):
    from advisor.probes.common.embedder import load_embedder

    with pytest.raises(ModelNotFoundError, match="allow-download"):
        load_embedder("nobody/no-such-embedder-xyz")


def test_unknown_gold_ids_fail_before_embedding(tmp_path, tiny_model):
    docs = _write_corpus(tmp_path / "docs")
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"id": "a", "question": "?", "gold_doc_ids": ["refunds.md"]}), encoding="utf-8")
    with pytest.raises(InputError, match="not in the corpus"):
        RagProbe().run(_config(docs, qa, tiny_model), ProbeContext(ProbeResult(probe="rag")))


@pytest.mark.slow
def test_default_embedder_finds_the_obvious_documents(data, tmp_path):
    docs, qa = data
    config = RagConfig(corpus=docs, qa=qa, chunk_sizes=[32, 128], overlap=4, open_book=False, bootstrap_resamples=200)
    with Store(tmp_path / "s.duckdb") as store:
        result = run_probe("rag", config, store)
    assert result.evidence["dense_hit_at_3"] == 1.0
    assert result.evidence["dense_mrr_at_10"] >= 0.8


@pytest.mark.parametrize("deadline, measured", [(2.0, 0), (14.0, 1)])
def test_the_budget_is_checked_between_embedding_blocks(data, tiny_model, monkeypatch, deadline, measured):
    """A fake clock (one second per deadline check) and blocks of two chunks: the deadline passes while the
    first chunk size is embedded (nothing measured: the probe says how long it would take), or the second
    (the first size is kept)."""
    from advisor.probes.common.base import ProbeContext

    class Clock:
        now = 0.0

        def monotonic(self):
            Clock.now += 1.0
            return Clock.now

    docs, qa = data
    monkeypatch.setattr("advisor.probes.common.embedder.ENCODE_BLOCK", 2)
    monkeypatch.setattr("advisor.probes.common.base.time", Clock())
    config = _config(docs, qa, tiny_model, chunk_sizes=[64, 8])
    result = RagProbe().run(config, ProbeContext(ProbeResult(probe="rag"), deadline=deadline))
    assert len(result.summary["sizes"]) == measured
    note = next(n for n in result.notes if "time budget reached inside the" in n)
    assert "chunks (cached: a re-run continues)" in note
    if measured == 0:
        assert result.status == "empty" and result.summary["budget_needed"] > 0
    else:
        assert result.status == "partial" and result.evidence["best_chunk_size"] == 8



def test_a_budget_spent_by_the_set_up_asks_for_more_than_the_set_up_took(data, tiny_model):
    """When loading the embedder and the questions used the whole budget, the time the error asks for counts
    that set-up (it said "about 0s" when only the chunk sizes' loop was timed)."""
    from advisor.probes.common.base import ProbeContext

    docs, qa = data
    started = time.monotonic()
    result = RagProbe().run(_config(docs, qa, tiny_model), ProbeContext(ProbeResult(probe="rag"),
                                                                        deadline=time.monotonic()))
    took = time.monotonic() - started
    assert result.status == "empty" and result.summary["budget_needed"] >= took, (result.summary, took)

# -- the OpenVINO backend ------------------------------------------------------------------------
def test_the_openvino_backend_gives_the_torch_embeddings_and_exports_once(tmp_path, monkeypatch, tiny_model):
    monkeypatch.setenv("ADVISOR_CACHE", str(tmp_path / "cache"))
    from advisor.probes.common.embedder import backend_of, embedder_key, encode, load_embedder, resolve_backend

    load_embedder.cache_clear()
    reference = load_embedder(tiny_model, backend="torch")
    fast = load_embedder(tiny_model, backend="openvino")
    assert backend_of(reference) == "torch" and backend_of(fast) in ("openvino-bf16", "openvino-fp32")
    texts = list(TOPICS.values()) + ["a short one", "How do I reset my password? " * 20]
    for query in (False, True):
        a, b = encode(reference, texts, query=query), encode(fast, texts, query=query)
        assert a.shape == b.shape
        assert float((a * b).sum(axis=1).min()) > 0.99  # the same vectors, up to bf16 rounding
    assert embedder_key(tiny_model, reference) != embedder_key(tiny_model, fast)  # never mixed in the cache
    exported = list((tmp_path / "cache" / "embedders").glob("*/model.xml"))
    assert len(exported) == 1
    stamp = exported[0].stat().st_mtime_ns
    load_embedder.cache_clear()
    load_embedder(tiny_model, backend="openvino")
    assert exported[0].stat().st_mtime_ns == stamp  # exported once, then read from the cache
    assert resolve_backend("auto") == "openvino"
    load_embedder.cache_clear()
    import sys

    assert sys.modules.get("openvino_telemetry") is None  # OpenVINO's usage telemetry never loaded


def test_a_run_says_which_backend_embedded(data, tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_CACHE", str(tmp_path / "cache"))
    from advisor.report.render import environment

    docs, qa = data
    result = RagProbe().run(_config(docs, qa, tiny_model, embedder_backend="openvino", chunk_sizes=[64]),
                            ProbeContext(ProbeResult(probe="rag")))
    assert result.summary["embedder_backend"].startswith("openvino-")
    text = environment().get_template("probe_rag.md.j2").render(result=result.model_dump(mode="json"), charts={})
    assert "embeddings computed with openvino-" in text


def test_without_openvino_auto_is_torch_and_asking_for_it_is_one_clear_error(monkeypatch, tiny_model):
    from advisor.errors import ModelNotFoundError
    from advisor.probes.common import embedder_openvino
    from advisor.probes.common.embedder import load_embedder, resolve_backend

    monkeypatch.setattr(embedder_openvino, "available", lambda: False)
    assert resolve_backend("auto") == "torch"
    load_embedder.cache_clear()
    with pytest.raises(ModelNotFoundError, match="pip install openvino, or use --embedder-backend torch"):
        load_embedder(tiny_model, backend="openvino")


# -- a corpus too large for the budget -------------------------------------------------------------
def test_sampling_keeps_every_gold_document_and_a_uniform_prefix_of_the_rest():
    from advisor.probes.rag.corpus import Document
    from advisor.probes.rag.sample import choose

    docs = [Document(f"d{i:02d}", "x") for i in range(30)]
    cost = {d.id: 1.0 for d in docs}
    gold = {"d03", "d17"}
    picked = choose(docs, cost, gold, available=12.0, seed=5)
    ids = [d.id for d in picked]
    assert gold <= set(ids) and len(ids) == 12 and ids == sorted(ids)  # corpus order
    again = choose(docs, cost, gold, available=12.0, seed=5)
    assert [d.id for d in again] == ids and [d.id for d in choose(docs, cost, gold, 12.0, seed=6)] != ids
    assert choose(docs, cost, gold, available=30.0, seed=5) is None  # everything fits: nothing sampled
    assert choose(docs, cost, gold, available=2.0, seed=5) is None  # not even the gold documents fit
    counts = {d.id: 0 for d in docs}
    for seed in range(600):  # uniform: each non-gold document is drawn about equally often (10 of 28)
        for d in choose(docs, cost, gold, available=12.0, seed=seed):
            counts[d.id] += 1
    rates = [counts[d.id] / 600 for d in docs if d.id not in gold]
    assert max(abs(r - 10 / 28) for r in rates) < 0.08


def test_a_corpus_too_large_for_the_budget_is_sampled_and_reported_as_optimistic(data, tiny_model, monkeypatch):

    from advisor.evidence.evidence_set import EvidenceSet
    from advisor.evidence.interpret import interpret

    docs, qa = data
    words = " ".join(TOPICS.values()).split()
    rng = __import__("random").Random(0)
    for i in range(40):  # distractors
        (docs / "filler").mkdir(exist_ok=True)
        (docs / "filler" / f"f{i:02d}.md").write_text(" ".join(rng.choices(words, k=30)) + "\n", encoding="utf-8")

    class Clock:  # the first embedded block appears to take 25 s: the corpus would need more than the budget
        now = 0.0

        def monotonic(self):
            Clock.now += 25.0
            return Clock.now

    monkeypatch.setattr("advisor.probes.rag.sample.time", Clock())
    config = _config(docs, qa, tiny_model, chunk_sizes=[8, 64])
    result = RagProbe().run(config, ProbeContext(ProbeResult(probe="rag"), deadline=time.monotonic() + 60))
    sample = result.summary["sample"]
    gold = {g for q in QUESTIONS for g in q["gold_doc_ids"]}
    assert result.status == "done"
    assert sample["total_documents"] == len(TOPICS) + 40 and sample["gold_documents"] == len(gold)
    assert sample["gold_documents"] < sample["documents"] < sample["total_documents"]
    assert sample["full_seconds"] > sample["available_seconds"] and sample["budget_seconds"] > 60 * 0.7
    ev = result.evidence
    assert ev["corpus_sampled"] is True and ev["corpus_documents"] == sample["total_documents"]
    assert ev["sampled_documents"] == sample["documents"]
    assert "optimistic" in result.headline and any(n.startswith("SAMPLED:") for n in result.notes)
    retrieved = {u for ex in result.examples for u in ex.details["top"]}
    assert gold <= {d for d in retrieved} | gold and len({u for u in retrieved if u.startswith("filler/")}) <= (
        sample["documents"] - sample["gold_documents"])  # only sampled documents can be retrieved
    facts = interpret(EvidenceSet(results=[result])).facts["data"]
    assert "retrieval_hit_high" in facts and "retrieval_hit_low" not in facts  # can show failure, never success
    from advisor.report.render import environment

    text = environment().get_template("probe_rag.md.j2").render(result=result.model_dump(mode="json"), charts={})
    assert "**Sampled corpus.**" in text and f"all {sample['total_documents']} documents" in text


def test_without_a_budget_nothing_is_sampled(data, tiny_model):
    docs, qa = data
    result = RagProbe().run(_config(docs, qa, tiny_model, chunk_sizes=[8]), ProbeContext(ProbeResult(probe="rag")))
    assert "sample" not in result.summary and result.evidence["corpus_sampled"] is False


def test_the_open_book_check_on_a_local_model_names_it_and_says_when_it_computed_in_bf16(data, tiny_model,
                                                                                       tiny_base_lm_path):
    import torch

    from advisor.probes.common.runtime import ModelSpec, load_causal_lm

    docs, qa = data
    runs = {}
    for b in ("off", "on"):
        config = _config(docs, qa, tiny_model, chunk_sizes=[64], bf16=b).model_copy(
            update={"open_book": True, "model": str(tiny_base_lm_path), "max_new_tokens": 4})
        runs[b] = run_probe("rag", config)
    for b, result in runs.items():
        ob = result.summary["open_book"]
        assert ob["bf16"] is (b == "on") and ob["role"] == "proxy" and ob["n"] == len(QUESTIONS)
        assert ob["model"] == str(tiny_base_lm_path)  # the name it was given
    loaded = load_causal_lm(ModelSpec(name=str(tiny_base_lm_path)))
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())


def test_without_a_target_the_open_book_check_runs_on_the_probe_model_unless_turned_off(data, tiny_model,
                                                                                        tiny_base_lm_path):
    docs, qa = data
    base = _config(docs, qa, tiny_model, chunk_sizes=[64]).model_copy(
        update={"open_book": None, "model": str(tiny_base_lm_path), "max_new_tokens": 4})
    on = run_probe("rag", base)
    assert on.summary["open_book"]["role"] == "proxy" and on.summary["open_book"]["n"] == len(QUESTIONS)
    off = run_probe("rag", base.model_copy(update={"open_book_on_proxy": False, "model": "no-such-model"}))
    assert "open_book" not in off.summary and "open_book_lift" not in off.evidence
    assert any(n.startswith("open-book check not run on the probe model") and "--target" in n for n in off.notes)
    assert not any("open-book skipped" in n for n in off.notes)  # no model was even looked for
    assert off.evidence["dense_hit_at_1"] == on.evidence["dense_hit_at_1"]  # retrieval measured all the same
