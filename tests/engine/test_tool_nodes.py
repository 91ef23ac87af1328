"""Tool nodes and HTTP request nodes in the engine, in the platform's shapes.

Rules from `interactly_configs/nodes/tool/tool_node.py` and `nodes/rest_api/http_request.py`:
the result name inherit rule, `preserve_argument_types`, `[[name]]`/`_success`/`_error`, the
ToolNodeRunOutput and HttpRequestNodeRunOutput fields, the `http_request` event. External calls go
to a real Starlette app on 127.0.0.1; inline Python runs in the real sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deepdiff import DeepDiff
from engine_helpers import (
    direct,
    event,
    node,
    said,
    say_llm,
    say_static,
    start,
    turn_events,
    workflow,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from harness.engine import Engine, LLMClient, ToolMock, ToolRunner
from harness.engine.tool_calls import KNOWLEDGE_BASE_ARGS_SCHEMA
from harness.engine.variables import FixedClock
from harness.models.api import (
    KNOWLEDGE_BASE_SIGNATURE,
    HttpRequestNodeConfig,
    NodeOutput,
    ToolNodeConfig,
    ToolsConfig,
    WorkflowRun,
    effective_result_variable_name,
    user_message_input,
)
from harness.testing.scripted_model import ScriptedModel
from harness.testing.server_thread import serve_asgi_in_thread

CORPUS = Path(__file__).parents[3] / "shared" / "platform" / "corpus"


async def claims(request: Request) -> Response:
    return JSONResponse(
        {
            "claim": request.path_params["claim_id"],
            "auth": request.headers.get("authorization"),
            "query": dict(request.query_params),
            "body": (await request.body()).decode() or None,
        }
    )


async def down(request: Request) -> Response:
    return PlainTextResponse("maintenance", status_code=503)


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/claims/{claim_id}", claims, methods=["GET", "POST"]),
            Route("/down", down),
        ]
    )
    with serve_asgi_in_thread(app) as root:
        yield root


def state(run: WorkflowRun) -> dict[str, Any]:
    found = [e for e in turn_events(run) if e.type == "workflow_show_state"]
    return dict(found[-1].get("runtime_variables") or {}) if found else {}


def outputs(run: WorkflowRun) -> list[NodeOutput]:
    output = run.input_output_pairs[-1].run_output
    assert output is not None
    return [o for nodes in output.thread_to_node_outputs.values() for o in nodes]  # type: ignore[misc]


def inline(name: str, code: str = "def f():\n    return 1\n", **fields: Any) -> dict[str, Any]:
    return {"type": "inline_python", "name": name, "code": code, **fields}


# ------------------------------------------------------------------ the result name


@pytest.mark.parametrize(
    ("node_name", "tool_name", "expected"),
    [
        (None, "kb_answer", "kb_answer"),
        ("tool_result", "kb_answer", "kb_answer"),  # the default means "inherit": the tool wins
        ("scoring", "kb_answer", "scoring"),
        ("scoring", None, "scoring"),
        (None, None, "tool_result"),
    ],
)
async def test_the_result_name_follows_the_platforms_inherit_rule(
    llm: LLMClient,
    clock: FixedClock,
    node_name: str | None,
    tool_name: str | None,
    expected: str,
) -> None:
    tool = inline("score")
    if tool_name:
        tool["result_runtime_variable_name"] = tool_name
    fields: dict[str, Any] = {"tool_config": tool}
    if node_name:
        fields["result_runtime_variable_name"] = node_name
    config = node("tool_node", "call", **fields)
    assert effective_result_variable_name(ToolNodeConfig.model_validate(config)) == expected

    runner = ToolRunner(http=llm.http, mocks={"score": ToolMock(returns={"tier": "high"})})
    run = await Engine(llm=llm, clock=clock, tools=runner).execute(workflow([config]), start())
    variables = state(run)
    assert {
        k: variables.get(k) for k in (expected, f"{expected}_success", f"{expected}_error")
    } == {
        expected: {"tier": "high"},
        f"{expected}_success": True,
        f"{expected}_error": None,
    }
    written = {"kb_answer", "scoring", "tool_result"} - {expected}
    assert not written & set(variables)


# ------------------------------------------------------------------ arguments


async def test_tool_arguments_are_text_unless_types_are_preserved(
    llm: LLMClient, clock: FixedClock
) -> None:
    code = "def kinds(**kw):\n    return {k: [type(v).__name__, v] for k, v in kw.items()}\n"
    arguments = {"visit": "[[visit]]", "n": "[[n]]", "gone": "[[gone]]", "who": "Dr. {{name}}"}
    flow = workflow(
        [
            node(
                "tool_node", "as_text", tool_config=inline("kinds", code), tool_arguments=arguments
            ),
            node(
                "tool_node",
                "typed",
                tool_config=inline("kinds", code),
                tool_arguments=arguments,
                preserve_argument_types=True,
                result_runtime_variable_name="typed",
            ),
        ],
        [direct("as_text", "typed")],
        dynamic_variables={"name": "Ruiz"},
        runtime_variables={"visit": {"kind": "follow-up"}, "n": 3},
    )
    run = await Engine(llm=llm, clock=clock).execute(flow, start())
    variables = state(run)
    assert variables["tool_result"] == {
        "visit": ["str", '{"kind": "follow-up"}'],
        "n": ["str", "3"],
        "gone": ["str", "[[gone]]"],  # unresolved: the literal placeholder, as on the platform
        "who": ["str", "Dr. Ruiz"],
    }
    assert variables["typed"] == {
        "visit": ["dict", {"kind": "follow-up"}],
        "n": ["int", 3],
        "gone": ["NoneType", None],
        "who": ["str", "Dr. Ruiz"],
    }


async def test_a_tool_missing_arguments_fails_and_the_run_goes_on(
    llm: LLMClient, clock: FixedClock
) -> None:
    # The shape of the platform's example 11: empty tool_arguments for a function that needs some.
    code = "def risk(age, smokes):\n    return age\n"
    flow = workflow(
        [
            node(
                "tool_node",
                "calc",
                tool_config=inline("risk", code),
                tool_arguments=None,
                result_runtime_variable_name="risk",
            ),
            say_static("tell", "[[risk_success]]"),
        ],
        [direct("calc", "tell")],
    )
    run = await Engine(llm=llm, clock=clock).execute(flow, start())
    assert said(run) == ["false"]
    output = next(o for o in outputs(run) if o.type == "tool_node")
    assert output.success is False and output.tool_result is None
    assert "missing 2 required positional arguments: 'age' and 'smokes'" in (
        output.error_message or ""
    )
    assert state(run)["risk_error"] == output.error_message


# ------------------------------------------------------------------ results


async def test_mapped_results_and_the_outcome_write_order(
    llm: LLMClient, clock: FixedClock
) -> None:
    tool = inline(
        "lookup",
        result_runtime_variable_name="member",
        expand_result_into_runtime_variables=True,
        result_variable_mappings=[
            {"target_variable_name": "member", "result_path": "data"},  # the base name: allowed
            {"target_variable_name": "plan", "result_path": "data.plan"},
        ],
    )
    result = {"data": {"plan": "gold"}, "status": "ok", "member_success": "forged"}
    runner = ToolRunner(http=llm.http, mocks={"lookup": ToolMock(returns=result)})
    flow = workflow([node("tool_node", "call", tool_config=tool)])
    run = await Engine(llm=llm, clock=clock, tools=runner).execute(flow, start())
    variables = state(run)
    assert variables["member"] == {"plan": "gold"}  # the mapping replaced the whole result
    assert (variables["plan"], variables["status"]) == ("gold", "ok")
    assert variables["member_success"] is True  # written last: tool data cannot forge it
    output = next(o for o in outputs(run) if o.type == "tool_node")
    assert output.tool_result == result


def test_a_mapping_onto_the_nodes_outcome_is_refused_on_load() -> None:
    tool = inline("t", result_variable_mappings=[{"target_variable_name": "scoring_success"}])
    with pytest.raises(ValueError, match="this tool node writes as the outcome"):
        ToolNodeConfig.model_validate(
            node("tool_node", "n", tool_config=tool, result_runtime_variable_name="scoring")
        )


# ------------------------------------------------------------------ external API tool nodes


async def test_an_external_api_tool_node(llm: LLMClient, clock: FixedClock, api_url: str) -> None:
    tool = {
        "type": "external_api",
        "name": "get_claim_status",
        "api_endpoint": api_url + "/claims/{claim_id}",
        "api_method": "POST",
        "api_headers": {"Authorization": "Bearer {{token}}"},
        "api_body": {"member": "[[member_id]]", "claim": "{claim_id}"},
        "result_runtime_variable_name": "claim_status_result",
    }
    flow = workflow(
        [
            node("tool_node", "claim", tool_config=tool, tool_arguments={"claim_id": "CLM-1"}),
            say_static("tell", "[[claim_status_result.claim]] [[claim_status_result_success]]"),
        ],
        [direct("claim", "tell")],
        dynamic_variables={"token": "tok-9"},
        runtime_variables={"member_id": "M-7"},
    )
    run = await Engine(llm=llm, clock=clock).execute(flow, start())
    assert said(run) == ["CLM-1 true"]
    result = state(run)["claim_status_result"]
    assert result["auth"] == "Bearer tok-9"
    assert json.loads(result["body"]) == {"member": "M-7", "claim": "CLM-1"}


# ------------------------------------------------------------------ http_request nodes


async def test_http_request_node_output_event_and_variables(engine: Engine, api_url: str) -> None:
    flow = workflow(
        [
            node(
                "http_request",
                "fetch",
                url=api_url + "/claims/C-{{claim}}",
                headers={"Authorization": "Bearer {{token}}"},
                query_parameters='{"member": "[[member_id]]", "limit": 1}',
                timeout=5,
            ),
            say_static("tell", "[[http_request_result.claim]] [[http_request_result_success]]"),
        ],
        [direct("fetch", "tell")],
        dynamic_variables={"claim": "1", "token": "tok-9"},
        runtime_variables={"member_id": "M-7"},
    )
    run = await engine.execute(flow, start())
    assert said(run) == ["C-1 true"]
    expected_curl = f"curl -X GET '{api_url}/claims/C-1?member=M-7&limit=1' -H 'Authorization: ***'"
    http_event = event(run, "http_request")
    assert {k: http_event.get(k) for k in ("curl_command", "status_code", "error")} == {
        "curl_command": expected_curl,
        "status_code": 200,
        "error": None,
    }
    assert http_event.get("response_body")["query"] == {"member": "M-7", "limit": "1"}
    output = next(o for o in outputs(run) if o.type == "http_request")
    dumped = output.model_dump(mode="json", exclude_unset=True)
    # HttpRequestNodeRunOutput's fields; not the tool node's `tool_result`/`error_message`.
    assert {"success", "http_status_code", "http_response", "curl_command"} <= set(dumped)
    assert not {"tool_result", "error_message", "structured_output"} & set(dumped)
    assert (dumped["success"], dumped["http_status_code"]) == (True, 200)
    assert dumped["curl_command"] == expected_curl


async def test_a_failing_http_request_node_records_status_and_error(
    engine: Engine, api_url: str
) -> None:
    flow = workflow(
        [
            node("http_request", "fetch", url=api_url + "/down", result_runtime_variable_name="r"),
            say_static("tell", "[[r_success]] / [[r_error]]"),
        ],
        [direct("fetch", "tell")],
    )
    run = await engine.execute(flow, start())
    assert said(run) == [f"false / HTTP 503 from GET {api_url}/down: maintenance"]
    output = next(o for o in outputs(run) if o.type == "http_request")
    assert (output.success, output.http_status_code) == (False, 503)
    assert (
        event(run, "http_request").get("error") == f"HTTP 503 from GET {api_url}/down: maintenance"
    )


async def test_secret_variables_never_reach_the_stored_curl_command(
    engine: Engine, api_url: str
) -> None:
    flow = workflow(
        [
            node(
                "http_request",
                "fetch",
                url=api_url + "/claims/{{claim_key}}",
                headers={"X-Trace": "{{claim_key}}"},
            )
        ]
    )
    run = await engine.execute(flow, start(secret_variables={"claim_key": "s3cr3t-9"}))
    http_event = event(run, "http_request")
    assert http_event.get("status_code") == 200
    assert http_event.get("curl_command") == (
        f"curl -X GET {api_url}/claims/********** -H 'X-Trace: **********'"
    )
    output = next(o for o in outputs(run) if o.type == "http_request")
    assert "s3cr3t-9" not in (output.curl_command or "")


# ------------------------------------------------------------------ tools offered to an LLM


async def test_what_the_llm_is_offered(engine: Engine, model: ScriptedModel) -> None:
    kb = {"type": "knowledge_base", "name": "policy", "target_knowledge_base_ids": ["kb_1"]}
    bound = inline(
        "lookup",
        args_schema={
            "type": "object",
            "properties": {"member_id": {"type": "string"}, "topic": {"type": "string"}},
            "required": ["member_id", "topic"],
        },
        variable_arguments=[{"argument_name": "member_id", "variable_path": "member_id"}],
    )
    flow = workflow([say_llm("chat", "Help.", tools_config={"tools": [kb, bound]})])
    await engine.execute(flow, start(thread_to_node_inputs=user_message_input("hi")))
    offered = {t["function"]["name"]: t["function"] for t in model.requests[0].body["tools"]}
    assert offered["policy"]["parameters"] == KNOWLEDGE_BASE_ARGS_SCHEMA
    assert offered["policy"]["description"] == KNOWLEDGE_BASE_SIGNATURE
    assert offered["lookup"][
        "parameters"
    ] == {  # the bound argument is the workflow's, not the LLM's
        "type": "object",
        "properties": {"topic": {"type": "string"}},
        "required": ["topic"],
    }


# ------------------------------------------------------------------ the platform's configs


def _corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("wf_*.json"))


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/platform/corpus is not beside the repo")
def test_every_tool_and_tool_node_of_the_corpus_round_trips() -> None:
    checked = 0
    for path in _corpus_files():
        config = json.loads(path.read_text())
        settings = config.get("workflow_config") or {}
        pieces: list[tuple[Any, dict[str, Any]]] = []
        if settings.get("tools_config"):
            pieces.append((ToolsConfig, settings["tools_config"]))
        for item in config["node_configs"]:
            if item["type"] == "tool_node":
                pieces.append((ToolNodeConfig, item))
            if item["type"] == "http_request":
                pieces.append((HttpRequestNodeConfig, item))
            if item.get("tools_config"):
                pieces.append((ToolsConfig, item["tools_config"]))
        for model, data in pieces:
            dumped = model.model_validate(data).model_dump(
                mode="json", by_alias=True, exclude_unset=True
            )
            assert not DeepDiff(data, dumped), f"{path.name}: {DeepDiff(data, dumped)}"
            checked += 1
    assert checked >= 7  # 5 tools_configs and 2 tool nodes in the sample
