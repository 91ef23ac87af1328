"""Choosing the next node after a node run, in PLATFORM.md §5 order.

1. global node conditions (every enabled global node but the current one): expressions, then
   freeform ones; 2. the node's conditional edges (a global node's reverse edge first), expressions
   before freeform; 3. the single direct edge; 4. `self_loop`; else the thread ends.

Freeform conditions are judged only after LLM nodes and only while fewer than
`consecutive_conditional_edges_max_limit` conditional hops happened since the last user message:
with `tool_call` they ride on the node's own LLM call as tools (the first one called wins), with
`independent_llm_evaluations` each gets one yes/no `condition_evaluator_llm` call, in order, until
one holds. A condition with an expression is decided by the expression alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from harness.engine.context import Candidate, NodeResult, NodeVisit, TurnContext
from harness.engine.events import NodeScope
from harness.engine.expressions import evaluate_expression
from harness.engine.llm import ChatRequest, LLMCallError
from harness.engine.llm_config import effective_llm, request_options
from harness.engine.variables import substitute
from harness.models.api import (
    ConditionalEdgeConfig,
    DirectEdgeConfig,
    EventType,
    GlobalConditionEvaluationMethod,
    NodeConfig,
    StaticMessagesConfig,
)

__all__ = [
    "CONDITION_EVALUATION_FORMAT",
    "REVERSE_TOOL_NAME",
    "Transition",
    "candidates",
    "decide",
    "freeform_allowed",
    "transition_tools",
]

REVERSE_TOOL_NAME = "return_to_previous_node"
CONDITION_EVALUATION_FORMAT = "condition_evaluation"
_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_]+")
_EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}

TransitionKind = Literal["global", "conditional", "reverse", "direct", "self_loop"]


@dataclass(frozen=True, slots=True)
class Transition:
    """The edge a thread takes out of a node."""

    kind: TransitionKind
    destination: str
    edge_id: str | None
    reason: str
    args_filled: dict[str, Any] | None = None
    static_messages: StaticMessagesConfig | None = None
    static_key: str = ""


# ------------------------------------------------------------------ candidates


def _global_candidates(ctx: TurnContext, node: NodeConfig) -> list[Candidate]:
    found = []
    for other in ctx.graph.global_nodes():
        config = other.global_node_config
        if other.logical_id == node.logical_id or other.disabled or config is None:
            continue
        if config.is_global and config.condition is not None:
            found.append(
                Candidate("global", other.logical_id, config.condition, None, _name(other))
            )
    return found


def _edge_candidates(ctx: TurnContext, node: NodeConfig) -> list[Candidate]:
    found = []
    config = node.global_node_config
    stack = ctx.thread.return_stack
    if config is not None and config.reverse_conditional_edge is not None and stack:
        back = ctx.graph.nodes.get(stack[-1])
        label = _name(back) if back is not None else stack[-1]
        found.append(Candidate("reverse", stack[-1], config.reverse_conditional_edge, None, label))
    for edge in ctx.graph.outgoing(node.logical_id):
        if isinstance(edge, ConditionalEdgeConfig):
            destination = ctx.graph.nodes.get(edge.destination_node_logical_id)
            label = edge.name or (
                _name(destination) if destination else edge.destination_node_logical_id
            )
            found.append(
                Candidate(
                    "conditional", edge.destination_node_logical_id, edge.condition, edge, label
                )
            )
    return found


def candidates(ctx: TurnContext, node: NodeConfig) -> list[Candidate]:
    """Every conditional transition out of `node`, in decision order (globals first)."""
    return _global_candidates(ctx, node) + _edge_candidates(ctx, node)


def _name(node: NodeConfig) -> str:
    return node.name or node.logical_id


def freeform_allowed(ctx: TurnContext) -> bool:
    """False once the consecutive conditional hop limit is reached (until the next user message)."""
    return ctx.thread.conditional_hops < ctx.plan.hop_limit


def transition_tools(
    ctx: TurnContext, node: NodeConfig, reserved: set[str]
) -> tuple[list[dict[str, Any]], dict[str, Candidate]]:
    """The freeform conditions of `node` as function tools, and the tool name of each.

    A tool's description is the condition's freeform text (variables substituted) and its
    parameters are the condition's `args_schema`. Names: `go_to_<destination>` for globals,
    `<edge name>` or `go_to_<destination>` for edges, `return_to_previous_node` for the reverse
    edge; made unique against `reserved` (the node's own tool names) with `_2`, `_3`, ...
    """
    tools: list[dict[str, Any]] = []
    by_name: dict[str, Candidate] = {}
    taken = set(reserved)
    for candidate in candidates(ctx, node):
        condition = candidate.condition
        if condition.condition_expression or not condition.condition_freeform:
            continue
        name = _unique(_tool_name(candidate), taken)
        taken.add(name)
        by_name[name] = candidate
        description = substitute(condition.condition_freeform, ctx.dynamic, ctx.runtime)
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": description,
                    "parameters": condition.args_schema or _EMPTY_PARAMETERS,
                },
            }
        )
    return tools, by_name


def _tool_name(candidate: Candidate) -> str:
    if candidate.kind == "reverse":
        return REVERSE_TOOL_NAME
    slug = _NAME_CHARS.sub("_", candidate.label).strip("_").lower()[:50] or "node"
    if candidate.kind == "conditional" and candidate.edge is not None and candidate.edge.name:
        return slug
    return f"go_to_{slug}"


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    index = 2
    while f"{name}_{index}" in taken:
        index += 1
    return f"{name}_{index}"


# ------------------------------------------------------------------ decision


async def decide(
    ctx: TurnContext, visit: NodeVisit, result: NodeResult | None
) -> Transition | None:
    """The transition out of the node just run (`result` None: a disabled node passed through)."""
    node = visit.node
    independent = (
        result is not None
        and result.judged_freeform
        and ctx.plan.method == GlobalConditionEvaluationMethod.INDEPENDENT_LLM_EVALUATIONS
    )
    called = [] if result is None else result.transition_calls
    groups = (
        (_global_candidates(ctx, node), [c for c in called if c[0].kind == "global"]),
        (_edge_candidates(ctx, node), [c for c in called if c[0].kind != "global"]),
    )
    for group, called_here in groups:
        chosen = await _first_met(ctx, visit.scope, group, called_here, independent)
        if chosen is not None:
            return chosen
    for edge in ctx.graph.outgoing(node.logical_id):
        if isinstance(edge, DirectEdgeConfig):
            return Transition(
                "direct",
                edge.destination_node_logical_id,
                edge.logical_id,
                "direct edge",
                static_messages=edge.static_messages_config,
                static_key=edge.logical_id,
            )
    if result is not None:
        return _self_loop(ctx, node)
    return None


async def _first_met(
    ctx: TurnContext,
    scope: NodeScope,
    group: list[Candidate],
    called: list[tuple[Candidate, dict[str, Any]]],
    independent: bool,
) -> Transition | None:
    for candidate in group:
        expression = candidate.condition.condition_expression
        if expression and evaluate_expression(expression, ctx.dynamic, ctx.runtime):
            return _fire(candidate, f"condition expression holds: {expression}", None)
    for candidate, args in called:
        return _fire(candidate, f"LLM called the tool for: {_text(candidate)}", args)
    if independent:
        for candidate in group:
            if (
                candidate.condition.condition_expression
                or not candidate.condition.condition_freeform
            ):
                continue
            met, args = await _judge(ctx, scope, candidate)
            if met:
                return _fire(
                    candidate, f"condition evaluator judged true: {_text(candidate)}", args
                )
    return None


def _text(candidate: Candidate) -> str:
    return candidate.condition.condition_freeform or ""


def _fire(candidate: Candidate, reason: str, args: dict[str, Any] | None) -> Transition:
    edge = candidate.edge
    static = edge.static_messages_config if edge is not None else None
    key = edge.logical_id if edge is not None else f"{candidate.kind}:{candidate.destination}"
    return Transition(
        candidate.kind,
        candidate.destination,
        edge.logical_id if edge is not None else None,
        reason,
        args_filled=dict(args or {}),
        static_messages=static or candidate.condition.static_messages_config,
        static_key=key,
    )


def _self_loop(ctx: TurnContext, node: NodeConfig) -> Transition | None:
    if not getattr(node, "self_loop", False):
        return None
    config = getattr(node, "self_loop_config", None)
    limit = config.max_iterations if config is not None else None
    thread = ctx.thread
    streak = thread.self_loop_count if thread.self_loop_node == node.logical_id else 0
    if limit is not None and streak >= limit:
        return None
    return Transition(
        "self_loop",
        node.logical_id,
        None,
        "no edge fired; the node loops on itself",
        static_messages=config.static_messages_config if config is not None else None,
        static_key=f"self_loop:{node.logical_id}",
    )


# ------------------------------------------------------------------ independent evaluation


def _evaluation_format(candidate: Candidate) -> dict[str, Any]:
    properties: dict[str, Any] = {"is_condition_met": {"type": "boolean"}}
    if candidate.condition.args_schema:
        properties["args"] = candidate.condition.args_schema
    return {
        "type": "json_schema",
        "json_schema": {
            "name": CONDITION_EVALUATION_FORMAT,
            "schema": {
                "type": "object",
                "properties": properties,
                "required": ["is_condition_met"],
            },
        },
    }


async def _judge(
    ctx: TurnContext, scope: NodeScope, candidate: Candidate
) -> tuple[bool, dict[str, Any]]:
    condition = substitute(_text(candidate), ctx.dynamic, ctx.runtime)
    system = (
        "You judge whether a condition holds for the conversation so far.\n"
        f"Condition: {condition}\n"
        'Answer with JSON only: {"is_condition_met": true} or {"is_condition_met": false}.'
    )
    llm = effective_llm(ctx.plan.workflow, None)
    request = ChatRequest.model_construct(
        messages=[{"role": "system", "content": system}, *ctx.thread.history],
        response_format=_evaluation_format(candidate),
        **request_options(llm),
    )
    extra = {
        "condition": condition,
        "destination_node_logical_id": candidate.destination,
        "edge_logical_id": candidate.edge.logical_id if candidate.edge else None,
    }
    try:
        response = await ctx.services.llm.complete(
            request,
            provider=llm.provider,
            context={"node_logical_id": scope.node_id, "purpose": "condition_evaluation"},
        )
    except LLMCallError as exc:
        ctx.log.emit(
            EventType.CONDITION_EVALUATOR_LLM,
            scope,
            message="",
            is_condition_met=False,
            error_message=exc.message,
            **extra,
        )
        return False, {}
    usage = ctx.record_llm(response)
    met, args = _verdict(response.content)
    ctx.log.emit(
        EventType.CONDITION_EVALUATOR_LLM,
        scope,
        message=response.content or "",
        is_condition_met=met,
        llm_usage_info=usage,
        **extra,
    )
    return met, args


def _verdict(content: str | None) -> tuple[bool, dict[str, Any]]:
    text = (content or "").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text.lower().startswith(("yes", "true")), {}
    if isinstance(data, dict):
        args = data.get("args")
        return data.get("is_condition_met") is True, args if isinstance(args, dict) else {}
    return data is True, {}
