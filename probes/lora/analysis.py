"""Turning a LoRA run's points into metrics, summary, evidence, verdict and the learning-curve chart.

Pure functions of the run's state (``LoraRun``), rebuilt after every trained size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from advisor.errors import InputError
from advisor.probes.common.base import Metric, ProbeResult, same
from advisor.probes.common.general import SAMPLE_NAMES
from advisor.probes.lora.forgetting import forgetting_summary
from advisor.probes.lora.learning_curve import REACH_FACTOR, crossover, crossover_interval, fit_curve, prediction_band
from advisor.probes.common.stats import mcnemar_exact, sample_size_two_proportions, wilson_interval
from advisor.sentences import say

ALPHA = 0.05
LEVEL = "95%"  # a field of the chart's labels, so that no catalog message holds a bare percent sign


def publish(run: Any, band: bool = True) -> None:
    """Rebuild ``run.result`` (metrics, summary, evidence, headline) from the finished sizes; ``band=False``
    leaves out the bootstrap band (a second or two of refits, for a result the next size replaces)."""
    result, c = run.result, run.config
    if not hasattr(run, "few_shot"):
        run.few_shot = few_shot_reference(run)
    best = max(run.points, key=lambda p: (p["accuracy"], -p["examples"])) if run.points else None
    few_best = c.few_shot_best if c.few_shot_best is not None else (run.few_shot or {}).get("accuracy")
    curve = curve_summary(run.points, len(run.split.eval), c.available_examples, few_best, c.seed, band)
    comparison = compare(run, best, few_best)
    cost = cost_summary(run, best)
    forgetting = None if best is None else forgetting_summary(run.zero_shot, best)
    if forgetting is not None:
        forgetting["sample"] = SAMPLE_NAMES.get(c.language, SAMPLE_NAMES["en"])
    result.metrics = metrics(run, curve, cost, forgetting)
    result.summary = {
        "method": c.method, "model": c.model.name, "labels": run.ds.labels, "eval_size": len(run.split.eval),
        "pool_size": len(run.order), "sizes": run.sizes, "bf16": run.bf16, "zero_shot": run.zero_shot,
        "points": run.points, "best": best, "few_shot": run.few_shot, "few_shot_best": few_best, **curve,
        "comparison": comparison, "forgetting": forgetting, "cost": cost, "available_examples": c.available_examples,
        "settings": {"rank": c.rank, "alpha": c.alpha or 2 * c.rank, "dropout": c.dropout, "batch_size": c.batch_size,
                     "virtual_tokens": c.virtual_tokens, "target_modules": c.target_modules, "seed": c.seed},
    }
    result.evidence = evidence(run, best, few_best, curve, comparison, forgetting, cost)
    result.headline = headline(run, best, comparison)


# -- few-shot reference ---------------------------------------------------------------------
def few_shot_reference(run: Any) -> dict | None:
    """The best few-shot configuration from the stored few-shot run (``few_shot_run_id``), if any."""
    from advisor.probes.lora.spec import best_few_shot, few_shot_label

    run_id, store = run.config.few_shot_run_id, run.ctx.store
    if run_id is None:
        return None
    if store is None:
        run.result.notes.append(say("few-shot run #{run} not read: no database open; no paired test", run=run_id))
        return None
    data = check_few_shot_run(run)
    picked = best_few_shot(data.get("examples", []))
    if picked is None:
        run.result.notes.append(say("few-shot run #{run} has no per-example correctness; no paired test", run=run_id))
        return None
    info, correct = picked
    return {**info, "label": few_shot_label(info["params"]), "run_id": run_id, "correct": correct}


def check_few_shot_run(run: Any) -> dict | None:
    """The stored run ``--few-shot-run`` names, or an :class:`InputError` when no few-shot run has that id (checked
    before the trial loads its model, trains or scores anything). ``None`` without the option or a database."""
    run_id, store = run.config.few_shot_run_id, run.ctx.store
    if run_id is None or store is None:
        return None
    data = stored_few_shot(run)
    if data is None or data.get("probe") != "few-shot":
        raise InputError(say("--few-shot-run {run}: no stored few-shot run with that id in {path}; "
                             "`advisor history` lists runs (or leave the option out).", run=run_id, path=store.path))
    return data


def stored_few_shot(run: Any) -> dict | None:
    """The stored run ``few_shot_run_id`` names (``None`` without one or without a database), read once per
    LoRA run: its k=0 predictions serve the zero-shot baseline, its best k the paired test."""
    if not hasattr(run, "few_shot_stored"):
        run_id, store = run.config.few_shot_run_id, run.ctx.store
        run.few_shot_stored = None if run_id is None or store is None else store.load_probe_result(run_id)
    return run.few_shot_stored


def few_shot_zero_shot(run: Any) -> dict | None:
    """The stored few-shot run's k=0 predictions on this run's eval set (``run_id``, ``predictions`` in eval
    order, the ``seconds`` that scoring took), when they are the measurement the LoRA probe's zero-shot baseline
    would repeat: the same local model, data, eval examples, prompt template, chat formatting and precision,
    labels scored by log-likelihood. ``None`` otherwise (the baseline then runs)."""
    data = check_few_shot_run(run)
    if data is None or run.config.method != "lora" or data.get("status") not in ("done", "partial"):
        return None
    s = data.get("summary") or {}
    same = (s.get("model_role") == "proxy" and s.get("model_source") == run.lm.source
            and s.get("by_generation") is False and s.get("chat_template") == run.builder.chat
            and s.get("bf16") == run.bf16 and s.get("template") == run.template.model_dump()
            and s.get("dataset_fingerprint") == run.ds.fingerprint)
    if not same:
        return None
    predicted = {e["example_id"]: e.get("prediction") for e in data.get("examples", [])
                 if (e.get("params") or {}).get("k") == 0}
    wanted = [e.id for e in run.split.eval]
    if set(predicted) != set(wanted) or any(predicted[i] not in run.ds.labels for i in wanted):
        return None
    seconds = next((row.get("wall_seconds") for row in s.get("per_k", []) if row.get("k") == 0), None)
    return {"run_id": run.config.few_shot_run_id, "predictions": [predicted[i] for i in wanted],
            "seconds": seconds or 0.0}


# -- learning curve -------------------------------------------------------------------------
def curve_summary(points: list[dict], n_eval: int, available: int | None, few_best: float | None, seed: int,
                  with_band: bool = True) -> dict:
    """Fit, band on a grid (``with_band``), projection at ``available`` and crossover with ``few_best``."""
    sizes = [p["examples"] for p in points]
    accs = [p["accuracy"] for p in points]
    fit = fit_curve(sizes, accs, n_eval) if points else None
    out: dict[str, Any] = {"fit": None, "band": None, "projection": None, "crossover": None}
    if few_best is not None and points:
        out["crossover"] = crossover(fit, sizes, accs, few_best)
    if fit is None:
        return out
    out["fit"] = {"ceiling": fit.ceiling, "scale": fit.scale, "exponent": fit.exponent, "rmse": fit.rmse}
    right = max([max(sizes), available or 0] + [(out["crossover"] or {}).get("examples") or 0])
    grid = np.unique(np.geomspace(min(sizes), max(right, max(sizes)), 40).round())
    reach = np.unique(np.geomspace(min(sizes), REACH_FACTOR * max(sizes), 160).round())  # the crossover's grid
    targets = np.concatenate([grid, reach, [available or grid[-1]]])
    band = prediction_band(sizes, accs, n_eval, targets, seed=seed) if with_band else None
    fitted = fit.predict(targets)
    g = len(grid)
    out["band"] = {"x": grid.tolist(), "fit": fitted[:g].tolist(),
                   "low": band[0][:g].tolist() if band else None, "high": band[1][:g].tolist() if band else None}
    if band and out["crossover"] is not None:
        out["crossover"].update(zip(("low", "high"), crossover_bounds(out["crossover"], reach, band[0][g:-1],
                                                                      band[1][g:-1], few_best)))
    if available:
        out["projection"] = {"examples": available, "accuracy": float(fitted[-1]),
                             "low": float(band[0][-1]) if band else None, "high": float(band[1][-1]) if band else None,
                             "extrapolated": available > max(sizes)}
    return out


def crossover_bounds(cross: dict, grid: np.ndarray, low_edge: np.ndarray, high_edge: np.ndarray,
                     few_best: float) -> tuple[float | None, float | None]:
    """The crossover's 95% interval read off the band (:func:`crossover_interval`), widened to hold the point
    estimate when that is within reach."""
    low, high = crossover_interval(grid, low_edge, high_edge, few_best)
    n = cross.get("examples") if cross.get("within_reach") else None
    if n is not None:
        low = None if low is None else min(low, float(n))
        high = None if high is None else max(high, float(n))
    return low, high


# -- paired comparison ----------------------------------------------------------------------
def compare(run: Any, best: dict | None, few_best: float | None) -> dict | None:
    """McNemar test of the best adapter against the few-shot best (paired) or the zero-shot baseline."""
    if best is None:
        return None
    ids = [e.id for e in run.split.eval]
    lora = dict(zip(ids, run.correct[best["examples"]]))
    few = run.few_shot
    if few is not None and any(i in few["correct"] for i in ids):
        paired = [i for i in ids if i in few["correct"]]
        if len(paired) < len(ids):
            run.result.notes.append(say("paired test on the {paired} of {total} eval examples the few-shot run scored",
                                        paired=len(paired), total=len(ids)))
        base, name = [few["correct"][i] for i in paired], few["label"]
    else:
        if few is not None:
            run.result.notes.append(say("the few-shot run scored none of these eval examples (another split?); "
                                        "compared with zero-shot instead"))
        paired, base, name = ids, run.correct[0], "zero-shot"
    lora_only, base_only, p = mcnemar_exact(base, [lora[i] for i in paired])
    base_acc = sum(base) / len(base)
    lora_acc = sum(lora[i] for i in paired) / len(paired)
    other = base_acc + 0.05 if base_acc <= 0.95 else base_acc - 0.05
    return {"baseline": "few-shot" if name != "zero-shot" else "zero-shot", "baseline_label": name,
            "baseline_accuracy": base_acc, "lora_accuracy": lora_acc, "n": len(paired), "lora_only": lora_only,
            "baseline_only": base_only, "p_value": p, "significant": p < ALPHA, "difference": lora_acc - base_acc,
            "required_eval_size_5pp": sample_size_two_proportions(base_acc, other),
            "verdict": verdict(run.config.method, best["examples"], name, lora_acc - base_acc, p)}


def verdict(method: str, size: int, baseline: str, diff: float, p: float) -> str:
    """One plain sentence, e.g. ``LoRA at 128 examples beats 8-shot by 12 pp, significant (McNemar p=0.003).``"""
    who = f"{'LoRA' if method == 'lora' else 'Prompt tuning'} at {size} examples"
    pp = abs(diff) * 100
    sig = f"significant (McNemar p={p:.3g})" if p < ALPHA else f"not significant (McNemar p={p:.3g})"
    if round(pp) == 0 and diff == 0:
        return f"{who} ties {baseline}, {sig}."
    relation = f"beats {baseline} by" if diff > 0 else f"trails {baseline} by"
    return f"{who} {relation} {pp:.0f} pp, {sig}."


# -- cost -------------------------------------------------------------------------------------
def tokens_per_example(run: Any) -> float:
    """Mean tokens of an encoded training example (prompt and label) of the user's data."""
    return float(np.mean([len(t.input_ids) for t in run.encoded.values()]))


