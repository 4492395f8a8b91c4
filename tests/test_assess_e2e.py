"""`advisor assess` end to end on a slice of the bundled example: every probe, the store, the report."""

import json
import os
import shutil

import duckdb
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from tests.helpers import EXAMPLE


@pytest.fixture(scope="module")
def example_slice(tmp_path_factory):
    """60 tickets, the documents of two areas, their questions, and a domain-text excerpt."""
    root = tmp_path_factory.mktemp("slice")
    tickets = (EXAMPLE / "tickets.jsonl").read_text().splitlines()[:60]
    (root / "tickets.jsonl").write_text("\n".join(tickets) + "\n")
    for area in ("billing", "api"):
        shutil.copytree(EXAMPLE / "docs" / area, root / "docs" / area)
    questions = [json.loads(line) for line in (EXAMPLE / "qa.jsonl").read_text().splitlines()]
    kept = [q for q in questions if all(g.split("/")[0] in ("billing", "api") for g in q["gold_doc_ids"])]
    (root / "qa.jsonl").write_text("\n".join(json.dumps(q) for q in kept[:12]) + "\n")
    (root / "domain.txt").write_text((EXAMPLE / "domain.txt").read_text()[:3000])
    return root


@pytest.fixture(scope="module")
def tiny_embedder(tmp_path_factory, example_slice):
    from tiny_st import build_tiny_st

    texts = [p.read_text() for p in (example_slice / "docs").rglob("*.md")]
    texts += (example_slice / "qa.jsonl").read_text().splitlines()
    return build_tiny_st(tmp_path_factory.mktemp("st"), texts)


def assess(example_slice, tmp_path, model, embedder, *extra):
    args = ["assess", "--no-input", "--answers", EXAMPLE / "answers.yaml",
            "--data", example_slice / "tickets.jsonl", "--corpus", example_slice / "docs",
            "--qa", example_slice / "qa.jsonl", "--domain-text", example_slice / "domain.txt",
            "--model", model, "--embedder", embedder, "--eval-size", "20", "--budget", "10m",
            "--out", tmp_path / "report.md", *extra]
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def every_probe(example_slice, tiny_lm_path, tiny_embedder, tmp_path_factory):
    """One assessment running every local probe: its folder (the report, ``report.md``) and its database."""
    folder = tmp_path_factory.mktemp("every-probe")
    result = assess(example_slice, folder, tiny_lm_path, tiny_embedder, "--db", folder / "advisor.duckdb")
    assert result.exit_code == 0, result.output
    return folder, folder / "advisor.duckdb"


@pytest.fixture
def in_every_probe(every_probe, tmp_path, monkeypatch):
    """The shared assessment's report copied into this test's folder, and its database the default one."""
    folder, db = every_probe
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    monkeypatch.setenv("ADVISOR_DB", str(db))
    return db


