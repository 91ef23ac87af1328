"""What a scenario runs on: its backend, its target, its cassette, and the harness's own LLM.

A `BackendFactory` binds one scenario at a time (`async with factory.bind(scenario) as binding`).
`EngineFactory` gives each scenario its own engine over its own cassette (so concurrent scenarios
never share ids, clocks or recordings); `ApiFactory` shares one API client and opens the cassette
only for what the harness itself asks an LLM (simulated users, evaluator workflow files).

Cassettes are kept apart by backend (`scenario_cassette_path`): the engine's hold every call the
workflow made (`cassettes/engine/<scenario path>.json`), the API backend's only the harness's own
calls (`cassettes/api/<scenario path>.json`), so a run on one backend never rewrites, or flags as
stale, what the other recorded.

This is where concrete backends are built; the runner above only sees `ScenarioBinding`, the
`Backend` protocol and the backend's declared `capabilities`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from harness.backends.base import Backend, Capability, RunTarget
from harness.backends.engine import (
    EngineBackend,
    FolderWorkflowRegistry,
    PlanCache,
    runs_inline_python,
)
from harness.config import HarnessSettings, ResolvedProvider
from harness.engine import ChatRequest, Engine, LLMCallError, LLMClient
from harness.engine.sandbox import Sandbox, stop_idle_workers
from harness.errors import EngineError, HarnessError
from harness.models.api import WorkflowConfigFullyHydrated
from harness.models.scenario import Scenario, TurnKind
from harness.recording import (
    CassetteSession,
    MissContext,
    RecordingFailure,
    RecordMode,
    ScrubOptions,
    cassette_path_for,
    open_cassette,
    parse_record_mode,
)

__all__ = [
    "CASSETTE_BACKENDS",
    "ApiFactory",
    "BackendFactory",
    "BindingConfig",
    "EarlySandbox",
    "EngineFactory",
    "HarnessLLM",
    "ScenarioBinding",
    "TransportWrapper",
    "check_recording",
    "legacy_cassette_path",
    "make_factory",
    "needs_harness_llm",
    "release_sandbox",
    "scenario_cassette_path",
    "start_sandbox_early",
]

CASSETTE_BACKENDS = ("engine", "api")
"""The backends with cassettes of their own: each has a folder of that name under `cassettes/`."""


_NO_BASE_URL = httpx.URL("")
"""httpx's default `base_url`, parsed once: each client would parse the text `""` again (half
of building a client, once per scenario)."""

TransportWrapper = Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport]
"""Wraps a scenario's cassette transport (e.g. to time replay in a benchmark)."""


@dataclass(frozen=True)
class BindingConfig:
    """Where cassettes live and how they are opened.

    Attributes:
        settings: providers, API URL and timeouts.
        record_mode: cassette record mode (`none` replays only).
        cassettes_root: where cassettes live.
        scenarios_root: the folder mirrored under `cassettes_root`.
        inner_transport: the network transport used while recording (default: httpx's).
        wrap_transport: wraps each scenario's cassette transport.
        sandbox_ahead: start the sandbox when the first scenario that may call inline Python
            is bound, so that its first child boots on an idle core before the call; False in
            processes that share every core with others running scenarios (`--workers`),
            where that boot only takes CPU from them, and costs it even when no tool is called.
    """

    settings: HarnessSettings
    record_mode: RecordMode | str = RecordMode.NONE
    cassettes_root: Path = Path("cassettes")
    scenarios_root: Path = Path("scenarios")
    inner_transport: httpx.AsyncBaseTransport | None = None
    wrap_transport: TransportWrapper | None = None
    sandbox_ahead: bool = True


class HarnessLLM:
    """The LLM the harness itself asks (a simulated user's persona), on the scenario's cassette."""

    def __init__(self, client: LLMClient) -> None:
        self._client = client

    async def reply(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str | None,
        provider: str | None,
        temperature: float | None,
        context: Mapping[str, str],
    ) -> str:
        """The text of one chat completion ("" when the model answered no text).

        Raises:
            HarnessError: the call failed (a replay miss passes through unchanged).
        """
        request = ChatRequest(messages=messages, model=model, temperature=temperature)
        response = await self._client.complete(request, provider=provider, context=context)
        return response.content or ""


@dataclass
class ScenarioBinding:
    """One scenario's backend and helpers, valid inside `BackendFactory.bind`.

    Attributes:
        backend: runs the scenario's turns.
        target: which workflow the turns run.
        name: the backend's name, for reports (`engine`, `api`).
        cassette: the scenario's cassette session, when one is open.
        llm: the harness's own LLM (simulated users), when the scenario needs one.
        engine: an in-process engine for evaluator workflow files, when the scenario has one.
        problems: the infrastructure failures the run itself hides, since the last call (an LLM
            call that failed, so its node said its `default_error_message`; an HTTP or MCP
            request that got no recordable answer while recording): the runner calls it after
            each turn and makes each one the turn's error.
    """

    backend: Backend
    target: RunTarget
    name: str
    cassette: CassetteSession | None = None
    llm: HarnessLLM | None = None
    engine: Engine | None = None
    problems: Callable[[], list[str]] | None = None

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What the scenario's backend can do."""
        return self.backend.capabilities


