"""Bounded self-loops (`self_loop_config`, any node type): run a node again until it exits.

After each execution the node's transitions are decided as usual; a conditional transition
(a conditional edge, a global node, the reverse edge) is the loop's exit. Otherwise the node runs
again (`self_loop_edge`, entry `retry`: it does not wait for the user), after
`time_between_retries` seconds (`self_loop_delay{delay_seconds, attempt_number}`, waited through
the engine's injected `sleep`), until `max_retries` re-executions happened or `expiry_time`
seconds passed since the first attempt. An execution still running at the deadline expires
(`node_expired{attempt_number, reason}`). A loop that stops on a bound sets
`[[self_loop_outcome]]` to `max_retries` or `expiry_time`, emits
`self_loop_exhausted{outcome, total_attempts}` (then `workflow_show_state`), and decides the node's transitions once more, so
an edge on `[[self_loop_outcome]]` leads on; with none the thread takes the direct edge or ends.
`[[self_loop_outcome]]` is cleared when a loop starts. Retries do not count towards the per-turn
node execution cap: the loop is bounded by itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Literal

from harness.engine.companions import companion_step_boundary
from harness.engine.context import EntryKind, NodeVisit, TurnContext
from harness.engine.events import NodeScope
from harness.engine.steps import NodeStep
from harness.engine.transitions import decide
from harness.models.api import EventType, NodeConfig, SelfLoopConfig

__all__ = ["OUTCOME_VARIABLE", "Attempt", "run_bounded_loop"]

OUTCOME_VARIABLE = "self_loop_outcome"
Outcome = Literal["max_retries", "expiry_time"]
Attempt = Callable[[EntryKind, str | None, int, datetime | None], Awaitable[NodeStep | None]]
"""Runs one execution: (entered by, parked run id, attempt number, deadline) -> its step."""


async def run_bounded_loop(
    ctx: TurnContext,
    node: NodeConfig,
    policy: SelfLoopConfig,
    attempt: Attempt,
    entered_by: EntryKind,
    run_id: str | None,
) -> NodeStep | None:
    """Run `node` under `policy` until an exit or a bound; None when an execution parked."""
    clock = ctx.services.clock
    expiry = policy.expiry_time
    deadline = clock.now() + timedelta(seconds=expiry) if expiry is not None else None
    ctx.runtime.pop(OUTCOME_VARIABLE, None)
    number = 1
    while True:
        step = await attempt(entered_by, run_id, number, deadline)
        if step is None:
            return None
        if not step.expired and step.transition is not None and step.transition.is_conditional:
            return step
        outcome = "expiry_time" if step.expired else _bound(ctx, policy, number, deadline)
        if outcome is None and policy.time_between_retries > 0:
            outcome = await _delay(ctx, step.scope, policy.time_between_retries, number, deadline)
        if outcome is not None:
            return await _exhausted(ctx, node, step, outcome, number)
        companion_step_boundary(ctx, number, deadline)  # a companion thread's step: a checkpoint
        ctx.log.edge(
            EventType.SELF_LOOP_EDGE,
            step.scope,
            destination=node.node_id,
            edge_id=None,
            reason=f"no exit edge matched: bounded self-loop attempt {number + 1}",
        )
        number += 1
        entered_by, run_id = "retry", None


def _bound(
    ctx: TurnContext, policy: SelfLoopConfig, attempts: int, deadline: datetime | None
) -> Outcome | None:
    if policy.max_retries is not None and attempts > policy.max_retries:
        return "max_retries"
    if deadline is not None and ctx.services.clock.now() >= deadline:
        return "expiry_time"
    return None


async def _delay(
    ctx: TurnContext, scope: NodeScope, seconds: int, attempts: int, deadline: datetime | None
) -> Outcome | None:
    ctx.log.edge(
        EventType.SELF_LOOP_DELAY,
        scope,
        destination=scope.node_id,
        edge_id=None,
        reason=f"waiting {seconds}s before attempt {attempts + 1}",
        delay_seconds=float(seconds),
        attempt_number=attempts + 1,
    )
    if deadline is not None:
        remaining = (deadline - ctx.services.clock.now()).total_seconds()
        if remaining <= seconds:
            await ctx.services.sleep(max(remaining, 0.0))  # the budget runs out while waiting
            return "expiry_time"
    await ctx.services.sleep(float(seconds))
    return None


async def _exhausted(
    ctx: TurnContext, node: NodeConfig, step: NodeStep, outcome: Outcome, attempts: int
) -> NodeStep:
    ctx.runtime[OUTCOME_VARIABLE] = outcome
    ctx.log.edge(
        EventType.SELF_LOOP_EXHAUSTED,
        step.scope,
        destination=node.node_id,
        edge_id=None,
        reason=f"bounded self-loop stopped on {outcome} after {attempts} attempt(s)",
        outcome=outcome,
        total_attempts=attempts,
    )
    ctx.log.show_state(step.scope, ctx.runtime)  # the outcome variable is new state
    # Decided again now that [[self_loop_outcome]] is set. A failed or expired execution has no
    # result worth judging: only expressions and the direct edge can lead on from it.
    result = None if step.failed or step.expired else step.result
    visit = NodeVisit(node, step.scope, "retry")
    return NodeStep(step.scope, await decide(ctx, visit, result), step.result)
