"""Placeholder substitution, typed values, the clocks and the reproducible built-in variables."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from harness.engine.variables import (
    ABSENT,
    Absent,
    FixedClock,
    SystemClock,
    builtin_variables,
    lookup,
    render_value,
    substitute,
    substitute_value,
)

DYNAMIC: dict[str, Any] = {
    "name": "Ana",
    "count": 3,
    "patient": {"id": 7, "tags": ["vip", "new"]},
    "dotted.key": "whole key wins",
    "flag": True,
    "nothing": None,
}
RUNTIME: dict[str, Any] = {
    "slot": "09:30",
    "slots": ["09:30", "11:00"],
    "ratio": 0.5,
    "name": "runtime Ana",
    "tricky": "{{name}} and [[slot]]",
    "accent": "José",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello {{name}}", "Hello Ana"),
        ("Hello [[name]]", "Hello runtime Ana"),
        ("{{ name }} / [[  slot ]]", "Ana / 09:30"),
        ("{{name}}{{name}}", "AnaAna"),
        # unresolved placeholders stay verbatim, in both kinds and with their spacing
        ("Hi {{missing}} at [[ unknown ]]", "Hi {{missing}} at [[ unknown ]]"),
        ("{{slot}} is runtime only", "{{slot}} is runtime only"),
        # non-strings render as JSON
        ("n={{count}}", "n=3"),
        ("r=[[ratio]]", "r=0.5"),
        ("f={{flag}}", "f=true"),
        ("null={{nothing}}", "null=null"),
        ("[[slots]]", '["09:30", "11:00"]'),
        ("{{patient}}", '{"id": 7, "tags": ["vip", "new"]}'),
        ("[[accent]]", "José"),
        # dotted paths into objects and lists; a whole key wins
        ("{{patient.id}} {{patient.tags.1}} {{patient.tags.-1}}", "7 new new"),
        (
            "{{patient.tags.5}} {{patient.x}} {{name.x}}",
            "{{patient.tags.5}} {{patient.x}} {{name.x}}",
        ),
        ("{{dotted.key}}", "whole key wins"),
        # one pass: text a value brings in is not substituted again
        ("[[tricky]]", "{{name}} and [[slot]]"),
        # not placeholders
        ("{ {name} } [name] {{}} [[ ]] {{a b}}", "{ {name} } [name] {{}} [[ ]] {{a b}}"),
        ("{{{name}}}", "{Ana}"),
        ("", ""),
    ],
)
def test_substitute(text: str, expected: str) -> None:
    assert substitute(text, DYNAMIC, RUNTIME) == expected


def test_substitute_value_recurses_and_keeps_whole_placeholder_types() -> None:
    value = {
        "slot": "[[slot]]",
        "slots": "[[slots]]",
        "count": "{{count}}",
        "spaced": "{{ count }}",
        "text": "n={{count}}",
        "missing": "[[missing]]",
        "nested": [{"id": "{{patient.id}}"}, ("{{name}}", 5)],
        "{{name}}": None,
        "number": 1.5,
        "nothing": "{{nothing}}",
    }
    assert substitute_value(value, DYNAMIC, RUNTIME) == {
        "slot": "09:30",
        "slots": ["09:30", "11:00"],
        "count": 3,
        "spaced": 3,
        "text": "n=3",
        "missing": "[[missing]]",
        "nested": [{"id": 7}, ("Ana", 5)],
        "Ana": None,
        "number": 1.5,
        "nothing": None,
    }
    assert substitute_value("plain", {}, {}) == "plain"
    assert substitute_value(None, {}, {}) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("x", "x"),
        (1, "1"),
        (1.25, "1.25"),
        (False, "false"),
        (None, "null"),
        ({"a": [1]}, '{"a": [1]}'),
        ("é", "é"),
        # values JSON cannot hold become JSON strings of their str()
        (datetime(2026, 1, 2, tzinfo=UTC), '"2026-01-02 00:00:00+00:00"'),
    ],
)
def test_render_value(value: Any, text: str) -> None:
    assert render_value(value) == text


def test_lookup_and_absent() -> None:
    assert lookup("name", DYNAMIC) == "Ana"
    assert lookup("nothing", DYNAMIC) is None
    assert lookup("missing", DYNAMIC) is ABSENT
    assert lookup("patient.tags.0", DYNAMIC) == "vip"
    assert lookup("patient.tags.x", DYNAMIC) is ABSENT
    assert Absent() is ABSENT
    assert not ABSENT
    assert repr(ABSENT) == "ABSENT"


def test_fixed_clock_steps_and_defaults_to_utc() -> None:
    clock = FixedClock(datetime(2026, 11, 29, 14, 5, 9), step=timedelta(seconds=2))
    readings = [clock.now() for _ in range(3)]
    assert readings == [datetime(2026, 11, 29, 14, 5, s, tzinfo=UTC) for s in (9, 11, 13)]
    frozen = FixedClock(datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2))))
    assert frozen.now() == frozen.now()
    assert frozen.now().utcoffset() == timedelta(hours=2)


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC
    assert abs((datetime.now(UTC) - now).total_seconds()) < 5


def test_builtins_from_a_fixed_clock() -> None:
    values = builtin_variables(FixedClock(datetime(2026, 11, 29, 14, 5, 9)), random.Random(1))
    assert {k: values[k] for k in list(values)[:12]} == {
        "now": "2026-11-29 14:05:09",
        "date": "2026-11-29",
        "time": "14:05:09",
        "year": 2026,
        "month": 11,
        "day": 29,
        "hour": 14,
        "minute": 5,
        "iso_datetime": "2026-11-29T14:05:09+00:00",
        "day_of_week": "Sunday",
        "timestamp": 1795961109,
        "timestamp_ms": 1795961109000,
    }
    assert sorted(values) == sorted(
        [
            "now",
            "date",
            "time",
            "year",
            "month",
            "day",
            "hour",
            "minute",
            "iso_datetime",
            "day_of_week",
            "timestamp",
            "timestamp_ms",
            "rand_int",
            "rand_str",
            "rand_float",
            "rand_uuid",
            "rand_bool",
        ]
    )


def test_random_builtins_are_reproducible_with_a_seed() -> None:
    def draw(seed: int) -> dict[str, Any]:
        return builtin_variables(FixedClock(datetime(2026, 1, 1, tzinfo=UTC)), random.Random(seed))

    first, again, other = draw(7), draw(7), draw(8)
    assert first == again
    randoms = ("rand_int", "rand_str", "rand_float", "rand_uuid")
    assert any(first[k] != other[k] for k in randoms)
    assert isinstance(first["rand_int"], int) and 0 <= first["rand_int"] <= 999_999
    assert (
        len(first["rand_str"]) == 12
        and first["rand_str"].isalnum()
        and first["rand_str"] == first["rand_str"].lower()
    )
    assert 0 <= first["rand_float"] < 1
    assert uuid.UUID(first["rand_uuid"]).version == 4
    assert isinstance(first["rand_bool"], bool)


def test_builtins_substitute_like_any_variable() -> None:
    values = builtin_variables(FixedClock(datetime(2026, 11, 29, 9, 0)), random.Random(0))
    assert substitute("Today is {{day_of_week}} {{date}}, year {{year}}", values, {}) == (
        "Today is Sunday 2026-11-29, year 2026"
    )
