"""Shared pieces of the platform models: ids, the tolerant base model, the enums."""

from __future__ import annotations

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
