"""Condition expressions: parse once, evaluate against the run's variables, never `eval`.

```python
evaluate_expression("isNonEmpty([[slot]]) AND {{age}} >= 18", dynamic, runtime)
evaluate_expression("[[assessment.urgency_level | upcase ]] == 'EMERGENCY'", dynamic, runtime)
```

The language and its rules (precedence NOT > comparison > AND > OR, how mismatched types and
unset variables compare, truthiness) are documented in docs/engine-expressions.md. Evaluation never
raises: only parsing does, with `ExpressionError` naming the column.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.engine._expression_syntax import (
    FUNCTIONS,
    BoolOp,
    Call,
    Compare,
    Constant,
    ExpressionError,
    Node,
    Not,
    Reference,
    Template,
    parse,
)
from harness.engine._references import FilterCall, VariableArgument
from harness.engine.variables import ABSENT, apply_filters, lookup, substitute

__all__ = [
    "FUNCTIONS",
    "BoolOp",
    "Call",
    "Compare",
    "Constant",
    "Expression",
    "ExpressionError",
    "Node",
    "Not",
    "Reference",
    "Template",
    "evaluate_expression",
    "is_truthy",
    "parse_expression",
    "values_equal",
]


@dataclass(frozen=True)
class Expression:
    """A parsed condition expression.

    Attributes:
        text: the source text.
        root: the AST: `Constant`, `Template`, `Reference`, `Not`, `BoolOp`, `Compare`, `Call`.
    """

    text: str
    root: Node

    def evaluate(self, dynamic: Mapping[str, Any], runtime: Mapping[str, Any]) -> bool:
        """Whether the expression holds for these variables (never raises)."""
        return is_truthy(_Evaluator(dynamic, runtime).value(self.root))

    def references(self) -> list[tuple[str, str]]:
        """Every variable the expression reads, as (scope, name), scope in dynamic/runtime/bare."""
        found: list[tuple[str, str]] = []
        _collect(self.root, found)
        return found


def _collect(node: Node, found: list[tuple[str, str]]) -> None:
    if isinstance(node, Reference):
        found.append((node.scope, node.name))
        found.extend((node.scope, path) for path in _argument_paths(node.filters))
    elif isinstance(node, Not):
        _collect(node.operand, found)
    elif isinstance(node, BoolOp):
        for operand in node.operands:
            _collect(operand, found)
    elif isinstance(node, Compare):
        _collect(node.left, found)
        _collect(node.right, found)
    elif isinstance(node, Call):
        _collect(node.argument, found)


def _argument_paths(filters: tuple[FilterCall, ...]) -> list[str]:
    arguments = [a for call in filters for a in (*call.arguments, *(v for _, v in call.keywords))]
    return [a.path.text for a in arguments if isinstance(a, VariableArgument)]


@functools.lru_cache(maxsize=1024)
def parse_expression(text: str) -> Expression:
    """Parse a condition expression (cached: the result is immutable).

    Raises:
        ExpressionError: the message names the column and shows a caret under it.
    """
    return Expression(text, parse(text))


def evaluate_expression(text: str, dynamic: Mapping[str, Any], runtime: Mapping[str, Any]) -> bool:
    """Parse and evaluate `text`: True when the condition holds.

    Args:
        text: the expression, e.g. `[[intent]] == 'book' AND isPresent({{patient_id}})`.
        dynamic: values of `{{name}}`.
        runtime: values of `[[name]]`; bare names look here first, then in `dynamic`.

    Raises:
        ExpressionError: the expression is malformed (evaluation itself never raises).
    """
    return parse_expression(text).evaluate(dynamic, runtime)


def is_truthy(value: Any) -> bool:
    """Truthiness of a value: unset, null, false, 0, '' (blank), [] and {} are false."""
    if value is ABSENT or value is None:
        return False
    if isinstance(value, str):
        return value.strip() != ""
    if isinstance(value, bool | int | float | list | dict):
        return bool(value)
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_number(text: str) -> float | None:
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _coerce(left: Any, right: Any) -> tuple[Any, Any]:
    """Align a string with a number or a boolean, as textual substitution would have."""
    if _is_number(left) and isinstance(right, str):
        number = _as_number(right)
        return (left, right) if number is None else (left, number)
    if isinstance(left, str) and _is_number(right):
        number = _as_number(left)
        return (left, right) if number is None else (number, right)
    if (
        isinstance(left, bool)
        and isinstance(right, str)
        and right.strip().lower() in ("true", "false")
    ):
        return left, right.strip().lower() == "true"
    if (
        isinstance(left, str)
        and isinstance(right, bool)
        and left.strip().lower() in ("true", "false")
    ):
        return left.strip().lower() == "true", right
    return left, right


def values_equal(left: Any, right: Any) -> bool:
    """`==` of the language: unset equals nothing; booleans are not numbers; see the docs."""
    if left is ABSENT or right is ABSENT:
        return False
    left, right = _coerce(left, right)
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if type(left) is not type(right) and not (isinstance(left, str) and isinstance(right, str)):
        return False
    return bool(left == right)


def _ordered(left: Any, right: Any, holds: Callable[[Any, Any], bool]) -> bool:
    if left is ABSENT or right is ABSENT:
        return False
    left, right = _coerce(left, right)
    if (_is_number(left) and _is_number(right)) or (
        isinstance(left, str) and isinstance(right, str)
    ):
        return holds(left, right)
    return False


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}


def _is_present(value: Any) -> bool:
    return value is not ABSENT and value is not None


def _is_empty(value: Any) -> bool:
    if not _is_present(value):
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, list | dict):
        return len(value) == 0
    return False


_FUNCTIONS: dict[str, Callable[[Any], bool]] = {
    "isPresent": _is_present,
    "isAbsent": lambda value: not _is_present(value),
    "isEmpty": _is_empty,
    "isNonEmpty": lambda value: not _is_empty(value),
}


class _Evaluator:
    def __init__(self, dynamic: Mapping[str, Any], runtime: Mapping[str, Any]) -> None:
        self.dynamic = dynamic
        self.runtime = runtime

    def value(self, node: Node) -> Any:
        match node:
            case Constant(value=value):
                return value
            case Template(text=text):
                return substitute(text, self.dynamic, self.runtime)
            case Reference():
                return self.reference(node)
            case Not(operand=operand):
                return not is_truthy(self.value(operand))
            case BoolOp(op="AND", operands=operands):
                return all(is_truthy(self.value(o)) for o in operands)
            case BoolOp(operands=operands):
                return any(is_truthy(self.value(o)) for o in operands)
            case Compare():
                return self.compare(node)
            case Call(function=function, argument=argument):
                return _FUNCTIONS[function](self.value(argument))
        raise AssertionError(f"unknown expression node {node!r}")  # pragma: no cover

    def reference(self, node: Reference) -> Any:
        if node.scope == "bare":
            found = lookup(node.name, self.runtime)
            return found if found is not ABSENT else lookup(node.name, self.dynamic)
        variables = self.dynamic if node.scope == "dynamic" else self.runtime
        return apply_filters(node.filters, lookup(node.name, variables), variables)

    def compare(self, node: Compare) -> bool:
        left, right = self.value(node.left), self.value(node.right)
        if node.op == "==":
            return values_equal(left, right)
        if node.op == "!=":
            return not values_equal(left, right)
        return _ordered(left, right, _ORDERINGS[node.op])
