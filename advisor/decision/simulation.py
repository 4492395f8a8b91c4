"""How sure the decision is, as a probability: a seeded, reproducible simulation of what it rests on.

Each draw varies, around the point values the ranking uses:

- every uncertain cost figure, within the range ``uncertainty:`` in ``rules/costs.yaml`` states (a log-scale
  normal with the range as its 95% band, clipped to it); the cheapest allowed deployment is chosen again;
- every fired rule's weight (a log-normal factor, spread :data:`RULE_SPREAD`), group caps applied as usual;
- every measurement with a 95% interval: a value drawn from its uncertainty (a proportion with its sample size
  from its Beta posterior, others from a normal matching the interval), on which the evidence rules are read
  again;
- every measurement that was asked for but not obtained (its probe ran out of time or failed): each draw takes
  one of its plausible outcomes (:func:`advisor.decision.value_of_information.hypotheticals`, equally likely),
  on which the evidence rules are read again. So the winner's probability counts what evidence that was
  wanted and is missing could have said (it falls when some of those outcomes would change the decision); a
  probe nobody asked for does not count this way (the next steps suggest it instead).

The probability that a strategy is best is the share of draws in which it scores highest; a strategy a hard
constraint rules out is never best. Draws use common random numbers (one stream per source), so a better
measured accuracy moves every draw the same way: the probabilities are monotone in the evidence whenever the
rules are. :func:`sources_of_doubt` runs the simulation with one source varying at a time: how often the
winner changes when only that figure is uncertain.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advisor.costs.models import STRATEGIES, CostEstimate
from advisor.decision.conditions import evaluate, fields_of
from advisor.decision.feasibility import cost_terms

DRAWS = 400
SEED = 20261206
RULE_SPREAD = 0.5


@dataclass
class Setup:
    """What the simulation varies: the fired rules, the facts, the costs, the hard exclusions."""

    rulebook: Any
    answers: Any
    answer_rules: list[Any]
    evidence_rules: list[Any]
    facts: Any  # conditions.Facts at the point values (answers and evidence)
    costs: CostEstimate | None
    excluded: set[str]
    evidence_ns: dict[str, dict[str, Any]]
    #: which of ``evidence_rules`` fire at the point values
    evidence_fired: list[bool]
    #: measurements asked for but not obtained: (probe, plausible outcomes as {namespace: {fact: value}})
    missing: list[tuple[str, list[dict[str, dict[str, Any]]]]] = field(default_factory=list)


def _rng(source: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(source.encode())])


def _factor(z: np.ndarray, low: float, high: float) -> np.ndarray:
    """A multiplier with median 1 whose 95% band is [low, high], clipped to it."""
    up = np.power(high, np.clip(z, 0, None) / 1.96)
    down = np.power(low, np.clip(-z, 0, None) / 1.96)
    return np.clip(up * down, low, high)


def _normal_cdf_inv(u: np.ndarray) -> np.ndarray:
    from scipy.stats import norm

    return norm.ppf(u)


def interval_stems(evidence_ns: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(namespace, stem) of every measured fact with a 95% interval (``stem_low`` and ``stem_high``)."""
    out = []
    for ns in ("quality", "data"):
        values = evidence_ns.get(ns, {})
        for key in values:
            if key.endswith("_low") and f"{key[:-4]}_high" in values:
                low, high = values[key], values[f"{key[:-4]}_high"]
                if isinstance(low, (int, float)) and isinstance(high, (int, float)) and not isinstance(low, bool):
                    out.append((ns, key[:-4]))
    return out


def _draw_fact(ns: str, stem: str, values: dict[str, Any], u: np.ndarray) -> np.ndarray:
    """Values of one measured fact, from uniforms ``u`` (common random numbers)."""
    low, high = float(values[f"{stem}_low"]), float(values[f"{stem}_high"])
    n = values.get("eval_size")
    point = values.get(stem)
    if ns == "quality" and stem == "accuracy" and isinstance(n, (int, float)) and n > 0 and point is not None:
        from scipy.stats import beta

        hits = float(point) * float(n)
        return beta.ppf(u, hits + 0.5, float(n) - hits + 0.5)
    mid = float(point) if isinstance(point, (int, float)) and not isinstance(point, bool) else (low + high) / 2
    sd = max((high - low) / 3.92, 1e-9)
    return mid + sd * _normal_cdf_inv(u)


