"""A generated document collection, its questions and a long domain text, for checking the RAG and domain-gap
probes' budgets on data sizes nothing was tuned on (a parts catalogue of a fictional irrigation-equipment maker:
one document per part, with a question whose answer only that document holds).

    python benchmarks/heldout_corpus.py OUT_DIR [--documents 400] [--seed 7]

writes OUT_DIR/docs/<family>/<part>.md, OUT_DIR/qa.jsonl and OUT_DIR/domain.txt.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

FAMILIES = ["valves", "emitters", "filters", "controllers", "pumps", "sensors", "fittings", "pipes"]
MATERIALS = ["brass", "glass-filled nylon", "UV-stabilised polyethylene", "stainless steel 316", "PVC-U", "ABS"]
USES = ["orchard drip lines", "greenhouse misting", "turf sprinkler zones", "vineyard fertigation",
        "nursery benches", "row-crop subsurface drip"]


def part_document(rng: random.Random, family: str, number: int) -> tuple[str, str, dict]:
    code = f"{family[:3].upper()}-{number:04d}"
    facts = {"pressure": rng.choice([1.5, 2.0, 2.5, 3.5, 4.0, 6.0, 8.0, 10.0]), "flow": rng.randint(2, 180),
             "material": rng.choice(MATERIALS), "use": rng.choice(USES), "warranty": rng.choice([1, 2, 3, 5, 7]),
             "thread": rng.choice(['3/4" BSP', '1" BSP', '1/2" NPT', "25 mm compression", "32 mm spigot"]),
             "service": rng.randint(6, 60)}
    text = (f"# {code} {family[:-1]} for {facts['use']}\n\n"
            f"The {code} is a {facts['material']} {family[:-1]} rated to {facts['pressure']} bar working pressure "
            f"and a nominal flow of {facts['flow']} l/h. It connects with a {facts['thread']} thread and is sold "
            f"mainly for {facts['use']}.\n\n## Installation\n\nFlush the line before fitting the {code}; tighten by "
            f"hand, then a quarter turn with the tool. Do not exceed {facts['pressure']} bar during the pressure "
            f"test.\n\n## Maintenance\n\nInspect the seals every {facts['service']} months. The warranty covers "
            f"{facts['warranty']} years from the date of purchase, provided the service interval is kept.\n")
    return code, text, facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--documents", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    questions, domain = [], []
    for i in range(args.documents):
        family = FAMILIES[i % len(FAMILIES)]
        code, text, facts = part_document(rng, family, i + 1)
        path = args.out / "docs" / family / f"{code.lower()}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        domain.append(text)
        ask = rng.choice([(f"What working pressure is the {code} rated for?", f"{facts['pressure']} bar"),
                          (f"How often should the seals of the {code} be inspected?", f"{facts['service']} months"),
                          (f"How long is the warranty on the {code}?", f"{facts['warranty']} years")])
        questions.append({"id": f"H{i + 1:04d}", "question": ask[0], "gold_doc_ids": [f"{family}/{path.name}"],
                          "answers": [ask[1]]})
    (args.out / "qa.jsonl").write_text("\n".join(json.dumps(q) for q in questions) + "\n", encoding="utf-8")
    (args.out / "domain.txt").write_text("\n".join(domain), encoding="utf-8")
    print(f"{args.documents} documents, {len(questions)} questions, "
          f"{sum(len(d.split()) for d in domain):,} words of domain text in {args.out}")


if __name__ == "__main__":
    main()
