"""Evaluation of runs, in one place: the workflow's own evaluator, an evaluator file, or an id.

`evaluate(spec, run, binding)` is what the runner calls after a scenario's last turn; it returns an
`EvaluationResult` (an `error` instead of an exception when the evaluation cannot run):

- **own** (`evaluation: {}` or `evaluation.expect` only): the verdict the workflow's own evaluator
  (`evaluation_config.evaluator_workflow_id`) stored on the run's `evaluation_run_info`. A backend
  that declares `Capability.EVALUATION_POLLING` (the platform) may evaluate after answering, so
  the run is read again (`get_run`) for a few seconds.
- **by file** (`evaluation.workflow`): `evaluate_run` runs the hydrated evaluator workflow
  (typically `workflow_run_fetch` -> `workflow_run_evaluator`) on the binding's in-process engine
  as an evaluation run of the source run.
- **by id** (`evaluation.workflow_id`): the evaluator workflow runs on the scenario's backend with
  the source run's id as the dynamic variable `workflow_run_id`.

```python
outcome = await evaluate_run(engine, run, load_workflow("workflows/judge.json"))
assert outcome.passed and outcome.score >= 0.8
```
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.backends.base import Capability, RunTarget
from harness.backends.binding import ScenarioBinding
from harness.checks.view import node_usage_of
from harness.engine import Engine, RunState
from harness.engine.evaluation_nodes import MISSING_RUN_WARNING, run_evaluator, verdict_of
from harness.errors import EngineError, HarnessError
from harness.models.api import (
    Command,
    EvaluationRunInfo,
    RunStatus,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
    WorkflowRunInput,
)
from harness.models.result import EvaluationResult
from harness.models.scenario import Evaluation

__all__ = [
    "POLL_ATTEMPTS",
    "POLL_SECONDS",
    "EvaluationOutcome",
    "evaluate",
    "evaluate_run",
    "own_verdict",
]

POLL_ATTEMPTS = 10
"""How many times a polling backend's run is read again while its own evaluation is pending."""
POLL_SECONDS = 0.5
"""Seconds between those reads."""


class EvaluationOutcome(BaseModel):
    """What an evaluator workflow made of a run."""

    # Built on first use, not at import: only a run with an evaluator workflow makes one.
    model_config = ConfigDict(frozen=True, defer_build=True)

    source_workflow_run_id: str = Field(description="The evaluated run.")
    evaluation_workflow_run_id: str = Field(description="The evaluation run (in the engine).")
    status: RunStatus = Field(description="Status of the evaluation run.")
    verdict: dict[str, Any] | None = Field(
        default=None, description="The evaluator's structured output; None when it wrote none."
    )
    error: str | None = Field(default=None, description="Why the evaluation run failed, if it did.")
    evaluation_run: WorkflowRun = Field(description="The whole evaluation run.")

    @property
    def passed(self) -> bool | None:
        """The verdict's `passed`, when it has a boolean one."""
        value = (self.verdict or {}).get("passed")
        return value if isinstance(value, bool) else None

    @property
    def score(self) -> float | None:
        """The verdict's `score`, when it is a number."""
        value = (self.verdict or {}).get("score")
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)


async def evaluate_run(
    engine: Engine,
    source_run: WorkflowRun,
    evaluator: WorkflowConfigFullyHydrated,
    *,
    evaluator_id: str | None = None,
) -> EvaluationOutcome:
    """Run `evaluator` as an evaluation run of `source_run` and return its verdict.

    A run that is not in the engine's store (e.g. one the platform ran) is stored there first, as
    it is, so that the evaluator's `workflow_run_fetch` node can load it. When the source run is in
    the store, it gets `evaluation_run_info.evaluation_workflow_run_id`, as after a configured
    evaluation.

    Args:
        engine: the engine that runs the evaluator (its LLM client judges).
        source_run: the run to evaluate; it needs a `workflow_run_id`.
        evaluator: the hydrated evaluator workflow.
        evaluator_id: the evaluator's workflow id (default: derived from its config).

    Raises:
        EngineError: the source run has no id, or the evaluator workflow cannot run
            (`GraphValidationError`).
    """
    run_id = source_run.workflow_run_id
    if not run_id:
        raise EngineError(
            "cannot evaluate a run without a workflow_run_id",
            hint="pass the run returned by execute or get_run",
        )
    stored = await engine.store.load(run_id)
    if stored is None:
        # A run from another backend: the engine never continues it, only reads it.
        await engine.store.save(source_run.model_copy(deep=True), RunState())
    evaluation = await run_evaluator(engine, source_run, evaluator, evaluator_id=evaluator_id)
    evaluation_id = evaluation.workflow_run_id or ""
    error = _error_of(evaluation)
    verdict = verdict_of(evaluation) if error is None else None  # a judgement of nothing is none
    await _link(engine, run_id, evaluation, verdict)
    return EvaluationOutcome(
        source_workflow_run_id=run_id,
        evaluation_workflow_run_id=evaluation_id,
        status=evaluation.status,
        verdict=verdict,
        error=error,
        evaluation_run=evaluation,
    )


