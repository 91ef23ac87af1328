"""Expectations -> outcomes (data). A failed check is an outcome, never an exception.

Build a `RunView` from a `WorkflowRun` (one turn, a range of turns, or the whole run), then call
`check_expect` (or one `check_*` per expectation kind). `check_turn`, `check_run` and
`check_scenario_evaluation` apply a scenario's expectations with keys pointing into the file;
`check_budget_max` / `check_budget_p95` apply budgets (see `harness.checks.budgets`).
"""

from __future__ import annotations

from harness.checks.budgets import MEASURES, check_budget_max, check_budget_p95, percentile
from harness.checks.conversation import (
    check_no_errors,
    check_node,
    check_path,
    check_says,
    check_status,
    check_termination_source,
    check_variables,
)
from harness.checks.data import check_evaluation, check_json_schema, check_output, check_values
from harness.checks.expect import (
    check_expect,
    check_run,
    check_scenario_evaluation,
    check_turn,
    error_outcome,
    simulation_stop_reason,
)
from harness.checks.sequences import check_events, check_tool_calls, check_transitions
from harness.checks.view import EDGE_EVENTS, RunView

__all__ = [
    "EDGE_EVENTS",
    "MEASURES",
    "RunView",
    "check_budget_max",
    "check_budget_p95",
    "check_evaluation",
    "check_events",
    "check_expect",
    "check_json_schema",
    "check_no_errors",
    "check_node",
    "check_output",
    "check_path",
    "check_run",
    "check_says",
    "check_scenario_evaluation",
    "check_status",
    "check_termination_source",
    "check_tool_calls",
    "check_transitions",
    "check_turn",
    "check_values",
    "check_variables",
    "error_outcome",
    "percentile",
    "simulation_stop_reason",
]
