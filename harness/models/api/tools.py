"""Tools and MCP servers (`interactly_configs/tool.py`).

Field names, nullability and defaults follow the platform's `BaseToolConfig` and its four tool
types. A tool of a type the platform adds later loads as `UnsupportedTool` (all fields kept, so it
round-trips); the engine refuses to run it with a message naming the tool and its type.
"""

import json
from enum import StrEnum
from keyword import iskeyword
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from harness.models._factories import empty_list
from harness.models.api.base import JsonDict, PlatformModel
from harness.models.api.prompts import StaticMessagesConfig

__all__ = [
    "KNOWLEDGE_BASE_SIGNATURE",
    "ExternalApiTool",
    "InbuiltFunctionTool",
    "InlinePythonTool",
    "IntegrationAuthConfig",
    "KnowledgeBaseTool",
    "MCPServerConfig",
    "ToolConfig",
    "ToolResultVariableMapping",
    "ToolResultVariableScope",
    "ToolVariableArgument",
    "ToolVariableSource",
    "ToolsConfig",
    "UnsupportedTool",
]

KNOWLEDGE_BASE_SIGNATURE = (
    "Searches the knowledge bases given a natural language query "
    "and retrieves relevant chunks of information matching the query."
)
"""The platform's default `signature` of a knowledge base tool."""


class ToolVariableSource(StrEnum):
    """Where a variable-bound tool argument is read from."""

    AUTO = "auto"  # runtime first, then dynamic
    RUNTIME = "runtime"
    DYNAMIC = "dynamic"
    LITERAL = "literal"


class ToolResultVariableScope(StrEnum):
    """Which variable store a mapped tool result is written to."""

    THREAD = "thread"
    WORKFLOW = "workflow"


class ToolVariableArgument(PlatformModel):
    """One argument the workflow supplies to a tool, resolved at each call with its native type."""

    argument_name: str = Field(description="The keyword argument passed to the tool.")
    source: ToolVariableSource = Field(
        default=ToolVariableSource.AUTO, description="runtime, dynamic, auto or literal."
    )
    variable_path: str | None = Field(
        default=None, description="Path to the value, e.g. `patient.dob` or `items[0].id`."
    )
    literal_value: Any = Field(default=None, description="The value when source is literal.")
    default: Any = Field(default=None, description="Used when the variable is absent or null.")
    required: bool = Field(default=False, description="A missing variable fails the call.")
    expose_to_llm: bool = Field(
        default=False, description="Leave the argument in the args_schema the LLM sees."
    )
    override_provided_value: bool = Field(
        default=True, description="The bound value replaces one the caller supplied."
    )

    @model_validator(mode="after")
    def _check_usable(self) -> "ToolVariableArgument":
        name = self.argument_name
        if not name.isidentifier() or iskeyword(name):
            raise ValueError(
                f"variable_arguments: {name!r} is not a usable argument name: it is passed as a "
                "keyword argument, so use a Python identifier that is not a keyword"
            )
        if self.source != ToolVariableSource.LITERAL and not self.variable_path:
            raise ValueError(
                f"variable_arguments[{name!r}]: set variable_path (or source: literal)"
            )
        if not self.expose_to_llm and not self.override_provided_value:
            raise ValueError(
                f"variable_arguments[{name!r}]: expose_to_llm=false with "
                "override_provided_value=false can never apply; set one of them to true"
            )
        return self


class ToolResultVariableMapping(PlatformModel):
    """Writes part of a tool's return value to a named runtime variable."""

    target_variable_name: str = Field(description="The runtime variable written, `[[name]]`.")
    result_path: str | None = Field(
        default=None, description="Path into the result (`score`, `rows[0].id`); empty: all."
    )
    scope: ToolResultVariableScope = Field(
        default=ToolResultVariableScope.THREAD, description="thread or workflow variables."
    )
    default: Any = Field(default=None, description="Written when result_path is missing.")
    required: bool = Field(
        default=False, description="A missing result_path fails the call instead."
    )

    @field_validator("target_variable_name")
    @classmethod
    def _check_target(cls, value: str) -> str:
        if not value.strip() or value.startswith("_") or not value.isidentifier():
            raise ValueError(
                f"result_variable_mappings: target_variable_name {value!r} must be a plain name "
                "(letters, digits, underscores; not starting with a digit or an underscore)"
            )
        return value


class IntegrationAuthConfig(PlatformModel):
    """An integration whose OAuth token the platform injects as the Authorization header."""

    integration_id: str | None = None


