"""Run any ASGI app on 127.0.0.1 for tests: uvicorn in a background thread (or task), free port.

The socket is bound before uvicorn starts, so the port is known up front and two servers can never
race for the same one. Both helpers stop the server on exit and wait for it to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Generator, Iterator

import uvicorn
from starlette.types import ASGIApp

from harness.errors import HarnessError

__all__ = ["ServerStartError", "bind_loopback_socket", "serve_asgi", "serve_asgi_in_thread"]

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


class ServerStartError(HarnessError):
    """A test server did not come up on 127.0.0.1."""


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host (pytest, the CLI)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # Installing handlers here would steal Ctrl-C from the test runner's main thread.
        yield


def bind_loopback_socket() -> socket.socket:
    """Bind a TCP socket on 127.0.0.1 to a free port chosen by the OS.

    Returns:
        The bound (not yet listening) socket; uvicorn takes it over.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _make_server(app: ASGIApp, graceful_timeout_s: float) -> _QuietServer:
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="auto",
        access_log=False,
        timeout_graceful_shutdown=max(1, round(graceful_timeout_s)),
    )
    return _QuietServer(config)


def _base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


@contextlib.contextmanager
def serve_asgi_in_thread(app: ASGIApp, *, graceful_timeout_s: float = 1.0) -> Iterator[str]:
    """Serve `app` with uvicorn in a daemon thread on a free port of 127.0.0.1.

    Works from sync and async tests alike (the server has its own event loop).

    Args:
        app: any ASGI application (Starlette, FastAPI, ...).
        graceful_timeout_s: how long open connections may take to finish at shutdown.

    Yields:
        The base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash).

    Raises:
        ServerStartError: the server did not start within 10 s (e.g. the app's startup failed).
    """
    sock = bind_loopback_socket()
    server = _make_server(app, graceful_timeout_s)
    thread = threading.Thread(
        target=_run_quietly, args=(server, sock), name="harness-asgi-server", daemon=True
    )
    thread.start()
    try:
        _wait_started(server, thread)
        yield _base_url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=_STOP_TIMEOUT_S + graceful_timeout_s)
        sock.close()


def _run_quietly(server: uvicorn.Server, sock: socket.socket) -> None:
    # uvicorn calls sys.exit when the app's startup fails; the waiting side reports it instead
    # of an unhandled-thread-exception warning.
    with contextlib.suppress(SystemExit):
        server.run(sockets=[sock])


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise ServerStartError(
                "the test server on 127.0.0.1 exited during startup",
                hint="check the app's lifespan/startup handlers; uvicorn logs the cause above",
            )
        if time.monotonic() > deadline:
            raise ServerStartError(
                f"the test server on 127.0.0.1 did not start within {_START_TIMEOUT_S:.0f} s",
                hint="check the app's lifespan/startup handlers",
            )
        time.sleep(0.005)


@contextlib.asynccontextmanager
async def serve_asgi(app: ASGIApp, *, graceful_timeout_s: float = 1.0) -> AsyncIterator[str]:
    """Serve `app` with uvicorn as a task of the running event loop, on a free port of 127.0.0.1.

    Only talk to it with async clients from the same loop: a blocking call would stall the
    server too. Use `serve_asgi_in_thread` for sync callers.

    Args:
        app: any ASGI application.
        graceful_timeout_s: how long open connections may take to finish at shutdown.

    Yields:
        The base URL, e.g. ``http://127.0.0.1:54321``.

    Raises:
        ServerStartError: the server did not start within 10 s.
    """
    sock = bind_loopback_socket()
    server = _make_server(app, graceful_timeout_s)
    task = asyncio.create_task(_serve_in_loop(server, sock), name="harness-asgi-server")
    try:
        await _wait_started_async(server, task)
        yield _base_url(sock)
    finally:
        server.should_exit = True
        # A failed startup already raised ServerStartError naming the cause; don't mask it.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=_STOP_TIMEOUT_S + graceful_timeout_s)
        sock.close()


async def _serve_in_loop(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:
        # uvicorn calls sys.exit when the app's startup fails; inside a task that would tear
        # down the caller's event loop, so it becomes an ordinary error.
        raise ServerStartError(f"uvicorn exited with status {exc.code}") from None


async def _wait_started_async(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if task.done():
            cause = None if task.cancelled() else task.exception()
            raise ServerStartError(
                f"the test server on 127.0.0.1 exited during startup ({cause!r})",
                hint="check the app's lifespan/startup handlers; uvicorn logs the cause above",
            )
        if time.monotonic() > deadline:
            raise ServerStartError(
                f"the test server on 127.0.0.1 did not start within {_START_TIMEOUT_S:.0f} s",
                hint="check the app's lifespan/startup handlers",
            )
        await asyncio.sleep(0.005)
