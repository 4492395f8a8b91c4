"""Benchmark: the few-shot probe against a target model behind an OpenAI-compatible endpoint.

Starts `transformers serve` on a free loopback port with the embedded model (converted in advisor's cache),
then runs the target few-shot probe on the same items at concurrency 1, 4 and 8 (a fresh database each, so
every request is paid), and once more on the last database (every response cached: zero requests).
Prints wall time, requests and requests per second. Not a test: run it by hand, record the numbers in
docs/benchmarks.md.

    python benchmarks/target.py [--data FILE] [--eval-size 24] [-k 0,2] [--concurrency 1,4,8]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    exe = Path(sys.executable).parent / "transformers"
    proc = subprocess.Popen([str(exe), "serve", str(folder), "--port", str(port), "--device", "cpu"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(180):
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2).read()
            return proc, url
        except OSError:
            time.sleep(1)
    proc.terminate()
    raise SystemExit("transformers serve did not start within 180 s")


def run(data: Path, model: str, url: str, db: Path, eval_size: int, ks: list[int], concurrency: int) -> tuple[float, int]:
    from advisor.evidence.probe_runner import run_probe
    from advisor.probes.registry import get
    from advisor.store.database import Store

    config = get("target-few-shot").config.model_validate({
        "data": data, "k": ks, "seeds": 1, "eval_size": eval_size,
        "target": {"model": model, "url": url, "concurrency": concurrency}})
    with Store(db) as store:
        before = store.con.execute("SELECT count(*) FROM response_cache").fetchone()[0]
        started = time.perf_counter()
        run_probe("target-few-shot", config, store, force=True, progress=lambda *a: None)
        wall = time.perf_counter() - started
        paid = store.con.execute("SELECT count(*) FROM response_cache").fetchone()[0] - before
    return wall, paid


def main() -> None:
    from advisor.probes.common.runtime import prepare_embedded

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO / "examples" / "support-desk" / "tickets.jsonl")
    ap.add_argument("--eval-size", type=int, default=24)
    ap.add_argument("-k", default="0,2")
    ap.add_argument("--concurrency", default="1,4,8")
    args = ap.parse_args()
    ks = [int(k) for k in args.k.split(",")]
    folder = prepare_embedded("smollm2-135m")
    os.environ.setdefault("OPENAI_API_KEY", "not-needed")
    proc, url = start_server(folder)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"server: transformers serve {folder.name} at {url}; items: {args.eval_size} x k={ks}")
            print(f"{'concurrency':>11}  {'wall s':>7}  {'requests':>8}  {'req/s':>6}")
            db = None
            for c in [int(x) for x in args.concurrency.split(",")]:
                db = Path(tmp) / f"c{c}.duckdb"
                wall, paid = run(args.data, str(folder), url, db, args.eval_size, ks, c)
                print(f"{c:>11}  {wall:>7.1f}  {paid:>8}  {paid / wall:>6.2f}")
            wall, paid = run(args.data, str(folder), url, db, args.eval_size, ks, 8)
            print(f"{'cached':>11}  {wall:>7.2f}  {paid:>8}  (a re-run of the last one: every response from the store)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
