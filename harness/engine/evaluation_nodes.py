"""Evaluator workflows: `workflow_run_fetch` and `workflow_run_evaluator` nodes, and the hooks
that run a workflow's evaluator when a run completes (PLATFORM.md §2 and §5.7).

Rules *(chosen where the platform is silent)*:
- `workflow_run_fetch` substitutes its `workflow_run_id` (default `{{workflow_run_id}}`), loads the
  run through the engine's store and writes it, without its hydrated config, as JSON data to
  `[[result_runtime_variable_name]]` (default `workflow_run_object`), with `_success`/`_error`.
  A run that is not found fails the evaluation run (nothing to evaluate is a misconfiguration).
- `workflow_run_evaluator` never waits and never loops: it renders the fetched run as a compact
  transcript (a user message after the node's system prompt), makes one LLM call with
  `response_format` from `structured_output_schema` (default: `{passed, score, reasoning}`), and
  writes the verdict's keys as runtime variables and as the node's `structured_output` (event
  `worker_llm`). A failed call or a verdict that is not a JSON object fails the evaluation run.
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
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.engine.context import NodeResult, NodeVisit, TurnContext
from harness.engine.llm import ChatRequest, LLMCallError
from harness.engine.llm_config import effective_llm, request_options
from harness.engine.llm_nodes import system_prompt
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
    "DEFAULT_VERDICT_SCHEMA",
    "EVALUATION_NODE_HANDLERS",
    "EvaluationHook",
    "evaluation_hooks",
    "render_run",
    "run_evaluator",
    "run_workflow_run_evaluator",
    "run_workflow_run_fetch",
    "verdict_of",
]

DEFAULT_VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "passed": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "reasoning": {"type": "string"},
    },
    "required": ["passed", "score", "reasoning"],
    "additionalProperties": False,
}
"""The verdict an evaluator node writes when its `structured_output_schema` has none."""

_TEXT_LIMIT = 600  # characters of one message in the transcript: enough to judge, not a dump


def _output(visit: NodeVisit) -> NodeOutput:
    return NodeOutput.model_construct(
        type=visit.node.type, node_logical_id=visit.node.logical_id, node_run_id=visit.scope.run_id
    )


# -------------------------------------------------------------------- workflow_run_fetch


async def run_workflow_run_fetch(ctx: TurnContext, visit: NodeVisit) -> NodeResult:
    """Load the run named by the node's `workflow_run_id` into a runtime variable."""
    node = visit.node
    assert isinstance(node, WorkflowRunFetchNodeConfig)
    run_id = substitute(node.workflow_run_id, ctx.dynamic, ctx.runtime).strip()
    name = node.result_runtime_variable_name
    ctx.log.emit(EventType.TOOL_CALL, visit.scope, tool_name=node.type, workflow_run_id=run_id)
    fetched = await ctx.services.load_run(run_id) if run_id else None
    if fetched is None:
        raise EngineError(
            f"workflow_run_fetch node {node.label}: no workflow run {run_id!r} in the engine's "
            "store",
            hint="pass the run id as the dynamic variable `workflow_run_id` (or set the node's "
            "workflow_run_id) and run the evaluator on the engine that holds the run",
        )
    data = fetched.model_dump(mode="json", exclude={"workflow_config_fully_hydrated"})
    ctx.runtime.update({name: data, f"{name}_success": True, f"{name}_error": None})
    summary = {"workflow_run_id": fetched.workflow_run_id, "status": fetched.status.value}
    ctx.log.emit(
        EventType.TOOL_RESULT, visit.scope, tool_name=node.type, success=True, result=summary
    )
    output = _output(visit)
    output.success = True
    output.tool_result = summary
    return NodeResult(output)


# -------------------------------------------------------------------- workflow_run_evaluator


async def run_workflow_run_evaluator(ctx: TurnContext, visit: NodeVisit) -> NodeResult:
    """Judge the fetched run with one structured LLM call; never waits, never loops."""
    node = visit.node
    assert isinstance(node, WorkflowRunEvaluatorNodeConfig)
    if visit.entered_by == "self_loop":
        raise EngineError(
            f"workflow_run_evaluator node {node.label} looped on itself; an evaluator judges once",
            hint="set `self_loop: false` on the node and give it an edge onward (or none)",
        )
    variable = str(node.miscellaneous.get("workflow_run_variable", "workflow_run_object"))
    fetched = ctx.runtime.get(variable)
    if not isinstance(fetched, Mapping):
        raise EngineError(
            f"workflow_run_evaluator node {node.label}: no fetched run in [[{variable}]]",
            hint="put a workflow_run_fetch node before the evaluator",
        )
    schema = node.structured_output_schema
    json_schema = schema.input_schema if schema is not None and schema.input_schema else None
    verdict_name = (schema.name if schema is not None else None) or "evaluation"
    prompt = system_prompt(ctx, node) or "Evaluate the workflow run below."
    turn = ctx.dynamic.get("evaluated_turn_number")
    focus = f"\n\nJudge turn {turn} (the last one)." if turn is not None else ""
    llm = effective_llm(ctx.plan.workflow, node)
    request = ChatRequest.model_construct(
        messages=[
            {"role": "system", "content": prompt},
            {"role": "user", "content": f"{render_run(fetched)}{focus}"},
        ],
        tools=None,
        tool_choice=None,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": verdict_name, "schema": json_schema or DEFAULT_VERDICT_SCHEMA},
        },
        **request_options(llm),
    )
    try:
        response = await ctx.services.llm.complete(
            request,
            provider=llm.provider,
            context={"node_logical_id": node.logical_id, "purpose": "evaluation"},
        )
    except LLMCallError as exc:
        raise EngineError(f"evaluator node {node.label}: {exc.message}", hint=exc.hint) from exc
    usage = ctx.record_llm(response)
    verdict = _verdict(node, response.content or "")
    ctx.runtime.update(verdict)
    ctx.log.emit(
        EventType.WORKER_LLM,
        visit.scope,
        message=response.content or "",
        llm_usage_info=usage,
        structured_output=verdict,
    )
    output = _output(visit)
    output.structured_output = verdict
    return NodeResult(output)


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


