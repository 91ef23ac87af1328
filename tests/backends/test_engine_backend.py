"""The engine backend: the engine in-process over a cassette, scenario mocks, fixed clock and seed,
and evaluator workflows found in the workflow file's folder."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from harness.backends.base import Backend, RunTarget
from harness.backends.engine import (
    REPLAY_EPOCH,
    EngineBackend,
    FolderWorkflowRegistry,
    derived_workflow_id,
    runs_inline_python,
    scenario_mock_lookup,
)
from harness.config import HarnessSettings, ProviderConfig
from harness.engine import ToolRunner
from harness.errors import CassetteMissError, EngineError
from harness.models.api import Command, InlinePythonTool, RunStatus, WorkflowRunInput
from harness.models.scenario import Mocks
from harness.recording import open_cassette
from harness.scenarios import load_workflow_file
from harness.testing import ScriptedModel, serve_scripted_model

WORKFLOWS = Path(__file__).parent.parent / "data" / "workflows"
STOCK = load_workflow_file(WORKFLOWS / "stock_lookup.yaml")
SCRIPT = {"default": {"text": "Your refill is on its way."}}


def settings(url: str) -> HarnessSettings:
    provider = ProviderConfig(base_url=url, model="scripted-model", api_key_env=None)
    return HarnessSettings(providers={"default_provider": provider}, max_retries=0)


def test_the_folder_registry_knows_files_by_stem_logical_id_and_derived_id() -> None:
    registry = FolderWorkflowRegistry(WORKFLOWS)
    judge = registry.get("stock_judge")
    assert judge is not None and judge.workflow_config.name == "stock judge"
    assert registry.get("workflow_stock_judge") is judge
    assert registry.get(derived_workflow_id(judge)) is judge
    assert registry.get("no_such_workflow") is None
    assert FolderWorkflowRegistry(WORKFLOWS / "missing").get("stock_judge") is None


@pytest.mark.parametrize(
    ("rx", "expected"),
    [("RX-2", (True, "special")), ("RX-1", (True, {"in_stock": True})), ("RX-9", (False, "down"))],
)
async def test_scenario_mocks_pick_the_first_matching_when(
    rx: str, expected: tuple[bool, object]
) -> None:
    mocks = Mocks.model_validate(
        {
            "tools": {
                "check_stock": [
                    {"when": {"rx": "RX-2"}, "returns": "special"},
                    {"when": {"rx": "RX-9"}, "raises": "down"},
                    {"returns": {"in_stock": True}},
                ]
            }
        }
    )
    tool = InlinePythonTool(name="check_stock", code="def check_stock(rx):\n    return 0")
    async with httpx.AsyncClient() as http:
        runner = ToolRunner(http=http, mock_lookup=scenario_mock_lookup(mocks))
        outcome = await runner.run(tool, {"rx": rx}, dynamic={}, runtime={})
    assert (outcome.success, outcome.result if outcome.success else outcome.error) == expected


@pytest.mark.parametrize(
    ("mocks", "expected"),
    [
        ({}, True),
        ({"check_stock": {"returns": {"in_stock": True}}}, False),
        ({"check_stock": [{"when": {"rx": "RX-2"}, "returns": "special"}]}, True),
        ({"other_tool": {"returns": 1}}, True),
    ],
)
def test_a_run_calls_inline_python_unless_every_call_of_it_is_mocked(
    mocks: dict[str, object], expected: bool
) -> None:
    # stock_lookup's inline-Python tool sits on a tool node; intake has no inline Python at all.
    assert runs_inline_python(STOCK, Mocks.model_validate({"tools": mocks})) is expected
    intake = load_workflow_file(WORKFLOWS / "intake.yaml")
    assert runs_inline_python(intake, Mocks.model_validate({"tools": mocks})) is False


async def test_a_target_without_a_workflow_is_refused() -> None:
    async with httpx.AsyncClient() as http:
        backend = EngineBackend(http=http, settings=settings("http://127.0.0.1:9/v1"))
        assert isinstance(backend, Backend)
        with pytest.raises(EngineError, match="has no workflow file for the engine"):
            await backend.execute(
                RunTarget(workflow_id="65a1b2c3d4e5f60718293a4b"), WorkflowRunInput()
            )


async def test_recorded_runs_replay_with_the_same_ids_and_times(tmp_path: Path) -> None:
    cassette = tmp_path / "stock.json"
    target = RunTarget(workflow=STOCK, name="stock")
    mocks = Mocks.model_validate({"tools": {"check_stock": {"returns": {"in_stock": True}}}})
    runs = []
    with serve_scripted_model(ScriptedModel(SCRIPT)) as url:
        async with open_cassette(cassette, "once") as session:
            http = httpx.AsyncClient(transport=session.transport)
            backend = EngineBackend(http=http, settings=settings(url), mocks=mocks, owns_http=True)
            runs.append(await backend.execute(target, WorkflowRunInput(command=Command.START)))
            await backend.aclose()
            session.mark_complete()
    async with open_cassette(cassette, "none") as session:
        http = httpx.AsyncClient(transport=session.transport)
        backend = EngineBackend(http=http, settings=settings(url), mocks=mocks, owns_http=True)
        runs.append(await backend.execute(target, WorkflowRunInput(command=Command.START)))
        stored = await backend.get_run(runs[-1].workflow_run_id or "")
        await backend.aclose()
    assert http.is_closed
    recorded, replayed = runs
    assert replayed.status is RunStatus.COMPLETED
    assert replayed.workflow_run_id == recorded.workflow_run_id
    assert replayed.events()[0].get("timestamp") == REPLAY_EPOCH.timestamp()
    assert [e.model_dump() for e in replayed.events()] == [
        e.model_dump() for e in recorded.events()
    ]
    assert stored.workflow_run_id == replayed.workflow_run_id


async def test_a_replay_miss_is_raised_not_hidden_in_a_failed_run(tmp_path: Path) -> None:
    session = open_cassette(tmp_path / "empty.json", "none")
    async with session, httpx.AsyncClient(transport=session.transport) as http:
        backend = EngineBackend(http=http, settings=settings("http://127.0.0.1:9/v1"))
        with pytest.raises(CassetteMissError, match="node 'chat'"):
            await backend.execute(
                RunTarget(workflow=STOCK), WorkflowRunInput(command=Command.START)
            )
