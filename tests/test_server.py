"""`harness serve` over real HTTP: a uvicorn server on 127.0.0.1, the scripted model behind it."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from serve_helpers import conditional, direct, evaluator, hydrated, node, scripted_settings

from harness.backends.api import PlatformClient
from harness.config import HarnessSettings
from harness.engine import MemoryRunStore
from harness.engine.registry import workflow_id_of
from harness.errors import ApiError, ConfigError
from harness.models.api import (
    Command,
    RunStatus,
    WorkflowRun,
    WorkflowRunInput,
    user_message_input,
)
from harness.server import (
    WorkflowCatalog,
    check_bind,
    create_app,
    is_loopback,
)
from harness.server.errors import ModelJSONResponse
from harness.server.guard import MAX_BODY_BYTES
from harness.testing import ScriptedModel, serve_asgi_in_thread, serve_scripted_model

CAPTURED = Path(__file__).resolve().parents[2] / "shared" / "platform" / "corpus" / "runs"
"""Answers the platform's official client captured or documents (CI has ../shared beside us)."""
TOKEN = "s3cret-token"
EVALUATOR_ID = "ee" * 12
SCRIPT = {
    "rules": [
        {"when": {"response_format": "verdict"}, "reply": {"json": {"passed": True, "score": 1}}},
        {
            "when": {"tool_offered": "done", "last_user": "bye"},
            "reply": {"tool_calls": [{"name": "done"}]},
        },
    ],
    "default": {"text": "How can I help?"},
}
CHAT = hydrated(
    [
        node("say_llm", "chat", main_response_config={"prompt": "Help the user."}),
        node("say_static", "bye", static_messages_config={"static_messages": ["Goodbye!"]}),
    ],
    [conditional("chat", "bye", "the user says goodbye") | {"name": "done"}],
    name="chat",
)
EVALUATED = hydrated(
    [node("say_static", "hello", static_messages_config={"static_messages": ["Hi"]})],
    name="evaluated",
    evaluation_config={"evaluator_workflow_id": EVALUATOR_ID},
)


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    with serve_scripted_model(ScriptedModel(SCRIPT)) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def workflows_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("workflows")
    (folder / f"{EVALUATOR_ID}.json").write_text(evaluator().model_dump_json())
    (folder / "evaluated.yaml").write_text(yaml.safe_dump(EVALUATED.model_dump(mode="json")))
    (folder / "notes.txt").write_text("not a workflow")
    return folder


@pytest.fixture(scope="module")
def server(model_url: str, workflows_dir: Path) -> Iterator[str]:
    app = create_app(scripted_settings(model_url), workflows_dir=workflows_dir)
    with serve_asgi_in_thread(app) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def guarded(model_url: str) -> Iterator[str]:
    with serve_asgi_in_thread(create_app(scripted_settings(model_url), token=TOKEN)) as base_url:
        yield base_url


@pytest.fixture
async def client(server: str) -> AsyncIterator[PlatformClient]:
    settings = HarnessSettings(api_url=f"{server}/workflows", max_retries=0)
    async with PlatformClient(settings) as platform:
        yield platform


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server) as raw:
        yield raw


def say(run_id: str | None, text: str) -> WorkflowRunInput:
    return WorkflowRunInput(
        command=Command.DATA, workflow_run_id=run_id, thread_to_node_inputs=user_message_input(text)
    )


# ------------------------------------------------------------------ happy paths


async def test_import_get_execute_and_read_back(client: PlatformClient) -> None:
    workflow_id = await client.import_workflow(CHAT)
    assert re.fullmatch(r"[0-9a-f]{24}", workflow_id)
    assert await client.import_workflow(CHAT) == workflow_id  # idempotent
    assert await client.get_workflow(workflow_id) == CHAT

    run = await client.execute(workflow_id, WorkflowRunInput(command=Command.START))
    assert run.status == RunStatus.WAITING_FOR_USER_INPUT
    assert run.workflow_id == workflow_id
    run = await client.execute(workflow_id, say(run.workflow_run_id, "hello"))
    assert run.status == RunStatus.WAITING_FOR_USER_INPUT
    run = await client.execute(workflow_id, say(run.workflow_run_id, "bye now"))
    assert run.status == RunStatus.COMPLETED
    assert len(run.input_output_pairs) == 3

    stored = await client.get_run(run.workflow_run_id or "")
    assert stored.model_dump(exclude={"workflow_config_fully_hydrated"}) == run.model_dump(
        exclude={"workflow_config_fully_hydrated"}
    )


