"""Parity: one conversation gives the same statuses, node path and event types whether the engine
runs in-process or behind `harness serve` (uvicorn on 127.0.0.1, driven by `PlatformClient`).

The workflow is the five-node intake with a global "talk to a human" node and its reverse edge
(tests/data/workflows/intake.yaml); the same scripted model answers both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from serve_helpers import scripted_engine, scripted_settings

from harness.backends.api import PlatformClient
from harness.config import HarnessSettings
from harness.engine import Engine
from harness.errors import ApiError, RunConflictError
from harness.models.api import (
    Command,
    RunStatus,
    TurnResponse,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
    WorkflowRunInput,
    user_message_input,
)
from harness.server import create_app
from harness.testing import ScriptedModel, serve_asgi_in_thread, serve_scripted_model

INTAKE = WorkflowConfigFullyHydrated.model_validate(
    yaml.safe_load((Path(__file__).parent / "data" / "workflows" / "intake.yaml").read_text())
)
SCRIPT = {
    "rules": [
        {"when": {"response_format": "patient_name"}, "reply": {"json": {"patient_name": "Ana"}}},
        {
            "when": {"tool_offered": "go_to_human", "last_user": "human"},
            "reply": {"text": "Let us finish first.", "tool_calls": [{"name": "go_to_human"}]},
        },
        {
            "when": {"system": "wants a human", "last_user": "human"},
            "reply": {"text": "A staff member will call you back. Continue meanwhile?"},
        },
        {
            "when": {"tool_offered": "return_to_previous_node", "last_user": "continue"},
            "reply": {"tool_calls": [{"name": "return_to_previous_node"}]},
        },
        {
            "when": {"tool_offered": "reason_given", "last_user": "headache"},
            "reply": {"tool_calls": [{"name": "reason_given", "arguments": {"reason": "pain"}}]},
        },
        {"when": {"system": "what brings them in"}, "reply": {"text": "What brings you in?"}},
        {
            "when": {"system": "ask the patient to confirm", "last_user": "headache"},
            "reply": {"text": "You are here for a headache, correct?"},
        },
        {
            "when": {"tool_offered": "confirmed", "last_user": "right"},
            "reply": {"tool_calls": [{"name": "confirmed"}]},
        },
    ]
}
CONVERSATION = [
    "My name is Ana Ruiz",
    "Actually, can I talk to a human?",
    "Yes, let's continue",
    "I have a bad headache",
    "Yes, that's right",
]


def turn_input(run_id: str | None, text: str | None) -> WorkflowRunInput:
    if text is None:
        return WorkflowRunInput(command=Command.START)
    return WorkflowRunInput(
        command=Command.DATA, workflow_run_id=run_id, thread_to_node_inputs=user_message_input(text)
    )


def trace(run: WorkflowRun) -> dict[str, Any]:
    """What must not depend on where the engine runs (ids, timestamps and latencies may)."""
    turns = [p.run_output.typed_events() for p in run.input_output_pairs]
    return {
        "status": run.status,
        "event_types": [[e.type for e in events] for events in turns],
        "path": [e.origin_node_logical_id for e in run.events() if e.type == "start_node_run"],
        "said": [e.get("content") for e in run.events() if e.type == "assistant_response"],
        "runtime": [
            e.get("runtime_variables") for e in run.events() if e.type == "workflow_show_state"
        ][-1:],
        "tokens": run.llm_token_usage.model_dump(),
        "outputs": [
            [o.model_dump(exclude={"node_run_id"}) for o in outs]
            for p in run.input_output_pairs
            for outs in p.run_output.thread_to_node_outputs.values()
        ],
    }


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    with serve_scripted_model(ScriptedModel(SCRIPT)) as base_url:
        yield base_url


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def served(
    request: pytest.FixtureRequest, model_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    store = tmp_path_factory.mktemp("store") / "runs.db" if request.param == "sqlite" else None
    app = create_app(scripted_settings(model_url), store=store)
    with serve_asgi_in_thread(app) as base_url:
        yield base_url


async def in_process(model_url: str) -> tuple[list[RunStatus], WorkflowRun]:
    async with httpx.AsyncClient() as http:
        engine = scripted_engine(http, model_url)
        return await converse_in(engine)


async def converse_in(engine: Engine) -> tuple[list[RunStatus], WorkflowRun]:
    statuses = []
    run: WorkflowRun | None = None
    for text in [None, *CONVERSATION]:
        run = await engine.execute(INTAKE, turn_input(run.workflow_run_id if run else None, text))
        statuses.append(run.status)
    assert run is not None
    return statuses, run


async def test_same_conversation_in_process_and_over_http(model_url: str, served: str) -> None:
    local_statuses, local = await in_process(model_url)

    settings = HarnessSettings(api_url=served, max_retries=0)
    async with PlatformClient(settings) as client:
        workflow_id = await client.import_workflow(INTAKE)
        statuses = []
        remote: WorkflowRun | None = None
        for text in [None, *CONVERSATION]:
            run_id = remote.workflow_run_id if remote else None
            remote = await client.execute(workflow_id, turn_input(run_id, text))
            statuses.append(remote.status)
        assert remote is not None
        stored = await client.get_run(remote.workflow_run_id or "")

    assert statuses == local_statuses
    assert local_statuses[-1] == RunStatus.COMPLETED
    assert trace(remote) == trace(local)
    assert trace(stored) == trace(local)
    assert "human" in trace(local)["path"]  # the conversation went through the global node


async def test_wrapped_turns_match_the_in_process_turns(model_url: str, served: str) -> None:
    local_statuses, local = await in_process(model_url)
    local_turns = [
        TurnResponse.from_run(
            local.model_copy(
                update={"input_output_pairs": local.input_output_pairs[: i + 1], "status": status}
            )
        )
        for i, status in enumerate(local_statuses)
    ]

    async with PlatformClient(HarnessSettings(api_url=served, max_retries=0)) as client:
        workflow_id = await client.import_workflow(INTAKE)
        turns: list[TurnResponse] = []
        for text in [None, *CONVERSATION]:
            run_id = turns[-1].run_id if turns else None
            turns.append(
                await client.execute(
                    workflow_id, turn_input(None, text), wrapped=True, run_id=run_id
                )
            )

    def shape(turn: TurnResponse) -> tuple[Any, ...]:
        kinds = [e.type if hasattr(e, "type") else e.get("type") for e in turn.events]  # type: ignore[union-attr]
        return (turn.status, turn.turn_number, turn.is_waiting_for_input, turn.is_completed, kinds)

    assert [shape(t) for t in turns] == [shape(t) for t in local_turns]


async def test_refusals_match(model_url: str, served: str) -> None:
    async with httpx.AsyncClient() as http:
        engine = scripted_engine(http, model_url)
        run = await engine.execute(INTAKE, turn_input(None, None))
        await engine.execute(
            INTAKE, WorkflowRunInput(command=Command.STOP, workflow_run_id=run.workflow_run_id)
        )
        with pytest.raises(RunConflictError) as local:
            await engine.execute(INTAKE, turn_input(run.workflow_run_id, "hello"))

    async with PlatformClient(HarnessSettings(api_url=served, max_retries=0)) as client:
        workflow_id = await client.import_workflow(INTAKE)
        remote_run = await client.execute(workflow_id, turn_input(None, None))
        await client.execute(
            workflow_id,
            WorkflowRunInput(command=Command.STOP, workflow_run_id=remote_run.workflow_run_id),
        )
        with pytest.raises(ApiError) as remote:
            await client.execute(workflow_id, turn_input(remote_run.workflow_run_id, "hello"))
    assert remote.value.status_code == 409
    assert "is cancelled; it cannot take `data`" in local.value.message
    assert "is cancelled; it cannot take `data`" in remote.value.message
