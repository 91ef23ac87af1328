"""The platform's contract as pydantic v2 models.

Sources: the execute endpoint in `seed/execute-workflow-api.txt` and the semantics in
`PLATFORM.md`. Models of what the platform *returns* (runs, events, configs) keep unknown fields
(`extra="allow"`) so that a stored run survives a round trip unchanged. Enums that the seed fixes are
strict; node and event types are open because the service adds new ones (the engine's graph
validation refuses node types it does not run, naming them).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    field_validator,
)

__all__ = [
    "OBJECT_ID_PATTERN",
    "TERMINAL_STATUSES",
    "AssistantMessage",
    "ChatMessage",
    "Command",
    "CommentConfig",
    "CompanionEdgeConfig",
    "Condition",
    "ConditionalEdgeConfig",
    "DirectEdgeConfig",
    "EdgeConfig",
    "EdgeType",
    "EvaluationConfig",
    "EvaluationRunInfo",
    "EventType",
    "ExecuteRequest",
    "ExternalApiTool",
    "GlobalConditionEvaluationMethod",
    "GlobalNodeConfig",
    "HttpRequestNodeConfig",
    "InbuiltFunctionTool",
    "InlinePythonTool",
    "KnowledgeBaseTool",
    "LLMConfig",
    "LLMLatencyStats",
    "LLMNodeConfig",
    "LLMTokenUsage",
    "LLMUsageInfo",
    "LangChainMessage",
    "MCPServerConfig",
    "ModelLatencyStats",
    "ModelTokenUsage",
    "NoOpNodeConfig",
    "NodeConfig",
    "NodeOutput",
    "NodeRunInput",
    "ObjectId",
    "PlatformModel",
    "PromptConfig",
    "RecordedRunInput",
    "RunEvent",
    "RunOutput",
    "RunStatus",
    "RunsPage",
    "SayLLMNodeConfig",
    "SayStaticNodeConfig",
    "SelectionMode",
    "SelfLoopConfig",
    "StaticMessagesConfig",
    "StructuredOutputSchema",
    "ThreadInput",
    "ToolConfig",
    "ToolNodeConfig",
    "ToolType",
    "ToolsConfig",
    "TurnResponse",
    "UnsupportedNodeConfig",
    "WorkerLLMNodeConfig",
    "WorkflowConfig",
    "WorkflowConfigFullyHydrated",
    "WorkflowRun",
    "WorkflowRunEvaluatorNodeConfig",
    "WorkflowRunFetchNodeConfig",
    "WorkflowRunInput",
    "WorkflowRunInputOutputPair",
    "user_message_input",
]

OBJECT_ID_PATTERN = r"^[0-9a-f]{24}$"
ObjectId = Annotated[str, Field(pattern=OBJECT_ID_PATTERN, min_length=24, max_length=24)]
"""A database id: 24 lowercase hex characters."""

Number = int | float
JsonDict = dict[str, Any]


class PlatformModel(BaseModel):
    """Base of every model the platform returns: unknown fields are kept, never dropped."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


# ------------------------------------------------------------------ enums


class Command(StrEnum):
    """Command of one execute call."""

    START = "start"
    DATA = "data"
    RESUME = "resume"
    PAUSE = "pause"
    STOP = "stop"


class RunStatus(StrEnum):
    """Status of a workflow run."""

    NOT_STARTED = "not_started"
    STARTED = "started"
    RUNNING = "running"
    FAILED = "failed"
    COMPLETED = "completed"
    PAUSED = "paused"
    WAITING_FOR_USER_INPUT = "waiting_for_user_input"
    CANCELLED = "cancelled"
    ABORTED_LOOPING_RISK = "aborted_looping_risk"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.ABORTED_LOOPING_RISK}
)


class SelectionMode(StrEnum):
    """How a static message is picked from a list."""

    RANDOM = "random"
    SEQUENCE = "sequence"


class GlobalConditionEvaluationMethod(StrEnum):
    """How freeform conditions are judged."""

    TOOL_CALL = "tool_call"
    INDEPENDENT_LLM_EVALUATIONS = "independent_llm_evaluations"


class EdgeType(StrEnum):
    DIRECT = "direct"
    CONDITIONAL = "conditional"
    COMPANION = "companion"