class _ToolBase(PlatformModel):
    # Tools are validated inside a workflow only, whose schema holds theirs: building each
    # class's own at import (this base and its subclasses) would be work no run uses.
    model_config = ConfigDict(defer_build=True)

    logical_id: str | None = None
    side_effect: str | None = None
    tool_id: str | None = Field(
        default=None, description="A saved tool's id, or an inbuilt function's registry id."
    )
    name: str | None = None
    description: str | None = None
    category: str | None = None
    signature: str | None = Field(default=None, description="The docstring the LLM sees.")
    args_schema: JsonDict | None = None
    static_messages_config: StaticMessagesConfig | None = None
    result_runtime_variable_name: str | None = "tool_result"
    ignore_content_received_during_llm_tool_call_specification: bool = False
    timeout_seconds: int | None = Field(default=None, description="Wall-clock limit of one call.")
    variable_arguments: list[ToolVariableArgument] = Field(default_factory=empty_list)
    result_variable_mappings: list[ToolResultVariableMapping] = Field(default_factory=empty_list)
    expand_result_into_runtime_variables: bool = False

    @property
    def label(self) -> str:
        """How messages name the tool: its name, else its tool_id or logical id."""
        kind = getattr(self, "type", "tool")
        return self.name or self.tool_id or self.logical_id or f"<unnamed {kind} tool>"

    @model_validator(mode="after")
    def _check_bindings_unambiguous(self) -> Any:
        arguments = [b.argument_name for b in self.variable_arguments]
        twice = sorted({a for a in arguments if arguments.count(a) > 1})
        if twice:
            raise ValueError(f"variable_arguments binds {twice} more than once; keep one binding")
        base = self.result_runtime_variable_name or "tool_result"
        reserved = {f"{base}_success", f"{base}_error"}
        targets = [m.target_variable_name for m in self.result_variable_mappings]
        for target in targets:
            if targets.count(target) > 1:
                raise ValueError(
                    f"result_variable_mappings writes {target!r} more than once; keep one mapping"
                )
            if target in reserved:
                raise ValueError(
                    f"result_variable_mappings writes {target!r}, which the tool already writes "
                    f"as the outcome of the call ({base}_success/{base}_error): choose another name"
                )
        return self


class InlinePythonTool(_ToolBase):
    """Python code defining one function; run in the engine's sandbox."""

    type: Literal["inline_python"] = "inline_python"
    code: str | None = None
    allow_code_variable_substitution: bool = Field(
        default=True,
        description="Replace `{{dynamic}}`/`[[runtime]]` placeholders in the code before running.",
    )


class ExternalApiTool(_ToolBase):
    """An HTTP call: `{name}` placeholders take the call's arguments, `{{}}`/`[[ ]]` variables."""

    type: Literal["external_api"] = "external_api"
    api_endpoint: str | None = None
    api_method: Literal["GET", "POST", "PUT", "DELETE"] | None = "GET"
    api_headers: dict[str, str] = Field(default_factory=dict)
    api_body: JsonDict | str | None = Field(
        default=None, description="The request body: an object, or JSON text of one."
    )
    integration_auth: IntegrationAuthConfig | None = None

    @field_validator("api_body")
    @classmethod
    def _check_body_text(cls, value: JsonDict | str | None) -> JsonDict | str | None:
        # Kept as written (round trip); the platform parses JSON text into an object.
        if isinstance(value, str) and value.strip():
            try:
                json.loads(value)
            except ValueError as exc:
                raise ValueError(f"api_body text must be valid JSON: {exc}") from exc
        return value


class InbuiltFunctionTool(_ToolBase):
    """A function of the platform's registry, named by `tool_id` (e.g. `math_add`)."""

    type: Literal["inbuilt_function"] = "inbuilt_function"
    configurable_key: str | None = None
    extra_config: JsonDict | None = None


class KnowledgeBaseTool(_ToolBase):
    """A search over the platform's knowledge bases (`target_knowledge_base_ids`)."""

    type: Literal["knowledge_base"] = "knowledge_base"
    target_knowledge_base_ids: list[str] = Field(default_factory=empty_list)
    category: str | None = "Knowledge Base"
    signature: str | None = KNOWLEDGE_BASE_SIGNATURE
    result_runtime_variable_name: str | None = "kb_tool_result"

    @model_validator(mode="after")
    def _check_query_only(self) -> "KnowledgeBaseTool":
        others = sorted({b.argument_name for b in self.variable_arguments} - {"query"})
        if others:
            raise ValueError(
                f"variable_arguments on a knowledge_base tool can only bind 'query'; {others} "
                "would be discarded"
            )
        return self


class UnsupportedTool(_ToolBase):
    """A tool type this harness does not know: kept whole so it round-trips; never run."""

    type: str


_TOOL_TYPES = frozenset({"inline_python", "external_api", "inbuilt_function", "knowledge_base"})


def _tool_tag(value: Any) -> str:
    tool_type = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return tool_type if isinstance(tool_type, str) and tool_type in _TOOL_TYPES else "unsupported"


ToolConfig = Annotated[
    Annotated[InlinePythonTool, Tag("inline_python")]
    | Annotated[ExternalApiTool, Tag("external_api")]
    | Annotated[InbuiltFunctionTool, Tag("inbuilt_function")]
    | Annotated[KnowledgeBaseTool, Tag("knowledge_base")]
    | Annotated[UnsupportedTool, Tag("unsupported")],
    Discriminator(_tool_tag),
]


class ToolsConfig(PlatformModel):
    tools: list[ToolConfig] = Field(default_factory=empty_list)


class MCPServerConfig(PlatformModel):
    """An MCP server whose tools nodes with `use_mcp_tools` offer to the LLM."""

    name: str | None = None
    server_url: str
    api_headers: dict[str, str] | None = None

    @property
    def label(self) -> str:
        """The server's name, else its URL."""
        return self.name or self.server_url
