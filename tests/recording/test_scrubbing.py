"""Secrets never reach a cassette: headers, body fields, query parameters and key values."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
from recording_fakes import FakeProvider, chat_body, reply_text

from harness.recording import (
    REDACTED,
    Interaction,
    ReplayMissError,
    ScrubOptions,
    open_cassette,
    save_cassette,
    scrub,
)
from harness.recording.scrub import (
    credential_values,
    find_secret_like,
    is_sensitive_header,
    register_secret_values,
    scrub_headers,
    scrub_json_fields,
    scrub_text,
    scrub_uri,
)


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "authorization",
        "Proxy-Authorization",
        "API-Key",
        "x-api-key",
        "X-Goog-Api-Key",
        "Cookie",
        "Set-Cookie",
        "OpenAI-Organization",
        "openai-project",
        "X-Auth-Token",
        "x-session-id",
    ],
)
def test_credential_headers_are_sensitive(name: str) -> None:
    assert is_sensitive_header(name)


@pytest.mark.parametrize("name", ["content-type", "accept", "user-agent", "x-request-id", "teamid"])
def test_ordinary_headers_are_kept(name: str) -> None:
    assert not is_sensitive_header(name)


def test_extra_headers_and_secret_values_in_kept_headers() -> None:
    options = ScrubOptions(extra_headers=frozenset({"X-Tenant"}), secret_values=("s3cr3t-value-1",))
    headers = [("X-Tenant", "t"), ("x-trace", "id s3cr3t-value-1"), ("accept", "*/*")]
    assert scrub_headers(headers, options) == [("x-trace", f"id {REDACTED}"), ("accept", "*/*")]


def test_body_fields_at_any_depth_are_redacted_idempotently() -> None:
    data = {"api_key": "k", "nested": [{"Password": "p", "keep": 1}], "access_token": None}
    assert scrub_json_fields(data, ScrubOptions().body_fields)
    assert data == {
        "api_key": REDACTED,
        "nested": [{"Password": REDACTED, "keep": 1}],
        "access_token": None,
    }
    assert not scrub_json_fields(data, ScrubOptions().body_fields)


def test_query_parameters_are_redacted_and_clean_urls_untouched() -> None:
    options = ScrubOptions()
    assert (
        scrub_uri("http://a/x?city=Oslo&api_key=abc", options)
        == "http://a/x?city=Oslo&api_key=<REDACTED>"
    )
    assert scrub_uri("http://a/x?b=2&a=1", options) == "http://a/x?b=2&a=1"


def test_every_secret_value_counts_whatever_its_length() -> None:
    options = ScrubOptions(secret_values=("k9Z!", "long-enough-secret", "", "  "))
    assert options.secret_values == ("long-enough-secret", "k9Z!")
    assert scrub_text("key k9Z! and long-enough-secret", options) == (
        f"key {REDACTED} and {REDACTED}"
    )


@pytest.mark.parametrize(
    ("stored", "why"),
    [
        ('{"echo": "p\\"w"}', "JSON-escaped in a body"),
        ("https://x/cb?next=p%22w", "percent-encoded in a URL"),
        ("https://x/cb?next=p%22w&q=a+b", "percent-encoded in a URL"),
        ('raw p"w', "as is"),
    ],
)
def test_a_secret_is_found_in_every_form_a_cassette_stores_it(stored: str, why: str) -> None:
    options = ScrubOptions(secret_values=('p"w',))
    assert 'p"w' not in scrub_text(stored, options) and "p%22w" not in scrub_text(stored, options)
    assert REDACTED in scrub_text(stored, options), why


def test_a_secret_inside_the_marker_leaves_the_marker_whole() -> None:
    options = ScrubOptions(secret_values=("ACT",))
    once = scrub_text("ACT and ACT", options)
    assert once == f"{REDACTED} and {REDACTED}"
    assert scrub_text(once, options) == once  # idempotent


def test_credential_headers_give_their_values_and_bearer_tokens() -> None:
    headers = [
        ("Authorization", "Bearer ab12"),
        ("x-api-key", "zz9q"),
        ("x-max-tokens", "100"),  # a sensitive-looking name, not a credential: its value stays
        ("content-type", "application/json"),
    ]
    assert credential_values(headers) == ["Bearer ab12", "ab12", "zz9q"]


def test_a_scheme_before_a_known_key_is_nothing_new_and_its_echo_hides_the_key() -> None:
    options = ScrubOptions(secret_values=("sk-known-42",))
    assert options.with_values(["Bearer sk-known-42", "sk-known-42"]) is options
    for echo in ("Bearer sk-known-42", '{"h": "Bearer sk-known-42"}', "Bearer%20sk-known-42"):
        assert "sk-known-42" not in scrub_text(echo, options)
    # a token not known yet, or a value that only contains the key, is new
    assert options.with_values(["Bearer sk-other-7"]).secret_values == (
        "Bearer sk-other-7",
        "sk-known-42",
    )
    assert options.with_values(["sk-known-42:extra"]) is not options
    assert options.with_values(["Bear-er sk-known-42"]) is not options


def test_a_run_secret_is_known_to_every_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scrub, "_RUN_SECRETS", set())  # the registry is process-wide
    monkeypatch.setattr(scrub, "_RUN_FORMS", ())
    options = ScrubOptions()
    assert options.with_values(["Token run-secret-9"]) is not options
    register_secret_values(["run-secret-9"])
    assert options.with_values(["Token run-secret-9", "run-secret-9"]) is options
    assert scrub_text("Token run-secret-9", options) == f"Token {REDACTED}"


def test_the_mcp_session_id_is_kept_with_a_fixed_value() -> None:
    kept = scrub_headers([("Mcp-Session-Id", "3f2a9c"), ("x-session", "s")], ScrubOptions())
    assert kept == [("Mcp-Session-Id", REDACTED)]


async def test_a_planted_canary_never_reaches_the_cassette(
    tmp_path: Path, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = f"sk-harness-canary-{uuid.uuid4().hex}"
    body_canary = f"harness-canary-body-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    path = tmp_path / "scrubbed.json"
    headers = {
        "Authorization": f"Bearer {canary}",
        "API-Key": canary,
        "Cookie": f"session={canary}",
        "OpenAI-Organization": "org-canary",
        "OpenAI-Project": "proj-canary",
    }
    body = chat_body(("user", "echo auth"), api_key=body_canary, metadata={"tag": uuid.uuid4().hex})
    async with (
        open_cassette(path, "once") as session,
        httpx.AsyncClient(transport=session.transport, headers=headers) as client,
    ):
        live = await client.post(
            f"{provider.base_url}/chat/completions?api_key={canary}", json=body
        )
        weather = await client.get(
            f"{provider.base_url.removesuffix('/v1')}/tools/weather?city=Oslo&key={canary}"
        )
        session.mark_complete()
    assert canary in reply_text(live)  # the live caller sees the real answer
    assert weather.json()["city"] == "Oslo"

    text = path.read_text()
    assert canary not in text and body_canary not in text
    assert find_secret_like(text) == []
    stored = json.loads(text)["interactions"][0]
    lowered = {
        name.lower() for name in [*stored["request"]["headers"], *stored["response"]["headers"]]
    }
    assert lowered.isdisjoint(
        {
            "authorization",
            "api-key",
            "cookie",
            "set-cookie",
            "openai-organization",
            "openai-project",
        }
    )
    assert json.loads(stored["request"]["body"])["api_key"] == REDACTED
    assert stored["request"]["uri"].endswith("?api_key=<REDACTED>")

    # The live request still carries the secrets, and still matches its scrubbed recording.
    async with (
        open_cassette(path) as session,
        httpx.AsyncClient(transport=session.transport, headers=headers) as client,
    ):
        replayed = await client.post(
            f"{provider.base_url}/chat/completions?api_key={canary}", json=body
        )
    # The echoed `Authorization` value keeps its scheme; the key in it (the env's) is redacted.
    assert reply_text(replayed) == f"reply 1 to: you sent Bearer {REDACTED}"


def test_the_scanner_finds_what_it_should(tmp_path: Path) -> None:
    leaky = '{"headers": {"Authorization": ["Bearer abcdefghijklmnop"]}, "k": "sk-proj-1234567890abcdefgh"}'
    found = find_secret_like(leaky)
    assert '"Authorization":' in found
    assert "Bearer abcdefghijklmnop" in found
    assert "sk-proj-1234567890abcdefgh" in found


async def test_four_character_secrets_echoed_back_by_a_server_are_in_no_cassette(
    tmp_path: Path, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    header_key, env_key = "k3y9", "zq7w"  # shorter than any "long enough" rule would allow
    monkeypatch.setenv("OPENAI_API_KEY", env_key)
    path = tmp_path / "short.json"
    echo = f"{provider.base_url.removesuffix('/v1')}/tools/echo"
    request = (f"{echo}/{env_key}?next={env_key}", {"note": f"my key is {env_key}"})
    async with (
        open_cassette(path, "once") as session,
        httpx.AsyncClient(transport=session.transport, headers={"x-api-key": header_key}) as client,
    ):
        live = await client.post(request[0], json=request[1])
        session.mark_complete()
    assert live.json()["you_sent_key"] == header_key and live.headers["x-seen-key"] == header_key
    assert env_key in live.json()["query"]  # the caller saw the real values
    text = path.read_text()
    assert header_key not in text and env_key not in text
    stored = json.loads(text)["interactions"][0]
    assert stored["request"]["uri"].endswith(f"/tools/echo/{REDACTED}?next={REDACTED}")
    assert json.loads(stored["response"]["body"]["string"])["you_sent_key"] == REDACTED
    assert stored["response"]["headers"]["x-seen-key"] == [REDACTED]

    # The live request (real values) still matches its scrubbed recording.
    async with (
        open_cassette(path) as session,
        httpx.AsyncClient(transport=session.transport, headers={"x-api-key": header_key}) as client,
    ):
        replayed = await client.post(request[0], json=request[1])
    assert replayed.json()["you_sent_key"] == REDACTED


async def test_a_run_secret_registered_after_opening_still_matches_its_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scrub, "_RUN_SECRETS", set())  # the registry is process-wide
    monkeypatch.setattr(scrub, "_RUN_FORMS", ())
    path = tmp_path / "late.json"
    url = "http://127.0.0.1:1/v1/chat/completions"
    bodies = [json.dumps({"n": n, "note": "ask for zq1x"}) for n in (1, 2)]
    save_cassette(
        path, [Interaction("POST", url, b, {}, 200, "OK", {}, f"{n}") for n, b in enumerate(bodies)]
    )
    async with (
        open_cassette(path) as session,
        httpx.AsyncClient(transport=session.transport) as client,
    ):
        first = await client.post(url, content=bodies[0])
        # Another scenario's run secret, registered while this one replays, is in this body too.
        register_secret_values(["zq1x"])
        second = await client.post(url, content=bodies[1])
        assert (first.text, second.text) == ("0", "1")
        with pytest.raises(ReplayMissError, match="recorded 1 time"):  # used ones stay used
            await client.post(url, content=bodies[0])
