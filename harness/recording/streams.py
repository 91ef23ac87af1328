"""Response bodies as streams: replaying recorded server-sent events, and teeing live ones."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import httpx

__all__ = ["EventStreamReplay", "RecordingStream", "split_events"]

_EVENT_END = re.compile(rb"\r?\n\r?\n")


def split_events(body: bytes) -> list[bytes]:
    """Cut an SSE body after each blank line, so each chunk is one whole event."""
    chunks: list[bytes] = []
    start = 0
    for match in _EVENT_END.finditer(body):
        chunks.append(body[start : match.end()])
        start = match.end()
    if start < len(body):
        chunks.append(body[start:])
    return chunks


class EventStreamReplay(httpx.AsyncByteStream):
    """A recorded SSE body served event by event, as the provider sent it (without the waits)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in split_events(self._body):
            yield chunk


class RecordingStream(httpx.AsyncByteStream):
    """Pass a live streamed body through untouched while keeping a copy of it.

    The caller sees each chunk when it arrives (time to first token stays observable while
    recording, unlike under vcrpy); `on_complete` gets the whole decoded body once the stream
    ends. A stream the caller abandons is not recorded: half a response would replay as a lie.
    """

    def __init__(
        self,
        response: httpx.Response,
        *,
        on_complete: Callable[[bytes], None],
        on_abandon: Callable[[], None],
    ) -> None:
        self._response = response
        self._on_complete = on_complete
        self._on_abandon = on_abandon
        self._finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks: list[bytes] = []
        async for chunk in self._response.aiter_bytes():
            chunks.append(chunk)
            yield chunk
        self._finished = True
        self._on_complete(b"".join(chunks))

    async def aclose(self) -> None:
        await self._response.aclose()
        if not self._finished:
            self._finished = True
            self._on_abandon()
