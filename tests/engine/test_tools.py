"""The tool runner: inline Python, external APIs, inbuilt functions, knowledge bases, mocks.

HTTP tools talk to a real Starlette app served by uvicorn on 127.0.0.1; inline Python runs in the
real sandbox.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from harness.engine.sandbox import Sandbox, SandboxPolicy
from harness.engine.tools import (
    ToolMock,
    ToolOutcome,
    ToolRunner,
    run_http_request,
    search_documents,
)
from harness.engine.variables import FixedClock
from harness.errors import CassetteMissError
from harness.models.api import (
    ExternalApiTool,
    HttpRequestNodeConfig,
    InbuiltFunctionTool,
    InlinePythonTool,
    KnowledgeBaseTool,
)

# ------------------------------------------------------------------ a real HTTP server


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "headers": {k: v for k, v in request.headers.items() if k.startswith("x-")},
            "body": body.decode() or None,
        }
    )


async def fail(request: Request) -> Response:
    return PlainTextResponse("scheduler is down for maintenance", status_code=503)


async def slow(request: Request) -> Response:
    await asyncio.sleep(1)
    return PlainTextResponse("late")


async def text(request: Request) -> Response:
    return PlainTextResponse("plain words")


async def empty(request: Request) -> Response:
    return Response(status_code=204)


APP = Starlette(
    routes=[
        Route("/echo/{rest:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/fail", fail, methods=["GET", "POST"]),
        Route("/slow", slow),
        Route("/text", text),
        Route("/empty", empty, methods=["POST"]),
    ]
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(APP, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


class SeenExtensions(httpx.AsyncBaseTransport):
    """Pass-through transport that remembers each request's `harness` extension."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.seen: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(dict(request.extensions.get("harness") or {}))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def transport() -> AsyncIterator[SeenExtensions]:
    seen = SeenExtensions()
    yield seen
    await seen.aclose()


@pytest.fixture
async def runner(transport: SeenExtensions) -> AsyncIterator[ToolRunner]:
    async with httpx.AsyncClient(transport=transport) as http:
        yield ToolRunner(http=http, sandbox=Sandbox(SandboxPolicy(), default_timeout_seconds=5))


DYNAMIC = {"clinic": "north", "patient_name": "Ana Ruiz", "api_token": "tok-123"}
RUNTIME = {"preferred_day": "tuesday", "visit": {"kind": "follow-up"}}


async def run(
    runner: ToolRunner, tool: Any, arguments: dict[str, Any] | None = None
) -> ToolOutcome:
    return await runner.run(tool, arguments or {}, dynamic=DYNAMIC, runtime=RUNTIME)


# ------------------------------------------------------------------ inline Python


async def test_inline_python_gets_placeholders_and_arguments(runner: ToolRunner) -> None:
    tool = InlinePythonTool(
        name="greet",
        code='def greet(title):\n    return f"{title} {{patient_name}} on [[preferred_day]]"\n',
    )
    outcome = await run(runner, tool, {"title": "Dr."})
    assert outcome.success and outcome.result == "Dr. Ana Ruiz on tuesday"


async def test_inline_python_failure_names_the_tool(runner: ToolRunner) -> None:
    tool = InlinePythonTool(name="broken", code="def broken():\n    raise ValueError('no slots')\n")
    outcome = await run(runner, tool)
    assert not outcome.success
    assert (
        outcome.error
        == "tool 'broken' (inline_python) failed: ValueError: no slots (line 2 of the tool code)"
    )


async def test_inline_python_honours_the_tool_timeout(runner: ToolRunner) -> None:
    tool = InlinePythonTool(
        name="nap", code="import time\n\ndef nap():\n    time.sleep(30)\n", timeout_seconds=1
    )
    outcome = await run(runner, tool)
    assert not outcome.success and "timed out after 1 s" in (outcome.error or "")
    assert 900 < outcome.duration_ms < 4000


async def test_sandbox_is_created_lazily(transport: SeenExtensions) -> None:
    async with httpx.AsyncClient(transport=transport) as http:
        runner = ToolRunner(http=http)
        outcome = await run(runner, InlinePythonTool(name="one", code="def one():\n    return 1\n"))
    assert outcome.result == 1 and isinstance(runner.sandbox, Sandbox)


# ------------------------------------------------------------------ mocks


async def test_mock_value_wins_over_the_real_tool(runner: ToolRunner) -> None:
    runner.mocks["find_slots"] = ToolMock(returns=["09:30", "11:00"])
    tool = InlinePythonTool(
        name="find_slots", code="def find_slots():\n    raise RuntimeError('real tool ran')\n"
    )
    outcome = await run(runner, tool)
    assert outcome.success and outcome.result == ["09:30", "11:00"]


