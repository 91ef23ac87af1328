"""The OpenAI-compatible LLM client: request bodies, recording conventions, streaming, errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from harness.config import HarnessSettings, ProviderConfig
from harness.engine import ChatRequest, LLMCallError, LLMClient
from harness.errors import ConfigError
from harness.testing.scripted_model import ScriptedModel

COMPLETION = {
    "id": "chatcmpl-1",
    "model": "gpt-test-2026",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
}


def _settings(**providers: ProviderConfig) -> HarnessSettings:
    base = ProviderConfig(base_url="http://llm.test/v1/", model="gpt-test", api_key_env="TEST_KEY")
    return HarnessSettings(providers={"default_provider": base, **providers}, max_retries=2)


class Recorder:
    """A MockTransport handler that keeps the requests and answers from a queue."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.requests: list[httpx.Request] = []
        self.responses = list(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0) if self.responses else httpx.Response(200, json=COMPLETION)

    def body(self, index: int = -1) -> dict[str, Any]:
        return json.loads(self.requests[index].content)


def _client(
    recorder: Recorder, settings: HarnessSettings | None = None
) -> tuple[LLMClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    client = LLMClient(
        http, settings or _settings(), env={"TEST_KEY": "sk-test"}, retry_base_seconds=0
    )
    return client, http


async def test_the_body_carries_every_option_and_model_kwargs_never_replace_core_keys() -> None:
    recorder = Recorder()
    client, http = _client(recorder)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    request = ChatRequest(
        messages=[{"role": "user", "content": "hello"}],
        tools=tools,
        tool_choice="auto",
        response_format={"type": "json_object"},
        model="gpt-node",
        temperature=0.2,
        max_tokens=64,
        model_kwargs={"top_p": 0.5, "model": "ignored", "seed": 3},
    )
    async with http:
        response = await client.complete(request, provider=None, context={"node_logical_id": "n1"})

    body = recorder.body()
    assert body == {
        "top_p": 0.5,
        "seed": 3,
        "model": "gpt-node",
        "messages": [{"role": "user", "content": "hello"}],
        "tools": tools,
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "temperature": 0.2,
        "max_tokens": 64,
    }
    sent = recorder.requests[0]
    assert str(sent.url) == "http://llm.test/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert response.content == "hi"
    assert response.model == "gpt-test-2026"
    assert response.provider == "default_provider"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (11, 3)
    assert response.id == "chatcmpl-1"
    assert not response.was_streamed


async def test_no_tools_means_no_tool_choice_and_the_provider_model_is_the_default() -> None:
    recorder = Recorder()
    client, http = _client(recorder)
    async with http:
        await client.complete(
            ChatRequest(messages=[], tool_choice="auto"), provider="default_provider", context={}
        )
    assert recorder.body() == {"model": "gpt-test", "messages": []}


async def test_requests_name_the_node_and_set_explicit_timeouts() -> None:
    recorder = Recorder()
    client, http = _client(recorder)
    async with http:
        await client.complete(
            ChatRequest(messages=[]),
            provider=None,
            context={"node_logical_id": "node_7", "purpose": "main_response"},
        )
    sent = recorder.requests[0]
    assert sent.extensions["harness"] == {
        "node_logical_id": "node_7",
        "purpose": "main_response",
        "caller": "llm",
    }
    timeout = sent.extensions["timeout"]
    assert timeout == {"connect": 10.0, "read": 180.0, "write": 10.0, "pool": 180.0}


async def test_the_recorded_latency_header_wins_over_the_measured_time() -> None:
    recorder = Recorder(
        httpx.Response(200, json=COMPLETION, headers={"x-harness-recorded-latency-ms": "1234.5"})
    )
    client, http = _client(recorder)
    async with http:
        replayed = await client.complete(ChatRequest(messages=[]), provider=None, context={})
        measured = await client.complete(ChatRequest(messages=[]), provider=None, context={})
    assert replayed.latency_ms == 1234.5
    assert 0 < measured.latency_ms < 1000


async def test_tool_calls_are_parsed() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
            {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "not json"}},
        ],
    }
    answer = {**COMPLETION, "choices": [{"message": message, "finish_reason": "tool_calls"}]}
    client, http = _client(Recorder(httpx.Response(200, json=answer)))
    async with http:
        response = await client.complete(ChatRequest(messages=[]), provider=None, context={})
    assert response.content is None
    assert [c.name for c in response.tool_calls] == ["f", "g"]
    assert response.tool_calls[0].parsed_arguments() == {"a": 1}
    assert response.tool_calls[1].parsed_arguments() == {}
    assert response.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (httpx.Response(500, json={"error": {"message": "boom"}}), "HTTP 500"),
        (httpx.Response(400, text="bad model"), "bad model"),
        (httpx.Response(200, text="<html>"), "invalid JSON"),
        (httpx.Response(200, json={"id": "x"}), "without choices"),
        (httpx.Response(200, json=[1]), "JSON list"),
    ],
)
async def test_failures_raise_llm_call_errors_naming_the_node(
    answer: httpx.Response, fragment: str
) -> None:
    client, http = _client(Recorder(answer))
    async with http:
        with pytest.raises(LLMCallError) as caught:
            await client.complete(
                ChatRequest(messages=[]), provider=None, context={"node_logical_id": "node_9"}
            )
    assert fragment in str(caught.value)
    assert "node_9" in str(caught.value)


