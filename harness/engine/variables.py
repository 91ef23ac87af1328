"""Variables: `{{dynamic}}` and `[[runtime]]` placeholders, the clock, and the built-in variables.

Substitution rules (docs/engine-expressions.md has the full table):
- `{{name}}` reads the dynamic variables, `[[name]]` the runtime ones; spaces inside the brackets
  are allowed (`{{ name }}`). A name is looked up as a whole key first, then as a dotted path into
  nested objects and lists (`{{patient.name}}`, `[[slots.0]]`).
- An unresolved placeholder stays verbatim, so a missing variable is visible in the prompt.
- Strings are inserted as they are; every other value is rendered as JSON (`true`, `null`, `3`,
  `{"a": 1}`).
- One pass only: text that a value brings in is never substituted again.
"""

from __future__ import annotations

import json
import random
import re
import string
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

__all__ = [
    "ABSENT",
    "PLACEHOLDER_PATTERN",
    "Absent",
    "Clock",
    "FixedClock",
    "SystemClock",
    "builtin_variables",
    "lookup",
    "render_value",
    "substitute",
    "substitute_value",
]

PLACEHOLDER_PATTERN: Final = re.compile(
    r"\{\{\s*(?P<dynamic>[^\s{}\[\]]+)\s*\}\}|\[\[\s*(?P<runtime>[^\s{}\[\]]+)\s*\]\]"
)
"""Matches `{{name}}` (group `dynamic`) or `[[name]]` (group `runtime`)."""

_RAND_STR_ALPHABET = string.ascii_lowercase + string.digits
# Not strftime("%A"): that follows the process locale, and built-ins must be reproducible.
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


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
    """The value of `name`: a whole key first, then a dotted path; `ABSENT` when unresolved.

    Args:
        name: a variable name such as `slot` or `patient.address.city` or `slots.0`.
        variables: the dynamic or runtime variables.
    """
    if name in variables:
        return variables[name]
    if "." not in name:
        return ABSENT
    current: Any = variables
    for part in name.split("."):
        current = _step(current, part)
        if current is ABSENT:
            return ABSENT
    return current


def _step(container: Any, part: str) -> Any:
    if isinstance(container, Mapping):
        return container.get(part, ABSENT)
    if isinstance(container, list) and part.lstrip("-").isdigit():
        index = int(part)
        return container[index] if -len(container) <= index < len(container) else ABSENT
    return ABSENT


def render_value(value: Any) -> str:
    """A value as placeholder text: strings as they are, everything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _resolve(match: re.Match[str], dynamic: Mapping[str, Any], runtime: Mapping[str, Any]) -> Any:
    if match.group("dynamic") is not None:
        return lookup(match.group("dynamic"), dynamic)
    return lookup(match.group("runtime"), runtime)


def substitute(text: str, dynamic: Mapping[str, Any], runtime: Mapping[str, Any]) -> str:
    """Replace `{{name}}` with dynamic and `[[name]]` with runtime variables in `text`.

    Unresolved placeholders stay verbatim; non-string values are rendered as JSON.
    """

    def replace(match: re.Match[str]) -> str:
        value = _resolve(match, dynamic, runtime)
        return match.group(0) if value is ABSENT else render_value(value)

    return PLACEHOLDER_PATTERN.sub(replace, text)


def substitute_value(value: Any, dynamic: Mapping[str, Any], runtime: Mapping[str, Any]) -> Any:
    """Substitute placeholders in every string inside `value` (dicts, lists, tuples; keys too).

    A string that is exactly one resolved placeholder (`"[[slots]]"`) becomes the variable's value
    itself, keeping its type, so a JSON body or tool argument receives a number or an object
    rather than its JSON text. Other values (numbers, None, ...) are returned unchanged.
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
