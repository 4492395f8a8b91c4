"""One execution of the few-shot probe: the (k, seed) loop, incremental publishing, the chart.

The declaration (config, evidence, spec) is :mod:`advisor.probes.few_shot`; this module is the
implementation, imported only when the probe runs. After every (k, seed) unit the metrics, summary and
evidence are rebuilt from what has finished, so Ctrl-C or a budget stop keeps a valid result.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from advisor.errors import InputError
from advisor.probes.base import ExampleResult, Probe, ProbeContext, ProbeResult
from advisor.probes.few_shot import (VERSION, FewShotConfig, accuracy_metric, check_k, confusion, draw_demos, macro_f1,
                                     mean_metric, seed_stats)
from advisor.probes.textmetrics import exact_match, token_f1

PROBE_MODEL_NOTE = ("Figures come from the probe model, which is much smaller than a production model: "
                    "read them as a lower bound and a baseline for comparing strategies.")


class FewShotRun:
    def __init__(self, config: FewShotConfig, ctx: ProbeContext):
        self.config, self.ctx, self.result = config, ctx, ctx.result
        self.units: dict[int, list[dict]] = {}

    # -- setup ---------------------------------------------------------------------------
    def run(self) -> ProbeResult:
        self._prepare()
        plan = [(k, s) for k in self.ks for s in range(1 if k == 0 else self.config.seeds)]
        self.total = len(plan) * len(self.split.eval)
        for n, (k, seed) in enumerate(plan):
            if self.ctx.out_of_time():
                self.result.status = "partial"
                self.result.notes.append(f"stopped by the time budget after {n} of {len(plan)} (k, seed) runs")
                break
            self.done = n * len(self.split.eval)
            self.units.setdefault(k, []).append(self._unit(k, seed))
            self._publish()
        return self.result

    def _prepare(self) -> None:
        from advisor.probes.data import load_dataset, split_dataset
        from advisor.probes.prompting import PromptBuilder, default_template, load_template
        from advisor.probes.lm import Capability, open_model

        c = self.config
        self.ds = load_dataset(c.data, c.text_col, c.label_col, c.task)
        self.split = split_dataset(self.ds, c.eval_size, c.split_seed)
        if not self.split.eval:
            raise InputError(f"--data {c.data}: too few examples ({len(self.ds)}) to hold out an eval set.")
        self.ks = check_k(c.k, len(self.split.pool))
        self.lm = open_model(c.model)
        if self.ds.task == "classification":
            self.lm.require(Capability.LOGLIKELIHOOD, "few-shot classification (label log-likelihood)")
        else:
            self.lm.require(Capability.GENERATE, f"few-shot {self.ds.task}")
        self.template = load_template(c.template) if c.template else default_template(self.ds.task)
        self.builder = PromptBuilder(self.template, self.ds.labels, self.lm)
        self.result.notes.append(PROBE_MODEL_NOTE)
        self.result.artifacts["dataset_fingerprint"] = self.ds.fingerprint

    # -- one (k, seed) ---------------------------------------------------------------------
    def _unit(self, k: int, seed: int) -> dict:
        demos = draw_demos(self.split.pool, k, seed * 1009 + k, self.ds.labels)
        shots = [(d.text, d.label) for d in demos]
        contexts = [self.builder.context(shots, e.text) for e in self.split.eval]
        started = time.monotonic()
        if self.ds.task == "classification":
            outcome = self._classify(contexts)
        else:
            outcome = self._generate(contexts)
        outcome.update(seed=seed, wall_seconds=time.monotonic() - started, demo_ids=[d.id for d in demos])
        self._store_examples(k, seed, outcome)
        return outcome

    def _progress(self, done: int, total: int) -> None:
        self.ctx.progress(self.done + done, self.total, "scoring")

    def _classify(self, contexts: list[str]) -> dict:
        labels = self.ds.labels
        stats: dict = {}
        conts = [self.builder.continuation(lab) for lab in labels]
        scores = self.lm.score_choices(contexts, [conts] * len(contexts), batch_tokens=self.config.batch_tokens,
                                       progress=self._progress, stats=stats)
        lengths = [max(1, len(self.template.word(lab))) for lab in labels]
        lps = [[s.logprob for s in row] for row in scores]
        pred = [labels[_argmax(row)] for row in lps]
        pred_norm = [labels[_argmax([v / n for v, n in zip(row, lengths)])] for row in lps]
        gold = [e.label for e in self.split.eval]
        return {"pred": pred, "pred_norm": pred_norm, "gold": gold, "logprobs": lps,
                "accuracy": _rate(p == g for p, g in zip(pred, gold)),
                "accuracy_norm": _rate(p == g for p, g in zip(pred_norm, gold)),
                "macro_f1": macro_f1(gold, pred, labels), "confusion": confusion(gold, pred, labels),
                "tokens": stats["forward_tokens"], "full_tokens": stats["full_tokens"]}

    def _generate(self, contexts: list[str]) -> dict:
        stop = [] if self.builder.chat else [self.template.fewshot_delimiter]
        outputs: list[str] = []
        for start in range(0, len(contexts), 8):
            outputs += self.lm.generate(contexts[start:start + 8], self.config.max_new_tokens, stop=stop)
            self._progress(len(outputs), len(contexts))
        pred = [o.strip() for o in outputs]
        gold = [e.label for e in self.split.eval]
        tokens = sum(self.lm.count_tokens(c) for c in contexts) + sum(self.lm.count_tokens(o) for o in outputs)
        return {"pred": pred, "gold": gold, "em": [exact_match(p, g) for p, g in zip(pred, gold)],
                "f1": [token_f1(p, g) for p, g in zip(pred, gold)], "json": [_is_json(p) for p in pred],
                "accuracy": _rate(exact_match(p, g) for p, g in zip(pred, gold)), "tokens": tokens, "full_tokens": tokens}

    def _store_examples(self, k: int, seed: int, o: dict) -> None:
        for i, e in enumerate(self.split.eval):
            details: dict[str, Any]
            if "logprobs" in o:
                details = {"logprobs": dict(zip(self.ds.labels, o["logprobs"][i])), "prediction_norm": o["pred_norm"][i]}
                score = max(o["logprobs"][i])
            else:
                details = {"token_f1": o["f1"][i], "json_valid": o["json"][i]}
                score = o["f1"][i]
            self.result.examples.append(ExampleResult(
                example_id=e.id, params={"k": k, "seed": seed}, prediction=o["pred"][i], gold=e.label,
                correct=o["pred"][i] == e.label if "logprobs" in o else bool(o["em"][i]), score=score, details=details))

    # -- publishing ------------------------------------------------------------------------
    def _publish(self) -> None:
        rows = [self._row(k, outs) for k, outs in sorted(self.units.items())]
        self.result.metrics = [m for k, outs in sorted(self.units.items()) for m in self._metrics(k, outs)]
        best = max(rows, key=lambda r: (r["accuracy"], -r["k"]))
        self.result.summary = self._summary(rows, best)
        self.result.evidence = self._evidence(rows, best)
        kind = "accuracy" if self.ds.task == "classification" else "exact match"
        self.result.headline = (f"Few-shot prompting of {self.config.model.name} reaches {kind} {best['accuracy']:.1%} "
                                f"(95% CI {best['ci_low']:.1%}–{best['ci_high']:.1%}) at k={best['k']} "
                                f"on {len(self.split.eval)} held-out examples.")

    def _row(self, k: int, outs: list[dict]) -> dict:
        n = len(self.split.eval)
        st = seed_stats([o["accuracy"] for o in outs])
        metric = accuracy_metric("accuracy", st["mean"], n, {})
        row = {"k": k, "seeds": len(outs), "accuracy": st["mean"], "ci_low": metric.ci_low, "ci_high": metric.ci_high,
               "std": st["std"], "min": st["min"], "max": st["max"], "n": n,
               "tokens": sum(o["tokens"] for o in outs), "full_tokens": sum(o["full_tokens"] for o in outs),
               "wall_seconds": sum(o["wall_seconds"] for o in outs)}
        if self.ds.task == "classification":
            row.update(accuracy_norm=statistics.fmean(o["accuracy_norm"] for o in outs),
                       macro_f1=statistics.fmean(o["macro_f1"] for o in outs),
                       confusion=[[sum(o["confusion"][i][j] for o in outs) for j in range(len(self.ds.labels))]
                                  for i in range(len(self.ds.labels))])
        else:
            row.update(token_f1=statistics.fmean(f for o in outs for f in o["f1"]),
                       json_valid=statistics.fmean(v for o in outs for v in o["json"]))
        return row

    def _metrics(self, k: int, outs: list[dict]) -> list:
        from advisor.probes.base import Metric

        n, params = len(self.split.eval), {"k": k, "seeds": len(outs)}
        mean = lambda key: statistics.fmean(o[key] for o in outs)  # noqa: E731
        st = seed_stats([o["accuracy"] for o in outs])
        common = [Metric(name="accuracy_seed_std", value=st["std"], n=len(outs), params=params),
                  Metric(name="tokens_processed", value=sum(o["tokens"] for o in outs), params=params),
                  Metric(name="wall_seconds", value=sum(o["wall_seconds"] for o in outs), params=params)]
        if self.ds.task == "classification":
            return [accuracy_metric("accuracy", mean("accuracy"), n, params),
                    accuracy_metric("accuracy_norm", mean("accuracy_norm"), n, params),
                    Metric(name="macro_f1", value=mean("macro_f1"), n=n, params=params)] + common
        per_example_f1 = [statistics.fmean(o["f1"][i] for o in outs) for i in range(n)]
        extra = [accuracy_metric("json_valid", statistics.fmean(v for o in outs for v in o["json"]), n, params)] \
            if self.ds.task == "extraction" else []
        return [accuracy_metric("exact_match", mean("accuracy"), n, params),
                mean_metric("token_f1", per_example_f1, params)] + extra + common

    def _summary(self, rows: list[dict], best: dict) -> dict:
        tpl = self.template
        return {"task": self.ds.task, "model": self.config.model.name, "model_source": self.lm.source,
                "chat_template": self.builder.chat, "labels": self.ds.labels,
                "label_words": [tpl.word(x) for x in self.ds.labels], "eval_size": len(self.split.eval),
                "pool_size": len(self.split.pool), "seeds": self.config.seeds, "k_requested": self.ks,
                "per_k": rows, "best_k": best["k"], "chance_accuracy": self._chance(),
                "dataset_fingerprint": self.ds.fingerprint, "data": str(self.config.data),
                "template": tpl.model_dump(), "probe_model_note": PROBE_MODEL_NOTE}

    def _chance(self) -> float:
        if self.ds.task != "classification":
            return 0.0
        gold = [e.label for e in self.split.eval]
        return max(gold.count(lab) for lab in self.ds.labels) / len(gold)

    def _evidence(self, rows: list[dict], best: dict) -> dict:
        ev: dict[str, Any] = {
            "task": self.ds.task, "best_accuracy": best["accuracy"], "best_k": best["k"],
            "seed_spread": best["std"], "seed_range": best["max"] - best["min"], "eval_size": len(self.split.eval),
            "ci_halfwidth": (best["ci_high"] - best["ci_low"]) / 2, "n_labels": len(self.ds.labels),
            "chance_accuracy": self._chance(),
            "complete": sum(len(v) for v in self.units.values()) == sum(1 if k == 0 else self.config.seeds for k in self.ks)}
        zero = next((r for r in rows if r["k"] == 0), None)
        if zero is not None:
            ev.update(zero_shot_accuracy=zero["accuracy"], gain_0_to_best=best["accuracy"] - zero["accuracy"])
        if self.ds.task == "classification":
            ev["best_macro_f1"] = best["macro_f1"]
        else:
            ev["best_token_f1"] = best["token_f1"]
            if self.ds.task == "extraction":
                ev["best_json_valid"] = best["json_valid"]
        return ev


def _argmax(values: list[float]) -> int:
    """Index of the largest value; the first one on ties (as numpy.argmax in lm-eval)."""
    return max(range(len(values)), key=lambda i: (values[i], -i))


def _rate(flags: Any) -> float:
    flags = list(flags)
    return sum(bool(f) for f in flags) / len(flags) if flags else 0.0


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


def accuracy_chart(result: ProbeResult, out_dir: Path) -> Path | None:
    """PNG of accuracy vs k with Wilson 95% CI bars and the majority-class rate; None without data."""
    rows = result.summary.get("per_k") or []
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [r["k"] for r in rows]
    acc = [r["accuracy"] for r in rows]
    err = [[a - r["ci_low"] for a, r in zip(acc, rows)], [r["ci_high"] - a for a, r in zip(acc, rows)]]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    ax.errorbar(range(len(ks)), acc, yerr=err, marker="o", capsize=4, label="accuracy (95% CI)")
    chance = result.summary.get("chance_accuracy") or 0
    if chance:
        ax.axhline(chance, linestyle="--", color="grey", label="majority class")
    ax.set(xticks=range(len(ks)), xticklabels=[str(k) for k in ks], xlabel="demonstrations (k)",
           ylabel="accuracy" if result.summary.get("task") == "classification" else "exact match", ylim=(0, 1),
           title=f"Few-shot, {result.summary.get('model', '')}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "few_shot_accuracy.png"
    fig.savefig(path)
    plt.close(fig)
    return path


class FewShotProbe(Probe):
    """Few-shot prompting accuracy on the user's labeled sample, per k, across seeds.

    Facts: :class:`advisor.probes.few_shot.FewShotEvidence`.
    """

    def fingerprint(self, config: FewShotConfig) -> str:
        from advisor.probes.fingerprint import labeled_data_fingerprint

        return labeled_data_fingerprint(VERSION, config)

    def run(self, config: FewShotConfig, ctx: ProbeContext) -> ProbeResult:
        return FewShotRun(config, ctx).run()

    def charts(self, result: ProbeResult, out_dir: Path) -> dict[str, Path]:
        path = accuracy_chart(result, Path(out_dir))
        return {"accuracy_vs_k": path} if path else {}
