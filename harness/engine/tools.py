"""Run the tools of a workflow: inline Python, external APIs, inbuilt functions, knowledge bases.

`ToolRunner.run` never raises for a tool's own failure: every failure (exception, timeout,
non-2xx answer, unknown inbuilt function) becomes `ToolOutcome(success=False, error=...)`, which
the engine shows to the LLM and writes to the `_success`/`_error` runtime variables. Only
infrastructure problems propagate, such as a recording miss in replay (`CassetteMissError`),
because a missing cassette entry must fail the scenario loudly instead of steering the LLM.

HTTP goes through the injected `httpx.AsyncClient`, so the recording transport records and
replays tool calls like LLM calls.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from harness.engine.sandbox import Sandbox, ToolOutcome
from harness.engine.variables import PLACEHOLDER_PATTERN, Clock, substitute, substitute_value
from harness.errors import CassetteMissError
from harness.models.api import (
    ExternalApiTool,
    HttpRequestNodeConfig,
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
    "run_http_request",
    "search_documents",
]

DEFAULT_HTTP_TIMEOUT_SECONDS = 30.0
_BODY_EXCERPT_CHARS = 300
_WORD = re.compile(r"\w+")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "the",
        "to",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
        "you",
        "your",
    ]
)

InbuiltFunction = Callable[[dict[str, Any], Clock | None], Any]
"""An inbuilt function: (arguments, clock) -> JSON-serialisable result; raise to fail."""


class ToolMock(BaseModel):
    """A scenario's stand-in for a tool, keyed by tool name: returns a value or fails, maybe late."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

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


# ------------------------------------------------------------------ inbuilt functions


def _end_call(arguments: dict[str, Any], _clock: Clock | None) -> Any:
    return {"call_ended": True, "reason": arguments.get("reason")}


def _current_time(arguments: dict[str, Any], clock: Clock | None) -> Any:
    now = clock.now() if clock is not None else datetime.now(UTC)
    zone = arguments.get("timezone")
    if zone:
        try:
            now = now.astimezone(ZoneInfo(str(zone)))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown timezone {zone!r}; use an IANA name such as 'Europe/Paris'"
            ) from exc
    return {
        "iso_datetime": now.isoformat(),
        "date": now.date().isoformat(),
        "time": now.strftime("%H:%M"),
        "day_of_week": _DAY_NAMES[now.weekday()],  # not %A: that follows the process locale
    }


INBUILT_FUNCTIONS: Mapping[str, InbuiltFunction] = {
    "end_call": _end_call,
    "current_time": _current_time,
}
"""The inbuilt functions the built-in engine runs; others fail with a hint to mock them."""


def search_documents(documents: list[str], query: str, top_k: int = 3) -> list[dict[str, Any]]:
    """Naive keyword retrieval: rank documents by distinct query words found, then by frequency.

    Args:
        documents: the knowledge base's texts.
        query: the question; words are lower-cased and common stop words dropped.
        top_k: how many matching documents to return.

    Returns:
        Up to `top_k` `{"document", "score"}` dicts, best first; documents with no query word are
        left out. Ties keep the documents' order.
    """
    terms = {w for w in _WORD.findall(query.lower()) if w not in _STOPWORDS} or set(
        _WORD.findall(query.lower())
    )
    scored = []
    for index, document in enumerate(documents):
        words = _WORD.findall(document.lower())
        distinct = sum(1 for term in terms if term in words)
        if distinct:
            frequency = sum(words.count(term) for term in terms)
            scored.append((-distinct, -frequency, index, document))
    scored.sort()
    return [
        {"document": doc, "score": -distinct} for distinct, _, _, doc in scored[: max(top_k, 0)]
    ]


