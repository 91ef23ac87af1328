"""Our cassettes load and replay under plain vcrpy; cassettes vcrpy wrote replay under ours."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import vcr
from recording_fakes import FakeProvider, chat_body, post_chat, reply_text

from harness.recording import LATENCY_HEADER, open_cassette

MATCH_ON = ["method", "scheme", "host", "port", "path", "query", "body"]


async def _record_with_harness(path: Path, provider: FakeProvider, texts: list[str]) -> list[str]:
    async with (
        open_cassette(path, "once") as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        replies = [
            reply_text(await post_chat(client, provider.base_url, chat_body(("user", t))))
            for t in texts
        ]
        session.mark_complete()
        return replies


def test_a_harness_cassette_replays_under_plain_vcrpy(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path, tag = tmp_path / "ours.json", uuid.uuid4().hex
    texts = [f"one {tag}", f"two {tag}", f"one {tag}"]
    recorded = asyncio.run(_record_with_harness(path, provider, texts))
    before = provider.total_hits

    recorder = vcr.VCR(serializer="json", record_mode="none", match_on=MATCH_ON)
    with recorder.use_cassette(str(path)) as cassette, httpx.Client() as client:
        responses = [
            client.post(f"{provider.base_url}/chat/completions", json=chat_body(("user", t)))
            for t in texts
        ]
        assert cassette.all_played
    assert [reply_text(r) for r in responses] == recorded
    assert all(LATENCY_HEADER in r.headers for r in responses)
    assert provider.total_hits == before


def test_a_vcrpy_yaml_cassette_replays_under_the_harness(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path, tag = tmp_path / "theirs.yaml", uuid.uuid4().hex
    texts = [f"alpha {tag}", f"beta {tag}"]
    recorder = vcr.VCR(record_mode="once", match_on=MATCH_ON, decode_compressed_response=True)
    with recorder.use_cassette(str(path)), httpx.Client() as client:
        recorded = [
            reply_text(
                client.post(f"{provider.base_url}/chat/completions", json=chat_body(("user", t)))
            )
            for t in texts
        ]

    async def replay() -> list[str]:
        async with (
            open_cassette(path) as session,
            httpx.AsyncClient(transport=session.transport) as client,
        ):
            return [
                reply_text(await post_chat(client, provider.base_url, chat_body(("user", t))))
                for t in reversed(texts)
            ]

    before = provider.total_hits
    assert asyncio.run(replay()) == list(reversed(recorded))
    assert provider.total_hits == before
