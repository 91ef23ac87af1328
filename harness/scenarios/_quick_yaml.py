"""The quick parse: a scenario file's data straight from libyaml's events, without positions.

`parse_yaml` composes a node graph, measures it against the limits and records the file:line:col
of every key and item: about half of loading a typical scenario file. Positions only serve to
report a problem, and most files have none, so the loader tries this parse first and parses again
with `parse_yaml` only when the file has a problem (then every issue reads exactly as before).

It builds plain data from the event stream (measured on a typical scenario file: ~0.6x the time
of `parse_yaml`) and gives up, returning None, on anything it leaves to `parse_yaml`: a syntax
error, an anchor or alias, an explicit tag, a `<<` merge key, a duplicate or non-scalar key, a
number it cannot read, more than one document, or the limits. An alias is never expanded (it is
refused as an event), and values are counted and nesting measured as they are built, so the
limits hold here as they do in `parse_yaml`: no more than `MAX_VALUES` values are ever built,
nor more than `MAX_DEPTH` levels.
"""

from __future__ import annotations

import functools
from typing import Any

from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

from harness.scenarios._yaml import (
    MAX_DEPTH,
    MAX_VALUES,
    CoreSchemaLoader,
    Document,
    Location,
    scalar_value,
)

__all__ = ["parse_quick"]

_MERGE_KEY = "<<"
_NODE_EVENTS = (ScalarEvent, MappingStartEvent, SequenceStartEvent)
# Keys and short values recur in every file of a suite: type each text once (values are
# immutable; a text that raises is not cached and goes to `parse_yaml`).
_plain_value = functools.lru_cache(maxsize=4096)(scalar_value)


class _GiveUp(Exception):
    """The text needs `parse_yaml`: a construct this parse leaves to it, or a problem."""


def parse_quick(text: str, file: str) -> Document | None:
    """The `Document` of `text` with no positions but the file's own, or None when `text` must
    go through `parse_yaml` (which then gives the same data, or the problem with its position).
    """
    loader = CoreSchemaLoader(text)
    try:
        data = _Builder(loader.get_event).document()
    except Exception:  # whatever it is, `parse_yaml` decides (and words the problem)
        return None
    finally:
        loader.dispose()
    return Document(file=file, data=data, locations={(): Location(file, 1, 1)})


class _Builder:
    """Builds the data of one event stream, counting values and levels as it goes."""

    def __init__(self, next_event: Any) -> None:
        self._next: Any = next_event
        self._values = 0

    def document(self) -> Any:
        """The data of a stream of exactly one document."""
        self._expect(StreamStartEvent)
        self._expect(DocumentStartEvent)
        data = self._value(self._next(), 1)
        self._expect(DocumentEndEvent)
        self._expect(StreamEndEvent)
        return data

    def _expect(self, kind: type[Event]) -> None:
        if type(self._next()) is not kind:
            raise _GiveUp

    def _value(self, event: Any, depth: int) -> Any:
        """The value whose first event is `event`, `depth` levels deep (the root is 1)."""
        self._values += 1
        if self._values > MAX_VALUES or depth > MAX_DEPTH:
            raise _GiveUp
        kind = type(event)
        # Only node events have `anchor` and `tag`; an alias event is left to `parse_yaml`.
        if kind not in _NODE_EVENTS or event.anchor is not None or event.tag is not None:
            raise _GiveUp
        if kind is ScalarEvent:
            # A quoted scalar is text; a plain one is typed by the core schema.
            return _plain_value(event.value) if event.implicit[0] else event.value
        if kind is MappingStartEvent:
            return self._mapping(depth)
        return self._sequence(depth)

    def _mapping(self, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        event = self._next()
        while type(event) is not MappingEndEvent:
            if type(event) is not ScalarEvent:
                raise _GiveUp
            key = self._value(event, depth + 1)
            if key in result or key == _MERGE_KEY:
                raise _GiveUp
            result[key] = self._value(self._next(), depth + 1)
            event = self._next()
        return result

    def _sequence(self, depth: int) -> list[Any]:
        items = []
        event = self._next()
        while type(event) is not SequenceEndEvent:
            items.append(self._value(event, depth + 1))
            event = self._next()
        return items
