"""Prompts, static messages and conditions (`interactly_configs/prompt.py`, `condition.py`)."""

from __future__ import annotations

from pydantic import (
    Field,
)

from harness.models.api.base import JsonDict, PlatformModel, SelectionMode

__all__ = [
    "Condition",
    "PromptConfig",
    "StaticMessagesConfig",
]


class PromptConfig(PlatformModel):
    prompt: str | None = None


class StaticMessagesConfig(PlatformModel):
    static_messages: list[str] = Field(default_factory=list)
    static_messages_selection_mode: SelectionMode = SelectionMode.RANDOM


class Condition(PlatformModel):
    """When an edge (or a global node) fires. `condition_expression` wins when set."""

    condition_freeform: str | None = None
    condition_expression: str | None = None
    args_schema: JsonDict = Field(default_factory=dict)
    static_messages_config: StaticMessagesConfig | None = None
