"""Match keys for requests: method, URL and a canonical JSON body, plus the replay index.

A key is computed once per recorded interaction when a cassette is loaded and once per live
request, so replay is one dict lookup instead of vcrpy's linear scan with a JSON re-parse per
comparison.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit

from harness.recording.scrub import ScrubOptions, scrub_json_fields, scrub_text, scrub_uri

__all__ = [
    "DEFAULT_VOLATILE_KEYS",
    "MatchOptions",
    "ReplayIndex",
    "RequestKey",
    "canonical_body",
    "parse_json_body",
    "request_key",
    "url_key",
]

# Keys that change between runs without changing what the model is asked.
DEFAULT_VOLATILE_KEYS = ("user", "seed", "stream_options")


@dataclass(frozen=True)
class MatchOptions:
    """How requests are compared.

    Attributes:
        volatile_keys: JSON body keys ignored when matching; a dotted name (`metadata.trace_id`)
            reaches into nested objects.
        match_host: also compare scheme, host and port. Off by default so that a cassette recorded
            against one base URL (a local scripted model, a proxy, the provider itself) replays
            whatever `OPENAI_BASE_URL` says today; the path, query and body identify the call.
    """

    volatile_keys: tuple[str, ...] = DEFAULT_VOLATILE_KEYS
    match_host: bool = False


class RequestKey(NamedTuple):
    """What two requests must share to match."""

    method: str
    url: str
    body: str


def parse_json_body(body: bytes | str | None) -> Any | None:
    """The body as JSON, or None when it is empty or not JSON."""
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _drop_volatile(data: Any, volatile_keys: Sequence[str]) -> None:
    if not isinstance(data, dict):
        return
    for dotted in volatile_keys:
        *parents, last = dotted.split(".")
        target: Any = data
        for name in parents:
            target = target.get(name) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target.pop(last, None)


def canonical_body(
    body: bytes | str | None, match: MatchOptions, scrub: ScrubOptions | None = None
) -> str:
    """A body as compared: JSON with sorted keys, volatile keys dropped, secrets redacted.

    Non-JSON text is compared as is; binary bodies by their base64 form.
    """
    if not body:
        return ""
    data = parse_json_body(body)
    if data is None:
        if isinstance(body, bytes):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                return "base64:" + base64.b64encode(body).decode("ascii")
        else:
            text = body
        return text if scrub is None else scrub_text(text, scrub)
    if scrub is not None:
        scrub_json_fields(data, scrub.body_fields)
    _drop_volatile(data, match.volatile_keys)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text if scrub is None else scrub_text(text, scrub)


def url_key(uri: str, match: MatchOptions) -> str:
    """The URL as compared: path plus sorted query (and scheme://host:port when configured)."""
    parts = urlsplit(uri)
    query = ""
    if parts.query:
        query = "?" + urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    path = parts.path or "/"
    if not match.match_host:
        return path + query
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme, 0)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}{path}{query}"


def request_key(
    method: str,
    uri: str,
    body: bytes | str | None,
    match: MatchOptions,
    scrub: ScrubOptions | None = None,
    *,
    body_key: str | None = None,
) -> RequestKey:
    """The match key of one request (scrubbed first, so live and recorded keys agree).

    `body_key` is `canonical_body(body, match, scrub)` when the caller already has it.
    """
    if scrub is not None:
        uri = scrub_uri(uri, scrub)
    if body_key is None:
        body_key = canonical_body(body, match, scrub)
    return RequestKey(method.upper(), url_key(uri, match), body_key)


class ReplayIndex:
    """Recorded interactions by key; identical requests are served in their recorded order."""

    def __init__(self, keys: Iterable[RequestKey], *, played: Iterable[int] = ()) -> None:
        """Index `keys` (one per interaction, in recorded order); `played`: positions already
        served, which `take` skips."""
        self._queues: dict[RequestKey, deque[int]] = {}
        self._counts: dict[RequestKey, int] = {}
        self._size = 0
        keys = list(keys)
        for position, key in enumerate(keys):
            self._queues.setdefault(key, deque()).append(position)
            self._counts[key] = self._counts.get(key, 0) + 1
            self._size += 1
        self._used = bytearray(self._size)
        for position in played:
            self._queues[keys[position]].remove(position)
            self._used[position] = 1

    def rekeyed(self, keys: Iterable[RequestKey]) -> ReplayIndex:
        """A new index over new keys for the same interactions, with the same ones used."""
        keys = list(keys)
        index = ReplayIndex(keys)
        for position, used in enumerate(self._used):
            if used:
                index._queues[keys[position]].remove(position)
                index._used[position] = 1
        return index

    def take(self, key: RequestKey) -> int | None:
        """The position of the next unplayed interaction for `key`, or None (miss)."""
        queue = self._queues.get(key)
        if not queue:
            return None
        position = queue.popleft()
        self._used[position] = 1
        return position

    def recorded_count(self, key: RequestKey) -> int:
        """How many interactions were recorded for `key` (played or not)."""
        return self._counts.get(key, 0)

    def unused(self) -> list[int]:
        """Positions of interactions never played, in recorded order."""
        return [position for position, used in enumerate(self._used) if not used]

    def was_used(self, position: int) -> bool:
        """True when the interaction at `position` has been played."""
        return bool(self._used[position])
