"""The engine: one execute call runs one turn of a workflow run and appends one input/output pair.

Commands (PLATFORM.md §2, rules chosen where it is silent are in docs/engine.md):
`start` creates a run and enters its start node (with `workflow_run_id`: starts a `not_started`
run, or continues like `data`); `data` delivers user messages to the parked node; `pause` →
`paused`; `resume` restores the status from before the pause and runs on if the input carries
user messages; `stop` → `cancelled`. A command on a terminal run raises `RunConflictError`.
An exception inside a turn ends the run as `failed` (`termination_source = execution_error`, a
`workflow_error` event), keeping everything the turn did so far.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import JsonValue

from harness.engine.context import (
    EngineServices,
    LoopingRiskError,
    NodeHandler,
    TurnContext,
    WorkflowPlan,
    WorkflowRegistry,
)
from harness.engine.events import EventLog, NodeScope, new_logical_id
from harness.engine.graph import load_graph
from harness.engine.llm import LLMClient
from harness.engine.nodes import DEFAULT_NODE_HANDLERS
from harness.engine.state import RunState
from harness.engine.store import MemoryRunStore, RunNotFoundError, RunStore
from harness.engine.tools import ToolRunner
from harness.engine.turn import run_thread
from harness.engine.variables import Clock, SystemClock, builtin_variables
from harness.errors import EngineError, GraphValidationError, RunConflictError
from harness.models.api import (
    Command,
    EventType,
    NodeOutput,
    RecordedRunInput,
    RunEvent,
    RunOutput,
    RunsPage,
    RunStatus,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
    WorkflowRunInput,
    WorkflowRunInputOutputPair,
)

if TYPE_CHECKING:
    from harness.engine.mcp import MCPClientPool

__all__ = ["DEFAULT_HOP_LIMIT", "Engine", "RunCallback"]

DEFAULT_HOP_LIMIT = 3
_PLAN_CACHE_SIZE = 256
RunCallback = Callable[[WorkflowRun], Awaitable[None]]
"""Called with the (live) run after a turn; may change it (e.g. `evaluation_run_info`)."""
_Entry = Literal["start", "continue"]


class Engine:
    """Executes hydrated workflows turn by turn, as the platform does."""

    def __init__(
        self,
        *,
        llm: LLMClient,
        tools: ToolRunner | None = None,
        store: RunStore | None = None,
        clock: Clock | None = None,
        seed: int = 0,
        max_node_runs_per_turn: int = 50,
        mcp: MCPClientPool | None = None,
        workflows: WorkflowRegistry | None = None,
        node_handlers: Mapping[str, NodeHandler] | None = None,
        on_run_completed: Iterable[RunCallback] = (),
        on_turn_completed: Iterable[RunCallback] = (),
        reraise: tuple[type[BaseException], ...] = (),
    ) -> None:
        """Set up an engine.

        Args:
            llm: the LLM client (its httpx client also carries HTTP tools and requests).
            tools: runs tool calls; default: a `ToolRunner` over the LLM client's httpx client.
            store: where runs live between turns; default: in memory.
            clock: time of events and built-in variables; default: the system clock.
            seed: seeds run ids, event ids, random static messages and `rand_*` built-ins.
            max_node_runs_per_turn: node executions allowed in one turn before the run ends as
                `aborted_looping_risk`.
            mcp: MCP access for nodes with `use_mcp_tools`; default: a pool made on first use.
            workflows: resolves workflows by id (evaluator workflows, runs continued by id).
            node_handlers: handlers for more node types, or replacements, by node type.
            on_run_completed: awaited, in order, when a turn completes the run.
            on_turn_completed: awaited, in order, after every turn that executed nodes.
            reraise: exception types re-raised after the failed run is stored (e.g. a replay
                miss the caller must report as an infrastructure error).
        """
        self.llm = llm
        self.clock: Clock = clock or SystemClock()
        self.tools = tools or ToolRunner(http=llm.http, clock=self.clock)
        self.store: RunStore = store or MemoryRunStore()
        self.seed = seed
        self.max_node_runs_per_turn = max_node_runs_per_turn
        self.workflows = workflows
        self.handlers: dict[str, NodeHandler] = {**DEFAULT_NODE_HANDLERS, **(node_handlers or {})}
        self.on_run_completed: list[RunCallback] = list(on_run_completed)
        self.on_turn_completed: list[RunCallback] = list(on_turn_completed)
        self.reraise = reraise
        self.services = EngineServices(
            llm=llm,
            tools=self.tools,
            mcp=mcp,
            http=llm.http,
            clock=self.clock,
            workflows=workflows,
            load_run=self.store.get,
        )
        self._rng = random.Random(seed)
        self._plans: OrderedDict[int, WorkflowPlan] = OrderedDict()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # ---------------------------------------------------------------- configuration

    def register_node_handler(self, node_type: str, handler: NodeHandler) -> None:
        """Run nodes of `node_type` with `handler` (replacing any earlier one)."""
        self.handlers[node_type] = handler
        self._plans.clear()

    def plan(self, workflow: WorkflowConfigFullyHydrated) -> WorkflowPlan:
        """The loaded, validated workflow; cached per config object, so validation runs once.

        Raises:
            GraphValidationError: every problem of the graph, each naming its node or edge.
        """
        key = id(workflow)
        cached = self._plans.get(key)
        if cached is not None and cached.workflow is workflow:
            self._plans.move_to_end(key)
            return cached
        name = workflow.workflow_config.name or workflow.workflow_config.logical_id or "workflow"
        graph = load_graph(workflow, name=name)
        problems = [
            f"node {node.label}: type {node.type!r} has no handler in this engine"
            for node in graph.nodes.values()
            if node.type not in self.handlers
        ]
        hop_limit = _hop_limit(workflow, problems)
        if problems:
            raise GraphValidationError(problems, workflow=name)
        plan = WorkflowPlan(
            workflow, graph, hop_limit, workflow.workflow_config.global_condition_evaluation_method
        )
        self._plans[key] = plan
        if len(self._plans) > _PLAN_CACHE_SIZE:
            self._plans.popitem(last=False)
        return plan

    # ---------------------------------------------------------------- public API

    async def execute(
        self,
        workflow: WorkflowConfigFullyHydrated | None,
        run_input: WorkflowRunInput,
        *,
        workflow_id: str | None = None,
        evaluation_of: str | None = None,
    ) -> WorkflowRun:
        """Run one turn and return the run after it.

        Args:
            workflow: the hydrated config; None: the continued run's own config, or the one the
                workflow registry resolves for `workflow_id`.
            run_input: the command and its data; `workflow_run_id` continues a run.
            workflow_id: the run's `workflow_id` (default: the input's, else derived from the
                config's logical id or name).
            evaluation_of: makes a new run an evaluation run of this source run id.

        Returns:
            A snapshot of the run: later turns do not change the object returned here.

        Raises:
            RunConflictError: the run is terminal, or the command does not fit its status.
            RunNotFoundError: `workflow_run_id` names no stored run.
            GraphValidationError: the workflow cannot run.
            EngineError: the input is malformed (e.g. no thread inputs for `data`).
        """
        run_id = run_input.workflow_run_id
        if run_id is None:
            if run_input.command != Command.START:
                raise EngineError(
                    f"command {run_input.command.value!r} needs a workflow_run_id",
                    hint="send `start` first and pass the returned workflow_run_id",
                )
            _check_threads(run_input)
            workflow = self._resolve(workflow, workflow_id or run_input.workflow_id)
            plan = self.plan(workflow)
            run, state = self._new_run(plan, run_input, workflow_id, evaluation_of)
            async with self._lock(run_id := run.workflow_run_id or ""):
                return await self._turn(plan, run, state, run_input, "start")
        async with self._lock(run_id):
            stored = await self.store.load(run_id)
            if stored is None:
                raise RunNotFoundError(
                    f"no workflow run {run_id} in this engine's store",
                    hint="start a new run, or point the engine at the store that holds it",
                )
            run, state = stored.run, stored.state
            _refuse_terminal(run, run_input.command)
            _check_threads(run_input)
            workflow = workflow or run.workflow_config_fully_hydrated
            workflow = self._resolve(workflow, workflow_id or run.workflow_id)
            run.workflow_config_fully_hydrated = workflow
            return await self._command(self.plan(workflow), run, state, run_input)

    async def create_run(
        self,
        workflow: WorkflowConfigFullyHydrated,
        run_input: WorkflowRunInput | None = None,
        *,
        workflow_id: str | None = None,
    ) -> WorkflowRun:
        """Store a new `not_started` run without executing it; `start` with its id runs it."""
        run_input = run_input or WorkflowRunInput()
        plan = self.plan(workflow)
        run, state = self._new_run(plan, run_input, workflow_id, None)
        await self.store.save(run, state)
        return _snapshot(run)

    async def get_run(self, run_id: str) -> WorkflowRun:
        """The stored run.

        Raises:
            RunNotFoundError: no such run.
        """
        run = await self.store.get(run_id)
        if run is None:
            raise RunNotFoundError(f"no workflow run {run_id} in this engine's store")
        return _snapshot(run)

    async def list_runs(
        self,
        *,
        workflow_id: str | None = None,
        status: RunStatus | str | None = None,
        page: int = 1,
        size: int = 50,
    ) -> RunsPage:
        """Stored runs, newest first; pages are 1-based."""
        return await self.store.list(workflow_id=workflow_id, status=status, page=page, size=size)

    # ---------------------------------------------------------------- runs

    def _lock(self, run_id: str) -> asyncio.Lock:
        lock = self._locks.get(run_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[run_id] = lock
        return lock

    def _resolve(
        self, workflow: WorkflowConfigFullyHydrated | None, workflow_id: str | None
    ) -> WorkflowConfigFullyHydrated:
        if workflow is not None:
            return workflow
        found = self.workflows.get(workflow_id) if self.workflows and workflow_id else None
        if found is None:
            raise EngineError(
                f"no workflow config for workflow {workflow_id!r}",
                hint="pass the hydrated workflow, or give the engine a workflow registry",
            )
        return found

    def _new_run(
        self,
        plan: WorkflowPlan,
        run_input: WorkflowRunInput,
        workflow_id: str | None,
        evaluation_of: str | None,
    ) -> tuple[WorkflowRun, RunState]:
        workflow = plan.workflow
        run = WorkflowRun(
            logical_id=new_logical_id("workflow_run", self._rng),
            workflow_id=workflow_id or run_input.workflow_id or _derived_workflow_id(workflow),
            version_number=run_input.version_number or 0,
            status=RunStatus.NOT_STARTED,
            run_by=run_input.run_by,
            workflow_config_fully_hydrated=workflow,
            workflow_run_id=f"{self._rng.getrandbits(96):024x}",
            is_evaluation_run=evaluation_of is not None,
            source_workflow_run_id=evaluation_of,
        )
        state = RunState(
            dynamic_variables={**workflow.dynamic_variables, **run_input.dynamic_variables},
            runtime_variables={**workflow.runtime_variables, **run_input.runtime_variables},
        )
        return run, state

    # ---------------------------------------------------------------- commands

    async def _command(
        self, plan: WorkflowPlan, run: WorkflowRun, state: RunState, run_input: WorkflowRunInput
    ) -> WorkflowRun:
        command, status = run_input.command, run.status
        if command in (Command.START, Command.DATA):
            if status == RunStatus.PAUSED:
                raise _conflict(run, command, "it is paused; send `resume` first")
            if status == RunStatus.NOT_STARTED:
                if command == Command.DATA:
                    raise _conflict(run, command, "it has not started; send `start` first")
                return await self._turn(plan, run, state, run_input, "start")
            return await self._turn(plan, run, state, run_input, "continue")
        if command == Command.PAUSE:
            if status == RunStatus.PAUSED:
                raise _conflict(run, command, "it is already paused")
            return await self._pause(plan, run, state, run_input)
        if command == Command.RESUME:
            if status != RunStatus.PAUSED:
                raise _conflict(run, command, "it is not paused")
            return await self._resume(plan, run, state, run_input)
        return await self._stop(plan, run, state, run_input)

    def _context(
        self, plan: WorkflowPlan, run: WorkflowRun, state: RunState, run_input: WorkflowRunInput
    ) -> TurnContext:
        """Append this call's input/output pair and set up its event log."""
        turn = len(run.input_output_pairs) + 1
        rng = random.Random(f"{self.seed}:{run.workflow_run_id}:{turn}")
        log = EventLog(self.clock, rng)
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
            self.clock, random.Random(f"{self.seed}:{run.workflow_run_id}:builtins")
        )
        return TurnContext(
            services=self.services,
            plan=plan,
            run=run,
            state=state,
            thread=state.main_thread(),
            log=log,
            rng=rng,
            dynamic={**builtins, **state.dynamic_variables},
            outputs=outputs,
            max_node_runs=self.max_node_runs_per_turn,
        )

    async def _pause(
        self, plan: WorkflowPlan, run: WorkflowRun, state: RunState, run_input: WorkflowRunInput
    ) -> WorkflowRun:
        ctx = self._context(plan, run, state, run_input)
        state.status_before_pause = run.status
        run.status = RunStatus.PAUSED
        ctx.log.emit(EventType.PAUSE_EVENT, previous_status=state.status_before_pause.value)
        return await self._finish(run, state, ran=False)

    async def _resume(
        self, plan: WorkflowPlan, run: WorkflowRun, state: RunState, run_input: WorkflowRunInput
    ) -> WorkflowRun:
        ctx = self._context(plan, run, state, run_input)
        restored = state.status_before_pause or RunStatus.WAITING_FOR_USER_INPUT
        state.status_before_pause = None
        run.status = restored
        ctx.log.emit(EventType.RESUME_EVENT, restored_status=restored.value)
        if restored != RunStatus.NOT_STARTED and _user_texts(run_input):
            return await self._execute(ctx, "continue")
        if restored == RunStatus.WAITING_FOR_USER_INPUT:
            ctx.log.emit(EventType.WORKFLOW_READY_FOR_INPUT)
        return await self._finish(run, state, ran=False)

    async def _stop(
        self, plan: WorkflowPlan, run: WorkflowRun, state: RunState, run_input: WorkflowRunInput
    ) -> WorkflowRun:
        ctx = self._context(plan, run, state, run_input)
        run.status = RunStatus.CANCELLED
        ctx.log.emit(EventType.STOP_EVENT)
        return await self._finish(run, state, ran=False)

    async def _turn(
        self,
        plan: WorkflowPlan,
        run: WorkflowRun,
        state: RunState,
        run_input: WorkflowRunInput,
        entry: _Entry,
    ) -> WorkflowRun:
        return await self._execute(self._context(plan, run, state, run_input), entry)

    # ---------------------------------------------------------------- turn

    async def _execute(self, ctx: TurnContext, entry: _Entry) -> WorkflowRun:
        run, state, log = ctx.run, ctx.state, ctx.log
        run.status = RunStatus.STARTED if entry == "start" else RunStatus.RUNNING
        await self.store.save(run, state)  # visible as started/running while the turn runs
        error: Exception | None = None
        try:
            ended = await self._run_nodes(ctx, entry)
            self._end_iteration(ctx)
            if ended:
                run.status = RunStatus.COMPLETED
                log.emit(EventType.END_WORKFLOW, **_usage_fields(state))
            else:
                run.status = RunStatus.WAITING_FOR_USER_INPUT
                log.emit(EventType.WORKFLOW_READY_FOR_INPUT)
        except LoopingRiskError as exc:
            self._end_iteration(ctx)
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
        result = await self._finish(run, state, ran=True)
        if error is not None and isinstance(error, self.reraise):
            raise error
        return result

    async def _run_nodes(self, ctx: TurnContext, entry: _Entry) -> bool:
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
            return await run_thread(ctx, self.handlers, ctx.graph.start_node.logical_id, "start")
        if parked is not None:
            return await run_thread(ctx, self.handlers, parked, "resume", thread.node_run_id)
        # A turn that stopped mid-way (e.g. a process died): enter the node it was on again.
        return await run_thread(ctx, self.handlers, thread.node_logical_id, "edge")

    def _end_iteration(self, ctx: TurnContext) -> None:
        ctx.state.iterations += 1
        ctx.log.emit(EventType.END_WORKFLOW_ITERATION, iteration_number=ctx.state.iterations)

    async def _finish(self, run: WorkflowRun, state: RunState, *, ran: bool) -> WorkflowRun:
        run.llm_token_usage = state.usage.token_usage()
        run.llm_latency_stats = state.usage.latency_stats()
        await self.store.save(run, state)
        callbacks = list(self.on_turn_completed) if ran else []
        if ran and run.status == RunStatus.COMPLETED:
            callbacks += self.on_run_completed
        for callback in callbacks:
            await callback(run)
        if callbacks:
            await self.store.save(run, state)
        return _snapshot(run)


