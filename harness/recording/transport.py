"""httpx transports that replay from, and record into, one cassette.

Each scenario gets its own transport, injected into its own `httpx.AsyncClient`: nothing is
patched globally, so any number of scenarios replay (or record) concurrently in one event loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

from harness.recording.cassette import LATENCY_HEADER, CassetteFormatError, Interaction
from harness.recording.matching import MatchOptions, ReplayIndex, RequestKey, request_key, url_key
from harness.recording.scrub import (
    ScrubOptions,
    credential_values,
    registered_secrets_version,
    scrub_headers,
    scrub_json_fields,
    scrub_text,
    scrub_uri,
)
from harness.recording.streams import EventStreamReplay, RecordingStream

__all__ = [
    "CassetteState",
    "MissHandler",
    "RecordingFailure",
    "RecordingTransport",
    "ReplayTransport",
    "is_recordable_status",
    "replay_response",
]

# Re-encoded or re-framed on replay, so never stored: the body is kept decoded.
_FRAMING_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})

MissHandler = Callable[[httpx.Request, RequestKey, bytes], Exception]
T = TypeVar("T")


def is_recordable_status(status: int) -> bool:
    """429 and 5xx are never recorded: a replayed one would only make the run sleep and retry."""
    return status != 429 and status < 500


@dataclass(frozen=True, slots=True)
class RecordingFailure:
    """A request made while recording whose answer is not in the cassette."""

    method: str
    uri: str
    why: str
    node: str | None = None
    """The node that made the request (the request's `harness` extension), when one did."""
    purpose: str | None = None
    """Why it was made (`main_response`, `mcp`, ...), from the same extension."""
    caller: str | None = None
    """What sent it (`llm`: the engine's LLM client), from the same extension."""

    def __str__(self) -> str:
        return f"{self.method} {self.uri}: {self.why}"


class CassetteState:
    """The interactions of one cassette: loaded ones behind an index, new ones in order.

    A replay usually sends the recorded requests again in their recorded order, byte for byte:
    `play_in_order` serves such a request without computing any match key. The keys of the
    loaded interactions (a JSON parse and a sorted dump of each body) and their index are made
    only when a request is not the next one recorded, or when a miss is reported.
    """

    def __init__(
        self,
        path: Path,
        loaded: Sequence[Interaction],
        *,
        match: MatchOptions,
        scrub: ScrubOptions,
    ) -> None:
        self.path = path
        self.loaded = list(loaded)
        self.match = match
        self.scrub = scrub
        self._secrets_version = 0
        self._body_keys: dict[bytes, str] = {}
        self._keys: list[RequestKey] | None = None
        self._index: ReplayIndex | None = None
        self._in_order = 0  # interactions served by `play_in_order`: always the first ones
        self._recorded: list[Interaction | None] = []
        self.replayed = 0
        # Requests sent while recording whose answer is not in the cassette (a transport error,
        # a 429/5xx, an abandoned stream), by key; a later identical request that is recorded
        # (a retry) settles it. Any left at the end make the recording incomplete.
        self.failures: dict[RequestKey, RecordingFailure] = {}

    @property
    def keys(self) -> list[RequestKey]:
        """The match keys of the loaded interactions, in recorded order."""
        if self._keys is None:
            self._keys = self._loaded_keys()
        return self._keys

    @property
    def index(self) -> ReplayIndex:
        """The loaded interactions by key, those already served by `play_in_order` used."""
        if self._index is None:
            self._index = ReplayIndex(self.keys, played=range(self._in_order))
        return self._index

    def unused(self) -> list[int]:
        """Positions of the loaded interactions never played, in recorded order."""
        if self._index is None:  # only `play_in_order` served: the first ones
            return list(range(self._in_order, len(self.loaded)))
        return self._index.unused()

    def play_in_order(self, request: httpx.Request, body: bytes) -> httpx.Response | None:
        """The response of the next unplayed interaction when `request` is that interaction's
        request again (same method, URL and body bytes, no credential of its own); else None.

        Identical requests have identical keys, and the index serves a key's interactions in
        recorded order, so this answers exactly what `play(key_of(...))` would, without a key.
        """
        recorded = self.next_in_order(
            request.method, str(request.url), request.headers.multi_items(), body
        )
        if recorded is None:
            return None
        self.take_in_order()
        return replay_response(recorded)

    def next_in_order(
        self, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> Interaction | None:
        """The next unplayed interaction when a request of these parts is its recorded request
        again, as `play_in_order` decides it; it counts as played only after `take_in_order`."""
        position = self._in_order
        if self._index is not None or position >= len(self.loaded):
            return None
        recorded = self.loaded[position]
        if (
            recorded.method.upper() != method.upper()
            or not _same_body(recorded.request_body, body)
            or not self._same_url(recorded.uri, url)
            or self.scrub_with(headers) is not self.scrub
        ):
            return None
        return recorded

    def take_in_order(self) -> None:
        """Count the interaction `next_in_order` returned as played."""
        self._in_order += 1
        self.replayed += 1

    def _same_url(self, recorded: str, live: str) -> bool:
        if recorded == live:
            return True
        return url_key(scrub_uri(recorded, self.scrub), self.match) == url_key(
            scrub_uri(live, self.scrub), self.match
        )

    def scrub_for(self, request: httpx.Request) -> ScrubOptions:
        """The scrub options for one request: also its own credential headers' values."""
        return self.scrub_with(request.headers.multi_items())

    def scrub_with(self, headers: Iterable[tuple[str, str]]) -> ScrubOptions:
        """The scrub options for a request with these headers (`scrub_for` by its parts)."""
        return self.scrub.with_values(credential_values(headers))

    def _loaded_keys(self) -> list[RequestKey]:
        self._secrets_version = registered_secrets_version()
        keys = [
            request_key(i.method, i.uri, i.request_body, self.match, self.scrub)
            for i in self.loaded
        ]
        # A replayed request usually sends a recorded body again, byte for byte: its canonical
        # form (a JSON parse and a sorted dump) is then taken from here instead of made again.
        self._body_keys = {
            raw: key.body
            for interaction, key in zip(self.loaded, keys, strict=True)
            if (raw := _as_live_bytes(interaction.request_body)) is not None
        }
        return keys

    def key_of(self, request: httpx.Request, body: bytes) -> RequestKey:
        """The match key of a live request."""
        if self._keys is None:
            self._keys = self._loaded_keys()  # `_body_keys` below come with them
        elif self._secrets_version != registered_secrets_version():
            # A run secret registered since the cassette was opened is scrubbed from live
            # requests now: the recorded keys must be computed the same way, or they would miss.
            self._keys = self._loaded_keys()
            if self._index is not None:
                self._index = self._index.rekeyed(self._keys)
        scrub = self.scrub_for(request)
        # Known bodies were made canonical with `self.scrub`: reused only under the same options.
        known = self._body_keys.get(body) if scrub is self.scrub else None
        return request_key(
            request.method, str(request.url), body, self.match, scrub, body_key=known
        )

    def fail(self, key: RequestKey, request: httpx.Request, why: str) -> None:
        """Note a request sent while recording whose answer could not be recorded."""
        uri = scrub_uri(str(request.url), self.scrub_for(request))
        labels = request.extensions.get("harness")
        labels = labels if isinstance(labels, dict) else {}
        node, purpose, caller = (labels.get(k) for k in ("node_logical_id", "purpose", "caller"))
        self.failures[key] = RecordingFailure(
            request.method,
            uri,
            scrub_text(why, self.scrub_for(request)),
            None if node is None else str(node),
            None if purpose is None else str(purpose),
            None if caller is None else str(caller),
        )

    def play(self, key: RequestKey) -> httpx.Response | None:
        """The next recorded response for `key`, or None on a miss."""
        position = self.index.take(key)
        if position is None:
            return None
        self.replayed += 1
        return replay_response(self.loaded[position])

    def reserve(self) -> int:
        """Hold a place for a request about to be recorded, so the file keeps request order."""
        self._recorded.append(None)
        return len(self._recorded) - 1

    def fill(self, slot: int, interaction: Interaction, key: RequestKey) -> None:
        """Put a finished interaction in its reserved place (settling an earlier failure)."""
        self._recorded[slot] = interaction
        self.failures.pop(key, None)

    @property
    def recorded(self) -> list[Interaction]:
        """Interactions recorded in this session, in the order their requests started."""
        return [i for i in self._recorded if i is not None]


def _same_body(recorded: str | None, live: bytes) -> bool:
    """Whether a live body is the recorded one byte for byte (no body and an empty one alike:
    `canonical_body` reads both as empty)."""
    if not recorded:
        return not live
    return _as_live_bytes(recorded) == live


def _as_live_bytes(text: str | None) -> bytes | None:
    """`text` as a live request's body that `canonical_body` reads exactly as it reads `text`.

    None when no such bytes exist: `json.loads` sniffs the encoding of bytes (a BOM, NULs in the
    first bytes), never of a str, and a lone surrogate has no UTF-8 form.
    """
    if not text or text.startswith("\ufeff") or "\x00" in text:
        return None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return None


def replay_response(interaction: Interaction) -> httpx.Response:
    """An httpx response from a recorded one; an SSE body is streamed event by event."""
    headers = [
        (name, value) for name, values in interaction.response_headers.items() for value in values
    ]
    body = interaction.response_body.encode("utf-8")
    extensions = {"reason_phrase": interaction.reason.encode("ascii", "replace")}
    if interaction.is_event_stream:
        return httpx.Response(
            interaction.status,
            headers=headers,
            stream=EventStreamReplay(body),
            extensions=extensions,
        )
    return httpx.Response(interaction.status, headers=headers, content=body, extensions=extensions)


class ReplayTransport(httpx.AsyncBaseTransport):
    """Serve every request from the cassette; a request with no recorded response raises.

    `answer_in_process` also serves a request given by its parts, for a client in the same
    process that can skip httpx's request and response objects (the engine's LLM client).
    """

    def __init__(self, state: CassetteState, *, on_miss: MissHandler) -> None:
        self._state = state
        self._on_miss = on_miss

    def answer_in_process(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        read: Callable[[int, Mapping[str, list[str]], str], T | None],
    ) -> T | None:
        """What `read(status, headers, body text)` makes of the recorded answer to the request
        these parts make (method, URL, every header it would send, body bytes), when it is the
        next one recorded; None otherwise, or when `read` declines it (None): the request is
        then not played, so the client can send it through httpx as usual (a miss raises
        there, with its report)."""
        recorded = self._state.next_in_order(method, url, headers, body)
        if recorded is None:
            return None
        answer = read(recorded.status, recorded.response_headers, recorded.response_body)
        if answer is not None:
            self._state.take_in_order()
        return answer

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        response = self._state.play_in_order(request, body)
        if response is not None:
            return response
        key = self._state.key_of(request, body)
        response = self._state.play(key)
        if response is None:
            raise self._on_miss(request, key, body)
        return response


class RecordingTransport(httpx.AsyncBaseTransport):
    """Send requests through `inner` and record the answers (optionally replaying hits first)."""

    def __init__(
        self,
        state: CassetteState,
        inner: httpx.AsyncBaseTransport,
        *,
        replay_first: bool,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._state = state
        self._inner = inner
        self._replay_first = replay_first
        self._on_close = on_close

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        key = self._state.key_of(request, body)
        if self._replay_first:
            replayed = self._state.play(key)
            if replayed is not None:
                return replayed
        slot = self._state.reserve()
        started = time.perf_counter()
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as exc:
            self._state.fail(key, request, f"{type(exc).__name__}: {exc}".rstrip(": "))
            raise
        if not is_recordable_status(response.status_code):
            why = f"HTTP {response.status_code} (429 and 5xx answers are never recorded)"
            self._state.fail(key, request, why)
            return response
        live_headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in _FRAMING_HEADERS
        ]
        if response.headers.get("content-type", "").lower().startswith("text/event-stream"):
            return self._tee_stream(request, body, key, response, live_headers, slot, started)
        try:
            content = await response.aread()
        except Exception as exc:
            self._state.fail(key, request, f"reading the answer failed: {type(exc).__name__}")
            raise
        finally:
            await response.aclose()
        latency = f"{(time.perf_counter() - started) * 1000:.1f}"
        self._record(request, body, key, response, live_headers, content, latency, slot)
        return httpx.Response(
            response.status_code,
            headers=[*live_headers, (LATENCY_HEADER, latency)],
            content=content,
            extensions=response.extensions,
        )

    def _tee_stream(
        self,
        request: httpx.Request,
        body: bytes,
        key: RequestKey,
        response: httpx.Response,
        live_headers: list[tuple[str, str]],
        slot: int,
        started: float,
    ) -> httpx.Response:
        def complete(content: bytes) -> None:
            latency = f"{(time.perf_counter() - started) * 1000:.1f}"
            self._record(request, body, key, response, live_headers, content, latency, slot)

        def abandon() -> None:
            self._state.fail(key, request, "its streamed answer was abandoned before the end")

        stream = RecordingStream(response, on_complete=complete, on_abandon=abandon)
        return httpx.Response(
            response.status_code,
            headers=live_headers,
            stream=stream,
            extensions=response.extensions,
        )

    def _record(
        self,
        request: httpx.Request,
        body: bytes,
        key: RequestKey,
        response: httpx.Response,
        live_headers: list[tuple[str, str]],
        content: bytes,
        latency: str,
        slot: int,
    ) -> None:
        scrub = self._state.scrub_for(request)
        self._state.fill(
            slot,
            Interaction(
                method=request.method,
                uri=scrub_uri(str(request.url), scrub),
                request_body=_scrub_body(_text(body, request), scrub) if body else None,
                request_headers=_header_lists(scrub_headers(request.headers.multi_items(), scrub)),
                status=response.status_code,
                reason=response.reason_phrase,
                response_headers=_header_lists(
                    [*scrub_headers(live_headers, scrub), (LATENCY_HEADER, latency)]
                ),
                response_body=_scrub_body(_text(content, request), scrub),
            ),
            key,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
        if self._on_close is not None:
            self._on_close()


def _text(content: bytes, request: httpx.Request) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise CassetteFormatError(
            f"cannot record {request.method} {request.url}: the body is binary, and cassettes "
            "are JSON text",
            hint="send this request outside the recorded client, or mock the tool in the scenario",
        ) from None


def _scrub_body(text: str, scrub: ScrubOptions) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return scrub_text(text, scrub)
    if scrub_json_fields(data, scrub.body_fields):
        text = json.dumps(data, ensure_ascii=False)
    return scrub_text(text, scrub)


def _header_lists(headers: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name, []).append(value)
    return grouped
