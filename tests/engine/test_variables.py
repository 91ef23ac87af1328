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
    referenced_names,
    render_value,
    substitute,
    substitute_value,
    template_problems,
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


# ------------------------------------------------------------------ Liquid-style references

REFS: dict[str, Any] = {
    "name": "ana",
    "items": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
    "result": {"key": "v", "urgency_level": "urgent", "k y": 1, "0": "zero"},
    "list": ["b", "a"],
    "i": 1,
    "nothing": None,
    "empty": "",
    "padded": "  hi  ",
    "number_text": "41",
    "Collect Insurance.dob": "1990-02-03",
    "node_1.result": {"score": 5},
    "sep": " / ",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # paths: dots, bracket indexes (negative too), quoted keys, a variable as the index
        ("{{items[2].name}}", "C"),
        ("{{ items[-1].name }}", "C"),
        ('{{ result["key"] }}', "v"),
        ("{{result['k y']}}", "1"),
        ("{{result.urgency_level}}", "urgent"),
        ("{{ items[i].name }}", "B"),
        ("{{ result.0 }} {{ result[0] }}", "zero zero"),
        ("{{items.1.name}}", "B"),
        # Liquid's size / first / last properties (a real key of that name wins)
        (
            "{{ list.size }} {{ list.first }} {{ list.last }} {{ name.size }} {{ result.size }}",
            "2 b a 3 4",
        ),
        # keys that hold dots or spaces themselves, as the platform writes `<node>.<variable>`
        ("{{Collect Insurance.dob}}", "1990-02-03"),
        ("{{node_1.result.score}}", "5"),
        # filters, with arguments, chained
        ("{{ name | upcase }}", "ANA"),
        ("{{name|upcase}}", "ANA"),
        ("{{ result.urgency_level | upcase }}", "URGENT"),
        ("{{ list | join: ', ' }}", "b, a"),
        ('{{ list | join: " & " }}', "b & a"),
        ("{{ list | join: sep }}", "b / a"),
        ("{{ list | sort | join }}", "a b"),
        ("{{ list | size }} {{ list | first }} {{ list | last }}", "2 b a"),
        ("{{ padded | strip }}|", "hi|"),
        ("{{ name | capitalize | append: '!' | prepend: '> ' }}", "> Ana!"),
        ("{{ name | replace: 'a', 'o' }}", "ono"),
        ("{{ name | truncate: 2 }}", "an..."),
        ("{{ name | slice: 1, 2 }}", "na"),
        (
            "{{ number_text | plus: 1 }} {{ number_text | times: 1.5 }} {{ number_text | divided_by: 2 }}",
            "42 61.5 20",
        ),
        ("{{ items | map: 'name' | join: '-' }}", "A-B-C"),
        ("{{ items | first }}", '{"name": "A"}'),
        ("{{ '2026-11-29' | date: '%d %b' }}", "{{ '2026-11-29' | date: '%d %b' }}"),
        # default: the one filter that gives an unset, null, empty or false value a value
        ("{{ missing | default: 'n/a' }}", "n/a"),
        ("{{ nothing | default: 'n/a' }} {{ empty | default: 'n/a' }}", "n/a n/a"),
        ("{{ name | default: 'n/a' }}", "ana"),
        ("{{ missing | default: name | upcase }}", "ANA"),
        ("{{ missing | upcase | default: 'none' }}", "none"),
        # an unresolved reference stays verbatim, filters and spacing included
        ("{{ missing | upcase }}", "{{ missing | upcase }}"),
        ("{{ items[7].name }} {{ result.nope }}", "{{ items[7].name }} {{ result.nope }}"),
        # so does a filter that fails on its value, and an unknown filter
        ("{{ number_text | divided_by: 0 }}", "{{ number_text | divided_by: 0 }}"),
        ("{{ name | bogus }}", "{{ name | bogus }}"),
        ("{{ name | join: 1, 2, 3 }}", "{{ name | join: 1, 2, 3 }}"),
        # not references: a literal root, an empty or broken inside
        (
            "{{ 'lit' | upcase }} {{ 1 }} {{ | upcase }}",
            "{{ 'lit' | upcase }} {{ 1 }} {{ | upcase }}",
        ),
        ("{{ name | }} {{ name | upcase: }}", "{{ name | }} {{ name | upcase: }}"),
        # braces and brackets around references
        ("{{{name}}} [{{name}}]", "{ana} [ana]"),
    ],
)
def test_liquid_references(text: str, expected: str) -> None:
    assert substitute(text, REFS, {}) == expected


