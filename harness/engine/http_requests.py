"""HTTP requests of `external_api` tools and `http_request` nodes, and their curl commands.

Requests go through the engine's injected `httpx.AsyncClient`, so the recording transport
records and replays them like LLM calls. The curl command stored in a run masks the values of
headers and query parameters whose names look secret (`Authorization`, `X-API-Key`, `...token`,
...): a run, a report or a cassette must never carry a credential in clear.
"""

from __future__ import annotations

import base64
import json
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from harness.engine.sandbox import ToolOutcome
from harness.engine.variables import substitute, substitute_value
from harness.models.api import HttpRequestNodeConfig

__all__ = [
    "DEFAULT_HTTP_TIMEOUT_SECONDS",
    "MASK",
    "HttpCall",
    "HttpNodeResult",
    "curl_command",
    "decode_response",
    "is_secret_name",
    "response_outcome",
    "run_http_request",
]

DEFAULT_HTTP_TIMEOUT_SECONDS = 30.0
MASK = "***"
_BODY_EXCERPT_CHARS = 300
_SECRET_WORDS = ("auth", "token", "secret", "password", "passwd", "api-key", "api_key", "apikey")
_SECRET_NAMES = frozenset({"cookie", "set-cookie", "x-api-key", "key", "signature"})

ResponseFormat = Literal["json", "text", "binary", "auto"]


def is_secret_name(name: str) -> bool:
    """Whether a header or query parameter named `name` carries a credential."""
    lowered = name.lower()
    return lowered in _SECRET_NAMES or any(word in lowered for word in _SECRET_WORDS)


