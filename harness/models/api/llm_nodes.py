"""LLM nodes: say, worker, evaluator (`interactly_configs/nodes/llm/llm.py`, `nodes/workflows/`).

Facts from the platform's models: every LLM node shares `BaseLLMNodeConfig` (categories `System` /
`LLM`, `llms_config` defaulting to `global_default_llm`, a nullable `attachable_llm_config_id` that
names a saved config, `max_consecutive_tool_calls` 1, `default_error_message`, the
`ignore_default_prompt_prefix`/`_suffix` flags and
`ignore_content_received_during_llm_tool_call_specification`). `say_llm` loops on itself by
default; `worker_llm` does not. The evaluator (`workflow_run_evaluator`) is a worker with category
`Evaluation`, no waiting, no self-loop, no error message, and its input/output runtime variables.
`self_loop_config` and `is_guardrail_node` belong to every node (`BaseNodeConfig`).
"""

from typing import Literal
from uuid import uuid4

from pydantic import Field

from harness.models.api.base import JsonDict
from harness.models.api.llm import LLMOrGroupConfig, WorkflowDefaultLLMConfig
from harness.models.api.nodes import BaseNodeConfig
from harness.models.api.prompts import PromptConfig
from harness.models.api.tools import ToolsConfig

__all__ = [
    "DEFAULT_LLM_NODE_ERROR_MESSAGE",
    "LLMNodeConfig",
    "SayLLMNodeConfig",
    "WorkerLLMNodeConfig",
    "WorkflowRunEvalLLMNodeConfig",
    "WorkflowRunEvaluatorNodeConfig",
]

DEFAULT_LLM_NODE_ERROR_MESSAGE = "I am sorry, there seems to be an issue. Could you please repeat?"


class LLMNodeConfig(BaseNodeConfig):
    """Fields shared by the LLM node types (the platform's `BaseLLMNodeConfig`)."""

    type: str
    primary_category: str | None = "System"
    secondary_category: str | None = "LLM"
    main_response_config: PromptConfig | None = None
    attachable_llm_config_id: str | None = Field(
        default=None, description="A saved named LLM config; the platform prefers it to inline."
    )
    llms_config: LLMOrGroupConfig | None = Field(default_factory=WorkflowDefaultLLMConfig)
    tools_config: ToolsConfig | None = None
    self_loop: bool = False
    wait_for_user_message: bool = True
    max_consecutive_tool_calls: int = 1
    default_error_message: str | None = DEFAULT_LLM_NODE_ERROR_MESSAGE
    use_mcp_tools: bool = False
    ignore_default_prompt_prefix: bool = Field(
        default=False, description="Leave the workflow's default_prompt_prefix out of the prompt."
    )
    ignore_default_prompt_suffix: bool = Field(
        default=False, description="Leave the workflow's default_prompt_suffix out of the prompt."
    )
    ignore_content_received_during_llm_tool_call_specification: bool = False
    structured_output_schema: JsonDict | None = Field(
        default=None,
        description=(
            "The JSON Schema of the node's structured output, as the platform stores it: a plain dict,"
            " either the wrapper {name, description, input_schema} or a raw JSON Schema."
        ),
    )
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
    secondary_category: str | None = "Evaluation"
    wait_for_user_message: bool = False
    default_error_message: str | None = None
    input_runtime_variable_name: str | None = Field(
        default="workflow_run_object", description="The runtime variable holding the run to judge."
    )
    output_runtime_variable_name: str | None = Field(
        default_factory=lambda: f"evaluator_output_{uuid4().hex}",
        description="The runtime variable the structured verdict is stored in.",
    )
    is_turn_by_turn_evaluator: bool = False


WorkflowRunEvalLLMNodeConfig = WorkflowRunEvaluatorNodeConfig
"""The platform's name of `WorkflowRunEvaluatorNodeConfig`."""
