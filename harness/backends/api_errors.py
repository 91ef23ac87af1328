"""Turn platform API failures into `ApiError`s that say what, where and how to fix.

Every message names the method and URL (never a header, so never the API key) and, where the server
explained itself, its own words: FastAPI-style `detail` lists are shown as `loc: msg` lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import ValidationError

from harness.config import ENV_API_KEY, ENV_API_URL, ENV_TEAM_ID
from harness.errors import ApiError

__all__ = [
    "ApiCall",
    "ExecuteOutcomeUnknownError",
    "decode_json",
    "error_for_deadline",
    "error_for_envelope",
    "error_for_response",
    "error_for_transport",
    "error_for_validation",
    "server_detail",
]

_SNIPPET = 300


class ExecuteOutcomeUnknownError(ApiError):
    """A request that changes state failed after it may have reached the server.

    The turn (or import) may have been executed: re-sending it blindly could run a turn twice, so
    the harness never does; look at the run first.
    """


@dataclass(frozen=True)
class ApiCall:
    """One logical API call, described for retry decisions and error messages.

    Attributes:
        method: HTTP method.
        url: the full URL, without query string.
        what: the object it concerns, for 404s: "workflow 5eb7…", "run 65a1…".
        idempotent: whether re-sending can have no extra effect (GET).
        recheck: for calls that change state, how to find out whether it happened.
        api_url: the configured base URL, named in connection and 404 hints.
        team_id: the configured team id, named in 403 hints.
        key_sent: whether an API key was sent, for 401 hints.
        read_timeout: the read timeout in seconds, for timeout messages.
        params: the query parameters.
    """

    method: str
    url: str
    what: str
    idempotent: bool
    recheck: str = ""
    api_url: str = ""
    team_id: str | None = None
    key_sent: bool = True
    read_timeout: float | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """`METHOD URL` for the first words of a message."""
        return f"{self.method} {self.url}"


def server_detail(response: httpx.Response) -> str:
    """The server's explanation: FastAPI `detail` (string or list of loc/msg), or a body snippet."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return _snippet(response.text)
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            if key in body:
                return _format_detail(body[key])
    return _snippet(json.dumps(body))


def _format_detail(detail: Any) -> str:
    if isinstance(detail, list):
        lines = [_format_item(item) for item in detail]
        return "\n" + "\n".join(f"  - {line}" for line in lines) if lines else "[]"
    if isinstance(detail, str):
        return _snippet(detail)
    return _snippet(json.dumps(detail))


def _format_item(item: Any) -> str:
    if isinstance(item, dict) and "msg" in item:
        loc = ".".join(str(part) for part in item.get("loc", [])) or "(body)"
        return f"{loc}: {item['msg']}"
    return _snippet(json.dumps(item) if not isinstance(item, str) else item)


