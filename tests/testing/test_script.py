"""The scripted model's script format: parsing, validation errors, text matching, token estimates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.testing import (
    Reply,
    Script,
    ScriptError,
    TextMatch,
    bundled_script,
    estimate_tokens,
    load_script,
    parse_script,
    prompt_tokens,
)
from harness.testing.completions import completion_tokens, usage_for


@pytest.mark.parametrize(
    ("spec", "text", "expected"),
    [
        ("hello", "well hello there", True),
        ("hello", "Hello there", False),
        ({"contains": "hello", "ignore_case": True}, "HELLO there", True),
        ({"equals": "yes"}, "  yes \n", True),
        ({"equals": "yes"}, "yes please", False),
        ({"equals": "YES", "ignore_case": True}, "yes", True),
        ({"regex": r"^\d{3}$"}, "123", True),
        ({"regex": r"^\d{3}$"}, "1234", False),
        ({"regex": "abc", "ignore_case": True}, "xABCx", True),
        ({"contains": "a", "regex": "b$"}, "ab", True),
        ({"contains": "a", "regex": "b$"}, "ba", False),
    ],
)
def test_text_match(spec: Any, text: str, expected: bool) -> None:
    assert TextMatch.model_validate(spec).matches(text) is expected


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"rules": [{"reply": {"text": "x"}, "whenn": {}}]}, "rules.0.whenn"),
        ({"rules": [{"reply": {}}]}, "exactly one of"),
        ({"rules": [{"reply": {"text": "x", "json": {}}}]}, "exactly one of"),
        ({"rules": [{"reply": {"error": {"status": 429}, "text": "x"}}]}, "exactly one of"),
        ({"rules": [{"reply": {"error": {"status": 200}}}]}, "rules.0.reply.error.status"),
        ({"rules": [{"when": {"last_user": {"regex": "("}}, "reply": {"text": "x"}}]}, "regex"),
        ({"rules": [{"when": {"last_user": {}}, "reply": {"text": "x"}}]}, "at least one of"),
        ({"rules": [{"when": {"last_role": "robot"}, "reply": {"text": "x"}}]}, "last_role"),
        ({"rules": [{"reply": {"text": "x"}, "times": 0}]}, "rules.0.times"),
        (
            {
                "rules": [
                    {"name": "a", "reply": {"text": "x"}},
                    {"name": "a", "reply": {"text": "y"}},
                ]
            },
            "duplicate rule names: a",
        ),
        ({"version": 2}, "version"),
        ({"default": {"text": "x"}, "extra": 1}, "extra"),
    ],
)
def test_invalid_scripts_are_refused_with_the_location(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ScriptError) as info:
        parse_script(data, source="my-script.yaml")
    assert "my-script.yaml" in str(info.value)
    assert fragment in str(info.value)


def test_reply_kinds() -> None:
    both = Reply.model_validate({"text": "checking", "tool_calls": [{"name": "t"}]})
    assert both.content() == "checking"
    assert Reply.model_validate({"json": {"a": [1, "é"]}}).content() == '{"a": [1, "é"]}'
    assert Reply.model_validate({"json": None}).content() == "null"
    assert Reply.model_validate({"tool_calls": [{"name": "t"}]}).content() is None


def test_tool_call_arguments_are_compact_json_or_verbatim() -> None:
    reply = Reply.model_validate(
        {
            "tool_calls": [
                {"name": "a", "arguments": {"x": 1, "y": "z"}},
                {"name": "b", "arguments": "{oops"},
            ]
        }
    )
    assert reply.tool_calls is not None
    assert [c.arguments_json() for c in reply.tool_calls] == ['{"x":1,"y":"z"}', "{oops"]


def test_load_yaml_and_json_files(tmp_path: Path) -> None:
    data = {"model": "m", "rules": [{"when": {"last_user": "hi"}, "reply": {"text": "hello"}}]}
    (tmp_path / "s.json").write_text(json.dumps(data))
    (tmp_path / "s.yaml").write_text(
        "model: m\nrules:\n  - when: {last_user: hi}\n    reply: {text: hello}\n"
    )
    assert (
        load_script(tmp_path / "s.json")
        == load_script(tmp_path / "s.yaml")
        == Script.model_validate(data)
    )


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("rules: [", "not valid YAML"),
        ("- a\n- b\n", "a mapping with `rules`"),
        (None, "cannot read"),
    ],
)
def test_load_errors_name_the_file(tmp_path: Path, content: str | None, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ScriptError) as info:
        load_script(path)
    assert str(path) in str(info.value)
    assert fragment in str(info.value)


def test_bundled_scripts_load() -> None:
    assert [r.name for r in load_script(bundled_script("basic")).rules][:2] == [
        "greet",
        "after-tool",
    ]
    assert load_script(bundled_script("flaky")).default is not None
    with pytest.raises(ScriptError, match="available: basic"):
        bundled_script("nope")


@pytest.mark.parametrize(
    ("text", "tokens"), [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 400, 100)]
)
def test_estimate_tokens(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_usage_is_a_pure_function_of_messages_and_reply() -> None:
    messages = [{"role": "user", "content": "hi"}]
    # [{"content":"hi","role":"user"}] is 32 characters -> 8 tokens
    assert prompt_tokens(messages) == 8
    reply = Reply.model_validate(
        {"text": "abcdefgh", "tool_calls": [{"name": "ab", "arguments": {}}]}
    )
    assert completion_tokens(reply) == 2 + 1  # "abcdefgh" + "ab{}"
    usage = usage_for(messages, reply)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (8, 3, 11)
    overridden = Reply.model_validate({"text": "x", "usage": {"completion_tokens": 50}})
    assert usage_for(messages, overridden).as_openai() == {
        "prompt_tokens": 8,
        "completion_tokens": 50,
        "total_tokens": 58,
    }
