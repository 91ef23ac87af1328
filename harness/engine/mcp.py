"""List and call the tools of a workflow's MCP servers with the official `mcp` client.

Transport: streamable HTTP, sending the server's `api_headers` on every request. Each operation
opens its own short session: an MCP session holds anyio task groups that must be closed by the
task that opened them, and the engine's turns run in different tasks. Tool listings are cached
per server (URL and headers) for the pool's lifetime.

Every request goes through the engine's own `httpx.AsyncClient` when the pool is given one (the
engine's services do): the `mcp` SDK speaks `httpx2`, so `HttpxBridge` hands each of its requests
to that client, whose transport is the scenario's cassette. MCP traffic is then recorded,
scrubbed and replayed like every LLM and HTTP call, and a replay miss is raised as a miss (never
turned into a tool failure). The bridge answers the standalone GET stream itself with 405 (which
the protocol allows): the engine uses no server-initiated messages, and a stream that never ends
could be neither recorded nor replayed.

Failures (unreachable server, HTTP errors, protocol errors, `isError` results, timeouts) become
`ToolOutcome(success=False, ...)` for calls, and `MCPServerError` (a `ToolError`) for listings.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, Field

from harness.engine.sandbox import ToolOutcome
from harness.errors import CassetteMissError, ToolError
from harness.models.api import MCPServerConfig

__all__ = ["HttpxBridge", "MCPClientPool", "MCPServerError", "McpToolSpec"]

_MAX_PAGES = 100
_EXCERPT_CHARS = 300


class MCPServerError(ToolError):
    """An MCP server could not be reached or answered with an error while listing its tools."""


class McpToolSpec(BaseModel):
    """A tool offered by an MCP server, as the LLM sees it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The tool's name on its server.")
    description: str | None = Field(default=None, description="What the tool does.")
    input_schema: dict[str, Any] = Field(
        default_factory=dict, description="JSON Schema of arguments."
    )
    server_name: str | None = Field(default=None, description="The MCP server offering it.")


# Hop-by-hop framing: the bridge hands over decoded bodies, so these would lie.
_FRAMING_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class HttpxBridge(httpx2.AsyncBaseTransport):
    """An `httpx2` transport that sends every request through an `httpx.AsyncClient`.

    The `mcp` SDK is built on `httpx2`; the engine's client (and the cassette transport under it)
    on `httpx`. Closing the bridge leaves the client open: it belongs to the engine.
    """

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET":
            # The standalone server-to-client stream: not used, and endless (see the module doc).
            return httpx2.Response(405, headers={"allow": "POST, DELETE"}, request=request)
        body = await request.aread()
        extensions: dict[str, Any] = {"harness": {"purpose": "mcp"}}
        timeout = request.extensions.get("timeout")
        if isinstance(timeout, dict):
            extensions["timeout"] = timeout
        outgoing = httpx.Request(
            request.method,
            str(request.url),
            headers=[
                (name, value)
                for name, value in request.headers.multi_items()
                if name.lower() != "content-length"
            ],
            content=body,
            extensions=extensions,
        )
        response = await self._http.send(outgoing, stream=True)
        return httpx2.Response(
            response.status_code,
            headers=[
                (name, value)
                for name, value in response.headers.multi_items()
                if name.lower() not in _FRAMING_HEADERS
            ],
            stream=_BridgedStream(response),
            request=request,
        )


