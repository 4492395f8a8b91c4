"""Few-shot prompting on the team's real model (an OpenAI-compatible endpoint): the target's own evidence.

The same probe as :mod:`advisor.probes.few_shot.spec` (same held-out items, same demonstration draws, same
seeds), run on the target given with ``--target``. Classification works by generation with the labels
stated in the prompt; an answer naming no label counts as wrong and is reported as a format failure.
Every request's tokens and latency are measured, and every response is cached in the store.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from advisor.probes.few_shot import spec as few_shot
from advisor.probes.common.spec import AssessInputs, Plan
from advisor.sentences import say


def plan(answers: Any, inputs: AssessInputs) -> Plan:
    """The embedded model's few-shot plan (same items, draws and seeds), pointed at the target."""
    if inputs.target is None:
        return Plan.skip(say("no target model given (--target MODEL --target-url URL)"))
    local = few_shot.plan(answers, inputs)
    return local if local.config is None else Plan({**local.config, "target": inputs.target})


#: The few-shot probe's spec (config, evidence, runner, inputs, template, checks) pointed at the target.
SPEC = dataclasses.replace(
    few_shot.SPEC,
    name="target-few-shot",
    description="Few-shot prompting accuracy, format failures, tokens and latency on your target model.",
    plan=plan,
    weight=2.0,
    order=5,  # the target's figures lead; the embedded model's follow as the proxy baseline
    uses_model=False,  # nothing to load locally
    # the next steps quote the target's best k and the examples for a ±5-point interval at its accuracy; the
    # probe model's figures say nothing about the team's model, so they never fill these
    placeholders={"best_k": (lambda ev: ev.get("best_k"), 8),
                  "eval_size": (few_shot.eval_size_for_5pp, few_shot.n_for_halfwidth(0.5, 0.05))},
    caveats=few_shot.caveats,
    command="advisor probe few-shot --data FILE --target MODEL --target-url URL",
    standalone=False,
)