def cost_summary(run: Any, best: dict | None) -> dict | None:
    from advisor.training_cost import project_training
    from advisor.probes.lora.spec import epochs_for

    c = run.config
    if c.production_model_b is None or best is None:
        return None
    examples = c.available_examples or best["examples"]
    tokens = tokens_per_example(run)
    epochs = epochs_for(examples, c.batch_size, c.epochs)
    return project_training(c.production_model_b, examples, tokens, epochs, c.gpu, c.gpu_price_per_hour).model_dump()


# -- metrics, evidence, headline ----------------------------------------------------------------
def _accuracy_metric(acc: float, n: int, params: dict) -> Metric:
    low, high = wilson_interval(round(acc * n), n)
    return Metric(name="accuracy", value=acc, ci_low=low, ci_high=high, n=n, params=params)


def metrics(run: Any, curve: dict, cost: dict | None, forgetting: dict | None = None) -> list[Metric]:
    n, method = len(run.split.eval), run.config.method
    out = [_accuracy_metric(run.zero_shot["accuracy"], n, {"method": "none", "examples": 0}),
           Metric(name="general_loss", value=run.zero_shot["general_loss"], params={"method": "none", "examples": 0})]
    for p in run.points:
        params = {"method": method, "examples": p["examples"]}
        out += [_accuracy_metric(p["accuracy"], n, params),
                Metric(name="general_loss", value=p["general_loss"], params=params),
                Metric(name="train_loss_last", value=p["loss_last"], params=params),
                Metric(name="train_tokens_per_second", value=p["tokens_per_second"], params=params)]
    proj = curve.get("projection")
    if proj:
        out.append(Metric(name="projected_accuracy", value=proj["accuracy"], ci_low=proj["low"], ci_high=proj["high"],
                          params={"examples": proj["examples"]}))
    if forgetting:
        out.append(Metric(name="forgetting_ratio", value=forgetting["ratio"], ci_low=forgetting["low"],
                          ci_high=forgetting["high"], params={"examples": forgetting["examples"]}))
    if cost:
        out.append(Metric(name="training_gpu_hours", value=cost["gpu_hours"], params={"gpu": cost["gpu"]}))
    return out


