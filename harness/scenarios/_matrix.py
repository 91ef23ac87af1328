"""Matrix parametrisation: one scenario per combination of variable values.

`matrix: {lang: [en, es], patient: [Ana, Bo]}` makes the 4 combinations (a mapping of lists is a
cartesian product; a list of mappings gives the combinations explicitly). Each combination's values
become dynamic variables of that scenario and replace `${name}` in every string of it (a string that
is exactly `${name}` takes the value with its type; `$${` writes a literal `${`). Ids get a suffix
naming the combination: `clinic/book[lang=en,patient=Ana]`.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any

from harness.models.selector import Step
from harness.scenarios._issues import ScenarioIssue, issue_at, suggest
from harness.scenarios._yaml import Document

__all__ = ["MAX_COMBINATIONS", "MAX_EXPANDED_VALUES", "Combination", "expand_matrix", "matrix_id"]

MAX_COMBINATIONS = 5_000
"""More combinations than this is almost certainly a mistake (checked before they are built)."""
MAX_EXPANDED_VALUES = 2_000_000
"""Most values all the combinations of one file may build together (combinations x values)."""

Combination = dict[str, Any]

_PLACEHOLDER = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def expand_matrix(
    document: Document,
) -> tuple[list[tuple[Combination, Document]], list[ScenarioIssue]]:
    """The documents of every combination (just `document` when it has no matrix)."""
    data = document.data
    if not isinstance(data, dict) or data.get("matrix") is None:
        return [({}, document)], []
    combinations, issues = _combinations(document, data["matrix"])
    if issues:
        return [], issues
    names = set(combinations[0]) if combinations else set()
    base = {k: v for k, v in data.items() if k != "matrix"}
    # The matrix's own keys are not copied into each combination (a 2,000-value matrix would
    # otherwise copy 2,000 locations 2,000 times).
    located = {k: v for k, v in document.locations.items() if k[:1] != ("matrix",)}
    total = len(combinations) * (_size(base) + len(located))
    if total > MAX_EXPANDED_VALUES:  # each combination copies the whole scenario
        where = ("matrix",)
        message = (
            f"{len(combinations):,} combinations of this scenario would build {total:,} values, "
            f"more than the limit of {MAX_EXPANDED_VALUES:,}"
        )
        hint = "use fewer combinations or a smaller scenario"
        return [], [issue_at(document.locate(where), where, message, hint)]
    expanded: list[tuple[Combination, Document]] = []
    for combination in combinations:
        substituted, problems = _substitute(base, combination, names, (), document)
        if problems:
            return [], problems
        expanded.append((combination, _with_variables(document, located, substituted, combination)))
    return expanded, []


def _combinations(document: Document, matrix: Any) -> tuple[list[Combination], list[ScenarioIssue]]:
    where = ("matrix",)
    if isinstance(matrix, dict):
        for key, values in matrix.items():
            if not isinstance(key, str) or not _NAME.match(key):
                return [], [
                    issue_at(
                        document.locate((*where, key)),
                        (*where, key),
                        "a matrix variable must be a name (letters, digits, _)",
                    )
                ]
            if not isinstance(values, list) or not values:
                return [], [
                    issue_at(
                        document.locate((*where, key)),
                        (*where, key),
                        "give a non-empty list of values",
                    )
                ]
        size = math.prod(len(values) for values in matrix.values())
        if size > MAX_COMBINATIONS:  # checked before the product is built: 12 lists of 10 is 10^12
            return [], [_too_many(document, size)]
        combos = [
            dict(zip(matrix, values, strict=True)) for values in itertools.product(*matrix.values())
        ]
    elif isinstance(matrix, list) and matrix:
        for index, item in enumerate(matrix):
            if not isinstance(item, dict) or not item:
                return [], [
                    issue_at(
                        document.locate((*where, index)),
                        (*where, index),
                        "each combination must be a mapping of variable -> value",
                    )
                ]
        if any(set(item) != set(matrix[0]) for item in matrix):
            return [], [
                issue_at(
                    document.locate(where), where, "every combination must set the same variables"
                )
            ]
        combos = [dict(item) for item in matrix]
    else:
        return [], [
            issue_at(
                document.locate(where),
                where,
                "`matrix` must map variables to lists of values, or list combinations",
            )
        ]
    if len(combos) > MAX_COMBINATIONS:
        return [], [_too_many(document, len(combos))]
    return combos, []


def _too_many(document: Document, size: int) -> ScenarioIssue:
    where = ("matrix",)
    message = f"{size:,} combinations is more than the limit of {MAX_COMBINATIONS:,}"
    hint = "list the combinations you need (`matrix: [{a: 1, b: 2}, ...]`) or split the file"
    return issue_at(document.locate(where), where, message, hint)


def _size(value: Any) -> int:
    """How many values `value` holds (itself included), without recursion."""
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _substitute(
    value: Any,
    combination: Combination,
    names: set[str],
    path: tuple[Step, ...],
    document: Document,
) -> tuple[Any, list[ScenarioIssue]]:
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            out[key], problems = _substitute(item, combination, names, (*path, key), document)
            if problems:
                return None, problems
        return out, []
    if isinstance(value, list):
        items = []
        for index, item in enumerate(value):
            new, problems = _substitute(item, combination, names, (*path, index), document)
            if problems:
                return None, problems
            items.append(new)
        return items, []
    if isinstance(value, str) and "${" in value:
        return _substitute_text(value, combination, names, path, document)
    return value, []


def _substitute_text(
    text: str, combination: Combination, names: set[str], path: tuple[Step, ...], document: Document
) -> tuple[Any, list[ScenarioIssue]]:
    unknown = [
        m.group(1)
        for m in _PLACEHOLDER.finditer(text)
        if m.group(1) is not None and m.group(1) not in names
    ]
    if unknown:
        hint = suggest(unknown[0], names) or f"matrix variables: {', '.join(sorted(names))}"
        return None, [
            issue_at(
                document.locate(path), path, f"unknown matrix variable `${{{unknown[0]}}}`", hint
            )
        ]
    whole = _PLACEHOLDER.fullmatch(text)
    if whole is not None and whole.group(1) is not None:
        return combination[whole.group(1)], []

    def replace(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return "${"
        value = combination[match.group(1)]
        return value if isinstance(value, str) else json.dumps(value)

    return _PLACEHOLDER.sub(replace, text), []


def _with_variables(
    document: Document,
    located: dict[tuple[Step, ...], Any],
    data: dict[str, Any],
    combination: Combination,
) -> Document:
    """The combination's document: its values added to `dynamic_variables`."""
    locations = dict(located)
    variables = data.get("dynamic_variables")
    if variables is None or isinstance(variables, dict):
        data["dynamic_variables"] = {**(variables or {}), **combination}
        for key in combination:
            locations[("dynamic_variables", key)] = document.locate(("matrix", key))
    return Document(file=document.file, data=data, locations=locations)


def matrix_id(base: str, combination: Combination) -> str:
    """`base[k=v,...]`, values made safe for ids (letters, digits, `_.-`; at most 40 chars)."""
    if not combination:
        return base
    parts = []
    for key, value in combination.items():
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        parts.append(f"{key}={re.sub(r'[^A-Za-z0-9_.-]+', '_', text)[:40]}")
    return f"{base}[{','.join(parts)}]"
