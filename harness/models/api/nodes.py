"""The node base and the non-LLM, non-tool nodes (`interactly_configs/nodes/`)."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
)

from harness.models.api.base import JsonDict, PlatformModel
from harness.models.api.prompts import Condition, StaticMessagesConfig

__all__ = [
    "GlobalNodeConfig",
    "NoOpNodeConfig",
    "SayStaticNodeConfig",
    "SelfLoopConfig",
    "StructuredOutputSchema",
    "UnsupportedNodeConfig",
    "WorkflowRunFetchNodeConfig",
]


class GlobalNodeConfig(PlatformModel):
    """A node reachable from anywhere when its condition holds."""

    is_global: bool = False
    condition: Condition | None = None
    reverse_conditional_edge: Condition | None = Field(
        default=None, description="When set, the condition to return to the node it came from."
    )


class StructuredOutputSchema(PlatformModel):
    """JSON schema of a node's structured output (`{}` when the node has none)."""

    name: str | None = None
    description: str | None = None
    input_schema: JsonDict | None = None


class SelfLoopConfig(PlatformModel):
    max_iterations: int | None = Field(default=None, ge=1)
    static_messages_config: StaticMessagesConfig | None = None


class _NodeBase(PlatformModel):
    logical_id: str = Field(min_length=1)
    name: str | None = None
    description: str | None = None
    workflow_id: str | None = None
    version_number: int | None = Field(default=0, ge=0)
    disabled: bool = False
    miscellaneous: JsonDict = Field(default_factory=dict)
    primary_category: str | None = None
    secondary_category: str | None = None
    is_start: bool = False
    global_node_config: GlobalNodeConfig | None = None

    @property
    def label(self) -> str:
        """`name (logical_id)` for messages."""
        return f"{self.name} ({self.logical_id})" if self.name else self.logical_id


class SayStaticNodeConfig(_NodeBase):
    """Says one of its static messages (random, or in sequence sticking on the last)."""

    type: Literal["say_static"] = "say_static"
    static_messages_config: StaticMessagesConfig = Field(default_factory=StaticMessagesConfig)
    wait_for_user_message: bool = False


class WorkflowRunFetchNodeConfig(_NodeBase):
    """Loads a run by id into `[[workflow_run_object]]`."""

    type: Literal["workflow_run_fetch"] = "workflow_run_fetch"
    workflow_run_id: str = "{{workflow_run_id}}"
    result_runtime_variable_name: str = "workflow_run_object"


class NoOpNodeConfig(_NodeBase):
    type: Literal["no_op"] = "no_op"


class UnsupportedNodeConfig(_NodeBase):
    """A node type the built-in engine does not run (telephony, SMS, EHR, super nodes, ...).

    Kept so the run or config round-trips; the engine's graph validation refuses it by name.
    """

    type: str
