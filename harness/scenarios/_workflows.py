"""Workflow files: tolerant loading (what runs) and the strict check `harness validate` makes.

Loading keeps the platform's tolerance: keys the models do not declare pass through
(`extra="allow"`), so a config exported from the platform runs as it is. The check is stricter, for
files users author: every key the platform's models do not declare is reported with file:line:col
and the nearest declared name (the platform drops unknown keys on import, so a misspelt key is a
setting silently lost), an object that needs a `type` and has none is reported, then type errors,
then the engine's graph rules (a node type the engine does not run is reported there, by name, as
not runnable: it is a valid platform config, not a parse error).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.models.api import WorkflowConfigFullyHydrated
from harness.models.selector import Step
from harness.scenarios._declared import Declared, declared_at
from harness.scenarios._issues import (
    ScenarioIssue,
    is_dir,
    is_file,
    issue_at,
    issues_from_validation,
    suggest,
)
from harness.scenarios._yaml import (
    MAX_DEPTH,
    MAX_NUMBER_LENGTH,
    Document,
    Location,
    YamlProblem,
    parse_yaml,
)

__all__ = [
    "WORKFLOWS_FOLDER",
    "WORKFLOW_SUFFIXES",
    "check_workflow_file",
    "find_workflow_files",
    "is_workflow_file",
    "read_workflow",
]

WORKFLOWS_FOLDER = "workflows"
"""The folder name that holds workflow files (never searched for scenarios)."""
WORKFLOW_SUFFIXES = (".json", ".yaml", ".yml")
"""Workflow file suffixes; a `.json` file is always a workflow (scenarios are YAML)."""
_LISTED_KEYS = 12


def is_workflow_file(path: Path) -> bool:
    """A JSON file, or a YAML file in a `workflows/` folder."""
    return path.suffix == ".json" or (
        path.suffix in WORKFLOW_SUFFIXES and path.parent.name == WORKFLOWS_FOLDER
    )


def find_workflow_files(paths: Sequence[str | Path]) -> list[Path]:
    """Workflow files named by `paths`: workflow files given as such, and every workflow file in
    a `workflows/` folder under a folder given (hidden folders skipped); sorted, no duplicates."""
    found: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw)
        candidates = [path] if is_file(path) else list(_walk_workflows(path))
        for file in candidates:
            if is_workflow_file(file):
                found.setdefault(os.path.abspath(file), file)
    return sorted(found.values())


def _walk_workflows(folder: Path) -> Iterator[Path]:
    if not is_dir(folder):
        return
    for current, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if Path(current).name == WORKFLOWS_FOLDER:
            yield from (Path(current) / n for n in sorted(names) if n.endswith(WORKFLOW_SUFFIXES))


# ------------------------------------------------------------------ reading


@dataclass(frozen=True)
class _Parsed:
    name: str
    text: str
    data: Any

    def document(self) -> Document:
        """The data with the file:line:col of every key (JSON is YAML: one parser for both)."""
        try:
            return parse_yaml(self.text, self.name)
        except YamlProblem:
            return Document(
                file=self.name, data=self.data, locations={(): Location(self.name, 1, 1)}
            )


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd())) if path.is_absolute() else str(path)
    except ValueError:
        return str(path)


def _parse(path: Path) -> tuple[_Parsed | None, list[ScenarioIssue]]:
    name = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        message = f"cannot read the workflow file: {exc}"
        return None, [ScenarioIssue(name, None, None, None, message)]
    try:
        data = _load_json(text) if path.suffix == ".json" else parse_yaml(text, name).data
    except json.JSONDecodeError as exc:
        return None, [ScenarioIssue(name, exc.lineno, exc.colno, None, f"invalid JSON: {exc.msg}")]
    except YamlProblem as exc:
        return None, [issue_at(exc.location, (), exc.message)]
    except (ValueError, RecursionError) as exc:  # too deep, a number too long
        return None, [ScenarioIssue(name, 1, 1, None, f"invalid JSON: {exc}")]
    return _Parsed(name, text, data), []


def _load_json(text: str) -> Any:
    """JSON with the YAML loader's limits: numbers and nesting (docs/reliability.md)."""
    data = json.loads(text, parse_int=_json_int, parse_float=_json_float)
    if _depth(data) > MAX_DEPTH:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep; flatten the data")
    return data


def _json_int(text: str) -> int:
    if len(text) > MAX_NUMBER_LENGTH:
        raise ValueError(_too_long(text))
    return int(text)


