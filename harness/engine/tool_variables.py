"""Variables in and out of a tool call: argument templating, bound arguments, result mappings.

The platform's rules (`interactly_configs/tool.py`, `nodes/tool/tool_node.py`):
- A tool node's `tool_arguments` are templated with `{{dynamic}}`/`[[runtime]]`. By default an
  argument is text (an argument that is one whole placeholder gets the value's string form, and an
  unresolved one stays the literal placeholder); with `preserve_argument_types` a whole-placeholder
  argument is the variable's native value, and an unresolved one is None.
- `variable_arguments` bind arguments to variables (or literals) at each call, with their native
  type; a binding overrides what the caller supplied unless `override_provided_value` is false,
  and is hidden from the LLM's `args_schema` unless `expose_to_llm`.
- `result_variable_mappings` write parts of the result to named variables, and
  `expand_result_into_runtime_variables` writes each top-level key of a dict result (keys starting
  with `_` are the framework's and are skipped); explicit mappings win over expanded keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from harness.engine.sandbox import ToolOutcome
from harness.engine.variables import (
    ABSENT,
    PLACEHOLDER_PATTERN,
    lookup,
    substitute,
    substitute_value,
)
from harness.models.api import ToolConfig, ToolResultVariableScope, ToolVariableSource

__all__ = [
    "ResultUpdates",
    "bind_variable_arguments",
    "hide_bound_arguments",
    "lookup_path",
    "result_updates",
    "template_arguments",
]

_INDEX = re.compile(r"\[(-?\d+)\]")


def lookup_path(path: str, variables: Mapping[str, Any]) -> Any:
    """`path` (`a.b`, `rows[0].id`, or a whole key such as `Node name.var`) in `variables`."""
    value = lookup(path, variables)
    if value is ABSENT and "[" in path:
        value = lookup(_INDEX.sub(r".\1", path).lstrip("."), variables)
    return value


def template_arguments(
    arguments: Mapping[str, Any],
    dynamic: Mapping[str, Any],
    runtime: Mapping[str, Any],
    *,
    preserve_types: bool,
) -> dict[str, Any]:
    """A tool node's `tool_arguments` with their placeholders substituted (module rules)."""
    return {
        key: _template(value, dynamic, runtime, preserve_types) for key, value in arguments.items()
    }


def _template(
    value: Any, dynamic: Mapping[str, Any], runtime: Mapping[str, Any], keep: bool
) -> Any:
    if isinstance(value, str):
        if keep and PLACEHOLDER_PATTERN.fullmatch(value.strip()):
            resolved = substitute_value(value.strip(), dynamic, runtime)
            # substitute_value hands an unresolved placeholder back unchanged.
            return None if resolved == value.strip() else resolved
        return substitute(value, dynamic, runtime)
    if isinstance(value, Mapping):
        return {str(k): _template(v, dynamic, runtime, keep) for k, v in value.items()}
    if isinstance(value, list):
        return [_template(v, dynamic, runtime, keep) for v in value]
    return value


def bind_variable_arguments(
    tool: ToolConfig,
    arguments: Mapping[str, Any],
    dynamic: Mapping[str, Any],
    runtime: Mapping[str, Any],
) -> dict[str, Any]:
    """`arguments` with the tool's `variable_arguments` applied.

    Raises:
        ValueError: a `required` binding's variable is absent or null (the call fails, named).
    """
    merged = dict(arguments)
    for binding in tool.variable_arguments:
        name = binding.argument_name
        if not binding.override_provided_value and name in merged:
            continue
        if binding.source == ToolVariableSource.LITERAL:
            merged[name] = binding.literal_value
            continue
        path = binding.variable_path or ""
        value = _bound_value(binding.source, path, dynamic, runtime)
        if value is ABSENT or value is None:
            if binding.required:
                raise ValueError(
                    f"variable_arguments[{name!r}] is required but {binding.source.value} "
                    f"variable {path!r} is not set"
                )
            value = binding.default
        merged[name] = value
    return merged


def _bound_value(
    source: ToolVariableSource, path: str, dynamic: Mapping[str, Any], runtime: Mapping[str, Any]
) -> Any:
    if source == ToolVariableSource.DYNAMIC:
        return lookup_path(path, dynamic)
    value = lookup_path(path, runtime)
    if value is ABSENT and source == ToolVariableSource.AUTO:
        value = lookup_path(path, dynamic)
    return value


def hide_bound_arguments(tool: ToolConfig, schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The `args_schema` the LLM sees: arguments bound and not `expose_to_llm` removed."""
    hidden = {b.argument_name for b in tool.variable_arguments if not b.expose_to_llm}
    if not hidden or not schema:
        return schema
    trimmed = dict(schema)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        trimmed["properties"] = {k: v for k, v in properties.items() if k not in hidden}
    required = schema.get("required")
    if isinstance(required, list):
        trimmed["required"] = [r for r in required if r not in hidden]
    return trimmed


class ResultUpdates:
    """The variables one tool result writes besides its result name: thread and workflow scope."""

    def __init__(self) -> None:
        self.thread: dict[str, Any] = {}
        self.workflow: dict[str, Any] = {}


def result_updates(tool: ToolConfig, outcome: ToolOutcome) -> tuple[ToolOutcome, ResultUpdates]:
    """The expanded keys and mapped parts of a successful result.

    Returns:
        The outcome (failed when a `required` mapping's path is missing, naming it) and the
        variables to write, expanded keys first so explicit mappings win.
    """
    updates = ResultUpdates()
    if not outcome.success:
        return outcome, updates
    result = outcome.result
    if tool.expand_result_into_runtime_variables and isinstance(result, Mapping):
        updates.thread.update(
            (k, v) for k, v in result.items() if isinstance(k, str) and not k.startswith("_")
        )
    for mapping in tool.result_variable_mappings:
        value = (
            result if not mapping.result_path else lookup_path(mapping.result_path, _root(result))
        )
        if value is ABSENT:
            if mapping.required:
                error = (
                    f"result_variable_mappings: result_path {mapping.result_path!r} (for "
                    f"[[{mapping.target_variable_name}]]) is not in the tool's result"
                )
                return ToolOutcome(success=False, error=error, duration_ms=outcome.duration_ms), (
                    ResultUpdates()
                )
            value = mapping.default
        store = (
            updates.workflow
            if mapping.scope == ToolResultVariableScope.WORKFLOW
            else updates.thread
        )
        store[mapping.target_variable_name] = value
    return outcome, updates


def _root(result: Any) -> Mapping[str, Any]:
    # lookup() walks from a mapping; a list result is addressed as `[0].x` or `0.x`.
    if isinstance(result, Mapping):
        return result
    return {str(i): v for i, v in enumerate(result)} if isinstance(result, list) else {}