class ToolType(StrEnum):
    INLINE_PYTHON = "inline_python"
    EXTERNAL_API = "external_api"
    INBUILT_FUNCTION = "inbuilt_function"
    KNOWLEDGE_BASE = "knowledge_base"


class EventType(StrEnum):
    """Event types the built-in engine emits. Runs may carry others; they are kept as they are."""

    START_NODE_RUN = "start_node_run"
    END_NODE_RUN = "end_node_run"
    USER_MESSAGES = "user_messages"
    BUSY_WAIT_FOR_USER_MESSAGE = "busy_wait_for_user_message"
    SAY_LLM = "say_llm"
    WORKER_LLM = "worker_llm"
    CONDITION_EVALUATOR_LLM = "condition_evaluator_llm"
    ASSISTANT_RESPONSE = "assistant_response"
    SAY_STATIC = "say_static"
    DIRECT_EDGE = "direct_edge"
    CONDITIONAL_EDGE = "conditional_edge"
    REVERSE_CONDITIONAL_EDGE = "reverse_conditional_edge"
    SELF_LOOP_EDGE = "self_loop_edge"
    WORKFLOW_NAVIGATION_MESSAGE = "workflow_navigation_message"
    DISCARDED_MAIN_LLM = "discarded_main_llm"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    WORKFLOW_SHOW_STATE = "workflow_show_state"
    PAUSE_EVENT = "pause_event"
    RESUME_EVENT = "resume_event"
    STOP_EVENT = "stop_event"
    END_THREAD = "end_thread"
    END_WORKFLOW_ITERATION = "end_workflow_iteration"
    WORKFLOW_READY_FOR_INPUT = "workflow_ready_for_input"
    END_WORKFLOW = "end_workflow"
    WORKFLOW_ERROR = "workflow_error"


# ------------------------------------------------------------------ run input


class ChatMessage(PlatformModel):
    """An OpenAI-style message: `{"role": "user", "content": "..."}`."""

    role: Literal["user", "assistant", "system", "tool"]
    content: str | None = None


class LangChainMessage(PlatformModel):
    """A LangChain-style message dump: `{"type": "human", "content": "..."}`."""

    type: Literal["human", "ai", "system", "tool"]
    content: str | None = None


AssistantMessage = ChatMessage


def _message_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "langchain" if "type" in value and "role" not in value else "chat"
    return "langchain" if hasattr(value, "type") else "chat"


Message = Annotated[
    Annotated[ChatMessage, Tag("chat")] | Annotated[LangChainMessage, Tag("langchain")],
    Discriminator(_message_kind),
]


class NodeRunInput(PlatformModel):
    """An input delivered to the node a thread is parked on."""

    type: str = "llm"
    messages: list[Message] = Field(default_factory=list)

    def user_texts(self) -> list[str]:
        """The text of every user message in this input, in order."""
        texts = []
        for m in self.messages:
            is_user = m.role == "user" if isinstance(m, ChatMessage) else m.type == "human"
            if is_user and m.content is not None:
                texts.append(m.content)
        return texts


class ThreadInput(PlatformModel):
    """Inputs for one thread: `{"node_run_inputs": [...]}`."""

    node_run_inputs: list[NodeRunInput] = Field(default_factory=list)


class _RunInputBase(PlatformModel):
    dynamic_variables: JsonDict = Field(
        default_factory=dict, description="Values for the '{{...}}' placeholders."
    )
    runtime_variables: JsonDict = Field(
        default_factory=dict, description="Values for the '[[...]]' placeholders."
    )
    miscellaneous: JsonDict = Field(
        default_factory=dict, description="Miscellaneous run-input data."
    )
    command: Command = Field(default=Command.START, description="Command to execute.")
    version_number: int | None = Field(
        default=0, ge=0, description="Workflow version; 0 = initial."
    )
    run_by: str | None = Field(default=None, description="Who initiated the run.")
    team_id: str | None = Field(default=None, description="Team id for vendor credential lookup.")
    thread_to_node_inputs: dict[str, ThreadInput] = Field(
        default_factory=dict, description="Thread id -> node inputs; thread '0' is the main one."
    )