async def test_answers_are_the_models_json_values(
    client: PlatformClient, http: httpx.AsyncClient
) -> None:
    """Answers are serialised by pydantic-core in one step (`ModelJSONResponse`): the same JSON
    values, aliases included, as the model's JSON dump; text that is not valid Unicode is sent
    as `\\u` escapes instead of failing the answer."""
    workflow_id = await client.import_workflow(CHAT)
    answer = await http.post(f"/v1/workflows/{workflow_id}/execute", json={})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    run = WorkflowRun.model_validate(answer.json())
    assert answer.json() == run.model_dump(mode="json", by_alias=True)
    envelope = (await http.get(f"/v1/workflows/{workflow_id}")).json()
    assert "_id" in envelope["workflow"]  # an alias, as the platform names it

    run.dynamic_variables = {"bad": "\ud800"}
    body = ModelJSONResponse(run).body
    assert body.isascii() and b"\\ud800" in body
    assert json.loads(body)["dynamic_variables"] == {"bad": "\ud800"}


async def test_wrapped_body_answers_a_turn_response(client: PlatformClient) -> None:
    workflow_id = await client.import_workflow(CHAT)
    turn = await client.execute(workflow_id, WorkflowRunInput(), wrapped=True)
    assert turn.turn_number == 1 and turn.is_waiting_for_input and not turn.is_completed
    turn = await client.execute(workflow_id, say(None, "bye"), wrapped=True, run_id=turn.run_id)
    assert turn.status == RunStatus.COMPLETED and turn.is_completed and turn.turn_number == 2
    assert any(e.get("type") == "end_workflow" for e in turn.events if isinstance(e, dict)) or any(
        getattr(e, "type", None) == "end_workflow" for e in turn.events
    )


async def test_version_zero_runs_and_other_versions_are_404(client: PlatformClient) -> None:
    workflow_id = await client.import_workflow(CHAT)
    run = await client.execute(workflow_id, WorkflowRunInput(), version=0)
    assert run.version_number == 0
    with pytest.raises(ApiError, match="version 3") as caught:
        await client.execute(workflow_id, WorkflowRunInput(), version=3)
    assert caught.value.status_code == 404


async def test_runs_are_listed_in_pages_with_filters(client: PlatformClient) -> None:
    workflow_id = await client.import_workflow(
        CHAT.model_copy(update={"runtime_variables": {"k": 1}})
    )
    for _ in range(3):
        await client.execute(workflow_id, WorkflowRunInput())
    page = await client.list_runs(workflow_id=workflow_id, size=2)
    assert (page.total, page.page, page.size, page.pages, len(page.items)) == (3, 1, 2, 2, 2)
    second = await client.list_runs(workflow_id=workflow_id, size=2, page=2)
    assert len(second.items) == 1
    waiting = await client.list_runs(
        workflow_id=workflow_id, status=RunStatus.WAITING_FOR_USER_INPUT
    )
    assert waiting.total == 3
    assert (await client.list_runs(workflow_id=workflow_id, status="completed")).total == 0
    assert len([r async for r in client.iter_runs(workflow_id=workflow_id, size=1)]) == 3


async def test_both_path_prefixes_answer(http: httpx.AsyncClient) -> None:
    imported = await http.post("/workflows/v1/workflows", json=CHAT.model_dump(mode="json"))
    workflow_id = imported.json()["workflow"]["_id"]
    for prefix in ("/v1", "/workflows/v1"):
        got = await http.get(f"{prefix}/workflows/{workflow_id}", params={"fully_hydrate": "false"})
        assert got.status_code == 200
        assert got.json()["workflow"]["workflow_config"]["nodes"] == ["chat", "bye"]
        url = got.json()["execution_url"]
        assert url == f"{http.base_url}{prefix}/workflows/{workflow_id}/execute"


