"""The ``advisor`` command line. Commands live in :mod:`advisor.commands` and load lazily,
so ``advisor --help`` imports neither torch nor transformers."""

from __future__ import annotations

import click

from advisor import __version__
from advisor.commands.lazy import ErrorBoundaryGroup

COMMANDS = {
    "assess": "advisor.commands.assess:assess",
    "questions": "advisor.commands.questions:questions",
    "rules": "advisor.commands.rules:rules",
    "history": "advisor.commands.history:history",
    "show": "advisor.commands.history:show",
    "report": "advisor.commands.report:report",
    "compare": "advisor.commands.compare:compare",
    "probe": "advisor.commands.probe:probe",
    "models": "advisor.commands.models:models",
}


@click.group(cls=ErrorBoundaryGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="advisor")
@click.option("-v", "--verbose", is_flag=True, help="Show the libraries' own warnings, logs and progress bars.")
def cli(verbose: bool) -> None:
    """Decide between prompt engineering, RAG and fine-tuning from evidence on your own data.

    \b
    Example:
      advisor assess --answers examples/support-desk/answers.yaml --out report.md
    """
    import os

    if verbose:
        os.environ["ADVISOR_VERBOSE"] = "1"
    elif not os.environ.get("ADVISOR_VERBOSE"):
        # read by huggingface_hub and transformers when they load: no download or "Loading weights" bars
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def main() -> None:
    cli(prog_name="advisor")
