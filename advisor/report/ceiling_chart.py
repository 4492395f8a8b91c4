"""The report's figure across two probes: the LoRA learning curve (points, fit, band) against the prompting ceiling
(the prompt probe's chosen prompt with its interval, and the naive k-shot prompt), each labelled with its model,
and the crossover marked when one is stated (advisor/evidence/prompt_vs_tuning.py). matplotlib, Agg backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from advisor.sentences import say

CHART = "prompt_vs_tuning.png"
LEVEL = "95%"  # a field of the labels, so that no catalog message holds a bare percent sign


def same(text: str) -> str:
    return text


def section(doc: dict[str, Any], out_dir: Path, stem: str, lang: str = "en") -> dict[str, Any] | None:
    """The comparison of the stored prompt and LoRA results with its chart drawn next to the report, in the
    report's language (``chart``: its path relative to the report); ``None`` unless both probes have results."""
    from advisor.evidence.prompt_vs_tuning import comparison
    from advisor.report.i18n import translator

    by_probe = {r.get("probe"): r for r in doc.get("probe_results", [])}
    found = comparison(by_probe.get("prompt"), by_probe.get("lora"))
    if found is None:
        return None
    path = draw(found, out_dir / f"{stem}_files" / CHART, translator(lang).sentence)
    return {**found, "chart": str(path.resolve().relative_to(Path(out_dir).resolve()))}


def _who(method: str) -> str:
    return "LoRA" if method == "lora" else "Prompt tuning"


