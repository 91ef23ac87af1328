"""Variables: `{{dynamic}}` and `[[runtime]]` references, the clock, and the built-in variables.

Reference rules (docs/engine-expressions.md has the full table):
- `{{ ref }}` reads the dynamic variables, `[[ ref ]]` the runtime ones. A reference is Liquid's:
  a path (`name`, `patient.name`, `items[2].name`, `result["key"]`, `slots.0`) then optional
  filters (`[[x | upcase ]]`, `{{ list | join: ', ' }}`, `{{ x | default: 'n/a' }}`), python-liquid's
  standard set. The text before the first pipe is looked up as a whole key first.
- An unresolved reference stays verbatim, so a missing variable is visible in the prompt; a
  reference whose chain has a `default` filter is the exception (the filters run on nil).
- Strings are inserted as they are; every other value is rendered as JSON (`true`, `null`, `3`,
  `{"a": 1}`).
- One pass only: text that a value brings in is never substituted again.
- Nothing here raises on a value: a filter that fails on its input leaves the reference unresolved.
"""

from __future__ import annotations

import json
import random
import re
import string
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from harness.engine._references import (
    PLACEHOLDER_PATTERN,
    Argument,
    ConstantArgument,
    FilterCall,
    ParsedPath,
    ParsedReference,
    ReferenceSyntaxError,
    call_filter,
    is_unset,
    parse_path,
    parse_reference,
    template_reference,
    unset,
)

__all__ = [
    "ABSENT",
    "PLACEHOLDER_PATTERN",
    "Absent",
    "Clock",
    "FixedClock",
    "SystemClock",
    "apply_filters",
    "builtin_variables",
    "evaluate_reference",
    "lookup",
    "referenced_names",
    "render_value",
    "substitute",
    "substitute_value",
    "template_problems",
]

_RAND_STR_ALPHABET = string.ascii_lowercase + string.digits
# Not strftime("%A"): that follows the process locale, and built-ins must be reproducible.
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_INDEX = re.compile(r"-?[0-9]{1,18}")
_SEQUENCE_PROPERTIES = ("first", "last", "size")


class Absent:
    """The value of a variable that is not set (distinct from JSON null). Falsy; one instance."""

    _instance: Absent | None = None

    def __new__(cls) -> Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Final = Absent()
"""The one `Absent` value."""


def lookup(name: str, variables: Mapping[str, Any]) -> Any:
    """The value of `name`: a whole key first, then a path; `ABSENT` when unresolved.

    Args:
        name: a variable name or path such as `slot`, `patient.address.city`, `slots.0`,
            `items[2].name` or `result["key"]` (no filters).
        variables: the dynamic or runtime variables.
    """
    if name in variables:
        return variables[name]
    path = parse_path(name)
    return ABSENT if path is None else _walk(path, variables)


def evaluate_reference(reference: ParsedReference, variables: Mapping[str, Any]) -> Any:
    """The value of a parsed reference (its path, then its filters); `ABSENT` when unresolved."""
    value = variables.get(reference.key, ABSENT)
    if value is ABSENT and reference.path is not None:
        value = _walk(reference.path, variables)
    return apply_filters(reference.filters, value, variables) if reference.filters else value


def apply_filters(filters: Sequence[FilterCall], value: Any, variables: Mapping[str, Any]) -> Any:
    """`value` through `filters`, left to right; never raises.

    An unset value stays `ABSENT` unless the chain has a `default` filter: then the filters see
    Liquid's undefined, as do filter arguments naming an unset variable. A filter that fails on
    its input (`| divided_by: 0`) makes the result `ABSENT`, so the reference stays verbatim in
    text and compares false in a condition; so does a chain that ends on an undefined value.
    """
    if not filters:
        return value
    if value is ABSENT:
        if not any(call.name == "default" for call in filters):
            return ABSENT
        value = unset("value")
    for call in filters:
        arguments = [_argument(a, variables) for a in call.arguments]
        keywords = {key: _argument(a, variables) for key, a in call.keywords}
        try:
            value = call_filter(call, value, arguments, keywords)
        except Exception:  # a filter's failure on a value is data, not a crash of the run
            return ABSENT
    return ABSENT if is_unset(value) else value


