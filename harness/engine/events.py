"""Events in the platform's shapes (`interactly_configs/events/event.py`), built from engine values.

Every event the engine emits is one of the platform's event types and carries exactly the keys of
the platform's class for that type (tests/data/platform/shapes.json records them):

- every event: `logical_id` (`event_<uuid4>` from the turn's seeded random source), `timestamp`
  (epoch seconds from the injected clock), `origin_thread_id`, `comments` (`[]`), `interrupted`
  (false), `type`; workflow-level events (`end_workflow`, `workflow_show_state`, ...) have no
  origin thread (null), as in the platform's captured runs;
- node events also `origin_node_logical_id`, `origin_node_name`, `origin_node_run_id`;
- edge events `edge_name`, `edge_logical_id`, `edge_run_id` (the edge's run counter),
  `source_node_*`, `destination_node_*`, `reason`;
- then the type's own fields, defaulted as the platform defaults them.

`EventLog.emit` normalises what callers pass: keys the platform's type lacks are dropped (put what
the engine needs beyond them where the platform keeps it, e.g. a run input's `miscellaneous`) but
an `error_message` the type cannot hold is said first as a `workflow_warning`,
missing ones get the platform's defaults, `llm_usage_info` gets all its keys, and message text
becomes the LangChain message dump the platform stores (`{"content", "additional_kwargs",
"response_metadata", "type": "ai", "name", "id", "tool_calls", "invalid_tool_calls",
"usage_metadata"}`). A type the platform does not have is refused (ValueError).

How things the harness used to record in its own event types appear now (docs/engine.md):
tool calls of LLM nodes are the `tool_calls` of the LLM event's AI message, and each result is
an LLM event whose message is a ToolMessage dump (`type: "tool"`, `tool_call_id`, `status`,
`response_metadata.tool_result`), as the platform's tools notebook reads them; a tool node's
tool and arguments are in its `start_node_run.run_input.miscellaneous`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from harness.engine.secrets import redact_value
from harness.engine.variables import Clock
from harness.models.api import (
    EventType,
    NodeConfig,
    NodeOutput,
    NodeRunOutput,
    RunEvent,
)

__all__ = [
    "EVENT_SHAPES",
    "EventLog",
    "EventShape",
    "NodeScope",
    "ai_message",
    "build_event",
    "human_message",
    "new_logical_id",
    "tool_message",
    "usage_info_dict",
]


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_logical_id(prefix: str, rng: random.Random) -> str:
    """`<prefix>_<uuid4>` with the uuid drawn from `rng` (reproducible under a seed).

    The same text as `str(uuid.UUID(int=bits, version=4))`, formatted directly: ids are made for
    every event, and the `uuid` module's checks cost more than the rest of an event.
    """
    h = f"{(rng.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET:032x}"
    return f"{prefix}_{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# ------------------------------------------------------------------ the platform's shapes

Family = Literal["workflow", "thread", "node", "edge"]


@dataclass(frozen=True, slots=True)
class EventShape:
    """The keys of one platform event type beyond the common ones, with their defaults.

    `workflow` events have a null origin thread; `thread` events carry the thread; `node` events
    add the origin node; `edge` events the edge fields.
    """

    family: Family
    fields: Mapping[str, Any]

    @property
    def containers(self) -> tuple[str, ...]:
        """The fields whose default is a container (each event gets its own copy)."""
        return tuple(k for k, v in self.fields.items() if isinstance(v, dict | list))


_USAGE_DEFAULTS: dict[str, Any] = {
    "response_model": None,
    "named_llm_config_id": None,
    "named_llm_config_name": None,
    "provider": None,
    "ai_message_turn_id": None,
    "llm_response_id": None,
    "used_user_api_key": False,
    "finish_reason": None,
    "response_latency_milliseconds": None,
    "prompt_tokens": None,
    "completion_tokens": None,
    "total_tokens": None,
    "was_streamed": None,
    "was_estimated": False,
    "structured_output_retry_metadata": None,
}
_LLM: dict[str, Any] = {"message": None, "llm_usage_info": _USAGE_DEFAULTS}
_EDGE: dict[str, Any] = {
    "edge_name": None,
    "edge_logical_id": None,
    "edge_run_id": None,
    "source_node_logical_id": None,
    "source_node_name": None,
    "destination_node_logical_id": None,
    "destination_node_name": None,
    "reason": None,
}
_CONDITIONAL: dict[str, Any] = {**_EDGE, "super_node_exit_origin": None, "args_filled": {}}
_NO_FIELDS: dict[str, Any] = {}

EVENT_SHAPES: Mapping[str, EventShape] = {
    # workflow lifecycle
    EventType.START_WORKFLOW: EventShape("workflow", _NO_FIELDS),
    EventType.END_WORKFLOW: EventShape(
        "workflow", {"llm_token_usage": None, "llm_latency_stats": None}
    ),
    EventType.END_WORKFLOW_ITERATION: EventShape(
        "workflow",
        {"iteration_number": None, "run_input_output_pair": None, "iteration_metrics": None},
    ),
    EventType.WORKFLOW_READY_FOR_INPUT: EventShape("workflow", {"active_companion_thread_ids": []}),
    EventType.WORKFLOW_ERROR: EventShape(
        "workflow",
        {
            "error_message": None,
            "stack_trace": None,
            "llm_token_usage": None,
            "llm_latency_stats": None,
        },
    ),
    EventType.WORKFLOW_WARNING: EventShape("workflow", {"warning_message": None}),
    EventType.WORKFLOW_DEBUG_LOG: EventShape(
        "workflow", {"chat_history": [], "debug_message": None}
    ),
    EventType.WORKFLOW_SHOW_STATE: EventShape(
        "workflow",
        {"thread_id": None, "runtime_variables": {}, "workflow_runtime_variables": {}},
    ),
    # threads and background work
    EventType.START_THREAD: EventShape("thread", _NO_FIELDS),
    EventType.PAUSE_THREAD: EventShape("thread", {"last_node_logical_id": None}),
    EventType.END_THREAD: EventShape("thread", {"last_node_logical_id": None}),
    EventType.COMPANION_STEP_BOUNDARY: EventShape(
        "thread",
        {
            "companion_thread_id": None,
            "attempts_completed": None,
            "deadline_epoch": None,
            "still_active": True,
        },
    ),
    EventType.WAITING_EVALUATION_BOUNDARY: EventShape(
        "thread",
        {
            "parked_node_logical_id": None,
            "edges_evaluated": 0,
            "transitioned": False,
            "still_waiting": True,
        },
    ),
    # node runs
    EventType.START_NODE_RUN: EventShape("node", {"run_input": None}),
    EventType.END_NODE_RUN: EventShape("node", {"run_output": None}),
    EventType.USER_MESSAGES: EventShape("node", {"messages": []}),
    EventType.BUSY_WAIT_FOR_USER_MESSAGE: EventShape("node", _NO_FIELDS),
    EventType.PAUSE_EVENT: EventShape("node", _NO_FIELDS),
    EventType.FORCE_TRANSFER_TO_NODE: EventShape("node", {"destination_node_logical_id": None}),
    EventType.NODE_EXPIRED: EventShape("node", {"attempt_number": 0, "reason": None}),
    # what nodes say and do
    EventType.SAY_LLM: EventShape("node", _LLM),
    EventType.WORKER_LLM: EventShape("node", _LLM),
    EventType.CONDITION_EVALUATOR_LLM: EventShape(
        "node", {**_LLM, "destination_node_logical_id": None, "is_condition_met": None}
    ),
    EventType.DISCARDED_MAIN_LLM: EventShape(
        "node", {**_LLM, "reason": "global_condition_matched"}
    ),
    EventType.SAY_STATIC: EventShape("node", {"message": None}),
    EventType.ASSISTANT_RESPONSE: EventShape(
        "node", {"content": None, "response_metadata": {}, "llm_usage_info": _USAGE_DEFAULTS}
    ),
    EventType.WORKFLOW_NAVIGATION_MESSAGE: EventShape("node", {"message": None}),
    EventType.HTTP_REQUEST: EventShape(
        "node", {"curl_command": None, "status_code": None, "response_body": None, "error": None}
    ),
    EventType.SEND_SMS: EventShape(
        "node", {"status": None, "sent_message": None, "destination_phone_number": None}
    ),
    EventType.START_CONVERSATION: EventShape(
        "node", {"conversation_status": None, "conversation_id": None}
    ),
    EventType.END_CONVERSATION: EventShape("node", {"processed_transcript": None}),
    EventType.GOOGLE_DOCS_CREATE_DOCUMENT: EventShape(
        "node",
        {"status": None, "document_id": None, "document_url": None, "document_title": None},
    ),
    EventType.GOOGLE_DOCS_GET_DOCUMENT: EventShape(
        "node", {"status": None, "document_id": None, "document_content": None}
    ),
    EventType.GOOGLE_DOCS_UPDATE_DOCUMENT: EventShape(
        "node",
        {"status": None, "document_id": None, "document_url": None, "updated_content": None},
    ),
    EventType.ATHENA: EventShape("node", {"status_code": None, "response_body": None}),
    # edges
    EventType.DIRECT_EDGE: EventShape("edge", _EDGE),
    EventType.SELF_LOOP_EDGE: EventShape("edge", _EDGE),
    EventType.COMPANION_EDGE: EventShape("edge", _EDGE),
    EventType.CONDITIONAL_EDGE: EventShape("edge", _CONDITIONAL),
    EventType.REVERSE_CONDITIONAL_EDGE: EventShape(
        "edge", {**_CONDITIONAL, "global_node_logical_id": None}
    ),
    EventType.SELF_LOOP_DELAY: EventShape(
        "edge", {**_EDGE, "delay_seconds": 0.0, "attempt_number": 0}
    ),
    EventType.SELF_LOOP_EXHAUSTED: EventShape(
        "edge", {**_EDGE, "outcome": None, "total_attempts": 0}
    ),
    EventType.WAITING_CONDITION_MATCHED: EventShape(
        "edge",
        {
            **_EDGE,
            "condition_expression": None,
            "hydrated_condition_expression": None,
            "trigger_mode": None,
            "trigger_node_logical_id": None,
            "trigger_node_completion_count": None,
            "transitions_this_wait": 0,
            "guardrail_redirected_from_logical_id": None,
        },
    ),
    EventType.GUARDRAIL_ESCALATION_EDGE: EventShape(
        "edge", {**_EDGE, "num_guardrail_nodes_entered": 0}
    ),
}
"""Every platform event type: its family and its own fields with the platform's defaults."""

