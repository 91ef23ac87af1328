"""When and how long to wait before re-sending a platform API request.

Only requests that cannot have had an effect are retried: the connection never opened (so the
request never reached the server), 429 and 503 (the server says it did not process it), and, for
idempotent reads only, 500/502/504 and broken connections. An execute that may have run on the
server is never re-posted: a turn executed twice corrupts the conversation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

__all__ = [
    "RETRYABLE_READ_STATUSES",
    "RETRYABLE_STATUSES",
    "RetryPolicy",
    "is_retryable_error",
    "is_retryable_status",
    "parse_retry_after",
]

RETRYABLE_STATUSES = frozenset({429, 503})
"""Statuses where the server did not process the request: safe to re-send any method."""

RETRYABLE_READ_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Statuses worth retrying for idempotent requests (GET)."""

# Raised before a single byte of the request left this process.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures of the exchange itself (not of the configuration, such as a bad proxy or scheme).
_TRANSIENT = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class RetryPolicy:
    """Retry limits and backoff; defaults suit a remote platform, tests use tiny values.

    Attributes:
        max_retries: re-sends after the first attempt (0 = never retry).
        backoff_base_seconds: the first backoff ceiling; doubles on every retry.
        backoff_max_seconds: the largest backoff ceiling.
        retry_after_cap_seconds: a server's `Retry-After` is honoured up to this many seconds.
    """

    max_retries: int = 4
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    retry_after_cap_seconds: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, retry_number: int) -> float:
        """Full-jitter exponential backoff before retry `retry_number` (1-based).

        Full jitter (uniform in [0, ceiling]) spreads concurrent clients apart after a shared
        failure instead of having them retry in lockstep.
        """
        ceiling = min(self.backoff_max_seconds, self.backoff_base_seconds * 2 ** (retry_number - 1))
        return self.rng.uniform(0, ceiling)

    def delay(self, retry_number: int, response: httpx.Response | None) -> float:
        """Seconds to wait before retry `retry_number`: `Retry-After` if given, else backoff."""
        if response is not None:
            after = parse_retry_after(response.headers.get("retry-after"))
            if after is not None:
                return min(after, self.retry_after_cap_seconds)
        return self.backoff(retry_number)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date; None if absent.

    A date in the past means "now" (0); an unparsable value is ignored (None), not fatal.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def is_retryable_status(status_code: int, *, idempotent: bool) -> bool:
    """Whether a response with this status may be re-sent."""
    allowed = RETRYABLE_READ_STATUSES if idempotent else RETRYABLE_STATUSES
    return status_code in allowed


def is_retryable_error(exc: httpx.TransportError, *, idempotent: bool) -> bool:
    """Whether a request that failed with this transport error may be re-sent.

    For a non-idempotent request only failures before sending qualify: after a read timeout or a
    reset the server may well have executed it.
    """
    if isinstance(exc, _NEVER_SENT):
        return True
    return idempotent and isinstance(exc, _TRANSIENT)
