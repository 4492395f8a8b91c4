"""One execution of the few-shot probe: the (k, seed) loop, incremental publishing, the chart.

The declaration (config, evidence, spec) is :mod:`advisor.probes.few_shot.spec`; this module is the
implementation, imported only when the probe runs. After every (k, seed) unit the metrics, summary and
evidence are rebuilt from what has finished, so Ctrl-C or a budget stop keeps a valid result.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from advisor.errors import InputError
from advisor.probes.common.base import BudgetSpent, ExampleResult, Probe, ProbeContext, ProbeResult, same
from advisor.probes.few_shot.chart import accuracy_chart
from advisor.probes.few_shot.metrics import argmax, is_json, unit_metrics, unit_row, usage_evidence
from advisor.probes.few_shot.schedule import counted, eval_order, finish, merge, plan_slices, seeds_of
from advisor.probes.few_shot.spec import VERSION, FewShotConfig, check_k, draw_demos
from advisor.probes.common.textmetrics import exact_match, token_f1
from advisor.sentences import say

class PromptTooLong(InputError):
    """A prompt longer than the model's context: that (k, seed) is skipped; with no run left, an input error."""


NO_LABEL = "(no label)"  # a generated answer that names none of the labels

PROBE_MODEL_NOTE = say("Figures come from the probe model, which is much smaller than a production model: "
                       "read them as a lower bound and a baseline for comparing strategies.")


