"""The whole test suite on clean checkouts while the machine is busy: every run must pass.

Clones a commit of this repository ``--runs`` times and runs the README's test command (``make test`` with
``CI=true`` and no standard input) in ``--at-once`` clones at the same time (a new one starts when one ends),
while ``--loops`` CPU-bound busy loops run beside them; prints one line per run (passed or failed, tests, minutes) and the count of runs that
passed. Each clone has its own temporary folder (``TMPDIR``), database and advisor home.

Without ``--venv-from`` each clone's ``make test`` installs its own environment, as on a fresh machine. With
``--venv-from PATH`` (an environment ``make install`` made), each clone gets a small environment that uses
PATH's installed packages but imports advisor from the clone's own sources (the editable install's mapping
is rewritten): the runs test the clone's code without installing torch once per clone.

    .venv/bin/python benchmarks/suite_under_load.py --runs 10 --at-once 1 --venv-from .venv
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUSY = [sys.executable, "-c", "while True: pass"]


def borrow_environment(source: Path, clone: Path) -> None:
    """``clone/.venv`` importing ``source``'s packages, with advisor (and its mapped folders) from ``clone``."""
    source = source.resolve()
    site = next((source / "lib").glob("python3*/site-packages"))
    finder = next(site.glob("__editable___advisor_*_finder.py"))
    origin = Path(re.search(r"'advisor': '([^']+)'", finder.read_text()).group(1)).parent
    python = Path(os.path.realpath(source / "bin" / "python"))
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(clone / ".venv")], check=True)
    own = next((clone / ".venv" / "lib").glob("python3*/site-packages"))
    (own / "zz_borrowed.pth").write_text(f"{site}\n")
    (own / "__editable___advisor_clone_finder.py").write_text(finder.read_text().replace(f"'{origin}/", f"'{clone}/"))
    (own / "__editable__.advisor_clone.pth").write_text(
        "import __editable___advisor_clone_finder; __editable___advisor_clone_finder.install()\n")
    for script in (source / "bin").iterdir():
        target = clone / ".venv" / "bin" / script.name
        if script.is_file() and not target.exists():
            text = script.read_bytes()
            if text.startswith(f"#!{source}/bin/python".encode()):
                target.write_bytes(b"#!" + str(clone / ".venv/bin/python").encode() + text[text.index(b"\n"):])
                target.chmod(0o755)
    (clone / ".venv" / ".installed").touch()  # make's install step is done: the packages are borrowed


def start(commit: str, folder: Path, venv_from: Path | None) -> tuple[subprocess.Popen, float, Path]:
    subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
    subprocess.run(["git", "-C", str(folder), "checkout", "-q", commit], check=True)
    if venv_from is not None:
        borrow_environment(venv_from, folder)
    temp = folder.with_name(folder.name + "-tmp")
    temp.mkdir()
    log = folder.with_name(folder.name + ".log")
    env = {**os.environ, "CI": "true", "TMPDIR": str(temp)}
    for name in ("ADVISOR_HOME", "ADVISOR_DB", "ADVISOR_CACHE", "VIRTUAL_ENV"):
        env.pop(name, None)
    proc = subprocess.Popen(["make", "test"], cwd=folder, env=env, stdin=subprocess.DEVNULL,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    return proc, time.monotonic(), log


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--at-once", type=int, default=1, help="clones whose suites run at the same time")
    parser.add_argument("--loops", type=int, default=2, help="CPU-bound busy loops running throughout")
    parser.add_argument("--stagger", type=float, default=0.0,
                        help="seconds between two starts (the suites' memory peaks then do not coincide)")
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--venv-from", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=None, help="folder for the clones and logs")
    args = parser.parse_args()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", args.commit], capture_output=True, text=True,
                            check=True).stdout.strip()
    work = args.work or Path(tempfile.mkdtemp(prefix="suite-under-load-"))
    loops = [subprocess.Popen(BUSY) for _ in range(args.loops)]
    print(f"commit {commit[:10]}, {args.runs} runs, {args.at_once} at a time, {args.loops} busy loops, in {work}")
    passed = 0
    try:
        waiting = [work / f"run-{i + 1}" for i in range(args.runs)]
        running: list[tuple[subprocess.Popen, float, Path]] = []
        last_start = -float("inf")
        while waiting or running:  # a new clone starts as soon as one ends: always --at-once suites running
            if waiting and len(running) < args.at_once and time.monotonic() - last_start >= args.stagger:
                running.append(start(commit, waiting.pop(0), args.venv_from))
                last_start = time.monotonic()
            time.sleep(5)
            for proc, began, log in [run for run in running if run[0].poll() is not None]:
                running.remove((proc, began, log))
                code = proc.returncode
                minutes = (time.monotonic() - began) / 60
                tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
                passed += code == 0
                print(f"{log.stem}: {'passed' if code == 0 else f'FAILED (exit {code})'}, {minutes:.1f} min: "
                      f"{tail[0]}", flush=True)
    finally:
        for loop in loops:
            loop.kill()
    print(f"{passed} of {args.runs} runs passed")
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
