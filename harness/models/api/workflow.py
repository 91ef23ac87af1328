"""The workflow config, edges and the node union (`interactly_configs/workflow.py`, `edge.py`).

Facts from the platform's models: `WorkflowConfigFullyHydrated.workflow_config` is nullable and
`secret_variables` is never serialised (`exclude=True`); the node list upgrades each known type
through the node union and keeps an unknown type as a tolerant node (`UnknownNodeConfig`), so a
round trip loses nothing. Edges: every end and the condition are nullable; a direct edge may fork a
companion thread (`companion_thread_config`), a conditional edge may be evaluated while its source
waits (`evaluate_while_waiting_config`). An edge carries no messages of its own: what is said as it
fires is its condition's `static_messages_config` / `dynamic_messages_config`.
"""

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    SecretStr,
    Tag,
)

from harness.models._factories import empty_list
from harness.models.api.base import GlobalConditionEvaluationMethod, JsonDict, PlatformModel
from harness.models.api.llm import LLMOrGroupConfig, NoLLMConfig
from harness.models.api.llm_nodes import (
    SayLLMNodeConfig,
    WorkerLLMNodeConfig,
    WorkflowRunEvaluatorNodeConfig,
)
from harness.models.api.nodes import (
    BaseEntityConfig,
    NoOpNodeConfig,
    SayStaticNodeConfig,
    UnsupportedNodeConfig,
    WorkflowRunFetchNodeConfig,
)
from harness.models.api.prompts import Condition, PromptConfig
from harness.models.api.tool_nodes import HttpRequestNodeConfig, ToolNodeConfig
from harness.models.api.tools import MCPServerConfig, ToolsConfig

__all__ = [
    "CompanionEdgeConfig",
    "CompanionThreadConfig",
    "ConditionalEdgeConfig",
    "DirectEdgeConfig",
    "EdgeConfig",
    "EvaluateWhileWaitingConfig",
    "EvaluationConfig",
    "GuardrailStrikesConfig",
    "NodeConfig",
    "WaitingEvaluationTriggerMode",
    "WorkflowAccessConfig",
    "WorkflowConfig",
    "WorkflowConfigFullyHydrated",
]


class EvaluationConfig(PlatformModel):
    """Which workflow evaluates this workflow's runs."""

    evaluator_workflow_id: str | None = None
    evaluator_workflow_version_number: int | None = None
    enable_turn_by_turn_evaluation: bool = False


class WorkflowAccessConfig(PlatformModel):
    """Who may use the workflow on the platform (`personal`, `team`, `system`); not used offline."""

    access_level: str | None = None
    access_list: list[str] | None = None


class GuardrailStrikesConfig(PlatformModel):
    """Escalation after too many entries into guardrail nodes (from non-guardrail nodes)."""

    max_guardrail_nodes_before_escalation: int | None = None
    escalation_node_logical_id: str | None = None
    escalation_message: str | None = None


class WorkflowConfig(PlatformModel):
    """Workflow-level configuration; `nodes`/`edges` are lists of node and edge database ids.

    `miscellaneous` keys the engine reads: `default_dynamic_variables` (defaults under the run's
    dynamic variables), `consecutive_conditional_edges_max_limit`,
    `no_consecutive_conditional_edge_after_reverse_conditional_edge_taken`,
    `no_hopping_between_guardrail_nodes` (see docs/engine.md).
    """

    logical_id: str | None = None
    name: str | None = None
    description: str | None = None
    category: str | None = "User Created"
    attachable_llm_config_id: str | None = None
    llms_config: LLMOrGroupConfig | None = Field(default_factory=NoLLMConfig)
    main_response_config: PromptConfig | None = None
    backchannel_response_config: PromptConfig | None = None
    default_prompt_prefix: str | None = None
    default_prompt_suffix: str | None = None
    ignore_content_received_during_llm_tool_call_specification: bool = False
    tools_config: ToolsConfig | None = None
    mcp_servers: list[MCPServerConfig] | None = None
    global_condition_evaluation_method: GlobalConditionEvaluationMethod | None = (
        GlobalConditionEvaluationMethod.TOOL_CALL
    )
    nodes: list[str] = Field(default_factory=empty_list)
    edges: list[str] = Field(default_factory=empty_list)
    miscellaneous: JsonDict = Field(default_factory=dict)
    access_config: WorkflowAccessConfig | None = Field(default_factory=WorkflowAccessConfig)
    evaluation_config: EvaluationConfig | None = None
    guardrail_strikes_config: GuardrailStrikesConfig | None = None


