"""Tool and HTTP request nodes (`interactly_configs/nodes/tool/`, `nodes/rest_api/`)."""

from typing import Any, Literal

from pydantic import Field, model_validator

from harness.models.api.base import JsonDict
from harness.models.api.nodes import _NodeBase
from harness.models.api.tools import ToolConfig

__all__ = [
    "DEFAULT_TOOL_RESULT_NAME",
    "HttpRequestNodeConfig",
    "ToolNodeConfig",
    "effective_result_variable_name",
]

DEFAULT_TOOL_RESULT_NAME = "tool_result"
"""A tool node's `result_runtime_variable_name` default, which also means "inherit the tool's"."""


class ToolNodeConfig(_NodeBase):
    """Runs `tool_config` with `tool_arguments`; the outcome lands in `[[name]]`, `_success`, `_error`."""

    type: Literal["tool_node"] = "tool_node"
    primary_category: str | None = "System"
    secondary_category: str | None = "Tool"
    tool_config: ToolConfig | None = None
    tool_arguments: JsonDict | None = Field(
        default_factory=dict,
        description="Keyword arguments of the call; `{{}}`/`[[ ]]` placeholders are substituted.",
    )
    result_runtime_variable_name: str | None = Field(
        default=DEFAULT_TOOL_RESULT_NAME,
        description="Left at `tool_result`, the tool's own result name wins; any other wins.",
    )
    preserve_argument_types: bool = Field(
        default=False,
        description="An argument that is one whole placeholder keeps the variable's type.",
    )

    @model_validator(mode="after")
    def _check_mappings_avoid_outcome(self) -> "ToolNodeConfig":
        tool = self.tool_config
        if tool is None or not tool.result_variable_mappings:
            return self
        name = effective_result_variable_name(self)
        reserved = {f"{name}_success", f"{name}_error"}
        clash = sorted({m.target_variable_name for m in tool.result_variable_mappings} & reserved)
        if clash:
            raise ValueError(
                f"result_variable_mappings writes {clash}, which this tool node writes as the "
                f"outcome of the call (result name {name!r}): choose another target name"
            )
        return self


def effective_result_variable_name(node: ToolNodeConfig) -> str:
    """Where a tool node writes its outcome: the node's name if it chose one, else the tool's.

    The platform decides by value: a node left at `tool_result` (or null) inherits the tool's
    `result_runtime_variable_name`; any other node value wins. So `tool_result` cannot override a
    tool that names something else.
    """
    chosen = node.result_runtime_variable_name
    if chosen and chosen != DEFAULT_TOOL_RESULT_NAME:
        return chosen
    from_tool = node.tool_config.result_runtime_variable_name if node.tool_config else None
    return from_tool or chosen or DEFAULT_TOOL_RESULT_NAME


class HttpRequestNodeConfig(_NodeBase):
    """Makes one HTTP request; the answer lands in `[[result_runtime_variable_name]]`."""

    type: Literal["http_request"] = "http_request"
    primary_category: str | None = "REST API"
    secondary_category: str | None = "HTTP Request"
    url: str | None = None
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] | None = "GET"
    headers: dict[str, Any] | None = None
    query_parameters: str | None = Field(
        default=None, description="A JSON object as text: appended to the URL's query."
    )
    body_parameters: str | None = Field(
        default=None, description="A JSON object as text: the body (POST, PUT, PATCH)."
    )
    body_content_type: (
        Literal[
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "text/plain",
        ]
        | None
    ) = "application/json"
    timeout: int | None = Field(default=30, ge=0, le=300, description="Seconds.")
    response_format: Literal["json", "text", "binary"] | None = "json"
    result_runtime_variable_name: str | None = "http_request_result"
