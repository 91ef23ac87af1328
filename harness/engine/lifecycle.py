"""Commands on a loaded run: the turn machinery behind `Engine.execute`.

`run_command` dispatches `start`/`data`/`pause`/`resume`/`stop` on a stored run; `run_turn`
executes one turn: it appends the call's input/output pair, saves the run as `started` or
`running`, runs the node loop (`turn.py`), ends the iteration, and stores the run. Status rules
are in docs/engine.md.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, JsonValue

from harness.engine._construct import construct
from harness.engine.companions import (
    active_companion_thread_ids,
    attach_thread_variables,
    run_companion_threads,
)
from harness.engine.context import LoopingRiskError, TurnContext, WorkflowPlan
from harness.engine.events import EventLog, NodeScope
from harness.engine.iteration import (
    end_state_miscellaneous,
    iteration_metrics,
    pair_snapshot,
    record_node_history,
)
from harness.engine.secrets import SecretOverlay, redact_value, secret_values
from harness.engine.state import RunState
from harness.engine.turn import run_thread
from harness.engine.variables import builtin_variables
from harness.errors import EngineError, RunConflictError
from harness.models.api import (
    AnyNodeRunOutput,
    Command,
    EventType,
    RecordedRunInput,
    RunEvent,
    RunOutput,
    RunStatus,
    WorkflowRun,
    WorkflowRunInput,
    WorkflowRunInputOutputPair,
    mark_engine_built,
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
    graph = plan.graph
    log = EventLog(
        engine.clock,
        rng,
        node_names=graph.node_names,
        edge_names=graph.edge_names,
        edge_runs=state.edge_run_counters,
    )
    outputs: list[AnyNodeRunOutput] = []  # filled as node runs close
    events = cast("list[RunEvent | JsonValue]", log.events)  # the same list: filled as we go
    output = construct(RunOutput, events=events, thread_to_node_outputs={"0": outputs})
    mark_engine_built(output)  # its dumps take the engine's own values (run_json.py)
    run.input_output_pairs.append(
        construct(
            WorkflowRunInputOutputPair,
            run_input=_recorded(run_input),
            run_output=output,
            evaluation=None,
            comments=[],
            ratings=[],
        )
    )
    state.dynamic_variables.update(run_input.dynamic_variables)
    state.runtime_variables.update(run_input.runtime_variables)
    attach_thread_variables(state)  # [[thread_<id>.x]] reads a companion thread's variables
    now = engine.clock.now()
    builtins = _builtins_at(now, now.tzinfo, f"{engine.seed}:{run.workflow_run_id}:builtins")
    # Secrets resolve in templates but live beside the mapping, never in it (see secrets.py).
    secrets = secret_values(plan.workflow.secret_variables, run_input.secret_variables)
    dynamic = SecretOverlay({**builtins, **state.dynamic_variables}, secrets)
    log.evaluated_dynamic_variables = dynamic
    log.input_dynamic_variables = state.dynamic_variables
    log.secrets = tuple(value for value in secrets.values() if value)
    return TurnContext(
        services=engine.services,
        plan=plan,
        run=run,
        state=state,
        thread=state.main_thread(),
        log=log,
        rng=rng,
        dynamic=dynamic,
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
    thread = ctx.thread
    node = ctx.graph.nodes.get(thread.node_logical_id or "")
    scope = NodeScope(node, thread.node_run_id or "") if node is not None else None
    # The platform's pause: the node's `pause_event`, then the thread's `pause_thread`.
    ctx.log.emit(EventType.PAUSE_EVENT, scope)
    ctx.log.emit(EventType.PAUSE_THREAD, last_node_logical_id=thread.node_logical_id)
    return await _finish(engine, run, state, ran=False, secrets=ctx.log.secrets)


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
    # The platform has no resume event: the run's status shows it; a waiting run says it is ready.
    if restored != RunStatus.NOT_STARTED and _user_texts(run_input):
        return await _execute(engine, ctx, "continue")
    if restored == RunStatus.WAITING_FOR_USER_INPUT:
        ctx.log.emit(
            EventType.WORKFLOW_READY_FOR_INPUT,
            active_companion_thread_ids=active_companion_thread_ids(state),
        )
    return await _finish(engine, run, state, ran=False, secrets=ctx.log.secrets)


async def _stop(
    engine: Engine,
    plan: WorkflowPlan,
    run: WorkflowRun,
    state: RunState,
    run_input: WorkflowRunInput,
) -> WorkflowRun:
    ctx = _context(engine, plan, run, state, run_input)
    run.status = RunStatus.CANCELLED
    # Stopping ends the thread and the run: `end_thread`, then `end_workflow` with the totals.
    if not ctx.thread.ended:
        ctx.log.emit(EventType.END_THREAD, last_node_logical_id=ctx.thread.node_logical_id)
    ctx.log.emit(EventType.END_WORKFLOW, **_usage_fields(run, state))
    return await _finish(engine, run, state, ran=False, secrets=ctx.log.secrets)


async def run_turn(
    engine: Engine,
    plan: WorkflowPlan,
    run: WorkflowRun,
    state: RunState,
    run_input: WorkflowRunInput,
    entry: Entry,
) -> WorkflowRun:
    if entry == "start":
        _start_node(plan, run_input.start_node_logical_id)  # refused before the run changes
    return await _execute(engine, _context(engine, plan, run, state, run_input), entry)


async def _execute(engine: Engine, ctx: TurnContext, entry: Entry) -> WorkflowRun:
    run, state, log = ctx.run, ctx.state, ctx.log
    run.status = RunStatus.STARTED if entry == "start" else RunStatus.RUNNING
    await engine.store.save(run, state)  # visible as started/running while the turn runs
    error: Exception | None = None
    try:
        ended = await _run_nodes(engine, ctx, entry)
        await run_companion_threads(ctx, engine.handlers, run_thread)
        _end_iteration(ctx)
        if ended:
            run.status = RunStatus.COMPLETED
            log.emit(EventType.END_WORKFLOW, **_usage_fields(run, state))
        else:
            run.status = RunStatus.WAITING_FOR_USER_INPUT
            log.emit(
                EventType.WORKFLOW_READY_FOR_INPUT,
                active_companion_thread_ids=active_companion_thread_ids(state),
            )
    except LoopingRiskError as exc:
        log.emit(EventType.WORKFLOW_WARNING, warning_message=str(exc))
        _end_iteration(ctx)
        run.status = RunStatus.ABORTED_LOOPING_RISK
        log.emit(EventType.END_WORKFLOW, **_usage_fields(run, state))
    except Exception as exc:  # any failure of a turn is recorded, never lost
        error = exc
        run.status = RunStatus.FAILED
        run.termination_source = "execution_error"
        log.emit(  # the log masks any secret in the message
            EventType.WORKFLOW_ERROR,
            error_message=f"{type(exc).__name__}: {exc}",
            **_usage_fields(run, state),
        )
    result = await _finish(engine, run, state, ran=True, secrets=log.secrets)
    if error is not None and isinstance(error, engine.reraise):
        raise error
    return result


async def _run_nodes(engine: Engine, ctx: TurnContext, entry: Entry) -> bool:
    thread = ctx.thread
    run_input = ctx.run.input_output_pairs[-1].input
    texts = _user_texts(run_input)
    parked = thread.node_logical_id if thread.parked else None
    scope = None
    if parked is not None:
        scope = NodeScope(ctx.graph.nodes[parked], thread.node_run_id or "")
    if texts:
        thread.deliver(texts)
        ctx.log.user_messages(scope, texts)
    if entry == "start" or thread.node_logical_id is None:
        if run_input.welcome_message and len(ctx.run.input_output_pairs) == 1:
            # The voice engine's opening line: the first assistant message, already spoken.
            thread.history.insert(0, {"role": "assistant", "content": run_input.welcome_message})
        start = _start_node(ctx.plan, run_input.start_node_logical_id)
        return await run_thread(ctx, engine.handlers, start, "start")
    if parked is not None:
        return await run_thread(ctx, engine.handlers, parked, "resume", thread.node_run_id)
    # A turn that stopped mid-way (e.g. a process died): enter the node it was on again.
    return await run_thread(ctx, engine.handlers, thread.node_logical_id, "edge")


def _start_node(plan: WorkflowPlan, requested: str | None) -> str:
    """The run input's `start_node_logical_id`, else the workflow's start node."""
    if requested is None:
        return plan.graph.start_node.node_id
    if requested not in plan.graph.nodes:
        known = ", ".join(sorted(plan.graph.nodes)) or "none"
        raise EngineError(
            f"run input start_node_logical_id {requested!r} names no node of this workflow "
            f"(nodes: {known})",
            hint="use a node's logical_id, or leave start_node_logical_id out to use is_start",
        )
    return requested


def _end_iteration(ctx: TurnContext) -> None:
    state, pair = ctx.state, ctx.run.input_output_pairs[-1]
    state.iterations += 1
    events = pair.output.typed_events()
    record_node_history(state, events)
    pair.iteration_end_state_miscellaneous = end_state_miscellaneous(state)
    ctx.log.emit(
        EventType.END_WORKFLOW_ITERATION,
        iteration_number=state.iterations,
        run_input_output_pair=pair_snapshot(pair),
        iteration_metrics=iteration_metrics(events),
    )


def _mask_state(state: RunState, secrets: tuple[str, ...]) -> None:
    """Mask secrets that tools or the LLM echoed into what the store keeps between turns."""
    for variables in (state.runtime_variables, state.dynamic_variables):
        masked = redact_value(variables, secrets)
        variables.clear()
        variables.update(masked)
    for thread in state.threads.values():
        thread.history = redact_value(thread.history, secrets)
        if thread.runtime_variables is not None:
            masked = redact_value(dict(thread.runtime_variables), secrets)
            thread.runtime_variables.clear()
            thread.runtime_variables.update(masked)


async def _finish(
    engine: Engine,
    run: WorkflowRun,
    state: RunState,
    *,
    ran: bool,
    secrets: tuple[str, ...] = (),
) -> WorkflowRun:
    if secrets:
        _mask_state(state, secrets)
    _report_usage(run, state)
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


@functools.lru_cache(maxsize=256)
def _builtins_at(now: datetime, zone: tzinfo | None, seed: str) -> Mapping[str, Any]:
    """The built-in variables at one clock reading, for a run's seed (read-only: spread them).

    They depend on nothing else, so a run whose clock stands still between turns (virtual time,
    replays) builds them once rather than every turn. `zone` is part of the key because equal
    instants in two time zones are equal datetimes that format differently.
    """
    return MappingProxyType(builtin_variables(_Reading(now), random.Random(seed)))


@dataclass(frozen=True, slots=True)
class _Reading:
    """A clock that answers one reading, exactly as it was read (naive or aware)."""

    reading: datetime

    def now(self) -> datetime:
        return self.reading


def _recorded(run_input: WorkflowRunInput) -> RecordedRunInput:
    # Top-level containers are copied so a caller reusing its input object cannot rewrite history.
    fields: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in run_input}
    fields["secret_variables"] = {}  # never kept, not even in memory (see secrets.py)
    return construct(RecordedRunInput, **fields)


def _usage_fields(run: WorkflowRun, state: RunState) -> dict[str, Any]:
    _report_usage(run, state)
    return {
        "llm_token_usage": _dumped(run.llm_token_usage),
        "llm_latency_stats": _dumped(run.llm_latency_stats),
    }


def _dumped(model: BaseModel | None) -> dict[str, Any] | None:
    return None if model is None else model.model_dump(mode="json")


def _report_usage(run: WorkflowRun, state: RunState) -> None:
    """Set the run's token and latency totals from the state's running sums.

    Every LLM call adds one to the call count, so an unchanged count means unchanged totals:
    most turns of a conversation (pause, resume, stop, static nodes) make no call, and
    rebuilding the totals' models was a tenth of such a turn.
    """
    usage = run.llm_token_usage
    if usage is not None and usage.call_count == state.usage.call_count():
        return
    run.llm_token_usage = state.usage.token_usage()
    run.llm_latency_stats = state.usage.latency_stats()


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
