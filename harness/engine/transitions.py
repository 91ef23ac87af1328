"""Choosing the next node after a node run, in PLATFORM.md §5 order.

1. global node conditions (every enabled global node but the current one): expressions, then
   freeform ones; 2. the node's conditional edges (a global node's reverse edge first), expressions
   before freeform; 3. the single direct edge; 4. `self_loop`; else the thread ends.

Freeform conditions are judged only after LLM nodes and only while fewer than
`consecutive_conditional_edges_max_limit` conditional hops happened since the last user message
(and not on the first LLM invocation after a reverse edge, by default). Each candidate is judged by
its method: the workflow's `global_condition_evaluation_method`, or for a global node its own
`global_condition_edge_evaluation_method` unless that is `workflow_default`. With `tool_call` the
condition rides on the node's own LLM call as a tool (the first one called wins); with
`independent_llm_evaluations` it gets one yes/no `condition_evaluator_llm` call, in order, until
one holds. A condition with an expression is decided by the expression alone. With
`no_hopping_between_guardrail_nodes` (default), a guardrail node never moves to another guardrail
node by a conditional or global transition.
"""

from __future__ import annotations

import copy
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
    Condition,
    ConditionalEdgeConfig,
    DirectEdgeConfig,
    EventType,
    GlobalConditionEdgeEvaluationMethod,
    GlobalConditionEvaluationMethod,
    NodeConfig,
    StaticMessagesConfig,
)

__all__ = [
    "CONDITION_EVALUATION_FORMAT",
    "DYNAMIC_MESSAGE_ARGUMENT",
    "REVERSE_TOOL_NAME",
    "Transition",
    "candidate_method",
    "candidates",
    "decide",
    "direct_transition",
    "fire",
    "freeform_allowed",
    "transition_tools",
]

REVERSE_TOOL_NAME = "return_to_previous_node"
CONDITION_EVALUATION_FORMAT = "condition_evaluation"
DYNAMIC_MESSAGE_ARGUMENT = "dynamic_message"
"""The argument a transition tool (or an evaluator answer) fills with the edge's dynamic message."""
_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_]+")
_EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}

TransitionKind = Literal["global", "conditional", "reverse", "direct", "self_loop"]
CONDITIONAL_KINDS = frozenset({"global", "conditional", "reverse"})


@dataclass(frozen=True, slots=True)
class Transition:
    """The edge a thread takes out of a node.

    `static_messages` / `dynamic_prompt` are the condition's messages said as the edge fires;
    `dynamic_message` is the text the LLM already wrote for it (a transition tool argument).
    """

    kind: TransitionKind
    destination: str
    edge_id: str | None
    reason: str
    args_filled: dict[str, Any] | None = None
    static_messages: StaticMessagesConfig | None = None
    static_key: str = ""
    dynamic_prompt: str | None = None
    dynamic_message: str | None = None

    @property
    def is_conditional(self) -> bool:
        """A conditional, global or reverse transition (the exits of a bounded self-loop)."""
        return self.kind in CONDITIONAL_KINDS


# ------------------------------------------------------------------ candidates


def _blocked_guardrail_hop(ctx: TurnContext, node: NodeConfig, destination: str) -> bool:
    if not (ctx.plan.options.no_guardrail_hopping and node.is_guardrail_node):
        return False
    target = ctx.graph.nodes.get(destination)
    return target is not None and target.is_guardrail_node and destination != node.node_id


def _global_candidates(ctx: TurnContext, node: NodeConfig) -> list[Candidate]:
    found = []
    for other in ctx.graph.global_nodes():
        config = other.global_node_config
        if other.node_id == node.node_id or other.disabled or config is None:
            continue
        if _blocked_guardrail_hop(ctx, node, other.node_id):
            continue
        if config.is_global and config.condition is not None:
            found.append(Candidate("global", other.node_id, config.condition, None, _name(other)))
    return found


