"""A small fake OpenAI-compatible provider (Starlette) for the recording tests, and helpers.

It answers chat completions (plain JSON, or SSE when `stream` is true), counts identical requests
so repeated ones get distinguishable answers, and can misbehave on request: the user message
decides (`please fail` -> 500, `rate limit` -> 429, `flaky` -> 503 the first time, `slow N` ->
sleeps N ms, `endless` streamed -> a stream that never ends). Responses carry
headers that must never be recorded (set-cookie, openai-organization, openai-project).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["FakeProvider", "build_app", "chat_body", "post_chat", "reply_text"]


@dataclass
class FakeProvider:
    """The running fake provider: its base URL and what it has seen."""

    base_url: str
    hits: Counter[str] = field(default_factory=Counter)
    authorizations: list[str] = field(default_factory=list)

    @property
    def total_hits(self) -> int:
        return sum(self.hits.values())


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def _completion(text: str, number: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


async def _endless() -> AsyncIterator[bytes]:
    yield b'data: {"id": "chatcmpl-e", "choices": []}\n\n'
    await asyncio.sleep(3600)


async def _stream(text: str) -> AsyncIterator[bytes]:
    for word in text.split(" "):
        chunk = {"id": "chatcmpl-s", "choices": [{"index": 0, "delta": {"content": word + " "}}]}
        yield f"data: {json.dumps(chunk)}\n\n".encode()
        await asyncio.sleep(0.005)
    usage = {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    yield f"data: {json.dumps({'id': 'chatcmpl-s', 'choices': [], 'usage': usage})}\n\n".encode()
    yield b"data: [DONE]\n\n"


def build_app(provider: FakeProvider) -> Starlette:
    secret_headers = {
        "set-cookie": "session=abc123secretcookie; Path=/",
        "openai-organization": "org-secretorganisation",
        "openai-project": "proj_secretproject",
    }

    async def chat(request: Request) -> Response:
        body = await request.json()
        provider.authorizations.append(request.headers.get("authorization", ""))
        user = _last_user_text(body)
        key = json.dumps(body, sort_keys=True)
        provider.hits[key] += 1
        number = provider.hits[key]
        if user.startswith("please fail"):
            return JSONResponse({"error": "boom"}, status_code=500)
        if user.startswith("flaky") and number == 1:  # fails once, then answers
            return JSONResponse({"error": "try again"}, status_code=503)
        if user.startswith("rate limit"):
            return JSONResponse(
                {"error": "slow down"}, status_code=429, headers={"retry-after": "30"}
            )
        if user.startswith("slow "):
            await asyncio.sleep(int(user.split()[1]) / 1000)
        if user.startswith("echo auth"):
            user = f"you sent {request.headers.get('authorization', '')}"
        reply = f"reply {number} to: {user}"
        if body.get("stream") and user.startswith("endless"):
            return StreamingResponse(_endless(), media_type="text/event-stream")
        if body.get("stream"):
            return StreamingResponse(
                _stream(reply), media_type="text/event-stream", headers=secret_headers
            )
        return JSONResponse(_completion(reply, number), headers=secret_headers)

    async def weather(request: Request) -> Response:
        provider.hits["weather"] += 1
        return JSONResponse({"city": request.query_params.get("city"), "temp_c": 21})

    async def echo(request: Request) -> Response:
        """Repeat the key and everything else it got, in its body and in a header (careless)."""
        key = request.headers.get("x-api-key", "")
        sent = {
            "you_sent_key": key,
            "path": request.url.path,
            "query": str(request.url.query),
            "body": (await request.body()).decode(),
        }
        return JSONResponse(sent, headers={"x-seen-key": key})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/tools/weather", weather, methods=["GET"]),
            Route("/tools/echo/{rest:path}", echo, methods=["GET", "POST"]),
        ],
        # Compressed answers exercise decoding before the body is stored as text.
        middleware=[Middleware(GZipMiddleware, minimum_size=50)],
    )


def chat_body(*messages: tuple[str, str], **extra: Any) -> dict[str, Any]:
    """A chat-completions request body from (role, content) pairs."""
    return {
        "model": "fake-model",
        "messages": [{"role": role, "content": content} for role, content in messages],
        **extra,
    }


async def post_chat(
    client: httpx.AsyncClient, base_url: str, body: dict[str, Any], **kwargs: Any
) -> httpx.Response:
    """POST a chat completion the way the engine's LLM client does."""
    return await client.post(f"{base_url}/chat/completions", json=body, **kwargs)


def reply_text(response: httpx.Response) -> str:
    """The assistant text of a (non-streamed) chat completion."""
    return str(response.json()["choices"][0]["message"]["content"])
