"""Whether a JSON schema is valid without asking jsonschema, for the plain schemas most have.

Checking a workflow's schemas against the 2020-12 meta-schema imports jsonschema (with attrs,
referencing and rpds: ~30 ms, once per run) to confirm schemas such as
`{"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]}`. A schema
built only from the keywords below, each with a value of the type the meta-schema requires, is
valid under it: `plainly_valid` says so without the import. Anything else (another keyword, a
`$schema`, a value of another type) gets False and goes to jsonschema, which gives the verdict
and the message.
"""

from __future__ import annotations

from typing import Any

__all__ = ["plainly_valid"]

_SIMPLE_TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})
_TEXT_KEYWORDS = frozenset({"title", "description"})
_ANY_VALUE_KEYWORDS = frozenset({"default", "const"})
_LIST_KEYWORDS = frozenset({"enum", "examples"})
_SUBSCHEMA_KEYWORDS = frozenset({"items", "additionalProperties"})


def plainly_valid(schema: Any) -> bool:
    """True when `schema` is valid under the 2020-12 meta-schema by its plain shape alone;
    False when jsonschema must decide (it may still be valid)."""
    if isinstance(schema, bool):
        return True  # `true` and `false` are schemas
    if not isinstance(schema, dict):
        return False
    return all(_plain_keyword(key, value) for key, value in schema.items())


def _plain_keyword(key: str, value: Any) -> bool:
    if key == "type":
        return _plain_type(value)
    if key == "properties":
        return isinstance(value, dict) and all(map(plainly_valid, value.values()))
    if key == "required":
        return _unique_strings(value)
    if key in _LIST_KEYWORDS:
        return isinstance(value, list)
    if key in _TEXT_KEYWORDS:
        return isinstance(value, str)
    if key in _SUBSCHEMA_KEYWORDS:
        return plainly_valid(value)
    return key in _ANY_VALUE_KEYWORDS


def _plain_type(value: Any) -> bool:
    if isinstance(value, str):
        return value in _SIMPLE_TYPES
    return bool(value) and _unique_strings(value) and _SIMPLE_TYPES.issuperset(value)


def _unique_strings(value: Any) -> bool:
    return (
        isinstance(value, list)
        and all(isinstance(item, str) for item in value)
        and len(set(value)) == len(value)
    )
