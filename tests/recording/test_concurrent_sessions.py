"""Fifty scenarios record and replay concurrently in one event loop, each with its own answers."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from recording_fakes import FakeProvider, chat_body, post_chat, reply_text

from harness.recording import CassetteBusyError, MissContext, open_cassette

SCENARIOS = 50


async def _scenario(
    path: Path, mode: str, provider: FakeProvider, greeting: str, number: int
) -> list[str]:
    """Two turns: a greeting every scenario sends identically, then one only this scenario sends."""
    context = MissContext(scenario=f"scenario {number}")
    async with (
        open_cassette(path, mode, context=context) as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        first = await post_chat(client, provider.base_url, chat_body(("user", greeting)))
        await asyncio.sleep(0)  # let the other scenarios interleave between turns
        second = await post_chat(client, provider.base_url, chat_body(("user", f"I am {number}")))
        session.mark_complete()
        return [reply_text(first), reply_text(second)]


async def test_fifty_scenarios_replay_concurrently_with_their_own_responses(
    tmp_path: Path, provider: FakeProvider
) -> None:
    greeting = f"hello {uuid.uuid4().hex}"
    paths = [tmp_path / f"s{n:02d}.json" for n in range(SCENARIOS)]
    recorded = await asyncio.gather(
        *(_scenario(p, "once", provider, greeting, n) for n, p in enumerate(paths))
    )
    # The shared greeting got a different answer in every scenario (the provider counts repeats).
    assert len({answers[0] for answers in recorded}) == SCENARIOS

    before = provider.total_hits
    replayed = await asyncio.gather(
        *(_scenario(p, "none", provider, greeting, n) for n, p in reversed(list(enumerate(paths))))
    )
    assert list(reversed(replayed)) == recorded
    assert provider.total_hits == before


async def test_one_cassette_cannot_be_recorded_by_two_sessions_at_once(tmp_path: Path) -> None:
    path = tmp_path / "busy.json"
    async with open_cassette(path, "all"):
        with pytest.raises(CassetteBusyError, match="already being recorded"):
            open_cassette(path, "all")
        async with open_cassette(path, "none"):  # replaying alongside is fine
            pass
    async with open_cassette(path, "all"):  # released on close
        pass


async def test_recording_sessions_load_the_ca_bundle_once(
    tmp_path: Path, provider: FakeProvider, ca_bundle_loads: list[object]
) -> None:
    # Each recorded scenario has its own network transport; loading the CA bundle into a TLS
    # context for each one cost ~20 ms a scenario: they share one context.
    greeting = f"hello {uuid.uuid4().hex}"
    paths = [tmp_path / f"s{n}.json" for n in range(3)]
    for number, path in enumerate(paths):
        await _scenario(path, "once", provider, greeting, number)
    assert all(path.is_file() for path in paths)
    assert len(ca_bundle_loads) <= 1
