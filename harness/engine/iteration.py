"""What the end of an iteration (one execute call that ran nodes) records, in the platform's shapes.

`end_workflow_iteration` carries `iteration_number` (1-based), `run_input_output_pair` (the
turn's pair as stored, its `run_output.events` left empty as the platform's capture shows) and
`iteration_metrics` (`WorkflowIterationMetrics`); the pair also gets
`iteration_end_state_miscellaneous` (node histories per thread, the global-node return points,
the active threads). Latencies come from the events' timestamps (the engine's clock), so
replays repeat them.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from harness.engine.state import RunState
from harness.models.api import (
    EventType,
    RunEvent,
    WorkflowRunInputOutputPair,
    pair_snapshot_json,
)

__all__ = [
    "TOOL_NODE_TYPES",
    "end_state_miscellaneous",
    "iteration_metrics",
    "pair_snapshot",
    "record_node_history",
]

TOOL_NODE_TYPES = frozenset({"tool_node", "http_request"})
"""Node types whose runs count as the iteration's tool calls (not the LLM nodes' tool loops)."""

_NODE_RUN_BOUNDS = frozenset({EventType.START_NODE_RUN, EventType.END_NODE_RUN})
_LLM_EVENTS = frozenset(
    {EventType.SAY_LLM, EventType.WORKER_LLM, EventType.CONDITION_EVALUATOR_LLM}
)


def record_node_history(state: RunState, events: Iterable[RunEvent]) -> None:
    """Append the nodes this iteration entered to each thread's history (in the state)."""
    for event in events:
        if event.type != EventType.START_NODE_RUN:
            continue
        node = event.origin_node_logical_id
        if node:
            thread = event.origin_thread_id or "0"
            state.nodes_history.setdefault(thread, []).append(node)


def end_state_miscellaneous(state: RunState) -> dict[str, Any]:
    """The pair's `iteration_end_state_miscellaneous`."""
    main = {t: h for t, h in state.nodes_history.items() if t == "0"}
    companions = {t: h for t, h in state.nodes_history.items() if t != "0"}
    previous = {t: s.return_stack[-1] for t, s in state.threads.items() if s.return_stack}
    return {
        "thread_id_to_nodes_history": {t: list(h) for t, h in main.items()},
        "companion_thread_id_to_nodes_history": {t: list(h) for t, h in companions.items()},
        "thread_id_to_global_node_previous_node": previous,
        "active_thread_ids": list(state.threads) or ["0"],
    }


def pair_snapshot(pair: WorkflowRunInputOutputPair) -> dict[str, Any]:
    """The pair as `end_workflow_iteration` embeds it: its events left out (they follow)."""
    return pair_snapshot_json(pair)


def iteration_metrics(events: list[RunEvent]) -> dict[str, Any]:
    """The iteration's `WorkflowIterationMetrics` from its events (e2e: first to last event)."""
    llm = _llm_latencies(events)
    tools = _tool_latencies(events)
    e2e = (events[-1].timestamp - events[0].timestamp) * 1000 if events else 0
    return {
        "e2e_latency_milliseconds": round(e2e),
        "nodes_executed_count": sum(e.type == EventType.START_NODE_RUN for e in events),
        "llm_call_count": len(llm),
        "tool_call_count": len(tools),
        "llm_call_latency_stats": _stats(list(llm.values())),
        "tool_call_latency_stats": _stats(tools),
    }


def _llm_latencies(events: list[RunEvent]) -> dict[str, float]:
    """Latency per distinct LLM call (one response id = one call, however many events)."""
    calls: dict[str, float] = {}
    for index, event in enumerate(events):
        if event.type not in _LLM_EVENTS:
            continue
        info = event.get("llm_usage_info")
        if not isinstance(info, dict):
            continue
        response_id = info.get("llm_response_id")
        latency = info.get("response_latency_milliseconds")
        if response_id is None and latency is None and info.get("total_tokens") is None:
            continue  # a tool result carried on an LLM event: no LLM call
        calls.setdefault(str(response_id or f"#{index}"), float(latency or 0))
    return calls


def _tool_latencies(events: list[RunEvent]) -> list[float]:
    started: dict[tuple[str | None, str | None], float] = {}
    latencies: list[float] = []
    for event in events:
        if event.type not in _NODE_RUN_BOUNDS:
            continue
        key = (event.origin_node_logical_id, event.origin_node_run_id)
        if event.type == EventType.START_NODE_RUN:
            started[key] = event.timestamp
        else:
            output = event.get("run_output")
            kind = output.get("type") if isinstance(output, dict) else None
            if kind in TOOL_NODE_TYPES and key in started:
                latencies.append((event.timestamp - started[key]) * 1000)
    return latencies


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "average_milliseconds": sum(values) / len(values),
        "min_milliseconds": min(values),
        "max_milliseconds": max(values),
        "median_milliseconds": float(statistics.median(values)),
    }