def evidence(run: Any, best: dict | None, few_best: float | None, curve: dict, comparison: dict | None,
             forgetting: dict | None, cost: dict | None) -> dict:
    ev: dict[str, Any] = {"method": run.config.method, "zero_shot_accuracy": run.zero_shot["accuracy"],
                          "eval_size": len(run.split.eval), "complete": len(run.points) == len(run.sizes),
                          "train_tokens_per_example": tokens_per_example(run)}
    if best is None:
        return ev
    ev.update(best_accuracy=best["accuracy"], best_size=best["examples"])
    if few_best is not None:
        ev.update(few_shot_best=few_best, gain_over_few_shot=best["accuracy"] - few_best)
    if comparison:
        ev.update(baseline=comparison["baseline"], significant=comparison["significant"],
                  p_value=comparison["p_value"], required_eval_size_5pp=comparison["required_eval_size_5pp"])
    cross = curve.get("crossover")
    if cross and cross["within_reach"] and cross["examples"] is not None:
        ev["crossover_examples"] = cross["examples"]
    if cross and cross.get("low") is not None:
        ev["crossover_examples_low"] = cross["low"]
    if cross and cross.get("high") is not None:
        ev["crossover_examples_high"] = cross["high"]
    proj = curve.get("projection")
    if proj:
        ev["projected_accuracy"] = proj["accuracy"]
        if proj["low"] is not None:
            ev.update(projected_accuracy_low=proj["low"], projected_accuracy_high=proj["high"])
    if forgetting:
        ev["forgetting_ratio"] = forgetting["ratio"]
        if forgetting.get("low") is not None:
            ev.update(forgetting_ratio_low=forgetting["low"], forgetting_ratio_high=forgetting["high"])
    if cost:
        ev.update(training_gpu_hours=cost["gpu_hours"], training_cost=cost["cost"])
    return ev


