"""Loading and checking the rulebook: YAML files of declarative rules, plus strategy metadata.

A rules file holds ``rules:``, a list of rules::

    - id: rag-fresh-knowledge
      when: {field: corpus_change, gte: weekly}
      effect: {rag: 3, rag_prompt: 3, fine_tuning: -2}
      exclude: {fine_tuning: "why it is ruled out"}     # optional
      method: {lora: 1}                                  # optional: fine-tuning method preference
      rationale: One sentence, our own words.
      source: "Title, Publisher" or "Authors (year), Title"
      risk: optional risk to watch when this fires
      next_step: optional concrete next step

Every file is validated at load time: unknown keys, operators, fields, strategies or choice
values are errors reported as ``file:line: message``.
"""

from __future__ import annotations

import difflib
import hashlib
import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from advisor.intake import answers as answers_mod
from advisor.decision.conditions import ConditionError, FieldRef, comparisons_of, fields_of, parse_condition
from advisor.errors import RulebookError
from advisor.decision.placeholders import unknown_in
from advisor.user_yaml import NoAliasLoader, read_user_file
from advisor.probes.registry import by_namespace
from advisor.probes.common.spec import FactType

STRATEGIES = ("prompt_engineering", "rag", "fine_tuning", "rag_prompt", "rag_fine_tuning")
METHODS = ("lora", "prompt_tuning", "full", "preference_tuning")
NON_RULE_FILES = {"strategies.yaml", "costs.yaml", "groups.yaml"}


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    when: Any
    effect: dict[str, float] = Field(default_factory=dict)
    exclude: dict[str, str] = Field(default_factory=dict)
    method: dict[str, float] = Field(default_factory=dict)
    rationale: str = Field(min_length=10)
    source: str = Field(min_length=5)
    risk: str | None = None
    next_step: str | None = None
    #: the decision factor (``groups.yaml``); a group's total effect per strategy is capped
    group: str = ""
    file: str = ""
    line: int = 0

    @field_validator("effect", "exclude", "method")
    @classmethod
    def _known_keys(cls, value: dict, info: Any) -> dict:
        allowed, what = (METHODS, "fine-tuning method") if info.field_name == "method" else (STRATEGIES, "strategy")
        unknown = [key for key in value if key not in allowed]
        if unknown:
            raise ValueError(f"unknown {what} {unknown[0]!r}; use one of {', '.join(allowed)}")
        return value

    @property
    def uses_evidence(self) -> bool:
        return any("." in f for f in fields_of(self.when))

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


class Rulebook(BaseModel):
    rules: list[Rule]
    strategies: dict[str, dict[str, Any]]
    hash: str
    paths: list[str]
    #: decision factors: group id -> {label, cap}
    groups: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def cap(self, group: str) -> float:
        """The cap of a group's total effect per strategy (a rule without a group is its own, uncapped)."""
        return float(self.groups.get(group, {}).get("cap", math.inf))

    def group_of(self, rule: Rule) -> str:
        return rule.group or rule.id

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


class _LineLoader(NoAliasLoader):
    """A YAML loader that records each mapping's line as ``__line__``."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def _read_yaml(path: Path) -> Any:
    data, _ = read_user_file(path, label=str(path), kind="a rules file", error=RulebookError, loader=_LineLoader,
                             missing="check the path (`advisor rules list` shows the built-in rules)")
    return data


def _line_for(raw: dict, loc: tuple) -> int:
    """The line of the deepest mapping on the error's path."""
    line, node = raw.get("__line__", 0), raw
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            break
        if isinstance(node, dict) and "__line__" in node:
            line = node["__line__"]
    return line


def _parse_rule(raw: Any, path: Path) -> Rule:
    if not isinstance(raw, dict):
        raise RulebookError(f"{path}: each entry of 'rules' must be a mapping with id, when, effect, rationale, source")
    rid = raw.get("id", "?")
    if "when" not in raw:
        raise RulebookError(f"{path}:{raw.get('__line__', 0)}: rule {rid!r}: when: missing; every rule needs a condition")
    try:
        when = parse_condition(raw["when"])
    except ConditionError as exc:
        line = exc.line or raw.get("__line__", 0)
        raise RulebookError(f"{path}:{line}: rule {rid!r}: {exc}") from None
    try:
        rule = Rule.model_validate({**_strip_lines({k: v for k, v in raw.items() if k != "when"}), "when": when})
    except ValidationError as exc:
        err = exc.errors()[0]
        line = _line_for(raw, tuple(err["loc"]))
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (allowed: id, when, effect, exclude, method, group, rationale, source, risk, next_step)"
        raise RulebookError(f"{path}:{line}: rule {rid!r}: {where}: {msg}") from None
    rule.file, rule.line = str(path), raw.get("__line__", 0)
    _check_fields(rule, path)
    return rule


def _check_fields(rule: Rule, path: Path) -> None:
    """Every compared field exists, is compared with a value of its type, and choice values are valid;
    every next-step placeholder is filled by something."""
    for cmp in comparisons_of(rule.when):
        line = cmp.line or rule.line
        if isinstance(cmp.operand, FieldRef):
            _check_name(rule, cmp.operand.field, path, line)
        _check_name(rule, cmp.field, path, line)
        _check_choices(rule, cmp, path, line)
        _check_fact_type(rule, cmp, path, line)
    if rule.next_step:
        problem = unknown_in(rule.next_step)
        if problem:
            raise RulebookError(f"{path}:{rule.line}: rule {rule.id!r}: next_step: {problem}")


def fact_namespaces() -> dict[str, dict[str, FactType]]:
    """Every fact a rule may test, by namespace: each probe's own facts, and the decision facts read from them
    by provenance and strength (``quality``: the target model; ``data``: what transfers; advisor/evidence/interpret.py)."""
    from advisor.evidence.interpret import DERIVED
    from advisor.probes.common.spec import fact_types

    spaces = {ns: spec.facts() for ns, spec in by_namespace().items()}
    spaces.update({ns: fact_types(model) for ns, model in DERIVED.items()})
    return spaces


def fact_type(name: str) -> FactType | None:
    """The declared type of an evidence fact ``namespace.fact``, or ``None`` if nothing declares it."""
    namespace, _, fact = name.partition(".")
    return fact_namespaces().get(namespace, {}).get(fact)


def _check_name(rule: Rule, name: str, path: Path, line: int) -> None:
    known = answers_mod.Answers.model_fields
    where = f"{path}:{line}: rule {rule.id!r}"
    if "." not in name:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RulebookError(f"{where}: unknown field {name!r}{hint}; "
                                "`advisor questions --template` lists the answer fields")
        return
    namespace, _, fact = name.partition(".")
    spaces = fact_namespaces()
    if namespace not in spaces:
        raise RulebookError(f"{where}: unknown probe in field {name!r}; "
                            f"evidence fields start with one of {', '.join(spaces)}")
    facts = spaces[namespace]
    if fact not in facts:
        close = difflib.get_close_matches(fact, list(facts), n=1)
        hint = f" (did you mean '{namespace}.{close[0]}'?)" if close else ""
        raise RulebookError(f"{where}: unknown fact {name!r}{hint}; `advisor rules facts` lists every probe's facts")


def _check_choices(rule: Rule, cmp: Any, path: Path, line: int) -> None:
    """Choice values compared with a choice field must be among its choices."""
    if "." in cmp.field or cmp.op == "exists" or isinstance(cmp.operand, FieldRef):
        return
    choices = answers_mod.choices_of(cmp.field)
    values = cmp.operand if isinstance(cmp.operand, list) else [cmp.operand]
    bad = [v for v in values if choices and str(v) not in choices]
    if bad:
        raise RulebookError(
            f"{path}:{line}: rule {rule.id!r}: {bad[0]!r} is not a choice of {cmp.field}; "
            f"use one of {', '.join(choices)}"
        )


def _check_fact_type(rule: Rule, cmp: Any, path: Path, line: int) -> None:
    """An evidence fact is compared with a value (or fact) of its own type, within its range."""
    ftype = fact_type(cmp.field) if "." in cmp.field else None
    if ftype is None or cmp.op == "exists":
        return
    where = f"{path}:{line}: rule {rule.id!r}: {cmp.field} is {ftype.describe()}"
    if isinstance(cmp.operand, FieldRef):
        other = fact_type(cmp.operand.field) if "." in cmp.operand.field else None
        if other is not None and _family(other.kind) != _family(ftype.kind):
            raise RulebookError(f"{where}, but {cmp.operand.field} is {other.describe()}; compare like with like")
        return
    if cmp.op in ("lt", "lte", "gt", "gte") and _family(ftype.kind) != "number":
        raise RulebookError(f"{where}; {cmp.op} compares numbers, use eq, ne, in or not_in")
    for value in (cmp.operand if isinstance(cmp.operand, list) else [cmp.operand]):
        if _family(_kind_of(value)) != _family(ftype.kind):
            raise RulebookError(f"{where}; it is compared with {value!r} ({_kind_of(value)})")
        if ftype.choices and str(value) not in ftype.choices:
            raise RulebookError(f"{where}; {value!r} is not one of them")
        if _family(ftype.kind) == "number" and not _in_range(value, ftype):
            hint = " (fractions are written 0.9 for 90%)" if ftype.unit == "fraction" else ""
            raise RulebookError(f"{where}; {value!r} is out of that range{hint}")


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, (int, float)) else "text"


def _family(kind: str) -> str:
    return "number" if kind in ("number", "integer") else kind


