"""Checks on data in the run: outputs by deepdiff, JSON Schema, selected values, evaluation."""

from __future__ import annotations

import functools
import json
from typing import Any

from harness._imports import DEEPDIFF_EXTRAS, without_modules
from harness.checks.matching import describe_match, outcome, short, value_problems
from harness.checks.view import RunView
from harness.models.expect import OutputExpect, SchemaCheck, ValueCheck, ValueMatch
from harness.models.result import CheckOutcome
from harness.models.selector import SelectorMiss, parse_selector, select

__all__ = ["check_evaluation", "check_json_schema", "check_output", "check_values", "deepdiff_path"]


def deepdiff_path(path: str) -> str:
    """A deepdiff path from a selector (`a.b[0]` -> `root['a']['b'][0]`); `root...` is kept."""
    if path.startswith("root"):
        return path
    return "root" + "".join(
        f"[{s}]" if isinstance(s, int) else f"[{s!r}]" for s in parse_selector(path)
    )


def _selected(view: RunView, path: str) -> tuple[bool, Any, str]:
    """(found, value, where-text) for a selector."""
    try:
        return True, view.select(path), ""
    except SelectorMiss as miss:
        return False, None, f"nothing ({miss.reason} at `{miss.where or '(root)'}`)"


def check_output(
    expected: OutputExpect, view: RunView, key: str | None = None
) -> list[CheckOutcome]:
    """The selected value equals `expected.equals` by deepdiff (ignores, order, tolerance)."""
    subject = f"output `{expected.select}`"
    want = short(expected.equals)
    found, value, missing = _selected(view, expected.select)
    if not found:
        return [outcome(False, "output", key, subject, want, missing, expected=expected.equals)]
    diff = None if _identical(expected.equals, value) else _deepdiff(expected, value)
    if not diff:
        return [
            outcome(
                True,
                "output",
                key,
                subject,
                want,
                short(value),
                expected=expected.equals,
                actual=value,
            )
        ]
    changes = diff.pretty().splitlines()
    detail = "; ".join(changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5 else "")
    got = f"{short(value)}: {detail}"
    return [
        outcome(False, "output", key, subject, want, got, expected=expected.equals, actual=value)
    ]


def _identical(expected: Any, value: Any) -> bool:
    """Equal values and types all the way down (`1` is not `1.0` nor `True` here): no ignore,
    order or tolerance option can make such a pair differ, so deepdiff need not run. Its import
    (numpy and pandas with it) costs about 0.4 s of a `harness run`."""
    try:
        dump = functools.partial(json.dumps, sort_keys=True, allow_nan=False)
        return bool(dump(expected) == dump(value))
    except (TypeError, ValueError):  # not JSON data, or NaN (never equal to itself): deepdiff
        return False


def _deepdiff(expected: OutputExpect, value: Any) -> Any:
    with without_modules(*DEEPDIFF_EXTRAS):
        from deepdiff import DeepDiff  # heavy import, only when the values differ

    return DeepDiff(
        expected.equals,
        value,
        exclude_paths=[deepdiff_path(p) for p in expected.ignore] or None,
        ignore_order=expected.ignore_order,
        math_epsilon=expected.tolerance,
        ignore_numeric_type_changes=True,
    )


def check_json_schema(
    checks: list[SchemaCheck], view: RunView, key: str | None = None
) -> list[CheckOutcome]:
    """Each selected value is valid against its JSON Schema."""
    from jsonschema.validators import validator_for

    results = []
    for index, check in enumerate(checks):
        where = f"{key}[{index}]" if key else None
        subject = f"`{check.select}`"
        found, value, missing = _selected(view, check.select)
        if not found:
            results.append(
                outcome(
                    False,
                    "json_schema",
                    where,
                    subject,
                    "a value valid against the schema",
                    missing,
                )
            )
            continue
        validator = validator_for(check.schema_)(check.schema_)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
        problems = [f"at {e.json_path}: {e.message}" for e in errors[:3]]
        more = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
        got = (
            f"{short(value, 80)}, invalid " + "; ".join(problems) + more if errors else short(value)
        )
        results.append(
            outcome(
                not errors,
                "json_schema",
                where,
                subject,
                "valid against the schema",
                got,
                expected=check.schema_,
                actual=value,
            )
        )
    return results


def check_values(
    checks: list[ValueCheck], view: RunView, key: str | None = None
) -> list[CheckOutcome]:
    """Each value at a selector meets its constraints."""
    results = []
    for index, check in enumerate(checks):
        where = f"{key}[{index}]" if key else None
        found, value, missing = _selected(view, check.select)
        results.append(
            _match_outcome("values", where, f"`{check.select}`", check, found, value, missing)
        )
    return results


def check_evaluation(
    expected: dict[str, ValueMatch], evaluation: dict[str, Any] | None, key: str | None = None
) -> list[CheckOutcome]:
    """Each evaluation field (a selector into the verdict) meets its constraints."""
    if evaluation is None:
        wanted = ", ".join(expected)
        return [
            outcome(
                False, "evaluation", key, "evaluation", f"a verdict with {wanted}", "no evaluation"
            )
        ]
    results = []
    for field, match in expected.items():
        try:
            found, value, missing = True, select(evaluation, field), ""
        except SelectorMiss as miss:
            found, value = False, None
            missing = f"nothing ({miss.reason})"
        where = f"{key}.{field}" if key else None
        results.append(
            _match_outcome(
                "evaluation", where, f"evaluation `{field}`", match, found, value, missing
            )
        )
    return results


def _match_outcome(
    check: str,
    key: str | None,
    subject: str,
    match: ValueMatch,
    found: bool,
    value: Any,
    missing: str,
) -> CheckOutcome:
    problems = value_problems(match, value, exists=found)
    got = short(value) if found else missing
    expected = match.model_dump(exclude_unset=True, exclude={"select"})
    return outcome(
        not problems,
        check,
        key,
        subject,
        describe_match(match),
        got,
        expected=expected,
        actual=value,
    )