def headline(run: Any, best: dict | None, comparison: dict | None) -> str:
    who = "LoRA" if run.config.method == "lora" else "Prompt tuning"
    zero = run.zero_shot["accuracy"]
    if best is None:
        return say("{method} on {model}: no adapter finished (zero-shot accuracy {zero:.1%}).", method=who,
                   model=run.config.model.name, zero=zero)
    text = (f"{who} on {run.config.model.name} reaches {best['accuracy']:.1%} with {best['examples']} training "
            f"examples (zero-shot {zero:.1%}, {len(run.split.eval)} held-out examples).")
    return text + (f" {comparison['verdict']}" if comparison else "")


# -- chart -----------------------------------------------------------------------------------
def learning_curve_chart(result: ProbeResult, out_dir: Path, tr: Callable[[str], str] = same) -> Path | None:
    """Accuracy vs training examples (log x): points with Wilson CIs, fit with its band, few-shot line and where
    LoRA crosses it; ``tr`` says each text in the report's language."""
    s = result.summary
    if not s.get("points"):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.2, 4.0), dpi=110)
    _plot_points(ax, s, tr)
    _plot_fit(ax, s, tr)
    _plot_references(ax, s, tr)
    _plot_crossover(ax, s, tr)
    ax.set_xscale("log")
    _plain_ticks(ax, [p["examples"] for p in s["points"]] + [s.get("available_examples") or 0])
    ax.set_xlabel(tr("training examples (log scale)"))
    ax.set_ylabel(tr("eval accuracy"))
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    model, n = s.get("model") or tr("the probe model"), s["eval_size"]
    if s["method"] == "lora":
        title = tr(say("LoRA learning curve on {model} ({n} held-out examples)", model=model, n=n))
    else:
        title = tr(say("Prompt tuning learning curve on {model} ({n} held-out examples)", model=model, n=n))
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)  # clear of the data
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "lora_learning_curve.png"
    fig.tight_layout()
    _fit_title(fig, ax)
    fig.savefig(path)
    plt.close(fig)
    return path


