"""Tool and HTTP request nodes (`interactly_configs/nodes/tool/`, `nodes/rest_api/`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
)

from harness.models.api.base import JsonDict
from harness.models.api.nodes import _NodeBase
from harness.models.api.tools import ToolConfig

__all__ = [
    "HttpRequestNodeConfig",
    "ToolNodeConfig",
]


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