async def test_mock_error_is_passed_on_verbatim(runner: ToolRunner) -> None:
    runner.mocks["book"] = ToolMock(error="slot taken")
    outcome = await run(runner, ExternalApiTool(name="book", url="http://127.0.0.1:9/never"))
    assert outcome == ToolOutcome(
        success=False, error="slot taken", duration_ms=outcome.duration_ms
    )


async def test_mock_delay(runner: ToolRunner) -> None:
    runner.mocks["slow"] = ToolMock.model_validate({"value": 7, "delay_seconds": 0.2})
    outcome = await run(runner, InbuiltFunctionTool(name="slow"))
    assert outcome.result == 7 and outcome.duration_ms >= 200


def test_mock_refuses_unknown_fields() -> None:
    with pytest.raises(ValueError, match="retruns"):
        ToolMock.model_validate({"retruns": 1})


# ------------------------------------------------------------------ external APIs


async def test_get_substitutes_url_and_headers_and_sends_other_arguments_as_query(
    runner: ToolRunner, base_url: str
) -> None:
    tool = ExternalApiTool(
        name="find_slots",
        method="GET",
        url=base_url + "/echo/{{clinic}}/slots/{{day}}",
        headers={"x-token": "Bearer {{api_token}}", "x-kind": "[[visit]]"},
    )
    outcome = await run(runner, tool, {"day": "tuesday", "limit": 3})
    assert outcome.success
    assert outcome.result == {
        "method": "GET",
        "path": "/echo/north/slots/tuesday",
        "query": {"limit": "3"},
        "headers": {"x-token": "Bearer tok-123", "x-kind": '{"kind": "follow-up"}'},
        "body": None,
    }


async def test_post_without_body_sends_the_arguments_as_json(
    runner: ToolRunner, base_url: str
) -> None:
    tool = ExternalApiTool(name="book", url=base_url + "/echo/book")
    outcome = await run(runner, tool, {"time": "09:30", "patient": "Ana"})
    assert outcome.result["body"] == '{"time":"09:30","patient":"Ana"}'


async def test_post_body_template_is_substituted(runner: ToolRunner, base_url: str) -> None:
    tool = ExternalApiTool(
        name="book",
        method="PUT",
        url=base_url + "/echo/book",
        body={"who": "{{patient_name}}", "when": "{{time}}", "day": "[[preferred_day]]"},
    )
    outcome = await run(runner, tool, {"time": "09:30"})
    assert outcome.result["method"] == "PUT"
    assert outcome.result["body"] == '{"who":"Ana Ruiz","when":"09:30","day":"tuesday"}'


async def test_whole_placeholders_keep_their_type_in_json_bodies(
    runner: ToolRunner, base_url: str
) -> None:
    tool = ExternalApiTool(
        name="book", url=base_url + "/echo/book", body={"party": "{{size}}", "visit": "[[visit]]"}
    )
    outcome = await run(runner, tool, {"size": 3})
    assert outcome.result["body"] == '{"party":3,"visit":{"kind":"follow-up"}}'


async def test_non_json_answers_come_back_as_text(runner: ToolRunner, base_url: str) -> None:
    assert (
        await run(runner, ExternalApiTool(name="t", method="GET", url=base_url + "/text"))
    ).result == "plain words"
    assert (await run(runner, ExternalApiTool(name="e", url=base_url + "/empty"))).result is None


async def test_non_2xx_is_a_tool_error_with_status_and_body(
    runner: ToolRunner, base_url: str
) -> None:
    outcome = await run(runner, ExternalApiTool(name="book", url=base_url + "/fail"))
    assert not outcome.success
    assert outcome.error == (
        f"tool 'book' (external_api) failed: HTTP 503 from POST {base_url}/fail: scheduler is down for maintenance"
    )


