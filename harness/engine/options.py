"""What the engine reads from `workflow_config.miscellaneous`, parsed once per workflow.

The platform documents these keys (`interactly_configs/workflow.py`, `nodes/node.py`,
`utils.py`); `miscellaneous` is an untyped dict, so a flag may arrive as a bool or as a string
such as `"true"`, and a number as `"3"`. Flags the platform falls back on silently fall back
here too; a hop limit that is not a whole number is a graph problem.

- `consecutive_conditional_edges_max_limit` (default 3): conditional hops since the last user
  message after which freeform conditions are no longer offered to the LLM.
- `no_consecutive_conditional_edge_after_reverse_conditional_edge_taken` (default true): after a
  reverse conditional edge, the next LLM invocation gets no transition tools.
- `no_hopping_between_guardrail_nodes` (default true): no conditional or global transition from
  one guardrail node (`is_guardrail_node`) to another.
- `default_dynamic_variables` (default `{}`): dynamic variables under the run's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.models.api import WorkflowConfigFullyHydrated

__all__ = [
    "DEFAULT_HOP_LIMIT",
    "WorkflowOptions",
    "options_problems",
    "parse_flag",
    "workflow_options",
]

DEFAULT_HOP_LIMIT = 3
_HOP_LIMIT = "consecutive_conditional_edges_max_limit"
_AFTER_REVERSE = "no_consecutive_conditional_edge_after_reverse_conditional_edge_taken"
_GUARDRAIL_HOPS = "no_hopping_between_guardrail_nodes"
_DEFAULT_DYNAMIC = "default_dynamic_variables"
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, slots=True)
class WorkflowOptions:
    """The `miscellaneous` settings of one workflow."""

    hop_limit: int = DEFAULT_HOP_LIMIT
    no_transition_tools_after_reverse: bool = True
    no_guardrail_hopping: bool = True
    default_dynamic_variables: dict[str, Any] = field(default_factory=dict)


def parse_flag(raw: Any, *, default: bool) -> bool:
    """A `miscellaneous` flag stored as a bool or as text (`"true"`, `"off"`, ...)."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    return default


def _hop_limit(raw: Any) -> int | None:
    try:
        limit = int(str(raw).strip())
    except ValueError:
        return None
    return limit if limit >= 0 else None


def options_problems(workflow: WorkflowConfigFullyHydrated) -> Iterator[str]:
    """Settings of `miscellaneous` the engine cannot use, each saying what to write instead."""
    misc = workflow.settings.miscellaneous
    if _HOP_LIMIT in misc and _hop_limit(misc[_HOP_LIMIT]) is None:
        yield (
            f"workflow_config.miscellaneous.{_HOP_LIMIT} must be a whole number >= 0 "
            f"(got {misc[_HOP_LIMIT]!r})"
        )
    defaults = misc.get(_DEFAULT_DYNAMIC)
    if defaults is not None and not isinstance(defaults, dict):
        yield (
            f"workflow_config.miscellaneous.{_DEFAULT_DYNAMIC} must be an object of variable "
            f"names to values (got {type(defaults).__name__})"
        )


def workflow_options(workflow: WorkflowConfigFullyHydrated) -> WorkflowOptions:
    """The options of `workflow` (invalid values fall back to the defaults; see the problems)."""
    misc = workflow.settings.miscellaneous
    limit = _hop_limit(misc.get(_HOP_LIMIT, DEFAULT_HOP_LIMIT))
    defaults = misc.get(_DEFAULT_DYNAMIC)
    return WorkflowOptions(
        hop_limit=DEFAULT_HOP_LIMIT if limit is None else limit,
        no_transition_tools_after_reverse=parse_flag(misc.get(_AFTER_REVERSE), default=True),
        no_guardrail_hopping=parse_flag(misc.get(_GUARDRAIL_HOPS), default=True),
        default_dynamic_variables=dict(defaults) if isinstance(defaults, dict) else {},
    )
