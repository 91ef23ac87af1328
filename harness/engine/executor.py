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
import random
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from harness.engine.context import (
    EngineServices,
    NodeHandler,
    Sleeper,
    WorkflowPlan,
    WorkflowRegistry,
)
from harness.engine.evaluation_nodes import evaluation_hooks
from harness.engine.events import new_logical_id
from harness.engine.graph import load_graph
from harness.engine.lifecycle import run_command, run_turn, snapshot
from harness.engine.llm import LLMClient
from harness.engine.nodes import DEFAULT_NODE_HANDLERS
from harness.engine.options import DEFAULT_HOP_LIMIT, workflow_options
from harness.engine.registry import workflow_id_of
from harness.engine.state import RunState
from harness.engine.store import MemoryRunStore, RunNotFoundError, RunStore
from harness.engine.tools import ToolRunner
from harness.engine.variables import Clock, SystemClock
from harness.errors import EngineError, GraphValidationError, RunConflictError
from harness.models.api import (
    Command,
    GlobalConditionEvaluationMethod,
    RunsPage,
    RunStatus,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
    WorkflowRunInput,
)

if TYPE_CHECKING:
    from harness.engine.mcp import MCPClientPool

__all__ = ["DEFAULT_HOP_LIMIT", "Engine", "RunCallback"]

_PLAN_CACHE_SIZE = 256
RunCallback = Callable[[WorkflowRun], Awaitable[None]]
"""Called with the (live) run after a turn; may change it (e.g. `evaluation_run_info`)."""


class Engine:
    """Executes hydrated workflows turn by turn, as the platform does."""

    def __init__(
        self,
        *,
        llm: LLMClient,
        tools: ToolRunner | None = None,
        store: RunStore | None = None,
        clock: Clock | None = None,
        sleep: Sleeper | None = None,
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
            sleep: how the engine waits (a self-loop's `time_between_retries`, a `no_op`'s
                `delay_seconds`); default `asyncio.sleep`. Pass a `ManualClock`'s `sleep` (and
                the clock) so tests and replays move time without waiting.
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
        # Configured evaluators run first, so the caller's callbacks see their results.
        evaluate_turn, evaluate_run = evaluation_hooks(self)
        self.on_run_completed: list[RunCallback] = [evaluate_run, *on_run_completed]
        self.on_turn_completed: list[RunCallback] = [evaluate_turn, *on_turn_completed]
        self.reraise = reraise
        self.services = EngineServices(
            llm=llm,
            tools=self.tools,
            mcp=mcp,
            http=llm.http,
            clock=self.clock,
            workflows=workflows,
            load_run=self.store.get,
            sleep=sleep or asyncio.sleep,
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
        settings = workflow.settings
        name = settings.name or settings.logical_id or "workflow"
        graph = load_graph(workflow, name=name)
        problems = [
            f"node {node.label}: type {node.type!r} has no handler in this engine"
            for node in graph.nodes.values()
            if node.type not in self.handlers
        ]
        if problems:
            raise GraphValidationError(problems, workflow=name)
        options = workflow_options(workflow)
        method = (
            settings.global_condition_evaluation_method or GlobalConditionEvaluationMethod.TOOL_CALL
        )
        plan = WorkflowPlan(workflow, graph, options.hop_limit, method, options)
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
                return await run_turn(self, plan, run, state, run_input, "start")
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
            return await run_command(self, self.plan(workflow), run, state, run_input)

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
        return snapshot(run)

    async def get_run(self, run_id: str) -> WorkflowRun:
        """The stored run.

        Raises:
            RunNotFoundError: no such run.
        """
        run = await self.store.get(run_id)
        if run is None:
            raise RunNotFoundError(f"no workflow run {run_id} in this engine's store")
        return snapshot(run)

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
            workflow_id=workflow_id or run_input.workflow_id or workflow_id_of(workflow),
            version_number=run_input.version_number or 0,
            status=RunStatus.NOT_STARTED,
            run_by=run_input.run_by,
            workflow_config_fully_hydrated=workflow,
            workflow_run_id=f"{self._rng.getrandbits(96):024x}",
            is_evaluation_run=evaluation_of is not None,
            source_workflow_run_id=evaluation_of,
        )
        state = RunState(
            dynamic_variables={
                **plan.options.default_dynamic_variables,
                **workflow.dynamic_variables,
                **run_input.dynamic_variables,
            },
            runtime_variables={**workflow.runtime_variables, **run_input.runtime_variables},
        )
        return run, state


# -------------------------------------------------------------------- helpers


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


def _refuse_terminal(run: WorkflowRun, command: Command) -> None:
    if run.status.is_terminal:
        raise RunConflictError(
            f"run {run.workflow_run_id} is {run.status.value}; it cannot take `{command.value}`",
            hint="a finished run takes no more commands: start a new run",
        )
