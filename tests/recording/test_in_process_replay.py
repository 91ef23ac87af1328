"""The LLM client's replayed calls without httpx objects give what the httpx path gives.

A call whose recorded answer is the next one in the cassette is read straight from it
(`harness.engine.llm_replay`); anything the client handles otherwise (an error status, a cookie,
an answer that is not a JSON object, client hooks) goes through httpx as before.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.config import HarnessSettings, ProviderConfig
from harness.engine import ChatRequest, ChatResponse, LLMCallError, LLMClient
from harness.engine.llm_replay import replayed_completion
from harness.recording import LATENCY_HEADER, open_cassette

COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-7",
    "model": "gpt-test-2026",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "héllo"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
}
REQUEST = ChatRequest(messages=[{"role": "user", "content": "ça va?"}], temperature=0.0)
CONTEXT = {"node_logical_id": "n1", "purpose": "main_response"}
URL = httpx.URL("http://llm.test/v1/chat/completions")
SETTINGS = HarnessSettings(
    providers={"default_provider": ProviderConfig(base_url="http://llm.test/v1", model="m")},
    max_retries=0,
)


async def _record(path: Path, answer: httpx.Response) -> None:
    """Record one call of REQUEST answered by `answer`."""
    inner = httpx.MockTransport(lambda _: answer)
    async with (
        open_cassette(path, "once", inner=inner) as session,
        httpx.AsyncClient(transport=session.transport) as http,
    ):
        client = LLMClient(http, SETTINGS, env={}, retry_base_seconds=0)
        with contextlib.suppress(LLMCallError):
            await client.complete(REQUEST, provider=None, context=CONTEXT)
        session.mark_complete()


async def _replay(path: Path, **client_options: Any) -> tuple[ChatResponse, httpx.AsyncClient]:
    async with (
        open_cassette(path) as session,
        httpx.AsyncClient(transport=session.transport, **client_options) as http,
    ):
        client = LLMClient(http, SETTINGS, env={})
        answer = await client.complete(REQUEST, provider=None, context=CONTEXT)
        assert session.replayed_count == 1
        assert session.unused() == []
    return answer, http


async def test_a_replayed_call_is_read_without_httpx_objects_and_answers_as_through_httpx(
    tmp_path: Path,
) -> None:
    path = tmp_path / "plain.json"
    await _record(path, httpx.Response(200, json=COMPLETION))
    recorded_ms = float(
        json.loads(path.read_text())["interactions"][0]["response"]["headers"][LATENCY_HEADER][0]
    )

    async with (
        open_cassette(path) as session,
        httpx.AsyncClient(transport=session.transport) as http,
    ):
        direct = replayed_completion(http, URL, {}, REQUEST.body("m"))
        assert direct is not None and direct.data == COMPLETION
        assert session.unused() == []  # it was played
    answer, _ = await _replay(path)
    # The same answer with hooks on, which take httpx's own path.
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.content.decode())

    through_httpx, _ = await _replay(path, event_hooks={"request": [hook]})
    assert seen == [json.loads(path.read_text())["interactions"][0]["request"]["body"]]
    assert answer == through_httpx
    assert (answer.content, answer.id, answer.usage.total_tokens) == ("héllo", "chatcmpl-7", 14)
    assert answer.latency_ms == recorded_ms


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (httpx.Response(404, text="no such model"), "failed with HTTP 404: no such model"),
        (httpx.Response(200, text="not json"), "answered with invalid JSON: 'not json'"),
        (httpx.Response(200, json=[1, 2]), "answered with a JSON list, not an object"),
    ],
)
async def test_answers_the_client_refuses_go_through_httpx_with_the_same_errors(
    tmp_path: Path, answer: httpx.Response, expected: str
) -> None:
    path = tmp_path / "refused.json"
    await _record(path, answer)
    async with (
        open_cassette(path) as session,
        httpx.AsyncClient(transport=session.transport) as http,
    ):
        assert replayed_completion(http, URL, {}, REQUEST.body("m")) is None
        assert len(session.unused()) == 1  # declined: left for httpx's path
        client = LLMClient(http, SETTINGS, env={})
        with pytest.raises(LLMCallError) as caught:
            await client.complete(REQUEST, provider=None, context=CONTEXT)
        assert session.replayed_count == 1
    assert expected in caught.value.message


async def test_a_replayed_answer_that_sets_a_cookie_fills_the_clients_jar(tmp_path: Path) -> None:
    path = tmp_path / "cookie.json"
    await _record(path, httpx.Response(200, json=COMPLETION))
    # The harness never records cookies; a cassette written by other tools may hold one.
    cassette = json.loads(path.read_text())
    cassette["interactions"][0]["response"]["headers"]["Set-Cookie"] = ["session=abc; Path=/"]
    path.write_text(json.dumps(cassette))
    answer, http = await _replay(path)
    assert http.cookies.get("session") == "abc"
    assert answer.content == "héllo"


async def _outcome(path: Path, settings: HarnessSettings, *, via_httpx: bool) -> str:
    """What replaying REQUEST gives: the answer's text, or the error's type and message."""

    async def hook(request: httpx.Request) -> None:  # any hook sends the call through httpx
        del request

    options: dict[str, Any] = {"event_hooks": {"request": [hook]}} if via_httpx else {}
    async with (
        open_cassette(path) as session,
        httpx.AsyncClient(transport=session.transport, **options) as http,
    ):
        try:
            client = LLMClient(http, settings, env={})
            answer = await client.complete(REQUEST, provider=None, context=CONTEXT)
        except Exception as exc:  # any error: compared between the two paths
            return f"{type(exc).__name__}: {exc}"
        return f"answer: {answer.content}"


async def test_headers_httpx_refuses_fail_as_they_do_through_httpx(tmp_path: Path) -> None:
    path = tmp_path / "headers.json"
    await _record(path, httpx.Response(200, json=COMPLETION, headers=[("x-org", "Societe")]))
    provider = ProviderConfig(base_url="http://llm.test/v1", model="m", headers={"X-Title": "Café"})
    non_ascii_request = HarnessSettings(providers={"default_provider": provider}, max_retries=0)
    in_process = await _outcome(path, non_ascii_request, via_httpx=False)
    assert in_process == await _outcome(path, non_ascii_request, via_httpx=True)
    assert "ascii" in in_process  # httpx's own refusal, not an answer

    data = json.loads(path.read_text())  # a recorded header edited by hand
    data["interactions"][0]["response"]["headers"]["x-org"] = ["Société"]
    path.write_text(json.dumps(data))
    in_process = await _outcome(path, SETTINGS, via_httpx=False)
    assert in_process == await _outcome(path, SETTINGS, via_httpx=True)
    assert not in_process.startswith("answer")
