"""A replayed LLM call without httpx's request and response objects.

When the LLM client's transport is a cassette's replay transport in this process, building an
`httpx.Request` (URL and header merging, JSON encoding) and an `httpx.Response` for the recorded
answer cost about as much as the rest of the call. The replay transport matches a request by its
method, URL, headers and body bytes, so the client hands it those parts, encoded exactly as httpx
encodes them, and reads the recorded answer's JSON from the same bytes httpx would read.

Only a plain answer is taken this way: an error status, cookies to store, an encoded body or an
answer that is not a JSON object is declined (and left unplayed), as is any request the cassette
does not have next; the client then sends the request through httpx as before, so misses,
retries and their messages do not change.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

import httpx

__all__ = ["AnswersInProcess", "RecordedCompletion", "direct_transport", "replayed_completion"]

T = TypeVar("T")

_HTTPX_LOG = logging.getLogger("httpx")


class AnswersInProcess(Protocol):
    """A transport that answers a request given by its parts (the cassette's replay transport)."""

    def answer_in_process(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        read: Callable[[int, Mapping[str, list[str]], str], T | None],
    ) -> T | None:
        """What `read(status, headers, body text)` makes of the recorded answer, when the
        request is the next one recorded and `read` accepts it; else None, nothing played."""
        ...


@dataclass(frozen=True, slots=True)
class RecordedCompletion:
    """A recorded chat-completions answer, read as the client reads a live one."""

    data: dict[str, Any]
    headers: Mapping[str, list[str]]

    def header(self, name: str) -> str | None:
        """`httpx.Headers.get(name)`: case-insensitive, several values joined with `, `."""
        values = _values(self.headers, name)
        return ", ".join(values) if values else None


def direct_transport(http: httpx.AsyncClient, url: httpx.URL) -> httpx.AsyncBaseTransport | None:
    """The client's transport for `url` when the client's own layers would do nothing for a
    request to it; None otherwise (then only `http.send` does all a request needs).

    Those layers (auth flow, redirects, event hooks, cookies, an INFO log line) cost ~50-90 us
    per call and an LLM call uses none of them. A closed client, one with auth, hooks or
    redirects, a URL with credentials, or httpx's logging on needs them, as does an httpx
    without the transport lookup (a private method, present since 0.18).
    """
    transport_for_url = getattr(http, "_transport_for_url", None)
    if (
        transport_for_url is None
        or http.is_closed
        or http.auth is not None
        or http.follow_redirects
        or any(http.event_hooks.values())
        or url.username
        or _HTTPX_LOG.isEnabledFor(logging.INFO)
    ):
        return None
    transport: httpx.AsyncBaseTransport = transport_for_url(url)
    return transport


def replayed_completion(
    http: httpx.AsyncClient, url: httpx.URL, headers: Mapping[str, str], body: Any
) -> RecordedCompletion | None:
    """The recorded answer to `POST url` with this JSON `body` and these headers, taken from a
    replay transport without httpx objects; None when it must go through httpx instead."""
    transport = direct_transport(http, url)
    if not hasattr(transport, "answer_in_process") or http.cookies:
        return None  # not a replay transport; the client's cookies would be a header of their own
    replay = cast("AnswersInProcess", transport)  # a runtime-checked protocol costs ~10 us
    # The bytes and headers httpx sends for `json=body` (`httpx._content.encode_json`); the
    # client's own headers are included even where the request's replace them: a credential
    # among them only makes the transport decline, never accept a request httpx would not send.
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    sent = [*http.headers.multi_items(), *headers.items()]
    if not all(_ascii(name) and _ascii(value) for name, value in sent):
        return None  # httpx refuses such a header: its path gives the error
    return replay.answer_in_process("POST", str(url), sent, content.encode("utf-8"), _read)


def _read(status: int, headers: Mapping[str, list[str]], text: str) -> RecordedCompletion | None:
    """The answer as `LLMClient` reads a response, or None for anything it handles otherwise."""
    if status >= 400 or _values(headers, "set-cookie") or _values(headers, "content-encoding"):
        return None  # retried or refused; cookies for the jar; a body httpx would decode first
    if not all(_ascii(name) and all(map(_ascii, values)) for name, values in headers.items()):
        return None  # httpx refuses to build that response: its path gives the error
    try:
        # Bytes, as `httpx.Response.json()` parses them (its encoding detection included).
        data = json.loads(text.encode("utf-8"))
    except ValueError:  # not JSON (or not encodable): httpx's path gives its error message
        return None
    return RecordedCompletion(data, headers) if isinstance(data, dict) else None


def _values(headers: Mapping[str, list[str]], name: str) -> list[str]:
    """Every value of header `name` (lower case), as httpx's `Headers` finds them."""
    return [value for key, found in headers.items() if key.lower() == name for value in found]


def _ascii(text: str) -> bool:
    """Whether httpx accepts `text` as a header name or value (it encodes them as ASCII)."""
    return text.isascii()
