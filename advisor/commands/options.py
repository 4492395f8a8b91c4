"""Options shared by several commands, each defined once."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import click

from advisor.paths import default_db_path


def db_option(fn: Callable) -> Callable:
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="DuckDB file (default: $ADVISOR_DB or advisor.duckdb in the XDG data directory).",
    )(fn)


def bf16_option(purpose: str = "") -> Callable[[Callable], Callable]:
    """``--bf16 auto|on|off`` (advisor.probes.common.precision), its help led by ``purpose`` when given."""
    from advisor.probes.common.precision import BF16_HELP

    text = f"{purpose}: {BF16_HELP}." if purpose else f"{BF16_HELP}."
    return click.option("--bf16", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
                        help=text)


def resolve_db(db: Path | None) -> Path:
    return db if db is not None else default_db_path()


def int_list(ctx: click.Context, param: click.Parameter, value: Any) -> list[int] | None:
    """Parse ``0,1,4,8`` into ``[0, 1, 4, 8]``."""
    if value is None or isinstance(value, list):
        return value
    try:
        items = [int(v) for v in str(value).split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of whole numbers (e.g. 0,1,4,8)") from None
    if not items or any(v < 0 for v in items):
        raise click.BadParameter(f"{value!r}: give one or more non-negative whole numbers, e.g. 0,1,4,8")
    return items


def duration(ctx: click.Context, param: click.Parameter, value: Any) -> float | None:
    """Parse ``300``, ``300s``, ``10m`` or ``1h`` into seconds."""
    if value is None:
        return None
    text = str(value).strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    factor = units.get(text[-1:], None)
    number = text[:-1] if factor else text
    try:
        seconds = float(number) * (factor or 1)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a duration; use e.g. 300s, 10m or 1h") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise click.BadParameter(f"{value!r}: give a positive, finite duration, e.g. 300s, 10m or 1h")
    return seconds


def run_probe_command(name: str, values: dict[str, Any], db: Path | None, *, force: bool, budget: float | None,
                      lines: Callable[[Any], list[str]], artifacts_dir: Path | None = None) -> Any:
    """What every ``advisor probe X`` does: validate the config, run the probe on the store, print.

    ``lines(result)`` gives the printed summary; notes follow unless it already printed them."""
    from pydantic import ValidationError

    from advisor.errors import InputError, format_validation_error
    from advisor.evidence.probe_runner import run_probe
    from advisor.probes.registry import get
    from advisor.store.database import Store

    spec = get(name)
    try:
        config = spec.config.model_validate(values)
    except ValidationError as exc:
        raise InputError(format_validation_error(exc, f"advisor probe {name}", f"`advisor probe {name} --help` lists the options")) from None
    if spec.check is not None:
        spec.check(config)  # unusable inputs stop here, before a run is recorded or a model loaded
    from advisor.probes.common.deadline import time_limit

    with Store(resolve_db(db)) as store, time_limit(budget):  # an endpoint's requests never outlast the budget
        result = run_probe(name, config, store, force=force, budget_seconds=budget, artifacts_dir=artifacts_dir)
    if result.status == "empty":
        need = result.summary.get("budget_needed")
        more = f"; about {need:.0f}s would measure the first point (--budget {math.ceil(need / 60)}m)" if need else ""
        raise InputError(f"the {name} probe measured nothing within --budget {budget:.0f}s{more}. What it "
                         "finished is stored.")
    for line in lines(result):
        click.echo(line)
    return result


TARGET_OPTIONS = (
    ("--target", "target_model", {"default": None,
     "help": "Your real model, as the endpoint names it (e.g. gpt-4o-mini, meta-llama/Llama-3.1-8B-Instruct): "
             "its own accuracy, format failures, tokens and latency are measured."}),
    ("--target-url", "target_url", {"default": None, "help": "Base URL of its OpenAI-compatible API, ending in /v1 "
                                    "(default: $OPENAI_BASE_URL)."}),
    ("--target-key-env", "target_key_env", {"default": "OPENAI_API_KEY", "show_default": True,
     "help": "Environment variable holding the API key (the key is never stored or printed)."}),
    ("--target-concurrency", "target_concurrency", {"default": 4, "show_default": True,
     "type": click.IntRange(1, 64), "help": "Requests in flight at once."}),
    ("--target-max-requests", "target_max_requests", {"default": None, "type": click.IntRange(min=1),
     "help": "Stop cleanly after this many paid requests (cached responses are free)."}),
    ("--target-max-spend", "target_max_spend", {"default": None, "type": click.FloatRange(min=0, min_open=True),
     "help": "Stop cleanly when the estimated spend reaches this (needs --target-price-in/out)."}),
    ("--target-price-in", "target_price_in", {"default": None, "type": click.FloatRange(min=0),
     "help": "Price per 1M prompt tokens, for the spend estimate."}),
    ("--target-price-out", "target_price_out", {"default": None, "type": click.FloatRange(min=0),
     "help": "Price per 1M completion tokens, for the spend estimate."}),
    ("--target-timeout", "target_timeout", {"default": 60.0, "show_default": True,
     "type": click.FloatRange(min=0, min_open=True), "help": "Seconds per request before it is retried."}),
    ("--target-retries", "target_retries", {"default": 4, "show_default": True, "type": click.IntRange(0, 20),
     "help": "Retries of a request that timed out or got 429/5xx (exponential backoff, Retry-After honoured)."}),
)


def target_options(fn: Callable) -> Callable:
    """The options that point advisor at the team's model (an OpenAI-compatible endpoint)."""
    for flag, name, kwargs in reversed(TARGET_OPTIONS):
        fn = click.option(flag, name, **kwargs)(fn)
    return fn


