"""Test helpers: a scripted OpenAI-compatible model server and ASGI servers on 127.0.0.1.

Nothing here is imported by the harness itself; tests (ours and users') use it to drive the engine
against a real HTTP model without a network or an API key.
"""

from __future__ import annotations

from harness.testing.completions import Usage, estimate_tokens, prompt_tokens
from harness.testing.script import (
    ErrorReply,
    Reply,
    Rule,
    Script,
    ScriptError,
    StaticRoute,
    TextMatch,
    ToolCallReply,
    UsageOverride,
    When,
    bundled_script,
    load_script,
    parse_script,
)
from harness.testing.scripted_model import (
    ReceivedRequest,
    ScriptedModel,
    ScriptSource,
    message_text,
    serve_scripted_model,
    serve_scripted_model_async,
)
from harness.testing.server_thread import (
    ServerStartError,
    bind_loopback_socket,
    serve_asgi,
    serve_asgi_in_thread,
)

__all__ = [
    "ErrorReply",
    "ReceivedRequest",
    "Reply",
    "Rule",
    "Script",
    "ScriptError",
    "ScriptSource",
    "ScriptedModel",
    "ServerStartError",
    "StaticRoute",
    "TextMatch",
    "ToolCallReply",
    "Usage",
    "UsageOverride",
    "When",
    "bind_loopback_socket",
    "bundled_script",
    "estimate_tokens",
    "load_script",
    "message_text",
    "parse_script",
    "prompt_tokens",
    "serve_asgi",
    "serve_asgi_in_thread",
    "serve_scripted_model",
    "serve_scripted_model_async",
]
