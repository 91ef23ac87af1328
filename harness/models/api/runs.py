"""Runs: run inputs, outputs, events, usage, and the execute envelopes (`workflow_run.py`)."""

import math
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    SecretStr,
    Tag,
    field_validator,
)

from harness.models._factories import empty_list
from harness.models.api.base import (
    Command,
    EventType,
    JsonDict,
    Number,
    ObjectId,
    PlatformModel,
    RunStatus,
)
from harness.models.api.node_runs import (
    AnyNodeRunOutput,
    NodeRunOutput,
    node_run_output,
    node_run_output_class,
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
    "RatingConfig",
    "RecordedRunInput",
    "RunEvent",
    "RunOutput",
    "RunsPage",
    "StructuredOutputRetryAttempt",
    "StructuredOutputRetryMetadata",
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
    # The models first: `hasattr` on a `ChatMessage` goes through pydantic's `__getattr__` and
    # an AttributeError, and every dump of a run input asks this of each of its messages.
    if isinstance(value, ChatMessage):
        return "chat"
    return "langchain" if isinstance(value, LangChainMessage) or hasattr(value, "type") else "chat"


Message = Annotated[
    Annotated[ChatMessage, Tag("chat")] | Annotated[LangChainMessage, Tag("langchain")],
    Discriminator(_message_kind),
]


def _secret_variables() -> Any:
    # The platform's rule (`BaseRunInput.secret_variables`): credentials travel apart from the
    # dynamic variables and are never serialised (`exclude`) nor shown (`repr`, `SecretStr`).
    return Field(
        default_factory=dict,
        exclude=True,
        repr=False,
        description="Credential values for templates; never serialised, stored or shown.",
    )


class _RunVariables(PlatformModel):
    """The variables every run input carries (the platform's `BaseRunInput`)."""

    dynamic_variables: JsonDict = Field(
        default_factory=dict, description="Values for the '{{...}}' placeholders."
    )
    runtime_variables: JsonDict = Field(
        default_factory=dict, description="Values for the '[[...]]' placeholders."
    )
    secret_variables: dict[str, SecretStr] = _secret_variables()
    miscellaneous: JsonDict = Field(
        default_factory=dict, description="Miscellaneous run-input data."
    )


class NodeRunInput(_RunVariables):
    """An input delivered to a node (`LLMNodeRunInput` and the other node types' run inputs)."""

    type: str = Field(default="llm", description="The node run input type (`llm` for messages).")
    node_logical_id: str | None = Field(default=None, description="The node the input is for.")
    messages: list[Message] = Field(default_factory=empty_list, description="Input messages.")

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

    node_run_inputs: list[NodeRunInput] = Field(default_factory=empty_list)


class _RunInputBase(_RunVariables):
    command: Command = Field(default=Command.START, description="Command to execute.")
    version_number: int | None = Field(
        default=0, ge=0, description="Workflow version; 0 = initial."
    )
    run_by: str | None = Field(default=None, description="Who initiated the run.")
    team_id: str | None = Field(default=None, description="Team id for vendor credential lookup.")
    start_node_logical_id: str | None = Field(
        default=None, description="Start at this node instead of the workflow's start node."
    )
    initial_state: JsonDict | None = Field(
        default=None, description="A serialised workflow state to resume with (server-side only)."
    )
    thread_to_node_inputs: dict[str, ThreadInput] = Field(
        default_factory=dict, description="Thread id -> node inputs; thread '0' is the main one."
    )
    welcome_message: str | None = Field(
        default=None,
        description="Opening line, seeded as the first assistant message on the first turn only.",
    )

    def secret_values(self) -> dict[str, str]:
        """The secret variables in clear, for template substitution only."""
        return {name: value.get_secret_value() for name, value in self.secret_variables.items()}


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


_EMPTY_INPUT = RecordedRunInput()


def user_message_input(text: str, *, thread_id: str = "0") -> dict[str, ThreadInput]:
    """`thread_to_node_inputs` carrying one user message to `thread_id`."""
    message = ChatMessage(role="user", content=text)
    return {thread_id: ThreadInput(node_run_inputs=[NodeRunInput(type="llm", messages=[message])])}


# ------------------------------------------------------------------ run output

# The shape of LLM events' `llm_usage_info`, which events carry as a plain dict (no model field
# refers to these): documented and checked, their schemas built on first use, not at import.
_DOCUMENTED_ONLY = ConfigDict(defer_build=True)


class StructuredOutputRetryAttempt(PlatformModel):
    """One failed attempt at a valid structured output."""

    model_config = _DOCUMENTED_ONLY

    attempt_number: int = Field(description="The attempt that failed.")
    error_message: str = Field(description="Why its JSON could not be parsed.")
    latency_milliseconds: int = Field(description="Latency of that attempt.")


class StructuredOutputRetryMetadata(PlatformModel):
    """Retries made to get a valid structured output."""

    model_config = _DOCUMENTED_ONLY

    retry_count: int = Field(description="Retry attempts made.")
    failed_attempts: list[StructuredOutputRetryAttempt] = Field(default_factory=empty_list)


class LLMUsageInfo(PlatformModel):
    """Usage of one LLM call, attached to LLM events (all null on events of no LLM call)."""

    model_config = _DOCUMENTED_ONLY

    response_model: str | None = Field(default=None, description="The model that answered.")
    named_llm_config_id: str | None = Field(default=None, description="Named LLM config id.")
    named_llm_config_name: str | None = Field(default=None, description="Named LLM config name.")
    provider: str | None = Field(default=None, description="The provider it was sent to.")
    ai_message_turn_id: str | None = Field(default=None, description="The AI message turn.")
    llm_response_id: str | None = Field(default=None, description="The response id.")
    used_user_api_key: bool = Field(default=False, description="Sent with the user's own key.")
    finish_reason: list[str] | None = Field(default=None, description="Why the model stopped.")
    response_latency_milliseconds: int | None = Field(
        default=None, ge=0, description="Latency of the call."
    )
    prompt_tokens: int | None = Field(default=None, ge=0, description="Input tokens.")
    completion_tokens: int | None = Field(default=None, ge=0, description="Output tokens.")
    total_tokens: int | None = Field(default=None, ge=0, description="All tokens.")
    was_streamed: bool | None = Field(default=None, description="The answer was streamed.")
    was_estimated: bool = Field(default=False, description="The counts are estimates.")
    structured_output_retry_metadata: StructuredOutputRetryMetadata | None = None


def _event_id() -> str:
    return f"event_{uuid.uuid4()}"


def _now() -> float:
    return datetime.now(UTC).timestamp()


# Comments and ratings come before the events and pairs that hold them: see `llm.LLMConfig`.
class CommentConfig(PlatformModel):
    """A comment on a run."""

    logical_id: str | None = None
    content: str | None = None
    created_by: ObjectId | None = Field(default=None, alias="createdBy")
    updated_by: ObjectId | None = Field(default=None, alias="updatedBy")
    created_at: str | None = Field(default=None, alias="createdAt")
    updated_at: str | None = Field(default=None, alias="updatedAt")


class RatingConfig(PlatformModel):
    """One reviewer's rating of a run event or turn."""

    logical_id: str | None = None
    value: Literal["down", "up", "strong_up"] = Field(description="The rating.")
    created_by: str | None = Field(default=None, alias="createdBy")
    updated_by: str | None = Field(default=None, alias="updatedBy")
    created_at: str | None = Field(default=None, alias="createdAt")
    updated_at: str | None = Field(default=None, alias="updatedAt")


class RunEvent(PlatformModel):
    """One entry of `run_output.events`: a flat dict with a `type`; every other key is kept.

    Declares the fields every platform event has (`events/event.py`, `BaseEvent`); the rest of an
    event's keys are extras, so a full dump carries exactly the keys the event came with. The
    origin node of node events (`NodeEvent`) is read through properties.
    """

    type: str
    logical_id: str | None = Field(default_factory=_event_id, description="The event id.")
    timestamp: float = Field(default_factory=_now, description="UTC epoch seconds.")
    origin_thread_id: str | None = Field(default=None, description="The thread it belongs to.")
    comments: list[CommentConfig] = Field(
        default_factory=empty_list, description="Reviewer comments."
    )
    interrupted: bool = Field(default=False, description="Interrupted in a live voice session.")

    def get(self, key: str, default: Any = None) -> Any:
        """A field of the event by name, known or extra."""
        # Straight from the instance's dicts: events are read this way hundreds of thousands of
        # times per suite, and the class's `model_fields` is a property that costs more.
        known = self.__dict__
        if key in known:
            return known[key]
        extra = self.__pydantic_extra__
        return extra.get(key, default) if extra else default

    @property
    def origin_node_logical_id(self) -> str | None:
        """The node the event comes from (node events only)."""
        return _text_or_none(self.get("origin_node_logical_id"))

    @property
    def origin_node_name(self) -> str | None:
        """The name of the node the event comes from (node events only)."""
        return _text_or_none(self.get("origin_node_name"))

    @property
    def origin_node_run_id(self) -> str | None:
        """The node run the event belongs to (node events only)."""
        return _text_or_none(self.get("origin_node_run_id"))


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


class NodeOutput(PlatformModel):
    """The engine's working record of a node execution, filled by node handlers.

    Not a platform shape: runs store `to_run_output()`, the platform's output of the node's type
    (`harness.models.api.node_runs`), which keeps only the fields that type has.
    """

    type: str
    node_logical_id: str
    node_run_id: str | None = None
    structured_output: JsonDict | None = None
    success: bool | None = None
    tool_result: Any = None
    error_message: str | None = None
    # http_request nodes (the platform's HttpRequestNodeRunOutput); the curl command's secret
    # header values are masked.
    curl_command: str | None = None
    http_status_code: int | None = None
    http_response: JsonDict | None = None

    def to_run_output(self) -> NodeRunOutput:
        """The platform's run output of this node type, with its defaults for unset fields."""
        values = self.model_dump(exclude_none=True)  # extras included
        if self.type == "no_op" and self.success is None:
            values["success"] = self.error_message is None  # a no_op that ran has succeeded
        fields = node_run_output_class(self.type).model_fields
        kept = {k: v for k, v in values.items() if k in fields and k != "type"}
        return node_run_output(self.type, **kept)


EventItem = Annotated[RunEvent | JsonValue, Field(union_mode="left_to_right")]


class RunOutput(PlatformModel):
    """The output of one execute call."""

    events: list[EventItem] = Field(default_factory=empty_list)
    thread_to_node_outputs: dict[str, list[AnyNodeRunOutput]] = Field(default_factory=dict)

    def typed_events(self) -> list[RunEvent]:
        """The events that are objects with a type (placeholders and oddities skipped)."""
        return [e for e in self.events if isinstance(e, RunEvent)]


class WorkflowRunInputOutputPair(PlatformModel):
    """One contiguous execution segment: the input, the output and its evaluation."""

    run_input: RecordedRunInput | None = Field(default=None, description="The call's input.")
    run_output: RunOutput | None = Field(default=None, description="What the call produced.")
    evaluation: JsonDict | None = Field(default=None, description="This turn's evaluation.")
    iteration_end_state_miscellaneous: JsonDict | None = Field(
        default=None,
        description="State at the end of the iteration: node histories, active threads.",
    )
    comments: list[CommentConfig] = Field(default_factory=empty_list, description="Turn comments.")
    ratings: list[RatingConfig] = Field(default_factory=empty_list, description="Turn ratings.")

    @property
    def input(self) -> RecordedRunInput:
        """The run input (an empty one when the pair has none)."""
        return self.run_input if self.run_input is not None else _EMPTY_INPUT

    @property
    def output(self) -> RunOutput:
        """The run output (an empty one when the pair has none)."""
        return self.run_output if self.run_output is not None else RunOutput()


class _TokenCounts(PlatformModel):
    total_input_tokens: int | None = Field(default=0, ge=0)
    total_output_tokens: int | None = Field(default=0, ge=0)
    total_tokens: int | None = Field(default=0, ge=0)
    call_count_with_user_keys: int | None = Field(default=0, ge=0)
    call_count_with_fallback_keys: int | None = Field(default=0, ge=0)
    call_count: int | None = Field(default=0, ge=0)


class ModelTokenUsage(_TokenCounts):
    """Token usage of one (response_model, provider)."""

    response_model: str | None = None
    provider: str | None = None


class LLMTokenUsage(_TokenCounts):
    """Token totals of a run and their breakdown by (model, provider); null breakdown = no calls."""

    breakdown_by_models: list[ModelTokenUsage] | None = None


class _LatencyCounts(PlatformModel):
    call_count: int | None = Field(default=0, ge=0)
    total_latency_milliseconds: int | None = Field(default=0, ge=0)
    # A float on the platform; `0` stays `0` here so stored runs round-trip unchanged.
    average_latency_milliseconds: Number | None = Field(default=0.0, ge=0)

    @field_validator("average_latency_milliseconds")
    @classmethod
    def _finite(cls, v: Number | None) -> Number | None:
        if v is not None and not math.isfinite(v):
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

    logical_id: str | None = Field(
        default_factory=lambda: f"workflow_run_{uuid.uuid4()}", description="The run's id."
    )
    workflow_id: str | None = Field(default=None, description="The workflow being run.")
    voice_conversation_id: str | None = Field(
        default=None, description="The voice conversation that produced the run, if any."
    )
    version_number: int | None = Field(default=0, ge=0, description="Workflow version.")
    status: RunStatus = Field(default=RunStatus.NOT_STARTED, description="The run's status.")
    termination_source: str | None = Field(
        default=None, description="What ended the run abnormally (e.g. `execution_error`)."
    )
    input_output_pairs: list[WorkflowRunInputOutputPair] = Field(
        default_factory=empty_list, description="One pair per execute call."
    )
    run_by: str | None = Field(default=None, description="Who initiated the run.")
    comments: list[CommentConfig] = Field(default_factory=empty_list, description="Run comments.")
    llm_token_usage: LLMTokenUsage | None = Field(default=None, description="LLM token usage.")
    llm_latency_stats: LLMLatencyStats | None = Field(default=None, description="LLM latency.")
    version_name: str | None = Field(default="Initial Version", description="Version name.")
    workflow_config_fully_hydrated: WorkflowConfigFullyHydrated | None = Field(
        default=None, description="The hydrated config the run executes."
    )
    workflow_run_id: str | None = Field(default=None, description="Database id of the run.")
    miscellaneous: JsonDict | None = Field(default=None, description="Run metadata.")
    source_workflow_run_id: str | None = Field(
        default=None, description="The evaluated run, or the parent of a checkpoint resume."
    )
    checkpoint_source_turn_index: int | None = Field(
        default=None, description="The parent's turn a checkpoint-resumed run was cloned at."
    )
    carried_over_llm_token_usage: LLMTokenUsage | None = Field(
        default=None, description="Token usage carried over from the checkpoint's source run."
    )
    carried_over_llm_latency_stats: LLMLatencyStats | None = Field(
        default=None, description="Latency carried over from the checkpoint's source run."
    )
    is_evaluation_run: bool = Field(default=False, description="An automatic evaluation run.")
    evaluation_run_info: EvaluationRunInfo | None = Field(
        default=None, description="Set once the run's evaluation run exists."
    )

    def events(self) -> list[RunEvent]:
        """Every typed event of every pair, in order."""
        return [e for p in self.input_output_pairs for e in p.output.typed_events()]


class ExecuteRequest(BaseModel):
    """The wrapped execute body the SDK sends: `{"run_input": {...}, "run_id": "..."}`."""

    # Built by API clients and read by the server only: its schema is built on first use.
    model_config = ConfigDict(extra="forbid", defer_build=True)

    run_input: WorkflowRunInput
    run_id: ObjectId | None = None


class TurnResponse(PlatformModel):
    """The short per-turn answer to a wrapped execute call, derived from the full run."""

    # An answer of the API server only: its schema is built on first use, not on import.
    model_config = ConfigDict(defer_build=True)

    run_id: str
    status: RunStatus
    turn_number: int = Field(ge=0)
    events: list[EventItem] = Field(default_factory=empty_list)
    is_waiting_for_input: bool
    is_completed: bool
    error: str | None = None
    next_input_hint: JsonDict | None = Field(
        default=None, description="The turn's last busy_wait_for_user_message event when waiting."
    )
    has_active_companions: bool = Field(
        default=False, description="Companion threads still run in the background."
    )
    has_background_work: bool = Field(
        default=False, description="Companions or armed waiting evaluations remain (pump them)."
    )

    @classmethod
    def from_run(cls, run: WorkflowRun) -> "TurnResponse":
        """Derive the per-turn response from the run after its latest turn."""
        last = run.input_output_pairs[-1] if run.input_output_pairs else None
        error = None
        if last is not None:
            for event in last.output.typed_events():
                if event.type == EventType.WORKFLOW_ERROR:
                    error = event.get("error_message")
        return cls(
            run_id=run.workflow_run_id or "",
            status=run.status,
            turn_number=len(run.input_output_pairs),
            events=list(last.output.events) if last else [],
            is_waiting_for_input=run.status == RunStatus.WAITING_FOR_USER_INPUT,
            is_completed=run.status.is_terminal,
            error=error,
        )


class RunsPage(PlatformModel):
    """A page of runs; pages are 1-based."""

    # Listing runs is the API's (server and client): its schema is built on first use.
    model_config = ConfigDict(defer_build=True)

    items: list[WorkflowRun] = Field(default_factory=empty_list)
    total: int = Field(default=0, ge=0)
    page: int = Field(default=1, ge=1)
    size: int = Field(default=50, ge=1)
    pages: int = Field(default=0, ge=0)