def _edge_candidates(ctx: TurnContext, node: NodeConfig) -> list[Candidate]:
    found = []
    config = node.global_node_config
    stack = ctx.thread.return_stack
    if config is not None and config.reverse_conditional_edge is not None and stack:
        back = ctx.graph.nodes.get(stack[-1])
        label = _name(back) if back is not None else stack[-1]
        found.append(Candidate("reverse", stack[-1], config.reverse_conditional_edge, None, label))
    for edge in ctx.graph.outgoing(node.node_id):
        if not isinstance(edge, ConditionalEdgeConfig) or edge.condition is None:
            continue
        if _blocked_guardrail_hop(ctx, node, edge.destination):
            continue
        destination = ctx.graph.nodes.get(edge.destination)
        label = edge.name or (_name(destination) if destination else edge.destination)
        found.append(Candidate("conditional", edge.destination, edge.condition, edge, label))
    return found


def candidates(ctx: TurnContext, node: NodeConfig) -> list[Candidate]:
    """Every conditional transition out of `node`, in decision order (globals first)."""
    return _global_candidates(ctx, node) + _edge_candidates(ctx, node)


def candidate_method(ctx: TurnContext, candidate: Candidate) -> GlobalConditionEvaluationMethod:
    """How `candidate`'s freeform condition is judged (a global node may override the workflow)."""
    if candidate.kind == "global":
        target = ctx.graph.nodes.get(candidate.destination)
        config = target.global_node_config if target is not None else None
        method = config.global_condition_edge_evaluation_method if config is not None else None
        if method is not None and method != GlobalConditionEdgeEvaluationMethod.WORKFLOW_DEFAULT:
            return GlobalConditionEvaluationMethod(method.value)
    return ctx.plan.method


def _name(node: NodeConfig) -> str:
    return node.name or node.node_id


def _is_freeform(condition: Condition) -> bool:
    return not condition.condition_expression and bool(condition.condition_freeform)


def freeform_allowed(ctx: TurnContext) -> bool:
    """False once the consecutive conditional hop limit is reached (until the next user message),
    and on the first LLM invocation after a reverse edge (unless the workflow turns that off)."""
    return ctx.thread.conditional_hops < ctx.plan.hop_limit and not ctx.thread.after_reverse


def transition_tools(
    ctx: TurnContext, node: NodeConfig, reserved: set[str]
) -> tuple[list[dict[str, Any]], dict[str, Candidate]]:
    """The `tool_call` freeform conditions of `node` as function tools, and the tool name of each.

    A tool's description is the condition's freeform text (variables substituted) and its
    parameters are the condition's `args_schema`, plus a required `dynamic_message` string when
    the condition has a `dynamic_messages_config` (its prompt is the argument's description).
    Names: `go_to_<destination>` for globals, `<edge name>` or `go_to_<destination>` for edges,
    `return_to_previous_node` for the reverse edge; made unique against `reserved` (the node's
    own tool names) with `_2`, `_3`, ...
    """
    tools: list[dict[str, Any]] = []
    by_name: dict[str, Candidate] = {}
    taken = set(reserved)
    for candidate in candidates(ctx, node):
        condition = candidate.condition
        if not _is_freeform(condition):
            continue
        if candidate_method(ctx, candidate) != GlobalConditionEvaluationMethod.TOOL_CALL:
            continue
        name = _unique(_tool_name(candidate), taken)
        taken.add(name)
        by_name[name] = candidate
        description = substitute(condition.condition_freeform or "", ctx.dynamic, ctx.runtime)
        function = {
            "name": name,
            "description": description,
            "parameters": _parameters(ctx, condition),
        }
        tools.append({"type": "function", "function": function})
    return tools, by_name


def _dynamic_prompt(ctx: TurnContext, condition: Condition) -> str | None:
    config = condition.dynamic_messages_config
    prompt = config.dynamic_message_prompt if config is not None else None
    if not prompt or not prompt.strip():
        return None
    return substitute(prompt, ctx.dynamic, ctx.runtime)


