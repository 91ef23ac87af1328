"""Run the tools of a workflow: inline Python, external APIs, inbuilt functions, knowledge bases.

`ToolRunner.run` never raises for a tool's own failure: every failure (exception, timeout,
non-2xx answer, unknown inbuilt function, a tool the engine cannot run) becomes
`ToolOutcome(success=False, error=...)`, which the engine shows to the LLM and writes to the
`_success`/`_error` runtime variables. Only infrastructure problems propagate, such as a recording
miss in replay (`CassetteMissError`), because a missing cassette entry must fail the scenario
loudly instead of steering the LLM.

Before a tool runs, its `variable_arguments` are bound (`tool_variables`). An `external_api` call
follows the platform: `{name}` placeholders in `api_endpoint`, `api_headers` and `api_body` take
the call's arguments (an `api_body` value that is one whole `{name}` takes the argument's value
with its type), `{{dynamic}}`/`[[runtime]]` placeholders take variables, and an argument no
placeholder names is not sent. HTTP goes through the injected `httpx.AsyncClient`, so the
recording transport records and replays tool calls like LLM calls.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from harness.engine.http_requests import (
    DEFAULT_HTTP_TIMEOUT_SECONDS,
    HttpCall,
    response_outcome,
    run_http_request,
)
from harness.engine.offline_tools import (
    INBUILT_FUNCTIONS,
    InbuiltFunction,
    search_documents,
    search_knowledge_bases,
)
from harness.engine.sandbox import Sandbox, ToolOutcome
from harness.engine.tool_variables import bind_variable_arguments, lookup_path
from harness.engine.variables import ABSENT, Clock, substitute
from harness.errors import CassetteMissError
from harness.models.api import (
    ExternalApiTool,
    InbuiltFunctionTool,
    InlinePythonTool,
    KnowledgeBaseTool,
    ToolConfig,
)

__all__ = [
    "DEFAULT_HTTP_TIMEOUT_SECONDS",
    "INBUILT_FUNCTIONS",
    "InbuiltFunction",
    "MockLookup",
    "ToolMock",
    "ToolOutcome",
    "ToolRunner",
    "render_api_template",
    "run_http_request",
    "search_documents",
]

# `{name}`, `{name.path}` or `{name[0]}`, not part of a `{{dynamic}}` placeholder.
_ARGUMENT = re.compile(r"(?<!\{)\{([A-Za-z_]\w*(?:\.\w+|\[\d+\])*)\}(?!\})")


class ToolMock(BaseModel):
    """A scenario's stand-in for a tool, keyed by tool name: returns a value or fails, maybe late."""

    # Built on first use, not at import: only scenarios with tool mocks make one.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    returns: Any = Field(
        default=None,
        validation_alias=AliasChoices("returns", "value"),
        description="The result the tool returns.",
    )
    error: str | None = Field(
        default=None, description="When set, the tool fails with this message."
    )
    delay_seconds: float = Field(default=0.0, ge=0, description="Wait this long before answering.")


MockLookup = Callable[[str, dict[str, Any]], ToolMock | None]
"""Finds the mock for one call from the tool's name and arguments, or None to run the tool."""