def render_run(data: Mapping[str, Any]) -> str:
    """A fetched run (`WorkflowRun` as JSON data) as a compact transcript for an LLM judge."""
    lines = [
        # No run or workflow ids: they differ between the engine and the platform, and a judge's
        # prompt must be the same on both so one recording replays for either backend.
        f"Workflow run: status {data.get('status')}"
        + (
            f", terminated by {data['termination_source']}"
            if data.get("termination_source")
            else ""
        )
    ]
    for number, pair in enumerate(data.get("input_output_pairs") or [], start=1):
        run_input = pair.get("run_input") or {}
        lines.append(f"Turn {number} ({run_input.get('command', 'start')}):")
        events = (pair.get("run_output") or {}).get("events") or []
        lines.extend(f"  {line}" for e in events if isinstance(e, dict) for line in _line(e))
    runtime = _final_runtime(data)
    if runtime:
        lines.append(f"Runtime variables at the end: {_clip(json.dumps(runtime, default=str))}")
    return "\n".join(lines)


def _line(event: Mapping[str, Any]) -> list[str]:
    kind = event.get("type")
    node = event.get("origin_node_name") or event.get("origin_node_logical_id")
    if kind == EventType.USER_MESSAGES:
        return [f"user: {_clip(_message_text(m))}" for m in event.get("messages") or []]
    if kind == EventType.ASSISTANT_RESPONSE:
        return [f"assistant [{node}]: {_clip(str(event.get('content')))}"]
    if kind == EventType.TOOL_CALL:
        args = json.dumps(event.get("arguments"), default=str)
        return [f"tool call [{node}]: {event.get('tool_name')}({_clip(args)})"]
    if kind == EventType.TOOL_RESULT:
        result = event.get("result") if event.get("success") else event.get("error_message")
        state = "ok" if event.get("success") else "error"
        return [f"tool result ({state}): {_clip(json.dumps(result, default=str))}"]
    if kind in (
        EventType.CONDITIONAL_EDGE,
        EventType.DIRECT_EDGE,
        EventType.REVERSE_CONDITIONAL_EDGE,
    ):
        return [
            f"{kind}: {event.get('source_node_logical_id')} -> "
            f"{event.get('destination_node_logical_id')}"
        ]
    if kind == EventType.WORKER_LLM and event.get("structured_output"):
        return [f"extracted [{node}]: {_clip(json.dumps(event['structured_output']))}"]
    if kind == EventType.WORKFLOW_ERROR:
        return [f"error: {_clip(str(event.get('error_message')))}"]
    return []


def _message_text(message: Any) -> str:
    if isinstance(message, Mapping):
        return str(message.get("content"))
    return str(message)


def _final_runtime(data: Mapping[str, Any]) -> Any:
    for pair in reversed(data.get("input_output_pairs") or []):
        for event in reversed((pair.get("run_output") or {}).get("events") or []):
            if isinstance(event, dict) and event.get("type") == EventType.WORKFLOW_SHOW_STATE:
                return event.get("runtime_variables")
    return None


def _clip(text: str) -> str:
    return text if len(text) <= _TEXT_LIMIT else f"{text[:_TEXT_LIMIT]}..."


EVALUATION_NODE_HANDLERS = {
    "workflow_run_fetch": run_workflow_run_fetch,
    "workflow_run_evaluator": run_workflow_run_evaluator,
}
"""The evaluator node types, merged into the engine's default handlers."""


# -------------------------------------------------------------------- evaluation runs


def verdict_of(evaluation_run: WorkflowRun) -> dict[str, Any] | None:
    """The evaluation an evaluation run produced: the last structured output of its last turn."""
    for pair in reversed(evaluation_run.input_output_pairs):
        for outputs in pair.run_output.thread_to_node_outputs.values():
            for output in reversed(outputs):
                if output.structured_output:
                    return dict(output.structured_output)
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
        self.engine = engine
        self.turn_by_turn = turn_by_turn

    def _config(self, run: WorkflowRun) -> EvaluationConfig | None:
        config = run.workflow_config_fully_hydrated
        evaluation = config.workflow_config.evaluation_config if config is not None else None
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