class _EngineProblems:
    """What went wrong under an engine scenario that its run does not show as an error."""

    def __init__(self, llm: LLMClient, cassette: CassetteSession) -> None:
        self._llm = llm
        self._cassette = cassette
        self._reported: list[RecordingFailure] = []

    def take(self) -> list[str]:
        found = [_described(failure) for failure in self._llm.take_failures()]
        for failure in self._cassette.failures():
            # An LLM call's failure is the client's to report (it names provider and model).
            if failure.caller != "llm" and not any(failure is seen for seen in self._reported):
                self._reported.append(failure)
                found.append(f"{failure} (no answer to record)")
        return found


def _described(failure: LLMCallError) -> str:
    hint = f" (hint: {failure.hint})" if failure.hint else ""
    return f"{failure.message}{hint}"


class BackendFactory(Protocol):
    """Binds scenarios to a backend."""

    name: str
    capabilities: frozenset[Capability]

    def bind(self, scenario: Scenario) -> contextlib.AbstractAsyncContextManager[ScenarioBinding]:
        """The scenario's binding, released (cassette saved) on exit."""
        ...

    async def aclose(self) -> None:
        """Release what the factory shares between scenarios."""
        ...


def scenario_cassette_path(
    scenario: Scenario,
    *,
    backend: str = "engine",
    cassettes_root: Path = Path("cassettes"),
    scenarios_root: Path = Path("scenarios"),
) -> Path:
    """The scenario's cassette on `backend`: `<cassettes_root>/<backend>/<scenario path>.json`.

    A matrix combination gets its own (`name[a=1].json`). Each backend has its own folder, so no
    scenario path can make one backend's cassette the other's.
    """
    if backend not in CASSETTE_BACKENDS:
        raise ValueError(f"no cassettes for backend {backend!r}: use one of {CASSETTE_BACKENDS}")
    return _mirrored(scenario, cassettes_root / backend, scenarios_root)


def legacy_cassette_path(
    scenario: Scenario,
    *,
    cassettes_root: Path = Path("cassettes"),
    scenarios_root: Path = Path("scenarios"),
) -> Path:
    """The scenario's cassette in the layout before backends were kept apart (no backend folder):
    where `harness cassettes check --prune` moves engine cassettes from."""
    return _mirrored(scenario, cassettes_root, scenarios_root)


def _mirrored(scenario: Scenario, cassettes_root: Path, scenarios_root: Path) -> Path:
    """The scenario's path under `scenarios_root`, mirrored under `cassettes_root` (`.json`)."""
    source = scenario.source
    if source is None:
        slug = re.sub(r"[^A-Za-z0-9_.\-\[\]=,]+", "_", scenario.id or scenario.name)
        return cassettes_root / f"{slug}.json"
    path = cassette_path_for(
        source.file, scenarios_root=scenarios_root, cassettes_root=cassettes_root
    )
    ident = scenario.id or ""
    if source.parameters and "[" in ident:
        path = path.with_name(f"{path.stem}{ident[ident.index('[') :]}{path.suffix}")
    return path


def _refuse_legacy(path: Path, scenario: Scenario, config: BindingConfig) -> None:
    """An engine cassette still in the layout before backends were kept apart is not silently
    replayed as missing (nor recorded anew beside it): say how to move it.

    Looked for only when `path` is missing (its path is computed then, not for every scenario).
    """
    if parse_record_mode(config.record_mode) is RecordMode.ALL or path.exists():
        return
    roots = {"cassettes_root": config.cassettes_root, "scenarios_root": config.scenarios_root}
    legacy = legacy_cassette_path(scenario, **roots)
    # A path inside a backend's folder is a cassette of the new layout (of another file).
    if any(legacy.is_relative_to(config.cassettes_root / b) for b in CASSETTE_BACKENDS):
        return
    if not legacy.is_file():
        return
    raise HarnessError(
        f"cassette {legacy} is in the old layout: the engine's cassettes now live in their own "
        f"folder, this one at {path}",
        hint=f"move every such cassette with: harness cassettes check --prune (or git mv "
        f"{legacy} {path}); --rerecord records it again in the new place",
    )


def needs_harness_llm(scenario: Scenario) -> bool:
    """Whether the harness itself calls an LLM for `scenario` (a simulated user, an evaluator
    workflow file): the only calls an API-backend cassette holds."""
    named = scenario.evaluation is not None and scenario.evaluation.workflow is not None
    return named or any(t.kind is TurnKind.SIMULATE for t in scenario.turns)


