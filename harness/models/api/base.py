"""Shared pieces of the platform models: ids, the tolerant base model, the enums."""

from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

__all__ = [
    "OBJECT_ID_PATTERN",
    "TERMINAL_STATUSES",
    "Command",
    "EdgeType",
    "EventType",
    "GlobalConditionEvaluationMethod",
    "JsonDict",
    "Number",
    "ObjectId",
    "PlatformModel",
    "RunStatus",
    "SelectionMode",
    "ToolType",
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
    """The platform's event types (`events/event.py`, the `Event` union), by family.

    The built-in engine emits only these (docs/engine.md lists which and when); runs may carry
    others, which are kept as they are.
    """

    # workflow lifecycle
    START_WORKFLOW = "start_workflow"
    END_WORKFLOW = "end_workflow"
    END_WORKFLOW_ITERATION = "end_workflow_iteration"
    WORKFLOW_READY_FOR_INPUT = "workflow_ready_for_input"
    WORKFLOW_ERROR = "workflow_error"
    WORKFLOW_WARNING = "workflow_warning"
    WORKFLOW_DEBUG_LOG = "workflow_debug_log"
    WORKFLOW_NAVIGATION_MESSAGE = "workflow_navigation_message"
    WORKFLOW_SHOW_STATE = "workflow_show_state"
    # threads and background work
    START_THREAD = "start_thread"
    PAUSE_THREAD = "pause_thread"
    END_THREAD = "end_thread"
    COMPANION_STEP_BOUNDARY = "companion_step_boundary"
    WAITING_EVALUATION_BOUNDARY = "waiting_evaluation_boundary"
    # node runs
    START_NODE_RUN = "start_node_run"
    END_NODE_RUN = "end_node_run"
    USER_MESSAGES = "user_messages"
    BUSY_WAIT_FOR_USER_MESSAGE = "busy_wait_for_user_message"
    PAUSE_EVENT = "pause_event"
    FORCE_TRANSFER_TO_NODE = "force_transfer_to_node"
    NODE_EXPIRED = "node_expired"
    # what nodes say and do
    SAY_LLM = "say_llm"
    WORKER_LLM = "worker_llm"
    CONDITION_EVALUATOR_LLM = "condition_evaluator_llm"
    DISCARDED_MAIN_LLM = "discarded_main_llm"
    SAY_STATIC = "say_static"
    ASSISTANT_RESPONSE = "assistant_response"
    HTTP_REQUEST = "http_request"
    SEND_SMS = "send_sms"
    START_CONVERSATION = "start_conversation"
    END_CONVERSATION = "end_conversation"
    GOOGLE_DOCS_CREATE_DOCUMENT = "google_docs_create_document"
    GOOGLE_DOCS_GET_DOCUMENT = "google_docs_get_document"
    GOOGLE_DOCS_UPDATE_DOCUMENT = "google_docs_update_document"
    ATHENA = "athena"
    # edges
    DIRECT_EDGE = "direct_edge"
    CONDITIONAL_EDGE = "conditional_edge"
    REVERSE_CONDITIONAL_EDGE = "reverse_conditional_edge"
    SELF_LOOP_EDGE = "self_loop_edge"
    SELF_LOOP_DELAY = "self_loop_delay"
    SELF_LOOP_EXHAUSTED = "self_loop_exhausted"
    WAITING_CONDITION_MATCHED = "waiting_condition_matched"
    COMPANION_EDGE = "companion_edge"
    GUARDRAIL_ESCALATION_EDGE = "guardrail_escalation_edge"
