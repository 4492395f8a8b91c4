"""``advisor probe prompt``: the best prompt a small search finds on your data, beside the naive k-shot prompt."""

from __future__ import annotations

from pathlib import Path

import click

from advisor.commands.options import bf16_option, labeled_data_options, db_option, duration, int_list, run_probe_command, target_options, target_spec


@click.command("prompt")
@labeled_data_options
@click.option("--task-description", default=None,
              help="One sentence on the task (e.g. 'Route each support ticket to the team that handles it.').")
@click.option("--label-descriptions", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="YAML or JSON mapping each label to a one-line description.")
@click.option("--model", default="smollm2-135m", show_default=True,
              help="Embedded model, Hugging Face id or local checkpoint folder (without --target).")
@click.option("--embedder", default="all-minilm-l6-v2", show_default=True,
              help="Sentence-transformers model choosing nearest-neighbour demonstrations.")
@click.option("--embedder-backend", type=click.Choice(["auto", "openvino", "torch"]), default="auto",
              show_default=True, help="How a local embedder runs.")
@click.option("-k", "k", default="0,2,4,8", show_default=True, callback=int_list,
              help="Numbers of demonstrations to try.")
@click.option("--naive-k", default=4, show_default=True, type=click.IntRange(min=0),
              help="Demonstrations in the naive baseline prompt (the few-shot probe's prompt).")
@click.option("--selection-size", default=40, show_default=True, type=click.IntRange(min=2),
              help="Examples every configuration is compared on (the selection split).")
@click.option("--eval-size", default=100, show_default=True, type=click.IntRange(min=1),
              help="Held-out examples the chosen and the naive prompt are reported on.")
@click.option("--split-seed", default=0, show_default=True, type=int, help="Seed of the splits.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the demonstration draws.")
@click.option("--max-configs", default=24, show_default=True, type=click.IntRange(min=1),
              help="Most configurations to try.")
@click.option("--reasoning/--no-reasoning", default=True, show_default=True,
              help="Try reasoning before the answer (models that answer by generation).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@bf16_option()
@click.option("--allow-download", is_flag=True, help="Allow fetching the model or embedder from the Hugging Face hub.")
@click.option("--budget", callback=duration, default=None, help="Stop after this long (e.g. 10m); keeps what finished.")
@click.option("--force", is_flag=True, help="Re-run even if an identical run is stored (cached responses are reused).")
@target_options
@db_option
def prompt(data: Path, text_col: str | None, label_col: str | None, task: str, task_description: str | None,
           label_descriptions: Path | None, model: str, embedder: str, embedder_backend: str, k: list[int],
           naive_k: int, selection_size: int, eval_size: int, split_seed: int, seed: int, max_configs: int,
           reasoning: bool, device: str, bf16: str, allow_download: bool, budget: float | None, force: bool,
           db: Path | None, **target: object) -> None:
    """Search prompt configurations on your data and report the chosen one beside the naive k-shot prompt.

    \b
    Example:
      advisor probe prompt --data tickets.jsonl --budget 120s
      advisor probe prompt --data tickets.jsonl --target my-8b --target-url http://localhost:8000/v1
    """
    values = {"data": data, "text_col": text_col, "label_col": label_col, "task": task,
              "task_description": task_description, "label_descriptions": label_descriptions,
              "model": {"name": model, "device": device, "allow_download": allow_download}, "embedder": embedder,
              "embedder_backend": embedder_backend, "k": k, "naive_k": naive_k, "selection_size": selection_size,
              "eval_size": eval_size, "split_seed": split_seed, "seed": seed, "max_configs": max_configs,
              "reasoning": reasoning, "bf16": bf16, "target": target_spec(target)}
    run_probe_command("prompt", values, db, force=force, budget=budget,
                      lines=lambda r: [r.headline, *table(r.summary), *(f"note: {n}" for n in r.notes)])


def table(summary: dict) -> list[str]:
    """One line per configuration tried (selection split), the chosen one starred."""
    rows = summary.get("configs") or []
    lines = [f"{'#':>3}  {'configuration':<44}  {'select':>6}  {'95% CI':>13}  {'tok/req':>7}"] if rows else []
    for r in rows:
        star = " *" if r["id"] == summary.get("chosen_id") else ""
        ci = f"{100 * r['ci_low']:.1f}-{100 * r['ci_high']:.1f}%"
        lines.append(f"{r['id']:>3}  {r['key']:<44}  {100 * r['accuracy']:>5.1f}%  {ci:>13}  "
                     f"{r['prompt_tokens'] or 0:>7.0f}{star}")
    return lines
