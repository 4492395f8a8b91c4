"""Agreement of the decision with published outcomes, on both halves of the published cases.

Every case in tests/scenarios/published/{tuning,test}/ (a team's or a paper's situation as answers, the outcome
reached, the source and its date) runs through the whole decision — evidence read by provenance and strength,
costs by deployment at the stated volume, hard constraints, the simulation that gives each strategy its
probability of being best — and is compared with what the team reached. The split was drawn once (seeded, by
outcome) before any weight was tuned; weights are tuned on the tuning half only, and the test half is reported
as it comes. The calibration figure is the Brier score of the winner's probability (0 is perfect; always saying
0.5 scores 0.25).

    python benchmarks/decision_quality.py [--rules DIR] [--markdown] [--half tuning|test|both]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from advisor.decision.cases import decide_case, load_case
from advisor.decision.rulebook import load_rulebook

CASES = Path(__file__).resolve().parent.parent / "tests" / "scenarios" / "published"


def evaluate(half: str, rulebook) -> list[dict]:
    rows = []
    for path in sorted((CASES / half).glob("*.yaml")):
        case = load_case(path)
        rec = decide_case(case, rulebook)
        ok = rec.winner == case.outcome.winner and (case.outcome.method is None or rec.method == case.outcome.method)
        probability = getattr(rec, "winner_probability", None)
        rows.append({"case": path.stem, "date": case.date, "half": half,
                     "want": case.outcome.winner + (f" ({case.outcome.method})" if case.outcome.method else ""),
                     "got": rec.winner + (f" ({rec.method})" if case.outcome.method and rec.method else ""),
                     "ok": ok, "confidence": rec.confidence, "probability": probability})
    return rows


def brier(rows: list[dict]) -> float | None:
    scored = [r for r in rows if r["probability"] is not None]
    if not scored:
        return None
    return sum((r["probability"] - float(r["ok"])) ** 2 for r in scored) / len(scored)


def summary(name: str, rows: list[dict]) -> str:
    agree = sum(r["ok"] for r in rows)
    score = brier(rows)
    calibration = f", Brier score of the winner's probability {score:.3f}" if score is not None else ""
    return f"{name}: agreement {agree}/{len(rows)} ({agree / len(rows):.0%}){calibration}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, default=None, help="a rulebook folder (default: built-in)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--half", choices=["tuning", "test", "both"], default="both")
    args = parser.parse_args()
    rulebook = load_rulebook(args.rules)
    halves = ["tuning", "test"] if args.half == "both" else [args.half]
    results = {half: evaluate(half, rulebook) for half in halves}
    for half, rows in results.items():
        if args.markdown:
            print(f"\n#### {half} half\n")
            print("| case | date | outcome reached | advisor | agrees | P(best) | confidence |")
            print("| --- | --- | --- | --- | --- | --- | --- |")
            for r in rows:
                p = "" if r["probability"] is None else f"{r['probability']:.2f}"
                print(f"| `{r['case']}` | {r['date']} | {r['want']} | {r['got']} | {'yes' if r['ok'] else '**no**'} "
                      f"| {p} | {r['confidence']} |")
        else:
            print(f"\n{half} half")
            for r in rows:
                p = "" if r["probability"] is None else f"{r['probability']:.2f}"
                print(f"{'ok  ' if r['ok'] else 'MISS'} {r['case']:40} reached {r['want']:30} advisor {r['got']:30} "
                      f"{p:5} {r['confidence']}")
    print()
    for half, rows in results.items():
        print(summary(f"{half} half", rows))


if __name__ == "__main__":
    main()
