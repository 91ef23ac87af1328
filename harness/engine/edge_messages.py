"""What is said as an edge fires: its condition's static message, else its dynamic message.

`static_messages_config` picks a message (random, or in sequence per edge). A
`dynamic_messages_config` asks the LLM for the message, guided by `dynamic_message_prompt`: with
`tool_call` evaluation the prompt is a required `dynamic_message` argument of the transition tool,
with an independent evaluation it is a field of the evaluator's answer, and when no LLM judged the
edge (an expression fired it) one LLM call writes it (`purpose: dynamic_message`). When both are
set the static message wins (the platform's examples say to set only one). Edge messages are
fillers: they are said and kept in the history, but do not answer the user's message.
"""

from __future__ import annotations

from typing import Any

from harness.engine.context import TurnContext
from harness.engine.events import NodeScope
from harness.engine.llm import ChatRequest, LLMCallError
from harness.engine.llm_config import effective_llm, request_options
from harness.engine.static_messages import pick_static_message
from harness.engine.transitions import Transition
from harness.models.api import EventType, LLMNodeConfig, NodeConfig

__all__ = ["say_edge_message"]


async def say_edge_message(
    ctx: TurnContext, node: NodeConfig, scope: NodeScope, transition: Transition
) -> None:
    """Say the transition's static or dynamic message, if it has one."""
    if transition.static_messages is not None:
        text = pick_static_message(ctx, transition.static_key, transition.static_messages)
        if text:
            ctx.say_static(scope, text, answers=False, edge_logical_id=transition.edge_id)
        return
    if transition.dynamic_prompt is None:
        return
    if transition.dynamic_message is not None:
        if transition.dynamic_message.strip():
            ctx.say(
                scope, transition.dynamic_message, answers=False, edge_logical_id=transition.edge_id
            )
        return
    await _generate(ctx, node, scope, transition, transition.dynamic_prompt)


async def _generate(
    ctx: TurnContext, node: NodeConfig, scope: NodeScope, transition: Transition, prompt: str
) -> None:
    system = (
        "Write the next thing the assistant says to the user, as the conversation moves on.\n"
        f"{prompt}\nAnswer with the message only."
    )
    llm = effective_llm(ctx.plan.workflow, node if isinstance(node, LLMNodeConfig) else None)
    request = ChatRequest.model_construct(
        messages=[{"role": "system", "content": system}, *ctx.thread.history],
        **request_options(llm),
    )
    context = {"node_logical_id": scope.node_id, "purpose": "dynamic_message"}
    try:
        response = await ctx.services.llm.complete(request, provider=llm.provider, context=context)
    except LLMCallError as exc:
        ctx.log.emit(
            EventType.WORKFLOW_WARNING,
            warning_message=f"the dynamic message of edge {transition.edge_id} failed: {exc.message}",
        )
        return
    usage: dict[str, Any] = ctx.record_llm(response)
    text = (response.content or "").strip()
    if text:
        ctx.say(
            scope, text, answers=False, llm_usage_info=usage, edge_logical_id=transition.edge_id
        )
