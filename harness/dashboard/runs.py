"""One scenario run for the drill-down: its transcript, its events, and two runs side by side.

Pure functions over a stored `ScenarioResult` (no Streamlit, no SQL). Run outputs (the events of
each execute call) live in the batch's report folder: one line of an artifact pack
(`artifacts/<pack>.jsonl#<offset>`), or a per-scenario file (`artifacts/<scenario>.json`) in
folders of earlier versions (docs/results.md); `run_outputs` looks for the folder beside the
history and under the batch's project root, and says why when it finds none: the transcript is
then built from the result alone (said text, path, tool calls, usage, checks), without events.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.models.result import AttemptResult, BatchInfo, ScenarioResult, TurnResult

__all__ = [
    "Outputs",
    "TurnView",
    "batch_folders",
    "event_rows",
    "path_dot",
    "run_outputs",
    "said_diff",
    "transcript",
    "usage_diff_rows",
    "user_messages",
]

Outputs = dict[tuple[int, int], Any]
"""Run output by (attempt, execute-call index)."""

_COMMANDS = {"pause": "paused the run", "resume": "resumed the run", "stop": "stopped the run"}


def batch_folders(history: str | Path, info: BatchInfo) -> list[Path]:
    """Where a batch's report folder may be: beside the history (`reports/<batch id>`, the
    default layout), then under the project root it was run in."""
    candidates = [Path(history).resolve().parent / info.batch_id]
    if info.project_root:
        candidates.append(Path(info.project_root) / "reports" / info.batch_id)
    return candidates


def run_outputs(
    history: str | Path, info: BatchInfo, result: ScenarioResult
) -> tuple[Outputs, str | None]:
    """The run outputs of a result's turns, from its artifact; and why there are none (None
    when they were found)."""
    inline = {
        (a.attempt, t.index): t.run_output
        for a in result.attempts
        for t in a.turns
        if t.run_output is not None
    }
    if inline:
        return inline, None
    artifact = result.artifact or next(
        (t.artifact for a in result.attempts for t in a.turns if t.artifact), None
    )
    if artifact is None:
        return {}, "this result references no artifact: its events were not kept"
    from harness.results.artifacts import artifact_file
    from harness.results.reading import read_run_outputs

    folders = batch_folders(history, info)
    file = artifact_file(artifact)
    for folder in folders:
        if (folder / file).is_file():
            try:
                return read_run_outputs(folder, artifact), None
            except HarnessError as exc:
                return {}, f"the artifact cannot be read: {exc}"
    looked = " or ".join(str(f / file) for f in folders)
    return {}, f"the artifact file is not there any more (looked for {looked}): events unavailable"


def user_messages(run_input: dict[str, Any]) -> list[str]:
    """What the user said in an execute call: the user messages of its node run inputs."""
    said: list[str] = []
    threads = run_input.get("thread_to_node_inputs") or {}
    for thread in threads.values() if isinstance(threads, dict) else []:
        for node_input in (thread or {}).get("node_run_inputs") or []:
            for message in (node_input or {}).get("messages") or []:
                if isinstance(message, dict) and message.get("role") == "user":
                    said.append(_text(message.get("content")))
    return said


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else json.dumps(content)


def event_rows(events: Iterable[Any]) -> list[dict[str, Any]]:
    """One row per event: its type, node, and a one-line summary of what it carries."""
    rows = []
    for event in events:
        if not isinstance(event, dict):
            continue
        rows.append(
            {
                "type": event.get("type", "?"),
                "node": event.get("origin_node_logical_id") or "",
                "summary": _summary(event),
            }
        )
    return rows


def _summary(event: dict[str, Any]) -> str:
    kind = event.get("type")
    if kind in ("assistant_response",):
        return str(event.get("content") or "")[:200]
    if kind == "user_messages":
        return " | ".join(_text(m.get("content")) for m in event.get("messages") or [])[:200]
    if kind in ("conditional_edge", "direct_edge", "reverse_conditional_edge", "self_loop_edge"):
        source = event.get("source_node_logical_id") or "?"
        target = event.get("destination_node_logical_id") or "?"
        return (
            f"{event.get('edge_logical_id') or event.get('edge_name') or ''}: {source} -> {target}"
        )
    usage = event.get("llm_usage_info")
    if isinstance(usage, dict):
        return (
            f"{usage.get('response_model') or '?'}: {usage.get('total_tokens') or 0} tokens, "
            f"{usage.get('response_latency_milliseconds') or 0} ms"
        )
    message = event.get("message")
    if isinstance(message, dict):
        return json.dumps(message, ensure_ascii=False)[:200]
    return ""


@dataclass
class TurnView:
    """One execute call as the transcript shows it."""

    turn: TurnResult
    user: list[str] = field(default_factory=list)
    """What the user said (user turns and simulated ones)."""
    action: str | None = None
    """What the scenario did instead of speaking (start with variables, pause, resume, stop)."""
    events: list[dict[str, Any]] | None = None
    """The call's events from the artifact; None when unavailable."""


