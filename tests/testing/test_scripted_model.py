"""The scripted model server over real HTTP: rule matching, replies, errors, usage, streaming."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from harness.testing import (
    ScriptedModel,
    prompt_tokens,
    serve_scripted_model,
    serve_scripted_model_async,
)

_EMPTY: dict[str, Any] = {"rules": []}


@pytest.fixture(scope="module")
def _served() -> Iterator[tuple[ScriptedModel, str]]:
    model = ScriptedModel(_EMPTY)
    with serve_scripted_model(model) as base_url:
        yield model, base_url


@pytest.fixture
def model(_served: tuple[ScriptedModel, str]) -> ScriptedModel:
    """The module's scripted model, emptied: tests `load` their own script."""
    _served[0].load(_EMPTY)
    return _served[0]


@pytest.fixture
async def client(_served: tuple[ScriptedModel, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=_served[1], timeout=10) as http:
        yield http


def user(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": [{"role": "user", "content": text}], **extra}


async def chat(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/chat/completions", json=body)


def tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


_MATCH_SCRIPT = {
    "rules": [
        {"name": "exact", "when": {"last_user": {"equals": "ping"}}, "reply": {"text": "pong"}},
        {"name": "regex", "when": {"last_user": {"regex": r"order #\d+"}}, "reply": {"text": "r"}},
        {"name": "system", "when": {"system": "You are a judge"}, "reply": {"text": "s"}},
        {"name": "tool", "when": {"tool_offered": "go_to_next"}, "reply": {"text": "t"}},
        {"name": "format", "when": {"response_format": "verdict"}, "reply": {"text": "f"}},
        {"name": "json-object", "when": {"response_format": "json_object"}, "reply": {"text": "j"}},
        {"name": "model", "when": {"model": "special"}, "reply": {"text": "m"}},
        {"name": "after-tool", "when": {"last_role": "tool"}, "reply": {"text": "a"}},
        {"name": "any", "when": {"any_message": "remember"}, "reply": {"text": "y"}},
        {"name": "streamed", "when": {"stream": True}, "reply": {"text": "st"}},
        {"name": "both", "when": {"last_user": "a", "model": "m2"}, "reply": {"text": "b"}},
        {"name": "contains", "when": {"last_user": "hello"}, "reply": {"text": "c"}},
        {"name": "any-format", "when": {"response_format": "*"}, "reply": {"text": "*"}},
    ],
    "default": {"text": "fallback"},
}

_SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": {}}}
_TOOL_TURN = [
    {"role": "user", "content": "weather?"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function"}]},
    {"role": "tool", "tool_call_id": "c", "content": "sunny"},
]


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (user("ping"), "exact"),
        (user("ping please"), "default"),
        (user("where is order #42?"), "regex"),
        (user("where is order #x?"), "default"),
        (
            {
                "messages": [
                    {"role": "system", "content": "You are a judge."},
                    {"role": "user", "content": "x"},
                ]
            },
            "system",
        ),
        (user("x", tools=[tool("lookup"), tool("go_to_next")]), "tool"),
        (user("x", tools=[tool("lookup")]), "default"),
        (user("x", response_format=_SCHEMA_FORMAT), "format"),
        (user("x", response_format={"type": "json_object"}), "json-object"),
        (
            user("x", response_format={"type": "json_schema", "json_schema": {"name": "o"}}),
            "any-format",
        ),
        ({"model": "special", "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"messages": _TOOL_TURN}, "after-tool"),
        (
            {
                "messages": [
                    {"role": "assistant", "content": "remember me"},
                    {"role": "user", "content": "x"},
                ]
            },
            "any",
        ),
        (user("x", stream=True), "streamed"),
        ({"model": "m2", "messages": [{"role": "user", "content": "a"}]}, "both"),
        (user("a"), "default"),
        # list-of-parts content is matched on its text parts
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]},
            "contains",
        ),
        # the first matching rule wins: "ping" also contains nothing else, "hello ping" is not equal
        (user("hello ping"), "contains"),
    ],
)
async def test_first_matching_rule_answers(
    model: ScriptedModel, client: httpx.AsyncClient, body: dict[str, Any], rule: str
) -> None:
    model.load(_MATCH_SCRIPT)
    response = await chat(client, body)
    assert response.status_code == 200
    assert model.requests[-1].rule == rule


async def test_text_reply_is_an_openai_completion(
    model: ScriptedModel, client: httpx.AsyncClient
) -> None:
    model.load({"rules": [{"reply": {"text": "hello there"}}]})
    data = (await chat(client, user("hi"))).json()
    assert data["object"] == "chat.completion"
    assert data["id"] == "chatcmpl-scripted-1"
    assert data["model"] == "gpt-test"
    assert data["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hello there"},
            "finish_reason": "stop",
        }
    ]
    assert model.requests[0].rule == "#0"


