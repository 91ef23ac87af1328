"""`RunView`: what checks look at, derived from a `WorkflowRun` and its events.

A view is a run (a snapshot taken right after a turn, so `status` is the status after that turn)
plus the range of `input_output_pairs` the expectation is about: one pair for a turn, several for a
simulated conversation, all of them for the run-level `expect`. Everything is read from the events
catalogue of PLATFORM.md section 6, tolerantly (missing fields are None, unknown events ignored):

- said text: `assistant_response.content`
- node path and current node: `start_node_run.origin_node_logical_id`
- transitions: `direct_edge`, `conditional_edge`, `reverse_conditional_edge`, `self_loop_edge`
  (`edge_logical_id`, `source_node_logical_id`, `destination_node_logical_id`, `args_filled`)
- tool calls, the platform's way (docs/engine.md, "Events"): in an LLM node, the `tool_calls`
  (`name`, `args`, `id`) of an LLM event's AI message, each answered by an LLM event whose message
  is a ToolMessage (`type: "tool"`, `tool_call_id`, `status`, `response_metadata.tool_result`);
  only answered calls count (a transition tool has no answer). A `tool_node` run: the tool and
  arguments in its `start_node_run.run_input.miscellaneous`, the outcome in its `end_node_run`
  output (`success`, `tool_result`, `error_message`). An `http_request` event (`response_body`,
  `error`). Runs recorded by older harness versions (`tool_call` / `tool_result` events) still
  read.
- runtime variables: the workflow's defaults, the run inputs, then the last
  `workflow_show_state.runtime_variables`
- usage: `llm_usage_info` of LLM events (not of `assistant_response`, which repeats its call's,
  nor of events that made no call, such as tool results), once per `llm_response_id`, as the
  platform's `LLMTokenUsage` counts it; per node (`origin_node_logical_id`, `origin_node_name`),
  model (`response_model`) and provider (`provider`) with each call's
  `response_latency_milliseconds` in call order (`node_usage`, `TurnResult.usage`)
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from harness.models.api import (
    NodeRunOutput,
    RunEvent,
    WorkflowRun,
    WorkflowRunInputOutputPair,
    run_output_json,
)
from harness.models.result import (
    CheckOutcome,
    NodeUsage,
    ToolCallRecord,
    TransitionRecord,
    TurnResult,
    Usage,
)
from harness.models.selector import Step, parse_selector, select

__all__ = ["EDGE_EVENTS", "RunView", "node_usage_of"]

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
        return [e for p in self.pairs for e in p.output.typed_events()]

    @cached_property
    def events_so_far(self) -> list[RunEvent]:
        """Typed events from the start of the run to the end of the view."""
        pairs = self.run.input_output_pairs[: self.end]
        return [e for p in pairs for e in p.output.typed_events()]

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

    @cached_property
    def node(self) -> str | None:
        """The current node: the last one entered (the end of `path`): the end of `turn_path`
        when the view entered one (a turn's record has it already), else found from the end of
        the earlier pairs (so a turn's record never walks the whole run)."""
        if self.turn_path:
            return self.turn_path[-1]
        pairs = self.run.input_output_pairs[: self.start]
        for event in (e for p in reversed(pairs) for e in reversed(p.output.typed_events())):
            node = _entered(event)
            if node:
                return node
        return None

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
            merged.update(pair.input.dynamic_variables)
        return merged

    @cached_property
    def runtime_variables(self) -> dict[str, Any]:
        """Runtime variables at the end of the view."""
        config = self.run.workflow_config_fully_hydrated
        merged: dict[str, Any] = dict(config.runtime_variables) if config else {}
        for pair in self.run.input_output_pairs[: self.end]:
            merged.update(pair.input.runtime_variables)
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
            for outputs in pair.output.thread_to_node_outputs.values():
                for output in outputs:
                    found[output.node_logical_id or ""] = _output_value(output)
        return found

    @cached_property
    def llm_calls(self) -> list[tuple[RunEvent, dict[str, Any]]]:
        """Each LLM call of the view once: its first event and `llm_usage_info`, in call order."""
        return _llm_calls(self.events)

    @cached_property
    def usage(self) -> Usage:
        """LLM tokens, calls and latency of the view."""
        return _usage(self.llm_calls)

    @cached_property
    def node_usage(self) -> list[NodeUsage]:
        """LLM usage of the view per (node, model, provider), in order of first call; costs are
        filled later from the price table (`ScenarioResult.total_up`)."""
        return _node_usage(self.llm_calls)

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
            input=pair.input.model_dump(mode="json", exclude_none=True) if pair else {},
            run_output=run_output_json(pair.run_output) if pair and pair.run_output else None,
            status=self.run.status,
            said=self.said,
            path=self.turn_path,
            node=self.node,
            transitions=self.transitions,
            tool_calls=self.tool_calls,
            tokens=self.usage.tokens,
            llm_calls=self.usage.llm_calls,
            latency_ms=self.usage.latency_ms,
            usage=self.node_usage,
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


def _entered(event: RunEvent) -> str | None:
    """The node `event` enters (a `start_node_run`), else None."""
    # The type first: reading the node id of every event costs more than the rest of the walk.
    return event.origin_node_logical_id if event.type == "start_node_run" else None


def _collapse(events: list[RunEvent]) -> list[str]:
    path: list[str] = []
    for event in events:
        node = _entered(event)
        if node and (not path or path[-1] != node):
            path.append(node)
    return path


def _transition(event: RunEvent) -> TransitionRecord:
    args = event.get("args_filled")
    source = event.get("source_node_logical_id") or event.origin_node_logical_id
    destination = event.get("destination_node_logical_id")
    if event.type == "self_loop_edge":
        destination = destination or source
    # Validated, not `model_construct`: for a model this small that costs less (`_node_usage`).
    return TransitionRecord(
        type=event.type.removesuffix("_edge"),
        edge=_text(event.get("edge_logical_id")),
        source=_text(source),
        destination=_text(destination),
        args=args if isinstance(args, dict) else None,
    )


def _text(value: Any) -> str | None:
    """A field as text (tool-call records are built unvalidated, so keep their types right
    here)."""
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


_TOOL_NODE_OUTPUTS = ("tool_node",)


def _tool_calls(events: list[RunEvent]) -> list[ToolCallRecord]:
    calls: list[ToolCallRecord] = []
    asked: dict[str, tuple[str, dict[str, Any]]] = {}  # call id -> (name, arguments)
    tool_nodes: dict[tuple[str | None, str | None], tuple[str, dict[str, Any]]] = {}
    legacy: list[ToolCallRecord] = []
    for event in events:
        kind = event.type
        if kind in ("say_llm", "worker_llm"):
            _llm_tool_activity(event, asked, calls)
        elif kind == "start_node_run":
            _tool_node_input(event, tool_nodes)
        elif kind == "end_node_run":
            _tool_node_call(event, tool_nodes, calls)
        elif kind == "http_request":
            calls.append(_http_call(event))
        elif kind in ("tool_call", "tool_result"):
            _legacy_tool_event(event, legacy, calls)
    return calls


def _llm_tool_activity(
    event: RunEvent, asked: dict[str, tuple[str, dict[str, Any]]], calls: list[ToolCallRecord]
) -> None:
    message = event.get("message")
    if not isinstance(message, dict):
        return
    if message.get("type") == "ai":
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict) and call.get("id") is not None:
                asked[str(call["id"])] = (
                    str(call.get("name") or "?"),
                    _arguments(call.get("args")),
                )
        return
    if message.get("type") != "tool":
        return
    call_id = _text(message.get("tool_call_id"))
    name, arguments = asked.get(call_id or "", (str(message.get("name") or "?"), {}))
    metadata = message.get("response_metadata") or {}
    failed = message.get("status") == "error"
    error = metadata.get("tool_error") or message.get("content") or "failed"
    calls.append(
        ToolCallRecord.model_construct(
            name=name,
            arguments=arguments,
            node=event.origin_node_logical_id,
            call_id=call_id,
            result=metadata.get("tool_result", None if failed else message.get("content")),
            error=str(error) if failed else None,
        )
    )


def _tool_node_input(
    event: RunEvent, tool_nodes: dict[tuple[str | None, str | None], tuple[str, dict[str, Any]]]
) -> None:
    run_input = event.get("run_input")
    extra = run_input.get("miscellaneous") if isinstance(run_input, dict) else None
    if isinstance(extra, dict) and extra.get("tool_name") is not None:
        key = (event.origin_node_logical_id, event.origin_node_run_id)
        tool_nodes[key] = (str(extra["tool_name"]), _arguments(extra.get("tool_arguments")))


def _tool_node_call(
    event: RunEvent,
    tool_nodes: dict[tuple[str | None, str | None], tuple[str, dict[str, Any]]],
    calls: list[ToolCallRecord],
) -> None:
    output = event.get("run_output")
    if not isinstance(output, dict) or output.get("type") not in _TOOL_NODE_OUTPUTS:
        return
    key = (event.origin_node_logical_id, event.origin_node_run_id)
    name, arguments = tool_nodes.get(key, (str(output.get("type")), {}))
    failed = output.get("success") is False
    error = output.get("error_message")
    calls.append(
        ToolCallRecord.model_construct(
            name=name,
            arguments=arguments,
            node=event.origin_node_logical_id,
            call_id=None,
            result=output.get("tool_result"),
            error=str(error or "failed") if failed or error else None,
        )
    )


def _http_call(event: RunEvent) -> ToolCallRecord:
    error = event.get("error")
    return ToolCallRecord.model_construct(
        name="http_request",
        arguments={},
        node=event.origin_node_logical_id,
        call_id=None,
        result=event.get("response_body"),
        error=None if error is None else str(error),
    )


def _legacy_tool_event(
    event: RunEvent, open_calls: list[ToolCallRecord], calls: list[ToolCallRecord]
) -> None:
    """`tool_call` / `tool_result` events of runs recorded by older harness versions."""
    if event.type == "tool_call":
        call = ToolCallRecord.model_construct(
            name=str(_first(event, "tool_name", "name") or "?"),
            arguments=_arguments(_first(event, "arguments", "tool_arguments", "args")),
            node=event.origin_node_logical_id,
            call_id=_text(_first(event, "tool_call_id", "call_id")),
        )
        calls.append(call)
        open_calls.append(call)
        return
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


def _output_value(output: NodeRunOutput) -> Any:
    """A node's output value: a structured output that has content, else a tool's result."""
    structured = getattr(output, "structured_output", None)
    if structured:
        return structured
    if output.type == "tool_node":
        return getattr(output, "tool_result", None)
    if output.type == "http_request":
        return getattr(output, "http_response", None)
    return structured if output.type in ("worker_llm", "workflow_run_evaluator") else None


def _llm_calls(events: list[RunEvent]) -> list[tuple[RunEvent, dict[str, Any]]]:
    """Each LLM call once: its first event and `llm_usage_info`, in call order."""
    seen: set[str] = set()
    calls: list[tuple[RunEvent, dict[str, Any]]] = []
    for event in events:
        if event.type == "assistant_response":  # repeats the usage of its call's event
            continue
        info = event.get("llm_usage_info")
        if not isinstance(info, dict) or _no_call(info):
            continue
        response_id = info.get("llm_response_id")
        if response_id:
            if response_id in seen:
                continue
            seen.add(response_id)
        calls.append((event, info))
    return calls


def _tokens(info: dict[str, Any]) -> tuple[int, int, int]:
    prompt = int(info.get("prompt_tokens") or 0)
    completion = int(info.get("completion_tokens") or 0)
    return prompt, completion, int(info.get("total_tokens") or prompt + completion)


def _usage(calls: list[tuple[RunEvent, dict[str, Any]]]) -> Usage:
    # Summed as plain numbers, in call order, then one model (not a model per call and per sum).
    prompt = completion = tokens = 0
    latency: float = 0
    for _, info in calls:
        call_prompt, call_completion, call_tokens = _tokens(info)
        prompt += call_prompt
        completion += call_completion
        tokens += call_tokens
        latency += float(info.get("response_latency_milliseconds") or 0)
    if not calls:
        return Usage()
    return Usage(
        tokens=tokens,
        prompt_tokens=prompt,
        completion_tokens=completion,
        llm_calls=len(calls),
        latency_ms=latency,
    )


def node_usage_of(events: list[RunEvent]) -> list[NodeUsage]:
    """LLM usage of `events` per (node, model, provider), in order of first call (unpriced)."""
    return _node_usage(_llm_calls(events))


def _node_usage(calls: list[tuple[RunEvent, dict[str, Any]]]) -> list[NodeUsage]:
    rows: dict[tuple[str | None, str | None, str | None], NodeUsage] = {}
    for event, info in calls:
        node, model, provider = (
            event.origin_node_logical_id,
            _text(info.get("response_model")),
            _text(info.get("provider")),
        )
        row = rows.get((node, model, provider))
        if row is None:
            # Validated: for a model this small, pydantic-core's `__init__` costs half of
            # `model_construct` (a Python loop over the fields).
            row = rows[(node, model, provider)] = NodeUsage(
                node=node, node_name=event.origin_node_name, model=model, provider=provider
            )
        prompt, completion, tokens = _tokens(info)
        row.prompt_tokens += prompt
        row.completion_tokens += completion
        row.total_tokens += tokens
        row.llm_calls += 1
        row.latencies_ms.append(float(info.get("response_latency_milliseconds") or 0))
    return list(rows.values())


def _no_call(info: dict[str, Any]) -> bool:
    """Usage of an event that made no LLM call (e.g. a tool result on an LLM event)."""
    keys = ("llm_response_id", "total_tokens", "prompt_tokens", "response_latency_milliseconds")
    return all(info.get(key) is None for key in keys)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
