"""Request-body guard of `harness serve`: size, nesting depth and text that cannot be stored.

A pure ASGI middleware in front of the app. It reads a request body up to `MAX_BODY_BYTES`
(answering 413 beyond, from `Content-Length` before reading anything), parses a JSON body once,
and refuses what the app could accept but never store or answer:

- a string (key or value) with a lone UTF-16 surrogate (`"\\ud800"`): valid JSON, but not
  encodable as UTF-8, so the run could never be saved to SQLite or rendered in a listing;
- nesting deeper than `MAX_JSON_DEPTH` levels (the engine, pydantic and the renderers recurse).

Both answer 422 in FastAPI's shape, naming the field in `loc` and in `message`. The body is then
replayed unchanged to the app. Bodies that are not JSON pass through; FastAPI answers them.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harness.server.errors import error_response

__all__ = ["MAX_BODY_BYTES", "MAX_JSON_DEPTH", "BodyGuard", "first_problem"]

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest request body (8 MiB): the largest corpus workflow config is about 100 KB."""
MAX_JSON_DEPTH = 64
"""Deepest JSON nesting of a request body (a workflow's JSON schemas nest about 10 levels)."""
_DRAIN_BYTES = 64 * 1024 * 1024
"""How much of an oversized body is read and dropped before the 413 (never kept)."""


def first_problem(
    value: Any, max_depth: int = MAX_JSON_DEPTH
) -> tuple[list[str | int], str] | None:
    """The first unstorable spot in a parsed JSON value: (its path, what is wrong), or None.

    Iterative, so it never recurses however deep the value nests.
    """
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if len(path) > max_depth:
            return path[: max_depth + 1], f"nests deeper than {max_depth} levels"
        if isinstance(item, str):
            if not _utf8(item):
                return path, "contains a lone UTF-16 surrogate (not valid Unicode text)"
        elif isinstance(item, dict):
            for key, child in item.items():
                if not _utf8(key):
                    return path, f"has a key with a lone UTF-16 surrogate: {key!r}"
                stack.append((child, [*path, key]))
        elif isinstance(item, list):
            stack.extend((child, [*path, i]) for i, child in enumerate(item))
    return None


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class BodyGuard:
    """Pure ASGI middleware: bounded request bodies; unstorable JSON refused with a 422."""

    def __init__(
        self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send, unread=True)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > self.max_bytes:
                await self._too_large(scope, receive, send, unread=more)
                return
        problem = self._problem(bytes(body))
        if problem is not None:
            path, what = problem
            loc: list[str | int] = ["body", *path]
            where = ".".join(str(p) for p in loc)
            errors = [{"loc": loc, "msg": f"the value {what}", "type": "value_error"}]
            response = error_response(422, errors, message=f"{where}: the value {what}")
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(bytes(body), receive), send)

    def _problem(self, body: bytes) -> tuple[list[str | int], str] | None:
        if body.lstrip()[:1] not in (b"{", b"["):
            return None
        try:
            value = json.loads(body)
        except RecursionError:
            return [], f"nests deeper than {self.max_depth} levels"
        except ValueError:
            return None  # not JSON (or not UTF-8): FastAPI answers it
        return first_problem(value, self.max_depth)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, *, unread: bool) -> None:
        # Read (and drop) what the client is still sending, up to a bound: closing a socket with
        # unread data makes the kernel reset it, and the client may then never see the 413.
        drained = 0
        while unread and drained <= _DRAIN_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                break
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        response = error_response(
            413,
            f"the request body is larger than {self.max_bytes} bytes",
            headers={"connection": "close"},
            hint="send a smaller body (a workflow config or run input is far below the limit)",
        )
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the buffered body to the app once, then waits on the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