def _fit_title(fig: Any, ax: Any) -> None:
    """A title too wide for the figure (a long model name, a longer language) goes on two lines, the count of
    held-out examples on the second."""
    title = ax.title
    box = title.get_window_extent(fig.canvas.get_renderer())
    head, _, tail = title.get_text().rpartition(" (")
    if head and (box.x0 < 0 or box.x1 > fig.bbox.width):
        title.set_text(f"{head}\n({tail}")
        fig.tight_layout()


def _plain_ticks(ax: Any, values: list[float]) -> None:
    """Ticks at the trained sizes (and the available volume) written as plain numbers, not 2x10^1."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ticks = sorted({int(v) for v in values if v and v > 0})
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{t:,}" for t in ticks])


def _plot_points(ax: Any, s: dict, tr: Callable[[str], str] = same) -> None:
    n = s["eval_size"]
    xs = [p["examples"] for p in s["points"]]
    ys = [p["accuracy"] for p in s["points"]]
    cis = [wilson_interval(round(y * n), n) for y in ys]
    err = [[max(0.0, y - lo) for y, (lo, _) in zip(ys, cis)], [max(0.0, hi - y) for y, (_, hi) in zip(ys, cis)]]
    label = tr(say("LoRA ({level} CI)", level=LEVEL)) if s["method"] == "lora" else \
        tr(say("prompt tuning ({level} CI)", level=LEVEL))
    ax.errorbar(xs, ys, yerr=err, fmt="o", color="C0", capsize=3, label=label)


def _plot_fit(ax: Any, s: dict, tr: Callable[[str], str] = same) -> None:
    band = s.get("band")
    if not band:
        return
    ax.plot(band["x"], band["fit"], color="C0", lw=1.5, label=tr("fitted curve"))
    if band["low"] is not None:
        ax.fill_between(band["x"], band["low"], band["high"], color="C0", alpha=0.15, label=tr("95% band"))


def _plot_references(ax: Any, s: dict, tr: Callable[[str], str] = same) -> None:
    ax.axhline(s["zero_shot"]["accuracy"], color="grey", ls=":", lw=1, label=tr("zero-shot"))
    if s.get("few_shot_best") is not None:
        label = (s.get("few_shot") or {}).get("label") or "few-shot best"
        ax.axhline(s["few_shot_best"], color="C3", ls="--", lw=1.2,
                   label=tr(say("{label} (best few-shot)", label=label)))
    if s.get("available_examples"):
        ax.axvline(s["available_examples"], color="C2", ls="-.", lw=1, label=tr("your labeled data"))


def _plot_crossover(ax: Any, s: dict, tr: Callable[[str], str] = same) -> None:
    """The crossover with the few-shot line: a marker where the curve (or a measured point) crosses it, or, when
    the fit puts it below the smallest size trained, a left-pointing marker at that size (no number is read off
    a curve extrapolated below the data)."""
    cross, few = s.get("crossover") or {}, s.get("few_shot_best")
    n = cross.get("examples")
    if few is not None and cross.get("low") is not None and cross.get("high") is not None:
        ax.hlines(few, cross["low"], cross["high"], color="C3", lw=4, alpha=0.3,
                  label=tr(say("crossover {level} interval", level=LEVEL)))
    if few is None or n is None:
        return
    smallest = min(p["examples"] for p in s["points"])
    if n < smallest:
        ax.plot([smallest], [few], marker="<", ms=9, color="C3", ls="none",
                label=tr(say("crossover: below {smallest} examples", smallest=f"{smallest:,}")))
        return
    measured, near, at = cross.get("how") == "measured", cross.get("within_reach", True), f"{n:,}"
    if measured:
        label = tr(say("crossover ≈ {n} examples (measured)", n=at)) if near else \
            tr(say("crossover ≈ {n} examples (measured, beyond reach)", n=at))
    else:
        label = tr(say("crossover ≈ {n} examples (fitted)", n=at)) if near else \
            tr(say("crossover ≈ {n} examples (fitted, beyond reach)", n=at))
    ax.axvline(n, color="C3", ls=":", lw=0.8)
    ax.plot([n], [few], marker="X", ms=9, color="C3", ls="none", label=label)
