"""Secret variables: resolvable in templates, never stored, shown or serialised.

The platform carries credentials in `secret_variables` (the run input's and the hydrated
config's), apart from the dynamic variables, so that the value a run passes around is not the
value it emits (`interactly_configs/run_input.py`, `BaseRunInput`). A template reads one as
`{{name}}` (where the token used to be a dynamic variable) or `{{global.name}}` (the syntax of
the team's global variables, which the secrets are).

`SecretOverlay` is how the engine keeps that promise: it is the `{{...}}` mapping of a turn, a
dict of the ordinary dynamic variables that *also* answers lookups of the secret names. The
secrets live beside the dict's storage, not in it, so copying the mapping (`dict(...)`, `{**m}`),
iterating it, `json.dumps` and `repr` see only the ordinary values: nothing that records the
dynamic variables (`workflow_show_state`, run inputs, reports) can carry a secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import SecretStr

__all__ = ["GLOBAL_NAMESPACE", "MASK", "SecretOverlay", "redact", "redact_value", "secret_values"]

MASK = "**********"
"""What a secret value becomes wherever it would be recorded (as `SecretStr` shows it)."""

GLOBAL_NAMESPACE = "global"
"""`{{global.<name>}}` reads the secret `<name>`."""


class SecretOverlay(dict[str, Any]):
    """Dynamic variables whose lookups also find the secrets (which are never iterated)."""

    __slots__ = ("_secrets",)

    def __init__(self, values: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        super().__init__(values)
        self._secrets = dict(secrets)

    def _hidden(self, key: object) -> Any:
        if key == GLOBAL_NAMESPACE and self._secrets:
            return dict(self._secrets)
        if isinstance(key, str):
            return self._secrets.get(key)
        return None

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or self._hidden(key) is not None

    def __getitem__(self, key: str) -> Any:
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        hidden = self._hidden(key)
        if hidden is None:
            raise KeyError(key)
        return hidden

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __repr__(self) -> str:
        return f"{dict.__repr__(self)} (+{len(self._secrets)} secret(s))"


def secret_values(*sources: Mapping[str, SecretStr] | None) -> dict[str, str]:
    """The secrets of `sources` in clear, later sources winning (config, then run input)."""
    merged: dict[str, str] = {}
    for source in sources:
        for name, value in (source or {}).items():
            merged[name] = value.get_secret_value()
    return merged


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value replaced by `**********` (longest secrets first)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def redact_value(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` with every secret in its strings (keys too, at any depth) masked."""
    if not secrets:
        return value
    if isinstance(value, str):
        return redact(value, secrets) if any(s in value for s in secrets) else value
    if isinstance(value, dict):
        return {redact_value(k, secrets): redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item, secrets) for item in value]
    return value
