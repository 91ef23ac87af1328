"""Running tools for LLM nodes and tool nodes: events, static messages, runtime variables.

A tool call says the tool's static message (if any) while it runs, emits `tool_call` then
`tool_result`, and writes `[[name]]`, `[[name_success]]` and `[[name_error]]`, where `name` is the
tool's `result_runtime_variable_name` (default `tool_result`). Tool failures are data (an
unsuccessful outcome shown to the LLM), never exceptions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harness.engine.context import TurnContext
from harness.engine.events import NodeScope
from harness.engine.sandbox import ToolOutcome
from harness.engine.static_messages import pick_static_message
from harness.engine.variables import substitute
from harness.models.api import EventType, MCPServerConfig, ToolConfig

__all__ = [
    "ToolTarget",
    "configured_tool_spec",
    "mcp_targets",
    "outcome_message",
    "record_outcome",
    "run_target",
    "tool_spec",
]

_EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


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
    """A configured tool as the LLM sees it: its signature (substituted) describes it."""
    description = substitute(tool.signature or tool.description or "", ctx.dynamic, ctx.runtime)
    return tool_spec(tool.name, description, tool.args_schema)


async def mcp_targets(
    ctx: TurnContext, taken: set[str]
) -> tuple[list[dict[str, Any]], list[ToolTarget]]:
    """The tools of every MCP server of the workflow (names made unique against `taken`)."""
    specs: list[dict[str, Any]] = []
    targets: list[ToolTarget] = []
    servers = ctx.plan.workflow.workflow_config.mcp_servers
    pool = ctx.services.mcp_pool() if servers else None
    for server in servers:
        assert pool is not None
        for tool in await pool.list_tools(server):
            name = tool.name if tool.name not in taken else f"{server.name}_{tool.name}"
            taken.add(name)
            specs.append(tool_spec(name, tool.description, tool.input_schema))
            targets.append(ToolTarget(name, server=server, remote_name=tool.name))
    return specs, targets


async def run_target(
    ctx: TurnContext,
    scope: NodeScope,
    target: ToolTarget,
    arguments: dict[str, Any],
    call_id: str | None,
) -> ToolOutcome:
    """Run one tool call with its events, static message and runtime variables."""
    tool = target.tool
    if tool is not None and tool.static_messages_config is not None:
        text = pick_static_message(ctx, f"tool:{tool.name}", tool.static_messages_config)
        if text:
            ctx.say_static(scope, text, answers=False, tool_name=tool.name)
    ctx.log.emit(
        EventType.TOOL_CALL,
        scope,
        tool_name=target.name,
        arguments=arguments,
        tool_call_id=call_id,
    )
    if tool is not None:
        outcome = await ctx.services.tools.run(
            tool,
            arguments,
            dynamic=ctx.dynamic,
            runtime=ctx.runtime,
            context={"node_logical_id": scope.node_id},
        )
    elif target.server is not None:
        outcome = await ctx.services.mcp_pool().call_tool(
            target.server, target.remote_name, arguments
        )
    else:
        outcome = ToolOutcome.failure(f"tool {target.name!r} has nothing to run")
    ctx.log.emit(
        EventType.TOOL_RESULT,
        scope,
        tool_name=target.name,
        tool_call_id=call_id,
        success=outcome.success,
        result=outcome.result,
        error_message=outcome.error,
        duration_ms=outcome.duration_ms,
    )
    variable = tool.result_runtime_variable_name if tool is not None else "tool_result"
    record_outcome(ctx, variable, outcome)
    return outcome


def record_outcome(ctx: TurnContext, variable: str, outcome: ToolOutcome) -> None:
    """Write `[[variable]]`, `[[variable_success]]` and `[[variable_error]]`."""
    ctx.runtime[variable] = outcome.result if outcome.success else None
    ctx.runtime[f"{variable}_success"] = outcome.success
    ctx.runtime[f"{variable}_error"] = outcome.error


def outcome_message(outcome: ToolOutcome) -> str:
    """What the LLM reads back from a tool call."""
    if outcome.success:
        result = outcome.result
        return result if isinstance(result, str) else json.dumps(result, default=str)
    return f"Error: {outcome.error}"
