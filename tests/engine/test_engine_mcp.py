"""Nodes with `use_mcp_tools`: the workflow's MCP servers' tools are offered and called, and
their traffic is recorded and replayed with the scenario's cassette like every LLM call."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from engine_helpers import START, said, say_llm, start, turn_events, workflow
from mcp.server.mcpserver import MCPServer

from harness.config import HarnessSettings
from harness.engine import Engine, FixedClock, LLMClient
from harness.errors import CassetteMissError
from harness.models.api import WorkflowConfigFullyHydrated, WorkflowRun
from harness.recording import ReplayMissError, load_cassette, open_cassette
from harness.testing.scripted_model import ScriptedModel
from harness.testing.server_thread import serve_asgi_in_thread


@pytest.fixture(scope="module")
def mcp_url() -> Iterator[str]:
    server = MCPServer("clinic", log_level="WARNING")

    @server.tool()
    def find_slots(day: str) -> list[str]:
        """Free appointment slots on a day."""
        return ["09:30", "11:00"] if day == "tuesday" else []

    with serve_asgi_in_thread(server.streamable_http_app()) as root:
        yield f"{root}/mcp"


async def test_mcp_tools_are_offered_and_called(
    engine: Engine, model: ScriptedModel, mcp_url: str
) -> None:
    model.load(
        {
            "rules": [
                {"when": {"last_role": "tool"}, "reply": {"text": "Tuesday has 09:30."}},
                {
                    "when": {"tool_offered": "find_slots"},
                    "reply": {
                        "tool_calls": [{"name": "find_slots", "arguments": {"day": "tuesday"}}]
                    },
                },
            ]
        }
    )
    flow = workflow(
        [say_llm("book", use_mcp_tools=True), say_llm("plain", use_mcp_tools=False)],
        mcp_servers=[{"server_url": mcp_url, "name": "clinic"}],
    )
    run = await engine.execute(
        flow,
        start(
            thread_to_node_inputs={
                "0": {"node_run_inputs": [{"messages": [{"role": "user", "content": "slots?"}]}]}
            }
        ),
    )

    assert said(run) == ["Tuesday has 09:30."]
    assert model.requests[0].tool_names == ["find_slots"]
    assert (
        model.requests[0].body["tools"][0]["function"]["description"]
        == "Free appointment slots on a day."
    )
    # The tool's answer is an LLM event carrying the ToolMessage, as on the platform.
    message = tool_message_of(run)
    assert (message["name"], message["status"]) == ("find_slots", "success")
    assert message["response_metadata"]["tool_result"] == {"result": ["09:30", "11:00"]}


def tool_message_of(run: WorkflowRun) -> dict[str, Any]:
    messages = [e.get("message") for e in turn_events(run) if e.type == "say_llm"]
    tool = [m for m in messages if isinstance(m, dict) and m.get("type") == "tool"]
    assert len(tool) == 1, messages
    return tool[0]


SLOTS_RULES = {
    "rules": [
        {"when": {"last_role": "tool"}, "reply": {"text": "Tuesday has 09:30."}},
        {
            "when": {"tool_offered": "find_slots"},
            "reply": {"tool_calls": [{"name": "find_slots", "arguments": {"day": "tuesday"}}]},
        },
    ]
}
HELLO = {"0": {"node_run_inputs": [{"messages": [{"role": "user", "content": "slots?"}]}]}}


async def test_null_mcp_servers_offer_no_tools(engine: Engine, model: ScriptedModel) -> None:
    flow = workflow([say_llm("book", use_mcp_tools=True)], mcp_servers=None)
    run = await engine.execute(flow, start(thread_to_node_inputs=HELLO))
    assert said(run) == ["I am a scripted model."]
    assert model.requests[0].tool_names == []


async def test_server_headers_take_variables_and_a_name_is_optional(
    engine: Engine, model: ScriptedModel
) -> None:
    seen: list[dict[str, str]] = []
    server = MCPServer("guarded", log_level="WARNING")

    @server.tool()
    def find_slots(day: str) -> list[str]:
        """Free appointment slots on a day."""
        return ["09:30"]

    with serve_asgi_in_thread(_guarded(server.streamable_http_app(), seen)) as root:
        model.load(SLOTS_RULES)
        flow = workflow(
            [say_llm("book", use_mcp_tools=True)],
            mcp_servers=[
                {
                    "server_url": f"{root}/mcp",
                    "name": None,
                    "api_headers": {"Authorization": "Bearer {{mcp_api_token}}"},
                }
            ],
            dynamic_variables={"mcp_api_token": "tok-mcp"},
        )
        run = await engine.execute(flow, start(thread_to_node_inputs=HELLO))
    assert said(run) == ["Tuesday has 09:30."]
    assert tool_message_of(run)["status"] == "success"
    assert seen and all(h.get("authorization") == "Bearer tok-mcp" for h in seen)


def _guarded(app: Any, seen: list[dict[str, str]]) -> Any:
    """Record request headers; refuse a request whose Authorization was not substituted."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            seen.append(headers)
            if headers.get("authorization") != "Bearer tok-mcp":
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"bad token"})
                return
        await app(scope, receive, send)

    return asgi