class ToolRunner:
    """Runs one tool call and returns a `ToolOutcome`; tool failures never raise."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        sandbox: Sandbox | None = None,
        mocks: Mapping[str, ToolMock] | None = None,
        mock_lookup: MockLookup | None = None,
        clock: Clock | None = None,
        inbuilt: Mapping[str, InbuiltFunction] | None = None,
        default_timeout_seconds: float | None = None,
    ) -> None:
        """Set up the runner.

        Args:
            http: the engine's client (recorded and replayed like LLM calls).
            sandbox: runs inline Python; created with default settings on first use.
            mocks: scenario tool mocks by tool name; they win over the real tool.
            mock_lookup: finds the mock for a call by tool name and arguments (e.g. a scenario's
                mocks with `when` conditions); consulted before `mocks`.
            clock: time source of inbuilt functions such as `current_time`.
            inbuilt: inbuilt functions by `tool_id`; default `INBUILT_FUNCTIONS`.
            default_timeout_seconds: when a tool sets no `timeout_seconds` (default: the
                sandbox's 10 s for inline Python, 30 s for HTTP).
        """
        self.http = http
        self._sandbox = sandbox
        self.mocks: dict[str, ToolMock] = dict(mocks or {})
        self.mock_lookup = mock_lookup
        self.clock = clock
        self.inbuilt: dict[str, InbuiltFunction] = dict(
            INBUILT_FUNCTIONS if inbuilt is None else inbuilt
        )
        self.default_timeout_seconds = default_timeout_seconds

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox for inline Python (created lazily: starting one costs nothing until used)."""
        if self._sandbox is None:
            self._sandbox = Sandbox()
        return self._sandbox

    async def run(
        self,
        tool: ToolConfig,
        arguments: dict[str, Any],
        *,
        dynamic: Mapping[str, Any],
        runtime: Mapping[str, Any],
        context: Mapping[str, str] | None = None,
        knowledge_bases: Mapping[str, list[str]] | None = None,
    ) -> ToolOutcome:
        """Run `tool` with the LLM's (or the tool node's) `arguments`.

        Args:
            tool: the tool's config.
            arguments: keyword arguments of the call; `variable_arguments` are bound on top.
            dynamic: the run's dynamic variables.
            runtime: the run's runtime variables.
            context: labels for recorded HTTP requests, e.g. `{"node_logical_id": ...}`.
            knowledge_bases: stand-in documents by knowledge base id (`offline_tools`).

        Returns:
            The outcome; `success=False` with a message naming the tool on any tool failure.

        Raises:
            CassetteMissError: an HTTP tool's request has no recording in replay mode.
        """
        started = time.perf_counter()
        label = tool.label
        mock = self.mock_lookup(label, arguments) if self.mock_lookup else None
        mock = mock or self.mocks.get(label)
        try:
            if mock is not None:
                # A mock's error text is the scenario author's, so it is passed on verbatim.
                return await _run_mock(mock)
            bound = bind_variable_arguments(tool, arguments, dynamic, runtime)
            outcome = await self._dispatch(
                tool, bound, dynamic, runtime, dict(context or {}), knowledge_bases or {}
            )
        except CassetteMissError:
            raise
        except Exception as exc:  # a tool's bug must never crash the engine
            outcome = ToolOutcome.failure(_exception_text(exc))
        duration = round((time.perf_counter() - started) * 1000, 3)
        if outcome.success:
            return outcome.model_copy(update={"duration_ms": duration})
        error = f"tool {label!r} ({tool.type}) failed: {outcome.error}"
        return outcome.model_copy(update={"duration_ms": duration, "error": error})

    async def _dispatch(
        self,
        tool: ToolConfig,
        arguments: dict[str, Any],
        dynamic: Mapping[str, Any],
        runtime: Mapping[str, Any],
        context: dict[str, str],
        knowledge_bases: Mapping[str, list[str]],
    ) -> ToolOutcome:
        if isinstance(tool, InlinePythonTool):
            return await self._run_python(tool, arguments, dynamic, runtime)
        if isinstance(tool, ExternalApiTool):
            return await self._call_api(tool, arguments, dynamic, runtime, context)
        if isinstance(tool, InbuiltFunctionTool):
            return self._call_inbuilt(tool, arguments)
        if isinstance(tool, KnowledgeBaseTool):
            ids = tool.target_knowledge_base_ids
            return ToolOutcome.ok(
                search_knowledge_bases(tool.label, ids, arguments, knowledge_bases)
            )
        return ToolOutcome.failure(
            f"the built-in engine cannot run tools of type {tool.type!r}: mock the tool in the "
            f"scenario (mocks: tools: {tool.label}: ...) or run the scenario on the API backend"
        )

    async def _run_python(
        self,
        tool: InlinePythonTool,
        arguments: dict[str, Any],
        dynamic: Mapping[str, Any],
        runtime: Mapping[str, Any],
    ) -> ToolOutcome:
        if not tool.code:
            saved = f" (it refers to the saved tool {tool.tool_id!r})" if tool.tool_id else ""
            return ToolOutcome.failure(
                f"the tool has no code{saved}: pull the workflow fully hydrated "
                "(harness pull) or write the function in `code`"
            )
        code = tool.code
        if tool.allow_code_variable_substitution:
            code = substitute(code, dynamic, runtime)
        timeout = tool.timeout_seconds or self.default_timeout_seconds
        return await self.sandbox.run_python(
            code, arguments, timeout_seconds=timeout, function_name=tool.name
        )

    async def _call_api(
        self,
        tool: ExternalApiTool,
        arguments: dict[str, Any],
        dynamic: Mapping[str, Any],
        runtime: Mapping[str, Any],
        context: dict[str, str],
    ) -> ToolOutcome:
        if not tool.api_endpoint:
            return ToolOutcome.failure("the tool has no api_endpoint: set api_endpoint")
        headers = {
            k: render_api_template(v, arguments, dynamic, runtime)
            for k, v in tool.api_headers.items()
        }
        _check_integration_auth(tool, headers)
        call = HttpCall(
            method=tool.api_method or "GET",
            url=render_api_template(tool.api_endpoint, arguments, dynamic, runtime),
            headers=headers,
            json_body=_render_body(_body_object(tool.api_body), arguments, dynamic, runtime),
            timeout=float(
                tool.timeout_seconds or self.default_timeout_seconds or DEFAULT_HTTP_TIMEOUT_SECONDS
            ),
            extensions={"harness": {**context, "purpose": f"tool {tool.label}"}},
        )
        sent = await call.send(self.http)
        return sent if isinstance(sent, ToolOutcome) else response_outcome(sent, call.where)

    def _call_inbuilt(self, tool: InbuiltFunctionTool, arguments: dict[str, Any]) -> ToolOutcome:
        keys = [k for k in (tool.tool_id, tool.configurable_key, tool.name) if k]
        function = next((self.inbuilt[k] for k in keys if k in self.inbuilt), None)
        if function is None:
            supported = ", ".join(sorted(self.inbuilt)) or "none"
            return ToolOutcome.failure(
                f"inbuilt function {keys[0] if keys else None!r} is not one the built-in engine "
                f"runs offline (it runs: {supported}); mock it in the scenario under "
                f"`mocks: tools: {tool.label}:`, or run the scenario on the API backend"
            )
        return ToolOutcome.ok(function(arguments, self.clock))


def render_api_template(
    template: str,
    arguments: Mapping[str, Any],
    dynamic: Mapping[str, Any],
    runtime: Mapping[str, Any],
) -> str:
    """`{name}` from `arguments`, `{{dynamic}}`/`[[runtime]]` from variables, in one pass.

    One pass: an argument's text is never read for placeholders (an LLM-chosen value cannot
    pull a variable into the request).

    Raises:
        ValueError: a `{name}` the call has no argument for (the platform's request fails too).
    """
    pieces: list[str] = []
    last = 0
    for match in _ARGUMENT.finditer(template):
        pieces.append(substitute(template[last : match.start()], dynamic, runtime))
        pieces.append(_argument_text(match.group(1), arguments))
        last = match.end()
    pieces.append(substitute(template[last:], dynamic, runtime))
    return "".join(pieces)


def _argument_value(path: str, arguments: Mapping[str, Any]) -> Any:
    value = lookup_path(path, arguments)
    if value is ABSENT:
        raise ValueError(
            f"the request template uses {{{path}}} but the call has no argument "
            f"{path.split('.')[0].split('[')[0]!r} (arguments: {sorted(arguments) or 'none'})"
        )
    return value


def _argument_text(path: str, arguments: Mapping[str, Any]) -> str:
    value = _argument_value(path, arguments)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _body_object(body: dict[str, Any] | str | None) -> Any:
    # The platform stores JSON text as the object it encodes; blank text is no body.
    if isinstance(body, str):
        return json.loads(body) if body.strip() else None
    return body


def _render_body(
    value: Any, arguments: Mapping[str, Any], dynamic: Mapping[str, Any], runtime: Mapping[str, Any]
) -> Any:
    if isinstance(value, str):
        whole = _ARGUMENT.fullmatch(value)
        if whole is not None:
            return _argument_value(whole.group(1), arguments)
        return render_api_template(value, arguments, dynamic, runtime)
    if isinstance(value, Mapping):
        return {str(k): _render_body(v, arguments, dynamic, runtime) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_body(v, arguments, dynamic, runtime) for v in value]
    return value


def _check_integration_auth(tool: ExternalApiTool, headers: Mapping[str, str]) -> None:
    auth = tool.integration_auth
    has_authorization = any(k.lower() == "authorization" for k in headers)
    if auth is not None and auth.integration_id and not has_authorization:
        raise ValueError(
            f"integration_auth {auth.integration_id!r} needs the platform's OAuth token, which "
            "the built-in engine cannot fetch: set api_headers.Authorization (e.g. "
            "'Bearer {{token}}' with the token in the run's variables) or mock the tool"
        )


def _exception_text(exc: Exception) -> str:
    # Our own refusals (ValueError) read as sentences; other exceptions keep their type.
    return str(exc) if type(exc) is ValueError else f"{type(exc).__name__}: {exc}"


async def _run_mock(mock: ToolMock) -> ToolOutcome:
    # A mock's duration is its declared delay, not the measured wall time, so a run with mocks
    # records and replays to identical events.
    if mock.delay_seconds:
        await asyncio.sleep(mock.delay_seconds)
    duration_ms = mock.delay_seconds * 1000
    if mock.error is not None:
        return ToolOutcome(success=False, error=mock.error, duration_ms=duration_ms)
    return ToolOutcome(success=True, result=mock.returns, duration_ms=duration_ms)
