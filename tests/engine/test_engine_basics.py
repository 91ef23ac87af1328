"""The vertical slice: start -> say_llm -> direct edge -> end, and the captured event order."""

from __future__ import annotations

import random
import re
import uuid
from typing import Any

import pytest
from engine_helpers import (
    direct,
    load_workflow,
    path,
    said,
    say_llm,
    say_static,
    start,
    types,
    user,
    workflow,
)

from harness.engine import Engine
from harness.engine.events import build_event, new_logical_id
from harness.errors import GraphValidationError
from harness.models.api import RunEvent, RunStatus
from harness.testing.scripted_model import ScriptedModel

CAPTURED_ORDER = [
    "start_node_run",
    "say_static",
    "assistant_response",
    "end_node_run",
    "workflow_show_state",
    "direct_edge",
    "workflow_navigation_message",
    "start_node_run",
    "say_static",
    "assistant_response",
    "end_node_run",
    "workflow_show_state",
    "end_thread",
    "end_workflow_iteration",
    "end_workflow",
]


async def test_two_node_say_static_emits_the_captured_event_order(engine: Engine) -> None:
    run = await engine.execute(load_workflow("two_node_say_static.json"), start())

    assert run.status == RunStatus.COMPLETED
    assert run.termination_source is None
    assert types(run) == CAPTURED_ORDER
    assert said(run) == ["Hello Ana!", "Goodbye."]
    assert len(run.input_output_pairs) == 1


async def test_events_carry_the_common_fields(engine: Engine) -> None:
    run = await engine.execute(load_workflow("two_node_say_static.json"), start())
    events = run.input_output_pairs[0].run_output.typed_events()

    # A response and a navigation memo take their message's id, as on the platform.
    pattern = r"(event|assistant_message|nav_msg)_[0-9a-f-]{36}"
    assert all(re.fullmatch(pattern, e.logical_id or "") for e in events)
    assert len({e.logical_id for e in events}) == len(events)
    assert all(isinstance(e.timestamp, float) and e.comments == [] for e in events)
    # Workflow-level events have no origin thread on the platform; the others are thread "0"'s.
    workflow_level = {"workflow_show_state", "end_workflow_iteration", "end_workflow"}
    assert all(e.origin_thread_id == (None if e.type in workflow_level else "0") for e in events)
    first = events[0]
    assert (first.origin_node_logical_id, first.origin_node_name, first.origin_node_run_id) == (
        "node_hello",
        "hello",
        "1",
    )
    edge = events[5]
    assert edge.get("source_node_logical_id") == "node_hello"
    assert edge.get("destination_node_logical_id") == "node_bye"
    assert edge.get("edge_logical_id") == "edge_hello_bye"
    assert edge.get("reason")


async def test_ids_come_from_the_seed(engine: Engine, llm, clock) -> None:  # type: ignore[no-untyped-def]
    flow = load_workflow("two_node_say_static.json")
    first = await engine.execute(flow, start())
    again = await Engine(llm=llm, clock=clock, seed=7).execute(flow, start())
    other = await Engine(llm=llm, clock=clock, seed=8).execute(flow, start())

    assert re.fullmatch(r"[0-9a-f]{24}", first.workflow_run_id or "")
    assert re.fullmatch(r"workflow_run_[0-9a-f-]{36}", first.logical_id or "")
    assert first.workflow_run_id == again.workflow_run_id
    assert first.logical_id == again.logical_id
    assert first.model_dump() == again.model_dump()
    assert other.workflow_run_id != first.workflow_run_id


