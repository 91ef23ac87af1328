"""Run outputs as JSON (`harness.models.api.run_json`): exactly `model_dump(mode="json")`.

The engine's run outputs take a path that merges each event's own dicts instead of pydantic's
walk; every other run output is dumped by pydantic. Every run output of the engine tests is also
compared with pydantic's dump, turn by turn and after the run's later turns (conftest.py).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any

import pytest
from engine_helpers import say_static, strictly_equal

from harness.engine.events import EVENT_SHAPES, EventLog, NodeScope
from harness.engine.iteration import pair_snapshot
from harness.engine.variables import FixedClock
from harness.models.api import (
    CommentConfig,
    RunEvent,
    RunOutput,
    SayStaticNodeConfig,
    WorkflowRunInputOutputPair,
    mark_engine_built,
    node_run_output,
    run_output_json,
    user_message_input,
)
from harness.models.api.run_json import pair_snapshot_json
from harness.models.api.runs import RecordedRunInput


def _log() -> EventLog:
    return EventLog(FixedClock(datetime(2026, 1, 1, tzinfo=UTC)), random.Random(0), "0")


def _scope() -> NodeScope:
    return NodeScope(SayStaticNodeConfig.model_validate(say_static("n", "hi")), "1")


def _engine_output(events: list[RunEvent], outputs: list[Any] | None = None) -> RunOutput:
    output = RunOutput.model_construct(
        events=list(events), thread_to_node_outputs={"0": outputs or []}
    )
    mark_engine_built(output)
    return output


@pytest.mark.parametrize("event_type", sorted(EVENT_SHAPES))
def test_every_event_type_dumps_as_pydantic_does(event_type: str) -> None:
    log = _log()
    log.emit(event_type, _scope())
    output = _engine_output(log.events)
    assert strictly_equal(run_output_json(output), output.model_dump(mode="json"))


def test_events_with_values_dump_as_pydantic_does() -> None:
    log = _log()
    scope = _scope()
    log.secrets = ("s3cret",)
    log.user_messages(scope, ["my key is s3cret"])
    log.emit("say_llm", scope, message="calling", tool_calls=[{"name": "t", "args": {"a": 1}}])
    log.tool_result(
        scope,
        name="t",
        call_id="c1",
        arguments={"a": 1},
        success=False,
        result=None,
        error="boom",
        content="failed",
    )
    log.emit("assistant_response", scope, content="done", error_message="it broke")
    log.end_node_run(scope, node_run_output("tool_node", node_logical_id="n", tool_result=[1.5]))
    log.show_state(scope, {"nested": {"list": [1, None, True, "x"]}})
    log.edge(
        "conditional_edge", scope, destination="m", edge_id="e", reason="r", args_filled={"k": 2}
    )
    outputs = [node_run_output("worker_llm", node_logical_id="n", structured_output={"v": [1]})]
    output = _engine_output(log.events, outputs)
    dumped = run_output_json(output)
    assert strictly_equal(dumped, output.model_dump(mode="json"))
    assert "s3cret" not in str(dumped)


def test_the_pair_snapshot_is_pydantics_dump_without_events_comments_and_ratings() -> None:
    log = _log()
    log.emit("say_static", _scope(), message="hi")
    output = _engine_output(log.events, [node_run_output("say_static", node_logical_id="n")])
    pair = WorkflowRunInputOutputPair.model_construct(
        run_input=RecordedRunInput(thread_to_node_inputs=user_message_input("hello")),
        run_output=output,
        evaluation={"score": 1},
        iteration_end_state_miscellaneous={"active_thread_ids": ["0"]},
        comments=[],
        ratings=[],
    )
    leave_out: Any = {"comments": True, "ratings": True, "run_output": {"events"}}
    expected = pair.model_dump(mode="json", by_alias=True, exclude=leave_out)
    expected["run_output"] = {"events": [], **expected["run_output"]}
    assert strictly_equal(pair_snapshot(pair), expected)
    unmarked = pair.model_copy(update={"run_output": output.model_copy()})
    assert strictly_equal(pair_snapshot_json(unmarked), expected)


def test_a_run_output_not_built_by_the_engine_is_dumped_by_pydantic() -> None:
    # Values validated from Python may be anything pydantic can dump: only its walk converts them.
    output = RunOutput.model_validate({"events": [{"type": "x", "when": date(2026, 1, 2)}]})
    assert run_output_json(output)["events"][0]["when"] == "2026-01-02"


@pytest.mark.parametrize(
    "oddity",
    [
        pytest.param(lambda o: o.events.append({"not": "an event"}), id="a plain item"),
        pytest.param(
            lambda o: o.events[0].comments.append(CommentConfig(content="c", createdBy=None)),
            id="a comment",
        ),
        pytest.param(
            lambda o: o.thread_to_node_outputs["0"][0].events.append({"type": "x"}),
            id="events in a node output",
        ),
        pytest.param(lambda o: setattr(o, "extra_key", {"k": 1}), id="an extra key"),
    ],
)
def test_what_the_engine_never_builds_is_dumped_by_pydantic(oddity: Any) -> None:
    log = _log()
    log.emit("say_static", _scope(), message="hi")
    output = _engine_output(log.events, [node_run_output("say_static", node_logical_id="n")])
    oddity(output)
    assert strictly_equal(run_output_json(output), output.model_dump(mode="json"))


def test_the_dump_has_its_own_event_dicts() -> None:
    log = _log()
    log.emit("say_static", _scope(), message="hi")
    output = _engine_output(log.events)
    dumped = run_output_json(output)
    dumped["events"][0]["type"] = "changed"
    dumped["events"][0]["comments"].append("x")
    assert output.events[0].type == "say_static"  # type: ignore[union-attr]
    assert output.events[0].comments == []  # type: ignore[union-attr]