# ------------------------------------------------------------------ the runner


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
            inbuilt: inbuilt functions by name; default `INBUILT_FUNCTIONS`.
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
    ) -> ToolOutcome:
        """Run `tool` with the LLM's (or the tool node's) `arguments`.

        Args:
            tool: the tool's config; `{{dynamic}}`/`[[runtime]]` placeholders in its code, URL,
                headers and body are substituted first.
            arguments: keyword arguments of the call.
            dynamic: the run's dynamic variables.
            runtime: the run's runtime variables.
            context: labels for recorded HTTP requests, e.g. `{"node_logical_id": ...}`.

        Returns:
            The outcome; `success=False` with a message naming the tool on any tool failure.

        Raises:
            CassetteMissError: an HTTP tool's request has no recording in replay mode.
        """
        started = time.perf_counter()
        mock = self.mock_lookup(tool.name, arguments) if self.mock_lookup else None
        mock = mock or self.mocks.get(tool.name)
        try:
            if mock is not None:
                # A mock's error text is the scenario author's, so it is passed on verbatim.
                return await _run_mock(mock)
            outcome = await self._dispatch(tool, arguments, dynamic, runtime, dict(context or {}))
        except CassetteMissError:
            raise
        except Exception as exc:  # a tool's bug must never crash the engine
            outcome = ToolOutcome.failure(f"{type(exc).__name__}: {exc}")
        duration = round((time.perf_counter() - started) * 1000, 3)
        if outcome.success:
            return outcome.model_copy(update={"duration_ms": duration})
        error = f"tool {tool.name!r} ({tool.type}) failed: {outcome.error}"
        return outcome.model_copy(update={"duration_ms": duration, "error": error})

    async def _dispatch(
        self,
        tool: ToolConfig,
        arguments: dict[str, Any],
        dynamic: Mapping[str, Any],
        runtime: Mapping[str, Any],
        context: dict[str, str],
    ) -> ToolOutcome:
        if isinstance(tool, InlinePythonTool):
            code = substitute(tool.code, dynamic, runtime)
            timeout = tool.timeout_seconds or self.default_timeout_seconds
            return await self.sandbox.run_python(
                code, arguments, timeout_seconds=timeout, function_name=tool.name
            )
        if isinstance(tool, ExternalApiTool):
            return await self._call_api(tool, arguments, dynamic, runtime, context)
        if isinstance(tool, InbuiltFunctionTool):
            return self._call_inbuilt(tool, arguments)
        if isinstance(tool, KnowledgeBaseTool):
            return _search_knowledge_base(tool, arguments)
        return ToolOutcome.failure(f"tool type {getattr(tool, 'type', '?')!r} is not supported")

    async def _call_api(
        self,
        tool: ExternalApiTool,
        arguments: dict[str, Any],
        dynamic: Mapping[str, Any],
        runtime: Mapping[str, Any],
        context: dict[str, str],
    ) -> ToolOutcome:
        # The call's arguments resolve `{{name}}` too, shadowing dynamic variables of that name.
        scope = {**dynamic, **arguments}
        referenced = _placeholders(tool.url, tool.headers, tool.body)
        unreferenced = {k: v for k, v in arguments.items() if k not in referenced}
        request = _HttpCall(
            method=tool.method,
            url=substitute(tool.url, scope, runtime),
            headers={k: substitute(v, scope, runtime) for k, v in tool.headers.items()},
            body=substitute_value(tool.body, scope, runtime),
            timeout=tool.timeout_seconds
            or self.default_timeout_seconds
            or DEFAULT_HTTP_TIMEOUT_SECONDS,
            extensions={"harness": {**context, "purpose": f"tool {tool.name}"}},
        )
        # Arguments no placeholder uses travel as they would on the platform: the JSON body of a
        # body-less POST/PUT/PATCH, or query parameters of a GET/DELETE.
        if unreferenced and request.body is None:
            if tool.method in ("GET", "DELETE"):
                request.params = {k: _query_value(v) for k, v in unreferenced.items()}
            else:
                request.body = unreferenced
        return await request.send(self.http)

    def _call_inbuilt(self, tool: InbuiltFunctionTool, arguments: dict[str, Any]) -> ToolOutcome:
        name = tool.function_name or tool.name
        function = self.inbuilt.get(name)
        if function is None:
            supported = ", ".join(sorted(self.inbuilt)) or "none"
            return ToolOutcome.failure(
                f"inbuilt function {name!r} is not supported by the built-in engine (supported: "
                f"{supported}); mock it in the scenario under `mocks: tools: {tool.name}:`"
            )
        return ToolOutcome.ok(function(arguments, self.clock))


async def _run_mock(mock: ToolMock) -> ToolOutcome:
    # A mock's duration is its declared delay, not the measured wall time, so a run with mocks
    # records and replays to identical events.
    if mock.delay_seconds:
        await asyncio.sleep(mock.delay_seconds)
    duration_ms = mock.delay_seconds * 1000
    if mock.error is not None:
        return ToolOutcome(success=False, error=mock.error, duration_ms=duration_ms)
    return ToolOutcome(success=True, result=mock.returns, duration_ms=duration_ms)


