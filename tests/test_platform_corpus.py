"""Real platform workflows, exactly as the platform stores them, through `harness serve`.

Each config of `../shared/platform/corpus/` (the bodies the platform's official SDK uploads, nulls
and defaults included) is imported into a real `harness serve` on 127.0.0.1 with the platform's
envelope, and a start turn runs against the scripted model. The only refusals allowed are the
documented node types the engine does not run, and the refusal names the node and its type.

More configs built the same way can be added with `HARNESS_PLATFORM_CORPUS_EXTRA=dir1:dir2`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_helpers import scripted_settings

from harness.models.api import WorkflowConfigFullyHydrated
from harness.server import create_app
from harness.testing import ScriptedModel, serve_asgi_in_thread, serve_scripted_model

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "platform" / "corpus"
RUNNABLE_NODE_TYPES = {
    "say_llm",
    "worker_llm",
    "say_static",
    "tool_node",
    "http_request",
    "workflow_run_fetch",
    "workflow_run_evaluator",
    "no_op",
}
"""Node types the built-in engine runs (docs/workflows.md); any other type is refused by name."""


def _corpus_files() -> list[Path]:
    folders = [CORPUS]
    extra = os.environ.get("HARNESS_PLATFORM_CORPUS_EXTRA", "")
    folders += [Path(p) for p in extra.split(os.pathsep) if p]
    return sorted(f for folder in folders for f in folder.glob("wf_*.json"))


FILES = _corpus_files()


def test_the_corpus_is_there() -> None:
    assert CORPUS.is_dir(), f"{CORPUS} is missing: CI keeps ../shared beside the checkout"
    assert len(FILES) >= 13


def _unrunnable(config: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (str(n.get("name")), str(n["type"]))
        for n in config["node_configs"]
        if n["type"] not in RUNNABLE_NODE_TYPES
    ]


SCRIPT = {
    "rules": [{"when": {"response_format": "*"}, "reply": {"json": {}}}],
    "default": {"text": "Hello from the scripted model."},
}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_scripted_model(ScriptedModel(SCRIPT)) as model_url:
        app = create_app(scripted_settings(model_url))
        with serve_asgi_in_thread(app) as base_url:
            yield f"{base_url}/workflows"


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_loads_and_round_trips_with_nulls(path: Path) -> None:
    from deepdiff import DeepDiff

    raw = json.loads(path.read_text())
    config = WorkflowConfigFullyHydrated.model_validate(raw)
    dumped = config.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert DeepDiff(raw, dumped) == {}


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_imports_into_serve_and_runs_a_start_turn(server: str, path: Path) -> None:
    raw = json.loads(path.read_text())
    unrunnable = _unrunnable(raw)
    with httpx.Client(base_url=server, timeout=60) as http:
        imported = http.post("/v1/workflows", json=raw)
        if unrunnable:
            assert imported.status_code in (400, 422), imported.text
            for name, node_type in unrunnable:
                assert node_type in imported.text and name in imported.text, imported.text
            return
        assert imported.status_code in (200, 201), imported.text
        workflow_id = imported.json()["workflow"]["_id"]

        turn = http.post(
            f"/v1/workflows/{workflow_id}/execute", json={"run_input": {"command": "start"}}
        )
        assert turn.status_code == 200, turn.text
        body = turn.json()
        assert body["status"] in ("waiting_for_user_input", "completed"), body
        assert not body.get("error"), body
        types = [e["type"] for e in body["events"]]
        assert "workflow_error" not in types
        assert types[-1] in ("workflow_ready_for_input", "end_workflow"), types

        stored = http.get(f"/v1/workflow-runs/{body['run_id']}")
        assert stored.status_code == 200, stored.text
        document = stored.json()["workflow_run"]  # the platform's envelope: a stored document
        assert document["workflow_run"]["status"] == body["status"]