def target_spec(values: dict[str, Any]) -> dict[str, Any] | None:
    """``EndpointSpec`` fields from the target options (popped from ``values``), or ``None`` without ``--target``."""
    from advisor.errors import InputError

    given = {name: values.pop(name, None) for _, name, _ in TARGET_OPTIONS}
    if given["target_model"] is None:
        if given["target_url"] is not None:
            raise InputError("--target-url needs --target MODEL (the model id the endpoint serves).")
        return None
    if given["target_max_spend"] is not None and given["target_price_in"] is None and given["target_price_out"] is None:
        raise InputError("--target-max-spend needs --target-price-in and/or --target-price-out to estimate the spend.")
    spec = {"model": given["target_model"], "url": given["target_url"], "key_env": given["target_key_env"],
            "concurrency": given["target_concurrency"], "max_requests": given["target_max_requests"],
            "max_spend": given["target_max_spend"], "price_input_per_1m": given["target_price_in"],
            "price_output_per_1m": given["target_price_out"], "timeout": given["target_timeout"],
            "max_retries": given["target_retries"]}
    from advisor.probes.common.endpoint import EndpointSpec

    EndpointSpec.model_validate(spec).base_url()  # no URL at all is an input error now
    return spec


def lang_option(fn: Callable) -> Callable:
    from advisor.report.i18n import LANGS

    return click.option("--lang", type=click.Choice(LANGS, case_sensitive=False), default="en", show_default=True,
                        help="Language of the report: every sentence, rule rationales included (their sources stay as written).")(fn)


def labeled_data_options(fn: Any) -> Any:
    """``--data``, ``--text-col``, ``--label-col`` and ``--task``, as every probe that reads labeled examples takes
    them (in this order in its help)."""
    fn = click.option("--task", type=click.Choice(["auto", "classification", "generation", "extraction"]),
                      default="auto", show_default=True,
                      help="auto: classification when labels repeat, extraction when outputs are JSON.")(fn)
    fn = click.option("--label-col", "--output-col", "label_col", default=None,
                      help="Label / expected output column (default: auto-detect).")(fn)
    fn = click.option("--text-col", "--input-col", "text_col", default=None,
                      help="Input column (default: auto-detect).")(fn)
    return click.option("--data", type=click.Path(path_type=Path), required=True,
                        help="Labeled examples: .jsonl, .csv or .parquet (one example per row).")(fn)
