"""What would flip the decision: for each main answer (and each measured number), the nearest
value that would change the winning strategy, everything else held fixed."""

from __future__ import annotations

from typing import Any

from advisor.intake.answers import ORDINALS, Answers, answers_as_plain, short_name
from advisor.decision.recommend import winner_of
from advisor.decision.rulebook import Rulebook
from advisor.sentences import say

NUMERIC_GRIDS: dict[str, list[float]] = {
    "labeled_examples": [0, 10, 16, 50, 100, 300, 500, 1000, 3000, 10000, 30000, 100000],
    "monthly_requests": [100, 1000, 10_000, 50_000, 100_000, 500_000, 1_000_000, 10_000_000],
    "corpus_documents": [0, 10, 50, 100, 1000, 10_000, 100_000, 1_000_000],
    "weeks_to_production": [1, 2, 4, 8, 13, 26, 52],
    "latency_ms": [100, 300, 500, 1000, 2000, 5000, 10_000],
}
SCALED = ("budget_one_off", "budget_monthly", "cost_per_label")
SCALES = [0.0, 0.1, 0.25, 0.5, 2, 4, 10, 100]
BOOLS = ("has_corpus", "citations_needed", "style_voice", "can_produce_more_labels", "data_may_leave",
         "hosted_api_allowed", "quality_is_subjective")
UNIT_GRID = [round(0.05 * i, 2) for i in range(21)]
#: measured token counts the cost model uses (probe name, fact), tried at these multiples of the measurement
TOKEN_FACTS = (("target-few-shot", "prompt_tokens_zero_shot"), ("target-few-shot", "prompt_tokens_per_demo"),
               ("target-few-shot", "completion_tokens"), ("rag", "context_tokens_per_chunk"),
               ("lora", "train_tokens_per_example"))
TOKEN_SCALES = (2, 0.5, 4, 0.25, 10)


def _candidates(name: str, current: Any) -> list[Any]:
    """Alternative values, nearest first."""
    if name in NUMERIC_GRIDS:
        grid = [v for v in NUMERIC_GRIDS[name] if v != current]
        return sorted(grid, key=lambda v: abs(v - current) / max(abs(current), 1))
    if name in SCALED:
        values = [round(current * s, 2) if current else s * 1000 for s in SCALES]
        return sorted({v for v in values if v != current}, key=lambda v: abs(v - current))
    if name in ORDINALS:
        order = [m.value for m in ORDINALS[name]]
        here = order.index(str(current))
        return sorted((v for v in order if v != str(current)), key=lambda v: abs(order.index(v) - here))
    if name in BOOLS:
        return [not current]
    return []


def _describe(field: str, current: Any, value: Any, label: str) -> str:
    name = short_name(field)
    if isinstance(current, bool):
        return say("if {name} were {value} (now {current}), {label} would rank first", name=name,
                   value="yes" if value else "no", current="yes" if current else "no", label=label)
    if isinstance(current, (int, float)) and not isinstance(current, bool):
        if value > current:
            return say("with {name} at least {value} (now {current}), {label} would rank first", name=name,
                       value=_fmt(value), current=_fmt(current), label=label)
        return say("with {name} at most {value} (now {current}), {label} would rank first", name=name,
                   value=_fmt(value), current=_fmt(current), label=label)
    return say("if {name} were {value} (now {current}), {label} would rank first", name=name, value=value,
               current=current, label=label)


def _fmt(value: Any) -> str:
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 1 else f"{value:g}"


def flips(rulebook: Rulebook, answers: Answers, evidence: dict | None = None, limit: int = 8,
          assumptions: Any = None) -> list[dict[str, Any]]:
    """Nearest winner-changing value per answer (volume and budgets re-price every strategy when
    ``assumptions`` are given), then per measured number and evidence threshold; nearest first."""
    plain = answers_as_plain(answers)

    def winner(values: dict, facts: dict | None) -> str:
        return winner_of(rulebook, values, facts, assumptions)

    current_winner = winner(plain, evidence)
    found = []
    for name in list(NUMERIC_GRIDS) + list(SCALED) + list(ORDINALS) + list(BOOLS):
        for value in _candidates(name, plain[name]):
            changed = winner({**plain, name: value}, evidence)
            if changed != current_winner:
                label = rulebook.strategies[changed]["label"]
                found.append({"field": name, "kind": "answer", "current": plain[name], "value": value,
                              "winner": changed, "text": _describe(name, plain[name], value, label)})
                break
    found += _evidence_flips(winner, plain, evidence or {}, current_winner, rulebook)
    if assumptions is not None:
        found += _token_flips(winner, plain, evidence or {}, current_winner, rulebook)
    return found[:limit]


def _token_flips(winner: Any, plain: dict, evidence: dict, current_winner: str,
                 rulebook: Rulebook) -> list[dict[str, Any]]:
    """Measured token counts (cost drivers) at a few multiples of the measurement."""
    found = []
    for probe, key in TOKEN_FACTS:
        current = (evidence.get(probe) or {}).get(key)
        if isinstance(current, bool) or not isinstance(current, (int, float)) or current <= 0:
            continue
        for scale in TOKEN_SCALES:
            trial = {**evidence, probe: {**evidence[probe], key: current * scale}}
            changed = winner(plain, trial)
            if changed != current_winner:
                name = f"{probe.replace('-', '_')}.{key}"
                label = rulebook.strategies[changed]["label"]
                found.append({"field": name, "kind": "cost driver", "current": current, "value": current * scale,
                              "winner": changed,
                              "text": say("with {name} at {scale:g}x the measurement ({value} instead of {current} "
                                          "tokens), {label} would rank first", name=name, scale=scale,
                                          value=_fmt(current * scale), current=_fmt(current), label=label)})
                break
    return found


def _evidence_flips(winner: Any, plain: dict, evidence: dict, current_winner: str,
                    rulebook: Rulebook) -> list[dict[str, Any]]:
    found = []
    for probe, facts in evidence.items():
        for key, current in facts.items():
            if isinstance(current, bool) or not isinstance(current, (int, float)) or not 0 <= current <= 1:
                continue
            for value in sorted(UNIT_GRID, key=lambda v: abs(v - current)):
                if abs(value - current) < 1e-9:
                    continue
                trial = {**evidence, probe: {**facts, key: value}}
                changed = winner(plain, trial)
                if changed != current_winner:
                    name = f"{probe.replace('-', '_')}.{key}"
                    label = rulebook.strategies[changed]["label"]
                    found.append({"field": name, "kind": "evidence", "current": current, "value": value,
                                  "winner": changed, "text": _describe(name, current, value, label)})
                    break
    return found
