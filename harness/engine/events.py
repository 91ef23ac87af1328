"""Event builders: the catalogue of PLATFORM.md §6 with its common fields.

Every event has `type`, `logical_id` (`event_<uuid4>` drawn from the turn's seeded random source),
`timestamp` (epoch seconds from the injected clock) and `origin_thread_id`. Events that happen
inside a node run (and edge events, which leave a node) also carry `origin_node_logical_id`,
`origin_node_name` and `origin_node_run_id`. Events are built without validation (`build_event`):
their fields are the engine's own, so re-validating each one would only cost time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from harness.engine.variables import Clock
from harness.models.api import EventType, NodeConfig, RunEvent

__all__ = ["EventLog", "NodeScope", "build_event", "new_logical_id"]


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_logical_id(prefix: str, rng: random.Random) -> str:
    """`<prefix>_<uuid4>` with the uuid drawn from `rng` (reproducible under a seed).

    The same text as `str(uuid.UUID(int=bits, version=4))`, formatted directly: ids are made for
    every event, and the `uuid` module's checks cost more than the rest of an event.
    """
    h = f"{(rng.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET:032x}"
    return f"{prefix}_{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_KNOWN = tuple(RunEvent.model_fields)
_KNOWN_SET = frozenset(_KNOWN)


def build_event(values: dict[str, Any]) -> RunEvent:
    """A `RunEvent` from trusted values, unknown keys kept as extras.

    The same object `RunEvent.model_validate(values)` makes from valid values (every known field
    defaults to None; unknown keys are extras and count as set), without validating: the values
    are the engine's own, and a turn emits dozens of events.
    """
    event = RunEvent.__new__(RunEvent)
    known = {name: values.get(name) for name in _KNOWN}
    extra = {k: v for k, v in values.items() if k not in _KNOWN_SET}
    object.__setattr__(event, "__dict__", known)
    object.__setattr__(event, "__pydantic_extra__", extra)
    object.__setattr__(event, "__pydantic_fields_set__", set(values))
    object.__setattr__(event, "__pydantic_private__", None)
    return event


@dataclass(frozen=True, slots=True)
class NodeScope:
    """The node run an event belongs to."""

    node: NodeConfig
    run_id: str

    @property
    def node_id(self) -> str:
        return self.node.logical_id


class EventLog:
    """Collects the events of one turn, in order."""

    def __init__(self, clock: Clock, rng: random.Random, thread_id: str = "0") -> None:
        self.clock = clock
        self.rng = rng
        self.thread_id = thread_id
        self.events: list[RunEvent] = []

    def emit(self, type_: str, scope: NodeScope | None = None, **fields: Any) -> RunEvent:
        """Append one event; `scope` adds the origin node fields."""
        values: dict[str, Any] = {
            "type": str(type_),  # a plain str, as in runs loaded back from JSON
            "logical_id": new_logical_id("event", self.rng),
            "timestamp": self.clock.now().timestamp(),
            "origin_thread_id": self.thread_id,
        }
        if scope is not None:
            values["origin_node_logical_id"] = scope.node.logical_id
            values["origin_node_name"] = scope.node.name
            values["origin_node_run_id"] = scope.run_id
        values.update(fields)
        event = build_event(values)
        self.events.append(event)
        return event

    def types(self) -> list[str]:
        """The event types so far (for tests and debugging)."""
        return [e.type for e in self.events]

    # ---------------------------------------------------------------- node run

    def start_node_run(self, scope: NodeScope) -> None:
        self.emit(EventType.START_NODE_RUN, scope, node_type=scope.node.type)

    def end_node_run(self, scope: NodeScope, run_output: dict[str, Any]) -> None:
        self.emit(EventType.END_NODE_RUN, scope, run_output=run_output)

    def show_state(self, scope: NodeScope | None, runtime: dict[str, Any]) -> None:
        self.emit(EventType.WORKFLOW_SHOW_STATE, scope, runtime_variables=dict(runtime))

    def user_messages(self, scope: NodeScope | None, texts: list[str]) -> None:
        messages = [{"role": "user", "content": t} for t in texts]
        self.emit(EventType.USER_MESSAGES, scope, messages=messages)

    def busy_wait(self, scope: NodeScope) -> None:
        self.emit(EventType.BUSY_WAIT_FOR_USER_MESSAGE, scope)

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

    def navigation(self, scope: NodeScope, destination: str, destination_name: str | None) -> None:
        self.emit(
            EventType.WORKFLOW_NAVIGATION_MESSAGE,
            scope,
            source_node_logical_id=scope.node_id,
            destination_node_logical_id=destination,
            message=f"Navigating from {scope.node.name or scope.node_id} to "
            f"{destination_name or destination}",
        )
