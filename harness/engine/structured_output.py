"""A node's `structured_output_schema` in either of the platform's two forms.

The platform stores `structured_output_schema` as a plain dict (`Optional[dict]` in
`interactly_configs/nodes/llm/llm.py` and `nodes/workflows/workflow_run_evaluator.py`) and its
examples use two shapes: worker nodes a wrapper `{name, description, input_schema}` (curriculum
examples 6 and 7), evaluator nodes a raw JSON Schema `{type: object, properties, required}`
(example 18). `output_schema` reads both; empty or null means no structured output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

__all__ = ["OutputSchema", "output_schema"]

_WRAPPER_KEYS = ("name", "description", "input_schema")
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class OutputSchema:
    """The JSON Schema a node's answer must follow, and the name its `response_format` carries."""

    name: str | None
    schema: dict[str, Any]

    def response_format(self, default_name: str) -> dict[str, Any]:
        """The OpenAI-compatible `response_format` (names limited to `[A-Za-z0-9_-]`, 64 chars)."""
        name = _NAME_CHARS.sub("_", self.name or "").strip("_")[:64] or default_name
        return {"type": "json_schema", "json_schema": {"name": name, "schema": self.schema}}


def output_schema(value: Any) -> OutputSchema | None:
    """The schema of a `structured_output_schema` value (a dict or a model); None when unset.

    A value with an `input_schema` is the wrapper form (its `name` names the format); any other
    non-empty value is a raw JSON Schema (its `title`, if any, names the format).
    """
    data = _as_dict(value)
    inner = data.get("input_schema")
    if isinstance(inner, Mapping):
        name = data.get("name")
        schema = dict(inner)
        return OutputSchema(name if isinstance(name, str) else None, schema) if schema else None
    raw = {k: v for k, v in data.items() if k not in _WRAPPER_KEYS or k == "description"}
    if not set(raw) - {"description"}:  # nothing but a wrapper's description: no schema
        return None
    title = raw.get("title")
    return OutputSchema(title if isinstance(title, str) else None, raw)


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        # A model of the wrapper form keeps a raw schema's keys as extras: dump them back.
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dict(value) if isinstance(value, Mapping) else {}
