"""The quick parse (`parse_quick`): the same data as `parse_yaml` or none at all.

Whenever it gives data, that data equals `parse_yaml`'s (types and key order included); anything
that is a problem, or a construct it leaves to `parse_yaml` (anchors, aliases, tags, merges, more
than one document), it gives up on, so positions and messages always come from `parse_yaml`.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.scenarios import _quick_yaml, _yaml
from harness.scenarios._quick_yaml import parse_quick
from harness.scenarios._yaml import MAX_DEPTH, YamlProblem, parse_yaml


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down and the same key order (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return [(type(k), k) for k in a] == [(type(k), k) for k in b] and all(
            same(a[k], b[k]) for k in a
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def positioned(text: str) -> Any:
    try:
        return parse_yaml(text, "f.yaml").data
    except YamlProblem as exc:
        return exc


def assert_agrees(text: str) -> bool:
    """Whether the quick parse gave data; when it did, it is the positioned parse's data."""
    quick = parse_quick(text, "f.yaml")
    if quick is None:
        return False
    expected = positioned(text)
    assert not isinstance(expected, YamlProblem), f"quick parse accepted a problem: {expected}"
    assert same(quick.data, expected), (quick.data, expected)
    assert quick.file == "f.yaml"
    return True


@pytest.mark.parametrize(
    "text",
    [
        "version: 1\nname: books\nturns: [{start: {}}, {user: hi, expect: {says: {contains: '?'}}}]\n",
        "a: yes\nb: no\nc: on\nd: off\ne: 2026-12-01\nf: True\ng: FALSE\nh: ~\ni:\nj: null\n",
        "a: 0x1F\nb: 0o17\nc: -12\nd: +3\ne: 1.5e3\nf: .inf\ng: -.Inf\nh: .nan\ni: 1_000\nj: 0b11\n",
        "a: '1'\nb: \"true\"\nc: 'null'\nd: ''\ne: \"\"\n",
        "1: one\n2.5: two\nfalse: three\n~: four\n",
        "list:\n- \n- a\n- - nested\n  - [x, {y: z}]\n",
        "text: |\n  two\n  lines\nfolded: >\n  one\n  line\n",
        "# only a comment\nkey: value # trailing\n",
        "---\nkey: value\n...\n",
        "%YAML 1.1\n---\nkey: value\n",
        "key: {a: 1, b: [1, 2, {c: d}]}\n",
        "'<<x': 1\n'a<<': 2\n",
        "[1, 2, 3]\n",
        "just text\n",
        "key: \u00e9t\u00e9 \U0001f600\n",
    ],
)
def test_plain_files_give_the_positioned_parse_s_data(text: str) -> None:
    assert assert_agrees(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # an anchor and an alias
        "base: &b {x: 1}\nover: {<<: *b, y: 2}\n",  # a merge
        "'<<': {x: 1}\n",  # a quoted `<<` is a merge key too
        "a: !!str 1\n",  # an explicit tag
        "a: ! 1\n",  # the non-specific tag
        "a: !custom x\n",
        "a: 1\na: 2\n",  # a duplicate key
        "1: a\ntrue: b\n",  # 1 and true are the same key
        "? [a, b]\n: c\n",  # a non-scalar key
        "a: b\n---\nc: d\n",  # two documents
        "",  # no document
        "a: [1, 2\n",  # a syntax error
        "a: " + "9" * 401 + "\n",  # a number over the length limit
        "a: 1\n\tb: 2\n",  # a tab where indentation is expected
    ],
)
def test_anything_else_is_left_to_the_positioned_parse(text: str) -> None:
    assert not assert_agrees(text)


def test_nesting_beyond_the_limit_is_left_to_the_positioned_parse() -> None:
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    deeper = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert assert_agrees(deep)
    assert not assert_agrees(deeper)
    assert isinstance(positioned(deeper), YamlProblem)


def test_more_values_than_the_limit_are_left_to_the_positioned_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limit = 50  # the real limit (200,000) takes seconds to reach, to the same effect
    monkeypatch.setattr(_yaml, "MAX_VALUES", limit)
    monkeypatch.setattr(_quick_yaml, "MAX_VALUES", limit)
    at_limit = "[" + ",".join(["1"] * (limit - 1)) + "]"  # the list itself is a value
    over = "[" + ",".join(["1"] * limit) + "]"
    assert assert_agrees(at_limit)
    assert not assert_agrees(over)
    assert isinstance(positioned(over), YamlProblem)


def test_an_alias_bomb_is_refused_without_being_expanded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    assert parse_quick("\n".join(lines), "bomb.yaml") is None  # at once: never built


SCALAR_TEXT = st.sampled_from(
    ["yes", "No", "0x1f", "0o7", "1e3", ".5", "-.inf", ".NaN", "~", "", "null", "True", "1_0"]
) | st.text(st.sampled_from(list("0123456789.+-eExo_abntrufl~ ")), max_size=8)
DATA = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | SCALAR_TEXT,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | SCALAR_TEXT, inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(data=DATA, flow=st.booleans(), splice=st.text(st.sampled_from(list("{}[]&*!:-,'\"\n #<")), max_size=6), at=st.integers(0, 500))  # fmt: skip
def test_random_documents_agree(data: Any, flow: bool, splice: str, at: int) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    assert_agrees(text)
    position = at % (len(text) + 1)
    assert_agrees(text[:position] + splice + text[position:])