_MESSAGE_TYPES = frozenset(
    {
        EventType.SAY_LLM,
        EventType.WORKER_LLM,
        EventType.CONDITION_EVALUATOR_LLM,
        EventType.DISCARDED_MAIN_LLM,
        EventType.SAY_STATIC,
        EventType.WORKFLOW_NAVIGATION_MESSAGE,
    }
)


_CONTAINERS: Mapping[str, tuple[str, ...]] = {
    kind: shape.containers for kind, shape in EVENT_SHAPES.items()
}

_NODE_ORIGIN = ("origin_node_logical_id", "origin_node_name", "origin_node_run_id")


def _layout(kind: str, shape: EventShape) -> dict[str, Any]:
    """Every key of an event of `kind`, in its order, with the type's defaults: an event starts
    as a copy of it (one dict copy instead of growing a dict key by key for every event)."""
    common = {"logical_id": None, "timestamp": None, "origin_thread_id": None, "comments": None}
    origin = dict.fromkeys(_NODE_ORIGIN) if shape.family == "node" else {}
    return {**common, "interrupted": False, **origin, "type": kind, **shape.fields}


_LAYOUTS: Mapping[str, dict[str, Any]] = {
    kind: _layout(kind, shape) for kind, shape in EVENT_SHAPES.items()
}

