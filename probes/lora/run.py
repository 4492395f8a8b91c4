"""One execution of the LoRA probe: nested subsets, one adapter per size, then the analysis.

Kept apart from :mod:`advisor.probes.lora.spec` (config, fingerprint, evidence documentation). After
every size the metrics, summary and evidence are rebuilt from what has finished, so a budget
stop or Ctrl-C keeps a valid (partial) learning curve.

The adapter is attached to the shared, memoized probe model (``load_causal_lm``) and always
detached again (``finally``), so the next probe in the same process sees the untouched model.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from advisor.errors import InputError, ProbeError
from advisor.probes.common.base import ExampleResult, Probe, ProbeContext, ProbeResult, same
from advisor.probes.lora.adapters import AttachedAdapter, KeptAdapter
from advisor.probes.lora.spec import VERSION, LoraProbeConfig, effective_sizes, epochs_for, nested_order
from advisor.probes.lora.training import TrainExample, TrainSettings, supervised_example
from advisor.sentences import say

DEFAULT_LR = {"lora": 1e-3, "prompt-tuning": 3e-2}
PROBE_MODEL_NOTE = say("LoRA on a small probe model with a few hundred examples is a lower bound of what "
                       "fine-tuning a production model gains.")


# -- the run ---------------------------------------------------------------------------------
class LoraRun:
    def __init__(self, config: LoraProbeConfig, ctx: ProbeContext):
        self.config, self.ctx, self.result = config, ctx, ctx.result
        self.points: list[dict] = []
        self.correct: dict[int, list[bool]] = {}

    def run(self) -> ProbeResult:
        from advisor.probes.common.precision import weights_in_bf16

        self.started = time.monotonic()
        self._prepare()
        with weights_in_bf16(self.loaded.model, enabled=self.bf16 and self.loaded.device == "cpu"):
            return self._measure()

    def _measure(self) -> ProbeResult:
        from advisor.probes.common.base import BudgetSpent

        try:
            self._baseline()
        except BudgetSpent:
            self.result.status = "empty"
            self.result.notes.append(say("stopped by the time budget while measuring the model without an adapter"))
            share = max(self.scored, 1) / len(self.split.eval)
            self.result.summary["budget_needed"] = (time.monotonic() - self.started) / share * 2
            return self.result
        self._publish(band=False)
        try:
            for n, size in enumerate(self.sizes):
                reason = self._stop_reason(size)
                if reason:
                    self.result.status = "partial"
                    self.result.notes.append(say("stopped by the time budget after {n} of {total} sizes ({reason})",
                                                 n=n, total=len(self.sizes), reason=reason))
                    break
                if not self._trial(size):
                    self.result.status = "partial"
                    self.result.notes.append(say(
                        "stopped by the time budget inside the {size}-example size after {steps} of "
                        "{planned} training steps; that adapter was not evaluated", size=size,
                        steps=self.cut["steps"], planned=self.cut["planned"]))
                    break
                self._publish(band=False)  # what a cut run keeps; the band is computed once, at the end
        finally:
            self._publish()
        if getattr(self, "kept", None) is not None:
            self.kept.detach()
        if not self.points and self.result.status == "partial":
            self.result.status = "empty"  # nothing measured: the caller says so and what budget would do
            self.result.summary["budget_needed"] = self._budget_needed()
        return self.result

    def _budget_needed(self) -> float:
        """Seconds for the first size from start to finish, from the pace measured before the budget ran out."""
        spent = time.monotonic() - self.started
        cut = getattr(self, "cut", None)
        if cut and cut["steps"]:
            remaining = (cut["planned"] - cut["steps"]) * cut["seconds"] / cut["steps"]
        else:
            remaining = spent  # not even one step: at least as long again
        return spent + remaining + self.zero_shot.get("eval_seconds", 0.0)

    # -- setup -------------------------------------------------------------------------------
    def _prepare(self) -> None:
        from advisor.probes.common.lm import Capability, open_model
        from advisor.probes.lora.analysis import check_few_shot_run
        from advisor.training_cost import gpu_class

        c = self.config
        gpu_class(c.gpu)  # an unknown --gpu fails before any training
        check_few_shot_run(self)  # and so does a --few-shot-run that names no stored few-shot run
        self._load_data()
        self.lm = open_model(c.model)
        self.lm.require(Capability.TRAIN_ADAPTERS, say("the LoRA trial"))
        self.lm.require(Capability.LOGLIKELIHOOD, say("the LoRA trial's evaluation (label log-likelihood)"))
        self.loaded = self.lm.trainable()
        self._build_prompts()
        self.bf16 = self._use_bf16()
        self.artifacts = self._artifacts_dir()
        self.general_ids = self._general_tokens()
        self.result.notes.append(PROBE_MODEL_NOTE)
        self.result.artifacts["dataset_fingerprint"] = self.ds.fingerprint

    def _load_data(self) -> None:
        from advisor.probes.common.data import load_dataset, split_dataset

        c = self.config
        self.ds = load_dataset(c.data, c.text_col, c.label_col, c.task)
        if self.ds.task != "classification":
            raise ProbeError(say("--data {data}: the LoRA probe measures classification accuracy, but the labels in "
                                 "{column!r} look like free text ({task}); pass --task classification "
                                 "if they are classes.", data=c.data, column=self.ds.label_col, task=self.ds.task))
        self.split = split_dataset(self.ds, c.eval_size, c.split_seed)
        if not self.split.eval or not self.split.pool:
            raise InputError(say("--data {data}: too few examples ({count}) for a training pool and an eval set.",
                                 data=c.data, count=len(self.ds)))
        self.order = nested_order(self.split.pool, c.seed)
        self.sizes, note = effective_sizes(c.sizes, len(self.order))
        if note:
            self.result.notes.append(note)

    def _build_prompts(self) -> None:
        from advisor.probes.common.prompting import PromptBuilder, default_template, load_template
        from advisor.probes.common.scoring import encode_pair

        c, tok = self.config, self.loaded.tokenizer
        self.template = load_template(c.template) if c.template else default_template("classification")
        self.builder = PromptBuilder(self.template, self.ds.labels, self.lm)
        self.contexts = [self.builder.context([], e.text) for e in self.split.eval]
        self.choices = [self.builder.continuation(lab) for lab in self.ds.labels]
        self.encoded: dict[str, TrainExample] = {}
        for e in self.order:
            ctx_ids, cont_ids = encode_pair(tok, self.builder.context([], e.text), self.builder.continuation(e.label))
            self.encoded[e.id] = supervised_example(ctx_ids, cont_ids, c.max_length)

    def _use_bf16(self) -> bool:
        """``auto``: bf16 where the device computes it natively (a CPU with AVX512-BF16 or AMX: the frozen
        weights are held in bf16 for the probe, see ``weights_in_bf16``; a GPU with bf16: autocast)."""
        from advisor.probes.common.precision import use_bf16

        return use_bf16(self.config.bf16, self.loaded.device)

    def _artifacts_dir(self) -> Path:
        from advisor.paths import cache_dir

        base = Path(self.ctx.artifacts_dir) if self.ctx.artifacts_dir else cache_dir() / "adapters"
        return base / f"lora-{self.result.fingerprint or 'run'}"

    def _general_tokens(self) -> list[int]:
        from advisor.probes.common.general import bundled_general
        from advisor.probes.common.scoring import encode, prefix_token_id

        tok = self.loaded.tokenizer
        text = (bundled_general(self.config.language) or bundled_general("en")).read_text(encoding="utf-8")
        return [prefix_token_id(tok)] + encode(tok, text)  # BOS (else EOS) first, as a document start

    # -- measuring ---------------------------------------------------------------------------
    def _evaluate(self, model: Any) -> tuple[list[str], list[bool]]:
        """Predicted labels and correctness on the eval set with the few-shot scorer."""
        conts = [self.choices] * len(self.contexts)
        lm = self.lm  # LoRA layers are injected into the shared model's weights: the cached scorer sees them
        if self.config.method == "prompt-tuning" and model is not self.loaded.model:
            # prompt tuning prepends virtual tokens at every forward: no KV-cache reuse, one full pass per choice
            lm = self.lm.adapted(model, prefix_cache=False)
        scores = lm.score_choices(self.contexts, conts, batch_tokens=self.config.batch_tokens,
                                  progress=self._eval_progress)
        labels = self.ds.labels
        pred = [labels[max(range(len(row)), key=lambda j: row[j].logprob)] for row in scores]
        return pred, [p == e.label for p, e in zip(pred, self.split.eval)]

    def _eval_progress(self, done: int, total: int) -> None:
        """The zero-shot baseline checks the budget between scoring batches (an adapter's evaluation is not cut)."""
        from advisor.probes.common.base import BudgetSpent

        self.scored = done
        if not self.points and not hasattr(self, "zero_shot") and done < total and self.ctx.out_of_time():
            raise BudgetSpent

    def _general_loss(self, model: Any) -> tuple[float, list[float]]:
        """Mean loss on the general-English sample and its summed loss per block of tokens (for the interval of
        the forgetting ratio, :func:`advisor.probes.lora.forgetting.forgetting_interval`)."""
        from advisor.probes.lora.forgetting import loss_blocks
        from advisor.probes.lora.training import language_model_token_losses

        losses = language_model_token_losses(model, self.general_ids, window=256, device=self.loaded.device,
                                             bf16=False)
        return sum(losses) / len(losses), loss_blocks(losses)

    def _baseline(self) -> None:
        """Accuracy and general-text loss without an adapter. In an assessment the few-shot probe has already
        scored the same prompts on the same model at k=0 (``few_shot_zero_shot``): its predictions are used."""
        from advisor.probes.lora.analysis import few_shot_zero_shot
        from advisor.probes.common.precision import grad_flags_on

        started = time.monotonic()
        reused = few_shot_zero_shot(self)
        with grad_flags_on(self.loaded.model):
            if reused is None:
                pred, correct = self._evaluate(self.loaded.model)
            else:
                pred = reused["predictions"]
                correct = [p == e.label for p, e in zip(pred, self.split.eval)]
                self.result.notes.append(say("zero-shot accuracy: the k=0 predictions of few-shot run "
                                             "#{run} (the same model, prompts, eval examples and precision)",
                                             run=reused["run_id"]))
            general, blocks = self._general_loss(self.loaded.model)
        # what evaluating the model takes (the budget a first size needs counts it): scoring done there included
        self.zero_shot = {"accuracy": sum(correct) / len(correct), "general_loss": general, "general_blocks": blocks,
                          "eval_seconds": time.monotonic() - started + (reused or {}).get("seconds", 0.0)}
        if reused is not None:
            self.zero_shot["from_few_shot_run"] = reused["run_id"]
        self.correct[0] = correct
        self._store_examples(0, pred)

    def _store_examples(self, size: int, pred: list[str]) -> None:
        params = {"method": "none" if size == 0 else self.config.method, "examples": size}
        for p, e in zip(pred, self.split.eval):
            self.result.examples.append(ExampleResult(example_id=e.id, params=params, prediction=p, gold=e.label,
                                                      correct=p == e.label))

    def _stop_reason(self, size: int) -> str | None:
        """Out of time, or the next size is predicted (from the last one's pace) not to fit the budget."""
        if self.ctx.out_of_time():
            return say("budget spent")
        left = self.ctx.time_left()
        if left is None or not self.points:
            return None
        last = self.points[-1]
        work = size * self._epochs(size)
        done = last["examples"] * last["epochs"]
        estimate = last["train_seconds"] * work / done + last["eval_seconds"]
        return say("{size} examples would need about {estimate:.0f}s, {left:.0f}s left", size=size, estimate=estimate,
                   left=left) if estimate > left else None

    # -- one size ----------------------------------------------------------------------------
    def _trial(self, size: int) -> bool:
        """Train and evaluate one size; False when the budget ran out inside it (nothing recorded)."""
        from advisor.probes.common.precision import grad_flags_on, weights_in_bf16
        from advisor.probes.lora.training import train

        c = self.config
        settings = TrainSettings(epochs=self._epochs(size), batch_size=c.batch_size,
                                 learning_rate=c.learning_rate or DEFAULT_LR[c.method], seed=c.seed, bf16=self.bf16,
                                 target_only_logits=c.method == "lora")  # soft prompts shift positions: full loss
        examples = [self.encoded[e.id] for e in self.order[:size]]
        pad = self.loaded.tokenizer.pad_token_id
        adapter = self._adapter()
        label = f"training on {size} examples"
        with adapter as model:
            stats = train(model, examples, settings, pad_id=pad, device=self.loaded.device,
                          should_stop=self.ctx.out_of_time, on_step=lambda done, total: self.ctx.progress(done, total, label))
            if stats.stopped_early:
                planned = -(-len(examples) // settings.batch_size) * settings.epochs
                self.cut = {"size": size, "steps": stats.steps, "planned": planned, "seconds": stats.seconds}
                return False
            started = time.monotonic()
            # with the base held in bf16, the adapter's fp32 weights evaluate in bf16 too (no cast per layer);
            # its fp32 values come back for saving and for the next size's training
            with weights_in_bf16(model, enabled=self.bf16 and self.loaded.device == "cpu"), grad_flags_on(model):
                pred, correct = self._evaluate(model)
                general, blocks = self._general_loss(model)
            eval_seconds = time.monotonic() - started
            path = adapter.save(self.artifacts / f"{c.method}-{size}")
        self.correct[size] = correct
        self._store_examples(size, pred)
        self.points.append({
            "examples": size, "accuracy": sum(correct) / len(correct), "epochs": settings.epochs, "steps": stats.steps,
            "learning_rate": settings.learning_rate, "loss_first": stats.losses[0], "loss_last": stats.losses[-1],
            "losses": [round(x, 5) for x in stats.losses], "train_tokens": stats.tokens,
            "train_seconds": stats.seconds, "tokens_per_second": stats.tokens_per_second, "eval_seconds": eval_seconds,
            "general_loss": general, "general_blocks": blocks, "trainable_params": adapter.trainable,
            "adapter": str(path)})
        self.result.artifacts[f"adapter_{size}"] = str(path)
        return True

    def _epochs(self, size: int) -> int:
        c = self.config
        return epochs_for(size, c.batch_size, c.epochs, warm=c.warm_start and bool(self.points),
                          first_of_warm=c.warm_start and not self.points)

    def _adapter(self) -> "AttachedAdapter":
        """A fresh adapter per size, or (warm start) the one adapter kept across sizes."""
        if not self.config.warm_start:
            return AttachedAdapter(self.loaded, self.config)
        if getattr(self, "kept", None) is None:
            self.kept = KeptAdapter(self.loaded, self.config)
        return self.kept

    def _publish(self, band: bool = True) -> None:
        from advisor.probes.lora.analysis import publish

        publish(self, band)


class LoraProbe(Probe):
    """LoRA (or prompt-tuning) learning curve on the user's labeled sample (classification).

    Facts: :class:`advisor.probes.lora.spec.LoraEvidence`.
    """

    def fingerprint(self, config: LoraProbeConfig) -> str:
        from advisor.probes.common.fingerprint import labeled_data_fingerprint

        return labeled_data_fingerprint(VERSION, config)

    def run(self, config: LoraProbeConfig, ctx: ProbeContext) -> ProbeResult:
        return LoraRun(config, ctx).run()

    def charts(self, result: ProbeResult, out_dir: Path, tr: Callable[[str], str] = same) -> dict[str, Path]:
        from advisor.probes.lora.analysis import learning_curve_chart

        path = learning_curve_chart(result, Path(out_dir), tr)
        return {"learning_curve": path} if path else {}