# ------------------------------------------------------------------ nodes

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
"""A node: the types the engine runs are validated strictly; any other type is kept tolerantly."""


# ------------------------------------------------------------------ edges


class CompanionThreadConfig(PlatformModel):
    """Makes a direct edge fork a companion thread that runs beside the main one."""

    is_companion_thread: bool = False
    thread_id: str | None = None


class WaitingEvaluationTriggerMode(StrEnum):
    """What arms an evaluation of a conditional edge while its source node waits."""

    ON_NODE_COMPLETION = "on_node_completion"
    ON_EVERY_BACKGROUND_TICK = "on_every_background_tick"


class EvaluateWhileWaitingConfig(PlatformModel):
    """Evaluate a conditional edge's expression while its source node waits for the user."""

    enabled: bool = False
    trigger_mode: WaitingEvaluationTriggerMode = WaitingEvaluationTriggerMode.ON_NODE_COMPLETION
    trigger_node_logical_ids: list[str] = Field(default_factory=empty_list)
    min_seconds_between_evaluations: float | None = Field(default=None, ge=0)
    max_transitions_per_wait: int = Field(default=3, ge=1)


class _EdgeBase(BaseEntityConfig):
    source_node_logical_id: str | None = None
    destination_node_logical_id: str | None = None

    @property
    def edge_id(self) -> str:
        """The logical id; graph validation refuses an edge without one before the engine runs."""
        return self.logical_id or ""

    @property
    def source(self) -> str:
        """The source node id (graph validation guarantees one)."""
        return self.source_node_logical_id or ""

    @property
    def destination(self) -> str:
        """The destination node id (graph validation guarantees one)."""
        return self.destination_node_logical_id or ""


class DirectEdgeConfig(_EdgeBase):
    """Always taken (after the node's conditional edges); may fork a companion thread."""

    type: Literal["direct"] = "direct"
    companion_thread_config: CompanionThreadConfig | None = None

    @property
    def is_companion(self) -> bool:
        """Whether this edge forks a companion thread."""
        config = self.companion_thread_config
        return config is not None and config.is_companion_thread


class ConditionalEdgeConfig(_EdgeBase):
    """Taken when its condition holds."""

    type: Literal["conditional"] = "conditional"
    condition: Condition | None = None
    evaluate_while_waiting_config: EvaluateWhileWaitingConfig | None = None

    @property
    def evaluates_while_waiting(self) -> bool:
        """Whether this edge is also evaluated while its source node waits for the user."""
        config = self.evaluate_while_waiting_config
        return config is not None and config.enabled


class CompanionEdgeConfig(_EdgeBase):
    """Starts a background thread; the built-in engine refuses it."""

    type: Literal["companion"] = "companion"


EdgeConfig = Annotated[
    DirectEdgeConfig | ConditionalEdgeConfig | CompanionEdgeConfig, Field(discriminator="type")
]


# ------------------------------------------------------------------ the hydrated workflow

_DEFAULT_WORKFLOW_CONFIG = WorkflowConfig()


class WorkflowConfigFullyHydrated(PlatformModel):
    """A workflow with every node and edge config inlined: what the engine executes.

    `secret_variables` is never serialised (the platform's rule): credentials the engine resolves
    like dynamic variables but never writes to a dump, a log or a cassette.
    """

    workflow_config: WorkflowConfig | None = None
    node_configs: list[NodeConfig] = Field(default_factory=empty_list)
    edge_configs: list[EdgeConfig] = Field(default_factory=empty_list)
    dynamic_variables: JsonDict = Field(default_factory=dict)
    runtime_variables: JsonDict = Field(default_factory=dict)
    secret_variables: dict[str, SecretStr] = Field(default_factory=dict, exclude=True, repr=False)

    @property
    def settings(self) -> WorkflowConfig:
        """`workflow_config`, or the platform's defaults when it is null (never mutate it)."""
        return self.workflow_config or _DEFAULT_WORKFLOW_CONFIG