# ------------------------------------------------------------------ the platform's envelopes


def _assert_has_shape(captured: Any, ours: Any, where: str = "answer") -> None:
    """Every key of a captured (or documented) answer is in ours, level by level."""
    if isinstance(captured, dict):
        assert isinstance(ours, dict), f"{where}: expected an object, got {ours!r:.80}"
        missing = sorted(set(captured) - set(ours))
        assert not missing, f"{where}: missing keys {missing}"
        for key, value in captured.items():
            _assert_has_shape(value, ours[key], f"{where}.{key}")
    elif isinstance(captured, list) and captured and isinstance(captured[0], dict):
        assert isinstance(ours, list) and ours, f"{where}: expected a non-empty list"
        _assert_has_shape(captured[0], ours[0], f"{where}[0]")


async def test_answers_have_the_platforms_captured_envelopes(http: httpx.AsyncClient) -> None:
    imported = await http.post("/v1/workflows", json=CHAT.model_dump(mode="json"))
    assert imported.status_code == 200
    workflow_id = imported.json()["workflow"]["_id"]
    assert re.fullmatch(r"[0-9a-f]{24}", workflow_id)

    got = (await http.get(f"/v1/workflows/{workflow_id}?fully_hydrate=true")).json()
    shape = json.loads((CAPTURED / "get_workflow_fully_hydrated_envelope.json").read_text())
    _assert_has_shape(shape["response_shape"], got)
    assert got["workflow"]["workflow_config"] == json.loads(CHAT.model_dump_json(by_alias=True))
    assert got["workflow"]["name"] == "chat"

    turn = await http.post(
        f"/v1/workflows/{workflow_id}/execute", json={"run_input": {"command": "start"}}
    )
    documented = json.loads((CAPTURED / "interactive_execute_response_documented.json").read_text())
    assert set(turn.json()) == set(documented["fields"])

    stored = (await http.get(f"/v1/workflow-runs/{turn.json()['run_id']}")).json()
    captured = json.loads((CAPTURED / "get_run_envelope.json").read_text())["response"]
    _assert_has_shape(captured, stored)
    record = stored["workflow_run"]
    assert record["_id"] == record["workflow_run"]["workflow_run_id"] == turn.json()["run_id"]
    assert record["created_at"].endswith("Z") and record["updated_at"] >= record["created_at"]

    listed = (await http.get("/v1/workflow-runs", params={"workflow_id": workflow_id})).json()
    assert {"workflow_runs", "total", "page", "size", "pages"} <= set(listed)
    _assert_has_shape(captured["workflow_run"], listed["workflow_runs"][0], "workflow_runs[0]")


async def test_a_turn_answers_the_input_hint_and_background_flags(client: PlatformClient) -> None:
    workflow_id = await client.import_workflow(CHAT)
    turn = await client.execute(workflow_id, WorkflowRunInput(), wrapped=True)
    assert turn.is_waiting_for_input
    hint = turn.next_input_hint
    assert hint is not None and hint["type"] == "busy_wait_for_user_message"
    assert hint["origin_node_logical_id"] == "chat"
    assert hint["logical_id"] in {getattr(e, "logical_id", None) for e in turn.events}
    assert (turn.has_active_companions, turn.has_background_work) == (False, False)
    done = await client.execute(workflow_id, say(None, "bye"), wrapped=True, run_id=turn.run_id)
    assert done.is_completed and done.next_input_hint is None and done.error is None


async def test_a_top_level_name_of_an_import_names_the_workflow_not_the_config(
    http: httpx.AsyncClient,
) -> None:
    # The platform's client copies name and description to the body's top level on import.
    unnamed = CHAT.model_copy(
        update={"workflow_config": CHAT.workflow_config.model_copy(update={"name": None})}
    )
    body = {**unnamed.model_dump(mode="json"), "name": "From the top", "description": "d"}
    document = (await http.post("/v1/workflows", json=body)).json()["workflow"]
    assert (document["name"], document["description"]) == ("From the top", "d")
    stored = document["workflow_config"]
    assert "name" not in {k for k in stored if k != "workflow_config"}
    assert stored["workflow_config"]["name"] == "From the top"


