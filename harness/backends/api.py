"""The platform's REST API over httpx, and `ApiBackend`, the `Backend` that drives it.

Every path is `{api_url}/v1/...`, where `api_url` is the platform's `.../workflows` base. Each call
runs under a total deadline, holds one of `max_concurrency` slots while a request is in flight, and
is retried only where a retry cannot execute anything twice (see `harness.backends.retry`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import ssl
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, Literal, TypeVar, overload

import httpx
from pydantic import BaseModel, ValidationError

from harness.backends.api_errors import (
    ApiCall,
    decode_json,
    error_for_envelope,
    error_for_validation,
)
from harness.backends.base import Capability, RunTarget
from harness.backends.retry import RetryPolicy
from harness.backends.sending import RetryingSender
from harness.config import ENV_API_URL, HarnessSettings, load_settings
from harness.errors import ApiError, ConfigError
from harness.models.api import (
    OBJECT_ID_PATTERN,
    EnvelopeError,
    ExecuteRequest,
    RunsPage,
    RunStatus,
    TurnResponse,
    WorkflowConfigFullyHydrated,
    WorkflowRun,
    WorkflowRunInput,
    hydrated_payload,
    parse_hydrated_workflow,
    parse_run,
    parse_runs_page,
    parse_workflow_id,
)

__all__ = ["ApiBackend", "PlatformClient", "api_base_url", "timeout_from_settings"]

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")
_OBJECT_ID = re.compile(OBJECT_ID_PATTERN)


def api_base_url(settings: HarnessSettings) -> str:
    """The configured `.../workflows` base URL without a trailing slash (or `/v1`).

    Raises:
        ConfigError: no URL is configured, or it is not an http(s) URL.
    """
    raw = (settings.api_url or "").strip()
    hint = f"export {ENV_API_URL}=https://api-<env>.<platform-host>/workflows"
    if not raw:
        raise ConfigError(
            "no platform API URL is configured",
            hint=f"{hint} (or set api_url in [tool.harness] of pyproject.toml or in harness.toml)",
        )
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"api_url {raw!r} is not a valid URL: {exc}", hint=hint) from exc
    if url.scheme not in ("http", "https") or not url.host:
        where = f"{ENV_API_URL} or api_url in {settings.source or 'the settings'}"
        raise ConfigError(f"api_url {raw!r} ({where}) is not an http(s) URL", hint=hint)
    base = raw.rstrip("/")
    # Users paste the documented `.../workflows/v1/...` paths; every path below adds `/v1` itself.
    return base.removesuffix("/v1")


def timeout_from_settings(settings: HarnessSettings) -> httpx.Timeout:
    """Explicit timeouts: short to connect, LLM-length to read (a turn may call several LLMs)."""
    connect = settings.connect_timeout_seconds
    return httpx.Timeout(
        connect=connect, read=settings.read_timeout_seconds, write=connect, pool=connect
    )


def _tls_for(base: str) -> ssl.SSLContext | bool:
    """What the client verifies TLS with: httpx's default context (the CA bundle loaded), unless
    the API is plain HTTP and reached without a proxy.

    Loading the CA bundle takes ~20 ms for every client (~37 ms for the first, with certifi's
    import), a fifth of a short run's start-up against `harness serve` or a local platform; a
    plain-HTTP client never opens TLS (it follows no redirect, and no proxy from the environment
    may be an https one), so it gets a context that loads no certificate: were TLS ever asked of
    it, it would refuse every certificate rather than accept one.
    """
    if httpx.URL(base).scheme != "http" or urllib.request.getproxies():
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, with nothing to trust


class PlatformClient:
    """Async client of the platform's workflow API.

    Args:
        settings: where and how to connect; `load_settings()` when omitted.
        http_client: an `httpx.AsyncClient` to use (it stays open on `aclose`); one with explicit
            timeouts is built otherwise. Requests always carry `timeout`.
        retry: retry limits and backoff; `RetryPolicy(max_retries=settings.max_retries)` by default.
        timeout: per-request timeouts; `timeout_from_settings(settings)` by default.

    Raises:
        ConfigError: `api_url` is missing or invalid.
    """

    def __init__(
        self,
        settings: HarnessSettings | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        settings = settings if settings is not None else load_settings()
        self._base = api_base_url(settings)
        self._settings = settings
        self._timeout = timeout or timeout_from_settings(settings)
        self._retry = retry or RetryPolicy(max_retries=settings.max_retries)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=settings.max_concurrency),
            verify=_tls_for(self._base),
        )
        self._sender = RetryingSender(
            self._http,
            headers=_headers(settings),
            timeout=self._timeout,
            policy=self._retry,
            deadline_seconds=settings.deadline_seconds,
            max_concurrency=settings.max_concurrency,
            secret=settings.api_key,
        )

    @property
    def base_url(self) -> str:
        """The `.../workflows` base URL every path is appended to."""
        return self._base

    async def __aenter__(self) -> PlatformClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object built it."""
        if self._owns_http:
            await self._http.aclose()

    # ------------------------------------------------------------ endpoints

    @overload
    async def execute(
        self,
        workflow_id: str,
        run_input: WorkflowRunInput,
        *,
        version: int | None = None,
        wrapped: Literal[False] = False,
        run_id: str | None = None,
    ) -> WorkflowRun: ...

    @overload
    async def execute(
        self,
        workflow_id: str,
        run_input: WorkflowRunInput,
        *,
        version: int | None = None,
        wrapped: Literal[True],
        run_id: str | None = None,
    ) -> TurnResponse: ...

    async def execute(
        self,
        workflow_id: str,
        run_input: WorkflowRunInput,
        *,
        version: int | None = None,
        wrapped: bool = False,
        run_id: str | None = None,
    ) -> WorkflowRun | TurnResponse:
        """Run one turn: `POST /v1/workflows/{workflow_id}/execute[?version=N]`.

        Args:
            workflow_id: DB id of the workflow (24 lowercase hex characters).
            run_input: the turn: command, variables, thread inputs.
            version: the workflow version to run; None = the active one.
            wrapped: send the SDK's `{"run_input", "run_id"}` body and get the short per-turn
                `TurnResponse`; otherwise send the flat seed body and get the whole `WorkflowRun`.
            run_id: continue this run (sets `workflow_run_id` in the flat shape).

        Raises:
            ExecuteOutcomeUnknownError: the request may have executed but no answer arrived
                (timeout, reset, 5xx); it is never re-sent: check `get_run` first.
            ApiError: any other failure, with the status code and the server's message.
        """
        _check_id(workflow_id, "workflow_id")
        if run_id is not None:
            _check_id(run_id, "run_id")
        if version is not None:
            _check_version(version)
        if run_input.workflow_id is None:
            run_input = run_input.model_copy(update={"workflow_id": workflow_id})
        body: BaseModel
        if wrapped:
            body = ExecuteRequest(run_input=run_input, run_id=run_id)
        else:
            if run_id is not None:
                run_input = run_input.model_copy(update={"workflow_run_id": run_id})
            body = run_input
        continued = run_id or run_input.workflow_run_id
        recheck = (
            f"read the run with get_run({continued!r}) before sending the turn again"
            if continued
            else f"look for the new run with list_runs(workflow_id={workflow_id!r}) before "
            "starting another"
        )
        call = self._call(
            "POST",
            f"workflows/{workflow_id}/execute",
            what=f"workflow {workflow_id}" + (f" or run {continued}" if continued else ""),
            recheck=recheck,
            params={} if version is None else {"version": version},
        )
        response = await self._sender.send(call, _dump(body))
        if wrapped:
            return self._parse(response, call, TurnResponse)
        return self._read(response, call, parse_run, "WorkflowRun")

    async def get_run(self, run_id: str) -> WorkflowRun:
        """The stored run: `GET /v1/workflow-runs/{run_id}` (`{"workflow_run": {...}}` or bare)."""
        _check_id(run_id, "run_id")
        call = self._call("GET", f"workflow-runs/{run_id}", what=f"run {run_id}")
        return self._read(await self._sender.send(call), call, parse_run, "WorkflowRun")

    async def list_runs(
        self,
        *,
        workflow_id: str | None = None,
        status: RunStatus | str | None = None,
        page: int = 1,
        size: int = 50,
    ) -> RunsPage:
        """One page of runs: `GET /v1/workflow-runs?workflow_id=&status=&page=&size=`.

        Args:
            workflow_id: only runs of this workflow.
            status: only runs with this status.
            page: the page number; pages are 1-based.
            size: runs per page.
        """
        if page < 1 or size < 1:
            raise ApiError(
                f"page and size must be >= 1 (pages are 1-based), got page={page}, size={size}",
                hint="the first page is page=1",
            )
        if workflow_id is not None:
            _check_id(workflow_id, "workflow_id")
        params: dict[str, Any] = {"page": page, "size": size}
        if workflow_id is not None:
            params["workflow_id"] = workflow_id
        if status is not None:
            params["status"] = _status(status)
        what = f"runs of workflow {workflow_id}" if workflow_id else "the runs endpoint"
        call = self._call("GET", "workflow-runs", what=what, params=params)
        return self._read(await self._sender.send(call), call, parse_runs_page, "RunsPage")

    async def iter_runs(
        self,
        *,
        workflow_id: str | None = None,
        status: RunStatus | str | None = None,
        size: int = 50,
    ) -> AsyncIterator[WorkflowRun]:
        """Every run matching the filters, fetching page after page (1, 2, ...) as needed."""
        page = 1
        while True:
            batch = await self.list_runs(
                workflow_id=workflow_id, status=status, page=page, size=size
            )
            for run in batch.items:
                yield run
            # `pages` bounds the walk; an empty page ends it even if the server miscounts.
            if not batch.items or page >= batch.pages:
                return
            page += 1

    async def get_workflow(
        self, workflow_id: str, *, version: int | None = None
    ) -> WorkflowConfigFullyHydrated:
        """A stored workflow, fully hydrated: `GET /v1/workflows/{id}?fully_hydrate=true`.

        Args:
            workflow_id: DB id of the workflow (24 lowercase hex characters).
            version: the version to fetch (`&version=N`); None = the active one.

        The answer may be the platform's `{"workflow": {"workflow_config": <hydrated>}}`, the
        single-wrapped `{"workflow": <hydrated>}` or the bare hydrated config.
        """
        return (await self._get_hydrated(workflow_id, version))[1]

    async def get_workflow_json(
        self, workflow_id: str, *, version: int | None = None
    ) -> dict[str, Any]:
        """The hydrated config exactly as the platform sent it (unwrapped, checked to validate).

        What `harness pull` writes: keys and nulls as the platform stores them, even those these
        models do not declare. Same call and errors as `get_workflow`.
        """
        return (await self._get_hydrated(workflow_id, version))[0]

    async def _get_hydrated(
        self, workflow_id: str, version: int | None
    ) -> tuple[dict[str, Any], WorkflowConfigFullyHydrated]:
        _check_id(workflow_id, "workflow_id")
        params: dict[str, Any] = {"fully_hydrate": "true"}
        if version is not None:
            _check_version(version)
            params["version"] = version
        which = f"workflow {workflow_id}" + (f" version {version}" if version is not None else "")
        call = self._call("GET", f"workflows/{workflow_id}", what=which, params=params)
        response = await self._sender.send(call)
        payload = self._read(response, call, hydrated_payload, "WorkflowConfigFullyHydrated")
        config = self._read(response, call, parse_hydrated_workflow, "WorkflowConfigFullyHydrated")
        return payload, config

    async def import_workflow(self, config: WorkflowConfigFullyHydrated) -> str:
        """Store a hydrated workflow: `POST /v1/workflows`; returns the new workflow's id.

        As the platform's own client does, the workflow's name and description also go at the top
        level of the body (the platform names the stored workflow from there). The answer may be
        the platform's `{"workflow": {"_id": ...}}`, a flat object with `_id`, `id` or
        `workflow_id`, or the id as a JSON string.
        """
        meta = config.workflow_config
        name = (meta.name if meta is not None else None) or "workflow"
        call = self._call(
            "POST",
            "workflows",
            what=f"the import endpoint (for {name!r})",
            recheck="check whether the workflow was imported before importing it again",
        )
        # The whole config, nulls included: an import must store exactly what was given.
        body = config.model_dump(mode="json", by_alias=True)
        if meta is not None and meta.name is not None:
            body["name"] = meta.name
        if meta is not None and meta.description is not None:
            body["description"] = meta.description
        data = decode_json(await self._sender.send(call, body), call)
        try:
            return parse_workflow_id(data)
        except EnvelopeError as exc:
            raise ApiError(
                f"{call.where}: the answer {exc}; got {json.dumps(data)[:200]}",
                hint="the server's import endpoint must return the new workflow's id",
            ) from None

    # ------------------------------------------------------------ plumbing

    def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        recheck: str = "",
        params: dict[str, Any] | None = None,
    ) -> ApiCall:
        return ApiCall(
            method=method,
            url=f"{self._base}/v1/{path}",
            what=what,
            idempotent=method == "GET",
            recheck=recheck,
            api_url=self._base,
            team_id=self._settings.team_id,
            key_sent=bool(self._settings.api_key),
            read_timeout=self._timeout.read,
            params=params or {},
        )

    def _parse(self, response: httpx.Response, call: ApiCall, model: type[M]) -> M:
        return self._read(response, call, model.model_validate, model.__name__)

    def _read(
        self, response: httpx.Response, call: ApiCall, parse: Callable[[Any], R], what: str
    ) -> R:
        """`parse` the JSON body; a shape it does not know becomes an `ApiError` naming the call."""
        data = decode_json(response, call)
        try:
            return parse(data)
        except ValidationError as exc:
            raise self._sender.scrub(error_for_validation(exc, call, what)) from exc
        except EnvelopeError as exc:
            raise self._sender.scrub(error_for_envelope(exc, call, what, data)) from exc


