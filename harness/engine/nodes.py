"""Node handlers, in a registry keyed by node type.

A handler is `async (ctx, visit) -> NodeResult`. The engine starts with `DEFAULT_NODE_HANDLERS`
and takes more through `Engine(node_handlers=...)` or `Engine.register_node_handler`, so that
later work can add node types. A workflow whose node type has no handler is refused when it is
loaded, naming the node.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.engine._construct import construct
from harness.engine.context import NodeHandler, NodeResult, NodeVisit, TurnContext
from harness.engine.evaluation_nodes import EVALUATION_NODE_HANDLERS
from harness.engine.llm_nodes import run_llm_node
from harness.engine.static_messages import pick_static_message
from harness.engine.tool_nodes import run_http_request_node, run_tool_node
from harness.models.api import (
    NodeOutput,
    NoOpNodeConfig,
    SayStaticNodeConfig,
)

__all__ = [
    "DEFAULT_NODE_HANDLERS",
    "SIMULATED_FAILURE",
    "run_http_request_node",
    "run_no_op",
    "run_say_static",
    "run_tool_node",
]

SIMULATED_FAILURE = "simulated failure (simulate_failure is set on this no_op node)"


def _output(visit: NodeVisit) -> NodeOutput:
    return construct(
        NodeOutput,
        type=visit.node.type,
        node_logical_id=visit.node.node_id,
        node_run_id=visit.scope.run_id,
    )


async def run_no_op(ctx: TurnContext, visit: NodeVisit) -> NodeResult:
    """Succeeds (or, with `simulate_failure`, reports failure) after `delay_seconds`.

    Writes `[[<output_runtime_variable_name>]]` = None and `[[<name>_success]]` = the outcome, so
    edges can branch on it; `simulate_failure` never aborts the run. The delay goes through the
    engine's injected `sleep`.
    """
    node = visit.node
    assert isinstance(node, NoOpNodeConfig)
    if node.delay_seconds:
        await ctx.services.sleep(node.delay_seconds)
    success = not node.simulate_failure
    name = node.output_runtime_variable_name
    if name:
        ctx.runtime[name] = None
        ctx.runtime[f"{name}_success"] = success
    output = _output(visit)
    output.success = success
    if not success:
        output.error_message = SIMULATED_FAILURE
    return NodeResult(output)


async def run_say_static(ctx: TurnContext, visit: NodeVisit) -> NodeResult:
    """Says one of the node's static messages (random, or the next in sequence), at once."""
    node = visit.node
    assert isinstance(node, SayStaticNodeConfig)
    ctx.thread.consumed[node.node_id] = ctx.thread.user_message_count
    config = node.static_messages_config
    text = pick_static_message(ctx, node.node_id, config) if config is not None else None
    if text is not None:
        ctx.say_static(visit.scope, text, answers=True)
    return NodeResult(_output(visit))


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