# ---------------------------------------------------------------- through a cassette


def _slots_server() -> MCPServer:
    server = MCPServer("clinic", log_level="WARNING")

    @server.tool()
    def find_slots(day: str) -> list[str]:
        """Free appointment slots on a day."""
        return ["09:30", "11:00"] if day == "tuesday" else []

    return server


async def _run_on_cassette(
    path: Path, record_mode: str, flow: WorkflowConfigFullyHydrated, settings: HarnessSettings
) -> WorkflowRun:
    """One turn on an engine whose only way out is the cassette's transport (as in a scenario)."""
    async with (
        open_cassette(path, record_mode) as session,
        httpx.AsyncClient(transport=session.transport) as http,
    ):
        engine = Engine(
            llm=LLMClient(http, settings, env={}, max_retries=0),
            clock=FixedClock(START),
            seed=7,
            reraise=(CassetteMissError,),
        )
        run = await engine.execute(flow, start(thread_to_node_inputs=HELLO))
        session.mark_complete()
        assert session.unused() == []
    return run


def _block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: socket.socket, address: Any, *args: Any) -> Any:
        raise OSError(f"network blocked in this test (connect to {address!r})")

    monkeypatch.setattr(socket.socket, "connect", refuse)


async def test_an_mcp_scenario_replays_with_the_server_stopped_and_no_network(
    tmp_path: Path, model: ScriptedModel, settings: HarnessSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mcp_scenario.json"
    model.load(SLOTS_RULES)
    with serve_asgi_in_thread(_slots_server().streamable_http_app()) as root:
        flow = workflow(
            [say_llm("book", use_mcp_tools=True)],
            mcp_servers=[{"server_url": f"{root}/mcp", "name": "clinic"}],
        )
        recorded = await _run_on_cassette(path, "once", flow, settings)
    llm_calls = len(model.requests)
    _block_network(monkeypatch)

    replayed = await _run_on_cassette(path, "none", flow, settings)
    assert said(replayed) == said(recorded) == ["Tuesday has 09:30."]
    assert tool_message_of(replayed)["response_metadata"]["tool_result"] == {
        "result": ["09:30", "11:00"]
    }
    assert len(model.requests) == llm_calls
    methods = [json.loads(i.request_body or "{}").get("method") for i in load_cassette(path) or []]
    assert "tools/list" in methods and "tools/call" in methods  # MCP is in the scenario's cassette


async def test_a_changed_mcp_request_fails_the_replayed_run_loudly(
    tmp_path: Path, model: ScriptedModel, settings: HarnessSettings
) -> None:
    path = tmp_path / "mcp_scenario.json"
    model.load(SLOTS_RULES)
    with serve_asgi_in_thread(_slots_server().streamable_http_app()) as root:
        servers = [{"server_url": f"{root}/mcp", "name": "clinic"}]
        await _run_on_cassette(
            path,
            "once",
            workflow([say_llm("book", use_mcp_tools=True)], mcp_servers=servers),
            settings,
        )
    moved = [{"server_url": f"{root}/mcp-v2", "name": "clinic"}]
    flow = workflow([say_llm("book", use_mcp_tools=True)], mcp_servers=moved)
    with pytest.raises(ReplayMissError) as caught:
        await _run_on_cassette(path, "none", flow, settings)
    message = str(caught.value)
    assert "purpose 'mcp'" in message and "/mcp-v2" in message
