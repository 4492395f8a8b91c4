"""Run a probe: reuse a stored result, or run it, record it (also when interrupted or failed)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel

from advisor.errors import AdvisorError
from advisor.probes.common.base import ProbeContext, ProbeResult
from advisor.probes.registry import get, implementation
from advisor.sentences import say
from advisor.probes.common.deadline import time_limit


def stderr_progress(label_prefix: str = "", every: float = 10.0) -> Callable[[int, int, str], None]:
    """Progress on stderr: a tqdm bar on a terminal (cleared when the step ends, so the next line starts
    clean); otherwise (a log, CI) a plain line when a step starts and at most every ``every`` seconds."""
    tty = sys.stderr.isatty()
    state: dict[str, Any] = {"label": None, "at": 0.0, "bar": None}

    def plain(done: int, total: int, label: str) -> None:
        now = time.monotonic()
        if label != state["label"] or done >= total or now - state["at"] >= every:
            sys.stderr.write(f"{label_prefix}{label} {done}/{total}\n")
            sys.stderr.flush()
            state.update(label=label, at=now)

    def bar(done: int, total: int, label: str) -> None:
        from tqdm import tqdm

        current = state["bar"]
        if current is None or state["label"] != label or current.total != total:
            if current is not None:
                current.close()
            current = tqdm(total=total, desc=f"{label_prefix}{label}", leave=False, file=sys.stderr,
                           dynamic_ncols=True)
            state.update(bar=current, label=label)
        current.n = min(done, total)
        current.refresh()
        if done >= total:
            current.close()
            state["bar"] = None

    def report(done: int, total: int, label: str) -> None:
        if total > 0:
            (bar if tty else plain)(done, total, label)

    def close() -> None:
        """End an unfinished bar (a budget stopped the step), so the next line starts on its own line."""
        if state["bar"] is not None:
            state["bar"].close()
            state["bar"] = None

    report.close = close  # type: ignore[attr-defined]
    return report


def run_probe(
    name: str,
    config: BaseModel,
    store: Any = None,
    *,
    force: bool = False,
    budget_seconds: float | None = None,
    assessment_id: int | None = None,
    artifacts_dir: Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> ProbeResult:
    """Run probe ``name`` with ``config``; the result is stored when a store is given.

    A completed run with the same fingerprint is reused unless ``force``. Ctrl-C marks the
    run ``interrupted`` and keeps what was finished, then re-raises. A failure is recorded
    with its message before it propagates.
    """
    spec = get(name)
    probe = implementation(spec)
    fingerprint = probe.fingerprint(config)
    if store is not None and not force:
        previous = store.find_completed_run(name, fingerprint)
        if previous is not None:
            data = store.load_probe_result(previous)
            if data is not None:
                result = ProbeResult.model_validate(data)
                result.run_id = previous
                result.notes.append(say("reused stored run #{run} (same data, model and config; --force re-runs)",
                                        run=previous))
                if assessment_id is not None:
                    store.attach_run(previous, assessment_id)
                return result
    prepared = _prepare_model(spec, config)  # one-off work, before the budget's clock starts
    result = ProbeResult(probe=name, fingerprint=fingerprint)
    if prepared:
        result.notes.append(say("the probe model was prepared first (once) in {seconds:.0f} s, not counted in the "
                                "budget", seconds=prepared))
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    ctx = ProbeContext(
        result=result,
        deadline=deadline,
        store=store,
        artifacts_dir=artifacts_dir,
        progress=progress or stderr_progress(f"{name}: "),
        log=lambda line: print(f"{name}: {line}", file=sys.stderr, flush=True),
    )
    config_dump = config.model_dump(mode="json")
    run_id = store.start_probe_run(name, fingerprint, config_dump, assessment_id) if store is not None else None
    result.run_id = run_id
    started = time.monotonic()
    try:
        try:
            with time_limit(_hard_limit(budget_seconds)):  # an endpoint's requests end with this probe's share
                result = probe.run(config, ctx)
        finally:
            getattr(ctx.progress, "close", lambda: None)()
        result.run_id = run_id
        result.evidence = spec.check_evidence(result.evidence)
    except KeyboardInterrupt:
        _record(store, run_id, ctx.result, started, "interrupted", "interrupted (Ctrl-C or SIGTERM); finished work kept")
        raise
    except AdvisorError as exc:
        _record(store, run_id, ctx.result, started, "failed", str(exc))
        raise
    except Exception as exc:  # recorded, then shown by the caller as one line
        _record(store, run_id, ctx.result, started, "failed", f"{type(exc).__name__}: {exc}")
        raise
    result.wall_seconds = time.monotonic() - started
    status = "done" if result.status == "done" else "partial"
    _record(store, run_id, result, started, status, None)
    if run_id is not None:
        result.notes.append(say("stored as probe run #{run}", run=run_id))
    return result


def _hard_limit(budget_seconds: float | None) -> float | None:
    """How long a probe's endpoint requests may run: its share of the budget and a little more, max(10%, 5 s),
    for the requests under way when the probe stops itself; so a hanging server costs the probes after it none
    of their shares."""
    return None if budget_seconds is None else budget_seconds + max(0.1 * budget_seconds, 5.0)


def _prepare_model(spec: Any, config: BaseModel) -> float:
    """:func:`prepare_once` for the probe's local model (none for a probe on a target endpoint)."""
    from advisor.probes.common.runtime import ModelSpec

    model = getattr(config, "model", None)
    if not spec.uses_model or not isinstance(model, ModelSpec) or getattr(config, "target", None) is not None:
        return 0.0
    return prepare_once(model, lambda line: print(line, file=sys.stderr, flush=True))


def prepare_once(model: Any, announce: Callable[[str], None]) -> float:
    """Convert or download a local model when its first use needs it, with one line before and one after; the
    seconds it took (0 when nothing was needed, or when it fails: the probe's own load then reports the
    problem). An endpoint's time limit moves on by as much, so the preparation is charged to no budget."""
    from advisor.probes.common import deadline
    from advisor.probes.common.runtime import prepare, preparation_needed

    line = preparation_needed(model)
    if line is None:
        return 0.0
    announce(line)
    started = time.monotonic()
    try:
        prepare(model)
    except AdvisorError:
        return 0.0
    spent = time.monotonic() - started
    if deadline.LIMIT["deadline"] is not None:
        deadline.LIMIT["deadline"] += spent
    announce(f"    prepared in {spent:.0f} s (once; not counted in the budget)")
    return spent


def _record(store: Any, run_id: int | None, result: ProbeResult, started: float, status: str, error: str | None) -> None:
    if store is None or run_id is None:
        return
    result.wall_seconds = time.monotonic() - started
    if status != "done" and result.status != "empty":  # "empty" is stored as partial, but the caller must know
        result.status = status
    store.finish_probe_run(run_id, result, status, error)