async def test_timeout_is_a_tool_error(runner: ToolRunner, base_url: str) -> None:
    tool = ExternalApiTool(name="slow", method="GET", url=base_url + "/slow", timeout_seconds=0.3)
    outcome = await run(runner, tool)
    assert not outcome.success and f"timed out after 0.3 s waiting for GET {base_url}/slow" in (
        outcome.error or ""
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/closed", "{{missing}}/path", "not a url"])
async def test_unreachable_or_invalid_urls_are_tool_errors(runner: ToolRunner, url: str) -> None:
    outcome = await run(runner, ExternalApiTool(name="api", url=url))
    assert (
        not outcome.success
        and outcome.error
        and outcome.error.startswith("tool 'api' (external_api) failed:")
    )


async def test_requests_are_labelled_for_recordings(
    runner: ToolRunner, transport: SeenExtensions, base_url: str
) -> None:
    tool = ExternalApiTool(name="find_slots", method="GET", url=base_url + "/echo/x")
    await runner.run(tool, {}, dynamic={}, runtime={}, context={"node_logical_id": "node_1"})
    assert transport.seen[-1] == {"node_logical_id": "node_1", "purpose": "tool find_slots"}


class MissingRecording(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise CassetteMissError(f"no recording for {request.method} {request.url}")


async def test_a_recording_miss_is_not_hidden_as_a_tool_error() -> None:
    async with httpx.AsyncClient(transport=MissingRecording()) as http:
        with pytest.raises(CassetteMissError, match="no recording"):
            await ToolRunner(http=http).run(
                ExternalApiTool(name="api", url="http://api.test/x"), {}, dynamic={}, runtime={}
            )


# ------------------------------------------------------------------ http_request nodes


async def test_http_request_node(transport: SeenExtensions, base_url: str) -> None:
    node = HttpRequestNodeConfig(
        logical_id="node_fetch",
        url=base_url + "/echo/patients/{{patient_name}}",
        method="POST",
        headers={"x-day": "[[preferred_day]]"},
        body={"clinic": "{{clinic}}"},
    )
    async with httpx.AsyncClient(transport=transport) as http:
        outcome = await run_http_request(http, node, DYNAMIC, RUNTIME)
        failed = await run_http_request(
            http, node.model_copy(update={"url": base_url + "/fail"}), {}, {}
        )
    assert outcome.success and outcome.result["path"] == "/echo/patients/Ana Ruiz"
    assert outcome.result["headers"] == {"x-day": "tuesday"}
    assert outcome.result["body"] == '{"clinic":"north"}'
    assert transport.seen[0] == {"node_logical_id": "node_fetch", "purpose": "http_request"}
    assert not failed.success and "HTTP 503" in (failed.error or "")


# ------------------------------------------------------------------ inbuilt functions


async def test_current_time_uses_the_injected_clock(transport: SeenExtensions) -> None:
    clock = FixedClock(datetime(2026, 3, 3, 14, 5, tzinfo=UTC))
    async with httpx.AsyncClient(transport=transport) as http:
        runner = ToolRunner(http=http, clock=clock)
        utc = await run(runner, InbuiltFunctionTool(name="now", function_name="current_time"))
        paris = await run(
            runner, InbuiltFunctionTool(name="current_time"), {"timezone": "Europe/Paris"}
        )
        bad = await run(
            runner, InbuiltFunctionTool(name="current_time"), {"timezone": "Mars/Olympus"}
        )
    assert utc.result == {
        "iso_datetime": "2026-03-03T14:05:00+00:00",
        "date": "2026-03-03",
        "time": "14:05",
        "day_of_week": "Tuesday",
    }
    assert paris.result["time"] == "15:05"
    assert not bad.success and "unknown timezone 'Mars/Olympus'" in (bad.error or "")


async def test_end_call(runner: ToolRunner) -> None:
    outcome = await run(runner, InbuiltFunctionTool(name="end_call"), {"reason": "done"})
    assert outcome.result == {"call_ended": True, "reason": "done"}


async def test_unsupported_inbuilt_function_says_how_to_mock_it(runner: ToolRunner) -> None:
    outcome = await run(runner, InbuiltFunctionTool(name="transfer", function_name="transfer_call"))
    assert not outcome.success
    assert "inbuilt function 'transfer_call' is not supported" in (outcome.error or "")
    assert "supported: current_time, end_call" in (outcome.error or "")
    assert "mocks: tools: transfer:" in (outcome.error or "")


# ------------------------------------------------------------------ knowledge bases

DOCUMENTS = [
    "Opening hours: the clinic is open Monday to Friday, 8am to 6pm.",
    "Parking is free for patients in the north car park.",
    "Follow-up visits can be booked online or by phone; follow-up visits take 20 minutes.",
    "Flu vaccinations are available every Tuesday morning.",
]


@pytest.mark.parametrize(
    ("query", "top_k", "expected"),
    [
        ("When is the clinic open?", 3, [0]),
        ("how long is a follow-up visit", 3, [2]),
        ("parking for patients on tuesday", 3, [1, 3]),
        ("parking for patients on tuesday", 1, [1]),
        ("quantum chromodynamics", 3, []),
        ("the", 3, [0, 1]),  # only stop words: fall back to matching them
    ],
)
def test_search_documents_ranks_by_distinct_words(
    query: str, top_k: int, expected: list[int]
) -> None:
    results = search_documents(DOCUMENTS, query, top_k)
    assert [DOCUMENTS.index(r["document"]) for r in results] == expected


async def test_knowledge_base_tool(runner: ToolRunner) -> None:
    tool = KnowledgeBaseTool(name="faq", documents=DOCUMENTS)
    outcome = await run(runner, tool, {"query": "free parking?"})
    assert outcome.result == {
        "query": "free parking?",
        "results": [{"document": DOCUMENTS[1], "score": 2}],
    }
    other_name = await run(runner, tool, {"question": "opening hours"})
    assert other_name.result["results"][0]["document"] == DOCUMENTS[0]
    missing = await run(runner, tool, {})
    assert not missing.success and "needs a `query` string argument" in (missing.error or "")
