"""The ASGI app of `harness serve`: the built-in engine behind the platform's REST paths.

Answers carry the platform's envelopes (`harness.models.api.envelopes`): a workflow as
`{"workflow": <document>, "execution_url"}`, a run as `{"workflow_run": <record>}`, runs as
`{"workflow_runs": [...], ...}`, a wrapped execute as the SDK's per-turn answer; a flat execute
answers the bare run, as the seed documents.

Every route answers under `/v1/...` and under `/workflows/v1/...` (the platform's base URL ends in
`/workflows`; the OpenAPI document lists the `/v1` paths). With a token, every API request needs
`Authorization: Bearer <token>` (checked before anything else, so even a malformed body gets 401
first); the OpenAPI document and `/healthz` stay open.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Body, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import Discriminator, Tag
from starlette.types import ASGIApp, Receive, Scope, Send

from harness.config import HarnessSettings
from harness.engine import Engine, LLMClient, MemoryRunStore, RunStore, SqliteRunStore
from harness.models.api import (
    OBJECT_ID_PATTERN,
    ExecuteRequest,
    RunStatus,
    TurnResponse,
    WorkflowConfigFullyHydrated,
    WorkflowDocument,
    WorkflowEnvelope,
    WorkflowRun,
    WorkflowRunEnvelope,
    WorkflowRunInput,
    WorkflowRunsEnvelope,
    turn_response,
)
from harness.server.catalog import WorkflowCatalog
from harness.server.errors import (
    ModelJSONResponse,
    NotFoundError,
    error_response,
    install_error_handlers,
)
from harness.server.guard import BodyGuard

__all__ = ["MEMORY_STORE_MAX_RUNS", "EngineFactory", "create_app", "default_engine_factory"]

MEMORY_STORE_MAX_RUNS = 1_000
"""Runs `harness serve` keeps without `--store` (the oldest finished run is dropped first)."""

EngineFactory = Callable[[httpx.AsyncClient, WorkflowCatalog], Engine]
"""Builds the engine once the server's event loop runs: (its httpx client, the catalog)."""

_API_PREFIXES = ("/v1/", "/workflows/v1/")
WorkflowId = Annotated[str, PathParam(pattern=OBJECT_ID_PATTERN, description="24 hex characters.")]
RunId = Annotated[str, PathParam(pattern=OBJECT_ID_PATTERN, description="24 hex characters.")]


def _body_shape(value: Any) -> str:
    return "wrapped" if isinstance(value, dict) and "run_input" in value else "flat"


ExecuteBody = Annotated[
    Annotated[ExecuteRequest, Tag("wrapped")] | Annotated[WorkflowRunInput, Tag("flat")],
    Discriminator(_body_shape),
]
"""Both execute body shapes: the SDK's `{run_input, run_id}` or the flat `WorkflowRunInput`."""


def default_engine_factory(
    settings: HarnessSettings, *, store: str | Path | RunStore | None = None
) -> EngineFactory:
    """Engines on the settings' providers, with a memory store or a SQLite file (`store`)."""

    def build(http: httpx.AsyncClient, catalog: WorkflowCatalog) -> Engine:
        run_store: RunStore
        if store is None:
            # Bounded: a long-lived server must not grow with every run (use --store to keep all).
            run_store = MemoryRunStore(max_runs=MEMORY_STORE_MAX_RUNS)
        elif isinstance(store, str | Path):
            run_store = SqliteRunStore(store)
        else:
            run_store = store
        # A random seed: run ids must not repeat across restarts on a persistent store.
        return Engine(
            llm=LLMClient(http, settings),
            store=run_store,
            seed=secrets.randbits(64),
            workflows=catalog,
        )

    return build


class _EngineHolder:
    """Builds the engine on first use in the serving loop; closes its httpx client at shutdown."""

    def __init__(self, source: Engine | EngineFactory, catalog: WorkflowCatalog) -> None:
        self._source = source
        self._catalog = catalog
        self._engine = source if isinstance(source, Engine) else None
        self._http: httpx.AsyncClient | None = None
        if self._engine is not None and self._engine.workflows is None:
            # An engine made elsewhere resolves evaluator workflows through the served catalog.
            self._engine.workflows = self._engine.services.workflows = catalog

    def get(self) -> Engine:
        if self._engine is None:
            assert not isinstance(self._source, Engine)
            self._http = httpx.AsyncClient()
            self._engine = self._source(self._http, self._catalog)
        return self._engine

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()


