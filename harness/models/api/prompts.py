"""Prompts, static and dynamic messages, conditions (`interactly_configs/prompt.py`, `condition.py`)."""

from pydantic import (
    Field,
)

from harness.models._factories import empty_list
from harness.models.api.base import JsonDict, PlatformModel, SelectionMode

__all__ = [
    "Condition",
    "ConditionConfig",
    "DynamicMessagesConfig",
    "PromptConfig",
    "StaticMessagesConfig",
]


class PromptConfig(PlatformModel):
    """An LLM system prompt."""

    prompt: str | None = None


class StaticMessagesConfig(PlatformModel):
    """Pre-written messages; one is picked and said (`null` mode means `random`)."""

    static_messages: list[str] = Field(default_factory=empty_list)
    static_messages_selection_mode: SelectionMode | None = SelectionMode.RANDOM


class DynamicMessagesConfig(PlatformModel):
    """A message the LLM writes as an edge is taken, guided by `dynamic_message_prompt`."""

    dynamic_message_prompt: str | None = None


class Condition(PlatformModel):
    """When an edge (or a global node) fires. `condition_expression` wins when set.

    `static_messages_config` is said as the edge fires; `dynamic_messages_config` asks the LLM for
    a message to say instead (see docs/engine.md, "Edge messages").
    """

    condition_freeform: str | None = None
    condition_expression: str | None = None
    args_schema: JsonDict | None = None
    static_messages_config: StaticMessagesConfig | None = None
    dynamic_messages_config: DynamicMessagesConfig | None = None


ConditionConfig = Condition
"""The platform's name of `Condition`."""
