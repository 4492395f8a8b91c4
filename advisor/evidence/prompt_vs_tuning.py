"""The prompting ceiling against the LoRA learning curve: at how many labels fine-tuning overtakes the best prompt,
stated only when both were measured on the same model and the same data.

The *prompting ceiling* is the prompt probe's chosen prompt: its held-out accuracy with its Wilson 95% interval
(``prompt.best_accuracy``, ``_low``, ``_high``). The LoRA probe's learning curve (a power law with its bootstrap
band, ``probes/lora/learning_curve.py``) is read against it with the LoRA probe's own code
(``probes/lora/analysis.py:curve_summary``: the same fit, seed, grid and reach as its crossover with the best
few-shot accuracy). The crossover's 95% interval takes both uncertainties: its lower end is read with the
ceiling's lower end (the last size at which the band's upper edge is still below it), its upper end with the
ceiling's upper end (the first size at which the band's lower edge reaches it), each widened to hold the point
estimate. Beyond ``REACH_FACTOR`` times the largest size trained no crossover is stated.

The two probes usually measure different models: the LoRA trial the small local probe model, the prompt search
the team's target model. A curve of one model crossing the ceiling of another says nothing about either, so the
crossover is computed only when both name the same model (an embedded alias counts as its hub id; a path, a hub
id and an endpoint's model name compare by their last part, case aside) and, when both recorded it, the same
data. Otherwise the comparison names both models and the one command that would put them on the same model, and
gives no fact. The facts (``prompt_vs_tuning.*``, :class:`PromptVsTuningFacts`) exist only for a same-model
crossover; on the probe model, only when it does the task (``data.proxy_competent``).
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Any, Callable

from advisor.probes.common.spec import Evidence, fact

NAMESPACE = "prompt_vs_tuning"


class PromptVsTuningFacts(Evidence):
    """Where a LoRA adapter overtakes the best engineered prompt, both measured on the same model and data."""

    crossover_examples: float | None = fact(
        "training examples at which the LoRA curve reaches the prompt probe's chosen-prompt held-out accuracy, "
        "both on the same model (only within reach: 10x the largest size trained)", "examples", ge=0)
    crossover_examples_low: float | None = fact(
        "lower end of its 95% interval: the largest size at which the curve's band (upper edge) is still below "
        "the ceiling's Wilson interval (lower end)", "examples", ge=0)
    crossover_examples_high: float | None = fact(
        "upper end: the smallest size at which the band's lower edge reaches the ceiling's upper end (only within "
        "reach)", "examples", ge=0)
    on_target: bool | None = fact("both were measured on the team's target model (false: both on the probe model)")


def _plain(result: Any) -> dict[str, Any] | None:
    """A probe result as a plain dict (a ``ProbeResult`` or its stored JSON)."""
    if result is None:
        return None
    return result.model_dump(mode="json") if hasattr(result, "model_dump") else dict(result)


def model_identity(name: str) -> str:
    """What identifies a model across probes: an endpoint's ``model @ url`` without the url, an embedded alias as
    its hub id, then the last part of a path or hub id, lower case."""
    from advisor.probes.common.runtime import EMBEDDED

    name = str(name).split(" @ ")[0].strip()
    name = EMBEDDED.get(name, {}).get("hub_id", name)
    return re.split(r"[/\\]", name.rstrip("/\\"))[-1].lower()


def endpoint_model(name: str) -> str:
    """The model name an endpoint serves, from the report's ``model @ url``."""
    return str(name).split(" @ ")[0].strip()


def comparison(prompt: Any, lora: Any) -> dict[str, Any] | None:
    """The prompting ceiling and the learning curve side by side, with the crossover when both are on the same
    model and data; ``None`` unless the prompt probe scored its chosen prompt on the held-out split and the LoRA
    probe trained at least one size."""
    prompt, lora = _plain(prompt), _plain(lora)
    if prompt is None or lora is None:
        return None
    pev, ps = prompt.get("evidence") or {}, prompt.get("summary") or {}
    ls = lora.get("summary") or {}
    if pev.get("best_accuracy_low") is None or pev.get("best_accuracy_high") is None or not ls.get("points"):
        return None
    ceiling = {"accuracy": float(pev["best_accuracy"]), "low": float(pev["best_accuracy_low"]),
               "high": float(pev["best_accuracy_high"]), "model": str(ps.get("model") or "?"),
               "on_target": bool(pev.get("on_target")), "eval_size": pev.get("eval_size"),
               "naive_accuracy": pev.get("naive_accuracy"), "naive_k": pev.get("naive_k"),
               "prompt": ps.get("chosen")}
    points = [{"examples": int(p["examples"]), "accuracy": float(p["accuracy"])} for p in ls["points"]]
    sizes = [p["examples"] for p in points]
    curve = {"model": str(ls.get("model") or "?"), "method": ls.get("method", "lora"), "points": points,
             "eval_size": int(ls.get("eval_size") or 0), "available_examples": ls.get("available_examples"),
             "fit": ls.get("fit"), "band": ls.get("band"), "projection": ls.get("projection")}
    same_model = model_identity(ceiling["model"]) == model_identity(curve["model"])
    data = [(r.get("artifacts") or {}).get("dataset_fingerprint") for r in (prompt, lora)]
    same_data = None if None in data else data[0] == data[1]
    out: dict[str, Any] = {"ceiling": ceiling, "curve": curve, "same_model": same_model, "same_data": same_data,
                           "comparable": same_model and same_data is not False, "smallest": min(sizes),
                           "largest": max(sizes), "reach": _reach_factor() * max(sizes), "crossover": None,
                           "command": None}
    if not out["comparable"]:
        out["command"] = same_model_command(ceiling, curve, ps.get("data"), same_model)
        return out
    seed = int((ls.get("settings") or {}).get("seed") or 0)
    reading = copy.deepcopy(crossing(tuple((p["examples"], p["accuracy"]) for p in points), curve["eval_size"],
                                     curve["available_examples"], seed, ceiling["accuracy"], ceiling["low"],
                                     ceiling["high"]))  # the cached reading stays as computed
    curve.update(fit=reading["fit"], band=reading["band"], projection=reading["projection"])
    out["crossover"] = reading["crossover"]
    return out


