"""Fixtures for the API client tests: the fake platform on uvicorn, raw servers, a closed port."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from platform_fakes import RawServer, ScriptedPlatform, free_socket
from starlette.applications import Starlette
from starlette.routing import Route

from harness.testing.server_thread import serve_asgi_in_thread


@pytest.fixture(scope="session")
def _platform_server() -> Iterator[ScriptedPlatform]:
    """One fake platform for the session; `platform` resets its script for every test."""
    state = ScriptedPlatform()
    app = Starlette(
        routes=[Route("/{path:path}", state.endpoint, methods=["GET", "POST", "PUT", "DELETE"])]
    )
    with serve_asgi_in_thread(app) as base_url:
        state.port = int(base_url.rsplit(":", 1)[1])
        yield state


@pytest.fixture
def platform(_platform_server: ScriptedPlatform) -> ScriptedPlatform:
    """The fake platform with an empty script and no recorded requests."""
    _platform_server.reset()
    return _platform_server


@pytest.fixture
def raw_server() -> Iterator[Callable[[str], RawServer]]:
    """Start raw servers in a mode ("reset" or "truncate"); all are stopped after the test."""
    started: list[RawServer] = []

    def start(mode: str) -> RawServer:
        server = RawServer(mode)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connecting is refused."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/workflows"
