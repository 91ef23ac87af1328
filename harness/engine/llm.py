"""OpenAI-compatible chat completions over an injected `httpx.AsyncClient` (no SDK).

One seam for every LLM call of the engine: main node calls, condition evaluators and evaluator
workflows. The client owns the HTTP call so that the recording transport can record and replay it:
each request carries `extensions={"harness": {"node_logical_id": ..., "purpose": ...}}` for miss
reports, and a response header `x-harness-recorded-latency-ms` (set on replay) replaces the
measured latency, so recorded latencies stay meaningful offline.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from harness.config import HarnessSettings, ResolvedProvider
from harness.engine.llm_replay import direct_transport, replayed_completion
from harness.engine.secrets import MASK
from harness.errors import EngineError
from harness.models._factories import empty_list

__all__ = [
    "RECORDED_LATENCY_HEADER",
    "ChatRequest",
    "ChatResponse",
    "LLMCallError",
    "LLMClient",
    "TokenUsage",
    "ToolCall",
    "is_reasoning_model",
]

RECORDED_LATENCY_HEADER = "x-harness-recorded-latency-ms"
_RETRIED_STATUSES = frozenset({429, 502, 503, 504})
_MAX_RETRY_AFTER_SECONDS = 30.0
_ERROR_EXCERPT_CHARS = 300
_KEPT_FAILURES = 20


class LLMCallError(EngineError):
    """An LLM call failed (HTTP error, timeout, malformed answer); the node says its error message.

    Attributes:
        status_code: the HTTP status when the provider answered, else None.
    """

    def __init__(self, message: str, *, status_code: int | None = None, hint: str | None = None):
        self.status_code = status_code
        super().__init__(message, hint=hint)


class ToolCall(BaseModel):
    """A function call requested by the model."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The call id the tool result must echo.")
    name: str = Field(description="The function name.")
    arguments: str = Field(default="{}", description="Arguments as the model wrote them (JSON).")

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict; `{}` when the model wrote nothing or invalid JSON."""
        try:
            value = json.loads(self.arguments) if self.arguments.strip() else {}
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {"value": value}

    def to_message(self) -> dict[str, Any]:
        """The call as it appears in an assistant message's `tool_calls`."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


class TokenUsage(BaseModel):
    """Token counts of one call."""

    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


_REASONING_MODEL = re.compile(r"^(gpt-5(?!.*-chat)|o\d)", re.IGNORECASE)
"""OpenAI reasoning models: they take `reasoning_effort` and `max_completion_tokens`."""


def is_reasoning_model(model: str) -> bool:
    """Whether `model` is an OpenAI reasoning model (`gpt-5*` except `*-chat*`, `o1`, `o3`, ...)."""
    return _REASONING_MODEL.match(model) is not None


class ChatRequest(BaseModel):
    """One chat-completions request; `None` fields are left out of the body."""

    # The engine builds requests with `model_construct`: the schema is built on first validation.
    model_config = ConfigDict(extra="forbid", defer_build=True)

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    model: str | None = Field(default=None, description="None: the provider's model.")
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    reasoning_effort: str | None = Field(
        default=None, description="Sent to reasoning models only (see `is_reasoning_model`)."
    )
    model_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra body keys (top_p, ...), merged first."
    )
    stream: bool = False
    timeout_ms: int | None = Field(
        default=None, description="Read timeout of this call (not sent); None: the settings'."
    )
    max_retries: int | None = Field(
        default=None, description="Caps the client's retries for this call (not sent)."
    )
    named_llm_config_id: str | None = Field(
        default=None, description="The saved config the LLM came from (not sent; usage info)."
    )
    named_llm_config_name: str | None = None

    def body(self, model: str) -> dict[str, Any]:
        """The JSON body; `model_kwargs` can add keys but never replace the ones set here."""
        body: dict[str, Any] = dict(self.model_kwargs)
        body["model"] = model
        body["messages"] = self.messages
        for key in ("tools", "tool_choice", "response_format", "temperature", "seed"):
            value = getattr(self, key)
            if value is not None and value != []:
                body[key] = value
        reasoning = is_reasoning_model(model)
        if self.max_tokens is not None:
            # OpenAI's reasoning models refuse `max_tokens`; they take the newer name.
            body["max_completion_tokens" if reasoning else "max_tokens"] = self.max_tokens
        if self.reasoning_effort and reasoning:
            body["reasoning_effort"] = self.reasoning_effort
        if "tool_choice" in body and "tools" not in body:
            del body["tool_choice"]  # providers reject tool_choice without tools
        if self.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body