class WorkflowRunInput(_RunInputBase):
    """Input to one execute call: kicks off or continues a workflow run (what clients send)."""

    workflow_id: ObjectId | None = Field(default=None, description="DB id of the workflow.")
    workflow_run_id: ObjectId | None = Field(
        default=None, description="DB id of the run to continue."
    )


class RecordedRunInput(_RunInputBase):
    """A run input as stored inside a returned run: ids are kept as given, unvalidated.

    The seed's example response carries placeholder ids (`"<string>"`) here; a stored run must still
    load, so only what clients *send* (`WorkflowRunInput`) is held to the id pattern.
    """

    workflow_id: str | None = None
    workflow_run_id: str | None = None


def user_message_input(text: str, *, thread_id: str = "0") -> dict[str, ThreadInput]:
    """`thread_to_node_inputs` carrying one user message to `thread_id`."""
    message = ChatMessage(role="user", content=text)
    return {thread_id: ThreadInput(node_run_inputs=[NodeRunInput(type="llm", messages=[message])])}


# ------------------------------------------------------------------ run output


class LLMUsageInfo(PlatformModel):
    """Usage of one LLM call, attached to every LLM event."""

    response_model: str | None = None
    provider: str | None = None
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    total_tokens: int = Field(default=0, ge=0)
    response_latency_milliseconds: Number = Field(default=0, ge=0)
    llm_response_id: str | None = None
    used_user_api_key: bool = False
    was_streamed: bool = False


class RunEvent(PlatformModel):
    """One entry of `run_output.events`: a flat dict with a `type`; every other key is kept."""

    type: str
    logical_id: str | None = None
    timestamp: Number | None = None
    origin_thread_id: str | None = None
    origin_node_logical_id: str | None = None
    origin_node_name: str | None = None
    origin_node_run_id: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        """A field of the event by name, known or extra."""
        if key in type(self).model_fields:
            return getattr(self, key)
        return (self.model_extra or {}).get(key, default)


class NodeOutput(PlatformModel):
    """What a node produced in one execution."""

    type: str
    node_logical_id: str
    node_run_id: str | None = None
    structured_output: JsonDict | None = None
    success: bool | None = None
    tool_result: Any = None
    error_message: str | None = None


EventItem = Annotated[RunEvent | JsonValue, Field(union_mode="left_to_right")]


class RunOutput(PlatformModel):
    """The output of one execute call."""

    events: list[EventItem] = Field(default_factory=list)
    thread_to_node_outputs: dict[str, list[NodeOutput]] = Field(default_factory=dict)

    def typed_events(self) -> list[RunEvent]:
        """The events that are objects with a type (placeholders and oddities skipped)."""
        return [e for e in self.events if isinstance(e, RunEvent)]


class WorkflowRunInputOutputPair(PlatformModel):
    """One contiguous execution segment: the input, the output and its evaluation."""

    run_input: RecordedRunInput = Field(default_factory=RecordedRunInput)
    run_output: RunOutput = Field(default_factory=RunOutput)
    evaluation: JsonDict | None = Field(default_factory=dict)


class CommentConfig(PlatformModel):
    """A comment on a run."""

    logical_id: str | None = None
    content: str | None = None
    created_by: ObjectId | None = Field(default=None, alias="createdBy")
    updated_by: ObjectId | None = Field(default=None, alias="updatedBy")
    created_at: str | None = Field(default=None, alias="createdAt")
    updated_at: str | None = Field(default=None, alias="updatedAt")


class _TokenCounts(PlatformModel):
    total_input_tokens: int = Field(default=0, ge=0)
    total_output_tokens: int = Field(default=0, ge=0)
    total_tokens: int = Field(default=0, ge=0)
    call_count_with_user_keys: int = Field(default=0, ge=0)
    call_count_with_fallback_keys: int = Field(default=0, ge=0)
    call_count: int = Field(default=0, ge=0)


class ModelTokenUsage(_TokenCounts):
    """Token usage of one (response_model, provider)."""

    response_model: str | None = None
    provider: str | None = None


class LLMTokenUsage(_TokenCounts):
    """Token totals of a run and their breakdown by (model, provider); null breakdown = no calls."""

    breakdown_by_models: list[ModelTokenUsage] | None = None


