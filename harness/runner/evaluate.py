"""The evaluation of an attempt: the workflow's own evaluator, or an evaluator workflow named by
the scenario (a file, run on the built-in engine; or an id, run on the backend).

A missing or failed evaluation is an `EvaluationResult` with `error` (an `error` verdict), never an
exception. `harness.evaluation` is imported lazily, so the runner works while it is absent.
"""

from __future__ import annotations

import asyncio
from typing import Any

from harness.checks import check_scenario_evaluation
from harness.models.api import Command, WorkflowRun, WorkflowRunInput
from harness.models.result import EvaluationResult
from harness.models.scenario import Evaluation, Scenario
from harness.runner.attempt import describe_error
from harness.runner.bindings import ScenarioBinding

__all__ = ["evaluate_attempt", "own_verdict"]

_POLLS = 10
_POLL_SECONDS = 0.5


def _info(run: WorkflowRun) -> dict[str, Any]:
    info = run.evaluation_run_info
    return info.model_dump(mode="json") if info is not None else {}


def own_verdict(run: WorkflowRun | None) -> dict[str, Any] | None:
    """The verdict of the workflow's own evaluator stored on the run (None when absent)."""
    verdict = _info(run).get("evaluation") if run is not None else None
    return dict(verdict) if isinstance(verdict, dict) else None


async def _own(binding: ScenarioBinding, run: WorkflowRun) -> EvaluationResult:
    result = EvaluationResult(evaluator="own")
    info = _info(run)
    config = run.workflow_config_fully_hydrated
    evaluation = config.settings.evaluation_config if config is not None else None
    if config is not None and not (evaluation and evaluation.evaluator_workflow_id):
        result.error = (
            "the workflow has no evaluator (`evaluation_config.evaluator_workflow_id`); "
            "name one in the scenario's `evaluation.workflow`"
        )
        return result
    # The platform may evaluate after answering: look again for a while before giving up.
    for _ in range(_POLLS if binding.name == "api" and run.status.is_terminal else 0):
        if info.get("evaluation_workflow_run_id") or info.get("error"):
            break
        await asyncio.sleep(_POLL_SECONDS)
        if run.workflow_run_id:
            info = _info(await binding.backend.get_run(run.workflow_run_id))
    if info.get("error"):
        result.error = f"the workflow's evaluator failed: {info['error']}"
        return result
    evaluation_id = info.get("evaluation_workflow_run_id")
    if not evaluation_id:
        result.error = (
            f"the run has no evaluation (status {run.status.value}): the workflow's evaluator "
            "runs when the run completes and `evaluation_config.evaluator_workflow_id` is set"
        )
        return result
    result.workflow_run_id = str(evaluation_id)
    verdict = info.get("evaluation")
    if not isinstance(verdict, dict):
        from harness.engine.evaluation_nodes import verdict_of

        verdict = verdict_of(await binding.backend.get_run(str(evaluation_id)))
    result.verdict = dict(verdict or {})
    return result


async def _named_file(
    binding: ScenarioBinding, run: WorkflowRun, evaluation: Evaluation, file: str
) -> EvaluationResult:
    result = EvaluationResult(evaluator=file)
    if binding.engine is None:
        result.error = "a named evaluator workflow needs the built-in engine, which is not set up"
        return result
    try:
        from harness.evaluation import evaluate_run
    except ImportError:
        result.error = "named evaluator workflows need harness.evaluation, which is not installed"
        return result
    from harness.scenarios import load_workflow_file

    evaluator = load_workflow_file(file)
    if evaluation.dynamic_variables:
        merged = {**evaluator.dynamic_variables, **evaluation.dynamic_variables}
        evaluator = evaluator.model_copy(update={"dynamic_variables": merged})
    outcome = await evaluate_run(binding.engine, run, evaluator)
    result.workflow_run_id = outcome.evaluation_workflow_run_id
    result.verdict = dict(outcome.verdict or {})
    result.error = outcome.error
    return result


async def _named_id(
    binding: ScenarioBinding, run: WorkflowRun, evaluation: Evaluation, workflow_id: str
) -> EvaluationResult:
    from harness.backends.base import RunTarget
    from harness.engine.evaluation_nodes import verdict_of

    result = EvaluationResult(evaluator=workflow_id)
    run_input = WorkflowRunInput(
        command=Command.START,
        workflow_id=workflow_id,
        version_number=evaluation.workflow_version or 0,
        dynamic_variables={**evaluation.dynamic_variables, "workflow_run_id": run.workflow_run_id},
    )
    target = RunTarget(workflow_id=workflow_id, version=evaluation.workflow_version)
    evaluated = await binding.backend.execute(target, run_input)
    result.workflow_run_id = evaluated.workflow_run_id
    result.verdict = dict(verdict_of(evaluated) or {})
    return result


async def evaluate_attempt(
    scenario: Scenario, binding: ScenarioBinding, run: WorkflowRun | None
) -> EvaluationResult | None:
    """The scenario's evaluation of `run` with its `evaluation.expect` checked (None: no evaluation)."""
    evaluation = scenario.evaluation
    if evaluation is None:
        return None
    if run is None:
        return EvaluationResult(
            evaluator="own" if evaluation.uses_own_evaluator else "named",
            error="there is no run to evaluate",
        )
    try:
        if evaluation.workflow is not None:
            result = await _named_file(binding, run, evaluation, evaluation.workflow)
        elif evaluation.workflow_id is not None:
            result = await _named_id(binding, run, evaluation, evaluation.workflow_id)
        else:
            result = await _own(binding, run)
    except Exception as exc:  # an evaluator that cannot run is an error verdict, not a crash
        name = evaluation.workflow or evaluation.workflow_id or "own"
        return EvaluationResult(evaluator=name, error=f"evaluation failed: {describe_error(exc)}")
    if result.error is None:
        result.outcomes = check_scenario_evaluation(scenario, result.verdict)
    return result
