"""The questionnaire: what it asks given earlier answers, how it reads typed answers, its draft, and a real
terminal session (a pseudo-terminal driven by pexpect) that is interrupted, resumed, reviewed and finished."""

import re
import sys
from pathlib import Path

import pytest

from advisor.intake.answers import Answers
from advisor.intake.questionnaire import Draft, convert, implied_answers, questions_for
from helpers import BASE_ANSWERS

ADVISOR = str(Path(sys.executable).with_name("advisor"))


def test_choices_are_read_by_number_name_any_case_or_unique_prefix():
    assert convert("task_type", "2") == ("extraction", None)
    assert convert("task_type", "Classification") == ("classification", None)
    assert convert("task_type", "QA documents") == ("qa_documents", None)
    assert convert("task_type", "summ") == ("summarization", None)
    value, error = convert("domain_specificity", "s")  # somewhat or specialized: ambiguous, refused
    assert value is None and "not one of the choices" in error
    assert convert("task_type", "7")[1] is not None


def test_typed_numbers_and_booleans_are_validated_like_the_answers_file():
    assert convert("labeled_examples", "1,500") == (1500, None)
    assert convert("labeled_examples", "-3")[1].startswith("invalid")
    assert convert("has_corpus", "YES") == (True, None)
    assert convert("has_corpus", "maybe")[1] == "answer yes or no."
    assert convert("base_model_size_b", "") == (None, None)


def test_questions_made_irrelevant_by_earlier_answers_are_not_asked_and_their_answers_follow():
    without = questions_for({"has_corpus": False, "can_produce_more_labels": False, "data_may_leave": False})
    with_all = questions_for({"has_corpus": True, "can_produce_more_labels": True, "data_may_leave": True})
    assert {"corpus_documents", "corpus_change", "citations_needed", "cost_per_label",
            "hosted_api_allowed"} == set(with_all) - set(without)
    implied = implied_answers({"has_corpus": False, "data_may_leave": False, "corpus_documents": 7})
    assert implied["hosted_api_allowed"] is False and implied["citations_needed"] is False
    assert "corpus_documents" not in implied  # an answer that was given is never replaced
    assert implied_answers({}) == {}  # a defaulted answer implies nothing
    assert implied_answers({"has_corpus": True, "can_produce_more_labels": True, "data_may_leave": True,
                            "base_model": "open_weights"}) == {}
    # a question an earlier answer keeps relevant is asked, even when it has a default
    assert "base_model_size_b" in questions_for({"base_model": "open_weights"})
    assert "base_model_size_b" not in questions_for({"base_model": "hosted_api"})


def test_a_draft_keeps_valid_answers_only_and_a_damaged_draft_is_ignored(tmp_path):
    path = tmp_path / "draft.yaml"
    Draft(path, {"project_name": "P", "labeled_examples": 12, "has_corpus": True}, {"data": "x.jsonl"}).save()
    loaded = Draft.load(path)
    assert loaded.answers == {"project_name": "P", "labeled_examples": 12, "has_corpus": True}
    assert loaded.files == {"data": "x.jsonl"} and loaded.saved
    path.write_text("answers:\n  labeled_examples: -4\n  task_type: poetry\n  nonsense: 1\n  use_case: fine\n")
    assert Draft.load(path).answers == {"use_case": "fine"}
    path.write_text("answers: [unclosed")
    assert Draft.load(path) is None


# -- a real terminal -----------------------------------------------------------------------------------------

REPLIES = {  # question title (start) -> what a user types; anything else is answered with Enter (its default)
    "Project name": "Terminal project",
    "Use case": "Route support tickets to the right team.",
    "Task type": "Classification",
    "Labeled input": "1200",
    "One-off budget": "20000",
    "Monthly budget": "1500",
    "Expected requests": "50000",
    "Weeks until": "10",
    "Corpus size": "800",
    "How often does the corpus change": "WEEKLY",
}

QUESTION = re.compile(r"\[(\d+)/(\d+)\] ([^\r\n]+?)  \(\? for help")
PROMPT = r"(Choose a number or name|>)( \[[^\]\r\n]*\])?: "  # the prompt, printed when input is read
WAIT = 120  # seconds: generous, for a busy machine; every wait is on what the program prints


def _spawn(args, tmp_path):
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(ADVISOR, args + ["--probes", "none", "--db", str(tmp_path / "a.duckdb"),
                                           "--out", str(tmp_path / "report.md")],
                          encoding="utf-8", timeout=WAIT, dimensions=(50, 200), env=_env(tmp_path),
                          preexec_fn=_signals_of_a_foreground_command)
    return pexpect, child


def _signals_of_a_foreground_command():
    """Ctrl-C and Ctrl-\\ at their defaults, as a shell starts a command typed at a terminal. The test process may
    have inherited them ignored (started as a background job of a non-interactive shell, as some CI runners
    start it), and an ignored SIGINT would pass to the child: its Ctrl-C would do nothing."""
    import signal

    for number in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGQUIT})


