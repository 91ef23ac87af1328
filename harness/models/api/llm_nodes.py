"""LLM nodes: say, worker, evaluator (`interactly_configs/nodes/llm/`, `nodes/workflows/`)."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
)

from harness.models.api.llm import LLMConfig
from harness.models.api.nodes import SelfLoopConfig, StructuredOutputSchema, _NodeBase
from harness.models.api.prompts import PromptConfig
from harness.models.api.tools import ToolsConfig

__all__ = [
    "LLMNodeConfig",
    "SayLLMNodeConfig",
    "WorkerLLMNodeConfig",
    "WorkflowRunEvaluatorNodeConfig",
]


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
