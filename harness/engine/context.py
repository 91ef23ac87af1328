"""What a node handler sees during one turn: the run, its state, the services, the event log.

`TurnContext` is built once per execute call and passed to every node handler and to the
transition logic; it carries no per-node state (that travels in `NodeVisit` and `NodeResult`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import httpx

from harness.engine.accounting import usage_info
from harness.engine.events import EventLog, NodeScope
from harness.engine.graph import WorkflowGraph
from harness.engine.llm import ChatResponse, LLMClient
from harness.engine.options import WorkflowOptions
from harness.engine.state import RunState, ThreadState
from harness.engine.tools import ToolRunner
from harness.engine.variables import Clock
from harness.models.api import (
    Condition,
    ConditionalEdgeConfig,
    EventType,
    GlobalConditionEvaluationMethod,
    NodeConfig,
    NodeOutput,
    NodeRunOutput,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
)

if TYPE_CHECKING:
    # The MCP SDK takes most of a second to import: only nodes with `use_mcp_tools` pay for it.
    from harness.engine.mcp import MCPClientPool

__all__ = [
    "Candidate",
    "EngineServices",
    "EntryKind",
    "LoopingRiskError",
    "NodeHandler",
    "NodeResult",
    "NodeVisit",
    "RunLoader",
    "Sleeper",
    "TurnContext",
    "WorkflowPlan",
    "WorkflowRegistry",
]

EntryKind = Literal[
    "start", "edge", "self_loop", "resume", "global", "reverse", "retry", "companion"
]
"""How a node was entered: `resume` continues a node run parked in an earlier turn; `retry` is
a bounded self-loop (`self_loop_config`) re-executing the node at once, without waiting;
`companion` runs a companion edge's node beside its source (`companions.py`)."""


class LoopingRiskError(Exception):
    """A turn exceeded the node execution cap; the run ends as `aborted_looping_risk`."""


class WorkflowRegistry(Protocol):
    """Resolves workflows by id (e.g. evaluator workflows named by `evaluation_config`)."""

    def get(self, workflow_id: str) -> WorkflowConfigFullyHydrated | None:
        """The hydrated workflow, or None when unknown."""
        ...


RunLoader = Callable[[str], Awaitable[WorkflowRun | None]]
"""Loads a stored run by `workflow_run_id` (for `workflow_run_fetch` nodes)."""

Sleeper = Callable[[float], Awaitable[None]]
"""Waits a number of seconds (`asyncio.sleep`); injected so tests and replays never wait."""


@dataclass(slots=True)
class EngineServices:
    """The outside world of the engine, injected once."""

    llm: LLMClient
    tools: ToolRunner
    http: httpx.AsyncClient
    clock: Clock
    workflows: WorkflowRegistry | None
    load_run: RunLoader
    mcp: MCPClientPool | None = None
    sleep: Sleeper = asyncio.sleep

    def mcp_pool(self) -> MCPClientPool:
        """The MCP client pool, created (and the MCP SDK imported) on first use."""
        if self.mcp is None:
            from harness.engine.mcp import MCPClientPool

            # Through the engine's client: a scenario's cassette records and replays MCP too.
            self.mcp = MCPClientPool(http=self.http)
        return self.mcp


@dataclass(slots=True)
class WorkflowPlan:
    """A loaded workflow and the settings derived from it, cached per config object."""

    workflow: WorkflowConfigFullyHydrated
    graph: WorkflowGraph
    hop_limit: int
    method: GlobalConditionEvaluationMethod
    options: WorkflowOptions = field(default_factory=WorkflowOptions)


@dataclass(slots=True)
class NodeVisit:
    """One entry into a node."""

    node: NodeConfig
    scope: NodeScope
    entered_by: EntryKind


@dataclass(frozen=True, slots=True)
class Candidate:
    """A conditional transition that an LLM may judge (or an expression decide)."""

    kind: Literal["global", "conditional", "reverse"]
    destination: str
    condition: Condition
    edge: ConditionalEdgeConfig | None = None
    label: str = ""


@dataclass(slots=True)
class NodeResult:
    """What a node run produced, before its transition is decided."""

    output: NodeOutput
    parked: bool = False
    pending_response: str | None = None
    pending_usage: dict[str, Any] | None = None
    transition_calls: list[tuple[Candidate, dict[str, Any]]] = field(default_factory=list)
    judged_freeform: bool = False
    failed: bool = False


NodeHandler = Callable[["TurnContext", NodeVisit], Awaitable[NodeResult]]
"""An async function running one node type."""


@dataclass(slots=True)
class TurnContext:
    """Everything one turn works with."""

    services: EngineServices
    plan: WorkflowPlan
    run: WorkflowRun
    state: RunState
    thread: ThreadState
    log: EventLog
    rng: random.Random
    dynamic: dict[str, Any]
    outputs: list[NodeRunOutput]
    """The typed outputs of the thread's node runs this turn (the run output's list itself)."""
    max_node_runs: int
    thread_id: str = "0"
    node_runs: int = 0
    variables: dict[str, Any] | None = None
    """A companion thread's own runtime variables; None on the main thread (the run's)."""

    @property
    def graph(self) -> WorkflowGraph:
        return self.plan.graph

    @property
    def runtime(self) -> dict[str, Any]:
        return self.variables if self.variables is not None else self.state.runtime_variables

    def count_node_run(self, node: NodeConfig) -> None:
        """Count one node execution; past the cap the turn ends as a looping risk."""
        self.node_runs += 1
        if self.node_runs > self.max_node_runs:
            raise LoopingRiskError(
                f"more than {self.max_node_runs} node executions in one turn "
                f"(last: {node.label}); the graph loops without waiting for the user"
            )

    def record_llm(self, response: ChatResponse) -> dict[str, Any]:
        """Count a call in the run's totals; returns its `llm_usage_info`."""
        self.state.usage.add(response)
        return usage_info(response)

    def say(self, scope: NodeScope, text: str, *, answers: bool, **extra: Any) -> None:
        """Say `text` as the assistant (event + history).

        Args:
            answers: True when this is a node's reply, so the user's message counts as answered;
                static messages of edges and tools are fillers and leave it unanswered.
        """
        self.log.emit(EventType.ASSISTANT_RESPONSE, scope, content=text, **extra)
        self.thread.history.append({"role": "assistant", "content": text})
        if answers:
            self.thread.unanswered = False

    def say_static(self, scope: NodeScope, text: str, *, answers: bool, **extra: Any) -> None:
        """A static message: `say_static` then `assistant_response`."""
        self.log.emit(EventType.SAY_STATIC, scope, message=text, **extra)
        self.say(scope, text, answers=answers, **extra)
