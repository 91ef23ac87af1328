"""Record modes none, once, new_episodes and all, end to end against a local fake provider."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
from recording_fakes import FakeProvider, chat_body, post_chat, reply_text

from harness.errors import ConfigError
from harness.recording import (
    MissContext,
    RecordMode,
    ReplayMissError,
    not_written,
    open_cassette,
    parse_record_mode,
)


def _body(text: str) -> dict[str, object]:
    return chat_body(("system", "You are terse."), ("user", text))


async def _record(path: Path, provider: FakeProvider, mode: str, *texts: str) -> list[str]:
    async with (
        open_cassette(path, mode) as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        replies = [reply_text(await post_chat(client, provider.base_url, _body(t))) for t in texts]
        session.mark_complete()
        return replies


def _recorded_user_texts(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    return [
        json.loads(i["request"]["body"])["messages"][-1]["content"] for i in data["interactions"]
    ]


async def test_none_is_the_default_and_never_reaches_the_network(
    tmp_path: Path, provider: FakeProvider
) -> None:
    before = provider.total_hits
    async with open_cassette(tmp_path / "missing.json") as session:
        assert session.mode is RecordMode.NONE
        async with httpx.AsyncClient(transport=session.transport) as client:
            with pytest.raises(ReplayMissError, match="does not exist yet"):
                await post_chat(client, provider.base_url, _body("hello"))
    assert provider.total_hits == before
    assert not (tmp_path / "missing.json").exists()


async def test_once_records_a_new_cassette_then_only_replays(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path, tag = tmp_path / "once.json", uuid.uuid4().hex
    recorded = await _record(path, provider, "once", f"a {tag}", f"b {tag}")
    assert _recorded_user_texts(path) == [f"a {tag}", f"b {tag}"]

    before = provider.total_hits
    async with open_cassette(path, "once") as session:
        assert not session.is_recording
        async with httpx.AsyncClient(transport=session.transport) as client:
            replayed = [
                reply_text(await post_chat(client, provider.base_url, _body(t)))
                for t in (f"a {tag}", f"b {tag}")
            ]
            with pytest.raises(ReplayMissError):
                await post_chat(client, provider.base_url, _body(f"new {tag}"))
    assert replayed == recorded
    assert provider.total_hits == before


async def test_new_episodes_replays_known_calls_and_appends_new_ones(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path, tag = tmp_path / "episodes.json", uuid.uuid4().hex
    first = await _record(path, provider, "once", f"old {tag}")
    before = provider.total_hits
    again = await _record(path, provider, "new_episodes", f"old {tag}", f"new {tag}")
    assert again[0] == first[0]
    assert provider.total_hits == before + 1
    assert _recorded_user_texts(path) == [f"old {tag}", f"new {tag}"]


async def test_all_rerecords_and_replaces_the_cassette(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path, tag = tmp_path / "all.json", uuid.uuid4().hex
    await _record(path, provider, "once", f"dropped {tag}", f"kept {tag}")
    before = provider.total_hits
    await _record(path, provider, "all", f"kept {tag}")
    assert provider.total_hits == before + 1
    assert _recorded_user_texts(path) == [f"kept {tag}"]


async def test_a_recording_never_marked_complete_is_not_written_and_says_so(
    tmp_path: Path, provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    path, tag = tmp_path / "cut.json", uuid.uuid4().hex
    await _record(path, provider, "once", f"old {tag}")
    before = path.read_bytes()
    context = MissContext(scenario="cut", scenario_path="scenarios/cut.yaml")
    not_written(clear=True)
    for mode in ("all", "new_episodes"):
        async with (
            open_cassette(path, mode, context=context) as session,
            httpx.AsyncClient(transport=session.transport) as client,
        ):
            await post_chat(client, provider.base_url, _body(f"new {tag}"))
            assert not session.is_complete  # e.g. the run was interrupted here
        assert path.read_bytes() == before
    entries = not_written(clear=True)
    assert [entry.path for entry in entries] == [path, path]
    message = str(entries[0])
    assert message == (
        f"cassette {path} not written: the scenario did not run to its end (interrupted or "
        "failed); the previous cassette is unchanged. Record it again with: "
        "harness run scenarios/cut.yaml --rerecord"
    )
    assert message in caplog.messages


async def test_a_written_cassette_names_its_scenario_relative_to_itself(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path = tmp_path / "cassettes" / "clinic" / "booking.json"
    scenario = tmp_path / "scenarios" / "clinic" / "booking.yaml"
    async with (
        open_cassette(path, "once", context=MissContext(scenario_path=str(scenario))) as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        await post_chat(client, provider.base_url, _body(uuid.uuid4().hex))
        session.mark_complete()
    metadata = json.loads(path.read_text())["metadata"]
    assert metadata == {"harness": {"scenario": "../../scenarios/clinic/booking.yaml", "format": 1}}


async def test_a_session_that_records_nothing_writes_nothing(tmp_path: Path) -> None:
    async with open_cassette(tmp_path / "empty.json", "once") as session:
        assert session.is_recording
        session.mark_complete()
    assert not (tmp_path / "empty.json").exists()


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("none", RecordMode.NONE),
        ("ONCE", RecordMode.ONCE),
        ("new-episodes", RecordMode.NEW_EPISODES),
    ],
)
def test_parse_record_mode_accepts_vcrpy_names(text: str, mode: RecordMode) -> None:
    assert parse_record_mode(text) is mode


def test_parse_record_mode_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="new_episodes"):
        parse_record_mode("sometimes")
