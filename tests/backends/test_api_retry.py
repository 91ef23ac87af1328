"""Retry decisions and `Retry-After` parsing (pure functions; the live behaviour is in
test_api_client.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest

from harness.backends.retry import (
    RetryPolicy,
    is_retryable_error,
    is_retryable_status,
    parse_retry_after,
)

NOW = datetime(2026, 11, 7, 5, 31, 56, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        (" 2 ", 2.0),
        ("0.25", 0.25),
        ("-3", 0.0),
        ("Sat, 07 Nov 2026 05:32:06 GMT", 10.0),
        ("Sat, 07 Nov 2026 05:30:00 GMT", 0.0),
        ("soon", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_retry_after_wins_over_backoff_and_is_capped() -> None:
    policy = RetryPolicy(retry_after_cap_seconds=5.0, rng=random.Random(1))
    asked = httpx.Response(429, headers={"retry-after": "3"})
    greedy = httpx.Response(429, headers={"retry-after": "3600"})
    silent = httpx.Response(503)
    assert policy.delay(1, asked) == 3.0
    assert policy.delay(1, greedy) == 5.0
    assert 0 <= policy.delay(1, silent) <= policy.backoff_base_seconds


def test_backoff_is_seeded_for_reproducible_runs() -> None:
    first = [RetryPolicy(rng=random.Random(7)).backoff(n) for n in range(1, 5)]
    second = [RetryPolicy(rng=random.Random(7)).backoff(n) for n in range(1, 5)]
    assert first == second


@pytest.mark.parametrize(
    ("status", "idempotent", "retried"),
    [
        (429, False, True),
        (503, False, True),
        (500, False, False),
        (502, False, False),
        (504, False, False),
        (500, True, True),
        (502, True, True),
        (504, True, True),
        (400, True, False),
        (404, True, False),
        (409, False, False),
    ],
)
def test_retryable_statuses(status: int, idempotent: bool, retried: bool) -> None:
    assert is_retryable_status(status, idempotent=idempotent) is retried


REQUEST = httpx.Request("POST", "http://127.0.0.1/workflows/v1/x")


@pytest.mark.parametrize(
    ("error", "idempotent", "retried"),
    [
        (httpx.ConnectError("refused", request=REQUEST), False, True),
        (httpx.ConnectTimeout("slow", request=REQUEST), False, True),
        (httpx.PoolTimeout("busy", request=REQUEST), False, True),
        (httpx.ReadTimeout("hang", request=REQUEST), False, False),
        (httpx.ReadError("reset", request=REQUEST), False, False),
        (httpx.RemoteProtocolError("cut", request=REQUEST), False, False),
        (httpx.WriteError("broken", request=REQUEST), False, False),
        (httpx.ReadTimeout("hang", request=REQUEST), True, True),
        (httpx.ReadError("reset", request=REQUEST), True, True),
        (httpx.RemoteProtocolError("cut", request=REQUEST), True, True),
        (httpx.UnsupportedProtocol("ftp", request=REQUEST), True, False),
        (httpx.ProxyError("proxy", request=REQUEST), True, False),
    ],
)
def test_retryable_errors(error: httpx.TransportError, idempotent: bool, retried: bool) -> None:
    assert is_retryable_error(error, idempotent=idempotent) is retried
