"""Scenario issues: one problem in a file, with file:line:col, the key, and a suggestion.

Pydantic's errors are translated here: the error's location is walked through the data to find the
key's line (union tags in the location are skipped), unknown keys get a near-miss suggestion from
the keys the JSON Schema allows at that place, and messages name what was got.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import ScenarioError
from harness.models.scenario import Scenario, TurnKind, scenario_json_schema
from harness.models.selector import Step, selector_text
from harness.scenarios._yaml import Document, Location

__all__ = [
    "ScenarioIssue",
    "ScenarioLoadError",
    "allowed_keys",
    "format_issues",
    "is_dir",
    "is_file",
    "issue_at",
    "issues_from_validation",
    "list_folder",
    "suggest",
]


@dataclass(frozen=True)
class ScenarioIssue:
    """One problem found while loading scenarios.

    Attributes:
        file: the file the problem is in (a scenario, a `_defaults.yaml`, or a workflow file).
        line: 1-based line, or None when unknown.
        column: 1-based column, or None when unknown.
        key: the key path, e.g. `turns[1].expect.says`, or None for file-level problems.
        message: what is wrong.
        hint: how to fix it (e.g. "did you mean `expect`?"), or None.
    """

    file: str
    line: int | None
    column: int | None
    key: str | None
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        key = f" `{self.key}`:" if self.key else ""
        hint = f"\n  hint: {self.hint}" if self.hint else ""
        return f"{where}:{key} {self.message}{hint}"

    def sort_key(self) -> tuple[str, int, int, str]:
        """Order by file, then position."""
        return (self.file, self.line or 0, self.column or 0, self.message)


class ScenarioLoadError(ScenarioError):
    """Scenarios could not be loaded; `issues` lists every problem found."""

    def __init__(self, issues: list[ScenarioIssue]) -> None:
        self.issues = issues
        super().__init__(
            format_issues(issues), hint="fix the problems above; `harness validate PATHS` re-checks"
        )


def format_issues(issues: Iterable[ScenarioIssue]) -> str:
    """Every issue on its own line(s), sorted by file and position, then a count."""
    ordered = sorted(set(issues), key=ScenarioIssue.sort_key)
    if not ordered:
        return "no problems found"
    files = len({i.file for i in ordered})
    lines = [str(i) for i in ordered]
    lines.append(f"{len(ordered)} problem(s) in {files} file(s)")
    return "\n".join(lines)


def issue_at(
    location: Location, path: tuple[Step, ...], message: str, hint: str | None = None
) -> ScenarioIssue:
    """An issue at `location` about the key `path`."""
    key = selector_text(path) or None
    return ScenarioIssue(location.file, location.line, location.column, key, message, hint)


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest of `choices` to `word` as a hint, or None when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


# ------------------------------------------------------------------ allowed keys


@functools.cache
def _schema() -> dict[str, Any]:
    return scenario_json_schema()


@functools.cache
def _top_level_keys() -> frozenset[str]:
    """The top-level keys of a scenario file: `Scenario`'s fields by the name a file uses (as in
    its JSON Schema, which a test checks)."""
    return frozenset(
        field.validation_alias if isinstance(field.validation_alias, str) else (field.alias or name)
        for name, field in Scenario.model_fields.items()
    )


def _resolve(node: dict[str, Any]) -> list[dict[str, Any]]:
    """A schema node's alternatives, with $refs and anyOf/oneOf/allOf flattened."""
    ref = node.get("$ref")
    if isinstance(ref, str):
        return _resolve(_schema()["$defs"][ref.rsplit("/", 1)[1]])
    out = [node]
    for combinator in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(combinator, []):
            out.extend(_resolve(sub))
    return out