def _json_float(text: str) -> float:
    if len(text) > MAX_NUMBER_LENGTH:
        raise ValueError(_too_long(text))
    return float(text)


def _too_long(text: str) -> str:
    return f"a number of {len(text):,} characters is longer than the limit of {MAX_NUMBER_LENGTH}"


def _depth(value: Any) -> int:
    """How deeply `value` nests, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


def read_workflow(path: Path) -> tuple[WorkflowConfigFullyHydrated | None, list[ScenarioIssue]]:
    """The workflow config of a file, as tolerant as the platform (unknown keys kept)."""
    parsed, issues = _parse(path)
    if parsed is None:
        return None, issues
    return _validate(parsed)


def _validate(parsed: _Parsed) -> tuple[WorkflowConfigFullyHydrated | None, list[ScenarioIssue]]:
    try:
        return WorkflowConfigFullyHydrated.model_validate(parsed.data), []
    except ValidationError as exc:
        issues = issues_from_validation(exc, parsed.document())
        return None, [_as_workflow_issue(i) for i in issues]


def _as_workflow_issue(issue: ScenarioIssue) -> ScenarioIssue:
    message = issue.message
    if not message.startswith("not a workflow"):
        message = f"not a workflow config: {message}"
    return ScenarioIssue(issue.file, issue.line, issue.column, issue.key, message, issue.hint)


# ------------------------------------------------------------------ the strict check


def check_workflow_file(path: Path) -> list[ScenarioIssue]:
    """Every problem of a workflow file: parsing, undeclared keys, types, then the graph rules."""
    parsed, issues = _parse(path)
    if parsed is None:
        return issues
    if not isinstance(parsed.data, dict):
        got = "an empty file" if parsed.data is None else f"a {type(parsed.data).__name__}"
        message = f"a workflow file must be a mapping (a hydrated workflow config), got {got}"
        hint = "export one with `harness pull WORKFLOW_ID` (see docs/workflows.md)"
        return [ScenarioIssue(parsed.name, 1, 1, None, message, hint)]
    document = parsed.document()
    issues = _undeclared_key_issues(parsed.data, document)
    config, problems = _validate(parsed)
    issues.extend(problems)
    if config is not None:
        issues.extend(_graph_issues(parsed.name, config))
    return issues


def _graph_issues(name: str, config: WorkflowConfigFullyHydrated) -> list[ScenarioIssue]:
    from harness.engine.graph import validate_graph  # only `validate` pays for the engine import

    hint = "fix the node and edge configs of the workflow file"
    return [ScenarioIssue(name, None, None, None, p, hint) for p in validate_graph(config)]


def _objects(value: Any, path: tuple[Step, ...] = ()) -> Iterator[tuple[tuple[Step, ...], Any]]:
    """Every mapping in `value` with its path, parents first."""
    if isinstance(value, dict):
        yield path, value
        for key, child in value.items():
            yield from _objects(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _objects(child, (*path, index))


def _undeclared_key_issues(data: dict[str, Any], document: Document) -> list[ScenarioIssue]:
    issues: list[ScenarioIssue] = []
    for path, mapping in _objects(data):
        declared = declared_at(WorkflowConfigFullyHydrated, data, path)
        if declared is None:
            continue
        if declared.missing_type:
            issues.append(_missing_type_issue(document, path, declared))
            continue
        for key in mapping:
            if str(key) not in declared.keys:
                issues.append(_unknown_key_issue(document, (*path, key), declared))
    return issues


def _unknown_key_issue(
    document: Document, path: tuple[Step, ...], declared: Declared
) -> ScenarioIssue:
    key = str(path[-1])
    message = (
        f"unknown key `{key}`: the platform's {declared.model} has no such field "
        "(the platform drops unknown keys on import)"
    )
    return issue_at(document.locate(path), path, message, _keys_hint(key, declared))


def _keys_hint(key: str, declared: Declared) -> str:
    close = suggest(key, declared.keys)
    if close:
        return close
    if len(declared.keys) <= _LISTED_KEYS:
        return f"declared keys: {', '.join(sorted(declared.keys))}"
    return f"see the declared keys with `harness schema {declared.model}`"


def _missing_type_issue(
    document: Document, path: tuple[Step, ...], declared: Declared
) -> ScenarioIssue:
    message = "missing key `type`: the platform's models need it to tell what this object is"
    hint = f"add `type`: one of {_listing(declared.missing_type)}"
    return issue_at(document.locate(path), path, message, hint)


def _listing(values: Iterable[Any]) -> str:
    return ", ".join(f"`{v}`" for v in sorted({str(v) for v in values}))
