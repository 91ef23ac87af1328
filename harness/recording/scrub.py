"""Keep secrets out of cassettes: headers, body fields, query parameters and known key values.

Scrubbing runs on every request before it is recorded *and* before it is matched, so that a
recorded (scrubbed) request and the live (unscrubbed) one produce the same match key. Every
function here is idempotent: scrubbing scrubbed data changes nothing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_SECRET_BODY_FIELDS",
    "DEFAULT_SECRET_ENV_VARS",
    "DEFAULT_SECRET_QUERY_PARAMS",
    "REDACTED",
    "ScrubOptions",
    "credential_values",
    "find_secret_like",
    "is_sensitive_header",
    "register_secret_values",
    "registered_secrets_version",
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
# Headers whose value is a credential: besides being dropped from the cassette, their values are
# redacted wherever else they appear in that interaction (a server that echoes an `x-api-key` in
# its body). Narrower than the sensitive-header pattern, which also matches e.g. `x-max-tokens`.
_CREDENTIAL_HEADER_PATTERN = re.compile(
    r"^(authorization|proxy-authorization|cookie)$|api[-_]?key|secret|access[-_]?token",
    re.IGNORECASE,
)
# Kept with a fixed value instead of dropped: the MCP session id is random per session (not a
# credential once the session is closed), and a replayed client must still get *a* session id so
# that it behaves as it did live (it sends the id back and ends the session with a DELETE).
_PLACEHOLDER_HEADERS = frozenset({"mcp-session-id"})


@dataclass(frozen=True)
class ScrubOptions:
    """What to remove before anything is written to a cassette.

    Attributes:
        body_fields: JSON keys (any depth, case-insensitive) whose values become `<REDACTED>`.
        query_params: URL query parameters whose values become `<REDACTED>`.
        secret_values: literal strings (e.g. the API key itself) replaced anywhere they appear,
            whatever their length (blank strings are ignored).
        extra_headers: more header names to drop, on top of the built-in list.
    """

    body_fields: frozenset[str] = frozenset(DEFAULT_SECRET_BODY_FIELDS)
    query_params: frozenset[str] = frozenset(DEFAULT_SECRET_QUERY_PARAMS)
    secret_values: tuple[str, ...] = ()
    extra_headers: frozenset[str] = field(default_factory=frozenset)
    _forms: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Normalise once so the hot path compares lower-case names only; longest secrets first so
        # a key that contains another key is replaced whole.
        object.__setattr__(self, "body_fields", frozenset(f.lower() for f in self.body_fields))
        object.__setattr__(self, "query_params", frozenset(p.lower() for p in self.query_params))
        object.__setattr__(self, "extra_headers", frozenset(h.lower() for h in self.extra_headers))
        values = {v for v in self.secret_values if v.strip()}
        object.__setattr__(self, "secret_values", tuple(sorted(values, key=len, reverse=True)))
        object.__setattr__(self, "_forms", _secret_forms(values))

    def with_values(self, values: Iterable[str]) -> ScrubOptions:
        """These options, also redacting `values` (self when there is nothing new).

        A scheme before a token already redacted (`Bearer sk-...` when `sk-...` is known) is
        nothing new: an echo of it keeps only the scheme. So a provider key set in the
        environment (redacted from the start) leaves a request's options as they are, and a
        replay can match its bytes without a key (`CassetteState.next_in_order`).
        """
        fresh = [
            v for v in values if v.strip() and not self._known(v) and not self._scheme_of_known(v)
        ]
        if not fresh:
            return self
        return replace(self, secret_values=(*self.secret_values, *fresh))

    def _known(self, value: str) -> bool:
        """Redacted already: one of these options' values or a run's registered secret."""
        return value in self.secret_values or value in _RUN_SECRETS

    def _scheme_of_known(self, value: str) -> bool:
        token = _scheme_token(value)
        return token is not None and self._known(token)

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
    kept: list[tuple[str, str]] = []
    for name, value in headers:
        if name.lower() in _PLACEHOLDER_HEADERS:
            kept.append((name, REDACTED))
        elif not is_sensitive_header(name, options):
            kept.append((name, scrub_text(value, options)))
    return kept


def credential_values(headers: Iterable[tuple[str, str]]) -> list[str]:
    """The credentials a request carries in its headers (`x-api-key`, `Authorization`, ...).

    An `Authorization` value counts whole and without its scheme (`Bearer abc` gives both
    `Bearer abc` and `abc`), so an echo of either form is redacted.
    """
    found: list[str] = []
    for name, value in headers:
        if not value.strip() or not _CREDENTIAL_HEADER_PATTERN.search(name):
            continue
        found.append(value)
        if token := _scheme_token(value):
            found.append(token)
    return found


def _scheme_token(value: str) -> str | None:
    """The token of a `<scheme> <token>` credential (`Bearer abc` gives `abc`), else None."""
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if token.strip() and scheme.isalpha() else None


def _secret_forms(values: Iterable[str]) -> tuple[str, ...]:
    """Each secret as it may appear in stored text: raw, JSON-escaped and URL-encoded.

    Longest first, so a secret that contains another is replaced whole.
    """
    forms: set[str] = set()
    for value in values:
        forms.update(
            {
                value,
                json.dumps(value)[1:-1],
                json.dumps(value, ensure_ascii=False)[1:-1],
                quote(value, safe=""),
                quote_plus(value, safe=""),
            }
        )
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


_RUN_SECRETS: set[str] = set()
_RUN_FORMS: tuple[str, ...] = ()  # every form of every registered secret, longest first


def register_secret_values(values: Iterable[str]) -> None:
    """Redact these values too, from now on, in everything scrubbed in this process.

    For run inputs' `secret_variables`: the engine backend registers them before a turn runs, so
    a secret a template put into a request never reaches a cassette, however short it is.
    """
    global _RUN_FORMS
    fresh = {v for v in values if v.strip()} - _RUN_SECRETS
    if fresh:
        _RUN_SECRETS.update(fresh)
        _RUN_FORMS = _secret_forms(_RUN_SECRETS)


def registered_secrets_version() -> int:
    """Changes whenever `register_secret_values` adds a value (match keys built before are old)."""
    return len(_RUN_SECRETS)


def scrub_text(text: str, options: ScrubOptions) -> str:
    """Replace every configured (or registered) secret value in `text` with `<REDACTED>`.

    Every value counts, whatever its length, in each form it can take in a cassette (as is,
    JSON-escaped inside a body, percent-encoded in a URL).
    """
    forms = (*options._forms, *_RUN_FORMS)
    if not forms:
        return text
    if REDACTED in text:  # a short secret may be part of the marker itself: keep markers intact
        return REDACTED.join(_replace_forms(part, forms) for part in text.split(REDACTED))
    return _replace_forms(text, forms)


def _replace_forms(text: str, forms: Iterable[str]) -> str:
    for secret in forms:
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
