"""Node handlers, in a registry keyed by node type.

A handler is `async (ctx, visit) -> NodeResult`. The engine starts with `DEFAULT_NODE_HANDLERS`
and takes more through `Engine(node_handlers=...)` or `Engine.register_node_handler`, so that
later work can add node types (e.g. `workflow_run_fetch`, `workflow_run_evaluator`). A workflow
whose node type has no handler is refused when it is loaded, naming the node.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.engine.context import NodeHandler, NodeResult, NodeVisit, TurnContext
from harness.engine.evaluation_nodes import EVALUATION_NODE_HANDLERS
from harness.engine.llm_nodes import is_ready, run_llm_node
from harness.engine.static_messages import pick_static_message
from harness.engine.tool_calls import ToolTarget, record_outcome, run_target
from harness.engine.tools import run_http_request
from harness.engine.variables import substitute_value
from harness.errors import EngineError
from harness.models.api import (
    EventType,
    HttpRequestNodeConfig,
    NodeOutput,
    SayStaticNodeConfig,
    ToolNodeConfig,
)

__all__ = [
    "DEFAULT_NODE_HANDLERS",
    "run_http_request_node",
    "run_no_op",
    "run_say_static",
    "run_tool_node",
]


def _output(visit: NodeVisit) -> NodeOutput:
    return NodeOutput.model_construct(
        type=visit.node.type, node_logical_id=visit.node.logical_id, node_run_id=visit.scope.run_id
    )


async def run_no_op(ctx: TurnContext, visit: NodeVisit) -> NodeResult:
    """Does nothing; its edges are followed."""
    return NodeResult(_output(visit))


async def run_say_static(ctx: TurnContext, visit: NodeVisit) -> NodeResult:
    """Says one of the node's static messages (random, or the next in sequence)."""
    node = visit.node
    assert isinstance(node, SayStaticNodeConfig)
    output = _output(visit)
    if not is_ready(ctx, node.logical_id, node.wait_for_user_message, visit.entered_by):
        ctx.log.busy_wait(visit.scope)
        return NodeResult(output, parked=True)
    ctx.thread.consumed[node.logical_id] = ctx.thread.user_message_count
    text = pick_static_message(ctx, node.logical_id, node.static_messages_config)
    if text is not None:
        ctx.say_static(visit.scope, text, answers=True)
    return NodeResult(output)


async def run_tool_node(ctx: TurnContext, visit: NodeVisit) -> NodeResult:
    """Calls its tool with `tool_arguments` (variables substituted)."""
    node = visit.node
    assert isinstance(node, ToolNodeConfig)
    tool = node.tool or (ctx.graph.find_tool(node.tool_name) if node.tool_name else None)
    if tool is None:
        raise EngineError(
            f"tool node {node.label} names no tool the workflow defines ({node.tool_name!r})",
            hint="set `tool`, or `tool_name` to a tool of workflow_config.tools_config",
        )
    arguments = substitute_value(node.tool_arguments, ctx.dynamic, ctx.runtime)
    outcome = await run_target(ctx, visit.scope, ToolTarget(tool.name, tool=tool), arguments, None)
    output = _output(visit)
    output.success = outcome.success
    output.tool_result = outcome.result
    output.error_message = outcome.error
    return NodeResult(output)


async def run_http_request_node(ctx: TurnContext, visit: NodeVisit) -> NodeResult:
    """Sends its HTTP request; the answer lands in `[[result_runtime_variable_name]]`."""
    node = visit.node
    assert isinstance(node, HttpRequestNodeConfig)
    ctx.log.emit(EventType.TOOL_CALL, visit.scope, tool_name=node.type, url=node.url)
    outcome = await run_http_request(ctx.services.http, node, ctx.dynamic, ctx.runtime)
    ctx.log.emit(
        EventType.TOOL_RESULT,
        visit.scope,
        tool_name=node.type,
        success=outcome.success,
        result=outcome.result,
        error_message=outcome.error,
        duration_ms=outcome.duration_ms,
    )
    record_outcome(ctx, node.result_runtime_variable_name, outcome)
    output = _output(visit)
    output.success = outcome.success
    output.tool_result = outcome.result
    output.error_message = outcome.error
    return NodeResult(output)


DEFAULT_NODE_HANDLERS: Mapping[str, NodeHandler] = {
    "say_llm": run_llm_node,
    "worker_llm": run_llm_node,
    "say_static": run_say_static,
    "no_op": run_no_op,
    "tool_node": run_tool_node,
    "http_request": run_http_request_node,
    **EVALUATION_NODE_HANDLERS,
}
"""The node types the engine runs out of the box."""
