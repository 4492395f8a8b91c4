"""The team's real model behind an OpenAI-compatible chat-completions endpoint (a hosted API, vLLM,
Ollama, llama.cpp, TGI, ``transformers serve``...): the second :class:`~advisor.probes.common.lm.LanguageModel`.

Conventions users already have: the base URL comes from ``--target-url``, else ``OPENAI_BASE_URL``;
the API key from the environment variable ``--target-key-env`` names (default ``OPENAI_API_KEY``),
never from the command line, and it never appears in the database, the report, logs or messages.
The client is the ``openai`` SDK: it retries 408/409/429/5xx with exponential backoff and honours
``Retry-After``; every request has a timeout, never beyond what is left of the time budget
(:func:`time_limit`), so a server that hangs, drips or resets ends the call within the budget.

Safe against a paid API: bounded concurrency; every response cached in the store, keyed by (endpoint,
model, request), in batches of at most 32 answers or 2 s and whenever waiting ends (a re-run, or a run
stopped half-way, never pays twice); a cap on
requests and, when prices are given, on estimated spend, stopping cleanly (:class:`CapReached`).

The endpoint can generate (and reports usage and latency); it cannot score arbitrary continuations,
so classification on a target works by generation with the labels stated in the prompt. When the
endpoint returns token log-probabilities (``logprobs``), they are kept per answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import time
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict, Field

from advisor.errors import InputError, ProbeError
from advisor.probes.common.base import BudgetSpent
from advisor.probes.common.deadline import (BACKOFF_ALLOWANCE, LIMIT, budget_spent, budget_text, client_class,
                                            request_timeout, time_limit)
from advisor.probes.common.lm import Capability, LanguageModel
from advisor.sentences import say

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
#: answers are written to the cache in batches of this many, or after this many seconds, and whenever waiting
#: ends (an error, the budget, Ctrl-C): opening the database per answer cost more than a fast server's answer
SAVE_EVERY, SAVE_AFTER = 32, 2.0


class EndpointSpec(BaseModel):
    """Where the target model is and how hard advisor may use it."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    url: str | None = None  # default: $OPENAI_BASE_URL
    key_env: str = DEFAULT_KEY_ENV
    timeout: float = Field(60.0, gt=0)
    max_retries: int = Field(4, ge=0, le=20)
    concurrency: int = Field(4, ge=1, le=64)
    max_requests: int | None = Field(None, ge=1)
    max_spend: float | None = Field(None, gt=0)
    price_input_per_1m: float | None = Field(None, ge=0)
    price_output_per_1m: float | None = Field(None, ge=0)
    logprobs: bool = True  # ask for them; an endpoint that ignores the field is fine

    def base_url(self) -> str:
        """The API's base URL; lm-evaluation-harness style URLs ending in /chat/completions are accepted too."""
        url = self.url or os.environ.get("OPENAI_BASE_URL")
        if not url:
            raise InputError(say("--target-url: no endpoint given; pass the base URL of an OpenAI-compatible server "
                                 "(e.g. http://localhost:8000/v1) or set OPENAI_BASE_URL."))
        return url.rstrip("/").removesuffix("/chat/completions")

    def label(self) -> str:
        """How reports name this model: ``model @ host`` (never the key)."""
        return f"{self.model} @ {self.base_url()}"


class CapReached(ProbeError):
    """The request or spend cap stopped the run; what finished is kept (a clean partial result)."""


class EndpointError(ProbeError):
    """The endpoint failed in a way retries did not cure (one line, no key): the user's to look into."""

    stops_assessment = True


class OutOfTime(BudgetSpent, EndpointError):
    """The time budget ran out while requests were in flight after some had answered: a probe that stops
    between units keeps what finished (a ``BudgetSpent``); elsewhere it is one error line."""


