"""One node execution's outcome, and how a node run is closed (shared by the node loop, bounded
self-loops and evaluate-while-waiting)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.engine.context import NodeResult, TurnContext
from harness.engine.events import NodeScope
from harness.engine.secrets import redact_value
from harness.engine.transitions import Transition
from harness.models.api import EventType, NodeRunOutput

__all__ = ["NodeStep", "close_node_run"]


@dataclass(slots=True)
class NodeStep:
    """A node run that finished: where it ran, the transition out (None: the thread ends).

    `result` is None for a disabled node, an expired execution or a waiting edge that fired.
    `failed`: the node's LLM call failed (it stays to wait for the user); `expired`: a bounded
    self-loop's `expiry_time` cut the execution short.
    """

    scope: NodeScope
    transition: Transition | None
    result: NodeResult | None
    failed: bool = False
    expired: bool = False


def close_node_run(
    ctx: TurnContext, scope: NodeScope, result: NodeResult, transition: Transition | None
) -> None:
    """Say (or discard) the held response, then `end_node_run` and `workflow_show_state`.

    The node's output joins the turn's outputs in the platform's typed shape.
    """
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
    typed = result.output.to_run_output()  # the platform's output, built once for both uses
    ctx.log.end_node_run(scope, typed)
    ctx.outputs.append(_masked(typed, ctx.log.secrets))
    ctx.log.show_state(scope, ctx.runtime)


def _masked(output: NodeRunOutput, secrets: tuple[str, ...]) -> NodeRunOutput:
    """The output as the run keeps it: secrets masked (e.g. a curl command with a token)."""
    if not secrets:
        return output
    return type(output).model_construct(**redact_value(output.model_dump(), secrets))