class _LatencyCounts(PlatformModel):
    call_count: int = Field(default=0, ge=0)
    total_latency_milliseconds: Number = Field(default=0, ge=0)
    average_latency_milliseconds: Number = Field(default=0, ge=0)

    @field_validator("total_latency_milliseconds", "average_latency_milliseconds")
    @classmethod
    def _finite(cls, v: Number) -> Number:
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError("latency must be a finite number of milliseconds")
        return v


class ModelLatencyStats(_LatencyCounts):
    """Latency of one (response_model, provider)."""

    response_model: str | None = None
    provider: str | None = None


class LLMLatencyStats(_LatencyCounts):
    """Latency totals of a run and their breakdown by (model, provider)."""

    breakdown_by_models: list[ModelLatencyStats] | None = None


class EvaluationRunInfo(PlatformModel):
    """Set on a source run once its evaluation run exists."""

    evaluation_workflow_run_id: str | None = None


# ------------------------------------------------------------------ workflow config


class PromptConfig(PlatformModel):
    prompt: str | None = None


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


class StaticMessagesConfig(PlatformModel):
    static_messages: list[str] = Field(default_factory=list)
    static_messages_selection_mode: SelectionMode = SelectionMode.RANDOM


class _ToolBase(PlatformModel):
    logical_id: str | None = None
    tool_id: str | None = None
    name: str = Field(min_length=1)
    description: str | None = None
    category: str | None = None
    signature: str | None = Field(default=None, description="The docstring the LLM sees.")
    args_schema: JsonDict = Field(default_factory=dict)
    static_messages_config: StaticMessagesConfig | None = None
    result_runtime_variable_name: str = "tool_result"
    timeout_seconds: float | None = Field(default=None, gt=0)


class InlinePythonTool(_ToolBase):
    """Python code defining one function; run in the engine's sandbox."""

    type: Literal["inline_python"] = "inline_python"
    code: str = ""


class ExternalApiTool(_ToolBase):
    """An HTTP call; `{{}}`/`[[ ]]` and the call's arguments fill url, headers and body."""

    type: Literal["external_api"] = "external_api"
    url: str = ""
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None


class InbuiltFunctionTool(_ToolBase):
    type: Literal["inbuilt_function"] = "inbuilt_function"
    function_name: str | None = None


class KnowledgeBaseTool(_ToolBase):
    type: Literal["knowledge_base"] = "knowledge_base"
    knowledge_base_id: str | None = None
    documents: list[str] = Field(default_factory=list)


ToolConfig = Annotated[
    InlinePythonTool | ExternalApiTool | InbuiltFunctionTool | KnowledgeBaseTool,
    Field(discriminator="type"),
]


class ToolsConfig(PlatformModel):
    tools: list[ToolConfig] = Field(default_factory=list)


class MCPServerConfig(PlatformModel):
    server_url: str
    name: str
    api_headers: dict[str, str] = Field(default_factory=dict)


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


class Condition(PlatformModel):
    """When an edge (or a global node) fires. `condition_expression` wins when set."""

    condition_freeform: str | None = None
    condition_expression: str | None = None
    args_schema: JsonDict = Field(default_factory=dict)
    static_messages_config: StaticMessagesConfig | None = None


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


class LLMNodeConfig(_NodeBase):
    """Fields shared by the LLM node types."""

    type: str
    main_response_config: PromptConfig | None = None
    llms_config: LLMConfig | None = None
    tools_config: ToolsConfig | None = None
    self_loop: bool = False
    self_loop_config: SelfLoopConfig | None = None
    wait_for_user_message: bool = True
    max_consecutive_tool_calls: int = Field(default=1, ge=0)
    default_error_message: str | None = (
        "I am sorry, there seems to be an issue. Could you please repeat?"
    )
    use_mcp_tools: bool = False
    structured_output_schema: StructuredOutputSchema | None = None
    backchannel_response_config: PromptConfig | None = None


class SayLLMNodeConfig(LLMNodeConfig):
    """Speaks: its text becomes an `assistant_response`. Loops on itself by default."""

    type: Literal["say_llm"] = "say_llm"
    self_loop: bool = True