_COMPLETION: Mapping[str, str] = {
    **{kind: "edge" for kind, shape in EVENT_SHAPES.items() if shape.family == "edge"},
    **dict.fromkeys(_MESSAGE_TYPES, "message"),
    EventType.ASSISTANT_RESPONSE: "response",
    EventType.USER_MESSAGES: "user_messages",
    EventType.END_NODE_RUN: "run_output",
    EventType.END_THREAD: "thread_end",
    EventType.PAUSE_THREAD: "thread_end",
    EventType.WORKFLOW_SHOW_STATE: "show_state",
}
"""What `EventLog._complete` derives for each event type (at most one step per type)."""


def _fresh(default: Any) -> Any:
    """A shape's default for one event: containers are copied, so no two events share one.

    A shallow copy is enough: every default is None, a scalar or a flat container of them
    (tests/engine/test_event_shapes.py holds the shapes to that), and `copy.deepcopy` of every
    default was a tenth of the cost of an event.
    """
    return default.copy() if isinstance(default, (dict, list)) else default


# ------------------------------------------------------------------ messages


def ai_message(
    content: str,
    message_id: str | None = None,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    response_metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A LangChain AI message dump, as the platform stores messages in events.

    `tool_calls` items are `{"name", "args", "id"}`; each gets `type: "tool_call"`.
    """
    return {
        "content": content,
        "additional_kwargs": {},
        "response_metadata": dict(response_metadata or {}),
        "type": "ai",
        "name": None,
        "id": message_id,
        "tool_calls": [
            {"name": c.get("name"), "args": c.get("args") or {}, "id": c.get("id")}
            | {"type": "tool_call"}
            for c in tool_calls or []
        ],
        "invalid_tool_calls": [],
        "usage_metadata": None,
    }


def tool_message(
    content: str,
    *,
    tool_call_id: str | None,
    name: str,
    success: bool,
    result: Any = None,
    error: str | None = None,
) -> dict[str, Any]:
    """A LangChain ToolMessage dump: a tool's answer to one call.

    `content` is what the LLM read; `response_metadata` keeps the raw `tool_result` (as the
    platform's tools notebook reads it) and, for a failed call, `tool_error`.
    """
    metadata: dict[str, Any] = {"tool_result": result}
    if not success:
        metadata["tool_error"] = error
    return {
        "content": content,
        "additional_kwargs": {},
        "response_metadata": metadata,
        "type": "tool",
        "name": name,
        "id": None,
        "tool_call_id": tool_call_id,
        "artifact": None,
        "status": "success" if success else "error",
    }


def human_message(content: Any) -> dict[str, Any]:
    """A LangChain human message dump (what `user_messages` events carry)."""
    return {
        "content": content,
        "additional_kwargs": {},
        "response_metadata": {},
        "type": "human",
        "name": None,
        "id": None,
    }


def usage_info_dict(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """`llm_usage_info` with every key of the platform's `LLMUsageInfo`; latency as an integer."""
    info = dict(_USAGE_DEFAULTS)
    for key, value in (values or {}).items():
        if key in info:
            info[key] = value
    latency = info["response_latency_milliseconds"]
    if isinstance(latency, float):
        info["response_latency_milliseconds"] = round(latency)
    return info


# ------------------------------------------------------------------ building


_KNOWN = RunEvent.model_fields
_KNOWN_SET = frozenset(_KNOWN)
_KNOWN_ORDER = tuple(_KNOWN)


def build_event(values: dict[str, Any]) -> RunEvent:
    """A `RunEvent` from trusted values, unknown keys kept as extras.

    The same object `RunEvent.model_validate(values)` makes from valid values, without
    validating: the values are the engine's own, and a turn emits dozens of events. Known fields
    missing from `values` get their defaults (the engine always sets them all).
    """
    return _adopt(dict(values))


def _adopt(extra: dict[str, Any]) -> RunEvent:
    """`build_event` of a dict the caller gives up: the known fields move out, the rest stay
    as the event's extras (`EventLog.emit` builds a fresh dict per event, so no copy)."""
    fields_set = set(extra)
    if extra.keys() >= _KNOWN_SET:  # what the engine emits: split off the known fields
        known = {name: extra.pop(name) for name in _KNOWN_ORDER}
    else:
        known = {
            name: extra.pop(name) if name in extra else field.get_default(call_default_factory=True)
            for name, field in _KNOWN.items()
        }
    event = RunEvent.__new__(RunEvent)
    object.__setattr__(event, "__dict__", known)
    object.__setattr__(event, "__pydantic_extra__", extra)
    object.__setattr__(event, "__pydantic_fields_set__", fields_set)
    object.__setattr__(event, "__pydantic_private__", None)
    return event


@dataclass(frozen=True, slots=True)
class NodeScope:
    """The node run an event belongs to."""

    node: NodeConfig
    run_id: str

    @property
    def node_id(self) -> str:
        return self.node.node_id


class EventLog:
    """Collects the events of one turn, in order, in the platform's shapes.

    Args:
        clock: time of the events.
        rng: the turn's seeded random source (event and message ids).
        thread_id: the thread the events belong to.
        node_names: node logical id -> name (for edge and navigation events).
        edge_names: edge logical id -> name.
        edge_runs: edge key -> runs so far (the run's counters, kept between turns).
    """

    def __init__(
        self,
        clock: Clock,
        rng: random.Random,
        thread_id: str = "0",
        *,
        node_names: Mapping[str, str | None] | None = None,
        edge_names: Mapping[str, str | None] | None = None,
        edge_runs: dict[str, int] | None = None,
    ) -> None:
        self.clock = clock
        self.rng = rng
        self.thread_id = thread_id
        self.events: list[RunEvent] = []
        self.node_names: Mapping[str, str | None] = node_names or {}
        self.edge_names: Mapping[str, str | None] = edge_names or {}
        self.edge_runs: dict[str, int] = {} if edge_runs is None else edge_runs
        self.evaluated_dynamic_variables: Mapping[str, Any] = {}
        """`{{...}}` values the turn substitutes (built-ins included), for `workflow_show_state`."""
        self.input_dynamic_variables: Mapping[str, Any] = {}
        """The run's own dynamic variables (config defaults and run inputs)."""
        self.secrets: tuple[str, ...] = ()
        """Secret values of the turn: masked wherever an event would carry one (secrets.py)."""
        self._said: dict[str, Any] | None = None  # the AI message the next response repeats

    def for_thread(self, thread_id: str) -> EventLog:
        """A log for another thread of the same turn, appending to the same event list."""
        log = EventLog(
            self.clock,
            self.rng,
            thread_id,
            node_names=self.node_names,
            edge_names=self.edge_names,
            edge_runs=self.edge_runs,
        )
        log.events = self.events
        log.evaluated_dynamic_variables = self.evaluated_dynamic_variables
        log.input_dynamic_variables = self.input_dynamic_variables
        log.secrets = self.secrets
        return log

    def emit(self, type_: str, scope: NodeScope | None = None, **fields: Any) -> RunEvent:
        """Append one event of a platform type; `scope` is the node run it belongs to.

        Raises:
            ValueError: `type_` is not one of the platform's event types.
        """
        kind = str(type_)
        shape = EVENT_SHAPES.get(kind)
        if shape is None:
            raise ValueError(
                f"event type {type_!r} is not one of the platform's (events/event.py); "
                "record what the engine needs in a field the platform keeps"
            )
        error = fields.get("error_message")
        if error and "error_message" not in shape.fields:
            # The type has no place for it: say it the platform's way, as a warning before it.
            self.emit(EventType.WORKFLOW_WARNING, warning_message=str(error))
        values = _LAYOUTS[kind].copy()  # every key in order, the type's defaults filled in
        values["logical_id"] = fields.pop("logical_id", None) or new_logical_id("event", self.rng)
        values["timestamp"] = self.clock.now().timestamp()
        values["comments"] = []
        if shape.family != "workflow":
            values["origin_thread_id"] = self.thread_id
        if shape.family == "node" and scope is not None:
            values["origin_node_logical_id"] = scope.node_id
            values["origin_node_name"] = scope.node.name
            values["origin_node_run_id"] = scope.run_id
        own = shape.fields
        for name in _CONTAINERS[kind]:
            values[name] = _fresh(own[name])
        for name, value in fields.items():
            if name in own:
                values[name] = value
        self._complete(values, scope, fields)
        if self.secrets:  # a secret a template resolved must not reach the run's record
            values = redact_value(values, self.secrets)
        event = _adopt(values)
        self.events.append(event)
        return event

    def _complete(
        self, values: dict[str, Any], scope: NodeScope | None, given: Mapping[str, Any]
    ) -> None:
        """Fill what the engine derives: messages, usage, thread and edge fields."""
        kind = values["type"]
        if "llm_usage_info" in values:
            values["llm_usage_info"] = usage_info_dict(values["llm_usage_info"])
        # One lookup instead of a chain of comparisons with `EventType` members (each one an
        # enum comparison), for every event.
        step = _COMPLETION.get(kind)
        if step == "message":
            self._message(values, given)
        elif step == "response":
            self._response(values)
        elif step == "user_messages":
            values["messages"] = [_human(m) for m in values["messages"] or []]
        elif step == "run_output":
            values["run_output"] = _run_output(values["run_output"])
        elif step == "thread_end":
            if values["last_node_logical_id"] is None and scope is not None:
                values["last_node_logical_id"] = scope.node_id
        elif step == "show_state":
            values["thread_id"] = values["thread_id"] or self.thread_id
            if not values["workflow_runtime_variables"]:
                values["workflow_runtime_variables"] = {
                    "_evaluated_dynamic_variables": dict(self.evaluated_dynamic_variables),
                    "_input_dynamic_variables": dict(self.input_dynamic_variables),
                }
        elif step == "edge":
            self._edge(values, scope)

    def _message(self, values: dict[str, Any], given: Mapping[str, Any]) -> None:
        message = values["message"]
        kind = values["type"]
        if isinstance(message, dict):
            if message.get("type") == "ai" and message.get("content"):
                self._said = message
            return
        text = "" if message is None else str(message)
        if kind == EventType.SAY_STATIC:
            message_id = new_logical_id("assistant_message", self.rng)
            built = ai_message(text, message_id)
            self._said = {**built, "response_metadata": {"message_type": "static"}}
        else:
            usage = values.get("llm_usage_info") or {}
            calls = given.get("tool_calls")
            built = ai_message(
                text,
                usage.get("llm_response_id"),
                tool_calls=calls if isinstance(calls, list) else None,
                response_metadata=_llm_metadata(usage),
            )
            if kind in (EventType.SAY_LLM, EventType.WORKER_LLM) and text:
                self._said = built
        values["message"] = built

    def _response(self, values: dict[str, Any]) -> None:
        said, self._said = self._said, None
        if said is None or said.get("content") != values["content"]:
            return
        if said.get("id"):
            values["logical_id"] = said["id"]
        if not values["response_metadata"]:
            values["response_metadata"] = dict(said.get("response_metadata") or {})

    def _edge(self, values: dict[str, Any], scope: NodeScope | None) -> None:
        if scope is not None:
            values["source_node_logical_id"] = values["source_node_logical_id"] or scope.node_id
            values["source_node_name"] = values["source_node_name"] or scope.node.name
        edge_id = values["edge_logical_id"]
        if edge_id is not None and values["edge_name"] is None:
            values["edge_name"] = self.edge_names.get(edge_id)
        destination = values["destination_node_logical_id"]
        if destination is not None and values["destination_node_name"] is None:
            values["destination_node_name"] = self.node_names.get(destination)
        if values["edge_run_id"] is None:
            key = edge_id or f"{values['type']}:{values['source_node_logical_id']}:{destination}"
            count = self.edge_runs.get(key, 0) + 1
            self.edge_runs[key] = count
            values["edge_run_id"] = str(count)

    def types(self) -> list[str]:
        """The event types so far (for tests and debugging)."""
        return [e.type for e in self.events]

    # ---------------------------------------------------------------- node run

    def start_node_run(self, scope: NodeScope, run_input: dict[str, Any] | None = None) -> None:
        self.emit(EventType.START_NODE_RUN, scope, run_input=run_input)

    def set_run_input(self, scope: NodeScope, run_input: dict[str, Any]) -> None:
        """Record the input of a node run whose `start_node_run` is already emitted."""
        for event in reversed(self.events):
            if (
                event.type == EventType.START_NODE_RUN
                and event.origin_node_logical_id == scope.node_id
                and event.origin_node_run_id == scope.run_id
            ):
                (event.model_extra or {})["run_input"] = run_input
                return

    def end_node_run(
        self, scope: NodeScope, run_output: NodeOutput | NodeRunOutput | dict[str, Any]
    ) -> None:
        self.emit(EventType.END_NODE_RUN, scope, run_output=run_output)

    def show_state(self, scope: NodeScope | None, runtime: Mapping[str, Any]) -> None:
        self.emit(EventType.WORKFLOW_SHOW_STATE, scope, runtime_variables=dict(runtime))

    def user_messages(self, scope: NodeScope | None, texts: list[str]) -> None:
        self.emit(EventType.USER_MESSAGES, scope, messages=[human_message(t) for t in texts])

    def busy_wait(self, scope: NodeScope) -> None:
        self.emit(EventType.BUSY_WAIT_FOR_USER_MESSAGE, scope)

    def tool_result(
        self,
        scope: NodeScope,
        *,
        name: str,
        call_id: str | None,
        arguments: Mapping[str, Any],
        success: bool,
        result: Any,
        error: str | None,
        content: str,
    ) -> None:
        """One tool call's outcome, the platform's way.

        In an LLM node's tool loop (a call id): an LLM event carrying the ToolMessage. In a tool
        node: its `start_node_run.run_input` records the tool and the arguments (the outcome is
        the node's run output).
        """
        if call_id is not None:
            kind = EventType.SAY_LLM if scope.node.type == "say_llm" else EventType.WORKER_LLM
            message = tool_message(
                content,
                tool_call_id=call_id,
                name=name,
                success=success,
                result=result,
                error=error,
            )
            self.emit(kind, scope, message=message)
            return
        self.set_run_input(
            scope,
            {
                "dynamic_variables": {},
                "runtime_variables": {},
                "miscellaneous": {"tool_name": name, "tool_arguments": dict(arguments)},
                "type": scope.node.type,
                "node_logical_id": scope.node_id,
            },
        )

    # ---------------------------------------------------------------- edges

    def edge(
        self,
        type_: str,
        scope: NodeScope,
        *,
        destination: str,
        edge_id: str | None,
        reason: str,
        **extra: Any,
    ) -> None:
        self.emit(
            type_,
            scope,
            source_node_logical_id=scope.node_id,
            destination_node_logical_id=destination,
            edge_logical_id=edge_id,
            reason=reason,
            **extra,
        )

    def navigation(
        self,
        scope: NodeScope,
        destination: str,
        destination_name: str | None,
        *,
        edge_type: str = "direct",
        edge_id: str | None = None,
    ) -> None:
        """The platform's internal memo that the thread moved to another node."""
        source_name = scope.node.name or scope.node_id
        target_name = destination_name or self.node_names.get(destination) or destination
        message_id = new_logical_id("nav_msg", self.rng)
        edge_name = self.edge_names.get(edge_id) if edge_id else None
        text = (
            f'[Internal-only memo]: System navigated from agent "{source_name}" to agent '
            f'"{target_name}" via {edge_type} edge.'
        )
        metadata = {
            "navigation_message": "true",
            "edge_type": edge_type,
            "source_node_id": scope.node_id,
            "source_node_name": scope.node.name,
            "destination_node_id": destination,
            "destination_node_name": destination_name or self.node_names.get(destination),
            "edge_name": edge_name or "",
            "edge_logical_id": edge_id or "",
        }
        event = self.emit(
            EventType.WORKFLOW_NAVIGATION_MESSAGE,
            scope,
            logical_id=message_id,
            message=ai_message(text, message_id, response_metadata=metadata),
        )
        (event.model_extra or {})["origin_node_run_id"] = None  # the platform leaves it off


def _llm_metadata(usage: Mapping[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if usage.get("response_model"):
        metadata["model_name"] = usage["response_model"]
    reasons = usage.get("finish_reason")
    if reasons:
        metadata["finish_reason"] = reasons[0] if isinstance(reasons, list) else reasons
    return metadata


def _human(message: Any) -> Any:
    if isinstance(message, dict) and message.get("type") == "human":
        return message
    if isinstance(message, dict):
        return human_message(message.get("content"))
    return human_message(message)


def _run_output(value: Any) -> Any:
    if isinstance(value, NodeOutput):
        value = value.to_run_output()
    elif isinstance(value, dict) and "type" in value and "events" not in value:
        value = NodeOutput.model_validate(value).to_run_output()
    if isinstance(value, NodeRunOutput):
        return value.model_dump(mode="json")
    return value
