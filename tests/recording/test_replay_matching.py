"""Match keys (canonical JSON body, volatile keys, URL) and ordered replay of repeated requests."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
from recording_fakes import FakeProvider, chat_body, post_chat, reply_text

from harness.recording import MatchOptions, ReplayMissError, ScrubOptions, open_cassette
from harness.recording.cassette import Interaction
from harness.recording.matching import ReplayIndex, canonical_body, request_key, url_key
from harness.recording.transport import CassetteState

DEFAULT = MatchOptions()


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ('{"a": 1, "b": [1, 2]}', '{"b":[1,2],"a":1}'),
        ('{"model": "m", "seed": 1}', '{"model": "m", "seed": 2}'),
        ('{"model": "m", "user": "u1"}', '{"model": "m"}'),
        ('{"model": "m", "stream_options": {"include_usage": true}}', '{"model": "m"}'),
        ('{"text": "caf\\u00e9"}', '{"text": "café"}'),
    ],
)
def test_bodies_that_match(left: str, right: str) -> None:
    assert canonical_body(left, DEFAULT) == canonical_body(right, DEFAULT)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ('{"a": [1, 2]}', '{"a": [2, 1]}'),
        ('{"model": "m", "temperature": 0}', '{"model": "m", "temperature": 1}'),
        ('{"stream": true}', '{"stream": false}'),
        ("plain text", "plain  text"),
    ],
)
def test_bodies_that_differ(left: str, right: str) -> None:
    assert canonical_body(left, DEFAULT) != canonical_body(right, DEFAULT)


def test_volatile_keys_are_configurable_and_reach_nested_objects() -> None:
    options = MatchOptions(volatile_keys=("metadata.trace_id",))
    left = '{"metadata": {"trace_id": "t1", "team": "x"}, "user": "a"}'
    right = '{"metadata": {"trace_id": "t2", "team": "x"}, "user": "a"}'
    assert canonical_body(left, options) == canonical_body(right, options)
    assert canonical_body('{"user": "a"}', options) != canonical_body('{"user": "b"}', options)


@pytest.mark.parametrize(
    ("left", "right", "match_host", "same"),
    [
        ("http://a/v1/x?b=2&a=1", "http://a/v1/x?a=1&b=2", False, True),
        ("http://127.0.0.1:5/v1/x", "https://api.openai.com/v1/x", False, True),
        ("http://127.0.0.1:5/v1/x", "https://api.openai.com/v1/x", True, False),
        ("https://a/v1/x", "https://A:443/v1/x", True, True),
        ("http://a/v1/x", "http://a/v1/y", False, False),
    ],
)
def test_url_keys(left: str, right: str, match_host: bool, same: bool) -> None:
    options = MatchOptions(match_host=match_host)
    assert (url_key(left, options) == url_key(right, options)) is same


def test_the_key_is_computed_from_scrubbed_requests() -> None:
    scrub = ScrubOptions(secret_values=("sk-live-secret-value",))
    live = request_key(
        "post", "http://a/x?api_key=k1", '{"api_key": "sk-live-secret-value"}', DEFAULT, scrub
    )
    stored = request_key(
        "POST", "http://a/x?api_key=<REDACTED>", '{"api_key": "<REDACTED>"}', DEFAULT, scrub
    )
    assert live == stored


def test_the_index_serves_repeats_in_recorded_order() -> None:
    a, b = request_key("GET", "/a", None, DEFAULT), request_key("GET", "/b", None, DEFAULT)
    index = ReplayIndex([a, b, a, a])
    assert [index.take(a), index.take(b), index.take(a), index.take(a), index.take(a)] == [
        0,
        1,
        2,
        3,
        None,
    ]
    assert index.recorded_count(a) == 3
    assert index.unused() == []


async def test_repeated_identical_requests_replay_in_recorded_order(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path, body = tmp_path / "repeats.json", chat_body(("user", f"again {uuid.uuid4().hex}"))
    async with (
        open_cassette(path, "once") as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        recorded = [reply_text(await post_chat(client, provider.base_url, body)) for _ in range(3)]
        session.mark_complete()
    assert [r.split(" to:")[0] for r in recorded] == ["reply 1", "reply 2", "reply 3"]

    async with (
        open_cassette(path) as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        replayed = [reply_text(await post_chat(client, provider.base_url, body)) for _ in range(3)]
        with pytest.raises(ReplayMissError, match="recorded 3 time"):
            await post_chat(client, provider.base_url, body)
    assert replayed == recorded


async def test_replay_ignores_the_host_and_volatile_keys(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path, text = tmp_path / "host.json", f"where {uuid.uuid4().hex}"
    async with (
        open_cassette(path, "once") as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        recorded = reply_text(
            await post_chat(client, provider.base_url, chat_body(("user", text), seed=1))
        )
        session.mark_complete()
    async with (
        open_cassette(path) as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        body = chat_body(("user", text), seed=99, user="someone")
        response = await post_chat(client, "https://api.openai.com/v1", body)
    assert reply_text(response) == recorded
    stored = json.loads(path.read_text())["interactions"][0]["request"]["uri"]
    assert stored.startswith(provider.base_url)


@pytest.mark.parametrize(
    "recorded",
    [
        '{"model": "m", "seed": 3, "messages": [{"role": "user", "content": "caf\\u00e9"}]}',
        '{"b": 1, "a": {"api_key": "k", "user": "u"}}',
        "plain text, not JSON",
        "\ufeff" + '{"a": 1}',  # a BOM: json.loads reads the bytes, refuses the str
        '{"a": 1}\x00',
        '{"a": "\ud800"}',  # a lone surrogate: no UTF-8 bytes
        "",
    ],
)
def test_a_live_request_sent_as_recorded_gets_the_key_made_from_scratch(
    tmp_path: Path, recorded: str
) -> None:
    from harness.recording.cassette import Interaction
    from harness.recording.transport import CassetteState

    interaction = Interaction("POST", "http://rec:1/v1/x", recorded, {}, 200, "OK", {}, "{}")
    scrub = ScrubOptions.from_env({})
    state = CassetteState(tmp_path / "c.json", [interaction], match=DEFAULT, scrub=scrub)
    body = recorded.encode("utf-8", "surrogatepass")
    live = httpx.Request("POST", "http://live:2/v1/x", content=body)
    fresh = request_key("POST", "http://live:2/v1/x", body, DEFAULT, scrub)
    assert state.key_of(live, body) == fresh


def _state(tmp_path: Path, *bodies: str | None) -> CassetteState:
    interactions = [
        Interaction("POST" if b else "GET", "http://rec:1/v1/x", b, {}, 200, "OK", {}, f"r{i}")
        for i, b in enumerate(bodies)
    ]
    return CassetteState(
        tmp_path / "c.json", interactions, match=DEFAULT, scrub=ScrubOptions.from_env({})
    )


def _served(state: CassetteState, body: str | None, *, url: str = "http://live:2/v1/x") -> str:
    """The recorded answer to a live request, the way the replay transport looks it up."""
    raw = (body or "").encode()
    live = httpx.Request("POST" if body else "GET", url, content=raw)
    response = state.play_in_order(live, raw) or state.play(state.key_of(live, raw))
    assert response is not None
    return response.text


@pytest.mark.parametrize(
    ("recorded", "sent", "answers"),
    [
        # in recorded order, byte for byte (the host aside): served in order
        (['{"a": 1}', '{"a": 2}', None], ['{"a": 1}', '{"a": 2}', None], ["r0", "r1", "r2"]),
        # out of order: matched by key, each interaction served once
        (
            ['{"a": 1}', '{"a": 2}', '{"a": 3}'],
            ['{"a": 1}', '{"a": 3}', '{"a": 2}'],
            ["r0", "r2", "r1"],
        ),
        # the same key in another spelling (key order, a volatile key): matched by key
        (
            ['{"a": 1, "b": 2}', '{"a": 1, "b": 2}'],
            ['{"b":2,"a":1}', '{"a": 1, "b": 2, "seed": 7}'],
            ["r0", "r1"],
        ),
        # repeats of one request: in recorded order, whichever way each one is found
        (
            ['{"a": 1}', '{"a": 1}', '{"a": 1}'],
            ['{"a": 1}', '{"a":1}', '{"a": 1}'],
            ["r0", "r1", "r2"],
        ),
    ],
)
def test_requests_sent_as_recorded_replay_as_the_index_would_serve_them(
    tmp_path: Path, recorded: list[str | None], sent: list[str | None], answers: list[str]
) -> None:
    state = _state(tmp_path, *recorded)
    assert [_served(state, body) for body in sent] == answers
    assert state.unused() == []
    assert state.replayed == len(sent)


def test_interactions_left_after_in_order_replay_are_unused_and_still_served_by_key(
    tmp_path: Path,
) -> None:
    state = _state(tmp_path, '{"a": 1}', '{"a": 2}', '{"a": 3}')
    assert _served(state, '{"a": 1}') == "r0"
    assert state.unused() == [1, 2]
    assert _served(state, '{"a": 3}') == "r2"
    assert state.unused() == [1]
    assert state.index.recorded_count(state.keys[0]) == 1
    assert state.index.take(state.keys[0]) is None  # served in order: not served again


def test_a_request_with_its_own_credential_is_matched_by_its_scrubbed_key(
    tmp_path: Path,
) -> None:
    state = _state(tmp_path, '{"a": "<REDACTED>"}')
    body = b'{"a": "sk-the-key-itself-1234"}'
    live = httpx.Request(
        "POST",
        "http://live:2/v1/x",
        content=body,
        headers={"authorization": "sk-the-key-itself-1234"},
    )
    assert state.play_in_order(live, body) is None
    response = state.play(state.key_of(live, body))
    assert response is not None and response.text == "r0"


@pytest.mark.parametrize("authorization", ["Bearer sk-env-key-5678", "sk-env-key-5678"])
def test_a_request_carrying_the_key_of_the_environment_is_served_in_order(
    tmp_path: Path, authorization: str
) -> None:
    # The usual CI: the provider's key is set (and redacted from the start), every call sends
    # it. Its request is nothing new to redact, so it replays by its bytes, without a key.
    interaction = Interaction("POST", "http://rec:1/v1/x", '{"a": 1}', {}, 200, "OK", {}, "r0")
    scrub = ScrubOptions.from_env({"OPENAI_API_KEY": "sk-env-key-5678"})
    state = CassetteState(tmp_path / "c.json", [interaction], match=DEFAULT, scrub=scrub)
    live = httpx.Request(
        "POST", "http://live:2/v1/x", content=b'{"a": 1}', headers={"authorization": authorization}
    )
    assert state.scrub_for(live) is scrub
    response = state.play_in_order(live, b'{"a": 1}')
    assert response is not None and response.text == "r0"
    assert state.keys  # the match keys can still be made, as a miss would need them
    assert state.unused() == []