def _env(tmp_path):
    import os

    return {**os.environ, "ADVISOR_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}


def _answer_until(pexpect, child, stop_at=None):
    """Answer questions from REPLIES until ``stop_at`` question number (then return) or the review."""
    seen = []
    while True:
        which = child.expect([QUESTION, r"Number of an answer to change"])
        if which == 1:
            return seen
        number, total, title = int(child.match.group(1)), int(child.match.group(2)), child.match.group(3)
        seen.append((number, total, title))
        if stop_at is not None and number == stop_at:
            return seen
        reply = next((v for k, v in REPLIES.items() if title.startswith(k)), "")
        child.expect(PROMPT)  # keys are sent once the program waits for them
        child.sendline(reply)


def _interrupt(pexpect, child, expected: str) -> None:
    """Ctrl-C once the prompt is printed (the program is then reading input). A Ctrl-C just before the prompt
    is handled the same way by the questionnaire, so one is enough; the wait is on the program's output."""
    child.expect(PROMPT)
    child.sendintr()
    child.expect(expected, timeout=WAIT)


def test_a_terminal_session_interrupted_resumed_reviewed_and_finished(tmp_path):
    pexpect, child = _spawn(["assess"], tmp_path)
    seen = _answer_until(pexpect, child, stop_at=6)
    assert [n for n, _, _ in seen] == [1, 2, 3, 4, 5, 6]  # "question n of m", in order
    child.expect(PROMPT)
    child.sendline("<")  # back to question 5
    child.expect(QUESTION)
    assert child.match.group(1) == "5"
    child.expect(PROMPT)
    child.sendline("")
    child.expect(QUESTION)
    child.expect(PROMPT)
    child.sendline("no")  # no corpus: the corpus questions are skipped
    child.expect(QUESTION)
    assert child.match.group(3).startswith("Domain specificity")
    _interrupt(pexpect, child, r"Interrupted: (\d+) answers saved in (\S+);")
    assert int(child.match.group(1)) == 6
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    draft = tmp_path / "questionnaire-draft.yaml"
    assert draft.exists()

    # the same command again offers to continue, and goes on at the next question
    pexpect, child = _spawn(["assess"], tmp_path)
    child.expect(r"Continue the questionnaire saved on .*\(6 answers\)\? \[Y/n\]: ")
    child.sendline("y")
    seen = _answer_until(pexpect, child)
    assert seen[0][2].startswith("Domain specificity") and seen[0][0] == 7
    assert not any(t.startswith("Corpus size") for _, _, t in seen)
    # the review lists every answer; change "has a corpus" to yes: the corpus questions are asked now
    listing = child.before
    number = re.search(r"(\d+)\. Do answers depend on a document corpus[^:]*: no", listing).group(1)
    child.expect(r"or Enter to run the assessment: ")
    child.sendline(number)
    child.expect(r"Do answers depend on a document corpus")
    child.expect(PROMPT)
    child.sendline("yes")
    asked = _answer_until(pexpect, child)
    assert [t.split(",")[0] for _, _, t in asked][:3] == ["Corpus size", "How often does the corpus change?",
                                                          "Must answers cite their sources (traceability)?"]
    child.expect(r"or Enter to run the assessment: ")
    child.sendline("")  # accept the review: the assessment runs
    child.expect(r"Assessment #(\d+)")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert not draft.exists()  # the answers are stored with the assessment now

    from advisor.store.database import Store

    with Store(tmp_path / "a.duckdb", read_only=True) as store:
        stored = store.assessment(store.assessments(limit=1)[0]["id"])
    answers = Answers.model_validate(stored["answers"])
    assert answers.has_corpus and answers.corpus_documents == 800 and answers.corpus_change.value == "weekly"
    assert answers.task_type.value == "classification" and answers.labeled_examples == 1200


def test_resume_without_a_draft_is_one_error_line(tmp_path):
    import subprocess

    result = subprocess.run([ADVISOR, "assess", "--resume", "--no-input", "--db", str(tmp_path / "a.duckdb")],
                            capture_output=True, text=True, env=_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("Error: --resume: no unfinished questionnaire in ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_input_resume_finishes_a_saved_draft_and_a_plain_no_input_run_leaves_it_alone(tmp_path):
    import subprocess

    draft = Draft(tmp_path / "questionnaire-draft.yaml", {**BASE_ANSWERS, "has_corpus": False}, {})
    draft.save()
    base = [ADVISOR, "assess", "--no-input", "--probes", "none", "--db", str(tmp_path / "a.duckdb"),
            "--out", str(tmp_path / "r.md")]
    plain = subprocess.run(base, capture_output=True, text=True, env=_env(tmp_path))
    assert plain.returncode == 2 and "missing answers" in plain.stderr  # the draft is not read without --resume
    assert draft.path.exists()
    resumed = subprocess.run(base + ["--resume"], capture_output=True, text=True, env=_env(tmp_path))
    assert resumed.returncode == 0, resumed.stderr
    assert not draft.path.exists()
    report = (tmp_path / "r.md").read_text()
    assert "Test project" in report