def _argument(argument: Argument, variables: Mapping[str, Any]) -> Any:
    if isinstance(argument, ConstantArgument):
        return argument.value
    value = variables.get(argument.path.text, ABSENT)
    if value is ABSENT:
        value = _walk(argument.path, variables)
    return unset(argument.path.text) if value is ABSENT else value


def _walk(path: ParsedPath, variables: Mapping[str, Any]) -> Any:
    segments = path.segments
    first = segments[0]
    if isinstance(first, str):
        current, rest = variables.get(first, ABSENT), 1
        if current is ABSENT:
            current, rest = _dotted_key(segments, variables)
    else:
        current, rest = _step(variables, _segment_key(first, variables)), 1
    for segment in segments[rest:]:
        if current is ABSENT:
            return ABSENT
        # The common step, a name into a plain dict, without the general dispatch.
        if type(current) is dict and type(segment) is str and segment != "size":
            current = current.get(segment, ABSENT)
        else:
            current = _step(current, _segment_key(segment, variables))
    return current


def _dotted_key(
    segments: tuple[str | int | ParsedPath, ...], variables: Mapping[str, Any]
) -> tuple[Any, int]:
    """A key that holds dots itself, such as the platform's `<node>.<variable>`, then the rest."""
    for count in range(2, len(segments) + 1):
        parts = segments[:count]
        if not all(isinstance(part, str) for part in parts):
            break
        key = ".".join(str(part) for part in parts)
        if key in variables:
            return variables[key], count
    return ABSENT, len(segments)


def _segment_key(segment: str | int | ParsedPath, variables: Mapping[str, Any]) -> Any:
    """A segment as a key or index; a nested path (`items[i]`) is resolved to one first."""
    if not isinstance(segment, ParsedPath):
        return segment
    key = _walk(segment, variables)
    return (
        key
        if isinstance(key, str) or (isinstance(key, int) and not isinstance(key, bool))
        else ABSENT
    )


def _step(container: Any, key: Any) -> Any:
    """One step down: a mapping's key, a list's index, or Liquid's `size`/`first`/`last`."""
    if key is ABSENT:
        return ABSENT
    if isinstance(container, Mapping):
        found = container.get(str(key), ABSENT)
        if found is ABSENT and key == "size":
            return len(container)
        return found
    if isinstance(container, list | tuple):
        if isinstance(key, str):
            if key in _SEQUENCE_PROPERTIES:
                return _sequence_property(container, key)
            if not _INDEX.fullmatch(key):
                return ABSENT
            key = int(key)
        return container[key] if -len(container) <= key < len(container) else ABSENT
    if isinstance(container, str) and key == "size":
        return len(container)
    return ABSENT


def _sequence_property(container: list[Any] | tuple[Any, ...], name: str) -> Any:
    if name == "size":
        return len(container)
    if not container:
        return ABSENT
    return container[0] if name == "first" else container[-1]


