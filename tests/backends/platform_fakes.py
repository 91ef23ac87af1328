"""The fake platform for the API client tests: scripted replies, recorded requests, raw sockets.

`ScriptedPlatform` is the state behind a Starlette app (served by uvicorn from conftest.py) that
answers each request with the next scripted `Reply`. `RawServer` speaks just enough HTTP to reset a
connection or cut a body short, which no ASGI app can do.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from harness.backends import RetryPolicy
from harness.config import HarnessSettings

API_KEY = "sk-test-secret-4242"
TEAM_ID = "team-7"
USER_ID = "user-9"


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def render(self) -> Response:
        content = self.body if self.body is not None else json.dumps(self.json).encode()
        media = None if self.body is not None else "application/json"
        return Response(content, status_code=self.status, headers=self.headers, media_type=media)


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float
    done_at: float = 0.0


Script = Callable[[Received], Reply]


class ScriptedPlatform:
    """The fake platform's state: the script of replies and the requests received."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: list[Received] = []
        self._replies: list[Reply] = []
        self._handler: Script | None = None

    @property
    def url(self) -> str:
        """The `.../workflows` base URL, as configured by users."""
        return f"http://127.0.0.1:{self.port}/workflows"

    def reset(self) -> None:
        self.requests.clear()
        self._replies = []
        self._handler = None

    def reply(self, *replies: Reply) -> None:
        """Answer with these in order; the last one repeats."""
        self._replies = list(replies)

    def handle(self, handler: Script) -> None:
        """Answer every request with `handler(request)`."""
        self._handler = handler

    def max_in_flight(self) -> int:
        """The most requests of this test the server was handling at one moment."""
        edges = sorted(
            [(r.at, 1) for r in self.requests] + [(r.done_at, -1) for r in self.requests],
            key=lambda edge: (edge[0], edge[1]),
        )
        most = current = 0
        for _, step in edges:
            current += step
            most = max(most, current)
        return most

    def next_reply(self, received: Received) -> Reply:
        if self._handler is not None:
            return self._handler(received)
        if not self._replies:
            return Reply(status=599, json={"detail": "test did not script a reply"})
        return self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]

    async def endpoint(self, request: Request) -> Response:
        raw = await request.body()
        received = Received(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=json.loads(raw) if raw else None,
            at=time.monotonic(),
        )
        self.requests.append(received)
        reply = self.next_reply(received)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        received.done_at = time.monotonic()
        return reply.render()


class RawServer:
    """Accepts connections, reads one request each, then misbehaves as `mode` says."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self._sock = free_socket()
        self._sock.listen()
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/workflows"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn:
                _read_request(conn)
                if self.mode == "reset":
                    # Linger 0 turns close() into a TCP RST: a reset, not a clean end.
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif self.mode == "truncate":
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b'content-length: 500\r\n\r\n{"status": "compl'
                    )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


def _read_request(conn: socket.socket) -> None:
    conn.settimeout(2)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        rest += chunk


def free_socket() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def make_settings(url: str, **overrides: Any) -> HarnessSettings:
    """Settings for tests: short timeouts so faults are quick to provoke."""
    values: dict[str, Any] = {
        "api_url": url,
        "api_key": API_KEY,
        "team_id": TEAM_ID,
        "user_id": USER_ID,
        "connect_timeout_seconds": 1.0,
        "read_timeout_seconds": 2.0,
        "deadline_seconds": 10.0,
        "max_retries": 2,
        "max_concurrency": 4,
    }
    values.update(overrides)
    return HarnessSettings(**values)


FAST_RETRY = RetryPolicy(max_retries=2, backoff_base_seconds=0.01, backoff_max_seconds=0.05)