class _BridgedStream(httpx2.AsyncByteStream):
    """An `httpx` response body, decoded, as an `httpx2` stream (chunk by chunk, for SSE)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._response.aiter_bytes():
            yield chunk

    async def aclose(self) -> None:
        await self._response.aclose()


class MCPClientPool:
    """MCP access for one engine: tool listings (cached) and tool calls, per server config."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient | None = None,
        timeout_seconds: float = 30.0,
        mode: str = "auto",
    ) -> None:
        """Configure the pool.

        Args:
            http: the client every MCP request goes through (the engine's, so that a scenario's
                cassette records and replays MCP traffic); None: a client of the pool's own,
                straight to the network.
            timeout_seconds: limit for one whole operation (connect, handshake, request).
            mode: the `mcp.Client` negotiation mode: "auto" (discover, then fall back to the
                initialize handshake), "legacy", or a protocol version string.
        """
        self.http = http
        self.timeout_seconds = timeout_seconds
        self.mode = mode
        self._listings: dict[tuple[str, tuple[tuple[str, str], ...]], list[McpToolSpec]] = {}
        self._ssl: ssl.SSLContext | None = None

    async def list_tools(
        self, server: MCPServerConfig, *, refresh: bool = False
    ) -> list[McpToolSpec]:
        """The server's tools (every page), cached per server until `refresh`.

        Raises:
            MCPServerError: the server is unreachable, refuses the headers, or answers with an
                error; the message names the server, the URL and the HTTP status if any.
            CassetteMissError: replaying, and a request of the listing was not recorded.
        """
        key = (server.server_url, tuple(sorted((server.api_headers or {}).items())))
        if not refresh and key in self._listings:
            return list(self._listings[key])
        http_errors: list[str] = []
        try:
            async with self._session(server, http_errors) as client:
                specs = await _all_tools(client, server.label)
        except Exception as exc:
            _raise_miss(exc)
            raise MCPServerError(
                f"could not list the tools of MCP server {server.label!r} at {server.server_url}: "
                f"{_describe(exc, http_errors)}",
                hint="check the server URL and api_headers in workflow_config.mcp_servers, "
                "and that the server is running",
            ) from exc
        self._listings[key] = specs
        return list(specs)

    async def call_tool(
        self, server: MCPServerConfig, name: str, arguments: dict[str, Any]
    ) -> ToolOutcome:
        """Call tool `name` on `server`; every failure is an unsuccessful outcome.

        Raises:
            CassetteMissError: replaying, and a request of the call was not recorded (a miss is
                the run's infrastructure error, not the tool's failure).
        """
        started = time.perf_counter()
        http_errors: list[str] = []
        try:
            async with self._session(server, http_errors) as client:
                result = await client.call_tool(name, arguments)
        except Exception as exc:
            _raise_miss(exc)
            return ToolOutcome.failure(
                f"MCP tool {name!r} on server {server.label!r} ({server.server_url}) failed: "
                f"{_describe(exc, http_errors)}",
                started=started,
            )
        if result.is_error:
            return ToolOutcome.failure(
                f"MCP tool {name!r} on server {server.label!r} returned an error: {_text_of(result) or 'no details'}",
                started=started,
            )
        return ToolOutcome.ok(_value_of(result), started=started)

    @asynccontextmanager
    async def _session(
        self, server: MCPServerConfig, http_errors: list[str]
    ) -> AsyncIterator[Client]:
        """One MCP session; HTTP error answers are noted in `http_errors` (the SDK drops the status)."""
        if self._ssl is None and self.http is None:
            self._ssl = httpx2.create_ssl_context()  # tens of ms each time: build it once

        async def note_errors(response: httpx2.Response) -> None:
            # The GET stream is optional (the SDK goes on without it), so its refusal is no cause.
            if response.status_code >= 400 and response.request.method != "GET":
                await response.aread()  # error bodies are small; success streams are left alone
                excerpt = response.text[:_EXCERPT_CHARS].strip()
                http_errors.append(f"HTTP {response.status_code} {excerpt}".strip())

        # Through the engine's client when there is one; else straight to the network.
        network: dict[str, Any] = (
            {"transport": HttpxBridge(self.http)}
            if self.http is not None
            else {"verify": self._ssl}
        )
        async with (
            asyncio.timeout(self.timeout_seconds),
            httpx2.AsyncClient(
                headers=dict(server.api_headers or {}),
                timeout=httpx2.Timeout(self.timeout_seconds),
                event_hooks={"response": [note_errors]},
                **network,
            ) as http,
            Client(
                streamable_http_client(server.server_url, http_client=http), mode=self.mode
            ) as client,
        ):
            yield client


async def _all_tools(client: Client, server_name: str) -> list[McpToolSpec]:
    specs: list[McpToolSpec] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        specs.extend(
            McpToolSpec(
                name=tool.name,
                description=tool.description,
                input_schema=dict(tool.input_schema),
                server_name=server_name,
            )
            for tool in page.tools
        )
        cursor = page.next_cursor
        if cursor is None:
            break
    return specs


def _text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def _value_of(result: CallToolResult) -> Any:
    """The structured result when the server gives one, else the text (non-text blocks summarised)."""
    if result.structured_content is not None:
        return result.structured_content
    parts: list[Any] = [
        block.text
        if isinstance(block, TextContent)
        else {"type": getattr(block, "type", "unknown")}
        for block in result.content
    ]
    if all(isinstance(p, str) for p in parts):
        return "\n".join(parts)
    return parts


def _describe(exc: BaseException, http_errors: list[str]) -> str:
    """One line for the innermost causes (anyio wraps transport errors in exception groups)."""
    texts = list(http_errors)
    for leaf in _leaves(exc):
        if isinstance(leaf, MCPError):
            texts.append(f"MCP error {leaf.code}: {leaf.message}")
        elif isinstance(leaf, TimeoutError):
            texts.append("timed out")
        elif not isinstance(leaf, httpx2.HTTPStatusError):  # already in http_errors
            texts.append(f"{type(leaf).__name__}: {leaf}" if str(leaf) else type(leaf).__name__)
    return "; ".join(dict.fromkeys(texts)) or type(exc).__name__


def _raise_miss(exc: BaseException) -> None:
    """Re-raise a cassette miss buried in the SDK's exception groups, as itself."""
    for leaf in _leaves(exc):
        if isinstance(leaf, CassetteMissError):
            raise leaf from None


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc
