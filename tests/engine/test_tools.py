"""The tool runner: inline Python, external APIs, inbuilt functions, knowledge bases, mocks.

HTTP tools talk to a real Starlette app served by uvicorn on 127.0.0.1; inline Python runs in the
real sandbox. Tool configs use the platform's shapes (`interactly_configs/tool.py`).
"""

from __future__ import annotations

import asyncio
import json
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

from harness.engine.http_requests import curl_command, run_http_request
from harness.engine.offline_tools import search_documents
from harness.engine.sandbox import Sandbox, SandboxPolicy
from harness.engine.tool_variables import hide_bound_arguments, result_updates, template_arguments
from harness.engine.tools import ToolMock, ToolOutcome, ToolRunner
from harness.engine.variables import FixedClock
from harness.errors import CassetteMissError
from harness.models.api import (
    ExternalApiTool,
    HttpRequestNodeConfig,
    InbuiltFunctionTool,
    InlinePythonTool,
    KnowledgeBaseTool,
    ToolsConfig,
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
            "content_type": request.headers.get("content-type"),
            "authorization": request.headers.get("authorization"),
            "body": body.decode() or None,
        }
    )


async def listing(request: Request) -> Response:
    return JSONResponse([{"id": 1}, {"id": 2}])


async def fail(request: Request) -> Response:
    return PlainTextResponse("scheduler is down for maintenance", status_code=503)


async def slow(request: Request) -> Response:
    await asyncio.sleep(3)
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
        Route("/list", listing),
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


async def test_code_variable_substitution_can_be_turned_off(runner: ToolRunner) -> None:
    tool = InlinePythonTool(
        name="raw",
        code='def raw():\n    return "{{patient_name}} [[preferred_day]]"\n',
        allow_code_variable_substitution=False,
    )
    assert (await run(runner, tool)).result == "{{patient_name}} [[preferred_day]]"


async def test_inline_python_without_code_is_refused_by_name(runner: ToolRunner) -> None:
    outcome = await run(runner, InlinePythonTool(name="saved", tool_id="tool_abc"))
    assert outcome.error == (
        "tool 'saved' (inline_python) failed: the tool has no code (it refers to the saved tool "
        "'tool_abc'): pull the workflow fully hydrated (harness pull) or write the function in "
        "`code`"
    )


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


# ------------------------------------------------------------------ variable arguments

ECHO_TYPES = "def echo(**kw):\n    return {k: [type(v).__name__, v] for k, v in kw.items()}\n"


async def test_variable_arguments_pass_native_values(runner: ToolRunner) -> None:
    tool = InlinePythonTool.model_validate(
        {
            "name": "echo",
            "code": ECHO_TYPES,
            "variable_arguments": [
                {"argument_name": "visit", "source": "runtime", "variable_path": "visit"},
                {"argument_name": "kind", "variable_path": "visit.kind"},  # auto: runtime first
                {"argument_name": "clinic", "variable_path": "clinic"},  # auto: then dynamic
                {"argument_name": "who", "source": "dynamic", "variable_path": "patient_name"},
                {"argument_name": "limit", "source": "literal", "literal_value": 3},
                {"argument_name": "slot", "variable_path": "slots[1]", "default": "none"},
                {"argument_name": "gone", "variable_path": "nowhere", "default": 0},
            ],
        }
    )
    outcome = await runner.run(
        tool,
        {"limit": 99},  # overridden: bindings win by default
        dynamic=DYNAMIC,
        runtime={**RUNTIME, "slots": ["09:00", "10:00"]},
    )
    assert outcome.result == {
        "visit": ["dict", {"kind": "follow-up"}],
        "kind": ["str", "follow-up"],
        "clinic": ["str", "north"],
        "who": ["str", "Ana Ruiz"],
        "limit": ["int", 3],
        "slot": ["str", "10:00"],
        "gone": ["int", 0],
    }


async def test_a_non_overriding_binding_is_a_fallback(runner: ToolRunner) -> None:
    binding = {
        "argument_name": "day",
        "variable_path": "preferred_day",
        "expose_to_llm": True,
        "override_provided_value": False,
    }
    tool = InlinePythonTool.model_validate(
        {"name": "echo", "code": ECHO_TYPES, "variable_arguments": [binding]}
    )
    assert (await run(runner, tool, {"day": "friday"})).result == {"day": ["str", "friday"]}
    assert (await run(runner, tool)).result == {"day": ["str", "tuesday"]}


