"""Running tools for LLM nodes and tool nodes: events, static messages, runtime variables.

A tool call says the tool's static message (if any) while it runs, records its outcome the
platform's way (`EventLog.tool_result`: an LLM event carrying the ToolMessage in an LLM node's tool
loop; the tool and arguments in a tool node's `start_node_run.run_input`), and writes its variables in this order: `[[name]]` (the result, None on failure),
then the result's expanded keys and mapped parts (`expand_result_into_runtime_variables`,
`result_variable_mappings`), then `[[name_success]]` and `[[name_error]]` last, so tool data can
never replace the outcome that conditional edges branch on. `name` is the tool's
`result_runtime_variable_name` (default `tool_result`) for an LLM's call, and the tool node's
effective name (`effective_result_variable_name`) for a tool node. Tool failures are data (an
unsuccessful outcome shown to the LLM), never exceptions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harness.engine.context import TurnContext
from harness.engine.events import NodeScope
from harness.engine.offline_tools import knowledge_bases_of
from harness.engine.sandbox import ToolOutcome
from harness.engine.secrets import SecretOverlay, redact
from harness.engine.static_messages import pick_static_message
from harness.engine.tool_variables import ResultUpdates, hide_bound_arguments, result_updates
from harness.engine.variables import substitute
from harness.models.api import KnowledgeBaseTool, MCPServerConfig, ToolConfig

__all__ = [
    "KNOWLEDGE_BASE_ARGS_SCHEMA",
    "ToolTarget",
    "configured_tool_spec",
    "mcp_targets",
    "outcome_message",
    "record_outcome",
    "run_target",
    "secret_texts",
    "tool_spec",
]

_EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}
KNOWLEDGE_BASE_ARGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "justification": {"type": "string", "description": "Why this search is needed."},
        "query": {"type": "string", "description": "The natural language search query."},
    },
    "required": ["query"],
}
"""What the LLM fills for a knowledge base tool without an `args_schema` (the platform generates
one with `query`, the only argument its search sends, and `justification`)."""


@dataclass(frozen=True, slots=True)
class ToolTarget:
    """What a function name offered to the LLM runs: a configured tool or an MCP server's tool."""

    name: str
    tool: ToolConfig | None = None
    server: MCPServerConfig | None = None
    remote_name: str = ""


