"""Prompt templates: how an instruction, demonstrations and the query become (context, continuation).

The layout follows EleutherAI's lm-evaluation-harness so a user can reproduce one of its
prompts exactly (``--template FILE``):

- without a chat template (``ConfigurableTask.fewshot_context``)::

      context = instruction + instruction_delimiter            (only if an instruction is set)
              + Σ_demo [render(demo) + target_delimiter + word(demo.label) + fewshot_delimiter]
              + render(query)
      continuation = target_delimiter + word(label)

  lm-evaluation-harness's ``description`` is prepended verbatim (no delimiter); to reproduce it
  set ``instruction`` to the description as written (usually ending in ``"\\n\\n"``) and
  ``instruction_delimiter: ""`` — then the chat form below matches too (the harness's system
  message is the description verbatim).
- with the model's chat template (lm-eval ``--apply_chat_template``, not multi-turn): the
  instruction is the system message, the demonstrations and the query (joined by
  ``fewshot_delimiter``) are one user message, the generation prompt is added, and the
  continuation is the label word with no delimiter (lm-eval drops ``target_delimiter`` then).
  This is lm-eval's ``--apply_chat_template`` without ``--fewshot_as_multiturn`` and without a
  ``gen_prefix`` (neither is offered here).

Both forms agree with lm-eval 0.4.13 string for string and token for token, and their scores to
3e-5 (``benchmarks/lm_eval_agreement.py``, docs/benchmarks.md, docs/few-shot.md).

How the pair is tokenized (trailing-whitespace move, shared tokenization) is in
:mod:`advisor.probes.common.scoring`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from advisor.errors import InputError, format_validation_error
from advisor.sentences import say


class PromptTemplate(BaseModel):
    """A prompt format; every field can be set in a ``--template`` YAML file.

    ``instruction`` and ``example`` are jinja2: ``example`` sees ``text`` (alias ``input``) of one
    example, ``instruction`` sees ``labels`` (the label words, in order). ``label_words`` maps a
    label as it appears in the data to the word that is scored (default: the label itself).
    ``use_chat_template``: ``None`` uses it when the model has one.
    """

    model_config = ConfigDict(extra="forbid")

    instruction: str = ""
    instruction_delimiter: str = "\n\n"
    example: str = "{{text}}"
    label_words: dict[str, str] = Field(default_factory=dict)
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    use_chat_template: bool | None = None

    def word(self, label: str) -> str:
        return self.label_words.get(label, label)


def default_template(task: str) -> PromptTemplate:
    """A plain, model-agnostic default: name the labels (classification) and use Input/Label lines."""
    if task == "classification":
        return PromptTemplate(
            instruction="Classify each input into one of these labels: {{ labels | join(', ') }}.",
            example="Input: {{text}}\nLabel:",
        )
    instruction = "Answer with valid JSON only." if task == "extraction" else "Answer concisely."
    return PromptTemplate(instruction=instruction, example="Input: {{text}}\nOutput:")


def load_template(path: Path | str) -> PromptTemplate:
    """Read a ``--template`` YAML file into a :class:`PromptTemplate` (one-line errors)."""
    from advisor.user_yaml import read_user_mapping

    path = Path(path)
    data, text = read_user_mapping(path, label=f"--template {path}", kind="a prompt template",
                                   missing="pass a YAML prompt template (docs/few-shot.md)",
                                   example="instruction: ..., example: ..., label_words: ...")
    try:
        template = PromptTemplate.model_validate(data)
    except ValidationError as exc:
        raise InputError(format_validation_error(exc, f"--template {path}", "docs/few-shot.md lists the template fields")) from None
    for name, variables in (("instruction", {"labels": ["label"]}), ("example", {"text": "text", "input": "text"})):
        try:  # a broken or unsafe template fails now, before any model is loaded
            _render(getattr(template, name), **variables)
        except InputError as exc:
            line = next((n for n, row in enumerate(text.splitlines(), start=1) if row.lstrip().startswith(f"{name}:")),
                        None)
            where = f"{path}:{line}" if line else str(path)
            raise InputError(f"--template {where}: {name}: {exc}") from None
    return template


def _render(source: str, **variables: Any) -> str:
    from jinja2 import StrictUndefined, TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
    try:
        return env.from_string(source).render(**variables)
    except SecurityError as exc:
        raise InputError(f"prompt template {source[:40]!r}: refused unsafe template code ({exc}); a template may "
                         "only use {{text}} and {{labels}}.") from None
    except TemplateError as exc:
        raise InputError(f"prompt template {source[:40]!r}: {exc}; it may use {{{{text}}}} and {{{{labels}}}}.") from None


class PromptBuilder:
    """Builds contexts and continuations for one template, label set and language model
    (:class:`advisor.probes.common.lm.LanguageModel`: its chat template, if any, formats chat prompts)."""

    def __init__(self, template: PromptTemplate, labels: Sequence[str], model: Any = None):
        self.template = template
        self.labels = list(labels)
        self.model = model
        has_chat = bool(model is not None and model.has_chat_template)
        self.chat = has_chat if template.use_chat_template is None else template.use_chat_template
        if self.chat and not has_chat:
            raise InputError(say("prompt template: use_chat_template is true but the model has no chat template."))
        self.instruction = _render(template.instruction, labels=[template.word(x) for x in self.labels])

    def query(self, text: str) -> str:
        return _render(self.template.example, text=text, input=text)

    def demonstration(self, text: str, label: str) -> str:
        return self.query(text) + self.template.target_delimiter + self.template.word(label)

    def context(self, demos: Sequence[tuple[str, str]], text: str) -> str:
        """The full context string for ``text`` after ``demos`` (``(text, label)`` pairs)."""
        t = self.template
        shots = "".join(self.demonstration(d, lab) + t.fewshot_delimiter for d, lab in demos)
        if not self.chat:
            head = self.instruction + t.instruction_delimiter if self.instruction else ""
            return head + shots + self.query(text)
        messages = [{"role": "system", "content": self.instruction}] if self.instruction else []
        messages.append({"role": "user", "content": shots + self.query(text)})
        return self.model.render(messages)

    def continuation(self, label: str) -> str:
        """What is scored after the context: delimiter + label word (no delimiter in chat mode)."""
        word = self.template.word(label)
        return word if self.chat else self.template.target_delimiter + word
