"""Evaluator workflows: fetch + evaluator nodes, and evaluation runs when a run completes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from engine_helpers import direct, node, say_llm, say_static, start, types, user, workflow

from harness.engine import Engine, FixedClock, LLMClient, MappingWorkflowRegistry, SqliteRunStore
from harness.engine.evaluation_nodes import render_run, verdict_of
from harness.models.api import RunStatus, WorkflowConfigFullyHydrated, WorkflowRun
from harness.testing.scripted_model import ScriptedModel

EVALUATOR_ID = "e" * 24
VERDICT_SCHEMA = {
    "name": "verdict",
    "input_schema": {
        "type": "object",
        "properties": {"passed": {"type": "boolean"}, "score": {"type": "number"}},
    },
}


def evaluator_workflow(**evaluator_fields: Any) -> WorkflowConfigFullyHydrated:
    return workflow(
        [
            node("workflow_run_fetch", "fetch"),
            node(
                "workflow_run_evaluator",
                "judge",
                main_response_config={"prompt": "Did the assistant greet the user politely?"},
                **{"structured_output_schema": VERDICT_SCHEMA, **evaluator_fields},
            ),
        ],
        [direct("fetch", "judge")],
        name="evaluator",
    )


def source_workflow(*, turn_by_turn: bool = False) -> WorkflowConfigFullyHydrated:
    return workflow(
        [say_llm("chat", "Be polite.", self_loop=False), say_static("bye", "Goodbye!")],
        [direct("chat", "bye")],
        evaluation_config={
            "evaluator_workflow_id": EVALUATOR_ID,
            "enable_turn_by_turn_evaluation": turn_by_turn,
        },
    )


def judge_script(verdict: dict[str, Any]) -> dict[str, Any]:
    return {
        "rules": [{"when": {"response_format": "verdict"}, "reply": {"json": verdict}}],
        "default": {"text": "Hello, how can I help?"},
    }


@pytest.fixture(autouse=True)
def _default_script_afterwards(model: ScriptedModel) -> Iterator[None]:
    # Tests elsewhere use the shared model without loading a script: leave its default behind.
    yield
    model.load({"default": {"text": "I am a scripted model."}})


@pytest.fixture
def registry() -> MappingWorkflowRegistry:
    return MappingWorkflowRegistry({EVALUATOR_ID: evaluator_workflow()})


@pytest.fixture
def evaluating_engine(
    llm: LLMClient, clock: FixedClock, registry: MappingWorkflowRegistry
) -> Engine:
    return Engine(llm=llm, clock=clock, seed=7, workflows=registry)


async def test_completed_run_is_scored_by_its_evaluator(
    evaluating_engine: Engine, model: ScriptedModel
) -> None:
    model.load(judge_script({"passed": True, "score": 0.9}))
    run = await evaluating_engine.execute(source_workflow(), start())
    run = await evaluating_engine.execute(None, user(run, "hi there"))
    assert run.status == RunStatus.COMPLETED
    info = run.evaluation_run_info
    assert info is not None and info.evaluation_workflow_run_id is not None
    evaluation = await evaluating_engine.get_run(info.evaluation_workflow_run_id)
    assert evaluation.is_evaluation_run
    assert evaluation.source_workflow_run_id == run.workflow_run_id
    assert evaluation.status == RunStatus.COMPLETED
    assert verdict_of(evaluation) == {"passed": True, "score": 0.9}
    assert info.model_extra == {"status": "completed", "evaluation": {"passed": True, "score": 0.9}}
    # the stored source run carries the link too
    stored = await evaluating_engine.get_run(run.workflow_run_id or "")
    assert stored.evaluation_run_info == info


async def test_the_judge_reads_a_compact_transcript(
    evaluating_engine: Engine, model: ScriptedModel
) -> None:
    model.load(judge_script({"passed": False, "score": 0.1}))
    run = await evaluating_engine.execute(source_workflow(), start())
    run = await evaluating_engine.execute(None, user(run, "hi there"))
    judge_call = model.requests[-1]
    assert judge_call.system_text == "Did the assistant greet the user politely?"
    transcript = judge_call.last_user_text
    assert transcript.startswith("Workflow run: status completed")
    # Ids differ between backends; a judge prompt carrying them could not replay on both.
    assert str(run.workflow_run_id) not in transcript
    assert "user: hi there" in transcript
    assert "assistant [chat]: Hello, how can I help?" in transcript
    assert "assistant [bye]: Goodbye!" in transcript
    body = judge_call.body
    assert body["response_format"]["json_schema"]["name"] == "verdict"


async def test_evaluation_run_events_and_fetch_variable(
    evaluating_engine: Engine, model: ScriptedModel, registry: MappingWorkflowRegistry
) -> None:
    model.load(judge_script({"passed": True, "score": 1}))
    source = await evaluating_engine.execute(source_workflow(), start())
    source = await evaluating_engine.execute(None, user(source, "hi"))
    evaluation = await evaluating_engine.get_run(
        source.evaluation_run_info.evaluation_workflow_run_id or ""  # type: ignore[union-attr]
    )
    kinds = types(evaluation)
    assert kinds.count("worker_llm") == 1
    assert kinds[-1] == "end_workflow"
    state = [e for e in evaluation.events() if e.type == "workflow_show_state"][-1]
    fetched = state.get("runtime_variables")["workflow_run_object"]
    assert fetched["workflow_run_id"] == source.workflow_run_id
    assert "workflow_config_fully_hydrated" not in fetched
    # evaluation runs count their LLM call, and are not evaluated themselves
    assert evaluation.llm_token_usage.call_count == 1
    assert evaluation.evaluation_run_info is None


async def test_turn_by_turn_evaluation_fills_each_pair(
    llm: LLMClient, clock: FixedClock, model: ScriptedModel
) -> None:
    judge = evaluator_workflow(is_turn_by_turn_evaluator=True)
    evaluating_engine = Engine(
        llm=llm, clock=clock, seed=7, workflows=MappingWorkflowRegistry({EVALUATOR_ID: judge})
    )
    model.load(judge_script({"passed": True, "score": 0.5}))
    run = await evaluating_engine.execute(source_workflow(turn_by_turn=True), start())
    assert run.input_output_pairs[0].evaluation is not None
    assert run.input_output_pairs[0].evaluation["score"] == 0.5
    run = await evaluating_engine.execute(None, user(run, "hi"))
    ids = [p.evaluation["evaluation_workflow_run_id"] for p in run.input_output_pairs]  # type: ignore[index]
    assert len(set(ids)) == 2
    assert run.evaluation_run_info is not None
    assert run.evaluation_run_info.evaluation_workflow_run_id not in ids
    focus = [r.last_user_text for r in model.requests if "Judge turn" in r.last_user_text]
    # Turn 1, turn 2, then the completed run's evaluation: a turn-by-turn evaluator judges
    # the last turn when no turn is named.
    assert [t.rsplit("\n", 1)[-1] for t in focus] == [
        "Judge turn 1 only.",
        "Judge turn 2 only.",
        "Judge turn 2 only.",
    ]


async def test_an_evaluator_that_is_not_turn_by_turn_judges_the_whole_run(
    evaluating_engine: Engine, model: ScriptedModel
) -> None:
    model.load(judge_script({"passed": True, "score": 0.5}))
    run = await evaluating_engine.execute(source_workflow(turn_by_turn=True), start())
    run = await evaluating_engine.execute(None, user(run, "hi"))
    assert all(p.evaluation for p in run.input_output_pairs)
    assert not [r for r in model.requests if "Judge turn" in r.last_user_text]


async def test_turn_by_turn_evaluations_persist_in_sqlite(
    llm: LLMClient,
    clock: FixedClock,
    registry: MappingWorkflowRegistry,
    model: ScriptedModel,
    tmp_path: Any,
) -> None:
    model.load(judge_script({"passed": True, "score": 0.7}))
    store = SqliteRunStore(tmp_path / "runs.db")
    engine = Engine(llm=llm, clock=clock, seed=7, workflows=registry, store=store)
    run = await engine.execute(source_workflow(turn_by_turn=True), start())
    run = await engine.execute(None, user(run, "hi"))
    store.close()
    reopened = SqliteRunStore(tmp_path / "runs.db")
    stored = await reopened.get(run.workflow_run_id or "")
    reopened.close()
    assert stored is not None
    assert [p.evaluation["score"] for p in stored.input_output_pairs] == [0.7, 0.7]  # type: ignore[index]
    assert stored.evaluation_run_info == run.evaluation_run_info


async def test_unknown_evaluator_is_recorded_not_raised(
    engine: Engine, model: ScriptedModel
) -> None:
    run = await engine.execute(source_workflow(), start())
    run = await engine.execute(None, user(run, "hi"))
    assert run.status == RunStatus.COMPLETED
    assert run.evaluation_run_info is not None
    assert run.evaluation_run_info.evaluation_workflow_run_id is None
    assert "not known to this engine" in (run.evaluation_run_info.model_extra or {})["error"]


async def test_a_verdict_that_is_not_json_fails_the_evaluation_run(
    evaluating_engine: Engine, model: ScriptedModel
) -> None:
    model.load(
        {
            "rules": [{"when": {"response_format": "verdict"}, "reply": {"text": "great"}}],
            "default": {"text": "Hello"},
        }
    )
    run = await evaluating_engine.execute(source_workflow(), start())
    run = await evaluating_engine.execute(None, user(run, "hi"))
    info = run.evaluation_run_info
    assert info is not None and info.model_extra is not None
    assert info.model_extra["status"] == "failed"
    evaluation = await evaluating_engine.get_run(info.evaluation_workflow_run_id or "")
    error = next(e for e in evaluation.events() if e.type == "workflow_error")
    assert "the verdict is not a JSON object" in error.get("error_message")


async def test_a_fetch_that_finds_no_run_gives_empty_data_and_a_warning(
    engine: Engine, model: ScriptedModel
) -> None:
    """Example 18 as the platform ships it: its `workflow_run_id` is a placeholder."""
    model.load(judge_script({"passed": False, "score": 0}))
    evaluation = await engine.execute(
        evaluator_workflow(), start(dynamic_variables={"workflow_run_id": "0" * 24})
    )
    assert evaluation.status == RunStatus.COMPLETED
    warning = next(e for e in evaluation.events() if e.type == "workflow_warning")
    message = warning.get("warning_message")
    assert f"no workflow run {'0' * 24!r} in the engine's store" in message
    assert "pass the run id as the dynamic variable `workflow_run_id`" in message
    fetched = next(
        e.get("run_output")
        for e in evaluation.events()
        if e.type == "end_node_run" and e.origin_node_logical_id == "fetch"
    )
    assert fetched["fetched_workflow_run"] is None
    assert model.requests[-1].last_user_text == "No workflow run was found to evaluate."


async def test_without_a_schema_the_evaluator_answers_free_form(
    llm: LLMClient, clock: FixedClock, model: ScriptedModel
) -> None:
    """ "If empty or None, no structured output is expected" (the platform's docstring)."""
    judge = evaluator_workflow(structured_output_schema=None, output_runtime_variable_name="notes")
    registry = MappingWorkflowRegistry({EVALUATOR_ID: judge})
    engine = Engine(llm=llm, clock=clock, seed=7, workflows=registry)
    model.load({"default": {"text": "Polite and brief."}})
    run = await engine.execute(source_workflow(), start())
    run = await engine.execute(None, user(run, "hi"))
    assert "response_format" not in model.requests[-1].body
    info = run.evaluation_run_info
    assert info is not None and info.model_extra is not None
    assert info.model_extra["evaluation"] == {"free_form_output": "Polite and brief."}
    evaluation = await engine.get_run(info.evaluation_workflow_run_id or "")
    output = judge_output(evaluation)
    assert output["structured_output"] == {}
    assert output["free_form_output"] == "Polite and brief."
    assert final_runtime(evaluation)["notes"] == "Polite and brief."


def judge_output(evaluation: WorkflowRun) -> dict[str, Any]:
    """The evaluator node's run output, as its `end_node_run` event carries it."""
    ended = [
        e
        for e in evaluation.events()
        if e.type == "end_node_run" and e.origin_node_logical_id == "judge"
    ]
    assert len(ended) == 1
    return dict(ended[0].get("run_output"))


def final_runtime(run: WorkflowRun) -> dict[str, Any]:
    states = [e for e in run.events() if e.type == "workflow_show_state"]
    return dict(states[-1].get("runtime_variables"))


EXAMPLE_18_SCHEMA = {
    "type": "object",
    "properties": {
        "greeting_quality": {"type": "integer", "minimum": 0, "maximum": 10},
        "compliance": {"type": "string", "enum": ["pass", "fail"]},
        "call_summary": {"type": "string"},
    },
    "required": ["greeting_quality", "compliance", "call_summary"],
}
"""The raw JSON-Schema form the platform's evaluator example (18) uses."""


async def test_a_raw_json_schema_verdict_lands_in_the_output_variable(
    engine: Engine, model: ScriptedModel
) -> None:
    """Example 18's shape: fetch -> evaluator (raw schema, `evaluation_result`) -> report."""
    verdict = {"greeting_quality": 9, "compliance": "pass", "call_summary": "A short greeting."}
    model.load(
        {
            "rules": [
                {"when": {"response_format": "evaluation"}, "reply": {"json": verdict}},
                {"when": {"system": "REPORT"}, "reply": {"text": "Greeting 9/10, compliant."}},
            ],
            "default": {"text": "Hello, how can I help?"},
        }
    )
    source = await engine.execute(source_workflow(), start())
    source = await engine.execute(None, user(source, "hi"))
    report_workflow = workflow(
        [
            node(
                "workflow_run_fetch",
                "fetch",
                workflow_run_id=None,
                result_runtime_variable_name="call",
            ),
            node(
                "workflow_run_evaluator",
                "judge",
                main_response_config={"prompt": "Score the call."},
                structured_output_schema=EXAMPLE_18_SCHEMA,
                input_runtime_variable_name="call",
                output_runtime_variable_name="evaluation_result",
            ),
            say_llm(
                "report",
                "REPORT: summarise [[evaluation_result]]",
                self_loop=False,
                wait_for_user_message=False,
            ),
        ],
        [direct("fetch", "judge"), direct("judge", "report")],
    )
    evaluation = await engine.execute(
        report_workflow, start(dynamic_variables={"workflow_run_id": source.workflow_run_id})
    )
    assert evaluation.status == RunStatus.COMPLETED
    judge_call = next(r for r in model.requests if r.body.get("response_format"))
    assert judge_call.body["response_format"]["json_schema"] == {
        "name": "evaluation",
        "schema": EXAMPLE_18_SCHEMA,
    }
    assert model.requests[-1].system_text == f"REPORT: summarise {json.dumps(verdict)}"
    runtime = final_runtime(evaluation)
    assert runtime["evaluation_result"] == verdict
    assert "greeting_quality" not in runtime  # the verdict stays in its variable
    assert runtime["call"]["workflow_run_id"] == source.workflow_run_id
    assert judge_output(evaluation)["structured_output"] == verdict
    assert judge_output(evaluation)["free_form_output"] is None
    assert verdict_of(evaluation) == verdict
    fetched = next(
        e.get("run_output")
        for e in evaluation.events()
        if e.type == "end_node_run" and e.origin_node_logical_id == "fetch"
    )
    assert fetched["type"] == "workflow_run_fetch"
    assert json.loads(fetched["fetched_workflow_run"])["workflow_run_id"] == source.workflow_run_id


async def test_an_evaluator_reading_a_variable_without_a_run_names_it(
    engine: Engine, model: ScriptedModel
) -> None:
    evaluation = await engine.execute(
        workflow(
            [node("workflow_run_evaluator", "judge", input_runtime_variable_name="missing_run")]
        ),
        start(),
    )
    assert evaluation.status == RunStatus.FAILED
    error = next(e for e in evaluation.events() if e.type == "workflow_error")
    assert "no workflow run in [[missing_run]]" in error.get("error_message")


def test_render_run_is_compact_and_tolerant() -> None:
    text = render_run(
        {
            "workflow_run_id": "r1",
            "status": "completed",
            "input_output_pairs": [
                {
                    "run_input": {"command": "data"},
                    "run_output": {
                        "events": [
                            "a placeholder",
                            {"type": "user_messages", "messages": ["x" * 2000]},
                            {"type": "tool_call", "tool_name": "find", "arguments": {"d": 1}},
                            {"type": "tool_result", "success": False, "error_message": "boom"},
                            {"type": "unknown_kind"},
                        ]
                    },
                }
            ],
        }
    )
    assert text.splitlines()[1] == "Turn 1 (data):"
    assert "tool call [None]: find(" in text
    assert 'tool result (error): "boom"' in text
    assert len(text) < 1000
    assert json.dumps  # the module renders JSON values with json.dumps


def test_render_run_reads_the_platforms_event_shapes() -> None:
    """Tool calls ride on LLM events as LangChain messages; a call no tool answers (a transition)
    is left out; tool nodes record their call in `run_input` and their result in the output."""
    ai = {
        "type": "ai",
        "content": "",
        "tool_calls": [{"name": "find", "args": {"d": 1}, "id": "c1"}],
    }
    move = {"type": "ai", "content": "", "tool_calls": [{"name": "go_on", "args": {}, "id": "c2"}]}
    answer = {
        "type": "tool",
        "tool_call_id": "c1",
        "status": "success",
        "response_metadata": {"tool_result": {"slots": ["9:30"]}},
    }
    events = [
        {"type": "say_llm", "origin_node_name": "chat", "message": ai},
        {"type": "say_llm", "origin_node_name": "chat", "message": answer},
        {"type": "say_llm", "origin_node_name": "chat", "message": move},
        {
            "type": "start_node_run",
            "origin_node_name": "book",
            "run_input": {"miscellaneous": {"tool_name": "book", "tool_arguments": {"t": "9:30"}}},
        },
        {
            "type": "end_node_run",
            "origin_node_name": "book",
            "run_output": {"type": "tool_node", "success": False, "error_message": "taken"},
        },
        {
            "type": "end_node_run",
            "origin_node_name": "extract",
            "run_output": {"type": "worker_llm", "structured_output": {"age": 40}},
        },
    ]
    text = render_run(
        {"status": "completed", "input_output_pairs": [{"run_output": {"events": events}}]}
    )
    assert text.splitlines()[2:] == [
        '  tool call [chat]: find({"d": 1})',
        '  tool result (ok): {"slots": ["9:30"]}',
        '  tool call [book]: book({"t": "9:30"})',
        '  tool result (error): "taken"',
        '  extracted [extract]: {"age": 40}',
    ]