def _snippet(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "…"


def error_for_response(response: httpx.Response, call: ApiCall, *, retries: int = 0) -> ApiError:
    """The error for a non-2xx response that will not be retried (any more)."""
    status = response.status_code
    head = f"{call.where} → {status} {response.reason_phrase}"
    detail = server_detail(response)
    said = f": {detail}" if detail else ""
    after = f" (after {retries} retr{'y' if retries == 1 else 'ies'})" if retries else ""
    if status == 401:
        return ApiError(
            f"{head}: the platform refused the credentials{said}",
            status_code=401,
            hint=_key_hint(call),
        )
    if status == 403:
        return ApiError(
            f"{head}: the API key may not act for this team or object{said}",
            status_code=403,
            hint=f"check {ENV_TEAM_ID} (now {call.team_id!r}) and that {ENV_API_KEY} belongs to it",
        )
    if status == 404:
        return ApiError(
            f"{head}: {call.what} not found{said}",
            status_code=404,
            hint=f"check the id; if every call gets 404, check that {ENV_API_URL} "
            f"(now {call.api_url!r}) is the platform's .../workflows base URL",
        )
    if status == 409:
        return ApiError(
            f"{head}: {call.what} cannot take this command{said}",
            status_code=409,
            hint="the run has probably finished (completed, failed, cancelled or aborted): "
            "start a new run (command 'start' without a run id) or read it with get_run",
        )
    if status in (400, 422):
        return ApiError(
            f"{head}: the server rejected the request{said}",
            status_code=status,
            hint="fix the fields named above in the run input or workflow config",
        )
    if status == 429:
        return ApiError(
            f"{head}: rate limited{after}{said}",
            status_code=429,
            hint="lower max_concurrency in [tool.harness] or try again later",
        )
    if 300 <= status < 400:
        location = response.headers.get("location", "?")
        return ApiError(
            f"{head}: the server redirects to {location}",
            status_code=status,
            hint=f"set {ENV_API_URL} to the URL the server redirects to (now {call.api_url!r})",
        )
    # 503 says "not processed" (that is why it was safe to retry); other 5xx say nothing.
    if not call.idempotent and status >= 500 and status != 503:
        return ExecuteOutcomeUnknownError(
            f"{head}{after}: server error; the request may have been executed{said}",
            status_code=status,
            hint=call.recheck,
        )
    return ApiError(
        f"{head}{after}{said}",
        status_code=status,
        hint="the platform failed; try again later or report the error to it",
    )


def _key_hint(call: ApiCall) -> str:
    if not call.key_sent:
        return f"no API key was sent: export {ENV_API_KEY}=<your platform API key>"
    return f"set {ENV_API_KEY} to a valid platform API key (and {ENV_TEAM_ID} to its team id)"


def error_for_transport(exc: httpx.TransportError, call: ApiCall, *, retries: int = 0) -> ApiError:
    """The error for a request that got no (complete) response."""
    after = f" (after {retries} retr{'y' if retries == 1 else 'ies'})" if retries else ""
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ApiError(
            f"cannot connect to the platform for {call.where}{after}: {reason}",
            hint=f"check {ENV_API_URL} (now {call.api_url!r}) and that the server is up",
        )
    if isinstance(exc, httpx.PoolTimeout):
        return ApiError(
            f"{call.where}: no free connection{after}: {reason}",
            hint="lower max_concurrency in [tool.harness]",
        )
    if isinstance(exc, httpx.TimeoutException):
        limit = f" of {call.read_timeout:g} s" if call.read_timeout else ""
        what = f"no response to {call.where} within the read timeout{limit}{after}"
        hint = "raise read_timeout_seconds in [tool.harness] if the workflow is slow"
    else:
        what = f"the connection broke during {call.where}{after}: {reason}"
        hint = "the server or a proxy dropped the connection; try again later"
    if not call.idempotent:
        return ExecuteOutcomeUnknownError(
            f"{what}; the request may have been executed", hint=f"{call.recheck}; {hint}"
        )
    return ApiError(what, hint=hint)


def error_for_deadline(call: ApiCall, seconds: float, *, in_flight: bool) -> ApiError:
    """The error for a call that ran out of its total deadline (retries and waits included)."""
    what = f"{call.where} did not finish within its deadline of {seconds:g} s"
    hint = "raise deadline_seconds in [tool.harness]"
    if in_flight and not call.idempotent:
        return ExecuteOutcomeUnknownError(
            f"{what}; the request may have been executed", hint=f"{call.recheck}; {hint}"
        )
    return ApiError(what, hint=hint)


def decode_json(response: httpx.Response, call: ApiCall) -> Any:
    """The response body as JSON, or an error naming the call and showing the start of the body."""
    try:
        return json.loads(response.content)
    except ValueError as exc:
        kind = response.headers.get("content-type", "no content type")
        got = _snippet(response.text) or "(empty body)"
        raise ApiError(
            f"{call.where} → {response.status_code}: the body is not valid JSON ({kind}; {exc}); "
            f"it starts: {got!r}",
            status_code=response.status_code,
            hint=f"check that {ENV_API_URL} (now {call.api_url!r}) points at the platform API, "
            "not a web page or proxy",
        ) from exc


def error_for_validation(exc: ValidationError, call: ApiCall, model: str) -> ApiError:
    """The error for a response that is JSON but not the expected model, naming each field."""
    problems = "\n".join(
        f"  - {'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
        f" (got {_snippet(repr(err.get('input')))})"
        for err in exc.errors()[:10]
    )
    done = "" if call.idempotent else " (the request itself succeeded on the server)"
    return ApiError(
        f"{call.where}: the response does not match {model}{done}:\n{problems}",
        hint="the platform's contract may have changed: update harness/models/api/",
    )


def error_for_envelope(exc: ValueError, call: ApiCall, model: str, data: Any) -> ApiError:
    """The error for JSON in none of the documented shapes (an unknown envelope)."""
    got = _snippet(json.dumps(data))
    return ApiError(
        f"{call.where}: the answer is not a {model} in any shape the platform documents: it "
        f"{exc}; it starts: {got}",
        hint=f"check that {ENV_API_URL} (now {call.api_url!r}) is the platform's .../workflows "
        "base URL; if it is, the platform's answer changed: update harness/models/api/envelopes.py",
    )
