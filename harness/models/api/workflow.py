"""The workflow config, edges and the node union (`interactly_configs/workflow.py`, `edge.py`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    Tag,
)

from harness.models.api.base import GlobalConditionEvaluationMethod, JsonDict, PlatformModel
from harness.models.api.llm import LLMConfig
from harness.models.api.llm_nodes import (
    SayLLMNodeConfig,
    WorkerLLMNodeConfig,
    WorkflowRunEvaluatorNodeConfig,
)
from harness.models.api.nodes import (
    NoOpNodeConfig,
    SayStaticNodeConfig,
    UnsupportedNodeConfig,
    WorkflowRunFetchNodeConfig,
)
from harness.models.api.prompts import Condition, PromptConfig, StaticMessagesConfig
from harness.models.api.tool_nodes import HttpRequestNodeConfig, ToolNodeConfig
from harness.models.api.tools import MCPServerConfig, ToolsConfig

__all__ = [
    "CompanionEdgeConfig",
    "ConditionalEdgeConfig",
    "DirectEdgeConfig",
    "EdgeConfig",
    "EvaluationConfig",
    "NodeConfig",
    "WorkflowConfig",
    "WorkflowConfigFullyHydrated",
]


class EvaluationConfig(PlatformModel):
    evaluator_workflow_id: str | None = None
    evaluator_workflow_version_number: int | None = Field(default=None, ge=0)
    enable_turn_by_turn_evaluation: bool = False


class WorkflowConfig(PlatformModel):
    """Workflow-level configuration; `nodes`/`edges` are lists of logical ids."""

    logical_id: str | None = None
    name: str | None = None
    description: str | None = None
    category: str | None = "User Created"
    llms_config: LLMConfig = Field(default_factory=LLMConfig)
    main_response_config: PromptConfig | None = None
    backchannel_response_config: PromptConfig | None = None
    default_prompt_prefix: str | None = None
    default_prompt_suffix: str | None = None
    tools_config: ToolsConfig = Field(default_factory=ToolsConfig)
    mcp_servers: list[MCPServerConfig] = Field(default_factory=list)
    global_condition_evaluation_method: GlobalConditionEvaluationMethod = (
        GlobalConditionEvaluationMethod.TOOL_CALL
    )
    nodes: list[str] = Field(default_factory=list)
    edges: list[str] = Field(default_factory=list)
    evaluation_config: EvaluationConfig | None = None
    miscellaneous: JsonDict = Field(default_factory=dict)
    start_node_logical_id: str | None = None
    welcome_message: str | None = None


_NODE_TYPES = {
    "say_llm",
    "worker_llm",
    "workflow_run_evaluator",
    "say_static",
    "tool_node",
    "http_request",
    "workflow_run_fetch",
    "no_op",
}


def _node_tag(value: Any) -> str:
    node_type = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    # A fuzzed or broken config may carry a non-string type (e.g. a list): not a known type.
    return node_type if isinstance(node_type, str) and node_type in _NODE_TYPES else "unsupported"


NodeConfig = Annotated[
    Annotated[SayLLMNodeConfig, Tag("say_llm")]
    | Annotated[WorkerLLMNodeConfig, Tag("worker_llm")]
    | Annotated[WorkflowRunEvaluatorNodeConfig, Tag("workflow_run_evaluator")]
    | Annotated[SayStaticNodeConfig, Tag("say_static")]
    | Annotated[ToolNodeConfig, Tag("tool_node")]
    | Annotated[HttpRequestNodeConfig, Tag("http_request")]
    | Annotated[WorkflowRunFetchNodeConfig, Tag("workflow_run_fetch")]
    | Annotated[NoOpNodeConfig, Tag("no_op")]
    | Annotated[UnsupportedNodeConfig, Tag("unsupported")],
    Discriminator(_node_tag),
]


class _EdgeBase(PlatformModel):
    logical_id: str = Field(min_length=1)
    name: str | None = None
    description: str | None = None
    workflow_id: str | None = None
    version_number: int | None = Field(default=0, ge=0)
    disabled: bool = False
    miscellaneous: JsonDict = Field(default_factory=dict)
    source_node_logical_id: str
    destination_node_logical_id: str
    static_messages_config: StaticMessagesConfig | None = None


class DirectEdgeConfig(_EdgeBase):
    type: Literal["direct"] = "direct"


class ConditionalEdgeConfig(_EdgeBase):
    type: Literal["conditional"] = "conditional"
    condition: Condition


class CompanionEdgeConfig(_EdgeBase):
    """Starts a background thread; the built-in engine refuses it for now."""

    type: Literal["companion"] = "companion"
    condition: Condition | None = None


EdgeConfig = Annotated[
    DirectEdgeConfig | ConditionalEdgeConfig | CompanionEdgeConfig, Field(discriminator="type")
]


class WorkflowConfigFullyHydrated(PlatformModel):
    """A workflow with every node and edge config inlined: what the engine executes."""

    workflow_config: WorkflowConfig = Field(default_factory=WorkflowConfig)
    node_configs: list[NodeConfig] = Field(default_factory=list)
    edge_configs: list[EdgeConfig] = Field(default_factory=list)
    dynamic_variables: JsonDict = Field(default_factory=dict)
    runtime_variables: JsonDict = Field(default_factory=dict)
