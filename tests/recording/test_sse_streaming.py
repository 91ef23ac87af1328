"""Streamed (SSE) chat completions are recorded whole and replayed as a stream of events."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
from recording_fakes import FakeProvider, chat_body

from harness.recording import (
    LATENCY_HEADER,
    IncompleteRecordingError,
    load_cassette,
    open_cassette,
    streams,
)
from harness.recording.streams import split_events


async def _stream_chat(client: httpx.AsyncClient, url: str, body: dict[str, object]) -> list[bytes]:
    async with client.stream("POST", url, json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        return [chunk async for chunk in response.aiter_bytes()]


def _events(chunks: list[bytes]) -> list[dict[str, object]]:
    lines = b"".join(chunks).decode().split("\n\n")
    return [json.loads(line[6:]) for line in lines if line.startswith("data: {")]


async def test_a_stream_is_recorded_whole_and_replayed_event_by_event(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path = tmp_path / "stream.json"
    body = chat_body(("user", f"tell me {uuid.uuid4().hex}"), stream=True)
    url = f"{provider.base_url}/chat/completions"
    async with (
        open_cassette(path, "once") as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        live_chunks = await _stream_chat(client, url, body)
        session.mark_complete()
    assert len(live_chunks) > 1  # the caller saw the stream arrive in pieces while recording

    interactions = load_cassette(path)
    assert interactions is not None and interactions[0].is_event_stream
    assert interactions[0].response_body.encode() == b"".join(live_chunks)
    assert interactions[0].latency_ms is not None

    async with (
        open_cassette(path) as session,
        httpx.AsyncClient(transport=session.transport) as client,
        client.stream("POST", url, json=body) as response,
    ):
        assert float(response.headers[LATENCY_HEADER]) == interactions[0].latency_ms
        replayed_chunks = [chunk async for chunk in response.aiter_raw()]
    assert b"".join(replayed_chunks) == b"".join(live_chunks)
    assert len(replayed_chunks) == len(_events(live_chunks)) + 1  # one chunk per event + [DONE]
    usages = [e["usage"] for e in _events(replayed_chunks) if e.get("usage")]
    assert usages == [{"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}]


async def test_a_stream_closed_early_is_read_to_its_end_and_recorded_whole(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path = tmp_path / "closed_early.json"
    body = chat_body(("user", f"long story {uuid.uuid4().hex}"), stream=True)
    async with (
        open_cassette(path, "once") as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        async with client.stream(
            "POST", f"{provider.base_url}/chat/completions", json=body
        ) as response:
            async for _ in response.aiter_bytes():
                break  # as the MCP client does once its answer arrived
        assert session.recorded_count == 1
        session.mark_complete()
    interactions = load_cassette(path)
    assert interactions is not None
    assert interactions[0].response_body.endswith("data: [DONE]\n\n")


async def test_a_stream_that_never_ends_is_not_recorded_and_the_recording_is_refused(
    tmp_path: Path, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "DRAIN_SECONDS", 0.2)
    path = tmp_path / "endless.json"
    body = chat_body(("user", f"endless {uuid.uuid4().hex}"), stream=True)
    with pytest.raises(IncompleteRecordingError, match="abandoned before the end"):
        async with (
            open_cassette(path, "once") as session,
            httpx.AsyncClient(transport=session.transport) as client,
        ):
            async with client.stream(
                "POST", f"{provider.base_url}/chat/completions", json=body
            ) as response:
                async for _ in response.aiter_bytes():
                    break
            assert session.recorded_count == 0
            session.mark_complete()
    assert not path.exists()


def test_split_events_keeps_each_event_whole() -> None:
    body = b"data: 1\n\ndata: 2\r\n\r\ndata: [DONE]\n\ntrailing"
    assert split_events(body) == [
        b"data: 1\n\n",
        b"data: 2\r\n\r\n",
        b"data: [DONE]\n\n",
        b"trailing",
    ]
