"""Companions: `companion` edges (a silent node beside its source) and companion threads (forks).

The platform has two unrelated mechanisms with one word (docs/guides/companion_threads.md of the
platform's SDK):

- A **companion edge** (`CompanionEdgeConfig`, `type: companion`) pairs a node (typically a
  `say_llm`) with a silent node (typically a `worker_llm` extracting structured data) that runs
  alongside it in the same turn and on the same thread, so its runtime variables drive the source
  node's conditional edges (example 6 of the platform's curriculum).
- A **companion thread** is forked by a direct edge with `companion_thread_config.is_companion_thread`
  out of a node that has more than one direct edge (a lone direct edge always continues the main
  thread). The fork runs a background thread with the internal id `<parent>_companion_<thread_id>`
  (a uuid when `thread_id` is unset), its own runtime variables, and events carrying that id.

The platform runs both concurrently; the engine runs them in a fixed order so that replays repeat
(rules marked *chosen* in docs/engine.md):

- a companion edge's node runs right after each execution of its source node (one that neither
  parked nor failed), before the source's transition is decided, in edge config order: event
  `companion_edge` from the source, then the companion node's run on the same thread;
- a fork emits `companion_edge` after its source node's run, before the main thread's own edge;
  the forked threads run, in fork order, once the main thread has settled (parked or ended) and
  before `end_workflow_iteration`: `start_thread`, the thread's node runs, `end_thread`, then
  `companion_step_boundary{still_active: false}` (each bounded self-loop step of a companion's
  node is a boundary too). They always run to the end within the turn, so
  `workflow_ready_for_input.active_companion_thread_ids` is empty and an execute response never
  has background work left to pump.

Cross-thread variables: `[[thread_0.x]]` reads the main thread's runtime variables and
`[[thread_<thread_id>.x]]` a named companion's (see `ThreadVariables`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from harness.engine.companion_graph import (
    COMPANION_THREAD_DELIMITER,
    MAIN_THREAD_ID,
    CompanionIndex,
    configured_thread_id,
    internal_thread_id,
    thread_reference_id,
)
from harness.engine.context import NodeHandler, NodeVisit, TurnContext
from harness.engine.events import NodeScope, new_logical_id
from harness.engine.state import RunState, ThreadState
from harness.engine.steps import close_node_run
from harness.errors import EngineError
from harness.models.api import EdgeConfig, EventType, NodeConfig

__all__ = [
    "COMPANION_THREAD_DELIMITER",
    "MAIN_THREAD_ID",
    "ThreadRunner",
    "ThreadVariables",
    "active_companion_thread_ids",
    "attach_thread_variables",
    "companion_step_boundary",
    "fork_companion_threads",
    "has_active_companions",
    "run_companion_nodes",
    "run_companion_threads",
]

_THREAD_PREFIX = "thread_"

ThreadRunner = Callable[[TurnContext, Mapping[str, NodeHandler], str, Any], Awaitable[bool]]
"""`turn.run_thread`, injected (this module sits below `turn.py`, which calls into it)."""


def _destination(edge: EdgeConfig) -> str:
    return edge.destination_node_logical_id or ""


def _node_name(node: NodeConfig) -> str:
    return f"node {node.label!r}"


# ------------------------------------------------------------------ cross-thread variables


class ThreadVariables(dict[str, Any]):
    """A thread's runtime variables that also resolve `thread_<id>` to another thread's.

    Only `get` looks across threads: it is what the dotted-path lookup of `[[thread_0.x]]` (in
    substitution and expressions) uses for the first step, while iteration, dumps and
    `workflow_show_state` see the thread's own keys only.
    """

    def __init__(self, data: Mapping[str, Any], state: RunState) -> None:
        super().__init__(data)
        self.state = state

    def get(self, key: str, default: Any = None) -> Any:
        if key in self:
            return self[key]
        if key.startswith(_THREAD_PREFIX):
            found = _thread_variables(self.state, key.removeprefix(_THREAD_PREFIX))
            if found is not None:
                return found
        return default


def _thread_variables(state: RunState, reference: str) -> dict[str, Any] | None:
    if reference == MAIN_THREAD_ID:
        return state.runtime_variables
    for thread_id, thread in state.threads.items():
        if thread_id != MAIN_THREAD_ID and thread_reference_id(thread_id) == reference:
            return thread.runtime_variables
    return None


def attach_thread_variables(state: RunState) -> None:
    """Let every thread's variables resolve `thread_<id>` (a no-op for runs without forks)."""
    if len(state.threads) <= 1 or isinstance(state.runtime_variables, ThreadVariables):
        return
    state.runtime_variables = ThreadVariables(state.runtime_variables, state)
    for thread_id, thread in state.threads.items():
        if thread_id != MAIN_THREAD_ID and thread.runtime_variables is not None:
            thread.runtime_variables = ThreadVariables(thread.runtime_variables, state)


# ------------------------------------------------------------------ companion edges


