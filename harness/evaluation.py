"""Evaluator workflows named by the harness: score a finished run with the built-in engine.

When the platform evaluates runs itself (`evaluation_config.evaluator_workflow_id`), the source
run links to its evaluation run. When it does not, or when a scenario names its own evaluator,
`evaluate_run` runs a hydrated evaluator workflow (typically `workflow_run_fetch` →
`workflow_run_evaluator`) on the built-in engine as an evaluation run of the source run, and
returns the verdict.

```python
outcome = await evaluate_run(engine, run, load_workflow("workflows/judge.json"))
assert outcome.passed and outcome.score >= 0.8
```
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.engine import Engine, RunState
from harness.engine.evaluation_nodes import MISSING_RUN_WARNING, run_evaluator, verdict_of
from harness.errors import EngineError
from harness.models.api import (
    EvaluationRunInfo,
    RunStatus,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
)

__all__ = ["EvaluationOutcome", "evaluate_run"]


class EvaluationOutcome(BaseModel):
    """What an evaluator workflow made of a run."""

    model_config = ConfigDict(frozen=True)

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
