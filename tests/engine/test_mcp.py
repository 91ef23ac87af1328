"""MCP tools against a real MCP server (the SDK's MCPServer over streamable HTTP on 127.0.0.1),
live and through a cassette (recorded, then replayed with the server stopped and no network)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from harness.engine.mcp import MCPClientPool, MCPServerError, McpToolSpec
from harness.engine.sandbox import ToolOutcome
from harness.models.api import MCPServerConfig
from harness.recording import ReplayMissError, open_cassette

API_KEY = "test-key-7d1e"


@dataclass
class RunningServer:
    url: str
    key: str = API_KEY
    seen_headers: list[dict[str, str]] = field(default_factory=list)

    def config(self, **headers: str) -> MCPServerConfig:
        return MCPServerConfig(
            server_url=self.url, name="clinic", api_headers=headers or {"x-api-key": self.key}
        )


def build_server() -> MCPServer:
    server = MCPServer("clinic", log_level="WARNING")

    @server.tool()
    def find_slots(day: str) -> list[str]:
        """Free appointment slots on a day."""
        return ["09:30", "11:00"] if day == "tuesday" else []

    @server.tool()
    async def book_slot(time: str, delay_seconds: float = 0.0) -> str:
        """Book a slot; 09:30 is already taken."""
        await asyncio.sleep(delay_seconds)
        if time == "09:30":
            raise ToolError("slot 09:30 is already taken")
        return f"booked {time}"

    return server


def guarded(app: Any, seen: list[dict[str, str]], key: str = API_KEY) -> Any:
    """Record request headers, and refuse requests without the API key (like a real server).

    Every answer also echoes the key it got (`x-seen-key`), as a careless server might.
    """

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        seen.append(headers)
        if headers.get("x-api-key") != key:
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"missing or wrong x-api-key"})
            return

        async def echoing(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                echo = (b"x-seen-key", key.encode())
                message = {**message, "headers": [*message.get("headers", []), echo]}
            await send(message)

        await app(scope, receive, echoing)

    return asgi


@contextlib.contextmanager
def running_server(key: str = API_KEY) -> Iterator[RunningServer]:
    """The clinic MCP server on a free port of 127.0.0.1, stopped on exit."""
    sock = socket.create_server(("127.0.0.1", 0))
    running = RunningServer(url=f"http://127.0.0.1:{sock.getsockname()[1]}/mcp", key=key)
    app = guarded(build_server().streamable_http_app(), running.seen_headers, key)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield running
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[RunningServer]:
    with running_server() as running:
        yield running


def block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every outgoing connection in this test fail (replay must not need one)."""

    def refuse(self: socket.socket, address: Any, *args: Any) -> Any:
        raise OSError(f"network blocked in this test (connect to {address!r})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


async def test_list_tools_returns_both_tools_with_schemas(mcp_server: RunningServer) -> None:
    tools = await MCPClientPool().list_tools(mcp_server.config())
    by_name = {tool.name: tool for tool in tools}
    assert set(by_name) == {"find_slots", "book_slot"}
    assert by_name["find_slots"].description == "Free appointment slots on a day."
    assert by_name["find_slots"].input_schema["required"] == ["day"]
    assert by_name["book_slot"].server_name == "clinic"


async def test_api_headers_arrive_on_every_request(mcp_server: RunningServer) -> None:
    before = len(mcp_server.seen_headers)
    await MCPClientPool().call_tool(mcp_server.config(), "find_slots", {"day": "tuesday"})
    sent = mcp_server.seen_headers[before:]
    assert sent and all(h.get("x-api-key") == API_KEY for h in sent)


async def test_call_tool_returns_the_result(mcp_server: RunningServer) -> None:
    pool = MCPClientPool()
    outcome = await pool.call_tool(mcp_server.config(), "find_slots", {"day": "tuesday"})
    assert outcome.success and outcome.error is None
    assert outcome.result == {"result": ["09:30", "11:00"]}
    booked = await pool.call_tool(mcp_server.config(), "book_slot", {"time": "11:00"})
    assert booked.success and booked.result == {"result": "booked 11:00"}


async def test_tool_error_becomes_a_tool_outcome_error(mcp_server: RunningServer) -> None:
    outcome = await MCPClientPool().call_tool(mcp_server.config(), "book_slot", {"time": "09:30"})
    assert not outcome.success
    assert (
        outcome.error == "MCP tool 'book_slot' on server 'clinic' returned an error: "
        "Error executing tool book_slot: slot 09:30 is already taken"
    )


async def test_unknown_tool_and_bad_arguments_are_tool_errors(mcp_server: RunningServer) -> None:
    pool = MCPClientPool()
    unknown = await pool.call_tool(mcp_server.config(), "cancel_slot", {})
    assert not unknown.success and "cancel_slot" in (unknown.error or "")
    invalid = await pool.call_tool(mcp_server.config(), "find_slots", {})
    assert not invalid.success and "find_slots" in (invalid.error or "")


async def test_wrong_headers_give_a_clear_error(mcp_server: RunningServer) -> None:
    config = mcp_server.config(**{"x-api-key": "wrong"})
    with pytest.raises(
        MCPServerError,
        match=r"'clinic' at http://127\.0\.0\.1:\d+/mcp: HTTP 401 missing or wrong x-api-key",
    ):
        await MCPClientPool().list_tools(config)
    outcome = await MCPClientPool().call_tool(config, "find_slots", {"day": "tuesday"})
    assert not outcome.success and "401" in (outcome.error or "")


async def test_unreachable_server_gives_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but never listening: connections are refused
        config = MCPServerConfig(server_url=f"http://127.0.0.1:{port}/mcp", name="gone")
        with pytest.raises(MCPServerError) as caught:
            await MCPClientPool(timeout_seconds=5).list_tools(config)
        outcome = await MCPClientPool(timeout_seconds=5).call_tool(config, "anything", {})
    assert "could not list the tools of MCP server 'gone'" in str(caught.value)
    assert "ConnectError" in str(caught.value) and caught.value.hint
    assert not outcome.success and "ConnectError" in (outcome.error or "")


async def test_slow_tool_times_out(mcp_server: RunningServer) -> None:
    pool = MCPClientPool(timeout_seconds=0.5)
    outcome = await pool.call_tool(
        mcp_server.config(), "book_slot", {"time": "10:00", "delay_seconds": 3}
    )
    assert not outcome.success and "timed out" in (outcome.error or "")
    assert outcome.duration_ms < 2500


async def test_listings_are_cached_until_refresh(mcp_server: RunningServer) -> None:
    pool = MCPClientPool()
    first = await pool.list_tools(mcp_server.config())
    before = len(mcp_server.seen_headers)
    assert await pool.list_tools(mcp_server.config()) == first
    assert len(mcp_server.seen_headers) == before
    await pool.list_tools(mcp_server.config(), refresh=True)
    assert len(mcp_server.seen_headers) > before
    assert all(isinstance(tool, McpToolSpec) for tool in first)


# ---------------------------------------------------------------- through a cassette


async def _list_and_call(
    path: Path, record_mode: str, config: MCPServerConfig, mode: str, day: str = "tuesday"
) -> tuple[list[McpToolSpec], ToolOutcome]:
    async with (
        open_cassette(path, record_mode) as session,
        httpx.AsyncClient(transport=session.transport) as http,
    ):
        pool = MCPClientPool(http=http, mode=mode)
        tools = await pool.list_tools(config)
        outcome = await pool.call_tool(config, "find_slots", {"day": day})
        session.mark_complete()
        assert session.unused() == []  # replay used every recorded request, DELETEs included
    return tools, outcome


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # stateless JSON, and sessions over SSE
async def test_mcp_traffic_is_recorded_then_replayed_with_the_server_gone_and_no_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    path = tmp_path / "mcp.json"
    with running_server() as server:
        config = server.config()
        live_tools, live = await _list_and_call(path, "once", config, mode)
        hits = len(server.seen_headers)
    assert hits > 0 and live.success and live.result == {"result": ["09:30", "11:00"]}
    block_network(monkeypatch)
    with (
        socket.create_server(("127.0.0.1", 0)) as listening,
        pytest.raises(OSError, match="network blocked"),  # the block is real
    ):
        socket.create_connection(listening.getsockname(), timeout=1)

    tools, replayed = await _list_and_call(path, "none", config, mode)
    assert tools == live_tools
    assert (replayed.success, replayed.result) == (True, live.result)
    assert len(server.seen_headers) == hits
    text = path.read_text()
    assert "find_slots" in text and API_KEY not in text


async def test_a_changed_mcp_request_is_a_loud_miss_not_a_tool_failure(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    with running_server() as server:
        config = server.config()
        await _list_and_call(path, "once", config, "auto")
    with pytest.raises(ReplayMissError) as caught:
        await _list_and_call(path, "none", config, "auto", day="wednesday")
    message = str(caught.value)
    assert "cassette miss: no recorded response for POST http://127.0.0.1:" in message
    assert "purpose 'mcp'" in message
    assert "-params.arguments.day: tuesday" in message
    assert "+params.arguments.day: wednesday" in message


async def test_a_four_character_mcp_key_echoed_back_is_in_no_cassette(tmp_path: Path) -> None:
    path, canary = tmp_path / "mcp.json", "k3y9"
    with running_server(key=canary) as server:
        await _list_and_call(path, "once", server.config(), "legacy")
    assert server.seen_headers[0]["x-api-key"] == canary  # it was sent, and echoed back
    text = path.read_text()
    assert canary not in text
    assert '"x-seen-key": [\n' in text and "<REDACTED>" in text


async def test_through_the_engines_client_errors_name_their_real_cause(
    mcp_server: RunningServer,
) -> None:
    async with httpx.AsyncClient() as http:
        # Sessions: the SDK also opens a GET stream, which the bridge refuses (405).
        pool = MCPClientPool(http=http, mode="legacy", timeout_seconds=1)
        taken = await pool.call_tool(mcp_server.config(), "book_slot", {"time": "09:30"})
        slow = await pool.call_tool(
            mcp_server.config(), "book_slot", {"time": "10:00", "delay_seconds": 3}
        )
    assert taken.error == (
        "MCP tool 'book_slot' on server 'clinic' returned an error: "
        "Error executing tool book_slot: slot 09:30 is already taken"
    )
    assert slow.error is not None and slow.error.endswith("failed: timed out")
    assert "405" not in slow.error  # the refused GET stream is no cause