def _in_range(value: float, ftype: FactType) -> bool:
    return (ftype.ge is None or value >= ftype.ge) and (ftype.le is None or value <= ftype.le)


def _rule_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise RulebookError(f"{directory}: not a folder; --rules takes a folder of .yaml rule files")
    return sorted(p for p in directory.rglob("*.yaml") if p.name not in NON_RULE_FILES)


def load_rules_file(path: Path) -> list[Rule]:
    data = _read_yaml(path)
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RulebookError(f"{path}:1: a rules file must have a top-level 'rules:' list")
    extra = [k for k in data if k not in ("rules", "__line__")]
    if extra:
        raise RulebookError(f"{path}:1: unknown top-level key {extra[0]!r}; only 'rules' is allowed")
    return [_parse_rule(raw, path) for raw in data["rules"]]


def load_strategies(directory: Path) -> dict[str, dict[str, Any]]:
    path = directory / "strategies.yaml"
    data = _strip_lines(_read_yaml(path)) if path.exists() else None
    if not isinstance(data, dict) or set(data.get("strategies", {})) != set(STRATEGIES):
        raise RulebookError(f"{path}: must define 'strategies:' with exactly {', '.join(STRATEGIES)}")
    for name, meta in data["strategies"].items():
        for step in (meta or {}).get("next_steps", []) or []:
            problem = unknown_in(str(step))
            if problem:
                raise RulebookError(f"{path}: strategy {name!r}: next_steps: {problem}")
    return data["strategies"]


def load_rulebook(directory: Path | None = None) -> Rulebook:
    """The rulebook in ``directory`` (default: the built-in one). Strategy metadata
    (``strategies.yaml``) comes from that folder if present, else from the built-in rulebook."""
    from advisor.resources import rules_dir

    builtin = rules_dir()
    directory = Path(directory) if directory else builtin
    files = _rule_files(directory)
    if not files:
        raise RulebookError(f"{directory}: no .yaml rule files found; a rulebook folder needs at least one")
    rules = [rule for path in files for rule in load_rules_file(path)]
    if not rules:
        raise RulebookError(f"{directory}: the rulebook holds no rules; add at least one under `rules:` "
                            "(`advisor rules list` shows the built-in ones)")
    _check_unique(rules)
    meta_dir = directory if (directory / "strategies.yaml").exists() else builtin
    strategies = load_strategies(meta_dir)
    groups_dir = directory if (directory / "groups.yaml").exists() else builtin
    groups = load_groups(groups_dir / "groups.yaml")
    _check_groups(rules, groups)
    digest = hashlib.sha256()
    for path in files + [meta_dir / "strategies.yaml", groups_dir / "groups.yaml"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return Rulebook(rules=rules, strategies=strategies, hash=digest.hexdigest()[:16], paths=[str(p) for p in files],
                    groups=groups)


def load_groups(path: Path) -> dict[str, dict[str, Any]]:
    """The decision factors: ``groups: {id: {label, cap}}``; a cap is a positive number of points."""
    data = _strip_lines(_read_yaml(path)) if path.exists() else {"groups": {}}
    groups = (data or {}).get("groups")
    if not isinstance(groups, dict):
        raise RulebookError(f"{path}: must hold 'groups:', a mapping of group id to label and cap")
    for name, meta in groups.items():
        cap = (meta or {}).get("cap") if isinstance(meta, dict) else None
        if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not 0 < cap < 100:
            raise RulebookError(f"{path}: group {name!r}: cap must be a positive number of points such as 3")
        if not str((meta or {}).get("label", "")).strip():
            raise RulebookError(f"{path}: group {name!r}: give it a label (a few words naming the factor)")
    return groups


def _check_groups(rules: list[Rule], groups: dict[str, dict[str, Any]]) -> None:
    """Every named group exists, and a group holds rules of one kind (answers or evidence), so its capped total
    counts in one column of the ranking."""
    kinds: dict[str, tuple[bool, Rule]] = {}
    for rule in rules:
        if not rule.group:
            continue
        if rule.group not in groups:
            close = difflib.get_close_matches(rule.group, list(groups), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RulebookError(f"{rule.where}: rule {rule.id!r}: unknown group {rule.group!r}{hint}; groups.yaml "
                                f"defines {', '.join(groups)}")
        first = kinds.setdefault(rule.group, (rule.uses_evidence, rule))
        if first[0] != rule.uses_evidence:
            raise RulebookError(f"{rule.where}: rule {rule.id!r}: group {rule.group!r} mixes rules on answers and on "
                                f"probe evidence (see {first[1].id!r}); put them in separate groups")


def _check_unique(rules: list[Rule]) -> None:
    seen: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in seen:
            raise RulebookError(f"{rule.where}: duplicate rule id {rule.id!r} (first defined at {seen[rule.id].where})")
        seen[rule.id] = rule
