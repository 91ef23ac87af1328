"""Scenario files: discovery, loading and validation with file:line:col errors.

`load_scenarios(paths)` returns `Scenario` models (matrices expanded, `_defaults.yaml` merged, file
references made absolute, ids derived from the path) or raises `ScenarioLoadError` listing every
problem; `validate_paths(paths)` returns the problems (also those of the workflow files used or
found in `workflows/` folders, checked strictly by `check_workflow_file`) and `format_issues` prints
them. The format itself is in `harness.models.scenario`.
"""

from __future__ import annotations

from harness.scenarios._issues import ScenarioIssue, ScenarioLoadError, format_issues
from harness.scenarios._loader import (
    DEFAULTS_FILE,
    SCENARIO_SUFFIXES,
    SKIPPED_DIRS,
    ScenarioFileLoader,
    ValidationReport,
    derive_scenario_id,
    discover_scenario_files,
    load_scenario_file,
    load_scenarios,
    load_workflow_file,
    validate,
    validate_paths,
    workflow_files_of,
)
from harness.scenarios._workflows import (
    WORKFLOW_SUFFIXES,
    WORKFLOWS_FOLDER,
    check_workflow_file,
    find_workflow_files,
    is_workflow_file,
)
from harness.scenarios._yaml import Location

__all__ = [
    "DEFAULTS_FILE",
    "SCENARIO_SUFFIXES",
    "SKIPPED_DIRS",
    "WORKFLOWS_FOLDER",
    "WORKFLOW_SUFFIXES",
    "Location",
    "ScenarioFileLoader",
    "ScenarioIssue",
    "ScenarioLoadError",
    "ValidationReport",
    "check_workflow_file",
    "derive_scenario_id",
    "discover_scenario_files",
    "find_workflow_files",
    "format_issues",
    "is_workflow_file",
    "load_scenario_file",
    "load_scenarios",
    "load_workflow_file",
    "validate",
    "validate_paths",
    "workflow_files_of",
]
