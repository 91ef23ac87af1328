"""Scenario files: discovery, loading and validation with file:line:col errors.

`load_scenarios(paths)` returns `Scenario` models (matrices expanded, `_defaults.yaml` merged, file
references made absolute, ids derived from the path) or raises `ScenarioLoadError` listing every
problem; `validate_paths(paths)` returns the problems (also those of the workflow files used) and
`format_issues` prints them. The format itself is in `harness.models.scenario`.
"""

from __future__ import annotations

from harness.scenarios._issues import ScenarioIssue, ScenarioLoadError, format_issues
from harness.scenarios._loader import (
    DEFAULTS_FILE,
    SCENARIO_SUFFIXES,
    SKIPPED_DIRS,
    discover_scenario_files,
    load_scenario_file,
    load_scenarios,
    load_workflow_file,
    validate_paths,
)
from harness.scenarios._yaml import Location

__all__ = [
    "DEFAULTS_FILE",
    "SCENARIO_SUFFIXES",
    "SKIPPED_DIRS",
    "Location",
    "ScenarioIssue",
    "ScenarioLoadError",
    "discover_scenario_files",
    "format_issues",
    "load_scenario_file",
    "load_scenarios",
    "load_workflow_file",
    "validate_paths",
]
