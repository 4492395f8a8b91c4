"""``advisor assess``: the questionnaire, the probes the inputs allow, the recommendation, the report."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from typing import TYPE_CHECKING

from advisor.commands.options import bf16_option, db_option, duration, lang_option, resolve_db, target_options, target_spec

if TYPE_CHECKING:
    from advisor.intake.questionnaire import Draft

FILE = click.Path(exists=False, path_type=Path)


def _interactive(no_input: bool) -> bool:
    return not no_input and sys.stdin.isatty()


def _draft(db_path: Path, resume: bool, interactive: bool) -> "Draft | None":
    """The questionnaire draft to continue: with ``--resume`` the saved one (an error when there is none); in
    an interactive run, the saved one if the user wants to continue it; otherwise an empty one at the same place."""
    from advisor.errors import InputError
    from advisor.intake.questionnaire import Draft

    path = Draft.location(db_path)
    saved = Draft.load(path) if path.exists() else None
    if resume and saved is None:
        raise InputError(f"--resume: no unfinished questionnaire in {path}; run `advisor assess` to start one")
    if saved is not None and not resume and interactive:
        count = len(saved.answers)
        if not click.confirm(f"Continue the questionnaire saved on {saved.saved or 'an earlier run'} "
                             f"({count} answer{'s' if count != 1 else ''})?", default=True, err=True):
            saved.discard()
            saved = None
    if not (resume or interactive):
        return None  # a run without prompts neither reads nor removes a draft
    return saved if saved is not None else Draft(path, {}, {})


class AssessCommand(click.Command):
    """``assess`` with one ``--<input>`` option per file a registered probe reads (``--data``, ``--corpus`` ...),
    read from the probe registry when the command line is parsed."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        from advisor.probes.registry import specs

        seen = {}
        for spec in specs():
            for item in spec.inputs:
                seen.setdefault(item.name, item)
        inputs = [click.Option([item.option, item.name], type=FILE, default=None, help=item.help)
                  for item in seen.values()]
        params = super().get_params(ctx)
        return params[:2] + inputs + params[2:]


@click.command(cls=AssessCommand)
@click.option("--answers", "answers_file", type=FILE, help="YAML or JSON answers file; only what it leaves out is asked.")
@click.option("--no-input", is_flag=True, help="Never prompt; missing answers are an error listing them all.")
@click.option("--resume", is_flag=True, help="Continue the questionnaire an interruption left (its answers are saved "
              "next to the database as they are given).")
@click.option("--probes", "probe_selection", default="all", show_default=True,
              help="Probes to run when their inputs are given: all, none, or a list such as few-shot,rag.")
@click.option("--budget", callback=duration, default="10m", show_default=True,
              help="Time budget shared by all probes (e.g. 300s, 10m).")
@click.option("--eval-size", default=100, show_default=True, type=click.IntRange(10),
              help="Held-out examples the few-shot and LoRA probes share (more: tighter intervals, slower).")
