"""The evaluation of an attempt: `harness.evaluation.evaluate`, then the scenario's
`evaluation.expect` checked on the verdict.

A missing or failed evaluation is an `EvaluationResult` with `error` (an `error` verdict), never an
exception.
"""

from __future__ import annotations

from harness.backends.binding import ScenarioBinding
from harness.checks import check_scenario_evaluation
from harness.evaluation import evaluate, own_verdict
from harness.models.api import WorkflowRun
from harness.models.result import EvaluationResult
from harness.models.scenario import Scenario

__all__ = ["evaluate_attempt", "own_verdict"]


async def evaluate_attempt(
    scenario: Scenario, binding: ScenarioBinding, run: WorkflowRun | None
) -> EvaluationResult | None:
    """The scenario's evaluation of `run` with its `evaluation.expect` checked (None: no evaluation)."""
    if scenario.evaluation is None:
        return None
    result = await evaluate(scenario.evaluation, run, binding)
    if result.error is None:
        result.outcomes = check_scenario_evaluation(scenario, result.verdict)
    return result
