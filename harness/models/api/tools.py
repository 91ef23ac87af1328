"""Tools and MCP servers (`interactly_configs/tool.py`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
)

from harness.models.api.base import JsonDict, PlatformModel
from harness.models.api.prompts import StaticMessagesConfig

__all__ = [
    "ExternalApiTool",
    "InbuiltFunctionTool",
    "InlinePythonTool",
    "KnowledgeBaseTool",
    "MCPServerConfig",
    "ToolConfig",
    "ToolsConfig",
]


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
