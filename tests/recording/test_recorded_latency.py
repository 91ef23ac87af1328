"""Recorded latency comes back on replay (without the wait); 429 and 5xx are never recorded."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest
from recording_fakes import FakeProvider, chat_body, post_chat

from harness.recording import (
    LATENCY_HEADER,
    IncompleteRecordingError,
    Interaction,
    ReplayMissError,
    load_cassette,
    open_cassette,
    save_cassette,
)


async def test_replay_reports_the_recorded_latency_without_waiting(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path, body = tmp_path / "slow.json", chat_body(("user", f"slow 150 {uuid.uuid4().hex}"))
    async with (
        open_cassette(path, "once") as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        live = await post_chat(client, provider.base_url, body)
        session.mark_complete()
    recorded_ms = float(live.headers[LATENCY_HEADER])
    assert recorded_ms >= 150
    interactions = load_cassette(path)
    assert interactions is not None and interactions[0].latency_ms == recorded_ms

    async with (
        open_cassette(path) as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        started = time.perf_counter()
        replayed = await post_chat(client, provider.base_url, body)
        elapsed_ms = (time.perf_counter() - started) * 1000
    assert float(replayed.headers[LATENCY_HEADER]) == recorded_ms
    assert elapsed_ms < 100
    assert replayed.json()["usage"] == live.json()["usage"]


async def test_rate_limits_and_server_errors_are_passed_on_but_not_recorded(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path, tag = tmp_path / "errors.json", uuid.uuid4().hex
    with pytest.raises(IncompleteRecordingError) as caught:
        async with (
            open_cassette(path, "once") as session,
            httpx.AsyncClient(transport=session.transport) as client,
        ):
            failed = await post_chat(
                client, provider.base_url, chat_body(("user", f"please fail {tag}"))
            )
            limited = await post_chat(
                client, provider.base_url, chat_body(("user", f"rate limit {tag}"))
            )
            fine = await post_chat(client, provider.base_url, chat_body(("user", f"fine {tag}")))
            session.mark_complete()
    assert (failed.status_code, limited.status_code, fine.status_code) == (500, 429, 200)
    assert limited.headers["retry-after"] == "30"
    # Unanswered requests would miss on replay, so the recording is refused, naming them.
    assert not path.exists()
    message = str(caught.value)
    assert "2 request(s) got no answer that could be recorded" in message
    assert "HTTP 500" in message and "HTTP 429" in message


async def test_a_retry_that_succeeds_settles_the_failed_attempt(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path, tag = tmp_path / "flaky.json", uuid.uuid4().hex
    async with (
        open_cassette(path, "once") as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        body = chat_body(("user", f"flaky {tag}"))
        first = await post_chat(client, provider.base_url, body)
        retry = await post_chat(client, provider.base_url, body)
        session.mark_complete()
    assert (first.status_code, retry.status_code) == (503, 200)
    stored = json.loads(path.read_text())["interactions"]
    assert [i["response"]["status"]["code"] for i in stored] == [200]


async def test_compressed_answers_are_stored_decoded(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path, long_text = tmp_path / "gzip.json", "x" * 500 + uuid.uuid4().hex
    async with (
        open_cassette(path, "once") as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        live = await post_chat(client, provider.base_url, chat_body(("user", long_text)))
        session.mark_complete()
    stored = json.loads(path.read_text())["interactions"][0]["response"]
    assert "content-encoding" not in {name.lower() for name in stored["headers"]}
    assert json.loads(stored["body"]["string"]) == live.json()


async def test_errors_recorded_by_other_tools_are_not_replayed(tmp_path: Path) -> None:
    def answer(path: str, status: int) -> Interaction:
        return Interaction("GET", f"http://x{path}", None, {}, status, "", {}, "{}")

    path = tmp_path / "foreign.json"
    save_cassette(path, [answer("/busy", 429), answer("/down", 503), answer("/ok", 200)])
    async with (
        open_cassette(path) as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        assert (await client.get("http://x/ok")).status_code == 200
        for url in ("http://x/busy", "http://x/down"):
            with pytest.raises(ReplayMissError):
                await client.get(url)
