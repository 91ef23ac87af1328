"""The node loop of one turn on one thread: run a node, decide its transition, follow it.

Event order of a node run: `start_node_run`, what the node says or does, `end_node_run`,
`workflow_show_state`, then the edge event, the edge's static message and
`workflow_navigation_message` (a self-loop emits only `self_loop_edge`). A `say_llm` response is
held until the transition is known: when a global node wins it is discarded
(`discarded_main_llm`) instead of said. A node that waits for the user parks the thread
(`busy_wait_for_user_message`); its node run continues in a later turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.engine.context import EntryKind, NodeHandler, NodeResult, NodeVisit, TurnContext
from harness.engine.events import NodeScope
from harness.engine.static_messages import pick_static_message
from harness.engine.transitions import Transition, decide
from harness.models.api import EventType, NodeConfig

__all__ = ["run_thread"]

_EDGE_EVENTS: Mapping[str, str] = {
    "direct": EventType.DIRECT_EDGE,
    "conditional": EventType.CONDITIONAL_EDGE,
    "global": EventType.CONDITIONAL_EDGE,
    "reverse": EventType.REVERSE_CONDITIONAL_EDGE,
    "self_loop": EventType.SELF_LOOP_EDGE,
}
_ENTRY: Mapping[str, EntryKind] = {
    "direct": "edge",
    "conditional": "edge",
    "global": "global",
    "reverse": "reverse",
    "self_loop": "self_loop",
}


async def run_thread(
    ctx: TurnContext,
    handlers: Mapping[str, NodeHandler],
    node_id: str,
    entered_by: EntryKind,
    run_id: str | None = None,
) -> bool:
    """Run nodes from `node_id` until the thread parks (False) or ends (True)."""
    thread = ctx.thread
    thread.parked = False
    while True:
        node = ctx.graph.nodes[node_id]
        ctx.count_node_run(node)
        thread.node_logical_id = node_id
        if node.disabled:
            # Skipped silently: no node events, but its edges still lead on.
            scope = NodeScope(node, "")
            transition = await decide(ctx, NodeVisit(node, scope, entered_by), None)
        else:
            if entered_by == "resume" and run_id is not None:
                scope = NodeScope(node, run_id)
            else:
                scope = NodeScope(node, ctx.state.next_node_run_id(node_id))
                ctx.log.start_node_run(scope)
            run_id = None
            visit = NodeVisit(node, scope, entered_by)
            result = await handlers[node.type](ctx, visit)
            if result.parked:
                thread.parked = True
                thread.node_run_id = scope.run_id
                return False
            transition = None if result.failed else await decide(ctx, visit, result)
            _close_node_run(ctx, scope, result, transition)
            if result.failed:
                entered_by = "self_loop"  # stay on the node and wait for the user to repeat
                continue
        if transition is None:
            ctx.log.emit(EventType.END_THREAD, scope)
            thread.ended = True
            return True
        _follow(ctx, node, scope, transition)
        node_id, entered_by = transition.destination, _ENTRY[transition.kind]


def _close_node_run(
    ctx: TurnContext, scope: NodeScope, result: NodeResult, transition: Transition | None
) -> None:
    if result.pending_response is not None:
        if transition is not None and transition.kind == "global":
            ctx.log.emit(
                EventType.DISCARDED_MAIN_LLM,
                scope,
                message=result.pending_response,
                llm_usage_info=result.pending_usage,
                reason=transition.reason,
            )
        else:
            ctx.say(
                scope, result.pending_response, answers=True, llm_usage_info=result.pending_usage
            )
    output = result.output
    ctx.log.end_node_run(scope, output.model_dump(exclude_none=True))
    ctx.outputs.append(output)
    ctx.log.show_state(scope, ctx.runtime)


def _follow(ctx: TurnContext, node: NodeConfig, scope: NodeScope, transition: Transition) -> None:
    thread = ctx.thread
    kind = transition.kind
    if kind == "self_loop":
        streak = thread.self_loop_count if thread.self_loop_node == node.logical_id else 0
        thread.self_loop_node, thread.self_loop_count = node.logical_id, streak + 1
    else:
        thread.self_loop_node, thread.self_loop_count = None, 0
    if kind == "global":
        thread.push_return(node.logical_id)
    elif kind == "reverse" and thread.return_stack:
        thread.return_stack.pop()
    if kind in ("global", "conditional", "reverse"):
        thread.conditional_hops += 1
    extra: dict[str, Any] = {}
    if kind in ("global", "conditional", "reverse"):
        extra["args_filled"] = transition.args_filled or {}
        ctx.runtime.update(transition.args_filled or {})
    if kind == "global":
        extra["is_global_node_transition"] = True
    ctx.log.edge(
        _EDGE_EVENTS[kind],
        scope,
        destination=transition.destination,
        edge_id=transition.edge_id,
        reason=transition.reason,
        **extra,
    )
    if transition.static_messages is not None:
        text = pick_static_message(ctx, transition.static_key, transition.static_messages)
        if text:
            ctx.say_static(scope, text, answers=False, edge_logical_id=transition.edge_id)
    if kind != "self_loop":
        destination = ctx.graph.nodes.get(transition.destination)
        ctx.log.navigation(scope, transition.destination, destination.name if destination else None)