# -------------------------------------------------------------------- helpers


def _snapshot(run: WorkflowRun) -> WorkflowRun:
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


def _check_threads(run_input: WorkflowRunInput) -> None:
    threads = run_input.thread_to_node_inputs
    unknown = sorted(set(threads) - {"0"})
    if unknown:
        raise EngineError(
            f"thread_to_node_inputs names thread(s) {unknown} that this run does not have",
            hint='send user messages to the main thread "0"',
        )
    if run_input.command == Command.DATA and not threads:
        raise EngineError(
            "Found 0 threads in workflow input: a `data` command needs thread_to_node_inputs",
            hint='send {"0": {"node_run_inputs": [{"type": "llm", "messages": [...]}]}}',
        )


def _conflict(run: WorkflowRun, command: Command, why: str) -> RunConflictError:
    return RunConflictError(
        f"run {run.workflow_run_id} (status {run.status.value}) cannot take "
        f"`{command.value}`: {why}"
    )


def _refuse_terminal(run: WorkflowRun, command: Command) -> None:
    if run.status.is_terminal:
        raise RunConflictError(
            f"run {run.workflow_run_id} is {run.status.value}; it cannot take `{command.value}`",
            hint="a finished run takes no more commands: start a new run",
        )


def _derived_workflow_id(workflow: WorkflowConfigFullyHydrated) -> str:
    basis = workflow.workflow_config.logical_id or workflow.workflow_config.name or "workflow"
    return hashlib.sha256(basis.encode()).hexdigest()[:24]


def _hop_limit(workflow: WorkflowConfigFullyHydrated, problems: list[str]) -> int:
    value = workflow.workflow_config.miscellaneous.get(
        "consecutive_conditional_edges_max_limit", DEFAULT_HOP_LIMIT
    )
    try:
        limit = int(str(value).strip())
    except ValueError:
        limit = -1
    if limit < 0:
        problems.append(
            "workflow_config.miscellaneous.consecutive_conditional_edges_max_limit must be a "
            f"whole number >= 0 (got {value!r})"
        )
        return DEFAULT_HOP_LIMIT
    return limit