def allowed_keys(path: tuple[Step, ...]) -> set[str]:
    """Keys a scenario may have at `path` (a data path), by the JSON Schema; empty if open."""
    if not path:  # every defaults file asks: its fields, without the whole schema (~40 ms)
        return set(_top_level_keys())
    nodes = _resolve(_schema())
    for step in path:
        following: list[dict[str, Any]] = []
        for node in nodes:
            if isinstance(step, int) and isinstance(node.get("items"), dict):
                following.extend(_resolve(node["items"]))
            elif isinstance(step, str):
                properties = node.get("properties", {})
                extra = node.get("additionalProperties")
                if step in properties:
                    following.extend(_resolve(properties[step]))
                elif isinstance(extra, dict):
                    following.extend(_resolve(extra))
        nodes = following
    return {key for node in nodes for key in node.get("properties", {})}


# ------------------------------------------------------------------ pydantic errors


def _data_path(data: Any, loc: tuple[int | str, ...]) -> tuple[Step, ...]:
    """The part of `loc` that exists in `data`.

    Pydantic only descends into values that exist, so a step in the middle of `loc` that is not in
    the data is a union tag (`function-before[...]`, `list[str]`, `[key]`) and is skipped; only
    the last step can be a real absent key (a missing field).
    """
    path: list[Step] = []
    current = data
    for index, step in enumerate(loc):
        found, child = _child(current, step)
        if found:
            path.append(step)
            current = child
        elif index == len(loc) - 1:
            break
    return tuple(path)


def _child(value: Any, step: Step) -> tuple[bool, Any]:
    if isinstance(value, dict) and step in value:
        return True, value[step]
    if isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
        return True, value[step]
    return False, None


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def issues_from_validation(error: ValidationError, document: Document) -> list[ScenarioIssue]:
    """One issue per pydantic error, located in `document` (data merged from several files)."""
    issues = []
    for detail in error.errors(include_url=False):
        issues.append(_one_issue(detail, document))
    return issues


def _one_issue(detail: Any, document: Document) -> ScenarioIssue:
    loc: tuple[int | str, ...] = tuple(detail["loc"])
    path = _data_path(document.data, loc)
    kind = detail["type"]
    message = str(detail["msg"]).removeprefix("Value error, ")
    message = re.sub(r"a valid dictionary or instance of \w+", "a mapping", message)
    hint = None
    if kind == "extra_forbidden":
        key = path[-1]
        allowed = allowed_keys(path[:-1])
        message = f"unknown key `{key}`"
        hint = suggest(str(key), allowed) or f"allowed keys: {', '.join(sorted(allowed))}"
    elif kind == "missing":
        message = f"missing required key `{loc[-1]}`"
    elif message.startswith("a turn needs exactly one of"):
        return _turn_issue(message, path, document)
    elif not kind.startswith(("value_error", "assertion_error")):
        message = f"{message}; got {_short(detail.get('input'))}"
        if kind in ("enum", "literal_error"):
            choices = re.findall(r"'([^']*)'", str(detail.get("ctx", {}).get("expected", "")))
            hint = suggest(str(detail.get("input")), choices)
    return issue_at(document.locate(path), path, message, hint)


def _turn_issue(message: str, path: tuple[Step, ...], document: Document) -> ScenarioIssue:
    """A turn without an action key: point at the key that looks like a misspelt action."""
    turn = document.data
    for step in path:
        turn = turn[step]
    actions = [k.value for k in TurnKind]
    for key in turn if isinstance(turn, dict) else []:
        hint = suggest(str(key), actions) if key not in allowed_keys(path) else None
        if hint:
            key_path = (*path, key)
            return issue_at(document.locate(key_path), key_path, f"unknown key `{key}`", hint)
    return issue_at(document.locate(path), path, message)


def is_file(path: str | Path) -> bool:
    """`Path.is_file`, False instead of OSError (a 300-character name is ENAMETOOLONG)."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return False


def is_dir(path: str | Path) -> bool:
    """`Path.is_dir`, False instead of OSError."""
    try:
        return Path(path).is_dir()
    except (OSError, ValueError):
        return False


def list_folder(folder: str | Path) -> list[str]:
    """The names in `folder` (for "did you mean" hints), empty when it cannot be listed."""
    try:
        return os.listdir(folder) if is_dir(folder) else []
    except (OSError, ValueError):
        return []
