"""OpenAI chat-completion bodies and SSE chunks for a scripted reply, with deterministic usage.

Token counts are a pure function of the text so tests can assert totals: a text of n characters
costs ceil(n / 4) tokens. Prompt tokens count the request's `messages` serialized as compact JSON
with sorted keys; completion tokens count the content plus, per tool call, its name and arguments.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from harness.testing.script import Reply

__all__ = [
    "FIXED_CREATED",
    "Usage",
    "completion_body",
    "completion_tokens",
    "error_body",
    "estimate_tokens",
    "prompt_tokens",
    "stream_chunks",
    "usage_for",
]

FIXED_CREATED = 1_700_000_000
"""The `created` timestamp of every answer (fixed so recordings are reproducible)."""

_CHUNK_CHARS = 8


class Usage(BaseModel):
    """Token usage of one answer, as reported in `usage`."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """prompt + completion."""
        return self.prompt_tokens + self.completion_tokens

    def as_openai(self) -> dict[str, int]:
        """The `usage` object of the API."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


def estimate_tokens(text: str) -> int:
    """ceil(len(text) / 4): the scripted model's whole tokenizer."""
    return (len(text) + 3) // 4


def prompt_tokens(messages: Sequence[Any]) -> int:
    """Prompt tokens of a request: its messages as compact, key-sorted JSON, / 4 rounded up."""
    text = json.dumps(list(messages), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return estimate_tokens(text)


def completion_tokens(reply: Reply) -> int:
    """Completion tokens of a reply: content plus each tool call's name and arguments."""
    total = estimate_tokens(reply.content() or "")
    for call in reply.tool_calls or []:
        total += estimate_tokens(call.name + call.arguments_json())
    return total


def usage_for(messages: Sequence[Any], reply: Reply) -> Usage:
    """The usage reported for `reply` to a request with `messages` (overrides applied)."""
    override = reply.usage
    prompt = prompt_tokens(messages)
    completion = completion_tokens(reply)
    if override is not None and override.prompt_tokens is not None:
        prompt = override.prompt_tokens
    if override is not None and override.completion_tokens is not None:
        completion = override.completion_tokens
    return Usage(prompt_tokens=prompt, completion_tokens=completion)


def _tool_calls(reply: Reply, number: int) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id or f"call_{number}_{position}",
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_json()},
        }
        for position, call in enumerate(reply.tool_calls or [])
    ]


def _finish_reason(reply: Reply) -> str:
    if reply.finish_reason is not None:
        return reply.finish_reason
    return "tool_calls" if reply.tool_calls else "stop"


def completion_body(reply: Reply, *, number: int, model: str, usage: Usage) -> dict[str, Any]:
    """A non-streamed `chat.completion` answer.

    Args:
        reply: the scripted reply (not an error).
        number: the request's position (1-based), used for ids.
        model: the model name to report.
        usage: the usage to report.
    """
    message: dict[str, Any] = {"role": "assistant", "content": reply.content()}
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(reply, number)
    return {
        "id": f"chatcmpl-scripted-{number}",
        "object": "chat.completion",
        "created": FIXED_CREATED,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(reply)}],
        "usage": usage.as_openai(),
    }


def error_body(status: int, message: str) -> dict[str, Any]:
    """An OpenAI-style error body."""
    kind = "rate_limit_error" if status == 429 else "invalid_request_error"
    if status >= 500:
        kind = "server_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}


def _pieces(text: str) -> Iterator[str]:
    # Fixed-size pieces: several chunks for any real text, and stable across runs.
    for start in range(0, len(text), _CHUNK_CHARS):
        yield text[start : start + _CHUNK_CHARS]


def stream_chunks(
    reply: Reply, *, number: int, model: str, usage: Usage | None
) -> Iterator[dict[str, Any]]:
    """The `chat.completion.chunk` objects of a streamed answer, in order.

    The first chunk carries the role, content follows in pieces of 8 characters, each tool call
    comes as a header (id, name, empty arguments) then its arguments in pieces, then a chunk with
    the finish reason; with `usage` given a last chunk has empty `choices` and the usage, as
    OpenAI sends with `stream_options.include_usage`.
    """
    base = {
        "id": f"chatcmpl-scripted-{number}",
        "object": "chat.completion.chunk",
        "created": FIXED_CREATED,
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    for piece in _pieces(reply.content() or ""):
        yield chunk({"content": piece})
    for index, call in enumerate(_tool_calls(reply, number)):
        header = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
        yield chunk({"tool_calls": [{"index": index, **header}]})
        for piece in _pieces(call["function"]["arguments"]):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, _finish_reason(reply))
    if usage is not None:
        yield {**base, "choices": [], "usage": usage.as_openai()}