def test_runtime_references_take_bracket_indexes_inside_double_brackets() -> None:
    assert substitute('[[result["key"]]] [[items[0].name]] [[[name]]]', {}, REFS) == "v A [ana]"
    assert substitute("[[ result.urgency_level | upcase ]]", {}, REFS) == "URGENT"
    # each kind reads its own variables, filter arguments included: an unset argument is
    # Liquid's undefined (an empty separator here)
    assert substitute("{{ list | join: sep }}", {"list": ["x", "y"]}, REFS) == "xy"


def test_a_whole_reference_keeps_the_filtered_type() -> None:
    value = {
        "first": "{{ list | first }}",
        "size": "{{ list | size }}",
        "fallback": "{{ missing | default: 3 }}",
        "sorted": "{{ list | sort }}",
        "text": "n={{ list | size }}",
        "broken": "{{ name | bogus }}",
    }
    assert substitute_value(value, REFS, {}) == {
        "first": "b",
        "size": 2,
        "fallback": 3,
        "sorted": ["a", "b"],
        "text": "n=2",
        "broken": "{{ name | bogus }}",
    }


def test_lookup_takes_liquid_paths() -> None:
    assert lookup("items[1].name", REFS) == "B"
    assert lookup('result["k y"]', REFS) == 1
    assert lookup("items[i].name", REFS) == "B"
    assert lookup("[0].x", {"0": {"x": 1}}) == 1
    assert lookup("items[9]", REFS) is ABSENT
    assert lookup("items[name]", REFS) is ABSENT
    assert lookup("name | upcase", REFS) is ABSENT
    assert lookup("list.²", REFS) is ABSENT


def test_referenced_names_are_the_roots_the_platform_derives() -> None:
    text = "Hi {{ patient.name | upcase }} {{ list | join: sep }} [[rows[0].id]] {{a b}} {{ 'x' }}"
    assert referenced_names(text) == {"patient", "list", "sep", "rows", "a b"}


@pytest.mark.parametrize(
    "text",
    [
        "{{" * 20_000,
        "[[" * 20_000 + "]]",
        "{{ '" * 5_000,
        "[[ a" + "[b" * 5_000 + "]" * 5_000 + "]]",
        "{{ a" + "[b" * 50 + "]" * 50 + " }}",
        "{{ x" + " | upcase" * 500 + " }}",
        "{{ x | plus: " + "9" * 5_000 + " }}",
        "{{ x | default: '" + "y" * 5_000 + "' }}",
        "{{ " + "a." * 3_000 + "b }}",
        "x " * 100_000 + "{{ name }}",
    ],
)
def test_pathological_text_is_cheap_and_stays_verbatim(text: str) -> None:
    import time

    started = time.perf_counter()
    out = substitute(text, {"x": "v", **REFS}, {})
    assert time.perf_counter() - started < 2.0  # the bound of docs/reliability.md; was seconds
    assert out in (text, text.replace("{{ name }}", "ana"))


def test_huge_values_through_filters_do_not_blow_up() -> None:
    variables = {"big": 10**300, "long": "x" * 100_000, "many": list(range(100_000))}
    assert substitute("{{ big | times: 1e300 }}", variables, {}) == "Infinity"
    assert substitute("{{ many | size }} {{ long | size }}", variables, {}) == "100000 100000"
    assert substitute("{{ big | round: 999999999 }}", variables, {}) == str(10**300)


def test_template_problems_name_each_broken_filter_part() -> None:
    text = "Hi {{ name | upcas }}, [[ slots | join: 1, 2 ]] {{ a b }} {{ 'x' }} {{ ok | upcase }}"
    assert template_problems(text) == [
        "{{ name | upcas }}: unknown filter 'upcas'; did you mean 'upcase'? "
        "see docs/engine-expressions.md for the filters",
        "[[ slots | join: 1, 2 ]]: filter 'join': too many positional arguments; "
        "write it as `| join: [separator]`",
    ]
    assert template_problems("plain {{ name }} [[ x.y | default: 'n/a' ]]") == []