async def test_say_llm_then_direct_edge_to_the_end(engine: Engine, model: ScriptedModel) -> None:
    model.load(
        {
            "rules": [
                {"when": {"last_user": "headache"}, "reply": {"text": "Sorry to hear that."}}
            ],
        }
    )
    flow = workflow(
        [say_llm("ask", "Ask how the patient feels.", self_loop=False), say_static("bye", "Bye.")],
        [direct("ask", "bye")],
    )
    run = await engine.execute(flow, start())
    assert run.status == RunStatus.WAITING_FOR_USER_INPUT
    assert types(run) == [
        "start_node_run",
        "busy_wait_for_user_message",
        "end_workflow_iteration",
        "workflow_ready_for_input",
    ]

    run = await engine.execute(flow, user(run, "I have a headache"))

    assert run.status == RunStatus.COMPLETED
    assert said(run) == ["Sorry to hear that.", "Bye."]
    assert path(run) == ["ask", "bye"]
    assert types(run)[:4] == ["user_messages", "say_llm", "assistant_response", "end_node_run"]
    request = model.requests[-1]
    assert request.system_text == "Ask how the patient feels."
    assert request.last_user_text == "I have a headache"
    assert request.body["model"] == "scripted-model"
    assert len(run.input_output_pairs) == 2
    assert run.workflow_config_fully_hydrated is flow


def test_fast_events_equal_validated_ones() -> None:
    values = {
        "type": "say_llm",
        "logical_id": "event_1",
        "timestamp": 1.5,
        "message": "hi",
        "n": [1],
    }
    fast, validated = build_event(values), RunEvent.model_validate(values)
    assert fast == validated
    assert fast.model_fields_set == validated.model_fields_set
    assert fast.model_dump_json() == validated.model_dump_json()
    assert fast.get("message") == "hi"


@pytest.mark.parametrize("make", [build_event, RunEvent.model_validate])
def test_event_get_reads_known_fields_extras_and_defaults(make: Any) -> None:
    event = make({"type": "say_static", "timestamp": 2.0, "message": "hi"})
    assert event.get("type") == "say_static"
    assert event.get("timestamp") == 2.0
    assert event.get("message") == "hi"
    assert event.get("missing") is None
    assert event.get("missing", "fallback") == "fallback"
    bare = RunEvent.model_validate({"type": "pause_event"})  # no extras at all
    assert bare.get("origin_node_logical_id", "none") == "none"
    assert bare.origin_node_logical_id is None


def test_logical_ids_are_uuid4_text_from_the_random_source() -> None:
    first, second = random.Random(5), random.Random(5)
    for _ in range(200):
        expected = uuid.UUID(int=second.getrandbits(128), version=4)
        assert new_logical_id("event", first) == f"event_{expected}"


def test_unsupported_nodes_and_nodes_without_handlers_are_refused_by_name(engine: Engine) -> None:
    phone = workflow([{"type": "telephony_transfer", "logical_id": "call", "name": "call"}])
    with pytest.raises(GraphValidationError, match="telephony_transfer"):
        engine.plan(phone)
    fetch = workflow([{"type": "workflow_run_fetch", "logical_id": "fetch", "name": "fetch"}])
    del engine.handlers["workflow_run_fetch"]  # registered by default: take it away to test
    with pytest.raises(GraphValidationError, match="'workflow_run_fetch' has no handler"):
        engine.plan(fetch)


async def test_the_loaded_graph_is_cached_per_config_object(engine: Engine) -> None:
    flow = load_workflow("two_node_say_static.json")
    assert engine.plan(flow) is engine.plan(flow)
    assert engine.plan(flow) is not engine.plan(load_workflow("two_node_say_static.json"))


def test_malformed_expressions_and_waiting_companions_are_refused_at_load(engine: Engine) -> None:
    flow = workflow(
        [say_static("a", "A"), say_static("b", "B"), say_llm("c", wait_for_user_message=True)],
        [
            {
                "type": "conditional",
                "logical_id": "broken",
                "source_node_logical_id": "a",
                "destination_node_logical_id": "b",
                "condition": {"condition_expression": "[[x]] == AND 3"},
            },
            {
                "type": "companion",
                "logical_id": "side",
                "source_node_logical_id": "a",
                "destination_node_logical_id": "c",
            },
        ],
    )
    with pytest.raises(GraphValidationError) as caught:
        engine.plan(flow)
    problems = "\n".join(caught.value.problems)
    assert "broken" in problems and "side" in problems
    assert len(caught.value.problems) >= 2