def _reach_factor() -> int:
    from advisor.probes.lora.learning_curve import REACH_FACTOR

    return REACH_FACTOR


@lru_cache(maxsize=16)
def crossing(points: tuple[tuple[int, float], ...], n_eval: int, available: int | None, seed: int,
             ceiling: float, ceiling_low: float, ceiling_high: float) -> dict[str, Any]:
    """The learning curve read against the ceiling and each end of its interval (the LoRA probe's
    ``curve_summary``, whose seeded bootstrap gives the same band each time): the fit, band and projection, and
    the crossover ``{status, examples, within_reach, how, low, high}``. ``status`` is ``crosses``,
    ``above_at_smallest`` (the curve is above the ceiling at the smallest size trained), ``beyond_reach`` (it
    crosses past ``REACH_FACTOR`` times the largest size), ``levels_off`` (its fitted top is at or below the
    ceiling) or ``unknown`` (fewer than three sizes, none above the ceiling)."""
    from advisor.probes.lora.analysis import curve_summary

    rows = [{"examples": n, "accuracy": a} for n, a in points]
    at = curve_summary(rows, n_eval, available, ceiling, seed)
    cross = dict(at["crossover"])
    if at["band"] is not None and at["band"]["low"] is not None:
        low_end = curve_summary(rows, n_eval, None, ceiling_low, seed)["crossover"].get("low")
        high_end = curve_summary(rows, n_eval, None, ceiling_high, seed)["crossover"].get("high")
        point = cross["examples"] if cross["within_reach"] else None
        cross["low"] = None if low_end is None else (low_end if point is None else min(low_end, float(point)))
        cross["high"] = None if high_end is None else (high_end if point is None else max(high_end, float(point)))
    else:
        cross["low"] = cross["high"] = None
    cross["status"] = _status(cross, min(n for n, _ in points))
    return {"fit": at["fit"], "band": at["band"], "projection": at["projection"], "crossover": cross}


def _status(cross: dict[str, Any], smallest: int) -> str:
    if cross["how"] in ("never", "unknown"):
        return {"never": "levels_off", "unknown": "unknown"}[cross["how"]]
    if not cross["within_reach"]:
        return "beyond_reach"
    if cross["examples"] < smallest or (cross["how"] == "measured" and cross["examples"] == smallest):
        return "above_at_smallest"
    return "crosses"


def same_model_command(ceiling: dict[str, Any], curve: dict[str, Any], data: str | None, same_model: bool) -> str:
    """The one command that puts both figures on the same model and data: the LoRA trial on the target's open
    weights when the ceiling was measured on the target (on the curve's own model when only the data differ),
    else the prompt search on the curve's model; the prompt probe's data and held-out size."""
    data_arg = _quote(data or "FILE")
    n = f" --eval-size {ceiling['eval_size']}" if ceiling.get("eval_size") else ""
    if same_model or ceiling["on_target"]:
        model = curve["model"] if same_model else endpoint_model(ceiling["model"])
        available = curve.get("available_examples")
        extra = f" --available-examples {available}" if available else ""
        return f"advisor probe lora --data {data_arg} --model {_quote(model)}{n}{extra}"
    return f"advisor probe prompt --data {data_arg} --model {_quote(curve['model'])}{n}"


def _quote(value: str) -> str:
    import shlex

    return shlex.quote(str(value))


def crossover_facts(prompt: Any, lora: Any, competent: bool | None = None,
                    add_source: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The ``prompt_vs_tuning`` facts, only for a same-model, same-data crossover, and on the probe model only
    when it does the task (``competent``); ``add_source`` receives the fact source the report's evidence table
    lists (the keyword arguments of ``interpret.FactSource``) when a crossover is stated. A crossover across models
    never becomes a fact."""
    found = comparison(prompt, lora)
    if found is None or not found["comparable"] or found["crossover"] is None:
        return {}
    on_target = found["ceiling"]["on_target"]
    if not on_target and competent is not True:
        return {}
    cross = found["crossover"]
    facts: dict[str, Any] = {"on_target": on_target}
    if cross["within_reach"] and cross["examples"] is not None:
        facts["crossover_examples"] = float(cross["examples"])
    if cross.get("low") is not None:
        facts["crossover_examples_low"] = float(cross["low"])
    if cross.get("high") is not None:
        facts["crossover_examples_high"] = float(cross["high"])
    if "crossover_examples" in facts and add_source is not None:
        both = "crossover_examples_low" in facts and "crossover_examples_high" in facts
        add_source({"name": f"{NAMESPACE}.crossover_examples", "value": facts["crossover_examples"],
                    "low": facts["crossover_examples_low"] if both else None,
                    "high": facts["crossover_examples_high"] if both else None, "probe": "lora",
                    "model": found["curve"]["model"], "role": "target" if on_target else "proxy"})
    return facts
