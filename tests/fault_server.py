"""A small OpenAI-compatible server on loopback whose faults the tests choose (429 with Retry-After, 500,
slow answers, malformed bodies, empty choices, 401, 404, a hang, an answer dripped one byte a second, a reset
connection). It answers a chat completion with the first
allowed label the system message lists, so classification by generation has something to match.

Only the faults are simulated here; the real server of the target-model tests is ``transformers serve``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GATHER_WAIT = 2.0  # seconds a request waits for the others ``server.gather`` asks for


class FaultServer:
    """``with FaultServer() as server:`` → ``server.url`` (ends in /v1); set ``server.plan`` to a list of
    faults consumed one per request (``"429"``, ``"500"``, ``"malformed"``, ``"empty"``, ``"401"``, ``"404"``,
    ``"slow"``: answers after ``server.slow`` seconds, ``"hang"``: never answers, ``"drip"``: headers, then the
    body one byte a second, ``"reset"``: the connection is reset, ``"ok"``); ``server.always`` applies when the
    plan is empty. ``server.released`` ends every slow answer, hang and drip (set on exit, so the server's threads
    stop)."""

    def __init__(self) -> None:
        self.plan: list[str] = []
        self.always = "ok"
        self.requests: list[dict] = []
        self.arrived: list[float] = []  # time.monotonic() at each request's arrival
        self.headers: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.05
        #: hold each request until this many are in flight (at most ``GATHER_WAIT`` seconds): concurrency shows
        #: however slowly a busy machine lets the client send its next request
        self.gather = 0
        self.slow = 3.0  # seconds a "slow" answer takes
        self.logprobs = False  # answer with token log-probabilities when the request asks for them
        #: the model's behaviour: a function of the request body returning the answer text (default: the
        #: first allowed label), so a test can play a target model that is always right, or never follows
        #: the format
        self.answer = None
        self.lock = threading.Lock()
        self.released = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                with server.lock:
                    server.requests.append(body)
                    server.arrived.append(time.monotonic())
                    server.headers.append(dict(self.headers))
                    fault = server.plan.pop(0) if server.plan else server.always
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                self.counted = True
                try:
                    server.wait_for_company()
                    time.sleep(server.delay)
                    self._answer(fault, body)
                finally:
                    self._answered()

            def send_response(self, code, message=None):
                self._answered()
                super().send_response(code, message)

            def _answered(self) -> None:
                """A request is in flight until its answer starts: once the client can read it, it may send the
                next, and on a busy machine it did before this thread got back to count the first one out."""
                if getattr(self, "counted", False):
                    self.counted = False
                    with server.lock:
                        server.in_flight -= 1

            def _answer(self, fault: str, body: dict) -> None:
                if fault == "slow":
                    server.released.wait(server.slow)
                if fault == "hang":
                    server.released.wait(120)
                    return
                if fault == "reset":
                    import socket
                    import struct

                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()  # RST, not FIN
                    self.close_connection = True
                    return
                if fault == "drip":
                    payload = json.dumps(_completion(body, server.logprobs, server.answer)).encode()
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    for i in range(len(payload)):
                        if server.released.wait(1.0):
                            return
                        self.wfile.write(payload[i:i + 1])
                        self.wfile.flush()
                    return
                if fault in ("429", "500", "401", "404"):
                    payload = json.dumps({"error": {"message": f"simulated {fault}", "type": "test"}}).encode()
                    self.send_response(int(fault))
                    if fault == "429":
                        self.send_header("retry-after", "0.2")
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if self.path.endswith("/embeddings") and fault == "ok":
                    payload = json.dumps(_embeddings(body)).encode()
                elif fault == "malformed":
                    payload = b"{not json"
                elif fault == "empty":
                    payload = json.dumps({"id": "x", "object": "chat.completion", "created": 0,
                                          "model": body.get("model"), "choices": []}).encode()
                else:
                    payload = json.dumps(_completion(body, server.logprobs, server.answer)).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def wait_for_company(self) -> None:
        until = time.monotonic() + GATHER_WAIT
        while self.gather and time.monotonic() < until:
            with self.lock:
                if self.in_flight >= self.gather:
                    return
            time.sleep(0.01)

    def __enter__(self) -> "FaultServer":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # a client that hung up is not news
        pass


def _embeddings(body: dict) -> dict:
    """A deterministic bag-of-words embedding (64 hashed dimensions): texts sharing words are close."""
    import zlib

    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = []
    for i, text in enumerate(texts):
        vector = [0.0] * 64
        for word in re.findall(r"[a-z]+", text.lower()):
            vector[zlib.crc32(word.encode()) % 64] += 1.0
        data.append({"object": "embedding", "index": i, "embedding": vector})
    return {"object": "list", "data": data, "model": body.get("model"),
            "usage": {"prompt_tokens": 0, "total_tokens": 0}}


def _completion(body: dict, logprobs: bool = False, answer=None) -> dict:
    messages = body.get("messages", [])
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    labels = re.search(r"labels: (.*)\.", system)
    names = labels.group(1).split(", ") if labels else ["Paris"]
    text = answer(body) if answer is not None else names[0]
    prompt_tokens = sum(len(m["content"].split()) for m in messages)
    choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
    if logprobs and body.get("logprobs"):
        # the answer names the first label, but the second label's first token is the most likely one
        alternatives = [{"token": names[-1][:3], "logprob": -0.2, "bytes": None},
                        {"token": text[:3], "logprob": -1.8, "bytes": None}]
        choice["logprobs"] = {"content": [{"token": text[:3], "logprob": -1.8, "bytes": None,
                                           "top_logprobs": alternatives}]}
    return {"id": "x", "object": "chat.completion", "created": 0, "model": body.get("model"), "choices": [choice],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1}}