#: which probe measures the facts each plausible outcome of a missing measurement sets
PROBES_OF_FACT = {"quality.accuracy": ("target-few-shot", "prompt"), "data.tuning_gain": ("lora",),
                  "data.retrieval_hit_low": ("rag",)}


def unobtained(probes: list[str], answers: Any, evidence: dict[str, dict[str, Any]]
               ) -> list[tuple[str, list[dict[str, dict[str, Any]]]]]:
    """For probes that were asked for and did not bring their evidence (out of time, failed), the plausible
    outcomes of what each would have measured; a probe whose measurement the decision has anyway is left out."""
    from advisor.decision.value_of_information import hypotheticals

    wanted = set(probes)
    out = []
    for _step, outcomes in hypotheticals(answers, evidence):
        keys = {f"{ns}.{key}" for o in outcomes for ns, facts in o.items() for key in facts}
        probe = next((p for fact, names in PROBES_OF_FACT.items() if fact in keys for p in names if p in wanted), None)
        if probe is not None:
            out.append((probe, outcomes))
    return out


def _capped(rules: list[Any], rulebook: Any, weights: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Scores per draw and strategy from rules (rows of ``weights``/``active``), each group capped."""
    draws = weights.shape[1] if len(rules) else 0
    out = np.zeros((max(draws, 1), len(STRATEGIES)))
    groups: dict[str, np.ndarray] = {}
    for i, rule in enumerate(rules):
        name = rulebook.group_of(rule)
        raw = groups.setdefault(name, np.zeros_like(out))
        for strategy, delta in rule.effect.items():
            raw[:, STRATEGIES.index(strategy)] += delta * weights[i] * active[i]
    for name, raw in groups.items():
        cap = rulebook.cap(name)
        out += np.clip(raw, -cap, cap)
    return out


def _cost_draws(setup: Setup, factors: dict[str, np.ndarray], draws: int) -> np.ndarray:
    """The cost term per draw and strategy, with the cheapest allowed deployment chosen in each draw."""
    costs, answers = setup.costs, setup.answers
    one_off = np.zeros((draws, len(STRATEGIES)))
    monthly = np.zeros((draws, len(STRATEGIES)))
    for row in costs.strategies:
        column = STRATEGIES.index(row.strategy)
        best_total = np.full(draws, np.inf)
        for items in (row._options or {row.deployment: row.items}).values():
            o, m = np.zeros(draws), np.zeros(draws)
            for item in items:
                amount = np.full(draws, item.amount)
                for path in item.scales:
                    inverse = path.startswith("1/")
                    f = factors.get(path[2:] if inverse else path)
                    if f is not None:
                        amount = amount / f if inverse else amount * f
                if item.kind == "one_off":
                    o += amount
                else:
                    m += amount * (costs.monthly_requests if item.kind == "per_request" else 1)
            total = o + costs.horizon_months * m
            better = total < best_total
            best_total = np.where(better, total, best_total)
            one_off[:, column] = np.where(better, o, one_off[:, column])
            monthly[:, column] = np.where(better, m, monthly[:, column])
    return cost_terms(one_off, monthly, answers.budget_one_off, answers.budget_monthly)


def winners(setup: Setup, vary: set[str] | None = None, draws: int = DRAWS, seed: int = SEED) -> np.ndarray:
    """The index (in STRATEGIES) of the best strategy in each draw; ``vary`` limits the sources that vary
    (``costs:<path>``, ``weights``, ``evidence:<ns>.<stem>``, ``missing:<probe>``; ``None``: all)."""
    def on(source: str) -> bool:
        return vary is None or source in vary or (source.startswith("costs:") and "costs" in vary)

    rules = setup.answer_rules + setup.evidence_rules
    weights = np.ones((len(rules), draws))
    if on("weights"):
        for i, rule in enumerate(rules):
            weights[i] = np.exp(RULE_SPREAD * _rng(f"rule:{rule.id}", seed).standard_normal(draws))
    offset = len(setup.answer_rules)
    active = np.ones((len(rules), draws))
    active[offset:] = np.asarray(setup.evidence_fired, dtype=float).reshape(-1, 1)
    stems = interval_stems(setup.evidence_ns)
    drawn = {(ns, stem): _draw_fact(ns, stem, setup.evidence_ns[ns], _rng(f"evidence:{ns}.{stem}", seed).random(draws))
             for ns, stem in stems if on(f"evidence:{ns}.{stem}")}
    touched = {f"{ns}.{stem}{end}" for ns, stem in drawn for end in ("", "_low", "_high")}
    picks = {probe: (outcomes, _rng(f"missing:{probe}", seed).integers(0, len(outcomes), draws))
             for probe, outcomes in setup.missing if outcomes and on(f"missing:{probe}")}
    touched |= {f"{ns}.{key}" for outcomes, _ in picks.values() for o in outcomes for ns, fs in o.items() for key in fs}
    moving = [i for i, rule in enumerate(setup.evidence_rules) if touched & set(fields_of(rule.when))]
    if moving:
        base = dict(setup.facts.values)
        for d in range(draws):
            values = dict(base)
            for outcomes, chosen in picks.values():
                for ns, facts in outcomes[int(chosen[d])].items():
                    values.update({f"{ns}.{key}": value for key, value in facts.items()})
            for (ns, stem), series in drawn.items():
                v = float(series[d])
                values[f"{ns}.{stem}_low"] = values[f"{ns}.{stem}_high"] = v
                if f"{ns}.{stem}" in values:
                    values[f"{ns}.{stem}"] = v
            facts = type(setup.facts)(values, setup.facts.ordinals)
            for i in moving:
                active[offset + i, d] = evaluate(setup.evidence_rules[i].when, facts) is True
    scores = _capped(rules, setup.rulebook, weights, active)
    if scores.shape[0] != draws:
        scores = np.repeat(scores[:1], draws, axis=0)
    if setup.costs is not None:
        factors = {}
        for path, (low, high) in setup.costs.assumptions.get("uncertainty", {}).items():
            z = _rng(f"costs:{path}", seed).standard_normal(draws) if on(f"costs:{path}") else np.zeros(draws)
            factors[path] = _factor(z, low, high)
        scores = scores + _cost_draws(setup, factors, draws)
    for strategy in setup.excluded:
        scores[:, STRATEGIES.index(strategy)] = -math.inf
    return np.argmax(scores, axis=1)


def probabilities(setup: Setup, draws: int = DRAWS, seed: int = SEED) -> dict[str, float]:
    """The probability that each strategy is best (shares of the draws)."""
    if len(setup.excluded) >= len(STRATEGIES):
        return {s: 0.0 for s in STRATEGIES}
    counts = np.bincount(winners(setup, None, draws, seed), minlength=len(STRATEGIES))
    return {s: round(float(c) / draws, 4) for s, c in zip(STRATEGIES, counts)}


def sources_of_doubt(setup: Setup, winner: str, draws: int = DRAWS // 2, seed: int = SEED) -> list[dict[str, Any]]:
    """For each source of uncertainty alone, the share of draws in which another strategy comes out best."""
    sources = [f"costs:{p}" for p in (setup.costs.assumptions.get("uncertainty", {}) if setup.costs else {})]
    sources += ["weights"] + [f"evidence:{ns}.{stem}" for ns, stem in interval_stems(setup.evidence_ns)]
    sources += [f"missing:{probe}" for probe, outcomes in setup.missing if outcomes]
    index = STRATEGIES.index(winner)
    out = []
    for source in sources:
        got = winners(setup, {source}, draws, seed)
        flips = float(np.mean(got != index))
        if flips > 0:
            top = np.bincount(got[got != index], minlength=len(STRATEGIES)).argmax()
            out.append({"source": source, "flip_probability": round(flips, 3), "instead": STRATEGIES[int(top)]})
    return sorted(out, key=lambda r: -r["flip_probability"])


def level_of(probability: float) -> str:
    """The confidence level a winner's probability supports."""
    return "high" if probability >= 0.75 else "medium" if probability >= 0.5 else "low"
