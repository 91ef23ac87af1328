"""Scenario files -> `Scenario` models: discovery, `_defaults.yaml`, paths, matrix, ids.

Every problem becomes a `ScenarioIssue` with file:line:col; loading goes on past a bad file so one
call reports all of them (`validate_paths`), and `load_scenarios` raises them together.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.models.api import WorkflowConfigFullyHydrated
from harness.models.scenario import Scenario, ScenarioSource
from harness.models.selector import Step
from harness.scenarios._issues import (
    ScenarioIssue,
    ScenarioLoadError,
    allowed_keys,
    is_dir,
    is_file,
    issue_at,
    issues_from_validation,
    list_folder,
    suggest,
)
from harness.scenarios._matrix import expand_matrix, matrix_id
from harness.scenarios._quick_yaml import parse_quick
from harness.scenarios._workflows import (
    WORKFLOWS_FOLDER,
    check_workflow_file,
    find_workflow_files,
    is_workflow_file,
    read_workflow,
)
from harness.scenarios._yaml import Document, YamlProblem, parse_yaml

__all__ = [
    "DEFAULTS_FILE",
    "SCENARIO_SUFFIXES",
    "SKIPPED_DIRS",
    "ScenarioFileLoader",
    "ValidationReport",
    "derive_scenario_id",
    "discover_scenario_files",
    "load_scenario_file",
    "load_scenarios",
    "load_workflow_file",
    "validate",
    "validate_paths",
    "workflow_files_of",
]

DEFAULTS_FILE = "_defaults.yaml"
"""Merged into every scenario of its folder and the folders below."""
SCENARIO_SUFFIXES = (".scenario.yaml", ".scenario.yml", ".yaml", ".yml")
"""Files found under a folder; the suffix is dropped from the derived id."""
SKIPPED_DIRS = frozenset({WORKFLOWS_FOLDER, "cassettes", "__pycache__", "node_modules"})
"""Folders never searched for scenarios (nor are hidden ones)."""
_NOT_DEFAULTABLE = ("name", "id", "turns", "matrix")
_FILE_KEYS: tuple[tuple[Step, ...], ...] = (("workflow",), ("evaluation", "workflow"))


def discover_scenario_files(paths: Sequence[str | Path]) -> list[Path]:
    """Scenario files named by `paths` (files as given; folders searched recursively, sorted).

    Raises:
        ScenarioLoadError: a path does not exist.
    """
    files, issues = _discover(paths)
    if issues:
        raise ScenarioLoadError(issues)
    return files


def load_scenarios(
    paths: Sequence[str | Path],
    *,
    root: str | Path | None = None,
    on_file: Callable[[list[Scenario]], None] | None = None,
) -> list[Scenario]:
    """Every scenario under `paths`, matrices expanded, ids derived relative to `root` (cwd).

    `on_file` is given the scenarios of each file as soon as it is read (e.g. to start what
    they will need while the other files are read).

    Raises:
        ScenarioLoadError: with every problem of every file.
    """
    scenarios, issues = _Loader(root).load_all(paths, on_file)
    if issues:
        raise ScenarioLoadError(issues)
    return scenarios


def load_scenario_file(path: str | Path, *, root: str | Path | None = None) -> list[Scenario]:
    """The scenario(s) of one file (several when it has a matrix).

    Raises:
        ScenarioLoadError: with every problem of the file.
    """
    return load_scenarios([path], root=root)


class ScenarioFileLoader:
    """`load_scenario_file` for a caller given files one at a time (the pytest plugin's
    collection): what the files of a folder share (its `_defaults.yaml` chain, the files their
    scenarios name) is looked up once for the loader's life, as `load_scenarios` does for its
    paths, rather than once per file. A file's scenarios and problems are those
    `load_scenario_file` gives."""

    def __init__(self, root: str | Path | None = None) -> None:
        self._loader = _Loader(root)

    def load(self, path: str | Path) -> list[Scenario]:
        """The scenario(s) of one file.

        Raises:
            ScenarioLoadError: with every problem of the file.
        """
        scenarios, issues = self._loader.load_all([path])
        if issues:
            raise ScenarioLoadError(issues)
        return scenarios


def validate_paths(
    paths: Sequence[str | Path], *, root: str | Path | None = None
) -> list[ScenarioIssue]:
    """Every problem in the scenarios under `paths` and in the workflow files they use.

    An empty list means everything loads. Print them with `format_issues`.
    """
    return validate(paths, root=root).issues


@dataclass(frozen=True)
class ValidationReport:
    """What `harness validate PATHS` found.

    Attributes:
        issues: every problem, sorted by file and position; empty when everything is valid.
        scenarios: the scenarios that loaded (matrices expanded).
        workflow_files: the workflow files checked.
    """

    issues: list[ScenarioIssue]
    scenarios: list[Scenario]
    workflow_files: list[Path]


def validate(paths: Sequence[str | Path], *, root: str | Path | None = None) -> ValidationReport:
    """Check the scenarios under `paths` and the workflow files they name or use.

    A workflow file given as a path (a `.json` file, or a file in a `workflows/` folder) is
    checked as a workflow, never loaded as a scenario.
    """
    scenario_paths = [p for p in paths if not (is_file(p) and is_workflow_file(Path(p)))]
    scenarios, issues = _Loader(root).load_all(scenario_paths) if scenario_paths else ([], [])
    workflow_files = workflow_files_of(paths, scenarios)
    for workflow in workflow_files:
        try:
            issues.extend(check_workflow_file(workflow))
        except Exception as exc:  # a safety net, as for scenario files
            issues.append(_unexpected(workflow, exc))
    return ValidationReport(
        sorted(set(issues), key=ScenarioIssue.sort_key), scenarios, workflow_files
    )


def workflow_files_of(paths: Sequence[str | Path], scenarios: Iterable[Scenario]) -> list[Path]:
    """The workflow files `harness validate PATHS` checks: those named by `paths` (given as files,
    or in a `workflows/` folder under a folder given) and those the scenarios use."""
    used = {s.workflow for s in scenarios if s.workflow}
    used |= {s.evaluation.workflow for s in scenarios if s.evaluation and s.evaluation.workflow}
    files = {os.path.abspath(f): f for f in find_workflow_files(paths)}
    for workflow in used:  # a missing file is reported by the scenario already
        if is_file(workflow):
            files.setdefault(os.path.abspath(workflow), Path(workflow))
    return sorted(files.values(), key=lambda f: os.path.abspath(f))


def load_workflow_file(path: str | Path) -> WorkflowConfigFullyHydrated:
    """A hydrated workflow config from a JSON or YAML file.

    Raises:
        ScenarioLoadError: the file is missing, unparsable or not a workflow config.
    """
    try:
        config, issues = read_workflow(Path(path))
    except Exception as exc:  # a safety net, as for scenario files
        config, issues = None, [_unexpected(Path(path), exc)]
    if config is None:
        raise ScenarioLoadError(issues)
    return config


# ------------------------------------------------------------------ discovery


def _discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[ScenarioIssue]]:
    files: list[Path] = []
    issues: list[ScenarioIssue] = []
    for raw in paths:
        path = Path(raw)
        if is_file(path):
            files.append(path)
        elif is_dir(path):
            files.extend(_walk(path))
        else:
            siblings = list_folder(path.parent)
            issues.append(
                ScenarioIssue(
                    str(path),
                    None,
                    None,
                    None,
                    "no such file or folder",
                    suggest(path.name, siblings),
                )
            )
    unique = list({os.path.abspath(f): f for f in files}.values())
    return unique, issues


def _walk(folder: Path) -> list[Path]:
    found = []
    for current, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(names):
            if name != DEFAULTS_FILE and name.endswith(SCENARIO_SUFFIXES):
                found.append(Path(current) / name)
    return found


def derive_scenario_id(file: str | Path, root: str | Path) -> str:
    """The id a scenario file's scenarios get without an `id:` key: its path relative to the
    project root `root`, suffix dropped (`scenarios/clinic/booking`); a matrix adds `[...]`."""
    return _derive_id(Path(file), Path(os.path.abspath(root)))


def _derive_id(file: Path, root: Path) -> str:
    absolute = os.path.abspath(file)
    inside = str(root).rstrip("/") + "/"
    if os.sep == "/" and absolute.startswith(inside):
        # `relative_to` on text (both paths are absolute and normalised): no path objects.
        text = absolute[len(inside) :]
    else:
        try:
            relative = Path(absolute).relative_to(root)
        except ValueError:
            relative = Path(file.name)
        text = relative.as_posix()
    for suffix in SCENARIO_SUFFIXES:
        if text.endswith(suffix):
            return text[: -len(suffix)]
    return text


# ------------------------------------------------------------------ loading


class _Loader:
    """Loads files with a cache of parsed `_defaults.yaml` per folder.

    What every file of a folder shares (its defaults chain, the files its scenarios name) is
    looked up once per folder and load, not once per file.
    """

    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(os.path.abspath(root or Path.cwd()))
        self.defaults: dict[Path, tuple[Document | None, list[ScenarioIssue]]] = {}
        self._chains: dict[Path, list[Path]] = {}
        self._targets: dict[tuple[str, str], tuple[Path, bool]] = {}
        self._cwd = Path.cwd()  # asked once per load, not once per file

    def load_all(
        self,
        paths: Iterable[str | Path],
        on_file: Callable[[list[Scenario]], None] | None = None,
    ) -> tuple[list[Scenario], list[ScenarioIssue]]:
        files, issues = _discover(paths)
        scenarios: list[Scenario] = []
        for file in files:
            try:
                loaded, problems = self.load_file(file)
            except Exception as exc:  # a safety net: the fuzz tests find none; a bug stays an issue
                loaded, problems = [], [_unexpected(file, exc)]
            if on_file is not None and loaded:
                on_file(loaded)
            scenarios.extend(loaded)
            issues.extend(problems)
        issues.extend(_duplicate_ids(scenarios))
        return scenarios, sorted(set(issues), key=ScenarioIssue.sort_key)

    def load_file(self, file: Path) -> tuple[list[Scenario], list[ScenarioIssue]]:
        """The scenarios of `file` and its issues.

        Positions serve only to report issues and most files have none: the file is loaded from
        the quick parse first (no positions), and only a file with an issue (or one the quick
        parse leaves to `parse_yaml`) is loaded again from the positioned parse, which finds the
        same issues as ever, now with their file:line:col.
        """
        name = _display(file, self._cwd)
        text, issues = _read_text(file, name)
        if text is None:
            return [], issues
        quick = parse_quick(text, name)
        if quick is not None and isinstance(quick.data, dict):
            scenarios, issues = self._load_document(file, quick)
            if not issues:
                return scenarios, issues
        document, issues = _as_mapping(text, name, "scenario")
        if document is None:
            return [], issues
        scenarios, problems = self._load_document(file, document)
        return scenarios, issues + problems

    def _load_document(
        self, file: Path, document: Document
    ) -> tuple[list[Scenario], list[ScenarioIssue]]:
        issues: list[ScenarioIssue] = []
        chain: list[Document] = []
        for folder in self._folders_of(file.parent):
            defaults, problems = self._defaults(folder)
            issues.extend(problems)
            chain.extend([defaults] if defaults else [])
        merged = document
        for defaults in chain:  # nearest first: each farther one only fills what is still unset
            merged = _merge(defaults, merged)
        issues.extend(_resolve_files(merged, [document, *chain], self._target))
        combinations, problems = expand_matrix(merged)
        issues.extend(problems)
        base_id = document.data.get("id") if isinstance(document.data.get("id"), str) else None
        base_id = base_id or _derive_id(file, self.root)
        source_files = [d.file for d in reversed(chain)]
        scenarios = []
        for combination, expanded in combinations:
            try:
                scenario = Scenario.model_validate(expanded.data)
            except ValidationError as exc:
                issues.extend(issues_from_validation(exc, expanded))
                continue
            source = ScenarioSource(
                file=str(file), defaults_files=source_files, parameters=combination
            )
            scenario_id = matrix_id(base_id, combination)
            scenarios.append(scenario.with_source(source, scenario_id=scenario_id))
        return scenarios, issues

    def _folders_of(self, parent: Path) -> list[Path]:
        """Folders whose defaults apply to a file in `parent`, nearest first: up to `root`, or
        only its own."""
        found = self._chains.get(parent)
        if found is None:
            found = self._chains[parent] = self._folders(parent)
        return found

    def _folders(self, parent: Path) -> list[Path]:
        folder = Path(os.path.abspath(parent))
        if folder != self.root and self.root not in folder.parents:
            return [folder]
        folders = [folder]
        while folders[-1] != self.root:
            folders.append(folders[-1].parent)
        return folders

    def _target(self, written_in: str, value: str) -> tuple[Path, bool]:
        """The absolute path of a file reference `value` written in file `written_in`, and
        whether it is a file."""
        key = (os.path.dirname(written_in), value)
        found = self._targets.get(key)
        if found is None:
            target = Path(os.path.normpath((Path(written_in).parent / value).absolute()))
            found = self._targets[key] = (target, is_file(target))
        return found

    def _defaults(self, folder: Path) -> tuple[Document | None, list[ScenarioIssue]]:
        if folder not in self.defaults:
            path = folder / DEFAULTS_FILE
            self.defaults[folder] = _read_defaults(path) if is_file(path) else (None, [])
        return self.defaults[folder]


def _unexpected(file: Path, exc: Exception) -> ScenarioIssue:
    """An error no check anticipated, still reported against its file (never a traceback)."""
    message = f"cannot load the file: {type(exc).__name__}: {str(exc)[:300]}"
    hint = "this is a bug in harness: please report it with the file"
    return ScenarioIssue(_display(file), 1, 1, None, message, hint)


def _display(path: Path, cwd: Path | None = None) -> str:
    """`path` relative to the working folder `cwd` (default: the current one) when it is inside
    it (shorter messages)."""
    try:
        return str(path.relative_to(cwd or Path.cwd())) if path.is_absolute() else str(path)
    except ValueError:
        return str(path)


def _read_mapping(file: Path, what: str) -> tuple[Document | None, list[ScenarioIssue]]:
    name = _display(file)
    text, issues = _read_text(file, name)
    return _as_mapping(text, name, what) if text is not None else (None, issues)


def _read_text(file: Path, name: str) -> tuple[str | None, list[ScenarioIssue]]:
    try:
        return file.read_text(encoding="utf-8"), []
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ScenarioIssue(name, None, None, None, f"cannot read the file: {exc}")]


def _as_mapping(text: str, name: str, what: str) -> tuple[Document | None, list[ScenarioIssue]]:
    """The positioned parse of `text`, which must be a mapping."""
    try:
        document = parse_yaml(text, name)
    except YamlProblem as exc:
        return None, [issue_at(exc.location, (), exc.message)]
    if not isinstance(document.data, dict):
        got = "an empty file" if document.data is None else f"a {type(document.data).__name__}"
        hint = "start with `version: 1`, `name: ...`, `workflow: ...`, `turns: [...]`"
        message = f"a {what} file must be a mapping of keys, got {got}"
        return None, [
            ScenarioIssue(name, 1, 1, None, message, hint if what == "scenario" else None)
        ]
    return document, []


def _read_defaults(path: Path) -> tuple[Document | None, list[ScenarioIssue]]:
    document, issues = _read_mapping(path, "defaults")
    if document is None:
        return None, issues
    allowed = allowed_keys(()) - set(_NOT_DEFAULTABLE)
    for key in list(document.data):
        if key in allowed:
            continue
        where = document.locate((key,))
        if key in _NOT_DEFAULTABLE:
            issues.append(
                issue_at(
                    where,
                    (key,),
                    f"`{key}` cannot be set in {DEFAULTS_FILE}",
                    "set it in each scenario file",
                )
            )
        else:
            issues.append(
                issue_at(where, (key,), f"unknown key `{key}`", suggest(str(key), allowed))
            )
        del document.data[key]
    return document, issues


def _merge(base: Document, over: Document) -> Document:
    """`over` merged onto `base`: mappings deep-merged, tags joined, anything else replaced."""
    data = _deep_merge(copy.deepcopy(base.data), over.data)  # cached defaults stay untouched
    locations = {**base.locations, **over.locations}
    base_tags, over_tags = base.data.get("tags"), over.data.get("tags")
    if isinstance(base_tags, list) and isinstance(over_tags, list):
        tagged = [(t, base.locate(("tags", i))) for i, t in enumerate(base_tags)]
        tagged += [
            (t, over.locate(("tags", i))) for i, t in enumerate(over_tags) if t not in base_tags
        ]
        data["tags"] = [t for t, _ in tagged]
        locations.update({("tags", i): where for i, (_, where) in enumerate(tagged)})
    return Document(file=over.file, data=data, locations=locations)


def _deep_merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _deep_merge(base[key], value) if key in base else value
        return merged
    return over


def _resolve_files(
    document: Document,
    sources: Sequence[Document],
    target_of: Callable[[str, str], tuple[Path, bool]],
) -> list[ScenarioIssue]:
    """Make file references absolute, relative to the file that wrote them; report missing ones.

    `document` is `sources` merged, nearest first: a reference was written by the nearest source
    that sets it (found from the data: the quick parse records no positions).
    `target_of(file, value)` is the reference's absolute path and whether it is a file.
    """
    issues = []
    for path in _FILE_KEYS:
        holder = _holder(document.data, path)
        value = holder.get(path[-1]) if holder is not None else None
        if not isinstance(value, str) or holder is None:
            continue
        setters = (s.file for s in sources if _holder(s.data, path, set_only=True) is not None)
        written_in = next(setters, document.file)
        target, exists = target_of(written_in, value)
        if exists:
            holder[path[-1]] = str(target)
            continue
        where = document.locate(path)
        folder = target.parent
        choices = list_folder(folder)
        issues.append(
            issue_at(
                where,
                path,
                f"file `{value}` not found (looked for {target})",
                suggest(target.name, choices),
            )
        )
    return issues


def _holder(data: Any, path: tuple[Step, ...], *, set_only: bool = False) -> Any:
    """The mapping holding the last key of `path` in `data`, or None; with `set_only`, only
    when that key is set in it."""
    for step in path[:-1]:
        data = data.get(step) if isinstance(data, dict) else None
    if not isinstance(data, dict) or (set_only and path[-1] not in data):
        return None
    return data


def _duplicate_ids(scenarios: list[Scenario]) -> list[ScenarioIssue]:
    seen: dict[str, str] = {}
    issues = []
    for scenario in scenarios:
        file = scenario.source.file if scenario.source else "?"
        sid = scenario.id or ""
        if sid in seen:
            message = f"duplicate scenario id `{sid}` (also in {seen[sid]})"
            issues.append(ScenarioIssue(file, 1, 1, "id", message, "give one of them another `id`"))
        seen.setdefault(sid, file)
    return issues
