"""A workflow run as a compact transcript for an LLM judge (what evaluator nodes read).

Rendered from the run's events in the platform's shapes: user and assistant messages, tool calls
and results (LangChain AI and tool messages on `say_llm`/`worker_llm` events; a tool node's
`start_node_run.run_input` and run output), structured outputs (`end_node_run.run_output`), edges
and errors. The `tool_call`/`tool_result` events of runs recorded by earlier harness versions
render the same way. Run and workflow ids are left out: they differ between the engine and the
platform, and a judge's prompt must be the same on both so one recording replays for either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.models.api import EventType

__all__ = ["render_run"]

_TEXT_LIMIT = 600  # characters of one message in the transcript: enough to judge, not a dump
_EDGE_TYPES = (
    EventType.CONDITIONAL_EDGE,
    EventType.DIRECT_EDGE,
    EventType.REVERSE_CONDITIONAL_EDGE,
)
_LEGACY_TOOL_CALL, _LEGACY_TOOL_RESULT = "tool_call", "tool_result"
_TOOL_NODE_TYPES = ("tool_node", "http_request")


def render_run(data: Mapping[str, Any]) -> str:
    """A fetched run (`WorkflowRun` as JSON data) as a compact transcript for an LLM judge."""
    lines = [
        f"Workflow run: status {data.get('status')}"
        + (
            f", terminated by {data['termination_source']}"
            if data.get("termination_source")
            else ""
        )
    ]
    for number, pair in enumerate(data.get("input_output_pairs") or [], start=1):
        run_input = pair.get("run_input") or {}
        lines.append(f"Turn {number} ({run_input.get('command', 'start')}):")
        events = (pair.get("run_output") or {}).get("events") or []
        calls: dict[str, str] = {}  # tool call id -> its line, said once the tool answers
        lines.extend(f"  {line}" for e in events if isinstance(e, dict) for line in _line(e, calls))
    runtime = _final_runtime(data)
    if runtime:
        lines.append(f"Runtime variables at the end: {_clip(json.dumps(runtime, default=str))}")
    return "\n".join(lines)


def _line(event: Mapping[str, Any], calls: dict[str, str]) -> list[str]:
    kind = event.get("type")
    node = event.get("origin_node_name") or event.get("origin_node_logical_id")
    if kind == EventType.USER_MESSAGES:
        return [f"user: {_clip(_message_text(m))}" for m in event.get("messages") or []]
    if kind == EventType.ASSISTANT_RESPONSE:
        return [f"assistant [{node}]: {_clip(str(event.get('content')))}"]
    if kind in (EventType.SAY_LLM, EventType.WORKER_LLM):
        return _llm_message_lines(event.get("message"), node, calls)
    if kind == EventType.START_NODE_RUN:
        return _tool_node_call(event.get("run_input"), node)
    if kind == EventType.END_NODE_RUN:
        return _node_output_lines(event.get("run_output"), node)
    if kind == _LEGACY_TOOL_CALL:
        return [_tool_call_line(node, event.get("tool_name"), event.get("arguments"))]
    if kind == _LEGACY_TOOL_RESULT:
        ok = bool(event.get("success"))
        return [_tool_result_line(ok, event.get("result") if ok else event.get("error_message"))]
    if kind in _EDGE_TYPES:
        source, destination = (
            event.get("source_node_logical_id"),
            event.get("destination_node_logical_id"),
        )
        return [f"{kind}: {source} -> {destination}"]
    if kind == EventType.WORKFLOW_ERROR:
        return [f"error: {_clip(str(event.get('error_message')))}"]
    return []


def _llm_message_lines(message: Any, node: Any, calls: dict[str, str]) -> list[str]:
    """A tool call is shown with its result: a call no tool answers (a transition) is not."""
    if not isinstance(message, Mapping):
        return []
    if message.get("type") == "tool":
        metadata = message.get("response_metadata") or {}
        ok = message.get("status") != "error"
        call = calls.pop(str(message.get("tool_call_id")), None)
        result = _tool_result_line(ok, metadata.get("tool_result" if ok else "tool_error"))
        return [call, result] if call is not None else [result]
    for call in message.get("tool_calls") or []:
        if isinstance(call, Mapping):
            calls[str(call.get("id"))] = _tool_call_line(node, call.get("name"), call.get("args"))
    return []


def _tool_node_call(run_input: Any, node: Any) -> list[str]:
    misc = run_input.get("miscellaneous") if isinstance(run_input, Mapping) else None
    if not isinstance(misc, Mapping) or "tool_name" not in misc:
        return []
    return [_tool_call_line(node, misc.get("tool_name"), misc.get("tool_arguments"))]


def _node_output_lines(output: Any, node: Any) -> list[str]:
    if not isinstance(output, Mapping):
        return []
    if output.get("structured_output"):
        return [f"extracted [{node}]: {_clip(json.dumps(output['structured_output']))}"]
    if output.get("type") == "tool_node":
        ok = bool(output.get("success"))
        return [_tool_result_line(ok, output.get("tool_result" if ok else "error_message"))]
    return []


def _tool_call_line(node: Any, name: Any, arguments: Any) -> str:
    return f"tool call [{node}]: {name}({_clip(json.dumps(arguments, default=str))})"


def _tool_result_line(ok: bool, value: Any) -> str:
    state = "ok" if ok else "error"
    return f"tool result ({state}): {_clip(json.dumps(value, default=str))}"


def _message_text(message: Any) -> str:
    if isinstance(message, Mapping):
        return str(message.get("content"))
    return str(message)


def _final_runtime(data: Mapping[str, Any]) -> Any:
    for pair in reversed(data.get("input_output_pairs") or []):
        for event in reversed((pair.get("run_output") or {}).get("events") or []):
            if isinstance(event, dict) and event.get("type") == EventType.WORKFLOW_SHOW_STATE:
                return event.get("runtime_variables")
    return None


def _clip(text: str) -> str:
    return text if len(text) <= _TEXT_LIMIT else f"{text[:_TEXT_LIMIT]}..."
