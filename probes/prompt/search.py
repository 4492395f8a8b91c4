"""The search space of the prompt probe: configurations, their prompts, demonstration selection, the staged order and the selection rule."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, replace
from typing import Any, Sequence

import numpy as np

INSTRUCTIONS = ("naive", "task", "described")
OUTPUTS = ("plain", "strict")
SELECTIONS = ("random", "balanced", "nearest")
STRICT = {"classification": "Answer with exactly one label from the list, written as listed, and nothing else.",
          "generation": "Answer with the output only: no explanation, no preamble.",
          "extraction": "Answer with one JSON value only: no explanation, no code fences."}
REASONING = ("First reason about the input in one or two short sentences; then write the final answer on its own "
             "last line as `{marker} <answer>`.")


@dataclass(frozen=True)
class Candidate:
    """One prompt configuration. ``selection`` is ``none`` when ``k`` is 0."""

    instruction: str = "naive"  # naive: the few-shot probe's; task: from the task description; described: + labels
    output: str = "plain"  # plain, or strict: an explicit output-format constraint
    selection: str = "balanced"  # none, random, balanced, nearest
    k: int = 4
    reasoning: bool = False
    stage: str = "naive"

    def __post_init__(self) -> None:
        if self.k == 0 and self.selection != "none":
            object.__setattr__(self, "selection", "none")

    @property
    def key(self) -> str:
        return f"{self.instruction}/{self.output}/{self.selection}/k={self.k}" + ("/reasoning" if self.reasoning else "")

    def params(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if name != "stage"}


def naive(k: int) -> Candidate:
    """The few-shot probe's prompt: its instruction and format, k label-balanced random demonstrations."""
    return Candidate("naive", "plain", "balanced", k, False, "naive")


def instruction_stage(base: Candidate, task: str, has_descriptions: bool, has_description: bool) -> list[Candidate]:
    """Stage 1: every instruction and output format, with ``base``'s demonstrations."""
    kinds = ["naive"] + (["task"] if has_description or task == "classification" else [])
    kinds += ["described"] if has_descriptions and task == "classification" else []
    return [replace(base, instruction=i, output=o, stage="instruction") for i in kinds for o in OUTPUTS]


def demonstration_stage(base: Candidate, ks: Sequence[int], task: str, nearest: bool) -> list[Candidate]:
    """Stage 2: every demonstration selection at every k, with ``base``'s instruction and format."""
    selections = [s for s in SELECTIONS if (s != "balanced" or task == "classification") and (s != "nearest" or nearest)]
    out = [replace(base, k=k, selection=s if k else "none", stage="demonstrations")
           for k in ks for s in (selections if k else ["none"])]
    return out


def reasoning_stage(base: Candidate) -> list[Candidate]:
    """Stage 3: the best so far, asked to reason before it answers (models that answer by generation)."""
    return [replace(base, reasoning=True, stage="reasoning")]


def choose(rows: list[dict]) -> dict:
    """The configuration with the highest selection accuracy; ties go to fewer prompt tokens, then to the one
    tried first (the naive prompt is tried first)."""
    return max(rows, key=lambda r: (r["accuracy"], -(r.get("prompt_tokens") or 0), -r["id"]))


# -- prompts ----------------------------------------------------------------------------------------
def instruction_text(c: Candidate, task: str, labels: list[str], descriptions: dict[str, str],
                     task_description: str | None) -> str:
    """The instruction (system message with a chat template) of ``c``."""
    if task == "classification":
        listed = ", ".join(labels)
        if c.instruction == "naive":
            text = f"Classify each input into one of these labels: {listed}."
        else:
            head = (task_description or "Read each input and decide which label it belongs to.").strip()
            head = head if head.endswith((".", "!", "?")) else head + "."
            if c.instruction == "described":
                lines = "\n".join(f"- {lab}: {descriptions[lab]}" if descriptions.get(lab) else f"- {lab}"
                                  for lab in labels)
                text = f"{head}\nThe labels:\n{lines}"
            else:
                text = f"{head}\nThe labels are: {listed}."
    else:
        base = "Answer with valid JSON only." if task == "extraction" else "Answer concisely."
        head = (task_description or "").strip()
        text = base if c.instruction == "naive" or not head else f"{head}\n{base}"
    if c.reasoning:
        text += "\n" + REASONING.format(marker=marker(task))
    elif c.output == "strict":
        text += "\n" + STRICT[task]
    return text


def marker(task: str) -> str:
    return "Label:" if task == "classification" else "Output:"


def template_for(c: Candidate, task: str, instruction: str) -> Any:
    """The :class:`PromptTemplate` of ``c`` (the instruction is literal text, not a template)."""
    from advisor.probes.common.prompting import PromptTemplate

    literal = "{% raw %}" + instruction.replace("{% endraw %}", "") + "{% endraw %}"
    if c.reasoning:  # the query ends at the input, so the model reasons before it writes the marker
        return PromptTemplate(instruction=literal, example="Input: {{text}}", target_delimiter=f"\n{marker(task)} ")
    return PromptTemplate(instruction=literal, example=f"Input: {{{{text}}}}\n{marker(task)}")


def final_answer(text: str, task: str) -> str:
    """The answer after the last marker line of a reasoned answer (the whole text when there is none)."""
    word = marker(task).lower()
    lines = [line for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        low = line.strip().strip("`*").lower()
        if low.startswith(word):
            return line.strip().strip("`*")[len(word):].strip().strip("`*").strip()
    return text


# -- demonstrations -------------------------------------------------------------------------------
def fixed_demos(c: Candidate, pool: list, labels: list[str], seed: int) -> list:
    """The demonstrations shared by every query (random or label-balanced draws)."""
    from advisor.probes.few_shot.spec import draw_demos

    if c.k == 0:
        return []
    if c.selection == "balanced":
        return draw_demos(pool, c.k, seed * 1009 + c.k, labels)  # the few-shot probe's draw
    return random.Random(seed * 7919 + c.k).sample(pool, min(c.k, len(pool)))


def nearest_demos(query: np.ndarray, pool_vectors: np.ndarray, pool: list, k: int) -> list:
    """The ``k`` pool examples most similar to the query (cosine), the most similar last (next to the query)."""
    if k == 0:
        return []
    sims = pool_vectors @ query
    order = np.lexsort((np.arange(len(pool)), -sims))[:k]  # ties: pool order
    return [pool[i] for i in reversed(order)]


def describe(c: Candidate) -> str:
    """A short English description of a configuration (headline, tables)."""
    how = {"none": "no demonstrations", "random": f"{c.k} random demonstrations",
           "balanced": f"{c.k} label-balanced demonstrations", "nearest": f"{c.k} nearest-neighbour demonstrations"}
    parts = [f"{c.instruction} instruction", "format constraint" if c.output == "strict" else "", how[c.selection],
             "reasoning first" if c.reasoning else ""]
    return ", ".join(p for p in parts if p)
