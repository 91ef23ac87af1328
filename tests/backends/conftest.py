"""Fixtures for the API client tests: the fake platform on uvicorn, raw servers, a closed port."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from platform_fakes import RawServer, ScriptedPlatform, free_socket
from starlette.applications import Starlette
from starlette.routing import Route


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        """Signals belong to the main thread (pytest's)."""


@pytest.fixture(scope="session")
def _platform_server() -> Iterator[ScriptedPlatform]:
    state = ScriptedPlatform()
    app = Starlette(
        routes=[Route("/{path:path}", state.endpoint, methods=["GET", "POST", "PUT", "DELETE"])]
    )
    sock = free_socket()
    state.port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1
    )
    server = _ThreadServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the fake platform did not start within 10 s")
        time.sleep(0.01)
    yield state
    server.should_exit = True
    thread.join(timeout=5)
    sock.close()


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