def test_assess_runs_every_probe_and_stores_everything(in_every_probe, tmp_path, example_slice, tiny_lm_path,
                                                       tiny_embedder):
    db_path = in_every_probe
    report = (tmp_path / "report.md").read_text()
    for heading in ("### Domain gap", "### Few-shot prompting", "### Retrieval (RAG probe)", "### Fine-tuning trial",
                    "## Cost model"):
        assert heading in report
    # every probe had its input; only the target's probe waits for --target
    assert "| target-few-shot | no target model given (--target MODEL --target-url URL) |" in report
    con = duckdb.connect(str(db_path), read_only=True)
    runs = dict(con.execute("SELECT probe, status FROM probe_runs WHERE assessment_id = 1").fetchall())
    assert set(runs) == {"domain", "few-shot", "rag", "lora"} and set(runs.values()) <= {"done", "partial"}
    n_metrics = con.execute("SELECT count(*) FROM metrics").fetchone()[0]
    n_examples = con.execute("SELECT count(*) FROM example_results").fetchone()[0]
    assert n_metrics > 20 and n_examples > 20
    decision = json.loads(con.execute("SELECT recommendation FROM decisions").fetchone()[0])
    assert decision["evidence_used"] and decision["costs"]["monthly_requests"] == 40000
    assert [s["probe"] for s in decision["skipped_probes"]] == ["target-few-shot", "prompt"]  # both need --target
    con.close()
    for chart in ("strategy_scores.png", "few_shot_accuracy.png", "rag_hit_at_k.png"):
        assert (tmp_path / "report_files" / chart).stat().st_size > 1000
    # a markdown table never swallows the text after it (GitHub and the HTML report would join them)
    lines = report.splitlines()
    glued = [b for a, b in zip(lines, lines[1:]) if a.startswith("|") and b.strip() and not b.startswith("|")]
    glued += [a for a, b in zip(lines, lines[1:]) if b.startswith("|") and a.strip() and not a.startswith("|")]
    assert not glued, glued
    # `advisor report N` renders the stored assessment to the very same report
    again = CliRunner().invoke(cli, ["report", "1", "--out", str(tmp_path / "again" / "report.md")])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again" / "report.md").read_text() == report
    for fmt in ("html", "json"):
        first = CliRunner().invoke(cli, ["report", "1", "--format", fmt, "--out", str(tmp_path / f"a.{fmt}")])
        second = CliRunner().invoke(cli, ["report", "1", "--format", fmt, "--out", str(tmp_path / "b" / f"a.{fmt}")])
        assert first.exit_code == second.exit_code == 0
        assert (tmp_path / f"a.{fmt}").read_text() == (tmp_path / "b" / f"a.{fmt}").read_text()
    html = (tmp_path / "a.html").read_text()
    assert "&lt;details" not in html and "&lt;/" not in html  # no literal tags
    # the same assessment in French: every sentence of the templates translated, the rulebook's text kept
    for fmt in ("md", "html"):
        fr = CliRunner().invoke(cli, ["report", "1", "--lang", "fr", "--format", fmt, "--out", str(tmp_path / f"fr.{fmt}")])
        assert fr.exit_code == 0, fr.output
    french = (tmp_path / "fr.md").read_text()
    for heading in ("## Synthèse", "## Classement des stratégies", "### Écart de domaine", "### Prompting few-shot",
                    "### Recherche documentaire (sonde RAG)", "### Essai de fine-tuning", "## Modèle de coûts",
                    "## Vos réponses", "| Nom du projet | Tessera support desk |"):
        assert heading in french, heading
    # every sentence advisor wrote is French: what is left in English is what it quotes (the use case, the
    # sources' titles, the domain text's own terms)
    from tests.helpers import english_left_in

    con = duckdb.connect(str(db_path), read_only=True)
    doc = json.loads(con.execute("SELECT recommendation FROM decisions").fetchone()[0])
    terms = [t["word"] for (stored,) in con.execute("SELECT result FROM probe_runs WHERE probe = 'domain'").fetchall()
             for t in json.loads(stored)["summary"]["terms"]]
    con.close()
    use_case = (EXAMPLE / "answers.yaml").read_text().split("use_case:")[1].splitlines()[0].strip()
    quoted = (use_case, *(part.strip() for f in doc["fired"] for part in f["source"].split(";")), *terms)
    quoted += (str(tiny_lm_path), str(tiny_embedder))  # model paths, as the report names them
    quoted += tuple(json.loads(line)["question"] for line in (example_slice / "qa.jsonl").read_text().splitlines())
    left = english_left_in(french, quoted)
    assert left == [], left
    assert english_left_in((tmp_path / "report.md").read_text(), quoted)  # the check finds English when it is there
    from test_i18n import template_messages

    from advisor.report.i18n import translator

    fr_messages = translator("fr").messages
    untranslated = [m for m in template_messages()
                    if "%" not in m and len(m.split()) >= 3 and fr_messages.get(m, m) != m and m in french]
    assert untranslated == []
    lines = french.splitlines()
    assert not [b for a, b in zip(lines, lines[1:]) if a.startswith("|") and b.strip() and not b.startswith("|")]
    assert not [a for a, b in zip(lines, lines[1:]) if b.startswith("|") and a.strip() and not a.startswith("|")]
    assert '<html lang="fr">' in (tmp_path / "fr.html").read_text()


def test_rerun_reuses_stored_probe_results(example_slice, tmp_path, tiny_lm_path, tiny_embedder, db_path):
    first = assess(example_slice, tmp_path, tiny_lm_path, tiny_embedder, "--probes", "few-shot,rag")
    assert first.exit_code == 0, first.output
    second = assess(example_slice, tmp_path, tiny_lm_path, tiny_embedder, "--probes", "few-shot,rag")
    assert second.exit_code == 0, second.output
    con = duckdb.connect(str(db_path), read_only=True)
    assert con.execute("SELECT count(*) FROM probe_runs").fetchone()[0] == 2  # nothing re-ran
    links = con.execute("SELECT assessment_id, count(*), bool_and(reused) FROM assessment_runs GROUP BY 1 ORDER BY 1")
    assert links.fetchall() == [(1, 2, False), (2, 2, True)]  # both assessments keep their evidence
    con.close()
    assert "reused stored run" in (tmp_path / "report.md").read_text()


def test_unusable_data_stops_assess_before_storing_or_loading_a_model(tmp_path, tiny_lm_path, db_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "only one class", "label": "a"}\n' * 30)
    args = ["assess", "--no-input", "--answers", EXAMPLE / "answers.yaml", "--data", broken,
            "--model", tiny_lm_path, "--probes", "few-shot", "--out", tmp_path / "r.md"]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    assert result.output == (f"Error: --data {broken}: column 'label' has a single class ('a'); classification "
                             "needs at least two labels.\n")  # no "loading ..." line: no model was loaded
    assert not (tmp_path / "r.md").exists() and not db_path.exists()