def _search_knowledge_base(tool: KnowledgeBaseTool, arguments: dict[str, Any]) -> ToolOutcome:
    query = arguments.get("query")
    if not isinstance(query, str) or not query.strip():
        texts = [v for v in arguments.values() if isinstance(v, str) and v.strip()]
        if not texts:
            return ToolOutcome.failure("a knowledge base search needs a `query` string argument")
        query = " ".join(texts)
    top_k = arguments.get("top_k", 3)
    top_k = top_k if isinstance(top_k, int) and not isinstance(top_k, bool) else 3
    return ToolOutcome.ok(
        {"query": query, "results": search_documents(tool.documents, query, top_k)}
    )


def _placeholders(*values: Any) -> set[str]:
    """Top-level names referenced by `{{name}}`/`[[name.path]]` placeholders anywhere in `values`."""
    text = json.dumps(values, default=str)
    return {(a or b).split(".")[0] for a, b in PLACEHOLDER_PATTERN.findall(text)}


def _query_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# ------------------------------------------------------------------ HTTP


class _HttpCall:
    """One substituted HTTP request and how its answer becomes a `ToolOutcome`."""

    def __init__(
        self,
        *,
        method: str,
        url: str,
        headers: dict[str, str],
        body: Any,
        timeout: float,
        extensions: dict[str, Any],
    ) -> None:
        self.method, self.url, self.headers, self.body = method, url, headers, body
        self.timeout, self.extensions = timeout, extensions
        self.params: dict[str, str] | None = None

    async def send(self, http: httpx.AsyncClient) -> ToolOutcome:
        where = f"{self.method} {self.url}"
        content = self.body if isinstance(self.body, str | bytes) else None
        payload = None if content is not None or self.body is None else self.body
        try:
            response = await http.request(
                self.method,
                self.url,
                headers=self.headers,
                params=self.params,
                content=content,
                json=payload,
                timeout=self.timeout,
                extensions=self.extensions,
            )
        except httpx.TimeoutException:
            return ToolOutcome.failure(f"timed out after {self.timeout:g} s waiting for {where}")
        except (
            httpx.HTTPError,
            ValueError,
        ) as exc:  # ValueError: an invalid URL after substitution
            return ToolOutcome.failure(f"request {where} failed: {type(exc).__name__}: {exc}")
        return _response_outcome(response, where)


def _response_outcome(response: httpx.Response, where: str) -> ToolOutcome:
    if not response.is_success:
        excerpt = response.text[:_BODY_EXCERPT_CHARS]
        return ToolOutcome.failure(f"HTTP {response.status_code} from {where}: {excerpt}")
    return ToolOutcome.ok(_decode(response))


def _decode(response: httpx.Response) -> Any:
    """JSON when the answer is JSON, else its text (an empty body is None)."""
    if not response.content:
        return None
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


async def run_http_request(
    http: httpx.AsyncClient,
    node: HttpRequestNodeConfig,
    dynamic: Mapping[str, Any],
    runtime: Mapping[str, Any],
    *,
    context: Mapping[str, str] | None = None,
) -> ToolOutcome:
    """Send an `http_request` node's request (placeholders substituted) through the engine's client.

    Args:
        http: the engine's client (recorded and replayed).
        node: the node's config: method, URL, headers, body, timeout.
        dynamic: the run's dynamic variables.
        runtime: the run's runtime variables.
        context: labels for the recorded request; the node's logical id is added.

    Returns:
        The decoded answer (JSON or text) or a failure naming the status and a body excerpt.

    Raises:
        CassetteMissError: the request has no recording in replay mode.
    """
    started = time.perf_counter()
    labels = {**(context or {}), "node_logical_id": node.logical_id, "purpose": "http_request"}
    call = _HttpCall(
        method=node.method,
        url=substitute(node.url, dynamic, runtime),
        headers={k: substitute(v, dynamic, runtime) for k, v in node.headers.items()},
        body=substitute_value(node.body, dynamic, runtime),
        timeout=node.timeout_seconds or DEFAULT_HTTP_TIMEOUT_SECONDS,
        extensions={"harness": labels},
    )
    outcome = await call.send(http)
    return outcome.model_copy(
        update={"duration_ms": round((time.perf_counter() - started) * 1000, 3)}
    )
