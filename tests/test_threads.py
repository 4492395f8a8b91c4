"""The probes' thread count: the cores other processes leave idle, ADVISOR_THREADS when set, fixed per process."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from advisor.probes.common import threads


@pytest.fixture
def fresh(monkeypatch):
    """No thread count chosen yet in this process (restored after the test)."""
    monkeypatch.setattr(threads, "_MEASURED", None)
    monkeypatch.delenv("ADVISOR_THREADS", raising=False)
    return threads


def test_the_environment_variable_sets_the_count_outright(fresh, monkeypatch):
    monkeypatch.setenv("ADVISOR_THREADS", "3")
    assert fresh.choose_threads() == 3


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5", "²"])
def test_a_bad_variable_is_one_clear_error(fresh, monkeypatch, value):
    from advisor.errors import InputError

    monkeypatch.setenv("ADVISOR_THREADS", value)
    with pytest.raises(InputError, match="ADVISOR_THREADS=.* is not a whole number of threads above 0"):
        fresh.torch_threads()


def test_every_core_busy_leaves_one_thread(fresh):
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(fresh.cores())]
    try:
        time.sleep(1.0)  # the loops are running
        assert fresh.idle_cores() < 0.5 * fresh.cores() + 0.5
        assert fresh.choose_threads() == 1
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def test_without_proc_stat_every_core_is_used(fresh, monkeypatch):
    def unreadable():
        raise OSError("no /proc/stat")

    monkeypatch.setattr(threads, "_cpu_times", unreadable)
    assert fresh.idle_cores() is None and fresh.choose_threads() == fresh.cores()


def test_the_measured_count_is_kept_for_the_process_and_the_variable_wins_whenever_set(fresh, monkeypatch):
    monkeypatch.setattr(threads, "idle_cores", lambda: 1.0)
    assert fresh.torch_threads() == 1
    monkeypatch.setattr(threads, "idle_cores", lambda: float(fresh.cores()))
    assert fresh.torch_threads() == 1  # measured once
    monkeypatch.setenv("ADVISOR_THREADS", "3")
    assert fresh.torch_threads() == 3
    monkeypatch.delenv("ADVISOR_THREADS")
    assert fresh.torch_threads() == 1


def test_a_cpu_quota_caps_the_cores(fresh, monkeypatch):
    monkeypatch.setattr(threads, "_allowed_cpus", lambda: set(range(16)))
    monkeypatch.setattr(threads, "_quota", lambda: 1.5)
    assert fresh.cores() == 2
    monkeypatch.setattr(threads, "_quota", lambda: None)
    assert fresh.cores() == 16


def test_torch_runs_on_the_chosen_count(fresh, monkeypatch):
    import torch

    from advisor.probes.common.runtime import configure_torch

    before = torch.get_num_threads()
    monkeypatch.setenv("ADVISOR_THREADS", "1" if before != 1 else "2")
    try:
        configure_torch()
        assert torch.get_num_threads() == fresh.torch_threads() != before
    finally:
        torch.set_num_threads(before)
