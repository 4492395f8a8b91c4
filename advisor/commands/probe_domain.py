"""``advisor probe domain``: how far your domain's text is from general text in its language, for a language
model."""

from __future__ import annotations

from pathlib import Path

import click

from advisor.commands.options import bf16_option, db_option, duration, run_probe_command


@click.command("domain")
@click.option("--text", type=click.Path(path_type=Path), required=True,
              help="UTF-8 text file with a sample of your domain's text (a few paragraphs or more).")
@click.option("--general", type=click.Path(path_type=Path), default=None,
              help="General-text sample to compare with (default: the bundled sample in --language).")
@click.option("--language", default="en", show_default=True,
              help="Language of your text (ISO 639-1); the bundled general samples are en and fr.")
@click.option("--model", default="smollm2-135m", show_default=True, help="Causal LM: embedded name, local folder or hub id.")
@click.option("--max-tokens", default=2048, show_default=True, type=click.IntRange(min=16),
              help="Tokens scored in each text (both texts are cut to the same count).")
@click.option("--window", default=512, show_default=True, type=click.IntRange(min=8),
              help="Context window per forward pass (capped at the model's context size).")
@click.option("--stride", default=None, type=click.IntRange(min=1),
              help="New tokens scored per window (default: half the window; window-1 = disjoint windows).")
@bf16_option()
@click.option("--allow-download", is_flag=True, help="Allow fetching the model from the Hugging Face hub.")
@click.option("--budget", callback=duration, default=None, help="Stop after this long (e.g. 10m); keeps what finished.")
@click.option("--force", is_flag=True, help="Re-run even if an identical run is stored.")
@db_option
def domain(text: Path, general: Path | None, language: str, model: str, max_tokens: int, window: int, stride: int | None, bf16: str,
           allow_download: bool, budget: float | None, force: bool, db: Path | None) -> None:
    """Compare the model's perplexity on your text with general text in its language; list the most surprising
    terms.

    \b
    Example:
      advisor probe domain --text examples/support-desk/domain.txt --max-tokens 1024
    """
    values = {"text": text, "general": general, "language": language.strip().lower(), "max_tokens": max_tokens, "window": window, "stride": stride, "bf16": bf16,
              "model": {"name": model, "allow_download": allow_download}}
    run_probe_command("domain", values, db, force=force, budget=budget, lines=summary_lines)


def summary_lines(result) -> list[str]:
    """Headline, the two texts' numbers, the surprising terms on one line, notes."""
    lines = [result.headline]
    for name, row in result.summary.get("texts", {}).items():
        lines.append(f"{name:<8} perplexity {row['perplexity']:8.2f}   bits/byte {row['bits_per_byte']:.3f}")
    terms = result.summary.get("terms") or []
    if terms:
        lines.append("surprising terms: " + ", ".join(f"{t['word']} ({t['mean_bits']:.1f} bits, x{t['count']})"
                                                       for t in terms))
    lines.extend(f"note: {note}" for note in result.notes)
    return lines