async def test_a_required_binding_without_its_variable_fails_the_call(runner: ToolRunner) -> None:
    tool = InlinePythonTool.model_validate(
        {
            "name": "echo",
            "code": ECHO_TYPES,
            "variable_arguments": [
                {"argument_name": "member", "variable_path": "member_id", "required": True}
            ],
        }
    )
    outcome = await run(runner, tool)
    assert outcome.error == (
        "tool 'echo' (inline_python) failed: variable_arguments['member'] is required but auto "
        "variable 'member_id' is not set"
    )


def test_bound_arguments_are_hidden_from_the_llm_unless_exposed() -> None:
    tool = InlinePythonTool.model_validate(
        {
            "name": "t",
            "variable_arguments": [
                {"argument_name": "member", "variable_path": "member_id"},
                {"argument_name": "day", "variable_path": "day", "expose_to_llm": True},
            ],
        }
    )
    schema = {
        "type": "object",
        "properties": {"member": {}, "day": {}, "note": {}},
        "required": ["member", "day"],
    }
    assert hide_bound_arguments(tool, schema) == {
        "type": "object",
        "properties": {"day": {}, "note": {}},
        "required": ["day"],
    }
    assert hide_bound_arguments(tool, None) is None


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        ({"argument_name": "class", "variable_path": "x"}, "not a usable argument name"),
        ({"argument_name": "a"}, "set variable_path"),
        (
            {"argument_name": "a", "variable_path": "x", "override_provided_value": False},
            "can never apply",
        ),
    ],
)
def test_unusable_bindings_are_refused_on_load(binding: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InlinePythonTool.model_validate({"name": "t", "variable_arguments": [binding]})


# ------------------------------------------------------------------ result mappings


def test_result_mappings_and_expansion() -> None:
    tool = InlinePythonTool.model_validate(
        {
            "name": "t",
            "expand_result_into_runtime_variables": True,
            "result_variable_mappings": [
                {"target_variable_name": "score", "result_path": "data.score"},
                {"target_variable_name": "first_id", "result_path": "rows[0].id"},
                {"target_variable_name": "tier", "result_path": "data.tier", "default": "n/a"},
                {"target_variable_name": "member", "result_path": "id", "scope": "workflow"},
                {"target_variable_name": "status", "result_path": "data.status"},
            ],
        }
    )
    result = {"id": 7, "status": "raw", "_private": 1, "data": {"score": 42, "status": "ok"}}
    result["rows"] = [{"id": "r1"}]
    outcome, updates = result_updates(tool, ToolOutcome.ok(result))
    assert outcome.success
    assert updates.thread == {
        "id": 7,
        "status": "ok",  # the explicit mapping wins over the expanded key
        "data": {"score": 42, "status": "ok"},
        "rows": [{"id": "r1"}],
        "score": 42,
        "first_id": "r1",
        "tier": "n/a",
    }
    assert updates.workflow == {"member": 7}


def test_a_required_mapping_missing_from_the_result_fails_the_call() -> None:
    tool = InlinePythonTool.model_validate(
        {
            "name": "t",
            "result_variable_mappings": [
                {"target_variable_name": "score", "result_path": "score", "required": True}
            ],
        }
    )
    outcome, updates = result_updates(tool, ToolOutcome.ok({"other": 1}))
    assert not outcome.success and updates.thread == {}
    assert outcome.error == (
        "result_variable_mappings: result_path 'score' (for [[score]]) is not in the tool's result"
    )


@pytest.mark.parametrize(
    ("mappings", "message"),
    [
        ([{"target_variable_name": "tool_result_success"}], "already writes as the outcome"),
        ([{"target_variable_name": "a"}, {"target_variable_name": "a"}], "more than once"),
        ([{"target_variable_name": "patient.dob"}], "must be a plain name"),
        ([{"target_variable_name": "_x"}], "must be a plain name"),
    ],
)
def test_unusable_mappings_are_refused_on_load(
    mappings: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        InlinePythonTool.model_validate({"name": "t", "result_variable_mappings": mappings})


# ------------------------------------------------------------------ tool node arguments


@pytest.mark.parametrize(
    ("preserve", "expected"),
    [
        (
            False,
            {
                "visit": '{"kind": "follow-up"}',
                "day": "tuesday",
                "missing": "[[missing]]",
                "text": "on tuesday",
                "nested": {"who": "Ana Ruiz"},
                "n": 3,
            },
        ),
        (
            True,
            {
                "visit": {"kind": "follow-up"},
                "day": "tuesday",
                "missing": None,
                "text": "on tuesday",
                "nested": {"who": "Ana Ruiz"},
                "n": 3,
            },
        ),
    ],
)
def test_tool_arguments_templating(preserve: bool, expected: dict[str, Any]) -> None:
    arguments = {
        "visit": "[[visit]]",
        "day": "[[preferred_day]]",
        "missing": "[[missing]]",
        "text": "on [[preferred_day]]",
        "nested": {"who": "{{patient_name}}"},
        "n": 3,
    }
    assert template_arguments(arguments, DYNAMIC, RUNTIME, preserve_types=preserve) == expected


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
    tool = ExternalApiTool(name="book", api_endpoint="http://127.0.0.1:9/never")
    outcome = await run(runner, tool)
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


async def test_get_fills_arguments_and_variables_and_drops_unused_arguments(
    runner: ToolRunner, base_url: str
) -> None:
    tool = ExternalApiTool(
        name="find_slots",
        api_endpoint=base_url + "/echo/{{clinic}}/slots/{day}",
        api_headers={"x-token": "Bearer {{api_token}}", "x-kind": "[[visit]]", "x-n": "{n}"},
    )
    assert tool.api_method == "GET"
    outcome = await run(runner, tool, {"day": "tuesday", "n": 2, "limit": 3})
    assert outcome.success
    assert outcome.result == {
        "method": "GET",
        "path": "/echo/north/slots/tuesday",
        "query": {},  # `limit` appears in no template: it has nowhere to go
        "headers": {"x-token": "Bearer tok-123", "x-kind": '{"kind": "follow-up"}', "x-n": "2"},
        "content_type": None,
        "authorization": None,
        "body": None,
    }


async def test_api_body_templates(runner: ToolRunner, base_url: str) -> None:
    tool = ExternalApiTool(
        name="book",
        api_method="PUT",
        api_endpoint=base_url + "/echo/book",
        api_body={
            "who": "{{patient_name}}",
            "when": "at {time}",
            "party": "{size}",
            "visit": "[[visit]]",
            "day": "[[preferred_day]]",
            "slots": ["{time}"],
        },
    )
    outcome = await run(runner, tool, {"time": "09:30", "size": 3})
    assert outcome.result["method"] == "PUT"
    assert json.loads(outcome.result["body"]) == {
        "who": "Ana Ruiz",
        "when": "at 09:30",
        "party": 3,  # a whole `{name}` keeps the argument's type
        "visit": '{"kind": "follow-up"}',
        "day": "tuesday",
        "slots": ["09:30"],
    }


async def test_api_body_as_json_text(runner: ToolRunner, base_url: str) -> None:
    tool = ExternalApiTool(
        name="book", api_method="POST", api_endpoint=base_url + "/echo/b", api_body='{"a": "{x}"}'
    )
    assert json.loads((await run(runner, tool, {"x": 1})).result["body"]) == {"a": 1}
    with pytest.raises(ValueError, match="api_body text must be valid JSON"):
        ExternalApiTool(name="bad", api_body="{not json")


async def test_an_argument_value_is_never_read_for_placeholders(
    runner: ToolRunner, base_url: str
) -> None:
    tool = ExternalApiTool(name="t", api_endpoint=base_url + "/echo/x", api_headers={"x-q": "{q}"})
    outcome = await run(runner, tool, {"q": "{{api_token}}"})
    assert outcome.result["headers"] == {"x-q": "{{api_token}}"}


async def test_a_template_argument_the_call_lacks_fails_by_name(
    runner: ToolRunner, base_url: str
) -> None:
    tool = ExternalApiTool(name="claims", api_endpoint=base_url + "/echo/claims/{claim_id}")
    outcome = await run(runner, tool, {"other": 1})
    assert outcome.error == (
        "tool 'claims' (external_api) failed: the request template uses {claim_id} but the call "
        "has no argument 'claim_id' (arguments: ['other'])"
    )


async def test_non_json_answers_come_back_as_text(runner: ToolRunner, base_url: str) -> None:
    text_tool = ExternalApiTool(name="t", api_endpoint=base_url + "/text")
    empty_tool = ExternalApiTool(name="e", api_method="POST", api_endpoint=base_url + "/empty")
    assert (await run(runner, text_tool)).result == "plain words"
    assert (await run(runner, empty_tool)).result is None


async def test_non_2xx_is_a_tool_error_with_status_and_body(
    runner: ToolRunner, base_url: str
) -> None:
    tool = ExternalApiTool(name="book", api_method="POST", api_endpoint=base_url + "/fail")
    outcome = await run(runner, tool)
    assert not outcome.success
    assert outcome.error == (
        f"tool 'book' (external_api) failed: HTTP 503 from POST {base_url}/fail: scheduler is down for maintenance"
    )


async def test_timeout_is_a_tool_error(runner: ToolRunner, base_url: str) -> None:
    tool = ExternalApiTool(name="slow", api_endpoint=base_url + "/slow", timeout_seconds=1)
    outcome = await run(runner, tool)
    assert not outcome.success and f"timed out after 1 s waiting for GET {base_url}/slow" in (
        outcome.error or ""
    )


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/closed", "{{missing}}/path", "not a url", None]
)
async def test_unreachable_invalid_or_missing_urls_are_tool_errors(
    runner: ToolRunner, url: str | None
) -> None:
    outcome = await run(runner, ExternalApiTool(name="api", api_endpoint=url))
    assert (
        not outcome.success
        and outcome.error
        and outcome.error.startswith("tool 'api' (external_api) failed:")
    )


async def test_integration_auth_needs_an_authorization_header_offline(
    runner: ToolRunner, base_url: str
) -> None:
    tool = ExternalApiTool.model_validate(
        {
            "name": "ehr",
            "api_endpoint": base_url + "/echo/ehr",
            "integration_auth": {"integration_id": "int_okta"},
        }
    )
    refused = await run(runner, tool)
    assert "integration_auth 'int_okta' needs the platform's OAuth token" in (refused.error or "")
    tool.api_headers["Authorization"] = "Bearer {{api_token}}"
    assert (await run(runner, tool)).result["authorization"] == "Bearer tok-123"


async def test_requests_are_labelled_for_recordings(
    runner: ToolRunner, transport: SeenExtensions, base_url: str
) -> None:
    tool = ExternalApiTool(name="find_slots", api_endpoint=base_url + "/echo/x")
    await runner.run(tool, {}, dynamic={}, runtime={}, context={"node_logical_id": "node_1"})
    assert transport.seen[-1] == {"node_logical_id": "node_1", "purpose": "tool find_slots"}


class MissingRecording(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise CassetteMissError(f"no recording for {request.method} {request.url}")


async def test_a_recording_miss_is_not_hidden_as_a_tool_error() -> None:
    async with httpx.AsyncClient(transport=MissingRecording()) as http:
        with pytest.raises(CassetteMissError, match="no recording"):
            await ToolRunner(http=http).run(
                ExternalApiTool(name="api", api_endpoint="http://api.test/x"),
                {},
                dynamic={},
                runtime={},
            )


# ------------------------------------------------------------------ http_request nodes


async def fetch(node: HttpRequestNodeConfig, transport: SeenExtensions) -> Any:
    async with httpx.AsyncClient(transport=transport) as http:
        return await run_http_request(http, node, DYNAMIC, RUNTIME)


async def test_http_request_node_get_with_query_parameters(
    transport: SeenExtensions, base_url: str
) -> None:
    node = HttpRequestNodeConfig(
        logical_id="node_fetch",
        url=base_url + "/echo/patients/{{patient_name}}",
        headers={"x-day": "[[preferred_day]]", "Authorization": "Bearer {{api_token}}"},
        query_parameters='{"day": "[[preferred_day]]", "limit": 1, "api_key": "{{api_token}}"}',
    )
    result = await fetch(node, transport)
    assert result.outcome.success and result.status_code == 200
    assert result.response["path"] == "/echo/patients/Ana Ruiz"
    assert result.response["query"] == {"day": "tuesday", "limit": "1", "api_key": "tok-123"}
    assert result.response["authorization"] == "Bearer tok-123"
    assert result.curl_command == (
        f"curl -X GET '{base_url}/echo/patients/Ana Ruiz?day=tuesday&limit=1&api_key=***' "
        "-H 'x-day: tuesday' -H 'Authorization: ***'"
    )
    assert "tok-123" not in result.curl_command
    assert transport.seen[0] == {"node_logical_id": "node_fetch", "purpose": "http_request"}


@pytest.mark.parametrize(
    ("content_type", "expected_type", "expected_body"),
    [
        ("application/json", "application/json", '{"clinic":"north","n":2}'),
        (
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded",
            "clinic=north&n=2",
        ),
        (
            "text/plain",
            "text/plain",
            '{"clinic": "{{clinic}}", "n": 2}'.replace("{{clinic}}", "north"),
        ),
    ],
)
async def test_http_request_node_body_content_types(
    transport: SeenExtensions,
    base_url: str,
    content_type: str,
    expected_type: str,
    expected_body: str,
) -> None:
    node = HttpRequestNodeConfig.model_validate(
        {
            "logical_id": "post",
            "url": base_url + "/echo/post",
            "method": "POST",
            "body_parameters": '{"clinic": "{{clinic}}", "n": 2}',
            "body_content_type": content_type,
        }
    )
    result = await fetch(node, transport)
    assert result.response["content_type"] == expected_type
    assert result.response["body"].replace(" ", "") == expected_body.replace(" ", "")
    assert "--data" in result.curl_command


async def test_http_request_node_multipart(transport: SeenExtensions, base_url: str) -> None:
    node = HttpRequestNodeConfig.model_validate(
        {
            "logical_id": "post",
            "url": base_url + "/echo/post",
            "method": "POST",
            "body_parameters": '{"clinic": "{{clinic}}"}',
            "body_content_type": "multipart/form-data",
        }
    )
    result = await fetch(node, transport)
    assert result.response["content_type"].startswith("multipart/form-data; boundary=")
    assert 'name="clinic"' in result.response["body"] and "north" in result.response["body"]


async def test_http_request_node_response_formats(transport: SeenExtensions, base_url: str) -> None:
    as_text = HttpRequestNodeConfig(logical_id="t", url=base_url + "/text", response_format="text")
    not_json = HttpRequestNodeConfig(logical_id="j", url=base_url + "/text")
    a_list = HttpRequestNodeConfig(logical_id="l", url=base_url + "/list")
    text_result = await fetch(as_text, transport)
    assert text_result.outcome.result == "plain words"
    assert text_result.response == {"response": "plain words"}
    failed = await fetch(not_json, transport)
    assert not failed.outcome.success and failed.status_code == 200
    assert "set response_format: text" in (failed.outcome.error or "")
    listed = await fetch(a_list, transport)
    assert listed.outcome.result == [{"id": 1}, {"id": 2}]
    assert listed.response == {"response": [{"id": 1}, {"id": 2}]}


async def test_http_request_node_failures(transport: SeenExtensions, base_url: str) -> None:
    down = await fetch(HttpRequestNodeConfig(logical_id="d", url=base_url + "/fail"), transport)
    assert not down.outcome.success and down.status_code == 503
    assert down.outcome.error == (
        f"HTTP 503 from GET {base_url}/fail: scheduler is down for maintenance"
    )
    slow = await fetch(
        HttpRequestNodeConfig(logical_id="s", url=base_url + "/slow", timeout=1), transport
    )
    assert "timed out after 1 s" in (slow.outcome.error or "") and slow.curl_command
    bad_query = HttpRequestNodeConfig(
        logical_id="q", url=base_url + "/text", query_parameters="day=1"
    )
    refused = await fetch(bad_query, transport)
    assert "http_request node q query_parameters is not a JSON object" in (
        refused.outcome.error or ""
    )
    no_url = await fetch(HttpRequestNodeConfig(logical_id="n"), transport)
    assert no_url.outcome.error == "http_request node n has no url: set url"


def test_curl_command_masks_secret_headers() -> None:
    from harness.engine.http_requests import HttpCall

    call = HttpCall(
        method="POST",
        url="https://api.test/x?token=abc&q=1",
        headers={"X-API-Key": "k1", "Cookie": "s=1", "Accept": "application/json"},
        json_body={"a": "it's"},
    )
    assert curl_command(call) == (
        "curl -X POST 'https://api.test/x?token=***&q=1' -H 'X-API-Key: ***' -H 'Cookie: ***' "
        "-H 'Accept: application/json' -H 'Content-Type: application/json' "
        '--data \'{"a": "it\'"\'"\'s"}\''
    )


# ------------------------------------------------------------------ inbuilt functions


async def test_inbuilt_functions_are_named_by_tool_id(transport: SeenExtensions) -> None:
    clock = FixedClock(datetime(2026, 3, 3, 14, 5, tzinfo=UTC))
    async with httpx.AsyncClient(transport=transport) as http:
        runner = ToolRunner(http=http, clock=clock)
        added = await run(runner, InbuiltFunctionTool(tool_id="math_add"), {"a": 2, "b": 0.5})
        utc = await run(runner, InbuiltFunctionTool(name="now", tool_id="current_time"))
        paris = await run(
            runner, InbuiltFunctionTool(tool_id="current_time"), {"timezone": "Europe/Paris"}
        )
        bad = await run(
            runner, InbuiltFunctionTool(tool_id="current_time"), {"timezone": "Mars/Olympus"}
        )
    assert added.result == 2.5
    assert utc.result == {
        "iso_datetime": "2026-03-03T14:05:00+00:00",
        "date": "2026-03-03",
        "time": "14:05",
        "day_of_week": "Tuesday",
    }
    assert paris.result["time"] == "15:05"
    assert not bad.success and "unknown timezone 'Mars/Olympus'" in (bad.error or "")


async def test_end_call(runner: ToolRunner) -> None:
    outcome = await run(runner, InbuiltFunctionTool(tool_id="end_call"), {"reason": "done"})
    assert outcome.result == {"call_ended": True, "reason": "done"}


async def test_an_inbuilt_function_that_cannot_run_offline_is_refused_by_name(
    runner: ToolRunner,
) -> None:
    tool = InbuiltFunctionTool(
        name="transfer", tool_id="call_forward", configurable_key="call_forward"
    )
    outcome = await run(runner, tool)
    assert outcome.error == (
        "tool 'transfer' (inbuilt_function) failed: inbuilt function 'call_forward' is not one "
        "the built-in engine runs offline (it runs: current_time, end_call, math_add); mock it "
        "in the scenario under `mocks: tools: transfer:`, or run the scenario on the API backend"
    )


async def test_an_unknown_tool_type_loads_but_is_refused_when_called(runner: ToolRunner) -> None:
    tools = ToolsConfig.model_validate(
        {"tools": [{"type": "athena_lookup", "name": "ehr", "x": 1}]}
    )
    tool = tools.tools[0]
    assert tools.model_dump(mode="json", exclude_unset=True) == {
        "tools": [{"type": "athena_lookup", "name": "ehr", "x": 1}]
    }
    outcome = await run(runner, tool)
    assert outcome.error == (
        "tool 'ehr' (athena_lookup) failed: the built-in engine cannot run tools of type "
        "'athena_lookup': mock the tool in the scenario (mocks: tools: ehr: ...) or run the "
        "scenario on the API backend"
    )


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


async def test_knowledge_base_stand_in(runner: ToolRunner) -> None:
    tool = KnowledgeBaseTool(name="faq", target_knowledge_base_ids=["kb_a", "kb_b"])
    assert (tool.result_runtime_variable_name, tool.category) == (
        "kb_tool_result",
        "Knowledge Base",
    )
    documents = {"kb_a": DOCUMENTS[:2], "kb_b": DOCUMENTS[2:], "kb_other": ["free parking"]}
    outcome = await runner.run(
        tool, {"query": "free parking?"}, dynamic={}, runtime={}, knowledge_bases=documents
    )
    assert outcome.result == {
        "query": "free parking?",
        "results": [{"document": DOCUMENTS[1], "score": 2}],
    }
    missing = await runner.run(tool, {}, dynamic={}, runtime={}, knowledge_bases=documents)
    assert "needs a `query` string argument" in (missing.error or "")


async def test_knowledge_base_without_documents_is_refused_by_name(runner: ToolRunner) -> None:
    tool = KnowledgeBaseTool(name="policy", target_knowledge_base_ids=["kb_policy"])
    outcome = await run(runner, tool, {"query": "copay"})
    assert outcome.error == (
        "tool 'policy' (knowledge_base) failed: knowledge base tool 'policy' searches the "
        "platform's knowledge bases ['kb_policy'], which the built-in engine cannot reach: mock "
        "the tool in the scenario (mocks: tools: policy: ...), or give stand-in documents under "
        "workflow_config.miscellaneous.harness_knowledge_bases (docs/engine.md, Tools)"
    )
