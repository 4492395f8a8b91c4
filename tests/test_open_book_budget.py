"""The open-book check on a local model keeps its time budget: it answers question by question (closed-book and
open-book together) and does not start one that would end past the budget, the first judged from the model's
measured pace. A clock that moves only when the model works makes the test exact."""

from __future__ import annotations

import pytest

from advisor.probes.common.base import ProbeContext, ProbeResult
from advisor.probes.rag import open_book


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(open_book.time, "monotonic", lambda: now[0])
    return now


def model(clock, per_answer: float, per_token: float):
    class Model:
        has_chat_template = False

        def generate(self, prompts, max_new_tokens, stop=None):
            clock[0] += per_answer
            return [f"answer to {p}" for p in prompts]

        def count_tokens(self, text):
            return len(text.split())

        def encode_with_offsets(self, text):
            return list(range(len(text.split()))), None

        def token_nlls(self, ids, window, stride, progress=None):
            clock[0] += per_token * len(ids)
            return [1.0] * len(ids)

    return Model()


PROMPTS = {"closed-book": [f"closed {i}" for i in range(4)], "open-book": [f"open {i} " + "context " * 98
                                                                           for i in range(4)]}


def test_it_stops_before_a_question_that_would_pass_the_budget(clock):
    """Each question takes 2 s and the pace check next to nothing: with 5 s left, two questions fit (the third
    would end at 6 s); the answers stay paired."""
    ctx = ProbeContext(result=ProbeResult(probe="rag"), deadline=clock[0] + 5.0)
    out = open_book._answer_within_budget(model(clock, 2.0, 0.0), PROMPTS, 8, ctx)
    assert out["closed-book"][0] == ["answer to closed 0", "answer to closed 1"]
    assert [a[:16] for a in out["open-book"][0]] == ["answer to open 0", "answer to open 1"]
    unbounded = open_book._answer_within_budget(model(clock, 2.0, 0.0), PROMPTS, 8,
                                                ProbeContext(result=ProbeResult(probe="rag")))
    assert len(unbounded["open-book"][0]) == 4


def test_the_first_question_is_judged_from_the_models_pace(clock):
    """A token read takes 0.02 s: the first pair's 102 prompt tokens and 8 answer steps come to 2.2 s. Of 12 s,
    the pace check (409 tokens read) leaves 3.8 s: less than twice the estimate (room for a busy machine), so no
    question starts, and the report says the check was skipped."""
    lm = model(clock, 0.1, 0.02)
    assert open_book.first_pair_estimate(lm, [t[0] for t in PROMPTS.values()], 8) == pytest.approx(
        0.02 * 102 + 0.02 * 8)
    ctx = ProbeContext(result=ProbeResult(probe="rag"), deadline=clock[0] + 12.0)
    out = open_book._answer_within_budget(lm, PROMPTS, 8, ctx)
    assert out["open-book"][0] == [] and 3 < ctx.deadline - clock[0] < 4.4
