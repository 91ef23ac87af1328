"""Events and runs in the platform's shapes.

The quickstart workflow the platform ran live (`../shared/platform/corpus/wf_00.json`, its capture
in `runs/quickstart_execute_events.json`) emits the same event types in the same order with the
same keys on the engine; every event the engine emits has exactly the keys of the platform's class
for its type and validates against the platform's JSON Schema; a whole run validates against the
platform's `WorkflowRun` schema. The recorded shapes and schemas are in tests/data/platform/
(`tests/platform/record_shapes.py` writes them from the platform's models).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from engine_helpers import (
    command,
    conditional,
    direct,
    load_workflow,
    say_llm,
    say_static,
    start,
    user,
    worker,
    workflow,
)

from harness.engine import Engine, LLMClient, ToolMock, ToolRunner
from harness.engine.events import EVENT_SHAPES, EventLog, NodeScope
from harness.engine.variables import FixedClock
from harness.models.api import (
    EventType,
    SayStaticNodeConfig,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
    node_run_output,
    node_run_output_class,
)
from harness.testing.scripted_model import ScriptedModel

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "platform" / "corpus"
PLATFORM = ROOT / "tests" / "data" / "platform"
SHAPES: dict[str, Any] = json.loads((PLATFORM / "shapes.json").read_text())
EVENT_SCHEMA = json.loads((PLATFORM / "event.schema.json").read_text())
RUN_SCHEMA = json.loads((PLATFORM / "workflow_run.schema.json").read_text())

needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason="../shared/platform/corpus is not beside the checkout"
)


def platform_keys(event_type: str) -> set[str]:
    """The keys a dump of the platform's event class has (computed fields left out)."""
    shape = SHAPES["events"][event_type]
    keys = {"type", *SHAPES["base_event_fields"], *shape["fields"]}
    if shape["family"] == "node":
        keys |= set(SHAPES["node_event_fields"])
    return keys


def check_run(run: WorkflowRun, *, with_config: bool = True) -> list[str]:
    """Every way `run` differs from the platform's shapes (empty: it matches).

    `with_config=False` leaves the hydrated config out (the tests' compact workflows are not all
    platform configs; the workflow models' own tests hold those to the platform).
    """
    problems: list[str] = []
    data = run.model_dump(mode="json", by_alias=True)
    if not with_config:
        data["workflow_config_fully_hydrated"] = None
    for error in jsonschema.Draft202012Validator(RUN_SCHEMA).iter_errors(data):
        problems.append(f"run: {error.json_path}: {error.message}")
    validator = jsonschema.Draft202012Validator(EVENT_SCHEMA)
    for pair in data["input_output_pairs"]:
        for event in pair["run_output"]["events"]:
            kind = event["type"]
            if kind not in SHAPES["events"]:
                problems.append(f"{kind}: not a platform event type")
                continue
            extra, missing = set(event) - platform_keys(kind), platform_keys(kind) - set(event)
            if extra or missing:
                problems.append(f"{kind}: extra keys {sorted(extra)}, missing {sorted(missing)}")
            problems += [
                f"{kind}: {e.json_path}: {e.message}" for e in validator.iter_errors(event)
            ]
            if kind == "end_node_run":
                output = event["run_output"]
                fields = SHAPES["node_run_outputs"].get(output["type"], {})
                expected = {*SHAPES["node_run_output_fields"], "type", *fields}
                if set(output) != expected:
                    problems.append(f"end_node_run {output['type']}: keys {sorted(output)}")
    return problems


# ------------------------------------------------------------------ the engine's tables


def test_the_event_table_is_the_platforms() -> None:
    recorded = SHAPES["events"]
    assert set(EVENT_SHAPES) == set(recorded) == {t.value for t in EventType}
    for event_type, shape in EVENT_SHAPES.items():
        platform = recorded[event_type]
        family = {"workflow": "base", "thread": "base"}.get(shape.family, shape.family)
        assert family == platform["family"], event_type
        defaults = {k: (None if v == "<required>" else v) for k, v in platform["fields"].items()}
        assert dict(shape.fields) == defaults, event_type


def test_event_defaults_are_flat_so_each_event_gets_its_own_copy() -> None:
    # `EventLog.emit` copies container defaults shallowly: a nested container would be shared.
    scalars = (type(None), bool, int, float, str)
    for event_type, shape in EVENT_SHAPES.items():
        for name, default in shape.fields.items():
            inner = default.values() if isinstance(default, dict) else default
            if isinstance(default, (dict, list)):
                assert all(isinstance(v, scalars) for v in inner), (event_type, name)
            else:
                assert isinstance(default, scalars), (event_type, name)