async def test_preloaded_workflows_and_their_evaluator(client: PlatformClient) -> None:
    assert (await client.get_workflow(EVALUATOR_ID)).workflow_config.name == "judge"
    evaluated_id = workflow_id_of(EVALUATED)
    run = await client.execute(evaluated_id, WorkflowRunInput())
    assert run.status == RunStatus.COMPLETED
    info = run.evaluation_run_info
    assert info is not None and info.evaluation_workflow_run_id
    evaluation = await client.get_run(info.evaluation_workflow_run_id)
    assert evaluation.is_evaluation_run and evaluation.source_workflow_run_id == run.workflow_run_id
    verdicts = [
        getattr(o, "structured_output", None)  # fetch nodes have none
        for o in evaluation.input_output_pairs[-1].run_output.thread_to_node_outputs["0"]
    ]
    assert {"passed": True, "score": 1} in verdicts


async def test_openapi_document_is_served(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/openapi.json")).json()
    assert {"/v1/workflows", "/v1/workflows/{workflow_id}/execute", "/v1/workflow-runs"} <= set(
        schema["paths"]
    )
    assert (await http.get("/docs")).status_code == 200


# ------------------------------------------------------------------ error paths


async def test_graph_errors_are_400_listing_every_problem(http: httpx.AsyncClient) -> None:
    broken = hydrated(
        [node("say_static", "a"), node("telephony_transfer", "call")],
        [direct("a", "nowhere")],
    )
    answer = await http.post("/v1/workflows", json=broken.model_dump(mode="json"))
    assert answer.status_code == 400
    body = answer.json()
    assert len(body["problems"]) >= 2
    assert any("telephony_transfer" in p for p in body["problems"])
    assert any("nowhere" in p for p in body["problems"])
    assert "graph problem" in body["detail"]


async def test_engine_refusals_are_400(http: httpx.AsyncClient, client: PlatformClient) -> None:
    workflow_id = await client.import_workflow(CHAT)
    answer = await http.post(f"/v1/workflows/{workflow_id}/execute", json={"command": "data"})
    assert answer.status_code == 400
    assert "needs a workflow_run_id" in answer.json()["detail"]


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/v1/workflows/" + "0" * 24),
        ("POST", "/v1/workflows/" + "0" * 24 + "/execute"),
        ("GET", "/v1/workflow-runs/" + "0" * 24),
        ("GET", "/workflows/v1/workflow-runs/" + "0" * 24),
    ],
)
async def test_unknown_ids_are_404(http: httpx.AsyncClient, method: str, path: str) -> None:
    answer = await http.request(method, path, json={"command": "start"})
    assert answer.status_code == 404
    assert "0" * 24 in answer.json()["detail"]


async def test_continuing_a_missing_run_or_another_workflows_run_is_404(
    http: httpx.AsyncClient, client: PlatformClient
) -> None:
    workflow_id = await client.import_workflow(CHAT)
    other_id = await client.import_workflow(EVALUATED)
    run = await client.execute(workflow_id, WorkflowRunInput())
    answer = await http.post(
        f"/v1/workflows/{other_id}/execute",
        json={"command": "data", "workflow_run_id": run.workflow_run_id},
    )
    assert answer.status_code == 404
    assert f"a run of workflow {workflow_id}" in answer.json()["detail"]
    answer = await http.post(
        f"/v1/workflows/{workflow_id}/execute",
        json={"command": "data", "workflow_run_id": "1" * 24},
    )
    assert answer.status_code == 404


