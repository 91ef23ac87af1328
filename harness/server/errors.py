"""Error answers of `harness serve`: the platform's status codes, FastAPI-style bodies.

Every error body has `detail` (a string, or FastAPI's list of `{loc, msg, type}` for 422) and
`status`; harness errors add `hint`, graph errors add `problems`. Statuses: 400 graph and input
errors, 401 missing or wrong token, 404 unknown workflow or run, 409 a command the run cannot take,
422 body or parameter validation (the field named in `detail` and in `message`). An unexpected
exception is logged with its traceback and answered as a JSON 500 naming the error id to look for
in the log; the fuzz tests keep that path unreachable from any input.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError
from starlette.exceptions import HTTPException

from harness.engine import RunNotFoundError
from harness.errors import GraphValidationError, HarnessError, RunConflictError

__all__ = [
    "ModelJSONResponse",
    "NotFoundError",
    "SafeJSONResponse",
    "error_response",
    "install_error_handlers",
]

log = logging.getLogger("harness.server")


class NotFoundError(HarnessError):
    """An unknown workflow (or workflow version) was named; HTTP 404."""


def error_response(
    status: int, detail: Any, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A JSON error answer: `{"detail": ..., "status": ..., **extra}`."""
    body = {"detail": detail, "status": status, **{k: v for k, v in extra.items() if v}}
    return SafeJSONResponse(jsonable_encoder(body), status_code=status, headers=headers)


class SafeJSONResponse(JSONResponse):
    """JSON that always renders: text that is not valid Unicode is sent as `\\u` escapes.

    The request guard keeps lone surrogates out of stored runs; this is the second line, so one
    bad string (e.g. from a tool result) can never turn every later listing into a 500.
    """

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return _escaped_json(content)


class ModelJSONResponse(Response):
    """A pydantic model as JSON (by alias), serialised by pydantic-core in one step.

    `SafeJSONResponse(model.model_dump(mode="json"))` built the whole answer as Python objects
    first and encoded them with `json`: a fifth of an execute call's time in `harness serve`
    (a run's answer is ~18 KB). The same JSON values (floats written the shortest way: `1e-7`,
    not `1e-07`); text that is not valid Unicode falls back to `SafeJSONResponse`'s `\\u`
    escapes.
    """

    media_type = "application/json"

    def __init__(self, model: BaseModel, status_code: int = 200) -> None:
        super().__init__(_model_json(model), status_code=status_code)


def _model_json(model: BaseModel) -> bytes:
    try:
        return model.model_dump_json(by_alias=True).encode("utf-8")
    except (PydanticSerializationError, UnicodeEncodeError):  # a lone surrogate in some text
        return _escaped_json(model.model_dump(mode="json", by_alias=True))


def _escaped_json(content: Any) -> bytes:
    """`content` as ASCII JSON: text that is not valid Unicode becomes `\\u` escapes."""
    return json.dumps(content, ensure_ascii=True, allow_nan=False).encode("ascii")


def _status_of(exc: HarnessError) -> int:
    if isinstance(exc, RunNotFoundError | NotFoundError):
        return 404
    if isinstance(exc, RunConflictError):
        return 409
    return 400


async def _harness_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HarnessError)
    problems = exc.problems if isinstance(exc, GraphValidationError) else None
    return error_response(_status_of(exc), exc.message, hint=exc.hint, problems=problems)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors]
    return error_response(422, errors, message="; ".join(lines))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    error_id = uuid.uuid4().hex[:12]
    log.error("error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc)
    # `Connection: close`: after an unexpected error the connection's state is unknown, so the
    # client is told to reconnect instead of finding the socket dropped under its next request.
    return error_response(
        500,
        f"internal error {error_id}: {type(exc).__name__}: {exc}",
        headers={"connection": "close"},
        hint="this is a bug of harness serve: report it with the request and the server log",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into the platform's error answers."""
    app.add_exception_handler(HarnessError, _harness_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
