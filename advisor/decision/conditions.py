"""The rulebook's condition language, evaluated by this module (never ``eval``).

A condition is one of::

    {all: [cond, ...]}          every one holds
    {any: [cond, ...]}          at least one holds
    {not: cond}                 negation
    {field: NAME, OP: VALUE}    a comparison; exactly one OP

OP is one of ``eq ne lt lte gt gte in not_in exists``. The value of ``eq ne lt lte gt gte``
may be another field, ``{field: labeled_examples}``, to compare two facts. NAME is an answer field
(``labeled_examples``) or a probe fact (``few_shot.best_accuracy``). Ordinal answers
(``domain_specificity``, ``determinism`` ...) compare by their order, so
``{field: domain_specificity, gte: specialized}`` means "specialized or more".

Logic is three-valued: a comparison on a probe fact that was not measured is *unknown*,
``not unknown`` is unknown, and a rule fires only when its condition is *true*. So a rule about
evidence never fires for lack of evidence, whichever way it is phrased.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "exists")


class ConditionError(ValueError):
    """A malformed condition; ``line`` is the YAML line when known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Compare:
    field: str
    op: str
    operand: Any
    line: int | None = None


@dataclass(frozen=True)
class All:
    children: tuple


@dataclass(frozen=True)
class Any_:
    children: tuple


@dataclass(frozen=True)
class Not:
    child: Any


Condition = Union[All, Any_, Not, Compare]


def parse_condition(data: Any, path: str = "when") -> Condition:
    """Parse the YAML form into condition nodes, or raise :class:`ConditionError` naming the path."""
    line = data.get("__line__") if isinstance(data, dict) else None
    if not isinstance(data, dict):
        raise ConditionError(f"{path}: a condition must be a mapping such as {{field: task_type, eq: classification}}")
    keys = [k for k in data if k != "__line__"]
    for key, node in (("all", All), ("any", Any_)):
        if key in keys:
            _alone(keys, key, path, line)
            items = data[key]
            if not isinstance(items, list) or not items:
                raise ConditionError(f"{path}.{key}: must be a non-empty list of conditions", line)
            return node(tuple(parse_condition(c, f"{path}.{key}[{i}]") for i, c in enumerate(items)))
    if "not" in keys:
        _alone(keys, "not", path, line)
        return Not(parse_condition(data["not"], f"{path}.not"))
    if "field" in keys:
        return _parse_compare(data, keys, path, line)
    raise ConditionError(f"{path}: unknown condition keys {keys}; use all, any, not, or field with an operator", line)


def _alone(keys: list, key: str, path: str, line: int | None) -> None:
    if len(keys) > 1:
        raise ConditionError(f"{path}: '{key}' must stand alone in its mapping; found also {sorted(set(keys) - {key})}", line)


def _parse_compare(data: dict, keys: list, path: str, line: int | None) -> Compare:
    ops = [k for k in keys if k != "field"]
    unknown = [k for k in ops if k not in OPS]
    if unknown:
        raise ConditionError(f"{path}: unknown operator {unknown[0]!r}; use one of {', '.join(OPS)}", line)
    if len(ops) != 1:
        raise ConditionError(f"{path}: a comparison needs exactly one operator ({', '.join(OPS)}), got {len(ops)}", line)
    field, op = data["field"], ops[0]
    if not isinstance(field, str) or not field:
        raise ConditionError(f"{path}.field: must be a field name", line)
    operand = data[op]
    if op in ("in", "not_in") and not isinstance(operand, list):
        raise ConditionError(f"{path}.{op}: must be a list of values", line)
    if op == "exists" and not isinstance(operand, bool):
        raise ConditionError(f"{path}.exists: must be true or false", line)
    if isinstance(operand, dict):
        operand = _field_ref(operand, op, path, line)
    elif op not in ("in", "not_in") and isinstance(operand, list):
        raise ConditionError(f"{path}.{op}: must be a single value", line)
    return Compare(field, op, operand, line)


@dataclass(frozen=True)
class FieldRef:
    """The value of another field, as the right-hand side of a comparison."""

    field: str


def _field_ref(operand: dict, op: str, path: str, line: int | None) -> FieldRef:
    keys = [k for k in operand if k != "__line__"]
    if op in ("in", "not_in", "exists") or keys != ["field"] or not isinstance(operand["field"], str):
        raise ConditionError(f"{path}.{op}: must be a value, or {{field: NAME}} to compare with another field", line)
    return FieldRef(operand["field"])


def fields_of(cond: Condition) -> list[str]:
    """Every field a condition refers to, on either side of a comparison."""
    names = []
    for c in comparisons_of(cond):
        names.append(c.field)
        if isinstance(c.operand, FieldRef):
            names.append(c.operand.field)
    return names


def comparisons_of(cond: Condition) -> list[Compare]:
    if isinstance(cond, Compare):
        return [cond]
    children = (cond.child,) if isinstance(cond, Not) else cond.children
    return [c for child in children for c in comparisons_of(child)]


class Facts:
    """What conditions are evaluated against: answers plus probe evidence.

    ``ordinals`` maps an ordinal field to its ordered values, so ``gte`` compares ranks.
    """

    def __init__(self, values: dict[str, Any], ordinals: dict[str, list[str]]):
        self.values = values
        self.ordinals = ordinals

    def get(self, name: str) -> tuple[bool, Any]:
        return (name in self.values and self.values[name] is not None, self.values.get(name))

    def rank(self, name: str, value: Any) -> Any:
        order = self.ordinals.get(name)
        return order.index(str(value)) if order and str(value) in order else value


def evaluate(cond: Condition, facts: Facts) -> bool | None:
    """True, False, or None (unknown: a probe fact it needs was not measured)."""
    if isinstance(cond, All):
        results = [evaluate(c, facts) for c in cond.children]
        return False if False in results else (None if None in results else True)
    if isinstance(cond, Any_):
        results = [evaluate(c, facts) for c in cond.children]
        return True if True in results else (None if None in results else False)
    if isinstance(cond, Not):
        inner = evaluate(cond.child, facts)
        return None if inner is None else not inner
    return _compare(cond, facts)


def _compare(cond: Compare, facts: Facts) -> bool | None:
    present, value = facts.get(cond.field)
    if cond.op == "exists":
        return present == cond.operand
    if not present:
        return None
    operand = cond.operand
    if isinstance(operand, FieldRef):
        known, operand = facts.get(operand.field)
        if not known:
            return None
    if cond.op == "in":
        return str(value) in [str(v) for v in operand] if isinstance(value, str) else value in operand
    if cond.op == "not_in":
        return str(value) not in [str(v) for v in operand] if isinstance(value, str) else value not in operand
    if cond.op in ("eq", "ne"):
        same = str(value) == str(operand) if isinstance(value, str) else value == operand
        return same if cond.op == "eq" else not same
    left, right = facts.rank(cond.field, value), facts.rank(cond.field, operand)
    return {"lt": left < right, "lte": left <= right, "gt": left > right, "gte": left >= right}[cond.op]
