"""Evaluator workflows: `workflow_run_fetch` and `workflow_run_evaluator` nodes, and the hooks
that run a workflow's evaluator when a run completes (PLATFORM.md §2 and §5.7).

Facts from the platform's models (`interactly_configs/nodes/workflows/`):
- `workflow_run_fetch`: `workflow_run_id` (default `{{workflow_run_id}}`) names the run,
  `result_runtime_variable_name` (default `workflow_run_object`) receives it; both nullable (null
  means the default). Its run output carries `fetched_workflow_run`, the run as JSON text.
- `workflow_run_evaluator` is a worker LLM node that reads the run to judge from
  `[[input_runtime_variable_name]]` (default `workflow_run_object`) and stores its evaluation in
  `[[output_runtime_variable_name]]`. Its `structured_output_schema` is a raw JSON Schema (the
  wrapper `{name, input_schema}` of worker nodes is read too); "if empty or None, no structured
  output is expected". Its run output has `structured_output` (`{}` by default) and
  `free_form_output`. It never waits, never loops and has no error message.

Rules *(chosen where the platform is silent)*:
- The fetched run is written to the variable as JSON data, without its hydrated config. A run
  that is not found ("the fetch node will fail or return empty data", the platform's example 18)
  gives empty data: the variable and `fetched_workflow_run` are null and a `workflow_warning`
  says which run and what to do; the evaluator then judges "No workflow run was found to
  evaluate." (`harness.evaluation` reports such an evaluation as an error). The evaluator also
  accepts the run as JSON text in its input variable.
- The evaluator renders the run as a compact transcript (a user message after the node's system
  prompt) and makes one LLM call. With a schema the call carries `response_format` and the JSON
  object it answers is the verdict: the node's `structured_output` and the value of the output
  variable (the `worker_llm` event carries the answer as its message). Without a schema the answer text is
  the `free_form_output` and the output variable's value. A failed call or a verdict that is not
  a JSON object fails the evaluation run.
- `is_turn_by_turn_evaluator: true` judges one turn: the dynamic variable
  `evaluated_turn_number` (set by turn-by-turn evaluation), else the run's last turn; the prompt
  names it. Otherwise the whole run is judged.
- When a run completes and its `evaluation_config.evaluator_workflow_id` resolves through the
  engine's `WorkflowRegistry`, the evaluator runs as an evaluation run (dynamic variable
  `workflow_run_id`), and the source run gets `evaluation_run_info.evaluation_workflow_run_id`
  (plus `status` and `evaluation`, the verdict). With `enable_turn_by_turn_evaluation`, the
  evaluator also runs after every turn (dynamic variable `evaluated_turn_number`) and that turn's
  pair gets `evaluation = {**verdict, evaluation_workflow_run_id}`. Evaluation runs are never
  evaluated themselves. An evaluator that cannot be resolved or fails is recorded on the source
  run (`evaluation_run_info.error`), never raised: the source run completed.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.engine.context import NodeResult, NodeVisit, TurnContext
from harness.engine.llm import ChatRequest, LLMCallError
from harness.engine.llm_config import effective_llm, request_options
from harness.engine.llm_nodes import system_prompt
from harness.engine.run_transcript import render_run
from harness.engine.structured_output import output_schema
from harness.engine.variables import substitute
from harness.errors import EngineError, HarnessError
from harness.models.api import (
    Command,
    EvaluationConfig,
    EvaluationRunInfo,
    EventType,
    NodeOutput,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
    WorkflowRunEvaluatorNodeConfig,
    WorkflowRunFetchNodeConfig,
    WorkflowRunInput,
)

if TYPE_CHECKING:
    from harness.engine.executor import Engine

__all__ = [
    "DEFAULT_FETCH_RUN_ID",
    "DEFAULT_RUN_VARIABLE",
    "EVALUATION_NODE_HANDLERS",
    "MISSING_RUN_WARNING",
    "EvaluationHook",
    "evaluation_hooks",
    "render_run",
    "run_evaluator",
    "run_workflow_run_evaluator",
    "run_workflow_run_fetch",
    "verdict_of",
]

DEFAULT_FETCH_RUN_ID = "{{workflow_run_id}}"
"""The run a fetch node loads when its `workflow_run_id` is null (the platform's default)."""
DEFAULT_RUN_VARIABLE = "workflow_run_object"
MISSING_RUN_WARNING = "workflow_run_fetch node"
"""How the `workflow_warning` of a fetch that found no run begins (see `evaluation_error`)."""
"""Where the fetched run lands and the evaluator reads it when the node names no variable."""


def _output(visit: NodeVisit, **fields: Any) -> NodeOutput:
    return NodeOutput.model_construct(
        type=visit.node.type,
        node_logical_id=visit.node.node_id,
        node_run_id=visit.scope.run_id,
        **fields,
    )


# -------------------------------------------------------------------- workflow_run_fetch


async def run_workflow_run_fetch(ctx: TurnContext, visit: NodeVisit) -> NodeResult:
    """Load the run named by the node's `workflow_run_id` into a runtime variable."""
    node = visit.node
    assert isinstance(node, WorkflowRunFetchNodeConfig)
    template = node.workflow_run_id or DEFAULT_FETCH_RUN_ID
    run_id = substitute(template, ctx.dynamic, ctx.runtime).strip()
    fetched = await ctx.services.load_run(run_id) if run_id else None
    variable = node.result_runtime_variable_name or DEFAULT_RUN_VARIABLE
    if fetched is None:
        # The platform's example 18: without a real run "the fetch node will fail or return
        # empty data". Empty data, with a warning that says why and what to do.
        ctx.log.emit(
            EventType.WORKFLOW_WARNING,
            warning_message=f"{MISSING_RUN_WARNING} {node.label}: no workflow run {run_id!r} in "
            "the engine's store, so there is nothing to evaluate; pass the run id as the "
            "dynamic variable `workflow_run_id` (or set the node's workflow_run_id) and run the "
            "evaluator on the engine that holds the run",
        )
        ctx.runtime[variable] = None
        return NodeResult(_output(visit, fetched_workflow_run=None))
    data = fetched.model_dump(mode="json", exclude={"workflow_config_fully_hydrated"})
    ctx.runtime[variable] = data
    return NodeResult(_output(visit, fetched_workflow_run=json.dumps(data)))


# -------------------------------------------------------------------- workflow_run_evaluator


async def run_workflow_run_evaluator(ctx: TurnContext, visit: NodeVisit) -> NodeResult:
    """Judge the fetched run with one LLM call (structured with a schema); never waits or loops."""
    node = visit.node
    assert isinstance(node, WorkflowRunEvaluatorNodeConfig)
    if visit.entered_by == "self_loop":
        raise EngineError(
            f"workflow_run_evaluator node {node.label} looped on itself; an evaluator judges once",
            hint="set `self_loop: false` on the node and give it an edge onward (or none)",
        )
    fetched = _run_to_judge(ctx, node)
    schema = output_schema(node.structured_output_schema)
    prompt = system_prompt(ctx, node) or "Evaluate the workflow run below."
    llm = effective_llm(ctx.plan.workflow, node)
    request = ChatRequest.model_construct(
        messages=[
            {"role": "system", "content": prompt},
            {"role": "user", "content": _judged_text(ctx, node, fetched)},
        ],
        tools=None,
        tool_choice=None,
        response_format=schema.response_format("evaluation") if schema else None,
        **request_options(llm),
    )
    try:
        response = await ctx.services.llm.complete(
            request,
            provider=llm.provider,
            context={"node_logical_id": node.node_id, "purpose": "evaluation"},
        )
    except LLMCallError as exc:
        raise EngineError(f"evaluator node {node.label}: {exc.message}", hint=exc.hint) from exc
    usage = ctx.record_llm(response)
    content = response.content or ""
    if schema is None:
        return _judged(ctx, visit, node, content, usage, free_form=content)
    return _judged(ctx, visit, node, content, usage, verdict=_verdict(node, content))


def _run_to_judge(
    ctx: TurnContext, node: WorkflowRunEvaluatorNodeConfig
) -> Mapping[str, Any] | None:
    """The run in the input variable; None when it is empty (a fetch that found nothing)."""
    variable = node.input_runtime_variable_name or DEFAULT_RUN_VARIABLE
    value = ctx.runtime.get(variable)
    if value is None and variable in ctx.runtime:
        return None
    if isinstance(value, str):  # the run as JSON text, as a fetch node's output carries it
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = None
    if not isinstance(value, Mapping):
        raise EngineError(
            f"workflow_run_evaluator node {node.label}: no workflow run in [[{variable}]]",
            hint="put a workflow_run_fetch node before the evaluator, writing the variable named "
            "by the evaluator's input_runtime_variable_name",
        )
    return value


def _judged_text(
    ctx: TurnContext, node: WorkflowRunEvaluatorNodeConfig, fetched: Mapping[str, Any] | None
) -> str:
    if fetched is None:
        return "No workflow run was found to evaluate."
    return f"{render_run(fetched)}{_focus(ctx, node, fetched)}"


def _focus(
    ctx: TurnContext, node: WorkflowRunEvaluatorNodeConfig, fetched: Mapping[str, Any]
) -> str:
    if not node.is_turn_by_turn_evaluator:
        return ""
    turn = ctx.dynamic.get("evaluated_turn_number") or len(fetched.get("input_output_pairs") or [])
    return f"\n\nJudge turn {turn} only."


def _judged(
    ctx: TurnContext,
    visit: NodeVisit,
    node: WorkflowRunEvaluatorNodeConfig,
    content: str,
    usage: dict[str, Any],
    *,
    verdict: dict[str, Any] | None = None,
    free_form: str | None = None,
) -> NodeResult:
    if node.output_runtime_variable_name:
        ctx.runtime[node.output_runtime_variable_name] = (
            verdict if verdict is not None else free_form
        )
    ctx.log.emit(EventType.WORKER_LLM, visit.scope, message=content, llm_usage_info=usage)
    return NodeResult(_output(visit, structured_output=verdict or {}, free_form_output=free_form))


def _verdict(node: WorkflowRunEvaluatorNodeConfig, content: str) -> dict[str, Any]:
    try:
        value = json.loads(content)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise EngineError(
            f"evaluator node {node.label}: the verdict is not a JSON object: {content[:200]!r}",
            hint="check structured_output_schema and the model's support for response_format",
        )
    return value


EVALUATION_NODE_HANDLERS = {
    "workflow_run_fetch": run_workflow_run_fetch,
    "workflow_run_evaluator": run_workflow_run_evaluator,
}
"""The evaluator node types, merged into the engine's default handlers."""


# -------------------------------------------------------------------- evaluation runs


def verdict_of(evaluation_run: WorkflowRun) -> dict[str, Any] | None:
    """The evaluation an evaluation run produced: the last structured output of its last turn
    that has one, else the last evaluator's free-form answer as `{"free_form_output": text}`."""
    for pair in reversed(evaluation_run.input_output_pairs):
        run_output = pair.run_output
        if run_output is None:
            continue
        free_form: str | None = None
        for outputs in run_output.thread_to_node_outputs.values():
            for output in reversed(outputs):
                structured = getattr(output, "structured_output", None)
                if structured:
                    return dict(structured)
                text = getattr(output, "free_form_output", None)
                if free_form is None and isinstance(text, str):
                    free_form = text
        if free_form is not None:
            return {"free_form_output": free_form}
    return None


async def run_evaluator(
    engine: Engine,
    source: WorkflowRun,
    evaluator: WorkflowConfigFullyHydrated,
    *,
    evaluator_id: str | None = None,
    version: int | None = None,
    extra_variables: Mapping[str, Any] | None = None,
) -> WorkflowRun:
    """Run `evaluator` once as an evaluation run of `source` (stored in the engine's store)."""
    run_input = WorkflowRunInput(
        command=Command.START,
        version_number=version or 0,
        dynamic_variables={"workflow_run_id": source.workflow_run_id, **(extra_variables or {})},
    )
    return await engine.execute(
        evaluator, run_input, workflow_id=evaluator_id, evaluation_of=source.workflow_run_id
    )


class EvaluationHook:
    """Runs a workflow's configured evaluator: after every turn (`turn_by_turn=True`, when
    `enable_turn_by_turn_evaluation` is set) or when the run completes.

    The engine asks `applies(run)` first, so runs without an evaluator cost nothing (not even
    the extra save after callbacks).
    """

    def __init__(self, engine: Engine, *, turn_by_turn: bool) -> None:
        # Weak: the engine holds its hooks, and that cycle kept each finished scenario's engine
        # (its runs and events) alive until a garbage collection found it, which was most of
        # the collector's time in a long batch.
        self._engine = weakref.ref(engine)
        self.turn_by_turn = turn_by_turn

    @property
    def engine(self) -> Engine:
        """The engine the hook belongs to."""
        engine = self._engine()
        if engine is None:  # only a hook kept past its engine's life gets here
            raise EngineError("the engine of this evaluation hook no longer exists")
        return engine

    def _config(self, run: WorkflowRun) -> EvaluationConfig | None:
        config = run.workflow_config_fully_hydrated
        evaluation = config.settings.evaluation_config if config is not None else None
        if run.is_evaluation_run or evaluation is None or not evaluation.evaluator_workflow_id:
            return None
        if self.turn_by_turn and not evaluation.enable_turn_by_turn_evaluation:
            return None
        return evaluation

    def applies(self, run: WorkflowRun) -> bool:
        """Whether this run has an evaluator for this hook."""
        return self._config(run) is not None and bool(run.input_output_pairs)

    async def __call__(self, run: WorkflowRun) -> None:
        config = self._config(run)
        if config is None or not run.input_output_pairs:
            return
        turn = len(run.input_output_pairs) if self.turn_by_turn else None
        outcome = await self._evaluate(run, config, turn)
        if self.turn_by_turn:
            pair = run.input_output_pairs[-1]
            pair.evaluation = (
                {"error": outcome}
                if isinstance(outcome, str)
                else {
                    **(verdict_of(outcome) or {}),
                    "evaluation_workflow_run_id": outcome.workflow_run_id,
                }
            )
            return
        info: dict[str, Any] = (
            {"error": outcome}
            if isinstance(outcome, str)
            else {
                "evaluation_workflow_run_id": outcome.workflow_run_id,
                "status": outcome.status.value,
                "evaluation": verdict_of(outcome),
            }
        )
        run.evaluation_run_info = EvaluationRunInfo.model_validate(info)

    async def _evaluate(
        self, run: WorkflowRun, config: EvaluationConfig, turn: int | None
    ) -> WorkflowRun | str:
        wanted = config.evaluator_workflow_id or ""
        workflows = self.engine.workflows
        evaluator = workflows.get(wanted) if workflows is not None else None
        if evaluator is None:
            return (
                f"evaluator workflow {wanted} is not known to this engine "
                "(give the engine a WorkflowRegistry that holds it)"
            )
        extra = {} if turn is None else {"evaluated_turn_number": turn}
        try:
            return await run_evaluator(
                self.engine,
                run,
                evaluator,
                evaluator_id=wanted,
                version=config.evaluator_workflow_version_number,
                extra_variables=extra,
            )
        except HarnessError as exc:  # the source run completed; its evaluation failing is data
            return f"evaluator workflow {wanted} could not run: {exc.message}"


def evaluation_hooks(engine: Engine) -> tuple[EvaluationHook, EvaluationHook]:
    """The `(on_turn_completed, on_run_completed)` callbacks that run configured evaluators."""
    return EvaluationHook(engine, turn_by_turn=True), EvaluationHook(engine, turn_by_turn=False)
