"""The engine backend: the built-in engine in-process, over a scenario's recorded httpx client.

One `EngineBackend` serves one scenario (and its repeats): its `httpx.AsyncClient` sits on the
scenario's cassette transport, so every LLM call and HTTP tool call is recorded or replayed; the
clock and the seed are fixed, so run ids, event ids, built-in variables and random picks repeat
from recording to replay; the scenario's tool mocks replace tools (first `when` match wins).

Evaluator workflows named by id (`evaluation_config.evaluator_workflow_id`) resolve through a
`FolderWorkflowRegistry` over the folder of the scenario's workflow file: a workflow file there
answers to its file stem, its `workflow_config.logical_id`, and the id the engine derives from
that logical id (24 hex characters of its SHA-256).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx

from harness.backends.base import Capability, RunTarget
from harness.config import HarnessSettings, ResolvedProvider
from harness.engine import (
    Clock,
    Engine,
    LLMClient,
    ManualClock,
    MemoryRunStore,
    RunStore,
    ToolRunner,
    WorkflowPlan,
    WorkflowRegistry,
    no_wait,
    workflow_id_of,
)
from harness.engine.graph import all_tools
from harness.engine.tools import MockLookup, ToolMock
from harness.errors import CassetteMissError, EngineError
from harness.models.api import (
    InlinePythonTool,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
    WorkflowRunInput,
)
from harness.models.scenario import Mocks
from harness.recording.scrub import register_secret_values

__all__ = [
    "REPLAY_EPOCH",
    "REPLAY_SEED",
    "EngineBackend",
    "FolderWorkflowRegistry",
    "PlanCache",
    "SharedPlanEngine",
    "derived_workflow_id",
    "runs_inline_python",
    "scenario_mock_lookup",
]

REPLAY_EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""The fixed time of every engine run (a Monday morning), so recordings replay byte for byte."""

REPLAY_SEED = 7
"""The fixed seed of every engine run."""

_WORKFLOW_SUFFIXES = (".json", ".yaml", ".yml")


def derived_workflow_id(workflow: WorkflowConfigFullyHydrated) -> str:
    """The id the engine gives a workflow run without one (`harness.engine.workflow_id_of`)."""
    return workflow_id_of(workflow)


class FolderWorkflowRegistry:
    """Workflows of one folder by file stem, logical id and derived id (loaded on first use)."""

    def __init__(self, folder: str | Path, *, extra: Mapping[str, Any] | None = None) -> None:
        self.folder = Path(folder)
        self._by_id: dict[str, WorkflowConfigFullyHydrated] | None = None
        self._extra: dict[str, WorkflowConfigFullyHydrated] = dict(extra or {})

    def add(self, workflow_id: str, workflow: WorkflowConfigFullyHydrated) -> None:
        """Register (or replace) a workflow under an id."""
        self._extra[workflow_id] = workflow

    def get(self, workflow_id: str) -> WorkflowConfigFullyHydrated | None:
        """The workflow answering to `workflow_id`, or None."""
        if workflow_id in self._extra:
            return self._extra[workflow_id]
        if self._by_id is None:
            self._by_id = self._scan()
        return self._by_id.get(workflow_id)

    def _scan(self) -> dict[str, WorkflowConfigFullyHydrated]:
        from harness.scenarios import ScenarioLoadError, load_workflow_file

        found: dict[str, WorkflowConfigFullyHydrated] = {}
        if not self.folder.is_dir():
            return found
        for file in sorted(self.folder.iterdir()):
            if file.suffix not in _WORKFLOW_SUFFIXES or not file.is_file():
                continue
            try:
                workflow = load_workflow_file(file)
            except ScenarioLoadError:
                continue  # not a workflow (or broken): `harness validate` reports it
            names = [file.stem, derived_workflow_id(workflow)]
            names.append(workflow.settings.logical_id or "")
            for name in filter(None, names):
                found.setdefault(name, workflow)
        return found


def scenario_mock_lookup(mocks: Mocks) -> MockLookup:
    """A scenario's tool mocks (first `when` match wins) as the engine's `ToolRunner` takes them."""

    def lookup(name: str, arguments: dict[str, Any]) -> ToolMock | None:
        mock = mocks.tool_mock(name, arguments)
        if mock is None:
            return None
        return ToolMock(returns=mock.returns, error=mock.raises, delay_seconds=mock.delay_seconds)

    return lookup