def _headers(settings: HarnessSettings) -> dict[str, str]:
    headers = {"accept": "application/json", "user-agent": "harness-api-client"}
    if settings.api_key:
        headers["authorization"] = f"Bearer {settings.api_key}"
    if settings.team_id:
        headers["teamid"] = settings.team_id
    if settings.user_id:
        headers["uuid"] = settings.user_id
    return headers


def _check_id(value: str, field: str) -> None:
    if not isinstance(value, str) or not _OBJECT_ID.match(value):
        raise ApiError(
            f"{field} {value!r} is not a platform database id (24 lowercase hex characters)",
            hint=f"copy the {field} from the platform's dashboard or from a previous run",
        )


def _check_version(version: int) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ApiError(
            f"version must be an integer >= 0, got {version!r}", hint="omit it for the active one"
        )


def _status(status: RunStatus | str) -> str:
    try:
        return RunStatus(status).value
    except ValueError:
        known = ", ".join(s.value for s in RunStatus)
        raise ApiError(
            f"status {status!r} is not a run status", hint=f"use one of: {known}"
        ) from None


def _dump(model: BaseModel) -> Any:
    # Nulls are left out: the platform's defaults for absent keys are the same.
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


class ApiBackend:
    """The `Backend` that runs turns on the platform (or `harness serve`) through `PlatformClient`.

    A target with only a hydrated `workflow` is imported once (`POST /v1/workflows`) and run by the
    id the server returns, so engine scenarios also run against `harness serve`.
    """

    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.EVALUATION_POLLING})
    """The platform runs tools itself (no mocks) and may evaluate a run after answering."""

    def __init__(self, client: PlatformClient) -> None:
        self._client = client
        self._imported: dict[str, str] = {}
        self._import_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: HarnessSettings | None = None) -> ApiBackend:
        """A backend with a client built from settings (`load_settings()` when omitted)."""
        return cls(PlatformClient(settings))

    @property
    def client(self) -> PlatformClient:
        """The underlying API client, for calls beyond the `Backend` protocol."""
        return self._client

    async def execute(self, target: RunTarget, run_input: WorkflowRunInput) -> WorkflowRun:
        """Run one turn of `target` (flat body; `run_input.workflow_run_id` continues a run)."""
        workflow_id = target.workflow_id or await self._import(target)
        return await self._client.execute(workflow_id, run_input, version=target.version)

    async def get_run(self, run_id: str) -> WorkflowRun:
        """The stored run with this id."""
        return await self._client.get_run(run_id)

    async def aclose(self) -> None:
        """Close the client."""
        await self._client.aclose()

    async def _import(self, target: RunTarget) -> str:
        if target.workflow is None:  # RunTarget guarantees one of the two; keep mypy honest.
            raise ApiError(f"run target {target.name!r} has neither a workflow_id nor a workflow")
        digest = hashlib.sha256(json.dumps(_dump(target.workflow), sort_keys=True).encode())
        key = digest.hexdigest()
        async with self._import_lock:
            if key not in self._imported:
                self._imported[key] = await self._client.import_workflow(target.workflow)
        return self._imported[key]