async def test_rate_limits_are_retried_honouring_retry_after() -> None:
    recorder = Recorder(
        httpx.Response(429, headers={"retry-after": "0"}),
        httpx.Response(503),
        httpx.Response(200, json=COMPLETION),
    )
    client, http = _client(recorder)
    async with http:
        response = await client.complete(ChatRequest(messages=[]), provider=None, context={})
    assert response.content == "hi"
    assert len(recorder.requests) == 3


async def test_retries_stop_after_max_retries() -> None:
    recorder = Recorder(*[httpx.Response(429, headers={"retry-after": "0"})] * 5)
    client, http = _client(recorder)
    async with http:
        with pytest.raises(LLMCallError) as caught:
            await client.complete(ChatRequest(messages=[]), provider=None, context={})
    assert caught.value.status_code == 429
    assert len(recorder.requests) == 3  # the first try and two retries


async def test_connection_failures_and_timeouts_are_llm_call_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    for handler, fragment in ((refuse, "could not connect"), (slow, "timed out")):
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        client = LLMClient(http, _settings(), env={}, max_retries=1, retry_base_seconds=0)
        async with http:
            with pytest.raises(LLMCallError, match=fragment):
                await client.complete(ChatRequest(messages=[]), provider=None, context={})


async def test_named_providers_resolve_and_unknown_ones_are_config_errors() -> None:
    other = ProviderConfig(
        base_url="http://other.test/v1", model="m2", api_key_env=None, headers={"x-team": "t"}
    )
    recorder = Recorder()
    client, http = _client(recorder, _settings(other=other))
    async with http:
        response = await client.complete(ChatRequest(messages=[]), provider="other", context={})
        with pytest.raises(ConfigError, match="unknown LLM provider 'missing'"):
            await client.complete(ChatRequest(messages=[]), provider="missing", context={})
    sent = recorder.requests[0]
    assert str(sent.url) == "http://other.test/v1/chat/completions"
    assert sent.headers["x-team"] == "t"
    assert "authorization" not in sent.headers
    assert response.provider == "other"


