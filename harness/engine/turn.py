"""The node loop of one turn on one thread: run a node, decide its transition, follow it.

Event order of a node run: `start_node_run`, what the node says or does, `end_node_run`,
`workflow_show_state`, then the edge event, the edge's message and
`workflow_navigation_message` (a self-loop emits only `self_loop_edge`). A `say_llm` response is
held until the transition is known: when a global node wins it is discarded
(`discarded_main_llm`) instead of said. A node that waits for the user parks the thread
(`busy_wait_for_user_message`); its node run continues in a later turn. A node with an enabled
`self_loop_config` runs through `self_loops.py`; a parked node resumed without a new user message
first tries its evaluate-while-waiting edges (`waiting.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any

from harness.engine.companions import fork_companion_threads, run_companion_nodes
from harness.engine.context import EntryKind, NodeHandler, NodeResult, NodeVisit, TurnContext
from harness.engine.edge_messages import say_edge_message
from harness.engine.events import NodeScope
from harness.engine.self_loops import run_bounded_loop
from harness.engine.steps import NodeStep, close_node_run
from harness.engine.transitions import Transition, decide
from harness.engine.waiting import waiting_step
from harness.models.api import EventType, LLMNodeConfig, NodeConfig, NodeOutput

__all__ = ["follow", "run_node", "run_thread"]

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
        step = await run_node(ctx, handlers, node, entered_by, run_id)
        run_id = None
        if step is None:
            return False
        if step.failed:
            entered_by = "self_loop"  # stay on the node and wait for the user to repeat
            continue
        if step.transition is None:
            ctx.log.emit(EventType.END_THREAD, step.scope)
            thread.ended = True
            return True
        await follow(ctx, node, step.scope, step.transition)
        node_id, entered_by = step.transition.destination, _ENTRY[step.transition.kind]


async def run_node(
    ctx: TurnContext,
    handlers: Mapping[str, NodeHandler],
    node: NodeConfig,
    entered_by: EntryKind,
    run_id: str | None = None,
) -> NodeStep | None:
    """Run one node (a bounded self-loop: until it exits) and decide its transition.

    Returns None when the node parked the thread to wait for the user.
    """
    if node.disabled:
        # Skipped silently: no node events, but its edges still lead on.
        scope = NodeScope(node, "")
        return NodeStep(scope, await decide(ctx, NodeVisit(node, scope, entered_by), None), None)
    if entered_by == "resume" and run_id is not None:
        waited = await waiting_step(ctx, node, run_id)
        if waited is not None:
            return waited
    attempt = partial(_attempt, ctx, handlers, node)
    policy = node.bounded_self_loop
    if policy is None:
        return await attempt(entered_by, run_id, 1, None)
    return await run_bounded_loop(ctx, node, policy, attempt, entered_by, run_id)


async def _attempt(
    ctx: TurnContext,
    handlers: Mapping[str, NodeHandler],
    node: NodeConfig,
    entered_by: EntryKind,
    run_id: str | None,
    number: int,
    deadline: datetime | None,
) -> NodeStep | None:
    """One execution of `node`; past `deadline` (a self-loop's expiry) it expires."""
    if entered_by == "resume" and run_id is not None:
        scope = NodeScope(node, run_id)
    else:
        scope = NodeScope(node, ctx.state.next_node_run_id(node.node_id))
        ctx.log.start_node_run(scope)
    visit = NodeVisit(node, scope, entered_by)
    handler = handlers[node.type]
    if deadline is None:  # no self-loop expiry to watch
        result: NodeResult | None = await handler(ctx, visit)
    else:
        result = await _within(handler, ctx, visit, deadline)
    if result is None:
        return _expired(ctx, scope, number)
    if result.parked:
        ctx.thread.parked = True
        ctx.thread.node_run_id = scope.run_id
        return None
    if isinstance(node, LLMNodeConfig):
        ctx.thread.after_reverse = False  # this was the LLM invocation after a reverse edge
    if not result.failed:  # companion edges run beside the node, before its edges are decided
        await run_companion_nodes(ctx, handlers, scope)
    transition = None if result.failed else await decide(ctx, visit, result)
    close_node_run(ctx, scope, result, transition)
    if not result.failed:
        fork_companion_threads(ctx, scope)  # forks leave before the main thread's own edge
    return NodeStep(scope, transition, result, failed=result.failed)


async def _within(
    handler: NodeHandler, ctx: TurnContext, visit: NodeVisit, deadline: datetime
) -> NodeResult | None:
    """Run the node's handler until a self-loop's `deadline`; None: the execution expired."""
    clock = ctx.services.clock
    timeout = asyncio.timeout(max((deadline - clock.now()).total_seconds(), 0.0))
    try:
        async with timeout:
            result = await handler(ctx, visit)
    except TimeoutError:
        if not timeout.expired():
            raise
        return None
    # Under virtual time an execution cannot be cut short: one that ended past the deadline
    # expired all the same.
    return None if clock.now() > deadline else result


def _expired(ctx: TurnContext, scope: NodeScope, number: int) -> NodeStep:
    reason = f"the self-loop's expiry_time elapsed during attempt {number}"
    ctx.log.emit(EventType.NODE_EXPIRED, scope, attempt_number=number, reason=reason)
    output = NodeOutput.model_construct(
        type=scope.node.type,
        node_logical_id=scope.node_id,
        node_run_id=scope.run_id,
        success=False,
        error_message=reason,
    )
    close_node_run(ctx, scope, NodeResult(output), None)
    return NodeStep(scope, None, None, expired=True)


async def follow(
    ctx: TurnContext, node: NodeConfig, scope: NodeScope, transition: Transition
) -> None:
    """Take `transition`: thread bookkeeping, the edge event, its message, the navigation."""
    _track(ctx, node, transition)
    kind = transition.kind
    extra: dict[str, Any] = {}
    if transition.is_conditional:
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
    await say_edge_message(ctx, node, scope, transition)
    if kind != "self_loop":
        destination = ctx.graph.nodes.get(transition.destination)
        ctx.log.navigation(scope, transition.destination, destination.name if destination else None)


def _track(ctx: TurnContext, node: NodeConfig, transition: Transition) -> None:
    thread = ctx.thread
    kind = transition.kind
    if kind == "self_loop":
        streak = thread.self_loop_count if thread.self_loop_node == node.node_id else 0
        thread.self_loop_node, thread.self_loop_count = node.node_id, streak + 1
    else:
        thread.self_loop_node, thread.self_loop_count = None, 0
    if kind == "global":
        thread.push_return(node.node_id)
    elif kind == "reverse":
        if thread.return_stack:
            thread.return_stack.pop()
        thread.after_reverse = ctx.plan.options.no_transition_tools_after_reverse
    if transition.is_conditional:
        thread.conditional_hops += 1
