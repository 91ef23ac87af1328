"""Evaluator workflows: fetch + evaluator nodes, and evaluation runs when a run completes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from engine_helpers import direct, node, say_llm, say_static, start, types, user, workflow

from harness.engine import Engine, FixedClock, LLMClient, MappingWorkflowRegistry, SqliteRunStore
from harness.engine.evaluation_nodes import render_run, verdict_of
from harness.models.api import RunStatus, WorkflowConfigFullyHydrated
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
    evaluating_engine: Engine, model: ScriptedModel
) -> None:
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
    assert [t.rsplit("\n", 1)[-1] for t in focus] == [
        "Judge turn 1 (the last one).",
        "Judge turn 2 (the last one).",
    ]


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


async def test_fetch_of_a_missing_run_fails_with_a_clear_error(
    engine: Engine, model: ScriptedModel
) -> None:
    evaluation = await engine.execute(
        evaluator_workflow(), start(dynamic_variables={"workflow_run_id": "0" * 24})
    )
    assert evaluation.status == RunStatus.FAILED
    error = next(e for e in evaluation.events() if e.type == "workflow_error")
    assert f"no workflow run {'0' * 24!r}" in error.get("error_message")


async def test_default_verdict_schema_when_the_node_has_none(
    llm: LLMClient, clock: FixedClock, model: ScriptedModel
) -> None:
    registry = MappingWorkflowRegistry(
        {EVALUATOR_ID: evaluator_workflow(structured_output_schema=None)}
    )
    engine = Engine(llm=llm, clock=clock, seed=7, workflows=registry)
    model.load(
        {
            "rules": [
                {
                    "when": {"response_format": "evaluation"},
                    "reply": {"json": {"passed": True, "score": 1, "reasoning": "polite"}},
                }
            ],
            "default": {"text": "Hello"},
        }
    )
    run = await engine.execute(source_workflow(), start())
    run = await engine.execute(None, user(run, "hi"))
    extra = run.evaluation_run_info.model_extra or {}  # type: ignore[union-attr]
    assert extra["evaluation"]["reasoning"] == "polite"
    schema = model.requests[-1].body["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["passed", "score", "reasoning"]


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
