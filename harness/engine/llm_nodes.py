"""The LLM node handler (`say_llm`, `worker_llm`): prompt, history, tools, transition tools.

A call is: the system prompt (`default_prompt_prefix` + the node's prompt, or the workflow's
`main_response_config.prompt` when the node has none, + `default_prompt_suffix`, joined by blank
lines, variables substituted; the node's `ignore_default_prompt_prefix`/`_suffix` drop either),
then the thread's chat history (its last `truncated_max_recent_messages` when the LLM config sets
it). Which LLM: `llm_config.effective_llm`. Tools: the node's and the
workflow's, MCP tools when `use_mcp_tools`, and, with `tool_call` evaluation, the transition
tools. Up to `max_consecutive_tool_calls` tool rounds run per node execution; after that the
node's own tools are withdrawn so the model must answer. A called transition tool ends the call
loop (any other tool calls of that response are not run).
"""

from __future__ import annotations

import json
from typing import Any, TypeAlias

from harness.engine._construct import construct
from harness.engine.context import Candidate, NodeResult, NodeVisit, TurnContext
from harness.engine.events import NodeScope
from harness.engine.llm import ChatRequest, ChatResponse, LLMCallError, ToolCall
from harness.engine.llm_config import effective_llm, request_options
from harness.engine.structured_output import output_schema
from harness.engine.tool_calls import (
    ToolTarget,
    configured_tool_spec,
    mcp_targets,
    outcome_message,
    run_target,
)
from harness.engine.transitions import freeform_allowed, transition_tools
from harness.engine.variables import substitute
from harness.models.api import (
    EventType,
    NodeOutput,
    SayLLMNodeConfig,
    WorkerLLMNodeConfig,
    WorkflowRunEvaluatorNodeConfig,
)

LLMNode: TypeAlias = SayLLMNodeConfig | WorkerLLMNodeConfig | WorkflowRunEvaluatorNodeConfig
"""The node types that call the LLM."""

__all__ = ["LLMNode", "is_ready", "run_llm_node", "system_prompt"]


def is_ready(ctx: TurnContext, node_id: str, wait: bool, entered_by: str) -> bool:
    """Whether a node may run now rather than park waiting for the user.

    A node entered by its self-loop, or resuming a parked run, needs a user message it has not read.
    Otherwise a node with `wait_for_user_message` needs an unanswered user message it has not read
    (a worker reads silently, so the next speaking node still answers that message).
    """
    thread = ctx.thread
    if entered_by == "retry":
        return True  # a bounded self-loop (`self_loop_config`) re-executes at once
    if entered_by in ("self_loop", "resume"):
        return thread.has_unread(node_id)
    if not wait:
        return True
    return thread.unanswered and thread.has_unread(node_id)


def system_prompt(ctx: TurnContext, node: LLMNode) -> str:
    """Prefix + prompt + suffix, substituted; empty parts left out.

    The node's `ignore_default_prompt_prefix` / `ignore_default_prompt_suffix` leave the workflow's
    `default_prompt_prefix` / `default_prompt_suffix` out.
    """
    config = ctx.plan.workflow.settings
    prompt = node.main_response_config.prompt if node.main_response_config else None
    if not prompt and config.main_response_config is not None:
        prompt = config.main_response_config.prompt
    prefix = None if node.ignore_default_prompt_prefix else config.default_prompt_prefix
    suffix = None if node.ignore_default_prompt_suffix else config.default_prompt_suffix
    text = "\n\n".join(p for p in (prefix, prompt, suffix) if p)
    return substitute(text, ctx.dynamic, ctx.runtime) if text else ""


def _recent(history: list[dict[str, Any]], keep: int | None) -> list[dict[str, Any]]:
    """The last `keep` history messages (`truncated_max_recent_messages`; None or 0: all)."""
    if not keep or keep <= 0 or len(history) <= keep:
        return history
    recent = history[-keep:]
    while recent and recent[0].get("role") == "tool":
        recent = recent[1:]  # a tool result without the call that asked for it is refused
    return recent


async def _own_tools(
    ctx: TurnContext, node: LLMNode
) -> tuple[list[dict[str, Any]], dict[str, ToolTarget]]:
    specs: list[dict[str, Any]] = []
    targets: dict[str, ToolTarget] = {}
    for tool in ctx.graph.tools_for(node):
        if tool.label in targets:
            continue  # a node tool shadows a workflow tool of the same name
        specs.append(configured_tool_spec(ctx, tool))
        targets[tool.label] = ToolTarget(tool.label, tool=tool)
    if node.use_mcp_tools:
        mcp_specs, mcp = await mcp_targets(ctx, set(targets))
        specs.extend(mcp_specs)
        targets.update((t.name, t) for t in mcp)
    return specs, targets


def _response_format(node: LLMNode) -> dict[str, Any] | None:
    # A say node speaks free text; its schema is not requested (docs/engine.md, LLM nodes).
    schema = None if node.type == "say_llm" else output_schema(node.structured_output_schema)
    return schema.response_format("structured_output") if schema is not None else None


def _event_type(node: LLMNode) -> str:
    return EventType.SAY_LLM if node.type == "say_llm" else EventType.WORKER_LLM