def _short(model: str) -> str:
    """A model's name for a label: an endpoint's model without its url, a folder by its last part."""
    from advisor.evidence.prompt_vs_tuning import endpoint_model

    name = endpoint_model(model).rstrip("/\\")
    return name.replace("\\", "/").rsplit("/", 1)[-1] if name.startswith(("/", ".", "~")) or "\\" in name else name


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def draw(found: dict[str, Any], path: Path, tr: Callable[[str], str] = same) -> Path:
    """Accuracy against training examples (log x): the curve of one model and the ceiling of one model; ``tr``
    says each text in the report's language."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve, ceiling = found["curve"], found["ceiling"]
    who, model, other = _who(curve["method"]), _short(curve["model"]), _short(ceiling["model"])
    fig, ax = plt.subplots(figsize=(8.6, 4.2), dpi=110)
    _plot_curve(ax, curve, tr)
    _plot_ceiling(ax, ceiling, tr)
    if curve.get("available_examples"):
        ax.axvline(curve["available_examples"], color="C2", ls="-.", lw=1, label=tr("your labeled data"))
    cross = found.get("crossover")
    if cross is not None:
        right = max((curve.get("band") or {}).get("x") or [found["reach"]])
        _plot_crossover(ax, cross, ceiling["accuracy"], found["smallest"], right, tr)
    ax.set_xscale("log")
    _plain_ticks(ax, [p["examples"] for p in curve["points"]] + [curve.get("available_examples") or 0])
    ax.set_xlabel(tr("training examples (log scale)"))
    ax.set_ylabel(tr("held-out accuracy"))
    ax.set_ylim(0, 1.03)  # a ceiling at 100% stays visible above the top tick
    ax.grid(alpha=0.3)
    if found["same_model"] and found["comparable"]:
        title = tr(say("{who} learning curve against the best prompt, both on {model}", who=who, model=model))
    elif found["same_model"]:
        title = tr(say("{who} curve and best prompt on {model}: different data, no crossover is read", who=who,
                       model=model))
    else:
        title = (tr(say("{who} on {model}, best prompt on {other}:", who=who, model=model, other=other)) + "\n"
                 + tr("different models, no crossover is read"))
    ax.set_title(title, fontsize=10)
    from matplotlib.container import ErrorbarContainer

    handles, labels = ax.get_legend_handles_labels()
    first = [i for i, h in enumerate(handles) if isinstance(h, ErrorbarContainer)]  # the measured points lead
    order = first + [i for i in range(len(labels)) if i not in first]
    ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize=8, frameon=False)  # clear of the data
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _plot_curve(ax: Any, curve: dict[str, Any], tr: Callable[[str], str]) -> None:
    from advisor.probes.common.stats import wilson_interval

    n = curve["eval_size"]
    xs = [p["examples"] for p in curve["points"]]
    ys = [p["accuracy"] for p in curve["points"]]
    cis = [wilson_interval(round(y * n), n) if n else (y, y) for y in ys]
    err = [[max(0.0, y - lo) for y, (lo, _) in zip(ys, cis)], [max(0.0, hi - y) for y, (_, hi) in zip(ys, cis)]]
    ax.errorbar(xs, ys, yerr=err, fmt="o", color="C0", capsize=3, zorder=4,
                label=tr(say("{who} on {model} ({level} CI)", who=_who(curve["method"]), model=_short(curve["model"]),
                              level=LEVEL)))
    band = curve.get("band")
    if band:
        ax.plot(band["x"], band["fit"], color="C0", lw=1.5, label=tr("fitted curve"))
        if band.get("low") is not None:
            ax.fill_between(band["x"], band["low"], band["high"], color="C0", alpha=0.15,
                            label=tr(say("its {level} band", level=LEVEL)))


def _plot_ceiling(ax: Any, ceiling: dict[str, Any], tr: Callable[[str], str]) -> None:
    model = _short(ceiling["model"])
    ax.axhspan(ceiling["low"], ceiling["high"], color="C3", alpha=0.10, lw=0,
               label=tr(say("best prompt's {level} interval", level=LEVEL)))
    ax.axhline(ceiling["accuracy"], color="C3", lw=1.8,
               label=tr(say("best prompt on {model}: {accuracy}", model=model, accuracy=_pct(ceiling["accuracy"]))))
    if ceiling.get("naive_accuracy") is not None:
        ax.axhline(ceiling["naive_accuracy"], color="C3", ls="--", lw=0.8,
                   label=tr(say("naive {k}-shot prompt on {model}: {accuracy}", k=ceiling.get("naive_k"), model=model,
                                accuracy=_pct(ceiling["naive_accuracy"]))))


def _plot_crossover(ax: Any, cross: dict[str, Any], level: float, smallest: int, right: float,
                    tr: Callable[[str], str]) -> None:
    """The crossover with the ceiling (a marker and its interval along the ceiling, open-ended to ``right`` when
    the band's lower edge never reaches the ceiling's upper end), or a left-pointing marker at the smallest size
    when the curve is already above there; nothing is marked beyond reach."""
    status = cross["status"]
    if status == "above_at_smallest":
        ax.plot([smallest], [level], marker="<", ms=9, color="C3", ls="none", zorder=5,
                label=tr(say("above the best prompt already at {smallest} examples", smallest=f"{smallest:,}")))
        return
    if status != "crosses":
        return
    n, low, high = cross["examples"], cross.get("low"), cross.get("high")
    if low is not None or high is not None:
        start, end = low if low is not None else smallest, high if high is not None else max(right, n)
        label = tr(say("crossover {level} interval", level=LEVEL)) if high is not None else \
            tr(say("crossover {level} interval (open-ended)", level=LEVEL))
        ax.hlines(level, start, end, color="C3", lw=5, alpha=0.35, label=label)
    ax.axvline(n, color="C3", ls=":", lw=0.8)
    ax.plot([n], [level], marker="X", ms=10, color="C3", ls="none", zorder=5,
            label=tr(say("fine-tuning overtakes it at about {n} examples", n=f"{n:,}")))


def _plain_ticks(ax: Any, values: list[float]) -> None:
    """Ticks at the trained sizes and the labeled data, as plain numbers (not 2x10^1)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ticks = sorted({int(v) for v in values if v and v > 0})
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{t:,}" for t in ticks])