def runs_inline_python(workflow: WorkflowConfigFullyHydrated, mocks: Mocks) -> bool:
    """True when a run of `workflow` may call one of its inline-Python tools for real: one that
    `mocks` does not replace on every call (a mock without `when`)."""
    return any(
        isinstance(tool, InlinePythonTool)
        and not any(mock.when is None for mock in mocks.tools.get(tool.label, []))
        for tool in all_tools(workflow, tool_nodes=True)
    )


PlanCache = dict[int, WorkflowPlan]
"""Validated workflows by config object id, shared by the engines of many scenarios."""


class SharedPlanEngine(Engine):
    """An `Engine` whose validated workflows come from a cache shared with other engines.

    Each scenario gets its own engine (its own ids, clock and cassette), but validating a graph
    (JSON Schemas of tools and outputs included) costs milliseconds: once per config object is
    enough. A plan is plain data derived from the config, so sharing it changes nothing else.
    """

    def __init__(self, *, plans: PlanCache, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shared_plans = plans

    def plan(self, workflow: WorkflowConfigFullyHydrated) -> WorkflowPlan:
        """The cached plan of `workflow`, validated by the first engine that needed it."""
        cached = self._shared_plans.get(id(workflow))
        if cached is not None and cached.workflow is workflow:
            return cached
        plan = super().plan(workflow)
        self._shared_plans[id(workflow)] = plan
        return plan


class EngineBackend:
    """The `Backend` that runs turns on the built-in engine in this process.

    Args:
        http: the client the engine's LLM calls and HTTP tools go through (build it on a
            cassette session's transport to record or replay); closed by `aclose` only when
            `owns_http` is true.
        settings: LLM providers and timeouts.
        mocks: the scenario's tool mocks.
        clock: the engine's clock (default: a `ManualClock` at `REPLAY_EPOCH`, moved only by
            the engine's waits).
        seed: the engine's seed (default `REPLAY_SEED`).
        store: where runs live (default: in memory).
        workflows: resolves evaluator workflows by id.
        owns_http: close `http` in `aclose`.
        plans: validated workflows shared with other backends (keep the configs alive).
        providers: resolved LLM providers shared with other backends of the same settings.
    """

    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.TOOL_MOCKS})
    """Tools run in this process, so mocks apply; evaluators finish within the turn (no polling)."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        settings: HarnessSettings,
        mocks: Mocks | None = None,
        clock: Clock | None = None,
        seed: int = REPLAY_SEED,
        store: RunStore | None = None,
        workflows: WorkflowRegistry | None = None,
        owns_http: bool = False,
        plans: PlanCache | None = None,
        providers: dict[str, ResolvedProvider] | None = None,
    ) -> None:
        self.http = http
        # Virtual time: a self-loop's waits and a no_op's delay move the clock without waiting,
        # so a recording and its replay take no wall time and produce the same events.
        self.clock: Clock = clock or ManualClock(REPLAY_EPOCH)
        sleep = getattr(self.clock, "sleep", no_wait)
        self.llm = LLMClient(http, settings, providers=providers)
        tools = ToolRunner(
            http=http, mock_lookup=scenario_mock_lookup(mocks or Mocks()), clock=self.clock
        )
        self.engine = SharedPlanEngine(
            plans={} if plans is None else plans,
            llm=self.llm,
            tools=tools,
            store=store or MemoryRunStore(),
            clock=self.clock,
            sleep=sleep,
            seed=seed,
            workflows=workflows,
            reraise=(CassetteMissError,),
        )
        self._owns_http = owns_http

    async def execute(self, target: RunTarget, run_input: WorkflowRunInput) -> WorkflowRun:
        """Run one turn of `target.workflow` on the engine.

        Raises:
            EngineError: the target has no hydrated workflow (the engine cannot fetch one by id
                unless its registry knows it), or the engine refused the input.
            CassetteMissError: a request has no recording in replay mode.
        """
        workflow = target.workflow
        if workflow is None and (self.engine.workflows is None or target.workflow_id is None):
            raise EngineError(
                f"run target {target.label} has no workflow file for the engine",
                hint="give the scenario a `workflow:` file, or run it with --backend api",
            )
        # Secrets resolve in requests; the recorder must redact them from cassettes.
        register_secret_values(run_input.secret_values().values())
        return await self.engine.execute(workflow, run_input, workflow_id=target.workflow_id)

    async def get_run(self, run_id: str) -> WorkflowRun:
        """The stored run with this id."""
        return await self.engine.get_run(run_id)

    async def aclose(self) -> None:
        """Close the httpx client when this backend owns it."""
        if self._owns_http:
            await self.http.aclose()
