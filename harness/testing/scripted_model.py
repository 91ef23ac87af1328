"""A scripted OpenAI-compatible model server for tests: rules in, chat completions out, over HTTP.

```python
model = ScriptedModel(bundled_script("basic"))          # or a Script, a dict, a file path
with serve_scripted_model(model) as base_url:           # http://127.0.0.1:<port>/v1
    ...                                                 # point the engine's provider at base_url
assert model.requests[0].last_user_text == "hello"      # what the engine sent
assert model.total_usage().total_tokens == 42           # deterministic usage
```

Routes: `POST /v1/chat/completions` (plain JSON or SSE with `stream: true`), `GET /v1/models`,
and the script's static JSON `routes` (e.g. a fake pharmacy API beside the model).
Every chat request is recorded in `ScriptedModel.requests` (also `app.state.model.requests`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from harness.testing.completions import (
    Usage,
    completion_body,
    error_body,
    stream_chunks,
    usage_for,
)
from harness.testing.script import (
    Reply,
    Rule,
    Script,
    StaticRoute,
    load_script,
    parse_script,
)
from harness.testing.server_thread import serve_asgi, serve_asgi_in_thread

__all__ = [
    "ReceivedRequest",
    "ScriptSource",
    "ScriptedModel",
    "message_text",
    "serve_scripted_model",
    "serve_scripted_model_async",
]


class ReceivedRequest(BaseModel):
    """One chat-completions request the scripted model received, and how it answered."""

    model_config = ConfigDict(frozen=True)

    number: int
    """1-based position among the requests received."""
    headers: dict[str, str]
    """Request headers (lower-case names)."""
    body: dict[str, Any]
    """The JSON body as sent."""
    rule: str | None
    """The answering rule's name (or `#<index>`), `default`, or None when nothing matched."""
    status: int
    """The HTTP status answered."""
    usage: Usage | None
    """The usage reported (None for errors)."""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The request's messages."""
        return list(self.body.get("messages") or [])

    @property
    def last_user_text(self) -> str:
        """The text of the last user message ('' if none)."""
        return _last_text(self.messages, role="user")

    @property
    def system_text(self) -> str:
        """The texts of the system/developer messages, joined by newlines."""
        return "\n".join(
            message_text(m) for m in self.messages if m.get("role") in ("system", "developer")
        )

    @property
    def tool_names(self) -> list[str]:
        """The names of the tools offered."""
        return _tool_names(self.body)


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a message: string content, or its text parts joined ('' for none)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        )
    return ""


def _last_text(messages: list[dict[str, Any]], *, role: str | None = None) -> str:
    for message in reversed(messages):
        if role is None or message.get("role") == role:
            return message_text(message)
    return ""


def _tool_names(body: Mapping[str, Any]) -> list[str]:
    names = []
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and "name" in function:
            names.append(str(function["name"]))
    return names


def _response_format_name(body: Mapping[str, Any]) -> str | None:
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return None
    schema = fmt.get("json_schema")
    if isinstance(schema, dict) and "name" in schema:
        return str(schema["name"])
    return str(fmt["type"]) if "type" in fmt else None


def _format_matches(wanted: str, body: Mapping[str, Any]) -> bool:
    name = _response_format_name(body)
    # `*` answers any structured-output request, whatever its schema is called.
    return name is not None if wanted == "*" else wanted == name


def _matches(rule: Rule, body: Mapping[str, Any]) -> bool:
    when = rule.when
    messages = list(body.get("messages") or [])
    checks = [
        when.last_user is None or when.last_user.matches(_last_text(messages, role="user")),
        when.last_message is None or when.last_message.matches(_last_text(messages)),
        when.last_role is None or (bool(messages) and messages[-1].get("role") == when.last_role),
        when.system is None
        or any(
            when.system.matches(message_text(m))
            for m in messages
            if m.get("role") in ("system", "developer")
        ),
        when.any_message is None
        or any(when.any_message.matches(message_text(m)) for m in messages),
        when.tool_offered is None or when.tool_offered in _tool_names(body),
        when.response_format is None or _format_matches(when.response_format, body),
        when.model is None or when.model == body.get("model"),
        when.stream is None or when.stream == bool(body.get("stream")),
    ]
    return all(checks)


