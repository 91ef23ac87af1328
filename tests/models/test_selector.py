"""The selector language: parsing, selecting, and readable misses."""

from __future__ import annotations

from typing import Any

import pytest

from harness.models.selector import SelectorMiss, parse_selector, select, selector_text

DOC: dict[str, Any] = {
    "input_output_pairs": [
        {"run_output": {"events": [{"type": "start_node_run"}, {"type": "end"}]}}
    ],
    "runtime_variables": {"patient name": "Ana", "a.b": 1, "slots": ["09:30", "11:00"]},
}


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("", ()),
        ("status", ("status",)),
        (
            "input_output_pairs[-1].run_output.events[0].type",
            ("input_output_pairs", -1, "run_output", "events", 0, "type"),
        ),
        ("runtime_variables['patient name']", ("runtime_variables", "patient name")),
        ('runtime_variables["a.b"]', ("runtime_variables", "a.b")),
        ("[0][ 1 ]", (0, 1)),
        ("x-y.$z", ("x-y", "$z")),
        (r"m['it\'s']", ("m", "it's")),
    ],
)
def test_parse(text: str, steps: tuple[Any, ...]) -> None:
    assert parse_selector(text) == steps


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a..b", "expected a name at column 3 of selector 'a..b'"),
        ("a[x]", "expected `[<integer>]` or `['<key>']` at column 2 of selector 'a[x]'"),
        ("a b", "expected `.` or `[` at column 2 of selector 'a b'"),
        (".a", "expected a name at column 1 of selector '.a'"),
        ("a['open", "expected `[<integer>]` or `['<key>']` at column 2 of selector \"a['open\""),
    ],
)
def test_parse_errors_name_the_column(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_selector(text)
    assert str(caught.value) == message


def test_select_and_round_trip() -> None:
    assert select(DOC, "input_output_pairs[-1].run_output.events[1].type") == "end"
    assert select(DOC, "runtime_variables['patient name']") == "Ana"
    assert select(DOC, "runtime_variables.slots[-2]") == "09:30"
    assert select(DOC, "") is DOC
    steps = ("runtime_variables", "patient name", 0, "x")
    assert parse_selector(selector_text(steps)) == steps


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "runtime_variables.missing",
            "`runtime_variables.missing` selects nothing: no key 'missing' (keys: a.b, patient name, slots) at `runtime_variables`",
        ),
        (
            "runtime_variables.slots[2]",
            "`runtime_variables.slots[2]` selects nothing: index 2 out of range (2 items) at `runtime_variables.slots`",
        ),
        (
            "runtime_variables.slots.first",
            "`runtime_variables.slots.first` selects nothing: cannot take 'first' of a list at `runtime_variables.slots`",
        ),
        (
            "input_output_pairs[0].run_output.events[0].type.x",
            "`input_output_pairs[0].run_output.events[0].type.x` selects nothing: cannot take 'x' of str at `input_output_pairs[0].run_output.events[0].type`",
        ),
        (
            "nope",
            "`nope` selects nothing: no key 'nope' (keys: input_output_pairs, runtime_variables) at `(root)`",
        ),
    ],
)
def test_a_miss_says_where_and_why(text: str, message: str) -> None:
    with pytest.raises(SelectorMiss) as caught:
        select(DOC, text)
    assert str(caught.value) == message