class _CassetteOpener:
    """Opens a scenario's cassette and an httpx client on it, in the configured record mode."""

    def __init__(self, config: BindingConfig) -> None:
        self.config = config
        self._workflows: dict[str, WorkflowConfigFullyHydrated] = {}
        self._registries: dict[Path, FolderWorkflowRegistry] = {}
        self._registry_of: dict[str, FolderWorkflowRegistry] = {}
        # The configs above live as long as this opener, so their ids stay valid plan keys.
        self._plans: PlanCache = {}
        # The environment is read once per batch, as for `scrub` below.
        self._providers: dict[str, ResolvedProvider] = {}
        self._legacy_possible: bool | None = None
        self._scrub: ScrubOptions | None = None

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
        found = self._registry_of.get(workflow_file)
        if found is None:  # one registry per folder, looked up once per workflow file
            folder = Path(workflow_file).parent
            if folder not in self._registries:
                self._registries[folder] = FolderWorkflowRegistry(folder)
            found = self._registry_of[workflow_file] = self._registries[folder]
        return found

    def legacy_possible(self) -> bool:
        """Whether `cassettes_root` holds anything besides the backends' folders, where a
        cassette of the old layout could be: looked at once, not for every scenario (the
        batch itself only writes inside the backends' folders)."""
        if self._legacy_possible is None:
            try:
                with os.scandir(self.config.cassettes_root) as entries:
                    names = [entry.name for entry in entries]
            except OSError:  # no cassettes folder yet
                names = []
            self._legacy_possible = any(name not in CASSETTE_BACKENDS for name in names)
        return self._legacy_possible

    def scrub(self) -> ScrubOptions:
        """What cassettes redact: the key env vars are read once per batch."""
        if self._scrub is None:
            self._scrub = ScrubOptions.from_env()
        return self._scrub

    @contextlib.asynccontextmanager
    async def open(
        self, scenario: Scenario, backend: str
    ) -> AsyncIterator[tuple[CassetteSession, httpx.AsyncClient]]:
        config = self.config
        source = scenario.source
        file = source.file if source else None
        roots = {"cassettes_root": config.cassettes_root, "scenarios_root": config.scenarios_root}
        path = scenario_cassette_path(scenario, backend=backend, **roots)
        if backend == "engine" and self.legacy_possible():
            _refuse_legacy(path, scenario, config)
        session = open_cassette(
            path,
            config.record_mode,
            inner=config.inner_transport,
            context=MissContext(scenario=scenario.name, scenario_path=file, backend=backend),
            scrub=self.scrub(),
            metadata={"backend": backend},
        )
        async with session:
            transport = session.transport
            if config.wrap_transport is not None:
                transport = config.wrap_transport(transport)
            async with httpx.AsyncClient(transport=transport, base_url=_NO_BASE_URL) as http:
                yield session, http

    def engine_backend(self, scenario: Scenario, http: httpx.AsyncClient) -> EngineBackend:
        return EngineBackend(
            http=http,
            settings=self.config.settings,
            mocks=scenario.mocks,
            workflows=self.registry(scenario.workflow),
            plans=self._plans,
            providers=self._providers,
        )


class EngineFactory:
    """Each scenario on its own built-in engine, over its own cassette."""

    name = "engine"
    capabilities = EngineBackend.capabilities

    def __init__(self, config: BindingConfig) -> None:
        self._opener = _CassetteOpener(config)
        self._sandbox_started = False

    @contextlib.asynccontextmanager
    async def bind(self, scenario: Scenario) -> AsyncIterator[ScenarioBinding]:
        """The scenario's engine, on its cassette."""
        if scenario.workflow is None:
            raise EngineError(
                f"scenario {scenario.name!r} has no `workflow` file, which the engine backend needs",
                hint="add `workflow: <hydrated config file>`, or run it with --backend api",
            )
        workflow = self._opener.workflow(scenario.workflow)
        ahead = self._opener.config.sandbox_ahead
        if ahead and not self._sandbox_started and runs_inline_python(workflow, scenario.mocks):
            # The sandbox's children boot while this scenario opens its cassette and runs its
            # first turns, so the first inline-Python call does not wait for an interpreter.
            self._sandbox_started = True
            Sandbox().start_ahead()
        target = RunTarget(workflow=workflow, name=scenario.name)
        async with self._opener.open(scenario, self.name) as (session, http):
            backend = self._opener.engine_backend(scenario, http)
            yield ScenarioBinding(
                backend=backend,
                target=target,
                name=self.name,
                cassette=session,
                llm=HarnessLLM(backend.llm),
                engine=backend.engine,
                problems=_EngineProblems(backend.llm, session).take,
            )

    async def aclose(self) -> None:
        """Nothing is shared between engine scenarios."""


