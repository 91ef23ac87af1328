"""Evaluate-while-waiting (`evaluate_while_waiting_config` on conditional edges).

When a parked node is resumed without a user message it has not read, its enabled waiting edges
are evaluated first, in transition order: the first whose `condition_expression` holds is taken
with no user message (`waiting_condition_matched{condition_expression,
hydrated_condition_expression, trigger_mode, transitions_this_wait}`, the parked node run's
`end_node_run`, then the usual `conditional_edge`). Each edge fires at most
`max_transitions_per_wait` times per wait (reset by a user message).

What the engine does not do (it has no companion threads or background pump yet): evaluations
are not armed by trigger nodes or background ticks; they happen when a turn resumes the parked
node (e.g. a `data` turn carrying only variables, or a `resume`), and `trigger_mode`,
`trigger_node_logical_ids` and `min_seconds_between_evaluations` are checked at load but not
used to schedule anything. `waiting_step` is the hook a background pump would call.
"""

from __future__ import annotations

from harness.engine.context import Candidate, NodeResult, TurnContext
from harness.engine.events import NodeScope
from harness.engine.expressions import evaluate_expression
from harness.engine.steps import NodeStep, close_node_run
from harness.engine.transitions import fire
from harness.engine.variables import substitute
from harness.models.api import ConditionalEdgeConfig, EventType, NodeConfig, NodeOutput

__all__ = ["waiting_step"]


async def waiting_step(ctx: TurnContext, node: NodeConfig, run_id: str) -> NodeStep | None:
    """The waiting edge that fires for the parked `node` now, or None (the node runs as usual)."""
    if ctx.thread.has_unread(node.node_id):
        return None
    for edge in ctx.graph.outgoing(node.node_id):
        if not isinstance(edge, ConditionalEdgeConfig) or not edge.evaluates_while_waiting:
            continue
        if _holds(ctx, edge):
            return _take(ctx, node, edge, NodeScope(node, run_id))
    return None


def _holds(ctx: TurnContext, edge: ConditionalEdgeConfig) -> bool:
    config = edge.evaluate_while_waiting_config
    expression = edge.condition.condition_expression if edge.condition else None
    if config is None or not expression:
        return False
    if ctx.thread.waiting_transitions >= config.max_transitions_per_wait:
        return False
    return evaluate_expression(expression, ctx.dynamic, ctx.runtime)


def _take(
    ctx: TurnContext, node: NodeConfig, edge: ConditionalEdgeConfig, scope: NodeScope
) -> NodeStep:
    assert edge.condition is not None and edge.evaluate_while_waiting_config is not None
    expression = edge.condition.condition_expression or ""
    ctx.thread.waiting_transitions += 1
    ctx.log.edge(
        EventType.WAITING_CONDITION_MATCHED,
        scope,
        destination=edge.destination,
        edge_id=edge.logical_id,
        reason=f"condition expression holds while waiting: {expression}",
        condition_expression=expression,
        hydrated_condition_expression=substitute(expression, ctx.dynamic, ctx.runtime),
        trigger_mode=edge.evaluate_while_waiting_config.trigger_mode.value,
        transitions_this_wait=ctx.thread.waiting_transitions,
    )
    output = NodeOutput.model_construct(
        type=node.type, node_logical_id=node.node_id, node_run_id=scope.run_id
    )
    close_node_run(ctx, scope, NodeResult(output), None)
    label = edge.name or edge.destination
    candidate = Candidate("conditional", edge.destination, edge.condition, edge, label)
    reason = f"condition expression holds while waiting: {expression}"
    return NodeStep(scope, fire(ctx, candidate, reason, None), None)
