"""Commands on a loaded run: the turn machinery behind `Engine.execute`.

`run_command` dispatches `start`/`data`/`pause`/`resume`/`stop` on a stored run; `run_turn`
executes one turn: it appends the call's input/output pair, saves the run as `started` or
`running`, runs the node loop (`turn.py`), ends the iteration, and stores the run. Status rules
are in docs/engine.md.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import JsonValue

from harness.engine.context import LoopingRiskError, TurnContext, WorkflowPlan
from harness.engine.events import EventLog, NodeScope
from harness.engine.state import RunState
from harness.engine.turn import run_thread
from harness.engine.variables import builtin_variables
from harness.errors import RunConflictError
from harness.models.api import (
    Command,
    EventType,
    NodeOutput,
    RecordedRunInput,
    RunEvent,
    RunOutput,
    RunStatus,
    WorkflowRun,
    WorkflowRunInput,
    WorkflowRunInputOutputPair,
)

if TYPE_CHECKING:
    from harness.engine.executor import Engine

__all__ = ["Entry", "conflict", "run_command", "run_turn", "snapshot"]

Entry = Literal["start", "continue"]
"""How a turn enters the graph: the start node, or where the thread is."""


async def run_command(
    engine: Engine,
    plan: WorkflowPlan,
    run: WorkflowRun,
    state: RunState,
    run_input: WorkflowRunInput,
) -> WorkflowRun:
    command, status = run_input.command, run.status
    if command in (Command.START, Command.DATA):
        if status == RunStatus.PAUSED:
            raise conflict(run, command, "it is paused; send `resume` first")
        if status == RunStatus.NOT_STARTED:
            if command == Command.DATA:
                raise conflict(run, command, "it has not started; send `start` first")
            return await run_turn(engine, plan, run, state, run_input, "start")
        return await run_turn(engine, plan, run, state, run_input, "continue")
    if command == Command.PAUSE:
        if status == RunStatus.PAUSED:
            raise conflict(run, command, "it is already paused")
        return await _pause(engine, plan, run, state, run_input)
    if command == Command.RESUME:
        if status != RunStatus.PAUSED:
            raise conflict(run, command, "it is not paused")
        return await _resume(engine, plan, run, state, run_input)
    return await _stop(engine, plan, run, state, run_input)


def _context(
    engine: Engine,
    plan: WorkflowPlan,
    run: WorkflowRun,
    state: RunState,
    run_input: WorkflowRunInput,
) -> TurnContext:
    """Append this call's input/output pair and set up its event log."""
    turn = len(run.input_output_pairs) + 1
    rng = random.Random(f"{engine.seed}:{run.workflow_run_id}:{turn}")
    log = EventLog(engine.clock, rng)
    outputs: list[NodeOutput] = []
    events = cast("list[RunEvent | JsonValue]", log.events)  # the same list: filled as we go
    output = RunOutput.model_construct(events=events, thread_to_node_outputs={"0": outputs})
    run.input_output_pairs.append(
        WorkflowRunInputOutputPair.model_construct(
            run_input=_recorded(run_input),
            run_output=output,
            evaluation={},
        )
    )
    state.dynamic_variables.update(run_input.dynamic_variables)
    state.runtime_variables.update(run_input.runtime_variables)
    builtins = builtin_variables(
        engine.clock, random.Random(f"{engine.seed}:{run.workflow_run_id}:builtins")
    )
    return TurnContext(
        services=engine.services,
        plan=plan,
        run=run,
        state=state,
        thread=state.main_thread(),
        log=log,
        rng=rng,
        dynamic={**builtins, **state.dynamic_variables},
        outputs=outputs,
        max_node_runs=engine.max_node_runs_per_turn,
    )


async def _pause(
    engine: Engine,
    plan: WorkflowPlan,
    run: WorkflowRun,
    state: RunState,
    run_input: WorkflowRunInput,
) -> WorkflowRun:
    ctx = _context(engine, plan, run, state, run_input)
    state.status_before_pause = run.status
    run.status = RunStatus.PAUSED
    ctx.log.emit(EventType.PAUSE_EVENT, previous_status=state.status_before_pause.value)
    return await _finish(engine, run, state, ran=False)


async def _resume(
    engine: Engine,
    plan: WorkflowPlan,
    run: WorkflowRun,
    state: RunState,
    run_input: WorkflowRunInput,
) -> WorkflowRun:
    ctx = _context(engine, plan, run, state, run_input)
    restored = state.status_before_pause or RunStatus.WAITING_FOR_USER_INPUT
    state.status_before_pause = None
    run.status = restored
    ctx.log.emit(EventType.RESUME_EVENT, restored_status=restored.value)
    if restored != RunStatus.NOT_STARTED and _user_texts(run_input):
        return await _execute(engine, ctx, "continue")
    if restored == RunStatus.WAITING_FOR_USER_INPUT:
        ctx.log.emit(EventType.WORKFLOW_READY_FOR_INPUT)
    return await _finish(engine, run, state, ran=False)


