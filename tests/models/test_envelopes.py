"""The platform's REST envelopes: built by `harness serve`, read by clients in every documented shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from harness.models.api import (
    EnvelopeError,
    RunsPage,
    RunStatus,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
    WorkflowRunEnvelope,
    WorkflowRunsEnvelope,
    parse_hydrated_workflow,
    parse_run,
    parse_runs_page,
    parse_workflow_id,
    turn_response,
)

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "platform" / "corpus"
RUN_ID = "65a1b2c3d4e5f60718293a4b"
STATE = {"workflow_run_id": RUN_ID, "workflow_id": "w" * 24, "status": "completed"}


@pytest.mark.parametrize(
    "answer",
    [
        {"workflow": {"_id": RUN_ID, "team_id": "t"}, "execution_url": "x"},
        {"_id": RUN_ID},
        {"id": RUN_ID},
        {"workflow_id": RUN_ID},
        RUN_ID,
    ],
)
def test_the_import_answer_names_the_id_in_any_documented_shape(answer: Any) -> None:
    assert parse_workflow_id(answer) == RUN_ID


@pytest.mark.parametrize("answer", [{"ok": True}, {"workflow": {}}, "", None, [RUN_ID]])
def test_an_import_answer_without_an_id_is_an_envelope_error(answer: Any) -> None:
    with pytest.raises(EnvelopeError, match="names no workflow id"):
        parse_workflow_id(answer)


def test_the_hydrated_config_is_found_two_levels_down_one_level_down_or_bare() -> None:
    raw = json.loads((CORPUS / "wf_00.json").read_text())
    document = {"_id": RUN_ID, "team_id": "t", "workflow_config": raw}
    for answer in ({"workflow": document, "execution_url": ""}, {"workflow": raw}, raw):
        config = parse_hydrated_workflow(answer)
        assert [n.type for n in config.node_configs] == ["say_static", "say_static"]


def test_a_workflow_without_node_configs_is_not_taken_for_a_hydrated_one() -> None:
    document = {"_id": RUN_ID, "workflow_config": {"name": "x", "nodes": ["n1"], "edges": []}}
    with pytest.raises(EnvelopeError, match="fully_hydrate=true"):
        parse_hydrated_workflow({"workflow": document})


def test_the_captured_run_envelope_a_record_and_a_bare_run_all_parse() -> None:
    captured = json.loads((CORPUS / "runs" / "get_run_envelope.json").read_text())["response"]
    assert parse_run(captured).workflow_run_id == "run1"
    assert parse_run(captured["workflow_run"]).workflow_run_id == "run1"
    assert parse_run(STATE).status == RunStatus.COMPLETED


def test_a_bad_run_is_a_validation_error_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="status"):
        parse_run({"workflow_run": {"_id": RUN_ID, "workflow_run": {**STATE, "status": "boom"}}})


def test_runs_pages_in_the_platforms_shape_and_the_bare_shape() -> None:
    record = {"_id": RUN_ID, "team_id": "t", "workflow_run": STATE}
    platform = parse_runs_page({"workflow_runs": [record], "total": 3, "page": 1, "size": 2})
    bare = parse_runs_page({"items": [STATE], "total": 3, "page": 1, "size": 2, "pages": 2})
    for page in (platform, bare):
        assert isinstance(page, RunsPage)
        assert (page.total, page.pages, page.items[0].workflow_run_id) == (3, 2, RUN_ID)


def test_the_servers_envelopes_round_trip_through_the_readers() -> None:
    run = WorkflowRun.model_validate(
        {
            **STATE,
            "run_by": "api",
            "input_output_pairs": [
                {
                    "run_input": {"command": "start", "team_id": "team-7"},
                    "run_output": {"events": [{"type": "end_workflow", "timestamp": 1.5}]},
                }
            ],
        }
    )
    envelope = WorkflowRunEnvelope.of(run).model_dump(mode="json", by_alias=True)
    record = envelope["workflow_run"]
    assert (record["_id"], record["team_id"], record["created_by"]) == (RUN_ID, "team-7", "api")
    assert record["created_at"] == record["updated_at"] == "1970-01-01T00:00:01.500000Z"
    assert parse_run(envelope) == run
    page = RunsPage(items=[run], total=1, page=1, size=50, pages=1)
    listed = WorkflowRunsEnvelope.of(page).model_dump(mode="json", by_alias=True)
    assert parse_runs_page(listed) == page


def _run_with_events(status: str, *events: dict[str, Any]) -> WorkflowRun:
    pair = {"run_input": {"command": "start"}, "run_output": {"events": list(events)}}
    return WorkflowRun.model_validate({**STATE, "status": status, "input_output_pairs": [pair]})


def test_the_input_hint_is_the_turns_last_busy_wait_event_when_waiting() -> None:
    wait = {"type": "busy_wait_for_user_message", "logical_id": "e2", "timestamp": 2.0}
    run = _run_with_events(
        "waiting_for_user_input", {**wait, "logical_id": "e1"}, wait, {"type": "end_thread"}
    )
    turn = turn_response(run)
    assert turn.is_waiting_for_input and turn.next_input_hint is not None
    assert turn.next_input_hint["logical_id"] == "e2"
    assert turn_response(_run_with_events("completed", wait)).next_input_hint is None


def test_active_companions_are_background_work() -> None:
    ready = {"type": "workflow_ready_for_input", "active_companion_thread_ids": ["0_companion_p"]}
    busy = turn_response(_run_with_events("waiting_for_user_input", ready))
    assert (busy.has_active_companions, busy.has_background_work) == (True, True)
    idle = {**ready, "active_companion_thread_ids": []}
    done = turn_response(_run_with_events("waiting_for_user_input", idle))
    assert (done.has_active_companions, done.has_background_work) == (False, False)


def test_a_failed_run_without_an_error_event_names_its_termination_source() -> None:
    run = _run_with_events("failed", {"type": "end_workflow"})
    run.termination_source = "stale_run_reaper"
    assert turn_response(run).error == "stale_run_reaper"
    error = {"type": "workflow_error", "error_message": "the tool broke"}
    assert turn_response(_run_with_events("failed", error)).error == "the tool broke"


def test_a_document_holds_the_hydrated_config_or_only_the_workflow_config() -> None:
    from harness.models.api import WorkflowDocument

    config = WorkflowConfigFullyHydrated.model_validate(
        json.loads((CORPUS / "wf_00.json").read_text())
    )
    hydrated = WorkflowDocument.of(RUN_ID, config, hydrated=True)
    plain = WorkflowDocument.of(RUN_ID, config, hydrated=False)
    assert hydrated.workflow_config == config and plain.workflow_config == config.workflow_config
    dumped = hydrated.model_dump(mode="json", by_alias=True)
    assert dumped["_id"] == RUN_ID and dumped["name"] == "Quickstart Notebook Workflow"
    again = WorkflowDocument.model_validate(plain.model_dump(mode="json", by_alias=True))
    assert again.workflow_config == config.workflow_config
