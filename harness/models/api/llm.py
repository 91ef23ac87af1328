"""LLM configurations (`interactly_configs/llm.py`, `llm_group.py`)."""

from __future__ import annotations

from pydantic import (
    Field,
)

from harness.models.api.base import JsonDict, PlatformModel

__all__ = [
    "LLMConfig",
]


class LLMConfig(PlatformModel):
    """Which LLM a node (or the workflow) uses; `global_default_llm` means the workflow's."""

    logical_id: str | None = None
    provider: str = "default_provider"
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    streaming: bool = False
    model_kwargs: JsonDict = Field(default_factory=dict)
    do_not_split_sentences: bool = False
    type: str = "global_default_llm"