async def run_companion_nodes(
    ctx: TurnContext, handlers: Mapping[str, NodeHandler], source: NodeScope
) -> None:
    """Run the nodes of `source`'s companion edges, once each, in edge order."""
    index: CompanionIndex = ctx.graph.companion_index
    for edge in index.companions_of(source.node_id):
        node = ctx.graph.nodes[_destination(edge)]
        ctx.log.edge(
            EventType.COMPANION_EDGE,
            source,
            destination=node.logical_id or "",
            edge_id=edge.logical_id,
            reason="companion edge: runs beside its source node",
        )
        if node.disabled:
            continue  # like any disabled node: passed through without node events
        await _run_companion_node(ctx, handlers, node)


async def _run_companion_node(
    ctx: TurnContext, handlers: Mapping[str, NodeHandler], node: NodeConfig
) -> None:
    node_id = node.logical_id or ""
    ctx.count_node_run(node)
    scope = NodeScope(node, ctx.state.next_node_run_id(node_id))
    ctx.log.start_node_run(scope)
    result = await handlers[node.type](ctx, NodeVisit(node, scope, "companion"))
    if result.parked:  # validation refuses waiting companions; a handler may still decline
        raise EngineError(
            f"companion {_node_name(node)} waited for a user message inside its source's turn",
            hint="set wait_for_user_message: false on the companion node",
        )
    close_node_run(ctx, scope, result, None)  # its own edges are never followed


# ------------------------------------------------------------------ companion threads


def fork_companion_threads(ctx: TurnContext, source: NodeScope) -> None:
    """Emit `companion_edge` for each fork out of `source` and queue its thread for this turn."""
    index: CompanionIndex = ctx.graph.companion_index
    for edge in index.forks_of(source.node_id):
        configured = configured_thread_id(edge) or new_logical_id("thread", ctx.rng)[7:]
        thread_id = internal_thread_id(ctx.thread_id, configured)
        ctx.log.edge(
            EventType.COMPANION_EDGE,
            source,
            destination=_destination(edge),
            edge_id=edge.logical_id,
            reason=f"companion thread {thread_reference_id(thread_id)} forked",
        )
        # A re-fork replaces the thread of that id (the platform's threads collide the same way).
        ctx.state.threads[thread_id] = ThreadState(
            node_logical_id=_destination(edge),
            history=list(ctx.thread.history),
            runtime_variables=dict(ctx.runtime),
            parent_thread_id=ctx.thread_id,
        )
    if index.forks_of(source.node_id):
        attach_thread_variables(ctx.state)


def has_active_companions(state: RunState) -> bool:
    """Whether a companion thread has work left (never, after a turn of this engine)."""
    return bool(active_companion_thread_ids(state))


def active_companion_thread_ids(state: RunState) -> list[str]:
    """Internal ids of companion threads that have not ended, in fork order."""
    return [
        thread_id
        for thread_id, thread in state.threads.items()
        if thread_id != MAIN_THREAD_ID and not thread.ended
    ]


async def run_companion_threads(
    ctx: TurnContext, handlers: Mapping[str, NodeHandler], run_thread: ThreadRunner
) -> None:
    """Run every queued companion thread to its end, in fork order (threads may fork none)."""
    for thread_id in active_companion_thread_ids(ctx.state):
        await _run_companion_thread(ctx, handlers, run_thread, thread_id)


async def _run_companion_thread(
    ctx: TurnContext,
    handlers: Mapping[str, NodeHandler],
    run_thread: ThreadRunner,
    thread_id: str,
) -> None:
    thread = ctx.state.threads[thread_id]
    sub = _thread_context(ctx, thread_id, thread)
    sub.log.emit(EventType.START_THREAD)
    ended = await run_thread(sub, handlers, thread.node_logical_id or "", "edge")
    ctx.node_runs = sub.node_runs  # one cap per turn, companions included
    if not ended:
        node = ctx.graph.nodes[thread.node_logical_id or ""]
        raise EngineError(
            f"companion thread {thread_reference_id(thread_id)} parked at {_node_name(node)}, "
            "waiting for a user message; companions never receive user messages",
            hint="give the node an edge onward, or set self_loop: false on it (a bounded "
            "self_loop_config is fine)",
        )
    sub.log.emit(
        EventType.COMPANION_STEP_BOUNDARY, companion_thread_id=thread_id, still_active=False
    )


def companion_step_boundary(ctx: TurnContext, attempts: int, deadline: datetime | None) -> None:
    """After a bounded self-loop step of a companion thread's node (no-op on the main thread)."""
    if ctx.thread_id == MAIN_THREAD_ID:
        return
    ctx.log.emit(
        EventType.COMPANION_STEP_BOUNDARY,
        companion_thread_id=ctx.thread_id,
        attempts_completed=attempts,
        deadline_epoch=deadline.timestamp() if deadline is not None else None,
        still_active=True,
    )


def _thread_context(ctx: TurnContext, thread_id: str, thread: ThreadState) -> TurnContext:
    log = ctx.log.for_thread(thread_id)  # one event list per turn, whatever the thread
    # The thread's node outputs sit beside thread "0"'s in this turn's run output.
    outputs: list[Any] = []
    run_output = ctx.run.input_output_pairs[-1].run_output
    if run_output is not None:
        run_output.thread_to_node_outputs[thread_id] = outputs
    if thread.runtime_variables is None:
        thread.runtime_variables = ThreadVariables({}, ctx.state)
    return replace(
        ctx,
        thread=thread,
        thread_id=thread_id,
        log=log,
        outputs=outputs,
        variables=thread.runtime_variables,
    )
