"""`harness pull` against a real `harness serve` on 127.0.0.1 serving a real platform config."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.backends.base import RunTarget
from harness.backends.engine import EngineBackend
from harness.cli import main
from harness.config import HarnessSettings
from harness.models.api import (
    RunStatus,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
    WorkflowRunInput,
)
from harness.scenarios import check_workflow_file, load_workflow_file
from harness.server import WorkflowCatalog, create_app
from harness.testing import serve_asgi_in_thread

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "platform" / "corpus"
QUICKSTART = CORPUS / "wf_00.json"
"""The platform's quickstart as the platform stores it: two say_static nodes, no LLM."""
WORKFLOW_ID = "65a1b2c3d4e5f60718293a4b"
MISSING_ID = "0" * 24
TOKEN = "pull-test-token"


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    catalog = WorkflowCatalog()
    raw = json.loads(QUICKSTART.read_text())
    catalog.add(WorkflowConfigFullyHydrated.model_validate(raw), WORKFLOW_ID)
    app = create_app(HarnessSettings(), catalog=catalog, token=TOKEN)
    with serve_asgi_in_thread(app) as base_url:
        yield f"{base_url}/workflows"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served: str) -> Path:
    monkeypatch.chdir(tmp_path)  # no pyproject.toml settings of the repository apply
    monkeypatch.setenv("HARNESS_API_URL", served)
    monkeypatch.setenv("HARNESS_API_KEY", TOKEN)
    monkeypatch.delenv("HARNESS_TEAM_ID", raising=False)
    return tmp_path


def test_pull_writes_the_config_as_the_platform_stores_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pull", WORKFLOW_ID]) == 0
    written = workdir / f"{WORKFLOW_ID}.json"
    assert json.loads(written.read_text()) == json.loads(QUICKSTART.read_text())  # nulls kept
    assert written.read_text().startswith('{\n  "workflow_config": {')  # pretty
    out = capsys.readouterr()
    assert f"wrote {WORKFLOW_ID}.json: workflow 'Quickstart Notebook Workflow'" in out.out
    assert "2 node(s), 1 edge(s)" in out.out and out.err == ""
    assert check_workflow_file(written) == []  # `harness validate` accepts it as it is


def test_the_engine_backend_runs_the_pulled_file_as_is(workdir: Path) -> None:
    assert main(["pull", WORKFLOW_ID, "-o", "quickstart.json"]) == 0
    config = load_workflow_file(workdir / "quickstart.json")

    async def start() -> WorkflowRun:
        async with httpx.AsyncClient() as http:
            backend = EngineBackend(http=http, settings=HarnessSettings())
            return await backend.execute(RunTarget(workflow=config), WorkflowRunInput())

    run = asyncio.run(start())
    assert run.status == RunStatus.COMPLETED
    said = [e.get("content") for e in run.events() if e.type == "assistant_response"]
    assert said == ["Hi! Welcome to Interactly.", "Goodbye!"]


def test_an_existing_file_is_kept_without_force(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = workdir / "mine.json"
    target.write_text("my edits\n")
    assert main(["pull", WORKFLOW_ID, "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert "mine.json already exists; not overwriting it" in err and "--force" in err
    assert target.read_text() == "my edits\n"
    assert main(["pull", WORKFLOW_ID, "-o", str(target), "--force"]) == 0
    assert json.loads(target.read_text())["workflow_config"]["name"]
    assert [p.name for p in workdir.iterdir()] == ["mine.json"]  # no temporary file left


def test_dash_prints_the_config(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pull", WORKFLOW_ID, "-o", "-"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(QUICKSTART.read_text())
    assert list(workdir.iterdir()) == []


def test_a_version_is_asked_for(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pull", WORKFLOW_ID, "--version", "0", "-o", "v0.json"]) == 0
    assert "version 0" in capsys.readouterr().out
    assert main(["pull", WORKFLOW_ID, "--version", "4"]) == 2  # harness serve has version 0 only
    err = capsys.readouterr().err
    assert f"workflow {WORKFLOW_ID} version 4 not found" in err


@pytest.mark.parametrize(
    "args, env, expected",
    [
        ([MISSING_ID], {}, f"workflow {MISSING_ID} not found"),
        ([WORKFLOW_ID], {"HARNESS_API_KEY": "wrong"}, "refused the credentials"),
        ([WORKFLOW_ID], {"HARNESS_API_URL": "http://127.0.0.1:9/workflows"}, "cannot connect"),
        (["not-an-id"], {}, "'not-an-id' is not a platform database id"),
        ([WORKFLOW_ID, "--version", "-1"], {}, "version must be an integer >= 0"),
        ([WORKFLOW_ID], {"HARNESS_API_URL": ""}, "no platform API URL is configured"),
    ],
)
def test_user_errors_say_what_where_and_how_and_exit_2(
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    expected: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["pull", *args]) == 2
    err = capsys.readouterr().err
    assert expected in err and "hint:" in err and "Traceback" not in err
    assert list(workdir.iterdir()) == []


def test_an_unknown_envelope_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def not_hydrated(request: object) -> JSONResponse:
        document = {"_id": WORKFLOW_ID, "workflow_config": {"name": "x", "nodes": ["n1"]}}
        return JSONResponse({"workflow": document, "execution_url": ""})

    app = Starlette(routes=[Route("/workflows/v1/workflows/{id}", not_hydrated)])
    monkeypatch.chdir(tmp_path)
    with serve_asgi_in_thread(app) as base_url:
        monkeypatch.setenv("HARNESS_API_URL", f"{base_url}/workflows")
        assert main(["pull", WORKFLOW_ID]) == 2
    err = capsys.readouterr().err
    assert f"GET {base_url}/workflows/v1/workflows/{WORKFLOW_ID}" in err
    assert "not the fully hydrated config" in err and "HARNESS_API_URL" in err


def test_a_workflow_the_engine_cannot_run_is_written_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = json.loads(QUICKSTART.read_text())
    raw["node_configs"][1]["type"] = "send_sms"
    catalog = WorkflowCatalog()
    catalog.add(WorkflowConfigFullyHydrated.model_validate(raw), WORKFLOW_ID)
    monkeypatch.chdir(tmp_path)
    # Imports refuse it; a platform can still hold it, so it is served from a preloaded catalog.
    with serve_asgi_in_thread(create_app(HarnessSettings(), catalog=catalog)) as base_url:
        monkeypatch.setenv("HARNESS_API_URL", f"{base_url}/workflows")
        assert main(["pull", WORKFLOW_ID, "-o", "sms.json"]) == 0
    assert json.loads((tmp_path / "sms.json").read_text()) == raw
    err = capsys.readouterr().err
    assert "the built-in engine cannot run it" in err and "send_sms" in err
    assert "--backend api" in err
