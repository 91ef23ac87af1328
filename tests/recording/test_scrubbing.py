"""Secrets never reach a cassette: headers, body fields, query parameters and key values."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
from recording_fakes import FakeProvider, chat_body, reply_text

from harness.recording import REDACTED, ScrubOptions, open_cassette
from harness.recording.scrub import (
    find_secret_like,
    is_sensitive_header,
    scrub_headers,
    scrub_json_fields,
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


def test_short_secret_values_are_ignored() -> None:
    assert ScrubOptions(secret_values=("abc", "long-enough-secret")).secret_values == (
        "long-enough-secret",
    )


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
    assert reply_text(replayed) == f"reply 1 to: you sent Bearer {REDACTED}"


def test_the_scanner_finds_what_it_should(tmp_path: Path) -> None:
    leaky = '{"headers": {"Authorization": ["Bearer abcdefghijklmnop"]}, "k": "sk-proj-1234567890abcdefgh"}'
    found = find_secret_like(leaky)
    assert '"Authorization":' in found
    assert "Bearer abcdefghijklmnop" in found
    assert "sk-proj-1234567890abcdefgh" in found
