"""Node run outputs: what one node execution produced, typed by node type (`nodes/*/...RunOutput`).

The platform's `NodeRunOutput` is a union discriminated by `type`: every output carries `events`
(`[]`), `type`, `node_logical_id` and `node_run_id`, and each node type adds its own fields with
its own defaults (`nodes/llm/llm.py`, `nodes/tool/tool_node.py`, `nodes/utility/no_op.py`,
`nodes/rest_api/http_request.py`, `nodes/workflows/workflow_run_fetch.py`,
`nodes/workflows/workflow_run_evaluator.py`). Outputs of node types this module does not know
(telephony, EHR, ...) load as the base class with their fields kept as extras.
"""

import functools
from collections.abc import Callable
from typing import Annotated, Any, Literal, cast

from pydantic import Discriminator, Field, Tag

from harness.models._factories import empty_list
from harness.models.api.base import JsonDict, PlatformModel

__all__ = [
    "AnyNodeRunOutput",
    "HttpRequestNodeRunOutput",
    "NoOpNodeRunOutput",
    "NodeRunOutput",
    "SayLLMNodeRunOutput",
    "SayStaticNodeRunOutput",
    "SuperNodeRunOutput",
    "ToolNodeRunOutput",
    "WorkerLLMNodeRunOutput",
    "WorkflowRunEvaluatorNodeRunOutput",
    "WorkflowRunFetchNodeRunOutput",
    "node_run_output",
    "node_run_output_class",
]


class NodeRunOutput(PlatformModel):
    """The fields every node run output has (`BaseNodeRunOutput`); also any unknown node type's."""

    events: list[Any] = Field(
        default_factory=empty_list,
        description="Events of the node run (the platform leaves it empty).",
    )
    type: str = Field(description="The node type that produced the output.")
    node_logical_id: str | None = Field(default=None, description="The node's logical id.")
    node_run_id: str | None = Field(default=None, description="Run id of the node execution.")


class SayLLMNodeRunOutput(NodeRunOutput):
    """Output of a `say_llm` node."""

    type: Literal["say_llm"] = "say_llm"
    structured_output: JsonDict = Field(default_factory=dict, description="Structured output.")


class WorkerLLMNodeRunOutput(NodeRunOutput):
    """Output of a `worker_llm` node."""

    type: Literal["worker_llm"] = "worker_llm"
    structured_output: JsonDict = Field(default_factory=dict, description="Structured output.")


class WorkflowRunEvaluatorNodeRunOutput(NodeRunOutput):
    """Output of a `workflow_run_evaluator` node."""

    type: Literal["workflow_run_evaluator"] = "workflow_run_evaluator"
    structured_output: JsonDict = Field(default_factory=dict, description="The verdict.")
    free_form_output: str | None = Field(default=None, description="Free-form evaluation text.")


class SayStaticNodeRunOutput(NodeRunOutput):
    """Output of a `say_static` node (nothing beyond the base fields)."""

    type: Literal["say_static"] = "say_static"


class SuperNodeRunOutput(NodeRunOutput):
    """Output of a `super_node` (nothing beyond the base fields)."""

    type: Literal["super_node"] = "super_node"


class ToolNodeRunOutput(NodeRunOutput):
    """Output of a `tool_node`."""

    type: Literal["tool_node"] = "tool_node"
    success: bool = Field(default=False, description="The tool ran successfully.")
    tool_result: Any = Field(default=None, description="What the tool returned.")
    error_message: str | None = Field(default=None, description="Why the tool failed.")


class NoOpNodeRunOutput(NodeRunOutput):
    """Output of a `no_op` node."""

    type: Literal["no_op"] = "no_op"
    success: bool = Field(default=False, description="The node completed successfully.")
    error_message: str | None = Field(default=None, description="Set by `simulate_failure`.")


class HttpRequestNodeRunOutput(NodeRunOutput):
    """Output of an `http_request` node."""

    type: Literal["http_request"] = "http_request"
    curl_command: str | None = Field(default=None, description="The request as a curl command.")
    success: bool = Field(default=False, description="The request succeeded.")
    http_status_code: int | None = Field(default=None, description="The response status.")
    http_response: JsonDict | None = Field(default=None, description="The response data.")


