"""Commands and statuses: start, data, pause, resume, stop; all nine statuses; failures; hooks."""

from __future__ import annotations

import pytest
from engine_helpers import (
    command,
    direct,
    event,
    node,
    said,
    say_llm,
    say_static,
    start,
    types,
    user,
    workflow,
)

from harness.engine import (
    Engine,
    LLMClient,
    MappingWorkflowRegistry,
    MemoryRunStore,
    NodeResult,
    NodeVisit,
    RunNotFoundError,
    RunState,
    TurnContext,
)
from harness.engine.variables import FixedClock
from harness.errors import EngineError, RunConflictError
from harness.models.api import EvaluationRunInfo, RunStatus, WorkflowRun, WorkflowRunInput
from harness.testing.scripted_model import ScriptedModel

CHAT = workflow([say_static("hi", "Hi."), say_llm("chat")], [direct("hi", "chat")])


class StatusLog(MemoryRunStore):
    """Remembers the status of every save, including the ones made mid-turn."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: list[RunStatus] = []

    async def save(self, run: WorkflowRun, state: RunState) -> None:
        self.saved.append(run.status)
        await super().save(run, state)


async def _boom(ctx: TurnContext, visit: NodeVisit) -> NodeResult:
    raise RuntimeError("the node exploded")


async def test_every_status_is_reachable(
    llm: LLMClient, clock: FixedClock, model: ScriptedModel
) -> None:
    store = StatusLog()
    engine = Engine(llm=llm, clock=clock, store=store, node_handlers={"no_op": _boom})

    created = await engine.create_run(CHAT)  # not_started
    run = await engine.execute(None, command(created, "start"))  # started (mid-turn), waiting
    run = await engine.execute(None, user(run, "hello"))  # running (mid-turn), waiting
    run = await engine.execute(None, command(run, "pause"))  # paused
    run = await engine.execute(None, command(run, "resume"))
    run = await engine.execute(None, command(run, "stop"))  # cancelled
    await engine.execute(workflow([say_static("a", "A")]), start())  # completed
    await engine.execute(workflow([node("no_op", "x")]), start())  # failed
    loop = workflow(
        [say_static("a", "A"), say_static("b", "B")], [direct("a", "b"), direct("b", "a")]
    )
    await engine.execute(loop, start())  # aborted_looping_risk

    assert store.saved[:3] == [
        RunStatus.NOT_STARTED,
        RunStatus.STARTED,
        RunStatus.WAITING_FOR_USER_INPUT,
    ]
    assert store.saved[3:5] == [RunStatus.RUNNING, RunStatus.WAITING_FOR_USER_INPUT]
    assert set(store.saved) == set(RunStatus)


async def test_each_execute_call_appends_one_pair_and_returns_a_stable_snapshot(
    engine: Engine,
) -> None:
    first = await engine.execute(CHAT, start(run_by="tester", version_number=2))
    second = await engine.execute(CHAT, user(first, "hello"))
    third = await engine.execute(CHAT, command(second, "pause"))

    assert [len(r.input_output_pairs) for r in (first, second, third)] == [1, 2, 3]
    assert first.status == RunStatus.WAITING_FOR_USER_INPUT  # unchanged by later turns
    assert third.input_output_pairs[1].run_input.thread_to_node_inputs["0"].node_run_inputs[
        0
    ].user_texts() == ["hello"]
    assert third.run_by == "tester" and third.version_number == 2
    assert third.workflow_config_fully_hydrated is CHAT
    assert (await engine.get_run(first.workflow_run_id or "")).status == RunStatus.PAUSED


async def test_start_with_a_run_id_continues_like_data(engine: Engine) -> None:
    run = await engine.execute(CHAT, start())
    run = await engine.execute(
        CHAT,
        WorkflowRunInput(
            workflow_run_id=run.workflow_run_id,
            thread_to_node_inputs=user(run, "hi").thread_to_node_inputs,
        ),
    )
    assert said(run) == ["I am a scripted model."]
    assert len(run.input_output_pairs) == 2


async def test_pause_and_resume(engine: Engine, model: ScriptedModel) -> None:
    run = await engine.execute(CHAT, start())
    paused = await engine.execute(CHAT, command(run, "pause"))
    assert paused.status == RunStatus.PAUSED
    # The platform's pause: the parked node's pause_event, then the thread's pause_thread.
    assert types(paused) == ["pause_event", "pause_thread"]
    assert event(paused, "pause_event").origin_node_logical_id == "chat"
    assert event(paused, "pause_thread").get("last_node_logical_id") == "chat"
    with pytest.raises(RunConflictError, match="paused; send `resume` first"):
        await engine.execute(CHAT, user(run, "hello"))
    with pytest.raises(RunConflictError, match="already paused"):
        await engine.execute(CHAT, command(run, "pause"))

    resumed = await engine.execute(CHAT, command(run, "resume"))
    assert resumed.status == RunStatus.WAITING_FOR_USER_INPUT
    # No resume event on the platform: the status says it, and a waiting run is ready again.
    assert types(resumed) == ["workflow_ready_for_input"]
    with pytest.raises(RunConflictError, match="not paused"):
        await engine.execute(CHAT, command(run, "resume"))

    await engine.execute(CHAT, command(run, "pause"))
    with_message = await engine.execute(
        CHAT, command(run, "resume", thread_to_node_inputs=user(run, "hi").thread_to_node_inputs)
    )
    assert types(with_message)[:1] == ["user_messages"]
    assert said(with_message) == ["I am a scripted model."]


async def test_stop_cancels_and_terminal_runs_refuse_every_command(engine: Engine) -> None:
    run = await engine.execute(CHAT, start())
    stopped = await engine.execute(CHAT, command(run, "stop"))
    assert stopped.status == RunStatus.CANCELLED
    # Stopping ends the thread and the run, with the run's totals on end_workflow.
    assert types(stopped) == ["end_thread", "end_workflow"]
    assert event(stopped, "end_workflow").get("llm_token_usage")["call_count"] == 0
    for name in ("start", "data", "pause", "resume", "stop"):
        with pytest.raises(RunConflictError, match="is cancelled"):
            await engine.execute(CHAT, command(run, name))

    done = await engine.execute(workflow([say_static("a", "A")]), start())
    with pytest.raises(RunConflictError, match="is completed"):
        await engine.execute(None, user(done, "more"))


async def test_a_not_started_run_refuses_data_and_starts_on_start(engine: Engine) -> None:
    created = await engine.create_run(CHAT)
    assert created.status == RunStatus.NOT_STARTED and created.input_output_pairs == []
    with pytest.raises(RunConflictError, match="has not started"):
        await engine.execute(CHAT, user(created, "hello"))
    run = await engine.execute(CHAT, command(created, "start"))
    assert said(run) == ["Hi."]


async def test_an_exception_fails_the_run_and_keeps_what_the_turn_did(
    llm: LLMClient, clock: FixedClock
) -> None:
    engine = Engine(llm=llm, clock=clock, node_handlers={"no_op": _boom})
    flow = workflow([say_static("a", "Before."), node("no_op", "x")], [direct("a", "x")])
    run = await engine.execute(flow, start())

    assert run.status == RunStatus.FAILED
    assert run.termination_source == "execution_error"
    assert said(run) == ["Before."]
    error = event(run, "workflow_error")
    assert error.get("error_message") == "RuntimeError: the node exploded"
    assert types(run)[-1] == "workflow_error"
    stored = await engine.get_run(run.workflow_run_id or "")
    assert stored.status == RunStatus.FAILED and len(stored.input_output_pairs) == 1
    with pytest.raises(RunConflictError, match="is failed"):
        await engine.execute(flow, user(run, "retry"))


async def test_reraise_raises_after_storing_the_failed_run(
    llm: LLMClient, clock: FixedClock
) -> None:
    engine = Engine(llm=llm, clock=clock, node_handlers={"no_op": _boom}, reraise=(RuntimeError,))
    with pytest.raises(RuntimeError, match="exploded"):
        await engine.execute(workflow([node("no_op", "x")]), start())
    runs = await engine.list_runs(status=RunStatus.FAILED)
    assert runs.total == 1


async def test_malformed_inputs_are_refused_before_anything_changes(engine: Engine) -> None:
    run = await engine.execute(CHAT, start())
    with pytest.raises(EngineError, match="Found 0 threads"):
        await engine.execute(CHAT, command(run, "data"))
    with pytest.raises(EngineError, match=r"thread\(s\) \['7'\]"):
        await engine.execute(
            CHAT, command(run, "data", thread_to_node_inputs={"7": {"node_run_inputs": []}})
        )
    with pytest.raises(EngineError, match="needs a workflow_run_id"):
        await engine.execute(CHAT, WorkflowRunInput(command="data"))
    with pytest.raises(RunNotFoundError):
        await engine.execute(CHAT, WorkflowRunInput(command="data", workflow_run_id="0" * 24))
    with pytest.raises(RunNotFoundError):
        await engine.get_run("f" * 24)
    assert len((await engine.get_run(run.workflow_run_id or "")).input_output_pairs) == 1


async def test_hooks_run_after_turns_and_on_completion(llm: LLMClient, clock: FixedClock) -> None:
    turns: list[RunStatus] = []
    completed: list[str] = []

    async def on_turn(run: WorkflowRun) -> None:
        turns.append(run.status)

    async def on_done(run: WorkflowRun) -> None:
        completed.append(run.workflow_run_id or "")
        run.evaluation_run_info = EvaluationRunInfo(evaluation_workflow_run_id="e" * 24)

    engine = Engine(llm=llm, clock=clock, on_turn_completed=[on_turn], on_run_completed=[on_done])
    flow = workflow(
        [say_llm("ask", self_loop=False), say_static("bye", "Bye.")], [direct("ask", "bye")]
    )
    run = await engine.execute(flow, start())
    run = await engine.execute(flow, user(run, "hello"))
    assert turns == [RunStatus.WAITING_FOR_USER_INPUT, RunStatus.COMPLETED]
    assert completed == [run.workflow_run_id]
    assert (await engine.get_run(run.workflow_run_id or "")).evaluation_run_info is not None


async def test_workflows_resolve_from_the_registry_and_evaluation_runs_are_marked(
    llm: LLMClient, clock: FixedClock
) -> None:
    registry = MappingWorkflowRegistry({"a" * 24: workflow([say_static("a", "A")])})
    engine = Engine(llm=llm, clock=clock, workflows=registry)
    run = await engine.execute(None, start(workflow_id="a" * 24), evaluation_of="b" * 24)
    assert said(run) == ["A"]
    assert run.workflow_id == "a" * 24
    assert run.is_evaluation_run and run.source_workflow_run_id == "b" * 24
    with pytest.raises(EngineError, match="no workflow config"):
        await engine.execute(None, start(workflow_id="c" * 24))


async def test_start_node_logical_id_starts_elsewhere_and_unknown_ids_are_refused(
    engine: Engine,
) -> None:
    flow = workflow([say_static("a", "A"), say_static("b", "B")], [direct("a", "b")])
    run = await engine.execute(flow, start(start_node_logical_id="b"))
    assert said(run) == ["B"]
    assert run.input_output_pairs[0].input.start_node_logical_id == "b"
    with pytest.raises(EngineError, match=r"'nope' names no node of this workflow \(nodes: a, b\)"):
        await engine.execute(flow, start(start_node_logical_id="nope"))


async def test_the_welcome_message_opens_the_history_on_the_first_turn_only(
    engine: Engine, model: ScriptedModel
) -> None:
    run = await engine.execute(CHAT, start(welcome_message="Hi, this is Riverside Clinic."))
    assert said(run) == ["Hi."]  # already spoken by the voice engine: no event says it
    run = await engine.execute(CHAT, user(run, "hello"))
    assert [m["content"] for m in model.requests[-1].messages if m["role"] == "assistant"] == [
        "Hi, this is Riverside Clinic.",
        "Hi.",
    ]