async def _stop(
    engine: Engine,
    plan: WorkflowPlan,
    run: WorkflowRun,
    state: RunState,
    run_input: WorkflowRunInput,
) -> WorkflowRun:
    ctx = _context(engine, plan, run, state, run_input)
    run.status = RunStatus.CANCELLED
    ctx.log.emit(EventType.STOP_EVENT)
    return await _finish(engine, run, state, ran=False)


async def run_turn(
    engine: Engine,
    plan: WorkflowPlan,
    run: WorkflowRun,
    state: RunState,
    run_input: WorkflowRunInput,
    entry: Entry,
) -> WorkflowRun:
    return await _execute(engine, _context(engine, plan, run, state, run_input), entry)


async def _execute(engine: Engine, ctx: TurnContext, entry: Entry) -> WorkflowRun:
    run, state, log = ctx.run, ctx.state, ctx.log
    run.status = RunStatus.STARTED if entry == "start" else RunStatus.RUNNING
    await engine.store.save(run, state)  # visible as started/running while the turn runs
    error: Exception | None = None
    try:
        ended = await _run_nodes(engine, ctx, entry)
        _end_iteration(ctx)
        if ended:
            run.status = RunStatus.COMPLETED
            log.emit(EventType.END_WORKFLOW, **_usage_fields(state))
        else:
            run.status = RunStatus.WAITING_FOR_USER_INPUT
            log.emit(EventType.WORKFLOW_READY_FOR_INPUT)
    except LoopingRiskError as exc:
        _end_iteration(ctx)
        run.status = RunStatus.ABORTED_LOOPING_RISK
        log.emit(EventType.END_WORKFLOW, reason=str(exc), **_usage_fields(state))
    except Exception as exc:  # any failure of a turn is recorded, never lost
        error = exc
        run.status = RunStatus.FAILED
        run.termination_source = "execution_error"
        log.emit(
            EventType.WORKFLOW_ERROR,
            error_message=f"{type(exc).__name__}: {exc}",
            error_type=type(exc).__name__,
        )
    result = await _finish(engine, run, state, ran=True)
    if error is not None and isinstance(error, engine.reraise):
        raise error
    return result


async def _run_nodes(engine: Engine, ctx: TurnContext, entry: Entry) -> bool:
    thread = ctx.thread
    texts = _user_texts(ctx.run.input_output_pairs[-1].run_input)
    parked = thread.node_logical_id if thread.parked else None
    scope = None
    if parked is not None:
        scope = NodeScope(ctx.graph.nodes[parked], thread.node_run_id or "")
    if texts:
        thread.deliver(texts)
        ctx.log.user_messages(scope, texts)
    if entry == "start" or thread.node_logical_id is None:
        return await run_thread(ctx, engine.handlers, ctx.graph.start_node.logical_id, "start")
    if parked is not None:
        return await run_thread(ctx, engine.handlers, parked, "resume", thread.node_run_id)
    # A turn that stopped mid-way (e.g. a process died): enter the node it was on again.
    return await run_thread(ctx, engine.handlers, thread.node_logical_id, "edge")


def _end_iteration(ctx: TurnContext) -> None:
    ctx.state.iterations += 1
    ctx.log.emit(EventType.END_WORKFLOW_ITERATION, iteration_number=ctx.state.iterations)


async def _finish(engine: Engine, run: WorkflowRun, state: RunState, *, ran: bool) -> WorkflowRun:
    run.llm_token_usage = state.usage.token_usage()
    run.llm_latency_stats = state.usage.latency_stats()
    await engine.store.save(run, state)
    callbacks = list(engine.on_turn_completed) if ran else []
    if ran and run.status == RunStatus.COMPLETED:
        callbacks += engine.on_run_completed
    # A callback may say it has nothing to do for this run (e.g. no evaluator): no extra save.
    callbacks = [c for c in callbacks if getattr(c, "applies", lambda _: True)(run)]
    for callback in callbacks:
        await callback(run)
    if callbacks:
        await engine.store.save(run, state)
    return snapshot(run)


# -------------------------------------------------------------------- helpers


def snapshot(run: WorkflowRun) -> WorkflowRun:
    # Shallow: pairs of finished turns never change, so sharing them is safe and cheap.
    return run.model_copy(update={"input_output_pairs": list(run.input_output_pairs)})


def _recorded(run_input: WorkflowRunInput) -> RecordedRunInput:
    # Top-level containers are copied so a caller reusing its input object cannot rewrite history.
    fields: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in run_input}
    return RecordedRunInput.model_construct(**fields)


def _usage_fields(state: RunState) -> dict[str, Any]:
    return {
        "llm_token_usage": state.usage.token_usage().model_dump(),
        "llm_latency_stats": state.usage.latency_stats().model_dump(),
    }


def _user_texts(run_input: WorkflowRunInput | RecordedRunInput) -> list[str]:
    thread = run_input.thread_to_node_inputs.get("0")
    if thread is None:
        return []
    return [text for node_input in thread.node_run_inputs for text in node_input.user_texts()]


def conflict(run: WorkflowRun, command: Command, why: str) -> RunConflictError:
    return RunConflictError(
        f"run {run.workflow_run_id} (status {run.status.value}) cannot take "
        f"`{command.value}`: {why}"
    )
