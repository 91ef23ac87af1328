"""Matching primitives shared by the checks: equality, subsets, subsequences, value constraints,
and short readable renderings of values for messages."""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from harness.checks.regexes import RegexTimeoutError, regex_search
from harness.models.expect import CountRange, ValueMatch
from harness.models.result import CheckOutcome, OutcomeStatus

__all__ = [
    "count_problem",
    "describe_count",
    "describe_match",
    "json_equal",
    "missing_in_order",
    "outcome",
    "short",
    "subkey",
    "subset_match",
    "value_problems",
]

E = TypeVar("E")
A = TypeVar("A")

_LIMIT = 160


def subkey(key: str | None, suffix: str) -> str | None:
    """`key.suffix`, or None when there is no key."""
    return f"{key}.{suffix}" if key else None


def short(value: Any, limit: int = _LIMIT) -> str:
    """A compact JSON-ish rendering of `value`, cut to `limit` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def outcome(
    passed: bool,
    check: str,
    key: str | None,
    subject: str,
    expectation: str,
    got: str,
    *,
    expected: Any = None,
    actual: Any = None,
) -> CheckOutcome:
    """An outcome whose message is `subject: expected X, got Y` (or `subject: ok (X)`)."""
    message = (
        f"{subject}: ok ({expectation})"
        if passed
        else f"{subject}: expected {expectation}, got {got}"
    )
    # built without validation: every field already has its type (a measurable cost per turn)
    return CheckOutcome.model_construct(
        check=check,
        status=OutcomeStatus.PASSED if passed else OutcomeStatus.FAILED,
        message=message,
        key=key,
        expected=_json(expected),
        got=_json(actual),
    )


_SCALARS = (int, float, bool, type(None))
_MAX_JSON = 4000


def _json(value: Any) -> Any:
    """`value` as plain JSON data (whole up to a size, then as truncated text)."""
    if isinstance(value, str):
        return value if len(value) <= _MAX_JSON else value[:_MAX_JSON] + "..."
    if isinstance(value, _SCALARS):
        return value
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):  # not JSON as it is: make it so (enums, models, ...)
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            return repr(value)[:_MAX_JSON]
        value = json.loads(text)
    return value if len(text) <= _MAX_JSON else text[:_MAX_JSON] + "..."


def json_equal(expected: Any, actual: Any) -> bool:
    """JSON equality: 1 == 1.0, but true != 1 (Python's `==` would say equal)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            json_equal(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(map(json_equal, expected, actual))
    return bool(expected == actual)


def subset_match(expected: Any, actual: Any) -> bool:
    """Mappings: every expected key present with a matching value (recursively); lists: same
    length, items matching in order; anything else: JSON equality."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and subset_match(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(map(subset_match, expected, actual))
        )
    return json_equal(expected, actual)


def missing_in_order(
    expected: Sequence[E], actual: Sequence[A], match: Callable[[E, A], bool]
) -> int | None:
    """Index of the first `expected` item not found (in order, after the previous ones), or None."""
    position = 0
    for index, item in enumerate(expected):
        while position < len(actual) and not match(item, actual[position]):
            position += 1
        if position == len(actual):
            return index
        position += 1
    return None


def describe_count(count: CountRange) -> str:
    """`2`, `>= 1`, `between 1 and 3`."""
    if count.eq is not None:
        return str(count.eq)
    if count.gte is not None and count.lte is not None:
        return f"between {count.gte} and {count.lte}"
    return f">= {count.gte}" if count.gte is not None else f"<= {count.lte}"


def count_problem(count: CountRange, value: int) -> bool:
    """Whether `value` breaks `count`."""
    return (
        (count.eq is not None and value != count.eq)
        or (count.gte is not None and value < count.gte)
        or (count.lte is not None and value > count.lte)
    )


_NUMERIC = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def describe_match(match: ValueMatch) -> str:
    """The constraints of `match` in words, e.g. `>= 0.8 and <= 1`."""
    parts = []
    given = match.model_fields_set
    for name in ("equals", "not_equals", "one_of", "contains", "not_contains"):
        if name in given:
            parts.append(f"{name.replace('_', ' ')} {short(getattr(match, name), 60)}")
    if match.eq is not None:
        parts.append(f"= {match.eq:g} (± {match.tolerance:g})")
    parts += [
        f"{sign} {getattr(match, name):g}"
        for name, sign in _NUMERIC.items()
        if getattr(match, name) is not None
    ]
    if match.regex is not None:
        parts.append(f"matching /{match.regex}/")
    if match.exists is not None:
        parts.append("present" if match.exists else "absent")
    if match.length is not None:
        parts.append(f"of length {describe_count(match.length)}")
    return " and ".join(parts)


def value_problems(match: ValueMatch, value: Any, exists: bool = True) -> list[str]:
    """The constraints of `match` that `value` breaks (empty when it satisfies all of them)."""
    if match.exists is not None and match.exists != exists:
        return ["present" if match.exists else "absent"]
    if not exists:
        return [] if match.exists is False else ["present"]
    given = match.model_fields_set
    problems = []
    checks: list[tuple[bool, str]] = [
        (
            "equals" in given and not json_equal(match.equals, value),
            f"equals {short(match.equals, 60)}",
        ),
        (
            "not_equals" in given and json_equal(match.not_equals, value),
            f"not equals {short(match.not_equals, 60)}",
        ),
        (
            match.one_of is not None and not any(json_equal(o, value) for o in match.one_of or []),
            f"one of {short(match.one_of, 60)}",
        ),
        (
            "contains" in given and not _contains(value, match.contains),
            f"contains {short(match.contains, 60)}",
        ),
        (
            "not_contains" in given and _contains(value, match.not_contains),
            f"not contains {short(match.not_contains, 60)}",
        ),
        (
            match.regex is not None
            and not (isinstance(value, str) and _search(match.regex, value)),
            f"matching /{match.regex}/",
        ),
    ]
    problems += [text for broken, text in checks if broken]
    problems += _numeric_problems(match, value)
    if match.length is not None:
        size = len(value) if isinstance(value, (str, list, dict)) else None
        if size is None or count_problem(match.length, size):
            problems.append(f"of length {describe_count(match.length)}")
    return problems


def _search(pattern: str, value: str) -> bool:
    try:
        return regex_search(pattern, value)
    except RegexTimeoutError:  # out of time: it does not match (the check fails, bounded)
        return False


def _numeric_problems(match: ValueMatch, value: Any) -> list[str]:
    bounds = [(name, getattr(match, name)) for name in _NUMERIC if getattr(match, name) is not None]
    if match.eq is None and not bounds:
        return []
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return ["a number"]
    problems = []
    if match.eq is not None and abs(value - match.eq) > match.tolerance:
        problems.append(f"= {match.eq:g} (± {match.tolerance:g})")
    for name, bound in bounds:
        if not _OPERATORS[name](value, bound):
            problems.append(f"{_NUMERIC[name]} {bound:g}")
    return problems


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list):
        return any(json_equal(item, element) for element in container)
    if isinstance(container, dict):
        return isinstance(item, str) and item in container
    return False
