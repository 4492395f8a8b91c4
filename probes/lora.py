"""The LoRA trial probe: does fine-tuning pay off on the user's data, and at how many examples?

Real PEFT adapters (LoRA, or prompt tuning with ``method="prompt-tuning"``) are trained on nested,
seeded, label-stratified subsets of the training pool (``sizes``), with the very pool / eval split
of the few-shot probe (:func:`advisor.probes.data.split_dataset`, same ``eval_size`` and
``split_seed``). Each adapter is scored on the eval set by the few-shot probe's label
log-likelihood scorer (:mod:`advisor.probes.scoring`) with the zero-shot prompt format, so a LoRA
point and a few-shot point are directly comparable. The run then fits a saturating learning
curve (:mod:`advisor.probes.learning_curve`), extrapolates it to the data the team has, finds where
LoRA overtakes the best few-shot accuracy, runs an exact McNemar test against the best few-shot
configuration on the same eval examples, measures forgetting on a bundled general-English sample,
and projects the training cost of the production model (:mod:`advisor.probes.cost_projection`).

A small probe model fine-tuned on a few hundred examples is a lower bound of what fine-tuning a
production model gains.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from advisor.probes.base import Probe, ProbeContext, ProbeResult
from advisor.probes.runtime import ModelSpec

VERSION = "1"
DEFAULT_SIZES = [16, 32, 64, 128]


class LoraProbeConfig(BaseModel):
    """Inputs of the LoRA probe (``advisor probe lora`` options, or set by ``advisor assess``).

    Data, model, ``eval_size``, ``split_seed`` and ``template`` mean what they mean for the
    few-shot probe; keep them equal to compare the two. ``epochs`` / ``learning_rate`` ``None``
    pick defaults (see :func:`advisor.probes.lora_run.epochs_for`). ``alpha`` ``None`` is
    ``2 x rank``; ``target_modules`` ``None`` picks them from the architecture.
    """

    model_config = ConfigDict(extra="forbid")

    data: Path
    text_col: str | None = None
    label_col: str | None = None
    task: Literal["auto", "classification"] = "auto"
    model: ModelSpec = Field(default_factory=ModelSpec)
    eval_size: int = Field(200, ge=1)
    split_seed: int = 0
    template: Path | None = None
    sizes: list[int] = Field(default_factory=lambda: list(DEFAULT_SIZES))
    method: Literal["lora", "prompt-tuning"] = "lora"
    rank: int = Field(8, ge=1)
    alpha: float | None = Field(None, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | None = None
    virtual_tokens: int = Field(20, ge=1)
    epochs: int | None = Field(None, ge=1)
    learning_rate: float | None = Field(None, gt=0)
    batch_size: int = Field(8, ge=1)
    max_length: int = Field(512, ge=16)
    bf16: Literal["auto", "on", "off"] = "auto"
    seed: int = 0
    available_examples: int | None = Field(None, ge=1)
    few_shot_best: float | None = Field(None, ge=0, le=1)
    few_shot_run_id: int | None = Field(None, ge=1)
    production_model_b: float | None = Field(None, gt=0)
    gpu: str = "a100"
    gpu_price_per_hour: float | None = Field(None, ge=0)
    batch_tokens: int = Field(8192, ge=256)

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, value: list[int]) -> list[int]:
        if not value or any(v < 1 for v in value):
            raise ValueError("give one or more training-set sizes of at least 1, e.g. 16,32,64,128")
        return sorted(set(value))

    @field_validator("target_modules")
    @classmethod
    def _modules(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not [v for v in value if v.strip()]:
            raise ValueError("give at least one module name, e.g. q_proj,v_proj (or leave it out for the default)")
        return value


class LoraProbe(Probe):
    """LoRA (or prompt-tuning) learning curve on the user's labeled sample (classification).

    Evidence keys (rules see them as ``lora.<key>``):

    - ``method``: ``lora`` or ``prompt-tuning``;
    - ``best_accuracy``: highest eval accuracy over the trained sizes;
    - ``best_size``: training examples of that adapter (smallest on ties);
    - ``zero_shot_accuracy``: accuracy of the model without adapter, same prompt and scorer;
    - ``few_shot_best``: best few-shot accuracy compared against (given, or read from the few-shot run);
    - ``gain_over_few_shot``: ``best_accuracy - few_shot_best`` as a fraction (only with few_shot_best);
    - ``baseline``: what ``significant``/``p_value`` compare with: ``few-shot`` (per-example results of
      the few-shot run on the same eval examples) or ``zero-shot`` (no few-shot run given);
    - ``significant``: exact McNemar test p < 0.05 between the best adapter and the baseline;
    - ``p_value``: that test's two-sided p-value;
    - ``crossover_examples``: training examples at which the fitted curve reaches ``few_shot_best``;
      omitted when it is not within reach (fitted ceiling below it, or beyond 10x the largest size);
    - ``projected_accuracy``: fitted curve at ``available_examples`` (only with a fit and that number);
      ``projected_accuracy_low`` / ``projected_accuracy_high``: its 95% bootstrap band;
    - ``forgetting_ratio``: general-English loss after / before training, for the best adapter (>1: forgets);
    - ``training_gpu_hours`` / ``training_cost``: projected fine-tuning of the production model
      (``production_model_b`` billions) on ``available_examples`` (or the best size) on ``gpu``
      (only with ``production_model_b``);
    - ``eval_size``: eval examples;
    - ``required_eval_size_5pp``: eval examples needed to detect a 5 pp difference from the baseline
      accuracy at 80% power (two-sided, alpha 0.05);
    - ``complete``: whether every requested size was trained.
    """

    name = "lora"
    Config = LoraProbeConfig
    description = "Trains LoRA adapters on growing subsets of your data: learning curve, significance, cost."
    template = "probe_lora.md.j2"

    def fingerprint(self, config: LoraProbeConfig) -> str:
        from advisor.probes.fingerprint import labeled_data_fingerprint

        return labeled_data_fingerprint(VERSION, config)

    def run(self, config: LoraProbeConfig, ctx: ProbeContext) -> ProbeResult:
        from advisor.probes.lora_run import LoraRun

        return LoraRun(config, ctx).run()

    def charts(self, result: ProbeResult, out_dir: Path) -> dict[str, Path]:
        from advisor.probes.lora_report import learning_curve_chart

        path = learning_curve_chart(result, Path(out_dir))
        return {"learning_curve": path} if path else {}