async def test_a_command_on_a_finished_run_is_409(client: PlatformClient) -> None:
    workflow_id = await client.import_workflow(CHAT)
    run = await client.execute(workflow_id, WorkflowRunInput())
    stopped = await client.execute(
        workflow_id, WorkflowRunInput(command=Command.STOP, workflow_run_id=run.workflow_run_id)
    )
    assert stopped.status == RunStatus.CANCELLED
    with pytest.raises(ApiError, match="cancelled") as caught:
        await client.execute(workflow_id, say(run.workflow_run_id, "hello?"))
    assert caught.value.status_code == 409


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/v1/workflows/{wf}/execute", {"command": "jump"}, "command"),
        ("/v1/workflows/{wf}/execute", {"run_input": {"command": 5}}, "command"),
        ("/v1/workflows/{wf}/execute", {"run_input": {}, "run_id": "nope"}, "run_id"),
        ("/v1/workflows/{wf}/execute", {"workflow_run_id": "xyz"}, "workflow_run_id"),
        ("/v1/workflows/{wf}/execute", [1, 2], "body"),
        ("/v1/workflows", {"node_configs": [{"type": "say_llm", "logical_id": 5}]}, "logical_id"),
        ("/v1/workflows/{wf}/execute?version=-1", {}, "version"),
        ("/v1/workflows/abc/execute", {}, "workflow_id"),
    ],
)
async def test_malformed_requests_are_422_naming_the_field(
    http: httpx.AsyncClient, client: PlatformClient, path: str, body: Any, field: str
) -> None:
    workflow_id = await client.import_workflow(CHAT)
    answer = await http.post(path.format(wf=workflow_id), json=body)
    assert answer.status_code == 422, answer.text
    payload = answer.json()
    assert field in payload["message"]
    assert all(item["loc"] for item in payload["detail"])


