"""Scenario models: shorthands, turn kinds, run inputs, mocks, and the JSON Schema."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from harness.models.api import Command
from harness.models.scenario import (
    SIMULATION_STOP_TOKEN,
    Expect,
    Mocks,
    Repeat,
    Scenario,
    TurnKind,
    scenario_json_schema,
    user_run_input,
)

BASE: dict[str, Any] = {"name": "n", "workflow_id": "65a1b2c3d4e5f60718293a4b"}


def scenario(**fields: Any) -> Scenario:
    return Scenario.model_validate(BASE | fields)


def test_every_turn_kind_and_its_run_input() -> None:
    s = scenario(
        dynamic_variables={"patient": "Ana", "clinic": "North"},
        workflow_version=3,
        turns=[
            {"start": {"dynamic_variables": {"clinic": "South"}, "user": "hi"}},
            {"user": ["first", "second"]},
            {"input": {"command": "data", "miscellaneous": {"channel": "sms"}}},
            {"simulate": {"persona": "an anxious patient", "goal": "book a visit"}},
            {"pause": None},
            {"resume": True},
            {"stop": {}},
        ],
    )
    assert [t.kind for t in s.turns] == list(TurnKind)
    start = s.run_input_for(s.turns[0])
    assert (start.command, start.dynamic_variables, start.version_number) == (
        Command.START,
        {"patient": "Ana", "clinic": "South"},
        3,
    )
    assert start.thread_to_node_inputs["0"].node_run_inputs[0].user_texts() == ["hi"]
    user = s.run_input_for(s.turns[1])
    assert user.command is Command.DATA
    assert user.thread_to_node_inputs["0"].node_run_inputs[0].user_texts() == ["first", "second"]
    assert s.run_input_for(s.turns[2]).miscellaneous == {"channel": "sms"}
    assert [s.run_input_for(t).command for t in s.turns[4:]] == [
        Command.PAUSE,
        Command.RESUME,
        Command.STOP,
    ]
    with pytest.raises(ValueError, match="simulated turn"):
        s.run_input_for(s.turns[3])
    assert user_run_input("ok").command is Command.DATA
    assert s.turns[3].simulate is not None and s.turns[3].simulate.stop_when.goal_reached
    assert SIMULATION_STOP_TOKEN in str(
        type(s.turns[3].simulate.stop_when).model_fields["goal_reached"].description
    )
    assert s.turns[1].label == "user: first"


def test_shorthands_become_the_full_form() -> None:
    e = Expect.model_validate(
        {
            "status": "completed",
            "node": "goodbye",
            "says": "Bye",
            "path": ["a", "b"],
            "tool_calls": [{"name": "t"}],
            "transitions": [{"to": "b"}],
            "events": ["end_workflow"],
            "json_schema": {"schema": {"type": "object"}},
            "evaluation": {"passed": True, "score": {"gte": 0.8}},
        }
    )
    assert e.says is not None and e.says.equals == "Bye"
    assert e.path is not None and e.path.equals == ["a", "b"] and e.path.scope == "run"
    assert e.tool_calls is not None and e.tool_calls.contains is not None
    assert e.transitions is not None and e.transitions.contains is not None
    assert e.transitions.contains[0].to_node == "b"
    assert (
        e.events is not None
        and e.events.contains is not None
        and e.events.contains[0].type == "end_workflow"
    )
    assert e.json_schema is not None and len(e.json_schema) == 1
    assert e.evaluation is not None
    assert e.evaluation["passed"].equals is True and e.evaluation["score"].gte == 0.8
    assert not e.checks_termination_source()
    assert Expect.model_validate({"termination_source": None}).checks_termination_source()


def test_mocks_pick_the_first_matching_when() -> None:
    mocks = Mocks.model_validate(
        {
            "tools": {
                "find_slots": [{"when": {"day": "monday"}, "returns": []}, {"returns": ["09:30"]}],
                "sms": {"raises": "down", "delay_seconds": 0.5},
            }
        }
    )
    assert mocks.tool_mock("find_slots", {"day": "monday"}).returns == []  # type: ignore[union-attr]
    assert mocks.tool_mock("find_slots", {"day": "friday"}).returns == ["09:30"]  # type: ignore[union-attr]
    assert mocks.tool_mock("sms", {}).raises == "down"  # type: ignore[union-attr]
    assert mocks.tool_mock("other", {}) is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"workflow_id": None, "turns": [{"start": {}}]},
            "give `workflow` (a workflow file, for the engine) or `workflow_id`",
        ),
        ({"turns": []}, "List should have at least 1 item"),
        (
            {"turns": [{"start": {}}], "repeat": {"runs": 2, "k": 3}},
            "`k` (3) cannot exceed `runs` (2)",
        ),
        ({"turns": [{"start": {}}], "budgets": {"tokens": {}}}, "give `max`, `p95` or both"),
        (
            {"turns": [{"start": {}, "expect": {"values": [{"select": "x"}]}}]},
            "give at least one of",
        ),
    ],
)
def test_invalid_scenarios(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        scenario(**fields)


def test_repeat_defaults_to_all_runs_passing() -> None:
    assert Repeat(runs=3).required == 3
    assert Repeat(runs=3, min_pass=2).required == 2


def test_the_json_schema_is_valid_and_accepts_shorthands_and_rejects_typos() -> None:
    schema = scenario_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    valid = BASE | {
        "version": 1,
        "turns": [
            {
                "start": {},
                "expect": {
                    "says": "hi",
                    "status": "completed",
                    "path": ["a"],
                    "tool_calls": [{"name": "t"}],
                },
            },
            {
                "user": "x",
                "expect": {
                    "evaluation": {"score": {"gte": 0.5}, "passed": True},
                    "events": {"counts": {"x": 1}},
                },
            },
            {"pause": None},
            {"stop": True},
        ],
        "mocks": {"tools": {"t": {"returns": 1}, "u": [{"raises": "x"}]}},
        "matrix": {"lang": ["en", "es"]},
    }
    jsonschema.validate(valid, schema)
    for broken in [
        valid | {"expext": {}},
        valid | {"version": 2},
        valid | {"turns": [{"usr": "x"}]},
    ]:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)
