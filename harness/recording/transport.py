"""httpx transports that replay from, and record into, one cassette.

Each scenario gets its own transport, injected into its own `httpx.AsyncClient`: nothing is
patched globally, so any number of scenarios replay (or record) concurrently in one event loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from harness.recording.cassette import LATENCY_HEADER, CassetteFormatError, Interaction
from harness.recording.matching import MatchOptions, ReplayIndex, RequestKey, request_key
from harness.recording.scrub import ScrubOptions, scrub_headers, scrub_json_fields, scrub_text
from harness.recording.scrub import scrub_uri as _scrub_uri
from harness.recording.streams import EventStreamReplay, RecordingStream

__all__ = [
    "CassetteState",
    "MissHandler",
    "RecordingTransport",
    "ReplayTransport",
    "is_recordable_status",
    "replay_response",
]

# Re-encoded or re-framed on replay, so never stored: the body is kept decoded.
_FRAMING_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})

MissHandler = Callable[[httpx.Request, RequestKey, bytes], Exception]


def is_recordable_status(status: int) -> bool:
    """429 and 5xx are never recorded: a replayed one would only make the run sleep and retry."""
    return status != 429 and status < 500


class CassetteState:
    """The interactions of one cassette: loaded ones behind an index, new ones in order."""

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
        self.keys = [
            request_key(i.method, i.uri, i.request_body, match, scrub) for i in self.loaded
        ]
        self.index = ReplayIndex(self.keys)
        self._recorded: list[Interaction | None] = []
        self.replayed = 0

    def key_of(self, request: httpx.Request, body: bytes) -> RequestKey:
        """The match key of a live request."""
        return request_key(request.method, str(request.url), body, self.match, self.scrub)

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

    def fill(self, slot: int, interaction: Interaction) -> None:
        """Put a finished interaction in its reserved place."""
        self._recorded[slot] = interaction

    @property
    def recorded(self) -> list[Interaction]:
        """Interactions recorded in this session, in the order their requests started."""
        return [i for i in self._recorded if i is not None]


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
    """Serve every request from the cassette; a request with no recorded response raises."""

    def __init__(self, state: CassetteState, *, on_miss: MissHandler) -> None:
        self._state = state
        self._on_miss = on_miss

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
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
        if self._replay_first:
            replayed = self._state.play(self._state.key_of(request, body))
            if replayed is not None:
                return replayed
        slot = self._state.reserve()
        started = time.perf_counter()
        response = await self._inner.handle_async_request(request)
        if not is_recordable_status(response.status_code):
            return response
        live_headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in _FRAMING_HEADERS
        ]
        if response.headers.get("content-type", "").lower().startswith("text/event-stream"):
            return self._tee_stream(request, body, response, live_headers, slot, started)
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        latency = f"{(time.perf_counter() - started) * 1000:.1f}"
        self._record(request, body, response, live_headers, content, latency, slot)
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
        response: httpx.Response,
        live_headers: list[tuple[str, str]],
        slot: int,
        started: float,
    ) -> httpx.Response:
        def complete(content: bytes) -> None:
            latency = f"{(time.perf_counter() - started) * 1000:.1f}"
            self._record(request, body, response, live_headers, content, latency, slot)

        stream = RecordingStream(response, on_complete=complete, on_abandon=lambda: None)
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
        response: httpx.Response,
        live_headers: list[tuple[str, str]],
        content: bytes,
        latency: str,
        slot: int,
    ) -> None:
        scrub = self._state.scrub
        self._state.fill(
            slot,
            Interaction(
                method=request.method,
                uri=_scrub_uri(str(request.url), scrub),
                request_body=_scrub_body(_text(body, request), scrub) if body else None,
                request_headers=_header_lists(scrub_headers(request.headers.multi_items(), scrub)),
                status=response.status_code,
                reason=response.reason_phrase,
                response_headers=_header_lists(
                    [*scrub_headers(live_headers, scrub), (LATENCY_HEADER, latency)]
                ),
                response_body=_scrub_body(_text(content, request), scrub),
            ),
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
