"""Serving any ASGI app on 127.0.0.1 in a thread or a task; startup failures; clean shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from harness.testing import ServerStartError, serve_asgi, serve_asgi_in_thread


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"hello from {request.url.path}")


def _app() -> Starlette:
    return Starlette(routes=[Route("/{path:path}", _hello)])


@asynccontextmanager
async def _failing_lifespan(app: Starlette) -> AsyncIterator[None]:
    raise RuntimeError("startup broke")
    yield  # pragma: no cover


def test_thread_server_serves_and_stops() -> None:
    with serve_asgi_in_thread(_app()) as base_url, serve_asgi_in_thread(_app()) as other:
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url != other
        assert httpx.get(f"{base_url}/x").text == "hello from /x"
        assert httpx.get(f"{other}/y").text == "hello from /y"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/x")


async def test_thread_server_from_async_code() -> None:
    with serve_asgi_in_thread(_app()) as base_url:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{base_url}/a")).text == "hello from /a"


async def test_loop_server_serves_and_stops() -> None:
    async with serve_asgi(_app()) as base_url, httpx.AsyncClient() as http:
        assert (await http.get(f"{base_url}/b")).text == "hello from /b"
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{base_url}/b")


def test_thread_server_startup_failure_is_an_error() -> None:
    app = Starlette(lifespan=_failing_lifespan)
    with (
        pytest.raises(ServerStartError, match="exited during startup"),
        serve_asgi_in_thread(app),
    ):
        pass  # pragma: no cover


async def test_loop_server_startup_failure_is_an_error() -> None:
    app = Starlette(lifespan=_failing_lifespan)
    with pytest.raises(ServerStartError, match="exited during startup"):
        async with serve_asgi(app):
            pass  # pragma: no cover
