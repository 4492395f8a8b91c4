"""Benchmark: advisor's prompt probe against DSPy's own optimizers, run directly on the same model, data and splits.

The data set is generated here: messages from an airline's customers, six intents, several phrasings each with
slots, greetings and sign-offs (a domain and phrasings of their own: nothing in the probe or in DSPy's settings
was tuned on it). Both sides talk to the same model behind an OpenAI-compatible endpoint (by default
`transformers serve` started here on the embedded model converted in advisor's cache; ``--target-url`` for
another server), each through its own counting pass-through proxy, so the requests each one sends are counted
the same way.

(a) advisor: ``advisor probe prompt`` with the task description below, its defaults but the sizes and reasoning
    (off unless ``--reasoning``: its 256-token answers cost minutes each split on CPU; DSPy's side does not
    reason either); it splits the data into held-out, selection and demonstration pool.
(b) DSPy, in a separate environment (``--dspy-python``; by default ``.venv-dspy``, created on first run with
    ``python3 -m venv`` and ``pip install dspy``; DSPy is no dependency of advisor), through
    ``benchmarks/dspy_side.py``: ``dspy.Predict`` on ``text -> label`` (a ``Literal`` of the labels, the task
    description as instructions), compiled with ``dspy.LabeledFewShot`` and
    ``dspy.BootstrapFewShotWithRandomSearch`` (``--optimizers``; ``mipro`` adds ``dspy.MIPROv2(auto="light")``)
    on the same pool (``trainset``) and selection split (``valset``), then evaluated on the same held-out items
    by exact match of the label.

Prints each program's held-out accuracy with its Wilson 95% interval, the paired difference to advisor's chosen
prompt on the same items (Newcombe's interval, exact McNemar p), and the requests and wall time each spent.
Not a test: run it by hand, record the numbers in docs/prompt-probe.md.

    python benchmarks/prompt_vs_dspy.py [--target-url URL --target MODEL] [--dspy-python PATH]
                                        [--eval-size 60] [--selection-size 24] [--optimizers labeled,random_search]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TASK = "Route each message from an airline's customers to the team that handles it."
INTENTS = {
    "baggage": ["My suitcase did not arrive in {city} after flight {flight}",
                "The handle of my bag was broken when I picked it up at {city}",
                "How many kilos can I check in on a {city} flight?",
                "Still waiting for my luggage, file reference {ref}",
                "Can I add a second checked bag to booking {ref}?",
                "My golf clubs came off flight {flight} damaged"],
    "refund": ["I cancelled my trip to {city} and want my money back",
               "When will the refund for booking {ref} reach my card?",
               "You charged me twice for the same ticket to {city}",
               "Flight {flight} was cancelled, please return the fare",
               "Is my basic fare refundable if I cannot travel on the {day}th?",
               "The voucher you gave me should have been a cash repayment"],
    "seating": ["Can I change my seat on flight {flight} to a window?",
                "We are a family of {n} and were not placed together",
                "Is there extra legroom available on the {city} route?",
                "I paid for seat {n}A but the app shows a middle seat",
                "Please move me to an aisle seat, booking {ref}",
                "How much is an exit row seat to {city}?"],
    "pets": ["Can my small dog travel in the cabin to {city}?",
             "What size carrier do you allow for a cat?",
             "I travel with a guide dog on flight {flight}, what do I need?",
             "Do you fly rabbits in the hold?",
             "How much does it cost to bring my puppy to {city}?",
             "Which documents does my cat need for a trip abroad?"],
    "delay": ["Flight {flight} is {n} hours late, will I make my connection?",
              "We sat on the runway in {city} for three hours",
              "My connecting flight left before we landed in {city}",
              "The departure board says {flight} is delayed again",
              "Can I claim compensation for a {n} hour delay?",
              "Why was the {city} flight postponed until tomorrow?"],
    "loyalty": ["My miles from flight {flight} were never credited",
                "How many points do I need for gold status?",
                "I want to transfer my miles to my partner",
                "My frequent flyer card number {ref} does not work online",
                "Do my points expire if I do not fly this year?",
                "Can I upgrade to business class with miles on the {city} flight?"],
}
CITIES = ["Oslo", "Lisbon", "Denver", "Osaka", "Nairobi", "Lima", "Porto", "Zagreb"]
NAMES = ["Ana", "Tomasz", "Keiko", "Farid", "Grace", "Lukas", "Noor", "Pedro"]
OPENERS = ["", "", "Hello, ", "Hi there. ", "Good morning, ", "Dear support, "]
CLOSERS = ["", "", " Thanks.", " Regards, {name}", " Please help.", " Thank you in advance!"]


def generate(path: Path, per_intent: int = 40, seed: int = 2027) -> Path:
    rng = random.Random(seed)
    rows = []
    for intent, phrasings in INTENTS.items():
        for _ in range(per_intent):
            flight = f"{rng.choice('ABKLTU')}{rng.choice('XYZ')}{rng.randint(10, 999)}"
            slots = {"city": rng.choice(CITIES), "flight": flight,
                     "ref": f"{rng.choice('QRSTVW')}{rng.randint(10000, 99999)}", "n": rng.randint(2, 6),
                     "day": rng.randint(4, 28), "name": rng.choice(NAMES)}
            body = rng.choice(phrasings).format(**slots)
            text = rng.choice(OPENERS) + (body[0].lower() + body[1:] if rng.random() < 0.3 else body)
            rows.append({"text": (text + rng.choice(CLOSERS).format(**slots)).strip(), "label": intent})
    rng.shuffle(rows)
    path.write_text("".join(json.dumps({"id": f"a{i}", **r}) + "\n" for i, r in enumerate(rows)))
    return path


class CountingProxy:
    """A loopback pass-through to ``upstream`` (ends in /v1) that records when each chat completion was sent and
    its body (``tests/test_prompt_serve.py`` counts the same way)."""

    def __init__(self, upstream: str) -> None:
        self.sent: list[float] = []
        self.bodies: list[dict] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802
                self._forward(None)

            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path.endswith("/chat/completions"):
                    proxy.sent.append(time.time())
                    proxy.bodies.append(json.loads(raw))
                self._forward(raw)

            def _forward(self, raw: bytes | None) -> None:
                headers = {"content-type": "application/json"}
                if self.headers.get("authorization"):
                    headers["authorization"] = self.headers["authorization"]
                request = urllib.request.Request(upstream.removesuffix("/v1") + self.path, data=raw,
                                                 method=self.command, headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=900) as reply:
                        status, payload = reply.status, reply.read()
                except urllib.error.HTTPError as exc:
                    status, payload = exc.code, exc.read()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client stopped waiting
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "CountingProxy":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def between(self, start: float, end: float) -> int:
        return sum(1 for t in self.sent if start <= t <= end)


def dspy_python(given: str | None) -> Path:
    """The interpreter of the environment that has DSPy: ``given``, else ``.venv-dspy`` (created on first run)."""
    if given:
        return Path(given)
    python = REPO / ".venv-dspy" / "bin" / "python"
    if not python.exists():
        print("creating .venv-dspy (python3 -m venv; pip install dspy) ...", flush=True)
        subprocess.run([shutil.which("python3") or "python3", "-m", "venv", str(REPO / ".venv-dspy")], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "dspy"], check=True)
    return python


def run_advisor(data: Path, model: str, url: str, args: argparse.Namespace, db: Path) -> dict:
    from advisor.evidence.probe_runner import run_probe
    from advisor.probes.common.deadline import time_limit
    from advisor.probes.prompt.spec import PromptConfig
    from advisor.store.database import Store

    with CountingProxy(url) as proxy:
        target = {"model": model, "url": proxy.url, "concurrency": args.threads, "timeout": args.timeout}
        config = PromptConfig(data=data, target=target,
                              task_description=TASK, eval_size=args.eval_size, selection_size=args.selection_size,
                              k=[int(k) for k in args.k.split(",")], naive_k=args.naive_k,
                              split_seed=args.split_seed, reasoning=args.reasoning, embedder_backend="torch")
        started = time.time()
        with Store(db) as store, time_limit(args.budget):
            result = run_probe("prompt", config, store, force=True, budget_seconds=args.budget,
                               progress=lambda *a: None)
        wall = time.time() - started
    s, ev = result.summary, result.evidence
    held = {}
    for e in result.examples:
        if e.params["split"] == "held_out":
            held.setdefault(e.params["config"], {})[e.example_id] = bool(e.correct)
    return {"status": result.status, "stopped": s.get("stopped"), "chosen": s.get("chosen"), "naive": s.get("naive"),
            "configs": [(r["key"], r["accuracy"]) for r in s.get("configs", [])], "evidence": ev,
            "held_out_ids": s["held_out_ids"], "selection_ids": s["selection_ids"],
            "chosen_correct": held.get(s.get("chosen"), {}), "naive_correct": held.get(s.get("naive"), {}),
            "prompt_example": s.get("held_out", {}).get("chosen", {}).get("prompt_example"),
            "requests": len(proxy.sent), "wall_seconds": wall}


def run_dspy(python: Path, name: str, spec: dict, url: str, tmp: Path) -> dict:
    inp, out, log = tmp / f"dspy-{name}.in.json", tmp / f"dspy-{name}.out.json", tmp / f"dspy-{name}.log"
    with CountingProxy(url) as proxy:
        inp.write_text(json.dumps({**spec, "optimizer": name, "url": proxy.url}))
        started = time.time()
        with log.open("w") as f:
            done = subprocess.run([str(python), str(REPO / "benchmarks" / "dspy_side.py"), str(inp), str(out)],
                                  stdout=f, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        wall = time.time() - started
    if done.returncode != 0:
        raise SystemExit(f"DSPy side ({name}) failed; see {log}:\n" + "\n".join(log.read_text().splitlines()[-15:]))
    result = json.loads(out.read_text())
    c0 = result["compile_started"]
    result.update(requests=len(proxy.sent), wall_seconds=wall,
                  compile_requests=proxy.between(c0, c0 + result["compile_seconds"]),
                  eval_requests=proxy.between(result["eval_started"], result["eval_started"] + result["eval_seconds"]),
                  correct={r["id"]: r["correct"] for r in result["held_out"]}, log=str(log))
    return result


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target-url", default=None,
                    help="an OpenAI-compatible server (default: start transformers serve)")
    ap.add_argument("--target", default=None, help="the model id the server serves (default: the embedded model)")
    ap.add_argument("--dspy-python", default=None, help="python of an environment with DSPy (default: .venv-dspy)")
    ap.add_argument("--per-intent", type=int, default=40)
    ap.add_argument("--data-seed", type=int, default=2027)
    ap.add_argument("--eval-size", type=int, default=60)
    ap.add_argument("--selection-size", type=int, default=24)
    ap.add_argument("-k", default="0,2,4,8", help="the probe's k values")
    ap.add_argument("--naive-k", type=int, default=4)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=None, help="seconds for the probe")
    ap.add_argument("--optimizers", default="labeled,random_search", help="labeled, random_search, mipro")
    ap.add_argument("--dspy-k", type=int, default=4, help="DSPy's labeled demonstrations (max_labeled_demos, k; "
                    "4 is MIPROv2's default and the naive prompt's k)")
    ap.add_argument("--bootstrapped", type=int, default=4, help="DSPy's max_bootstrapped_demos")
    ap.add_argument("--candidates", type=int, default=3, help="num_candidate_programs of the random search")
    ap.add_argument("--max-tokens", type=int, default=32, help="DSPy's max_tokens per answer (an answer in its "
                    "format takes about 17)")
    ap.add_argument("--reasoning", action="store_true", help="let the probe try reasoning first (256-token "
                    "answers: slow on CPU; DSPy's side stays dspy.Predict)")
    ap.add_argument("--threads", type=int, default=1, help="requests in flight, both sides (transformers serve "
                    "answers one at a time: more only queue there, and past the timeout a queued request is retried)")
    ap.add_argument("--timeout", type=float, default=600, help="the probe's seconds per request (--target-timeout)")
    ap.add_argument("--out", type=Path, default=None, help="write every figure here (JSON)")
    args = ap.parse_args()

    sys.path.insert(0, str(REPO / "benchmarks"))
    from target import start_server

    python = dspy_python(args.dspy_python)
    tmp = Path(tempfile.mkdtemp(prefix="prompt-vs-dspy-"))
    data = generate(tmp / "airline.jsonl", args.per_intent, args.data_seed)
    rows = {r["id"]: r for r in map(json.loads, data.read_text().splitlines())}
    os.environ.setdefault("OPENAI_API_KEY", "not-needed")
    proc = None
    if args.target_url:
        url, model = args.target_url, args.target
        if not model:
            raise SystemExit("--target-url needs --target (the model id the server serves)")
    else:
        from advisor.probes.common.runtime import prepare_embedded

        folder = prepare_embedded("smollm2-135m")
        proc, url = start_server(folder)
        model = str(folder)
    try:
        print(f"data: {data} ({len(rows)} messages, {len(INTENTS)} intents, seed {args.data_seed}); model: {model} "
              f"@ {url}; {args.threads} requests in flight on each side", flush=True)
        adv = run_advisor(data, model, url, args, tmp / "advisor.duckdb")
        held_ids, sel_ids = adv["held_out_ids"], adv["selection_ids"]
        pool_ids = [i for i in rows if i not in set(held_ids) | set(sel_ids)]
        print(f"splits (the probe's): {len(held_ids)} held-out, {len(sel_ids)} selection, {len(pool_ids)} pool; "
              f"advisor: {adv['status']}, {len(adv['configs'])} configurations, {adv['requests']} requests, "
              f"{adv['wall_seconds']:.0f} s", flush=True)
        spec = {"model": model, "labels": sorted(INTENTS), "instruction": TASK, "threads": args.threads,
                "max_tokens": args.max_tokens, "timeout": args.timeout, "k": args.dspy_k,
                "bootstrapped": args.bootstrapped,
                "candidates": args.candidates, "trainset": [rows[i] for i in pool_ids],
                "valset": [rows[i] for i in sel_ids], "heldout": [rows[i] for i in held_ids]}
        sides = {}
        try:
            for name in [o.strip() for o in args.optimizers.split(",") if o.strip()]:
                sides[name] = run_dspy(python, name, spec, url, tmp)
                r = sides[name]
                print(f"dspy {name}: {sum(r['correct'].values())}/{len(held_ids)} held-out, {r['requests']} "
                      f"requests ({r['compile_requests']} compiling), {r['wall_seconds']:.0f} s", flush=True)
        except KeyboardInterrupt:
            print("interrupted: the figures below are those of the programs that finished", flush=True)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    report(args, adv, sides, held_ids, model, data, tmp)


def report(args: argparse.Namespace, adv: dict, sides: dict, held_ids: list, model: str, data: Path,
           tmp: Path) -> None:
    from advisor.probes.common.stats import mcnemar_exact, paired_difference_ci_cells, wilson_interval

    names = {"labeled": f"DSPy LabeledFewShot(k={args.dspy_k})",
             "random_search": f"DSPy BootstrapFewShotWithRandomSearch({args.candidates} candidates)",
             "mipro": "DSPy MIPROv2(auto=light)"}
    n = len(held_ids)
    table = [(f"advisor naive {args.naive_k}-shot ({adv['naive']})", adv["naive_correct"], None, None, None),
             (f"advisor chosen ({adv['chosen']})", adv["chosen_correct"], adv["requests"], adv["wall_seconds"],
              f"{len(adv['configs'])} configurations")]
    table += [(names[k], r["correct"], r["requests"], r["wall_seconds"],
               f"{r['compile_requests']} requests compiling; {r['demos']} demos ({r['bootstrapped_demos']} "
               "bootstrapped)") for k, r in sides.items()]
    print(f"\n{'program':<58}  {'held-out':>8}  {'95% CI':>13}  {'requests':>8}  {'wall s':>6}  notes")
    figures = []
    for label, correct, requests, wall, note in table:
        hits = sum(correct.get(i, False) for i in held_ids)
        low, high = wilson_interval(hits, n)
        figures.append({"program": label, "accuracy": hits / n, "low": low, "high": high, "requests": requests,
                        "wall_seconds": wall})
        shown = "" if requests is None else requests
        print(f"{label:<58}  {pct(hits / n):>8}  {pct(low):>6}–{pct(high):<6}  {shown:>8}"
              f"  {'' if wall is None else f'{wall:.0f}':>6}  {note or '(scored inside the probe run)'}")
    print(f"\npaired on the same {n} held-out items, DSPy program minus advisor's chosen prompt:")
    chosen = [adv["chosen_correct"].get(i, False) for i in held_ids]
    for k, r in sides.items():
        other = [r["correct"].get(i, False) for i in held_ids]
        both = sum(a and b for a, b in zip(chosen, other))
        b_only = sum(b and not a for a, b in zip(chosen, other))
        a_only = sum(a and not b for a, b in zip(chosen, other))
        low, high = paired_difference_ci_cells(both, b_only, a_only, n - both - b_only - a_only)
        p = mcnemar_exact(chosen, other)[2]
        diff = (b_only - a_only) / n
        figures.append({"program": names[k], "minus_chosen": diff, "low": low, "high": high, "p_value": p})
        print(f"  {names[k]:<56}  {100 * diff:+.1f} points (95% CI {100 * low:+.1f} to {100 * high:+.1f}); "
              f"only DSPy right {b_only}, only advisor right {a_only}; McNemar p = {p:.3f}")
    out = args.out or tmp / "results.json"
    out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "model": model, "data": str(data),
                               "figures": figures, "advisor": adv, "dspy": sides}, indent=1, default=str))
    print(f"\nevery figure, each side's prompts and predictions: {out}")


if __name__ == "__main__":
    main()
