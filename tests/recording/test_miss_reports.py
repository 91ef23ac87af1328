"""A miss names scenario, turn, node, the closest recorded request and what changed; stale calls."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from recording_fakes import FakeProvider, chat_body, post_chat

from harness.errors import CassetteMissError, HarnessError
from harness.recording import MissContext, ReplayMissError, open_cassette

PROMPT = "You are a clinic scheduler.\nAlways confirm the slot.\nBe brief."


async def _record_two_calls(path: Path, provider: FakeProvider, tag: str) -> None:
    async with (
        open_cassette(path, "once") as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        await post_chat(
            client, provider.base_url, chat_body(("system", PROMPT), ("user", f"hi {tag}"))
        )
        await post_chat(client, provider.base_url, chat_body(("user", f"weather {tag}")))
        session.mark_complete()


async def test_a_changed_prompt_line_is_reported_with_a_diff(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path, tag = tmp_path / "booking.json", uuid.uuid4().hex
    await _record_two_calls(path, provider, tag)
    changed = PROMPT.replace("Always confirm the slot.", "Always confirm the slot twice.")
    context = MissContext(scenario="books a visit", scenario_path="scenarios/booking.yaml")
    async with (
        open_cassette(path, context=context) as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        session.set_context(turn=2)
        with pytest.raises(ReplayMissError) as caught:
            await post_chat(
                client,
                provider.base_url,
                chat_body(("system", changed), ("user", f"hi {tag}")),
                extensions={"harness": {"node_logical_id": "node_confirm", "purpose": "main"}},
            )
    error = caught.value
    assert isinstance(error, CassetteMissError) and isinstance(error, HarnessError)
    text = str(error)
    assert "scenario 'books a visit', turn 2, node 'node_confirm', purpose 'main'" in text
    assert "closest recorded request: #0 POST" in text
    assert "-messages[0].content: Always confirm the slot." in text
    assert "+messages[0].content: Always confirm the slot twice." in text
    assert "messages[1].content" not in text  # lines far from the change stay out
    assert "harness run scenarios/booking.yaml --rerecord" in text
    assert error.hint is not None
    for needed in ("record mode all", "--record-mode new_episodes", *PROVIDER_SETTINGS):
        assert needed in error.hint
    assert error.node == "node_confirm"
    assert error.closest is not None and error.closest.request_body is not None


async def test_the_closest_request_prefers_the_same_url(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path, tag = tmp_path / "closest.json", uuid.uuid4().hex
    await _record_two_calls(path, provider, tag)
    async with (
        open_cassette(path) as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        with pytest.raises(ReplayMissError) as caught:
            await post_chat(client, provider.base_url, chat_body(("user", f"weather? {tag}")))
    assert "closest recorded request: #1" in str(caught.value)
    assert f"+messages[0].content: weather? {tag}" in caught.value.diff


async def test_unused_interactions_are_reported_as_stale(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path, tag = tmp_path / "stale.json", uuid.uuid4().hex
    await _record_two_calls(path, provider, tag)
    async with (
        open_cassette(path, context=MissContext(scenario_path="scenarios/stale.yaml")) as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        await post_chat(client, provider.base_url, chat_body(("user", f"weather {tag}")))
        stale = session.unused()
        report = session.stale_report()
    assert [s.position for s in stale] == [0]
    assert stale[0].summary == f"user: hi {tag}"
    assert report is not None
    assert "1 recorded interaction(s) never used" in report
    assert "harness run scenarios/stale.yaml --rerecord" in report


async def test_a_fully_used_cassette_has_no_stale_report(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path, tag = tmp_path / "used.json", uuid.uuid4().hex
    await _record_two_calls(path, provider, tag)
    async with (
        open_cassette(path) as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        await post_chat(
            client, provider.base_url, chat_body(("system", PROMPT), ("user", f"hi {tag}"))
        )
        await post_chat(client, provider.base_url, chat_body(("user", f"weather {tag}")))
        assert session.replayed_count == 2
        assert session.stale_report() is None


def test_the_rerecord_command_can_be_overridden() -> None:
    context = MissContext(rerecord_command="poe rerecord booking")
    error = ReplayMissError(
        cassette=Path("c.json"),
        context=context,
        node=None,
        method="GET",
        uri="http://x/",
        reason="new",
        closest=None,
        closest_position=None,
        diff="",
    )
    assert "poe rerecord booking" in str(error)


PROVIDER_SETTINGS = (
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "[tool.harness.providers.NAME]",
    "HARNESS_DEFAULT_MODEL",
)


async def test_a_miss_without_a_cassette_says_to_record_it_with_once(
    tmp_path: Path, provider: FakeProvider
) -> None:
    context = MissContext(scenario="new", scenario_path="scenarios/new.yaml")
    async with (
        open_cassette(tmp_path / "new.json", context=context) as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        with pytest.raises(ReplayMissError) as caught:
            await post_chat(client, provider.base_url, chat_body(("user", "hello")))
    hint = caught.value.hint or ""
    assert hint.startswith("record this scenario first: harness run scenarios/new.yaml ")
    assert "--record-mode once" in hint and "--rerecord" not in hint
    assert all(needed in hint for needed in PROVIDER_SETTINGS)


def test_an_api_backend_cassette_s_commands_name_the_backend() -> None:
    from harness.recording.misses import miss_hint, record_once_command, rerecord_command

    api = MissContext(scenario_path="scenarios/b.yaml", backend="api")
    assert rerecord_command(api) == "harness run scenarios/b.yaml --backend api --rerecord"
    assert (
        record_once_command(api) == "harness run scenarios/b.yaml --backend api --record-mode once"
    )
    engine = MissContext(scenario_path="scenarios/b.yaml", backend="engine")
    assert rerecord_command(engine) == "harness run scenarios/b.yaml --rerecord"
    assert "OPENAI_BASE_URL" in miss_hint(api, cassette_exists=False)
