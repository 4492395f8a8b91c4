"""How many threads the probes' torch and OpenVINO work uses: the cores other processes leave idle.

Every core is the fastest choice on an idle machine. On a busy one it is the slowest: the threads of each
parallel step wait for one another, and any of them the scheduler sets aside for another process stalls the
rest. Beside five test suites and two busy loops on two cores, a few-shot probe ran 1.9x faster on one thread
than on two (`benchmarks/threads_under_load.py`). So the count is the idle share of the cores this process may
run on (its CPU affinity, capped by a cgroup CPU quota), measured from ``/proc/stat`` over a fifth of a second
when the first model loads, at least one, and kept for the life of the process. ``ADVISOR_THREADS`` sets it
outright; without ``/proc/stat`` (macOS, Windows) it is every core. Thread counts change float sums in their last
bits only: figures from runs on differently busy machines agree to that precision.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

WINDOW = 0.2  # seconds of /proc/stat: long enough to average the scheduler's ticks, short beside a model load
_MEASURED: int | None = None


def _allowed_cpus() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _quota() -> float | None:
    """CPUs a cgroup v2 quota allows (``cpu.max``: "max 100000" or "200000 100000"), or None."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def cores() -> int:
    """The cores this process may run on: its affinity (or every CPU), capped by a CPU quota."""
    allowed = _allowed_cpus()
    count = len(allowed) if allowed else (os.cpu_count() or 1)
    quota = _quota()
    return max(1, min(count, math.ceil(quota))) if quota else count


def _cpu_times() -> tuple[int, int]:
    """Idle and total time of the CPUs this process may run on, from ``/proc/stat``'s ``cpuN`` lines."""
    allowed = _allowed_cpus()
    idle = total = 0
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            name, *values = line.split()
            if not name.startswith("cpu") or name == "cpu":
                continue
            if allowed is not None and int(name[3:]) not in allowed:
                continue
            fields = [int(x) for x in values[:8]]  # guest time is already inside user and nice
            idle += fields[3] + fields[4]  # idle + iowait
            total += sum(fields)
    if total == 0:
        raise ValueError("no cpuN line in /proc/stat")
    return idle, total


def idle_cores(window: float = WINDOW) -> float | None:
    """Cores no process used during ``window`` seconds (this one sleeps through it), or None without
    ``/proc/stat``: the idle share of this process's CPUs times :func:`cores`."""
    try:
        idle0, total0 = _cpu_times()
        time.sleep(window)
        idle1, total1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return cores() * (idle1 - idle0) / (total1 - total0)


def _override() -> int | None:
    wanted = os.environ.get("ADVISOR_THREADS", "").strip()
    if not wanted:
        return None
    if not wanted.isdecimal() or int(wanted) == 0:  # isdigit() would pass "²", which int() refuses
        from advisor.errors import InputError
        from advisor.sentences import say

        raise InputError(say("ADVISOR_THREADS={value!r} is not a whole number of threads above 0: set it to one "
                             "(e.g. 2), or unset it to use the cores other processes leave idle", value=wanted))
    return int(wanted)


def choose_threads() -> int:
    """``ADVISOR_THREADS`` if set, else the idle cores rounded (at least one; every core when unmeasurable)."""
    wanted = _override()
    if wanted is not None:
        return wanted
    idle = idle_cores()
    return cores() if idle is None else max(1, min(cores(), round(idle)))


def torch_threads() -> int:
    """The thread count for this process: ``ADVISOR_THREADS`` whenever set, else measured once, at the first
    call, and kept."""
    global _MEASURED
    wanted = _override()
    if wanted is not None:
        return wanted
    if _MEASURED is None:
        _MEASURED = choose_threads()
    return _MEASURED
