"""``advisor probe lora``: train LoRA adapters on growing subsets of your data; learning curve, significance, cost."""

from __future__ import annotations

from pathlib import Path

import click

from advisor.commands.options import bf16_option, db_option, duration, int_list, run_probe_command


@click.command("lora")
@click.option("--data", type=click.Path(path_type=Path), required=True, help="Labeled JSONL/CSV/Parquet (text + label).")
@click.option("--text-col", default=None, help="Text column (default: detected).")
@click.option("--label-col", default=None, help="Label column (default: detected).")
@click.option("--model", default="smollm2-135m", show_default=True, help="Probe model: embedded name, folder or hub id.")
@click.option("--allow-download", is_flag=True, help="Allow fetching the model from the Hugging Face hub.")
@click.option("--sizes", default="16,32,64,128", show_default=True, callback=int_list, help="Training-set sizes.")
@click.option("--method", type=click.Choice(["lora", "prompt-tuning"]), default="lora", show_default=True)
@click.option("--rank", default=8, show_default=True, type=click.IntRange(min=1), help="LoRA rank.")
@click.option("--alpha", default=None, type=float, help="LoRA alpha (default: 2 x rank).")
@click.option("--target-modules", default=None, help="Comma-separated module names (default: per architecture).")
@click.option("--epochs", default=None, type=click.IntRange(min=1), help="Epochs (default: 3-20, more for small sizes).")
@click.option("--warm-start", is_flag=True, help="Each size continues from the previous size's adapter (fewer steps; "
              "faster curves).")
@click.option("--lr", "learning_rate", default=None, type=float, help="Learning rate (default 1e-3; 3e-2 prompt tuning).")
@click.option("--eval-size", default=200, show_default=True, type=click.IntRange(min=1), help="Held-out examples.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of subsets, adapter init and batches.")
@click.option("--template", type=click.Path(path_type=Path), default=None, help="Prompt template YAML (as few-shot).")
@click.option("--language", default="en", show_default=True,
              help="Language of the data (ISO 639-1): forgetting is measured on general text in it (en, fr bundled).")
@click.option("--available-examples", default=None, type=click.IntRange(min=1), help="Labeled examples you have/could get.")
@click.option("--few-shot-best", default=None, type=click.FloatRange(0, 1), help="Best few-shot accuracy to beat.")
@click.option("--few-shot-run", "few_shot_run_id", default=None, type=click.IntRange(min=1),
              help="Stored few-shot run id: paired McNemar test on the same eval examples.")
@click.option("--production-model-b", default=None, type=click.FloatRange(min=0, min_open=True),
              help="Production model size in billions of parameters (for the cost projection).")
@click.option("--gpu", default="a100", show_default=True, help="GPU class for the cost projection (rules/costs.yaml).")
@click.option("--gpu-price", "gpu_price_per_hour", default=None, type=click.FloatRange(min=0), help="USD per GPU-hour.")
@bf16_option("Training and evaluation")
@click.option("--budget", callback=duration, default=None, help="Stop after this long, inside a size if need be (e.g. 300s).")
@click.option("--artifacts", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to save adapters (default: advisor's cache directory).")
@click.option("--force", is_flag=True, help="Re-run even if an identical run is stored.")
@db_option
def lora(data: Path, model: str, allow_download: bool, budget: float | None, artifacts: Path | None, force: bool,
         db: Path | None, target_modules: str | None, **options) -> None:
    """Train LoRA adapters on 16, 32, 64, 128... of your examples and read the learning curve.

    \b
    Example:
      advisor probe lora --data tickets.jsonl --sizes 16,32,64,128 --available-examples 2000 \\
        --production-model-b 8 --gpu l4 --budget 10m
    """
    modules = [m.strip() for m in target_modules.split(",") if m.strip()] if target_modules else None
    values = {"data": data, "model": {"name": model, "allow_download": allow_download}, "target_modules": modules,
              **options}
    run_probe_command("lora", values, db, force=force, budget=budget, lines=summary_lines, artifacts_dir=artifacts)


def summary_lines(result) -> list[str]:
    """The headline, one row per trained size, projection/cost lines and the notes."""
    s, ev = result.summary, result.evidence
    lines = [result.headline, "examples  accuracy  train loss  general loss  tokens/s"]
    zero = s.get("zero_shot") or {}
    if zero:
        lines.append(f"{0:>8}  {zero['accuracy']:>8.1%}  {'-':>10}  {zero['general_loss']:>12.3f}  {'-':>8}")
    for p in s.get("points", []):
        lines.append(f"{p['examples']:>8}  {p['accuracy']:>8.1%}  {p['loss_last']:>10.3f}  "
                     f"{p['general_loss']:>12.3f}  {p['tokens_per_second']:>8.0f}")
    if "projected_accuracy" in ev:
        lines.append(f"projected at {s['available_examples']} examples: {ev['projected_accuracy']:.1%}")
    if "crossover_examples" in ev:
        lines.append(f"overtakes the few-shot best at about {ev['crossover_examples']} examples")
    if "training_gpu_hours" in ev:
        lines.append(f"training the production model: {ev['training_gpu_hours']:.2f} GPU-hours "
                     f"({s['cost']['gpu']}), about ${ev['training_cost']:.2f}")
    lines += [f"adapter: {path}" for key, path in result.artifacts.items() if key.startswith("adapter_")]
    return lines + [f"note: {n}" for n in result.notes]
