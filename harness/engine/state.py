"""Per-run engine state: what the engine needs between turns that the returned run does not show.

Stored beside the run (never inside the `WorkflowRun` the caller receives): where each thread is
parked, its chat history, the sequence counters of `say_static` nodes, the global-node return
stack, node run counters, the run's variables and the accounting totals. It is a versioned
pydantic model so that a run can be continued by id from another process (see `store.py`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.engine.accounting import UsageTotals
from harness.models._factories import empty_list
from harness.models.api import RunStatus

__all__ = ["MAX_RETURN_STACK", "STATE_VERSION", "RunState", "ThreadState"]

STATE_VERSION = 1
MAX_RETURN_STACK = 16
"""Deepest nesting of global nodes remembered; older return points are dropped first."""


class ThreadState(BaseModel):
    """One conversation thread (thread "0" is the main one)."""

    model_config = ConfigDict(extra="forbid")

    node_logical_id: str | None = Field(default=None, description="The node the thread is on.")
    node_run_id: str | None = Field(default=None, description="Run id of the parked node run.")
    parked: bool = Field(default=False, description="Waiting for a user message at the node.")
    ended: bool = False
    history: list[dict[str, Any]] = Field(
        default_factory=empty_list,
        description="Chat history: OpenAI-style user/assistant messages.",
    )
    user_message_count: int = Field(default=0, description="User messages received so far.")
    unanswered: bool = Field(
        default=False, description="A user message arrived and no node has answered it yet."
    )
    consumed: dict[str, int] = Field(
        default_factory=dict,
        description="Node id -> user_message_count when the node last read the conversation.",
    )
    return_stack: list[str] = Field(
        default_factory=empty_list, description="Nodes that global nodes were entered from."
    )
    conditional_hops: int = Field(
        default=0, description="Conditional edges taken since the last user message."
    )
    self_loop_node: str | None = Field(default=None, description="Node of the self-loop streak.")
    self_loop_count: int = Field(default=0, description="Consecutive self-loops of that node.")
    after_reverse: bool = Field(
        default=False,
        description="A reverse edge was taken: the next LLM invocation gets no transition tools.",
    )
    waiting_transitions: int = Field(
        default=0, description="Edges taken by evaluate-while-waiting since the last user message."
    )
    guardrail_entries: int = Field(
        default=0, description="Entries into guardrail nodes from non-guardrail nodes."
    )
    runtime_variables: dict[str, Any] | None = Field(
        default=None,
        description="A companion thread's own runtime variables (None: the main thread's are the run's).",
    )
    parent_thread_id: str | None = Field(
        default=None, description="The thread a companion thread was forked from."
    )

    def deliver(self, texts: list[str]) -> None:
        """Append user messages to the history; they are unread for every node."""
        if not texts:
            return
        self.history.extend({"role": "user", "content": text} for text in texts)
        self.user_message_count += len(texts)
        self.unanswered = True
        self.conditional_hops = 0
        self.waiting_transitions = 0

    def has_unread(self, node_id: str) -> bool:
        """True when a user message arrived after `node_id` last read the conversation."""
        return self.consumed.get(node_id, 0) < self.user_message_count

    def push_return(self, node_id: str) -> None:
        """Remember where a global node was entered from."""
        self.return_stack.append(node_id)
        if len(self.return_stack) > MAX_RETURN_STACK:
            del self.return_stack[0]


class RunState(BaseModel):
    """Everything the engine keeps about a run between turns."""

    model_config = ConfigDict(extra="forbid")

    version: int = STATE_VERSION
    threads: dict[str, ThreadState] = Field(default_factory=dict)
    dynamic_variables: dict[str, Any] = Field(
        default_factory=dict, description="Workflow defaults overlaid by every run input's."
    )
    runtime_variables: dict[str, Any] = Field(
        default_factory=dict, description="Defaults, run inputs, then what nodes wrote."
    )
    say_static_counters: dict[str, int] = Field(
        default_factory=dict, description="Node id -> messages said in sequence mode."
    )
    node_run_counters: dict[str, int] = Field(
        default_factory=dict, description="Node id -> executions so far (origin_node_run_id)."
    )
    edge_run_counters: dict[str, int] = Field(
        default_factory=dict, description="Edge key -> times taken so far (edge_run_id)."
    )
    nodes_history: dict[str, list[str]] = Field(
        default_factory=dict, description="Thread id -> nodes entered, in order, over the run."
    )
    status_before_pause: RunStatus | None = None
    iterations: int = Field(default=0, description="Turns that executed nodes.")
    usage: UsageTotals = Field(default_factory=UsageTotals)

    def main_thread(self) -> ThreadState:
        """Thread "0", created on first use."""
        thread = self.threads.get("0")
        if thread is None:
            thread = self.threads["0"] = ThreadState()
        return thread

    def next_node_run_id(self, node_id: str) -> str:
        """The next per-node run counter, from "1"."""
        count = self.node_run_counters.get(node_id, 0) + 1
        self.node_run_counters[node_id] = count
        return str(count)