async def test_streaming_over_http_folds_chunks_and_counts_usage_once(
    model: ScriptedModel, llm: LLMClient
) -> None:
    model.load(
        {
            "rules": [
                {
                    "when": {"stream": True, "last_user": "tool"},
                    "reply": {
                        "tool_calls": [
                            {"name": "lookup", "arguments": {"query": "long enough to split"}}
                        ]
                    },
                },
                {
                    "when": {"stream": True},
                    "reply": {"text": "A streamed answer in several chunks."},
                },
            ]
        }
    )
    text = await llm.complete(
        ChatRequest(messages=[{"role": "user", "content": "hi"}], stream=True),
        provider=None,
        context={},
    )
    call = await llm.complete(
        ChatRequest(messages=[{"role": "user", "content": "tool please"}], stream=True),
        provider=None,
        context={},
    )

    assert text.content == "A streamed answer in several chunks."
    assert text.was_streamed
    expected = model.requests[0].usage
    assert expected is not None
    assert text.usage.prompt_tokens == expected.prompt_tokens
    assert text.usage.completion_tokens == expected.completion_tokens
    assert model.requests[0].body["stream_options"] == {"include_usage": True}
    assert [c.name for c in call.tool_calls] == ["lookup"]
    assert call.tool_calls[0].parsed_arguments() == {"query": "long enough to split"}


async def test_a_streamed_error_chunk_is_an_llm_call_error() -> None:
    stream = b'data: {"error": {"message": "overloaded"}}\n\ndata: [DONE]\n\n'
    client, http = _client(Recorder(httpx.Response(200, content=stream)))
    async with http:
        with pytest.raises(LLMCallError, match="overloaded"):
            await client.complete(ChatRequest(messages=[], stream=True), provider=None, context={})


async def test_calls_keep_the_clients_headers_cookies_and_hooks() -> None:
    """A call may skip the client's layers only where they do nothing: the client's headers are
    sent, a cookie a provider sets is kept and sent back, and event hooks still run."""
    recorder = Recorder(
        httpx.Response(200, json=COMPLETION, headers={"set-cookie": "session=abc; Path=/"})
    )
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder), headers={"x-team": "qa"})
    client = LLMClient(http, _settings(), env={"TEST_KEY": "sk-test"}, retry_base_seconds=0)
    request = ChatRequest(messages=[{"role": "user", "content": "hello"}])
    async with http:
        await client.complete(request, provider=None, context={"node_logical_id": "n1"})
        await client.complete(request, provider=None, context={"node_logical_id": "n1"})
        assert http.cookies.get("session") == "abc"
        seen: list[str] = []

        async def hook(response: httpx.Response) -> None:
            seen.append(str(response.request.url))

        http.event_hooks = {"response": [hook]}
        answer = await client.complete(request, provider=None, context={"node_logical_id": "n1"})

    first, second, third = recorder.requests
    assert first.headers["x-team"] == "qa"
    assert first.headers["user-agent"].startswith("python-httpx/")
    assert "cookie" not in first.headers
    assert second.headers["cookie"] == "session=abc"
    assert third.headers["cookie"] == "session=abc"
    assert seen == ["http://llm.test/v1/chat/completions"]
    assert answer.content == "hi"


async def test_a_closed_client_refuses_calls_as_httpx_does() -> None:
    client, http = _client(Recorder())
    await http.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.complete(
            ChatRequest(messages=[{"role": "user", "content": "hello"}]),
            provider=None,
            context={"node_logical_id": "n1"},
        )


async def test_clients_that_share_resolved_providers_read_the_environment_once() -> None:
    shared: dict[str, Any] = {}
    env = {"OPENAI_BASE_URL": "http://first/v1"}
    async with httpx.AsyncClient() as http:
        first = LLMClient(http, HarnessSettings(), env=env, providers=shared).resolve(None)
        env["OPENAI_BASE_URL"] = "http://second/v1"
        again = LLMClient(http, HarnessSettings(), env=env, providers=shared).resolve(None)
        alone = LLMClient(http, HarnessSettings(), env=env).resolve(None)
    assert again is first and first.base_url == "http://first/v1"
    assert alone.base_url == "http://second/v1"
