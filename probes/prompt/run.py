"""One execution of the prompt probe: the splits, the staged search within the budget and request cap, the held-out check.

The declaration is :mod:`advisor.probes.prompt.spec`, the search space :mod:`advisor.probes.prompt.search`,
the published figures :mod:`advisor.probes.prompt.metrics`. Order of work: the naive prompt on the held-out
split (so the baseline exists first), then every configuration on the selection split, stage by stage, then
the chosen one on the held-out split. Time and paid requests for that last check are reserved before each
configuration is tried; the result is republished after every unit, so a stop keeps what finished.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from advisor.errors import InputError
from advisor.probes.common.base import BudgetSpent, ExampleResult, Probe, ProbeContext, ProbeResult, same
from advisor.probes.prompt import search
from advisor.probes.prompt.metrics import PROBE_MODEL_NOTE
from advisor.probes.prompt.search import Candidate
from advisor.probes.prompt.spec import VERSION, PromptConfig, read_label_descriptions
from advisor.sentences import say



class PromptRun:
    def __init__(self, config: PromptConfig, ctx: ProbeContext):
        self.config, self.ctx, self.result = config, ctx, ctx.result
        self.rows: list[dict] = []  # one per configuration scored on the selection split
        self.held: dict[str, dict] = {}  # "naive" / "chosen" -> its held-out outcome
        self.stopped: str | None = None
        self.per_item = 0.0  # slowest seconds per example seen, for the time reservation
        self._builders: dict[str, Any] = {}
        self._vectors: dict[str, Any] | None = None

    # -- setup ---------------------------------------------------------------------------------------
    def run(self) -> ProbeResult:
        self._prepare()
        with self.lm.in_bf16(self.bf16):
            self._search()
        return self.result

    def _prepare(self) -> None:
        from advisor.probes.common.data import LabeledDataset, load_dataset, split_dataset
        from advisor.probes.common.endpoint import EndpointModel, open_for
        from advisor.probes.common.lm import Capability
        from advisor.probes.common.precision import use_bf16
        from advisor.probes.few_shot.spec import check_k

        c = self.config
        self.ds = ds = load_dataset(c.data, c.text_col, c.label_col, c.task)
        outer = split_dataset(ds, c.eval_size, c.split_seed)
        inner = split_dataset(LabeledDataset(ds.path, outer.pool, ds.task, ds.text_col, ds.label_col,
                                             labels=ds.labels), c.selection_size, c.split_seed + 1)
        self.held_out, self.selection, self.pool = outer.eval, inner.eval, inner.pool
        if not self.held_out or not self.selection:
            raise InputError(say("--data {data}: too few examples ({count}) for a held-out split, a selection split "
                                 "and a demonstration pool; the prompt probe needs about 40 or more.", data=c.data,
                                 count=len(ds)))
        check_k([*c.k, c.naive_k], len(self.pool))
        self.ks = sorted(set(c.k))
        self.descriptions = read_label_descriptions(c.label_descriptions)
        self.lm = open_for(c.model, c.target, self.ctx.store)
        self.remote = isinstance(self.lm, EndpointModel)
        self.by_generation = ds.task == "classification" and not self.lm.can(Capability.LOGLIKELIHOOD)
        needed = Capability.LOGLIKELIHOOD if ds.task == "classification" and not self.by_generation \
            else Capability.GENERATE
        self.lm.require(needed, say("the prompt probe ({task})", task=ds.task))
        self.bf16 = not self.remote and use_bf16(c.bf16, self.lm.device)
        self.model_name = self.lm.source if self.remote else c.model.name
        if not self.remote:
            self.result.notes.append(PROBE_MODEL_NOTE)
        self.result.artifacts["dataset_fingerprint"] = ds.fingerprint

    # -- the search ----------------------------------------------------------------------------------
    def _search(self) -> None:
        from advisor.probes.common.endpoint import CapReached

        c, task = self.config, self.ds.task
        base = search.naive(c.naive_k)
        self._announce()
        try:
            self.held["naive"] = self._unit(base, "held_out", self.ctx.deadline)
        except BudgetSpent:
            self.result.status = "empty"
            share = max(self.scored, 1) / len(self.held_out)
            self.stopped = say("stopped by the time budget before the naive prompt was scored")
            self.result.notes.append(self.stopped)
            self._publish()
            self.result.summary["budget_needed"] = (time.monotonic() - self.unit_started) / share * 3
            return
        except CapReached as exc:
            self.result.status = "partial"
            self.stopped = say("stopped before the naive prompt was scored: {reason}", reason=exc)
            self.result.notes.append(self.stopped)
            self._publish()
            return
        self._publish()
        stages = [lambda best: [base],
                  lambda best: search.instruction_stage(best, task, bool(self.descriptions), bool(c.task_description)),
                  lambda best: search.demonstration_stage(best, self.ks, task, self._nearest_possible(best))]
        if self.by_generation and c.reasoning:
            stages.append(search.reasoning_stage)
        tried: set[str] = set()
        for stage in stages:
            best = self._best_candidate()
            for cand in stage(best):
                if cand.key in tried:
                    continue
                self.stopped = self._why_stop(cand, best)
                if self.stopped:
                    break
                try:
                    outcome = self._unit(cand, "selection", self._search_deadline())
                except BudgetSpent:
                    self.stopped = say("the time budget ran out while a configuration was scored (it was dropped)")
                    break
                except CapReached as exc:
                    self.stopped = str(exc)
                    break
                tried.add(cand.key)
                tokens = [t for t in outcome["usage"]["prompt_tokens"] if t is not None]
                self.rows.append({"id": len(self.rows), **outcome,
                                  "accuracy": sum(outcome["correct"]) / len(outcome["correct"]),
                                  "prompt_tokens": sum(tokens) / len(tokens) if tokens else None})
                self._publish()
            if self.stopped:
                self.result.status = "partial"
                self.result.notes.append(say("search stopped after {count} configurations: {reason}",
                                             count=len(self.rows), reason=self.stopped))
                break
        if not self.rows:
            self._publish()
            return
        chosen = self._best_candidate()
        if chosen.key == base.key:
            self.held["chosen"] = self.held["naive"]
        else:
            try:
                self.held["chosen"] = self._unit(chosen, "held_out", self.ctx.deadline)
            except (BudgetSpent, CapReached) as exc:
                self.result.status = "partial"
                self.result.notes.append(say("the chosen prompt could not be scored on the held-out split "
                                             "({reason}); only its selection figure is shown",
                                             reason=str(exc) or say("the time budget ran out")))
        self._publish()

    def _best_candidate(self) -> Candidate:
        if not self.rows:
            return search.naive(self.config.naive_k)
        return search.choose(self.rows)["candidate"]

    def _why_stop(self, cand: Candidate, best: Candidate) -> str | None:
        """Why no further configuration may be tried: the cap on configurations, the time that scoring it and
        then the chosen one on the held-out split would take, or the paid requests they would need."""
        if len(self.rows) >= self.config.max_configs:
            return say("max_configs ({count}) reached", count=self.config.max_configs)
        left = self.ctx.time_left()
        need = self.per_item * (len(self.selection) + len(self.held_out))
        if left is not None and left < need:
            return say("the time budget: {left:.0f} s left, about {need:.0f} s needed to score another "
                       "configuration and still check the chosen one on the held-out split", left=max(left, 0),
                       need=need)
        cap = self.lm.spec.max_requests if self.remote else None
        if cap is not None:
            to_pay = self.lm.plan(self._bodies(cand, self.selection))[1]
            reserve = max(self.lm.plan(self._bodies(b, self.held_out))[1] for b in (cand, best))
            if self.lm.requests + to_pay + reserve > cap:
                return say("the request cap ({cap}): {to_pay} more requests for this configuration and {reserve} "
                           "kept for the held-out check would pass it ({sent} sent)", cap=cap, to_pay=to_pay,
                           reserve=reserve, sent=self.lm.requests)
        return None

    def _search_deadline(self) -> float | None:
        """A selection unit must end early enough to leave the held-out check its time."""
        if self.ctx.deadline is None:
            return None
        return self.ctx.deadline - self.per_item * len(self.held_out)

    def _announce(self) -> None:
        if not self.remote:
            return
        c = self.config
        at_once = (say("one request at a time") if self.lm.spec.concurrency == 1 else
                   say("at most {concurrency} requests at a time", concurrency=self.lm.spec.concurrency))
        values = dict(source=self.lm.source, configs=c.max_configs, selection=len(self.selection),
                      held=len(self.held_out), at_once=at_once)
        line = say("target {source}: up to {configs} configurations on {selection} selection examples, the naive "
                   "and the chosen prompt on {held} held-out examples ({at_once})", **values)
        if self.lm.spec.max_requests is not None:
            line = say("target {source}: up to {configs} configurations on {selection} selection examples, the naive "
                       "and the chosen prompt on {held} held-out examples ({at_once}); request cap {cap}",
                       cap=self.lm.spec.max_requests, **values)
        self.ctx.log(line)
        self.result.notes.append(line)

    # -- one configuration on one split --------------------------------------------------------------
    def _builder(self, cand: Candidate) -> tuple[Any, str]:
        from advisor.probes.common.prompting import PromptBuilder

        key = f"{cand.instruction}/{cand.output}/{cand.reasoning}"
        if key not in self._builders:
            text = search.instruction_text(cand, self.ds.task, self.ds.labels, self.descriptions,
                                           self.config.task_description)
            self._builders[key] = (PromptBuilder(search.template_for(cand, self.ds.task, text), self.ds.labels,
                                                 self.lm), text)
        return self._builders[key]

    def _demos(self, cand: Candidate, items: list) -> list[list]:
        if cand.selection == "nearest":
            vectors = self._vectors or {}
            return [search.nearest_demos(vectors[e.id], vectors["pool"], self.pool, cand.k) for e in items]
        shared = search.fixed_demos(cand, self.pool, self.ds.labels, self.config.seed)
        return [shared] * len(items)

    def _contexts(self, cand: Candidate, items: list) -> tuple[list, list[list]]:
        builder, _ = self._builder(cand)
        demos = self._demos(cand, items)
        contexts = [builder.context([(d.text, d.label) for d in ds], e.text) for ds, e in zip(demos, items)]
        return contexts, demos

    def _max_tokens(self, cand: Candidate) -> int:
        if cand.reasoning:
            return self.config.reasoning_tokens
        if self.ds.task == "classification":
            return max(8, 2 + max(len(lab.split()) for lab in self.ds.labels) * 4)
        return self.config.max_new_tokens

    def _stop(self, cand: Candidate) -> list[str]:
        if self._builder(cand)[0].chat:
            return []
        return ["\n\nInput:"] if cand.reasoning else ["\n\n"]

    def _bodies(self, cand: Candidate, items: list) -> list[dict]:
        contexts, _ = self._contexts(cand, items)
        return [self.lm.request(x, self._max_tokens(cand), self._stop(cand)) for x in contexts]

    def _unit(self, cand: Candidate, split: str, deadline: float | None) -> dict:
        from advisor.probes.prompt.metrics import score_answers, score_loglikelihood

        items = self.held_out if split == "held_out" else self.selection
        contexts, demos = self._contexts(cand, items)
        self._check_length(cand, contexts, items)
        self.scored, self.unit_started, self.deadline = 0, time.monotonic(), deadline
        self.label = f"{split.replace('_', '-')}: {cand.key}"
        if self.ds.task == "classification" and not self.by_generation:
            outcome = score_loglikelihood(self, contexts, items)
        else:
            outcome = score_answers(self, cand, contexts, items, self._ask(cand, contexts))
        wall = time.monotonic() - self.unit_started
        self.per_item = max(self.per_item, wall / len(items))
        outcome.update(wall_seconds=wall, seconds_per_example=wall / len(items), split=split,
                       candidate=cand, prompt_example=self._shown(contexts[0]),
                       instruction_text=self._builder(cand)[1],
                       demo_ids=[[d.id for d in ds] for ds in demos])
        for i, e in enumerate(items):
            details = {"demo_ids": outcome["demo_ids"][i]}
            if outcome.get("answers"):
                details["answer"] = outcome["answers"][i]
            self.result.examples.append(ExampleResult(
                example_id=e.id, params={"config": cand.key, "split": split}, prediction=outcome["pred"][i],
                gold=e.label, correct=outcome["correct"][i], details=details))
        return outcome

    def _check_length(self, cand: Candidate, contexts: list, items: list) -> None:
        over = None if self.remote else self.lm.too_long(contexts)
        if over is not None:
            longest, tokens, limit = over
            raise InputError(say("--data {data}: the {key} prompt for example {example} is {tokens:,} tokens, more "
                                 "than {model} reads ({limit:,}); use smaller -k.", data=self.config.data,
                                 key=cand.key, example=items[longest].id, tokens=tokens, model=self.lm.name,
                                 limit=limit))

    def progress(self, done: int, total: int) -> None:
        """Progress of the running unit; the unit's deadline is checked here, between batches."""
        self.scored = done
        self.ctx.progress(done, total, self.label)
        if done < total and self.deadline is not None and time.monotonic() >= self.deadline:
            raise BudgetSpent

    def _ask(self, cand: Candidate, contexts: list) -> tuple[list[str], dict]:
        """Generated answers in batches, with the measured usage per request."""
        outputs: list[str] = []
        usage: dict[str, list] = {"prompt_tokens": [], "completion_tokens": [], "latency": []}
        step = self.lm.spec.concurrency * 4 if self.remote else 8
        for start in range(0, len(contexts), step):
            chunk = contexts[start:start + step]
            if self.remote:
                bodies = [self.lm.request(x, self._max_tokens(cand), self._stop(cand)) for x in chunk]
                for r in self.lm.complete(bodies):
                    outputs.append(r["text"])
                    for key in usage:
                        usage[key].append(r.get(key))
            else:
                began = time.monotonic()
                outputs += self.lm.generate(chunk, self._max_tokens(cand), stop=self._stop(cand))
                usage["latency"] += [(time.monotonic() - began) / len(chunk)] * len(chunk)
            self.progress(len(outputs), len(contexts))
        if not self.remote:
            usage["prompt_tokens"] = [self.lm.count_tokens(x) for x in contexts]
            usage["completion_tokens"] = [self.lm.count_tokens(o) for o in outputs]
        return outputs, usage

    @staticmethod
    def _shown(context: Any) -> str:
        """A prompt as text: a string as is; chat messages as ``[role]`` blocks."""
        if isinstance(context, str):
            return context
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in context)

    # -- nearest neighbours ---------------------------------------------------------------------------
    def _nearest_possible(self, best: Candidate) -> bool:
        """Nearest-neighbour demonstrations are tried when some k > 0 is, the search may go on (the embedder is
        loaded only then) and the embedder loads."""
        return any(self.ks) and self._why_stop(best, best) is None and self._embeddings_ready()

    def _embeddings_ready(self) -> bool:
        """Embeds the pool and every query once (cached in the store); ``False`` (with a note) when the embedder
        cannot be loaded, and the search goes on without nearest-neighbour demonstrations."""
        import hashlib

        import numpy as np

        from advisor.errors import ModelNotFoundError
        from advisor.probes.common.embedder import embed_cached, embedder_key, load_embedder

        c = self.config
        try:
            model = load_embedder(c.embedder, c.model.allow_download, "cpu", c.embedder_backend)
        except ModelNotFoundError as exc:
            self.result.notes.append(say("nearest-neighbour demonstrations not tried: {reason}", reason=exc))
            return False
        items = self.pool + self.selection + self.held_out
        texts = [e.text for e in items]
        hashes = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        vectors, _ = embed_cached(model, embedder_key(c.embedder, model), texts, hashes, self.ctx.store)
        self._vectors = {e.id: v for e, v in zip(items, vectors)}
        self._vectors["pool"] = np.asarray(vectors[:len(self.pool)])
        self.embedder_name = c.embedder
        return True

    # -- publishing ------------------------------------------------------------------------------------
    def _publish(self) -> None:
        from advisor.probes.prompt.metrics import publish

        publish(self)


class PromptProbe(Probe):
    """The best prompt a small search finds, selected on one split and reported on another.

    Facts: :class:`advisor.probes.prompt.spec.PromptEvidence`.
    """

    def fingerprint(self, config: PromptConfig) -> str:
        import hashlib
        import json

        from advisor.probes.common.data import load_dataset
        from advisor.probes.common.fingerprint import model_identity, precision_key

        ds = load_dataset(config.data, config.text_col, config.label_col, config.task)
        described = read_label_descriptions(config.label_descriptions)
        keyed = config.model_dump(mode="json", exclude={"data", "label_descriptions", "model", "target",
                                                        "batch_tokens"})
        keyed.update(bf16=precision_key(config), label_descriptions=described)
        parts = [VERSION, ds.fingerprint, model_identity(config), json.dumps(keyed, sort_keys=True)]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]

    def run(self, config: PromptConfig, ctx: ProbeContext) -> ProbeResult:
        return PromptRun(config, ctx).run()

    def charts(self, result: ProbeResult, out_dir: Path, tr: Callable[[str], str] = same) -> dict[str, Path]:
        return {}