class _Call:
    """The message list and offers of one node execution's LLM calls."""

    def __init__(self, ctx: TurnContext, node: LLMNode) -> None:
        self.ctx = ctx
        self.node = node
        self.llm = effective_llm(ctx.plan.workflow, node)
        prompt = system_prompt(ctx, node)
        system = [{"role": "system", "content": prompt}] if prompt else []
        history = _recent(ctx.thread.history, self.llm.truncated_max_recent_messages)
        self.messages: list[dict[str, Any]] = [*system, *history]
        self.response_format = _response_format(node)
        self.own_specs: list[dict[str, Any]] = []
        self.own: dict[str, ToolTarget] = {}
        self.move_specs: list[dict[str, Any]] = []
        self.moves: dict[str, Candidate] = {}

    async def offer(self) -> bool:
        """Collect the tools; returns whether freeform conditions are judged for this node."""
        ctx = self.ctx
        self.own_specs, self.own = await _own_tools(ctx, self.node)
        allowed = freeform_allowed(ctx)
        if allowed:  # only the candidates judged by `tool_call` become tools
            self.move_specs, self.moves = transition_tools(ctx, self.node, set(self.own))
        return allowed

    async def send(self, round_: int) -> ChatResponse:
        may_use_tools = round_ < self.node.max_consecutive_tool_calls
        tools = [*(self.own_specs if may_use_tools else []), *self.move_specs]
        request = construct(
            ChatRequest,  # engine-built values: no copy of the history
            messages=self.messages,
            tools=tools or None,
            tool_choice="auto" if tools else None,
            response_format=self.response_format,
            **request_options(self.llm),
        )
        purpose = "main_response" if round_ == 0 else f"tool_round_{round_}"
        return await self.ctx.services.llm.complete(
            request,
            provider=self.llm.provider,
            context={"node_logical_id": self.node.node_id, "purpose": purpose},
        )


async def run_llm_node(ctx: TurnContext, visit: NodeVisit) -> NodeResult:
    """Run a `say_llm` / `worker_llm` node once."""
    node = visit.node
    assert isinstance(node, LLMNode)
    scope = visit.scope
    output = construct(
        NodeOutput, type=node.type, node_logical_id=node.node_id, node_run_id=scope.run_id
    )
    if not is_ready(ctx, node.node_id, node.wait_for_user_message, visit.entered_by):
        ctx.log.busy_wait(scope)
        return NodeResult(output, parked=True)
    ctx.thread.consumed[node.node_id] = ctx.thread.user_message_count
    call = _Call(ctx, node)
    judged = await call.offer()
    result = NodeResult(output, judged_freeform=judged)
    try:
        response = await _converse(ctx, scope, call, result)
        _finish(ctx, scope, node, response, result)
    except LLMCallError as exc:
        return _failed(ctx, node, scope, output, exc)
    return result


async def _converse(
    ctx: TurnContext, scope: NodeScope, call: _Call, result: NodeResult
) -> ChatResponse:
    round_ = 0
    while True:
        response = await call.send(round_)
        usage = ctx.record_llm(response)
        moves = [
            (call.moves[c.name], c.parsed_arguments())
            for c in response.tool_calls
            if c.name in call.moves
        ]
        may_use_tools = round_ < call.node.max_consecutive_tool_calls
        work = [c for c in response.tool_calls if c.name in call.own] if may_use_tools else []
        if moves or not work:
            result.transition_calls = moves
            result.pending_usage = usage
            return response
        _emit_llm_event(ctx, scope, call.node, response, usage)
        round_ += 1
        await _run_tools(ctx, scope, call, response, work)


def _emit_llm_event(
    ctx: TurnContext,
    scope: NodeScope,
    node: LLMNode,
    response: ChatResponse,
    usage: dict[str, Any],
    **extra: Any,
) -> None:
    # The AI message's tool_calls (events.py): {name, args, id}, as the platform records them.
    calls = [
        {"name": c.name, "args": c.parsed_arguments(), "id": c.id} for c in response.tool_calls
    ]
    if calls:
        extra["tool_calls"] = calls
    ctx.log.emit(
        _event_type(node), scope, message=response.content or "", llm_usage_info=usage, **extra
    )


async def _run_tools(
    ctx: TurnContext, scope: NodeScope, call: _Call, response: ChatResponse, work: list[ToolCall]
) -> None:
    call.messages.append(
        {
            "role": "assistant",
            "content": response.content,
            "tool_calls": [c.to_message() for c in work],
        }
    )
    for tool_call in work:
        outcome = await run_target(
            ctx, scope, call.own[tool_call.name], tool_call.parsed_arguments(), tool_call.id
        )
        call.messages.append(
            {"role": "tool", "tool_call_id": tool_call.id, "content": outcome_message(outcome)}
        )


def _finish(
    ctx: TurnContext,
    scope: NodeScope,
    node: LLMNode,
    response: ChatResponse,
    result: NodeResult,
) -> None:
    content = response.content or ""
    extra: dict[str, Any] = {}
    if _response_format(node) is not None and (content.strip() or not result.transition_calls):
        structured = _structured(node, content)
        ctx.runtime.update(structured)
        result.output.structured_output = structured
        extra["structured_output"] = structured
    _emit_llm_event(ctx, scope, node, response, result.pending_usage or {}, **extra)
    if node.type == "say_llm" and content.strip():
        result.pending_response = content


def _structured(node: LLMNode, content: str) -> dict[str, Any]:
    try:
        value = json.loads(content)
    except json.JSONDecodeError as exc:
        raise LLMCallError(
            f"node {node.label}: the structured output is not JSON: {content[:200]!r}",
            hint="check structured_output_schema and the model's support for response_format",
        ) from exc
    if not isinstance(value, dict):
        raise LLMCallError(
            f"node {node.label}: the structured output is a JSON {type(value).__name__}, "
            "not an object; its keys become runtime variables",
        )
    return value


def _failed(
    ctx: TurnContext,
    node: LLMNode,
    scope: NodeScope,
    output: NodeOutput,
    exc: LLMCallError,
) -> NodeResult:
    output.error_message = exc.message
    text = node.default_error_message
    if text:
        ctx.say(
            scope,
            substitute(text, ctx.dynamic, ctx.runtime),
            answers=True,
            error_message=exc.message,
        )
    return NodeResult(output, failed=True)
