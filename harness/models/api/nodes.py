"""The node base and the non-LLM, non-tool nodes (`interactly_configs/nodes/`).

Facts from the platform's models: every node shares `BaseNodeConfig` (`nodes/node.py`): a nullable
`logical_id`, categories that each node type defaults, `is_guardrail_node` and a bounded
`self_loop_config` that any node may carry. Node types the platform knows but the built-in engine
does not run (telephony, SMS, EHR, Google Docs, super nodes, ...) load as `UnsupportedNodeConfig`,
keeping every field, so such a config still round-trips; the engine's graph validation refuses them
by name.
"""

from enum import StrEnum
from typing import Literal, Self

from pydantic import ConfigDict, Field, model_validator

from harness.models.api.base import JsonDict, PlatformModel
from harness.models.api.prompts import Condition, StaticMessagesConfig

__all__ = [
    "BaseEntityConfig",
    "BaseNodeConfig",
    "GlobalConditionEdgeEvaluationMethod",
    "GlobalNodeConfig",
    "NoOpNodeConfig",
    "SayStaticMessageNodeConfig",
    "SayStaticNodeConfig",
    "SelfLoopConfig",
    "UnsupportedNodeConfig",
    "WorkflowRunFetchNodeConfig",
]


class GlobalConditionEdgeEvaluationMethod(StrEnum):
    """How a global node's condition is judged; `workflow_default` defers to the workflow."""

    WORKFLOW_DEFAULT = "workflow_default"
    TOOL_CALL = "tool_call"
    INDEPENDENT_LLM_EVALUATIONS = "independent_llm_evaluations"


class GlobalNodeConfig(PlatformModel):
    """A node reachable from anywhere when its condition holds."""

    is_global: bool = False
    condition: Condition | None = None
    global_condition_edge_evaluation_method: GlobalConditionEdgeEvaluationMethod | None = (
        GlobalConditionEdgeEvaluationMethod.WORKFLOW_DEFAULT
    )
    """Overrides the workflow's `global_condition_evaluation_method` for this node's condition."""
    reverse_conditional_edge: Condition | None = Field(
        default=None, description="When set, the condition to return to the node it came from."
    )


class SelfLoopConfig(PlatformModel):
    """Bounded re-execution of a node (any node type; not the LLM nodes' `self_loop` flag).

    When `enabled`, the node runs again until an outgoing conditional edge matches, `max_retries`
    re-executions happened (total attempts = `max_retries + 1`), or `expiry_time` seconds passed
    since the first attempt, whichever comes first; `time_between_retries` seconds pass between
    attempts. A loop that stops on a bound sets `[[self_loop_outcome]]` (`max_retries` or
    `expiry_time`). Enabled needs at least one bound (the platform's own rule).
    """

    enabled: bool = False
    max_retries: int | None = Field(default=None, ge=0, le=100)
    expiry_time: int | None = Field(default=None, ge=1, le=3600)
    time_between_retries: int = Field(default=0, ge=0, le=300)

    @model_validator(mode="after")
    def _one_bound(self) -> Self:
        if self.enabled and self.max_retries is None and self.expiry_time is None:
            raise ValueError(
                "self_loop_config requires at least one of max_retries or expiry_time when "
                "enabled: set max_retries (re-executions after the first) or expiry_time (seconds)"
            )
        return self


class BaseEntityConfig(PlatformModel):
    """Fields every node and edge shares (the platform's `BaseEntityConfig`)."""

    # Nodes and edges are validated inside a workflow only, whose schema holds theirs: building
    # each class's own at import (this base and its subclasses) would be work no run uses.
    model_config = ConfigDict(defer_build=True)

    logical_id: str | None = None
    name: str | None = None
    description: str | None = None
    workflow_id: str | None = None
    version_number: int | None = 0
    disabled: bool = False
    miscellaneous: JsonDict = Field(default_factory=dict)


class BaseNodeConfig(BaseEntityConfig):
    """Fields every node type shares (the platform's `BaseNodeConfig`)."""

    primary_category: str | None = None
    secondary_category: str | None = None
    is_start: bool = False
    global_node_config: GlobalNodeConfig | None = None
    is_guardrail_node: bool = False
    self_loop_config: SelfLoopConfig | None = None

    @property
    def node_id(self) -> str:
        """The logical id; graph validation refuses a node without one before the engine runs."""
        return self.logical_id or ""

    @property
    def label(self) -> str:
        """`name (logical_id)` for messages."""
        return f"{self.name} ({self.logical_id})" if self.name else str(self.logical_id)

    @property
    def bounded_self_loop(self) -> SelfLoopConfig | None:
        """The self-loop policy when it is enabled, else None."""
        config = self.self_loop_config
        return config if config is not None and config.enabled else None


_NodeBase = BaseNodeConfig  # the name the other node modules import


class SayStaticNodeConfig(BaseNodeConfig):
    """Says one of its static messages (random, or in sequence sticking on the last)."""

    type: Literal["say_static"] = "say_static"
    primary_category: str | None = "System"
    secondary_category: str | None = "Static Message"
    static_messages_config: StaticMessagesConfig | None = None


SayStaticMessageNodeConfig = SayStaticNodeConfig
"""The platform's name of `SayStaticNodeConfig`."""


class WorkflowRunFetchNodeConfig(BaseNodeConfig):
    """Loads a run by id into `[[workflow_run_object]]`."""

    type: Literal["workflow_run_fetch"] = "workflow_run_fetch"
    primary_category: str | None = "System"
    secondary_category: str | None = "Evaluation"
    workflow_run_id: str | None = "{{workflow_run_id}}"
    result_runtime_variable_name: str | None = "workflow_run_object"


class NoOpNodeConfig(BaseNodeConfig):
    """Runs and succeeds without doing anything else (a junction, a placeholder, a test stand-in).

    Writes `[[<output_runtime_variable_name>]]` = None and `[[<name>_success]]` = the outcome
    (False with `simulate_failure`); `delay_seconds` simulates a slow node. Not `disabled`: a
    no-op node runs and emits its node events.
    """

    type: Literal["no_op"] = "no_op"
    primary_category: str | None = "System"
    secondary_category: str | None = "Utility"
    note: str | None = None
    output_runtime_variable_name: str | None = "no_op_result"
    delay_seconds: float | None = 0.0
    simulate_failure: bool = False


class UnsupportedNodeConfig(BaseNodeConfig):
    """A node type the built-in engine does not run (telephony, SMS, EHR, super nodes, ...).

    Every field is kept so the config round-trips; the engine's graph validation refuses it by
    name, type and what to do instead.
    """

    type: str
