"""How many threads the probes' torch and OpenVINO work uses: the cores other processes leave idle.

Every core is the fastest choice on an idle machine. On a busy one it is the slowest: the threads of each
parallel step wait for one another, and any of them the scheduler sets aside for another process stalls the
rest. Beside two busy loops on two cores, a few-shot probe ran 2-2.5x faster on one thread than on two
(`benchmarks/threads_under_load.py`). So the count is the cores left idle, measured from ``/proc/stat`` over a
fifth of a second when the first model loads, at least one, and kept for the life of the process (figures from
one process never mix thread counts). ``ADVISOR_THREADS`` sets it outright; without ``/proc/stat`` (macOS,
Windows) it is every core.
"""

from __future__ import annotations

import os
import time

WINDOW = 0.2  # seconds of /proc/stat: long enough to average the scheduler's ticks, short beside a model load
_CHOSEN: int | None = None


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    return fields[3] + fields[4], sum(fields)  # idle + iowait, all


def idle_cores(window: float = WINDOW) -> float | None:
    """Cores no process used during ``window`` seconds (this one sleeps through it), or None without
    ``/proc/stat``. The machine-wide idle share times this process's cores."""
    try:
        idle0, total0 = _cpu_times()
        time.sleep(window)
        idle1, total1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return cores() * (idle1 - idle0) / (total1 - total0)


def choose_threads() -> int:
    """``ADVISOR_THREADS`` if set, else the idle cores rounded (at least one; every core when unmeasurable)."""
    wanted = os.environ.get("ADVISOR_THREADS", "").strip()
    if wanted.isdigit() and int(wanted) > 0:
        return int(wanted)
    idle = idle_cores()
    return cores() if idle is None else max(1, min(cores(), round(idle)))


def torch_threads() -> int:
    """The thread count for this process: chosen once, at the first call."""
    global _CHOSEN
    if _CHOSEN is None:
        _CHOSEN = choose_threads()
    return _CHOSEN