def _parameters(ctx: TurnContext, condition: Condition) -> dict[str, Any]:
    prompt = _dynamic_prompt(ctx, condition)
    if prompt is None or condition.static_messages_config is not None:
        return condition.args_schema or _EMPTY_PARAMETERS
    schema = copy.deepcopy(condition.args_schema or _EMPTY_PARAMETERS)
    schema.setdefault("properties", {})[DYNAMIC_MESSAGE_ARGUMENT] = {
        "type": "string",
        "description": prompt,
    }
    schema["required"] = [*schema.get("required", []), DYNAMIC_MESSAGE_ARGUMENT]
    return schema


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
    judged = result is not None and result.judged_freeform
    called = [] if result is None else result.transition_calls
    groups = (
        (_global_candidates(ctx, node), [c for c in called if c[0].kind == "global"]),
        (_edge_candidates(ctx, node), [c for c in called if c[0].kind != "global"]),
    )
    for group, called_here in groups:
        chosen = await _first_met(ctx, visit.scope, group, called_here, judged)
        if chosen is not None:
            return chosen
    direct = direct_transition(ctx, node)
    if direct is not None:
        return direct
    if result is not None:
        return _self_loop(node)
    return None


def direct_transition(ctx: TurnContext, node: NodeConfig) -> Transition | None:
    """The node's (single, enabled, non-companion) direct edge, if it has one."""
    for edge in ctx.graph.outgoing(node.node_id):
        if isinstance(edge, DirectEdgeConfig) and not edge.is_companion:
            return Transition("direct", edge.destination, edge.logical_id, "direct edge")
    return None


async def _first_met(
    ctx: TurnContext,
    scope: NodeScope,
    group: list[Candidate],
    called: list[tuple[Candidate, dict[str, Any]]],
    judged: bool,
) -> Transition | None:
    for candidate in group:
        expression = candidate.condition.condition_expression
        if expression and evaluate_expression(expression, ctx.dynamic, ctx.runtime):
            return fire(ctx, candidate, f"condition expression holds: {expression}", None)
    for candidate, args in called:
        return fire(ctx, candidate, f"LLM called the tool for: {_text(candidate)}", args)
    if not judged:
        return None
    for candidate in group:
        if not _is_freeform(candidate.condition):
            continue
        if (
            candidate_method(ctx, candidate)
            != GlobalConditionEvaluationMethod.INDEPENDENT_LLM_EVALUATIONS
        ):
            continue
        met, args = await _judge(ctx, scope, candidate)
        if met:
            return fire(
                ctx, candidate, f"condition evaluator judged true: {_text(candidate)}", args
            )
    return None


def _text(candidate: Candidate) -> str:
    return candidate.condition.condition_freeform or ""


def fire(
    ctx: TurnContext, candidate: Candidate, reason: str, args: dict[str, Any] | None
) -> Transition:
    """The transition of a candidate whose condition holds (`args`: what the LLM filled in)."""
    edge = candidate.edge
    key = edge.edge_id if edge is not None else f"{candidate.kind}:{candidate.destination}"
    filled = dict(args or {})
    message = filled.pop(DYNAMIC_MESSAGE_ARGUMENT, None)
    return Transition(
        candidate.kind,
        candidate.destination,
        edge.logical_id if edge is not None else None,
        reason,
        args_filled=filled,
        static_messages=candidate.condition.static_messages_config,
        static_key=key,
        dynamic_prompt=_dynamic_prompt(ctx, candidate.condition),
        dynamic_message=message if isinstance(message, str) else None,
    )


def _self_loop(node: NodeConfig) -> Transition | None:
    # The LLM nodes' `self_loop` flag: loop back and wait for the next user message.
    if not getattr(node, "self_loop", False):
        return None
    return Transition("self_loop", node.node_id, None, "no edge fired; the node loops on itself")


# ------------------------------------------------------------------ independent evaluation


def _evaluation_format(ctx: TurnContext, candidate: Candidate) -> dict[str, Any]:
    condition = candidate.condition
    properties: dict[str, Any] = {"is_condition_met": {"type": "boolean"}}
    if condition.args_schema:
        properties["args"] = condition.args_schema
    prompt = _dynamic_prompt(ctx, condition)
    if prompt is not None and condition.static_messages_config is None:
        properties[DYNAMIC_MESSAGE_ARGUMENT] = {"type": "string", "description": prompt}
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
        response_format=_evaluation_format(ctx, candidate),
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
        filled = dict(args) if isinstance(args, dict) else {}
        message = data.get(DYNAMIC_MESSAGE_ARGUMENT)
        if isinstance(message, str):
            filled[DYNAMIC_MESSAGE_ARGUMENT] = message
        return data.get("is_condition_met") is True, filled
    return data is True, {}