async def _link(
    engine: Engine, run_id: str, evaluation: WorkflowRun, verdict: dict[str, Any] | None
) -> None:
    stored = await engine.store.load(run_id)
    if stored is None:
        return
    stored.run.evaluation_run_info = EvaluationRunInfo.model_validate(
        {
            "evaluation_workflow_run_id": evaluation.workflow_run_id,
            "status": evaluation.status.value,
            "evaluation": verdict,
        }
    )
    await engine.store.save(stored.run, stored.state)


def _error_of(evaluation: WorkflowRun) -> str | None:
    """Why the evaluation did not judge the run: its error, or a fetch that found no run."""
    for event in reversed(evaluation.events()):
        if event.type == "workflow_error":
            message = event.get("error_message")
            return str(message) if message is not None else "the evaluation run failed"
    for event in evaluation.events():
        warning = event.get("warning_message") if event.type == "workflow_warning" else None
        if isinstance(warning, str) and warning.startswith(MISSING_RUN_WARNING):
            return warning
    return None


# ------------------------------------------------------------------ a scenario's evaluation


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
    polls = POLL_ATTEMPTS if Capability.EVALUATION_POLLING in binding.capabilities else 0
    for _ in range(polls if run.status.is_terminal else 0):
        if info.get("evaluation_workflow_run_id") or info.get("error"):
            break
        await asyncio.sleep(POLL_SECONDS)
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
        evaluated: WorkflowRun | None = await binding.backend.get_run(str(evaluation_id))
        verdict = verdict_of(evaluated) if evaluated is not None else None
    else:  # the verdict is on the run; its evaluation run is read for the evaluator's usage only
        try:
            evaluated = await binding.backend.get_run(str(evaluation_id))
        except Exception:  # then the evaluator's usage is unknown (empty), not a failed evaluation
            evaluated = None
    result.verdict = dict(verdict or {})
    result.usage = node_usage_of(evaluated.events()) if evaluated is not None else []
    return result


async def _by_file(
    binding: ScenarioBinding, run: WorkflowRun, spec: Evaluation, file: str
) -> EvaluationResult:
    from harness.scenarios import load_workflow_file

    result = EvaluationResult(evaluator=file)
    if binding.engine is None:
        result.error = "an evaluator workflow file needs the built-in engine, which is not set up"
        return result
    evaluator = load_workflow_file(file)
    if spec.dynamic_variables:
        merged = {**evaluator.dynamic_variables, **spec.dynamic_variables}
        evaluator = evaluator.model_copy(update={"dynamic_variables": merged})
    outcome = await evaluate_run(binding.engine, run, evaluator)
    result.workflow_run_id = outcome.evaluation_workflow_run_id
    result.verdict = dict(outcome.verdict or {})
    result.error = outcome.error
    result.usage = node_usage_of(outcome.evaluation_run.events())
    return result


async def _by_id(
    binding: ScenarioBinding, run: WorkflowRun, spec: Evaluation, workflow_id: str
) -> EvaluationResult:
    result = EvaluationResult(evaluator=workflow_id)
    run_input = WorkflowRunInput(
        command=Command.START,
        workflow_id=workflow_id,
        version_number=spec.workflow_version or 0,
        dynamic_variables={**spec.dynamic_variables, "workflow_run_id": run.workflow_run_id},
    )
    target = RunTarget(workflow_id=workflow_id, version=spec.workflow_version)
    evaluated = await binding.backend.execute(target, run_input)
    result.workflow_run_id = evaluated.workflow_run_id
    result.verdict = dict(verdict_of(evaluated) or {})
    result.usage = node_usage_of(evaluated.events())
    return result


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"


async def evaluate(
    spec: Evaluation, run: WorkflowRun | None, binding: ScenarioBinding
) -> EvaluationResult:
    """The evaluation `spec` asks for, of `run`, on `binding` (own, by file or by id).

    Never raises for an evaluation that cannot run: the result carries the `error`. Its
    `outcomes` are left for the caller (the scenario's `evaluation.expect`).
    """
    name = spec.workflow or spec.workflow_id or "own"
    if run is None:
        named = "own" if spec.uses_own_evaluator else name
        return EvaluationResult(evaluator=named, error="there is no run to evaluate")
    try:
        if spec.workflow is not None:
            return await _by_file(binding, run, spec, spec.workflow)
        if spec.workflow_id is not None:
            return await _by_id(binding, run, spec, spec.workflow_id)
        return await _own(binding, run)
    except Exception as exc:  # an evaluator that cannot run is an error verdict, not a crash
        return EvaluationResult(evaluator=name, error=f"evaluation failed: {_describe(exc)}")