class ScriptedModel:
    """The state of one scripted model: its script, rule use counts and the requests it received.

    Args:
        script: a `Script`, its dict form, or a path to a YAML/JSON script file.
    """

    def __init__(self, script: Script | Mapping[str, Any] | str | Path) -> None:
        self.script = (
            load_script(script) if isinstance(script, (str, Path)) else parse_script(script)
        )
        self.requests: list[ReceivedRequest] = []
        self._uses: dict[int, int] = {}
        self._app: Starlette | None = None

    def load(self, script: Script | Mapping[str, Any] | str | Path) -> None:
        """Swap in another script and `reset` (one server can then serve many tests)."""
        self.script = (
            load_script(script) if isinstance(script, (str, Path)) else parse_script(script)
        )
        self.reset()

    def reset(self) -> None:
        """Forget received requests and rule use counts (`times` starts over)."""
        self.requests.clear()
        self._uses.clear()

    def choose(self, body: Mapping[str, Any]) -> tuple[str | None, Reply | None]:
        """Pick the answer to a request body and count the rule's use.

        Returns:
            (rule label, reply): the first matching rule with uses left, else ("default", default),
            else (None, None).
        """
        for index, rule in enumerate(self.script.rules):
            used = self._uses.get(index, 0)
            if rule.times is not None and used >= rule.times:
                continue
            if _matches(rule, body):
                self._uses[index] = used + 1
                return (rule.name or f"#{index}", rule.reply)
        if self.script.default is not None:
            return ("default", self.script.default)
        return (None, None)

    def total_usage(self) -> Usage:
        """The sum of the usage reported so far."""
        total = Usage()
        for request in self.requests:
            if request.usage is not None:
                total = total + request.usage
        return total

    @property
    def app(self) -> Starlette:
        """The Starlette app serving this model (built once; `app.state.model` is `self`)."""
        if self._app is None:
            self._app = _build_app(self)
        return self._app

    async def handle_chat(self, request: Request) -> Response:
        """Answer one `POST /v1/chat/completions` (recorded before any scripted delay)."""
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return JSONResponse(error_body(400, "body must be a JSON object with `messages`"), 400)
        # Nothing awaits between numbering and recording, so numbers follow arrival order.
        number = len(self.requests) + 1
        label, reply = self.choose(body)
        status, usage, response = self._answer(reply, body, number)
        self.requests.append(
            ReceivedRequest(
                number=number,
                headers=dict(request.headers),
                body=body,
                rule=label,
                status=status,
                usage=usage,
            )
        )
        if reply is not None and reply.delay_seconds:
            await asyncio.sleep(reply.delay_seconds)
        return response

    def _answer(
        self, reply: Reply | None, body: dict[str, Any], number: int
    ) -> tuple[int, Usage | None, Response]:
        if reply is None:
            last = _last_text(body["messages"], role="user")
            message = (
                "scripted model: no rule matched and the script has no default "
                f"(last user message: {last!r}); add a rule or a `default` reply"
            )
            return 400, None, JSONResponse(error_body(400, message), 400)
        if reply.error is not None:
            err = reply.error
            default = error_body(err.status, f"scripted error {err.status}")
            payload = default if err.body is None else err.body
            return err.status, None, JSONResponse(payload, err.status, err.headers)
        usage = usage_for(body["messages"], reply)
        model = str(body.get("model") or self.script.model)
        if body.get("stream"):
            options = body.get("stream_options")
            with_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            stream = _sse(reply, number, model, usage if with_usage else None)
            return 200, usage, StreamingResponse(stream, media_type="text/event-stream")
        answer = completion_body(reply, number=number, model=model, usage=usage)
        return 200, usage, JSONResponse(answer)

    async def handle_models(self, request: Request) -> Response:
        """Answer `GET /v1/models` with the script's model."""
        entry = {"id": self.script.model, "object": "model", "created": 0, "owned_by": "harness"}
        return JSONResponse({"object": "list", "data": [entry]})


async def _sse(reply: Reply, number: int, model: str, usage: Usage | None) -> AsyncIterator[bytes]:
    for chunk in stream_chunks(reply, number=number, model=model, usage=usage):
        text = json.dumps(chunk, separators=(",", ":"), ensure_ascii=False)
        yield f"data: {text}\n\n".encode()
        if reply.chunk_delay_seconds:
            await asyncio.sleep(reply.chunk_delay_seconds)
    yield b"data: [DONE]\n\n"


def _fill(value: Any, params: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for name, text in params.items():
            value = value.replace("{" + name + "}", text)
        return value
    if isinstance(value, list):
        return [_fill(v, params) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, params) for k, v in value.items()}
    return value


def _static_endpoint(route: StaticRoute) -> Any:
    async def endpoint(request: Request) -> Response:
        params = {k: str(v) for k, v in request.path_params.items()}
        return JSONResponse(_fill(route.json_value, params), route.status)

    return endpoint


def _build_app(model: ScriptedModel) -> Starlette:
    # Static routes are read when the app is built; `load` keeps the routes of the first script.
    static = [Route(r.path, _static_endpoint(r), methods=[r.method]) for r in model.script.routes]
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", model.handle_chat, methods=["POST"]),
            Route("/v1/models", model.handle_models, methods=["GET"]),
            *static,
        ]
    )
    app.state.model = model
    return app


ScriptSource = Script | ScriptedModel | Mapping[str, Any] | str | Path
"""Anything `serve_scripted_model` accepts: a ready model, a script, its dict, or a file path."""


def _as_model(script: ScriptSource) -> ScriptedModel:
    return script if isinstance(script, ScriptedModel) else ScriptedModel(script)


@contextlib.contextmanager
def serve_scripted_model(script: ScriptSource) -> Iterator[str]:
    """Serve a scripted model on 127.0.0.1 (uvicorn in a background thread, free port).

    Pass a `ScriptedModel` to inspect `.requests` afterwards; a `Script`, dict or file path
    builds one internally.

    Yields:
        The OpenAI base URL, ending in `/v1` (e.g. ``http://127.0.0.1:54321/v1``).
    """
    with serve_asgi_in_thread(_as_model(script).app) as root:
        yield f"{root}/v1"


@contextlib.asynccontextmanager
async def serve_scripted_model_async(script: ScriptSource) -> AsyncIterator[str]:
    """Like `serve_scripted_model`, but as a task of the running event loop (async callers only).

    Yields:
        The OpenAI base URL, ending in `/v1`.
    """
    async with serve_asgi(_as_model(script).app) as root:
        yield f"{root}/v1"
