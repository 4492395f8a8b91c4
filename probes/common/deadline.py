"""The time budget of endpoint calls: how long a request may wait, and an ``openai`` client whose retries stop
when that time is up (a server that hangs, drips or resets cannot hold a probe past its budget)."""

from __future__ import annotations

import functools
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from advisor.sentences import say

SPENT = 0.05  # seconds left below which the budget counts as spent
BACKOFF_ALLOWANCE = 8.0  # the SDK's longest pause between retries, counted in a request's wall-clock limit

LIMIT: dict[str, float | None] = {"deadline": None, "seconds": None}


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Endpoint calls made inside end within ``seconds`` from now (nested limits: the earliest wins);
    ``None``: no budget, only the per-request timeouts."""
    saved = dict(LIMIT)
    if seconds is not None:
        deadline = time.monotonic() + seconds
        if LIMIT["deadline"] is None or deadline < LIMIT["deadline"]:
            LIMIT.update(deadline=deadline, seconds=seconds)
    try:
        yield
    finally:
        LIMIT.update(saved)


def budget_left() -> float | None:
    """Seconds left before the current :func:`time_limit` (``None``: no limit)."""
    return None if LIMIT["deadline"] is None else LIMIT["deadline"] - time.monotonic()


def budget_spent() -> bool:
    """Whether the current :func:`time_limit` is (all but) used up: less than 50 ms left, too little to send a
    request and wait for its answer."""
    left = budget_left()
    return left is not None and left <= SPENT


def request_timeout(timeout: float) -> float:
    """A request's timeout: ``timeout``, never beyond what is left of the budget (at least 10 ms)."""
    left = budget_left()
    return timeout if left is None else max(0.01, min(timeout, left))


def budget_text() -> str:
    if LIMIT["seconds"] is None:
        return say("the time budget")
    return say("the time budget ({seconds:g} s)", seconds=LIMIT["seconds"])


@functools.lru_cache(maxsize=1)
def client_class() -> type:
    """``openai.OpenAI`` whose retries stop once the budget or the request's own limit has passed (an
    abandoned request sends nothing more)."""
    import openai

    class Stopped(openai.OpenAIError):
        """Not retried by the SDK: the request's time is up."""

    class Client(openai.OpenAI):
        until = threading.local()  # per worker thread: when its request must be over

        def _sleep_for_retry(self, **kwargs: Any) -> None:
            for when in ("before", "after"):
                if time.monotonic() >= (getattr(self.until, "value", None) or float("inf")):
                    raise Stopped("out of time")
                if when == "before":
                    super()._sleep_for_retry(**kwargs)

    Client.Stopped = Stopped
    return Client


def call_until(fn: Any, until: float, client: Any = None) -> Any:
    """``fn()`` in a daemon thread, waited for until ``until`` (monotonic): its result or exception, or
    :class:`TimeoutError` when the time is up (the thread is abandoned; with ``client`` from
    :func:`client_class`, it sends no retry)."""
    import queue

    box: queue.Queue = queue.Queue(maxsize=1)

    def work() -> None:
        if client is not None and hasattr(type(client), "until"):
            type(client).until.value = until
        try:
            box.put((True, fn()))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box.put((False, exc))

    threading.Thread(target=work, daemon=True, name="advisor-endpoint").start()
    try:
        ok, value = box.get(timeout=max(0.0, until - time.monotonic()) + 0.05)
    except queue.Empty:
        raise TimeoutError from None
    if ok:
        return value
    if client is not None and isinstance(value, getattr(type(client), "Stopped", ())):
        raise TimeoutError from None  # the client saw the time was up before this thread did: the same outcome
    raise value
