"""The built-in platform engine: graph, nodes, transitions, tools, LLM client, run store.

`Engine.execute(workflow, run_input)` runs one turn of a hydrated workflow as the platform does;
docs/engine.md lists the rules it follows. The MCP names (`MCPClientPool`, `McpToolSpec`,
`MCPServerError`) are loaded on first access: the MCP SDK takes most of a second to import and
only nodes with `use_mcp_tools` need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.engine.accounting import UsageTotals, usage_info
from harness.engine.clocks import ManualClock, no_wait
from harness.engine.context import (
    EngineServices,
    NodeHandler,
    NodeResult,
    NodeVisit,
    TurnContext,
    WorkflowPlan,
    WorkflowRegistry,
)
from harness.engine.events import EventLog, NodeScope
from harness.engine.executor import DEFAULT_HOP_LIMIT, Engine, RunCallback
from harness.engine.expressions import (
    Expression,
    ExpressionError,
    evaluate_expression,
    parse_expression,
)
from harness.engine.graph import WorkflowGraph, load_graph, validate_graph
from harness.engine.llm import (
    ChatRequest,
    ChatResponse,
    LLMCallError,
    LLMClient,
    TokenUsage,
    ToolCall,
)
from harness.engine.nodes import DEFAULT_NODE_HANDLERS
from harness.engine.registry import MappingWorkflowRegistry, workflow_id_of
from harness.engine.sandbox import Sandbox, ToolOutcome
from harness.engine.state import RunState, ThreadState
from harness.engine.store import (
    MemoryRunStore,
    RunNotFoundError,
    RunStore,
    SqliteRunStore,
    StoredRun,
)
from harness.engine.tools import ToolMock, ToolRunner, run_http_request
from harness.engine.variables import (
    Clock,
    FixedClock,
    SystemClock,
    builtin_variables,
    substitute,
    substitute_value,
)

if TYPE_CHECKING:
    from harness.engine.mcp import MCPClientPool, MCPServerError, McpToolSpec

_LAZY = {"MCPClientPool", "MCPServerError", "McpToolSpec"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from harness.engine import mcp

        return getattr(mcp, name)
    raise AttributeError(f"module 'harness.engine' has no attribute {name!r}")


__all__ = [
    "DEFAULT_HOP_LIMIT",
    "DEFAULT_NODE_HANDLERS",
    "ChatRequest",
    "ChatResponse",
    "Clock",
    "Engine",
    "EngineServices",
    "EventLog",
    "Expression",
    "ExpressionError",
    "FixedClock",
    "LLMCallError",
    "LLMClient",
    "MCPClientPool",
    "MCPServerError",
    "ManualClock",
    "MappingWorkflowRegistry",
    "McpToolSpec",
    "MemoryRunStore",
    "NodeHandler",
    "NodeResult",
    "NodeScope",
    "NodeVisit",
    "RunCallback",
    "RunNotFoundError",
    "RunState",
    "RunStore",
    "Sandbox",
    "SqliteRunStore",
    "StoredRun",
    "SystemClock",
    "ThreadState",
    "TokenUsage",
    "ToolCall",
    "ToolMock",
    "ToolOutcome",
    "ToolRunner",
    "TurnContext",
    "UsageTotals",
    "WorkflowGraph",
    "WorkflowPlan",
    "WorkflowRegistry",
    "builtin_variables",
    "evaluate_expression",
    "load_graph",
    "no_wait",
    "parse_expression",
    "run_http_request",
    "substitute",
    "substitute_value",
    "usage_info",
    "validate_graph",
    "workflow_id_of",
]
