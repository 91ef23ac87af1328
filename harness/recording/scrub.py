"""Keep secrets out of cassettes: headers, body fields, query parameters and known key values.

Scrubbing runs on every request before it is recorded *and* before it is matched, so that a
recorded (scrubbed) request and the live (unscrubbed) one produce the same match key. Every
function here is idempotent: scrubbing scrubbed data changes nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_SECRET_BODY_FIELDS",
    "DEFAULT_SECRET_ENV_VARS",
    "DEFAULT_SECRET_QUERY_PARAMS",
    "REDACTED",
    "ScrubOptions",
    "find_secret_like",
    "is_sensitive_header",
    "register_secret_values",
    "scrub_headers",
    "scrub_json_fields",
    "scrub_text",
    "scrub_uri",
]

REDACTED = "<REDACTED>"

# Exact names, compared lower-case. The pattern below catches the vendor variants
# (x-api-key, openai-organization, anthropic-api-key, x-goog-api-key, ...).
_SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "cookie",
        "set-cookie",
        "openai-organization",
        "openai-project",
    }
)
_SENSITIVE_HEADER_PATTERN = re.compile(
    r"auth|api[-_]?key|cookie|secret|token|session|organi[sz]ation|project", re.IGNORECASE
)

DEFAULT_SECRET_BODY_FIELDS = (
    "api_key",
    "apikey",
    "api-key",
    "access_token",
    "refresh_token",
    "client_secret",
    "password",
    # a Bedrock LLM config's AWS credentials (the platform stores them in `llms_config`)
    "aws_secret_access_key",
    "aws_access_key_id",
)
DEFAULT_SECRET_QUERY_PARAMS = ("api_key", "apikey", "api-key", "key", "access_token", "token")
DEFAULT_SECRET_ENV_VARS = (
    "OPENAI_API_KEY",
    "HARNESS_API_KEY",
    "ANTHROPIC_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "GROQ_API_KEY",
    "MISTRAL_API_KEY",
    "TOGETHER_API_KEY",
    "OPENROUTER_API_KEY",
)
# Shorter "secrets" would redact ordinary words everywhere.
_MIN_SECRET_LENGTH = 8


@dataclass(frozen=True)
class ScrubOptions:
    """What to remove before anything is written to a cassette.

    Attributes:
        body_fields: JSON keys (any depth, case-insensitive) whose values become `<REDACTED>`.
        query_params: URL query parameters whose values become `<REDACTED>`.
        secret_values: literal strings (e.g. the API key itself) replaced anywhere they appear.
        extra_headers: more header names to drop, on top of the built-in list.
    """

    body_fields: frozenset[str] = frozenset(DEFAULT_SECRET_BODY_FIELDS)
    query_params: frozenset[str] = frozenset(DEFAULT_SECRET_QUERY_PARAMS)
    secret_values: tuple[str, ...] = ()
    extra_headers: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        # Normalise once so the hot path compares lower-case names only; longest secrets first so
        # a key that contains another key is replaced whole.
        object.__setattr__(self, "body_fields", frozenset(f.lower() for f in self.body_fields))
        object.__setattr__(self, "query_params", frozenset(p.lower() for p in self.query_params))
        object.__setattr__(self, "extra_headers", frozenset(h.lower() for h in self.extra_headers))
        values = {v for v in self.secret_values if len(v) >= _MIN_SECRET_LENGTH}
        object.__setattr__(self, "secret_values", tuple(sorted(values, key=len, reverse=True)))

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        env_vars: Iterable[str] = DEFAULT_SECRET_ENV_VARS,
        body_fields: Iterable[str] = DEFAULT_SECRET_BODY_FIELDS,
        extra_values: Iterable[str] = (),
    ) -> ScrubOptions:
        """Options that also redact the values of the given key env vars wherever they appear."""
        env = os.environ if env is None else env
        values = [env[name] for name in env_vars if env.get(name)]
        return cls(body_fields=frozenset(body_fields), secret_values=(*values, *extra_values))


def is_sensitive_header(name: str, options: ScrubOptions | None = None) -> bool:
    """True for headers that may carry credentials (compared case-insensitively)."""
    lower = name.lower()
    if lower in _SENSITIVE_HEADERS or (options is not None and lower in options.extra_headers):
        return True
    return _SENSITIVE_HEADER_PATTERN.search(lower) is not None


def scrub_headers(
    headers: Iterable[tuple[str, str]], options: ScrubOptions
) -> list[tuple[str, str]]:
    """Drop credential headers; redact known secret values left in any other header."""
    return [
        (name, scrub_text(value, options))
        for name, value in headers
        if not is_sensitive_header(name, options)
    ]


_RUN_SECRETS: list[str] = []  # longest first


def register_secret_values(values: Iterable[str]) -> None:
    """Redact these values too, from now on, in everything scrubbed in this process.

    For run inputs' `secret_variables`: the engine backend registers them before a turn runs, so
    a secret a template put into a request never reaches a cassette.
    """
    fresh = {v for v in values if len(v) >= _MIN_SECRET_LENGTH} - set(_RUN_SECRETS)
    if fresh:
        _RUN_SECRETS.extend(fresh)
        _RUN_SECRETS.sort(key=len, reverse=True)


def scrub_text(text: str, options: ScrubOptions) -> str:
    """Replace every configured (or registered) secret value in `text` with `<REDACTED>`."""
    for secret in options.secret_values:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for secret in _RUN_SECRETS:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_json_fields(data: Any, fields: frozenset[str]) -> bool:
    """Redact, in place, the values of `fields` at any depth; True when something changed."""
    changed = False
    if isinstance(data, dict):
        for key, value in data.items():
            if key.lower() in fields and value is not None and value != REDACTED:
                data[key] = REDACTED
                changed = True
            elif isinstance(value, dict | list):
                changed = scrub_json_fields(value, fields) or changed
    elif isinstance(data, list):
        for item in data:
            changed = scrub_json_fields(item, fields) or changed
    return changed


def scrub_uri(uri: str, options: ScrubOptions) -> str:
    """Redact secret query parameters and secret values in a URL (unchanged when clean)."""
    uri = scrub_text(uri, options)
    parts = urlsplit(uri)
    if not parts.query:
        return uri
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(name.lower() in options.query_params and v != REDACTED for name, v in pairs):
        return uri
    cleaned = [
        (name, REDACTED if name.lower() in options.query_params else value) for name, value in pairs
    ]
    return urlunsplit(parts._replace(query=urlencode(cleaned, safe="<>")))


# What a leaked credential looks like in a stored file. Header names are matched as JSON keys, the
# way cassettes store them, so prose that merely mentions "authorization" is not flagged.
_SECRET_LIKE = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\bBearer\s+(?!<REDACTED>)[A-Za-z0-9._~+/=\-]{12,}", re.IGNORECASE),
    re.compile(
        r'"(authorization|proxy-authorization|api-key|x-api-key|cookie|set-cookie|'
        r'openai-organization|openai-project)"\s*:',
        re.IGNORECASE,
    ),
    re.compile(r'"(api_key|apikey|access_token|client_secret)"\s*:\s*"(?!<REDACTED>)[^"]{8,}"'),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    re.compile(r"harness-canary", re.IGNORECASE),
)


def find_secret_like(text: str) -> list[str]:
    """Every key-like string in `text` (API keys, bearer tokens, credential headers, canaries)."""
    return [match.group(0) for pattern in _SECRET_LIKE for match in pattern.finditer(text)]