async def test_tool_calls_reply(model: ScriptedModel, client: httpx.AsyncClient) -> None:
    model.load(
        {
            "rules": [
                {
                    "reply": {
                        "tool_calls": [
                            {"name": "find_slots", "arguments": {"day": "tuesday"}},
                            {"name": "go_to_next", "id": "fixed-id"},
                        ]
                    }
                }
            ]
        }
    )
    choice = (await chat(client, user("book"))).json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_1_0",
            "type": "function",
            "function": {"name": "find_slots", "arguments": '{"day":"tuesday"}'},
        },
        {
            "id": "fixed-id",
            "type": "function",
            "function": {"name": "go_to_next", "arguments": "{}"},
        },
    ]


async def test_json_reply_is_the_content(model: ScriptedModel, client: httpx.AsyncClient) -> None:
    model.load({"rules": [{"reply": {"json": {"passed": True, "score": 0.5}}}]})
    content = (await chat(client, user("judge"))).json()["choices"][0]["message"]["content"]
    assert json.loads(content) == {"passed": True, "score": 0.5}


@pytest.mark.parametrize(
    ("error", "status", "body", "headers"),
    [
        (
            {"status": 429, "headers": {"retry-after": "2"}},
            429,
            "rate_limit_error",
            {"retry-after": "2"},
        ),
        ({"status": 500}, 500, "server_error", {}),
        ({"status": 503, "body": {"detail": "overloaded"}}, 503, "overloaded", {}),
    ],
)
async def test_error_replies(
    model: ScriptedModel,
    client: httpx.AsyncClient,
    error: dict[str, Any],
    status: int,
    body: str,
    headers: dict[str, str],
) -> None:
    model.load({"rules": [{"reply": {"error": error}}]})
    response = await chat(client, user("x", stream=True))
    assert response.status_code == status
    assert body in response.text
    for name, value in headers.items():
        assert response.headers[name] == value
    assert model.requests[0].status == status
    assert model.requests[0].usage is None


async def test_times_lets_later_rules_answer(
    model: ScriptedModel, client: httpx.AsyncClient
) -> None:
    model.load(
        {
            "rules": [
                {"name": "limited", "times": 2, "reply": {"error": {"status": 429}}},
                {"name": "ok", "reply": {"text": "fine"}},
            ]
        }
    )
    statuses = [(await chat(client, user("x"))).status_code for _ in range(4)]
    assert statuses == [429, 429, 200, 200]
    assert [r.rule for r in model.requests] == ["limited", "limited", "ok", "ok"]
    model.reset()
    assert (await chat(client, user("x"))).status_code == 429


async def test_no_match_without_default_is_a_400_naming_the_request(
    model: ScriptedModel, client: httpx.AsyncClient
) -> None:
    model.load({"rules": [{"when": {"last_user": "never"}, "reply": {"text": "x"}}]})
    response = await chat(client, user("book me in"))
    assert response.status_code == 400
    assert "no rule matched" in response.text
    assert "book me in" in response.text
    assert model.requests[0].rule is None


@pytest.mark.parametrize("content", [b"not json", b'{"model": "x"}', b"[1, 2]"])
async def test_malformed_requests_get_400(
    model: ScriptedModel, client: httpx.AsyncClient, content: bytes
) -> None:
    model.load({"default": {"text": "x"}})
    response = await client.post("/chat/completions", content=content)
    assert response.status_code == 400
    assert "messages" in response.text
    assert model.requests == []


async def test_usage_is_deterministic_and_summed(
    model: ScriptedModel, client: httpx.AsyncClient
) -> None:
    model.load(
        {
            "rules": [
                {
                    "when": {"last_user": "fixed"},
                    "reply": {"text": "x", "usage": {"prompt_tokens": 100}},
                },
            ],
            "default": {"text": "abcdefgh"},
        }
    )
    first = (await chat(client, user("hello"))).json()["usage"]
    expected_prompt = prompt_tokens([{"role": "user", "content": "hello"}])
    assert first == {
        "prompt_tokens": expected_prompt,
        "completion_tokens": 2,
        "total_tokens": expected_prompt + 2,
    }
    again = (await chat(client, user("hello"))).json()["usage"]
    assert again == first
    fixed = (await chat(client, user("fixed"))).json()["usage"]
    assert fixed == {"prompt_tokens": 100, "completion_tokens": 1, "total_tokens": 101}
    total = model.total_usage()
    assert (total.prompt_tokens, total.completion_tokens) == (2 * expected_prompt + 100, 5)


