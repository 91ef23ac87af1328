"""Run every expectation of a turn, a run or an evaluation; collect all outcomes.

A check that cannot run (a bug, a value of an unexpected shape) becomes an `error` outcome naming
the check; the other checks still run, so one scenario reports all its problems at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.checks.budgets import check_budget_max
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
from harness.checks.sequences import check_events, check_tool_calls, check_transitions
from harness.checks.view import RunView
from harness.models.api import WorkflowRun
from harness.models.expect import Expect
from harness.models.result import CheckOutcome, OutcomeStatus
from harness.models.scenario import SIMULATION_STOP_TOKEN, Scenario, SimulatedUser, Turn

__all__ = [
    "check_expect",
    "check_run",
    "check_scenario_evaluation",
    "check_turn",
    "error_outcome",
    "simulation_stop_reason",
]

Check = Callable[[], list[CheckOutcome]]


def error_outcome(check: str, key: str | None, exc: BaseException) -> CheckOutcome:
    """The outcome of a check that raised instead of deciding."""
    message = f"{check}: the check could not run: {type(exc).__name__}: {exc}"
    return CheckOutcome(check=check, status=OutcomeStatus.ERROR, message=message, key=key)


def _run(checks: list[tuple[str, str | None, Check]]) -> list[CheckOutcome]:
    results: list[CheckOutcome] = []
    for name, key, check in checks:
        try:
            results.extend(check())
        except Exception as exc:  # a broken check is reported, never loses the others
            results.append(error_outcome(name, key, exc))
    return results


def check_expect(
    expect: Expect | None, view: RunView, key: str | None = "expect"
) -> list[CheckOutcome]:
    """Every expectation given in `expect`, checked against `view`, in a fixed order."""
    if expect is None:
        return []
    e = expect

    def k(name: str) -> str | None:
        return f"{key}.{name}" if key else None

    checks: list[tuple[str, str | None, Check]] = []

    def add(name: str, given: Any, check: Check) -> None:
        if given:
            checks.append((name, k(name), check))

    add("status", e.status, lambda: check_status(e.status or [], view, k("status")))
    add(
        "termination_source",
        e.checks_termination_source(),
        lambda: check_termination_source(e.termination_source, view, k("termination_source")),
    )
    add("says", e.says, lambda: check_says(_given(e.says), view, k("says")))
    add("node", e.node, lambda: check_node(e.node or [], view, k("node")))
    add("path", e.path, lambda: check_path(_given(e.path), view, k("path")))
    add(
        "transitions",
        e.transitions,
        lambda: check_transitions(_given(e.transitions), view, k("transitions")),
    )
    add(
        "tool_calls",
        e.tool_calls,
        lambda: check_tool_calls(_given(e.tool_calls), view, k("tool_calls")),
    )
    add(
        "runtime_variables",
        e.runtime_variables,
        lambda: check_variables("runtime", e.runtime_variables or {}, view, k("runtime_variables")),
    )
    add(
        "dynamic_variables",
        e.dynamic_variables,
        lambda: check_variables("dynamic", e.dynamic_variables or {}, view, k("dynamic_variables")),
    )
    add("events", e.events, lambda: check_events(_given(e.events), view, k("events")))
    add("output", e.output, lambda: check_output(_given(e.output), view, k("output")))
    add(
        "json_schema",
        e.json_schema,
        lambda: check_json_schema(e.json_schema or [], view, k("json_schema")),
    )
    add("values", e.values, lambda: check_values(e.values or [], view, k("values")))
    add(
        "evaluation",
        e.evaluation,
        lambda: check_evaluation(e.evaluation or {}, view.evaluation, k("evaluation")),
    )
    add("no_errors", e.no_errors, lambda: check_no_errors(view, k("no_errors")))
    return _run(checks)


def _given(value: Any) -> Any:
    assert value is not None  # only called for expectations that were given
    return value


def check_turn(turn: Turn, view: RunView, index: int) -> list[CheckOutcome]:
    """A turn's `expect` and the `max` of its `budgets`, keyed `turns[index]...`."""
    where = f"turns[{index}]"
    outcomes = check_expect(turn.expect, view, f"{where}.expect")
    if turn.budgets is None:  # nothing to bound: the usage is not even totalled
        return outcomes
    return outcomes + _run(
        [
            (
                "budgets",
                f"{where}.budgets",
                lambda: check_budget_max(turn.budgets, view.usage, f"{where}.budgets"),
            )
        ]
    )


def check_run(
    scenario: Scenario, run: WorkflowRun, evaluation: dict[str, Any] | None = None
) -> list[CheckOutcome]:
    """The scenario's top-level `expect` and the `max` of its `budgets`, on the whole run."""
    view = RunView.of_run(run, evaluation)
    outcomes = check_expect(scenario.expect, view, "expect")
    if scenario.budgets is None:  # nothing to bound: the whole run's usage is not totalled
        return outcomes
    return outcomes + _run(
        [
            (
                "budgets",
                "budgets",
                lambda: check_budget_max(scenario.budgets, view.usage, "budgets", scope="run"),
            )
        ]
    )


def check_scenario_evaluation(
    scenario: Scenario, evaluation: dict[str, Any] | None
) -> list[CheckOutcome]:
    """The scenario's `evaluation.expect` against the evaluator's verdict."""
    if scenario.evaluation is None or not scenario.evaluation.expect:
        return []
    expected = scenario.evaluation.expect
    return _run(
        [
            (
                "evaluation",
                "evaluation.expect",
                lambda: check_evaluation(expected, evaluation, "evaluation.expect"),
            )
        ]
    )


def simulation_stop_reason(
    simulated: SimulatedUser, view: RunView, reply: str | None = None
) -> str | None:
    """Why a simulated conversation ends now, or None to go on (`max_turns` is the runner's).

    Args:
        simulated: the simulated user's settings.
        view: the view of the execute call just made.
        reply: the simulated user's next message, when already written (may carry the stop token).
    """
    stop = simulated.stop_when
    if view.run.status.is_terminal:
        return f"the run is {view.status}"
    if stop.node and view.node in stop.node:
        return f"the run reached {view.node}"
    if stop.says is not None and all(o.passed for o in check_says(stop.says, view)):
        return "the assistant said what ends it"
    if stop.goal_reached and reply is not None and SIMULATION_STOP_TOKEN in reply:
        return "the simulated user reached the goal"
    return None