class _BearerAuth:
    """Pure ASGI middleware: API paths need `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith(_API_PREFIXES):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                detail = "wrong bearer token" if given else "missing Authorization: Bearer <token>"
                response = error_response(
                    401,
                    detail,
                    headers={"www-authenticate": "Bearer"},
                    hint="send the token given to `harness serve --token` (or "
                    "HARNESS_SERVE_TOKEN) as `Authorization: Bearer <token>`",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _without_create_metadata(workflow: WorkflowConfigFullyHydrated) -> WorkflowConfigFullyHydrated:
    """The config without the create call's top-level `name`/`description`.

    The platform's client copies them to the body's top level (the platform names the stored
    workflow from there); they are not part of the config, so they are not stored with it. They
    only fill a name or description the workflow config lacks.
    """
    extra = workflow.model_extra or {}
    given = {key: extra.pop(key) for key in ("name", "description") if key in extra}
    config = workflow.workflow_config
    if config is None:
        return workflow
    fill: dict[str, Any] = {
        k: v for k, v in given.items() if isinstance(v, str) and getattr(config, k) is None
    }
    if not fill:
        return workflow
    return workflow.model_copy(update={"workflow_config": config.model_copy(update=fill)})


def _execution_url(request: Request, workflow_id: str) -> str:
    """The execute URL under the prefix the request came in on (`/v1` or `/workflows/v1`)."""
    path = request.url.path
    prefix = path[: path.index("/v1/")] if "/v1/" in path else ""
    return f"{str(request.base_url).rstrip('/')}{prefix}/v1/workflows/{workflow_id}/execute"


def _routes(holder: _EngineHolder, catalog: WorkflowCatalog) -> APIRouter:
    router = APIRouter()
    import_lock = asyncio.Lock()

    def known(workflow_id: str, version: int | None = None) -> WorkflowConfigFullyHydrated:
        workflow = catalog.version(workflow_id, version)
        if workflow is None:
            which = f"workflow {workflow_id}" + (f" version {version}" if version else "")
            raise NotFoundError(
                f"no {which} on this server",
                hint="import it with POST /v1/workflows, or preload it with --workflows DIR",
            )
        return workflow

    def envelope(
        request: Request, workflow_id: str, *, hydrated: bool, version: int | None = None
    ) -> Response:
        workflow = known(workflow_id, version)
        document = WorkflowDocument.of(workflow_id, workflow, hydrated=hydrated)
        url = _execution_url(request, workflow_id)
        return ModelJSONResponse(WorkflowEnvelope(workflow=document, execution_url=url))

    @router.post(
        "/v1/workflows",
        response_model=WorkflowEnvelope,
        summary="Import a hydrated workflow config; answers the stored document",
    )
    async def import_workflow(request: Request, workflow: WorkflowConfigFullyHydrated) -> Response:
        workflow = _without_create_metadata(workflow)
        holder.get().plan(workflow)  # GraphValidationError -> 400 listing every problem
        async with import_lock:
            workflow_id = catalog.add(workflow)
        return envelope(request, workflow_id, hydrated=True)

    @router.get(
        "/v1/workflows/{workflow_id}",
        response_model=WorkflowEnvelope,
        summary="A workflow's stored document (its config fully hydrated, or with node ids)",
    )
    async def get_workflow(
        request: Request,
        workflow_id: WorkflowId,
        fully_hydrate: bool = False,
        version: Annotated[int | None, Query(ge=0)] = None,
    ) -> Response:
        return envelope(request, workflow_id, hydrated=fully_hydrate, version=version)

    @router.post(
        "/v1/workflows/{workflow_id}/execute",
        summary="Run one turn (flat body: the WorkflowRun; wrapped body: a TurnResponse)",
        response_model=WorkflowRun | TurnResponse,
    )
    async def execute(
        workflow_id: WorkflowId,
        body: Annotated[ExecuteBody, Body()],
        version: Annotated[int | None, Query(ge=0)] = None,
    ) -> Response:
        wrapped = isinstance(body, ExecuteRequest)
        run_input = body.run_input if isinstance(body, ExecuteRequest) else body
        updates: dict[str, Any] = {"workflow_id": workflow_id}
        if isinstance(body, ExecuteRequest) and body.run_id is not None:
            updates["workflow_run_id"] = body.run_id
        if version is not None:
            updates["version_number"] = version
        run_input = run_input.model_copy(update=updates)
        workflow = known(workflow_id, version)
        run = await _execute(holder.get(), workflow, workflow_id, run_input)
        return ModelJSONResponse(turn_response(run) if wrapped else run)

    @router.get(
        "/v1/workflow-runs/{run_id}",
        response_model=WorkflowRunEnvelope,
        summary="A stored run: {workflow_run: {_id, ..., workflow_run: <the run>}}",
    )
    async def get_run(run_id: RunId) -> Response:
        return ModelJSONResponse(WorkflowRunEnvelope.of(await holder.get().get_run(run_id)))

    @router.get(
        "/v1/workflow-runs",
        response_model=WorkflowRunsEnvelope,
        summary="Runs, newest first: {workflow_runs: [...], total, page, size, pages}",
    )
    async def list_runs(
        workflow_id: Annotated[str | None, Query(pattern=OBJECT_ID_PATTERN)] = None,
        status: RunStatus | None = None,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        size: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> Response:
        engine = holder.get()
        runs = await engine.list_runs(workflow_id=workflow_id, status=status, page=page, size=size)
        return ModelJSONResponse(WorkflowRunsEnvelope.of(runs))

    return router


async def _execute(
    engine: Engine,
    workflow: WorkflowConfigFullyHydrated,
    workflow_id: str,
    run_input: WorkflowRunInput,
) -> WorkflowRun:
    if run_input.workflow_run_id is None:
        return await engine.execute(workflow, run_input, workflow_id=workflow_id)
    current = await engine.get_run(run_input.workflow_run_id)  # RunNotFoundError -> 404
    if current.workflow_id != workflow_id:
        raise NotFoundError(
            f"run {run_input.workflow_run_id} is a run of workflow {current.workflow_id}, "
            f"not of {workflow_id}",
            hint=f"continue it with POST /v1/workflows/{current.workflow_id}/execute",
        )
    return await engine.execute(None, run_input, workflow_id=workflow_id)


def create_app(
    engine: Engine | EngineFactory | HarnessSettings,
    *,
    token: str | None = None,
    workflows_dir: str | Path | None = None,
    store: str | Path | RunStore | None = None,
    catalog: WorkflowCatalog | None = None,
) -> FastAPI:
    """The `harness serve` app.

    Args:
        engine: the engine to serve, a factory building it in the server's event loop, or
            settings (then `default_engine_factory(settings, store=store)`).
        token: when set, API requests need `Authorization: Bearer <token>`.
        workflows_dir: a folder of hydrated workflow configs (JSON/YAML) to preload.
        store: with settings: a SQLite file for runs (default: in memory).
        catalog: the workflows to serve (default: a new, empty catalog).

    Raises:
        ConfigError: `workflows_dir` is not a folder of valid workflow configs.
    """
    catalog = catalog if catalog is not None else WorkflowCatalog()
    if workflows_dir is not None:
        catalog.load_dir(workflows_dir)
    source = (
        default_engine_factory(engine, store=store)
        if isinstance(engine, HarnessSettings)
        else engine
    )
    holder = _EngineHolder(source, catalog)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await holder.aclose()

    app = FastAPI(
        title="harness serve",
        summary="The harness's built-in workflow engine behind the platform's REST API.",
        version="1",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    router = _routes(holder, catalog)
    app.include_router(router)
    app.include_router(router, prefix="/workflows", include_in_schema=False)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "workflows": len(catalog)}

    app.state.catalog = catalog
    app.state.engine_holder = holder
    app.add_middleware(BodyGuard)  # inside the token check: a stranger's body is never read
    if token:
        app.add_middleware(_BearerAuth, token=token)
    return app