def test_events_never_share_a_default_container() -> None:
    log = EventLog(FixedClock(datetime(2026, 1, 1, tzinfo=UTC)), random.Random(0))
    first = log.emit(EventType.WORKFLOW_SHOW_STATE).get("runtime_variables")
    first["x"] = 1
    second = log.emit(EventType.WORKFLOW_SHOW_STATE).get("runtime_variables")
    assert second == {}
    assert EVENT_SHAPES[EventType.WORKFLOW_SHOW_STATE].fields["runtime_variables"] == {}


@pytest.mark.parametrize("event_type", sorted(EVENT_SHAPES))
def test_every_event_has_the_common_keys_then_its_origin_then_its_own_in_order(
    event_type: str,
) -> None:
    log = EventLog(FixedClock(datetime(2026, 1, 1, tzinfo=UTC)), random.Random(0), "3")
    shape = EVENT_SHAPES[event_type]
    scope = NodeScope(SayStaticNodeConfig.model_validate(say_static("n", "hi")), "7")
    dumped = log.emit(event_type, scope).model_dump()
    common = ["type", "logical_id", "timestamp", "origin_thread_id", "comments", "interrupted"]
    origin = ["origin_node_logical_id", "origin_node_name", "origin_node_run_id"]
    expected = common + (origin if shape.family == "node" else []) + list(shape.fields)
    assert list(dumped) == expected
    assert dumped["origin_thread_id"] == (None if shape.family == "workflow" else "3")
    if shape.family == "node":
        assert [dumped[k] for k in origin] == ["n", scope.node.name, "7"]
    assert dumped["comments"] == [] and dumped["interrupted"] is False


@pytest.mark.parametrize("node_type", sorted(SHAPES["node_run_outputs"]))
def test_node_run_outputs_have_the_platforms_fields_and_defaults(node_type: str) -> None:
    fields = SHAPES["node_run_outputs"][node_type]
    if node_run_output_class(node_type).__name__ == "NodeRunOutput":
        pytest.skip(f"{node_type}: a node type the engine does not run (kept as extras)")
    output = node_run_output(node_type, node_logical_id="n", node_run_id="1")
    dumped = output.model_dump(mode="json")
    assert set(dumped) == {*SHAPES["node_run_output_fields"], "type", *fields}
    assert {k: dumped[k] for k in fields} == fields


# ------------------------------------------------------------------ the quickstart capture


@needs_corpus
async def test_the_quickstart_emits_the_captured_events_with_the_same_keys(
    engine: Engine,
) -> None:
    flow = WorkflowConfigFullyHydrated.model_validate(
        json.loads((CORPUS / "wf_00.json").read_text())
    )
    capture = json.loads((CORPUS / "runs" / "quickstart_execute_events.json").read_text())
    run = await engine.execute(flow, start())
    events = [e.model_dump(mode="json") for e in run.input_output_pairs[0].output.events]  # type: ignore[union-attr]
    captured = capture["events"]

    assert [e["type"] for e in events] == [e["type"] for e in captured]
    for ours, theirs in zip(events, captured, strict=True):
        assert set(ours) == set(theirs), ours["type"]
        for key in ("message", "llm_usage_info", "run_output", "run_input_output_pair"):
            if isinstance(theirs.get(key), dict):
                assert set(ours[key]) == set(theirs[key]), (ours["type"], key)
    pair = events[-2]["run_input_output_pair"]
    assert set(pair["run_output"]["thread_to_node_outputs"]["0"][0]) == set(
        captured[-2]["run_input_output_pair"]["run_output"]["thread_to_node_outputs"]["0"][0]
    )
    assert set(pair["iteration_end_state_miscellaneous"]) == set(
        captured[-2]["run_input_output_pair"]["iteration_end_state_miscellaneous"]
    )
    assert set(events[-2]["iteration_metrics"]) == set(captured[-2]["iteration_metrics"])
    # The values the platform's run shows, where the engine's are the same by construction.
    assert [e.get("content") for e in events if e["type"] == "assistant_response"] == [
        "Hi! Welcome to Interactly.",
        "Goodbye!",
    ]
    responses = [e for e in events if e["type"] == "assistant_response"]
    statics = [e for e in events if e["type"] == "say_static"]
    assert [r["logical_id"] for r in responses] == [s["message"]["id"] for s in statics]
    assert responses[0]["response_metadata"] == {"message_type": "static"}
    edge = next(e for e in events if e["type"] == "direct_edge")
    assert (edge["edge_run_id"], edge["source_node_name"], edge["destination_node_name"]) == (
        "1",
        "Greeting",
        "Goodbye",
    )
    assert events[-2]["iteration_number"] == 1
    assert events[-2]["iteration_metrics"]["nodes_executed_count"] == 2
    assert check_run(run) == []


# ------------------------------------------------------------------ every event the engine emits


def _hello() -> dict[str, Any]:
    return {"0": {"node_run_inputs": [{"messages": [{"role": "user", "content": "hello"}]}]}}


