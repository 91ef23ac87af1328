"""`RunView`: what checks look at, derived from a `WorkflowRun` and its events.

A view is a run (a snapshot taken right after a turn, so `status` is the status after that turn)
plus the range of `input_output_pairs` the expectation is about: one pair for a turn, several for a
simulated conversation, all of them for the run-level `expect`. Everything is read from the events
catalogue of PLATFORM.md section 6, tolerantly (missing fields are None, unknown events ignored):

- said text: `assistant_response.content`
- node path and current node: `start_node_run.origin_node_logical_id`
- transitions: `direct_edge`, `conditional_edge`, `reverse_conditional_edge`, `self_loop_edge`
  (`edge_logical_id`, `source_node_logical_id`, `destination_node_logical_id`, `args_filled`)
- tool calls: `tool_call` (`tool_name` or `name`; `arguments`, `tool_arguments` or `args`, a dict
  or JSON text; `tool_call_id`) paired with `tool_result` (`tool_call_id` or the same tool name;
  `tool_result`, `result` or `output`; failure from `success: false`, `error_message` or `error`)
- runtime variables: the workflow's defaults, the run inputs, then the last
  `workflow_show_state.runtime_variables`
- usage: `llm_usage_info` of every event but `assistant_response` (which repeats its LLM call's),
  once per `llm_response_id`
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from harness.models.api import NodeOutput, RunEvent, WorkflowRun, WorkflowRunInputOutputPair
from harness.models.result import CheckOutcome, ToolCallRecord, TransitionRecord, TurnResult, Usage
from harness.models.selector import Step, parse_selector, select

__all__ = ["EDGE_EVENTS", "RunView"]

EDGE_EVENTS = ("direct_edge", "conditional_edge", "reverse_conditional_edge", "self_loop_edge")
"""Event types that record a transition."""

_VIRTUAL = [
    "turn",
    "said",
    "node",
    "path",
    "turn_path",
    "transitions",
    "tool_calls",
    "runtime_variables",
    "dynamic_variables",
    "outputs",
    "evaluation",
    "usage",
    "turn_events",
]


class RunView:
    """A run seen through the pairs `[first, last]` (inclusive) of its `input_output_pairs`.

    Args:
        run: the run, as it was right after the last pair of interest.
        first: index of the first pair of interest (default 0; negative counts from the end).
        last: index of the last pair of interest (default the last one).
        evaluation: the evaluation to check (default: the last pair's turn-by-turn evaluation).
    """

    def __init__(
        self,
        run: WorkflowRun,
        *,
        first: int = 0,
        last: int | None = None,
        evaluation: dict[str, Any] | None = None,
    ) -> None:
        count = len(run.input_output_pairs)
        self.run = run
        last = count - 1 if last is None else last
        self.end = min(count, (count + last if last < 0 else last) + 1)
        self.start = max(0, count + first if first < 0 else first)
        self._evaluation = evaluation

    @classmethod
    def of_turn(cls, run: WorkflowRun, index: int = -1) -> RunView:
        """The view of one execute call (default: the latest)."""
        return cls(run, first=index, last=index)

    @classmethod
    def of_run(cls, run: WorkflowRun, evaluation: dict[str, Any] | None = None) -> RunView:
        """The view of the whole run."""
        return cls(run, evaluation=evaluation)

    # ---------------------------------------------------------------- raw material

    @property
    def pairs(self) -> list[WorkflowRunInputOutputPair]:
        """The pairs of interest."""
        return self.run.input_output_pairs[self.start : self.end]

    @cached_property
    def events(self) -> list[RunEvent]:
        """Typed events of the pairs of interest, in order."""
        return [e for p in self.pairs for e in p.run_output.typed_events()]

    @cached_property
    def events_so_far(self) -> list[RunEvent]:
        """Typed events from the start of the run to the end of the view."""
        pairs = self.run.input_output_pairs[: self.end]
        return [e for p in pairs for e in p.run_output.typed_events()]

    @property
    def status(self) -> str:
        """Run status (after the view's last turn, when the run is a snapshot)."""
        return self.run.status.value

    @property
    def termination_source(self) -> str | None:
        """Why the run terminated abnormally, or None."""
        return self.run.termination_source

    # ---------------------------------------------------------------- derived

    @cached_property
    def said(self) -> str:
        """What the assistant said, responses joined by newlines."""
        texts = [e.get("content") for e in self.events if e.type == "assistant_response"]
        return "\n".join(t if isinstance(t, str) else json.dumps(t) for t in texts if t is not None)

    @cached_property
    def turn_path(self) -> list[str]:
        """Nodes entered in the view, consecutive repeats collapsed."""
        return _collapse(self.events)

    @cached_property
    def path(self) -> list[str]:
        """Nodes entered from the start of the run, consecutive repeats collapsed."""
        return _collapse(self.events_so_far)

    @property
    def node(self) -> str | None:
        """The current node: the last one entered."""
        return self.path[-1] if self.path else None

    @cached_property
    def transitions(self) -> list[TransitionRecord]:
        """Edges fired in the view."""
        return [_transition(e) for e in self.events if e.type in EDGE_EVENTS]

    @cached_property
    def tool_calls(self) -> list[ToolCallRecord]:
        """Tool calls in the view, each with its result when one was reported."""
        return _tool_calls(self.events)

    @cached_property
    def dynamic_variables(self) -> dict[str, Any]:
        """Dynamic variables: the workflow's defaults overridden by each run input."""
        config = self.run.workflow_config_fully_hydrated
        merged: dict[str, Any] = dict(config.dynamic_variables) if config else {}
        for pair in self.run.input_output_pairs[: self.end]:
            merged.update(pair.run_input.dynamic_variables)
        return merged

    @cached_property
    def runtime_variables(self) -> dict[str, Any]:
        """Runtime variables at the end of the view."""
        config = self.run.workflow_config_fully_hydrated
        merged: dict[str, Any] = dict(config.runtime_variables) if config else {}
        for pair in self.run.input_output_pairs[: self.end]:
            merged.update(pair.run_input.runtime_variables)
        for event in reversed(self.events_so_far):
            state = event.get("runtime_variables")
            if event.type == "workflow_show_state" and isinstance(state, dict):
                merged.update(state)
                break
        return merged

    @cached_property
    def outputs(self) -> dict[str, Any]:
        """Node id -> output in the view (structured output, else tool result; last one wins)."""
        found: dict[str, Any] = {}
        for pair in self.pairs:
            for outputs in pair.run_output.thread_to_node_outputs.values():
                for output in outputs:
                    found[output.node_logical_id] = _output_value(output)
        return found

    @cached_property
    def usage(self) -> Usage:
        """LLM tokens, calls and latency of the view."""
        return _usage(self.events)

    @property
    def evaluation(self) -> dict[str, Any] | None:
        """The evaluation given, else the last pair's turn-by-turn evaluation (None if empty)."""
        if self._evaluation is not None:
            return self._evaluation
        last = self.pairs[-1].evaluation if self.pairs else None
        return last or None

    def to_turn_result(
        self,
        *,
        index: int,
        turn: int,
        kind: str,
        label: str = "",
        outcomes: list[CheckOutcome] | None = None,
        wall_ms: float = 0,
        error: str | None = None,
    ) -> TurnResult:
        """The result record of the view's last execute call (what the runner stores per turn).

        Args:
            index: position of the execute call in the run, from 0.
            turn: index of the scenario turn that made it.
            kind: the turn's kind (`TurnKind` value).
            label: the turn's label.
            outcomes: the outcomes checked after it.
            wall_ms: measured wall-clock time of the call.
            error: an infrastructure error of the call, if any.
        """
        pair = self.pairs[-1] if self.pairs else None
        return TurnResult(
            index=index,
            turn=turn,
            kind=kind,
            label=label,
            input=pair.run_input.model_dump(mode="json", exclude_none=True) if pair else {},
            run_output=pair.run_output.model_dump(mode="json") if pair else None,
            status=self.run.status,
            said=self.said,
            path=self.turn_path,
            node=self.node,
            transitions=self.transitions,
            tool_calls=self.tool_calls,
            tokens=self.usage.tokens,
            llm_calls=self.usage.llm_calls,
            latency_ms=self.usage.latency_ms,
            wall_ms=wall_ms,
            outcomes=outcomes or [],
            error=error,
        )

    # ---------------------------------------------------------------- selectors

    def select(self, path: str) -> Any:
        """The value at a selector: a view name (`said`, `outputs`, `runtime_variables`, ...)
        or anything in the run (`input_output_pairs[-1].run_output.events[0].type`).

        Raises:
            SelectorMiss: nothing is there.
        """
        steps: tuple[Step, ...] = parse_selector(path)
        if steps and steps[0] in _VIRTUAL:
            return select({steps[0]: self._virtual(str(steps[0]))}, steps)
        return select(self.document, steps)

    def _virtual(self, name: str) -> Any:
        if name == "turn":
            return self.pairs[-1].model_dump(mode="json") if self.pairs else None
        if name == "turn_events":
            return [e.model_dump(mode="json") for e in self.events]
        if name in ("transitions", "tool_calls", "usage"):
            value = getattr(self, name)
            return value.model_dump() if name == "usage" else [v.model_dump() for v in value]
        return _jsonable(getattr(self, name))

    @cached_property
    def document(self) -> dict[str, Any]:
        """The run as JSON plus the view names: the root selectors are evaluated against."""
        document: dict[str, Any] = self.run.model_dump(mode="json")
        document.update({name: self._virtual(name) for name in _VIRTUAL})
        return document


def _collapse(events: list[RunEvent]) -> list[str]:
    path: list[str] = []
    for event in events:
        node = event.origin_node_logical_id
        if event.type == "start_node_run" and node and (not path or path[-1] != node):
            path.append(node)
    return path


def _transition(event: RunEvent) -> TransitionRecord:
    args = event.get("args_filled")
    source = event.get("source_node_logical_id") or event.origin_node_logical_id
    destination = event.get("destination_node_logical_id")
    if event.type == "self_loop_edge":
        destination = destination or source
    return TransitionRecord.model_construct(
        type=event.type.removesuffix("_edge"),
        edge=_text(event.get("edge_logical_id")),
        source=_text(source),
        destination=_text(destination),
        args=args if isinstance(args, dict) else None,
    )


def _text(value: Any) -> str | None:
    """A field as text (records are built unvalidated, so keep their types right here)."""
    return None if value is None else str(value)


def _first(event: RunEvent, *names: str) -> Any:
    for name in names:
        value = event.get(name)
        if value is not None:
            return value
    return None


def _arguments(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {"_raw": value}
    return value if isinstance(value, dict) else {}


def _tool_calls(events: list[RunEvent]) -> list[ToolCallRecord]:
    calls: list[ToolCallRecord] = []
    open_calls: list[ToolCallRecord] = []
    for event in events:
        if event.type == "tool_call":
            call = ToolCallRecord.model_construct(
                name=str(_first(event, "tool_name", "name") or "?"),
                arguments=_arguments(_first(event, "arguments", "tool_arguments", "args")),
                node=event.origin_node_logical_id,
                call_id=_text(_first(event, "tool_call_id", "call_id")),
            )
            calls.append(call)
            open_calls.append(call)
        elif event.type == "tool_result":
            pending = _pending(open_calls, event)
            if pending is None:
                pending = ToolCallRecord.model_construct(
                    name=str(_first(event, "tool_name", "name") or "?"), arguments={}
                )
                calls.append(pending)
            pending.result = _first(event, "tool_result", "result", "output")
            error = _first(event, "error_message", "error")
            if error is not None or event.get("success") is False:
                pending.error = str(error or "failed")
    return calls


def _pending(open_calls: list[ToolCallRecord], event: RunEvent) -> ToolCallRecord | None:
    call_id, name = _first(event, "tool_call_id", "call_id"), _first(event, "tool_name", "name")
    for candidates in (
        [c for c in open_calls if call_id is not None and c.call_id == call_id],
        [c for c in open_calls if name is not None and c.name == name],
        open_calls,
    ):
        if candidates:
            open_calls.remove(candidates[0])
            return candidates[0]
    return None


def _output_value(output: NodeOutput) -> Any:
    if output.structured_output is not None:
        return output.structured_output
    return output.tool_result if output.success is not None else None


def _usage(events: list[RunEvent]) -> Usage:
    seen: set[str] = set()
    total = Usage()
    for event in events:
        info = event.get("llm_usage_info")
        if event.type == "assistant_response" or not isinstance(info, dict):
            continue
        response_id = info.get("llm_response_id")
        if response_id:
            if response_id in seen:
                continue
            seen.add(response_id)
        prompt, completion = (
            int(info.get("prompt_tokens") or 0),
            int(info.get("completion_tokens") or 0),
        )
        total += Usage(
            tokens=int(info.get("total_tokens") or prompt + completion),
            prompt_tokens=prompt,
            completion_tokens=completion,
            llm_calls=1,
            latency_ms=float(info.get("response_latency_milliseconds") or 0),
        )
    return total


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