class ChatResponse(BaseModel):
    """The parts of a completion the engine uses."""

    model_config = ConfigDict(extra="forbid")

    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=empty_list)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    model: str | None = Field(default=None, description="The model that answered.")
    provider: str | None = Field(default=None, description="The provider name it was sent to.")
    id: str | None = None
    finish_reason: str | None = None
    latency_ms: float = 0.0
    was_streamed: bool = False
    used_user_api_key: bool = False
    named_llm_config_id: str | None = Field(
        default=None, description="The saved named LLM config of the request, if any."
    )
    named_llm_config_name: str | None = None


class LLMClient:
    """Sends chat completions to named OpenAI-compatible providers."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: HarnessSettings,
        *,
        env: Mapping[str, str] | None = None,
        max_retries: int | None = None,
        retry_base_seconds: float = 0.5,
        providers: dict[str, ResolvedProvider] | None = None,
    ) -> None:
        """Set up the client.

        Args:
            http: the client every call goes through (a recording transport may sit under it).
            settings: provider definitions and timeouts.
            env: environment for provider keys (default: `os.environ`).
            max_retries: retries of 429/502/503/504 and connection errors (default: the settings').
            retry_base_seconds: first back-off when no `Retry-After` is given; doubles each retry.
            providers: resolved providers by name, shared with other clients of the same
                settings and environment (a batch of scenarios resolves each name once);
                default: this client's own.
        """
        self.http = http
        self.settings = settings
        self._env = env
        self.max_retries = settings.max_retries if max_retries is None else max_retries
        self.retry_base_seconds = retry_base_seconds
        self._providers: dict[str, ResolvedProvider] = {} if providers is None else providers
        self._failures: list[LLMCallError] = []
        self._timeout = httpx.Timeout(
            connect=settings.connect_timeout_seconds,
            read=settings.read_timeout_seconds,
            write=settings.connect_timeout_seconds,
            pool=settings.read_timeout_seconds,
        )

    def resolve(self, provider: str | None) -> ResolvedProvider:
        """The provider by name (cached: env lookups happen once per name)."""
        key = provider or self.settings.default_provider
        found = self._providers.get(key)
        if found is None:
            found = self.settings.provider(key, self._env)
            self._providers[key] = found
        return found

    def take_failures(self) -> list[LLMCallError]:
        """The calls that failed since the last take (and forget them).

        A node whose call fails says its `default_error_message`, as the platform's does, so the
        run alone cannot tell a provider that was down from a workflow that misbehaved: the
        runner takes these after each turn and reports them as infrastructure errors.
        """
        failures, self._failures = self._failures, []
        return failures

    async def complete(
        self, req: ChatRequest, *, provider: str | None, context: Mapping[str, str]
    ) -> ChatResponse:
        """Send one completion and return its answer (a failure is also kept for
        `take_failures`).

        Args:
            req: the request; `req.model` None means the provider's default model.
            provider: the provider name (`default_provider` resolves from settings or env).
            context: labels for the recording transport: `node_logical_id`, `purpose`.

        Raises:
            LLMCallError: the provider answered with an error, timed out, or sent no usable reply.
            HarnessError: infrastructure failures (such as a replay miss) pass through unchanged.
        """
        resolved = self.resolve(provider)
        try:
            return await self._complete(req, resolved, context)
        except LLMCallError as exc:
            failure = _without_key(exc, resolved.api_key)
            self._failures.append(failure)
            del self._failures[:-_KEPT_FAILURES]  # nobody takes them in `harness serve`
            if failure is exc:
                raise
            raise failure from exc.__cause__

    async def _complete(
        self, req: ChatRequest, resolved: ResolvedProvider, context: Mapping[str, str]
    ) -> ChatResponse:
        model = resolved.model_for(req.model)
        url, headers = _completions_url(resolved.base_url), _headers(resolved)
        body = req.body(model)
        where = f"LLM call to {resolved.name} ({model}) for {_describe(context)}"
        started = time.perf_counter()  # a replayed answer without a recorded latency: our time
        recorded = None if req.stream else replayed_completion(self.http, url, headers, body)
        if recorded is not None:
            parsed = _parse_completion(recorded.data, where)
            latency = _latency_ms(recorded.header(RECORDED_LATENCY_HEADER), started)
        else:
            request = self.http.build_request(
                "POST",
                url,
                json=body,
                headers=headers,
                timeout=self._call_timeout(req.timeout_ms),
                # `caller`: the runner reports a failed LLM call from `take_failures`, not twice.
                extensions={"harness": {**context, "caller": "llm"}},
            )
            parsed, latency = await self._exchange(request, req, where)
        return parsed.model_copy(
            update={
                "provider": resolved.name,
                "model": parsed.model or model,
                "latency_ms": latency,
                "was_streamed": req.stream,
                "named_llm_config_id": req.named_llm_config_id,
                "named_llm_config_name": req.named_llm_config_name,
            }
        )

    async def _exchange(
        self, request: httpx.Request, req: ChatRequest, where: str
    ) -> tuple[ChatResponse, float]:
        """The request sent through httpx (retried as configured): its answer and latency."""
        retries = (
            self.max_retries
            if req.max_retries is None
            else min(self.max_retries, max(req.max_retries, 0))
        )
        started = time.perf_counter()
        response = await self._send(request, where, retries)
        try:
            if req.stream:
                parsed = await _read_stream(response, where)
            else:
                await response.aread()
                parsed = _parse_completion(_json_of(response, where), where)
        finally:
            await response.aclose()
        return parsed, _latency_ms(response.headers.get(RECORDED_LATENCY_HEADER), started)

    def _call_timeout(self, timeout_ms: int | None) -> httpx.Timeout:
        if not timeout_ms or timeout_ms <= 0:
            return self._timeout
        read = timeout_ms / 1000
        return httpx.Timeout(
            connect=min(self.settings.connect_timeout_seconds, read),
            read=read,
            write=read,
            pool=read,
        )

    async def _send(self, request: httpx.Request, where: str, max_retries: int) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await _send_through(self.http, request)
            except httpx.TimeoutException as exc:
                raise LLMCallError(
                    f"{where} timed out ({type(exc).__name__})",
                    hint="raise read_timeout_seconds in [tool.harness] or check the provider",
                ) from exc
            except httpx.TransportError as exc:
                if attempt < max_retries:
                    attempt += 1
                    await asyncio.sleep(self._backoff(attempt, None))
                    continue
                raise LLMCallError(
                    f"{where} could not connect: {exc}",
                    hint="check the provider's base_url and that the server is up",
                ) from exc
            if response.status_code < 400:
                return response
            await response.aread()
            await response.aclose()
            if response.status_code in _RETRIED_STATUSES and attempt < max_retries:
                attempt += 1
                await asyncio.sleep(self._backoff(attempt, response.headers.get("retry-after")))
                continue
            raise LLMCallError(
                f"{where} failed with HTTP {response.status_code}: "
                f"{response.text[:_ERROR_EXCERPT_CHARS]}",
                status_code=response.status_code,
                hint="check the model name, the API key and the request options of the node",
            )

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            seconds = _retry_after_seconds(retry_after)
            if seconds is not None:
                return min(max(seconds, 0.0), _MAX_RETRY_AFTER_SECONDS)
        return float(min(self.retry_base_seconds * 2 ** (attempt - 1), 8.0))


async def _send_through(http: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """`http.send(request, stream=True)`, straight to the client's transport when the client's
    layers around it would do nothing for this request (`direct_transport`).

    Those layers cost ~50-90 us per call, about a tenth of the engine's own work per replayed
    turn, and an LLM call uses none of them: no auth object (the key is a header), no
    redirects, no hooks, and `elapsed` is never read (latency is measured around the call).
    Whatever the client would do is still done: a response that sets cookies fills its jar.
    """
    transport = direct_transport(http, request.url)
    if transport is None:
        return await http.send(request, stream=True)
    response = await transport.handle_async_request(request)
    response.request = request
    if "set-cookie" in response.headers:
        http.cookies.extract_cookies(response)
    response.default_encoding = http._default_encoding
    return response


def _without_key(exc: LLMCallError, key: str | None) -> LLMCallError:
    """`exc` with the provider's key masked: a provider may echo it in an error body, and the
    message reaches reports and logs. Any length counts (a 4-character key too)."""
    if not key or (key not in exc.message and key not in (exc.hint or "")):
        return exc
    return LLMCallError(
        exc.message.replace(key, MASK),
        status_code=exc.status_code,
        hint=exc.hint.replace(key, MASK) if exc.hint else None,
    )


@functools.lru_cache(maxsize=64)
def _completions_url(base_url: str) -> httpx.URL:
    """A provider's chat-completions URL, parsed once per process (httpx parses text per call)."""
    return httpx.URL(f"{base_url}/chat/completions")


def _headers(provider: ResolvedProvider) -> dict[str, str]:
    headers = dict(provider.headers)
    if provider.api_key:
        headers["Authorization"] = f"Bearer {provider.api_key}"
    return headers


def _describe(context: Mapping[str, str]) -> str:
    node = context.get("node_logical_id", "?")
    purpose = context.get("purpose")
    return f"node {node}" + (f" ({purpose})" if purpose else "")


def _retry_after_seconds(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def _latency_ms(recorded: str | None, started: float) -> float:
    """The recorded latency header's value, else the time since `started`."""
    if recorded is not None:
        try:
            return float(recorded)
        except ValueError:
            pass
    return round((time.perf_counter() - started) * 1000, 3)


def _json_of(response: httpx.Response, where: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise LLMCallError(
            f"{where} answered with invalid JSON: {response.text[:_ERROR_EXCERPT_CHARS]!r}"
        ) from exc
    if not isinstance(data, dict):
        raise LLMCallError(f"{where} answered with a JSON {type(data).__name__}, not an object")
    return data


def _usage(data: Any) -> TokenUsage:
    if not isinstance(data, dict):
        return TokenUsage()
    prompt = int(data.get("prompt_tokens") or 0)
    completion = int(data.get("completion_tokens") or 0)
    total = int(data.get("total_tokens") or prompt + completion)
    return TokenUsage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)


def _parse_completion(data: dict[str, Any], where: str) -> ChatResponse:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise LLMCallError(f"{where} answered without choices: {str(data)[:_ERROR_EXCERPT_CHARS]}")
    message = choices[0].get("message") or {}
    calls = [
        ToolCall(
            id=str(call.get("id") or f"call_{index}"),
            name=str((call.get("function") or {}).get("name") or ""),
            arguments=str((call.get("function") or {}).get("arguments") or "{}"),
        )
        for index, call in enumerate(message.get("tool_calls") or [])
        if isinstance(call, dict)
    ]
    content = message.get("content")
    return ChatResponse(
        content=content if isinstance(content, str) else None,
        tool_calls=calls,
        usage=_usage(data.get("usage")),
        model=data.get("model"),
        id=data.get("id"),
        finish_reason=choices[0].get("finish_reason"),
    )


class _StreamAccumulator:
    """Folds SSE chunks into one response; usage arrives once, in the last chunk."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.usage = TokenUsage()
        self.model: str | None = None
        self.id: str | None = None
        self.finish_reason: str | None = None
        self.saw_content = False

    def add(self, chunk: dict[str, Any]) -> None:
        self.model = chunk.get("model") or self.model
        self.id = chunk.get("id") or self.id
        if isinstance(chunk.get("usage"), dict):
            self.usage = _usage(chunk["usage"])  # replace, never add: it is the whole call's
        for choice in chunk.get("choices") or []:
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                self.parts.append(delta["content"])
                self.saw_content = True
            for call in delta.get("tool_calls") or []:
                slot = self.calls.setdefault(int(call.get("index", 0)), {"arguments": ""})
                if call.get("id"):
                    slot["id"] = call["id"]
                function = call.get("function") or {}
                if function.get("name"):
                    slot["name"] = function["name"]
                slot["arguments"] += function.get("arguments") or ""

    def result(self) -> ChatResponse:
        calls = [
            ToolCall(
                id=slot.get("id", f"call_{index}"),
                name=slot.get("name", ""),
                arguments=slot["arguments"] or "{}",
            )
            for index, slot in sorted(self.calls.items())
        ]
        return ChatResponse(
            content="".join(self.parts) if self.saw_content else None,
            tool_calls=calls,
            usage=self.usage,
            model=self.model,
            id=self.id,
            finish_reason=self.finish_reason,
        )


async def _read_stream(response: httpx.Response, where: str) -> ChatResponse:
    accumulator = _StreamAccumulator()
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            break
        try:
            chunk = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise LLMCallError(f"{where} streamed an invalid chunk: {payload[:200]!r}") from exc
        if isinstance(chunk, dict):
            if isinstance(chunk.get("error"), dict):
                raise LLMCallError(f"{where} streamed an error: {chunk['error']}")
            accumulator.add(chunk)
    return accumulator.result()
