"""Nodes with `use_mcp_tools`: the workflow's MCP servers' tools are offered and called."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from engine_helpers import event, said, say_llm, start, workflow
from mcp.server.mcpserver import MCPServer

from harness.engine import Engine
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
    result = event(run, "tool_result")
    assert result.get("success") is True
    assert result.get("result") == {"result": ["09:30", "11:00"]}  # MCP structured content