@dataclass(slots=True)
class HttpCall:
    """One fully substituted HTTP request."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] | None = None
    json_body: Any = None
    content: str | bytes | None = None
    form: dict[str, str] | None = None
    multipart: dict[str, str] | None = None
    timeout: float = DEFAULT_HTTP_TIMEOUT_SECONDS
    extensions: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.method} {self.url}"

    async def send(self, http: httpx.AsyncClient) -> httpx.Response | ToolOutcome:
        """The response, or a failed outcome for a timeout, a connection error or a bad URL."""
        files = {k: (None, v) for k, v in self.multipart.items()} if self.multipart else None
        try:
            return await http.request(
                self.method,
                self.url,
                headers=self.headers,
                params=self.params,
                content=self.content,
                json=self.json_body,
                data=self.form,
                files=files,
                timeout=self.timeout or None,
                extensions=self.extensions,
            )
        except httpx.TimeoutException:
            return ToolOutcome.failure(
                f"timed out after {self.timeout:g} s waiting for {self.where}"
            )
        except (httpx.HTTPError, ValueError) as exc:  # ValueError: an invalid URL
            return ToolOutcome.failure(f"request {self.where} failed: {type(exc).__name__}: {exc}")


def decode_response(response: httpx.Response, response_format: ResponseFormat) -> Any:
    """The body as `response_format` says (`auto`: JSON when the answer says JSON, else text).

    Raises:
        ValueError: `json` was asked for and the body is not JSON.
    """
    if not response.content:
        return None
    if response_format == "binary":
        return base64.b64encode(response.content).decode("ascii")
    if response_format == "text":
        return response.text
    if response_format == "json":
        try:
            return response.json()
        except ValueError as exc:
            raise ValueError(
                f"the answer is not JSON ({exc}); set response_format: text to keep it as text"
            ) from exc
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


def response_outcome(
    response: httpx.Response, where: str, response_format: ResponseFormat = "auto"
) -> ToolOutcome:
    """Success with the decoded body on 2xx; a failure naming the status and an excerpt otherwise."""
    if not response.is_success:
        excerpt = response.text[:_BODY_EXCERPT_CHARS]
        return ToolOutcome.failure(f"HTTP {response.status_code} from {where}: {excerpt}")
    try:
        return ToolOutcome.ok(decode_response(response, response_format))
    except ValueError as exc:
        return ToolOutcome.failure(f"{where}: {exc}")


def curl_command(call: HttpCall) -> str:
    """The request as a curl command line, secret header and query values masked."""
    parts = ["curl", "-X", call.method, shlex.quote(_masked_url(call.url, call.params))]
    headers = dict(call.headers)
    body = _body_text(call)
    implied = _implied_content_type(call)
    if body is not None and implied and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = implied  # what httpx adds to the request it sends
    for name, value in headers.items():
        shown = MASK if is_secret_name(name) else value
        parts += ["-H", shlex.quote(f"{name}: {shown}")]
    if body is not None:
        parts += ["--data", shlex.quote(body)]
    return " ".join(parts)


def _masked_url(url: str, params: Mapping[str, str] | None) -> str:
    split = urlsplit(url)
    query = parse_qsl(split.query, keep_blank_values=True) + list((params or {}).items())
    if not query:
        return url
    masked = [(k, MASK if is_secret_name(k) else v) for k, v in query]
    return urlunsplit(split._replace(query=urlencode(masked, safe="*")))


def _implied_content_type(call: HttpCall) -> str | None:
    if call.json_body is not None:
        return "application/json"
    if call.form is not None:
        return "application/x-www-form-urlencoded"
    return "multipart/form-data" if call.multipart is not None else None


def _body_text(call: HttpCall) -> str | None:
    if call.json_body is not None:
        return json.dumps(call.json_body, ensure_ascii=False)
    if call.form is not None:
        return urlencode(call.form)
    if call.multipart is not None:
        return urlencode(call.multipart)
    if isinstance(call.content, bytes):
        return call.content.decode("utf-8", "replace")
    return call.content


# ------------------------------------------------------------------ the http_request node


@dataclass(slots=True)
class HttpNodeResult:
    """What an `http_request` node's run produced (the platform's HttpRequestNodeRunOutput)."""

    outcome: ToolOutcome
    curl_command: str | None = None
    status_code: int | None = None
    response: dict[str, Any] | None = None


async def run_http_request(
    http: httpx.AsyncClient,
    node: HttpRequestNodeConfig,
    dynamic: Mapping[str, Any],
    runtime: Mapping[str, Any],
    *,
    context: Mapping[str, str] | None = None,
) -> HttpNodeResult:
    """Send an `http_request` node's request through the engine's client.

    `url` and `headers` are substituted; `query_parameters` and `body_parameters` are JSON
    objects as text (placeholders allowed inside); the body is sent as `body_content_type` says.

    Raises:
        CassetteMissError: the request has no recording in replay mode.
    """
    started = time.perf_counter()
    labels = {**(context or {}), "node_logical_id": node.node_id, "purpose": "http_request"}
    try:
        call = _node_call(node, dynamic, runtime, {"harness": labels})
    except ValueError as exc:
        return HttpNodeResult(ToolOutcome.failure(str(exc), started=started))
    command = curl_command(call)
    sent = await call.send(http)
    if isinstance(sent, ToolOutcome):
        failed = sent.model_copy(update={"duration_ms": _elapsed(started)})
        return HttpNodeResult(failed, curl_command=command)
    outcome = response_outcome(sent, call.where, node.response_format or "json")
    body = outcome.result if outcome.success else _best_effort_body(sent)
    return HttpNodeResult(
        outcome.model_copy(update={"duration_ms": _elapsed(started)}),
        curl_command=command,
        status_code=sent.status_code,
        response=_as_object(body),
    )


def _node_call(
    node: HttpRequestNodeConfig,
    dynamic: Mapping[str, Any],
    runtime: Mapping[str, Any],
    extensions: dict[str, Any],
) -> HttpCall:
    where = f"http_request node {node.label}"
    if not node.url:
        raise ValueError(f"{where} has no url: set url")
    call = HttpCall(
        method=node.method or "GET",
        url=substitute(node.url, dynamic, runtime),
        headers={
            str(k): str(substitute_value(v, dynamic, runtime))
            for k, v in (node.headers or {}).items()
        },
        timeout=float(node.timeout or DEFAULT_HTTP_TIMEOUT_SECONDS),
        extensions=extensions,
    )
    query = _json_object(node.query_parameters, dynamic, runtime, f"{where} query_parameters")
    if query:
        call.params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in query.items()}
    _set_body(call, node, dynamic, runtime, where)
    return call


def _set_body(
    call: HttpCall,
    node: HttpRequestNodeConfig,
    dynamic: Mapping[str, Any],
    runtime: Mapping[str, Any],
    where: str,
) -> None:
    if not node.body_parameters or not node.body_parameters.strip():
        return
    content_type = node.body_content_type or "application/json"
    if content_type == "text/plain":
        call.content = substitute(node.body_parameters, dynamic, runtime)
        call.headers.setdefault("Content-Type", "text/plain")
        return
    body = _json_object(node.body_parameters, dynamic, runtime, f"{where} body_parameters")
    if content_type == "application/json":
        call.json_body = body
        return
    fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (body or {}).items()}
    if content_type == "multipart/form-data":
        call.multipart = fields
    else:
        call.form = fields


def _json_object(
    text: str | None, dynamic: Mapping[str, Any], runtime: Mapping[str, Any], where: str
) -> dict[str, Any] | None:
    """A JSON object given as text, placeholders substituted inside its values.

    Parsed first (so a value cannot break the JSON), else substituted then parsed (for a
    placeholder standing where a JSON value goes, `{"limit": [[n]]}`).
    """
    if text is None or not text.strip():
        return None
    try:
        parsed = substitute_value(json.loads(text), dynamic, runtime)
    except ValueError:
        try:
            parsed = json.loads(substitute(text, dynamic, runtime))
        except ValueError as exc:
            raise ValueError(
                f"{where} is not a JSON object ({exc}): write it as JSON text"
            ) from exc
    if not isinstance(parsed, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(parsed).__name__}")
    return parsed


def _best_effort_body(response: httpx.Response) -> Any:
    try:
        return decode_response(response, "auto")
    except ValueError:
        return None


def _as_object(body: Any) -> dict[str, Any] | None:
    # The platform's http_response is an object: a list or text answer is wrapped.
    if body is None or isinstance(body, dict):
        return body
    return {"response": body}


def _elapsed(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