async def _stream(client: httpx.AsyncClient, body: dict[str, Any]) -> list[str]:
    async with client.stream("POST", "/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [line async for line in response.aiter_lines() if line]


def _assemble(lines: list[str]) -> tuple[str, dict[int, dict[str, str]], str | None, Any]:
    content, finish, usage = "", None, None
    calls: dict[int, dict[str, str]] = {}
    for line in lines[:-1]:
        chunk = json.loads(line.removeprefix("data: "))
        usage = chunk.get("usage", usage)
        for choice in chunk["choices"]:
            delta = choice["delta"]
            content += delta.get("content") or ""
            for call in delta.get("tool_calls", []):
                slot = calls.setdefault(call["index"], {"name": "", "arguments": "", "id": ""})
                slot["id"] += call.get("id", "")
                slot["name"] += call.get("function", {}).get("name", "")
                slot["arguments"] += call.get("function", {}).get("arguments", "")
            finish = choice["finish_reason"] or finish
    return content, calls, finish, usage


async def test_streamed_text_with_usage(model: ScriptedModel, client: httpx.AsyncClient) -> None:
    model.load({"default": {"text": "a streamed answer that spans several chunks"}})
    body = user("hi", stream=True, stream_options={"include_usage": True})
    lines = await _stream(client, body)
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)
    assert len(lines) > 5
    content, calls, finish, usage = _assemble(lines)
    assert (content, calls, finish) == ("a streamed answer that spans several chunks", {}, "stop")
    assert usage == model.requests[0].usage.as_openai()  # type: ignore[union-attr]
    assert json.loads(lines[-2].removeprefix("data: "))["choices"] == []


async def test_streamed_tool_calls_without_usage(
    model: ScriptedModel, client: httpx.AsyncClient
) -> None:
    model.load(
        {
            "default": {
                "tool_calls": [{"name": "find_slots", "arguments": {"day": "tuesday, early"}}]
            }
        }
    )
    lines = await _stream(client, user("book", stream=True))
    content, calls, finish, usage = _assemble(lines)
    assert content == ""
    assert calls == {
        0: {"id": "call_1_0", "name": "find_slots", "arguments": '{"day":"tuesday, early"}'}
    }
    assert finish == "tool_calls"
    assert usage is None
    assert model.requests[0].usage is not None  # recorded even when not sent


async def test_requests_are_recorded(model: ScriptedModel, client: httpx.AsyncClient) -> None:
    model.load({"default": {"text": "ok"}})
    body = {
        "model": "gpt-test",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "tools": [tool("lookup")],
    }
    await client.post("/chat/completions", json=body, headers={"authorization": "Bearer sk-test"})
    (received,) = model.requests
    assert received.body == body
    assert received.headers["authorization"] == "Bearer sk-test"
    assert (received.number, received.status, received.rule) == (1, 200, "default")
    assert (received.last_user_text, received.system_text, received.tool_names) == (
        "hi",
        "Be brief.",
        ["lookup"],
    )
    assert model.app.state.model is model


async def test_models_endpoint(model: ScriptedModel, client: httpx.AsyncClient) -> None:
    model.load({"model": "my-model"})
    data = (await client.get("/models")).json()
    assert data["data"][0]["id"] == "my-model"


async def test_delay_and_concurrency(model: ScriptedModel, client: httpx.AsyncClient) -> None:
    model.load({"default": {"text": "slow", "delay_seconds": 0.2}})
    start = time.perf_counter()
    responses = await asyncio.gather(*(chat(client, user(f"m{i}")) for i in range(8)))
    elapsed = time.perf_counter() - start
    assert 0.2 <= elapsed < 1.5  # the delays overlap
    assert sorted(r.json()["id"] for r in responses) == sorted(
        f"chatcmpl-scripted-{n}" for n in range(1, 9)
    )
    assert sorted(r.number for r in model.requests) == list(range(1, 9))


async def test_async_variant_serves_in_the_running_loop() -> None:
    model = ScriptedModel({"default": {"text": "from the loop"}})
    async with serve_scripted_model_async(model) as base_url:
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        async with httpx.AsyncClient(base_url=base_url) as http:
            data = (await chat(http, user("x"))).json()
    assert data["choices"][0]["message"]["content"] == "from the loop"
    assert len(model.requests) == 1


def test_sync_variant_takes_a_script_file() -> None:
    from harness.testing import bundled_script

    with serve_scripted_model(bundled_script("basic")) as base_url:
        data = httpx.post(f"{base_url}/chat/completions", json=user("Hello!"), timeout=10).json()
    assert data["choices"][0]["message"]["content"] == "Hello! How can I help you today?"
