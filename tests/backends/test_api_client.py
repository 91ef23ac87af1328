"""The platform API client against a real HTTP server on 127.0.0.1, with injected faults."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from platform_fakes import (
    API_KEY,
    FAST_RETRY,
    TEAM_ID,
    USER_ID,
    RawServer,
    Received,
    Reply,
    ScriptedPlatform,
    make_settings,
)

from harness.backends import (
    ApiBackend,
    Backend,
    ExecuteOutcomeUnknownError,
    PlatformClient,
    RetryPolicy,
    RunTarget,
)
from harness.config import HarnessSettings
from harness.errors import ApiError, ConfigError
from harness.models import (
    Command,
    RunsPage,
    RunStatus,
    TurnResponse,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
    WorkflowRunInput,
    user_message_input,
)

DATA = Path(__file__).parent.parent / "data"
CAPTURED = Path(__file__).resolve().parents[3] / "shared" / "platform" / "corpus" / "runs"
"""Shapes the platform's official client documents or captured (CI has ../shared beside us)."""
WORKFLOW_ID = "5eb7cf5a86d9755df3a6c593"
RUN_ID = "65a1b2c3d4e5f60718293a4b"
RUN = {"workflow_run_id": RUN_ID, "workflow_id": WORKFLOW_ID, "status": "waiting_for_user_input"}


def start_input() -> WorkflowRunInput:
    return WorkflowRunInput(command=Command.START, dynamic_variables={"patient": "Ana"})


@pytest.fixture
async def client(platform: ScriptedPlatform) -> AsyncIterator[PlatformClient]:
    async with PlatformClient(make_settings(platform.url), retry=FAST_RETRY) as api:
        yield api


def client_for(url: str, **overrides: Any) -> PlatformClient:
    retry = overrides.pop("retry", FAST_RETRY)
    return PlatformClient(make_settings(url, **overrides), retry=retry)


# ------------------------------------------------------------------ requests and shapes


