"""Nodes with `use_mcp_tools`: the workflow's MCP servers' tools are offered and called."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from engine_helpers import said, say_llm, start, turn_events, workflow
from mcp.server.mcpserver import MCPServer

from harness.engine import Engine
from harness.models.api import WorkflowRun
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