class EndpointModel(LanguageModel):
    """A model behind ``/v1/chat/completions``."""

    capabilities = frozenset({Capability.GENERATE, Capability.USAGE})

    def __init__(self, spec: EndpointSpec, store: Any = None, client: Any = None):
        super().__init__()
        self.spec = spec
        self.url = spec.base_url()
        self.name = spec.model
        self.source = spec.label()
        self.store = store
        self.requests = 0  # paid (not cached) requests made by this object
        self.cached_hits = 0
        self.spend = 0.0
        self.saw_logprobs: bool | None = None
        self._client = client

    # -- chat prompts ------------------------------------------------------------------------------
    @property
    def has_chat_template(self) -> bool:
        return True

    def format_chat(self, messages: list[dict[str, str]]) -> Any:
        return messages

    # -- the client ------------------------------------------------------------------------------
    def client(self) -> Any:
        if self._client is None:
            key = os.environ.get(self.spec.key_env)
            if key is None and self.spec.key_env != DEFAULT_KEY_ENV:
                raise InputError(say("--target-key-env {env}: that environment variable is not set; "
                                     "export the API key in it (local servers accept any value).",
                                     env=self.spec.key_env))
            self._client = client_class()(base_url=self.url, api_key=key or "not-needed",
                                           timeout=self.spec.timeout, max_retries=self.spec.max_retries)
        return self._client

    def request_limit(self) -> float:
        """Wall-clock seconds one request may take, its retries and their pauses included (a server that drips
        its answer byte by byte is not stopped by the SDK's per-read timeout, so advisor stops waiting)."""
        return self.spec.timeout * (self.spec.max_retries + 1) + BACKOFF_ALLOWANCE * self.spec.max_retries

    def request(self, messages: Any, max_tokens: int, stop: Sequence[str] = ()) -> dict[str, Any]:
        """The request body (also the cache key's content): deterministic decoding."""
        body: dict[str, Any] = {"model": self.spec.model, "messages": messages, "max_tokens": max_tokens,
                                "temperature": 0}
        if stop:
            body["stop"] = list(stop)[:4]
        if self.spec.logprobs:
            body.update(logprobs=True, top_logprobs=5)
        return body

    def cache_key(self, body: dict[str, Any]) -> str:
        text = json.dumps({"endpoint": self.url, "body": body}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    # -- generation ------------------------------------------------------------------------------
    def plan(self, bodies: list[dict[str, Any]]) -> tuple[int, int]:
        """``(cached, to_pay)`` for these requests: what :meth:`complete` would reuse and send."""
        keys = [self.cache_key(b) for b in bodies]
        cached = self.store.cached_responses(keys) if self.store is not None else {}
        return len(cached), len(set(keys) - set(cached))

    def generate(self, prompts: Sequence[Any], max_new_tokens: int, *, stop: Sequence[str] = (),
                 batch_size: int = 8) -> list[str]:
        return [r["text"] for r in self.complete([self.request(p, max_new_tokens, stop) for p in prompts])]

    def complete(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Responses for ``bodies`` in order: ``{"text", "prompt_tokens", "completion_tokens", "latency",
        "logprobs", "cached"}``. Cached responses are reused; the rest are sent ``concurrency`` at a time and
        cached in small batches (:meth:`_save`). :class:`CapReached` when the request or spend cap would be passed (what
        finished is cached); :class:`EndpointError` / :class:`InputError` for a fault retries did not cure."""
        keys = [self.cache_key(b) for b in bodies]
        found = self.store.cached_responses(keys) if self.store is not None else {}
        out: dict[int, dict[str, Any]] = {}
        todo: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key in found:
                out[i] = {**found[key], "cached": True}
                self.cached_hits += 1
            else:
                todo.setdefault(key, i)
        pending = list(todo.items())
        if self.spec.max_requests is not None and self.requests + len(pending) > self.spec.max_requests:
            allowed = max(0, self.spec.max_requests - self.requests)
            self._send(pending[:allowed], bodies, out)
            raise CapReached(say("request cap reached ({cap} requests to {model}); "
                                 "finished responses are cached, so a re-run with a higher --target-max-requests "
                                 "pays only for the rest", cap=self.spec.max_requests, model=self.name))
        self._send(pending, bodies, out)
        for i, key in enumerate(keys):  # duplicates of a request sent in this call
            if i not in out:
                out[i] = {**out[todo[key]], "cached": True}
        return [out[i] for i in range(len(bodies))]

    def _send(self, pending: list[tuple[str, int]], bodies: list[dict], out: dict[int, dict]) -> None:
        """Send ``concurrency`` at a time, each in a daemon thread; record each answer as it arrives. Waiting
        ends at the budget's deadline or a request's wall-clock limit: requests still in flight are abandoned
        (their threads send nothing more) and what finished is kept."""
        if not pending:
            return
        if budget_spent():  # nothing is sent that could not be waited for
            if self.requests or self.cached_hits:
                raise self._too_late(0)
            raise EndpointError(say("--target-url {url}: {budget} ran out before the first request to {model} "
                                    "was sent (loading the data and the model took it); raise --budget.",
                                    url=self.url, budget=budget_text(), model=self.name))
        self.client()  # made here, once, not by the threads at the same time
        items = iter(pending)
        results: queue.Queue = queue.Queue()
        running: dict[int, tuple[str, float]] = {}  # index -> (key, wall-clock limit)

        def submit_next() -> None:
            item = next(items, None)
            if item is not None:
                key, index = item
                until = min(time.monotonic() + self.request_limit(), LIMIT["deadline"] or float("inf"))
                running[index] = (key, until)
                threading.Thread(target=self._worker, args=(index, bodies[index], until, results),
                                 daemon=True, name=f"advisor-endpoint-{index}").start()

        unsaved: list[tuple[str, dict, dict]] = []  # answers not yet in the cache: written in small batches
        try:
            for _ in range(self.spec.concurrency):
                submit_next()
            self._wait(running, results, submit_next, bodies, out, unsaved)
        finally:
            self._save(unsaved)

    def _wait(self, running: dict, results: queue.Queue, submit_next: Any, bodies: list[dict],
              out: dict[int, dict], unsaved: list) -> None:
        saved_at = time.monotonic()
        stop_reason: str | None = None
        error: BaseException | None = None
        arrived = 0
        while running:
            wait = min(until for _, until in running.values()) - time.monotonic()
            if unsaved:  # answers in hand are never left unwritten while waiting long for the next
                wait = min(wait, SAVE_AFTER)
            try:
                index, response, exc = results.get(timeout=max(0.0, wait) + 0.05)
            except queue.Empty:
                self._save(unsaved)
                saved_at = time.monotonic()
                if not any(time.monotonic() >= until for _, until in running.values()):
                    continue
                error = error or self._too_late(arrived)
                running.clear()  # abandoned: their threads stop before any retry
                break
            if index not in running:
                continue
            key, _ = running.pop(index)
            if exc is not None:  # keep draining: finished calls are cached; past the budget, that is the reason
                error = error or (self._too_late(arrived) if budget_spent() else exc)
                continue
            self._record(response)
            unsaved.append((key, bodies[index], response))
            if len(unsaved) >= SAVE_EVERY or time.monotonic() - saved_at >= SAVE_AFTER:
                self._save(unsaved)
                saved_at = time.monotonic()
            out[index] = {**response, "cached": False}
            arrived += 1
            if stop_reason is None and error is None:
                stop_reason = self._over_spend()
            if stop_reason is None and error is None:
                submit_next()
        if error is not None:
            raise error
        if stop_reason:
            raise CapReached(stop_reason)

    def _worker(self, index: int, body: dict, until: float, results: queue.Queue) -> None:
        try:
            results.put((index, self._call(body, until), None))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            results.put((index, None, exc))

    def _too_late(self, arrived: int) -> Exception:
        """Why waiting stopped: the budget ran out (after answers: a clean stop keeping them), or a request's limit."""
        if budget_spent():
            if arrived or self.requests or self.cached_hits:
                return OutOfTime(say("--target-url {url}: {budget} ran out while waiting for {model}; "
                                     "finished responses are cached, so a re-run pays only for the rest.",
                                     url=self.url, budget=budget_text(), model=self.name))
            return EndpointError(say("--target-url {url}: no answer from {model} within {budget}; "
                                     "check that the server is up and answering, or raise --budget.",
                                     url=self.url, model=self.name, budget=budget_text()))
        return EndpointError(say("--target-url {url}: no complete answer within {limit:g} s "
                                 "({retries} retries of {timeout:g} s and their pauses); "
                                 "check the server, or raise --target-timeout (finished responses are cached).",
                                 url=self.url, limit=self.request_limit(), retries=self.spec.max_retries,
                                 timeout=self.spec.timeout))

    def _over_spend(self) -> str | None:
        if self.spec.max_spend is not None and self.spend >= self.spec.max_spend:
            return say("spend cap reached (estimated {spend:.4f} of --target-max-spend {cap:g} "
                       "at the prices given); finished responses are cached", spend=self.spend,
                       cap=self.spec.max_spend)
        return None

    def _record(self, response: dict) -> None:
        self.requests += 1
        self.spend += self.cost(response["prompt_tokens"], response["completion_tokens"])
        self.usage.record(response["prompt_tokens"], response["completion_tokens"], response["latency"])

    def _save(self, unsaved: list[tuple[str, dict, dict]]) -> None:
        """Write the answers not yet cached (also when waiting ends by an error or an interruption)."""
        if self.store is not None and unsaved:
            self.store.cache_responses(self.url, self.spec.model, list(unsaved))
        unsaved.clear()

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        s = self.spec
        return (prompt_tokens * (s.price_input_per_1m or 0) + completion_tokens * (s.price_output_per_1m or 0)) / 1e6

    def _call(self, body: dict[str, Any], until: float | None = None) -> dict[str, Any]:
        """One request (the SDK retries, each attempt's timeout within the budget); the response reduced to
        what advisor keeps."""
        started = time.monotonic()
        client = self.client()
        if until is not None and hasattr(type(client), "until"):
            type(client).until.value = until
        try:
            reply = client.chat.completions.create(**body, timeout=request_timeout(self.spec.timeout))
        except Exception as exc:
            raise self.explain(exc) from None
        latency = time.monotonic() - started
        choices = getattr(reply, "choices", None) or []
        if not choices or getattr(choices[0], "message", None) is None:
            raise EndpointError(say("--target-url {url}: the server returned no answer (an empty `choices` list) "
                                    "for model {model}; check the server's logs.", url=self.url, model=self.name))
        usage = getattr(reply, "usage", None)
        text = choices[0].message.content or ""
        return {"text": text, "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
                "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0), "latency": latency,
                "logprobs": _first_token_logprobs(choices[0])}

    def explain(self, exc: BaseException) -> Exception:
        """One line for a failed request, naming the option to fix; never the key."""
        import openai

        url, retries = self.url, self.spec.max_retries
        status = getattr(exc, "status_code", None)
        if type(exc).__name__ == "Stopped":
            return EndpointError(say("--target-url {url}: stopped waiting for {model} ({budget} ran out).",
                                     url=url, model=self.name, budget=budget_text()))
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return InputError(say("--target-url {url}: the server refused the API key in ${env} "
                                  "({status}); check the key and its access to model {model}.",
                                  url=url, env=self.spec.key_env, status=status, model=self.name))
        if isinstance(exc, openai.NotFoundError):
            return InputError(say("--target {model}: {url} does not serve this model (404); pass a model id the "
                                  "server lists at /v1/models, and check that the URL ends with /v1.",
                                  model=self.name, url=url))
        if isinstance(exc, openai.APITimeoutError):
            return EndpointError(say("--target-url {url}: no answer within {timeout:g} s, {retries} retries "
                                     "included; raise --target-timeout or check the server.",
                                     url=url, timeout=self.spec.timeout, retries=retries))
        if isinstance(exc, openai.APIConnectionError):
            return InputError(say("--target-url {url}: cannot reach the server ({cause}); check the URL and that "
                                  "the server is running.", url=url, cause=_cause(exc)))
        if isinstance(exc, openai.RateLimitError):
            return EndpointError(say("--target-url {url}: still rate-limited (429) after {retries} retries; lower "
                                     "--target-concurrency or try again later (finished responses are cached).",
                                     url=url, retries=retries))
        if isinstance(exc, openai.BadRequestError):
            return EndpointError(say("--target-url {url}: the server rejected a request (400: {detail}); "
                                     "check --target and the server's limits (context length).",
                                     url=url, detail=_short(exc)))
        if isinstance(exc, openai.APIStatusError):
            return EndpointError(say("--target-url {url}: server error {status} after {retries} retries; check the "
                                     "server's logs (finished responses are cached).",
                                     url=url, status=status, retries=retries))
        if isinstance(exc, (openai.APIResponseValidationError, ValueError, TypeError, AttributeError)):
            return EndpointError(say("--target-url {url}: the server's answer is not a chat completion "
                                     "({kind}); check that it speaks the OpenAI API.", url=url,
                                     kind=type(exc).__name__))
        return EndpointError(say("--target-url {url}: the request failed ({kind}).", url=url,
                                 kind=type(exc).__name__))


def _first_token_logprobs(choice: Any) -> dict[str, float] | None:
    """``{token: logprob}`` of the first generated token's top alternatives, when the server returns them."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    first = content[0]
    alternatives = getattr(first, "top_logprobs", None) or []
    table = {alt.token: float(alt.logprob) for alt in alternatives}
    table.setdefault(first.token, float(first.logprob))
    return table


def _cause(exc: BaseException) -> str:
    inner = exc.__cause__ or exc.__context__
    text = type(inner).__name__ if inner is not None else say("connection failed")
    return say("connection refused") if "Connect" in text else text


def _short(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    text = str(message or getattr(exc, "message", "") or "")
    return (text[:120] + "...") if len(text) > 120 else (text or say("no detail"))


def check_endpoint(spec: EndpointSpec, store: Any = None) -> str:
    """One short request (cached like any other) so that a wrong URL, key or model fails before any work;
    returns a line saying what answered."""
    model = EndpointModel(spec, store)
    try:
        with time_limit(spec.timeout):
            reply = model.complete([model.request([{"role": "user", "content": "Reply with: OK"}], 2)])[0]
    except OutOfTime as exc:
        raise EndpointError(str(exc)) from None
    how = "cached" if reply["cached"] else f"{reply['latency']:.2f} s"
    return f"target {model.source} answers ({how})"


def open_for(model: Any, target: EndpointSpec | None, store: Any = None) -> LanguageModel:
    """The target endpoint when one is given, else the local model ``model`` (a ModelSpec)."""
    if target is not None:
        return EndpointModel(target, store)
    from advisor.probes.common.lm import open_model

    return open_model(model)
