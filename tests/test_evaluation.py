"""`evaluate_run`: the harness names an evaluator workflow and gets the verdict of a run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from serve_helpers import direct, evaluator, hydrated, node, scripted_engine

from harness.engine import Engine
from harness.errors import GraphValidationError
from harness.evaluation import evaluate_run
from harness.models.api import Command, RunStatus, WorkflowRun, WorkflowRunInput, user_message_input
from harness.testing import ScriptedModel, serve_scripted_model

SCRIPT = {
    "rules": [
        {"when": {"response_format": "verdict"}, "reply": {"json": {"passed": True, "score": 0.8}}}
    ],
    "default": {"text": "Happy to help."},
}
CHAT = hydrated(
    [
        node("say_llm", "chat", main_response_config={"prompt": "Help."}, self_loop=False),
        node("say_static", "bye", static_messages_config={"static_messages": ["Bye!"]}),
    ],
    [direct("chat", "bye")],
)


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[ScriptedModel, str]]:
    model = ScriptedModel(SCRIPT)
    with serve_scripted_model(model) as base_url:
        yield model, base_url


@pytest.fixture
async def engine(scripted: tuple[ScriptedModel, str]) -> AsyncIterator[Engine]:
    model, base_url = scripted
    model.load(SCRIPT)
    async with httpx.AsyncClient() as http:
        yield scripted_engine(http, base_url)


async def completed_run(engine: Engine) -> WorkflowRun:
    run = await engine.execute(CHAT, WorkflowRunInput(command=Command.START))
    return await engine.execute(
        None,
        WorkflowRunInput(
            command=Command.DATA,
            workflow_run_id=run.workflow_run_id,
            thread_to_node_inputs=user_message_input("I need help"),
        ),
    )


async def test_an_evaluator_scores_a_completed_run(engine: Engine) -> None:
    run = await completed_run(engine)
    assert run.status == RunStatus.COMPLETED

    outcome = await evaluate_run(engine, run, evaluator())

    assert outcome.verdict == {"passed": True, "score": 0.8}
    assert outcome.passed is True and outcome.score == 0.8
    assert outcome.status == RunStatus.COMPLETED and outcome.error is None
    evaluation = await engine.get_run(outcome.evaluation_workflow_run_id)
    assert evaluation.is_evaluation_run
    assert evaluation.source_workflow_run_id == run.workflow_run_id
    source = await engine.get_run(run.workflow_run_id or "")
    assert source.evaluation_run_info is not None
    assert (
        source.evaluation_run_info.evaluation_workflow_run_id == outcome.evaluation_workflow_run_id
    )


async def test_a_run_from_another_backend_is_evaluated(
    engine: Engine, scripted: tuple[ScriptedModel, str]
) -> None:
    model, base_url = scripted
    async with httpx.AsyncClient() as http:
        elsewhere = scripted_engine(http, base_url, seed=99)  # other ids, as on the platform
        run = await completed_run(elsewhere)
    outcome = await evaluate_run(engine, run, evaluator())
    assert outcome.verdict == {"passed": True, "score": 0.8}
    judged = model.requests[-1].last_user_text
    assert "user: I need help" in judged and "assistant [chat]: Happy to help." in judged


async def test_an_evaluator_that_finds_no_run_reports_it_as_an_error(engine: Engine) -> None:
    run = await completed_run(engine)
    broken = evaluator()
    broken.node_configs[0].workflow_run_id = "{{missing}}"  # type: ignore[union-attr]
    outcome = await evaluate_run(engine, run, broken)
    # The platform's fetch "will fail or return empty data": the run completes, judging nothing.
    assert outcome.status == RunStatus.COMPLETED
    assert outcome.verdict is None and outcome.passed is None and outcome.score is None
    assert outcome.error is not None and "no workflow run '{{missing}}'" in outcome.error


async def test_an_evaluator_that_fails_reports_its_error(
    engine: Engine, scripted: tuple[ScriptedModel, str]
) -> None:
    model, _ = scripted
    model.load({"rules": [{"when": {"response_format": "verdict"}, "reply": {"text": "great"}}]})
    run = await completed_run(engine)
    outcome = await evaluate_run(engine, run, evaluator())
    assert outcome.status == RunStatus.FAILED
    assert outcome.verdict is None
    assert outcome.error is not None and "the verdict is not a JSON object" in outcome.error


async def test_refusals(engine: Engine) -> None:
    with pytest.raises(Exception, match="without a workflow_run_id"):
        await evaluate_run(engine, WorkflowRun(), evaluator())
    run = await completed_run(engine)
    bad = hydrated([node("telephony_transfer", "call")])
    with pytest.raises(GraphValidationError, match="telephony_transfer"):
        await evaluate_run(engine, run, bad)