def render_value(value: Any) -> str:
    """A value as placeholder text: strings as they are, everything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _resolve(match: re.Match[str], dynamic: Mapping[str, Any], runtime: Mapping[str, Any]) -> Any:
    inner = match.group("dynamic")
    variables = dynamic
    if inner is None:
        inner, variables = match.group("runtime"), runtime
    reference = template_reference(inner)
    return ABSENT if reference is None else evaluate_reference(reference, variables)


def substitute(text: str, dynamic: Mapping[str, Any], runtime: Mapping[str, Any]) -> str:
    """Replace `{{ ref }}` with dynamic and `[[ ref ]]` with runtime values in `text`.

    Unresolved references stay verbatim; non-string values are rendered as JSON.
    """
    if "{{" not in text and "[[" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        value = _resolve(match, dynamic, runtime)
        return match.group(0) if value is ABSENT else render_value(value)

    return PLACEHOLDER_PATTERN.sub(replace, text)


def substitute_value(value: Any, dynamic: Mapping[str, Any], runtime: Mapping[str, Any]) -> Any:
    """Substitute references in every string inside `value` (dicts, lists, tuples; keys too).

    A string that is exactly one resolved reference (`"[[slots]]"`, `"[[slots | first]]"`)
    becomes the value itself, keeping its type, so a JSON body or tool argument receives a number
    or an object rather than its JSON text. Other values (numbers, None, ...) are returned
    unchanged.
    """
    if isinstance(value, str):
        whole = PLACEHOLDER_PATTERN.fullmatch(value)
        if whole is not None:
            resolved = _resolve(whole, dynamic, runtime)
            return value if resolved is ABSENT else resolved
        return substitute(value, dynamic, runtime)
    if isinstance(value, Mapping):
        return {
            substitute(str(k), dynamic, runtime): substitute_value(v, dynamic, runtime)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute_value(v, dynamic, runtime) for v in value]
    if isinstance(value, tuple):
        return tuple(substitute_value(v, dynamic, runtime) for v in value)
    return value


def referenced_names(text: str) -> set[str]:
    """The top-level variable names that the references in `text` read (both kinds mixed).

    `Hi {{ patient.name | upcase }} {{ list | join: sep }}` -> `{"patient", "list", "sep"}`.
    """
    names: set[str] = set()
    for match in PLACEHOLDER_PATTERN.finditer(text):
        reference = template_reference(match.group("dynamic") or match.group("runtime"))
        if reference is None:
            continue
        paths = [reference.path] + [
            argument.path
            for call in reference.filters
            for argument in (*call.arguments, *(a for _, a in call.keywords))
            if not isinstance(argument, ConstantArgument)
        ]
        for path in paths:
            root = path.segments[0] if path is not None else reference.key
            names.add(root if isinstance(root, str) else reference.key)
    return names


def template_problems(text: str) -> list[str]:
    """Why each reference with a filter part in `text` cannot be used (empty when all can).

    At run time such a reference stays verbatim; this is for linting a workflow ahead of a run.
    Text that only looks like a placeholder (`{{ 'x' }}`, `{{a b}}`) is not a problem: it is text.

    `template_problems("Hi {{ name | upcas }}")` ->
    `["{{ name | upcas }}: unknown filter 'upcas'; did you mean 'upcase'? ..."]`
    """
    problems: list[str] = []
    for match in PLACEHOLDER_PATTERN.finditer(text):
        inner = match.group("dynamic") or match.group("runtime")
        if "|" not in inner or template_reference(inner) is not None:
            continue
        try:
            parse_reference(inner)
        except ReferenceSyntaxError as exc:
            problems.append(f"{match.group()}: {exc.reason}")
    return problems


class Clock(Protocol):
    """A source of the current time; injected so runs are reproducible."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)


class FixedClock:
    """A clock for tests: starts at `dt` and advances by `step` after every reading.

    Args:
        dt: the first reading; a naive datetime is taken as UTC.
        step: how much each `now()` call advances the clock (default: never).
    """

    def __init__(self, dt: datetime, step: timedelta = timedelta(0)) -> None:
        self._next = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
        self.step = step

    def now(self) -> datetime:
        """The current reading; then the clock moves on by `step`."""
        current = self._next
        self._next = current + self.step
        return current


def builtin_variables(clock: Clock, rng: random.Random) -> dict[str, Any]:
    """The built-in variables of a run, from one clock reading and the run's random source.

    Names and values (for 2026-11-29 14:05:09 UTC):
    `now` "2026-11-29 14:05:09", `date` "2026-11-29", `time` "14:05:09", `year` 2026,
    `month` 11, `day` 29, `hour` 14, `minute` 5, `iso_datetime` "2026-11-29T14:05:09+00:00",
    `day_of_week` "Sunday", `timestamp` (int seconds), `timestamp_ms` (int ms),
    `rand_int` (0..999999), `rand_str` (12 of [a-z0-9]), `rand_float` [0, 1),
    `rand_uuid` (uuid4 text), `rand_bool`.

    Args:
        clock: read once.
        rng: the run's seeded random source (consumed in the order listed above).
    """
    now = clock.now()
    return {
        "now": now.strftime("%Y-%m-%d %H:%M:%S"),
        "date": now.strftime("%Y-%m-%d"),
        "time": now.strftime("%H:%M:%S"),
        "year": now.year,
        "month": now.month,
        "day": now.day,
        "hour": now.hour,
        "minute": now.minute,
        "iso_datetime": now.isoformat(),
        "day_of_week": _DAY_NAMES[now.weekday()],
        "timestamp": int(now.timestamp()),
        "timestamp_ms": int(now.timestamp() * 1000),
        "rand_int": rng.randint(0, 999_999),
        "rand_str": "".join(rng.choice(_RAND_STR_ALPHABET) for _ in range(12)),
        "rand_float": rng.random(),
        "rand_uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "rand_bool": rng.random() < 0.5,
    }
