"""What a scenario runs on: its backend, its target, its cassette, and an LLM for simulated users.

A `BackendFactory` binds one scenario at a time (`async with factory.bind(scenario) as binding`).
`EngineFactory` gives each scenario its own engine over its own cassette (so concurrent scenarios
never share ids, clocks or recordings); `ApiFactory` shares one API client and opens the cassette
only for what the harness itself asks an LLM (simulated users, named evaluator workflows).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from harness.backends.base import Backend, RunTarget
from harness.backends.engine import EngineBackend, FolderWorkflowRegistry, PlanCache
from harness.config import HarnessSettings
from harness.engine import Engine, LLMClient
from harness.errors import EngineError
from harness.models.api import WorkflowConfigFullyHydrated
from harness.models.scenario import Scenario, TurnKind
from harness.recording import CassetteSession, MissContext, cassette_path_for, open_cassette
from harness.runner.options import RunOptions

__all__ = [
    "ApiFactory",
    "BackendFactory",
    "EngineFactory",
    "ScenarioBinding",
    "make_factory",
    "scenario_cassette_path",
]


@dataclass
class ScenarioBinding:
    """One scenario's backend and helpers, valid inside `BackendFactory.bind`."""

    backend: Backend
    target: RunTarget
    name: str
    cassette: CassetteSession | None = None
    llm: LLMClient | None = None
    engine: Engine | None = None


class BackendFactory(Protocol):
    """Binds scenarios to a backend."""

    name: str

    def bind(self, scenario: Scenario) -> contextlib.AbstractAsyncContextManager[ScenarioBinding]:
        """The scenario's binding, released (cassette saved) on exit."""
        ...

    async def aclose(self) -> None:
        """Release what the factory shares between scenarios."""
        ...


def scenario_cassette_path(scenario: Scenario, options: RunOptions) -> Path:
    """The scenario's cassette; a matrix combination gets its own (`name[a=1].json`)."""
    source = scenario.source
    if source is None:
        slug = re.sub(r"[^A-Za-z0-9_.\-\[\]=,]+", "_", scenario.id or scenario.name)
        return options.cassettes_root / f"{slug}.json"
    path = cassette_path_for(
        source.file, scenarios_root=options.scenarios_root, cassettes_root=options.cassettes_root
    )
    ident = scenario.id or ""
    if source.parameters and "[" in ident:
        path = path.with_name(f"{path.stem}{ident[ident.index('[') :]}{path.suffix}")
    return path


def _needs_llm(scenario: Scenario) -> bool:
    named = scenario.evaluation is not None and scenario.evaluation.workflow is not None
    return named or any(t.kind is TurnKind.SIMULATE for t in scenario.turns)


class _CassetteOpener:
    """Opens a scenario's cassette and an httpx client on it, in the options' record mode."""

    def __init__(self, options: RunOptions, settings: HarnessSettings) -> None:
        self.options = options
        self.settings = settings
        self._workflows: dict[str, WorkflowConfigFullyHydrated] = {}
        self._registries: dict[Path, FolderWorkflowRegistry] = {}
        # The configs above live as long as this opener, so their ids stay valid plan keys.
        self._plans: PlanCache = {}

    def workflow(self, path: str) -> WorkflowConfigFullyHydrated:
        # One object per file: the engine caches its validated graph per config object.
        found = self._workflows.get(path)
        if found is None:
            from harness.scenarios import load_workflow_file

            found = self._workflows[path] = load_workflow_file(path)
        return found

    def registry(self, workflow_file: str | None) -> FolderWorkflowRegistry | None:
        if workflow_file is None:
            return None
        folder = Path(workflow_file).parent
        if folder not in self._registries:
            self._registries[folder] = FolderWorkflowRegistry(folder)
        return self._registries[folder]

    @contextlib.asynccontextmanager
    async def open(
        self, scenario: Scenario
    ) -> AsyncIterator[tuple[CassetteSession, httpx.AsyncClient]]:
        file = scenario.source.file if scenario.source else None
        session = open_cassette(
            scenario_cassette_path(scenario, self.options),
            self.options.record_mode,
            inner=self.options.inner_transport,
            context=MissContext(scenario=scenario.name, scenario_path=file),
        )
        async with session:
            transport = session.transport
            if self.options.wrap_transport is not None:
                transport = self.options.wrap_transport(transport)
            async with httpx.AsyncClient(transport=transport) as http:
                yield session, http

    def engine_backend(self, scenario: Scenario, http: httpx.AsyncClient) -> EngineBackend:
        return EngineBackend(
            http=http,
            settings=self.settings,
            mocks=scenario.mocks,
            workflows=self.registry(scenario.workflow),
            plans=self._plans,
        )


class EngineFactory:
    """Each scenario on its own built-in engine, over its own cassette."""

    name = "engine"

    def __init__(self, options: RunOptions, settings: HarnessSettings) -> None:
        self._opener = _CassetteOpener(options, settings)

    @contextlib.asynccontextmanager
    async def bind(self, scenario: Scenario) -> AsyncIterator[ScenarioBinding]:
        """The scenario's engine, on its cassette."""
        if scenario.workflow is None:
            raise EngineError(
                f"scenario {scenario.name!r} has no `workflow` file, which the engine backend needs",
                hint="add `workflow: <hydrated config file>`, or run it with --backend api",
            )
        workflow = self._opener.workflow(scenario.workflow)
        target = RunTarget(workflow=workflow, name=scenario.name)
        async with self._opener.open(scenario) as (session, http):
            backend = self._opener.engine_backend(scenario, http)
            yield ScenarioBinding(
                backend=backend,
                target=target,
                name=self.name,
                cassette=session,
                llm=backend.llm,
                engine=backend.engine,
            )

    async def aclose(self) -> None:
        """Nothing is shared between engine scenarios."""


class ApiFactory:
    """Every scenario through one API client (the platform or `harness serve`)."""

    name = "api"

    def __init__(self, options: RunOptions, settings: HarnessSettings) -> None:
        from harness.backends.api import ApiBackend

        self._opener = _CassetteOpener(options, settings)
        self.backend = ApiBackend.from_settings(settings)

    @contextlib.asynccontextmanager
    async def bind(self, scenario: Scenario) -> AsyncIterator[ScenarioBinding]:
        """The shared API backend; a cassette only when the harness itself calls an LLM."""
        workflow = self._opener.workflow(scenario.workflow) if scenario.workflow else None
        target = RunTarget(
            workflow_id=scenario.workflow_id,
            version=scenario.workflow_version,
            workflow=None if scenario.workflow_id else workflow,
            name=scenario.name,
        )
        if not _needs_llm(scenario):
            yield ScenarioBinding(backend=self.backend, target=target, name=self.name)
            return
        async with self._opener.open(scenario) as (session, http):
            helper = self._opener.engine_backend(scenario, http)
            yield ScenarioBinding(
                backend=self.backend,
                target=target,
                name=self.name,
                cassette=session,
                llm=helper.llm,
                engine=helper.engine,
            )

    async def aclose(self) -> None:
        """Close the API client."""
        await self.backend.aclose()


def make_factory(options: RunOptions) -> BackendFactory:
    """The factory for `options.backend` (`engine` or `api`).

    Raises:
        ConfigError: settings are invalid, or `api` has no API URL.
        ValueError: an unknown backend name.
    """
    from harness.config import load_settings

    settings = options.settings if options.settings is not None else load_settings()
    if options.backend == "engine":
        return EngineFactory(options, settings)
    if options.backend == "api":
        return ApiFactory(options, settings)
    raise ValueError(f"unknown backend {options.backend!r}: use `engine` or `api`")