async def test_execute_sends_the_flat_seed_body_with_auth_headers(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    platform.reply(Reply(json=json.loads((DATA / "seed_response.json").read_text())))
    run = await client.execute(WORKFLOW_ID, start_input(), version=3)
    assert isinstance(run, WorkflowRun)
    assert run.version_name == "Initial Version"
    [sent] = platform.requests
    assert (sent.method, sent.path) == ("POST", f"/workflows/v1/workflows/{WORKFLOW_ID}/execute")
    assert sent.query == {"version": "3"}
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert (sent.headers["teamid"], sent.headers["uuid"]) == (TEAM_ID, USER_ID)
    assert sent.headers["content-type"] == "application/json"
    assert sent.body["command"] == "start"
    assert sent.body["workflow_id"] == WORKFLOW_ID
    assert sent.body["dynamic_variables"] == {"patient": "Ana"}
    assert "workflow_run_id" not in sent.body


async def test_execute_without_version_sends_no_query(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    platform.reply(Reply(json=RUN))
    await client.execute(WORKFLOW_ID, start_input())
    assert platform.requests[0].query == {}


class _Lookups:
    """A finder first on `sys.meta_path` that counts the searches for some modules."""

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.count = 0

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name in self.names:
            self.count += 1


async def test_requests_do_not_search_the_import_path_each_time(
    platform: ScriptedPlatform, client: PlatformClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpcore looks for `sniffio` with an import in every async request (four times): were it
    # not installed, each look would search sys.path again (measured: ~0.5 ms of CPU a request).
    platform.reply(Reply(json=RUN))
    await client.execute(WORKFLOW_ID, start_input())  # connections and imports in place
    lookups = _Lookups({"sniffio"})
    monkeypatch.setattr(sys, "meta_path", [lookups, *sys.meta_path])
    for _ in range(3):
        platform.reply(Reply(json=RUN))
        await client.execute(WORKFLOW_ID, start_input())
    assert lookups.count == 0


async def test_execute_continues_a_run_by_id_in_the_flat_shape(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    platform.reply(Reply(json=RUN))
    turn = WorkflowRunInput(command=Command.DATA, thread_to_node_inputs=user_message_input("hi"))
    run = await client.execute(WORKFLOW_ID, turn, run_id=RUN_ID)
    assert run.status is RunStatus.WAITING_FOR_USER_INPUT
    body = platform.requests[0].body
    assert body["workflow_run_id"] == RUN_ID
    assert body["thread_to_node_inputs"]["0"]["node_run_inputs"][0]["messages"] == [
        {"role": "user", "content": "hi"}
    ]


async def test_execute_wrapped_sends_run_input_and_run_id_and_returns_the_turn(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    turn = {
        "run_id": RUN_ID,
        "status": "waiting_for_user_input",
        "turn_number": 2,
        "events": [{"type": "assistant_response", "content": "Hello"}],
        "is_waiting_for_input": True,
        "is_completed": False,
    }
    platform.reply(Reply(json=turn))
    data = WorkflowRunInput(command=Command.DATA, thread_to_node_inputs=user_message_input("hi"))
    answer = await client.execute(WORKFLOW_ID, data, wrapped=True, run_id=RUN_ID)
    assert isinstance(answer, TurnResponse)
    assert (answer.turn_number, answer.is_waiting_for_input) == (2, True)
    body = platform.requests[0].body
    assert set(body) == {"run_input", "run_id"}
    assert body["run_id"] == RUN_ID
    assert body["run_input"]["command"] == "data"


async def test_get_run_reads_the_stored_run(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    platform.reply(Reply(json={"workflow_run": {"_id": RUN_ID, "workflow_run": RUN}}))
    run = await client.get_run(RUN_ID)
    assert run.workflow_run_id == RUN_ID
    assert (platform.requests[0].method, platform.requests[0].path) == (
        "GET",
        f"/workflows/v1/workflow-runs/{RUN_ID}",
    )


async def test_list_runs_sends_filters_and_one_based_pages(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    row = {"_id": RUN_ID, "team_id": TEAM_ID, "workflow_run": RUN}
    platform.reply(Reply(json={"workflow_runs": [row], "total": 1, "page": 1, "size": 10}))
    page = await client.list_runs(workflow_id=WORKFLOW_ID, status=RunStatus.COMPLETED, size=10)
    assert isinstance(page, RunsPage)
    assert page.items[0].workflow_run_id == RUN_ID
    assert page.pages == 1  # derived from total and size when the answer has no `pages`
    assert platform.requests[0].path == "/workflows/v1/workflow-runs"
    assert platform.requests[0].query == {
        "workflow_id": WORKFLOW_ID,
        "status": "completed",
        "page": "1",
        "size": "10",
    }


async def test_iter_runs_walks_every_page(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    def pages(received: Received) -> Reply:
        page = int(received.query["page"])
        items = [{**RUN, "logical_id": f"run-{page}-{i}"} for i in range(2 if page < 3 else 1)]
        return Reply(json={"items": items, "total": 5, "page": page, "size": 2, "pages": 3})

    platform.handle(pages)
    ids = [run.logical_id async for run in client.iter_runs(size=2)]
    assert ids == ["run-1-0", "run-1-1", "run-2-0", "run-2-1", "run-3-0"]
    assert [r.query["page"] for r in platform.requests] == ["1", "2", "3"]


async def test_list_runs_refuses_page_zero_and_unknown_status(client: PlatformClient) -> None:
    with pytest.raises(ApiError, match="1-based"):
        await client.list_runs(page=0)
    with pytest.raises(ApiError, match="'done' is not a run status"):
        await client.list_runs(status="done")


def _hydrated_answers() -> list[Any]:
    """The get-workflow answer in the platform's envelope, single-wrapped, and bare."""
    config = json.loads((DATA / "seed_response.json").read_text())["workflow_config_fully_hydrated"]
    document = {"_id": WORKFLOW_ID, "team_id": TEAM_ID, "workflow_config": config}
    return [
        {"workflow": document, "execution_url": "https://platform.example/execute"},
        {"workflow": config, "execution_url": ""},
        config,
    ]


@pytest.mark.parametrize("answer", _hydrated_answers(), ids=["envelope", "wrapped", "bare"])
async def test_get_workflow_asks_for_the_hydrated_config(
    platform: ScriptedPlatform, client: PlatformClient, answer: Any
) -> None:
    platform.reply(Reply(json=answer))
    config = await client.get_workflow(WORKFLOW_ID)
    assert isinstance(config, WorkflowConfigFullyHydrated)
    assert config.node_configs[0].type == "worker_llm"
    assert platform.requests[0].path == f"/workflows/v1/workflows/{WORKFLOW_ID}"
    assert platform.requests[0].query == {"fully_hydrate": "true"}


async def test_get_workflow_json_is_the_config_as_sent_and_version_is_a_query(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    answer = _hydrated_answers()[0]
    platform.reply(Reply(json=answer))
    raw = await client.get_workflow_json(WORKFLOW_ID, version=2)
    assert raw == answer["workflow"]["workflow_config"]
    assert platform.requests[0].query == {"fully_hydrate": "true", "version": "2"}


async def test_a_workflow_that_is_not_hydrated_is_a_clear_error(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    document = {"_id": WORKFLOW_ID, "workflow_config": {"name": "clinic", "nodes": ["n1"]}}
    platform.reply(Reply(json={"workflow": document, "execution_url": ""}))
    with pytest.raises(ApiError, match="not the fully hydrated config") as info:
        await client.get_workflow(WORKFLOW_ID)
    assert f"GET {platform.url}/v1/workflows/{WORKFLOW_ID}" in str(info.value)
    assert "HARNESS_API_URL" in str(info.value)


@pytest.mark.parametrize(
    "answer",
    [
        {"workflow": {"_id": WORKFLOW_ID, "team_id": TEAM_ID}, "execution_url": ""},
        {"workflow_id": WORKFLOW_ID},
        {"id": WORKFLOW_ID},
        {"_id": WORKFLOW_ID},
        WORKFLOW_ID,
    ],
)
async def test_import_workflow_returns_the_new_id(
    platform: ScriptedPlatform, client: PlatformClient, answer: Any
) -> None:
    platform.reply(Reply(status=201, json=answer))
    config = WorkflowConfigFullyHydrated.model_validate({"workflow_config": {"name": "clinic"}})
    assert await client.import_workflow(config) == WORKFLOW_ID
    sent = platform.requests[0]
    assert (sent.method, sent.path) == ("POST", "/workflows/v1/workflows")
    assert sent.body["workflow_config"]["name"] == "clinic"
    # As the platform's client does: the platform names the workflow from the top level.
    assert sent.body["name"] == "clinic"


async def test_import_workflow_without_an_id_in_the_answer_is_an_error(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    platform.reply(Reply(json={"ok": True}))
    with pytest.raises(ApiError, match="names no workflow id"):
        await client.import_workflow(WorkflowConfigFullyHydrated())


async def test_the_captured_get_run_envelope_parses(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    captured = json.loads((CAPTURED / "get_run_envelope.json").read_text())["response"]
    platform.reply(Reply(json=captured))
    run = await client.get_run(RUN_ID)
    state = captured["workflow_run"]["workflow_run"]
    assert (run.workflow_run_id, run.workflow_id, run.status) == (
        state["workflow_run_id"],
        state["workflow_id"],
        RunStatus.COMPLETED,
    )
    assert [e.type for e in run.events()] == ["user_messages"]


async def test_the_documented_interactive_answer_parses(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    documented = json.loads((CAPTURED / "interactive_execute_response_documented.json").read_text())
    platform.reply(Reply(json=documented["example"]))
    turn = await client.execute(WORKFLOW_ID, start_input(), wrapped=True)
    assert set(documented["fields"]) <= set(type(turn).model_fields)
    assert turn.next_input_hint == {"prompt": "Please describe your issue."}
    assert (turn.has_active_companions, turn.has_background_work) == (False, False)


async def test_a_runs_page_that_is_not_an_object_is_a_clear_error(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    platform.reply(Reply(json=[RUN]))
    with pytest.raises(ApiError, match=r"not a RunsPage in any shape.*not a page object"):
        await client.list_runs()


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_base_url_forms_all_reach_v1_paths(platform: ScriptedPlatform, suffix: str) -> None:
    platform.reply(Reply(json=RUN))
    async with client_for(platform.url + suffix) as api:
        await api.get_run(RUN_ID)
    assert platform.requests[0].path == f"/workflows/v1/workflow-runs/{RUN_ID}"


async def test_no_authorization_header_without_a_key(platform: ScriptedPlatform) -> None:
    platform.reply(Reply(json=RUN))
    async with client_for(platform.url, api_key=None, user_id=None) as api:
        await api.get_run(RUN_ID)
    assert "authorization" not in platform.requests[0].headers
    assert "uuid" not in platform.requests[0].headers


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda api: api.execute("not-an-id", WorkflowRunInput()), "workflow_id"),
        (lambda api: api.execute(WORKFLOW_ID, WorkflowRunInput(), run_id="XYZ"), "run_id"),
        (lambda api: api.get_run("65A1B2C3D4E5F60718293A4B"), "run_id"),
        (lambda api: api.get_workflow("123"), "workflow_id"),
    ],
)
async def test_malformed_ids_are_refused_before_sending(
    platform: ScriptedPlatform, client: PlatformClient, call: Callable[..., Any], field: str
) -> None:
    with pytest.raises(ApiError, match=f"{field} .* is not a platform database id"):
        await call(client)
    assert platform.requests == []


# ------------------------------------------------------------------ configuration


def test_missing_api_url_names_the_env_var() -> None:
    with pytest.raises(ConfigError, match="no platform API URL") as info:
        PlatformClient(HarnessSettings())
    assert "HARNESS_API_URL" in str(info.value)


@pytest.mark.parametrize(
    ("url", "proxy", "loads_certificates"),
    [
        ("http://127.0.0.1:8000/workflows", None, False),  # plain HTTP: no TLS, no CA bundle
        ("HTTP://127.0.0.1:8000/workflows", None, False),
        ("https://api.example.com/workflows", None, True),
        ("http://127.0.0.1:8000/workflows", "https://proxy.example.com:3128", True),
    ],
    ids=["http", "http-upper-case", "https", "http-through-a-proxy"],
)
async def test_the_ca_bundle_is_loaded_only_where_tls_may_be_used(
    monkeypatch: pytest.MonkeyPatch,
    ca_bundle_loads: list[object],
    url: str,
    proxy: str | None,
    loads_certificates: bool,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    if proxy is not None:
        monkeypatch.setenv("HTTP_PROXY", proxy)
    async with PlatformClient(make_settings(url)):
        pass
    assert bool(ca_bundle_loads) is loads_certificates


async def test_a_plain_http_client_still_reaches_the_api(platform: ScriptedPlatform) -> None:
    assert platform.url.startswith("http://")
    platform.reply(Reply(json=RUN))
    async with PlatformClient(make_settings(platform.url), retry=FAST_RETRY) as api:
        run = await api.execute(WORKFLOW_ID, start_input())
    assert run.workflow_run_id == RUN_ID


@pytest.mark.parametrize("url", ["ftp://example.com/workflows", "localhost:8000", "http://"])
def test_non_http_api_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="HARNESS_API_URL"):
        PlatformClient(HarnessSettings(api_url=url))


async def test_injected_http_client_is_used_and_left_open(platform: ScriptedPlatform) -> None:
    seen: list[str] = []

    async def note(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async with httpx.AsyncClient(event_hooks={"request": [note]}) as http:
        api = PlatformClient(make_settings(platform.url), http_client=http, retry=FAST_RETRY)
        platform.reply(Reply(json=RUN))
        await api.get_run(RUN_ID)
        await api.aclose()
        assert not http.is_closed
    assert seen == [f"/workflows/v1/workflow-runs/{RUN_ID}"]


# ------------------------------------------------------------------ retries


async def test_429_with_retry_after_waits_then_succeeds(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    platform.reply(Reply(status=429, headers={"retry-after": "0.3"}), Reply(json=RUN))
    run = await client.execute(WORKFLOW_ID, start_input())
    assert run.workflow_run_id == RUN_ID
    first, second = platform.requests
    assert second.at - first.at >= 0.29
    assert second.body == first.body


async def test_retry_after_as_an_http_date_is_honoured(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=5), usegmt=True)
    platform.reply(Reply(status=503, headers={"retry-after": past}), Reply(json=RUN))
    started = time.monotonic()
    await client.get_run(RUN_ID)
    assert len(platform.requests) == 2
    assert time.monotonic() - started < 1.0


async def test_retry_after_is_capped(platform: ScriptedPlatform) -> None:
    platform.reply(Reply(status=429, headers={"retry-after": "3600"}), Reply(json=RUN))
    retry = RetryPolicy(max_retries=1, retry_after_cap_seconds=0.2)
    async with client_for(platform.url, retry=retry) as api:
        started = time.monotonic()
        await api.get_run(RUN_ID)
    assert 0.19 <= time.monotonic() - started < 2.0


async def test_retry_after_past_the_deadline_fails_at_once(platform: ScriptedPlatform) -> None:
    platform.reply(Reply(status=429, headers={"retry-after": "30"}, json={"detail": "slow down"}))
    async with client_for(platform.url, deadline_seconds=1.0) as api:
        started = time.monotonic()
        with pytest.raises(ApiError, match="deadline") as info:
            await api.execute(WORKFLOW_ID, start_input())
    assert time.monotonic() - started < 0.9
    assert info.value.status_code == 429
    assert "slow down" in str(info.value)
    assert len(platform.requests) == 1


async def test_repeated_503_gives_a_clear_error_after_bounded_retries(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    platform.reply(Reply(status=503, json={"detail": "maintenance"}))
    with pytest.raises(ApiError) as info:
        await client.execute(WORKFLOW_ID, start_input())
    assert info.value.status_code == 503
    assert not isinstance(info.value, ExecuteOutcomeUnknownError)  # 503: it did not run
    assert len(platform.requests) == FAST_RETRY.max_retries + 1
    message = str(info.value)
    assert "after 2 retries" in message
    assert "maintenance" in message
    assert f"POST {platform.url}/v1/workflows/{WORKFLOW_ID}/execute" in message


@pytest.mark.parametrize(
    ("method", "status", "requests"),
    [
        ("GET", 500, 3),
        ("GET", 502, 3),
        ("GET", 504, 3),
        ("GET", 429, 3),
        ("POST", 429, 3),
        ("POST", 503, 3),
        ("POST", 500, 1),
        ("POST", 502, 1),
        ("POST", 504, 1),
        ("GET", 400, 1),
        ("POST", 400, 1),
    ],
)
async def test_which_statuses_are_retried(
    platform: ScriptedPlatform, client: PlatformClient, method: str, status: int, requests: int
) -> None:
    platform.reply(Reply(status=status, json={"detail": "nope"}))
    with pytest.raises(ApiError) as info:
        if method == "GET":
            await client.get_run(RUN_ID)
        else:
            await client.execute(WORKFLOW_ID, start_input())
    assert info.value.status_code == status
    assert len(platform.requests) == requests


async def test_get_recovers_from_a_500(platform: ScriptedPlatform, client: PlatformClient) -> None:
    platform.reply(Reply(status=500), Reply(status=502), Reply(json=RUN))
    assert (await client.get_run(RUN_ID)).workflow_run_id == RUN_ID
    assert len(platform.requests) == 3


async def test_execute_500_is_not_reposted_and_says_check_get_run(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    platform.reply(Reply(status=500, json={"detail": "boom"}))
    turn = WorkflowRunInput(command=Command.DATA, thread_to_node_inputs=user_message_input("hi"))
    with pytest.raises(ExecuteOutcomeUnknownError) as info:
        await client.execute(WORKFLOW_ID, turn, run_id=RUN_ID)
    assert len(platform.requests) == 1
    assert "may have been executed" in str(info.value)
    assert f"get_run('{RUN_ID}')" in str(info.value)


async def test_execute_500_on_a_new_run_points_to_list_runs(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    platform.reply(Reply(status=500))
    with pytest.raises(ExecuteOutcomeUnknownError, match=r"list_runs\(workflow_id="):
        await client.execute(WORKFLOW_ID, start_input())


async def test_backoff_without_retry_after_is_jittered_and_bounded() -> None:
    policy = RetryPolicy(backoff_base_seconds=1.0, backoff_max_seconds=4.0)
    for retry in range(1, 8):
        delays = {policy.backoff(retry) for _ in range(50)}
        assert all(0 <= d <= min(4.0, 2 ** (retry - 1)) for d in delays)
        assert len(delays) > 1


# ------------------------------------------------------------------ error statuses


async def test_401_names_the_env_var_and_never_the_key(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    platform.reply(Reply(status=401, json={"detail": f"invalid token Bearer {API_KEY}"}))
    with pytest.raises(ApiError) as info:
        await client.execute(WORKFLOW_ID, start_input())
    assert info.value.status_code == 401
    assert "HARNESS_API_KEY" in str(info.value)
    assert API_KEY not in str(info.value)
    assert len(platform.requests) == 1


async def test_401_without_a_key_says_none_was_sent(platform: ScriptedPlatform) -> None:
    platform.reply(Reply(status=401, json={"detail": "Not authenticated"}))
    async with client_for(platform.url, api_key=None) as api:
        with pytest.raises(ApiError, match="no API key was sent: export HARNESS_API_KEY"):
            await api.get_run(RUN_ID)


async def test_403_names_the_team_env_var(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    platform.reply(Reply(status=403, json={"detail": "Forbidden"}))
    with pytest.raises(ApiError, match="HARNESS_TEAM_ID") as info:
        await client.get_workflow(WORKFLOW_ID)
    assert info.value.status_code == 403
    assert TEAM_ID in str(info.value)


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda api: api.get_run(RUN_ID), f"run {RUN_ID} not found"),
        (lambda api: api.get_workflow(WORKFLOW_ID), f"workflow {WORKFLOW_ID} not found"),
        (
            lambda api: api.execute(WORKFLOW_ID, WorkflowRunInput(), run_id=RUN_ID),
            f"workflow {WORKFLOW_ID} or run {RUN_ID} not found",
        ),
    ],
)
async def test_404_names_the_id(
    platform: ScriptedPlatform, client: PlatformClient, call: Callable[..., Any], named: str
) -> None:
    platform.reply(Reply(status=404, json={"detail": "Not Found"}))
    with pytest.raises(ApiError, match=named) as info:
        await call(client)
    assert info.value.status_code == 404
    assert "HARNESS_API_URL" in str(info.value)


async def test_409_explains_the_run_has_finished(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    platform.reply(Reply(status=409, json={"detail": "run is completed"}))
    turn = WorkflowRunInput(command=Command.DATA, thread_to_node_inputs=user_message_input("hi"))
    with pytest.raises(ApiError) as info:
        await client.execute(WORKFLOW_ID, turn, run_id=RUN_ID)
    assert info.value.status_code == 409
    assert "run is completed" in str(info.value)
    assert "start a new run" in str(info.value)


async def test_422_shows_the_servers_validation_messages(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    detail = [
        {"loc": ["body", "command"], "msg": "Input should be 'start', 'data'", "type": "enum"},
        {"loc": ["body", "version_number"], "msg": "Input should be >= 0", "type": "ge"},
    ]
    platform.reply(Reply(status=422, json={"detail": detail}))
    with pytest.raises(ApiError) as info:
        await client.execute(WORKFLOW_ID, start_input())
    assert info.value.status_code == 422
    assert "body.command: Input should be 'start', 'data'" in str(info.value)
    assert "body.version_number: Input should be >= 0" in str(info.value)


async def test_redirect_names_the_new_location(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    platform.reply(Reply(status=308, headers={"location": "https://elsewhere/workflows"}))
    with pytest.raises(ApiError, match="redirects to https://elsewhere/workflows"):
        await client.get_run(RUN_ID)


# ------------------------------------------------------------------ broken transport


async def test_a_hang_past_the_read_timeout_on_execute_is_not_reposted(
    platform: ScriptedPlatform,
) -> None:
    platform.reply(Reply(json=RUN, delay=1.5))
    async with client_for(platform.url, read_timeout_seconds=0.2) as api:
        started = time.monotonic()
        with pytest.raises(ExecuteOutcomeUnknownError) as info:
            await api.execute(WORKFLOW_ID, start_input())
    assert time.monotonic() - started < 1.0
    assert len(platform.requests) == 1
    assert "read timeout of 0.2 s" in str(info.value)
    assert "read_timeout_seconds" in str(info.value)


async def test_a_hang_on_get_is_retried_then_reported(platform: ScriptedPlatform) -> None:
    platform.reply(Reply(json=RUN, delay=1.5))
    async with client_for(platform.url, read_timeout_seconds=0.2) as api:
        with pytest.raises(ApiError, match="within the read timeout") as info:
            await api.get_run(RUN_ID)
    assert not isinstance(info.value, ExecuteOutcomeUnknownError)
    assert len(platform.requests) == 3


async def test_total_deadline_bounds_a_call(platform: ScriptedPlatform) -> None:
    platform.reply(Reply(json=RUN, delay=1.5))
    async with client_for(platform.url, deadline_seconds=0.3) as api:
        started = time.monotonic()
        with pytest.raises(ExecuteOutcomeUnknownError, match=r"deadline of 0\.3 s"):
            await api.execute(WORKFLOW_ID, start_input())
        with pytest.raises(ApiError, match=r"deadline of 0\.3 s") as info:
            await api.get_run(RUN_ID)
    assert not isinstance(info.value, ExecuteOutcomeUnknownError)
    assert time.monotonic() - started < 1.2


async def test_connection_refused_is_retried_and_names_the_url(closed_port_url: str) -> None:
    attempts: list[str] = []

    async def note(request: httpx.Request) -> None:
        attempts.append(request.method)

    async with httpx.AsyncClient(event_hooks={"request": [note]}) as http:
        api = PlatformClient(make_settings(closed_port_url), http_client=http, retry=FAST_RETRY)
        with pytest.raises(ApiError) as info:
            await api.execute(WORKFLOW_ID, start_input())
    # Nothing reached a server, so even the POST was safe to retry.
    assert attempts == ["POST"] * (FAST_RETRY.max_retries + 1)
    message = str(info.value)
    assert "cannot connect" in message
    assert closed_port_url in message
    assert "HARNESS_API_URL" in message
    assert info.value.status_code is None


async def test_reset_connection_on_execute_is_not_reposted(
    raw_server: Callable[[str], RawServer],
) -> None:
    server = raw_server("reset")
    async with client_for(server.url) as api:
        with pytest.raises(ExecuteOutcomeUnknownError, match="connection broke") as info:
            await api.execute(WORKFLOW_ID, start_input())
    assert server.connections == 1
    assert "get_run" in str(info.value) or "list_runs" in str(info.value)


async def test_reset_connection_on_get_is_retried(
    raw_server: Callable[[str], RawServer],
) -> None:
    server = raw_server("reset")
    async with client_for(server.url) as api:
        with pytest.raises(ApiError, match="connection broke"):
            await api.get_run(RUN_ID)
    assert server.connections == FAST_RETRY.max_retries + 1


async def test_truncated_body_on_execute_is_reported_not_reposted(
    raw_server: Callable[[str], RawServer],
) -> None:
    server = raw_server("truncate")
    async with client_for(server.url) as api:
        with pytest.raises(ExecuteOutcomeUnknownError, match="may have been executed"):
            await api.execute(WORKFLOW_ID, start_input())
    assert server.connections == 1


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html>Bad gateway</html>", "text/html"),
        (b'{"status": "compl', "application/json"),
        (b"", "application/json"),
    ],
)
async def test_non_json_bodies_are_clear_errors(
    platform: ScriptedPlatform, client: PlatformClient, body: bytes, content_type: str
) -> None:
    platform.reply(Reply(body=body, headers={"content-type": content_type}))
    with pytest.raises(ApiError, match="not valid JSON") as info:
        await client.get_run(RUN_ID)
    assert content_type in str(info.value)
    assert len(platform.requests) == 1


async def test_a_response_not_matching_the_model_names_the_field(
    platform: ScriptedPlatform, client: PlatformClient
) -> None:
    platform.reply(Reply(json={**RUN, "status": "exploded"}))
    with pytest.raises(ApiError, match=r"does not match WorkflowRun.*\n.*status:") as info:
        await client.execute(WORKFLOW_ID, start_input())
    assert "exploded" in str(info.value)
    assert "succeeded on the server" in str(info.value)


# ------------------------------------------------------------------ concurrency and logs


async def test_concurrency_is_bounded_by_settings(platform: ScriptedPlatform) -> None:
    platform.reply(Reply(json=RUN, delay=0.15))
    async with client_for(platform.url, max_concurrency=2) as api:
        await asyncio.gather(*(api.get_run(RUN_ID) for _ in range(6)))
    assert len(platform.requests) == 6
    assert platform.max_in_flight() == 2


async def test_retry_logs_never_contain_the_key(
    platform: ScriptedPlatform, client: PlatformClient, caplog: pytest.LogCaptureFixture
) -> None:
    platform.reply(Reply(status=503, json={"detail": f"echo {API_KEY}"}), Reply(json=RUN))
    with caplog.at_level(logging.DEBUG):
        await client.get_run(RUN_ID)
    assert "retry 1/2" in caplog.text
    assert API_KEY not in caplog.text


# ------------------------------------------------------------------ the Backend


async def test_api_backend_executes_by_workflow_id(platform: ScriptedPlatform) -> None:
    platform.reply(Reply(json=RUN))
    backend = ApiBackend(client_for(platform.url))
    assert isinstance(backend, Backend)
    target = RunTarget(workflow_id=WORKFLOW_ID, version=2, name="clinic")
    run = await backend.execute(target, start_input())
    assert run.status is RunStatus.WAITING_FOR_USER_INPUT
    assert (await backend.get_run(RUN_ID)).workflow_run_id == RUN_ID
    await backend.aclose()
    assert platform.requests[0].query == {"version": "2"}
    assert platform.requests[1].path == f"/workflows/v1/workflow-runs/{RUN_ID}"


async def test_api_backend_imports_a_hydrated_workflow_once(platform: ScriptedPlatform) -> None:
    def server(received: Received) -> Reply:
        if received.path.endswith("/v1/workflows"):
            return Reply(status=201, json={"workflow_id": WORKFLOW_ID})
        return Reply(json=RUN)

    platform.handle(server)
    config = WorkflowConfigFullyHydrated.model_validate({"workflow_config": {"name": "clinic"}})
    backend = ApiBackend(client_for(platform.url))
    target = RunTarget(workflow=config, name="clinic")
    await asyncio.gather(*(backend.execute(target, start_input()) for _ in range(3)))
    await backend.aclose()
    paths = [r.path for r in platform.requests]
    assert paths.count("/workflows/v1/workflows") == 1
    assert paths.count(f"/workflows/v1/workflows/{WORKFLOW_ID}/execute") == 3


def test_run_target_needs_a_workflow() -> None:
    with pytest.raises(ValueError, match="needs a workflow_id or a workflow config"):
        RunTarget(name="nothing")
