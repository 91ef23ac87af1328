"""Response bodies as streams: replaying recorded server-sent events, and teeing live ones."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable

import httpx

__all__ = ["DRAIN_SECONDS", "EventStreamReplay", "RecordingStream", "split_events"]

DRAIN_SECONDS = 2.0
"""How long a stream the caller closed early is still read, so that it is recorded whole."""

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
    ends. A caller that stops reading early (the MCP client closes a response stream as soon as
    its answer arrived) does not cut the recording short: the rest of the stream is read on close,
    for up to `DRAIN_SECONDS`, and recorded whole. A stream that does not end by then is not
    recorded (`on_abandon`): half a response would replay as a lie.
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
        self._chunks: list[bytes] = []
        self._source: AsyncIterator[bytes] | None = None
        self._finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # One iterator over the live body, shared with `aclose`, which may finish reading it.
        self._source = self._response.aiter_bytes()
        async for chunk in self._source:
            self._chunks.append(chunk)
            yield chunk
        self._complete()

    def _complete(self) -> None:
        if not self._finished:
            self._finished = True
            self._on_complete(b"".join(self._chunks))

    async def _drain(self) -> None:
        source = self._source if self._source is not None else self._response.aiter_bytes()
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                async for chunk in source:
                    self._chunks.append(chunk)
        except (TimeoutError, httpx.HTTPError, httpx.StreamError):
            return  # not ended in time, or broken: abandoned below
        self._complete()

    async def aclose(self) -> None:
        try:
            if not self._finished:
                await self._drain()
        finally:
            await self._response.aclose()
            if not self._finished:
                self._finished = True
                self._on_abandon()