def test_a_probe_failing_while_it_runs_is_noted_and_the_report_written(example_slice, tmp_path, tiny_lm_path):
    args = ["assess", "--no-input", "--answers", EXAMPLE / "answers.yaml", "--data", example_slice / "tickets.jsonl",
            "--model", tiny_lm_path, "--probes", "few-shot", "--eval-size", "10", "--out", tmp_path / "r.md"]
    from advisor.probes.few_shot import run as few_shot_run

    original = few_shot_run.FewShotRun._unit

    def broken(self, k, seed, idx):
        raise RuntimeError("simulated bug")

    few_shot_run.FewShotRun._unit = broken
    try:
        result = CliRunner().invoke(cli, [str(a) for a in args])
    finally:
        few_shot_run.FewShotRun._unit = original
    assert result.exit_code == 0, result.output
    assert "Warning: the few-shot probe failed: RuntimeError: simulated bug" in result.output
    report = (tmp_path / "r.md").read_text()
    assert "**few-shot failed**" in report
    summary = report.split("## Strategy ranking")[0]  # the executive summary says why the decision lacks it
    assert "- The few-shot probe did not count, it failed: RuntimeError: simulated bug." in summary


@pytest.mark.slow
def test_assess_on_the_embedded_default_models(example_slice, tmp_path, db_path):
    args = ["assess", "--no-input", "--answers", EXAMPLE / "answers.yaml", "--data", example_slice / "tickets.jsonl",
            "--corpus", example_slice / "docs", "--qa", example_slice / "qa.jsonl",
            "--probes", "few-shot,rag", "--eval-size", "20", "--out", tmp_path / "report.md"]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "report.md").read_text()
    assert "smollm2-135m" in report and "all-minilm-l6-v2" in report
    con = duckdb.connect(str(db_path), read_only=True)
    hit = con.execute("SELECT value FROM metrics m JOIN probe_runs r ON r.id = m.run_id WHERE r.probe = 'rag'"
                      " AND m.name = 'hit@5' AND m.params->>'retriever' = 'dense' LIMIT 1").fetchone()
    con.close()
    assert hit is not None and hit[0] > 0.5  # a real embedder finds these documents


# -- the HTML report in a real browser ---------------------------------------------------------------
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium():
    """Debian's headless Chromium, installed when missing (skipped only where it cannot be installed)."""
    import shutil
    import subprocess

    exe = shutil.which("chromium")
    if exe is None and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], capture_output=True, env=env, timeout=900)
        exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("Chromium is not installed and cannot be installed here (needs root and apt-get)")
    return exe


def dom_after_load(chromium, html_path, tmp_path):
    """The page's DOM once loaded, with a ``data-images`` attribute on <body> saying whether each image loaded."""
    import subprocess

    probe = ("<script>window.addEventListener('load', () => document.body.setAttribute('data-images', "
             "[...document.images].map(i => i.complete && i.naturalWidth > 0 ? 'ok' : 'broken').join(',')));"
             "</script></body>")
    page = tmp_path / "probe.html"
    page.write_text(html_path.read_text().replace("</body>", probe))
    done = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    return done.stdout


def test_the_html_report_renders_every_section_in_a_browser(in_every_probe, tmp_path, chromium):
    from html.parser import HTMLParser

    from advisor.intake.answers import Answers

    result = CliRunner().invoke(cli, ["report", "1", "--format", "html", "--out", str(tmp_path / "page.html")])
    assert result.exit_code == 0, result.output
    dom = dom_after_load(chromium, tmp_path / "page.html", tmp_path)

    class Page(HTMLParser):
        def __init__(self):
            super().__init__()
            self.text, self.tables, self.images, self.stack = [], [], None, []
            self.in_table: dict[str, bool] = {}

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "body":
                self.images = attrs.get("data-images")
            if tag == "table":
                self.tables.append({"rows": 0, "head": []})
            if tag == "tr" and self.tables:
                self.tables[-1]["rows"] += 1
            self.stack.append(tag)

        def handle_endtag(self, tag):
            if self.stack:
                self.stack.pop()

        def handle_data(self, data):
            if self.stack and self.stack[-1] in ("style", "script"):
                return
            self.text.append(data)
            if data.strip().startswith(("Best k:", "Break-even volumes")):
                self.in_table[data.strip()[:10]] = "table" in self.stack
            if self.stack and self.stack[-1] == "th" and self.tables:
                self.tables[-1]["head"].append(data.strip())

    page = Page()
    page.feed(dom)
    text = " ".join(page.text)
    import re

    assert not re.search(r"</?(details|summary|table|div|img|br)\b", text), "a tag shows as text"
    charts = page.images.split(",")
    assert len(charts) == 5 and set(charts) == {"ok"}  # strategy scores + one chart per probe, all loaded
    by_head = {tuple(t["head"][:2]): t["rows"] for t in page.tables}
    assert by_head[("Rank", "Strategy")] == 1 + 5  # header + five strategies
    assert by_head[("Question", "Answer")] == 1 + len(Answers.model_fields)
    assert any(head[0] == "k" for head in by_head)  # the few-shot table
    for heading in ("Executive summary", "Cost model", "Few-shot prompting", "Retrieval (RAG probe)", "Domain gap"):
        assert heading in text
    # the sentences after a table are paragraphs, not swallowed into the table
    assert len(page.in_table) == 2 and all(flag is False for flag in page.in_table.values()), page.in_table
