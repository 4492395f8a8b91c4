"""Agreement of the decision with published outcomes: every case in tests/scenarios/published/ (a team's or a
paper's situation as answers, the outcome reached, the source) run through the whole decision — evidence read
by provenance and strength, costs at the stated volume, hard constraints — and compared.

    python benchmarks/decision_quality.py [--rules DIR] [--markdown]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from advisor.decision.cases import decide_case, load_case
from advisor.decision.rulebook import load_rulebook

CASES = Path(__file__).resolve().parent.parent / "tests" / "scenarios" / "published"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, default=None, help="a rulebook folder (default: built-in)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    rulebook = load_rulebook(args.rules)
    rows, agree = [], 0
    for path in sorted(CASES.glob("*.yaml")):
        case = load_case(path)
        rec = decide_case(case, rulebook)
        want = case.outcome.winner + (f" ({case.outcome.method})" if case.outcome.method else "")
        got = rec.winner + (f" ({rec.method})" if case.outcome.method and rec.method else "")
        ok = rec.winner == case.outcome.winner and (case.outcome.method is None or rec.method == case.outcome.method)
        agree += ok
        rows.append((path.stem, want, got, ok, rec.confidence))
    if args.markdown:
        print("| case | outcome reached | advisor | agrees | confidence |")
        print("| --- | --- | --- | --- | --- |")
        for stem, want, got, ok, conf in rows:
            print(f"| `{stem}` | {want} | {got} | {'yes' if ok else '**no**'} | {conf} |")
    else:
        for stem, want, got, ok, conf in rows:
            print(f"{'ok  ' if ok else 'MISS'} {stem:36} reached {want:32} advisor {got:32} {conf}")
    print(f"\nagreement: {agree}/{len(rows)} ({agree / len(rows):.0%})")


if __name__ == "__main__":
    main()