class ApiFactory:
    """Every scenario through one API client (the platform or `harness serve`)."""

    name = "api"

    def __init__(self, config: BindingConfig) -> None:
        from harness.backends.api import ApiBackend

        self._opener = _CassetteOpener(config)
        self.backend = ApiBackend.from_settings(config.settings)
        self.capabilities = self.backend.capabilities

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
        if not needs_harness_llm(scenario):
            yield ScenarioBinding(backend=self.backend, target=target, name=self.name)
            return
        async with self._opener.open(scenario, self.name) as (session, http):
            helper = self._opener.engine_backend(scenario, http)
            yield ScenarioBinding(
                backend=self.backend,
                target=target,
                name=self.name,
                cassette=session,
                llm=HarnessLLM(helper.llm),
                engine=helper.engine,
            )

    async def aclose(self) -> None:
        """Close the API client."""
        await self.backend.aclose()


def check_recording(scenarios: Sequence[Scenario], backend: str, config: BindingConfig) -> None:
    """Refuse a batch that would record calls to an LLM provider that is not configured
    (`harness.backends.preflight`); nothing to check in replay. Call it before any scenario runs.

    Raises:
        ConfigError: a provider is not configured; the message names the setting to set.
    """
    if backend not in CASSETTE_BACKENDS:
        return
    from harness.backends.preflight import check_recording_providers

    roots = {"cassettes_root": config.cassettes_root, "scenarios_root": config.scenarios_root}
    check_recording_providers(
        scenarios,
        backend=backend,
        record_mode=config.record_mode,
        settings=config.settings,
        cassette_of=lambda scenario: scenario_cassette_path(scenario, backend=backend, **roots),
    )


_EARLY_LOOK_FILES = 16
"""Workflow files `EarlySandbox` reads at most (a few ms in all)."""


class EarlySandbox:
    """Starts the sandbox, in the background, as soon as scenarios are seen whose workflow file
    names an inline-Python tool (and that mock no tool): its first child then boots (~25 ms, on
    another core) while the rest of the files are read and the reports open, rather than on the
    run's first inline-Python call.

    `look` is given the scenarios of each file as the suite reads them (`Suite.select`), or a
    whole batch at once (`start_sandbox_early`). Only a hint, read from the workflow files' text
    (parsing them is the binding's work): a false match (the words in a prompt) costs what the
    start costs, ~10 ms of this thread (the pool's imports) and ~40 ms of CPU elsewhere, and an
    idle child until exit; a scenario that mocks a tool is left out, since it may mock the inline
    ones; a miss (a tool in another file of a chain) leaves the start to the scenario's binding
    (`EngineFactory.bind`). After `_EARLY_LOOK_FILES` workflow files without a match, it stops
    looking.
    """

    def __init__(self, backend: str) -> None:
        self.started = False
        self._looking = backend == "engine"  # on the API, the platform runs the tools
        self._looked: set[str] = set()

    def look(self, scenarios: Iterable[Scenario]) -> None:
        """Start the sandbox if one of `scenarios` will call inline Python (once per batch)."""
        if not self._looking:
            return
        for scenario in scenarios:
            path = scenario.workflow
            if not path or scenario.mocks.tools or scenario.skip or path in self._looked:
                continue
            self._looked.add(path)
            try:
                mentions = _INLINE_PYTHON_MARK in Path(path).read_bytes()
            except (OSError, ValueError):  # (ValueError: a NUL in the path) the binding reports it
                mentions = False
            if mentions:
                Sandbox().start_ahead()
                self.started = True
            if mentions or len(self._looked) >= _EARLY_LOOK_FILES:
                self._looking = False
                return


def start_sandbox_early(backend: str, scenarios: Sequence[Scenario]) -> bool:
    """Start the sandbox now, in the background, when the workflow file of a scenario that mocks
    no tool names an inline-Python tool (`EarlySandbox`); returns whether it did."""
    early = EarlySandbox(backend)
    early.look(scenarios)
    return early.started


def release_sandbox() -> None:
    """Stop this process's idle sandbox children and remove their folders, as the interpreter's
    exit does: for a process that ends with `os._exit` (a forked worker). Nothing when it used
    no sandbox."""
    if "harness.engine._sandbox_pool" in sys.modules:  # (its import alone costs milliseconds)
        stop_idle_workers()


_INLINE_PYTHON_MARK = b"inline_python"  # the tool type, in JSON or YAML


def make_factory(backend: str, config: BindingConfig) -> BackendFactory:
    """The factory for a backend name (`engine` or `api`).

    Raises:
        ConfigError: `api` has no (valid) API URL.
        ValueError: an unknown backend name.
    """
    if backend == "engine":
        return EngineFactory(config)
    if backend == "api":
        return ApiFactory(config)
    raise ValueError(f"unknown backend {backend!r}: use `engine` or `api`")