async def test_invalid_json_is_422(http: httpx.AsyncClient) -> None:
    answer = await http.post(
        "/v1/workflows", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422
    assert "body" in answer.json()["message"]


@pytest.mark.parametrize(
    "query, field",
    [
        ("page=0", "page"),
        ("size=0", "size"),
        ("status=done", "status"),
        ("workflow_id=x", "workflow_id"),
    ],
)
async def test_bad_list_parameters_are_422(http: httpx.AsyncClient, query: str, field: str) -> None:
    answer = await http.get(f"/v1/workflow-runs?{query}")
    assert answer.status_code == 422
    assert field in answer.json()["message"]


# ------------------------------------------------------------------ the token


async def test_with_a_token_requests_without_it_get_401(guarded: str) -> None:
    async with httpx.AsyncClient(base_url=guarded) as raw:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
            answer = await raw.post("/v1/workflows", content=b"{broken", headers=headers)
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"] == "Bearer"
            assert "token" in answer.json()["detail"]
        assert (await raw.get("/workflows/v1/workflow-runs")).status_code == 401
        assert (await raw.get("/openapi.json")).status_code == 200
    settings = HarnessSettings(api_url=guarded, api_key=TOKEN, max_retries=0)
    async with PlatformClient(settings) as platform:
        workflow_id = await platform.import_workflow(CHAT)
        run = await platform.execute(workflow_id, WorkflowRunInput())
        assert run.status == RunStatus.WAITING_FOR_USER_INPUT
    async with PlatformClient(settings.model_copy(update={"api_key": "nope"})) as intruder:
        with pytest.raises(ApiError) as caught:
            await intruder.list_runs()
        assert caught.value.status_code == 401


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2", "[::1]"])
def test_loopback_binds_need_no_token(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org"])
def test_binding_beyond_loopback_needs_a_token(host: str) -> None:
    with pytest.raises(ConfigError, match="refusing to listen"):
        check_bind(host, None)
    check_bind(host, TOKEN)


def test_cli_refuses_an_open_bind_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.cli import main

    monkeypatch.delenv("HARNESS_SERVE_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2


# ------------------------------------------------------------------ the workflows folder


def test_workflow_files_get_their_ids(workflows_dir: Path) -> None:
    catalog = WorkflowCatalog()
    ids = catalog.load_dir(workflows_dir)
    assert sorted(ids) == sorted([EVALUATOR_ID, workflow_id_of(EVALUATED)])
    assert catalog.version(EVALUATOR_ID, 0) is catalog.get(EVALUATOR_ID)
    assert catalog.version(EVALUATOR_ID, 1) is None


def test_a_bad_workflows_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a folder"):
        create_app(HarnessSettings(), workflows_dir=tmp_path / "missing")
    broken = {"node_configs": [{"type": "say_llm", "logical_id": 5}]}
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(ConfigError, match=r"broken.json:1:\d+: `node_configs\[0\].logical_id`"):
        create_app(HarnessSettings(), workflows_dir=tmp_path)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ConfigError, match=r"broken.json:\d+:\d+: invalid JSON"):
        create_app(HarnessSettings(), workflows_dir=tmp_path)


# ------------------------------------------------------------------ the command and the safety net


def test_harness_serve_command_serves_preloaded_workflows(workflows_dir: Path) -> None:
    import os
    import subprocess
    import sys
    import time

    from harness.testing import bind_loopback_socket

    with bind_loopback_socket() as sock:
        port = sock.getsockname()[1]
    env = {**os.environ, "HARNESS_SERVE_TOKEN": TOKEN}
    command = [sys.executable, "-m", "harness.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--workflows", str(workflows_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "harness serve did not start in 20 s"
                time.sleep(0.1)
        assert health.json() == {"ok": True, "workflows": 2}
        headers = {"authorization": f"Bearer {TOKEN}"}
        got = httpx.get(f"{base}/v1/workflows/{EVALUATOR_ID}?fully_hydrate=true", headers=headers)
        hydrated = got.json()["workflow"]["workflow_config"]
        assert got.status_code == 200 and hydrated["workflow_config"]["name"] == "judge"
        assert httpx.get(f"{base}/v1/workflows/{EVALUATOR_ID}").status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


def test_unexpected_errors_are_a_logged_json_500(
    model_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_factory(http: httpx.AsyncClient, catalog: WorkflowCatalog) -> Any:
        raise RuntimeError("the engine could not be built")

    with serve_asgi_in_thread(create_app(broken_factory)) as base_url:
        answer = httpx.get(f"{base_url}/v1/workflow-runs")
    assert answer.status_code == 500
    body = answer.json()
    assert "RuntimeError: the engine could not be built" in body["detail"]
    assert "bug of harness serve" in body["hint"]
    error_id = body["detail"].split()[2].rstrip(":")
    assert any(error_id in r.getMessage() for r in caplog.records if r.name == "harness.server")


# ------------------------------------------------------------- issue 14: hostile requests


def _raw_exchange(base_url: str, request: bytes) -> tuple[bytes, bool]:
    """Send raw HTTP/1.1 bytes; the whole answer and whether the server then closed the socket."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        closed = False
        while True:
            try:
                chunk = sock.recv(65_536)
            except TimeoutError:
                break
            if not chunk:
                closed = True
                break
            answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            length = re.search(rb"content-length: (\d+)", head.lower())
            if length and len(body) >= int(length.group(1)):
                sock.settimeout(2)  # the answer is complete: does the server close?
    return answer, closed


class _FailingStore(MemoryRunStore):
    """A store whose listing fails once (an unexpected bug), then works."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def list(self, **query: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the store broke once")
        return await super().list(**query)


def test_a_500_closes_the_connection_and_never_poisons_later_listings(model_url: str) -> None:
    app = create_app(scripted_settings(model_url), store=_FailingStore())
    with serve_asgi_in_thread(app) as base_url:
        request = b"GET /v1/workflow-runs HTTP/1.1\r\nHost: x\r\n\r\n"
        answer, closed = _raw_exchange(base_url, request)
        assert answer.startswith(b"HTTP/1.1 500"), answer[:200]
        assert b"connection: close" in answer.lower()
        assert closed
        later = httpx.get(f"{base_url}/v1/workflow-runs")
    assert later.status_code == 200
    assert later.json()["total"] == 0


def test_a_lone_surrogate_is_refused_naming_the_field_and_never_stored(
    server: str, tmp_path: Path, model_url: str
) -> None:
    body = b'{"dynamic_variables": {"city": "Paris \\ud800"}}'
    workflow = workflow_id_of(EVALUATED)
    for base_url in (server,):
        before = httpx.get(f"{base_url}/v1/workflow-runs").json()["total"]
        answer = httpx.post(
            f"{base_url}/v1/workflows/{workflow}/execute",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["body", "dynamic_variables", "city"]
        assert "body.dynamic_variables.city" in answer.json()["message"]
        assert "surrogate" in answer.json()["message"]
        listing = httpx.get(f"{base_url}/v1/workflow-runs")
        assert listing.status_code == 200
        assert listing.json()["total"] == before
    # Same through a SQLite store (where the surrogate used to fail at storage time).
    app = create_app(scripted_settings(model_url), store=tmp_path / "runs.db")
    with serve_asgi_in_thread(app) as base_url:
        key = b'{"run_input": {"dynamic_variables": {"\\udfff": "x"}}}'
        imported = httpx.post(f"{base_url}/v1/workflows", json=EVALUATED.model_dump(mode="json"))
        workflow = imported.json()["workflow"]["_id"]
        answer = httpx.post(
            f"{base_url}/v1/workflows/{workflow}/execute",
            content=key,
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["body", "run_input", "dynamic_variables"]
        assert httpx.get(f"{base_url}/v1/workflow-runs").json()["total"] == 0


async def test_a_stored_lone_surrogate_still_renders_in_listings(model_url: str) -> None:
    """Second line of defence: a bad string that got into a run (not from a request) renders."""
    store = MemoryRunStore()
    app = create_app(scripted_settings(model_url), store=store)
    with serve_asgi_in_thread(app) as base_url:
        workflow = httpx.post(
            f"{base_url}/v1/workflows", json=EVALUATED.model_dump(mode="json")
        ).json()["workflow"]["_id"]
        run = httpx.post(f"{base_url}/v1/workflows/{workflow}/execute", json={}).json()
        stored = await store.load(run["workflow_run_id"])
        assert stored is not None
        stored.run.dynamic_variables = {"bad": "\ud800"}
        listing = httpx.get(f"{base_url}/v1/workflow-runs")
    assert listing.status_code == 200
    assert listing.json()["workflow_runs"][0]["workflow_run"]["dynamic_variables"] == {
        "bad": "\ud800"
    }


def test_deep_nesting_is_a_422_naming_where(server: str) -> None:
    workflow = workflow_id_of(EVALUATED)
    url = f"{server}/v1/workflows/{workflow}/execute"
    for depth in (70, 900, 100_000):
        nested = "[" * depth + "]" * depth
        body = f'{{"dynamic_variables": {{"x": {nested}}}}}'.encode()
        answer = httpx.post(url, content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 422, (depth, answer.text[:300])
        assert "nests deeper than 64 levels" in answer.json()["message"]
    assert httpx.get(f"{server}/v1/workflow-runs").status_code == 200


def test_request_bodies_are_limited_to_8_mib(server: str) -> None:
    workflow = workflow_id_of(EVALUATED)
    url = f"{server}/v1/workflows/{workflow}/execute"
    big = b'{"dynamic_variables": {"x": "' + b"a" * MAX_BODY_BYTES + b'"}}'
    answer = httpx.post(url, content=big, headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert f"larger than {MAX_BODY_BYTES} bytes" in answer.json()["detail"]
    # Without Content-Length (chunked): counted while reading, same answer.
    chunks = (big[i : i + 1_000_000] for i in range(0, len(big), 1_000_000))
    answer = httpx.post(url, content=chunks, headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert httpx.post(url, json={}).status_code == 200


@pytest.mark.parametrize(
    "expression",
    ["(" * 123 + "1" + ")" * 123, "NOT " * 5000 + "true", "(" * 900 + "1" + ")" * 900],
    ids=["123-parentheses", "5000-nots", "900-parentheses"],
)
def test_a_deeply_nested_expression_is_a_400_naming_the_edge(server: str, expression: str) -> None:
    edge = conditional("hello", "bye", "unused") | {
        "logical_id": "deep",
        "condition": {"condition_expression": expression},
    }
    flow = hydrated(
        [
            node("say_static", "hello", static_messages_config={"static_messages": ["Hi"]}),
            node("say_static", "bye", static_messages_config={"static_messages": ["Bye"]}),
        ],
        [edge],
    )
    answer = httpx.post(f"{server}/v1/workflows", json=flow.model_dump(mode="json"))
    assert answer.status_code == 400, answer.text[:300]
    assert "edge 'deep' condition_expression" in answer.json()["detail"]
    assert httpx.get(f"{server}/v1/workflow-runs").status_code == 200
