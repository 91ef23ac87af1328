"""The `tool_node` and `http_request` node handlers.

A tool node runs its `tool_config` with `tool_arguments` (templated; `preserve_argument_types`
keeps a whole placeholder's type) and writes the outcome under the effective result name (the
node's `result_runtime_variable_name` unless left at `tool_result`, else the tool's). Its output
is the platform's ToolNodeRunOutput: `success`, `tool_result`, `error_message`.

An `http_request` node sends one request; the decoded answer lands in
`[[result_runtime_variable_name]]` (default `http_request_result`) with `_success` and `_error`.
It emits the platform's `http_request` event (`curl_command`, `status_code`, `response_body`,
`error`) and its output is the platform's HttpRequestNodeRunOutput: `success`,
`http_status_code`, `http_response`, `curl_command` (secret header values masked).
"""

from __future__ import annotations

from harness.engine.context import NodeResult, NodeVisit, TurnContext
from harness.engine.http_requests import HttpNodeResult, run_http_request
from harness.engine.secrets import redact
from harness.engine.tool_calls import ToolTarget, record_outcome, run_target, secret_texts
from harness.engine.tool_variables import template_arguments
from harness.errors import EngineError
from harness.models.api import (
    EventType,
    HttpRequestNodeConfig,
    NodeOutput,
    ToolNodeConfig,
    effective_result_variable_name,
)

__all__ = ["HTTP_REQUEST_EVENT", "run_http_request_node", "run_tool_node"]

HTTP_REQUEST_EVENT = EventType.HTTP_REQUEST
"""The platform's event type of an HTTP request node (`HttpRequestNodeEvent`)."""


def _output(visit: NodeVisit) -> NodeOutput:
    return NodeOutput.model_construct(
        type=visit.node.type, node_logical_id=visit.node.node_id, node_run_id=visit.scope.run_id
    )


async def run_tool_node(ctx: TurnContext, visit: NodeVisit) -> NodeResult:
    """Calls its `tool_config` with `tool_arguments` (variables substituted)."""
    node = visit.node
    assert isinstance(node, ToolNodeConfig)
    tool = node.tool_config
    if tool is None:
        # Graph validation refuses this first; kept for handlers called directly.
        raise EngineError(
            f"tool node {node.label} has no tool_config",
            hint="set tool_config to the tool to run (a saved tool is inlined by `harness pull`)",
        )
    arguments = template_arguments(
        node.tool_arguments or {},
        ctx.dynamic,
        ctx.runtime,
        preserve_types=node.preserve_argument_types,
    )
    outcome = await run_target(
        ctx,
        visit.scope,
        ToolTarget(tool.label, tool=tool),
        arguments,
        None,
        result_name=effective_result_variable_name(node),
    )
    output = _output(visit)
    output.success = outcome.success
    output.tool_result = outcome.result
    output.error_message = outcome.error
    return NodeResult(output)


async def run_http_request_node(ctx: TurnContext, visit: NodeVisit) -> NodeResult:
    """Sends its HTTP request; the answer lands in `[[result_runtime_variable_name]]`."""
    node = visit.node
    assert isinstance(node, HttpRequestNodeConfig)
    result = _redacted(
        await run_http_request(ctx.services.http, node, ctx.dynamic, ctx.runtime), ctx
    )
    outcome = result.outcome
    ctx.log.emit(
        HTTP_REQUEST_EVENT,
        visit.scope,
        curl_command=result.curl_command,
        status_code=result.status_code,
        response_body=result.response,
        error=outcome.error,
    )
    record_outcome(ctx, node.result_runtime_variable_name or "http_request_result", outcome)
    output = _output(visit)
    output.success = outcome.success
    output.http_status_code = result.status_code
    output.http_response = result.response
    output.curl_command = result.curl_command
    return NodeResult(output)


def _redacted(result: HttpNodeResult, ctx: TurnContext) -> HttpNodeResult:
    """The result with secret variable values masked in the curl command and the error.

    A secret may sit anywhere in the request (a URL path, a body), where name-based masking cannot
    see it; the run, its events and reports must not carry it.
    """
    secrets = secret_texts(ctx)
    if not secrets:
        return result
    if result.curl_command:
        result.curl_command = redact(result.curl_command, secrets)
    if result.outcome.error:
        error = redact(result.outcome.error, secrets)
        result.outcome = result.outcome.model_copy(update={"error": error})
    return result