class FewShotRun:
    def __init__(self, config: FewShotConfig, ctx: ProbeContext):
        self.config, self.ctx, self.result = config, ctx, ctx.result
        self.units: dict[int, list[dict]] = {}  # per k, the finished outcomes of the seeds that count
        self.cover: dict[tuple[int, int], dict] = {}  # per (k, seed), the merged raw outcome of its slices

    # -- setup ---------------------------------------------------------------------------
    def run(self) -> ProbeResult:
        self.started = time.monotonic()
        self._prepare()
        with self.lm.in_bf16(self.bf16):
            return self._measure()

    def _measure(self) -> ProbeResult:
        from advisor.probes.common.endpoint import CapReached

        n_eval = len(self.split.eval)
        self.budgeted = self.ctx.deadline is not None
        self.order = eval_order(n_eval, self.config.split_seed, self.budgeted)
        plan = plan_slices(self.ks, self.config.seeds, n_eval, self.budgeted)
        self.total = sum(hi - lo for _, _, lo, hi in plan)
        self._announce(plan)
        too_long: list[str] = []
        dropped: set[tuple[int, int]] = set()  # runs whose prompt is too long for the model
        self.done = 0
        for n, (k, seed, lo, hi) in enumerate(plan):
            if (k, seed) in dropped:
                continue
            if self.ctx.out_of_time():
                self.result.status = "partial"
                coverage = self._coverage_note()
                if coverage:
                    note = say("stopped by the time budget after {n} of {total} measurement steps{coverage}", n=n,
                               total=len(plan), coverage=coverage)
                else:
                    note = say("stopped by the time budget after {n} of {total} measurement steps", n=n,
                               total=len(plan))
                self.result.notes.append(note)
                break
            self.scored = 0
            try:
                part = self._unit(k, seed, self.order[lo:hi])
            except PromptTooLong as exc:
                dropped.add((k, seed))
                if self.cover.pop((k, seed), None) is not None and self.cover:
                    self._publish()
                too_long.append(str(exc))
                self.result.notes.append(say("k={k}, seed {seed} skipped: {reason}", k=k, seed=seed, reason=exc))
                continue
            except CapReached as exc:
                self.result.status = "partial"
                self.result.notes.append(say("stopped after {n} of {total} measurement steps: {reason}", n=n,
                                             total=len(plan), reason=exc))
                break
            except BudgetSpent:
                self.result.status = "partial"
                coverage = self._coverage_note()
                values = dict(step=n + 1, total=len(plan), k=k, seed=seed, scored=self.scored, size=hi - lo)
                if coverage:
                    note = say("stopped by the time budget inside step {step} of {total} (k={k}, seed {seed}) after "
                               "{scored} of {size} examples; that step was dropped{coverage}", coverage=coverage,
                               **values)
                else:
                    note = say("stopped by the time budget inside step {step} of {total} (k={k}, seed {seed}) after "
                               "{scored} of {size} examples; that step was dropped", **values)
                self.result.notes.append(note)
                if not self.cover:  # nothing measured: say how long the first point would take
                    spent = time.monotonic() - self.started
                    self.result.status = "empty"
                    self.result.summary["budget_needed"] = spent * (hi - lo) / max(self.scored, 1)
                break
            self.done += hi - lo
            self.cover[(k, seed)] = merge(self.cover.get((k, seed)), part)
            self._publish()
            if self.budgeted:
                row = next(r for r in self.result.summary["per_k"] if r["k"] == k)
                self.ctx.log(f"measured k={k} on {row['n']} examples: {row['accuracy']:.1%} "
                             f"(95% CI {row['ci_low']:.1%}–{row['ci_high']:.1%})")
        if too_long and not self.cover:
            raise InputError(say("--data {data}: {reason}", data=self.config.data, reason=too_long[0]))
        return self.result

    def _coverage_note(self) -> str:
        rows = self.result.summary.get("per_k") or []
        if not rows:
            return ""
        measured = ", ".join(f"k={r['k']} on {r['n']}" for r in rows)
        return say("; measured {measured} of {held} held-out examples (a larger --budget widens them)",
                   measured=measured, held=len(self.split.eval))

    def _announce(self, plan: list[tuple[int, int, int, int]]) -> None:
        """Before a target model is called: how many requests, how many already cached."""
        if not self.remote:
            return
        bodies = [self.lm.request(ctx, self._max_tokens())
                  for k, seed, lo, hi in plan for ctx in self._contexts(k, seed, self.order[lo:hi])]
        cached, to_pay = self.lm.plan(bodies)
        values = dict(source=self.lm.source, requests=len(bodies), cached=cached, to_pay=to_pay,
                      concurrency=self.lm.spec.concurrency)
        line = say("target {source}: {requests} requests, {cached} already cached, {to_pay} to send "
                   "(at most {concurrency} at a time)", **values)
        if self.lm.spec.max_requests is not None:
            line = say("target {source}: {requests} requests, {cached} already cached, {to_pay} to send "
                       "(at most {concurrency} at a time); request cap {cap}", cap=self.lm.spec.max_requests,
                       **values)
        self.ctx.log(line)
        self.result.notes.append(line)

    def _prepare(self) -> None:
        from advisor.probes.common.data import load_dataset, split_dataset
        from advisor.probes.common.prompting import PromptBuilder, default_template, load_template
        from advisor.probes.common.endpoint import EndpointModel, open_for
        from advisor.probes.common.lm import Capability
        from advisor.probes.common.precision import use_bf16

        c = self.config
        self.ds = load_dataset(c.data, c.text_col, c.label_col, c.task)
        self.split = split_dataset(self.ds, c.eval_size, c.split_seed)
        if not self.split.eval:
            raise InputError(say("--data {data}: too few examples ({count}) to hold out an eval set.", data=c.data,
                                 count=len(self.ds)))
        self.ks = check_k(c.k, len(self.split.pool))
        self.template = load_template(c.template) if c.template else default_template(self.ds.task)
        self.lm = open_for(c.model, c.target, self.ctx.store)
        self.remote = isinstance(self.lm, EndpointModel)
        # classification scores label log-likelihoods when the model can; an endpoint answers by generation
        self.by_generation = self.ds.task == "classification" and not self.lm.can(Capability.LOGLIKELIHOOD)
        if self.ds.task == "classification" and not self.by_generation:
            self.lm.require(Capability.LOGLIKELIHOOD, say("few-shot classification (label log-likelihood)"))
        else:
            self.lm.require(Capability.GENERATE, say("few-shot {task}", task=self.ds.task))
        self.builder = PromptBuilder(self.template, self.ds.labels, self.lm)
        self.bf16 = not self.remote and use_bf16(c.bf16, self.lm.device)
        if not self.remote:
            self.result.notes.append(PROBE_MODEL_NOTE)
        self.result.artifacts["dataset_fingerprint"] = self.ds.fingerprint

    # -- one (k, seed) ---------------------------------------------------------------------
    def _demos(self, k: int, seed: int) -> list:
        return draw_demos(self.split.pool, k, seed * 1009 + k, self.ds.labels)

    def _contexts(self, k: int, seed: int, idx: list[int]) -> list:
        shots = [(d.text, d.label) for d in self._demos(k, seed)]
        return [self.builder.context(shots, self.split.eval[i].text) for i in idx]

    def _max_tokens(self) -> int:
        if self.by_generation:  # room for the longest label word, and a little more
            return max(8, 2 + max(len(self.template.word(x).split()) for x in self.ds.labels) * 4)
        return self.config.max_new_tokens

    def _check_length(self, k: int, contexts: list, idx: list[int]) -> None:
        """A prompt longer than the local model's context is an input error, not a silent truncation."""
        over = None if self.remote else self.lm.too_long(contexts)
        if over is not None:
            longest, tokens, limit = over
            raise PromptTooLong(say("the k={k} prompt for example {example} is {tokens:,} tokens, more than {model} "
                                    "reads ({limit:,}); use a smaller -k or shorter examples.", k=k,
                                    example=self.split.eval[idx[longest]].id, tokens=tokens, model=self.lm.name,
                                    limit=limit))

    def _unit(self, k: int, seed: int, idx: list[int]) -> dict:
        """Raw outcome of (k, seed) on the eval examples at positions ``idx`` (aggregates: :meth:`_finish`)."""
        demos = self._demos(k, seed)
        contexts = self._contexts(k, seed, idx)
        self._check_length(k, contexts, idx)
        gold = [self.split.eval[i].label for i in idx]
        started = time.monotonic()
        if self.by_generation:
            outcome = self._classify_by_generation(contexts, gold)
        elif self.ds.task == "classification":
            outcome = self._classify(contexts, gold)
        else:
            outcome = self._generate(contexts, gold)
        outcome.update(idx=list(idx), seed=seed, wall_seconds=time.monotonic() - started,
                       demo_ids=[d.id for d in demos])
        self._store_examples(k, seed, outcome)
        return outcome

    def _progress(self, done: int, total: int) -> None:
        """Progress of the running (k, seed) run; the budget is checked here, between batches."""
        self.scored = done
        self.ctx.progress(self.done + done, self.total, "scoring")
        if done < total and self.ctx.out_of_time():
            raise BudgetSpent

    def _classify(self, contexts: list[str], gold: list[str]) -> dict:
        labels = self.ds.labels
        stats: dict = {}
        conts = [self.builder.continuation(lab) for lab in labels]
        scores = self.lm.score_choices(contexts, [conts] * len(contexts), batch_tokens=self.config.batch_tokens,
                                       progress=self._progress, stats=stats)
        lengths = [max(1, len(self.template.word(lab))) for lab in labels]
        lps = [[s.logprob for s in row] for row in scores]
        pred = [labels[argmax(row)] for row in lps]
        pred_norm = [labels[argmax([v / n for v, n in zip(row, lengths)])] for row in lps]
        return {"pred": pred, "pred_norm": pred_norm, "gold": gold, "logprobs": lps,
                "tokens": stats["forward_tokens"], "full_tokens": stats["full_tokens"]}

    def _ask(self, contexts: list) -> tuple[list[str], dict]:
        """Generated answers, in batches with progress; for a target also its measured usage per request."""
        stop = [] if self.builder.chat else [self.template.fewshot_delimiter]
        outputs: list[str] = []
        usage: dict[str, list] = {"prompt_tokens": [], "completion_tokens": [], "latency": [], "logprobs": []}
        step = self.lm.spec.concurrency * 4 if self.remote else 8
        for start in range(0, len(contexts), step):
            chunk = contexts[start:start + step]
            if self.remote:
                for r in self.lm.complete([self.lm.request(c, self._max_tokens(), stop) for c in chunk]):
                    outputs.append(r["text"])
                    for key in usage:
                        usage[key].append(r.get(key))
            else:
                outputs += self.lm.generate(chunk, self._max_tokens(), stop=stop)
            self._progress(len(outputs), len(contexts))
        if not self.remote:
            usage["prompt_tokens"] = [self.lm.count_tokens(c) for c in contexts]
            usage["completion_tokens"] = [self.lm.count_tokens(o) for o in outputs]
        return outputs, usage

    def _classify_by_generation(self, contexts: list, gold: list[str]) -> dict:
        """Classification by generation: the answer is matched to a label (``match_label``); an answer that
        names none counts as wrong and as a format failure."""
        from advisor.probes.common.labels import label_logprobs, match_label

        labels = self.ds.labels
        words = [self.template.word(lab) for lab in labels]
        outputs, usage = self._ask(contexts)
        matched = [match_label(o, words) for o in outputs]
        pred = [labels[m] if m is not None else NO_LABEL for m in matched]
        scored = [label_logprobs(t, words) for t in usage["logprobs"]]
        has_lp = any(s is not None for s in scored)
        pred_lp = [labels[argmax(s)] if s is not None else p for s, p in zip(scored, pred)]
        tokens = sum(usage["prompt_tokens"]) + sum(usage["completion_tokens"])
        return {"pred": pred, "gold": gold, "answers": outputs, "format_failures": [m is None for m in matched],
                "pred_lp": pred_lp, "has_lp": has_lp, "tokens": tokens, "full_tokens": tokens, "usage": usage}

    def _generate(self, contexts: list, gold: list[str]) -> dict:
        outputs, usage = self._ask(contexts)
        pred = [o.strip() for o in outputs]
        tokens = sum(usage["prompt_tokens"]) + sum(usage["completion_tokens"])
        return {"pred": pred, "gold": gold, "em": [exact_match(p, g) for p, g in zip(pred, gold)],
                "f1": [token_f1(p, g) for p, g in zip(pred, gold)], "json": [is_json(p) for p in pred],
                "tokens": tokens, "full_tokens": tokens, "usage": usage}

    def _finish(self, raw: dict) -> dict:
        return finish(raw, self.ds.labels, NO_LABEL)

    def _store_examples(self, k: int, seed: int, o: dict) -> None:
        for i, e in enumerate(self.split.eval[j] for j in o["idx"]):
            details: dict[str, Any]
            if "logprobs" in o:
                details = {"logprobs": dict(zip(self.ds.labels, o["logprobs"][i])), "prediction_norm": o["pred_norm"][i]}
                score = max(o["logprobs"][i])
                correct = o["pred"][i] == e.label
            elif "format_failures" in o:
                details = {"answer": o["answers"][i], "format_failure": o["format_failures"][i]}
                score = None
                correct = o["pred"][i] == e.label
            else:
                details = {"token_f1": o["f1"][i], "json_valid": o["json"][i]}
                score = o["f1"][i]
                correct = bool(o["em"][i])
            self.result.examples.append(ExampleResult(
                example_id=e.id, params={"k": k, "seed": seed}, prediction=o["pred"][i], gold=e.label,
                correct=correct, score=score, details=details))

    # -- publishing ------------------------------------------------------------------------
    def _publish(self) -> None:
        self.units = {k: [self._finish(o) for _, o in counted(self.cover, k)] for k in self.ks}
        self.units = {k: outs for k, outs in self.units.items() if outs}
        rows = [unit_row(k, outs, self.ds.task, self.by_generation, len(self.ds.labels))
                for k, outs in sorted(self.units.items())]
        self.result.metrics = [m for k, outs in sorted(self.units.items())
                               for m in unit_metrics(k, outs, self.ds.task, self.by_generation)]
        widest = max(r["n"] for r in rows)  # the best k among those measured on the most examples
        best = max((r for r in rows if r["n"] == widest), key=lambda r: (r["accuracy"], -r["k"]))
        self.result.summary = self._summary(rows, best)
        self.result.evidence = self._evidence(rows, best)
        kind = "accuracy" if self.ds.task == "classification" else "exact match"
        who = self.lm.source if self.remote else self.config.model.name
        held = len(self.split.eval)
        self.result.headline = (f"Few-shot prompting of {who} reaches {kind} {best['accuracy']:.1%} "
                                f"(95% CI {best['ci_low']:.1%}–{best['ci_high']:.1%}) at k={best['k']} "
                                f"on {best['n']} held-out examples"
                                + (f" (of {held}; the time budget allowed no more)." if best["n"] < held else "."))

    def _summary(self, rows: list[dict], best: dict) -> dict:
        tpl = self.template
        return {"task": self.ds.task, "model": self.lm.source if self.remote else self.config.model.name,
                "model_source": self.lm.source, "model_role": "target" if self.remote else "proxy",
                "by_generation": self.by_generation, "chat_template": self.builder.chat, "bf16": self.bf16,
                "labels": self.ds.labels + ([NO_LABEL] if self.by_generation else []),
                "label_words": [tpl.word(x) for x in self.ds.labels], "eval_size": len(self.split.eval),
                "pool_size": len(self.split.pool), "seeds": self.config.seeds, "k_requested": self.ks,
                "per_k": rows, "best_k": best["k"], "chance_accuracy": self._chance(),
                "dataset_fingerprint": self.ds.fingerprint, "data": str(self.config.data),
                "template": tpl.model_dump(), "probe_model_note": "" if self.remote else PROBE_MODEL_NOTE}

    def _chance(self, k: int | None = None) -> float:
        """The majority-class rate of the eval examples scored at k (all held-out examples when ``None``)."""
        if self.ds.task != "classification":
            return 0.0
        gold = self.units[k][0]["gold"] if k is not None else [e.label for e in self.split.eval]
        return max(gold.count(lab) for lab in self.ds.labels) / len(gold)

    def _evidence(self, rows: list[dict], best: dict) -> dict:
        ev: dict[str, Any] = {
            "task": self.ds.task, "best_accuracy": best["accuracy"], "best_k": best["k"],
            "seed_spread": best["std"], "seed_range": best["max"] - best["min"], "eval_size": best["n"],
            "ci_halfwidth": (best["ci_high"] - best["ci_low"]) / 2, "n_labels": len(self.ds.labels),
            "chance_accuracy": self._chance(best["k"]),
            "complete": all(len(self.cover.get((k, s), {}).get("idx", [])) == len(self.split.eval)
                            for k in self.ks for s in seeds_of(k, self.config.seeds))}
        if best["std_low"] is not None:
            ev.update(seed_spread_low=best["std_low"], seed_spread_high=best["std_high"])
        zero = next((r for r in rows if r["k"] == 0), None)
        if zero is not None:
            ev.update(zero_shot_accuracy=zero["accuracy"], gain_0_to_best=best["accuracy"] - zero["accuracy"])
        if "prompt_tokens" in best:
            ev.update(usage_evidence(rows, best))
        if self.by_generation:
            ev["format_failure_rate"] = best["format_failure_rate"]
            ev["logprobs_returned"] = any(o.get("logprobs_returned") for outs in self.units.values() for o in outs)
        if self.ds.task == "classification":
            ev["best_macro_f1"] = best["macro_f1"]
        else:
            ev["best_token_f1"] = best["token_f1"]
            if self.ds.task == "extraction":
                ev["best_json_valid"] = best["json_valid"]
        return ev


class FewShotProbe(Probe):
    """Few-shot prompting accuracy on the user's labeled sample, per k, across seeds.

    Facts: :class:`advisor.probes.few_shot.spec.FewShotEvidence`.
    """

    def fingerprint(self, config: FewShotConfig) -> str:
        from advisor.probes.common.fingerprint import labeled_data_fingerprint

        return labeled_data_fingerprint(VERSION, config)

    def run(self, config: FewShotConfig, ctx: ProbeContext) -> ProbeResult:
        return FewShotRun(config, ctx).run()

    def charts(self, result: ProbeResult, out_dir: Path, tr: Callable[[str], str] = same) -> dict[str, Path]:
        path = accuracy_chart(result, Path(out_dir), tr)
        return {"accuracy_vs_k": path} if path else {}