def transcript(attempt: AttemptResult, outputs: Outputs) -> list[TurnView]:
    """The turns of one attempt, with the user's side and the events when available."""
    views = []
    for turn in attempt.turns:
        output = outputs.get((attempt.attempt, turn.index))
        events = output.get("events") if isinstance(output, dict) else None
        views.append(
            TurnView(
                turn=turn,
                user=user_messages(turn.input),
                action=_action(turn),
                events=event_rows(events) if isinstance(events, list) else None,
            )
        )
    return views


def _action(turn: TurnResult) -> str | None:
    command = turn.input.get("command")
    if command == "start":
        variables = turn.input.get("dynamic_variables") or {}
        shown = ", ".join(f"{k}={v!r}" for k, v in variables.items())
        return f"started the run ({shown})" if shown else "started the run"
    if isinstance(command, str) and command in _COMMANDS:
        return _COMMANDS[command]
    return None


def path_dot(attempt: AttemptResult) -> str:
    """The nodes a run went through, as a small Graphviz graph (edges numbered in order)."""
    lines = ["digraph run {", "  rankdir=LR;", '  node [shape=box, style="rounded"];']
    seen: list[str] = []
    steps: list[tuple[str, str, str]] = []
    previous: str | None = None
    for turn in attempt.turns:
        for node in turn.path:
            if node not in seen:
                seen.append(node)
            if previous is not None and previous != node:
                steps.append((previous, node, f"t{turn.turn}"))
            previous = node
    for node in seen:
        lines.append(f"  {json.dumps(node)};")
    for number, (source, target, turn_label) in enumerate(steps, start=1):
        label = json.dumps(f"{number} ({turn_label})")
        lines.append(f"  {json.dumps(source)} -> {json.dumps(target)} [label={label}];")
    lines.append("}")
    return "\n".join(lines)


def usage_diff_rows(a: AttemptResult, b: AttemptResult) -> list[dict[str, Any]]:
    """Tokens, LLM calls and latency per (turn, node) of two runs, and the differences."""
    left, right = _usage_by_node(a), _usage_by_node(b)
    rows = []
    for key in sorted(set(left) | set(right), key=lambda k: (k[0], k[1])):
        one, two = left.get(key, (0, 0, 0.0)), right.get(key, (0, 0, 0.0))
        rows.append(
            {
                "turn": key[0],
                "node": key[1],
                "tokens A": one[0],
                "tokens B": two[0],
                "tokens Δ": two[0] - one[0],
                "calls A": one[1],
                "calls B": two[1],
                "latency A (ms)": one[2],
                "latency B (ms)": two[2],
                "latency Δ (ms)": two[2] - one[2],
            }
        )
    return rows


def _usage_by_node(attempt: AttemptResult) -> dict[tuple[int, str], tuple[int, int, float]]:
    sums: dict[tuple[int, str], tuple[int, int, float]] = {}
    for turn in attempt.turns:
        for row in turn.usage:
            key = (turn.turn, row.node or "")
            tokens, calls, latency = sums.get(key, (0, 0, 0.0))
            sums[key] = (tokens + row.total_tokens, calls + row.llm_calls, latency + row.latency_ms)
    return sums


def said_diff(a: Sequence[TurnResult], b: Sequence[TurnResult]) -> str:
    """A unified diff of two runs' transcripts (user and assistant lines, turn by turn)."""
    return "\n".join(
        difflib.unified_diff(
            _transcript_lines(a), _transcript_lines(b), "run A", "run B", lineterm="", n=2
        )
    )


def _transcript_lines(turns: Sequence[TurnResult]) -> list[str]:
    lines = []
    for turn in turns:
        lines += [f"[{turn.index}] user: {text}" for text in user_messages(turn.input)]
        lines += [f"[{turn.index}] assistant: {line}" for line in turn.said.splitlines()]
        if turn.path:
            lines.append(f"[{turn.index}] path: {' -> '.join(turn.path)}")
    return lines