async def test_runs_of_every_kind_match_the_platforms_shapes(
    engine: Engine, model: ScriptedModel
) -> None:
    model.load(
        {
            "rules": [
                {
                    "when": {"response_format": "condition_evaluation"},
                    "reply": {"json": {"is_condition_met": True}},
                },
                {"when": {"response_format": "facts"}, "reply": {"json": {"ok": True}}},
            ],
            "default": {"text": "plain"},
        }
    )
    facts = {"name": "facts", "input_schema": {"type": "object", "properties": {"ok": {}}}}
    flow = workflow(
        [
            worker("w", structured_output_schema=facts),
            say_llm("s", self_loop=False),
            say_static("end", "Bye."),
        ],
        [direct("w", "s"), conditional("s", "end", freeform="The user is done.")],
        global_condition_evaluation_method="independent_llm_evaluations",
    )
    runs = [await engine.execute(flow, start(thread_to_node_inputs=_hello()))]
    chat = workflow([say_static("hi", "Hi."), say_llm("chat")], [direct("hi", "chat")])
    run = await engine.execute(chat, start())
    run = await engine.execute(chat, user(run, "hello"))
    run = await engine.execute(chat, command(run, "pause"))
    run = await engine.execute(chat, command(run, "resume"))
    runs.append(await engine.execute(chat, command(run, "stop")))
    runs.append(await engine.execute(load_workflow("two_node_say_static.json"), start()))
    for checked in runs:
        assert check_run(checked, with_config=False) == []


TOOL = {
    "type": "inline_python",
    "name": "find_slots",
    "args_schema": {"type": "object", "properties": {"day": {"type": "string"}}},
    "code": "def find_slots(day):\n    return []",
    "static_messages_config": {"static_messages": ["Let me check."]},
}


async def test_tool_calls_are_the_ai_messages_and_tool_messages_of_llm_events(
    llm: LLMClient, clock: FixedClock, model: ScriptedModel
) -> None:
    model.load(
        {
            "rules": [
                {"when": {"last_role": "tool"}, "reply": {"text": "Tuesday at 09:30."}},
                {
                    "when": {"tool_offered": "find_slots"},
                    "reply": {"tool_calls": [{"name": "find_slots", "arguments": {"day": "tue"}}]},
                },
            ]
        }
    )
    runner = ToolRunner(http=llm.http, mocks={"find_slots": ToolMock(returns=["09:30"])})
    engine = Engine(llm=llm, clock=clock, tools=runner)
    flow = workflow(
        [
            say_llm("book", tools_config={"tools": [TOOL]}, self_loop=False),
            {
                "type": "tool_node",
                "logical_id": "again",
                "name": "again",
                "tool_config": TOOL,
                "tool_arguments": {"day": "wed"},
            },
        ],
        [direct("book", "again")],
    )
    run = await engine.execute(flow, start(thread_to_node_inputs=_hello()))

    messages = [e.get("message") for e in run.events() if e.type == "say_llm"]
    asked, answered, final = messages
    call = asked["tool_calls"][0]
    assert (call["name"], call["args"], call["type"]) == ("find_slots", {"day": "tue"}, "tool_call")
    assert (answered["type"], answered["tool_call_id"], answered["status"]) == (
        "tool",
        call["id"],
        "success",
    )
    assert answered["response_metadata"]["tool_result"] == ["09:30"]
    assert final["content"] == "Tuesday at 09:30." and final["tool_calls"] == []
    tool_node_start = [e for e in run.events() if e.type == "start_node_run"][-1]
    assert tool_node_start.get("run_input")["miscellaneous"] == {
        "tool_name": "find_slots",
        "tool_arguments": {"day": "wed"},
    }
    output = run.input_output_pairs[-1].output.thread_to_node_outputs["0"][-1]
    assert output.model_dump(mode="json") == {
        "events": [],
        "type": "tool_node",
        "node_logical_id": "again",
        "node_run_id": "1",
        "success": True,
        "tool_result": ["09:30"],
        "error_message": None,
    }
    metrics = next(e for e in run.events() if e.type == "end_workflow_iteration")
    assert metrics.get("iteration_metrics")["tool_call_count"] == 1
    assert metrics.get("iteration_metrics")["llm_call_count"] == 2
    assert check_run(run, with_config=False) == []


# ------------------------------------------------------------------ the example suite's runs


def test_every_run_of_the_example_suite_matches_the_platforms_shapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.backends.engine import EngineBackend
    from harness.cli import main

    runs: list[WorkflowRun] = []
    execute = EngineBackend.execute

    async def keep(self: EngineBackend, target: Any, run_input: Any) -> WorkflowRun:
        run = await execute(self, target, run_input)
        runs.append(run)
        return run

    monkeypatch.setattr(EngineBackend, "execute", keep)  # a spy: the engine runs for real
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # replay only
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unused")
    assert main(["run", "scenarios/", "--report-dir", str(tmp_path)]) == 0, capsys.readouterr()
    assert len(runs) >= 40
    problems = {p for run in runs for p in check_run(run)}
    assert sorted(problems) == []
