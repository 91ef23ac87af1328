"""Runs: run inputs, outputs, events, usage, and the execute envelopes (`workflow_run.py`)."""

from __future__ import annotations

import math
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

from harness.models.api.base import (
    Command,
    EventType,
    JsonDict,
    Number,
    ObjectId,
    PlatformModel,
    RunStatus,
)
from harness.models.api.workflow import WorkflowConfigFullyHydrated

__all__ = [
    "AssistantMessage",
    "ChatMessage",
    "CommentConfig",
    "EvaluationRunInfo",
    "EventItem",
    "ExecuteRequest",
    "LLMLatencyStats",
    "LLMTokenUsage",
    "LLMUsageInfo",
    "LangChainMessage",
    "Message",
    "ModelLatencyStats",
    "ModelTokenUsage",
    "NodeOutput",
    "NodeRunInput",
    "RecordedRunInput",
    "RunEvent",
    "RunOutput",
    "RunsPage",
    "ThreadInput",
    "TurnResponse",
    "WorkflowRun",
    "WorkflowRunInput",
    "WorkflowRunInputOutputPair",
    "user_message_input",
]


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