class WorkerLLMNodeConfig(LLMNodeConfig):
    """Works silently: its structured output keys become runtime variables."""

    type: Literal["worker_llm"] = "worker_llm"


class WorkflowRunEvaluatorNodeConfig(LLMNodeConfig):
    """Reads a fetched run and writes a structured verdict; never waits, never loops."""

    type: Literal["workflow_run_evaluator"] = "workflow_run_evaluator"
    wait_for_user_message: bool = False


class SayStaticNodeConfig(_NodeBase):
    """Says one of its static messages (random, or in sequence sticking on the last)."""

    type: Literal["say_static"] = "say_static"
    static_messages_config: StaticMessagesConfig = Field(default_factory=StaticMessagesConfig)
    wait_for_user_message: bool = False


class ToolNodeConfig(_NodeBase):
    """Calls one tool with `tool_arguments`: an inline tool, or a workflow tool by name."""

    type: Literal["tool_node"] = "tool_node"
    tool: ToolConfig | None = None
    tool_name: str | None = None
    tool_arguments: JsonDict = Field(default_factory=dict)


class HttpRequestNodeConfig(_NodeBase):
    """Makes one HTTP request; the response body lands in a runtime variable."""

    type: Literal["http_request"] = "http_request"
    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    result_runtime_variable_name: str = "http_result"
    timeout_seconds: float | None = Field(default=None, gt=0)


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


# ------------------------------------------------------------------ run


class WorkflowRun(PlatformModel):
    """A specific execution of a workflow, as the execute endpoint returns it."""

    logical_id: str | None = None
    workflow_id: str | None = None
    version_number: int | None = Field(default=0, ge=0)
    status: RunStatus = RunStatus.NOT_STARTED
    termination_source: str | None = None
    input_output_pairs: list[WorkflowRunInputOutputPair] = Field(default_factory=list)
    run_by: str | None = None
    comments: list[CommentConfig] = Field(default_factory=list)
    llm_token_usage: LLMTokenUsage = Field(default_factory=LLMTokenUsage)
    llm_latency_stats: LLMLatencyStats = Field(default_factory=LLMLatencyStats)
    version_name: str | None = "Initial Version"
    workflow_config_fully_hydrated: WorkflowConfigFullyHydrated | None = None
    workflow_run_id: str | None = None
    source_workflow_run_id: str | None = None
    is_evaluation_run: bool = False
    evaluation_run_info: EvaluationRunInfo | None = None

    def events(self) -> list[RunEvent]:
        """Every typed event of every pair, in order."""
        return [e for p in self.input_output_pairs for e in p.run_output.typed_events()]


class ExecuteRequest(BaseModel):
    """The wrapped execute body the SDK sends: `{"run_input": {...}, "run_id": "..."}`."""

    model_config = ConfigDict(extra="forbid")

    run_input: WorkflowRunInput
    run_id: ObjectId | None = None


class TurnResponse(PlatformModel):
    """The short per-turn answer to a wrapped execute call, derived from the full run."""

    run_id: str
    status: RunStatus
    turn_number: int = Field(ge=0)
    events: list[EventItem] = Field(default_factory=list)
    is_waiting_for_input: bool
    is_completed: bool
    error: str | None = None

    @classmethod
    def from_run(cls, run: WorkflowRun) -> TurnResponse:
        """Derive the per-turn response from the run after its latest turn."""
        last = run.input_output_pairs[-1] if run.input_output_pairs else None
        error = None
        if last is not None:
            for event in last.run_output.typed_events():
                if event.type == EventType.WORKFLOW_ERROR:
                    error = event.get("error_message")
        return cls(
            run_id=run.workflow_run_id or "",
            status=run.status,
            turn_number=len(run.input_output_pairs),
            events=list(last.run_output.events) if last else [],
            is_waiting_for_input=run.status == RunStatus.WAITING_FOR_USER_INPUT,
            is_completed=run.status.is_terminal,
            error=error,
        )


class RunsPage(PlatformModel):
    """A page of runs; pages are 1-based."""

    items: list[WorkflowRun] = Field(default_factory=list)
    total: int = Field(default=0, ge=0)
    page: int = Field(default=1, ge=1)
    size: int = Field(default=50, ge=1)
    pages: int = Field(default=0, ge=0)