def tool_spec(
    name: str, description: str | None, parameters: dict[str, Any] | None
) -> dict[str, Any]:
    """An OpenAI function tool."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description or "",
            "parameters": parameters or _EMPTY_PARAMETERS,
        },
    }


def configured_tool_spec(ctx: TurnContext, tool: ToolConfig) -> dict[str, Any]:
    """A configured tool as the LLM sees it: its signature (substituted) describes it.

    Arguments bound by `variable_arguments` (and not `expose_to_llm`) are left out of its schema.
    """
    description = substitute(tool.signature or tool.description or "", ctx.dynamic, ctx.runtime)
    schema = tool.args_schema
    if schema is None and isinstance(tool, KnowledgeBaseTool):
        schema = KNOWLEDGE_BASE_ARGS_SCHEMA
    return tool_spec(tool.label, description, hide_bound_arguments(tool, schema))


async def mcp_targets(
    ctx: TurnContext, taken: set[str]
) -> tuple[list[dict[str, Any]], list[ToolTarget]]:
    """The tools of every MCP server of the workflow (names made unique against `taken`)."""
    specs: list[dict[str, Any]] = []
    targets: list[ToolTarget] = []
    servers = [_with_headers(ctx, s) for s in ctx.plan.workflow.settings.mcp_servers or []]
    pool = ctx.services.mcp_pool() if servers else None
    for server in servers:
        assert pool is not None
        for tool in await pool.list_tools(server):
            prefix = server.name or "mcp"
            name = tool.name if tool.name not in taken else f"{prefix}_{tool.name}"
            taken.add(name)
            specs.append(tool_spec(name, tool.description, tool.input_schema))
            targets.append(ToolTarget(name, server=server, remote_name=tool.name))
    return specs, targets


def _with_headers(ctx: TurnContext, server: MCPServerConfig) -> MCPServerConfig:
    # Header values may carry variables, e.g. "Bearer {{mcp_api_token}}" (wf example 16).
    if not server.api_headers:
        return server
    headers = {k: substitute(v, ctx.dynamic, ctx.runtime) for k, v in server.api_headers.items()}
    return server.model_copy(update={"api_headers": headers})


async def run_target(
    ctx: TurnContext,
    scope: NodeScope,
    target: ToolTarget,
    arguments: dict[str, Any],
    call_id: str | None,
    *,
    result_name: str | None = None,
) -> ToolOutcome:
    """Run one tool call with its events, static message and runtime variables.

    Args:
        result_name: where the outcome is written; default the tool's own result name.
    """
    tool = target.tool
    if tool is not None and tool.static_messages_config is not None:
        text = pick_static_message(ctx, f"tool:{tool.label}", tool.static_messages_config)
        if text:
            ctx.say_static(scope, text, answers=False, tool_name=tool.label)
    updates = ResultUpdates()
    if tool is not None:
        outcome = await _run_configured(ctx, scope, tool, arguments)
        outcome, updates = result_updates(tool, outcome)
    elif target.server is not None:
        outcome = await ctx.services.mcp_pool().call_tool(
            target.server, target.remote_name, arguments
        )
    else:
        outcome = ToolOutcome.failure(f"tool {target.name!r} has nothing to run")
    secrets = secret_texts(ctx)
    if outcome.error and secrets:  # e.g. a URL with a secret in a connection error
        outcome = outcome.model_copy(update={"error": redact(outcome.error, secrets)})
    ctx.log.tool_result(
        scope,
        name=target.name,
        call_id=call_id,
        arguments=arguments,
        success=outcome.success,
        result=outcome.result,
        error=outcome.error,
        content=outcome_message(outcome),
    )
    own_name = tool.result_runtime_variable_name if tool is not None else None
    record_outcome(ctx, result_name or own_name or "tool_result", outcome, updates)
    return outcome


async def _run_configured(
    ctx: TurnContext, scope: NodeScope, tool: ToolConfig, arguments: dict[str, Any]
) -> ToolOutcome:
    try:
        documents = knowledge_bases_of(ctx.plan.workflow.settings.miscellaneous or {})
    except ValueError as exc:
        return ToolOutcome.failure(f"tool {tool.label!r} ({tool.type}) failed: {exc}")
    return await ctx.services.tools.run(
        tool,
        arguments,
        dynamic=ctx.dynamic,
        runtime=ctx.runtime,
        context={"node_logical_id": scope.node_id},
        knowledge_bases=documents,
    )


def secret_texts(ctx: TurnContext) -> list[str]:
    """The run's secret variable values, to mask in what a tool call records."""
    return list(ctx.dynamic._secrets.values()) if isinstance(ctx.dynamic, SecretOverlay) else []


def record_outcome(
    ctx: TurnContext, variable: str, outcome: ToolOutcome, updates: ResultUpdates | None = None
) -> None:
    """Write `[[variable]]`, the result's mapped variables, then `_success` and `_error`.

    Workflow-scoped mappings land in the runtime variables too: the engine keeps one runtime
    store per thread, and a thread-local variable wins where both exist on the platform anyway.
    """
    ctx.runtime[variable] = outcome.result if outcome.success else None
    if updates is not None:
        ctx.runtime.update(updates.thread)
        ctx.runtime.update(updates.workflow)
    ctx.runtime[f"{variable}_success"] = outcome.success
    ctx.runtime[f"{variable}_error"] = outcome.error


def outcome_message(outcome: ToolOutcome) -> str:
    """What the LLM reads back from a tool call."""
    if outcome.success:
        result = outcome.result
        return result if isinstance(result, str) else json.dumps(result, default=str)
    return f"Error: {outcome.error}"