class WorkflowRunFetchNodeRunOutput(NodeRunOutput):
    """Output of a `workflow_run_fetch` node."""

    type: Literal["workflow_run_fetch"] = "workflow_run_fetch"
    fetched_workflow_run: str | None = Field(
        default=None, description="The fetched workflow run as JSON text."
    )


_OUTPUT_CLASSES: dict[str, type[NodeRunOutput]] = {
    "say_llm": SayLLMNodeRunOutput,
    "worker_llm": WorkerLLMNodeRunOutput,
    "workflow_run_evaluator": WorkflowRunEvaluatorNodeRunOutput,
    "say_static": SayStaticNodeRunOutput,
    "super_node": SuperNodeRunOutput,
    "tool_node": ToolNodeRunOutput,
    "no_op": NoOpNodeRunOutput,
    "http_request": HttpRequestNodeRunOutput,
    "workflow_run_fetch": WorkflowRunFetchNodeRunOutput,
}


def _output_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) and kind in _OUTPUT_CLASSES else "other"


AnyNodeRunOutput = Annotated[
    Annotated[SayLLMNodeRunOutput, Tag("say_llm")]
    | Annotated[WorkerLLMNodeRunOutput, Tag("worker_llm")]
    | Annotated[WorkflowRunEvaluatorNodeRunOutput, Tag("workflow_run_evaluator")]
    | Annotated[SayStaticNodeRunOutput, Tag("say_static")]
    | Annotated[SuperNodeRunOutput, Tag("super_node")]
    | Annotated[ToolNodeRunOutput, Tag("tool_node")]
    | Annotated[NoOpNodeRunOutput, Tag("no_op")]
    | Annotated[HttpRequestNodeRunOutput, Tag("http_request")]
    | Annotated[WorkflowRunFetchNodeRunOutput, Tag("workflow_run_fetch")]
    | Annotated[NodeRunOutput, Tag("other")],
    Discriminator(_output_tag),
]
"""A node run output of any node type, typed by its `type` (unknown types: `NodeRunOutput`)."""


def node_run_output_class(node_type: str) -> type[NodeRunOutput]:
    """The output class of a node type (the base class for types this module does not know)."""
    return _OUTPUT_CLASSES.get(node_type, NodeRunOutput)


def node_run_output(node_type: str, **fields: Any) -> NodeRunOutput:
    """The output of a `node_type` run with the platform's defaults, from trusted engine values.

    Every field of the type's class is set (so a full dump carries exactly the platform's keys);
    `fields` overrides the defaults. Unknown node types get the base fields.
    """
    cls = node_run_output_class(node_type)
    values: dict[str, Any] = {"events": [], "type": node_type}
    for name, (default, factory) in _defaults(cls).items():
        if name not in values:
            values[name] = default if factory is None else factory()
    values.update(fields)
    return _construct_complete(cls, values)


def _construct_complete(cls: type[NodeRunOutput], values: dict[str, Any]) -> NodeRunOutput:
    """`cls.model_construct(**values)` for values that set every field, keys not fields kept as
    extras (`values` is used up).

    pydantic's `model_construct` looks up each field's aliases and default again on every call:
    most of the cost of a node run's output, built for every node run. The output classes have
    no aliases, private attributes or post-init hook (tests/models hold them to that).
    """
    data = {name: values.pop(name) for name in cls.__pydantic_fields__}
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", data)
    object.__setattr__(model, "__pydantic_fields_set__", set(data))
    object.__setattr__(model, "__pydantic_extra__", values)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


@functools.cache
def _defaults(cls: type[NodeRunOutput]) -> dict[str, tuple[Any, Callable[[], Any] | None]]:
    """Each field's default, or its factory (`list`, `dict`), once per class.

    `FieldInfo.get_default` inspects the factory's signature on every call, a cost paid for
    every node run; the defaults here are immutable or come from argument-less factories.
    """
    return {
        name: (info.default, cast("Callable[[], Any] | None", info.default_factory))
        for name, info in cls.model_fields.items()
    }