@click.option("--model", default="smollm2-135m", show_default=True, help="Probe language model: embedded alias, HF id or local path.")
@click.option("--embedder", default=None, help="Sentence-transformers model for the RAG probe (default: embedded all-MiniLM-L6-v2); with --embedder-url, the model that endpoint serves.")
@click.option("--embedder-url", default=None, help="Base URL of an OpenAI-compatible /v1/embeddings endpoint for the RAG probe.")
@click.option("--embedder-backend", type=click.Choice(["auto", "openvino", "torch"]), default="auto", show_default=True, help="How the RAG probe's local embedder runs (auto: OpenVINO when installed, else torch).")
@bf16_option("How the probes run a local language model")
@click.option("--allow-download", is_flag=True, help="Allow fetching models from the Hugging Face hub.")
@click.option("--force", is_flag=True, help="Re-run probes even when a stored result for the same inputs exists.")
@click.option("--costs", "costs_file", type=FILE, help="YAML file overriding cost assumptions (prices, tokens, GPUs).")
@click.option("--rules", "rules_dir", type=FILE, help="Use this rulebook folder instead of the built-in one.")
@click.option("--out", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), help="Report path (default: <project>-advisor-report.<format>; - for standard output).")
@click.option("--format", "fmt", type=click.Choice(["md", "json", "html"]), default="md", show_default=True, help="Report format.")
@click.option("--templates", type=click.Path(file_okay=False, path_type=Path), help="Folder of report templates overriding the built-in ones.")
@lang_option
@target_options
@db_option
def assess(answers_file: Path | None, no_input: bool, resume: bool, probe_selection: str, budget: float, eval_size: int, model: str,
           embedder: str | None, embedder_url: str | None, embedder_backend: str, bf16: str, allow_download: bool, force: bool, costs_file: Path | None, rules_dir: Path | None,
           out: Path | None, fmt: str, templates: Path | None, lang: str, db: Path | None, **more: object) -> None:
    """Assess a project: answers, probes on your data, a ranked recommendation and its report.

    \b
    Example:
      advisor assess --answers examples/support-desk/answers.yaml \\
        --data examples/support-desk/tickets.jsonl --corpus examples/support-desk/docs --out report.md
    """
    from advisor.intake.collect import collect_answers
    from advisor.assessment import assess as run_assessment
    from advisor.costs.estimate import load_cost_assumptions
    from advisor.evidence.orchestrate import Inputs, check, parse_probe_selection
    from advisor.decision.rulebook import load_rulebook
    from advisor.store.database import Store

    target = target_spec(more)
    files = {k: v for k, v in more.items() if isinstance(v, Path)}
    selected = parse_probe_selection(probe_selection)
    inputs = Inputs(files={k: v for k, v in files.items() if v is not None}, model=model, embedder=embedder, embedder_url=embedder_url,
                    embedder_backend=embedder_backend, bf16=bf16, allow_download=allow_download, budget_seconds=budget, eval_size=eval_size, force=force,
                    selected=selected, target=target)
    draft = _draft(resolve_db(db), resume, _interactive(no_input))
    if draft is not None:
        for key, value in draft.files.items():
            if key not in inputs.files and Path(value).exists():
                inputs.files[key] = Path(value)

    def ask(given: dict) -> dict:
        from advisor.commands.ask import Questionnaire

        questionnaire = Questionnaire(given, draft, only_required=answers_file is not None,
                                      given=set(given) - set(draft.answers))
        questionnaire.run()
        if answers_file is None:
            questionnaire.ask_inputs(inputs.files, inputs.selected)
        questionnaire.review(inputs.files)
        return questionnaire.result()

    intake = collect_answers(answers_file, draft.answers if draft is not None else None,
                             ask if _interactive(no_input) else None)
    answers = intake.answers
    rulebook = load_rulebook(rules_dir)  # an invalid rulebook or costs file fails before anything is stored
    costs = load_cost_assumptions(costs_file)
    check(answers, inputs)  # a missing or unusable input file stops here, before storing or loading a model
    from advisor.report.render import check_writable, default_report_path, environment

    check_writable(out or default_report_path(answers.project_name, fmt))
    if templates is not None:
        environment(templates, lang.lower())  # a missing template folder is an error now, not after the probes
    command = "advisor " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else "advisor assess"
    from advisor.errors import StoreError
    from advisor.probes.common.deadline import time_limit

    store = Store(resolve_db(db))
    try:
        if target is not None:  # a wrong URL, key or model is an input error before anything is stored
            from advisor.probes.common.endpoint import EndpointSpec, check_endpoint

            click.echo(check_endpoint(EndpointSpec.model_validate(target), store), err=True)
        with time_limit(budget):  # an endpoint's requests never outlast the assessment's budget
            outcome = run_assessment(answers, store=store, command=command, inputs=inputs, rulebook=rulebook,
                                     costs=costs, defaulted=intake.defaulted,
                                     artifacts_root=resolve_db(db).parent / "artifacts", out=out, fmt=fmt,
                                     templates=templates, lang=lang.lower(),
                                     echo=lambda line: click.echo(line, err=True))
    except BaseException:
        store.close(quiet=True)
        raise
    try:
        store.close()  # closing writes what is pending: a full disk can fail here, after the report
    except StoreError as exc:
        outcome.store_error = outcome.store_error or str(exc)
    if draft is not None:
        draft.discard()  # the answers are stored with the assessment now
    rec = outcome.document.recommendation
    for failure in rec.probe_failures:
        if not failure.fixable:
            click.echo(f"Warning: the {failure.probe} probe failed: {failure.error}", err=True)
    label = rec.winner_label + (f" ({rec.method_label})" if rec.method_label else "")
    to_stdout = str(outcome.report_path) == "-"  # then stdout holds the report alone
    click.echo(f"Recommendation: {label} - confidence {rec.confidence}", err=to_stdout)
    where = "on standard output" if to_stdout else f"written to {outcome.report_path}"
    if outcome.store_error:
        click.echo(f"Assessment not stored; report {where}", err=to_stdout)
        raise StoreError(f"{outcome.store_error} This run's recommendation was not stored; its report was written "
                         f"{'on standard output' if to_stdout else 'to ' + str(outcome.report_path)}. Run the same "
                         "command again once the database is fixed (finished probe runs are reused).")
    click.echo(f"Assessment #{outcome.document.id}; report {where}", err=to_stdout)
    fixable = [f for f in rec.probe_failures if f.fixable]
    if fixable:
        from advisor.errors import InputError

        raise InputError(f"the {fixable[0].probe} probe failed: {fixable[0].error} (the report above was written "
                         "without it; finished work is stored)")
