"""``advisor probe few-shot``: how far does prompting a language model get on your labeled data?"""

from __future__ import annotations

from pathlib import Path

import click

from advisor.commands.options import bf16_option, labeled_data_options, db_option, duration, int_list, run_probe_command, target_options, target_spec


@click.command("few-shot")
@labeled_data_options
@click.option("--model", default="smollm2-135m", show_default=True,
              help="Embedded model, Hugging Face id or local checkpoint folder.")
@click.option("-k", "k", default="0,1,4,8", show_default=True, callback=int_list, help="Numbers of demonstrations.")
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(min=1), help="Demonstration draws per k.")
@click.option("--eval-size", default=200, show_default=True, type=click.IntRange(min=1),
              help="Held-out examples (fewer when the data is small).")
@click.option("--split-seed", default=0, show_default=True, type=int, help="Seed of the pool/eval split.")
@click.option("--template", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="YAML prompt template (instruction, example, label_words, delimiters, use_chat_template).")
@click.option("--max-new-tokens", default=64, show_default=True, type=click.IntRange(min=1),
              help="Generation length limit (generation/extraction tasks).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--dtype", type=click.Choice(["auto", "float32", "bfloat16"]), default="auto", show_default=True,
              help="How the weights are stored (auto: float32 on a CPU, bf16 on a GPU that has it).")
@bf16_option()
@click.option("--allow-download", is_flag=True, help="Allow fetching the model from the Hugging Face hub.")
@click.option("--trust-remote-code", is_flag=True, help="Run custom model code from the checkpoint (only if you trust it).")
@click.option("--budget", callback=duration, default=None, help="Stop after this long (e.g. 10m); keeps what finished.")
@click.option("--force", is_flag=True, help="Re-run even if an identical run is stored.")
@target_options
@db_option
def few_shot(data: Path, text_col: str | None, label_col: str | None, task: str, model: str, k: list[int],
             seeds: int, eval_size: int, split_seed: int, template: Path | None, max_new_tokens: int, device: str,
             dtype: str, bf16: str, allow_download: bool, trust_remote_code: bool, budget: float | None, force: bool,
             db: Path | None, **target: object) -> None:
    """Measure few-shot prompting accuracy on your data, per number of demonstrations.

    \b
    Example:
      advisor probe few-shot --data tickets.jsonl -k 0,4,8 --seeds 3
      advisor probe few-shot --data tickets.jsonl --target gpt-4o-mini --target-url https://api.openai.com/v1
    """
    spec = {"name": model, "device": device, "dtype": dtype, "allow_download": allow_download,
            "trust_remote_code": trust_remote_code}
    values = {"data": data, "text_col": text_col, "label_col": label_col, "task": task, "model": spec, "k": k,
              "seeds": seeds, "eval_size": eval_size, "split_seed": split_seed, "template": template,
              "max_new_tokens": max_new_tokens, "bf16": bf16}
    values["target"] = target_spec(target)
    name = "target-few-shot" if values["target"] else "few-shot"
    run_probe_command(name, values, db, force=force, budget=budget,
                      lines=lambda r: [r.headline, *table(r.summary), *(f"note: {n}" for n in r.notes)])


def table(summary: dict) -> list[str]:
    """A compact fixed-width table: one line per k."""
    rows = summary.get("per_k") or []
    remote = summary.get("model_role") == "target"
    head = f"{'k':>3}  {'acc':>6}  {'95% CI':>13}  {'seed std':>8}  {'tokens':>8}  {'time':>7}"
    lines = [head + ("  format fail  tok/request  p50 s  p95 s" if remote else "")]
    for r in rows:
        best = " *" if r["k"] == summary.get("best_k") else ""
        ci = f"{100 * r['ci_low']:.1f}-{100 * r['ci_high']:.1f}%"
        line = (f"{r['k']:>3}  {100 * r['accuracy']:>5.1f}%  {ci:>13}  {100 * r['std']:>7.1f}p  "
                f"{r['tokens']:>8}  {r['wall_seconds']:>6.1f}s")
        if remote:
            fail = r.get("format_failure_rate")
            line += (f"  {'' if fail is None else f'{100 * fail:.1f}%':>11}  {r.get('prompt_tokens') or 0:>11.0f}"
                     f"  {r.get('latency_p50') or 0:>5.2f}  {r.get('latency_p95') or 0:>5.2f}")
        lines.append(line + best)
    return lines
