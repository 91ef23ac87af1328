"""Fixtures for the recording tests: the fake provider, served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from recording_fakes import FakeProvider, build_app


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        """Signals belong to the main thread (pytest's)."""


@pytest.fixture(scope="session")
def provider_server() -> Iterator[FakeProvider]:
    """Start the fake provider once for the whole session."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    provider = FakeProvider(base_url=f"http://127.0.0.1:{port}/v1")
    config = uvicorn.Config(
        build_app(provider), log_level="warning", lifespan="off", access_log=False
    )
    server = _ThreadServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake provider did not start within 10 s")
        time.sleep(0.01)
    yield provider
    server.should_exit = True
    thread.join(timeout=5)
    sock.close()


@pytest.fixture
def provider(provider_server: FakeProvider) -> FakeProvider:
    """The shared fake provider (hit counters are global; tests use unique prompts)."""
    return provider_server
